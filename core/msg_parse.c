/*
 * msg_parse.c - the message model: GMime parsing, the MIME walk, the
 * envelope and decoded headers.
 *
 * PURPOSE: turn one raw message into a struct msg whose parts (MIME leaves
 * and embedded messages here; archive members in msg_archive.c) carry the
 * decoded content, declared and true type, and SHA-1/SHA-256.
 *
 * NEVER: fail or crash on hostile input, copy the raw message, follow MIME
 * nesting beyond MSG_MIME_MAX_DEPTH, print anything, or decide anything:
 * what is wrong is only noted on the msg (MSG_MALFORMED, MSG_LIMIT_HIT).
 */
#include "msg_priv.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct msg_limits msg_default_limits = {
    .max_message_size = (uint64_t)30 << 20,
    .max_recipients = 1000,
    .archive_max_depth = 10,
    .archive_max_members = 1000,
    .archive_max_total_size = (uint64_t)200 << 20,
    .archive_max_ratio = 100,
};

#define MSG_ARENA_BLOCK 4096
#define MSG_HASH_CHUNK (64u << 10)

struct msg_arena_block {
	struct msg_arena_block *next;
	size_t used, cap;
	char data[];
};

/* The message and its bookkeeping in one allocation. */
struct msg_full {
	struct msg m;
	struct msg_priv p;
};

/* Fetched once: EVP_sha1() would fetch again on every digest init. */
static EVP_MD *msg_md_sha1, *msg_md_sha256;

static void parse_base64_table_init(void);

void msg_library_init(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	g_mime_init();
	msg_md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
	msg_md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	parse_base64_table_init();
}

/* ---- arena and owned buffers ---- */

static char *msg_arena_alloc(struct msg *m, size_t n)
{
	struct msg_priv *p = msg_priv(m);
	struct msg_arena_block *b = p->arena;
	char *s;

	if (b == NULL || b->cap - b->used < n) {
		size_t cap = MSG_ARENA_BLOCK - sizeof *b;

		if (n > cap / 2)
			cap =
			    n; /* a block of its own, behind the current one */
		b = g_malloc(sizeof *b + cap);
		b->used = 0;
		b->cap = cap;
		if (cap == n && p->arena != NULL) {
			b->next = p->arena->next;
			p->arena->next = b;
		} else {
			b->next = p->arena;
			p->arena = b;
		}
	}
	s = b->data + b->used;
	b->used += n;
	return s;
}

