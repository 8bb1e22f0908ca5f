#!/usr/bin/env bash
# The HTML report in a real browser: headless Chromium takes a screenshot of the
# report of a synthetic database (made by twscope from an empty pcap, rows
# inserted with the sqlite3 CLI), and the screenshot must not be blank and must
# show the timeline chart: its line color (#d9480f, used by nothing else on the
# page) and its area fill (#fbe3d6) across most of the page width, in the upper
# part of the page where the first timeline chart is drawn.
# Chromium is installed with apt-get when missing; if that fails the test is
# skipped. The PNG is decoded with PIL when present, else in pure Python (zlib).
# Usage: t_html.sh TWSCOPE SOURCE_DIR BUILD_DIR     (exit 77 = skipped)
set -u
tw=$1
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 command-line tool missing"; exit 77; }
browser=
for b in chromium chromium-browser; do command -v $b >/dev/null && { browser=$b; break; }; done
if [ -z "$browser" ]; then
    sudo=
    [ "$(id -u)" = 0 ] || sudo="sudo -n"
    echo "chromium missing: trying apt-get install -y chromium"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null 2>&1 ||
        { DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq >/dev/null 2>&1 &&
          DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null 2>&1; }
    command -v chromium >/dev/null && browser=chromium
fi
[ -n "$browser" ] || { echo "SKIP: chromium is not installed and apt-get install chromium failed"; exit 77; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

python3 -c 'import struct,sys; sys.stdout.buffer.write(struct.pack("<IHHiIII",0xa1b2c3d4,2,4,0,0,65535,1))' >"$work/empty.pcap"
db=$work/s.db
"$tw" analyze -q -o "$db" --overwrite "$work/empty.pcap" || { echo "FAIL: analyze"; exit 1; }
# 3000 connections over 10 minutes, each followed by 60 s of TIME_WAIT (a quarter
# on the server side): the number at once climbs to ~300 and falls at the end.
sqlite3 "$db" <<'EOF' || { echo "FAIL: sqlite3"; exit 1; }
BEGIN;
UPDATE captures SET first_ts = 1700000000, last_ts = 1700000700 WHERE id = 1;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
INSERT INTO connections (id, capture_id, incarnation, client_ip, client_port, server_ip, server_port, ip_version,
  syn_seen, first_frame, first_file, last_frame, last_file, first_ts, last_ts, close_kind, active_closer,
  client_pkts, server_pkts, client_bytes, server_bytes, app_protocol)
SELECT i, 1, 1, '10.1.0.' || (i % 20), 32768 + i, '10.2.0.1', 80, 4, 1, i * 10, 0, i * 10 + 9, 0,
  1700000000 + i * 0.2, 1700000000 + i * 0.2 + 0.3, 'fin', CASE WHEN i % 4 = 0 THEN 'server' ELSE 'client' END,
  5, 5, 500, 5000, CASE i % 3 WHEN 0 THEN 'HTTP' ELSE 'TLS' END FROM n;
INSERT INTO time_waits (connection_id, side, ip, port, start_ts, start_frame, start_file, expected_end_ts, end_ts,
  end_reason, inferred, profile, profile_reason, duration_s, answers)
SELECT id, CASE WHEN active_closer = 'server' THEN 'server' ELSE 'client' END,
  CASE WHEN active_closer = 'server' THEN server_ip ELSE client_ip END,
  CASE WHEN active_closer = 'server' THEN server_port ELSE client_port END,
  last_ts, last_frame, 0, last_ts + 60, min(last_ts + 60, 1700000700),
  CASE WHEN last_ts + 60 > 1700000700 THEN 'capture_end' ELSE 'expired' END, 0, 'linux', 'option', 60, 0
  FROM connections;
INSERT INTO findings (connection_id, kind, frame, file, ts, direction, seq, ack, payload_len, flags, detail)
SELECT id, CASE id % 2 WHEN 0 THEN 'fin_retransmission' ELSE 'final_ack_retransmission' END, last_frame, 0,
  last_ts + 0.1, 'client', 1, 2, 0, 17, '{"copy":2}' FROM connections WHERE id % 10 = 0;
COMMIT;
EOF
"$tw" report "$db" -o "$work/report.html" || { echo "FAIL: report"; exit 1; }

timeout 180 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$(mktemp -d -p "$work")" --screenshot="$work/shot.png" --window-size=1280,2000 \
    "file://$work/report.html" >"$work/chromium.log" 2>&1
[ -s "$work/shot.png" ] || { echo "FAIL: no screenshot"; tail -5 "$work/chromium.log"; exit 1; }
[ -n "${TWSCOPE_KEEP_SHOT:-}" ] && cp "$work/shot.png" "$TWSCOPE_KEEP_SHOT"

python3 - "$work/shot.png" <<'PYEOF'
import struct, sys, zlib

def load(path):
    """(width, height, rows of RGB tuples)"""
    try:
        from PIL import Image
        im = Image.open(path).convert("RGB")
        w, h = im.size
        px = list(im.getdata())
        return w, h, [px[y * w:(y + 1) * w] for y in range(h)]
    except ImportError:
        pass
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit("FAIL: not a PNG")
    pos, idat, plte = 8, b"", None
    while pos < len(data):
        ln, typ = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + ln]
        pos += 12 + ln
        if typ == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or interlace or ctype not in (2, 6):
                sys.exit("FAIL: unexpected PNG format depth %d type %d interlace %d" % (depth, ctype, interlace))
            bpp = 3 if ctype == 2 else 4
        elif typ == b"IDAT":
            idat += body
        elif typ == b"IEND":
            break
    raw = zlib.decompress(idat)
    stride, rows, prev, i = w * bpp, [], bytearray(w * bpp), 0
    for _ in range(h):
        f = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        if f == 1:
            for x in range(bpp, stride):
                line[x] = (line[x] + line[x - bpp]) & 255
        elif f == 2:
            for x in range(stride):
                line[x] = (line[x] + prev[x]) & 255
        elif f == 3:
            for x in range(stride):
                line[x] = (line[x] + ((line[x - bpp] if x >= bpp else 0) + prev[x]) // 2) & 255
        elif f == 4:
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0
                b = prev[x]
                c = prev[x - bpp] if x >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, bpp)])
        prev = line
    return w, h, rows

