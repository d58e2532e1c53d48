/*
 * daemon_control.c - the control socket: one command a connection, one
 * answer, for `vigil reload|status|quarantine release|...`. The socket is
 * mode 0660, so only root and the vigil user can change live state.
 * Commands: status, reload, release ID, reprocess ID, delete ID, deliver ID,
 * va-release ID, and `plugin ["GROUP", "ARG", ...]` for the command groups
 * plugins register (answered {"rc": N, "output": "..."}).
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon.h"

static int control_fd = -1;

int daemon_control_open(struct daemon *d, char **error_r)
{
	struct generation *g = daemon_gen_acquire(d);
	const struct daemon_settings *ds = &g->host->cfg->daemon;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int rc = -1;
	if (strlen(ds->control_socket) >= sizeof sun.sun_path) {
		*error_r = xasprintf("control socket path too long: %s",
				     ds->control_socket);
		goto out;
	}
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", ds->control_socket);
	unlink(sun.sun_path);
	control_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (control_fd < 0 ||
	    bind(control_fd, (struct sockaddr *)&sun, sizeof sun) != 0 ||
	    listen(control_fd, 16) != 0) {
		*error_r = xasprintf("control socket %s: %s", sun.sun_path,
				     strerror(errno));
		goto out;
	}
	chmod(sun.sun_path, 0660);
	struct passwd *pw = geteuid() == 0 && *ds->user ? getpwnam(ds->user) : NULL;
	if (pw != NULL && chown(sun.sun_path, 0, pw->pw_gid) != 0)
		daemon_log(d, LOG_WARNING, "chown %s: %s", sun.sun_path,
			   strerror(errno));
	rc = 0;
out:
	daemon_gen_release(d, g);
	return rc;
}

static char *status_json(struct daemon *d)
{
	pthread_mutex_lock(&d->lock);
	json_t *o = json_pack(
		"{s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:I, s:I, s:s}",
		"generation", (int)d->gen->number, "uptime",
		(json_int_t)(time(NULL) - d->started), "accepted",
		(json_int_t)d->accepted, "delivered", (json_int_t)d->delivered,
		"quarantined", (json_int_t)d->quarantined, "deleted",
		(json_int_t)d->deleted, "deferred", (json_int_t)d->deferred,
		"timed", (json_int_t)d->n_timed, "connections",
		d->n_connections, "waiting_verdict", (json_int_t)d->n_waiting,
		"pid", (json_int_t)getpid(), "hostname", d->hostname);
	json_object_set_new(o, "workers", json_integer(d->workers));
	json_object_set_new(o, "delivery_threads", json_integer(d->senders));
	pthread_mutex_unlock(&d->lock);
	pthread_mutex_lock(&d->scanq.lock);
	json_object_set_new(o, "scan_queue",
			    json_integer((json_int_t)(d->scanq.ids.n - d->scanq.head)));
	pthread_mutex_unlock(&d->scanq.lock);
	pthread_mutex_lock(&d->deliverq.lock);
	json_object_set_new(o, "deliver_queue",
			    json_integer((json_int_t)(d->deliverq.ids.n - d->deliverq.head)));
	pthread_mutex_unlock(&d->deliverq.lock);
	json_t *plugins = json_object();
	struct generation *g = daemon_gen_acquire(d);
	struct host *h = g->host;
	for (size_t i = 0; i < h->n_commands; i++) {
		if (h->commands[i].ops->status == NULL)
			continue;
		char *text = NULL;
		size_t len = 0;
		FILE *out = open_memstream(&text, &len);
		h->commands[i].ops->status(h->commands[i].ctx, out);
		fclose(out);
		json_object_set_new(plugins, h->commands[i].ops->name,
				    json_string(text ? text : ""));
		free(text);
	}
	json_object_set_new(o, "plugins", plugins);
	daemon_gen_release(d, g);
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* Take a quarantined message back: deliver it (release) or scan it again
 * with the current policy (reprocess). */
