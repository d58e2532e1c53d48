/*
 * check_snap.c - SNAP's unit tests: tables of strings through the pure
 * heuristics (domains, lookalikes, URLs, scripts, language, HTML, the
 * Received chain), then the plugin on the mock host: settings, a scored
 * message, and double verification against a fake "ddan" verdict source
 * (confirmed, dismissed, error, pending, undecided; the URL sample).
 *
 * NEVER: needs the network, a GMime tree or raw bytes (the mock host has
 * neither: whole messages are tested by snap-scan.sh through vigil scan).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>
#include <openssl/evp.h>

#include "mock_host.h"
#include "../snap.h"

extern const vigil_plugin_def vigil_plugin;

/* A configuration by hand: example.com ours, paypal.com and
 * microsoft.com protected, Jane Whitfield a protected name. */
static struct snap_config *test_config(void)
{
	static const struct {
		const char *name, *label;
		int internal;
	} d[] = {{"example.com", "example", 1},
		 {"paypal.com", "paypal", 0},
		 {"microsoft.com", "microsoft", 0}};
	struct snap_config *c = calloc(1, sizeof *c);
	memcpy(c->weights, snap_default_weights, sizeof c->weights);
	c->n_domains = 3;
	c->domains = calloc(3, sizeof *c->domains);
	for (int i = 0; i < 3; i++) {
		c->domains[i].name = strdup(d[i].name);
		c->domains[i].label = strdup(d[i].label);
		c->domains[i].skel = snap_skeleton(d[i].label, 0);
		c->domains[i].internal = d[i].internal;
	}
	c->n_names = 1;
	c->names = calloc(1, sizeof *c->names);
	c->names_shown = calloc(1, sizeof *c->names_shown);
	c->names[0] = snap_name_form("Jane Whitfield");
	c->names_shown[0] = strdup("Jane Whitfield");
	return c;
}

static void free_config(struct snap_config *c)
{
	for (size_t i = 0; i < c->n_domains; i++) {
		free(c->domains[i].name);
		free(c->domains[i].label);
		free(c->domains[i].skel);
	}
	free(c->domains);
	free(c->names[0]);
	free(c->names_shown[0]);
	free(c->names);
	free(c->names_shown);
	free(c);
}

/* ---- domains ---- */

static const struct {
	const char *host, *registrable;
} reg_cases[] = {
    {"a.b.example.com", "example.com"}, {"example.co.uk", "example.co.uk"},
    {"mail.example.co.uk", "example.co.uk"}, {"x.y.com.au", "y.com.au"},
    {"localhost", "localhost"}, {"example.com.", "example.com."},
    {"192.0.2.1", "192.0.2.1"}, {"www.paypal.de", "paypal.de"},
};

START_TEST(test_registrable)
{
	ck_assert_str_eq(snap_registrable(reg_cases[_i].host),
			 reg_cases[_i].registrable);
}
END_TEST

static const struct {
	const char *host;
	int reason; /* 0, SNAP_HOMOGLYPH, SNAP_LOOKALIKE */
	const char *which;
} look_cases[] = {
    {"example.com", 0, NULL},          {"mail.example.com", 0, NULL},
    {"paypal.com", 0, NULL},           {"www.paypal.com", 0, NULL},
    {"examp1e.com", SNAP_HOMOGLYPH, "example.com"},
    {"exarnple.com", SNAP_HOMOGLYPH, "example.com"},
    {"rnicrosoft.com", SNAP_HOMOGLYPH, "microsoft.com"},
    {"micros0ft.net", SNAP_HOMOGLYPH, "microsoft.com"},
    {"xn--pypal-4ve.com", SNAP_HOMOGLYPH, "paypal.com"},
    {"p\xd0\xb0ypal.com", SNAP_HOMOGLYPH, "paypal.com"}, /* Cyrillic a */
    {"exmaple.com", SNAP_LOOKALIKE, "example.com"},     /* swapped */
    {"examples.com", SNAP_LOOKALIKE, "example.com"},    /* one more */
    {"paypai-secure.com", SNAP_LOOKALIKE, "paypal.com"}, /* i for l, a word */
    {"paypalace-hotel.com", 0, NULL},
    {"paypall.com", SNAP_LOOKALIKE, "paypal.com"},
    {"example.co", SNAP_LOOKALIKE, "example.com"},     /* our name, other TLD */
    {"paypal.de", 0, NULL},                            /* a brand's own TLDs */
    {"paypal.com.account-verify.net", SNAP_LOOKALIKE, "paypal.com"},
    {"mail.example.com.evil.example", SNAP_LOOKALIKE, "example.com"},
    {"microsoft-support-team.com", SNAP_LOOKALIKE, "microsoft.com"},
    {"paypalsecure.com", SNAP_LOOKALIKE, "paypal.com"},
    {"securepaypal.net", SNAP_LOOKALIKE, "paypal.com"},
    {"microsoftonline-id.com", 0, NULL}, /* not one trade word */
    {"example.sourceforge.net", 0, NULL}, /* a plain label is no claim */
    {"bookshop.example", 0, NULL},
    {"contoso.com", 0, NULL},          {"203.0.113.5", 0, NULL},
};

