/*
 * daemon_process.c - one message through the policy, and its decision
 * carried out: events logged, notifications queued, then delete,
 * quarantine, park (Virtual Analyzer tickets, postpone) or hand on for
 * delivery, with the modifying actions applied to a copy. The original
 * bytes are never changed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "daemon.h"
#include "msg_modify.h"
#include "report.h"

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static const struct policy_actions *actions_of(const struct host *h,
					       const char *name)
{
	if (strcmp(name, "security_violation") == 0)
		return &h->policy.security_violation;
	if (strcmp(name, "malformed") == 0)
		return &h->policy.malformed;
	if (strcmp(name, "va_exception") == 0)
		return &h->policy.va_exception;
	for (size_t i = 0; i < h->policy.n_rules; i++)
		if (strcmp(h->policy.rules[i].name, name) == 0)
			return &h->policy.rules[i].actions;
	return NULL;
}

/* The report entry of a rule (exceptions carry a display name). */
static json_t *entry_of(json_t *report, const char *name)
{
	const char *display = strcmp(name, "security_violation") == 0 ?
				      "Security settings violation" :
			      strcmp(name, "malformed") == 0 ? "Malformed message" :
			      strcmp(name, "va_exception") == 0 ? VA_EXCEPTION_NAME :
								  name;
	size_t i;
	json_t *e;
	json_array_foreach(report, i, e)
		if (strcmp(jstr(e, "name"), display) == 0 &&
		    json_is_true(json_object_get(e, "matched")))
			return e;
	return NULL;
}

/* The first matched condition of an entry: what was detected, where. */
static json_t *hit_of(json_t *entry)
{
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(entry, "conditions"), i, c)
		if (json_is_true(json_object_get(c, "matched")))
			return c;
	json_array_foreach(json_object_get(entry, "conditions"), i, c)
		if (json_object_get(c, "ticket") != NULL)
			return c;
	return json_array_get(json_object_get(entry, "conditions"), 0);
}

static const char *part_name(struct msg *m, const char *path)
{
	size_t n;
	const vigil_part *parts = msg_parts(m, &n);
	for (size_t i = 0; path && *path && i < n; i++)
		if (strcmp(parts[i].path, path) == 0)
			return parts[i].name;
	return "";
}

char *json_join(json_t *array, const char *sep)
{
	struct strvec sv = {0};
	size_t i;
	json_t *v;
	json_array_foreach(array, i, v)
		if (json_is_string(v))
			strvec_push(&sv, json_string_value(v));
	char *s = strvec_join(&sv, sep);
	strvec_free(&sv);
	return s;
}

/* Next local hh:mm after now. */
static time_t next_hhmm(const char *hhmm, time_t now)
{
	struct tm tm;
	localtime_r(&now, &tm);
	tm.tm_hour = atoi(hhmm);
	tm.tm_min = atoi(hhmm + 3);
	tm.tm_sec = 0;
	time_t t = mktime(&tm);
	return t > now ? t : t + 86400;
}

struct ctx {
	struct daemon *d;
	struct host *h;
	struct msg *m;
	const char *id;
	json_t *state;
	struct policy_state *st;
	const char *subject, *message_id;
	char *rcpts;
};

static void log_events(struct ctx *c)
{
	size_t i;
	json_t *e;
	json_array_foreach(c->st->report, i, e)
	{
		json_t *hit = hit_of(e);
		/* a rule that did not match is logged when a verdict is still
		 * to come for it (async): the event then shows the verdict */
		int matched = json_is_true(json_object_get(e, "matched"));
		if (!matched && *jstr(hit, "ticket") == '\0')
			continue;
		char *action = matched ? json_join(json_object_get(e, "actions"), " ")
				       : xstrdup("pass (verdict pending)");
		struct store_event ev = {
			.ts = time(NULL), .msg_id = c->id,
			.message_id = c->message_id, .sender = c->m->sender,
			.rcpts = c->rcpts, .subject = c->subject,
			.rule = jstr(e, "name"), .phase = jstr(e, "phase"),
			.condition = jstr(hit, "type"),
			.detected = jstr(hit, "detail"),
			.attachment = part_name(c->m, jstr(hit, "part")),
			.action = action, .threat_type = jstr(hit, "threat"),
			.scanner = c->d->hostname, .ticket = jstr(hit, "ticket")};
		c->d->store->ops->event_add(c->d->store, &ev);
		free(action);
	}
}

