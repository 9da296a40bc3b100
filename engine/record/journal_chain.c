/*
 * journal_chain.c — the incident log's hash chain, whatever stores it:
 * the canonical form of an event, its SHA-256 link to the one before, and
 * the verifier that recomputes an incident's chain from its stored rows
 * and names the first event changed, inserted, deleted or reordered.
 *
 * The writer (a backend's append) and the verifier compute the same
 * canonical form with the same code, over what is stored, so they cannot
 * drift apart; the writer only skips re-parsing its own detail text. The
 * rules are documented in docs/architecture.md ("The hash chain") so the
 * chain can be recomputed elsewhere; never change them.
 */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal_store.h"
#include "record.h"

/* A growing text: the canonical form is written into it piece by piece. */
struct canon {
    char *s;
    size_t len, cap;
    bool bad;
};

static void put(struct canon *c, const char *t, size_t n)
{
    if (c->bad)
        return;
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 256;
        while (c->len + n + 1 > cap)
            cap *= 2;
        char *s = realloc(c->s, cap);
        if (!s) {
            c->bad = true;
            return;
        }
        c->s = s;
        c->cap = cap;
    }
    memcpy(c->s + c->len, t, n);
    c->len += n;
    c->s[c->len] = '\0';
}

static void put_str(struct canon *c, const char *t)
{
    put(c, t, strlen(t));
}

/* A text field as jansson dumps a string (null when NULL). Printable
 * ASCII without quote or backslash is written as it is, which is what
 * jansson writes for it; anything else is dumped by jansson itself, so
 * escapes and UTF-8 checks are exactly its own. */
