/*
 * report_story.h — the opening of a report (report_story.c): a short
 * generated narrative and the key facts, made from the report object.
 */
#ifndef RUNE_REPORT_STORY_H
#define RUNE_REPORT_STORY_H

#include <jansson.h>

/* Sets rep's "story" (a paragraph) and "key_facts" (outcome, downtime,
 * RTO and RPO against their targets, the backup or recovery point used,
 * data lost, who ran and approved it) from rep's other members. 0, or -1
 * when out of memory (rep is then unchanged). */
int rune_report_tell(json_t *rep);

/* What the story and the template fields (template_fields.c) read of the
 * report object (borrowed, NULL when absent): the timeline's entry of a
 * stage, and the first failed attempt of a stage. */
json_t *rune_report_stage(json_t *rep, const char *name);
json_t *rune_report_first_failure(json_t *rep, const char *stage);

#endif
