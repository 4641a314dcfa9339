#!/usr/bin/env bash
# Unpacks the C SDK tarballs (scripts/build-sdk.sh) somewhere else and uses them as a firmware
# project would: builds examples/c with pkg-config against the static and the shared library,
# then enrols two people and identifies a group photo. The variant without models gets them
# from a directory (`facecore models export`, --models DIR) and must fail clearly without.
#
# usage: scripts/sdk-check.sh [SDK_DIR]   (default target/sdk; run scripts/build-sdk.sh first)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SDK=${1:-$ROOT/target/sdk}
CC=${CC:-gcc}
FIX=$ROOT/tests/fixtures
WORK=$(mktemp -d "${TMPDIR:-/tmp}/facecore-sdk-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
MODELS=$WORK/models
"$ROOT/target/debug/facecore" models export "$MODELS" >/dev/null 2>&1 ||
  (cd "$ROOT" && cargo run -q -p facecore-cli --locked -- models export "$MODELS" >/dev/null)

identify() { # binary [extra args]: enrol two people, both must be named in two_people.jpg
  local bin=$1; shift
  local g=$WORK/$(basename "$bin").gallery
  rm -f "$g"
  "$bin" "$@" --preset fast --gallery "$g" --enroll obama "$FIX/obama.jpg" >/dev/null
  "$bin" "$@" --preset fast --gallery "$g" --enroll biden "$FIX/biden.jpg" >/dev/null
  "$bin" "$@" --preset fast --gallery "$g" --threshold 0.5 "$FIX/two_people.jpg" | tee "$WORK/out.txt"
  grep -q -- "-> obama" "$WORK/out.txt" && grep -q -- "-> biden" "$WORK/out.txt" ||
    { echo "FAIL: $bin did not identify both people" >&2; exit 1; }
  "$bin" "$@" --preset fast --gallery "$g" "$FIX/two_people.jpg" | tee "$WORK/out.txt"
  grep -q -- "-> obama (.*stage)" "$WORK/out.txt" && grep -q -- "-> biden (.*stage)" "$WORK/out.txt" ||
    { echo "FAIL: $bin did not identify both people with facecore_pipeline_identify" >&2; exit 1; }
}

found=0
for tarball in "$SDK"/facecore-*.tar.gz; do
  found=1
  name=$(basename "$tarball" .tar.gz)
  echo "== $name"
  tar -xzf "$tarball" -C "$WORK"
  prefix=$WORK/$name
  for f in include/facecore.h lib/libfacecore.a lib/libfacecore.so lib/pkgconfig/facecore.pc LICENSE-MIT LICENSE-APACHE NOTICE licenses/CC0-1.0.txt examples/c/facecore_identify.c examples/c/facecore_watch.c; do
    [ -e "$prefix/$f" ] || { echo "FAIL: $name lacks $f" >&2; exit 1; }
  done
  export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
  echo "pkg-config --cflags --libs facecore: $(pkg-config --cflags --libs facecore)"
  # shellcheck disable=SC2046
  "$CC" -std=c99 -O2 -Wall -Wextra -Werror -o "$WORK/$name-shared" "$prefix/examples/c/facecore_identify.c" \
    $(pkg-config --cflags --libs facecore) -Wl,-rpath,"$(pkg-config --variable=libdir facecore)"
  # Static: the archive by path (a plain -lfacecore would pick the .so), its private libs from pkg-config.
  # shellcheck disable=SC2046
  "$CC" -std=c99 -O2 -Wall -Wextra -Werror -o "$WORK/$name-static" "$prefix/examples/c/facecore_identify.c" \
    $(pkg-config --cflags facecore) "$(pkg-config --variable=libdir facecore)/libfacecore.a" \
    $(pkg-config --static --libs-only-other --libs-only-l facecore | sed 's/-lfacecore//')
  # The frame-loop example builds against the SDK too (static).
  # shellcheck disable=SC2046
  "$CC" -std=c99 -O2 -Wall -Wextra -Werror -o "$WORK/$name-watch" "$prefix/examples/c/facecore_watch.c" \
    $(pkg-config --cflags facecore) "$(pkg-config --variable=libdir facecore)/libfacecore.a" \
    $(pkg-config --static --libs-only-other --libs-only-l facecore | sed 's/-lfacecore//')
  ldd "$WORK/$name-static" | grep -q libfacecore && { echo "FAIL: the static example links libfacecore.so" >&2; exit 1; }
  loaded=$(ldd "$WORK/$name-shared" | awk '/libfacecore.so/ {print $3}')
  [ -n "$loaded" ] && [ "$(realpath "$(dirname "$loaded")")" = "$(realpath "$prefix/lib")" ] ||
    { echo "FAIL: the shared example does not load the SDK's libfacecore.so ($loaded)" >&2; exit 1; }
  case $name in
    *-nomodels)
      for kind in static shared; do
        if env -u FACECORE_MODELS_DIR "$WORK/$name-$kind" --preset fast "$FIX/obama.jpg" 2>"$WORK/err.txt"; then
          echo "FAIL: $name ran without models" >&2; exit 1
        fi
        grep -q "facecore models export" "$WORK/err.txt" || { echo "FAIL: no hint how to get the models:" >&2; cat "$WORK/err.txt" >&2; exit 1; }
        identify "$WORK/$name-$kind" --models "$MODELS"
        FACECORE_MODELS_DIR=$MODELS identify "$WORK/$name-$kind"
      done ;;
    *)
      identify "$WORK/$name-static"
      identify "$WORK/$name-shared" ;;
  esac
  echo "$name: static and shared builds identify both people"
done
[ $found = 1 ] || { echo "FAIL: no SDK tarball in $SDK (run scripts/build-sdk.sh)" >&2; exit 1; }
echo "== SDK check passed"
