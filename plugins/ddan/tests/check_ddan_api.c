/*
 * check_ddan_api.c - unit tests of the DDAN web service client against
 * tests/peers/ddan_sim.py, a strict simulator of the appliance.
 *
 * PURPOSE: every operation signed the way the simulator demands; sample
 * life (arrived/processing -> done, HTTP 102 -> report); one batched
 * get_brief_report for many samples; TLS with ca_file, with a certificate
 * fingerprint pin, and without either (must fail); the API key never in an
 * error; faults (5xx, malformed XML, hang, refuse, bad risk, bad reply
 * checksum) turned into errors or DDAN_UNKNOWN / DDAN_RISK_NONE.
 *
 * NEVER: hangs (every transfer has a short timeout, each test a Check
 * timeout, and each simulator dies with its test via PR_SET_PDEATHSIG and
 * its own --lifetime); needs anything but python3 and openssl(1) locally.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf, strcasestr */
#endif
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <openssl/sha.h>

#include "../ddan_api.h"

#define KEY "91E140D4-2C57-4239-AE55-B26213A63CED"
#define OTHER_KEY "0B5E4C1A-7D7F-4C55-9C1E-3A2B5D6E7F80"
#define CLIENT_UUID "2f1d8a4e-8c1b-4f0e-9a77-5d7c3e2b1a90"

/* ---------------------------------------------------------------------
 * The simulator
 */

struct sim {
	pid_t pid;
	char dir[64];
	int port;
	char ca_file[512];
	char pin[128];
};

static void read_line(const char *path, char *out, size_t outsz)
{
	FILE *f = fopen(path, "r");
	size_t n;

	out[0] = '\0';
	if (f == NULL)
		return;
	if (fgets(out, (int)outsz, f) == NULL)
		out[0] = '\0';
	fclose(f);
	n = strlen(out);
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[256], tmp[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	f = fopen(tmp, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(rename(tmp, path), 0);
}

/* A fresh state dir for a simulator. */
static void sim_init(struct sim *s)
{
	memset(s, 0, sizeof(*s));
	s->pid = -1;
	snprintf(s->dir, sizeof(s->dir), "/tmp/check_ddan.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(s->dir));
}

/* Starts the simulator with extra arguments (NULL-terminated), waits ready. */
static void sim_start(struct sim *s, const char *const *extra)
{
	const char *srcdir = getenv("srcdir");
	char script[512], portfile[256], path[256], buf[64];
	const char *argv[40];
	size_t n = 0;
	int i;

	if (srcdir == NULL || *srcdir == '\0')
		srcdir = ".";
	snprintf(script, sizeof(script), "%s/../../tests/peers/ddan_sim.py",
		 srcdir);
	ck_assert_msg(access(script, R_OK) == 0, "no simulator at %s", script);
	snprintf(portfile, sizeof(portfile), "%s/port", s->dir);
	argv[n++] = "python3";
	argv[n++] = script;
	argv[n++] = "--port";
	argv[n++] = "0";
	argv[n++] = "--port-file";
	argv[n++] = portfile;
	argv[n++] = "--state-dir";
	argv[n++] = s->dir;
	argv[n++] = "--api-key";
	argv[n++] = KEY;
	argv[n++] = "--processing-seconds";
	argv[n++] = "1";
	argv[n++] = "--lifetime";
	argv[n++] = "60";
	argv[n++] = "--hang-seconds";
	argv[n++] = "10";
	for (i = 0; extra != NULL && extra[i] != NULL && n < 38; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;

	s->pid = fork();
	ck_assert_int_ge(s->pid, 0);
	if (s->pid == 0) {
		int fd;

		/* dies with the test process, whatever happens to it */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		snprintf(path, sizeof(path), "%s/sim.log", s->dir);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 2);
			dup2(fd, 1);
			close(fd);
		}
		execvp("python3", (char *const *)argv);
		_exit(127);
	}
	for (i = 0; i < 1000; i++) { /* up to 10 s */
		int st;

		if (access(portfile, R_OK) == 0)
			break;
		ck_assert_msg(waitpid(s->pid, &st, WNOHANG) == 0,
			      "simulator exited early; see %s/sim.log", s->dir);
		usleep(10000);
	}
	read_line(portfile, buf, sizeof(buf));
	s->port = atoi(buf);
	ck_assert_msg(s->port > 0, "simulator not ready");
	snprintf(path, sizeof(path), "%s/ca_file", s->dir);
	read_line(path, s->ca_file, sizeof(s->ca_file));
	snprintf(path, sizeof(path), "%s/pin_sha256", s->dir);
	read_line(path, s->pin, sizeof(s->pin));
	ck_assert_int_gt(strlen(s->ca_file), 0);
	ck_assert_int_eq(strlen(s->pin), 95);
}

static void sim_stop(struct sim *s)
{
	DIR *d;
	struct dirent *e;
	char path[512];

	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
		s->pid = -1;
	}
	d = opendir(s->dir);
	if (d != NULL) {
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 ||
			    strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", s->dir,
				 e->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(s->dir);
}

static size_t collect(char *p, size_t size, size_t nmemb, void *arg)
{
	char *buf = arg;
	size_t have = strlen(buf), n = size * nmemb;

	if (have + n >= 65536)
		n = 65535 - have;
	memcpy(buf + have, p, n);
	buf[have + n] = '\0';
	return size * nmemb;
}

/* GET /sim/<what> over verified HTTPS into buf (64 KiB). */
static void sim_get(const struct sim *s, const char *what, char *buf)
{
	char url[128];
	CURL *c = curl_easy_init();
	CURLcode rc;

	ck_assert_ptr_nonnull(c);
	buf[0] = '\0';
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/sim/%s", s->port,
		 what);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, buf);
	rc = curl_easy_perform(c);
	curl_easy_cleanup(c);
	ck_assert_msg(rc == CURLE_OK, "GET /sim/%s: %s", what,
		      curl_easy_strerror(rc));
}

