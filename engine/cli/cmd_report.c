/*
 * cmd_report.c — `rune report ID`: an incident's report, from the incident
 * log alone, as Markdown, HTML or JSON (report.c builds it; report_md.c and
 * report_html.c render it), or through a template (template_report.c):
 * a bundled one or a team's own file. It only reads the log.
 *
 *   rune report ID [--format md|html|json] [--template NAME|FILE] [-o FILE] [--log PATH]
 *   rune report --template list
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "exitcode.h"
#include "journal.h"
#include "report.h"
#include "template_report.h"

static void usage(FILE *out)
{
    fputs("usage: rune report ID [--format FORMAT] [--template NAME|FILE] [-o FILE] [--log PATH]\n"
          "       rune report --template list\n"
          "\n"
          "  ID                an incident (`rune log` lists them)\n"
          "  -f, --format FORMAT\n",
          out);
    for (const struct rune_report_format *f = rune_report_formats; f->name; f++)
        fprintf(out, "        %-5s %s%s\n", f->name, f->summary,
                f == rune_report_formats ? " (the default)" : "");
    fputs("  -t, --template NAME|FILE\n"
          "                    render the report object (the JSON) through a template: a bundled\n"
          "                    one (`--template list` names them) or a file of your own (.md, or\n"
          "                    .html for HTML; --format md|html overrides). Without\n"
          "                    --template or --format: $RUNE_REPORT_TEMPLATE if set\n"
          "  -o, --output FILE write there (whole or not at all) instead of standard output\n"
          "      --log PATH    the incident log (default: $RUNE_LOG, $RUNE_HOME/incidents.db,\n"
          "                    or ~/.local/state/rune/incidents.db)\n",
          out);
}

/* `rune report --template list`: the bundled templates. */
static int list_templates(void)
{
    for (const struct rune_report_template *t = rune_report_templates; t->name; t++)
        printf("%-24s %s\n", t->name, t->summary);
    printf("\nOr a file of your own: --template ./ours.md (fields: docs/reports.md, "
           "\"Templates\").\n");
    return RUNE_EXIT_OK;
}

static int emit(const char *text, const char *out)
{
    char err[1024];
    if (!out || !strcmp(out, "-")) {
        if (fputs(text, stdout) == EOF || fflush(stdout) != 0) {
            perror("rune report: standard output");
            return RUNE_EXIT_INTERNAL;
        }
        return RUNE_EXIT_OK;
    }
    if (rune_report_save(out, text, err, sizeof err) != 0) {
        fprintf(stderr, "rune report: %s\n", err);
        return RUNE_EXIT_INTERNAL;
    }
    return RUNE_EXIT_OK;
}

/* The report of id in the given format, or through the template tpl
 * (NULL: none), to out. */
static int report(const char *log, const char *id, const struct rune_report_format *fmt,
                  bool fmt_given, const char *tpl, const char *out)
{
    char path[PATH_MAX], err[1024];
    struct rune_journal *j = NULL;
    json_t *rep = NULL;
    char *text = NULL;
    int rc;

    rune_journal_default_path(log, path, sizeof path);
    rc = rune_journal_open_read(path, &j, err, sizeof err);
    if (rc == RUNE_JOURNAL_ABSENT) {
        fprintf(stderr, "rune report: no incident %s: %s\n", id, err);
        return RUNE_EXIT_INVALID;
    }
    if (rc != 0) {
        fprintf(stderr, "rune report: %s\n", err);
        return RUNE_EXIT_INTERNAL;
    }
    rc = rune_report_build(j, id, &rep, err, sizeof err);
    rune_journal_close(j);
    if (rc != 0) {
        fprintf(stderr, "rune report: %s\n", err);
        return rc == RUNE_JOURNAL_UNKNOWN ? RUNE_EXIT_INVALID : RUNE_EXIT_INTERNAL;
    }
    json_t *chain = json_object_get(rep, "chain");
    if (!json_is_true(json_object_get(chain, "verified")))
        fprintf(stderr,
                "rune report: warning: the incident log does not verify for %s: %s; the report "
                "says so\n",
                id, rune_report_str(chain, "message"));
    if (tpl) {
        bool html;
        text =
            rune_report_templated(rep, tpl, fmt_given ? fmt->name : NULL, &html, err, sizeof err);
        json_decref(rep);
        if (!text) {
            fprintf(stderr, "rune report: %s\n", err);
            return RUNE_EXIT_INVALID;
        }
        rc = emit(text, out);
        free(text);
        return rc;
    }
    if (fmt->write) { /* binary, made by another program: pdf (report_pdf.c) */
        rc = fmt->write(rep, out, err, sizeof err);
        json_decref(rep);
        if (rc != 0)
            fprintf(stderr, "rune report: %s\n", err);
        return rc == 0 ? RUNE_EXIT_OK : rc == -2 ? RUNE_EXIT_INVALID : RUNE_EXIT_INTERNAL;
    }
    text = fmt->render(rep);
    json_decref(rep);
    if (!text) {
        fprintf(stderr,
                "rune report: no memory to render the %s report of incident %s: free memory on "
                "this host and run it again\n",
                fmt->name, id);
        return RUNE_EXIT_INTERNAL;
    }
    rc = emit(text, out);
    free(text);
    return rc;
}

int cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'},   {"output", required_argument, NULL, 'o'},
        {"template", required_argument, NULL, 't'}, {"log", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    const struct rune_report_format *fmt = rune_report_formats;
    const char *out = NULL, *log = NULL, *tpl = getenv("RUNE_REPORT_TEMPLATE");
    bool fmt_given = false, tpl_flag = false;
    int c;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":f:o:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (!(fmt = rune_report_format(optarg))) {
                fputs("rune report: --format must be one of", stderr);
                for (const struct rune_report_format *f = rune_report_formats; f->name; f++)
                    fprintf(stderr, " %s", f->name);
                fprintf(stderr, ", got \"%s\"\n", optarg);
                return RUNE_EXIT_INVALID;
            }
            fmt_given = true;
            break;
        case 't':
            tpl = optarg;
            tpl_flag = true;
            break;
        case 'o':
            out = optarg;
            break;
        case 'l':
            log = optarg;
            break;
        case 'h':
            usage(stdout);
            return RUNE_EXIT_OK;
        case ':':
            fprintf(stderr, "rune report: %s needs a value; see `rune report --help`\n",
                    argv[optind - 1]);
            return RUNE_EXIT_INVALID;
        default:
            fprintf(stderr, "rune report: unknown option %s; see `rune report --help`\n",
                    argv[optind - 1]);
            return RUNE_EXIT_INVALID;
        }
    }
    if (tpl_flag && !strcmp(tpl, "list"))
        return list_templates();
    /* $RUNE_REPORT_TEMPLATE is the default of a bare `rune report ID`; a
     * --format asks for that format */
    if ((tpl && !*tpl) || (!tpl_flag && fmt_given))
        tpl = NULL;
    if (tpl && fmt_given && !strcmp(fmt->name, "json")) {
        fprintf(
            stderr,
            "rune report: --template renders Markdown or HTML; leave it out for --format json\n");
        return RUNE_EXIT_INVALID;
    }
    if (argc - optind != 1) {
        fprintf(stderr, argc == optind ? "rune report: which incident? (`rune log` lists them)\n"
                                       : "rune report: one incident at a time\n");
        return RUNE_EXIT_INVALID;
    }
    return report(log, argv[optind], fmt, fmt_given, tpl, out);
}
