/*
 * check_modify.c - Check suite for the message changes and notifications
 * (core/msg_modify.c).
 *
 * PURPOSE: run real messages (tests/fixtures/msg, examples/, and a few
 * written out below) through msg_modify with tables of plans, re-parse
 * every result with msg_new and check its structure: the decoded subject,
 * the headers, which parts are there and their decoded text. Then tables
 * for notify_expand and notify_build, whose messages are re-parsed too.
 *
 * NEVER: compare a whole message as one string, or read files outside
 * $srcdir/fixtures/msg and $srcdir/../examples.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msg.h"
#include "msg_modify.h"

#define CK(cond, ...) ck_assert_msg(cond, __VA_ARGS__)

/* Magic bytes of archives only: enough to list the members. */
static void test_typer(void *ctx, const unsigned char *d, size_t n,
		       const char **type_r, const char **category_r,
		       unsigned *flags_r)
{
	(void)ctx;
	(void)flags_r;
	if ((n >= 4 && memcmp(d, "PK\3\4", 4) == 0) ||
	    (n >= 6 && memcmp(d, "7z\274\257\047\034", 6) == 0) ||
	    (n >= 2 && d[0] == 0x1f && d[1] == 0x8b)) {
		*type_r = "archive";
		*category_r = "compressed";
	} else {
		*type_r = "unknown";
		*category_r = "other";
	}
}

/* ---- messages written out here ---- */

#define HDRS "From: Alice <alice@example.org>\nTo: bob@example.net\n"

static const char msg_utf8_subject[] =
    HDRS "Subject: =?UTF-8?B?R3LDvMOfZQ==?=\nMIME-Version: 1.0\n"
	 "Content-Type: text/plain; charset=utf-8\n\nhi\n";

static const char msg_no_subject[] =
    HDRS "MIME-Version: 1.0\nContent-Type: text/plain\n\nhi\n";

/* An encoded CR LF: decoded, it would be a header of its own. */
static const char msg_inject_subject[] =
    HDRS "Subject: =?UTF-8?Q?hi=0D=0ABcc:_evil@example.com?=\n"
	 "MIME-Version: 1.0\nContent-Type: text/plain\n\nhi\n";

static const char msg_xhdr[] =
    HDRS "Subject: x\nX-Vigil-Rule: old-1\nx-vigil-rule: old-2\n"
	 "MIME-Version: 1.0\nContent-Type: text/plain\n\nhi\n";

/* Latin-1 plain text, and HTML with a body tag. */
static const char msg_alt[] =
    HDRS "Subject: alt\nMIME-Version: 1.0\n"
	 "Content-Type: multipart/alternative; boundary=\"b\"\n\n"
	 "--b\nContent-Type: text/plain; charset=iso-8859-1\n"
	 "Content-Transfer-Encoding: quoted-printable\n\n"
	 "Gr=FC=DFe aus K=F6ln\n"
	 "--b\nContent-Type: text/html; charset=utf-8\n\n"
	 "<html><head><title>t</title></head><BODY class=\"x\">\n"
	 "<p>hello</p>\n</body></html>\n"
	 "--b--\n";

/* The only text is an attachment. */
static const char msg_notes_only[] =
    HDRS "Subject: notes\nMIME-Version: 1.0\n"
	 "Content-Type: text/plain; charset=us-ascii\n"
	 "Content-Disposition: attachment; filename=\"notes.txt\"\n\n"
	 "just notes\n";

/* The message itself is the attachment. */
static const char msg_single_att[] =
    HDRS "Subject: single\nMIME-Version: 1.0\n"
	 "Content-Type: application/octet-stream; name=\"x.exe\"\n"
	 "Content-Transfer-Encoding: base64\n\nTVqQAAMAAAAEAAAA\n";

/* A forwarded message inline, with an attachment of its own. */
static const char msg_fwd_inline[] =
    HDRS "Subject: fwd inline\nMIME-Version: 1.0\n"
	 "Content-Type: multipart/mixed; boundary=\"o\"\n\n"
	 "--o\nContent-Type: text/plain\n\nsee below\n"
	 "--o\nContent-Type: message/rfc822\n\n"
	 "From: carol@example.com\nSubject: inner\nMIME-Version: 1.0\n"
	 "Content-Type: multipart/mixed; boundary=\"i\"\n\n"
	 "--i\nContent-Type: text/plain\n\ninner text\n"
	 "--i\nContent-Type: application/pdf\n"
	 "Content-Disposition: attachment; filename=\"inner.pdf\"\n"
	 "Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n"
	 "--i--\n"
	 "--o--\n";

/* 8-bit text with no charset: taken as ISO-8859-1. */
static const char msg_8bit_latin1[] =
    HDRS "Subject: 8bit\nMIME-Version: 1.0\nContent-Type: text/plain\n"
	 "Content-Transfer-Encoding: 8bit\n\ncaf\351 cr\350me\n";

/* A stamp would break the signature. */
static const char msg_signed[] = HDRS
    "Subject: signed\nMIME-Version: 1.0\n"
    "Content-Type: multipart/signed; micalg=pgp-sha256;\n"
    " protocol=\"application/pgp-signature\"; boundary=\"s\"\n\n"
    "--s\nContent-Type: text/plain\n\nsigned text\n"
    "--s\nContent-Type: application/pgp-signature; name=\"signature.asc\"\n"
    "\n-----BEGIN PGP SIGNATURE-----\nAAAA\n"
    "-----END PGP SIGNATURE-----\n"
    "--s--\n";

#define F_PLAIN "fixtures/msg/plain.eml"
#define F_MULTIPART "fixtures/msg/multipart.eml"
#define F_NESTED "fixtures/msg/nested.eml"
#define F_NAMES "fixtures/msg/names.eml"
#define F_ZIP "fixtures/msg/zip.eml"
#define F_7Z "fixtures/msg/7z.eml"
#define F_EMBEDDED "fixtures/msg/embedded.eml"
#define F_CRLF "fixtures/msg/crlf.eml"
#define F_GARBAGE "fixtures/msg/garbage.eml"
#define X_INVOICE "../examples/02-invoice-exe.eml"
#define X_ZIPPED "../examples/04-zipped-exe.eml"
#define X_ENCODED "../examples/07-encoded-names.eml"

/* ---- helpers ---- */

