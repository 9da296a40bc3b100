/*
 * pg_postdata.c — post-data of a pg.dump backup as pool jobs (pg_jobs.c):
 * pg_restore's plain output split into its entries, each runnable alone;
 * indexes and keys that depend only on their table become jobs that wait
 * for its load, foreign keys between two tables loaded here jobs that wait
 * for both (and the referenced key); the rest stays in the script psql
 * runs at the end. Each job gets a cost, from its table's size, for the
 * pool's order.
 */
#include "pg_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The table an index or key is built on, as pg_dump writes it:
 * "CREATE [UNIQUE] INDEX name ON [ONLY] TABLE USING ..." or
 * "ALTER TABLE ONLY TABLE\n    ADD CONSTRAINT ...". malloc'd; NULL when
 * the statement is neither. */
static char *entry_table(const char *sql)
{
    const char *p, *end;
    if ((p = strstr(sql, "\nALTER TABLE ONLY "))) {
        p += 18;
        end = strchr(p, '\n');
    } else if ((p = strstr(sql, "\nCREATE INDEX ")) ||
               (p = strstr(sql, "\nCREATE UNIQUE INDEX "))) {
        p = strstr(p, " ON ");
        if (!p)
            return NULL;
        p += 4;
        if (!strncmp(p, "ONLY ", 5))
            p += 5;
        end = strstr(p, " USING ");
    } else {
        return NULL;
    }
    return end ? strndup(p, (size_t)(end - p)) : NULL;
}

/* What a job is expected to take, in the unit of a load's cost (a byte of
 * COPY text): on the realistic set (docs/performance.md) a btree build
 * takes about as long per row of its table as COPY takes for 25 bytes, a
 * foreign key checked by merging two indexes 10 per row of each table, and
 * one checked by hashing the referenced table 25. */
#define INDEX_COST_PER_ROW 25.0
#define FK_MERGE_COST_PER_ROW 10.0
#define FK_HASH_COST_PER_ROW 25.0

/* The text inside the parentheses that open at p ("(a, b)" gives "a, b"),
 * double quotes and nested parentheses respected; *after points past the
 * closing one. malloc'd; NULL if p is not "(" or they do not close. */
static char *inside(const char *p, const char **after)
{
    if (*p != '(')
        return NULL;
    int depth = 0;
    bool quoted = false;
    for (const char *q = p; *q; q++) {
        if (*q == '"')
            quoted = !quoted;
        else if (!quoted && *q == '(')
            depth++;
        else if (!quoted && *q == ')' && --depth == 0) {
            *after = q + 1;
            return strndup(p + 1, (size_t)(q - p - 1));
        }
    }
    return NULL;
}

/* The column list of the btree index or key an entry builds, as pg_dump
 * writes it ("order_id, line"), when the index holds every row (no
 * WHERE); NULL otherwise (another access method, a partial index, not an
 * index). An expression comes back as its text, which names no column. */
static char *index_columns(const char *sql)
{
    static const char *const opens[] = {" PRIMARY KEY (", " UNIQUE NULLS NOT DISTINCT (",
                                        " UNIQUE (", " USING btree ("};
    for (size_t i = 0; i < sizeof opens / sizeof *opens; i++) {
        const char *p = strstr(sql, opens[i]), *after;
        if (!p)
            continue;
        char *cols = inside(p + strlen(opens[i]) - 1, &after);
        if (cols && strstr(after, " WHERE ")) {
            free(cols);
            return NULL;
        }
        return cols;
    }
    return NULL;
}

/* The index columns idx begin with the list cols ("a, b" begins with
 * "a"). pg_dump writes both lists the same way (", " between names,
 * quotes where needed), and a whole list ends outside quotes. */
static bool leads(const char *idx, const char *cols)
{
    size_t n = strlen(cols);
    return idx && !strncmp(idx, cols, n) && (idx[n] == '\0' || idx[n] == ',');
}

