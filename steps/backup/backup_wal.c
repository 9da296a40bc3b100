/*
 * backup_wal.c — WAL that no kept base backup needs, removed from an
 * archive. See backup_wal.h.
 *
 * What a file is goes by its name only, as archive_command wrote it:
 * TTTTTTTTXXXXXXXXYYYYYYYY (a segment), the same followed by ".partial"
 * or ".XXXXXXXX.backup" (a backup history file), each with an optional
 * compression suffix (".gz", ".zst", ...). Segments are compared by their
 * number, whatever their timeline: a segment before the oldest kept base
 * backup's start is before every kept backup on every timeline. History
 * files ("0000000T.history") are always kept: recovery needs them to
 * follow timelines, and they are small.
 */
#include "backup_wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "walseg.h"

/* The segment number a WAL file's name starts with, when it is one. */
static bool wal_file(const char *name, long long segsize, uint64_t *segno)
{
    char head[RUNE_WAL_NAME_LEN + 1];
    if (strlen(name) < RUNE_WAL_NAME_LEN || strstr(name, ".history"))
        return false;
    memcpy(head, name, RUNE_WAL_NAME_LEN);
    head[RUNE_WAL_NAME_LEN] = '\0';
    const char *rest = name + RUNE_WAL_NAME_LEN;
    if (*rest && *rest != '.')
        return false;
    uint32_t tli;
    return rune_wal_name_parse(head, segsize, &tli, segno) == 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

int rune_backup_prune_wal(struct rune_call *c, const char *archive, const char *oldest_start,
                          long long segsize, bool dry)
{
    uint32_t tli;
    uint64_t keep_from;
    json_t *o = rune_call_outputs(c);
    if (rune_wal_name_parse(oldest_start, segsize, &tli, &keep_from) != 0)
        return rune_call_fail(c,
                              "the oldest kept base backup names \"%s\" as its first WAL "
                              "segment, which is not a segment name; no WAL was deleted",
                              oldest_start);
    DIR *d = opendir(archive);
    if (!d)
        return rune_call_fail(c, "cannot read the WAL archive %s: %s; no WAL was deleted", archive,
                              strerror(errno));
    json_t *old = json_array();
    struct dirent *e;
    while ((e = readdir(d))) {
        uint64_t segno;
        if (e->d_name[0] == '.' || !wal_file(e->d_name, segsize, &segno) || segno >= keep_from)
            continue;
        json_array_append_new(old, json_string(e->d_name));
    }
    closedir(d);
    /* oldest first, so an interrupted prune leaves no hole before a kept segment */
    size_t n = json_array_size(old);
    json_t **v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; v && i < n; i++)
        v[i] = json_array_get(old, i);
    if (v)
        qsort(v, n, sizeof *v, by_name);
    json_t *done = json_array();
    int st = RUNE_STEP_OK;
    for (size_t i = 0; v && i < n && st == RUNE_STEP_OK; i++) {
        const char *name = json_string_value(v[i]);
        if (!dry) {
            if (rune_call_cancelled(c)) {
                st = rune_call_cancel_status(c);
                rune_call_fail(c, "stopped after deleting %zu WAL files; the rest were kept",
                               json_array_size(done));
                break;
            }
            int fd = open(archive, O_RDONLY | O_DIRECTORY);
            int rc = fd >= 0 ? unlinkat(fd, name, 0) : -1;
            int saved = errno;
            if (fd >= 0)
                close(fd);
            if (rc != 0 && saved != ENOENT) {
                st = rune_call_fail(c, "cannot delete %s/%s: %s; WAL after it was kept", archive,
                                    name, strerror(saved));
                break;
            }
        }
        json_array_append(done, v[i]);
    }
    if (!v && n)
        st = rune_call_fail(c, "no memory to sort the WAL archive's files; no WAL was deleted");
    free(v);
    json_decref(old);
    json_object_set_new(o, dry ? "wal_would_delete" : "wal_deleted", done);
    json_object_set_new(o, "wal_kept_from", json_string(oldest_start));
    if (st == RUNE_STEP_OK)
        rune_call_log(c,
                      "%s %zu WAL files of %s older than %s (the oldest kept base backup's "
                      "first segment)",
                      dry ? "would delete" : "deleted", json_array_size(done), archive,
                      oldest_start);
    return st;
}
