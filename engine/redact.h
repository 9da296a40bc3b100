/*
 * redact.h — secrets never reach the log, the report or the console.
 *
 * A run keeps the set of secret values (declared secrets, inputs marked
 * secret, anything a primitive registers); every string on its way out is
 * passed through rune_redact, which replaces each occurrence with "***".
 */
#ifndef RUNE_REDACT_H
#define RUNE_REDACT_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>

#define RUNE_SECRET_MIN 4 /* shorter values cannot be masked without mangling text */

struct rune_redactor {
    pthread_mutex_t mu;
    char **v;
    size_t n;
    size_t cap;
};

void rune_redactor_init(struct rune_redactor *r);
void rune_redactor_free(struct rune_redactor *r);
void rune_redactor_add(struct rune_redactor *r, const char *secret);
/* malloc'd copy of s with every secret masked. */
char *rune_redact(struct rune_redactor *r, const char *s);
/* Deep copy of v with every string (and object key) masked. New reference. */
json_t *rune_redact_json(struct rune_redactor *r, json_t *v);

#endif
