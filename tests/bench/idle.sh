#!/usr/bin/env bash
# Idle cost of `keywarden run` between checks, against a simulated Mac (Linux: reads /proc).
# Usage: idle.sh SECONDS [KEYWARDEN KEYWARDEN_SIM]
#   IDLE_TRACE=auto|perf|strace|none   how the wake-up count is cross-checked (auto: perf if it
#                                       can trace syscalls, else strace, else none)
#   IDLE_POLL=N                         ConsolePollSeconds for the daemon (default: the daemon's)
#
# The daemon runs with CheckInterval 86400 (managed preferences), so after its start-up check the
# window holds no check: only the idle loop. Measured over the window, all threads summed:
#   rss_kib_*        VmRSS from /proc/PID/status (and VmHWM, the peak, which is the start-up check)
#   cpu_seconds      on-CPU time from /proc/PID/task/*/schedstat (nanoseconds; the clock-tick
#                    counters of /proc/PID/stat are 10 ms coarse and would read 0 here)
#   wakeups          voluntary context switches (/proc/PID/task/*/status): a thread switches out
#                    voluntarily each time it blocks (epoll_wait with nothing ready, a disk read,
#                    a lock), and each block ends with one wake-up
# Cross-check in the same window, without ptrace (perf attaches through perf_event):
#   perf_sched_switch  sched:sched_switch events of the daemon (voluntary and preempted)
#   perf_epoll_*       epoll_wait returns, how many after blocking (>= 1 ms, or waiting already when
#                      the window opened), and every timeout asked (4294967295: none, -1)
# strace (IDLE_TRACE=strace, or no perf) cannot run in the window: ptrace stops the daemon at every
# syscall, which adds context switches; it runs after the window, for at most 70 s, and only its
# epoll_wait calls are counted.
# Prints "key value" lines.
set -euo pipefail
secs=${1:?seconds}
kw=${2:-target/release/keywarden}
sim=${3:-target/release/keywarden-sim}
trace=${IDLE_TRACE:-auto}
dir=$(mktemp -d "${TMPDIR:-/tmp}/keywarden-idle.XXXXXX")
pid=
tracers=()
cleanup() {
  local p
  for p in "${tracers[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
"$sim" init "$dir/mac" >/dev/null
mac=$dir/mac
mkdir -p "$mac/Library/Managed Preferences"
{
  echo '<?xml version="1.0" encoding="UTF-8"?>'
  echo '<plist version="1.0"><dict><key>CheckInterval</key><integer>86400</integer>'
  [ -n "${IDLE_POLL:-}" ] && echo "<key>ConsolePollSeconds</key><integer>$IDLE_POLL</integer>"
  echo '</dict></plist>'
} > "$mac/Library/Managed Preferences/org.keywarden.plist"

"$kw" --root "$mac" run >"$dir/daemon.out" 2>&1 & pid=$!
# Let the start-up check finish, then a little more.
for _ in $(seq 200); do [ -f "$mac/Library/Keywarden/status.plist" ] && break; sleep 0.1; done
[ -f "$mac/Library/Keywarden/status.plist" ] || { echo "error no status after 20 s"; exit 1; }
sleep 2

if [ "$trace" = auto ]; then
  trace=none
  if command -v perf >/dev/null && perf stat -e syscalls:sys_enter_epoll_wait -- true >/dev/null 2>&1; then
    trace=perf
  elif command -v strace >/dev/null; then
    trace=strace
  fi
fi

sample() {
  local f sw=0 ns=0 runs=0 oncpu runs_f tasks fds
  tasks=(/proc/"$pid"/task/*)
  fds=(/proc/"$pid"/fd/*)
  for f in "${tasks[@]}"; do
    sw=$((sw + $(awk '/^voluntary_ctxt_switches:/ {print $2}' "$f/status")))
    read -r oncpu _ runs_f < "$f/schedstat"
    ns=$((ns + oncpu)); runs=$((runs + runs_f))
  done
  echo "$(awk '/^VmRSS:/ {print $2}' /proc/"$pid"/status) $(awk '/^VmHWM:/ {print $2}' /proc/"$pid"/status)" \
    "$ns $runs $sw $(awk '{print $14 + $15}' /proc/"$pid"/stat) ${#tasks[@]} ${#fds[@]} $(date +%s%N)"
}

if [ "$trace" = perf ]; then
  perf stat -x, -e sched:sched_switch -p "$pid" -o "$dir/perf-stat.csv" >/dev/null 2>&1 &
  tracers+=($!)
  perf trace -e epoll_wait,epoll_pwait -p "$pid" -o "$dir/perf-trace.txt" >/dev/null 2>&1 &
  tracers+=($!)
  sleep 0.5 # let perf attach before the window opens
fi
read -r rss0 _ ns0 runs0 sw0 ticks0 _ fds0 t0 < <(sample)
sleep "$secs"
read -r rss1 hwm1 ns1 runs1 sw1 ticks1 threads1 fds1 t1 < <(sample)
window=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')

hz=$(getconf CLK_TCK)
checks=$(grep -c 'check_finished' "$mac/Library/Logs/Keywarden/keywarden.log" || true)
cat <<EOF
idle_seconds $window
rss_kib_start $rss0
rss_kib_end $rss1
rss_peak_kib $hwm1
cpu_seconds $(awk -v a="$ns0" -v b="$ns1" 'BEGIN { printf "%.6f", (b - a) / 1e9 }')
cpu_seconds_ticks $(awk -v a="$ticks0" -v b="$ticks1" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }')
wakeups $((sw1 - sw0))
sched_runs $((runs1 - runs0))
threads $threads1
fds_start $fds0
fds_end $fds1
checks_logged $checks
trace $trace
EOF

epoll_summary() { # perf trace or strace -T lines: count calls, blocked ones, and the timeouts
  awk '
    /epoll_(p)?wait/ {
      n++
      d = -1
      if (match($0, /\( *[0-9.]+ ms\)/)) { s = substr($0, RSTART + 1, RLENGTH - 5); gsub(/ /, "", s); d = s + 0 }
      else if (match($0, /<[0-9.]+>$/)) { d = substr($0, RSTART + 1, RLENGTH - 2) * 1000 }
      # A call that was already waiting when tracing began returns in the window: a wake-up.
      if (d >= 1 || /continued|resumed/) b++
      t = $0; if (sub(/.*timeout: /, "", t) || sub(/.*, [0-9]+, /, "", t)) { sub(/[^0-9-].*/, "", t); ts = ts (ts ? "," : "") t }
    }
    END { printf "epoll_calls %d\nepoll_blocked %d\nepoll_timeouts_ms %s\n", n, b, ts }' "$1"
}

case $trace in
  perf)
    for p in "${tracers[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    for p in "${tracers[@]}"; do wait "$p" 2>/dev/null || true; done
    tracers=()
    # "<not counted>": the counter never ran because the daemon never ran: no switch.
    n=$(awk -F, '/sched:sched_switch/ {print ($1 == "<not counted>" ? 0 : $1); exit}' "$dir/perf-stat.csv" 2>/dev/null || true)
    [[ $n =~ ^[0-9]+$ ]] || { echo "perf_stat_output $(tr '\n' ' ' < "$dir/perf-stat.csv" 2>/dev/null)"; n=na; }
    echo "perf_sched_switch $n"
    epoll_summary "$dir/perf-trace.txt" | sed 's/^/perf_/'
    ;;
  strace)
    ssecs=$(( secs < 70 ? secs : 70 ))
    timeout -s INT "$ssecs" strace -f -T -e trace=epoll_wait,epoll_pwait -p "$pid" -o "$dir/strace.txt" >/dev/null 2>&1 || true
    echo "strace_seconds $ssecs"
    epoll_summary "$dir/strace.txt" | sed 's/^/strace_/'
    ;;
esac
