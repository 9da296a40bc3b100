/*
 * artifact.c — the backup artifact format (artifact.h, docs/backups.md):
 * the streaming writer, the manifest, the verifying reader, and the safe
 * files (temp name, fsync, rename, fsync directory) they are built on.
 *
 * The writer cuts its input into chunks and compresses each into a
 * complete gzip member. Chunks are independent, so a pool of worker
 * threads compresses several at once (as pigz does) while the calling
 * thread writes finished members out strictly in order and takes the
 * whole-file SHA-256 as it goes: the output is the same for any number of
 * threads. The reader runs the same pool the other way: workers read a
 * chunk, check its SHA-256 before they decompress a byte of it, and
 * decompress it whole, ahead of the caller; so a restore never receives
 * data from a damaged chunk.
 *
 * Neither pool outlives its writer or reader, and both hold a bounded
 * number of chunks (two per worker).
 *
 * A writer can also take in another backup's chunks as they are
 * (rune_artifact_append), and a reader can read just a range of chunks:
 * that is how pg.dump assembles one backup from parts written in parallel,
 * and how pg.restore reads one table's part of it.
 */
#include "artifact.h"
#include "clock.h"
#include "shareddir.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libdeflate.h>
#include <openssl/evp.h>

#define HEX_SHA256 65 /* 64 hex digits and a NUL */

/* ---- small helpers ---- */

int rune_write_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

ssize_t rune_read_full(int fd, void *buf, size_t len)
{
    unsigned char *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

void rune_hex(const unsigned char *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static void sha256_hex(const void *buf, size_t len, char out[HEX_SHA256])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(buf, len, d, &n, EVP_sha256(), NULL);
    rune_hex(d, n, out);
}

static void final_hex(EVP_MD_CTX *ctx, char out[HEX_SHA256])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx, d, &n);
    rune_hex(d, n, out);
}

static bool is_sha256_hex(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    return strspn(s, "0123456789abcdef") == 64;
}

/* Directory part of path ("." when there is none). Malloc'd. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static char *concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}

char *rune_path_resolve(const char *base, const char *p)
{
    bool join = p[0] != '/' && base && *base;
    size_t len = (join ? strlen(base) + 1 : 0) + strlen(p) + 2;
    char *s = malloc(len);
    if (!s)
        return NULL;
    snprintf(s, len, "%s%s%s", join ? base : "", join ? "/" : "", p);
    /* compact in place: the write position never passes the read one */
    char *w = s;
    const char *r = s;
    if (*r == '/')
        *w++ = *r++;
    while (*r) {
        const char *slash = strchr(r, '/');
        size_t n = slash ? (size_t)(slash - r) : strlen(r);
        if (n > 0 && !(n == 1 && r[0] == '.')) {
            if (w > s && w[-1] != '/')
                *w++ = '/';
            memmove(w, r, n);
            w += n;
        }
        r += n + (slash ? 1 : 0);
    }
    if (w == s)
        *w++ = '.';
    *w = '\0';
    return s;
}

/* ---- safe files ---- */

int rune_safe_file_open(struct rune_safe_file *f, const char *path, bool overwrite, mode_t mode,
                        char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "%s is a directory", path);
            return -1;
        }
        if (!overwrite) {
            snprintf(err, errlen, "%s already exists", path);
            return -1;
        }
    }
    char *dir = dir_of(path);
    const char *base = base_of(path);
    size_t len = (dir ? strlen(dir) : 0) + strlen(base) + 32;
    f->tmp = malloc(len);
    f->path = strdup(path);
    if (!dir || !f->tmp || !f->path) {
        free(dir);
        rune_safe_file_abort(f);
        snprintf(err, errlen,
                 "no memory for the temporary name of %s: free memory on this host and run the "
                 "step again",
                 path);
        return -1;
    }
    /* where other users could swap the temp file for theirs before the
     * rename, nothing is written at all */
    if (rune_dir_check_shared(dir, err, errlen) != 0) {
        free(f->tmp);
        f->tmp = NULL;
        free(dir);
        rune_safe_file_abort(f);
        return -1;
    }
    snprintf(f->tmp, len, "%s/.%s.partial-XXXXXX", dir, base);
    f->fd = mkostemp(f->tmp, O_CLOEXEC);
    if (f->fd < 0) {
        int e = errno;
        if (e == ENOENT)
            snprintf(err, errlen, "directory %s does not exist: create it first", dir);
        else
            snprintf(err, errlen, "cannot create a file in %s: %s", dir, strerror(e));
        free(f->tmp);
        f->tmp = NULL; /* nothing to remove */
        free(dir);
        rune_safe_file_abort(f);
        return -1;
    }
    free(dir);
    /* never set-id: a copy of another user's set-uid file must not become
     * a root-owned one */
    if (fchmod(f->fd, mode & 0777) != 0) {
        snprintf(err, errlen, "cannot set the mode of %s: %s", f->tmp, strerror(errno));
        rune_safe_file_abort(f);
        return -1;
    }
    return 0;
}

void rune_safe_file_abort(struct rune_safe_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    if (f->tmp)
        unlink(f->tmp);
    free(f->tmp);
    free(f->path);
    f->fd = -1;
    f->tmp = f->path = NULL;
}

static int fsync_dir(const char *path)
{
    char *dir = dir_of(path);
    if (!dir)
        return -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    /* some filesystems cannot fsync a directory; the rename is still done */
    if (rc != 0 && (errno == EINVAL || errno == EROFS))
        rc = 0;
    close(fd);
    return rc;
}

/* rename that fails with EEXIST instead of replacing: renameat2 where the
 * filesystem supports it, else link + unlink (also atomic about the name). */
static int rename_noreplace(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        return -1;
    if (link(from, to) != 0)
        return -1;
    unlink(from);
    return 0;
}

