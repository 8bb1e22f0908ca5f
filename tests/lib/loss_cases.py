#!/usr/bin/env python3
"""loss_cases.py SAMPLE.pcap MODE: print the frame sets a tap could have
missed, one --drop list per line (frames from 1).
  pairs   every single frame and every pair of frames (a one-connection capture)
  random  5, 10 and 20 % of the frames at random, 6 seeds each, leaving out the
          sets that miss both the SYN and the SYN-ACK of one incarnation (then
          nothing in the capture shows a new incarnation began: a documented
          limit, R18)"""
import os
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcapedit  # noqa: E402


def flags(link, pkt):
    t = pcapedit.tcp_of(link, pkt)
    return None if t is None else pkt[t[1] + 13]


def main():
    path, mode = sys.argv[1], sys.argv[2]
    e, nano, link, frames = pcapedit.read(open(path, "rb").read())
    n = len(frames)
    if mode == "pairs":
        for a in range(1, n + 1):
            for b in range(a, n + 1):
                print(a if a == b else "%d,%d" % (a, b))
        return
    syn = [i + 1 for i, f in enumerate(frames) if (flags(link, f[1]) or 0) & 0x12 == 0x02]
    synack = [i + 1 for i, f in enumerate(frames) if (flags(link, f[1]) or 0) & 0x12 == 0x12]
    for pct in (5, 10, 20):
        for seed in range(1, 7):
            r = random.Random(seed * 100 + pct)
            d = [i for i in range(1, n + 1) if r.random() < pct / 100.0]
            if any(s in d and a in d for s, a in zip(syn, synack)):
                continue
            print(",".join(map(str, d)) or "0")


if __name__ == "__main__":
    main()
