#!/usr/bin/env bash
#
# scripts/accuracy.sh: is every recorded number true? Runs known workloads
# under `flightrec record --interval 1s` (release build) and, beside it, its
# own once-a-second reader of the same kernel files; then prints, per
# metric, the recorded and reference values, the largest error and whether
# every sample kept within its tolerance. Workloads (scripts/floor/busy.c
# and workload.c): a CPU burner at 40% of one core, a process holding
# 300 MiB, a paced O_DIRECT writer and a paced buffered writer (on --dir, a
# disk-backed filesystem: tmpfs never counts write_bytes, so a reader of the
# same files would agree with a wrong 0; each writer's own pace is checked
# too), a process opening one file a second, and listeners on 127.0.0.1 and
# ::1 with established, CLOSE_WAIT and queued connections plus one whose
# accept queue is full. Exit 0 when every figure is within tolerance, 1 when
# one is not. Runs as root; cleans up after itself, Ctrl-C included. The
# short version runs in `cargo test` (tests/cases/accuracy.rs).

set -euo pipefail
# shellcheck source=scripts/lib/measure.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/measure.sh"

USAGE="usage: scripts/accuracy.sh [--seconds S] [--dir DIR] [--keep]

  --seconds S  how long the workloads are recorded [60]
  --dir DIR    where the work directory and the writers' files go (a real
               disk, not tmpfs) [/var/tmp]
  --keep       keep the work directory (database, reference log, per-sample
               comparison)"

SECONDS_RECORDED=60
while (($#)); do
    case $1 in
        --seconds) bench_count SECONDS_RECORDED "$1" "${2-}"; shift ;;
        --dir)
            [[ -d ${2-} ]] || bench_usage_error "--dir ${2-}: not a directory"
            BENCH_PARENT_DIR=$2
            shift
            ;;
        --keep) BENCH_KEEP=1 ;;
        -h | --help) echo "$USAGE"; exit 0 ;;
        *) bench_usage_error "unknown argument ${1@Q}; try --help" ;;
    esac
    shift
done
((SECONDS_RECORDED >= 5)) || bench_usage_error "--seconds must be at least 5"
((EUID == 0)) || bench_die "run as root: the reference reads every workload's /proc files"
BENCH_WINDOW=$SECONDS_RECORDED
BENCH_INTERVAL=1

# The writers' paces: KiB every ms.
DIRECT_KIB=64 DIRECT_MS=8     # 8.19 MB/s
BUFFERED_KIB=16 BUFFERED_MS=8 # 2.05 MB/s
BURN_PERCENT=40
HOLD_MIB=300

bench_init
bench_build_flightrec
bench_build_c
T=$BENCH_TMP
fs_type=$(stat -f -c %T "$T")
[[ $fs_type == tmpfs ]] && bench_log "warning: $T is on tmpfs, which never counts write_bytes: the writers' rates will read 0"

# start_workload NAME COMMAND...: a child bounded by timeout; sets PID[NAME].
declare -A PID=()
start_workload() {
    local name=$1 wrap limit
    shift
    limit=$(bench_limit)
    timeout "$limit" "$@" >"$T/$name.out" 2>"$T/$name.err" &
    wrap=$!
    BENCH_CHILDREN+=("$wrap")
    PID[$name]=$(bench_child_of "$wrap" "$1")
}

bench_log "starting the workloads"
start_workload burner "$T/busy" "$BURN_PERCENT"
start_workload holder "$T/workload" hold "$HOLD_MIB"
start_workload direct "$T/workload" write "$T/direct.data" "$DIRECT_KIB" "$DIRECT_MS" direct
start_workload buffered "$T/workload" write "$T/buffered.data" "$BUFFERED_KIB" "$BUFFERED_MS" buffered
start_workload opener "$T/workload" open 1000
start_workload sockets "$T/workload" sockets
for ((tries = 0; tries < 50; tries++)); do
    read -r PORT4 PORT6 PORT_FULL 2>/dev/null <"$T/sockets.out" && break
    sleep 0.1
done
[[ -n ${PORT_FULL-} ]] || bench_die "the sockets workload did not start: $(cat "$T/sockets.err")"

