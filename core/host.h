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

struct host_command {
	const vigil_command_ops *ops;
	void *ctx;
};

struct host_timer {
	unsigned interval;
	time_t next;
	vigil_timer_fn fire;
	vigil_userdata ud;
};

struct store;

struct host {
	struct vigil_host pub;
	struct vigil_config *cfg;
	struct store *store; /* shared by generations; NULL offline */

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
	struct host_command *commands;
	size_t n_commands, cap_commands;
	vigil_typer_fn typer;
	void *typer_ctx;

	struct policy policy;

	const char *loading;      /* plugin whose init is running, or NULL */
	struct strvec strings;    /* error strings handed to plugins */
};

/* What a condition reports while it is evaluated. */
struct host_eval {
	struct vigil_eval pub;
	char *detail;
	char *threat;            /* advanced threat type, NULL for none */
	const vigil_part *part;
	struct strvec *tickets;
	vigil_action intercept;  /* a hidden rule's own, when intercept_set */
	bool intercept_set;
	bool va_error;  /* the Virtual Analyzer answered ERROR */
	bool va_bypass; /* the message was released from VA scanning */
};

/* A generation from the config file. `store` (may be NULL) is where
 * plugins keep persistent data; it must outlive the generation. */
struct host *host_new(const char *config_path, struct store *store,
		      struct errlist *errors);
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
/* Move the tickets plugins declared done (in any generation) into *out. */
void host_take_done_tickets(struct strvec *out);

/* Where plugins' log lines go (vigil_log): by default stderr, warnings
 * and errors only (VIGIL_DEBUG=1: all); vigild sends them to its log.
 * Levels are syslog's. */
void host_set_log_sink(void (*sink)(void *ctx, int level, const char *line),
		       void *ctx);

/* The command group `name` registered by a plugin, or NULL. */
const struct host_command *host_command(const struct host *h,
					const char *name);

#endif