static void notify(struct ctx *c, const char *name, const char *rule,
		   json_t *entry)
{
	const struct notification *n = config_notification(c->h->cfg, name);
	if (n == NULL)
		return;
	json_t *hit = hit_of(entry);
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z",
		 localtime_r(&now, &tm));
	struct notify_vars v = {
		.sender = c->m->sender, .rcpts = c->rcpts,
		.subject = c->subject, .rulename = rule,
		.filename = part_name(c->m, jstr(hit, "part")),
		.detected = jstr(hit, "detail"), .mailid = c->id, .date = date,
		.action = report_final_action(c->st)};
	size_t size;
	unsigned char *data = notify_build(n->from ? n->from : "vigil@localhost",
					   (const char *const *)n->to.v, n->to.n,
					   n->subject ? n->subject : "vigil: %RULENAME%",
					   n->body ? n->body : "%RULENAME%: %DETECTED%\n",
					   &v, &size);
	if (data != NULL) {
		/* envelope recipients are bare addresses: "Name <a@b>" -> a@b */
		struct strvec rcpts = {0};
		for (size_t i = 0; i < n->to.n; i++) {
			const char *lt = strchr(n->to.v[i], '<');
			const char *gt = lt ? strchr(lt, '>') : NULL;
			char *addr = lt && gt ? xasprintf("%.*s", (int)(gt - lt - 1), lt + 1)
					      : xstrdup(n->to.v[i]);
			strvec_push(&rcpts, addr);
			free(addr);
		}
		/* null sender: a notification must never bounce back here */
		daemon_inject(c->d, "", (const char *const *)rcpts.v, rcpts.n,
			      data, size, "notification", 0);
		strvec_free(&rcpts);
		free(data);
	}
}

static void finish(struct ctx *c, const char *final, const char *delivery)
{
	c->d->store->ops->track_update(c->d->store, c->id, final, delivery);
	spool_remove(c->d->spool, c->id);
}

