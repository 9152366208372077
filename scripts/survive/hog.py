"""The hogs of scripts/under-pressure.sh, each bounded in time and size,
each named (its /proc comm) so that the report can name it:

    python3 hog.py storm SECONDS CAP SLEEPER [CGROUP_PROCS]
        forkstorm: forks as fast as it can for SECONDS, each child exec'ing
        SLEEPER (a symlink to sleep named "forkstorm") until the end; at most
        CAP children, fewer when the pids cgroup whose cgroup.procs file is
        given refuses forks. Prints "forked N refused M".
    python3 hog.py memory SECONDS FRACTION
        memhog: allocates and touches FRACTION of MemAvailable, holds it.
    python3 hog.py fds SECONDS COUNT
        fdhog: opens COUNT descriptors on /dev/null, holds them.
    python3 hog.py cpu SECONDS N
        cpuhog: N busy loops, N processes.
    python3 hog.py stallmeter OUT
        sleeps 100 ms at a time, until killed, and appends to OUT each time
        the machine woke it 100 ms late or more: "time_ms late_ms".
"""
import os
import resource
import signal
import sys
import time


def kill_on_term(children):
    """SIGTERM (the script's cleanup) takes the children along."""

    def handler(signum, frame):
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in children:  # reaped here, not left as zombies
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        os._exit(143)

    signal.signal(signal.SIGTERM, handler)


def name(comm):
    with open("/proc/self/comm", "w") as f:
        f.write(comm)


def storm(seconds, cap, sleeper, procs=None):
    name("forkstorm-ctl")
    if procs:
        with open(procs, "w") as f:
            f.write(str(os.getpid()))
    end = time.monotonic() + seconds
    forked = refused = 0
    children = set()
    kill_on_term(children)
    while time.monotonic() < end:
        if len(children) >= cap:
            time.sleep(0.05)
            continue
        try:
            pid = os.fork()
        except BlockingIOError:  # EAGAIN: the pids limit
            refused += 1
            time.sleep(0.01)
            continue
        if pid == 0:
            left = max(1, int(end - time.monotonic()) + 1)
            try:
                os.execv(sleeper, [sleeper, str(left)])
            finally:
                os._exit(127)
        forked += 1
        children.add(pid)
    for pid in children:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    for pid in children:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    print(f"    forked {forked}, refused {refused} times")


def memory(seconds, fraction):
    name("memhog")
    with open("/proc/meminfo") as f:
        available = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    size = int(available * fraction)
    block = bytearray(size)
    page = os.sysconf("SC_PAGE_SIZE")
    block[::page] = b"\x01" * len(range(0, size, page))  # touch every page
    print(f"    holding {size >> 20} MiB", flush=True)
    time.sleep(seconds)


def fds(seconds, count):
    name("fdhog")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (count + 64, max(hard, count + 64)))
    except (ValueError, OSError):  # no CAP_SYS_RESOURCE: up to the hard limit
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        count = min(count, hard - 64)
    held = [os.open("/dev/null", os.O_RDONLY) for _ in range(count)]
    print(f"    holding {len(held)} descriptors (limit {resource.getrlimit(resource.RLIMIT_NOFILE)[0]})", flush=True)
    time.sleep(seconds)


def cpu(seconds, count):
    name("cpuhog")
    end = time.monotonic() + seconds
    children = set()
    for _ in range(count - 1):
        pid = os.fork()
        if pid == 0:
            children.clear()
            break
        children.add(pid)
    kill_on_term(children)
    while time.monotonic() < end:
        pass
    for pid in list(children):
        os.waitpid(pid, 0)


def stallmeter(out):
    name("stallmeter")
    with open(out, "a", buffering=1) as f:
        while True:
            before = time.monotonic()
            time.sleep(0.1)
            late = (time.monotonic() - before - 0.1) * 1000
            if late >= 100:
                f.write("%d %d\n" % (time.time() * 1000, late))


what, args = sys.argv[1], sys.argv[2:]
if what == "storm":
    storm(float(args[0]), int(args[1]), args[2], args[3] if len(args) > 3 else None)
elif what == "memory":
    memory(float(args[0]), float(args[1]))
elif what == "fds":
    fds(float(args[0]), int(args[1]))
elif what == "cpu":
    cpu(float(args[0]), int(args[1]))
elif what == "stallmeter":
    stallmeter(args[0])
else:
    sys.exit(f"hog.py: unknown hog {what!r}")
