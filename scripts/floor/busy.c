/*
 * busy: a CPU burner at a low, steady duty cycle, for the benchmarks.
 *
 *   busy PERCENT   spins PERCENT ms of every 100 ms, sleeps the rest
 *
 * It never forks (a `sleep` per loop in a shell burner would add a new
 * process every loop and make the recorders' process tables churn) and it
 * leaves most of both cores free, so recorders measured at the same time
 * are not made to wait for a CPU. Runs until killed.
 *
 * Build: cc -O2 -o busy busy.c
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000 + t.tv_nsec;
}

int main(int argc, char **argv)
{
    long percent = argc == 2 ? strtol(argv[1], NULL, 10) : -1;
    if (percent < 1 || percent > 100) {
        fprintf(stderr, "usage: busy PERCENT (1 to 100)\n");
        return 2;
    }
    const long long period = 100000000; /* 100 ms */
    long long start = now_ns();
    volatile unsigned long sink = 0;
    for (;;) {
        long long spin_until = start + period * percent / 100;
        while (now_ns() < spin_until)
            for (int i = 0; i < 1000; i++)
                sink += i;
        start += period;
        struct timespec next = {start / 1000000000, start % 1000000000};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
}
