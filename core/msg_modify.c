/*
 * msg_modify.c - carry out the actions that change a message (tag the
 * subject, set an X-header, stamp the bodies, delete attachments) and build
 * notification messages from templates.
 *
 * PURPOSE: turn a modify_plan into the bytes of the modified message. All
 * MIME work is GMime's: the message is re-parsed from m->raw into a tree of
 * our own, edited there and serialised; a deleted attachment becomes a
 * short text/plain note in its place, so no multipart ever ends up empty.
 *
 * NEVER: change the struct msg it is given (other code still reads its
 * parts), hand-write MIME or RFC 2047, let a CR or LF from the message or a
 * template value reach a header, strip a text body, or recurse without a
 * bound.
 */
#include "msg_modify.h"

#include <stdlib.h>
#include <string.h>

/* MIME nesting the walks follow (the message model stops at 64 too). */
#define MOD_MAX_DEPTH 64
/* Bytes of one tag, header value, file name or rule name we write. */
#define MOD_VALUE_MAX 1000
/* Lines of one note; more matches in the same part are only counted. */
#define MOD_NOTE_LINES 50
/* Bytes of one template value (notify_expand). */
#define NOTIFY_VALUE_MAX 1000

int modify_plan_empty(const struct modify_plan *p)
{
	return p == NULL ||
	       (p->tag_subject.n == 0 &&
		(p->x_header == NULL || *p->x_header == '\0') &&
		p->n_stamps == 0 && !p->strip_all && p->n_strips == 0);
}

/* ---- text helpers ---- */

/* mod_clean() flags */
#define MOD_LINES 1u  /* keep line ends (as LF) and tabs */
#define MOD_NOBIDI 2u /* drop bidi embeddings, overrides and isolates */

/* U+202A..U+202E and U+2066..U+2069: "exe.pdf" shown for "fdp.exe". */
static int mod_is_bidi(gunichar u)
{
	return (u >= 0x202a && u <= 0x202e) || (u >= 0x2066 && u <= 0x2069);
}

/* `s` as valid UTF-8 with control characters turned into spaces, cut
 * after at most `max` bytes with "..." added. g_free() it. */
static char *mod_clean(const char *s, size_t max, unsigned flags)
{
	char *v = g_utf8_make_valid(s ? s : "", -1);
	GString *out = g_string_sized_new(strlen(v) + 4);
	const char *p = v;

	while (*p) {
		const char *next = g_utf8_next_char(p);
		unsigned char c = (unsigned char)*p;

		if (out->len + (size_t)(next - p) > max) {
			g_string_append(out, "...");
			break;
		}
		if ((flags & MOD_LINES) && c == '\r') {
			if (p[1] != '\n')
				g_string_append_c(out, '\n');
		} else if ((flags & MOD_LINES) && (c == '\n' || c == '\t')) {
			g_string_append_c(out, (char)c);
		} else if (c < 0x20 || c == 0x7f) {
			g_string_append_c(out, ' ');
		} else if (!(flags & MOD_NOBIDI) ||
			   !mod_is_bidi(g_utf8_get_char(p))) {
			g_string_append_len(out, p, next - p);
		}
		p = next;
	}
	g_free(v);
	return g_string_free(out, FALSE);
}

/* Replace a part's content by UTF-8 text, declared so, in the transfer
 * encoding GMime finds best for 7-bit transport. */
static void mod_set_text(GMimePart *part, const char *text, size_t len)
{
	GMimeStream *st = g_mime_stream_mem_new_with_buffer(text, len);
	GMimeDataWrapper *w = g_mime_data_wrapper_new_with_stream(
	    st, GMIME_CONTENT_ENCODING_DEFAULT);

	g_object_unref(st);
	g_mime_part_set_content(part, w);
	g_object_unref(w);
	g_mime_object_set_content_type_parameter(GMIME_OBJECT(part), "charset",
						 "utf-8");
	g_mime_part_set_content_encoding(
	    part, g_mime_part_get_best_content_encoding(
		      part, GMIME_ENCODING_CONSTRAINT_7BIT));
}

/* A text part's content decoded to valid UTF-8 with LF line ends (NUL
 * bytes become spaces). Undeclared 8-bit text is taken as ISO-8859-1
 * rather than lost. g_free() it. */
