/*
 * file_remote.c — file.checksum of a file on another host (the step's
 * host:, an ssh target): the digest is computed there by coreutils'
 * sha256sum or sha512sum reading the file on its standard input (so no
 * file name, however odd, reaches the output to be parsed), after `stat`
 * gave its size. The path goes as an argument of a fixed script, never
 * pasted into one; the engine quotes every word for the remote shell.
 */
#include "file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* $1: the file, $2: the digest program. Prints its size, then the digest. */
static const char checksum_script[] =
    "f=$1; if [ ! -f \"$f\" ]; then echo \"$f: no such regular file\" >&2; exit 2; fi; "
    "stat -L -c %s -- \"$f\" && exec \"$2\" < \"$f\"";

/* The last line of what the remote side printed on stderr (shortened). */
static void last_error(const struct rune_proc *p, char *buf, size_t len)
{
    const char *e = p->err ? p->err : "";
    size_t n = strlen(e);
    while (n > 0 && strchr(" \t\r\n", e[n - 1]))
        n--;
    size_t start = n;
    while (start > 0 && e[start - 1] != '\n')
        start--;
    snprintf(buf, len, "%.*s", (int)(n - start > 200 ? 200 : n - start), e + start);
}

int rune_file_checksum_remote(struct rune_call *c, const char *algo, size_t hexlen,
                              const char *expect)
{
    const char *host = rune_call_str(c, "host");
    const char *path = rune_call_str(c, "path");
    if (!path || path[0] != '/')
        return rune_call_fail(c,
                              "path \"%s\" is relative; on host %s give the remote file's "
                              "absolute path",
                              path ? path : "", host);
    char prog[16];
    snprintf(prog, sizeof prog, "%ssum", algo);
    char *const argv[] = {"sh", "-c", (char *)checksum_script, "sh", (char *)path, prog, NULL};
    struct rune_proc p = {.argv = argv, .capture_max = 4096, .host = host};
    if (rune_call_spawn(c, &p) != 0)
        return RUNE_STEP_FAILED; /* rune_call_spawn said why */
    int rc = RUNE_STEP_FAILED;
    char why[256];
    long long bytes = -1;
    char digest[160] = "";
    if (p.timed_out || p.was_cancelled) {
        rc = rune_call_fail(c, "%s of %s on host %s: %s; the remote command was killed", algo, path,
                            host, p.timed_out ? "timed out" : "cancelled");
        if (p.timed_out)
            rc = RUNE_STEP_TIMEOUT;
        else
            rc = RUNE_STEP_CANCELLED;
        goto out;
    }
    if (p.exit_code != 0 || !p.out || sscanf(p.out, "%lld\n%159[0-9a-f]", &bytes, digest) != 2 ||
        strlen(digest) != hexlen) {
        last_error(&p, why, sizeof why);
        rc = rune_call_fail(c,
                            "cannot compute the %s of %s on host %s (exit %d%s%s); check that the "
                            "file exists there and the target's user can read it",
                            algo, path, host, p.exit_code, *why ? ": " : "", why);
        goto out;
    }
    json_t *o = rune_call_outputs(c);
    rune_file_set_str(o, "path", path);
    rune_file_set_str(o, "algorithm", algo);
    rune_file_set_str(o, "digest", digest);
    rune_file_set_str(o, algo, digest);
    rune_file_set_int(o, "bytes", bytes);
    json_object_set_new(o, "matched", expect ? json_boolean(!strcmp(expect, digest)) : json_null());
    if (expect && strcmp(expect, digest) != 0)
        rc = rune_call_fail(c,
                            "checksum mismatch for %s on host %s: %s is %s, expected %s — the "
                            "file is not the one the checksum was taken of; fetch it again, or "
                            "check where the expected value came from",
                            path, host, algo, digest, expect);
    else
        rc = RUNE_STEP_OK;
out:
    rune_proc_release(&p);
    return rc;
}
