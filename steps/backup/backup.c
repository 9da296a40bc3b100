/*
 * backup.c — the backup.* family: list, verify, describe and prune backups
 * in the artifact format (artifact.h, docs/backups.md), whatever engine
 * wrote them.
 *
 * A backup is found by its data file's name (globs separated by '|',
 * "*.gz|*.zst" by default: gzip and zstd backups alike); its time is the
 * manifest's created_at, or the file's mtime when the manifest is missing
 * or unreadable (such a backup is never valid, but it still has an age and
 * can be pruned).
 *
 * Retention (backup.prune) is the rule operators already use, "7 daily + 4
 * weekly": keep the newest backup of each of the last N days, ISO weeks and
 * months that have backups, counted independently. The newest backup that
 * verifies is never deleted; if none verifies, nothing is.
 */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "artifact.h"
#include "backup_wal.h"
#include "pathparam.h"
#include "step.h"
#include "worksize.h"

/* What verifying tells the call (artifact.h's watch): the raw bytes
 * checked, counted from `base` of `total` — the raw bytes of every backup
 * backup.list verifies — or, with total < 0, of the one backup (its own
 * total, as backup.verify and backup.prune count). */
struct tally {
    struct rune_call *c;
    long long base, total;
};

static bool tally_cancelled(void *ctx)
{
    return rune_call_cancelled(((struct tally *)ctx)->c);
}

static void tally_progress(void *ctx, unsigned long long done, unsigned long long total)
{
    struct tally *t = ctx;
    rune_call_progress(t->c, t->base + (long long)done, t->total < 0 ? (long long)total : t->total,
                       RUNE_UNIT_BYTES);
}

static const char *manifest_suffix = RUNE_ARTIFACT_MANIFEST_SUFFIX;

/* One backup found in a directory. */
struct entry {
    char *name, *path;
    long long created_ms;
    bool from_manifest;
    long long bytes;
    long long raw;         /* the manifest's raw_bytes; 0 without a usable manifest */
    const char *read_with; /* from the manifest (static), NULL without one */
    char engine[32];       /* the manifest's engine, "" without one */
    int verified;          /* -1 not checked, 0 failed, 1 good */
    char reason[512];      /* why it is not valid, when known */
    char kept[160];        /* prune: the rules that keep it, "" if none */
    json_t *physical;      /* a base backup's (pg.basebackup) kind, times, LSNs, WAL; or NULL */
};

struct listing {
    struct entry *v;
    size_t n;
};

static void listing_free(struct listing *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].path);
        json_decref(l->v[i].physical);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && !strcmp(s + ls - lx, suffix);
}

/* Newest first; equal times by name, newest-looking (larger) first. */
static int by_created_desc(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->created_ms != y->created_ms)
        return x->created_ms < y->created_ms ? 1 : -1;
    return -strcmp(x->name, y->name);
}

/* What a listing shows of a base backup (docs/backups.md): the fields a
 * point-in-time recovery chooses by. NULL for other backups. */
static const char *const physical_keys[] = {
    "kind",     "start_time", "stop_time", "start_lsn",        "stop_lsn",
    "timeline", "wal_start",  "wal_end",   "wal_segment_size", NULL};

static json_t *physical_of(json_t *m)
{
    if (!json_string_value(json_object_get(m, "start_lsn")))
        return NULL;
    json_t *o = json_object();
    for (const char *const *k = physical_keys; *k; k++)
        json_object_set(o, *k, json_object_get(m, *k) ? json_object_get(m, *k) : json_null());
    return o;
}

static int add_entry(struct listing *l, const char *dir, const char *name, const struct stat *st)
{
    struct entry *v = realloc(l->v, (l->n + 1) * sizeof *v);
    if (!v)
        return -1;
    l->v = v;
    struct entry *e = &v[l->n];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    size_t len = strlen(dir) + strlen(name) + 2;
    e->path = malloc(len);
    if (!e->name || !e->path) {
        free(e->name);
        free(e->path);
        return -1;
    }
    snprintf(e->path, len, "%s/%s", dir, name);
    l->n++;
    e->bytes = (long long)st->st_size;
    e->verified = -1;
    e->created_ms = (long long)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
    json_t *m = rune_artifact_manifest_load(e->path, e->reason, sizeof e->reason);
    long long ms;
    if (m && rune_clock_parse_iso(json_string_value(json_object_get(m, "created_at")), &ms) == 0) {
        e->created_ms = ms;
        e->from_manifest = true;
    }
    if (m) {
        e->physical = physical_of(m);
        snprintf(e->engine, sizeof e->engine, "%s",
                 json_string_value(json_object_get(m, "engine"))
                     ? json_string_value(json_object_get(m, "engine"))
                     : "");
        e->read_with = rune_artifact_read_with(m);
        e->raw = (long long)json_integer_value(json_object_get(m, "raw_bytes"));
    }
    if (!m)
        e->verified = 0; /* without a usable manifest it cannot be valid */
    json_decref(m);
    return 0;
}

