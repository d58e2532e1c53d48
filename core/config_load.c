/*
 * config_load.c - read vigil.conf and the drop-in directory.
 *
 * Reads and checks shapes only: it never loads a plugin or compiles a rule.
 * It refuses files anyone but their owner could have written, and it keeps
 * going after an error so that `vigil check-config` lists every problem.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef VIGIL_CONFIG_FILE
#define VIGIL_CONFIG_FILE "/etc/vigil/vigil.conf"
#endif
#ifndef VIGIL_SPOOL_DIR
#define VIGIL_SPOOL_DIR "/var/spool/vigil"
#endif
#ifndef VIGIL_STATE_DIR
#define VIGIL_STATE_DIR "/var/lib/vigil"
#endif
#ifndef VIGIL_PLUGIN_DIR
#define VIGIL_PLUGIN_DIR "/usr/lib/vigil/plugins"
#endif

static const char *const main_keys[] = {
	"plugin_dir", "include_dir", "internal_domains", "limits", "exceptions",
	"plugins", "rules", "notifications", "areas", "daemon", "store", NULL};
static const char *const dropin_keys[] = {"plugins", "rules", "notifications",
					  "areas", NULL};

char *safe_file_problem(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return xasprintf("%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return xasprintf("%s: not a regular file", path);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return xasprintf("%s: refused: writable by group or others "
				 "(mode %03o); chmod go-w it",
				 path, (unsigned)(st.st_mode & 0777));
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return xasprintf("%s: refused: owned by uid %u, neither root "
				 "nor the running user (uid %u)",
				 path, (unsigned)st.st_uid, (unsigned)geteuid());
	return NULL;
}

int check_keys(const config_setting_t *group, const char *const *allowed,
	       struct errlist *errors)
{
	int bad = 0;
	for (int i = 0; i < config_setting_length(group); i++) {
		const config_setting_t *s = config_setting_get_elem(group, i);
		const char *key = config_setting_name(s);
		const char *const *k = allowed;
		while (*k && strcmp(*k, key) != 0)
			k++;
		if (*k == NULL) {
			errlist_at(errors, s, "unknown setting '%s'", key);
			bad = -1;
		}
	}
	return bad;
}

int setting_string(const config_setting_t *group, const char *key,
		   const char **value_r, struct errlist *errors)
{
	const config_setting_t *s = config_setting_get_member(group, key);
	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		errlist_at(errors, s, "'%s' must be a string", key);
		return -1;
	}
	*value_r = config_setting_get_string(s);
	return 1;
}

int setting_bool(const config_setting_t *group, const char *key, int *value_r,
		 struct errlist *errors)
{
	const config_setting_t *s = config_setting_get_member(group, key);
	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		errlist_at(errors, s, "'%s' must be true or false", key);
		return -1;
	}
	*value_r = config_setting_get_bool(s);
	return 1;
}

/* An array or list of strings; a single string is taken as one element. */
int setting_strings(const config_setting_t *group, const char *key,
		    struct strvec *out, struct errlist *errors)
{
	const config_setting_t *s = config_setting_get_member(group, key);
	if (s == NULL)
		return 0;
	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		strvec_push(out, config_setting_get_string(s));
		return 1;
	}
	if (!config_setting_is_aggregate(s) || config_setting_is_group(s)) {
		errlist_at(errors, s, "'%s' must be a list of strings", key);
		return -1;
	}
	for (int i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			errlist_at(errors, e, "'%s' must hold only strings",
				   key);
			return -1;
		}
		strvec_push(out, config_setting_get_string(e));
	}
	return 1;
}

/* Append the group elements of list `key` in `root` to *v. */
static void collect_list(const config_setting_t *root, const char *key,
			 const config_setting_t ***v, size_t *n,
			 struct errlist *errors)
{
	const config_setting_t *list = config_setting_get_member(root, key);
	if (list == NULL)
		return;
	if (!config_setting_is_list(list) && !config_setting_is_array(list)) {
		errlist_at(errors, list, "'%s' must be a list: %s = ( { ... } );",
			   key, key);
		return;
	}
	for (int i = 0; i < config_setting_length(list); i++) {
		const config_setting_t *e = config_setting_get_elem(list, i);
		if (!config_setting_is_group(e)) {
			errlist_at(errors, e, "each element of '%s' must be "
					      "a group { ... }", key);
			continue;
		}
		*v = xrealloc(*v, (*n + 1) * sizeof **v);
		(*v)[(*n)++] = e;
	}
}

