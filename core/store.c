/*
 * store.c - choose a store backend by name and open it.
 *
 * The only place that knows which backends exist; everything else talks to
 * the table of functions in store.h. Never prints: an unknown name or a
 * failed open comes back as a malloc'd reason in *error_r.
 */
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "util.h"

static const struct store_ops *const backends[] = {
    &store_sqlite_ops,
    NULL,
};

/* "sqlite, pg": for the error that lists what would have worked. */
static char *known_backends(void)
{
	char *list = xstrdup("");
	for (size_t i = 0; backends[i] != NULL; i++) {
		char *t =
		    xasprintf("%s%s%s", list, i ? ", " : "", backends[i]->name);
		free(list);
		list = t;
	}
	return list;
}

int store_open(const char *backend, const char *target, struct store **store_r,
	       char **error_r)
{
	*store_r = NULL;
	if (backend == NULL || *backend == '\0')
		backend = "sqlite";
	for (size_t i = 0; backends[i] != NULL; i++) {
		if (strcmp(backends[i]->name, backend) != 0)
			continue;
		if (target == NULL || *target == '\0') {
			*error_r =
			    xasprintf("store backend '%s' needs a target "
				      "(a path)",
				      backend);
			return -1;
		}
		return backends[i]->open(target, store_r, error_r);
	}
	char *known = known_backends();
	*error_r =
	    xasprintf("unknown store backend '%s' (known: %s)", backend, known);
	free(known);
	return -1;
}
