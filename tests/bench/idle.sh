#!/usr/bin/env bash
# Idle cost of `keywarden run` between checks, against the simulated Mac (Linux: reads /proc).
# Usage: idle.sh SECONDS [KEYWARDEN KEYWARDEN_SIM]
# Prints: resident memory at start and end (KiB), CPU seconds used while idle, and wake-ups per
# minute (voluntary context switches of all the daemon's threads).
set -euo pipefail
secs=${1:?seconds}
kw=${2:-target/release/keywarden}
sim=${3:-target/release/keywarden-sim}
dir=$(mktemp -d "${TMPDIR:-/tmp}/keywarden-idle.XXXXXX")
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
"$sim" init "$dir" >/dev/null
# The longest CheckInterval, so the measured window holds no check: only the idle loop.
mkdir -p "$dir/Library/Managed Preferences"
cat > "$dir/Library/Managed Preferences/org.keywarden.plist" <<'PLIST'
<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict><key>CheckInterval</key><integer>86400</integer></dict></plist>
PLIST
"$kw" --root "$dir" run & pid=$!
# Let the start-up check finish.
for _ in $(seq 100); do [ -f "$dir/Library/Keywarden/status.plist" ] && break; sleep 0.1; done
sleep 2
sample() {
  local rss ticks sw=0 f
  rss=$(awk '/^VmRSS:/ {print $2}' /proc/$pid/status)
  ticks=$(awk '{print $14 + $15}' /proc/$pid/stat)
  for f in /proc/$pid/task/*/status; do sw=$((sw + $(awk '/^voluntary_ctxt_switches:/ {print $2}' "$f"))); done
  echo "$rss $ticks $sw $(ls /proc/$pid/task | wc -l) $(ls /proc/$pid/fd | wc -l)"
}
read -r rss0 t0 sw0 threads0 fds0 < <(sample)
sleep "$secs"
read -r rss1 t1 sw1 threads1 fds1 < <(sample)
hz=$(getconf CLK_TCK)
checks=$(grep -c ' check_finished ' "$dir/Library/Logs/Keywarden/keywarden.log" || true)
awk -v s="$secs" -v r0="$rss0" -v r1="$rss1" -v t0="$t0" -v t1="$t1" -v hz="$hz" -v w0="$sw0" -v w1="$sw1" \
    -v th="$threads1" -v f0="$fds0" -v f1="$fds1" -v c="$checks" 'BEGIN {
  cpu = (t1 - t0) / hz
  printf "idle_seconds %d\nrss_kib_start %d\nrss_kib_end %d\ncpu_seconds %.3f\ncpu_seconds_per_hour %.3f\nwakeups %d\nwakeups_per_minute %.2f\nthreads %d\nfds_start %d\nfds_end %d\nchecks_total %d\n",
    s, r0, r1, cpu, cpu * 3600 / s, w1 - w0, (w1 - w0) * 60 / s, th, f0, f1, c
}'
