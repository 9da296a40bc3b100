/*
 * safefile.h — how every file a step produces is put in place (backups,
 * copies, decompressed and decrypted files, manifests): written under an
 * unpredictable temp name beside its target, fsynced, renamed into place,
 * and the directory fsynced, so a crash or failure never leaves a
 * half-written file under the final name. Also the plain read and write
 * loops every such writer uses.
 *
 * Like artifact.h, this library includes no engine header and reports
 * errors as text for a person in a caller's buffer.
 */
#ifndef RUNE_SAFEFILE_H
#define RUNE_SAFEFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct rune_safe_file {
    int fd;     /* write here */
    char *tmp;  /* ".NAME.partial-XXXXXX" in the target's directory */
    char *path; /* the final name */
};

/* Creates the temp file (mkostemp: O_CREAT|O_EXCL, an unpredictable name,
 * 0600 from the start) and gives it `mode` without the set-id and sticky
 * bits (no umask: callers pass 0600 for backups, or the mode of the file
 * they copy). Refuses a directory every user can write that has no sticky
 * bit (shareddir.h). With overwrite false, fails early if path exists.
 * Returns 0 or -1 with err filled. */
int rune_safe_file_open(struct rune_safe_file *f, const char *path, bool overwrite, mode_t mode,
                        char *err, size_t errlen);
/* fsync, rename into place (refusing to replace an existing file unless
 * overwrite; the check and the rename are one atomic step), fsync the
 * directory. Frees f's strings. On failure the temp file is removed, and
 * with overwrite false nothing is left under the final name either. */
int rune_safe_file_commit(struct rune_safe_file *f, bool overwrite, char *err, size_t errlen);
/* Removes the temp file and frees f's strings. Safe on a zeroed f. */
void rune_safe_file_abort(struct rune_safe_file *f);

/* fsync of directory `dir`, so that the renames and links made in it
 * survive a crash. A filesystem that cannot fsync a directory counts as
 * done. 0, or -1 (errno set). */
int rune_fsync_dir(const char *dir);

/* write(2) until done, retrying EINTR. Returns 0 or -1 (errno set). */
int rune_write_all(int fd, const void *buf, size_t len);
/* read(2) until len or end of file, retrying EINTR. Bytes read, or -1. */
ssize_t rune_read_full(int fd, void *buf, size_t len);

#endif
