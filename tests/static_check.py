#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""static_check.py PROGRAM... - each program is statically linked: an ELF
executable with no program interpreter (PT_INTERP) and no dynamic section
(PT_DYNAMIC), so it runs on a board with no shared library at all
(-Dstatic_programs=true)."""
import struct
import sys

PT_DYNAMIC, PT_INTERP = 2, 3


def check(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF":
        return "not an ELF file"
    is64 = data[4] == 2
    end = "<" if data[5] == 1 else ">"
    if is64:
        phoff, = struct.unpack_from(end + "Q", data, 0x20)
        phentsize, phnum = struct.unpack_from(end + "HH", data, 0x36)
    else:
        phoff, = struct.unpack_from(end + "I", data, 0x1c)
        phentsize, phnum = struct.unpack_from(end + "HH", data, 0x2a)
    for i in range(phnum):
        ptype, = struct.unpack_from(end + "I", data, phoff + i * phentsize)
        if ptype == PT_INTERP:
            return "has a program interpreter (dynamically linked)"
        if ptype == PT_DYNAMIC:
            return "has a dynamic section (shared libraries or a PIE loader)"
    return None


def main():
    bad = 0
    for path in sys.argv[1:]:
        why = check(path)
        if why:
            print("FAIL: %s %s" % (path, why), file=sys.stderr)
            bad = 1
        else:
            print("%s: static" % path)
    if len(sys.argv) < 2:
        print("FAIL: no program named", file=sys.stderr)
        bad = 1
    return bad


if __name__ == "__main__":
    sys.exit(main())
