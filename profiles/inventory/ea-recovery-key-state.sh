#!/bin/sh
# Jamf Pro computer extension attribute "Keywarden: Recovery key state".
#   Data type: String. Input type: Script.
#   Values: Staged, Used, Missing, NotEscrowed, Unused (EscrowOutsideMDM: escrow not checked),
#     Unknown. Staged: present, unused, and staged on
#     disk for the MDM to collect; Keywarden cannot see the MDM's copy, so pair this with Jamf
#     Pro's own individual recovery key validation. (Schema 1 called it Valid.)
#   Stale: the status is older than StaleAfterHours (Keywarden may not be running).
#   NotInstalled: Keywarden is not installed or has not written its status yet;
#   Unreadable: the status file exists but cannot be read (the reason goes to stderr).
#
# A thin wrapper around `keywarden ea RecoveryKey.State`, which reads
# /Library/Keywarden/status.plist in milliseconds and prints <result>VALUE</result>. It runs no
# macOS tool and needs no network.
#
# The binary is looked up at /Library/Keywarden/keywarden only, not through the /usr/local/bin
# link: Jamf runs extension attributes as root, and /usr/local/bin can be writable by a user
# (Homebrew on Intel Macs), so a user could swap the link for a program of their own.
#
# KEYWARDEN_BIN and KEYWARDEN_ROOT exist ONLY for Keywarden's own tests, which run this script on
# Linux against a simulated Mac (tests/profiles): KEYWARDEN_BIN replaces the binary's path and
# KEYWARDEN_ROOT is passed as `--root`. Jamf never sets them; do not set them in production.

key_path=RecoveryKey.State

bin=${KEYWARDEN_BIN:-/Library/Keywarden/keywarden}
if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
    echo "<result>NotInstalled</result>"
    exit 0
fi

if [ -n "${KEYWARDEN_ROOT:-}" ]; then
    exec "$bin" --root "$KEYWARDEN_ROOT" ea "$key_path"
fi
exec "$bin" ea "$key_path"
