#!/usr/bin/env python3
"""Which parts of a running binary's code are in memory: bench/resident.py PID [TOP].

RssFile is mostly the executable's own pages, mapped in as code runs (the kernel maps up to 64 KiB
around each page fault). This reads /proc/PID/pagemap (root) for the binary's mappings and the
symbol table (`nm`) to say which crates those resident pages belong to, so a cut in RSS can aim
at what is actually touched rather than at the size of .text.
"""
import collections
import os
import re
import struct
import subprocess
import sys

PAGE = os.sysconf("SC_PAGE_SIZE")


def mappings(pid):
    """(start, end, file offset, perms, path) of each mapping of the main executable and libs."""
    exe = os.readlink(f"/proc/{pid}/exe")
    out = []
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            parts = line.split(maxsplit=5)
            if len(parts) < 6:
                continue
            span, perms, offset, _, _, path = parts
            start, end = (int(x, 16) for x in span.split("-"))
            out.append((start, end, int(offset, 16), perms, path.strip()))
    return exe, out


def resident_pages(pid, start, end):
    with open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        pagemap.seek(start // PAGE * 8)
        data = pagemap.read((end - start) // PAGE * 8)
    for i in range(len(data) // 8):
        (entry,) = struct.unpack_from("<Q", data, i * 8)
        if entry >> 63 & 1:
            yield start + i * PAGE


def symbols(exe):
    """Sorted (file offset, name) of the text symbols (addresses are file offsets in a PIE)."""
    nm = subprocess.run(["nm", "-n", "--defined-only", "-C", exe], capture_output=True, text=True)
    syms = []
    for line in nm.stdout.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tTwW":
            syms.append((int(parts[0], 16), parts[2]))
    return syms


def crate_of(name):
    name = re.sub(r"^(<|_<)+", "", name)
    name = name.lstrip("&*( ").replace("dyn ", "").replace("mut ", "")
    head = re.split(r"::|<| as |\(", name, maxsplit=1)[0]
    return head or "?"


def main():
    pid = int(sys.argv[1])
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    exe, maps = mappings(pid)
    by_path = collections.Counter()
    exe_pages = []
    for start, end, offset, perms, path in maps:
        pages = list(resident_pages(pid, start, end))
        by_path[(path or "[anon]", perms)] += len(pages)
        if path == exe and "x" in perms:
            exe_pages += [offset + (p - start) for p in pages]
    print("resident KiB per mapping (top):")
    for (path, perms), n in by_path.most_common(12):
        print(f"  {n * PAGE // 1024:7d}  {perms}  {path}")
    syms = symbols(exe)
    starts = [s for s, _ in syms]
    import bisect

    crates = collections.Counter()
    for page in exe_pages:
        # Attribute the page to the symbols that start in it (or the one it is inside).
        lo = bisect.bisect_left(starts, page)
        hi = bisect.bisect_left(starts, page + PAGE)
        names = [syms[i][1] for i in range(lo, hi)] or ([syms[lo - 1][1]] if lo else ["?"])
        share = 1 / len(names)
        for name in names:
            crates[crate_of(name)] += share
    total = sum(crates.values())
    print(f"executable code resident: {total * PAGE / 1024:.0f} KiB; by crate (top {top}):")
    for crate, n in crates.most_common(top):
        print(f"  {n * PAGE / 1024:8.0f} KiB  {crate}")


if __name__ == "__main__":
    main()
