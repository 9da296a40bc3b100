/*
 * report_draw.h — the small strokes every section of a report is drawn
 * with (report_sections.c, report_facts.c): paragraphs, tables, name/value
 * rows, cells, times and durations, each through the format's pen
 * (report_render.h). Static inline so that both files share one
 * definition without making them part of the engine's interface.
 */
#ifndef RUNE_REPORT_DRAW_H
#define RUNE_REPORT_DRAW_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "duration.h"
#include "report.h"
#include "report_render.h"

static inline const char *str(json_t *o, const char *key)
{
    return rune_report_str(o, key);
}

static inline bool same(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

static inline void put(struct rune_report_doc *d, const char *s)
{
    fputs(s, d->f);
}

static inline void word(struct rune_report_doc *d, enum rune_report_word w)
{
    fputs(d->pen->words[w], d->f);
}

/* Before a block: the gap the previous one is owed. */
static inline void start_block(struct rune_report_doc *d)
{
    if (d->gap)
        fputs(d->pen->gap, d->f);
    d->gap = false;
}

static inline void begin(struct rune_report_doc *d, enum rune_report_part p)
{
    if (p < RUNE_PART_BLOCKS)
        start_block(d);
    fputs(d->pen->parts[p].open, d->f);
}

static inline void end(struct rune_report_doc *d, enum rune_report_part p)
{
    fputs(d->pen->parts[p].close, d->f);
    if (p < RUNE_PART_BLOCKS)
        d->gap = true;
}

static inline void table(struct rune_report_doc *d, enum rune_report_table kind,
                         const char *const *cols, size_t ncols)
{
    start_block(d);
    d->pen->table(d, kind, cols, ncols);
}

static inline void table_end(struct rune_report_doc *d)
{
    put(d, d->pen->table_end);
    d->gap = true;
}

/* A time of the incident: the time of day ("12:15:24.101") when it is on
 * the incident's first day, else the whole ISO text; "-" for none. It is
 * recorded text like any other, so the pen escapes it. */
static inline void put_clock(struct rune_report_doc *d, const char *iso)
{
    char buf[16];

    if (!iso)
        put(d, "-");
    else if (d->day && strlen(iso) >= 23 && !strncmp(iso, d->day, 10)) {
        snprintf(buf, sizeof buf, "%.12s", iso + 11);
        d->pen->text(d, buf);
    } else if (*iso)
        d->pen->text(d, iso);
}

static inline void put_duration(struct rune_report_doc *d, json_t *ms)
{
    char buf[32];
    put(d, rune_report_duration(ms, buf, sizeof buf));
}

/* ---- Cells ---- */

static inline void cell(struct rune_report_doc *d, const char *s, bool as_code)
{
    begin(d, RUNE_PART_CELL);
    if (as_code)
        d->pen->code(d, s);
    else
        d->pen->value(d, s);
    end(d, RUNE_PART_CELL);
}

static inline void clock_cell(struct rune_report_doc *d, const char *iso)
{
    begin(d, RUNE_PART_CELL);
    put_clock(d, iso);
    end(d, RUNE_PART_CELL);
}

/* A count (rows, bytes), or a dash when there is none. */
static inline void count_cell(struct rune_report_doc *d, json_t *v)
{
    begin(d, RUNE_PART_NUM);
    if (json_is_integer(v))
        fprintf(d->f, "%lld", (long long)json_integer_value(v));
    else
        d->pen->value(d, NULL);
    end(d, RUNE_PART_NUM);
}

/* A row of a name/value table. */
static inline void kv(struct rune_report_doc *d, const char *name, const char *value, bool as_code)
{
    begin(d, RUNE_PART_ROW);
    begin(d, RUNE_PART_NAME);
    put(d, name);
    end(d, RUNE_PART_NAME);
    cell(d, value, as_code);
    end(d, RUNE_PART_ROW);
}

/* The name cell of a row whose value the caller writes: open its cell. */
static inline void kv_name(struct rune_report_doc *d, const char *name)
{
    begin(d, RUNE_PART_ROW);
    begin(d, RUNE_PART_NAME);
    put(d, name);
    end(d, RUNE_PART_NAME);
    begin(d, RUNE_PART_CELL);
}

static inline void kv_end(struct rune_report_doc *d)
{
    end(d, RUNE_PART_CELL);
    end(d, RUNE_PART_ROW);
}

/* A table of one row per member of list, whose cells row draws. */
static inline void rows(struct rune_report_doc *d, enum rune_report_table kind,
                        const char *const *cols, size_t ncols, json_t *list,
                        void (*row)(struct rune_report_doc *d, json_t *x))
{
    json_t *x;
    size_t i;

    table(d, kind, cols, ncols);
    json_array_foreach(list, i, x)
    {
        begin(d, RUNE_PART_ROW);
        row(d, x);
        end(d, RUNE_PART_ROW);
    }
    table_end(d);
}

/* A list of one item per member of list, which item draws. */
static inline void items(struct rune_report_doc *d, json_t *list,
                         void (*item)(struct rune_report_doc *d, json_t *x))
{
    json_t *x;
    size_t i;

    begin(d, RUNE_PART_LIST);
    json_array_foreach(list, i, x)
    {
        begin(d, RUNE_PART_ITEM);
        item(d, x);
        end(d, RUNE_PART_ITEM);
    }
    end(d, RUNE_PART_LIST);
}

/* A paragraph of rune's own words. */
static inline void say(struct rune_report_doc *d, const char *sentence)
{
    begin(d, RUNE_PART_PARA);
    put(d, sentence);
    end(d, RUNE_PART_PARA);
}

/* The sections drawn in report_facts.c: what happened and its key facts,
 * the incident's record, the objectives, the backup restored from. */
void rune_report_draw_story(struct rune_report_doc *d, json_t *rep);
void rune_report_draw_summary(struct rune_report_doc *d, json_t *rep);
void rune_report_draw_objectives(struct rune_report_doc *d, json_t *rep);
void rune_report_draw_restored(struct rune_report_doc *d, json_t *rep);
/* ... and what people noted afterwards (rune log note). */
void rune_report_draw_root_cause(struct rune_report_doc *d, json_t *rep);
void rune_report_draw_actions(struct rune_report_doc *d, json_t *rep);
void rune_report_draw_postmortem(struct rune_report_doc *d, json_t *rep);

#endif
