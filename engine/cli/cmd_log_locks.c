/*
 * cmd_log_locks.c — `rune log locks`: who holds which lock of a log shared
 * on PostgreSQL (host, operator, incident), and the short "locks" section
 * under `rune log`. The holders are rows of rune_locks in the log's
 * database (engine/run/lock_pg.c); a row whose rune's session is gone is
 * shown as stale, since the server freed its lock with the session.
 */
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_log.h"
#include "exitcode.h"
#include "lock.h"

static void usage(FILE *out)
{
    fputs("usage: rune log locks [--log URL] [--json]\n"
          "\n"
          "Who holds which lock of a log shared on PostgreSQL: the lock, its holder's host,\n"
          "operator, incident and pid, since when, and its fencing token. A lock whose\n"
          "holder's session is gone (rune killed, its connection cut) is shown as stale:\n"
          "the server has freed it. Locks of a log in a file are flock files on this host.\n",
          out);
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

enum { L_NAME, L_STATE, L_HOST, L_OPERATOR, L_INCIDENT, L_PID, L_SINCE, L_TOKEN, NLCOLS };
static const char *const lheaders[NLCOLS] = {"LOCK",     "STATE", "HOST",  "OPERATOR",
                                             "INCIDENT", "PID",   "SINCE", "TOKEN"};

static const char *lcell(json_t *h, int col, char *buf, size_t len)
{
    static const char *const keys[NLCOLS] = {"name",     "state", "host",     "operator",
                                             "incident", NULL,    "taken_at", NULL};
    if (col == L_PID || col == L_TOKEN) {
        snprintf(buf, len, "%lld",
                 (long long)json_integer_value(json_object_get(h, col == L_PID ? "pid" : "token")));
        return buf;
    }
    return str(h, keys[col]);
}

static void print_holders(json_t *list)
{
    int w[NLCOLS];
    char buf[32];
    size_t i;
    json_t *h;
    for (int c = 0; c < NLCOLS; c++)
        w[c] = (int)strlen(lheaders[c]);
    json_array_foreach(list, i, h) for (int c = 0; c < NLCOLS; c++)
    {
        int n = (int)strlen(lcell(h, c, buf, sizeof buf));
        w[c] = n > w[c] ? n : w[c];
    }
    for (int c = 0; c < NLCOLS; c++)
        printf("%-*s%s", c == NLCOLS - 1 ? 0 : w[c], lheaders[c], c == NLCOLS - 1 ? "\n" : "  ");
    json_array_foreach(list, i, h)
    {
        for (int c = 0; c < NLCOLS; c++) {
            const char *v = lcell(h, c, buf, sizeof buf);
            cmd_log_put_clean(v);
            if (c < NLCOLS - 1)
                printf("%*s", w[c] - (int)strlen(v) + 2, "");
        }
        putchar('\n');
    }
}

static bool any_stale(json_t *list)
{
    size_t i;
    json_t *h;
    json_array_foreach(list, i, h) if (!strcmp(str(h, "state"), "stale")) return true;
    return false;
}

int cmd_log_locks(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"log", required_argument, NULL, 'l'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *log = NULL;
    bool json = false;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (c == 'l') {
            log = optarg;
        } else if (c == 'j') {
            json = true;
        } else if (c == 'h') {
            usage(stdout);
            return RUNE_EXIT_OK;
        } else {
            fprintf(stderr, "rune log locks: unknown or incomplete option %s\n", argv[optind - 1]);
            usage(stderr);
            return RUNE_EXIT_INVALID;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "rune log locks: takes no incident ID\n");
        return RUNE_EXIT_INVALID;
    }
    char path[4096], err[1024];
    rune_journal_default_path(log, path, sizeof path);
    if (!rune_journal_is_shared(path)) {
        if (json)
            puts("[]");
        else
            printf("the incident log %s is a file: its locks are flock files on this host, in "
                   "%s/locks (the first line of each names its holder); a log shared on "
                   "PostgreSQL keeps its locks' holders in its database (docs/teams.md)\n",
                   path, dirname(path));
        return RUNE_EXIT_OK;
    }
    json_t *list = rune_lock_holders(path, err, sizeof err);
    if (!list) {
        fprintf(stderr, "rune log locks: %s\n", err);
        return RUNE_EXIT_INTERNAL;
    }
    int rc = RUNE_EXIT_OK;
    if (json) {
        rc = cmd_log_print_json(list, "the lock holders");
    } else if (!json_array_size(list)) {
        char *shown = rune_journal_shown(path);
        printf("no locks held in %s\n", shown ? shown : "the shared incident log");
        free(shown);
    } else {
        print_holders(list);
        if (any_stale(list))
            puts("\nstale: its rune's session is gone (killed, or its connection was cut), and "
                 "the server freed the lock with it; the next run takes it");
    }
    json_decref(list);
    return rc;
}

void cmd_log_locks_section(const char *path)
{
    if (!rune_journal_is_shared(path))
        return;
    char err[1024];
    json_t *list = rune_lock_holders(path, err, sizeof err);
    size_t i;
    json_t *h;
    if (!list) {
        fprintf(stderr, "rune log: warning: cannot list the locks: %s\n", err);
        return;
    }
    if (json_array_size(list))
        puts("\nlocks (`rune log locks` for more):");
    json_array_foreach(list, i, h)
    {
        fputs("  ", stdout);
        cmd_log_put_clean(str(h, "name"));
        printf(": %s host ", strcmp(str(h, "state"), "held") ? "stale, last held on" : "held on");
        cmd_log_put_clean(str(h, "host"));
        fputs(" by ", stdout);
        cmd_log_put_clean(str(h, "operator"));
        fputs(", incident ", stdout);
        cmd_log_put_clean(str(h, "incident"));
        printf(", since %s", str(h, "taken_at"));
        puts(strcmp(str(h, "state"), "held") ? " (its session is gone: the lock is free)" : "");
    }
    json_decref(list);
}
