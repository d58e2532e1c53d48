/*
 * policy.h - rules and their evaluation.
 *
 * A rule = name, order, phase, route, conditions (any/all, each may be
 * negated) and actions. Evaluation runs the security-setting and malformed
 * checks, then the phases virus -> hidden -> user, each by order. A
 * condition that answers PENDING parks the evaluation: its state (next rule,
 * decisions so far, tickets) is a plain value that can be saved as JSON and
 * resumed at that rule once the tickets are done.
 *
 * The policy engine knows nothing of sockets, spools or stores.
 */
#ifndef VIGIL_POLICY_H
#define VIGIL_POLICY_H

#include <jansson.h>
#include <stdbool.h>

#include "config.h"
#include "msg.h"
#include "util.h"

struct host;

struct policy_condition {
	const vigil_condition_ops *ops;
	vigil_userdata data;
	bool negate;
	bool va_submit; /* ask the Virtual Analyzer about the matching part */
};

struct plugin_action {
	const vigil_action_ops *ops;
	vigil_userdata data;
};

enum stamp_position { STAMP_NONE = 0, STAMP_TOP, STAMP_BOTTOM };
enum strip_mode { STRIP_NONE = 0, STRIP_MATCHING, STRIP_ALL };

/* What a rule does when it matches. */
struct policy_actions {
	vigil_action intercept;
	const char *area;      /* quarantine */
	const char *recipient; /* change_recipient */
	const char *handoff;   /* handoff: "host:port" */
	const char *tag_subject;
	const char *x_header;  /* "Name: value" */
	const char *stamp;
	enum stamp_position stamp_position;
	enum strip_mode delete_attachments;
	struct strvec bcc;
	const char *postpone; /* "hh:mm" */
	const char *archive;  /* area */
	struct strvec notify;
	struct plugin_action *plugin;
	size_t n_plugin;
};

struct policy_route {
	enum { ROUTE_ALL = 0, ROUTE_INCOMING, ROUTE_OUTGOING } direction;
	struct strvec from, to;          /* empty = "*" */
	struct strvec except_from, except_to; /* pairs */
};

struct policy_rule {
	char *name;
	int order;
	vigil_phase phase;
	bool hidden; /* registered by a plugin, not in the config */
	struct policy_route route;
	bool match_all;
	struct policy_condition *conds;
	size_t n_conds;
	struct policy_actions actions;
};

struct policy {
	struct policy_rule *rules; /* by phase, then order */
	size_t n_rules, cap_rules;
	struct policy_actions security_violation, malformed;
	/* The Virtual Analyzer scanning exception (no verdict, an error,
	 * expiry): the ddan plugin's `exception` actions. */
	struct policy_actions va_exception;
	bool has_va;
};

/* Display names of the scanning exceptions in reports and events. */
#define VA_EXCEPTION_NAME "Virtual Analyzer scanning exception"

/* Compile the config's rules and exceptions against the host's registries.
 * Returns 0, or -1 with FILE:LINE errors. */
int policy_compile(struct host *h, struct policy *p, struct errlist *errors);
void policy_free(struct policy *p);
void policy_actions_free(struct policy_actions *a);

/* Compile an `actions` group (rules, exceptions, plugins' exception
 * settings share it). */
int policy_actions_compile(struct host *h, const config_setting_t *group,
			   struct policy_actions *a, struct errlist *errors);

/* The evaluation state of one message: what has been decided so far. */
struct policy_state {
	int next_rule;         /* index into policy->rules; -1: not started */
	char *next_rule_name;  /* the rule parked on, to survive a reload */
	bool pending;
	vigil_action intercept; /* the strongest so far */
	char *intercept_rule;   /* which rule decided it */
	char *area;             /* for quarantine */
	struct strvec matched;  /* names of the rules whose actions apply */
	struct strvec tickets;  /* when pending */
	struct strvec exceptions; /* "security_violation", "malformed",
				     "va_exception" */
	bool va_bypass;        /* released from Virtual Analyzer scanning */
	json_t *report;         /* array: one entry a rule evaluated */
};

void policy_state_init(struct policy_state *st);
void policy_state_clear(struct policy_state *st);
char *policy_state_save(const struct policy_state *st);
int policy_state_load(struct policy_state *st, const char *json,
		      const char **error_r);

/* Run (or resume) evaluation. Returns VIGIL_PENDING when parked on
 * tickets, else VIGIL_MATCH (st->intercept holds the final action). */
vigil_result policy_eval(struct host *h, struct msg *m,
			 struct policy_state *st);

/* Does the route of `rule` apply to this envelope? */
bool policy_route_matches(const struct policy_route *r,
			  const struct strvec *internal_domains,
			  const char *sender, const char *const *rcpts,
			  size_t n_rcpts);

/* "quarantine:default", "tag_subject", ... for reports. */
json_t *policy_actions_describe(const struct policy_actions *a);

#endif
