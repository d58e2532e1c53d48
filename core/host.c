/*
 * host.c - build and tear down a generation; the host API table plugins
 * call. Registration is only accepted while a plugin's init() runs, and
 * everything registered is freed here, never by the plugin.
 */
#include "host.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"
#include "store.h"

#define VA_SOURCE "ddan"

/* Tickets resolved by plugins, from any thread and any generation: the
 * daemon's tick collects them. Process-wide, so a ticket a plugin of an
 * old generation resolves after a reload still wakes its messages. */
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static struct strvec done_tickets;

static struct host *H(vigil_host *h)
{
	return (struct host *)h;
}

/* Registration is a privilege of init(): afterwards the generation is
 * shared by workers and must not change. */
static int registering(struct host *h, const char **error_r)
{
	if (h->loading != NULL)
		return 0;
	*error_r = "registration is only allowed from a plugin's init()";
	return -1;
}

static const char *host_string(struct host *h, char *s)
{
	*PUSH(h->strings.v, h->strings.n, h->strings.cap) = s;
	return s;
}

static const char *host_errorf(struct host *h, const char *fmt, ...)
	VIGIL_PRINTF(2, 3);
static const char *host_errorf(struct host *h, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = xvasprintf(fmt, ap);
	va_end(ap);
	return host_string(h, s);
}

const struct host_condition *host_condition(const struct host *h,
					    const char *type)
{
	for (size_t i = 0; i < h->n_conds; i++)
		if (strcmp(h->conds[i].ops->type, type) == 0)
			return &h->conds[i];
	return NULL;
}

const struct host_action *host_action(const struct host *h, const char *name)
{
	for (size_t i = 0; i < h->n_actions; i++)
		if (strcmp(h->actions[i].ops->name, name) == 0)
			return &h->actions[i];
	return NULL;
}

const struct host_command *host_command(const struct host *h,
					const char *name)
{
	for (size_t i = 0; i < h->n_commands; i++)
		if (strcmp(h->commands[i].ops->name, name) == 0)
			return &h->commands[i];
	return NULL;
}

static const struct host_verdict *host_verdict(const struct host *h,
					       const char *name)
{
	for (size_t i = 0; i < h->n_verdicts; i++)
		if (strcmp(h->verdicts[i].ops->name, name) == 0)
			return &h->verdicts[i];
	return NULL;
}

static int api_register_condition(vigil_host *vh,
				  const vigil_condition_ops *ops, void *ctx,
				  const char **error_r)
{
	struct host *h = H(vh);
	if (registering(h, error_r) != 0)
		return -1;
	if (ops == NULL || ops->type == NULL || ops->compile == NULL ||
	    ops->eval == NULL) {
		*error_r = host_errorf(h, "plugin %s: incomplete condition "
					  "ops", h->loading);
		return -1;
	}
	if (host_condition(h, ops->type) != NULL) {
		*error_r = host_errorf(h, "plugin %s: condition type '%s' is "
					  "already registered",
				       h->loading, ops->type);
		return -1;
	}
	*PUSH(h->conds, h->n_conds, h->cap_conds) =
		(struct host_condition){ops, ctx};
	return 0;
}

static int api_register_action(vigil_host *vh, const vigil_action_ops *ops,
			       void *ctx, const char **error_r)
{
	struct host *h = H(vh);
	if (registering(h, error_r) != 0)
		return -1;
	if (ops == NULL || ops->name == NULL || ops->compile == NULL) {
		*error_r = host_errorf(h, "plugin %s: incomplete action ops",
				       h->loading);
		return -1;
	}
	if (host_action(h, ops->name) != NULL) {
		*error_r = host_errorf(h, "plugin %s: action '%s' is already "
					  "registered",
				       h->loading, ops->name);
		return -1;
	}
	*PUSH(h->actions, h->n_actions, h->cap_actions) =
		(struct host_action){ops, ctx};
	return 0;
}

