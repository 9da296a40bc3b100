/*
 * validate_out.c — printing what `rune validate` found: errors and
 * warnings kept apart, as text (stderr, one line each, like a compiler),
 * JSON (stdout, per file) or SARIF 2.1.0 (stdout, one run of the tool
 * "rune" whose rules are the lint rules plus "invalid" for errors).
 * JSON is built with jansson, never printed by hand.
 */
#include "validate_out.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rune_vformat_parse(const char *s, enum rune_vformat *f)
{
    static const char *const names[] = {"text", "json", "sarif"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, names[i])) {
            *f = (enum rune_vformat)i;
            return 0;
        }
    return -1;
}

static bool fails(const struct rune_vfile *f, bool strict)
{
    return !f->valid || (strict && f->warnings.n > 0);
}

void rune_lints_print(const struct rune_lints *l, FILE *out)
{
    for (size_t k = 0; k < l->n; k++) {
        const struct rune_lint *w = &l->v[k];
        fprintf(out, "%s:%d:%d: warning: %s [%s]\n", w->file, w->line, w->col, w->msg, w->rule);
    }
}

static void print_text(struct rune_vfile *files, size_t n, bool quiet, bool strict, int bad)
{
    for (size_t i = 0; i < n; i++) {
        struct rune_vfile *f = &files[i];
        rune_diags_print(&f->errors, stderr);
        rune_lints_print(&f->warnings, stderr);
        size_t nw = f->warnings.n;
        if (f->valid && strict && nw)
            fprintf(stderr, "%s: fails --strict: %zu warning%s\n", f->path, nw, nw == 1 ? "" : "s");
        else if (f->valid && !quiet && f->tests)
            printf("%s: ok (tests of %s, %zu scenario%s)\n", f->path, f->name, f->steps,
                   f->steps == 1 ? "" : "s");
        else if (f->valid && !quiet && nw)
            printf("%s: ok (%s, %zu step%s), %zu warning%s\n", f->path, f->name, f->steps,
                   f->steps == 1 ? "" : "s", nw, nw == 1 ? "" : "s");
        else if (f->valid && !quiet)
            printf("%s: ok (%s, %zu step%s)\n", f->path, f->name, f->steps,
                   f->steps == 1 ? "" : "s");
    }
    if (bad && n > 1)
        fprintf(stderr, "%d of %zu runbooks are invalid%s\n", bad, n,
                strict ? " (warnings count, --strict)" : "");
}

static json_t *where(const char *file, int line, int col)
{
    return json_pack("{s:s, s:i, s:i}", "file", file, "line", line, "col", col);
}

static void print_json(struct rune_vfile *files, size_t n, bool strict, int bad)
{
    json_t *all = json_array();
    for (size_t i = 0; i < n; i++) {
        struct rune_vfile *f = &files[i];
        json_t *errors = json_array(), *warnings = json_array();
        for (size_t k = 0; k < f->errors.n; k++) {
            const struct rune_diag *e = &f->errors.v[k];
            json_t *o = where(e->file, e->line, e->col);
            json_object_set_new(o, "message", json_string(e->msg));
            json_array_append_new(errors, o);
        }
        for (size_t k = 0; k < f->warnings.n; k++) {
            const struct rune_lint *w = &f->warnings.v[k];
            json_t *o = where(w->file, w->line, w->col);
            json_object_set_new(o, "rule", json_string(w->rule));
            json_object_set_new(o, "message", json_string(w->msg));
            json_array_append_new(warnings, o);
        }
        json_t *o = json_pack("{s:s, s:b, s:b, s:o, s:o}", "path", f->path, "valid", f->valid, "ok",
                              !fails(f, strict), "errors", errors, "warnings", warnings);
        if (f->valid) {
            json_object_set_new(o, "name", json_string(f->name));
            json_object_set_new(o, "steps", json_integer((json_int_t)f->steps));
        }
        json_array_append_new(all, o);
    }
    json_t *doc = json_pack("{s:o, s:b, s:i}", "files", all, "strict", strict, "failed", bad);
    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("\n");
    json_decref(doc);
}

static json_t *sarif_result(const char *rule, int index, const char *level, const char *msg,
                            const char *file, int line, int col)
{
    json_t *loc = json_pack("{s:{s:s}}", "artifactLocation", "uri", file);
    if (line > 0)
        json_object_set_new(
            loc, "region",
            json_pack("{s:i, s:i}", "startLine", line, "startColumn", col > 0 ? col : 1));
    return json_pack("{s:s, s:i, s:s, s:{s:s}, s:[{s:o}]}", "ruleId", rule, "ruleIndex", index,
                     "level", level, "message", "text", msg, "locations", "physicalLocation", loc);
}

static int rule_index(const char *id)
{
    for (int i = 0; rune_lint_rules[i].id; i++)
        if (!strcmp(rune_lint_rules[i].id, id))
            return i + 1; /* 0 is "invalid" */
    return 0;
}

static void print_sarif(struct rune_vfile *files, size_t n, bool strict)
{
    json_t *rules = json_array(), *results = json_array();
    json_array_append_new(rules,
                          json_pack("{s:s, s:{s:s}, s:{s:s}}", "id", "invalid", "shortDescription",
                                    "text", "the runbook is invalid: rune refuses to run it",
                                    "defaultConfiguration", "level", "error"));
    for (int i = 0; rune_lint_rules[i].id; i++)
        json_array_append_new(rules, json_pack("{s:s, s:{s:s}, s:{s:s}}", "id",
                                               rune_lint_rules[i].id, "shortDescription", "text",
                                               rune_lint_rules[i].summary, "defaultConfiguration",
                                               "level", strict ? "error" : "warning"));
    for (size_t i = 0; i < n; i++) {
        struct rune_vfile *f = &files[i];
        for (size_t k = 0; k < f->errors.n; k++) {
            const struct rune_diag *e = &f->errors.v[k];
            json_array_append_new(
                results, sarif_result("invalid", 0, "error", e->msg, e->file, e->line, e->col));
        }
        for (size_t k = 0; k < f->warnings.n; k++) {
            const struct rune_lint *w = &f->warnings.v[k];
            json_array_append_new(results, sarif_result(w->rule, rule_index(w->rule),
                                                        strict ? "error" : "warning", w->msg,
                                                        w->file, w->line, w->col));
        }
    }
    json_t *driver =
        json_pack("{s:s, s:s, s:s, s:o}", "name", "rune", "version", RUNE_VERSION, "informationUri",
                  "https://github.com/rune/rune/blob/main/docs/authoring.md", "rules", rules);
    json_t *doc = json_pack("{s:s, s:s, s:[{s:{s:o}, s:o}]}", "$schema",
                            "https://json.schemastore.org/sarif-2.1.0.json", "version", "2.1.0",
                            "runs", "tool", "driver", driver, "results", results);
    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("\n");
    json_decref(doc);
}

int rune_vfiles_print(struct rune_vfile *files, size_t n, enum rune_vformat f, bool quiet,
                      bool strict)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += fails(&files[i], strict);
    if (f == RUNE_VFORMAT_JSON)
        print_json(files, n, strict, bad);
    else if (f == RUNE_VFORMAT_SARIF)
        print_sarif(files, n, strict);
    else
        print_text(files, n, quiet, strict, bad);
    return bad;
}

void rune_vfile_free(struct rune_vfile *f)
{
    free(f->path);
    free(f->name);
    rune_diags_free(&f->errors);
    rune_lints_free(&f->warnings);
}