/* A name matches a pattern when it matches one of its globs, separated by
 * '|' ("*.db.gz|*.db.zst"): one directory may hold gzip and zstd backups. */
static bool matches(const char *pattern, const char *name)
{
    for (const char *p = pattern;; p++) {
        size_t n = strcspn(p, "|");
        char *glob = strndup(p, n);
        bool hit = glob && fnmatch(glob, name, FNM_PERIOD) == 0;
        free(glob);
        if (hit)
            return true;
        p += n;
        if (!*p)
            return false;
    }
}

/* The backups in dir whose names match pattern (manifests and hidden
 * partial files are never backups), newest first. */
static int scan(struct rune_call *c, const char *dir, const char *pattern, struct listing *l)
{
    memset(l, 0, sizeof *l);
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return rune_call_fail(c, "backup directory %s does not exist: check the path", dir);
        return rune_call_fail(c, "cannot read backup directory %s: %s", dir, strerror(errno));
    }
    struct dirent *de;
    int rc = RUNE_STEP_OK;
    while ((de = readdir(d))) {
        const char *name = de->d_name;
        if (name[0] == '.' || ends_with(name, manifest_suffix) || !matches(pattern, name))
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        struct stat st;
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (add_entry(l, dir, name, &st) != 0) {
            rc = rune_call_fail(c,
                                "no memory for the list of backups in %s (%zu so far): free memory "
                                "on this host and run the step again",
                                dir, l->n);
            break;
        }
    }
    closedir(d);
    if (rc != RUNE_STEP_OK) {
        listing_free(l);
        return rc;
    }
    if (l->n > 1)
        qsort(l->v, l->n, sizeof *l->v, by_created_desc);
    return RUNE_STEP_OK;
}

/* scan of the directory the `dir` parameter names, for the names
 * `pattern` matches; *dir is its absolute path (malloc'd; NULL after
 * failing the call when it could not be made). Returns a rune_status. */
static int scan_dir(struct rune_call *c, char **dir, struct listing *l)
{
    memset(l, 0, sizeof *l);
    *dir = rune_path_param(c, rune_call_str(c, "dir"));
    if (!*dir)
        return rune_call_fail(c,
                              "no memory for the path of backup directory %s: free memory on this "
                              "host and run the step again",
                              rune_call_str(c, "dir"));
    return scan(c, *dir, rune_call_str(c, "pattern"), l);
}

/* The backups of a listing that verification reads (those with a usable
 * manifest): how many (*count), and their raw bytes. */
static long long to_verify(const struct listing *l, size_t *count)
{
    long long raw = 0;
    *count = 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].verified < 0) {
            raw += l->v[i].raw;
            (*count)++;
        }
    return raw;
}

/* Full verification of one entry, its progress told through t; returns a
 * cancel status or OK. */
static int verify_entry(struct rune_call *c, struct entry *e, struct tally *t)
{
    struct rune_artifact_check chk;
    struct rune_artifact_watch watch = {tally_cancelled, tally_progress, t};
    int rc = rune_artifact_verify(e->path, &watch, &chk);
    e->verified = rc == 0;
    snprintf(e->reason, sizeof e->reason, "%s", chk.reason);
    bool stop = chk.cancelled;
    rune_artifact_check_release(&chk);
    if (stop) {
        int st = rune_call_cancel_status(c);
        rune_call_fail(c, "%s while verifying %s",
                       st == RUNE_STEP_TIMEOUT ? "timed out" : "cancelled", e->path);
        return st;
    }
    return RUNE_STEP_OK;
}

static json_t *time_json(long long ms)
{
    char t[RUNE_ISO_LEN];
    rune_clock_iso(t, ms);
    return json_string(t);
}

