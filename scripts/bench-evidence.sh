#!/usr/bin/env bash
# Cost of the evidence sources: the recorder at a 5 s interval with 3 probes
# (a plain connect, an SMTP greeting and a milter negotiation, each against
# a local server that answers), 2 watched directories of 10,000 files each,
# and a watched log growing at 10 MB/s. Target: under 2% of one core, i.e.
# under 100 ms of CPU per 5 s sample, all of it included (/proc too).
#
#   scripts/bench-evidence.sh [--seconds S] [--files N] [--log-mb-per-s M]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=120 files=10000 rate=10 interval=5
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds=$2; shift 2 ;;
        --files) files=$2; shift 2 ;;
        --log-mb-per-s) rate=$2; shift 2 ;;
        *) echo "usage: $0 [--seconds S] [--files N] [--log-mb-per-s M]" >&2; exit 2 ;;
    esac
done
command -v python3 >/dev/null || { echo "$0: needs python3 for the local servers and the log writer" >&2; exit 1; }

# On disk, not tmpfs: the watched trees and the log behave as they would.
work=$(mktemp -d -p /var/tmp flightrec-evidence.XXXXXX)
pids=()
cleanup() {
    disown -a 2>/dev/null || true
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

cargo build --release --quiet --bin flightrec
bin=${CARGO_TARGET_DIR:-target}/release/flightrec

echo "creating 2 directories of $files files each (Postfix-style hashed subdirectories)..."
for dir in deferred active; do
    python3 - "$work/$dir" "$files" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    sub = os.path.join(root, "%X" % (i % 16), "%X" % (i // 16 % 16))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "%08X" % i), "w") as f:
        f.write("x" * 2000)
PY
done

# Local servers that answer: a plain listener, an SMTP greeting and a
# milter that replies to the option negotiation.
cat > "$work/servers.py" <<'PY'
import socket, struct, sys, threading
def serve(port, answer):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(64)
    while True:
        c, _ = s.accept()
        try:
            answer(c)
        finally:
            c.close()
def smtp(c):
    c.sendall(b"220 bench ESMTP\r\n"); c.recv(64)
def milter(c):
    c.recv(64); c.sendall(struct.pack(">IcIII", 13, b"O", 6, 0, 0))
for port, answer in ((int(sys.argv[1]), lambda c: None), (int(sys.argv[2]), smtp), (int(sys.argv[3]), milter)):
    threading.Thread(target=serve, args=(port, answer), daemon=True).start()
threading.Event().wait()
PY
python3 "$work/servers.py" 18825 18826 18827 & pids+=($!)

# The log: 10 MB/s of mail-log lines, in 100 ms bursts.
cat > "$work/writer.py" <<'PY'
import sys, time
path, rate = sys.argv[1], int(sys.argv[2]) * 1000 * 1000
line = b"Nov 18 18:00:09 mail postfix/smtpd[632203]: warning: connect to Milter service inet:localhost:8891: Connection refused\n"
burst = line * (rate // 10 // len(line))
with open(path, "ab", buffering=0) as f:
    while True:
        start = time.monotonic()
        f.write(burst)
        time.sleep(max(0.0, 0.1 - (time.monotonic() - start)))
PY
touch "$work/mail.log"
python3 "$work/writer.py" "$work/mail.log" "$rate" & pids+=($!)
sleep 1

"$bin" record --db "$work/flightrec.db" --interval "${interval}s" \
    --probe tcp:127.0.0.1:18825 --probe smtp:127.0.0.1:18826 --probe milter:127.0.0.1:18827 \
    --watch-dir "$work/deferred" --watch-dir "$work/active" --watch-log "$work/mail.log" 2>"$work/recorder.log" &
recorder=$!; pids+=($recorder)
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
log_bytes() { stat -c %s "$work/mail.log"; }
sleep $((2 * interval + 1))

t0=$(ticks "$recorder"); b0=$(log_bytes); start=$(date +%s)
echo "measuring for ${seconds}s..."
sleep "$seconds"
t1=$(ticks "$recorder"); b1=$(log_bytes); elapsed=$(( $(date +%s) - start ))
kill -TERM "$recorder"; wait "$recorder" 2>/dev/null || true

hz=$(getconf CLK_TCK)
samples=$("$bin" export --db "$work/flightrec.db" --from "@$start" | tail -n +2 | wc -l)
probes=$("$bin" export --db "$work/flightrec.db" --what probes --from "@$start" | tail -n +2 | awk -F, '{ n[$4]++ } END { for (k in n) printf "%s %d, ", k, n[k] }')
dirs=$("$bin" export --db "$work/flightrec.db" --what dirs | tail -n 2 | awk -F, '{ printf "%s: %s files (complete %s); ", $3, $4, $6 }')
awk -v t="$((t1 - t0))" -v hz="$hz" -v s="$elapsed" -v n="$samples" -v b="$((b1 - b0))" -v iv="$interval" 'BEGIN {
    cpu = t / hz
    printf "\n| figure | measured | target |\n|---|---:|---:|\n"
    printf "| CPU, share of one core | %.2f%% | < 2%% |\n", 100 * cpu / s
    printf "| CPU per %ds sample | %.1f ms | < %d ms |\n", iv, 1000 * cpu / (n > 0 ? n : 1), 20 * iv
    printf "| log growth seen | %.1f MB/s | 10 MB/s written |\n", b / s / 1e6
    printf "\n%d samples in %ds; CPU from utime+stime of the recorder (all threads), /proc/PID/stat.\n", n, s
    exit (100 * cpu / s < 2) ? 0 : 1
}' && verdict=PASS || verdict=FAIL
echo "probes: ${probes%, }"
echo "watched: ${dirs%; }"
echo "$verdict: the recorder with 3 probes, 2 directories of $files files and a log at $rate MB/s"
[ "$verdict" = PASS ]
