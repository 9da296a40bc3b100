/*
 * cmd_resume.c — `rune resume ID [--yes]`: what makes an incident
 * resumable, and what a run over it needs from the log. The command line
 * is rune run's (cmd_run.c); the run itself is run.c with a replay of
 * the log (run/resume.h).
 *
 * Only an abandoned run is resumed: one with no outcome whose rune, on
 * this host, is gone. A running incident is refused (its steps would run
 * twice at once), so is an ended one (nothing to continue), a plan, one
 * that ran on another host, and one whose runbook file changed since.
 */
#include "cmd_resume.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcode.h"
#include "record.h"
#include "record_read.h"

/* Why an incident that is not abandoned cannot be resumed. An exit code. */
static int refuse(json_t *inc, enum rune_run_state st, const struct rune_runner *rr)
{
    const char *id = json_string_value(json_object_get(inc, "id"));
    json_t *code = json_object_get(inc, "exit_code");
    char host[256] = "";

    gethostname(host, sizeof host);
    switch (st) {
    case RUNE_RUN_ENDED:
        fprintf(stderr,
                "rune resume: incident %s ended (outcome %s, exit %lld, at %s): there is nothing "
                "to resume; `rune run` starts a new incident\n",
                id, json_string_value(json_object_get(inc, "outcome")),
                json_is_integer(code) ? (long long)json_integer_value(code) : -1LL,
                json_string_value(json_object_get(inc, "ended_at")));
        break;
    case RUNE_RUN_RUNNING:
        fprintf(stderr,
                "rune resume: incident %s is still running (its rune, pid %lld, is alive%s%s): "
                "resuming it would run its steps twice at once; wait for it to end, or stop it "
                "(Ctrl-C, kill %lld) and resume it then\n",
                id, rr->pid, rr->last_step[0] ? ", in step " : "", rr->last_step, rr->pid);
        break;
    default:
        if (rr->pid > 0 && strcmp(rr->host, host) != 0)
            fprintf(stderr,
                    "rune resume: incident %s ran on host %s, not here (%s): whether its rune "
                    "is alive can only be told there; resume it on %s\n",
                    id, rr->host, host, rr->host);
        else
            fprintf(stderr,
                    "rune resume: incident %s has no end, but the log does not say which rune "
                    "ran it (an older rune wrote it): whether it is still running cannot be "
                    "told, so it is not resumed\n",
                    id);
    }
    return RUNE_EXIT_INVALID;
}

/* The runbook file as recorded: its path (relative ones from the run's
 * directory), and the same bytes (its SHA-256). */
static struct rune_runbook *load_runbook(json_t *inc, const char *cwd)
{
    const char *path = json_string_value(json_object_get(inc, "runbook_path"));
    const char *sha = json_string_value(json_object_get(inc, "runbook_sha256"));
    const char *id = json_string_value(json_object_get(inc, "id"));
    char full[PATH_MAX];
    struct rune_diags d = RUNE_DIAGS_INIT;

    if (!path) {
        fprintf(stderr, "rune resume: incident %s records no runbook file; not resumed\n", id);
        return NULL;
    }
    if (path[0] != '/' && cwd)
        snprintf(full, sizeof full, "%s/%s", cwd, path);
    else
        snprintf(full, sizeof full, "%s", path);
    struct rune_runbook *rb = rune_runbook_load(full, &d);
    if (!rb) {
        rune_diags_print(&d, stderr);
        fprintf(stderr,
                "rune resume: the runbook of incident %s, %s, cannot be loaded (%zu problem%s); "
                "not resumed\n",
                id, full, d.n, d.n == 1 ? "" : "s");
        rune_diags_free(&d);
        return NULL;
    }
    rune_diags_free(&d);
    if (sha && strcmp(sha, rb->sha256) != 0) {
        fprintf(stderr,
                "rune resume: runbook %s changed since incident %s ran it (SHA-256 %.12s..., "
                "was %.12s...): its steps may not be the ones the log records; put the file "
                "back as it was to resume, or start a new run\n",
                full, id, rb->sha256, sha);
        rune_runbook_free(rb);
        return NULL;
    }
    return rb;
}