static json_t *entry_json(const struct entry *e, long long now_ms)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(e->name));
    json_object_set_new(o, "path", json_string(e->path));
    json_object_set_new(o, "age_s", json_integer((json_int_t)((now_ms - e->created_ms) / 1000)));
    json_object_set_new(o, "bytes", json_integer((json_int_t)e->bytes));
    json_object_set_new(o, "created_at", time_json(e->created_ms));
    json_object_set_new(o, "created_from", json_string(e->from_manifest ? "manifest" : "mtime"));
    json_object_set_new(o, "verified", e->verified < 0 ? json_null() : json_boolean(e->verified));
    json_object_set_new(o, "reason", e->reason[0] ? json_string(e->reason) : json_null());
    json_object_set_new(o, "read_with", e->read_with ? json_string(e->read_with) : json_null());
    json_object_set_new(o, "kind",
                        e->physical ? json_incref(json_object_get(e->physical, "kind"))
                                    : json_string(e->engine[0] ? e->engine : "unknown"));
    if (e->physical)
        json_object_update(o, e->physical);
    return o;
}

/* ---- backup.list ---- */

static int list_run(struct rune_call *c)
{
    char *dir;
    struct listing l;
    int rc = scan_dir(c, &dir, &l);
    if (rc != RUNE_STEP_OK) {
        free(dir);
        return rc;
    }
    bool verify = rune_call_bool(c, "verify");
    long long now = rune_clock_wall_ms();
    json_t *items = json_array(), *skipped = json_array();
    const char *newest_verified = NULL;
    /* progress: the raw bytes of all the backups to verify, one count */
    size_t count = 0, nth = 0;
    struct tally t = {c, 0, verify ? to_verify(&l, &count) : 0};
    for (size_t i = 0; i < l.n && rc == RUNE_STEP_OK; i++) {
        struct entry *e = &l.v[i];
        if (verify && e->verified < 0) {
            char phase[48];
            snprintf(phase, sizeof phase, "verifying %zu of %zu", ++nth, count);
            rune_call_progress_phase(c, phase);
            rc = verify_entry(c, e, &t);
            t.base += e->raw;
        }
        if (rc != RUNE_STEP_OK)
            break;
        if (e->verified == 1 && !newest_verified)
            newest_verified = e->path;
        /* a backup that failed its checks (or has no usable manifest) is
         * said out loud, one line each, and listed in `skipped`: a
         * "newest_verified" older than the newest backup must not pass in
         * silence */
        if (e->verified == 0) {
            json_array_append_new(skipped, json_pack("{s:s, s:s}", "path", e->path, "reason",
                                                     e->reason[0] ? e->reason : "unknown"));
            rune_call_log(c, "skipped %s: %s", e->path, e->reason[0] ? e->reason : "unknown");
        }
        json_array_append_new(items, entry_json(e, now));
    }
    json_t *o = rune_call_outputs(c);
    json_object_set_new(o, "backups", items);
    json_object_set_new(o, "count", json_integer((json_int_t)l.n));
    json_object_set_new(o, "newest", l.n ? json_string(l.v[0].path) : json_null());
    json_object_set_new(o, "newest_verified",
                        newest_verified ? json_string(newest_verified) : json_null());
    size_t ns = json_array_size(skipped);
    json_object_set_new(o, "skipped", skipped);
    if (rc == RUNE_STEP_OK) {
        char tail[96] = "";
        if (verify)
            snprintf(tail, sizeof tail, " (verified: %zu good, %zu skipped)", l.n - ns, ns);
        else if (ns)
            snprintf(tail, sizeof tail, " (%zu skipped: no usable manifest)", ns);
        rune_call_log(c, "%zu backup%s in %s%s", l.n, l.n == 1 ? "" : "s", dir, tail);
    }
    listing_free(&l);
    free(dir);
    return rc;
}

/* backup.list's size hook: with verify, the raw bytes of the backups it
 * would verify, from their manifests (read as the listing reads them: a
 * manifest is a few hundred bytes per 4 MiB chunk, so this stays small
 * beside the work it sizes); without verify, no size: a listing's time
 * does not grow with the backups' bytes. */
static long long list_size(struct rune_call *c, enum rune_unit *unit)
{
    if (!rune_call_bool(c, "verify"))
        return -1;
    char *dir;
    struct listing l;
    int rc = scan_dir(c, &dir, &l);
    free(dir);
    if (rc != RUNE_STEP_OK)
        return -1; /* the failure's message is the engine's to drop */
    size_t count;
    long long raw = to_verify(&l, &count);
    listing_free(&l);
    *unit = RUNE_UNIT_BYTES;
    return raw;
}

static int list_plan(struct rune_call *c)
{
    rune_call_plan(c, "would list the backups matching %s in %s%s", rune_call_str(c, "pattern"),
                   rune_call_str(c, "dir"), rune_call_bool(c, "verify") ? ", verifying each" : "");
    return RUNE_STEP_OK;
}

/* ---- backup.verify ---- */

