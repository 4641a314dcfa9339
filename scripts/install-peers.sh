#!/usr/bin/env bash
# Installs the peers that scripts/bench-peers.py compares facecore with into their own virtual
# environment (default target/peers-venv), from prebuilt wheels only (no compiler involved):
#   onnxruntime            the same ONNX files facecore ships, run by Microsoft's engine
#   opencv-python-headless cv2.FaceDetectorYN (YuNet) + cv2.FaceRecognizerSF (SFace)
#   face_recognition       dlib's HOG detector, 5-point predictor and ResNet (dlib-bin wheel)
# plus the facecore wheel of this checkout, built here.
#
#   scripts/install-peers.sh            # then: target/peers-venv/bin/python scripts/bench-peers.py
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-python3}
VENV=${FACECORE_PEERS_VENV:-$ROOT/target/peers-venv}
cd "$ROOT"

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
VPY=$VENV/bin/python
"$VPY" -m pip install --quiet --upgrade pip
# Pinned: benchmark figures and the byte-for-byte model rebuild (tools/build_onnx_models.sh,
# which serialises with onnx) must not change under us.
"$VPY" -m pip install --quiet --only-binary=:all: numpy==2.4.6 pillow==13.0.0 onnx==1.23.2 onnxruntime==1.32.0 \
  opencv-python-headless==5.0.0.93 dlib-bin==20.0.1.post1 Click==8.5.1
# face_recognition declares a dependency on the `dlib` sdist (a C++ build); dlib-bin provides
# the same module prebuilt, so face_recognition itself goes in without dependencies. Its model
# files come as an sdist of data only (no build step).
"$VPY" -m pip install --quiet --no-deps face_recognition==1.3.0 face_recognition_models==0.3.0

# The facecore wheel of this checkout: the one scripts/python-tests.sh built and tested (CI runs
# it first), else a dev-profile build in a target directory of its own (the Python build's
# pyo3 macros select other `syn` features, which would rebuild tract in the main target/).
WHEEL=$(ls "$ROOT"/target/py-wheels/facecore-*.whl 2>/dev/null | head -n1 || true)
if [ -z "$WHEEL" ]; then
  "$VPY" -m pip install --quiet "maturin==1.16.*"
  rm -rf "$ROOT/target/peers-wheels"
  CARGO_TARGET_DIR=$ROOT/target/py-peers "$VENV/bin/maturin" build --profile dev --manifest-path facecore-py/Cargo.toml \
    --interpreter "$VPY" --out "$ROOT/target/peers-wheels"
  WHEEL=$(ls "$ROOT"/target/peers-wheels/facecore-*.whl | head -n1)
fi
echo "facecore wheel: $WHEEL"
"$VPY" -m pip install --quiet --force-reinstall --no-deps "$WHEEL"
"$VPY" - <<'PY'
import importlib
for m in ["facecore", "onnxruntime", "cv2", "face_recognition", "dlib"]:
    mod = importlib.import_module(m)
    print(f"{m:18} {getattr(mod, '__version__', getattr(mod, 'version', ''))}")
PY