# The reference: every workload's stat, io, status and fd directory, and
# the TCP tables, read once a second by this shell (no fork but awk for the
# TCP tables), each line stamped with the wall clock in ms.
PAGE=$(getconf PAGESIZE)
reference_once() {
    local name pid line fields key value _ write_bytes vmrss fds
    bench_now
    for name in burner holder direct buffered opener; do
        pid=${PID[$name]}
        read -r line 2>/dev/null <"/proc/$pid/stat" || continue
        read -ra fields <<<"${line##*) }"
        write_bytes=0 vmrss=0
        while read -r key value _; do
            [[ $key == write_bytes: ]] && write_bytes=$value
        done <"/proc/$pid/io"
        while read -r key value _; do
            [[ $key == VmRSS: ]] && vmrss=$((value * 1024))
        done <"/proc/$pid/status"
        fds=(/proc/"$pid"/fd/*)
        # Fields 14, 15 and 24 of the file, counted after the command name.
        echo "proc $NOW_MS $pid $((fields[11] + fields[12])) $((fields[21] * PAGE)) $vmrss $write_bytes ${#fds[@]}"
    done
    awk -v t="$NOW_MS" -v ports=" $PORT4 $PORT6 $PORT_FULL " '
        function hex(text,   i, v) {
            v = 0
            for (i = 1; i <= length(text); i++) v = v * 16 + index("0123456789ABCDEF", toupper(substr(text, i, 1))) - 1
            return v
        }
        BEGIN { split("ESTABLISHED SYN_SENT SYN_RECV FIN_WAIT1 FIN_WAIT2 TIME_WAIT CLOSE CLOSE_WAIT LAST_ACK LISTEN CLOSING", names, " ") }
        FNR > 1 {
            split($2, local, ":"); split($3, remote, ":")
            lport = hex(local[2]); rport = hex(remote[2]); state = names[hex($4)]
            split($5, queues, ":")
            if (state == "LISTEN" && index(ports, " " lport " ")) { n["listen " lport " LISTEN"]++; q["listen " lport " LISTEN"] += hex(queues[2]) }
            else if (index(ports, " " lport " ")) n["incoming " lport " " state]++
            else if (index(ports, " " rport " ")) n["outgoing " rport " " state]++
        }
        END { for (k in n) { split(k, f, " "); print "sock", t, f[2], f[1], f[3], n[k], q[k] + 0 } }
    ' /proc/net/tcp /proc/net/tcp6
}

# Steady first: the memory held.
for ((tries = 0; tries < 100; tries++)); do
    (($(bench_status_kb "${PID[holder]}" VmRSS) >= HOLD_MIB * 1024)) && break
    sleep 0.1
done
bench_log "starting flightrec record --interval 1s"
bench_start flightrec flightrec "$T/flightrec.db $T/flightrec.db-wal" \
    "$FLIGHTREC" record --db "$T/flightrec.db" --interval 1s
bench_log "recording for ${SECONDS_RECORDED}s, reading the same files once a second"
bench_now
end_ms=$((NOW_MS + SECONDS_RECORDED * 1000))
next_ms=$NOW_MS
while ((next_ms <= end_ms + 1000)); do
    reference_once >>"$T/reference.log"
    next_ms=$((next_ms + 1000))
    bench_sleep_until "$next_ms"
done
bench_stop_recorders

"$FLIGHTREC" export --db "$T/flightrec.db" --what processes >"$T/processes.csv"
"$FLIGHTREC" export --db "$T/flightrec.db" --what sockets >"$T/sockets.csv"
"$FLIGHTREC" export --db "$T/flightrec.db" --what system >"$T/system.csv"

# The comparison. Reference counters are interpolated linearly at each
# sample's time (the workloads are steady); a rate is compared with the
# reference over the same span, within 10% plus the share of the span the
# recorder spent collecting either sample (it reads the process somewhere
# in that time, which it records); fds with the reference read nearest in
# time; socket counts with the readings either side (a connection of
# someone else's can come and go between the two).
echo
echo "## flightrec accuracy: recorded against the kernel, sample by sample"
echo
echo "$(date '+%Y-%m-%d %H:%M %Z'), Linux $(uname -r), $NCPU CPUs, interval 1s, ${SECONDS_RECORDED}s recorded, writers on $fs_type."
echo "Command: scripts/accuracy.sh ${*:-(defaults)}"
echo
awk -v burner="${PID[burner]}" -v holder="${PID[holder]}" -v direct="${PID[direct]}" -v buffered="${PID[buffered]}" \
    -v opener="${PID[opener]}" -v port4="$PORT4" -v port6="$PORT6" -v port_full="$PORT_FULL" \
    -v burn="$BURN_PERCENT" -v hold="$HOLD_MIB" -v tick="$(getconf CLK_TCK)" -v tmpfs="$([[ $fs_type == tmpfs ]] && echo 1 || echo 0)" \
    -v direct_pace="$((DIRECT_KIB * 1024 * 1000 / DIRECT_MS))" -v buffered_pace="$((BUFFERED_KIB * 1024 * 1000 / BUFFERED_MS))" \
    -v details="$T/accuracy-samples.txt" '
    function header(line,   i, n, names) { n = split(line, names, ","); for (i = 1; i <= n; i++) col[names[i]] = i }
    # Counter c of pid at time t, between the two reference readings around it.
    function at(pid, c, t,   i, a, b) {
        for (i = 2; i <= count[pid]; i++) {
            if (rt[pid, i] >= t) {
                a = rt[pid, i - 1]; b = rt[pid, i]
                return rv[pid, i - 1, c] + (t - a) / (b - a) * (rv[pid, i, c] - rv[pid, i - 1, c])
            }
        }
        return "none"
    }
    function nearest(pid, c, t,   i, best, d) {
        best = "none"
        for (i = 1; i <= count[pid]; i++) {
            d = rt[pid, i] - t; if (d < 0) d = -d
            if (best == "none" || d < bestd) { best = rv[pid, i, c]; bestd = d }
        }
        return best
    }
    # One comparison: metric m, recorded r, reference f; error e against tolerance tol.
    function check(m, t, r, f, e, tol) {
        n[m]++; sr[m] += r; sf[m] += f
        if (e > maxe[m] || n[m] == 1) maxe[m] = e
        if (e > tol) bad[m]++
        printf "%s %s recorded %s reference %s error %s%s\n", m, t, r, f, e, (e > tol ? " OUT" : "") > details
    }
    function abs(x) { return x < 0 ? -x : x }
    FILENAME ~ /reference.log$/ && $1 == "proc" {
        i = ++count[$3]; rt[$3, i] = $2
        rv[$3, i, "ticks"] = $4; rv[$3, i, "rss"] = $5; rv[$3, i, "vmrss"] = $6; rv[$3, i, "write"] = $7; rv[$3, i, "fds"] = $8
        next
    }
    FILENAME ~ /reference.log$/ && $1 == "sock" {
        stimes[$2] = 1; sref[$2, $3, $4, $5] = $6; if ($4 == "listen") squeue[$2, $3] = $7
        next
    }
    FILENAME ~ /system.csv$/ {
        if (FNR == 1) { delete col; header($0); next }
        split($0, f, ","); collect[f[col["time_ms"]]] = f[col["collect_us"]] / 1000
        next
    }
    FILENAME ~ /processes.csv$/ {
        if (FNR == 1) { delete col; header($0); next }
        split($0, f, ",")
        pid = f[col["pid"]]; t = f[col["time_ms"]]
        if (pid == burner && prev[pid] != "" && f[col["cpu_pct"]] != "") {
            a = at(pid, "ticks", prev[pid]); b = at(pid, "ticks", t)
            if (a != "none" && b != "none") {
                ref = (b - a) * 100 / tick / ((t - prev[pid]) / 1000); r = f[col["cpu_pct"]]
                # One thread moves at most 100 points per span it is read late.
                slack = 100 * (collect[prev[pid]] + collect[t]) / (t - prev[pid])
                check("cpu_pct (burner at " burn "% of a CPU)", t, r, ref, abs(r - ref), 3 + slack)
            }
        }
        if (pid == holder) {
            ref = at(pid, "rss", t); vm = nearest(pid, "vmrss", t)
            if (ref != "none" && ref > 0) check("rss (" hold " MiB held)", t, f[col["rss"]], ref, abs(f[col["rss"]] - ref) / ref, 0.01)
            if (vm != "none") { vmn++; d = abs(vm - f[col["rss"]]) / 4096; vmdiff += d; if (d > vmmax) vmmax = d }
        }
        if ((pid == direct || pid == buffered) && prev[pid] != "" && f[col["write_bytes_per_s"]] != "") {
            name = pid == direct ? "write_bytes_per_s (O_DIRECT writer)" : "write_bytes_per_s (buffered writer)"
            pace = pid == direct ? direct_pace : buffered_pace
            a = at(pid, "write", prev[pid]); b = at(pid, "write", t)
            if (a != "none" && b != "none") {
                ref = (b - a) / ((t - prev[pid]) / 1000); r = f[col["write_bytes_per_s"]]
                slack = (collect[prev[pid]] + collect[t]) / (t - prev[pid])
                check(name, t, r, ref, abs(r - ref) / (ref > pace ? ref : pace), 0.10 + slack)
                if (!tmpfs) check(name " against its pace", t, r, pace, abs(r - pace) / pace, 0.10 + slack)
            }
        }
        if (pid == opener) {
            ref = nearest(pid, "fds", t)
            if (ref != "none") check("fds (one more a second)", t, f[col["fds"]], ref, abs(f[col["fds"]] - ref), 1)
        }
        prev[pid] = t
        next
    }
    FILENAME ~ /sockets.csv$/ {
        if (FNR == 1) { delete col; header($0); next }
        split($0, f, ",")
        port = f[col["port"]]
        if (port != port4 && port != port6 && port != port_full) next
        srec[f[col["time_ms"]], port, f[col["direction"]], f[col["state"]]] = f[col["count"]]
        if (f[col["direction"]] == "listen") sq[f[col["time_ms"]], port] = f[col["accept_queue"]]
        rtimes[f[col["time_ms"]]] = 1
        next
    }
    END {
        # Sockets: every (port, direction, state) either side has, per sample,
        # against the reference read nearest in time.
        for (t in rtimes) {
            # The readings just before and just after the sample.
            before = ""; after = ""
            for (s in stimes) {
                if (s <= t && (before == "" || s > before)) before = s
                if (s >= t && (after == "" || s < after)) after = s
            }
            if (before == "") before = after
            if (after == "") after = before
            best = before
            delete keys
            for (k in srec) { split(k, p, SUBSEP); if (p[1] == t) keys[p[2] SUBSEP p[3] SUBSEP p[4]] = 1 }
            for (k in sref) { split(k, p, SUBSEP); if (p[1] == before || p[1] == after) keys[p[2] SUBSEP p[3] SUBSEP p[4]] = 1 }
            for (k in keys) {
                split(k, p, SUBSEP)
                r = srec[t, p[1], p[2], p[3]] + 0
                ref = sref[before, p[1], p[2], p[3]] + 0; other = sref[after, p[1], p[2], p[3]] + 0
                if (abs(r - other) < abs(r - ref)) ref = other
                family = p[1] == port6 ? "::1" : "127.0.0.1"
                check("sockets " p[2] " " p[3] " (" (p[1] == port_full ? "full queue" : family) ")", t, r, ref, abs(r - ref), 0)
            }
            r = sq[t, port_full] + 0; ref = squeue[best, port_full] + 0
            check("accept queue (full, backlog 2)", t, r, ref, abs(r - ref), 0)
            r = sq[t, port4] + 0; ref = squeue[best, port4] + 0
            check("accept queue (4 queued, 127.0.0.1)", t, r, ref, abs(r - ref), 0)
            r = sq[t, port6] + 0; ref = squeue[best, port6] + 0
            check("accept queue (4 queued, ::1)", t, r, ref, abs(r - ref), 0)
        }
        print "| metric | samples | recorded (mean) | reference (mean) | largest error | tolerance | out of tolerance |"
        print "|---|---:|---:|---:|---:|---|---:|"
        k = 0
        for (m in n) {
            # Insertion sort: mawk has no asort.
            for (j = ++k; j > 1 && order[j - 1] > m; j--) order[j] = order[j - 1]
            order[j] = m
        }
        for (i = 1; i <= k; i++) {
            m = order[i]
            relative = m ~ /^(rss|write_bytes)/
            tol = m ~ /^cpu/ ? "± 3 points, + collection time / span" : m ~ /^rss/ ? "± 1%" : m ~ /^write/ ? "± 10% per sample, + collection time / span" : m ~ /^fds/ ? "± 1 (within a sample)" : "exact"
            err = relative ? sprintf("%.1f%%", 100 * maxe[m]) : sprintf("%g", maxe[m])
            printf "| %s | %d | %.6g | %.6g | %s | %s | %d |\n", m, n[m], sr[m] / n[m], sf[m] / n[m], err, tol, bad[m]
            total_bad += bad[m]
        }
        if (vmn) printf "\nrss is the counter of /proc/PID/stat; VmRSS of /proc/PID/status, read within a second of it, differed by %.1f pages on average, %d at most.\n", vmdiff / vmn, vmmax
        exit total_bad > 0
    }
' "$T/reference.log" "$T/system.csv" "$T/processes.csv" "$T/sockets.csv" && verdict=0 || verdict=$?
echo
echo "How: the reference is this script reading /proc/PID/stat, io, status and fd and /proc/net/tcp{,6} once a second; counters are interpolated at each sample's time, rates compared over the same span as the recorded one, within their tolerance plus the share of the span the recorder spent collecting either sample (its collect_us); fds with the reading nearest in time, socket counts with the readings either side. The writers' paces: ${DIRECT_KIB} KiB every ${DIRECT_MS} ms (O_DIRECT) and ${BUFFERED_KIB} KiB every ${BUFFERED_MS} ms (buffered), so any 1 s holds the pace within one write."
((BENCH_KEEP)) && echo "Per sample: $T/accuracy-samples.txt"
exit "$verdict"
