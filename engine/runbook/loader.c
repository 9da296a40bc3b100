/*
 * loader.c — from a runbook file to the model: reads the bytes (and their
 * SHA-256, recorded with every run), parses YAML, and checks the shape:
 * known keys only, the right type for every field, well-formed ids,
 * durations, retry and failure policies. Semantic checks that need the
 * step registry or the whole graph live in validate.c.
 */
#include "model.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "duration.h"
#include "keys.h"
#include "lua.h"
#include "luatype.h"
#include "params.h"
#include "suggest.h"

const char *const rune_stage_names[RUNE_NSTAGES] = {"detection", "impact", "mitigation",
                                                    "verification", "rollback"};
const char *const rune_policy_names[3] = {"abort", "continue", "rollback"};

static const char *const top_keys[] = {
    "runbook",    "title",        "summary",  "description", "owner",    "tags",      "objectives",
    "inputs",     "secrets",      "targets",  "lock",        "defaults", "detection", "impact",
    "mitigation", "verification", "rollback", "kind",        "report"};
static const char *const stage_keys[] = {"steps", "description", "incident_if", "severity"};
static const char *const step_keys[] = {"id",       "uses",        "lua",   "with",       "needs",
                                        "when",     "timeout",     "retry", "on_failure", "confirm",
                                        "simulate", "description", "print", "idempotent"};
static const char *const input_keys[] = {"type",        "default", "required",
                                         "description", "secret",  "choices"};
static const char *const secret_keys[] = {"env", "file", "required", "description"};
static const char *const retry_keys[] = {"attempts", "delay", "backoff", "max_delay"};
static const char *const objectives_keys[] = {"rto", "rpo"};
static const char *const defaults_keys[] = {"timeout"};
static const char *const report_keys[] = {"template"};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Far above any real runbook, low enough that what validation does per
 * step pair (unique ids, `needs`, ordering of references) stays quick on
 * a hostile file. */
#define MAX_STEPS 1000
/* A runbook file is read whole; documented in docs/runbook-format.md. */
#define RUNE_RUNBOOK_MAX_BYTES (16 << 20)

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        abort();
    return p;
}

/* Unknown keys are errors, not warnings: a misspelt `timeout` that is
 * silently ignored is a step that hangs at 3 a.m. */
static void check_keys(const struct rune_node *map, const char *const *allowed, size_t n,
                       const char *where, struct rune_diags *d)
{
    for (size_t i = 0; i < map->n; i++) {
        const char *k = map->keys[i]->str;
        bool ok = false;
        for (size_t j = 0; j < n && !ok; j++)
            ok = strcmp(k, allowed[j]) == 0;
        if (ok)
            continue;
        char hint[128];
        rune_suggest_hint(k, allowed, n, hint, sizeof hint);
        if (hint[0]) {
            rune_diag_add(d, map->keys[i]->mark, "unknown key \"%s\" in %s%s", k, where, hint);
        } else {
            char list[512] = "";
            for (size_t j = 0; j < n; j++) {
                strncat(list, j ? ", " : "", sizeof list - strlen(list) - 1);
                strncat(list, allowed[j], sizeof list - strlen(list) - 1);
            }
            rune_diag_add(d, map->keys[i]->mark, "unknown key \"%s\" in %s; expected one of: %s", k,
                          where, list);
        }
    }
}

static bool want_kind(const struct rune_node *n, enum rune_node_kind kind, const char *what,
                      struct rune_diags *d)
{
    if (n->kind == kind)
        return true;
    const char *exp = kind == RUNE_NODE_MAP   ? "a mapping"
                      : kind == RUNE_NODE_SEQ ? "a list"
                                              : "a value";
    rune_diag_add(d, n->mark, "%s must be %s, found %s", what, exp, rune_node_describe(n));
    return false;
}

/* A scalar string field (numbers are accepted as their text: `title: 2024`). */
static const char *want_text(const struct rune_node *n, const char *what, struct rune_diags *d)
{
    if (!n)
        return NULL;
    if (n->kind != RUNE_NODE_SCALAR || rune_node_is_null(n)) {
        rune_diag_add(d, n->mark, "%s must be a string, found %s", what, rune_node_describe(n));
        return NULL;
    }
    return n->str;
}

