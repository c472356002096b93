#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/.

The seeds are made at run time from the project's own samples, so they never drift from them:
every real and hand-written tool output in tests/fixtures/{corpus,handwritten} (with the stream
and exit code that tests/corpus/*.rs gives each file), the golden status plists in
tests/golden, the example configuration profile in profiles/, and for the formats that have no
sample file (state, audit trail, failed-key store, recovery keys) small documents written below
from the formats as daemon/src documents them. Seed files are named by content hash, as
libFuzzer names the inputs it adds, so re-running this is idempotent and never removes what
fuzzing found.

Usage: tests/fuzz/seed.py   (from anywhere; `make fuzz` runs it)
"""

import hashlib
import json
import plistlib
import re
import struct
import sys
from datetime import datetime
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
TOP = FUZZ.parent.parent
FIXTURES = TOP / "tests" / "fixtures"
CORPUS = FUZZ / "corpus"

# Fixture directory -> (target, parser selector byte or None).
TOOL_DIRS = {
    "defaults-read": ("tool_defaults", 0),
    "defaults-write": ("tool_defaults", 1),
    "defaults-delete": ("tool_defaults", 2),
    "diskutil-apfs-listcryptousers": ("tool_diskutil", None),
    "diskutil-apfs-listusers": ("tool_diskutil", None),
    "dscl-readall-users-plist": ("tool_dscl", 0),
    "dscl-read-group-admin-plist": ("tool_dscl", 1),
    "dscl-read-authenticationauthority": ("tool_dscl", 2),
    "fdesetup-status": ("tool_fdesetup", 0),
    "fdesetup-showdeferralinfo": ("tool_fdesetup", 1),
    "fdesetup-haspersonalrecoverykey": ("tool_fdesetup", 2),
    "fdesetup-hasinstitutionalrecoverykey": ("tool_fdesetup", 2),
    "fdesetup-isactive": ("tool_fdesetup", 2),
    "fdesetup-supportsauthrestart": ("tool_fdesetup", 2),
    "fdesetup-usingrecoverykey": ("tool_fdesetup", 3),
    "fdesetup-validaterecovery": ("tool_fdesetup_secret", 0),
    "fdesetup-changerecovery": ("tool_fdesetup_secret", 1),
    "profiles-status-bootstraptoken": ("tool_profiles", 0),
    "profiles-computer-xml": ("tool_profiles", 1),
    "security-authorizationdb-read": ("tool_security", None),
    "sw_vers-productversion": ("tool_sw_vers", 0),
    "sw_vers-buildversion": ("tool_sw_vers", 1),
    "sysadminctl-securetokenstatus": ("tool_sysadminctl", None),
    "sysadminctl-errors": ("tool_sysadminctl", None),
    "sysadminctl-usage": ("tool_sysadminctl", None),
    "sysctl-bootsessionuuid": ("tool_sysctl", 0),
    "sysctl-arm64": ("tool_sysctl", 1),
}

written = {}


def put(target, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    f = d / hashlib.sha1(data).hexdigest()
    if not f.exists():
        f.write_bytes(data)
    written[target] = written.get(target, 0) + 1


def output(stream, exit_code, data):
    """The layout of tests/fuzz/src/lib.rs: flags, code, stdout length, stdout, stderr."""
    flags, code = 0, exit_code
    if exit_code < 0:
        flags, code = 2, -exit_code
    code &= 0xFF
    if stream == "stdout":
        data = data[:0xFFFF]
        return bytes([flags, code]) + struct.pack(">H", len(data)) + data
    return bytes([flags, code, 0, 0]) + data


def case_table():
    """(file under tests/fixtures, as the Case tables name it) -> (stream, exit)."""
    cases = {}
    pattern = re.compile(
        r'file:\s*"([^"]+)"\s*,\s*stream:\s*Stream::(Stdout|Stderr)\s*,\s*exit:\s*(-?\d+)'
    )
    for rs in sorted((TOP / "tests" / "corpus").glob("*.rs")):
        for m in pattern.finditer(rs.read_text()):
            cases[m.group(1)] = (m.group(2).lower(), int(m.group(3)))
    return cases


def tool_seeds():
    cases = case_table()
    if not cases:
        sys.exit("seed.py: no Case found in tests/corpus/*.rs: has its layout changed?")
    known = 0
    for tree, prefix in [(FIXTURES / "corpus", ""), (FIXTURES / "handwritten", "handwritten/")]:
        for d in sorted(p for p in tree.iterdir() if p.is_dir()):
            if d.name not in TOOL_DIRS:
                continue
            target, selector = TOOL_DIRS[d.name]
            head = b"" if selector is None else bytes([selector])
            for f in sorted(d.iterdir()):
                data = f.read_bytes()
                name = f"{prefix}{d.name}/{f.name}"
                if name in cases:
                    known += 1
                    variants = [cases[name]]
                else:
                    # Not in a Case table: both streams, a success and a failure.
                    variants = [("stdout", 0), ("stderr", 1)]
                for stream, code in variants:
                    body = output(stream, code, data)
                    if target == "tool_fdesetup_secret":
                        # [parser] [plant: none] ..., and the same with a key planted.
                        put(target, head + b"\x00" + body)
                        put(target, head + b"\x01" + body)
                    else:
                        put(target, head + body)
    if known == 0:
        sys.exit("seed.py: no fixture matched a Case of tests/corpus/*.rs")


def golden_status():
    """tests/golden/*.plist: status files; also as binary plists."""
    # The golden files are dated 2000-01-01: a 2026 "now" reads them stale (the fuzzer varies it).
    now = fuzz_now(datetime(2026, 11, 22, 12, 0))
    for f in sorted((TOP / "tests" / "golden").glob("*.plist")):
        xml = f.read_bytes()
        binary = plistlib.dumps(plistlib.loads(xml), fmt=plistlib.FMT_BINARY)
        for doc in (xml, binary):
            put("status_read", now + struct.pack(">H", 48) + doc)
            for path in ("Healthy", "RecoveryKey.State", "SecureToken.Users.0.Name",
                         "Daemon.ConfigWarnings", "GeneratedAt", "FileVault"):
                p = path.encode()
                put("report_ea_value", now + bytes([48, len(p)]) + p + doc)


def config_seeds():
    """profiles/org.keywarden.mobileconfig's payload as managed and local preferences."""
    profile = plistlib.loads((TOP / "profiles" / "org.keywarden.mobileconfig").read_bytes())
    payloads = [p for p in profile.get("PayloadContent", []) if p.get("PayloadType") == "org.keywarden"]
    if not payloads:
        sys.exit("seed.py: profiles/org.keywarden.mobileconfig has no org.keywarden payload")
    prefs = payloads[0]
    xml = plistlib.dumps(prefs)
    binary = plistlib.dumps(prefs, fmt=plistlib.FMT_BINARY)
    local = plistlib.dumps({"LogLevel": "debug", "ExpectedSecureTokenAdmins": ["itadmin"],
                            "RotationMethods": ["Command", "MDM"],
                            "RotationCommand": ["/usr/local/bin/rotate", "--now"]})
    for flags, managed, loc in [(1, xml, b""), (3, xml, local), (2, b"", local), (10, b"", local),
                                (1, binary, b""), (7, binary, local), (3, b"garbage", local)]:
        put("config_load", bytes([flags]) + struct.pack(">H", len(managed)) + managed + loc)


def fuzz_now(when):
    """`now` as tests/fuzz/src/lib.rs reads it: 4 bytes, seconds since 2000-01-01 UTC."""
    return struct.pack(">I", int((when - datetime(2000, 1, 1)).total_seconds()))


def date(s):
    # Naive: plistlib writes it as UTC.
    return datetime.fromisoformat(s)


def state_seeds():
    """daemon/src/state.rs `State` (PascalCase, dates as <date>, `Rotation` tagged by State)."""
    t = date("2026-11-22T10:00:00")
    full = {
        "Version": 1,
        "Boot": {"SessionUUID": "3F2504E0-4F89-41D3-9A0C-0305E82C3301", "FirstSeenAt": t,
                 "KeyUse": "Used", "ConsoleUserSeen": True, "ForeignFlagReported": False},
        "LastConsoleUser": "alice",
        "KeyLastUsedAt": t,
        "DeferralOutputPath": "/var/db/ConfigurationProfiles/fdesetup.plist",
        "NextCheckAt": t,
        "Rotation": {"State": "Requested", "Reason": "KeyUsed", "Since": t, "Method": "EscrowBuddy",
                     "At": t, "FirstAt": t, "Attempts": 1,
                     "EscrowBefore": {"ModifiedAt": t, "SHA256": "ab"},
                     "LastError": "Escrow Buddy ran at login but no new escrow file appeared",
                     "LoginsBefore": 2},
        "EscrowSeen": {"ModifiedAt": t, "SHA256": "cd"},
        "KeyLastChangedAt": t,
        "KeyMissingStreak": 1,
        "LastRotationRequestID": "req-1",
        "AdminRequestAt": t,
        "LastLoginAt": t,
        "LoginCount": 3,
        "FlagSetAt": t,
        "LastValidatedAt": t,
        "LastValidation": "Invalid",
        "ConsoleNow": "alice",
        "Outbox": [{"Id": 0, "Effect": "SetFlag"},
                   {"Id": 1, "Effect": {"Audit": ["RotationRequested", "KeyUsed via EscrowBuddy"]}}],
        "NextEffectId": 2,
        "LastRotatedAt": t,
    }
    docs = [
        {"Version": 1},
        full,
        dict(full, Rotation={"State": "Pending", "Reason": "AdminRequest", "Since": t, "Waiting": "report mode"}),
        dict(full, Rotation={"State": "Confirmed", "Reason": "NotEscrowed", "At": t}),
        dict(full, Rotation={"State": "Failed", "Reason": "MaxAgeReached", "Since": t, "Method": "MDM",
                             "FirstAt": t, "Attempts": 3, "LastError": "no MDM payload"}),
        {"Version": 2},
    ]
    for d in docs:
        put("state_parse", plistlib.dumps(d))
        put("state_parse", plistlib.dumps(d, fmt=plistlib.FMT_BINARY))


def audit_seeds():
    """daemon/src/audit.rs `Event` lines (JSON, PascalCase, RFC 3339 times)."""
    def ev(at, what, result, **kw):
        e = {"At": at, "What": what, "Result": result, "ConsoleUser": None, "Caller": "daemon",
             "Detail": None}
        e.update(kw)
        return json.dumps(e, separators=(",", ":"))
    lines = [
        ev("2026-11-20T10:00:00Z", "Carried", "Rotated",
           Carried={"Validations": 4, "Failures": 2, "Recent": ["2026-11-19T10:00:00Z"],
                    "Pending": "2026-11-19T11:00:00Z", "DroppedLines": 120, "UnreadableLines": 1,
                    "Since": "2025-01-01T00:00:00Z"}),
        ev("2026-11-21T09:00:00Z", "ValidationStarted", "Started", ConsoleUser="alice", Caller="bob"),
        ev("2026-11-21T09:00:05Z", "Validated", "Invalid", Detail="fdesetup said false"),
        ev("2026-11-21T09:10:00Z", "ValidationStarted", "Started"),
        ev("2026-11-21T09:10:02Z", "Validated", "Valid"),
        ev("2026-11-21T10:00:00Z", "RotateWithKeyStarted", "Started"),
        ev("2026-11-21T10:00:03Z", "RotatedWithKey", "Failed: AuthenticationFailed"),
        ev("2026-11-21T11:00:00Z", "UseDetected", "KeyUsed", Id=7),
        ev("2026-11-21T11:00:01Z", "RotationRequested", "KeyUsed via EscrowBuddy", Id=8),
        ev("2026-11-21T12:00:00Z", "ValidationRefused", "DailyCap"),
        '{"At":"2026-11-21T12:00:00Z","What":"SomethingNew"}',
        '{"torn":',
    ]
    now = fuzz_now(datetime(2026, 11, 21, 12, 30))
    put("audit_parse", now + ("\n".join(lines) + "\n").encode())
    for line in lines:
        put("audit_parse", now + line.encode() + b"\n")
    # audit_rotate: [what] [at] [the oldest lines]; `at` a day after the last line.
    at = fuzz_now(datetime(2026, 11, 22, 9, 5))
    for what in range(4):
        put("audit_rotate", bytes([what]) + at + ("\n".join(lines[:-2]) + "\n").encode())
    put("audit_rotate", bytes([1]) + at + (lines[1] + "\n").encode())


def failed_keys_seeds():
    """daemon/src/failed_keys.rs: Version 1, Salt (32 bytes), FailedKeys (32-byte items)."""
    salt = hashlib.sha256(b"salt").digest()
    for n in (0, 1, 3):
        store = {"Version": 1, "Salt": salt,
                 "FailedKeys": [hashlib.sha256(bytes([i])).digest() for i in range(n)]}
        put("failed_keys_load", plistlib.dumps(store))
        put("failed_keys_load", plistlib.dumps(store, fmt=plistlib.FMT_BINARY))
    put("failed_keys_load", plistlib.dumps({"Version": 1, "Salt": salt[:31], "FailedKeys": []}))


def recovery_key_seeds():
    for k in [b"DLEV-ZYT9-ODLA-PVML-66DV-HZ8R", b"dlev-zyt9-odla-pvml-66dv-hz8r",
              b"  DLEV-ZYT9-ODLA-PVML-66DV-HZ8R\n", b"DLEVZYT9ODLAPVML66DVHZ8R",
              b"DLEV-ZYT9", b"DLEVZ-YT9-ODLA-PVML-66DV-HZ8R", b"a<b&c>'\"", b""]:
        put("recovery_key", k)


def tlv(tag, body):
    """One DER element: tag byte, definite length, body."""
    n = len(body)
    if n < 0x80:
        length = bytes([n])
    else:
        digits = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(digits)]) + digits
    return bytes([tag]) + length + body


def children(der):
    """The elements inside a DER element (definite lengths only: certificates are DER)."""
    n, i = der[1], 2
    if n & 0x80:
        i = 2 + (n & 0x7F)
    out, end = [], len(der)
    while i < end:
        start = i
        n = der[i + 1]
        j = i + 2
        if n & 0x80:
            k = n & 0x7F
            n = int.from_bytes(der[j:j + k], "big")
            j += k
        out.append(der[start:j + n])
        i = j + n
    return out


def indefinite(der):
    """`der` with every constructed element in indefinite-length form, as an NSS-style encoder
    writes BER."""
    if not der[0] & 0x20:
        return der
    return bytes([der[0], 0x80]) + b"".join(indefinite(c) for c in children(der)) + b"\x00\x00"


def oid(dotted):
    parts = [int(p) for p in dotted.split(".")]
    body = bytes([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        enc = [p & 0x7F]
        p >>= 7
        while p:
            enc.append(0x80 | (p & 0x7F))
            p >>= 7
        body += bytes(reversed(enc))
    return tlv(0x06, body)


def envelope(certs):
    """A DER ContentInfo holding EnvelopedData to each certificate of `certs` (issuer and
    serial), the way tests/simulator/blob.rs writes it; filler bytes for the encrypted parts."""
    infos = []
    for cert in certs:
        tbs = children(children(cert)[0])
        # TBSCertificate: [0] version, serialNumber, signature, issuer, ...
        serial, issuer = tbs[1], tbs[3]
        infos.append(tlv(0x30, tlv(0x02, b"\x00") + tlv(0x30, issuer + serial)
                         + tlv(0x30, oid("1.2.840.113549.1.1.1") + b"\x05\x00")
                         + tlv(0x04, bytes(256))))
    infos.sort()
    eci = tlv(0x30, oid("1.2.840.113549.1.7.1")
              + tlv(0x30, oid("2.16.840.1.101.3.4.1.42") + tlv(0x04, bytes(16)))
              + tlv(0x80, bytes(32)))
    ed = tlv(0x30, tlv(0x02, b"\x00") + tlv(0x31, b"".join(infos)) + eci)
    return tlv(0x30, oid("1.2.840.113549.1.7.3") + tlv(0xA0, ed))


def escrow_blob_seeds():
    certs = [(FIXTURES / "escrow" / n).read_bytes()
             for n in ("escrow-a.der", "escrow-a-reissued.der", "escrow-b.der")]
    for cert in certs:
        put("escrow_blob", bytes([1]) + cert)
        put("escrow_blob", bytes([0]) + envelope([cert]))
        put("escrow_blob", bytes([0]) + indefinite(envelope([cert])))
    put("escrow_blob", bytes([0]) + envelope(certs[:2]))
    put("escrow_blob", bytes([0]) + b"SIMULATED-NOT-CMS\n" + bytes(64))
    put("escrow_blob", bytes([0]) + certs[0])


def config_from_dicts_seeds():
    # Structured by `arbitrary`: any bytes decode; a few lengths give the fuzzer a start.
    for n in (8, 64, 512):
        put("config_from_dicts", hashlib.sha512(str(n).encode()).digest() * (n // 64 + 1))


def regression_seeds():
    """Inputs of the crashes fuzzing found (issue 6), so that every run replays them first: a
    target keeps failing at once until its crash is fixed, and guards the fix after."""
    # F2: a binary plist <date> before year 0 panics plist 1.10.3's serde reader:
    # {Version: 1, NextCheckAt: -7e10 s from 2001}, and the bare date.
    state = bytes.fromhex(
        "62706c6973743030d2010203045b4e657874436865636b41745756657273696f6e33c2304c533c0000"
        "001001080d19212a000000000000010100000000000000050000000000000000000000000000002c")
    date = bytes.fromhex(
        "62706c697374303033c2304c533c00000008000000000000010100000000000000010000000000000000"
        "0000000000000011")
    put("state_parse", state)
    put("failed_keys_load", state)
    put("status_read", bytes(6) + state)
    put("report_ea_value", bytes(6) + date)
    put("config_load", bytes([1]) + struct.pack(">H", len(state)) + state)
    # F6: folding two Carried lines whose DroppedLines add past u64::MAX overflows (audit.rs).
    def carried(n):
        return ('{"At":"2026-11-20T10:00:00Z","What":"Carried","Result":"Rotated","ConsoleUser":null,'
                '"Caller":"daemon","Detail":null,"Carried":{"Validations":0,"Failures":0,"Recent":[],'
                '"DroppedLines":%d,"UnreadableLines":0}}\n' % n)
    put("audit_rotate", bytes([3]) + fuzz_now(datetime(2026, 11, 22)) + (carried(2**64 - 1) + carried(1)).encode())


def main():
    tool_seeds()
    golden_status()
    config_seeds()
    state_seeds()
    audit_seeds()
    failed_keys_seeds()
    recovery_key_seeds()
    escrow_blob_seeds()
    config_from_dicts_seeds()
    regression_seeds()
    for target in sorted(written):
        print(f"seed.py: {written[target]:3} seeds for {target}")


if __name__ == "__main__":
    main()