static int read_file(config_t *cf, const char *path, const char *include_dir,
		     struct errlist *errors)
{
	char *problem = safe_file_problem(path);
	if (problem != NULL) {
		errlist_add(errors, "%s", problem);
		free(problem);
		return -1;
	}
	config_init(cf);
	config_set_include_dir(cf, include_dir);
	config_set_options(cf, CONFIG_OPTION_AUTOCONVERT |
				       CONFIG_OPTION_SEMICOLON_SEPARATORS);
	if (!config_read_file(cf, path)) {
		const char *file = config_error_file(cf);
		errlist_add(errors, "%s:%d: %s", file ? file : path,
			    config_error_line(cf), config_error_text(cf));
		config_destroy(cf);
		return -1;
	}
	return 0;
}

static int conf_filter(const struct dirent *d)
{
	size_t len = strlen(d->d_name);
	return d->d_name[0] != '.' && len > 5 &&
	       strcmp(d->d_name + len - 5, ".conf") == 0 &&
	       strcmp(d->d_name, "vigil.conf") != 0;
}

static char *resolve(const char *base_dir, const char *p)
{
	return p[0] == '/' ? xstrdup(p) : xasprintf("%s/%s", base_dir, p);
}

static void read_limits(struct vigil_config *cfg, const config_setting_t *g,
			struct errlist *errors)
{
	static const struct {
		const char *key;
		size_t offset;
		int wide;
	} keys[] = {
		{"max_message_size", offsetof(struct msg_limits, max_message_size), 1},
		{"max_recipients", offsetof(struct msg_limits, max_recipients), 0},
		{"archive_max_depth", offsetof(struct msg_limits, archive_max_depth), 0},
		{"archive_max_members", offsetof(struct msg_limits, archive_max_members), 0},
		{"archive_max_total_size", offsetof(struct msg_limits, archive_max_total_size), 1},
		{"archive_max_ratio", offsetof(struct msg_limits, archive_max_ratio), 0},
	};
	if (!config_setting_is_group(g)) {
		errlist_at(errors, g, "'limits' must be a group { ... }");
		return;
	}
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, i);
		const char *key = config_setting_name(s);
		size_t k = 0;
		while (k < sizeof keys / sizeof keys[0] &&
		       strcmp(keys[k].key, key) != 0)
			k++;
		if (k == sizeof keys / sizeof keys[0]) {
			errlist_at(errors, s, "unknown setting 'limits.%s'", key);
			continue;
		}
		int type = config_setting_type(s);
		long long v = config_setting_get_int64(s);
		if ((type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) ||
		    v <= 0 || (!keys[k].wide && v > UINT_MAX)) {
			errlist_at(errors, s, "'limits.%s' must be a positive "
					      "integer", key);
			continue;
		}
		char *field = (char *)&cfg->limits + keys[k].offset;
		if (keys[k].wide)
			*(uint64_t *)field = (uint64_t)v;
		else
			*(unsigned *)field = (unsigned)v;
	}
}

static void read_exceptions(struct vigil_config *cfg,
			    const config_setting_t *g, struct errlist *errors)
{
	static const char *const keys[] = {"security_violation", "malformed",
					   NULL};
	if (!config_setting_is_group(g)) {
		errlist_at(errors, g, "'exceptions' must be a group { ... }");
		return;
	}
	check_keys(g, keys, errors);
	cfg->security_violation.setting =
		config_setting_get_member(g, "security_violation");
	cfg->malformed.setting = config_setting_get_member(g, "malformed");
}

