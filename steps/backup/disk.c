/*
 * disk.c — the disk.* family: disk.check reports the free space on the
 * filesystem holding a path and fails below a threshold, so a runbook can
 * stop before a backup or restore fills the disk halfway through.
 *
 * Free means available to an unprivileged process (statvfs f_bavail): the
 * blocks reserved for root are not counted, as `df` does not count them.
 *
 * With host: (an ssh target) the same three numbers come from the remote
 * host's `stat -f` (GNU coreutils: fragment size, blocks, blocks
 * available — statvfs's own fields, so no df column to parse and the
 * figures mean what they mean here).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "pathparam.h"
#include "step.h"

/* "1.2 GiB", "5 GiB", "512 B": binary units, one decimal unless whole. */
static void human(double bytes, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    size_t u = 0;
    while (bytes >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
        bytes /= 1024;
        u++;
    }
    double tenth = (double)(long long)(bytes * 10 + 0.5) / 10;
    if (tenth == (double)(long long)tenth)
        snprintf(buf, len, "%lld %s", (long long)tenth, units[u]);
    else
        snprintf(buf, len, "%.1f %s", tenth, units[u]);
}

/* The path itself, or its nearest existing parent: a runbook checks the
 * disk for a directory it is about to create. Modifies p in place. */
static int existing_ancestor(char *p)
{
    struct stat st;
    while (stat(p, &st) != 0) {
        if (errno != ENOENT && errno != ENOTDIR)
            return -1;
        char *slash = strrchr(p, '/');
        if (!slash)
            return -1;
        if (slash == p) {
            p[1] = '\0';
            return 0;
        }
        *slash = '\0';
    }
    return 0;
}

/* $1: the path. Prints the nearest existing path, then statvfs's
 * f_frsize, f_blocks and f_bavail of its filesystem. */
static const char remote_script[] =
    "p=$1; while [ ! -e \"$p\" ]; do case $p in */*) p=${p%/*}; [ -n \"$p\" ] || p=/;; "
    "*) echo \"$1: no such path\" >&2; exit 2;; esac; done; "
    "printf '%s\\n' \"$p\"; exec stat -f -L -c '%S %b %a' -- \"$p\"";

/* The filesystem numbers of path on the step's host; *where (malloc'd)
 * the path looked at. RUNE_STEP_OK, or the call failed. */
static int remote_vfs(struct rune_call *c, const char *host, const char *path, char **where,
                      struct statvfs *vfs)
{
    if (path[0] != '/')
        return rune_call_fail(c, "path \"%s\" is relative; on host %s give an absolute path", path,
                              host);
    char *const argv[] = {"sh", "-c", (char *)remote_script, "sh", (char *)path, NULL};
    struct rune_proc p = {.argv = argv, .capture_max = 8192, .host = host};
    if (rune_call_spawn(c, &p) != 0)
        return RUNE_STEP_FAILED; /* rune_call_spawn said why */
    int rc = RUNE_STEP_OK;
    char *nl = p.out ? strrchr(p.out, '\n') : NULL;
    while (nl && nl > p.out && nl[1] == '\0') { /* the last line may end with one */
        *nl = '\0';
        nl = strrchr(p.out, '\n');
    }
    unsigned long long fr = 0, blocks = 0, avail = 0;
    if (p.timed_out || p.was_cancelled) {
        rune_call_fail(c,
                       "checking the free space on %s on host %s: %s; the remote command was "
                       "killed",
                       path, host, p.timed_out ? "timed out" : "cancelled");
        rc = p.timed_out ? RUNE_STEP_TIMEOUT : RUNE_STEP_CANCELLED;
    } else if (p.exit_code != 0 || !nl ||
               sscanf(nl + 1, "%llu %llu %llu", &fr, &blocks, &avail) != 3) {
        const char *e = p.err ? p.err : "";
        size_t n = strcspn(e, "\n");
        rc = rune_call_fail(c,
                            "cannot read the free space on %s on host %s (exit %d%s%.*s); rune "
                            "runs `stat -f` (GNU coreutils) there",
                            path, host, p.exit_code, n ? ": " : "", (int)(n > 200 ? 200 : n), e);
    } else {
        *where = strndup(p.out, (size_t)(nl - p.out));
        vfs->f_frsize = fr;
        vfs->f_blocks = blocks;
        vfs->f_bavail = avail;
    }
    rune_proc_release(&p);
    return rc;
}

