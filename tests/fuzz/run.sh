#!/usr/bin/env bash
# Build every fuzz target of tests/fuzz and run each for FUZZ_SECONDS (default 60) on its seed
# corpus (made fresh from the fixtures by seed.py) with its dictionary; print per target the
# executions and any crash; exit 1 when a target crashed (or timed out, or ran out of memory).
#
#   FUZZ_SECONDS=60     how long each target runs
#   FUZZ_TARGETS="a b"  only these targets (default: every target, `cargo fuzz list`)
#   FUZZ_JOBS=1         targets run at once (each uses one core)
#
# `make fuzz` runs this. The installed nightly is used (`cargo +nightly fuzz`); without one, the
# stable toolchain with RUSTC_BOOTSTRAP=1 (docs: TOOLCHAIN.md). A crash leaves its input in
# tests/fuzz/artifacts/TARGET/; the summary prints the command that replays it.
set -uo pipefail
cd "$(dirname "$0")/../.."

FUZZ_DIR=tests/fuzz
SECONDS_EACH=${FUZZ_SECONDS:-60}
JOBS=${FUZZ_JOBS:-1}

if rustup run nightly rustc --version >/dev/null 2>&1; then
  fuzz() { cargo +nightly fuzz "$@"; }
  toolchain="nightly ($(rustup run nightly rustc --version))"
else
  fuzz() { RUSTC_BOOTSTRAP=1 cargo fuzz "$@"; }
  toolchain="$(rustc --version) with RUSTC_BOOTSTRAP=1 (no nightly installed)"
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: cargo-fuzz is not installed; installing it (cargo install --locked cargo-fuzz)"
  for i in 1 2 3; do cargo install --locked --quiet cargo-fuzz && break; sleep $((i * 5)); done
  cargo fuzz --version >/dev/null 2>&1 || { echo "fuzz: could not install cargo-fuzz (network?)"; exit 2; }
fi

echo "fuzz: $(cargo fuzz --version), $toolchain"
python3 "$FUZZ_DIR/seed.py" || { echo "fuzz: seed.py failed"; exit 2; }

build_started=$(date +%s)
# An explicit target dir: a CARGO_TARGET_DIR in the environment must not move the binaries.
fuzz build --fuzz-dir "$FUZZ_DIR" --target-dir "$FUZZ_DIR/target" || { echo "fuzz: the targets do not build"; exit 2; }
echo "fuzz: targets built in $(( $(date +%s) - build_started )) s"

host=$(rustc -vV | sed -n 's/^host: //p')
bin_dir="$FUZZ_DIR/target/$host/release"
targets=${FUZZ_TARGETS:-$(fuzz list --fuzz-dir "$FUZZ_DIR")}

# The dictionary of a target: the wording its parser matches.
dict_of() {
  local name=${1#tool_}
  name=${name%_secret}
  case $name in
    config_*) name=config ;;
    status_read | report_ea_value) name=status ;;
    state_parse) name=state ;;
    audit_*) name=audit ;;
    failed_keys_load) name=failed_keys ;;
  esac
  [ -f "$FUZZ_DIR/dict/$name.dict" ] && echo "-dict=$FUZZ_DIR/dict/$name.dict"
}

run_one() {
  local t=$1 log="$FUZZ_DIR/artifacts/$1/last-run.log"
  mkdir -p "$FUZZ_DIR/artifacts/$t" "$FUZZ_DIR/corpus/$t"
  # -timeout: one input taking 10 s is a finding; -rss_limit_mb: libFuzzer's default, stated.
  # shellcheck disable=SC2046
  "$bin_dir/$t" "$FUZZ_DIR/corpus/$t" $(dict_of "$t") \
    -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$FUZZ_DIR/artifacts/$t/" >"$log" 2>&1
  echo $? >"$FUZZ_DIR/artifacts/$t/last-run.rc"
}

# The private roots of the targets that read files: on tmpfs when there is one, removed at the end.
FUZZ_TMPDIR=$(mktemp -d -p /dev/shm keywarden-fuzz.XXXXXX 2>/dev/null || mktemp -d -t keywarden-fuzz.XXXXXX)
export FUZZ_TMPDIR
trap 'rm -rf "$FUZZ_TMPDIR"' EXIT

started=$(date +%s)
echo "fuzz: $(echo "$targets" | wc -w) targets, ${SECONDS_EACH} s each, $JOBS at a time"
running=0
for t in $targets; do
  [ -x "$bin_dir/$t" ] || { echo "fuzz: no such target: $t"; exit 2; }
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then
    wait -n
    running=$((running - 1))
  fi
done
wait

crashed=0
printf '\n%-22s %12s %8s  %s\n' TARGET EXECUTIONS CORPUS RESULT
for t in $targets; do
  log="$FUZZ_DIR/artifacts/$t/last-run.log"
  rc=$(cat "$FUZZ_DIR/artifacts/$t/last-run.rc" 2>/dev/null || echo "?")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  [ -n "$execs" ] || execs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
  corpus=$(find "$FUZZ_DIR/corpus/$t" -type f | wc -l)
  if [ "$rc" = 0 ]; then
    printf '%-22s %12s %8s  %s\n' "$t" "${execs:-?}" "$corpus" ok
  else
    crashed=1
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    why=$(grep -m 1 -E "panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|SUMMARY" "$log")
    printf '%-22s %12s %8s  CRASH (exit %s)\n' "$t" "${execs:-?}" "$corpus" "$rc"
    printf '    %s\n' "$why"
    # The panic message: the lines between `panicked at` and the backtrace.
    sed -n '/panicked at/,/^stack backtrace:/p' "$log" | sed '1d;$d' | head -n 5 | sed 's/^/    /'
    [ -n "$artifact" ] && printf '    input: %s\n    replay: cargo +nightly fuzz run --fuzz-dir %s %s %s\n' \
      "$artifact" "$FUZZ_DIR" "$t" "$artifact"
    printf '    log: %s\n' "$log"
  fi
done
echo "fuzz: ran in $(( $(date +%s) - started )) s"
if [ "$crashed" != 0 ]; then
  echo "fuzz: CRASHES FOUND (see above)"
  exit 1
fi
echo "fuzz: no crash"
