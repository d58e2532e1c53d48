/*
 * ddan.c - the Virtual Analyzer plugin: settings, the "ddan" verdict
 * source, the `vigil va` commands.
 *
 * A verdict query answers from what is known (a sample's verdict in
 * memory, then the verdict cache in the store); otherwise it hands the
 * part to the worker (ddan_worker.c) and answers PENDING with the ticket
 * "ddan:SHA1" (sync mode) or UNDECIDED (async mode: nobody waits, the
 * events are noted when the verdict comes). A failed analysis answers
 * ERROR: the core's Virtual Analyzer scanning exception takes over.
 *
 * NEVER: puts an API key in a log line or an error; blocks a scanning
 * thread on the network (only the worker talks to the appliance).
 */
#include <curl/curl.h>
#include <libxml/parser.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ddan.h"

static char *dupstr(const char *s)
{
	char *c = strdup(s ? s : "");
	if (c == NULL)
		abort();
	return c;
}

/* ---- the sample table ---- */

static size_t bucket_of(const struct ddan *d, const char *sha1)
{
	size_t h = 5381;
	for (const char *p = sha1; *p; p++)
		h = h * 33 + (unsigned char)*p;
	return h % d->n_buckets;
}

struct sample *ddan_find(struct ddan *d, const char *sha1)
{
	for (struct sample *s = d->buckets[bucket_of(d, sha1)]; s; s = s->next)
		if (strcmp(s->sha1, sha1) == 0)
			return s;
	return NULL;
}

struct sample *ddan_sample_add(struct ddan *d, const char *sha1)
{
	struct sample *s = calloc(1, sizeof *s);
	if (s == NULL)
		abort();
	snprintf(s->sha1, sizeof s->sha1, "%s", sha1);
	snprintf(s->ticket, sizeof s->ticket, DDAN_TICKET_PREFIX "%s", sha1);
	s->server = -1;
	s->risk = DDAN_RISK_NONE;
	size_t b = bucket_of(d, sha1);
	s->next = d->buckets[b];
	d->buckets[b] = s;
	d->n_samples++;
	return s;
}

bool ddan_in_level(const struct ddan *d, int risk)
{
	return risk >= d->risk_min && risk <= 3;
}

const char *ddan_risk_name(int risk)
{
	static const char *const names[] = {"no risk", "low", "medium", "high"};
	return risk >= 0 && risk <= 3 ? names[risk] : "error";
}

/* ---- the verdict source ---- */

static vigil_result answer(struct ddan *d, vigil_eval *ev, const char *name,
			   int risk, const char *virus, const char *true_type)
{
	char extra[256] = "";
	if (virus && *virus)
		snprintf(extra, sizeof extra, ", %s", virus);
	if (true_type && *true_type) {
		size_t n = strlen(extra);
		snprintf(extra + n, sizeof extra - n, ", true type %s",
			 true_type);
	}
	vigil_eval_detail(ev, "Virtual Analyzer: risk %d (%s)%s in '%s'", risk,
			  ddan_risk_name(risk), extra, name);
	if (!ddan_in_level(d, risk))
		return VIGIL_NO_MATCH;
	vigil_eval_threat(ev, "Analyzed advanced threat");
	return VIGIL_MATCH;
}

/* "risk\tvirus\ttrue type" from the store's verdict cache. */
static bool cached(struct ddan *d, const char *sha1, int *risk_r,
		   char *virus, size_t vsize, char *type, size_t tsize)
{
	char *v = vigil_kv_get(d->host, DDAN_KV_CACHE, sha1, NULL);
	if (v == NULL)
		return false;
	char *tab1 = strchr(v, '\t');
	char *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
	*risk_r = atoi(v);
	snprintf(virus, vsize, "%.*s", tab1 && tab2 ? (int)(tab2 - tab1 - 1) : 0,
		 tab1 ? tab1 + 1 : "");
	snprintf(type, tsize, "%s", tab2 ? tab2 + 1 : "");
	free(v);
	return *risk_r >= 0 && *risk_r <= 3;
}

