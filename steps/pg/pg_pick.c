/*
 * pg_pick.c — which base backup a recovery starts from, when it is given
 * a directory of them: the newest pg.basebackup (by its start) that can
 * reach the target. For a time target that means one that ENDED at or
 * before it — recovery can stop only once the backup is consistent, at its
 * stop LSN, so a backup that merely started before the target may be
 * unusable ("requested recovery stop point is before consistent recovery
 * point"). Other files of the directory (pg.dump backups, anything without
 * a manifest) are passed over.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artifact.h"
#include "pg_physical.h"
#include "pgtime.h"

static int by_start_desc(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    const char *sx = json_string_value(json_object_get(x, "start_time"));
    const char *sy = json_string_value(json_object_get(y, "start_time"));
    return -strcmp(sx ? sx : "", sy ? sy : "");
}

json_t *rune_pg_basebackups_for(const char *dir, bool has_time, long long target_us, char *err,
                                size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "cannot read the backup directory %s", dir);
        return NULL;
    }
    json_t *found = json_array();
    struct dirent *e;
    size_t seen = 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || (n > 14 && !strcmp(e->d_name + n - 14, ".manifest.json")))
            continue;
        char path[4096], why[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        json_t *m = rune_artifact_manifest_load(path, why, sizeof why);
        const char *kind = m ? json_string_value(json_object_get(m, "kind")) : NULL;
        if (!kind || strcmp(kind, RUNE_PG_BASEBACKUP_KIND) != 0) {
            json_decref(m);
            continue;
        }
        seen++;
        long long stop;
        if (!has_time ||
            (rune_pgtime_parse(json_string_value(json_object_get(m, "stop_time")), &stop) == 0 &&
             stop <= target_us))
            json_array_append_new(found, json_pack("{s:s, s:O}", "path", path, "start_time",
                                                   json_object_get(m, "start_time")
                                                       ? json_object_get(m, "start_time")
                                                       : json_null()));
        json_decref(m);
    }
    closedir(d);
    size_t n = json_array_size(found);
    json_t **v = calloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; v && i < n; i++)
        v[i] = json_incref(json_array_get(found, i));
    if (v)
        qsort(v, n, sizeof *v, by_start_desc);
    json_t *paths = json_array();
    for (size_t i = 0; v && i < n; i++) {
        json_array_append(paths, json_object_get(v[i], "path"));
        json_decref(v[i]);
    }
    free(v);
    json_decref(found);
    if (json_array_size(paths) == 0) {
        if (seen)
            snprintf(err, errlen,
                     "none of the %zu base backups in %s ended before the target: recovery can "
                     "only stop after a base backup's end",
                     seen, dir);
        else
            snprintf(err, errlen, "no base backup (pg.basebackup) in %s", dir);
        json_decref(paths);
        return NULL;
    }
    return paths;
}
