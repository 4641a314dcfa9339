#!/usr/bin/env bash
# The facecore Python package, as users get it:
#
#  1. the wheel for glibc >= 2.17 (manylinux_2_17, maturin --zig with the ziglang package; dev
#     profile: dependencies optimised, see the root Cargo.toml), built in its own target
#     directory (target/py: zig as linker must not invalidate the main target/ build), its tag
#     checked with auditwheel (fails if it needs glibc newer than 2.28), its licence files;
#  2. that wheel installed (binary only, no index, no compiler) into a fresh venv with
#     face_recognition_models (for facecore.compat's model="large"; its download is cached in
#     target/py-downloads), the stubs checked with mypy.stubtest, pytest on facecore-py/tests,
#     compared with face_recognition itself in a venv of its own (target/fr-venv);
#  3. the sdist (maturin sdist, < 100 MB), built into a wheel with cargo offline and pip without
#     an index or build isolation, in the same target directory (tract is not compiled again),
#     installed into a second venv: it must give the zig wheel's embedding exactly.
#
# Prints sizes, build times and import time. Needs Rust, Python >= 3.10 with pip and venv, and
# a C linker for build scripts (zig, from PyPI, compiles and links the module itself).
#
#   scripts/python-tests.sh [extra pytest args]
#   PYTHON=python3.11 FACECORE_PY_VENV=/tmp/v scripts/python-tests.sh -k threads
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-python3}
VENV=${FACECORE_PY_VENV:-$ROOT/target/py-venv}
SDIST_VENV=$ROOT/target/py-venv-sdist
FR_VENV=${FACE_RECOGNITION_VENV:-$ROOT/target/fr-venv}
WHEELS=$ROOT/target/py-wheels
SDISTS=$ROOT/target/py-sdist
SDIST_WHEELS=$ROOT/target/py-sdist-wheels
DOWNLOADS=$ROOT/target/py-downloads
# The wheel's own cargo target directory (zig links it; the sdist build reuses it).
PY_TARGET=$ROOT/target/py
cd "$ROOT"

# Pinned build and check tools: the wheel's tag and bytes must not change under us.
MATURIN=maturin==1.16.0
ZIGLANG=ziglang==0.15.2
AUDITWHEEL=auditwheel==6.8.2
# The wheel runs on glibc >= 2.17 (manylinux2014: RHEL/CentOS 7, Debian 9+, Ubuntu 18.04+).
COMPAT=manylinux_2_17
# Fail if auditwheel finds the wheel needs a glibc newer than this.
MAX_GLIBC=2.28
BUILD_ARGS=(--profile dev --zig --compatibility "$COMPAT")
# face_recognition's model files (an sdist of data; 100 MB), pinned by hash.
FRM_VERSION=0.3.0
FRM_SHA256=b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf

now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.0f} s')" "$1" "$(now)"; }

echo "== fresh venv: $VENV"
rm -rf "$VENV"
"$PY" -m venv "$VENV"
VPY=$VENV/bin/python
"$VPY" -m pip install --quiet --upgrade pip
# psycopg: test_pg_gallery.py creates a fresh database per test (with FACECORE_PG_URL set).
"$VPY" -m pip install --quiet "$MATURIN" "$ZIGLANG" "$AUDITWHEEL" pytest numpy pillow mypy "psycopg[binary]==3.3.9"

echo "== wheel: maturin build ${BUILD_ARGS[*]} (CARGO_TARGET_DIR=target/py)"
rm -rf "$WHEELS"
t0=$(now)
# maturin finds zig as `python -m ziglang` on PATH.
PATH="$VENV/bin:$PATH" CARGO_TARGET_DIR=$PY_TARGET \
  "$VENV/bin/maturin" build "${BUILD_ARGS[@]}" --manifest-path facecore-py/Cargo.toml --interpreter "$VPY" --out "$WHEELS"
WHEEL_TIME=$(since "$t0")
WHEEL=$(ls "$WHEELS"/facecore-*.whl)

echo "== wheel tag (auditwheel show) and contents"
AUDIT=$("$VENV/bin/auditwheel" show "$WHEEL")
echo "$AUDIT"
"$VPY" - "$WHEEL" "$MAX_GLIBC" "$COMPAT" "$AUDIT" <<'PYEOF'
import os, re, sys, zipfile
wheel, max_glibc, compat, audit = sys.argv[1:5]
flat = " ".join(audit.split())
m = re.search(r'consistent with the following platform tag: "manylinux_(\d+)_(\d+)_x86_64"', flat)
if not m:
    sys.exit(f"FAIL: auditwheel gives no manylinux tag for {wheel}")
