/*
 * check_store.c - the store's promises: it opens (or says clearly why
 * not), filters read back exactly what the glob, time and area filters
 * describe, newest first; values reach SQLite as data, never as SQL; upserts
 * update in place; retention drops old events and tracking but never queue
 * rows; one store serves many threads; a second connection (the admin tool)
 * reads beside the daemon's. Prints the measured insert rate.
 */
#include <check.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "util.h"

#define DAY 86400

/* A database path in a fresh directory (malloc'd). */
static char *fresh_db(void)
{
	char dir[] = "/tmp/vigil-store-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	return xasprintf("%s/vigil.db", dir);
}

static void remove_db(char *path)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", NULL};
	for (size_t i = 0; suffixes[i]; i++) {
		char *p = xasprintf("%s%s", path, suffixes[i]);
		unlink(p);
		free(p);
	}
	*strrchr(path, '/') = '\0';
	rmdir(path);
	free(path);
}

static struct store *open_ok(const char *path)
{
	struct store *s = NULL;
	char *err = NULL;
	int rc = store_open("sqlite", path, &s, &err);
	ck_assert_msg(rc == 0, "store_open %s: %s", path, err);
	ck_assert_ptr_nonnull(s);
	return s;
}

/* "a,b,c": the msg_id of each row, in order; NULL rows -> "(error)". */
static char *ids(json_t *rows)
{
	if (!json_is_array(rows))
		return xstrdup("(error)");
	char *out = xstrdup("");
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		char *t = xasprintf(
		    "%s%s%s", out, i ? "," : "",
		    json_string_value(json_object_get(row, "msg_id")));
		free(out);
		out = t;
	}
	return out;
}

static const char *str(json_t *row, const char *key)
{
	json_t *v = json_object_get(row, key);
	ck_assert_msg(json_is_string(v), "%s is not a string", key);
	return json_string_value(v);
}

static long long num(json_t *row, const char *key)
{
	json_t *v = json_object_get(row, key);
	ck_assert_msg(json_is_integer(v), "%s is not an integer", key);
	return json_integer_value(v);
}

static long long count(struct store *s)
{
	json_t *rows = s->ops->events(s, NULL);
	ck_assert_ptr_nonnull(rows);
	long long n = (long long)json_array_size(rows);
	json_decref(rows);
	return n;
}

/* ---- open ---- */