static unsigned char *read_file(const char *name, size_t *size_r)
{
	const char *srcdir = getenv("srcdir");
	char path[4096];
	unsigned char *buf = NULL;
	size_t cap = 0, len = 0, n;
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", srcdir ? srcdir : ".", name);
	f = fopen(path, "rb");
	CK(f != NULL, "cannot open %s", path);
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		n = fread(buf + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	*size_r = len;
	return buf;
}

/* `src` is a message's text when it has a line end, else a file name
 * under $srcdir. */
static struct msg *load(const char *src)
{
	unsigned char *raw;
	size_t size;

	if (strchr(src, '\n') != NULL) {
		size = strlen(src);
		raw = malloc(size);
		ck_assert_ptr_nonnull(raw);
		memcpy(raw, src, size);
	} else {
		raw = read_file(src, &size);
	}
	return msg_new(raw, size, NULL, test_typer, NULL);
}

/* A file's name, or an inline message's Subject line. */
static const char *label(const char *src)
{
	static char buf[80];
	const char *subj = strstr(src, "\nSubject: ");
	size_t n;

	if (strchr(src, '\n') == NULL)
		return src;
	if (subj == NULL)
		return "(inline, no subject)";
	subj++;
	n = strcspn(subj, "\n");
	if (n >= sizeof buf)
		n = sizeof buf - 1;
	memcpy(buf, subj, n);
	buf[n] = '\0';
	return buf;
}

static int is_7bit(const unsigned char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] >= 0x80)
			return 0;
	return 1;
}

static void check_no_empty_multipart(const char *what, GMimeObject *obj,
				     unsigned level)
{
	CK(level < 70, "%s: nesting runs away", what);
	if (obj == NULL)
		return;
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int i, n = g_mime_multipart_get_count(mp);

		CK(n > 0, "%s: an empty multipart", what);
		for (i = 0; i < n; i++)
			check_no_empty_multipart(
			    what, g_mime_multipart_get_part(mp, i), level + 1);
	} else if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *inner =
		    g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));

		if (inner != NULL)
			check_no_empty_multipart(
			    what, g_mime_message_get_mime_part(inner),
			    level + 1);
	}
}

/* Run `p` on `src`, check what every result must be (it re-parses
 * cleanly, LF line ends, 7-bit when the original was, no empty
 * multipart, the original untouched) and return it re-parsed. The
 * original is left in *orig_r. */
static struct msg *run(const char *src, const struct modify_plan *p,
		       struct msg **orig_r)
{
	const char *what = label(src);
	struct msg *m = load(src), *r;
	unsigned char *out, *before;
	size_t size = 12345, n_before, n_after;
	char *err = NULL;

	ck_assert_ptr_nonnull(m->mime);
	msg_parts(m, &n_before);
	before = malloc(m->raw_size);
	ck_assert_ptr_nonnull(before);
	memcpy(before, m->raw, m->raw_size);

	out = msg_modify(m, p, &size, &err);
	CK(out != NULL, "%s: msg_modify failed: %s", what, err ? err : "?");
	CK(err == NULL, "%s: error set on success", what);
	CK(size > 0, "%s: empty result", what);
	CK(memchr(out, '\r', size) == NULL, "%s: CR in the result", what);
	if (is_7bit(m->raw, m->raw_size))
		CK(is_7bit(out, size), "%s: 8-bit result", what);

	/* the message the caller holds stays as it was */
	CK(memcmp(before, m->raw, m->raw_size) == 0, "%s: raw changed", what);
	msg_parts(m, &n_after);
	CK(n_before == n_after, "%s: parts changed", what);
	free(before);

	r = msg_new(out, size, NULL, test_typer, NULL);
	CK(r->mime != NULL && !(r->exceptions & MSG_MALFORMED),
	   "%s: result does not re-parse: %s", what,
	   r->malformed_reason ? r->malformed_reason : "no MIME");
	check_no_empty_multipart(what, r->mime->mime_part, 0);
	msg_parts(r, NULL);
	if (orig_r != NULL)
		*orig_r = m;
	else
		msg_free(m);
	return r;
}

static const vigil_part *part_at(struct msg *m, const char *path)
{
	size_t n, i;
	const vigil_part *parts = msg_parts(m, &n);

	for (i = 0; i < n; i++)
		if (strcmp(parts[i].path, path) == 0)
			return &parts[i];
	return NULL;
}

static const vigil_part *part_named(struct msg *m, const char *name)
{
	size_t n, i;
	const vigil_part *parts = msg_parts(m, &n);

	for (i = 0; i < n; i++)
		if (strcmp(parts[i].name, name) == 0)
			return &parts[i];
	return NULL;
}

/* A part's decoded content as a string (g_free() it). */
static char *part_text(const vigil_part *p)
{
	return g_strndup((const char *)p->data, p->size);
}

static int header_count(struct msg *m, const char *name)
{
	GMimeHeaderList *hl =
	    g_mime_object_get_header_list(GMIME_OBJECT(m->mime));
	int i, n = g_mime_header_list_get_count(hl), c = 0;

	for (i = 0; i < n; i++)
		if (g_ascii_strcasecmp(
			g_mime_header_get_name(
			    g_mime_header_list_get_header_at(hl, i)),
			name) == 0)
			c++;
	return c;
}

static const char *raw_header(struct msg *m, const char *name)
{
	GMimeHeader *h = g_mime_header_list_get_header(
	    g_mime_object_get_header_list(GMIME_OBJECT(m->mime)), name);

	return h ? g_mime_header_get_raw_value(h) : NULL;
}

static void plan_free(struct modify_plan *p)
{
	strvec_free(&p->tag_subject);
}

/* ---- modify_plan_empty ---- */

START_TEST(test_plan_empty)
{
	struct modify_stamp st = {"s", 0};
	struct modify_strip sp = {"2", "r"};
	struct modify_plan p = {0};

	CK(modify_plan_empty(NULL), "NULL plan");
	CK(modify_plan_empty(&p), "zero plan");
	p.x_header = "";
	CK(modify_plan_empty(&p), "empty x_header");
	p.x_header = "X-A: b";
	CK(!modify_plan_empty(&p), "x_header");
	p.x_header = NULL;
	strvec_push(&p.tag_subject, "[T]");
	CK(!modify_plan_empty(&p), "tag");
	plan_free(&p);
	memset(&p, 0, sizeof p);
	p.stamps = &st;
	p.n_stamps = 1;
	CK(!modify_plan_empty(&p), "stamp");
	memset(&p, 0, sizeof p);
	p.strips = &sp;
	p.n_strips = 1;
	CK(!modify_plan_empty(&p), "strip");
	memset(&p, 0, sizeof p);
	p.strip_all = 1;
	CK(!modify_plan_empty(&p), "strip_all");
}
END_TEST

