/*
 * store_sqlite.c - the embedded store backend: one SQLite file in WAL mode.
 *
 * One connection is shared by all of vigild's threads; a mutex around each
 * operation keeps a prepared statement from being stepped by two threads at
 * once. Readers in other processes (the admin tool) work beside it thanks
 * to WAL and a busy timeout. Must never paste a value into SQL text: SQL is
 * made of the fixed fragments in this file, and every value is a bound
 * parameter. Must never print; errors come back as -1/NULL, or as a reason
 * from open. Must never be what makes mail durable: that is the spool.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "util.h"

/* Bump when the schema changes, and teach open_schema() to migrate. */
#define SCHEMA_VERSION 2
#define STR_(x) #x
#define STR(x) STR_(x)
#define BUSY_TIMEOUT_MS 5000
/* Rows deleted per retention step, so the daemon's inserts never wait
 * behind one long delete. */
#define PURGE_BATCH 5000

#define EVENT_COLS                                                             \
	"ts, msg_id, message_id, sender, rcpts, subject, rule, phase, "        \
	"condition, detected, attachment, action, threat_type, scanner, "      \
	"ticket"
#define TRACK_COLS                                                             \
	"msg_id, ts, size, sender, rcpts, subject, message_id, "               \
	"final_action, delivery, updated"
#define QUEUE_COLS                                                             \
	"msg_id, area, ts, due, attempts, sender, rcpts, subject, "            \
	"message_id, rule, detail, size"