static void copy_field(json_t *o, json_t *m, const char *key)
{
    json_t *v = m ? json_object_get(m, key) : NULL;
    json_object_set(o, key, v ? v : json_null());
}

static int verify_run(struct rune_call *c)
{
    char *path = rune_path_param(c, rune_call_str(c, "path"));
    if (!path)
        return rune_call_fail(
            c,
            "no memory for the path of backup %s: free memory on this host and run the step again",
            rune_call_str(c, "path"));
    struct rune_artifact_check chk;
    struct tally t = {c, 0, -1};
    struct rune_artifact_watch watch = {tally_cancelled, tally_progress, &t};
    rune_call_progress_phase(c, "verifying");
    int rc = rune_artifact_verify(path, &watch, &chk);
    json_t *o = rune_call_outputs(c);
    json_object_set_new(o, "path", json_string(path));
    json_object_set_new(o, "ok", json_boolean(rc == 0));
    json_object_set_new(o, "reason", rc == 0 ? json_null() : json_string(chk.reason));
    json_object_set_new(o, "bad_chunk", chk.bad_chunk ? json_integer(chk.bad_chunk) : json_null());
    json_t *chunks = chk.manifest ? json_object_get(chk.manifest, "chunks") : NULL;
    json_object_set_new(o, "chunks",
                        chunks ? json_integer((json_int_t)json_array_size(chunks)) : json_null());
    copy_field(o, chk.manifest, "bytes");
    copy_field(o, chk.manifest, "raw_bytes");
    copy_field(o, chk.manifest, "sha256");
    copy_field(o, chk.manifest, "engine");
    copy_field(o, chk.manifest, "created_at");
    copy_field(o, chk.manifest, "recovery_point");
    copy_field(o, chk.manifest, "tables");
    copy_field(o, chk.manifest, "schema_fingerprint");
    for (const char *const *k = physical_keys; *k; k++)
        copy_field(o, chk.manifest, *k);
    const char *read_with = chk.manifest ? rune_artifact_read_with(chk.manifest) : NULL;
    json_object_set_new(o, "compression",
                        read_with ? json_string(rune_artifact_compression(chk.manifest))
                                  : json_null());
    json_object_set_new(o, "read_with", read_with ? json_string(read_with) : json_null());
    int st = RUNE_STEP_OK;
    if (chk.cancelled) {
        st = rune_call_cancel_status(c);
        rune_call_fail(c, "%s while verifying %s",
                       st == RUNE_STEP_TIMEOUT ? "timed out" : "cancelled", path);
    } else if (rc != 0) {
        st = rune_call_fail(c, "backup %s does not verify: %s", path, chk.reason);
    } else {
        rune_call_log(c, "%s verified: %zu chunks, %lld bytes (%lld raw); without rune: %s %s",
                      path, json_array_size(chunks),
                      (long long)json_integer_value(json_object_get(chk.manifest, "bytes")),
                      (long long)json_integer_value(json_object_get(chk.manifest, "raw_bytes")),
                      read_with, path);
    }
    rune_artifact_check_release(&chk);
    free(path);
    return st;
}

static int verify_plan(struct rune_call *c)
{
    rune_call_plan(c,
                   "would verify %s: manifest, SHA-256 of every chunk and of the file, full "
                   "decompression",
                   rune_call_str(c, "path"));
    return RUNE_STEP_OK;
}

/* ---- backup.info ---- */

static int info_run(struct rune_call *c)
{
    char *path = rune_path_param(c, rune_call_str(c, "path"));
    if (!path)
        return rune_call_fail(
            c,
            "no memory for the path of backup %s: free memory on this host and run the step again",
            rune_call_str(c, "path"));
    char err[512];
    json_t *m = rune_artifact_manifest_load(path, err, sizeof err);
    if (!m) {
        int rc = rune_call_fail(c, "%s", err);
        free(path);
        return rc;
    }
    json_t *o = rune_call_outputs(c);
    const char *key;
    json_t *v;
    json_object_foreach(m, key, v)
    {
        if (strcmp(key, "chunks") != 0)
            json_object_set(o, key, v);
    }
    json_object_set_new(o, "chunks",
                        json_integer((json_int_t)json_array_size(json_object_get(m, "chunks"))));
    json_object_set_new(o, "path", json_string(path));
    char *mpath = rune_artifact_manifest_path(path);
    json_object_set_new(o, "manifest", mpath ? json_string(mpath) : json_null());
    free(mpath);
    long long created;
    if (rune_clock_parse_iso(json_string_value(json_object_get(m, "created_at")), &created) == 0)
        json_object_set_new(o, "age_s",
                            json_integer((json_int_t)((rune_clock_wall_ms() - created) / 1000)));
    /* the first manifests said neither read_with nor, in principle, compression */
    json_object_set_new(o, "compression", json_string(rune_artifact_compression(m)));
    json_object_set_new(o, "read_with", json_string(rune_artifact_read_with(m)));
    for (const char *const *k = (const char *const[]){"tables", "schema_fingerprint", NULL}; *k;
         k++)
        if (!json_object_get(o, *k))
            json_object_set_new(o, *k, json_null());
    json_decref(m);
    free(path);
    return RUNE_STEP_OK;
}