int rune_safe_file_commit(struct rune_safe_file *f, bool overwrite, char *err, size_t errlen)
{
    if (fsync(f->fd) != 0) {
        snprintf(err, errlen, "cannot flush %s to disk: %s", f->path, strerror(errno));
        goto fail;
    }
    int fd = f->fd;
    f->fd = -1;
    if (close(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", f->path, strerror(errno));
        goto fail;
    }
    int rc = overwrite ? rename(f->tmp, f->path) : rename_noreplace(f->tmp, f->path);
    if (rc != 0) {
        if (errno == EEXIST)
            snprintf(err, errlen, "%s already exists (it appeared while this step ran)", f->path);
        else
            snprintf(err, errlen, "cannot rename %s to %s: %s", f->tmp, f->path, strerror(errno));
        goto fail;
    }
    free(f->tmp);
    f->tmp = NULL; /* in place: nothing to remove any more */
    if (fsync_dir(f->path) != 0) {
        /* the rename may not survive a crash: a new file is taken back, a
         * replaced one cannot be (the old content is gone either way) */
        snprintf(err, errlen, "the directory of %s could not be flushed to disk: %s%s", f->path,
                 strerror(errno), overwrite ? "" : "; the file was removed");
        if (!overwrite)
            unlink(f->path);
        rune_safe_file_abort(f);
        return -1;
    }
    rune_safe_file_abort(f); /* frees the strings */
    return 0;
fail:
    rune_safe_file_abort(f);
    return -1;
}

/* ---- the pool: chunks through worker threads, back in order ----
 *
 * The owner (the writer's or the reader's calling thread) queues chunks
 * into a ring of slots; workers take them in the order they were queued and
 * mark each done; the owner takes results back in that same order, so what
 * comes out never depends on timing. The ring bounds the memory: a slot is
 * reused only after the owner released the chunk it held.
 *
 * Counters are chunk sequence numbers: released <= taken <= queued and
 * queued - released <= nslots. A slot belongs to the owner until it is
 * queued, to one worker until it is done, and to the owner again after;
 * the hand-overs happen under the lock, which orders the accesses. */

/* One chunk on its way through a worker. Writing: in is raw input, out its
 * gzip member and sha its SHA-256. Reading: in is a member read from the
 * file, out what it decompresses to. */
struct slot {
    unsigned char *in, *out;
    size_t in_len, in_cap, out_len, out_cap;
    size_t index; /* chunk number, 0-based */
    bool done;    /* set by the worker, under the lock */
    int rc;       /* 0, or -1 with err */
    char sha[HEX_SHA256];
    char err[256];
};

struct pool;

/* A worker owns its (de)compressor, made on its first chunk. Chunks are
 * whole buffers, so libdeflate does them in one call, about 1.6 times as
 * fast as zlib's deflate at the same level and smaller (see
 * docs/performance.md); the output is the same gzip. */
struct worker {
    struct pool *pool;
    pthread_t thread;
    struct libdeflate_compressor *comp;
    struct libdeflate_decompressor *decomp;
};

typedef int (*job_fn)(struct worker *wk, struct slot *s);

struct pool {
    pthread_mutex_t mu;
    pthread_cond_t work; /* a chunk was queued, or stop */
    pthread_cond_t done; /* a chunk was finished */
    bool sync_ready;     /* mu and the conditions are initialised */
    struct slot *slots;
    size_t nslots;
    unsigned long long queued, taken, released;
    bool stop;
    job_fn job;
    const void *ctx; /* for the job, read-only while workers run */
    struct worker *workers;
    int nworkers; /* started */
};

/* Raw bytes the slots of one pool may hold at once; large chunks get fewer
 * slots (and so fewer workers) rather than more memory. */
#define IN_FLIGHT_BYTES ((size_t)256 << 20)

/* How many threads to run for a request (0 = one per usable CPU, at most
 * RUNE_ARTIFACT_THREADS_AUTO_MAX). The CPUs this process may run on, as
 * nproc counts them, else the online ones. */
static int threads_for(int requested)
{
    if (requested > 0)
        return requested;
    long n = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        n = CPU_COUNT(&set);
    if (n < 1)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    return n > RUNE_ARTIFACT_THREADS_AUTO_MAX ? RUNE_ARTIFACT_THREADS_AUTO_MAX : (int)n;
}

/* Two slots per worker keep every worker busy while the owner writes out
 * or hands out the oldest chunk; fewer when chunks are large. Lowers
 * *threads when there are fewer slots than workers. */
static size_t slots_for(int *threads, size_t chunk)
{
    size_t n = 2 * (size_t)*threads;
    while (n > 2 && n * chunk > IN_FLIGHT_BYTES)
        n--;
    if ((size_t)*threads > n)
        *threads = (int)n;
    return n;
}

static void *worker_main(void *arg)
{
    struct worker *wk = arg;
    struct pool *p = wk->pool;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->taken == p->queued)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->stop)
            break;
        struct slot *s = &p->slots[p->taken++ % p->nslots];
        pthread_mutex_unlock(&p->mu);
        s->rc = p->job(wk, s);
        pthread_mutex_lock(&p->mu);
        s->done = true;
        pthread_cond_signal(&p->done); /* one owner waits */
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Stops the workers (each finishes the chunk it holds; queued ones are
 * dropped), joins them and frees everything. Safe on a zeroed pool. */
static void pool_end(struct pool *p)
{
    if (p->sync_ready) {
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        pthread_cond_broadcast(&p->work);
        pthread_mutex_unlock(&p->mu);
    }
    for (int i = 0; i < p->nworkers; i++)
        pthread_join(p->workers[i].thread, NULL);
    for (int i = 0; p->workers && i < p->nworkers; i++) {
        libdeflate_free_compressor(p->workers[i].comp);
        libdeflate_free_decompressor(p->workers[i].decomp);
    }
    for (size_t i = 0; p->slots && i < p->nslots; i++) {
        free(p->slots[i].in);
        free(p->slots[i].out);
    }
    if (p->sync_ready) {
        pthread_cond_destroy(&p->done);
        pthread_cond_destroy(&p->work);
        pthread_mutex_destroy(&p->mu);
    }
    free(p->workers);
    free(p->slots);
    memset(p, 0, sizeof *p);
}

/* Starts `threads` workers running `job` over `nslots` slots. Workers
 * block every signal: signals are for the thread that runs the step. */
static int pool_start(struct pool *p, int threads, size_t nslots, job_fn job, const void *ctx,
                      const char *path, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    p->job = job;
    p->ctx = ctx;
    p->nslots = nslots;
    p->slots = calloc(nslots, sizeof *p->slots);
    p->workers = calloc((size_t)threads, sizeof *p->workers);
    if (!p->slots || !p->workers) {
        pool_end(p);
        snprintf(err, errlen,
                 "no memory for %d worker threads and %zu chunk slots for %s: free memory on this "
                 "host and run the step again",
                 threads, nslots, path);
        return -1;
    }
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        pool_end(p);
        snprintf(err, errlen, "cannot create a lock for the worker threads");
        return -1;
    }
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    p->sync_ready = true;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = 0;
    for (int i = 0; i < threads && rc == 0; i++) {
        p->workers[i].pool = p;
        rc = pthread_create(&p->workers[i].thread, NULL, worker_main, &p->workers[i]);
        if (rc == 0)
            p->nworkers++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start %d worker threads: %s", threads, strerror(rc));
        pool_end(p);
        return -1;
    }
    return 0;
}

/* The slot the next chunk goes into. The caller made sure it is free. */
static struct slot *pool_free_slot(struct pool *p)
{
    return &p->slots[p->queued % p->nslots];
}