/* what `vigil queue list` shows: the Virtual Analyzer's progress too */
#define QUEUE_LIST_COLS QUEUE_COLS ", submitted, last_query"

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta ("
    " key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS events ("
    " id INTEGER PRIMARY KEY,"
    " ts INTEGER NOT NULL,"
    " msg_id TEXT NOT NULL DEFAULT '',"
    " message_id TEXT NOT NULL DEFAULT '',"
    " sender TEXT NOT NULL DEFAULT '',"
    " rcpts TEXT NOT NULL DEFAULT '',"
    " subject TEXT NOT NULL DEFAULT '',"
    " rule TEXT NOT NULL DEFAULT '',"
    " phase TEXT NOT NULL DEFAULT '',"
    " condition TEXT NOT NULL DEFAULT '',"
    " detected TEXT NOT NULL DEFAULT '',"
    " attachment TEXT NOT NULL DEFAULT '',"
    " action TEXT NOT NULL DEFAULT '',"
    " threat_type TEXT NOT NULL DEFAULT '',"
    " scanner TEXT NOT NULL DEFAULT '',"
    " ticket TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX IF NOT EXISTS events_ts ON events (ts);"
    "CREATE INDEX IF NOT EXISTS events_msg_id ON events (msg_id);"
    "CREATE TABLE IF NOT EXISTS tracking ("
    " msg_id TEXT PRIMARY KEY,"
    " ts INTEGER NOT NULL,"
    " size INTEGER NOT NULL DEFAULT 0,"
    " sender TEXT NOT NULL DEFAULT '',"
    " rcpts TEXT NOT NULL DEFAULT '',"
    " subject TEXT NOT NULL DEFAULT '',"
    " message_id TEXT NOT NULL DEFAULT '',"
    " final_action TEXT,"
    " delivery TEXT,"
    " updated INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS tracking_ts ON tracking (ts);"
    "CREATE TABLE IF NOT EXISTS queue ("
    " msg_id TEXT PRIMARY KEY,"
    " area TEXT NOT NULL,"
    " ts INTEGER NOT NULL,"
    " due INTEGER NOT NULL DEFAULT 0,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " sender TEXT NOT NULL DEFAULT '',"
    " rcpts TEXT NOT NULL DEFAULT '',"
    " subject TEXT NOT NULL DEFAULT '',"
    " message_id TEXT NOT NULL DEFAULT '',"
    " rule TEXT NOT NULL DEFAULT '',"
    " detail TEXT NOT NULL DEFAULT '',"
    " size INTEGER NOT NULL DEFAULT 0,"
    " submitted INTEGER NOT NULL DEFAULT 0,"
    " last_query INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS queue_area ON queue (area, ts);"
    "CREATE INDEX IF NOT EXISTS queue_ts ON queue (ts);"
    "CREATE TABLE IF NOT EXISTS kv ("
    " key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS plugin_kv ("
    " ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
    " expires INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (ns, key));"
    "INSERT OR IGNORE INTO meta (key, value)"
    " VALUES ('schema_version', '" STR(SCHEMA_VERSION) "');";

/* Version 1 -> 2: async verdict tickets on events, the Virtual Analyzer's
 * progress on queue rows. */
static const char migrate_v2_sql[] =
    "ALTER TABLE events ADD COLUMN ticket TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE queue ADD COLUMN submitted INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE queue ADD COLUMN last_query INTEGER NOT NULL DEFAULT 0;"
    "UPDATE meta SET value = '2' WHERE key = 'schema_version';";

/* Indexes on columns a migration may have added. */
static const char index_sql[] =
    "CREATE INDEX IF NOT EXISTS events_ticket ON events (ticket)"
    " WHERE ticket != '';"
    "CREATE INDEX IF NOT EXISTS queue_detail ON queue (detail)"
    " WHERE area = 'va';";

enum stmt_id {
	ST_EVENT_ADD,
	ST_TRACK_ARRIVAL,
	ST_TRACK_UPDATE,
	ST_QUEUE_PUT,
	ST_QUEUE_REMOVE,
	ST_QUEUE_GET,
	ST_KV_PUT,
	ST_KV_GET,
	ST_EVENT_NOTE,
	ST_QUEUE_PROGRESS,
	ST_PKV_PUT,
	ST_PKV_DEL,
	ST_PKV_GET,
	ST_PKV_LIST,
	ST_PKV_CLEAR,
	ST_PURGE_EVENTS,
	ST_PURGE_TRACKING,
	ST_COUNT
};

/* The fixed statements, prepared once at open. */
static const char *const stmt_sql[ST_COUNT] = {
    [ST_EVENT_ADD] = "INSERT INTO events (" EVENT_COLS ") VALUES "
		     "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
		     "?13, ?14, ?15)",
    /* the verdict behind an async ticket arrived: the events say so */
    [ST_EVENT_NOTE] = "UPDATE events SET threat_type = ?2, detected = "
		      "CASE WHEN ?3 = '' THEN detected WHEN detected = '' "
		      "THEN ?3 ELSE detected || '; ' || ?3 END, ticket = '' "
		      "WHERE ticket = ?1 AND ticket != ''",
    [ST_QUEUE_PROGRESS] = "UPDATE queue SET submitted = ?2, "
			  "last_query = ?3, attempts = ?4, due = ?5 "
			  "WHERE area = 'va' AND detail = ?1",
    [ST_PKV_PUT] = "INSERT INTO plugin_kv (ns, key, value, expires) VALUES "
		   "(?1, ?2, ?3, ?4) ON CONFLICT (ns, key) DO UPDATE SET "
		   "value = excluded.value, expires = excluded.expires",
    [ST_PKV_DEL] = "DELETE FROM plugin_kv WHERE ns = ?1 AND key = ?2",
    [ST_PKV_GET] = "SELECT value, expires FROM plugin_kv WHERE ns = ?1 AND "
		   "key = ?2 AND (expires = 0 OR expires > ?3)",
    [ST_PKV_LIST] = "SELECT key, value, expires FROM plugin_kv WHERE "
		    "ns = ?1 AND (expires = 0 OR expires > ?2) ORDER BY key",
    /* clearing a namespace also drops its expired rows */
    [ST_PKV_CLEAR] = "DELETE FROM plugin_kv WHERE ns = ?1 OR "
		     "(expires != 0 AND expires <= ?2)",
    /* A second arrival for the same id (the subject became known)
     * replaces the arrival fields and keeps the outcome. */
    [ST_TRACK_ARRIVAL] =
	"INSERT INTO tracking (msg_id, ts, size, sender, rcpts, "
	"subject, message_id, updated) VALUES "
	"(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?2) "
	"ON CONFLICT (msg_id) DO UPDATE SET ts = excluded.ts, "
	"size = excluded.size, sender = excluded.sender, "
	"rcpts = excluded.rcpts, subject = excluded.subject, "
	"message_id = excluded.message_id, updated = excluded.updated",
    /* NULL keeps what is there. An update without an arrival (it failed
     * to store, or expired) still leaves a row, stamped now. */
    [ST_TRACK_UPDATE] =
	"INSERT INTO tracking (msg_id, ts, final_action, delivery, "
	"updated) VALUES (?1, ?4, ?2, ?3, ?4) "
	"ON CONFLICT (msg_id) DO UPDATE SET "
	"final_action = coalesce(excluded.final_action, final_action), "
	"delivery = coalesce(excluded.delivery, delivery), "
	"updated = excluded.updated",
    [ST_QUEUE_PUT] = "INSERT INTO queue (" QUEUE_COLS ") VALUES "
		     "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
		     "ON CONFLICT (msg_id) DO UPDATE SET area = excluded.area, "
		     "ts = excluded.ts, due = excluded.due, "
		     "attempts = excluded.attempts, sender = excluded.sender, "
		     "rcpts = excluded.rcpts, subject = excluded.subject, "
		     "message_id = excluded.message_id, rule = excluded.rule, "
		     "detail = excluded.detail, size = excluded.size",
    [ST_QUEUE_REMOVE] = "DELETE FROM queue WHERE msg_id = ?1",
    [ST_QUEUE_GET] = "SELECT " QUEUE_LIST_COLS " FROM queue WHERE msg_id = ?1",
    [ST_KV_PUT] = "INSERT INTO kv (key, value) VALUES (?1, ?2) "
		  "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [ST_KV_GET] = "SELECT value FROM kv WHERE key = ?1",
    [ST_PURGE_EVENTS] = "DELETE FROM events WHERE id IN (SELECT id FROM "
			"events WHERE ts < ?1 LIMIT ?2)",
    /* a row still being updated inside the window is not old */
    [ST_PURGE_TRACKING] =
	"DELETE FROM tracking WHERE rowid IN (SELECT rowid FROM "
	"tracking WHERE ts < ?1 AND updated < ?1 LIMIT ?2)",
};

struct sqlite_store {
	struct store pub;
	sqlite3 *db;
	pthread_mutex_t lock;
	sqlite3_stmt *st[ST_COUNT];
};

static struct sqlite_store *to_sq(struct store *s)
{
	return (struct sqlite_store *)s;
}

/* ---- binding and stepping ---- */

/* NULL strings are stored as "", so every text column reads back as a
 * string. Values are STATIC: each operation clears its bindings before it
 * lets go of the lock. */
static bool bind_text(sqlite3_stmt *st, int i, const char *v)
{
	return sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_STATIC) ==
	       SQLITE_OK;
}

