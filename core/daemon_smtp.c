/*
 * daemon_smtp.c - vigild's listeners: bind every `daemon.listen` address,
 * accept connections (at most daemon.max_connections at once; the next one
 * gets 421), and run an SMTP or LMTP session on each. A message is answered
 * 250 only after spool_add() made it durable.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon.h"
#include "smtp.h"

#define BACKLOG_MAX 16 /* messages queued inside vigild before SMTP waits */

struct listener {
	struct daemon *d;
	int fd;
	int lmtp;
	char *spec;
};

static struct listener *listeners;
static size_t n_listeners, cap_listeners;

/* "smtp:HOST:PORT" / "lmtp:HOST:PORT" / "unix:PATH" -> listening socket */
static int open_listener(const char *spec, int *lmtp_r, char **error_r)
{
	int fd = -1;
	*lmtp_r = strncmp(spec, "lmtp:", 5) == 0;
	if (strncmp(spec, "unix:", 5) == 0) {
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		if (strlen(spec + 5) >= sizeof sun.sun_path) {
			*error_r = xasprintf("listen %s: path too long", spec);
			return -1;
		}
		snprintf(sun.sun_path, sizeof sun.sun_path, "%s", spec + 5);
		unlink(sun.sun_path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0 ||
		    listen(fd, 128) != 0) {
			*error_r = xasprintf("listen %s: %s", spec, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		chmod(sun.sun_path, 0660);
		return fd;
	}
	if (strncmp(spec, "smtp:", 5) != 0 && !*lmtp_r) {
		*error_r = xasprintf("listen %s: use smtp:HOST:PORT, "
				     "lmtp:HOST:PORT or unix:PATH", spec);
		return -1;
	}
	char *hostport = xstrdup(spec + 5);
	char *colon = strrchr(hostport, ':');
	if (colon == NULL) {
		*error_r = xasprintf("listen %s: no port", spec);
		free(hostport);
		return -1;
	}
	*colon = '\0';
	const char *host = hostport;
	if (host[0] == '[') { /* [::1]:port */
		host++;
		hostport[strlen(hostport) - 1] = '\0';
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(*host ? host : NULL, colon + 1, &hints, &ai);
	if (rc != 0) {
		*error_r = xasprintf("listen %s: %s", spec, gai_strerror(rc));
		free(hostport);
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    listen(fd, 256) != 0) {
		*error_r = xasprintf("listen %s: %s", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	free(hostport);
	return fd;
}

int daemon_listen(struct daemon *d, const struct strvec *listen,
		  char **error_r)
{
	for (size_t i = 0; i < listen->n; i++) {
		int lmtp;
		int fd = open_listener(listen->v[i], &lmtp, error_r);
		if (fd < 0)
			return -1;
		struct listener *l = PUSH(listeners, n_listeners, cap_listeners);
		*l = (struct listener){d, fd, lmtp, xstrdup(listen->v[i])};
	}
	return 0;
}

static json_t *strvec_json(const struct strvec *sv)
{
	json_t *a = json_array();
	for (size_t i = 0; i < sv->n; i++)
		json_array_append_new(a, json_string(sv->v[i]));
	return a;
}

/* Spool a message and queue it for scanning (or delivery, when vigil made
 * it itself). */
static int spool_and_queue(struct daemon *d, json_t *state,
			   const unsigned char *data, size_t size,
			   const char *stage, char id_r[SPOOL_ID_SIZE],
			   char **error_r)
{
	json_object_set_new(state, "stage", json_string(stage));
	json_object_set_new(state, "arrival", json_integer(time(NULL)));
	if (spool_add(d->spool, data, size, state, id_r, error_r) != 0)
		return -1;
	if (strcmp(stage, "deliver") != 0) {
		/* the scanner records the arrival, with what parsing finds:
		 * the SMTP session need not wait for the store */
		workq_push(&d->scanq, id_r);
		return 0;
	}
	const char *sender = json_string_value(json_object_get(state, "sender"));
	json_t *rc = json_object_get(state, "rcpts");
	struct strvec rcpts = {0};
	size_t i;
	json_t *v;
	json_array_foreach(rc, i, v)
		strvec_push(&rcpts, json_string_value(v));
	char *all = strvec_join(&rcpts, ",");
	d->store->ops->track_arrival(d->store, id_r, time(NULL), (long long)size,
				     sender ? sender : "", all, "", "");
	free(all);
	strvec_free(&rcpts);
	workq_push(&d->deliverq, id_r);
	return 0;
}

int daemon_inject(struct daemon *d, const char *sender,
		  const char *const *rcpts, size_t n_rcpts,
		  const unsigned char *data, size_t size, const char *origin,
		  int scan)
{
	json_t *state = json_object();
	json_object_set_new(state, "sender", json_string(sender));
	json_t *r = json_array();
	for (size_t i = 0; i < n_rcpts; i++)
		json_array_append_new(r, json_string(rcpts[i]));
	json_object_set_new(state, "rcpts", r);
	json_object_set_new(state, "origin", json_string(origin));
	char id[SPOOL_ID_SIZE], *err = NULL;
	int rc = spool_and_queue(d, state, data, size,
				 scan ? "incoming" : "deliver", id, &err);
	if (rc != 0) {
		daemon_log(d, LOG_ERR, "cannot spool %s: %s", origin, err);
		free(err);
	} else {
		daemon_log(d, LOG_INFO, "%s: %s queued for delivery", id, origin);
	}
	json_decref(state);
	return rc;
}

/* Messages accepted but not yet handed on. */
static size_t backlog(struct daemon *d)
{
	size_t n;
	pthread_mutex_lock(&d->scanq.lock);
	n = d->scanq.ids.n - d->scanq.head;
	pthread_mutex_unlock(&d->scanq.lock);
	pthread_mutex_lock(&d->deliverq.lock);
	n += d->deliverq.ids.n - d->deliverq.head;
	pthread_mutex_unlock(&d->deliverq.lock);
	return n;
}

static enum smtp_verdict accept_message(void *ctx,
					const struct smtp_envelope *env,
					const unsigned char *data, size_t size,
					char *id_r, size_t id_size,
					const char **reason_r)
{
	struct daemon *d = ctx;
	/* Back-pressure: while the scanners are behind, hold the reply (the
	 * MTA keeps the message meanwhile) rather than let the spool and the
	 * accept-to-delivery time grow without bound. */
	for (int waited = 0; backlog(d) > BACKLOG_MAX && waited < 30000 && !d->stop;
	     waited += 2)
		usleep(2000);
	json_t *state = json_object();
	json_object_set_new(state, "sender", json_string(env->sender));
	json_object_set_new(state, "rcpts", strvec_json(&env->rcpts));
	if (env->helo)
		json_object_set_new(state, "helo", json_string(env->helo));
	if (env->xclient_addr)
		json_object_set_new(state, "client_addr",
				    json_string(env->xclient_addr));
	if (env->xclient_name)
		json_object_set_new(state, "client_name",
				    json_string(env->xclient_name));
	char id[SPOOL_ID_SIZE], *err = NULL;
	int rc = spool_and_queue(d, state, data, size, "incoming", id, &err);
	json_decref(state);
	if (rc != 0) {
		daemon_log(d, LOG_ERR, "cannot spool a message: %s", err);
		free(err);
		*reason_r = "spool write failed, try again later";
		return SMTP_TEMPFAIL;
	}
	snprintf(id_r, id_size, "%s", id);
	pthread_mutex_lock(&d->lock);
	d->accepted++;
	pthread_mutex_unlock(&d->lock);
	return SMTP_ACCEPTED;
}

struct session {
	struct listener *l;
	int fd;
};

static void *session_thread(void *arg)
{
	struct session *s = arg;
	struct daemon *d = s->l->d;
	struct generation *g = daemon_gen_acquire(d);
	const struct vigil_config *cfg = g->host->cfg;
	struct smtp_server_config sc = {
		.lmtp = s->l->lmtp,
		.hostname = d->hostname,
		.max_message_size = cfg->limits.max_message_size,
		.max_recipients = cfg->limits.max_recipients,
		.command_timeout = (unsigned)cfg->daemon.smtp_timeout,
		.data_timeout = (unsigned)cfg->daemon.smtp_timeout,
	};
	daemon_gen_release(d, g); /* sc holds only numbers and our hostname */
	smtp_server_session(s->fd, &sc, accept_message, d, &d->stop);
	close(s->fd);
	pthread_mutex_lock(&d->lock);
	d->n_connections--;
	pthread_mutex_unlock(&d->lock);
	free(s);
	return NULL;
}

static void *listener_thread(void *arg)
{
	struct listener *l = arg;
	struct daemon *d = l->d;
	while (!d->stop) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				usleep(100000); /* EMFILE and friends: breathe */
			continue;
		}
		struct generation *g = daemon_gen_acquire(d);
		int max = g->host->cfg->daemon.max_connections;
		daemon_gen_release(d, g);
		pthread_mutex_lock(&d->lock);
		int busy = max > 0 && d->n_connections >= max;
		if (!busy)
			d->n_connections++;
		pthread_mutex_unlock(&d->lock);
		if (busy) {
			static const char msg[] = "421 4.3.2 too many connections, "
						  "try again later\r\n";
			if (write(fd, msg, sizeof msg - 1) < 0) {
				/* nothing more to say to it */
			}
			close(fd);
			continue;
		}
		struct session *s = xcalloc(1, sizeof *s);
		s->l = l;
		s->fd = fd;
		pthread_t t;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&attr, 256 * 1024);
		if (pthread_create(&t, &attr, session_thread, s) != 0) {
			close(fd);
			free(s);
			pthread_mutex_lock(&d->lock);
			d->n_connections--;
			pthread_mutex_unlock(&d->lock);
		}
		pthread_attr_destroy(&attr);
	}
	return NULL;
}

void daemon_start_listeners(struct daemon *d)
{
	(void)d;
	for (size_t i = 0; i < n_listeners; i++) {
		pthread_t t;
		pthread_create(&t, NULL, listener_thread, &listeners[i]);
		pthread_detach(t);
	}
}
