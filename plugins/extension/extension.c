/*
 * extension.c - the "name or extension" condition.
 *
 *   { type = "extension"; names = "*.js;*.vbs;invoice.pdf"; }
 *
 * `names` holds `;`-separated globs (or a list of them), matched without
 * regard to case against the decoded file name of every part at any depth,
 * archive members included. A glob is matched against the whole name, so
 * "invoice.pdf.exe" matches "*.exe" (the double-extension trick). It looks
 * only at names: what a file really is is the truetype plugin's business.
 */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include <vigil/plugin.h>

struct ext_plugin {
	vigil_host *host;
};

struct ext_condition {
	char **globs;
	size_t n;
};

static void ext_condition_free(void *data)
{
	struct ext_condition *c = data;
	for (size_t i = 0; i < c->n; i++)
		free(c->globs[i]);
	free(c->globs);
	free(c);
}

/* Add each non-empty `;`-separated glob of `list`, trimmed. */
static int add_globs(struct ext_condition *c, const char *list)
{
	const char *p = list;
	while (*p) {
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *s = p;
		while (len > 0 && (*s == ' ' || *s == '\t'))
			s++, len--;
		while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		if (len > 0) {
			char **grown = realloc(c->globs,
					       (c->n + 1) * sizeof *c->globs);
			if (grown == NULL)
				return -1;
			c->globs = grown;
			if ((c->globs[c->n] = strndup(s, len)) == NULL)
				return -1;
			c->n++;
		}
		p = end ? end + 1 : p + strlen(p);
	}
	return 0;
}

static int ext_compile(void *ctx, const config_setting_t *setting,
		       vigil_userdata *cond_r, const char **error_r)
{
	static const char *const keys[] = {"names", NULL};
	struct ext_plugin *pl = ctx;
	if (vigil_check_keys(pl->host, setting, keys, error_r) != 0)
		return -1;
	const config_setting_t *names = config_setting_get_member(setting,
								  "names");
	if (names == NULL) {
		*error_r = vigil_setting_error(pl->host, setting,
					       "extension condition needs "
					       "names = \"*.exe;*.js\"");
		return -1;
	}
	struct ext_condition *c = calloc(1, sizeof *c);
	if (c == NULL)
		return -1;
	int bad = 0;
	if (config_setting_type(names) == CONFIG_TYPE_STRING) {
		bad = add_globs(c, config_setting_get_string(names));
	} else if (config_setting_is_array(names) ||
		   config_setting_is_list(names)) {
		for (int i = 0; i < config_setting_length(names) && !bad; i++) {
			const char *s = config_setting_get_string_elem(names, i);
			bad = s == NULL ? 1 : add_globs(c, s);
		}
	} else {
		bad = 1;
	}
	if (bad || c->n == 0) {
		ext_condition_free(c);
		*error_r = vigil_setting_error(pl->host, names,
					       "'names' must be a non-empty "
					       "string of ;-separated globs or "
					       "a list of strings");
		return -1;
	}
	cond_r->data = c;
	cond_r->free = ext_condition_free;
	return 0;
}

static vigil_result ext_eval(void *cond, vigil_message *msg, vigil_eval *ev)
{
	const struct ext_condition *c = cond;
	size_t n;
	const vigil_part *parts = vigil_message_parts(msg, &n);
	for (size_t i = 0; i < n; i++) {
		const char *name = parts[i].name;
		if (name == NULL || *name == '\0')
			continue;
		for (size_t g = 0; g < c->n; g++)
			if (fnmatch(c->globs[g], name, FNM_CASEFOLD) == 0) {
				vigil_eval_part(ev, &parts[i]);
				vigil_eval_detail(ev, "%s: name '%s' matches '%s'",
						  parts[i].path, name,
						  c->globs[g]);
				return VIGIL_MATCH;
			}
	}
	return VIGIL_NO_MATCH;
}

static const vigil_condition_ops ext_condition_ops = {
	.type = "extension",
	.compile = ext_compile,
	.eval = ext_eval,
};

static int ext_init(vigil_host *host, const config_setting_t *cfg,
		    void **state_r, const char **error_r)
{
	if (vigil_check_keys(host, cfg, NULL, error_r) != 0)
		return -1;
	struct ext_plugin *pl = calloc(1, sizeof *pl);
	if (pl == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	pl->host = host;
	if (vigil_register_condition(host, &ext_condition_ops, pl, error_r) != 0) {
		free(pl);
		return -1;
	}
	*state_r = pl;
	return 0;
}

static void ext_fini(void *state)
{
	free(state);
}

VIGIL_PLUGIN("extension", "1.0", .init = ext_init, .fini = ext_fini);
