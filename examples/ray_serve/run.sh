#!/usr/bin/env bash
# The Ray Serve example end to end: Ray from PyPI in a venv, a local PostgreSQL + pgvector,
# people enrolled from real photos, facecore autoscaled on Ray Serve under a burst of identify
# requests, the replicas, latencies and errors recorded.
#
#   examples/ray_serve/run.sh [load.py options]      # e.g. --phases 1:20,2:20,4:25,8:30,0:45
#
# 1. target/ray-venv: `pip install ray[serve]==$RAY_VERSION psutil` (pip's own client; nothing
#    else is downloaded) and the facecore wheel scripts/python-tests.sh built
#    (target/py-wheels). Exit status 3 when Ray cannot be installed (.ci/run then skips with
#    that reason).
# 2. In a private network namespace holding only the loopback interface (`unshare --net`,
#    when this runs as root; FACECORE_RAY_NETNS=0 stays in the machine's namespace): nothing
#    outside the machine can be reached from the example, nor reach it. There:
#    scripts/pg-test-server.sh starts PostgreSQL 18 + pgvector on 127.0.0.1 (its own data
#    directory, stopped and removed at the end) with a fresh database, and load.py enrols
#    people (face_recognition's k-NN example photos from ../shared/data when present, else the
#    repository's fixtures), starts Ray on 127.0.0.1 (usage statistics off, no dashboard),
#    deploys app.py and drives the load.
#
# Output: target/ray-serve/{report.md,run.json,run.log}; exit status 1 when a request failed
# or the replicas did not grow under load and shrink after it.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-python3}
VENV=${FACECORE_RAY_VENV:-$ROOT/target/ray-venv}
OUT=${FACECORE_RAY_OUT:-$ROOT/target/ray-serve}
RAY_VERSION=2.60.0
FACES=$ROOT/../shared/data/faces/face_recognition/examples/knn_examples

if [ "${1:-}" = --inside ]; then
  shift
  # Inside the namespace (or the machine's own, without one).
  if [ "${FACECORE_RAY_IN_NETNS:-0}" = 1 ]; then
    ip link set lo up
  fi
  # A server of our own: its own directory, so a test server already running in the
  # machine's namespace (the default directory) is neither reused nor stopped.
  export FACECORE_PG_DIR=/tmp/facecore-pg-ray-$(id -u)
  trap '"$ROOT/scripts/pg-test-server.sh" stop' EXIT
  "$ROOT/scripts/pg-test-server.sh" start >/dev/null
  URL=$("$ROOT/scripts/pg-test-server.sh" createdb facecore_ray_example)
  echo "== PostgreSQL 18 + pgvector: $URL"
  ARGS=(--pg-url "$URL" --json "$OUT/run.json" --markdown "$OUT/report.md")
  [ -d "$FACES" ] && ARGS+=(--faces "$FACES")
  # From the output directory, so nothing of the checkout is imported by accident.
  cd "$OUT"
  "$VENV/bin/python" "$HERE/load.py" "${ARGS[@]}" "$@"
  exit
fi

WHEEL=$(ls "$ROOT"/target/py-wheels/facecore-*.whl 2>/dev/null | head -n1 || true)
if [ -z "$WHEEL" ]; then
  echo "run.sh: no facecore wheel in target/py-wheels: build it with scripts/python-tests.sh" >&2
  exit 2
fi
echo "== Ray $RAY_VERSION and $(basename "$WHEEL") in $VENV"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import ray, psutil, sys; sys.exit(ray.__version__ != '$RAY_VERSION')" 2>/dev/null; then
  rm -rf "$VENV"
  if ! { "$PY" -m venv "$VENV" && "$VENV/bin/python" -m pip install --quiet --upgrade pip \
      && "$VENV/bin/python" -m pip install --quiet "ray[serve]==$RAY_VERSION" psutil; }; then
    echo "run.sh: Ray $RAY_VERSION could not be installed with pip for $("$PY" --version 2>&1)" >&2
    exit 3
  fi
fi
# The wheel of this checkout, always (its dependency, numpy, comes with Ray).
"$VENV/bin/python" -m pip install --quiet --force-reinstall --no-deps --no-index "$WHEEL"
# The PostgreSQL binaries (a pip install, once) before the namespace cuts the network off.
"$ROOT/scripts/pg-test-server.sh" install >/dev/null
mkdir -p "$OUT"

if [ "${FACECORE_RAY_NETNS:-1}" = 1 ] && unshare --net true 2>/dev/null; then
  echo "== a private network namespace (unshare --net): loopback only"
  FACECORE_RAY_IN_NETNS=1 unshare --net -- "$0" --inside "$@" 2>&1 | tee "$OUT/run.log"
else
  echo "== in this machine's network namespace (FACECORE_RAY_NETNS=0, or unshare is not allowed here)"
  "$0" --inside "$@" 2>&1 | tee "$OUT/run.log"
fi
exit "${PIPESTATUS[0]}"