/* NULL stays NULL (track_update: "keep what is there"). */
static bool bind_opt(sqlite3_stmt *st, int i, const char *v)
{
	if (v == NULL)
		return sqlite3_bind_null(st, i) == SQLITE_OK;
	return bind_text(st, i, v);
}

static bool bind_int(sqlite3_stmt *st, int i, long long v)
{
	return sqlite3_bind_int64(st, i, (sqlite3_int64)v) == SQLITE_OK;
}

/* Run a statement that returns no rows, if its bindings all took; leave
 * it ready for the next caller either way. */
static int run(sqlite3_stmt *st, bool bound)
{
	int rc = bound ? sqlite3_step(st) : SQLITE_MISUSE;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- JSON rows ---- */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	uint32_t cp, min;
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0) {
		len = 2, cp = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, cp = c & 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* A JSON string from stored text. A raw 8-bit subject is not UTF-8, and
 * jansson refuses those: replace each bad byte with U+FFFD rather than
 * lose the row. */
static json_t *json_text(const unsigned char *s, size_t n)
{
	if (s == NULL)
		return json_string("");
	json_t *j = json_stringn((const char *)s, n);
	if (j != NULL)
		return j;
	char *out = xmalloc(3 * n + 1), *o = out;
	for (size_t i = 0; i < n;) {
		size_t len = utf8_seq(s + i, n - i);
		if (len == 0) {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(o, s + i, len);
			o += len;
			i += len;
		}
	}
	j = json_stringn(out, (size_t)(o - out));
	free(out);
	return j ? j : json_string("");
}

static json_t *json_time(time_t t)
{
	struct tm tm;
	char buf[32];
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return json_null();
	return json_string(buf);
}

/* The current row as a flat object keyed by column name; "ts" also comes
 * as "time", ISO-8601 UTC, for people and CSV. */
static json_t *row_json(sqlite3_stmt *st)
{
	json_t *o = json_object();
	int n = sqlite3_column_count(st);
	for (int i = 0; i < n; i++) {
		const char *name = sqlite3_column_name(st, i);
		json_t *v;
		if (name == NULL) {
			json_decref(o);
			return NULL;
		}
		switch (sqlite3_column_type(st, i)) {
		case SQLITE_INTEGER:
			v = json_integer(sqlite3_column_int64(st, i));
			break;
		case SQLITE_FLOAT:
			v = json_real(sqlite3_column_double(st, i));
			break;
		case SQLITE_NULL:
			v = json_null();
			break;
		default:
			v = json_text(sqlite3_column_text(st, i),
				      (size_t)sqlite3_column_bytes(st, i));
			break;
		}
		json_object_set_new(o, name, v);
		if (strcmp(name, "ts") == 0)
			json_object_set_new(
			    o, "time",
			    json_time((time_t)sqlite3_column_int64(st, i)));
	}
	return o;
}

/* ---- glob filters, as SQL functions ---- */

/* "a*@x.org; *@y.org" -> fnmatch patterns in which only `*` and `?` are
 * special: `\` and `[` in an address or subject are meant literally. */
static struct strvec *globs_parse(const char *list)
{
	struct strvec *sv = xcalloc(1, sizeof *sv);
	const char *p = list;
	while (*p) {
		const char *end = strchr(p, ';');
		if (end == NULL)
			end = p + strlen(p);
		const char *b = p, *e = end;
		while (b < e && isspace((unsigned char)*b))
			b++;
		while (e > b && isspace((unsigned char)e[-1]))
			e--;
		if (e > b) {
			char *pat = xmalloc(2 * (size_t)(e - b) + 1), *o = pat;
			for (const char *c = b; c < e; c++) {
				if (*c == '\\' || *c == '[')
					*o++ = '\\';
				*o++ = *c;
			}
			*o = '\0';
			strvec_push(sv, pat);
			free(pat);
		}
		p = *end ? end + 1 : end;
	}
	return sv;
}

static void globs_free(void *p)
{
	strvec_free(p);
	free(p);
}

/* Does the filter hold any pattern? "" and ";" mean "any". */
static bool globs_present(const char *list)
{
	if (list == NULL)
		return false;
	struct strvec *sv = globs_parse(list);
	bool any = sv->n > 0;
	globs_free(sv);
	return any;
}

static bool globs_match(const struct strvec *globs, const char *s)
{
	for (size_t i = 0; i < globs->n; i++)
		if (glob_match(globs->v[i], s))
			return true;
	return false;
}

/* Any of the comma-separated items (spaces around them ignored). */
static bool globs_match_list(const struct strvec *globs, const char *list)
{
	char *item = xmalloc(strlen(list) + 1);
	bool hit = false;
	const char *p = list;
	while (!hit) {
		const char *end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		const char *b = p, *e = end;
		while (b < e && isspace((unsigned char)*b))
			b++;
		while (e > b && isspace((unsigned char)e[-1]))
			e--;
		if (e > b) {
			memcpy(item, b, (size_t)(e - b));
			item[e - b] = '\0';
			hit = globs_match(globs, item);
		}
		if (*end == '\0')
			break;
		p = end + 1;
	}
	free(item);
	return hit;
}

/* vigil_glob(patterns, value): the parsed patterns are kept as auxdata,
 * so a bound filter is parsed once per query, not once per row. */
static void glob_call(sqlite3_context *ctx, sqlite3_value **argv, bool list)
{
	const char *value = (const char *)sqlite3_value_text(argv[1]);
	struct strvec *globs = sqlite3_get_auxdata(ctx, 0);
	bool fresh = false;
	if (globs == NULL) {
		const char *pats = (const char *)sqlite3_value_text(argv[0]);
		globs = globs_parse(pats ? pats : "");
		fresh = true;
	}
	bool hit = value != NULL && (list ? globs_match_list(globs, value)
					  : globs_match(globs, value));
	sqlite3_result_int(ctx, hit);
	/* last: SQLite may free globs before this returns */
	if (fresh)
		sqlite3_set_auxdata(ctx, 0, globs, globs_free);
}

static void sql_glob(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	glob_call(ctx, argv, false);
}

static void sql_glob_list(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	glob_call(ctx, argv, true);
}

/* ---- open and close ---- */

static char *db_error(sqlite3 *db, const char *path, const char *what)
{
	return xasprintf("%s: %s: %s", path, what,
			 db ? sqlite3_errmsg(db) : "out of memory");
}

/* The directory must exist (we do not guess at its owner and mode); the
 * file is created 0640 so the admin tool's group can read it. SQLite gives
 * its -wal and -shm files the same mode. */
static int create_file(const char *path, char **error_r)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash == NULL ? xstrdup(".")
		    : slash == path
			? xstrdup("/")
			: xasprintf("%.*s", (int)(slash - path), path);
	struct stat sb;
	if (stat(dir, &sb) != 0) {
		*error_r = errno == ENOENT
			       ? xasprintf("store directory %s does not "
					   "exist (create it first)",
					   dir)
			       : xasprintf("store directory %s: %s", dir,
					   strerror(errno));
		free(dir);
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		*error_r =
		    xasprintf("store directory %s is not a directory", dir);
		free(dir);
		return -1;
	}
	free(dir);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd >= 0) {
		/* exactly 0640, whatever the umask */
		int rc = fchmod(fd, 0640);
		int saved = errno;
		close(fd);
		if (rc != 0) {
			*error_r = xasprintf("%s: %s", path, strerror(saved));
			return -1;
		}
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	*error_r = xasprintf("cannot create %s: %s", path, strerror(errno));
	return -1;
}