START_TEST(test_lookalike)
{
	struct snap_config *c = test_config();
	const struct snap_domain *d = NULL;
	const char *why = NULL;
	int r = snap_domain_lookalike(c, look_cases[_i].host, &d, &why);
	ck_assert_msg(r == look_cases[_i].reason, "%s: got %d (%s), want %d",
		      look_cases[_i].host, r, why ? why : "-",
		      look_cases[_i].reason);
	if (r)
		ck_assert_str_eq(d->name, look_cases[_i].which);
	free_config(c);
}
END_TEST

static const struct {
	const char *a, *b;
	int max, want;
} dist_cases[] = {
    {"paypal", "paypal", 2, 0}, {"paypal", "paypa", 2, 1},
    {"exmaple", "example", 2, 1}, {"abcdef", "badcfe", 2, 3},
    {"kitten", "sitting", 3, 3}, {"", "abc", 2, 3},
};

START_TEST(test_edit_distance)
{
	ck_assert_int_eq(snap_edit_distance(dist_cases[_i].a, dist_cases[_i].b,
					    dist_cases[_i].max),
			 dist_cases[_i].want);
}
END_TEST

/* ---- URLs and link text ---- */

static const struct {
	const char *url, *host; /* host NULL: none */
} url_cases[] = {
    {"http://Example.COM/x", "example.com"},
    {"https://user:pw@evil.example:8443/a?b", "evil.example"},
    {"https://www.paypal.com@198.51.100.23/cases", "198.51.100.23"},
    {"www.example.org/path", "www.example.org"},
    {"http://[2001:db8::1]/x", "[2001:db8::1]"},
    {"mailto:a@b.example", NULL},
    {"example.com", NULL},
    {"  http://host.example.  ", "host.example"},
};

START_TEST(test_url_host)
{
	char host[256];
	int ok = snap_url_host(url_cases[_i].url, strlen(url_cases[_i].url),
			       host, sizeof host);
	if (url_cases[_i].host == NULL) {
		ck_assert_int_eq(ok, 0);
	} else {
		ck_assert_int_eq(ok, 1);
		ck_assert_str_eq(host, url_cases[_i].host);
	}
}
END_TEST

static const struct {
	const char *text, *host;
} text_cases[] = {
    {"https://www.paypal.com/signin", "www.paypal.com"},
    {" www.bank.example ", "www.bank.example"},
    {"paypal.com", "paypal.com"},
    {"Click here", NULL},
    {"Visit paypal.com today", NULL}, /* words, not an address */
    {"invoice.pdf", NULL},
    {"script.pl", NULL},                 /* two letters alone: a file */
    {"news.bbc.co.uk", "news.bbc.co.uk"},
    {"someone@example.com", NULL},
};

