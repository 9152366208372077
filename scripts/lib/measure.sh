# shellcheck shell=bash
#
# scripts/lib/measure.sh: the measuring code shared by bench-core.sh and
# bench-peers.sh. Sourced, never run. It parses the common flags, builds
# flightrec and the C helpers, starts the idle and busy processes and the
# recorders, takes snapshots of each recorder's /proc counters and files at
# the start and end of the measured window, counts the samples each recorder
# took inside the window, and turns all that into per-sample figures. It
# leaves the choice of recorders and the printing of results to the scripts.
#
# Every child is registered and killed on exit (normal end, failure, Ctrl-C
# or SIGTERM); every child is also bounded in time on its own (`timeout`, or
# a sleep length), so a `kill -9` of the benchmark leaves nothing running
# for long.

BENCH_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Defaults; bench_parse_args changes them.
BENCH_PROCS=500        # extra idle processes
BENCH_BUSY=2           # CPU burners
BENCH_BUSY_PERCENT=10  # duty cycle of each burner, % of one CPU
BENCH_INTERVAL=5       # seconds between samples, for every recorder
BENCH_WINDOW=300       # seconds measured, after the warm-up
BENCH_PARENT_DIR=/var/tmp
BENCH_KEEP=0
BENCH_BASELINE=""      # another flightrec binary measured alongside

BENCH_TMP=""
BENCH_CHILDREN=()      # pids of every direct child to kill on exit
declare -A REC_PID=()  # recorder name -> pid of the recorder itself
declare -A REC_WRAP=() # recorder name -> pid of its `timeout` wrapper
declare -A REC_KIND=() # recorder name -> flightrec|atop|sadc|floor
declare -A REC_FILES=()  # recorder name -> space-separated files it writes
declare -A SNAP=()     # "tag:name:field" -> value
REC_NAMES=()           # recorders in start order
BUSY_PIDS=()
BENCH_SLEEPER=""       # the sleep a wait is interrupted from

CLK_TCK=$(getconf CLK_TCK)
NCPU=$(getconf _NPROCESSORS_ONLN)

bench_die() {
    echo "${0##*/}: $*" >&2
    exit 1
}

bench_log() {
    printf '%s %s\n' "$(date +%T)" "$*" >&2
}

# Parses the flags both benchmarks take. $1 is the usage text.
bench_parse_args() {
    local usage=$1 minutes
    shift
    while (($#)); do
        case $1 in
            --procs) bench_count BENCH_PROCS "$1" "${2-}"; shift ;;
            --busy) bench_count BENCH_BUSY "$1" "${2-}"; shift ;;
            --busy-percent) bench_count BENCH_BUSY_PERCENT "$1" "${2-}"; shift ;;
            --minutes) bench_count minutes "$1" "${2-}"; BENCH_WINDOW=$((minutes * 60)); shift ;;
            --seconds) bench_count BENCH_WINDOW "$1" "${2-}"; shift ;;
            --interval) bench_seconds BENCH_INTERVAL "$1" "${2-}"; shift ;;
            --dir)
                [[ -d ${2-} ]] || bench_usage_error "--dir ${2-}: not a directory"
                BENCH_PARENT_DIR=$2
                shift
                ;;
            --keep) BENCH_KEEP=1 ;;
            --baseline)
                [[ -x ${2-} && ! -d ${2-} ]] || bench_usage_error "--baseline ${2-}: not an executable file"
                BENCH_BASELINE=$(readlink -f -- "$2")
                shift
                ;;
            -h | --help) echo "$usage"; exit 0 ;;
            *) bench_usage_error "unknown argument ${1@Q}; try --help" ;;
        esac
        shift
    done
    ((BENCH_INTERVAL >= 1)) || bench_usage_error "--interval must be at least 1s"
    ((BENCH_WINDOW >= 2 * BENCH_INTERVAL)) || bench_usage_error "the window must hold at least two intervals"
    ((BENCH_BUSY_PERCENT >= 1 && BENCH_BUSY_PERCENT <= 100)) || bench_usage_error "--busy-percent must be 1 to 100"
}

