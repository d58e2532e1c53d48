/*
 * check_msg.c - Check suite for the message model (core/msg_*.c).
 *
 * PURPOSE: run every fixture in tests/fixtures/msg (written by gen.py there)
 * through msg_new/msg_parts and compare the parts, exceptions and limits
 * with a table of what each must produce; then envelope and headers.
 *
 * NEVER: depend on the truetype plugin (a magic-byte typer lives here) or
 * on files outside $srcdir/fixtures/msg.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "msg.h"

#define MEM VIGIL_PART_MEMBER
#define CON VIGIL_PART_CONTAINER
#define TRU VIGIL_PART_TRUNCATED
#define ENC VIGIL_PART_ENCRYPTED

#define SHA1_EMPTY "da39a3ee5e6b4b0d3255bfef95601890afd80709"
#define SHA1_PDF "f26f7ce81cbc0e851a07f2158e1900ab68f5ab41"
#define SHA1_EXE "6deb9b9843b1e15f4adc2e21dab3eeb202680211"
#define SHA1_NOTES "8f567f3e723dd806cf70ba87e780c75e1896d42c"
#define SHA1_PLAIN "9a04fd1cfc01847d03283f61c3fb207146d5ef1d"
#define SHA256_PLAIN                                                           \
	"7e98a2374dce86e0b10b7179199a3701f3880ecc17161be99d0725257fd9fec9"

/* Magic bytes only: enough to drive the archive walk. */
static void test_typer(void *ctx, const unsigned char *d, size_t n,
		       const char **type_r, const char **category_r,
		       unsigned *flags_r)
{
	(void)ctx;
	(void)flags_r;
	if (n >= 4 && memcmp(d, "PK\3\4", 4) == 0) {
		*type_r = "zip";
		*category_r = "compressed";
	} else if (n >= 2 && d[0] == 0x1f && d[1] == 0x8b) {
		*type_r = "gzip";
		*category_r = "compressed";
	} else if (n >= 6 && memcmp(d, "7z\274\257\047\034", 6) == 0) {
		*type_r = "7z";
		*category_r = "compressed";
	} else if (n >= 6 && memcmp(d, "\3757zXZ", 6) == 0) {
		*type_r = "xz";
		*category_r = "compressed";
	} else if (n >= 2 && memcmp(d, "MZ", 2) == 0) {
		*type_r = "exe";
		*category_r = "executable";
	} else if (n >= 4 && memcmp(d, "%PDF", 4) == 0) {
		*type_r = "pdf";
		*category_r = "document";
	} else {
		*type_r = "text";
		*category_r = "other";
	}
}

