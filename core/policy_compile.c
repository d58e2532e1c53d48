/*
 * policy_compile.c - turn the config's rules, the plugins' hidden rules and
 * the scanning exceptions into a policy, checking every reference (condition
 * types, areas, notifications, plugin actions) so that a mistake is a
 * FILE:LINE error at load time, never a surprise on live mail.
 */
#include "policy.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"

/* The verdict source a condition's `va_submit = true` asks. */
#define VA_SOURCE "ddan"

static const char *const rule_keys[] = {"name", "enabled", "order", "phase",
					"route", "match", "conditions",
					"actions", NULL};
static const char *const route_keys[] = {"direction", "from", "to", "except",
					 NULL};
static const char *const except_keys[] = {"from", "to", NULL};

static const char *const core_action_keys[] = {
	"intercept", "area", "recipient", "handoff", "tag_subject",
	"x_header", "stamp", "stamp_position", "delete_attachments", "bcc",
	"postpone", "archive", "notify", NULL};

static int is_core_action_key(const char *key)
{
	for (const char *const *k = core_action_keys; *k; k++)
		if (strcmp(*k, key) == 0)
			return 1;
	return 0;
}

static int valid_hhmm(const char *s)
{
	return strlen(s) == 5 && isdigit((unsigned char)s[0]) &&
	       isdigit((unsigned char)s[1]) && s[2] == ':' &&
	       isdigit((unsigned char)s[3]) && isdigit((unsigned char)s[4]) &&
	       (s[0] - '0') * 10 + (s[1] - '0') < 24 &&
	       (s[3] - '0') * 10 + (s[4] - '0') < 60;
}

