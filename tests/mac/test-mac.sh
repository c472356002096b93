#!/usr/bin/env bash
# The automated part of testing Keywarden on a real Mac: `make test-mac` runs it, and so does the
# macOS job of .github/workflows/ci.yml, so a person on a test Mac runs exactly what CI runs.
# It owns these steps, in order, each printed as "=== step" (docs/testing-on-a-mac.md):
#
#   1. build     cargo build --release --bins --features oslog (native, os_log on)
#   2. test      make test (with CI unset: see below)
#   3. selftest  sudo keywarden selftest --bundle OUT/keywarden-bundle.tar.gz --redact-users
#   4. replay    keywarden-sim init --from-bundle that bundle, then keywarden --root DIR check
#   5. check     sudo keywarden check; the status read back with plutil -lint and defaults read
#   6. pkg       make pkg, unsigned (the signing variables are emptied)
#   7. install   sudo installer -pkg; launchctl print system/org.keywarden.daemon until the daemon
#                runs the installed binary, and a status the daemon wrote after the install
#   8. uninstall sudo /Library/Keywarden/uninstall.sh --purge; nothing of Keywarden is left
#
# It refuses (exit 2) off macOS, and on a Mac where Keywarden is already installed: step 8 purges
# the state and the audit trail, which a pilot Mac must keep. Exit 1 when a step failed. A failed
# `make test` and the selftest's own failure (an output it did not recognise) are kept until the
# end, so the bundle and every later step still run: on a first run on a new macOS those are what
# an issue needs. Any other step stops the run where it failed. The bundle is left in OUT
# (KEYWARDEN_TEST_MAC_OUT, default target/mac-test), owned by the user who ran this, for
# actions/upload-artifact or to attach to an issue.
#
# Why `make test` runs with CI unset here: under CI=true a test that cannot run fails
# (tests/support/mod.rs, `unavailable`), and some need what only the Linux CI has (root for the
# whole run, a tmpfs mount, plistutil). On a Mac those say "not run here"; .ci/run runs them.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(uname -s)" != Darwin ]; then
  echo "make test-mac runs on macOS only; this is $(uname -s). It builds, installs and uninstalls" >&2
  echo "Keywarden on this machine (docs/testing-on-a-mac.md). On Linux: make test, make ci." >&2
  exit 2
fi

LABEL=org.keywarden.daemon
PKG_ID=org.keywarden.pkg
STATUS=/Library/Keywarden/status.plist
# Everything the pkg and the daemon leave on a Mac (daemon/src/paths.rs, launchd/stage-pkg.sh),
# all gone after uninstall.sh --purge.
LEFTOVERS=(
  /Library/Keywarden
  /Library/LaunchDaemons/org.keywarden.daemon.plist
  /usr/local/bin/keywarden
  /var/db/keywarden
  /Library/Logs/Keywarden
)
out=${KEYWARDEN_TEST_MAC_OUT:-target/mac-test}
bundle=$out/keywarden-bundle.tar.gz
target=${CARGO_TARGET_DIR:-target}
kw=$target/release/keywarden
sim=$target/release/keywarden-sim
make=${MAKE:-make}

step() { printf '\n=== %s\n' "$*"; }
# Failures kept until the end (make test, selftest).
failed=()
fail() {
  echo "test-mac: FAILED: $*" >&2
  echo "test-mac: what was done so far stays as it is; to remove Keywarden: sudo /Library/Keywarden/uninstall.sh --purge" >&2
  exit 1
}
refuse() {
  echo "test-mac: $*" >&2
  exit 2
}
# The status plist's value at a key path (Daemon.NextCheckAt), as XML, or nothing.
status_value() { plutil -extract "$1" xml1 -o - "$STATUS" 2>/dev/null || true; }

for tool in cargo plutil defaults launchctl installer pkgutil sudo; do
  command -v "$tool" >/dev/null || refuse "$tool not found (cargo: https://rustup.rs; the rest: the Xcode command line tools, xcode-select --install)"
done
if pkgutil --pkg-info "$PKG_ID" >/dev/null 2>&1 || [ -e /Library/Keywarden ] || launchctl print "system/$LABEL" >/dev/null 2>&1; then
  refuse "Keywarden is installed on this Mac. This test installs it and then removes it with --purge (state and audit trail included): run it on a test Mac without Keywarden, or uninstall first (sudo /Library/Keywarden/uninstall.sh)."
fi
mkdir -p "$out"
echo "test-mac: macOS $(sw_vers -productVersion) ($(sw_vers -buildVersion)), $(uname -m); output in $out"

step "1. build: cargo build --release --bins --features oslog"
cargo build --release --bins --features oslog || fail "the native build"

step "2. test: make test (CI unset: what needs the Linux CI says 'not run here')"
env -u CI "$make" --no-print-directory test || {
  failed+=("make test (exit $?)")
  echo "test-mac: make test failed: continuing; the run fails at the end"
}

