/*
 * driver.c — a small stand-in for libFuzzer, for compilers without it
 * (gcc). Linked with a fuzz target (tests/fuzz/fuzz_<name>.c, which defines
 * LLVMFuzzerTestOneInput), it
 *
 *   1. runs every file given, or found in a directory given, once (the
 *      seed corpus, or one saved input to reproduce a failure);
 *   2. then runs a deterministic, seeded mutation loop over that corpus:
 *      byte flips, inserted and deleted bytes, repeated chunks, dictionary
 *      tokens, splices of two corpus files — for -runs=N iterations.
 *
 * It does not learn from coverage, so it finds less than libFuzzer; what
 * it gives is the same replay and a repeatable stress of the target under
 * the build's sanitizers. The same seed gives the same inputs, so a
 * failure reproduces with the seed and run count it prints. When an input
 * crashes (a fatal signal, a sanitizer report) or runs past -timeout, it
 * is written to <artifact_prefix>crash-<n> (or timeout-<n>) before the
 * process dies.
 *
 * Flags follow libFuzzer's spelling so one command line serves both:
 * -runs=N -seed=N -max_len=N -timeout=SECONDS -dict=FILE
 * -artifact_prefix=PATH; other -flags are ignored.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
/* Defined when a sanitizer runtime is linked: called before it exits. */
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

struct blob {
    uint8_t *data;
    size_t len;
};

struct blobs {
    struct blob *v;
    size_t n, cap;
};

struct options {
    unsigned long long runs, seed;
    size_t max_len;
    unsigned timeout;
    const char *dict;
    const char *prefix;
};

/* The input being run, for the crash handlers (written once, read only
 * by them). */
static const uint8_t *current;
static size_t current_len;
static unsigned long long current_no;
static const char *artifact_prefix = "";

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) {
        fprintf(stderr, "driver: out of memory\n");
        exit(2);
    }
    return p;
}

static void add(struct blobs *b, const uint8_t *data, size_t len)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->v = xrealloc(b->v, b->cap * sizeof *b->v);
    }
    b->v[b->n].data = xrealloc(NULL, len);
    if (len)
        memcpy(b->v[b->n].data, data, len);
    b->v[b->n++].len = len;
}

