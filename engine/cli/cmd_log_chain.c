/*
 * cmd_log_chain.c — the tamper evidence of `rune log`: verify recomputes
 * the hash chain of one or every incident and the links between them
 * (journal.c does the work, with the writer's own canonical form), export
 * gives an incident as stored with its verdict, and head prints the
 * log's head, for a team to keep somewhere else and check later.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_log.h"
#include "exitcode.h"

/* ---- rune log verify ID | --all ---- */

static json_t *chain_json(const char *id, const struct rune_chain_result *res)
{
    json_t *linked = res->linked_to[0] ? json_pack("{s:s, s:I}", "incident", res->linked_to, "seq",
                                                   (json_int_t)res->linked_seq)
                                       : json_null();
    return json_pack("{s:s, s:b, s:I, s:o, s:s, s:o, s:o, s:o}", "id", id, "verified",
                     res->problem == RUNE_CHAIN_INTACT, "events", (json_int_t)res->events,
                     "head_hash", res->head_hash[0] ? json_string(res->head_hash) : json_null(),
                     "problem", rune_chain_problem_name(res->problem), "seq",
                     res->seq ? json_integer(res->seq) : json_null(), "message",
                     res->problem ? json_string(res->message) : json_null(), "linked_to", linked);
}

static void print_chain(const char *id, const struct rune_chain_result *res)
{
    fputs("incident ", stdout);
    cmd_log_put_clean(id);
    if (res->problem == RUNE_CHAIN_INTACT) {
        printf(": chain intact (%lld event%s", res->events, res->events == 1 ? "" : "s");
        if (res->linked_to[0])
            printf(", linked to incident %s event %lld", res->linked_to, res->linked_seq);
        printf("); head hash %s\n", res->head_hash[0] ? res->head_hash : "(none)");
        return;
    }
    printf(": chain BROKEN (%s", rune_chain_problem_name(res->problem));
    if (res->seq && res->problem != RUNE_CHAIN_LINK)
        printf(" at seq %lld", res->seq);
    fputs("): ", stdout);
    cmd_log_put_clean(res->message);
    putchar('\n');
}

/* Verifies one incident: 0 intact, 1 broken, -1 error (printed), or
 * RUNE_JOURNAL_UNKNOWN. The verdict is printed or appended to out. */
static int verify_one(struct rune_journal *j, const char *id, const struct log_opts *o, json_t *out)
{
    struct rune_chain_result res;
    int rc = rune_journal_verify(j, id, &res);

    if (rc == RUNE_JOURNAL_UNKNOWN) {
        fprintf(stderr, "rune log verify: no incident %s in %s; `rune log` lists them\n", id,
                rune_journal_path(j));
        return rc;
    }
    if (rc != 0) {
        fprintf(stderr, "rune log verify: %s\n", rune_journal_error(j));
        return -1;
    }
    if (o->json)
        json_array_append_new(out, chain_json(id, &res));
    else
        print_chain(id, &res);
    return res.problem != RUNE_CHAIN_INTACT;
}

int cmd_log_verify(struct rune_journal *j, const char *id, const struct log_opts *o)
{
    json_t *out = json_array(), *list = NULL, *inc;
    int broken = 0, rc = RUNE_EXIT_OK;
    size_t i;

    if (!o->all) {
        int v = verify_one(j, id, o, out);
        rc = v == RUNE_JOURNAL_UNKNOWN ? RUNE_EXIT_INVALID
             : v < 0                   ? RUNE_EXIT_INTERNAL
             : v                       ? RUNE_EXIT_FAILED
                                       : RUNE_EXIT_OK;
        if (v >= 0 && v != RUNE_JOURNAL_UNKNOWN && o->json)
            cmd_log_print_json(json_array_get(out, 0), "the verdict");
        json_decref(out);
        return rc;
    }
    if (!(list = rune_journal_list(j, NULL, 0))) {
        fprintf(stderr, "rune log verify: %s\n", rune_journal_error(j));
        json_decref(out);
        return RUNE_EXIT_INTERNAL;
    }
    json_array_foreach(list, i, inc)
    {
        int v = verify_one(j, json_string_value(json_object_get(inc, "id")), o, out);
        if (v < 0 || v == RUNE_JOURNAL_UNKNOWN) {
            rc = RUNE_EXIT_INTERNAL;
            break;
        }
        broken += v;
    }
    if (rc == RUNE_EXIT_OK && o->json)
        cmd_log_print_json(out, "the verdicts");
    else if (rc == RUNE_EXIT_OK)
        printf("%zu incident%s verified: %zu intact, %d broken\n", json_array_size(list),
               json_array_size(list) == 1 ? "" : "s", json_array_size(list) - (size_t)broken,
               broken);
    json_decref(list);
    json_decref(out);
    return rc != RUNE_EXIT_OK ? rc : broken ? RUNE_EXIT_FAILED : RUNE_EXIT_OK;
}

/* ---- rune log export ID ---- */

/* The incident row, its events as stored (detail parsed, prev_hash and
 * hash as they are) and its artifacts, with the chain's verdict: enough to
 * archive an incident or check its chain elsewhere. */
int cmd_log_export(struct rune_journal *j, const char *id, const struct log_opts *o)
{
    struct rune_chain_result res;
    json_t *inc = rune_journal_get(j, id), *out;
    int rc;

    if (!inc)
        return cmd_log_show(j, id, o); /* says why: unknown, or the error */
    if (rune_journal_verify(j, id, &res) != 0) {
        fprintf(stderr, "rune log export: %s\n", rune_journal_error(j));
        json_decref(inc);
        return RUNE_EXIT_INTERNAL;
    }
    json_t *events = json_incref(json_object_get(inc, "events"));
    json_t *artifacts = json_incref(json_object_get(inc, "artifacts"));
    json_object_del(inc, "events");
    json_object_del(inc, "artifacts");
    json_t *chain = chain_json(id, &res);
    json_object_del(chain, "id");
    out = json_pack("{s:i, s:o, s:o, s:o, s:o}", "export_version", 1, "incident", inc, "events",
                    events, "artifacts", artifacts, "chain", chain);
    rc = out ? cmd_log_print_json(out, "the export") : RUNE_EXIT_INTERNAL;
    if (!out)
        fprintf(stderr,
                "rune log export: no memory to assemble the export of incident %s: free memory "
                "on this host and run it again\n",
                id);
    json_decref(out);
    return rc;
}

/* ---- rune log head ---- */

/* The log's head: the last event of the incident begun last, which the
 * next incident's first event will link to. Kept elsewhere, it shows later
 * that nothing was cut from the end of the log or rewritten before it. */
int cmd_log_head(struct rune_journal *j, const char *id, const struct log_opts *o)
{
    struct rune_log_head h;
    int rc = rune_journal_head(j, &h);

    (void)id;
    if (rc < 0) {
        fprintf(stderr, "rune log head: %s\n", rune_journal_error(j));
        return RUNE_EXIT_INTERNAL;
    }
    if (o->json) {
        json_t *v = rc ? json_null()
                       : json_pack("{s:s, s:s, s:I, s:s}", "hash", h.hash, "incident", h.incident,
                                   "seq", (json_int_t)h.seq, "at", h.at);
        rc = cmd_log_print_json(v, "the head");
        json_decref(v);
        return rc;
    }
    if (rc == 1) {
        printf("no events recorded yet in %s\n", rune_journal_path(j));
        return RUNE_EXIT_OK;
    }
    printf("%s  incident %s event %lld at %s\n", h.hash, h.incident, h.seq, h.at);
    return RUNE_EXIT_OK;
}
