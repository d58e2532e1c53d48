/* abi_minor.c - a plugin that needs a newer minor ABI: must be refused. */
#include <vigil/plugin.h>

static int init(vigil_host *h, const config_setting_t *c, void **s,
		const char **e)
{
	(void)h, (void)c, (void)s, (void)e;
	return 0;
}

extern const vigil_plugin_def vigil_plugin;
const vigil_plugin_def vigil_plugin = {
	.abi_major = VIGIL_ABI_MAJOR, .abi_minor = VIGIL_ABI_MINOR + 1,
	.build_signature = VIGIL_BUILD_SIGNATURE, .name = "abi_minor",
	.version = "1", .init = init};