static bool pool_full(const struct pool *p)
{
    return p->queued - p->released == p->nslots;
}

/* Hands the next slot (filled by the owner) to the workers. */
static void pool_queue(struct pool *p, size_t index)
{
    pthread_mutex_lock(&p->mu);
    struct slot *s = &p->slots[p->queued % p->nslots];
    s->index = index;
    s->done = false;
    s->rc = 0;
    s->err[0] = '\0';
    p->queued++;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
}

/* The oldest queued chunk, once done; NULL when nothing is queued, or,
 * with wait false, when the oldest is not done yet. */
static struct slot *pool_oldest(struct pool *p, bool wait)
{
    if (p->released == p->queued)
        return NULL;
    struct slot *s = &p->slots[p->released % p->nslots];
    pthread_mutex_lock(&p->mu);
    while (wait && !s->done)
        pthread_cond_wait(&p->done, &p->mu);
    bool done = s->done;
    pthread_mutex_unlock(&p->mu);
    return done ? s : NULL;
}

/* The owner is finished with the oldest chunk: its slot can be reused. */
static void pool_release(struct pool *p)
{
    p->released++;
}

static int grow(unsigned char **buf, size_t *cap, size_t want)
{
    if (*cap >= want && *buf)
        return 0;
    unsigned char *b = realloc(*buf, want ? want : 1);
    if (!b)
        return -1;
    *buf = b;
    *cap = want ? want : 1;
    return 0;
}

/* ---- the writer ---- */

struct rune_artifact_writer {
    struct rune_safe_file data;
    char *path, *manifest_path, *engine, *source, *recovery_point;
    int level;
    size_t chunk_size;
    long long created_ms;
    struct pool pool;
    struct slot *fill; /* the slot being filled with input, or NULL */
    EVP_MD_CTX *whole; /* SHA-256 of the compressed file, as it is written */
    json_t *chunks;
    unsigned long long bytes, raw_bytes;
    bool failed;
};

/* Worker: compresses s->in into one complete gzip member in s->out, and
 * takes the member's SHA-256. */
static int deflate_job(struct worker *wk, struct slot *s)
{
    const int *level = wk->pool->ctx;
    if (!wk->comp && !(wk->comp = libdeflate_alloc_compressor(*level))) {
        snprintf(s->err, sizeof s->err, "cannot start gzip compression at level %d", *level);
        return -1;
    }
    if (grow(&s->out, &s->out_cap, libdeflate_gzip_compress_bound(wk->comp, s->in_len)) != 0) {
        snprintf(s->err, sizeof s->err,
                 "no memory to compress chunk %zu (%zu bytes): free memory on this host and run "
                 "the step again",
                 s->index + 1, s->in_len);
        return -1;
    }
    s->out_len = libdeflate_gzip_compress(wk->comp, s->in, s->in_len, s->out, s->out_cap);
    if (s->out_len == 0) { /* cannot happen with the bound's room */
        snprintf(s->err, sizeof s->err, "gzip compression failed");
        return -1;
    }
    sha256_hex(s->out, s->out_len, s->sha);
    return 0;
}

/* Writes the oldest compressed chunk at the end of the data file, in order,
 * and records it. */
static int member_append(struct rune_artifact_writer *w, struct slot *s, char *err, size_t errlen)
{
    if (s->rc != 0) {
        snprintf(err, errlen, "cannot write backup %s: %s", w->path, s->err);
        return -1;
    }
    EVP_DigestUpdate(w->whole, s->out, s->out_len);
    if (rune_write_all(w->data.fd, s->out, s->out_len) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", w->path, strerror(errno));
        return -1;
    }
    json_t *c =
        json_pack("{s:I, s:I, s:I, s:s}", "offset", (json_int_t)w->bytes, "bytes",
                  (json_int_t)s->out_len, "raw_bytes", (json_int_t)s->in_len, "sha256", s->sha);
    if (!c || json_array_append_new(w->chunks, c) != 0) {
        snprintf(err, errlen,
                 "no memory for the chunk table of backup %s (chunk %zu): free memory on this host "
                 "and run the step again",
                 w->path, json_array_size(w->chunks) + 1);
        return -1;
    }
    w->bytes += s->out_len;
    w->raw_bytes += s->in_len;
    pool_release(&w->pool);
    return 0;
}

/* Writes out finished chunks in order: those already done, or with `all`
 * every queued one, waiting for each. */
static int drain(struct rune_artifact_writer *w, bool all, char *err, size_t errlen)
{
    struct slot *s;
    while ((s = pool_oldest(&w->pool, all))) {
        if (member_append(w, s, err, errlen) != 0) {
            w->failed = true;
            return -1;
        }
    }
    return 0;
}

/* Makes w->fill an empty slot with room for a chunk, writing out the
 * oldest chunks while the ring is full. */
static int fill_start(struct rune_artifact_writer *w, char *err, size_t errlen)
{
    while (pool_full(&w->pool)) {
        struct slot *s = pool_oldest(&w->pool, true);
        if (member_append(w, s, err, errlen) != 0) {
            w->failed = true;
            return -1;
        }
    }
    struct slot *s = pool_free_slot(&w->pool);
    if (grow(&s->in, &s->in_cap, w->chunk_size) != 0) {
        w->failed = true;
        snprintf(err, errlen,
                 "no memory for a %zu-byte chunk buffer of backup %s: free memory on this host "
                 "(or use a smaller chunk_size or fewer threads) and run the step again",
                 w->chunk_size, w->path);
        return -1;
    }
    s->in_len = 0;
    w->fill = s;
    return 0;
}

/* Queues the filled chunk and writes out whatever is already finished. */
static int fill_queue(struct rune_artifact_writer *w, char *err, size_t errlen)
{
    w->fill = NULL;
    pool_queue(&w->pool, (size_t)w->pool.queued);
    return drain(w, false, err, errlen);
}

static void writer_free(struct rune_artifact_writer *w)
{
    if (!w)
        return;
    pool_end(&w->pool); /* first: the workers use the slots */
    rune_safe_file_abort(&w->data);
    EVP_MD_CTX_free(w->whole);
    json_decref(w->chunks);
    free(w->path);
    free(w->manifest_path);
    free(w->engine);
    free(w->source);
    free(w->recovery_point);
    free(w);
}

static int exists_error(const char *path, char *err, size_t errlen)
{
    snprintf(err, errlen, "backup %s already exists; choose another name or remove it", path);
    return -1;
}

