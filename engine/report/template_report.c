/*
 * template_report.c — `rune report ID --template NAME|FILE`: the report
 * object through a bundled template or a team's own file. The file is
 * read once, refused unless it is a regular file no larger than
 * RUNE_REPORT_TEMPLATE_FILE_MAX, and never written; the template language
 * (template.c) bounds what it can do with the object.
 */
#include "template_report.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console.h"
#include "report.h"
#include "template.h"

extern const char rune_report_template_incident_report[];
extern const char rune_report_template_recovery_log[];
extern const char rune_report_template_post_recovery_checklist[];

const struct rune_report_template rune_report_templates[] = {
    {"incident-report",
     "incident report: date, detected by, severity, downtime, timeline, root cause, data loss, "
     "actions taken, preventive measures",
     rune_report_template_incident_report},
    {"recovery-log",
     "recovery log: reason, backup file, timestamp, size, verified, timeline, RPO met, data lost, "
     "impact, verified by",
     rune_report_template_recovery_log},
    {"post-recovery-checklist",
     "post-recovery checklist: verification steps now, noted follow-up actions short- and "
     "long-term",
     rune_report_template_post_recovery_checklist},
    {0},
};

bool rune_report_template_is_file(const char *which)
{
    return strchr(which, '/') || strchr(which, '.');
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && !strcmp(s + n - k, tail);
}

/* The whole file at path, NUL-terminated, into *text (*len bytes). */
static int read_template(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
    /* O_NONBLOCK: a FIFO put where the template was expected must not hang */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat st;
    char *buf = NULL;
    size_t got = 0;

    if (fd < 0) {
        snprintf(err, errlen,
                 "cannot open the template %s: %s; give a bundled name (`rune report "
                 "--template list`) or a readable file",
                 path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "the template %s is not a regular file; give a .md or .html file",
                 path);
        goto fail;
    }
    if (st.st_size > RUNE_REPORT_TEMPLATE_FILE_MAX) {
        snprintf(err, errlen,
                 "the template %s is %lld bytes, more than the %d a template may be; is it the "
                 "right file?",
                 path, (long long)st.st_size, RUNE_REPORT_TEMPLATE_FILE_MAX);
        goto fail;
    }
    if (!(buf = malloc(RUNE_REPORT_TEMPLATE_FILE_MAX + 2))) {
        snprintf(err, errlen, "no memory to read the template %s", path);
        goto fail;
    }
    /* read to the cap, not to st_size: the file may grow while read */
    for (;;) {
        ssize_t k = read(fd, buf + got, RUNE_REPORT_TEMPLATE_FILE_MAX + 1 - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            snprintf(err, errlen, "cannot read the template %s: %s", path, strerror(errno));
            goto fail;
        }
        if (k == 0)
            break;
        got += (size_t)k;
        if (got > RUNE_REPORT_TEMPLATE_FILE_MAX) {
            snprintf(err, errlen, "the template %s grew past %d bytes while it was read", path,
                     RUNE_REPORT_TEMPLATE_FILE_MAX);
            goto fail;
        }
    }
    close(fd);
    buf[got] = '\0';
    *text = buf;
    *len = got;
    return 0;
fail:
    free(buf);
    close(fd);
    return -1;
}

static const struct rune_report_template *bundled(const char *name)
{
    for (const struct rune_report_template *t = rune_report_templates; t->name; t++)
        if (!strcmp(t->name, name))
            return t;
    return NULL;
}