/* ---- subject tags ---- */

struct subject_case {
	const char *src;
	const char *tags[3];
	const char *want; /* the decoded Subject of the result */
};

static const struct subject_case subject_cases[] = {
    {F_PLAIN, {"[EXE]"}, "[EXE] plain"},
    {F_PLAIN, {"[EXE]", "[SUSPICIOUS]"}, "[EXE] [SUSPICIOUS] plain"},
    {msg_utf8_subject, {"[TAG]"}, "[TAG] Gr\303\274\303\237e"},
    {msg_utf8_subject, {"[\303\234BER]"}, "[\303\234BER] Gr\303\274\303\237e"},
    {msg_no_subject, {"[TAG]"}, "[TAG]"},
    {msg_no_subject, {"[A]", "[B]"}, "[A] [B]"},
    {msg_inject_subject, {"[TAG]"}, "[TAG] hi  Bcc: evil@example.com"},
    {F_PLAIN,
     {"[A\r\nBcc: evil@example.com]"},
     "[A  Bcc: evil@example.com] plain"},
    /* two encoded-words, the first padded (GMime issue #133) */
    {X_ENCODED,
     {"[EXE]"},
     "[EXE] \303\234berweisung: Rechnung f\303\274r J\303\274rgen "
     "\342\200\223 42 \342\202\254 f\303\244llig"},
    {F_CRLF, {"[CRLF]"}, "[CRLF] multipart"},
};

START_TEST(test_subject)
{
	const struct subject_case *c = &subject_cases[_i];
	struct modify_plan p = {0};
	struct msg *r;
	const char *got, *raw;
	size_t i;

	for (i = 0; i < 3 && c->tags[i]; i++)
		strvec_push(&p.tag_subject, c->tags[i]);
	r = run(c->src, &p, NULL);
	got = msg_header(r, "Subject");
	CK(got != NULL && strcmp(got, c->want) == 0,
	   "%s: subject '%s', want '%s'", label(c->src), got ? got : "(none)",
	   c->want);
	CK(header_count(r, "Subject") == 1, "%s: %d Subject headers",
	   label(c->src), header_count(r, "Subject"));
	CK(header_count(r, "Bcc") == 0, "%s: a Bcc header got in",
	   label(c->src));
	raw = raw_header(r, "Subject");
	CK(raw != NULL && is_7bit((const unsigned char *)raw, strlen(raw)),
	   "%s: raw Subject not 7-bit: %s", label(c->src), raw);
	if (!is_7bit((const unsigned char *)c->want, strlen(c->want)))
		CK(strstr(raw, "=?") != NULL, "%s: not RFC 2047: %s",
		   label(c->src), raw);
	msg_free(r);
	plan_free(&p);
}
END_TEST

/* ---- X-header ---- */

struct xhdr_case {
	const char *src;
	const char *spec;
	const char *name;
	int count;	   /* headers of that name in the result; -1: any */
	const char *value; /* decoded, when count is 1 */
};

static const struct xhdr_case xhdr_cases[] = {
    {F_PLAIN, "X-Vigil-Rule: exe-attachment", "X-Vigil-Rule", 1,
     "exe-attachment"},
    {msg_xhdr, "X-Vigil-Rule: new", "X-Vigil-Rule", 1, "new"},
    {msg_xhdr, "x-VIGIL-rule:   spaced  ", "X-Vigil-Rule", 1, "spaced"},
    {F_PLAIN, "X-Vigil-Rule: a\r\nBcc: evil@example.com", "X-Vigil-Rule", 1,
     "a  Bcc: evil@example.com"},
    {F_PLAIN, "X-Vigil: Gr\303\274\303\237e", "X-Vigil", 1,
     "Gr\303\274\303\237e"},
    {F_PLAIN, "Bad Name: v", "Bad Name", 0, NULL},
    {F_PLAIN, "no colon", "no colon", 0, NULL},
    {F_PLAIN, "Content-Type: text/html", "Content-Type", -1, NULL},
};

START_TEST(test_x_header)
{
	const struct xhdr_case *c = &xhdr_cases[_i];
	struct modify_plan p = {0};
	struct msg *r;
	int n;

	p.x_header = c->spec;
	r = run(c->src, &p, NULL);
	n = header_count(r, c->name);
	CK(c->count < 0 || n == c->count, "'%s': %d %s headers, want %d",
	   c->spec, n, c->name, c->count);
	if (c->value != NULL) {
		const char *v =
		    g_mime_object_get_header(GMIME_OBJECT(r->mime), c->name);
		const char *raw = raw_header(r, c->name);

		CK(v != NULL && strcmp(v, c->value) == 0,
		   "'%s': value '%s', want '%s'", c->spec, v, c->value);
		CK(is_7bit((const unsigned char *)raw, strlen(raw)),
		   "'%s': raw value not 7-bit", c->spec);
	}
	CK(header_count(r, "Bcc") == 0, "'%s': a Bcc header got in", c->spec);
	CK(strcmp(part_at(r, "1")->content_type, "text/plain") == 0,
	   "'%s': the body changed type", c->spec);
	msg_free(r);
}
END_TEST

/* ---- stamps ---- */

/* A part of the result: its decoded text starts with, ends with, holds
 * and lacks these (NULL: not checked); all NULL: the part is unchanged. */
struct xtext {
	const char *path;
	const char *starts, *ends, *has, *lacks;
};

#define MAX_XTEXT 4

struct stamp_case {
	const char *src;
	struct modify_stamp stamps[2];
	struct xtext parts[MAX_XTEXT];
};

#define UML "Gr\303\274\303\237e aus K\303\266ln"