char *msg_arena_strndup(struct msg *m, const char *s, size_t len)
{
	char *d = msg_arena_alloc(m, len + 1);

	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

char *msg_arena_strdup(struct msg *m, const char *s)
{
	if (s == NULL)
		s = "";
	return msg_arena_strndup(m, s, strlen(s));
}

char *msg_arena_printf(struct msg *m, const char *fmt, ...)
{
	va_list ap, ap2;
	int n;
	char *s;

	va_start(ap, fmt);
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		va_end(ap2);
		return msg_arena_strdup(m, "");
	}
	s = msg_arena_alloc(m, (size_t)n + 1);
	vsnprintf(s, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	return s;
}

void msg_keep_buffer(struct msg *m, void *buf)
{
	struct msg_priv *p = msg_priv(m);

	if (buf == NULL)
		return;
	if (p->n_bufs == p->cap_bufs) {
		p->cap_bufs = p->cap_bufs ? p->cap_bufs * 2 : 8;
		p->bufs = g_realloc_n(p->bufs, p->cap_bufs, sizeof *p->bufs);
	}
	p->bufs[p->n_bufs++] = buf;
}

/* ---- problems ---- */

void msg_note_malformed(struct msg *m, const char *fmt, ...)
{
	va_list ap;

	m->exceptions |= MSG_MALFORMED;
	if (m->malformed_reason != NULL)
		return;
	va_start(ap, fmt);
	m->malformed_reason = g_strdup_vprintf(fmt, ap);
	va_end(ap);
}

void msg_note_limit(struct msg *m, const char *limit, uint64_t value)
{
	m->exceptions |= MSG_LIMIT_HIT;
	if (m->limit_hit == NULL)
		m->limit_hit =
		    g_strdup_printf("%s (%" PRIu64 ")", limit, value);
}

/* Structural problems only: duplicated headers, 8-bit or badly encoded
 * header text and the like are everyday mail, not malformation. */
static void parse_warning(gint64 offset, GMimeParserWarning code,
			  const gchar *item, gpointer user_data)
{
	struct msg *m = user_data;
	const char *why;

	(void)item; /* attacker text: kept out of the reason */
	switch (code) {
	case GMIME_WARN_MALFORMED_MULTIPART:
		why = "malformed multipart";
		break;
	case GMIME_WARN_TRUNCATED_MESSAGE:
		msg_priv(m)->truncated = 1; /* judged in parse_truncated() */
		return;
	case GMIME_WARN_MALFORMED_MESSAGE:
		why = "malformed message";
		break;
	case GMIME_CRIT_INVALID_HEADER_NAME:
		why = "invalid header name";
		break;
	case GMIME_CRIT_CONFLICTING_HEADER:
		why = "conflicting header";
		break;
	case GMIME_CRIT_CONFLICTING_PARAMETER:
		why = "conflicting header parameter";
		break;
	case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
		why = "multipart without boundary";
		break;
	case GMIME_CRIT_NESTING_OVERFLOW:
		why = "MIME nesting overflow";
		break;
	case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
		why = "part without headers or content";
		break;
	default:
		return;
	}
	if (offset >= 0)
		msg_note_malformed(m, "%s at byte %" G_GINT64_FORMAT, why,
				   offset);
	else
		msg_note_malformed(m, "%s", why);
}

/* GMime says "truncated" both for a multipart whose closing boundary never
 * comes (a classic way to make scanners and mail clients disagree) and for
 * headers that run to the end with no body at all, which RFC 5322 allows:
 * only the first is malformed. */
static void parse_truncated(struct msg *m)
{
	GMimeObject *body = m->mime ? m->mime->mime_part : NULL;

	if (!msg_priv(m)->truncated)
		return;
	if (body != NULL && !GMIME_IS_MULTIPART(body) &&
	    !GMIME_IS_MESSAGE_PART(body))
		return;
	msg_note_malformed(m, "truncated message");
}

/* ---- adjacent RFC 2047 encoded-words ---- */

/*
 * GMime 3.2.13 (its issue #133) decodes a run of adjacent B encoded-words
 * in one charset as one base64 payload, and its decoder stops at the first
 * '=': "=?UTF-8?B?aW52b2ljZQ==?= =?UTF-8?B?LmV4ZQ==?=" comes out as
 * "invoice", which hides ".exe" from the name rules. So before GMime
 * decodes a value in which an encoded-word follows one with '=' in its B
 * payload, the B words of that run are rewritten here as Q words that say
 * the same (every byte as =XX, so a Q word before them cannot bleed into
 * them), decoded as GMime means to: bits carried from word to word as it
 * does, started afresh after a word that ends in padding. Q words are
 * neither merged with B words nor mis-decoded, and the whitespace between
 * the words stays, so the value keeps its structure.
 *
 * Words are cut as GMime's lenient tokenizer cuts them. In a structured
 * value (parameters) only B words whose payload is base64 and whitespace
 * are rewritten: any other character there may be a quote, backslash,
 * ';' or comment that GMime's parameter parser sees, and dropping it would
 * change what the header says. A run that cannot be mended that way is
 * reported as ambiguous instead.
 *
 * The cost is linear in the value; values without "?=", optional white
 * space, "=?" never get here (ew_adjacent()).
 */

static int ew_lwsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The cheap test: an encoded-word's end, then maybe whitespace, then the
 * start of another one. */
static int ew_adjacent(const char *s)
{
	const char *q = s;

	while ((q = strstr(q, "?=")) != NULL) {
		q += 2;
		while (ew_lwsp(*q))
			q++;
		if (q[0] == '=' && q[1] == '?')
			return 1;
	}
	return 0;
}

struct ew_token {
	const char *start, *end;
	const char *charset; /* up to the '?', any "*language" included */
	size_t charset_len;
	size_t charset_cmp; /* without the language */
	const char *payload;
	size_t payload_len;
	char enc;    /* 'B' or 'Q' for a valid encoded-word, else 0 */
	char eq;     /* a B payload with '=' in it: GMime stops there */
	char opaque; /* not to be rewritten (see above) */
};

/* The token at `s` (neither white space nor the end of the value), cut as
 * GMime's lenient RFC 2047 tokenizer cuts it: "=?charset?X?...?=" up to
 * the first "?=", else text up to white space or the next "=?". */
static void ew_token(const char *s, int structured, struct ew_token *t)
{
	const char *p = s, *cs, *q;
	size_t i;

	memset(t, 0, sizeof *t);
	t->start = s;
	if (s[0] == '=' && s[1] == '?') {
		cs = p = s + 2;
		while (*p != '\0' && *p != '?')
			p++;
		if (p[0] == '?' && p[1] != '\0' && strchr("BbQq", p[1]) &&
		    p[2] == '?') {
			q = strstr(p + 3, "?=");
			if (q == NULL) { /* no end: text to the end */
				t->end = p + strlen(p);
				return;
			}
			t->end = q + 2;
			if (p == cs || *cs == '*') /* GMime decodes no such */
				return;
			t->enc = g_ascii_toupper(p[1]);
			t->charset = cs;
			t->charset_len = (size_t)(p - cs);
			q = memchr(cs, '*', t->charset_len);
			t->charset_cmp = q ? (size_t)(q - cs) : t->charset_len;
			t->payload = p + 3;
			t->payload_len = (size_t)(t->end - 2 - t->payload);
			if (t->enc != 'B')
				return;
			t->opaque = t->payload_len > G_MAXUINT / 2;
			for (i = 0; i < t->payload_len; i++) {
				unsigned char c = (unsigned char)t->payload[i];

				if (c == '=')
					t->eq = 1;
				else if (structured && !g_ascii_isalnum(c) &&
					 c != '+' && c != '/' && !ew_lwsp(c))
					t->opaque = 1;
			}
			return;
		}
	}
	while (*p != '\0' && !ew_lwsp(*p) && !(p[0] == '=' && p[1] == '?'))
		p++;
	t->end = p;
}

static int ew_same_charset(const struct ew_token *a, const struct ew_token *b)
{
	return a->charset_cmp == b->charset_cmp &&
	       g_ascii_strncasecmp(a->charset, b->charset, a->charset_cmp) == 0;
}

/* A run: adjacent valid B words in one charset, as GMime groups them. */
struct ew_run {
	GArray *words;	   /* struct ew_token */
	GArray *gaps;	   /* the white space before each word but the first */
	GByteArray *bytes; /* scratch for the decoded payloads */
	int fix;
};

static void ew_emit_q(GString *out, const struct ew_token *t, const guint8 *d,
		      size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	g_string_append(out, "=?");
	g_string_append_len(out, t->charset, (gssize)t->charset_len);
	g_string_append(out, "?Q?");
	for (i = 0; i < n; i++) {
		g_string_append_c(out, '=');
		g_string_append_c(out, hex[d[i] >> 4]);
		g_string_append_c(out, hex[d[i] & 15]);
	}
	g_string_append(out, "?=");
}

/* Appends the run to `out`, mended if it needs it; *prev_eq says whether
 * what went out last is a B word with '=' still for GMime to merge with
 * whatever B word follows (-1: nothing adjacent). Returns 1 if it changed
 * anything, -1 if it could not mend a merge that needs it, else 0. */
static int ew_flush(struct ew_run *r, GString *out, int *prev_eq)
{
	const struct ew_token *w = (const struct ew_token *)r->words->data;
	const struct ew_token *last;
	guint i, n = r->words->len;
	int state = 0, fresh = 1, ret = 0;
	guint32 save = 0;

	if (n == 0)
		return 0;
	last = &w[n - 1];
	if (!r->fix) {
		if (*prev_eq == 1) /* not reached: such a run is mended */
			ret = -1;
		g_string_append_len(out, w[0].start,
				    (gssize)(last->end - w[0].start));
		*prev_eq = last->eq;
		goto done;
	}
	for (i = 0; i < n; i++) {
		const struct ew_token *t = &w[i];
		size_t len;

		if (i > 0) {
			const char *const *gap =
			    &g_array_index(r->gaps, const char *, 2 * (i - 1));

			g_string_append_len(out, gap[0],
					    (gssize)(gap[1] - gap[0]));
		}
		if (t->opaque) {
			if (*prev_eq == 1)
				ret = -1;
			g_string_append_len(out, t->start,
					    (gssize)(t->end - t->start));
			*prev_eq = t->eq;
			fresh = 1; /* GMime decodes it on its own */
			continue;
		}
		if (fresh) {
			state = 0;
			save = 0;
		}
		g_byte_array_set_size(r->bytes, (guint)t->payload_len + 4);
		len = g_mime_encoding_base64_decode_step(
		    (const unsigned char *)t->payload, t->payload_len,
		    r->bytes->data, &state, &save);
		ew_emit_q(out, t, r->bytes->data, len);
		*prev_eq = 0;
		fresh = t->eq;
		if (ret == 0)
			ret = 1;
	}
done:
	g_array_set_size(r->words, 0);
	g_array_set_size(r->gaps, 0);
	r->fix = 0;
	return ret;
}

/*
 * `s` with the B words GMime would mis-decode rewritten, or NULL when it
 * has none. *ambiguous_r is set when a merge could not be mended (only in
 * a structured value).
 */
static char *ew_rewrite(const char *s, int structured, int *ambiguous_r)
{
	struct ew_run r;
	struct ew_token t;
	GString *out = g_string_sized_new(strlen(s) + 64);
	const char *p = s, *lw;
	int changed = 0, ambiguous = 0, prev_eq = -1, rc;

	r.words = g_array_new(FALSE, FALSE, sizeof(struct ew_token));
	r.gaps = g_array_new(FALSE, FALSE, sizeof(const char *));
	r.bytes = g_byte_array_new();
	r.fix = 0;
	for (;;) {
		lw = p;
		while (ew_lwsp(*p))
			p++;
		if (*p == '\0')
			break;
		ew_token(p, structured, &t);
		if (r.words->len > 0) {
			const struct ew_token *last = &g_array_index(
			    r.words, struct ew_token, r.words->len - 1);

			/* an encoded-word right after one with '=' */
			if (last->eq && p[0] == '=' && p[1] == '?')
				r.fix = 1;
			if (t.enc == 'B' && ew_same_charset(last, &t)) {
				g_array_append_val(r.gaps, lw);
				g_array_append_val(r.gaps, p);
				g_array_append_val(r.words, t);
				p = t.end;
				continue;
			}
		}
		rc = ew_flush(&r, out, &prev_eq);
		changed |= rc != 0;
		ambiguous |= rc < 0;
		g_string_append_len(out, lw, (gssize)(p - lw));
		if (t.enc == 'B') {
			/* right after a B word with '=' (another charset,
			 * which GMime may still think the same): mend this
			 * side too */
			r.fix = prev_eq == 1;
			g_array_append_val(r.words, t);
		} else {
			g_string_append_len(out, t.start,
					    (gssize)(t.end - t.start));
			prev_eq = t.enc ? 0 : -1;
		}
		p = t.end;
	}
	rc = ew_flush(&r, out, &prev_eq);
	changed |= rc != 0;
	ambiguous |= rc < 0;
	g_string_append_len(out, lw, (gssize)(p - lw));
	g_array_free(r.words, TRUE);
	g_array_free(r.gaps, TRUE);
	g_byte_array_free(r.bytes, TRUE);
	if (ambiguous_r != NULL)
		*ambiguous_r = ambiguous;
	if (!changed) {
		g_string_free(out, TRUE);
		return NULL;
	}
	return g_string_free(out, FALSE);
}

/* ---- parts ---- */

static void msg_hex(const unsigned char *md, unsigned len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * len] = '\0';
}