bench_usage_error() {
    echo "${0##*/}: $*" >&2
    exit 2
}

# bench_count VAR FLAG VALUE: sets VAR to VALUE, a whole number.
bench_count() {
    [[ $3 =~ ^[0-9]{1,9}$ ]] || bench_usage_error "$2 ${3@Q}: expected a whole number"
    printf -v "$1" %d $((10#$3))
}

# bench_seconds VAR FLAG VALUE: whole seconds (atop and sadc take nothing
# finer): 5, 5s, 1m.
bench_seconds() {
    case $3 in
        *[0-9]s) bench_count "$1" "$2" "${3%s}" ;;
        *[0-9]m) bench_count "$1" "$2" "${3%m}"; printf -v "$1" %d $(($1 * 60)) ;;
        *) bench_count "$1" "$2" "$3" ;;
    esac
}

# Sets NOW_MS to the wall clock in ms (no fork).
bench_now() {
    local us=${EPOCHREALTIME//[.,]/}
    NOW_MS=$((us / 1000))
}

# Sleeps until wall-clock ms $1; a signal interrupts the wait at once.
bench_sleep_until() {
    bench_now
    local ms=$(($1 - NOW_MS))
    ((ms > 0)) || return 0
    sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))" &
    BENCH_SLEEPER=$!
    wait "$BENCH_SLEEPER"
    BENCH_SLEEPER=""
}

# How long any child may live: the whole run plus a generous margin.
bench_limit() {
    echo $((BENCH_WINDOW + 4 * BENCH_INTERVAL + 600))
}

# Creates the work directory and installs the cleanup. Call first.
bench_init() {
    BENCH_TMP=$(mktemp -d "$BENCH_PARENT_DIR/flightrec-bench.XXXXXX")
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
}