static const struct stamp_case stamp_cases[] = {
    {F_PLAIN,
     {{"-- scanned by vigil", 0}},
     {{"1", "Hello, world.", "Second line.\n\n-- scanned by vigil\n", NULL,
       NULL}}},
    {F_PLAIN,
     {{"SCANNED", 1}},
     {{"1", "SCANNED\n\nHello, world.", "Second line.\n", NULL, NULL}}},
    {F_PLAIN,
     {{"TOP", 1}, {"BOTTOM", 0}},
     {{"1", "TOP\n\nHello", "line.\n\nBOTTOM\n", NULL, NULL}}},
    {F_PLAIN,
     {{"first", 0}, {"second", 0}},
     {{"1", NULL, "line.\n\nfirst\nsecond\n", NULL, NULL}}},
    /* both alternatives; the HTML one escaped, after <body> / before
     * </body>; the Latin-1 text now UTF-8 */
    {msg_alt,
     {{"<b>&", 0}},
     {{"1", UML, UML "\n\n<b>&\n", NULL, NULL},
      {"2", "<html>", "</body></html>",
       "<p>hello</p>\n<p>&lt;b&gt;&amp;</p>\n</body>", "<b>&"}}},
    {msg_alt,
     {{"<b>&", 1}},
     {{"1", "<b>&\n\n" UML, NULL, NULL, NULL},
      {"2", "<html>", NULL,
       "<BODY class=\"x\">\n<p>&lt;b&gt;&amp;</p>\n<p>hello</p>", "<b>&"}}},
    {msg_alt,
     {{"two\nlines", 0}},
     {{"1", NULL, "\n\ntwo\nlines\n", NULL, NULL},
      {"2", NULL, NULL, "<p>two<br>\nlines</p>\n</body>", NULL}}},
    {msg_alt,
     {{"Gepr\303\274ft \342\234\223", 0}},
     {{"1", UML, "Gepr\303\274ft \342\234\223\n", NULL, NULL},
      {"2", NULL, NULL, "<p>Gepr\303\274ft \342\234\223</p>", NULL}}},
    /* HTML without a body tag: at the end / the start */
    {F_NESTED,
     {{"STAMP", 0}},
     {{"1", "first", "\n\nSTAMP\n", NULL, NULL},
      {"2.1", "plain alternative", "\n\nSTAMP\n", NULL, NULL},
      {"2.2", "<p>html alternative</p>", "<p>STAMP</p>\n", NULL, NULL},
      {"3", NULL, NULL, NULL, NULL}}},
    {F_NESTED,
     {{"STAMP", 1}},
     {{"2.2", "<p>STAMP</p>\n<p>html alternative</p>", NULL, NULL, NULL},
      {"3", NULL, NULL, NULL, NULL}}},
    {msg_8bit_latin1,
     {{"STAMP", 0}},
     {{"1", "caf\303\251 cr\303\250me\n", "\n\nSTAMP\n", NULL, NULL}}},
    {msg_signed,
     {{"STAMP", 0}},
     {{"1", NULL, NULL, NULL, NULL}, {"2", NULL, NULL, NULL, NULL}}},
    /* attachments are not stamped, even text ones */
    {msg_notes_only, {{"STAMP", 0}}, {{"1", NULL, NULL, NULL, NULL}}},
    {F_NAMES,
     {{"STAMP", 0}},
     {{"1", NULL, NULL, NULL, NULL},
      {"2", NULL, NULL, NULL, NULL},
      {"3", NULL, NULL, NULL, NULL},
      {"4", "no name at all", "\n\nSTAMP\n", NULL, NULL}}},
    {F_CRLF,
     {{"STAMP", 0}},
     {{"1", "See the attached files.", "\n\nSTAMP\n", NULL, NULL},
      {"2", NULL, NULL, NULL, NULL},
      {"3", NULL, NULL, NULL, NULL},
      {"4", "caf\303\251 soft break", "\n\nSTAMP\n", NULL, NULL}}},
};

static void check_xtext(const char *what, struct msg *orig, struct msg *r,
			const struct xtext *x)
{
	const vigil_part *p = part_at(r, x->path), *o = part_at(orig, x->path);
	char *t;

	CK(p != NULL && o != NULL, "%s: no part %s", what, x->path);
	if (!x->starts && !x->ends && !x->has && !x->lacks) {
		CK(strcmp(p->sha256, o->sha256) == 0 &&
		       strcmp(p->content_type, o->content_type) == 0 &&
		       strcmp(p->name, o->name) == 0,
		   "%s: part %s changed", what, x->path);
		return;
	}
	t = part_text(p);
	CK(strcmp(p->content_type, o->content_type) == 0,
	   "%s %s: type %s, was %s", what, x->path, p->content_type,
	   o->content_type);
	if (x->starts)
		CK(g_str_has_prefix(t, x->starts),
		   "%s %s: '%s' does not start with '%s'", what, x->path, t,
		   x->starts);
	if (x->ends)
		CK(g_str_has_suffix(t, x->ends),
		   "%s %s: '%s' does not end with '%s'", what, x->path, t,
		   x->ends);
	if (x->has)
		CK(strstr(t, x->has) != NULL, "%s %s: '%s' lacks '%s'", what,
		   x->path, t, x->has);
	if (x->lacks)
		CK(strstr(t, x->lacks) == NULL, "%s %s: '%s' has '%s'", what,
		   x->path, t, x->lacks);
	g_free(t);
}

START_TEST(test_stamp)
{
	const struct stamp_case *c = &stamp_cases[_i];
	struct modify_plan p = {0};
	struct msg *orig, *r;
	size_t i, n_orig, n_r;

	p.stamps = (struct modify_stamp *)c->stamps;
	p.n_stamps = c->stamps[1].text ? 2 : 1;
	r = run(c->src, &p, &orig);
	msg_parts(orig, &n_orig);
	msg_parts(r, &n_r);
	CK(n_orig == n_r, "%s: %zu parts, were %zu", label(c->src), n_r,
	   n_orig);
	for (i = 0; i < MAX_XTEXT && c->parts[i].path; i++)
		check_xtext(label(c->src), orig, r, &c->parts[i]);
	msg_free(orig);
	msg_free(r);
}
END_TEST

/* ---- deleting attachments ---- */

#define MAX_X 5

struct strip_case {
	const char *src;
	struct modify_strip strips[3];
	const char *strip_all_rule; /* non-NULL: strip_all */
	const char *gone[MAX_X];    /* named parts of the original, now gone */
	const char *notes[MAX_X];   /* each in some note */
	const char *kept[MAX_X];    /* paths of parts left unchanged */
	int n_notes;
	int n_lines; /* in all notes: one per removed file and rule */
	int n_top;   /* children of the top-level multipart; 0: not one */
};