/* Carry out a finished evaluation. */
static void carry_out(struct ctx *c)
{
	struct daemon *d = c->d;
	struct policy_state *st = c->st;
	struct modify_plan plan = {0};
	struct strvec bcc = {0};
	const char *postpone = NULL;

	log_events(c);
	for (size_t i = 0; i < st->matched.n; i++) {
		const char *name = st->matched.v[i];
		const struct policy_actions *a = actions_of(c->h, name);
		json_t *entry = entry_of(st->report, name);
		if (a == NULL)
			continue; /* a rule gone after a reload */
		if (a->tag_subject)
			strvec_push(&plan.tag_subject, a->tag_subject);
		if (a->x_header)
			plan.x_header = a->x_header;
		if (a->stamp) {
			plan.stamps = xrealloc(plan.stamps, (plan.n_stamps + 1) *
								    sizeof *plan.stamps);
			plan.stamps[plan.n_stamps++] = (struct modify_stamp){
				a->stamp, a->stamp_position == STAMP_TOP};
		}
		if (a->delete_attachments == STRIP_ALL) {
			plan.strip_all = 1;
			plan.strip_all_rule = name;
		} else if (a->delete_attachments == STRIP_MATCHING && entry) {
			size_t k;
			json_t *cond;
			json_array_foreach(json_object_get(entry, "conditions"), k, cond)
			{
				if (!json_is_true(json_object_get(cond, "matched")) ||
				    !*jstr(cond, "part"))
					continue;
				plan.strips = xrealloc(plan.strips,
						       (plan.n_strips + 1) * sizeof *plan.strips);
				plan.strips[plan.n_strips++] =
					(struct modify_strip){jstr(cond, "part"), name};
			}
		}
		for (size_t k = 0; k < a->bcc.n; k++)
			strvec_push(&bcc, a->bcc.v[k]);
		if (a->postpone)
			postpone = a->postpone;
		for (size_t k = 0; k < a->notify.n; k++)
			notify(c, a->notify.v[k], name, entry);
		for (size_t k = 0; k < a->n_plugin; k++) {
			const char *perr = NULL;
			if (a->plugin[k].ops->apply != NULL &&
			    a->plugin[k].ops->apply(a->plugin[k].data.data,
						    &c->m->pub, &perr) != 0)
				daemon_log(d, LOG_WARNING, "%s: action %s: %s", c->id,
					   a->plugin[k].ops->name,
					   perr ? perr : "failed");
		}
		if (a->archive) {
			char *path = NULL, *err = NULL;
			if (spool_quarantine(d->spool, c->id, a->archive, &path,
					     &err) == 0)
				daemon_log(d, LOG_INFO, "%s: archived to %s", c->id,
					   path);
			else
				daemon_log(d, LOG_ERR, "%s: archive: %s", c->id, err);
			free(path);
			free(err);
		}
	}

	const char *final = report_final_action(st);
	const char *rule = st->intercept_rule ? st->intercept_rule : "";
	daemon_log(d, LOG_INFO, "%s: from=<%s> to=<%s> size=%zu action=%s%s%s rule=\"%s\"",
		   c->id, c->m->sender, c->rcpts, c->m->raw_size, final,
		   st->area ? " area=" : "", st->area ? st->area : "", rule);

	if (st->intercept == VIGIL_ACTION_DELETE) {
		finish(c, "delete", "deleted by policy");
		pthread_mutex_lock(&d->lock);
		d->deleted++;
		pthread_mutex_unlock(&d->lock);
		goto out;
	}
	if (st->intercept == VIGIL_ACTION_QUARANTINE) {
		char *path = NULL, *err = NULL;
		const char *area = st->area ? st->area : "default";
		if (spool_quarantine(d->spool, c->id, area, &path, &err) != 0) {
			/* keep it spooled: a quarantine we cannot write must
			 * not become a delivery or a loss */
			daemon_log(d, LOG_ERR, "%s: quarantine failed, kept in "
					       "spool: %s", c->id, err);
			free(err);
			daemon_schedule(d, c->id, time(NULL) + 60);
			goto out;
		}
		char *qarea = xasprintf("quarantine:%s", area);
		struct store_queue_entry q = {
			.msg_id = c->id, .area = qarea, .ts = time(NULL),
			.sender = c->m->sender, .rcpts = c->rcpts,
			.subject = c->subject, .message_id = c->message_id,
			.rule = rule, .detail = path,
			.size = (long long)c->m->raw_size};
		d->store->ops->queue_put(d->store, &q);
		free(qarea);
		free(path);
		finish(c, "quarantine", "quarantined");
		pthread_mutex_lock(&d->lock);
		d->quarantined++;
		pthread_mutex_unlock(&d->lock);
		goto out;
	}

	/* Delivery: to whom, where, and what. */
	const struct policy_actions *dec = st->intercept_rule ?
						   actions_of(c->h, st->intercept_rule) :
						   NULL;
	if (st->intercept == VIGIL_ACTION_CHANGE_RECIPIENT && dec) {
		json_t *r = json_array();
		json_array_append_new(r, json_string(dec->recipient));
		json_object_set_new(c->state, "rcpts", r);
	}
	if (st->intercept == VIGIL_ACTION_HANDOFF && dec)
		json_object_set_new(c->state, "route",
				    json_sprintf("smtp:%s", dec->handoff));
	for (size_t k = 0; k < bcc.n; k++)
		json_array_append_new(json_object_get(c->state, "rcpts"),
				      json_string(bcc.v[k]));
	if (!modify_plan_empty(&plan)) {
		size_t size;
		char *err = NULL;
		unsigned char *out = msg_modify(c->m, &plan, &size, &err);
		if (out != NULL &&
		    spool_write_out(d->spool, c->id, out, size, &err) == 0) {
			json_object_set_new(c->state, "out", json_true());
			json_object_set_new(c->state, "out_size",
					    json_integer((json_int_t)size));
		} else {
			daemon_log(d, LOG_WARNING, "%s: not modified (%s): "
						   "delivering the original",
				   c->id, err ? err : "?");
		}
		free(out);
		free(err);
	}
	json_object_set_new(c->state, "final_action", json_string(final));
	if (postpone) {
		time_t due = next_hhmm(postpone, time(NULL));
		json_object_set_new(c->state, "stage", json_string("postponed"));
		json_object_set_new(c->state, "due", json_integer(due));
		struct store_queue_entry q = {
			.msg_id = c->id, .area = "postponed", .ts = time(NULL),
			.due = due, .sender = c->m->sender, .rcpts = c->rcpts,
			.subject = c->subject, .message_id = c->message_id,
			.rule = rule, .detail = postpone,
			.size = (long long)c->m->raw_size};
		d->store->ops->queue_put(d->store, &q);
	} else {
		json_object_set_new(c->state, "stage", json_string("deliver"));
	}
	char *err = NULL;
	/* Not flushed: after a crash the message is simply scanned again. A
	 * plain pass changes nothing delivery needs, so it skips the write. */
	int changed = postpone || bcc.n > 0 ||
		      json_object_get(c->state, "out") != NULL ||
		      st->intercept == VIGIL_ACTION_CHANGE_RECIPIENT ||
		      st->intercept == VIGIL_ACTION_HANDOFF;
	if (changed &&
	    spool_update_state(d->spool, c->id, c->state, &err) != 0) {
		daemon_log(d, LOG_ERR, "%s: %s", c->id, err);
		free(err);
	}
	d->store->ops->track_update(d->store, c->id, final, NULL);
	if (postpone)
		daemon_schedule(d, c->id, json_integer_value(json_object_get(c->state, "due")));
	else
		workq_push(&d->deliverq, c->id);
out:
	strvec_free(&plan.tag_subject);
	free(plan.stamps);
	free(plan.strips);
	strvec_free(&bcc);
}