bench_cleanup() {
    local status=$?
    trap - EXIT INT TERM HUP
    # Best effort from here on: a child already gone must not stop the rest.
    set +e
    [[ -n $BENCH_SLEEPER ]] && kill -TERM "$BENCH_SLEEPER" 2>/dev/null
    if ((${#REC_NAMES[@]})); then
        bench_signal TERM "${REC_NAMES[@]}"
        bench_wait_gone 15 "${REC_WRAP[@]}"
        bench_signal KILL "${REC_NAMES[@]}"
    fi
    if ((${#BENCH_CHILDREN[@]})); then
        kill -TERM "${BENCH_CHILDREN[@]}" 2>/dev/null
        bench_wait_gone 5 "${BENCH_CHILDREN[@]}"
        # Children are ours and not yet reaped, so these pids are still theirs.
        kill -KILL "${BENCH_CHILDREN[@]}" 2>/dev/null
        wait 2>/dev/null
    fi
    if [[ -n $BENCH_TMP && -d $BENCH_TMP ]]; then
        if ((BENCH_KEEP)); then
            echo "${0##*/}: kept $BENCH_TMP" >&2
        else
            rm -rf -- "$BENCH_TMP"
        fi
    fi
    exit "$status"
}

# Waits up to $1 seconds for all the pids after it to be gone.
bench_wait_gone() {
    local tries=$(($1 * 10)) pid
    shift
    while ((tries-- > 0)); do
        for pid; do
            if ! bench_gone "$pid"; then
                sleep 0.1
                continue 2
            fi
        done
        return 0
    done
}

# True if pid $1 has exited: no such process, or a zombie not yet reaped.
bench_gone() {
    local line
    read -r line 2>/dev/null <"/proc/$1/stat" || return 0
    line=${line##*) }
    [[ ${line%% *} == Z ]]
}

# Installs the Debian packages named that are missing (root only).
bench_install() {
    (($#)) || return 0
    ((EUID == 0)) || bench_die "missing $*; run as root or install them: apt-get install $*"
    bench_log "installing $* from Debian's packages"
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get update -qq >&2 ||
        bench_die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends "$@" >&2 ||
        bench_die "apt-get install $* failed"
}

# Builds flightrec in release mode; sets FLIGHTREC.
bench_build_flightrec() {
    local target=${CARGO_TARGET_DIR:-target}
    [[ $target == /* ]] || target=$BENCH_REPO/$target
    bench_log "building flightrec (cargo build --release, target $target)"
    (cd "$BENCH_REPO" && timeout 3600 cargo build --release --quiet) ||
        bench_die "cargo build --release failed"
    FLIGHTREC=$target/release/flightrec
    [[ -x $FLIGHTREC ]] || bench_die "$FLIGHTREC: not built"
}

# Builds the C helpers (floor, busy, workload) into the work directory.
bench_build_c() {
    local name
    for name in floor busy workload; do
        timeout 120 cc -O2 -o "$BENCH_TMP/$name" "$BENCH_REPO/scripts/floor/$name.c" ||
            bench_die "compiling scripts/floor/$name.c failed (is gcc installed?)"
    done
}

# Starts $1 idle processes: `sleep` with a distinct argv each, children of
# this script, which never wake before the benchmark ends.
bench_spawn_idle() {
    local limit i
    limit=$(bench_limit)
    for ((i = 1; i <= $1; i++)); do
        sleep "$((limit + i))" &
        BENCH_CHILDREN+=($!)
    done
}

# Starts $1 burners at BENCH_BUSY_PERCENT of one CPU each.
bench_spawn_busy() {
    local i wrap limit
    # Computed here: a command substitution after `&` would run in a child
    # of the wrapper and be taken for the command.
    limit=$(bench_limit)
    for ((i = 1; i <= $1; i++)); do
        timeout "$limit" "$BENCH_TMP/busy" "$BENCH_BUSY_PERCENT" &
        wrap=$!
        BENCH_CHILDREN+=("$wrap")
        BUSY_PIDS+=("$(bench_child_of "$wrap" "$BENCH_TMP/busy")")
    done
}

# bench_child_of PID COMMAND: the pid of the child of PID (a `timeout`)
# once that child runs COMMAND.
bench_child_of() {
    local tries=50 kids exe want
    want=$(readlink -f -- "$(command -v "$2")")
    while ((tries-- > 0)); do
        # The list ends without a newline, so read reports EOF: ignore it.
        kids=""
        read -r kids 2>/dev/null <"/proc/$1/task/$1/children" || :
        if [[ -n $kids ]]; then
            exe=$(readlink "/proc/${kids%% *}/exe" 2>/dev/null) || exe=""
            if [[ $exe == "$want" ]]; then
                echo "${kids%% *}"
                return 0
            fi
        fi
        sleep 0.1
    done
    bench_die "pid $1 did not start $2"
}

# bench_start NAME KIND "FILES" COMMAND...: starts a recorder, bounded by
# timeout, its output in the work directory.
bench_start() {
    local name=$1 kind=$2 files=$3 wrap limit
    shift 3
    limit=$(bench_limit)
    timeout -k 10 "$limit" "$@" >"$BENCH_TMP/$name.out" 2>"$BENCH_TMP/$name.err" &
    wrap=$!
    REC_WRAP[$name]=$wrap
    BENCH_CHILDREN+=("$wrap")
    REC_PID[$name]=$(bench_child_of "$wrap" "$1")
    REC_KIND[$name]=$kind
    REC_FILES[$name]=$files
    REC_NAMES+=("$name")
}

# True while recorder $1 runs: its pid is alive, not a zombie, and still
# the child of its timeout wrapper (so never a pid reused by another).
bench_running() {
    local line fields
    read -r line 2>/dev/null <"/proc/${REC_PID[$1]}/stat" || return 1
    read -ra fields <<<"${line##*) }"
    [[ ${fields[0]} != Z && ${fields[1]} == "${REC_WRAP[$1]}" ]]
}

# bench_signal SIGNAL NAME...: signals the recorders named that still run.
bench_signal() {
    local sig=$1 name
    shift
    for name; do
        bench_running "$name" && kill "-$sig" "${REC_PID[$name]}" 2>/dev/null
    done
    return 0
}

# Fails with the recorder's stderr if it is no longer running.
bench_check_alive() {
    local name=$1
    if ! bench_running "$name"; then
        echo "${0##*/}: $name exited early; its stderr:" >&2
        tail -n 20 "$BENCH_TMP/$name.err" >&2
        exit 1
    fi
}

# Stops every recorder with SIGTERM (flightrec then marks its run stopped
# and checkpoints its WAL), SIGKILL after 15 s.
bench_stop_recorders() {
    local name
    bench_signal TERM "${REC_NAMES[@]}"
    for name in "${REC_NAMES[@]}"; do
        bench_wait_gone 15 "${REC_WRAP[$name]}"
        bench_signal KILL "$name"
        wait "${REC_WRAP[$name]}" 2>/dev/null || true
    done
}

# utime + stime of a process, all its threads, in clock ticks.
bench_cpu_ticks() {
    local line fields
    read -r line <"/proc/$1/stat" || return 1
    read -ra fields <<<"${line##*) }"
    echo $((fields[11] + fields[12]))
}

# Time on CPU of the process's live threads, in ns, from schedstat: a
# finer cross-check of the tick count (a thread that exited is not in it).
bench_sched_ns() {
    local task run _ total=0
    for task in /proc/"$1"/task/*; do
        read -r run _ 2>/dev/null <"$task/schedstat" && total=$((total + run))
    done
    echo "$total"
}

# One field of /proc/PID/io.
bench_io() {
    local key value
    while read -r key value; do
        [[ $key == "$2:" ]] && { echo "$value"; return 0; }
    done <"/proc/$1/io"
    echo 0
}

# One kB field of /proc/PID/status.
bench_status_kb() {
    local key value _
    while read -r key value _; do
        [[ $key == "$2:" ]] && { echo "$value"; return 0; }
    done <"/proc/$1/status"
    echo 0
}

# Total size in bytes of the files named (missing ones count 0).
bench_bytes() {
    local total=0 file
    for file; do
        [[ -n $file && -e $file ]] && total=$((total + $(stat -c %s -- "$file")))
    done
    echo "$total"
}

# Bytes in the pages of an SQLite database that hold data, as a reader sees
# it (the WAL included): what the database really grew by, whether or not a
# checkpoint fell in the window and however much room is reserved ahead.
bench_used_bytes() {
    timeout 60 sqlite3 -readonly "$1" \
        "select (p.page_count - f.freelist_count) * s.page_size from pragma_page_count p, pragma_freelist_count f, pragma_page_size s" \
        2>/dev/null || echo 0
}

# Busy and total ticks of the whole machine, from /proc/stat.
bench_machine() {
    local _cpu user nice system idle iowait irq softirq steal _rest
    read -r _cpu user nice system idle iowait irq softirq steal _rest </proc/stat
    echo "$((user + nice + system + irq + softirq + steal)) $((user + nice + system + idle + iowait + irq + softirq + steal))"
}

# bench_snapshot TAG: the counters of every recorder, the burners and the
# machine, stored in SNAP under TAG.
bench_snapshot() {
    local tag=$1 name pid files busy=0 machine
    bench_now
    SNAP[$tag:ms]=$NOW_MS
    for name in "${REC_NAMES[@]}"; do
        pid=${REC_PID[$name]}
        bench_check_alive "$name"
        SNAP[$tag:$name:ticks]=$(bench_cpu_ticks "$pid")
        SNAP[$tag:$name:sched]=$(bench_sched_ns "$pid")
        SNAP[$tag:$name:write_bytes]=$(bench_io "$pid" write_bytes)
        SNAP[$tag:$name:wchar]=$(bench_io "$pid" wchar)
        SNAP[$tag:$name:rss]=$(bench_status_kb "$pid" VmRSS)
        SNAP[$tag:$name:hwm]=$(bench_status_kb "$pid" VmHWM)
        read -ra files <<<"${REC_FILES[$name]}"
        SNAP[$tag:$name:bytes]=$(bench_bytes "${files[@]}")
        SNAP[$tag:$name:first_bytes]=$(bench_bytes "${files[0]-}")
        # flightrec reserves disk ahead and checkpoints in steps: its files'
        # sizes say little per sample, the pages in use say what it stored.
        if [[ ${REC_KIND[$name]} == flightrec ]]; then
            SNAP[$tag:$name:file_bytes]=${SNAP[$tag:$name:bytes]}
            SNAP[$tag:$name:bytes]=$(bench_used_bytes "${files[0]}")
        fi
    done
    for pid in "${BUSY_PIDS[@]}"; do
        busy=$((busy + $(bench_cpu_ticks "$pid")))
    done
    SNAP[$tag:busy]=$busy
    machine=$(bench_machine)
    SNAP[$tag:machine_busy]=${machine% *}
    SNAP[$tag:machine_total]=${machine#* }
}

# Samples recorder $1 took in (T0, T1], from its own timestamps.
bench_samples() {
    local name=$1 t0=${SNAP[t0:ms]} t1=${SNAP[t1:ms]} files
    read -ra files <<<"${REC_FILES[$name]}"
    case ${REC_KIND[$name]} in
        flightrec)
            timeout 60 sqlite3 -readonly "${files[0]}" \
                "select count(*) from samples where time_ms > $t0 and time_ms <= $t1"
            ;;
        atop)
            # One CPU line per sample; field 3 is its time in whole seconds,
            # at most a fraction of a second before the real tick, so with
            # T0 and T1 half a second away from every tick the count is exact.
            timeout 60 atop -r "${files[0]}" -P CPU 2>/dev/null |
                awk -v t0="$t0" -v t1="$t1" '$1 == "CPU" && $3 * 1000 > t0 - 500 && $3 * 1000 <= t1 - 500 { n++ } END { print n + 0 }'
            ;;
        sadc)
            # sadf prints each record after the first as several lines with
            # its time in seconds in field 3.
            timeout 60 sadf -U -- "${files[0]}" -- -u 2>/dev/null |
                awk -v t0="$t0" -v t1="$t1" '$3 * 1000 > t0 - 500 && $3 * 1000 <= t1 - 500 && !seen[$3]++ { n++ } END { print n + 0 }'
            ;;
        floor)
            awk -v t0="$t0" -v t1="$t1" '$1 > t0 && $1 <= t1 { n++ } END { print n + 0 }' "$BENCH_TMP/$name.log"
            ;;
    esac
}

# bench_launch NAMES...: the start times. The recorders named are started
# one stagger slot apart by the caller's bench_launch_one NAME; the window
# starts after every recorder has taken two samples (the first, which reads
# everything since boot or writes a key frame, and the first delta), half a
# slot away from every tick, and lasts BENCH_WINDOW seconds.
bench_launch() {
    local n=$# slot_ms start name i=0 half_ms
    # Whole seconds per slot, so atop and sadc start on whole seconds.
    local slot_s=$((BENCH_INTERVAL / n))
    slot_ms=$((slot_s * 1000))
    if ((slot_ms > 0)); then half_ms=$((slot_ms / 2)); else half_ms=$((BENCH_INTERVAL * 500)); fi
    # Start on a whole second: atop and sadc stamp samples in whole seconds.
    bench_now
    start=$(((NOW_MS / 1000 + 2) * 1000))
    for name; do
        bench_sleep_until $((start + i * slot_ms))
        bench_launch_one "$name"
        i=$((i + 1))
    done
    SNAP[slot_ms]=$slot_ms
    SNAP[t0_target]=$((start + 2 * BENCH_INTERVAL * 1000 + half_ms))
    SNAP[t1_target]=$((SNAP[t0_target] + BENCH_WINDOW * 1000))
}

# Runs the window: snapshot at T0, wait, snapshot at T1.
bench_measure() {
    bench_sleep_until "${SNAP[t0_target]}"
    bench_snapshot t0
    bench_log "measuring for ${BENCH_WINDOW}s, until $(date -d "@$((SNAP[t1_target] / 1000))" +%T)"
    bench_sleep_until "${SNAP[t1_target]}"
    bench_snapshot t1
}

# bench_figures NAME: after the recorders stopped, fills FIG[NAME:...]:
# samples, cpu (ms per sample, from ticks), sched (ms per sample, from
# schedstat), stored, written and wchar (bytes per sample), rss and hwm (MiB).
declare -A FIG=()
bench_figures() {
    local name=$1 samples
    samples=$(bench_samples "$name")
    FIG[$name:samples]=$samples
    if ((samples == 0)); then
        FIG[$name:cpu]=nan FIG[$name:sched]=nan FIG[$name:stored]=nan
        FIG[$name:written]=nan FIG[$name:wchar]=nan
    else
        FIG[$name:cpu]=$(bench_div "$(bench_delta "$name" ticks) * 1000 / $CLK_TCK" "$samples")
        FIG[$name:sched]=$(bench_div "$(bench_delta "$name" sched) / 1000000" "$samples")
        FIG[$name:stored]=$(bench_div "$(bench_delta "$name" bytes)" "$samples")
        FIG[$name:written]=$(bench_div "$(bench_delta "$name" write_bytes)" "$samples")
        FIG[$name:wchar]=$(bench_div "$(bench_delta "$name" wchar)" "$samples")
    fi
    FIG[$name:rss]=$(bench_div "${SNAP[t1:$name:rss]}" 1024)
    FIG[$name:hwm]=$(bench_div "${SNAP[t1:$name:hwm]}" 1024)
}

# Growth of counter $2 of recorder $1 over the window.
bench_delta() {
    echo $((${SNAP[t1:$1:$2]} - ${SNAP[t0:$1:$2]}))
}

# $1 / $2 as a decimal, $1 an awk expression.
bench_div() {
    awk "BEGIN { printf \"%.6f\", ($1) / ($2) }"
}

# Rounds $1 to $2 decimals ("—" for nan).
bench_fmt() {
    awk -v x="$1" -v d="$2" 'BEGIN { if (x == "nan" || x == "") print "—"; else printf "%.*f\n", d, x }'
}

# One line on how loaded the machine was during the window, apart from the
# benchmark's own processes.
bench_machine_line() {
    local total busy recorders=0 name
    total=$((${SNAP[t1:machine_total]} - ${SNAP[t0:machine_total]}))
    busy=$((${SNAP[t1:machine_busy]} - ${SNAP[t0:machine_busy]}))
    for name in "${REC_NAMES[@]}"; do
        recorders=$((recorders + $(bench_delta "$name" ticks)))
    done
    local burners=$((${SNAP[t1:busy]} - ${SNAP[t0:busy]}))
    awk -v total="$total" -v busy="$busy" -v rec="$recorders" -v burn="$burners" -v ncpu="$NCPU" 'BEGIN {
        other = busy - rec - burn; if (other < 0) other = 0
        printf "- Machine: %d CPUs busy %.1f%% during the window: recorders %.1f%%, burners %.1f%%, everything else %.1f%%%s\n",
            ncpu, 100 * busy / total, 100 * rec / total, 100 * burn / total, 100 * other / total,
            (other / total > 0.05 ? " (other work ran: figures are noisier than on a quiet machine)" : "")
    }'
}

# Processes on the machine now (every /proc/PID).
bench_process_count() {
    local n=0 dir
    for dir in /proc/[0-9]*; do n=$((n + 1)); done
    echo "$n"
}

# Warns about recorders of the same kinds already running (an atop daemon
# started by the package, say): they load the machine but are not measured.
bench_warn_others() {
    local dir comm
    for dir in /proc/[0-9]*; do
        read -r comm 2>/dev/null <"$dir/comm" || continue
        case $comm in
            atop | atopacctd | sadc | flightrec | pmlogger)
                bench_log "warning: a $comm (pid ${dir#/proc/}) is already running; it loads the machine but is not measured"
                ;;
        esac
    done
}

# bench_row LABEL NAME STORAGE: one markdown row of the results table;
# STORAGE 0 for a recorder that stores nothing (the floor).
bench_row() {
    local label=$1 name=$2 storage=$3
    awk -v label="$label" -v cpu="${FIG[$name:cpu]}" -v rss="${FIG[$name:rss]}" -v hwm="${FIG[$name:hwm]}" \
        -v stored="${FIG[$name:stored]}" -v written="${FIG[$name:written]}" -v storage="$storage" \
        -v per_day=$((86400 / BENCH_INTERVAL)) 'BEGIN {
        if (storage) {
            s = sprintf("%.2f | %.2f | %.1f MB | %.1f MB", stored / 1000, written / 1000,
                stored * per_day / 1e6, written * per_day / 1e6)
        } else {
            s = "— | — | — | —"
        }
        printf "| %s | %.1f | %.1f / %.1f | %s | %.0f s |\n", label, cpu, rss, hwm, s, cpu * per_day / 1000
    }'
}

bench_table_head() {
    echo "| recorder | CPU ms/sample | RSS MiB steady / peak | stored KB/sample | disk written KB/sample | stored per day | written per day | CPU per day |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
}

# The conditions of the run, one line.
bench_conditions() {
    echo "$(date '+%Y-%m-%d %H:%M %Z'), Linux $(uname -r), $NCPU CPUs, $BENCH_PROC_COUNT processes at the start ($BENCH_PROCS idle extras, $BENCH_BUSY burners at $BENCH_BUSY_PERCENT% of a CPU each), interval ${BENCH_INTERVAL}s, window ${BENCH_WINDOW}s after a warm-up of two samples"
}

# How the recorders' ticks were spread, for the conditions line.
bench_stagger() {
    if ((SNAP[slot_ms] > 0)); then
        echo "recorders started $((SNAP[slot_ms] / 1000))s apart so their ticks never coincide"
    else
        echo "recorders started together (interval too short to stagger them)"
    fi
}

# How each figure was measured, one line each, for the recorders running.
bench_method() {
    local kinds=" ${REC_KIND[*]} " sources=() files=()
    [[ $kinds == *" flightrec "* ]] && sources+=("flightrec samples.time_ms (sqlite3)") && files+=("flightrec: pages in use")
    [[ $kinds == *" atop "* ]] && sources+=("atop \`atop -r FILE -P CPU\`") && files+=("atop: its -w file")
    [[ $kinds == *" sadc "* ]] && sources+=("sadc \`sadf -U\`") && files+=("sadc: its data file")
    [[ $kinds == *" floor "* ]] && sources+=("floor its tick log")
    local slot="half a stagger slot"
    ((SNAP[slot_ms] > 0 && ${#REC_NAMES[@]} > 1)) || slot="half an interval"
    cat <<EOF
- Window: T0 falls $slot after each recorder's second sample (the first sample, which reads everything since boot or writes a key frame, and the first delta are warm-up); T1 = T0 + ${BENCH_WINDOW}s; both fall between ticks, never on one.
- Samples: counted in (T0, T1] from each recorder's own timestamps: $(bench_join ", " "${sources[@]}"); expected window / interval = $((BENCH_WINDOW / BENCH_INTERVAL)).
- CPU ms/sample: utime + stime of the recorder process (all its threads) from /proc/PID/stat fields 14 and 15, T1 minus T0, at $CLK_TCK ticks/s, divided by the samples.
- RSS: VmRSS (steady) and VmHWM (peak since start) from /proc/PID/status at T1.
- Stored KB/sample: growth of the recorder's files from T0 to T1 ($(bench_join "; " "${files[@]}")), divided by the samples; KB = 1000 bytes, MB = 10^6 bytes.
- Disk written KB/sample: write_bytes of /proc/PID/io (bytes the process sent or dirtied for the block layer, page by page), T1 minus T0, divided by the samples.
- Per day: the per-sample figure times 86400 / ${BENCH_INTERVAL}.
EOF
}

# bench_join SEPARATOR WORDS...
bench_join() {
    local sep=$1 out=""
    shift
    for word; do out+="${out:+$sep}$word"; done
    echo "$out"
}

# bench_flightrec_details NAME: what flightrec's file and its own timing
# say, after it stopped (its WAL then checkpointed into the database).
bench_flightrec_details() {
    local name=$1 db t0=${SNAP[t0:ms]} t1=${SNAP[t1:ms]} files row total final wal_t1 db_growth page_size
    read -ra files <<<"${REC_FILES[$name]}"
    db=${files[0]}
    row=$(timeout 60 sqlite3 -readonly -separator ' ' "$db" \
        "select count(*), sum(id = key_id), avg(collect_us), max(collect_us) from samples where time_ms > $t0 and time_ms <= $t1")
    total=$(timeout 60 sqlite3 -readonly "$db" "select count(*) from samples")
    page_size=$(timeout 60 sqlite3 -readonly "$db" "pragma page_size")
    final=$(bench_used_bytes "$db")
    wal_t1=$((${SNAP[t1:$name:file_bytes]} - ${SNAP[t1:$name:first_bytes]}))
    awk -v name="$name" -v row="$row" -v total="$total" -v final="$final" -v wal="$wal_t1" \
        -v files="$(bench_delta "$name" file_bytes)" -v wchar="${FIG[$name:wchar]}" -v page="$page_size" 'BEGIN {
        split(row, r, " ")
        printf "- %s in the window: %d samples, %d of them key frames; collect time %.1f ms average, %.1f ms max (its own collect_us, wall clock)\n",
            name, r[1], r[2], r[3] / 1000, r[4] / 1000
        printf "- %s stored: growth of the pages in use (page_count - freelist_count, read through the WAL, page size %d); its files (database + WAL sizes) grew %.2f KB/sample in the window, WAL %.0f KB at T1: the WAL fills and is copied into the database every 400 pages, and disk space is reserved ahead (--reserve)\n",
            name, page, files / r[1] / 1000, wal / 1000
        printf "- %s after the clean stop: %.2f KB per sample in use over all %d samples of the run (warm-up, key frames and schema included)\n",
            name, final / total / 1000, total
        printf "- %s writes: %.2f KB/sample passed to write() (wchar), against the write_bytes above\n", name, wchar / 1000
    }'
}

# One line: CPU ms/sample of each recorder from schedstat (ns resolution,
# live threads only) beside the tick-based figure.
bench_sched_line() {
    local name out=""
    for name; do
        out+="$name $(bench_fmt "${FIG[$name:sched]}" 1) (ticks $(bench_fmt "${FIG[$name:cpu]}" 1)), "
    done
    echo "- Cross-check, CPU ms/sample from /proc/PID/task/*/schedstat: ${out%, }"
}

# One line: samples each recorder took in the window.
bench_samples_line() {
    local name out="" expected=$((BENCH_WINDOW / BENCH_INTERVAL))
    for name; do
        out+="$name ${FIG[$name:samples]}, "
        [[ ${FIG[$name:samples]} == "$expected" ]] || out+="(expected $expected!) "
    done
    echo "- Samples in the window: ${out%, }"
}

# Everything a benchmark needs before its recorders start: the work
# directory, flightrec and the C helpers built, a warning about recorders
# already running, the idle processes and the burners.
bench_prepare() {
    bench_init
    bench_build_flightrec
    bench_build_c
    bench_warn_others
    bench_log "starting $BENCH_PROCS idle processes and $BENCH_BUSY burners"
    bench_spawn_idle "$BENCH_PROCS"
    bench_spawn_busy "$BENCH_BUSY"
}
