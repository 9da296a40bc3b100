/*
 * cmd_test.c — `rune test [FILE|DIR]...`: a runbook's tests, the scenarios
 * in NAME.test.yaml beside NAME.yaml (testfile.c), each run in a private
 * directory against a throwaway incident log (testrun.c). A summary line
 * per scenario, a last line with the counts, JUnit XML with --junit FILE,
 * exit 1 when any scenario fails (2 for a bad command line or test file).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "duration.h"
#include "exitcode.h"
#include "model.h"
#include "testfile.h"
#include "testrun.h"

/* A scenario failed: the tests ran, and say no (2 is a command line or a
 * test file rune cannot use). */
#define TEST_FAILED 1

struct files {
    char **v;
    size_t n, cap;
};

static void push(struct files *f, const char *path)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 16;
        char **more = realloc(f->v, cap * sizeof *more);
        if (!more)
            return; /* the file is left out; the count at the end shows it */
        f->v = more;
        f->cap = cap;
    }
    f->v[f->n++] = strdup(path);
}

static bool is_test_name(const char *name)
{
    size_t l = strlen(name);
    return (l > 10 && !strcmp(name + l - 10, ".test.yaml")) ||
           (l > 9 && !strcmp(name + l - 9, ".test.yml"));
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Test files in dir and, one level down, its subdirectories (examples/). */
static void find_tests(const char *dir, int depth, struct files *out)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return;
    struct files here = {0}, subs = {0};
    for (struct dirent *e; (e = readdir(dp));) {
        if (e->d_name[0] == '.')
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(path, &sb) != 0)
            continue;
        if (S_ISREG(sb.st_mode) && is_test_name(e->d_name))
            push(&here, path);
        else if (S_ISDIR(sb.st_mode) && depth > 0)
            push(&subs, path);
    }
    closedir(dp);
    if (here.n)
        qsort(here.v, here.n, sizeof *here.v, by_name);
    if (subs.n)
        qsort(subs.v, subs.n, sizeof *subs.v, by_name);
    for (size_t i = 0; i < here.n; i++) {
        push(out, here.v[i]);
        free(here.v[i]);
    }
    for (size_t i = 0; i < subs.n; i++) {
        find_tests(subs.v[i], depth - 1, out);
        free(subs.v[i]);
    }
    free(here.v);
    free(subs.v);
}

/* An argument to test files: a directory, a test file, or a runbook
 * (its NAME.test.yaml). -1 with a message when there is nothing to run. */
static int collect(const char *arg, struct files *out)
{
    struct stat sb;
    if (stat(arg, &sb) != 0) {
        fprintf(stderr, "rune test: %s: %s\n", arg, strerror(errno));
        return -1;
    }
    if (S_ISDIR(sb.st_mode)) {
        size_t before = out->n;
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", arg);
        for (size_t l = strlen(dir); l > 1 && dir[l - 1] == '/'; l--)
            dir[l - 1] = '\0'; /* runbooks/ → runbooks/x.test.yaml, not runbooks//x */
        find_tests(dir, 2, out);
        if (out->n == before) {
            fprintf(stderr,
                    "rune test: no tests in %s: a runbook's tests are NAME.test.yaml beside "
                    "NAME.yaml (docs/authoring.md)\n",
                    arg);
            return -1;
        }
        return 0;
    }
    const char *base = strrchr(arg, '/') ? strrchr(arg, '/') + 1 : arg;
    if (is_test_name(base)) {
        push(out, arg);
        return 0;
    }
    char *t = rune_testfile_for(arg);
    if (!t || access(t, R_OK) != 0) {
        fprintf(stderr, "rune test: %s has no tests: write %s (docs/authoring.md)\n", arg,
                t ? t : "NAME.test.yaml beside it");
        free(t);
        return -1;
    }
    push(out, t);
    free(t);
    return 0;
}

/* XML text: &, <, >, " and ' escaped; control characters (not allowed in
 * XML 1.0) shown as '?'. */
static void xml(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '&')
            fputs("&amp;", f);
        else if (c == '<')
            fputs("&lt;", f);
        else if (c == '>')
            fputs("&gt;", f);
        else if (c == '"')
            fputs("&quot;", f);
        else if (c == '\'')
            fputs("&apos;", f);
        else if (c < 0x20 && c != '\n' && c != '\t')
            fputc('?', f);
        else
            fputc(c, f);
    }
}

struct outcome {
    const char *file;
    const char *name;
    struct rune_scenario_result r;
};

