#!/usr/bin/env bash
# Stalled disk: commits block while sampling goes on. The database lives on
# a small ext4 image, loop-mounted, that `fsfreeze --freeze` stops: every
# write to it, the recorder's commits included, blocks until `--unfreeze`
# (SIGSTOP would stop the sampling too: it stops the whole process).
#   1. --interval 200ms, frozen 30 s (150 samples, far within the queue's
#      64 MiB): after the thaw every tick of the freeze is in the file.
#   2. --interval 200ms, frozen 60 s, with 800 extra processes whose command
#      lines are 250 bytes long (300 samples of about 0.5 MiB each, well past
#      the queue's 64 MiB): the newest samples that fit are kept, the older
#      ones are counted and stored as a `samples-dropped` event
#      (`flightrec export --what events`), none unaccounted for. A tick
#      whose collection outlasts the interval skips the next (no sample is
#      taken for it): those seen among the kept samples are counted, and as
#      many in proportion allowed among the dropped.
#   3. --interval 200ms, another connection holds `BEGIN EXCLUSIVE` for 25 s:
#      commits fail with SQLITE_BUSY after the 10 s busy timeout and are
#      retried; after the release every tick is in the file.
# The file is never read while frozen (a reader would block too). Everything
# is thawed, stopped, unmounted and removed on exit, even on Ctrl-C; should
# this script be killed -9 mid-freeze, `fsfreeze -u` the mount it names.
# On failure the recorder's log is printed.
#
#   scripts/stalled-disk.sh [--freeze SECONDS] [--overflow SECONDS] [--lock SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/survive.sh
. scripts/lib/survive.sh

freeze=30 overflow=60 lock=25
while [ $# -gt 0 ]; do
    case "$1" in
        --freeze) freeze=$2; shift 2 ;;
        --overflow) overflow=$2; shift 2 ;;
        --lock) lock=$2; shift 2 ;;
        *) echo "usage: $0 [--freeze SECONDS] [--overflow SECONDS] [--lock SECONDS]" >&2; exit 2 ;;
    esac
done
for n in "$freeze" "$overflow" "$lock"; do
    if ! [[ $n =~ ^[0-9]+$ ]] || [ "$n" -lt 1 ] || [ "$n" -gt 600 ]; then
        echo "$0: durations are whole seconds, 1 to 600" >&2
        exit 2
    fi
done

need_root
need_packages mkfs.ext4:e2fsprogs fsfreeze:util-linux sqlite3:sqlite3 python3:python3
find_flightrec

work=$(mktemp -d /tmp/flightrec-stalled.XXXXXX)
on_exit "rm -rf '$work'"
mnt=$work/mnt
mkdir "$mnt"
truncate -s 128M "$work/disk.img"
mkfs.ext4 -q -F "$work/disk.img"
mount -o loop "$work/disk.img" "$mnt"
on_exit "umount '$mnt' 2>/dev/null || umount -l '$mnt'"
recorder=
# shellcheck disable=SC2016 # the recorder running at exit
on_exit '[ -z "$recorder" ] || stop_pid "$recorder" KILL'
# Registered last, so run first: nothing can stop while the disk is frozen.
on_exit "fsfreeze --unfreeze '$mnt' 2>/dev/null"
db=$mnt/flightrec.db
echo "database on a loop-mounted ext4 image at $mnt"

q() {
    sqlite3 -readonly -cmd ".timeout 20000" "$db" "$1"
}

start_recorder() {
    "$bin" record --db "$db" --interval "$1" --reserve 4MiB 2>>"$work/recorder.log" &
    recorder=$!
    # Warm up: samples of this recorder's run flowing before anything is
    # done to the disk. The run is found by its pid: until the recorder has
    # opened the file, the newest run is the previous case's, and a stall
    # begun then would stop the recorder's start, not its commits.
    local i
    for ((i = 0; i < 100; i++)); do
        [ -f "$db" ] && [ "$(q "SELECT count(*) FROM samples WHERE run_id = (SELECT max(id) FROM runs WHERE pid = $recorder)" 2>/dev/null || echo 0)" -ge 10 ] && return
        sleep 0.2
    done
    echo "$0: the recorder wrote nothing in 20 s; its log:" >&2
    cat "$work/recorder.log" >&2
    exit 1
}

# wait_committed MS: until a sample taken after MS is in the file (the queue
# has drained), at most 60 s.
wait_committed() {
    local i
    for ((i = 0; i < 300; i++)); do
        [ "$(q "SELECT count(*) FROM samples WHERE time_ms > $1")" -gt 0 ] && return
        sleep 0.2
    done
    failures+=("nothing taken after the stall was committed within 60 s")
}

