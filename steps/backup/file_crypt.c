/*
 * file_crypt.c — file.encrypt and file.decrypt, and their own small file
 * format (described below and in docs/backups.md): PBKDF2-HMAC-SHA256
 * from the key, AES-256-GCM in 64 KiB chunks, each with its own tag, the
 * header authenticated with every chunk, and the last chunk marked, so any
 * change, reordering or truncation is detected and decrypt writes nothing.
 */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "pathparam.h"
#include "safefile.h"

/* ---- file.encrypt / file.decrypt ----
 *
 * The encrypted file:
 *
 *   offset size  field
 *   0      8     magic "RUNEAEAD"
 *   8      1     version (1)
 *   9      1     KDF (1 = PBKDF2-HMAC-SHA256)
 *   10     1     cipher (1 = AES-256-GCM)
 *   11     1     reserved (0)
 *   12     4     KDF iterations, big-endian (600000)
 *   16     4     plaintext bytes per chunk, big-endian (65536)
 *   20     16    salt (random)
 *   36     7     nonce prefix (random)
 *   43     1     reserved (0)
 *   44     16    key check: HMAC-SHA256(check key, bytes 0..43), first 16 bytes
 *   60     ...   chunks: ciphertext then its 16-byte GCM tag
 *
 * PBKDF2 turns the key and salt into 64 bytes: the AES key and the check
 * key. Chunk i (from 0) uses the 12-byte nonce prefix || i (4 bytes,
 * big-endian) || last (1 byte: 1 for the final chunk, else 0), and the
 * 60-byte header as additional authenticated data. Every chunk but the
 * last holds exactly the chunk size; the last holds less (possibly 0
 * bytes), so a reader knows which is last and a cut at any point fails.
 * The key check only tells a wrong key from a damaged file; the tags are
 * what protect the data.
 */

#define ENC_MAGIC "RUNEAEAD"
#define ENC_VERSION 1
#define ENC_KDF_PBKDF2_SHA256 1
#define ENC_CIPHER_AES256GCM 1
#define ENC_ITERATIONS 600000u
#define ENC_ITERATIONS_MAX 10000000u
#define ENC_CHUNK 65536u
#define ENC_CHUNK_MAX (16u << 20)
#define ENC_SALT 16
#define ENC_PREFIX 7
#define ENC_CHECK 16
#define ENC_TAG 16
#define ENC_HEAD 44 /* bytes covered by the key check */
#define ENC_HEADER (ENC_HEAD + ENC_CHECK)

struct enc_keys {
    unsigned char aes[32];
    unsigned char check[32];
};

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int derive(const char *key, const unsigned char *salt, uint32_t iterations,
                  struct enc_keys *k)
{
    unsigned char out[64];
    if (PKCS5_PBKDF2_HMAC(key, (int)strlen(key), salt, ENC_SALT, (int)iterations, EVP_sha256(),
                          sizeof out, out) != 1)
        return -1;
    memcpy(k->aes, out, 32);
    memcpy(k->check, out + 32, 32);
    OPENSSL_cleanse(out, sizeof out);
    return 0;
}

static void key_check(const struct enc_keys *k, const unsigned char *head, unsigned char *out)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    HMAC(EVP_sha256(), k->check, 32, head, ENC_HEAD, mac, &n);
    memcpy(out, mac, ENC_CHECK);
}

static void chunk_nonce(const unsigned char *header, uint32_t i, bool last, unsigned char *nonce)
{
    memcpy(nonce, header + 36, ENC_PREFIX);
    put32(nonce + ENC_PREFIX, i);
    nonce[11] = last ? 1 : 0;
}

/* Encrypts or decrypts one chunk. For decryption `tag` is checked and a
 * mismatch returns -1 (the output must then be thrown away). */
static int crypt_chunk(EVP_CIPHER_CTX *ctx, bool enc, const struct enc_keys *k,
                       const unsigned char *header, uint32_t i, bool last, const unsigned char *in,
                       size_t n, unsigned char *out, unsigned char *tag)
{
    unsigned char nonce[12];
    chunk_nonce(header, i, last, nonce);
    int len = 0;
    if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1 ||
        EVP_CipherInit_ex(ctx, NULL, NULL, k->aes, nonce, enc) != 1 ||
        EVP_CipherUpdate(ctx, NULL, &len, header, ENC_HEADER) != 1)
        return -1;
    if (n > 0 && EVP_CipherUpdate(ctx, out, &len, in, (int)n) != 1)
        return -1;
    if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, ENC_TAG, tag) != 1)
        return -1;
    int fin = 0;
    if (EVP_CipherFinal_ex(ctx, out + (n > 0 ? len : 0), &fin) != 1)
        return -1;
    if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, ENC_TAG, tag) != 1)
        return -1;
    return 0;
}