static char *mod_get_text(GMimeTextPart *tp)
{
	GMimeDataWrapper *w = g_mime_part_get_content(GMIME_PART(tp));
	const char *charset = g_mime_text_part_get_charset(tp);
	GMimeStream *mem, *fs;
	GByteArray *arr;
	GString *out;
	const char *data;
	char *conv = NULL, *ret;
	gsize len, clen = 0, i;

	if (w == NULL)
		return g_strdup("");
	mem = g_mime_stream_mem_new();
	fs = g_mime_stream_filter_new(mem);
	if (charset != NULL) {
		GMimeFilter *f = g_mime_filter_charset_new(charset, "UTF-8");

		if (f !=
		    NULL) { /* else an unknown charset: bytes as they are */
			g_mime_stream_filter_add(GMIME_STREAM_FILTER(fs), f);
			g_object_unref(f);
		}
	}
	(void)g_mime_data_wrapper_write_to_stream(w, fs);
	(void)g_mime_stream_flush(fs);
	arr = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	data = (const char *)arr->data;
	len = arr->len;
	if (charset == NULL && !g_utf8_validate_len(data, len, NULL))
		conv = g_convert(data, (gssize)len, "UTF-8", "ISO-8859-1", NULL,
				 &clen, NULL);
	if (conv != NULL) {
		data = conv;
		len = clen;
	}
	out = g_string_sized_new(len + 1);
	for (i = 0; i < len; i++) {
		if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
			continue;
		g_string_append_c(out, data[i] == '\0' ? ' ' : data[i]);
	}
	ret = g_utf8_make_valid(out->str, (gssize)out->len);
	g_string_free(out, TRUE);
	g_free(conv);
	g_object_unref(fs);
	g_object_unref(mem);
	return ret;
}

/* ---- what a part is ---- */

static const char *mod_filename(GMimeObject *obj)
{
	const char *name;

	if (GMIME_IS_PART(obj))
		return g_mime_part_get_filename(GMIME_PART(obj));
	name = g_mime_object_get_content_disposition_parameter(obj, "filename");
	if (name == NULL)
		name = g_mime_object_get_content_type_parameter(obj, "name");
	return name;
}

/* Content-Disposition attachment, or a file name. */
static int mod_is_attachment(GMimeObject *obj)
{
	const char *disp = g_mime_object_get_disposition(obj);
	const char *name = mod_filename(obj);

	return (disp != NULL && g_ascii_strcasecmp(disp, "attachment") == 0) ||
	       (name != NULL && *name != '\0');
}

static int mod_is_type(GMimeObject *obj, const char *type, const char *sub)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);

	return ct != NULL && g_mime_content_type_is_type(ct, type, sub);
}

/* A text/plain or text/html body: never stripped, stamped. */
static int mod_is_body(GMimeObject *obj)
{
	return GMIME_IS_TEXT_PART(obj) && !mod_is_attachment(obj) &&
	       (mod_is_type(obj, "text", "plain") ||
		mod_is_type(obj, "text", "html"));
}

/* What strip_all removes: every leaf that is an attachment or not text,
 * and every embedded message attached as a file. */
static int mod_is_strippable(GMimeObject *obj)
{
	if (GMIME_IS_MULTIPART(obj))
		return 0;
	if (GMIME_IS_MESSAGE_PART(obj))
		return mod_is_attachment(obj);
	if (mod_is_body(obj))
		return 0;
	return mod_is_attachment(obj) || !mod_is_type(obj, "text", "*");
}

/* ---- subject and X-header ---- */

/* A base64 encoded-word whose payload ends in padding. */
static int mod_padded_b_word(const char *w, size_t len)
{
	const char *q1, *q2;

	if (len < 8 || strncmp(w, "=?", 2) != 0 || w[len - 2] != '?' ||
	    w[len - 1] != '=')
		return 0;
	q1 = memchr(w + 2, '?', len - 4);
	if (q1 == NULL || q1 + 3 > w + len - 2 ||
	    (q1[1] != 'B' && q1[1] != 'b') || q1[2] != '?')
		return 0;
	q2 = w + len - 2; /* the payload is q1 + 3 .. q2 */
	return q2 > q1 + 3 && q2[-1] == '=';
}

/* The decoded Subject. GMime 3.2 merges adjacent encoded-words of one
 * charset before decoding and so drops everything after a padded base64
 * word (GMime issue #133): such runs are cut after each padded word and
 * the pieces decoded by GMime one by one. The whitespace at a cut lies
 * between encoded-words, where it does not count. g_free() it. */
