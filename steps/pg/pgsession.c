/*
 * pgsession.c — session settings kept on rune's side for a connection
 * through a transaction pooler. See pgsession.h for why.
 *
 * A statement is sorted by its first words (after blanks and comments):
 * - `SET [SESSION] name = value` (or TO, TIME ZONE, ROLE): remembered as
 *   `SET LOCAL …`, which replaces an earlier setting of the same name, and
 *   applied now (inside a transaction) or tried in a transaction that is
 *   rolled back (outside one), so a bad value fails the statement as a
 *   plain SET would;
 * - BEGIN / START TRANSACTION: sent, then the remembered settings;
 * - COMMIT, ROLLBACK and the like, and statements PostgreSQL refuses to
 *   run inside a transaction block (VACUUM, CREATE DATABASE, … CONCURRENTLY):
 *   sent as they are;
 * - anything else outside a transaction: BEGIN and the settings, the
 *   statement, COMMIT (ROLLBACK when it failed);
 * - anything else inside a transaction: sent as it is (the transaction
 *   has the settings already).
 * What this does not cover, and the reason rune never does it: LISTEN,
 * session advisory locks, named prepared statements, temporary tables
 * that outlive a transaction — none can work through a transaction pooler.
 */
#include "pgsession.h"

#include <ctype.h>
#include <libpq-events.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Deterministic text output: dumps and content hashes depend on it. The
 * client encoding is not here: it is a connection parameter (pgconn.c),
 * which poolers carry to every server connection they hand out. */
#define SET_TZ "SET TimeZone = 'UTC'"
#define SET_DATESTYLE "SET DateStyle = 'ISO, YMD'"
#define SET_INTERVAL "SET IntervalStyle = 'postgres'"
#define SET_FLOAT "SET extra_float_digits = 1"
#define SET_BYTEA "SET bytea_output = 'hex'"
#define SET_MESSAGES "SET client_min_messages = warning"

const char *const rune_pg_session_settings =
    SET_TZ "; " SET_DATESTYLE "; " SET_INTERVAL "; " SET_FLOAT "; " SET_BYTEA
           "; SET client_encoding = 'UTF8'; " SET_MESSAGES;

static const char *const BASE[] = {
    SET_TZ, SET_DATESTYLE, SET_INTERVAL, SET_FLOAT, SET_BYTEA, SET_MESSAGES, NULL,
};

struct setting {
    char *key;   /* lower-case name ("timezone", "role") */
    char *local; /* "SET LOCAL timezone = 'UTC'" */
};

struct session {
    struct setting *v;
    size_t n, cap;
    char *text; /* every setting's SET LOCAL, joined by "; " */
};

enum kind { K_OTHER, K_SET, K_RESET, K_BEGIN, K_RAW };

struct stmt {
    enum kind kind;
    char key[64];     /* K_SET, K_RESET: the setting's name, lower case */
    const char *rest; /* K_SET: what follows SET [SESSION] */
};

static void session_free(struct session *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].key);
        free(s->v[i].local);
    }
    free(s->v);
    free(s->text);
    free(s);
}

/* libpq calls this for every event on the connection; the only one that
 * matters is its end, when the state goes with it. */
static int session_event(PGEventId id, void *info, void *pass)
{
    (void)pass;
    if (id == PGEVT_CONNDESTROY) {
        PGEventConnDestroy *e = info;
        session_free(PQinstanceData(e->conn, session_event));
    }
    return 1;
}

bool rune_pg_session_pooled(const PGconn *conn)
{
    return PQinstanceData(conn, session_event) != NULL;
}

/* ---- reading a statement's first words ---- */

/* Past blanks and comments (-- to the end of the line, nested block
 * comments), as PostgreSQL's lexer skips them. */