/* journal_mode answers with the mode it ended in: check it is WAL. */
static int set_wal(sqlite3 *db, const char *path, char **error_r)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL) !=
		SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		*error_r = db_error(db, path, "cannot switch to WAL");
		sqlite3_finalize(st);
		return -1;
	}
	const char *mode = (const char *)sqlite3_column_text(st, 0);
	int rc = 0;
	if (mode == NULL || strcmp(mode, "wal") != 0) {
		*error_r = xasprintf("%s: cannot switch to WAL (journal mode "
				     "is %s)",
				     path, mode ? mode : "unknown");
		rc = -1;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Create what is missing, then check the version we found. */
static int open_schema(sqlite3 *db, const char *path, char **error_r)
{
	char *msg = NULL;
	/* A read-only connection (an admin without write permission) can
	 * only read what vigild created. */
	if (sqlite3_db_readonly(db, "main") != 1) {
		if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) !=
			SQLITE_OK ||
		    sqlite3_exec(db, schema_sql, NULL, NULL, &msg) !=
			SQLITE_OK ||
		    sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
			*error_r = xasprintf("%s: cannot create the schema: %s",
					     path, msg ? msg : "unknown error");
			sqlite3_free(msg);
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
	}
	sqlite3_stmt *st = NULL;
	int version = -1;
	if (sqlite3_prepare_v2(db,
			       "SELECT value FROM meta WHERE key = "
			       "'schema_version'",
			       -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version < 0) {
		*error_r = db_error(db, path, "no schema version");
		return -1;
	}
	if (version == 1 && sqlite3_db_readonly(db, "main") != 1) {
		if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) !=
			SQLITE_OK ||
		    sqlite3_exec(db, migrate_v2_sql, NULL, NULL, &msg) !=
			SQLITE_OK ||
		    sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
			*error_r = xasprintf("%s: cannot migrate the schema "
					     "to version 2: %s",
					     path, msg ? msg : "unknown error");
			sqlite3_free(msg);
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
		version = 2;
	}
	if (sqlite3_db_readonly(db, "main") != 1 && version == SCHEMA_VERSION &&
	    sqlite3_exec(db, index_sql, NULL, NULL, &msg) != SQLITE_OK) {
		*error_r = xasprintf("%s: cannot create indexes: %s", path,
				     msg ? msg : "unknown error");
		sqlite3_free(msg);
		return -1;
	}
	if (version < SCHEMA_VERSION) {
		*error_r = xasprintf("%s: schema version %d needs a migration "
				     "(open it once with write access)",
				     path, version);
		return -1;
	}
	if (version > SCHEMA_VERSION) {
		*error_r = xasprintf("%s: schema version %d is newer than this "
				     "vigil's (%d)",
				     path, version, SCHEMA_VERSION);
		return -1;
	}
	return 0;
}