static vigil_result query(void *ctx, vigil_message *msg, const vigil_part *part,
			  vigil_eval *ev)
{
	struct ddan *d = ctx;
	(void)msg;
	if (part == NULL || strlen(part->sha1) != 40) {
		vigil_eval_detail(ev, "Virtual Analyzer: nothing to submit");
		return VIGIL_ERROR;
	}
	const char *name = *part->name ? part->name : part->path;
	int risk;
	char virus[128], type[64];
	pthread_mutex_lock(&d->lock);
	struct sample *s = ddan_find(d, part->sha1);
	if (s == NULL) {
		pthread_mutex_unlock(&d->lock);
		if (cached(d, part->sha1, &risk, virus, sizeof virus, type,
			   sizeof type))
			return answer(d, ev, name, risk, virus, type);
		pthread_mutex_lock(&d->lock);
		s = ddan_find(d, part->sha1); /* another thread was quicker */
	}
	if (s == NULL) {
		s = ddan_sample_add(d, part->sha1);
		s->name = dupstr(name);
		s->url = strcmp(part->content_type, "text/uri-list") == 0;
		s->data = malloc(part->size ? part->size : 1);
		if (s->data == NULL)
			abort();
		memcpy(s->data, part->data, part->size);
		s->size = part->size;
		s->created = time(NULL);
		s->expires = s->created + d->max_wait;
		s->state = SAMPLE_QUEUED;
		pthread_cond_signal(&d->wake);
	}
	vigil_result r;
	switch (s->state) {
	case SAMPLE_DONE:
		risk = s->risk;
		snprintf(virus, sizeof virus, "%s", s->virus);
		snprintf(type, sizeof type, "%s", s->true_type);
		pthread_mutex_unlock(&d->lock);
		return answer(d, ev, name, risk, virus, type);
	case SAMPLE_FAILED:
		vigil_eval_detail(ev, "Virtual Analyzer: no verdict for '%s': %s",
				  name, s->error);
		r = VIGIL_ERROR;
		break;
	default:
		vigil_eval_ticket(ev, s->ticket);
		if (d->async) {
			s->async = true;
			vigil_eval_detail(ev, "submitted '%s' to the Virtual "
					      "Analyzer (async: not waiting)",
					  name);
			r = VIGIL_UNDECIDED;
		} else {
			vigil_eval_detail(ev, "waiting for the Virtual Analyzer's "
					      "verdict on '%s'",
					  name);
			r = VIGIL_PENDING;
		}
	}
	pthread_mutex_unlock(&d->lock);
	return r;
}

static const vigil_verdict_ops verdict_ops = {.name = "ddan", .query = query};

/* ---- commands: vigil va status|cache list|cache clear|unregister ---- */

static int cmd_status(struct ddan *d, FILE *out)
{
	int reachable = 0;
	fprintf(out, "client %s, security level %s, %s mode\n", d->client_uuid,
		d->level_name, d->async ? "async" : "sync");
	for (size_t i = 0; i < d->n_servers; i++) {
		const struct ddan_server *s = &d->servers[i];
		fprintf(out, "server %s:%d preference %d: ", s->host, s->cfg.port,
			s->preference);
		if (!s->enabled) {
			fputs("disabled\n", out);
			continue;
		}
		char *err = NULL;
		struct ddan_conn *c = ddan_connect(d, i, &err);
		if (c != NULL && ddan_test_connection(c, &err) == 0) {
			fputs("reachable\n", out);
			reachable++;
		} else {
			fprintf(out, "UNREACHABLE: %s\n", err ? err : "?");
		}
		free(err);
		ddan_conn_free(c);
	}
	return reachable > 0 ? 0 : 1;
}

