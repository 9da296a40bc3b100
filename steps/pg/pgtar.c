/*
 * pgtar.c — a streaming reader (and the one header writer) for the ustar
 * archives of PostgreSQL base backups. See pgtar.h.
 */
#include "pgtar.h"

#include <stdio.h>
#include <string.h>

enum { HEADER, DATA, PAD, END };

void rune_tar_init(struct rune_tar *t, const struct rune_tar_sink *sink)
{
    memset(t, 0, sizeof *t);
    if (sink)
        t->sink = *sink;
    t->state = HEADER;
}

size_t rune_tar_padding(unsigned long long size)
{
    return (size_t)((RUNE_TAR_BLOCK - size % RUNE_TAR_BLOCK) % RUNE_TAR_BLOCK);
}

/* An octal field (NUL- or space-terminated), or a base-256 one (first
 * byte's high bit set: GNU's and PostgreSQL's form for sizes of 8 GiB and
 * more). -1 on anything else. */
static long long number(const unsigned char *f, size_t len)
{
    unsigned long long v = 0;
    if (f[0] & 0x80) {
        if (f[0] != 0x80)
            return -1; /* negative, or too large to be a file */
        for (size_t i = 1; i < len; i++) {
            if (v >> 55)
                return -1;
            v = v << 8 | f[i];
        }
        return (long long)v;
    }
    size_t i = 0;
    while (i < len && f[i] == ' ')
        i++;
    bool any = false;
    for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v >> 60)
            return -1;
        v = v << 3 | (unsigned)(f[i] - '0');
        any = true;
    }
    if (!any || (i < len && f[i] != ' ' && f[i] != '\0'))
        return -1;
    return (long long)v;
}

static bool all_zero(const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

static void field(char *out, size_t outlen, const unsigned char *f, size_t len)
{
    size_t n = strnlen((const char *)f, len);
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, f, n);
    out[n] = '\0';
}

/* The header in t->hdr made into t->cur, every field checked. */
static int parse_header(struct rune_tar *t, char *err, size_t errlen)
{
    const unsigned char *h = t->hdr;
    long long sum = number(h + 148, 8), mine = 0;
    for (size_t i = 0; i < RUNE_TAR_BLOCK; i++)
        mine += (i >= 148 && i < 156) ? ' ' : h[i];
    if (sum < 0 || sum != mine) {
        snprintf(err, errlen,
                 "the archive's header at byte %llu is damaged (its checksum does not match): "
                 "not a tar archive, or the stream was corrupted",
                 t->offset);
        return -1;
    }
    struct rune_tar_member *m = &t->cur;
    memset(m, 0, sizeof *m);
    char name[101], prefix[156];
    field(name, sizeof name, h, 100);
    field(prefix, sizeof prefix, h + 345, 155);
    if (memcmp(h + 257, "ustar", 5) == 0 && prefix[0])
        snprintf(m->name, sizeof m->name, "%s/%s", prefix, name);
    else
        snprintf(m->name, sizeof m->name, "%s", name);
    long long size = number(h + 124, 12), mode = number(h + 100, 8), mtime = number(h + 136, 12);
    m->type = h[156] == '\0' ? '0' : (char)h[156];
    if (size < 0 || mode < 0 || mtime < 0) {
        snprintf(err, errlen, "the archive's header for \"%s\" (byte %llu) has a damaged field",
                 m->name, t->offset);
        return -1;
    }
    if (m->type != '0' && m->type != '5' && m->type != '2') {
        snprintf(err, errlen,
                 "member \"%s\" of the archive is of tar type '%c', which a PostgreSQL base "
                 "backup never holds (only files, directories and symbolic links are read)",
                 m->name, m->type);
        return -1;
    }
    if (!m->name[0]) {
        snprintf(err, errlen, "the archive's header at byte %llu has no name", t->offset);
        return -1;
    }
    m->size = m->type == '0' ? (unsigned long long)size : 0;
    m->mode = (unsigned)mode & 07777;
    m->mtime = mtime;
    field(m->link, sizeof m->link, h + 157, 100);
    return 0;
}

static int raw(struct rune_tar *t, const unsigned char *b, size_t n, char *err, size_t errlen)
{
    return t->sink.raw && n ? t->sink.raw(t->sink.ctx, b, n, err, errlen) : 0;
}

