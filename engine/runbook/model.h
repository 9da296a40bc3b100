/*
 * model.h — a loaded runbook: what the YAML says, with a source mark on
 * everything, checked against the step registry.
 *
 * Strings and nodes point into the parsed tree (rb->root), which the
 * runbook owns; rune_runbook_free releases everything at once.
 */
#ifndef RUNE_MODEL_H
#define RUNE_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "node.h"
#include "step.h"

enum rune_stage_id {
    RUNE_DETECTION = 0,
    RUNE_IMPACT,
    RUNE_MITIGATION,
    RUNE_VERIFICATION,
    RUNE_ROLLBACK,
    RUNE_NSTAGES,
};

extern const char *const rune_stage_names[RUNE_NSTAGES];

enum rune_policy {
    RUNE_POLICY_ABORT = 0, /* stop; no rollback */
    RUNE_POLICY_CONTINUE,  /* record the failure, go on as if it had finished */
    RUNE_POLICY_ROLLBACK,  /* stop the stage and run the rollback stage */
};

extern const char *const rune_policy_names[3];

struct rune_retry {
    int attempts;       /* total attempts, >= 1 */
    long long delay_ms; /* before the 2nd attempt */
    double backoff;     /* delay multiplier per further attempt */
    long long max_delay_ms;
};

struct rune_stepdef {
    const struct rune_node *node; /* the step's mapping */
    const char *id;
    struct rune_mark id_mark;
    const char *uses;
    struct rune_mark uses_mark;
    const struct rune_step_type *type; /* NULL if unknown */
    const struct rune_node *lua;       /* inline Lua code (instead of uses) */
    const struct rune_node *with;      /* mapping or NULL */
    const struct rune_node *needs;     /* list node, NULL = implicit sequence */
    size_t *deps;                      /* indices into the stage's steps */
    size_t ndeps;
    const struct rune_node *when;
    const struct rune_node *confirm;
    const struct rune_node *simulate;
    const struct rune_node *print; /* output key(s) shown on the console: scalar or list */
    const char *description;
    /* idempotent: true/false (1/0), -1 when not said: whether running it
     * again after rune died during it does no harm (rune resume) */
    int idempotent;
    long long timeout_ms; /* per attempt */
    struct rune_retry retry;
    enum rune_policy on_failure;
    enum rune_stage_id stage;
    size_t index;
};

struct rune_stagedef {
    bool present;
    struct rune_mark mark;
    struct rune_stepdef *steps;
    size_t n;
    const struct rune_node *incident_if; /* detection */
    const struct rune_node *severity;    /* impact */
};

struct rune_inputdef {
    const char *name;
    struct rune_mark mark;
    enum rune_type type;
    const struct rune_node *def;     /* NULL = no default */
    const struct rune_node *choices; /* list or NULL */
    bool required;
    bool secret;
    const char *description;
};

struct rune_secretdef {
    const char *name;
    struct rune_mark mark;
    const char *env;  /* environment variable to read */
    const char *file; /* or a file whose first line is the value */
    bool required;
};

struct rune_targetdef {
    const char *name;
    struct rune_mark mark;
    const char *kind_name;
    struct rune_mark kind_mark;
    const struct rune_target_kind *kind; /* NULL if unknown (validate.c) */
    const struct rune_node *node;        /* the mapping, `kind` included */
};

struct rune_runbook {
    char *path; /* as given */
    char *text; /* file bytes */
    size_t len;
    char sha256[65]; /* hex of the file bytes */
    struct rune_node *root;
    const char *name;
    const char *title;
    const char *summary;
    const char *description;
    long long rto_ms; /* 0 = not set */
    long long rpo_ms;
    struct rune_inputdef *inputs;
    size_t ninputs;
    struct rune_secretdef *secrets;
    size_t nsecrets;
    struct rune_targetdef *targets;
    size_t ntargets;
    const struct rune_node *lock;
    bool job; /* kind: job — a routine job, not an incident runbook */
    long long default_timeout_ms;
    const char *report_template; /* report.template: NAME or FILE; NULL when not set */
    struct rune_stagedef stages[RUNE_NSTAGES];
};

#define RUNE_DEFAULT_TIMEOUT_MS (60LL * 60 * 1000) /* 1h per attempt unless said */

/* Reads, parses, and validates. Returns the runbook, or NULL with every
 * problem found added to d. */
struct rune_runbook *rune_runbook_load(const char *path, struct rune_diags *d);
/* Parses the structure only (no registry or graph checks). Returns the
 * runbook even when shape errors were added to d (so validation can report
 * the rest); NULL only when the file cannot be read or is not a YAML mapping. */
struct rune_runbook *rune_runbook_parse(const char *path, struct rune_diags *d);
void rune_runbook_free(struct rune_runbook *rb);

/* Semantic checks (validate.c): step types and parameters, ids, needs,
 * cycles, references. Fills stepdef.type and deps. */
void rune_runbook_validate(struct rune_runbook *rb, struct rune_diags *d);

/* Lookup a step by id anywhere in the runbook. */
struct rune_stepdef *rune_runbook_step(struct rune_runbook *rb, const char *id);

#endif
