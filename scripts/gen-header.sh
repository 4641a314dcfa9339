#!/usr/bin/env bash
# Regenerates include/facecore.h (the repository's top level) with the pinned cbindgen and version macros taken
# from Cargo.toml. `--check` regenerates into a temporary file and fails if the committed header
# differs (CI). `--install` installs the pinned cbindgen first when it is missing.
set -euo pipefail

CBINDGEN_VERSION=0.29.2
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CRATE="$ROOT/facecore-ffi"
HEADER="$ROOT/include/facecore.h"
mode=write install=0
for arg in "$@"; do
  case "$arg" in
    --check) mode=check ;;
    --install) install=1 ;;
    *) echo "usage: $0 [--check] [--install]" >&2; exit 2 ;;
  esac
done

have="$(cbindgen --version 2>/dev/null | awk '{print $2}' || true)"
if [[ "$have" != "$CBINDGEN_VERSION" ]]; then
  if [[ $install == 1 ]]; then
    cargo install cbindgen --locked --version "$CBINDGEN_VERSION"
  else
    echo "error: cbindgen $CBINDGEN_VERSION is required (found: ${have:-none});" >&2
    echo "       run: cargo install cbindgen --locked --version $CBINDGEN_VERSION   (or pass --install)" >&2
    exit 1
  fi
fi

version="$(cd "$ROOT" && cargo metadata --no-deps --format-version 1 --offline 2>/dev/null \
  | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="facecore-ffi"))')"
IFS=. read -r major minor patch <<<"${version%%-*}"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
IFS=. read -r major minor patch <<<"${version%%-*}"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# after_includes is a top-level key, so it goes before the first [table] of a copy of the config.
{
  printf 'after_includes = """\n'
  printf '/** Version of this header (the library reports its own with facecore_version()). */\n'
  printf '#define FACECORE_VERSION_MAJOR %s\n' "$major"
  printf '#define FACECORE_VERSION_MINOR %s\n' "$minor"
  printf '#define FACECORE_VERSION_PATCH %s\n' "$patch"
  printf '#define FACECORE_VERSION_STRING "%s"\n' "$version"
  printf '/** MAJOR * 10000 + MINOR * 100 + PATCH, for #if comparisons. */\n'
  printf '#define FACECORE_VERSION_NUMBER (FACECORE_VERSION_MAJOR * 10000 + FACECORE_VERSION_MINOR * 100 + FACECORE_VERSION_PATCH)\n'
  printf '"""\n'
  cat "$CRATE/cbindgen.toml"
} >"$tmp/cbindgen.toml"

out="$tmp/facecore.h"
(cd "$CRATE" && cbindgen --quiet --config "$tmp/cbindgen.toml" --crate facecore-ffi --output "$out" .)

if [[ $mode == check ]]; then
  if ! diff -u "$HEADER" "$out"; then
    echo "error: $HEADER is out of date; run scripts/gen-header.sh and commit the result" >&2
    exit 1
  fi
  echo "header is current: $HEADER (cbindgen $CBINDGEN_VERSION, version $version)"
else
  mkdir -p "$(dirname "$HEADER")"
  cp "$out" "$HEADER"
  echo "wrote $HEADER (cbindgen $CBINDGEN_VERSION, version $version)"
fi