static unsigned char *read_fixture(const char *name, size_t *size_r)
{
	const char *srcdir = getenv("srcdir");
	char path[4096];
	unsigned char *buf = NULL;
	size_t cap = 0, len = 0, n;
	FILE *f;

	snprintf(path, sizeof path, "%s/fixtures/msg/%s", srcdir ? srcdir : ".",
		 name);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open fixture %s", path);
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

static struct msg *load(const char *name, const struct msg_limits *lim)
{
	size_t size;
	unsigned char *raw = read_fixture(name, &size);

	return msg_new(raw, size, lim, test_typer, NULL);
}

/* The archive limits a case runs under; the others stay at the default. */
#define LIMITS(depth, members, total, ratio)                                   \
	{                                                                      \
		(uint64_t)30 << 20, 1000, depth, members, total, ratio         \
	}
#define MiB ((uint64_t)1 << 20)
static const struct msg_limits lim_depth1 = LIMITS(1, 1000, 200 * MiB, 100);
static const struct msg_limits lim_members3 = LIMITS(10, 3, 200 * MiB, 100);
static const struct msg_limits lim_total1m = LIMITS(10, 1000, 1 * MiB, 100);
static const struct msg_limits lim_ratio10 = LIMITS(10, 1000, 200 * MiB, 10);

/* ---- the table ---- */

struct xpart {
	const char *path;
	const char *name;
	const char *ctype;
	const char *true_type;
	long size; /* -1: not checked */
	unsigned depth;
	int parent;
	unsigned flags;
	const char *sha1;   /* NULL: not checked */
	const char *sha256; /* NULL: not checked */
};

#define MAX_XPARTS 10

struct msg_case {
	const char *file;
	const struct msg_limits *limits; /* NULL: msg_default_limits */
	unsigned exceptions;
	const char *reason;    /* malformed_reason starts with it */
	const char *limit_hit; /* exactly */
	int n_parts;
	struct xpart parts[MAX_XPARTS]; /* the first parts, in order */
};

/* One case per block; the parts as in struct xpart. */
/* clang-format off */
static const struct msg_case cases[] = {
	{"plain.eml", NULL, 0, NULL, NULL, 1,
	 {{"1", "", "text/plain", "text", 27, 0, -1, 0, SHA1_PLAIN,
	   SHA256_PLAIN}}},
	{"multipart.eml", NULL, 0, NULL, NULL, 4,
	 {{"1", "", "text/plain", "text", 23, 0, -1, 0, NULL, NULL},
	  {"2", "report.pdf", "application/pdf", "pdf", 50, 0, -1, 0, SHA1_PDF,
	   NULL},
	  {"3", "tool.exe", "application/octet-stream", "exe", 64, 0, -1, 0,
	   SHA1_EXE, NULL},
	  {"4", "", "text/plain", "text", 16, 0, -1, 0, NULL, NULL}}},
	{"crlf.eml", NULL, 0, NULL, NULL, 4,
	 {{"1", "", "text/plain", "text", 23, 0, -1, 0, NULL, NULL},
	  {"2", "report.pdf", "application/pdf", "pdf", 50, 0, -1, 0, SHA1_PDF,
	   NULL},
	  {"3", "tool.exe", "application/octet-stream", "exe", 64, 0, -1, 0,
	   SHA1_EXE, NULL},
	  {"4", "", "text/plain", "text", 16, 0, -1, 0, NULL, NULL}}},
	{"names.eml", NULL, 0, NULL, NULL, 4,
	 {{"1", "\xe2\x82\xac" "uro.pdf", "application/pdf", "pdf", 50, 0, -1,
	   0, SHA1_PDF, NULL},
	  {"2", "\xc3\xa9" "cole.txt", "text/plain", "text", 7, 0, -1, 0, NULL,
	   NULL},
	  {"3", "only-ct-name.txt", "text/plain", "text", 14, 0, -1, 0, NULL,
	   NULL},
	  {"4", "", "text/plain", "text", 14, 0, -1, 0, NULL, NULL}}},
	{"nested.eml", NULL, 0, NULL, NULL, 4,
	 {{"1", "", "text/plain", "text", 5, 0, -1, 0, NULL, NULL},
	  {"2.1", "", "text/plain", "text", 17, 0, -1, 0, NULL, NULL},
	  {"2.2", "", "text/html", "text", 23, 0, -1, 0, NULL, NULL},
	  {"3", "tool.exe", "application/octet-stream", "exe", 64, 0, -1, 0,
	   SHA1_EXE, NULL}}},
	{"embedded.eml", NULL, 0, NULL, NULL, 7,
	 {{"1", "", "text/plain", "text", -1, 0, -1, 0, NULL, NULL},
	  {"2", "fwd.eml", "message/rfc822", "text", 403, 0, -1, CON, NULL,
	   NULL},
	  {"2.1", "", "text/plain", "text", 10, 1, 1, 0, NULL, NULL},
	  {"2.2", "doc.pdf", "application/pdf", "pdf", 50, 1, 1, 0, SHA1_PDF,
	   NULL},
	  {"3", "", "message/rfc822", "text", 51, 0, -1, CON, NULL, NULL},
	  {"3.1", "", "text/plain", "text", 11, 1, 4, 0, NULL, NULL},
	  {"4", "", "text/plain", "text", 5, 0, -1, 0, NULL, NULL}}},
	{"forwards.eml", NULL, 0, NULL, NULL, 9, /* 4 x its size, then empty */
	 {{"1", "", "message/rfc822", "text", 1593, 0, -1, CON, NULL, NULL},
	  {"1.1", "", "message/rfc822", "text", 1508, 1, 0, CON, NULL, NULL},
	  {"1.1.1", "", "message/rfc822", "text", 1423, 2, 1, CON, NULL, NULL},
	  {"1.1.1.1", "", "message/rfc822", "text", 1338, 3, 2, CON, NULL,
	   NULL},
	  {"1.1.1.1.1", "", "message/rfc822", "text", 0, 4, 3, CON | TRU,
	   SHA1_EMPTY, NULL},
	  {"1.1.1.1.1.1", "", "message/rfc822", "text", 0, 5, 4, CON | TRU,
	   NULL, NULL},
	  {"1.1.1.1.1.1.1", "", "message/rfc822", "text", 0, 6, 5, CON | TRU,
	   NULL, NULL},
	  {"1.1.1.1.1.1.1.1", "", "message/rfc822", "text", 0, 7, 6,
	   CON | TRU, NULL, NULL},
	  {"1.1.1.1.1.1.1.1.1", "", "text/plain", "text", 960, 8, 7, 0, NULL,
	   NULL}}},
	{"zip.eml", NULL, 0, NULL, NULL, 6,
	 {{"1", "", "text/plain", "text", 6, 0, -1, 0, NULL, NULL},
	  {"2", "outer.zip", "application/octet-stream", "zip", -1, 0, -1, CON,
	   NULL, NULL},
	  {"2/outer.zip/readme.txt", "readme.txt", "", "text", 8, 1, 1, MEM,
	   NULL, NULL},
	  {"2/outer.zip/dir/b.pdf", "b.pdf", "", "pdf", 50, 1, 1, MEM,
	   SHA1_PDF, NULL},
	  {"2/outer.zip/inner.zip", "inner.zip", "", "zip", -1, 1, 1,
	   MEM | CON, NULL, NULL},
	  {"2/outer.zip/inner.zip/a.exe", "a.exe", "", "exe", 64, 2, 4, MEM,
	   SHA1_EXE, NULL}}},
	{"targz.eml", NULL, 0, NULL, NULL, 3,
	 {{"1", "bundle.tar.gz", "application/octet-stream", "gzip", -1, 0, -1,
	   CON, NULL, NULL},
	  {"1/bundle.tar.gz/x.exe", "x.exe", "", "exe", 64, 1, 0, MEM,
	   SHA1_EXE, NULL},
	  {"1/bundle.tar.gz/docs/y.txt", "y.txt", "", "text", 4, 1, 0, MEM,
	   NULL, NULL}}},
	{"gz.eml", NULL, 0, NULL, NULL, 3,
	 {{"1", "", "text/plain", "text", 8, 0, -1, 0, NULL, NULL},
	  {"2", "notes.txt.gz", "application/octet-stream", "gzip", -1, 0, -1,
	   CON, NULL, NULL},
	  {"2/notes.txt.gz/notes.txt", "notes.txt", "", "text", 128, 1, 1, MEM,
	   SHA1_NOTES, NULL}}},
	{"7z.eml", NULL, 0, NULL, NULL, 3,
	 {{"1", "pack.7z", "application/octet-stream", "7z", -1, 0, -1, CON,
	   NULL, NULL},
	  {"1/pack.7z/a.exe", "a.exe", "", "exe", 64, 1, 0, MEM, SHA1_EXE,
	   NULL},
	  {"1/pack.7z/docs/y.txt", "y.txt", "", "text", 4, 1, 0, MEM, NULL,
	   NULL}}},
	{"xz.eml", NULL, 0, NULL, NULL, 2,
	 {{"1", "notes.txt.xz", "application/octet-stream", "xz", -1, 0, -1,
	   CON, NULL, NULL},
	  {"1/notes.txt.xz/notes.txt", "notes.txt", "", "text", 128, 1, 0, MEM,
	   SHA1_NOTES, NULL}}},
	{"enczip.eml", NULL, 0, NULL, NULL, 2,
	 {{"1", "secret.zip", "application/octet-stream", "zip", -1, 0, -1,
	   CON, NULL, NULL},
	  {"1/secret.zip/a.exe", "a.exe", "", "text", 0, 1, 0, MEM | ENC,
	   SHA1_EMPTY, NULL}}},

	/* limits */
	{"zip.eml", &lim_depth1, MSG_LIMIT_HIT, NULL, "archive_max_depth (1)",
	 5,
	 {{"1", "", "text/plain", "text", 6, 0, -1, 0, NULL, NULL},
	  {"2", "outer.zip", "application/octet-stream", "zip", -1, 0, -1, CON,
	   NULL, NULL},
	  {"2/outer.zip/readme.txt", "readme.txt", "", "text", 8, 1, 1, MEM,
	   NULL, NULL},
	  {"2/outer.zip/dir/b.pdf", "b.pdf", "", "pdf", 50, 1, 1, MEM,
	   SHA1_PDF, NULL},
	  {"2/outer.zip/inner.zip", "inner.zip", "", "zip", -1, 1, 1,
	   MEM | TRU, NULL, NULL}}},
	{"members.eml", &lim_members3, MSG_LIMIT_HIT, NULL,
	 "archive_max_members (3)", 4,
	 {{"1", "many.zip", "application/octet-stream", "zip", -1, 0, -1,
	   CON | TRU, NULL, NULL},
	  {"1/many.zip/f0.txt", "f0.txt", "", "text", 7, 1, 0, MEM, NULL, NULL},
	  {"1/many.zip/f1.txt", "f1.txt", "", "text", 7, 1, 0, MEM, NULL, NULL},
	  {"1/many.zip/f2.txt", "f2.txt", "", "text", 7, 1, 0, MEM, NULL,
	   NULL}}},
	{"members.eml", NULL, 0, NULL, NULL, 6, {{0}}},
	{"bomb.eml", &lim_total1m, MSG_LIMIT_HIT, NULL,
	 "archive_max_total_size (1048576)", 2,
	 {{"1", "zeros.zip", "application/octet-stream", "zip", -1, 0, -1,
	   CON | TRU, NULL, NULL},
	  {"1/zeros.zip/zeros.bin", "zeros.bin", "", "text", 1 << 20, 1, 0,
	   MEM | TRU, NULL, NULL}}},
	{"bomb.eml", &lim_ratio10, MSG_LIMIT_HIT, NULL, "archive_max_ratio (10)",
	 2,
	 {{"1", "zeros.zip", "application/octet-stream", "zip", -1, 0, -1,
	   CON | TRU, NULL, NULL},
	  {"1/zeros.zip/zeros.bin", "zeros.bin", "", "text", 1 << 20, 1, 0,
	   MEM | TRU, NULL, NULL}}},
	{"bomb.eml", NULL, MSG_LIMIT_HIT, NULL, "archive_max_ratio (100)", 2,
	 {{"1", "zeros.zip", "application/octet-stream", "zip", -1, 0, -1,
	   CON | TRU, NULL, NULL},
	  {"1/zeros.zip/zeros.bin", "zeros.bin", "", "text", -1, 1, 0,
	   MEM | TRU, NULL, NULL}}},

	/* damage */
	{"missing_boundary.eml", NULL, MSG_MALFORMED, "truncated message", NULL,
	 2,
	 {{"1", "", "text/plain", "text", 5, 0, -1, 0, NULL, NULL},
	  {"2", "", "text/plain", "text", -1, 0, -1, 0, NULL, NULL}}},
	{"bad_base64.eml", NULL, MSG_MALFORMED, "bad base64 in part 2", NULL, 2,
	 {{"1", "", "text/plain", "text", 9, 0, -1, 0, NULL, NULL},
	  {"2", "x.bin", "application/octet-stream", "text", -1, 0, -1, 0, NULL,
	   NULL}}},
	{"trunc_zip.eml", NULL, MSG_MALFORMED, "truncated archive 2/broken.zip",
	 NULL, 4,
	 {{"1", "", "text/plain", "text", 10, 0, -1, 0, NULL, NULL},
	  {"2", "broken.zip", "application/octet-stream", "zip", -1, 0, -1,
	   CON | TRU, NULL, NULL},
	  {"2/broken.zip/ok.txt", "ok.txt", "", "text", 16, 1, 1, MEM, NULL,
	   NULL},
	  {"2/broken.zip/cut.bin", "cut.bin", "", "text", -1, 1, 1, MEM | TRU,
	   NULL, NULL}}},
	{"garbage.eml", NULL, MSG_MALFORMED, "invalid header name", NULL, 0,
	 {{0}}},
	{"headers_only.eml", NULL, 0, NULL, NULL, 1, /* RFC 5322 allows it */
	 {{"1", "", "text/plain", "text", 0, 0, -1, 0, SHA1_EMPTY, NULL}}},
	{"headers_blank.eml", NULL, 0, NULL, NULL, 1,
	 {{"1", "", "text/plain", "text", 0, 0, -1, 0, SHA1_EMPTY, NULL}}},
	{"headers_only_multipart.eml", NULL, MSG_MALFORMED, "truncated message",
	 NULL, 0, {{0}}},
	{"deep.eml", NULL, MSG_MALFORMED, "MIME nesting deeper than 64", NULL,
	 0, {{0}}},
	{"headers.eml", NULL, 0, NULL, NULL, 1,
	 {{"1", "", "text/plain", "text", 5, 0, -1, 0, NULL, NULL}}},

	/* adjacent encoded-words in names (GMime issue #133: a padded B
	 * word swallows the words after it) */
	{"encnames.eml", NULL, 0, NULL, NULL, 9,
	 {{"1", "invoice.exe", "application/octet-stream", "exe", 64, 0, -1, 0,
	   SHA1_EXE, NULL},
	  {"2", "invoice.exe", "application/octet-stream", "exe", 64, 0, -1, 0,
	   SHA1_EXE, NULL},
	  {"3", "\xc3\xa9\xc3\xa9.exe", "application/octet-stream", "exe", 64,
	   0, -1, 0, NULL, NULL},
	  {"4", "invoice.exe", "application/octet-stream", "exe", 64, 0, -1, 0,
	   NULL, NULL},
	  {"5", "invoice.exe", "application/octet-stream", "exe", 64, 0, -1, 0,
	   NULL, NULL},
	  {"6", "invoice =?UTF-8?X?LmV4ZQ==?=", "application/octet-stream",
	   "exe", 64, 0, -1, 0, NULL, NULL},
	  {"7", "\xe8\xab\x8b\xe6\xb1\x82\xe6\x9b\xb8.exe",
	   "application/octet-stream", "exe", 64, 0, -1, 0, NULL, NULL},
	  {"8", "fwd.eml.exe", "message/rfc822", "text", -1, 0, -1, CON, NULL,
	   NULL},
	  {"8.1", "", "text/plain", "text", 11, 1, 7, 0, NULL, NULL}}},
	{"encnames_ambiguous.eml", NULL, MSG_MALFORMED,
	 "ambiguous encoded-words in the filename of part 1", NULL, 1,
	 {{"1", "invoice", "application/octet-stream", "exe", 64, 0, -1, 0,
	   SHA1_EXE, NULL}}},
};
/* clang-format on */

#define CK(cond, ...) ck_assert_msg(cond, __VA_ARGS__)

static void check_part(const struct msg_case *c, size_t i, const vigil_part *p,
		       const struct xpart *x)
{
	CK(strcmp(p->path, x->path) == 0, "%s #%zu: path %s, want %s", c->file,
	   i, p->path, x->path);
	CK(strcmp(p->name, x->name) == 0, "%s %s: name '%s', want '%s'",
	   c->file, x->path, p->name, x->name);
	CK(strcmp(p->content_type, x->ctype) == 0,
	   "%s %s: content_type '%s', want '%s'", c->file, x->path,
	   p->content_type, x->ctype);
	CK(strcmp(p->true_type, x->true_type) == 0,
	   "%s %s: true_type %s, want %s", c->file, x->path, p->true_type,
	   x->true_type);
	if (x->size >= 0)
		CK(p->size == (size_t)x->size, "%s %s: size %zu, want %ld",
		   c->file, x->path, p->size, x->size);
	CK(p->depth == x->depth, "%s %s: depth %u, want %u", c->file, x->path,
	   p->depth, x->depth);
	CK(p->parent == x->parent, "%s %s: parent %d, want %d", c->file,
	   x->path, p->parent, x->parent);
	CK(p->flags == x->flags, "%s %s: flags %#x, want %#x", c->file, x->path,
	   p->flags, x->flags);
	if (x->sha1 != NULL)
		CK(strcmp(p->sha1, x->sha1) == 0, "%s %s: sha1 %s, want %s",
		   c->file, x->path, p->sha1, x->sha1);
	if (x->sha256 != NULL)
		CK(strcmp(p->sha256, x->sha256) == 0,
		   "%s %s: sha256 %s, want %s", c->file, x->path, p->sha256,
		   x->sha256);
}

/* What holds for every part of every message. */
static void check_invariants(const struct msg_case *c, const struct msg *m,
			     const vigil_part *parts, size_t n)
{
	uint64_t extracted = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		const vigil_part *p = &parts[i];

		CK(strlen(p->sha1) == 40 && strlen(p->sha256) == 64,
		   "%s %s: hashes missing", c->file, p->path);
		CK(p->path && p->name && p->content_type && p->true_type &&
		       p->category,
		   "%s #%zu: NULL string", c->file, i);
		CK(p->parent < (int)i, "%s %s: parent after child", c->file,
		   p->path);
		if (p->parent >= 0)
			CK(p->depth == parts[p->parent].depth + 1 &&
			       (parts[p->parent].flags & CON),
			   "%s %s: bad parent link", c->file, p->path);
		if (p->flags & ENC)
			continue;
		CK(p->data != NULL, "%s %s: no data", c->file, p->path);
		if (p->flags & MEM)
			extracted += p->size;
	}
	CK(extracted <= m->limits->archive_max_total_size,
	   "%s: %llu bytes extracted", c->file, (unsigned long long)extracted);
}