static void put_text(struct canon *c, const char *t)
{
    if (!t) {
        put_str(c, "null");
        return;
    }
    const unsigned char *p = (const unsigned char *)t;
    while (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
        p++;
    if (!*p) {
        put(c, "\"", 1);
        put(c, t, (size_t)(p - (const unsigned char *)t));
        put(c, "\"", 1);
        return;
    }
    json_t *js = json_string(t); /* NULL: not UTF-8 */
    char *d = js ? json_dumps(js, RUNE_JOURNAL_STORE_FLAGS) : NULL;
    if (d)
        put_str(c, d);
    else
        c->bad = true;
    free(d);
    json_decref(js);
}

static void put_int(struct canon *c, long long v)
{
    char b[32];
    int n = snprintf(b, sizeof b, "%lld", v);
    put(c, b, (size_t)n);
}

/*
 * The canonical form of an event, which the hash chain covers:
 *
 *   hash = lowercase hex SHA-256( prev_hash || canonical )
 *
 * where prev_hash is the previous event's hash as 64 ASCII hex digits (64
 * '0's for seq 1), and canonical is the JSON object
 *
 *   {"at","attempt","detail","duration_ms","incident_id","kind","seq",
 *    "stage","status","step"}
 *
 * built from the stored row: text columns as strings (null when NULL),
 * attempt/seq as integers, duration_ms an integer or null, detail the value
 * parsed from detail_json (JSON_DECODE_ANY|JSON_ALLOW_NUL) or null; dumped
 * with jansson's json_dumps(JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY):
 * no whitespace, keys in byte order at every depth, UTF-8 unescaped.
 *
 * It is written here field by field, in that key order, rather than
 * built as a jansson object and dumped: the same bytes, at a fraction of
 * the cost (a plan of 1,000 steps hashes 2,000 events; building, sorting
 * and dumping an object for each was a quarter of its instructions).
 *
 * detail_as_dumped: the writer's detail text is jansson's own dump of the
 * detail with the log's flags (journal.c), which parsing and dumping again
 * reproduces byte for byte, so it is used as it is. A verifier passes
 * false: a stored detail is untrusted text, and is parsed and dumped
 * again, so an edit that is not jansson's form still yields the form the
 * writer hashed only if it means the same value. tests/unit/test_chain_form.c
 * checks that both ways give the same bytes. Returns malloc'd text.
 */
static char *canonical_event(const char *incident_id, long long seq, const char *at,
                             const char *stage, const char *step, long long attempt,
                             const char *kind, const char *status, long long duration_ms,
                             const char *detail_json, bool detail_as_dumped)
{
    struct canon c = {0};
    put_str(&c, "{\"at\":");
    put_text(&c, at);
    put_str(&c, ",\"attempt\":");
    put_int(&c, attempt);
    put_str(&c, ",\"detail\":");
    if (!detail_json) {
        put_str(&c, "null");
    } else if (detail_as_dumped) {
        put_str(&c, detail_json);
    } else {
        json_t *detail = json_loads(detail_json, RUNE_JOURNAL_LOAD_FLAGS, NULL);
        char *d = detail ? json_dumps(detail, RUNE_JOURNAL_STORE_FLAGS) : NULL;
        if (d)
            put_str(&c, d);
        else
            c.bad = true;
        free(d);
        json_decref(detail);
    }
    put_str(&c, ",\"duration_ms\":");
    if (duration_ms < 0)
        put_str(&c, "null");
    else
        put_int(&c, duration_ms);
    put_str(&c, ",\"incident_id\":");
    put_text(&c, incident_id);
    put_str(&c, ",\"kind\":");
    put_text(&c, kind);
    put_str(&c, ",\"seq\":");
    put_int(&c, seq);
    put_str(&c, ",\"stage\":");
    put_text(&c, stage);
    put_str(&c, ",\"status\":");
    put_text(&c, status);
    put_str(&c, ",\"step\":");
    put_text(&c, step);
    put_str(&c, "}");
    if (c.bad) {
        free(c.s);
        return NULL;
    }
    return c.s;
}

/* SHA-256 fetched from OpenSSL's provider once: EVP_sha256() makes
 * every EVP_DigestInit_ex fetch it again (OpenSSL 3), a third of hashing
 * one event. Never freed: it lives as long as the process. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static void sha256_hex(const char *prev, const char *canon, char out[RUNE_HASH_HEX + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    pthread_once(&sha256_once, sha256_fetch);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    out[0] = '\0';
    if (!ctx)
        return;
    if (EVP_DigestInit_ex(ctx, sha256_md ? sha256_md : EVP_sha256(), NULL) == 1 &&
        EVP_DigestUpdate(ctx, prev, strlen(prev)) == 1 &&
        EVP_DigestUpdate(ctx, canon, strlen(canon)) == 1 && EVP_DigestFinal_ex(ctx, md, &n) == 1) {
        /* by hand, not snprintf("%02x") a byte: that was a fifth of a
         * plan's hashing */
        static const char hex[] = "0123456789abcdef";
        size_t i;
        for (i = 0; i < n && i < RUNE_HASH_HEX / 2; i++) {
            out[2 * i] = hex[md[i] >> 4];
            out[2 * i + 1] = hex[md[i] & 15];
        }
        out[2 * i] = '\0';
    }
    EVP_MD_CTX_free(ctx);
}

static int chain_hash(const char *prev, const char *incident_id, long long seq, const char *at,
                      const char *stage, const char *step, long long attempt, const char *kind,
                      const char *status, long long duration_ms, const char *detail_json,
                      bool detail_as_dumped, char out[RUNE_HASH_HEX + 1])
{
    char *canon = canonical_event(incident_id, seq, at, stage, step, attempt, kind, status,
                                  duration_ms, detail_json, detail_as_dumped);
    out[0] = '\0';
    if (!canon)
        return RUNE_CHAIN_NO_FORM;
    sha256_hex(prev, canon, out);
    free(canon);
    if (strlen(out) != RUNE_HASH_HEX) {
        out[0] = '\0';
        return RUNE_CHAIN_NO_SHA;
    }
    return 0;
}