static bool want_duration(const struct rune_node *n, const char *what, long long *ms,
                          struct rune_diags *d)
{
    if (n->kind != RUNE_NODE_SCALAR || rune_duration_parse(n->str, ms) != 0) {
        rune_diag_add(
            d, n->mark, "%s must be a duration like 30s, 5m, 1h30m or 250ms, found %s%s%s%s", what,
            rune_node_describe(n), n->kind == RUNE_NODE_SCALAR ? " \"" : "",
            n->kind == RUNE_NODE_SCALAR ? n->str : "", n->kind == RUNE_NODE_SCALAR ? "\"" : "");
        return false;
    }
    return true;
}

static bool is_identifier(const char *s)
{
    if (!s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

static void load_objectives(struct rune_runbook *rb, const struct rune_node *n,
                            struct rune_diags *d)
{
    if (!want_kind(n, RUNE_NODE_MAP, "objectives", d))
        return;
    check_keys(n, objectives_keys, N(objectives_keys), "objectives", d);
    const struct rune_node *v;
    if ((v = rune_node_get(n, "rto")))
        want_duration(v, "objectives.rto", &rb->rto_ms, d);
    if ((v = rune_node_get(n, "rpo")))
        want_duration(v, "objectives.rpo", &rb->rpo_ms, d);
}

static void load_inputs(struct rune_runbook *rb, const struct rune_node *n, struct rune_diags *d)
{
    if (!want_kind(n, RUNE_NODE_MAP, "inputs", d))
        return;
    rb->inputs = xcalloc(n->n, sizeof *rb->inputs);
    for (size_t i = 0; i < n->n; i++) {
        const struct rune_node *k = n->keys[i], *v = n->items[i];
        struct rune_inputdef *in = &rb->inputs[rb->ninputs++];
        in->name = k->str;
        in->mark = k->mark;
        in->type = RUNE_T_STRING;
        if (!is_identifier(k->str))
            rune_diag_add(d, k->mark,
                          "input name \"%s\" must be letters, digits and _ (it is used as "
                          "inputs.%s)",
                          k->str, k->str);
        if (!want_kind(v, RUNE_NODE_MAP, "an input declaration", d))
            continue;
        check_keys(v, input_keys, N(input_keys), "an input declaration", d);
        const struct rune_node *t = rune_node_get(v, "type");
        if (t) {
            const char *tn = want_text(t, "type", d);
            enum rune_type ty = tn ? rune_type_parse(tn) : (enum rune_type) - 1;
            if (tn && (int)ty < 0)
                rune_diag_add(d, t->mark,
                              "unknown input type \"%s\"; expected string, int, number, bool, "
                              "duration, path, list or map",
                              tn);
            else if (tn)
                in->type = ty;
        }
        in->def = rune_node_get(v, "default");
        in->choices = rune_node_get(v, "choices");
        if (in->choices)
            want_kind(in->choices, RUNE_NODE_SEQ, "choices", d);
        const struct rune_node *r = rune_node_get(v, "required");
        if (r && !rune_node_is_bool(r, &in->required))
            rune_diag_add(d, r->mark, "required must be true or false, found %s",
                          rune_node_describe(r));
        const struct rune_node *s = rune_node_get(v, "secret");
        if (s && !rune_node_is_bool(s, &in->secret))
            rune_diag_add(d, s->mark, "secret must be true or false, found %s",
                          rune_node_describe(s));
        in->description = want_text(rune_node_get(v, "description"), "description", d);
        if (in->secret && in->type != RUNE_T_STRING)
            rune_diag_add(d, s->mark,
                          "a secret input must be of type string (only text can be "
                          "masked reliably in logs)");
        if (in->required && in->def)
            rune_diag_add(d, in->def->mark,
                          "input \"%s\" is required and has a default; drop one of them", in->name);
    }
}

static void load_secrets(struct rune_runbook *rb, const struct rune_node *n, struct rune_diags *d)
{
    if (!want_kind(n, RUNE_NODE_MAP, "secrets", d))
        return;
    rb->secrets = xcalloc(n->n, sizeof *rb->secrets);
    for (size_t i = 0; i < n->n; i++) {
        const struct rune_node *k = n->keys[i], *v = n->items[i];
        struct rune_secretdef *s = &rb->secrets[rb->nsecrets++];
        s->name = k->str;
        s->mark = k->mark;
        s->required = true;
        if (!is_identifier(k->str))
            rune_diag_add(d, k->mark, "secret name \"%s\" must be letters, digits and _", k->str);
        if (!want_kind(v, RUNE_NODE_MAP, "a secret declaration", d))
            continue;
        check_keys(v, secret_keys, N(secret_keys), "a secret declaration", d);
        s->env = want_text(rune_node_get(v, "env"), "env", d);
        s->file = want_text(rune_node_get(v, "file"), "file", d);
        if (!!s->env == !!s->file)
            rune_diag_add(d, v->mark,
                          "secret \"%s\" needs exactly one source: env: VARIABLE or file: PATH",
                          s->name);
        const struct rune_node *r = rune_node_get(v, "required");
        if (r && !rune_node_is_bool(r, &s->required))
            rune_diag_add(d, r->mark, "required must be true or false");
    }
}

/* targets: name → {kind: K, field: value...}; fields are checked against
 * the kind in validate.c, once the kinds are known. */
static void load_targets(struct rune_runbook *rb, const struct rune_node *n, struct rune_diags *d)
{
    if (!want_kind(n, RUNE_NODE_MAP, "targets", d))
        return;
    rb->targets = xcalloc(n->n, sizeof *rb->targets);
    for (size_t i = 0; i < n->n; i++) {
        const struct rune_node *k = n->keys[i], *v = n->items[i];
        if (!is_identifier(k->str))
            rune_diag_add(d, k->mark, "target name \"%s\" must be letters, digits and _", k->str);
        if (!want_kind(v, RUNE_NODE_MAP, "a target declaration like { kind: postgres, ... }", d))
            continue;
        struct rune_targetdef *t = &rb->targets[rb->ntargets++];
        t->name = k->str;
        t->mark = k->mark;
        t->node = v;
        const struct rune_node *kind = rune_node_get(v, "kind");
        if (!kind) {
            rune_diag_add(d, v->mark, "target \"%s\" needs a kind (postgres, service, ...)",
                          k->str);
            continue;
        }
        t->kind_name = want_text(kind, "kind", d);
        t->kind_mark = kind->mark;
    }
}

static void load_retry(struct rune_stepdef *st, const struct rune_node *n, struct rune_diags *d)
{
    long long v;
    if (n->kind == RUNE_NODE_SCALAR) {
        if (!rune_node_is_int(n, &v) || v < 1 || v > 100) {
            rune_diag_add(d, n->mark,
                          "retry must be a number of attempts (1-100) or a mapping "
                          "{attempts, delay, backoff, max_delay}, found %s",
                          rune_node_describe(n));
            return;
        }
        st->retry.attempts = (int)v;
        return;
    }
    if (!want_kind(n, RUNE_NODE_MAP, "retry", d))
        return;
    check_keys(n, retry_keys, N(retry_keys), "retry", d);
    const struct rune_node *a = rune_node_get(n, "attempts");
    if (a) {
        if (!rune_node_is_int(a, &v) || v < 1 || v > 100)
            rune_diag_add(d, a->mark, "retry.attempts must be an integer from 1 to 100");
        else
            st->retry.attempts = (int)v;
    }
    if ((a = rune_node_get(n, "delay")))
        want_duration(a, "retry.delay", &st->retry.delay_ms, d);
    if ((a = rune_node_get(n, "max_delay")))
        want_duration(a, "retry.max_delay", &st->retry.max_delay_ms, d);
    if ((a = rune_node_get(n, "backoff"))) {
        json_t *j = rune_scalar_json(a);
        if (a->kind != RUNE_NODE_SCALAR || !json_is_number(j) || json_number_value(j) < 1.0 ||
            json_number_value(j) > 10.0)
            rune_diag_add(d, a->mark,
                          "retry.backoff must be a number from 1 to 10 "
                          "(the delay multiplier per attempt)");
        else
            st->retry.backoff = json_number_value(j);
        json_decref(j);
    }
}

static enum rune_policy default_policy(enum rune_stage_id s)
{
    switch (s) {
    case RUNE_DETECTION:
        return RUNE_POLICY_CONTINUE;
    case RUNE_IMPACT:
        return RUNE_POLICY_ABORT;
    case RUNE_MITIGATION:
    case RUNE_VERIFICATION:
        return RUNE_POLICY_ROLLBACK;
    default:
        return RUNE_POLICY_CONTINUE;
    }
}

static void load_step(struct rune_runbook *rb, struct rune_stepdef *st, const struct rune_node *n,
                      enum rune_stage_id stage, struct rune_diags *d)
{
    st->node = n;
    st->stage = stage;
    st->timeout_ms = rb->default_timeout_ms;
    st->retry = (struct rune_retry){1, 1000, 2.0, 60000};
    st->on_failure = default_policy(stage);
    st->id_mark = n->mark;
    st->uses_mark = n->mark;
    if (!want_kind(n, RUNE_NODE_MAP, "a step", d))
        return;
    check_keys(n, step_keys, N(step_keys), "a step", d);

    const struct rune_node *v = rune_node_get(n, "id");
    if (!v) {
        rune_diag_add(d, n->mark, "step has no id; add `id: NAME` (letters, digits, _)");
    } else if ((st->id = want_text(v, "id", d))) {
        st->id_mark = v->mark;
        if (!is_identifier(st->id)) {
            rune_diag_add(d, v->mark,
                          "step id \"%s\" must start with a letter or _ and hold only letters, "
                          "digits and _ (it is used as steps.%s in expressions)",
                          st->id, st->id);
        }
    }
    v = rune_node_get(n, "uses");
    const struct rune_node *code = rune_node_get(n, "lua");
    if (v && code) {
        rune_diag_add(d, code->mark,
                      "step \"%s\" has both `uses:` and `lua:`; a step is one or "
                      "the other",
                      st->id ? st->id : "?");
    } else if (code) {
        if (code->kind != RUNE_NODE_SCALAR || rune_node_is_null(code)) {
            rune_diag_add(d, code->mark,
                          "lua must be Lua code (a string, usually `lua: |`), "
                          "found %s",
                          rune_node_describe(code));
        } else {
            st->lua = code;
            st->uses = "lua";
            st->uses_mark = code->mark;
            if (rune_node_get(n, "with"))
                rune_diag_add(d, rune_node_get(n, "with")->mark,
                              "a `lua:` step takes no `with:`; its code reads inputs and steps "
                              "directly");
        }
    } else if (!v) {
        rune_diag_add(d, n->mark,
                      "step \"%s\" has no `uses:` (a step type, see `rune steps`) or `lua:` "
                      "(inline code)",
                      st->id ? st->id : "?");
    } else if ((st->uses = want_text(v, "uses", d))) {
        st->uses_mark = v->mark;
    }

    if ((v = rune_node_get(n, "with")) && want_kind(v, RUNE_NODE_MAP, "with", d))
        st->with = v;
    if ((v = rune_node_get(n, "needs"))) {
        if (v->kind == RUNE_NODE_SCALAR && !rune_node_is_null(v)) {
            st->needs = v; /* a single id: `needs: stop_app` */
        } else if (want_kind(v, RUNE_NODE_SEQ, "needs", d)) {
            st->needs = v;
        }
    }
    if ((v = rune_node_get(n, "when")))
        st->when = v;
    if ((v = rune_node_get(n, "timeout")))
        want_duration(v, "timeout", &st->timeout_ms, d);
    if ((v = rune_node_get(n, "retry")))
        load_retry(st, v, d);
    if ((v = rune_node_get(n, "on_failure"))) {
        const char *p = want_text(v, "on_failure", d);
        int found = -1;
        for (int i = 0; p && i < 3; i++)
            if (strcmp(p, rune_policy_names[i]) == 0)
                found = i;
        if (p && found < 0)
            rune_diag_add(d, v->mark,
                          "on_failure must be abort, continue or rollback, found \"%s\"", p);
        else if (found == RUNE_POLICY_ROLLBACK && stage != RUNE_MITIGATION &&
                 stage != RUNE_VERIFICATION)
            rune_diag_add(d, v->mark,
                          "on_failure: rollback is only possible in mitigation and "
                          "verification (the %s stage %s); use abort or continue",
                          rune_stage_names[stage],
                          stage == RUNE_ROLLBACK ? "is the rollback" : "changes nothing to undo");
        else if (found >= 0)
            st->on_failure = (enum rune_policy)found;
    }
    if ((v = rune_node_get(n, "confirm"))) {
        bool b;
        if (v->kind != RUNE_NODE_SCALAR || rune_node_is_null(v) || (rune_node_is_bool(v, &b) && !b))
            rune_diag_add(d, v->mark,
                          "confirm must be the question to ask the operator (a string) or "
                          "true, found %s",
                          rune_node_describe(v));
        else
            st->confirm = v;
    }
    if ((v = rune_node_get(n, "simulate")) && want_kind(v, RUNE_NODE_MAP, "simulate", d))
        st->simulate = v;
    if ((v = rune_node_get(n, "print"))) {
        /* an output's name, or a list of them (lint.c checks the names) */
        bool ok = v->kind == RUNE_NODE_SCALAR && !rune_node_is_null(v);
        for (size_t i = 0; v->kind == RUNE_NODE_SEQ && i < v->n; i++)
            ok = v->items[i]->kind == RUNE_NODE_SCALAR && !rune_node_is_null(v->items[i]);
        if (v->kind == RUNE_NODE_SEQ && !v->n)
            ok = false;
        if (!ok)
            rune_diag_add(d, v->mark,
                          "print must name an output of the step (print: stdout) or list them "
                          "(print: [exit_code, stdout]), found %s",
                          rune_node_describe(v));
        else
            st->print = v;
    }
    st->description = want_text(rune_node_get(n, "description"), "description", d);
    st->idempotent = -1;
    if ((v = rune_node_get(n, "idempotent"))) {
        bool b;
        if (v->kind != RUNE_NODE_SCALAR || !rune_node_is_bool(v, &b))
            rune_diag_add(d, v->mark,
                          "idempotent must be true (running the step twice does no harm) or "
                          "false, found %s",
                          rune_node_describe(v));
        else
            st->idempotent = b;
    }
}

static void load_stage(struct rune_runbook *rb, enum rune_stage_id s, const struct rune_node *n,
                       struct rune_diags *d)
{
    struct rune_stagedef *sd = &rb->stages[s];
    char where[64];
    snprintf(where, sizeof where, "the %s stage", rune_stage_names[s]);
    sd->present = true;
    sd->mark = n->mark;
    if (!want_kind(n, RUNE_NODE_MAP, where, d))
        return;
    check_keys(n, stage_keys, N(stage_keys), where, d);
    const struct rune_node *v;
    if ((v = rune_node_get(n, "incident_if"))) {
        if (s != RUNE_DETECTION)
            rune_diag_add(d, v->mark, "incident_if belongs in the detection stage");
        sd->incident_if = v;
    }
    if ((v = rune_node_get(n, "severity"))) {
        if (s != RUNE_IMPACT)
            rune_diag_add(d, v->mark, "severity belongs in the impact stage");
        sd->severity = v;
    }
    v = rune_node_get(n, "steps");
    if (!v)
        return;
    if (rune_node_is_null(v))
        return;
    if (!want_kind(v, RUNE_NODE_SEQ, "steps", d))
        return;
    size_t used = 0;
    for (int o = 0; o < RUNE_NSTAGES; o++)
        used += rb->stages[o].n;
    size_t room = MAX_STEPS - used, count = v->n;
    if (count > room) {
        rune_diag_add(d, v->items[room]->mark,
                      "more than %d steps in the runbook; a runbook should not need this (split "
                      "it into several)",
                      MAX_STEPS);
        count = room;
    }
    sd->steps = xcalloc(count, sizeof *sd->steps);
    sd->n = count;
    for (size_t i = 0; i < count; i++) {
        sd->steps[i].index = i;
        load_step(rb, &sd->steps[i], v->items[i], s, d);
    }
}

/* What kind of file a mode is, for a message. */
static const char *file_kind(mode_t m)
{
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISFIFO(m))
        return "a FIFO (named pipe)";
    if (S_ISSOCK(m))
        return "a socket";
    if (S_ISCHR(m) || S_ISBLK(m))
        return "a device";
    return "not a regular file";
}

/*
 * Reads a runbook whole. Only a regular file is read: a FIFO or a device
 * named like a runbook would block `rune list` forever or never end, so the
 * file is opened without blocking and checked before a byte is read. The
 * size is checked before reading and again while reading (a file may grow).
 */
static int read_file(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open runbook: %s", strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        snprintf(err, errlen, "cannot read runbook: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "this is %s, not a runbook file; give the path of a YAML file",
                 file_kind(sb.st_mode));
        close(fd);
        return -1;
    }
    if (sb.st_size > RUNE_RUNBOOK_MAX_BYTES) {
        snprintf(err, errlen,
                 "runbook is %lld bytes, more than the %d MiB a runbook may have; is this the "
                 "right file?",
                 (long long)sb.st_size, RUNE_RUNBOOK_MAX_BYTES >> 20);
        close(fd);
        return -1;
    }
    size_t cap = (size_t)sb.st_size + 1, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf)
        abort();
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "cannot read runbook: %s", strerror(errno));
            close(fd);
            free(buf);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > RUNE_RUNBOOK_MAX_BYTES) {
            snprintf(err, errlen,
                     "runbook is larger than %d MiB (it grew while being read); is this the "
                     "right file?",
                     RUNE_RUNBOOK_MAX_BYTES >> 20);
            close(fd);
            free(buf);
            return -1;
        }
        if (n == cap) {
            char *more = realloc(buf, 2 * cap + 1);
            if (!more)
                abort();
            buf = more;
            cap *= 2;
        }
    }
    close(fd);
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}