static int list_one(void *ctx, const char *key, const char *value,
		    time_t expires)
{
	FILE *out = ctx;
	char when[32];
	struct tm tm;
	strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime_r(&expires, &tm));
	int risk = atoi(value);
	const char *rest = strchr(value, '\t');
	fprintf(out, "%s  risk %d (%s)  until %s  %s\n", key, risk,
		ddan_risk_name(risk), when, rest ? rest + 1 : "");
	return 0;
}

static int count_one(void *ctx, const char *key, const char *value,
		     time_t expires)
{
	(void)key, (void)value, (void)expires;
	++*(size_t *)ctx;
	return 0;
}

static int cmd_unregister(struct ddan *d, FILE *out)
{
	int failed = 0;
	for (size_t i = 0; i < d->n_servers; i++) {
		if (!d->servers[i].enabled)
			continue;
		char *err = NULL;
		struct ddan_conn *c = ddan_connect(d, i, &err);
		if (c != NULL && ddan_unregister(c, &err) == 0) {
			fprintf(out, "unregistered %s from %s:%d\n", d->client_uuid,
				d->servers[i].host, d->servers[i].cfg.port);
		} else {
			fprintf(out, "%s:%d: %s\n", d->servers[i].host,
				d->servers[i].cfg.port, err ? err : "?");
			failed = 1;
		}
		free(err);
		ddan_conn_free(c);
	}
	return failed;
}

static int run_command(void *ctx, int argc, char **argv, FILE *out)
{
	struct ddan *d = ctx;
	if (argc == 1 && strcmp(argv[0], "status") == 0)
		return cmd_status(d, out);
	if (argc == 1 && strcmp(argv[0], "unregister") == 0)
		return cmd_unregister(d, out);
	if (argc == 2 && strcmp(argv[0], "cache") == 0 &&
	    strcmp(argv[1], "list") == 0)
		return vigil_kv_foreach(d->host, DDAN_KV_CACHE, list_one, out) ? 1 : 0;
	if (argc == 2 && strcmp(argv[0], "cache") == 0 &&
	    strcmp(argv[1], "clear") == 0) {
		size_t n = 0;
		vigil_kv_foreach(d->host, DDAN_KV_CACHE, count_one, &n);
		if (vigil_kv_clear(d->host, DDAN_KV_CACHE) != 0) {
			fputs("cannot clear the verdict cache (no store)\n", out);
			return 1;
		}
		pthread_mutex_lock(&d->lock);
		d->clear_done = true; /* the worker forgets them too */
		pthread_cond_signal(&d->wake);
		pthread_mutex_unlock(&d->lock);
		fprintf(out, "cleared %zu cached verdicts\n", n);
		return 0;
	}
	fputs("usage: vigil va status|release ID|cache list|cache clear|"
	      "unregister\n", out);
	return 2;
}

/* One line a server and the samples in flight, for `vigil status`. */
static void status_lines(void *ctx, FILE *out)
{
	struct ddan *d = ctx;
	size_t n[4] = {0};
	pthread_mutex_lock(&d->lock);
	for (size_t b = 0; b < d->n_buckets; b++)
		for (struct sample *s = d->buckets[b]; s; s = s->next)
			n[s->state]++;
	fprintf(out, "samples: %zu queued, %zu submitted, %zu done, %zu "
		     "failed; %lu requests, %lu uploads\n",
		n[SAMPLE_QUEUED], n[SAMPLE_SUBMITTED], n[SAMPLE_DONE],
		n[SAMPLE_FAILED], d->requests, d->uploads);
	for (size_t i = 0; i < d->n_servers; i++) {
		const struct ddan_server *s = &d->servers[i];
		const char *state = !s->enabled ? "disabled" :
				    s->down_until > time(NULL) ? "down" :
				    s->registered ? "registered" : "not contacted";
		fprintf(out, "server %s:%d: %s%s%s\n", s->host, s->cfg.port,
			state, *s->last_error ? "; last error: " : "",
			s->last_error);
	}
	pthread_mutex_unlock(&d->lock);
}