/* Writes the fixed header for new keys and a fresh salt and nonce. */
static int enc_header_build(const char *key, unsigned char *header, struct enc_keys *k)
{
    memset(header, 0, ENC_HEADER);
    memcpy(header, ENC_MAGIC, 8);
    header[8] = ENC_VERSION;
    header[9] = ENC_KDF_PBKDF2_SHA256;
    header[10] = ENC_CIPHER_AES256GCM;
    put32(header + 12, ENC_ITERATIONS);
    put32(header + 16, ENC_CHUNK);
    if (RAND_bytes(header + 20, ENC_SALT) != 1 || RAND_bytes(header + 36, ENC_PREFIX) != 1)
        return -1;
    if (derive(key, header + 20, ENC_ITERATIONS, k) != 0)
        return -1;
    key_check(k, header, header + ENC_HEAD);
    return 0;
}

/* The key parameter, registered as a secret before anything can print it. */
static const char *secret_key(struct rune_call *c)
{
    const char *key = rune_call_str(c, "key");
    if (key && *key)
        rune_call_secret(c, key);
    return key && *key ? key : NULL;
}

/* What file.encrypt and file.decrypt hold while they run. */
struct crypt_run {
    const char *key;
    char *src, *dst; /* absolute; dst NULL when out of memory or not derivable */
    bool overwrite;
    int fd; /* the input */
    struct stat st;
    EVP_CIPHER_CTX *ctx;     /* NULL when out of memory */
    struct rune_safe_file f; /* the output */
    struct enc_keys k;
    unsigned char header[ENC_HEADER];
};

/* The key (registered as a secret), the paths — dst is `to`, else what
 * dst_of makes of src and ".enc" — and a cipher context. Returns
 * RUNE_STEP_OK, or fails the call when the key is empty; the caller checks
 * what may be NULL, and ends x with crypt_end either way. */
static int crypt_begin(struct rune_call *c, struct crypt_run *x,
                       char *(*dst_of)(const char *, const char *))
{
    memset(x, 0, sizeof *x);
    x->fd = x->f.fd = -1;
    x->key = secret_key(c);
    if (!x->key)
        return rune_call_fail(c,
                              "key is empty: pass the secret, e.g. key: \"${secrets.backup_key}\"");
    x->src = rune_path_param(c, rune_call_str(c, "path"));
    const char *to = rune_call_str(c, "to");
    x->dst = to ? rune_path_param(c, to) : x->src ? dst_of(x->src, ".enc") : NULL;
    x->overwrite = rune_call_bool(c, "overwrite");
    x->ctx = EVP_CIPHER_CTX_new();
    return RUNE_STEP_OK;
}

/* Opens the input, and checks that nothing is in the way of the output;
 * false after failing the call. */
static bool crypt_open(struct rune_call *c, struct crypt_run *x)
{
    x->fd = rune_file_open_input(c, x->src, &x->st);
    return x->fd >= 0 && !rune_file_occupied(c, x->dst, x->overwrite);
}

/* The file written: the outputs path and bytes. */
static void crypt_done(struct rune_call *c, struct crypt_run *x, long long bytes)
{
    json_t *o = rune_call_outputs(c);
    rune_file_set_str(o, "path", x->dst);
    rune_file_set_int(o, "bytes", bytes);
}

/* Wipes the keys, removes a partial output, frees the rest. */
static void crypt_end(struct crypt_run *x)
{
    OPENSSL_cleanse(&x->k, sizeof x->k);
    rune_safe_file_abort(&x->f);
    if (x->fd >= 0)
        close(x->fd);
    EVP_CIPHER_CTX_free(x->ctx);
    free(x->src);
    free(x->dst);
}

