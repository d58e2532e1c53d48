/*
 * vigild.c - the daemon: load a generation, open the store and the spool,
 * bind the listeners, drop privileges, resume every message left in the
 * spool, then run until SIGTERM. SIGHUP (or `vigil reload`) builds a new
 * generation and swaps it in only when the whole configuration is valid.
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon.h"

static struct daemon D;

void daemon_log(struct daemon *d, int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (d->foreground) {
		char *line = xvasprintf(fmt, ap);
		fprintf(stderr, "vigild: %s\n", line);
		free(line);
	} else {
		vsyslog(level, fmt, ap);
	}
	va_end(ap);
}

struct generation *daemon_gen_acquire(struct daemon *d)
{
	pthread_mutex_lock(&d->lock);
	struct generation *g = d->gen;
	g->refs++;
	pthread_mutex_unlock(&d->lock);
	return g;
}

void daemon_gen_release(struct daemon *d, struct generation *g)
{
	pthread_mutex_lock(&d->lock);
	int last = --g->refs == 0;
	pthread_mutex_unlock(&d->lock);
	if (last) {
		host_free(g->host);
		free(g);
	}
}

int daemon_reload(struct daemon *d, struct errlist *errors)
{
	struct host *h = host_new(d->config_path, d->store, errors);
	if (h == NULL) {
		for (size_t i = 0; i < errors->lines.n; i++)
			daemon_log(d, LOG_ERR, "%s: %s",
				   d->gen ? "reload refused" : "configuration refused",
				   errors->lines.v[i]);
		return -1;
	}
	struct generation *g = xcalloc(1, sizeof *g);
	g->host = h;
	g->refs = 1; /* the daemon's own reference */
	pthread_mutex_lock(&d->lock);
	g->number = ++d->next_generation;
	struct generation *old = d->gen;
	d->gen = g;
	pthread_mutex_unlock(&d->lock);
	if (old != NULL)
		daemon_gen_release(d, old);
	daemon_log(d, LOG_INFO, "generation %u loaded from %s", g->number,
		   h->cfg->main_file);
	return 0;
}

void workq_init(struct workq *q)
{
	memset(q, 0, sizeof *q);
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
}

