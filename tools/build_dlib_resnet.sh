#!/usr/bin/env bash
# Rebuild models/dlib_resnet_v1.onnx from dlib's face recognition ResNet
# (dlib_face_recognition_resnet_model_v1.dat, shipped in the PyPI sdist
# face-recognition-models==0.3.0).
#
# Usage: tools/build_dlib_resnet.sh [CACHE_DIR]
#   CACHE_DIR defaults to $FACECORE_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/facecore.
#   PYTHON (default python3) runs the converter; if it lacks numpy/onnx, a venv with
#   pinned versions is made in CACHE_DIR.
#
# The converter (tools/dlib_resnet_to_onnx.py) is pure Python: it parses dlib's
# serialisation directly, so neither dlib nor a C++ toolchain is needed.  The output
# is deterministic (same bytes every run).  Check it against dlib with
# tools/verify_dlib_resnet.py.
set -euo pipefail

FRM_VERSION=0.3.0
FRM_SDIST="face_recognition_models-${FRM_VERSION}.tar.gz"
FRM_SHA256=b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf
DAT_MEMBER="face_recognition_models-${FRM_VERSION}/face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat"
DAT_SHA256=55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30
SP5_MEMBER="face_recognition_models-${FRM_VERSION}/face_recognition_models/models/shape_predictor_5_face_landmarks.dat"
SP5_SHA256=c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888
ONNX_PIN="onnx==1.23.2"
NUMPY_PIN="numpy==2.4.6"
# SHA-256 of the ONNX file this script produced when it was committed.
EXPECTED_ONNX_SHA256=1d4e196b45441ebeefaeaf4e8382271289da19e57f7b455ff9278a2ad9617145

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
cache="${1:-${FACECORE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/facecore}}"
out="$repo/models/dlib_resnet_v1.onnx"
py="${PYTHON:-python3}"

sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        shasum -a 256 "$1" | cut -d' ' -f1
    fi
}

check_sha() { # file expected
    local got
    got="$(sha256 "$1")"
    if [[ "$got" != "$2" ]]; then
        echo "error: SHA-256 mismatch for $1: got $got, want $2" >&2
        return 1
    fi
}

mkdir -p "$cache/pkgs"

# 1. the model package (sdist only on PyPI), pinned and hash-checked
sdist="$cache/pkgs/$FRM_SDIST"
if [[ -f "$sdist" ]] && check_sha "$sdist" "$FRM_SHA256" 2>/dev/null; then
    echo "using cached $sdist"
else
    rm -f "$sdist"
    echo "downloading face-recognition-models==$FRM_VERSION (~100 MB) ..."
    "$py" -m pip download --disable-pip-version-check --no-deps \
        "face-recognition-models==$FRM_VERSION" -d "$cache/pkgs"
fi
check_sha "$sdist" "$FRM_SHA256"

tar -xzf "$sdist" -C "$cache" "$DAT_MEMBER" "$SP5_MEMBER"
dat="$cache/$DAT_MEMBER"
check_sha "$dat" "$DAT_SHA256"
check_sha "$cache/$SP5_MEMBER" "$SP5_SHA256"

# 2. a Python with numpy + onnx
if ! "$py" -c "import numpy, onnx" >/dev/null 2>&1; then
    venv="$cache/venv-onnx-convert"
    if ! "$venv/bin/python" -c "import numpy, onnx" >/dev/null 2>&1; then
        echo "creating $venv with $ONNX_PIN $NUMPY_PIN ..."
        "$py" -m venv "$venv"
        "$venv/bin/python" -m pip install --disable-pip-version-check -q "$ONNX_PIN" "$NUMPY_PIN"
    fi
    py="$venv/bin/python"
fi

# 3. convert (write to a temp file, then move into place)
mkdir -p "$repo/models"
tmp="$(mktemp "$repo/models/.dlib_resnet_v1.onnx.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
"$py" "$here/dlib_resnet_to_onnx.py" "$dat" "$tmp"
chmod 644 "$tmp"
mv -f "$tmp" "$out"
trap - EXIT

sum="$(sha256 "$out")"
size="$(wc -c <"$out" | tr -d ' ')"
echo "$out"
echo "  size:   $size bytes"
echo "  sha256: $sum"
if [[ "$sum" != "$EXPECTED_ONNX_SHA256" ]]; then
    echo "warning: differs from the committed build ($EXPECTED_ONNX_SHA256);" \
         "different numpy/onnx versions? run tools/verify_dlib_resnet.py" >&2
fi
echo "verify against dlib: python3 tools/verify_dlib_resnet.py --models-dir $(dirname "$dat")"