static const char *skip(const char *p)
{
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (p[0] == '-' && p[1] == '-') {
            p += strcspn(p, "\n");
        } else if (p[0] == '/' && p[1] == '*') {
            int depth = 0;
            do {
                if (p[0] == '/' && p[1] == '*')
                    depth++, p += 2;
                else if (p[0] == '*' && p[1] == '/')
                    depth--, p += 2;
                else if (*p)
                    p++;
            } while (*p && depth > 0);
        } else {
            return p;
        }
    }
}

/* The keyword or unquoted name at p in upper case (empty if none); p is
 * moved past it and the blanks after it. */
static void word(const char **p, char *out, size_t len)
{
    const char *s = skip(*p);
    size_t n = 0;
    while (isalnum((unsigned char)*s) || *s == '_' || *s == '.') {
        if (n + 1 < len)
            out[n++] = (char)toupper((unsigned char)*s);
        s++;
    }
    out[n] = '\0';
    *p = skip(s);
}

static bool among(const char *w, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(w, *list))
            return true;
    return false;
}

/* True when text holds one statement: no semicolon outside quotes but at
 * the end. */
static bool single(const char *p)
{
    char q = 0;
    for (; *p; p++) {
        if (q) {
            if (*p == q)
                q = 0;
        } else if (*p == '\'' || *p == '"') {
            q = *p;
        } else if (*p == ';') {
            return *skip(p + 1) == '\0';
        }
    }
    return true;
}

static void lower_into(char *dst, size_t len, const char *w)
{
    size_t i = 0;
    for (; w[i] && i + 1 < len; i++)
        dst[i] = (char)tolower((unsigned char)w[i]);
    dst[i] = '\0';
}

/* SET's forms: SET [SESSION] name {=|TO} …, SET TIME ZONE …, SET ROLE …;
 * not SET LOCAL / TRANSACTION / CONSTRAINTS (no session state) nor SET
 * SESSION AUTHORIZATION / CHARACTERISTICS (rune never sends them). */
static void classify_set(const char *p, struct stmt *st)
{
    static const char *const not_session[] = {"LOCAL", "TRANSACTION", "CONSTRAINTS", NULL};
    char w[64];
    const char *at = p;
    word(&p, w, sizeof w);
    if (!strcmp(w, "SESSION")) {
        at = p;
        word(&p, w, sizeof w);
        if (!strcmp(w, "AUTHORIZATION") || !strcmp(w, "CHARACTERISTICS"))
            return;
    }
    if (!*w || among(w, not_session) || !single(at))
        return;
    st->kind = K_SET;
    st->rest = skip(at);
    lower_into(st->key, sizeof st->key, !strcmp(w, "TIME") ? "timezone" : w);
}

/* Statements PostgreSQL refuses inside a transaction block (or that make
 * no sense in one): sent as they are. */
static bool no_block(const char *first, const char *p)
{
    static const char *const alone[] = {"VACUUM",     "CLUSTER", "REINDEX",  "DISCARD",
                                        "CHECKPOINT", "LISTEN",  "UNLISTEN", NULL};
    static const char *const objects[] = {"DATABASE", "TABLESPACE", "SUBSCRIPTION", "SYSTEM", NULL};
    if (among(first, alone))
        return true;
    if (strcmp(first, "CREATE") && strcmp(first, "DROP") && strcmp(first, "ALTER"))
        return false;
    char w[64];
    for (int i = 0; i < 4; i++) {
        word(&p, w, sizeof w);
        if ((i == 0 && among(w, objects)) || !strcmp(w, "CONCURRENTLY"))
            return true;
    }
    return false;
}

static void classify(const char *sql, int nparams, struct stmt *st)
{
    static const char *const control[] = {"COMMIT",  "END",       "ROLLBACK", "ABORT",
                                          "PREPARE", "SAVEPOINT", "RELEASE",  NULL};
    memset(st, 0, sizeof *st);
    const char *p = sql;
    char w[64];
    word(&p, w, sizeof w);
    if (!strcmp(w, "SET") && nparams == 0) {
        classify_set(p, st);
    } else if (!strcmp(w, "RESET") && nparams == 0) {
        char name[64];
        word(&p, name, sizeof name);
        st->kind = K_RESET;
        lower_into(st->key, sizeof st->key, !strcmp(name, "TIME") ? "timezone" : name);
    } else if (!strcmp(w, "BEGIN") || !strcmp(w, "START")) {
        st->kind = K_BEGIN;
    } else if (among(w, control) || no_block(w, p)) {
        st->kind = K_RAW;
    }
}

