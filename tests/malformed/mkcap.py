#!/usr/bin/env python3
"""mkcap.py -- capture files for the reliability tests (t_malformed.sh,
t_crash.sh, t_valgrind.sh). Python 3 standard library only.

Every connection is the same 8 frames (Ethernet, IPv4, TCP), client
10.A.B.C:port -> server 10.255.0.1:80, 1 ms apart:
  SYN, SYN-ACK, ACK, request (64 B), response (256 B), client FIN,
  server FIN, client final ACK
so twscope sees one connection closed by the client, which enters TIME_WAIT.

usage: mkcap.py KIND OUT [N]
  valid       N connections one after the other (default 4)
  backwards   4 connections; the 3rd and 4th are stamped 1000 s before the 1st
  tszero      1 connection whose first packet is stamped 0.000000 (1 s apart)
  caplen0     2 connections, then 3 records with caplen 0 (len 60), then 1 more
  snaplen     snaplen 64 in the file header; 2 connections with whole frames
              (caplen > snaplen, still under libpcap's 262144 limit)
  hugelen     2 connections, then a record header with caplen 0xfffffff0
  iplen       2 connections whose frames claim an IP total length of 65535
  pcapng2if   pcapng: interface 0 Ethernet with 2 connections, then interface
              1 raw IPv4 (LINKTYPE_RAW) with 2 more
  pcapng_hugeblock  pcapng: 1 connection, then a block claiming 0xfffffff0 bytes
  pcapng_ts   pcapng whose 2nd packet has a timestamp around year 500000
              (64-bit microsecond count near 2^64)
  big         about N packets (default 2000000): N/8 connections, 64 open at a
              time, interleaved, 500 us apart (so closed connections leave
              memory, and their rows the engine, all along); no checksums
"""
import struct
import sys

SERVER = bytes([10, 255, 0, 1])


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp_frame(src, dst, sport, dport, seq, ack, flags, payload=b"", iplen=None, eth=True,
              checksums=True):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      5 << 4, flags, 65535, 0, 0)
    tot = 20 + len(tcp) + len(payload)
    if checksums:
        pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp) + len(payload))
        c = csum(pseudo + tcp + payload)
        tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, iplen if iplen else tot, 1, 0x4000, 64, 6, 0,
                     src, dst)
    if checksums:
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    pkt = ip + tcp + payload
    if eth:
        pkt = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + pkt
    return pkt


def client_addr(i):
    return bytes([10, (i >> 16) & 0xFF, (i >> 8) & 0xFF, 1 + (i & 0x7F)])


def conn_frames(i, **kw):
    """The 8 frames of connection i."""
    c, s = client_addr(i), SERVER
    cp = 1024 + (i * 7919) % 60000
    ci, si = (1000 + i * 104729) & 0xFFFFFFFF, (5000 + i * 13) & 0xFFFFFFFF
    S, A, F, P = 0x02, 0x10, 0x01, 0x08
    return [
        tcp_frame(c, s, cp, 80, ci, 0, S, **kw),
        tcp_frame(s, c, 80, cp, si, ci + 1, S | A, **kw),
        tcp_frame(c, s, cp, 80, ci + 1, si + 1, A, **kw),
        tcp_frame(c, s, cp, 80, ci + 1, si + 1, P | A, b"Q" * 64, **kw),
        tcp_frame(s, c, 80, cp, si + 1, ci + 65, P | A, b"R" * 256, **kw),
        tcp_frame(c, s, cp, 80, ci + 65, si + 257, F | A, **kw),
        tcp_frame(s, c, 80, cp, si + 257, ci + 66, F | A, **kw),
        tcp_frame(c, s, cp, 80, ci + 66, si + 258, A, **kw),
    ]


def pcap_header(snaplen=262144, linktype=1):
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)


def rec(ts_us, frame, caplen=None, wirelen=None):
    caplen = len(frame) if caplen is None else caplen
    return struct.pack("<IIII", ts_us // 1000000, ts_us % 1000000, caplen,
                       len(frame) if wirelen is None else wirelen) + frame


