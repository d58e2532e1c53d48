/*
 * mock_host.c - the mock host: the host API table over plain arrays, for
 * plugin unit tests. It keeps everything until mock_host_free(); it never
 * pretends a plugin did something it did not.
 */
#include "mock_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_REG 32

struct reg_condition {
	const vigil_condition_ops *ops;
	void *ctx;
};

struct mock_host {
	vigil_host pub;
	const vigil_plugin_def *plugin;
	void *plugin_state;
	config_t cfgs[8];
	size_t n_cfgs;
	struct reg_condition conds[MAX_REG];
	size_t n_conds;
	size_t n_actions, n_hidden, n_timers;
	struct {
		const vigil_verdict_ops *ops;
		void *ctx;
	} verdicts[MAX_REG];
	size_t n_verdicts;
	struct {
		vigil_timer_fn fire;
		vigil_userdata ud;
	} timers[MAX_REG];
	vigil_userdata hidden[MAX_REG];
	vigil_typer_fn typer;
	void *typer_ctx;
	const char *domains[16];
	size_t n_domains;
	char errbuf[8][512];
	size_t n_err;
	size_t tickets_done, tickets_noted;
	char last_note[512];
	struct {
		const vigil_command_ops *ops;
		void *ctx;
	} commands[MAX_REG];
	size_t n_commands;
	struct mock_kv *kv;
};

/* The persistent store, in memory. */
struct mock_kv {
	struct mock_kv *next;
	char *ns, *key, *value;
	time_t expires;
};

struct mock_message {
	vigil_message pub;
	mock_host *host;
	char *sender;
	char *rcpts[16];
	size_t n_rcpts;
	char *hname[32], *hvalue[32];
	size_t n_headers;
	vigil_part parts[64];
	size_t n_parts;
};

struct mock_eval_ctx {
	vigil_eval pub;
	struct mock_eval_report *report;
};

static const vigil_host_api mock_api;

static const char *mock_error(mock_host *m, const char *fmt, ...)
	VIGIL_PRINTF(2, 3);
static const char *mock_error(mock_host *m, const char *fmt, ...)
{
	char *buf = m->errbuf[m->n_err++ % 8];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof m->errbuf[0], fmt, ap);
	va_end(ap);
	return buf;
}

static int reg_condition(vigil_host *h, const vigil_condition_ops *ops,
			 void *ctx, const char **error_r)
{
	mock_host *m = (mock_host *)h;
	if (m->n_conds == MAX_REG) {
		*error_r = "mock: too many conditions";
		return -1;
	}
	m->conds[m->n_conds++] = (struct reg_condition){ops, ctx};
	return 0;
}

static int reg_action(vigil_host *h, const vigil_action_ops *ops, void *ctx,
		      const char **error_r)
{
	(void)ops, (void)ctx, (void)error_r;
	((mock_host *)h)->n_actions++;
	return 0;
}

static int reg_verdict(vigil_host *h, const vigil_verdict_ops *ops, void *ctx,
		       const char **error_r)
{
	mock_host *m = (mock_host *)h;
	if (m->n_verdicts == MAX_REG) {
		*error_r = "mock: too many verdict sources";
		return -1;
	}
	m->verdicts[m->n_verdicts].ops = ops;
	m->verdicts[m->n_verdicts++].ctx = ctx;
	return 0;
}

static int reg_hidden(vigil_host *h, const char *name, vigil_phase phase,
		      const vigil_condition_ops *ops, vigil_userdata cond,
		      vigil_action intercept, const char *area,
		      const char **error_r)
{
	mock_host *m = (mock_host *)h;
	(void)name, (void)phase, (void)ops, (void)intercept, (void)area;
	if (m->n_hidden == MAX_REG) {
		*error_r = "mock: too many hidden rules";
		return -1;
	}
	m->hidden[m->n_hidden++] = cond;
	return 0;
}

static int reg_timer(vigil_host *h, unsigned interval_s, vigil_timer_fn fire,
		     vigil_userdata ud, const char **error_r)
{
	mock_host *m = (mock_host *)h;
	(void)interval_s;
	if (m->n_timers == MAX_REG) {
		*error_r = "mock: too many timers";
		return -1;
	}
	m->timers[m->n_timers].fire = fire;
	m->timers[m->n_timers++].ud = ud;
	return 0;
}