/* ---- the remembered settings ---- */

static int rebuild(struct session *s)
{
    size_t len = 1;
    for (size_t i = 0; i < s->n; i++)
        len += strlen(s->v[i].local) + 2;
    char *t = malloc(len);
    if (!t)
        return -1;
    size_t at = 0;
    for (size_t i = 0; i < s->n; i++)
        at += (size_t)snprintf(t + at, len - at, "%s%s", i ? "; " : "", s->v[i].local);
    t[at] = '\0';
    free(s->text);
    s->text = t;
    return 0;
}

/* Remembers `SET LOCAL <rest>` under key, replacing the same key's. */
static int remember(struct session *s, const char *key, const char *local)
{
    size_t i = 0;
    while (i < s->n && strcmp(s->v[i].key, key))
        i++;
    char *copy = strdup(local);
    if (!copy)
        return -1;
    if (i == s->n) {
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 8;
            struct setting *v = realloc(s->v, cap * sizeof *v);
            if (!v) {
                free(copy);
                return -1;
            }
            s->v = v;
            s->cap = cap;
        }
        s->v[i].key = strdup(key);
        if (!s->v[i].key) {
            free(copy);
            return -1;
        }
        s->n++;
    } else {
        free(s->v[i].local);
    }
    s->v[i].local = copy;
    return rebuild(s);
}

/* RESET name: back to what rune's session starts with (RESET ALL: all). */
static int forget(struct session *s, const char *key)
{
    bool all = !strcmp(key, "all");
    for (size_t i = 0; i < s->n;) {
        if (all || !strcmp(s->v[i].key, key)) {
            free(s->v[i].key);
            free(s->v[i].local);
            memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof *s->v);
            s->n--;
        } else {
            i++;
        }
    }
    for (const char *const *b = BASE; *b; b++) {
        struct stmt st;
        classify(*b, 0, &st);
        if (all || !strcmp(st.key, key)) {
            char local[128];
            snprintf(local, sizeof local, "SET LOCAL %s", st.rest);
            if (remember(s, st.key, local) != 0)
                return -1;
        }
    }
    return rebuild(s);
}

int rune_pg_session_pool(PGconn *conn)
{
    struct session *s = calloc(1, sizeof *s);
    if (!s || forget(s, "all") != 0) {
        session_free(s);
        return -1;
    }
    if (!PQregisterEventProc(conn, session_event, "rune session", NULL) ||
        !PQsetInstanceData(conn, session_event, s)) {
        session_free(s);
        return -1;
    }
    return 0;
}

/* ---- running statements ---- */

/* Ends an open or failed transaction of ours; what the ROLLBACK says does
 * not matter (the caller reports the first error). */
static void rollback(struct rune_call *c, PGconn *conn)
{
    PGTransactionStatusType t = PQtransactionStatus(conn);
    if (t != PQTRANS_INTRANS && t != PQTRANS_INERROR)
        return;
    char ignored[256];
    PQclear(rune_pg_exec_raw(c, conn, "ROLLBACK", 0, NULL, ignored, sizeof ignored));
}

static char *concat(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s", a, b);
    return s;
}

/* The remembered settings, in the transaction just begun. */
static int apply(struct rune_call *c, PGconn *conn, struct session *s, char *err, size_t errlen)
{
    char why[768];
    PGresult *r = rune_pg_exec_raw(c, conn, s->text, 0, NULL, why, sizeof why);
    if (!r) {
        snprintf(err, errlen, "cannot give the transaction rune's session settings (%s): %s",
                 s->text, why);
        return -1;
    }
    PQclear(r);
    return 0;
}

