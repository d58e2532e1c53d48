/*
 * snap_html.c - SNAP's look at an HTML body or attachment, through
 * libxml2's HTML parser (recovering, no network) driven as a SAX parser:
 * the document is read as a stream of events, no tree is built.
 *
 * PURPOSE: what a reader sees and what the markup does behind it: links
 * whose visible text shows another domain than the href, data: and
 * javascript: links, forms asking for a password or a card, text hidden
 * by a zero-size font or a colour equal to its background, the visible
 * text (for the language checks) and every link (for the URL checks and
 * the Virtual Analyzer).
 *
 * The events are read as the tree htmlReadMemory builds from them (the
 * parser is set up as htmlReadMemory sets it up): characters between two
 * other events are one text node, text outside any element is dropped, a
 * link's text is all the text below its element, a link's text is judged
 * in document order of the links. So the findings are those of a walk
 * over that tree, without building and freeing it (half of SNAP's time).
 *
 * NEVER: fetches anything, follows nesting deeper than HTML_MAX_DEPTH,
 * or parses more than HTML_MAX_SIZE bytes of one document.
 */
#include "snap.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/HTMLparser.h>
#include <libxml/parserInternals.h>
#include <libxml/encoding.h>

#define HTML_MAX_DEPTH 128
#define HTML_MAX_SIZE (2u << 20)
/* links open at once (a frame inside a link ...); more are not judged */
#define HTML_MAX_LINKS 8
/* a link's text kept: snap_text_host() reads at most 2000 bytes */
#define LINK_TEXT_MAX 2048

/* A colour as 0xRRGGBB, or -1 when unknown (an image, "inherit"...). */
typedef long colour;

/* What an element passes on to its children. */
struct style {
	colour fg; /* -1: the default (black) */
	colour bg; /* -1: unknown (an image behind it) */
	int tiny;  /* font-size under 2px/pt, or 0 */
	int none;  /* display:none, visibility:hidden, opacity:0 */
};

/* An open element. */
struct frame {
	struct style st;
	int skip; /* not walked: script, style, title, head, noscript */
};

/* An open link whose text is still being read. */
struct link {
	int depth;    /* of its element */
	unsigned seq; /* its place among the links, in document order */
	char host[256];
	char text[LINK_TEXT_MAX + 1];
	size_t len;
	int long_tail; /* text past LINK_TEXT_MAX other than trailing blanks */
};

struct walk {
	const struct snap_config *cfg;
	struct snap_html *out;
	struct snap_buf *text;
	struct snap_result *r;
	size_t hidden_tiny, hidden_colour, hidden_none;
	int in_form;
	int password;
	char field[48];
	/* the elements open: frames[0 .. depth - 1], those deeper than
	 * HTML_MAX_DEPTH only counted */
	int depth;
	struct frame frames[HTML_MAX_DEPTH];
	/* the text node being read (its element walked): visible characters
	 * so far, and its start while it has none (blanks, no-break spaces) */
	int in_text;
	size_t text_vis;
	struct snap_buf pending;
	/* links: the open ones, the first (in document order) whose text
	 * shows another domain */
	struct link links[HTML_MAX_LINKS];
	int n_links;
	unsigned link_seq, mismatch_seq;
	char mismatch[sizeof((struct snap_html *)0)->link_text];
};

