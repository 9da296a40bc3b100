/*
 * journal.c — the incident log's front: what every caller of journal.h
 * goes through, whatever stores the log.
 *
 * It keeps what does not depend on the storage: where the log lives by
 * default, new incident ids, the cap on an event's detail (applied before
 * anything is hashed), one lock around every call (so the run's threads
 * can share one open log and each read-modify-write is atomic within the
 * process), the last error, and verification (journal_chain.c over the
 * rows the store reads back). The storage itself is a table of functions
 * (journal_store.h): SQLite (journal_sqlite.c) for a file, PostgreSQL
 * (journal_pg.c) for a log shared by a team, named by a postgresql:// URL.
 *
 * This file stores what it is given; redaction is the caller's job (the
 * record layer, record.c, masks every detail before it gets here).
 */
#include "journal.h"

#include <openssl/rand.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "dsn.h"
#include "journal_pg.h"
#include "journal_store.h"

/* How much of an oversized detail's JSON text its truncation marker keeps. */
#define TRUNCATED_HEAD 65536

void rune_journal_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int rune_journal_fail(struct rune_journal *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->err, sizeof j->err, fmt, ap);
    va_end(ap);
    return -1;
}

struct rune_journal *rune_journal_alloc(const struct rune_journal_store *store, size_t size,
                                        const char *path, char *err, size_t errlen)
{
    struct rune_journal *j = calloc(1, size);

    if (!j || !(j->path = strdup(path))) {
        free(j);
        rune_journal_seterr(err, errlen,
                            "no memory to open incident log %s; free memory on this host and "
                            "run again",
                            path);
        return NULL;
    }
    j->store = store;
    j->detail_max = RUNE_JOURNAL_DETAIL_MAX;
    pthread_mutex_init(&j->mu, NULL);
    return j;
}

/* Takes the log's lock for a call that reads or writes anything but
 * events: a simulation's batch of events is committed first (journal.h,
 * rune_journal_set_lazy), so what follows sees them and opens no
 * transaction inside it. */
static void lock(struct rune_journal *j)
{
    pthread_mutex_lock(&j->mu);
    j->store->flush(j);
}

void rune_journal_flush(struct rune_journal *j)
{
    lock(j);
    pthread_mutex_unlock(&j->mu);
}

/* ---- Where the log lives ---- */

/* dir + "/" + rest into buf (rest alone when dir is NULL), without
 * doubling a trailing slash. Returns -1 if it does not fit. */
static int join(char *buf, size_t len, const char *dir, const char *rest)
{
    size_t n = dir ? strlen(dir) : 0;
    const char *sep = (!dir || (n > 0 && dir[n - 1] == '/')) ? "" : "/";
    int w = snprintf(buf, len, "%s%s%s", dir ? dir : "", sep, rest);
    return (w < 0 || (size_t)w >= len) ? -1 : 0;
}

/* $HOME, or the password database's home for our uid. */
static int home_path(char *buf, size_t len, const char *rest)
{
    const char *home = getenv("HOME");
    struct passwd pw, *res = NULL;
    char pwbuf[4096];

    if (home && *home)
        return join(buf, len, home, rest);
    if (getpwuid_r(getuid(), &pw, pwbuf, sizeof pwbuf, &res) != 0 || !res || !res->pw_dir ||
        !*res->pw_dir)
        return -1;
    return join(buf, len, res->pw_dir, rest);
}

/* A shared log is named by a PostgreSQL URL. Only the URL form: a libpq
 * keyword=value string cannot be told from a file name with an '=' in it,
 * and a file named "postgresql://..." would be odd enough to refuse. */
bool rune_journal_is_shared(const char *path)
{
    return path && (!strncmp(path, "postgresql://", 13) || !strncmp(path, "postgres://", 11));
}

char *rune_journal_shown(const char *path)
{
    return rune_journal_is_shared(path) ? rune_dsn_scrub(path) : strdup(path ? path : "");
}

/* An empty result means there is nowhere to put the log (no HOME at all, or
 * a path too long); rune_journal_open then says so. */
const char *rune_journal_default_path(const char *flag, char *buf, size_t len)
{
    const char *e;
    int rc;

    if (len == 0)
        return buf;
    if (flag && *flag)
        rc = join(buf, len, NULL, flag);
    else if ((e = getenv("RUNE_LOG")) && *e)
        rc = join(buf, len, NULL, e);
    else
        return rune_journal_local_path(buf, len);
    if (rc != 0)
        buf[0] = '\0';
    return buf;
}

