/*
 * floor: the least a recorder can do each tick, to measure recorders against.
 *
 *   floor stat INTERVAL_MS LOG   reads /proc/PID/stat of every process
 *   floor all  INTERVAL_MS LOG   reads stat, statm, status and io of every process
 *
 * Both modes also read the global files a recorder needs (/proc/stat,
 * meminfo, loadavg, vmstat, net/dev, net/snmp, diskstats, net/tcp, net/tcp6)
 * and parse nothing: the bytes are read and dropped. Ticks fall on
 * CLOCK_MONOTONIC at start + k * INTERVAL_MS, the first one at once; after
 * each tick one line (the wall-clock ms at which the tick began) is appended
 * to LOG so the benchmark can count ticks. /proc stays open and is rewound
 * each tick; the per-process files are opened, read once and closed (the
 * plain way; keeping them open and re-reading with pread is cheaper still).
 * Runs until killed; no allocation after start.
 *
 * Build: cc -O2 -o floor floor.c
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const GLOBALS[] = {
    "stat", "meminfo", "loadavg", "vmstat", "net/dev",
    "net/snmp", "diskstats", "net/tcp", "net/tcp6",
};
static const char *const PER_PID_STAT[] = {"stat"};
static const char *const PER_PID_ALL[] = {"stat", "statm", "status", "io"};

static char big[1 << 16];

/*
 * Reads a whole file relative to dirfd and drops the bytes. Global files are
 * read until read() gives 0; per-process files fit in one read, so a short
 * read ends them, as in any careful reader.
 */
static void slurp(int dirfd, const char *path, char *buf, size_t size, int until_eof)
{
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return; /* the process exited, or the file is not readable */
    ssize_t n;
    do
        n = read(fd, buf, size);
    while ((until_eof ? n > 0 : n == (ssize_t)size) || (n < 0 && errno == EINTR));
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[1], "stat") && strcmp(argv[1], "all"))) {
        fprintf(stderr, "usage: floor stat|all INTERVAL_MS LOG\n");
        return 2;
    }
    int all = strcmp(argv[1], "all") == 0;
    const char *const *files = all ? PER_PID_ALL : PER_PID_STAT;
    size_t nfiles = all ? 4 : 1;
    long interval_ms = strtol(argv[2], NULL, 10);
    if (interval_ms <= 0) {
        fprintf(stderr, "floor: INTERVAL_MS must be a positive number of ms\n");
        return 2;
    }
    FILE *log = fopen(argv[3], "a");
    DIR *proc = opendir("/proc");
    if (!log || !proc) {
        perror("floor: opening the log or /proc");
        return 1;
    }
    int procfd = dirfd(proc);
    char small[4096], path[320];
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (;;) {
        struct timespec wall;
        clock_gettime(CLOCK_REALTIME, &wall);
        for (size_t i = 0; i < sizeof GLOBALS / sizeof *GLOBALS; i++)
            slurp(procfd, GLOBALS[i], big, sizeof big, 1);
        rewinddir(proc);
        struct dirent *entry;
        while ((entry = readdir(proc))) {
            if (entry->d_name[0] < '1' || entry->d_name[0] > '9')
                continue;
            for (size_t i = 0; i < nfiles; i++) {
                snprintf(path, sizeof path, "%s/%s", entry->d_name, files[i]);
                slurp(procfd, path, small, sizeof small, 0);
            }
        }
        fprintf(log, "%lld\n", (long long)wall.tv_sec * 1000 + wall.tv_nsec / 1000000);
        fflush(log);

        next.tv_sec += interval_ms / 1000;
        next.tv_nsec += (interval_ms % 1000) * 1000000;
        if (next.tv_nsec >= 1000000000) {
            next.tv_sec++;
            next.tv_nsec -= 1000000000;
        }
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
            ;
    }
}