static int api_register_verdict(vigil_host *vh, const vigil_verdict_ops *ops,
				void *ctx, const char **error_r)
{
	struct host *h = H(vh);
	if (registering(h, error_r) != 0)
		return -1;
	if (ops == NULL || ops->name == NULL || ops->query == NULL) {
		*error_r = host_errorf(h, "plugin %s: incomplete verdict "
					  "source ops", h->loading);
		return -1;
	}
	if (host_verdict(h, ops->name) != NULL) {
		*error_r = host_errorf(h, "plugin %s: verdict source '%s' is "
					  "already registered",
				       h->loading, ops->name);
		return -1;
	}
	*PUSH(h->verdicts, h->n_verdicts, h->cap_verdicts) =
		(struct host_verdict){ops, ctx};
	return 0;
}

static int api_register_hidden_rule(vigil_host *vh, const char *name,
				    vigil_phase phase,
				    const vigil_condition_ops *ops,
				    vigil_userdata cond, vigil_action intercept,
				    const char *area, const char **error_r)
{
	struct host *h = H(vh);
	if (registering(h, error_r) != 0 || name == NULL || ops == NULL ||
	    ops->eval == NULL || phase >= VIGIL_PHASE_COUNT ||
	    intercept >= VIGIL_ACTION_COUNT) {
		if (h->loading)
			*error_r = host_errorf(h, "plugin %s: invalid hidden "
						  "rule", h->loading);
		if (cond.free)
			cond.free(cond.data);
		return -1;
	}
	*PUSH(h->hidden, h->n_hidden, h->cap_hidden) = (struct host_hidden_rule){
		xstrdup(name), phase, ops, cond, intercept,
		xstrdup(area ? area : "default")};
	return 0;
}

static int api_register_timer(vigil_host *vh, unsigned interval_s,
			      vigil_timer_fn fire, vigil_userdata ud,
			      const char **error_r)
{
	struct host *h = H(vh);
	if (registering(h, error_r) != 0 || fire == NULL || interval_s == 0) {
		if (h->loading)
			*error_r = host_errorf(h, "plugin %s: a timer needs a "
						  "function and an interval",
					       h->loading);
		if (ud.free)
			ud.free(ud.data);
		return -1;
	}
	*PUSH(h->timers, h->n_timers, h->cap_timers) = (struct host_timer){
		interval_s, time(NULL) + interval_s, fire, ud};
	return 0;
}

static int api_register_typer(vigil_host *vh, vigil_typer_fn fn, void *ctx,
			      const char **error_r)
{
	struct host *h = H(vh);
	if (registering(h, error_r) != 0)
		return -1;
	if (h->typer != NULL) {
		*error_r = host_errorf(h, "plugin %s: a file typer is already "
					  "registered", h->loading);
		return -1;
	}
	h->typer = fn;
	h->typer_ctx = ctx;
	return 0;
}

static const char *api_setting_error(vigil_host *vh, const config_setting_t *s,
				     const char *fmt, va_list ap)
{
	return host_string(H(vh), setting_vmessage(s, fmt, ap));
}

static int api_check_keys(vigil_host *vh, const config_setting_t *group,
			  const char *const *allowed, const char **error_r)
{
	static const char *const core_keys[] = {"name", "type", "negate",
						"va_submit", NULL};
	for (int i = 0; i < config_setting_length(group); i++) {
		const config_setting_t *s = config_setting_get_elem(group, i);
		const char *key = config_setting_name(s);
		int ok = 0;
		for (const char *const *k = core_keys; *k && !ok; k++)
			ok = strcmp(*k, key) == 0;
		for (const char *const *k = allowed; k && *k && !ok; k++)
			ok = strcmp(*k, key) == 0;
		if (!ok) {
			*error_r = vigil_setting_error(vh, s,
						       "unknown setting '%s'",
						       key);
			return -1;
		}
	}
	return 0;
}

static const char *const *api_internal_domains(vigil_host *vh,
					       size_t *count_r)
{
	struct host *h = H(vh);
	*count_r = h->cfg->internal_domains.n;
	return (const char *const *)h->cfg->internal_domains.v;
}

static int api_verdict_available(vigil_host *vh, const char *source)
{
	return host_verdict(H(vh), source) != NULL;
}

/* The Virtual Analyzer's answers leave two marks on the evaluation: an
 * ERROR calls for the scanning exception, and a message released from VA
 * scanning gets UNDECIDED without asking. */