/* Run the policy on a spooled message (new, or parked on tickets). */
static void scan(struct daemon *d, const char *id, json_t *state)
{
	unsigned char *raw;
	size_t size;
	char *err = NULL;
	if (spool_read(d->spool, id, "msg", &raw, &size, &err) != 0) {
		daemon_log(d, LOG_ERR, "%s: %s", id, err);
		free(err);
		return;
	}
	struct generation *g = daemon_gen_acquire(d);
	struct msg *m = host_message(g->host, raw, size);
	snprintf(m->id, sizeof m->id, "%s", id);
	struct strvec rcpts = {0};
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(state, "rcpts"), i, v)
		strvec_push(&rcpts, json_string_value(v));
	msg_set_envelope(m, jstr(state, "sender"),
			 (const char *const *)rcpts.v, rcpts.n);
	strvec_free(&rcpts);

	struct policy_state st;
	json_t *saved = json_object_get(state, "policy");
	const char *lerr = NULL;
	char *text = saved ? json_dumps(saved, JSON_COMPACT) : NULL;
	if (text == NULL || policy_state_load(&st, text, &lerr) != 0)
		policy_state_init(&st);
	free(text);

	struct ctx c = {d, g->host, m, id, state, &st,
			msg_header(m, "Subject"), msg_header(m, "Message-ID"),
			json_join(json_object_get(state, "rcpts"), ",")};
	if (c.subject == NULL)
		c.subject = "";
	if (c.message_id == NULL)
		c.message_id = "";
	if (strcmp(jstr(state, "stage"), "incoming") == 0)
		/* arrival was recorded before parsing: add what parsing found */
		d->store->ops->track_arrival(d->store, id,
					     json_integer_value(json_object_get(state, "arrival")),
					     (long long)size, m->sender, c.rcpts,
					     c.subject, c.message_id);

	if (policy_eval(g->host, m, &st) == VIGIL_PENDING) {
		int first = strcmp(jstr(state, "stage"), "va") != 0;
		char *ps = policy_state_save(&st);
		json_object_set_new(state, "policy", json_loads(ps, 0, NULL));
		free(ps);
		json_object_set_new(state, "stage", json_string("va"));
		if (spool_update_state(d->spool, id, state, &err) != 0) {
			daemon_log(d, LOG_ERR, "%s: %s", id, err);
			free(err);
		}
		for (size_t k = 0; k < st.tickets.n; k++)
			daemon_wait_ticket(d, st.tickets.v[k], id);
		if (first) {
			struct store_queue_entry q = {
				.msg_id = id, .area = "va", .ts = time(NULL),
				.sender = m->sender, .rcpts = c.rcpts,
				.subject = c.subject, .message_id = c.message_id,
				.rule = st.next_rule_name ? st.next_rule_name : "",
				.detail = st.tickets.n ? st.tickets.v[0] : "",
				.size = (long long)size};
			d->store->ops->queue_put(d->store, &q);
			daemon_log(d, LOG_INFO, "%s: held for a verdict (rule \"%s\")",
				   id, st.next_rule_name ? st.next_rule_name : "");
		}
	} else {
		if (strcmp(jstr(state, "stage"), "va") == 0)
			d->store->ops->queue_remove(d->store, id);
		json_object_del(state, "policy");
		carry_out(&c);
	}
	free(c.rcpts);
	policy_state_clear(&st);
	msg_free(m);
	daemon_gen_release(d, g);
}

void daemon_process(struct daemon *d, const char *id)
{
	char *err = NULL;
	json_t *state = spool_state(d->spool, id, &err);
	if (state == NULL) {
		daemon_log(d, LOG_ERR, "%s: %s", id, err);
		free(err);
		return;
	}
	const char *stage = jstr(state, "stage");
	if (strcmp(stage, "incoming") == 0 || strcmp(stage, "va") == 0) {
		scan(d, id, state);
	} else if (strcmp(stage, "deliver") == 0) {
		workq_push(&d->deliverq, id);
	} else if (strcmp(stage, "deferred") == 0 ||
		   strcmp(stage, "postponed") == 0) {
		time_t due = json_integer_value(json_object_get(state, "due"));
		if (due > time(NULL)) {
			daemon_schedule(d, id, due);
		} else {
			d->store->ops->queue_remove(d->store, id);
			json_object_set_new(state, "stage", json_string("deliver"));
			if (spool_update_state(d->spool, id, state, &err) != 0) {
				daemon_log(d, LOG_ERR, "%s: %s", id, err);
				free(err);
			}
			workq_push(&d->deliverq, id);
		}
	} else {
		daemon_log(d, LOG_ERR, "%s: unknown stage '%s'", id, stage);
	}
	json_decref(state);
}