START_TEST(test_msg_case)
{
	const struct msg_case *c = &cases[_i];
	struct msg *m = load(c->file, c->limits);
	const vigil_part *parts;
	size_t n, i;

	parts = msg_parts(m, &n);
	CK(m->exceptions == c->exceptions, "%s: exceptions %#x, want %#x (%s)",
	   c->file, m->exceptions, c->exceptions,
	   m->malformed_reason ? m->malformed_reason : "-");
	if (c->reason != NULL)
		CK(m->malformed_reason != NULL &&
		       strncmp(m->malformed_reason, c->reason,
			       strlen(c->reason)) == 0,
		   "%s: reason '%s', want '%s'", c->file,
		   m->malformed_reason ? m->malformed_reason : "(null)",
		   c->reason);
	else
		CK(m->malformed_reason == NULL, "%s: unexpected reason '%s'",
		   c->file, m->malformed_reason);
	if (c->limit_hit != NULL)
		CK(m->limit_hit != NULL &&
		       strcmp(m->limit_hit, c->limit_hit) == 0,
		   "%s: limit_hit '%s', want '%s'", c->file,
		   m->limit_hit ? m->limit_hit : "(null)", c->limit_hit);
	else
		CK(m->limit_hit == NULL, "%s: unexpected limit '%s'", c->file,
		   m->limit_hit);
	CK(n == (size_t)c->n_parts, "%s: %zu parts, want %d", c->file, n,
	   c->n_parts);
	for (i = 0; i < n && i < MAX_XPARTS && c->parts[i].path; i++)
		check_part(c, i, &parts[i], &c->parts[i]);
	check_invariants(c, m, parts, n);
	msg_free(m);
}
END_TEST