static const vigil_command_ops command_ops = {
	.name = "va",
	.usage = "va status|release ID|cache list|cache clear|unregister",
	.run = run_command,
	.status = status_lines,
};

/* The worker starts on the daemon's first tick: `vigil scan` and the
 * commands never start one. */
static void tick(void *ctx, time_t now)
{
	(void)now;
	struct ddan *d = ctx;
	if (!d->worker_started)
		ddan_worker_start(d);
}

/* ---- settings ---- */

static int int_setting(vigil_host *h, const config_setting_t *cfg,
		       const char *key, int lo, int hi, int def, int *out,
		       const char **error_r)
{
	const config_setting_t *s = config_setting_get_member(cfg, key);
	*out = def;
	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_INT) {
		*error_r = vigil_setting_error(h, s, "'%s' must be a number", key);
		return -1;
	}
	*out = config_setting_get_int(s);
	if (*out < lo || *out > hi) {
		*error_r = vigil_setting_error(h, s, "'%s' must be %d..%d", key,
					       lo, hi);
		return -1;
	}
	return 0;
}

static int str_setting(vigil_host *h, const config_setting_t *cfg,
		       const char *key, const char *def, const char **out,
		       const char **error_r)
{
	const config_setting_t *s = config_setting_get_member(cfg, key);
	*out = def;
	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		*error_r = vigil_setting_error(h, s, "'%s' must be a string", key);
		return -1;
	}
	*out = config_setting_get_string(s);
	return 0;
}

static bool uuid_shaped(const char *s)
{
	static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
	if (strlen(s) != sizeof shape - 1)
		return false;
	for (size_t i = 0; shape[i]; i++)
		if (shape[i] == '-' ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i]))
			return false;
	return true;
}

static int server_setting(struct ddan *d, const config_setting_t *s,
			  struct ddan_server *out, const char **error_r)
{
	static const char *const keys[] = {"host", "port", "api_key",
					   "preference", "enabled", "ca_file",
					   "pin_sha256", NULL};
	vigil_host *h = d->host;
	const char *host, *key, *ca, *pin;
	int port, pref, enabled = 1;
	if (!config_setting_is_group(s)) {
		*error_r = vigil_setting_error(h, s, "each server is a group { host = ...; }");
		return -1;
	}
	if (vigil_check_keys(h, s, keys, error_r) != 0 ||
	    str_setting(h, s, "host", NULL, &host, error_r) != 0 ||
	    str_setting(h, s, "api_key", NULL, &key, error_r) != 0 ||
	    str_setting(h, s, "ca_file", NULL, &ca, error_r) != 0 ||
	    str_setting(h, s, "pin_sha256", NULL, &pin, error_r) != 0 ||
	    int_setting(h, s, "port", 1, 65535, 443, &port, error_r) != 0 ||
	    int_setting(h, s, "preference", 0, 1000000, 10, &pref, error_r) != 0)
		return -1;
	const config_setting_t *e = config_setting_get_member(s, "enabled");
	if (e != NULL) {
		if (config_setting_type(e) != CONFIG_TYPE_BOOL) {
			*error_r = vigil_setting_error(h, e, "'enabled' must be true or false");
			return -1;
		}
		enabled = config_setting_get_bool(e);
	}
	if (host == NULL || *host == '\0') {
		*error_r = vigil_setting_error(h, s, "a server needs a 'host'");
		return -1;
	}
	/* the key is a secret: the error says what is wrong, never what it is */
	if (key == NULL || !uuid_shaped(key)) {
		*error_r = vigil_setting_error(h, s, "server %s: 'api_key' must be "
						   "the appliance's UUID-shaped API key "
						   "(8-4-4-4-12 hex digits)", host);
		return -1;
	}
	if (ca != NULL && access(ca, R_OK) != 0) {
		*error_r = vigil_setting_error(h, config_setting_get_member(s, "ca_file"),
					       "server %s: cannot read ca_file %s",
					       host, ca);
		return -1;
	}
	out->host = dupstr(host);
	out->api_key = dupstr(key);
	out->ca_file = ca ? dupstr(ca) : NULL;
	out->pin = pin ? dupstr(pin) : NULL;
	out->preference = pref;
	out->enabled = enabled;
	out->cfg = (struct ddan_server_cfg){out->host, port, out->api_key,
					    out->ca_file, out->pin, d->timeout};
	return 0;
}

