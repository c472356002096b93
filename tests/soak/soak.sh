#!/usr/bin/env bash
# Soak: `keywarden run` against the simulated Mac for a simulated month of hourly checks.
#
# Time is accelerated from outside: before each check the simulated Mac is aged by an hour
# (`keywarden-sim age DIR 1h`, which moves every recorded time back) and the daemon is sent
# SIGHUP (reload and check now). Every simulated day a recovery-key unlock, logins and an Escrow
# Buddy rotation exercise the rotation paths; LogLevel debug makes the log as large as it gets.
# Resident memory, open descriptors and threads are sampled after a warm-up and at the end; the
# log directory's size at the end shows the rotation bound; the audit trail must hold one detected
# use per unlock and one confirmed rotation per completed day. Exits non-zero on growth or loss.
#
# Usage: soak.sh [CHECKS] [KEYWARDEN] [KEYWARDEN_SIM]   (CHECKS default 720 = 30 days)
set -euo pipefail
checks=${1:-720}
kw=${2:-target/release/keywarden}
sim=${3:-target/release/keywarden-sim}
dir=$(mktemp -d "${TMPDIR:-/tmp}/keywarden-soak.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT

"$sim" init "$dir" >/dev/null
mkdir -p "$dir/Library/Managed Preferences"
cat > "$dir/Library/Managed Preferences/org.keywarden.plist" <<'PLIST'
<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>CheckInterval</key><integer>86400</integer>
<key>LogLevel</key><string>debug</string>
</dict></plist>
PLIST
status="$dir/Library/Keywarden/status.plist"

"$kw" --root "$dir" run & pid=$!
stamp() { stat -c %Y.%s "$status" 2>/dev/null || echo none; }
wait_check() {  # wait until the status file is replaced after $1
  local before=$1 i
  for i in $(seq 600); do
    [ "$(stat -c %i "$status" 2>/dev/null || echo x)" != "$before" ] && return 0
    kill -0 "$pid" 2>/dev/null || { echo "soak: the daemon died"; exit 1; }
    sleep 0.05
  done
  echo "soak: no check finished within 30 s"; exit 1
}
sample() {
  local rss fds threads
  rss=$(awk '/^VmRSS:/ {print $2}' /proc/$pid/status)
  fds=$(ls /proc/$pid/fd | wc -l)
  threads=$(ls /proc/$pid/task | wc -l)
  echo "$rss $fds $threads"
}
inode() { stat -c %i "$status" 2>/dev/null || echo x; }

for _ in $(seq 100); do [ -f "$status" ] && break; sleep 0.1; done
warm=24
[ "$checks" -lt 48 ] && warm=$(( checks / 2 > 0 ? checks / 2 : 1 ))
rss0=; fds0=; th0=
started=$(date +%s)
for i in $(seq "$checks"); do
  "$sim" age "$dir" 1h >/dev/null
  if [ $((i % 24)) -eq 12 ]; then
    # A day's events: the key unlocks the Mac, the user logs in, Escrow Buddy rotates later.
    "$sim" event "$dir" reboot --with-recovery-key >/dev/null
  elif [ $((i % 24)) -eq 14 ]; then
    "$sim" event "$dir" login alice >/dev/null
  elif [ $((i % 24)) -eq 16 ]; then
    "$sim" event "$dir" logout >/dev/null; "$sim" event "$dir" login alice >/dev/null
  fi
  before=$(inode)
  kill -HUP "$pid"
  wait_check "$before"
  if [ "$i" -eq "$warm" ]; then read -r rss0 fds0 th0 < <(sample); fi
done
read -r rss1 fds1 th1 < <(sample)
elapsed=$(( $(date +%s) - started ))
logs=$(du -sk "$dir/Library/Logs/Keywarden" | awk '{print $1}')
lines=$(cat "$dir"/Library/Logs/Keywarden/keywarden.log* | wc -l)
healthy=$("$kw" --root "$dir" ea Healthy)
rot=$("$kw" --root "$dir" ea Rotation.LastRotatedAt)
audit="$dir/var/db/keywarden/audit.jsonl"
used=$(grep -c '"What":"UseDetected"' "$audit" || true)
confirmed=$(grep -c '"What":"RotationConfirmed"' "$audit" || true)
# Unlocks with the key: one a day at hour 12; each must be detected, and each whose day reached
# hour 16 (the second login) rotated and confirmed: nothing lost, nothing twice.
unlocks=0; settled=0
for i in $(seq "$checks"); do
  [ $((i % 24)) -eq 12 ] && unlocks=$((unlocks + 1))
  [ $((i % 24)) -eq 16 ] && settled=$((settled + 1))
done
kill -TERM "$pid"; wait "$pid" || true; pid=
echo "checks $checks (simulated days $((checks / 24))) in ${elapsed} s"
echo "rss_kib after ${warm} checks $rss0, at the end $rss1"
echo "fds $fds0 -> $fds1, threads $th0 -> $th1"
echo "log directory ${logs} KiB (${lines} lines kept), bound 20480 KiB"
echo "healthy at the end: $healthy, last rotation $rot"
echo "unlocks with the key $unlocks: detected $used, rotations confirmed $confirmed (expected $settled to $unlocks)"
fail=0
[ "$used" -eq "$unlocks" ] || { echo "soak: $unlocks unlocks but $used detected"; fail=1; }
{ [ "$confirmed" -ge "$settled" ] && [ "$confirmed" -le "$unlocks" ]; } ||
  { echo "soak: $confirmed rotations confirmed, expected $settled to $unlocks"; fail=1; }
# Allow allocator noise, not growth: 512 KiB.
[ $((rss1 - rss0)) -le 512 ] || { echo "soak: resident memory grew by $((rss1 - rss0)) KiB"; fail=1; }
[ "$fds1" -le "$fds0" ] || { echo "soak: descriptors grew"; fail=1; }
[ "$th1" -le "$th0" ] || { echo "soak: threads grew"; fail=1; }
[ "$logs" -le 20480 ] || { echo "soak: the log directory passed its bound"; fail=1; }
exit $fail
