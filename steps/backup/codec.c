/*
 * codec.c — the two codecs of the backup format's chunks (codec.h).
 *
 * gzip: libdeflate, one gzip member per chunk. libdeflate does a whole
 * buffer in one call, about 1.6 times as fast as zlib's deflate at the same
 * level and a little smaller (docs/performance.md); the output is ordinary
 * gzip, which every system reads.
 *
 * zstd: libzstd, one zstd frame per chunk, made by ZSTD_compress2 on one
 * thread (the parallelism is the pool's, one chunk per worker, so the bytes
 * do not depend on how many workers there are). Each frame records its
 * content size and carries zstd's own checksum (XXH64 of the content), so
 * `zstd -t` checks a backup without rune as `gzip -t` does. Levels 1 to 19:
 * above 19 zstd calls a level "ultra" and wants much more memory for
 * little gain on 4 MiB chunks.
 */
#include "codec.h"
#include "artifact.h"
#include "pool.h"

#include <stdio.h>
#include <string.h>

#include <libdeflate.h>
#include <zstd.h>
#include <zstd_errors.h>

/* ---- gzip ---- */

/* zlib's deflateBound, about raw / 4096 plus the 18-byte header and
 * trailer, with room to spare. */
static unsigned long long gz_max_frame(unsigned long long raw)
{
    return raw + raw / 1024 + 1024;
}

static int gz_compress(struct rune_codec_state *st, int level, const unsigned char *in, size_t len,
                       unsigned char **out, size_t *cap, size_t *out_len, char *err, size_t errlen)
{
    if (st->gz_comp && st->level != level) {
        libdeflate_free_compressor(st->gz_comp);
        st->gz_comp = NULL;
    }
    if (!st->gz_comp && !(st->gz_comp = libdeflate_alloc_compressor(level))) {
        snprintf(err, errlen,
                 "cannot start gzip compression at level %d (out of memory?): free memory on this "
                 "host and run the step again",
                 level);
        return -1;
    }
    st->level = level;
    if (rune_pool_grow(out, cap, libdeflate_gzip_compress_bound(st->gz_comp, len)) != 0) {
        snprintf(err, errlen,
                 "no memory to compress %zu bytes: free memory on this host and run the step again",
                 len);
        return -1;
    }
    *out_len = libdeflate_gzip_compress(st->gz_comp, in, len, *out, *cap);
    if (*out_len == 0) { /* cannot happen with the bound's room */
        snprintf(err, errlen, "gzip compression failed");
        return -1;
    }
    return 0;
}

static enum rune_codec_result gz_decompress(struct rune_codec_state *st, const unsigned char *in,
                                            size_t len, unsigned char *out, size_t cap,
                                            size_t *out_len, char *err, size_t errlen)
{
    if (!st->gz_decomp && !(st->gz_decomp = libdeflate_alloc_decompressor())) {
        snprintf(err, errlen,
                 "no memory to start gzip decompression: free memory on this host and run the step "
                 "again");
        return RUNE_CODEC_BAD;
    }
    /* the gzip trailer's CRC-32 and length are checked by libdeflate */
    size_t used = 0;
    enum libdeflate_result rc =
        libdeflate_gzip_decompress_ex(st->gz_decomp, in, len, out, cap, &used, out_len);
    if (rc == LIBDEFLATE_INSUFFICIENT_SPACE)
        return RUNE_CODEC_TOO_BIG;
    if (rc != LIBDEFLATE_SUCCESS) {
        snprintf(err, errlen,
                 "not valid gzip data (a bad or cut member, or a CRC mismatch) — the file was "
                 "damaged");
        return RUNE_CODEC_BAD;
    }
    if (used != len) {
        snprintf(err, errlen, "%zu bytes follow the end of its gzip member — the file was modified",
                 len - used);
        return RUNE_CODEC_BAD;
    }
    return RUNE_CODEC_OK;
}

/* ---- zstd ---- */

/* zstd's own worst case, frame header and checksum included (raw is at
 * most RUNE_ARTIFACT_CHUNK_MAX, far below zstd's input limit). */
static unsigned long long zstd_max_frame(unsigned long long raw)
{
    return ZSTD_compressBound((size_t)raw);
}

static int zstd_setup(struct rune_codec_state *st, int level, char *err, size_t errlen)
{
    if (st->zc && st->level == level)
        return 0;
    if (!st->zc && !(st->zc = ZSTD_createCCtx())) {
        snprintf(
            err, errlen,
            "no memory to start zstd compression: free memory on this host and run the step again");
        return -1;
    }
    /* one frame per chunk, its content size in the header (the default
     * for a one-shot compression) and its checksum at the end */
    size_t r = ZSTD_CCtx_reset(st->zc, ZSTD_reset_session_and_parameters);
    if (!ZSTD_isError(r))
        r = ZSTD_CCtx_setParameter(st->zc, ZSTD_c_compressionLevel, level);
    if (!ZSTD_isError(r))
        r = ZSTD_CCtx_setParameter(st->zc, ZSTD_c_checksumFlag, 1);
    if (!ZSTD_isError(r))
        r = ZSTD_CCtx_setParameter(st->zc, ZSTD_c_contentSizeFlag, 1);
    if (ZSTD_isError(r)) {
        snprintf(err, errlen, "cannot start zstd compression at level %d: %s", level,
                 ZSTD_getErrorName(r));
        return -1;
    }
    st->level = level;
    return 0;
}

