/*
 * pg_walcheck.c — pg.wal_check: does a WAL archive reach a recovery
 * target from a base backup? Every segment from the backup's first one,
 * on the timelines recovery would follow, must be in the archive and
 * readable, up to the target; the first one missing (or unreadable) is
 * named. pg.recover runs the same check before it touches anything.
 *
 * How it decides (docs/pg-physical.md):
 * - Timelines: as recovery_target_timeline = 'latest' does, the newest
 *   timeline is found by probing T+1.history, T+2.history ... from the
 *   backup's; its history file gives the chain of timelines and the LSN
 *   each one branched off at. A segment is taken, like PostgreSQL's
 *   XLogFileReadAnyTLI, from the newest timeline of the chain that began
 *   at or before it and has the file.
 * - Readable: the file has the segment size and its first page's long
 *   header names this segment's address, this cluster's system identifier
 *   and this segment size; the whole file is read once.
 * - The backup becomes consistent only at its stop LSN: every target
 *   needs the segments up to there (its wal_end).
 * - Target LSN: the segments up to the one holding it.
 * - Target time: recovery stops at the first commit (or abort) whose time
 *   is after the target, so the archive reaches the target only if it
 *   holds such a record, after the backup's stop LSN. Commit times are
 *   read with pg_waldump -r Transaction (TZ=UTC), one segment at a time,
 *   from the first segment on, until one is found.
 * - latest: whatever the archive holds past consistency; the time of the
 *   last commit in its last segment is the archive's end, when it has one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact.h"
#include "pathparam.h"
#include "pg_physical.h"
#include "pgconn.h"
#include "pgtime.h"
#include "walseg.h"

#define CHAIN_MAX 256
#define HISTORY_MAX (1 << 20)

struct tl {
    uint32_t tli;
    uint64_t begin, end; /* end: UINT64_MAX for the newest */
};

