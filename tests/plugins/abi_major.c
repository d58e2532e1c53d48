/* abi_major.c - a plugin built for a future major ABI: must be refused. */
#include <vigil/plugin.h>

static int init(vigil_host *h, const config_setting_t *c, void **s,
		const char **e)
{
	(void)h, (void)c, (void)s, (void)e;
	return 0;
}

extern const vigil_plugin_def vigil_plugin;
const vigil_plugin_def vigil_plugin = {
	.abi_major = VIGIL_ABI_MAJOR + 1, .abi_minor = 0,
	.build_signature = VIGIL_BUILD_SIGNATURE, .name = "abi_major",
	.version = "1", .init = init};
