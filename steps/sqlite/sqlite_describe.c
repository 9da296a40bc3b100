/*
 * sqlite_describe.c — what a backup's manifest says about a database (row
 * counts, per-table content hashes, a schema fingerprint), read by several
 * connections at once, each in a thread of its own.
 *
 * Every connection handed in reads the same snapshot (the caller makes sure
 * of that: sqlite_snapshot.c for a live database; a restored copy nobody
 * else writes trivially), so the work may be cut in pieces read in any
 * order by any of them. A piece is a table, or, for an ordinary table with
 * a rowid, a range of rowids: the content hash is a sum (rowhash.h), so the
 * pieces' sums add up to the table's, and the threads finish together
 * instead of one of them reading the largest table alone at the end.
 * Tables that cannot be cut (WITHOUT ROWID, virtual) go first.
 *
 * A table that cannot be read is an error, never a count of 0; the first
 * error stops the others (their statements are interrupted) and is the one
 * reported.
 */
#include "sqlite.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "digest.h"
#include "rowhash.h"

/* Rowids per piece at the least, and pieces per table at most per thread:
 * enough for the threads to even out, few enough that a piece's query
 * costs nothing next to its rows. */
#define PIECE_MIN_ROWIDS 65536ULL
#define PIECES_PER_THREAD 2

/* One piece of work: a whole table, or its rows with rowid in [lo, hi]
 * (alias names the rowid where no column shadows it). */
struct piece {
    size_t table;
    const char *alias; /* NULL: the whole table */
    sqlite3_int64 lo, hi;
    unsigned long long lane[4];
    long long rows;
};

struct worker {
    struct rune_sqlite_describe *d;
    sqlite3 *db;
    pthread_t thread;
};

struct rune_sqlite_describe {
    struct rune_call *c;
    sqlite3 **dbs;
    bool hashes;
    const char *what;
    json_t *names; /* the tables, in name order */
    struct piece *pieces;
    size_t npieces, cap;
    atomic_size_t next; /* the next piece to take */
    atomic_bool stop;   /* a piece failed: the others stop */
    pthread_mutex_t mu; /* guards why */
    char why[1024];
    struct worker *workers; /* one per connection used */
    int nworkers;
    int started; /* of them, running as threads */
};

/* The progress handler of every connection: stop on the call's deadline or
 * cancellation, or when another piece failed. */
static int interrupted(void *arg)
{
    struct rune_sqlite_describe *d = arg;
    return atomic_load(&d->stop) || rune_call_cancelled(d->c);
}

/* Table t could not be read: its query did not compile, or failed
 * `midway`. The first failure is the one reported; every later one only
 * stops. */
static void failed(struct rune_sqlite_describe *d, bool midway, const char *t, const char *detail)
{
    pthread_mutex_lock(&d->mu);
    if (!atomic_load(&d->stop)) {
        if (midway)
            snprintf(d->why, sizeof d->why, "reading table %s of %s failed: %s", t, d->what,
                     detail);
        else
            snprintf(d->why, sizeof d->why, "cannot read table %s of %s: %s", t, d->what, detail);
    }
    atomic_store(&d->stop, true);
    pthread_mutex_unlock(&d->mu);
}

static const char *table_name(struct rune_sqlite_describe *d, size_t i)
{
    return json_string_value(json_array_get(d->names, i));
}

/* Counts (and with hashes, hashes) the rows of piece p on db. */
static void read_piece(struct rune_sqlite_describe *d, sqlite3 *db, struct piece *p)
{
    const char *t = table_name(d, p->table);
    char *sql;
    if (!d->hashes)
        sql = rune_sqlite_sql_for("SELECT count(*) FROM \"%w\"", t);
    else if (!p->alias)
        sql = rune_sqlite_sql_for("SELECT * FROM \"%w\"", t);
    else /* the alias is one of SQLite's three names of the rowid */
        sql = sqlite3_mprintf("SELECT * FROM \"%w\" WHERE %s BETWEEN ?1 AND ?2", t, p->alias);
    sqlite3_stmt *st = NULL;
    if (!sql || sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        failed(d, false, t,
               sql ? sqlite3_errmsg(db)
                   : "no memory for the query (free memory on this host and run the step again)");
        sqlite3_free(sql);
        return;
    }
    sqlite3_free(sql);
    int rc;
    if (d->hashes) {
        if (p->alias) {
            sqlite3_bind_int64(st, 1, p->lo);
            sqlite3_bind_int64(st, 2, p->hi);
        }
        struct rune_rowhash h;
        rune_rowhash_init(&h);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            rune_sqlite_hash_row(st, &h);
        memcpy(p->lane, h.lane, sizeof p->lane);
        p->rows = h.rows;
        rune_rowhash_free(&h);
    } else {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            p->rows = sqlite3_column_int64(st, 0);
            rc = SQLITE_DONE;
        }
    }
    if (rc != SQLITE_DONE)
        failed(d, true, t, sqlite3_errmsg(db));
    sqlite3_finalize(st);
}

