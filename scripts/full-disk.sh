#!/usr/bin/env bash
# Recording goes on when the filesystem holding the database is full.
# The database lives on a small tmpfs; once recording runs, a child fills
# the filesystem to 100% and holds it there while the recorder samples at
# 100 ms (600 samples: what 10 minutes of 1 s samples would be). Then:
# samples kept arriving while it was full, integrity_check and `flightrec
# check` pass, and once space returns recording is back at full speed.
#
#   scripts/full-disk.sh [--seconds S]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds=$2; shift 2 ;;
        *) echo "usage: $0 [--seconds S]" >&2; exit 2 ;;
    esac
done
((EUID == 0)) || { echo "$0: run as root (it mounts a tmpfs)" >&2; exit 1; }
command -v sqlite3 >/dev/null || { apt-get update -qq && apt-get install -y -qq sqlite3 >/dev/null; }

mnt=$(mktemp -d)
recorder=
cleanup() {
    [ -n "$recorder" ] && kill -9 "$recorder" 2>/dev/null || true
    umount "$mnt" 2>/dev/null || true
    rmdir "$mnt" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

cargo build --release --quiet --bin flightrec
bin=${CARGO_TARGET_DIR:-target}/release/flightrec
mount -t tmpfs -o size=32m tmpfs "$mnt"
db=$mnt/flightrec.db
count() { sqlite3 -readonly "$db" "select count(*) from samples"; }

"$bin" record --db "$db" --interval 100ms --reserve 8MiB --max-size 24MiB 2>/dev/null &
recorder=$!
sleep 3
before=$(count)
echo "filling $mnt to 100% ($(df --output=avail -h "$mnt" | tail -1 | tr -d ' ') free)..."
dd if=/dev/zero of="$mnt/fill" bs=64k 2>/dev/null || true
df --output=pcent "$mnt" | tail -1 | grep -q '100%' || { echo "FAIL: the filesystem did not fill"; exit 1; }
full_start=$(count)
sleep "$seconds"
full_end=$(count)
echo "freeing the space..."
rm -f "$mnt/fill"
sleep 3
after=$(count)
kill -TERM "$recorder"; wait "$recorder" || true
recorder=
integrity=$(sqlite3 -readonly "$db" "pragma integrity_check")
check=$("$bin" check --db "$db") && check_ok=yes || check_ok=no
events=$("$bin" export --db "$db" --what events | tail -n +2 | cut -d, -f3 | sort | uniq -c | tr -s ' \n' ' ')

full=$((full_end - full_start))
expected=$((seconds * 10))
echo
echo "| figure | value |"
echo "|---|---:|"
echo "| samples before the disk filled | $before |"
echo "| samples committed while it was 100% full (${seconds}s at 100 ms) | $full of about $expected |"
echo "| samples in the 3 s after space returned | $((after - full_end)) |"
echo "| PRAGMA integrity_check | $integrity |"
echo "| flightrec check | $check_ok |"
echo "events: ${events:-none} (the reserve held when there is no disk-full event)"
echo "$check"
if [ "$integrity" = ok ] && [ "$check_ok" = yes ] && ((full >= expected * 9 / 10)) && ((after > full_end)); then
    echo "PASS: recording went on through a full disk, and the database is sound"
else
    echo "FAIL"
    exit 1
fi