/* Both digests in one walk over the data, chunk by chunk, so each chunk is
 * still in cache for the second one. */
static void msg_hash(struct msg *m, const unsigned char *data, size_t size,
		     vigil_part *vp)
{
	struct msg_priv *p = msg_priv(m);
	const EVP_MD *md1 = msg_md_sha1 ? msg_md_sha1 : EVP_sha1();
	const EVP_MD *md2 = msg_md_sha256 ? msg_md_sha256 : EVP_sha256();
	unsigned char d1[EVP_MAX_MD_SIZE], d2[EVP_MAX_MD_SIZE];
	unsigned l1 = 0, l2 = 0;
	size_t off, n;

	if (p->sha1 == NULL)
		p->sha1 = EVP_MD_CTX_new();
	if (p->sha256 == NULL)
		p->sha256 = EVP_MD_CTX_new();
	if (p->sha1 == NULL || p->sha256 == NULL ||
	    !EVP_DigestInit_ex(p->sha1, md1, NULL) ||
	    !EVP_DigestInit_ex(p->sha256, md2, NULL))
		return;
	for (off = 0; off < size; off += n) {
		n = size - off < MSG_HASH_CHUNK ? size - off : MSG_HASH_CHUNK;
		if (!EVP_DigestUpdate(p->sha1, data + off, n) ||
		    !EVP_DigestUpdate(p->sha256, data + off, n))
			return;
	}
	if (!EVP_DigestFinal_ex(p->sha1, d1, &l1) ||
	    !EVP_DigestFinal_ex(p->sha256, d2, &l2) || l1 != 20 || l2 != 32)
		return;
	msg_hex(d1, l1, vp->sha1);
	msg_hex(d2, l2, vp->sha256);
}

