"""A concurrent reader for scripts/crash-loop.sh: polls the database
read-only, as another process would, and appends every sample it sees
("id time_ms run_id", one line each, flushed) to OUT. Runs until killed.

    python3 reader.py DB OUT
"""
import sqlite3
import sys
import time

db, out = sys.argv[1], sys.argv[2]
last = 0
with open(out, "a", buffering=1) as seen, open(out + ".errors", "a", buffering=1) as errors:
    while True:
        try:
            # A new connection each time, like a separate `sqlite3` run;
            # mode=ro: the reader never writes the file.
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
            try:
                rows = conn.execute(
                    "SELECT id, time_ms, run_id FROM samples WHERE id > ? ORDER BY id", (last,)
                ).fetchall()
            finally:
                conn.close()
            for row in rows:
                seen.write("%d %d %d\n" % row)
            if rows:
                last = rows[-1][0]
        except sqlite3.Error as err:
            errors.write("%.3f %s\n" % (time.time(), err))
        time.sleep(0.02)