static colour parse_colour(const char *s, size_t n)
{
	static const struct {
		const char *name;
		colour c;
	} named[] = {{"white", 0xffffff}, {"black", 0},     {"red", 0xff0000},
		     {"snow", 0xfffafa},  {"ivory", 0xfffff0}, {"blue", 0xff},
		     {"silver", 0xc0c0c0}, {"gray", 0x808080}, {"grey", 0x808080}};
	while (n > 0 && isspace((unsigned char)*s))
		s++, n--;
	while (n > 0 && (isspace((unsigned char)s[n - 1]) || s[n - 1] == ';'))
		n--;
	if (n > 10 && strncasecmp(s + n - 10, "!important", 10) == 0) {
		n -= 10;
		while (n > 0 && isspace((unsigned char)s[n - 1]))
			n--;
	}
	if (n == 0)
		return -1;
	if (*s == '#' || isxdigit((unsigned char)*s)) {
		const char *h = *s == '#' ? s + 1 : s;
		size_t hl = n - (size_t)(h - s);
		char buf[7];
		if (hl != 3 && hl != 6)
			goto names;
		for (size_t i = 0; i < hl; i++)
			if (!isxdigit((unsigned char)h[i]))
				goto names;
		if (hl == 3) {
			for (int i = 0; i < 3; i++)
				buf[2 * i] = buf[2 * i + 1] = h[i];
		} else {
			memcpy(buf, h, 6);
		}
		buf[6] = '\0';
		return strtol(buf, NULL, 16);
	}
	if (n > 4 && strncasecmp(s, "rgb(", 4) == 0) {
		unsigned r, g, b;
		if (sscanf(s + 4, "%u ,%u ,%u", &r, &g, &b) == 3 && r < 256 &&
		    g < 256 && b < 256)
			return (colour)(r << 16 | g << 8 | b);
		return -1;
	}
	if (n == 11 && strncasecmp(s, "transparent", 11) == 0)
		return -2;
names:
	for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
		if (strlen(named[i].name) == n &&
		    strncasecmp(s, named[i].name, n) == 0)
			return named[i].c;
	return -1;
}

static int colours_alike(colour a, colour b)
{
	if (a < 0 || b < 0)
		return 0;
	long d = labs((a >> 16) - (b >> 16)) + labs(((a >> 8) & 255) - ((b >> 8) & 255)) +
		 labs((a & 255) - (b & 255));
	return d <= 24;
}

/* Font sizes under 2px/pt (or 0 in any unit) hide their text. */
static int tiny_size(const char *v, size_t n)
{
	char buf[32];
	if (n >= sizeof buf)
		return 0;
	memcpy(buf, v, n);
	buf[n] = '\0';
	char *end;
	double x = strtod(buf, &end);
	if (end == buf)
		return 0;
	while (isspace((unsigned char)*end))
		end++;
	if (x <= 0.0)
		return 1;
	if (strncasecmp(end, "px", 2) == 0 || strncasecmp(end, "pt", 2) == 0)
		return x < 2.0;
	return 0;
}

/* Apply a style="" attribute to what the element inherits. */
static void apply_css(struct style *st, const char *css)
{
	const char *p = css;
	while (*p) {
		const char *semi = strchr(p, ';');
		size_t len = semi ? (size_t)(semi - p) : strlen(p);
		const char *colon = memchr(p, ':', len);
		if (colon != NULL) {
			const char *k = p;
			size_t kl = (size_t)(colon - p);
			while (kl > 0 && isspace((unsigned char)*k))
				k++, kl--;
			while (kl > 0 && isspace((unsigned char)k[kl - 1]))
				kl--;
			const char *v = colon + 1;
			size_t vl = len - (size_t)(v - p);
			while (vl > 0 && isspace((unsigned char)*v))
				v++, vl--;
#define KEY(s) (kl == sizeof(s) - 1 && strncasecmp(k, s, kl) == 0)
			if (KEY("color")) {
				colour c = parse_colour(v, vl);
				if (c != -1)
					st->fg = c;
			} else if (KEY("background-color")) {
				colour c = parse_colour(v, vl);
				st->bg = c == -2 ? st->bg : c;
			} else if (KEY("background")) {
				/* "url(...)" or anything but a plain colour
				 * hides what is behind */
				colour c = parse_colour(v, vl);
				st->bg = c == -2 ? st->bg : c;
			} else if (KEY("font-size")) {
				st->tiny = tiny_size(v, vl);
			} else if (KEY("display")) {
				if (vl >= 4 && strncasecmp(v, "none", 4) == 0)
					st->none = 1;
			} else if (KEY("visibility")) {
				if (vl >= 6 && strncasecmp(v, "hidden", 6) == 0)
					st->none = 1;
			} else if (KEY("opacity")) {
				if (tiny_size(v, vl) && v[0] == '0')
					st->none = 1;
			}
#undef KEY
		}
		if (semi == NULL)
			break;
		p = semi + 1;
	}
}

