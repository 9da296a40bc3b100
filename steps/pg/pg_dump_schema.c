/*
 * pg_dump_schema.c — the part of pg.dump that pg_dump itself writes:
 * everything but the selected tables' data, dumped once by pg_dump in the
 * leader's snapshot (custom format, uncompressed) and turned by
 * pg_restore -f into plain SQL, one spool per section: pre-data, the rest
 * of the data (sequence values, large objects), and post-data split into
 * the indexes and keys a restore builds in parallel and the rest. Also the
 * schema fingerprint, over what does not change from dump to dump.
 * Passwords reach pg_dump through its environment, never its arguments.
 */
#include "pg_dump.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "artifact.h"
#include "digest.h"
#include "pgconn.h"

static int push(char ***argv, size_t *n, size_t *cap, char *s)
{
    if (!s)
        abort();
    if (*n + 2 > *cap) {
        *cap = *cap ? *cap * 2 : 32;
        char **a = realloc(*argv, *cap * sizeof **argv);
        if (!a)
            abort();
        *argv = a;
    }
    (*argv)[(*n)++] = s;
    (*argv)[*n] = NULL;
    return 0;
}

static char *opt(const char *flag, const char *value)
{
    size_t n = strlen(flag) + strlen(value) + 2;
    char *s = malloc(n);
    if (!s)
        abort();
    snprintf(s, n, "%s=%s", flag, value);
    return s;
}

static void argv_free(char **argv)
{
    for (char **a = argv; a && *a; a++)
        free(*a);
    free(argv);
}

/* The partitions (all levels) of the selected partitioned tables: pg_dump
 * names tables one by one and must exclude or include them too. As
 * patterns, appended after `flag`. */
static int partition_patterns(struct rune_pg_dump *d, PGconn *conn, const char *flag, bool selected,
                              char ***argv, size_t *n, size_t *cap, char *err, size_t errlen)
{
    for (size_t i = 0; i < d->nt; i++) {
        struct rune_pg_dump_table *t = &d->t[i];
        if (t->kind != 'p' || t->selected != selected)
            continue;
        const char *params[1] = {t->qualified};
        PGresult *r =
            rune_pg_exec(d->c, conn,
                         "SELECT n.nspname, c.relname FROM pg_partition_tree($1::regclass) p "
                         "JOIN pg_class c ON c.oid = p.relid "
                         "JOIN pg_namespace n ON n.oid = c.relnamespace "
                         "WHERE p.level > 0",
                         1, params, err, errlen);
        if (!r)
            return -1;
        for (int k = 0; k < PQntuples(r); k++) {
            char *pat = rune_pg_pattern(PQgetvalue(r, k, 0), PQgetvalue(r, k, 1));
            push(argv, n, cap, opt(flag, pat));
            free(pat);
        }
        PQclear(r);
    }
    return 0;
}

/* pg_dump -Fc of everything but the selected tables' data, in the
 * snapshot, into WORK/rest.dump. */
static int run_pg_dump(struct rune_pg_dump *d, PGconn *conn, char **env, char *err, size_t errlen)
{
    char prog[PATH_MAX], path[PATH_MAX];
    char **argv = NULL;
    size_t n = 0, cap = 0;
    snprintf(path, sizeof path, "%s/rest.dump", d->work);
    push(&argv, &n, &cap, strdup(rune_pg_tool(d->c, "pg_dump", prog, sizeof prog)));
    push(&argv, &n, &cap, strdup("--format=custom"));
    push(&argv, &n, &cap, strdup("--compress=0"));
    push(&argv, &n, &cap, strdup("--no-sync"));
    push(&argv, &n, &cap, strdup("--no-password"));
    push(&argv, &n, &cap, strdup("--encoding=UTF8"));
    push(&argv, &n, &cap, opt("--snapshot", d->snapshot));
    push(&argv, &n, &cap, opt("--file", path));
    char lw[32];
    snprintf(lw, sizeof lw, "%lld", rune_call_int(d->c, "lock_timeout"));
    push(&argv, &n, &cap, opt("--lock-wait-timeout", lw));
    json_t *only = rune_pg_strlist(d->c, "tables");
    bool subset = only != NULL;
    json_decref(only);
    for (size_t i = 0; i < d->nt; i++) {
        struct rune_pg_dump_table *t = &d->t[i];
        char *pat = rune_pg_pattern(t->schema, t->rel);
        if (t->selected)
            push(&argv, &n, &cap, opt("--exclude-table-data", pat));
        if (t->selected && subset)
            push(&argv, &n, &cap, opt("--table", pat));
        if (!t->selected && !subset && !t->partition && !t->extension)
            push(&argv, &n, &cap, opt("--exclude-table", pat)); /* exclude_tables */
        free(pat);
    }
    int rc =
        partition_patterns(d, conn, "--exclude-table-data", true, &argv, &n, &cap, err, errlen);
    if (rc == 0 && subset)
        rc = partition_patterns(d, conn, "--table", true, &argv, &n, &cap, err, errlen);
    if (rc == 0 && !subset)
        rc = partition_patterns(d, conn, "--exclude-table", false, &argv, &n, &cap, err, errlen);
    int st = RUNE_STEP_FAILED;
    if (rc == 0)
        st = rune_pg_tool_run(d->c, argv, env, NULL, 0);
    else
        rune_call_fail(d->c, "%s", err);
    argv_free(argv);
    return st;
}