int rune_chain_hash(const char *prev, const char *incident_id, long long seq, const char *at,
                    const char *stage, const char *step, long long attempt, const char *kind,
                    const char *status, long long duration_ms, const char *detail_json,
                    char out[RUNE_HASH_HEX + 1])
{
    return chain_hash(prev, incident_id, seq, at, stage, step, attempt, kind, status, duration_ms,
                      detail_json, false, out);
}

int rune_chain_hash_new(const char *prev, const char *incident_id, long long seq, const char *at,
                        const char *stage, const char *step, long long attempt, const char *kind,
                        const char *status, long long duration_ms, const char *detail_dumped,
                        char out[RUNE_HASH_HEX + 1])
{
    return chain_hash(prev, incident_id, seq, at, stage, step, attempt, kind, status, duration_ms,
                      detail_dumped, true, out);
}

int rune_chain_event_hash(struct rune_journal *j, const char *prev, const char *incident_id,
                          long long seq, const char *at, const struct rune_event *ev,
                          const char *detail, bool detail_as_dumped, char out[RUNE_HASH_HEX + 1])
{
    switch (chain_hash(prev, incident_id, seq, at, ev->stage, ev->step, ev->attempt, ev->kind,
                       ev->status, ev->duration_ms, detail, detail_as_dumped, out)) {
    case 0:
        return 0;
    case RUNE_CHAIN_NO_FORM:
        return rune_journal_fail(j,
                                 "cannot record event %s of incident %s: a field is not valid "
                                 "UTF-8 or memory ran out",
                                 ev->kind, incident_id);
    default:
        return rune_journal_fail(j,
                                 "cannot record event %s of incident %s: SHA-256 failed "
                                 "(OpenSSL)",
                                 ev->kind, incident_id);
    }
}

char *rune_chain_form(const char *incident_id, long long seq, const char *at, const char *stage,
                      const char *step, long long attempt, const char *kind, const char *status,
                      long long duration_ms, const char *detail_json, bool detail_as_dumped)
{
    return canonical_event(incident_id, seq, at, stage, step, attempt, kind, status, duration_ms,
                           detail_json, detail_as_dumped);
}

void rune_chain_rows_free(struct rune_chain_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].at);
        free(rows[i].stage);
        free(rows[i].step);
        free(rows[i].kind);
        free(rows[i].status);
        free(rows[i].detail);
        free(rows[i].prev);
        free(rows[i].hash);
    }
    free(rows);
}