START_TEST(test_text_host)
{
	char host[256];
	int ok = snap_text_host(text_cases[_i].text, host, sizeof host);
	if (text_cases[_i].host == NULL) {
		ck_assert_msg(!ok, "'%s' gave %s", text_cases[_i].text, host);
	} else {
		ck_assert_int_eq(ok, 1);
		ck_assert_str_eq(host, text_cases[_i].host);
	}
}
END_TEST

static const struct {
	const char *host;
	int ip, private_ip, shortener;
} host_cases[] = {
    {"203.0.113.45", 1, 0, 0}, {"192.168.1.20", 1, 1, 0},
    {"10.0.0.1", 1, 1, 0},     {"0xcb007117", 1, 0, 0},
    {"3405803799", 1, 0, 0},   {"[2001:db8::1]", 1, 0, 0},
    {"bit.ly", 0, 0, 1},       {"www.tinyurl.com", 0, 0, 1},
    {"notbit.ly", 0, 0, 0},    {"example.com", 0, 0, 0},
    {"deadbeef.com", 0, 0, 0},
};

START_TEST(test_hosts)
{
	ck_assert_int_eq(snap_is_ip_host(host_cases[_i].host),
			 host_cases[_i].ip);
	if (host_cases[_i].ip)
		ck_assert_int_eq(snap_ip_is_private(host_cases[_i].host),
				 host_cases[_i].private_ip);
	ck_assert_int_eq(snap_is_shortener(host_cases[_i].host),
			 host_cases[_i].shortener);
}
END_TEST

/* ---- text ---- */

static const struct {
	const char *text;
	const char *word; /* NULL: none */
} script_cases[] = {
    {"Your \xd0\x90pple ID", "\xd0\x90pple"},      /* Cyrillic A */
    {"Micr\xd0\xbesoft Security", "Micr\xd0\xbesoft"}, /* Cyrillic o */
    {"\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 Windows", NULL},
    {"caf\xc3\xa9 cr\xc3\xa8me", NULL}, /* Latin with accents */
    {"\xce\xb1\xce\xb2\xce\xb3 abc", NULL},
    {"bad \xff\xfe bytes", NULL},
};

START_TEST(test_mixed_script)
{
	char word[64];
	int hit = snap_mixed_script(script_cases[_i].text,
				    strlen(script_cases[_i].text), word,
				    sizeof word);
	if (script_cases[_i].word == NULL) {
		ck_assert_int_eq(hit, 0);
	} else {
		ck_assert_int_eq(hit, 1);
		ck_assert_str_eq(word, script_cases[_i].word);
	}
}
END_TEST

static const struct {
	const char *text;
	unsigned kinds;
} urgency_cases[] = {
    {"please verify your account within 24 hours", 1 | 4},
    {"process a wire transfer today, it is urgent", 2 | 4},
    {"the meeting is on thursday", 0},
    {"update your payment method", 2},
};

START_TEST(test_urgency)
{
	int hits;
	char detail[128];
	const char *t = urgency_cases[_i].text;
	ck_assert_uint_eq(snap_urgency(t, strlen(t), &hits, detail, sizeof detail),
			  urgency_cases[_i].kinds);
}
END_TEST

START_TEST(test_skeleton)
{
	char *a = snap_skeleton("P\xd0\xb0yPa1", 0); /* Cyrillic a, digit 1 */
	char *b = snap_skeleton("paypal", 0);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);
	a = snap_name_form("  Jane   Whitfield (CEO) ");
	b = snap_name_form("jane whitfield");
	ck_assert_ptr_nonnull(strstr(a, b));
	ck_assert_str_eq(a + strlen(a) - 3, "ceo");
	free(a);
	free(b);
}
END_TEST

/* ---- HTML ---- */

