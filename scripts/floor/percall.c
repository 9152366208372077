/*
 * percall: what each way of reading a process costs, per process, so that
 * the process collector's choices rest on numbers (user + system CPU of
 * this program, from getrusage, over ROUNDS passes over every process in
 * /proc).
 *
 *   percall ROUNDS
 *
 * Prints one line per way: a kept-open file re-read with pread (stat,
 * schedstat, io, status), the same opened, read and closed each time, the
 * fd count from fstat of a kept O_PATH /proc/PID/fd (its size is the count
 * since Linux 6.2), from fstatat of PID/fd, and from a listing of the
 * directory (the only way before 6.2). Start as many processes as the
 * figure should hold first (scripts/bench-core.sh --keep leaves none; a
 * shell loop of `sleep` will do).
 *
 * Build: cc -O2 -o percall percall.c
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_PIDS 65536

static int pids[MAX_PIDS], npids, procfd;
static int kept[4][MAX_PIDS], fd_dirs[MAX_PIDS];
static const char *const KEPT[] = {"stat", "schedstat", "io", "status"};
static char buf[1 << 16];

static double cpu_us(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 + r.ru_utime.tv_usec + r.ru_stime.tv_usec;
}

static void open_read_close(int i, const char *name)
{
    char path[64];
    snprintf(path, sizeof path, "%d/%s", pids[i], name);
    int fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        while (read(fd, buf, sizeof buf) > 0)
            ;
        close(fd);
    }
}

static void list_fds(int i)
{
    char path[64];
    snprintf(path, sizeof path, "%d/fd", pids[i]);
    int fd = openat(procfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        while (syscall(SYS_getdents64, fd, buf, sizeof buf) > 0)
            ;
        close(fd);
    }
}

int main(int argc, char **argv)
{
    int rounds = argc == 2 ? atoi(argv[1]) : 0;
    if (rounds <= 0) {
        fprintf(stderr, "usage: percall ROUNDS\n");
        return 2;
    }
    DIR *proc = opendir("/proc");
    if (!proc) {
        perror("percall: /proc");
        return 1;
    }
    procfd = dirfd(proc);
    struct dirent *entry;
    while ((entry = readdir(proc)) && npids < MAX_PIDS)
        if (entry->d_name[0] >= '1' && entry->d_name[0] <= '9')
            pids[npids++] = atoi(entry->d_name);
    char path[64];
    for (int i = 0; i < npids; i++) {
        for (int k = 0; k < 4; k++) {
            snprintf(path, sizeof path, "%d/%s", pids[i], KEPT[k]);
            kept[k][i] = openat(procfd, path, O_RDONLY | O_CLOEXEC);
        }
        snprintf(path, sizeof path, "%d/fd", pids[i]);
        fd_dirs[i] = openat(procfd, path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    }
    printf("%d processes, %d rounds; CPU per process per read:\n", npids, rounds);
    struct stat st;
    double start;
#define MEASURE(label, body)                                                                       \
    do {                                                                                           \
        start = cpu_us();                                                                          \
        for (int r = 0; r < rounds; r++)                                                           \
            for (int i = 0; i < npids; i++) {                                                      \
                body;                                                                              \
            }                                                                                      \
        printf("  %-40s %6.2f us\n", label, (cpu_us() - start) / rounds / npids);                  \
    } while (0)
    for (int k = 0; k < 4; k++) {
        char label[64];
        snprintf(label, sizeof label, "pread of a kept-open %s", KEPT[k]);
        MEASURE(label, if (kept[k][i] >= 0) pread(kept[k][i], buf, sizeof buf, 0));
        snprintf(label, sizeof label, "open, read, close %s", KEPT[k]);
        MEASURE(label, open_read_close(i, KEPT[k]));
    }
    MEASURE("fd count: fstat of a kept O_PATH fd dir", if (fd_dirs[i] >= 0) fstat(fd_dirs[i], &st));
    MEASURE("fd count: fstatat PID/fd", snprintf(path, sizeof path, "%d/fd", pids[i]);
            fstatat(procfd, path, &st, 0));
    MEASURE("fd count: listing PID/fd (before 6.2)", list_fds(i));
    return 0;
}
