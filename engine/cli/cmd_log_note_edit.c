/*
 * cmd_log_note_edit.c — `rune log note ID --edit` (and `--file FORM`):
 * the incident's current post-incident notes as a YAML form in $EDITOR,
 * and what was changed in it recorded as one superseding incident.note
 * event (rune_record_postmortem), like the flags of `rune log note` do.
 *
 * The form lives in a private directory (mkdtemp, 0700) as a file made
 * with O_EXCL|O_NOFOLLOW, mode 0600: notes may name customers. Nothing
 * changed, nothing recorded. A form that is not valid YAML, or that asks
 * for what the log cannot record (removing an action, a participant or a
 * free note: they add up in the chain), is refused with its line and
 * column, and the file is kept for the person to fix and give back with
 * --file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "cmd_log_note_edit.h"
#include "diag.h"
#include "exitcode.h"
#include "node.h"
#include "record.h"
#include "report.h"

extern char **environ;

/* The form's largest size: far above any notes, small enough to read whole. */
#define FORM_MAX (1024 * 1024)

static const char *const text_keys[] = {"root_cause", "contributing", "impact"};

/* ---- The form ---- */

/* s as a YAML double-quoted scalar (a JSON string is one). */
static void put_str(FILE *f, const char *s)
{
    json_t *j = json_string(s ? s : "");
    char *q = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    fputs(q ? q : "\"\"", f);
    free(q);
    json_decref(j);
}

static const char *text_of(json_t *pm, const char *key)
{
    return rune_report_str(json_object_get(pm, key), "text");
}

