/*
 * cmd.h - the subcommands of `vigil`, the administrator's tool. Each gets
 * the global options already parsed and its own argv (argv[0] is its name),
 * and returns the process exit code.
 */
#ifndef VIGIL_CMD_H
#define VIGIL_CMD_H

struct cmd_globals {
	const char *config_path; /* NULL: the installed default */
};

int cmd_scan(const struct cmd_globals *g, int argc, char **argv);
int cmd_check_config(const struct cmd_globals *g, int argc, char **argv);
int cmd_queue_main(const struct cmd_globals *g, int argc, char **argv);
int cmd_quarantine_main(const struct cmd_globals *g, int argc, char **argv);
int cmd_log_main(const struct cmd_globals *g, int argc, char **argv);
int cmd_status(const struct cmd_globals *g, int argc, char **argv);
int cmd_reload(const struct cmd_globals *g, int argc, char **argv);
int cmd_deliver(const struct cmd_globals *g, int argc, char **argv);

int cmd_plugin(const struct cmd_globals *g, int argc, char **argv);

/* Build a generation or print every error to stderr and return NULL.
 * `store` (may be NULL) is what plugins keep their data in. */
struct store;
struct host *cmd_load_host(const struct cmd_globals *g, struct store *store);

/* The config's main file alone (store, control socket), errors elsewhere
 * as warnings; NULL (errors printed) when it cannot be read. */
struct vigil_config;
struct vigil_config *cmd_load_config(const struct cmd_globals *g);

/* One command to vigild's control socket: its answer (malloc'd), or NULL
 * when vigild is not reachable (said on stderr unless quiet). */
char *cmd_control_ask(const struct vigil_config *cfg, const char *command,
		      int quiet);

#endif