/* A whole header block is in t->hdr. */
static int header_done(struct rune_tar *t, char *err, size_t errlen)
{
    t->have = 0;
    if (all_zero(t->hdr, RUNE_TAR_BLOCK)) {
        t->state = END;
        return 0;
    }
    if (parse_header(t, err, errlen) != 0 || raw(t, t->hdr, RUNE_TAR_BLOCK, err, errlen) != 0)
        return -1;
    t->members++;
    if (t->sink.member && t->sink.member(t->sink.ctx, &t->cur, err, errlen) != 0)
        return -1;
    t->left = t->cur.size;
    t->pad = rune_tar_padding(t->cur.size);
    t->state = DATA;
    if (t->left == 0) {
        t->state = PAD;
        if (t->sink.member_end && t->sink.member_end(t->sink.ctx, &t->cur, err, errlen) != 0)
            return -1;
    }
    return 0;
}

int rune_tar_feed(struct rune_tar *t, const void *buf, size_t n, char *err, size_t errlen)
{
    const unsigned char *p = buf;
    while (n > 0) {
        size_t take = 0;
        switch (t->state) {
        case HEADER:
            take = RUNE_TAR_BLOCK - t->have < n ? RUNE_TAR_BLOCK - t->have : n;
            memcpy(t->hdr + t->have, p, take);
            t->have += take;
            if (t->have == RUNE_TAR_BLOCK && header_done(t, err, errlen) != 0)
                return -1;
            break;
        case DATA:
            take = t->left < n ? (size_t)t->left : n;
            if (t->sink.data && t->sink.data(t->sink.ctx, p, take, err, errlen) != 0)
                return -1;
            if (raw(t, p, take, err, errlen) != 0)
                return -1;
            t->left -= take;
            if (t->left == 0) {
                t->state = PAD;
                if (t->sink.member_end &&
                    t->sink.member_end(t->sink.ctx, &t->cur, err, errlen) != 0)
                    return -1;
            }
            break;
        case PAD:
            take = t->pad < n ? t->pad : n;
            if (raw(t, p, take, err, errlen) != 0)
                return -1;
            t->pad -= take;
            if (t->pad == 0)
                t->state = HEADER;
            break;
        default: /* END: only the rest of the zero blocks may follow */
            take = n;
            if (!all_zero(p, n)) {
                snprintf(err, errlen,
                         "data follows the end of the archive (byte %llu): the stream is not "
                         "one tar archive",
                         t->offset);
                return -1;
            }
            break;
        }
        p += take;
        n -= take;
        t->offset += take;
    }
    return 0;
}

int rune_tar_finish(struct rune_tar *t, bool *terminated, char *err, size_t errlen)
{
    if (terminated)
        *terminated = t->state == END;
    if (t->state == END || (t->state == HEADER && t->have == 0) || (t->state == PAD && t->pad == 0))
        return 0;
    snprintf(err, errlen,
             "the archive ends inside member \"%s\" (after %llu bytes): the stream was cut short",
             t->cur.name, t->offset);
    return -1;
}

static void octal(unsigned char *f, size_t len, unsigned long long v)
{
    /* len - 1 digits and a NUL, as ustar writers do */
    f[len - 1] = '\0';
    for (size_t i = len - 1; i-- > 0;) {
        f[i] = (unsigned char)('0' + (v & 7));
        v >>= 3;
    }
}

int rune_tar_header(unsigned char h[RUNE_TAR_BLOCK], const char *name, unsigned mode,
                    unsigned long long size, long long mtime)
{
    size_t n = strlen(name);
    if (n == 0 || n > 99)
        return -1;
    memset(h, 0, RUNE_TAR_BLOCK);
    memcpy(h, name, n);
    octal(h + 100, 8, mode & 07777);
    octal(h + 108, 8, 0);
    octal(h + 116, 8, 0);
    if (size >= 077777777777ULL) { /* base-256, as for large files */
        h[124] = 0x80;
        for (int i = 11; i >= 1; i--) {
            h[124 + i] = (unsigned char)(size & 0xff);
            size >>= 8;
        }
    } else {
        octal(h + 124, 12, size);
    }
    octal(h + 136, 12, (unsigned long long)(mtime < 0 ? 0 : mtime));
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned long sum = 0;
    for (size_t i = 0; i < RUNE_TAR_BLOCK; i++)
        sum += h[i];
    /* six digits, a NUL and a space: what every tar reads */
    snprintf((char *)h + 148, 8, "%06lo", sum & 0777777);
    h[155] = ' ';
    return 0;
}
