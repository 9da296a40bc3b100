/*
 * file.h — what the parts of the file.* family share: file.c (the
 * family's table, checksums and copies), file_compress.c (compression into the
 * backup artifact format and back) and file_crypt.c (the encrypted-file
 * format). Every file a step produces is written through safefile.h, and
 * nothing is replaced unless the runbook says `overwrite: true`.
 *
 * Internal to the family: only those three files include it.
 */
#ifndef RUNE_FILE_H
#define RUNE_FILE_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "step.h"

struct rune_safe_file; /* safefile.h */

#define RUNE_FILE_IO_BUF ((size_t)1 << 20) /* bytes read or written at a time */

/* ---- the steps (file_compress.c, file_crypt.c) ---- */

int rune_file_compress_run(struct rune_call *c);
int rune_file_compress_plan(struct rune_call *c);
int rune_file_decompress_run(struct rune_call *c);
int rune_file_decompress_plan(struct rune_call *c);
int rune_file_encrypt_run(struct rune_call *c);
int rune_file_encrypt_plan(struct rune_call *c);
int rune_file_decrypt_run(struct rune_call *c);
int rune_file_decrypt_plan(struct rune_call *c);

/* ---- shared by the family (file.c) ---- */

/* p + suffix, malloc'd (NULL when out of memory). */
char *rune_file_with_suffix(const char *p, const char *suffix);
/* p without `suffix`, or NULL when p does not end with it (or is only it). */
char *rune_file_without_suffix(const char *p, const char *suffix);
/* Something (anything, a dangling link too) is at p. */
bool rune_file_exists(const char *p);

/* Opens a regular file for reading, or fails the call with what to check
 * and returns -1. */
int rune_file_open_input(struct rune_call *c, const char *path, struct stat *st);

/* Fails the call: "cannot read PATH: " and errno's words. */
int rune_file_read_error(struct rune_call *c, const char *path);

/* Unless overwrite, fails the call when dst exists (saying what to do)
 * and returns true: the step stops there. */
bool rune_file_occupied(struct rune_call *c, const char *dst, bool overwrite);

/* The file a step writes, started beside dst (rune_safe_file_open: a
 * temp name, `mode`) or the call failed and false. */
bool rune_file_start(struct rune_call *c, struct rune_safe_file *f, const char *dst, bool overwrite,
                     mode_t mode);
/* And put in place (rune_safe_file_commit), or the call failed and false;
 * either way f is finished with. */
bool rune_file_finish(struct rune_call *c, struct rune_safe_file *f, bool overwrite);

/* Stops a long loop on the call's timeout or Ctrl-C: fails the call saying
 * what was left behind (`what`), returns the cancel status. */
int rune_file_cancelled(struct rune_call *c, const char *what);
/* The next bytes of the file a step reads through (fd, `path` in
 * messages), for its loop: first the call's cancellation is checked (and
 * the call fails saying `left`, what was left behind), then up to len
 * bytes are read. Bytes read, 0 at the end, or -1 with the call failed and
 * its status in *rc. */
ssize_t rune_file_read_next(struct rune_call *c, int fd, void *buf, size_t len, const char *path,
                            const char *left, int *rc);
/* rune_call_cancelled as an artifact.h cancel callback (ctx: the call). */
bool rune_file_cancel_cb(void *ctx);
/* rune_call_progress in bytes as an artifact.h progress callback (ctx: the
 * call). */
void rune_file_progress_cb(void *ctx, unsigned long long done, unsigned long long total);
/* `done` bytes of the `total` expected (a file's size when it was opened),
 * for the step's progress; a file that grew since counts what was read. */
void rune_file_progress(struct rune_call *c, long long done, long long total);

/* file.checksum of the file at path on the step's host: (file_remote.c):
 * the outputs set, or the call failed. Returns a rune_status. */
int rune_file_checksum_remote(struct rune_call *c, const char *algo, size_t hexlen,
                              const char *expect);

/* Outputs: a string (NULL: null) or an integer. */
void rune_file_set_str(json_t *o, const char *key, const char *v);
void rune_file_set_int(json_t *o, const char *key, long long v);

/* The file a step made: its path, SHA-256 and size, as the outputs path,
 * sha256 and bytes (which the engine records as the run's artifact). The
 * one place the family reports an artifact. */
void rune_file_report_artifact(struct rune_call *c, const char *path, const char *sha256,
                               long long bytes);

#endif
