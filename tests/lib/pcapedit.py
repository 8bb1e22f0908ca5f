#!/usr/bin/env python3
"""pcapedit.py IN OUT [--drop N,M-K,...] [--from N] [--dup]: a classic pcap
file with some frames left out (1-based numbers or ranges, as Wireshark
counts them), or only the frames from N on (a capture started late), or every
frame written twice (a tap that duplicates). Derives the messy captures the
tests need from the clean ones the namespace generator makes."""
import argparse
import struct
import sys


def frames(data):
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        sys.exit("pcapedit: not a classic pcap file")
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack(e + "I", data[off + 8:off + 12])[0]
        yield data[off:off + 16 + incl]
        off += 16 + incl


def numbers(spec):
    out = set()
    for part in filter(None, spec.split(",")):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


ap = argparse.ArgumentParser()
ap.add_argument("inp")
ap.add_argument("out")
ap.add_argument("--drop", default="")
ap.add_argument("--from", dest="first", type=int, default=1)
ap.add_argument("--dup", action="store_true")
a = ap.parse_args()
data = open(a.inp, "rb").read()
drop = numbers(a.drop)
with open(a.out, "wb") as o:
    o.write(data[:24])
    for n, rec in enumerate(frames(data), 1):
        if n < a.first or n in drop:
            continue
        o.write(rec)
        if a.dup:
            o.write(rec)
