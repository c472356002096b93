#!/bin/sh
# Lays out what `make pkg` hands to pkgbuild and productbuild, on macOS or Linux (no Apple tool):
#
#   launchd/stage-pkg.sh BINARY OUT_DIR VERSION      (`make pkg-stage` runs it)
#
#   OUT_DIR/stage/             the payload root (pkgbuild --root): every mode set here; owners
#                              root:wheel when run as root, else the caller's
#   OUT_DIR/scripts/           preinstall, postinstall (pkgbuild --scripts)
#   OUT_DIR/payload.txt        "mode owner:group path" for every payload entry: what
#                              `pkgbuild --ownership recommended` installs (root:wheel everywhere)
#   OUT_DIR/distribution.xml   the product archive's distribution (productbuild --distribution)
#
# BINARY is copied as it is: `make pkg` passes the signed universal binary, the tests their Linux
# build. Paths are tested against daemon/src/paths.rs and the launchd plist (tests/deployment).
set -eu

if [ $# -ne 3 ]; then
	echo "usage: $0 BINARY OUT_DIR VERSION" >&2
	exit 2
fi
binary=$1
out=$2
version=$3
here=$(cd "$(dirname "$0")" && pwd)
label=org.keywarden.daemon
pkg_id=org.keywarden.pkg

fail() {
	echo "stage-pkg: error: $*" >&2
	exit 1
}
if [ ! -f "$binary" ] || [ ! -x "$binary" ]; then
	fail "$binary is not an executable file (build it first, or BINARY=path)"
fi
# The version goes into XML and the pkg receipt: digits, letters, dots, dashes, plus.
case $version in
'' | *[!0-9A-Za-z.+-]*) fail "version '$version' is not of the form 1.2.3" ;;
esac

umask 022
mkdir -p "$out"
stage=$out/stage
scripts=$out/scripts
manifest=$out/payload.txt
rm -rf "$stage" "$scripts"
mkdir -p "$stage" "$scripts"
: >"$manifest.tmp"

owned() {
	# Numeric: group 0 is wheel on macOS (root on Linux, which has no wheel).
	if [ "$(id -u)" = 0 ]; then
		chown -h 0:0 "$1"
	fi
}
# entry_dir MODE PATH / entry_file MODE PATH SOURCE: one payload entry, listed in the manifest.
entry_dir() {
	mkdir -p "$stage$2"
	chmod "$1" "$stage$2"
	owned "$stage$2"
	echo "$1 root:wheel $2" >>"$manifest.tmp"
}
entry_file() {
	cp "$3" "$stage$2"
	chmod "$1" "$stage$2"
	owned "$stage$2"
	echo "$1 root:wheel $2" >>"$manifest.tmp"
}

# The stage itself is "/" in the package's bill of materials, and the parents that exist on every
# Mac carry the modes they have there (root:wheel 0755), so the bill agrees with the Mac.
entry_dir 0755 /
entry_dir 0755 /Library
entry_dir 0755 /Library/Keywarden
entry_file 0755 /Library/Keywarden/keywarden "$binary"
entry_file 0755 /Library/Keywarden/uninstall.sh "$here/pkg-scripts/uninstall.sh"
entry_dir 0755 /Library/LaunchDaemons
entry_file 0644 "/Library/LaunchDaemons/$label.plist" "$here/$label.plist"
entry_dir 0755 /Library/Logs
entry_dir 0755 /Library/Logs/Keywarden
# Not in the payload: /usr/local/bin/keywarden (postinstall links it, so an existing file there is
# never overwritten), status.plist and /var/db/keywarden (the daemon writes them).
mv "$manifest.tmp" "$manifest"

for s in preinstall postinstall; do
	cp "$here/pkg-scripts/$s" "$scripts/$s"
	chmod 0755 "$scripts/$s"
	owned "$scripts/$s"
done

# hostArchitectures lists both: without arm64 Installer asks Apple silicon Macs to install Rosetta.
# Only the booted system: the scripts act on "/" only. macOS 12 is the oldest Keywarden supports
# (the binary's minos, checked by .ci/macho-check.py).
cat >"$out/distribution.xml" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<installer-gui-script minSpecVersion="2">
    <title>Keywarden $version</title>
    <organization>org.keywarden</organization>
    <domains enable_localSystem="true" enable_anywhere="false" enable_currentUserHome="false"/>
    <options customize="never" require-scripts="true" hostArchitectures="x86_64,arm64"/>
    <volume-check>
        <allowed-os-versions>
            <os-version min="12.0"/>
        </allowed-os-versions>
    </volume-check>
    <choices-outline>
        <line choice="default">
            <line choice="$pkg_id"/>
        </line>
    </choices-outline>
    <choice id="default"/>
    <choice id="$pkg_id" visible="false">
        <pkg-ref id="$pkg_id"/>
    </choice>
    <pkg-ref id="$pkg_id" version="$version" onConclusion="none">keywarden-component.pkg</pkg-ref>
</installer-gui-script>
EOF

echo "staged $out/stage ($(wc -l <"$manifest" | tr -d ' ') entries, $manifest), $out/scripts, $out/distribution.xml"