int rune_file_encrypt_run(struct rune_call *c)
{
    struct crypt_run x;
    unsigned char *in = malloc(ENC_CHUNK), *out = malloc(ENC_CHUNK + ENC_TAG);
    int rc = crypt_begin(c, &x, rune_file_with_suffix);
    if (rc != RUNE_STEP_OK)
        goto out;
    rc = RUNE_STEP_FAILED;
    if (!x.src || !x.dst || !in || !out || !x.ctx) {
        rc = rune_call_fail(c,
                            "no memory to start encrypting %s (paths, %u-byte buffers and a "
                            "cipher): free memory on this host and run the step again",
                            rune_call_str(c, "path"), ENC_CHUNK);
        goto out;
    }
    if (!crypt_open(c, &x))
        goto out;
    /* the total from the start: deriving the key takes a moment first */
    rune_call_progress_phase(c, "deriving the key");
    rune_file_progress(c, 0, (long long)x.st.st_size);
    if (enc_header_build(x.key, x.header, &x.k) != 0) {
        rc = rune_call_fail(c, "cannot derive the encryption key (OpenSSL failed)");
        goto out;
    }
    if (!rune_file_start(c, &x.f, x.dst, x.overwrite, 0600))
        goto out;
    if (rune_write_all(x.f.fd, x.header, ENC_HEADER) != 0)
        goto write_failed;
    long long bytes = ENC_HEADER, plain = 0;
    rune_call_progress_phase(c, "encrypting");
    for (uint32_t i = 0;; i++) {
        ssize_t n = rune_file_read_next(c, x.fd, in, ENC_CHUNK, x.src,
                                        "the partial output was removed", &rc);
        if (n < 0)
            goto out;
        bool last = (size_t)n < ENC_CHUNK;
        if (i == UINT32_MAX) {
            rc = rune_call_fail(c, "%s is too large to encrypt in one file", x.src);
            goto out;
        }
        if (crypt_chunk(x.ctx, true, &x.k, x.header, i, last, in, (size_t)n, out, out + n) != 0) {
            rc = rune_call_fail(c, "encryption failed (OpenSSL error)");
            goto out;
        }
        if (rune_write_all(x.f.fd, out, (size_t)n + ENC_TAG) != 0)
            goto write_failed;
        bytes += n + ENC_TAG;
        plain += n;
        rune_file_progress(c, plain, (long long)x.st.st_size);
        if (last)
            break;
    }
    if (!rune_file_finish(c, &x.f, x.overwrite))
        goto out;
    crypt_done(c, &x, bytes);
    rune_file_set_int(rune_call_outputs(c), "raw_bytes", (long long)x.st.st_size);
    rc = RUNE_STEP_OK;
    goto out;
write_failed:
    rc = rune_call_fail(c, "cannot write %s: %s; the partial output was removed", x.dst,
                        strerror(errno));
out:
    crypt_end(&x);
    free(in);
    free(out);
    return rc;
}

/* Reads and checks the header, derives the keys and checks them. */
static int dec_header(struct rune_call *c, int fd, const char *src, const char *key,
                      unsigned char *header, struct enc_keys *k, uint32_t *chunk)
{
    ssize_t n = rune_read_full(fd, header, ENC_HEADER);
    if (n < 0)
        return rune_file_read_error(c, src);
    if (n < ENC_HEADER || memcmp(header, ENC_MAGIC, 8) != 0)
        return rune_call_fail(c, "%s is not a file made by file.encrypt (no RUNEAEAD header)", src);
    if (header[8] != ENC_VERSION || header[9] != ENC_KDF_PBKDF2_SHA256 ||
        header[10] != ENC_CIPHER_AES256GCM)
        return rune_call_fail(c,
                              "%s uses format version %d (KDF %d, cipher %d), which this rune "
                              "does not read: upgrade rune, or the header was damaged",
                              src, header[8], header[9], header[10]);
    uint32_t iterations = get32(header + 12);
    *chunk = get32(header + 16);
    if (iterations < 1000 || iterations > ENC_ITERATIONS_MAX || *chunk < 1024 ||
        *chunk > ENC_CHUNK_MAX)
        return rune_call_fail(c,
                              "%s has an implausible header (iterations %u, chunk %u): it "
                              "was damaged",
                              src, iterations, *chunk);
    if (derive(key, header + 20, iterations, k) != 0)
        return rune_call_fail(c, "cannot derive the decryption key (OpenSSL failed)");
    unsigned char check[ENC_CHECK];
    key_check(k, header, check);
    if (CRYPTO_memcmp(check, header + ENC_HEAD, ENC_CHECK) != 0)
        return rune_call_fail(c,
                              "wrong key for %s (or its header was modified); nothing was "
                              "written — check which secret encrypted it",
                              src);
    return RUNE_STEP_OK;
}

