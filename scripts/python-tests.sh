#!/usr/bin/env bash
# Builds the facecore wheel (dev profile: dependencies optimised, see the root Cargo.toml),
# installs the built wheel (not `maturin develop`) into a fresh virtual environment, checks the
# stubs with mypy.stubtest and runs pytest on facecore-py/tests. Prints wheel size and import
# time. Needs Rust, Python >= 3.10 with pip and venv, and a C linker; nothing else.
#
#   scripts/python-tests.sh [extra pytest args]
#   PYTHON=python3.11 FACECORE_PY_VENV=/tmp/v scripts/python-tests.sh -k threads
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-python3}
VENV=${FACECORE_PY_VENV:-$ROOT/target/py-venv}
WHEELS=$ROOT/target/py-wheels
cd "$ROOT"

echo "== fresh venv: $VENV"
rm -rf "$VENV"
"$PY" -m venv "$VENV"
VPY=$VENV/bin/python
"$VPY" -m pip install --quiet --upgrade pip
"$VPY" -m pip install --quiet "maturin==1.16.*" pytest numpy pillow mypy

echo "== wheel (maturin build --profile dev)"
rm -rf "$WHEELS"
"$VENV/bin/maturin" build --profile dev --manifest-path facecore-py/Cargo.toml --interpreter "$VPY" --out "$WHEELS"
WHEEL=$(ls "$WHEELS"/facecore-*.whl)

echo "== install the built wheel (binary only: no compiler involved)"
"$VPY" -m pip install --quiet --only-binary=:all: --no-index --no-deps "$WHEEL"

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
"$VPY" -m pytest -q -p no:cacheprovider "$ROOT/facecore-py/tests" "$@"

echo "== measurements"
"$VPY" - "$WHEEL" <<'PYEOF'
import os, subprocess, sys
wheel = sys.argv[1]
print(f"wheel: {os.path.basename(wheel)}  {os.path.getsize(wheel) / 1e6:.1f} MB")
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