const char *rune_journal_local_path(char *buf, size_t len)
{
    const char *e;
    int rc;

    if (len == 0)
        return buf;
    if ((e = getenv("RUNE_HOME")) && *e)
        rc = join(buf, len, e, "incidents.db");
    else if ((e = getenv("XDG_STATE_HOME")) && e[0] == '/') /* relative values are invalid */
        rc = join(buf, len, e, "rune/incidents.db");
    else
        rc = home_path(buf, len, ".local/state/rune/incidents.db");
    if (rc != 0)
        buf[0] = '\0';
    return buf;
}

/* ---- Opening ---- */

/* An empty path means there is nowhere to put the log (rune_journal_default_path
 * found no HOME at all, or the path was too long). */
static int no_place(const char *path, char *err, size_t errlen)
{
    if (path && *path)
        return 0;
    rune_journal_seterr(err, errlen,
                        "no place for the incident log (HOME is not set, or the path is too "
                        "long); pass --log PATH or set RUNE_HOME");
    return -1;
}

int rune_journal_open(const char *path, struct rune_journal **out, char *err, size_t errlen)
{
    *out = NULL;
    if (no_place(path, err, errlen) != 0)
        return -1;
    if (rune_journal_is_shared(path))
        return rune_journal_pg_open(path, true, out, err, errlen);
    return rune_journal_sqlite_open(path, true, out, err, errlen);
}

int rune_journal_open_read(const char *path, struct rune_journal **out, char *err, size_t errlen)
{
    *out = NULL;
    if (no_place(path, err, errlen) != 0)
        return -1;
    if (rune_journal_is_shared(path))
        return rune_journal_pg_open(path, false, out, err, errlen);
    return rune_journal_sqlite_open(path, false, out, err, errlen);
}

void rune_journal_close(struct rune_journal *j)
{
    if (!j)
        return;
    j->store->close(j);
    pthread_mutex_destroy(&j->mu);
    free(j->path);
    free(j);
}

const char *rune_journal_path(struct rune_journal *j)
{
    return j->path;
}

const char *rune_journal_error(struct rune_journal *j)
{
    return j->err;
}

int rune_journal_sync(struct rune_journal *j)
{
    pthread_mutex_lock(&j->mu);
    int rc = j->store->sync(j);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

void rune_journal_set_lazy(struct rune_journal *j)
{
    pthread_mutex_lock(&j->mu);
    j->store->set_lazy(j);
    pthread_mutex_unlock(&j->mu);
}

void rune_journal_set_limits(struct rune_journal *j, size_t detail_max, int sqlite_length)
{
    pthread_mutex_lock(&j->mu);
    if (detail_max > 0)
        j->detail_max = detail_max;
    if (sqlite_length > 0)
        j->store->set_length_limit(j, sqlite_length);
    pthread_mutex_unlock(&j->mu);
}

/* ---- Writing ---- */

void rune_journal_new_id(char buf[32])
{
    long long ms = rune_clock_wall_ms();
    time_t secs = (time_t)(ms / 1000);
    unsigned char r[2] = {0, 0};
    struct tm tm;

    gmtime_r(&secs, &tm);
    /* A collision (same second, same 16 bits) is refused by the primary
     * key and rune_journal_begin() says so, so the caller draws again; the
     * clock-and-pid value is a last resort where no random source works. */
    if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r && RAND_bytes(r, 2) != 1) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        unsigned long long m = (unsigned long long)ts.tv_nsec ^ ((unsigned long long)getpid() << 3);
        r[0] = (unsigned char)(m ^ (m >> 16));
        r[1] = (unsigned char)((m >> 8) ^ (m >> 24));
    }
    snprintf(buf, 32, "%04d%02d%02d-%02d%02d%02d-%02x%02x", (tm.tm_year + 1900) % 10000,
             (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
             tm.tm_sec % 100, r[0], r[1]);
}

struct capped {
    char *buf;
    size_t len, size, max, total;
};

static int capped_write(const char *data, size_t size, void *ud)
{
    struct capped *c = ud;
    c->total += size;
    if (c->len + size > c->max) /* over the cap: keep what fits, count the rest */
        size = c->max - c->len;
    if (size == 0)
        return 0;
    if (c->len + size + 1 > c->size) {
        size_t want = c->size ? c->size : 256;
        while (want < c->len + size + 1)
            want *= 2;
        char *b = realloc(c->buf, want);
        if (!b)
            return -1;
        c->buf = b;
        c->size = want;
    }
    memcpy(c->buf + c->len, data, size);
    c->len += size;
    c->buf[c->len] = '\0';
    return 0;
}

