/*
 * sample.c - a third-party vigil plugin, built out of tree against the
 * installed SDK alone (see Makefile). It offers one condition:
 *
 *   { type = "subject_contains"; text = "invoice"; }
 *
 * which matches when the decoded Subject contains `text`, ignoring case.
 */
#define _GNU_SOURCE /* strcasestr */
#include <stdlib.h>
#include <string.h>

#include <vigil/plugin.h>

struct sample {
	vigil_host *host;
};

static int sample_compile(void *ctx, const config_setting_t *setting,
			  vigil_userdata *cond_r, const char **error_r)
{
	static const char *const keys[] = {"text", NULL};
	struct sample *s = ctx;
	const char *text;
	if (vigil_check_keys(s->host, setting, keys, error_r) != 0)
		return -1;
	if (!config_setting_lookup_string(setting, "text", &text) || !*text) {
		*error_r = vigil_setting_error(s->host, setting,
					       "subject_contains needs text = \"...\"");
		return -1;
	}
	cond_r->data = strdup(text);
	cond_r->free = free;
	return cond_r->data ? 0 : -1;
}

static vigil_result sample_eval(void *cond, vigil_message *msg,
				vigil_eval *ev)
{
	const char *subject = vigil_message_header(msg, "Subject");
	if (subject == NULL || strcasestr(subject, cond) == NULL)
		return VIGIL_NO_MATCH;
	vigil_eval_detail(ev, "subject contains '%s'", (const char *)cond);
	return VIGIL_MATCH;
}

static const vigil_condition_ops sample_ops = {
	.type = "subject_contains",
	.compile = sample_compile,
	.eval = sample_eval,
};

static int sample_init(vigil_host *host, const config_setting_t *cfg,
		       void **state_r, const char **error_r)
{
	struct sample *s;
	if (vigil_check_keys(host, cfg, NULL, error_r) != 0)
		return -1;
	if ((s = calloc(1, sizeof *s)) == NULL)
		return -1;
	s->host = host;
	*state_r = s;
	return vigil_register_condition(host, &sample_ops, s, error_r);
}

static void sample_fini(void *state)
{
	free(state);
}

VIGIL_PLUGIN("sample", "1.0", .init = sample_init, .fini = sample_fini);
