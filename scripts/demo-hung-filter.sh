#!/usr/bin/env bash
# Reproduces the first seed incident on this machine, without Postfix, and
# shows what `flightrec report` makes of it:
#   - a mail filter on 127.0.0.1:8891 accepts connections and never answers;
#   - "smtpd" processes pile up, each stuck on a connection to it, its
#     request unanswered;
#   - the recorder freezes (SIGSTOP, as a machine too loaded to schedule it),
#     is killed -9 and started again (the reboot).
# Everything runs on loopback in a temporary directory, and is cleaned up
# on exit, even on Ctrl-C.
#
# With --no-probe the recorder probes nothing: the report must find the hung
# filter from the wait-for picture alone.
#
#   scripts/demo-hung-filter.sh [--clients N] [--freeze SECONDS] [--no-probe]
set -euo pipefail
cd "$(dirname "$0")/.."

clients=100 freeze=20 port=8891 probes=yes
while [ $# -gt 0 ]; do
    case "$1" in
        --clients) clients=$2; shift 2 ;;
        --freeze) freeze=$2; shift 2 ;;
        --no-probe) probes=no; shift ;;
        *) echo "usage: $0 [--clients N] [--freeze SECONDS] [--no-probe]" >&2; exit 2 ;;
    esac
done
command -v python3 >/dev/null || { echo "$0: needs python3 for the fake filter and clients" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
    # Disowned first, so that their deaths are not reported as job lines.
    disown -a 2>/dev/null || true
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    pkill -9 -f "$work/" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

cargo build --release --quiet --bin flightrec
bin=${CARGO_TARGET_DIR:-target}/release/flightrec
db=$work/flightrec.db

# The hung filter: listens, accepts, never says a word.
cat > "$work/filter.py" <<'PY'
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1024)
held = []
while True:
    conn, _ = s.accept()
    held.append(conn)
PY
# A stuck SMTP session: connects to the filter, sends its option
# negotiation (as Postfix does first) and waits for the answer.
cat > "$work/session.py" <<'PY'
import socket, struct, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.sendall(struct.pack(">IcIII", 13, b"O", 6, 0x1ff, 0x1fffff))
c.recv(1)
time.sleep(3600)
PY
# The real interpreter, not a version-manager shim, which would not run
# under another name.
python=$(python3 -c 'import sys; print(sys.executable)')
ln -s "$python" "$work/smtpd"
ln -s "$python" "$work/blackhole-milt"

"$work/blackhole-milt" "$work/filter.py" "$port" & pids+=($!)
sleep 0.5
probe_args=()
if [ "$probes" = yes ]; then
    probe_args=(--probe "milter:127.0.0.1:$port" --probe "tcp:127.0.0.1:$port")
fi
"$bin" record --db "$db" --interval 1s "${probe_args[@]}" 2>"$work/recorder.log" &
recorder=$!; pids+=($recorder)
echo "recording into $db; letting it settle..."
sleep 5

echo "starting $clients smtpd sessions that hang on the filter..."
for _ in $(seq "$clients"); do
    "$work/smtpd" "$work/session.py" "$port" & pids+=($!)
    sleep 0.1
done
sleep 5

echo "freezing the recorder for ${freeze}s (SIGSTOP), then killing it (-9)..."
kill -STOP "$recorder"
sleep "$freeze"
kill -9 "$recorder"
wait "$recorder" 2>/dev/null || true

echo "starting it again, as after the reboot..."
"$bin" record --db "$db" --interval 1s 2>>"$work/recorder.log" &
recorder=$!; pids+=($recorder)
sleep 3
kill -TERM "$recorder"
wait "$recorder" 2>/dev/null || true

echo
echo "\$ flightrec gaps"
"$bin" gaps --db "$db"
echo
echo "\$ flightrec report"
"$bin" report --db "$db" --window 2m
