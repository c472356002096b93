#!/bin/sh
# Uninstall Keywarden from this Mac: sudo /Library/Keywarden/uninstall.sh [--purge]
#
# Shipped in the pkg as /Library/Keywarden/uninstall.sh; `make uninstall` runs this copy. In order:
#   1. stop the daemon (launchctl bootout), so nothing sets Escrow Buddy's flag behind our back;
#   2. withdraw Escrow Buddy's GenerateNewKey only if Keywarden set it (its state says so); a flag
#      set by anyone else is left as it is;
#   3. remove the LaunchDaemon plist, the /usr/local/bin symlink (only if it points to Keywarden)
#      and /Library/Keywarden (binary, status, this script);
#   4. keep /var/db/keywarden (state and audit trail) and /Library/Logs/Keywarden unless --purge;
#   5. forget the pkg receipt (pkgutil --forget).
# It prints one line per thing it did. It stops before removing anything if it cannot withdraw a
# flag Keywarden set, so running it again retries (the state that says the flag is ours is kept).
#
# KEYWARDEN_ROOT=DIR (default /) prefixes every path with DIR, so the tests run it against a
# simulated Mac on Linux (tests/deployment): launchctl and pkgutil are skipped with a note, and
# `defaults` is DIR/usr/bin/defaults (the simulator's). Names are tested against
# daemon/src/paths.rs.
set -eu

LABEL=org.keywarden.daemon
PKG_ID=org.keywarden.pkg
BINARY=/Library/Keywarden/keywarden
BINARY_LINK=/usr/local/bin/keywarden
STATUS_DIR=/Library/Keywarden
PLIST=/Library/LaunchDaemons/org.keywarden.daemon.plist
STATE_DIR=/var/db/keywarden
STATE=/var/db/keywarden/state.plist
LOG_DIR=/Library/Logs/Keywarden
DEFAULTS=/usr/bin/defaults
ESCROW_BUDDY_DOMAIN=/Library/Preferences/com.netflix.Escrow-Buddy
KEYWARDEN_ROOT=${KEYWARDEN_ROOT:-/}

say() { echo "keywarden uninstall: $*"; }
fail() {
	echo "keywarden uninstall: error: $*" >&2
	exit 1
}
usage() {
	echo "usage: sudo $0 [--purge]"
	echo "  removes Keywarden; keeps $STATE_DIR (state, audit trail) and $LOG_DIR unless --purge"
}
# A path on the Mac, under KEYWARDEN_ROOT.
at() {
	if [ "$KEYWARDEN_ROOT" = "/" ]; then
		printf '%s' "$1"
	else
		printf '%s%s' "${KEYWARDEN_ROOT%/}" "$1"
	fi
}
simulated() { [ "$KEYWARDEN_ROOT" != "/" ]; }
skipped() { say "KEYWARDEN_ROOT=$KEYWARDEN_ROOT: skipped: $*"; }

purge=false
for arg in "$@"; do
	case $arg in
	--purge) purge=true ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		usage >&2
		exit 2
		;;
	esac
done

