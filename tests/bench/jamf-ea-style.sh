#!/usr/bin/env bash
# The baseline for `make bench` (docs/BENCHMARKS.md): the facts one Keywarden check gathers,
# gathered the way common Jamf extension attributes do it: one command after another, each tool
# run live at every inventory update, its output picked apart with grep/awk.
#
# Usage: jamf-ea-style.sh [DIR]
#   DIR: a simulated Mac (keywarden-sim init DIR); every tool is run as DIR/usr/bin/NAME or
#   DIR/usr/sbin/NAME. Without DIR the real tools of this Mac are run.
#
# The argv list is exactly the one a first `keywarden check` runs (same arguments, same order of
# waves), with no concurrency: 14 independent calls, `fdesetup usingrecoverykey` (and
# `showdeferralinfo` when FileVault says it is deferred), then `sysadminctl -secureTokenStatus` per
# local user with a UID of 501 or more. tests/bench/bench.py checks that the two call logs hold the
# same calls. Prints one <result>...</result> line per fact, as EAs do.
set -uo pipefail
root=${1:-}
bin=$root/usr/bin
sbin=$root/usr/sbin
result() { printf '<result>%s: %s</result>\n' "$1" "$2"; }

result OSVersion "$("$bin/sw_vers" -productVersion)"
result OSBuild "$("$bin/sw_vers" -buildVersion)"
result AppleSilicon "$("$sbin/sysctl" -n hw.optional.arm64 2>/dev/null || echo 0)"
result BootSession "$("$sbin/sysctl" -n kern.bootsessionuuid)"

status=$("$bin/fdesetup" status)
result FileVault "$(printf '%s\n' "$status" | head -n 1)"
result PersonalRecoveryKey "$("$bin/fdesetup" haspersonalrecoverykey)"
result InstitutionalRecoveryKey "$("$bin/fdesetup" hasinstitutionalrecoverykey)"
result CryptoUsers "$("$sbin/diskutil" apfs listCryptoUsers / -plist | grep -c '<key>APFSCryptoUserUUID</key>')"

# Local users: RecordName and UniqueID out of the plist dscl prints, one "NAME UID" per record.
users=$("$bin/dscl" -plist . -readall /Users RecordName UniqueID GeneratedUID RealName IsHidden \
    AuthenticationAuthority | awk '
  /<key>/ { key = $0; gsub(/.*<key>|<\/key>.*/, "", key); first = 1; next }
  /<string>/ && first {
    v = $0; gsub(/.*<string>|<\/string>.*/, "", v); first = 0
    if (key == "dsAttrTypeStandard:RecordName") name = v
    if (key == "dsAttrTypeStandard:UniqueID") uid = v
  }
  /<\/dict>/ { if (name != "") print name, uid; name = ""; uid = "" }')
result LocalUsers "$(printf '%s\n' "$users" | awk '$2 >= 501 && $1 !~ /^_/ {print $1}' | paste -sd, -)"
result Admins "$("$bin/dscl" -plist . -read /Groups/admin GroupMembership | grep -c '<string>')"

result BootstrapToken "$("$bin/profiles" status -type bootstraptoken | tr '\n' ' ')"
if "$bin/profiles" -C -o stdout-xml | grep -q 'com.apple.security.FDERecoveryKeyEscrow'; then
  result EscrowProfile Installed
else
  result EscrowProfile Missing
fi
if [ -d "$root/Library/Security/SecurityAgentPlugins/Escrow Buddy.bundle" ]; then
  if "$bin/security" authorizationdb read system.login.console 2>/dev/null | grep -q 'Escrow Buddy:Invoke,privileged'; then
    result EscrowBuddy Registered
  else
    result EscrowBuddy NotRegistered
  fi
  result GenerateNewKey "$("$bin/defaults" read /Library/Preferences/com.netflix.Escrow-Buddy GenerateNewKey 2>/dev/null || echo unset)"
fi

# What depends on the answers above.
result RecoveryKeyUsed "$("$bin/fdesetup" usingrecoverykey 2>&1)"
if printf '%s\n' "$status" | grep -q 'Deferred'; then
  result Deferral "$("$bin/fdesetup" showdeferralinfo | tr '\n' ' ')"
fi
while read -r name uid; do
  if [ -z "$name" ] || [[ $name == _* ]] || ! [ "$uid" -ge 501 ] 2>/dev/null; then continue; fi
  # stdin from /dev/null: the loop reads the user list on its stdin.
  token=$("$sbin/sysadminctl" -secureTokenStatus "$name" 2>&1 </dev/null)
  case $token in
    *ENABLED*) result "SecureToken $name" Enabled ;;
    *DISABLED*) result "SecureToken $name" Disabled ;;
    *) result "SecureToken $name" Unknown ;;
  esac
done <<< "$users"
if [ -f "$root/var/db/FileVaultPRK.dat" ]; then result EscrowFile Present; else result EscrowFile Missing; fi