static int info_plan(struct rune_call *c)
{
    rune_call_plan(c, "would read the manifest of %s", rune_call_str(c, "path"));
    return RUNE_STEP_OK;
}

/* ---- backup.prune ---- */

static void add_reason(struct entry *e, const char *why)
{
    size_t used = strlen(e->kept);
    snprintf(e->kept + used, sizeof e->kept - used, "%s%s", used ? ", " : "", why);
}

/* Keeps the newest backup of each of the `n` most recent periods (days,
 * ISO weeks or months, in local time) that have backups. */
static void keep_periods(struct listing *l, const char *rule, const char *fmt, long long n)
{
    char last[32] = "";
    long long count = 0;
    for (size_t i = 0; i < l->n && count < n; i++) {
        time_t t = (time_t)(l->v[i].created_ms / 1000);
        struct tm tm;
        char period[32];
        localtime_r(&t, &tm);
        strftime(period, sizeof period, fmt, &tm);
        if (!strcmp(period, last))
            continue;
        snprintf(last, sizeof last, "%s", period);
        char why[64];
        snprintf(why, sizeof why, "%s %s", rule, period);
        add_reason(&l->v[i], why);
        count++;
    }
}

static int retention(struct rune_call *c, struct listing *l)
{
    long long d = rune_call_int(c, "keep_daily"), w = rune_call_int(c, "keep_weekly"),
              m = rune_call_int(c, "keep_monthly"), last = rune_call_int(c, "keep_last"),
              within = rune_call_int(c, "keep_within");
    if (d < 0 || w < 0 || m < 0 || last < 0 || within < 0)
        return rune_call_fail(c, "keep_last, keep_within, keep_daily, keep_weekly and "
                                 "keep_monthly must not be negative");
    /* the listing is newest first */
    for (size_t i = 0; i < l->n && (long long)i < last; i++)
        add_reason(&l->v[i], "last");
    long long now = rune_clock_wall_ms();
    for (size_t i = 0; within > 0 && i < l->n; i++)
        if (now - l->v[i].created_ms <= within)
            add_reason(&l->v[i], "within");
    keep_periods(l, "daily", "%Y-%m-%d", d);
    keep_periods(l, "weekly", "%G-W%V", w);
    keep_periods(l, "monthly", "%Y-%m", m);
    return RUNE_STEP_OK;
}

/* Finds the newest backup that verifies and marks it kept. Fails (and the
 * caller deletes nothing) when none does. */
static int protect_newest_verified(struct rune_call *c, struct listing *l, const char *dir)
{
    for (size_t i = 0; i < l->n; i++) {
        struct entry *e = &l->v[i];
        if (e->verified < 0) {
            struct tally t = {c, 0, -1}; /* each backup a count of its own */
            rune_call_progress_phase(c, "verifying");
            int st = verify_entry(c, e, &t);
            if (st != RUNE_STEP_OK)
                return st;
        }
        if (e->verified == 1) {
            add_reason(e, "newest verified");
            return RUNE_STEP_OK;
        }
        rune_call_log(c, "%s does not verify: %s", e->name, e->reason);
    }
    return rune_call_fail(c,
                          "none of the %zu backups in %s verifies (newest: %s: %s); nothing was "
                          "deleted — take a good backup before pruning",
                          l->n, dir, l->v[0].name, l->v[0].reason);
}

static json_t *item(const struct entry *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(e->name));
    json_object_set_new(o, "path", json_string(e->path));
    json_object_set_new(o, "created_at", time_json(e->created_ms));
    if (e->kept[0])
        json_object_set_new(o, "kept_for", json_string(e->kept));
    return o;
}

