/*
 * ddan_worker.c - the one thread of the Virtual Analyzer plugin that talks
 * to the appliances: it registers, submits new samples (check_duplicate
 * first, upload only what the server lacks), polls the submitted ones in
 * batches (get_brief_report, many SHA-1s a request), fetches get_report
 * for the details of finished ones, and resolves their tickets.
 *
 * Failover: new submissions go to the first enabled server (lowest
 * preference) that is not marked down; a server that fails is down for
 * DOWN_SECONDS. Samples already submitted are polled where they were.
 *
 * Nothing here holds the lock across a network call: it copies what it
 * needs, lets go, talks, then takes the lock to record the outcome. Only
 * this thread frees samples, so the pointers it copied stay valid.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddan.h"

#define DOWN_SECONDS 60
/* A failed sample is remembered this long, so the messages it wakes read
 * the failure; a later message submits it afresh. */
#define FAILED_KEEP_SECONDS 300

#define LOG(d, level, ...) vigil_log((d)->host, level, __VA_ARGS__)

struct ddan_conn *ddan_connect(struct ddan *d, size_t i, char **error_r)
{
	struct ddan_client_id id = {d->product_name, d->hostname,
				    d->client_uuid, d->source_id,
				    d->source_name, "1.5"};
	return ddan_conn_new(&d->servers[i].cfg, &id, error_r);
}

/* A failed poll is noted (and logged when the reason changes); the
 * samples keep being polled there. */
static void server_note(struct ddan *d, size_t i, const char *what,
			const char *err)
{
	struct ddan_server *s = &d->servers[i];
	char text[sizeof s->last_error];
	snprintf(text, sizeof text, "%s: %s", what, err ? err : "?");
	pthread_mutex_lock(&d->lock);
	bool changed = strcmp(text, s->last_error) != 0;
	memcpy(s->last_error, text, sizeof text);
	pthread_mutex_unlock(&d->lock);
	if (changed)
		LOG(d, VIGIL_LOG_WARNING, "Virtual Analyzer %s:%d: %s failed: %s",
		    s->host, s->cfg.port, what, err ? err : "?");
}

/* A failed submission (or registration): no new samples go there for a
 * while; the next server by preference takes them. */
static void server_failed(struct ddan *d, size_t i, const char *what,
			  const char *err)
{
	struct ddan_server *s = &d->servers[i];
	char text[sizeof s->last_error];
	snprintf(text, sizeof text, "%s: %s", what, err ? err : "?");
	pthread_mutex_lock(&d->lock);
	memcpy(s->last_error, text, sizeof text);
	s->down_until = time(NULL) + DOWN_SECONDS;
	s->registered = false;
	pthread_mutex_unlock(&d->lock);
	LOG(d, VIGIL_LOG_WARNING,
	    "Virtual Analyzer %s:%d: %s failed: %s; no new submissions to it "
	    "for %d s", s->host, s->cfg.port, what, err ? err : "?",
	    DOWN_SECONDS);
}

/* Connected and registered, or marked down. */
static bool server_ready(struct ddan *d, size_t i, time_t now)
{
	struct ddan_server *s = &d->servers[i];
	if (!s->enabled || s->down_until > now)
		return false;
	if (s->registered)
		return true;
	char *err = NULL;
	if (s->conn == NULL)
		s->conn = ddan_connect(d, i, &err);
	if (s->conn != NULL && ddan_test_connection(s->conn, &err) == 0 &&
	    ddan_register(s->conn, &err) == 0) {
		d->requests += 2;
		pthread_mutex_lock(&d->lock);
		s->registered = true;
		s->last_ok = now;
		pthread_mutex_unlock(&d->lock);
		LOG(d, VIGIL_LOG_INFO,
		    "Virtual Analyzer %s:%d: registered as %s", s->host,
		    s->cfg.port, d->client_uuid);
		return true;
	}
	server_failed(d, i, "register", err);
	free(err);
	return false;
}