static void sq_close(struct store *s)
{
	struct sqlite_store *q = to_sq(s);
	if (q == NULL)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(q->st[i]);
	if (q->db != NULL) {
		sqlite3_exec(q->db, "PRAGMA optimize", NULL, NULL, NULL);
		sqlite3_close(q->db);
	}
	pthread_mutex_destroy(&q->lock);
	free(q);
}

static int sq_open(const char *target, struct store **store_r, char **error_r)
{
	*store_r = NULL;
	if (create_file(target, error_r) != 0)
		return -1;
	struct sqlite_store *q = xcalloc(1, sizeof *q);
	q->pub.ops = &store_sqlite_ops;
	pthread_mutex_init(&q->lock, NULL);
	/* FULLMUTEX as well as our lock: the connection stays safe even in
	 * a path that forgets the lock. */
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX;
	if (sqlite3_open_v2(target, &q->db, flags, NULL) != SQLITE_OK) {
		*error_r = db_error(q->db, target, "cannot open");
		goto fail;
	}
	/* so the admin tool can read, and two writers wait, not fail */
	sqlite3_busy_timeout(q->db, BUSY_TIMEOUT_MS);
	if (set_wal(q->db, target, error_r) != 0)
		goto fail;
	/* NORMAL, not FULL: a crash may lose the last commits of the store,
	 * never the database itself. Mail is made durable by the spool
	 * (fsync'd before the 250), and the store only records about it. */
	if (sqlite3_exec(q->db, "PRAGMA synchronous=NORMAL", NULL, NULL,
			 NULL) != SQLITE_OK) {
		*error_r = db_error(q->db, target, "PRAGMA synchronous");
		goto fail;
	}
	int fflags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY;
	if (sqlite3_create_function_v2(q->db, "vigil_glob", 2, fflags, NULL,
				       sql_glob, NULL, NULL,
				       NULL) != SQLITE_OK ||
	    sqlite3_create_function_v2(q->db, "vigil_glob_list", 2, fflags,
				       NULL, sql_glob_list, NULL, NULL,
				       NULL) != SQLITE_OK) {
		*error_r = db_error(q->db, target, "cannot register functions");
		goto fail;
	}
	if (open_schema(q->db, target, error_r) != 0)
		goto fail;
	for (int i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v3(q->db, stmt_sql[i], -1,
				       SQLITE_PREPARE_PERSISTENT, &q->st[i],
				       NULL) != SQLITE_OK) {
			*error_r = db_error(q->db, target, "cannot prepare");
			goto fail;
		}
	}
	*store_r = &q->pub;
	return 0;
fail:
	sq_close(&q->pub);
	return -1;
}

/* ---- writes ---- */