int msg_add_part(struct msg *m, const char *path, const char *name,
		 const char *content_type, const unsigned char *data,
		 size_t size, unsigned depth, int parent, unsigned flags)
{
	struct msg_priv *p = msg_priv(m);
	const char *type = "unknown", *category = "other";
	unsigned tflags = 0;
	vigil_part *vp;

	if (m->n_parts == p->cap_parts) {
		p->cap_parts = p->cap_parts ? p->cap_parts * 2 : 8;
		m->parts =
		    g_realloc_n(m->parts, p->cap_parts, sizeof *m->parts);
	}
	vp = &m->parts[m->n_parts];
	memset(vp, 0, sizeof *vp);
	if (data == NULL)
		data = (const unsigned char *)"";
	vp->path = path;
	vp->name = name ? name : "";
	vp->content_type = content_type ? content_type : "";
	vp->data = data;
	vp->size = size;
	vp->depth = depth;
	vp->parent = parent;
	if (m->typer != NULL)
		m->typer(m->typer_ctx, data, size, &type, &category, &tflags);
	vp->true_type = type ? type : "unknown";
	vp->category = category ? category : "other";
	vp->flags = flags | tflags;
	msg_hash(m, data, size, vp);
	return (int)m->n_parts++;
}

/* "type/subtype", lower-cased, in the arena. */
static const char *parse_content_type(struct msg *m, GMimeObject *obj)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	const char *type, *sub;
	char *s, *c;

	if (ct == NULL)
		return "";
	type = g_mime_content_type_get_media_type(ct);
	sub = g_mime_content_type_get_media_subtype(ct);
	if (type == NULL || sub == NULL)
		return "";
	s = msg_arena_printf(m, "%s/%s", type, sub);
	for (c = s; *c; c++)
		*c = g_ascii_tolower(*c);
	return s;
}

/* The bytes of `s` inside the raw message, when it is a window on it (the
 * parser persists content as substreams of the raw stream). */
static int parse_raw_span(struct msg *m, GMimeStream *s,
			  const unsigned char **data_r, size_t *len_r)
{
	GByteArray *raw = msg_priv(m)->raw_array;
	gint64 start, end;

	if (raw == NULL || s == NULL || !GMIME_IS_STREAM_MEM(s) ||
	    GMIME_STREAM_MEM(s)->buffer != raw)
		return 0;
	start = s->bound_start;
	end = s->bound_end;
	if (end < 0 || end > (gint64)raw->len)
		end = raw->len;
	if (start < 0 || start > end)
		return 0;
	*data_r = raw->data + start;
	*len_r = (size_t)(end - start);
	return 1;
}

/* Bytes that may not appear in base64 text: all but A-Z a-z 0-9 + / =
 * and white space (as g_ascii_isspace). */
static unsigned char base64_bad[256];

