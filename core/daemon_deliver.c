/*
 * daemon_deliver.c - hand a scanned message to its next hop: SMTP or LMTP
 * (connections reused per delivery thread) or a local maildir. Per
 * recipient: accepted -> done; temporary failure -> the deferred queue
 * with back-off; permanent failure -> a bounce to the sender. A message
 * leaves the spool only when every recipient has an answer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon.h"
#include "msg_modify.h"
#include "smtp.h"

#define MAX_QUEUE_LIFETIME (5 * 86400) /* then temporary failures bounce */
#define MAX_BACKOFF 3600

struct conn_cache {
	char *route;
	struct smtp_client *client;
};

void daemon_deliver_cache_free(void *cache)
{
	struct conn_cache *cc = cache;
	if (cc == NULL)
		return;
	if (cc->client)
		smtp_client_close(cc->client);
	free(cc->route);
	free(cc);
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

/* Deliver into DIR/new the maildir way: write tmp/, fsync, rename. */
static int deliver_maildir(struct daemon *d, const char *dir, const char *id,
			   const unsigned char *data, size_t size, char **error_r)
{
	static const char *const subs[] = {"", "/tmp", "/new", "/cur"};
	for (size_t i = 0; i < 4; i++) {
		char *p = xasprintf("%s%s", dir, subs[i]);
		if (mkdir(p, 0700) != 0 && errno != EEXIST) {
			*error_r = xasprintf("%s: %s", p, strerror(errno));
			free(p);
			return -1;
		}
		free(p);
	}
	/* Unique even when the same message is delivered twice (at-least-once
	 * after a crash) within one second: time, microseconds, pid, counter. */
	static unsigned long counter;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char *name = xasprintf("%ld.M%ldP%dQ%lu.%s.%s", (long)ts.tv_sec,
			       ts.tv_nsec / 1000, (int)getpid(),
			       __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED),
			       id, d->hostname);
	char *tmp = xasprintf("%s/tmp/%s", dir, name);
	char *dst = xasprintf("%s/new/%s", dir, name);
	int rc = -1;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		size_t done = 0;
		while (done < size) {
			ssize_t n = write(fd, data + done, size - done);
			if (n <= 0 && errno != EINTR)
				break;
			if (n > 0)
				done += (size_t)n;
		}
		if (done == size && fsync(fd) == 0 && close(fd) == 0 &&
		    rename(tmp, dst) == 0)
			rc = 0;
		else if (fd >= 0)
			close(fd);
	}
	if (rc != 0) {
		*error_r = xasprintf("maildir %s: %s", dir, strerror(errno));
		unlink(tmp);
	}
	free(name);
	free(tmp);
	free(dst);
	return rc;
}

/* "smtp:HOST:PORT" -> host, port, lmtp */
static int parse_route(const char *route, char **host_r, int *port_r,
		       int *lmtp_r)
{
	*lmtp_r = strncmp(route, "lmtp:", 5) == 0;
	if (strncmp(route, "smtp:", 5) != 0 && !*lmtp_r)
		return -1;
	char *h = xstrdup(route + 5);
	char *colon = strrchr(h, ':');
	if (colon == NULL) {
		free(h);
		return -1;
	}
	*colon = '\0';
	*port_r = atoi(colon + 1);
	if (h[0] == '[') {
		memmove(h, h + 1, strlen(h));
		h[strlen(h) - 1] = '\0';
	}
	*host_r = h;
	return *port_r > 0 ? 0 : -1;
}

static void bounce(struct daemon *d, const char *id, const char *sender,
		   const char *rcpts, const char *why)
{
	if (*sender == '\0') /* never bounce a bounce */
		return;
	char *from = xasprintf("MAILER-DAEMON@%s", d->hostname);
	struct notify_vars v = {.sender = sender, .rcpts = rcpts,
				.detected = why, .mailid = id};
	size_t size;
	unsigned char *msg = notify_build(
		from, &sender, 1, "Undelivered Mail Returned to Sender",
		"vigil could not deliver message %MAILID% from %SENDER% to:\n\n"
		"  %RCPTS%\n\nThe next hop answered:\n\n  %DETECTED%\n",
		&v, &size);
	if (msg != NULL)
		daemon_inject(d, "", &sender, 1, msg, size, "bounce", 0);
	free(msg);
	free(from);
}

