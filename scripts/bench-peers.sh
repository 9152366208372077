#!/usr/bin/env bash
#
# scripts/bench-peers.sh: flightrec side by side with atop, sysstat's sadc
# and the /proc floor (issue 3). Installs atop and sysstat if missing, builds
# flightrec (release), starts idle and busy processes, runs every recorder at
# the same interval over the same window, and prints one markdown table with
# the ratios flightrec/atop and flightrec/floor, and how each figure was
# measured. Runs as root; cleans up after itself, Ctrl-C included.

set -euo pipefail
# shellcheck source=scripts/lib/measure.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/measure.sh"

USAGE="usage: scripts/bench-peers.sh [--procs N] [--minutes M | --seconds S] [--interval 5s]
                              [--busy N] [--busy-percent P] [--dir DIR] [--keep]

Runs atop (atop -w FILE I), sadc (sadc -S XALL I FILE), flightrec (record
--interval Is) and two floor readers (scripts/floor/floor.c: /proc/PID/stat
of every process, or stat+statm+status+io, plus the global files) at the same
time, one after the other within each interval so their ticks never collide,
and measures each one's CPU, memory, storage and disk writes per sample.

  --procs N         extra idle processes (sleep, distinct argv) [500]
  --busy N          CPU burners (scripts/floor/busy.c) [2]
  --busy-percent P  duty cycle of each burner, % of one CPU [10]
  --minutes M       measured window [5]
  --seconds S       measured window in seconds, for quick runs
  --interval I      sampling interval, whole seconds [5s]
  --dir DIR         where the work directory goes (a real disk, not tmpfs,
                    or write_bytes reads 0) [/var/tmp]
  --keep            keep the work directory (recorder files, logs)"

bench_parse_args "$USAGE" "$@"
((EUID == 0)) || bench_die "run as root: atop and sadc need root to see every process"

# sadc is not on PATH; Debian and others keep it in different places.
find_sadc() {
    local path
    for path in /usr/lib/sysstat/sadc /usr/lib64/sa/sadc /usr/lib/sa/sadc /usr/libexec/sysstat/sadc; do
        [[ -x $path ]] && { echo "$path"; return 0; }
    done
    return 1
}

missing=()
command -v atop >/dev/null || missing+=(atop)
{ find_sadc >/dev/null && command -v sadf >/dev/null; } || missing+=(sysstat)
command -v sqlite3 >/dev/null || missing+=(sqlite3)
bench_install "${missing[@]}"
SADC=$(find_sadc) || bench_die "sysstat is installed but sadc was not found"

bench_prepare

T=$BENCH_TMP
bench_launch_one() {
    local interval_ms=$((BENCH_INTERVAL * 1000))
    case $1 in
        atop) bench_start atop atop "$T/atop.raw" atop -w "$T/atop.raw" "$BENCH_INTERVAL" ;;
        sadc) bench_start sadc sadc "$T/sa.data" "$SADC" -S XALL "$BENCH_INTERVAL" "$T/sa.data" ;;
        flightrec)
            # The default reserve (64 MiB of free pages, written once, 4 MiB
            # a minute over a new file's first 16 minutes) is a one-time
            # cost no steady state has: a reserve of one step is written at
            # the first upkeep, before the window.
            bench_start flightrec flightrec "$T/flightrec.db $T/flightrec.db-wal" \
                "$FLIGHTREC" record --db "$T/flightrec.db" --interval "${BENCH_INTERVAL}s" --reserve 4MiB
            ;;
        floor-stat) bench_start floor-stat floor "" "$T/floor" stat "$interval_ms" "$T/floor-stat.log" ;;
        floor-all) bench_start floor-all floor "" "$T/floor" all "$interval_ms" "$T/floor-all.log" ;;
    esac
}
bench_log "starting atop, sadc, flightrec, floor(stat) and floor(all), staggered within the interval"
bench_launch atop sadc flightrec floor-stat floor-all
BENCH_PROC_COUNT=$(bench_process_count)
bench_measure
bench_log "stopping the recorders"
bench_stop_recorders

for name in "${REC_NAMES[@]}"; do
    bench_figures "$name"
done

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0 || a == "nan" || b == "nan") print "—"; else printf "%.2f×\n", a / b }'
}

echo
echo "## flightrec, atop, sadc and the /proc floor, side by side"
echo
echo "$(bench_conditions); $(bench_stagger)."
echo "Command: scripts/bench-peers.sh ${*:-(defaults)}"
echo
bench_table_head
bench_row "atop $(atop -V 2>/dev/null | awk '{print $2; exit}') (\`atop -w FILE $BENCH_INTERVAL\`)" atop 1
bench_row "sadc (\`sadc -S XALL $BENCH_INTERVAL FILE\`)" sadc 1
bench_row "flightrec (\`record --interval ${BENCH_INTERVAL}s\`)" flightrec 1
bench_row "floor(stat): /proc/PID/stat + globals" floor-stat 0
bench_row "floor(all): stat, statm, status, io + globals" floor-all 0
echo
f=flightrec
echo "- flightrec / atop: CPU $(ratio "${FIG[$f:cpu]}" "${FIG[atop:cpu]}"), RSS steady $(ratio "${FIG[$f:rss]}" "${FIG[atop:rss]}"), peak $(ratio "${FIG[$f:hwm]}" "${FIG[atop:hwm]}"), stored $(ratio "${FIG[$f:stored]}" "${FIG[atop:stored]}"), disk written $(ratio "${FIG[$f:written]}" "${FIG[atop:written]}")"
echo "- flightrec / floor(stat): CPU $(ratio "${FIG[$f:cpu]}" "${FIG[floor-stat:cpu]}") (issue 3 target ≤ 1.5×); flightrec / floor(all): CPU $(ratio "${FIG[$f:cpu]}" "${FIG[floor-all:cpu]}")"
echo
echo "How each figure was measured:"
echo
bench_method
bench_samples_line "${REC_NAMES[@]}"
bench_sched_line "${REC_NAMES[@]}"
bench_flightrec_details flightrec
bench_machine_line
