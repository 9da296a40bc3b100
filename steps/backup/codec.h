/*
 * codec.h — how one chunk of the backup format (artifact.h) is compressed:
 * gzip (libdeflate) or zstd (libzstd), one struct each in one table.
 *
 * A chunk is always one complete, independent frame of its codec — a gzip
 * member, a zstd frame — so the data file is a valid stream of that codec
 * and its own tool reads it whole (`gzip -dc`, `zstd -dc`), while every
 * chunk can still be checked and decompressed on its own, in parallel.
 * Both codecs work on whole buffers in one call, and their output depends
 * only on the input and the level: never on threads or timing.
 *
 * Internal to the artifact format's files (artifact_write.c,
 * artifact_read.c, pool.c); includes no engine header.
 */
#ifndef RUNE_CODEC_H
#define RUNE_CODEC_H

#include <stddef.h>

struct libdeflate_compressor;
struct libdeflate_decompressor;
struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;

/* A worker's compressors and decompressors, made on first use by the
 * codec that needs them and kept for its next chunks; all zero at first.
 * rune_codec_state_free releases what was made. */
struct rune_codec_state {
    struct libdeflate_compressor *gz_comp;
    struct libdeflate_decompressor *gz_decomp;
    struct ZSTD_CCtx_s *zc;
    struct ZSTD_DCtx_s *zd;
    int level; /* the level gz_comp or zc was set up for */
};

/* What decompress found. */
enum rune_codec_result {
    RUNE_CODEC_OK = 0,
    RUNE_CODEC_BAD = -1,     /* not one complete, valid frame; err says how */
    RUNE_CODEC_TOO_BIG = -2, /* valid so far, but more than cap bytes */
};

struct rune_codec {
    const char *name;      /* "gzip": the manifest's `compression`, the steps' parameter */
    const char *ext;       /* the data file's suffix: ".gz" */
    const char *read_with; /* the command that reads a backup without rune: "gzip -dc" */
    int level_min, level_max, level_default;
    /* The most bytes a chunk of `raw` bytes can take in the file, and the
     * fewest any frame takes: a manifest outside them was edited. */
    unsigned long long (*max_frame)(unsigned long long raw);
    size_t min_frame;
    /* Compresses in[0..len) at `level` into one complete frame in *out
     * (grown as needed), its size in *out_len. 0, or -1 with err. */
    int (*compress)(struct rune_codec_state *st, int level, const unsigned char *in, size_t len,
                    unsigned char **out, size_t *cap, size_t *out_len, char *err, size_t errlen);
    /* Decompresses in[0..len), which must be exactly one complete frame
     * with nothing after it and whose own checksum holds, into out[0..cap);
     * *out_len is what it held. */
    enum rune_codec_result (*decompress)(struct rune_codec_state *st, const unsigned char *in,
                                         size_t len, unsigned char *out, size_t cap,
                                         size_t *out_len, char *err, size_t errlen);
};

/* The codecs, gzip first (the default), ended by {0}. */
extern const struct rune_codec rune_codecs[];

/* The codec named `name`; NULL names the default, gzip. NULL when no
 * codec has that name. */
const struct rune_codec *rune_codec_find(const char *name);

/* The codec a backup's manifest names in its `compression`; gzip when it
 * names none (the first manifests all said gzip, but a reader need not
 * insist on the word). NULL when it names one this rune does not know. */
struct json_t;
const struct rune_codec *rune_codec_of(const struct json_t *manifest);

/* The codecs' names for a message, "gzip, zstd", into buf. */
void rune_codec_list(char *buf, size_t len);

void rune_codec_state_free(struct rune_codec_state *st);

#endif
