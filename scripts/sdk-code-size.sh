#!/usr/bin/env bash
# Code size of the C library without models, and what dominates it: links examples/c
# statically (with --gc-sections, as firmware would) against a staged SDK's libfacecore.a
# and sums the symbol sizes of the result by Rust crate (nm, demangled).
#
# usage: scripts/sdk-code-size.sh [SDK_PREFIX]
#   default: target/sdk-release/stage/facecore-VERSION-TARGET-nomodels (scripts/build-sdk.sh --release)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
P=${1:-$(ls -d "$ROOT"/target/sdk-release/stage/facecore-*-nomodels 2>/dev/null | head -n1)}
[ -f "$P/lib/libfacecore.a" ] || { echo "no SDK at '$P' (run scripts/build-sdk.sh --release)" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
${CC:-gcc} -std=c99 -O2 -o "$WORK/app" "$ROOT/examples/c/facecore_identify.c" -I"$P/include" "$P/lib/libfacecore.a" \
  -lpthread -ldl -lm -Wl,-z,noexecstack -Wl,--gc-sections
strip -o "$WORK/app.stripped" "$WORK/app"
echo "SDK: $P"
echo "libfacecore.so (as shipped): $(stat -L -c %s "$P/lib/libfacecore.so") bytes"
echo "static example, --gc-sections, stripped: $(stat -c %s "$WORK/app.stripped") bytes"
size "$WORK/app" | tail -n1 | awk '{printf "  text %d, data %d, bss %d bytes\n", $1, $2, $3}'
echo "symbol bytes by crate (text, rodata, data):"
nm -S --size-sort -C "$WORK/app" | python3 -c '
import collections, re, sys
total, by = 0, collections.Counter()
for line in sys.stdin:
    p = line.split(None, 3)
    if len(p) < 4 or p[2] not in "tTrRdDbB":
        continue
    size, name = int(p[1], 16), p[3].strip()
    m = re.match(r"^(?:<|_<)?(?:\w+ as )?([a-z_][a-z0-9_]*)::", name)
    crate = m.group(1) if m else "(C, assembly, unnamed)"
    if crate in ("core", "alloc", "std"):
        crate = "std, core, alloc"
    by[crate] += size
    total += size
for crate, size in by.most_common(14):
    print(f"  {crate:26} {size / 1e6:6.2f} MB {100 * size / total:5.1f}%")
print("  %-26s %6.2f MB" % ("(all symbols)", total / 1e6))
'
