/*
 * spool.c - the durable spool (see spool.h). Files are written beside
 * their final name (queue/.ID.EXT.tmp), flushed with fdatasync(), renamed
 * into place, and the names made durable by a group commit: one fsync()
 * of the queue directory covers every writer waiting at that moment. It must never report a message stored before it is, and
 * never build a path from an unchecked id.
 */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

struct spool {
	char *dir;
	int shard_fd[SPOOL_SHARDS]; /* queue/0 .. queue/f, fsync targets */
	pthread_mutex_t lock;
	unsigned counter;
	/* group commit */
	pthread_cond_t synced_cond;
	unsigned long requested, synced;
	int syncing, sync_error;
	unsigned dirty; /* shards renamed into since the last commit */
};

/* The queue is split by the id's last hex digit, so concurrent sessions
 * do not all contend for one directory's lock. */
static unsigned shard_of(const char *id)
{
	char c = id[strlen(id) - 1];
	return (unsigned)(c <= '9' ? c - '0' : c - 'A' + 10) % SPOOL_SHARDS;
}

const char *spool_dir(const struct spool *sp)
{
	return sp->dir;
}

int spool_id_valid(const char *id)
{
	size_t n = 0;
	for (; id[n]; n++)
		if (!((id[n] >= '0' && id[n] <= '9') ||
		      (id[n] >= 'A' && id[n] <= 'F')))
			return 0;
	return n >= 8 && n < SPOOL_ID_SIZE;
}

static int make_dir(const char *path, char **error_r)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	*error_r = xasprintf("%s: %s", path, strerror(errno));
	return -1;
}

struct spool *spool_open(const char *dir, char **error_r)
{
	static const char *const subdirs[] = {"tmp", "queue", "quarantine"};
	if (make_dir(dir, error_r) != 0)
		return NULL;
	for (size_t i = 0; i < 3; i++) {
		char *p = xasprintf("%s/%s", dir, subdirs[i]);
		int rc = make_dir(p, error_r);
		free(p);
		if (rc != 0)
			return NULL;
	}
	struct spool *sp = xcalloc(1, sizeof *sp);
	sp->dir = xstrdup(dir);
	for (unsigned i = 0; i < SPOOL_SHARDS; i++) {
		char *q = xasprintf("%s/queue/%x", dir, i);
		if (make_dir(q, error_r) == 0) {
			sp->shard_fd[i] = open(q, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (sp->shard_fd[i] < 0)
				*error_r = xasprintf("%s: %s", q, strerror(errno));
		} else {
			sp->shard_fd[i] = -1;
		}
		free(q);
		if (sp->shard_fd[i] < 0) {
			while (i-- > 0)
				close(sp->shard_fd[i]);
			free(sp->dir);
			free(sp);
			return NULL;
		}
	}
	pthread_mutex_init(&sp->lock, NULL);
	pthread_cond_init(&sp->synced_cond, NULL);
	return sp;
}

void spool_close(struct spool *sp)
{
	if (sp == NULL)
		return;
	for (unsigned i = 0; i < SPOOL_SHARDS; i++)
		close(sp->shard_fd[i]);
	pthread_cond_destroy(&sp->synced_cond);
	pthread_mutex_destroy(&sp->lock);
	free(sp->dir);
	free(sp);
}

/* Time, pid and a counter: unique across restarts and threads. */
static void new_id(struct spool *sp, char id_r[SPOOL_ID_SIZE])
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	pthread_mutex_lock(&sp->lock);
	unsigned c = sp->counter++;
	pthread_mutex_unlock(&sp->lock);
	snprintf(id_r, SPOOL_ID_SIZE, "%08llX%05X%05X",
		 (unsigned long long)ts.tv_sec & 0xffffffffULL,
		 (unsigned)getpid() & 0xfffff, c & 0xfffff);
}

static char *path_of(const struct spool *sp, const char *sub, const char *id,
		     const char *ext)
{
	if (strcmp(sub, "queue") == 0)
		return xasprintf("%s/queue/%x/%s.%s", sp->dir, shard_of(id), id,
				 ext);
	return xasprintf("%s/%s/%s.%s", sp->dir, sub, id, ext);
}

/* Write a whole file; with `sync`, fsync it too (else the caller's
 * group commit makes it durable). */