/* ---- one-off cases ---- */

START_TEST(test_parts_once)
{
	struct msg *m = load("zip.eml", NULL);
	size_t n1, n2;
	const vigil_part *p1 = msg_parts(m, &n1);
	const vigil_part *p2 = msg_parts(m, &n2);

	ck_assert_ptr_eq(p1, p2);
	ck_assert_uint_eq(n1, n2);
	ck_assert_ptr_nonnull(msg_parts(m, NULL));
	msg_free(m);
}
END_TEST

START_TEST(test_no_typer)
{
	size_t size, n, i;
	unsigned char *raw = read_fixture("zip.eml", &size);
	struct msg *m = msg_new(raw, size, NULL, NULL, NULL);
	const vigil_part *p = msg_parts(m, &n);

	ck_assert_uint_eq(n, 2); /* nothing says the zip is compressed */
	for (i = 0; i < n; i++) {
		ck_assert_str_eq(p[i].true_type, "unknown");
		ck_assert_str_eq(p[i].category, "other");
		ck_assert_uint_eq(p[i].flags, 0);
	}
	ck_assert_ptr_eq(m->limits, &msg_default_limits);
	msg_free(m);
}
END_TEST

/* A header field GMime would take seconds to decode is refused as a
 * security-settings violation; one just under the bound still parses. */
