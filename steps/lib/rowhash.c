/*
 * rowhash.c — order-independent table content hashes (see rowhash.h).
 */
#include "rowhash.h"

#include <stdio.h>
#include <stdlib.h>

void rune_rowhash_init(struct rune_rowhash *h)
{
    for (int l = 0; l < 4; l++)
        h->lane[l] = 0;
    h->rows = 0;
    h->md = EVP_MD_CTX_new();
    /* the digest is chosen once here: naming it again for every row makes
     * OpenSSL 3 look it up every time, which costs twice the hashing */
    if (!h->md || EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1)
        abort();
}

void rune_rowhash_begin(struct rune_rowhash *h)
{
    EVP_DigestInit_ex2(h->md, NULL, NULL); /* the same digest, state reset */
}

void rune_rowhash_feed(struct rune_rowhash *h, const void *buf, size_t n)
{
    if (n)
        EVP_DigestUpdate(h->md, buf, n);
}

void rune_rowhash_end(struct rune_rowhash *h)
{
    unsigned char md[32];
    EVP_DigestFinal_ex(h->md, md, NULL);
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
    rune_rowhash_begin(h);
    rune_rowhash_feed(h, buf, n);
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
    h->md = NULL;
}
