#!/usr/bin/env bash
# libFuzzer campaign over facecore's parsers and the C ABI (cargo fuzz; fuzz/, docs/fuzzing.md).
#
#   scripts/fuzz.sh [--smoke [SECONDS]]   every target for SECONDS each (default 30) on its
#                                         committed corpus; fails on any crash, leak, timeout
#                                         or out-of-memory
#   scripts/fuzz.sh --long [RUNS]         every target, one at a time, until RUNS executions
#                                         (default 1000000); prints the counts and coverage
#   --targets "a b"                       only these targets (default: all five)
#
# Needs only rustup's stable toolchain and a C compiler: cargo-fuzz is installed when missing,
# and RUSTC_BOOTSTRAP=1 lets stable rustc take the sanitizer and coverage flags it passes. The
# instrumented build lives in fuzz/target (override with FUZZ_TARGET_DIR), apart from target/.
# Inputs libFuzzer finds go to fuzz/target/corpus/<target> (the committed fuzz/corpus is only
# read); crashes to fuzz/target/artifacts/<target>/. Known crash inputs, fuzz/regressions/
# <target>/*, run first in both modes.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=smoke
seconds=30
runs=1000000
targets="image_detect gallery_parse dlib_dat model_memory c_abi"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --smoke) mode=smoke; if [[ "${2:-}" =~ ^[0-9]+$ ]]; then seconds=$2; shift; fi ;;
    --long) mode=long; if [[ "${2:-}" =~ ^[0-9]+$ ]]; then runs=$2; shift; fi ;;
    --targets) targets=$2; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

export RUSTC_BOOTSTRAP=1
target_dir=${FUZZ_TARGET_DIR:-$PWD/fuzz/target}
triple=$(rustc -vV | sed -n 's/^host: //p')

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# One build of all targets, with the address sanitizer and libFuzzer's coverage
# instrumentation either way. --long: cargo fuzz's optimised build with debug assertions; 16
# codegen units build tract about twice as fast on 2 cores as cargo fuzz's default of 1, and
# it still takes about 20 minutes there. --smoke: the unoptimised dev profile, which builds in
# about 2.5 minutes on the same machine: a tenth of the executions per second (tract runs
# unoptimised), enough to replay the corpus and the regressions and to explore a little.
echo "== cargo fuzz build ($(cargo fuzz --version), $(rustc --version))"
build_start=$SECONDS
if [[ $mode == smoke ]]; then
  cargo fuzz build --dev --target-dir "$target_dir"
  bin_dir=$target_dir/$triple/debug
else
  cargo fuzz build --codegen-units 16 --target-dir "$target_dir"
  bin_dir=$target_dir/$triple/release
fi
echo "== built in $((SECONDS - build_start)) s"

# Per-target input caps (bytes): room for small images and models, tight elsewhere.
max_len() {
  case "$1" in
    image_detect) echo 16384 ;;
    model_memory) echo 8192 ;;
    *) echo 4096 ;;
  esac
}

logs=$target_dir/logs
mkdir -p "$logs"
failed=()
summary=()
for t in $targets; do
  bin=$bin_dir/$t
  [[ -x "$bin" ]] || { echo "no fuzz target $t" >&2; exit 2; }
  work=$target_dir/corpus/$t
  artifacts=$target_dir/artifacts/$t/
  mkdir -p "$work" "$artifacts"

  shopt -s nullglob
  regressions=(fuzz/regressions/"$t"/*)
  shopt -u nullglob
  if [[ ${#regressions[@]} -gt 0 ]]; then
    echo "== $t: ${#regressions[@]} regression input(s)"
    if ! "$bin" -artifact_prefix="$artifacts" "${regressions[@]}" >"$logs/$t.regressions.log" 2>&1; then
      tail -40 "$logs/$t.regressions.log"
      failed+=("$t (regression inputs)")
      continue
    fi
  fi

  # -jobs=1: one fuzzing process, run as a child that libFuzzer restarts after nothing; it
  # writes fuzz-0.log into the working directory, hence the per-target run directory.
  run_dir=$logs/$t.run
  mkdir -p "$run_dir"
  common=(-artifact_prefix="$artifacts" -max_len="$(max_len "$t")" -timeout=120 -rss_limit_mb=4096
          -print_final_stats=1 -jobs=1 "$work" "$PWD/fuzz/corpus/$t")
  if [[ $mode == smoke ]]; then
    echo "== $t: ${seconds} s"
    args=(-max_total_time="$seconds")
  else
    echo "== $t: $runs executions"
    args=(-runs="$runs")
  fi
  start=$SECONDS
  if (cd "$run_dir" && "$bin" "${args[@]}" "${common[@]}") >"$logs/$t.log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
    tail -60 "$logs/$t.log"
  fi
  took=$((SECONDS - start))
  # libFuzzer's own figures: the last status line (executions, cov, ft, corpus, exec/s) and
  # the final stats.
  last=$(grep -E '^#[0-9]+' "$logs/$t.log" | tail -1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$t.log" | tail -1)
  line="$t: $status, ${execs:-?} executions in ${took} s (${rate:-?} exec/s); last: ${last:-none}"
  echo "   $line"
  summary+=("$line")
done

echo "== summary ($mode; logs in $logs)"
printf '   %s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "FAILED: ${failed[*]} (crash inputs in $target_dir/artifacts/)" >&2
  exit 1
fi