static void read_notifications(struct vigil_config *cfg,
			       const config_setting_t *const *v, size_t n,
			       struct errlist *errors)
{
	static const char *const keys[] = {"name", "from", "to", "subject",
					   "body", NULL};
	cfg->notifications = xcalloc(n, sizeof *cfg->notifications);
	for (size_t i = 0; i < n; i++) {
		struct notification *nt = &cfg->notifications[i];
		nt->setting = v[i];
		check_keys(v[i], keys, errors);
		setting_string(v[i], "name", &nt->name, errors);
		setting_string(v[i], "from", &nt->from, errors);
		setting_string(v[i], "subject", &nt->subject, errors);
		setting_string(v[i], "body", &nt->body, errors);
		setting_strings(v[i], "to", &nt->to, errors);
		if (nt->name == NULL)
			errlist_at(errors, v[i], "notification without a name");
		else if (config_notification(cfg, nt->name) != NULL)
			errlist_at(errors, v[i], "duplicate notification '%s'",
				   nt->name);
		if (nt->to.n == 0)
			errlist_at(errors, v[i], "notification '%s' has no 'to'",
				   nt->name ? nt->name : "?");
		cfg->n_notifications = i + 1;
	}
}

static void read_areas(struct vigil_config *cfg,
		       const config_setting_t *const *v, size_t n,
		       struct errlist *errors)
{
	static const char *const keys[] = {"name", "retention_days", NULL};
	cfg->areas = xcalloc(n + 1, sizeof *cfg->areas);
	for (size_t i = 0; i < n; i++) {
		struct area *a = &cfg->areas[i];
		a->setting = v[i];
		a->retention_days = 30;
		check_keys(v[i], keys, errors);
		setting_string(v[i], "name", &a->name, errors);
		const config_setting_t *r =
			config_setting_get_member(v[i], "retention_days");
		if (r != NULL) {
			if (config_setting_type(r) != CONFIG_TYPE_INT ||
			    config_setting_get_int(r) <= 0)
				errlist_at(errors, r, "'retention_days' must be "
						      "a positive integer");
			else
				a->retention_days = config_setting_get_int(r);
		}
		if (a->name == NULL)
			errlist_at(errors, v[i], "area without a name");
		else if (config_area(cfg, a->name) != NULL)
			errlist_at(errors, v[i], "duplicate area '%s'", a->name);
		cfg->n_areas = i + 1;
	}
	/* The area every default action names always exists. */
	if (config_area(cfg, "default") == NULL)
		cfg->areas[cfg->n_areas++] =
			(struct area){NULL, "default", 30};
}

/* A positive int setting, or keep *value_r. */
static void setting_posint(const config_setting_t *g, const char *key,
			   int zero_ok, int *value_r, struct errlist *errors)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	if (s == NULL)
		return;
	if (config_setting_type(s) != CONFIG_TYPE_INT ||
	    config_setting_get_int(s) < (zero_ok ? 0 : 1))
		errlist_at(errors, s, "'%s' must be a %s integer", key,
			   zero_ok ? "non-negative" : "positive");
	else
		*value_r = config_setting_get_int(s);
}

static void setting_path(const config_setting_t *g, const char *key,
			 const char *base_dir, char **value_r,
			 struct errlist *errors)
{
	const char *v = NULL;
	if (setting_string(g, key, &v, errors) > 0) {
		free(*value_r);
		*value_r = *v ? resolve(base_dir, v) : xstrdup("");
	}
}

