/*
 * counts.c — row counts against expectations (see counts.h).
 */
#include "counts.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artifact.h"
#include "pathparam.h"

const struct rune_output rune_counts_outputs[] = {
    {"ok", RUNE_T_BOOL, "every table within tolerance"},
    {"mismatches", RUNE_T_INT, "tables outside tolerance"},
    {"diff", RUNE_T_LIST, "{table, expected, actual, diff, ok} per table"},
    {0},
};

json_t *rune_counts_manifest(struct rune_call *c, const char *path, char *why, size_t len)
{
    char *p = rune_path_param(c, path);
    if (!p) {
        snprintf(why, len,
                 "no memory for the path of manifest %s: free memory on this host and run the "
                 "step again",
                 path);
        return NULL;
    }
    size_t bl = strlen(p), sl = strlen(RUNE_ARTIFACT_MANIFEST_SUFFIX);
    if (bl > sl && !strcmp(p + bl - sl, RUNE_ARTIFACT_MANIFEST_SUFFIX))
        p[bl - sl] = '\0';
    json_t *m = rune_artifact_manifest_load(p, why, len);
    free(p);
    return m;
}

json_t *rune_counts_expected(struct rune_call *c)
{
    json_t *expected = json_object_get(rune_call_params(c), "expected");
    const char *mpath = rune_call_str(c, "manifest");
    if (mpath) {
        /* the counts captured in the backup's own snapshot */
        char why[512];
        json_t *m = rune_counts_manifest(c, mpath, why, sizeof why);
        if (!m) {
            rune_call_fail(c, "%s", why);
            return NULL;
        }
        expected = json_incref(json_object_get(m, "tables"));
        json_decref(m);
    } else {
        json_incref(expected);
    }
    if (!json_is_object(expected) || !json_object_size(expected)) {
        json_decref(expected);
        rune_call_fail(c,
                       "%s is empty: give the tables and their row counts (e.g. { orders: "
                       "1200 }), or a backup whose manifest lists its tables",
                       mpath ? "the manifest's table list" : "expected");
        return NULL;
    }
    return expected;
}

long long rune_counts_allowed(struct rune_call *c, long long expected)
{
    json_t *p = rune_call_params(c);
    long long allowed = json_integer_value(json_object_get(p, "tolerance"));
    double pct = json_number_value(json_object_get(p, "tolerance_percent"));
    long long by_pct = (long long)((double)expected * pct / 100.0);
    return by_pct > allowed ? by_pct : allowed;
}

int rune_counts_check(struct rune_call *c, json_t *expected, const char *where, rune_count_fn count,
                      void *ctx)
{
    json_t *diff = json_array();
    int mismatches = 0;
    const char *t;
    json_t *want;
    char why[512] = "";
    json_object_foreach(expected, t, want)
    {
        if (rune_call_cancelled(c)) {
            json_decref(diff);
            return rune_call_cancel_status(c);
        }
        long long exp = json_integer_value(want);
        long long got = count(ctx, t, why, sizeof why);
        long long delta = got - exp;
        bool ok = got >= 0 && json_is_integer(want) && llabs(delta) <= rune_counts_allowed(c, exp);
        if (!ok)
            mismatches++;
        json_t *row = json_pack("{s:s, s:I, s:I, s:I, s:b}", "table", t, "expected",
                                (json_int_t)exp, "actual", (json_int_t)got, "diff",
                                (json_int_t)(got < 0 ? 0 : delta), "ok", ok);
        /* why a table could not be counted, for the operator */
        if (got < 0)
            json_object_set_new(row, "error", json_string(why[0] ? why : "could not be counted"));
        json_array_append_new(diff, row);
    }
    json_t *o = rune_call_outputs(c);
    json_object_set_new(o, "ok", json_boolean(mismatches == 0));
    json_object_set_new(o, "mismatches", json_integer(mismatches));
    json_object_set_new(o, "diff", diff);
    if (!mismatches)
        return RUNE_STEP_OK;
    json_t *first = NULL, *x;
    size_t i;
    json_array_foreach(diff, i, x)
    {
        if (!json_is_true(json_object_get(x, "ok"))) {
            first = x;
            break;
        }
    }
    long long got = json_integer_value(json_object_get(first, "actual"));
    if (got < 0)
        return rune_call_fail(c,
                              "%d table%s of %s differ%s from the expected counts; first: %s "
                              "could not be counted: %s (the diff output lists every table)",
                              mismatches, mismatches == 1 ? "" : "s", where,
                              mismatches == 1 ? "s" : "",
                              json_string_value(json_object_get(first, "table")),
                              json_string_value(json_object_get(first, "error")));
    return rune_call_fail(c,
                          "%d table%s of %s differ%s from the expected counts; first: %s has "
                          "%lld rows, expected %lld (the diff output lists every table)",
                          mismatches, mismatches == 1 ? "" : "s", where, mismatches == 1 ? "s" : "",
                          json_string_value(json_object_get(first, "table")), got,
                          (long long)json_integer_value(json_object_get(first, "expected")));
}
