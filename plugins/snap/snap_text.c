/*
 * snap_text.c - SNAP's string work: host names and their registrable part,
 * skeletons (confusable letters folded to ASCII), edit distance, lookalike
 * domains, URLs in text, mixed scripts, urgency language.
 *
 * PURPOSE: pure functions over strings, so the unit tests reach every
 * heuristic without a message. Unicode comes from GLib (normalisation,
 * scripts, IDNA via g_hostname_to_unicode); only the short confusables
 * table below is ours.
 *
 * NEVER: reads past a length it was given, or allocates more than a small
 * multiple of its input.
 */
#include "snap.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <glib.h>

/* ---- growing text ---- */

void snap_buf_add(struct snap_buf *b, const char *s, size_t n)
{
	if (n == 0 || b->len >= SNAP_TEXT_MAX)
		return;
	/* room for what can come in (at most the limit) once, not per byte */
	size_t room = SNAP_TEXT_MAX - b->len < n ? SNAP_TEXT_MAX - b->len : n;
	if (b->len + room + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + room + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL)
			return;
		b->p = p;
		b->cap = cap;
	}
	char *o = b->p + b->len, *end = b->p + SNAP_TEXT_MAX;
	char last = b->len ? o[-1] : ' ';
	for (size_t i = 0; i < n && o < end; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c > ' ' && c != 0xa0) { /* most bytes */
			if (c >= 'A' && c <= 'Z')
				c = (unsigned char)(c + 32);
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
			   c == 0xa0 || c == '\f' || c == '\v') {
			if (last == ' ')
				continue;
			c = ' ';
		} else if (c == 0) {
			continue;
		}
		*o++ = last = (char)c;
	}
	b->len = (size_t)(o - b->p);
	b->p[b->len] = '\0';
}

