/*
 * cmd_admin.c - the administrator's commands around the daemon:
 *   queue list, quarantine show|release|reprocess|delete, log policy|tracking,
 *   status, reload.
 * Queries read the store directly, so they work while vigild is down;
 * commands that change live state go through vigild's control socket.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "host.h"
#include "report.h"
#include "store.h"

/* The settings these commands need (store, control socket) come from the
 * main file. A mistake elsewhere (a broken drop-in the daemon refused on
 * reload) is a warning here: the administrator still needs the queues. */
struct vigil_config *cmd_load_config(const struct cmd_globals *g)
{
	struct errlist errors = {0};
	struct vigil_config *cfg = config_load(g->config_path, &errors);
	for (size_t i = 0; i < errors.lines.n; i++)
		fprintf(stderr, "%s%s\n", cfg ? "vigil: warning: " : "",
			errors.lines.v[i]);
	errlist_free(&errors);
	return cfg;
}

static struct store *open_store(const struct vigil_config *cfg)
{
	struct store *s = NULL;
	char *err = NULL;
	if (store_open(cfg->store.backend, cfg->store.path, &s, &err) != 0) {
		fprintf(stderr, "vigil: store: %s\n", err);
		free(err);
		return NULL;
	}
	return s;
}

/* Send one command to vigild and return its answer (malloc'd), or NULL
 * when vigild cannot be reached (said on stderr unless `quiet`). */
char *cmd_control_ask(const struct vigil_config *cfg, const char *command,
		      int quiet)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s",
		 cfg->daemon.control_socket);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
		if (!quiet)
			fprintf(stderr, "vigil: cannot reach vigild at %s: %s "
					"(is it running?)\n",
				sun.sun_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	struct timeval tv = {60, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char *line = xasprintf("%s\n", command);
	ssize_t sent = send(fd, line, strlen(line), MSG_NOSIGNAL);
	free(line);
	if (sent < 0) {
		fprintf(stderr, "vigil: %s\n", strerror(errno));
		close(fd);
		return NULL;
	}
	char buf[4096];
	ssize_t n;
	char *answer = xstrdup("");
	while ((n = recv(fd, buf, sizeof buf, 0)) > 0) {
		char *t = xasprintf("%s%.*s", answer, (int)n, buf);
		free(answer);
		answer = t;
	}
	close(fd);
	return answer;
}

/* Send one command to vigild; print its answer. Exit 0 on "ok"/JSON. */
static int control(const struct vigil_config *cfg, const char *command)
{
	char *answer = cmd_control_ask(cfg, command, 0);
	if (answer == NULL)
		return 2;
	int rc = strncmp(answer, "ok", 2) == 0 || answer[0] == '{' ? 0 : 1;
	fputs(answer, rc ? stderr : stdout);
	if (*answer == '\0') {
		fputs("vigil: no answer from vigild\n", stderr);
		rc = 2;
	}
	free(answer);
	return rc;
}

/* "2026-11-24", "2026-11-24 15:30[:00]" (local time) or epoch seconds. */
static int parse_time(const char *s, time_t *t_r)
{
	static const char *const formats[] = {"%Y-%m-%d %H:%M:%S",
					      "%Y-%m-%dT%H:%M:%S",
					      "%Y-%m-%d %H:%M", "%Y-%m-%d"};
	char *end;
	long long v = strtoll(s, &end, 10);
	if (*end == '\0' && v > 0) {
		*t_r = (time_t)v;
		return 0;
	}
	for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
		struct tm tm = {0};
		const char *rest = strptime(s, formats[i], &tm);
		if (rest != NULL && *rest == '\0') {
			tm.tm_isdst = -1;
			*t_r = mktime(&tm);
			return 0;
		}
	}
	return -1;
}

enum format { FMT_TABLE, FMT_JSON, FMT_CSV };

struct list_opts {
	struct store_filter f;
	enum format format;
};

/* Common filter options; returns optind-style index or -1. */
static int parse_filters(int argc, char **argv, struct list_opts *o,
			 int want_area)
{
	static const struct option opts[] = {
		{"area", required_argument, NULL, 'a'},
		{"since", required_argument, NULL, 's'},
		{"until", required_argument, NULL, 'u'},
		{"sender", required_argument, NULL, 'f'},
		{"recipient", required_argument, NULL, 'r'},
		{"subject", required_argument, NULL, 'j'},
		{"format", required_argument, NULL, 'o'},
		{"limit", required_argument, NULL, 'l'},
		{NULL, 0, NULL, 0}};
	int c;
	memset(o, 0, sizeof *o);
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (!want_area)
				return -1;
			o->f.area = optarg;
			break;
		case 's':
		case 'u':
			if (parse_time(optarg, c == 's' ? &o->f.since : &o->f.until)) {
				fprintf(stderr, "vigil: bad time '%s' (YYYY-MM-DD[ HH:MM[:SS]] or epoch)\n",
					optarg);
				return -1;
			}
			break;
		case 'f':
			o->f.sender = optarg;
			break;
		case 'r':
			o->f.recipient = optarg;
			break;
		case 'j':
			o->f.subject = optarg;
			break;
		case 'l':
			o->f.limit = atol(optarg);
			break;
		case 'o':
			if (strcmp(optarg, "table") == 0)
				o->format = FMT_TABLE;
			else if (strcmp(optarg, "json") == 0)
				o->format = FMT_JSON;
			else if (strcmp(optarg, "csv") == 0)
				o->format = FMT_CSV;
			else
				return -1;
			break;
		default:
			return -1;
		}
	}
	return optind;
}

