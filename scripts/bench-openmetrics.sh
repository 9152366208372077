#!/usr/bin/env bash
# Cost of `flightrec export --format openmetrics` on a SYNTHETIC database
# (examples/synthetic_db.rs writes it through the real store), and of
# loading the result into promtool and VictoriaMetrics when installed.
#
#   1. DAYS (30) days at 5 s of system metrics: sample lines per second of
#      CPU time (target >= 1,000,000) and peak RSS (target < 64 MiB).
#   2. One day at 5 s with PROCS (600) processes, every kind the synthetic
#      database holds: size and time of each export, then promtool's
#      create-blocks-from and VictoriaMetrics' /api/v1/import/prometheus
#      times for all of it.
#
#   scripts/bench-openmetrics.sh [--days N] [--procs N] [--system-procs N]
#
# --system-procs is the process count of the long database (500 as in
# bench-report.sh; the system export does not read processes, so a smaller
# number only makes the database quicker to write).
set -euo pipefail
cd "$(dirname "$0")/.."

days=30 procs=600 system_procs=500
while [ $# -gt 0 ]; do
    case "$1" in
        --days) days=$2; shift 2 ;;
        --procs) procs=$2; shift 2 ;;
        --system-procs) system_procs=$2; shift 2 ;;
        *) echo "usage: $0 [--days N] [--procs N] [--system-procs N]" >&2; exit 2 ;;
    esac
done

if [ ! -x /usr/bin/time ]; then
    apt-get update -qq && apt-get install -y -qq time >/dev/null
fi

work=$(mktemp -d /var/tmp/flightrec-bench-om.XXXXXX)
vm_pid=
cleanup() {
    [ -n "$vm_pid" ] && kill "$vm_pid" 2>/dev/null && wait "$vm_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --quiet --bin flightrec --example synthetic_db
target=${CARGO_TARGET_DIR:-target}
bin=$target/release/flightrec
synthetic=$target/release/examples/synthetic_db
export TMPDIR=$work

# Runs a command under GNU time; sets cpu (user+sys s), wall (s), rss (MiB).
timed() {
    /usr/bin/time -f "%U %S %e %M" -o "$work/time" "$@"
    read -r user sys wall kib < "$work/time"
    cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
    rss=$(awk -v k="$kib" 'BEGIN { printf "%.1f", k / 1024 }')
}

echo "1. system metrics of $days days at 5 s ($system_procs processes per sample)"
"$synthetic" "$work/long.db" "$days" "$system_procs" 5 2>/dev/null
timed "$bin" export --db "$work/long.db" --what system --format openmetrics -o "$work/long.om"
lines=$(grep -vc '^#' "$work/long.om")
samples=$("$bin" export --db "$work/long.db" --what system | tail -n +2 | wc -l)
rate=$(awk -v l="$lines" -v c="$cpu" 'BEGIN { printf "%d", (c > 0) ? l / c : 0 }')
echo "   $samples samples, $lines sample lines, $(du -m "$work/long.om" | cut -f1) MiB"
echo "   CPU ${cpu} s (wall ${wall} s): $rate lines per CPU second (target >= 1000000)"
echo "   peak RSS ${rss} MiB (target < 64 MiB)"
rm -f "$work/long.om" "$work/long.db"*

echo
echo "2. one day at 5 s with $procs processes, every kind"
"$synthetic" "$work/day.db" 1 "$procs" 5 2>/dev/null
printf '   | %-12s | %10s | %8s | %8s |\n' kind "size MiB" "CPU s" "RSS MiB"
for what in system processes sockets filesystems disks net; do
    timed "$bin" export --db "$work/day.db" --what "$what" --format openmetrics -o "$work/$what.om"
    printf '   | %-12s | %10s | %8s | %8s |\n' "$what" "$(du -m "$work/$what.om" | cut -f1)" "$cpu" "$rss"
done

if command -v promtool >/dev/null; then
    total=0
    for what in system processes sockets filesystems disks net; do
        timed promtool tsdb create-blocks-from openmetrics "$work/$what.om" "$work/blocks" >/dev/null
        total=$(awk -v a="$total" -v b="$wall" 'BEGIN { print a + b }')
    done
    echo "   promtool tsdb create-blocks-from openmetrics, all kinds: ${total} s wall"
else
    echo "   promtool missing (apt-get install prometheus): not measured"
fi

if command -v victoria-metrics >/dev/null; then
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    victoria-metrics -httpListenAddr "127.0.0.1:$port" -storageDataPath "$work/vm" -retentionPeriod 100y \
        >"$work/vm.log" 2>&1 &
    vm_pid=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
    start=$(date +%s.%N)
    for what in system processes sockets filesystems disks net; do
        curl -sf --data-binary "@$work/$what.om" "http://127.0.0.1:$port/api/v1/import/prometheus"
    done
    echo "   VictoriaMetrics /api/v1/import/prometheus, all kinds: $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s wall"
else
    echo "   victoria-metrics missing (apt-get install victoria-metrics): not measured"
fi