static const struct strip_case strip_cases[] = {
    {X_INVOICE,
     {{"2", "exe-attachment"}},
     NULL,
     {"invoice.pdf.exe"},
     {"vigil removed the attachment \"invoice.pdf.exe\" "
      "(rule: exe-attachment).\n"},
     {"1"},
     1,
     1,
     2},
    {F_ZIP,
     {{"2/outer.zip/inner.zip/a.exe", "nested-exe"}},
     NULL,
     {"outer.zip", "inner.zip", "a.exe", "readme.txt", "b.pdf"},
     {"vigil removed the attachment \"outer.zip\" because it contains "
      "\"inner.zip/a.exe\" (rule: nested-exe)."},
     {"1"},
     1,
     1,
     2},
    /* two members of one archive: one note, a line for each */
    {F_ZIP,
     {{"2/outer.zip/readme.txt", "r1"},
      {"2/outer.zip/inner.zip/a.exe", "r2"},
      {"2/outer.zip/readme.txt", "r1"}},
     NULL,
     {"outer.zip"},
     {"\"outer.zip\" because it contains \"readme.txt\" (rule: r1).\n"
      "vigil removed the attachment \"outer.zip\" because it contains "
      "\"inner.zip/a.exe\" (rule: r2).\n"},
     {"1"},
     1,
     2, /* the repeated strip is said once */
     2},
    {X_ZIPPED,
     {{"2/documents.zip/invoice.zip/invoice.exe", "exe-in-archive"}},
     NULL,
     {"documents.zip", "invoice.exe"},
     {"\"documents.zip\" because it contains \"invoice.zip/invoice.exe\" "
      "(rule: exe-in-archive)."},
     {"1"},
     1,
     1,
     2},
    /* a path not in the message removes nothing */
    {F_NESTED,
     {{"3", "exe"}, {"9", "ghost"}, {"2.7.1", "ghost"}},
     NULL,
     {"tool.exe"},
     {"vigil removed the attachment \"tool.exe\" (rule: exe)."},
     {"1", "2.1", "2.2"},
     1,
     1,
     3},
    {F_CRLF,
     {{"3", "exe"}},
     NULL,
     {"tool.exe"},
     {"\"tool.exe\" (rule: exe)."},
     {"1", "2", "4"},
     1,
     1,
     4},
    {F_MULTIPART,
     {{0}},
     "no-attachments",
     {"report.pdf", "tool.exe"},
     {"vigil removed the attachment \"report.pdf\" (rule: no-attachments).",
      "vigil removed the attachment \"tool.exe\" (rule: no-attachments)."},
     {"1", "4"},
     2,
     2,
     4},
    {F_NAMES,
     {{0}},
     "no-attachments",
     {"\342\202\254uro.pdf", "\303\251cole.txt", "only-ct-name.txt"},
     {"vigil removed the attachment \"\342\202\254uro.pdf\" "
      "(rule: no-attachments).",
      "\"\303\251cole.txt\"", "\"only-ct-name.txt\""},
     {"4"},
     3,
     3,
     4},
    /* an attached message goes whole; an inline one is looked into */
    {F_EMBEDDED,
     {{0}},
     "all",
     {"fwd.eml", "doc.pdf"},
     {"vigil removed the attachment \"fwd.eml\" (rule: all)."},
     {"1", "3.1", "4"},
     1,
     1,
     4},
    /* the name hiding ".exe" behind a right-to-left override is shown in
     * its true order */
    {X_ENCODED,
     {{0}},
     "all",
     {"Rechnung f\303\274r J\303\274rgen.pdf"},
     {"vigil removed the attachment \"Rechnungfdp.exe\" (rule: all)."},
     {"1"},
     4,
     4,
     5},
    /* inside an inline forwarded message */
    {msg_fwd_inline,
     {{0}},
     "all",
     {"inner.pdf"},
     {"vigil removed the attachment \"inner.pdf\" (rule: all)."},
     {"1", "2.1"},
     1,
     1,
     2},
    {msg_fwd_inline,
     {{"2.2", "pdf"}},
     NULL,
     {"inner.pdf"},
     {"vigil removed the attachment \"inner.pdf\" (rule: pdf)."},
     {"1", "2.1"},
     1,
     1,
     2},
    /* the part and one inside it: one note for the outer one */
    {F_EMBEDDED,
     {{"2.2", "pdf"}, {"2", "fwd"}},
     NULL,
     {"fwd.eml", "doc.pdf"},
     {"vigil removed the attachment \"fwd.eml\" (rule: pdf).\n"
      "vigil removed the attachment \"fwd.eml\" (rule: fwd).\n"},
     {"1", "3.1", "4"},
     1,
     2,
     4},
    /* never an empty multipart */
    {F_7Z,
     {{0}},
     "all",
     {"pack.7z", "a.exe"},
     {"vigil removed the attachment \"pack.7z\" (rule: all)."},
     {NULL},
     1,
     1,
     1},
    {F_7Z,
     {{"1/pack.7z/a.exe", "exe"}},
     NULL,
     {"pack.7z"},
     {"\"pack.7z\" because it contains \"a.exe\" (rule: exe)."},
     {NULL},
     1,
     1,
     1},
    {msg_single_att,
     {{0}},
     "all",
     {"x.exe"},
     {"vigil removed the attachment \"x.exe\" (rule: all)."},
     {NULL},
     1,
     1,
     0},
    {msg_single_att,
     {{"1", "exe"}},
     NULL,
     {"x.exe"},
     {"vigil removed the attachment \"x.exe\" (rule: exe)."},
     {NULL},
     1,
     1,
     0},
    /* explicit and all: each attachment once, under its own rule */
    {F_MULTIPART,
     {{"3", "exe"}},
     "all",
     {"report.pdf", "tool.exe"},
     {"\"tool.exe\" (rule: exe).", "\"report.pdf\" (rule: all)."},
     {"1", "4"},
     2,
     2,
     4},
};

/* The result's notes: text/plain parts without a name that say so. */
static int count_notes(struct msg *r)
{
	size_t n, i;
	const vigil_part *parts = msg_parts(r, &n);
	int c = 0;

	for (i = 0; i < n; i++)
		if (strcmp(parts[i].content_type, "text/plain") == 0 &&
		    *parts[i].name == '\0' && parts[i].size > 13 &&
		    memcmp(parts[i].data, "vigil removed", 13) == 0)
			c++;
	return c;
}

static int count_note_lines(struct msg *r)
{
	size_t n, i, j;
	const vigil_part *parts = msg_parts(r, &n);
	int c = 0;

	for (i = 0; i < n; i++)
		if (strcmp(parts[i].content_type, "text/plain") == 0 &&
		    *parts[i].name == '\0' && parts[i].size > 13 &&
		    memcmp(parts[i].data, "vigil removed", 13) == 0)
			for (j = 0; j < parts[i].size; j++)
				c += parts[i].data[j] == '\n';
	return c;
}

