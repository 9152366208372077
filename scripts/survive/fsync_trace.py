"""Reads an strace log of `flightrec record` (scripts/fsync-per-commit.sh)
and checks SQLite's WAL protocol on the database DB:

  - commits: every WAL frame header with a non-zero "database size after
    commit" field ends a transaction; it must be followed by an fsync or
    fdatasync of the WAL before the next frame is written (synchronous=FULL);
  - checkpoints: every run of writes to the database file must be preceded
    by a sync of the WAL (after its last write) and followed by a sync of the
    database before the WAL is reused (its header rewritten at offset 0),
    truncated or deleted.

The log comes from `strace -f -tt -T -y -s 8 -x -e trace=...`: descriptors
carry their paths, buffers their first 8 bytes.

    python3 fsync_trace.py TRACE DB

Prints "name value" lines for the script to show; exits 1 when a commit or
a checkpoint broke the protocol.
"""
import codecs
import re
import sys

trace_path, db = sys.argv[1], sys.argv[2]
wal = db + "-wal"

LINE = re.compile(r"^(\d+)\s+\S+\s+(.*)$")
CALL = re.compile(r"^(\w+)\((.*)\)\s+=\s+(-?\d+)(?:\s.*?)?(?:<([\d.]+)>)?$")
UNFINISHED = re.compile(r"^(\w+)\((.*) <unfinished \.\.\.>$")
RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$")
FD = re.compile(r"^\d+<(.*?)>")


def split_args(text):
    """Top-level comma split that respects quoted strings."""
    args, depth, quoted, escaped, cur = [], 0, False, False, ""
    for ch in text:
        if quoted:
            cur += ch
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
            continue
        if ch == '"':
            quoted = True
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
            continue
        cur += ch
    if cur.strip():
        args.append(cur.strip())
    return args


def unquote(arg):
    body = arg[1 : arg.rindex('"')]
    return codecs.escape_decode(body.encode("latin-1"))[0]


def path_of(arg):
    m = FD.match(arg)
    if not m:
        return None
    return codecs.escape_decode(m.group(1).encode("latin-1"))[0].decode("utf-8", "replace")


# Pass 1: whole calls, in the order they started.
calls = []
pending = {}
with open(trace_path, encoding="latin-1") as f:
    for lineno, line in enumerate(f, 1):
        m = LINE.match(line.rstrip("\n"))
        if not m:
            continue
        pid, rest = m.groups()
        u = UNFINISHED.match(rest)
        if u:
            slot = len(calls)
            calls.append(None)
            pending[pid] = (slot, u.group(1), u.group(2))
            continue
        r = RESUMED.match(rest)
        if r and pid in pending:
            slot, name, head = pending.pop(pid)
            rest = f"{name}({head}{r.group(2)}"
            m2 = CALL.match(rest)
            if m2:
                calls[slot] = m2.groups() + (lineno,)
            continue
        m2 = CALL.match(rest)
        if m2:
            calls.append(m2.groups() + (lineno,))

# Pass 2: events on the database files.
SYNCS = ("fsync", "fdatasync", "sync_file_range")
events = []  # (kind, detail): wal-header, wal-frame, wal-commit, wal-page, wal-sync, wal-truncate, wal-delete, db-write, db-sync
sync_ms = []
appended_to = 0  # offset of the last frame header appended to the WAL
for call in calls:
    if call is None:
        continue
    name, argtext, ret, duration, lineno = call
    args = split_args(argtext)
    if not args:
        continue
    if name in ("unlink", "unlinkat"):
        target = args[-1] if name == "unlink" else args[1]
        try:
            if unquote(target).decode("utf-8", "replace") == wal:
                events.append(("wal-delete", lineno))
        except ValueError:
            pass
        continue
    path = path_of(args[0])
    if path not in (db, wal):
        continue
    kind = "wal" if path == wal else "db"
    if name in SYNCS:
        events.append((kind + "-sync", lineno))
        if duration:
            sync_ms.append(float(duration) * 1000)
    elif name == "ftruncate":
        events.append((kind + "-truncate", lineno))
    elif name in ("pwrite64", "pwrite", "write", "pwritev", "pwritev2"):
        if kind == "db":
            events.append(("db-write", lineno))
            continue
        size, offset = int(args[2]), int(args[3]) if len(args) > 3 else -1
        if offset == 0 and size == 32:
            appended_to = 0
            events.append(("wal-header", lineno))
        elif size == 24:
            head = unquote(args[1])
            commit = len(head) >= 8 and int.from_bytes(head[4:8], "big") != 0
            if offset <= appended_to:
                # A header rewritten in place, inside the transaction being
                # committed: SQLite recomputes the checksums of frames it
                # overwrote (walRewriteChecksums) before the sync.
                events.append(("wal-rewrite", lineno))
            else:
                appended_to = offset
                events.append(("wal-commit" if commit else "wal-frame", lineno))
        else:
            events.append(("wal-page", lineno))

# Commits: a sync of the WAL after the commit frame, before the next frame.
commits = commits_synced = 0
open_commit = None
unsynced = []
for kind, lineno in events:
    if kind in ("wal-commit", "wal-frame", "wal-header", "wal-truncate") and open_commit:
        unsynced.append(open_commit)  # the next write came before any sync
        open_commit = None
    if kind == "wal-commit":
        commits += 1
        open_commit = lineno
    elif kind == "wal-sync" and open_commit:
        commits_synced += 1
        open_commit = None
if open_commit:
    unsynced.append(open_commit)
wal_syncs = sum(1 for kind, _ in events if kind == "wal-sync")

# Checkpoints: maximal runs of database writes.
checkpoints = wal_synced_first = db_synced_after = 0
i = 0
while i < len(events):
    if events[i][0] != "db-write":
        i += 1
        continue
    checkpoints += 1
    # Before: the WAL's last write before this run must have been synced.
    last_wal_write = max((j for j in range(i) if events[j][0].startswith("wal-") and events[j][0] not in ("wal-sync",)), default=-1)
    if any(events[j][0] == "wal-sync" for j in range(last_wal_write + 1, i)):
        wal_synced_first += 1
    # The run itself (other database writes, with possible truncation).
    j = i
    while j < len(events) and events[j][0] in ("db-write", "db-truncate"):
        j += 1
    # After: a sync of the database before the WAL is reused, cut or deleted.
    synced = False
    for k in range(j, len(events)):
        kind = events[k][0]
        if kind == "db-sync":
            synced = True
            break
        if kind in ("wal-header", "wal-truncate", "wal-delete", "wal-frame", "wal-commit", "db-write"):
            break
    if synced:
        db_synced_after += 1
    i = j

print("commits", commits)
print("commits_synced", commits_synced)
print("wal_syncs", wal_syncs)
print("wal_restarts", sum(1 for kind, _ in events if kind == "wal-header"))
print("wal_truncations", sum(1 for kind, _ in events if kind == "wal-truncate"))
print("checkpoints", checkpoints)
print("checkpoints_wal_synced_first", wal_synced_first)
print("checkpoints_db_synced_after", db_synced_after)
print("sync_ms_mean", round(sum(sync_ms) / len(sync_ms), 2) if sync_ms else 0)
print("unsynced_commit_lines", ",".join(map(str, unsynced[:10])) or "-")
print("sync_ms_max", round(max(sync_ms), 2) if sync_ms else 0)
ok = commits > 0 and commits_synced == commits and wal_synced_first == checkpoints and db_synced_after == checkpoints
sys.exit(0 if ok else 1)