START_TEST(test_header_field_bound)
{
	static const struct {
		size_t words;
		int refused;
	} bounds[] = {{8000, 0}, {9500, 1}};
	for (size_t c = 0; c < 2; c++) {
		GString *s = g_string_new("From: a@example.org\nSubject: x");
		for (size_t i = 0; i < bounds[c].words; i++)
			g_string_append(s, i % 8 ? " =?UTF-8?B?aaaa" : "\n =?UTF-8?B?aaaa");
		g_string_append(s, "\n\nbody\n");
		size_t len = s->len;
		unsigned char *raw = (unsigned char *)g_string_free(s, FALSE);
		unsigned char *copy = malloc(len);
		memcpy(copy, raw, len);
		g_free(raw);
		struct msg *m = msg_new(copy, len, NULL, test_typer, NULL);
		if (bounds[c].refused) {
			ck_assert_ptr_null(m->mime);
			ck_assert(m->exceptions & MSG_LIMIT_HIT);
			ck_assert_str_eq(m->limit_hit, "max_header_field (131072)");
		} else {
			ck_assert_ptr_nonnull(m->mime);
			ck_assert(!(m->exceptions & MSG_LIMIT_HIT));
		}
		msg_free(m);
	}
}
END_TEST

START_TEST(test_empty)
{
	struct msg *m = msg_new(NULL, 0, NULL, test_typer, NULL);
	size_t n = 99;

	ck_assert_ptr_null(m->mime);
	ck_assert_uint_eq(m->exceptions, MSG_MALFORMED);
	ck_assert_str_eq(m->malformed_reason, "empty message");
	msg_parts(m, &n);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(msg_header(m, "Subject"));
	msg_envelope_from_headers(m);
	ck_assert_str_eq(m->sender, "");
	ck_assert_uint_eq(m->n_rcpts, 0);
	msg_free(m);

	m = msg_new(malloc(1), 0, NULL, test_typer, NULL);
	ck_assert_uint_eq(m->exceptions, MSG_MALFORMED);
	msg_free(m);
	msg_free(NULL);
}
END_TEST

