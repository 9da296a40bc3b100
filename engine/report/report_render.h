/*
 * report_render.h — what a report format must know how to draw, and the
 * one walk that draws a report with it.
 *
 * The sections of a report, their order and what each shows from the
 * report object are defined once, in report_sections.c. A format
 * (report_md.c, report_html.c) is a pen: how to open and close a
 * paragraph, a heading, a table, a row, a cell, a list or a muted aside,
 * how to escape text and code, how to show a status, and the few words
 * that differ between the formats. It knows nothing of which sections
 * exist or what goes in them, so the formats cannot drift apart again.
 */
#ifndef RUNE_REPORT_RENDER_H
#define RUNE_REPORT_RENDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* The parts a section is built of, each opened and closed by the pen's
 * strings. Blocks (the parts before RUNE_PART_BLOCKS, and headings,
 * tables and verbatim output) are separated by the pen's gap. */
enum rune_report_part {
    RUNE_PART_PARA,    /* a paragraph */
    RUNE_PART_QUIET,   /* a paragraph of lesser weight (how times are given) */
    RUNE_PART_SUBHEAD, /* a heading inside a section: a stage, a failure */
    RUNE_PART_LIST,
    RUNE_PART_FILL, /* room left for people to write in */
    RUNE_PART_BLOCKS,
    RUNE_PART_ITEM = RUNE_PART_BLOCKS, /* of a list */
    RUNE_PART_ROW,
    RUNE_PART_CELL,
    RUNE_PART_NUM,  /* a cell holding a number or a duration */
    RUNE_PART_NAME, /* a header cell, and a row's name in a name/value table */
    RUNE_PART_GOOD, /* a cell that says all is well */
    RUNE_PART_BAD,  /* a cell that says it is not */
    RUNE_PART_MUTED,
    RUNE_PART_ASIDE, /* what follows a subheading: when, how long, why */
    RUNE_PARTS
};

/* Tables by what they hold (HTML styles them apart). */
enum rune_report_table {
    RUNE_TABLE_PLAIN,
    RUNE_TABLE_KV,       /* name/value rows, no header */
    RUNE_TABLE_ATTEMPTS, /* step attempts, fixed column widths */
};

/* Wording and markup the formats spell differently. */
enum rune_report_word {
    RUNE_WORD_SEP,              /* between a name and its status */
    RUNE_WORD_DASH,             /* between a finding and its reason */
    RUNE_WORD_ARROW,            /* from a start to an end */
    RUNE_WORD_DATE_NOTE,        /* after "Times are UTC on <day>" */
    RUNE_WORD_MODE_SIM,         /* the Mode of a dry-run */
    RUNE_WORD_OUTCOME_SIM,      /* before a dry-run's outcome */
    RUNE_WORD_CHAIN_OK,         /* the log's chain verified */
    RUNE_WORD_CHAIN_BROKEN,     /* it did not: before the message */
    RUNE_WORD_CHAIN_BROKEN_END, /* and after it */
    RUNE_WORD_MET_YES,
    RUNE_WORD_MET_NO,
    RUNE_WORD_MET_NONE, /* an objective without a target */
    RUNE_WORD_COUNTS_OK,
    RUNE_WORD_COUNTS_DIFFERENT,
    RUNE_WORD_COUNTS_UNKNOWN,
    RUNE_WORD_CONTENT_DIFFERS, /* a table's content is not the same */
    RUNE_WORD_COUNT_WRONG,     /* a table is not as expected */
    RUNE_WORD_BACKUP_SKIPPED,
    RUNE_WORD_UNDONE, /* a verification result a later rollback undid */
    RUNE_WORDS
};

struct rune_report_pen;

/* One report being drawn. */
struct rune_report_doc {
    FILE *f;
    const struct rune_report_pen *pen;
    bool sim;        /* a dry-run's report: every heading says SIMULATED */
    const char *day; /* the incident's start: times on that day show as times of day */
    bool gap;        /* a block was closed: the pen's gap comes before the next one */
};

/* A format: strings for the parts and the words, and how to draw what
 * strings cannot say. Every text argument may be NULL. */
struct rune_report_pen {
    struct rune_report_markup {
        const char *open, *close;
    } parts[RUNE_PARTS];
    const char *words[RUNE_WORDS];
    const char *gap;       /* between two blocks */
    const char *table_end; /* after a table's last row */
    /* The page around the sections: title, banner; footer. */
    void (*begin)(struct rune_report_doc *d, json_t *rep);
    void (*end)(struct rune_report_doc *d, json_t *rep);
    void (*heading)(struct rune_report_doc *d, const char *anchor, const char *title);
    /* Opens a table and writes its header row (cols NULL: none). */
    void (*table)(struct rune_report_doc *d, enum rune_report_table kind, const char *const *cols,
                  size_t ncols);
    void (*value)(struct rune_report_doc *d, const char *s);    /* recorded text; a dash for none */
    void (*text)(struct rune_report_doc *d, const char *s);     /* recorded text in a sentence */
    void (*code)(struct rune_report_doc *d, const char *s);     /* identifiers, paths, hashes */
    void (*verbatim)(struct rune_report_doc *d, const char *s); /* output as it was printed */
    /* A status word ("failed"); alarm: one that must catch the eye. */
    void (*status)(struct rune_report_doc *d, const char *status, bool alarm);
    /* The timeline drawn as a chart; NULL when the format has none. */
    void (*chart)(struct rune_report_doc *d, json_t *rep);
};

/* Writes s (NULL: nothing) to f, each byte that subst (NULL: none) has a
 * string for replaced by it, and control characters other than newline
 * and tab as '?' (report_escape.c). */
void rune_report_escape(FILE *f, const char *s, const char *const subst[256]);

/* Draws rep with pen. Returns malloc'd text, NULL when out of memory. */
char *rune_report_render(const struct rune_report_pen *pen, json_t *rep);

#endif