static void parse_base64_table_init(void)
{
	for (int i = 0; i < 256; i++)
		base64_bad[i] = !(g_ascii_isalnum(i) || i == '+' || i == '/' ||
				  i == '=' || g_ascii_isspace(i));
}

static int parse_base64_clean(const unsigned char *s, size_t len)
{
	/* A table and ORs, eight bytes a round on independent accumulators:
	 * this runs over every byte of every base64 attachment, so it must
	 * cost less than the decoding itself. */
	unsigned char a0 = 0, a1 = 0, a2 = 0, a3 = 0;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		a0 |= base64_bad[s[i]] | base64_bad[s[i + 4]];
		a1 |= base64_bad[s[i + 1]] | base64_bad[s[i + 5]];
		a2 |= base64_bad[s[i + 2]] | base64_bad[s[i + 6]];
		a3 |= base64_bad[s[i + 3]] | base64_bad[s[i + 7]];
	}
	for (; i < len; i++)
		a0 |= base64_bad[s[i]];
	return (a0 | a1 | a2 | a3) == 0;
}

/* Checks the encoded text of a base64 part GMime would silently skip. */
static int parse_base64_ok(struct msg *m, GMimeStream *s)
{
	const unsigned char *span;
	unsigned char buf[4096];
	size_t len;
	ssize_t n;
	int ok = 1;

	if (parse_raw_span(m, s, &span, &len))
		return parse_base64_clean(span, len);
	if (s == NULL || g_mime_stream_reset(s) < 0)
		return 1;
	while (ok && (n = g_mime_stream_read(s, (char *)buf, sizeof buf)) > 0)
		ok = parse_base64_clean(buf, (size_t)n);
	g_mime_stream_reset(s);
	return ok;
}

static int parse_identity(GMimeContentEncoding enc)
{
	return enc == GMIME_CONTENT_ENCODING_DEFAULT ||
	       enc == GMIME_CONTENT_ENCODING_7BIT ||
	       enc == GMIME_CONTENT_ENCODING_8BIT ||
	       enc == GMIME_CONTENT_ENCODING_BINARY;
}

/* Decodes `w` (or, without it, serialises `obj`) into a new buffer,
 * reserved at `hint` bytes so it need not grow; NULL when empty. A short
 * write keeps what was written. */
static unsigned char *parse_collect(gint64 hint, GMimeObject *obj,
				    GMimeDataWrapper *w, size_t *len_r)
{
	GByteArray *arr;
	GMimeStream *out;
	guint8 *data;

	if (hint < 0 || hint > (gint64)G_MAXUINT / 2)
		hint = 0;
	arr = g_byte_array_sized_new((guint)hint);
	out = g_mime_stream_mem_new_with_byte_array(arr);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(out), FALSE);
	if (w != NULL)
		(void)g_mime_data_wrapper_write_to_stream(w, out);
	else
		(void)g_mime_object_write_to_stream(obj, NULL, out);
	g_object_unref(out);
	*len_r = arr->len;
	data = g_byte_array_free(arr, FALSE);
	if (*len_r == 0) {
		g_free(data);
		data = NULL;
	}
	return data;
}

/* The decoded content of a leaf: the raw bytes themselves when there is
 * no transfer encoding, else decoded once into a buffer of its own. */
static const unsigned char *parse_content(struct msg *m, GMimePart *part,
					  const char *path, size_t *len_r)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	GMimeStream *s;
	GMimeContentEncoding enc;
	const unsigned char *span;
	unsigned char *data;
	size_t len;
	gint64 hint;

	*len_r = 0;
	if (w == NULL)
		return NULL;
	s = g_mime_data_wrapper_get_stream(w);
	enc = g_mime_data_wrapper_get_encoding(w);
	if (g_mime_part_get_content_encoding(part) ==
		GMIME_CONTENT_ENCODING_BASE64 &&
	    !parse_base64_ok(m, s))
		msg_note_malformed(m, "bad base64 in part %s", path);
	if (parse_identity(enc) && parse_raw_span(m, s, &span, &len)) {
		*len_r = len;
		return span;
	}
	hint = s ? g_mime_stream_length(s) : 0;
	if (enc == GMIME_CONTENT_ENCODING_BASE64 && hint > 0)
		hint = hint / 4 * 3 + 3;
	data = parse_collect(hint, NULL, w, len_r);
	msg_keep_buffer(m, data);
	return data;
}

static void parse_entity(struct msg *m, GMimeObject *obj, const char *path,
			 unsigned depth, int parent, unsigned level);

/* IMAP numbering: a multipart body numbers its children prefix.N, any
 * other body is prefix.1 (or "1" for the message itself). */
static void parse_body(struct msg *m, GMimeObject *obj, const char *prefix,
		       unsigned depth, int parent, unsigned level)
{
	if (GMIME_IS_MULTIPART(obj))
		parse_entity(m, obj, prefix, depth, parent, level);
	else if (*prefix)
		parse_entity(m, obj, msg_arena_printf(m, "%s.1", prefix), depth,
			     parent, level);
	else
		parse_entity(m, obj, "1", depth, parent, level);
}

/* The header GMime takes a part's Content-Type or Content-Disposition
 * from: the last one of that name. */