static const struct {
	const char *html;
	int link_text, data_uri, form, hidden;
	int urls; /* URLs noted */
} html_cases[] = {
    {"<a href='http://evil.example/x'>https://www.paypal.com/</a>", 1, 0, 0, 0, 1},
    {"<a href='https://www.paypal.com/x'>www.paypal.com</a>", 0, 0, 0, 0, 1},
    {"<a href='http://click.esp.example/1'>Read more</a>", 0, 0, 0, 0, 1},
    {"<a href='data:text/html;base64,PGgxPg=='>open</a>", 0, 1, 0, 0, 0},
    {"<a href=\"javascript:popUp('x.cfm')\">pop</a>", 0, 0, 0, 0, 0},
    {"<a href=\"javascript:location.href='http://x'\">go</a>", 0, 1, 0, 0, 0},
    {"<form action='http://x.example/p'><input type=password name=p></form>", 0, 0, 1, 0, 1},
    {"<form><input name=cvv></form>", 0, 0, 1, 0, 0},
    {"<form><input name=email><textarea></textarea></form>", 0, 0, 0, 0, 0},
    {"<p>hi<span style='font-size:0px'>lots of hidden salt words here</span></p>", 0, 0, 0, 1, 0},
    {"<p><font color='#ffffff'>white words on the white page, many</font></p>", 0, 0, 0, 1, 0},
    {"<table bgcolor='#000000'><tr><td><font color=white>white on black is fine to read</font></td></tr></table>", 0, 0, 0, 0, 0},
    {"<div style='display:none'>a short preheader line</div>", 0, 0, 0, 0, 0},
    {"<p style='color: #FEFEFE'>almost white text on white, sneaky</p>", 0, 0, 0, 1, 0},
    {"<iframe src='http://frame.example/login'></iframe>", 0, 0, 0, 0, 1},
};

START_TEST(test_html)
{
	struct snap_config *c = test_config();
	struct snap_html h = {0};
	struct snap_buf text = {0};
	struct snap_result r = {0};
	const char *s = html_cases[_i].html;
	snap_html_scan(c, s, strlen(s), NULL, &h, &text, &r);
	ck_assert_msg(!!h.link_text[0] == html_cases[_i].link_text, "link %s", h.link_text);
	ck_assert_msg(!!h.data_uri[0] == html_cases[_i].data_uri, "data %s", h.data_uri);
	ck_assert_msg(!!h.form[0] == html_cases[_i].form, "form %s", h.form);
	ck_assert_msg(!!h.hidden[0] == html_cases[_i].hidden, "hidden %s", h.hidden);
	ck_assert_uint_eq(r.n_urls, (size_t)html_cases[_i].urls);
	snap_buf_free(&text);
	snap_result_clear(&r);
	free_config(c);
}
END_TEST

/* ---- whole snap_msg: headers and the Received chain ---- */

static const char *const rcv_ok[] = {
    "from mail.partner.example (mail.partner.example [192.0.2.1]) by "
    "mx1.example.com; Tue, 14 May 2024 09:12:33 +0000",
    "from [10.0.0.2] by mail.partner.example; Tue, 14 May 2024 11:12:30 +0200"};
static const char *const rcv_gap[] = {
    "from a.partner.example (a.partner.example [192.0.2.1]) by "
    "mx1.example.com; Tue, 14 May 2024 09:12:33 +0000",
    "from [10.0.0.2] by a.partner.example; Tue, 07 May 2024 09:12:30 +0000"};
static const char *const rcv_zones[] = {
    "from a.p.example (a.p.example [192.0.2.1]) by mx.example.com; Tue, 14 May 2024 09:12:33 +0000",
    "from b.p.example (b.p.example [192.0.2.2]) by a.p.example; Tue, 14 May 2024 02:12:30 -0700",
    "from c.p.example (c.p.example [192.0.2.3]) by b.p.example; Tue, 14 May 2024 18:42:10 +0930",
    "from [10.0.0.1] by c.p.example; Tue, 14 May 2024 14:12:00 +0500"};

START_TEST(test_received)
{
	struct snap_config *c = test_config();
	struct {
		const char *const *rcv;
		size_t n;
		int anomaly;
	} cases[] = {{rcv_ok, 2, 0}, {rcv_gap, 2, 1}, {rcv_zones, 4, 1}};
	for (size_t i = 0; i < 3; i++) {
		struct snap_msg m = {.from_addr = "a@partner.example",
				     .message_id = "<x@partner.example>",
				     .received = cases[i].rcv,
				     .n_received = cases[i].n};
		struct snap_result r = {0};
		snap_analyze(c, &m, &r);
		ck_assert_msg(!!(r.hit & (1u << SNAP_RECEIVED)) == cases[i].anomaly,
			      "case %zu: %s", i, r.detail[SNAP_RECEIVED]);
		snap_result_clear(&r);
	}
	free_config(c);
}
END_TEST