step "3. selftest: sudo keywarden selftest --bundle $bundle --redact-users"
rm -f "$bundle"
selftest_rc=0
sudo "$kw" selftest --bundle "$bundle" --redact-users || selftest_rc=$?
[ -f "$bundle" ] || fail "keywarden selftest (exit $selftest_rc) wrote no bundle at $bundle"
# Written by root; the upload (and the person attaching it to an issue) reads it as this user.
sudo chown "$(id -u):$(id -g)" "$bundle"
if [ "$selftest_rc" -ne 0 ]; then
  failed+=("keywarden selftest (exit $selftest_rc: an output it did not recognise; attach $bundle to an issue, docs/testing-on-a-mac.md)")
  echo "test-mac: keywarden selftest exited $selftest_rc: continuing; the run fails at the end"
fi

step "4. replay: keywarden-sim init --from-bundle, then keywarden --root DIR check"
replay=$(mktemp -d "${TMPDIR:-/tmp}/keywarden-replay.XXXXXX")
"$sim" init --from-bundle "$bundle" "$replay/mac" || fail "keywarden-sim init --from-bundle $bundle"
rc=0
"$kw" --root "$replay/mac" check || rc=$?
# 0: healthy; 1: a status written with problems (a CI runner has FileVault off); 2: fatal.
[ "$rc" -le 1 ] || fail "keywarden --root (the replayed bundle) check exited $rc"
rm -rf "$replay"

step "5. check: sudo keywarden check, the status read back"
started=$(date +%s)
rc=0
sudo "$kw" check || rc=$?
[ "$rc" -le 1 ] || fail "sudo keywarden check exited $rc"
plutil -lint "$STATUS" || fail "plutil -lint $STATUS"
# defaults takes a plist by its path without the extension.
defaults read "${STATUS%.plist}" SchemaVersion || fail "defaults read ${STATUS%.plist} SchemaVersion"
defaults read "${STATUS%.plist}" Healthy || fail "defaults read ${STATUS%.plist} Healthy"
[ "$(stat -f %m "$STATUS")" -ge "$started" ] || fail "$STATUS is older than this check"

step "6. pkg: make pkg, unsigned"
"$make" --no-print-directory pkg DEVELOPER_ID_APPLICATION= DEVELOPER_ID_INSTALLER= NOTARY_PROFILE= || fail "make pkg"
# The Makefile's VERSION, read the same way.
version=$(sed -n 's/^version = "\([^"]*\)"$/\1/p' Cargo.toml | head -n 1)
pkg=target/pkg/Keywarden-$version.pkg
[ -f "$pkg" ] || fail "make pkg left no $pkg"
pkgutil --payload-files "$pkg" | sed 's/^/  payload: /'

step "7. install: sudo installer -pkg $pkg -target /"
installed_at=$(date +%s)
sudo installer -pkg "$pkg" -target / || fail "installer -pkg $pkg"
pkgutil --pkg-info "$PKG_ID" || fail "no receipt $PKG_ID after the install"
running=false
for _ in $(seq 1 60); do
  if job=$(sudo launchctl print "system/$LABEL" 2>/dev/null) && grep -q 'state = running' <<<"$job"; then
    running=true
    break
  fi
  sleep 1
done
$running || fail "launchctl print system/$LABEL: not running 60 s after the install"
grep -E '^[[:space:]]*(program|state|pid) = ' <<<"$job" | sed 's/^[[:space:]]*/  /'
grep -q 'program = /Library/Keywarden/keywarden' <<<"$job" || fail "the daemon does not run /Library/Keywarden/keywarden"
# A status the daemon wrote: newer than the install, with Daemon.NextCheckAt (a one-off
# `keywarden check` leaves it out: docs/status.md).
fresh=false
for _ in $(seq 1 90); do
  if [ -f "$STATUS" ] && [ "$(stat -f %m "$STATUS")" -ge "$installed_at" ] && status_value Daemon.NextCheckAt | grep -q '<date>'; then
    fresh=true
    break
  fi
  sleep 1
done
$fresh || fail "no status written by the daemon within 90 s of the install ($STATUS)"
plutil -lint "$STATUS" || fail "plutil -lint $STATUS (written by the daemon)"
echo "  Daemon.NextCheckAt: $(status_value Daemon.NextCheckAt | sed -n 's:.*<date>\(.*\)</date>.*:\1:p')"

step "8. uninstall: sudo /Library/Keywarden/uninstall.sh --purge; nothing left"
sudo /Library/Keywarden/uninstall.sh --purge || fail "uninstall.sh --purge"
left=()
if sudo launchctl print "system/$LABEL" >/dev/null 2>&1; then
  left+=("the launchd job system/$LABEL")
fi
if pkgutil --pkg-info "$PKG_ID" >/dev/null 2>&1; then
  left+=("the receipt $PKG_ID")
fi
for path in "${LEFTOVERS[@]}"; do
  if [ -e "$path" ] || [ -L "$path" ]; then
    left+=("$path")
  fi
done
[ ${#left[@]} -eq 0 ] || fail "left after uninstall: ${left[*]}"
echo "  nothing left: no job, no receipt, none of ${LEFTOVERS[*]}"

if [ ${#failed[@]} -gt 0 ]; then
  printf 'test-mac: FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
printf '\ntest-mac: passed; the bundle is %s\n' "$bundle"
