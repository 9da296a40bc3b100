/*
 * pg_bbmanifest.c — a backup manifest checked against the files received.
 * See pg_bbmanifest.h. The manifest's format is PostgreSQL's
 * (src/include/common/parse_manifest.h): a JSON object with
 * "PostgreSQL-Backup-Manifest-Version", "Files" (Path or hex
 * Encoded-Path, Size, Checksum-Algorithm, Checksum), "WAL-Ranges" and
 * "Manifest-Checksum", the SHA-256 of every byte up to the newline before
 * its own line.
 */
#include "pg_bbmanifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"

int rune_bb_received_add(json_t *received, const char *path, unsigned long long size,
                         const char *sha256)
{
    return json_object_set_new(received, path,
                               json_pack("[I, s]", (json_int_t)size, sha256 ? sha256 : ""));
}

/* The manifest's own checksum: SHA-256 of everything up to and including
 * the next-to-last newline (the last line holds the checksum itself). */
static int own_checksum(const char *text, size_t len, const char *want, char *err, size_t errlen)
{
    size_t last = len, prev = len;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n') {
            prev = last;
            last = i;
        }
    if (prev == len || last == len) {
        snprintf(err, errlen, "the server's backup manifest has fewer than two lines: damaged");
        return -1;
    }
    char got[RUNE_SHA256_HEX];
    rune_sha256_hex(text, prev + 1, got);
    if (!want || strcasecmp(got, want) != 0) {
        snprintf(err, errlen,
                 "the server's backup manifest does not match its own checksum (%s, computed "
                 "%s): it was damaged on the way",
                 want ? want : "none", got);
        return -1;
    }
    return 0;
}

/* "Path", or "Encoded-Path" (hex, for names that are not UTF-8). */
static int entry_path(json_t *f, char *out, size_t outlen)
{
    const char *p = json_string_value(json_object_get(f, "Path"));
    if (p) {
        snprintf(out, outlen, "%s", p);
        return 0;
    }
    const char *hex = json_string_value(json_object_get(f, "Encoded-Path"));
    size_t n = hex ? strlen(hex) : 0;
    if (!hex || n % 2 || n / 2 >= outlen)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        char two[3] = {hex[2 * i], hex[2 * i + 1], 0};
        char *end;
        out[i] = (char)strtoul(two, &end, 16);
        if (*end)
            return -1;
    }
    out[n / 2] = '\0';
    return 0;
}

static int check_file(json_t *f, json_t *received, json_t *seen, char *err, size_t errlen)
{
    char path[4096];
    if (entry_path(f, path, sizeof path) != 0) {
        snprintf(err, errlen, "the server's backup manifest has a file entry without a path");
        return -1;
    }
    json_t *got = json_object_get(received, path);
    if (!got) {
        snprintf(err, errlen,
                 "file \"%s\" is in the server's backup manifest but did not arrive in the "
                 "backup",
                 path);
        return -1;
    }
    json_object_set(seen, path, json_true());
    long long want = json_integer_value(json_object_get(f, "Size"));
    long long size = json_integer_value(json_array_get(got, 0));
    if (!json_is_integer(json_object_get(f, "Size")) || want != size) {
        snprintf(err, errlen,
                 "file \"%s\" arrived with %lld bytes but the server's backup manifest says %lld",
                 path, size, want);
        return -1;
    }
    const char *alg = json_string_value(json_object_get(f, "Checksum-Algorithm"));
    const char *sum = json_string_value(json_object_get(f, "Checksum"));
    if (!alg || strcmp(alg, "SHA256") != 0 || !sum) {
        snprintf(err, errlen,
                 "the server's backup manifest gives file \"%s\" no SHA-256 (Checksum-Algorithm "
                 "%s): it was not asked for with MANIFEST_CHECKSUMS SHA256",
                 path, alg ? alg : "none");
        return -1;
    }
    const char *mine = json_string_value(json_array_get(got, 1));
    if (strcasecmp(mine, sum) != 0) {
        snprintf(err, errlen,
                 "file \"%s\": SHA-256 %s of what arrived does not match %s in the server's "
                 "backup manifest — the data was damaged on the way",
                 path, mine, sum);
        return -1;
    }
    return 0;
}

int rune_bb_manifest_check(const char *text, size_t len, json_t *received, size_t *files,
                           json_t **wal_ranges, char *err, size_t errlen)
{
    json_error_t je;
    json_t *m = json_loadb(text, len, 0, &je);
    if (!json_is_object(m)) {
        snprintf(err, errlen, "the server's backup manifest is not JSON (line %d: %s)", je.line,
                 je.text);
        json_decref(m);
        return -1;
    }
    int rc = -1;
    json_t *seen = json_object();
    json_int_t version =
        json_integer_value(json_object_get(m, "PostgreSQL-Backup-Manifest-Version"));
    json_t *list = json_object_get(m, "Files");
    if (version < 1 || version > 2 || !json_is_array(list)) {
        snprintf(err, errlen,
                 "the server's backup manifest is version %lld, or has no file list: this rune "
                 "reads versions 1 and 2",
                 (long long)version);
        goto out;
    }
    if (own_checksum(text, len, json_string_value(json_object_get(m, "Manifest-Checksum")), err,
                     errlen) != 0)
        goto out;
    size_t i;
    json_t *f;
    json_array_foreach(list, i, f) if (check_file(f, received, seen, err, errlen) != 0) goto out;
    const char *k;
    json_t *v;
    json_object_foreach(received, k, v) if (!json_object_get(seen, k))
    {
        snprintf(err, errlen,
                 "file \"%s\" arrived in the backup but is not in the server's backup manifest", k);
        goto out;
    }
    *files = json_array_size(list);
    *wal_ranges = json_incref(json_object_get(m, "WAL-Ranges"));
    rc = 0;
out:
    json_decref(seen);
    json_decref(m);
    return rc;
}