/* The attributes the walk reads. */
struct attrs {
	const char *bgcolor, *background, *color, *text, *style, *hidden;
	const char *href, *action, *type, *name, *id, *src;
};

/* ASCII case-insensitive equality with a lower-case name. */
static int is(const xmlChar *s, const char *lower)
{
	for (; *lower; s++, lower++)
		if ((*s >= 'A' && *s <= 'Z' ? *s + 32 : *s) != *lower)
			return 0;
	return *s == '\0';
}

/* The attributes' values, in one pass, as the tree would have them: the
 * first one of each name; one without a value has none. */
static void read_attrs(const xmlChar **atts, struct attrs *a)
{
	memset(a, 0, sizeof *a);
	for (; atts != NULL && atts[0] != NULL; atts += 2) {
		const xmlChar *n = atts[0];
		const char *v = (const char *)atts[1];
		const char **slot = NULL;
		if (v == NULL)
			continue;
		switch (*n | 0x20) {
		case 'a':
			slot = is(n, "action") ? &a->action : NULL;
			break;
		case 'b':
			slot = is(n, "bgcolor")	     ? &a->bgcolor
			       : is(n, "background") ? &a->background
						     : NULL;
			break;
		case 'c':
			slot = is(n, "color") ? &a->color : NULL;
			break;
		case 'h':
			slot = is(n, "href")	 ? &a->href
			       : is(n, "hidden") ? &a->hidden
						 : NULL;
			break;
		case 'i':
			slot = is(n, "id") ? &a->id : NULL;
			break;
		case 'n':
			slot = is(n, "name") ? &a->name : NULL;
			break;
		case 's':
			slot = is(n, "style") ? &a->style
			       : is(n, "src") ? &a->src
					      : NULL;
			break;
		case 't':
			slot = is(n, "text")   ? &a->text
			       : is(n, "type") ? &a->type
					       : NULL;
			break;
		default:
			break;
		}
		if (slot != NULL && *slot == NULL)
			*slot = v;
	}
}

static size_t visible_chars(const xmlChar *s, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += !isspace(s[i]) && s[i] != 0xc2 && s[i] != 0xa0;
	return k;
}

/* ---- links ---- */

/* A link: note its URL, its scheme, and start reading its text (judged
 * when the element ends, see link_end). */
static void see_link(struct walk *w, const char *href)
{
	while (isspace((unsigned char)*href))
		href++;
	/* script links that go somewhere or read the cookies; plain
	 * javascript:popUp(...) links were common in newsletters */
	int script = strncasecmp(href, "javascript:", 11) == 0 ||
		     strncasecmp(href, "vbscript:", 9) == 0;
	if (script && strcasestr(href, "location") == NULL &&
	    strcasestr(href, "cookie") == NULL && strcasestr(href, "atob(") == NULL &&
	    strcasestr(href, "unescape(") == NULL && strcasestr(href, "eval(") == NULL)
		return;
	if (script || strncasecmp(href, "data:", 5) == 0) {
		if (!w->out->data_uri[0])
			snprintf(w->out->data_uri, sizeof w->out->data_uri,
				 "%.40s", href);
		return;
	}
	char host[256];
	if (!snap_url_host(href, strlen(href), host, sizeof host))
		return;
	snap_add_url(w->r, href, strlen(href));
	unsigned seq = w->link_seq++;
	/* an earlier link already showed another domain */
	if (w->mismatch[0] || w->n_links >= HTML_MAX_LINKS)
		return;
	struct link *l = &w->links[w->n_links++];
	l->depth = w->depth - 1;
	l->seq = seq;
	memcpy(l->host, host, sizeof l->host);
	l->len = 0;
	l->long_tail = 0;
}