static void read_daemon(struct vigil_config *cfg, const config_setting_t *g,
			const char *main_dir, struct errlist *errors)
{
	static const char *const keys[] = {
		"listen", "next_hop", "spool_dir", "workers", "user",
		"max_connections", "hostname", "control_socket",
		"smtp_timeout", NULL};
	struct daemon_settings *d = &cfg->daemon;
	if (g != NULL && !config_setting_is_group(g)) {
		errlist_at(errors, g, "'daemon' must be a group { ... }");
		g = NULL;
	}
	d->next_hop = xstrdup("smtp:127.0.0.1:10025");
	d->spool_dir = xstrdup(VIGIL_SPOOL_DIR);
	d->user = xstrdup("vigil");
	d->hostname = xstrdup("");
	d->max_connections = 100;
	d->smtp_timeout = 300;
	if (g != NULL) {
		const char *v = NULL;
		check_keys(g, keys, errors);
		setting_strings(g, "listen", &d->listen, errors);
		if (setting_string(g, "next_hop", &v, errors) > 0) {
			free(d->next_hop);
			/* maildir paths are relative to the main file */
			d->next_hop = strncmp(v, "maildir:", 8) == 0 && v[8] != '/' ?
					      xasprintf("maildir:%s/%s", main_dir, v + 8) :
					      xstrdup(v);
		}
		setting_path(g, "spool_dir", main_dir, &d->spool_dir, errors);
		setting_path(g, "control_socket", main_dir, &d->control_socket,
			     errors);
		if (setting_string(g, "user", &v, errors) > 0) {
			free(d->user);
			d->user = xstrdup(v);
		}
		if (setting_string(g, "hostname", &v, errors) > 0) {
			free(d->hostname);
			d->hostname = xstrdup(v);
		}
		setting_posint(g, "workers", 1, &d->workers, errors);
		setting_posint(g, "max_connections", 0, &d->max_connections, errors);
		setting_posint(g, "smtp_timeout", 0, &d->smtp_timeout, errors);
	}
	for (size_t i = 0; g != NULL && i < d->listen.n; i++)
		if (strncmp(d->listen.v[i], "smtp:", 5) != 0 &&
		    strncmp(d->listen.v[i], "lmtp:", 5) != 0 &&
		    strncmp(d->listen.v[i], "unix:", 5) != 0)
			errlist_at(errors, config_setting_get_member(g, "listen"),
				   "listen \"%s\": use smtp:HOST:PORT, "
				   "lmtp:HOST:PORT or unix:PATH", d->listen.v[i]);
	if (g != NULL && strncmp(d->next_hop, "smtp:", 5) != 0 &&
	    strncmp(d->next_hop, "lmtp:", 5) != 0 &&
	    strncmp(d->next_hop, "maildir:", 8) != 0)
		errlist_at(errors, config_setting_get_member(g, "next_hop"),
			   "next_hop \"%s\": use smtp:HOST:PORT, lmtp:HOST:PORT "
			   "or maildir:DIR", d->next_hop);
	if (d->listen.n == 0)
		strvec_push(&d->listen, "smtp:127.0.0.1:10024");
	if (d->control_socket == NULL)
		d->control_socket = xasprintf("%s/control", d->spool_dir);
}

static void read_store(struct vigil_config *cfg, const config_setting_t *g,
		       const char *main_dir, struct errlist *errors)
{
	static const char *const keys[] = {"backend", "path", "retention_days",
					   NULL};
	struct store_settings *st = &cfg->store;
	st->backend = xstrdup("sqlite");
	st->path = xstrdup(VIGIL_STATE_DIR "/vigil.db");
	st->retention_days = 30;
	if (g == NULL)
		return;
	if (!config_setting_is_group(g)) {
		errlist_at(errors, g, "'store' must be a group { ... }");
		return;
	}
	const char *v = NULL;
	check_keys(g, keys, errors);
	if (setting_string(g, "backend", &v, errors) > 0) {
		free(st->backend);
		st->backend = xstrdup(v);
	}
	setting_path(g, "path", main_dir, &st->path, errors);
	setting_posint(g, "retention_days", 0, &st->retention_days, errors);
}

static void read_main(struct vigil_config *cfg, const config_setting_t *root,
		      const char *main_dir, struct errlist *errors)
{
	const char *s = NULL;
	check_keys(root, main_keys, errors);
	cfg->plugin_dir = xstrdup(VIGIL_PLUGIN_DIR);
	if (setting_string(root, "plugin_dir", &s, errors) > 0) {
		free(cfg->plugin_dir);
		cfg->plugin_dir = resolve(main_dir, s);
	}
	cfg->include_dir = resolve(main_dir, "conf.d");
	if (setting_string(root, "include_dir", &s, errors) > 0) {
		free(cfg->include_dir);
		cfg->include_dir = resolve(main_dir, s);
	}
	setting_strings(root, "internal_domains", &cfg->internal_domains,
			errors);
	const config_setting_t *g;
	if ((g = config_setting_get_member(root, "limits")) != NULL)
		read_limits(cfg, g, errors);
	if ((g = config_setting_get_member(root, "exceptions")) != NULL)
		read_exceptions(cfg, g, errors);
	read_daemon(cfg, config_setting_get_member(root, "daemon"), main_dir,
		    errors);
	read_store(cfg, config_setting_get_member(root, "store"), main_dir,
		   errors);
}