START_TEST(test_headers)
{
	struct snap_config *c = test_config();
	const char *dates[] = {"Tue, 14 May 2024 09:12:33 +0000",
			       "Mon, 13 May 2024 23:59:00 -1100"};
	const char *rcpts[] = {"staff@example.com"};
	struct snap_msg m = {
	    .from_name = "Jane Whitfield",
	    .from_addr = "jane.whitfield@gmail.com",
	    .reply_to = "Jane <ceo.jane@outlook.com>",
	    .message_id = "<1@vps.hosting.example>",
	    .to = "undisclosed-recipients:;",
	    .rcpts = rcpts, .n_rcpts = 1,
	    .dates = dates, .n_dates = 2};
	struct snap_result r = {0};
	snap_analyze(c, &m, &r);
	unsigned want = 1u << SNAP_DISPLAY_NAME | 1u << SNAP_REPLY_TO |
			1u << SNAP_MESSAGE_ID | 1u << SNAP_ENVELOPE_RCPT |
			1u << SNAP_MULTIPLE_DATE;
	ck_assert_uint_eq(r.hit & want, want);
	/* gmail -> outlook: both free mail, so no reply_to_freemail */
	ck_assert(!(r.hit & (1u << SNAP_REPLY_TO_FREEMAIL)));
	snap_result_clear(&r);

	/* the same person from inside, and a protected name not at the
	 * start of the display name */
	struct snap_msg ok = {.from_name = "Jane Whitfield",
			      .from_addr = "jane.whitfield@example.com",
			      .message_id = "<2@mail.example.com>"};
	snap_analyze(c, &ok, &r);
	ck_assert_uint_eq(r.hit, 0);
	snap_result_clear(&r);
	struct snap_msg news = {.from_name = "Notes about Jane Whitfield",
				.from_addr = "news@press.example",
				.message_id = "<3@press.example>"};
	snap_analyze(c, &news, &r);
	ck_assert_uint_eq(r.hit, 0);
	snap_result_clear(&r);
	free_config(c);
}
END_TEST

/* ---- the plugin on the mock host ---- */

static const char *const internal[] = {"example.com"};

static mock_host *load(const char *settings)
{
	mock_host *m = mock_host_new();
	const char *err = NULL;
	mock_host_set_internal_domains(m, internal, 1);
	ck_assert_msg(mock_host_load(m, &vigil_plugin, settings, &err) == 0,
		      "load: %s", err ? err : "");
	ck_assert_int_eq(mock_host_count(m, "condition"), 1);
	return m;
}

/* The phishing message of the plugin tests: an executive's name from
 * free mail, a link whose text shows another domain, urgency. */
static vigil_message *phish_message(mock_host *m, int with_attachment)
{
	static const char *const rcpts[] = {"staff@example.com"};
	vigil_message *msg = mock_message_new(m, "jane.whitfield@gmail.com",
					      rcpts, 1);
	mock_message_set_header(msg, "From",
				"\"Jane Whitfield\" <jane.whitfield@gmail.com>");
	mock_message_set_header(msg, "To", "staff@example.com");
	mock_message_set_header(msg, "Subject", "Urgent: wire transfer");
	mock_message_set_header(msg, "Message-ID", "<a1@mail.gmail.com>");
	const char *html =
	    "<p>Are you available? Process a wire transfer today, it is "
	    "urgent.</p><a href='http://pay.evil.example/w'>https://www.example.com/pay</a>"
	    " <a href='http://pay.evil.example/w2'>details</a>";
	mock_message_add_part(msg, "1", "", "text/html", html, strlen(html), 0);
	if (with_attachment)
		mock_message_add_part(msg, "2", "invoice.pdf", "application/pdf",
				      "%PDF-1.4", 8, 0);
	return msg;
}