/* Text below the open links. Kept as snap_text_host() will read it:
 * leading blanks and brackets dropped, at most LINK_TEXT_MAX bytes and
 * whether what follows is more than trailing blanks and brackets. */
static void links_add(struct walk *w, const xmlChar *s, size_t n)
{
	for (int k = 0; k < w->n_links; k++) {
		struct link *l = &w->links[k];
		for (size_t i = 0; i < n; i++) {
			unsigned char c = s[i];
			if (l->len == 0 &&
			    (isspace(c) || c == '<' || c == '[' || c == '('))
				continue;
			if (l->len < LINK_TEXT_MAX)
				l->text[l->len++] = (char)c;
			else if (!isspace(c) && c != '>' && c != ']' &&
				 c != ')' && c != '.')
				l->long_tail = 1;
		}
	}
}

/* The innermost open link ends: does its text show another domain? The
 * first link in document order that does is the one reported. */
static void link_end(struct walk *w)
{
	struct link *l = &w->links[--w->n_links];
	char shown[256];
	l->text[l->len] = '\0';
	if (l->long_tail || (w->mismatch[0] && w->mismatch_seq < l->seq))
		return;
	if (snap_text_host(l->text, shown, sizeof shown) &&
	    !snap_same_org(shown, l->host)) {
		snprintf(w->mismatch, sizeof w->mismatch, "%.50s->%.60s", shown,
			 l->host);
		w->mismatch_seq = l->seq;
	}
}

static int sensitive_field(const char *s)
{
	static const char *const words[] = {"pass", "pwd", "cvv", "cvc",
					    "ssn", "cardnumber", "card_number",
					    "ccnum", "pin", NULL};
	if (s == NULL)
		return 0;
	char low[64];
	size_t n = strlen(s);
	if (n >= sizeof low)
		n = sizeof low - 1;
	for (size_t i = 0; i < n; i++)
		low[i] = (char)tolower((unsigned char)s[i]);
	low[n] = '\0';
	for (const char *const *wd = words; *wd; wd++)
		if (strcmp(*wd, "pin") == 0 ? strcmp(low, "pin") == 0
					    : strstr(low, *wd) != NULL)
			return 1;
	return 0;
}

/* ---- text ---- */

/* Characters of the current text node, its element walked. */
static void text_add(struct walk *w, const xmlChar *s, size_t n)
{
	const struct style *st = &w->frames[w->depth - 1].st;
	size_t vis = visible_chars(s, n);
	int shown = !st->none && !st->tiny && st->fg != -2 &&
		    !colours_alike(st->fg < 0 ? 0 : st->fg, st->bg);
	w->in_text = 1;
	if (shown && w->text_vis == 0 && vis == 0) {
		/* blanks so far: they count only if something follows */
		snap_buf_add(&w->pending, (const char *)s, n);
		return;
	}
	if (shown && w->text_vis == 0 && w->pending.len > 0) {
		snap_buf_add(w->text, w->pending.p, w->pending.len);
		w->pending.len = 0;
	}
	w->text_vis += vis;
	if (shown)
		snap_buf_add(w->text, (const char *)s, n);
}

/* The current text node ends (any other event). */
static void text_end(struct walk *w)
{
	if (!w->in_text)
		return;
	const struct style *st = &w->frames[w->depth - 1].st;
	if (w->text_vis > 0) {
		if (st->none)
			w->hidden_none += w->text_vis;
		else if (st->tiny)
			w->hidden_tiny += w->text_vis;
		else if (st->fg == -2 ||
			 colours_alike(st->fg < 0 ? 0 : st->fg, st->bg))
			w->hidden_colour += w->text_vis;
		else
			snap_buf_add(w->text, " ", 1);
	}
	w->in_text = 0;
	w->text_vis = 0;
	w->pending.len = 0;
}