struct vigil_config *config_load(const char *path, struct errlist *errors)
{
	if (path == NULL)
		path = VIGIL_CONFIG_FILE;
	char *abs = realpath(path, NULL);
	if (abs == NULL) {
		errlist_add(errors, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct vigil_config *cfg = xcalloc(1, sizeof *cfg);
	cfg->main_file = abs;
	cfg->limits = msg_default_limits;
	char *dircopy = xstrdup(abs);
	const char *main_dir = dirname(dircopy);

	cfg->files = xcalloc(1, sizeof *cfg->files);
	if (read_file(&cfg->files[0], abs, main_dir, errors) != 0) {
		free(dircopy);
		free(cfg->files);
		cfg->files = NULL;
		config_free(cfg);
		return NULL;
	}
	cfg->n_files = 1;
	read_main(cfg, config_root_setting(&cfg->files[0]), main_dir, errors);
	free(dircopy);

	struct dirent **names = NULL;
	int n = scandir(cfg->include_dir, &names, conf_filter, alphasort);
	if (n < 0 && errno != ENOENT)
		errlist_add(errors, "%s: %s", cfg->include_dir, strerror(errno));
	if (n > 0)
		cfg->files = xrealloc(cfg->files, (size_t)(n + 1) * sizeof *cfg->files);
	struct stat main_st;
	int have_main_st = stat(abs, &main_st) == 0;
	for (int i = 0; i < n; i++) {
		char *file = xasprintf("%s/%s", cfg->include_dir,
				       names[i]->d_name);
		struct stat st;
		int same = have_main_st && stat(file, &st) == 0 &&
			   st.st_dev == main_st.st_dev &&
			   st.st_ino == main_st.st_ino;
		if (!same && read_file(&cfg->files[cfg->n_files], file,
				       cfg->include_dir, errors) == 0) {
			const config_setting_t *root =
				config_root_setting(&cfg->files[cfg->n_files]);
			cfg->n_files++;
			check_keys(root, dropin_keys, errors);
		}
		free(file);
		free(names[i]);
	}
	free(names);

	const config_setting_t **notes = NULL, **areas = NULL;
	size_t n_notes = 0, n_areas = 0;
	for (size_t i = 0; i < cfg->n_files; i++) {
		const config_setting_t *root = config_root_setting(&cfg->files[i]);
		collect_list(root, "plugins", &cfg->plugins, &cfg->n_plugins, errors);
		collect_list(root, "rules", &cfg->rules, &cfg->n_rules, errors);
		collect_list(root, "notifications", &notes, &n_notes, errors);
		collect_list(root, "areas", &areas, &n_areas, errors);
	}
	read_notifications(cfg, notes, n_notes, errors);
	read_areas(cfg, areas, n_areas, errors);
	free(notes);
	free(areas);
	return cfg;
}

const struct area *config_area(const struct vigil_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_areas; i++)
		if (cfg->areas[i].name && strcmp(cfg->areas[i].name, name) == 0)
			return &cfg->areas[i];
	return NULL;
}

const struct notification *config_notification(const struct vigil_config *cfg,
					       const char *name)
{
	for (size_t i = 0; i < cfg->n_notifications; i++)
		if (cfg->notifications[i].name &&
		    strcmp(cfg->notifications[i].name, name) == 0)
			return &cfg->notifications[i];
	return NULL;
}

void config_free(struct vigil_config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->n_notifications; i++)
		strvec_free(&cfg->notifications[i].to);
	free(cfg->notifications);
	free(cfg->areas);
	free(cfg->plugins);
	free(cfg->rules);
	strvec_free(&cfg->internal_domains);
	for (size_t i = 0; i < cfg->n_files; i++)
		config_destroy(&cfg->files[i]);
	free(cfg->files);
	strvec_free(&cfg->daemon.listen);
	free(cfg->daemon.next_hop);
	free(cfg->daemon.spool_dir);
	free(cfg->daemon.control_socket);
	free(cfg->daemon.user);
	free(cfg->daemon.hostname);
	free(cfg->store.backend);
	free(cfg->store.path);
	free(cfg->main_file);
	free(cfg->plugin_dir);
	free(cfg->include_dir);
	free(cfg);
}