START_TEST(test_conservative_detects)
{
	mock_host *m = load("name = \"snap\"; protected_names = [ \"Jane Whitfield\" ];");
	vigil_message *msg = phish_message(m, 0);
	struct mock_eval_report r;
	const char *err = NULL;
	ck_assert_int_eq(mock_eval(m, "type = \"snap\";", msg, &r, &err), VIGIL_MATCH);
	ck_assert_msg(strncmp(r.detail, "score ", 6) == 0 &&
			  strstr(r.detail, " >= 70: ") != NULL &&
			  strstr(r.detail, "display_name(45) 'Jane Whitfield' from gmail.com") &&
			  strstr(r.detail, "link_text_mismatch(30) www.example.com->pay.evil.example") &&
			  strstr(r.detail, "urgency(30)") && strstr(r.detail, "[conservative]"),
		      "%s", r.detail);
	ck_assert_str_eq(r.threat, "Social engineering attack");
	mock_message_free(msg);

	/* the same without the protected name configured stays below 70 */
	mock_host_free(m);
	m = load("name = \"snap\";");
	msg = phish_message(m, 0);
	ck_assert_int_eq(mock_eval(m, "type = \"snap\";", msg, &r, &err), VIGIL_NO_MATCH);
	ck_assert_ptr_nonnull(strstr(r.detail, "< 70 (conservative)"));
	mock_message_free(msg);
	mock_host_free(m);
}
END_TEST

START_TEST(test_weights_and_threshold)
{
	mock_host *m = load("name = \"snap\"; threshold_conservative = 50;"
			    "weights = { urgency = 0; link_text_mismatch = 60; };");
	vigil_message *msg = phish_message(m, 0);
	struct mock_eval_report r;
	const char *err = NULL;
	ck_assert_int_eq(mock_eval(m, "type = \"snap\";", msg, &r, &err), VIGIL_MATCH);
	ck_assert_msg(strstr(r.detail, "score 60 >= 50: link_text_mismatch(60)") != NULL,
		      "%s", r.detail);
	ck_assert_ptr_null(strstr(r.detail, "urgency"));
	mock_message_free(msg);
	mock_host_free(m);
}
END_TEST

static const struct {
	const char *settings, *error_has;
} bad[] = {
    {"name = \"snap\"; colour = 1;", "colour"},
    {"name = \"snap\"; mode = \"paranoid\";", "mode"},
    {"name = \"snap\"; threshold_conservative = 0;", "threshold_conservative"},
    {"name = \"snap\"; threshold_aggressive = \"40\";", "threshold_aggressive"},
    {"name = \"snap\"; weights = { lookalike = 40; };", "lookalike"},
    {"name = \"snap\"; weights = { urgency = -1; };", "urgency"},
    {"name = \"snap\"; weights = 5;", "weights"},
    {"name = \"snap\"; protected_names = [ \"ab\" ];", "protected_names"},
    {"name = \"snap\"; protected_names = \"PayPal\";", "protected_names"},
    {"name = \"snap\"; lookalike_domains = [ \"nodot\" ];", "lookalike_domains"},
    {"name = \"snap\"; lookalike_domains = ( 5 );", "lookalike_domains"},
};

START_TEST(test_bad_settings)
{
	mock_host *m = mock_host_new();
	const char *err = NULL;
	ck_assert_int_ne(mock_host_load(m, &vigil_plugin, bad[_i].settings, &err), 0);
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strstr(err, bad[_i].error_has) != NULL && strstr(err, ":1:") != NULL,
		      "case %d: '%s' lacks '%s' or FILE:LINE", _i, err,
		      bad[_i].error_has);
	mock_host_free(m);
}
END_TEST

START_TEST(test_condition_settings)
{
	mock_host *m = load("name = \"snap\";");
	vigil_message *msg = phish_message(m, 0);
	struct mock_eval_report r;
	const char *err = NULL;
	ck_assert_int_eq(mock_eval(m, "type = \"snap\"; level = 3;", msg, &r, &err),
			 VIGIL_ERROR);
	ck_assert_ptr_nonnull(strstr(err, "level"));
	mock_message_free(msg);
	mock_host_free(m);
}
END_TEST

