#!/usr/bin/env bash
# Speed of `flightrec report` and `gaps` on a SYNTHETIC database of 30 days
# of 5-second samples with 500 processes each (examples/synthetic_db.rs
# writes it through the real store). Targets: report < 1 s, gaps < 200 ms,
# peak memory < 100 MiB; replay in an 80x24 terminal (tmux): the newest
# sample on screen < 200 ms after starting it, each step (`t`) < 50 ms.
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

if [ ! -x /usr/bin/time ] || ! command -v tmux >/dev/null; then
    apt-get update -qq && apt-get install -y -qq time tmux >/dev/null
fi

work=$(mktemp -d)
# replay runs in a tmux server of its own, ended with the script.
tmux_socket=flightrec-bench-$$
trap 'tmux -L "$tmux_socket" kill-server 2>/dev/null || true; rm -rf "$work"' EXIT

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

# replay, as a person sees it: milliseconds from starting it (or from a key)
# until the screen's first line shows the sample's time. Polls the screen
# every few ms, so each figure is a little above the true one.
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
clock() { date -d "@$(( $1 / 1000 ))" '+%F %T'; }
screen_starts_with() {
    local deadline=$(( $(now_ms) + 30000 ))
    until tmux -L "$tmux_socket" capture-pane -p -t replay 2>/dev/null | head -n 1 | grep -qF "$1"; do
        if [ "$(now_ms)" -gt "$deadline" ]; then
            echo "replay did not show $1 within 30 s; the screen:" >&2
            tmux -L "$tmux_socket" capture-pane -p -t replay >&2
            exit 1
        fi
        sleep 0.002
    done
}
replay_in_tmux() {
    tmux -L "$tmux_socket" new-session -d -s replay -x 80 -y 24 "$bin replay --db $db $*; sleep 600"
}
stats() { sort -n | awk '{ v[NR] = $1 } END { printf "%d ms | %d ms | %d ms", v[1], v[int((NR + 1) / 2)], v[NR] }'; }

newest=$("$bin" export --db "$db" --what system --from=-1h | tail -n 1 | cut -d, -f2)
for _ in $(seq "$runs"); do
    start=$(now_ms)
    replay_in_tmux --at now
    screen_starts_with "$(clock "$newest")"
    echo $(( $(now_ms) - start ))
    tmux -L "$tmux_socket" kill-session -t replay
done > "$work/open"

# 100 steps from the middle of the history: they cross key frames (every
# 5 minutes), where a step decodes the most.
mid=$(( $(date +%s) - days * 43200 ))
"$bin" export --db "$db" --what system --from "@$mid" --to "@$(( mid + 900 ))" | tail -n +2 | cut -d, -f2 \
    > "$work/times"
replay_in_tmux --at "@$(head -n 1 "$work/times" | sed 's/...$/.&/')"
screen_starts_with "$(clock "$(head -n 1 "$work/times")")"
tail -n +2 "$work/times" | head -n 100 | while read -r t; do
    start=$(now_ms)
    tmux -L "$tmux_socket" send-keys -t replay t
    screen_starts_with "$(clock "$t")"
    echo $(( $(now_ms) - start ))
done > "$work/steps"
tmux -L "$tmux_socket" kill-session -t replay


# The same two measurements of a shell that prints at once: what tmux, the
# polling and the machine's load add to each figure above.
for i in $(seq "$runs"); do
    start=$(now_ms)
    tmux -L "$tmux_socket" new-session -d -s replay -x 80 -y 24 "echo opened $i.; sleep 600"
    screen_starts_with "opened $i."
    echo $(( $(now_ms) - start ))
    tmux -L "$tmux_socket" kill-session -t replay
done > "$work/open-shell"
cat > "$work/keys.sh" <<'SHELL'
n=0
while read -rsn1 _; do
    n=$((n + 1))
    printf '\033[H\033[2Jkey %d.\n' "$n"
done
SHELL
tmux -L "$tmux_socket" new-session -d -s replay -x 80 -y 24 "bash $work/keys.sh"
for i in $(seq "$(wc -l < "$work/steps")"); do
    start=$(now_ms)
    tmux -L "$tmux_socket" send-keys -t replay t
    screen_starts_with "key $i."
    echo $(( $(now_ms) - start ))
done > "$work/steps-shell"
tmux -L "$tmux_socket" kill-session -t replay

echo
echo "| replay in tmux 80x24              | best   | median | worst  |"
echo "|-----------------------------------|--------|--------|--------|"
printf '| %-33s | %s |\n' "open, newest sample ($runs runs)" "$(stats < "$work/open")"
printf '| %-33s | %s |\n' "step t ($(wc -l < "$work/steps") steps, mid-history)" "$(stats < "$work/steps")"
printf '| %-33s | %s |\n' "a shell's echo, started alike" "$(stats < "$work/open-shell")"
printf '| %-33s | %s |\n' "a shell's answer to a key, alike" "$(stats < "$work/steps-shell")"
echo
echo "targets: replay open < 200 ms, step < 50 ms (each includes up to a few ms of polling the screen;"
echo "         the shell's rows are that polling, tmux and the machine's load alone)"
echo "load average $(cut -d ' ' -f 1-3 /proc/loadavg) on $(nproc) cores at the end"
