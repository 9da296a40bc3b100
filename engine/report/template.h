/*
 * template.h — a small logic-less template language over a JSON object:
 * the Mustache subset teams need to lay out a report their own way.
 *
 *   {{a.b}}            a value (HTML-escaped in HTML output, as it is in
 *                      Markdown); a missing name is empty
 *   {{{a}}} {{&a}}     a value never escaped
 *   {{#a}}…{{/a}}      once per element of an array; once, with a as the
 *                      context, for any other true value
 *   {{^a}}…{{/a}}      once when a is missing, null, false, "" or []
 *   {{.}}              the current element
 *   {{! comment }}     nothing
 *
 * No partials, no delimiter changes, no lambdas: a template can only show
 * the data, never loop on itself. Work is bounded (RUNE_TEMPLATE_MAX_DEPTH
 * sections deep, and the limits below), so a hostile template ends in an
 * error, never a crash or a machine out of memory.
 */
#ifndef RUNE_TEMPLATE_H
#define RUNE_TEMPLATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Sections open inside each other at most this deep. */
#define RUNE_TEMPLATE_MAX_DEPTH 32
/* The largest template text accepted. */
#define RUNE_TEMPLATE_MAX_TEXT (1024 * 1024)

struct rune_template_limits {
    size_t max_output; /* bytes of output */
    size_t max_steps;  /* tags and texts rendered, and passes of sections */
};
/* 16 MiB and 4 million steps: far above any report, far below trouble. */
extern const struct rune_template_limits rune_template_default_limits;

struct rune_template;

/* Parses text (len bytes; no NUL inside). name is what errors call it
 * ("recovery-log", a file's path). Returns 0 with *out (free with
 * rune_template_free), or -1 with err as "name:line:col: what is wrong". */
int rune_template_parse(const char *name, const char *text, size_t len, struct rune_template **out,
                        char *err, size_t errlen);

/* Renders t over data. html: escape values for HTML (& < > " '); else
 * values go in as they are. Control characters other than newline and tab
 * become '?' in either. lim NULL: the defaults. Returns malloc'd text, or
 * NULL with err saying which limit was reached or that memory ran out. */
char *rune_template_render(const struct rune_template *t, json_t *data, bool html,
                           const struct rune_template_limits *lim, char *err, size_t errlen);

void rune_template_free(struct rune_template *t);

#endif
