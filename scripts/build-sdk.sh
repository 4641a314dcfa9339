#!/usr/bin/env bash
# Builds the C SDK tarballs, in two variants, and prints their sizes:
#   facecore-VERSION-TARGET.tar.gz            models bundled in the library
#   facecore-VERSION-TARGET-nomodels.tar.gz   no models inside: firmware loads them from a
#                                             directory or memory (facecore_models_*)
# Each holds include/facecore.h, lib/libfacecore.a, lib/libfacecore.so.VERSION (+ symlink),
# lib/pkgconfig/facecore.pc (relocatable: prefix=${pcfiledir}/../..), the C example with its
# Makefile and CMakeLists.txt, LICENSE-MIT, LICENSE-APACHE, NOTICE and licenses/.
#
# usage: scripts/build-sdk.sh [--release] [--out DIR]
#   --release  the `sdk` profile (fat LTO, one codegen unit, symbols stripped, panic=unwind;
#              see the root Cargo.toml); default: the dev profile, which shares its build
#              of tract with the tests (what CI uses to check the tarballs' layout)
#   --out      where the tarballs go (default target/sdk)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
profile=dev out=$ROOT/target/sdk
while [[ $# -gt 0 ]]; do
  case "$1" in
    --release) profile=sdk ;;
    --out) out=$2; shift ;;
    *) echo "usage: $0 [--release] [--out DIR]" >&2; exit 2 ;;
  esac
  shift
done
version=$(cargo metadata --no-deps --format-version 1 --offline | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="facecore-ffi"))')
triple=$(rustc -vV | awk '/^host:/ {print $2}')
stage=$out/stage
rm -rf "$stage"
mkdir -p "$stage" "$out"

for variant in bundled nomodels; do
  name=facecore-$version-$triple$([[ $variant == nomodels ]] && echo -nomodels || true)
  prefix=$stage/$name
  cargo_args=()
  [[ $variant == nomodels ]] && cargo_args+=(--no-default-features)
  t0=$(date +%s)
  scripts/build-capi.sh --profile "$profile" --prefix "$prefix" -- --locked ${cargo_args[@]+"${cargo_args[@]}"}
  echo "$variant: built in $(( $(date +%s) - t0 )) s"
  # Relocatable pkg-config file: the SDK works wherever it is unpacked.
  sed -i "s|^prefix=.*|prefix=\${pcfiledir}/../..|" "$prefix/lib/pkgconfig/facecore.pc"
  if [[ $profile == dev ]]; then
    strip --strip-unneeded "$prefix/lib/libfacecore.so.$version"
    strip --strip-debug "$prefix/lib/libfacecore.a"
  fi
  mkdir -p "$prefix/examples/c" "$prefix/licenses"
  cp examples/c/facecore_identify.c examples/c/facecore_watch.c examples/c/Makefile examples/c/CMakeLists.txt "$prefix/examples/c/"
  cp LICENSE-MIT LICENSE-APACHE NOTICE "$prefix/"
  cp licenses/CC0-1.0.txt "$prefix/licenses/"
  cat >"$prefix/README.md" <<README
# facecore $version C SDK ($triple, $variant, $profile profile)

- \`include/facecore.h\`: the whole API (C99, valid C++). Guide: docs/c-api.md in the repository.
- \`lib/libfacecore.a\`, \`lib/libfacecore.so\`: link with \`pkg-config --cflags --libs facecore\`
  (set PKG_CONFIG_PATH=<this directory>/lib/pkgconfig; \`--static\` for the archive).
- \`examples/c/\`: \`make FACECORE_PREFIX=<this directory>\` builds facecore_identify and facecore_watch (raw camera frames on stdin).
$( [[ $variant == nomodels ]] && printf '%s\n' "- No models inside. Give them with facecore_models_new_from_dir / facecore_models_new_from_memory" "  and facecore_pipeline_new_with_models, or set FACECORE_MODELS_DIR. \`facecore models export DIR\`" "  (the facecore CLI) writes the files; their SHA-256 are checked when loaded." || echo "- Models bundled in the library (YuNet, SFace, dlib ResNet, dlib 5-point predictor); see NOTICE." )
- Licences: LICENSE-MIT or LICENSE-APACHE for facecore, NOTICE and licenses/ for the models.
README
  tar -C "$stage" -czf "$out/$name.tar.gz" "$name"
done

echo "== SDK sizes ($profile profile)"
printf '%-56s %12s\n' file bytes
for variant_dir in "$stage"/facecore-*; do
  n=$(basename "$variant_dir")
  printf '%-56s %12s\n' "$n.tar.gz" "$(stat -c %s "$out/$n.tar.gz")" \
    "  lib/libfacecore.so.$version" "$(stat -c %s "$variant_dir/lib/libfacecore.so.$version")" \
    "  lib/libfacecore.a" "$(stat -c %s "$variant_dir/lib/libfacecore.a")"
done
echo "tarballs in $out"
