/*
 * cmd_scan.c - `vigil scan`: run the configured policy offline on RFC 822
 * files and report (JSON lines with --json). It never changes a message.
 * Exit 0: every message passed; 1: some message got another action (or is
 * waiting for a verdict); 2: an error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "host.h"
#include "report.h"
#include "store.h"

static int scan_one(struct host *h, const char *path, int json,
		    const char *sender, const struct strvec *rcpts)
{
	size_t size;
	char *err = NULL;
	unsigned char *raw = read_whole_file(path, &size, &err);
	if (raw == NULL) {
		fprintf(stderr, "vigil: %s\n", err);
		free(err);
		return 2;
	}
	struct msg *m = host_message(h, raw, size);
	if (sender != NULL || rcpts->n > 0)
		msg_set_envelope(m, sender ? sender : "",
				 (const char *const *)rcpts->v, rcpts->n);
	else
		msg_envelope_from_headers(m);

	struct policy_state st;
	policy_state_init(&st);
	policy_eval(h, m, &st);
	json_t *r = report_message(path, m, &st);
	if (json) {
		char *line = json_dumps(r, JSON_COMPACT | JSON_ENSURE_ASCII);
		puts(line);
		free(line);
	} else {
		report_print_human(stdout, r);
	}
	int rc = st.pending || st.intercept != VIGIL_ACTION_PASS;
	json_decref(r);
	policy_state_clear(&st);
	msg_free(m);
	return rc;
}

/* The daemon's store, when it exists and we may use it: plugins find
 * their persistent data there (suspicious-object lists synced by vigild,
 * cached sandbox verdicts). Never created here; without it scanning works,
 * with what the plugins can read from their own files. */
static struct store *existing_store(const struct cmd_globals *g)
{
	struct errlist errors = {0};
	struct vigil_config *cfg = config_load(g->config_path, &errors);
	errlist_free(&errors); /* cmd_load_host reports them */
	struct store *s = NULL;
	char *err = NULL;
	if (cfg != NULL && access(cfg->store.path, R_OK | W_OK) == 0 &&
	    store_open(cfg->store.backend, cfg->store.path, &s, &err) != 0) {
		free(err);
		s = NULL;
	}
	config_free(cfg);
	return s;
}

int cmd_scan(const struct cmd_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"sender", required_argument, NULL, 's'},
		{"rcpt", required_argument, NULL, 'r'},
		{NULL, 0, NULL, 0}};
	int json = 0, c;
	const char *sender = NULL;
	struct strvec rcpts = {0};
	while ((c = getopt_long(argc, argv, "js:r:", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 's':
			sender = optarg;
			break;
		case 'r':
			strvec_push(&rcpts, optarg);
			break;
		default:
			strvec_free(&rcpts);
			return 2;
		}
	}
	if (optind >= argc) {
		fputs("usage: vigil scan [--json] [--sender ADDR] "
		      "[--rcpt ADDR]... FILE...|-\n", stderr);
		strvec_free(&rcpts);
		return 2;
	}
	struct store *store = existing_store(g);
	struct host *h = cmd_load_host(g, store);
	if (h == NULL) {
		if (store)
			store->ops->close(store);
		strvec_free(&rcpts);
		return 2;
	}
	int worst = 0;
	for (int i = optind; i < argc; i++) {
		int rc = scan_one(h, argv[i], json, sender, &rcpts);
		if (rc > worst)
			worst = rc;
	}
	fflush(stdout);
	host_free(h);
	if (store)
		store->ops->close(store);
	strvec_free(&rcpts);
	return worst;
}