/* The YAML form of the current notes (pm: the report's postmortem). */
static char *form_of(json_t *pm, const char *id)
{
    char *text = NULL;
    size_t len = 0, i;
    json_t *a;
    FILE *f = open_memstream(&text, &len);

    if (!f)
        return NULL;
    fprintf(f,
            "# Post-incident notes of incident %s (rune log note %s --edit).\n"
            "# Change what you know, save and quit: the changes are recorded as one note in\n"
            "# the incident's hash chain, superseding the earlier ones (which stay in it).\n"
            "# Quit without a change to record nothing. Actions, participants and free notes\n"
            "# add up: to drop an action set its status to cancelled; add free notes at the\n"
            "# end of notes. due is YYYY-MM-DD; status is open, done or cancelled.\n",
            id, id);
    for (size_t k = 0; k < sizeof text_keys / sizeof text_keys[0]; k++) {
        fprintf(f, "%s: ", text_keys[k]);
        put_str(f, text_of(pm, text_keys[k]));
        fputc('\n', f);
    }
    fputs("actions:\n", f);
    json_array_foreach(json_object_get(pm, "actions"), i, a)
    {
        fputs("  - text: ", f);
        put_str(f, rune_report_str(a, "text"));
        fputs("\n    owner: ", f);
        put_str(f, rune_report_str(a, "owner"));
        fputs("\n    due: ", f);
        put_str(f, rune_report_str(a, "due"));
        fprintf(f, "\n    status: %s\n",
                rune_report_str(a, "status") ? rune_report_str(a, "status") : "open");
    }
    fputs("participants:\n", f);
    json_array_foreach(json_object_get(pm, "participants"), i, a)
    {
        fputs("  - ", f);
        put_str(f, json_string_value(a));
        fputc('\n', f);
    }
    fputs("notes:\n", f);
    json_array_foreach(json_object_get(pm, "notes"), i, a)
    {
        fputs("  - ", f);
        put_str(f, rune_report_str(a, "text"));
        fputc('\n', f);
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* ---- Reading the form back ---- */

static const char *scalar(const struct rune_node *n)
{
    return n && n->kind == RUNE_NODE_SCALAR && !rune_node_is_null(n) ? n->str : NULL;
}

/* A list of strings under key (absent: empty); NULL with a diagnostic. */
static json_t *strings(const struct rune_node *root, const char *key, struct rune_diags *d)
{
    const struct rune_node *n = rune_node_get(root, key);
    json_t *out = json_array();
    if (!n || rune_node_is_null(n))
        return out;
    if (n->kind != RUNE_NODE_SEQ) {
        rune_diag_add(d, n->mark, "%s must be a list, found %s", key, rune_node_describe(n));
        json_decref(out);
        return NULL;
    }
    for (size_t i = 0; i < n->n; i++) {
        const char *s = scalar(n->items[i]);
        if (!s) {
            rune_diag_add(d, n->items[i]->mark, "each of %s must be text, found %s", key,
                          rune_node_describe(n->items[i]));
            continue;
        }
        json_array_append_new(out, json_string(s));
    }
    return out;
}

/* One action of the form: {text, owner?, due?, status}; NULL (diagnosed)
 * when it is wrong. */
static json_t *action_of(const struct rune_node *n, struct rune_diags *d)
{
    static const char *const keys[] = {"text", "owner", "due", "status"};
    if (n->kind != RUNE_NODE_MAP) {
        rune_diag_add(d, n->mark, "an action must be a mapping {text, owner, due, status}");
        return NULL;
    }
    for (size_t i = 0; i < n->n; i++) {
        bool known = false;
        for (size_t k = 0; k < 4; k++)
            known |= !strcmp(n->keys[i]->str, keys[k]);
        if (!known) {
            rune_diag_add(d, n->keys[i]->mark,
                          "unknown key \"%s\" in an action; give text, owner, due, status",
                          n->keys[i]->str);
            return NULL;
        }
    }
    const char *text = scalar(rune_node_get(n, "text"));
    const char *owner = scalar(rune_node_get(n, "owner"));
    const char *due = scalar(rune_node_get(n, "due"));
    const char *status = scalar(rune_node_get(n, "status"));
    if (!text || !*text) {
        rune_diag_add(d, n->mark, "an action needs its text");
        return NULL;
    }
    if (due && *due && !rune_clock_is_day(due)) {
        rune_diag_add(d, rune_node_get(n, "due")->mark,
                      "due \"%s\" is not a date; give it as 2026-12-31", due);
        return NULL;
    }
    if (!status || !*status)
        status = "open";
    if (strcmp(status, "open") && strcmp(status, "done") && strcmp(status, "cancelled")) {
        rune_diag_add(d, rune_node_get(n, "status")->mark,
                      "status \"%s\": give open, done or cancelled", status);
        return NULL;
    }
    json_t *a = json_pack("{s:s, s:s}", "text", text, "status", status);
    if (owner && *owner)
        json_object_set_new(a, "owner", json_string(owner));
    if (due && *due)
        json_object_set_new(a, "due", json_string(due));
    return a;
}

static json_t *find_action(json_t *list, const char *text)
{
    size_t i;
    json_t *a;
    json_array_foreach(list, i, a)
    {
        const char *t = rune_report_str(a, "text");
        if (t && !strcmp(t, text))
            return a;
    }
    return NULL;
}

static bool same_str(const char *a, const char *b)
{
    return !strcmp(a ? a : "", b ? b : "");
}

/* The actions that differ from the current ones (new, or owner, due or
 * status changed), into note; a current action missing from the form is
 * refused (the chain cannot forget one). */
static void diff_actions(const struct rune_node *root, json_t *pm, json_t *note,
                         struct rune_diags *d)
{
    const struct rune_node *n = rune_node_get(root, "actions");
    json_t *now = json_object_get(pm, "actions"), *edited = json_array(), *out = json_array(), *a;
    size_t i;

    if (n && !rune_node_is_null(n) && n->kind != RUNE_NODE_SEQ)
        rune_diag_add(d, n->mark, "actions must be a list, found %s", rune_node_describe(n));
    else
        for (i = 0; n && i < n->n; i++) {
            json_t *x = action_of(n->items[i], d);
            if (x)
                json_array_append_new(edited, x);
        }
    json_array_foreach(now, i, a)
    {
        if (!find_action(edited, rune_report_str(a, "text")))
            rune_diag_add(d, n ? n->mark : root->mark,
                          "the action \"%s\" is gone from the form; actions cannot be removed "
                          "from the log: set its status to cancelled",
                          rune_report_str(a, "text"));
    }
    json_array_foreach(edited, i, a)
    {
        json_t *was = find_action(now, rune_report_str(a, "text"));
        if (!was || !same_str(rune_report_str(a, "owner"), rune_report_str(was, "owner")) ||
            !same_str(rune_report_str(a, "due"), rune_report_str(was, "due")) ||
            !same_str(rune_report_str(a, "status"), rune_report_str(was, "status")))
            json_array_append(out, a);
    }
    if (json_array_size(out))
        json_object_set(note, "actions", out);
    json_decref(out);
    json_decref(edited);
}

/* Participants and free notes add up: the form's list must keep the
 * current ones; what it adds goes into note. */
static void diff_added(const struct rune_node *root, const char *key, json_t *now, json_t *note,
                       struct rune_diags *d)
{
    json_t *edited = strings(root, key, d), *added = json_array(), *x, *y;
    size_t i, k;
    const struct rune_node *n = rune_node_get(root, key);

    if (!edited) {
        json_decref(added);
        return;
    }
    json_array_foreach(now, i, x)
    {
        const char *want = json_is_string(x) ? json_string_value(x) : rune_report_str(x, "text");
        bool kept = false;
        json_array_foreach(edited, k, y) kept |= same_str(json_string_value(y), want);
        if (!kept)
            rune_diag_add(d, n ? n->mark : root->mark,
                          "\"%s\" is gone from %s; the log keeps every one: add, do not remove",
                          want ? want : "", key);
    }
    json_array_foreach(edited, i, y)
    {
        bool had = false;
        json_array_foreach(now, k, x) had |=
            same_str(json_string_value(y),
                     json_is_string(x) ? json_string_value(x) : rune_report_str(x, "text"));
        if (!had && *json_string_value(y))
            json_array_append(added, y);
    }
    if (!strcmp(key, "participants") && json_array_size(added))
        json_object_set(note, "participants", added);
    if (!strcmp(key, "notes") && json_array_size(added)) {
        /* one event holds one free note: several added are one, a blank line apart */
        char *joined = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&joined, &len);
        if (f) {
            json_array_foreach(added, i, y)
                fprintf(f, "%s%s", i ? "\n\n" : "", json_string_value(y));
            if (fclose(f) == 0)
                json_object_set_new(note, "text", json_string(joined));
        }
        free(joined);
    }
    json_decref(added);
    json_decref(edited);
}

/* The note the form asks for, against the current notes pm: {} when
 * nothing changed; NULL after diagnostics when the form is wrong. */
static json_t *note_of(const struct rune_node *root, json_t *pm, struct rune_diags *d)
{
    static const char *const known[] = {"root_cause", "contributing", "impact",
                                        "actions",    "participants", "notes"};
    json_t *note = json_object();

    if (root->kind != RUNE_NODE_MAP) {
        rune_diag_add(d, root->mark,
                      "the form must be a mapping of root_cause, contributing, "
                      "impact, actions, participants, notes");
        json_decref(note);
        return NULL;
    }
    for (size_t i = 0; i < root->n; i++) {
        bool ok = false;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            ok |= !strcmp(root->keys[i]->str, known[k]);
        if (!ok)
            rune_diag_add(d, root->keys[i]->mark,
                          "unknown key \"%s\"; the form has root_cause, contributing, impact, "
                          "actions, participants, notes",
                          root->keys[i]->str);
    }
    for (size_t k = 0; k < sizeof text_keys / sizeof text_keys[0]; k++) {
        const struct rune_node *n = rune_node_get(root, text_keys[k]);
        const char *was = text_of(pm, text_keys[k]), *is = scalar(n);
        if (n && !rune_node_is_null(n) && n->kind != RUNE_NODE_SCALAR) {
            rune_diag_add(d, n->mark, "%s must be text, found %s", text_keys[k],
                          rune_node_describe(n));
            continue;
        }
        if (same_str(was, is))
            continue;
        if (!is || !*is)
            rune_diag_add(d, n ? n->mark : root->mark,
                          "%s was emptied; the log cannot unsay it: write what replaces it",
                          text_keys[k]);
        else
            json_object_set_new(note, text_keys[k], json_string(is));
    }
    diff_actions(root, pm, note, d);
    diff_added(root, "participants", json_object_get(pm, "participants"), note, d);
    diff_added(root, "notes", json_object_get(pm, "notes"), note, d);
    if (d->n) {
        json_decref(note);
        return NULL;
    }
    return note;
}

/* ---- Files and the editor ---- */

/* The whole file at path into a NUL-terminated *text; -1 printed. ours:
 * the form rune wrote, which a link put in its place must not replace. */
static int slurp(const char *path, bool ours, char **text, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (ours ? O_NOFOLLOW : 0));
    struct stat st;
    char *buf = NULL;
    size_t got = 0;

    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "rune log note: cannot read the form %s: %s\n", path,
                fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!(buf = malloc(FORM_MAX + 1))) {
        close(fd);
        fprintf(stderr, "rune log note: no memory to read %s\n", path);
        return -1;
    }
    for (;;) {
        ssize_t k = read(fd, buf + got, FORM_MAX + 1 - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
        if (got > FORM_MAX) {
            fprintf(stderr, "rune log note: the form %s is larger than %d bytes\n", path, FORM_MAX);
            free(buf);
            close(fd);
            return -1;
        }
    }
    close(fd);
    buf[got] = '\0';
    *text = buf;
    *len = got;
    return 0;
}

