#!/usr/bin/env bash
# Crash safety: kills the recorder -9 at random moments, N times, on one
# database, while another process reads it. After every kill:
#   - `PRAGMA integrity_check` (read-only) says ok;
#   - every sample the reader had seen is still there, same id, same time;
#   - the restarted recorder appended: its run row, once it said it began
#     (it prints "run N" after that commit), and samples, when it lived 1.5 s.
# The first half of the kills records without size pressure: every seen
# sample is checked. The second half records with --max-size 1536KiB, so every
# start prunes the oldest segments: a seen sample may be gone only if it is
# older than the oldest kept one. Every other kill comes early if a WAL
# checkpoint starts writing the database file before its time: that kill
# lands inside the checkpoint (the WAL index read after the kill tells when
# it did). Every start is a race: two recorders are started at once on the
# database, and the one that does not get the writer lock must exit 2 at
# once, naming the other, which is the one killed. Ends with one clean run
# (SIGTERM) and `flightrec check`, which decodes every snapshot frame: a
# sample garbled by two writers would show there.
# Everything lives in a temporary directory, removed on exit, even on Ctrl-C.
#
#   scripts/crash-loop.sh [--kills N] [--interval 100ms]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/survive.sh
. scripts/lib/survive.sh

kills=200 interval=100ms
while [ $# -gt 0 ]; do
    case "$1" in
        --kills) kills=$2; shift 2 ;;
        --interval) interval=$2; shift 2 ;;
        *) echo "usage: $0 [--kills N] [--interval 100ms]" >&2; exit 2 ;;
    esac
done
if ! [[ $kills =~ ^[0-9]+$ ]] || [ "$kills" -lt 2 ]; then
    echo "$0: --kills wants a number, at least 2" >&2
    exit 2
fi

need_root
need_packages sqlite3:sqlite3 python3:python3
find_flightrec

work=$(mktemp -d /tmp/flightrec-crash-loop.XXXXXX)
on_exit "rm -rf '$work'"
db=$work/flightrec.db
helpers=$PWD/scripts/survive

# One read-only query; empty output when the table is empty.
q() {
    sqlite3 -readonly -cmd ".timeout 10000" "$db" "$1"
}

# Modification time and size of the main database file: only a WAL
# checkpoint writes it.
db_stamp() {
    stat -c '%.9Y %s' "$db"
}

echo "first, a clean run to create $db..."
"$bin" record --db "$db" --interval "$interval" --reserve 1MiB 2>"$work/recorder.log" &
recorder=$!
# shellcheck disable=SC2016 # the recorder running at exit, not this one
on_exit 'stop_pid "$recorder" KILL'
sleep 1
stop_pid "$recorder"

python3 "$helpers/reader.py" "$db" "$work/seen" &
reader=$!
on_exit "stop_pid $reader KILL"
# shellcheck disable=SC2016 # the killer of the moment
on_exit 'stop_pid "${KILLER_PID:-}" KILL'

failures=() kill_times=()
fail() {
    failures+=("kill $k ($phase): $*")
    echo "  FAILURE at kill $k ($phase): $*"
}
integrity_ok=0 appended_runs=0 appended_samples=0 short_lived=0
pruned_starts=0 checkpoint_runs=0 at_checkpoint=0 interrupted=0 early_kills=0
races_refused=0
start=$(date +%s)

