/*
 * config.h - vigil.conf and its drop-in directory, read with libconfig.
 *
 * The main file names the global settings; every *.conf in include_dir
 * (lexical order) adds to the lists `plugins`, `rules`, `notifications` and
 * `areas`. Loading only reads and checks shapes; plugins and rules are
 * compiled by the host. Every problem is reported as FILE:LINE: message and
 * loading goes on, so the administrator sees all of them at once.
 */
#ifndef VIGIL_CONFIG_H
#define VIGIL_CONFIG_H

#include <libconfig.h>
#include "msg.h"
#include "util.h"

struct notification {
	const config_setting_t *setting;
	const char *name, *from, *subject, *body;
	struct strvec to;
};

struct area {
	const config_setting_t *setting;
	const char *name;
	int retention_days;
};

/* The actions of a scanning exception (`exceptions` group). */
struct exception_policy {
	const config_setting_t *setting; /* the actions group, or NULL */
	vigil_action intercept;
};

/* vigild's settings (`daemon` group). */
struct daemon_settings {
	struct strvec listen; /* "smtp:HOST:PORT", "lmtp:HOST:PORT", "unix:PATH" */
	char *next_hop;       /* "smtp:HOST:PORT", "lmtp:HOST:PORT", "maildir:DIR" */
	char *spool_dir;
	char *control_socket; /* default: SPOOL_DIR/control */
	char *user;           /* drop to this user when started as root; "" = stay */
	char *hostname;       /* for SMTP greetings; default: gethostname() */
	int workers;          /* scanning threads; 0 = one per CPU */
	int max_connections;
	int smtp_timeout;     /* seconds, command and data timeouts */
};

/* The store (`store` group). */
struct store_settings {
	char *backend; /* "sqlite" */
	char *path;
	int retention_days;
};

struct vigil_config {
	char *main_file;
	char *plugin_dir;
	char *include_dir;

	config_t *files; /* main first, then the drop-ins; kept for settings */
	size_t n_files;

	/* the concatenated lists, elements from every file */
	const config_setting_t **plugins, **rules;
	size_t n_plugins, n_rules;
	struct notification *notifications;
	size_t n_notifications;
	struct area *areas;
	size_t n_areas;

	struct strvec internal_domains;
	struct msg_limits limits;
	struct exception_policy security_violation, malformed;
	struct daemon_settings daemon;
	struct store_settings store;
};

/* Read `path` (NULL: the installed default). Returns NULL when the main
 * file cannot be used at all; otherwise a config, with any problems in
 * `errors` (the caller decides whether problems are fatal). */
struct vigil_config *config_load(const char *path, struct errlist *errors);
void config_free(struct vigil_config *cfg);

const struct area *config_area(const struct vigil_config *cfg,
			       const char *name);
const struct notification *config_notification(const struct vigil_config *cfg,
					       const char *name);

/* A file vigil reads code or policy from must be a regular file that only
 * its owner (root or us) can write. Returns NULL or the reason. */
char *safe_file_problem(const char *path);

/* Read-helpers that report a wrong type against the setting. */
int setting_string(const config_setting_t *group, const char *key,
		   const char **value_r, struct errlist *errors);
int setting_bool(const config_setting_t *group, const char *key, int *value_r,
		 struct errlist *errors);
int setting_strings(const config_setting_t *group, const char *key,
		    struct strvec *out, struct errlist *errors);
int check_keys(const config_setting_t *group, const char *const *allowed,
	       struct errlist *errors);

#endif