/* $EDITOR (else vi) on path, on this terminal. $EDITOR may hold arguments
 * ("code --wait"), so it is run by sh as git runs it; the path is passed
 * as sh's $1, never pasted into the command. engine/proc.c captures what
 * children print, which an editor must not have, hence its own spawn. */
static int edit(const char *path)
{
    const char *ed = getenv("EDITOR");
    char cmd[4096];
    pid_t pid;
    int st;

    if (!ed || !*ed)
        ed = "vi";
    snprintf(cmd, sizeof cmd, "%s \"$1\"", ed);
    char *argv[] = {"sh", "-c", cmd, "rune-editor", (char *)path, NULL};
    int rc = posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ);
    if (rc != 0) {
        fprintf(stderr, "rune log note: cannot start the editor (%s): %s\n", ed, strerror(rc));
        return -1;
    }
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) {
            fprintf(stderr, "rune log note: lost the editor (%s): %s\n", ed, strerror(errno));
            return -1;
        }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr,
                "rune log note: the editor (%s) %s %d; nothing recorded, the form is kept at %s\n",
                ed, WIFEXITED(st) ? "exited with" : "was killed by signal",
                WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), path);
        return -1;
    }
    return 0;
}

/* The form written into a private directory: dir and path filled. */
static int write_form(const char *id, const char *form, char *dir, size_t dirlen, char *path,
                      size_t pathlen)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, dirlen, "%s/rune-note.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "rune log note: cannot make a private directory for the form (%s): %s\n",
                dir, strerror(errno));
        return -1;
    }
    snprintf(path, pathlen, "%s/notes-%s.yaml", dir, id);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    size_t n = strlen(form);
    if (fd < 0 || write(fd, form, n) != (ssize_t)n || close(fd) != 0) {
        fprintf(stderr, "rune log note: cannot write the form %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            unlink(path);
        rmdir(dir);
        return -1;
    }
    return 0;
}