# measure NAME FROM_MS TO_MS INTERVAL_MS: figures of the stall, read after it.
declare -A fig
measure() {
    local name=$1 from=$2 to=$3 every=$4
    fig[$name.ticks]=$(((to - from) / every))
    fig[$name.kept]=$(q "SELECT count(*) FROM samples WHERE time_ms >= $from AND time_ms < $to")
    fig[$name.gap]=$(q "SELECT ifnull(max(next - time_ms), 0) FROM (SELECT time_ms, lead(time_ms) OVER (ORDER BY id) AS next
                         FROM samples WHERE time_ms >= $from AND time_ms < $to)")
    fig[$name.late]=$(q "SELECT ifnull(max(lateness_ms), 0) FROM samples WHERE time_ms >= $from AND time_ms < $to")
    fig[$name.first]=$(q "SELECT ifnull(min(time_ms), $from) - $from FROM samples WHERE time_ms >= $from AND time_ms < $to")
    fig[$name.dropped]=$(q "SELECT ifnull(sum(CAST(detail AS INTEGER)), 0) FROM events
                            WHERE kind = 'samples-dropped' AND time_ms >= $from")
    fig[$name.events]=$(q "SELECT count(*) FROM events WHERE kind = 'samples-dropped' AND time_ms >= $from")
}

failures=()

echo
echo "1. recording every 200ms; freezing the filesystem for ${freeze}s..."
start_recorder 200ms
a0=$(now_ms)
fsfreeze --freeze "$mnt"
pause "$freeze"
a1=$(now_ms)
fsfreeze --unfreeze "$mnt"
wait_committed "$a1"
measure a "$a0" "$a1" 200
stop_pid "$recorder"

# Processes with long command lines make each sample of case 2 big: the
# queue's 64 MiB then holds well under the freeze's ticks.
fillers=()
# shellcheck disable=SC2016 # the fillers running at exit
on_exit '[ ${#fillers[@]} -eq 0 ] || kill "${fillers[@]}" 2>/dev/null'
start_fillers() {
    local name i
    name=flightrec-stalled-filler-$(printf 'x%.0s' {1..224})
    for ((i = 0; i < 800; i++)); do
        (exec -a "$name" sleep 600) &
        fillers+=($!)
    done
}

echo "2. recording every 200ms beside 800 more processes; freezing the filesystem for ${overflow}s (the queue holds 64 MiB)..."
start_fillers
start_recorder 200ms
b0=$(now_ms)
fsfreeze --freeze "$mnt"
pause "$overflow"
b1=$(now_ms)
fsfreeze --unfreeze "$mnt"
wait_committed "$b1"
sleep 1
measure b "$b0" "$b1" 200
# Steps longer than 4.5 intervals between kept samples: one is expected,
# between the sample the writer held when the disk froze and the oldest
# of the newest that fit.
fig[b.holes]=$(q "SELECT count(*) FROM (SELECT lead(time_ms) OVER (ORDER BY id) - time_ms AS step
                   FROM samples WHERE time_ms >= $b0 AND time_ms < $b1) WHERE step > 900")
# Ticks skipped after each kept sample, as the recorder's schedule does:
# one per whole interval it fired late.
fig[b.skipped]=$(q "SELECT ifnull(sum(lateness_ms / 200), 0) FROM samples WHERE time_ms >= $b0 AND time_ms < $b1")
# Through the reader: the store keeps most figures against their key frame.
fig[b.processes]=$("$bin" export --db "$db" --what system --format csv \
    --from "@$((b0 / 1000))" --to "@$((b1 / 1000))" |
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "processes") c = i; next }
             $c > max { max = $c } END { print max + 0 }')
stop_pid "$recorder"
kill "${fillers[@]}" 2>/dev/null
fillers=()
exported=$("$bin" export --db "$db" --what events --from "@$((b0 / 1000))" | grep -c samples-dropped || true)
export_line=$("$bin" export --db "$db" --what events --from "@$((b0 / 1000))" | grep -m1 samples-dropped || true)

echo "3. recording every 200ms; another connection holds BEGIN EXCLUSIVE for ${lock}s..."
start_recorder 200ms
python3 - "$db" "$lock" <<'PY' &
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
time.sleep(int(sys.argv[2]))
conn.execute("ROLLBACK")
PY
locker=$!
on_exit "stop_pid $locker KILL"
sleep 0.5 # the lock is taken
c0=$(now_ms)
wait "$locker" || failures+=("the connection holding the lock failed")
c1=$(now_ms)
wait_committed "$c1"
measure c "$c0" "$c1" 200
stop_pid "$recorder"
recorder=
busy_warnings=$(grep -c 'database is locked' "$work/recorder.log" || true)