/* ---- double verification with a fake Virtual Analyzer ---- */

struct fake_va {
	vigil_result url_answer, file_answer;
	int asked_files, asked_urls;
	char url_sha1[41];
	char url_data[512];
	char url_type[64], url_name[64];
};

static vigil_result fake_query(void *ctx, vigil_message *msg,
			       const vigil_part *part, vigil_eval *ev)
{
	struct fake_va *va = ctx;
	(void)msg;
	if (strcmp(part->content_type, "text/uri-list") == 0) {
		va->asked_urls++;
		snprintf(va->url_sha1, sizeof va->url_sha1, "%s", part->sha1);
		snprintf(va->url_data, sizeof va->url_data, "%.*s",
			 (int)part->size, (const char *)part->data);
		snprintf(va->url_type, sizeof va->url_type, "%s", part->content_type);
		snprintf(va->url_name, sizeof va->url_name, "%s", part->name);
		if (va->url_answer == VIGIL_PENDING)
			vigil_eval_ticket(ev, part->sha1);
		if (va->url_answer == VIGIL_MATCH)
			vigil_eval_threat(ev, "Analyzed advanced threat");
		return va->url_answer;
	}
	va->asked_files++;
	if (va->file_answer == VIGIL_PENDING)
		vigil_eval_ticket(ev, part->sha1);
	return va->file_answer;
}

static const vigil_verdict_ops fake_ops = {.name = "ddan", .query = fake_query};

static const struct {
	vigil_result file, url, want;
	const char *note, *threat;
	int attachment;
} verify_cases[] = {
    {VIGIL_NO_MATCH, VIGIL_MATCH, VIGIL_MATCH, "confirmed by ddan", "Analyzed advanced threat", 1},
    {VIGIL_NO_MATCH, VIGIL_NO_MATCH, VIGIL_NO_MATCH, "dismissed by ddan", "", 1},
    {VIGIL_ERROR, VIGIL_NO_MATCH, VIGIL_ERROR, "ddan could not verify", "", 1},
    {VIGIL_PENDING, VIGIL_PENDING, VIGIL_PENDING, "waiting for ddan", "", 1},
    {VIGIL_UNDECIDED, VIGIL_UNDECIDED, VIGIL_MATCH, "undecided", "Social engineering attack", 1},
    {VIGIL_NO_MATCH, VIGIL_UNDECIDED, VIGIL_MATCH, "undecided", "Social engineering attack", 1},
    {VIGIL_ERROR, VIGIL_MATCH, VIGIL_MATCH, "confirmed", "Analyzed advanced threat", 1},
    {VIGIL_PENDING, VIGIL_ERROR, VIGIL_ERROR, "could not verify", "", 1},
    {VIGIL_MATCH, VIGIL_NO_MATCH, VIGIL_NO_MATCH, "dismissed", "", 0}, /* no file */
};