static void client_uuid(struct ddan *d)
{
	char *v = vigil_kv_get(d->host, DDAN_KV, "client_uuid", NULL);
	if (v != NULL && uuid_shaped(v)) {
		snprintf(d->client_uuid, sizeof d->client_uuid, "%s", v);
		free(v);
		return;
	}
	free(v);
	unsigned char b[16];
	if (RAND_bytes(b, sizeof b) != 1)
		abort();
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(d->client_uuid, sizeof d->client_uuid,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
	/* without a store (vigil scan) the id lives as long as the process */
	vigil_kv_put(d->host, DDAN_KV, "client_uuid", d->client_uuid, 0);
}

static void ddan_free(struct ddan *d)
{
	if (d == NULL)
		return;
	ddan_worker_stop(d);
	ddan_free_samples(d);
	for (size_t i = 0; i < d->n_servers; i++) {
		ddan_conn_free(d->servers[i].conn);
		free(d->servers[i].host);
		free(d->servers[i].api_key);
		free(d->servers[i].ca_file);
		free(d->servers[i].pin);
	}
	free(d->servers);
	free(d->buckets);
	free(d->product_name);
	free(d->source_name);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->wake);
	free(d);
}

static int parse(struct ddan *d, const config_setting_t *cfg,
		 const char **error_r)
{
	static const char *const keys[] = {
		"security_level", "max_wait", "query_delay", "query_interval",
		"max_attempts", "mode", "cache_ttl", "exception", "product_name",
		"source_id", "source_name", "servers", "timeout", "batch_size",
		NULL};
	vigil_host *h = d->host;
	const char *level, *mode, *product, *source;
	int max_wait, delay, interval, attempts, ttl, source_id, timeout, batch;
	if (vigil_check_keys(h, cfg, keys, error_r) != 0 ||
	    str_setting(h, cfg, "security_level", "low", &level, error_r) != 0 ||
	    str_setting(h, cfg, "mode", "sync", &mode, error_r) != 0 ||
	    str_setting(h, cfg, "product_name", "vigil", &product, error_r) != 0 ||
	    str_setting(h, cfg, "source_name", "vigil", &source, error_r) != 0 ||
	    int_setting(h, cfg, "max_wait", 300, 1800, 1800, &max_wait, error_r) != 0 ||
	    int_setting(h, cfg, "query_delay", 1, 600, 60, &delay, error_r) != 0 ||
	    int_setting(h, cfg, "query_interval", 1, 600, 60, &interval, error_r) != 0 ||
	    int_setting(h, cfg, "max_attempts", 1, 1000, 20, &attempts, error_r) != 0 ||
	    int_setting(h, cfg, "cache_ttl", 0, 30 * 86400, 82800, &ttl, error_r) != 0 ||
	    int_setting(h, cfg, "source_id", 0, 999999, 501, &source_id, error_r) != 0 ||
	    int_setting(h, cfg, "timeout", 1, 600, 30, &timeout, error_r) != 0 ||
	    int_setting(h, cfg, "batch_size", 1, 1000, 100, &batch, error_r) != 0)
		return -1;
	static const struct {
		const char *name;
		int risk_min;
	} levels[] = {{"low", 3}, {"medium", 2}, {"high", 1}};
	d->risk_min = 0;
	for (size_t i = 0; i < 3; i++)
		if (strcasecmp(level, levels[i].name) == 0) {
			d->risk_min = levels[i].risk_min;
			d->level_name = levels[i].name;
		}
	if (d->risk_min == 0) {
		*error_r = vigil_setting_error(h, config_setting_get_member(cfg, "security_level"),
					       "'security_level' must be low, medium or high");
		return -1;
	}
	if (strcmp(mode, "sync") != 0 && strcmp(mode, "async") != 0) {
		*error_r = vigil_setting_error(h, config_setting_get_member(cfg, "mode"),
					       "'mode' must be sync or async");
		return -1;
	}
	d->async = strcmp(mode, "async") == 0;
	d->max_wait = (unsigned)max_wait;
	d->query_delay = (unsigned)delay;
	d->query_interval = (unsigned)interval;
	d->max_attempts = (unsigned)attempts;
	d->cache_ttl = (unsigned)ttl;
	d->timeout = (unsigned)timeout;
	d->batch = (unsigned)batch;
	d->product_name = dupstr(product);
	d->source_name = dupstr(source);
	snprintf(d->source_id, sizeof d->source_id, "%d", source_id);

	const config_setting_t *list = config_setting_get_member(cfg, "servers");
	if (list == NULL || !config_setting_is_list(list) ||
	    config_setting_length(list) == 0) {
		*error_r = vigil_setting_error(h, list ? list : cfg,
					       "'servers' must be a list of at least "
					       "one server ( { host = ...; api_key = ...; } )");
		return -1;
	}
	size_t n = (size_t)config_setting_length(list);
	d->servers = calloc(n, sizeof *d->servers);
	if (d->servers == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (server_setting(d, config_setting_get_elem(list, (unsigned)i),
				   &d->servers[i], error_r) != 0)
			return -1;
		d->n_servers++;
	}
	/* lowest preference first; equal ones keep their order */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && d->servers[j - 1].preference >
						 d->servers[j].preference; j--) {
			struct ddan_server t = d->servers[j];
			d->servers[j] = d->servers[j - 1];
			d->servers[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++) /* the cfg strings moved with them */
		d->servers[i].cfg = (struct ddan_server_cfg){
			d->servers[i].host, d->servers[i].cfg.port,
			d->servers[i].api_key, d->servers[i].ca_file,
			d->servers[i].pin, d->timeout};
	return 0;
}

