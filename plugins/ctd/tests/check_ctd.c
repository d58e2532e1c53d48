/*
 * check_ctd.c - unit tests of the Connected Threat Defense plugin.
 *
 * PURPOSE: tables of cases for what must hold: URL, domain, IP and hash
 * normalisation; URLs found in text and HTML; the hash set (a million
 * objects, merge by severity, expiry); each list format from checked
 * fixtures (plain list, abuse.ch CSV, STIX 2.1 bundle, Apex Central
 * answer) and the documents each must refuse; the Apex Central checksum
 * and JWT against values computed independently; and the plugin on the
 * mock host against tests/peers/cm_sim.py: the hidden rules and their
 * actions (log passes and logs, block quarantines), `so sync|list|lookup`,
 * status, a garbage sync that keeps the old list, wrong credentials
 * rejected by the simulator, the stored list reloaded by a new
 * generation, and the daemon's timer starting the sync thread.
 *
 * NEVER: hangs (Check timeouts, short transfer timeouts, and the
 * simulator dies with the test); asserts on wall time.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/sha.h>

#include "../ctd.h"
#include "mock_host.h"

extern const vigil_plugin_def vigil_plugin;

#define APP_ID "8A4B0E0C-1F7A-4B3C-9D2E-5F6A7B8C9D0E"
#define API_KEY "c2VjcmV0LWFwaS1rZXktZm9yLXRlc3Rz"

static const char *srcdir(void)
{
	const char *s = getenv("srcdir");

	return s && *s ? s : ".";
}

static char *fixture(const char *name, size_t *len_r)
{
	char path[1024];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/tests/fixtures/%s", srcdir(), name);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "no fixture %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	ck_assert_int_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len_r = (size_t)n;
	return buf;
}

/* ---------------------------------------------------------------------
 * Normalisation
 */

static const struct {
	const char *in;
	int scheme_optional;
	const char *url; /* NULL: refused */
	const char *host;
} url_cases[] = {
    /* scheme and host lower-cased, default port dropped */
    {"HTTP://WWW.Example.COM/Path", 0, "http://www.example.com/Path",
     "www.example.com"},
    {"https://example.com:443/", 0, "https://example.com/", "example.com"},
    {"http://example.com:80/a", 0, "http://example.com/a", "example.com"},
    {"http://example.com:8080/a", 0, "http://example.com:8080/a",
     "example.com"},
    {"http://example.com:0080/a", 0, "http://example.com/a", "example.com"},
    {"https://example.com:80/", 0, "https://example.com:80/", "example.com"},
    {"ftp://files.example.com:21/x", 0, "ftp://files.example.com/x",
     "files.example.com"},
    /* empty path, fragment, empty query, trailing dot in the host */
    {"http://example.com", 0, "http://example.com/", "example.com"},
    {"http://example.com/a#frag", 0, "http://example.com/a", "example.com"},
    {"http://example.com/a?", 0, "http://example.com/a", "example.com"},
    {"http://example.com./a", 0, "http://example.com/a", "example.com"},
    {"http://example.com?q=1", 0, "http://example.com/?q=1", "example.com"},
    /* userinfo goes (the host is what counts) */
    {"http://paypal.com@evil.example/x", 0, "http://evil.example/x",
     "evil.example"},
    {"http://user:pw@Evil.Example:8080", 0, "http://evil.example:8080/",
     "evil.example"},
    /* percent-decoding where safe */
    {"http://example.com/%7Euser/%61b", 0, "http://example.com/~user/ab",
     "example.com"},
    {"http://example.com/a%2fb%3f", 0, "http://example.com/a%2Fb%3F",
     "example.com"},
    {"http://example.com/a%2Fb?x=%2f%41", 0, "http://example.com/a%2Fb?x=%2FA",
     "example.com"},
    {"http://example.com/100%", 0, "http://example.com/100%25", "example.com"},
    {"http://example.com/a b", 0, NULL, NULL},
    {"http://example.com/é", 0, "http://example.com/%C3%A9", "example.com"},
    {"http://%65vil.example/", 0, "http://evil.example/", "evil.example"},
    /* dot segments, backslashes */
    {"http://example.com/a/./b/../c", 0, "http://example.com/a/c",
     "example.com"},
    {"http://example.com/../../a", 0, "http://example.com/a", "example.com"},
    {"http://example.com/a/%2e%2E/b", 0, "http://example.com/b", "example.com"},
    {"http://example.com/a/..", 0, "http://example.com/", "example.com"},
    {"http://example.com/a//b", 0, "http://example.com/a//b", "example.com"},
    {"http:\\\\example.com\\a\\b", 0, "http://example.com/a/b", "example.com"},
    /* IDNA */
    {"http://Bücher.Example/", 0, "http://xn--bcher-kva.example/",
     "xn--bcher-kva.example"},
    {"http://BÜCHER.example/", 0, "http://xn--bcher-kva.example/",
     "xn--bcher-kva.example"},
    {"http://xn--bcher-kva.example/", 0, "http://xn--bcher-kva.example/",
     "xn--bcher-kva.example"},
    {"http://%C3%BCber.example/", 0, "http://xn--ber-goa.example/",
     "xn--ber-goa.example"},
    {"http://例え.テスト/", 0, "http://xn--r8jz45g.xn--zckzah/",
     "xn--r8jz45g.xn--zckzah"},
    /* IP addresses, in the forms browsers accept */
    {"http://192.0.2.1/", 0, "http://192.0.2.1/", "192.0.2.1"},
    {"http://3221225985/x", 0, "http://192.0.2.1/x", "192.0.2.1"},
    {"http://0xC0.0.2.1/", 0, "http://192.0.2.1/", "192.0.2.1"},
    {"http://0300.0.2.01/", 0, "http://192.0.2.1/", "192.0.2.1"},
    {"http://192.0.513/", 0, "http://192.0.2.1/", "192.0.2.1"},
    {"http://256.0.0.1/", 0, NULL, NULL},
    {"http://[2001:DB8::0:1]:8080/", 0, "http://[2001:db8::1]:8080/",
     "[2001:db8::1]"},
    {"http://[::ffff:192.0.2.1]/", 0, "http://[::ffff:192.0.2.1]/",
     "[::ffff:192.0.2.1]"},
    {"http://[zz::1]/", 0, NULL, NULL},
    /* what is not an http(s)/ftp URL with a host */
    {"mailto:a@example.com", 0, NULL, NULL},
    {"javascript://alert(1)", 0, NULL, NULL},
    {"http:///path", 0, NULL, NULL},
    {"http://exa mple.com/", 0, NULL, NULL},
    {"http://example.com:99999/", 0, NULL, NULL},
    {"http://example.com:8x/", 0, NULL, NULL},
    {"http://exa<mple.com/", 0, NULL, NULL},
    {"example.com/a", 0, NULL, NULL},
    /* objects may leave the scheme out */
    {"Example.com/a/../b", 1, "example.com/b", "example.com"},
    {"example.com", 1, "example.com/", "example.com"},
    {"example.com:8080/x", 1, "example.com:8080/x", "example.com"},
    {"//example.com/x", 1, "example.com/x", "example.com"},
    {"mailto:a@example.com", 1, NULL, NULL},
    {"localhost/x", 1, NULL, NULL},
};

START_TEST(test_url_norm)
{
	struct ctd_url *u = malloc(sizeof(*u));
	int r = ctd_url_norm(url_cases[_i].in, strlen(url_cases[_i].in),
			     url_cases[_i].scheme_optional, u);

	if (url_cases[_i].url == NULL) {
		ck_assert_msg(r < 0, "%s: accepted as %s", url_cases[_i].in,
			      u->url);
	} else {
		ck_assert_msg(r == 0, "%s: refused", url_cases[_i].in);
		ck_assert_str_eq(u->url, url_cases[_i].url);
		ck_assert_str_eq(u->host, url_cases[_i].host);
		ck_assert_int_eq(u->has_scheme,
				 strstr(url_cases[_i].url, "://") != NULL);
	}
	free(u);
}
END_TEST