int rune_artifact_open(struct rune_artifact_writer **out, const char *path,
                       const struct rune_artifact_meta *meta, char *err, size_t errlen)
{
    *out = NULL;
    if (!meta || !meta->engine || !*meta->engine || !meta->source) {
        snprintf(err, errlen, "a backup needs an engine and a source");
        return -1;
    }
    int level = meta->level ? meta->level : RUNE_ARTIFACT_LEVEL_DEFAULT;
    if (level < 1 || level > 9) {
        snprintf(err, errlen, "compression level %d is out of range: use 1 (fastest) to 9",
                 meta->level);
        return -1;
    }
    size_t chunk = meta->chunk_size ? meta->chunk_size : RUNE_ARTIFACT_CHUNK_DEFAULT;
    if (chunk < RUNE_ARTIFACT_CHUNK_MIN || chunk > RUNE_ARTIFACT_CHUNK_MAX) {
        snprintf(err, errlen, "chunk size %zu is out of range (%zu to %zu bytes)", chunk,
                 RUNE_ARTIFACT_CHUNK_MIN, RUNE_ARTIFACT_CHUNK_MAX);
        return -1;
    }
    if (meta->threads < 0 || meta->threads > RUNE_ARTIFACT_THREADS_MAX) {
        snprintf(err, errlen,
                 "%d compression threads is out of range: use 1 to %d, or 0 for one per CPU",
                 meta->threads, RUNE_ARTIFACT_THREADS_MAX);
        return -1;
    }
    long long rp;
    if (meta->recovery_point && rune_clock_parse_iso(meta->recovery_point, &rp) != 0) {
        snprintf(err, errlen, "recovery point \"%s\" is not a UTC time like 2024-05-01T02:00:00Z",
                 meta->recovery_point);
        return -1;
    }
    struct stat st;
    char *mpath = rune_artifact_manifest_path(path);
    if (!mpath) {
        snprintf(err, errlen,
                 "no memory for the manifest name of backup %s: free memory on this host and run "
                 "the step again",
                 path);
        return -1;
    }
    if (lstat(path, &st) == 0 || lstat(mpath, &st) == 0) {
        free(mpath);
        return exists_error(path, err, errlen);
    }
    struct rune_artifact_writer *w = calloc(1, sizeof *w);
    if (!w) {
        free(mpath);
        snprintf(
            err, errlen,
            "no memory to start writing backup %s: free memory on this host and run the step again",
            path);
        return -1;
    }
    w->data.fd = -1;
    w->manifest_path = mpath;
    w->path = strdup(path);
    w->engine = strdup(meta->engine);
    w->source = strdup(meta->source);
    w->recovery_point = meta->recovery_point ? strdup(meta->recovery_point) : NULL;
    w->level = level;
    w->chunk_size = chunk;
    w->created_ms = rune_clock_wall_ms();
    w->whole = EVP_MD_CTX_new();
    w->chunks = json_array();
    if (!w->path || !w->engine || !w->source || (meta->recovery_point && !w->recovery_point) ||
        !w->whole || !w->chunks || EVP_DigestInit_ex(w->whole, EVP_sha256(), NULL) != 1) {
        writer_free(w);
        snprintf(
            err, errlen,
            "no memory to start writing backup %s: free memory on this host and run the step again",
            path);
        return -1;
    }
    if (rune_safe_file_open(&w->data, path, false, 0600, err, errlen) != 0) {
        if (lstat(path, &st) == 0)
            exists_error(path, err, errlen);
        writer_free(w);
        return -1;
    }
    int threads = threads_for(meta->threads);
    size_t nslots = slots_for(&threads, chunk);
    if (pool_start(&w->pool, threads, nslots, deflate_job, &w->level, path, err, errlen) != 0) {
        writer_free(w);
        return -1;
    }
    *out = w;
    return 0;
}

int rune_artifact_write(struct rune_artifact_writer *w, const void *buf, size_t len, char *err,
                        size_t errlen)
{
    if (w->failed) {
        snprintf(err, errlen, "the backup %s already failed; abort it", w->path);
        return -1;
    }
    const unsigned char *p = buf;
    while (len > 0) {
        if (!w->fill && fill_start(w, err, errlen) != 0)
            return -1;
        struct slot *s = w->fill;
        size_t room = w->chunk_size - s->in_len;
        size_t n = len < room ? len : room;
        memcpy(s->in + s->in_len, p, n);
        s->in_len += n;
        p += n;
        len -= n;
        if (s->in_len == w->chunk_size && fill_queue(w, err, errlen) != 0)
            return -1;
    }
    return 0;
}

void rune_artifact_abort(struct rune_artifact_writer *w)
{
    writer_free(w);
}

/* Keys of the manifest that belong to the format; extras may not set them. */
static const char *const owned_keys[] = {
    "format",     "format_version", "name",        "engine", "source",
    "created_at", "completed_at",   "compression", "level",  "chunk_size",
    "bytes",      "raw_bytes",      "sha256",      "chunks", NULL,
};

static int check_extras(json_t *extras, char *err, size_t errlen)
{
    if (!extras)
        return 0;
    if (!json_is_object(extras)) {
        snprintf(err, errlen, "manifest extras must be an object");
        return -1;
    }
    for (const char *const *k = owned_keys; *k; k++) {
        if (json_object_get(extras, *k)) {
            snprintf(err, errlen, "manifest extra \"%s\" is a field of the format itself", *k);
            return -1;
        }
    }
    json_t *rp = json_object_get(extras, "recovery_point");
    long long ms;
    if (rp && (!json_is_string(rp) || rune_clock_parse_iso(json_string_value(rp), &ms))) {
        snprintf(err, errlen,
                 "manifest extra recovery_point must be a UTC time like "
                 "2024-05-01T02:00:00.000Z");
        return -1;
    }
    json_t *tables = json_object_get(extras, "tables");
    if (tables && !json_is_object(tables)) {
        snprintf(err, errlen, "manifest extra tables must be an object {table: rows}");
        return -1;
    }
    return 0;
}

static json_t *manifest_build(struct rune_artifact_writer *w, const char *sha, json_t *extras)
{
    char created[RUNE_ISO_LEN], completed[RUNE_ISO_LEN];
    rune_clock_iso(created, w->created_ms);
    rune_clock_iso(completed, rune_clock_wall_ms());
    json_t *m = json_pack(
        "{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:s}", "format",
        "rune-backup", "format_version", RUNE_ARTIFACT_FORMAT_VERSION, "name", base_of(w->path),
        "engine", w->engine, "source", w->source, "created_at", created, "completed_at", completed,
        "recovery_point", w->recovery_point ? w->recovery_point : created, "compression", "gzip",
        "level", w->level, "chunk_size", (json_int_t)w->chunk_size, "bytes", (json_int_t)w->bytes,
        "raw_bytes", (json_int_t)w->raw_bytes, "sha256", sha);
    if (!m)
        return NULL;
    const char *key;
    json_t *v;
    json_object_foreach(extras, key, v)
    {
        json_object_set(m, key, v);
    }
    json_object_set(m, "chunks", w->chunks); /* last: long, and read least by people */
    return m;
}

