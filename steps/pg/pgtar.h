/*
 * pgtar.h — the tar archives a PostgreSQL base backup is made of, read as
 * a stream: BASE_BACKUP sends the data directory as one ustar archive,
 * pg.basebackup checks every member of it against the server's manifest
 * while it passes through, and pg.recover lays it out into a data
 * directory. Only what PostgreSQL writes is read: ustar headers (the
 * prefix field and base-256 sizes included), regular files, directories
 * and symbolic links; anything else (GNU long names, pax headers, devices,
 * hard links) is refused with its name, never guessed at.
 *
 * The reader is fed bytes as they come (any split) and calls back, in
 * archive order, at each member, with its data, and at its end; `raw`
 * sees every byte of the archive before its end-of-archive blocks, so a
 * caller can pass the archive on and add members of its own before
 * closing it (rune_tar_header, rune_tar_trailer).
 *
 * No engine header: errors are text for a person in a caller's buffer.
 */
#ifndef RUNE_PGTAR_H
#define RUNE_PGTAR_H

#include <stdbool.h>
#include <stddef.h>

#define RUNE_TAR_BLOCK 512

struct rune_tar_member {
    char name[257]; /* prefix "/" name, as stored (no leading "./" removed) */
    char type;      /* '0' file, '5' directory, '2' symbolic link */
    unsigned long long size;
    unsigned mode; /* permission bits */
    long long mtime;
    char link[101]; /* a symbolic link's target */
};

/* Callbacks; each returns 0, or -1 with err filled to stop the reading.
 * Any may be NULL. */
struct rune_tar_sink {
    int (*member)(void *ctx, const struct rune_tar_member *m, char *err, size_t errlen);
    int (*data)(void *ctx, const unsigned char *buf, size_t n, char *err, size_t errlen);
    int (*member_end)(void *ctx, const struct rune_tar_member *m, char *err, size_t errlen);
    int (*raw)(void *ctx, const unsigned char *buf, size_t n, char *err, size_t errlen);
    void *ctx;
};

struct rune_tar {
    struct rune_tar_sink sink;
    unsigned char hdr[RUNE_TAR_BLOCK];
    size_t have;             /* header bytes gathered */
    unsigned long long left; /* data bytes of the current member still to come */
    size_t pad;              /* padding bytes still to come */
    int state;
    unsigned long long offset; /* archive bytes read, for messages */
    unsigned long long members;
    struct rune_tar_member cur;
};

void rune_tar_init(struct rune_tar *t, const struct rune_tar_sink *sink);
/* Reads n more bytes of the archive. 0, or -1 with err (a damaged header,
 * a member of a kind not read, bytes after the end, or a callback's
 * error). */
int rune_tar_feed(struct rune_tar *t, const void *buf, size_t n, char *err, size_t errlen);
/* The archive is over: 0 when it ended where a tar archive may end (after
 * a whole member, with or without its end-of-archive blocks); -1 with err
 * when it was cut inside a member. *terminated (may be NULL) tells whether
 * the end-of-archive blocks were there. */
int rune_tar_finish(struct rune_tar *t, bool *terminated, char *err, size_t errlen);

/* A ustar header for a regular file `name` (at most 99 bytes) of `size`
 * bytes: what a writer puts before a member's data, which it then pads to
 * a whole block. 0, or -1 when the name is too long. */
int rune_tar_header(unsigned char h[RUNE_TAR_BLOCK], const char *name, unsigned mode,
                    unsigned long long size, long long mtime);
/* Bytes of padding after `size` bytes of data. */
size_t rune_tar_padding(unsigned long long size);

#endif