START_TEST(test_envelope_from_headers)
{
	static const char *const want[] = {"a@x.org", "b@y.org", "c@z.org",
					   "d@z.org", "e@w.org"};
	struct msg *m = load("headers.eml", NULL);
	size_t i;

	msg_envelope_from_headers(m);
	ck_assert_str_eq(m->sender, "Foo.Bar@example.com");
	ck_assert_uint_eq(m->n_rcpts, 5);
	for (i = 0; i < 5; i++)
		ck_assert_str_eq(m->rcpts[i], want[i]);
	msg_free(m);

	m = load("bad_from.eml", NULL);
	msg_envelope_from_headers(m);
	ck_assert_str_eq(m->sender, "");
	ck_assert_uint_eq(m->n_rcpts, 0);
	msg_free(m);
}
END_TEST

START_TEST(test_set_envelope)
{
	struct msg *m = load("plain.eml", NULL);
	char sender[] = "s@example.org";
	char r0[] = "r0@example.net", r1[] = "r1@example.net";
	const char *rcpts[] = {r0, r1};

	msg_set_envelope(m, sender, rcpts, 2);
	sender[0] = r0[0] = r1[0] = 'X';
	ck_assert_str_eq(m->sender, "s@example.org");
	ck_assert_uint_eq(m->n_rcpts, 2);
	ck_assert_str_eq(m->rcpts[0], "r0@example.net");
	ck_assert_str_eq(m->rcpts[1], "r1@example.net");
	msg_set_envelope(m, NULL, NULL, 0); /* the null sender, replaced */
	ck_assert_str_eq(m->sender, "");
	ck_assert_uint_eq(m->n_rcpts, 0);
	msg_envelope_from_headers(m);
	ck_assert_str_eq(m->sender, "alice@example.org");
	ck_assert_uint_eq(m->n_rcpts, 1);
	ck_assert_str_eq(m->rcpts[0], "bob@example.net");
	msg_free(m);
}
END_TEST