/* pg_restore -f: one section of rest.dump as plain SQL, into WORK/NAME;
 * with `list`, only the entries that WORK/list names (pg_restore -L). */
static int section_sql(struct rune_pg_dump *d, const char *section, const char *name,
                       const char *list)
{
    char prog[PATH_MAX], in[PATH_MAX], out[PATH_MAX], sec[64], file[PATH_MAX + 8];
    char use[PATH_MAX + 16];
    snprintf(in, sizeof in, "%s/rest.dump", d->work);
    snprintf(out, sizeof out, "%s/%s", d->work, name);
    snprintf(sec, sizeof sec, "--section=%s", section);
    snprintf(file, sizeof file, "--file=%s", out);
    snprintf(use, sizeof use, "--use-list=%s/%s", d->work, list ? list : "");
    char *argv[] = {(char *)rune_pg_tool(d->c, "pg_restore", prog, sizeof prog),
                    sec,
                    file,
                    in,
                    list ? use : NULL,
                    NULL};
    return rune_pg_tool_run(d->c, argv, NULL, NULL, 0);
}

/* The type of a pg_restore -l line ("3263; 2606 16400 CONSTRAINT public a
 * a_pkey postgres"): whether it is an index or a key that depends only on
 * its table and its data, so that a restore can build it beside others. */
static bool independent_entry(const char *line)
{
    const char *p = strstr(line, "; ");
    if (!p || line[0] == ';')
        return false;
    p += 2;
    for (int field = 0; field < 2; field++) { /* catalog oid, oid */
        p = strchr(p, ' ');
        if (!p)
            return false;
        p++;
    }
    if (!strncmp(p, "INDEX ATTACH ", 13))
        return false;
    return !strncmp(p, "INDEX ", 6) || !strncmp(p, "CONSTRAINT ", 11);
}

/* Splits post-data in two, in pg_dump's order: indexes.sql (indexes,
 * primary keys, unique and exclusion constraints: each needs only its
 * table, so pg.restore builds them in parallel) and post.sql (the rest:
 * foreign keys, index attachments, triggers, rules, materialized view
 * data, ...). Run one after the other they are pg_dump's post-data. */
static int post_sql(struct rune_pg_dump *d)
{
    char prog[PATH_MAX], in[PATH_MAX], file[PATH_MAX + 8], path[PATH_MAX];
    snprintf(in, sizeof in, "%s/rest.dump", d->work);
    snprintf(file, sizeof file, "--file=%s/toc.list", d->work);
    char *argv[] = {(char *)rune_pg_tool(d->c, "pg_restore", prog, sizeof prog), "--list", file, in,
                    NULL};
    int st = rune_pg_tool_run(d->c, argv, NULL, NULL, 0);
    if (st != RUNE_STEP_OK)
        return st;
    snprintf(path, sizeof path, "%s/toc.list", d->work);
    FILE *toc = fopen(path, "re");
    snprintf(path, sizeof path, "%s/indexes.list", d->work);
    FILE *a = fopen(path, "we");
    snprintf(path, sizeof path, "%s/post.list", d->work);
    FILE *b = fopen(path, "we");
    char *line = NULL;
    size_t cap = 0;
    while (toc && a && b && getline(&line, &cap, toc) > 0)
        if (line[0] != ';')
            fputs(line, independent_entry(line) ? a : b);
    free(line);
    bool ok = toc && a && b && !ferror(toc) && !ferror(a) && !ferror(b);
    if (toc)
        fclose(toc);
    ok = (a ? fclose(a) == 0 : false) && ok;
    ok = (b ? fclose(b) == 0 : false) && ok;
    if (!ok)
        return rune_call_fail(d->c, "cannot split pg_dump's table of contents in %s: %s", d->work,
                              strerror(errno));
    st = section_sql(d, "post-data", "indexes.sql", "indexes.list");
    return st != RUNE_STEP_OK ? st : section_sql(d, "post-data", "post.sql", "post.list");
}