/* Is the element the next characters belong to walked? */
static int walked(const struct walk *w)
{
	return w->depth > 0 && w->depth <= HTML_MAX_DEPTH &&
	       !w->frames[w->depth - 1].skip;
}

/* ---- the SAX handlers ---- */

static void on_start(void *ctx, const xmlChar *name, const xmlChar **atts)
{
	struct walk *w = ctx;
	text_end(w);
	int d = w->depth++;
	if (d >= HTML_MAX_DEPTH)
		return;
	struct frame *f = &w->frames[d];
	if ((d > 0 && w->frames[d - 1].skip) || is(name, "script") ||
	    is(name, "style") || is(name, "title") || is(name, "head") ||
	    is(name, "noscript")) {
		f->skip = 1;
		return;
	}
	f->skip = 0;
	struct style cs = {.fg = -1, .bg = 0xffffff};
	if (d > 0)
		cs = w->frames[d - 1].st;
	struct attrs a;
	read_attrs(atts, &a);
	const char *v;
	if ((v = a.bgcolor) != NULL) {
		colour c = parse_colour(v, strlen(v));
		cs.bg = c == -2 ? cs.bg : c;
	}
	if (a.background != NULL)
		cs.bg = -1;
	if (is(name, "font") && (v = a.color) != NULL)
		cs.fg = parse_colour(v, strlen(v));
	if (is(name, "body") && (v = a.text) != NULL)
		cs.fg = parse_colour(v, strlen(v));
	if ((v = a.style) != NULL)
		apply_css(&cs, v);
	if (a.hidden != NULL)
		cs.none = 1;
	f->st = cs;
	if (is(name, "a") && (v = a.href) != NULL)
		see_link(w, v);
	if (is(name, "form")) {
		w->in_form = 1;
		if ((v = a.action) != NULL) {
			char host[256];
			if (snap_url_host(v, strlen(v), host, sizeof host))
				snap_add_url(w->r, v, strlen(v));
			else if (strncasecmp(v, "data:", 5) == 0 &&
				 !w->out->data_uri[0])
				snprintf(w->out->data_uri,
					 sizeof w->out->data_uri,
					 "form action %.30s", v);
		}
	}
	if (is(name, "input")) {
		const char *type = a.type;
		const char *nm = a.name;
		if (nm == NULL)
			nm = a.id;
		if (type && strcasecmp(type, "password") == 0) {
			w->password = 1;
			snprintf(w->field, sizeof w->field,
				 "password field '%.24s'", nm ? nm : "");
		} else if (!w->field[0] && sensitive_field(nm) &&
			   (type == NULL || strcasecmp(type, "hidden") != 0)) {
			snprintf(w->field, sizeof w->field, "field '%.30s'",
				 nm);
		}
	}
	/* a frame or an iframe fetching a page is a link too */
	if ((is(name, "iframe") || is(name, "frame")) && (v = a.src) != NULL)
		see_link(w, v);
}

static void on_end(void *ctx, const xmlChar *name)
{
	struct walk *w = ctx;
	(void)name;
	text_end(w);
	if (w->depth == 0)
		return;
	w->depth--;
	while (w->n_links > 0 && w->links[w->n_links - 1].depth >= w->depth)
		link_end(w);
}

static void on_characters(void *ctx, const xmlChar *s, int n)
{
	struct walk *w = ctx;
	if (n <= 0)
		return;
	if (w->n_links > 0)
		links_add(w, s, (size_t)n);
	if (walked(w))
		text_add(w, s, (size_t)n);
}

/* Script and style content: never walked (their elements are not), but
 * part of a link's text; a node of its own in the tree. */
static void on_cdata(void *ctx, const xmlChar *s, int n)
{
	struct walk *w = ctx;
	text_end(w);
	if (n > 0 && w->n_links > 0)
		links_add(w, s, (size_t)n);
}

/* Comments and processing instructions: nodes of their own, so they end
 * a text node. */
static void on_comment(void *ctx, const xmlChar *value)
{
	(void)value;
	text_end(ctx);
}

