#!/usr/bin/env bash
# Builds facecore-ffi and stages an installable C SDK:
#   $PREFIX/include/facecore.h
#   $PREFIX/lib/libfacecore.a
#   $PREFIX/lib/libfacecore.so.X.Y.Z (SONAME) + libfacecore.so symlink
#   $PREFIX/lib/pkgconfig/facecore.pc
# Cargo names the files libfacecore_ffi.* (a [lib] named "facecore" would collide with the
# core crate's libfacecore.rlib), so they are renamed here.
#
# usage: scripts/build-capi.sh [--release | --profile NAME] [--prefix DIR] [-- extra cargo args]
#   default profile: dev (dependencies optimised anyway); default prefix: target/capi/<profile>
#   (`--profile sdk` is the SDK's release profile, see scripts/build-sdk.sh)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
profile=dev dir=debug prefix="" extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --release) profile=release dir=release ;;
    --profile) profile="$2" dir="$2"; [[ $2 == dev ]] && dir=debug; shift ;;
    --prefix) prefix="$2"; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "usage: $0 [--release | --profile NAME] [--prefix DIR] [-- cargo args]" >&2; exit 2 ;;
  esac
  shift
done
prefix="${prefix:-$ROOT/target/capi/$dir}"

cargo build --manifest-path "$ROOT/Cargo.toml" -p facecore-ffi --profile "$profile" ${extra[@]+"${extra[@]}"}

target_dir="$(cargo metadata --manifest-path "$ROOT/Cargo.toml" --format-version 1 --no-deps --offline \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
out="$target_dir/$dir"
version="$(cargo metadata --manifest-path "$ROOT/Cargo.toml" --no-deps --format-version 1 --offline \
  | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="facecore-ffi"))')"

mkdir -p "$prefix/include" "$prefix/lib/pkgconfig"
cp "$ROOT/include/facecore.h" "$prefix/include/"
cp "$out/libfacecore_ffi.a" "$prefix/lib/libfacecore.a"
cp "$out/libfacecore_ffi.so" "$prefix/lib/libfacecore.so.$version"
ln -sf "libfacecore.so.$version" "$prefix/lib/libfacecore.so"
sed -e "s|@PREFIX@|$prefix|g" -e "s|@VERSION@|$version|g" "$ROOT/facecore-ffi/facecore.pc.in" >"$prefix/lib/pkgconfig/facecore.pc"
echo "staged facecore $version ($profile) in $prefix"