static char *unquarantine(struct daemon *d, const char *id, int scan)
{
	json_t *row = d->store->ops->queue_get(d->store, id);
	const char *area = json_string_value(json_object_get(row, "area"));
	if (row == NULL || area == NULL || strncmp(area, "quarantine:", 11) != 0) {
		json_decref(row);
		return xasprintf("error no quarantined message %s", id);
	}
	const char *path = json_string_value(json_object_get(row, "detail"));
	size_t n;
	char *err = NULL;
	unsigned char *data = path ? read_whole_file(path, &n, &err) : NULL;
	if (data == NULL) {
		char *answer = xasprintf("error %s", err ? err : "no file");
		free(err);
		json_decref(row);
		return answer;
	}
	struct strvec rcpts = {0};
	char *list = xstrdup(json_string_value(json_object_get(row, "rcpts")));
	for (char *save = NULL, *r = strtok_r(list, ",", &save); r;
	     r = strtok_r(NULL, ",", &save))
		strvec_push(&rcpts, r);
	free(list);
	const char *sender = json_string_value(json_object_get(row, "sender"));
	int rc = daemon_inject(d, sender ? sender : "",
			       (const char *const *)rcpts.v, rcpts.n, data, n,
			       scan ? "reprocess" : "release", scan);
	char *answer;
	if (rc == 0) {
		d->store->ops->queue_remove(d->store, id);
		unlink(path);
		answer = xasprintf("ok %s %s", scan ? "reprocessing" : "released", id);
	} else {
		answer = xasprintf("error cannot requeue %s", id);
	}
	strvec_free(&rcpts);
	free(data);
	json_decref(row);
	return answer;
}

static char *delete_quarantined(struct daemon *d, const char *id)
{
	json_t *row = d->store->ops->queue_get(d->store, id);
	const char *area = json_string_value(json_object_get(row, "area"));
	if (row == NULL || area == NULL || strncmp(area, "quarantine:", 11) != 0) {
		json_decref(row);
		return xasprintf("error no quarantined message %s", id);
	}
	const char *path = json_string_value(json_object_get(row, "detail"));
	if (path)
		unlink(path);
	d->store->ops->queue_remove(d->store, id);
	json_decref(row);
	return xasprintf("ok deleted %s", id);
}

/* A deferred or postponed message: try it now. */
static char *deliver_now(struct daemon *d, const char *id)
{
	char *err = NULL;
	json_t *st = spool_id_valid(id) ? spool_state(d->spool, id, &err) : NULL;
	if (st == NULL) {
		free(err);
		return xasprintf("error no queued message %s", id);
	}
	json_object_set_new(st, "due", json_integer(0));
	int rc = spool_update_state(d->spool, id, st, &err);
	json_decref(st);
	if (rc != 0) {
		char *a = xasprintf("error %s", err);
		free(err);
		return a;
	}
	workq_push(&d->scanq, id); /* stage due now: it goes to delivery */
	return xasprintf("ok %s queued for delivery", id);
}

