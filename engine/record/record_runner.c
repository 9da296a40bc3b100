/*
 * record_runner.c — whether an unfinished incident is still running:
 * its row has no outcome, and the rune recorded as running it (runners
 * table: pid and start, on the incident's host) is alive or gone. A rune
 * killed with -9, OOM-killed or lost with its host leaves its incident
 * without an end forever; this is how `rune log`, `rune report` and
 * `rune resume` tell such an abandoned run from one in progress, and find
 * the children it left behind.
 */
#include "record.h"

#include <string.h>
#include <unistd.h>

#include "procinfo.h"

const char *rune_run_state_name(enum rune_run_state s)
{
    static const char *const names[] = {"ended", "running", "abandoned", "unfinished"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "unfinished";
}

enum rune_run_state rune_record_run_state(struct rune_journal *j, json_t *inc,
                                          struct rune_runner *runner)
{
    struct rune_runner mine;
    struct rune_runner *rr = runner ? runner : &mine;
    const char *id = json_string_value(json_object_get(inc, "id"));
    char host[256] = "";

    memset(rr, 0, sizeof *rr);
    if (json_is_string(json_object_get(inc, "outcome")))
        return RUNE_RUN_ENDED;
    if (!id || rune_journal_runner(j, id, rr) != 0 || rr->pid <= 0)
        return RUNE_RUN_UNKNOWN;
    if (gethostname(host, sizeof host) != 0 || strcmp(host, rr->host) != 0)
        return RUNE_RUN_UNKNOWN; /* another host's process: not ours to judge */
    return rune_procinfo_alive((pid_t)rr->pid, rr->start) ? RUNE_RUN_RUNNING : RUNE_RUN_ABANDONED;
}

json_t *rune_record_orphans(struct rune_journal *j, const char *incident_id)
{
    json_t *kids = rune_journal_children(j, incident_id), *out = json_array(), *k;
    size_t i;

    if (!kids || !out) {
        json_decref(kids);
        json_decref(out);
        return NULL;
    }
    json_array_foreach(kids, i, k)
    {
        pid_t pgid = (pid_t)json_integer_value(json_object_get(k, "pid"));
        const char *start = json_string_value(json_object_get(k, "start"));
        pid_t pids[64];
        size_t n = rune_procinfo_group(pgid, start, pids, 64);
        if (n == 0)
            continue;
        json_t *alive = json_array();
        for (size_t m = 0; m < n && m < 64; m++)
            json_array_append_new(alive, json_integer(pids[m]));
        json_t *o = json_deep_copy(k);
        json_object_set_new(o, "alive", alive);
        json_array_append_new(out, o);
    }
    json_decref(kids);
    return out;
}