static int reg_typer(vigil_host *h, vigil_typer_fn fn, void *ctx,
		     const char **error_r)
{
	mock_host *m = (mock_host *)h;
	if (m->typer != NULL) {
		*error_r = "mock: a typer is already registered";
		return -1;
	}
	m->typer = fn;
	m->typer_ctx = ctx;
	return 0;
}

static const char *setting_error(vigil_host *h, const config_setting_t *s,
				 const char *fmt, va_list ap)
{
	mock_host *m = (mock_host *)h;
	char msg[400];
	vsnprintf(msg, sizeof msg, fmt, ap);
	const char *file = s ? config_setting_source_file(s) : NULL;
	return mock_error(m, "%s:%u: %s", file ? file : "(settings)",
			  s ? config_setting_source_line(s) : 0, msg);
}

static int check_keys(vigil_host *h, const config_setting_t *group,
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
			*error_r = vigil_setting_error(h, s, "unknown setting '%s'", key);
			return -1;
		}
	}
	return 0;
}

static const char *const *internal_domains(vigil_host *h, size_t *count_r)
{
	mock_host *m = (mock_host *)h;
	*count_r = m->n_domains;
	return m->domains;
}

static int verdict_available(vigil_host *h, const char *source)
{
	mock_host *m = (mock_host *)h;
	for (size_t i = 0; i < m->n_verdicts; i++)
		if (strcmp(m->verdicts[i].ops->name, source) == 0)
			return 1;
	return 0;
}

static vigil_result verdict_query(vigil_host *h, const char *source,
				  vigil_message *msg, const vigil_part *part,
				  vigil_eval *ev)
{
	mock_host *m = (mock_host *)h;
	for (size_t i = 0; i < m->n_verdicts; i++)
		if (strcmp(m->verdicts[i].ops->name, source) == 0)
			return m->verdicts[i].ops->query(m->verdicts[i].ctx,
							 msg, part, ev);
	return VIGIL_ERROR;
}

static void ticket_done(vigil_host *h, const char *ticket)
{
	(void)ticket;
	((mock_host *)h)->tickets_done++;
}