/* clang-format off */
static const struct {
	const char *name;
	const char *value; /* NULL: absent */
} header_cases[] = {
	{"Subject", "\xc3\x89" "chantillon caf\xc3\xa9"},
	{"subject", "\xc3\x89" "chantillon caf\xc3\xa9"},
	{"X-Folded", "one two"},
	{"MIME-Version", "1.0"},
	{"content-type", "text/plain"},
	{"X-Absent", NULL},
};
/* clang-format on */

START_TEST(test_header)
{
	struct msg *m = load("headers.eml", NULL);
	const char *v = msg_header(m, header_cases[_i].name);

	if (header_cases[_i].value == NULL)
		ck_assert_ptr_null(v);
	else
		ck_assert_str_eq(v, header_cases[_i].value);
	ck_assert_ptr_eq(msg_header(m, header_cases[_i].name), v);
	msg_free(m);
}
END_TEST

/* clang-format off */
static const struct {
	const char *name;
	const char *value;
} enc_header_cases[] = {
	/* a padded B word, then another: the whole text */
	{"Subject", "Rechnung f\xc3\xbcr J\xc3\xbcrgen"},
	{"X-Mixed", "\xc3\xa9" "cole"},
	{"X-Mixed-Latin", "\xc3\xa9\xc3\xa9.exe"},
	{"X-QB", "invoice.exe"},
	{"X-BQ", "invoice.exe"},
	{"X-Unpadded", "invoice.exe"},
	{"X-Split", "invoice.exe"}, /* base64 split mid-quartet still joins */
	{"X-Three", "invoice.exe.zip"},
	{"X-Char-Split", "\xc3\xa9"}, /* one character over two words */
	{"X-Unterminated", "invoice =?UTF-8?B?LmV4ZQ=="},
	{"X-Bad-Charset", "=??B?aW52b2ljZQ==?= =??B?LmV4ZQ==?="},
	{"X-Text", "a invoice b .exe c"},
};
/* clang-format on */

START_TEST(test_enc_header)
{
	struct msg *m = load("headers_enc.eml", NULL);
	const char *v = msg_header(m, enc_header_cases[_i].name);

	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v, enc_header_cases[_i].value);
	ck_assert_uint_eq(m->exceptions, 0);
	msg_free(m);
}
END_TEST

