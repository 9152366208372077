/*
 * workload: known, steady per-process workloads for the accuracy check
 * (scripts/accuracy.sh and tests/cases/accuracy.rs), one process each.
 *
 *   workload hold MIB                   maps MIB MiB of anonymous memory, touches
 *                                       every page, then sleeps
 *   workload write FILE KIB MS direct   writes KIB KiB every MS ms with O_DIRECT,
 *                                       cycling over the first 64 MiB of FILE
 *   workload write FILE KIB MS buffered appends KIB KiB every MS ms to FILE
 *                                       through the page cache
 *   workload open MS                    opens /dev/null every MS ms and keeps it
 *   workload sockets                    on 127.0.0.1 and on ::1, a listener with 3
 *                                       established, 2 CLOSE_WAIT and 4 queued
 *                                       connections; on 127.0.0.1 a listener
 *                                       with backlog 2 that never accepts and 6
 *                                       clients (its queue full at 3); prints
 *                                       "PORT4 PORT6 PORTFULL" and sleeps
 *
 * Writes and opens are paced on CLOCK_MONOTONIC at start + k * MS, so a late
 * wake-up catches up instead of drifting: over any window the work done is
 * the rate times the window, within one step. Runs until killed. The CPU
 * burner is busy.c.
 *
 * Build: cc -O2 -o workload workload.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Direct writes wrap here, so the file never grows past it. */
#define DIRECT_SPAN (64L << 20)

static long number(const char *text, const char *what)
{
    char *end;
    long value = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || value <= 0) {
        fprintf(stderr, "workload: %s %s: expected a positive whole number\n", what, text);
        exit(2);
    }
    return value;
}

/* Sleeps until the step-th deadline after start. */
static void wait_step(const struct timespec *start, long ms, long step)
{
    long long ns = (long long)start->tv_sec * 1000000000 + start->tv_nsec + (long long)ms * 1000000 * step;
    struct timespec next = {ns / 1000000000, ns % 1000000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) != 0)
        ;
}

static _Noreturn void sleep_forever(void)
{
    for (;;)
        pause();
}

static int hold(long mib)
{
    size_t size = (size_t)mib << 20;
    char *memory = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) {
        perror("workload: mmap");
        return 1;
    }
    /* Distinct bytes per page, so no page can be shared or deduplicated. */
    for (size_t offset = 0; offset < size; offset += 4096)
        memory[offset] = (char)(offset >> 12 | 1);
    sleep_forever();
}

static int write_paced(const char *path, long kib, long ms, int direct)
{
    size_t chunk = (size_t)kib << 10;
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (direct ? O_DIRECT : O_APPEND);
    int fd = open(path, flags, 0600);
    if (fd < 0) {
        perror(path);
        return 1;
    }
    char *buffer;
    if (posix_memalign((void **)&buffer, 4096, chunk) != 0) {
        fprintf(stderr, "workload: no memory for a %zu-byte buffer\n", chunk);
        return 1;
    }
    memset(buffer, 'x', chunk);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    off_t offset = 0;
    for (long step = 1;; step++) {
        ssize_t done = direct ? pwrite(fd, buffer, chunk, offset) : write(fd, buffer, chunk);
        if (done != (ssize_t)chunk) {
            perror(path);
            return 1;
        }
        offset = (offset + (off_t)chunk) % DIRECT_SPAN;
        wait_step(&start, ms, step);
    }
}

static int open_paced(long ms)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long step = 1;; step++) {
        if (open("/dev/null", O_RDONLY) < 0) {
            perror("workload: /dev/null");
            return 1;
        }
        wait_step(&start, ms, step);
    }
}

/* A listener on loopback of the family given, any port; its port in *port. */
static int listener(int family, int backlog, int *port)
{
    struct sockaddr_storage address = {0};
    socklen_t size;
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&address;
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        size = sizeof *in;
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&address;
        in6->sin6_family = AF_INET6;
        in6->sin6_addr = in6addr_loopback;
        size = sizeof *in6;
    }
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&address, size) < 0 || listen(fd, backlog) < 0 ||
        getsockname(fd, (struct sockaddr *)&address, &size) < 0) {
        perror("workload: listener");
        exit(1);
    }
    *port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&address)->sin_port
                                    : ((struct sockaddr_in6 *)&address)->sin6_port);
    return fd;
}

/* A client of the listener `server`, connected (or connecting, when
 * `wait` is 0: a full queue drops the SYN and the client retries). */
static int client(int server, int wait)
{
    struct sockaddr_storage address;
    socklen_t size = sizeof address;
    getsockname(server, (struct sockaddr *)&address, &size);
    int fd = socket(address.ss_family, SOCK_STREAM | SOCK_CLOEXEC | (wait ? 0 : SOCK_NONBLOCK), 0);
    if (fd < 0 || (connect(fd, (struct sockaddr *)&address, size) < 0 && errno != EINPROGRESS)) {
        perror("workload: connect");
        exit(1);
    }
    return fd;
}

/* 3 established, 2 CLOSE_WAIT (the client shut its side, the server never
 * closes) and 4 connections left in the accept queue. */
static void connections(int server)
{
    for (int i = 0; i < 9; i++) {
        int fd = client(server, 1);
        if (i < 5 && accept(server, NULL, NULL) < 0) {
            perror("workload: accept");
            exit(1);
        }
        if (i >= 3 && i < 5)
            shutdown(fd, SHUT_WR);
    }
}

static int sockets(void)
{
    int port4, port6, port_full;
    connections(listener(AF_INET, 128, &port4));
    connections(listener(AF_INET6, 128, &port6));
    int full = listener(AF_INET, 2, &port_full);
    for (int i = 0; i < 6; i++)
        client(full, 0);
    printf("%d %d %d\n", port4, port6, port_full);
    fflush(stdout);
    sleep_forever();
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "hold") == 0)
        return hold(number(argv[2], "MIB"));
    if (argc == 6 && strcmp(argv[1], "write") == 0 &&
        (strcmp(argv[5], "direct") == 0 || strcmp(argv[5], "buffered") == 0))
        return write_paced(argv[2], number(argv[3], "KIB"), number(argv[4], "MS"),
                           strcmp(argv[5], "direct") == 0);
    if (argc == 3 && strcmp(argv[1], "open") == 0)
        return open_paced(number(argv[2], "MS"));
    if (argc == 2 && strcmp(argv[1], "sockets") == 0)
        return sockets();
    fprintf(stderr, "usage: workload hold MIB | write FILE KIB MS direct|buffered | open MS | sockets\n");
    return 2;
}
