"""Kills a recorder -9 for scripts/crash-loop.sh. Started before the
recorder (so that its own start-up does not delay the kill), it prints
"ready", then reads "PID START" on standard input: the recorder's pid and
the Unix time in seconds it was started at. It kills it DELAY_MS after
START or, with
--at-checkpoint, the moment its database file is written (only a WAL
checkpoint writes the main file of a WAL database), whichever comes first.
STAMP is the database file's "mtime size" (`stat -c '%.9Y %s'`) taken
before the recorder started.

Prints what triggered the kill ("timer", "checkpoint" or "gone"), when it
came (ms after START) and whether a checkpoint was cut short by it
("interrupted" or "-"): the database file was written since the start, and
the WAL index (DB-shm),
read once the process is dead, shows a checkpoint begun and not finished.
SQLite sets nBackfillAttempted when a checkpoint starts copying frames into
the database, and nBackfill to the same value once the database is synced.
The concurrent reader (READER_PID) is paused from just before the kill
until the index is read, so that it cannot rebuild the index meanwhile.

    python3 killer.py DELAY_MS DB STAMP READER_PID [--at-checkpoint]
"""
import os
import signal
import struct
import sys
import time

delay_ms, db, before, reader = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
watch = "--at-checkpoint" in sys.argv[5:]


def stamp():
    try:
        st = os.stat(db)
        return "%d.%09d %d" % (st.st_mtime_ns // 10**9, st.st_mtime_ns % 10**9, st.st_size)
    except FileNotFoundError:
        return None


def dead():
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


def checkpoint_cut_short():
    # struct WalCkptInfo follows the two 48-byte copies of the index header:
    # nBackfill at byte 96, nBackfillAttempted at byte 128 (native order).
    try:
        with open(db + "-shm", "rb") as f:
            head = f.read(132)
    except FileNotFoundError:
        return False
    if len(head) < 132:
        return False
    (backfill,) = struct.unpack_from("=I", head, 96)
    (attempted,) = struct.unpack_from("=I", head, 128)
    return attempted > backfill


print("ready", flush=True)
pid, start = sys.stdin.readline().split()
pid, start = int(pid), float(start)
deadline = start + delay_ms / 1000
reason = "timer"
while time.time() < deadline:
    if watch and stamp() != before:
        reason = "checkpoint"
        break
    time.sleep(0.0005 if watch else max(0.0, min(0.01, deadline - time.time())))
def signal_reader(sig):
    try:
        os.kill(reader, sig)
    except ProcessLookupError:  # the script is ending
        pass


signal_reader(signal.SIGSTOP)
try:
    at_ms = round((time.time() - start) * 1000)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        reason = "gone"
    for _ in range(2000):
        if dead():
            break
        time.sleep(0.001)
    cut = stamp() != before and checkpoint_cut_short()
finally:
    signal_reader(signal.SIGCONT)
print(reason, at_ms, "interrupted" if cut else "-", flush=True)
