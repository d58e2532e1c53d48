/*
 * policy_eval.c - run the policy on one message: security settings and
 * malformed checks first, then every rule by phase and order, until a
 * terminal intercept or the end. A PENDING condition parks the evaluation
 * at its rule; calling policy_eval() again resumes there. Nothing here
 * touches the message: decisions are recorded in the state, and carried
 * out by whoever owns the message.
 */
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"

#define VA_SOURCE "ddan"

static bool is_internal(const struct strvec *domains, const char *addr)
{
	const char *d = addr_domain(addr);
	if (*d == '\0')
		return false;
	for (size_t i = 0; i < domains->n; i++)
		if (glob_match(domains->v[i], d))
			return true;
	return false;
}

static bool any_glob(const struct strvec *patterns, const char *s)
{
	if (patterns->n == 0)
		return true;
	for (size_t i = 0; i < patterns->n; i++)
		if (glob_match(patterns->v[i], s))
			return true;
	return false;
}

static bool any_rcpt_glob(const struct strvec *patterns,
			  const char *const *rcpts, size_t n)
{
	if (patterns->n == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		if (any_glob(patterns, rcpts[i]))
			return true;
	return false;
}

bool policy_route_matches(const struct policy_route *r,
			  const struct strvec *internal_domains,
			  const char *sender, const char *const *rcpts,
			  size_t n_rcpts)
{
	if (r->direction == ROUTE_INCOMING) {
		size_t i = 0;
		while (i < n_rcpts && !is_internal(internal_domains, rcpts[i]))
			i++;
		if (i == n_rcpts)
			return false;
	} else if (r->direction == ROUTE_OUTGOING) {
		if (!is_internal(internal_domains, sender))
			return false;
		size_t i = 0;
		while (i < n_rcpts && is_internal(internal_domains, rcpts[i]))
			i++;
		if (i == n_rcpts)
			return false;
	}
	if (!any_glob(&r->from, sender) ||
	    !any_rcpt_glob(&r->to, rcpts, n_rcpts))
		return false;
	for (size_t i = 0; i < r->except_from.n; i++) {
		struct strvec one = {&r->except_to.v[i], 1, 1};
		if (glob_match(r->except_from.v[i], sender) &&
		    any_rcpt_glob(&one, rcpts, n_rcpts))
			return false;
	}
	return true;
}

json_t *policy_actions_describe(const struct policy_actions *a)
{
	json_t *arr = json_array();
	switch (a->intercept) {
	case VIGIL_ACTION_QUARANTINE:
		json_array_append_new(arr, json_sprintf("quarantine:%s", a->area));
		break;
	case VIGIL_ACTION_CHANGE_RECIPIENT:
		json_array_append_new(arr, json_sprintf("change_recipient:%s",
							a->recipient));
		break;
	case VIGIL_ACTION_HANDOFF:
		json_array_append_new(arr, json_sprintf("handoff:%s", a->handoff));
		break;
	case VIGIL_ACTION_DELETE:
		json_array_append_new(arr, json_string("delete"));
		break;
	default:
		break;
	}
	if (a->tag_subject)
		json_array_append_new(arr, json_string("tag_subject"));
	if (a->x_header)
		json_array_append_new(arr, json_string("x_header"));
	if (a->stamp)
		json_array_append_new(arr, json_string("stamp"));
	if (a->delete_attachments)
		json_array_append_new(arr, json_sprintf(
			"delete_attachments:%s",
			a->delete_attachments == STRIP_ALL ? "all" : "matching"));
	for (size_t i = 0; i < a->bcc.n; i++)
		json_array_append_new(arr, json_sprintf("bcc:%s", a->bcc.v[i]));
	if (a->postpone)
		json_array_append_new(arr, json_sprintf("postpone:%s", a->postpone));
	if (a->archive)
		json_array_append_new(arr, json_sprintf("archive:%s", a->archive));
	for (size_t i = 0; i < a->notify.n; i++)
		json_array_append_new(arr, json_sprintf("notify:%s", a->notify.v[i]));
	for (size_t i = 0; i < a->n_plugin; i++)
		json_array_append_new(arr, json_string(a->plugin[i].ops->name));
	if (json_array_size(arr) == 0)
		json_array_append_new(arr, json_string("pass"));
	return arr;
}

/* Record that `who` (a rule, or an exception) acts; the strongest
 * intercept wins, the first of equal rank stays. Returns true when the
 * intercept ends evaluation. */
static bool decide(struct policy_state *st, const char *who,
		   const struct policy_actions *a)
{
	if (vigil_action_rank(a->intercept) > vigil_action_rank(st->intercept)) {
		st->intercept = a->intercept;
		free(st->intercept_rule);
		st->intercept_rule = xstrdup(who);
		free(st->area);
		st->area = a->area ? xstrdup(a->area) : NULL;
	}
	return a->intercept != VIGIL_ACTION_PASS;
}

static json_t *exception_entry(const char *name, const char *type,
			       const char *detail,
			       const struct policy_actions *a)
{
	return json_pack("{s:s, s:s, s:b, s:[{s:s, s:b, s:s}], s:o}", "name",
			 name, "phase", "exceptions", "matched", 1,
			 "conditions", "type", type, "matched", 1,
			 "detail", detail, "actions",
			 policy_actions_describe(a));
}

/* Security settings and malformed checks, before any rule. Returns true
 * when an exception's intercept ends evaluation. */
static bool run_exceptions(struct host *h, struct msg *m,
			   struct policy_state *st)
{
	const struct msg_limits *lim = &h->cfg->limits;
	char *violation = NULL;
	if (m->raw_size > lim->max_message_size)
		violation = xasprintf("max_message_size (%llu)",
				      (unsigned long long)lim->max_message_size);
	else if (m->n_rcpts > lim->max_recipients)
		violation = xasprintf("max_recipients (%u)", lim->max_recipients);
	else {
		size_t n;
		msg_parts(m, &n); /* flattening finds the archive limits */
		if (m->exceptions & MSG_LIMIT_HIT)
			violation = xstrdup(m->limit_hit);
	}
	bool stop = false;
	if (violation != NULL) {
		const struct policy_actions *a = &h->policy.security_violation;
		strvec_push(&st->exceptions, "security_violation");
		strvec_push(&st->matched, "security_violation");
		json_array_append_new(st->report,
				      exception_entry("Security settings violation",
						      "limits", violation, a));
		stop = decide(st, "Security settings violation", a);
		free(violation);
	}
	if (!stop && (m->exceptions & MSG_MALFORMED)) {
		const struct policy_actions *a = &h->policy.malformed;
		strvec_push(&st->exceptions, "malformed");
		strvec_push(&st->matched, "malformed");
		const char *why = m->malformed_reason ? m->malformed_reason
						      : "malformed";
		json_array_append_new(st->report,
				      exception_entry("Malformed message",
						      "malformed", why, a));
		stop = decide(st, "Malformed message", a);
	}
	return stop;
}

/* What a rule's conditions said beyond match / no match. */
struct rule_outcome {
	bool va_error;      /* the Virtual Analyzer failed to answer */
	bool intercept_set; /* a hidden rule's condition chose its intercept */
	vigil_action intercept;
};

/* One condition, with the Virtual Analyzer's confirmation when asked. */
static vigil_result eval_condition(struct host *h, struct msg *m,
				   const struct policy_condition *c,
				   struct policy_state *st, json_t *entry,
				   struct rule_outcome *out)
{
	struct host_eval ev;
	host_eval_init(&ev, &st->tickets);
	ev.va_bypass = st->va_bypass;
	size_t tickets_before = st->tickets.n;
	vigil_result r = c->ops->eval(c->data.data, &m->pub, &ev.pub);
	if (r == VIGIL_MATCH && c->va_submit && ev.part != NULL) {
		r = h->pub.api->verdict_query(&h->pub, VA_SOURCE, &m->pub,
					      ev.part, &ev.pub);
		if (r == VIGIL_UNDECIDED)
			r = VIGIL_NO_MATCH; /* async or released: no hold */
	}
	if (r == VIGIL_UNDECIDED) /* conditions never answer it */
		r = VIGIL_ERROR;
	json_t *je = json_pack("{s:s}", "type", c->ops->type);
	if (r == VIGIL_PENDING)
		json_object_set_new(je, "pending", json_true());
	else if (r == VIGIL_ERROR)
		json_object_set_new(je, "error", json_true());
	bool matched = r == VIGIL_MATCH || r == VIGIL_NO_MATCH ?
			       ((r == VIGIL_MATCH) != c->negate) : false;
	json_object_set_new(je, "matched", json_boolean(matched));
	if (c->negate)
		json_object_set_new(je, "negate", json_true());
	json_object_set_new(je, "detail", json_string(ev.detail ? ev.detail : ""));
	if (ev.part != NULL)
		json_object_set_new(je, "part", json_string(ev.part->path));
	if (ev.threat != NULL)
		json_object_set_new(je, "threat", json_string(ev.threat));
	/* Tickets named without waiting (async): the verdict will come later
	 * and update this condition's event. */
	if (r != VIGIL_PENDING && st->tickets.n > tickets_before) {
		json_object_set_new(je, "ticket",
				    json_string(st->tickets.v[tickets_before]));
		while (st->tickets.n > tickets_before)
			free(st->tickets.v[--st->tickets.n]);
	}
	if (r == VIGIL_ERROR && ev.va_error) {
		json_object_set_new(je, "va_exception", json_true());
		out->va_error = true;
	}
	if (ev.intercept_set && matched) {
		out->intercept_set = true;
		out->intercept = ev.intercept;
	}
	json_array_append_new(json_object_get(entry, "conditions"), je);
	host_eval_clear(&ev);
	if (r == VIGIL_MATCH || r == VIGIL_NO_MATCH)
		return matched ? VIGIL_MATCH : VIGIL_NO_MATCH;
	return r;
}

/* Evaluate one rule's conditions: MATCH, NO_MATCH or PENDING. An ERROR
 * counts as "not matched" and is visible in the report. */
static vigil_result eval_rule(struct host *h, struct msg *m,
			      const struct policy_rule *rule,
			      struct policy_state *st, json_t *entry,
			      struct rule_outcome *out)
{
	bool pending = false;
	for (size_t i = 0; i < rule->n_conds; i++) {
		vigil_result r = eval_condition(h, m, &rule->conds[i], st,
						entry, out);
		if (r == VIGIL_PENDING) {
			pending = true;
			continue;
		}
		bool matched = r == VIGIL_MATCH;
		if (rule->match_all && !matched)
			return VIGIL_NO_MATCH;
		if (!rule->match_all && matched)
			return VIGIL_MATCH;
	}
	if (pending)
		return VIGIL_PENDING;
	return rule->match_all ? VIGIL_MATCH : VIGIL_NO_MATCH;
}

/* The Virtual Analyzer could not give `rule` a verdict: the scanning
 * exception acts, once per message, logged "Probable advanced threat".
 * Returns true when its intercept ends evaluation. */
static bool va_exception(const struct policy *p, struct policy_state *st,
			 const struct policy_rule *rule, json_t *entry)
{
	for (size_t i = 0; i < st->exceptions.n; i++)
		if (strcmp(st->exceptions.v[i], "va_exception") == 0)
			return false;
	json_t *hit = NULL, *c;
	size_t i;
	json_array_foreach(json_object_get(entry, "conditions"), i, c)
		if (json_is_true(json_object_get(c, "va_exception")))
			hit = c;
	const char *detail = json_string_value(json_object_get(hit, "detail"));
	const char *part = json_string_value(json_object_get(hit, "part"));
	json_t *cond = json_pack("{s:s, s:b, s:s, s:s}", "type",
				 "virtual_analyzer", "matched", 1, "detail",
				 detail ? detail : "no verdict", "threat",
				 "Probable advanced threat");
	if (part != NULL)
		json_object_set_new(cond, "part", json_string(part));
	json_array_append_new(st->report,
			      json_pack("{s:s, s:s, s:s, s:b, s:[o], s:o}",
					"name", VA_EXCEPTION_NAME, "phase",
					"exceptions", "rule", rule->name,
					"matched", 1, "conditions", cond,
					"actions",
					policy_actions_describe(&p->va_exception)));
	strvec_push(&st->exceptions, "va_exception");
	strvec_push(&st->matched, "va_exception");
	return decide(st, VA_EXCEPTION_NAME, &p->va_exception);
}

/* On resume after a reload, find the parked rule by name. */
static size_t resume_index(const struct policy *p, const struct policy_state *st)
{
	size_t i = (size_t)st->next_rule;
	if (st->next_rule_name == NULL ||
	    (i < p->n_rules && strcmp(p->rules[i].name, st->next_rule_name) == 0))
		return i;
	for (size_t j = 0; j < p->n_rules; j++)
		if (strcmp(p->rules[j].name, st->next_rule_name) == 0)
			return j;
	return i < p->n_rules ? i : p->n_rules;
}

vigil_result policy_eval(struct host *h, struct msg *m, struct policy_state *st)
{
	const struct policy *p = &h->policy;
	size_t i;
	if (st->next_rule < 0) {
		if (run_exceptions(h, m, st)) {
			st->next_rule = (int)p->n_rules;
			return VIGIL_MATCH;
		}
		i = 0;
	} else {
		i = resume_index(p, st);
		/* the parked rule is evaluated again: drop its old entry */
		size_t last = json_array_size(st->report);
		if (st->pending && last > 0 &&
		    json_is_true(json_object_get(json_array_get(st->report, last - 1),
						 "pending")))
			json_array_remove(st->report, last - 1);
	}
	st->pending = false;
	strvec_free(&st->tickets);
	free(st->next_rule_name);
	st->next_rule_name = NULL;

	for (; i < p->n_rules; i++) {
		const struct policy_rule *rule = &p->rules[i];
		if (!policy_route_matches(&rule->route, &h->cfg->internal_domains,
					  m->sender,
					  (const char *const *)m->rcpts,
					  m->n_rcpts))
			continue;
		json_t *entry = json_pack("{s:s, s:s, s:[]}", "name", rule->name,
					  "phase", phase_name(rule->phase),
					  "conditions");
		struct rule_outcome out = {0};
		vigil_result r = eval_rule(h, m, rule, st, entry, &out);
		json_array_append_new(st->report, entry);
		if (r == VIGIL_PENDING) {
			json_object_set_new(entry, "matched", json_false());
			json_object_set_new(entry, "pending", json_true());
			st->pending = true;
			st->next_rule = (int)i;
			st->next_rule_name = xstrdup(rule->name);
			return VIGIL_PENDING;
		}
		json_object_set_new(entry, "matched", json_boolean(r == VIGIL_MATCH));
		strvec_free(&st->tickets); /* decided without the verdicts */
		if (r != VIGIL_MATCH) {
			if (out.va_error && p->has_va &&
			    va_exception(p, st, rule, entry))
				break;
			continue;
		}
		/* a hidden rule's object may only be logged (intercept pass) */
		struct policy_actions a = rule->actions;
		if (rule->hidden && out.intercept_set)
			a.intercept = out.intercept;
		json_object_set_new(entry, "actions", policy_actions_describe(&a));
		strvec_push(&st->matched, rule->name);
		if (decide(st, rule->name, &a))
			break;
	}
	st->next_rule = (int)p->n_rules;
	return VIGIL_MATCH;
}
