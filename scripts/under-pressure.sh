#!/usr/bin/env bash
# Under pressure: while the recorder samples every second, four hogs run one
# after the other, each for ~20 s and bounded in size:
#   - a fork storm inside a pids-limited cgroup (pids.max 1000): children
#     named "forkstorm", forked until the limit refuses more;
#   - a memory hog, "memhog": 60% of MemAvailable, allocated and touched;
#   - an fd hog, "fdhog": 20,000 descriptors on /dev/null (fewer if the hard
#     limit is lower and cannot be raised);
#   - a CPU hog: two busy loops, "cpuhog".
# Then `flightrec report --at now --window 3m` must name each hog, and the
# recorder must not have missed ticks beyond the stalls the machine really
# had (a stall meter, sleeping 100 ms at a time, measures those). A hog the
# export shows but the report does not name is a detector gap: printed with
# both sides, and with what a report ending while the hog still ran said.
# Other load on the machine shows in the report too: hogs are recognised by
# their names, or by a machine-wide finding timed within their phase.
# Hogs, cgroup and files are removed on exit, even on Ctrl-C.
#
#   scripts/under-pressure.sh [--seconds N] [--memory FRACTION] [--fds N] [--pids N]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/survive.sh
. scripts/lib/survive.sh

seconds=20 memory=0.6 fds=20000 pids=1000
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds=$2; shift 2 ;;
        --memory) memory=$2; shift 2 ;;
        --fds) fds=$2; shift 2 ;;
        --pids) pids=$2; shift 2 ;;
        *) echo "usage: $0 [--seconds N] [--memory FRACTION] [--fds N] [--pids N]" >&2; exit 2 ;;
    esac
done
if ! [[ $seconds =~ ^[0-9]+$ && $fds =~ ^[0-9]+$ && $pids =~ ^[0-9]+$ && $memory =~ ^0?\.[0-9]+$ ]] ||
    [ "$seconds" -lt 5 ] || [ "$seconds" -gt 40 ] || [ "$fds" -gt 100000 ] || [ "$pids" -gt 5000 ] ||
    awk -v m="$memory" 'BEGIN { exit !(m > 0.8) }'; then
    echo "$0: --seconds 5..40 (the hogs and the quiet start must fit the 3m window), --memory ≤ 0.8, --fds ≤ 100000, --pids ≤ 5000" >&2
    exit 2
fi

need_root
need_packages python3:python3
find_flightrec

work=$(mktemp -d /tmp/flightrec-pressure.XXXXXX)
on_exit "rm -rf '$work'"
db=$work/flightrec.db
hog=$PWD/scripts/survive/hog.py
ln -s "$(command -v sleep)" "$work/forkstorm"
: >"$work/phases"
: >"$work/stalls"

# The pids controller: cgroup v1 here (mount | grep cgroup), else v2 if
# it offers pids, else the storm caps itself.
cgroup='' procs='' limit_note=''
if [ -f /sys/fs/cgroup/pids/cgroup.procs ]; then
    cgroup=/sys/fs/cgroup/pids/flightrec-storm-$$
elif [ -f /sys/fs/cgroup/cgroup.controllers ] && grep -qw pids /sys/fs/cgroup/cgroup.subtree_control; then
    cgroup=/sys/fs/cgroup/flightrec-storm-$$
fi
if [ -n "$cgroup" ]; then
    mkdir "$cgroup"
    on_exit "rmdir '$cgroup'"
    # Every process left in it, killed by pid, until it is empty (≤ 10 s).
    on_exit "for _ in \$(seq 100); do [ -n \"\$(cat '$cgroup/cgroup.procs')\" ] || break; xargs -r kill -9 <'$cgroup/cgroup.procs' 2>/dev/null; sleep 0.1; done"
    echo "$pids" >"$cgroup/pids.max"
    procs=$cgroup/cgroup.procs
    limit_note="pids cgroup $cgroup, pids.max $pids"
    cap=$((pids * 5))
else
    limit_note="no pids controller: the storm stops itself at $pids children"
    cap=$pids
fi

started=()
# SIGTERM first: the storm and the CPU hog take their children along.
# shellcheck disable=SC2016 # the hogs running at exit
on_exit 'for pid in "${started[@]}"; do stop_pid "$pid"; done'
# background COMMAND...: starts a hog or helper, remembered for the cleanup.
background() {
    "$@" &
    started+=("$!")
}

# phase NAME COMMAND...: runs a hog to its end, with its start and end times.
phase() {
    local name=$1 start
    shift
    start=$(now_ms)
    echo "  $name for ${seconds}s..."
    background "$@"
    wait "${started[-1]}" || echo "    (the $name hog failed: exit $?)"
    echo "$name $start $(now_ms)" >>"$work/phases"
    pause 5
}

echo "recording every 1s into $db, with a stall meter beside it..."
background "$bin" record --db "$db" --interval 1s --reserve 8MiB 2>"$work/recorder.log"
recorder=${started[-1]}
background python3 "$hog" stallmeter "$work/stalls"
quiet_start=$(now_ms)
pause 25
echo "quiet $quiet_start $(now_ms)" >>"$work/phases"

echo "the hogs, one after the other:"
storm_args=("$seconds" "$cap" "$work/forkstorm")
if [ -n "$procs" ]; then storm_args+=("$procs"); fi
phase storm python3 "$hog" storm "${storm_args[@]}"
refused=$(sed -n 's/^max //p' "$cgroup/pids.events" 2>/dev/null || echo "n/a")
phase memory python3 "$hog" memory "$seconds" "$memory"
phase fds python3 "$hog" fds "$seconds" "$fds"
phase cpu python3 "$hog" cpu "$seconds" 2
sleep 3

echo "the report and the export..."
"$bin" report --db "$db" --at now --window 3m >"$work/report.txt"
"$bin" report --db "$db" --at now --window 3m --format json >"$work/report.json"
# The same question asked while each hog still ran (2 s before its end),
# to tell a hog never seen from one forgotten once it exited.
while read -r name _ end; do
    [ "$name" = quiet ] && continue
    "$bin" report --db "$db" --at "@$(((end - 2000) / 1000))" --window 3m --format json >"$work/report-$name.json"
done <"$work/phases"
"$bin" export --db "$db" --what system >"$work/system.csv"
"$bin" export --db "$db" --what processes --from "@$((quiet_start / 1000))" >"$work/processes.csv"
stop_pid "$recorder"

echo
echo "\$ flightrec report --at now --window 3m"
cat "$work/report.txt"
echo
echo "under pressure: 1 s samples; hogs of ${seconds}s each; $limit_note (forks refused: $refused)"
check_status=0
python3 scripts/survive/pressure_check.py "$work" || check_status=$?
echo
failures=()
if [ -s "$work/verdict" ]; then mapfile -t failures <"$work/verdict"; fi
if [ "$check_status" != 0 ] && [ ${#failures[@]} -eq 0 ]; then
    failures+=("the check of the report and the export failed (exit $check_status)")
fi
verdict "${failures[@]}"
