/*
 * snap_html.c - SNAP's look at an HTML body or attachment, through
 * libxml2's HTML parser (htmlReadMemory, recovering, no network).
 *
 * PURPOSE: what a reader sees and what the markup does behind it: links
 * whose visible text shows another domain than the href, data: and
 * javascript: links, forms asking for a password or a card, text hidden
 * by a zero-size font or a colour equal to its background, the visible
 * text (for the language checks) and every link (for the URL checks and
 * the Virtual Analyzer).
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
#include <libxml/tree.h>
#include <libxml/encoding.h>

#define HTML_MAX_DEPTH 128
#define HTML_MAX_SIZE (2u << 20)

/* A colour as 0xRRGGBB, or -1 when unknown (an image, "inherit"...). */
typedef long colour;

/* What an element passes on to its children. */
struct style {
	colour fg; /* -1: the default (black) */
	colour bg; /* -1: unknown (an image behind it) */
	int tiny;  /* font-size under 2px/pt, or 0 */
	int none;  /* display:none, visibility:hidden, opacity:0 */
};

struct walk {
	const struct snap_config *cfg;
	struct snap_html *out;
	struct snap_buf *text;
	struct snap_result *r;
	size_t hidden_tiny, hidden_colour, hidden_none;
	int in_anchor;
	int in_form;
	int password;
	char field[48];
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

static const char *attr(xmlNode *n, const char *name)
{
	for (xmlAttr *a = n->properties; a != NULL; a = a->next)
		if (a->name && strcasecmp((const char *)a->name, name) == 0 &&
		    a->children && a->children->type == XML_TEXT_NODE)
			return (const char *)a->children->content;
	return NULL;
}

static int name_is(xmlNode *n, const char *name)
{
	return n->name && strcasecmp((const char *)n->name, name) == 0;
}

static size_t visible_chars(const char *s)
{
	size_t k = 0;
	for (; *s; s++)
		k += !isspace((unsigned char)*s) && (unsigned char)*s != 0xc2 &&
		     (unsigned char)*s != 0xa0;
	return k;
}

/* A link: note its URL, its scheme, and what its text claims. */
static void see_link(struct walk *w, xmlNode *a, const char *href)
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
	if (w->out->link_text[0])
		return;
	xmlChar *txt = xmlNodeGetContent(a);
	char shown[256];
	if (txt != NULL && snap_text_host((const char *)txt, shown, sizeof shown) &&
	    !snap_same_org(shown, host))
		snprintf(w->out->link_text, sizeof w->out->link_text,
			 "%.50s->%.60s", shown, host);
	xmlFree(txt);
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

static void walk(struct walk *w, xmlNode *node, struct style st, int depth)
{
	for (xmlNode *n = node; n != NULL; n = n->next) {
		if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
			const char *s = (const char *)n->content;
			if (s == NULL)
				continue;
			size_t vis = visible_chars(s);
			if (vis == 0)
				continue;
			colour bg = st.bg;
			colour fg = st.fg < 0 ? 0 : st.fg;
			if (st.none)
				w->hidden_none += vis;
			else if (st.tiny)
				w->hidden_tiny += vis;
			else if (st.fg == -2 || colours_alike(fg, bg))
				w->hidden_colour += vis;
			else {
				snap_buf_add(w->text, s, strlen(s));
				snap_buf_add(w->text, " ", 1);
			}
			continue;
		}
		if (n->type != XML_ELEMENT_NODE || depth >= HTML_MAX_DEPTH)
			continue;
		if (name_is(n, "script") || name_is(n, "style") ||
		    name_is(n, "title") || name_is(n, "head") ||
		    name_is(n, "noscript"))
			continue;
		struct style cs = st;
		const char *v;
		if ((v = attr(n, "bgcolor")) != NULL) {
			colour c = parse_colour(v, strlen(v));
			cs.bg = c == -2 ? cs.bg : c;
		}
		if (attr(n, "background") != NULL)
			cs.bg = -1;
		if (name_is(n, "font")) {
			if ((v = attr(n, "color")) != NULL)
				cs.fg = parse_colour(v, strlen(v));
		}
		if (name_is(n, "body") && (v = attr(n, "text")) != NULL)
			cs.fg = parse_colour(v, strlen(v));
		if ((v = attr(n, "style")) != NULL)
			apply_css(&cs, v);
		if (attr(n, "hidden") != NULL)
			cs.none = 1;
		if (name_is(n, "a") && (v = attr(n, "href")) != NULL)
			see_link(w, n, v);
		if (name_is(n, "form")) {
			w->in_form = 1;
			if ((v = attr(n, "action")) != NULL) {
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
		if (name_is(n, "input")) {
			const char *type = attr(n, "type");
			const char *nm = attr(n, "name");
			if (nm == NULL)
				nm = attr(n, "id");
			if (type && strcasecmp(type, "password") == 0) {
				w->password = 1;
				snprintf(w->field, sizeof w->field,
					 "password field '%.24s'", nm ? nm : "");
			} else if (!w->field[0] && sensitive_field(nm) &&
				   (type == NULL || strcasecmp(type, "hidden") != 0)) {
				snprintf(w->field, sizeof w->field,
					 "field '%.30s'", nm);
			}
		}
		/* a frame or an iframe fetching a page is a link too */
		if ((name_is(n, "iframe") || name_is(n, "frame")) &&
		    (v = attr(n, "src")) != NULL)
			see_link(w, n, v);
		walk(w, n->children, cs, depth + 1);
	}
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
	const char *enc = NULL;
	if (charset != NULL && xmlParseCharEncoding(charset) != XML_CHAR_ENCODING_ERROR)
		enc = charset;
	htmlDocPtr doc = htmlReadMemory(data, (int)size, NULL, enc,
					HTML_PARSE_RECOVER | HTML_PARSE_NOERROR |
					    HTML_PARSE_NOWARNING |
					    HTML_PARSE_NONET | HTML_PARSE_COMPACT);
	if (doc == NULL)
		return;
	struct walk w = {.cfg = cfg, .out = out, .text = text, .r = r};
	struct style st = {.fg = -1, .bg = 0xffffff};
	walk(&w, xmlDocGetRootElement(doc), st, 0);
	xmlFreeDoc(doc);

	if (w.in_form && (w.password || w.field[0]))
		snprintf(out->form, sizeof out->form, "form with %s", w.field);
	else if (w.password)
		snprintf(out->form, sizeof out->form, "%s", w.field);
	if (w.hidden_tiny >= 20)
		snprintf(out->hidden, sizeof out->hidden,
			 "%zu chars in zero-size font", w.hidden_tiny);
	else if (w.hidden_colour >= 20)
		snprintf(out->hidden, sizeof out->hidden,
			 "%zu chars coloured like their background",
			 w.hidden_colour);
	else if (w.hidden_none >= 400)
		snprintf(out->hidden, sizeof out->hidden,
			 "%zu chars not displayed", w.hidden_none);
}
