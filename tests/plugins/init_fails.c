/* init_fails.c - a well-formed plugin whose init() fails: the generation
 * must be refused with its reason, and nothing may crash. */
#include <vigil/plugin.h>

static int init(vigil_host *h, const config_setting_t *c, void **s,
		const char **error_r)
{
	(void)h, (void)c, (void)s;
	*error_r = "cannot reach the license server (on purpose)";
	return -1;
}

VIGIL_PLUGIN("init_fails", "1.0", .init = init);
