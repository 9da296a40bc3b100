/*
 * artifact.c — the backup artifact format (artifact.h, docs/backups.md):
 * the streaming writer, the manifest, the verifying reader, and the safe
 * files (temp name, fsync, rename, fsync directory) they are built on.
 *
 * The writer cuts its input into chunks and compresses each into a
 * complete gzip member. A chunk's state (struct member) is kept apart from
 * the writer's, so a pool of workers can later compress several chunks at
 * once while the writer appends finished members in order; today the
 * writer compresses each chunk itself when it is full.
 *
 * The reader checks a chunk's SHA-256 before it decompresses a byte of it,
 * so a restore never receives data from a damaged chunk.
 */
#include "artifact.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

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

/* ---- times ---- */

long long rune_artifact_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rune_artifact_time_format(long long epoch_ms, char *buf, size_t len)
{
    time_t s = (time_t)(epoch_ms / 1000);
    long long ms = epoch_ms % 1000;
    if (ms < 0) {
        ms += 1000;
        s -= 1;
    }
    struct tm tm;
    gmtime_r(&s, &tm);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03lldZ", date, ms);
}

int rune_artifact_time_parse(const char *text, long long *epoch_ms)
{
    struct tm tm = {0};
    int used = 0;
    if (!text || sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                        &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6)
        return -1;
    const char *p = text + used;
    long long ms = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                ms = ms * 10 + (*p - '0');
        if (digits == 0)
            return -1;
        for (; digits < 3; digits++)
            ms *= 10;
    }
    if (*p && strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
        return -1;
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *epoch_ms = (long long)timegm(&tm) * 1000 + ms;
    return 0;
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
        snprintf(err, errlen, "out of memory");
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
    if (fchmod(f->fd, mode) != 0) {
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

/* ---- the writer ---- */

/* One chunk on its way to becoming a gzip member: input, output and its
 * own deflate stream, so that chunks could be compressed in parallel. */
struct member {
    unsigned char *in;
    size_t in_len;
    unsigned char *out;
    size_t out_len, out_cap;
    z_stream z;
    bool z_ready;
};

struct rune_artifact_writer {
    struct rune_safe_file data;
    char *path, *manifest_path, *engine, *source, *recovery_point;
    int level;
    size_t chunk_size;
    long long created_ms;
    struct member m;
    EVP_MD_CTX *whole; /* SHA-256 of the compressed file, as it is written */
    json_t *chunks;
    unsigned long long bytes, raw_bytes;
    bool failed;
};

static void member_free(struct member *m)
{
    if (m->z_ready)
        deflateEnd(&m->z);
    free(m->in);
    free(m->out);
    memset(m, 0, sizeof *m);
}

/* Compresses m->in into one complete gzip member in m->out. */
static int member_compress(struct member *m, int level, char *err, size_t errlen)
{
    int rc = m->z_ready
                 ? deflateReset(&m->z)
                 : deflateInit2(&m->z, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    if (rc != Z_OK) {
        snprintf(err, errlen, "cannot start gzip compression (zlib error %d)", rc);
        return -1;
    }
    m->z_ready = true;
    size_t bound = deflateBound(&m->z, (uLong)m->in_len);
    if (m->out_cap < bound) {
        unsigned char *o = realloc(m->out, bound);
        if (!o) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        m->out = o;
        m->out_cap = bound;
    }
    m->z.next_in = m->in;
    m->z.avail_in = (uInt)m->in_len;
    m->z.next_out = m->out;
    m->z.avail_out = (uInt)m->out_cap;
    rc = deflate(&m->z, Z_FINISH);
    if (rc != Z_STREAM_END) {
        snprintf(err, errlen, "gzip compression failed (zlib error %d)", rc);
        return -1;
    }
    m->out_len = m->out_cap - m->z.avail_out;
    return 0;
}

/* Writes a compressed member at the end of the data file and records it. */
static int member_append(struct rune_artifact_writer *w, struct member *m, char *err, size_t errlen)
{
    char sha[HEX_SHA256];
    sha256_hex(m->out, m->out_len, sha);
    EVP_DigestUpdate(w->whole, m->out, m->out_len);
    if (rune_write_all(w->data.fd, m->out, m->out_len) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", w->path, strerror(errno));
        return -1;
    }
    json_t *c =
        json_pack("{s:I, s:I, s:I, s:s}", "offset", (json_int_t)w->bytes, "bytes",
                  (json_int_t)m->out_len, "raw_bytes", (json_int_t)m->in_len, "sha256", sha);
    if (!c || json_array_append_new(w->chunks, c) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    w->bytes += m->out_len;
    w->raw_bytes += m->in_len;
    m->in_len = 0;
    return 0;
}

static int flush_chunk(struct rune_artifact_writer *w, char *err, size_t errlen)
{
    if (member_compress(&w->m, w->level, err, errlen) != 0 ||
        member_append(w, &w->m, err, errlen) != 0) {
        w->failed = true;
        return -1;
    }
    return 0;
}

static void writer_free(struct rune_artifact_writer *w)
{
    if (!w)
        return;
    rune_safe_file_abort(&w->data);
    member_free(&w->m);
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
    long long rp;
    if (meta->recovery_point && rune_artifact_time_parse(meta->recovery_point, &rp) != 0) {
        snprintf(err, errlen, "recovery point \"%s\" is not a UTC time like 2024-05-01T02:00:00Z",
                 meta->recovery_point);
        return -1;
    }
    struct stat st;
    char *mpath = rune_artifact_manifest_path(path);
    if (!mpath) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (lstat(path, &st) == 0 || lstat(mpath, &st) == 0) {
        free(mpath);
        return exists_error(path, err, errlen);
    }
    struct rune_artifact_writer *w = calloc(1, sizeof *w);
    if (!w) {
        free(mpath);
        snprintf(err, errlen, "out of memory");
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
    w->created_ms = rune_artifact_now_ms();
    w->m.in = malloc(chunk);
    w->whole = EVP_MD_CTX_new();
    w->chunks = json_array();
    if (!w->path || !w->engine || !w->source || (meta->recovery_point && !w->recovery_point) ||
        !w->m.in || !w->whole || !w->chunks ||
        EVP_DigestInit_ex(w->whole, EVP_sha256(), NULL) != 1) {
        writer_free(w);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (rune_safe_file_open(&w->data, path, false, 0600, err, errlen) != 0) {
        if (lstat(path, &st) == 0)
            exists_error(path, err, errlen);
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
        size_t room = w->chunk_size - w->m.in_len;
        size_t n = len < room ? len : room;
        memcpy(w->m.in + w->m.in_len, p, n);
        w->m.in_len += n;
        p += n;
        len -= n;
        if (w->m.in_len == w->chunk_size && flush_chunk(w, err, errlen) != 0)
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
    if (rp && (!json_is_string(rp) || rune_artifact_time_parse(json_string_value(rp), &ms))) {
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
    char created[40], completed[40];
    rune_artifact_time_format(w->created_ms, created, sizeof created);
    rune_artifact_time_format(rune_artifact_now_ms(), completed, sizeof completed);
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
        snprintf(err, errlen, "out of memory");
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
     * so the file is a valid gzip stream */
    if ((w->m.in_len > 0 || json_array_size(w->chunks) == 0) && flush_chunk(w, err, errlen)) {
        writer_free(w);
        return NULL;
    }
    char sha[HEX_SHA256];
    final_hex(w->whole, sha);
    json_t *m = manifest_build(w, sha, extras);
    if (!m) {
        snprintf(err, errlen, "out of memory");
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
        rune_artifact_time_parse(created, &ms) != 0) {
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
        snprintf(err, errlen, "out of memory");
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

struct rune_artifact_reader {
    int fd;
    char *path;
    json_t *manifest;
    size_t nchunks, cur; /* cur: the chunk being decompressed, 0-based */
    bool loaded;         /* chunk cur is in cbuf, checked */
    bool failed;
    unsigned char *cbuf;
    size_t ccap;
    long long produced; /* raw bytes out of chunk cur so far */
    z_stream z;
    bool z_ready;
    EVP_MD_CTX *whole;
    int bad_chunk; /* 1-based chunk of the last error, 0 if none */
};

void rune_artifact_reader_close(struct rune_artifact_reader *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    if (r->z_ready)
        inflateEnd(&r->z);
    EVP_MD_CTX_free(r->whole);
    json_decref(r->manifest);
    free(r->cbuf);
    free(r->path);
    free(r);
}

json_t *rune_artifact_reader_manifest(struct rune_artifact_reader *r)
{
    return r->manifest;
}

static long long chunk_num(struct rune_artifact_reader *r, size_t i, const char *key)
{
    json_t *c = json_array_get(json_object_get(r->manifest, "chunks"), i);
    return (long long)json_integer_value(json_object_get(c, key));
}

/* The file's size must match the manifest: a short file names the first
 * chunk that is cut off. */
static int check_size(struct rune_artifact_reader *r, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(r->fd, &st) != 0) {
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
    while (first < r->nchunks &&
           chunk_num(r, first, "offset") + chunk_num(r, first, "bytes") <= have)
        first++;
    r->bad_chunk = (int)first + 1;
    snprintf(err, errlen,
             "%s is %lld bytes but its manifest says %lld: the file is truncated (an "
             "interrupted copy or a full disk?); chunks %zu to %zu of %zu are missing or cut "
             "short",
             r->path, have, want, first + 1, r->nchunks, r->nchunks);
    return -1;
}

static int reader_open(struct rune_artifact_reader **out, const char *path, json_t *manifest,
                       char *err, size_t errlen)
{
    struct rune_artifact_reader *r = calloc(1, sizeof *r);
    if (!r) {
        json_decref(manifest);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    r->fd = -1;
    r->manifest = manifest;
    r->nchunks = json_array_size(json_object_get(manifest, "chunks"));
    r->path = strdup(path);
    r->whole = EVP_MD_CTX_new();
    if (!r->path || !r->whole || EVP_DigestInit_ex(r->whole, EVP_sha256(), NULL) != 1) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        goto fail;
    }
    if (check_size(r, err, errlen) != 0)
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
    return reader_open(out, path, m, err, errlen);
}

static int chunk_fail(struct rune_artifact_reader *r, char *err, size_t errlen, const char *what)
{
    r->bad_chunk = (int)r->cur + 1;
    r->failed = true;
    snprintf(err, errlen, "chunk %zu of %zu (offset %lld): %s", r->cur + 1, r->nchunks,
             chunk_num(r, r->cur, "offset"), what);
    return -1;
}

/* Reads chunk cur into cbuf and checks its SHA-256 before anything is
 * decompressed; after the last chunk, checks the whole file too. */
static int chunk_load(struct rune_artifact_reader *r, char *err, size_t errlen)
{
    long long off = chunk_num(r, r->cur, "offset");
    size_t len = (size_t)chunk_num(r, r->cur, "bytes");
    if (r->ccap < len) {
        unsigned char *b = realloc(r->cbuf, len);
        if (!b) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        r->cbuf = b;
        r->ccap = len;
    }
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(r->fd, r->cbuf + got, len - got, (off_t)off + (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            char msg[256];
            snprintf(msg, sizeof msg, "cannot read: %s", strerror(errno));
            return chunk_fail(r, err, errlen, msg);
        }
        if (n == 0)
            return chunk_fail(r, err, errlen, "the file ends inside this chunk (truncated)");
        got += (size_t)n;
    }
    char sha[HEX_SHA256];
    sha256_hex(r->cbuf, len, sha);
    json_t *c = json_array_get(json_object_get(r->manifest, "chunks"), r->cur);
    if (strcmp(sha, json_string_value(json_object_get(c, "sha256"))) != 0)
        return chunk_fail(r, err, errlen, "SHA-256 mismatch — the file was modified or damaged");
    EVP_DigestUpdate(r->whole, r->cbuf, len);
    if (r->cur + 1 == r->nchunks) {
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
    int rc = r->z_ready ? inflateReset(&r->z) : inflateInit2(&r->z, 16 + MAX_WBITS);
    if (rc != Z_OK) {
        snprintf(err, errlen, "cannot start gzip decompression (zlib error %d)", rc);
        return -1;
    }
    r->z_ready = true;
    r->z.next_in = r->cbuf;
    r->z.avail_in = (uInt)len;
    r->produced = 0;
    r->loaded = true;
    return 0;
}

/* Called when chunk cur's member ended: it must have used every byte of
 * the chunk and produced exactly raw_bytes. */
static int chunk_end(struct rune_artifact_reader *r, char *err, size_t errlen)
{
    char msg[256];
    if (r->z.avail_in != 0) {
        snprintf(msg, sizeof msg,
                 "%u bytes follow the end of its gzip member — the file was modified",
                 r->z.avail_in);
        return chunk_fail(r, err, errlen, msg);
    }
    long long want = chunk_num(r, r->cur, "raw_bytes");
    if (r->produced != want) {
        snprintf(msg, sizeof msg, "decompresses to %lld bytes but the manifest says %lld",
                 r->produced, want);
        return chunk_fail(r, err, errlen, msg);
    }
    r->loaded = false;
    r->cur++;
    return 0;
}

ssize_t rune_artifact_read(struct rune_artifact_reader *r, void *buf, size_t len, char *err,
                           size_t errlen)
{
    if (r->failed) {
        snprintf(err, errlen, "%s: reading already failed", r->path);
        return -1;
    }
    size_t got = 0;
    while (got < len) {
        if (!r->loaded) {
            if (r->cur == r->nchunks)
                break;
            if (chunk_load(r, err, errlen) != 0) {
                r->failed = true;
                return -1;
            }
        }
        long long room = chunk_num(r, r->cur, "raw_bytes") - r->produced;
        size_t want = len - got;
        /* never hand out more than the manifest promised for this chunk;
         * one spare byte lets inflate show that it had more */
        if ((long long)want > room + 1)
            want = (size_t)(room + 1);
        if (want > UINT32_MAX)
            want = UINT32_MAX;
        r->z.next_out = (unsigned char *)buf + got;
        r->z.avail_out = (uInt)want;
        int rc = inflate(&r->z, Z_NO_FLUSH);
        size_t n = want - r->z.avail_out;
        r->produced += (long long)n;
        got += n;
        if (r->produced > chunk_num(r, r->cur, "raw_bytes")) {
            char msg[128];
            snprintf(msg, sizeof msg,
                     "decompresses to more than the %lld bytes the manifest "
                     "says",
                     chunk_num(r, r->cur, "raw_bytes"));
            return chunk_fail(r, err, errlen, msg);
        }
        if (rc == Z_STREAM_END) {
            if (chunk_end(r, err, errlen) != 0)
                return -1;
            if (got > 0)
                break; /* hand out a good chunk before touching the next */
            continue;
        }
        if (rc == Z_OK)
            continue;
        if (rc == Z_BUF_ERROR && r->z.avail_in == 0)
            return chunk_fail(r, err, errlen,
                              "its gzip member ends early — the file was "
                              "damaged");
        if (rc == Z_BUF_ERROR)
            continue; /* output full */
        char msg[256];
        snprintf(msg, sizeof msg, "not valid gzip data (%s) — the file was damaged",
                 r->z.msg ? r->z.msg : "zlib error");
        return chunk_fail(r, err, errlen, msg);
    }
    return (ssize_t)got;
}

/* ---- verification ---- */

void rune_artifact_check_release(struct rune_artifact_check *chk)
{
    json_decref(chk->manifest);
    chk->manifest = NULL;
}

int rune_artifact_verify(const char *path, rune_artifact_cancel_fn cancelled, void *ctx,
                         struct rune_artifact_check *chk)
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
    if (reader_open(&r, path, m, chk->reason, sizeof chk->reason) != 0) {
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
    size_t cap = 1 << 20;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        snprintf(chk->reason, sizeof chk->reason, "out of memory");
        rune_artifact_reader_close(r);
        return -1;
    }
    int rc = 0;
    for (;;) {
        if (cancelled && cancelled(ctx)) {
            chk->cancelled = true;
            snprintf(chk->reason, sizeof chk->reason, "verification of %s was cancelled", path);
            rc = -1;
            break;
        }
        ssize_t n = rune_artifact_read(r, buf, cap, chk->reason, sizeof chk->reason);
        if (n == 0)
            break;
        if (n < 0) {
            chk->bad_chunk = r->bad_chunk;
            rc = -1;
            break;
        }
    }
    free(buf);
    rune_artifact_reader_close(r);
    chk->ok = rc == 0;
    if (chk->ok)
        chk->reason[0] = '\0';
    return rc;
}
