#!/usr/bin/env python3
"""mkpcapng.py IN.pcap OUT.pcapng [--big-endian] [--spb N]: the packets of a classic
(microsecond) pcap file as a pcapng file that exercises what a faithful copy
must keep: a section comment, two interfaces of the same link type (eth0 in
microseconds, eth1 in nanoseconds, with the packet times given 123 ns more
precisely than the pcap had them), odd frames on eth0 and even ones on eth1,
a Name Resolution Block, existing packet comments (frames 3 and 10, frame 10
with epb_flags too), frame 11 written as an obsolete Packet Block, and an
Interface Statistics Block at the end; --spb N: frame N (odd, on eth0) as a
Simple Packet Block (no timestamp: libpcap gives it time 0). Written independently of twscope's
pcapng writer, so a test that reads both is not checking the writer against
itself."""
import struct
import sys

inp, out = sys.argv[1], sys.argv[2]
e = ">" if "--big-endian" in sys.argv[3:] else "<"
spb = int(sys.argv[sys.argv.index("--spb") + 1]) if "--spb" in sys.argv else 0


def opt(code, val):
    return struct.pack(e + "HH", code, len(val)) + val + b"\0" * (-len(val) % 4)


def block(btype, body):
    n = 12 + len(body)
    return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)


d = open(inp, "rb").read()
if d[:4] != b"\xd4\xc3\xb2\xa1":
    sys.exit("mkpcapng: want a little-endian microsecond pcap")
snap, link = struct.unpack("<II", d[16:24])
o = bytearray()
o += block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1)
           + opt(1, b"made by mkpcapng.py") + opt(4, b"mkpcapng") + opt(0, b""))
o += block(1, struct.pack(e + "HHI", link, 0, snap) + opt(2, b"eth0") + opt(0, b""))
o += block(1, struct.pack(e + "HHI", link, 0, snap) + opt(2, b"eth1") + opt(9, b"\x09")
           + opt(0, b""))
o += block(4, struct.pack(e + "HH", 1, 8) + bytes([10, 77, 0, 2]) + b"srv\0" + opt(0, b""))
off, n = 24, 0
while off + 16 <= len(d):
    sec, usec, incl, orig = struct.unpack("<IIII", d[off:off + 16])
    data = d[off + 16:off + 16 + incl]
    off += 16 + incl
    n += 1
    ifid = 0 if n % 2 else 1
    ts = sec * 1000000 + usec if ifid == 0 else (sec * 1000000 + usec) * 1000 + 123
    opts = b""
    if n == 3:
        opts = opt(1, b"original comment on frame 3")
    if n == 10:
        opts = opt(2, struct.pack(e + "I", 1)) + opt(1, "original comment, frame 10 é".encode())
    if opts:
        opts += opt(0, b"")
    pad = b"\0" * (-incl % 4)
    if n == spb and ifid == 0:
        o += block(3, struct.pack(e + "I", orig) + data + pad)
    elif n == 11 and ifid == 0:
        o += block(2, struct.pack(e + "HHIIII", ifid, 0xFFFF, ts >> 32, ts & 0xFFFFFFFF, incl,
                                  orig) + data + pad)
    else:
        o += block(6, struct.pack(e + "IIIII", ifid, ts >> 32, ts & 0xFFFFFFFF, incl, orig)
                   + data + pad + opts)
o += block(5, struct.pack(e + "III", 0, ts >> 32, ts & 0xFFFFFFFF) + opt(0, b""))
open(out, "wb").write(o)