static int valid_x_header(const char *s)
{
	const char *colon = strchr(s, ':');
	if (colon == NULL || colon == s || strncasecmp(s, "X-", 2) != 0)
		return 0;
	for (const char *p = s; p < colon; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return 0;
	return strpbrk(s, "\r\n") == NULL;
}

static int valid_hostport(const char *s)
{
	const char *colon = strrchr(s, ':');
	if (colon == NULL || colon == s || colon[1] == '\0')
		return 0;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	return *end == '\0' && port > 0 && port < 65536;
}

/* A plugin's compile error: as is when it already carries FILE:LINE (made
 * by vigil_setting_error), else placed at the setting. */
static void plugin_error(struct host *h, struct errlist *errors,
			 const config_setting_t *s, const char *what,
			 const char *err)
{
	if (err != NULL && host_owns_string(h, err))
		errlist_add(errors, "%s", err);
	else
		errlist_at(errors, s, "%s: %s", what, err ? err : "invalid");
}

int policy_actions_compile(struct host *h, const config_setting_t *group,
			   struct policy_actions *a, struct errlist *errors)
{
	const struct vigil_config *cfg = h->cfg;
	size_t before = errlist_count(errors);
	const char *s = NULL;

	if (!config_setting_is_group(group)) {
		errlist_at(errors, group, "'actions' must be a group { ... }");
		return -1;
	}
	if (setting_string(group, "intercept", &s, errors) > 0 &&
	    action_parse(s, &a->intercept) != 0)
		errlist_at(errors, config_setting_get_member(group, "intercept"),
			   "unknown intercept '%s' (pass, delete, quarantine, "
			   "change_recipient, handoff)", s);
	setting_string(group, "area", &a->area, errors);
	setting_string(group, "recipient", &a->recipient, errors);
	setting_string(group, "handoff", &a->handoff, errors);
	setting_string(group, "tag_subject", &a->tag_subject, errors);
	setting_string(group, "x_header", &a->x_header, errors);
	setting_string(group, "stamp", &a->stamp, errors);
	setting_string(group, "postpone", &a->postpone, errors);
	setting_string(group, "archive", &a->archive, errors);
	setting_strings(group, "bcc", &a->bcc, errors);
	setting_strings(group, "notify", &a->notify, errors);

	if (a->intercept == VIGIL_ACTION_QUARANTINE && a->area == NULL)
		a->area = "default";
	if (a->area && config_area(cfg, a->area) == NULL)
		errlist_at(errors, group, "unknown quarantine area '%s'",
			   a->area);
	if (a->archive && config_area(cfg, a->archive) == NULL)
		errlist_at(errors, group, "unknown archive area '%s'",
			   a->archive);
	if (a->intercept == VIGIL_ACTION_CHANGE_RECIPIENT &&
	    (a->recipient == NULL || strchr(a->recipient, '@') == NULL))
		errlist_at(errors, group, "change_recipient needs "
					  "recipient = \"user@domain\"");
	if (a->intercept == VIGIL_ACTION_HANDOFF &&
	    (a->handoff == NULL || !valid_hostport(a->handoff)))
		errlist_at(errors, group, "handoff needs handoff = "
					  "\"host:port\"");
	if (a->x_header && !valid_x_header(a->x_header))
		errlist_at(errors, group, "x_header must look like "
					  "\"X-Name: value\" (one line)");
	if (a->tag_subject && strpbrk(a->tag_subject, "\r\n"))
		errlist_at(errors, group, "tag_subject must be one line");
	if (a->postpone && !valid_hhmm(a->postpone))
		errlist_at(errors, group, "postpone must be \"hh:mm\" (24 h)");
	for (size_t i = 0; i < a->notify.n; i++)
		if (config_notification(cfg, a->notify.v[i]) == NULL)
			errlist_at(errors, group, "unknown notification '%s'",
				   a->notify.v[i]);
	if (a->stamp == NULL &&
	    config_setting_get_member(group, "stamp_position") != NULL)
		errlist_at(errors, group, "stamp_position without stamp");
	if (a->stamp) {
		a->stamp_position = STAMP_BOTTOM;
		if (setting_string(group, "stamp_position", &s, errors) > 0) {
			if (strcmp(s, "top") == 0)
				a->stamp_position = STAMP_TOP;
			else if (strcmp(s, "bottom") != 0)
				errlist_at(errors, group, "stamp_position is "
							  "\"top\" or \"bottom\"");
		}
	}
	if (setting_string(group, "delete_attachments", &s, errors) > 0) {
		if (strcmp(s, "matching") == 0)
			a->delete_attachments = STRIP_MATCHING;
		else if (strcmp(s, "all") == 0)
			a->delete_attachments = STRIP_ALL;
		else
			errlist_at(errors, group, "delete_attachments is "
						  "\"matching\" or \"all\"");
	}

	/* Any other key must be an action a plugin registered. */
	for (int i = 0; i < config_setting_length(group); i++) {
		const config_setting_t *e = config_setting_get_elem(group, i);
		const char *key = config_setting_name(e);
		if (is_core_action_key(key))
			continue;
		const struct host_action *ha = host_action(h, key);
		if (ha == NULL) {
			errlist_at(errors, e, "unknown action '%s'", key);
			continue;
		}
		struct plugin_action pa = {ha->ops, {NULL, NULL}};
		const char *err = NULL;
		if (ha->ops->compile(ha->ctx, e, &pa.data, &err) != 0) {
			plugin_error(h, errors, e, key, err);
			continue;
		}
		a->plugin = xrealloc(a->plugin, (a->n_plugin + 1) * sizeof *a->plugin);
		a->plugin[a->n_plugin++] = pa;
	}
	return errlist_count(errors) == before ? 0 : -1;
}

static int compile_route(const config_setting_t *g, struct policy_route *r,
			 struct errlist *errors)
{
	const char *dir = NULL;
	if (!config_setting_is_group(g)) {
		errlist_at(errors, g, "'route' must be a group { ... }");
		return -1;
	}
	check_keys(g, route_keys, errors);
	if (setting_string(g, "direction", &dir, errors) > 0) {
		if (strcmp(dir, "incoming") == 0)
			r->direction = ROUTE_INCOMING;
		else if (strcmp(dir, "outgoing") == 0)
			r->direction = ROUTE_OUTGOING;
		else if (strcmp(dir, "all") != 0)
			errlist_at(errors, g, "direction is \"incoming\", "
					      "\"outgoing\" or \"all\"");
	}
	setting_strings(g, "from", &r->from, errors);
	setting_strings(g, "to", &r->to, errors);
	const config_setting_t *ex = config_setting_get_member(g, "except");
	for (int i = 0; ex && i < config_setting_length(ex); i++) {
		const config_setting_t *pair = config_setting_get_elem(ex, i);
		const char *f = "*", *t = "*";
		if (!config_setting_is_group(pair)) {
			errlist_at(errors, pair, "each 'except' element is "
						 "{ from = \"...\"; to = \"...\"; }");
			continue;
		}
		check_keys(pair, except_keys, errors);
		setting_string(pair, "from", &f, errors);
		setting_string(pair, "to", &t, errors);
		strvec_push(&r->except_from, f);
		strvec_push(&r->except_to, t);
	}
	return 0;
}

static int compile_condition(struct host *h, const config_setting_t *c,
			     struct policy_condition *pc,
			     struct errlist *errors)
{
	const char *type = NULL;
	if (!config_setting_is_group(c)) {
		errlist_at(errors, c, "each condition is a group "
				      "{ type = \"...\"; ... }");
		return -1;
	}
	if (setting_string(c, "type", &type, errors) <= 0) {
		if (type == NULL)
			errlist_at(errors, c, "condition without a 'type'");
		return -1;
	}
	const struct host_condition *hc = host_condition(h, type);
	if (hc == NULL) {
		errlist_at(errors, c, "unknown condition type '%s': no loaded "
				      "plugin provides it (declare the plugin "
				      "that does in 'plugins', or disable the "
				      "rule)", type);
		return -1;
	}
	int flag = 0;
	if (setting_bool(c, "negate", &flag, errors) > 0)
		pc->negate = flag;
	flag = 0;
	if (setting_bool(c, "va_submit", &flag, errors) > 0 && flag) {
		pc->va_submit = true;
		if (!h->pub.api->verdict_available(&h->pub, VA_SOURCE)) {
			errlist_at(errors, c, "this condition sends samples to "
					      "the Virtual Analyzer (va_submit), "
					      "but no '%s' plugin is loaded: "
					      "declare it or disable the rule",
				   VA_SOURCE);
			return -1;
		}
	}
	pc->ops = hc->ops;
	const char *err = NULL;
	if (hc->ops->compile(hc->ctx, c, &pc->data, &err) != 0) {
		plugin_error(h, errors, c, type, err);
		return -1;
	}
	return 0;
}

static int find_rule(const struct policy *p, const char *name)
{
	for (size_t i = 0; i < p->n_rules; i++)
		if (strcmp(p->rules[i].name, name) == 0)
			return (int)i;
	return -1;
}

static void compile_rule(struct host *h, struct policy *p,
			 const config_setting_t *g, size_t index,
			 struct errlist *errors)
{
	size_t before = errlist_count(errors);
	const char *name = NULL, *phase = NULL, *match = NULL;
	int enabled = 1;

	check_keys(g, rule_keys, errors);
	if (setting_string(g, "name", &name, errors) <= 0) {
		if (name == NULL)
			errlist_at(errors, g, "rule without a 'name'");
		return;
	}
	if (find_rule(p, name) >= 0) {
		errlist_at(errors, g, "duplicate rule name '%s'", name);
		return;
	}
	setting_bool(g, "enabled", &enabled, errors);
	struct policy_rule r = {0};
	r.name = xstrdup(name);
	r.phase = VIGIL_PHASE_USER;
	r.order = 1000000 + (int)index; /* unordered rules run last */
	const config_setting_t *o = config_setting_get_member(g, "order");
	if (o != NULL) {
		if (config_setting_type(o) != CONFIG_TYPE_INT)
			errlist_at(errors, o, "'order' must be an integer");
		else
			r.order = config_setting_get_int(o);
	}
	if (setting_string(g, "phase", &phase, errors) > 0) {
		if (strcmp(phase, "virus") == 0)
			r.phase = VIGIL_PHASE_VIRUS;
		else if (strcmp(phase, "user") != 0)
			errlist_at(errors, g, "phase is \"virus\" or \"user\" "
					      "(hidden rules come from plugins)");
	}
	if (setting_string(g, "match", &match, errors) > 0) {
		if (strcmp(match, "all") == 0)
			r.match_all = true;
		else if (strcmp(match, "any") != 0)
			errlist_at(errors, g, "match is \"any\" or \"all\"");
	}
	const config_setting_t *route = config_setting_get_member(g, "route");
	if (route != NULL)
		compile_route(route, &r.route, errors);

	const config_setting_t *conds = config_setting_get_member(g, "conditions");
	const config_setting_t *acts = config_setting_get_member(g, "actions");
	if (conds == NULL || config_setting_length(conds) == 0)
		errlist_at(errors, g, "rule '%s' has no conditions", name);
	if (acts == NULL)
		errlist_at(errors, g, "rule '%s' has no actions", name);

	/* A disabled rule is kept for its name but not compiled: it may need
	 * a plugin that is not installed yet. */
	if (enabled && conds != NULL) {
		r.conds = xcalloc((size_t)config_setting_length(conds),
				  sizeof *r.conds);
		for (int i = 0; i < config_setting_length(conds); i++)
			if (compile_condition(h, config_setting_get_elem(conds, i),
					      &r.conds[r.n_conds], errors) == 0)
				r.n_conds++;
	}
	if (enabled && acts != NULL)
		policy_actions_compile(h, acts, &r.actions, errors);

	if (!enabled || errlist_count(errors) != before) {
		/* keep the name (duplicate detection), drop the body */
		r.phase = VIGIL_PHASE_COUNT; /* sorts last, then dropped */
	}
	*PUSH(p->rules, p->n_rules, p->cap_rules) = r;
}

static int rule_cmp(const void *a, const void *b)
{
	const struct policy_rule *x = a, *y = b;
	if (x->phase != y->phase)
		return x->phase < y->phase ? -1 : 1;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return 0;
}

static void rule_free(struct policy_rule *r)
{
	for (size_t i = 0; i < r->n_conds; i++)
		if (r->conds[i].data.free)
			r->conds[i].data.free(r->conds[i].data.data);
	free(r->conds);
	policy_actions_free(&r->actions);
	strvec_free(&r->route.from);
	strvec_free(&r->route.to);
	strvec_free(&r->route.except_from);
	strvec_free(&r->route.except_to);
	if (!r->hidden)
		free(r->name);
}

/* The Virtual Analyzer scanning exception: default quarantine, or what
 * the ddan plugin's `exception` group says (the same keys as actions). */
static void compile_va_exception(struct host *h, struct policy *p,
				 struct errlist *errors)
{
	p->has_va = h->pub.api->verdict_available(&h->pub, VA_SOURCE);
	if (!p->has_va)
		return;
	p->va_exception.intercept = VIGIL_ACTION_QUARANTINE;
	p->va_exception.area = "default";
	for (size_t i = 0; i < h->n_plugins; i++) {
		if (strcmp(h->plugins[i].def->name, VA_SOURCE) != 0)
			continue;
		const config_setting_t *e =
			config_setting_get_member(h->plugins[i].setting,
						  "exception");
		if (e != NULL && config_setting_is_group(e))
			policy_actions_compile(h, e, &p->va_exception, errors);
		else if (e != NULL)
			errlist_at(errors, e, "'exception' must be a group of "
					      "actions");
	}
}

int policy_compile(struct host *h, struct policy *p, struct errlist *errors)
{
	size_t before = errlist_count(errors);
	memset(p, 0, sizeof *p);
	for (size_t i = 0; i < h->cfg->n_rules; i++) {
		compile_rule(h, p, h->cfg->rules[i], i, errors);
	}
	/* The plugins' hidden rules, by registration order. */
	for (size_t i = 0; i < h->n_hidden; i++) {
		const struct host_hidden_rule *hr = &h->hidden[i];
		struct policy_rule *r = PUSH(p->rules, p->n_rules, p->cap_rules);
		memset(r, 0, sizeof *r);
		r->name = hr->name;
		r->hidden = true;
		r->phase = hr->phase;
		r->order = (int)i;
		r->conds = xcalloc(1, sizeof *r->conds);
		r->conds[0].ops = hr->ops;
		r->conds[0].data = (vigil_userdata){hr->cond.data, NULL};
		r->n_conds = 1;
		r->actions.intercept = hr->intercept;
		r->actions.area = hr->area;
		if (config_area(h->cfg, hr->area) == NULL)
			errlist_add(errors, "hidden rule '%s': unknown quarantine "
					    "area '%s'", hr->name, hr->area);
	}
	/* Stable sort: equal orders keep config order. */
	for (size_t i = 1; i < p->n_rules; i++)
		for (size_t j = i; j > 0 && rule_cmp(&p->rules[j - 1],
						     &p->rules[j]) > 0; j--) {
			struct policy_rule t = p->rules[j];
			p->rules[j] = p->rules[j - 1];
			p->rules[j - 1] = t;
		}
	while (p->n_rules > 0 &&
	       p->rules[p->n_rules - 1].phase == VIGIL_PHASE_COUNT)
		rule_free(&p->rules[--p->n_rules]);

	/* Scanning exceptions: security settings violation (default
	 * quarantine) and malformed message (default pass). */
	p->security_violation.intercept = VIGIL_ACTION_QUARANTINE;
	p->security_violation.area = "default";
	if (h->cfg->security_violation.setting)
		policy_actions_compile(h, h->cfg->security_violation.setting,
				       &p->security_violation, errors);
	if (h->cfg->malformed.setting)
		policy_actions_compile(h, h->cfg->malformed.setting,
				       &p->malformed, errors);
	compile_va_exception(h, p, errors);
	return errlist_count(errors) == before ? 0 : -1;
}

void policy_actions_free(struct policy_actions *a)
{
	strvec_free(&a->bcc);
	strvec_free(&a->notify);
	for (size_t i = 0; i < a->n_plugin; i++)
		if (a->plugin[i].data.free)
			a->plugin[i].data.free(a->plugin[i].data.data);
	free(a->plugin);
	memset(a, 0, sizeof *a);
}

void policy_free(struct policy *p)
{
	for (size_t i = 0; i < p->n_rules; i++)
		rule_free(&p->rules[i]);
	free(p->rules);
	policy_actions_free(&p->security_violation);
	policy_actions_free(&p->malformed);
	policy_actions_free(&p->va_exception);
	memset(p, 0, sizeof *p);
}