/*
 * The detail as the log stores it: the compact JSON text, or, when that is
 * longer than j->detail_max, a marker in its place,
 *
 *   {"head": "<the first 64 KiB of the text>", "original_bytes": N, "truncated": true}
 *
 * made before anything is hashed, so the chain covers what is stored and
 * `rune log verify` stays intact, and the log says what happened. A value
 * larger than SQLite accepts used to be stored as NULL under a hash of the
 * real text, which verify then reported as tampering. Only the head is
 * ever held in memory beyond the cap. Returns malloc'd text, or NULL.
 */
static char *detail_text(struct rune_journal *j, json_t *detail)
{
    struct capped c = {NULL, 0, 0, j->detail_max, 0};
    if (json_dump_callback(detail, capped_write, &c, RUNE_JOURNAL_STORE_FLAGS) != 0) {
        free(c.buf);
        return NULL;
    }
    if (c.total <= c.max)
        return c.buf ? c.buf : strdup("");
    size_t head = c.len < TRUNCATED_HEAD ? c.len : TRUNCATED_HEAD;
    while (head > 0 && ((unsigned char)c.buf[head] & 0xC0) == 0x80)
        head--; /* never split a UTF-8 sequence */
    json_t *m = json_pack("{s:b, s:I, s:s%}", "truncated", 1, "original_bytes", (json_int_t)c.total,
                          "head", c.buf ? c.buf : "", head);
    free(c.buf);
    char *text = m ? json_dumps(m, RUNE_JOURNAL_STORE_FLAGS) : NULL;
    json_decref(m);
    return text;
}

