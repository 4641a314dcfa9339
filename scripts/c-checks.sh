#!/usr/bin/env bash
# C ABI checks (called by .ci/run):
#   1. include/facecore.h is what the pinned cbindgen generates (installs it when missing)
#   2. the C example builds against libfacecore.a and libfacecore.so (Makefile; CMake too when
#      cmake is installed) and runs on the fixtures: enrol two people, identify a group photo
#   3. the example runs clean under AddressSanitizer (gcc -fsanitize=address, leaks included)
#   4. the example runs once under valgrind --leak-check=full (installed with apt when missing)
#   5. the sizes of stripped libfacecore.so and of a statically linked example are printed
#   6. the SDK tarballs (scripts/build-sdk.sh: with and without models) unpacked elsewhere
#      build and run the example through pkg-config (scripts/sdk-check.sh)
#
# usage: scripts/c-checks.sh [--release]
#   --release measures sizes on the release profile (LTO); the default is the dev profile,
#   whose dependencies are optimised but not LTO'd. The output says which one was measured.
# Environment: FACECORE_SKIP_VALGRIND=1 skips step 4; CC picks the compiler (default gcc).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
profile=dev dir=debug
[[ "${1:-}" == "--release" ]] && profile=release dir=release
CC="${CC:-gcc}"
PREFIX="$ROOT/target/capi/$dir"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
FIX="$ROOT/tests/fixtures"
THRESHOLD=0.5 # explicit: the example does not depend on calibrated thresholds being present
section() { printf '\n== %s\n' "$*"; }

section "header is current (pinned cbindgen)"
scripts/gen-header.sh --check --install

section "build and stage libfacecore ($profile)"
scripts/build-capi.sh $([[ $profile == release ]] && echo --release) --prefix "$PREFIX"

section "example: Makefile, static and shared"
make -s -C examples/c clean
make -s -C examples/c CC="$CC" FACECORE_PREFIX="$PREFIX" all
static_bin="$ROOT/examples/c/facecore_identify_static"
shared_bin="$ROOT/examples/c/facecore_identify_shared"
if ldd "$static_bin" | grep -q libfacecore; then echo "error: the static example links libfacecore.so" >&2; exit 1; fi
ldd "$shared_bin" | grep -q "libfacecore.so.[0-9]" || { echo "error: the shared example does not load libfacecore.so" >&2; exit 1; }
# -z noexecstack took effect (a tract assembly object lacks .note.GNU-stack).
for b in "$static_bin" "$PREFIX/lib/libfacecore.so"; do
  if readelf -lW "$b" | grep GNU_STACK | grep -q RWE; then echo "error: $b has an executable stack" >&2; exit 1; fi
done

# Enrol Obama and Biden with one binary, identify the two-person photo with the other.
run_example() { # binary [runner...]
  local bin="$1"; shift
  local g="$WORK/$(basename "$bin").gallery"
  rm -f "$g"
  "$@" "$bin" --preset fast --gallery "$g" --enroll obama "$FIX/obama.jpg" >/dev/null
  "$@" "$bin" --preset fast --gallery "$g" --enroll biden "$FIX/biden.jpg" >/dev/null
  "$@" "$bin" --preset fast --gallery "$g" --threshold "$THRESHOLD" "$FIX/two_people.jpg" | tee "$WORK/out.txt"
  grep -q -- "-> obama" "$WORK/out.txt" && grep -q -- "-> biden" "$WORK/out.txt" \
    || { echo "error: $bin did not identify both people" >&2; exit 1; }
  # Without --threshold: facecore_pipeline_identify at the FMR 1e-3 operating point.
  "$@" "$bin" --preset fast --gallery "$g" "$FIX/two_people.jpg" | tee "$WORK/out.txt"
  grep -q -- "-> obama (.*stage)" "$WORK/out.txt" && grep -q -- "-> biden (.*stage)" "$WORK/out.txt" \
    || { echo "error: $bin did not identify both people with facecore_pipeline_identify" >&2; exit 1; }
}
run_example "$static_bin"
run_example "$shared_bin"