[ "$(id -u)" = 0 ] || fail "must run as root: sudo $0${1:+ $*}"
case $KEYWARDEN_ROOT in
/*) [ -d "$KEYWARDEN_ROOT" ] || fail "KEYWARDEN_ROOT=$KEYWARDEN_ROOT is not a directory" ;;
*) fail "KEYWARDEN_ROOT must be an absolute path, not '$KEYWARDEN_ROOT'" ;;
esac

# 1. Stop the daemon.
if simulated; then
	skipped "launchctl bootout system/$LABEL"
elif launchctl print "system/$LABEL" >/dev/null 2>&1; then
	if launchctl bootout "system/$LABEL"; then
		say "stopped $LABEL"
	else
		say "warning: launchctl bootout system/$LABEL exited $?; continuing"
	fi
else
	say "$LABEL was not loaded"
fi

# 2. Escrow Buddy's flag. The state has the key FlagSetAt (a date) exactly while Keywarden has set
# GenerateNewKey and not yet seen it consumed (daemon/src/state/parts.rs FlagOwnership, written as
# FlagSetAt by state/wire.rs). It is read with grep, not PlistBuddy or plutil, so the same code
# runs on a Mac and on the Linux test machines,
# which have neither: Keywarden always writes its state as an XML plist (state::save writes with
# plist::to_writer_xml), and XML escapes "<" inside string values, so the literal text
# <key>FlagSetAt</key> can only be that key. A state that is not XML was not written by Keywarden:
# then it cannot tell, and says so instead of touching a flag that may not be ours.
state=$(at "$STATE")
flag_ours=false
if [ ! -f "$state" ]; then
	say "no Keywarden state ($STATE): Keywarden never set Escrow Buddy's GenerateNewKey"
elif ! grep -q '<plist' "$state"; then
	say "warning: $STATE is not an XML plist: cannot tell whether Keywarden set Escrow Buddy's GenerateNewKey; left as it is (check with: $DEFAULTS read $ESCROW_BUDDY_DOMAIN GenerateNewKey)"
elif grep -q '<key>FlagSetAt</key>' "$state"; then
	flag_ours=true
else
	say "Keywarden had not set Escrow Buddy's GenerateNewKey: left as it is"
fi
if $flag_ours; then
	set_at=$(tr -d ' \t\r\n' <"$state" | sed -n 's:.*<key>FlagSetAt</key><date>\([^<]*\)</date>.*:\1:p')
	defaults=$(at "$DEFAULTS")
	[ -x "$defaults" ] || fail "cannot run $DEFAULTS to withdraw Escrow Buddy's GenerateNewKey, which Keywarden set. The daemon is stopped and nothing was removed"
	# Through defaults (cfprefsd caches preferences), never by editing the file (PLATFORM.md).
	# "does not exist" is fine: Escrow Buddy or an admin removed it meanwhile. Read back as the
	# daemon does (act.rs, withdraw_flag): only a flag still true afterwards is a failure.
	if out=$("$defaults" delete "$ESCROW_BUDDY_DOMAIN" GenerateNewKey 2>&1); then
		deleted=true
	else
		deleted=false
	fi
	now=$("$defaults" read "$ESCROW_BUDDY_DOMAIN" GenerateNewKey 2>/dev/null || true)
	case $now in
	1 | true | YES)
		fail "could not withdraw Escrow Buddy's GenerateNewKey, which Keywarden set at ${set_at:-an unknown time}: $out. The daemon is stopped and nothing was removed: fix that and run this again"
		;;
	esac
	if $deleted; then
		say "withdrew Escrow Buddy's GenerateNewKey, set by Keywarden at ${set_at:-an unknown time} ($DEFAULTS delete $ESCROW_BUDDY_DOMAIN GenerateNewKey)"
	else
		say "Escrow Buddy's GenerateNewKey, set by Keywarden at ${set_at:-an unknown time}, was already gone"
	fi
fi

# 3. The program.
remove() {
	if [ -e "$(at "$1")" ] || [ -L "$(at "$1")" ]; then
		rm -rf "$(at "$1")"
		say "removed $1"
	fi
}
remove "$PLIST"
link=$(at "$BINARY_LINK")
if [ -L "$link" ]; then
	target=$(readlink "$link" || true)
	if [ "$target" = "$BINARY" ]; then
		rm -f "$link"
		say "removed $BINARY_LINK"
	else
		say "left $BINARY_LINK: it points to $target, not Keywarden"
	fi
elif [ -e "$link" ]; then
	say "left $BINARY_LINK: it is not a symlink to Keywarden"
fi
remove "$STATUS_DIR"

# 4. State, audit trail and logs.
if $purge; then
	remove "$STATE_DIR"
	remove "$LOG_DIR"
else
	for kept in "$STATE_DIR" "$LOG_DIR"; do
		if [ -e "$(at "$kept")" ]; then
			say "kept $kept (--purge removes it)"
		fi
	done
fi

# 5. The receipt (absent after `make install`, which writes none).
if simulated; then
	skipped "pkgutil --forget $PKG_ID"
elif pkgutil --pkg-info "$PKG_ID" >/dev/null 2>&1; then
	pkgutil --forget "$PKG_ID" >/dev/null
	say "forgot the package receipt $PKG_ID"
fi
say "done"
