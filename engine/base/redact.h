/*
 * redact.h — secrets never reach the log, the report or the console.
 *
 * A run keeps the set of secret values (declared secrets, inputs marked
 * secret, passwords found in connection strings, anything a primitive
 * registers); every string on its way out is passed through rune_redact,
 * which replaces each occurrence with "***".
 *
 * Text is cut in many places (capture caps, the output tail, fixed-size
 * message buffers), and a cut can leave part of a secret that no longer
 * matches it whole. So rune_redact also masks any run of
 * RUNE_SECRET_PARTIAL or more characters that begins or ends a secret,
 * wherever it appears, and rune_redact_cut, for text whose edges are known
 * cuts, masks a prefix or suffix of a secret down to RUNE_SECRET_MIN
 * characters at those edges.
 */
#ifndef RUNE_REDACT_H
#define RUNE_REDACT_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>

#define RUNE_SECRET_MIN 4     /* shorter values cannot be masked without mangling text */
#define RUNE_SECRET_PARTIAL 8 /* a piece of a secret this long is masked wherever it is */

struct rune_redactor {
    pthread_mutex_t mu;
    char **v;
    size_t n;
    size_t cap;
};

/* Where text was cut off from what it came from (rune_redact_cut). */
enum rune_cut {
    RUNE_CUT_NONE = 0,
    RUNE_CUT_HEAD = 1, /* something came before it: it may start inside a secret */
    RUNE_CUT_TAIL = 2, /* something came after it: it may end inside a secret */
};

void rune_redactor_init(struct rune_redactor *r);
void rune_redactor_free(struct rune_redactor *r);
/* Registers a secret (values shorter than RUNE_SECRET_MIN are ignored).
 * The first one also stops the process from ever dumping core
 * (rune_redact_no_core). */
void rune_redactor_add(struct rune_redactor *r, const char *secret);
/* malloc'd copy of s with every secret, and every piece of one at least
 * RUNE_SECRET_PARTIAL long that begins or ends it, masked. */
char *rune_redact(struct rune_redactor *r, const char *s);
/* rune_redact, then at each edge named in cuts (enum rune_cut), a piece of
 * a secret of RUNE_SECRET_MIN or more characters masked too. malloc'd;
 * never longer than s. */
char *rune_redact_cut(struct rune_redactor *r, const char *s, int cuts);
/* Deep copy of v with every string (and object key) masked. New reference. */
json_t *rune_redact_json(struct rune_redactor *r, json_t *v);

/* No core file for this process: RLIMIT_CORE's soft limit set to 0 and
 * the process made non-dumpable. A core holds every secret in memory and
 * in the environment. Idempotent; children inherit the limit (they may
 * raise it again) but not the flag. */
void rune_redact_no_core(void);

#endif
