#!/usr/bin/env bash
# Power-cut safety, shown with strace: records N samples at 200 ms under
#   strace -f -tt -T -y -s 8 -x -e trace=fsync,fdatasync,sync_file_range,pwrite64,write,ftruncate,unlink...
# and checks, from the system calls themselves, SQLite's write-ahead-log
# protocol on the database (scripts/survive/fsync_trace.py reads the log):
#   - every transaction's commit frame is followed by an fsync/fdatasync of
#     the WAL before the recorder goes on: a commit that returned is on disk;
#   - every checkpoint syncs the WAL before it copies pages into the database
#     file, and syncs the database file before the WAL is reused, cut or
#     deleted: a power cut in the middle leaves either the old pages or the
#     WAL that replays them.
# --reserve 8MiB makes the first top-up of the reserve (8 MiB of free pages,
# committed through the WAL in 4 MiB steps like any other transaction, so
# they are counted and checked as commits) pass the 400-page
# auto-checkpoint, and SIGTERM's close checkpoints again, so checkpoints are
# seen in a short run.
# Everything lives in a temporary directory, removed on exit, even on Ctrl-C.
#
#   scripts/fsync-per-commit.sh [--samples N] [--keep-trace FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/survive.sh
. scripts/lib/survive.sh

samples=100 interval=200ms keep=
while [ $# -gt 0 ]; do
    case "$1" in
        --samples) samples=$2; shift 2 ;;
        --keep-trace) keep=$2; shift 2 ;;
        *) echo "usage: $0 [--samples N] [--keep-trace FILE]" >&2; exit 2 ;;
    esac
done
if ! [[ $samples =~ ^[0-9]+$ ]] || [ "$samples" -lt 1 ]; then
    echo "$0: --samples wants a positive number" >&2
    exit 2
fi

need_root
need_packages strace:strace sqlite3:sqlite3 python3:python3
find_flightrec

work=$(mktemp -d /tmp/flightrec-fsync.XXXXXX)
on_exit "rm -rf '$work'"
db=$work/flightrec.db
q() {
    sqlite3 -readonly -cmd ".timeout 10000" "$db" "$1"
}

# The database exists and is in WAL mode before the traced run, so the
# trace holds recording only, not the creation of the file.
echo "creating $db with a 1 s run..."
"$bin" record --db "$db" --interval "$interval" --reserve 1MiB 2>"$work/create.log" &
recorder=$!
# shellcheck disable=SC2016 # the recorder running at exit
on_exit 'stop_pid "$recorder" KILL'
sleep 1
stop_pid "$recorder"
run=$(($(q "SELECT max(id) FROM runs") + 1))

echo "recording $samples samples every $interval under strace..."
# The shell writes its pid and becomes the recorder, so the recorder itself
# gets the SIGTERM (strace -o holds fatal signals off itself).
# shellcheck disable=SC2016 # $$ and $@ are the inner shell's
strace -f -tt -T -y -s 8 -x -o "$work/trace" \
    -e trace=fsync,fdatasync,sync_file_range,pwrite64,pwritev,pwritev2,write,ftruncate,unlink,unlinkat \
    sh -c 'echo $$ > "$1"; shift; exec "$@"' sh "$work/recorder.pid" \
    "$bin" record --db "$db" --interval "$interval" --reserve 8MiB 2>"$work/recorder.log" &
tracer=$!
on_exit "stop_pid $tracer KILL"
for _ in $(seq 50); do
    [ -s "$work/recorder.pid" ] && break
    sleep 0.1