static char *mod_decode_subject(GMimeMessage *msg)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(msg));
	GMimeHeader *h = g_mime_header_list_get_header(hl, "Subject");
	const char *raw = h ? g_mime_header_get_raw_value(h) : NULL;
	GString *out, *seg;
	char *v, *p;

	if (raw == NULL)
		return NULL;
	v = g_mime_utils_header_unfold(raw);
	out = g_string_new(NULL);
	seg = g_string_new(NULL);
	for (p = v; *p;) {
		char *t = p, *next;
		size_t tl;

		while (*p && !g_ascii_isspace(*p))
			p++;
		tl = (size_t)(p - t);
		g_string_append_len(seg, t, (gssize)tl);
		next = p;
		while (g_ascii_isspace(*next))
			next++;
		if (tl && *next && mod_padded_b_word(t, tl) &&
		    strncmp(next, "=?", 2) == 0) {
			char *d =
			    g_mime_utils_header_decode_text(NULL, seg->str);

			g_string_append(out, d);
			g_free(d);
			g_string_truncate(seg, 0);
			p = next;
			continue;
		}
		g_string_append_len(seg, p, next - p);
		p = next;
	}
	if (seg->len) {
		char *d = g_mime_utils_header_decode_text(NULL, seg->str);

		g_string_append(out, d);
		g_free(d);
	}
	g_string_free(seg, TRUE);
	g_free(v);
	return g_string_free(out, FALSE);
}

static void mod_tag_subject(GMimeMessage *msg, const struct strvec *tags)
{
	char *old = mod_decode_subject(msg);
	GString *s = g_string_new(NULL);
	size_t i;

	for (i = 0; i < tags->n; i++) {
		char *tag = mod_clean(tags->v[i], MOD_VALUE_MAX, 0);

		if (*tag != '\0') {
			if (s->len)
				g_string_append_c(s, ' ');
			g_string_append(s, tag);
		}
		g_free(tag);
	}
	if (s->len && old != NULL && *old != '\0') {
		char *o = mod_clean(old, G_MAXSIZE, 0);

		g_string_append_c(s, ' ');
		g_string_append(s, g_strstrip(o));
		g_free(o);
	}
	if (s->len) /* GMime writes it RFC 2047-encoded where not ASCII */
		g_mime_message_set_subject(msg, s->str, "utf-8");
	g_string_free(s, TRUE);
	g_free(old);
}

/* A field name (RFC 5322 ftext) that is not one of the body's own. */
static int mod_header_name_ok(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || len > 76 ||
	    (len >= 8 && g_ascii_strncasecmp(name, "Content-", 8) == 0) ||
	    (len == 12 && g_ascii_strncasecmp(name, "MIME-Version", 12) == 0))
		return 0;
	for (i = 0; i < len; i++)
		if (name[i] < 33 || name[i] > 126 || name[i] == ':')
			return 0;
	return 1;
}

/* "X-Name: value": the message ends with exactly one X-Name. A spec that
 * is no header is left out (config checks it), the rest still applies. */
static void mod_x_header(GMimeMessage *msg, const char *spec)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(msg));
	const char *colon, *start = spec, *end;
	char *name, *raw, *value;

	while (*start == ' ' || *start == '\t')
		start++;
	colon = strchr(start, ':');
	if (colon == NULL)
		return;
	end = colon;
	while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (!mod_header_name_ok(start, (size_t)(end - start)))
		return;
	name = g_strndup(start, (gsize)(end - start));
	raw = g_strdup(colon + 1);
	value = mod_clean(g_strstrip(raw), MOD_VALUE_MAX, 0);
	g_free(raw);
	while (g_mime_header_list_remove(hl, name))
		;
	g_mime_object_append_header(GMIME_OBJECT(msg), name, value, "utf-8");
	g_free(value);
	g_free(name);
}

/* ---- stamps ---- */

struct mod_stamps {
	GString *top_text, *bottom_text; /* NULL when none */
	GString *top_html, *bottom_html;
};

static void mod_stamp_add(GString **text, GString **html, const char *stamp)
{
	char *t = mod_clean(stamp, G_MAXSIZE, MOD_LINES);
	char *esc = g_markup_escape_text(t, -1);
	const char *p;

	if (*text == NULL) {
		*text = g_string_new(NULL);
		*html = g_string_new(NULL);
	}
	g_string_append(*text, t);
	if ((*text)->len && (*text)->str[(*text)->len - 1] != '\n')
		g_string_append_c(*text, '\n');
	g_string_append(*html, "<p>");
	for (p = esc; *p; p++) {
		if (*p == '\n' && p[1] != '\0')
			g_string_append(*html, "<br>\n");
		else if (*p != '\n')
			g_string_append_c(*html, *p);
	}
	g_string_append(*html, "</p>\n");
	g_free(esc);
	g_free(t);
}

