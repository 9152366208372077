#!/usr/bin/env bash
# Speed of `flightrec report` and `gaps` on a SYNTHETIC database of 30 days
# of 5-second samples with 500 processes each (examples/synthetic_db.rs
# writes it through the real store). Targets: report < 1 s, gaps < 200 ms,
# peak memory < 100 MiB.
#
# Then long windows on the same database: 24 hours as text (target: under
# 2 s and 100 MiB), 7 days (under 10 s), and 24 hours as HTML (under 5 MB,
# 3 s and 150 MiB); and a 15-minute window of a second synthetic database
# sampled every second (target: under 1 MB).
#
#   scripts/bench-report.sh [--days N] [--procs N] [--runs N]
set -euo pipefail
cd "$(dirname "$0")/.."

days=30 procs=500 runs=5
while [ $# -gt 0 ]; do
    case "$1" in
        --days) days=$2; shift 2 ;;
        --procs) procs=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        *) echo "usage: $0 [--days N] [--procs N] [--runs N]" >&2; exit 2 ;;
    esac
done

if [ ! -x /usr/bin/time ]; then
    apt-get update -qq && apt-get install -y -qq time >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet --bin flightrec --example synthetic_db
target=${CARGO_TARGET_DIR:-target}
bin=$target/release/flightrec
db=$work/synthetic.db

echo "writing a synthetic database: $days days, 5 s interval, $procs processes per sample..."
start=$(date +%s)
"$target/release/examples/synthetic_db" "$db" "$days" "$procs" 5 2>/dev/null
samples=$("$bin" export --db "$db" --what system | tail -n +2 | wc -l)
echo "  $samples samples, $(du -m "$db" | cut -f1) MiB, written in $(( $(date +%s) - start )) s"

# Best and worst of N runs: elapsed seconds and peak RSS from GNU time.
measure() {
    local name=$1; shift
    local best=999 worst=0 peak=0
    for _ in $(seq "$runs"); do
        /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null
        read -r secs kib < "$work/time"
        best=$(awk -v a="$secs" -v b="$best" 'BEGIN { print (a < b) ? a : b }')
        worst=$(awk -v a="$secs" -v b="$worst" 'BEGIN { print (a > b) ? a : b }')
        [ "$kib" -gt "$peak" ] && peak=$kib
    done
    printf '| %-28s | %6.2f s | %6.2f s | %6.1f MiB |\n' "$name" "$best" "$worst" "$(awk -v k="$peak" 'BEGIN { print k / 1024 }')"
}

echo
echo "| command ($runs runs each)          | best     | worst    | peak RSS   |"
echo "|------------------------------|----------|----------|------------|"
measure "gaps" "$bin" gaps --db "$db"
measure "report (newest period)" "$bin" report --db "$db"
measure "report --at (mid-history)" "$bin" report --db "$db" --at "@$(( $(date +%s) - days * 43200 ))"
measure "report --format json" "$bin" report --db "$db" --format json
measure "report --window 24h" "$bin" report --db "$db" --window 24h
measure "report --window 7d" "$bin" report --db "$db" --window 7d
measure "report --format html, 24 h" "$bin" report --db "$db" --window 24h --format html -o "$work/day.html"
echo
echo "targets: report < 1 s, gaps < 200 ms, peak memory < 100 MiB (wall time and peak RSS from GNU time; 10 ms resolution)"
echo "         report --window 24h: < 2 s, < 100 MiB; --window 7d: < 10 s"
echo "         report --format html over 24 h: < 3 s, < 150 MiB"
echo "load average while measuring: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "writing a second synthetic database: 1 day, 1 s interval, $procs processes per sample..."
"$target/release/examples/synthetic_db" "$work/second.db" 1 "$procs" 1 2>/dev/null
"$bin" report --db "$work/second.db" --window 15m --format html -o "$work/quarter.html"
echo
echo "| HTML page                         | size     | target  |"
echo "|-----------------------------------|----------|---------|"
printf '| %-33s | %5.2f MB | < 1 MB  |\n' "15 min window, 1 s samples" "$(awk -v b="$(stat -c %s "$work/quarter.html")" 'BEGIN { print b / 1e6 }')"
printf '| %-33s | %5.2f MB | < 5 MB  |\n' "24 h window, 5 s samples" "$(awk -v b="$(stat -c %s "$work/day.html")" 'BEGIN { print b / 1e6 }')"