/* One entry of pg_restore's plain output: a "--\n-- Name: N; Type: T;
 * Schema: ...; Owner: ..." comment and the SQL after it. */
struct entry {
    char *start; /* in the text */
    size_t len;
    char *name, *type; /* malloc'd */
    char *sql;         /* what running it alone takes (malloc'd): the header's SET
                        * lines, the default_tablespace in force where it starts
                        * (pg_restore writes that SET only when it changes), the
                        * entry without psql's meta-commands */
};

static const char ENTRY_MARK[] = "\n--\n-- Name: ";

static char *between(const char *from, const char *a, const char *b, const char *limit)
{
    const char *p = strstr(from, a);
    if (!p || p > limit)
        return NULL;
    p += strlen(a);
    const char *e = strstr(p, b);
    return e && e <= limit ? strndup(p, (size_t)(e - p)) : NULL;
}

static void entries_free(struct entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].name);
        free(e[i].type);
        free(e[i].sql);
    }
    free(e);
}

/* Splits a section of pg_restore's plain output into its entries, so that
 * each can run apart from the others exactly as it would in the script. */
static struct entry *entries_of(char *text, size_t *n)
{
    *n = 0;
    char *first = strstr(text, ENTRY_MARK);
    if (!first)
        return NULL;
    size_t cap = 16, at = 0;
    struct entry *out = malloc(cap * sizeof *out);
    char *head = malloc((size_t)(first - text) + 1), *ts = strdup("''");
    if (!out || !head || !ts)
        abort();
    for (char *l = text; l < first;) { /* the header's SET statements */
        char *e = memchr(l, '\n', (size_t)(first - l));
        size_t ll = e ? (size_t)(e - l) + 1 : (size_t)(first - l);
        if (!strncmp(l, "SET ", 4) || !strncmp(l, "SELECT pg_catalog.set_config", 28)) {
            memcpy(head + at, l, ll);
            at += ll;
        }
        l += ll;
    }
    head[at] = '\0';
    for (char *e = first; e;) {
        char *next = strstr(e + 1, ENTRY_MARK);
        size_t el = next ? (size_t)(next - e) : strlen(e);
        size_t sz = strlen(head) + strlen(ts) + el + 64;
        char *sql = malloc(sz);
        if (!sql)
            abort();
        at = (size_t)snprintf(sql, sz, "%sSET default_tablespace = %s;\n", head, ts);
        for (char *l = e; l < e + el;) {
            char *nl = memchr(l, '\n', (size_t)(e + el - l));
            size_t ll = nl ? (size_t)(nl - l) + 1 : (size_t)(e + el - l);
            if (l[0] != '\\') { /* \restrict, \unrestrict: psql's business */
                memcpy(sql + at, l, ll);
                at += ll;
            }
            if (!strncmp(l, "SET default_tablespace = ", 25)) {
                free(ts);
                ts = strndup(l + 25, ll - 25);
                if (!ts)
                    abort();
                char *semi = strrchr(ts, ';');
                if (semi)
                    *semi = '\0';
            }
            l += ll;
        }
        sql[at] = '\0';
        if (*n == cap) {
            struct entry *grown = realloc(out, (cap *= 2) * sizeof *out);
            if (!grown)
                abort();
            out = grown;
        }
        /* the "-- Name: ...; Type: ...;" line, not the "--" before it */
        char *eol = strchr(e + sizeof ENTRY_MARK - 1, '\n');
        eol = eol ? eol : e + el;
        out[(*n)++] = (struct entry){
            .start = e,
            .len = el,
            .name = between(e, "-- Name: ", "; Type: ", eol),
            .type = between(e, "; Type: ", "; ", eol),
            .sql = sql,
        };
        e = next;
    }
    free(head);
    free(ts);
    return out;
}

