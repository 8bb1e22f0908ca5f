#!/usr/bin/env python3
"""pcapedit.py IN OUT [options]: derives the messy captures the tests need
from the clean ones the namespace generator makes. Frames are numbered from 1,
as Wireshark counts them; the edits apply in the order listed here.

  --drop N,M-K       leave these frames out (the tap missed them)
  --from N           only the frames from N on (a capture started late)
  --only client|server  only the frames that endpoint sent (the client is the
                     sender of the first SYN, else of the first frame): a
                     capture that sees one direction
  --coalesce N       merge frame N with the next frame of the same direction
                     whose sequence number follows it, with data or a FIN
                     (TSO/GRO): one segment
                     with both payloads, at the later frame's place, with its
                     ACK, window and timestamps; IPv4 total length 0 with
                     --tso-len0 (as a capture before segmentation shows it),
                     checksums left stale (wrong); with --coalesce-keep the
                     two segments stay and the merged one follows the later
                     (tcpdump -i any on a host with GRO/TSO: the super-segment
                     on one interface, the wire segments on another)
  --snap N           frames cut to N bytes (a capture's snaplen)
  --zero-csum        IPv4 header and TCP checksums set to 0 (offloaded)
  --jump N:USEC      add USEC (may be negative) to the time of frames N on
  --shift USEC       add USEC to the time of every frame (a second capture
                     point's clock)
  --dup              every frame twice (a tap that duplicates: -i any, SPAN)
  --dup-delay USEC   ... the copy USEC later
  --dup-lag K        ... the copy after K more frames (slight reordering)
Ethernet or raw IPv4/IPv6 link types; classic pcap files only."""
import argparse
import struct
import sys


