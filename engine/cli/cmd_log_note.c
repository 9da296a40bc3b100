/*
 * cmd_log_note.c — `rune log note ID`: what people learned after an
 * incident (root cause, contributing factors, impact, follow-up actions
 * with owner, due date and status, participants, free notes), recorded
 * as an incident.note event in the incident's hash chain with its author
 * and time (record.h, rune_record_postmortem). Reports re-render with the
 * newest notes; the earlier ones stay in the chain, and `rune log verify`
 * proves them all. --edit and --file (cmd_log_note_edit.c) take the
 * notes as a YAML form instead of flags.
 */
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "cmd_log.h"
#include "cmd_log_note_edit.h"
#include "exitcode.h"
#include "journal.h"
#include "record.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rune log note ID [options]   (post-incident notes, chained in the log)\n"
            "      --root-cause TEXT    what caused it\n"
            "      --contributing TEXT  contributing factors\n"
            "      --impact TEXT        impact: customers, duration, data\n"
            "      --action TEXT        a follow-up action (repeatable); the next --owner,\n"
            "                           --due and --status apply to the action before them\n"
            "      --owner WHO          who owns the action\n"
            "      --due YYYY-MM-DD     when it is due\n"
            "      --status open|done|cancelled   (default open)\n"
            "      --participant WHO    who took part (repeatable)\n"
            "      --text TEXT          a free note\n"
            "      --edit               the current notes as a YAML form in $EDITOR (else vi);\n"
            "                           what you change is recorded as one note\n"
            "      --file FORM          record what a form (as --edit writes it) changes\n"
            "      --author WHO         who writes this (default: $RUNE_OPERATOR, $SUDO_USER, "
            "the login name)\n"
            "      --log PATH           incident log (as for rune log)\n");
}

static const char *author_of(const char *flag)
{
    const char *e = flag && *flag ? flag : getenv("RUNE_OPERATOR");
    if (e && *e)
        return e;
    e = getenv("SUDO_USER");
    if (e && *e)
        return e;
    struct passwd *pw = getpwuid(getuid());
    return pw ? pw->pw_name : "unknown";
}

/* --owner, --due or --status on the last --action; -1 (printed) when
 * there is none or the value is wrong. */
static int on_action(json_t *actions, const char *key, const char *value)
{
    json_t *a = json_array_get(actions, json_array_size(actions) - 1);
    if (!a) {
        fprintf(stderr, "rune log note: --%s belongs to an --action; give the action first\n", key);
        return -1;
    }
    if (!strcmp(key, "due") && !rune_clock_is_day(value)) {
        fprintf(stderr, "rune log note: --due \"%s\" is not a date; give it as 2026-12-31\n",
                value);
        return -1;
    }
    if (!strcmp(key, "status") && strcmp(value, "open") && strcmp(value, "done") &&
        strcmp(value, "cancelled")) {
        fprintf(stderr, "rune log note: --status \"%s\": give open, done or cancelled\n", value);
        return -1;
    }
    json_object_set_new(a, key, json_string(value));
    return 0;
}