static void mock_vlog(vigil_host *h, int level, const char *fmt, va_list ap)
{
	(void)h;
	if (getenv("MOCK_HOST_VERBOSE") == NULL)
		return;
	fprintf(stderr, "mock log %d: ", level);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static const vigil_part *msg_parts(vigil_message *msg, size_t *count_r)
{
	struct mock_message *mm = (struct mock_message *)msg;
	*count_r = mm->n_parts;
	return mm->parts;
}

static const char *msg_sender(vigil_message *msg)
{
	return ((struct mock_message *)msg)->sender;
}

static const char *const *msg_rcpts(vigil_message *msg, size_t *count_r)
{
	struct mock_message *mm = (struct mock_message *)msg;
	*count_r = mm->n_rcpts;
	return (const char *const *)mm->rcpts;
}

static const char *msg_header(vigil_message *msg, const char *name)
{
	struct mock_message *mm = (struct mock_message *)msg;
	for (size_t i = 0; i < mm->n_headers; i++)
		if (strcasecmp(mm->hname[i], name) == 0)
			return mm->hvalue[i];
	return NULL;
}

static const unsigned char *msg_raw(vigil_message *msg, size_t *size_r)
{
	(void)msg;
	*size_r = 0;
	return (const unsigned char *)"";
}

static struct _GMimeMessage *msg_mime(vigil_message *msg)
{
	(void)msg;
	return NULL;
}

static void eval_detail(vigil_eval *ev, const char *fmt, va_list ap)
{
	struct mock_eval_ctx *e = (struct mock_eval_ctx *)ev;
	vsnprintf(e->report->detail, sizeof e->report->detail, fmt, ap);
}

static void eval_part(vigil_eval *ev, const vigil_part *part)
{
	((struct mock_eval_ctx *)ev)->report->part = part;
}

static void eval_ticket(vigil_eval *ev, const char *ticket)
{
	struct mock_eval_report *r = ((struct mock_eval_ctx *)ev)->report;
	if (r->n_tickets < 8)
		snprintf(r->tickets[r->n_tickets++], sizeof r->tickets[0],
			 "%s", ticket);
}

static int reg_command(vigil_host *h, const vigil_command_ops *ops,
		       void *ctx, const char **error_r)
{
	mock_host *m = (mock_host *)h;
	if (m->n_commands == MAX_REG) {
		*error_r = "too many commands";
		return -1;
	}
	m->commands[m->n_commands].ops = ops;
	m->commands[m->n_commands++].ctx = ctx;
	return 0;
}

static struct mock_kv **kv_find(mock_host *m, const char *ns, const char *key)
{
	struct mock_kv **p = &m->kv;
	while (*p != NULL &&
	       (strcmp((*p)->ns, ns) != 0 || strcmp((*p)->key, key) != 0))
		p = &(*p)->next;
	return p;
}

static void kv_unlink(struct mock_kv **p)
{
	struct mock_kv *e = *p;
	*p = e->next;
	free(e->ns);
	free(e->key);
	free(e->value);
	free(e);
}

static int kv_put(vigil_host *h, const char *ns, const char *key,
		  const char *value, time_t expires)
{
	struct mock_kv **p = kv_find((mock_host *)h, ns, key);
	if (*p != NULL)
		kv_unlink(p);
	if (value == NULL)
		return 0;
	struct mock_kv *e = calloc(1, sizeof *e);
	if (e == NULL)
		abort();
	e->ns = strdup(ns);
	e->key = strdup(key);
	e->value = strdup(value);
	e->expires = expires;
	e->next = ((mock_host *)h)->kv;
	((mock_host *)h)->kv = e;
	return 0;
}

static char *kv_get(vigil_host *h, const char *ns, const char *key,
		    time_t *expires_r)
{
	struct mock_kv *e = *kv_find((mock_host *)h, ns, key);
	if (e == NULL || (e->expires != 0 && e->expires <= time(NULL)))
		return NULL;
	if (expires_r != NULL)
		*expires_r = e->expires;
	return strdup(e->value);
}

static int kv_foreach(vigil_host *h, const char *ns, vigil_kv_fn each,
		      void *ctx)
{
	for (struct mock_kv *e = ((mock_host *)h)->kv; e != NULL; e = e->next)
		if (strcmp(e->ns, ns) == 0 &&
		    (e->expires == 0 || e->expires > time(NULL)) &&
		    each(ctx, e->key, e->value, e->expires) != 0)
			break;
	return 0;
}

static int kv_clear(vigil_host *h, const char *ns)
{
	struct mock_kv **p = &((mock_host *)h)->kv;
	while (*p != NULL)
		if (strcmp((*p)->ns, ns) == 0)
			kv_unlink(p);
		else
			p = &(*p)->next;
	return 0;
}

static void ticket_note(vigil_host *h, const char *ticket,
			const char *threat_type, const char *detail)
{
	mock_host *m = (mock_host *)h;
	m->tickets_noted++;
	snprintf(m->last_note, sizeof m->last_note, "%s|%s|%s", ticket,
		 threat_type ? threat_type : "", detail ? detail : "");
}

static void ticket_progress(vigil_host *h, const char *ticket,
			    time_t submitted, time_t last_query, int attempts,
			    time_t expires)
{
	(void)h, (void)ticket, (void)submitted, (void)last_query;
	(void)attempts, (void)expires;
}

static void eval_threat(vigil_eval *ev, const char *threat_type)
{
	struct mock_eval_report *r = ((struct mock_eval_ctx *)ev)->report;
	snprintf(r->threat, sizeof r->threat, "%s", threat_type);
}

static void eval_intercept(vigil_eval *ev, vigil_action a)
{
	struct mock_eval_report *r = ((struct mock_eval_ctx *)ev)->report;
	r->intercept = a;
	r->intercept_set = 1;
}

static const char *msg_id(vigil_message *msg)
{
	(void)msg;
	return "mock-message";
}

static const vigil_host_api mock_api = {
	.register_condition = reg_condition,
	.register_action = reg_action,
	.register_verdict_source = reg_verdict,
	.register_hidden_rule = reg_hidden,
	.register_timer = reg_timer,
	.register_typer = reg_typer,
	.setting_error = setting_error,
	.check_keys = check_keys,
	.internal_domains = internal_domains,
	.verdict_available = verdict_available,
	.verdict_query = verdict_query,
	.ticket_done = ticket_done,
	.vlog = mock_vlog,
	.message_parts = msg_parts,
	.message_sender = msg_sender,
	.message_recipients = msg_rcpts,
	.message_header = msg_header,
	.message_raw = msg_raw,
	.message_mime = msg_mime,
	.eval_detail = eval_detail,
	.eval_part = eval_part,
	.eval_ticket = eval_ticket,
	.register_command = reg_command,
	.kv_put = kv_put,
	.kv_get = kv_get,
	.kv_foreach = kv_foreach,
	.kv_clear = kv_clear,
	.ticket_note = ticket_note,
	.ticket_progress = ticket_progress,
	.eval_threat = eval_threat,
	.message_id = msg_id,
	.eval_intercept = eval_intercept,
};

int mock_host_command(mock_host *m, int argc, char **argv, FILE *out)
{
	for (size_t i = 0; i < m->n_commands; i++)
		if (strcmp(m->commands[i].ops->name, argv[0]) == 0)
			return m->commands[i].ops->run(m->commands[i].ctx,
						       argc - 1, argv + 1, out);
	return 2;
}

size_t mock_host_tickets_noted(mock_host *m, const char **last_r)
{
	if (last_r != NULL)
		*last_r = m->last_note;
	return m->tickets_noted;
}

mock_host *mock_host_new(void)
{
	mock_host *m = calloc(1, sizeof *m);
	if (m == NULL)
		abort();
	m->pub.api = &mock_api;
	return m;
}

vigil_host *mock_host_handle(mock_host *m)
{
	return &m->pub;
}

void mock_host_set_internal_domains(mock_host *m, const char *const *domains,
				    size_t n)
{
	m->n_domains = n < 16 ? n : 16;
	for (size_t i = 0; i < m->n_domains; i++)
		m->domains[i] = domains[i];
}

/* Parse "body" as the group `x = { body };` and return the group. */
static config_setting_t *parse_group(mock_host *m, const char *body,
				     const char **error_r)
{
	if (m->n_cfgs == 8) {
		*error_r = "mock: too many parsed settings";
		return NULL;
	}
	config_t *cfg = &m->cfgs[m->n_cfgs++];
	config_init(cfg);
	size_t len = strlen(body) + 16;
	char *text = malloc(len);
	snprintf(text, len, "x = { %s };", body);
	int ok = config_read_string(cfg, text);
	free(text);
	if (!ok) {
		*error_r = mock_error(m, "mock: bad settings text: line %d: %s",
				      config_error_line(cfg),
				      config_error_text(cfg));
		return NULL;
	}
	return config_lookup(cfg, "x");
}

int mock_host_load(mock_host *m, const vigil_plugin_def *p,
		   const char *settings, const char **error_r)
{
	config_setting_t *group = parse_group(m, settings, error_r);
	if (group == NULL)
		return -1;
	m->plugin = p;
	int rc = p->init(&m->pub, group, &m->plugin_state, error_r);
	if (rc != 0)
		m->plugin = NULL; /* fini is owed only after a successful init */
	return rc;
}

size_t mock_host_count(mock_host *m, const char *kind)
{
	if (strcmp(kind, "condition") == 0)
		return m->n_conds;
	if (strcmp(kind, "action") == 0)
		return m->n_actions;
	if (strcmp(kind, "verdict") == 0)
		return m->n_verdicts;
	if (strcmp(kind, "hidden_rule") == 0)
		return m->n_hidden;
	if (strcmp(kind, "timer") == 0)
		return m->n_timers;
	if (strcmp(kind, "typer") == 0)
		return m->typer != NULL;
	return 0;
}

int mock_host_type(mock_host *m, const void *data, size_t size,
		   const char **type_r, const char **category_r,
		   unsigned *flags_r)
{
	if (m->typer == NULL)
		return 0;
	*type_r = "unknown";
	*category_r = "other";
	*flags_r = 0;
	m->typer(m->typer_ctx, data, size, type_r, category_r, flags_r);
	return 1;
}

void mock_host_fire_timers(mock_host *m, time_t now)
{
	for (size_t i = 0; i < m->n_timers; i++)
		m->timers[i].fire(m->timers[i].ud.data, now);
}

size_t mock_host_tickets_done(mock_host *m)
{
	return m->tickets_done;
}

vigil_message *mock_message_new(mock_host *m, const char *sender,
				const char *const *rcpts, size_t n_rcpts)
{
	struct mock_message *mm = calloc(1, sizeof *mm);
	if (mm == NULL)
		abort();
	mm->pub.api = &mock_api;
	mm->host = m;
	mm->sender = strdup(sender ? sender : "");
	for (size_t i = 0; i < n_rcpts && i < 16; i++)
		mm->rcpts[mm->n_rcpts++] = strdup(rcpts[i]);
	return &mm->pub;
}

void mock_message_set_header(vigil_message *msg, const char *name,
			     const char *value)
{
	struct mock_message *mm = (struct mock_message *)msg;
	if (mm->n_headers == 32)
		abort();
	mm->hname[mm->n_headers] = strdup(name);
	mm->hvalue[mm->n_headers++] = strdup(value);
}

vigil_part *mock_message_add_part(vigil_message *msg, const char *path,
				  const char *name, const char *content_type,
				  const void *data, size_t size, unsigned depth)
{
	struct mock_message *mm = (struct mock_message *)msg;
	if (mm->n_parts == 64)
		abort();
	vigil_part *p = &mm->parts[mm->n_parts++];
	memset(p, 0, sizeof *p);
	p->path = strdup(path);
	p->name = strdup(name ? name : "");
	p->content_type = strdup(content_type ? content_type : "");
	unsigned char *copy = malloc(size ? size : 1);
	if (size)
		memcpy(copy, data, size);
	p->data = copy;
	p->size = size;
	p->depth = depth;
	p->parent = -1;
	p->true_type = "unknown";
	p->category = "other";
	mock_host_type(mm->host, data, size, &p->true_type, &p->category,
		       &p->flags);
	return p;
}

void mock_message_free(vigil_message *msg)
{
	struct mock_message *mm = (struct mock_message *)msg;
	if (mm == NULL)
		return;
	free(mm->sender);
	for (size_t i = 0; i < mm->n_rcpts; i++)
		free(mm->rcpts[i]);
	for (size_t i = 0; i < mm->n_headers; i++) {
		free(mm->hname[i]);
		free(mm->hvalue[i]);
	}
	for (size_t i = 0; i < mm->n_parts; i++) {
		free((char *)mm->parts[i].path);
		free((char *)mm->parts[i].name);
		free((char *)mm->parts[i].content_type);
		free((void *)mm->parts[i].data);
	}
	free(mm);
}

vigil_result mock_eval(mock_host *m, const char *condition, vigil_message *msg,
		       struct mock_eval_report *report_r, const char **error_r)
{
	memset(report_r, 0, sizeof *report_r);
	config_setting_t *group = parse_group(m, condition, error_r);
	if (group == NULL)
		return report_r->result = VIGIL_ERROR;
	const char *type = NULL;
	if (!config_setting_lookup_string(group, "type", &type)) {
		*error_r = "mock: condition has no type";
		return report_r->result = VIGIL_ERROR;
	}
	for (size_t i = 0; i < m->n_conds; i++) {
		if (strcmp(m->conds[i].ops->type, type) != 0)
			continue;
		vigil_userdata cond = {NULL, NULL};
		if (m->conds[i].ops->compile(m->conds[i].ctx, group, &cond,
					     error_r) != 0)
			return report_r->result = VIGIL_ERROR;
		struct mock_eval_ctx ev = {{&mock_api}, report_r};
		report_r->result = m->conds[i].ops->eval(cond.data, msg, &ev.pub);
		if (cond.free)
			cond.free(cond.data);
		return report_r->result;
	}
	*error_r = mock_error(m, "mock: no condition type '%s'", type);
	return report_r->result = VIGIL_ERROR;
}

void mock_host_free(mock_host *m)
{
	if (m == NULL)
		return;
	if (m->plugin && m->plugin->fini)
		m->plugin->fini(m->plugin_state);
	while (m->kv != NULL)
		kv_unlink(&m->kv);
	for (size_t i = 0; i < m->n_timers; i++)
		if (m->timers[i].ud.free)
			m->timers[i].ud.free(m->timers[i].ud.data);
	for (size_t i = 0; i < m->n_hidden; i++)
		if (m->hidden[i].free)
			m->hidden[i].free(m->hidden[i].data);
	for (size_t i = 0; i < m->n_cfgs; i++)
		config_destroy(&m->cfgs[i]);
	free(m);
}