START_TEST(test_open_errors)
{
	char *path = fresh_db();
	char *garbage = xasprintf("%s.txt", path);
	FILE *f = fopen(garbage, "w");
	ck_assert_ptr_nonnull(f);
	fputs("this is not an SQLite database, not even close to one.\n"
	      "this is not an SQLite database, not even close to one.\n",
	      f);
	fclose(f);
	const struct {
		const char *backend, *target, *error;
	} cases[] = {
	    {"postgres", path,
	     "unknown store backend 'postgres' (known: "
	     "sqlite)"},
	    {"SQLite", path, "unknown store backend 'SQLite'"},
	    {"sqlite", "/nonexistent-vigil-dir/sub/vigil.db",
	     "store directory /nonexistent-vigil-dir/sub does not exist"},
	    {"sqlite", "/etc/passwd/vigil.db", "is not a directory"},
	    {"sqlite", "", "needs a target"},
	    {"sqlite", garbage, "not a database"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct store *s = (struct store *)&s;
		char *err = NULL;
		int rc =
		    store_open(cases[i].backend, cases[i].target, &s, &err);
		ck_assert_msg(rc == -1, "case %zu opened", i);
		ck_assert_ptr_null(s);
		ck_assert_ptr_nonnull(err);
		ck_assert_msg(strstr(err, cases[i].error) != NULL,
			      "case %zu: '%s' lacks '%s'", i, err,
			      cases[i].error);
		free(err);
	}
	unlink(garbage);
	free(garbage);
	remove_db(path);
}
END_TEST

START_TEST(test_open_creates_wal_0640)
{
	char *path = fresh_db();
	mode_t old = umask(077);
	struct store *s = open_ok(path);
	umask(old);
	struct stat sb;
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0640);
	/* a plain connection sees WAL mode and the schema version */
	sqlite3 *db;
	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
			 SQLITE_OK);
	static const struct {
		const char *sql, *want;
	} cases[] = {
	    {"PRAGMA journal_mode", "wal"},
	    {"SELECT value FROM meta WHERE key = 'schema_version'", "2"},
	    {"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
	     "name IN ('events', 'tracking', 'queue', 'kv', 'meta')",
	     "5"},
	    {"SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
	     "name IN ('events_ts', 'events_msg_id', 'tracking_ts', "
	     "'queue_area', 'queue_ts')",
	     "5"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		sqlite3_stmt *st;
		ck_assert_int_eq(
		    sqlite3_prepare_v2(db, cases[i].sql, -1, &st, NULL),
		    SQLITE_OK);
		ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
		ck_assert_str_eq((const char *)sqlite3_column_text(st, 0),
				 cases[i].want);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	/* SQLite gives its -wal and -shm files the database's mode */
	struct store_event e = {.ts = 1, .msg_id = "m"};
	ck_assert_int_eq(s->ops->event_add(s, &e), 0);
	static const char *const side[] = {"-wal", "-shm"};
	for (size_t i = 0; i < 2; i++) {
		char *p = xasprintf("%s%s", path, side[i]);
		ck_assert_int_eq(stat(p, &sb), 0);
		ck_assert_int_eq(sb.st_mode & 0777, 0640);
		free(p);
	}
	s->ops->close(s);
	/* opening again keeps the schema and does not complain */
	s = open_ok(path);
	s->ops->close(s);
	remove_db(path);
}
END_TEST

/* ---- events and filters ---- */

/* Sender and subject that would break SQL pasted together by hand. */
#define NASTY_SENDER "o'brien%_\\@x.org"
#define NASTY_SUBJECT "50% off_it's \\ [sale]' OR '1'='1"

static const struct store_event seed_events[] = {
    {.ts = 1000,
     .msg_id = "e1",
     .message_id = "<1@x>",
     .sender = "alice@example.org",
     .rcpts = "bob@example.com,carol@example.net",
     .subject = "Invoice 42",
     .rule = "r1",
     .phase = "content",
     .condition = "virus",
     .detected = "EICAR",
     .attachment = "a.exe",
     .action = "quarantine",
     .threat_type = "",
     .scanner = "node1"},
    {.ts = 2000,
     .msg_id = "e2",
     .sender = "Mallory@Evil.test",
     .rcpts = "dave@example.com",
     .subject = "URGENT: wire transfer"},
    {.ts = 3000,
     .msg_id = "e3",
     .sender = "bob@example.com",
     .rcpts = "alice@example.org, eve@example.net",
     .subject = "Re: invoice 43"},
    {.ts = 4000,
     .msg_id = "e4",
     .sender = NASTY_SENDER,
     .rcpts = "x@x.org",
     .subject = NASTY_SUBJECT},
    {.ts = 5000,
     .msg_id = "e5",
     .sender = "carol@example.net",
     .rcpts = "a@y.com,b@x.com",
     .subject = "lunch"},
};

static struct store *seeded(char **path_r)
{
	*path_r = fresh_db();
	struct store *s = open_ok(*path_r);
	/* out of order: the list, not the insert, decides the order */
	static const int order[] = {2, 0, 4, 1, 3};
	for (size_t i = 0; i < 5; i++)
		ck_assert_int_eq(s->ops->event_add(s, &seed_events[order[i]]),
				 0);
	return s;
}

START_TEST(test_event_filters)
{
	static const struct {
		struct store_filter f;
		const char *want;
	} cases[] = {
	    {{0}, "e5,e4,e3,e2,e1"},
	    {{.since = 2000}, "e5,e4,e3,e2"},
	    {{.until = 2000}, "e2,e1"},
	    {{.since = 2000, .until = 3000}, "e3,e2"},
	    {{.since = 6000}, ""},
	    {{.sender = "alice@example.org"}, "e1"},
	    {{.sender = "ALICE@EXAMPLE.ORG"}, "e1"},
	    {{.sender = "mallory@evil.test"}, "e2"},
	    {{.sender = "*@example.com"}, "e3"},
	    {{.sender = "alice@*;bob@*"}, "e3,e1"},
	    {{.sender = " alice@* ; *@evil.TEST "}, "e2,e1"},
	    {{.sender = ";"}, "e5,e4,e3,e2,e1"},
	    {{.sender = "alice"}, ""},
	    {{.recipient = "eve@example.net"}, "e3"},
	    {{.recipient = "carol@*"}, "e1"},
	    {{.recipient = "*@EXAMPLE.com"}, "e2,e1"},
	    {{.recipient = "dave@*;eve@*"}, "e3,e2"},
	    /* each recipient alone: a*@x.com must not span a comma */
	    {{.recipient = "a*@x.com"}, ""},
	    {{.recipient = "b@x.com"}, "e5"},
	    {{.subject = "*invoice*"}, "e3,e1"},
	    {{.subject = "invoice*"}, "e1"},
	    {{.subject = "?unch"}, "e5"},
	    {{.subject = "*transfer"}, "e2"},
	    /* literal: %, _, ', \ and [ are data, not syntax */
	    {{.sender = NASTY_SENDER}, "e4"},
	    {{.subject = NASTY_SUBJECT}, "e4"},
	    {{.subject = "50% off*"}, "e4"},
	    {{.subject = "%"}, ""},
	    {{.subject = "_unch"}, ""},
	    {{.subject = "*\\ [sale]*"}, "e4"},
	    {{.subject = "' OR '1'='1"}, ""},
	    {{.subject = "*' OR '1'='1"}, "e4"},
	    {{.sender = "*' OR 1=1 --"}, ""},
	    {{.sender = "x'); DROP TABLE events; --"}, ""},
	    /* ';' separates globs */
	    {{.subject = "*sale*; *TRANSFER"}, "e4,e2"},
	    {{.limit = 2}, "e5,e4"},
	    {{.limit = 2, .sender = "*example*"}, "e5,e3"},
	    {{.limit = 1, .since = 1000, .until = 3000}, "e3"},
	    /* events have no area: the filter does not apply */
	    {{.area = "quarantine:"}, "e5,e4,e3,e2,e1"},
	};
	char *path;
	struct store *s = seeded(&path);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *rows = s->ops->events(s, &cases[i].f);
		char *got = ids(rows);
		ck_assert_msg(strcmp(got, cases[i].want) == 0,
			      "case %zu: got '%s', want '%s'", i, got,
			      cases[i].want);
		free(got);
		json_decref(rows);
	}
	/* the table survived the filter that tries to drop it */
	ck_assert_int_eq(count(s), 5);
	s->ops->close(s);
	remove_db(path);
}
END_TEST