void workq_push(struct workq *q, const char *id)
{
	pthread_mutex_lock(&q->lock);
	strvec_push(&q->ids, id);
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

int workq_pop(struct workq *q, char id_r[SPOOL_ID_SIZE],
	      const volatile int *stop)
{
	pthread_mutex_lock(&q->lock);
	while (q->head == q->ids.n && !*stop)
		pthread_cond_wait(&q->cond, &q->lock);
	if (q->head == q->ids.n) {
		pthread_mutex_unlock(&q->lock);
		return -1;
	}
	snprintf(id_r, SPOOL_ID_SIZE, "%s", q->ids.v[q->head]);
	free(q->ids.v[q->head++]);
	if (q->head == q->ids.n) { /* drained: start over */
		q->head = q->ids.n = 0;
	}
	pthread_mutex_unlock(&q->lock);
	return 0;
}

void workq_wake_all(struct workq *q)
{
	pthread_mutex_lock(&q->lock);
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

void daemon_schedule(struct daemon *d, const char *id, time_t due)
{
	pthread_mutex_lock(&d->lock);
	struct timed *t = PUSH(d->timed, d->n_timed, d->cap_timed);
	snprintf(t->id, sizeof t->id, "%s", id);
	t->due = due;
	pthread_mutex_unlock(&d->lock);
}

void daemon_wait_ticket(struct daemon *d, const char *ticket, const char *id)
{
	pthread_mutex_lock(&d->lock);
	if (d->n_waiting == d->cap_waiting) {
		d->cap_waiting = d->cap_waiting ? d->cap_waiting * 2 : 16;
		d->waiting = xrealloc(d->waiting,
				      d->cap_waiting * sizeof *d->waiting);
	}
	d->waiting[d->n_waiting].ticket = xstrdup(ticket);
	snprintf(d->waiting[d->n_waiting].id, SPOOL_ID_SIZE, "%s", id);
	d->n_waiting++;
	pthread_mutex_unlock(&d->lock);
}

static void plugin_log(void *ctx, int level, const char *line)
{
	if (level < VIGIL_LOG_DEBUG || getenv("VIGIL_DEBUG") != NULL)
		daemon_log(ctx, level, "%s", line);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Messages parked on tickets the plugins resolved go back to scanning. */
static void wake_resolved(struct daemon *d, struct strvec *wake)
{
	struct strvec done = {0};
	host_take_done_tickets(&done);
	if (done.n == 0)
		return;
	/* sorted, so thousands of held messages cost a lookup each */
	qsort(done.v, done.n, sizeof *done.v, cmp_str);
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->n_waiting;) {
		if (bsearch(&d->waiting[i].ticket, done.v, done.n,
			    sizeof *done.v, cmp_str) == NULL) {
			i++;
			continue;
		}
		strvec_push(wake, d->waiting[i].id);
		free(d->waiting[i].ticket);
		d->waiting[i] = d->waiting[--d->n_waiting];
	}
	pthread_mutex_unlock(&d->lock);
	strvec_free(&done);
}

/* Several times a second: resolved tickets (a verdict reaches its
 * messages without waiting for the next second). Once a second: plugin
 * timers and due messages. */
static void tick(struct daemon *d, time_t now, int new_second)
{
	struct strvec wake = {0};
	if (new_second) {
		struct generation *g = daemon_gen_acquire(d);
		host_run_timers(g->host, now);
		daemon_gen_release(d, g);
	}
	wake_resolved(d, &wake);
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; new_second && i < d->n_timed;) {
		if (d->timed[i].due > now) {
			i++;
			continue;
		}
		strvec_push(&wake, d->timed[i].id);
		d->timed[i] = d->timed[--d->n_timed];
	}
	pthread_mutex_unlock(&d->lock);
	for (size_t i = 0; i < wake.n; i++)
		workq_push(&d->scanq, wake.v[i]);
	strvec_free(&wake);
}

static void *scan_worker(void *arg)
{
	struct daemon *d = arg;
	char id[SPOOL_ID_SIZE];
	while (workq_pop(&d->scanq, id, &d->stop) == 0)
		daemon_process(d, id);
	return NULL;
}

static void *deliver_worker(void *arg)
{
	struct daemon *d = arg;
	char id[SPOOL_ID_SIZE];
	void *cache = NULL;
	while (workq_pop(&d->deliverq, id, &d->stop) == 0)
		daemon_deliver(d, id, &cache);
	daemon_deliver_cache_free(cache);
	return NULL;
}

static void recovered(void *ctx, const char *id)
{
	workq_push(&((struct daemon *)ctx)->scanq, id);
}

static uid_t drop_uid;
static gid_t drop_gid;

static int chown_entry(const char *path, const struct stat *st, int type,
		       struct FTW *ftw)
{
	(void)st, (void)type, (void)ftw;
	return lchown(path, drop_uid, drop_gid);
}

static int drop_privileges(struct daemon *d, const char *user)
{
	if (geteuid() != 0 || user == NULL || *user == '\0')
		return 0;
	struct passwd *pw = getpwnam(user);
	if (pw == NULL) {
		daemon_log(d, LOG_ERR, "user '%s' does not exist (daemon.user)",
			   user);
		return -1;
	}
	/* What the daemon writes after the drop must be its own: the spool
	 * tree and the store's files. */
	drop_uid = pw->pw_uid;
	drop_gid = pw->pw_gid;
	int bad = nftw(spool_dir(d->spool), chown_entry, 16, FTW_PHYS) != 0;
	const char *db = d->gen->host->cfg->store.path;
	static const char *const suffixes[] = {"", "-wal", "-shm"};
	for (size_t i = 0; i < 3; i++) {
		char *f = xasprintf("%s%s", db, suffixes[i]);
		if (chown(f, pw->pw_uid, pw->pw_gid) != 0 && errno != ENOENT)
			bad = 1;
		free(f);
	}
	/* SQLite creates its -wal/-shm files beside the database, so its
	 * directory must be ours too -- but only a directory of vigil's own
	 * (/var/lib/vigil), never a shared one such as /var/lib. */
	char *dbdir = xstrdup(db);
	char *slash = strrchr(dbdir, '/');
	if (slash != NULL && slash != dbdir) {
		*slash = '\0';
		const char *base = strrchr(dbdir, '/');
		if (strstr(base ? base : dbdir, "vigil") != NULL &&
		    chown(dbdir, pw->pw_uid, pw->pw_gid) != 0)
			bad = 1;
	}
	free(dbdir);
	if (bad || setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0) {
		daemon_log(d, LOG_ERR, "cannot become '%s': %s", user,
			   strerror(errno));
		return -1;
	}
	return 0;
}

static void usage(FILE *out)
{
	fputs("usage: vigild [-f] [--config PATH]\n"
	      "  -f, --foreground  log to stderr instead of syslog (vigild\n"
	      "                    never forks; run it under systemd or alike)\n",
	      out);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"foreground", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	struct daemon *d = &D;
	int c;
	while ((c = getopt_long(argc, argv, "c:fh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			d->config_path = optarg;
			break;
		case 'f':
			d->foreground = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!d->foreground)
		openlog("vigild", LOG_PID, LOG_MAIL);
	msg_library_init();
	pthread_mutex_init(&d->lock, NULL);
	workq_init(&d->scanq);
	workq_init(&d->deliverq);
	d->started = time(NULL);

	host_set_log_sink(plugin_log, d);
	/* The store first: plugins keep their data there from init() on. */
	struct errlist errors = {0};
	struct vigil_config *boot = config_load(d->config_path, &errors);
	char *err = NULL;
	if (boot != NULL &&
	    store_open(boot->store.backend, boot->store.path, &d->store,
		       &err) != 0) {
		daemon_log(d, LOG_ERR, "cannot start: %s", err);
		return 1;
	}
	config_free(boot);
	if (d->store == NULL || daemon_reload(d, &errors) != 0) {
		for (size_t i = 0; d->store == NULL && i < errors.lines.n; i++)
			daemon_log(d, LOG_ERR, "configuration refused: %s",
				   errors.lines.v[i]);
		errlist_free(&errors);
		return 1;
	}
	errlist_free(&errors);
	const struct vigil_config *cfg = d->gen->host->cfg;
	if ((d->spool = spool_open(cfg->daemon.spool_dir, &err)) == NULL ||
	    daemon_listen(d, &cfg->daemon.listen, &err) != 0 ||
	    daemon_control_open(d, &err) != 0) {
		daemon_log(d, LOG_ERR, "cannot start: %s", err);
		return 1;
	}
	if (*cfg->daemon.hostname)
		snprintf(d->hostname, sizeof d->hostname, "%s",
			 cfg->daemon.hostname);
	else if (gethostname(d->hostname, sizeof d->hostname) != 0)
		snprintf(d->hostname, sizeof d->hostname, "localhost");
	if (drop_privileges(d, cfg->daemon.user) != 0)
		return 1;

	/* Signals are taken by the main loop only. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	size_t resumed = spool_recover(d->spool, recovered, d);
	if (resumed)
		daemon_log(d, LOG_INFO, "resuming %zu messages from the spool",
			   resumed);

	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int workers = cfg->daemon.workers ? cfg->daemon.workers :
					    (int)(cpus > 0 ? cpus : 1);
	int senders = 4;
	d->workers = workers;
	d->senders = senders;
	pthread_t *threads = xcalloc((size_t)(workers + senders),
				     sizeof *threads);
	for (int i = 0; i < workers; i++)
		pthread_create(&threads[i], NULL, scan_worker, d);
	for (int i = 0; i < senders; i++)
		pthread_create(&threads[workers + i], NULL, deliver_worker, d);
	daemon_start_listeners(d);
	daemon_control_start(d);
	daemon_log(d, LOG_INFO, "ready: %d scanning threads, %d delivery threads",
		   workers, senders);

	time_t last_retention = 0, last_second = 0;
	while (!d->stop) {
		struct timespec fifth = {0, 200 * 1000 * 1000};
		int sig = sigtimedwait(&set, NULL, &fifth);
		time_t now = time(NULL);
		if (sig == SIGHUP) {
			struct errlist e = {0};
			daemon_reload(d, &e);
			errlist_free(&e);
		} else if (sig == SIGTERM || sig == SIGINT) {
			daemon_log(d, LOG_INFO, "stopping");
			d->stop = 1;
			break;
		}
		tick(d, now, now != last_second);
		last_second = now;
		if (now - last_retention > 3600) {
			struct generation *g = daemon_gen_acquire(d);
			d->store->ops->retention(d->store,
						 g->host->cfg->store.retention_days,
						 now);
			daemon_gen_release(d, g);
			last_retention = now;
		}
	}
	/* Finish what is being scanned or delivered; the rest stays spooled. */
	workq_wake_all(&d->scanq);
	workq_wake_all(&d->deliverq);
	for (int i = 0; i < workers + senders; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	/* plugins stop their threads (fini) before the store they use goes */
	struct generation *last = d->gen;
	d->gen = NULL;
	daemon_gen_release(d, last);
	d->store->ops->close(d->store);
	spool_close(d->spool);
	daemon_log(d, LOG_INFO, "stopped");
	return 0;
}