static char *cell(json_t *v)
{
	if (json_is_string(v))
		return xstrdup(json_string_value(v));
	if (json_is_integer(v))
		return xasprintf("%lld", (long long)json_integer_value(v));
	if (json_is_null(v) || v == NULL)
		return xstrdup("");
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static void csv_field(const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, stdout);
		return;
	}
	putchar('"');
	for (; *s; s++) {
		if (*s == '"')
			putchar('"');
		putchar(*s);
	}
	putchar('"');
}

/* Print rows (json objects) with the given columns. */
static void print_rows(json_t *rows, const char *const *cols, enum format fmt)
{
	size_t i;
	json_t *row;
	if (fmt == FMT_JSON) {
		json_array_foreach(rows, i, row)
		{
			char *s = json_dumps(row, JSON_COMPACT);
			puts(s);
			free(s);
		}
		return;
	}
	for (size_t c = 0; cols[c]; c++) {
		if (fmt == FMT_CSV)
			printf("%s%s", c ? "," : "", cols[c]);
		else
			printf("%s%-20s", c ? " " : "", cols[c]);
	}
	putchar('\n');
	json_array_foreach(rows, i, row)
	{
		for (size_t c = 0; cols[c]; c++) {
			char *s = cell(json_object_get(row, cols[c]));
			if (fmt == FMT_CSV) {
				if (c)
					putchar(',');
				csv_field(s);
			} else {
				/* one line a row: no control characters */
				for (char *p = s; *p; p++)
					if ((unsigned char)*p < 0x20)
						*p = ' ';
				printf("%s%-20.60s", c ? " " : "", s);
			}
			free(s);
		}
		putchar('\n');
	}
}

/* The Virtual Analyzer queue's times, readable: 0 is "not yet". */
static void va_times(json_t *rows)
{
	static const char *const keys[][2] = {{"submitted", "submitted"},
					      {"last_query", "last_query"},
					      {"due", "expires"}};
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
		for (size_t k = 0; k < 3; k++) {
			time_t t = (time_t)json_integer_value(json_object_get(row, keys[k][0]));
			char buf[32] = "";
			struct tm tm;
			if (t > 0)
				strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S",
					 localtime_r(&t, &tm));
			json_object_set_new(row, keys[k][1], json_string(buf));
		}
}

static int cmd_queue(const struct cmd_globals *g, int argc, char **argv)
{
	static const char *const cols[] = {"msg_id", "area", "time", "sender",
					   "rcpts", "subject", "rule", "attempts",
					   "due", "detail", NULL};
	/* held for a verdict: the Virtual Analyzer's progress */
	static const char *const va_cols[] = {"msg_id", "time", "sender",
					      "rcpts", "subject", "submitted",
					      "last_query", "attempts",
					      "expires", "rule", NULL};
	struct list_opts o;
	if (argc < 2 || strcmp(argv[1], "list") != 0 ||
	    parse_filters(argc - 1, argv + 1, &o, 1) < 0) {
		fputs("usage: vigil queue list [--area quarantine|postponed|deferred|va|quarantine:NAME]\n"
		      "       [--since T] [--until T] [--sender P] [--recipient P] [--subject P]\n"
		      "       [--format table|json|csv]\n", stderr);
		return 2;
	}
	/* "quarantine" means every quarantine area */
	if (o.f.area && strcmp(o.f.area, "quarantine") == 0)
		o.f.area = "quarantine:";
	struct vigil_config *cfg = cmd_load_config(g);
	struct store *s = cfg ? open_store(cfg) : NULL;
	if (s == NULL) {
		config_free(cfg);
		return 2;
	}
	json_t *rows = s->ops->queue_list(s, &o.f);
	int va = o.f.area && strcmp(o.f.area, "va") == 0;
	if (va)
		va_times(rows);
	print_rows(rows, va ? va_cols : cols, o.format);
	json_decref(rows);
	s->ops->close(s);
	config_free(cfg);
	return 0;
}