need = (int(m.group(1)), int(m.group(2)))
limit = tuple(int(x) for x in max_glibc.split("."))
if need > limit:
    sys.exit(f"FAIL: the wheel needs glibc {need[0]}.{need[1]}, newer than {max_glibc}")
if f"{compat}_x86_64" not in os.path.basename(wheel):
    sys.exit(f"FAIL: {os.path.basename(wheel)} is not tagged {compat}")
names = zipfile.ZipFile(wheel).namelist()
dist_info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
want = [f"{dist_info}/licenses/{f}" for f in ("LICENSE-MIT", "LICENSE-APACHE", "NOTICE", "licenses/CC0-1.0.txt")]
want += ["facecore/_facecore.abi3.so", "facecore/_facecore.pyi", "facecore/py.typed", "facecore/compat.py"]
missing = [w for w in want if w not in names]
if missing:
    sys.exit(f"FAIL: the wheel lacks {missing}")
stray = [n for n in names if n.endswith(".pyc") or "__pycache__" in n]
if stray:
    sys.exit(f"FAIL: the wheel holds bytecode: {stray}")
notice = zipfile.ZipFile(wheel).read(f"{dist_info}/licenses/NOTICE").decode()
for model in ("YuNet", "SFace", "dlib"):
    if model not in notice:
        sys.exit(f"FAIL: the wheel's NOTICE does not name {model}")
print(f"wheel needs glibc >= {need[0]}.{need[1]} (limit {max_glibc}); licences in {dist_info}/licenses/: "
      + ", ".join(w.split("/licenses/", 1)[1] for w in want[:4]))
PYEOF

echo "== sdist (maturin sdist)"
rm -rf "$SDISTS"
"$VENV/bin/maturin" sdist --manifest-path facecore-py/Cargo.toml --out "$SDISTS"
SDIST=$(ls "$SDISTS"/facecore-*.tar.gz)
"$VPY" - "$SDIST" <<'PYEOF'
import os, sys, tarfile
sdist = sys.argv[1]
size = os.path.getsize(sdist)
if size >= 100_000_000:
    sys.exit(f"FAIL: the sdist is {size} bytes; PyPI accepts files under 100 MB")
with tarfile.open(sdist) as t:
    names = t.getnames()
    top = names[0].split("/")[0]
    pkg_info = t.extractfile(f"{top}/PKG-INFO").read().decode()
want = [f"{top}/{f}" for f in ("LICENSE-MIT", "LICENSE-APACHE", "NOTICE", "licenses/CC0-1.0.txt", "Cargo.lock", "pyproject.toml")]
missing = [w for w in want if w not in names]
if missing:
    sys.exit(f"FAIL: the sdist lacks {missing}")
for f in ("LICENSE-MIT", "LICENSE-APACHE", "NOTICE", "licenses/CC0-1.0.txt"):
    if f"License-File: {f}" not in pkg_info:
        sys.exit(f"FAIL: the sdist's PKG-INFO does not list {f}")
print(f"sdist: {os.path.basename(sdist)}  {size / 1e6:.1f} MB, {len(names)} files")
PYEOF

echo "== face_recognition_models $FRM_VERSION (cached in target/py-downloads)"
mkdir -p "$DOWNLOADS"
FRM_WHEEL=$(ls "$DOWNLOADS"/face_recognition_models-"$FRM_VERSION"-*.whl 2>/dev/null | head -n1 || true)
if [ -z "$FRM_WHEEL" ]; then
  # Its sdist is data only; build the wheel once (setuptools, no isolation) and keep it.
  "$VPY" -m pip install --quiet setuptools==80.10.2
  echo "face_recognition_models==$FRM_VERSION --hash=sha256:$FRM_SHA256" > "$DOWNLOADS/frm-requirements.txt"
  "$VPY" -m pip download --quiet --no-deps --no-binary :all: --no-build-isolation --require-hashes \
    -r "$DOWNLOADS/frm-requirements.txt" -d "$DOWNLOADS"
  "$VPY" -m pip wheel --quiet --no-deps --no-index --no-build-isolation \
    "$DOWNLOADS/face_recognition_models-$FRM_VERSION.tar.gz" -w "$DOWNLOADS"
  FRM_WHEEL=$(ls "$DOWNLOADS"/face_recognition_models-"$FRM_VERSION"-*.whl | head -n1)
