/*
 * shword.c — POSIX shell quoting (see shword.h).
 */
#include "shword.h"

#include <stdlib.h>
#include <string.h>

/* Characters that mean nothing to sh, bash, dash, zsh or ksh anywhere in
 * a word (no globbing, expansion, quoting or word splitting). '=' and '@'
 * are left out on purpose: harmless in arguments, but `a=b` as a first
 * word is an assignment and zsh treats a leading `=` specially. */
static const char plain[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                            "_%+:,./-";

void rune_shq_word(FILE *f, const char *word)
{
    if (*word && strspn(word, plain) == strlen(word)) {
        fputs(word, f);
        return;
    }
    fputc('\'', f);
    for (const char *s = word; *s; s++)
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    fputc('\'', f);
}

char *rune_shq_argv(char *const *argv)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    for (char *const *a = argv; a && *a; a++) {
        if (a != argv)
            fputc(' ', f);
        rune_shq_word(f, *a);
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

bool rune_shq_name_ok(const char *name)
{
    if (!name || !*name || (*name >= '0' && *name <= '9'))
        return false;
    for (const char *s = name; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}