static int sq_event_add(struct store *s, const struct store_event *e)
{
	struct sqlite_store *q = to_sq(s);
	pthread_mutex_lock(&q->lock);
	sqlite3_stmt *st = q->st[ST_EVENT_ADD];
	bool ok =
	    bind_int(st, 1, e->ts) && bind_text(st, 2, e->msg_id) &&
	    bind_text(st, 3, e->message_id) && bind_text(st, 4, e->sender) &&
	    bind_text(st, 5, e->rcpts) && bind_text(st, 6, e->subject) &&
	    bind_text(st, 7, e->rule) && bind_text(st, 8, e->phase) &&
	    bind_text(st, 9, e->condition) && bind_text(st, 10, e->detected) &&
	    bind_text(st, 11, e->attachment) && bind_text(st, 12, e->action) &&
	    bind_text(st, 13, e->threat_type) && bind_text(st, 14, e->scanner) &&
	    bind_text(st, 15, e->ticket);
	int rc = run(st, ok);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

static int sq_track_arrival(struct store *s, const char *msg_id, time_t ts,
			    long long size, const char *sender,
			    const char *rcpts, const char *subject,
			    const char *message_id)
{
	struct sqlite_store *q = to_sq(s);
	if (msg_id == NULL)
		return -1;
	pthread_mutex_lock(&q->lock);
	sqlite3_stmt *st = q->st[ST_TRACK_ARRIVAL];
	bool ok = bind_text(st, 1, msg_id) && bind_int(st, 2, ts) &&
		  bind_int(st, 3, size) && bind_text(st, 4, sender) &&
		  bind_text(st, 5, rcpts) && bind_text(st, 6, subject) &&
		  bind_text(st, 7, message_id);
	int rc = run(st, ok);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

static int sq_track_update(struct store *s, const char *msg_id,
			   const char *final_action, const char *delivery)
{
	struct sqlite_store *q = to_sq(s);
	if (msg_id == NULL)
		return -1;
	pthread_mutex_lock(&q->lock);
	sqlite3_stmt *st = q->st[ST_TRACK_UPDATE];
	bool ok = bind_text(st, 1, msg_id) && bind_opt(st, 2, final_action) &&
		  bind_opt(st, 3, delivery) && bind_int(st, 4, time(NULL));
	int rc = run(st, ok);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

static int sq_queue_put(struct store *s, const struct store_queue_entry *e)
{
	struct sqlite_store *q = to_sq(s);
	if (e->msg_id == NULL || e->area == NULL)
		return -1;
	pthread_mutex_lock(&q->lock);
	sqlite3_stmt *st = q->st[ST_QUEUE_PUT];
	bool ok = bind_text(st, 1, e->msg_id) && bind_text(st, 2, e->area) &&
		  bind_int(st, 3, e->ts) && bind_int(st, 4, e->due) &&
		  bind_int(st, 5, e->attempts) && bind_text(st, 6, e->sender) &&
		  bind_text(st, 7, e->rcpts) && bind_text(st, 8, e->subject) &&
		  bind_text(st, 9, e->message_id) &&
		  bind_text(st, 10, e->rule) && bind_text(st, 11, e->detail) &&
		  bind_int(st, 12, e->size);
	int rc = run(st, ok);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

/* Removing an id that is not there is not an error: the caller's wish
 * (it is gone) holds. */
static int sq_queue_remove(struct store *s, const char *msg_id)
{
	struct sqlite_store *q = to_sq(s);
	if (msg_id == NULL)
		return -1;
	pthread_mutex_lock(&q->lock);
	sqlite3_stmt *st = q->st[ST_QUEUE_REMOVE];
	int rc = run(st, bind_text(st, 1, msg_id));
	pthread_mutex_unlock(&q->lock);
	return rc;
}

static int sq_kv_put(struct store *s, const char *key, const char *value)
{
	struct sqlite_store *q = to_sq(s);
	if (key == NULL)
		return -1;
	pthread_mutex_lock(&q->lock);
	sqlite3_stmt *st = q->st[ST_KV_PUT];
	int rc = run(st, bind_text(st, 1, key) && bind_text(st, 2, value));
	pthread_mutex_unlock(&q->lock);
	return rc;
}

static int sq_event_note(struct store *s, const char *ticket,
			 const char *threat_type, const char *detail)
{
	struct sqlite_store *q = to_sq(s);
	if (ticket == NULL || *ticket == '\0')
		return -1;
	pthread_mutex_lock(&q->lock);
	sqlite3_stmt *st = q->st[ST_EVENT_NOTE];
	int rc = run(st, bind_text(st, 1, ticket) &&
			     bind_text(st, 2, threat_type) &&
			     bind_text(st, 3, detail));
	pthread_mutex_unlock(&q->lock);
	return rc;
}

static int sq_queue_progress(struct store *s, const char *ticket,
			     time_t submitted, time_t last_query, int attempts,
			     time_t due)
{
	struct sqlite_store *q = to_sq(s);
	if (ticket == NULL)
		return -1;
	pthread_mutex_lock(&q->lock);
	sqlite3_stmt *st = q->st[ST_QUEUE_PROGRESS];
	int rc = run(st, bind_text(st, 1, ticket) && bind_int(st, 2, submitted) &&
			     bind_int(st, 3, last_query) &&
			     bind_int(st, 4, attempts) && bind_int(st, 5, due));
	pthread_mutex_unlock(&q->lock);
	return rc;
}

static int sq_pkv_put(struct store *s, const char *ns, const char *key,
		      const char *value, time_t expires)
{
	struct sqlite_store *q = to_sq(s);
	if (ns == NULL || key == NULL)
		return -1;
	pthread_mutex_lock(&q->lock);
	sqlite3_stmt *st = q->st[value ? ST_PKV_PUT : ST_PKV_DEL];
	bool ok = bind_text(st, 1, ns) && bind_text(st, 2, key);
	if (value != NULL)
		ok = ok && bind_text(st, 3, value) && bind_int(st, 4, expires);
	int rc = run(st, ok);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

static char *sq_pkv_get(struct store *s, const char *ns, const char *key,
			time_t *expires_r)
{
	struct sqlite_store *q = to_sq(s);
	if (ns == NULL || key == NULL)
		return NULL;
	pthread_mutex_lock(&q->lock);
	sqlite3_stmt *st = q->st[ST_PKV_GET];
	char *value = NULL;
	if (bind_text(st, 1, ns) && bind_text(st, 2, key) &&
	    bind_int(st, 3, time(NULL)) && sqlite3_step(st) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		value = xstrdup(v ? v : "");
		if (expires_r != NULL)
			*expires_r = (time_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	pthread_mutex_unlock(&q->lock);
	return value;
}

/* The rows are read under the lock, then handed to `each` without it, so
 * the callback may use the store. */
static int sq_pkv_foreach(struct store *s, const char *ns,
			  int (*each)(void *ctx, const char *key,
				      const char *value, time_t expires),
			  void *ctx)
{
	struct sqlite_store *q = to_sq(s);
	if (ns == NULL)
		return -1;
	struct strvec keys = {0}, values = {0};
	time_t *exp = NULL;
	size_t cap = 0;
	pthread_mutex_lock(&q->lock);
	sqlite3_stmt *st = q->st[ST_PKV_LIST];
	int rc = SQLITE_MISUSE;
	if (bind_text(st, 1, ns) && bind_int(st, 2, time(NULL)))
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *k = (const char *)sqlite3_column_text(st, 0);
			const char *v = (const char *)sqlite3_column_text(st, 1);
			if (keys.n == cap) {
				cap = cap ? cap * 2 : 64;
				exp = xrealloc(exp, cap * sizeof *exp);
			}
			exp[keys.n] = (time_t)sqlite3_column_int64(st, 2);
			strvec_push(&keys, k ? k : "");
			strvec_push(&values, v ? v : "");
		}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	pthread_mutex_unlock(&q->lock);
	for (size_t i = 0; rc == SQLITE_DONE && i < keys.n; i++)
		if (each(ctx, keys.v[i], values.v[i], exp[i]) != 0)
			break;
	strvec_free(&keys);
	strvec_free(&values);
	free(exp);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int sq_pkv_clear(struct store *s, const char *ns)
{
	struct sqlite_store *q = to_sq(s);
	if (ns == NULL)
		return -1;
	pthread_mutex_lock(&q->lock);
	sqlite3_stmt *st = q->st[ST_PKV_CLEAR];
	int rc = run(st, bind_text(st, 1, ns) && bind_int(st, 2, time(NULL)));
	pthread_mutex_unlock(&q->lock);
	return rc;
}

/* Delete one table's old rows in batches, letting go of the lock between
 * batches so the daemon's inserts slip in. */
static int purge(struct sqlite_store *q, enum stmt_id id, time_t cutoff)
{
	for (;;) {
		pthread_mutex_lock(&q->lock);
		sqlite3_stmt *st = q->st[id];
		int rc = run(st, bind_int(st, 1, cutoff) &&
				     bind_int(st, 2, PURGE_BATCH));
		int n = rc == 0 ? sqlite3_changes(q->db) : 0;
		pthread_mutex_unlock(&q->lock);
		if (rc != 0)
			return -1;
		if (n < PURGE_BATCH)
			return 0;
	}
}

/* Events and tracking age out. Queue rows do not: each one stands for a
 * message vigil still holds on disk (a quarantined copy, a deferred
 * delivery), so dropping the row would orphan the file and hide the
 * message from the administrator. They leave by queue_remove, when the
 * message is released, delivered, deleted or expired by its area. */
static int sq_retention(struct store *s, int days, time_t now)
{
	struct sqlite_store *q = to_sq(s);
	if (days <= 0)
		return 0; /* keep everything */
	time_t cutoff = now - (time_t)days * 86400;
	int rc = purge(q, ST_PURGE_EVENTS, cutoff);
	if (purge(q, ST_PURGE_TRACKING, cutoff) != 0)
		rc = -1;
	return rc;
}

/* ---- reads ---- */

static json_t *sq_queue_get(struct store *s, const char *msg_id)
{
	struct sqlite_store *q = to_sq(s);
	if (msg_id == NULL)
		return NULL;
	pthread_mutex_lock(&q->lock);
	sqlite3_stmt *st = q->st[ST_QUEUE_GET];
	json_t *row = NULL;
	if (bind_text(st, 1, msg_id) && sqlite3_step(st) == SQLITE_ROW)
		row = row_json(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	pthread_mutex_unlock(&q->lock);
	return row;
}

static char *sq_kv_get(struct store *s, const char *key)
{
	struct sqlite_store *q = to_sq(s);
	if (key == NULL)
		return NULL;
	pthread_mutex_lock(&q->lock);
	sqlite3_stmt *st = q->st[ST_KV_GET];
	char *value = NULL;
	if (bind_text(st, 1, key) && sqlite3_step(st) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		value = xstrdup(v ? v : "");
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	pthread_mutex_unlock(&q->lock);
	return value;
}

/* since, until, sender, recipient, subject, area (two), limit */
#define MAX_BINDS 8

/* A list query: SQL from fixed fragments, values kept aside for binding. */
struct query {
	char *sql;
	int nwhere;
	struct {
		bool text;
		long long i;
		const char *s;
	} b[MAX_BINDS];
	int nb;
};

static void q_append(struct query *qr, const char *a, const char *b)
{
	char *t = xasprintf("%s%s%s", qr->sql, a, b);
	free(qr->sql);
	qr->sql = t;
}

static void q_where(struct query *qr, const char *fragment)
{
	q_append(qr, qr->nwhere++ ? " AND " : " WHERE ", fragment);
}

static void q_int(struct query *qr, long long v)
{
	qr->b[qr->nb].text = false;
	qr->b[qr->nb++].i = v;
}

static void q_text(struct query *qr, const char *v)
{
	qr->b[qr->nb].text = true;
	qr->b[qr->nb++].s = v;
}

/* Rows of `table` matching the filter, newest first. area only applies
 * to tables that have one. */
static json_t *list(struct sqlite_store *q, const char *cols, const char *table,
		    bool has_area, const struct store_filter *f)
{
	static const struct store_filter any;
	struct query qr = {.sql = xasprintf("SELECT %s FROM %s", cols, table)};
	char *area_end = NULL;
	if (f == NULL)
		f = &any;
	if (f->since) {
		q_where(&qr, "ts >= ?");
		q_int(&qr, f->since);
	}
	if (f->until) {
		q_where(&qr, "ts <= ?");
		q_int(&qr, f->until);
	}
	if (globs_present(f->sender)) {
		q_where(&qr, "vigil_glob(?, sender)");
		q_text(&qr, f->sender);
	}
	if (globs_present(f->recipient)) {
		q_where(&qr, "vigil_glob_list(?, rcpts)");
		q_text(&qr, f->recipient);
	}
	if (globs_present(f->subject)) {
		q_where(&qr, "vigil_glob(?, subject)");
		q_text(&qr, f->subject);
	}
	size_t alen = f->area ? strlen(f->area) : 0;
	if (has_area && alen > 0 && f->area[alen - 1] == ':') {
		/* "quarantine:" .. "quarantine;" (';' follows ':'), so the
		 * (area, ts) index serves the prefix too */
		area_end = xstrdup(f->area);
		area_end[alen - 1]++;
		q_where(&qr, "area >= ? AND area < ?");
		q_text(&qr, f->area);
		q_text(&qr, area_end);
	} else if (has_area && alen > 0) {
		q_where(&qr, "area = ?");
		q_text(&qr, f->area);
	}
	q_append(&qr, " ORDER BY ts DESC, rowid DESC LIMIT ?", "");
	q_int(&qr, f->limit > 0 ? f->limit : -1);

	json_t *rows = json_array();
	pthread_mutex_lock(&q->lock);
	sqlite3_stmt *st = NULL;
	bool ok = sqlite3_prepare_v2(q->db, qr.sql, -1, &st, NULL) == SQLITE_OK;
	for (int i = 0; ok && i < qr.nb; i++)
		ok = qr.b[i].text ? bind_text(st, i + 1, qr.b[i].s)
				  : bind_int(st, i + 1, qr.b[i].i);
	int rc = SQLITE_MISUSE;
	while (ok && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *row = row_json(st);
		if (row == NULL) {
			ok = false;
			break;
		}
		json_array_append_new(rows, row);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&q->lock);
	free(qr.sql);
	free(area_end);
	if (!ok || rc != SQLITE_DONE) {
		json_decref(rows);
		return NULL;
	}
	return rows;
}

static json_t *sq_queue_list(struct store *s, const struct store_filter *f)
{
	return list(to_sq(s), QUEUE_LIST_COLS, "queue", true, f);
}

static json_t *sq_events(struct store *s, const struct store_filter *f)
{
	return list(to_sq(s), EVENT_COLS, "events", false, f);
}

static json_t *sq_tracking(struct store *s, const struct store_filter *f)
{
	return list(to_sq(s), TRACK_COLS, "tracking", false, f);
}

const struct store_ops store_sqlite_ops = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .event_add = sq_event_add,
    .track_arrival = sq_track_arrival,
    .track_update = sq_track_update,
    .queue_put = sq_queue_put,
    .queue_remove = sq_queue_remove,
    .queue_list = sq_queue_list,
    .queue_get = sq_queue_get,
    .events = sq_events,
    .tracking = sq_tracking,
    .kv_put = sq_kv_put,
    .kv_get = sq_kv_get,
    .event_note = sq_event_note,
    .queue_progress = sq_queue_progress,
    .pkv_put = sq_pkv_put,
    .pkv_get = sq_pkv_get,
    .pkv_foreach = sq_pkv_foreach,
    .pkv_clear = sq_pkv_clear,
    .retention = sq_retention,
};
