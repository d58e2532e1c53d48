/* signature.c - a plugin built with other type sizes: must be refused. */
#include <vigil/plugin.h>

static int init(vigil_host *h, const config_setting_t *c, void **s,
		const char **e)
{
	(void)h, (void)c, (void)s, (void)e;
	return 0;
}

extern const vigil_plugin_def vigil_plugin;
const vigil_plugin_def vigil_plugin = {
	.abi_major = VIGIL_ABI_MAJOR, .abi_minor = VIGIL_ABI_MINOR,
	.build_signature = VIGIL_BUILD_SIGNATURE ^ 0x04000000u,
	.name = "signature", .version = "1", .init = init};