void snap_buf_free(struct snap_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* ---- domains ---- */

/* Second-level labels under which a country code registers names
 * ("co.uk", "com.au"). */
static const char *const sld_generic[] = {
    "co", "com", "net", "org", "gov", "edu", "ac", "or", "ne", "go",
    "gob", "mil", "nic", "ltd", "plc", "sch", "gv", "nom", NULL};

const char *snap_registrable(const char *host)
{
	size_t len = strlen(host);
	while (len > 0 && host[len - 1] == '.')
		len--;
	/* the last three dots */
	const char *d1 = NULL, *d2 = NULL, *d3 = NULL;
	for (size_t i = 0; i < len; i++)
		if (host[i] == '.') {
			d3 = d2;
			d2 = d1;
			d1 = host + i;
		}
	if (d1 == NULL || d2 == NULL)
		return host;
	if (snap_is_ip_host(host))
		return host;
	size_t tld_len = (size_t)(host + len - d1 - 1);
	size_t sld_len = (size_t)(d1 - d2 - 1);
	if (tld_len == 2)
		for (const char *const *s = sld_generic; *s; s++)
			if (strlen(*s) == sld_len &&
			    strncasecmp(d2 + 1, *s, sld_len) == 0)
				return d3 ? d3 + 1 : host;
	return d2 + 1;
}

static size_t host_len(const char *h)
{
	size_t n = strlen(h);
	while (n > 0 && h[n - 1] == '.')
		n--;
	return n;
}

int snap_same_org(const char *a, const char *b)
{
	const char *ra = snap_registrable(a), *rb = snap_registrable(b);
	size_t la = host_len(ra), lb = host_len(rb);
	return la == lb && strncasecmp(ra, rb, la) == 0;
}

const char *snap_addr_domain(const char *addr)
{
	const char *at = addr ? strrchr(addr, '@') : NULL;
	return at && at[1] ? at + 1 : NULL;
}

int snap_is_ip_host(const char *host)
{
	if (host[0] == '[')
		return 1; /* IPv6 literal */
	int digits = 0, dots = 0, hex = 0;
	for (const char *p = host; *p; p++) {
		if (isdigit((unsigned char)*p))
			digits++;
		else if (*p == '.')
			dots++;
		else if (*p == 'x' || *p == 'X' ||
			 isxdigit((unsigned char)*p))
			hex++;
		else
			return 0;
	}
	/* 1.2.3.4, or the integer / hex forms browsers also accept */
	if (digits == 0)
		return 0;
	if (dots == 3 && hex == 0)
		return 1;
	if (dots == 0 && hex == 0 && digits >= 8)
		return 1;
	return dots == 0 && (host[0] == '0') && (host[1] == 'x' || host[1] == 'X');
}

int snap_ip_is_private(const char *host)
{
	unsigned a, b;
	if (sscanf(host, "%u.%u.", &a, &b) != 2)
		return 0;
	return a == 10 || a == 127 || (a == 192 && b == 168) ||
	       (a == 172 && b >= 16 && b <= 31) || a == 0;
}

static const char *const shorteners[] = {
    "bit.ly", "bitly.com", "tinyurl.com", "goo.gl", "t.co", "ow.ly",
    "is.gd", "buff.ly", "rebrand.ly", "cutt.ly", "shorturl.at", "tiny.cc",
    "rb.gy", "s.id", "bl.ink", "t.ly", "v.gd", "qr.net", "x.co", "lnkd.in",
    "soo.gd", "clck.ru", "shorte.st", "adf.ly", "u.to", "tinyurl.at",
    "shorturl.com", "snip.ly", "2.gp", "cli.gs", "short.io", "tr.im",
    "po.st", "mcaf.ee", "su.pr", "qrco.de", NULL};

int snap_is_shortener(const char *host)
{
	for (const char *const *s = shorteners; *s; s++) {
		size_t n = strlen(*s), h = strlen(host);
		if (h == n ? strcasecmp(host, *s) == 0
			   : h > n && host[h - n - 1] == '.' &&
				 strcasecmp(host + h - n, *s) == 0)
			return 1;
	}
	return 0;
}

int snap_is_freemail(const char *domain)
{
	static const char *const exact[] = {
	    "gmail.com", "googlemail.com", "outlook.com", "live.com",
	    "msn.com", "aol.com", "icloud.com", "me.com", "mail.com",
	    "web.de", "mail.ru", "protonmail.com", "proton.me", "zoho.com",
	    "qq.com", "163.com", "126.com", "gmx.com", "gmx.net", "gmx.de",
	    "yandex.com", "yandex.ru", "inbox.ru", "list.ru", "bk.ru",
	    "tutanota.com", "hushmail.com", "mail.ee", NULL};
	static const char *const labels[] = {"yahoo", "hotmail", "ymail",
					     "rocketmail", NULL};
	if (domain == NULL)
		return 0;
	const char *reg = snap_registrable(domain);
	for (const char *const *s = exact; *s; s++)
		if (strcasecmp(reg, *s) == 0)
			return 1;
	for (const char *const *s = labels; *s; s++) {
		size_t n = strlen(*s);
		if (strncasecmp(reg, *s, n) == 0 && reg[n] == '.')
			return 1;
	}
	return 0;
}

/* ---- skeletons ---- */

/* Letters of other scripts that pass for Latin ones (after NFKD). */
static const struct {
	gunichar from;
	char to;
} confusables[] = {
    /* Cyrillic */
    {0x0430, 'a'}, {0x0432, 'b'}, {0x0435, 'e'}, {0x0451, 'e'},
    {0x04bb, 'h'}, {0x0456, 'i'}, {0x0457, 'i'}, {0x0458, 'j'},
    {0x043a, 'k'}, {0x043c, 'm'}, {0x043d, 'h'}, {0x043e, 'o'},
    {0x0440, 'p'}, {0x0441, 'c'}, {0x0442, 't'}, {0x0443, 'y'},
    {0x0445, 'x'}, {0x0455, 's'}, {0x0501, 'd'}, {0x051b, 'q'},
    {0x051d, 'w'}, {0x04af, 'y'}, {0x04cf, 'l'}, {0x0410, 'a'},
    {0x0412, 'b'}, {0x0415, 'e'}, {0x041a, 'k'}, {0x041c, 'm'},
    {0x041d, 'h'}, {0x041e, 'o'}, {0x0420, 'p'}, {0x0421, 'c'},
    {0x0422, 't'}, {0x0423, 'y'}, {0x0425, 'x'}, {0x0406, 'i'},
    {0x0408, 'j'}, {0x0405, 's'}, {0x04c0, 'l'},
    /* Greek */
    {0x03b1, 'a'}, {0x03b2, 'b'}, {0x03b5, 'e'}, {0x03b9, 'i'},
    {0x03ba, 'k'}, {0x03bd, 'v'}, {0x03bf, 'o'}, {0x03c1, 'p'},
    {0x03c4, 't'}, {0x03c5, 'u'}, {0x03c7, 'x'}, {0x03b3, 'y'},
    {0x0391, 'a'}, {0x0392, 'b'}, {0x0395, 'e'}, {0x0396, 'z'},
    {0x0397, 'h'}, {0x0399, 'i'}, {0x039a, 'k'}, {0x039c, 'm'},
    {0x039d, 'n'}, {0x039f, 'o'}, {0x03a1, 'p'}, {0x03a4, 't'},
    {0x03a5, 'y'}, {0x03a7, 'x'},
    /* Armenian, Latin extras */
    {0x0585, 'o'}, {0x057d, 'u'}, {0x0570, 'h'}, {0x0578, 'n'},
    {0x0131, 'i'}, {0x0142, 'l'}, {0x0251, 'a'}, {0x0261, 'g'},
    {0x01c0, 'l'}, {0x0269, 'i'}, {0x028f, 'y'},
};

static int confusable(gunichar c)
{
	for (size_t i = 0; i < sizeof confusables / sizeof confusables[0]; i++)
		if (confusables[i].from == c)
			return confusables[i].to;
	return 0;
}

char *snap_skeleton(const char *s, int squeeze)
{
	if (s == NULL)
		return g_strdup("");
	/* NFKD leaves ASCII as it is: the usual case, without GLib */
	const char *q = s;
	while (*q && (unsigned char)*q < 0x80)
		q++;
	gchar *nf = *q == '\0' ? g_strdup(s)
			       : g_utf8_normalize(s, -1, G_NORMALIZE_NFKD);
	if (nf == NULL) { /* not UTF-8: take the bytes as they are */
		nf = g_strdup(s);
		for (char *p = nf; *p; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
	}
	size_t n = strlen(nf);
	char *a = g_malloc(n + 1), *o = a;
	for (const char *p = nf; *p; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		int t = 0;
		if (c < 0x80)
			t = tolower((int)c);
		else if (g_unichar_ismark(c))
			continue;
		else if ((t = confusable(c)) == 0)
			t = g_unichar_isspace(c) ? ' ' : '?';
		if (squeeze && !isalnum(t))
			continue;
		*o++ = (char)t;
	}
	*o = '\0';
	g_free(nf);
	/* what stays alike in the usual fonts */
	char *w = a;
	for (const char *r = a; *r; r++) {
		if (r[0] == 'r' && r[1] == 'n') {
			*w++ = 'm';
			r++;
		} else if (r[0] == 'v' && r[1] == 'v') {
			*w++ = 'w';
			r++;
		} else if (*r == '0') {
			*w++ = 'o';
		} else if (*r == '1' || *r == 'i' || *r == '|' || *r == '!') {
			*w++ = 'l';
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
	char *ret = strdup(a);
	g_free(a);
	return ret;
}

char *snap_name_form(const char *s)
{
	char *k = snap_skeleton(s, 0);
	char *w = k;
	for (const char *r = k; *r; r++) {
		if (isalnum((unsigned char)*r))
			*w++ = *r;
		else if (w > k && w[-1] != ' ')
			*w++ = ' ';
	}
	while (w > k && w[-1] == ' ')
		w--;
	*w = '\0';
	return k;
}

int snap_edit_distance(const char *a, const char *b, int max)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 63 || lb > 63)
		return max + 1;
	if ((la > lb ? la - lb : lb - la) > (size_t)max)
		return max + 1;
	int d[64][64];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (int)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		int row_min = max + 1;
		for (size_t j = 1; j <= lb; j++) {
			int cost = a[i - 1] != b[j - 1];
			int v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
			if (v < row_min)
				row_min = v;
		}
		if (row_min > max)
			return max + 1;
	}
	return d[la][lb] > max ? max + 1 : d[la][lb];
}

/* The first label of the registrable part, malloc'd. */
static char *reg_label(const char *host)
{
	const char *reg = snap_registrable(host);
	const char *dot = strchr(reg, '.');
	return strndup(reg, dot ? (size_t)(dot - reg) : strlen(reg));
}

/* Is `tok` one of the hyphen-separated words of the registrable label
 * ("microsoft-support-team.com")? */
static int label_has_word(const char *label, const char *tok)
{
	size_t n = strlen(tok);
	for (const char *p = label; *p;) {
		size_t w = strcspn(p, "-");
		if (w == n && strncmp(p, tok, n) == 0)
			return 1;
		p += w;
		if (*p)
			p++;
	}
	return 0;
}

/* Does `host` carry `domain` whole as its leftmost labels or in the middle
 * ("paypal.com.account-verify.net", "mail.example.com.evil.net")? */
static int host_has_domain(const char *host, const char *domain)
{
	size_t n = strlen(domain);
	for (const char *p = host; (p = strstr(p, domain)) != NULL; p++)
		if ((p == host || p[-1] == '.') && p[n] == '.')
			return 1;
	return 0;
}

/* The brand glued to a word of the trade: "paypalsecure", "appleid",
 * "securepaypal" (not "paypalace"). */
static int glued(const char *label, const char *brand)
{
	static const char *const words[] = {
	    "secure", "security", "login", "signin", "verify", "verification",
	    "account", "accounts", "support", "service", "services", "update",
	    "help", "helpdesk", "billing", "online", "auth", "id", "alert",
	    "alerts", "team", "mail", "web", "pay", "payment", "center",
	    "resolution", "confirm", "notice", "online", "portal", "access",
	    "recovery", "unlock", NULL};
	size_t n = strlen(label), b = strlen(brand);
	if (n <= b)
		return 0;
	const char *rest = NULL;
	size_t rl = n - b;
	if (strncmp(label, brand, b) == 0)
		rest = label + b;
	else if (strcmp(label + n - b, brand) == 0)
		rest = label;
	else
		return 0;
	if (rest == label + b && *rest == '-')
		rest++, rl--;
	else if (rest == label && label[rl - 1] == '-')
		rl--;
	for (const char *const *w = words; *w; w++)
		if (strlen(*w) == rl && strncmp(rest, *w, rl) == 0)
			return 1;
	return 0;
}

int snap_domain_lookalike(const struct snap_config *cfg, const char *host_in,
			  const struct snap_domain **which_r,
			  const char **why_r)
{
	char host[256];
	size_t n = host_len(host_in);
	if (n == 0 || n >= sizeof host || cfg->n_domains == 0 ||
	    snap_is_ip_host(host_in))
		return 0;
	for (size_t i = 0; i < n; i++)
		host[i] = (char)tolower((unsigned char)host_in[i]);
	host[n] = '\0';
	/* the real one, or a name under it */
	for (size_t i = 0; i < cfg->n_domains; i++) {
		const char *d = cfg->domains[i].name;
		size_t dn = strlen(d);
		if (strcmp(host, d) == 0 ||
		    (n > dn && host[n - dn - 1] == '.' &&
		     strcmp(host + n - dn, d) == 0))
			return 0;
	}
	char *label = reg_label(host);
	char *uni = NULL, *ulabel = NULL;
	int non_ascii = 0;
	for (const char *p = host; *p; p++)
		non_ascii |= (unsigned char)*p >= 0x80;
	if (strstr(host, "xn--") != NULL &&
	    (uni = g_hostname_to_unicode(host)) != NULL)
		ulabel = reg_label(uni);
	char *skel = snap_skeleton(ulabel ? ulabel : label, 0);
	int reason = 0;
	const struct snap_domain *which = NULL;
	const char *why = NULL;

	for (size_t i = 0; i < cfg->n_domains && !reason; i++) {
		const struct snap_domain *d = &cfg->domains[i];
		if (strcmp(skel, d->skel) != 0 || strcmp(label, d->label) == 0)
			continue;
		reason = SNAP_HOMOGLYPH;
		which = d;
		why = ulabel ? "punycode" : non_ascii ? "unicode"
						     : "confusable characters";
	}
	const char *reg = snap_registrable(host);
	for (size_t i = 0; i < cfg->n_domains && !reason; i++) {
		const struct snap_domain *d = &cfg->domains[i];
		size_t dl = strlen(d->label);
		if (strcmp(label, d->label) == 0) {
			/* another TLD: suspicious for our own domains; brands
			 * own many (amazon.de, paypal.co.uk) */
			if (d->internal && strcmp(reg, d->name) != 0) {
				reason = SNAP_LOOKALIKE;
				why = "other TLD";
			}
		} else {
			int dist = snap_edit_distance(label, d->label, 2);
			size_t min1 = d->internal ? 5 : 6;
			if ((dl >= min1 && dist <= 1) || (dl >= 9 && dist <= 2)) {
				reason = SNAP_LOOKALIKE;
				why = dist == 1 ? "edit distance 1"
						: "edit distance 2";
			} else if (host_has_domain(host, d->name) ||
				   (dl >= 3 && label_has_word(label, d->label)) ||
				   (dl >= 5 && label_has_word(skel, d->skel)) ||
				   (dl >= 5 && glued(label, d->label))) {
				reason = SNAP_LOOKALIKE;
				why = "name inside";
			}
		}
		if (reason)
			which = d;
	}
	free(label);
	free(ulabel);
	g_free(uni);
	free(skel);
	if (reason) {
		*which_r = which;
		*why_r = why;
	}
	return reason;
}

/* ---- URLs ---- */

int snap_url_host(const char *url, size_t len, char *host, size_t cap)
{
	const char *p = url, *end = url + len;
	while (p < end && isspace((unsigned char)*p))
		p++;
	const char *colon = memchr(p, ':', (size_t)(end - p));
	if (colon && colon - p <= 10 && colon + 2 < end && colon[1] == '/' &&
	    colon[2] == '/') {
		p = colon + 3;
	} else if (end - p > 4 && strncasecmp(p, "www.", 4) == 0) {
		/* a bare www.host */
	} else {
		return 0;
	}
	const char *h = p;
	const char *stop = h;
	while (stop < end && *stop != '/' && *stop != '?' && *stop != '#' &&
	       *stop != '\\' && !isspace((unsigned char)*stop) &&
	       *stop != '"' && *stop != '\'' && *stop != '>' && *stop != '<')
		stop++;
	/* user:password@host */
	for (const char *q = stop; q > h; q--)
		if (q[-1] == '@') {
			h = q;
			break;
		}
	const char *hend = stop;
	if (h < hend && *h == '[') {
		const char *rb = memchr(h, ']', (size_t)(hend - h));
		hend = rb ? rb + 1 : hend;
	} else {
		const char *pc = memchr(h, ':', (size_t)(hend - h));
		if (pc)
			hend = pc;
	}
	while (hend > h && hend[-1] == '.')
		hend--;
	size_t hl = (size_t)(hend - h);
	if (hl == 0 || hl >= cap)
		return 0;
	for (size_t i = 0; i < hl; i++)
		host[i] = (char)tolower((unsigned char)h[i]);
	host[hl] = '\0';
	return 1;
}

/* Top-level domains a bare domain in link text must end with (any two
 * letters count too): ".pl" or ".sh" alone is more likely a file name. */
static const char *const common_tlds[] = {
    "com", "net", "org", "edu", "gov", "mil", "int", "info", "biz",
    "online", "site", "xyz", "top", "club", "shop", "live", "app",
    "email", "link", "support", "help", "cloud", "io", "co", "us",
    "uk", "de", "fr", "ru", "cn", "me", "ly", NULL};

int snap_text_host(const char *text, char *host, size_t cap)
{
	while (*text && (isspace((unsigned char)*text) || *text == '<' ||
			 *text == '[' || *text == '('))
		text++;
	size_t n = strlen(text);
	while (n > 0 && (isspace((unsigned char)text[n - 1]) ||
			 text[n - 1] == '>' || text[n - 1] == ']' ||
			 text[n - 1] == ')' || text[n - 1] == '.'))
		n--;
	if (n == 0 || n > 2000)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (isspace((unsigned char)text[i]))
			return 0; /* words, not an address */
	int explicit = (n > 7 && strncasecmp(text, "http://", 7) == 0) ||
		       (n > 8 && strncasecmp(text, "https://", 8) == 0) ||
		       (n > 4 && strncasecmp(text, "www.", 4) == 0);
	if (explicit)
		return snap_url_host(text, n, host, cap);
	/* a bare domain: letters, digits, '-', '.', a known TLD */
	size_t hl = strcspn(text, "/?#:");
	if (hl > n)
		hl = n;
	if (hl == 0 || hl >= cap || memchr(text, '@', n) != NULL)
		return 0;
	int dots = 0;
	for (size_t i = 0; i < hl; i++) {
		char c = text[i];
		if (c == '.')
			dots++;
		else if (!isalnum((unsigned char)c) && c != '-')
			return 0;
		host[i] = (char)tolower((unsigned char)c);
	}
	host[hl] = '\0';
	const char *tld = strrchr(host, '.');
	if (dots == 0 || tld == NULL || tld == host)
		return 0;
	tld++;
	for (const char *p = tld; *p; p++)
		if (!isalpha((unsigned char)*p))
			return 0;
	for (const char *const *t = common_tlds; *t; t++)
		if (strcmp(tld, *t) == 0)
			return 1;
	return dots >= 2 && strlen(tld) == 2;
}

void snap_text_urls(const char *data, size_t n, struct snap_result *r)
{
	for (size_t i = 0; i + 4 < n && r->n_urls < SNAP_MAX_URLS; i++) {
		char c = data[i];
		size_t skip = 0;
		if ((c | 0x20) != 'h' && (c | 0x20) != 'w')
			continue;
		if ((c == 'h' || c == 'H') &&
		    ((n - i > 7 && strncasecmp(data + i, "http://", 7) == 0) ||
		     (n - i > 8 && strncasecmp(data + i, "https://", 8) == 0)))
			skip = 1;
		else if ((c == 'w' || c == 'W') && n - i > 4 &&
			 strncasecmp(data + i, "www.", 4) == 0 &&
			 (i == 0 || !isalnum((unsigned char)data[i - 1])))
			skip = 1;
		if (!skip)
			continue;
		size_t e = i;
		while (e < n && !isspace((unsigned char)data[e]) &&
		       data[e] != '"' && data[e] != '<' && data[e] != '>' &&
		       data[e] != '\'' && (unsigned char)data[e] >= 0x21)
			e++;
		while (e > i && strchr(".,;:)]!?", data[e - 1]) != NULL)
			e--;
		snap_add_url(r, data + i, e - i);
		i = e;
	}
}

/* ---- scripts ---- */

int snap_mixed_script(const char *s, size_t len, char *word_r, size_t cap)
{
	/* Below U+0340 (UTF-8 lead bytes under 0xcd) there is no Cyrillic,
	 * Greek or Armenian letter: such text (ASCII, Latin-1, most of
	 * Western mail) mixes nothing, decided fast */
	size_t k = 0;
	while (k < len && (unsigned char)s[k] < 0xcd)
		k++;
	if (k == len)
		return 0;
	const char *p = s, *end = s + len, *start = NULL;
	int latin = 0, other = 0;
	while (p <= end) {
		gunichar c = p == end ? 0
			     : (unsigned char)*p < 0x80 ? (gunichar)*p
			     : g_utf8_get_char_validated(p, end - p);
		int bad = c == (gunichar)-1 || c == (gunichar)-2;
		if (p < end && !bad && (c < 0x80 ? isalpha((int)c) : g_unichar_isalpha(c))) {
			GUnicodeScript sc = c < 0x80 ? G_UNICODE_SCRIPT_LATIN
						     : g_unichar_get_script(c);
			if (start == NULL)
				start = p, latin = other = 0;
			if (sc == G_UNICODE_SCRIPT_LATIN)
				latin = 1;
			else if (sc == G_UNICODE_SCRIPT_CYRILLIC ||
				 sc == G_UNICODE_SCRIPT_GREEK ||
				 sc == G_UNICODE_SCRIPT_ARMENIAN)
				other = 1;
			p = g_utf8_next_char(p);
			continue;
		}
		if (start != NULL && latin && other) {
			size_t w = (size_t)(p - start);
			if (w >= cap)
				w = cap - 1;
			memcpy(word_r, start, w);
			word_r[w] = '\0';
			return 1;
		}
		start = NULL;
		if (p == end)
			break;
		p = bad ? p + 1 : g_utf8_next_char(p);
	}
	return 0;
}

/* ---- language ---- */

enum { CRED = 1, PAY = 2, URGENT = 4 };

static const struct {
	const char *phrase;
	unsigned kind;
} phrases[] = {
    {"verify your account", CRED}, {"confirm your account", CRED},
    {"verify your identity", CRED}, {"confirm your identity", CRED},
    {"verify your email", CRED}, {"validate your", CRED},
    {"update your account", CRED}, {"account has been suspended", CRED},
    {"account has been locked", CRED}, {"account has been limited", CRED},
    {"account will be suspended", CRED}, {"account will be closed", CRED},
    {"account will be deactivated", CRED}, {"account was locked", CRED},
    {"unusual activity", CRED}, {"unusual sign-in", CRED},
    {"suspicious activity", CRED}, {"suspicious sign-in", CRED},
    {"unauthorized access", CRED}, {"reset your password", CRED},
    {"confirm your password", CRED}, {"enter your password", CRED},
    {"password will expire", CRED}, {"password expires", CRED},
    {"password has expired", CRED}, {"mailbox is full", CRED},
    {"mailbox quota", CRED}, {"storage is full", CRED},
    {"re-activate", CRED}, {"reactivate your", CRED},
    {"login credentials", CRED}, {"sign in to your account", CRED},
    {"log in to your account", CRED}, {"restore your account", CRED},
    {"restore access", CRED}, {"security alert", CRED},
    {"keep your account", CRED}, {"shared a document", CRED},
    {"shared a file", CRED}, {"review the document", CRED},
    {"wire transfer", PAY}, {"bank details", PAY}, {"banking details", PAY},
    {"bank account details", PAY}, {"payment details", PAY},
    {"update your payment", PAY}, {"payment method", PAY},
    {"billing information", PAY}, {"credit card", PAY},
    {"invoice is overdue", PAY}, {"overdue invoice", PAY},
    {"outstanding balance", PAY}, {"outstanding invoice", PAY},
    {"gift card", PAY}, {"itunes card", PAY}, {"direct deposit", PAY},
    {"payroll", PAY}, {"remittance", PAY}, {"process a payment", PAY},
    {"tax refund", PAY}, {"refund of", PAY}, {"delivery fee", PAY},
    {"customs fee", PAY}, {"new account number", PAY},
    {"urgent", URGENT}, {"immediately", URGENT}, {"within 24 hours", URGENT},
    {"within 48 hours", URGENT}, {"within 12 hours", URGENT},
    {"as soon as possible", URGENT}, {"final notice", URGENT},
    {"final warning", URGENT}, {"last warning", URGENT},
    {"act now", URGENT}, {"will be permanently", URGENT},
    {"will be terminated", URGENT}, {"failure to", URGENT},
    {"avoid suspension", URGENT}, {"avoid interruption", URGENT},
    {"today before", URGENT}, {"are you available", URGENT},
    {"quick favor", URGENT}, {"keep this confidential", URGENT},
    {"time-sensitive", URGENT}, {"time sensitive", URGENT},
    {"expires today", URGENT}, {"right away", URGENT},
};

/* The phrases by their first two letters (the second one any other
 * byte in bucket 26), in their order in the table, built once. */
enum { N_PHRASES = sizeof phrases / sizeof phrases[0] };
enum { NO_BUCKET = 26 * 27 }; /* empty: not a word start */
static struct {
	unsigned char start[NO_BUCKET + 2], idx[N_PHRASES];
	unsigned char len[N_PHRASES];
	/* per byte: 1 isalnum(), 2 a lower-case letter; and its column in
	 * a bucket (a-z, or 26) */
	unsigned char cls[256], col[256];
} phrase_index;

static unsigned phrase_bucket(unsigned char c1, unsigned char c2)
{
	return (unsigned)(c1 - 'a') * 27 +
	       (c2 >= 'a' && c2 <= 'z' ? (unsigned)(c2 - 'a') : 26);
}

static void phrase_index_build(void)
{
	static gsize done;
	if (!g_once_init_enter(&done))
		return;
	size_t n = 0;
	for (unsigned b = 0; b < 26 * 27; b++) {
		phrase_index.start[b] = (unsigned char)n;
		for (size_t k = 0; k < N_PHRASES; k++)
			if (phrase_bucket(
				(unsigned char)phrases[k].phrase[0],
				(unsigned char)phrases[k].phrase[1]) == b)
				phrase_index.idx[n++] = (unsigned char)k;
	}
	phrase_index.start[NO_BUCKET] = (unsigned char)n;
	phrase_index.start[NO_BUCKET + 1] = (unsigned char)n;
	for (size_t k = 0; k < N_PHRASES; k++)
		phrase_index.len[k] = (unsigned char)strlen(phrases[k].phrase);
	for (int c = 0; c < 256; c++) {
		phrase_index.cls[c] =
		    (unsigned char)((isalnum(c) != 0) | (c >= 'a' && c <= 'z')
							    << 1);
		phrase_index.col[c] =
		    (unsigned char)(c >= 'a' && c <= 'z' ? c - 'a' : 26);
	}
	g_once_init_leave(&done, 1);
}

/* One pass over the text: at each word start, only the phrases that
 * begin with its first two bytes are compared. Word starts are found
 * without a branch per byte (text alternates words and blanks too often
 * for branches to be predicted). */
unsigned snap_urgency(const char *text, size_t len, int *hits_r, char *detail,
		      size_t cap)
{
	unsigned char found[N_PHRASES] = {0};
	unsigned kinds = 0;
	int hits = 0;
	size_t used = 0;
	if (cap > 0)
		detail[0] = '\0';
	*hits_r = 0;
	if (text == NULL || len == 0)
		return 0;
	phrase_index_build();
	const unsigned char *t = (const unsigned char *)text;
	unsigned prev = 0; /* the byte before is a letter or digit */
	/* every phrase has two bytes at least: none starts at len - 1 */
	for (size_t i = 0; i + 1 < len; i++) {
		unsigned k0 = phrase_index.cls[t[i]];
		/* a word starting with a-z: its bucket, else the empty one */
		unsigned mask = 0u - ((k0 >> 1) & ~prev & 1u);
		prev = k0 & 1u;
		unsigned b = (((unsigned)(t[i] - 'a') * 27 +
			       phrase_index.col[t[i + 1]]) &
			      mask) |
			     ((unsigned)NO_BUCKET & ~mask);
		unsigned lo = phrase_index.start[b],
			 hi = phrase_index.start[b + 1];
		for (unsigned j = lo; j < hi; j++) {
			unsigned k = phrase_index.idx[j];
			size_t pl = phrase_index.len[k];
			if (found[k] || pl > len - i ||
			    text[i + 1] != phrases[k].phrase[1] ||
			    memcmp(text + i, phrases[k].phrase, pl) != 0)
				continue;
			found[k] = 1;
			kinds |= phrases[k].kind;
			hits++;
			if (hits <= 3 && used + pl + 4 < cap) {
				int w = snprintf(detail + used, cap - used,
						 "%s\"%s\"", used ? " " : "",
						 phrases[k].phrase);
				if (w > 0)
					used += (size_t)w;
			}
		}
	}
	*hits_r = hits;
	return kinds;
}