static int exec_job(struct rune_pg_pool *p, PGconn *conn, struct rune_pg_job *j, char *err,
                    size_t errlen)
{
    char why[1024];
    if (rune_pg_run(p->r->c, conn, j->sql, why, sizeof why) == 0)
        return 0;
    snprintf(err, errlen, "building %s: %s", j->name, why);
    return -1;
}

static long load_of(struct rune_pg_job *jobs, size_t nloads, const char *table)
{
    for (size_t k = 0; table && k < nloads; k++)
        if (!strcmp(rune_pg_str(jobs[k].sec, "qualified"), table))
            return (long)k;
    return -1;
}

static double rows_of(struct rune_pg_job *jobs, long load)
{
    return load < 0 ? 0 : (double)json_integer_value(json_object_get(jobs[load].sec, "rows"));
}

void rune_pg_index_jobs(char *text, struct rune_pg_job **jobs, size_t *n, size_t *cap,
                        size_t nloads)
{
    size_t ne;
    struct entry *e = entries_of(text, &ne);
    for (size_t i = 0; i < ne; i++) {
        struct rune_pg_job j = {
            .sql = e[i].sql, .fn = exec_job, .deps = {-1, -1, -1}, .stage = RUNE_PG_STAGE_INDEX};
        e[i].sql = NULL;
        j.name = j.own = e[i].name ? e[i].name : strdup("an index");
        e[i].name = NULL;
        j.table = entry_table(j.sql);
        j.cols = index_columns(j.sql);
        j.deps[0] = load_of(*jobs, nloads, j.table);
        j.last = j.deps[0] < 0;
        j.cost = INDEX_COST_PER_ROW * rows_of(*jobs, j.deps[0]);
        rune_pg_jobs_add(jobs, n, cap, j);
    }
    entries_free(e, ne);
}

/* An identifier as pg_dump writes one (quoted only when it must be), with
 * its schema: the length of "schema.name" at p, 0 if there is none. */
static size_t qualified_len(const char *p)
{
    size_t i = 0;
    for (int part = 0; part < 2; part++) {
        if (p[i] == '"') {
            for (i++; p[i] && !(p[i] == '"' && p[i + 1] != '"'); i++)
                if (p[i] == '"')
                    i++;
            if (p[i] != '"')
                return 0;
            i++;
        } else {
            size_t s = i;
            while (p[i] && (strchr("abcdefghijklmnopqrstuvwxyz0123456789_$", p[i]) ||
                            (unsigned char)p[i] >= 0x80))
                i++;
            if (i == s)
                return 0;
        }
        if (part == 0 && p[i] != '.')
            return 0;
        if (part == 0)
            i++;
    }
    return i;
}

static void wait_for(struct rune_pg_job *j, long k)
{
    long *grown = realloc(j->more, (j->nmore + 1) * sizeof *j->more);
    if (!grown)
        abort();
    j->more = grown;
    j->more[j->nmore++] = k;
}

/* PostgreSQL checks a new foreign key with one anti-join of the
 * referencing table against the referenced one. Right after a restore,
 * with no statistics yet, its planner hashes the whole referenced table
 * and probes it once per referencing row (in parallel workers where it
 * can): on the realistic set at 1 GiB, order_items (2.5 M rows) against
 * orders (1.25 M) took 1.5–2 s of CPU that way, and 0.45 s merging the
 * two tables' btree indexes, read in order without touching the tables
 * (COPY FREEZE marked every page all-visible). So when the foreign key's
 * columns lead a btree index of the referencing table (built here: the
 * returned job, which the check then waits for) and the referenced key's
 * index has the referenced columns in the same order, the check runs with
 * hash joins off; the planner still picks a nested loop over the
 * referenced key's index when the referencing table is small. Elsewhere
 * (no such index, a partitioned table) it is left alone: the merge would
 * sort a whole table. j is the foreign key's job (its SQL is rewritten),
 * ref what follows "REFERENCES " in it (the referenced table and
 * columns). -1: no merge. */
