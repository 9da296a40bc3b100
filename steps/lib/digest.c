/*
 * digest.c — digests as hex (digest.h).
 */
#include "digest.h"

#include <string.h>

void rune_hex(const unsigned char *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

void rune_sha256_hex(const void *buf, size_t len, char out[RUNE_SHA256_HEX])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(buf, len, d, &n, EVP_sha256(), NULL);
    rune_hex(d, n, out);
}

void rune_digest_hex(EVP_MD_CTX *ctx, char *out)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx, d, &n);
    rune_hex(d, n, out);
}

bool rune_is_sha256_hex(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    return strspn(s, "0123456789abcdef") == 64;
}