static int in_a_note(struct msg *r, const char *s)
{
	size_t n, i;
	const vigil_part *parts = msg_parts(r, &n);
	int found = 0;

	for (i = 0; i < n && !found; i++) {
		char *t;

		if (strcmp(parts[i].content_type, "text/plain") != 0 ||
		    *parts[i].name != '\0')
			continue;
		t = part_text(&parts[i]);
		found = g_str_has_prefix(t, "vigil removed") &&
			strstr(t, s) != NULL;
		g_free(t);
	}
	return found;
}

START_TEST(test_strip)
{
	const struct strip_case *c = &strip_cases[_i];
	const char *what = label(c->src);
	struct modify_plan p = {0};
	struct msg *orig, *r;
	GMimeObject *top;
	size_t i, n;

	for (n = 0; n < 3 && c->strips[n].path; n++)
		;
	p.strips = (struct modify_strip *)c->strips;
	p.n_strips = n;
	p.strip_all = c->strip_all_rule != NULL;
	p.strip_all_rule = c->strip_all_rule;
	r = run(c->src, &p, &orig);

	for (i = 0; i < MAX_X && c->gone[i]; i++) {
		CK(part_named(orig, c->gone[i]) != NULL,
		   "%s: the original has no part '%s'", what, c->gone[i]);
		CK(part_named(r, c->gone[i]) == NULL, "%s: '%s' is still there",
		   what, c->gone[i]);
	}
	for (i = 0; i < MAX_X && c->notes[i]; i++)
		CK(in_a_note(r, c->notes[i]), "%s: no note says '%s'", what,
		   c->notes[i]);
	CK(count_notes(r) == c->n_notes, "%s: %d notes, want %d", what,
	   count_notes(r), c->n_notes);
	CK(count_note_lines(r) == c->n_lines, "%s: %d note lines, want %d",
	   what, count_note_lines(r), c->n_lines);
	for (i = 0; i < MAX_X && c->kept[i]; i++) {
		struct xtext x = {c->kept[i], NULL, NULL, NULL, NULL};

		check_xtext(what, orig, r, &x);
	}
	if (c->strip_all_rule != NULL) {
		/* nothing with a name is left, at any depth */
		const vigil_part *parts = msg_parts(r, &n);

		for (i = 0; i < n; i++)
			CK(*parts[i].name == '\0',
			   "%s: '%s' survived strip_all", what, parts[i].name);
	}
	top = r->mime->mime_part;
	if (c->n_top > 0)
		CK(GMIME_IS_MULTIPART(top) &&
		       g_mime_multipart_get_count(GMIME_MULTIPART(top)) ==
			   c->n_top,
		   "%s: top-level multipart of %d, want %d", what,
		   GMIME_IS_MULTIPART(top)
		       ? g_mime_multipart_get_count(GMIME_MULTIPART(top))
		       : -1,
		   c->n_top);
	else
		CK(!GMIME_IS_MULTIPART(top), "%s: a multipart", what);
	CK(strcmp(msg_header(r, "Subject"), msg_header(orig, "Subject")) == 0,
	   "%s: the subject changed", what);
	msg_free(orig);
	msg_free(r);
}
END_TEST

/* Many matches in one archive: the note stays short. */
START_TEST(test_strip_many)
{
	struct modify_strip sp[60];
	char paths[60][32];
	struct modify_plan p = {0};
	struct msg *r;
	size_t i;

	for (i = 0; i < 60; i++) {
		snprintf(paths[i], sizeof paths[i], "2/outer.zip/m%zu.exe", i);
		sp[i].path = paths[i];
		sp[i].rule = "exe";
	}
	p.strips = sp;
	p.n_strips = 60;
	r = run(F_ZIP, &p, NULL);
	CK(count_notes(r) == 1, "%d notes", count_notes(r));
	CK(count_note_lines(r) == 51, "%d note lines", count_note_lines(r));
	CK(in_a_note(r, "\"m49.exe\" (rule: exe).\n(and 10 more matches in "
			"it)\n"),
	   "no count of the rest");
	CK(part_named(r, "outer.zip") == NULL, "outer.zip kept");
	msg_free(r);
}
END_TEST

/* ---- all at once, and what cannot be modified ---- */

START_TEST(test_all_actions)
{
	struct modify_stamp st[] = {{"Scanned by vigil.", 0}};
	struct modify_strip sp[] = {{"2", "exe-attachment"}};
	struct modify_plan p = {0};
	struct msg *orig, *r;
	char *t;

	strvec_push(&p.tag_subject, "[EXE]");
	p.x_header = "X-Vigil-Rule: exe-attachment";
	p.stamps = st;
	p.n_stamps = 1;
	p.strips = sp;
	p.n_strips = 1;
	r = run(X_INVOICE, &p, &orig);
	CK(strcmp(msg_header(r, "Subject"),
		  "[EXE] Invoice 2023-1107 overdue") == 0,
	   "subject '%s'", msg_header(r, "Subject"));
	CK(header_count(r, "X-Vigil-Rule") == 1, "X-Vigil-Rule");
	t = part_text(part_at(r, "1"));
	CK(g_str_has_suffix(t, "\n\nScanned by vigil.\n"), "body '%s'", t);
	g_free(t);
	CK(part_named(r, "invoice.pdf.exe") == NULL, "attachment kept");
	CK(count_notes(r) == 1, "no note");
	/* the original's view is the same as before */
	CK(strcmp(msg_header(orig, "Subject"), "Invoice 2023-1107 overdue") ==
	       0,
	   "original subject changed");
	CK(part_named(orig, "invoice.pdf.exe") != NULL,
	   "original lost its part");
	msg_free(orig);
	msg_free(r);
	plan_free(&p);
}
END_TEST

START_TEST(test_unparseable)
{
	static const char *const srcs[] = {F_GARBAGE, NULL};
	struct modify_plan p = {0};
	size_t i;

	strvec_push(&p.tag_subject, "[T]");
	p.strip_all = 1;
	for (i = 0; i < G_N_ELEMENTS(srcs); i++) {
		struct msg *m = srcs[i] ? load(srcs[i])
					: msg_new(NULL, 0, NULL, NULL, NULL);
		size_t size = 99;
		char *err = NULL;
		unsigned char *out;

		CK(m->mime == NULL, "#%zu: parsed after all", i);
		out = msg_modify(m, &p, &size, &err);
		CK(out == NULL && size == 0, "#%zu: modified", i);
		CK(err != NULL && strstr(err, "could not be parsed") != NULL,
		   "#%zu: reason '%s'", i, err ? err : "(null)");
		free(err);
		/* without a place for the reason */
		CK(msg_modify(m, &p, &size, NULL) == NULL, "#%zu: no reason",
		   i);
		msg_free(m);
	}
	plan_free(&p);
}
END_TEST

