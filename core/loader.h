/*
 * loader.h - find, check and open plugin .so files.
 *
 * Before any plugin code runs: the file must be a regular file only root or
 * we can write; dlopen(RTLD_NOW|RTLD_LOCAL); the `vigil_plugin` symbol must
 * exist with our ABI major, a minor no newer than ours, and our build
 * signature. Opened plugins stay loaded for the life of the process (never
 * dlclose()d: a reload may still run their code in old generations).
 */
#ifndef VIGIL_LOADER_H
#define VIGIL_LOADER_H

#include <vigil/plugin.h>

/* Returns the plugin's definition, or NULL with a malloc'd reason that
 * names the file and, for version problems, both versions. */
const vigil_plugin_def *loader_open(const char *dir, const char *name,
				    char **error_r);

#endif