static char *slurp_small(const char *path, size_t max, size_t *len)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char *buf = malloc(max + 1);
    ssize_t n = buf ? read(fd, buf, max) : -1;
    close(fd);
    if (n < 0) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static bool exists_in(const char *dir, const char *name)
{
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The chain of timelines recovery would follow from `start` (the newest
 * reachable by history files), oldest first. Returns how many, or -1. */
static int chain_of(struct rune_wal_reach *r, uint32_t start, struct tl *out)
{
    uint32_t newest = start;
    char name[32];
    for (;;) {
        rune_wal_history_name(name, newest + 1);
        if (!exists_in(r->archive, name))
            break;
        newest++;
    }
    int n = 0;
    if (newest != start) {
        char path[4096];
        size_t len;
        rune_wal_history_name(name, newest);
        snprintf(path, sizeof path, "%s/%s", r->archive, name);
        char *text = slurp_small(path, HISTORY_MAX, &len);
        if (!text) {
            snprintf(r->reason, sizeof r->reason, "cannot read the timeline history file %s: %s",
                     path, strerror(errno));
            return -1;
        }
        uint64_t prev = 0;
        for (char *line = strtok(text, "\n"); line && n < CHAIN_MAX - 1;
             line = strtok(NULL, "\n")) {
            unsigned tli;
            char lsn[32];
            if (line[0] == '#' || sscanf(line, "%u %31s", &tli, lsn) != 2)
                continue;
            uint64_t at;
            if (rune_lsn_parse(lsn, &at) != 0)
                continue;
            out[n++] = (struct tl){tli, prev, at};
            prev = at;
        }
        free(text);
        out[n++] = (struct tl){newest, prev, UINT64_MAX};
    } else {
        out[n++] = (struct tl){start, 0, UINT64_MAX};
    }
    for (int i = 0; i < n; i++)
        if (out[i].tli == start) {
            if (out[i].end <= r->start_lsn) {
                snprintf(r->reason, sizeof r->reason,
                         "timeline %u (the newest in the archive) left the backup's timeline %u "
                         "before the backup started: recovery cannot follow it",
                         newest, start);
                return -1;
            }
            r->timeline = newest;
            return n;
        }
    snprintf(r->reason, sizeof r->reason,
             "timeline %u (the newest in the archive) does not descend from the backup's "
             "timeline %u",
             newest, start);
    return -1;
}

static uint64_t le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* The whole segment read; its long page header checked. 0, or -1 with
 * why in r->reason. */
static int readable(struct rune_wal_reach *r, const char *path, uint64_t segno)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        snprintf(r->reason, sizeof r->reason, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = (size_t)1 << 20;
    unsigned char *buf = malloc(cap);
    long long total = 0;
    ssize_t n = -1;
    unsigned char head[40] = {0};
    errno = ENOMEM;
    while (buf && (n = read(fd, buf, cap)) > 0) {
        if (total == 0 && n >= 40)
            memcpy(head, buf, 40);
        total += n;
    }
    int saved = errno;
    free(buf);
    close(fd);
    if (n < 0) {
        snprintf(r->reason, sizeof r->reason, "cannot read %s: %s", path, strerror(saved));
        return -1;
    }
    if (total != r->segsize) {
        snprintf(r->reason, sizeof r->reason,
                 "%s is %lld bytes, not a whole segment (%lld): cut short or not WAL", path, total,
                 r->segsize);
        return -1;
    }
    uint64_t addr = le(head + 8, 8), sysid = le(head + 24, 8), segsize = le(head + 32, 4);
    if (addr != segno * (uint64_t)r->segsize || segsize != (uint64_t)r->segsize) {
        snprintf(r->reason, sizeof r->reason,
                 "%s does not hold the segment its name says (its first page is for %llX): "
                 "damaged or misnamed",
                 path, (unsigned long long)addr);
        return -1;
    }
    if (r->sysid && sysid != r->sysid) {
        snprintf(r->reason, sizeof r->reason,
                 "%s is WAL of another cluster (system identifier %llu, the backup's is %llu)",
                 path, (unsigned long long)sysid, (unsigned long long)r->sysid);
        return -1;
    }
    return 0;
}

/* Commit and abort records of one segment, from pg_waldump. Updates the
 * last time seen, and stops at the first one after the target. 0, or -1
 * when pg_waldump could not be run. */
static int commits(struct rune_call *c, struct rune_wal_reach *r, const char *path, bool *found)
{
    char *argv[] = {(char *)r->waldump, "-r", "Transaction", (char *)path, (char *)path, NULL};
    char *env[] = {"TZ=UTC", NULL};
    struct rune_proc p = {.argv = argv, .env = env, .capture_max = 64u << 20};
    if (rune_call_spawn(c, &p) != 0) {
        snprintf(r->reason, sizeof r->reason, "cannot run %s", r->waldump);
        return -1;
    }
    if (p.was_cancelled || p.timed_out) {
        rune_proc_release(&p);
        snprintf(r->reason, sizeof r->reason, "stopped while reading %s", path);
        return -1;
    }
    for (char *line = strtok(p.out, "\n"); line; line = strtok(NULL, "\n")) {
        char *desc = strstr(line, "desc: "), *at = strstr(line, "lsn: ");
        if (!desc || !at)
            continue;
        desc += 6;
        const char *words[] = {"COMMIT_PREPARED ", "ABORT_PREPARED ", "COMMIT ", "ABORT "};
        char *when = NULL;
        for (size_t i = 0; i < 4 && !when; i++)
            if (!strncmp(desc, words[i], strlen(words[i])))
                when = desc + strlen(words[i]);
        long long us;
        char lsntext[32] = "";
        uint64_t lsn;
        char stamp[64];
        if (!when || sscanf(at + 5, "%31[0-9A-Fa-f/]", lsntext) != 1 ||
            rune_lsn_parse(lsntext, &lsn) != 0)
            continue;
        /* "2026-12-02 19:38:08.357913 UTC; ..." */
        snprintf(stamp, sizeof stamp, "%.30s", when);
        char *semi = strchr(stamp, ';');
        if (semi)
            *semi = '\0';
        if (rune_pgtime_parse(stamp, &us) != 0)
            continue;
        r->end_us = us;
        if (r->has_time && us > r->target_us) {
            r->stop_us = us;
            r->stop_lsn = lsn;
            *found = true;
            break;
        }
        r->before_us = us;
    }
    rune_proc_release(&p);
    return 0;
}

/* The file of segment segno on the chain, newest eligible timeline first. */
static bool find_segment(struct rune_wal_reach *r, const struct tl *chain, int n, uint64_t segno,
                         char *name, char *path, size_t plen)
{
    bool first = true;
    for (int i = n - 1; i >= 0; i--) {
        if (rune_wal_segno(chain[i].begin, r->segsize) > segno)
            continue;
        char cand[RUNE_WAL_NAME_LEN + 1];
        rune_wal_name(cand, chain[i].tli, segno, r->segsize);
        if (first) { /* the name a gap is reported by */
            snprintf(name, RUNE_WAL_NAME_LEN + 1, "%s", cand);
            first = false;
        }
        if (exists_in(r->archive, cand)) {
            snprintf(name, RUNE_WAL_NAME_LEN + 1, "%s", cand);
            snprintf(path, plen, "%s/%s", r->archive, cand);
            return true;
        }
    }
    return false;
}

/* The newest WAL segment in the archive past segno (any timeline): WAL
 * after a gap, which recovery would never reach. */
static bool later_segment(struct rune_wal_reach *r, uint64_t segno, char *name)
{
    DIR *d = opendir(r->archive);
    if (!d)
        return false;
    bool any = false;
    uint64_t best = segno;
    struct dirent *e;
    while ((e = readdir(d))) {
        uint32_t tli;
        uint64_t s;
        if (rune_wal_name_parse(e->d_name, r->segsize, &tli, &s) == 0 && s > best) {
            best = s;
            snprintf(name, RUNE_WAL_NAME_LEN + 1, "%s", e->d_name);
            any = true;
        }
    }
    closedir(d);
    return any;
}

int rune_pg_wal_reach(struct rune_call *c, struct rune_wal_reach *r)
{
    struct tl chain[CHAIN_MAX];
    r->end_us = r->stop_us = r->before_us = -1;
    r->segments = 0;
    int n = chain_of(r, r->start_tli, chain);
    if (n < 0)
        return 0; /* decided: not reachable */
    uint64_t seg = rune_wal_segno(r->start_lsn, r->segsize);
    uint64_t consistent = rune_wal_prev_segno(r->backup_stop_lsn, r->segsize);
    uint64_t last_needed = consistent;
    if (r->has_lsn) {
        if (r->target_lsn < r->backup_stop_lsn) {
            snprintf(r->reason, sizeof r->reason,
                     "the target LSN is before the base backup's consistent point: choose an "
                     "older base backup");
            return 0;
        }
        last_needed = rune_wal_segno(r->target_lsn, r->segsize);
    }
    bool found = false, have_last = false;
    char name[RUNE_WAL_NAME_LEN + 1], path[4096];
    rune_call_progress_phase(c, "checking WAL");
    for (;; seg++) {
        if (rune_call_cancelled(c)) {
            snprintf(r->reason, sizeof r->reason, "stopped");
            return -1;
        }
        bool there = find_segment(r, chain, n, seg, name, path, sizeof path);
        if (!there || readable(r, path, seg) != 0) {
            if (!there)
                snprintf(r->reason, sizeof r->reason, "segment %s is not in the archive", name);
            snprintf(r->first_gap, sizeof r->first_gap, "%s", name);
            break;
        }
        snprintf(r->last_segment, sizeof r->last_segment, "%s", name);
        have_last = true;
        r->segments++;
        rune_call_progress(c, (long long)r->segments, -1, RUNE_UNIT_SEGMENTS);
        if (r->has_time && commits(c, r, path, &found) != 0)
            return -1;
        if (found || (!r->has_time && r->has_lsn && seg >= last_needed))
            break;
    }
    if (!r->has_time && !r->has_lsn) {
        /* latest: the loop ends at the archive's end; the time of its last
         * commit, when its last segment holds one, is the end's time */
        if (have_last) {
            bool ignored = false;
            snprintf(path, sizeof path, "%s/%s", r->archive, r->last_segment);
            if (commits(c, r, path, &ignored) != 0)
                return -1;
        }
        char later[RUNE_WAL_NAME_LEN + 1];
        r->reachable = have_last && seg > consistent;
        if (r->reachable && later_segment(r, seg, later)) {
            snprintf(r->reason, sizeof r->reason,
                     "segment %s is not in the archive but later WAL is (%s): recovery would "
                     "stop at the gap",
                     r->first_gap, later);
            r->reachable = false;
            return 0;
        }
        if (!r->reachable)
            snprintf(r->reason + strlen(r->reason), sizeof r->reason - strlen(r->reason),
                     ": the base backup cannot become consistent (it needs WAL up to %s)",
                     r->wal_end);
        else
            r->reason[0] = '\0';
        return 0;
    }
    if (r->has_lsn) {
        r->reachable = !r->first_gap[0];
        return 0;
    }
    if (!found) {
        char t[64], e[64];
        rune_pgtime_format(r->target_us, t, sizeof t);
        if (r->end_us >= 0)
            rune_pgtime_format(r->end_us, e, sizeof e);
        snprintf(r->reason + strlen(r->reason), sizeof r->reason - strlen(r->reason),
                 "; no transaction after the target %s is in the archive before that (the last "
                 "one ends at %s), so recovery would end before reaching it",
                 t, r->end_us >= 0 ? e : "no commit at all");
        r->reachable = false;
        return 0;
    }
    if (r->stop_lsn < r->backup_stop_lsn) {
        snprintf(r->reason, sizeof r->reason,
                 "the target time is before the base backup became consistent: choose an "
                 "older base backup");
        r->reachable = false;
        return 0;
    }
    r->first_gap[0] = '\0';
    r->reason[0] = '\0';
    r->end_us = -1; /* the scan stopped at the target: the archive's end is not known */
    r->reachable = true;
    return 0;
}

int rune_pg_wal_reach_from(struct rune_wal_reach *r, json_t *m, char *err, size_t errlen)
{
    const char *kind = json_string_value(json_object_get(m, "kind"));
    if (!kind || strcmp(kind, RUNE_PG_BASEBACKUP_KIND) != 0) {
        snprintf(err, errlen, "it is not a base backup (kind %s): take one with pg.basebackup",
                 kind ? kind : "none");
        return -1;
    }
    const char *sysid = json_string_value(json_object_get(m, "system_identifier"));
    const char *end = json_string_value(json_object_get(m, "wal_end"));
    r->segsize = (long long)json_integer_value(json_object_get(m, "wal_segment_size"));
    r->start_tli = (uint32_t)json_integer_value(json_object_get(m, "timeline"));
    if (rune_lsn_parse(json_string_value(json_object_get(m, "start_lsn")), &r->start_lsn) != 0 ||
        rune_lsn_parse(json_string_value(json_object_get(m, "stop_lsn")), &r->backup_stop_lsn) !=
            0 ||
        r->segsize <= 0 || !r->start_tli || !end) {
        snprintf(err, errlen,
                 "its manifest lacks start_lsn, stop_lsn, timeline, wal_end or wal_segment_size");
        return -1;
    }
    r->sysid = sysid ? strtoull(sysid, NULL, 10) : 0;
    snprintf(r->wal_end, sizeof r->wal_end, "%s", end);
    return 0;
}

static json_t *time_or_null(long long us)
{
    char t[64];
    if (us < 0)
        return json_null();
    rune_pgtime_format(us, t, sizeof t);
    return json_string(t);
}

void rune_pg_wal_reach_outputs(json_t *o, const struct rune_wal_reach *r)
{
    char lsn[RUNE_LSN_TEXT];
    json_object_set_new(o, "reachable", json_boolean(r->reachable));
    json_object_set_new(o, "reason", r->reachable ? json_null() : json_string(r->reason));
    json_object_set_new(o, "last_segment",
                        r->last_segment[0] ? json_string(r->last_segment) : json_null());
    json_object_set_new(o, "first_gap", r->first_gap[0] ? json_string(r->first_gap) : json_null());
    json_object_set_new(o, "segments", json_integer((json_int_t)r->segments));
    json_object_set_new(o, "timeline", json_integer(r->timeline));
    json_object_set_new(o, "end_time", time_or_null(r->end_us));
    json_object_set_new(o, "stop_time", time_or_null(r->stop_us));
    rune_lsn_format(r->stop_lsn, lsn);
    json_object_set_new(o, "stop_lsn", r->stop_us >= 0 ? json_string(lsn) : json_null());
    json_object_set_new(o, "expected_point", time_or_null(r->has_time ? r->before_us : -1));
}

/* The target from the call's parameters: target_time, target_lsn, or
 * neither (latest). 0, or a failed status. */
static int target_of(struct rune_call *c, struct rune_wal_reach *r)
{
    const char *t = rune_call_str(c, "target_time"), *l = rune_call_str(c, "target_lsn");
    if (t && l)
        return rune_call_fail(c, "give target_time or target_lsn, not both");
    if (t && rune_pgtime_parse(t, &r->target_us) != 0)
        return rune_call_fail(c,
                              "target_time \"%s\" is not a time: write it as ISO-8601 "
                              "(2026-12-02T19:38:08Z) or as PostgreSQL prints it "
                              "(2026-12-02 19:38:08.357913+00); without a zone it is UTC",
                              t);
    if (l && rune_lsn_parse(l, &r->target_lsn) != 0)
        return rune_call_fail(c, "target_lsn \"%s\" is not an LSN (like 0/3000060)", l);
    r->has_time = t != NULL;
    r->has_lsn = l != NULL;
    return RUNE_STEP_OK;
}

char *rune_pg_pick_one(struct rune_call *c, bool has_time, long long target_us, char *err,
                       size_t errlen)
{
    if (rune_call_str(c, "backup"))
        return rune_path_param(c, rune_call_str(c, "backup"));
    char *dir = rune_path_param(c, rune_call_str(c, "backups"));
    json_t *all = dir ? rune_pg_basebackups_for(dir, has_time, target_us, err, errlen) : NULL;
    char *p = all ? strdup(json_string_value(json_array_get(all, 0))) : NULL;
    json_decref(all);
    free(dir);
    return p;
}

int rune_pg_walcheck_run(struct rune_call *c)
{
    char err[1024], tool[4096];
    struct rune_wal_reach r = {0};
    int st = target_of(c, &r);
    if (st != RUNE_STEP_OK)
        return st;
    char *bpath = rune_pg_pick_one(c, r.has_time, r.target_us, err, sizeof err),
         *apath = rune_path_param(c, rune_call_str(c, "archive"));
    const char *backup = bpath ? bpath : "the backups";
    json_t *m = bpath ? rune_artifact_manifest_load(bpath, err, sizeof err) : NULL;
    json_object_set_new(rune_call_outputs(c), "backup", bpath ? json_string(bpath) : json_null());
    if (!m || rune_pg_wal_reach_from(&r, m, err, sizeof err) != 0) {
        st = rune_call_fail(c, "cannot check WAL from %s: %s", backup, err);
        goto out;
    }
    r.archive = apath;
    r.waldump = rune_pg_server_tool(c, m, "pg_waldump", tool, sizeof tool);
    if (rune_pg_wal_reach(c, &r) != 0) {
        st = rune_call_cancelled(c)
                 ? rune_pg_cancelled(c)
                 : rune_call_fail(c, "cannot check the archive %s: %s", apath, r.reason);
        goto out;
    }
    rune_pg_wal_reach_outputs(rune_call_outputs(c), &r);
    const char *what = rune_call_str(c, "target_time")  ? rune_call_str(c, "target_time")
                       : rune_call_str(c, "target_lsn") ? rune_call_str(c, "target_lsn")
                                                        : "latest";
    if (!r.reachable)
        st = rune_call_fail(c, "the archive %s cannot reach %s from base backup %s: %s", apath,
                            what, backup, r.reason);
    else
        rune_call_log(c, "the archive reaches %s from %s: %zu segments, up to %s on timeline %u",
                      what, backup, r.segments, r.last_segment, r.timeline);
out:
    json_decref(m);
    free(bpath);
    free(apath);
    return st;
}

int rune_pg_walcheck_plan(struct rune_call *c)
{
    const char *t = rune_call_str(c, "target_time"), *l = rune_call_str(c, "target_lsn");
    rune_call_plan(c,
                   "would check that the WAL archive %s holds every segment from base backup %s "
                   "to %s",
                   rune_call_str(c, "archive"),
                   rune_call_str(c, "backup") ? rune_call_str(c, "backup")
                                              : rune_call_str(c, "backups"),
                   t   ? t
                   : l ? l
                       : "its end (latest)");
    return RUNE_STEP_OK;
}