/* The recorded inputs as --set text under the ones given again. A value
 * recorded masked (a secret input, a password in a connection string)
 * must be given again. 0, or -1 (printed). */
static int recorded_inputs(json_t *inc, json_t *sets)
{
    json_t *inputs = json_object_get(inc, "inputs"), *v;
    const char *name;
    int rc = 0;

    json_object_foreach(inputs, name, v)
    {
        char *text;
        if (json_object_get(sets, name) || json_is_null(v))
            continue; /* given again, or not given at all (its default applies again) */
        text = json_is_string(v) ? strdup(json_string_value(v))
                                 : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text)
            return -1;
        if (strstr(text, "***")) {
            fprintf(stderr,
                    "rune resume: input %s was recorded masked (it holds a secret); give it "
                    "again: --set %s=...\n",
                    name, name);
            rc = -1;
        } else {
            json_object_set_new(sets, name, json_string(text));
        }
        free(text);
    }
    return rc;
}

/* incident.start's working directory, or NULL. */
static const char *run_cwd(json_t *inc)
{
    json_t *ev = json_array_get(json_object_get(inc, "events"), 0);
    struct rune_rec_event e;
    if (!ev)
        return NULL;
    rune_record_decode(ev, &e);
    return e.kind == RUNE_EV_INCIDENT_START ? e.cwd : NULL;
}

int cmd_resume_prepare(const char *id, const char *log_path, json_t *sets, struct rune_runbook **rb,
                       json_t **incp)
{
    struct rune_journal *j = NULL;
    struct rune_runner rr;
    char err[1024];
    int rc = rune_journal_open_read(log_path, &j, err, sizeof err);
    json_t *inc = NULL;

    *rb = NULL;
    *incp = NULL;
    if (rc != 0) {
        fprintf(stderr, "rune resume: %s\n",
                rc == RUNE_JOURNAL_ABSENT ? "no incidents recorded yet" : err);
        return rc == RUNE_JOURNAL_ABSENT ? RUNE_EXIT_INVALID : RUNE_EXIT_INTERNAL;
    }
    inc = rune_journal_get(j, id);
    if (!inc) {
        if (*rune_journal_error(j))
            fprintf(stderr, "rune resume: %s\n", rune_journal_error(j));
        else
            fprintf(stderr, "rune resume: no incident %s in %s; `rune log` lists them\n", id,
                    rune_journal_path(j));
        rc = *rune_journal_error(j) ? RUNE_EXIT_INTERNAL : RUNE_EXIT_INVALID;
        goto out;
    }
    const char *mode = json_string_value(json_object_get(inc, "mode"));
    if (mode && !strcmp(mode, "dry-run")) {
        fprintf(stderr,
                "rune resume: incident %s is a plan (a simulation): a plan is not resumed; run "
                "`rune plan` again\n",
                id);
        rc = RUNE_EXIT_INVALID;
        goto out;
    }
    enum rune_run_state st = rune_record_run_state(j, inc, &rr);
    if (st != RUNE_RUN_ABANDONED) {
        rc = refuse(inc, st, &rr);
        goto out;
    }
    json_object_set_new(inc, "runner_pid", json_integer(rr.pid));
    const char *cwd = run_cwd(inc);
    if (!(*rb = load_runbook(inc, cwd)) || recorded_inputs(inc, sets) != 0) {
        rc = RUNE_EXIT_INVALID;
        goto out;
    }
    /* the steps run where the dead run ran them (relative paths in
     * scripts); the log and reports were made absolute by the caller */
    if (cwd && chdir(cwd) != 0)
        fprintf(stderr,
                "rune resume: warning: cannot go to the run's directory %s; going on in %s\n", cwd,
                getcwd(err, sizeof err) ? err : ".");
    *incp = inc;
    inc = NULL;
    rc = RUNE_EXIT_OK;
out:
    if (rc != RUNE_EXIT_OK && *rb) {
        rune_runbook_free(*rb);
        *rb = NULL;
    }
    json_decref(inc);
    rune_journal_close(j);
    return rc;
}