echo "killing the recorder -9 $kills times (interval $interval)..."
for ((k = 1; k <= kills; k++)); do
    if ((k <= kills / 2)); then
        phase=strict
        limits=(--reserve 1MiB)
        check_flags=()
    else
        phase=pruning
        limits=(--reserve 1MiB --max-size 1536KiB)
        check_flags=(--pruning)
    fi
    watch=()
    if ((k % 2 == 0)); then watch=(--at-checkpoint); fi
    runs_before=$(q "SELECT max(id) FROM runs")
    oldest_before=$(q "SELECT min(id) FROM samples")
    stamp_before=$(db_stamp)
    delay=$((50 + RANDOM % 1951))

    coproc KILLER { python3 "$helpers/killer.py" "$delay" "$db" "$stamp_before" "$reader" "${watch[@]}"; }
    read -r _ <&"${KILLER[0]}"
    started=$EPOCHREALTIME
    "$bin" record --db "$db" --interval "$interval" "${limits[@]}" 2>"$work/racer-a.log" &
    racer_a=$!
    "$bin" record --db "$db" --interval "$interval" "${limits[@]}" 2>"$work/racer-b.log" &
    racer_b=$!
    # The loser of the race for the writer lock exits at once; should
    # neither, the watchdog ends both after 10 s and the race fails.
    (sleep 10 && kill -9 "$racer_a" "$racer_b" 2>/dev/null) &
    watchdog=$!
    loser_status=0
    wait -n -p loser "$racer_a" "$racer_b" || loser_status=$?
    kill "$watchdog" 2>/dev/null || true
    wait "$watchdog" 2>/dev/null || true
    if [ "$loser" = "$racer_a" ]; then
        recorder=$racer_b loser_log=$work/racer-a.log winner_log=$work/racer-b.log
    else
        recorder=$racer_a loser_log=$work/racer-b.log winner_log=$work/racer-a.log
    fi
    if [ "$loser_status" = 2 ] && grep -q "(pid $recorder)" "$loser_log"; then
        races_refused=$((races_refused + 1))
    else
        fail "the recorder that lost the race exited $loser_status: $(tr '\n' ' ' <"$loser_log")"
    fi
    recorder_log=$winner_log
    echo "$recorder $started" >&"${KILLER[1]}"
    read -r how at_ms cut <&"${KILLER[0]}"
    wait "$KILLER_PID" 2>/dev/null || true
    wait "$recorder" 2>/dev/null || true
    if [ "$how" = checkpoint ]; then at_checkpoint=$((at_checkpoint + 1)); fi
    if [ "$cut" = interrupted ]; then interrupted=$((interrupted + 1)); fi
    if [ "$at_ms" -lt 300 ]; then early_kills=$((early_kills + 1)); fi
    kill_times+=("$at_ms")

    # 1. The file is sound.
    integrity=$(q "PRAGMA integrity_check" 2>&1 | head -5 | tr '\n' ' ')
    if [ "$integrity" = "ok " ]; then
        integrity_ok=$((integrity_ok + 1))
    else
        fail "integrity_check: $integrity"
    fi
    # 2. What the reader saw is still there.
    if ! seen=$(python3 "$helpers/seen_check.py" "$db" "$work/seen" "${check_flags[@]}"); then
        fail "seen samples: $seen"
    fi
    # 3. The restarted recorder appended.
    run=$((runs_before + 1))
    runs_after=$(q "SELECT max(id) FROM runs")
    said=$(grep -o '(run [0-9]*)' "$recorder_log" | tr -dc 0-9 || true)
    new_samples=$(q "SELECT count(*) FROM samples WHERE run_id = $run")
    if [ -n "$said" ]; then
        [ "$said" = "$run" ] || fail "the recorder said run $said, expected run $run"
        [ "$(q "SELECT count(*) FROM runs WHERE id = $said")" = 1 ] ||
            fail "run $said was committed (the recorder said so) but is gone"
    fi
    if [ "$runs_after" = "$run" ]; then
        appended_runs=$((appended_runs + 1))
    elif [ "$runs_after" != "$runs_before" ]; then
        fail "runs went from $runs_before to $runs_after in one start"
    fi
    if [ "$new_samples" -gt 0 ]; then
        appended_samples=$((appended_samples + 1))
    elif [ "$at_ms" -ge 1500 ]; then
        fail "run $run lived $at_ms ms at $interval and committed no sample"
    else
        short_lived=$((short_lived + 1))
    fi
    # What happened in this run, for the figures.
    oldest_after=$(q "SELECT min(id) FROM samples")
    if [ "${oldest_after:-0}" -gt "${oldest_before:-0}" ]; then pruned_starts=$((pruned_starts + 1)); fi
    if [ "$(db_stamp)" != "$stamp_before" ]; then checkpoint_runs=$((checkpoint_runs + 1)); fi

    if ((k % 20 == 0)); then
        echo "  $k kills, ${#failures[@]} failures; reader: $seen"
    fi