/* One thread: the next piece on its own connection, until none is left. */
static void *work(void *arg)
{
    struct worker *wk = arg;
    struct rune_sqlite_describe *d = wk->d;
    for (;;) {
        size_t i = atomic_fetch_add(&d->next, 1);
        if (i >= d->npieces || atomic_load(&d->stop))
            return NULL;
        read_piece(d, wk->db, &d->pieces[i]);
    }
}

static int add_piece(struct rune_sqlite_describe *d, struct piece p)
{
    if (d->npieces == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 16;
        struct piece *np = realloc(d->pieces, cap * sizeof *np);
        if (!np)
            return -1;
        d->pieces = np;
        d->cap = cap;
    }
    d->pieces[d->npieces++] = p;
    return 0;
}

/* The name under which table t's rowid can be queried: "rowid", "_rowid_"
 * or "oid", whichever no column of t takes for itself; NULL for a table
 * without a rowid (WITHOUT ROWID, virtual), or when in doubt. */
static const char *rowid_alias(sqlite3 *db, const char *t)
{
    static const char *const names[] = {"rowid", "_rowid_", "oid"};
    bool taken[3] = {false, false, false};
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(st, 1, t, -1, SQLITE_STATIC);
    const char *sql =
        sqlite3_step(st) == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    bool plain = sql && strncasecmp(sql, "CREATE TABLE", 12) == 0;
    sqlite3_finalize(st);
    /* every column, hidden and generated ones too */
    if (!plain || sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_xinfo(?1)", -1, &st,
                                     NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(st, 1, t, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        for (int k = 0; k < 3; k++)
            if (!strcasecmp((const char *)sqlite3_column_text(st, 0), names[k]))
                taken[k] = true;
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return NULL;
    for (int k = 0; k < 3; k++)
        if (!taken[k])
            return names[k];
    return NULL;
}

/* Adds the pieces of table i: rowid ranges of about equal width where it
 * has a rowid and hashes are wanted (counting a whole table is quick),
 * else the whole table, at the front. */
static int plan_table(struct rune_sqlite_describe *d, sqlite3 *db, size_t i, int threads)
{
    struct piece whole = {.table = i};
    const char *alias = d->hashes ? rowid_alias(db, table_name(d, i)) : NULL;
    char *sql = alias ? sqlite3_mprintf("SELECT min(%s), max(%s) FROM \"%w\"", alias, alias,
                                        table_name(d, i))
                      : NULL;
    sqlite3_stmt *st = NULL;
    bool ranged = sql && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
                  sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER;
    sqlite3_int64 lo = ranged ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_int64 hi = ranged ? sqlite3_column_int64(st, 1) : 0;
    sqlite3_finalize(st);
    sqlite3_free(sql);
    if (!ranged) { /* first: the pieces that cannot be cut */
        if (add_piece(d, whole) != 0)
            return -1;
        memmove(d->pieces + 1, d->pieces, (d->npieces - 1) * sizeof *d->pieces);
        d->pieces[0] = whole;
        return 0;
    }
    /* in unsigned arithmetic: hi - lo may not fit a signed 64-bit integer */
    unsigned long long width = (unsigned long long)hi - (unsigned long long)lo; /* + 1 */
    unsigned long long k = width / PIECE_MIN_ROWIDS + 1;
    unsigned long long most = (unsigned long long)threads * PIECES_PER_THREAD;
    if (k > most)
        k = most;
    unsigned long long step = width / k + 1;
    for (unsigned long long j = 0; j < k; j++) {
        struct piece p = {.table = i, .alias = alias};
        p.lo = (sqlite3_int64)((unsigned long long)lo + j * step);
        p.hi = j + 1 == k ? hi : (sqlite3_int64)((unsigned long long)p.lo + step - 1);
        if (add_piece(d, p) != 0)
            return -1;
    }
    return 0;
}

int rune_sqlite_describe_start(struct rune_sqlite_describe **out, struct rune_call *c,
                               sqlite3 **dbs, int n, bool hashes, const char *what, char *why,
                               size_t whylen)
{
    *out = NULL;
    struct rune_sqlite_describe *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(why, whylen,
                 "no memory to describe %s (free memory on this host and run the step again)",
                 what);
        return -1;
    }
    d->c = c;
    d->dbs = dbs;
    d->hashes = hashes;
    d->what = what;
    pthread_mutex_init(&d->mu, NULL);
    d->names = rune_sqlite_table_names(dbs[0], why, whylen);
    d->workers = calloc((size_t)n, sizeof *d->workers);
    bool ok = d->names && d->workers;
    for (size_t i = 0; ok && i < json_array_size(d->names); i++)
        ok = plan_table(d, dbs[0], i, n) == 0;
    if (!ok) {
        if (d->names)
            snprintf(why, whylen,
                     "no memory to describe %s (free memory on this host and run the step again)",
                     what);
        json_decref(d->names);
        free(d->pieces);
        free(d->workers);
        pthread_mutex_destroy(&d->mu);
        free(d);
        return -1;
    }
    /* no more threads than pieces; workers block every signal (they are
     * for the thread that runs the step) */
    d->nworkers = (size_t)n < d->npieces ? n : (int)d->npieces;
    for (int i = 0; i < d->nworkers; i++) {
        d->workers[i].d = d;
        d->workers[i].db = dbs[i];
        sqlite3_progress_handler(dbs[i], 1000, interrupted, d);
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    while (d->started < d->nworkers &&
           pthread_create(&d->workers[d->started].thread, NULL, work, &d->workers[d->started]) == 0)
        d->started++; /* fewer threads than asked: those started take every piece */
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    *out = d;
    return 0;
}

bool rune_sqlite_describe_failed(struct rune_sqlite_describe *d)
{
    return atomic_load(&d->stop);
}

void rune_sqlite_describe_stop(struct rune_sqlite_describe *d)
{
    pthread_mutex_lock(&d->mu);
    if (!atomic_load(&d->stop))
        snprintf(d->why, sizeof d->why, "stopped before the tables of %s were read", d->what);
    atomic_store(&d->stop, true);
    pthread_mutex_unlock(&d->mu);
}

/* SHA-256 of the schema: every CREATE statement, in name order. */
static int schema_fingerprint(sqlite3 *db, const char *what, char out[RUNE_SHA256_HEX], char *why,
                              size_t whylen)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT type, name, coalesce(sql,'') FROM sqlite_schema "
                           "WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                           "ORDER BY type, name",
                           -1, &st, NULL) != SQLITE_OK) {
        snprintf(why, whylen, "cannot read the schema of %s: %s", what, sqlite3_errmsg(db));
        return -1;
    }
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    if (!m || EVP_DigestInit_ex(m, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(m);
        sqlite3_finalize(st);
        snprintf(why, whylen,
                 "no memory to hash the schema of %s (free memory on this host and run the step "
                 "again)",
                 what);
        return -1;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        for (int k = 0; k < 3; k++) {
            const char *v = (const char *)sqlite3_column_text(st, k);
            EVP_DigestUpdate(m, v, strlen(v) + 1);
        }
    if (rc != SQLITE_DONE)
        snprintf(why, whylen, "cannot read the schema of %s: %s", what, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    rune_digest_hex(m, out);
    EVP_MD_CTX_free(m);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* {"tables": ..., "table_hashes": ...} from the pieces, in name order. */
static json_t *sum_pieces(struct rune_sqlite_describe *d)
{
    size_t n = json_array_size(d->names);
    struct rune_rowhash *sums = calloc(n + 1, sizeof *sums);
    json_t *tables = json_object(), *hashes = d->hashes ? json_object() : NULL;
    json_t *desc = json_object();
    if (!sums || !tables || (d->hashes && !hashes) || !desc) {
        free(sums);
        json_decref(tables);
        json_decref(hashes);
        json_decref(desc);
        return NULL;
    }
    for (size_t i = 0; i < d->npieces; i++) {
        struct rune_rowhash one = {.rows = d->pieces[i].rows};
        memcpy(one.lane, d->pieces[i].lane, sizeof one.lane);
        rune_rowhash_merge(&sums[d->pieces[i].table], &one);
    }
    for (size_t i = 0; i < n; i++) {
        char hex[65];
        json_object_set_new(tables, table_name(d, i), json_integer((json_int_t)sums[i].rows));
        rune_rowhash_hex(&sums[i], hex);
        if (hashes)
            json_object_set_new(hashes, table_name(d, i), json_string(hex));
    }
    free(sums);
    json_object_set_new(desc, "tables", tables);
    if (hashes)
        json_object_set_new(desc, "table_hashes", hashes);
    return desc;
}

json_t *rune_sqlite_describe_finish(struct rune_sqlite_describe *d, char *why, size_t whylen)
{
    if (d->started == 0 && d->nworkers > 0)
        work(&d->workers[0]); /* no thread could be started: here, then */
    for (int i = 0; i < d->started; i++)
        pthread_join(d->workers[i].thread, NULL);
    for (int i = 0; i < d->nworkers; i++)
        sqlite3_progress_handler(d->workers[i].db, 0, NULL, NULL);
    json_t *desc = NULL;
    char schema[RUNE_SHA256_HEX];
    if (atomic_load(&d->stop)) {
        snprintf(why, whylen, "%s", d->why);
    } else if (rune_call_cancelled(d->c)) {
        snprintf(why, whylen, "stopped while reading the tables of %s", d->what);
    } else if (schema_fingerprint(d->dbs[0], d->what, schema, why, whylen) == 0) {
        desc = sum_pieces(d);
        if (desc)
            json_object_set_new(desc, "schema_fingerprint", json_string(schema));
        else
            snprintf(why, whylen,
                     "no memory for the description of %s (free memory on this host and run the "
                     "step again)",
                     d->what);
    }
    json_decref(d->names);
    free(d->pieces);
    free(d->workers);
    pthread_mutex_destroy(&d->mu);
    free(d);
    return desc;
}
