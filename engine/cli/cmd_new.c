/*
 * cmd_new.c — `rune new NAME [--from KIND] [-o FILE]`: a runbook skeleton
 * that validates under --strict, with comments explaining each stage.
 *
 * The skeletons are templates/KIND.yaml, embedded at build time (one
 * table below); `__NAME__` in them becomes NAME. The file is created with
 * O_CREAT|O_EXCL|O_NOFOLLOW: an existing file (or a symlink planted
 * there) is never written through, and a failed write removes what this
 * command created.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "exitcode.h"

extern const char rune_template_restore[];
extern const char rune_template_job[];
extern const char rune_template_drill[];

static const struct {
    const char *kind;
    const char *text;
    const char *summary;
} kinds[] = {
    {"restore", rune_template_restore,
     "restore from the newest verified backup: safety copy, verification, rollback"},
    {"job", rune_template_job, "a routine job: back up and verify, e.g. nightly from cron"},
    {"drill", rune_template_drill, "a restore drill into the run's private work directory"},
};

#define NKINDS (sizeof kinds / sizeof kinds[0])

static int usage(FILE *out, int rc)
{
    fprintf(out, "usage: rune new NAME [--from KIND] [-o FILE]\n"
                 "  writes NAME.yaml (or FILE), a runbook that validates, with comments on each\n"
                 "  stage; never over an existing file. KIND (default restore):\n");
    for (size_t i = 0; i < NKINDS; i++)
        fprintf(out, "    %-8s %s\n", kinds[i].kind, kinds[i].summary);
    return rc;
}

/* A name that is both a file name and a runbook name as operators type it. */
static bool good_name(const char *s)
{
    if (!*s || *s == '.' || *s == '-' || strlen(s) > 100)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return false;
    return true;
}

/* The template with every __NAME__ replaced (malloc'd). */
static char *fill(const char *text, const char *name)
{
    static const char token[] = "__NAME__";
    size_t n = 0, tl = sizeof token - 1, nl = strlen(name);
    for (const char *p = text; (p = strstr(p, token)); p += tl)
        n++;
    char *out = malloc(strlen(text) + n * nl + 1), *w = out;
    if (!out)
        return NULL;
    for (const char *p = text, *q; *p; p = q + tl) {
        q = strstr(p, token);
        if (!q) {
            memcpy(w, p, strlen(p) + 1);
            return out;
        }
        memcpy(w, p, (size_t)(q - p));
        w += q - p;
        memcpy(w, name, nl);
        w += nl;
    }
    *w = '\0';
    return out;
}

static int write_new(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        if (errno == EEXIST)
            fprintf(stderr,
                    "rune new: %s already exists; rune new never writes over a file: choose "
                    "another NAME, or -o FILE\n",
                    path);
        else
            fprintf(stderr, "rune new: cannot create %s: %s\n", path, strerror(errno));
        return errno == EEXIST ? RUNE_EXIT_INVALID : RUNE_EXIT_INTERNAL;
    }
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    int err = done < len ? errno : 0;
    if (!err && fsync(fd) != 0)
        err = errno;
    if (close(fd) != 0 && !err)
        err = errno;
    if (err || done < len) {
        fprintf(stderr, "rune new: writing %s failed (%s); the partial file was removed\n", path,
                strerror(err ? err : EIO));
        unlink(path);
        return RUNE_EXIT_INTERNAL;
    }
    return RUNE_EXIT_OK;
}

int cmd_new(int argc, char **argv)
{
    static const struct option opts[] = {
        {"from", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *kind = "restore", *out = NULL;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "f:o:h", opts, NULL)) != -1) {
        if (c == 'f')
            kind = optarg;
        else if (c == 'o')
            out = optarg;
        else
            return usage(c == 'h' ? stdout : stderr, c == 'h' ? RUNE_EXIT_OK : RUNE_EXIT_INVALID);
    }
    if (optind != argc - 1)
        return usage(stderr, RUNE_EXIT_INVALID);
    const char *name = argv[optind];
    if (!good_name(name)) {
        fprintf(stderr,
                "rune new: \"%s\" cannot be a runbook name: use letters, digits, '-', '_' and "
                "'.' (not first), e.g. orders-restore\n",
                name);
        return RUNE_EXIT_INVALID;
    }
    const char *text = NULL;
    for (size_t i = 0; i < NKINDS; i++)
        if (!strcmp(kinds[i].kind, kind))
            text = kinds[i].text;
    if (!text) {
        fprintf(stderr, "rune new: no kind \"%s\"; kinds: restore, job, drill\n", kind);
        return RUNE_EXIT_INVALID;
    }
    char path[4096];
    if (out)
        snprintf(path, sizeof path, "%s", out);
    else
        snprintf(path, sizeof path, "%s.yaml", name);
    char *filled = fill(text, name);
    if (!filled) {
        fprintf(stderr, "rune new: no memory for the text of runbook %s\n", name);
        return RUNE_EXIT_INTERNAL;
    }
    int rc = write_new(path, filled);
    free(filled);
    if (rc == RUNE_EXIT_OK)
        printf("wrote %s (a %s runbook); next: rune validate --strict %s, then rune plan %s\n",
               path, kind, path, path);
    return rc;
}