/* ---- notify_expand ---- */

static const struct notify_vars vars = {
    .sender = "alice@example.org",
    .rcpts = "bob@example.net, carol@example.net",
    .subject = "Hi\r\nBcc: evil@example.com",
    .filename = "invoice.pdf.exe",
    .rulename = "exe-attachment",
    .detected = "Win.Test.EICAR\nsecond line",
    .mailid = "1A2B3C",
    .date = "Tue, 2 Jan 2024 03:04:05 +0000",
    .action = "quarantine",
};

static const struct notify_vars vars_odd = {
    .sender = NULL,
    .subject = "tab\there\033[31m",
    .filename = "Rechnung\342\200\256fdp.exe",
    .rulename = "bad\377utf8",
};

struct expand_case {
	const struct notify_vars *v;
	const char *tmpl;
	int header_mode;
	const char *want;
};

static const struct expand_case expand_cases[] = {
    {&vars, "%SENDER%", 1, "alice@example.org"},
    {&vars, "%RCPTS%", 1, "bob@example.net, carol@example.net"},
    {&vars, "%SUBJECT%", 1, "Hi  Bcc: evil@example.com"},
    {&vars, "%SUBJECT%", 0, "Hi\nBcc: evil@example.com"},
    {&vars, "%FILENAME%", 1, "invoice.pdf.exe"},
    {&vars, "%RULENAME%", 1, "exe-attachment"},
    {&vars, "%DETECTED%", 1, "Win.Test.EICAR second line"},
    {&vars, "%DETECTED%", 0, "Win.Test.EICAR\nsecond line"},
    {&vars, "%MAILID%", 1, "1A2B3C"},
    {&vars, "%DATE%", 1, "Tue, 2 Jan 2024 03:04:05 +0000"},
    {&vars, "%ACTION%", 1, "quarantine"},
    {&vars, "[%ACTION%] %RULENAME%: %FILENAME% from %SENDER%", 1,
     "[quarantine] exe-attachment: invoice.pdf.exe from alice@example.org"},
    {&vars, "%MAILID%%MAILID%", 1, "1A2B3C1A2B3C"},
    {&vars, "%FOO% and %sender% and %SENDER stay", 1,
     "%FOO% and %sender% and %SENDER stay"},
    {&vars, "%FOO%%ACTION%", 1, "%FOO%quarantine"},
    {&vars, "100%% sure, 50% off, %%SENDER%%", 1,
     "100% sure, 50% off, %SENDER%"},
    {&vars, "trailing %", 1, "trailing %"},
    {&vars, "%", 1, "%"},
    {&vars, "", 1, ""},
    {&vars, "line1\r\nline2 %ACTION%\n", 0, "line1\nline2 quarantine\n"},
    {&vars, "one\r\ntwo", 1, "one  two"},
    {NULL, "[%SENDER%|%SUBJECT%]", 1, "[|]"},
    {&vars_odd, "[%SENDER%|%RCPTS%]", 1, "[|]"},
    {&vars_odd, "%SUBJECT%", 1, "tab here [31m"},
    {&vars_odd, "%SUBJECT%", 0, "tab\there [31m"},
    {&vars_odd, "%FILENAME%", 1, "Rechnungfdp.exe"},
    {&vars_odd, "%RULENAME%", 1, "bad\357\277\275utf8"},
};

START_TEST(test_expand)
{
	const struct expand_case *c = &expand_cases[_i];
	char *got = notify_expand(c->tmpl, c->v, c->header_mode);

	CK(strcmp(got, c->want) == 0, "'%s' (%s): '%s', want '%s'", c->tmpl,
	   c->header_mode ? "header" : "body", got, c->want);
	if (c->header_mode)
		CK(strpbrk(got, "\r\n") == NULL, "'%s': a line end", c->tmpl);
	free(got);
}
END_TEST

START_TEST(test_expand_bounded)
{
	struct notify_vars v = {0};
	char *big = malloc(100001), *got;

	ck_assert_ptr_nonnull(big);
	memset(big, 'x', 100000);
	big[100000] = '\0';
	v.subject = big;
	got = notify_expand("<%SUBJECT%>", &v, 1);
	CK(strlen(got) <= 1005, "%zu bytes", strlen(got));
	CK(g_str_has_suffix(got, "...>"), "no mark of the cut");
	free(got);
	/* a cut never splits a character */
	memset(big, 0, 100001);
	big[0] = 'x'; /* then two-byte characters: one straddles byte 1000 */
	for (size_t i = 1; i + 2 <= 3001; i += 2)
		memcpy(big + i, "\303\251", 2);
	got = notify_expand("%SUBJECT%", &v, 0);
	CK(g_utf8_validate(got, -1, NULL), "invalid UTF-8");
	CK(strlen(got) <= 1003, "%zu bytes", strlen(got));
	free(got);
	free(big);
}
END_TEST

/* ---- notify_build ---- */

struct build_case {
	const char *from;
	const char *to[3];
	const char *subject_tmpl, *body_tmpl;
	const struct notify_vars *v;
	const char *want_from;
	const char *want_to[3];
	const char *want_subject;
	const char *want_body;
	const char *id_domain; /* Message-ID ends in "@" this */
};

static const struct notify_vars vars_de = {
    .sender = "alice@example.org",
    .subject = "Gr\303\274\303\237e\r\nBcc: evil@example.com",
    .filename = "invoice.pdf.exe",
    .rulename = "exe-attachment",
    .detected = "Win.Test.EICAR\nsecond line",
    .action = "quarantine",
};

