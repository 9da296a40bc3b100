/*
 * report_escape.c — the one loop that writes recorded text (from runbooks
 * and child processes) into a report: each byte its format must escape
 * replaced by the string the pen's table gives, control characters other
 * than newline and tab as '?', everything else (UTF-8 included) as it is.
 * The tables, which say what each format escapes and how, are the pens'
 * (report_md.c, report_html.c).
 */
#include "report_render.h"

void rune_report_escape(FILE *f, const char *s, const char *const subst[256])
{
    if (!s)
        return;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (subst && subst[c])
            fputs(subst[c], f);
        else
            fputc((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ? '?' : c, f);
    }
}
