/*
 * template_fields.h — the members of the report object that exist for
 * templates (template_fields.c): what a team's recovery log, incident
 * report or checklist asks for, already in words, since a logic-less
 * template can show values but not compute them.
 */
#ifndef RUNE_TEMPLATE_FIELDS_H
#define RUNE_TEMPLATE_FIELDS_H

#include <jansson.h>

/* Adds "recovery", "milestones", "actions_taken" and "checklist" to rep,
 * made from rep's other members only (docs/reports.md lists them). 0, or
 * -1 when out of memory. */
int rune_report_template_fields(json_t *rep);

#endif
