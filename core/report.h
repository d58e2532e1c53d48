/*
 * report.h - what `vigil scan` says about a message: the JSON object (a
 * contract, see vigil(1)) and the short human-readable form.
 */
#ifndef VIGIL_REPORT_H
#define VIGIL_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "msg.h"
#include "policy.h"

/* The final action's name: an action, or "pending" while parked. */
const char *report_final_action(const struct policy_state *st);

json_t *report_message(const char *file, struct msg *m,
		       const struct policy_state *st);
void report_print_human(FILE *out, json_t *report);

#endif
