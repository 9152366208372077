"""Reads what scripts/under-pressure.sh gathered and says, for each hog,
what the export shows and whether the report names it; then whether the
recorder missed ticks beyond the stalls the machine really had.

    python3 pressure_check.py DIR

DIR holds system.csv and processes.csv (`flightrec export`), report.json
(`flightrec report --format json`), report-PHASE.json (the same, ending
while that hog still ran), phases ("name start_ms end_ms" lines)
and stalls (the stall meter: "time_ms late_ms" lines). Prints the figures;
exits 1 when a hog is not named or a tick was missed without a stall.
"""
import csv
import json
import os
import statistics
import sys

d = sys.argv[1]
system = list(csv.DictReader(open(os.path.join(d, "system.csv"))))
processes = list(csv.DictReader(open(os.path.join(d, "processes.csv"))))
report = json.load(open(os.path.join(d, "report.json")))
phases = {}
for line in open(os.path.join(d, "phases")):
    name, start, end = line.split()
    phases[name] = (int(start), int(end))
stalls = [tuple(map(int, line.split())) for line in open(os.path.join(d, "stalls")) if line.strip()]


def num(row, key):
    value = row.get(key, "")
    return float(value) if value not in ("", None) else None


def during(rows, phase, pad_ms=0):
    start, end = phases[phase]
    return [r for r in rows if start - pad_ms <= int(r["time_ms"]) <= end + pad_ms]


def series(rows, key):
    return [v for v in (num(r, key) for r in rows) if v is not None]


def last_before(phase, key):
    """The value in the last sample before the phase began."""
    start = phases[phase][0]
    rows = [r for r in system if int(r["time_ms"]) < start and num(r, key) is not None]
    return num(rows[-1], key) if rows else float("nan")


def peak(phase, key, how=max):
    return how(series(during(system, phase), key), default=float("nan"))


def per_sample(phase, comm, key=None):
    """The most processes named comm in one sample of the phase, or the
    largest value of key among them."""
    out = {}
    for r in during(processes, phase):
        if r["comm"] != comm:
            continue
        t = r["time_ms"]
        if key is None:
            out[t] = out.get(t, 0) + 1
        elif num(r, key) is not None:
            out[t] = max(out.get(t, 0), num(r, key))
    return max(out.values()) if out else 0


findings = report.get("findings", [])


def names(comm):
    return lambda f: comm in f.get("summary", "") or comm in f.get("subject", "")


def in_phase(phase, kinds, subject=None):
    """A machine-wide finding of one of kinds, timed within the phase (or up
    to 10 s after it: averages lag)."""
    start, end = phases[phase]

    def test(f):
        if f["kind"] not in kinds or (subject and f.get("subject") != subject):
            return False
        values = f.get("values") or {}
        times = [f.get("first_seen_ms")] + [values.get(k) for k in ("peak_ms", "at_ms", "to_ms")]
        return any(isinstance(t, (int, float)) and start <= t <= end + 10_000 for t in times)

    return test


def matching(*tests, among=None):
    return [f for f in (findings if among is None else among) if any(t(f) for t in tests)]


def while_running(phase, comm):
    """Findings naming comm in the report that ends while it still ran."""
    try:
        found = json.load(open(os.path.join(d, f"report-{phase}.json"))).get("findings", [])
    except FileNotFoundError:
        return []
    return matching(names(comm), among=found)


gib = 1 << 30
total = peak("quiet", "mem_total")
evidence, named = {}, {}
evidence["fork storm"] = "processes %.0f before it, up to %.0f; forkstorm processes in one sample: up to %d" % (
    last_before("storm", "processes"), peak("storm", "processes"), per_sample("storm", "forkstorm"))
named["fork storm"] = matching(names("forkstorm"), in_phase("storm", ("tasks_near_limit",)))
evidence["memory hog"] = "mem_available %.1f GiB before it, down to %.1f GiB (%.0f%% of %.1f GiB); memhog RSS up to %.1f GiB (%.0f%% of memory)" % (
    last_before("memory", "mem_available") / gib, peak("memory", "mem_available", min) / gib,
    peak("memory", "mem_available", min) * 100 / total, total / gib,
    per_sample("memory", "memhog", "rss") / gib, per_sample("memory", "memhog", "rss") * 100 / total)
named["memory hog"] = matching(
    names("memhog"),
    in_phase("memory", ("memory_low", "oom_kill", "swapping", "major_faults")),
    in_phase("memory", ("pressure",), "memory pressure"))
