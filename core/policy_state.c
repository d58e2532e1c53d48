/*
 * policy_state.c - the evaluation state as a value: init, clear, and a
 * JSON form that the spool keeps beside a parked message, so evaluation
 * resumes at the same rule after a restart or a reload.
 */
#include "policy.h"

#include <stdlib.h>
#include <string.h>

void policy_state_init(struct policy_state *st)
{
	memset(st, 0, sizeof *st);
	st->next_rule = -1;
	st->intercept = VIGIL_ACTION_PASS;
	st->report = json_array();
}

void policy_state_clear(struct policy_state *st)
{
	free(st->next_rule_name);
	free(st->intercept_rule);
	free(st->area);
	strvec_free(&st->matched);
	strvec_free(&st->tickets);
	strvec_free(&st->exceptions);
	json_decref(st->report);
	memset(st, 0, sizeof *st);
}

static json_t *strvec_json(const struct strvec *sv)
{
	json_t *a = json_array();
	for (size_t i = 0; i < sv->n; i++)
		json_array_append_new(a, json_string(sv->v[i]));
	return a;
}

static int json_strvec(json_t *a, struct strvec *sv)
{
	size_t i;
	json_t *v;
	if (!json_is_array(a))
		return -1;
	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v))
			return -1;
		strvec_push(sv, json_string_value(v));
	}
	return 0;
}

char *policy_state_save(const struct policy_state *st)
{
	json_t *o = json_pack(
		"{s:i, s:b, s:s, s:o, s:o, s:o, s:O}", "next_rule",
		st->next_rule, "pending", st->pending, "intercept",
		action_name(st->intercept), "matched", strvec_json(&st->matched),
		"tickets", strvec_json(&st->tickets), "exceptions",
		strvec_json(&st->exceptions), "report", st->report);
	if (st->next_rule_name)
		json_object_set_new(o, "next_rule_name",
				    json_string(st->next_rule_name));
	if (st->intercept_rule)
		json_object_set_new(o, "intercept_rule",
				    json_string(st->intercept_rule));
	if (st->area)
		json_object_set_new(o, "area", json_string(st->area));
	if (st->va_bypass)
		json_object_set_new(o, "va_bypass", json_true());
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static char *opt_string(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
}

int policy_state_load(struct policy_state *st, const char *text,
		      const char **error_r)
{
	json_error_t jerr;
	json_t *o = json_loads(text, 0, &jerr);
	policy_state_init(st);
	if (o == NULL || !json_is_object(o)) {
		*error_r = "policy state: not a JSON object";
		json_decref(o);
		return -1;
	}
	json_t *next = json_object_get(o, "next_rule");
	json_t *intercept = json_object_get(o, "intercept");
	json_t *report = json_object_get(o, "report");
	if (!json_is_integer(next) || !json_is_string(intercept) ||
	    action_parse(json_string_value(intercept), &st->intercept) != 0 ||
	    !json_is_array(report) ||
	    json_strvec(json_object_get(o, "matched"), &st->matched) != 0 ||
	    json_strvec(json_object_get(o, "tickets"), &st->tickets) != 0 ||
	    json_strvec(json_object_get(o, "exceptions"), &st->exceptions) != 0) {
		*error_r = "policy state: missing or mistyped fields";
		json_decref(o);
		policy_state_clear(st);
		policy_state_init(st);
		return -1;
	}
	st->next_rule = (int)json_integer_value(next);
	st->pending = json_is_true(json_object_get(o, "pending"));
	st->va_bypass = json_is_true(json_object_get(o, "va_bypass"));
	st->next_rule_name = opt_string(o, "next_rule_name");
	st->intercept_rule = opt_string(o, "intercept_rule");
	st->area = opt_string(o, "area");
	json_decref(st->report);
	st->report = json_incref(report);
	json_decref(o);
	return 0;
}