/* Lines of pg_dump output that differ between two dumps of the same
 * schema: the \restrict key and the version comments. */
static bool volatile_line(const char *l, size_t n)
{
    static const char *const pfx[] = {"\\restrict ", "\\unrestrict ", "-- Dumped from ",
                                      "-- Dumped by ", NULL};
    for (const char *const *p = pfx; *p; p++)
        if (n >= strlen(*p) && !strncmp(l, *p, strlen(*p)))
            return true;
    return false;
}

/* Turns WORK/NAME into a spool WORK/NAME.gz, prefixed by `head` (may be
 * NULL) and followed by `tail`; feeds the schema fingerprint (without the
 * lines that change from dump to dump) when fp is given. */
static int sql_spool(struct rune_pg_dump *d, const char *name, const char *head, const char *tail,
                     EVP_MD_CTX *fp, char *spool, size_t spool_len, char *err, size_t errlen)
{
    char in[PATH_MAX];
    snprintf(in, sizeof in, "%s/%s", d->work, name);
    snprintf(spool, spool_len, "%s/%s.gz", d->work, name);
    FILE *f = fopen(in, "re");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", in, strerror(errno));
        return -1;
    }
    struct rune_artifact_meta meta = {
        .engine = "postgres", .source = name, .compression = d->compression, .level = d->level};
    struct rune_artifact_writer *w;
    if (rune_artifact_open(&w, spool, &meta, err, errlen) != 0) {
        fclose(f);
        return -1;
    }
    int rc = head ? rune_artifact_write(w, head, strlen(head), err, errlen) : 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while (rc == 0 && (n = getline(&line, &cap, f)) > 0) {
        if (fp && !volatile_line(line, (size_t)n))
            EVP_DigestUpdate(fp, line, (size_t)n);
        rc = rune_artifact_write(w, line, (size_t)n, err, errlen);
    }
    free(line);
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "cannot read %s: %s", in, strerror(errno));
        rc = -1;
    }
    fclose(f);
    unlink(in);
    if (rc == 0 && tail)
        rc = rune_artifact_write(w, tail, strlen(tail), err, errlen);
    if (rc != 0) {
        rune_artifact_abort(w);
        return -1;
    }
    json_t *m = rune_artifact_commit(w, NULL, err, errlen);
    json_decref(m);
    return m ? 0 : -1;
}

int rune_pg_dump_schema(struct rune_pg_dump *d, PGconn *leader, const char *point,
                        struct rune_pg_dump_parts *p)
{
    char err[1024];
    char **env = rune_pg_env(leader, NULL);
    EVP_MD_CTX *fp = EVP_MD_CTX_new();
    if (!env || !fp || EVP_DigestInit_ex(fp, EVP_sha256(), NULL) != 1) {
        rune_pg_env_free(env);
        EVP_MD_CTX_free(fp);
        return rune_call_fail(d->c,
                              "no memory for pg_dump's environment and the schema fingerprint of "
                              "database %s: free memory on this host and run the step again",
                              PQdb(leader));
    }
    int st = run_pg_dump(d, leader, env, err, sizeof err);
    rune_pg_env_free(env);
    if (st == RUNE_STEP_OK)
        st = section_sql(d, "pre-data", "pre.sql", NULL);
    if (st == RUNE_STEP_OK)
        st = section_sql(d, "data", "data.sql", NULL);
    if (st == RUNE_STEP_OK)
        st = post_sql(d);
    char head[512], rest[PATH_MAX];
    snprintf(head, sizeof head,
             "\n--\n-- Table data as of %s (snapshot %s), one COPY block per table "
             "(rune pg.dump)\n--\n\nSET client_encoding = 'UTF8';\n\n",
             point, d->snapshot);
    snprintf(rest, sizeof rest, "%s/rest.dump", d->work);
    unlink(rest);
    if (st == RUNE_STEP_OK &&
        (sql_spool(d, "pre.sql", NULL, head, fp, p->pre, sizeof p->pre, err, sizeof err) ||
         sql_spool(d, "data.sql", "\n", NULL, NULL, p->data, sizeof p->data, err, sizeof err) ||
         sql_spool(d, "indexes.sql", "\n", NULL, fp, p->indexes, sizeof p->indexes, err,
                   sizeof err) ||
         sql_spool(d, "post.sql", "\n", NULL, fp, p->post, sizeof p->post, err, sizeof err)))
        st = rune_call_fail(d->c, "%s; nothing was written", err);
    rune_digest_hex(fp, p->fingerprint);
    EVP_MD_CTX_free(fp);
    return st;
}