static void remove_form(const char *dir, const char *path)
{
    unlink(path);
    rmdir(dir);
}

int cmd_log_note_edit(struct rune_journal *j, const char *id, const char *author, const char *file)
{
    char err[1024], dir[PATH_MAX], path[PATH_MAX];
    char *form = NULL, *text = NULL;
    size_t len = 0;
    json_t *rep = NULL, *note = NULL;
    struct rune_node *root = NULL;
    struct rune_diags d = RUNE_DIAGS_INIT;
    int rc = RUNE_EXIT_INTERNAL;
    bool keep = true;

    dir[0] = '\0';

    if (rune_report_build(j, id, &rep, err, sizeof err) != 0) {
        fprintf(stderr, "rune log note: %s\n", err);
        return RUNE_EXIT_INTERNAL;
    }
    json_t *pm = json_object_get(rep, "postmortem");
    if (!(form = form_of(pm, id))) {
        fprintf(stderr, "rune log note: no memory for the form\n");
        goto out;
    }
    if (file) {
        snprintf(path, sizeof path, "%s", file);
        dir[0] = '\0';
    } else {
        if (write_form(id, form, dir, sizeof dir, path, sizeof path) != 0)
            goto out;
        if (edit(path) != 0)
            goto out;
    }
    if (slurp(path, !file, &text, &len) != 0)
        goto out;
    if (!file && len == strlen(form) && !memcmp(text, form, len)) {
        printf("incident %s: the notes were not changed; nothing recorded\n", id);
        keep = false;
        rc = RUNE_EXIT_OK;
        goto out;
    }
    rc = RUNE_EXIT_INVALID;
    root = rune_yaml_parse(path, text, len, &d);
    if (root)
        note = note_of(root, pm, &d);
    if (!note) {
        rune_diags_print(&d, stderr);
        fprintf(stderr,
                "rune log note: nothing recorded; the form is kept at %s: fix it and give it "
                "back with `rune log note %s --file %s`\n",
                path, id, path);
        goto out;
    }
    if (!json_object_size(note)) {
        printf("incident %s: the notes say what the log already holds; nothing recorded\n", id);
        keep = false;
        rc = RUNE_EXIT_OK;
        goto out;
    }
    long long seq = rune_record_postmortem(j, id, author, note, err, sizeof err);
    if (seq < 0) {
        fprintf(stderr, "rune log note: %s; the form is kept at %s\n", err, path);
        rc = RUNE_EXIT_INTERNAL;
        goto out;
    }
    printf("incident %s: the changes recorded as event %lld by %s; `rune report %s` shows them\n",
           id, seq, author, id);
    keep = false;
    rc = RUNE_EXIT_OK;
out:
    /* a form given with --file is the person's: never removed */
    if (!keep && !file && dir[0])
        remove_form(dir, path);
    rune_diags_free(&d);
    rune_node_free(root);
    json_decref(note);
    json_decref(rep);
    free(text);
    free(form);
    return rc;
}