void daemon_deliver(struct daemon *d, const char *id, void **cache)
{
	char *err = NULL;
	json_t *state = spool_state(d->spool, id, &err);
	if (state == NULL) {
		daemon_log(d, LOG_ERR, "%s: %s", id, err);
		free(err);
		return;
	}
	unsigned char *data = NULL;
	size_t size = 0;
	const char *kind = json_is_true(json_object_get(state, "out")) ? "out" : "msg";
	int rc = spool_read(d->spool, id, kind, &data, &size, &err);
	json_t *want = json_object_get(state, "out_size");
	if (rc == 0 && want && (size_t)json_integer_value(want) != size) {
		rc = -1;
		err = xasprintf("modified copy is incomplete (%zu bytes)", size);
		free(data);
	}
	if (rc != 0) {
		/* the modified copy did not survive a crash: scan again */
		daemon_log(d, LOG_WARNING, "%s: %s: scanning again", id, err);
		free(err);
		json_object_set_new(state, "stage", json_string("incoming"));
		json_object_del(state, "out");
		json_object_del(state, "out_size");
		err = NULL;
		if (spool_update_state(d->spool, id, state, &err) == 0)
			workq_push(&d->scanq, id);
		free(err);
		json_decref(state);
		return;
	}
	struct generation *g = daemon_gen_acquire(d);
	char *route = xstrdup(*jstr(state, "route") ? jstr(state, "route") :
						       g->host->cfg->daemon.next_hop);
	daemon_gen_release(d, g);

	const char *sender = jstr(state, "sender");
	struct strvec rcpts = {0};
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(state, "rcpts"), i, v)
		strvec_push(&rcpts, json_string_value(v));
	struct smtp_rcpt_result *res = xcalloc(rcpts.n ? rcpts.n : 1, sizeof *res);
	char *why = NULL;

	if (strncmp(route, "maildir:", 8) == 0) {
		int ok = deliver_maildir(d, route + 8, id, data, size, &why) == 0;
		for (i = 0; i < rcpts.n; i++)
			res[i].code = ok ? 250 : 451;
	} else {
		struct conn_cache *cc = *cache;
		if (cc == NULL)
			*cache = cc = xcalloc(1, sizeof *cc);
		if (cc->client && strcmp(cc->route, route) != 0) {
			smtp_client_close(cc->client);
			cc->client = NULL;
		}
		char *host = NULL;
		int port, lmtp;
		if (parse_route(route, &host, &port, &lmtp) != 0) {
			why = xasprintf("bad next hop '%s'", route);
		} else {
			if (cc->client == NULL) {
				cc->client = smtp_client_connect(host, port, lmtp,
								 d->hostname, 60, &why);
				free(cc->route);
				cc->route = xstrdup(route);
			}
			if (cc->client != NULL &&
			    smtp_client_send(cc->client, sender,
					     (const char *const *)rcpts.v, rcpts.n,
					     data, size, res, &why) != 0) {
				smtp_client_close(cc->client);
				cc->client = NULL;
			}
		}
		free(host);
	}

	/* Sort the recipients by their answers. */
	json_t *left = json_array();
	struct strvec failed = {0};
	char *last = NULL;
	size_t ok = 0;
	for (i = 0; i < rcpts.n; i++) {
		int code = res[i].code;
		if (code >= 200 && code < 300) {
			ok++;
			continue;
		}
		free(last);
		last = xasprintf("%s: %d %s", rcpts.v[i], code,
				 code ? res[i].text : (why ? why : "no answer"));
		if (code >= 500)
			strvec_push(&failed, rcpts.v[i]);
		else
			json_array_append_new(left, json_string(rcpts.v[i]));
	}
	if (failed.n > 0) {
		char *list = strvec_join(&failed, ", ");
		bounce(d, id, sender, list, last);
		daemon_log(d, LOG_INFO, "%s: bounced for %s: %s", id, list, last);
		free(list);
	}
	time_t now = time(NULL);
	time_t arrival = json_integer_value(json_object_get(state, "arrival"));
	if (json_array_size(left) > 0 && now - arrival > MAX_QUEUE_LIFETIME) {
		bounce(d, id, sender, "(all remaining recipients)", last);
		json_array_clear(left);
	}
	if (json_array_size(left) > 0) {
		int attempts = (int)json_integer_value(json_object_get(state, "attempts")) + 1;
		time_t delay = 60;
		for (int k = 1; k < attempts && delay < MAX_BACKOFF; k++)
			delay *= 2;
		if (delay > MAX_BACKOFF)
			delay = MAX_BACKOFF;
		json_object_set_new(state, "rcpts", json_incref(left));
		json_object_set_new(state, "stage", json_string("deferred"));
		json_object_set_new(state, "attempts", json_integer(attempts));
		json_object_set_new(state, "due", json_integer(now + delay));
		json_object_set_new(state, "last_error", json_string(last ? last : ""));
		if (spool_update_state(d->spool, id, state, &err) != 0) {
			daemon_log(d, LOG_ERR, "%s: %s", id, err);
			free(err);
		}
		char *all = json_join(left, ",");
		struct store_queue_entry q = {
			.msg_id = id, .area = "deferred", .ts = now,
			.due = now + delay, .attempts = attempts,
			.sender = sender, .rcpts = all, .subject = "",
			.message_id = "", .rule = "", .detail = last ? last : "",
			.size = (long long)size};
		d->store->ops->queue_put(d->store, &q);
		free(all);
		daemon_schedule(d, id, now + delay);
		daemon_log(d, LOG_INFO, "%s: deferred (attempt %d, retry in %lds): %s",
			   id, attempts, (long)delay, last ? last : "");
		pthread_mutex_lock(&d->lock);
		d->deferred++;
		pthread_mutex_unlock(&d->lock);
	} else {
		char *result = xasprintf("%zu delivered, %zu bounced via %s", ok,
					 failed.n, route);
		d->store->ops->track_update(d->store, id, NULL, result);
		d->store->ops->queue_remove(d->store, id);
		spool_remove(d->spool, id);
		daemon_log(d, LOG_INFO, "%s: %s", id, result);
		free(result);
		pthread_mutex_lock(&d->lock);
		d->delivered++;
		pthread_mutex_unlock(&d->lock);
	}
	json_decref(left);
	strvec_free(&failed);
	strvec_free(&rcpts);
	free(last);
	free(why);
	free(res);
	free(route);
	free(data);
	json_decref(state);
}