static void mod_stamps_init(struct mod_stamps *st, const struct modify_plan *p)
{
	size_t i;

	memset(st, 0, sizeof *st);
	for (i = 0; i < p->n_stamps; i++) {
		if (p->stamps[i].text == NULL || *p->stamps[i].text == '\0')
			continue;
		if (p->stamps[i].at_top)
			mod_stamp_add(&st->top_text, &st->top_html,
				      p->stamps[i].text);
		else
			mod_stamp_add(&st->bottom_text, &st->bottom_html,
				      p->stamps[i].text);
	}
}

static void mod_stamps_free(struct mod_stamps *st)
{
	GString **all[] = {&st->top_text, &st->bottom_text, &st->top_html,
			   &st->bottom_html};
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(all); i++)
		if (*all[i] != NULL)
			g_string_free(*all[i], TRUE);
}

/* Where `tag` ("<body" or "</body", case-insensitive, then '>', '/' or
 * space) starts in `s`: the first one or the last one; NULL if none. */
static const char *mod_find_tag(const char *s, size_t len, const char *tag,
				int last)
{
	size_t tl = strlen(tag), i, found = len;

	for (i = 0; i + tl < len; i++) {
		char c = s[i + tl];

		if (s[i] == '<' && g_ascii_strncasecmp(s + i, tag, tl) == 0 &&
		    (c == '>' || c == '/' || g_ascii_isspace(c))) {
			found = i;
			if (!last)
				break;
		}
	}
	return found < len ? s + found : NULL;
}

static void mod_stamp_part(GMimeTextPart *tp, const struct mod_stamps *st)
{
	int html = mod_is_type(GMIME_OBJECT(tp), "text", "html");
	const GString *top = html ? st->top_html : st->top_text;
	const GString *bottom = html ? st->bottom_html : st->bottom_text;
	char *text = mod_get_text(tp);
	size_t len = strlen(text);
	GString *out = g_string_sized_new(len + 256);
	const char *body = NULL, *end = NULL;

	if (html) {
		const char *open = mod_find_tag(text, len, "<body", 0);

		if (open != NULL && (body = strchr(open, '>')) != NULL)
			body++;
		end = mod_find_tag(text, len, "</body", 1);
		if (end != NULL && body != NULL && end < body)
			end = NULL;
	}
	if (body == NULL)
		body = text;
	if (end == NULL)
		end = text + len;

	g_string_append_len(out, text, body - text);
	if (top != NULL && html && body > text) { /* right after <body> */
		g_string_append_c(out, '\n');
		g_string_append_len(out, top->str, top->len - 1);
	} else if (top != NULL) {
		g_string_append_len(out, top->str, top->len);
		if (!html)
			g_string_append_c(out, '\n');
	}
	g_string_append_len(out, body, end - body);
	if (bottom != NULL) {
		if (out->len && out->str[out->len - 1] != '\n')
			g_string_append_c(out, '\n');
		if (!html)
			g_string_append_c(out, '\n');
		g_string_append_len(out, bottom->str, bottom->len);
	}
	g_string_append(out, end);
	mod_set_text(GMIME_PART(tp), out->str, out->len);
	g_string_free(out, TRUE);
	g_free(text);
}

/* Every body of this message, not those of messages embedded in it, nor
 * signed or encrypted ones (a stamp would break them). */
static void mod_stamp_walk(GMimeObject *obj, const struct mod_stamps *st,
			   unsigned level)
{
	if (obj == NULL || level > MOD_MAX_DEPTH)
		return;
	if (GMIME_IS_MULTIPART_SIGNED(obj) || GMIME_IS_MULTIPART_ENCRYPTED(obj))
		return;
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int i, n = g_mime_multipart_get_count(mp);

		for (i = 0; i < n; i++)
			mod_stamp_walk(g_mime_multipart_get_part(mp, i), st,
				       level + 1);
	} else if (mod_is_body(obj)) {
		mod_stamp_part(GMIME_TEXT_PART(obj), st);
	}
}

/* ---- strips ---- */

/* Where a MIME part sits: child `index` of `parent`, or else the body of
 * `holder` (the message, or one embedded in it). */
struct mod_slot {
	GMimeObject *obj;
	GMimeMultipart *parent;
	int index;
	GMimeMessage *holder;
};