int rune_journal_begin(struct rune_journal *j, const struct rune_incident_rec *rec)
{
    int rc = -1;

    lock(j);
    if (!rec->id || !rec->runbook || !rec->mode)
        rune_journal_fail(j, "cannot record incident in %s: id, runbook and mode are required",
                          j->path);
    else
        rc = j->store->begin(j, rec);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

long long rune_journal_event(struct rune_journal *j, const char *incident_id,
                             const struct rune_event *ev)
{
    char *detail = NULL;
    long long seq = -1;

    pthread_mutex_lock(&j->mu);
    if (!incident_id || !ev->kind) {
        rune_journal_fail(j, "cannot record an event in %s: incident id and kind are required",
                          j->path);
        goto out;
    }
    if (ev->detail && !(detail = detail_text(j, ev->detail))) {
        rune_journal_fail(j,
                          "cannot record event %s of incident %s: its detail cannot be encoded "
                          "as JSON",
                          ev->kind, incident_id);
        goto out;
    }
    seq = j->store->append(j, incident_id, ev, detail);
out:
    pthread_mutex_unlock(&j->mu);
    free(detail);
    return seq;
}

int rune_journal_set_severity(struct rune_journal *j, const char *incident_id, const char *severity)
{
    lock(j);
    int rc = j->store->set_severity(j, incident_id, severity);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

int rune_journal_artifact(struct rune_journal *j, const char *incident_id, const char *step,
                          const char *path, const char *sha256, long long bytes, const char *kind)
{
    int rc = -1;

    lock(j);
    if (!incident_id || !path)
        rune_journal_fail(j, "cannot record an artifact in %s: incident id and path are required",
                          j->path);
    else
        rc = j->store->artifact(j, incident_id, step, path, sha256, bytes, kind);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

int rune_journal_end(struct rune_journal *j, const char *incident_id, const char *outcome,
                     int exit_code, long long ended_ms)
{
    char ended[RUNE_ISO_LEN];

    rune_clock_iso(ended, ended_ms > 0 ? ended_ms : rune_clock_wall_ms());
    lock(j);
    int rc = j->store->end(j, incident_id, outcome, exit_code, ended);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

/* ---- Reading ---- */

json_t *rune_journal_find(struct rune_journal *j, const struct rune_journal_filter *f)
{
    lock(j);
    j->err[0] = '\0';
    json_t *arr = j->store->find(j, f);
    pthread_mutex_unlock(&j->mu);
    return arr;
}

json_t *rune_journal_list(struct rune_journal *j, const char *runbook, int limit)
{
    struct rune_journal_filter f = {.runbook = runbook, .limit = limit};
    return rune_journal_find(j, &f);
}

json_t *rune_journal_get(struct rune_journal *j, const char *incident_id)
{
    lock(j);
    j->err[0] = '\0';
    json_t *o = j->store->get(j, incident_id);
    pthread_mutex_unlock(&j->mu);
    return o;
}

json_t *rune_journal_last_outputs(struct rune_journal *j, const char *runbook, const char *step)
{
    pthread_mutex_lock(&j->mu);
    json_t *o = j->store->last_outputs(j, runbook, step);
    pthread_mutex_unlock(&j->mu);
    return o;
}

json_t *rune_journal_durations(struct rune_journal *j, const char *runbook, const char *step,
                               int limit)
{
    pthread_mutex_lock(&j->mu);
    json_t *o = j->store->durations(j, runbook, step, limit);
    pthread_mutex_unlock(&j->mu);
    return o;
}

json_t *rune_journal_work(struct rune_journal *j, const char *uses, const char *host,
                          const char *unit, int limit)
{
    pthread_mutex_lock(&j->mu);
    json_t *o = j->store->work(j, uses, host, unit, limit);
    pthread_mutex_unlock(&j->mu);
    return o;
}

/* ---- Tamper evidence ---- */

int rune_journal_verify(struct rune_journal *j, const char *incident_id,
                        struct rune_chain_result *res)
{
    struct rune_chain_row *rows = NULL;
    size_t n = 0;
    json_t *inc = NULL;
    int rc;

    memset(res, 0, sizeof *res);
    lock(j);
    j->err[0] = '\0';
    struct rune_chain_link link = {0};
    rc = j->store->chain_rows(j, incident_id, &inc, &rows, &n);
    if (rc == 0 && !inc) {
        rc = RUNE_JOURNAL_UNKNOWN;
        rune_journal_fail(j, "no incident %s in %s", incident_id, j->path);
    }
    if (rc == 0 && n > 0)
        rc = j->store->link(j, incident_id, &link);
    char up_prev[RUNE_HASH_HEX + 1] = "", up_head[RUNE_HASH_HEX + 1] = "";
    long long up_events = 0;
    int uploaded = rc == 0 && j->store->upload
                       ? j->store->upload(j, incident_id, up_prev, up_head, &up_events)
                       : 0;
    if (uploaded < 0)
        rc = -1;
    pthread_mutex_unlock(&j->mu);
    if (rc == 0) {
        rune_chain_verify(incident_id, inc, rows, n, res);
        rune_chain_check_link(incident_id, &link, res);
        if (uploaded)
            rune_chain_check_upload(incident_id, rows, n, up_prev, up_head, up_events, res);
    }
    rune_chain_rows_free(rows, n);
    json_decref(inc);
    return rc;
}

int rune_journal_head(struct rune_journal *j, struct rune_log_head *out)
{
    memset(out, 0, sizeof *out);
    lock(j);
    j->err[0] = '\0';
    int rc = j->store->head(j, NULL, out);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

int rune_journal_find_hash(struct rune_journal *j, const char *hash, struct rune_log_head *out)
{
    memset(out, 0, sizeof *out);
    lock(j);
    j->err[0] = '\0';
    int rc = j->store->head(j, hash, out);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

int rune_journal_runner(struct rune_journal *j, const char *incident_id, struct rune_runner *out)
{
    memset(out, 0, sizeof *out);
    lock(j);
    j->err[0] = '\0';
    int rc = j->store->runner(j, incident_id, out);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

int rune_journal_set_runner(struct rune_journal *j, const char *incident_id, long long pid,
                            const char *start)
{
    lock(j);
    int rc = j->store->set_runner(j, incident_id, pid, start);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

int rune_journal_child(struct rune_journal *j, const char *incident_id, const char *step,
                       int attempt, long long pid, const char *start, const char *program,
                       bool ended)
{
    lock(j);
    int rc = j->store->child(j, incident_id, step, attempt, pid, start, program, ended);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

int rune_journal_identity(struct rune_journal *j, struct rune_db_identity *out)
{
    memset(out, 0, sizeof *out);
    if (!j->store->identity)
        return 1;
    lock(j);
    int rc = j->store->identity(j, out);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

json_t *rune_journal_children(struct rune_journal *j, const char *incident_id)
{
    lock(j);
    j->err[0] = '\0';
    json_t *o = j->store->children(j, incident_id);
    pthread_mutex_unlock(&j->mu);
    return o;
}
