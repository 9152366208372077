"""Checks, read-only, that every sample the concurrent reader saw is still
in the database (scripts/crash-loop.sh). A seen sample is kept when its id
is there with the same time (an id reused after a lost commit would not
match); pruned when its id is below the oldest sample left, which only
retention may do (--pruning); lost otherwise.

    python3 seen_check.py DB SEEN [--pruning]

Prints "seen N kept N pruned N lost N" and the first lost samples; exits 1
when a sample was lost, or pruned without --pruning.
"""
import sqlite3
import sys

db, seen_path = sys.argv[1], sys.argv[2]
pruning = "--pruning" in sys.argv[3:]

seen = {}
with open(seen_path) as f:
    for line in f:
        parts = line.split()
        if len(parts) == 3:  # a line cut short by the kill of the reader is skipped
            seen[int(parts[0])] = int(parts[1])

conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
oldest = conn.execute("SELECT min(id) FROM samples").fetchone()[0] or 0
stored = dict(conn.execute("SELECT id, time_ms FROM samples WHERE id >= ?", (min(seen, default=0),)))
conn.close()

kept = pruned = 0
lost = []
for sample_id, time_ms in sorted(seen.items()):
    if stored.get(sample_id) == time_ms:
        kept += 1
    elif sample_id < oldest:
        pruned += 1
    else:
        lost.append((sample_id, time_ms, stored.get(sample_id)))

print(f"seen {len(seen)} kept {kept} pruned {pruned} lost {len(lost)}")
for sample_id, time_ms, now in lost[:5]:
    print(f"  lost: sample {sample_id} seen with time_ms {time_ms}, now {now if now is not None else 'absent'}")
sys.exit(1 if lost or (pruned and not pruning) else 0)