/* Follows msg_parse.c's numbering: a multipart numbers its children, any
 * other body of a message is N.1 ("1" for the message itself). */
static int mod_resolve(GMimeMessage *msg, const char *mpath,
		       struct mod_slot *slot_r)
{
	GMimeObject *cur = g_mime_message_get_mime_part(msg);
	GMimeMessage *holder = msg;
	const char *p = mpath;
	unsigned level = 0;

	for (;;) {
		unsigned long n = 0;

		if (!g_ascii_isdigit(*p) || cur == NULL ||
		    ++level > MOD_MAX_DEPTH)
			return -1;
		while (g_ascii_isdigit(*p) && n < 1000000)
			n = n * 10 + (unsigned long)(*p++ - '0');
		if (*p != '\0' && *p != '.')
			return -1;
		if (GMIME_IS_MULTIPART(cur)) {
			GMimeMultipart *mp = GMIME_MULTIPART(cur);

			if (n < 1 ||
			    n > (unsigned long)g_mime_multipart_get_count(mp))
				return -1;
			slot_r->parent = mp;
			slot_r->index = (int)n - 1;
			slot_r->holder = NULL;
			slot_r->obj = g_mime_multipart_get_part(mp, (int)n - 1);
		} else {
			if (n != 1)
				return -1;
			slot_r->parent = NULL;
			slot_r->index = 0;
			slot_r->holder = holder;
			slot_r->obj = cur;
		}
		if (*p == '\0')
			return 0;
		p++;
		if (GMIME_IS_MULTIPART(slot_r->obj)) {
			cur = slot_r->obj;
		} else if (GMIME_IS_MESSAGE_PART(slot_r->obj)) {
			holder = g_mime_message_part_get_message(
			    GMIME_MESSAGE_PART(slot_r->obj));
			if (holder == NULL)
				return -1;
			cur = g_mime_message_get_mime_part(holder);
		} else {
			return -1;
		}
	}
}

static void mod_replace(const struct mod_slot *s, const char *note)
{
	GMimeTextPart *tp = g_mime_text_part_new_with_subtype("plain");
	GMimeObject *old;

	mod_set_text(GMIME_PART(tp), note, strlen(note));
	g_mime_object_set_disposition(GMIME_OBJECT(tp), "inline");
	if (s->parent != NULL) {
		old = g_mime_multipart_replace(s->parent, s->index,
					       GMIME_OBJECT(tp));
		if (old != NULL)
			g_object_unref(old);
	} else {
		g_mime_message_set_mime_part(s->holder, GMIME_OBJECT(tp));
	}
	g_object_unref(tp);
}

/* One sentence of a note: what was removed, why, by which rule. */
static void mod_note_line(GString *note, GMimeObject *obj, const char *mpath,
			  const char *member, const char *rule)
{
	const char *fname = mod_filename(obj);
	char *name = mod_clean(fname, MOD_VALUE_MAX, MOD_NOBIDI);
	char *mem =
	    member ? mod_clean(member, MOD_VALUE_MAX, MOD_NOBIDI) : NULL;
	char *r =
	    rule && *rule ? mod_clean(rule, MOD_VALUE_MAX, MOD_NOBIDI) : NULL;
	GString *line = g_string_new(NULL);

	if (*name != '\0')
		g_string_append_printf(
		    line, "vigil removed the attachment \"%s\"", name);
	else
		g_string_append_printf(
		    line, "vigil removed an attachment (part %s)", mpath);
	if (mem != NULL && *mem != '\0')
		g_string_append_printf(line, " because it contains \"%s\"",
				       mem);
	if (r != NULL)
		g_string_append_printf(line, " (rule: %s)", r);
	g_string_append(line, ".\n");
	if (strstr(note->str, line->str) == NULL) /* same file, same rule */
		g_string_append(note, line->str);
	g_string_free(line, TRUE);
	g_free(r);
	g_free(mem);
	g_free(name);
}

/* The member a strip path names inside the part's archive: the path
 * after "MPATH/NAME/" (or after "MPATH/" when the name differs). */
static const char *mod_member(const char *path, size_t mlen, GMimeObject *obj)
{
	const char *rest = path + mlen, *name = mod_filename(obj);
	size_t nl = name ? strlen(name) : 0;

	if (*rest != '/')
		return NULL;
	rest++;
	if (nl && strncmp(rest, name, nl) == 0 && rest[nl] == '/')
		rest += nl + 1;
	return *rest ? rest : NULL;
}

