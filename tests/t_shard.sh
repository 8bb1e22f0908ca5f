#!/usr/bin/env bash
# Sharding and merging (issue 15, items 2 and 3):
#  1. every input is analyzed in one pass, and as N = 2 and N = 3 shards
#     (analyze --shard K/N) run side by side by GNU parallel, as one would run
#     them on N machines with --sshlogin; the shards are merged (twscope merge)
#     and the merged database must hold the one-pass rows, row for row: every
#     column of captures (but the wall-clock started_at), connections,
#     time_waits, findings and files, ids excluded (a row names another by its
#     first frame), ordered by frame numbers; the exit status of each shard is
#     the one-pass run's;
#  2. every `query` report prints the same on both (timewaits and findings: all
#     but their own row id, which numbers rows in the order a run happens to
#     finish them), and `report` writes the HTML page of the merged database;
#  3. provenance: merge_sources has one row per shard, each connection names its
#     shard's; shards of a capture recognized as such (one capture);
#  4. analyze -j 2 and -j 3 (threads, each with its own engine): the one-thread
#     rows, ids excluded, on the same inputs (and for a shard, -j 2 = -j 1);
#  5. refusals, one line each, nothing written: bad --shard values, merging a
#     foreign database, one of another schema version, the same shard twice,
#     shards of different N, a whole capture with a shard of it, a source given
#     twice, an output that already holds captures.
# Inputs: samples/ (all files as one capture, and one alone) and a handful of
# corpus files (../shared/corpus, or TWSCOPE_CORPUS; PARTIAL-SKIP when absent):
# many connections and nDPI, pcapng, gzip, port reuse, VLANs, IPv6, GTP, Linux
# cooked, non-TCP frames, and a file cut short (exit 1).
# Usage: t_shard.sh TWSCOPE SOURCE_DIR BUILD_DIR     (exit 77 = skipped)
set -u
tw=$1 src=$2 build=$3
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 command-line tool missing"; exit 77; }
if ! command -v parallel >/dev/null || ! parallel --version 2>/dev/null | grep -q 'GNU parallel'; then
    echo "SKIP: GNU parallel missing (Debian package parallel)"; exit 77
fi
corpus=${TWSCOPE_CORPUS:-$src/../shared/corpus}
work=$(mktemp -d); trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT; [ -n "${KEEP:-}" ] && echo "work: $work"
fail=0 cases=0
bad() { echo "FAIL: $*"; fail=1; }