static long fk_by_merge(struct rune_pg_job *j, const char *ref, struct rune_pg_job *jobs,
                        size_t nloads, size_t nindexes)
{
    const char *fk = strstr(j->sql, " FOREIGN KEY ("), *after;
    char *cols = fk ? inside(fk + 13, &after) : NULL;
    char *refcols = inside(ref + qualified_len(ref), &after);
    long child = -1;
    bool keyed = false;
    for (size_t k = nloads; cols && refcols && k < nloads + nindexes; k++) {
        const struct rune_pg_job *x = &jobs[k];
        if (!x->table || !x->cols)
            continue;
        if (child < 0 && !strcmp(x->table, j->locks[0]) && leads(x->cols, cols))
            child = (long)k;
        if (!strcmp(x->table, j->locks[1]) && !strcmp(x->cols, refcols))
            keyed = true;
    }
    char *sql = NULL;
    if (child >= 0 && keyed &&
        asprintf(&sql, "SET enable_hashjoin = off;\n%sRESET enable_hashjoin;\n", j->sql) < 0)
        abort();
    free(cols);
    free(refcols);
    if (!sql)
        return -1;
    free(j->sql);
    j->sql = sql;
    return child;
}

size_t rune_pg_fk_jobs(char *text, struct rune_pg_job **jobs, size_t *n, size_t *cap, size_t nloads,
                       size_t nindexes, char **rest)
{
    size_t ne, moved = 0, at;
    struct entry *e = entries_of(text, &ne);
    *rest = malloc(strlen(text) + 1);
    if (!*rest)
        abort();
    char *first = ne ? e[0].start : text + strlen(text);
    at = (size_t)(first - text);
    memcpy(*rest, text, at);
    for (size_t i = 0; i < ne; i++) {
        char *child = NULL, *parent = NULL;
        const char *ref = e[i].type && !strcmp(e[i].type, "FK CONSTRAINT")
                              ? strstr(e[i].sql, " REFERENCES ")
                              : NULL;
        if (ref && (child = entry_table(e[i].sql))) {
            size_t pl = qualified_len(ref + 12);
            parent = pl ? strndup(ref + 12, pl) : NULL;
        }
        long cl = load_of(*jobs, nloads, child), pa = load_of(*jobs, nloads, parent);
        if (cl < 0 || pa < 0 || json_is_true(json_object_get((*jobs)[pa].sec, "partitioned"))) {
            memcpy(*rest + at, e[i].start, e[i].len); /* stays in the script */
            at += e[i].len;
            free(child);
            free(parent);
            continue;
        }
        struct rune_pg_job j = {
            .sql = e[i].sql, .fn = exec_job, .deps = {cl, pa, -1}, .stage = RUNE_PG_STAGE_FK};
        e[i].sql = NULL;
        j.name = j.own = e[i].name ? e[i].name : strdup("a foreign key");
        e[i].name = NULL;
        j.locks[0] = child;
        j.locks[1] = parent;
        for (size_t k = nloads; k < nloads + nindexes; k++) /* the referenced key */
            if ((*jobs)[k].table && !strcmp((*jobs)[k].table, parent))
                wait_for(&j, (long)k);
        long by = json_is_true(json_object_get((*jobs)[cl].sec, "partitioned"))
                      ? -1
                      : fk_by_merge(&j, ref + 12, *jobs, nloads, nindexes);
        j.cost = rows_of(*jobs, cl) + rows_of(*jobs, pa);
        if (by >= 0) {
            wait_for(&j, by);
            j.cost *= FK_MERGE_COST_PER_ROW;
        } else {
            j.cost *= FK_HASH_COST_PER_ROW;
        }
        rune_pg_jobs_add(jobs, n, cap, j);
        moved++;
    }
    (*rest)[at] = '\0';
    entries_free(e, ne);
    return moved;
}