/* Does the MIME path `a` (length al) contain or equal the one of `b`? */
static int mod_path_within(const char *a, size_t al, const char *b, size_t bl)
{
	return al <= bl && strncmp(a, b, al) == 0 && (bl == al || b[al] == '.');
}

/* Strips are grouped by the outermost MIME part they remove: one note per
 * removed part, one line per (member, rule). */
static void mod_strip_paths(GMimeMessage *msg, const struct modify_plan *p)
{
	size_t *mlen = g_new(size_t, p->n_strips);
	size_t i, j, lines, more, before;

	for (i = 0; i < p->n_strips; i++) {
		const char *path = p->strips[i].path ? p->strips[i].path : "";
		const char *slash = strchr(path, '/');

		mlen[i] = slash ? (size_t)(slash - path) : strlen(path);
	}
	for (i = 0; i < p->n_strips; i++) {
		const char *key = p->strips[i].path;
		struct mod_slot slot;
		GString *note;
		char *mpath;
		int outer = 1;

		if (key == NULL)
			continue;
		/* handled with the first strip of an enclosing (or the same)
		 * part */
		for (j = 0; j < p->n_strips && outer; j++) {
			const char *o = p->strips[j].path;

			if (j == i || o == NULL)
				continue;
			if (mod_path_within(o, mlen[j], key, mlen[i]) &&
			    (mlen[j] < mlen[i] || j < i))
				outer = 0;
		}
		if (!outer)
			continue;
		mpath = g_strndup(key, mlen[i]);
		if (mod_resolve(msg, mpath, &slot) != 0) {
			g_free(mpath);
			continue; /* not in this message: nothing to remove */
		}
		note = g_string_new(NULL);
		for (j = 0, lines = 0, more = 0; j < p->n_strips; j++) {
			const char *o = p->strips[j].path;

			if (o == NULL ||
			    !mod_path_within(key, mlen[i], o, mlen[j]))
				continue;
			if (lines == MOD_NOTE_LINES) {
				more++;
				continue;
			}
			before = note->len;
			mod_note_line(note, slot.obj, mpath,
				      mlen[j] == mlen[i]
					  ? mod_member(o, mlen[j], slot.obj)
					  : NULL,
				      p->strips[j].rule);
			lines += note->len > before;
		}
		if (more)
			g_string_append_printf(
			    note, "(and %zu more matches in it)\n", more);
		mod_replace(&slot, note->str);
		g_string_free(note, TRUE);
		g_free(mpath);
	}
	g_free(mlen);
}

static void mod_strip_one(const struct mod_slot *s, const char *rule,
			  const char *mpath)
{
	GString *note = g_string_new(NULL);

	mod_note_line(note, s->obj, mpath, NULL, rule);
	mod_replace(s, note->str);
	g_string_free(note, TRUE);
}

static void mod_strip_all(GMimeMessage *holder, const char *rule,
			  unsigned level);

/* Strip or descend into what sits in `s`; `mpath` names it in notes. */
static void mod_strip_all_at(const struct mod_slot *s, const char *rule,
			     const char *mpath, unsigned level)
{
	if (s->obj == NULL || level > MOD_MAX_DEPTH)
		return;
	if (mod_is_strippable(s->obj)) {
		mod_strip_one(s, rule, mpath);
	} else if (GMIME_IS_MULTIPART(s->obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(s->obj);
		int i, n = g_mime_multipart_get_count(mp);

		for (i = 0; i < n; i++) {
			struct mod_slot c = {g_mime_multipart_get_part(mp, i),
					     mp, i, NULL};
			char *cpath =
			    *mpath ? g_strdup_printf("%s.%d", mpath, i + 1)
				   : g_strdup_printf("%d", i + 1);

			mod_strip_all_at(&c, rule, cpath, level + 1);
			g_free(cpath);
		}
	} else if (GMIME_IS_MESSAGE_PART(s->obj)) {
		GMimeMessage *inner =
		    g_mime_message_part_get_message(GMIME_MESSAGE_PART(s->obj));

		if (inner != NULL)
			mod_strip_all(inner, rule, level + 1);
	}
}

static void mod_strip_all(GMimeMessage *holder, const char *rule,
			  unsigned level)
{
	struct mod_slot s = {g_mime_message_get_mime_part(holder), NULL, 0,
			     holder};

	mod_strip_all_at(&s, rule, "", level);
}

/* ---- the modified message ---- */

/* A tree of our own, parsed from m->raw in place like msg_new() does:
 * *arr_r borrows the bytes; free it with g_byte_array_free(arr, FALSE)
 * after the tree (GMime's memory streams do not reference it). */
static GMimeMessage *mod_parse(struct msg *m, GByteArray **arr_r)
{
	GMimeStream *st;
	GMimeParser *parser;
	GMimeMessage *msg;

	*arr_r = NULL;
	if (m->raw == NULL || m->raw_size == 0 || m->raw_size > G_MAXUINT)
		return NULL;
	*arr_r = g_byte_array_new_take(m->raw, m->raw_size);
	st = g_mime_stream_mem_new_with_byte_array(*arr_r);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(st), FALSE);
	parser = g_mime_parser_new_with_stream(st);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	msg = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	g_object_unref(st);
	return msg;
}