static vigil_result api_verdict_query(vigil_host *vh, const char *source,
				      vigil_message *msg,
				      const vigil_part *part, vigil_eval *e)
{
	struct host_eval *ev = (struct host_eval *)e;
	int va = strcmp(source, VA_SOURCE) == 0;
	if (va && ev->va_bypass) {
		vigil_eval_detail(e, "released from Virtual Analyzer scanning");
		return VIGIL_UNDECIDED;
	}
	const struct host_verdict *v = host_verdict(H(vh), source);
	if (v == NULL)
		return VIGIL_ERROR;
	vigil_result r = v->ops->query(v->ctx, msg, part, e);
	if (va && r == VIGIL_ERROR)
		ev->va_error = true;
	return r;
}

static void api_ticket_done(vigil_host *vh, const char *ticket)
{
	(void)vh;
	pthread_mutex_lock(&done_lock);
	strvec_push(&done_tickets, ticket);
	pthread_mutex_unlock(&done_lock);
}

static int api_register_command(vigil_host *vh, const vigil_command_ops *ops,
				void *ctx, const char **error_r)
{
	struct host *h = H(vh);
	if (registering(h, error_r) != 0)
		return -1;
	if (ops == NULL || ops->name == NULL || ops->run == NULL) {
		*error_r = host_errorf(h, "plugin %s: incomplete command ops",
				       h->loading);
		return -1;
	}
	if (host_command(h, ops->name) != NULL) {
		*error_r = host_errorf(h, "plugin %s: command '%s' is already "
					  "registered",
				       h->loading, ops->name);
		return -1;
	}
	*PUSH(h->commands, h->n_commands, h->cap_commands) =
		(struct host_command){ops, ctx};
	return 0;
}

static int api_kv_put(vigil_host *vh, const char *ns, const char *key,
		      const char *value, time_t expires)
{
	struct store *s = H(vh)->store;
	return s ? s->ops->pkv_put(s, ns, key, value, expires) : -1;
}

static char *api_kv_get(vigil_host *vh, const char *ns, const char *key,
			time_t *expires_r)
{
	struct store *s = H(vh)->store;
	return s ? s->ops->pkv_get(s, ns, key, expires_r) : NULL;
}

static int api_kv_foreach(vigil_host *vh, const char *ns, vigil_kv_fn each,
			  void *ctx)
{
	struct store *s = H(vh)->store;
	return s ? s->ops->pkv_foreach(s, ns, each, ctx) : -1;
}

static int api_kv_clear(vigil_host *vh, const char *ns)
{
	struct store *s = H(vh)->store;
	return s ? s->ops->pkv_clear(s, ns) : -1;
}

static void api_ticket_note(vigil_host *vh, const char *ticket,
			    const char *threat_type, const char *detail)
{
	struct store *s = H(vh)->store;
	if (s != NULL)
		s->ops->event_note(s, ticket, threat_type ? threat_type : "",
				   detail ? detail : "");
}

static void api_ticket_progress(vigil_host *vh, const char *ticket,
				time_t submitted, time_t last_query,
				int attempts, time_t expires)
{
	struct store *s = H(vh)->store;
	if (s != NULL)
		s->ops->queue_progress(s, ticket, submitted, last_query,
				       attempts, expires);
}

static void (*log_sink)(void *ctx, int level, const char *line);
static void *log_sink_ctx;

void host_set_log_sink(void (*sink)(void *ctx, int level, const char *line),
		       void *ctx)
{
	log_sink = sink;
	log_sink_ctx = ctx;
}

static void api_vlog(vigil_host *vh, int level, const char *fmt, va_list ap)
{
	struct host *h = H(vh);
	char *text = xvasprintf(fmt, ap);
	char *line = h->loading ? xasprintf("%s: %s", h->loading, text) : text;
	if (log_sink != NULL)
		log_sink(log_sink_ctx, level, line);
	else if (level <= VIGIL_LOG_WARNING || getenv("VIGIL_DEBUG") != NULL)
		fprintf(stderr, "vigil: %s\n", line);
	if (line != text)
		free(line);
	free(text);
}

static const vigil_part *api_message_parts(vigil_message *m, size_t *count_r)
{
	return msg_parts((struct msg *)m, count_r);
}

static const char *api_message_sender(vigil_message *m)
{
	return ((struct msg *)m)->sender;
}