/* The flags into note; 1 for --help, -1 (printed) when wrong. */
static int parse(int argc, char **argv, json_t *note, const char **log, const char **author,
                 bool *edit, const char **form)
{
    static const struct option opts[] = {
        {"root-cause", required_argument, NULL, 'r'},
        {"contributing", required_argument, NULL, 'c'},
        {"impact", required_argument, NULL, 'i'},
        {"action", required_argument, NULL, 'a'},
        {"owner", required_argument, NULL, 'o'},
        {"due", required_argument, NULL, 'd'},
        {"status", required_argument, NULL, 's'},
        {"participant", required_argument, NULL, 'p'},
        {"text", required_argument, NULL, 't'},
        {"author", required_argument, NULL, 'A'},
        {"log", required_argument, NULL, 'l'},
        {"edit", no_argument, NULL, 'e'},
        {"file", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    json_t *actions = json_array(), *people = json_array();
    int c, rc = 0;

    optind = 0;
    opterr = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            json_object_set_new(note, "root_cause", json_string(optarg));
            break;
        case 'c':
            json_object_set_new(note, "contributing", json_string(optarg));
            break;
        case 'i':
            json_object_set_new(note, "impact", json_string(optarg));
            break;
        case 't':
            json_object_set_new(note, "text", json_string(optarg));
            break;
        case 'a':
            json_array_append_new(actions,
                                  json_pack("{s:s, s:s}", "text", optarg, "status", "open"));
            break;
        case 'o':
            rc = on_action(actions, "owner", optarg);
            break;
        case 'd':
            rc = on_action(actions, "due", optarg);
            break;
        case 's':
            rc = on_action(actions, "status", optarg);
            break;
        case 'p':
            json_array_append_new(people, json_string(optarg));
            break;
        case 'A':
            *author = optarg;
            break;
        case 'l':
            *log = optarg;
            break;
        case 'e':
            *edit = true;
            break;
        case 'F':
            *form = optarg;
            break;
        case 'h':
            rc = 1;
            break;
        default:
            fprintf(stderr,
                    "rune log note: unknown option or missing value %s; see `rune log "
                    "note --help`\n",
                    argv[optind - 1]);
            rc = -1;
        }
    }
    if (json_array_size(actions))
        json_object_set(note, "actions", actions);
    if (json_array_size(people))
        json_object_set(note, "participants", people);
    json_decref(actions);
    json_decref(people);
    return rc;
}

int cmd_log_note(int argc, char **argv)
{
    json_t *note = json_object(), *inc = NULL;
    const char *log = NULL, *author = NULL, *form = NULL;
    char path[4096], err[1024];
    struct rune_journal *j = NULL;
    bool edit = false;
    int rc = parse(argc, argv, note, &log, &author, &edit, &form);

    if (rc > 0) {
        usage(stdout);
        rc = RUNE_EXIT_OK;
        goto out;
    }
    rc = RUNE_EXIT_INVALID;
    if (optind != argc - 1) {
        fprintf(stderr, "rune log note: give exactly one incident ID; `rune log` lists them\n");
        goto out;
    }
    if ((edit || form) && (json_object_size(note) || (edit && form))) {
        fprintf(stderr, "rune log note: --edit and --file take the whole note from the form; give "
                        "one of them and no --root-cause, --action, ... flags\n");
        goto out;
    }
    if (!edit && !form && !json_object_size(note)) {
        fprintf(stderr, "rune log note: nothing to note; give --root-cause, --contributing, "
                        "--impact, --action, --participant or --text, or --edit to fill a form\n");
        goto out;
    }
    const char *id = argv[optind];
    rune_journal_default_path(log, path, sizeof path);
    if (rune_journal_open(path, &j, err, sizeof err) != 0) {
        fprintf(stderr, "rune log note: %s\n", err);
        rc = RUNE_EXIT_INTERNAL;
        goto out;
    }
    if (!(inc = rune_journal_get(j, id))) {
        fprintf(stderr, "rune log note: no incident %s in %s; `rune log` lists them\n", id,
                rune_journal_path(j));
        goto out;
    }
    /* notes follow the end in the chain: a running incident's writer
     * owns its tail until then */
    if (!json_is_string(json_object_get(inc, "outcome"))) {
        fprintf(stderr,
                "rune log note: incident %s has not ended (it is running, or its rune died: "
                "`rune resume %s`); add notes once it has an outcome\n",
                id, id);
        goto out;
    }
    if (edit || form) {
        rc = cmd_log_note_edit(j, id, author_of(author), form);
        goto out;
    }
    long long seq = rune_record_postmortem(j, id, author_of(author), note, err, sizeof err);
    if (seq < 0) {
        fprintf(stderr, "rune log note: %s\n", err);
        rc = RUNE_EXIT_INTERNAL;
        goto out;
    }
    printf("incident %s: note recorded as event %lld by %s; `rune report %s` shows it\n", id, seq,
           author_of(author), id);
    rc = RUNE_EXIT_OK;
out:
    json_decref(inc);
    json_decref(note);
    if (j)
        rune_journal_close(j);
    return rc;
}
