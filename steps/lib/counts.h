/*
 * counts.h — "do the tables hold what they should": row counts against an
 * expected map or a backup's manifest (with tolerance), and content hashes
 * against a baseline fingerprint or a manifest. Every engine's
 * verify_counts and compare share this, so they read the same parameters,
 * produce the same outputs and fail with the same words; the engine only
 * says how to count a table.
 */
#ifndef RUNE_COUNTS_H
#define RUNE_COUNTS_H

#include <jansson.h>

#include "step.h"

/* The parameters every verify_counts takes (expected, manifest, tolerance,
 * tolerance_percent), to splice into a parameter table. */
#define RUNE_COUNTS_PARAMS                                                                         \
    {"expected", RUNE_T_MAP, false, NULL, "table → expected row count", NULL, "reference"},        \
        {"manifest",                                                                               \
         RUNE_T_PATH,                                                                              \
         false,                                                                                    \
         NULL,                                                                                     \
         "or a backup: compare with the counts in its manifest",                                   \
         NULL,                                                                                     \
         "reference"},                                                                             \
        {"tolerance", RUNE_T_INT, false, "0", "rows a table may differ by"},                       \
    {                                                                                              \
        "tolerance_percent", RUNE_T_NUMBER, false, "0", "or this percent of the expected count"    \
    }

extern const struct rune_output rune_counts_outputs[];

/* The manifest of the backup named by path (the data file or its
 * .manifest.json); NULL with why. */
json_t *rune_counts_manifest(struct rune_call *c, const char *path, char *why, size_t len);

/* table → rows the call expects: `expected`, or the `tables` of the
 * `manifest` backup. New reference; NULL after rune_call_fail. */
json_t *rune_counts_expected(struct rune_call *c);

/* Rows in table, or -1 when it does not exist (why set) — the engine's part. */
typedef long long (*rune_count_fn)(void *ctx, const char *table, char *why, size_t len);

/* Counts every expected table, fills ok/mismatches/diff, and fails naming
 * `where` (the database counted, for the message) and the first table
 * outside tolerance. Returns a rune_status. */
int rune_counts_check(struct rune_call *c, json_t *expected, const char *where, rune_count_fn count,
                      void *ctx);

/* The rows a table may differ by under the call's tolerance parameters. */
long long rune_counts_allowed(struct rune_call *c, long long expected);

#endif
