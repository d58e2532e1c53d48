/*
 * daemon.h - vigild's shared state: the current generation, the spool, the
 * store, the work queues, and the threads that move messages through them:
 *
 *   SMTP session --spool_add--> scan queue --policy--> deliver queue --> next hop
 *                                   |  \--> quarantine / delete
 *                                   \--> parked (VA tickets, postponed, deferred)
 *
 * Every stage change is written to the message's spool state before the
 * next stage starts, so a restart resumes each message where it was.
 */
#ifndef VIGIL_DAEMON_H
#define VIGIL_DAEMON_H

#include <pthread.h>
#include <stdarg.h>
#include <time.h>

#include "host.h"
#include "spool.h"
#include "store.h"

/* A reference-counted generation: messages in flight keep the one they
 * started with; a reload swaps in a new one. */
struct generation {
	struct host *host;
	unsigned number;
	int refs;
};

/* A queue of message ids for a pool of threads. */
struct workq {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct strvec ids;
	size_t head;
};

/* Messages waiting for a time (deferred, postponed). */
struct timed {
	char id[SPOOL_ID_SIZE];
	time_t due;
};

struct daemon {
	const char *config_path;
	int foreground;
	time_t started;
	volatile int stop;

	pthread_mutex_t lock; /* guards gen, timed, waiting, counters */
	struct generation *gen;
	unsigned next_generation;

	struct spool *spool;
	struct store *store;
	char hostname[256];

	struct workq scanq, deliverq;
	struct timed *timed;
	size_t n_timed, cap_timed;
	/* ids parked on a verdict ticket */
	struct {
		char *ticket;
		char id[SPOOL_ID_SIZE];
	} *waiting;
	size_t n_waiting, cap_waiting;

	int workers, senders; /* scanning and delivery threads */
	int n_connections;
	unsigned long accepted, delivered, quarantined, deleted, deferred;
};

void daemon_log(struct daemon *d, int level, const char *fmt, ...)
	VIGIL_PRINTF(3, 4);

/* The strings of a JSON array joined with `sep` (malloc'd). */
char *json_join(json_t *array, const char *sep);

struct generation *daemon_gen_acquire(struct daemon *d);
void daemon_gen_release(struct daemon *d, struct generation *g);
/* Build a new generation from the config file; keep the old on error. */
int daemon_reload(struct daemon *d, struct errlist *errors);

void workq_init(struct workq *q);
void workq_push(struct workq *q, const char *id);
/* Blocks until an id (copied to id_r) or *stop. Returns 0 or -1. */
int workq_pop(struct workq *q, char id_r[SPOOL_ID_SIZE],
	      const volatile int *stop);
void workq_wake_all(struct workq *q);

void daemon_schedule(struct daemon *d, const char *id, time_t due);
void daemon_wait_ticket(struct daemon *d, const char *ticket, const char *id);

/* daemon_smtp.c: listeners and SMTP sessions */
int daemon_listen(struct daemon *d, const struct strvec *listen,
		  char **error_r);
void daemon_start_listeners(struct daemon *d);
/* Add a message made by vigil itself (notification, bounce) for
 * delivery. */
int daemon_inject(struct daemon *d, const char *sender,
		  const char *const *rcpts, size_t n_rcpts,
		  const unsigned char *data, size_t size, const char *origin,
		  int scan);

/* daemon_process.c: run the policy and carry out its decision */
void daemon_process(struct daemon *d, const char *id);
/* daemon_deliver.c: hand a message to its next hop */
void daemon_deliver(struct daemon *d, const char *id, void **conn_cache);
void daemon_deliver_cache_free(void *conn_cache);

/* daemon_control.c: the control socket of `vigil reload|status|...` */
int daemon_control_open(struct daemon *d, char **error_r);
void daemon_control_start(struct daemon *d);

#endif