START_TEST(test_event_row)
{
	char *path;
	struct store *s = seeded(&path);
	struct store_filter f = {.until = 1000};
	json_t *rows = s->ops->events(s, &f);
	ck_assert_int_eq(json_array_size(rows), 1);
	json_t *row = json_array_get(rows, 0);
	const struct store_event *e = &seed_events[0];
	const struct {
		const char *key, *want;
	} cases[] = {
	    {"msg_id", e->msg_id},     {"message_id", e->message_id},
	    {"sender", e->sender},     {"rcpts", e->rcpts},
	    {"subject", e->subject},   {"rule", e->rule},
	    {"phase", e->phase},       {"condition", e->condition},
	    {"detected", e->detected}, {"attachment", e->attachment},
	    {"action", e->action},     {"threat_type", e->threat_type},
	    {"scanner", e->scanner},   {"time", "1970-01-01T00:16:40Z"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		ck_assert_str_eq(str(row, cases[i].key), cases[i].want);
	ck_assert_int_eq(num(row, "ts"), 1000);
	ck_assert_int_eq(json_object_size(row), 16);
	json_decref(rows);
	/* the nasty values come back byte for byte; NULL fields as "" */
	f = (struct store_filter){.since = 4000, .until = 4000};
	rows = s->ops->events(s, &f);
	row = json_array_get(rows, 0);
	ck_assert_str_eq(str(row, "sender"), NASTY_SENDER);
	ck_assert_str_eq(str(row, "subject"), NASTY_SUBJECT);
	ck_assert_str_eq(str(row, "rule"), "");
	ck_assert_str_eq(str(row, "message_id"), "");
	json_decref(rows);
	/* a raw 8-bit subject still makes a JSON string */
	struct store_event raw = {
	    .ts = 9000, .msg_id = "e9", .subject = "caf\xe9 \xc3\xa9t\xc3"};
	ck_assert_int_eq(s->ops->event_add(s, &raw), 0);
	f = (struct store_filter){.since = 9000};
	rows = s->ops->events(s, &f);
	ck_assert_str_eq(str(json_array_get(rows, 0), "subject"),
			 "caf\xef\xbf\xbd \xc3\xa9t\xef\xbf\xbd");
	json_decref(rows);
	s->ops->close(s);
	remove_db(path);
}
END_TEST

/* ---- tracking ---- */

START_TEST(test_tracking)
{
	char *path = fresh_db();
	struct store *s = open_ok(path);
	const struct store_ops *o = s->ops;
	ck_assert_int_eq(o->track_arrival(s, "t1", 1000, 1234, "a@x.org",
					  "b@y.org,c@y.org", "", ""),
			 0);
	ck_assert_int_eq(o->track_arrival(s, "t2", 2000, 10, "z@x.org",
					  "q@y.org", "hello", "<2@x>"),
			 0);
	/* the subject became known: a second arrival fills it in */
	ck_assert_int_eq(o->track_arrival(s, "t1", 1000, 1234, "a@x.org",
					  "b@y.org,c@y.org", "Report", "<1@x>"),
			 0);
	ck_assert_int_eq(o->track_update(s, "t1", "quarantine", NULL), 0);
	ck_assert_int_eq(o->track_update(s, "t1", NULL, "quarantined"), 0);
	ck_assert_int_eq(o->track_update(s, "t2", "pass", "250 ok"), 0);
	/* an update without an arrival still leaves a row */
	ck_assert_int_eq(o->track_update(s, "t3", "delete", NULL), 0);

	const struct {
		struct store_filter f;
		const char *want;
	} cases[] = {
	    {{.until = 2000}, "t2,t1"}, {{.recipient = "C@Y.ORG"}, "t1"},
	    {{.sender = "z@*"}, "t2"},	{{.subject = "rep*"}, "t1"},
	    {{.since = 2001}, "t3"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *rows = o->tracking(s, &cases[i].f);
		char *got = ids(rows);
		ck_assert_msg(strcmp(got, cases[i].want) == 0,
			      "case %zu: got '%s', want '%s'", i, got,
			      cases[i].want);
		free(got);
		json_decref(rows);
	}
	struct store_filter f = {.sender = "a@x.org"};
	json_t *rows = o->tracking(s, &f);
	json_t *row = json_array_get(rows, 0);
	ck_assert_str_eq(str(row, "final_action"), "quarantine");
	ck_assert_str_eq(str(row, "delivery"), "quarantined");
	ck_assert_str_eq(str(row, "subject"), "Report");
	ck_assert_str_eq(str(row, "message_id"), "<1@x>");
	ck_assert_str_eq(str(row, "time"), "1970-01-01T00:16:40Z");
	ck_assert_int_eq(num(row, "size"), 1234);
	ck_assert_int_eq(num(row, "ts"), 1000);
	ck_assert_int_ge(num(row, "updated"), (long long)time(NULL) - 60);
	json_decref(rows);
	/* not yet decided: null, not "" */
	ck_assert_int_eq(o->track_arrival(s, "t4", 500, 1, "", "", "", ""), 0);
	f = (struct store_filter){.until = 500};
	rows = o->tracking(s, &f);
	ck_assert(json_is_null(
	    json_object_get(json_array_get(rows, 0), "final_action")));
	json_decref(rows);
	o->close(s);
	remove_db(path);
}
END_TEST

/* ---- queue ---- */

START_TEST(test_queue)
{
	static const struct store_queue_entry entries[] = {
	    {.msg_id = "q1",
	     .area = "quarantine:default",
	     .ts = 100,
	     .sender = "a@x.org",
	     .rcpts = "b@y.org",
	     .subject = "s1",
	     .rule = "virus",
	     .detail = "/var/q/q1",
	     .size = 11},
	    {.msg_id = "q2",
	     .area = "quarantine:spam",
	     .ts = 200,
	     .sender = "c@x.org",
	     .rcpts = "d@y.org,e@y.org"},
	    {.msg_id = "q3",
	     .area = "deferred",
	     .ts = 300,
	     .due = 360,
	     .attempts = 1,
	     .detail = "451 try later"},
	    {.msg_id = "q4", .area = "quarantine", .ts = 400},
	    {.msg_id = "q5", .area = "quarantine;x", .ts = 500},
	    {.msg_id = "q6", .area = "Quarantine:other", .ts = 600},
	    {.msg_id = "q7", .area = "va", .ts = 700},
	};
	char *path = fresh_db();
	struct store *s = open_ok(path);
	const struct store_ops *o = s->ops;
	for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++)
		ck_assert_int_eq(o->queue_put(s, &entries[i]), 0);
	/* upsert: same id, new state, still one row */
	struct store_queue_entry again = entries[2];
	again.attempts = 2;
	again.due = 900;
	again.detail = "451 still later";
	ck_assert_int_eq(o->queue_put(s, &again), 0);

	const struct {
		struct store_filter f;
		const char *want;
	} cases[] = {
	    {{0}, "q7,q6,q5,q4,q3,q2,q1"},
	    {{.area = "quarantine:"}, "q2,q1"},
	    {{.area = "quarantine:default"}, "q1"},
	    {{.area = "quarantine:def"}, ""},
	    {{.area = "quarantine"}, "q4"},
	    {{.area = "deferred"}, "q3"},
	    {{.area = "Quarantine:"}, "q6"},
	    {{.area = ":"}, ""},
	    {{.area = "quarantine:", .sender = "c@*"}, "q2"},
	    {{.area = "quarantine:", .recipient = "e@y.org"}, "q2"},
	    {{.area = "quarantine:", .limit = 1}, "q2"},
	    {{.since = 300, .until = 500}, "q5,q4,q3"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *rows = o->queue_list(s, &cases[i].f);
		char *got = ids(rows);
		ck_assert_msg(strcmp(got, cases[i].want) == 0,
			      "case %zu: got '%s', want '%s'", i, got,
			      cases[i].want);
		free(got);
		json_decref(rows);
	}
	json_t *row = o->queue_get(s, "q3");
	ck_assert_ptr_nonnull(row);
	ck_assert_int_eq(num(row, "attempts"), 2);
	ck_assert_int_eq(num(row, "due"), 900);
	ck_assert_str_eq(str(row, "detail"), "451 still later");
	ck_assert_str_eq(str(row, "area"), "deferred");
	json_decref(row);
	row = o->queue_get(s, "q1");
	static const char *const keys[] = {
	    "msg_id",	"area",	  "ts",	   "time",    "due",
	    "attempts", "sender", "rcpts", "subject", "message_id",
	    "rule",	"detail", "size",  NULL};
	for (size_t i = 0; keys[i]; i++)
		ck_assert_msg(json_object_get(row, keys[i]) != NULL, "no %s",
			      keys[i]);
	ck_assert_int_eq(json_object_size(row), 15);
	ck_assert_str_eq(str(row, "detail"), "/var/q/q1");
	ck_assert_int_eq(num(row, "size"), 11);
	json_decref(row);
	ck_assert_ptr_null(o->queue_get(s, "nosuch"));
	ck_assert_ptr_null(o->queue_get(s, "q1' OR '1'='1"));
	ck_assert_int_eq(o->queue_remove(s, "q1"), 0);
	ck_assert_ptr_null(o->queue_get(s, "q1"));
	ck_assert_int_eq(o->queue_remove(s, "q1"), 0);
	json_t *rows = o->queue_list(s, NULL);
	ck_assert_int_eq(json_array_size(rows), 6);
	json_decref(rows);
	o->close(s);
	remove_db(path);
}
END_TEST

/* ---- kv ---- */

START_TEST(test_kv)
{
	char *path = fresh_db();
	struct store *s = open_ok(path);
	const struct store_ops *o = s->ops;
	const struct {
		const char *key, *value;
	} puts_[] = {
	    {"va.uuid", "0f8fad5b-d9cb-469f-a165-70867728950e"},
	    {"k'; DROP TABLE kv; --", "v'%_\\"},
	    {"empty", ""},
	    {"va.uuid", "second"}, /* overwrite */
	};
	for (size_t i = 0; i < sizeof puts_ / sizeof puts_[0]; i++)
		ck_assert_int_eq(o->kv_put(s, puts_[i].key, puts_[i].value), 0);
	const struct {
		const char *key, *want;
	} gets[] = {
	    {"va.uuid", "second"}, {"k'; DROP TABLE kv; --", "v'%_\\"},
	    {"empty", ""},	   {"VA.UUID", NULL}, /* keys are exact */
	    {"va.%", NULL},	   {"missing", NULL},
	};
	for (size_t i = 0; i < sizeof gets / sizeof gets[0]; i++) {
		char *v = o->kv_get(s, gets[i].key);
		if (gets[i].want == NULL)
			ck_assert_msg(v == NULL, "%s: got %s", gets[i].key, v);
		else
			ck_assert_str_eq(v, gets[i].want);
		free(v);
	}
	o->close(s);
	remove_db(path);
}
END_TEST

/* Plugins' data: namespaces apart, expiry honoured, foreach in key order. */
static int collect(void *ctx, const char *key, const char *value,
		   time_t expires)
{
	char **acc = ctx;
	char *t = xasprintf("%s%s=%s@%lld;", *acc, key, value,
			    (long long)expires);
	free(*acc);
	*acc = t;
	return 0;
}

START_TEST(test_plugin_kv)
{
	char *path = fresh_db();
	struct store *s = open_ok(path);
	const struct store_ops *o = s->ops;
	time_t future = time(NULL) + 3600;
	ck_assert_int_eq(o->pkv_put(s, "ddan", "b", "risk 3", future), 0);
	ck_assert_int_eq(o->pkv_put(s, "ddan", "a", "risk 0", 0), 0);
	ck_assert_int_eq(o->pkv_put(s, "ddan", "old", "gone", 1), 0);
	ck_assert_int_eq(o->pkv_put(s, "ctd", "a", "other ns", 0), 0);
	ck_assert_int_eq(o->pkv_put(s, "ddan", "a", "risk 1", 0), 0);

	time_t exp = 0;
	char *v = o->pkv_get(s, "ddan", "b", &exp);
	ck_assert_str_eq(v, "risk 3");
	ck_assert_int_eq(exp, future);
	free(v);
	ck_assert_ptr_null(o->pkv_get(s, "ddan", "old", NULL)); /* expired */
	ck_assert_ptr_null(o->pkv_get(s, "DDAN", "a", NULL));

	char *acc = xstrdup("");
	ck_assert_int_eq(o->pkv_foreach(s, "ddan", collect, &acc), 0);
	char *want = xasprintf("a=risk 1@0;b=risk 3@%lld;", (long long)future);
	ck_assert_str_eq(acc, want);
	free(want);
	free(acc);

	ck_assert_int_eq(o->pkv_put(s, "ddan", "a", NULL, 0), 0); /* delete */
	ck_assert_ptr_null(o->pkv_get(s, "ddan", "a", NULL));
	ck_assert_int_eq(o->pkv_clear(s, "ddan"), 0);
	ck_assert_ptr_null(o->pkv_get(s, "ddan", "b", NULL));
	v = o->pkv_get(s, "ctd", "a", NULL);
	ck_assert_str_eq(v, "other ns");
	free(v);
	o->close(s);
	remove_db(path);
}
END_TEST

/* An async verdict notes its events; VA progress lands on "va" rows. */
START_TEST(test_ticket_note_and_progress)
{
	char *path = fresh_db();
	struct store *s = open_ok(path);
	const struct store_ops *o = s->ops;
	struct store_event e = {.ts = 10, .msg_id = "m1", .rule = "VA",
				.detected = "pe in a.exe", .ticket = "sha1x"};
	ck_assert_int_eq(o->event_add(s, &e), 0);
	e.msg_id = "m2";
	e.ticket = "";
	ck_assert_int_eq(o->event_add(s, &e), 0);
	ck_assert_int_eq(o->event_note(s, "sha1x", "Analyzed advanced threat",
				       "risk 3 (high)"), 0);
	ck_assert_int_eq(o->event_note(s, "", "x", "y"), -1);
	json_t *rows = o->events(s, NULL);
	ck_assert_int_eq(json_array_size(rows), 2);
	size_t i;
	json_t *r;
	json_array_foreach(rows, i, r) {
		const char *id = json_string_value(json_object_get(r, "msg_id"));
		const char *threat = json_string_value(json_object_get(r, "threat_type"));
		const char *det = json_string_value(json_object_get(r, "detected"));
		if (strcmp(id, "m1") == 0) {
			ck_assert_str_eq(threat, "Analyzed advanced threat");
			ck_assert_str_eq(det, "pe in a.exe; risk 3 (high)");
			ck_assert_str_eq(json_string_value(json_object_get(r, "ticket")), "");
		} else {
			ck_assert_str_eq(threat, "");
			ck_assert_str_eq(det, "pe in a.exe");
		}
	}
	json_decref(rows);

	struct store_queue_entry q = {.msg_id = "m3", .area = "va", .ts = 5,
				      .detail = "sha1y"};
	ck_assert_int_eq(o->queue_put(s, &q), 0);
	ck_assert_int_eq(o->queue_progress(s, "sha1y", 100, 160, 2, 1900), 0);
	json_t *row = o->queue_get(s, "m3");
	ck_assert_int_eq(json_integer_value(json_object_get(row, "submitted")), 100);
	ck_assert_int_eq(json_integer_value(json_object_get(row, "last_query")), 160);
	ck_assert_int_eq(json_integer_value(json_object_get(row, "attempts")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(row, "due")), 1900);
	json_decref(row);
	o->close(s);
	remove_db(path);
}
END_TEST

/* A version 1 database (before the Virtual Analyzer) is migrated. */
START_TEST(test_migrate_v1)
{
	char *path = fresh_db();
	sqlite3 *db;
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db,
		"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
		"INSERT INTO meta VALUES ('schema_version', '1');"
		"CREATE TABLE events (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL,"
		" msg_id TEXT NOT NULL DEFAULT '', message_id TEXT NOT NULL DEFAULT '',"
		" sender TEXT NOT NULL DEFAULT '', rcpts TEXT NOT NULL DEFAULT '',"
		" subject TEXT NOT NULL DEFAULT '', rule TEXT NOT NULL DEFAULT '',"
		" phase TEXT NOT NULL DEFAULT '', condition TEXT NOT NULL DEFAULT '',"
		" detected TEXT NOT NULL DEFAULT '', attachment TEXT NOT NULL DEFAULT '',"
		" action TEXT NOT NULL DEFAULT '', threat_type TEXT NOT NULL DEFAULT '',"
		" scanner TEXT NOT NULL DEFAULT '');"
		"INSERT INTO events (ts, msg_id) VALUES (7, 'old');"
		"CREATE TABLE queue (msg_id TEXT PRIMARY KEY, area TEXT NOT NULL,"
		" ts INTEGER NOT NULL, due INTEGER NOT NULL DEFAULT 0,"
		" attempts INTEGER NOT NULL DEFAULT 0, sender TEXT NOT NULL DEFAULT '',"
		" rcpts TEXT NOT NULL DEFAULT '', subject TEXT NOT NULL DEFAULT '',"
		" message_id TEXT NOT NULL DEFAULT '', rule TEXT NOT NULL DEFAULT '',"
		" detail TEXT NOT NULL DEFAULT '', size INTEGER NOT NULL DEFAULT 0);",
		NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	struct store *s = open_ok(path);
	json_t *rows = s->ops->events(s, NULL);
	ck_assert_int_eq(json_array_size(rows), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(rows, 0),
							   "ticket")), "");
	json_decref(rows);
	ck_assert_int_eq(s->ops->pkv_put(s, "ddan", "k", "v", 0), 0);
	s->ops->close(s);
	remove_db(path);
}
END_TEST

/* ---- retention ---- */

START_TEST(test_retention)
{
	char *path = fresh_db();
	struct store *s = open_ok(path);
	const struct store_ops *o = s->ops;
	const time_t now = 100 * DAY;
	static const struct {
		const char *id;
		int age_days;
	} ages[] = {{"old2", 90}, {"old1", 31}, {"new2", 29}, {"new1", 0}};
	for (size_t i = 0; i < sizeof ages / sizeof ages[0]; i++) {
		time_t ts = now - ages[i].age_days * DAY;
		struct store_event e = {.ts = ts, .msg_id = ages[i].id};
		ck_assert_int_eq(o->event_add(s, &e), 0);
		ck_assert_int_eq(
		    o->track_arrival(s, ages[i].id, ts, 1, "", "", "", ""), 0);
		struct store_queue_entry q = {.msg_id = ages[i].id,
					      .area = "quarantine:default",
					      .ts = ts};
		ck_assert_int_eq(o->queue_put(s, &q), 0);
	}
	/* old2 is still being updated: a tracking row in use is not old */
	ck_assert_int_eq(o->track_update(s, "old2", "pass", NULL), 0);
	/* 0 days: keep everything */
	ck_assert_int_eq(o->retention(s, 0, now), 0);
	ck_assert_int_eq(count(s), 4);
	ck_assert_int_eq(o->retention(s, 30, now), 0);
	const struct {
		json_t *(*list)(struct store *, const struct store_filter *);
		const char *want;
	} cases[] = {
	    {o->events, "new1,new2"},
	    {o->tracking, "new1,new2,old2"},
	    {o->queue_list, "new1,new2,old1,old2"}, /* never by age */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *rows = cases[i].list(s, NULL);
		char *got = ids(rows);
		ck_assert_msg(strcmp(got, cases[i].want) == 0,
			      "case %zu: got '%s', want '%s'", i, got,
			      cases[i].want);
		free(got);
		json_decref(rows);
	}
	o->close(s);
	remove_db(path);
}
END_TEST

/* Retention works in batches: more rows than one batch all go. */
START_TEST(test_retention_batches)
{
	char *path = fresh_db();
	struct store *s = open_ok(path);
	for (int i = 0; i < 12000; i++) {
		struct store_event e = {.ts = i < 11000 ? 10 : 10 * DAY,
					.msg_id = "x"};
		ck_assert_int_eq(s->ops->event_add(s, &e), 0);
	}
	ck_assert_int_eq(s->ops->retention(s, 1, 10 * DAY), 0);
	ck_assert_int_eq(count(s), 1000);
	s->ops->close(s);
	remove_db(path);
}
END_TEST

/* ---- concurrency and durability ---- */

#define THREADS 4
#define PER_THREAD 1000

struct worker {
	struct store *s;
	int id, errors;
};

static void *insert_many(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < PER_THREAD; i++) {
		char id[32];
		snprintf(id, sizeof id, "w%d-%d", w->id, i);
		struct store_event e = {
		    .ts = 1000 + i, .msg_id = id, .sender = "a@x.org"};
		if (w->s->ops->event_add(w->s, &e) != 0)
			w->errors++;
		if (w->s->ops->track_arrival(w->s, id, 1000 + i, i, "a@x.org",
					     "b@y.org", "s", "") != 0 ||
		    w->s->ops->track_update(w->s, id, "pass", NULL) != 0)
			w->errors++;
		if ((i % 100) == 0) {
			json_t *rows = w->s->ops->events(w->s, NULL);
			if (rows == NULL)
				w->errors++;
			json_decref(rows);
		}
	}
	return NULL;
}

