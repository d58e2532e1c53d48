/*
 * ctd.c - the Connected Threat Defense plugin: suspicious-object lists
 * from Apex Central / Control Manager and open feeds, and the two hidden
 * rules that act on them.
 *
 * PURPOSE: keep one hash set of every source's objects (file SHA-1 and
 * SHA-256, URL, domain, IP); register "Suspicious file detection" and
 * "Suspicious URL detection" in phase hidden (after the virus rules,
 * before the administrator's), which quarantine for block/quarantine
 * objects and pass-but-log for log objects; keep each source's last good
 * list and its state (last success, count, last error) in vigil's store;
 * re-sync every sync_interval seconds in a background thread that the
 * daemon's timer starts; answer `vigil so list|sync|lookup` and add lines
 * to `vigil status`.
 *
 * Every generation runs init: it loads the stored lists and reads local
 * list files at once, so `vigil scan` sees them too; remote sources are
 * fetched only by the sync thread (vigild) or `vigil so sync`.
 *
 * NEVER: blocks the daemon's tick (the timer only starts the thread);
 * changes a set readers hold (a new set is built and swapped, the old one
 * freed when its last reader lets go); drops a good list for a failed or
 * malformed sync; starts a thread outside the daemon; logs the API key.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <vigil/plugin.h>

#include "ctd.h"

#define NS "ctd"
#define DEFAULT_INTERVAL 300u
#define DEFAULT_MAX_OBJECTS 4000000u
#define DEFAULT_MAX_SIZE (256u << 20)
#define MAX_URLS_PER_MESSAGE 20000u
#define THREAT "Suspicious object"

enum src_type { SRC_APEX, SRC_LIST, SRC_CSV, SRC_STIX };
static const char *const src_type_names[] = {"apex_central", "list", "csv",
					     "stix"};
static const char *const src_default_names[] = {"apex", "local", "csv", "stix"};

enum {
	COL_SHA1,
	COL_SHA256,
	COL_URL,
	COL_DOMAIN,
	COL_IP,
	COL_ACTION,
	COL_EXPIRES,
	COL_COUNT
};
static const char *const col_keys[COL_COUNT] = {
    "sha1", "sha256", "url", "domain", "ip", "action", "expires"};

struct source {
	unsigned idx;
	enum src_type type;
	char name[64];
	char origin[256];
	char *path, *url, *app_id, *api_key, *ca_file, *pin;
	unsigned timeout;
	int file_list, url_list;
	enum ctd_act def;
	char *col[COL_COUNT];
	/* under sync_lock */
	struct ctd_objs objs;
	unsigned char digest[32];
	int has_digest;
	/* under lock */
	size_t count;
	time_t last_success, last_attempt, next_due;
	char *last_error;
};

/* A set and the readers holding it. */
struct set_ref {
	struct ctd_set *set;
	unsigned refs;
};

struct ctd_state {
	vigil_host *host;
	struct source src[CTD_MAX_SOURCES];
	size_t n_src;
	unsigned interval;
	size_t max_objects, max_size;
	pthread_mutex_t lock;	   /* status, the set pointer, the thread */
	pthread_mutex_t sync_lock; /* one sync at a time; sources' objects */
	pthread_cond_t wake;
	struct set_ref *cur;
	int has_store; /* kv_* work: lists and states are kept */
	char *timing;  /* $VIGIL_CTD_TIMING, or NULL */
	uint64_t eval_ns, evals;
	volatile int stop;
	int thread_started;
	pthread_t thread;
};

/* What a condition (and each hidden rule) evaluates. */
struct cond {
	struct ctd_state *st;
	enum ctd_kind kind; /* CTD_FILE or CTD_URL */
};

/* ---------------------------------------------------------------------
 * Small helpers
 */

static void fmt_time(time_t t, char *out, size_t outsz)
{
	struct tm tm;

	if (t <= 0) {
		snprintf(out, outsz, "never");
		return;
	}
	localtime_r(&t, &tm);
	strftime(out, outsz, "%Y-%m-%d %H:%M:%S", &tm);
}

static void hex(const unsigned char *in, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int kv_ok(const struct ctd_state *st)
{
	return st->has_store;
}

static int kv_none(void *ctx, const char *key, const char *value,
		   time_t expires)
{
	(void)ctx, (void)key, (void)value, (void)expires;
	return 1;
}

/* kv_foreach says -1 when vigil runs without a store (`vigil scan`):
 * then the saved form of a list is not even built. */
static int probe_store(vigil_host *h)
{
	return h->api->kv_foreach != NULL && h->api->kv_get != NULL &&
	       h->api->kv_put != NULL &&
	       h->api->kv_foreach(h, NS, kv_none, NULL) == 0;
}

static struct set_ref *set_acquire(struct ctd_state *st)
{
	struct set_ref *r;

	pthread_mutex_lock(&st->lock);
	r = st->cur;
	if (r != NULL)
		r->refs++;
	pthread_mutex_unlock(&st->lock);
	return r;
}

static void set_release(struct ctd_state *st, struct set_ref *r)
{
	int last;

	if (r == NULL)
		return;
	pthread_mutex_lock(&st->lock);
	last = --r->refs == 0;
	pthread_mutex_unlock(&st->lock);
	if (last) {
		ctd_set_free(r->set);
		free(r);
	}
}

/* Builds the set of every source's objects and swaps it in. Called with
 * sync_lock held (or from init). */
static int rebuild(struct ctd_state *st)
{
	const struct ctd_objs *lists[CTD_MAX_SOURCES];
	struct set_ref *r = calloc(1, sizeof(*r)), *old;
	size_t i;

	if (r == NULL)
		return -1;
	for (i = 0; i < st->n_src; i++)
		lists[i] = &st->src[i].objs;
	r->set = ctd_set_build(lists, st->n_src);
	if (r->set == NULL) {
		free(r);
		return -1;
	}
	r->refs = 1; /* the state's own reference */
	pthread_mutex_lock(&st->lock);
	old = st->cur;
	st->cur = r;
	pthread_mutex_unlock(&st->lock);
	set_release(st, old);
	return 0;
}

/* ---------------------------------------------------------------------
 * Persistence: "list/NAME" (the saved form) and "state/NAME" (JSON)
 */

static void save_state(struct ctd_state *st, struct source *s)
{
	char key[96], dg[65];
	json_t *o;
	char *text;

	if (!kv_ok(st))
		return;
	if (s->has_digest)
		hex(s->digest, 32, dg);
	else
		dg[0] = '\0';
	pthread_mutex_lock(&st->lock);
	o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:s}", "type",
		      src_type_names[s->type], "origin", s->origin,
		      "last_success", (json_int_t)s->last_success,
		      "last_attempt", (json_int_t)s->last_attempt, "count",
		      (json_int_t)s->count, "last_error",
		      s->last_error ? s->last_error : "", "digest", dg);
	pthread_mutex_unlock(&st->lock);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (text == NULL)
		return;
	snprintf(key, sizeof(key), "state/%s", s->name);
	st->host->api->kv_put(st->host, NS, key, text, 0);
	free(text);
}

/* The stored state and list of a source, when they are for the same
 * type and origin (a renamed or repointed source starts afresh). */
