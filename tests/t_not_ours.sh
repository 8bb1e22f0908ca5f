#!/usr/bin/env bash
# Nothing lost that is not ours (issue 16), end to end with the real binary:
#  - another program's SQLite database (a table named connections and
#    user_version 2, the issue's case; the same in WAL mode; another
#    application_id) is refused by analyze, with and without --overwrite, with
#    one line and exit 1, and keeps every byte, its journal mode, and gets no
#    -wal/-shm/-journal file; query and report refuse it too;
#  - a database of an older twscope (our tables, no application_id) is refused
#    by analyze with its own message, and still read by query;
#  - --overwrite still empties a database of ours;
#  - `report -o` replaces an empty file or a report of ours (with the marker
#    line, or as reports began before it), and leaves any other file, a
#    directory, a symbolic link and a FIFO as they are (exit 1, one line);
#  - `annotate -o` and `capture -w` replace an empty file or a pcapng file of
#    ours (our shb_userappl, or the section comment annotate adds to a copied
#    section header) and nothing else; `merge -o` none but databases of ours;
#  - a capture truncated (copytruncate) while analyze waits for the database
#    lock ends in the "shrank" error, exit 1, the capture row complete = 0 with
#    that error, and the database passes integrity_check.
# Usage: t_not_ours.sh TWSCOPE SOURCE_DIR BUILD_DIR   (exit 77 = skipped)
set -u
tw=$1 src=$2
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 command-line tool missing"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
s=$src/samples/final_ack_lost.pcap
[ -f "$s" ] || { echo "SKIP: $s missing"; exit 77; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
sum() { sha256sum "$1" | cut -d' ' -f1; }
# run CMD... expecting exit 1 and one line on stderr containing WANT
refused() {
    local want=$1; shift
    "$@" >"$work/out" 2>"$work/err"
    local rc=$? lines
    lines=$(wc -l <"$work/err")
    [ $rc = 1 ] || bad "$* exited $rc, want 1"
    [ "$lines" = 1 ] || bad "$*: $lines lines on stderr, want 1: $(cat "$work/err")"
    grep -qF -- "$want" "$work/err" || bad "$*: stderr '$(cat "$work/err")' lacks '$want'"
}
no_side_files() {
    for x in -wal -shm -journal; do [ -e "$1$x" ] && bad "$1$x appeared"; done
}

# ---- other programs' databases -------------------------------------------------
i=0
for sql in "CREATE TABLE connections(a, b); INSERT INTO connections VALUES (1, 'keep'); PRAGMA user_version = 2;" \
           "PRAGMA journal_mode = WAL; CREATE TABLE connections(a, b); INSERT INTO connections VALUES (1, 2); PRAGMA user_version = 2;" \
           "PRAGMA application_id = 1234; CREATE TABLE findings(x);"; do
    i=$((i + 1))
    db=$work/other$i.db
    sqlite3 "$db" "$sql" >/dev/null || { bad "sqlite3 $sql"; continue; }
    before=$(sum "$db") mode=$(sqlite3 "$db" "PRAGMA journal_mode")
    refused "not a twscope database" "$tw" analyze -q --overwrite -o "$db" "$s"
    refused "not a twscope database" "$tw" analyze -q -o "$db" "$s"
    refused "not a twscope database" "$tw" query "$db" summary
    refused "not a twscope database" "$tw" report "$db" -o "$work/other$i.html"
    [ "$(sum "$db")" = "$before" ] || bad "other$i.db changed"
    no_side_files "$db"
    [ -e "$work/other$i.html" ] && bad "report of other$i.db wrote a file"
    [ "$(sqlite3 "$db" "PRAGMA journal_mode")" = "$mode" ] || bad "other$i.db journal mode changed"
done
[ "$(sqlite3 "$work/other1.db" "SELECT b FROM connections")" = keep ] || bad "other1.db lost its row"

# ---- an older twscope's database, and one of ours ------------------------------
db=$work/older.db
"$tw" analyze -q -o "$db" "$s" || bad "analyze into a new database"
[ "$(sqlite3 "$db" "PRAGMA application_id")" = 1953985379 ] || bad "new database without our application_id"
# what the previous twscope made: schema version 2, no application_id
sqlite3 "$db" "PRAGMA application_id = 0; PRAGMA user_version = 2; ALTER TABLE connections DROP COLUMN after_close; ALTER TABLE connections DROP COLUMN capture_dups; ALTER TABLE connections DROP COLUMN vantage_dups; ALTER TABLE connections DROP COLUMN closer_evidence; ALTER TABLE connections DROP COLUMN closer_rule; ALTER TABLE connections DROP COLUMN closer_frames; ALTER TABLE time_waits DROP COLUMN side_evidence; ALTER TABLE time_waits DROP COLUMN start_evidence; ALTER TABLE time_waits DROP COLUMN start_rule; ALTER TABLE time_waits DROP COLUMN end_evidence; ALTER TABLE time_waits DROP COLUMN end_rule; ALTER TABLE captures DROP COLUMN shard; ALTER TABLE connections DROP COLUMN merge_source" >/dev/null
before=$(sum "$db")
refused "made by an older twscope (no application_id); delete it or use another -o" \
    "$tw" analyze -q --overwrite -o "$db" "$s"
[ "$(sum "$db")" = "$before" ] || bad "older.db changed"
"$tw" query "$db" summary >/dev/null || bad "query of an older twscope's database"

db=$work/ours.db
"$tw" analyze -q -o "$db" "$s" && "$tw" analyze -q --append -o "$db" "$s" || bad "analyze twice"
"$tw" analyze -q --overwrite -o "$db" "$s" || bad "analyze --overwrite of our database"
[ "$(sqlite3 "$db" "SELECT count(*) FROM captures")" = 1 ] || bad "--overwrite kept old captures"

# ---- report -o ------------------------------------------------------------------
r=$work/r.html
"$tw" report "$db" -o "$r" || bad "report"
sed -n 2p "$r" | grep -q '^<!-- twscope report: ' || bad "report without its marker line"
"$tw" report "$db" -o "$r" || bad "report over its own report"
sed 2d "$r" >"$work/older.html"        # how reports began before the marker
"$tw" report "$db" -o "$work/older.html" || bad "report over an older report"
: >"$work/empty.html"
"$tw" report "$db" -o "$work/empty.html" && [ -s "$work/empty.html" ] || bad "report over an empty file"
printf '<!DOCTYPE html>\n<html><body>my notes</body></html>\n' >"$work/notes.html"
before=$(sum "$work/notes.html")
refused "notes.html: exists and is not a twscope report; left as it is, use another -o" \
    "$tw" report "$db" -o "$work/notes.html"
[ "$(sum "$work/notes.html")" = "$before" ] || bad "notes.html changed"
mkdir "$work/dir.html"
refused "is a directory" "$tw" report "$db" -o "$work/dir.html"
ln -s "$r" "$work/link.html"
refused "is a symbolic link" "$tw" report "$db" -o "$work/link.html"
[ -L "$work/link.html" ] || bad "link.html replaced"
mkfifo "$work/fifo.html"
refused "is not a regular file" "$tw" report "$db" -o "$work/fifo.html"
[ -p "$work/fifo.html" ] || bad "fifo.html replaced"
ls "$work" | grep -q '\.tmp' && bad "a temporary report was left: $(ls "$work")"

# ---- annotate -o, capture -w, merge -o ----------------------------------------------
# the same rule for every output named by the user: missing, empty or ours
a=$work/a.pcapng
"$tw" annotate "$db" -o "$a" 2>/dev/null || bad "annotate"
"$tw" annotate "$db" -o "$a" 2>/dev/null || bad "annotate over its own output"
: >"$work/empty.pcapng"
"$tw" annotate "$db" -o "$work/empty.pcapng" 2>/dev/null && [ -s "$work/empty.pcapng" ] ||
    bad "annotate over an empty file"
# a pcapng source keeps its section header; ours is then marked by a section comment
for order in little big; do
    python3 "$src/tests/lib/mkpcapng.py" "$s" "$work/src.pcapng" $([ $order = big ] && echo --big-endian)
    rm -f "$work/ng.db"* "$work/ng.pcapng"
    "$tw" analyze -q -o "$work/ng.db" "$work/src.pcapng" || bad "analyze src.pcapng ($order-endian)"
    "$tw" annotate "$work/ng.db" -o "$work/ng.pcapng" 2>/dev/null &&
        "$tw" annotate "$work/ng.db" -o "$work/ng.pcapng" 2>/dev/null ||
        bad "annotate over its own output of a $order-endian pcapng source"
done
printf 'my notes\n' >"$work/notes.txt"
cp "$work/src.pcapng" "$work/theirs.pcapng"    # a pcapng file someone else wrote
for f in notes.txt theirs.pcapng; do
    before=$(sum "$work/$f")
    refused "$f: exists and is not a pcapng file twscope wrote; left as it is, use another -o" \
        "$tw" annotate "$db" -o "$work/$f"
    [ "$(sum "$work/$f")" = "$before" ] || bad "annotate changed $f"
    refused "-w $work/$f: exists and is not a pcapng file twscope wrote; left as it is, use another -w" \
        "$tw" capture -i lo --duration 1 -o "$work/cap.db" -w "$work/$f"
    [ "$(sum "$work/$f")" = "$before" ] || bad "capture -w changed $f"
done
[ -e "$work/cap.db" ] && bad "capture -w refused but made its database"
mkfifo "$work/fifo.pcapng"
refused "is not a regular file" "$tw" annotate "$db" -o "$work/fifo.pcapng"
refused "is not a regular file" "$tw" capture -i lo --duration 1 -o "$work/cap.db" -w "$work/fifo.pcapng"
ln -s "$a" "$work/link.pcapng"
refused "is a symbolic link" "$tw" annotate "$db" -o "$work/link.pcapng"
[ -L "$work/link.pcapng" ] || bad "link.pcapng replaced"
ls "$work" | grep -q 'twscope-tmp' && bad "a temporary pcapng was left: $(ls "$work")"
before=$(sum "$work/notes.txt")
"$tw" merge -q -o "$work/notes.txt" "$db" >/dev/null 2>&1 && bad "merge -o over notes.txt succeeded"
[ "$(sum "$work/notes.txt")" = "$before" ] || bad "merge changed notes.txt"

# ---- a capture truncated while analyze waits for the database lock ---------------
db=$work/lock.db
"$tw" analyze -q -o "$db" "$s" || bad "analyze into lock.db"
cp "$s" "$work/rotated.pcap"
python3 - "$db" <<'EOF' &
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
time.sleep(2.5)
c.execute("COMMIT")
EOF
locker=$!
sleep 0.5
"$tw" analyze -q --append -o "$db" "$work/rotated.pcap" 2>"$work/rot.err" &
twpid=$!
sleep 1
: >"$work/rotated.pcap"                # what logrotate's copytruncate does
wait $twpid; rc=$?
wait $locker
[ $rc = 1 ] || bad "analyze of a capture truncated while waiting exited $rc, want 1 ($(cat "$work/rot.err"))"
grep -q "rotated.pcap: the file shrank while being read" "$work/rot.err" || bad "no 'shrank' error: $(cat "$work/rot.err")"
[ "$(sqlite3 "$db" "SELECT complete, error LIKE '%rotated.pcap: the file shrank%' FROM captures WHERE id = 2")" = "0|1" ] ||
    bad "capture 2 not marked incomplete with the error: $(sqlite3 "$db" "SELECT * FROM captures WHERE id = 2")"
[ "$(sqlite3 "$db" "PRAGMA integrity_check")" = ok ] || bad "lock.db damaged"

[ $fails = 0 ] && echo "PASS" || echo "$fails failure(s)"
[ $fails = 0 ]