/* The integer after "key": in the stats JSON, -1 when absent. */
static long stat_of(const char *json, const char *key)
{
	char pat[128];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(json, pat);
	return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

/* ---------------------------------------------------------------------
 * Client helpers
 */

static const struct ddan_client_id client_id = {
    "vigil", "test-host", CLIENT_UUID, "501", "vigil", "1.5"};

static struct ddan_conn *conn_to(const struct sim *s, const char *key,
				 const char *ca, const char *pin,
				 unsigned timeout)
{
	struct ddan_server_cfg cfg = {"127.0.0.1", s->port, key,
				      ca,	   pin,	    timeout};
	char *error = NULL;
	struct ddan_conn *c = ddan_conn_new(&cfg, &client_id, &error);

	ck_assert_msg(c != NULL, "conn: %s", error ? error : "?");
	return c;
}

static struct ddan_conn *registered(const struct sim *s)
{
	struct ddan_conn *c = conn_to(s, KEY, s->ca_file, NULL, 5);
	char *error = NULL;

	ck_assert_msg(ddan_register(c, &error) == 0, "register: %s", error);
	return c;
}

static void sha1_of(const void *data, size_t n, char out[41])
{
	unsigned char md[SHA_DIGEST_LENGTH];
	int i;

	SHA1(data, n, md);
	for (i = 0; i < 20; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void assert_no_key(const char *error)
{
	ck_assert_ptr_nonnull(error);
	ck_assert_msg(strcasestr(error, KEY) == NULL &&
			  strcasestr(error, OTHER_KEY) == NULL,
		      "API key in error: %s", error);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Uploads a sample made of text; its sha1 into sha. */
static void upload(struct ddan_conn *c, const char *name, const char *text,
		   char sha[41])
{
	char *error = NULL;

	sha1_of(text, strlen(text), sha);
	ck_assert_msg(ddan_upload(c, sha, name, (const unsigned char *)text,
				  strlen(text), DDAN_SAMPLE_FILE, &error) == 0,
		      "upload: %s", error);
}

/* Polls a brief report of one sample until it is no longer in flight. */
static struct ddan_brief wait_done(struct ddan_conn *c, const char *sha)
{
	const char *one[1] = {sha};
	struct ddan_brief b;
	char *error = NULL;
	int i;

	for (i = 0; i < 60; i++) {
		ck_assert_msg(ddan_brief_report(c, one, 1, &b, &error) == 0,
			      "brief: %s", error);
		if (b.state != DDAN_ARRIVED && b.state != DDAN_PROCESSING)
			break;
		usleep(100000);
	}
	return b;
}

/* ---------------------------------------------------------------------
 * Tests
 */

START_TEST(test_connect_register_unregister)
{
	struct sim s;
	struct ddan_conn *c;
	char *error = NULL, stats[65536];
	const char *one[1] = {"da39a3ee5e6b4b0d3255bfef95601890afd80709"};
	int known[1];

	sim_init(&s);
	sim_start(&s, NULL);
	c = conn_to(&s, KEY, s.ca_file, NULL, 5);
	ck_assert_msg(ddan_test_connection(c, &error) == 0, "%s", error);
	/* not registered yet: the appliance refuses */
	ck_assert_int_eq(ddan_check_duplicate(c, one, 1, known, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "401"));
	assert_no_key(error);
	free(error);
	error = NULL;
	ck_assert_msg(ddan_register(c, &error) == 0, "%s", error);
	ck_assert_msg(ddan_check_duplicate(c, one, 1, known, &error) == 0, "%s",
		      error);
	sim_get(&s, "stats", stats);
	ck_assert_ptr_nonnull(strstr(stats, CLIENT_UUID));
	ck_assert_msg(ddan_unregister(c, &error) == 0, "%s", error);
	sim_get(&s, "stats", stats);
	ck_assert_ptr_null(strstr(stats, CLIENT_UUID));
	ck_assert_int_eq(stat_of(stats, "rejected_total"), 1);
	ddan_conn_free(c);
	sim_stop(&s);
}
END_TEST

START_TEST(test_check_duplicate)
{
	struct sim s;
	struct ddan_conn *c;
	char *error = NULL, known_sha[41], up[41];
	int known[3] = {7, 7, 7};

	sim_init(&s);
	sha1_of("preloaded", 9, known_sha);
	{
		char v[256], upper[41];

		/* upper case in the file: matching is case-insensitive */
		for (int i = 0; i < 41; i++)
			upper[i] =
			    (char)((known_sha[i] >= 'a' && known_sha[i] <= 'f')
				       ? known_sha[i] - 'a' + 'A'
				       : known_sha[i]);
		snprintf(v, sizeof(v),
			 "{\"sha1\": {\"%s\": {\"risk\": 2, "
			 "\"preloaded\": true}}}",
			 upper);
		write_file(s.dir, "verdicts.json", v);
	}
	{
		char vpath[128];
		const char *extra[] = {"--verdicts", vpath, NULL};

		snprintf(vpath, sizeof(vpath), "%s/verdicts.json", s.dir);
		sim_start(&s, extra);
	}
	c = registered(&s);
	upload(c, "x.txt", "uploaded text", up);
	{
		const char *list[3] = {
		    known_sha, "0123456789abcdef0123456789abcdef01234567", up};

		ck_assert_msg(ddan_check_duplicate(c, list, 3, known, &error) ==
				  0,
			      "%s", error);
	}
	ck_assert_int_eq(known[0], 1);
	ck_assert_int_eq(known[1], 0);
	ck_assert_int_eq(known[2], 1);
	/* a bad sha1 is refused before any request */
	{
		const char *bad[1] = {"not-a-sha1"};

		ck_assert_int_eq(ddan_check_duplicate(c, bad, 1, known, &error),
				 -1);
		free(error);
	}
	ddan_conn_free(c);
	sim_stop(&s);
}
END_TEST

START_TEST(test_upload_brief_processing_done)
{
	struct sim s;
	struct ddan_conn *c;
	char vpath[128], sha[41], other[41], *error = NULL;
	const char *extra[] = {"--verdicts", vpath, NULL};
	const char *both[2];
	struct ddan_brief b[2];

	sim_init(&s);
	write_file(s.dir, "verdicts.json",
		   "{\"name\": {\"*.exe\": {\"risk\": 3}, "
		   "\"*.js\": {\"risk\": 1}}, \"default\": {\"risk\": 0}}");
	snprintf(vpath, sizeof(vpath), "%s/verdicts.json", s.dir);
	sim_start(&s, extra);
	c = registered(&s);
	upload(c, "Invoice.EXE", "MZ this is a program", sha);
	sha1_of("never uploaded", 14, other);
	both[0] = sha;
	both[1] = other;
	ck_assert_msg(ddan_brief_report(c, both, 2, b, &error) == 0, "%s",
		      error);
	ck_assert_msg(b[0].state == DDAN_ARRIVED ||
			  b[0].state == DDAN_PROCESSING,
		      "state %s", ddan_state_name(b[0].state));
	ck_assert_int_eq(b[0].risk, DDAN_RISK_NONE);
	ck_assert_str_eq(b[0].sha1, sha);
	ck_assert_int_eq(b[1].state, DDAN_NOT_FOUND);
	b[0] = wait_done(c, sha);
	ck_assert_int_eq(b[0].state, DDAN_DONE);
	ck_assert_int_eq(b[0].risk, 3);
	upload(c, "a.js", "var x = 1;", sha);
	b[0] = wait_done(c, sha);
	ck_assert_int_eq(b[0].state, DDAN_DONE);
	ck_assert_int_eq(b[0].risk, 1);
	ddan_conn_free(c);
	sim_stop(&s);
}
END_TEST

START_TEST(test_report_102_then_fields)
{
	struct sim s;
	struct ddan_conn *c;
	char vpath[128], sha[41], v[512], *error = NULL;
	const char *extra[] = {"--verdicts", vpath, NULL};
	const char *text = "MZ evil";
	struct ddan_report r;
	int i;

	sim_init(&s);
	sha1_of(text, strlen(text), sha);
	snprintf(v, sizeof(v),
		 "{\"sha1\": {\"%s\": {\"risk\": 3, \"virus\": \"TROJ_X\", "
		 "\"type\": \"WIN32 EXE\"}}}",
		 sha);
	write_file(s.dir, "verdicts.json", v);
	snprintf(vpath, sizeof(vpath), "%s/verdicts.json", s.dir);
	sim_start(&s, extra);
	c = registered(&s);
	/* never uploaded: 404 */
	ck_assert_int_eq(ddan_report(c, sha, &r, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "404"));
	free(error);
	error = NULL;
	upload(c, "e.exe", text, sha);
	ck_assert_msg(ddan_report(c, sha, &r, &error) == 0, "%s", error);
	ck_assert_int_eq(r.processing, 1);
	ck_assert_int_eq(r.risk, DDAN_RISK_NONE);
	for (i = 0; i < 40 && r.processing; i++) {
		usleep(100000);
		ck_assert_msg(ddan_report(c, sha, &r, &error) == 0, "%s",
			      error);
	}
	ck_assert_int_eq(r.processing, 0);
	ck_assert_int_eq(r.risk, 3);
	ck_assert_str_eq(r.virus, "TROJ_X");
	ck_assert_str_eq(r.true_type, "WIN32 EXE");
	ddan_conn_free(c);
	sim_stop(&s);
}
END_TEST

START_TEST(test_brief_batch_one_request)
{
	struct sim s;
	struct ddan_conn *c;
	char shas[10][41], text[32], stats[65536], *error = NULL;
	const char *list[10];
	struct ddan_brief b[10];
	int i;

	sim_init(&s);
	sim_start(&s, NULL);
	c = registered(&s);
	for (i = 0; i < 10; i++) {
		snprintf(text, sizeof(text), "sample %d", i);
		upload(c, "s.bin", text, shas[i]);
		list[i] = shas[i];
	}
	usleep(1200000); /* all done */
	sim_get(&s, "reset", stats);
	ck_assert_msg(ddan_brief_report(c, list, 10, b, &error) == 0, "%s",
		      error);
	for (i = 0; i < 10; i++) {
		ck_assert_str_eq(b[i].sha1, shas[i]);
		ck_assert_int_eq(b[i].state, DDAN_DONE);
		ck_assert_int_eq(b[i].risk, 0);
	}
	sim_get(&s, "stats", stats);
	ck_assert_int_eq(stat_of(stats, "get_brief_report"), 1);
	ck_assert_int_eq(stat_of(stats, "total_requests"), 1);
	ck_assert_int_eq(stat_of(stats, "brief_report_items"), 10);
	ddan_conn_free(c);
	sim_stop(&s);
}
END_TEST

START_TEST(test_tls_ca_file_and_pins)
{
	struct sim s;
	struct ddan_conn *c;
	char *error = NULL, lower[128];
	size_t i;

	sim_init(&s);
	sim_start(&s, NULL);
	/* ca_file alone */
	c = conn_to(&s, KEY, s.ca_file, NULL, 5);
	ck_assert_msg(ddan_test_connection(c, &error) == 0, "%s", error);
	ddan_conn_free(c);
	/* pin alone: the self-signed leaf is accepted because it matches */
	c = conn_to(&s, KEY, NULL, s.pin, 5);
	ck_assert_msg(ddan_test_connection(c, &error) == 0, "%s", error);
	ck_assert_msg(ddan_test_connection(c, &error) == 0, "%s", error);
	ddan_conn_free(c);
	/* pin in lower case, and pin + ca_file */
	for (i = 0; s.pin[i] && i < sizeof(lower) - 1; i++)
		lower[i] = (char)((s.pin[i] >= 'A' && s.pin[i] <= 'F')
				      ? s.pin[i] - 'A' + 'a'
				      : s.pin[i]);
	lower[i] = '\0';
	c = conn_to(&s, KEY, s.ca_file, lower, 5);
	ck_assert_msg(ddan_test_connection(c, &error) == 0, "%s", error);
	ddan_conn_free(c);
	sim_stop(&s);
}
END_TEST

START_TEST(test_tls_wrong_pin)
{
	struct sim s;
	struct ddan_conn *c;
	char *error = NULL, wrong[128], expect[300];

	sim_init(&s);
	sim_start(&s, NULL);
	snprintf(wrong, sizeof(wrong), "%s", s.pin);
	wrong[0] = wrong[0] == '0' ? '1' : '0';
	/* wrong pin, with and without a ca_file that would trust the cert */
	for (int with_ca = 0; with_ca < 2; with_ca++) {
		c = conn_to(&s, KEY, with_ca ? s.ca_file : NULL, wrong, 5);
		ck_assert_int_eq(ddan_test_connection(c, &error), -1);
		ck_assert_msg(
		    strstr(error, "certificate fingerprint mismatch") != NULL,
		    "%s", error);
		snprintf(expect, sizeof(expect), "got %s, expected %s", s.pin,
			 wrong);
		ck_assert_msg(strstr(error, expect) != NULL, "%s", error);
		assert_no_key(error);
		free(error);
		error = NULL;
		ddan_conn_free(c);
	}
	sim_stop(&s);
}
END_TEST

START_TEST(test_tls_no_trust_fails)
{
	struct sim s;
	struct ddan_conn *c;
	char *error = NULL, stats[65536];

	sim_init(&s);
	sim_start(&s, NULL);
	c = conn_to(&s, KEY, NULL, NULL, 5);
	ck_assert_int_eq(ddan_test_connection(c, &error), -1);
	ck_assert_msg(strcasestr(error, "certificate") != NULL, "%s", error);
	free(error);
	ddan_conn_free(c);
	sim_get(&s, "stats", stats);
	ck_assert_int_eq(stat_of(stats, "total_requests"), 0);
	sim_stop(&s);
}
END_TEST

START_TEST(test_wrong_key_rejected_not_leaked)
{
	struct sim s;
	struct ddan_conn *c;
	char *error = NULL, stats[65536];

	sim_init(&s);
	sim_start(&s, NULL);
	c = conn_to(&s, OTHER_KEY, s.ca_file, NULL, 5);
	ck_assert_int_eq(ddan_test_connection(c, &error), -1);
	ck_assert_msg(strstr(error, "401") != NULL, "%s", error);
	assert_no_key(error);
	free(error);
	error = NULL;
	ck_assert_int_eq(ddan_register(c, &error), -1);
	assert_no_key(error);
	free(error);
	ddan_conn_free(c);
	sim_get(&s, "stats", stats);
	ck_assert_int_eq(stat_of(stats, "bad_checksum"), 2);
	sim_stop(&s);
}
END_TEST

START_TEST(test_conn_new_validation)
{
	static const struct {
		const char *host;
		int port;
		const char *key, *pin;
	} bad[] = {
	    {"127.0.0.1", 0, KEY, NULL},
	    {"127.0.0.1", 70000, KEY, NULL},
	    {"evil/host", 443, KEY, NULL},
	    {"a@b", 443, KEY, NULL},
	    {"127.0.0.1", 443, "", NULL},
	    {"127.0.0.1", 443, KEY "\r\nX: y", NULL},
	    {"127.0.0.1", 443, KEY, "AB:CD"},
	    {"127.0.0.1", 443, KEY, "zz:" KEY},
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ddan_server_cfg cfg = {
		    bad[i].host, bad[i].port, bad[i].key, NULL, bad[i].pin, 5};
		char *error = NULL;

		ck_assert_ptr_null(ddan_conn_new(&cfg, &client_id, &error));
		ck_assert_msg(error != NULL, "case %zu", i);
		assert_no_key(error);
		free(error);
	}
	{
		struct ddan_client_id id = client_id;
		struct ddan_server_cfg cfg = {"::1", 443, KEY, NULL, NULL, 5};
		char *error = NULL;
		struct ddan_conn *c;

		id.source_name = "a\nb";
		ck_assert_ptr_null(ddan_conn_new(&cfg, &id, &error));
		free(error);
		c = ddan_conn_new(&cfg, &client_id, &error);
		ck_assert_ptr_nonnull(c);
		ddan_conn_free(c);
	}
}
END_TEST

/* A simulator with --fault args; a registered client with timeout_s. */
static struct ddan_conn *faulted(struct sim *s, const char *f1, const char *f2,
				 unsigned timeout)
{
	const char *extra[] = {"--fault", f1, f2 ? "--fault" : NULL, f2, NULL};
	struct ddan_conn *c;
	char *error = NULL;

	sim_init(s);
	sim_start(s, extra);
	c = conn_to(s, KEY, s->ca_file, NULL, timeout);
	if (strncmp(f1, "status", 6) != 0 && strcmp(f1, "hang") != 0 &&
	    strcmp(f1, "refuse") != 0)
		ck_assert_msg(ddan_register(c, &error) == 0, "%s", error);
	return c;
}

START_TEST(test_fault_status_503)
{
	struct sim s;
	struct ddan_conn *c = faulted(&s, "status=503", NULL, 5);
	char *error = NULL;

	ck_assert_int_eq(ddan_test_connection(c, &error), -1);
	ck_assert_msg(strstr(error, "HTTP 503") != NULL, "%s", error);
	free(error);
	ddan_conn_free(c);
	sim_stop(&s);
}
END_TEST

START_TEST(test_fault_malformed_xml)
{
	struct sim s;
	struct ddan_conn *c = faulted(&s, "malformed_xml", NULL, 5);
	char sha[41], *error = NULL;
	const char *one[1] = {sha};
	struct ddan_brief b;
	struct ddan_report r;

	upload(c, "m.txt", "malformed", sha);
	usleep(1100000);
	ck_assert_int_eq(ddan_brief_report(c, one, 1, &b, &error), -1);
	ck_assert_msg(strstr(error, "malformed XML") != NULL, "%s", error);
	ck_assert_int_eq(b.state, DDAN_UNKNOWN);
	ck_assert_int_eq(b.risk, DDAN_RISK_NONE);
	free(error);
	error = NULL;
	ck_assert_int_eq(ddan_report(c, sha, &r, &error), -1);
	ck_assert_msg(strstr(error, "malformed XML") != NULL, "%s", error);
	free(error);
	ddan_conn_free(c);
	sim_stop(&s);
}
END_TEST

START_TEST(test_fault_hang_bounded)
{
	struct sim s;
	struct ddan_conn *c = faulted(&s, "hang", NULL, 1);
	char *error = NULL;
	double t0 = now_s(), dt;

	ck_assert_int_eq(ddan_test_connection(c, &error), -1);
	dt = now_s() - t0;
	ck_assert_msg(dt < 3.0, "took %.1f s", dt);
	ck_assert_msg(strstr(error, "timed out") != NULL, "%s", error);
	free(error);
	ddan_conn_free(c);
	sim_stop(&s);
}
END_TEST

START_TEST(test_fault_refuse)
{
	struct sim s;
	struct ddan_conn *c = faulted(&s, "refuse", NULL, 2);
	char *error = NULL;
	double t0 = now_s();

	ck_assert_int_eq(ddan_test_connection(c, &error), -1);
	ck_assert(now_s() - t0 < 4.0);
	ck_assert(strlen(error) > 0);
	free(error);
	ddan_conn_free(c);
	sim_stop(&s);
}
END_TEST

START_TEST(test_fault_bad_reply_checksum)
{
	struct sim s;
	struct ddan_conn *c =
	    faulted(&s, "bad_checksum_reply", "ops=get_report", 5);
	char sha[41], *error = NULL;
	struct ddan_report r;

	upload(c, "b.txt", "bad reply", sha);
	usleep(1100000);
	ck_assert_int_eq(ddan_report(c, sha, &r, &error), -1);
	ck_assert_msg(strstr(error, "reply checksum mismatch") != NULL, "%s",
		      error);
	free(error);
	ddan_conn_free(c);
	sim_stop(&s);
}
END_TEST

/* risk_value fault -> what brief and full reports must make of it */
static const struct {
	const char *fault;
	enum ddan_state state;
	int risk;
} risk_cases[] = {
    {"risk_value=high", DDAN_UNKNOWN, DDAN_RISK_NONE},
    {"risk_value=7", DDAN_UNKNOWN, DDAN_RISK_NONE},
    {"risk_value=-11", DDAN_UNKNOWN, DDAN_RISK_NONE},
    {"risk_value=2.5", DDAN_UNKNOWN, DDAN_RISK_NONE},
    {"risk_value=-5", DDAN_DONE, -5},
    {"risk_value=2", DDAN_DONE, 2},
};

START_TEST(test_fault_risk_values)
{
	struct sim s;
	struct ddan_conn *c = faulted(&s, risk_cases[_i].fault, NULL, 5);
	char sha[41], *error = NULL;
	const char *one[1] = {sha};
	struct ddan_brief b;
	struct ddan_report r;

	upload(c, "r.txt", "risky", sha);
	usleep(1100000);
	ck_assert_msg(ddan_brief_report(c, one, 1, &b, &error) == 0, "%s",
		      error);
	ck_assert_int_eq(b.state, risk_cases[_i].state);
	ck_assert_int_eq(b.risk, risk_cases[_i].risk);
	ck_assert_msg(ddan_report(c, sha, &r, &error) == 0, "%s", error);
	ck_assert_int_eq(r.processing, 0);
	ck_assert_int_eq(r.risk, risk_cases[_i].risk);
	ddan_conn_free(c);
	sim_stop(&s);
}
END_TEST

static Suite *ddan_api_suite(void)
{
	Suite *s = suite_create("ddan_api");
	TCase *tc = tcase_create("protocol");
	TCase *tls = tcase_create("tls");
	TCase *faults = tcase_create("faults");

	tcase_set_timeout(tc, 30);
	tcase_set_timeout(tls, 30);
	tcase_set_timeout(faults, 30);
	tcase_add_test(tc, test_conn_new_validation);
	tcase_add_test(tc, test_connect_register_unregister);
	tcase_add_test(tc, test_check_duplicate);
	tcase_add_test(tc, test_upload_brief_processing_done);
	tcase_add_test(tc, test_report_102_then_fields);
	tcase_add_test(tc, test_brief_batch_one_request);
	tcase_add_test(tls, test_tls_ca_file_and_pins);
	tcase_add_test(tls, test_tls_wrong_pin);
	tcase_add_test(tls, test_tls_no_trust_fails);
	tcase_add_test(tls, test_wrong_key_rejected_not_leaked);
	tcase_add_test(faults, test_fault_status_503);
	tcase_add_test(faults, test_fault_malformed_xml);
	tcase_add_test(faults, test_fault_hang_bounded);
	tcase_add_test(faults, test_fault_refuse);
	tcase_add_test(faults, test_fault_bad_reply_checksum);
	tcase_add_loop_test(faults, test_fault_risk_values, 0,
			    (int)(sizeof(risk_cases) / sizeof(risk_cases[0])));
	suite_add_tcase(s, tc);
	suite_add_tcase(s, tls);
	suite_add_tcase(s, faults);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	xmlInitParser();
	sr = srunner_create(ddan_api_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	xmlCleanupParser();
	curl_global_cleanup();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