def read(data):
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        sys.exit("pcapedit: not a classic pcap file")
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    link = struct.unpack(e + "I", data[20:24])[0]
    out, off = [], 24
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack(e + "IIII", data[off:off + 16])
        us = sec * 1000000 + (frac // 1000 if nano else frac)
        out.append([us, bytearray(data[off + 16:off + 16 + incl]), orig - incl])
        off += 16 + incl
    return e, nano, link, out


def l3_off(link, pkt):
    if link == 1:  # Ethernet, 802.1Q tags
        off, et = 14, struct.unpack(">H", pkt[12:14])[0]
        while et in (0x8100, 0x88A8):
            et = struct.unpack(">H", pkt[off + 2:off + 4])[0]
            off += 4
        return off
    if link in (101, 12, 228, 229):
        return 0
    sys.exit("pcapedit: link type %d not supported by this edit" % link)


def tcp_of(link, pkt):
    """(ip offset, tcp offset, payload offset, end, key, seq) or None."""
    ip = l3_off(link, pkt)
    v = pkt[ip] >> 4
    if v == 4:
        ihl = (pkt[ip] & 15) * 4
        if pkt[ip + 9] != 6:
            return None
        end = ip + struct.unpack(">H", pkt[ip + 2:ip + 4])[0]
        src, dst, t = bytes(pkt[ip + 12:ip + 16]), bytes(pkt[ip + 16:ip + 20]), ip + ihl
    elif v == 6:
        if pkt[ip + 6] != 6:
            return None
        end = ip + 40 + struct.unpack(">H", pkt[ip + 4:ip + 6])[0]
        src, dst, t = bytes(pkt[ip + 8:ip + 24]), bytes(pkt[ip + 24:ip + 40]), ip + 40
    else:
        return None
    sport, dport, seq = struct.unpack(">HHI", pkt[t:t + 8])
    p = t + (pkt[t + 12] >> 4) * 4
    return ip, t, p, end, (src, sport, dst, dport), seq


def numbers(spec):
    out = set()
    for part in filter(None, spec.split(",")):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def set_ip_len(pkt, ip, n):
    if pkt[ip] >> 4 == 4:
        pkt[ip + 2:ip + 4] = struct.pack(">H", n - ip if n - ip < 65536 else 0)
    else:
        pkt[ip + 4:ip + 6] = struct.pack(">H", n - ip - 40)


def coalesce(link, fr, n, len0, keep):
    a = tcp_of(link, fr[n - 1][1])
    if not a:
        sys.exit("pcapedit: --coalesce %d: not a TCP frame" % n)
    ip, t, p, end, key, seq = a
    want = seq + (end - p)
    for j in range(n, len(fr)):
        b = tcp_of(link, fr[j][1])
        if b and b[4] == key and b[5] == want and (b[3] > b[2] or fr[j][1][b[1] + 13] & 1):
            bip, bt, bp, bend = b[:4]
            pkt = fr[j][1]
            merged = pkt[:bp] + fr[n - 1][1][p:end] + pkt[bp:bend]
            merged[bt + 4:bt + 8] = struct.pack(">I", seq)
            merged[bt + 13] |= fr[n - 1][1][t + 13] & 0x08  # PSH
            set_ip_len(merged, bip, len(merged))
            if len0 and merged[bip] >> 4 == 4:
                merged[bip + 2:bip + 4] = b"\0\0"
            if keep:
                fr.insert(j + 1, [fr[j][0], merged, 0])
            else:
                fr[j][1] = merged
                del fr[n - 1]
            return
    sys.exit("pcapedit: --coalesce %d: no later segment follows it" % n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--drop", default="")
    ap.add_argument("--from", dest="first", type=int, default=1)
    ap.add_argument("--only", choices=("client", "server"))
    ap.add_argument("--coalesce", type=int, action="append", default=[])
    ap.add_argument("--tso-len0", action="store_true")
    ap.add_argument("--coalesce-keep", action="store_true")
    ap.add_argument("--snap", type=int, default=0)
    ap.add_argument("--zero-csum", action="store_true")
    ap.add_argument("--jump", default="")
    ap.add_argument("--shift", type=int, default=0)
    ap.add_argument("--dup", action="store_true")
    ap.add_argument("--dup-delay", type=int, default=0)
    ap.add_argument("--dup-lag", type=int, default=0)
    a = ap.parse_args()
    data = open(a.inp, "rb").read()
    e, nano, link, fr = read(data)
    drop = numbers(a.drop)
    fr = [f for n, f in enumerate(fr, 1) if n >= a.first and n not in drop]
    if a.only:
        client = None
        for f in fr:
            x = tcp_of(link, f[1])
            if x and client is None and (f[1][x[1] + 13] & 0x12) == 0x02:
                client = x[4][:2]
        if client is None:
            x = tcp_of(link, fr[0][1])
            client = x[4][:2]
        fr = [f for f in fr if tcp_of(link, f[1]) and
              (tcp_of(link, f[1])[4][:2] == client) == (a.only == "client")]
    for n in sorted(a.coalesce, reverse=True):
        coalesce(link, fr, n, a.tso_len0, a.coalesce_keep)
    if a.zero_csum:
        for f in fr:
            x = tcp_of(link, f[1])
            if x:
                if f[1][x[0]] >> 4 == 4:
                    f[1][x[0] + 10:x[0] + 12] = b"\0\0"
                f[1][x[1] + 16:x[1] + 18] = b"\0\0"
    if a.snap:
        for f in fr:
            if len(f[1]) > a.snap:
                f[2] += len(f[1]) - a.snap
                f[1] = f[1][:a.snap]
    if a.jump:
        at, _, d = a.jump.partition(":")
        for f in fr[int(at) - 1:]:
            f[0] += int(d)
    for f in fr:
        f[0] += a.shift
    if a.dup:
        out = []
        pending = []
        for f in fr:
            out.append(f)
            pending = [(k - 1, c) for k, c in pending]
            while pending and pending[0][0] < 0:
                out.append(pending.pop(0)[1])
            pending.append((a.dup_lag - 1, [f[0] + a.dup_delay, f[1], f[2]]))
            while pending and pending[0][0] < 0:
                out.append(pending.pop(0)[1])
        out += [c for _, c in pending]
        fr = out
    with open(a.out, "wb") as o:
        o.write(data[:24])
        for us, pkt, cut in fr:
            frac = us % 1000000 * (1000 if nano else 1)
            o.write(struct.pack(e + "IIII", us // 1000000, frac, len(pkt), len(pkt) + cut))
            o.write(pkt)


if __name__ == "__main__":   # loss_cases.py imports the reader
    main()