integrity=$(q "PRAGMA integrity_check")
check_status=0
"$bin" check --db "$db" >/dev/null 2>&1 || check_status=$?

echo
echo "stalled disk: the database on a frozen filesystem, then behind a held lock"
printf '  %-34s %10s %10s %10s\n' "" "1. freeze" "2. freeze" "3. lock"
printf '  %-34s %10s %10s %10s\n' "stall" "${freeze}s" "${overflow}s" "${lock}s"
printf '  %-34s %10s %10s %10s\n' "interval" 200ms 200ms 200ms
printf '  %-34s %10s %10s %10s\n' "ticks during the stall (expected)" "${fig[a.ticks]}" "${fig[b.ticks]}" "${fig[c.ticks]}"
printf '  %-34s %10s %10s %10s\n' "taken then, committed after" "${fig[a.kept]}" "${fig[b.kept]}" "${fig[c.kept]}"
printf '  %-34s %10s %10s %10s\n' "dropped (samples-dropped events)" "${fig[a.dropped]} (${fig[a.events]})" "${fig[b.dropped]} (${fig[b.events]})" "${fig[c.dropped]} (${fig[c.events]})"
printf '  %-34s %10s %10s %10s\n' "first kept, ms into the stall" "${fig[a.first]}" "${fig[b.first]}" "${fig[c.first]}"
printf '  %-34s %10s %10s %10s\n' "largest step between kept, ms" "${fig[a.gap]}" "${fig[b.gap]}" "${fig[c.gap]}"
printf '  %-34s %10s %10s %10s\n' "worst tick lateness, ms" "${fig[a.late]}" "${fig[b.late]}" "${fig[c.late]}"
echo "  2: ${fig[b.skipped]} ticks skipped after kept samples (collection outlasted the interval)"
echo "  2: ${fig[b.processes]} processes per sample; 64 MiB held about $((${fig[b.kept]} - 1)) of them (≈$((65536 / (${fig[b.kept]} > 1 ? ${fig[b.kept]} - 1 : 1))) KiB each)"
echo "  busy commits retried in 3 (warnings in the recorder's log, rate-limited): $busy_warnings"
echo "  export --what events: $exported samples-dropped row(s), e.g. ${export_line:-none}"
echo "  integrity_check: $integrity; flightrec check: exit $check_status"
echo

# Within the queue: every tick kept (±2 for where the stall's edges fall).
for p in a c; do
    [ "$((${fig[$p.ticks]} - ${fig[$p.kept]}))" -le 2 ] || failures+=("stall $p: ${fig[$p.kept]} of ${fig[$p.ticks]} ticks kept")
    [ "${fig[$p.dropped]}" = 0 ] || failures+=("stall $p: ${fig[$p.dropped]} dropped within the queue's bound")
    [ "${fig[$p.gap]}" -le 450 ] || failures+=("stall $p: a hole of ${fig[$p.gap]} ms between kept samples")
done
# Past it: the newest that fit kept, the rest counted, nothing unaccounted for.
[ "${fig[b.kept]}" -lt "${fig[b.ticks]}" ] || failures+=("stall b: all ${fig[b.kept]} kept: the queue did not overflow")
[ "${fig[b.kept]}" -ge 20 ] || failures+=("stall b: only ${fig[b.kept]} kept of ${fig[b.ticks]} ticks")
[ "${fig[b.holes]}" -le 1 ] || failures+=("stall b: ${fig[b.holes]} holes between kept samples: not the newest kept")
if [ "${fig[b.dropped]}" -eq 0 ] || [ "${fig[b.events]}" -eq 0 ]; then
    failures+=("stall b: no samples-dropped event")
fi
unaccounted=$((${fig[b.ticks]} - ${fig[b.kept]} - ${fig[b.dropped]}))
skipped_allowed=$((${fig[b.skipped]} * ${fig[b.ticks]} / (${fig[b.kept]} > 0 ? ${fig[b.kept]} : 1)))
[ "${unaccounted#-}" -le $((3 + skipped_allowed)) ] || failures+=("stall b: $unaccounted ticks neither kept nor counted as dropped")
[ "$exported" -gt 0 ] || failures+=("export --what events shows no samples-dropped")
for p in a b c; do
    [ "${fig[$p.late]}" -lt 1000 ] || failures+=("stall $p: sampling ran ${fig[$p.late]} ms late during the stall")
done
[ "$integrity" = ok ] || failures+=("integrity_check: $integrity")
[ "$check_status" = 0 ] || failures+=("flightrec check exited $check_status")
if [ ${#failures[@]} -gt 0 ]; then
    echo "the recorder's log:"
    sed 's/^/  /' "$work/recorder.log"
fi
verdict "${failures[@]}"