START_TEST(test_double_verification)
{
	/* auto mode: the fake ddan makes it aggressive (threshold 40) */
	mock_host *m = load("name = \"snap\";");
	struct fake_va va = {.file_answer = verify_cases[_i].file,
			     .url_answer = verify_cases[_i].url};
	const char *err = NULL;
	ck_assert_int_eq(vigil_register_verdict_source(mock_host_handle(m), &fake_ops,
						       &va, &err), 0);
	vigil_message *msg = phish_message(m, verify_cases[_i].attachment);
	struct mock_eval_report r;
	vigil_result res = mock_eval(m, "type = \"snap\";", msg, &r, &err);
	ck_assert_msg(res == verify_cases[_i].want, "case %d: got %d: %s", _i, res,
		      r.detail);
	ck_assert_msg(strstr(r.detail, ">= 40:") && strstr(r.detail, "[aggressive; ") &&
			  strstr(r.detail, verify_cases[_i].note),
		      "case %d: %s", _i, r.detail);
	ck_assert_str_eq(r.threat, verify_cases[_i].threat);
	ck_assert_int_eq(va.asked_files, verify_cases[_i].attachment);
	if (verify_cases[_i].want == VIGIL_PENDING)
		ck_assert_uint_eq(r.n_tickets, 2);

	/* the URL sample: every link once, one a line, first seen first */
	ck_assert_int_eq(va.asked_urls, 1);
	ck_assert_str_eq(va.url_type, "text/uri-list");
	ck_assert_str_eq(va.url_name, "urls.txt");
	ck_assert_str_eq(va.url_data, "http://pay.evil.example/w\nhttp://pay.evil.example/w2\n");
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n;
	char hex[41];
	EVP_Digest(va.url_data, strlen(va.url_data), md, &n, EVP_sha1(), NULL);
	for (unsigned i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	ck_assert_str_eq(va.url_sha1, hex);

	/* evaluated again (a parked message resumes): the same sample */
	char first[41];
	memcpy(first, va.url_sha1, sizeof first);
	ck_assert_int_eq(mock_eval(m, "type = \"snap\";", msg, &r, &err),
			 verify_cases[_i].want);
	ck_assert_str_eq(va.url_sha1, first);
	mock_message_free(msg);
	mock_host_free(m);
}
END_TEST

START_TEST(test_forced_modes)
{
	/* aggressive without a Virtual Analyzer: the lower threshold, the
	 * detection stands on its own */
	mock_host *m = load("name = \"snap\"; mode = \"aggressive\";");
	vigil_message *msg = phish_message(m, 0);
	struct mock_eval_report r;
	const char *err = NULL;
	ck_assert_int_eq(mock_eval(m, "type = \"snap\";", msg, &r, &err), VIGIL_MATCH);
	ck_assert_ptr_nonnull(strstr(r.detail, ">= 40: "));
	ck_assert_str_eq(r.threat, "Social engineering attack");
	mock_message_free(msg);
	mock_host_free(m);

	/* conservative although ddan is there: nothing is asked */
	m = load("name = \"snap\"; mode = \"conservative\"; threshold_conservative = 40;");
	struct fake_va va = {.url_answer = VIGIL_NO_MATCH};
	ck_assert_int_eq(vigil_register_verdict_source(mock_host_handle(m), &fake_ops,
						       &va, &err), 0);
	msg = phish_message(m, 1);
	ck_assert_int_eq(mock_eval(m, "type = \"snap\";", msg, &r, &err), VIGIL_MATCH);
	ck_assert_int_eq(va.asked_urls + va.asked_files, 0);
	mock_message_free(msg);
	mock_host_free(m);
}
END_TEST

int main(void)
{
	g_mime_init();
	Suite *s = suite_create("snap");
	TCase *tc = tcase_create("heuristics");
#define LOOP(t, table) tcase_add_loop_test(tc, t, 0, sizeof table / sizeof table[0])
	LOOP(test_registrable, reg_cases);
	LOOP(test_lookalike, look_cases);
	LOOP(test_edit_distance, dist_cases);
	LOOP(test_url_host, url_cases);
	LOOP(test_text_host, text_cases);
	LOOP(test_hosts, host_cases);
	LOOP(test_mixed_script, script_cases);
	LOOP(test_urgency, urgency_cases);
	LOOP(test_html, html_cases);
	tcase_add_test(tc, test_skeleton);
	tcase_add_test(tc, test_received);
	tcase_add_test(tc, test_headers);
	suite_add_tcase(s, tc);
	TCase *tp = tcase_create("plugin");
	tcase_add_test(tp, test_conservative_detects);
	tcase_add_test(tp, test_weights_and_threshold);
	tcase_add_loop_test(tp, test_bad_settings, 0, sizeof bad / sizeof bad[0]);
	tcase_add_test(tp, test_condition_settings);
	tcase_add_loop_test(tp, test_double_verification, 0,
			    sizeof verify_cases / sizeof verify_cases[0]);
	tcase_add_test(tp, test_forced_modes);
	suite_add_tcase(s, tp);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