/* A server that polls fine but fails a call is only "down" for new
 * submissions; the same connection keeps being used for polling. */
static struct ddan_conn *poll_conn(struct ddan *d, size_t i)
{
	struct ddan_server *s = &d->servers[i];
	if (s->conn == NULL) {
		char *err = NULL;
		s->conn = ddan_connect(d, i, &err);
		free(err);
	}
	return s->conn;
}

/* ---- recording outcomes ---- */

static void save_inflight(struct ddan *d, const struct sample *s)
{
	const struct ddan_server *sv = &d->servers[s->server];
	json_t *o = json_pack("{s:s, s:i, s:I, s:I, s:I, s:i, s:s, s:b}",
			      "host", sv->host, "port", sv->cfg.port,
			      "created", (json_int_t)s->created, "submitted",
			      (json_int_t)s->submitted, "expires",
			      (json_int_t)s->expires, "attempts", s->attempts,
			      "name", s->name ? s->name : "", "url", s->url);
	char *text = json_dumps(o, JSON_COMPACT);
	vigil_kv_put(d->host, DDAN_KV_FLIGHT, s->sha1, text, s->expires + 60);
	free(text);
	json_decref(o);
}

static void progress(struct ddan *d, const struct sample *s)
{
	d->host->api->ticket_progress(d->host, s->ticket, s->submitted,
				      s->last_query, s->attempts, s->expires);
}

static void finish(struct ddan *d, struct sample *s, int risk,
		   const char *virus, const char *true_type)
{
	pthread_mutex_lock(&d->lock);
	s->state = SAMPLE_DONE;
	s->risk = risk;
	snprintf(s->virus, sizeof s->virus, "%s", virus ? virus : "");
	snprintf(s->true_type, sizeof s->true_type, "%s",
		 true_type ? true_type : "");
	s->finished = time(NULL);
	bool async = s->async;
	d->verdicts++;
	pthread_mutex_unlock(&d->lock);

	char *value = NULL;
	if (asprintf(&value, "%d\t%s\t%s", risk, s->virus, s->true_type) < 0)
		abort();
	if (d->cache_ttl > 0)
		vigil_kv_put(d->host, DDAN_KV_CACHE, s->sha1, value,
			     s->finished + d->cache_ttl);
	free(value);
	vigil_kv_put(d->host, DDAN_KV_FLIGHT, s->sha1, NULL, 0);
	LOG(d, VIGIL_LOG_INFO,
	    "Virtual Analyzer: %s (%s): risk %d (%s)%s%s after %d queries",
	    s->sha1, s->name, risk, ddan_risk_name(risk), *s->virus ? ", " : "",
	    s->virus, s->attempts);
	progress(d, s);
	if (async) {
		char detail[512];
		snprintf(detail, sizeof detail,
			 "Virtual Analyzer verdict: risk %d (%s)%s%s", risk,
			 ddan_risk_name(risk), *s->virus ? ", " : "", s->virus);
		d->host->api->ticket_note(d->host, s->ticket,
					  ddan_in_level(d, risk) ?
						  "Analyzed advanced threat" :
						  "No advanced threat",
					  detail);
	}
	d->host->api->ticket_done(d->host, s->ticket);
}

static void fail(struct ddan *d, struct sample *s, const char *why)
{
	pthread_mutex_lock(&d->lock);
	s->state = SAMPLE_FAILED;
	snprintf(s->error, sizeof s->error, "%s", why);
	s->finished = time(NULL);
	bool async = s->async;
	d->failures++;
	pthread_mutex_unlock(&d->lock);
	vigil_kv_put(d->host, DDAN_KV_FLIGHT, s->sha1, NULL, 0);
	LOG(d, VIGIL_LOG_WARNING, "Virtual Analyzer: %s (%s): no verdict: %s",
	    s->sha1, s->name, why);
	if (async) {
		char detail[512];
		snprintf(detail, sizeof detail,
			 "Virtual Analyzer: no verdict: %s", why);
		d->host->api->ticket_note(d->host, s->ticket,
					  "Probable advanced threat", detail);
	}
	d->host->api->ticket_done(d->host, s->ticket);
}