static void load_saved(struct ctd_state *st, struct source *s, time_t now)
{
	char key[96], *text;
	json_t *o;
	const char *type, *origin, *err, *dg;
	struct ctd_list l;
	char *perr = NULL;

	if (!kv_ok(st))
		return;
	snprintf(key, sizeof(key), "state/%s", s->name);
	text = st->host->api->kv_get(st->host, NS, key, NULL);
	if (text == NULL)
		return;
	o = json_loads(text, 0, NULL);
	free(text);
	type = json_string_value(json_object_get(o, "type"));
	origin = json_string_value(json_object_get(o, "origin"));
	if (type == NULL || origin == NULL ||
	    strcmp(type, src_type_names[s->type]) != 0 ||
	    strcmp(origin, s->origin) != 0) {
		json_decref(o);
		return;
	}
	s->last_success =
	    (time_t)json_integer_value(json_object_get(o, "last_success"));
	s->last_attempt =
	    (time_t)json_integer_value(json_object_get(o, "last_attempt"));
	err = json_string_value(json_object_get(o, "last_error"));
	free(s->last_error);
	s->last_error = err && *err ? strdup(err) : NULL;
	dg = json_string_value(json_object_get(o, "digest"));
	if (dg != NULL && strlen(dg) == 64) {
		size_t i;

		for (i = 0; i < 32; i++) {
			unsigned v;

			if (sscanf(dg + 2 * i, "%2x", &v) != 1)
				break;
			s->digest[i] = (unsigned char)v;
		}
		s->has_digest = i == 32;
	}
	json_decref(o);

	snprintf(key, sizeof(key), "list/%s", s->name);
	text = st->host->api->kv_get(st->host, NS, key, NULL);
	if (text == NULL) {
		s->has_digest = 0;
		return;
	}
	ctd_list_init(&l, s->idx, 0);
	if (ctd_parse_saved(text, strlen(text), now, &l, &perr) == 0) {
		ctd_objs_free(&s->objs);
		s->objs = l.objs;
		l.objs = (struct ctd_objs){0};
		s->count = s->objs.n;
	} else {
		vigil_log(st->host, VIGIL_LOG_WARNING,
			  "suspicious-object source '%s': the stored list is "
			  "unreadable (%s); waiting for the next sync",
			  s->name, perr ? perr : "?");
		s->has_digest = 0;
	}
	free(perr);
	ctd_list_free(&l);
	free(text);
}

/* ---------------------------------------------------------------------
 * Syncing one source
 */

