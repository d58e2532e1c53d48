/*
 * ddan.h - the Virtual Analyzer plugin's private parts, shared by the
 * plugin glue (ddan.c: settings, verdict source, commands) and the worker
 * (ddan_worker.c: submissions, batched polling, failover).
 *
 * One sample per SHA-1 serves every message waiting for it. Samples live
 * in a hash table under `lock`; only the worker thread frees them, so a
 * pointer taken under the lock stays valid in the worker without it.
 */
#ifndef VIGIL_DDAN_H
#define VIGIL_DDAN_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include <vigil/plugin.h>

#include "ddan_api.h"

#define DDAN_KV "ddan"              /* client_uuid */
#define DDAN_KV_CACHE "ddan.cache"  /* sha1 -> "risk\tvirus\ttrue type" */
#define DDAN_KV_FLIGHT "ddan.inflight" /* sha1 -> submitted sample, JSON */
#define DDAN_TICKET_PREFIX "ddan:"

struct ddan_server {
	struct ddan_server_cfg cfg; /* points into the strings below */
	char *host, *api_key, *ca_file, *pin;
	int preference;
	bool enabled;
	/* worker only */
	struct ddan_conn *conn;
	bool registered;
	time_t down_until; /* no new submissions before then */
	char last_error[256];
	time_t last_ok;
};

enum sample_state { SAMPLE_QUEUED, SAMPLE_SUBMITTED, SAMPLE_DONE, SAMPLE_FAILED };

struct sample {
	struct sample *next; /* hash chain */
	char sha1[41];
	char ticket[48];
	char *name;
	unsigned char *data; /* until uploaded */
	size_t size;
	bool url;   /* a URL list (SampleType 1) */
	bool async; /* a message went on without it: note its events */
	enum sample_state state;
	int server; /* index into servers once submitted, else -1 */
	time_t created, submitted, last_query, next_query, expires, finished;
	int attempts;
	int risk;
	char virus[128], true_type[64];
	char error[256]; /* why it failed */
};

struct ddan {
	vigil_host *host;
	/* settings */
	int risk_min; /* low 3, medium 2, high 1 */
	const char *level_name;
	unsigned max_wait, query_delay, query_interval, max_attempts;
	unsigned cache_ttl, timeout, batch;
	bool async;
	char *product_name, *source_name;
	char source_id[24];
	char client_uuid[40], hostname[256];
	struct ddan_server *servers; /* by preference */
	size_t n_servers;

	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct sample **buckets;
	size_t n_buckets, n_samples;
	bool clear_done; /* `va cache clear`: drop remembered verdicts */
	pthread_t worker;
	bool worker_started, stop;
	/* counters, for status and benchmarks */
	unsigned long requests, uploads, verdicts, failures;
};

/* ddan.c */
/* With the lock held. */
struct sample *ddan_find(struct ddan *d, const char *sha1);
struct sample *ddan_sample_add(struct ddan *d, const char *sha1);
bool ddan_in_level(const struct ddan *d, int risk);
const char *ddan_risk_name(int risk);

/* ddan_worker.c */
void ddan_worker_start(struct ddan *d);
void ddan_worker_stop(struct ddan *d);
/* Samples submitted before a restart: poll them again where they are. */
void ddan_resume_inflight(struct ddan *d);
/* A fresh connection to server i for a command (status, unregister). */
struct ddan_conn *ddan_connect(struct ddan *d, size_t i, char **error_r);
void ddan_free_samples(struct ddan *d);

#endif