static int write_file(const char *path, const void *data, size_t size,
		      int sync, char **error_r)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	const unsigned char *p = data;
	while (size > 0) {
		ssize_t n = write(fd, p, size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*error_r = xasprintf("%s: %s", path, strerror(errno));
			close(fd);
			unlink(path);
			return -1;
		}
		p += n;
		size -= (size_t)n;
	}
	if ((sync && fdatasync(fd) != 0) || close(fd) != 0) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

static int move_in(const char *from, const char *to, char **error_r)
{
	if (rename(from, to) == 0)
		return 0;
	*error_r = xasprintf("rename %s: %s", to, strerror(errno));
	unlink(from);
	return -1;
}

/* Group commit of the queue directory: make every rename before this call
 * durable. One caller runs fsync() on the directory for all who asked
 * meanwhile; the others wait for it. (File contents are flushed by their
 * writers with fdatasync() before the rename.) */
static int sync_queue(struct spool *sp, const char *id, char **error_r)
{
	pthread_mutex_lock(&sp->lock);
	sp->dirty |= 1u << shard_of(id);
	unsigned long mine = ++sp->requested;
	int err = 0;
	while (sp->synced < mine) {
		if (sp->syncing) {
			pthread_cond_wait(&sp->synced_cond, &sp->lock);
			continue;
		}
		sp->syncing = 1;
		unsigned long upto = sp->requested;
		unsigned dirty = sp->dirty;
		sp->dirty = 0;
		pthread_mutex_unlock(&sp->lock);
		int e = 0;
		for (unsigned i = 0; i < SPOOL_SHARDS; i++)
			if ((dirty & (1u << i)) && fsync(sp->shard_fd[i]) != 0)
				e = errno;
		pthread_mutex_lock(&sp->lock);
		sp->syncing = 0;
		sp->synced = upto;
		sp->sync_error = e;
		pthread_cond_broadcast(&sp->synced_cond);
	}
	err = sp->sync_error;
	pthread_mutex_unlock(&sp->lock);
	if (err == 0)
		return 0;
	*error_r = xasprintf("%s/queue: fsync: %s", sp->dir, strerror(err));
	return -1;
}

/* Write `data` as queue/ID.EXT through queue/.ID.EXT.tmp (a rename within
 * one directory). With `sync` its content is flushed first, and the name
 * is durable after the next sync_queue(). */
static int put_file(struct spool *sp, const char *id, const char *ext,
		    const void *data, size_t size, int sync, char **error_r)
{
	char *tmp = xasprintf("%s/queue/%x/.%s.%s.tmp", sp->dir, shard_of(id),
			      id, ext);
	char *dst = path_of(sp, "queue", id, ext);
	int rc = write_file(tmp, data, size, sync, error_r);
	if (rc == 0)
		rc = move_in(tmp, dst, error_r);
	free(tmp);
	free(dst);
	return rc;
}

int spool_add(struct spool *sp, const unsigned char *data, size_t size,
	      json_t *state, char id_r[SPOOL_ID_SIZE], char **error_r)
{
	new_id(sp, id_r);
	json_object_set_new(state, "id", json_string(id_r));
	char *text = json_dumps(state, JSON_COMPACT);
	int rc = put_file(sp, id_r, "msg", data, size, 1, error_r);
	if (rc == 0)
		rc = put_file(sp, id_r, "env", text, strlen(text), 1, error_r);
	if (rc == 0)
		rc = sync_queue(sp, id_r, error_r);
	if (rc != 0) {
		char *m = path_of(sp, "queue", id_r, "msg");
		char *e = path_of(sp, "queue", id_r, "env");
		unlink(e);
		unlink(m);
		free(m);
		free(e);
	}
	free(text);
	return rc;
}

static int read_file(const char *path, unsigned char **data_r, size_t *size_r,
		     char **error_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	size_t size = (size_t)st.st_size, got = 0;
	unsigned char *buf = xmalloc(size + 1);
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got != size) {
		*error_r = xasprintf("%s: short read", path);
		free(buf);
		return -1;
	}
	buf[size] = '\0';
	*data_r = buf;
	*size_r = size;
	return 0;
}

int spool_read(struct spool *sp, const char *id, const char *kind,
	       unsigned char **data_r, size_t *size_r, char **error_r)
{
	if (!spool_id_valid(id)) {
		*error_r = xasprintf("invalid message id '%s'", id);
		return -1;
	}
	char *path = path_of(sp, "queue", id, kind);
	int rc = read_file(path, data_r, size_r, error_r);
	free(path);
	return rc;
}

