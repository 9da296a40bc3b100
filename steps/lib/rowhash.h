/*
 * rowhash.h — the order-independent content hash of a table, shared by
 * every engine's fingerprint, backup manifest and compare: each row is
 * hashed with SHA-256 and the hashes are added as four 64-bit lanes. Sums
 * do not care about row order, and unlike XOR a duplicated row does not
 * cancel out. How a row is encoded is the engine's business (SQLite hashes
 * typed column values, PostgreSQL one COPY text line); the accumulator is
 * the same.
 *
 * An accumulator is used by one thread at a time; tables read by several
 * threads at once have one each, added up with rune_rowhash_merge.
 */
#ifndef RUNE_ROWHASH_H
#define RUNE_ROWHASH_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>

struct rune_rowhash {
    unsigned long long lane[4];
    long long rows;
    EVP_MD_CTX *md;     /* reused for every row */
    unsigned char *buf; /* the row being fed, up to RUNE_ROWHASH_BUF bytes */
    size_t len;
    bool started; /* md holds the start of a row too long for buf */
};

/* Bytes of a row kept together before they go to the digest: a row is
 * usually a few dozen small fields, and one digest call per row instead of
 * one per field is most of what hashing a table costs beyond SHA-256. */
#define RUNE_ROWHASH_BUF ((size_t)16384)

void rune_rowhash_init(struct rune_rowhash *h);
/* One row whose encoding is the bytes buf[0..n). */
void rune_rowhash_row(struct rune_rowhash *h, const void *buf, size_t n);
/* Or a row hashed piece by piece: begin, feed, end (the same hash as the
 * pieces given to rune_rowhash_row in one buffer). */
void rune_rowhash_begin(struct rune_rowhash *h);
void rune_rowhash_feed(struct rune_rowhash *h, const void *buf, size_t n);
void rune_rowhash_end(struct rune_rowhash *h);
/* Adds another accumulator's rows (parallel readers of one table). */
void rune_rowhash_merge(struct rune_rowhash *h, const struct rune_rowhash *other);
/* 64 hex digits + NUL. */
void rune_rowhash_hex(const struct rune_rowhash *h, char out[65]);
void rune_rowhash_free(struct rune_rowhash *h);

#endif
