#!/usr/bin/env bash
#
# scripts/bench-core.sh: the recorder core benchmark of issue 2, flightrec
# alone. Builds flightrec (release), starts idle and busy processes, records
# at the interval over the window, and prints CPU, storage, disk writes and
# memory per sample against the targets of issues 2 and 3, each marked met
# or not met, and how each figure was measured. The measuring code is
# scripts/lib/measure.sh, shared with bench-peers.sh. Cleans up after itself.

set -euo pipefail
# shellcheck source=scripts/lib/measure.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/measure.sh"

USAGE="usage: scripts/bench-core.sh [--procs N] [--minutes M | --seconds S] [--interval 5s]
                             [--busy N] [--busy-percent P] [--dir DIR] [--keep]
                             [--baseline BINARY] [--record-args \"ARGS\"]

Runs \`flightrec record --interval Is\` with N extra idle processes on the
machine and measures its CPU, memory, storage and disk writes per sample
against the targets of issue 2 and issue 3.

  --procs N         extra idle processes (sleep, distinct argv) [500]
  --busy N          CPU burners (scripts/floor/busy.c) [2]
  --busy-percent P  duty cycle of each burner, % of one CPU [10]
  --minutes M       measured window [5]
  --seconds S       measured window in seconds, for quick runs
  --interval I      sampling interval, whole seconds [5s]
  --dir DIR         where the work directory goes (a real disk, not tmpfs,
                    or write_bytes reads 0) [/var/tmp]
  --keep            keep the work directory (database, logs)
  --baseline BINARY also run this flightrec binary (another build, say the
                    one before a change) in the same conditions, staggered
                    within the interval, and compare the two; the words of
                    BENCH_BASELINE_ARGS are added to its record command
                    (the same build with a source off: --cgroup-depth 0)
  --record-args \"ARGS\"
                    more arguments of this build's \`flightrec record\`,
                    split at spaces (not the baseline's): with --baseline
                    and the same binary, what a setting costs, say
                    \"--waits off\" or \"--textfile-dir /run/flightrec-prom\""

# --record-args is this script's own; the rest are measure.sh's.
COMMAND_ARGS="$*"
RECORD_ARGS=()
shared_args=()
while (($#)); do
    if [[ $1 == --record-args ]]; then
        (($# >= 2)) || bench_usage_error "--record-args needs a value, like \"--waits off\""
        read -ra RECORD_ARGS <<<"$2"
        shift 2
    else
        shared_args+=("$1")
        shift
    fi
done
bench_parse_args "$USAGE" "${shared_args[@]}"

missing=()
command -v sqlite3 >/dev/null || missing+=(sqlite3)
bench_install "${missing[@]}"

bench_prepare

T=$BENCH_TMP
bench_launch_one() {
    local binary=$FLIGHTREC extra=("${RECORD_ARGS[@]}")
    if [[ $1 == baseline ]]; then
        binary=$BENCH_BASELINE
        read -ra extra <<<"${BENCH_BASELINE_ARGS:-}"
    fi
    # A reserve of one step (written at the first upkeep, before the
    # window): the default's 64 MiB are written once over a new file's
    # first 16 minutes, a one-time cost no steady state has.
    bench_start "$1" flightrec "$T/$1.db $T/$1.db-wal" \
        "$binary" record --db "$T/$1.db" --interval "${BENCH_INTERVAL}s" --reserve 4MiB "${extra[@]}"
}
if [[ -n $BENCH_BASELINE ]]; then
    bench_log "starting flightrec and the baseline $BENCH_BASELINE, staggered within the interval"
    bench_launch flightrec baseline
else
    bench_log "starting flightrec"
    bench_launch flightrec
fi
BENCH_PROC_COUNT=$(bench_process_count)
bench_measure
bench_log "stopping flightrec"
bench_stop_recorders
for name in "${REC_NAMES[@]}"; do
    bench_figures "$name"
done

# row LABEL VALUE UNIT TARGET2 TARGET3: one line of the targets table; a
# target is a number (the figure must be at most that) or "" for none.
row() {
    awk -v label="$1" -v value="$2" -v unit="$3" -v t2="$4" -v t3="$5" 'function verdict(t) {
        if (t == "") return "| — | "
        return sprintf("| ≤ %s %s | %s ", t, unit, (value == "nan" ? "not measured" : value + 0 <= t + 0 ? "met" : "**not met**"))
    }
    BEGIN {
        shown = value == "nan" ? "—" : sprintf("%.2f %s", value, unit)
        printf "| %s | %s %s%s|\n", label, shown, verdict(t2), verdict(t3)
    }'
}

f=flightrec
per_day=$((86400 / BENCH_INTERVAL))
echo
echo "## flightrec recorder core: cost per sample against the targets"
echo
echo "$(bench_conditions)."
echo "Command: scripts/bench-core.sh ${COMMAND_ARGS:-(defaults)}"
echo
echo "| figure | measured | issue 2 target | | issue 3 target | |"
echo "|---|---:|---:|---|---:|---|"
row "CPU per sample" "${FIG[$f:cpu]}" ms 45 22
row "stored per sample (growth of pages in use)" "$(bench_div "${FIG[$f:stored]}" 1000)" KB 4 1.5
row "disk written per sample (write_bytes)" "$(bench_div "${FIG[$f:written]}" 1000)" KB "" 16
row "RSS steady (VmRSS)" "${FIG[$f:rss]}" MiB 16 12
row "RSS peak (VmHWM)" "${FIG[$f:hwm]}" MiB "" 20
echo
awk -v stored="${FIG[$f:stored]}" -v written="${FIG[$f:written]}" -v cpu="${FIG[$f:cpu]}" -v n="$per_day" -v i="$BENCH_INTERVAL" 'BEGIN {
    printf "Per day at %ss: %.1f MB stored, %.1f MB written to disk, %.0f s of CPU.\n", i, stored * n / 1e6, written * n / 1e6, cpu * n / 1000
}'
if [[ -n $BENCH_BASELINE ]]; then
    echo
    echo "Against the baseline $BENCH_BASELINE, in the same window:"
    echo
    bench_table_head
    bench_row "flightrec (this build)" flightrec 1
    bench_row "baseline" baseline 1
    echo
    awk -v a="${FIG[flightrec:sched]}" -v b="${FIG[baseline:sched]}" -v ta="${FIG[flightrec:cpu]}" -v tb="${FIG[baseline:cpu]}" 'BEGIN {
        printf "- flightrec / baseline CPU per sample: %.3f× from schedstat (%+.2f ms), %.3f× from ticks (%+.2f ms)\n", a / b, a - b, ta / tb, ta - tb
    }'
fi
echo
echo "How each figure was measured:"
echo
bench_method
bench_samples_line "${REC_NAMES[@]}"
bench_sched_line "${REC_NAMES[@]}"
for name in "${REC_NAMES[@]}"; do
    bench_flightrec_details "$name"
done
bench_machine_line
