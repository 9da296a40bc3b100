/*
 * rowhash.c — order-independent table content hashes (see rowhash.h).
 */
#include "rowhash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rune_rowhash_init(struct rune_rowhash *h)
{
    for (int l = 0; l < 4; l++)
        h->lane[l] = 0;
    h->rows = 0;
    h->len = 0;
    h->started = false;
    h->md = EVP_MD_CTX_new();
    h->buf = malloc(RUNE_ROWHASH_BUF);
    /* the digest is chosen once here: naming it again for every row makes
     * OpenSSL 3 look it up every time, which costs twice the hashing */
    if (!h->md || !h->buf || EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1)
        abort();
}

void rune_rowhash_begin(struct rune_rowhash *h)
{
    h->len = 0;
    h->started = false;
}

/* What buf holds goes to the digest, which is (re)started for the row
 * first: a row longer than buf is hashed in several calls. */
static void flush(struct rune_rowhash *h)
{
    if (!h->started) {
        EVP_DigestInit_ex2(h->md, NULL, NULL); /* the same digest, state reset */
        h->started = true;
    }
    if (h->len)
        EVP_DigestUpdate(h->md, h->buf, h->len);
    h->len = 0;
}

void rune_rowhash_feed(struct rune_rowhash *h, const void *buf, size_t n)
{
    if (n == 0) /* buf may be NULL (an empty blob) */
        return;
    if (h->len + n <= RUNE_ROWHASH_BUF) {
        memcpy(h->buf + h->len, buf, n);
        h->len += n;
        return;
    }
    flush(h);
    if (n <= RUNE_ROWHASH_BUF) {
        memcpy(h->buf, buf, n);
        h->len = n;
    } else {
        EVP_DigestUpdate(h->md, buf, n); /* a large value: no copy */
    }
}

void rune_rowhash_end(struct rune_rowhash *h)
{
    flush(h);
    unsigned char md[32];
    EVP_DigestFinal_ex(h->md, md, NULL);
    h->started = false;
    for (int l = 0; l < 4; l++) {
        unsigned long long v = 0;
        for (int k = 0; k < 8; k++)
            v = (v << 8) | md[l * 8 + k];
        h->lane[l] += v;
    }
    h->rows++;
}

void rune_rowhash_row(struct rune_rowhash *h, const void *buf, size_t n)
{
    EVP_DigestInit_ex2(h->md, NULL, NULL);
    EVP_DigestUpdate(h->md, buf, n);
    h->started = true;
    h->len = 0;
    rune_rowhash_end(h);
}

void rune_rowhash_merge(struct rune_rowhash *h, const struct rune_rowhash *other)
{
    for (int l = 0; l < 4; l++)
        h->lane[l] += other->lane[l];
    h->rows += other->rows;
}

void rune_rowhash_hex(const struct rune_rowhash *h, char out[65])
{
    for (int l = 0; l < 4; l++)
        snprintf(out + 16 * l, 17, "%016llx", h->lane[l]);
}

void rune_rowhash_free(struct rune_rowhash *h)
{
    EVP_MD_CTX_free(h->md);
    free(h->buf);
    h->md = NULL;
    h->buf = NULL;
}