/* The message as bytes, with GMime's default LF line ends (it turns a
 * CRLF original's into LF too). The buffer is g_malloc()ed, which is
 * malloc() since GLib 2.46. */
static unsigned char *mod_serialise(GMimeObject *obj, size_t *size_r)
{
	GByteArray *arr = g_byte_array_new();
	GMimeStream *mem = g_mime_stream_mem_new_with_byte_array(arr);
	ssize_t n;

	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
	n = g_mime_object_write_to_stream(obj, NULL, mem);
	g_object_unref(mem);
	if (n < 0 || arr->len == 0) {
		g_byte_array_free(arr, TRUE);
		return NULL;
	}
	*size_r = arr->len;
	return g_byte_array_free(arr, FALSE);
}

unsigned char *msg_modify(struct msg *m, const struct modify_plan *p,
			  size_t *size_r, char **error_r)
{
	struct mod_stamps st;
	GMimeMessage *msg = NULL;
	GByteArray *arr = NULL;
	unsigned char *out;

	*size_r = 0;
	if (error_r != NULL)
		*error_r = NULL;
	if (m->mime != NULL)
		msg = mod_parse(m, &arr);
	if (msg == NULL) {
		if (arr != NULL)
			g_byte_array_free(arr, FALSE); /* not m->raw */
		if (error_r != NULL)
			*error_r = xstrdup(
			    "message could not be parsed; not modified");
		return NULL;
	}
	if (p != NULL) {
		if (p->tag_subject.n)
			mod_tag_subject(msg, &p->tag_subject);
		if (p->x_header != NULL && *p->x_header != '\0')
			mod_x_header(msg, p->x_header);
		/* stamps first: the notes strips leave are not stamped */
		mod_stamps_init(&st, p);
		if (st.top_text != NULL || st.bottom_text != NULL)
			mod_stamp_walk(g_mime_message_get_mime_part(msg), &st,
				       0);
		mod_stamps_free(&st);
		if (p->n_strips)
			mod_strip_paths(msg, p);
		if (p->strip_all)
			mod_strip_all(msg, p->strip_all_rule, 0);
	}
	out = mod_serialise(GMIME_OBJECT(msg), size_r);
	g_object_unref(msg);
	g_byte_array_free(arr, FALSE); /* not m->raw */
	if (out == NULL && error_r != NULL)
		*error_r = xstrdup("could not serialise the modified message");
	return out;
}

/* ---- notifications ---- */

char *notify_expand(const char *tmpl, const struct notify_vars *v,
		    int header_mode)
{
	static const char *const names[] = {"SENDER",	"RCPTS",    "SUBJECT",
					    "FILENAME", "RULENAME", "DETECTED",
					    "MAILID",	"DATE",	    "ACTION"};
	const char *values[G_N_ELEMENTS(names)] = {NULL};
	GString *out = g_string_new(NULL);
	const char *p = tmpl ? tmpl : "";
	char *clean, *ret;

	if (v != NULL) {
		values[0] = v->sender;
		values[1] = v->rcpts;
		values[2] = v->subject;
		values[3] = v->filename;
		values[4] = v->rulename;
		values[5] = v->detected;
		values[6] = v->mailid;
		values[7] = v->date;
		values[8] = v->action;
	}
	while (*p) {
		const char *q = p + 1;
		size_t i, len;

		if (*p != '%') {
			g_string_append_c(out, *p++);
			continue;
		}
		if (*q == '%') {
			g_string_append_c(out, '%');
			p += 2;
			continue;
		}
		while ((*q >= 'A' && *q <= 'Z') || *q == '_')
			q++;
		len = (size_t)(q - p - 1);
		if (*q != '%' || len == 0) {
			g_string_append_c(out, '%'); /* a lone percent sign */
			p++;
			continue;
		}
		for (i = 0; i < G_N_ELEMENTS(names); i++)
			if (strlen(names[i]) == len &&
			    memcmp(names[i], p + 1, len) == 0)
				break;
		if (i < G_N_ELEMENTS(names)) {
			char *val = mod_clean(
			    values[i], NOTIFY_VALUE_MAX,
			    MOD_NOBIDI | (header_mode ? 0 : MOD_LINES));

			g_string_append(out, val);
			g_free(val);
		} else {
			g_string_append_len(out, p, q - p + 1); /* unknown */
		}
		p = q + 1;
	}
	/* the template's own line ends too: a header is one line */
	clean = mod_clean(out->str, G_MAXSIZE, header_mode ? 0 : MOD_LINES);
	g_string_free(out, TRUE);
	ret = xstrdup(clean);
	g_free(clean);
	return ret;
}