static int cmd_log(const struct cmd_globals *g, int argc, char **argv)
{
	static const char *const policy_cols[] = {
		"time", "msg_id", "sender", "rcpts", "subject", "rule", "phase",
		"condition", "detected", "attachment", "action", "threat_type",
		NULL};
	static const char *const tracking_cols[] = {
		"time", "msg_id", "sender", "rcpts", "subject", "size",
		"final_action", "delivery", NULL};
	struct list_opts o;
	int policy = argc >= 2 && strcmp(argv[1], "policy") == 0;
	int tracking = argc >= 2 && strcmp(argv[1], "tracking") == 0;
	if ((!policy && !tracking) || parse_filters(argc - 1, argv + 1, &o, 0) < 0) {
		fputs("usage: vigil log policy|tracking [--since T] [--until T] [--sender P]\n"
		      "       [--recipient P] [--subject P] [--format table|json|csv]\n", stderr);
		return 2;
	}
	struct vigil_config *cfg = cmd_load_config(g);
	struct store *s = cfg ? open_store(cfg) : NULL;
	if (s == NULL) {
		config_free(cfg);
		return 2;
	}
	json_t *rows = policy ? s->ops->events(s, &o.f) : s->ops->tracking(s, &o.f);
	print_rows(rows, policy ? policy_cols : tracking_cols, o.format);
	json_decref(rows);
	s->ops->close(s);
	config_free(cfg);
	return 0;
}

static int show_quarantined(const struct cmd_globals *g,
			    struct vigil_config *cfg, const char *id)
{
	struct store *s = open_store(cfg);
	if (s == NULL)
		return 2;
	json_t *row = s->ops->queue_get(s, id);
	s->ops->close(s);
	const char *area = json_string_value(json_object_get(row, "area"));
	if (row == NULL || area == NULL || strncmp(area, "quarantine:", 11) != 0) {
		fprintf(stderr, "vigil: no quarantined message %s\n", id);
		json_decref(row);
		return 1;
	}
	static const char *const keys[] = {"msg_id", "area", "time", "sender",
					   "rcpts", "subject", "message_id",
					   "rule", "size", "detail", NULL};
	for (size_t k = 0; keys[k]; k++) {
		char *c = cell(json_object_get(row, keys[k]));
		printf("%-11s %s\n", strcmp(keys[k], "detail") ? keys[k] : "file", c);
		free(c);
	}
	const char *path = json_string_value(json_object_get(row, "detail"));
	size_t n;
	char *err = NULL;
	unsigned char *data = path ? read_whole_file(path, &n, &err) : NULL;
	if (data == NULL) {
		fprintf(stderr, "vigil: %s\n", err ? err : "no file");
		free(err);
		json_decref(row);
		return 2;
	}
	/* headers as stored, then the parts as vigil sees them */
	puts("\n-- headers");
	for (size_t i = 0; i < n; i++) {
		if (data[i] == '\n' && (i + 1 == n || data[i + 1] == '\n')) {
			fwrite(data, 1, i + 1, stdout);
			break;
		}
	}
	puts("-- parts");
	struct host *h = cmd_load_host(g, NULL);
	struct msg *m = h ? host_message(h, data, n) : msg_new(data, n, &cfg->limits, NULL, NULL);
	size_t np;
	const vigil_part *parts = msg_parts(m, &np);
	for (size_t i = 0; i < np; i++)
		printf("%-24s %-10s %-11s %8zu  %s\n", parts[i].path,
		       parts[i].true_type, parts[i].category, parts[i].size,
		       parts[i].name);
	msg_free(m);
	host_free(h);
	json_decref(row);
	return 0;
}

static int cmd_quarantine(const struct cmd_globals *g, int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[1], "show") && strcmp(argv[1], "release") &&
			  strcmp(argv[1], "reprocess") && strcmp(argv[1], "delete"))) {
		fputs("usage: vigil quarantine show|release|reprocess|delete ID\n", stderr);
		return 2;
	}
	struct vigil_config *cfg = cmd_load_config(g);
	if (cfg == NULL)
		return 2;
	int rc;
	if (strcmp(argv[1], "show") == 0) {
		rc = show_quarantined(g, cfg, argv[2]);
	} else {
		char *command = xasprintf("%s %s", argv[1], argv[2]);
		rc = control(cfg, command);
		free(command);
	}
	config_free(cfg);
	return rc;
}

static int cmd_control(const struct cmd_globals *g, const char *command)
{
	struct vigil_config *cfg = cmd_load_config(g);
	if (cfg == NULL)
		return 2;
	int rc = control(cfg, command);
	config_free(cfg);
	return rc;
}

int cmd_status(const struct cmd_globals *g, int argc, char **argv)
{
	(void)argc, (void)argv;
	return cmd_control(g, "status");
}

int cmd_reload(const struct cmd_globals *g, int argc, char **argv)
{
	(void)argc, (void)argv;
	return cmd_control(g, "reload");
}

int cmd_deliver(const struct cmd_globals *g, int argc, char **argv)
{
	if (argc != 2) {
		fputs("usage: vigil deliver ID   (retry a deferred or postponed message now)\n",
		      stderr);
		return 2;
	}
	char *command = xasprintf("deliver %s", argv[1]);
	int rc = cmd_control(g, command);
	free(command);
	return rc;
}

int cmd_queue_main(const struct cmd_globals *g, int argc, char **argv)
{
	return cmd_queue(g, argc, argv);
}

int cmd_log_main(const struct cmd_globals *g, int argc, char **argv)
{
	return cmd_log(g, argc, argv);
}

int cmd_quarantine_main(const struct cmd_globals *g, int argc, char **argv)
{
	return cmd_quarantine(g, argc, argv);
}