w, h, rows = load(sys.argv[1])
fail = []
colors = {}
nonwhite = 0
for r in rows[::4]:
    for p in r[::4]:
        colors[p] = colors.get(p, 0) + 1
        if sum(p) < 720:
            nonwhite += 1
sampled = sum(colors.values())
if len(colors) < 20 or nonwhite < sampled * 0.05:
    fail.append("screenshot looks blank: %d colors, %.1f%% non-white" % (len(colors), 100.0 * nonwhite / sampled))

def near(p, q, tol):
    return all(abs(a - b) <= tol for a, b in zip(p, q))

LINE, FILL = (0xd9, 0x48, 0x0f), (0xfb, 0xe3, 0xd6)
line_px, fill_px = [], 0
for y, r in enumerate(rows):
    for x, p in enumerate(r):
        if near(p, LINE, 12):
            line_px.append((x, y))
        elif near(p, FILL, 3):
            fill_px += 1
if len(line_px) < 800:
    fail.append("timeline line color: %d pixels, want >= 800" % len(line_px))
else:
    xs = sorted(x for x, _ in line_px)
    ys = sorted(y for _, y in line_px)
    x0, x1, y0, y1 = xs[len(xs) // 200], xs[-1 - len(xs) // 200], ys[len(ys) // 200], ys[-1 - len(ys) // 200]
    print("timeline pixels: %d line in x %d-%d y %d-%d, %d fill" % (len(line_px), x0, x1, y0, y1, fill_px))
    if x1 - x0 < w * 0.5:
        fail.append("timeline spans %d px of %d" % (x1 - x0, w))
    if not (150 <= y0 and y1 <= 1400 and y1 - y0 >= 60):
        fail.append("timeline line at y %d-%d, want within 150-1400 and >= 60 px high" % (y0, y1))
    inside = sum(1 for x, y in line_px if x0 <= x <= x1 and y0 <= y <= y1)
    if inside < len(line_px) * 0.9:
        fail.append("timeline color scattered outside the chart")
if fill_px < 20000:
    fail.append("timeline area fill: %d pixels, want >= 20000" % fill_px)
if fail:
    print("FAIL: " + "; ".join(fail))
    sys.exit(1)
print("PASS")
PYEOF