static int check_run(struct rune_call *c)
{
    json_t *params = rune_call_params(c);
    json_t *min_bytes = json_object_get(params, "min_free_bytes");
    json_t *min_pct = json_object_get(params, "min_free_percent");
    if (json_is_integer(min_bytes) && json_integer_value(min_bytes) < 0)
        return rune_call_fail(c, "min_free_bytes must not be negative");
    if (json_is_number(min_pct) &&
        (json_number_value(min_pct) < 0 || json_number_value(min_pct) > 100))
        return rune_call_fail(c, "min_free_percent must be between 0 and 100");
    const char *host = rune_call_str(c, "host");
    struct statvfs vfs;
    char *path = NULL;
    if (host && *host) {
        memset(&vfs, 0, sizeof vfs);
        int st = remote_vfs(c, host, rune_call_str(c, "path"), &path, &vfs);
        if (st != RUNE_STEP_OK)
            return st;
        if (!path)
            return rune_call_fail(c, "no memory for the path: free memory on this host");
        goto judge;
    }
    path = rune_path_param(c, rune_call_str(c, "path"));
    if (!path)
        return rune_call_fail(
            c, "no memory for the path %s: free memory on this host and run the step again",
            rune_call_str(c, "path"));
    if (existing_ancestor(path) != 0) {
        int rc =
            rune_call_fail(c, "cannot look up %s: %s", rune_call_str(c, "path"), strerror(errno));
        free(path);
        return rc;
    }
    if (statvfs(path, &vfs) != 0) {
        int rc = rune_call_fail(c, "cannot read the free space on %s: %s", path, strerror(errno));
        free(path);
        return rc;
    }
judge:;
    double free_b = (double)vfs.f_bavail * (double)vfs.f_frsize;
    double total_b = (double)vfs.f_blocks * (double)vfs.f_frsize;
    double pct = total_b > 0 ? free_b * 100.0 / total_b : 0;
    pct = (double)(long long)(pct * 10 + 0.5) / 10;
    json_t *o = rune_call_outputs(c);
    json_object_set_new(o, "path", json_string(path));
    json_object_set_new(o, "free_bytes", json_integer((json_int_t)free_b));
    json_object_set_new(o, "total_bytes", json_integer((json_int_t)total_b));
    json_object_set_new(o, "free_percent", json_real(pct));

    char have[32], need[32];
    human(free_b, have, sizeof have);
    int rc = RUNE_STEP_OK;
    if (json_is_integer(min_bytes) && free_b < (double)json_integer_value(min_bytes)) {
        human((double)json_integer_value(min_bytes), need, sizeof need);
        rc = rune_call_fail(c,
                            "only %s (%.0f%%) free on %s%s%s; need %s — free space or choose "
                            "another location",
                            have, pct, path, host ? " on host " : "", host ? host : "", need);
    } else if (json_is_number(min_pct) && pct < json_number_value(min_pct)) {
        rc = rune_call_fail(c,
                            "only %s (%.0f%%) free on %s%s%s; need %g%% free — free space or "
                            "choose another location",
                            have, pct, path, host ? " on host " : "", host ? host : "",
                            json_number_value(min_pct));
    }
    free(path);
    return rc;
}

static int check_plan(struct rune_call *c)
{
    const char *host = rune_call_str(c, "host");
    rune_call_plan(c, "would check the free space on %s%s%s", rune_call_str(c, "path"),
                   host ? " on host " : "", host ? host : "");
    return RUNE_STEP_OK;
}

static const struct rune_param check_params[] = {
    {"path", RUNE_T_PATH, true, NULL,
     "a file or directory on the filesystem to check (if it does not exist yet, its nearest "
     "existing parent)"},
    {"min_free_bytes", RUNE_T_INT, false, NULL, "fail when fewer bytes are free"},
    {"min_free_percent", RUNE_T_NUMBER, false, NULL, "fail when less of the disk is free (0-100)"},
    {"host", RUNE_T_TARGET, false, NULL,
     "check the disk of this ssh target instead (an absolute path there; read with `stat -f`)",
     "ssh"},
    {0},
};

static const struct rune_output check_outputs[] = {
    {"path", RUNE_T_STRING, "the path whose filesystem was checked (absolute)"},
    {"free_bytes", RUNE_T_INT, "bytes available to unprivileged processes"},
    {"total_bytes", RUNE_T_INT, "size of the filesystem"},
    {"free_percent", RUNE_T_NUMBER, "free_bytes / total_bytes in percent, one decimal"},
    {0},
};

const struct rune_step_type rune_disk_steps[] = {
    {"disk.check", "Check the free space where a path lives; fail below a threshold", check_params,
     check_outputs, RUNE_READS, check_run, check_plan},
    {0},
};
