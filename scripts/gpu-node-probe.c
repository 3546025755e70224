// Measurement helpers for scripts/gpu-node-bench.sh on a GPU render node, where perf is not
// installed: load generators that split "compute" from "memory traffic", a single-thread probe
// of how fast this core computes and copies, and a sampler of what the engine's main thread is
// doing (running, waiting for a CPU, or asleep in which system call).
//
// Build (static, so it runs on any x86-64 Linux):  gcc -O2 -static -pthread -o probe gpu-node-probe.c
//   probe spin N SECS        N threads of register-only arithmetic (no memory traffic)
//   probe stream N SECS MB   N threads each copying between two MB-MiB buffers, over and over
//                            (pick MB above the L3 so the copies go to memory)
//   probe measure SECS       one thread, in turns: a fixed arithmetic loop (its time follows the
//                            core's clock), an 8 MiB copy between warm buffers, and an 8 MiB copy
//                            into freshly mapped memory (page faults, as a new frame buffer takes);
//                            prints the median of each
//   probe sample PID TID MS  every MS milliseconds until TID exits (or SIGTERM): TID's state and,
//                            when asleep, its system call; prints the share of samples of each
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static double g_end;
static size_t g_bytes;

static void *spin(void *arg) {
    (void)arg;
    volatile uint64_t sink = 0;
    uint64_t x = 1;
    while (now() < g_end) {
        for (int i = 0; i < 1000000; i++) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        sink = x;
    }
    (void)sink;
    return NULL;
}

static void *stream(void *arg) {
    (void)arg;
    char *a = malloc(g_bytes), *b = malloc(g_bytes);
    memset(a, 1, g_bytes);
    memset(b, 2, g_bytes);
    while (now() < g_end) {
        memcpy(b, a, g_bytes);
        memcpy(a, b, g_bytes);
    }
    free(a);
    free(b);
    return NULL;
}

static int run_threads(void *(*fn)(void *), int n, double secs) {
    pthread_t t[256];
    if (n < 1 || n > 256) return 2;
    g_end = now() + secs;
    for (int i = 0; i < n; i++) pthread_create(&t[i], NULL, fn, NULL);
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
    return 0;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, n, sizeof *v, cmp);
    return n ? v[n / 2] : 0;
}

static int measure(double secs) {
    enum { MAX = 100000, COPY = 8 << 20 };
    static double alu[MAX], warm[MAX], fresh[MAX];
    char *a = malloc(COPY), *b = malloc(COPY);
    memset(a, 1, COPY);
    memset(b, 2, COPY);
    volatile uint64_t sink = 0;
    int n = 0;
    double end = now() + secs;
    while (now() < end && n < MAX) {
        double t0 = now();
        uint64_t x = 1;
        for (int i = 0; i < 2000000; i++) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        sink = x;
        double t1 = now();
        memcpy(b, a, COPY);
        double t2 = now();
        char *f = mmap(NULL, COPY, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        memcpy(f, a, COPY);
        double t3 = now();
        munmap(f, COPY);
        alu[n] = (t1 - t0) * 1e3;
        warm[n] = (t2 - t1) * 1e3;
        fresh[n] = (t3 - t2) * 1e3;
        n++;
    }
    (void)sink;
    printf("probe measure: %d rounds, median ms: alu %.3f, copy 8 MiB warm %.3f, copy 8 MiB into fresh pages %.3f\n",
           n, median(alu, n), median(warm, n), median(fresh, n));
    return 0;
}

// One sample of /proc/PID/task/TID: its state letter and, unless running, its system call.
static int sample_once(const char *stat_path, const char *sys_path, char *state, long *nr) {
    char buf[1024];
    FILE *f = fopen(stat_path, "r");
    if (!f) return -1;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ') return -1;
    *state = p[2];
    *nr = -2;
    f = fopen(sys_path, "r");
    if (f) {
        if (fscanf(f, "%ld", nr) != 1) *nr = -3;  // "running"
        fclose(f);
    }
    return 0;
}

static volatile sig_atomic_t g_stop;
static void on_term(int sig) {
    (void)sig;
    g_stop = 1;
}

static int sample(int pid, int tid, double ms) {
    signal(SIGTERM, on_term);
    char stat_path[128], sys_path[128];
    snprintf(stat_path, sizeof stat_path, "/proc/%d/task/%d/stat", pid, tid);
    snprintf(sys_path, sizeof sys_path, "/proc/%d/task/%d/syscall", pid, tid);
    // Keys: state letter × system call (-3 running in user space, -2 unknown, -1 none).
    enum { KEYS = 512 };
    static long count[KEYS];
    static char key_state[KEYS];
    static long key_nr[KEYS];
    int keys = 0;
    long total = 0;
    struct timespec gap = {(time_t)(ms / 1e3), (long)(ms * 1e6) % 1000000000L};
    char state;
    long nr;
    while (!g_stop && sample_once(stat_path, sys_path, &state, &nr) == 0) {
        if (state == 'R') nr = -1;  // running or runnable: the system call field is not asked
        int k = 0;
        while (k < keys && !(key_state[k] == state && key_nr[k] == nr)) k++;
        if (k == keys && keys < KEYS) {
            key_state[k] = state;
            key_nr[k] = nr;
            keys++;
        }
        if (k < KEYS) count[k]++;
        total++;
        nanosleep(&gap, NULL);
    }
    printf("probe sample: %ld samples of task %d every %.1f ms:", total, tid, ms);
    for (int k = 0; k < keys; k++)
        if (count[k] * 200 >= total) {  // 0.5 % and more
            if (key_nr[k] == -1)
                printf(" %c %.1f%%", key_state[k], 100.0 * count[k] / total);
            else
                printf(" %c/sys%ld %.1f%%", key_state[k], key_nr[k], 100.0 * count[k] / total);
        }
    printf("\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 4 && !strcmp(argv[1], "spin")) return run_threads(spin, atoi(argv[2]), atof(argv[3]));
    if (argc >= 5 && !strcmp(argv[1], "stream")) {
        g_bytes = (size_t)atol(argv[4]) << 20;
        return run_threads(stream, atoi(argv[2]), atof(argv[3]));
    }
    if (argc >= 3 && !strcmp(argv[1], "measure")) return measure(atof(argv[2]));
    if (argc >= 5 && !strcmp(argv[1], "sample")) return sample(atoi(argv[2]), atoi(argv[3]), atof(argv[4]));
    fprintf(stderr, "usage: probe spin N SECS | stream N SECS MB | measure SECS | sample PID TID MS\n");
    return 2;
}
