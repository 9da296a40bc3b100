/*
 * disk.c — the disk.* family: disk.check reports the free space on the
 * filesystem holding a path and fails below a threshold, so a runbook can
 * stop before a backup or restore fills the disk halfway through.
 *
 * Free means available to an unprivileged process (statvfs f_bavail): the
 * blocks reserved for root are not counted, as `df` does not count them.
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
    char *path = rune_path_param(c, rune_call_str(c, "path"));
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
    struct statvfs vfs;
    if (statvfs(path, &vfs) != 0) {
        int rc = rune_call_fail(c, "cannot read the free space on %s: %s", path, strerror(errno));
        free(path);
        return rc;
    }
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
                            "only %s (%.0f%%) free on %s; need %s — free space or choose another "
                            "location",
                            have, pct, path, need);
    } else if (json_is_number(min_pct) && pct < json_number_value(min_pct)) {
        rc = rune_call_fail(c,
                            "only %s (%.0f%%) free on %s; need %g%% free — free space or choose "
                            "another location",
                            have, pct, path, json_number_value(min_pct));
    }
    free(path);
    return rc;
}

static int check_plan(struct rune_call *c)
{
    rune_call_plan(c, "would check the free space on %s", rune_call_str(c, "path"));
    return RUNE_STEP_OK;
}

static const struct rune_param check_params[] = {
    {"path", RUNE_T_PATH, true, NULL,
     "a file or directory on the filesystem to check (if it does not exist yet, its nearest "
     "existing parent)"},
    {"min_free_bytes", RUNE_T_INT, false, NULL, "fail when fewer bytes are free"},
    {"min_free_percent", RUNE_T_NUMBER, false, NULL, "fail when less of the disk is free (0-100)"},
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
