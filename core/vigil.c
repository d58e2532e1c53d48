/*
 * vigil.c - `vigil`, the administrator's tool: global options, then one
 * subcommand. Exit codes: 0 success, 1 a finding (or failed check), 2 an
 * error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "host.h"
#include "msg.h"

static const struct command {
	const char *name;
	int (*run)(const struct cmd_globals *g, int argc, char **argv);
	const char *usage;
} commands[] = {
	{"scan", cmd_scan, "scan [--json] [--sender ADDR] [--rcpt ADDR]... FILE...|-"},
	{"check-config", cmd_check_config, "check-config"},
	{"queue", cmd_queue_main, "queue list [--area AREA] [filters] [--format table|json|csv]"},
	{"quarantine", cmd_quarantine_main, "quarantine show|release|reprocess|delete ID"},
	{"log", cmd_log_main, "log policy|tracking [filters] [--format table|json|csv]"},
	{"deliver", cmd_deliver, "deliver ID"},
	{"status", cmd_status, "status"},
	{"reload", cmd_reload, "reload"},
};

/* Command groups plugins offer (run by cmd_plugin). */
static const char *const plugin_usage[] = {
	"va status|release ID|cache list|cache clear|unregister   (ddan plugin)",
	"so list|sync|lookup VALUE   (ctd plugin)",
};

static void usage(FILE *out)
{
	fputs("usage: vigil [--config PATH] COMMAND [ARGS]\n\ncommands:\n", out);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(out, "  vigil %s\n", commands[i].usage);
	for (size_t i = 0; i < sizeof plugin_usage / sizeof plugin_usage[0]; i++)
		fprintf(out, "  vigil %s\n", plugin_usage[i]);
	fputs("\nSee vigil(1).\n", out);
}

struct host *cmd_load_host(const struct cmd_globals *g, struct store *store)
{
	struct errlist errors = {0};
	struct host *h = host_new(g->config_path, store, &errors);
	for (size_t i = 0; i < errors.lines.n; i++)
		fprintf(stderr, "%s\n", errors.lines.v[i]);
	errlist_free(&errors);
	return h;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0}};
	struct cmd_globals g = {NULL};
	int c;
	/* '+': stop at the subcommand, its options are its own */
	while ((c = getopt_long(argc, argv, "+c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			g.config_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			puts("vigil " PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(argv[optind], commands[i].name) == 0) {
			msg_library_init();
			int sub_argc = argc - optind;
			char **sub_argv = argv + optind;
			optind = 1; /* the subcommand parses its own options */
			return commands[i].run(&g, sub_argc, sub_argv);
		}
	/* not ours: perhaps a plugin's command group */
	msg_library_init();
	int sub_argc = argc - optind;
	char **sub_argv = argv + optind;
	optind = 1;
	int rc = cmd_plugin(&g, sub_argc, sub_argv);
	if (rc == 3) {
		fprintf(stderr, "vigil: unknown command '%s'\n", sub_argv[0]);
		usage(stderr);
		rc = 2;
	}
	return rc;
}
