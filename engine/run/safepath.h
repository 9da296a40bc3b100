/*
 * safepath.h — a `path` input made canonical, and refused when another
 * user could redirect it.
 *
 * rune usually runs as root. A path that passes through a directory
 * another user can write to, or through a symlink another user owns, can
 * be pointed by that user at any file on the machine between the moment
 * the operator typed it and the moment a step writes to it. Resolving the
 * path once, before anything runs, gives every step (and the run's lock
 * name) the same canonical absolute path, and refuses the ones that
 * someone else controls.
 */
#ifndef RUNE_SAFEPATH_H
#define RUNE_SAFEPATH_H

#include <stddef.h>

/* Resolves path (relative to the current directory) to an absolute path
 * with no empty, "." or ".." components and every symlink on the way
 * resolved; the part that does not exist yet is kept as written (made
 * lexically canonical). Refused, with a message for the operator in err:
 *   - anything looked up in a directory that a group or every user can
 *     write to without the sticky bit;
 *   - in a sticky shared directory (like /tmp), an entry owned by a user
 *     other than the runner or root (the sticky bit lets its owner
 *     replace it);
 *   - a symlink owned by another user, or in a directory another user
 *     owns (who could replace it).
 * A directory owned by one other user is otherwise trusted with its own
 * entries: root acting on a service's files (PostgreSQL's data directory)
 * is what runbooks are for.
 * Returns 0 with *out malloc'd, or -1. */
int rune_safepath_resolve(const char *path, char **out, char *err, size_t errlen);

#endif