/* Addresses as given ("Name <a@b>", "a@b, c@d"), or, when GMime cannot
 * read them, as one bare mailbox. */
static void notify_add_addresses(InternetAddressList *list, const char *s)
{
	char *clean = mod_clean(s, MOD_VALUE_MAX, 0);
	InternetAddressList *parsed = internet_address_list_parse(NULL, clean);

	if (parsed != NULL && internet_address_list_length(parsed) > 0)
		internet_address_list_append(list, parsed);
	else if (*clean != '\0') {
		InternetAddress *ia = internet_address_mailbox_new(NULL, clean);

		internet_address_list_add(list, ia);
		g_object_unref(ia);
	}
	if (parsed != NULL)
		g_object_unref(parsed);
	g_free(clean);
}

/* The Message-ID's right-hand side: the sender's domain, else "vigil". */
static char *notify_id_domain(InternetAddressList *from)
{
	InternetAddress *ia;
	const char *addr, *at, *c;

	if (internet_address_list_length(from) < 1)
		return g_strdup("vigil");
	ia = internet_address_list_get_address(from, 0);
	if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
		return g_strdup("vigil");
	addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
	at = addr ? strrchr(addr, '@') : NULL;
	if (at == NULL || at[1] == '\0' || strlen(at + 1) > 253)
		return g_strdup("vigil");
	for (c = at + 1; *c; c++)
		if (!g_ascii_isalnum(*c) && *c != '-' && *c != '.')
			return g_strdup("vigil");
	return g_ascii_strdown(at + 1, -1);
}

unsigned char *notify_build(const char *from, const char *const *to,
			    size_t n_to, const char *subject_tmpl,
			    const char *body_tmpl, const struct notify_vars *v,
			    size_t *size_r)
{
	GMimeMessage *msg = g_mime_message_new(TRUE);
	GMimeTextPart *tp = g_mime_text_part_new_with_subtype("plain");
	GDateTime *now = g_date_time_new_now_local();
	char *subject = notify_expand(subject_tmpl, v, 1);
	char *body = notify_expand(body_tmpl, v, 0);
	char *domain, *id;
	GString *text;
	unsigned char *out;
	size_t i;

	*size_r = 0;
	notify_add_addresses(g_mime_message_get_from(msg),
			     from ? from : "vigil@localhost");
	for (i = 0; i < n_to; i++)
		if (to[i] != NULL)
			notify_add_addresses(g_mime_message_get_to(msg), to[i]);
	g_mime_message_set_subject(msg, subject, "utf-8");
	g_mime_message_set_date(msg, now);
	domain = notify_id_domain(g_mime_message_get_from(msg));
	id = g_mime_utils_generate_message_id(domain);
	g_mime_message_set_message_id(msg, id);
	/* RFC 3834: no auto-replies to this */
	g_mime_object_append_header(GMIME_OBJECT(msg), "Auto-Submitted",
				    "auto-generated", NULL);

	text = g_string_new(body);
	if (text->len == 0 || text->str[text->len - 1] != '\n')
		g_string_append_c(text, '\n');
	mod_set_text(GMIME_PART(tp), text->str, text->len);
	g_mime_message_set_mime_part(msg, GMIME_OBJECT(tp));
	out = mod_serialise(GMIME_OBJECT(msg), size_r);

	g_string_free(text, TRUE);
	g_free(id);
	g_free(domain);
	free(body);
	free(subject);
	g_date_time_unref(now);
	g_object_unref(tp);
	g_object_unref(msg);
	return out;
}