START_TEST(test_threads)
{
	char *path = fresh_db();
	struct store *s = open_ok(path);
	pthread_t t[THREADS];
	struct worker w[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){.s = s, .id = i};
		ck_assert_int_eq(
		    pthread_create(&t[i], NULL, insert_many, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(w[i].errors, 0);
	}
	ck_assert_int_eq(count(s), THREADS * PER_THREAD);
	json_t *rows = s->ops->tracking(s, NULL);
	ck_assert_int_eq(json_array_size(rows), THREADS * PER_THREAD);
	json_decref(rows);
	s->ops->close(s);
	remove_db(path);
}
END_TEST

START_TEST(test_reopen_keeps_data)
{
	char *path;
	struct store *s = seeded(&path);
	ck_assert_int_eq(s->ops->kv_put(s, "k", "v"), 0);
	struct store_queue_entry q = {.msg_id = "q", .area = "va", .ts = 1};
	ck_assert_int_eq(s->ops->queue_put(s, &q), 0);
	s->ops->close(s);
	s = open_ok(path);
	ck_assert_int_eq(count(s), 5);
	char *v = s->ops->kv_get(s, "k");
	ck_assert_str_eq(v, "v");
	free(v);
	json_t *row = s->ops->queue_get(s, "q");
	ck_assert_ptr_nonnull(row);
	json_decref(row);
	s->ops->close(s);
	remove_db(path);
}
END_TEST

/* The admin tool opens its own connection while vigild's is open, and
 * reads even while a write transaction is in progress (WAL). */
START_TEST(test_second_connection_reads)
{
	char *path;
	struct store *daemon = seeded(&path);
	struct store *admin = open_ok(path);
	ck_assert_int_eq(count(admin), 5);
	struct store_event e = {.ts = 6000, .msg_id = "e6"};
	ck_assert_int_eq(daemon->ops->event_add(daemon, &e), 0);
	ck_assert_int_eq(count(admin), 6);
	/* a writer holding its transaction open does not block readers */
	sqlite3 *db;
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db,
				      "BEGIN IMMEDIATE; INSERT INTO events "
				      "(ts, msg_id) VALUES (7000, 'e7')",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	time_t t0 = time(NULL);
	ck_assert_int_eq(count(admin), 6); /* e7 not committed yet */
	ck_assert_int_le(time(NULL) - t0, 2);
	ck_assert_int_eq(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(count(admin), 7);
	ck_assert_int_eq(count(daemon), 7);
	admin->ops->close(admin);
	daemon->ops->close(daemon);
	remove_db(path);
}
END_TEST

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* No assertion on time: prints the rate for the record. */
START_TEST(test_insert_rate)
{
	enum { N = 10000 };
	char *path = fresh_db();
	struct store *s = open_ok(path);
	double t0 = seconds();
	for (int i = 0; i < N; i++) {
		char id[32];
		snprintf(id, sizeof id, "m%d", i);
		struct store_event e = {.ts = 1700000000 + i,
					.msg_id = id,
					.message_id = "<abc@example.org>",
					.sender = "sender@example.org",
					.rcpts = "a@example.com,b@example.com",
					.subject = "Quarterly report",
					.rule = "virus",
					.phase = "content",
					.condition = "antivirus",
					.detected = "EICAR-Test-File",
					.attachment = "x.zip",
					.action = "quarantine",
					.threat_type = "",
					.scanner = "node1"};
		ck_assert_int_eq(s->ops->event_add(s, &e), 0);
	}
	double t1 = seconds();
	for (int i = 0; i < N; i++) {
		char id[32];
		snprintf(id, sizeof id, "m%d", i);
		ck_assert_int_eq(s->ops->track_arrival(s, id, 1700000000 + i,
						       4096, "a@x.org",
						       "b@y.org", "s", "<m>"),
				 0);
	}
	double t2 = seconds();
	printf("check_store: %d event_add in %.3f s = %.0f/s; "
	       "%d track_arrival in %.3f s = %.0f/s (one transaction each)\n",
	       N, t1 - t0, N / (t1 - t0), N, t2 - t1, N / (t2 - t1));
	fflush(stdout);
	ck_assert_int_eq(count(s), N);
	s->ops->close(s);
	remove_db(path);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("sqlite");
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_open_creates_wal_0640);
	tcase_add_test(tc, test_event_filters);
	tcase_add_test(tc, test_event_row);
	tcase_add_test(tc, test_tracking);
	tcase_add_test(tc, test_queue);
	tcase_add_test(tc, test_kv);
	tcase_add_test(tc, test_plugin_kv);
	tcase_add_test(tc, test_ticket_note_and_progress);
	tcase_add_test(tc, test_migrate_v1);
	tcase_add_test(tc, test_retention);
	tcase_add_test(tc, test_retention_batches);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_reopen_keeps_data);
	tcase_add_test(tc, test_second_connection_reads);
	tcase_add_test(tc, test_insert_rate);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
