/*
 * digest.h — SHA-256 and friends as the lowercase hex that manifests,
 * outputs and messages show (as sha256sum prints it).
 *
 * Like artifact.h, this library includes no engine header.
 */
#ifndef RUNE_DIGEST_H
#define RUNE_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>

#define RUNE_SHA256_HEX 65                            /* 64 hex digits and a NUL */
#define RUNE_DIGEST_HEX_MAX (2 * EVP_MAX_MD_SIZE + 1) /* any digest as hex, with its NUL */

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void rune_hex(const unsigned char *d, size_t n, char *out);

/* SHA-256 of len bytes at buf, as hex. */
void rune_sha256_hex(const void *buf, size_t len, char out[RUNE_SHA256_HEX]);

/* Finishes ctx (any digest it was started with) into hex: out holds
 * RUNE_DIGEST_HEX_MAX bytes, or RUNE_SHA256_HEX for a SHA-256. */
void rune_digest_hex(EVP_MD_CTX *ctx, char *out);

/* s is 64 lowercase hex digits, as rune writes a SHA-256. */
bool rune_is_sha256_hex(const char *s);

#endif
