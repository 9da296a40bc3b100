/*
 * approve.c — the operator approval gate, behind both `flow.confirm` and
 * a step's `confirm:`.
 *
 * --yes approves. Otherwise, on a terminal, the operator must type "yes".
 * With no terminal and no --yes the gate fails closed: an unattended run
 * never drops a database because nobody was there to say no. Every
 * decision is recorded with who, how and when.
 */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "runstate.h"

static bool ask(struct rune_run *r, const char *step, const char *question)
{
    rune_console_hold(r->con);
    fprintf(stderr,
            "\n  approval needed for step \"%s\":\n    %s\n  type \"yes\" to approve: ", step,
            question);
    fflush(stderr);
    /* the answer is read a byte at a time between looks at the interrupt
     * flag: Ctrl-C may be delivered to another thread, and must still end
     * the question (declined) instead of leaving it waiting for Enter */
    char line[64] = "";
    size_t n = 0;
    bool ok = false, stopped = false;
    for (;;) {
        if (atomic_load(&rune_interrupted)) {
            stopped = true;
            break;
        }
        struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
        int pr = poll(&pfd, 1, 200);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0)
            continue;
        char ch;
        ssize_t got = pr > 0 ? read(STDIN_FILENO, &ch, 1) : -1;
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0 || ch == '\n')
            break;
        if (n + 1 < sizeof line)
            line[n++] = ch;
    }
    line[n] = '\0';
    line[strcspn(line, "\r")] = '\0';
    ok = !stopped && (!strcmp(line, "yes") || !strcmp(line, "y") || !strcmp(line, "YES"));
    fprintf(stderr, "  %s\n\n", ok ? "approved" : stopped ? "declined (interrupted)" : "declined");
    rune_console_release(r->con);
    return ok;
}

bool rune_approve(struct rune_run *r, const char *stage, const char *step, const char *question)
{
    char *q = rune_redact(&r->red, question);
    bool approved;
    const char *how;
    pthread_mutex_lock(&r->prompt);
    if (r->o->dry_run) {
        /* a dry-run asks nobody: it shows the question a real run would ask */
        approved = true;
        how = "dry-run";
    } else if (r->o->yes) {
        approved = true;
        how = "--yes";
    } else if (isatty(STDIN_FILENO) && isatty(STDERR_FILENO)) {
        approved = ask(r, step, q);
        how = "terminal";
    } else {
        approved = false;
        how = "no-terminal";
    }
    pthread_mutex_unlock(&r->prompt);

    char at[RUNE_ISO_LEN];
    rune_clock_iso(at, rune_clock_wall_ms());
    rune_record_approval(&r->rec, stage, step,
                         &(struct rune_approval){q, r->o->operator_name, how, at, approved, NULL});
    if (approved && r->o->dry_run)
        rune_console_info(r->con, "      would ask for approval: %s", q);
    else if (approved)
        rune_console_info(r->con, "      approved by %s (%s): %s", r->o->operator_name, how, q);
    else if (!strcmp(how, "no-terminal"))
        rune_console_alert(r->con,
                           "      approval needed for step \"%s\": %s\n"
                           "      no terminal to ask on, so it is refused. Re-run from a "
                           "terminal, or pass --yes to approve every confirmation.",
                           step, q);
    free(q);
    return approved;
}

/* A step with confirm: was approved as a whole before it started; asking
 * again for the drop it was approved for would teach operators to type
 * "yes" without reading. The primitive's own question is still recorded,
 * with the question that covered it. */
bool rune_approve_covered(struct rune_run *r, const char *stage, const char *step,
                          const char *question, const char *covering)
{
    char *q = rune_redact(&r->red, question);
    char *cq = rune_redact(&r->red, covering);
    char at[RUNE_ISO_LEN];
    rune_clock_iso(at, rune_clock_wall_ms());
    rune_record_approval(
        &r->rec, stage, step,
        &(struct rune_approval){q, r->o->operator_name, "step confirm", at, true, cq});
    rune_console_info(r->con, "      covered by the step's approval: %s", q);
    free(q);
    free(cq);
    return true;
}