section "frame-loop example: raw BGR frames on stdin (static and shared)"
# The frames: obama_small.jpg moving across a grey 640x360 canvas, written by a tiny helper
# (no ffmpeg needed); the gallery is the one run_example enrolled (fast preset).
cat >"$WORK/mkframes.c" <<'EOF_C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "facecore.h"
int main(int argc, char **argv) {
    static unsigned char frame[360][640][3];
    facecore_decoded_image *img = NULL;
    facecore_image v;
    if (argc != 3 || facecore_decoded_image_new_from_file(argv[1], &img) || facecore_decoded_image_view(img, &v)) return 1;
    for (int i = 0, n = atoi(argv[2]); i < n; i++) {
        memset(frame, 90, sizeof frame);
        for (unsigned y = 0; y < v.height && 60 + y < 360; y++)
            for (unsigned x = 0; x < v.width && 10 * i + x < 640; x++)
                for (int c = 0; c < 3; c++) frame[60 + y][10 * i + x][c] = v.data[y * v.stride + 3 * x + 2 - c];
        fwrite(frame, sizeof frame, 1, stdout);
    }
    facecore_decoded_image_free(img);
    return 0;
}
EOF_C
"$CC" -std=c99 -Wall -Wextra -Werror -I"$PREFIX/include" -o "$WORK/mkframes" "$WORK/mkframes.c" \
  -L"$PREFIX/lib" -lfacecore -Wl,-rpath,"$PREFIX/lib"
"$WORK/mkframes" "$FIX/obama_small.jpg" 16 >"$WORK/frames.bgr"
run_watch() { # binary [runner...]
  local bin="$1"; shift
  "$@" "$bin" --preset fast --gallery "$WORK/facecore_identify_static.gallery" --size 640x360 --pixel-format bgr \
    <"$WORK/frames.bgr" | tee "$WORK/watch.txt"
  grep -Eq "identified +track 1 +obama" "$WORK/watch.txt" && grep -Eq "ended +track 1 +obama" "$WORK/watch.txt" \
    || { echo "error: $bin did not follow and name obama" >&2; exit 1; }
}
run_watch examples/c/facecore_watch_static
run_watch examples/c/facecore_watch_shared

section "example: CMake"
if command -v cmake >/dev/null; then
  cmake -S examples/c -B "$WORK/cmake" -DFACECORE_PREFIX="$PREFIX" -DCMAKE_C_COMPILER="$CC" >/dev/null
  cmake --build "$WORK/cmake" >/dev/null
  "$WORK/cmake/facecore_identify_static" --help >/dev/null 2>&1 || [[ $? == 2 ]]
  "$WORK/cmake/facecore_identify_shared" --help >/dev/null 2>&1 || [[ $? == 2 ]]
  echo "cmake build ok (static and shared)"
else
  echo "SKIP cmake: not installed (apt-get install cmake)"
fi

section "example: pkg-config"
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
echo "pkg-config --cflags --libs facecore: $(pkg-config --cflags --libs facecore)"
echo "pkg-config --static --libs facecore: $(pkg-config --static --libs facecore)"
# shellcheck disable=SC2046
"$CC" -std=c99 -Wall -Wextra -Werror -o "$WORK/pc_shared" examples/c/facecore_identify.c \
  $(pkg-config --cflags --libs facecore) -Wl,-rpath,"$PREFIX/lib"
"$WORK/pc_shared" --help >/dev/null 2>&1 || [[ $? == 2 ]]
echo "pkg-config build ok"

section "example under AddressSanitizer (static library)"
"$CC" -std=c99 -g -O1 -fsanitize=address -fno-omit-frame-pointer -Wall -Wextra -Werror \
  -I"$PREFIX/include" -o "$WORK/asan" examples/c/facecore_identify.c "$PREFIX/lib/libfacecore.a" \
  -lpthread -ldl -lm -Wl,-z,noexecstack
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 run_example "$WORK/asan"
# Error paths too: a damaged gallery and a missing image.
printf 'not a gallery' >"$WORK/bad.gallery"
ASAN_OPTIONS=detect_leaks=1 "$WORK/asan" --preset fast --gallery "$WORK/bad.gallery" "$FIX/obama.jpg" && exit 1 || [[ $? == 1 ]]
ASAN_OPTIONS=detect_leaks=1 "$WORK/asan" --preset fast "$WORK/missing.jpg" && exit 1 || [[ $? == 1 ]]
# The C tests of facecore-ffi/c-tests too (they also run under cargo test, without ASan).
"$CC" -std=c99 -g -O1 -fsanitize=address -fno-omit-frame-pointer -Wall -Wextra -Werror \
  -I"$PREFIX/include" -o "$WORK/asan_tests" facecore-ffi/c-tests/tests/api.c facecore-ffi/c-tests/tests/reliability.c facecore-ffi/c-tests/tests/pixel_formats.c facecore-ffi/c-tests/tests/liveness.c facecore-ffi/c-tests/driver/run_tests.c \
  facecore-ffi/c-tests/tests/stream.c facecore-ffi/c-tests/tests/identify.c \
  "$PREFIX/lib/libfacecore.a" -lpthread -ldl -lm -Wl,-z,noexecstack -Wl,--gc-sections
