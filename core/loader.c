/*
 * loader.c - check and dlopen plugins (see loader.h). It must never run
 * code from a file it has not checked, and never unload one it has run.
 */
#include "loader.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util.h"

/* Opened files, so that a reload finds a plugin it already checked. */
static struct opened {
	char *path;
	const vigil_plugin_def *def;
} *opened;
static size_t n_opened, cap_opened;

static int valid_name(const char *name)
{
	if (*name == '\0')
		return 0;
	for (const char *p = name; *p; p++)
		if (!(*p == '_' || *p == '-' || (*p >= 'a' && *p <= 'z') ||
		      (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
			return 0;
	return 1;
}

static char *check_def(const char *path, const char *name,
		       const vigil_plugin_def *def)
{
	if (def->abi_major != VIGIL_ABI_MAJOR)
		return xasprintf("plugin %s: built for plugin ABI %u.%u, but "
				 "this vigil has ABI %u.%u (major versions "
				 "differ): rebuild the plugin",
				 path, def->abi_major, def->abi_minor,
				 VIGIL_ABI_MAJOR, VIGIL_ABI_MINOR);
	if (def->abi_minor > VIGIL_ABI_MINOR)
		return xasprintf("plugin %s: built for plugin ABI %u.%u, newer "
				 "than this vigil's ABI %u.%u: upgrade vigil "
				 "or rebuild the plugin",
				 path, def->abi_major, def->abi_minor,
				 VIGIL_ABI_MAJOR, VIGIL_ABI_MINOR);
	if (def->build_signature != VIGIL_BUILD_SIGNATURE)
		return xasprintf("plugin %s: build signature 0x%08x does not "
				 "match this vigil's 0x%08x (built with other "
				 "type sizes): rebuild the plugin",
				 path, def->build_signature,
				 (unsigned)VIGIL_BUILD_SIGNATURE);
	if (def->name == NULL || strcmp(def->name, name) != 0)
		return xasprintf("plugin %s: calls itself '%s', expected '%s'",
				 path, def->name ? def->name : "(null)", name);
	if (def->init == NULL)
		return xasprintf("plugin %s: has no init function", path);
	return NULL;
}

const vigil_plugin_def *loader_open(const char *dir, const char *name,
				    char **error_r)
{
	*error_r = NULL;
	if (!valid_name(name)) {
		*error_r = xasprintf("plugin name '%s' is not a plain name "
				     "(letters, digits, - and _)", name);
		return NULL;
	}
	char *path = xasprintf("%s/%s.so", dir, name);
	for (size_t i = 0; i < n_opened; i++)
		if (strcmp(opened[i].path, path) == 0) {
			free(path);
			return opened[i].def;
		}

	char *problem = safe_file_problem(path);
	if (problem != NULL) {
		*error_r = xasprintf("plugin %s", problem);
		free(problem);
		free(path);
		return NULL;
	}
	void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (handle == NULL) {
		*error_r = xasprintf("plugin %s: cannot load: %s", path,
				     dlerror());
		free(path);
		return NULL;
	}
	const vigil_plugin_def *def = dlsym(handle, VIGIL_PLUGIN_SYMBOL);
	if (def == NULL) {
		*error_r = xasprintf("plugin %s: no '%s' symbol: not a vigil "
				     "plugin (define it with VIGIL_PLUGIN())",
				     path, VIGIL_PLUGIN_SYMBOL);
		dlclose(handle); /* none of its code has run */
		free(path);
		return NULL;
	}
	if ((*error_r = check_def(path, name, def)) != NULL) {
		dlclose(handle);
		free(path);
		return NULL;
	}
	struct opened *o = PUSH(opened, n_opened, cap_opened);
	o->path = path;
	o->def = def;
	return def;
}