static int manifest_write(const char *mpath, json_t *m, char *err, size_t errlen)
{
    char *text = json_dumps(m, JSON_INDENT(2));
    if (!text) {
        snprintf(err, errlen,
                 "no memory to format manifest %s: free memory on this host and run the step again",
                 mpath);
        return -1;
    }
    struct rune_safe_file f;
    int rc = rune_safe_file_open(&f, mpath, false, 0600, err, errlen);
    if (rc == 0 &&
        (rune_write_all(f.fd, text, strlen(text)) != 0 || rune_write_all(f.fd, "\n", 1) != 0)) {
        snprintf(err, errlen, "cannot write %s: %s", mpath, strerror(errno));
        rune_safe_file_abort(&f);
        rc = -1;
    } else if (rc == 0) {
        rc = rune_safe_file_commit(&f, false, err, errlen);
    }
    free(text);
    return rc;
}

json_t *rune_artifact_commit(struct rune_artifact_writer *w, json_t *extras, char *err,
                             size_t errlen)
{
    if (w->failed) {
        snprintf(err, errlen, "the backup %s already failed", w->path);
        writer_free(w);
        return NULL;
    }
    if (check_extras(extras, err, errlen) != 0) {
        writer_free(w);
        return NULL;
    }
    /* the last, partial chunk; an empty input still gets one (empty) member
     * so the file is a valid gzip stream; then every chunk still in flight */
    if ((!w->fill && w->pool.queued == 0 && json_array_size(w->chunks) == 0 &&
         fill_start(w, err, errlen) != 0) ||
        (w->fill && fill_queue(w, err, errlen) != 0) || drain(w, true, err, errlen) != 0) {
        writer_free(w);
        return NULL;
    }
    pool_end(&w->pool);
    char sha[HEX_SHA256];
    final_hex(w->whole, sha);
    json_t *m = manifest_build(w, sha, extras);
    if (!m) {
        snprintf(err, errlen,
                 "no memory for the manifest of backup %s (%zu chunks): free memory on this host "
                 "and run the step again",
                 w->path, json_array_size(w->chunks));
        writer_free(w);
        return NULL;
    }
    if (rune_safe_file_commit(&w->data, false, err, errlen) != 0) {
        if (errno == EEXIST)
            exists_error(w->path, err, errlen);
        json_decref(m);
        writer_free(w);
        return NULL;
    }
    if (manifest_write(w->manifest_path, m, err, errlen) != 0) {
        unlink(w->path); /* ours, and invalid without its manifest */
        json_decref(m);
        writer_free(w);
        return NULL;
    }
    writer_free(w);
    return m;
}

/* ---- the manifest ---- */

char *rune_artifact_manifest_path(const char *path)
{
    return concat(path, RUNE_ARTIFACT_MANIFEST_SUFFIX);
}

static bool get_size(json_t *o, const char *key, long long *v)
{
    json_t *x = json_object_get(o, key);
    if (!json_is_integer(x) || json_integer_value(x) < 0)
        return false;
    *v = (long long)json_integer_value(x);
    return true;
}

/* More than the largest gzip member `raw` bytes can become (zlib's
 * deflateBound: about raw / 4096 plus the 18-byte header and trailer). A
 * bigger size in a manifest is an edit, refused before the reader
 * allocates a buffer for it. */
static long long max_member(long long raw)
{
    return raw + raw / 1024 + 1024;
}

/* Checks that a manifest describes a file this rune can read: version,
 * sizes, and a chunk table that tiles the file exactly. */
static int manifest_check(json_t *m, const char *mpath, char *err, size_t errlen)
{
    if (!json_is_object(m)) {
        snprintf(err, errlen, "%s is not a JSON object", mpath);
        return -1;
    }
    json_t *ver = json_object_get(m, "format_version");
    if (!json_is_integer(ver) || json_integer_value(ver) < 1) {
        snprintf(err, errlen, "%s has no valid format_version: not a rune backup manifest", mpath);
        return -1;
    }
    if (json_integer_value(ver) > RUNE_ARTIFACT_FORMAT_VERSION) {
        snprintf(err, errlen,
                 "%s is format_version %lld, newer than this rune reads (%d): upgrade rune", mpath,
                 (long long)json_integer_value(ver), RUNE_ARTIFACT_FORMAT_VERSION);
        return -1;
    }
    const char *comp = json_string_value(json_object_get(m, "compression"));
    if (!comp || strcmp(comp, "gzip") != 0) {
        snprintf(err, errlen, "%s: compression \"%s\" is not supported (only gzip)", mpath,
                 comp ? comp : "(missing)");
        return -1;
    }
    long long bytes, raw, ms;
    const char *sha = json_string_value(json_object_get(m, "sha256"));
    const char *created = json_string_value(json_object_get(m, "created_at"));
    if (!get_size(m, "bytes", &bytes) || !get_size(m, "raw_bytes", &raw) || !is_sha256_hex(sha) ||
        !json_is_string(json_object_get(m, "engine")) ||
        rune_clock_parse_iso(created, &ms) != 0) {
        snprintf(err, errlen,
                 "%s lacks a valid bytes, raw_bytes, sha256, engine or created_at: the "
                 "manifest is damaged or was edited",
                 mpath);
        return -1;
    }
    json_t *chunks = json_object_get(m, "chunks");
    size_t n = json_array_size(chunks);
    if (!json_is_array(chunks) || n == 0) {
        snprintf(err, errlen, "%s has no chunk table: the manifest is damaged or was edited",
                 mpath);
        return -1;
    }
    long long off = 0, rawsum = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(chunks, i);
        long long co, cb, cr;
        if (!get_size(c, "offset", &co) || !get_size(c, "bytes", &cb) ||
            !get_size(c, "raw_bytes", &cr) ||
            !is_sha256_hex(json_string_value(json_object_get(c, "sha256"))) || co != off ||
            cb < 18 || cr > (long long)RUNE_ARTIFACT_CHUNK_MAX || cb > max_member(cr)) {
            snprintf(err, errlen,
                     "%s: chunk %zu of %zu is not described correctly (offset, bytes, "
                     "raw_bytes, sha256): the manifest is damaged or was edited",
                     mpath, i + 1, n);
            return -1;
        }
        off += cb;
        rawsum += cr;
    }
    if (off != bytes || rawsum != raw) {
        snprintf(err, errlen,
                 "%s: the chunks add up to %lld bytes (%lld raw) but the manifest says %lld "
                 "(%lld raw): the manifest is damaged or was edited",
                 mpath, off, rawsum, bytes, raw);
        return -1;
    }
    return 0;
}