static int zstd_compress(struct rune_codec_state *st, int level, const unsigned char *in,
                         size_t len, unsigned char **out, size_t *cap, size_t *out_len, char *err,
                         size_t errlen)
{
    if (zstd_setup(st, level, err, errlen) != 0)
        return -1;
    if (rune_pool_grow(out, cap, ZSTD_compressBound(len)) != 0) {
        snprintf(err, errlen,
                 "no memory to compress %zu bytes: free memory on this host and run the step again",
                 len);
        return -1;
    }
    size_t r = ZSTD_compress2(st->zc, *out, *cap, in, len);
    if (ZSTD_isError(r)) {
        snprintf(err, errlen, "zstd compression failed: %s", ZSTD_getErrorName(r));
        return -1;
    }
    *out_len = r;
    return 0;
}

static enum rune_codec_result zstd_decompress(struct rune_codec_state *st, const unsigned char *in,
                                              size_t len, unsigned char *out, size_t cap,
                                              size_t *out_len, char *err, size_t errlen)
{
    /* a real frame (not a skippable one), whole, and nothing after it:
     * ZSTD_decompressDCtx alone would read several frames in a row */
    unsigned magic = len >= 4 ? (unsigned)in[0] | (unsigned)in[1] << 8 | (unsigned)in[2] << 16 |
                                    (unsigned)in[3] << 24
                              : 0;
    if (magic != ZSTD_MAGICNUMBER) {
        snprintf(err, errlen, "does not start a zstd frame — the file was damaged or modified");
        return RUNE_CODEC_BAD;
    }
    size_t frame = ZSTD_findFrameCompressedSize(in, len);
    if (ZSTD_isError(frame)) {
        snprintf(err, errlen, "not a complete zstd frame (%s) — the file was damaged",
                 ZSTD_getErrorName(frame));
        return RUNE_CODEC_BAD;
    }
    if (frame != len) {
        snprintf(err, errlen, "%zu bytes follow the end of its zstd frame — the file was modified",
                 len - frame);
        return RUNE_CODEC_BAD;
    }
    if (!st->zd && !(st->zd = ZSTD_createDCtx())) {
        snprintf(err, errlen,
                 "no memory to start zstd decompression: free memory on this host and run the step "
                 "again");
        return RUNE_CODEC_BAD;
    }
    /* the frame's checksum is checked by libzstd */
    size_t r = ZSTD_decompressDCtx(st->zd, out, cap, in, len);
    if (ZSTD_isError(r) && ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall)
        return RUNE_CODEC_TOO_BIG;
    if (ZSTD_isError(r)) {
        snprintf(err, errlen, "not valid zstd data (%s) — the file was damaged",
                 ZSTD_getErrorName(r));
        return RUNE_CODEC_BAD;
    }
    *out_len = r;
    return RUNE_CODEC_OK;
}

/* ---- the table ---- */

const struct rune_codec rune_codecs[] = {
    {"gzip", ".gz", "gzip -dc", 1, 9, 6, gz_max_frame, 18, gz_compress, gz_decompress},
    {"zstd", ".zst", "zstd -dc", 1, 19, 3, zstd_max_frame, 9, zstd_compress, zstd_decompress},
    {0},
};

const struct rune_codec *rune_codec_find(const char *name)
{
    if (!name)
        return &rune_codecs[0];
    for (const struct rune_codec *k = rune_codecs; k->name; k++)
        if (!strcmp(k->name, name))
            return k;
    return NULL;
}

const struct rune_codec *rune_codec_of(const json_t *manifest)
{
    json_t *c = json_object_get(manifest, "compression");
    if (c && !json_is_string(c))
        return NULL;
    return rune_codec_find(json_string_value(c));
}

void rune_codec_list(char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (const struct rune_codec *k = rune_codecs; k->name && at < len; k++) {
        int n = snprintf(buf + at, len - at, "%s%s", at ? ", " : "", k->name);
        if (n < 0)
            break;
        at += (size_t)n;
    }
}

void rune_codec_state_free(struct rune_codec_state *st)
{
    libdeflate_free_compressor(st->gz_comp);
    libdeflate_free_decompressor(st->gz_decomp);
    ZSTD_freeCCtx(st->zc);
    ZSTD_freeDCtx(st->zd);
    memset(st, 0, sizeof *st);
}

/* ---- what artifact.h says of the codecs ---- */

const char *rune_artifact_suffix(const char *compression)
{
    const struct rune_codec *k = rune_codec_find(compression);
    return k ? k->ext : rune_codecs[0].ext;
}

int rune_artifact_level_check(const char *compression, long long level, char *err, size_t errlen)
{
    const struct rune_codec *k = rune_codec_find(compression);
    if (!k) {
        char names[64];
        rune_codec_list(names, sizeof names);
        snprintf(err, errlen, "compression \"%s\" is not one rune writes: use %s", compression,
                 names);
        return -1;
    }
    if (level != 0 && (level < k->level_min || level > k->level_max)) {
        snprintf(err, errlen,
                 "%s level %lld is out of range: use %d (fastest) to %d (smallest), or leave it "
                 "out for %d",
                 k->name, level, k->level_min, k->level_max, k->level_default);
        return -1;
    }
    return 0;
}

const char *rune_artifact_read_with(json_t *manifest)
{
    const struct rune_codec *k = rune_codec_of(manifest);
    return k ? k->read_with : NULL;
}

const char *rune_artifact_compression(json_t *manifest)
{
    const struct rune_codec *k = rune_codec_of(manifest);
    return k ? k->name : NULL;
}
