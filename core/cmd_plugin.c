/*
 * cmd_plugin.c - `vigil GROUP ARGS...` for the command groups plugins
 * register (`vigil va ...` from ddan, `vigil so ...` from ctd).
 *
 * The command runs where the live state is: in vigild's current
 * generation when vigild is up (through the control socket), else in a
 * generation built here on the same config and store. `vigil va release`
 * is the core's: it changes a held message, so it needs vigild.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "config.h"
#include "host.h"
#include "store.h"

static int va_release(const struct vigil_config *cfg, int argc, char **argv)
{
	if (argc != 3) {
		fputs("usage: vigil va release ID\n", stderr);
		return 2;
	}
	char *command = xasprintf("va-release %s", argv[2]);
	char *answer = cmd_control_ask(cfg, command, 0);
	free(command);
	if (answer == NULL)
		return 2;
	int rc = strncmp(answer, "ok", 2) == 0 ? 0 : 1;
	fputs(answer, rc ? stderr : stdout);
	free(answer);
	return rc;
}

/* Ask vigild; -1 when it is not running. */
static int run_in_daemon(const struct vigil_config *cfg, int argc, char **argv)
{
	json_t *args = json_array();
	for (int i = 0; i < argc; i++)
		json_array_append_new(args, json_string(argv[i]));
	char *list = json_dumps(args, JSON_COMPACT);
	json_decref(args);
	char *command = xasprintf("plugin %s", list);
	free(list);
	char *answer = cmd_control_ask(cfg, command, 1);
	free(command);
	if (answer == NULL)
		return -1;
	json_t *o = json_loads(answer, 0, NULL);
	json_t *rc = json_object_get(o, "rc");
	int code = 2;
	if (json_is_integer(rc)) {
		code = (int)json_integer_value(rc);
		fputs(json_string_value(json_object_get(o, "output")),
		      code == 0 ? stdout : stderr);
	} else {
		fprintf(stderr, "vigil: %s", answer);
	}
	json_decref(o);
	free(answer);
	return code;
}

static int run_here(const struct cmd_globals *g,
		    const struct vigil_config *cfg, int argc, char **argv)
{
	struct store *s = NULL;
	char *err = NULL;
	if (store_open(cfg->store.backend, cfg->store.path, &s, &err) != 0) {
		fprintf(stderr, "vigil: store: %s\n", err);
		free(err);
		return 2;
	}
	struct host *h = cmd_load_host(g, s);
	int rc = 2;
	if (h != NULL) {
		const struct host_command *c = host_command(h, argv[0]);
		if (c != NULL) {
			rc = c->ops->run(c->ctx, argc - 1, argv + 1, stdout);
			if (rc == 2 && c->ops->usage)
				fprintf(stderr, "usage: vigil %s\n", c->ops->usage);
		} else {
			rc = 3;
		}
	}
	host_free(h);
	s->ops->close(s);
	return rc;
}

/* Returns 3 when no plugin offers the group. */
int cmd_plugin(const struct cmd_globals *g, int argc, char **argv)
{
	struct vigil_config *cfg = cmd_load_config(g);
	if (cfg == NULL)
		return 3;
	int rc;
	if (strcmp(argv[0], "va") == 0 && argc >= 2 &&
	    strcmp(argv[1], "release") == 0)
		rc = va_release(cfg, argc, argv);
	else if ((rc = run_in_daemon(cfg, argc, argv)) < 0)
		rc = run_here(g, cfg, argc, argv);
	config_free(cfg);
	return rc;
}