/* ---- submitting ---- */

/* Up to `max` samples in `state` (for polling: on server `server`, due). */
static size_t pick(struct ddan *d, enum sample_state state, int server,
		   time_t now, struct sample **out, size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&d->lock);
	for (size_t b = 0; b < d->n_buckets && n < max; b++)
		for (struct sample *s = d->buckets[b]; s && n < max; s = s->next)
			if (s->state == state &&
			    (server < 0 || (s->server == server &&
					    s->next_query <= now)))
				out[n++] = s;
	pthread_mutex_unlock(&d->lock);
	return n;
}

static void submitted(struct ddan *d, struct sample *s, size_t server,
		      time_t now, bool uploaded)
{
	pthread_mutex_lock(&d->lock);
	s->state = SAMPLE_SUBMITTED;
	s->server = (int)server;
	s->submitted = now;
	/* a sample the server already had may be done: ask at once */
	s->next_query = uploaded ? now + d->query_delay : now;
	free(s->data);
	s->data = NULL;
	pthread_mutex_unlock(&d->lock);
	save_inflight(d, s);
	progress(d, s);
}

/* Returns false when no server could take them. */
static bool submit_batch(struct ddan *d, struct sample **batch, size_t n,
			 time_t now)
{
	for (size_t i = 0; i < d->n_servers; i++) {
		if (!server_ready(d, i, now))
			continue;
		struct ddan_server *sv = &d->servers[i];
		const char **sha1s = calloc(n, sizeof *sha1s);
		int *known = calloc(n, sizeof *known);
		if (sha1s == NULL || known == NULL)
			abort();
		for (size_t k = 0; k < n; k++)
			sha1s[k] = batch[k]->sha1;
		char *err = NULL;
		d->requests++;
		int rc = ddan_check_duplicate(sv->conn, sha1s, n, known, &err);
		free(sha1s);
		if (rc != 0) {
			server_failed(d, i, "check_duplicate_sample", err);
			free(err);
			free(known);
			continue; /* the next server */
		}
		size_t k = 0;
		for (; k < n; k++) {
			struct sample *s = batch[k];
			if (known[k]) {
				submitted(d, s, i, now, false);
				continue;
			}
			d->requests++;
			if (ddan_upload(sv->conn, s->sha1, s->name, s->data,
					s->size,
					s->url ? DDAN_SAMPLE_URL : DDAN_SAMPLE_FILE,
					&err) != 0) {
				server_failed(d, i, "simple_upload_sample", err);
				free(err);
				break;
			}
			d->uploads++;
			submitted(d, s, i, now, true);
		}
		free(known);
		if (k == n)
			return true;
		/* the rest wait for the next round and the next server */
		return false;
	}
	return false;
}

static void submit_queued(struct ddan *d, time_t now)
{
	struct sample **batch = calloc(d->batch, sizeof *batch);
	if (batch == NULL)
		abort();
	size_t n;
	while ((n = pick(d, SAMPLE_QUEUED, -1, now, batch, d->batch)) > 0)
		if (!submit_batch(d, batch, n, now))
			break;
	free(batch);
}

/* ---- polling ---- */

/* A done sample: get_report for the logged details (and the risk, when
 * the brief report could not give one). A verdict outside the security
 * level needs no details: it is final at once, so its messages go on
 * without another round trip. */
static void conclude(struct ddan *d, struct ddan_conn *c, struct sample *s,
		     int brief_risk)
{
	if (brief_risk >= 0 && !ddan_in_level(d, brief_risk)) {
		finish(d, s, brief_risk, "", "");
		return;
	}
	struct ddan_report rep;
	char *err = NULL;
	d->requests++;
	if (ddan_report(c, s->sha1, &rep, &err) != 0) {
		free(err);
		if (brief_risk != DDAN_RISK_NONE) /* details are a bonus */
			finish(d, s, brief_risk, "", "");
		return; /* else: asked again next round */
	}
	if (rep.processing)
		return;
	int risk = brief_risk != DDAN_RISK_NONE ? brief_risk : rep.risk;
	if (risk == DDAN_RISK_NONE)
		fail(d, s, "the Virtual Analyzer answered an unreadable risk level");
	else if (risk < 0)
		fail(d, s, risk == -1 ? "the sample is not supported" :
					"the analysis failed");
	else
		finish(d, s, risk, rep.virus, rep.true_type);
}

