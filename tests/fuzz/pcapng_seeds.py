#!/usr/bin/env python3
"""pcapng_seeds.py -- write hand-built pcapng files into DIR, one per case, as
seeds for fuzz_pcapng (tests/fuzz/run.sh): every block type the mapped reader
meets, in both byte orders, with the cases libpcap refuses.

usage: pcapng_seeds.py DIR

Blocks: SHB (several sections), IDB with if_tsresol 10^-n and 2^-n and
if_tsoffset, EPB, SPB, the obsolete PB, and NRB, ISB, DSB, custom and unknown
blocks (skipped). Cases that end in an error: sections of different byte
orders, an IDB of another link type or snapshot length, a packet on an
unknown interface, a cut last block, a trailer that disagrees, a packet
bigger than the snapshot.
"""
import os
import struct
import sys

# a TCP SYN 10.0.0.1:40000 -> 10.0.0.2:80 on Ethernet
FRAME = bytes.fromhex(
    "0200000000020200000000010800"
    "450000280001000040060000""0a000001""0a000002"
    "9c400050000003e8000000005002faf000000000")


def pad4(b):
    return b + b"\0" * (-len(b) % 4)


class W:
    def __init__(self, big=False):
        self.e = ">" if big else "<"
        self.out = b""

    def block(self, btype, body, trailer=None):
        body = pad4(body)
        total = 12 + len(body)
        self.out += struct.pack(self.e + "II", btype, total) + body
        self.out += struct.pack(self.e + "I", total if trailer is None else trailer)

    def opt(self, code, val):
        return struct.pack(self.e + "HH", code, len(val)) + pad4(val)

    def shb(self, minor=0, bom=0x1A2B3C4D):
        self.block(0x0A0D0D0A, struct.pack(self.e + "IHHq", bom, 1, minor, -1)
                   + self.opt(4, b"pcapng_seeds.py") + self.opt(0, b""))

    def idb(self, linktype=1, snaplen=262144, tsresol=None, tsoffset=None):
        opts = self.opt(2, b"eth0")
        if tsresol is not None:
            opts += self.opt(9, bytes([tsresol]))
        if tsoffset is not None:
            opts += self.opt(14, struct.pack(self.e + "q", tsoffset))
        self.block(1, struct.pack(self.e + "HHI", linktype, 0, snaplen) + opts + self.opt(0, b""))

    def epb(self, ifid, ts, data=FRAME, wirelen=None, caplen=None):
        self.block(6, struct.pack(self.e + "IIIII", ifid, ts >> 32, ts & 0xffffffff,
                                  len(data) if caplen is None else caplen,
                                  len(data) if wirelen is None else wirelen)
                   + pad4(data) + self.opt(1, b"a comment") + self.opt(0, b""))

    def spb(self, data=FRAME, wirelen=None):
        self.block(3, struct.pack(self.e + "I", len(data) if wirelen is None else wirelen) + data)

    def pb(self, ifid, ts, data=FRAME):
        self.block(2, struct.pack(self.e + "HHIIII", ifid, 0, ts >> 32, ts & 0xffffffff,
                                  len(data), len(data)) + data)

    def others(self):
        self.block(4, struct.pack(self.e + "HH", 1, 8) + bytes([10, 0, 0, 1]) + b"h.x\0"
                   + struct.pack(self.e + "HH", 0, 0))                      # NRB
        self.block(5, struct.pack(self.e + "III", 0, 0, 0) + self.opt(0, b""))  # ISB
        self.block(10, struct.pack(self.e + "II", 0x544c534b, 4) + b"keys")     # DSB
        self.block(0x00000BAD, struct.pack(self.e + "I", 32473) + b"custom")     # custom
        self.block(0x40001234, b"unknown block")


def all_blocks(big):
    w = W(big)
    w.shb()
    w.others()
    w.idb()                                   # 10^-6
    w.idb(tsresol=9)                          # 10^-9
    w.idb(tsresol=0x80 | 20)                  # 2^-20
    w.idb(tsresol=3, tsoffset=1000)           # 10^-3, +1000 s
    w.idb(tsresol=0x80 | 63)                  # 2^-63
    w.idb(tsresol=19)                         # 10^-19
    w.idb(tsresol=0)                          # seconds
    t = 1700000000
    w.epb(0, t * 10**6 + 123456)
    w.epb(1, t * 10**9 + 123456789)
    w.epb(2, t * 2**20 + 2**19)
    w.epb(3, t * 10**3 + 999)
    w.epb(4, 0xffffffffffffffff)
    w.epb(5, 0xfedcba9876543210)
    w.epb(6, t)
    w.others()
    w.spb()
    w.spb(data=FRAME + b"\0" * 6, wirelen=50)  # caplen = min(len, snapshot): 50
    w.pb(1, t * 10**9 + 5)
    w.epb(0, t * 10**6, data=FRAME[:40], wirelen=1514)
    return w


def main():
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    cases = {}
    for big in (False, True):
        tag = "be" if big else "le"
        cases["all-" + tag] = all_blocks(big).out
        w = all_blocks(big)                   # a second section with its own interfaces
        w.shb(minor=2)
        w.idb(tsresol=6)
        w.epb(0, 1700000001 * 10**6)
        w.spb()
        cases["sections-" + tag] = w.out
        w = all_blocks(big)
        w.shb()
        w.epb(0, 1)                           # no IDB in this section yet
        cases["no-idb-" + tag] = w.out
        w = all_blocks(big)
        ow = W(not big)
        ow.shb()
        ow.idb()
        ow.epb(0, 5)
        cases["byteorder-" + tag] = w.out + ow.out
        w = all_blocks(big)
        w.idb(linktype=101)
        cases["linktype-" + tag] = w.out
        w = all_blocks(big)
        w.idb(snaplen=65535)
        cases["snaplen-" + tag] = w.out
        w = all_blocks(big)
        w.epb(9, 5)
        cases["ifid-" + tag] = w.out
        w = all_blocks(big)
        w.epb(0, 5)
        cases["cut-" + tag] = w.out[:-30]
        w = all_blocks(big)
        w.block(6, struct.pack(w.e + "IIIII", 0, 0, 0, 4, 4) + b"abcd", trailer=44)
        cases["trailer-" + tag] = w.out
        w = all_blocks(big)
        w.spb(wirelen=2000)                   # caplen 2000: more than the block holds
        cases["spb-long-" + tag] = w.out
        w = W(big)
        w.shb()
        w.idb(snaplen=64)
        w.epb(0, 5, data=FRAME * 2)           # 108 bytes > snaplen 64
        cases["bigcap-" + tag] = w.out
        w = W(big)
        w.shb()
        w.idb(tsresol=0x80 | 64)              # refused by libpcap
        w.epb(0, 5)
        cases["tsresol-" + tag] = w.out
    for name, data in cases.items():
        with open(os.path.join(d, name + ".pcapng"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
