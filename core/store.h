/*
 * store.h - where vigil keeps what it knows about mail: policy events,
 * message tracking, the quarantine index, queue state and small settings.
 *
 * Callers see this interface only; the embedded SQLite backend is
 * store_sqlite.c, and another backend (PostgreSQL, for several scanner
 * nodes) implements the same table of functions. Thread-safe: one store is
 * shared by all of vigild's threads. Queries return jansson arrays of flat
 * objects, ready for table, JSON or CSV output.
 */
#ifndef VIGIL_STORE_H
#define VIGIL_STORE_H

#include <jansson.h>
#include <time.h>

/* One policy decision (DESIGN "Policy": every decision is an event). */
struct store_event {
	time_t ts;
	const char *msg_id;     /* vigil's internal id */
	const char *message_id; /* the Message-ID header */
	const char *sender;
	const char *rcpts;      /* comma-separated */
	const char *subject;
	const char *rule, *phase, *condition;
	const char *detected;   /* detected item / detail */
	const char *attachment; /* violating attachment */
	const char *action;
	const char *threat_type; /* advanced threat type, "" if none */
	const char *scanner;     /* host name of the scanner node */
	const char *ticket;      /* async verdict still to come, or "" */
};

/* A queue entry: the administrator's view of a message vigil holds.
 * area: "quarantine:NAME", "postponed", "deferred" or "va". */
struct store_queue_entry {
	const char *msg_id;
	const char *area;
	time_t ts;  /* when it entered the area */
	time_t due; /* next attempt / release time / expiry; 0 = none */
	int attempts;
	const char *sender, *rcpts, *subject, *message_id;
	const char *rule;   /* the rule that put it there */
	const char *detail; /* last error, reason, or JSON for the area */
	long long size;
};

/* Filters for lists: NULL/0 = any. sender, recipient and subject are
 * globs (`*`), several separated by `;` meaning OR, case-insensitive. */
struct store_filter {
	time_t since, until;
	const char *sender, *recipient, *subject;
	const char *area; /* exact, or a prefix ending in ':' */
	long limit;       /* 0 = no limit */
};

struct store;

struct store_ops {
	const char *name;
	int (*open)(const char *target, struct store **store_r, char **error_r);
	void (*close)(struct store *s);
	int (*event_add)(struct store *s, const struct store_event *e);
	/* tracking: arrival, then the final action, then the delivery result */
	int (*track_arrival)(struct store *s, const char *msg_id, time_t ts,
			     long long size, const char *sender,
			     const char *rcpts, const char *subject,
			     const char *message_id);
	int (*track_update)(struct store *s, const char *msg_id,
			    const char *final_action, const char *delivery);
	int (*queue_put)(struct store *s, const struct store_queue_entry *q);
	int (*queue_remove)(struct store *s, const char *msg_id);
	json_t *(*queue_list)(struct store *s, const struct store_filter *f);
	json_t *(*queue_get)(struct store *s, const char *msg_id);
	json_t *(*events)(struct store *s, const struct store_filter *f);
	json_t *(*tracking)(struct store *s, const struct store_filter *f);
	/* small persistent settings (e.g. the VA client UUID) */
	int (*kv_put)(struct store *s, const char *key, const char *value);
	char *(*kv_get)(struct store *s, const char *key);
	/* the verdict behind an async ticket: note it on its events */
	int (*event_note)(struct store *s, const char *ticket,
			  const char *threat_type, const char *detail);
	/* Virtual Analyzer progress of the "va" rows parked on `ticket` */
	int (*queue_progress)(struct store *s, const char *ticket,
			      time_t submitted, time_t last_query,
			      int attempts, time_t due);
	/* plugins' persistent data (vigil_kv_*): value NULL deletes */
	int (*pkv_put)(struct store *s, const char *ns, const char *key,
		       const char *value, time_t expires);
	char *(*pkv_get)(struct store *s, const char *ns, const char *key,
			 time_t *expires_r);
	int (*pkv_foreach)(struct store *s, const char *ns,
			   int (*each)(void *ctx, const char *key,
				       const char *value, time_t expires),
			   void *ctx);
	int (*pkv_clear)(struct store *s, const char *ns);
	/* delete events and tracking rows older than `days` (0 = keep all);
	 * queue rows stay until queue_remove: each is a message vigil holds */
	int (*retention)(struct store *s, int days, time_t now);
};

struct store {
	const struct store_ops *ops;
};

extern const struct store_ops store_sqlite_ops;

/* Open by backend name ("sqlite") and target (a path for SQLite). */
int store_open(const char *backend, const char *target,
	       struct store **store_r, char **error_r);

#endif
