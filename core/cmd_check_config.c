/*
 * cmd_check_config.c - `vigil check-config`: build a whole generation as
 * the daemon would, print every error as FILE:LINE: message (exit 1), or a
 * one-line summary (exit 0).
 */
#include <stdio.h>

#include "cmd.h"
#include "host.h"

int cmd_check_config(const struct cmd_globals *g, int argc, char **argv)
{
	(void)argv;
	if (argc > 1) {
		fputs("usage: vigil check-config\n", stderr);
		return 2;
	}
	struct host *h = cmd_load_host(g, NULL);
	if (h == NULL) {
		fputs("vigil: configuration has errors (see above)\n", stderr);
		return 1;
	}
	size_t per_phase[VIGIL_PHASE_COUNT] = {0}, configured = 0;
	for (size_t i = 0; i < h->policy.n_rules; i++) {
		per_phase[h->policy.rules[i].phase]++;
		configured += !h->policy.rules[i].hidden;
	}
	printf("vigil: configuration OK: %s (%zu files); plugins:",
	       h->cfg->main_file, h->cfg->n_files);
	for (size_t i = 0; i < h->n_plugins; i++)
		printf(" %s", h->plugins[i].def->name);
	if (h->n_plugins == 0)
		printf(" none");
	printf("; rules: virus %zu, hidden %zu, user %zu (%zu disabled)\n",
	       per_phase[VIGIL_PHASE_VIRUS], per_phase[VIGIL_PHASE_HIDDEN],
	       per_phase[VIGIL_PHASE_USER], h->cfg->n_rules - configured);
	host_free(h);
	return 0;
}
