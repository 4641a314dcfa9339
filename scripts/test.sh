#!/usr/bin/env bash
# The whole test suite: Rust (unit, integration, doc), facecore without bundled models, the
# packaged crates as a user gets them, C ABI checks, Python package.
# Works on a clean machine with Rust, Python 3.11 + pip and gcc; installs what else it needs.
#
# One build of the heavy dependencies (tract) serves the Rust tests, the CLI, the C library
# and the package check: every cargo command below selects the same features. facecore-py is
# left out of them (pyo3's macros turn on extra `syn` features, which would rebuild tract);
# its wheel is built by scripts/python-tests.sh in its own target directory.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt / clippy"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy -p facecore --no-default-features --all-targets --locked -- -D warnings

echo "== cargo test (workspace: core, CLI, model crates, C ABI tests)"
cargo test --workspace --exclude facecore-py --locked

echo "== facecore without bundled models: the files from FACECORE_MODELS_DIR"
cargo run -q -p facecore-cli --locked -- models export target/models-export
FACECORE_MODELS_DIR="$PWD/target/models-export" cargo test -p facecore --no-default-features --locked

for s in scripts/package-check.sh scripts/c-checks.sh scripts/python-tests.sh; do
  if [ -x "$s" ]; then
    echo "== $s"
    "$s"
  fi
done
echo "== all tests passed"