static const char *const *api_message_recipients(vigil_message *m,
						 size_t *count_r)
{
	struct msg *msg = (struct msg *)m;
	*count_r = msg->n_rcpts;
	return (const char *const *)msg->rcpts;
}

static const char *api_message_header(vigil_message *m, const char *name)
{
	return msg_header((struct msg *)m, name);
}

static const unsigned char *api_message_raw(vigil_message *m, size_t *size_r)
{
	struct msg *msg = (struct msg *)m;
	*size_r = msg->raw_size;
	return msg->raw;
}

static struct _GMimeMessage *api_message_mime(vigil_message *m)
{
	return (struct _GMimeMessage *)((struct msg *)m)->mime;
}

static void api_eval_detail(vigil_eval *e, const char *fmt, va_list ap)
{
	struct host_eval *ev = (struct host_eval *)e;
	free(ev->detail);
	ev->detail = xvasprintf(fmt, ap);
}

static void api_eval_part(vigil_eval *e, const vigil_part *part)
{
	((struct host_eval *)e)->part = part;
}

static void api_eval_ticket(vigil_eval *e, const char *ticket)
{
	struct host_eval *ev = (struct host_eval *)e;
	if (ev->tickets != NULL)
		strvec_push(ev->tickets, ticket);
}

static void api_eval_threat(vigil_eval *e, const char *threat_type)
{
	struct host_eval *ev = (struct host_eval *)e;
	free(ev->threat);
	ev->threat = threat_type ? xstrdup(threat_type) : NULL;
}

static void api_eval_intercept(vigil_eval *e, vigil_action intercept)
{
	struct host_eval *ev = (struct host_eval *)e;
	if (intercept < VIGIL_ACTION_COUNT) {
		ev->intercept = intercept;
		ev->intercept_set = true;
	}
}

static const char *api_message_id(vigil_message *m)
{
	return ((struct msg *)m)->id;
}

static const vigil_host_api host_api = {
	.register_condition = api_register_condition,
	.register_action = api_register_action,
	.register_verdict_source = api_register_verdict,
	.register_hidden_rule = api_register_hidden_rule,
	.register_timer = api_register_timer,
	.register_typer = api_register_typer,
	.setting_error = api_setting_error,
	.check_keys = api_check_keys,
	.internal_domains = api_internal_domains,
	.verdict_available = api_verdict_available,
	.verdict_query = api_verdict_query,
	.ticket_done = api_ticket_done,
	.vlog = api_vlog,
	.message_parts = api_message_parts,
	.message_sender = api_message_sender,
	.message_recipients = api_message_recipients,
	.message_header = api_message_header,
	.message_raw = api_message_raw,
	.message_mime = api_message_mime,
	.eval_detail = api_eval_detail,
	.eval_part = api_eval_part,
	.eval_ticket = api_eval_ticket,
	.register_command = api_register_command,
	.kv_put = api_kv_put,
	.kv_get = api_kv_get,
	.kv_foreach = api_kv_foreach,
	.kv_clear = api_kv_clear,
	.ticket_note = api_ticket_note,
	.ticket_progress = api_ticket_progress,
	.eval_threat = api_eval_threat,
	.message_id = api_message_id,
	.eval_intercept = api_eval_intercept,
};

void host_eval_init(struct host_eval *ev, struct strvec *tickets)
{
	memset(ev, 0, sizeof *ev);
	ev->pub.api = &host_api;
	ev->tickets = tickets;
}

void host_eval_clear(struct host_eval *ev)
{
	free(ev->detail);
	free(ev->threat);
	ev->detail = ev->threat = NULL;
	ev->part = NULL;
}

struct msg *host_message(struct host *h, unsigned char *raw, size_t size)
{
	struct msg *m = msg_new(raw, size, &h->cfg->limits, h->typer,
				h->typer_ctx);
	m->pub.api = &host_api;
	return m;
}

int host_owns_string(const struct host *h, const char *s)
{
	for (size_t i = 0; i < h->strings.n; i++)
		if (h->strings.v[i] == s)
			return 1;
	return 0;
}

static const struct host_plugin *find_plugin(const struct host *h,
					     const char *name)
{
	for (size_t i = 0; i < h->n_plugins; i++)
		if (strcmp(h->plugins[i].def->name, name) == 0)
			return &h->plugins[i];
	return NULL;
}