static pthread_once_t libs_once = PTHREAD_ONCE_INIT;

static void libs_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	xmlInitParser();
}

static int init(vigil_host *h, const config_setting_t *cfg, void **state_r,
		const char **error_r)
{
	pthread_once(&libs_once, libs_init);
	struct ddan *d = calloc(1, sizeof *d);
	if (d == NULL)
		abort();
	d->host = h;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->wake, NULL);
	d->n_buckets = 4096;
	d->buckets = calloc(d->n_buckets, sizeof *d->buckets);
	if (d->buckets == NULL)
		abort();
	if (gethostname(d->hostname, sizeof d->hostname) != 0 || !*d->hostname)
		snprintf(d->hostname, sizeof d->hostname, "localhost");
	if (parse(d, cfg, error_r) != 0)
		goto fail;
	client_uuid(d);
	/* every server's settings make a connection (no traffic yet): a bad
	 * pin or host is a configuration error, not a surprise later */
	for (size_t i = 0; i < d->n_servers; i++) {
		char *err = NULL;
		struct ddan_conn *c = ddan_connect(d, i, &err);
		if (c == NULL) {
			*error_r = vigil_setting_error(h, cfg, "%s", err ? err : "?");
			free(err);
			goto fail;
		}
		ddan_conn_free(c);
	}
	if (vigil_register_verdict_source(h, &verdict_ops, d, error_r) != 0 ||
	    vigil_register_command(h, &command_ops, d, error_r) != 0 ||
	    h->api->register_timer(h, 1, tick, (vigil_userdata){d, NULL},
				   error_r) != 0)
		goto fail;
	ddan_resume_inflight(d);
	*state_r = d;
	return 0;
fail:
	ddan_free(d);
	return -1;
}

static void fini(void *state)
{
	ddan_free(state);
}

VIGIL_PLUGIN("ddan", "1.0", .init = init, .fini = fini);
