#!/usr/bin/env bash
# Reports end to end:
#  1. a hand-made database (created by twscope from an empty pcap, rows inserted
#     with the sqlite3 CLI): `ports` and `timeline` give the peaks constructed
#     here, and agree with a brute-force Python recomputation;
#  2. every query report in every format: CSV is RFC 4180 (CRLF records, quoted
#     fields, same width; parsed with Python's csv module), JSON parses, has the
#     CSV's rows and columns, and numbers are JSON numbers;
#  3. the HTML report: parses with balanced tags, fetches nothing (no http(s)://
#     outside text, no src/href/url()), has SVG charts with data, escapes markup
#     planted in the database, says "no TIME_WAIT periods" on an empty database,
#     caps the findings table at 5000 rows on a 100k-row database;
#  4. options and exit codes of `query` and `report`.
# Parts 2-3 also run on a database of corpus captures (../shared/corpus, else
# samples/*.pcap*); without any, parts 1, 3 (hand-made) and 4 run and the test
# exits 77 (skipped) if they pass.
# Usage: t_report.sh TWSCOPE SOURCE_DIR BUILD_DIR     (exit 77 = skipped)
set -u
tw=$1 src=$2
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 command-line tool missing"; exit 77; }
python3 -c 'import sqlite3' 2>/dev/null || { echo "SKIP: python3 without sqlite3 module"; exit 77; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# ---- checker (Python) -------------------------------------------------------
cat >"$work/check.py" <<'PYEOF'
import csv, io, json, re, sqlite3, subprocess, sys
from html.parser import HTMLParser

TW = None
failures = 0

def fail(msg):
    global failures
    failures += 1
    print("FAIL:", msg)

def run(args, ok=0):
    p = subprocess.run([TW] + args, capture_output=True)
    if ok is not None and p.returncode != ok:
        fail("%s: exit %d (want %d): %s" % (" ".join(args), p.returncode, ok, p.stderr.decode(errors="replace")[:300]))
    return p

# ---- brute force: the same quantities, computed the naive way ----

def tw_end(row_end, row_exp, start):
    e = row_end if row_end is not None else (row_exp if row_exp is not None else start)
    return max(e, start)

def peak_of(intervals):
    """max number of closed intervals containing one instant, first instant reaching it"""
    ev = sorted([(s, 0) for s, e in intervals] + [(e, 1) for s, e in intervals])  # starts first
    n = best = 0
    when = None
    for t, kind in ev:
        n += 1 if kind == 0 else -1
        if n > best:
            best, when = n, t
    return best, when

def merge(iv):
    out = []
    for s, e in sorted(iv):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [tuple(x) for x in out]

def brute_ports(db, lo, hi):
    c = sqlite3.connect(db)
    conns = c.execute("select id, capture_id, client_ip, client_port, server_ip, server_port, first_ts, last_ts from connections where first_ts is not null").fetchall()
    byid = {r[0]: r for r in c.execute("select id, capture_id, client_ip, client_port, server_ip, server_port from connections")}
    tws = c.execute("select connection_id, side, ip, port, start_ts, end_ts, expected_end_ts from time_waits where start_ts is not null").fetchall()
    tup = {}
    for i, cap, cip, cp, sip, sp, f, l in conns:
        tup.setdefault((cap, cip, sip, sp, cp), []).append((f, max(l if l is not None else f, f)))
    srv = {}
    for cid, side, ip, port, s, e, x in tws:
        if cid not in byid:
            continue
        _, cap, cip, cp, sip, sp = byid[cid]
        if side == "client":
            tup.setdefault((cap, cip, sip, sp, cp), []).append((s, tw_end(e, x, s)))
        elif side == "server":
            srv.setdefault((cap, ip, port), []).append((s, tw_end(e, x, s)))
    groups = {}
    for (cap, cip, sip, sp, cp), iv in tup.items():
        groups.setdefault((cap, cip, sip, sp), []).extend(merge(iv))
    res = {}
    for k, iv in groups.items():
        res[("client",) + k] = peak_of(iv)
    for (cap, ip, port), iv in srv.items():
        res[("server_tw", cap, None, ip, port)] = peak_of(iv)
    return res

def split_ep(ep):
    m = re.match(r"^\[(.*)\]:(\d+)$", ep) or re.match(r"^(.*):(\d+)$", ep)
    return m.group(1), int(m.group(2))

def check_ports(db, lo=32768, hi=60999, extra=()):
    p = run(["query", db, "ports", "-F", "json"] + list(extra))
    rows = json.loads(p.stdout)
    want = brute_ports(db, lo, hi)
    got = {}
    for r in rows:
        sip, sp = split_ep(r["server"])
        got[(r["scope"], r["capture_id"], r["client_ip"], sip, sp)] = r
    if set(got) != set(want):
        fail("ports %s: groups differ: extra %s missing %s" % (db, sorted(set(got) - set(want), key=str)[:5], sorted(set(want) - set(got), key=str)[:5]))
    for k, (pk, when) in want.items():
        r = got.get(k)
        if not r:
            continue
        if r["peak"] != pk or abs(r["peak_ts"] - when) > 1e-6:
            fail("ports %s %s: peak %s at %s, brute force %s at %s" % (db, k, r["peak"], r["peak_ts"], pk, when))
        if r["scope"] == "client" and abs(r["share_pct"] - 100.0 * pk / (hi - lo + 1)) > 1e-9:
            fail("ports %s %s: share_pct %s" % (db, k, r["share_pct"]))
    # sorted by risk: client rows first, share descending
    scopes = [r["scope"] for r in rows]
    if scopes != sorted(scopes, key=lambda s: s != "client"):
        fail("ports: client rows must come first")
    shares = [r["share_pct"] for r in rows if r["scope"] == "client"]
    if shares != sorted(shares, reverse=True):
        fail("ports: client rows not sorted by share descending")
    return rows

def brute_timeline_rows(db):
    c = sqlite3.connect(db)
    out = {}
    for cap, side, ip, app, s, e, x in c.execute(
            "select c.capture_id, t.side, t.ip, c.app_protocol, t.start_ts, t.end_ts, t.expected_end_ts"
            " from time_waits t join connections c on c.id = t.connection_id where t.start_ts is not null"):
        out.setdefault(cap, []).append({"side": side or "unknown", "host": ip or "unknown", "app": app or "unknown",
                                         "s": s, "e": tw_end(e, x, s)})
    return out

def expected_bucket(ivs, b0, w, last):
    hi = b0 + w
    starts = [i["s"] for i in ivs if b0 <= i["s"] and (i["s"] < hi or last)]
    cands = [b0] + starts
    peak = max(sum(1 for i in ivs if i["s"] <= t <= i["e"]) for t in cands)
    return peak, len(starts)

def check_timeline(db, by=None, bucket=None):
    args = ["query", db, "timeline", "-F", "json"]
    if by:
        args += ["--by", by]
    if bucket:
        args += ["--bucket", str(bucket)]
    rows = json.loads(run(args).stdout)
    tws = brute_timeline_rows(db)
    # the buckets of each capture, from the dense series (no --by)
    base = rows if not by else json.loads(run(["query", db, "timeline", "-F", "json"] + (["--bucket", str(bucket)] if bucket else [])).stdout)
    grid = {}
    for r in base:
        grid.setdefault(r["capture_id"], []).append((r["bucket_start"], r["bucket_s"]))
    if set(grid) != set(tws):
        fail("timeline %s: captures %s, want %s" % (db, sorted(grid), sorted(tws)))
    got = {(r["capture_id"], r["bucket_start"], r.get(by) if by else "all"): r for r in rows}
    n = 0
    for cap, buckets in grid.items():
        if bucket and any(abs(w - bucket) > 1e-9 for _, w in buckets):
            fail("timeline: bucket_s differs from --bucket")
        for j in range(1, len(buckets)):
            if abs(buckets[j][0] - buckets[j - 1][0] - buckets[j][1]) > 1e-6:
                fail("timeline %s: buckets of capture %s not contiguous" % (db, cap))
                break
        keys = sorted({i[by] for i in tws[cap]}) if by else ["all"]
        for idx, (b0, w) in enumerate(buckets):
            last = idx == len(buckets) - 1
            for k in keys:
                ivs = [i for i in tws[cap] if not by or i[by] == k]
                pk, st = expected_bucket(ivs, b0, w, last)
                r = got.get((cap, b0, k))
                if r is None:
                    if pk != 0 or not by:
                        fail("timeline %s by %s: missing row capture %s bucket %s %s (want peak %d)" % (db, by, cap, b0, k, pk))
                    continue
                n += 1
                if r["peak"] != pk or r["started"] != st:
                    fail("timeline %s by %s: capture %s bucket %s %s: peak %s started %s, want %s %s" % (db, by, cap, b0, k, r["peak"], r["started"], pk, st))
    if n != len(rows):
        fail("timeline %s by %s: %d rows, %d checked" % (db, by, len(rows), n))
    return rows

# ---- formats ----

def rfc4180(text, what):
    """records end with CRLF; a bare CR or LF only inside quotes; quotes doubled"""
    inq = False
    i = 0
    if text and not text.endswith("\r\n"):
        fail(what + ": does not end with CRLF")
    while i < len(text):
        ch = text[i]
        if inq:
            if ch == '"':
                if i + 1 < len(text) and text[i + 1] == '"':
                    i += 1
                else:
                    inq = False
                    if i + 1 < len(text) and text[i + 1] not in ",\r":
                        fail(what + ": character after closing quote at %d" % i)
                        return
        else:
            if ch == '"':
                if i > 0 and text[i - 1] not in ",\n":
                    fail(what + ": quote inside an unquoted field at %d" % i)
                    return
                inq = True
            elif ch == "\r" and text[i + 1:i + 2] != "\n":
                fail(what + ": bare CR at %d" % i)
                return
            elif ch == "\n" and text[i - 1:i] != "\r":
                fail(what + ": bare LF at %d" % i)
                return
        i += 1
    if inq:
        fail(what + ": unterminated quote")

NUMERIC = {"id", "capture_id", "connection_id", "incarnation", "peak", "started", "tuples", "connections",
           "time_waits", "outside_range", "bucket_start", "bucket_s", "share_pct", "peak_ts", "frame",
           "first_ts", "start_ts", "end_ts", "pkts", "bytes", "first_frame", "last_frame", "duration"}

def check_formats(db, name, extra=()):
    what = " ".join([name] + list(extra))
    t = run(["query", db, name] + list(extra))
    c = run(["query", db, name, "-F", "csv"] + list(extra))
    j = run(["query", db, name, "-F", "json"] + list(extra))
    for p, f in ((t, "table"), (c, "csv"), (j, "json")):
        if p.returncode != 0 or p.stderr:
            fail("%s -F %s: exit %d, stderr %r" % (what, f, p.returncode, p.stderr[:200]))
    if not t.stdout.strip():
        fail(what + ": empty table output")
    text = c.stdout.decode("utf-8")
    rfc4180(text, what + " csv")
    recs = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    if not recs:
        fail(what + ": no CSV header")
        return
    head = recs[0]
    for r in recs[1:]:
        if len(r) != len(head):
            fail("%s csv: record of %d fields, header has %d" % (what, len(r), len(head)))
            break
    try:
        data = json.loads(j.stdout)
    except ValueError as e:
        fail("%s json: %s" % (what, e))
        return
    if not isinstance(data, list) or len(data) != len(recs) - 1:
        fail("%s: json has %s rows, csv %d" % (what, len(data) if isinstance(data, list) else "?", len(recs) - 1))
        return
    for obj, rec in zip(data, recs[1:]):
        if list(obj.keys()) != head:
            fail("%s: json keys %s != csv header %s" % (what, list(obj.keys()), head))
            return
        for k, v, cv in zip(head, obj.values(), rec):
            if k in NUMERIC and v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                fail("%s: column %s is %r, not a number" % (what, k, v))
                return
            if v is None:
                ok = cv == ""
            elif isinstance(v, bool):
                ok = False
            elif isinstance(v, int):
                ok = cv == str(v)
            elif isinstance(v, float):
                ok = float(cv) == v
            elif isinstance(v, str):
                ok = cv == v
            else:
                ok = k == "detail"      # detail: a JSON object inline
            if not ok:
                fail("%s: column %s json %r vs csv %r" % (what, k, v, cv))
                return

def all_formats(db):
    for name, extra in (("summary", []), ("connections", []), ("timewaits", []), ("findings", []),
                        ("reuse", []), ("ports", []), ("ports", ["--port-range", "1024-65535"]),
                        ("timeline", []), ("timeline", ["--by", "side"]), ("timeline", ["--by", "host"]),
                        ("timeline", ["--by", "app"]), ("timeline", ["--bucket", "0.5"]),
                        ("sql", ["SELECT 1 AS one, 2.5 AS two, 'a,\"b\"' || char(10) || 'c' AS three, NULL AS four"])):
        check_formats(db, name, extra)

# ---- HTML ----

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

class Checker(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.tags = [], [], {}
        self.text, self.code = [], []
        self.attrs_bad = []
    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self.check_attrs(tag, attrs)
        if tag not in VOID:
            self.stack.append(tag)
    def handle_startendtag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self.check_attrs(tag, attrs)
    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append("unexpected </%s> (open: %s)" % (tag, self.stack[-3:]))
            if tag in self.stack:
                while self.stack and self.stack.pop() != tag:
                    pass
        else:
            self.stack.pop()
    def handle_data(self, data):
        (self.code if self.stack and self.stack[-1] in ("script", "style") else self.text).append(data)
    def check_attrs(self, tag, attrs):
        for k, v in attrs:
            v = v or ""
            if k == "href" and v.startswith("#") and re.fullmatch(r"#[A-Za-z0-9_-]+", v):
                continue  # a link within the page (findings -> ladders) fetches nothing
            if k in ("src", "href", "xlink:href", "action", "srcset", "poster", "background") or \
               re.search(r"(https?:|//|url\()", v) and k not in ("data-copy", "aria-label", "content"):
                self.attrs_bad.append((tag, k, v))

def check_html(path, min_svg=1, min_shapes=1, expect=(), forbid=(), max_findings=None):
    raw = open(path, "rb").read()
    try:
        doc = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        fail("%s: not UTF-8: %s" % (path, e))
        return None
    p = Checker()
    p.feed(doc)
    p.close()
    if p.errors:
        fail("%s: %s" % (path, p.errors[:3]))
    if p.stack:
        fail("%s: unclosed tags %s" % (path, p.stack[-5:]))
    if p.attrs_bad:
        fail("%s: external references in attributes: %s" % (path, p.attrs_bad[:3]))
    text = "".join(p.text)
    code = "".join(p.code)
    for scheme in ("http://", "https://"):
        if doc.count(scheme) != text.count(scheme):
            fail("%s: %s outside text (%d in document, %d in text)" % (path, scheme, doc.count(scheme), text.count(scheme)))
    if re.search(r"url\(|@import|https?:", code):
        fail("%s: script/style fetches something" % path)
    if p.tags.get("script", 0) != 1:
        fail("%s: %d script elements (want only the copy helper)" % (path, p.tags.get("script", 0)))
    if p.tags.get("svg", 0) < min_svg:
        fail("%s: %d svg elements, want >= %d" % (path, p.tags.get("svg", 0), min_svg))
    shapes = p.tags.get("path", 0) + p.tags.get("rect", 0)
    if shapes < min_shapes:
        fail("%s: %d path/rect elements, want >= %d" % (path, shapes, min_shapes))
    for s in expect:
        if s not in doc:
            fail("%s: missing %r" % (path, s))
    for s in forbid:
        if s in doc:
            fail("%s: contains %r" % (path, s))
    if max_findings is not None:
        sec = doc[doc.find('<section id="findings">'):]
        n = sec.count("<tr>") - 1
        if n != max_findings:
            fail("%s: findings table has %d rows, want %d" % (path, n, max_findings))
    return doc

if __name__ == "__main__":
    TW = sys.argv[1]
    mode = sys.argv[2]
    db = sys.argv[3]
    if mode == "formats":
        all_formats(db)
        check_ports(db)
        check_ports(db, 1024, 65535, ["--port-range", "1024-65535"])
        for by in (None, "side", "host", "app"):
            check_timeline(db, by)
    elif mode == "hand":
        rows = check_ports(db)
        r = {(x["scope"], x["client_ip"], x["server"]): x for x in rows}
        a = r.get(("client", "10.0.0.1", "10.0.0.2:80"))
        if not a or (a["peak"], a["peak_ts"], a["tuples"], a["connections"], a["time_waits"], a["outside_range"]) != (5, 1075.0, 5, 6, 6, 0):
            fail("ports: 10.0.0.1 -> 10.0.0.2:80 = %s, want peak 5 at 1075, 5 tuples, 6 connections, 6 client TIME_WAITs" % a)
        b = r.get(("client", "10.0.0.9", "10.0.0.2:80"))
        if not b or (b["peak"], b["peak_ts"], b["tuples"]) != (2, 1201.0, 2):
            fail("ports: 10.0.0.9 = %s, want peak 2 at 1201" % b)
        s = r.get(("server_tw", None, "10.0.0.3:8080"))
        if not s or (s["peak"], s["peak_ts"], s["time_waits"], s["tuples"]) != (3, 2060.0, 5, 5):
            fail("ports: server_tw 10.0.0.3:8080 = %s, want peak 3 at 2060 of 5" % s)
        v6 = r.get(("client", "fd00::1", "[fd00::2]:443"))
        if not v6 or v6["peak"] != 1:
            fail("ports: IPv6 endpoint row %s" % v6)
        if rows[0]["client_ip"] != "10.0.0.1":
            fail("ports: riskiest row is not first")
        rows = json.loads(run(["query", db, "ports", "-F", "json", "--port-range", "40000-40002"]).stdout)
        a = [x for x in rows if x["client_ip"] == "10.0.0.1"][0]
        if a["outside_range"] != 2 or abs(a["share_pct"] - 500.0 / 3) > 1e-9 or a["port_range"] != "40000-40002":
            fail("ports --port-range 40000-40002: %s" % a)
        # timeline, bucket 10: constructed buckets, then brute force on all
        rows = check_timeline(db, None, 10)
        t = {x["bucket_start"]: x for x in rows if x["capture_id"] == 1}
        for b0, pk, st in ((1000, 0, 0), (1010, 1, 1), (1020, 2, 1), (1070, 5, 2), (1130, 2, 0), (2060, 3, 2), (2120, 2, 0), (2130, 0, 0), (2150, 1, 1)):
            if b0 not in t or (t[b0]["peak"], t[b0]["started"]) != (pk, st):
                fail("timeline bucket %d: %s, want peak %d started %d" % (b0, t.get(b0), pk, st))
        if len(t) != 120:
            fail("timeline --bucket 10: %d buckets for capture 1, want 120" % len(t))
        side = check_timeline(db, "side", 10)
        ts = {(x["bucket_start"], x["side"]): x["peak"] for x in side if x["capture_id"] == 1}
        if ts.get((1070, "client")) != 5 or ts.get((2060, "server")) != 3 or (1070, "server") in ts:
            fail("timeline --by side: %s" % {k: v for k, v in ts.items() if k[0] in (1070, 2060)})
        check_timeline(db, "host", 10)
        check_timeline(db, "app", 10)
        auto = check_timeline(db)
        c1 = [x for x in auto if x["capture_id"] == 1]
        if not c1 or c1[0]["bucket_s"] != 30 or c1[0]["bucket_start"] != 990 or not 20 <= len(c1) <= 61:
            fail("timeline auto bucket: %d rows from %s" % (len(c1), c1[:1]))
        all_formats(db)
    elif mode == "html":
        args = sys.argv[4:]
        kind = args[0]
        if kind == "hand":
            check_html(db, min_svg=4, min_shapes=60,
                       expect=["&lt;script&gt;alert(1)&lt;/script&gt;", "evil &quot;&lt;source&gt;&quot;.pcap",
                               "&lt;b&gt;bold&lt;/b&gt; &amp; http://example.com/x", "frame.number == 77",
                               "ip.addr==10.0.0.1 &amp;&amp; tcp.port==40000 &amp;&amp; ip.addr==10.0.0.2 &amp;&amp; tcp.port==80",
                               "ipv6.addr==fd00::1 &amp;&amp; tcp.port==50001", 'class="tl"'],
                       forbid=["<script>alert", "<b>bold", "<source>"])
        elif kind == "empty":
            check_html(db, min_svg=3, min_shapes=1, expect=["no TIME_WAIT periods", "no findings"], forbid=['class="tl"'])
        elif kind == "big":
            check_html(db, min_svg=4, min_shapes=100, expect=["Showing the first 5000 of 100000 findings"], max_findings=5000)
        else:
            check_html(db, min_svg=4, min_shapes=20, expect=['class="tl"'])
    sys.exit(1 if failures else 0)
PYEOF
chk() { python3 "$work/check.py" "$tw" "$@" || fail=1; }

# ---- 1. the hand-made database ----------------------------------------------
python3 -c 'import struct,sys; sys.stdout.buffer.write(struct.pack("<IHHiIII",0xa1b2c3d4,2,4,0,0,65535,1))' >"$work/empty.pcap"
hand=$work/hand.db
"$tw" analyze -q -o "$hand" --overwrite "$work/empty.pcap" || bad "analyze of an empty pcap"
cp "$hand" "$work/empty.db"
# connection: id client cport server sport first last incarnation app
conn() { echo "INSERT INTO connections (id, capture_id, incarnation, client_ip, client_port, server_ip, server_port, ip_version, syn_seen, first_frame, first_file, last_frame, last_file, first_ts, last_ts, close_kind, active_closer, client_pkts, server_pkts, client_bytes, server_bytes, app_protocol) VALUES ($1, 1, $8, '$2', $3, '$4', $5, 4, 1, $1, 0, $1 + 5, 0, $6, $7, 'fin', 'client', 5, 5, 100, 100, $9);"; }
# time_wait: connection side ip port start end reason
tw() { echo "INSERT INTO time_waits (connection_id, side, ip, port, start_ts, start_frame, start_file, expected_end_ts, end_ts, end_reason, inferred, profile, profile_reason, duration_s, answers) VALUES ($1, '$2', '$3', $4, $5, $1 + 4, 0, $5 + 60, $6, '$7', 0, 'linux', 'option', 60, 0);"; }
{
    echo "BEGIN; UPDATE captures SET first_ts = 1000, last_ts = 2200, source = 'evil \"<source>\".pcap' WHERE id = 1;"
    # client 10.0.0.1 -> 10.0.0.2:80: busy 4-tuples (connection + client TIME_WAIT, merged):
    #   40000 [1000,1132] (TIME_WAIT overlaps the connection; incarnation 2 starts the
    #         instant the first TIME_WAIT ends), 40001 [1005,1080], 40002 [1030,1100],
    #   40003 [1075,1136] (overlap again), 40004 [1050,1115]  => 5 at once from 1075
    conn 1 10.0.0.1 40000 10.0.0.2 80 1000 1012 1 NULL;  tw 1 client 10.0.0.1 40000 1010 1070 reused
    conn 2 10.0.0.1 40001 10.0.0.2 80 1005 1020 1 "'HTTP'"; tw 2 client 10.0.0.1 40001 1020 1080 expired
    conn 3 10.0.0.1 40002 10.0.0.2 80 1030 1040 1 "'HTTP'"; tw 3 client 10.0.0.1 40002 1040 1100 expired
    conn 4 10.0.0.1 40003 10.0.0.2 80 1075 1078 1 "'HTTP'"; tw 4 client 10.0.0.1 40003 1076 1136 expired
    conn 5 10.0.0.1 40004 10.0.0.2 80 1050 1055 1 "'<script>alert(1)</script>'"; tw 5 client 10.0.0.1 40004 1055 1115 expired
    conn 6 10.0.0.1 40000 10.0.0.2 80 1070 1072 2 "'HTTP'"; tw 6 client 10.0.0.1 40000 1072 1132 expired
    # client 10.0.0.9: one 4-tuple ends the instant the next starts => 2 at 1201
    conn 7 10.0.0.9 50000 10.0.0.2 80 1200 1201 1 NULL
    conn 14 10.0.0.9 50002 10.0.0.2 80 1201 1202 1 NULL
    # server 10.0.0.3:8080 closes first: server TIME_WAITs [2000,2060] [2010,2070]
    # [2060,2125] [2069,2129] and a zero-length one cut by the capture end => 3 at
    # 2060 (closed intervals: the one ending at 2060 still counts) and again at 2069
    conn 8 10.0.1.1 41000 10.0.0.3 8080 1990 2000 1 NULL;  tw 8 server 10.0.0.3 8080 2000 2060 expired
    conn 9 10.0.1.2 41001 10.0.0.3 8080 2005 2010 1 NULL;  tw 9 server 10.0.0.3 8080 2010 2070 expired
    conn 10 10.0.1.3 41002 10.0.0.3 8080 2055 2060 1 NULL; tw 10 server 10.0.0.3 8080 2060 2125 expired
    conn 11 10.0.1.4 41003 10.0.0.3 8080 2066 2069 1 NULL; tw 11 server 10.0.0.3 8080 2069 2129 rst
    conn 12 10.0.1.5 41004 10.0.0.3 8080 2140 2150 1 NULL; tw 12 server 10.0.0.3 8080 2150 2150 capture_end
    conn 13 fd00::1 50001 fd00::2 443 1500 1501 1 "'TLS'"
    echo "INSERT INTO findings (connection_id, kind, frame, file, ts, direction, seq, ack, payload_len, flags, detail) VALUES"
    echo " (1, 'fin_retransmission', 77, 0, 1011, 'server', 1, 2, 0, 17, '{\"note\":\"<b>bold</b> & http://example.com/x\"}'),"
    echo " (6, 'tw_reuse', 78, 0, 1070, 'client', 5, 0, 0, 2, '{\"gap_s\":0}'),"
    echo " (11, 'tw_rst', 79, 0, 2100, 'client', 9, 0, 0, 4, NULL),"
    echo " (13, 'late_segment', 80, 0, 1501, 'client', 9, 0, 0, 16, 'not json, \"quoted\"');"
    echo "COMMIT;"
} >"$work/hand.sql"
sqlite3 "$hand" <"$work/hand.sql" || bad "sqlite3 could not fill the hand-made database"
chk hand "$hand"

# ---- 3a. HTML of the hand-made and of an empty database ----------------------
"$tw" report "$hand" -o "$work/hand.html" || bad "report of the hand-made database"
[ -s "$work/hand.html" ] && chk html "$work/hand.html" hand
"$tw" report "$work/empty.db" -o "$work/empty.html" || bad "report of an empty database"
[ -s "$work/empty.html" ] && chk html "$work/empty.html" empty
"$tw" report "$hand" -o - >"$work/stdout.html" || bad "report -o -"
cmp -s <(grep -v 'written [0-9-]* [0-9:]* UTC' "$work/stdout.html") <(grep -v 'written [0-9-]* [0-9:]* UTC' "$work/hand.html") || bad "report -o - differs from the file"

# ---- 3b. 100k rows: aggregated charts, capped tables -------------------------
big=$work/big.db
cp "$work/empty.db" "$big"
sqlite3 "$big" <<'EOF' || bad "could not build the 100k-row database"
BEGIN;
UPDATE captures SET first_ts = 1700000000, last_ts = 1700003100 WHERE id = 1;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
INSERT INTO connections (id, capture_id, incarnation, client_ip, client_port, server_ip, server_port, ip_version,
  syn_seen, first_frame, first_file, last_frame, last_file, first_ts, last_ts, close_kind, active_closer,
  client_pkts, server_pkts, client_bytes, server_bytes, app_protocol)
SELECT i, 1, 1, '10.1.' || (i % 50) || '.' || (i % 200), 32768 + (i % 28000), '10.2.0.' || (i % 10), 80 + (i % 3),
  4, 1, i * 10, 0, i * 10 + 9, 0, 1700000000 + i * 0.03, 1700000000 + i * 0.03 + 0.5, 'fin',
  CASE WHEN i % 4 = 0 THEN 'server' ELSE 'client' END, 5, 5, 500, 5000,
  CASE i % 5 WHEN 0 THEN 'HTTP' WHEN 1 THEN 'TLS' ELSE NULL END FROM n;
INSERT INTO time_waits (connection_id, side, ip, port, start_ts, start_frame, start_file, expected_end_ts, end_ts,
  end_reason, inferred, profile, profile_reason, duration_s, answers)
SELECT id, CASE WHEN active_closer = 'server' THEN 'server' ELSE 'client' END,
  CASE WHEN active_closer = 'server' THEN server_ip ELSE client_ip END,
  CASE WHEN active_closer = 'server' THEN server_port ELSE client_port END,
  last_ts, last_frame, 0, last_ts + 60, CASE WHEN id % 7 = 0 THEN last_ts + 30 ELSE last_ts + 60 END,
  CASE WHEN id % 7 = 0 THEN 'reused' ELSE 'expired' END, 0, 'linux', 'option', 60, 0 FROM connections;
INSERT INTO findings (connection_id, kind, frame, file, ts, direction, seq, ack, payload_len, flags, detail)
SELECT id, CASE id % 3 WHEN 0 THEN 'fin_retransmission' WHEN 1 THEN 'late_segment' ELSE 'final_ack_retransmission' END,
  last_frame, 0, last_ts + 0.2, 'client', 1, 2, 0, 17, '{"copy":2}' FROM connections;
COMMIT;
EOF
start=$(date +%s)
timeout 300 "$tw" report "$big" -o "$work/big.html" || bad "report of the 100k-row database"
secs=$(( $(date +%s) - start ))
size=$(stat -c %s "$work/big.html" 2>/dev/null || echo 0)
echo "100k rows: report in ${secs}s, $size bytes"
[ "$size" -lt 20000000 ] || bad "100k-row report is $size bytes"
[ -s "$work/big.html" ] && chk html "$work/big.html" big
rows=$(timeout 300 "$tw" query "$big" timeline -F csv | wc -l)
[ "$rows" -ge 20 ] && [ "$rows" -le 63 ] || bad "100k rows: timeline has $rows lines, want ~60 buckets"

# ---- 4. options and exit codes ----------------------------------------------
expect_rc() { # rc command...
    local want=$1; shift
    "$@" >"$work/out" 2>"$work/err"; local rc=$?
    [ "$rc" = "$want" ] || bad "exit $rc (want $want): $* -- $(head -c 200 "$work/err")"
}
expect_rc 2 "$tw" query "$hand" summary --bucket 5
expect_rc 2 "$tw" query "$hand" summary --port-range 1024-2048
expect_rc 2 "$tw" query "$hand" ports --by side
expect_rc 2 "$tw" query "$hand" ports --port-range 5000-1000
expect_rc 2 "$tw" query "$hand" ports --port-range 0-100
expect_rc 2 "$tw" query "$hand" ports --port-range 1-65536
expect_rc 2 "$tw" query "$hand" ports --port-range 10-x
expect_rc 2 "$tw" query "$hand" timeline --by color
expect_rc 2 "$tw" query "$hand" timeline --bucket 0
expect_rc 2 "$tw" query "$hand" timeline --bucket abc
expect_rc 2 "$tw" query "$hand" timeline --bucket 0.001
grep -q "buckets (at most" "$work/err" || bad "too many buckets: no message"
expect_rc 0 "$tw" query "$hand" ports --port-range 1-65535
expect_rc 0 "$tw" query "$hand" timeline --bucket 1 --by app -F csv
expect_rc 1 "$tw" query "$work/missing.db" ports
expect_rc 1 "$tw" report "$work/missing.db" -o "$work/x.html"
[ -e "$work/x.html" ] && bad "report of a missing database wrote a file"
expect_rc 2 "$tw" report
expect_rc 2 "$tw" report "$hand" "$hand"
expect_rc 2 "$tw" report "$hand" --port-range 9-8
expect_rc 0 "$tw" report --help
expect_rc 1 "$tw" report "$hand" -o "$work/no/such/dir/r.html"
mkdir "$work/ro" && chmod 555 "$work/ro"
if [ "$(id -u)" != 0 ]; then
    expect_rc 1 "$tw" report "$hand" -o "$work/ro/r.html"
fi
ls "$work"/*.tmp* >/dev/null 2>&1 && bad "temporary report files left behind"
(cd "$work" && "$tw" report "$hand" >/dev/null 2>&1 && [ -s twscope-report.html ]) || bad "report without -o: no twscope-report.html"

# ---- 2, 3c. a database of real captures ---------------------------------------
corpus=${TWSCOPE_CORPUS:-$src/../shared/corpus}
inputs=()
if [ -d "$corpus" ]; then
    for f in tcptrace/fast_reuse.dmp.gz zeek/mysql/auth.pcap nDPI/alexa-app.pcapng \
             suricata-verify/http-range-multiflows/input.pcap zeek/tcp/fin_retransmission.pcap arkime/v6.pcap; do
        [ -f "$corpus/$f" ] && inputs+=("$corpus/$f")
    done
fi
if [ ${#inputs[@]} = 0 ] && [ -d "$src/samples" ]; then
    for f in "$src"/samples/*.pcap "$src"/samples/*.pcapng "$src"/samples/*.pcap.gz; do
        [ -f "$f" ] && inputs+=("$f")
    done
fi
if [ ${#inputs[@]} = 0 ]; then
    [ $fail = 0 ] || exit 1
    echo "SKIP (hand-made checks passed): no corpus ($corpus) and no samples/*.pcap"
    exit 77
fi
real=$work/real.db
for f in "${inputs[@]}"; do   # one capture each, appended to one database
    "$tw" analyze -q -o "$real" "$f" >"$work/an.out" 2>&1 || bad "analyze $f: $(head -c 200 "$work/an.out")"
done
echo "real captures: ${#inputs[@]} ($(sqlite3 "$real" 'select count(*) from connections') connections, $(sqlite3 "$real" 'select count(*) from time_waits') TIME_WAITs)"
chk formats "$real"
"$tw" report "$real" -o "$work/real.html" || bad "report of the real captures"
[ -s "$work/real.html" ] && chk html "$work/real.html" real

[ $fail = 0 ] && echo "PASS" || echo "FAILED"
exit $fail