static void poll_batch(struct ddan *d, size_t server, struct sample **batch,
		       size_t n, time_t now)
{
	struct ddan_conn *c = poll_conn(d, server);
	const char **sha1s = calloc(n, sizeof *sha1s);
	struct ddan_brief *out = calloc(n, sizeof *out);
	if (sha1s == NULL || out == NULL)
		abort();
	for (size_t k = 0; k < n; k++)
		sha1s[k] = batch[k]->sha1;
	char *err = NULL;
	d->requests++;
	int rc = c ? ddan_brief_report(c, sha1s, n, out, &err) : -1;
	if (rc != 0) {
		server_note(d, server, "get_brief_report", err);
		free(err);
	}
	for (size_t k = 0; k < n; k++) {
		struct sample *s = batch[k];
		pthread_mutex_lock(&d->lock);
		s->attempts++;
		s->last_query = now;
		s->next_query = now + d->query_interval;
		pthread_mutex_unlock(&d->lock);
		if (rc == 0) {
			switch (out[k].state) {
			case DDAN_DONE:
			case DDAN_UNKNOWN: /* unreadable: get_report decides */
				conclude(d, c, s, out[k].state == DDAN_DONE ?
						      out[k].risk : DDAN_RISK_NONE);
				break;
			case DDAN_ERROR:
				fail(d, s, "the analysis ended in an error");
				break;
			case DDAN_TIMEOUT:
				fail(d, s, "the analysis timed out");
				break;
			case DDAN_NOT_FOUND:
				fail(d, s, "the Virtual Analyzer does not know the sample");
				break;
			default:
				break; /* arrived, processing */
			}
		}
		if (s->state != SAMPLE_SUBMITTED)
			continue;
		if (s->attempts >= (int)d->max_attempts) {
			char why[128];
			snprintf(why, sizeof why, "no verdict after %d queries",
				 s->attempts);
			fail(d, s, why);
		} else if (now >= s->expires) {
			fail(d, s, "no verdict within max_wait");
		} else {
			progress(d, s);
			save_inflight(d, s);
		}
	}
	free(sha1s);
	free(out);
}

static void poll_submitted(struct ddan *d, time_t now)
{
	struct sample **batch = calloc(d->batch, sizeof *batch);
	if (batch == NULL)
		abort();
	for (size_t i = 0; i < d->n_servers && !d->stop; i++) {
		size_t n;
		while (!d->stop &&
		       (n = pick(d, SAMPLE_SUBMITTED, (int)i, now, batch,
				 d->batch)) > 0)
			poll_batch(d, i, batch, n, now);
	}
	free(batch);
}

/* ---- housekeeping ---- */

static void unlink_sample(struct ddan *d, struct sample **p)
{
	struct sample *s = *p;
	*p = s->next;
	free(s->name);
	free(s->data);
	free(s);
	d->n_samples--;
}