/* A local list file: a regular file nobody else may write, bounded. */
static int read_file(const char *path, size_t max, char **buf_r, size_t *len_r,
		     char **error_r)
{
	struct stat sb;
	char *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	*buf_r = NULL;
	if (fd < 0) {
		if (asprintf(error_r, "cannot read %s: %s", path,
			     strerror(errno)) < 0)
			*error_r = NULL;
		return -1;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    (sb.st_mode & S_IWOTH) || (size_t)sb.st_size > max) {
		const char *why = !S_ISREG(sb.st_mode) ? "not a regular file"
				  : (sb.st_mode & S_IWOTH)
				      ? "refused: writable by others (chmod "
					"o-w it)"
				      : "too large (max_size)";

		close(fd);
		if (asprintf(error_r, "%s: %s", path, why) < 0)
			*error_r = NULL;
		return -1;
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (buf == NULL) {
		close(fd);
		*error_r = strdup("out of memory");
		return -1;
	}
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*buf_r = buf;
	*len_r = got;
	return 0;
}

static int parse_doc(const struct source *s, const char *doc, size_t len,
		     time_t now, struct ctd_list *l, char **error_r)
{
	switch (s->type) {
	case SRC_LIST:
		return ctd_parse_list(doc, len, s->def, now, l, error_r);
	case SRC_CSV: {
		struct ctd_csv_columns c = {
		    s->col[COL_SHA1],	s->col[COL_SHA256], s->col[COL_URL],
		    s->col[COL_DOMAIN], s->col[COL_IP],	    s->col[COL_ACTION],
		    s->col[COL_EXPIRES]};

		return ctd_parse_csv(doc, len, &c, s->def, now, l, error_r);
	}
	case SRC_STIX:
		return ctd_parse_stix(doc, len, s->def, now, l, error_r);
	case SRC_APEX:
		return ctd_parse_apex(doc, len, s->def, now, l, error_r);
	}
	return -1;
}

/*
 * Fetches and parses one source. On success its objects are replaced and
 * persisted; on failure the old ones stay and the error is recorded and
 * logged. Returns 1 (new objects), 0 (unchanged), -1 (failed); with
 * sync_lock held.
 */
static int sync_source(struct ctd_state *st, struct source *s, char **error_r)
{
	struct ctd_http http = {s->ca_file, s->pin, s->timeout, st->max_size,
				&st->stop};
	struct ctd_list l;
	time_t now = time(NULL);
	char *doc = NULL, *err = NULL;
	size_t len = 0;
	unsigned char dg[32];
	int rc = -1, changed = 1;

	ctd_list_init(&l, s->idx, st->max_objects);
	l.no_text = !st->has_store && s->type != SRC_APEX;
	if (s->type == SRC_APEX) {
		static const char *const file_types[] = {"file", NULL};
		static const char *const url_types[] = {"url", "domain", "ip",
							NULL};
		const char *const *sets[2] = {s->file_list ? file_types : NULL,
					      s->url_list ? url_types : NULL};
		int k, i;

		for (k = 0; k < 2; k++)
			for (i = 0; sets[k] != NULL && sets[k][i] != NULL; i++)
				if (ctd_apex_fetch(&http, s->url, s->app_id,
						   s->api_key, sets[k][i],
						   s->def, now, &l, &err) < 0)
					goto done;
		SHA256((const unsigned char *)(l.text ? l.text : ""),
		       l.text_len, dg);
		changed = !(s->has_digest && memcmp(dg, s->digest, 32) == 0);
	} else {
		if (s->path != NULL) {
			if (read_file(s->path, st->max_size, &doc, &len, &err) <
			    0)
				goto done;
		} else if (ctd_http_get(&http, s->url, NULL, &doc, &len, &err) <
			   0) {
			goto done;
		}
		SHA256((const unsigned char *)doc, len, dg);
		changed = !(s->has_digest && memcmp(dg, s->digest, 32) == 0);
		if (changed && parse_doc(s, doc, len, now, &l, &err) < 0)
			goto done;
	}
	if (changed) {
		char key[96];

		ctd_objs_free(&s->objs);
		s->objs = l.objs;
		l.objs = (struct ctd_objs){0};
		memcpy(s->digest, dg, 32);
		s->has_digest = 1;
		if (kv_ok(st)) {
			snprintf(key, sizeof(key), "list/%s", s->name);
			st->host->api->kv_put(st->host, NS, key,
					      l.text ? l.text : "", 0);
		}
		vigil_log(st->host, VIGIL_LOG_INFO,
			  "suspicious-object source '%s': %zu objects%s",
			  s->name, s->objs.n,
			  l.skipped ? " (some entries left out)" : "");
	}
	pthread_mutex_lock(&st->lock);
	s->count = s->objs.n;
	s->last_success = s->last_attempt = now;
	free(s->last_error);
	s->last_error = NULL;
	pthread_mutex_unlock(&st->lock);
	rc = changed ? 1 : 0;
done:
	if (rc < 0) {
		if (err == NULL)
			err = strdup("failed");
		pthread_mutex_lock(&st->lock);
		s->last_attempt = now;
		free(s->last_error);
		s->last_error = xstrdup(err);
		pthread_mutex_unlock(&st->lock);
		vigil_log(st->host, VIGIL_LOG_WARNING,
			  "suspicious-object source '%s': sync failed: %s; "
			  "keeping the last good list (%zu objects)",
			  s->name, err, s->objs.n);
	}
	save_state(st, s);
	if (error_r != NULL)
		*error_r = err;
	else
		free(err);
	ctd_list_free(&l);
	free(doc);
	return rc;
}

/* Syncs the sources due at now (all with force, or only `only`), then
 * swaps in a new set when any changed. Returns how many failed. */
static int sync_some(struct ctd_state *st, time_t now, int force,
		     const char *only, FILE *out)
{
	int failed = 0, changed = 0;
	size_t i;

	pthread_mutex_lock(&st->sync_lock);
	for (i = 0; i < st->n_src && !st->stop; i++) {
		struct source *s = &st->src[i];
		char *err = NULL;
		int due, r;

		if (only != NULL && strcmp(only, s->name) != 0)
			continue;
		pthread_mutex_lock(&st->lock);
		due = force || s->next_due <= now;
		pthread_mutex_unlock(&st->lock);
		if (!due)
			continue;
		r = sync_source(st, s, &err);
		pthread_mutex_lock(&st->lock);
		s->next_due = time(NULL) + st->interval;
		pthread_mutex_unlock(&st->lock);
		if (r < 0)
			failed++;
		if (r > 0)
			changed = 1;
		if (out != NULL) {
			if (r < 0)
				fprintf(
				    out,
				    "%s: failed: %s (keeping %zu objects)\n",
				    s->name, err ? err : "?", s->objs.n);
			else
				fprintf(out, "%s: ok, %zu objects%s\n", s->name,
					s->objs.n,
					r == 0 ? " (unchanged)" : "");
		}
		free(err);
	}
	if (changed && rebuild(st) < 0) {
		vigil_log(st->host, VIGIL_LOG_ERR,
			  "suspicious objects: out of memory building the "
			  "set; the old one stays");
		failed++;
	}
	pthread_mutex_unlock(&st->sync_lock);
	return failed;
}

/* ---------------------------------------------------------------------
 * The sync thread (vigild only) and its timer
 */

static void *sync_thread(void *arg)
{
	struct ctd_state *st = arg;

	pthread_mutex_lock(&st->lock);
	while (!st->stop) {
		time_t now = time(NULL), next = now + 3600;
		int due = 0;
		size_t i;

		for (i = 0; i < st->n_src; i++) {
			if (st->src[i].next_due <= now)
				due = 1;
			if (st->src[i].next_due < next)
				next = st->src[i].next_due;
		}
		if (due) {
			pthread_mutex_unlock(&st->lock);
			sync_some(st, now, 0, NULL, NULL);
			pthread_mutex_lock(&st->lock);
			continue;
		}
		{
			struct timespec ts = {next, 0};

			pthread_cond_timedwait(&st->wake, &st->lock, &ts);
		}
	}
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

/* Once a second in vigild's tick: start the sync thread the first time. */
static void timer_fire(void *ctx, time_t now)
{
	struct ctd_state *st = ctx;

	(void)now;
	pthread_mutex_lock(&st->lock);
	if (!st->thread_started && !st->stop && st->n_src > 0) {
		if (pthread_create(&st->thread, NULL, sync_thread, st) == 0)
			st->thread_started = 1;
		else
			vigil_log(st->host, VIGIL_LOG_ERR,
				  "suspicious objects: cannot start the sync "
				  "thread; retrying");
	}
	pthread_mutex_unlock(&st->lock);
}

/* ---------------------------------------------------------------------
 * Lookups
 */

struct hit {
	int found;
	uint32_t meta;
	char what[CTD_URL_MAX + 300]; /* "sha1 X", "url X", "domain X in Y" */
	const vigil_part *part;
};

/* Keeps the more severe hit (the first on a tie). key is ctd_key() of
 * the object looked up. */
static int consider(const struct set_ref *r, uint64_t key, time_t now,
		    struct hit *h, const vigil_part *part, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static int consider(const struct set_ref *r, uint64_t key, time_t now,
		    struct hit *h, const vigil_part *part, const char *fmt, ...)
{
	uint32_t m;
	va_list ap;

	if (r == NULL || !ctd_set_find(r->set, key, now, &m))
		return 0;
	if (h->found && ctd_meta_act(m) <= ctd_meta_act(h->meta))
		return 1;
	h->found = 1;
	h->meta = m;
	h->part = part;
	va_start(ap, fmt);
	vsnprintf(h->what, sizeof(h->what), fmt, ap);
	va_end(ap);
	return 1;
}

static uint64_t key_of(enum ctd_kind kind, const char *value)
{
	return ctd_key(kind, value, strlen(value));
}

/* key: key_of(CTD_FILE, hash), or 0 to compute it here. */
static void lookup_hash(const struct set_ref *r, const char *hash, uint64_t key,
			time_t now, struct hit *h, const vigil_part *part)
{
	size_t n = strlen(hash);

	if (!(ctd_set_has(r->set) & CTD_HAS_FILE))
		return;
	consider(r, key ? key : ctd_key(CTD_FILE, hash, n), now, h, part,
		 "%s %s", n == 40 ? "sha1" : "sha256", hash);
}

/* A host name and its parents, as offsets into host and their keys;
 * domain objects have a dot, so the top-level label alone is never one.
 * A name has at most CTD_HOST_MAX / 2 labels with a dot after them. */
struct domains {
	size_t n;
	size_t off[CTD_HOST_MAX / 2];
	uint64_t key[CTD_HOST_MAX / 2];
};

static void domains_of(const char *host, struct domains *d)
{
	size_t len = strlen(host), at = 0;
	const char *dot;

	d->n = 0;
	while (d->n < CTD_HOST_MAX / 2 &&
	       (dot = memchr(host + at, '.', len - at)) != NULL) {
		d->off[d->n] = at;
		d->key[d->n++] = ctd_key(CTD_DOMAIN, host + at, len - at);
		at = (size_t)(dot - host) + 1;
	}
}

static void lookup_domain(const struct set_ref *r, const char *host,
			  const char *in, time_t now, struct hit *h,
			  const vigil_part *part)
{
	struct domains d;
	size_t i;

	if (!(ctd_set_has(r->set) & CTD_HAS_DOMAIN))
		return;
	domains_of(host, &d);
	for (i = 0; i < d.n; i++)
		if (in != NULL)
			consider(r, d.key[i], now, h, part, "domain %s in %s",
				 host + d.off[i], in);
		else
			consider(r, d.key[i], now, h, part, "domain %s",
				 host + d.off[i]);
}

/* The exact URL (with and without its scheme), then the host and its
 * parent domains, then the address (not when host_done: looked up
 * before): each key computed once, and all their memory asked for before
 * the first lookup waits for it. */
static void lookup_url(const struct set_ref *r, const struct ctd_url *u,
		       int host_done, time_t now, struct hit *h,
		       const vigil_part *part)
{
	const char *show = u->url[0] ? u->url : u->host;
	unsigned has = ctd_set_has(r->set);
	int url = u->url[0] != '\0' &&
		  (has & (u->has_scheme ? CTD_HAS_URL : CTD_HAS_BARE_URL));
	int bare =
	    u->url[0] != '\0' && u->has_scheme && (has & CTD_HAS_BARE_URL);
	int dom = !host_done && !u->host_is_ip && (has & CTD_HAS_DOMAIN);
	int ip = !host_done && u->host_is_ip && (has & CTD_HAS_IP);
	uint64_t k_url = 0, k_bare = 0, k_ip = 0;
	struct domains d;
	size_t i;

	d.n = 0;
	if (url) {
		k_url = key_of(CTD_URL, u->url);
		ctd_set_prefetch(r->set, k_url);
	}
	if (bare) {
		k_bare = key_of(CTD_URL, u->bare);
		ctd_set_prefetch(r->set, k_bare);
	}
	if (dom) {
		domains_of(u->host, &d);
		for (i = 0; i < d.n; i++)
			ctd_set_prefetch(r->set, d.key[i]);
	}
	if (ip) {
		k_ip = key_of(CTD_IP, u->ip);
		ctd_set_prefetch(r->set, k_ip);
	}
	if (url)
		consider(r, k_url, now, h, part, "url %s", u->url);
	if (bare)
		consider(r, k_bare, now, h, part, "url %s", u->url);
	for (i = 0; i < d.n; i++)
		consider(r, d.key[i], now, h, part, "domain %s in %s",
			 u->host + d.off[i], show);
	if (ip)
		consider(r, k_ip, now, h, part, "ip %s in %s", u->ip, show);
}

#define SEEN_SLOTS 256 /* a power of two */
#define HOST_SLOTS 64  /* a power of two */

struct url_scan {
	const struct set_ref *r;
	time_t now;
	struct hit *h;
	const vigil_part *part;
	size_t n, n_seen, n_hosts;
	int cleared; /* seen and hosts are zeroed (at the first URL) */
	uint64_t seen[SEEN_SLOTS];  /* URLs already looked up, as found */
	uint64_t hosts[HOST_SLOTS]; /* hosts whose names were looked up */
	struct ctd_url u;
};

/* 1 when this spelling of a URL was looked up before in this message
 * (bodies repeat their links: text and HTML, href and text). */
static int seen_before(struct url_scan *sc, const char *url, size_t len)
{
	uint64_t k = ctd_key(CTD_URL, url, len);
	size_t at = (size_t)k & (SEEN_SLOTS - 1);

	if (!sc->cleared) {
		memset(sc->seen, 0, sizeof(sc->seen));
		memset(sc->hosts, 0, sizeof(sc->hosts));
		sc->cleared = 1;
	}
	if (sc->n_seen >= SEEN_SLOTS / 2)
		return 0;
	while (sc->seen[at] != 0) {
		if (sc->seen[at] == k)
			return 1;
		at = (at + 1) & (SEEN_SLOTS - 1);
	}
	sc->seen[at] = k;
	sc->n_seen++;
	return 0;
}

/* 1 when the names and address of this host were looked up before in
 * this message: the answers would be the same, and a hit already kept
 * stays (only a more severe one replaces it). Links share hosts. */
static int host_seen(struct url_scan *sc, const char *host)
{
	uint64_t k = key_of(CTD_DOMAIN, host);
	size_t at = (size_t)k & (HOST_SLOTS - 1);

	while (sc->hosts[at] != 0) {
		if (sc->hosts[at] == k)
			return 1;
		at = (at + 1) & (HOST_SLOTS - 1);
	}
	if (sc->n_hosts < HOST_SLOTS / 2) {
		sc->hosts[at] = k;
		sc->n_hosts++;
	}
	return 0;
}

static void url_found(void *arg, const char *url, size_t len)
{
	struct url_scan *sc = arg;
	unsigned host_kinds = CTD_HAS_DOMAIN | CTD_HAS_IP;

	if (sc->n >= MAX_URLS_PER_MESSAGE ||
	    (sc->h->found && ctd_meta_act(sc->h->meta) == CTD_QUARANTINE) ||
	    seen_before(sc, url, len))
		return;
	sc->n++;
	if (ctd_url_norm(url, len, 0, &sc->u) == 0)
		lookup_url(sc->r, &sc->u,
			   (ctd_set_has(sc->r->set) & host_kinds) &&
			       host_seen(sc, sc->u.host),
			   sc->now, sc->h, sc->part);
}

static const char *source_label(const struct ctd_state *st, uint32_t meta,
				char *buf, size_t bufsz)
{
	unsigned i = ctd_meta_source(meta);

	if (i < st->n_src)
		snprintf(buf, bufsz, "%s (%s)", st->src[i].name,
			 st->src[i].origin);
	else
		snprintf(buf, bufsz, "#%u", i);
	return buf;
}

/* ---------------------------------------------------------------------
 * The condition and the hidden rules
 */

static int is_text(const vigil_part *p, int *html_r)
{
	*html_r = strncasecmp(p->content_type, "text/html", 9) == 0 ||
		  strcmp(p->true_type, "html") == 0;
	return *html_r || strncasecmp(p->content_type, "text/", 5) == 0;
}

/* Trace and signature fields: no one follows a link in them, and they
 * are most of a header block's bytes. TRACE_LENGTHS has bit n set for
 * every name n bytes long. */
#define TRACE_LENGTHS                                                          \
	(1u << 8 | 1u << 12 | 1u << 14 | 1u << 19 | 1u << 21 | 1u << 22 |      \
	 1u << 23 | 1u << 26)
static int trace_field(const char *name, size_t n)
{
#define F(s)                                                                   \
	{                                                                      \
		s, sizeof(s) - 1                                               \
	}
	static const struct {
		const char *name;
		size_t len;
	} skip[] = {F("Received"),
		    F("DKIM-Signature"),
		    F("ARC-Seal"),
		    F("ARC-Message-Signature"),
		    F("ARC-Authentication-Results"),
		    F("Authentication-Results"),
		    F("X-Google-DKIM-Signature"),
		    F("Received-SPF"),
		    F("DomainKey-Signature")};
#undef F
	size_t i;

	if (n < 8 || n > 26 || !((1u << n) & TRACE_LENGTHS))
		return 0; /* most fields, at once */
	for (i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		if (skip[i].len == n && strncasecmp(name, skip[i].name, n) == 0)
			return 1;
	return 0;
}

/* The URLs in the header fields of a raw message (up to the empty line),
 * folded lines included, trace and signature fields left out. */
static void scan_header_block(const char *raw, size_t len, struct url_scan *sc)
{
	size_t at = 0;

	while (at < len) {
		size_t start = at, end, line_end = 0;
		const char *colon;

		if (raw[at] == '\n' ||
		    (raw[at] == '\r' && at + 1 < len && raw[at + 1] == '\n'))
			break; /* the empty line: the body follows */
		/* the field: this line and its continuation lines */
		end = at;
		for (;;) {
			const char *nl = memchr(raw + end, '\n', len - end);

			end = nl ? (size_t)(nl - raw) + 1 : len;
			if (line_end == 0)
				line_end = nl ? (size_t)(nl - raw) : len;
			if (end >= len || (raw[end] != ' ' && raw[end] != '\t'))
				break;
		}
		at = end;
		/* the name ends at a colon on the field's first line */
		colon = memchr(raw + start, ':', line_end - start);
		if (colon == NULL ||
		    trace_field(raw + start, (size_t)(colon - raw) - start))
			continue;
		ctd_urls_in_text(colon + 1, (size_t)(raw + end - colon) - 1, 0,
				 url_found, sc);
	}
}

static void scan_urls(vigil_message *msg, struct url_scan *sc)
{
	size_t n, i, raw_len = 0;
	const vigil_part *parts = vigil_message_parts(msg, &n);
	const unsigned char *raw = msg->api->message_raw(msg, &raw_len);
	const char *subject = vigil_message_header(msg, "Subject");

	/* the top-level header fields, then the decoded Subject */
	if (raw != NULL && raw_len > 0)
		scan_header_block((const char *)raw, raw_len, sc);
	if (subject != NULL)
		ctd_urls_in_text(subject, strlen(subject), 0, url_found, sc);
	for (i = 0; i < n; i++) {
		int html;

		if (parts[i].data == NULL || parts[i].size == 0 ||
		    !is_text(&parts[i], &html))
			continue;
		sc->part = &parts[i];
		ctd_urls_in_text((const char *)parts[i].data, parts[i].size,
				 html, url_found, sc);
		if (sc->h->found && ctd_meta_act(sc->h->meta) == CTD_QUARANTINE)
			break;
	}
}

/* One hidden rule (or suspicious_object condition) on a message. Its
 * working space (about 15 KB) is on the stack: no allocation per message. */
static vigil_result eval_rule(void *data, vigil_message *msg, vigil_eval *ev)
{
	const struct cond *c = data;
	struct ctd_state *st = c->st;
	struct set_ref *r = set_acquire(st);
	struct hit h;
	time_t now = time(NULL);
	char src[400];

	if (r == NULL || ctd_set_count(r->set) == 0) {
		set_release(st, r);
		vigil_eval_detail(ev, "no suspicious objects loaded");
		return VIGIL_NO_MATCH;
	}
	h.found = 0;
	h.part = NULL;
	/* nothing of this rule's kinds on any list: nothing to look for */
	if (!(ctd_set_has(r->set) &
	      (c->kind == CTD_FILE ? CTD_HAS_FILE
				   : CTD_HAS_URL | CTD_HAS_BARE_URL |
					 CTD_HAS_DOMAIN | CTD_HAS_IP))) {
		set_release(st, r);
		return VIGIL_NO_MATCH;
	}
	if (c->kind == CTD_FILE) {
		size_t n, i;
		const vigil_part *parts = vigil_message_parts(msg, &n);
		uint64_t k1[64], k256[64]; /* the first parts' keys */

		for (i = 0; i < n && i < 64; i++) {
			k1[i] = key_of(CTD_FILE, parts[i].sha1);
			k256[i] = key_of(CTD_FILE, parts[i].sha256);
			ctd_set_prefetch(r->set, k1[i]);
			ctd_set_prefetch(r->set, k256[i]);
		}
		for (i = 0; i < n; i++) {
			if (parts[i].sha1[0] != '\0')
				lookup_hash(r, parts[i].sha1,
					    i < 64 ? k1[i] : 0, now, &h,
					    &parts[i]);
			if (parts[i].sha256[0] != '\0')
				lookup_hash(r, parts[i].sha256,
					    i < 64 ? k256[i] : 0, now, &h,
					    &parts[i]);
			if (h.found && ctd_meta_act(h.meta) == CTD_QUARANTINE)
				break;
		}
	} else {
		struct url_scan sc;

		sc.r = r;
		sc.now = now;
		sc.h = &h;
		sc.part = NULL;
		sc.n = sc.n_seen = sc.n_hosts = 0;
		sc.cleared = 0;
		scan_urls(msg, &sc);
	}
	set_release(st, r);
	if (!h.found)
		return VIGIL_NO_MATCH;
	vigil_eval_detail(ev, "%s on list %s, action %s", h.what,
			  source_label(st, h.meta, src, sizeof(src)),
			  ctd_act_name(ctd_meta_act(h.meta)));
	if (h.part != NULL)
		vigil_eval_part(ev, h.part);
	if (ev->api->eval_threat != NULL)
		vigil_eval_threat(ev, THREAT);
	if (ctd_meta_act(h.meta) == CTD_LOG && ev->api->eval_intercept != NULL)
		vigil_eval_intercept(ev, VIGIL_ACTION_PASS);
	return VIGIL_MATCH;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* With VIGIL_CTD_TIMING set (tools/bench ctd), the CPU time the rules take
 * is counted, and written to that file when the generation ends. */
static vigil_result cond_eval(void *data, vigil_message *msg, vigil_eval *ev)
{
	struct ctd_state *st = ((const struct cond *)data)->st;
	uint64_t t0;
	vigil_result r;

	if (st->timing == NULL)
		return eval_rule(data, msg, ev);
	{
		/* what the core computes once for every rule is not ours */
		size_t n;

		vigil_message_parts(msg, &n);
		vigil_message_header(msg, "Subject");
	}
	t0 = thread_cpu_ns();
	r = eval_rule(data, msg, ev);
	__atomic_add_fetch(&st->eval_ns, thread_cpu_ns() - t0,
			   __ATOMIC_RELAXED);
	__atomic_add_fetch(&st->evals, 1, __ATOMIC_RELAXED);
	return r;
}

static int parse_kind(const char *s)
{
	if (s != NULL && strcmp(s, "file") == 0)
		return CTD_FILE;
	if (s != NULL && strcmp(s, "url") == 0)
		return CTD_URL;
	return -1;
}

/* { type = "suspicious_object"; kind = "file" | "url"; } in a user rule */
static int cond_compile(void *ctx, const config_setting_t *setting,
			vigil_userdata *cond_r, const char **error_r)
{
	struct ctd_state *st = ctx;
	static const char *const keys[] = {"kind", NULL};
	const char *kind = NULL;
	struct cond *c;

	if (vigil_check_keys(st->host, setting, keys, error_r) != 0)
		return -1;
	if (!config_setting_lookup_string(setting, "kind", &kind) ||
	    parse_kind(kind) < 0) {
		*error_r = vigil_setting_error(
		    st->host, setting,
		    "suspicious_object needs kind = \"file\" or \"url\"");
		return -1;
	}
	c = malloc(sizeof(*c));
	if (c == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	c->st = st;
	c->kind = (enum ctd_kind)parse_kind(kind);
	*cond_r = (vigil_userdata){c, free};
	return 0;
}

static const vigil_condition_ops cond_ops = {
    .type = "suspicious_object",
    .compile = cond_compile,
    .eval = cond_eval,
};

/* ---------------------------------------------------------------------
 * vigil so list|sync|lookup, vigil status
 */

static void list_sources(struct ctd_state *st, FILE *out)
{
	struct set_ref *r = set_acquire(st);
	size_t i;

	fprintf(out, "%-12s %-13s %-28s %9s  %-19s  %s\n", "SOURCE", "TYPE",
		"ORIGIN", "OBJECTS", "LAST SUCCESS", "LAST ERROR");
	pthread_mutex_lock(&st->lock);
	for (i = 0; i < st->n_src; i++) {
		const struct source *s = &st->src[i];
		char t[32];

		fmt_time(s->last_success, t, sizeof(t));
		fprintf(out, "%-12s %-13s %-28s %9zu  %-19s  %s\n", s->name,
			src_type_names[s->type], s->origin, s->count, t,
			s->last_error ? s->last_error : "-");
	}
	pthread_mutex_unlock(&st->lock);
	fprintf(out, "%zu objects in the set (%.1f MB)\n",
		r ? ctd_set_count(r->set) : 0,
		r ? (double)ctd_set_bytes(r->set) / 1e6 : 0.0);
	set_release(st, r);
}

static int list_objects(struct ctd_state *st, const char *name, FILE *out)
{
	char key[96], *text;
	size_t i;

	for (i = 0; i < st->n_src; i++)
		if (strcmp(st->src[i].name, name) == 0)
			break;
	if (i == st->n_src) {
		fprintf(out, "no source '%s'\n", name);
		return 1;
	}
	if (!kv_ok(st)) {
		fprintf(out, "no store: objects are listed from the store\n");
		return 1;
	}
	snprintf(key, sizeof(key), "list/%s", name);
	text = st->host->api->kv_get(st->host, NS, key, NULL);
	if (text == NULL) {
		fprintf(out,
			"%s: no stored list (never synced, or vigil runs "
			"without a store)\n",
			name);
		return 1;
	}
	fprintf(out, "%-7s %-11s %-19s %s\n", "KIND", "ACTION", "EXPIRES",
		"VALUE");
	{
		char *line = text, *nl;

		for (; *line != '\0'; line = nl + 1) {
			char *f[4] = {line, NULL, NULL, NULL}, tbuf[32];
			int k;

			nl = strchr(line, '\n');
			if (nl == NULL)
				break;
			*nl = '\0';
			for (k = 1; k < 4; k++) {
				f[k] = f[k - 1] ? strchr(f[k - 1], '\t') : NULL;
				if (f[k] != NULL)
					*f[k]++ = '\0';
			}
			if (f[3] == NULL)
				continue;
			fmt_time((time_t)strtoll(f[3], NULL, 10), tbuf,
				 sizeof(tbuf));
			fprintf(out, "%-7s %-11s %-19s %s\n", f[0], f[2], tbuf,
				f[1]);
		}
	}
	free(text);
	return 0;
}

static int lookup_cmd(struct ctd_state *st, const char *value, FILE *out)
{
	struct set_ref *r = set_acquire(st);
	struct hit *h = calloc(1, sizeof(*h));
	time_t now = time(NULL);
	int kind = ctd_value_kind(value), rc = 1;
	char norm[CTD_URL_MAX], src[400], t[32];

	if (h == NULL) {
		set_release(st, r);
		return 1;
	}
	switch (kind) {
	case CTD_FILE:
		if (ctd_hash_norm(value, norm, sizeof(norm)) == 0)
			lookup_hash(r, norm, 0, now, h, NULL);
		break;
	case CTD_DOMAIN:
		if (ctd_domain_norm(value, norm, sizeof(norm)) == 0)
			lookup_domain(r, norm, NULL, now, h, NULL);
		break;
	case CTD_IP:
		if (ctd_ip_norm(value, norm, sizeof(norm)) == 0)
			consider(r, key_of(CTD_IP, norm), now, h, NULL, "ip %s",
				 norm);
		break;
	case CTD_URL: {
		struct ctd_url *u = malloc(sizeof(*u));

		if (u != NULL && ctd_url_norm(value, strlen(value), 1, u) == 0)
			lookup_url(r, u, 0, now, h, NULL);
		free(u);
		break;
	}
	default:
		fprintf(out,
			"'%s' is not a SHA-1, SHA-256, URL, domain or IP "
			"address\n",
			value);
		free(h);
		set_release(st, r);
		return 2;
	}
	if (h->found) {
		fmt_time(ctd_meta_expires(h->meta), t, sizeof(t));
		fprintf(out, "%s: on list %s, action %s, expires %s\n", h->what,
			source_label(st, h->meta, src, sizeof(src)),
			ctd_act_name(ctd_meta_act(h->meta)), t);
		rc = 0;
	} else {
		fprintf(out, "%s: not on any list\n", value);
	}
	free(h);
	set_release(st, r);
	return rc;
}

static int so_run(void *ctx, int argc, char **argv, FILE *out)
{
	struct ctd_state *st = ctx;

	if (argc == 0)
		return 2;
	if (strcmp(argv[0], "list") == 0 && argc == 1) {
		list_sources(st, out);
		return 0;
	}
	if (strcmp(argv[0], "list") == 0 && argc == 2)
		return list_objects(st, argv[1], out);
	if (strcmp(argv[0], "sync") == 0 && argc <= 2) {
		size_t i;

		if (argc == 2) {
			for (i = 0; i < st->n_src; i++)
				if (strcmp(st->src[i].name, argv[1]) == 0)
					break;
			if (i == st->n_src) {
				fprintf(out, "no source '%s'\n", argv[1]);
				return 1;
			}
		}
		if (st->n_src == 0)
			fprintf(out, "no sources configured\n");
		return sync_some(st, time(NULL), 1, argc == 2 ? argv[1] : NULL,
				 out) > 0
			   ? 1
			   : 0;
	}
	if (strcmp(argv[0], "lookup") == 0 && argc == 2)
		return lookup_cmd(st, argv[1], out);
	return 2;
}

static void so_status(void *ctx, FILE *out)
{
	struct ctd_state *st = ctx;
	struct set_ref *r = set_acquire(st);
	size_t i;

	fprintf(out, "suspicious objects: %zu in the set, sync every %u s\n",
		r ? ctd_set_count(r->set) : 0, st->interval);
	set_release(st, r);
	pthread_mutex_lock(&st->lock);
	for (i = 0; i < st->n_src; i++) {
		const struct source *s = &st->src[i];
		char t[32];

		fmt_time(s->last_success, t, sizeof(t));
		fprintf(out,
			"  so source %s (%s %s): %zu objects, last success %s, "
			"last error %s\n",
			s->name, src_type_names[s->type], s->origin, s->count,
			t, s->last_error ? s->last_error : "none");
	}
	pthread_mutex_unlock(&st->lock);
}

static const vigil_command_ops so_ops = {
    .name = "so",
    .usage = "so list [SOURCE] | sync [SOURCE] | lookup VALUE",
    .run = so_run,
    .status = so_status,
};

/* ---------------------------------------------------------------------
 * Settings
 */

static const char *str_setting(const config_setting_t *g, const char *key)
{
	const char *v = NULL;

	return config_setting_lookup_string(g, key, &v) ? v : NULL;
}

/* The origin shown beside a source's name: a file's base name or a
 * URL's host[:port]. */
static void set_origin(struct source *s)
{
	if (s->path != NULL) {
		const char *b = strrchr(s->path, '/');

		snprintf(s->origin, sizeof(s->origin), "%s",
			 b ? b + 1 : s->path);
	} else if (s->url != NULL) {
		const char *p = strstr(s->url, "://");
		size_t n;

		p = p ? p + 3 : s->url;
		n = strcspn(p, "/?#");
		snprintf(s->origin, sizeof(s->origin), "%.*s",
			 (int)(n < 200 ? n : 200), p);
	}
}

static int plain_name(const char *s)
{
	size_t i;

	if (s == NULL || *s == '\0' || strlen(s) > 48)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' &&
		    s[i] != '_' && s[i] != '.')
			return 0;
	return 1;
}

static int printable(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

static int parse_source(struct ctd_state *st, const config_setting_t *g,
			struct source *s, const char **error_r)
{
	static const char *const keys[] = {
	    "name",	"action",  "path",	 "url",	    "app_id",
	    "api_key",	"ca_file", "pin_sha256", "timeout", "file_list",
	    "url_list", "columns", NULL};
	vigil_host *h = st->host;
	const char *type = str_setting(g, "type"), *v;
	const config_setting_t *cols;
	int b, i, t = -1;

	if (!config_setting_is_group(g)) {
		*error_r = vigil_setting_error(h, g,
					       "a source is a group { "
					       "type = ...; ... }");
		return -1;
	}
	if (vigil_check_keys(h, g, keys, error_r) != 0)
		return -1;
	for (i = 0; type != NULL && i < 4; i++)
		if (strcmp(type, src_type_names[i]) == 0)
			t = i;
	if (t < 0) {
		*error_r = vigil_setting_error(
		    h, g,
		    "source type must be \"apex_central\", \"list\", \"csv\" "
		    "or \"stix\"");
		return -1;
	}
	s->type = (enum src_type)t;
	s->def = CTD_LOG;
	s->file_list = s->url_list = 1;
	s->timeout = 30;
	if ((v = str_setting(g, "action")) != NULL) {
		int a = ctd_act_parse(v);

		if (a < 0) {
			*error_r = vigil_setting_error(
			    h, config_setting_get_member(g, "action"),
			    "action must be \"log\", \"block\" or "
			    "\"quarantine\"");
			return -1;
		}
		s->def = (enum ctd_act)a;
	}
	s->path = xstrdup(str_setting(g, "path"));
	s->url = xstrdup(str_setting(g, "url"));
	s->ca_file = xstrdup(str_setting(g, "ca_file"));
	s->pin = xstrdup(str_setting(g, "pin_sha256"));
	if (config_setting_lookup_int(g, "timeout", &i)) {
		if (i < 1 || i > 3600) {
			*error_r = vigil_setting_error(
			    h, config_setting_get_member(g, "timeout"),
			    "timeout is 1..3600 seconds");
			return -1;
		}
		s->timeout = (unsigned)i;
	}
	if (config_setting_lookup_bool(g, "file_list", &b))
		s->file_list = b;
	if (config_setting_lookup_bool(g, "url_list", &b))
		s->url_list = b;
	if (s->type == SRC_APEX) {
		s->app_id = xstrdup(str_setting(g, "app_id"));
		s->api_key = xstrdup(str_setting(g, "api_key"));
		if (s->url == NULL || s->path != NULL) {
			*error_r = vigil_setting_error(
			    h, g,
			    "an apex_central source needs url = "
			    "\"https://SERVER\"");
			return -1;
		}
		if (!printable(s->app_id) || !printable(s->api_key)) {
			*error_r = vigil_setting_error(
			    h, g,
			    "an apex_central source needs app_id and api_key "
			    "(printable, no spaces)");
			return -1;
		}
		if (!s->file_list && !s->url_list) {
			*error_r = vigil_setting_error(
			    h, g, "file_list and url_list are both false");
			return -1;
		}
	} else if ((s->path == NULL) == (s->url == NULL)) {
		*error_r = vigil_setting_error(
		    h, g, "a %s source needs either path or url",
		    src_type_names[t]);
		return -1;
	}
	if (s->url != NULL && strncasecmp(s->url, "https://", 8) != 0) {
		*error_r =
		    vigil_setting_error(h, config_setting_get_member(g, "url"),
					"url must start with https://");
		return -1;
	}
	if (s->path != NULL && s->path[0] != '/') {
		*error_r =
		    vigil_setting_error(h, config_setting_get_member(g, "path"),
					"path must be absolute");
		return -1;
	}
	cols = config_setting_get_member(g, "columns");
	if (s->type == SRC_CSV) {
		int any = 0;

		if (cols == NULL || !config_setting_is_group(cols)) {
			*error_r = vigil_setting_error(
			    h, g,
			    "a csv source needs columns = { sha1 = \"...\"; "
			    "url = \"...\"; ... }");
			return -1;
		}
		for (i = 0; i < config_setting_length(cols); i++) {
			const config_setting_t *c =
			    config_setting_get_elem(cols, i);
			const char *k = config_setting_name(c), *cv;
			int j, found = -1;

			for (j = 0; j < COL_COUNT; j++)
				if (strcmp(k, col_keys[j]) == 0)
					found = j;
			cv = config_setting_get_string(c);
			if (found < 0 || cv == NULL || *cv == '\0') {
				*error_r = vigil_setting_error(
				    h, c,
				    "columns: '%s' is not one of sha1, sha256, "
				    "url, domain, ip, action, expires (each a "
				    "column name)",
				    k);
				return -1;
			}
			s->col[found] = strdup(cv);
			if (found <= COL_IP)
				any = 1;
		}
		if (!any) {
			*error_r = vigil_setting_error(
			    h, cols,
			    "columns maps none of sha1, sha256, url, domain, "
			    "ip");
			return -1;
		}
	} else if (cols != NULL) {
		*error_r =
		    vigil_setting_error(h, cols, "columns is for csv sources");
		return -1;
	}
	set_origin(s);
	v = str_setting(g, "name");
	if (v != NULL && !plain_name(v)) {
		*error_r = vigil_setting_error(
		    h, config_setting_get_member(g, "name"),
		    "a source name is letters, digits, '-', '_' and '.'");
		return -1;
	}
	snprintf(s->name, sizeof(s->name), "%s", v ? v : src_default_names[t]);
	return 0;
}

static void source_free(struct source *s)
{
	size_t i;

	free(s->path);
	free(s->url);
	free(s->app_id);
	if (s->api_key != NULL) {
		OPENSSL_cleanse(s->api_key, strlen(s->api_key));
		free(s->api_key);
	}
	free(s->ca_file);
	free(s->pin);
	for (i = 0; i < COL_COUNT; i++)
		free(s->col[i]);
	free(s->last_error);
	ctd_objs_free(&s->objs);
}

static void state_free(struct ctd_state *st)
{
	size_t i;

	if (st == NULL)
		return;
	pthread_mutex_lock(&st->lock);
	st->stop = 1;
	pthread_cond_broadcast(&st->wake);
	pthread_mutex_unlock(&st->lock);
	if (st->thread_started)
		pthread_join(st->thread, NULL);
	if (st->timing != NULL) {
		FILE *f = fopen(st->timing, "a");

		if (f != NULL) {
			fprintf(f, "evals %llu cpu_ns %llu\n",
				(unsigned long long)st->evals,
				(unsigned long long)st->eval_ns);
			fclose(f);
		}
		free(st->timing);
	}
	for (i = 0; i < st->n_src; i++)
		source_free(&st->src[i]);
	set_release(st, st->cur);
	pthread_mutex_destroy(&st->lock);
	pthread_mutex_destroy(&st->sync_lock);
	pthread_cond_destroy(&st->wake);
	free(st);
}

/* Is name used by a named source, or by an earlier one? */
static int name_taken(const struct ctd_state *st, const config_setting_t *list,
		      size_t self, const char *name)
{
	size_t m;

	for (m = 0; m < st->n_src; m++)
		if (m != self && strcmp(st->src[m].name, name) == 0 &&
		    (m < self ||
		     str_setting(config_setting_get_elem(list, (unsigned)m),
				 "name") != NULL))
			return 1;
	return 0;
}

/* Named sources must differ; unnamed ones of one type become local,
 * local-2, ... around them. */
static int name_sources(struct ctd_state *st, const config_setting_t *list,
			const char **error_r)
{
	size_t i, j;

	for (i = 0; i < st->n_src; i++) {
		const config_setting_t *g =
		    config_setting_get_elem(list, (unsigned)i);

		if (str_setting(g, "name") == NULL)
			continue;
		for (j = 0; j < i; j++)
			if (str_setting(
				config_setting_get_elem(list, (unsigned)j),
				"name") != NULL &&
			    strcmp(st->src[i].name, st->src[j].name) == 0) {
				*error_r = vigil_setting_error(
				    st->host, g,
				    "source name '%s' is used twice",
				    st->src[i].name);
				return -1;
			}
	}
	for (i = 0; i < st->n_src; i++) {
		unsigned k = 2;

		if (str_setting(config_setting_get_elem(list, (unsigned)i),
				"name") != NULL ||
		    !name_taken(st, list, i, st->src[i].name))
			continue;
		for (;;) {
			char cand[64];

			snprintf(cand, sizeof(cand), "%s-%u",
				 src_default_names[st->src[i].type], k++);
			if (!name_taken(st, list, i, cand)) {
				snprintf(st->src[i].name,
					 sizeof(st->src[i].name), "%s", cand);
				break;
			}
		}
	}
	return 0;
}

static int ctd_init(vigil_host *h, const config_setting_t *cfg, void **state_r,
		    const char **error_r)
{
	static const char *const keys[] = {"sync_interval", "sources",	"area",
					   "max_objects",   "max_size", NULL};
	static const char *const rule_names[2] = {"Suspicious file detection",
						  "Suspicious URL detection"};
	struct ctd_state *st;
	const config_setting_t *list;
	const char *area = NULL;
	time_t now = time(NULL);
	int v;
	size_t i;

	if (vigil_check_keys(h, cfg, keys, error_r) != 0)
		return -1;
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	st->host = h;
	st->has_store = probe_store(h);
	if (getenv("VIGIL_CTD_TIMING") != NULL && *getenv("VIGIL_CTD_TIMING"))
		st->timing = strdup(getenv("VIGIL_CTD_TIMING"));
	pthread_mutex_init(&st->lock, NULL);
	pthread_mutex_init(&st->sync_lock, NULL);
	pthread_cond_init(&st->wake, NULL);
	st->interval = DEFAULT_INTERVAL;
	st->max_objects = DEFAULT_MAX_OBJECTS;
	st->max_size = DEFAULT_MAX_SIZE;
	if (config_setting_lookup_int(cfg, "sync_interval", &v)) {
		if (v < 10 || v > 7 * 86400) {
			*error_r = vigil_setting_error(
			    h, config_setting_get_member(cfg, "sync_interval"),
			    "sync_interval is 10..604800 seconds");
			goto fail;
		}
		st->interval = (unsigned)v;
	}
	if (config_setting_lookup_int(cfg, "max_objects", &v)) {
		if (v < 1) {
			*error_r = vigil_setting_error(
			    h, config_setting_get_member(cfg, "max_objects"),
			    "max_objects must be positive");
			goto fail;
		}
		st->max_objects = (size_t)v;
	}
	if (config_setting_lookup_int(cfg, "max_size", &v)) {
		if (v < 1024) {
			*error_r = vigil_setting_error(
			    h, config_setting_get_member(cfg, "max_size"),
			    "max_size is at least 1024 bytes");
			goto fail;
		}
		st->max_size = (size_t)v;
	}
	if (config_setting_get_member(cfg, "area") != NULL &&
	    ((area = str_setting(cfg, "area")) == NULL || !plain_name(area))) {
		*error_r = vigil_setting_error(
		    h, config_setting_get_member(cfg, "area"),
		    "area is the name of a quarantine area");
		goto fail;
	}
	list = config_setting_get_member(cfg, "sources");
	if (list != NULL && !config_setting_is_list(list) &&
	    !config_setting_is_array(list)) {
		*error_r = vigil_setting_error(h, list,
					       "sources is a list ( { ... }, "
					       "... )");
		goto fail;
	}
	if (list != NULL && config_setting_length(list) > CTD_MAX_SOURCES) {
		*error_r = vigil_setting_error(h, list, "at most %d sources",
					       CTD_MAX_SOURCES);
		goto fail;
	}
	for (i = 0; list != NULL && i < (size_t)config_setting_length(list);
	     i++) {
		struct source *s = &st->src[st->n_src++];

		s->idx = (unsigned)i;
		if (parse_source(st, config_setting_get_elem(list, (unsigned)i),
				 s, error_r) < 0)
			goto fail;
	}
	if (name_sources(st, list, error_r) < 0)
		goto fail;

	/* the last good lists, then local files as they are now */
	for (i = 0; i < st->n_src; i++) {
		struct source *s = &st->src[i];

		load_saved(st, s, now);
		s->next_due =
		    s->last_attempt > 0 ? s->last_attempt + st->interval : now;
		if (s->path != NULL) {
			pthread_mutex_lock(&st->sync_lock);
			sync_source(st, s, NULL);
			pthread_mutex_unlock(&st->sync_lock);
			s->next_due = now + st->interval;
		}
	}
	if (rebuild(st) < 0) {
		*error_r = "out of memory building the suspicious-object set";
		goto fail;
	}

	if (vigil_register_condition(h, &cond_ops, st, error_r) != 0 ||
	    vigil_register_command(h, &so_ops, st, error_r) != 0)
		goto fail;
	for (i = 0; i < 2; i++) {
		struct cond *c = malloc(sizeof(*c));

		if (c == NULL) {
			*error_r = "out of memory";
			goto fail;
		}
		c->st = st;
		c->kind = i == 0 ? CTD_FILE : CTD_URL;
		if (h->api->register_hidden_rule(
			h, rule_names[i], VIGIL_PHASE_HIDDEN, &cond_ops,
			(vigil_userdata){c, free}, VIGIL_ACTION_QUARANTINE,
			area, error_r) != 0)
			goto fail;
	}
	if (h->api->register_timer(h, 1, timer_fire, (vigil_userdata){st, NULL},
				   error_r) != 0)
		goto fail;
	*state_r = st;
	return 0;
fail:
	state_free(st);
	return -1;
}

static void ctd_fini(void *state)
{
	state_free(state);
}

VIGIL_PLUGIN("ctd", "1.0", .init = ctd_init, .fini = ctd_fini);
