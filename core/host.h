/*
 * host.h - one generation of the core: the config, the plugins' instances,
 * what they registered, and the compiled policy.
 *
 * host_new() builds a whole generation or nothing: on any error the
 * partial generation is torn down and the errors are returned, so a reload
 * can keep the old one. Plugins see a generation only as a vigil_host.
 */
#ifndef VIGIL_HOST_H
#define VIGIL_HOST_H

#include "config.h"
#include "msg.h"
#include "policy.h"
#include "util.h"

struct host_plugin {
	const vigil_plugin_def *def;
	const config_setting_t *setting;
	void *state;
	int ready; /* init succeeded: fini is owed */
};

struct host_condition {
	const vigil_condition_ops *ops;
	void *ctx;
};

struct host_action {
	const vigil_action_ops *ops;
	void *ctx;
};

struct host_verdict {
	const vigil_verdict_ops *ops;
	void *ctx;
};

struct host_hidden_rule {
	char *name;
	vigil_phase phase;
	const vigil_condition_ops *ops;
	vigil_userdata cond;
	vigil_action intercept;
	char *area;
};

struct host_timer {
	unsigned interval;
	time_t next;
	vigil_timer_fn fire;
	vigil_userdata ud;
};

struct host {
	struct vigil_host pub;
	struct vigil_config *cfg;

	struct host_plugin *plugins;
	size_t n_plugins, cap_plugins;
	struct host_condition *conds;
	size_t n_conds, cap_conds;
	struct host_action *actions;
	size_t n_actions, cap_actions;
	struct host_verdict *verdicts;
	size_t n_verdicts, cap_verdicts;
	struct host_hidden_rule *hidden;
	size_t n_hidden, cap_hidden;
	struct host_timer *timers;
	size_t n_timers, cap_timers;
	vigil_typer_fn typer;
	void *typer_ctx;

	struct policy policy;

	const char *loading;      /* plugin whose init is running, or NULL */
	struct strvec strings;    /* error strings handed to plugins */
	struct strvec tickets_done;
};

/* What a condition reports while it is evaluated. */
struct host_eval {
	struct vigil_eval pub;
	char *detail;
	const vigil_part *part;
	struct strvec *tickets;
};

struct host *host_new(const char *config_path, struct errlist *errors);
void host_free(struct host *h);

const struct host_condition *host_condition(const struct host *h,
					    const char *type);
const struct host_action *host_action(const struct host *h, const char *name);

/* A message of this generation: its limits, its typer, the API table. */
struct msg *host_message(struct host *h, unsigned char *raw, size_t size);

/* Was `s` made by the host (vigil_setting_error): it has FILE:LINE. */
int host_owns_string(const struct host *h, const char *s);

void host_eval_init(struct host_eval *ev, struct strvec *tickets);
void host_eval_clear(struct host_eval *ev);

/* Fire the timers that are due. */
void host_run_timers(struct host *h, time_t now);
/* Move the tickets plugins declared done into *out. */
void host_take_done_tickets(struct host *h, struct strvec *out);

#endif