static int remove_backup(const struct entry *e, char *err, size_t errlen)
{
    if (unlink(e->path) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "%s: %s", e->path, strerror(errno));
        return -1;
    }
    size_t len = strlen(e->path) + strlen(manifest_suffix) + 1;
    char *mpath = malloc(len);
    if (!mpath) {
        snprintf(err, errlen,
                 "%s: no memory for the name of its manifest (free memory and run it again)",
                 e->path);
        return -1;
    }
    snprintf(mpath, len, "%s%s", e->path, manifest_suffix);
    int rc = 0;
    if (unlink(mpath) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "%s: %s", mpath, strerror(errno));
        rc = -1;
    }
    free(mpath);
    return rc;
}

/* With an archive: the WAL no kept base backup needs (backup_wal.c). The
 * listing is newest first, so the oldest kept base backup is the last
 * kept entry that is one. Without any, no WAL goes. */
static int prune_archive(struct rune_call *c, const struct listing *l, const char *dir, bool dry)
{
    char *archive = rune_path_param(c, rune_call_str(c, "archive"));
    if (!archive)
        return rune_call_fail(c, "no memory for the path of the WAL archive");
    const struct entry *oldest = NULL;
    for (size_t i = l->n; i-- > 0 && !oldest;)
        if (l->v[i].kept[0] && l->v[i].physical)
            oldest = &l->v[i];
    int rc = RUNE_STEP_OK;
    const char *start =
        oldest ? json_string_value(json_object_get(oldest->physical, "wal_start")) : NULL;
    long long segsize =
        oldest
            ? (long long)json_integer_value(json_object_get(oldest->physical, "wal_segment_size"))
            : 0;
    if (!start || segsize <= 0) {
        json_object_set_new(rune_call_outputs(c), dry ? "wal_would_delete" : "wal_deleted",
                            json_array());
        json_object_set_new(rune_call_outputs(c), "wal_kept_from", json_null());
        rune_call_log(c, "no base backup is kept in %s: no WAL was deleted from %s", dir, archive);
    } else {
        rc = rune_backup_prune_wal(c, archive, start, segsize, dry);
    }
    free(archive);
    return rc;
}

static int prune_run(struct rune_call *c)
{
    char *dir;
    struct listing l;
    int rc = scan_dir(c, &dir, &l);
    if (!dir)
        return rc;
    bool dry = rune_call_bool(c, "dry");
    if (rc == RUNE_STEP_OK)
        rc = retention(c, &l);
    if (rc == RUNE_STEP_OK && l.n > 0)
        rc = protect_newest_verified(c, &l, dir);
    json_t *kept = json_array(), *deleted = json_array(), *would = json_array();
    char failures[1024] = "";
    size_t nfail = 0;
    for (size_t i = 0; i < l.n && rc == RUNE_STEP_OK; i++) {
        struct entry *e = &l.v[i];
        if (e->kept[0]) {
            json_array_append_new(kept, item(e));
            continue;
        }
        if (dry) {
            json_array_append_new(would, item(e));
            continue;
        }
        if (rune_call_cancelled(c)) {
            int st = rune_call_cancel_status(c);
            rune_call_fail(c, "%s after deleting %zu backups; the rest were kept",
                           st == RUNE_STEP_TIMEOUT ? "timed out" : "cancelled",
                           json_array_size(deleted));
            rc = st;
            break;
        }
        char err[512];
        if (remove_backup(e, err, sizeof err) != 0) {
            size_t used = strlen(failures);
            snprintf(failures + used, sizeof failures - used, "%s%s", used ? "; " : "", err);
            nfail++;
            continue;
        }
        json_array_append_new(deleted, item(e));
    }
    json_t *o = rune_call_outputs(c);
    json_object_set_new(o, "kept", kept);
    json_object_set_new(o, "deleted", deleted);
    json_object_set_new(o, "would_delete", would);
    if (rc == RUNE_STEP_OK && nfail)
        rc = rune_call_fail(c, "could not delete %zu backup%s: %s — check the permissions of %s",
                            nfail, nfail == 1 ? "" : "s", failures, dir);
    else if (rc == RUNE_STEP_OK)
        rune_call_log(c, "%s %zu of %zu backups in %s, kept %zu", dry ? "would delete" : "deleted",
                      json_array_size(dry ? would : deleted), l.n, dir, json_array_size(kept));
    if (rc == RUNE_STEP_OK && rune_call_str(c, "archive"))
        rc = prune_archive(c, &l, dir, dry);
    listing_free(&l);
    free(dir);
    return rc;
}

/* The plan applies the same rules but verifies nothing: it names what the
 * run would delete if the newest backup verifies. */