char *rune_report_templated(json_t *rep, const char *which, const char *format, bool *html,
                            char *err, size_t errlen)
{
    const struct rune_report_template *b = NULL;
    struct rune_template *t = NULL;
    char *text = NULL, *out = NULL;
    size_t len = 0;

    if (!rune_report_template_is_file(which)) {
        if (!(b = bundled(which))) {
            int w =
                snprintf(err, errlen, "no bundled template \"%s\"; the bundled ones are", which);
            for (const struct rune_report_template *x = rune_report_templates; x->name; x++)
                if (w >= 0 && (size_t)w < errlen)
                    w += snprintf(err + w, errlen - (size_t)w, " %s", x->name);
            if (w >= 0 && (size_t)w < errlen)
                snprintf(err + w, errlen - (size_t)w,
                         "; a file of your own needs a '/' or an extension (./%s.md)", which);
            return NULL;
        }
        if (format && strcmp(format, "md")) {
            snprintf(err, errlen,
                     "the bundled template %s is Markdown: leave out --format, or write an .html "
                     "template of your own (docs/reports.md, \"Templates\")",
                     which);
            return NULL;
        }
        *html = false;
        if (rune_template_parse(which, b->text, strlen(b->text), &t, err, errlen) != 0)
            return NULL;
    } else {
        if (read_template(which, &text, &len, err, errlen) != 0)
            return NULL;
        *html = format ? !strcmp(format, "html")
                       : ends_with(which, ".html") || ends_with(which, ".htm");
        int rc = rune_template_parse(which, text, len, &t, err, errlen);
        free(text);
        if (rc != 0)
            return NULL;
    }
    char why[512];
    out = rune_template_render(t, rep, *html, NULL, why, sizeof why);
    if (!out)
        snprintf(err, errlen, "the template %s: %s", which, why);
    rune_template_free(t);
    return out;
}

/* tpl as given, or a relative file made the runbook's: into buf. */
static const char *resolve(const char *tpl, const char *runbook_path, char *buf, size_t len)
{
    const char *slash = runbook_path ? strrchr(runbook_path, '/') : NULL;
    if (!rune_report_template_is_file(tpl) || tpl[0] == '/' || !slash)
        return tpl;
    int w = snprintf(buf, len, "%.*s/%s", (int)(slash - runbook_path), runbook_path, tpl);
    return w > 0 && (size_t)w < len ? buf : tpl;
}

/* The template's short name for the file: a bundled name, or the file's
 * base name without its extension. */
static void short_name(const char *tpl, char *buf, size_t len)
{
    const char *base = strrchr(tpl, '/') ? strrchr(tpl, '/') + 1 : tpl;
    const char *dot = strrchr(base, '.');
    snprintf(buf, len, "%.*s", dot && dot != base ? (int)(dot - base) : (int)strlen(base), base);
}

void rune_report_after_run_templated(struct rune_journal *j, const char *incident_id,
                                     const char *dir, const char *tpl, const char *runbook_path,
                                     struct rune_console *con)
{
    char err[1024], file[4096], name[256], path[4096];
    json_t *rep = NULL;
    char *text = NULL;
    bool html = false;

    rune_report_after_run(j, incident_id, dir, con);
    if (!tpl || !*tpl)
        tpl = getenv("RUNE_REPORT_TEMPLATE");
    else
        tpl = resolve(tpl, runbook_path, file, sizeof file);
    if (!dir || !j || !tpl || !*tpl)
        return;
    short_name(tpl, name, sizeof name);
    if (rune_report_build(j, incident_id, &rep, err, sizeof err) != 0 ||
        !(text = rune_report_templated(rep, tpl, NULL, &html, err, sizeof err)))
        goto warn;
    int w = snprintf(path, sizeof path, "%s%s%s.%s.%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/",
                     incident_id, name, html ? "html" : "md");
    if (w < 0 || (size_t)w >= sizeof path) {
        snprintf(err, sizeof err, "the reports directory's path is too long; pass --reports DIR");
        goto warn;
    }
    if (rune_report_save(path, text, err, sizeof err) != 0)
        goto warn;
    rune_console_alert(con, "report (template %s): %s", name, path);
    goto out;
warn:
    rune_console_alert(con,
                       "warning: no report through the template %s: %s; `rune report %s "
                       "--template FILE` writes it later",
                       tpl, err, incident_id);
out:
    free(text);
    json_decref(rep);
}