T0 = 1700000000 * 1000000


def write_conns(out, n, t0=T0, step=1000):
    t = t0
    for i in range(n):
        for f in conn_frames(i):
            out.write(rec(t, f))
            t += step
    return t


def pcapng_block(btype, body):
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def pcapng_shb():
    return pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))


def pcapng_idb(linktype):
    return pcapng_block(1, struct.pack("<HHI", linktype, 0, 262144))


def pcapng_epb(ifid, ts_us, frame):
    return pcapng_block(6, struct.pack("<IIIII", ifid, (ts_us >> 32) & 0xFFFFFFFF,
                                       ts_us & 0xFFFFFFFF, len(frame), len(frame)) + frame)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    kind, path = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else None
    with open(path, "wb") as out:
        if kind == "valid":
            out.write(pcap_header())
            write_conns(out, n or 4)
        elif kind == "backwards":
            out.write(pcap_header())
            t = write_conns(out, 2)
            t = T0 - 1000 * 1000000
            for i in range(2, 4):
                for f in conn_frames(i):
                    out.write(rec(t, f))
                    t += 1000
        elif kind == "tszero":
            out.write(pcap_header())
            write_conns(out, 1, t0=0, step=1000000)
        elif kind == "caplen0":
            out.write(pcap_header())
            t = write_conns(out, 2)
            for _ in range(3):
                out.write(struct.pack("<IIII", t // 1000000, t % 1000000, 0, 60))
                t += 1000
            for f in conn_frames(2):
                out.write(rec(t, f))
                t += 1000
        elif kind == "snaplen":
            out.write(pcap_header(snaplen=64))
            write_conns(out, 2)
        elif kind == "hugelen":
            out.write(pcap_header())
            t = write_conns(out, 2)
            out.write(struct.pack("<IIII", t // 1000000, t % 1000000, 0xFFFFFFF0, 0xFFFFFFF0))
            out.write(b"\0" * 64)
        elif kind == "iplen":
            out.write(pcap_header())
            t = T0
            for i in range(2):
                for f in conn_frames(i, iplen=65535):
                    out.write(rec(t, f))
                    t += 1000
        elif kind == "pcapng2if":
            out.write(pcapng_shb() + pcapng_idb(1))
            t = T0
            for i in range(2):
                for f in conn_frames(i):
                    out.write(pcapng_epb(0, t, f))
                    t += 1000
            out.write(pcapng_idb(101))
            for i in range(2, 4):
                for f in conn_frames(i, eth=False):
                    out.write(pcapng_epb(1, t, f))
                    t += 1000
        elif kind == "pcapng_hugeblock":
            out.write(pcapng_shb() + pcapng_idb(1))
            t = T0
            for f in conn_frames(0):
                out.write(pcapng_epb(0, t, f))
                t += 1000
            out.write(struct.pack("<II", 6, 0xFFFFFFF0) + b"\0" * 64)
        elif kind == "pcapng_ts":
            out.write(pcapng_shb() + pcapng_idb(1))
            f = conn_frames(0)
            out.write(pcapng_epb(0, T0, f[0]))
            out.write(pcapng_epb(0, 0xFFFFFFFFFFFF0000, f[1]))
            out.write(pcapng_epb(0, T0 + 2000, f[2]))
        elif kind == "big":
            total = n or 2000000
            nconn = max(1, total // 8)
            out.write(pcap_header())
            t, buf, window = T0, [], 64
            for base in range(0, nconn, window):
                group = [conn_frames(i, checksums=False)
                         for i in range(base, min(base + window, nconn))]
                for k in range(8):
                    for frames in group:
                        buf.append(rec(t, frames[k]))
                        t += 500
                if len(buf) > 20000:
                    out.write(b"".join(buf))
                    buf = []
            out.write(b"".join(buf))
        else:
            sys.exit("mkcap.py: unknown kind %r\n%s" % (kind, __doc__))


if __name__ == "__main__":
    main()