json_t *rune_artifact_manifest_load(const char *path, char *err, size_t errlen)
{
    char *mpath = rune_artifact_manifest_path(path);
    if (!mpath) {
        snprintf(err, errlen,
                 "no memory for the manifest name of %s: free memory on this host and run the step "
                 "again",
                 path);
        return NULL;
    }
    struct stat st;
    if (stat(mpath, &st) != 0 && errno == ENOENT) {
        snprintf(err, errlen,
                 "no manifest beside %s (expected %s): not a rune backup, or the backup never "
                 "finished",
                 path, mpath);
        free(mpath);
        return NULL;
    }
    json_error_t je;
    json_t *m = json_load_file(mpath, JSON_REJECT_DUPLICATES, &je);
    if (!m) {
        snprintf(err, errlen, "cannot read manifest %s: %s (line %d)", mpath, je.text, je.line);
        free(mpath);
        return NULL;
    }
    if (manifest_check(m, mpath, err, errlen) != 0) {
        json_decref(m);
        m = NULL;
    }
    free(mpath);
    return m;
}

/* ---- the reader ---- */

/* A chunk as the manifest describes it, copied out of the JSON so that the
 * workers never touch jansson values. */
struct chunk_info {
    long long offset, bytes, raw;
    char sha[HEX_SHA256];
};

/* What the reader's workers read (read-only while they run). */
struct source {
    int fd;
    const struct chunk_info *chunks;
    bool sums_only; /* check SHA-256s, do not decompress (rune_artifact_verify_sums) */
};

struct rune_artifact_reader {
    struct source src;
    char *path;
    json_t *manifest;
    struct chunk_info *chunks;
    size_t nchunks, cur; /* cur: the chunk being handed out, 0-based */
    size_t first, end;   /* the chunks this reader hands out: [first, end) */
    struct pool pool;
    struct slot *hold; /* chunk cur, checked, being handed out; or NULL */
    size_t pos;        /* bytes of it handed out */
    bool failed;
    EVP_MD_CTX *whole;
    int bad_chunk; /* 1-based chunk of the last error, 0 if none */
};

void rune_artifact_reader_close(struct rune_artifact_reader *r)
{
    if (!r)
        return;
    pool_end(&r->pool); /* first: the workers read the file and the table */
    if (r->src.fd >= 0)
        close(r->src.fd);
    EVP_MD_CTX_free(r->whole);
    json_decref(r->manifest);
    free(r->chunks);
    free(r->path);
    free(r);
}

json_t *rune_artifact_reader_manifest(struct rune_artifact_reader *r)
{
    return r->manifest;
}

/* The file's size must match the manifest: a short file names the first
 * chunk that is cut off. */
static int check_size(struct rune_artifact_reader *r, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(r->src.fd, &st) != 0) {
        snprintf(err, errlen, "cannot stat %s: %s", r->path, strerror(errno));
        return -1;
    }
    long long want = (long long)json_integer_value(json_object_get(r->manifest, "bytes"));
    long long have = (long long)st.st_size;
    if (have == want)
        return 0;
    if (have > want) {
        snprintf(err, errlen,
                 "%s is %lld bytes but its manifest says %lld: something was appended, or the "
                 "manifest belongs to another file",
                 r->path, have, want);
        return -1;
    }
    size_t first = 0;
    while (first < r->nchunks && r->chunks[first].offset + r->chunks[first].bytes <= have)
        first++;
    r->bad_chunk = (int)first + 1;
    snprintf(err, errlen,
             "%s is %lld bytes but its manifest says %lld: the file is truncated (an "
             "interrupted copy or a full disk?); chunks %zu to %zu of %zu are missing or cut "
             "short",
             r->path, have, want, first + 1, r->nchunks, r->nchunks);
    return -1;
}

/* Worker: reads chunk s->index into s->in, checks its SHA-256 before
 * decompressing a byte of it, then decompresses it whole into s->out and
 * checks that it is exactly one gzip member of raw bytes. */
static int inflate_job(struct worker *wk, struct slot *s)
{
    const struct source *src = wk->pool->ctx;
    const struct chunk_info *c = &src->chunks[s->index];
    size_t len = (size_t)c->bytes, raw = (size_t)c->raw;
    /* one spare byte shows a member that holds more than the manifest says */
    if (grow(&s->in, &s->in_cap, len) != 0 ||
        (!src->sums_only && grow(&s->out, &s->out_cap, raw + 1) != 0)) {
        snprintf(s->err, sizeof s->err,
                 "no memory to read it (%zu bytes, %zu decompressed): free memory on this host and "
                 "run the step again",
                 len, raw);
        return -1;
    }
    s->in_len = 0;
    while (s->in_len < len) {
        ssize_t n =
            pread(src->fd, s->in + s->in_len, len - s->in_len, (off_t)c->offset + (off_t)s->in_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(s->err, sizeof s->err, "cannot read: %s", strerror(errno));
            return -1;
        }
        if (n == 0) {
            snprintf(s->err, sizeof s->err, "the file ends inside this chunk (truncated)");
            return -1;
        }
        s->in_len += (size_t)n;
    }
    sha256_hex(s->in, len, s->sha);
    if (strcmp(s->sha, c->sha) != 0) {
        snprintf(s->err, sizeof s->err, "SHA-256 mismatch — the file was modified or damaged");
        return -1;
    }
    if (src->sums_only) {
        s->out_len = 0;
        return 0;
    }
    if (!wk->decomp && !(wk->decomp = libdeflate_alloc_decompressor())) {
        snprintf(s->err, sizeof s->err,
                 "no memory to start gzip decompression: free memory on this host and run the step "
                 "again");
        return -1;
    }
    /* the gzip trailer's CRC-32 and length are checked by libdeflate */
    size_t used = 0;
    enum libdeflate_result rc = libdeflate_gzip_decompress_ex(wk->decomp, s->in, len, s->out,
                                                              raw + 1, &used, &s->out_len);
    if (rc == LIBDEFLATE_INSUFFICIENT_SPACE) {
        snprintf(s->err, sizeof s->err,
                 "decompresses to more than the %lld bytes the manifest says", c->raw);
        return -1;
    }
    if (rc != LIBDEFLATE_SUCCESS) {
        snprintf(s->err, sizeof s->err,
                 "not valid gzip data (a bad or cut member, or a CRC mismatch) — the file was "
                 "damaged");
        return -1;
    }
    if (used != len) {
        snprintf(s->err, sizeof s->err,
                 "%zu bytes follow the end of its gzip member — the file was modified", len - used);
        return -1;
    }
    if (s->out_len != raw) {
        snprintf(s->err, sizeof s->err, "decompresses to %zu bytes but the manifest says %lld",
                 s->out_len, c->raw);
        return -1;
    }
    return 0;
}