static GMimeHeader *parse_last_header(GMimeObject *obj, const char *name)
{
	GMimeHeaderList *list = g_mime_object_get_header_list(obj);
	int i;

	if (list == NULL)
		return NULL;
	for (i = g_mime_header_list_get_count(list) - 1; i >= 0; i--) {
		GMimeHeader *h = g_mime_header_list_get_header_at(list, i);

		if (h != NULL &&
		    g_ascii_strcasecmp(g_mime_header_get_name(h), name) == 0)
			return h;
	}
	return NULL;
}

/* Parameter `param` of the Content-Disposition (disposition != 0) or the
 * Content-Type of `obj`: GMime's value, unless the raw header has
 * adjacent encoded-words it would mis-decode; then the header as mended
 * by ew_rewrite(), parsed again by GMime with the same options (RFC 2231
 * and all). Arena string, or NULL when there is none. */
static const char *parse_param(struct msg *m, GMimeObject *obj,
			       const char *path, int disposition,
			       const char *param)
{
	GMimeParserOptions *opts = msg_priv(m)->opts;
	const char *v, *raw, *w = NULL;
	GMimeHeader *h;
	char *fixed;
	int ambiguous = 0;

	v = disposition
		? g_mime_object_get_content_disposition_parameter(obj, param)
		: g_mime_object_get_content_type_parameter(obj, param);
	if (v == NULL)
		return NULL;
	h = parse_last_header(obj, disposition ? "Content-Disposition"
					       : "Content-Type");
	raw = h != NULL ? g_mime_header_get_raw_value(h) : NULL;
	if (raw == NULL || !ew_adjacent(raw) ||
	    (fixed = ew_rewrite(raw, 1, &ambiguous)) == NULL)
		return msg_arena_strdup(m, v);
	if (disposition) {
		GMimeContentDisposition *d =
		    g_mime_content_disposition_parse(opts, fixed);

		if (d != NULL) {
			w = g_mime_content_disposition_get_parameter(d, param);
			w = w ? msg_arena_strdup(m, w) : NULL;
			g_object_unref(d);
		}
	} else {
		GMimeContentType *ct = g_mime_content_type_parse(opts, fixed);

		if (ct != NULL) {
			w = g_mime_content_type_get_parameter(ct, param);
			w = w ? msg_arena_strdup(m, w) : NULL;
			g_object_unref(ct);
		}
	}
	g_free(fixed);
	/* attacker-shaped: a merge that could not be mended, or a mended
	 * header that no longer parses */
	if (ambiguous || w == NULL)
		msg_note_malformed(
		    m, "ambiguous encoded-words in the %s of part %s", param,
		    path);
	return w ? w : msg_arena_strdup(m, v);
}

/* A part's name: the disposition's filename, else the type's name. */
static const char *parse_name(struct msg *m, GMimeObject *obj, const char *path)
{
	const char *name = parse_param(m, obj, path, 1, "filename");

	return name ? name : parse_param(m, obj, path, 0, "name");
}

static void parse_leaf(struct msg *m, GMimePart *part, const char *path,
		       unsigned depth, int parent)
{
	const char *ctype = parse_content_type(m, GMIME_OBJECT(part));
	const char *name = parse_name(m, GMIME_OBJECT(part), path);
	const unsigned char *data;
	size_t len;
	int idx;

	data = parse_content(m, part, path, &len);
	idx = msg_add_part(m, path, name, ctype, data, len, depth, parent, 0);
	if (msg_part_is_compressed(&m->parts[idx]))
		msg_archive_extract(m, idx, 1);
}

static void parse_message_part(struct msg *m, GMimeMessagePart *mp,
			       const char *path, unsigned depth, int parent,
			       unsigned level)
{
	struct msg_priv *p = msg_priv(m);
	GMimeObject *obj = GMIME_OBJECT(mp);
	GMimeMessage *inner = g_mime_message_part_get_message(mp);
	const char *ctype = parse_content_type(m, obj);
	const char *name;
	unsigned char *data = NULL;
	unsigned flags = VIGIL_PART_CONTAINER;
	size_t len = 0;
	int idx;

	name = parse_name(m, obj, path);
	if (inner != NULL)
		data = parse_collect(0, GMIME_OBJECT(inner), NULL, &len);
	if (p->embedded + len > (uint64_t)m->raw_size * MSG_EMBED_FACTOR) {
		g_free(data); /* its leaves still follow */
		data = NULL;
		len = 0;
		flags |= VIGIL_PART_TRUNCATED;
	}
	p->embedded += len;
	msg_keep_buffer(m, data);
	idx =
	    msg_add_part(m, path, name, ctype, data, len, depth, parent, flags);
	if (inner != NULL && inner->mime_part != NULL)
		parse_body(m, inner->mime_part, path, depth + 1, idx,
			   level + 1);
}