static PGresult *set_setting(struct rune_call *c, PGconn *conn, struct session *s,
                             const struct stmt *st, char *err, size_t errlen)
{
    char *local = concat("SET LOCAL ", st->rest);
    if (!local) {
        snprintf(err, errlen, "no memory for the session setting %s", st->key);
        return NULL;
    }
    PGresult *r;
    if (PQtransactionStatus(conn) == PQTRANS_IDLE) {
        /* tried in a transaction rolled back at once: a bad value fails now */
        char *tried = concat("BEGIN; ", local);
        r = tried ? rune_pg_exec_raw(c, conn, tried, 0, NULL, err, errlen) : NULL;
        if (!tried)
            snprintf(err, errlen, "no memory for the session setting %s", st->key);
        free(tried);
        rollback(c, conn);
    } else {
        r = rune_pg_exec_raw(c, conn, local, 0, NULL, err, errlen);
    }
    if (r && remember(s, st->key, local) != 0) {
        PQclear(r);
        r = NULL;
        snprintf(err, errlen, "no memory to remember the session setting %s", st->key);
    }
    free(local);
    return r;
}

/* A statement outside any transaction: in one of ours, with the settings. */
static PGresult *wrapped(struct rune_call *c, PGconn *conn, struct session *s, const char *sql,
                         int nparams, const char *const *params, char *err, size_t errlen)
{
    char *begin = concat("BEGIN; ", s->text);
    if (!begin) {
        snprintf(err, errlen, "no memory to begin a transaction");
        return NULL;
    }
    char why[768];
    PGresult *b = rune_pg_exec_raw(c, conn, begin, 0, NULL, why, sizeof why);
    free(begin);
    if (!b) {
        snprintf(err, errlen,
                 "cannot begin a transaction with rune's session settings through the "
                 "connection pooler: %s",
                 why);
        rollback(c, conn);
        return NULL;
    }
    PQclear(b);
    PGresult *r = rune_pg_exec_raw(c, conn, sql, nparams, params, err, errlen);
    if (!r) {
        rollback(c, conn);
        return NULL;
    }
    /* a script may have ended the transaction itself */
    if (PQtransactionStatus(conn) == PQTRANS_INTRANS) {
        PGresult *done = rune_pg_exec_raw(c, conn, "COMMIT", 0, NULL, err, errlen);
        if (!done) {
            PQclear(r);
            rollback(c, conn);
            return NULL;
        }
        PQclear(done);
    }
    return r;
}

PGresult *rune_pg_session_exec(struct rune_call *c, PGconn *conn, const char *sql, int nparams,
                               const char *const *params, char *err, size_t errlen)
{
    struct session *s = PQinstanceData(conn, session_event);
    struct stmt st;
    classify(sql, nparams, &st);
    switch (st.kind) {
    case K_SET:
        return set_setting(c, conn, s, &st, err, errlen);
    case K_RESET:
        if (forget(s, st.key) != 0) {
            snprintf(err, errlen, "no memory to reset the session setting %s", st.key);
            return NULL;
        }
        break;
    case K_BEGIN: {
        PGresult *r = rune_pg_exec_raw(c, conn, sql, nparams, params, err, errlen);
        if (r && PQtransactionStatus(conn) == PQTRANS_INTRANS && apply(c, conn, s, err, errlen)) {
            PQclear(r);
            return NULL;
        }
        return r;
    }
    case K_RAW:
        return rune_pg_exec_raw(c, conn, sql, nparams, params, err, errlen);
    case K_OTHER:
        break;
    }
    if (PQtransactionStatus(conn) != PQTRANS_IDLE)
        return rune_pg_exec_raw(c, conn, sql, nparams, params, err, errlen);
    return wrapped(c, conn, s, sql, nparams, params, err, errlen);
}