int rune_file_decrypt_run(struct rune_call *c)
{
    struct crypt_run x;
    unsigned char *in = NULL, *out = NULL;
    uint32_t chunk = 0;
    int rc = crypt_begin(c, &x, rune_file_without_suffix);
    if (rc != RUNE_STEP_OK)
        goto out;
    rc = RUNE_STEP_FAILED;
    if (!x.src || !x.ctx) {
        rc = rune_call_fail(c,
                            "no memory to start decrypting %s (its path and a cipher): free memory "
                            "on this host and run the step again",
                            rune_call_str(c, "path"));
        goto out;
    }
    if (!x.dst) {
        rc = rune_call_fail(c, "%s does not end in .enc: say where to write it with `to`", x.src);
        goto out;
    }
    if (!crypt_open(c, &x))
        goto out;
    /* progress: the encrypted file's bytes read, of its size, from the
     * start: deriving the key takes a moment first */
    rune_call_progress_phase(c, "deriving the key");
    rune_file_progress(c, 0, (long long)x.st.st_size);
    if ((rc = dec_header(c, x.fd, x.src, x.key, x.header, &x.k, &chunk)) != RUNE_STEP_OK)
        goto out;
    rc = RUNE_STEP_FAILED;
    in = malloc((size_t)chunk + ENC_TAG);
    out = malloc(chunk);
    if (!in || !out) {
        rc = rune_call_fail(c,
                            "no memory for the %u-byte chunk buffers %s was encrypted with: free "
                            "memory on this host and run the step again",
                            chunk, x.src);
        goto out;
    }
    if (!rune_file_start(c, &x.f, x.dst, x.overwrite, 0600))
        goto out;
    long long bytes = 0, offset = ENC_HEADER;
    rune_call_progress_phase(c, "decrypting");
    rune_file_progress(c, offset, (long long)x.st.st_size);
    for (uint32_t i = 0;; i++) {
        ssize_t n = rune_file_read_next(c, x.fd, in, (size_t)chunk + ENC_TAG, x.src,
                                        "the partial output was removed", &rc);
        if (n < 0)
            goto out;
        if (n < ENC_TAG) {
            rc = rune_call_fail(c,
                                "%s is truncated: it ends at chunk %u (offset %lld); nothing "
                                "was written",
                                x.src, i + 1, offset);
            goto out;
        }
        bool last = (size_t)n < (size_t)chunk + ENC_TAG;
        size_t plain = (size_t)n - ENC_TAG;
        if (crypt_chunk(x.ctx, false, &x.k, x.header, i, last, in, plain, out, in + plain) != 0) {
            rc = rune_call_fail(c,
                                "chunk %u (offset %lld) of %s failed authentication: the file "
                                "was modified, damaged or truncated; nothing was written",
                                i + 1, offset, x.src);
            goto out;
        }
        if (rune_write_all(x.f.fd, out, plain) != 0) {
            rc = rune_call_fail(c, "cannot write %s: %s; the partial output was removed", x.dst,
                                strerror(errno));
            goto out;
        }
        bytes += (long long)plain;
        offset += n;
        rune_file_progress(c, offset, (long long)x.st.st_size);
        if (last)
            break;
    }
    if (!rune_file_finish(c, &x.f, x.overwrite))
        goto out;
    crypt_done(c, &x, bytes);
    rc = RUNE_STEP_OK;
out:
    if (out)
        OPENSSL_cleanse(out, chunk);
    crypt_end(&x);
    free(in);
    free(out);
    return rc;
}

int rune_file_encrypt_plan(struct rune_call *c)
{
    const char *path = rune_call_str(c, "path"), *to = rune_call_str(c, "to");
    secret_key(c);
    rune_call_plan(c, "would encrypt %s to %s%s with AES-256-GCM", path, to ? to : path,
                   to ? "" : ".enc");
    return RUNE_STEP_OK;
}

int rune_file_decrypt_plan(struct rune_call *c)
{
    const char *path = rune_call_str(c, "path"), *to = rune_call_str(c, "to");
    secret_key(c);
    rune_call_plan(c, "would decrypt %s to %s, checking every chunk's tag", path,
                   to ? to : "the same name without .enc");
    return RUNE_STEP_OK;
}
