/*
 * mock_host.h - a stand-in for the vigil core, so a plugin's unit tests
 * run without the daemon: it implements the host API table, records what a
 * plugin registers, and builds messages by hand.
 */
#ifndef VIGIL_MOCK_HOST_H
#define VIGIL_MOCK_HOST_H

#include <vigil/plugin.h>

typedef struct mock_host mock_host;

mock_host *mock_host_new(void);
void mock_host_free(mock_host *m);
vigil_host *mock_host_handle(mock_host *m);
void mock_host_set_internal_domains(mock_host *m, const char *const *domains,
				    size_t n);

/* Run a plugin's init() on settings written as libconfig text, the body of
 * its `plugins` element, e.g. "name = \"truetype\";". */
int mock_host_load(mock_host *m, const vigil_plugin_def *p,
		   const char *settings, const char **error_r);

/* How many things of a kind were registered: "condition", "action",
 * "verdict", "hidden_rule", "timer", "typer". */
size_t mock_host_count(mock_host *m, const char *kind);

/* Run the registered typer; returns 0 when none is registered. */
int mock_host_type(mock_host *m, const void *data, size_t size,
		   const char **type_r, const char **category_r,
		   unsigned *flags_r);

/* Fire every registered timer once. */
void mock_host_fire_timers(mock_host *m, time_t now);

/* Tickets the plugin declared done through ticket_done(). */
size_t mock_host_tickets_done(mock_host *m);
/* Calls of ticket_note(); *last_r = "ticket|threat_type|detail". */
size_t mock_host_tickets_noted(mock_host *m, const char **last_r);

/* Run a registered command group: argv[0] is its name ("va"). Returns the
 * command's exit code, 2 when no such group is registered. The mock's
 * key-value store (kv_put/kv_get) lives in memory until mock_host_free. */
int mock_host_command(mock_host *m, int argc, char **argv, FILE *out);

/* Messages made by hand. Parts are typed by the registered typer. */
vigil_message *mock_message_new(mock_host *m, const char *sender,
				const char *const *rcpts, size_t n_rcpts);
void mock_message_set_header(vigil_message *msg, const char *name,
			     const char *value);
vigil_part *mock_message_add_part(vigil_message *msg, const char *path,
				  const char *name, const char *content_type,
				  const void *data, size_t size,
				  unsigned depth);
void mock_message_free(vigil_message *msg);

/* What the last mock_eval() learnt from the condition. */
struct mock_eval_report {
	vigil_result result;
	char detail[512];
	const vigil_part *part;
	char tickets[8][128];
	size_t n_tickets;
	char threat[128]; /* from eval_threat() */
	vigil_action intercept; /* from eval_intercept(), if intercept_set */
	int intercept_set;
};

/* Compile one condition from libconfig text (the condition's group body,
 * e.g. "type = \"truetype\"; categories = [\"executable\"];") with the
 * registered condition type, and evaluate it on msg. Returns VIGIL_ERROR and
 * sets *error_r when the condition does not compile. */
vigil_result mock_eval(mock_host *m, const char *condition, vigil_message *msg,
		       struct mock_eval_report *report_r,
		       const char **error_r);

#endif