/* Copies the manifest's chunk table (manifest_check has vouched for it)
 * and the largest raw size, which sizes the ring. */
static int chunks_copy(struct rune_artifact_reader *r, size_t *max_raw)
{
    json_t *list = json_object_get(r->manifest, "chunks");
    r->nchunks = json_array_size(list);
    r->chunks = calloc(r->nchunks, sizeof *r->chunks);
    if (!r->chunks)
        return -1;
    *max_raw = 1;
    for (size_t i = 0; i < r->nchunks; i++) {
        json_t *c = json_array_get(list, i);
        struct chunk_info *ci = &r->chunks[i];
        ci->offset = (long long)json_integer_value(json_object_get(c, "offset"));
        ci->bytes = (long long)json_integer_value(json_object_get(c, "bytes"));
        ci->raw = (long long)json_integer_value(json_object_get(c, "raw_bytes"));
        snprintf(ci->sha, sizeof ci->sha, "%s", json_string_value(json_object_get(c, "sha256")));
        if ((size_t)ci->raw > *max_raw)
            *max_raw = (size_t)ci->raw;
    }
    return 0;
}

static int reader_open(struct rune_artifact_reader **out, const char *path, json_t *manifest,
                       bool sums_only, char *err, size_t errlen)
{
    struct rune_artifact_reader *r = calloc(1, sizeof *r);
    if (!r) {
        json_decref(manifest);
        snprintf(err, errlen,
                 "no memory to open backup %s: free memory on this host and run the step again",
                 path);
        return -1;
    }
    r->src.fd = -1;
    r->manifest = manifest;
    r->path = strdup(path);
    r->whole = EVP_MD_CTX_new();
    size_t max_raw;
    if (!r->path || !r->whole || EVP_DigestInit_ex(r->whole, EVP_sha256(), NULL) != 1 ||
        chunks_copy(r, &max_raw) != 0) {
        snprintf(err, errlen,
                 "no memory for the chunk table of backup %s (%zu chunks): free memory on this "
                 "host and run the step again",
                 path, json_array_size(json_object_get(manifest, "chunks")));
        goto fail;
    }
    r->src.chunks = r->chunks;
    r->src.sums_only = sums_only;
    r->end = r->nchunks;
    r->src.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->src.fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        goto fail;
    }
    if (check_size(r, err, errlen) != 0)
        goto fail;
    int threads = threads_for(0);
    size_t nslots = slots_for(&threads, sums_only ? 0 : max_raw);
    if (pool_start(&r->pool, threads, nslots, inflate_job, &r->src, path, err, errlen) != 0)
        goto fail;
    *out = r;
    return 0;
fail:
    rune_artifact_reader_close(r);
    return -1;
}

int rune_artifact_reader_open(struct rune_artifact_reader **out, const char *path, char *err,
                              size_t errlen)
{
    *out = NULL;
    json_t *m = rune_artifact_manifest_load(path, err, errlen);
    if (!m)
        return -1;
    return reader_open(out, path, m, false, err, errlen);
}

static int chunk_fail(struct rune_artifact_reader *r, char *err, size_t errlen, const char *what)
{
    r->bad_chunk = (int)r->cur + 1;
    r->failed = true;
    snprintf(err, errlen, "chunk %zu of %zu (offset %lld): %s", r->cur + 1, r->nchunks,
             r->chunks[r->cur].offset, what);
    return -1;
}

/* Keeps the workers ahead of the caller: queues chunks while slots are
 * free. */
static void read_ahead(struct rune_artifact_reader *r)
{
    while (r->first + r->pool.queued < r->end && !pool_full(&r->pool))
        pool_queue(&r->pool, r->first + (size_t)r->pool.queued);
}

/* Takes chunk cur from the workers once they checked it, adds it to the
 * whole-file SHA-256 and, before the last chunk is handed out, checks that
 * too. */
static int chunk_take(struct rune_artifact_reader *r, char *err, size_t errlen)
{
    read_ahead(r);
    struct slot *s = pool_oldest(&r->pool, true);
    if (s->rc != 0)
        return chunk_fail(r, err, errlen, s->err);
    bool whole = r->first == 0 && r->end == r->nchunks; /* a range has no whole-file check */
    if (whole)
        EVP_DigestUpdate(r->whole, s->in, s->in_len);
    if (whole && r->cur + 1 == r->nchunks) {
        char sha[HEX_SHA256];
        final_hex(r->whole, sha);
        if (strcmp(sha, json_string_value(json_object_get(r->manifest, "sha256"))) != 0) {
            r->failed = true;
            snprintf(err, errlen,
                     "%s: the whole-file SHA-256 does not match the manifest although every "
                     "chunk does: the manifest was edited",
                     r->path);
            return -1;
        }
    }
    r->hold = s;
    r->pos = 0;
    return 0;
}

/* Chunk cur is all handed out: its slot goes back to the workers. */
static void chunk_done(struct rune_artifact_reader *r)
{
    r->hold = NULL;
    r->cur++;
    pool_release(&r->pool);
    read_ahead(r);
}

ssize_t rune_artifact_read(struct rune_artifact_reader *r, void *buf, size_t len, char *err,
                           size_t errlen)
{
    if (r->failed) {
        snprintf(err, errlen, "%s: reading already failed", r->path);
        return -1;
    }
    if (len == 0)
        return 0;
    for (;;) {
        if (!r->hold) {
            if (r->cur == r->end)
                return 0;
            if (chunk_take(r, err, errlen) != 0)
                return -1;
        }
        size_t left = r->hold->out_len - r->pos;
        size_t n = left < len ? left : len;
        memcpy(buf, r->hold->out + r->pos, n);
        r->pos += n;
        if (r->pos == r->hold->out_len)
            chunk_done(r);
        if (n > 0)
            return (ssize_t)n; /* never bytes of two chunks in one call */
    }
}

/* ---- verification ---- */

void rune_artifact_check_release(struct rune_artifact_check *chk)
{
    json_decref(chk->manifest);
    chk->manifest = NULL;
}