static bool same(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* The event that closes an incident's chain: nothing may follow it. */
static const char *end_kind(void)
{
    return rune_event_kind_name(RUNE_EV_INCIDENT_END);
}

/* Does the row's stored hash match SHA-256(its prev_hash || its canonical
 * form)? Exactly the writer's computation, over what is stored. */
static bool content_ok(const char *incident_id, const struct rune_chain_row *r)
{
    char hash[RUNE_HASH_HEX + 1] = "";
    /* no canonical form (detail edited into invalid JSON): cannot match */
    if (r->prev)
        rune_chain_hash(r->prev, incident_id, r->seq, r->at, r->stage, r->step, r->attempt, r->kind,
                        r->status, r->duration_ms, r->detail, hash);
    return hash[0] && same(hash, r->hash);
}

static int problem(struct rune_chain_result *res, enum rune_chain_problem p, long long seq,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int problem(struct rune_chain_result *res, enum rune_chain_problem p, long long seq,
                   const char *fmt, ...)
{
    va_list ap;
    res->problem = p;
    res->seq = seq;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof res->message, fmt, ap);
    va_end(ap);
    return 1;
}

/* The seq a renumbered row was chained with: its content matches its hash
 * under a nearby seq (events deleted or inserted before it, the later ones
 * renumbered to hide the gap). 0 when none within reach matches. */
static long long chained_seq(const char *incident_id, const struct rune_chain_row *r)
{
    struct rune_chain_row moved = *r;
    for (long long d = 1; d <= 64; d++) {
        moved.seq = r->seq + d;
        if (content_ok(incident_id, &moved))
            return moved.seq;
        moved.seq = r->seq - d;
        if (moved.seq >= 1 && content_ok(incident_id, &moved))
            return moved.seq;
    }
    return 0;
}

/* Where the row whose stored hash is h sits, or -1. */
static long long find_hash(const struct rune_chain_row *rows, size_t n, const char *h)
{
    for (size_t i = 0; h && i < n; i++)
        if (same(rows[i].hash, h))
            return (long long)i;
    return -1;
}

/* Post-incident notes (rune log note) are the one kind chained after an
 * incident's end. */
static bool is_note(const struct rune_chain_row *r)
{
    return same(r->kind, "incident.note");
}

/* Whether the incident's end comes before row i. */
static bool ended(const struct rune_chain_row *rows, size_t i)
{
    while (i-- > 0)
        if (same(rows[i].kind, end_kind()))
            return true;
    return false;
}

/*
 * Row i against the chain so far (rows before it are intact). Order
 * matters: a seq gap is a deletion; anything after the incident's end was
 * inserted; a link to a hash further down is a reordering. For an intact
 * row with a broken link, a link further up means what lies between was
 * inserted, a link to nothing that its predecessor was deleted. A row
 * whose content matches its hash under another seq was renumbered (or is
 * a copy of another row); otherwise it was changed or forged. A good link
 * with a bad hash is a change. Returns 1 and fills res when row i is wrong.
 */
static int check_row(const char *id, const struct rune_chain_row *rows, size_t n, size_t i,
                     struct rune_chain_result *res)
{
    const struct rune_chain_row *r = &rows[i];
    long long want = i ? rows[i - 1].seq + 1 : 1;
    const char *link = i ? rows[i - 1].hash : RUNE_ZERO_HASH;
    bool intact = content_ok(id, r);

    /* an intact first event may link to the incident begun before it:
     * rune_chain_check_link checks where that link leads */
    if (i == 0 && r->seq == 1 && intact && r->prev)
        link = r->prev;

    if (r->seq > want)
        return r->seq - 1 == want
                   ? problem(res, RUNE_CHAIN_DELETED, want,
                             "event %lld was deleted (seq jumps from %lld to %lld)", want, want - 1,
                             r->seq)
                   : problem(res, RUNE_CHAIN_DELETED, want,
                             "events %lld to %lld were deleted (seq jumps from %lld to %lld)", want,
                             r->seq - 1, want - 1, r->seq);
    if (i && (same(rows[i - 1].kind, end_kind()) || is_note(&rows[i - 1])) && ended(rows, i) &&
        !is_note(r))
        return problem(res, RUNE_CHAIN_INSERTED, r->seq,
                       "event %lld (%s) was inserted: it comes after the incident's end", r->seq,
                       r->kind ? r->kind : "?");
    if (!same(r->prev, link)) {
        long long q = find_hash(rows, n, r->prev);
        if (q > (long long)i)
            return problem(res, RUNE_CHAIN_REORDERED, r->seq,
                           "events were reordered: event %lld (%s) was recorded after the event "
                           "now at seq %lld",
                           r->seq, r->kind ? r->kind : "?", rows[q].seq);
        if (intact && q >= 0 && q < (long long)i - 1)
            return problem(res, RUNE_CHAIN_INSERTED, rows[q + 1].seq,
                           "event %lld (%s) was inserted: event %lld is chained to event %lld",
                           rows[q + 1].seq, rows[q + 1].kind ? rows[q + 1].kind : "?", r->seq,
                           rows[q].seq);
        if (intact)
            return problem(res, RUNE_CHAIN_DELETED, r->seq,
                           "an event before event %lld was deleted (its link to the previous "
                           "event is broken)",
                           r->seq);
        long long was = chained_seq(id, r), twin = find_hash(rows, n, r->hash);
        if (was > 0 && twin >= 0 && twin != (long long)i)
            return problem(res, RUNE_CHAIN_INSERTED, r->seq,
                           "event %lld (%s) was inserted: it is a copy of event %lld", r->seq,
                           r->kind ? r->kind : "?", rows[twin].seq);
        if (was > r->seq)
            return problem(res, RUNE_CHAIN_DELETED, r->seq,
                           "%lld event%s before event %lld %s deleted and the later events "
                           "renumbered (it was recorded as seq %lld)",
                           was - r->seq, was - r->seq == 1 ? "" : "s", r->seq,
                           was - r->seq == 1 ? "was" : "were", was);
        if (was > 0)
            return problem(res, RUNE_CHAIN_INSERTED, r->seq,
                           "%lld event%s inserted before event %lld and the later events "
                           "renumbered (it was recorded as seq %lld)",
                           r->seq - was, r->seq - was == 1 ? " was" : "s were", r->seq, was);
        return problem(res, RUNE_CHAIN_CHANGED, r->seq,
                       "event %lld (%s) was changed or inserted: neither its hash nor its link "
                       "to event %lld matches",
                       r->seq, r->kind ? r->kind : "?", r->seq - 1);
    }
    if (!intact)
        return problem(res, RUNE_CHAIN_CHANGED, r->seq,
                       "event %lld (%s) was changed: its content no longer matches its hash",
                       r->seq, r->kind ? r->kind : "?");
    return 0;
}

/* The incident row is not chained, but its outcome and exit code must be
 * what the chained incident.end event says. */
static void check_record(json_t *inc, const struct rune_chain_row *end,
                         struct rune_chain_result *res)
{
    json_t *d = end->detail ? json_loads(end->detail, RUNE_JOURNAL_LOAD_FLAGS, NULL) : NULL;
    const char *outcome = json_string_value(json_object_get(inc, "outcome"));
    json_t *code = json_object_get(inc, "exit_code");
    json_t *dcode = json_object_get(d, "exit_code");

    if (!same(outcome, end->status))
        problem(res, RUNE_CHAIN_RECORD, 0,
                "the incident row says outcome %s but its chained end event (seq %lld) says %s",
                outcome ? outcome : "(none)", end->seq, end->status ? end->status : "(none)");
    else if (json_is_integer(dcode) &&
             (!json_is_integer(code) || json_integer_value(code) != json_integer_value(dcode)))
        problem(res, RUNE_CHAIN_RECORD, 0,
                "the incident row says exit code %s%lld but its chained end event (seq %lld) "
                "says %lld",
                json_is_integer(code) ? "" : "(none) ",
                json_is_integer(code) ? (long long)json_integer_value(code) : 0LL, end->seq,
                (long long)json_integer_value(dcode));
    json_decref(d);
}

/* The rows in order, then the end: an incident with an outcome must end
 * its chain with incident.end, which must agree with its row. */
static void verify_rows(const char *id, json_t *inc, const struct rune_chain_row *rows, size_t n,
                        struct rune_chain_result *res)
{
    for (size_t i = 0; i < n; i++)
        if (check_row(id, rows, n, i, res))
            return;
    if (!json_is_string(json_object_get(inc, "outcome")))
        return; /* still running, or rune died: nothing says where it ends */
    while (n > 0 && is_note(&rows[n - 1])) /* notes added after the end */
        n--;
    if (n == 0 || !same(rows[n - 1].kind, end_kind())) {
        long long next = n ? rows[n - 1].seq + 1 : 1;
        problem(res, RUNE_CHAIN_DELETED, next,
                "the events from seq %lld on were deleted: the incident ended but its chain "
                "stops at %s",
                next, n ? "an event that is not its end" : "nothing (no events)");
        return;
    }
    check_record(inc, &rows[n - 1], res);
}

void rune_chain_verify(const char *incident_id, json_t *inc, const struct rune_chain_row *rows,
                       size_t n, struct rune_chain_result *res)
{
    memset(res, 0, sizeof *res);
    res->events = (long long)n;
    if (n)
        snprintf(res->head_hash, sizeof res->head_hash, "%s",
                 rows[n - 1].hash ? rows[n - 1].hash : "");
    verify_rows(incident_id, inc, rows, n, res);
}

/* "between incident A and B" or "before incident B" (nothing before it). */
static const char *between(const struct rune_chain_link *l, const char *id, char *buf, size_t len)
{
    if (l->before[0])
        snprintf(buf, len, "between incident %s and %s", l->before, id);
    else
        snprintf(buf, len, "before incident %s", id);
    return buf;
}

void rune_chain_check_link(const char *id, const struct rune_chain_link *l,
                           struct rune_chain_result *res)
{
    char where[160];

    if (res->problem != RUNE_CHAIN_INTACT || !l->prev[0])
        return;
    if (same(l->prev, RUNE_ZERO_HASH)) {
        /* an incident written before incidents were linked, or the first
         * in the log; once a link appears, every later incident has one */
        if (l->linked_before)
            problem(res, RUNE_CHAIN_LINK, 1,
                    "the chain breaks %s: incident %s starts a chain of its own although the "
                    "incidents before it are linked (it was inserted, or its chain rewritten)",
                    between(l, id, where, sizeof where), id);
        return;
    }
    if (!l->target[0]) {
        problem(res, RUNE_CHAIN_LINK, 1,
                "the chain breaks %s: an incident is missing or was altered (the first event of "
                "%s links to %.16s..., which no event in the log has)",
                between(l, id, where, sizeof where), id, l->prev);
        return;
    }
    if (same(l->target, id) || l->target_later) {
        problem(res, RUNE_CHAIN_LINK, 1,
                "the chain breaks %s: incidents were reordered (the first event of %s links to "
                "event %lld of incident %s, written after it)",
                between(l, id, where, sizeof where), id, l->target_seq, l->target);
        return;
    }
    if (!same(l->target, l->before)) {
        problem(res, RUNE_CHAIN_LINK, 1,
                "the chain breaks between incident %s and %s: incident %s was inserted between "
                "them, or the incidents reordered (%s links to event %lld of %s)",
                l->target, id, l->before[0] ? l->before : "?", id, l->target_seq, l->target);
        return;
    }
    snprintf(res->linked_to, sizeof res->linked_to, "%s", l->target);
    res->linked_seq = l->target_seq;
}

void rune_chain_check_upload(const char *incident_id, const struct rune_chain_row *rows, size_t n,
                             const char *prev, const char *head, long long events,
                             struct rune_chain_result *res)
{
    char link[RUNE_HASH_HEX + 1], hash[RUNE_HASH_HEX + 1] = "";

    if (res->problem != RUNE_CHAIN_INTACT)
        return;
    snprintf(link, sizeof link, "%s", prev);
    for (size_t i = 0; i < n && (long long)i < events; i++) {
        const struct rune_chain_row *r = &rows[i];
        if (rune_chain_hash(link, incident_id, r->seq, r->at, r->stage, r->step, r->attempt,
                            r->kind, r->status, r->duration_ms, r->detail, hash) != 0)
            break;
        memcpy(link, hash, sizeof link);
    }
    if (events > 0 && (n < (size_t)events || !same(hash, head)))
        problem(res, RUNE_CHAIN_CHANGED, 0,
                "incident %s was recorded offline and uploaded: its events no longer hash to "
                "the head its local chain had (%.16s...); the incident or its upload record was "
                "changed",
                incident_id, head);
}

const char *rune_chain_problem_name(enum rune_chain_problem p)
{
    static const char *const names[] = {"intact",    "changed", "inserted", "deleted",
                                        "reordered", "record",  "link"};
    return (unsigned)p < sizeof names / sizeof names[0] ? names[p] : "unknown";
}