/* A plugin's command group, run in the current generation. */
static char *plugin_command(struct daemon *d, const char *args)
{
	json_t *argv_j = json_loads(args, 0, NULL);
	size_t argc = json_array_size(argv_j);
	if (argc == 0 || argc > 64) {
		json_decref(argv_j);
		return xstrdup("error usage: plugin [\"GROUP\", ARGS...]");
	}
	char **argv = xcalloc(argc + 1, sizeof *argv);
	for (size_t i = 0; i < argc; i++) {
		const char *a = json_string_value(json_array_get(argv_j, i));
		argv[i] = xstrdup(a ? a : "");
	}
	json_decref(argv_j);
	struct generation *g = daemon_gen_acquire(d);
	const struct host_command *c = host_command(g->host, argv[0]);
	char *text = NULL;
	size_t len = 0;
	int rc = 2;
	FILE *out = open_memstream(&text, &len);
	if (c == NULL)
		fprintf(out, "vigil: no plugin offers the command '%s'\n",
			argv[0]);
	else
		rc = c->ops->run(c->ctx, (int)argc - 1, argv + 1, out);
	fclose(out);
	daemon_gen_release(d, g);
	json_t *o = json_pack("{s:i, s:s}", "rc", rc, "output", text ? text : "");
	char *answer = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	free(text);
	for (size_t i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
	return answer;
}

/* Take a message held for a verdict out of Virtual Analyzer scanning: it
 * is evaluated again at once, and the VA answers "undecided" for it, so
 * the other rules decide. */
static char *va_release(struct daemon *d, const char *id)
{
	char *err = NULL;
	json_t *st = spool_id_valid(id) ? spool_state(d->spool, id, &err) : NULL;
	const char *stage = json_string_value(json_object_get(st, "stage"));
	if (st == NULL || stage == NULL || strcmp(stage, "va") != 0) {
		free(err);
		json_decref(st);
		return xasprintf("error no message %s held for a verdict", id);
	}
	json_t *policy = json_object_get(st, "policy");
	if (json_is_object(policy))
		json_object_set_new(policy, "va_bypass", json_true());
	int rc = spool_update_state(d->spool, id, st, &err);
	json_decref(st);
	if (rc != 0) {
		char *a = xasprintf("error %s", err);
		free(err);
		return a;
	}
	pthread_mutex_lock(&d->lock);
	int found = 0;
	for (size_t i = 0; i < d->n_waiting;) {
		if (strcmp(d->waiting[i].id, id) != 0) {
			i++;
			continue;
		}
		free(d->waiting[i].ticket);
		d->waiting[i] = d->waiting[--d->n_waiting];
		found = 1;
	}
	pthread_mutex_unlock(&d->lock);
	if (found) /* else a worker has it now, and sees the flag */
		workq_push(&d->scanq, id);
	daemon_log(d, LOG_INFO, "%s: released from Virtual Analyzer scanning",
		   id);
	return xasprintf("ok %s released from Virtual Analyzer scanning", id);
}

static char *run_command(struct daemon *d, char *line)
{
	char *arg = strchr(line, ' ');
	if (arg)
		*arg++ = '\0';
	if (strcmp(line, "status") == 0)
		return status_json(d);
	if (strcmp(line, "reload") == 0) {
		struct errlist e = {0};
		char *answer;
		if (daemon_reload(d, &e) == 0) {
			answer = xasprintf("ok generation %u", d->gen->number);
		} else {
			answer = xstrdup("error configuration refused, the "
					 "running one stays:");
			for (size_t i = 0; i < e.lines.n; i++) {
				char *t = xasprintf("%s\n%s", answer, e.lines.v[i]);
				free(answer);
				answer = t;
			}
		}
		errlist_free(&e);
		return answer;
	}
	if (arg == NULL || *arg == '\0')
		return xasprintf("error usage: %s ID", line);
	if (strcmp(line, "plugin") == 0)
		return plugin_command(d, arg);
	if (strcmp(line, "va-release") == 0)
		return va_release(d, arg);
	if (strcmp(line, "release") == 0)
		return unquarantine(d, arg, 0);
	if (strcmp(line, "reprocess") == 0)
		return unquarantine(d, arg, 1);
	if (strcmp(line, "delete") == 0)
		return delete_quarantined(d, arg);
	if (strcmp(line, "deliver") == 0)
		return deliver_now(d, arg);
	return xasprintf("error unknown command '%s'", line);
}

static void *control_thread(void *arg)
{
	struct daemon *d = arg;
	while (!d->stop) {
		int fd = accept4(control_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		struct timeval tv = {5, 0};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		char line[4096];
		size_t len = 0;
		ssize_t n = 1;
		while (len < sizeof line - 1 && memchr(line, '\n', len) == NULL &&
		       (n = recv(fd, line + len, sizeof line - 1 - len, 0)) > 0)
			len += (size_t)n;
		if (len > 0) {
			line[len] = '\0';
			line[strcspn(line, "\r\n")] = '\0';
			char *answer = run_command(d, line);
			size_t alen = strlen(answer);
			if (send(fd, answer, alen, MSG_NOSIGNAL) < 0 ||
			    send(fd, "\n", 1, MSG_NOSIGNAL) < 0)
				daemon_log(d, LOG_WARNING, "control: %s",
					   strerror(errno));
			free(answer);
		}
		close(fd);
	}
	return NULL;
}

void daemon_control_start(struct daemon *d)
{
	pthread_t t;
	pthread_create(&t, NULL, control_thread, d);
	pthread_detach(t);
}
