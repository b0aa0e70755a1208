#!/usr/bin/env python3
"""tarcheck.py — reads a layer tar with Python's tarfile (an independent
reader) for the snapbake suite; it only reads, never extracts.

usage: tarcheck.py list TAR          one line per entry: name type mode uid gid mtime size link
       tarcheck.py aligned TAR N     exits 1 unless every file's data starts at a multiple of N
"""
import sys
import tarfile


def entries(path):
    with tarfile.open(path, "r:") as tar:
        for m in tar:
            yield m


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == "list":
        for m in entries(path):
            kind = "d" if m.isdir() else "l" if m.issym() else "f" if m.isreg() else "?"
            print(m.name, kind, oct(m.mode)[2:], m.uid, m.gid, m.mtime, m.size, m.linkname or "-")
        return 0
    if cmd == "aligned":
        align = int(sys.argv[3])
        bad = 0
        files = 0
        for m in entries(path):
            if m.isreg() and m.size:
                files += 1
                if m.offset_data % align:
                    print(f"{m.name}: data at {m.offset_data}, not a multiple of {align}")
                    bad += 1
        print(f"{files} files checked")
        return 1 if bad or not files else 0
    print(__doc__, file=sys.stderr)
    return 2


sys.exit(main())