START_TEST(test_url_too_long_keeps_host)
{
	struct ctd_url *u = malloc(sizeof(*u));
	size_t n = CTD_URL_MAX + 100;
	char *s = malloc(n + 1);

	memset(s, 'a', n);
	memcpy(s, "http://long.example/", 20);
	s[n] = '\0';
	ck_assert_int_eq(ctd_url_norm(s, n, 0, u), 0);
	ck_assert_str_eq(u->url, "");
	ck_assert_str_eq(u->host, "long.example");
	free(s);
	free(u);
}
END_TEST

static const struct {
	enum ctd_kind kind;
	const char *in, *out; /* out NULL: refused */
} value_cases[] = {
    {CTD_FILE, "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709",
     "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
    {CTD_FILE, " da39a3ee5e6b4b0d3255bfef95601890afd80709 ",
     "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
    {CTD_FILE,
     "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
     "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
    {CTD_FILE, "da39a3ee5e6b4b0d3255bfef95601890afd8070", NULL},
    {CTD_FILE, "za39a3ee5e6b4b0d3255bfef95601890afd80709", NULL},
    {CTD_DOMAIN, "Evil.Example.COM.", "evil.example.com"},
    {CTD_DOMAIN, "*.evil.example", "evil.example"},
    {CTD_DOMAIN, ".evil.example", "evil.example"},
    {CTD_DOMAIN, "bücher.example", "xn--bcher-kva.example"},
    {CTD_DOMAIN, "localhost", NULL},
    {CTD_DOMAIN, "192.0.2.1", NULL},
    {CTD_DOMAIN, "a..b.example", NULL},
    {CTD_DOMAIN, "exa mple.com", NULL},
    {CTD_DOMAIN, "", NULL},
    {CTD_IP, "192.0.2.1", "192.0.2.1"},
    {CTD_IP, "2001:DB8:0:0:0:0:0:1", "2001:db8::1"},
    {CTD_IP, "[2001:db8::1]", "2001:db8::1"},
    {CTD_IP, "192.0.2.256", NULL},
    {CTD_IP, "198.51.100.0/24", NULL},
    {CTD_URL, "HTTPS://Phish.Example.COM:443/login/../signin?x=1",
     "https://phish.example.com/signin?x=1"},
    {CTD_URL, "www.Example.com", "www.example.com/"},
    {CTD_URL, "mailto:x@example.com", NULL},
};

START_TEST(test_value_norm)
{
	char out[CTD_URL_MAX];
	int r = ctd_value_norm(value_cases[_i].kind, value_cases[_i].in, out,
			       sizeof(out));

	if (value_cases[_i].out == NULL)
		ck_assert_msg(r < 0, "%s accepted as %s", value_cases[_i].in,
			      out);
	else {
		ck_assert_msg(r == 0, "%s refused", value_cases[_i].in);
		ck_assert_str_eq(out, value_cases[_i].out);
	}
}
END_TEST

static const struct {
	const char *in;
	int kind;
} kind_cases[] = {
    {"da39a3ee5e6b4b0d3255bfef95601890afd80709", CTD_FILE},
    {"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
     CTD_FILE},
    {"http://example.com/", CTD_URL},
    {"example.com/x", CTD_URL},
    {"example.com", CTD_DOMAIN},
    {"192.0.2.1", CTD_IP},
    {"2001:db8::1", CTD_IP},
    {"hello", -1},
    {"two words", -1},
};

START_TEST(test_value_kind)
{
	ck_assert_int_eq(ctd_value_kind(kind_cases[_i].in),
			 kind_cases[_i].kind);
}
END_TEST

/* ---------------------------------------------------------------------
 * URLs in text
 */

struct found {
	char urls[16][256];
	size_t n;
};

static void collect_url(void *arg, const char *url, size_t len)
{
	struct found *f = arg;

	if (f->n < 16)
		snprintf(f->urls[f->n++], sizeof(f->urls[0]), "%.*s", (int)len,
			 url);
}

static const struct {
	const char *text;
	int html;
	const char *want[4]; /* NULL-ended */
} text_cases[] = {
    {"see http://a.example/x.", 0, {"http://a.example/x", NULL}},
    {"(https://b.example/y), and", 0, {"https://b.example/y", NULL}},
    {"wiki https://en.example/A_(b) ok", 0, {"https://en.example/A_(b)", NULL}},
    {"go to www.c.example/p?q=1!", 0, {"http://www.c.example/p?q=1", NULL}},
    {"<https://d.example/z>", 0, {"https://d.example/z", NULL}},
    {"HTTPS://E.example and ftp://f.example/g",
     0,
     {"HTTPS://E.example", "ftp://f.example/g", NULL}},
    {"xhttp://g.example/", 0, {"http://g.example/", NULL}},
    {"mailto:h@example.com nohttp:/x news://i.example", 0, {NULL}},
    {"email@www.example.com", 0, {NULL}},
    {"<a href=\"https://j.example/a?b=1&amp;c=2\">x</a>",
     1,
     {"https://j.example/a?b=1&c=2", NULL}},
    {"<a href='http://k.example/'>http://l.example/</a>",
     1,
     {"http://k.example/", "http://l.example/", NULL}},
    {"<img src=\"http://m.example/&#47;p\">", 1, {"http://m.example//p", NULL}},
    {"text http://n.example/\"quoted", 0, {"http://n.example/", NULL}},
    {"", 0, {NULL}},
    {"http://", 0, {NULL}},
};

START_TEST(test_urls_in_text)
{
	struct found f;
	size_t k;

	memset(&f, 0, sizeof(f));
	ctd_urls_in_text(text_cases[_i].text, strlen(text_cases[_i].text),
			 text_cases[_i].html, collect_url, &f);
	for (k = 0; text_cases[_i].want[k] != NULL; k++) {
		ck_assert_msg(k < f.n, "%s: only %zu URLs", text_cases[_i].text,
			      f.n);
		ck_assert_str_eq(f.urls[k], text_cases[_i].want[k]);
	}
	ck_assert_msg(f.n == k, "%s: %zu URLs, expected %zu (first extra %s)",
		      text_cases[_i].text, f.n, k, f.n > k ? f.urls[k] : "");
}
END_TEST

/* ---------------------------------------------------------------------
 * The hash set
 */

START_TEST(test_set_million)
{
	struct ctd_objs a = {0}, b = {0};
	const struct ctd_objs *lists[2] = {&a, &b};
	struct ctd_set *s;
	char v[64];
	uint32_t m;
	size_t i, misses = 0, false_hits = 0;
	time_t now = time(NULL);

	for (i = 0; i < 1000000; i++) {
		int n = snprintf(v, sizeof(v), "%040zx", i);

		ck_assert_int_eq(ctd_objs_push(&a,
					       ctd_key(CTD_FILE, v, (size_t)n),
					       ctd_meta(CTD_BLOCK, 0, 0)),
				 0);
	}
	/* the same object on a second list: the more severe action wins */
	snprintf(v, sizeof(v), "%040zx", (size_t)7);
	ctd_objs_push(&b, ctd_key(CTD_FILE, v, 40),
		      ctd_meta(CTD_QUARANTINE, 1, 0));
	snprintf(v, sizeof(v), "%040zx", (size_t)8);
	ctd_objs_push(&b, ctd_key(CTD_FILE, v, 40), ctd_meta(CTD_LOG, 1, 0));
	/* expired, and expiring later in the hour */
	ctd_objs_push(&b, ctd_key(CTD_DOMAIN, "old.example", 11),
		      ctd_meta(CTD_BLOCK, 1, now - 7200));
	ctd_objs_push(&b, ctd_key(CTD_DOMAIN, "soon.example", 12),
		      ctd_meta(CTD_BLOCK, 1, now + 60));
	s = ctd_set_build(lists, 2);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(ctd_set_count(s), 1000000 + 2);
	ck_assert_uint_le(ctd_set_bytes(s), 12u * 4 * 1024 * 1024);
	for (i = 0; i < 1000000; i++) {
		int n = snprintf(v, sizeof(v), "%040zx", i);

		misses += !ctd_set_find(s, ctd_key(CTD_FILE, v, (size_t)n), now,
					NULL);
		n = snprintf(v, sizeof(v), "%040zx", i + 2000000);
		false_hits +=
		    ctd_set_find(s, ctd_key(CTD_FILE, v, (size_t)n), now, NULL);
	}
	ck_assert_uint_eq(misses, 0);
	ck_assert_uint_eq(false_hits, 0);
	/* the kind is part of the key */
	snprintf(v, sizeof(v), "%040zx", (size_t)5);
	ck_assert(!ctd_set_find(s, ctd_key(CTD_URL, v, 40), now, NULL));
	snprintf(v, sizeof(v), "%040zx", (size_t)7);
	ck_assert(ctd_set_find(s, ctd_key(CTD_FILE, v, 40), now, &m));
	ck_assert_int_eq(ctd_meta_act(m), CTD_QUARANTINE);
	ck_assert_uint_eq(ctd_meta_source(m), 1);
	snprintf(v, sizeof(v), "%040zx", (size_t)8);
	ck_assert(ctd_set_find(s, ctd_key(CTD_FILE, v, 40), now, &m));
	ck_assert_int_eq(ctd_meta_act(m), CTD_BLOCK);
	ck_assert_uint_eq(ctd_meta_source(m), 0);
	ck_assert(!ctd_set_find(s, ctd_key(CTD_DOMAIN, "old.example", 11), now,
				NULL));
	ck_assert(ctd_set_find(s, ctd_key(CTD_DOMAIN, "soon.example", 12), now,
			       NULL));
	ck_assert(!ctd_set_find(s, ctd_key(CTD_DOMAIN, "soon.example", 12),
				now + 3 * 3600, NULL));
	ctd_set_free(s);
	ctd_objs_free(&a);
	ctd_objs_free(&b);
}
END_TEST

START_TEST(test_set_empty)
{
	struct ctd_set *s = ctd_set_build(NULL, 0);

	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(ctd_set_count(s), 0);
	ck_assert(!ctd_set_find(s, ctd_key(CTD_IP, "192.0.2.1", 9), 0, NULL));
	ctd_set_free(s);
}
END_TEST

/* ---------------------------------------------------------------------
 * Formats
 */

/* Does the list hold value (already normalised) with that action? */
static int holds(const struct ctd_list *l, enum ctd_kind kind,
		 const char *value, int act)
{
	const struct ctd_objs *lists[1] = {&l->objs};
	struct ctd_set *s = ctd_set_build(lists, 1);
	uint32_t m = 0;
	int r = ctd_set_find(s, ctd_key(kind, value, strlen(value)), time(NULL),
			     &m);

	ctd_set_free(s);
	return r && (act < 0 || (int)ctd_meta_act(m) == act);
}

START_TEST(test_parse_list_fixture)
{
	size_t len;
	char *doc = fixture("so-local.txt", &len), *err = NULL;
	struct ctd_list l;

	ctd_list_init(&l, 3, 0);
	ck_assert_msg(ctd_parse_list(doc, len, CTD_LOG, time(NULL), &l, &err) ==
			  0,
		      "%s", err);
	ck_assert_uint_eq(l.objs.n, 6);
	ck_assert(holds(&l, CTD_FILE,
			"da39a3ee5e6b4b0d3255bfef95601890afd80709",
			CTD_QUARANTINE));
	ck_assert(holds(&l, CTD_FILE,
			"a94a8fe5ccb19ba61c4c0873d391e987982fbbd3", CTD_LOG));
	ck_assert(holds(&l, CTD_URL, "https://phish.example.com/signin?x=1",
			CTD_BLOCK));
	ck_assert(holds(&l, CTD_DOMAIN, "evil.example.net", CTD_BLOCK));
	ck_assert(holds(&l, CTD_IP, "198.51.100.23", CTD_LOG));
	ck_assert(holds(
	    &l, CTD_FILE,
	    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	    CTD_BLOCK));
	ck_assert_ptr_nonnull(
	    strstr(l.text, "domain\tevil.example.net\tblock\t0\n"));
	ck_assert_uint_eq(ctd_meta_source(l.objs.meta[0]), 3);
	/* the saved form reads back the same */
	{
		struct ctd_list back;

		ctd_list_init(&back, 3, 0);
		ck_assert_int_eq(ctd_parse_saved(l.text, l.text_len, time(NULL),
						 &back, &err),
				 0);
		ck_assert_uint_eq(back.objs.n, l.objs.n);
		ck_assert_int_eq(memcmp(back.objs.keys, l.objs.keys,
					l.objs.n * sizeof(uint64_t)),
				 0);
		ck_assert_int_eq(memcmp(back.objs.meta, l.objs.meta,
					l.objs.n * sizeof(uint32_t)),
				 0);
		ctd_list_free(&back);
	}
	ctd_list_free(&l);
	free(doc);
}
END_TEST

enum fmt { F_LIST, F_CSV, F_STIX, F_APEX, F_SAVED };

/* Documents each parser must refuse whole (the old list stays). */
static const struct {
	enum fmt fmt;
	const char *doc;
	const char *error; /* a part of the message */
} bad_docs[] = {
    {F_LIST, "example.com\nthis is garbage\n", "line 2"},
    {F_LIST, "<html><body>502 Bad Gateway</body></html>\n", "line 1"},
    {F_LIST, "example.com destroy\n", "unknown action 'destroy'"},
    {F_LIST, "da39a3ee5e6b4b0d3255bfef95601890afd80709 block extra\n",
     "line 1"},
    {F_LIST, "http://exa mple.com/\n", "line 1"},
    {F_LIST, "mailto:x@example.com\n", "not a SHA-1, SHA-256, URL"},
    {F_LIST, "http://exa%zzmple.com/x\n", "not a valid url"},
    {F_LIST, "a\0b\n", "NUL"},
    {F_CSV, "id,host\n1,example.com\n", "no header line"},
    {F_CSV, "# url,x\n\"http://a.example/,1\n", "malformed"},
    {F_CSV, "# url\nnot a url\nalso not\n", "none of the 2 rows"},
    {F_STIX, "{\"type\": \"bundle\", \"objects\": ", "not JSON"},
    {F_STIX, "<html>error</html>", "not JSON"},
    {F_STIX,
     "{\"type\": \"indicator\", \"pattern\": \"[url:value = "
     "'http://x.example/']\"}",
     "not a STIX 2.1 bundle"},
    {F_STIX, "{\"type\": \"bundle\", \"objects\": {}}",
     "not a STIX 2.1 bundle"},
    {F_APEX, "<html>Service Unavailable</html>", "not JSON"},
    {F_APEX,
     "{\"Data\": [], \"Meta\": {\"Result\": 0, \"ErrorCode\": 401, "
     "\"ErrorMsg\": \"Unauthorized\"}}",
     "ErrorCode 401: Unauthorized"},
    {F_APEX, "{\"Data\": []}", "no \"Meta\""},
    {F_APEX, "{\"Data\": {\"x\": 1}, \"Meta\": {\"Result\": 1}}", "not a list"},
    {F_APEX, "{\"Data\": [{\"type\": \"url\", \"content\": \"http://a.ex",
     "not JSON"},
    {F_SAVED, "file\tda39a3ee5e6b4b0d3255bfef95601890afd80709\tblock\n",
     "damaged"},
    {F_SAVED, "thing\tx\tblock\t0\n", "damaged"},
};

static int parse_fmt(enum fmt f, const char *doc, size_t len,
		     struct ctd_list *l, char **err)
{
	static const struct ctd_csv_columns cols = {.url = "url"};

	switch (f) {
	case F_LIST:
		return ctd_parse_list(doc, len, CTD_LOG, time(NULL), l, err);
	case F_CSV:
		return ctd_parse_csv(doc, len, &cols, CTD_LOG, time(NULL), l,
				     err);
	case F_STIX:
		return ctd_parse_stix(doc, len, CTD_LOG, time(NULL), l, err);
	case F_APEX:
		return ctd_parse_apex(doc, len, CTD_LOG, time(NULL), l, err);
	case F_SAVED:
		return ctd_parse_saved(doc, len, time(NULL), l, err);
	}
	return 0;
}

START_TEST(test_bad_documents)
{
	struct ctd_list l;
	char *err = NULL;
	size_t len = strlen(bad_docs[_i].doc);

	if (bad_docs[_i].fmt == F_LIST && strcmp(bad_docs[_i].doc, "a") == 0)
		len = 4; /* "a\0b\n" */
	ctd_list_init(&l, 0, 0);
	ck_assert_msg(
	    parse_fmt(bad_docs[_i].fmt, bad_docs[_i].doc, len, &l, &err) < 0,
	    "accepted: %s", bad_docs[_i].doc);
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strstr(err, bad_docs[_i].error) != NULL,
		      "error '%s' lacks '%s'", err, bad_docs[_i].error);
	free(err);
	ctd_list_free(&l);
}
END_TEST

START_TEST(test_parse_list_limits)
{
	struct ctd_list l;
	char *err = NULL;
	const char *doc = "a.example\nb.example\nc.example\n";

	ctd_list_init(&l, 0, 2);
	ck_assert_int_lt(ctd_parse_list(doc, strlen(doc), CTD_LOG, 0, &l, &err),
			 0);
	ck_assert_ptr_nonnull(strstr(err, "more than 2 objects"));
	free(err);
	ctd_list_free(&l);
}
END_TEST

START_TEST(test_parse_csv_fixtures)
{
	size_t len;
	char *doc = fixture("urlhaus-recent.csv", &len), *err = NULL;
	struct ctd_list l;
	struct ctd_csv_columns cols = {.url = "url"};

	ctd_list_init(&l, 0, 0);
	ck_assert_msg(ctd_parse_csv(doc, len, &cols, CTD_BLOCK, time(NULL), &l,
				    &err) == 0,
		      "%s", err);
	ck_assert_uint_eq(l.objs.n, 3);
	ck_assert_uint_eq(l.skipped, 1); /* "not a url" */
	ck_assert(
	    holds(&l, CTD_URL, "http://203.0.113.9:8080/bins/x86", CTD_BLOCK));
	ck_assert(holds(&l, CTD_URL,
			"https://files.badcdn.example/dl/invoice.zip",
			CTD_BLOCK));
	ck_assert(
	    holds(&l, CTD_URL, "http://xn--bcher-kva.example/pay", CTD_BLOCK));
	ctd_list_free(&l);
	free(doc);

	doc = fixture("malwarebazaar.csv", &len);
	cols = (struct ctd_csv_columns){.sha1 = "sha1_hash",
					.sha256 = "sha256_hash"};
	ctd_list_init(&l, 0, 0);
	ck_assert_msg(ctd_parse_csv(doc, len, &cols, CTD_QUARANTINE, time(NULL),
				    &l, &err) == 0,
		      "%s", err);
	ck_assert_uint_eq(l.objs.n, 4);
	ck_assert(holds(&l, CTD_FILE,
			"0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33",
			CTD_QUARANTINE));
	ck_assert(holds(
	    &l, CTD_FILE,
	    "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9",
	    CTD_QUARANTINE));
	ctd_list_free(&l);
	free(doc);
}
END_TEST

START_TEST(test_parse_csv_columns)
{
	/* a plain header line, action and expiry columns, CRLF, quotes */
	const char *doc = "indicator,what,until\r\n"
			  "bad.example,block,2099-01-01T00:00:00Z\r\n"
			  "\"log.example\",log,\r\n"
			  "old.example,block,2001-01-01\r\n"
			  "odd.example,explode,\r\n";
	struct ctd_csv_columns cols = {
	    .domain = "indicator", .action = "what", .expires = "until"};
	struct ctd_list l;
	char *err = NULL;

	ctd_list_init(&l, 0, 0);
	ck_assert_msg(ctd_parse_csv(doc, strlen(doc), &cols, CTD_LOG,
				    time(NULL), &l, &err) == 0,
		      "%s", err);
	ck_assert_uint_eq(l.objs.n, 2);
	ck_assert(holds(&l, CTD_DOMAIN, "bad.example", CTD_BLOCK));
	ck_assert(holds(&l, CTD_DOMAIN, "log.example", CTD_LOG));
	ck_assert(!holds(&l, CTD_DOMAIN, "old.example", -1));
	ck_assert(!holds(&l, CTD_DOMAIN, "odd.example", -1));
	ck_assert_uint_eq(ctd_meta_expires(l.objs.meta[0]), 4070908800);
	ctd_list_free(&l);
}
END_TEST

START_TEST(test_parse_stix_fixture)
{
	size_t len;
	char *doc = fixture("bundle.json", &len), *err = NULL;
	struct ctd_list l;

	ctd_list_init(&l, 0, 0);
	ck_assert_msg(
	    ctd_parse_stix(doc, len, CTD_BLOCK, time(NULL), &l, &err) == 0,
	    "%s", err);
	ck_assert(holds(&l, CTD_FILE,
			"c3499c2729730a7f807efb8676a92dcb6f8a3f8f", CTD_BLOCK));
	ck_assert(holds(&l, CTD_URL, "http://malicious.example/path?q=it's",
			CTD_BLOCK));
	ck_assert(holds(&l, CTD_DOMAIN, "c2.example.org", CTD_BLOCK));
	ck_assert(holds(&l, CTD_IP, "203.0.113.77", CTD_BLOCK));
	ck_assert(holds(
	    &l, CTD_FILE,
	    "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c",
	    CTD_BLOCK));
	ck_assert(holds(&l, CTD_IP, "2001:db8::1", CTD_BLOCK));
	/* half an AND, past valid_until, revoked, LIKE, sigma: left out */
	ck_assert(!holds(&l, CTD_URL, "http://half.example/", -1));
	ck_assert(!holds(&l, CTD_DOMAIN, "expired.example", -1));
	ck_assert(!holds(&l, CTD_DOMAIN, "revoked.example", -1));
	ck_assert(!holds(&l, CTD_DOMAIN, "like.example", -1));
	ck_assert_uint_eq(l.objs.n, 6);
	/* valid_until is the object's expiry */
	ck_assert_uint_eq(ctd_meta_expires(l.objs.meta[1]), 4102444800);
	ctd_list_free(&l);
	free(doc);
}
END_TEST

START_TEST(test_parse_apex_fixture)
{
	size_t len;
	char *doc = fixture("apex-udso.json", &len), *err = NULL;
	struct ctd_list l;

	ctd_list_init(&l, 0, 0);
	ck_assert_msg(ctd_parse_apex(doc, len, CTD_LOG, time(NULL), &l, &err) ==
			  0,
		      "%s", err);
	ck_assert_uint_eq(l.objs.n, 5);
	ck_assert(holds(&l, CTD_FILE,
			"7c4a8d09ca3762af61e59520943dc26494f8941b", CTD_BLOCK));
	ck_assert(holds(&l, CTD_FILE,
			"b1b3773a05c0ed0176787a4f1574ff0075f7521e",
			CTD_QUARANTINE));
	ck_assert(
	    holds(&l, CTD_URL, "http://www.phish-kit.example/a/c", CTD_LOG));
	ck_assert(holds(&l, CTD_DOMAIN, "malware-drop.example", CTD_BLOCK));
	ck_assert(holds(&l, CTD_IP, "192.0.2.200", CTD_LOG));
	ck_assert(!holds(&l, CTD_DOMAIN, "old.example", -1));
	ctd_list_free(&l);
	free(doc);
}
END_TEST

static const struct {
	const char *in;
	long long want; /* -1: refused */
} time_cases[] = {
    {"2024-05-01T10:00:00Z", 1714557600},
    {"2024-05-01T10:00:00", 1714557600},
    {"2024-05-01 10:00:00", 1714557600},
    {"2024-05-01T10:00:00.123Z", 1714557600},
    {"2024-05-01T12:00:00+02:00", 1714557600},
    {"2024-05-01T08:30:00-0130", 1714557600},
    {"2024-05-01", 1714521600},
    {"1714557600", 1714557600},
    {"", 0},
    {"tomorrow", -1},
    {"2024-05-01T10:00:00 junk", -1},
};

START_TEST(test_parse_time)
{
	ck_assert_int_eq((long long)ctd_parse_time(time_cases[_i].in),
			 time_cases[_i].want);
}
END_TEST

/* ---------------------------------------------------------------------
 * Apex Central checksum and JWT, against values computed with Python's
 * hashlib/hmac (see tests/peers/cm_sim.py: checksum()).
 */

START_TEST(test_apex_checksum)
{
	char *c = ctd_apex_checksum(
	    "GET", "/WebApp/api/SuspiciousObjects/UserDefinedSO/?type=file", "",
	    "");

	ck_assert_str_eq(c, "FFhkwRi3it+M44bNCypmtaM3D04tQsF66Q51296l0pI=");
	free(c);
	c = ctd_apex_checksum("put",
			      "/WebApp/api/SuspiciousObjects/UserDefinedSO/",
			      "api-x:1", "{\"a\":1}");
	ck_assert_str_eq(c, "XC3uqtg/ITEj/UVIXNzmC9DlsYUQZDU3laoB0kIjbdQ=");
	free(c);
}
END_TEST

START_TEST(test_apex_jwt)
{
	char *j = ctd_apex_jwt(
	    "APP1", "KEY1", "GET",
	    "/WebApp/api/SuspiciousObjects/UserDefinedSO/?type=file", "", "",
	    1700000000);

	ck_assert_str_eq(
	    j,
	    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
	    "eyJhcHBpZCI6IkFQUDEiLCJpYXQiOjE3MDAwMDAwMDAsInZlcnNpb24iOiJWMSIs"
	    "ImNoZWNrc3VtIjoiRkZoa3dSaTNpdCtNNDRiTkN5cG10YU0zRDA0dFFzRjY2UTUx"
	    "Mjk2bDBwST0ifQ.zBHHqS7hyZ0i8nrylHV2-ieoyvvrTyZCk5s_B6pCTPw");
	free(j);
	/* an app id that would break the JSON is refused */
	ck_assert_ptr_null(ctd_apex_jwt("A\"B", "K", "GET", "/", "", "", 1));
}
END_TEST

/* ---------------------------------------------------------------------
 * The Control Manager simulator
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

static void write_file(const char *path, const char *text)
{
	char tmp[600];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(rename(tmp, path), 0);
}

static const char sim_objects[] =
    "[{\"type\": \"file_sha1\", \"content\": "
    "\"C7D3F5A5F1E4E8B2A9D6C3B0A1F2E3D4C5B6A798\", \"notes\": \"\", "
    "\"scan_action\": \"block\", \"expiration_utc_date\": "
    "\"2099-01-01T00:00:00\"},\n"
    " {\"type\": \"file\", \"content\": "
    "\"1111111111111111111111111111111111111111\", \"scan_action\": \"log\", "
    "\"expiration_utc_date\": null},\n"
    " {\"type\": \"url\", \"content\": \"https://Phish.Example/login\", "
    "\"scan_action\": \"block\"},\n"
    " {\"type\": \"domain\", \"content\": \"tracker.example\", "
    "\"scan_action\": \"log\"},\n"
    " {\"type\": \"domain\", \"content\": \"malware.example\", "
    "\"scan_action\": \"block\"},\n"
    " {\"type\": \"ip\", \"content\": \"203.0.113.66\", "
    "\"scan_action\": \"block\"}]\n";

static void sim_start(struct sim *s)
{
	char script[512], portfile[256], path[256], objs[256], faults[256],
	    buf[64];
	const char *argv[24];
	size_t n = 0;
	int i;

	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "/tmp/check_ctd.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(s->dir));
	snprintf(script, sizeof(script), "%s/../../tests/peers/cm_sim.py",
		 srcdir());
	ck_assert_msg(access(script, R_OK) == 0, "no simulator at %s", script);
	snprintf(portfile, sizeof(portfile), "%s/port", s->dir);
	snprintf(objs, sizeof(objs), "%s/objects.json", s->dir);
	snprintf(faults, sizeof(faults), "%s/faults.json", s->dir);
	write_file(objs, sim_objects);
	argv[n++] = "python3";
	argv[n++] = script;
	argv[n++] = "--port-file";
	argv[n++] = portfile;
	argv[n++] = "--state-dir";
	argv[n++] = s->dir;
	argv[n++] = "--app-id";
	argv[n++] = APP_ID;
	argv[n++] = "--api-key";
	argv[n++] = API_KEY;
	argv[n++] = "--objects";
	argv[n++] = objs;
	argv[n++] = "--faults";
	argv[n++] = faults;
	argv[n++] = "--lifetime";
	argv[n++] = "60";
	argv[n] = NULL;
	s->pid = fork();
	ck_assert_int_ge(s->pid, 0);
	if (s->pid == 0) {
		int fd;

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
	for (i = 0; i < 2000; i++) { /* up to 20 s */
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
}

static void sim_fault(const struct sim *s, const char *json)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/faults.json", s->dir);
	write_file(path, json);
	usleep(20000); /* a new mtime for the simulator to notice */
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
			if (e->d_name[0] == '.' &&
			    (e->d_name[1] == '\0' ||
			     (e->d_name[1] == '.' && e->d_name[2] == '\0')))
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

/* The integer after "key": in /sim/stats, or -1. */
static long sim_stat(const struct sim *s, const char *key)
{
	static char buf[65536];
	char url[128], pat[128];
	const char *p;
	CURL *c = curl_easy_init();

	buf[0] = '\0';
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/sim/stats", s->port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, buf);
	ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
	curl_easy_cleanup(c);
	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(buf, pat);
	return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

START_TEST(test_apex_fetch_against_sim)
{
	struct sim s;
	struct ctd_http http = {NULL, NULL, 10, 1 << 20, NULL};
	struct ctd_list l;
	char base[128], *err = NULL;

	sim_start(&s);
	http.ca_file = s.ca_file;
	snprintf(base, sizeof(base), "https://127.0.0.1:%d/", s.port);
	ctd_list_init(&l, 0, 0);
	ck_assert_msg(ctd_apex_fetch(&http, base, APP_ID, API_KEY, "file",
				     CTD_LOG, time(NULL), &l, &err) == 0,
		      "%s", err);
	ck_assert_uint_eq(l.objs.n, 2);
	ck_assert(holds(&l, CTD_FILE,
			"c7d3f5a5f1e4e8b2a9d6c3b0a1f2e3d4c5b6a798", CTD_BLOCK));
	ck_assert_int_eq(ctd_apex_fetch(&http, base, APP_ID, API_KEY, "url",
					CTD_LOG, time(NULL), &l, &err),
			 0);
	ck_assert(holds(&l, CTD_URL, "https://phish.example/login", CTD_BLOCK));
	ck_assert_int_eq(sim_stat(&s, "accepted"), 2);
	ck_assert_int_eq(sim_stat(&s, "rejected_total"), 0);

	/* what the simulator rejects: a wrong key, a wrong app id */
	ck_assert_int_lt(ctd_apex_fetch(&http, base, APP_ID, "wrong-key", "ip",
					CTD_LOG, time(NULL), &l, &err),
			 0);
	ck_assert_msg(strstr(err, "HTTP 401") != NULL, "%s", err);
	ck_assert_ptr_null(strstr(err, "wrong-key"));
	ck_assert_int_eq(sim_stat(&s, "bad_signature"), 1);
	ck_assert_int_lt(ctd_apex_fetch(&http, base, "OTHER-APP", API_KEY, "ip",
					CTD_LOG, time(NULL), &l, &err),
			 0);
	ck_assert_int_eq(sim_stat(&s, "bad_appid"), 1);
	/* a stale iat (the JWT is made at `now`) */
	ck_assert_int_lt(ctd_apex_fetch(&http, base, APP_ID, API_KEY, "ip",
					CTD_LOG, time(NULL) - 3600, &l, &err),
			 0);
	ck_assert_int_eq(sim_stat(&s, "stale_iat"), 1);
	/* a type the server does not know */
	ck_assert_int_lt(ctd_apex_fetch(&http, base, APP_ID, API_KEY, "nosuch",
					CTD_LOG, time(NULL), &l, &err),
			 0);
	ck_assert_msg(strstr(err, "HTTP 400") != NULL, "%s", err);
	/* TLS: the pin alone verifies; a wrong pin or no trust fails */
	http.ca_file = NULL;
	http.pin_sha256 = s.pin;
	ck_assert_msg(ctd_apex_fetch(&http, base, APP_ID, API_KEY, "ip",
				     CTD_LOG, time(NULL), &l, &err) == 0,
		      "%s", err);
	http.pin_sha256 = "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
			  "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";
	ck_assert_int_lt(ctd_apex_fetch(&http, base, APP_ID, API_KEY, "ip",
					CTD_LOG, time(NULL), &l, &err),
			 0);
	ck_assert_msg(strstr(err, "pin_sha256") != NULL, "%s", err);
	http.pin_sha256 = NULL;
	ck_assert_int_lt(ctd_apex_fetch(&http, base, APP_ID, API_KEY, "ip",
					CTD_LOG, time(NULL), &l, &err),
			 0);
	free(err);
	ctd_list_free(&l);
	sim_stop(&s);
}
END_TEST

/* ---------------------------------------------------------------------
 * The plugin on the mock host
 */

static void set_sha(vigil_part *p)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	size_t i;

	SHA1(p->data, p->size, md);
	for (i = 0; i < 20; i++)
		sprintf(p->sha1 + 2 * i, "%02x", md[i]);
	SHA256(p->data, p->size, md);
	for (i = 0; i < 32; i++)
		sprintf(p->sha256 + 2 * i, "%02x", md[i]);
}

static vigil_message *message(mock_host *m, const char *subject,
			      const char *text, const char *html,
			      const char *attachment)
{
	static const char *const rcpts[] = {"bob@example.com"};
	vigil_message *msg = mock_message_new(m, "alice@example.org", rcpts, 1);
	vigil_part *p;

	mock_message_set_header(msg, "Subject", subject);
	p = mock_message_add_part(msg, "1", "", "text/plain", text,
				  strlen(text), 0);
	set_sha(p);
	if (html != NULL) {
		p = mock_message_add_part(msg, "2", "", "text/html", html,
					  strlen(html), 0);
		set_sha(p);
	}
	if (attachment != NULL) {
		p = mock_message_add_part(msg, "3/a.zip/x.bin", "x.bin", "",
					  attachment, strlen(attachment), 2);
		set_sha(p);
	}
	return msg;
}

static char *run(mock_host *m, int *rc_r, const char *a0, const char *a1,
		 const char *a2)
{
	char *argv[4] = {(char *)a0, (char *)a1, (char *)a2, NULL};
	int argc = a2 ? 3 : a1 ? 2 : 1;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	*rc_r = mock_host_command(m, argc, argv, f);
	fclose(f);
	return out;
}

/* The text of a local list in a temporary file. */
static void temp_list(char *path, size_t sz, const char *text)
{
	int fd;

	snprintf(path, sz, "/tmp/check_ctd_list.XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	fchmod(fd, 0644);
	close(fd);
}

static mock_host *load(const char *settings)
{
	mock_host *m = mock_host_new();
	const char *err = NULL;

	ck_assert_msg(mock_host_load(m, &vigil_plugin, settings, &err) == 0,
		      "init: %s", err);
	return m;
}

/* SHA-1 of the attachment "attachment-blocked\n" etc., made at run time */
static void sha1_hex(const char *s, char out[41])
{
	unsigned char md[20];
	size_t i;

	SHA1((const unsigned char *)s, strlen(s), md);
	for (i = 0; i < 20; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

/* A host with the plugin and a local list of the test objects. */
static mock_host *rules_host(char *list, size_t listsz)
{
	char text[1024], settings[1024], blocked[41], logged[41];

	sha1_hex("attachment-blocked\n", blocked);
	sha1_hex("attachment-logged\n", logged);
	snprintf(text, sizeof(text),
		 "# test list\n%s block\n%s log\nhttps://phish.example/login "
		 "quarantine\ntracker.example\nmalware.example block\n"
		 "203.0.113.66 block\n",
		 blocked, logged);
	temp_list(list, listsz, text);
	snprintf(settings, sizeof(settings),
		 "name = \"ctd\"; sync_interval = 60; sources = ( { type = "
		 "\"list\"; path = \"%s\"; } );",
		 list);
	return load(settings);
}

static const struct {
	const char *kind;
	const char *subject, *text, *html, *attachment;
	vigil_result result;
	const char *detail; /* a part of it */
	int intercept_pass; /* a log object: the rule passes */
	const char *part;
} rule_cases[] = {
    /* files: a block object quarantines (the rule's own intercept) */
    {"file", "x", "text", NULL, "attachment-blocked\n", VIGIL_MATCH,
     "on list local (check_ctd_list.", 0, "3/a.zip/x.bin"},
    {"file", "x", "text", NULL, "attachment-blocked\n", VIGIL_MATCH,
     "), action block", 0, "3/a.zip/x.bin"},
    /* a log object: matched, intercept pass */
    {"file", "x", "text", NULL, "attachment-logged\n", VIGIL_MATCH,
     "action log", 1, "3/a.zip/x.bin"},
    {"file", "x", "see https://fine.example/", NULL, "attachment-clean\n",
     VIGIL_NO_MATCH, "", 0, NULL},
    /* URLs: exact (normalised), parent domain, IP; text, HTML, Subject */
    {"url", "x", "Log in at HTTPS://PHISH.example:443/a/../login now", NULL,
     NULL, VIGIL_MATCH, "url https://phish.example/login on list local", 0,
     "1"},
    {"url", "x", "nothing",
     "<a href=\"http://cdn.malware.example/x?a=1&amp;b=2\">here</a>", NULL,
     VIGIL_MATCH,
     "domain malware.example in http://cdn.malware.example/x?a=1&b=2", 0, "2"},
    {"url", "x", "see http://0xCB.0.113.66/payload", NULL, NULL, VIGIL_MATCH,
     "ip 203.0.113.66 in http://203.0.113.66/payload", 0, "1"},
    {"url", "visit www.tracker.example today", "nothing", NULL, NULL,
     VIGIL_MATCH, "domain tracker.example in http://www.tracker.example/", 1,
     NULL},
    /* the block object wins over the log one */
    {"url", "x", "http://tracker.example/ and http://malware.example/", NULL,
     NULL, VIGIL_MATCH, "domain malware.example in", 0, "1"},
    /* near misses */
    {"url", "x", "https://phish.example/login2 http://notmalware.example/",
     NULL, NULL, VIGIL_NO_MATCH, "", 0, NULL},
    {"url", "x", "no links", "<p>tracker.example</p>",
     "http://malware.example/", VIGIL_NO_MATCH, "", 0, NULL},
};

START_TEST(test_plugin_rules)
{
	char list[256], cond[128];
	struct mock_eval_report rep;
	const char *err = NULL;
	mock_host *m = rules_host(list, sizeof(list));
	vigil_message *msg =
	    message(m, rule_cases[_i].subject, rule_cases[_i].text,
		    rule_cases[_i].html, rule_cases[_i].attachment);

	snprintf(cond, sizeof(cond),
		 "type = \"suspicious_object\"; kind = \"%s\";",
		 rule_cases[_i].kind);
	ck_assert_int_eq(mock_eval(m, cond, msg, &rep, &err),
			 rule_cases[_i].result);
	ck_assert_msg(strstr(rep.detail, rule_cases[_i].detail) != NULL,
		      "detail '%s' lacks '%s'", rep.detail,
		      rule_cases[_i].detail);
	ck_assert_int_eq(rep.intercept_set, rule_cases[_i].intercept_pass);
	if (rep.intercept_set)
		ck_assert_int_eq(rep.intercept, VIGIL_ACTION_PASS);
	if (rule_cases[_i].result == VIGIL_MATCH)
		ck_assert_str_eq(rep.threat, "Suspicious object");
	if (rule_cases[_i].part != NULL) {
		ck_assert_ptr_nonnull(rep.part);
		ck_assert_str_eq(rep.part->path, rule_cases[_i].part);
	} else {
		ck_assert_ptr_null(rep.part);
	}
	mock_message_free(msg);
	mock_host_free(m);
	unlink(list);
}
END_TEST

START_TEST(test_plugin_registers)
{
	char list[256];
	struct mock_eval_report rep;
	const char *err = NULL;
	mock_host *m = rules_host(list, sizeof(list));
	vigil_message *msg = message(m, "x", "x", NULL, NULL);

	ck_assert_uint_eq(mock_host_count(m, "hidden_rule"), 2);
	ck_assert_uint_eq(mock_host_count(m, "condition"), 1);
	ck_assert_uint_eq(mock_host_count(m, "timer"), 1);
	ck_assert_int_eq(
	    mock_eval(m, "type = \"suspicious_object\"; kind = \"ip\";", msg,
		      &rep, &err),
	    VIGIL_ERROR);
	ck_assert_ptr_nonnull(strstr(err, "kind = \"file\" or \"url\""));
	ck_assert_int_eq(
	    mock_eval(m, "type = \"suspicious_object\"; kind = \"url\"; x = 1;",
		      msg, &rep, &err),
	    VIGIL_ERROR);
	ck_assert_ptr_nonnull(strstr(err, "unknown setting 'x'"));
	mock_message_free(msg);
	mock_host_free(m);
	unlink(list);
}
END_TEST

static const struct {
	const char *settings;
	const char *error;
} bad_settings[] = {
    {"sync_interval = 1;", "sync_interval is 10..604800"},
    {"colour = 1;", "unknown setting 'colour'"},
    {"sources = ( { type = \"ftp\"; } );", "source type must be"},
    {"sources = ( { type = \"list\"; } );", "needs either path or url"},
    {"sources = ( { type = \"list\"; path = \"/a\"; url = \"https://x\"; } );",
     "needs either path or url"},
    {"sources = ( { type = \"list\"; path = \"relative.txt\"; } );",
     "path must be absolute"},
    {"sources = ( { type = \"list\"; url = \"http://plain.example/\"; } );",
     "url must start with https://"},
    {"sources = ( { type = \"list\"; path = \"/a\"; action = \"explode\"; } );",
     "action must be"},
    {"sources = ( { type = \"apex_central\"; url = \"https://cm\"; app_id = "
     "\"a\"; } );",
     "app_id and api_key"},
    {"sources = ( { type = \"apex_central\"; url = \"https://cm\"; app_id = "
     "\"a\"; api_key = \"k\"; file_list = false; url_list = false; } );",
     "both false"},
    {"sources = ( { type = \"csv\"; path = \"/a\"; } );", "needs columns"},
    {"sources = ( { type = \"csv\"; path = \"/a\"; columns = { md5 = \"x\"; }; "
     "} );",
     "'md5' is not one of"},
    {"sources = ( { type = \"csv\"; path = \"/a\"; columns = { action = \"x\"; "
     "}; } );",
     "maps none of"},
    {"sources = ( { type = \"stix\"; path = \"/a\"; columns = { url = \"x\"; "
     "}; } );",
     "columns is for csv"},
    {"sources = ( { type = \"list\"; path = \"/a\"; name = \"a b\"; } );",
     "a source name is"},
    {"sources = ( { type = \"list\"; path = \"/a\"; name = \"x\"; }, { type = "
     "\"stix\"; path = \"/b\"; name = \"x\"; } );",
     "used twice"},
    {"sources = ( { type = \"list\"; path = \"/a\"; timeout = 0; } );",
     "timeout is 1..3600"},
};

START_TEST(test_bad_settings)
{
	char settings[1024];
	mock_host *m = mock_host_new();
	const char *err = NULL;

	snprintf(settings, sizeof(settings), "name = \"ctd\"; %s",
		 bad_settings[_i].settings);
	ck_assert_int_ne(mock_host_load(m, &vigil_plugin, settings, &err), 0);
	ck_assert_msg(err != NULL &&
			  strstr(err, bad_settings[_i].error) != NULL,
		      "error '%s' lacks '%s'", err ? err : "(none)",
		      bad_settings[_i].error);
	mock_host_free(m);
}
END_TEST

START_TEST(test_missing_file_is_a_sync_error)
{
	mock_host *m = load("name = \"ctd\"; sources = ( { type = \"list\"; "
			    "path = \"/nonexistent/so-local.txt\"; } );");
	int rc;
	char *out = run(m, &rc, "so", "list", NULL);

	ck_assert_int_eq(rc, 0);
	ck_assert_msg(strstr(out, "cannot read /nonexistent/so-local.txt") !=
			  NULL,
		      "%s", out);
	free(out);
	out = run(m, &rc, "so", "sync", NULL);
	ck_assert_int_eq(rc, 1);
	ck_assert_ptr_nonnull(strstr(out, "local: failed: cannot read"));
	free(out);
	mock_host_free(m);
}
END_TEST

START_TEST(test_source_names)
{
	mock_host *m = load(
	    "name = \"ctd\"; sources = ( { type = \"list\"; path = \"/n/a\"; "
	    "}, "
	    "{ type = \"list\"; path = \"/n/b\"; }, { type = \"stix\"; path = "
	    "\"/n/c\"; name = \"local\"; }, { type = \"list\"; path = "
	    "\"/n/d\"; "
	    "name = \"local-2\"; } );");
	int rc;
	char *out = run(m, &rc, "so", "list", NULL);

	ck_assert_int_eq(rc, 0);
	ck_assert_msg(strstr(out, "\nlocal-3 ") && strstr(out, "\nlocal-4 ") &&
			  strstr(out, "\nlocal        stix ") &&
			  strstr(out, "\nlocal-2      list "),
		      "%s", out);
	free(out);
	mock_host_free(m);
}
END_TEST

static void sim_settings(char *out, size_t sz, const struct sim *s,
			 const char *key, const char *extra)
{
	snprintf(out, sz,
		 "name = \"ctd\"; sync_interval = 60; sources = ( { type = "
		 "\"apex_central\"; name = \"cm\"; url = "
		 "\"https://127.0.0.1:%d\"; app_id = \"%s\"; api_key = \"%s\"; "
		 "ca_file = \"%s\"; timeout = 10; } %s);",
		 s->port, APP_ID, key, s->ca_file, extra ? extra : "");
}

START_TEST(test_plugin_apex_sync)
{
	struct sim s;
	char settings[2048], *out, *saved_list, *saved_state;
	struct mock_eval_report rep;
	const char *err = NULL;
	vigil_message *msg;
	mock_host *m, *m2;
	vigil_host *h;
	int rc;

	sim_start(&s);
	sim_settings(settings, sizeof(settings), &s, API_KEY, NULL);
	m = load(settings);
	h = mock_host_handle(m);

	/* nothing before the first sync (init never goes to the network) */
	ck_assert_int_eq(sim_stat(&s, "requests"), 0);
	out = run(m, &rc, "so", "lookup", "malware.example");
	ck_assert_int_eq(rc, 1);
	ck_assert_ptr_nonnull(strstr(out, "not on any list"));
	free(out);

	out = run(m, &rc, "so", "sync", NULL);
	ck_assert_msg(rc == 0, "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "cm: ok, 6 objects"));
	free(out);
	ck_assert_int_eq(sim_stat(&s, "accepted"), 4); /* file url domain ip */
	out = run(m, &rc, "so", "lookup", "http://a.b.malware.example/x");
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(strstr(out, "domain malware.example in "
				  "http://a.b.malware.example/x: on list cm "
				  "(127.0.0.1:") != NULL,
		      "%s", out);
	free(out);
	out = run(m, &rc, "so", "lookup",
		  "C7D3F5A5F1E4E8B2A9D6C3B0A1F2E3D4C5B6A798");
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(strstr(out, "action block, expires 2099-01-01"));
	free(out);
	out = run(m, &rc, "so", "list", NULL);
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(strstr(out, "cm ") != NULL &&
			  strstr(out, "apex_central") &&
			  strstr(out, "6 objects in the set"),
		      "%s", out);
	free(out);
	out = run(m, &rc, "so", "list", "cm");
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(strstr(out, "url     block"));
	ck_assert_ptr_nonnull(strstr(out, "https://phish.example/login"));
	free(out);

	/* the rules see the new set */
	msg = message(m, "x", "click https://phish.example/login", NULL, NULL);
	ck_assert_int_eq(
	    mock_eval(m, "type = \"suspicious_object\"; kind = \"url\";", msg,
		      &rep, &err),
	    VIGIL_MATCH);
	ck_assert_ptr_nonnull(strstr(rep.detail, "on list cm (127.0.0.1:"));
	mock_message_free(msg);

	/* garbage, truncated JSON, an error result, HTTP 500: the old list
	 * stays, the error is the source's state */
	{
		static const char *const faults[] = {
		    "{\"garbage\": true}", "{\"truncated\": true}",
		    "{\"result_error\": true}", "{\"status\": 500}"};
		static const char *const errors[] = {"not JSON", "not JSON",
						     "Result 0, ErrorCode 500",
						     "HTTP 500"};
		size_t i;

		for (i = 0; i < 4; i++) {
			sim_fault(&s, faults[i]);
			out = run(m, &rc, "so", "sync", "cm");
			ck_assert_int_eq(rc, 1);
			ck_assert_msg(strstr(out, errors[i]) != NULL &&
					  strstr(out, "keeping 6 objects"),
				      "%s", out);
			free(out);
			out = run(m, &rc, "so", "lookup", "malware.example");
			ck_assert_int_eq(rc, 0);
			free(out);
		}
		out = run(m, &rc, "so", "list", NULL);
		ck_assert_ptr_nonnull(strstr(out, "HTTP 500"));
		free(out);
		{
			char *st = NULL;
			size_t len = 0;
			FILE *f = open_memstream(&st, &len);

			/* `vigil status` lines (status() of the group) */
			ck_assert_int_eq(
			    mock_host_command(m, 1, (char *[]){"so", NULL}, f),
			    2);
			fclose(f);
			free(st);
		}
		sim_fault(&s, "{}");
	}

	/* the store holds the last good list and the state */
	saved_list = h->api->kv_get(h, "ctd", "list/cm", NULL);
	saved_state = h->api->kv_get(h, "ctd", "state/cm", NULL);
	ck_assert_ptr_nonnull(saved_list);
	ck_assert_ptr_nonnull(
	    strstr(saved_list, "domain\tmalware.example\tblock\t0\n"));
	ck_assert_ptr_nonnull(saved_state);
	ck_assert_ptr_nonnull(strstr(saved_state, "\"count\":6"));
	ck_assert_ptr_nonnull(strstr(saved_state, "HTTP 500"));
	mock_host_free(m);

	/* a new generation (another process) loads it without any sync */
	m2 = mock_host_new();
	h = mock_host_handle(m2);
	h->api->kv_put(h, "ctd", "list/cm", saved_list, 0);
	h->api->kv_put(h, "ctd", "state/cm", saved_state, 0);
	ck_assert_int_eq(mock_host_load(m2, &vigil_plugin, settings, &err), 0);
	ck_assert_int_eq(sim_stat(&s, "requests"),
			 4 + 4); /* a failed type ends a sync */
	out = run(m2, &rc, "so", "lookup", "203.0.113.66");
	ck_assert_int_eq(rc, 0);
	free(out);
	out = run(m2, &rc, "so", "list", NULL);
	ck_assert_msg(strstr(out, "HTTP 500") != NULL, "%s", out);
	free(out);
	mock_host_free(m2);

	/* ... but not for a source now pointing elsewhere */
	m2 = mock_host_new();
	h = mock_host_handle(m2);
	h->api->kv_put(h, "ctd", "list/cm", saved_list, 0);
	h->api->kv_put(h, "ctd", "state/cm", saved_state, 0);
	snprintf(
	    settings, sizeof(settings),
	    "name = \"ctd\"; sources = ( { type = \"apex_central\"; name = "
	    "\"cm\"; url = \"https://other.example\"; app_id = \"a\"; "
	    "api_key = \"k\"; } );");
	ck_assert_int_eq(mock_host_load(m2, &vigil_plugin, settings, &err), 0);
	out = run(m2, &rc, "so", "lookup", "203.0.113.66");
	ck_assert_int_eq(rc, 1);
	free(out);
	mock_host_free(m2);
	free(saved_list);
	free(saved_state);
	sim_stop(&s);
}
END_TEST

START_TEST(test_plugin_wrong_key)
{
	struct sim s;
	char settings[2048], *out;
	mock_host *m;
	int rc;

	sim_start(&s);
	sim_settings(settings, sizeof(settings), &s, "not-the-key", NULL);
	m = load(settings);
	out = run(m, &rc, "so", "sync", NULL);
	ck_assert_int_eq(rc, 1);
	ck_assert_msg(strstr(out, "HTTP 401") != NULL, "%s", out);
	ck_assert_ptr_null(strstr(out, "not-the-key"));
	free(out);
	ck_assert_int_eq(sim_stat(&s, "bad_signature"), 1);
	ck_assert_int_eq(sim_stat(&s, "accepted"), 0);
	mock_host_free(m);
	sim_stop(&s);
}
END_TEST

/* vigild's timer starts the sync thread; the first sync is due at once */
START_TEST(test_timer_starts_sync_thread)
{
	struct sim s;
	char settings[2048], *out = NULL;
	mock_host *m;
	int rc = 1, i;

	sim_start(&s);
	sim_settings(settings, sizeof(settings), &s, API_KEY, NULL);
	m = load(settings);
	mock_host_fire_timers(m, time(NULL));
	mock_host_fire_timers(m, time(NULL));	/* only one thread */
	for (i = 0; i < 1000 && rc != 0; i++) { /* up to 20 s */
		free(out);
		out = run(m, &rc, "so", "lookup", "malware.example");
		if (rc != 0)
			usleep(20000);
	}
	ck_assert_msg(rc == 0, "%s", out);
	free(out);
	ck_assert_int_eq(sim_stat(&s, "accepted"), 4);
	mock_host_free(m); /* joins the thread */
	sim_stop(&s);
}
END_TEST

static Suite *ctd_suite(void)
{
	Suite *s = suite_create("ctd");
	TCase *t;

	t = tcase_create("normalise");
	tcase_add_loop_test(t, test_url_norm, 0,
			    sizeof(url_cases) / sizeof(url_cases[0]));
	tcase_add_test(t, test_url_too_long_keeps_host);
	tcase_add_loop_test(t, test_value_norm, 0,
			    sizeof(value_cases) / sizeof(value_cases[0]));
	tcase_add_loop_test(t, test_value_kind, 0,
			    sizeof(kind_cases) / sizeof(kind_cases[0]));
	tcase_add_loop_test(t, test_urls_in_text, 0,
			    sizeof(text_cases) / sizeof(text_cases[0]));
	suite_add_tcase(s, t);

	t = tcase_create("set");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, test_set_million);
	tcase_add_test(t, test_set_empty);
	suite_add_tcase(s, t);

	t = tcase_create("formats");
	tcase_add_test(t, test_parse_list_fixture);
	tcase_add_loop_test(t, test_bad_documents, 0,
			    sizeof(bad_docs) / sizeof(bad_docs[0]));
	tcase_add_test(t, test_parse_list_limits);
	tcase_add_test(t, test_parse_csv_fixtures);
	tcase_add_test(t, test_parse_csv_columns);
	tcase_add_test(t, test_parse_stix_fixture);
	tcase_add_test(t, test_parse_apex_fixture);
	tcase_add_loop_test(t, test_parse_time, 0,
			    sizeof(time_cases) / sizeof(time_cases[0]));
	suite_add_tcase(s, t);

	t = tcase_create("apex");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, test_apex_checksum);
	tcase_add_test(t, test_apex_jwt);
	tcase_add_test(t, test_apex_fetch_against_sim);
	suite_add_tcase(s, t);

	t = tcase_create("plugin");
	tcase_set_timeout(t, 60);
	tcase_add_loop_test(t, test_plugin_rules, 0,
			    sizeof(rule_cases) / sizeof(rule_cases[0]));
	tcase_add_test(t, test_plugin_registers);
	tcase_add_loop_test(t, test_bad_settings, 0,
			    sizeof(bad_settings) / sizeof(bad_settings[0]));
	tcase_add_test(t, test_missing_file_is_a_sync_error);
	tcase_add_test(t, test_source_names);
	tcase_add_test(t, test_plugin_apex_sync);
	tcase_add_test(t, test_plugin_wrong_key);
	tcase_add_test(t, test_timer_starts_sync_thread);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *r;
	int failed;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	r = srunner_create(ctd_suite());
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