static void parse_entity(struct msg *m, GMimeObject *obj, const char *path,
			 unsigned depth, int parent, unsigned level)
{
	if (level > MSG_MIME_MAX_DEPTH) {
		msg_note_malformed(m, "MIME nesting deeper than %d",
				   MSG_MIME_MAX_DEPTH);
		return;
	}
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int i, n = g_mime_multipart_get_count(mp);

		for (i = 0; i < n; i++) {
			const char *cpath =
			    *path ? msg_arena_printf(m, "%s.%d", path, i + 1)
				  : msg_arena_printf(m, "%d", i + 1);

			parse_entity(m, g_mime_multipart_get_part(mp, i), cpath,
				     depth, parent, level + 1);
		}
	} else if (GMIME_IS_MESSAGE_PART(obj)) {
		parse_message_part(m, GMIME_MESSAGE_PART(obj), path, depth,
				   parent, level);
	} else if (GMIME_IS_PART(obj)) {
		parse_leaf(m, GMIME_PART(obj), path, depth, parent);
	}
}

const vigil_part *msg_parts(struct msg *m, size_t *count_r)
{
	if (!m->parts_done) {
		m->parts_done = 1;
		if (m->mime != NULL && m->mime->mime_part != NULL)
			parse_body(m, m->mime->mime_part, "", 0, -1, 1);
	}
	if (count_r != NULL)
		*count_r = m->n_parts;
	return m->parts;
}

/* ---- life cycle ---- */

/* GMime decodes header fields while parsing, in time quadratic in a
 * field's length for some hostile inputs (400 KB of unterminated encoded
 * words: seconds; 128 KiB costs well under one). A top-level field longer
 * than this is not parsed. */
#define MSG_MAX_HEADER_FIELD 131072

/* The longest field (with its folded lines) of the top-level header. */
static size_t parse_longest_field(const unsigned char *raw, size_t size)
{
	size_t longest = 0, start = 0, i = 0;

	while (i < size) {
		const unsigned char *nl = memchr(raw + i, '\n', size - i);
		size_t end = nl ? (size_t)(nl - raw) + 1 : size;
		size_t len = end - i;
		if (len <= 2 && (raw[i] == '\n' || raw[i] == '\r'))
			break; /* the empty line: end of the header */
		if (raw[i] != ' ' && raw[i] != '\t')
			start = i; /* a new field; else a folded line */
		if (end - start > longest)
			longest = end - start;
		i = end;
	}
	return longest;
}

struct msg *msg_new(unsigned char *raw, size_t size,
		    const struct msg_limits *limits, vigil_typer_fn typer,
		    void *typer_ctx)
{
	struct msg_full *f = g_new0(struct msg_full, 1);
	struct msg *m = &f->m;
	struct msg_priv *p = &f->p;
	GMimeStream *stream;
	GMimeParser *parser;

	m->priv = p;
	m->raw = raw;
	m->raw_size = raw ? size : 0;
	m->limits = limits ? limits : &msg_default_limits;
	m->typer = typer;
	m->typer_ctx = typer_ctx;
	m->sender = g_strdup("");

	if (m->raw_size == 0) {
		msg_note_malformed(m, "empty message");
		return m;
	}
	if (m->raw_size > G_MAXUINT) {
		msg_note_malformed(m, "message too large to parse");
		return m;
	}
	if (parse_longest_field(raw, size) > MSG_MAX_HEADER_FIELD) {
		/* hostile: a security-settings violation, not just damage */
		msg_note_malformed(m, "header field too long to parse");
		msg_note_limit(m, "max_header_field", MSG_MAX_HEADER_FIELD);
		m->parts_done = 1;
		return m;
	}
	p->opts = g_mime_parser_options_new();
	g_mime_parser_options_set_warning_callback(p->opts, parse_warning, m);

	/* The stream reads m->raw in place: the array only borrows it. */
	p->raw_array = g_byte_array_new_take(raw, size);
	stream = g_mime_stream_mem_new_with_byte_array(p->raw_array);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream), FALSE);
	parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	m->mime = g_mime_parser_construct_message(parser, p->opts);
	g_object_unref(parser);
	g_object_unref(stream);
	parse_truncated(m);
	if (m->mime == NULL)
		msg_note_malformed(m, "not a MIME message");
	return m;
}

static void msg_free_rcpts(struct msg *m)
{
	size_t i;

	for (i = 0; i < m->n_rcpts; i++)
		g_free(m->rcpts[i]);
	g_free(m->rcpts);
	m->rcpts = NULL;
	m->n_rcpts = 0;
}

void msg_free(struct msg *m)
{
	struct msg_priv *p;
	size_t i;

	if (m == NULL)
		return;
	p = msg_priv(m);
	if (m->mime != NULL)
		g_object_unref(
		    m->mime); /* before the options and raw it uses */
	if (p->opts != NULL)
		g_mime_parser_options_free(p->opts);
	if (p->raw_array != NULL)
		g_byte_array_free(p->raw_array, FALSE); /* not m->raw itself */
	free(m->raw);
	for (i = 0; i < p->n_bufs; i++)
		g_free(p->bufs[i]);
	g_free(p->bufs);
	while (p->arena != NULL) {
		struct msg_arena_block *next = p->arena->next;

		g_free(p->arena);
		p->arena = next;
	}
	for (i = 0; i < p->n_hdrs; i++)
		g_free(p->hdrs[i].name);
	g_free(p->hdrs);
	EVP_MD_CTX_free(p->sha1);
	EVP_MD_CTX_free(p->sha256);
	g_free(m->parts);
	g_free(m->sender);
	msg_free_rcpts(m);
	g_free(m->malformed_reason);
	g_free(m->limit_hit);
	g_free((struct msg_full *)m);
}