int spool_write_out(struct spool *sp, const char *id,
		    const unsigned char *data, size_t size, char **error_r)
{
	return put_file(sp, id, "out", data, size, 0, error_r);
}

json_t *spool_state(struct spool *sp, const char *id, char **error_r)
{
	unsigned char *text;
	size_t size;
	if (spool_read(sp, id, "env", &text, &size, error_r) != 0)
		return NULL;
	json_error_t jerr;
	json_t *st = json_loadb((const char *)text, size, 0, &jerr);
	free(text);
	if (st == NULL)
		*error_r = xasprintf("%s.env: %s", id, jerr.text);
	return st;
}

int spool_set_state(struct spool *sp, const char *id, json_t *state,
		    char **error_r)
{
	char *text = json_dumps(state, JSON_COMPACT);
	int rc = put_file(sp, id, "env", text, strlen(text), 1, error_r);
	free(text);
	return rc == 0 ? sync_queue(sp, id, error_r) : -1;
}

int spool_update_state(struct spool *sp, const char *id, json_t *state,
		       char **error_r)
{
	char *text = json_dumps(state, JSON_COMPACT);
	int rc = put_file(sp, id, "env", text, strlen(text), 0, error_r);
	free(text);
	return rc;
}

int spool_quarantine(struct spool *sp, const char *id, const char *area,
		     char **path_r, char **error_r)
{
	for (const char *p = area; *p; p++)
		if (*p == '/' || (p == area && *p == '.')) {
			*error_r = xasprintf("invalid area name '%s'", area);
			return -1;
		}
	unsigned char *data;
	size_t size;
	if (spool_read(sp, id, "msg", &data, &size, error_r) != 0)
		return -1;
	char *dir = xasprintf("%s/quarantine/%s", sp->dir, area);
	int rc = make_dir(dir, error_r);
	char *tmp = path_of(sp, "tmp", id, "q");
	char *dst = xasprintf("%s/%s.eml", dir, id);
	if (rc == 0)
		rc = write_file(tmp, data, size, 1, error_r);
	if (rc == 0)
		rc = move_in(tmp, dst, error_r);
	if (rc == 0) {
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		*path_r = dst;
		dst = NULL;
	}
	free(data);
	free(dir);
	free(tmp);
	free(dst);
	return rc;
}

int spool_remove(struct spool *sp, const char *id)
{
	if (!spool_id_valid(id))
		return -1;
	static const char *const exts[] = {"env", "out", "msg"};
	for (size_t i = 0; i < 3; i++) {
		char *p = path_of(sp, "queue", id, exts[i]);
		unlink(p);
		free(p);
	}
	return 0;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a > b && strcmp(s + a - b, suffix) == 0;
}

size_t spool_recover(struct spool *sp, void (*fn)(void *ctx, const char *id),
		     void *ctx)
{
	/* tmp/ holds only unfinished writes: none of them was promised */
	char *tmp = xasprintf("%s/tmp", sp->dir);
	DIR *d = opendir(tmp);
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
	free(tmp);

	size_t found = 0;
	for (unsigned shard = 0; shard < SPOOL_SHARDS; shard++) {
		char *queue = xasprintf("%s/queue/%x", sp->dir, shard);
		struct dirent **names = NULL;
		int n = scandir(queue, &names, NULL, alphasort);
		for (int i = 0; i < n; i++) {
			char id[SPOOL_ID_SIZE];
			const char *name = names[i]->d_name;
			size_t len = strcspn(name, ".");
			char *p = xasprintf("%s/%s", queue, name);
			if (name[0] == '.' && ends_with(name, ".tmp")) {
				unlink(p); /* an unfinished write, never promised */
			} else if (len > 0 && len < SPOOL_ID_SIZE) {
				memcpy(id, name, len);
				id[len] = '\0';
				char *env = spool_id_valid(id) ?
						    path_of(sp, "queue", id, "env") :
						    NULL;
				if (env == NULL) {
					/* not ours */
				} else if (access(env, F_OK) != 0) {
					unlink(p); /* an orphan: its state never made it */
				} else if (ends_with(name, ".env")) {
					fn(ctx, id);
					found++;
				}
				free(env);
			}
			free(p);
			free(names[i]);
		}
		free(names);
		free(queue);
	}
	return found;
}