static void sha256_hex(const char *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

struct rune_runbook *rune_runbook_parse(const char *path, struct rune_diags *d)
{
    size_t before = d->n;
    struct rune_runbook *rb = xcalloc(1, sizeof *rb);
    rb->path = strdup(path);
    rb->default_timeout_ms = RUNE_DEFAULT_TIMEOUT_MS;
    char err[256];
    if (read_file(path, &rb->text, &rb->len, err, sizeof err) != 0) {
        rune_diag_add(d, (struct rune_mark){rb->path, 0, 0}, "%s", err);
        goto fail;
    }
    sha256_hex(rb->text, rb->len, rb->sha256);
    rb->root = rune_yaml_parse(rb->path, rb->text, rb->len, d);
    if (!rb->root)
        goto fail;
    const struct rune_node *r = rb->root;
    if (r->kind != RUNE_NODE_MAP) {
        rune_diag_add(d, r->mark,
                      "a runbook must be a mapping starting with `runbook: NAME`, "
                      "found %s",
                      rune_node_describe(r));
        goto fail;
    }
    check_keys(r, top_keys, N(top_keys), "the runbook", d);
    const struct rune_node *v = rune_node_get(r, "runbook");
    if (!v)
        rune_diag_add(d, (struct rune_mark){rb->path, 1, 1},
                      "missing `runbook: NAME` (the name operators run it by)");
    else
        rb->name = want_text(v, "runbook", d);
    if ((v = rune_node_get(r, "kind"))) {
        /* kind: job — a routine job (a nightly backup) is not an incident:
         * every run goes through its stages (no incident_if), and its
         * severity is recorded even when a guard stops impact */
        const char *k = want_text(v, "kind", d);
        if (k && !strcmp(k, "job"))
            rb->job = true;
        else if (k && strcmp(k, "incident"))
            rune_diag_add(d, v->mark, "kind must be incident (the default) or job, found \"%s\"",
                          k);
    }
    rb->title = want_text(rune_node_get(r, "title"), "title", d);
    rb->summary = want_text(rune_node_get(r, "summary"), "summary", d);
    rb->description = want_text(rune_node_get(r, "description"), "description", d);
    want_text(rune_node_get(r, "owner"), "owner", d);
    if ((v = rune_node_get(r, "tags")))
        want_kind(v, RUNE_NODE_SEQ, "tags", d);
    if ((v = rune_node_get(r, "objectives")))
        load_objectives(rb, v, d);
    if ((v = rune_node_get(r, "defaults"))) {
        if (want_kind(v, RUNE_NODE_MAP, "defaults", d)) {
            check_keys(v, defaults_keys, N(defaults_keys), "defaults", d);
            const struct rune_node *t = rune_node_get(v, "timeout");
            if (t)
                want_duration(t, "defaults.timeout", &rb->default_timeout_ms, d);
        }
    }
    if ((v = rune_node_get(r, "report")) && want_kind(v, RUNE_NODE_MAP, "report", d)) {
        /* the team's template for the automatic report: a bundled name or
         * a file (relative to the runbook); which one is checked when used,
         * since the report layer, not the loader, knows the bundled names */
        check_keys(v, report_keys, N(report_keys), "report", d);
        const struct rune_node *t = rune_node_get(v, "template");
        rb->report_template = want_text(t, "report.template", d);
        if (rb->report_template && !*rb->report_template) {
            rune_diag_add(d, t->mark,
                          "report.template is empty; give a bundled template's name "
                          "(`rune report --template list`) or a file");
            rb->report_template = NULL;
        }
    }
    if ((v = rune_node_get(r, "inputs")))
        load_inputs(rb, v, d);
    if ((v = rune_node_get(r, "secrets")))
        load_secrets(rb, v, d);
    if ((v = rune_node_get(r, "targets")))
        load_targets(rb, v, d);
    if ((v = rune_node_get(r, "lock"))) {
        if (v->kind != RUNE_NODE_SCALAR || !*v->str || rune_node_is_null(v))
            rune_diag_add(d, v->mark, "lock must be a name like postgres/app, found %s",
                          rune_node_describe(v));
        else
            rb->lock = v;
    }
    for (int s = 0; s < RUNE_NSTAGES; s++)
        if ((v = rune_node_get(r, rune_stage_names[s])))
            load_stage(rb, (enum rune_stage_id)s, v, d);
    if (rb->job && rb->stages[RUNE_DETECTION].incident_if)
        rune_diag_add(d, rb->stages[RUNE_DETECTION].incident_if->mark,
                      "a job (kind: job) runs its stages every time: drop incident_if, or make "
                      "this runbook an incident one (leave kind out)");
    if (d->n == before) {
        size_t steps = 0;
        for (int s = 0; s < RUNE_NSTAGES; s++)
            steps += rb->stages[s].n;
        if (!steps)
            rune_diag_add(d, r->mark,
                          "the runbook has no steps; add steps under detection, "
                          "impact, mitigation, verification or rollback");
    }
    return rb;
fail:
    rune_runbook_free(rb);
    return NULL;
}

struct rune_runbook *rune_runbook_load(const char *path, struct rune_diags *d)
{
    size_t before = d->n;
    struct rune_runbook *rb = rune_runbook_parse(path, d);
    if (!rb)
        return NULL;
    rune_lua_load_types(path, d);
    rune_runbook_validate(rb, d);
    if (d->n > before) {
        rune_runbook_free(rb);
        return NULL;
    }
    return rb;
}

struct rune_stepdef *rune_runbook_step(struct rune_runbook *rb, const char *id)
{
    for (int s = 0; s < RUNE_NSTAGES; s++)
        for (size_t i = 0; i < rb->stages[s].n; i++)
            if (rb->stages[s].steps[i].id && strcmp(rb->stages[s].steps[i].id, id) == 0)
                return &rb->stages[s].steps[i];
    return NULL;
}

void rune_runbook_free(struct rune_runbook *rb)
{
    if (!rb)
        return;
    for (int s = 0; s < RUNE_NSTAGES; s++) {
        for (size_t i = 0; i < rb->stages[s].n; i++)
            free(rb->stages[s].steps[i].deps);
        free(rb->stages[s].steps);
    }
    free(rb->inputs);
    free(rb->secrets);
    free(rb->targets);
    rune_node_free(rb->root);
    free(rb->text);
    free(rb->path);
    free(rb);
}

const char *const *rune_runbook_keys(enum rune_keys_where where, size_t *n)
{
    static const struct {
        const char *const *keys;
        size_t n;
    } lists[RUNE_KEYS_COUNT] = {
        [RUNE_KEYS_TOP] = {top_keys, N(top_keys)},
        [RUNE_KEYS_STAGE] = {stage_keys, N(stage_keys)},
        [RUNE_KEYS_STEP] = {step_keys, N(step_keys)},
        [RUNE_KEYS_INPUT] = {input_keys, N(input_keys)},
        [RUNE_KEYS_SECRET] = {secret_keys, N(secret_keys)},
        [RUNE_KEYS_RETRY] = {retry_keys, N(retry_keys)},
        [RUNE_KEYS_OBJECTIVES] = {objectives_keys, N(objectives_keys)},
        [RUNE_KEYS_DEFAULTS] = {defaults_keys, N(defaults_keys)},
        [RUNE_KEYS_REPORT] = {report_keys, N(report_keys)},
    };
    *n = lists[where].n;
    return lists[where].keys;
}