mkdir -p "$WORK/tmp"
ASAN_OPTIONS=detect_leaks=1 "$WORK/asan_tests" "$FIX" "$WORK/tmp"
# The frame-loop example, and a stream cut inside a frame (an error, exit 1).
"$CC" -std=c99 -g -O1 -fsanitize=address -fno-omit-frame-pointer -Wall -Wextra -Werror \
  -I"$PREFIX/include" -o "$WORK/asan_watch" examples/c/facecore_watch.c "$PREFIX/lib/libfacecore.a" \
  -lpthread -ldl -lm -Wl,-z,noexecstack
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 run_watch "$WORK/asan_watch"
head -c 1000000 "$WORK/frames.bgr" | ASAN_OPTIONS=detect_leaks=1 "$WORK/asan_watch" --preset fast --size 640x360 >/dev/null \
  && exit 1 || [[ $? == 1 ]]
echo "asan clean"

section "example under valgrind (shared library)"
if [[ "${FACECORE_SKIP_VALGRIND:-0}" == 1 ]]; then
  echo "SKIP valgrind: FACECORE_SKIP_VALGRIND=1"
else
  if ! command -v valgrind >/dev/null; then
    (apt-get update -qq && apt-get install -y -qq valgrind) >/dev/null 2>&1 || true
  fi
  if command -v valgrind >/dev/null; then
    # One identification run (the slowest step under valgrind is inference; fast preset).
    g="$WORK/vg.gallery"
    "$shared_bin" --preset fast --gallery "$g" --enroll obama "$FIX/obama.jpg" >/dev/null
    valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
      --error-exitcode=1 "$shared_bin" --preset fast --gallery "$g" --threshold "$THRESHOLD" "$FIX/obama.jpg"
    echo "valgrind clean"
  else
    echo "error: valgrind missing and could not be installed" >&2
    exit 1
  fi
fi

if [[ $profile == dev ]]; then
  note="dev profile: dependencies at opt-level 3, no LTO; scripts/c-checks.sh --release measures the release profile"
else
  note="release profile: thin LTO"
fi
section "sizes ($note)"
strip -o "$WORK/libfacecore.so" "$PREFIX/lib/libfacecore.so"
strip -o "$WORK/facecore_identify_static" "$static_bin"
size_of() { stat -c %s "$1"; }
# What the bundled-models feature puts in the binary: YuNet and the model crates' parts.
models=$(cat facecore/models/yunet_2023mar.onnx model-crates/facecore-model-*/part.bin | wc -c)
printf '%-48s %12s bytes (%s MiB)\n' \
  "libfacecore.so, stripped" "$(size_of "$WORK/libfacecore.so")" "$(( $(size_of "$WORK/libfacecore.so") / 1048576 ))" \
  "facecore_identify, static, stripped" "$(size_of "$WORK/facecore_identify_static")" "$(( $(size_of "$WORK/facecore_identify_static") / 1048576 ))" \
  "libfacecore.a (unstripped archive)" "$(size_of "$PREFIX/lib/libfacecore.a")" "$(( $(size_of "$PREFIX/lib/libfacecore.a") / 1048576 ))" \
  "  of which bundled model bytes" "$models" "$(( models / 1048576 ))"
section "C SDK tarballs ($profile), unpacked elsewhere: pkg-config builds, static and shared, with and without models"
scripts/build-sdk.sh $([[ $profile == release ]] && echo --release) --out "$WORK/sdk"
scripts/sdk-check.sh "$WORK/sdk"
echo "c-checks: all passed"