/* Load and init one `plugins` element. */
static int load_plugin(struct host *h, const config_setting_t *s,
		       struct errlist *errors)
{
	const char *name = NULL;
	if (setting_string(s, "name", &name, errors) <= 0) {
		if (name == NULL)
			errlist_at(errors, s, "plugin without a 'name'");
		return -1;
	}
	char *why = NULL;
	const vigil_plugin_def *def = loader_open(h->cfg->plugin_dir, name,
						  &why);
	if (def == NULL) {
		errlist_at(errors, s, "%s", why);
		free(why);
		return -1;
	}
	if (find_plugin(h, name) != NULL) {
		errlist_at(errors, s, "plugin '%s' is declared twice", name);
		return -1;
	}
	for (const char *const *d = def->depends; d && *d; d++)
		if (find_plugin(h, *d) == NULL) {
			errlist_at(errors, s, "plugin '%s' needs plugin '%s': "
					      "declare '%s' before it",
				   name, *d, *d);
			return -1;
		}
	struct host_plugin *p = PUSH(h->plugins, h->n_plugins, h->cap_plugins);
	*p = (struct host_plugin){def, s, NULL, 0};
	const char *err = NULL;
	h->loading = name;
	int rc = def->init(&h->pub, s, &p->state, &err);
	h->loading = NULL;
	if (rc != 0) {
		if (err != NULL && host_owns_string(h, err))
			errlist_add(errors, "%s", err); /* already FILE:LINE */
		else
			errlist_at(errors, s, "plugin '%s' failed to start: %s",
				   name, err ? err : "(no reason given)");
		return -1;
	}
	p->ready = 1;
	return 0;
}

struct host *host_new(const char *config_path, struct store *store,
		      struct errlist *errors)
{
	size_t before = errlist_count(errors);
	struct vigil_config *cfg = config_load(config_path, errors);
	if (cfg == NULL)
		return NULL;
	struct host *h = xcalloc(1, sizeof *h);
	h->pub.api = &host_api;
	h->cfg = cfg;
	h->store = store;
	if (errlist_count(errors) == before) {
		for (size_t i = 0; i < cfg->n_plugins; i++)
			load_plugin(h, cfg->plugins[i], errors);
	}
	if (errlist_count(errors) == before)
		policy_compile(h, &h->policy, errors);
	if (errlist_count(errors) != before) {
		host_free(h);
		return NULL;
	}
	return h;
}

static void ud_free(vigil_userdata *ud)
{
	if (ud->free)
		ud->free(ud->data);
}

void host_free(struct host *h)
{
	if (h == NULL)
		return;
	policy_free(&h->policy);
	for (size_t i = 0; i < h->n_hidden; i++) {
		ud_free(&h->hidden[i].cond);
		free(h->hidden[i].name);
		free(h->hidden[i].area);
	}
	for (size_t i = 0; i < h->n_timers; i++)
		ud_free(&h->timers[i].ud);
	/* Plugins last, newest first: what they registered may point into
	 * their state. */
	for (size_t i = h->n_plugins; i-- > 0;)
		if (h->plugins[i].ready && h->plugins[i].def->fini)
			h->plugins[i].def->fini(h->plugins[i].state);
	free(h->hidden);
	free(h->timers);
	free(h->plugins);
	free(h->conds);
	free(h->actions);
	free(h->verdicts);
	free(h->commands);
	strvec_free(&h->strings);
	config_free(h->cfg);
	free(h);
}

void host_run_timers(struct host *h, time_t now)
{
	for (size_t i = 0; i < h->n_timers; i++) {
		struct host_timer *t = &h->timers[i];
		if (t->next > now)
			continue;
		t->next = now + t->interval;
		t->fire(t->ud.data, now);
	}
}

void host_take_done_tickets(struct strvec *out)
{
	pthread_mutex_lock(&done_lock);
	struct strvec taken = done_tickets;
	done_tickets = (struct strvec){0};
	pthread_mutex_unlock(&done_lock);
	for (size_t i = 0; i < taken.n; i++)
		strvec_push(out, taken.v[i]);
	strvec_free(&taken);
}