static const struct build_case build_cases[] = {
    {"vigil <vigil@example.org>",
     {"admin@example.org", "Security <sec@example.org>"},
     "vigil: %RULENAME% in %SUBJECT%",
     "Rule %RULENAME% matched %FILENAME% from %SENDER%.\n"
     "Detected: %DETECTED%\nSubject: %SUBJECT%\n",
     &vars_de,
     "vigil@example.org",
     {"admin@example.org", "sec@example.org"},
     "vigil: exe-attachment in Gr\303\274\303\237e  Bcc: evil@example.com",
     "Rule exe-attachment matched invoice.pdf.exe from alice@example.org.\n"
     "Detected: Win.Test.EICAR\nsecond line\n"
     "Subject: Gr\303\274\303\237e\nBcc: evil@example.com\n",
     "example.org"},
    {"postmaster@Mail.Example.NET",
     {"a@example.net, b@example.net"},
     "[%ACTION%] %MAILID%",
     "no newline at the end: %ACTION%",
     &vars,
     "postmaster@mail.example.net",
     {"a@example.net", "b@example.net"},
     "[quarantine] 1A2B3C",
     "no newline at the end: quarantine\n",
     "mail.example.net"},
    {NULL,
     {"admin@example.org"},
     "vigil",
     "%RULENAME%",
     NULL,
     "vigil@localhost",
     {"admin@example.org"},
     "vigil",
     "\n",
     "localhost"},
};

START_TEST(test_build)
{
	const struct build_case *c = &build_cases[_i];
	InternetAddressList *l;
	const vigil_part *parts;
	size_t n_to, size = 0, n, i;
	unsigned char *out;
	struct msg *r;
	const char *got, *id, *ct;
	char *body;

	for (n_to = 0; n_to < 3 && c->to[n_to]; n_to++)
		;
	out = notify_build(c->from, c->to, n_to, c->subject_tmpl, c->body_tmpl,
			   c->v, &size);
	ck_assert_ptr_nonnull(out);
	CK(size > 0 && memchr(out, '\r', size) == NULL, "CR in the result");
	CK(is_7bit(out, size), "8-bit result");
	r = msg_new(out, size, NULL, NULL, NULL);
	CK(r->mime != NULL && r->exceptions == 0, "does not re-parse: %s",
	   r->malformed_reason ? r->malformed_reason : "no MIME");

	msg_envelope_from_headers(r);
	CK(strcmp(r->sender, c->want_from) == 0, "From %s, want %s", r->sender,
	   c->want_from);
	l = g_mime_message_get_to(r->mime);
	for (i = 0; i < 3 && c->want_to[i]; i++)
		CK(i < r->n_rcpts && strcmp(r->rcpts[i], c->want_to[i]) == 0,
		   "To #%zu: %s, want %s", i,
		   i < r->n_rcpts ? r->rcpts[i] : "(none)", c->want_to[i]);
	CK(internet_address_list_length(l) == (int)i &&
	       r->n_rcpts == i, /* and no Cc or Bcc */
	   "%d To, %zu recipients; want %zu", internet_address_list_length(l),
	   r->n_rcpts, i);
	CK(header_count(r, "Bcc") == 0 && header_count(r, "Cc") == 0,
	   "a Bcc or Cc header got in");

	got = msg_header(r, "Subject");
	CK(got != NULL && strcmp(got, c->want_subject) == 0,
	   "Subject '%s', want '%s'", got, c->want_subject);
	CK(header_count(r, "Subject") == 1, "Subject headers");
	CK(g_mime_message_get_date(r->mime) != NULL, "no Date");
	id = g_mime_message_get_message_id(r->mime);
	CK(id != NULL && strchr(id, '@') != NULL &&
	       strcmp(strchr(id, '@') + 1, c->id_domain) == 0,
	   "Message-ID %s, want @%s", id, c->id_domain);
	CK(msg_header(r, "MIME-Version") != NULL &&
	       strcmp(msg_header(r, "MIME-Version"), "1.0") == 0,
	   "MIME-Version");
	CK(msg_header(r, "Auto-Submitted") != NULL, "Auto-Submitted");

	parts = msg_parts(r, &n);
	CK(n == 1 && strcmp(parts[0].content_type, "text/plain") == 0,
	   "%zu parts, first %s", n, n ? parts[0].content_type : "-");
	ct = g_mime_object_get_content_type_parameter(r->mime->mime_part,
						      "charset");
	CK(ct != NULL && g_ascii_strcasecmp(ct, "utf-8") == 0, "charset %s",
	   ct);
	body = part_text(&parts[0]);
	CK(strcmp(body, c->want_body) == 0, "body '%s', want '%s'", body,
	   c->want_body);
	g_free(body);
	msg_free(r);
}
END_TEST

/* Two notifications never share a Message-ID. */
START_TEST(test_build_unique_id)
{
	const char *to[] = {"admin@example.org"};
	char *ids[2];
	size_t i;

	for (i = 0; i < 2; i++) {
		size_t size;
		unsigned char *out = notify_build("vigil@example.org", to, 1,
						  "s", "b", &vars, &size);
		struct msg *r = msg_new(out, size, NULL, NULL, NULL);

		ck_assert_ptr_nonnull(r->mime);
		ids[i] = g_strdup(g_mime_message_get_message_id(r->mime));
		msg_free(r);
	}
	CK(strcmp(ids[0], ids[1]) != 0, "same Message-ID %s", ids[0]);
	g_free(ids[0]);
	g_free(ids[1]);
}
END_TEST

static Suite *modify_suite(void)
{
	Suite *s = suite_create("modify");
	TCase *tc = tcase_create("modify");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_plan_empty);
	tcase_add_loop_test(tc, test_subject, 0, G_N_ELEMENTS(subject_cases));
	tcase_add_loop_test(tc, test_x_header, 0, G_N_ELEMENTS(xhdr_cases));
	tcase_add_loop_test(tc, test_stamp, 0, G_N_ELEMENTS(stamp_cases));
	tcase_add_loop_test(tc, test_strip, 0, G_N_ELEMENTS(strip_cases));
	tcase_add_test(tc, test_strip_many);
	tcase_add_test(tc, test_all_actions);
	tcase_add_test(tc, test_unparseable);
	suite_add_tcase(s, tc);

	tc = tcase_create("notify");
	tcase_add_loop_test(tc, test_expand, 0, G_N_ELEMENTS(expand_cases));
	tcase_add_test(tc, test_expand_bounded);
	tcase_add_loop_test(tc, test_build, 0, G_N_ELEMENTS(build_cases));
	tcase_add_test(tc, test_build_unique_id);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	SRunner *sr;
	int failed;

	(void)argc;
	/* GLib's slice allocator keeps GObjects out of LeakSanitizer's sight:
	 * run again with plain malloc() (it is read before main) */
	if (getenv("G_SLICE") == NULL) {
		setenv("G_SLICE", "always-malloc", 1);
		execv("/proc/self/exe", argv);
	}
	msg_library_init();
	sr = srunner_create(modify_suite());
	/* in one process, so that a leak fails the run (exit code) */
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
