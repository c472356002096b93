#!/usr/bin/env python3
"""Check a universal macOS binary: both arm64 and x86_64 slices, each a Mach-O executable whose
LC_BUILD_VERSION (or LC_VERSION_MIN_MACOSX) minimum macOS is at most MAX_MINOS.

Usage: macho-check.py BINARY [MAX_MINOS]   (default 12.0)
Prints one line per slice; exits 1 on any failure. Pure Python: runs on the Linux CI machine.
"""
import struct
import sys

FAT_MAGIC = 0xCAFEBABE
MH_MAGIC_64 = 0xFEEDFACF
CPU = {0x01000007: "x86_64", 0x0100000C: "arm64"}
MH_EXECUTE = 2
LC_BUILD_VERSION = 0x32
LC_VERSION_MIN_MACOSX = 0x24
PLATFORM_MACOS = 1


def version(v):
    return (v >> 16, (v >> 8) & 0xFF, v & 0xFF)


def slice_minos(data, off):
    magic, cputype, _sub, filetype, ncmds, _size, _flags, _res = struct.unpack_from("<IiiIIIII", data, off)
    if magic != MH_MAGIC_64:
        raise ValueError("slice is not a 64-bit Mach-O (magic %#x)" % magic)
    if filetype != MH_EXECUTE:
        raise ValueError("slice is not an executable (filetype %d)" % filetype)
    p = off + 32
    for _ in range(ncmds):
        cmd, cmdsize = struct.unpack_from("<II", data, p)
        if cmd == LC_BUILD_VERSION:
            platform, minos, _sdk = struct.unpack_from("<III", data, p + 8)
            if platform != PLATFORM_MACOS:
                raise ValueError("platform %d is not macOS" % platform)
            return CPU.get(cputype & 0xFFFFFFFF, hex(cputype)), version(minos)
        if cmd == LC_VERSION_MIN_MACOSX:
            (minos,) = struct.unpack_from("<I", data, p + 8)
            return CPU.get(cputype & 0xFFFFFFFF, hex(cputype)), version(minos)
        p += cmdsize
    raise ValueError("no minimum macOS version load command")


def main():
    path = sys.argv[1]
    max_minos = tuple(int(x) for x in (sys.argv[2] if len(sys.argv) > 2 else "12.0").split("."))
    max_minos += (0,) * (3 - len(max_minos))
    data = open(path, "rb").read()
    (magic, nfat) = struct.unpack_from(">II", data, 0)
    if magic != FAT_MAGIC:
        print("%s: not a universal binary (magic %#x)" % (path, magic))
        return 1
    archs = {}
    ok = True
    for i in range(nfat):
        _cputype, _sub, offset, _size, _align = struct.unpack_from(">iiIII", data, 8 + 20 * i)
        try:
            arch, minos = slice_minos(data, offset)
        except ValueError as e:
            print("%s: slice %d: %s" % (path, i, e))
            ok = False
            continue
        archs[arch] = minos
        good = minos <= max_minos
        ok &= good
        print("%s: %s, minos %s %s" % (path, arch, ".".join(map(str, minos)), "ok" if good else "TOO NEW"))
    for want in ("arm64", "x86_64"):
        if want not in archs:
            print("%s: no %s slice" % (path, want))
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
