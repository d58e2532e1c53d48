/*
 * pending.c - a test plugin that proves the PENDING path.
 *
 * Condition `pending_test` ({ ticket = "T"; }) answers PENDING with ticket
 * T until T is resolved, then MATCH. A timer resolves every ticket asked
 * for and tells the host (ticket_done). With `verdict_source = true` it
 * also registers a "ddan" verdict source that behaves the same way per
 * part SHA-1, and a `shout` action, so the core's va_submit and plugin
 * action paths can be tested without a sandbox.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vigil/plugin.h>

struct state {
	vigil_host *host;
	char asked[16][80];
	size_t n_asked;
	char done[16][80];
	size_t n_done;
};

static int is_done(const struct state *s, const char *t)
{
	for (size_t i = 0; i < s->n_done; i++)
		if (strcmp(s->done[i], t) == 0)
			return 1;
	return 0;
}

static void ask(struct state *s, const char *t)
{
	for (size_t i = 0; i < s->n_asked; i++)
		if (strcmp(s->asked[i], t) == 0)
			return;
	if (s->n_asked < 16)
		snprintf(s->asked[s->n_asked++], 80, "%s", t);
}

struct cond {
	struct state *st;
	char ticket[80];
};

static int compile(void *ctx, const config_setting_t *set,
		   vigil_userdata *cond_r, const char **error_r)
{
	static const char *const keys[] = {"ticket", NULL};
	struct state *st = ctx;
	const char *t;
	if (vigil_check_keys(st->host, set, keys, error_r) != 0)
		return -1;
	if (!config_setting_lookup_string(set, "ticket", &t)) {
		*error_r = vigil_setting_error(st->host, set, "needs ticket");
		return -1;
	}
	struct cond *c = calloc(1, sizeof *c);
	c->st = st;
	snprintf(c->ticket, sizeof c->ticket, "%s", t);
	cond_r->data = c;
	cond_r->free = free;
	return 0;
}

static vigil_result eval(void *data, vigil_message *msg, vigil_eval *ev)
{
	struct cond *c = data;
	(void)msg;
	if (is_done(c->st, c->ticket)) {
		vigil_eval_detail(ev, "verdict for %s", c->ticket);
		return VIGIL_MATCH;
	}
	ask(c->st, c->ticket);
	vigil_eval_ticket(ev, c->ticket);
	return VIGIL_PENDING;
}

static vigil_result query(void *ctx, vigil_message *msg,
			  const vigil_part *part, vigil_eval *ev)
{
	struct state *st = ctx;
	(void)msg;
	if (is_done(st, part->sha1)) {
		vigil_eval_detail(ev, "sandbox says %s is bad", part->sha1);
		return VIGIL_MATCH;
	}
	ask(st, part->sha1);
	vigil_eval_ticket(ev, part->sha1);
	return VIGIL_PENDING;
}

static void resolve_all(void *ctx, time_t now)
{
	struct state *st = ctx;
	(void)now;
	for (size_t i = 0; i < st->n_asked; i++)
		if (!is_done(st, st->asked[i]) && st->n_done < 16) {
			memcpy(st->done[st->n_done++], st->asked[i], 80);
			st->host->api->ticket_done(st->host, st->asked[i]);
		}
}

static int shout_compile(void *ctx, const config_setting_t *set,
			 vigil_userdata *act_r, const char **error_r)
{
	(void)ctx;
	if (config_setting_type(set) != CONFIG_TYPE_BOOL) {
		*error_r = "shout = true;";
		return -1;
	}
	act_r->data = NULL;
	return 0;
}

static const vigil_condition_ops cond_ops = {"pending_test", compile, eval};
static const vigil_verdict_ops verdict_ops = {"ddan", query};
static const vigil_action_ops shout_ops = {"shout", shout_compile, NULL};

static int init(vigil_host *h, const config_setting_t *cfg, void **state_r,
		const char **error_r)
{
	static const char *const keys[] = {"verdict_source", NULL};
	int vs = 0;
	if (vigil_check_keys(h, cfg, keys, error_r) != 0)
		return -1;
	config_setting_lookup_bool(cfg, "verdict_source", &vs);
	struct state *st = calloc(1, sizeof *st);
	st->host = h;
	*state_r = st;
	if (vigil_register_condition(h, &cond_ops, st, error_r) != 0 ||
	    h->api->register_timer(h, 1, resolve_all,
				   (vigil_userdata){st, NULL}, error_r) != 0 ||
	    vigil_register_action(h, &shout_ops, st, error_r) != 0)
		return -1;
	if (vs && vigil_register_verdict_source(h, &verdict_ops, st,
						 error_r) != 0)
		return -1;
	return 0;
}

static void fini(void *state)
{
	free(state);
}

VIGIL_PLUGIN("pending", "1.0", .init = init, .fini = fini);