/* ---- envelope ---- */

void msg_set_envelope(struct msg *m, const char *sender,
		      const char *const *rcpts, size_t n_rcpts)
{
	size_t i;

	g_free(m->sender);
	m->sender = g_strdup(sender ? sender : "");
	msg_free_rcpts(m);
	m->rcpts = g_new0(char *, n_rcpts + 1);
	for (i = 0; i < n_rcpts; i++)
		m->rcpts[i] = g_strdup(rcpts[i] ? rcpts[i] : "");
	m->n_rcpts = n_rcpts;
}

/* local@domain with the domain lower-cased; NULL for anything else. */
static char *parse_bare_addr(const char *addr)
{
	const char *at;
	char *s, *c;

	if (addr == NULL || (at = strrchr(addr, '@')) == NULL || at == addr ||
	    at[1] == '\0')
		return NULL;
	s = g_strdup(addr);
	for (c = s + (at - addr) + 1; *c; c++)
		*c = g_ascii_tolower(*c);
	return s;
}

static void parse_addresses(InternetAddressList *list, GPtrArray *out,
			    int in_group)
{
	int i, n;

	if (list == NULL)
		return;
	n = internet_address_list_length(list);
	for (i = 0; i < n; i++) {
		InternetAddress *ia =
		    internet_address_list_get_address(list, i);
		char *a;

		if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
			a = parse_bare_addr(internet_address_mailbox_get_addr(
			    INTERNET_ADDRESS_MAILBOX(ia)));
			if (a != NULL)
				g_ptr_array_add(out, a);
		} else if (INTERNET_ADDRESS_IS_GROUP(ia) && !in_group) {
			parse_addresses(internet_address_group_get_members(
					    INTERNET_ADDRESS_GROUP(ia)),
					out, 1);
		}
	}
}

void msg_envelope_from_headers(struct msg *m)
{
	static const GMimeAddressType kinds[] = {GMIME_ADDRESS_TYPE_TO,
						 GMIME_ADDRESS_TYPE_CC,
						 GMIME_ADDRESS_TYPE_BCC};
	GPtrArray *from = g_ptr_array_new_with_free_func(g_free);
	GPtrArray *to = g_ptr_array_new_with_free_func(g_free);
	size_t i;

	if (m->mime != NULL) {
		parse_addresses(g_mime_message_get_from(m->mime), from, 0);
		for (i = 0; i < G_N_ELEMENTS(kinds); i++)
			parse_addresses(
			    g_mime_message_get_addresses(m->mime, kinds[i]), to,
			    0);
	}
	msg_set_envelope(m, from->len ? g_ptr_array_index(from, 0) : "",
			 (const char *const *)to->pdata, to->len);
	g_ptr_array_unref(from);
	g_ptr_array_unref(to);
}

/* ---- headers ---- */

/* The first `name` header of `obj`, unfolded and RFC 2047 decoded as GMime
 * decodes it; when the raw value has adjacent encoded-words GMime would
 * mis-decode, mended by ew_rewrite() first. Arena string or NULL. */
static const char *parse_header_text(struct msg *m, GMimeObject *obj,
				     const char *name)
{
	GMimeHeader *h;
	const char *v, *raw;
	char *fixed, *unfolded, *decoded;

	h = g_mime_header_list_get_header(g_mime_object_get_header_list(obj),
					  name);
	raw = h != NULL ? g_mime_header_get_raw_value(h) : NULL;
	if (raw == NULL || !ew_adjacent(raw) ||
	    (fixed = ew_rewrite(raw, 0, NULL)) == NULL) {
		v = g_mime_object_get_header(obj, name);
		return v != NULL ? msg_arena_strdup(m, v) : NULL;
	}
	unfolded = g_mime_utils_header_unfold(fixed);
	decoded = g_mime_utils_header_decode_text(msg_priv(m)->opts, unfolded);
	v = msg_arena_strdup(m, decoded);
	g_free(decoded);
	g_free(unfolded);
	g_free(fixed);
	return v;
}

const char *msg_header(struct msg *m, const char *name)
{
	struct msg_priv *p = msg_priv(m);
	const char *v = NULL;
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < p->n_hdrs; i++)
		if (g_ascii_strcasecmp(p->hdrs[i].name, name) == 0)
			return p->hdrs[i].value;
	if (m->mime != NULL) {
		/* the unfolded, RFC 2047 decoded value (the Content-* ones
		 * live on the top-level part); the copy outlives later edits
		 * of the tree */
		v = parse_header_text(m, GMIME_OBJECT(m->mime), name);
		if (v == NULL && m->mime->mime_part != NULL)
			v = parse_header_text(m, m->mime->mime_part, name);
	}
	if (p->n_hdrs == p->cap_hdrs) {
		p->cap_hdrs = p->cap_hdrs ? p->cap_hdrs * 2 : 4;
		p->hdrs = g_realloc_n(p->hdrs, p->cap_hdrs, sizeof *p->hdrs);
	}
	p->hdrs[p->n_hdrs].name = g_strdup(name);
	p->hdrs[p->n_hdrs].value = v;
	p->n_hdrs++;
	return v;
}