static int verify(const char *path, rune_artifact_cancel_fn cancelled, void *ctx,
                  struct rune_artifact_check *chk, bool sums_only)
{
    memset(chk, 0, sizeof *chk);
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(chk->reason, sizeof chk->reason, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    json_t *m = rune_artifact_manifest_load(path, chk->reason, sizeof chk->reason);
    if (!m)
        return -1;
    chk->manifest = json_incref(m);
    struct rune_artifact_reader *r;
    if (reader_open(&r, path, m, sums_only, chk->reason, sizeof chk->reason) != 0) {
        /* reader_open consumed m; a size mismatch names its chunk */
        long long have = (long long)st.st_size;
        json_t *chunks = json_object_get(chk->manifest, "chunks");
        for (size_t i = 0; i < json_array_size(chunks); i++) {
            json_t *c = json_array_get(chunks, i);
            if (json_integer_value(json_object_get(c, "offset")) +
                    json_integer_value(json_object_get(c, "bytes")) >
                have) {
                chk->bad_chunk = (int)i + 1;
                break;
            }
        }
        return -1;
    }
    /* the reader's checks, chunk by chunk, without copying the data out */
    int rc = 0;
    while (r->cur < r->nchunks) {
        if (cancelled && cancelled(ctx)) {
            chk->cancelled = true;
            snprintf(chk->reason, sizeof chk->reason, "verification of %s was cancelled", path);
            rc = -1;
            break;
        }
        if (chunk_take(r, chk->reason, sizeof chk->reason) != 0) {
            chk->bad_chunk = r->bad_chunk;
            rc = -1;
            break;
        }
        chunk_done(r);
    }
    rune_artifact_reader_close(r);
    chk->ok = rc == 0;
    if (chk->ok)
        chk->reason[0] = '\0';
    return rc;
}

int rune_artifact_verify(const char *path, rune_artifact_cancel_fn cancelled, void *ctx,
                         struct rune_artifact_check *chk)
{
    return verify(path, cancelled, ctx, chk, false);
}

int rune_artifact_verify_sums(const char *path, rune_artifact_cancel_fn cancelled, void *ctx,
                              struct rune_artifact_check *chk)
{
    return verify(path, cancelled, ctx, chk, true);
}

/* ---- assembling a backup from others ---- */

/* Copies chunk i (its manifest entry c) of the backup open on fd, read in
 * order, to the end of w's data file, checking its SHA-256 on the way. */
static int append_chunk(struct rune_artifact_writer *w, int fd, const char *src, size_t i,
                        json_t *c, unsigned char **buf, size_t *cap, char *err, size_t errlen)
{
    size_t len = (size_t)json_integer_value(json_object_get(c, "bytes"));
    json_int_t raw = json_integer_value(json_object_get(c, "raw_bytes"));
    char sha[HEX_SHA256];
    if (grow(buf, cap, len) != 0) {
        snprintf(err, errlen,
                 "no memory for chunk %zu of %s (%zu bytes): free memory on this host and run the "
                 "step again",
                 i + 1, src, len);
        return -1;
    }
    if (rune_read_full(fd, *buf, len) != (ssize_t)len) {
        snprintf(err, errlen, "cannot read %s: %s", src, strerror(errno));
        return -1;
    }
    sha256_hex(*buf, len, sha);
    if (strcmp(sha, json_string_value(json_object_get(c, "sha256"))) != 0) {
        snprintf(err, errlen, "chunk %zu of %s: SHA-256 mismatch — the file was modified", i + 1,
                 src);
        return -1;
    }
    if (rune_write_all(w->data.fd, *buf, len) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", w->path, strerror(errno));
        return -1;
    }
    EVP_DigestUpdate(w->whole, *buf, len);
    json_t *e = json_pack("{s:I, s:I, s:I, s:s}", "offset", (json_int_t)w->bytes, "bytes",
                          (json_int_t)len, "raw_bytes", raw, "sha256", sha);
    if (!e || json_array_append_new(w->chunks, e) != 0) {
        snprintf(err, errlen,
                 "no memory for the chunk table of backup %s (appending %s): free memory on this "
                 "host and run the step again",
                 w->path, src);
        return -1;
    }
    w->bytes += len;
    w->raw_bytes += (unsigned long long)raw;
    return 0;
}

int rune_artifact_append(struct rune_artifact_writer *w, const char *src,
                         struct rune_artifact_span *span, char *err, size_t errlen)
{
    if (w->failed) {
        snprintf(err, errlen, "the backup %s already failed; abort it", w->path);
        return -1;
    }
    /* what w holds so far goes out first, ending its last chunk early */
    if ((w->fill && fill_queue(w, err, errlen) != 0) || drain(w, true, err, errlen) != 0)
        return -1;
    json_t *m = rune_artifact_manifest_load(src, err, errlen);
    if (!m)
        return -1;
    json_t *chunks = json_object_get(m, "chunks");
    long long level = (long long)json_integer_value(json_object_get(m, "level"));
    long long csize = (long long)json_integer_value(json_object_get(m, "chunk_size"));
    if (level != w->level || csize > (long long)w->chunk_size) {
        snprintf(err, errlen,
                 "cannot append %s to %s: it was written with level %lld and chunk size %lld, "
                 "not %d and at most %zu",
                 src, w->path, level, csize, w->level, w->chunk_size);
        json_decref(m);
        return -1;
    }
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 ||
        st.st_size != (off_t)json_integer_value(json_object_get(m, "bytes"))) {
        snprintf(err, errlen, "cannot append %s: %s", src,
                 fd < 0 ? strerror(errno) : "its size is not its manifest's");
        if (fd >= 0)
            close(fd);
        json_decref(m);
        return -1;
    }
    struct rune_artifact_span sp = {.first_chunk = json_array_size(w->chunks),
                                    .chunks = json_array_size(chunks),
                                    .offset = w->bytes,
                                    .raw_offset = w->raw_bytes};
    unsigned char *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sp.chunks; i++)
        rc = append_chunk(w, fd, src, i, json_array_get(chunks, i), &buf, &cap, err, errlen);
    free(buf);
    close(fd);
    json_decref(m);
    if (rc != 0) {
        w->failed = true;
        return -1;
    }
    sp.bytes = w->bytes - sp.offset;
    sp.raw_bytes = w->raw_bytes - sp.raw_offset;
    if (span)
        *span = sp;
    return 0;
}

int rune_artifact_reader_open_range(struct rune_artifact_reader **out, const char *path,
                                    json_t *manifest, size_t first, size_t count, char *err,
                                    size_t errlen)
{
    *out = NULL;
    json_t *m = manifest ? json_incref(manifest) : rune_artifact_manifest_load(path, err, errlen);
    if (!m)
        return -1;
    size_t n = json_array_size(json_object_get(m, "chunks"));
    if (first > n || count > n - first) {
        snprintf(err, errlen, "%s has %zu chunks; chunks %zu to %zu do not exist", path, n,
                 first + 1, first + count);
        json_decref(m);
        return -1;
    }
    struct rune_artifact_reader *r;
    if (reader_open(&r, path, m, false, err, errlen) != 0)
        return -1;
    /* the workers start reading at the first queue, in read_ahead */
    r->first = r->cur = first;
    r->end = first + count;
    *out = r;
    return 0;
}