evidence["fd hog"] = "files_allocated %.0f before it, up to %.0f (file-max %.0f); fdhog open files up to %d" % (
    last_before("fds", "files_allocated"), peak("fds", "files_allocated"), peak("quiet", "files_max"),
    per_sample("fds", "fdhog", "fds"))
named["fd hog"] = matching(names("fdhog"), in_phase("fds", ("file_handles_near_limit",)))
busy = series(during(system, "cpu"), "cpu_busy_pct")
evidence["cpu hog"] = "load1 %.2f before it, up to %.2f (%d CPUs); CPU busy %.0f%% on average; cpuhog processes up to %.0f%% of one CPU each" % (
    last_before("cpu", "load1"), peak("cpu", "load1"), os.cpu_count(),
    statistics.mean(busy) if busy else float("nan"), per_sample("cpu", "cpuhog", "cpu_pct"))
# By name only: a load finding also comes from anything else loading the
# machine, and says nothing of who.
named["cpu hog"] = matching(names("cpuhog"))
context = {
    "cpu hog": matching(in_phase("cpu", ("load_high",)), in_phase("cpu", ("pressure",), "cpu pressure")),
}

hogs = {"fork storm": ("storm", "forkstorm"), "memory hog": ("memory", "memhog"),
        "fd hog": ("fds", "fdhog"), "cpu hog": ("cpu", "cpuhog")}
print("what the export shows, and what the report said about it:")
missing = []
for hog in ("fork storm", "memory hog", "fd hog", "cpu hog"):
    print(f"  {hog}: {evidence[hog]}")
    if named[hog]:
        for f in named[hog]:
            print(f"    named: [{f['kind']}] {f['summary']}")
    else:
        print("    NOT NAMED by the report")
        for f in context.get(hog, []):
            print(f"    (machine-wide, not naming it: [{f['kind']}] {f['summary']})")
        phase, comm = hogs[hog]
        alive = while_running(phase, comm)
        said = "; ".join(f"[{f['kind']}] {f['summary']}" for f in alive) or f"nothing naming {comm} either"
        print(f"    a report ending 2 s before the hog's end said: {said}")
        missing.append(hog)

print("the report's findings, all of them:")
for f in findings:
    print(f"  [{f['severity']}] [{f['kind']}] {f['summary']}")
if not findings:
    print("  (none)")

# Ticks: lateness and holes, against the stalls the meter saw.
interval_ms = 1000
late = [(int(r["time_ms"]), int(r["lateness_ms"])) for r in system]
times = [int(r["time_ms"]) for r in system if phases["quiet"][0] <= int(r["time_ms"])]
holes = [(a, b - a) for a, b in zip(times, times[1:]) if b - a > 1.5 * interval_ms]


def machine_stalled(at_ms, ms):
    """The stall meter saw a stall of at least ms - 500 within 3 s of at_ms."""
    return any(abs(t - at_ms) <= 3000 and s >= ms - 500 for t, s in stalls)


late_ticks = [(t, ms) for t, ms in late if ms >= 1000]
unexplained = [(t, ms) for t, ms in late_ticks if not machine_stalled(t, ms)]
unexplained += [(t, gap) for t, gap in holes if not machine_stalled(t + gap, gap - interval_ms)]
worst = max((ms for _, ms in late), default=0)
meter = max((s for _, s in stalls), default=0)
print("ticks:")
print(f"  samples: {len(times)} over {(times[-1] - times[0]) / 1000:.0f} s at 1 s" if times else "  samples: none")
print(f"  worst lateness: {worst} ms; ticks ≥ 1000 ms late: {len(late_ticks)}; holes > 1.5 s: {len(holes)}")
print(f"  the machine's own worst stall (a 100 ms sleep woken late): {meter} ms, {len(stalls)} stalls ≥ 100 ms")
print(f"  late ticks or holes without a stall of the machine: {len(unexplained)}")
for t, ms in unexplained[:5]:
    print(f"    at {t}: {ms} ms")

with open(os.path.join(d, "verdict"), "w") as out:
    for hog in missing:
        out.write(f"detector gap: the {hog} is not named by the report ({evidence[hog]})\n")
    if unexplained:
        out.write(f"{len(unexplained)} ticks late or missed without the machine stalling\n")
sys.exit(1 if missing or unexplained else 0)