static int prune_plan(struct rune_call *c)
{
    char *dir;
    struct listing l;
    int rc = scan_dir(c, &dir, &l);
    if (rc == RUNE_STEP_OK)
        rc = retention(c, &l);
    if (rc != RUNE_STEP_OK) {
        free(dir);
        return rc;
    }
    if (l.n > 0 && !l.v[0].kept[0])
        add_reason(&l.v[0], "newest");
    char *names = NULL;
    size_t len = 0, n = 0;
    FILE *f = open_memstream(&names, &len);
    for (size_t i = 0; f && i < l.n; i++) {
        if (l.v[i].kept[0])
            continue;
        fprintf(f, "%s%s", n ? ", " : "", l.v[i].name);
        n++;
    }
    if (f)
        fclose(f);
    rune_call_plan(c,
                   "%s %zu of %zu backups in %s%s%s (the newest one that verifies is always "
                   "kept)",
                   rune_call_bool(c, "dry") ? "would list, without deleting," : "would delete", n,
                   l.n, dir, n ? ": " : "", n && names ? names : "");
    free(names);
    listing_free(&l);
    free(dir);
    return RUNE_STEP_OK;
}

/* ---- the table ---- */

static const struct rune_param list_params[] = {
    {"dir", RUNE_T_PATH, true, NULL, "the backup directory"},
    {"pattern", RUNE_T_STRING, false, "*.gz|*.zst",
     "glob for the data files' names; several separated by | (gzip and zstd backups)"},
    {"verify", RUNE_T_BOOL, false, "false", "verify every backup fully (reads them all)"},
    {0},
};
static const struct rune_output list_outputs[] = {
    {"backups", RUNE_T_LIST,
     "newest first: {name, path, age_s, bytes, created_at, created_from (manifest|mtime), "
     "verified (true|false|null = not checked), reason, read_with (gzip -dc or zstd -dc; null "
     "without a manifest), kind (pg.basebackup, or the engine)}; base backups also give "
     "start_time, stop_time, start_lsn, stop_lsn, timeline, wal_start, wal_end, "
     "wal_segment_size"},
    {"count", RUNE_T_INT, "number of backups"},
    {"newest", RUNE_T_STRING, "path of the newest backup, or null"},
    {"newest_verified", RUNE_T_STRING,
     "path of the newest backup that verified, or null (only with verify: true)"},
    {"skipped", RUNE_T_LIST,
     "newest first: {path, reason} for each backup that failed verification (or, without "
     "verify, has no usable manifest); each is also a log line"},
    {0},
};

static const struct rune_param path_params[] = {
    {"path", RUNE_T_PATH, true, NULL, "the backup's data file (NAME.gz or NAME.zst)"},
    {0},
};
static const struct rune_output verify_outputs[] = {
    {"path", RUNE_T_STRING, "the backup"},
    {"ok", RUNE_T_BOOL, "whether it verified"},
    {"reason", RUNE_T_STRING, "why not, for a person (null when ok)"},
    {"bad_chunk", RUNE_T_INT, "the first damaged chunk (1-based), or null"},
    {"chunks", RUNE_T_INT, "number of chunks"},
    {"bytes", RUNE_T_INT, "compressed size"},
    {"raw_bytes", RUNE_T_INT, "uncompressed size"},
    {"sha256", RUNE_T_STRING, "SHA-256 of the data file"},
    {"engine", RUNE_T_STRING, "what wrote it: file, sqlite, postgres"},
    {"created_at", RUNE_T_STRING, "when the backup was started (UTC)"},
    {"recovery_point", RUNE_T_STRING, "the time the data is consistent as of (UTC)"},
    {"tables", RUNE_T_MAP, "per-table row counts, when the writer recorded them"},
    {"schema_fingerprint", RUNE_T_STRING, "the writer's schema fingerprint, or null"},
    {"kind", RUNE_T_STRING, "\"pg.basebackup\" for a base backup, else null"},
    {"start_time", RUNE_T_STRING, "a base backup's start (server clock, UTC), else null"},
    {"stop_time", RUNE_T_STRING, "a base backup's end, else null"},
    {"start_lsn", RUNE_T_STRING, "a base backup's start LSN, else null"},
    {"stop_lsn", RUNE_T_STRING, "the LSN a base backup is consistent at, else null"},
    {"timeline", RUNE_T_INT, "a base backup's timeline, else null"},
    {"wal_start", RUNE_T_STRING, "the first WAL segment a base backup needs, else null"},
    {"wal_end", RUNE_T_STRING, "the last WAL segment it needs to be consistent, else null"},
    {"wal_segment_size", RUNE_T_INT, "a base backup's WAL segment size, else null"},
    {"compression", RUNE_T_STRING, "gzip or zstd (null when the manifest is unreadable)"},
    {"read_with", RUNE_T_STRING,
     "the command that reads it without rune: \"gzip -dc\" or \"zstd -dc\" (null when the "
     "manifest is unreadable)"},
    {0},
};
static const struct rune_output info_outputs[] = {
    {"path", RUNE_T_STRING, "the backup's data file"},
    {"manifest", RUNE_T_STRING, "its manifest"},
    {"name", RUNE_T_STRING, "the data file's name when it was written"},
    {"engine", RUNE_T_STRING, "what wrote it"},
    {"source", RUNE_T_STRING, "what was backed up"},
    {"created_at", RUNE_T_STRING, "when the backup was started (UTC)"},
    {"completed_at", RUNE_T_STRING, "when it was finished (UTC)"},
    {"recovery_point", RUNE_T_STRING, "the time the data is consistent as of (UTC)"},
    {"age_s", RUNE_T_INT, "seconds since created_at"},
    {"format_version", RUNE_T_INT, "manifest format version"},
    {"compression", RUNE_T_STRING, "gzip or zstd"},
    {"read_with", RUNE_T_STRING,
     "the command that reads it without rune: \"gzip -dc\" or \"zstd -dc\""},
    {"level", RUNE_T_INT, "compression level used"},
    {"chunk_size", RUNE_T_INT, "input bytes per chunk"},
    {"chunks", RUNE_T_INT, "number of chunks"},
    {"bytes", RUNE_T_INT, "compressed size"},
    {"raw_bytes", RUNE_T_INT, "uncompressed size"},
    {"sha256", RUNE_T_STRING, "SHA-256 of the data file"},
    {"tables", RUNE_T_MAP, "per-table row counts, or null"},
    {"schema_fingerprint", RUNE_T_STRING, "schema fingerprint, or null"},
    {0},
};