fi

echo "== install the built wheel (binary only: no compiler involved) and face_recognition_models"
"$VPY" -m pip install --quiet --only-binary=:all: --no-index --no-deps "$WHEEL" "$FRM_WHEEL"

echo "== face_recognition for the parity tests: $FR_VENV"
if [ -z "${FACE_RECOGNITION_PYTHON:-}" ]; then
  # The same pins as scripts/install-peers.sh; prebuilt wheels only (dlib-bin is dlib).
  FR_PINS="numpy==2.4.6 pillow==13.0.0 dlib-bin==20.0.1.post1 setuptools==80.10.2 face_recognition==1.3.0 face_recognition_models==$FRM_VERSION"
  if [ "$(cat "$FR_VENV/facecore-pins.txt" 2>/dev/null || true)" != "$FR_PINS" ]; then
    rm -rf "$FR_VENV"
    "$PY" -m venv "$FR_VENV"
    "$FR_VENV/bin/python" -m pip install --quiet --upgrade pip
    "$FR_VENV/bin/python" -m pip install --quiet --only-binary=:all: numpy==2.4.6 pillow==13.0.0 dlib-bin==20.0.1.post1 setuptools==80.10.2
    # face_recognition declares the `dlib` sdist (a C++ build); dlib-bin provides the module.
    "$FR_VENV/bin/python" -m pip install --quiet --no-deps face_recognition==1.3.0
    "$FR_VENV/bin/python" -m pip install --quiet --no-deps --no-index "$FRM_WHEEL"
    echo "$FR_PINS" > "$FR_VENV/facecore-pins.txt"
  fi
  export FACE_RECOGNITION_PYTHON=$FR_VENV/bin/python
fi
"$FACE_RECOGNITION_PYTHON" -W ignore -c "import dlib, face_recognition; print('face_recognition', face_recognition.__version__, 'dlib', dlib.__version__)"

# Run from an empty directory so that `import facecore` can only find the installed wheel.
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

echo "== stubs: mypy.stubtest facecore._facecore"
"$VPY" -m mypy.stubtest facecore._facecore --allowlist "$ROOT/facecore-py/stubtest-allowlist.txt"
echo "== mypy on the package and the examples"
"$VPY" -m mypy --strict --ignore-missing-imports -p facecore
"$VPY" -m mypy --ignore-missing-imports "$ROOT/examples/python" "$ROOT/scripts/bench-python.py"

echo "== Rust CLI for the parity test"
CLI=${FACECORE_CLI:-$ROOT/target/debug/facecore}
if [ ! -x "$CLI" ]; then
    (cd "$ROOT" && cargo build -p facecore-cli)
fi
export FACECORE_CLI=$CLI
export FACECORE_ROOT=$ROOT

echo "== pytest"
# -s: the parity tests print what they measured (tolerances, IoU); -rs lists why anything
# was skipped (the PostgreSQL tests without FACECORE_PG_URL: .ci/run runs them with a server).
"$VPY" -m pytest -q -s -rs -p no:cacheprovider "$ROOT/facecore-py/tests" "$@"

echo "== wheel from the sdist, offline (cargo offline, pip without index or build isolation)"
rm -rf "$SDIST_VENV" "$SDIST_WHEELS"
# maturin stores the sdist's files with a fixed 2006 mtime (reproducible archives), and cargo
# hashes path crates by their path inside the workspace: built from the archive as it is, cargo
# would take the crates compiled from this checkout as up to date and compile nothing. The
# unpacked files get a new mtime, so the sdist's own facecore, model crates and facecore-py
# are compiled (and only those: the registry crates, tract among them, are reused).
SDIST_SRC=$WORK/sdist-src
mkdir -p "$SDIST_SRC"
tar -xzf "$SDIST" -C "$SDIST_SRC"
find "$SDIST_SRC" -exec touch {} +
t0=$(now)
# Built by the first venv's maturin (preinstalled there, with ziglang) through its PEP 517
# backend, with the wheel's options: the zig wrapper cargo links with lives at a path derived
# from the maturin that runs, and cargo rebuilds everything when the linker changes, so the
# same maturin lets the sdist build reuse the dependencies compiled in target/py. A user's
# `pip install facecore-*.tar.gz` needs none of this (release profile, the system's linker).
PATH="$VENV/bin:$PATH" CARGO_TARGET_DIR=$PY_TARGET CARGO_NET_OFFLINE=true PIP_NO_INDEX=1 \
  MATURIN_PEP517_ARGS="${BUILD_ARGS[*]}" \
  "$VPY" -m pip wheel -v --no-cache-dir --no-index --no-build-isolation --no-deps "$SDIST_SRC"/facecore-* \
  -w "$SDIST_WHEELS" > "$WORK/sdist-build.log" 2>&1 || { tail -n 60 "$WORK/sdist-build.log"; exit 1; }
