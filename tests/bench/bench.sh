#!/usr/bin/env bash
# `make bench`: the five benchmarks of issue 7 and issue 16's accounts in one run (docs/BENCHMARKS.md).
# Expects the release binaries (cargo build --release --bins; `make bench` builds them first),
# links the universal macOS binary for its size when cargo-zigbuild and zig are there, then runs
# tests/bench/bench.py, which prints the table and writes target/bench/results.json.
#
# Environment (all optional):
#   CARGO_TARGET_DIR   where the release binaries are (default: target)
#   BENCH_MACOS=0      do not link the macOS binary (its size rows say skipped)
#   BENCH_ONLY=1,2,..  run only these benchmarks (1 check, 2 read, 3 idle, 4 scale, 5 size/start,
#                      6 accounts: 5, 500, 5,000 users)
#   IDLE_SECONDS=180   the idle window (at least a few ConsolePollSeconds); BENCH_RUNS=7 BENCH_SCRIPT_RUNS=3 BENCH_READ_RUNS=30
#   BENCH_START_RUNS=15 BENCH_LATENCY_MS=200
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${CARGO_TARGET_DIR:-target}
kw=$target/release/keywarden
sim=$target/release/keywarden-sim
out=target/bench/results.json
for b in "$kw" "$sim"; do
  [ -x "$b" ] || { echo "bench: $b not found: cargo build --release --bins (make bench does)"; exit 1; }
done
command -v python3 >/dev/null || { echo "bench: needs python3"; exit 1; }
mkdir -p target/bench

only=${BENCH_ONLY:-1,2,3,4,5,6}
macos_args=()
if [[ ,$only, != *,5,* ]]; then
  :
elif [ "${BENCH_MACOS:-1}" = 0 ]; then
  macos_args=(--macos-skip "BENCH_MACOS=0")
elif ! command -v cargo-zigbuild >/dev/null || ! { python3 -c 'import ziglang' 2>/dev/null || command -v zig >/dev/null; }; then
  macos_args=(--macos-skip "no cargo-zigbuild/zig to link it (cargo install cargo-zigbuild; pip install ziglang)")
else
  echo "bench: make macos-binary (log: target/bench/macos-binary.log)" >&2
  if "${MAKE:-make}" --no-print-directory macos-binary >target/bench/macos-binary.log 2>&1; then
    macos_args=(--macos-binary target-macos/universal2-apple-darwin/release/keywarden)
  else
    macos_args=(--macos-skip "make macos-binary failed (target/bench/macos-binary.log)")
  fi
fi

exec python3 tests/bench/bench.py --keywarden "$kw" --sim "$sim" --out "$out" --only "$only" "${macos_args[@]}"
