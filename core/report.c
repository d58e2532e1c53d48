/*
 * report.c - build and print the scan report of one message. Reads the
 * message and the evaluation state; changes neither.
 */
#include "report.h"

#include <string.h>

const char *report_final_action(const struct policy_state *st)
{
	return st->pending ? "pending" : action_name(st->intercept);
}

static json_t *strings(const struct strvec *sv)
{
	json_t *a = json_array();
	for (size_t i = 0; i < sv->n; i++)
		json_array_append_new(a, json_string(sv->v[i]));
	return a;
}

static json_t *part_json(const vigil_part *p)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:i, s:b, s:b}",
			 "path", p->path, "name", p->name, "content_type",
			 p->content_type, "true_type", p->true_type,
			 "category", p->category, "size", (json_int_t)p->size,
			 "sha1", p->sha1, "sha256", p->sha256, "depth",
			 (int)p->depth, "encrypted",
			 (p->flags & VIGIL_PART_ENCRYPTED) != 0, "truncated",
			 (p->flags & VIGIL_PART_TRUNCATED) != 0);
}

/* json_pack refuses NULL strings: headers may be absent. */
static json_t *str_or_empty(const char *s)
{
	return json_string(s ? s : "");
}

json_t *report_message(const char *file, struct msg *m,
		       const struct policy_state *st)
{
	size_t n_parts;
	const vigil_part *parts = msg_parts(m, &n_parts);
	json_t *jparts = json_array();
	for (size_t i = 0; i < n_parts; i++)
		json_array_append_new(jparts, part_json(&parts[i]));
	json_t *rcpts = json_array();
	for (size_t i = 0; i < m->n_rcpts; i++)
		json_array_append_new(rcpts, json_string(m->rcpts[i]));

	json_t *r = json_object();
	json_object_set_new(r, "file", json_string(file));
	json_object_set_new(r, "message_id", str_or_empty(msg_header(m, "Message-ID")));
	json_object_set_new(r, "from", str_or_empty(msg_header(m, "From")));
	json_object_set_new(r, "subject", str_or_empty(msg_header(m, "Subject")));
	json_object_set_new(r, "sender", json_string(m->sender ? m->sender : ""));
	json_object_set_new(r, "recipients", rcpts);
	json_object_set_new(r, "size", json_integer((json_int_t)m->raw_size));
	json_object_set_new(r, "final_action", json_string(report_final_action(st)));
	if (st->intercept_rule)
		json_object_set_new(r, "decided_by", json_string(st->intercept_rule));
	if (st->area && st->intercept == VIGIL_ACTION_QUARANTINE)
		json_object_set_new(r, "area", json_string(st->area));
	if (st->pending)
		json_object_set_new(r, "tickets", strings(&st->tickets));
	json_object_set_new(r, "exceptions", strings(&st->exceptions));
	json_object_set_new(r, "parts", jparts);
	json_object_set_new(r, "rules", json_deep_copy(st->report));
	return r;
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

void report_print_human(FILE *out, json_t *r)
{
	fprintf(out, "%s: %s", jstr(r, "file"), jstr(r, "final_action"));
	if (*jstr(r, "area"))
		fprintf(out, " (area %s)", jstr(r, "area"));
	if (*jstr(r, "decided_by"))
		fprintf(out, " by \"%s\"", jstr(r, "decided_by"));
	fprintf(out, "\n  from: %s\n  subject: %s\n", jstr(r, "from"),
		jstr(r, "subject"));
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(r, "parts"), i, v)
	{
		fprintf(out, "  part %-24s %-10s %-11s %8lld  %s%s%s\n",
			jstr(v, "path"), jstr(v, "true_type"),
			jstr(v, "category"),
			(long long)json_integer_value(json_object_get(v, "size")),
			jstr(v, "name"),
			json_is_true(json_object_get(v, "encrypted")) ? " [encrypted]" : "",
			json_is_true(json_object_get(v, "truncated")) ? " [truncated]" : "");
	}
	json_array_foreach(json_object_get(r, "rules"), i, v)
	{
		const char *state = json_is_true(json_object_get(v, "pending")) ?
					    "pending" :
				    json_is_true(json_object_get(v, "matched")) ?
					    "matched" : "no match";
		fprintf(out, "  rule %-30s [%s] %s", jstr(v, "name"),
			jstr(v, "phase"), state);
		size_t j;
		json_t *c;
		json_array_foreach(json_object_get(v, "conditions"), j, c)
		{
			if (*jstr(c, "detail"))
				fprintf(out, "%s %s: %s", j ? ";" : " -", jstr(c, "type"),
					jstr(c, "detail"));
		}
		json_t *acts = json_object_get(v, "actions");
		if (json_array_size(acts) > 0) {
			fputs(" ->", out);
			json_array_foreach(acts, j, c)
				fprintf(out, " %s", json_string_value(c));
		}
		fputc('\n', out);
	}
}
