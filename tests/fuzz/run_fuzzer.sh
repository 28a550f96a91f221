#!/usr/bin/env bash
# One fuzz CTest: runs a libFuzzer target for a bounded time over a working copy of its seed corpus.
#   run_fuzzer.sh <fuzzer> <seed corpus dir> <work dir> [<dictionary> [<runs>]]
# Fails (non-zero) on any crash, sanitizer report, leak, timeout (-timeout per input) or OOM (-rss_limit_mb);
# the input that did it is kept as <work dir>/artifacts/<kind>-<sha1> (docs/fuzzing.md: reproducing).
# FUZZ_SECONDS (default: JAILD_FUZZ_SECONDS, else 45) is the run time; FUZZ_JOBS=N runs N fuzzing processes
# in parallel for long release runs (each for FUZZ_SECONDS); FUZZ_ARGS adds libFuzzer flags.
# FUZZ_SEED=N makes the run reproducible, as CI needs: a fresh corpus of the seeds and regressions only,
# libFuzzer's -seed=N and <runs> executions (FUZZ_SECONDS stays a cap), so a commit fuzzes the same inputs on
# every machine. Without it the run explores: a random seed and the corpus grown by earlier local runs.
set -euo pipefail
fuzzer=$1 seeds=$2 work=$3 dict=${4:-} runs=${5:-}
seconds=${FUZZ_SECONDS:-${JAILD_FUZZ_SECONDS:-45}}
jobs=${FUZZ_JOBS:-1}

corpus=$work/corpus
[ -n "${FUZZ_SEED:-}" ] && corpus=$work/corpus-seed-$FUZZ_SEED && rm -rf "$corpus"
mkdir -p "$corpus" "$work/artifacts"
# The working corpus grows across exploring runs (new coverage is kept); the seeds are never written to.
cp -n "$seeds"/* "$corpus/" 2>/dev/null || true
# The inputs of bugs found and fixed (tests/fuzz/crashes/<target>-*) are replayed first, as regressions.
cp -n "$(dirname "$0")/crashes/$(basename "$fuzzer")"-* "$corpus/" 2>/dev/null || true

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
command -v llvm-symbolizer >/dev/null && export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v llvm-symbolizer)}

flags=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -detect_leaks=1
       -print_final_stats=1 -artifact_prefix="$work/artifacts/")
[ -n "$dict" ] && [ -f "$dict" ] && flags+=(-dict="$dict")  # field names and such, for the mutator
if [ -n "${FUZZ_SEED:-}" ]; then
  flags+=(-seed="$FUZZ_SEED")
  [ -n "$runs" ] && flags+=(-runs="$runs")
fi
if [ "$jobs" -gt 1 ]; then
  flags+=(-jobs="$jobs" -workers="$jobs")
  cd "$work"  # fuzz-<n>.log files land here
fi
# shellcheck disable=SC2086
exec "$fuzzer" "${flags[@]}" ${FUZZ_ARGS:-} "$corpus"