static const struct rune_param prune_params[] = {
    {"dir", RUNE_T_PATH, true, NULL, "the backup directory"},
    {"pattern", RUNE_T_STRING, false, "*.gz|*.zst",
     "glob for the data files' names; several separated by | (gzip and zstd backups)"},
    {"keep_last", RUNE_T_INT, false, "0", "keep the N newest backups, whatever their age"},
    {"keep_within", RUNE_T_DURATION, false, "0s",
     "keep every backup younger than this (e.g. 24h: all of today's hourly backups)"},
    {"keep_daily", RUNE_T_INT, false, "7", "keep the newest backup of each of the last N days"},
    {"keep_weekly", RUNE_T_INT, false, "4",
     "keep the newest backup of each of the last N ISO weeks"},
    {"keep_monthly", RUNE_T_INT, false, "0", "keep the newest backup of each of the last N months"},
    {"dry", RUNE_T_BOOL, false, "false", "only list what would be deleted"},
    {"archive", RUNE_T_PATH, false, NULL,
     "a WAL archive: also delete the WAL segments older than the first one the oldest kept base "
     "backup (pg.basebackup) needs; history files and newer WAL are never touched"},
    {0},
};
static const struct rune_output prune_outputs[] = {
    {"kept", RUNE_T_LIST, "backups kept: {name, path, created_at, kept_for}"},
    {"deleted", RUNE_T_LIST, "backups deleted (data file and manifest): {name, path, created_at}"},
    {"would_delete", RUNE_T_LIST, "with dry: true, what would have been deleted"},
    {"wal_deleted", RUNE_T_LIST, "with archive: the WAL files deleted, oldest first"},
    {"wal_would_delete", RUNE_T_LIST, "with archive and dry: true, the WAL files it would delete"},
    {"wal_kept_from", RUNE_T_STRING,
     "with archive: the oldest kept base backup's first segment (null: none kept, no WAL deleted)"},
    {0},
};

const struct rune_step_type rune_backup_steps[] = {
    {"backup.list", "List the backups in a directory, newest first, optionally verifying each",
     list_params, list_outputs, RUNE_READS, list_run, list_plan, false, list_size},
    {"backup.verify",
     "Verify a backup: manifest, SHA-256 of every chunk and the file, full decompression",
     path_params, verify_outputs, RUNE_READS, verify_run, verify_plan, false,
     rune_worksize_backup_path},
    {"backup.info", "Read a backup's manifest (engine, times, sizes, tables)", path_params,
     info_outputs, RUNE_READS, info_run, info_plan},
    {"backup.prune",
     "Delete old backups by retention (N daily, weekly, monthly); never the newest verified",
     prune_params, prune_outputs, RUNE_WRITES, prune_run, prune_plan},
    {0},
};