static void on_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
	(void)target, (void)data;
	text_end(ctx);
}

void snap_html_init(void)
{
	xmlInitParser();
}

void snap_html_scan(const struct snap_config *cfg, const char *data,
		    size_t size, const char *charset, struct snap_html *out,
		    struct snap_buf *text, struct snap_result *r)
{
	if (size > HTML_MAX_SIZE)
		size = HTML_MAX_SIZE;
	if (size == 0)
		return;
	const char *enc = NULL;
	if (charset != NULL && xmlParseCharEncoding(charset) != XML_CHAR_ENCODING_ERROR)
		enc = charset;
	/* set up as htmlReadMemory() does, our handlers for its tree
	 * builder's */
	xmlParserCtxtPtr ctxt = xmlCreateMemoryParserCtxt(data, (int)size);
	if (ctxt == NULL)
		return;
	struct walk *w = malloc(sizeof *w);
	if (w == NULL || ctxt->sax == NULL) {
		free(w);
		xmlFreeParserCtxt(ctxt);
		return;
	}
	w->cfg = cfg;
	w->out = out;
	w->text = text;
	w->r = r;
	w->hidden_tiny = w->hidden_colour = w->hidden_none = 0;
	w->in_form = w->password = 0;
	w->field[0] = '\0';
	w->depth = 0;
	w->in_text = 0;
	w->text_vis = 0;
	w->pending = (struct snap_buf){0};
	w->n_links = 0;
	w->link_seq = w->mismatch_seq = 0;
	w->mismatch[0] = '\0';

	memset(ctxt->sax, 0, sizeof(xmlSAXHandlerV1));
	ctxt->sax->startElement = on_start;
	ctxt->sax->endElement = on_end;
	ctxt->sax->characters = on_characters;
	ctxt->sax->cdataBlock = on_cdata;
	ctxt->sax->comment = on_comment;
	ctxt->sax->processingInstruction = on_pi;
	ctxt->sax->initialized = 1;
	ctxt->userData = w;
	htmlCtxtUseOptions(ctxt, HTML_PARSE_RECOVER | HTML_PARSE_NOERROR |
				     HTML_PARSE_NOWARNING | HTML_PARSE_NONET |
				     HTML_PARSE_COMPACT);
	ctxt->html = 1;
	if (enc != NULL) {
		xmlCharEncodingHandlerPtr h = xmlFindCharEncodingHandler(enc);
		if (h != NULL) {
			xmlSwitchToEncoding(ctxt, h);
			if (ctxt->input->encoding != NULL)
				xmlFree((xmlChar *)ctxt->input->encoding);
			ctxt->input->encoding = xmlStrdup((const xmlChar *)enc);
		}
	}
	htmlParseDocument(ctxt);
	text_end(w);
	while (w->n_links > 0)
		link_end(w);
	if (ctxt->myDoc != NULL)
		xmlFreeDoc(ctxt->myDoc);
	ctxt->myDoc = NULL;
	xmlFreeParserCtxt(ctxt);

	if (w->mismatch[0])
		snprintf(out->link_text, sizeof out->link_text, "%s",
			 w->mismatch);
	if (w->in_form && (w->password || w->field[0]))
		snprintf(out->form, sizeof out->form, "form with %s", w->field);
	else if (w->password)
		snprintf(out->form, sizeof out->form, "%s", w->field);
	if (w->hidden_tiny >= 20)
		snprintf(out->hidden, sizeof out->hidden,
			 "%zu chars in zero-size font", w->hidden_tiny);
	else if (w->hidden_colour >= 20)
		snprintf(out->hidden, sizeof out->hidden,
			 "%zu chars coloured like their background",
			 w->hidden_colour);
	else if (w->hidden_none >= 400)
		snprintf(out->hidden, sizeof out->hidden,
			 "%zu chars not displayed", w->hidden_none);
	snap_buf_free(&w->pending);
	free(w);
}