# The rows of a database, ids replaced by what they point at (a connection by
# its first file and frame), one line per row, ordered by frame numbers.
dump() {
    local db=$1 ccols tcols fcols capcols filecols
    cols() { sqlite3 "$db" "SELECT group_concat('$2.' || name, ', ') FROM pragma_table_info('$1')
                            WHERE name NOT IN ($3)"; }
    capcols=$(cols captures p "'id', 'started_at'")
    filecols=$(cols files f "'id', 'capture_id'")
    ccols=$(cols connections c "'id', 'capture_id', 'prev_connection_id', 'merge_source'")
    tcols=$(cols time_waits t "'id', 'connection_id'")
    fcols=$(cols findings f "'id', 'connection_id', 'detail'")
    sqlite3 -batch "$db" "
        SELECT 'cap', $capcols FROM captures p ORDER BY p.first_ts, p.source;
        SELECT 'file', $filecols FROM files f ORDER BY f.file_index;
        SELECT 'conn', c.first_file, c.first_frame, $ccols,
               (SELECT p.first_file || ':' || p.first_frame FROM connections p
                 WHERE p.id = c.prev_connection_id)
          FROM connections c ORDER BY c.first_file, c.first_frame, c.first_ts, c.client_port;
        SELECT 'tw', c.first_file, c.first_frame, $tcols FROM time_waits t
          JOIN connections c ON c.id = t.connection_id
         ORDER BY t.start_file, t.start_frame, c.first_file, c.first_frame, t.side;
        SELECT 'find', f.file, f.frame, c.first_file, c.first_frame, $fcols,
               CASE WHEN json_valid(f.detail) AND json_extract(f.detail, '\$.prior_connection_id') IS NOT NULL
                    THEN json_set(f.detail, '\$.prior_connection_id',
                           (SELECT p.first_file || ':' || p.first_frame FROM connections p
                             WHERE p.id = json_extract(f.detail, '\$.prior_connection_id')))
                    ELSE f.detail END
          FROM findings f JOIN connections c ON c.id = f.connection_id
         ORDER BY f.file, f.frame, f.kind, c.first_file, c.first_frame;" 2>&1
}

# The query reports of a database (timewaits, findings: CSV without their own id;
# the summary's started_at, wall clock, left out).
reports_all() {
    local db=$1 r
    for r in summary connections reuse ports timeline; do
        echo "== $r"; "$tw" query "$db" "$r" 2>&1
        echo "== $r json"; "$tw" query "$db" "$r" --format json 2>&1
    done
    echo "== timeline by host"; "$tw" query "$db" timeline --by host 2>&1
    echo "== timeline by app"; "$tw" query "$db" timeline --by app 2>&1
    for r in timewaits findings; do
        echo "== $r"; "$tw" query "$db" "$r" --format csv 2>&1 | cut -d, -f2-
    done
    echo "== sql"; "$tw" query "$db" sql "SELECT kind, count(*) FROM findings_named GROUP BY kind ORDER BY kind" 2>&1
}
reports() { reports_all "$1" | sed '/started_at/d'; }  # started_at: when the run began, wall clock

# check NAME FILE...: one pass, N = 2 and 3 shards with parallel, merged, compared.
check() {
    local name=$1 n k rc1 rcp d
    shift
    cases=$((cases + 1))
    d=$work/$cases; mkdir -p "$d"
    "$tw" analyze -q -o "$d/one.db" "$@" >"$d/one.out" 2>&1; rc1=$?
    dump "$d/one.db" >"$d/one.rows"
    reports "$d/one.db" >"$d/one.rep"
    grep -q '^conn' "$d/one.rows" || bad "$name: the one-pass run wrote no connection"
    grep -q '^== summary' "$d/one.rep" && ! grep -q 'twscope:' "$d/one.rep" ||
        bad "$name: a query report failed on the one-pass database: $(grep -m1 twscope: "$d/one.rep")"
    # analyze -j: the same rows as one thread (ids apart, which dump() leaves out)
    for n in 2 3; do
        rm -f "$d/j.db"*
        "$tw" analyze -q -j "$n" -o "$d/j.db" "$@" >"$d/j.out" 2>&1; rcp=$?
        [ "$rcp" = "$rc1" ] || bad "$name -j $n: exit $rcp, one thread $rc1: $(head -c 300 "$d/j.out")"
        dump "$d/j.db" >"$d/j.rows"
        if ! cmp -s "$d/one.rows" "$d/j.rows"; then
            bad "$name -j $n: rows differ from -j 1:"
            diff "$d/one.rows" "$d/j.rows" | head -n 8
        fi
    done
    for n in 2 3; do
        rm -f "$d"/s*.db* "$d/m.db"*
        # -q: parallel quotes the command (paths are passed as they are)
        parallel --will-cite -q -j 2 "$tw" analyze -q --shard "{}/$n" -o "$d/s{}.db" "$@" ::: $(seq 1 "$n") \
            >"$d/par.out" 2>&1; rcp=$?
        # parallel's status: the number of shards that failed
        if [ "$rc1" = 0 ] && [ "$rcp" != 0 ]; then bad "$name N=$n: $rcp shard(s) failed: $(head -c 300 "$d/par.out")"; continue; fi
        if [ "$rc1" != 0 ] && [ "$rcp" != "$n" ]; then bad "$name N=$n: one pass exit $rc1 but only $rcp shard(s) failed"; fi
        for k in $(seq 1 "$n"); do
            [ "$(sqlite3 "$d/s$k.db" "SELECT shard FROM captures")" = "$k/$n" ] ||
                bad "$name: shard $k/$n not recorded in captures.shard"
        done
        # a shard analyzed with two threads: the same rows as with one
        rm -f "$d/sj.db"*
        "$tw" analyze -q -j 2 --shard "$n/$n" -o "$d/sj.db" "$@" >/dev/null 2>&1
        cmp -s <(dump "$d/s$n.db") <(dump "$d/sj.db") || bad "$name: --shard $n/$n -j 2 differs from --shard $n/$n"
        "$tw" merge -q -o "$d/m.db" $(for k in $(seq 1 "$n"); do echo "$d/s$k.db"; done) >"$d/merge.out" 2>&1 ||
            { bad "$name N=$n: merge failed: $(cat "$d/merge.out")"; continue; }
        dump "$d/m.db" >"$d/m.rows"
        if ! cmp -s "$d/one.rows" "$d/m.rows"; then
            bad "$name N=$n: merged shards differ from the one-pass rows:"
            diff "$d/one.rows" "$d/m.rows" | head -n 8
        fi
        reports "$d/m.db" >"$d/m.rep"
        if ! cmp -s "$d/one.rep" "$d/m.rep"; then
            bad "$name N=$n: a query report differs on the merged database:"
            diff "$d/one.rep" "$d/m.rep" | head -n 8
        fi
        [ "$(sqlite3 "$d/m.db" "SELECT count(*) || ' ' || count(DISTINCT capture_id) FROM merge_sources")" = "$n 1" ] ||
            bad "$name N=$n: merge_sources does not list the $n shards of one capture"
        [ "$(sqlite3 "$d/m.db" "SELECT count(*) FROM connections c LEFT JOIN merge_sources s
                ON s.id = c.merge_source AND s.capture_id = c.capture_id WHERE s.id IS NULL")" = 0 ] ||
            bad "$name N=$n: connections without their shard in merge_sources"
        "$tw" report "$d/m.db" -o "$d/m.html" >"$d/rep.out" 2>&1 && grep -q '</html>' "$d/m.html" ||
            bad "$name N=$n: report on the merged database: $(cat "$d/rep.out")"
    done
}

s=$src/samples
check "samples (one capture of 7 files)" "$s"/*.pcap
check "samples/late_data_reuse.pcap" "$s/late_data_reuse.pcap"
check "samples (--idle-timeout 1 --tw-seconds 1)" --idle-timeout 1 --tw-seconds 1 "$s"/*.pcap

if [ -f "$corpus/INDEX.tsv" ]; then
    for f in nDPI/alexa-app.pcapng nDPI/wechat.pcap tcptrace/fast_reuse.dmp.gz \
             suricata-verify/bug-7657-01/input.pcap nDPI/KakaoTalk_chat.pcap tcpreplay/test.pcap \
             arkime/gtp-iphone.pcap zeek/vlan-collisions.pcap suricata-verify/bug-1450-04/tls_DER-incomplete-header.pcap; do
        if [ -f "$corpus/$f" ]; then check "$f" "$corpus/$f"; else bad "corpus file $f missing"; fi
    done
    # short timeouts: connections expire (sweeps) mid-capture and packets come after,
    # so every shard and lane must see packet time move at the points a one-pass run does
    for f in nDPI/alexa-app.pcapng nDPI/wechat.pcap tcpreplay/test.pcap; do
        check "$f (--idle-timeout 5 --tw-seconds 2)" --idle-timeout 5 --tw-seconds 2 "$corpus/$f"
    done
else
    echo "PARTIAL-SKIP: corpus not found at $corpus (set TWSCOPE_CORPUS): samples only"
fi

# ---- refusals: one line, exit status, nothing left behind ---------------------------
d=$work/refuse; mkdir -p "$d"
one_line() { # WANT_RC WANT_TEXT CMD...: exit status, one line on stderr containing WANT_TEXT
    local want_rc=$1 want=$2 rc
    shift 2
    "$@" >"$d/out" 2>"$d/err"; rc=$?
    [ "$rc" = "$want_rc" ] || bad "$*: exit $rc, want $want_rc"
    [ "$(wc -l <"$d/err")" = 1 ] && grep -qF -- "$want" "$d/err" ||
        bad "$*: stderr '$(cat "$d/err")' is not one line with '$want'"
}
for v in 0/2 3/2 2 1/0 a/b 1/2x -1/2 1/1025; do
    one_line 2 "--shard: want K/N with 1 <= K <= N <= 1024" "$tw" analyze -q --shard "$v" -o "$d/x.db" "$s/rst_in_tw.pcap"
done
[ -e "$d/x.db" ] && bad "a refused --shard made a database"
one_line 2 "unknown option" "$tw" capture -i lo --shard 1/2 -o "$d/x.db"
one_line 2 "unknown option" "$tw" capture -i lo --jobs 2 -o "$d/x.db"
for v in 0 65 x; do
    one_line 2 "-j" "$tw" analyze -q -j "$v" -o "$d/x.db" "$s/rst_in_tw.pcap"
done
[ -e "$d/x.db" ] && bad "a refused -j made a database"
for k in 1 2; do "$tw" analyze -q --shard $k/2 -o "$d/h$k.db" "$s/rst_in_tw.pcap" || bad "analyze --shard $k/2"; done
"$tw" analyze -q --shard 1/3 -o "$d/t1.db" "$s/rst_in_tw.pcap" || bad "analyze --shard 1/3"
"$tw" analyze -q -o "$d/whole.db" "$s/rst_in_tw.pcap" || bad "analyze"
cp "$d/h1.db" "$d/h1copy.db"
sqlite3 "$d/foreign.db" "CREATE TABLE connections (a); PRAGMA user_version = 3"
cp "$d/whole.db" "$d/v9.db"; sqlite3 "$d/v9.db" "PRAGMA user_version = 9"
one_line 1 "foreign.db: not a twscope database" "$tw" merge -o "$d/o.db" "$d/h1.db" "$d/foreign.db"
one_line 1 "v9.db: database schema version 9" "$tw" merge -o "$d/o.db" "$d/v9.db"
one_line 1 "would count their connections twice" "$tw" merge -o "$d/o.db" "$d/h1.db" "$d/h1copy.db"
one_line 1 "would count their connections twice" "$tw" merge -o "$d/o.db" "$d/h1.db" "$d/t1.db"
one_line 1 "would count their connections twice" "$tw" merge -o "$d/o.db" "$d/whole.db" "$d/h2.db"
one_line 2 "given twice" "$tw" merge -o "$d/o.db" "$d/h1.db" "$d/h1.db"
one_line 1 "no such database" "$tw" merge -o "$d/o.db" "$d/missing.db"
one_line 2 "-o OUT.db is required" "$tw" merge "$d/h1.db"
ls "$d"/o.db* >/dev/null 2>&1 && bad "a refused merge left $(ls "$d"/o.db*)"
one_line 1 "already holds 1 capture(s)" "$tw" merge -o "$d/whole.db" "$d/h1.db"
: >"$d/empty.db"
one_line 1 "would count their connections twice" "$tw" merge -o "$d/empty.db" "$d/h1.db" "$d/h1copy.db"
[ -f "$d/empty.db" ] && [ ! -s "$d/empty.db" ] || bad "a refused merge did not leave the empty output empty"
# the sources are only read: not a byte changes, no -wal/-shm left beside them
before=$(cat "$d/h1.db" "$d/h2.db" | md5sum)
"$tw" merge -q -o "$d/ok.db" "$d/h1.db" "$d/h2.db" || bad "merge of 1/2 and 2/2"
[ "$(cat "$d/h1.db" "$d/h2.db" | md5sum)" = "$before" ] || bad "merge changed a source"
ls "$d"/h1.db-* "$d"/h2.db-* >/dev/null 2>&1 && bad "merge left files beside a source"
# a merged database is a source like any other (here: merged again with another capture)
"$tw" merge -q -o "$d/ok2.db" "$d/ok.db" "$d/t1.db" 2>"$d/err" && bad "merge of 1/2+2/2 with 1/3 of the same files accepted"
"$tw" analyze -q -o "$d/other.db" "$s/server_close.pcap" || bad "analyze server_close"
"$tw" merge -q -o "$d/ok3.db" "$d/ok.db" "$d/other.db" || bad "merge of a merged database with another"
[ "$(sqlite3 "$d/ok3.db" "SELECT group_concat(coalesce(shard, '-'), ' ') FROM captures ORDER BY id")" = "- -" ] ||
    bad "ok3.db captures: $(sqlite3 "$d/ok3.db" "SELECT id, shard FROM captures")"
# --overwrite empties a twscope database first
"$tw" merge -q --overwrite -o "$d/whole.db" "$d/h1.db" || bad "merge --overwrite"
[ "$(sqlite3 "$d/whole.db" "SELECT shard FROM captures")" = 1/2 ] || bad "merge --overwrite kept the old capture"

echo "t_shard: $cases inputs, each as 2 and 3 shards merged"
exit $fail