done
recorder=$(cat "$work/recorder.pid")
deadline=$((SECONDS + samples + 30))
while [ "$(q "SELECT count(*) FROM samples WHERE run_id = $run" 2>/dev/null || echo 0)" -lt "$samples" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "$0: the recorder did not write $samples samples in time; its log:" >&2
        cat "$work/recorder.log" >&2
        exit 1
    fi
    sleep 0.2
done
kill -TERM "$recorder"
for _ in $(seq 100); do
    kill -0 "$tracer" 2>/dev/null || break
    sleep 0.1
done
wait "$tracer" 2>/dev/null || true
if [ -n "$keep" ]; then cp "$work/trace" "$keep"; fi

committed=$(q "SELECT count(*) FROM samples WHERE run_id = $run")
stopped=$(q "SELECT ifnull(stop_reason, 'none') FROM runs WHERE id = $run")
analysis_status=0
python3 scripts/survive/fsync_trace.py "$work/trace" "$db" >"$work/analysis" || analysis_status=$?
declare -A got
while read -r name value; do got[$name]=$value; done <"$work/analysis"
for name in commits commits_synced wal_syncs wal_restarts wal_truncations checkpoints \
    checkpoints_wal_synced_first checkpoints_db_synced_after sync_ms_mean sync_ms_max unsynced_commit_lines; do
    got[$name]=${got[$name]:-0}
done
per_sample=$(awk -v s="${got[wal_syncs]}" -v n="$committed" 'BEGIN { printf "%.2f", n ? s / n : 0 }')
other=$((got[commits] - committed))

echo
echo "fsync per commit: $committed samples at $interval (run $run, stopped on $stopped), traced with strace"
echo "  transactions committed:        ${got[commits]} (WAL frames marked as a commit: $committed samples, $other others: the run row, events, reserve, stop)"
echo "  followed by a WAL sync:        ${got[commits_synced]} of ${got[commits]} (fsync/fdatasync of the -wal before the next write)"
echo "  WAL syncs:                     ${got[wal_syncs]}, ${per_sample} per committed sample; mean ${got[sync_ms_mean]} ms, max ${got[sync_ms_max]} ms"
echo "  checkpoints:                   ${got[checkpoints]} (runs of writes to the database file)"
echo "    WAL synced before copying:   ${got[checkpoints_wal_synced_first]} of ${got[checkpoints]}"
echo "    database synced after, before the WAL was reused, cut or deleted: ${got[checkpoints_db_synced_after]} of ${got[checkpoints]}"
echo "  WAL restarts / truncations:    ${got[wal_restarts]} / ${got[wal_truncations]}"
echo
echo "Why a power cut loses no committed sample: with journal_mode=WAL and"
echo "synchronous=FULL, SQLite appends a transaction's pages to the -wal file"
echo "and fsyncs it before the commit returns; a reader or the next recorder"
echo "replays the WAL, whose frames carry checksums and a commit mark, so a"
echo "torn tail is ignored and every synced commit is found. A checkpoint"
echo "copies WAL pages into the database only after the WAL is synced, and"
echo "syncs the database before the WAL may be overwritten: cut at any point,"
echo "the pages are either still in the WAL or already safe in the database."
echo

failures=()
[ "$committed" -ge "$samples" ] || failures+=("only $committed samples committed, expected $samples")
[ "$stopped" = SIGTERM ] || failures+=("the traced run was not stopped cleanly (stop reason: $stopped)")
[ "${got[commits]}" -ge "$committed" ] || failures+=("fewer commit frames (${got[commits]}) than samples ($committed): the trace is incomplete")
[ "${got[commits_synced]}" = "${got[commits]}" ] ||
    failures+=("$((got[commits] - got[commits_synced])) commits were not followed by a WAL sync (trace lines ${got[unsynced_commit_lines]})")
awk -v p="$per_sample" 'BEGIN { exit !(p >= 1) }' || failures+=("fewer than one WAL sync per sample ($per_sample)")
[ "${got[checkpoints]}" -ge 1 ] || failures+=("no checkpoint was seen")
[ "${got[checkpoints_wal_synced_first]}" = "${got[checkpoints]}" ] ||
    failures+=("a checkpoint copied pages before the WAL was synced")
[ "${got[checkpoints_db_synced_after]}" = "${got[checkpoints]}" ] ||
    failures+=("a checkpoint left the database unsynced before the WAL was reused")
[ "$analysis_status" = 0 ] || [ ${#failures[@]} -gt 0 ] || failures+=("the trace analysis failed (exit $analysis_status)")
verdict "${failures[@]}"