done
loop_seconds=$(($(date +%s) - start))

echo "a last, clean run: 2 s, then SIGTERM..."
runs_before=$(q "SELECT max(id) FROM runs")
"$bin" record --db "$db" --interval "$interval" --reserve 1MiB --max-size 1536KiB 2>"$work/recorder.log" &
recorder=$!
sleep 2
stop_pid "$recorder"
k=final phase=clean
last_run=$(q "SELECT id || ' ' || ifnull(stop_reason, 'none') FROM runs ORDER BY id DESC LIMIT 1")
[ "$last_run" = "$((runs_before + 1)) SIGTERM" ] || fail "the last run should be $((runs_before + 1)), stopped on SIGTERM; found $last_run"
[ "$(q "SELECT count(*) FROM samples WHERE run_id = $((runs_before + 1))")" -gt 0 ] || fail "the last run appended no sample"
sleep 0.2
stop_pid "$reader" KILL
if ! seen=$(python3 "$helpers/seen_check.py" "$db" "$work/seen" --pruning); then
    fail "seen samples: $seen"
fi
check_status=0
check_output=$("$bin" check --db "$db" 2>&1) || check_status=$?
[ "$check_status" = 0 ] || fail "flightrec check exited $check_status: $check_output"

written=$(q "SELECT max(id) FROM samples")
kept=$(q "SELECT count(*) FROM samples")
runs_kept=$(q "SELECT count(*) FROM runs")
runs_total=$(q "SELECT max(id) FROM runs")
unclean=$(q "SELECT count(*) FROM runs WHERE stop_ms IS NULL")
moments=$(printf '%s\n' "${kill_times[@]}" | sort -n |
    awk '{ v[NR] = $1 } END { printf "min %d ms, median %d ms, max %d ms", v[1], v[int((NR + 1) / 2)], v[NR] }')
reader_errors=$(wc -l <"$work/seen.errors" 2>/dev/null || echo 0)

echo
echo "crash loop: $kills × kill -9 in $loop_seconds s, one database, recording every $interval"
echo "  kills:                     $kills ($((kills / 2)) without size pressure, $((kills - kills / 2)) with --max-size 1536KiB)"
echo "    moments after start:     $moments"
echo "    within 300 ms of start:  $early_kills (opening, recovery, the first prune)"
echo "    at a checkpoint:         $at_checkpoint (killed as soon as a checkpoint wrote the database file)"
echo "    inside a checkpoint:     $interrupted (the WAL index shows a checkpoint begun and not finished)"
echo "  racing starts refused:     $races_refused of $kills (the second recorder exited 2 naming the first)"
echo "  integrity_check ok:        $integrity_ok of $kills"
echo "  concurrent reader:         $seen (read errors: $reader_errors)"
echo "  restarts that appended:    $appended_runs run rows, $appended_samples with samples ($short_lived killed before their first sample)"
echo "  starts that pruned:        $pruned_starts"
echo "  runs with a checkpoint:    $checkpoint_runs (the database file was written)"
echo "  samples written:           $written ($kept kept, the rest pruned for --max-size)"
echo "  runs:                      $runs_total ($runs_kept still referenced, $unclean without a clean stop)"
echo "  flightrec check:           exit $check_status: $(echo "$check_output" | tr '\n' ' ')"
echo "  failures:                  ${#failures[@]}"
echo
verdict "${failures[@]}"
