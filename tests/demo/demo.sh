#!/usr/bin/env bash
# `make demo`: Keywarden against simulated Macs, scenario by scenario.
#
# Each scenario lays out a simulated Mac with keywarden-sim (a separate program that plays
# fdesetup, sysadminctl, profiles, diskutil, dscl... inside a directory), runs the real
# `keywarden --root DIR check` against it, and shows what an admin or a helpdesk technician sees:
# the check's one-line verdict, `keywarden status`, and what inventory reads with `keywarden ea`.
set -euo pipefail
cd "$(dirname "$0")/../.."

target="${CARGO_TARGET_DIR:-target}/debug"
KW="$target/keywarden"
SIM="$target/keywarden-sim"
for b in "$KW" "$SIM"; do
  [ -x "$b" ] || { echo "demo: $b is missing: run 'make demo' (it builds first)"; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/keywarden-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT

bold=; dim=; off=
if [ -t 1 ]; then bold=$(tput bold 2>/dev/null || true); dim=$(tput dim 2>/dev/null || true); off=$(tput sgr0 2>/dev/null || true); fi
n=0
scenario() {
  n=$((n + 1))
  mac="$work/mac$n"
  printf '\n%s━━ %d. %s%s\n' "$bold" "$n" "$1" "$off"
  printf '%s%s%s\n' "$dim" "$2" "$off"
  "$SIM" init "$mac" >/dev/null
  shift 2
  if [ $# -gt 0 ]; then
    printf '%s$ keywarden-sim set %s%s\n' "$dim" "$*" "$off"
    "$SIM" set "$mac" "$@"
  fi
}
run() {
  printf '%s$ keywarden %s%s\n' "$bold" "$*" "$off"
  set +e
  "$KW" --root "$mac" "$@"
  local rc=$?
  set -e
  printf '%s(exit %d)%s\n' "$dim" "$rc" "$off"
}
ea() {
  for key in "$@"; do
    printf '  ea %-34s %s\n' "$key" "$("$KW" --root "$mac" ea "$key")"
  done
}

printf '%sKeywarden demo%s: the daemon against simulated Macs (nothing here touches this machine).\n' "$bold" "$off"
printf 'Binaries: %s, %s. Scratch: %s\n' "$KW" "$SIM" "$work"

scenario "A healthy Mac" \
  "FileVault on, a personal recovery key escrowed to the MDM, alice logged in with a SecureToken, bootstrap token escrowed."
run check
run status
ea Healthy RecoveryKey.State Escrow.State SecureToken.ConsoleUserHasToken

scenario "FileVault is off" \
  "A Mac that was never encrypted: no recovery key to escrow." \
  'filevault.state="Off"' 'recovery_key.personal=null'
run check
ea Healthy Problems FileVault.State

scenario "No escrow payload" \
  "The FileVault escrow profile is missing: a recovery key exists, but the MDM will never receive it." \
  'escrow.profile_installed=false'
run check
ea Problems Escrow.State RecoveryKey.State

scenario "A user without a SecureToken, and an extra admin with one" \
  "alice (logged in) has no SecureToken and cannot unlock FileVault; the hidden itadmin account holds one." \
  'users.0.secure_token=false' 'users.0.volume_owner=false' 'users.1.secure_token=true' 'users.1.volume_owner=true'
run check
run status
ea Healthy Warnings SecureToken.ConsoleUserHasToken SecureToken.UsersWithoutToken SecureToken.AdditionalAdminsWithToken

scenario "Bootstrap token not escrowed" \
  "The MDM supports a bootstrap token, but this Mac never escrowed one: hygiene, a warning. The recovery key is fine, so the Mac stays Healthy." \
  'bootstrap_token.escrowed=false'
run check
ea Healthy Problems Warnings BootstrapToken.Supported BootstrapToken.Escrowed

scenario "A macOS tool that hangs" \
  "After a good check, fdesetup status stops answering: the next check goes on, kills it after ToolTimeout (2 s here), keeps the last good FileVault values marked stale, and says which tool failed."
run check
printf '%s$ keywarden-sim set faults=[{"argv":["fdesetup","status"],"kind":"hang"}]%s\n' "$dim" "$off"
"$SIM" set "$mac" 'faults=[{"argv":["fdesetup","status"],"kind":"hang"}]'
mkdir -p "$mac/Library/Managed Preferences"
cat > "$mac/Library/Managed Preferences/org.keywarden.plist" <<'PLIST'
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>ToolTimeout</key>
	<integer>2</integer>
</dict>
</plist>
PLIST
run check
ea Problems FileVault.State FileVault.Stale Daemon.Errors


# ── The key lifecycle ───────────────────────────────────────────────────────────────────────
step() { printf '\n%s▸ %s%s\n' "$bold" "$*" "$off"; }
sim() { printf '%s$ keywarden-sim %s%s\n' "$dim" "$*" "$off"; "$SIM" "$1" "$mac" "${@:2}" | sed 's/^/  /'; }
show() {
  printf '%s$ keywarden check%s\n' "$dim" "$off"
  set +e; "$KW" --root "$mac" check | sed 's/^/  /'; set -e
  for key in Healthy Problems Warnings RecoveryKey.State RecoveryKey.UsedThisBoot Rotation.State Rotation.Reason Rotation.Method Rotation.Waiting Rotation.Attempts Rotation.LastError Escrow.State Escrow.Evidence; do
    v=$("$KW" --root "$mac" ea "$key" | sed 's/<result>\(.*\)<\/result>/\1/')
    [ -n "$v" ] && printf '    %-26s %s\n' "$key" "$v"
  done
  return 0
}

scenario "The story of a recovery key: used, detected, rotated, confirmed" \
  "alice forgot her password; the helpdesk read her the recovery key over the phone."
show
step "The Mac restarts and the disk is unlocked with the recovery key. Nobody has logged in yet."
sim event reboot --with-recovery-key
show
step "Keywarden saw the use, but asks for nothing yet: macOS will make alice reset her password at this login, and a new key during that login breaks the reset."
step "alice logs in (and resets her password)."
sim event login alice
show
step "Now it is safe: Keywarden sets Escrow Buddy's GenerateNewKey (through defaults) and reads it back."
printf '%s$ defaults read %s GenerateNewKey%s\n  ' "$dim" "/Library/Preferences/com.netflix.Escrow-Buddy" "$off"
"$mac/usr/bin/defaults" read /Library/Preferences/com.netflix.Escrow-Buddy GenerateNewKey
step "At alice's next login, Escrow Buddy makes a new key; the escrow payload stages it in FileVaultPRK.dat for the MDM."
sim event logout
sim event login alice
show
step "Confirmed from the new escrow file: the key the helpdesk read out no longer unlocks this Mac."
run status

scenario "When Escrow Buddy fails: retried, then shown overdue" \
  "The key was used; the request goes out; Escrow Buddy runs at login but fdesetup fails."
"$SIM" event "$mac" reboot --with-recovery-key >/dev/null; "$KW" --root "$mac" check >/dev/null || true
"$SIM" event "$mac" login alice >/dev/null
show
step "fdesetup fails at the next login. Escrow Buddy clears its flag anyway."
sim set escrow_buddy.fail_next_rotation=true
sim event logout
sim event login alice
step "The daemon checks at once when the console user changes; it waits a grace period before judging the attempt."
show
step "Eleven minutes later (keywarden-sim age moves the simulated Mac's clock): no new escrow file, so the attempt failed."
sim age 11m
show
step "An hour later Keywarden asks again (backoff: 1 h, 4 h, 16 h, then daily)."
sim age 61m
show
step "It fails again at the next login, and two weeks pass: the request is shown overdue (RotationOverdueDays, 14 by default)."
"$SIM" set "$mac" escrow_buddy.fail_next_rotation=true; "$SIM" event "$mac" logout >/dev/null; "$SIM" event "$mac" login alice >/dev/null
"$KW" --root "$mac" check >/dev/null || true
sim age 15d
show

scenario "The MDM re-sends its escrow profile: nothing to do" \
  "MDMs re-send profiles (a renewal, a 'distribute to all'): the profile's install date moves past the escrow file's on every Mac at once. Keywarden reads whom the escrow file is encrypted to: the same certificate, so the key is still staged. Nothing is flagged, nothing rotated."
show
sim event resend-profile
show
step "Escrow Buddy's GenerateNewKey was never written: $("$SIM" log "$mac" | grep -c '"defaults","write"' || true) write(s) in the simulator's call log."
step "Where profiles does not show the payload's certificate, only the dates are left: a warning (EscrowUnconfirmed), still no request."
sim set escrow.certificate_shown=false
show

scenario "The escrow certificate changes: the key is replaced and confirmed" \
  "The Mac moved to a new MDM (or the MDM replaced its escrow certificate): the escrow file is encrypted to the old certificate, which the MDM no longer holds. That is certain, so the key is replaced."
show
sim event resend-profile --certificate b
show
step "At the next login Escrow Buddy makes a key; macOS encrypts it to the new certificate, and Keywarden confirms it."
sim event logout
sim event login alice
show
run status

printf '\n%sThat was %d simulated Macs.%s Every call Keywarden made is in the simulator log (keywarden-sim log DIR); the audit trail is `keywarden audit`.\n' "$bold" "$n" "$off"