static int write_junit(const char *path, struct outcome *v, size_t n)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "rune test: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t failed = 0;
    double secs = 0;
    for (size_t i = 0; i < n; i++) {
        failed += !v[i].r.passed;
        secs += (double)v[i].r.ms / 1000.0;
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<testsuites name=\"rune test\" tests=\"%zu\" failures=\"%zu\" time=\"%.3f\">\n", n,
            failed, secs);
    for (size_t i = 0; i < n;) {
        size_t j = i, fails = 0;
        double t = 0;
        for (; j < n && !strcmp(v[j].file, v[i].file); j++) {
            fails += !v[j].r.passed;
            t += (double)v[j].r.ms / 1000.0;
        }
        fprintf(f, "  <testsuite name=\"");
        xml(f, v[i].file);
        fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" time=\"%.3f\">\n", j - i, fails, t);
        for (size_t k = i; k < j; k++) {
            fprintf(f, "    <testcase classname=\"");
            xml(f, v[k].file);
            fprintf(f, "\" name=\"");
            xml(f, v[k].name);
            fprintf(f, "\" time=\"%.3f\"", (double)v[k].r.ms / 1000.0);
            if (v[k].r.passed) {
                fprintf(f, "/>\n");
                continue;
            }
            fprintf(f, ">\n      <failure message=\"");
            const char *p = v[k].r.problems;
            size_t first = p ? strcspn(p, "\n") : 0;
            char *line = p ? strndup(p, first) : NULL;
            xml(f, line);
            free(line);
            fprintf(f, "\">");
            xml(f, p);
            if (v[k].r.output) {
                fprintf(f, "\n--- the run's last output:\n");
                xml(f, v[k].r.output);
            }
            fprintf(f, "</failure>\n    </testcase>\n");
        }
        fprintf(f, "  </testsuite>\n");
        i = j;
    }
    fprintf(f, "</testsuites>\n");
    if (fclose(f) != 0) {
        fprintf(stderr, "rune test: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void print_result(const struct outcome *o)
{
    char el[32];
    if (o->r.passed) {
        printf("ok   %s: %s (%s)\n", o->file, o->name, rune_duration_str(o->r.ms, el, sizeof el));
        return;
    }
    printf("FAIL %s: %s\n", o->file, o->name);
    const char *p = o->r.problems;
    for (const char *s = p; s && *s;) {
        size_t w = strcspn(s, "\n");
        printf("       %.*s\n", (int)w, s);
        s += w + (s[w] == '\n');
    }
    if (o->r.output) {
        printf("       the run's last output:\n");
        for (const char *s = o->r.output; *s;) {
            size_t w = strcspn(s, "\n");
            printf("       | %.*s\n", (int)w, s);
            s += w + (s[w] == '\n');
        }
    }
    if (o->r.kept)
        printf("       kept: %s\n", o->r.kept);
}

/* Every step a scenario names (fail:, simulate:, expect:) is a step of
 * the runbook: a misspelt id would make an expectation that can never
 * hold, or a failure injected nowhere. */
static void check_ids(const struct rune_testfile *tf, struct rune_runbook *rb, struct rune_diags *d)
{
    static const char *const lists[] = {"ran", "skipped", "not_run", "rolled_back"};
    for (size_t i = 0; i < tf->n; i++) {
        const struct rune_scenario *sc = &tf->v[i];
        json_t *maps[] = {sc->fails, sc->fail_attempts, sc->simulate,
                          json_object_get(sc->expect, "status"),
                          json_object_get(sc->expect, "outputs")};
        const char *where[] = {"fail", "fail", "simulate", "expect.status", "expect.outputs"};
        for (size_t m = 0; m < sizeof maps / sizeof maps[0]; m++) {
            const char *id;
            json_t *v;
            json_object_foreach(maps[m], id, v) if (!rune_runbook_step(rb, id)) rune_diag_add(
                d, sc->mark, "scenario \"%s\": %s names step \"%s\", which %s has not",
                sc->name ? sc->name : "?", where[m], id, rb->name);
        }
        for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++) {
            size_t k;
            json_t *v;
            json_array_foreach(json_object_get(sc->expect, lists[l]), k, v)
            {
                const char *id = json_string_value(v);
                if (id && !rune_runbook_step(rb, id))
                    rune_diag_add(d, sc->mark,
                                  "scenario \"%s\": expect.%s names step \"%s\", which %s has not",
                                  sc->name ? sc->name : "?", lists[l], id, rb->name);
            }
        }
    }
}

static int usage(FILE *out, int rc)
{
    fprintf(out,
            "usage: rune test [FILE|DIR]... [--junit FILE] [--real] [--keep] [--timeout D]\n"
            "  runs the scenarios of runbook tests (NAME.test.yaml beside NAME.yaml; a DIR is\n"
            "  searched two levels down; no argument: the current directory). Each runs in a\n"
            "  private directory with its fixtures and a throwaway incident log, dry (like\n"
            "  rune plan) unless it says real: true.\n"
            "  --junit FILE   also write the results as JUnit XML\n"
            "  --real         run every scenario for real against its fixtures\n"
            "  --keep         keep each scenario's directory (fixtures, log) to look at\n"
            "  --timeout D    stop a scenario after D (default 10m)\n"
            "  Exit 0 when every scenario passes, 1 when one fails, 2 for bad usage or a\n"
            "  broken test file.\n");
    return rc;
}

int cmd_test(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--scenario-run"))
        return rune_scenario_child(argv[2]); /* testrun.c's child */
    static const struct option opts[] = {
        {"junit", required_argument, NULL, 'J'}, {"real", no_argument, NULL, 'R'},
        {"keep", no_argument, NULL, 'K'},        {"timeout", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    char self[PATH_MAX];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0) {
        fprintf(stderr, "rune test: cannot find the rune binary (/proc/self/exe): %s\n",
                strerror(errno));
        return RUNE_EXIT_INTERNAL;
    }
    self[sl] = '\0';
    struct rune_test_opts o = {self, 10 * 60 * 1000, false, false};
    const char *junit = NULL;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'J') {
            junit = optarg;
        } else if (c == 'R') {
            o.real_all = true;
        } else if (c == 'K') {
            o.keep = true;
        } else if (c == 'T') {
            if (rune_duration_parse(optarg, &o.timeout_ms) != 0 || o.timeout_ms < 1000) {
                fprintf(stderr, "rune test: --timeout needs a duration of at least 1s\n");
                return RUNE_EXIT_INVALID;
            }
        } else {
            return usage(c == 'h' ? stdout : stderr, c == 'h' ? RUNE_EXIT_OK : RUNE_EXIT_INVALID);
        }
    }
    struct files files = {0};
    int bad = 0;
    if (optind == argc)
        bad += collect(".", &files) != 0;
    for (int i = optind; i < argc; i++)
        bad += collect(argv[i], &files) != 0;
    if (bad) {
        for (size_t i = 0; i < files.n; i++)
            free(files.v[i]);
        free(files.v);
        return RUNE_EXIT_INVALID;
    }
    struct outcome *results = NULL;
    size_t nres = 0, failed = 0, broken = 0;
    for (size_t i = 0; i < files.n; i++) {
        struct rune_testfile tf;
        struct rune_diags d = RUNE_DIAGS_INIT;
        int loaded = rune_testfile_load(files.v[i], &tf, &d);
        if (loaded == 0) {
            /* the runbook must be valid, and name every step the scenarios do */
            struct rune_runbook *rb = rune_runbook_load(tf.runbook, &d);
            if (rb)
                check_ids(&tf, rb, &d);
            rune_runbook_free(rb);
            loaded = d.n ? -1 : 0;
        }
        if (loaded != 0) {
            rune_diags_print(&d, stderr);
            printf("FAIL %s: the test file has %zu problem%s (above)\n", files.v[i], d.n,
                   d.n == 1 ? "" : "s");
            broken++;
            /* in the JUnit file too: a CI page must not show it green */
            struct outcome *more = realloc(results, (nres + 1) * sizeof *results);
            if (more) {
                results = more;
                struct outcome *out = &results[nres++];
                memset(out, 0, sizeof *out);
                out->file = files.v[i];
                out->name = strdup("(the test file)");
                /* every problem, one per line, as printed above */
                char m[4096] = "";
                size_t at = 0;
                for (size_t k = 0; k < d.n && at < sizeof m; k++) {
                    char where[600];
                    struct rune_mark mk = {d.v[k].file, d.v[k].line, d.v[k].col};
                    int w = snprintf(m + at, sizeof m - at, "%s%s: %s", k ? "\n" : "",
                                     rune_mark_str(mk, where, sizeof where), d.v[k].msg);
                    at = w < 0 ? sizeof m : at + (size_t)w;
                }
                out->r.problems = strdup(m);
            }
            rune_diags_free(&d);
            rune_testfile_free(&tf);
            continue;
        }
        rune_diags_free(&d);
        /* a loaded file has at least one scenario: never a 0-byte realloc */
        struct outcome *more = realloc(results, (nres + tf.n + 1) * sizeof *results);
        if (!more) {
            fprintf(stderr, "rune test: no memory for the results of %s; stopping here\n",
                    files.v[i]);
            rune_testfile_free(&tf);
            break;
        }
        results = more;
        for (size_t k = 0; k < tf.n; k++) {
            struct outcome *out = &results[nres++];
            memset(out, 0, sizeof *out);
            out->file = files.v[i];
            out->name = strdup(tf.v[k].name);
            rune_scenario_run(&tf, &tf.v[k], &o, &out->r);
            failed += !out->r.passed;
            print_result(out);
            fflush(stdout);
        }
        rune_testfile_free(&tf);
    }
    size_t scenarios = nres - broken; /* a broken file has one entry, for the JUnit file */
    printf("%zu scenario%s in %zu file%s: %zu passed, %zu failed%s\n", scenarios,
           scenarios == 1 ? "" : "s", files.n, files.n == 1 ? "" : "s", scenarios - failed, failed,
           broken ? " (and broken test files, above)" : "");
    int rc = broken ? RUNE_EXIT_INVALID : failed ? TEST_FAILED : RUNE_EXIT_OK;
    if (junit && write_junit(junit, results, nres) != 0 && rc == RUNE_EXIT_OK)
        rc = RUNE_EXIT_INTERNAL;
    for (size_t i = 0; i < nres; i++) {
        free((char *)results[i].name);
        rune_scenario_result_free(&results[i].r);
    }
    free(results);
    for (size_t i = 0; i < files.n; i++)
        free(files.v[i]);
    free(files.v);
    return rc;
}