/* Thousands of adjacent padded words (about 100 KB a header) in the
 * Subject and in a name: all decoded, in linear time. */
START_TEST(test_enc_many_words)
{
	static const char word[] = "=?UTF-8?B?aW52b2ljZQ==?=";
	enum { N = 4000 };
	GString *g = g_string_new("From: a@example.org\nSubject:");
	struct msg *m;
	const vigil_part *p;
	const char *v;
	size_t n, i;

	for (i = 0; i < N; i++)
		g_string_append_printf(g, "%s%s", i ? "\n " : " ", word);
	g_string_append(g, "\nMIME-Version: 1.0\n"
			   "Content-Type: application/octet-stream\n"
			   "Content-Disposition: attachment; filename=\"");
	for (i = 0; i < N; i++)
		g_string_append_printf(g, "%s ", word);
	g_string_append(g, "=?UTF-8?B?LmV4ZQ==?=\"\n\nMZ\n");
	n = g->len;
	m = msg_new((unsigned char *)g_string_free(g, FALSE), n, NULL,
		    test_typer, NULL);
	v = msg_header(m, "Subject");
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(strlen(v), 7 * N);
	for (i = 0; i < N; i++)
		ck_assert(memcmp(v + 7 * i, "invoice", 7) == 0);
	p = msg_parts(m, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(strlen(p[0].name), 7 * N + 4);
	ck_assert_str_eq(p[0].name + 7 * N - 7, "invoice.exe");
	ck_assert_uint_eq(m->exceptions, 0);
	msg_free(m);
}
END_TEST

/* A 6004-byte attachment name stays whole on its part but is cut in its
 * members' paths; a member's own name keeps its last 1024 bytes. Paths
 * stay valid UTF-8 and end in "/" + name. */
START_TEST(test_long_name)
{
	struct msg *m = load("longname.eml", NULL);
	const vigil_part *p;
	size_t n, i;

	p = msg_parts(m, &n);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(strlen(p[0].name), 6004);
	ck_assert_uint_eq(p[0].flags, CON);
	for (i = 1; i < n; i++) {
		size_t len = strlen(p[i].path), ln = strlen(p[i].name);

		ck_assert_uint_le(len, 4095);
		ck_assert(g_utf8_validate(p[i].path, -1, NULL));
		ck_assert(strncmp(p[i].path, "1/\xc3\xa9", 4) == 0);
		ck_assert(len > ln && p[i].path[len - ln - 1] == '/');
		ck_assert_str_eq(p[i].path + len - ln, p[i].name);
	}
	ck_assert_str_eq(p[1].name, "a.txt");
	ck_assert_uint_eq(strlen(p[2].name), 1024);
	ck_assert_str_eq(p[2].name + 1020, ".exe");
	ck_assert_str_eq(p[2].true_type, "exe");
	msg_free(m);
}
END_TEST

/* Extraction keeps within the budget, whatever the member claims: a 50 MB
 * bomb under a 1 MiB total must not make the process grow by 50 MB. */
START_TEST(test_bomb_memory)
{
	struct rusage before, after;
	struct msg *m;
	size_t n;

	getrusage(RUSAGE_SELF, &before);
	m = load("bomb.eml", &lim_total1m);
	msg_parts(m, &n);
	getrusage(RUSAGE_SELF, &after);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(m->parts[1].size, 1u << 20);
	ck_assert_msg(after.ru_maxrss - before.ru_maxrss < 40 * 1024,
		      "grew by %ld KiB", after.ru_maxrss - before.ru_maxrss);
	msg_free(m);
}
END_TEST

static Suite *msg_suite(void)
{
	Suite *s = suite_create("msg");
	TCase *tc = tcase_create("fixtures");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_msg_case, 0,
			    sizeof cases / sizeof cases[0]);
	tcase_add_test(tc, test_parts_once);
	tcase_add_test(tc, test_no_typer);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_header_field_bound);
	tcase_add_test(tc, test_bomb_memory);
	tcase_add_test(tc, test_long_name);
	suite_add_tcase(s, tc);

	tc = tcase_create("envelope");
	tcase_add_test(tc, test_envelope_from_headers);
	tcase_add_test(tc, test_set_envelope);
	tcase_add_loop_test(tc, test_header, 0,
			    sizeof header_cases / sizeof header_cases[0]);
	tcase_add_loop_test(tc, test_enc_header, 0,
			    sizeof enc_header_cases /
				sizeof enc_header_cases[0]);
	tcase_add_test(tc, test_enc_many_words);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	msg_library_init();
	sr = srunner_create(msg_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