static int read_whole(const char *path, struct blobs *into)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        fprintf(stderr, "driver: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap)
            buf = xrealloc(buf, cap = cap ? cap * 2 : 4096);
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r < 0)
                fprintf(stderr, "driver: cannot read %s: %s\n", path, strerror(errno));
            close(fd);
            if (r == 0)
                add(into, buf, len);
            free(buf);
            return r == 0 ? 0 : -1;
        }
        len += (size_t)r;
    }
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of a directory, in name order (so runs repeat). */
static int read_dir(const char *dir, struct blobs *into)
{
    DIR *dp = opendir(dir);
    if (!dp) {
        fprintf(stderr, "driver: cannot open corpus %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(dp))) {
        struct stat st;
        if (fstatat(dirfd(dp), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        names = xrealloc(names, (n + 1) * sizeof *names);
        names[n++] = strdup(e->d_name);
    }
    closedir(dp);
    if (n)
        qsort(names, n, sizeof *names, by_name);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (read_whole(path, into) != 0)
            rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

/* libFuzzer dictionary lines: name="token" or "token", with \\, \" and
 * \xNN escapes; # comments. */
static int read_dict(const char *path, struct blobs *into)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "driver: cannot open dictionary %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char *q = strchr(line, '"');
        if (line[0] == '#' || !q)
            continue;
        uint8_t tok[512];
        size_t n = 0;
        for (char *p = q + 1; *p && *p != '"' && n < sizeof tok; p++) {
            if (*p == '\\' && p[1] == 'x' && p[2] && p[3]) {
                char hex[3] = {p[2], p[3], 0};
                tok[n++] = (uint8_t)strtoul(hex, NULL, 16);
                p += 3;
            } else if (*p == '\\' && p[1]) {
                p++;
                tok[n++] = (uint8_t)*p;
            } else {
                tok[n++] = (uint8_t)*p;
            }
        }
        if (n)
            add(into, tok, n);
    }
    fclose(f);
    return 0;
}

/* xorshift64*: small, fast, and the same everywhere for a given seed. */
static uint64_t rng_state;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static size_t below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

/* Inserts len bytes at pos (clipped to max). */
static void insert(struct blob *b, size_t max, size_t pos, const uint8_t *src, size_t len)
{
    if (b->len + len > max)
        len = max > b->len ? max - b->len : 0;
    if (!len)
        return;
    b->data = xrealloc(b->data, b->len + len);
    memmove(b->data + pos + len, b->data + pos, b->len - pos);
    memcpy(b->data + pos, src, len);
    b->len += len;
}

/* One to four mutations of a copy of a corpus entry. */
static struct blob mutate(const struct blobs *corpus, const struct blobs *dict, size_t max)
{
    const struct blob *src = &corpus->v[below(corpus->n)];
    struct blob b = {xrealloc(NULL, src->len), src->len < max ? src->len : max};
    memcpy(b.data, src->data, b.len);
    for (int k = 0, n = 1 + (int)below(4); k < n; k++) {
        size_t pos = below(b.len + 1);
        switch (below(7)) {
        case 0: /* flip a bit */
            if (b.len)
                b.data[below(b.len)] ^= (uint8_t)(1u << below(8));
            break;
        case 1: { /* a random byte */
            uint8_t c = (uint8_t)rnd();
            insert(&b, max, pos, &c, 1);
            break;
        }
        case 2: { /* delete a range */
            size_t len = below(b.len - pos < 64 ? b.len - pos + 1 : 65);
            memmove(b.data + pos, b.data + pos + len, b.len - pos - len);
            b.len -= len;
            break;
        }
        case 3: { /* repeat a chunk a few or many times */
            if (!b.len)
                break;
            size_t at = below(b.len), len = 1 + below(b.len - at < 32 ? b.len - at : 32);
            uint8_t *chunk = xrealloc(NULL, len);
            memcpy(chunk, b.data + at, len);
            for (size_t r = 0, times = 1 + below(below(2) ? 4 : 256); r < times; r++)
                insert(&b, max, at, chunk, len);
            free(chunk);
            break;
        }
        case 4: /* a dictionary token */
            if (dict->n) {
                const struct blob *t = &dict->v[below(dict->n)];
                insert(&b, max, pos, t->data, t->len);
            }
            break;
        case 5: { /* splice: our head, another entry's tail */
            const struct blob *o = &corpus->v[below(corpus->n)];
            size_t from = below(o->len + 1);
            b.len = pos;
            insert(&b, max, pos, o->data + from, o->len - from);
            break;
        }
        default: /* overwrite a byte with an interesting one */
            if (b.len) {
                static const uint8_t hot[] = {0,   '\n', ' ', ':', '-', '[',  '{',  '&',  '*',
                                              '"', '\'', '|', '#', '$', '\t', 0xff, 0xc3, 0x80};
                b.data[below(b.len)] = hot[below(sizeof hot)];
            }
            break;
        }
    }
    return b;
}

/* Saves the current input next to the artifact prefix; async-signal-safe. */
static void save_current(const char *kind)
{
    char path[4096], num[32];
    size_t n = 0;
    unsigned long long v = current_no;
    do
        num[n++] = (char)('0' + v % 10);
    while ((v /= 10) && n < sizeof num);
    size_t p = 0;
    for (const char *s = artifact_prefix; *s && p < sizeof path - 64; s++)
        path[p++] = *s;
    for (const char *s = kind; *s; s++)
        path[p++] = *s;
    path[p++] = '-';
    while (n)
        path[p++] = num[--n];
    path[p] = '\0';
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) {
        for (size_t off = 0; off < current_len;) {
            ssize_t w = write(fd, current + off, current_len - off);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        close(fd);
    }
    static const char msg[] = "\ndriver: the failing input was saved as ";
    path[p++] = '\n';
    ssize_t w = write(2, msg, sizeof msg - 1);
    w = write(2, path, p);
    (void)w;
}

static void on_death(void)
{
    if (current)
        save_current("crash");
}

/* A fatal signal, or SIGALRM when an input ran past -timeout (then the
 * process aborts, as libFuzzer's does). */
static void on_signal(int sig)
{
    if (current)
        save_current(sig == SIGALRM ? "timeout" : "crash");
    if (sig == SIGALRM) {
        static const char msg[] = "driver: an input ran past -timeout\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        sig = SIGABRT;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void run_one(const uint8_t *data, size_t len, unsigned long long no, unsigned timeout)
{
    /* a private copy, exactly len long, so reads past the end are caught */
    uint8_t *copy = xrealloc(NULL, len);
    if (len)
        memcpy(copy, data, len);
    current = copy;
    current_len = len;
    current_no = no;
    alarm(timeout);
    LLVMFuzzerTestOneInput(copy, len);
    alarm(0);
    current = NULL;
    free(copy);
}

static unsigned long long flag_num(const char *arg, const char *name, unsigned long long def)
{
    size_t l = strlen(name);
    return strncmp(arg, name, l) == 0 ? strtoull(arg + l, NULL, 10) : def;
}

int main(int argc, char **argv)
{
    struct options o = {1000, 1, 4096, 10, NULL, ""};
    struct blobs corpus = {0}, dict = {0};

    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-') {
            o.runs = flag_num(a, "-runs=", o.runs);
            o.seed = flag_num(a, "-seed=", o.seed);
            o.max_len = (size_t)flag_num(a, "-max_len=", o.max_len);
            o.timeout = (unsigned)flag_num(a, "-timeout=", o.timeout);
            if (!strncmp(a, "-dict=", 6))
                o.dict = a + 6;
            if (!strncmp(a, "-artifact_prefix=", 17))
                o.prefix = a + 17;
            continue;
        }
        struct stat st;
        if (stat(a, &st) != 0) {
            fprintf(stderr, "driver: %s: %s\n", a, strerror(errno));
            return 2;
        }
        if ((S_ISDIR(st.st_mode) ? read_dir(a, &corpus) : read_whole(a, &corpus)) != 0)
            return 2;
    }
    if (o.dict && read_dict(o.dict, &dict) != 0)
        return 2;
    if (!corpus.n) {
        fprintf(stderr,
                "usage: %s [-runs=N] [-seed=N] [-max_len=N] [-timeout=S] [-dict=FILE] "
                "[-artifact_prefix=P] CORPUS_DIR|FILE...\n"
                "driver: no inputs given; a fuzz run needs its seed corpus\n",
                argv[0]);
        return 2;
    }
    artifact_prefix = o.prefix;
    /* With a sanitizer, it reports faults itself (with a stack) and calls
     * us before dying; its SIGSEGV handler must stay. Without one, the
     * fatal signals are ours to catch. */
    signal(SIGALRM, on_signal);
    if (__sanitizer_set_death_callback) {
        __sanitizer_set_death_callback(on_death);
    } else {
        static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
        for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
            signal(fatal[i], on_signal);
    }

    size_t seeds = corpus.n;
    fprintf(stderr, "driver: replaying %zu corpus inputs, then %llu mutations (seed %llu)\n", seeds,
            o.runs, o.seed);
    for (size_t i = 0; i < corpus.n; i++)
        run_one(corpus.v[i].data, corpus.v[i].len, i, o.timeout);
    rng_state = o.seed * 0x9E3779B97F4A7C15ull + 1;
    for (unsigned long long r = 0; r < o.runs; r++) {
        struct blob b = mutate(&corpus, &dict, o.max_len);
        run_one(b.data, b.len, corpus.n + r, o.timeout);
        /* an input that ran cleanly joins the pool, so mutations compound */
        if (corpus.n < 4096 && below(8) == 0)
            add(&corpus, b.data, b.len);
        free(b.data);
    }
    fprintf(stderr, "driver: done, %llu inputs ran without a failure\n",
            (unsigned long long)seeds + o.runs);
    for (size_t i = 0; i < corpus.n; i++)
        free(corpus.v[i].data);
    for (size_t i = 0; i < dict.n; i++)
        free(dict.v[i].data);
    free(corpus.v);
    free(dict.v);
    return 0;
}