COMPILED=$(sed -n 's/^ *Compiling \([^ ]*\) .*/\1/p' "$WORK/sdist-build.log" | sort | tr '\n' ' ')
echo "compiled from the sdist: $COMPILED"
for crate in facecore facecore-py facecore-model-sface-1; do
  grep -qE "Compiling $crate v.* \($SDIST_SRC/" "$WORK/sdist-build.log" || { echo "FAIL: $crate was not compiled from the sdist"; exit 1; }
done
if grep -qE "Compiling tract-" "$WORK/sdist-build.log"; then
  echo "FAIL: the sdist build compiled tract again (target/py was not reused)"
  exit 1
fi
SDIST_BUILD_TIME=$(since "$t0")
# A second venv, with nothing but numpy, gets the wheel built from the sdist.
"$PY" -m venv "$SDIST_VENV"
SVPY=$SDIST_VENV/bin/python
"$SVPY" -m pip install --quiet --upgrade pip
"$SVPY" -m pip install --quiet numpy
SWHEEL=$(ls "$SDIST_WHEELS"/facecore-*.whl)
"$SVPY" -m pip install --quiet --only-binary=:all: --no-index --no-deps "$SWHEEL"
EMB='import sys, numpy as np, facecore
f = facecore.Pipeline("accurate").embed_best(sys.argv[1])
np.save(sys.argv[2], f.embedding)
print(f"{facecore.__file__}: {f.space}, {f.embedding.shape[0]} values")'
"$VPY" -c "$EMB" "$ROOT/tests/fixtures/obama.jpg" "$WORK/zig.npy"
"$SVPY" -c "$EMB" "$ROOT/tests/fixtures/obama.jpg" "$WORK/sdist.npy"
"$VPY" - "$WORK/zig.npy" "$WORK/sdist.npy" <<'PYEOF'
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
if a.shape != b.shape or a.dtype != b.dtype or not np.array_equal(a, b):
    sys.exit(f"FAIL: the sdist-built wheel's embedding differs from the zig wheel's (max diff {np.max(np.abs(a - b))})")
print(f"sdist-built wheel: embedding of obama.jpg identical to the zig wheel's ({a.shape[0]} x {a.dtype})")
PYEOF

echo "== measurements"
"$VPY" - "$WHEEL" "$SDIST" "$SWHEEL" "$WHEEL_TIME" "$SDIST_BUILD_TIME" <<'PYEOF'
import os, subprocess, sys
wheel, sdist, swheel, wheel_time, sdist_time = sys.argv[1:6]
mb = lambda p: f"{os.path.getsize(p) / 1e6:.1f} MB"
print(f"wheel: {os.path.basename(wheel)}  {mb(wheel)}  (build {wheel_time})")
print(f"sdist: {os.path.basename(sdist)}  {mb(sdist)}")
print(f"wheel from the sdist, offline: {os.path.basename(swheel)}  {mb(swheel)}  (build {sdist_time})")
times = []
for _ in range(5):
    out = subprocess.run([sys.executable, "-c",
        "import time; t = time.perf_counter(); import facecore; print(time.perf_counter() - t)"],
        check=True, capture_output=True, text=True).stdout
    times.append(float(out) * 1000)
print(f"import facecore: {min(times):.0f} ms (best of 5), {sorted(times)[2]:.0f} ms median")
out = subprocess.run([sys.executable, "-c",
    "import time, facecore; t = time.perf_counter(); facecore.Detector(); d = time.perf_counter() - t;"
    "t = time.perf_counter(); facecore.Recognizer('accurate'); r = time.perf_counter() - t;"
    "print(f'first Detector(): {d*1000:.0f} ms, first Recognizer(\"accurate\"): {r*1000:.0f} ms (model load)')"],
    check=True, capture_output=True, text=True).stdout
print(out.strip())
PYEOF