/* Queued samples no server took in time fail; remembered outcomes go. */
static void housekeeping(struct ddan *d, time_t now)
{
	struct sample *expired[64];
	size_t n_expired = 0;
	pthread_mutex_lock(&d->lock);
	bool clear = d->clear_done;
	d->clear_done = false;
	for (size_t b = 0; b < d->n_buckets; b++)
		for (struct sample **p = &d->buckets[b]; *p;) {
			struct sample *s = *p;
			bool drop = (s->state == SAMPLE_DONE &&
				     (clear || now >= s->finished + (time_t)d->cache_ttl)) ||
				    (s->state == SAMPLE_FAILED &&
				     now >= s->finished + FAILED_KEEP_SECONDS);
			if (drop) {
				unlink_sample(d, p);
				continue;
			}
			if (s->state == SAMPLE_QUEUED && now >= s->expires &&
			    n_expired < 64)
				expired[n_expired++] = s;
			p = &s->next;
		}
	pthread_mutex_unlock(&d->lock);
	for (size_t i = 0; i < n_expired; i++) {
		char why[320];
		const char *last = "";
		for (size_t k = 0; k < d->n_servers && !*last; k++)
			last = d->servers[k].last_error;
		snprintf(why, sizeof why, "no Virtual Analyzer took the sample "
			 "within max_wait%s%s", *last ? ": " : "", last);
		fail(d, expired[i], why);
	}
}

static void *worker(void *arg)
{
	struct ddan *d = arg;
	LOG(d, VIGIL_LOG_INFO, "Virtual Analyzer: %zu server(s), security "
			       "level %s, %s mode",
	    d->n_servers, d->level_name, d->async ? "async" : "sync");
	time_t now = time(NULL);
	for (size_t i = 0; i < d->n_servers; i++)
		server_ready(d, i, now); /* register and test at start */
	while (!d->stop) {
		now = time(NULL);
		submit_queued(d, now);
		poll_submitted(d, now);
		housekeeping(d, now);
		pthread_mutex_lock(&d->lock);
		if (!d->stop) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			pthread_cond_timedwait(&d->wake, &d->lock, &until);
		}
		pthread_mutex_unlock(&d->lock);
	}
	return NULL;
}

void ddan_worker_start(struct ddan *d)
{
	if (d->worker_started)
		return;
	if (pthread_create(&d->worker, NULL, worker, d) == 0)
		d->worker_started = true;
	else
		LOG(d, VIGIL_LOG_ERR, "Virtual Analyzer: cannot start its thread");
}

void ddan_worker_stop(struct ddan *d)
{
	if (!d->worker_started)
		return;
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->worker, NULL);
	d->worker_started = false;
}

void ddan_free_samples(struct ddan *d)
{
	for (size_t b = 0; d->buckets && b < d->n_buckets; b++)
		while (d->buckets[b] != NULL)
			unlink_sample(d, &d->buckets[b]);
}

/* ---- restart ---- */

static int resume_one(void *ctx, const char *sha1, const char *value,
		      time_t expires)
{
	struct ddan *d = ctx;
	(void)expires;
	json_t *o = json_loads(value, 0, NULL);
	const char *host = json_string_value(json_object_get(o, "host"));
	int port = (int)json_integer_value(json_object_get(o, "port"));
	int server = -1;
	for (size_t i = 0; host && i < d->n_servers; i++)
		if (strcmp(d->servers[i].host, host) == 0 &&
		    d->servers[i].cfg.port == port)
			server = (int)i;
	/* on a server no longer configured: the message submits it afresh */
	pthread_mutex_lock(&d->lock);
	if (server >= 0 && strlen(sha1) == 40 && ddan_find(d, sha1) == NULL) {
		struct sample *s = ddan_sample_add(d, sha1);
		const char *name = json_string_value(json_object_get(o, "name"));
		s->name = strdup(name ? name : "");
		s->url = json_is_true(json_object_get(o, "url"));
		s->state = SAMPLE_SUBMITTED;
		s->server = server;
		s->created = (time_t)json_integer_value(json_object_get(o, "created"));
		s->submitted = (time_t)json_integer_value(json_object_get(o, "submitted"));
		s->expires = (time_t)json_integer_value(json_object_get(o, "expires"));
		s->attempts = (int)json_integer_value(json_object_get(o, "attempts"));
		s->next_query = time(NULL);
	}
	pthread_mutex_unlock(&d->lock);
	json_decref(o);
	return 0;
}

void ddan_resume_inflight(struct ddan *d)
{
	vigil_kv_foreach(d->host, DDAN_KV_FLIGHT, resume_one, d);
}
