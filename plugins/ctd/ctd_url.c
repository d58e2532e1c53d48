/*
 * ctd_url.c - suspicious-object values in canonical form, and URLs found
 * in text.
 *
 * PURPOSE: one spelling per object, so that a list entry and a URL in a
 * message meet in the hash set: hashes in lower-case hex; domains lower
 * case in A-labels (IDNA 2008 with UTS #46 mapping, by libidn2); IP
 * addresses as inet_ntop writes them (IPv4 numbers also in the hex,
 * octal and short forms browsers accept); URLs as described at
 * ctd_url_norm() in ctd.h.
 *
 * NEVER: reads past len; writes past an output buffer (a value too long
 * is refused, a URL too long keeps only its host); resolves names; decodes
 * a percent-escape into a character that changes a URL's structure.
 */
#include "ctd.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <idn2.h>

static const char *const kind_names[CTD_KIND_COUNT] = {"file", "url", "domain",
						       "ip"};
static const char *const act_names[CTD_ACT_COUNT] = {"log", "block",
						     "quarantine"};

const char *ctd_kind_name(enum ctd_kind k)
{
	return k < CTD_KIND_COUNT ? kind_names[k] : "?";
}

const char *ctd_act_name(enum ctd_act a)
{
	return a < CTD_ACT_COUNT ? act_names[a] : "?";
}

int ctd_act_parse(const char *s)
{
	static const struct {
		const char *name;
		enum ctd_act act;
	} table[] = {{"block", CTD_BLOCK},
		     {"log", CTD_LOG},
		     {"quarantine", CTD_QUARANTINE},
		     {"none", CTD_LOG},
		     {"pass", CTD_LOG},
		     {"monitor", CTD_LOG},
		     {"delete", CTD_BLOCK},
		     {"deny", CTD_BLOCK}};
	size_t i;

	if (s == NULL)
		return -1;
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcasecmp(s, table[i].name) == 0)
			return (int)table[i].act;
	return -1;
}

/* ---------------------------------------------------------------------
 * Small pieces
 */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Byte classes (C locale), looked up once per byte on the paths every
 * URL in a message takes. */
enum {
	C_CTL = 1,    /* a control byte or space: never inside a URL */
	C_STOP = 2,   /* ends a URL in running text: C_CTL and "<>` */
	C_QUOTE = 4,  /* ' also ends one in HTML */
	C_HOST = 8,   /* letter, digit, '-', '.', '_' */
	C_PLAIN = 16, /* kept as it is in a path or query */
	C_UNRES = 32, /* RFC 3986 unreserved: letter, digit, -._~ */
	C_AUTH = 64   /* ends or splits an authority: / ? # \\ @ : */
};
#define C_ALNUM (C_HOST | C_PLAIN | C_UNRES)
static const unsigned char cclass[256] = {
    [0x00 ... 0x20] = C_CTL | C_STOP,
    ['!'] = C_PLAIN,
    ['"'] = C_STOP,
    ['#'] = C_PLAIN | C_AUTH,
    ['$'] = C_PLAIN,
    ['&'] = C_PLAIN,
    ['\''] = C_PLAIN | C_QUOTE,
    ['(' ... ','] = C_PLAIN,
    ['-' ... '.'] = C_ALNUM,
    ['/'] = C_PLAIN | C_AUTH,
    ['0' ... '9'] = C_ALNUM,
    [':'] = C_PLAIN | C_AUTH,
    [';'] = C_PLAIN,
    ['<'] = C_STOP,
    ['='] = C_PLAIN,
    ['>'] = C_STOP,
    ['?' ... '@'] = C_PLAIN | C_AUTH,
    ['A' ... 'Z'] = C_ALNUM,
    ['['] = C_PLAIN,
    ['\\'] = C_AUTH,
    [']'] = C_PLAIN,
    ['_'] = C_ALNUM,
    ['`'] = C_STOP,
    ['a' ... 'z'] = C_ALNUM,
    ['~'] = C_PLAIN | C_UNRES,
    [0x7f] = C_CTL | C_STOP,
};

static int unreserved(int c)
{
	return cclass[c & 255] & C_UNRES;
}

struct buf {
	char *p;
	size_t len, cap;
	int overflow;
};

static void put(struct buf *b, char c)
{
	if (b->len + 1 >= b->cap) {
		b->overflow = 1;
		return;
	}
	b->p[b->len++] = c;
	b->p[b->len] = '\0';
}

static void puts_n(struct buf *b, const char *s, size_t n)
{
	if (b->len + n >= b->cap) {
		b->overflow = 1;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void put_escaped(struct buf *b, unsigned char c)
{
	static const char digits[] = "0123456789ABCDEF";

	put(b, '%');
	put(b, digits[c >> 4]);
	put(b, digits[c & 15]);
}

int ctd_hash_norm(const char *in, char *out, size_t outsz)
{
	size_t n = in ? strlen(in) : 0, i;

	while (n > 0 && isspace((unsigned char)in[n - 1]))
		n--;
	while (n > 0 && isspace((unsigned char)*in)) {
		in++;
		n--;
	}
	if ((n != 40 && n != 64) || outsz <= n)
		return -1;
	for (i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)in[i]))
			return -1;
		out[i] = (char)tolower((unsigned char)in[i]);
	}
	out[n] = '\0';
	return 0;
}

/* ---------------------------------------------------------------------
 * IP addresses
 */

/* Dotted decimal of a host-order address (inet_ntop goes via sprintf). */
static int ipv4_text(uint32_t v, char *out, size_t outsz)
{
	char tmp[16], *p = tmp;
	int i;

	for (i = 3; i >= 0; i--) {
		unsigned b = (v >> (8 * i)) & 255u;

		if (b >= 100)
			*p++ = (char)('0' + b / 100);
		if (b >= 10)
			*p++ = (char)('0' + b / 10 % 10);
		*p++ = (char)('0' + b % 10);
		if (i > 0)
			*p++ = '.';
	}
	*p = '\0';
	if ((size_t)(p - tmp) >= outsz)
		return -1;
	memcpy(out, tmp, (size_t)(p - tmp) + 1);
	return 0;
}

/* One WHATWG IPv4 part: decimal, 0x hex, or 0-led octal. */
static int ipv4_part(const char *s, size_t n, uint64_t *v_r)
{
	uint64_t v = 0;
	int base = 10;
	size_t i = 0;

	if (n == 0)
		return -1;
	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
	} else if (n >= 2 && s[0] == '0') {
		base = 8;
		i = 1;
	}
	for (; i < n; i++) {
		int d = hexval((unsigned char)s[i]);

		if (d < 0 || d >= base)
			return -1;
		v = v * (uint64_t)base + (uint64_t)d;
		if (v > 0xffffffffULL)
			return -1;
	}
	*v_r = v;
	return 0;
}

/* 1: s is an IPv4 address in some form browsers accept (canonical text
 * in out); 0: not numeric, a name; -1: numeric but invalid. */
static int ipv4_parse(const char *s, size_t n, char *out, size_t outsz)
{
	uint64_t parts[4], v;
	size_t np = 0, start = 0, i;

	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0)
		return 0;
	/* numeric only when the last part is a number */
	i = n;
	while (i > 0 && s[i - 1] != '.')
		i--;
	if (ipv4_part(s + i, n - i, &v) < 0)
		return 0;
	for (i = 0; i <= n; i++) {
		if (i < n && s[i] != '.')
			continue;
		if (np == 4 || ipv4_part(s + start, i - start, &parts[np]) < 0)
			return -1;
		np++;
		start = i + 1;
	}
	v = 0;
	for (i = 0; i + 1 < np; i++) {
		if (parts[i] > 255)
			return -1;
		v |= parts[i] << (8 * (3 - i));
	}
	if (parts[np - 1] >= (1ULL << (8 * (5 - np))))
		return -1;
	v |= parts[np - 1];
	return ipv4_text((uint32_t)v, out, outsz) == 0 ? 1 : -1;
}

int ctd_ip_norm(const char *in, char *out, size_t outsz)
{
	unsigned char b[16];
	char tmp[64];
	size_t n = in ? strlen(in) : 0;

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	if (in[0] == '[' && in[n - 1] == ']') {
		in++;
		n -= 2;
	}
	memcpy(tmp, in, n);
	tmp[n] = '\0';
	if (inet_pton(AF_INET6, tmp, b) == 1)
		return inet_ntop(AF_INET6, b, out, (socklen_t)outsz) ? 0 : -1;
	if (inet_pton(AF_INET, tmp, b) == 1)
		return ipv4_text((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
				     (uint32_t)b[2] << 8 | b[3],
				 out, outsz);
	return -1;
}

/* ---------------------------------------------------------------------
 * Host names
 */

static int host_char(int c)
{
	return cclass[c & 255] & C_HOST;
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* 1 when one of the n bytes at s is a control byte, a space or DEL
 * (C_CTL), eight at a time: a byte below 0x21 or equal to 0x7f. */
static int has_ctl(const char *s, size_t n)
{
	uint64_t w, del, hit = 0;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, s + i, 8);
		del = w ^ (ONES * 0x7f); /* zero bytes where w has DEL */
		hit |= ((w - ONES * 0x21) & ~w) | ((del - ONES) & ~del);
	}
	if ((hit & HIGHS) != 0)
		return 1;
	for (; i < n; i++)
		if (cclass[(unsigned char)s[i]] & C_CTL)
			return 1;
	return 0;
}

/* 1 when the n bytes at s are all ASCII, eight at a time. */
static int all_ascii(const char *s, size_t n)
{
	uint64_t acc = 0, w;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, s + i, 8);
		acc |= w;
	}
	for (; i < n; i++)
		acc |= (unsigned char)s[i];
	return (acc & HIGHS) == 0;
}

/*
 * A host name (already percent-decoded) into lower-case A-labels. Non-ASCII
 * names go through libidn2 (UTS #46 non-transitional mapping, which also
 * folds case and applies NFC). Trailing dots go.
 */
static int name_norm(const char *in, size_t n, char *out, size_t outsz)
{
	size_t i;

	while (n > 0 && in[n - 1] == '.')
		n--;
	if (n == 0 || n >= CTD_HOST_MAX)
		return -1;
	if (all_ascii(in, n)) { /* the common case, in one pass */
		if (n >= outsz || in[0] == '.')
			return -1;
		for (i = 0; i < n; i++) {
			unsigned char c = (unsigned char)in[i];

			if (c >= 'A' && c <= 'Z')
				c = (unsigned char)(c + 32);
			else if (!host_char(c) ||
				 (c == '.' && in[i - 1] == '.'))
				return -1;
			out[i] = (char)c;
		}
		out[n] = '\0';
		return 0;
	}
	{
		char tmp[CTD_HOST_MAX], *res = NULL;
		int rc;

		memcpy(tmp, in, n);
		tmp[n] = '\0';
		rc = idn2_lookup_u8((const uint8_t *)tmp, (uint8_t **)&res,
				    IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
		if (rc != IDN2_OK)
			rc = idn2_lookup_u8((const uint8_t *)tmp,
					    (uint8_t **)&res,
					    IDN2_NFC_INPUT | IDN2_TRANSITIONAL);
		if (rc != IDN2_OK || res == NULL)
			return -1;
		n = strlen(res);
		if (n >= outsz) {
			idn2_free(res);
			return -1;
		}
		for (i = 0; i < n; i++)
			out[i] = (char)tolower((unsigned char)res[i]);
		out[n] = '\0';
		idn2_free(res);
	}
	while (n > 0 && out[n - 1] == '.')
		out[--n] = '\0';
	if (n == 0 || out[0] == '.' || strstr(out, "..") != NULL)
		return -1;
	for (i = 0; i < n; i++)
		if (!host_char((unsigned char)out[i]))
			return -1;
	return 0;
}

int ctd_domain_norm(const char *in, char *out, size_t outsz)
{
	size_t n = in ? strlen(in) : 0;
	char ip[64];

	while (n > 0 && isspace((unsigned char)in[n - 1]))
		n--;
	while (n > 0 && isspace((unsigned char)*in)) {
		in++;
		n--;
	}
	if (n >= 2 && in[0] == '*' && in[1] == '.') {
		in += 2;
		n -= 2;
	} else if (n >= 1 && in[0] == '.') {
		in++;
		n--;
	}
	if (n == 0 || ipv4_parse(in, n, ip, sizeof(ip)) != 0)
		return -1;
	if (name_norm(in, n, out, outsz) < 0 || strchr(out, '.') == NULL)
		return -1;
	return 0;
}

/* ---------------------------------------------------------------------
 * URLs
 */

static int default_port(const char *scheme, unsigned long port)
{
	return (port == 80 &&
		(strcmp(scheme, "http") == 0 || strcmp(scheme, "ws") == 0)) ||
	       (port == 443 &&
		(strcmp(scheme, "https") == 0 || strcmp(scheme, "wss") == 0)) ||
	       (port == 21 && strcmp(scheme, "ftp") == 0);
}

/* A byte a path or query keeps as it is: printable ASCII but for
 * % \\ " < > ` { } | ^. */
static int plain_char(unsigned char c)
{
	return cclass[c] & C_PLAIN;
}

/* Path or query bytes: escapes of unreserved characters decoded, other
 * escapes upper-cased, a stray '%' and unsafe bytes escaped. */
static void put_component(struct buf *b, const char *s, size_t n,
			  int backslash_is_slash)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t run = i;

		while (run < n && plain_char((unsigned char)s[run]))
			run++;
		if (run > i) {
			puts_n(b, s + i, run - i);
			i = run - 1;
			continue;
		}
		if (c == '%') {
			if (i + 2 < n && hexval((unsigned char)s[i + 1]) >= 0 &&
			    hexval((unsigned char)s[i + 2]) >= 0) {
				int d = hexval((unsigned char)s[i + 1]) << 4 |
					hexval((unsigned char)s[i + 2]);

				if (unreserved(d))
					put(b, (char)d);
				else
					put_escaped(b, (unsigned char)d);
				i += 2;
			} else {
				put_escaped(b, '%');
			}
		} else if (c == '\\' && backslash_is_slash) {
			put(b, '/');
		} else if (c <= 0x20 || c >= 0x7f || c == '"' || c == '<' ||
			   c == '>' || c == '`' || c == '{' || c == '}' ||
			   c == '|' || c == '^' || c == '\\') {
			put_escaped(b, c);
		} else {
			put(b, (char)c);
		}
	}
}

/* Does the path (n bytes, starting with '/') hold "/.", the start of
 * every segment remove_dot_segments() changes? */
static int has_dot_segment(const char *path, size_t n)
{
	const char *d = memchr(path, '.', n);

	for (; d != NULL; d = memchr(d + 1, '.', n - (size_t)(d + 1 - path)))
		if (d > path && d[-1] == '/')
			return 1;
	return 0;
}

/* RFC 3986 5.2.4 on a path that starts with '/', in place (the output
 * never outgrows the input). */
static void remove_dot_segments(char *path)
{
	const char *p = path;
	size_t o = 0;

	while (*p != '\0') {
		if (p[0] == '/' && p[1] == '.' &&
		    (p[2] == '/' || p[2] == '\0')) {
			p += 2;
			if (*p == '\0') {
				path[o++] = '/';
				break;
			}
			continue;
		}
		if (p[0] == '/' && p[1] == '.' && p[2] == '.' &&
		    (p[3] == '/' || p[3] == '\0')) {
			p += 3;
			while (o > 0 && path[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
			if (*p == '\0') {
				path[o++] = '/';
				break;
			}
			continue;
		}
		do
			path[o++] = *p++;
		while (*p != '\0' && *p != '/');
	}
	path[o] = '\0';
	if (o == 0)
		strcpy(path, "/");
}

int ctd_url_norm(const char *in, size_t len, int scheme_optional,
		 struct ctd_url *out)
{
	char scheme[16] = "", host_raw[CTD_HOST_MAX], port_s[8] = "";
	char pathbuf[CTD_URL_MAX];
	struct buf b = {out->url, 0, sizeof(out->url), 0};
	struct buf pb = {pathbuf, 0, sizeof(pathbuf), 0};
	size_t i = 0, auth, auth_end, host_start, host_end, hn = 0;
	size_t last_at = SIZE_MAX, last_colon = SIZE_MAX;
	int special;

	out->url[0] = out->bare[0] = out->host[0] = out->ip[0] = '\0';
	out->host_is_ip = out->has_scheme = 0;
	while (len > 0 && isspace((unsigned char)*in)) {
		in++;
		len--;
	}
	while (len > 0 && isspace((unsigned char)in[len - 1]))
		len--;
	if (has_ctl(in, len))
		return -1;
	/* scheme "://" */
	for (i = 0; i < len && i < sizeof(scheme) - 1 &&
		    (isalnum((unsigned char)in[i]) || in[i] == '+' ||
		     in[i] == '-' || in[i] == '.');
	     i++)
		scheme[i] = (char)tolower((unsigned char)in[i]);
	scheme[i] = '\0';
	if (i > 0 && isalpha((unsigned char)in[0]) && i + 2 < len &&
	    in[i] == ':' && (in[i + 1] == '/' || in[i + 1] == '\\') &&
	    (in[i + 2] == '/' || in[i + 2] == '\\')) {
		if (strcmp(scheme, "http") != 0 &&
		    strcmp(scheme, "https") != 0 && strcmp(scheme, "ftp") != 0)
			return -1;
		out->has_scheme = 1;
		auth = i + 3;
	} else if (scheme_optional) {
		/* "mailto:x" is not a web address; "host:8080/x" is */
		if (i > 0 && i < len && in[i] == ':' &&
		    !(i + 1 < len && isdigit((unsigned char)in[i + 1])))
			return -1;
		scheme[0] = '\0';
		auth = 0;
		if (len >= 2 && in[0] == '/' && in[1] == '/')
			auth = 2;
	} else {
		return -1;
	}
	special = 1; /* http, https, ftp, and scheme-less web addresses */
	/* the authority ends at / ? # or \\; userinfo (up to the last '@')
	 * goes; a port follows the last ':' */
	for (auth_end = auth; auth_end < len; auth_end++) {
		char c = in[auth_end];

		if (!(cclass[(unsigned char)c] & C_AUTH))
			continue;
		if (c == '@')
			last_at = auth_end;
		else if (c == ':')
			last_colon = auth_end;
		else
			break;
	}
	host_start = last_at != SIZE_MAX ? last_at + 1 : auth;
	host_end = auth_end;
	if (host_start < auth_end && in[host_start] == '[') {
		const char *rb =
		    memchr(in + host_start, ']', auth_end - host_start);

		if (rb == NULL)
			return -1;
		host_end = (size_t)(rb - in) + 1;
		if (host_end < auth_end && in[host_end] != ':')
			return -1;
	} else if (last_colon != SIZE_MAX && last_colon >= host_start) {
		host_end = last_colon;
	}
	if (host_end < auth_end) { /* ":port" */
		size_t pl = auth_end - host_end - 1;
		unsigned long port = 0;

		for (i = host_end + 1; i < auth_end; i++) {
			if (!isdigit((unsigned char)in[i]))
				return -1;
			port = port * 10 + (unsigned long)(in[i] - '0');
			if (port > 65535)
				return -1;
		}
		if (pl > 0 && !default_port(scheme, port))
			snprintf(port_s, sizeof(port_s), "%lu", port);
	}
	/* host: percent-decoded, then an address or a name */
	if (memchr(in + host_start, '%', host_end - host_start) == NULL) {
		/* nothing to decode, and no NUL (control bytes are refused) */
		hn = host_end - host_start;
		if (hn + 1 > sizeof(host_raw))
			return -1;
		memcpy(host_raw, in + host_start, hn);
	} else {
		for (i = host_start; i < host_end; i++) {
			int c = (unsigned char)in[i];

			if (c == '%' && i + 2 < host_end &&
			    hexval((unsigned char)in[i + 1]) >= 0 &&
			    hexval((unsigned char)in[i + 2]) >= 0) {
				c = hexval((unsigned char)in[i + 1]) << 4 |
				    hexval((unsigned char)in[i + 2]);
				i += 2;
			}
			if (c == 0 || hn + 1 >= sizeof(host_raw))
				return -1;
			host_raw[hn++] = (char)c;
		}
	}
	host_raw[hn] = '\0';
	if (hn == 0)
		return -1;
	if (host_raw[0] == '[') {
		unsigned char a6[16];
		char inner[CTD_HOST_MAX];
		char *pct;

		if (hn < 3 || host_raw[hn - 1] != ']')
			return -1;
		memcpy(inner, host_raw + 1, hn - 2);
		inner[hn - 2] = '\0';
		if ((pct = strchr(inner, '%')) != NULL)
			*pct = '\0'; /* zone id */
		if (inet_pton(AF_INET6, inner, a6) != 1 ||
		    inet_ntop(AF_INET6, a6, out->ip, sizeof(out->ip)) == NULL)
			return -1;
		snprintf(out->host, sizeof(out->host), "[%s]", out->ip);
		out->host_is_ip = 1;
	} else {
		int r = ipv4_parse(host_raw, hn, out->ip, sizeof(out->ip));

		if (r < 0)
			return -1;
		if (r == 1) {
			memcpy(out->host, out->ip, strlen(out->ip) + 1);
			out->host_is_ip = 1;
		} else if (name_norm(host_raw, hn, out->host,
				     sizeof(out->host)) < 0) {
			return -1;
		} else if (!out->has_scheme && strchr(out->host, '.') == NULL) {
			return -1; /* "foo/bar" is not a web address */
		}
	}
	/* path, then query; the fragment goes */
	{
		const char *hash = memchr(in + auth_end, '#', len - auth_end);
		size_t q = hash ? (size_t)(hash - in) : len, p;
		const char *qm = memchr(in + auth_end, '?', q - auth_end);

		/* the path is in[auth_end, p), the query in[p + 1, q) */
		p = qm ? (size_t)(qm - in) : q;
		if (p == auth_end ||
		    (in[auth_end] != '/' && in[auth_end] != '\\'))
			put(&pb, '/');
		put_component(&pb, in + auth_end, p - auth_end, special);
		if (!pb.overflow && has_dot_segment(pathbuf, pb.len)) {
			remove_dot_segments(pathbuf);
			pb.len = strlen(pathbuf);
		}
		if (qm != NULL && q > p + 1) {
			put(&pb, '?');
			put_component(&pb, in + p + 1, q - p - 1, 0);
		}
	}
	if (out->has_scheme) {
		puts_n(&b, scheme, strlen(scheme));
		puts_n(&b, "://", 3);
	}
	puts_n(&b, out->host, strlen(out->host));
	if (port_s[0] != '\0') {
		put(&b, ':');
		puts_n(&b, port_s, strlen(port_s));
	}
	if (!pb.overflow)
		puts_n(&b, pathbuf, pb.len);
	if (b.overflow || pb.overflow) {
		out->url[0] = '\0';
		out->bare[0] = '\0';
		return 0;
	}
	{
		size_t skip = out->has_scheme ? strlen(scheme) + 3 : 0;

		memcpy(out->bare, out->url + skip, b.len - skip + 1);
	}
	return 0;
}

/* ---------------------------------------------------------------------
 * Any object
 */

int ctd_value_norm(enum ctd_kind kind, const char *value, char *out,
		   size_t outsz)
{
	switch (kind) {
	case CTD_FILE:
		return ctd_hash_norm(value, out, outsz);
	case CTD_DOMAIN:
		return ctd_domain_norm(value, out, outsz);
	case CTD_IP:
		return ctd_ip_norm(value, out, outsz);
	case CTD_URL: {
		struct ctd_url *u = malloc(sizeof(*u));
		int rc = -1;

		if (u == NULL)
			return -1;
		if (value != NULL &&
		    ctd_url_norm(value, strlen(value), 1, u) == 0 &&
		    u->url[0] != '\0' && strlen(u->url) < outsz) {
			memcpy(out, u->url, strlen(u->url) + 1);
			rc = 0;
		}
		free(u);
		return rc;
	}
	case CTD_KIND_COUNT:
		break;
	}
	return -1;
}

int ctd_value_guess(const char *value, char *out, size_t outsz, int *kind_r)
{
	size_t n = value ? strlen(value) : 0, i;
	int hex = 1;

	*kind_r = -1;
	if (n == 0)
		return -1;
	for (i = 0; i < n && hex; i++)
		if (!isxdigit((unsigned char)value[i]))
			hex = 0;
	if (hex && (n == 40 || n == 64)) {
		*kind_r = CTD_FILE;
		return ctd_hash_norm(value, out, outsz);
	}
	if (strchr(value, '/') != NULL) {
		*kind_r = CTD_URL;
		return ctd_value_norm(CTD_URL, value, out, outsz);
	}
	if (ctd_ip_norm(value, out, outsz) == 0) {
		*kind_r = CTD_IP;
		return 0;
	}
	if (ctd_domain_norm(value, out, outsz) == 0) {
		*kind_r = CTD_DOMAIN;
		return 0;
	}
	return -1;
}

int ctd_value_kind(const char *value)
{
	char tmp[CTD_URL_MAX];
	int kind;

	ctd_value_guess(value, tmp, sizeof(tmp), &kind);
	return kind;
}

/* ---------------------------------------------------------------------
 * URLs in text
 */

/* The end of the URL starting at from: the first byte of class stop
 * (C_STOP, with C_QUOTE in HTML: whitespace, control bytes, "<>`, '). */
static size_t url_end(const char *text, size_t len, size_t from, unsigned stop)
{
	while (from < len && !(cclass[(unsigned char)text[from]] & stop))
		from++;
	return from;
}

/* Decodes the character references of an HTML attribute or text
 * (&amp; &#47; &#x2F; and the few named ones URLs use) into out. */
static size_t html_unescape(const char *s, size_t n, char *out, size_t outsz)
{
	static const struct {
		const char *name;
		char c;
	} named[] = {{"amp;", '&'},   {"quot;", '"'},  {"apos;", '\''},
		     {"lt;", '<'},    {"gt;", '>'},    {"sol;", '/'},
		     {"colon;", ':'}, {"quest;", '?'}, {"equals;", '='},
		     {"num;", '#'},   {"period;", '.'}};
	size_t i = 0, o = 0, k;

	while (i < n && o + 1 < outsz) {
		if (s[i] != '&') { /* the run up to the next '&' as it is */
			const char *amp = memchr(s + i, '&', n - i);
			size_t run = (amp ? (size_t)(amp - s) : n) - i;

			if (run > outsz - 1 - o)
				run = outsz - 1 - o;
			memcpy(out + o, s + i, run);
			o += run;
			i += run;
			continue;
		}
		{ /* a character reference, or a '&' kept as it is */
			int done = 0;

			if (i + 2 < n && s[i + 1] == '#') {
				size_t j = i + 2;
				unsigned long v = 0;
				int base = 10, digits = 0;

				if (j < n && (s[j] == 'x' || s[j] == 'X')) {
					base = 16;
					j++;
				}
				while (j < n &&
				       hexval((unsigned char)s[j]) >= 0 &&
				       hexval((unsigned char)s[j]) < base &&
				       v < 0x110000) {
					v = v * (unsigned long)base +
					    (unsigned long)hexval(
						(unsigned char)s[j]);
					j++;
					digits++;
				}
				if (digits > 0 && v > 0x20 && v < 0x7f) {
					if (j < n && s[j] == ';')
						j++;
					out[o++] = (char)v;
					i = j;
					done = 1;
				}
			} else {
				for (k = 0;
				     k < sizeof(named) / sizeof(named[0]);
				     k++) {
					size_t ln = strlen(named[k].name);

					if (i + 1 + ln <= n &&
					    strncasecmp(s + i + 1,
							named[k].name,
							ln) == 0) {
						out[o++] = named[k].c;
						i += 1 + ln;
						done = 1;
						break;
					}
				}
			}
			if (done)
				continue;
		}
		out[o++] = s[i++];
	}
	out[o] = '\0';
	return o;
}

/* Hands one URL candidate to fn: trailing punctuation dropped, HTML
 * character references decoded, "http://" put before a "www." name. The
 * text itself when nothing changes but its end (no copy). */
static void emit(const char *u, size_t n, int html, int add_scheme,
		 ctd_url_fn fn, void *arg)
{
	char tmp[CTD_URL_MAX + 8];
	size_t open = 0, close = 0, i, o = 0;
	int counted = 0;

	/* trailing punctuation belongs to the sentence, not the URL; a ')'
	 * only when it closes nothing (parentheses counted the first time
	 * one ends the URL) */
	while (n > 0) {
		char c = u[n - 1];

		if (c == ')') {
			if (!counted) {
				for (i = 0; i < n; i++) {
					if (u[i] == '(')
						open++;
					else if (u[i] == ')')
						close++;
				}
				counted = 1;
			}
			if (close <= open)
				break;
			close--;
			n--;
		} else if (c == '.' || c == ',' || c == ';' || c == ':' ||
			   c == '!' || c == '?' || c == '\'' || c == ']' ||
			   c == '}') {
			n--;
		} else {
			break;
		}
	}
	if (n == 0)
		return;
	if (n > CTD_URL_MAX - 8)
		n = CTD_URL_MAX - 8; /* the host still counts */
	if (!add_scheme && (!html || memchr(u, '&', n) == NULL)) {
		fn(arg, u, n);
		return;
	}
	if (add_scheme) {
		memcpy(tmp, "http://", 7);
		o = 7;
	}
	if (html)
		o += html_unescape(u, n, tmp + o, sizeof(tmp) - o);
	else {
		memcpy(tmp + o, u, n);
		o += n;
		tmp[o] = '\0';
	}
	fn(arg, tmp, o);
}

/* The first c at or after from, or len; *cache keeps the last answer
 * (SIZE_MAX: none yet), so a scan moving forward searches each byte
 * once. */
static size_t find_from(const char *text, size_t len, size_t from, char c,
			size_t *cache)
{
	if (*cache == SIZE_MAX || *cache < from) {
		const char *p =
		    from < len ? memchr(text + from, c, len - from) : NULL;

		*cache = p ? (size_t)(p - text) : len;
	}
	return *cache;
}

/* Does the scheme name end just before text + at (any case)? */
static int scheme_before(const char *text, size_t at, const char *name,
			 size_t n)
{
	size_t k;

	if (at < n)
		return 0;
	for (k = 0; k < n; k++)
		if ((text[at - n + k] | 0x20) != name[k])
			return 0;
	return 1;
}

/* The next "www." (any case) at or after from, or len: found from the
 * dots, which memchr finds fast. */
static size_t find_www(const char *text, size_t len, size_t from, size_t *cache)
{
	size_t at;

	if (*cache != SIZE_MAX && *cache >= from)
		return *cache;
	for (at = from + 3; at < len;) {
		const char *dot = memchr(text + at, '.', len - at);

		if (dot == NULL)
			break;
		at = (size_t)(dot - text);
		if (((text[at - 1] | 0x20) == 'w') &&
		    ((text[at - 2] | 0x20) == 'w') &&
		    ((text[at - 3] | 0x20) == 'w'))
			return *cache = at - 3;
		at++;
	}
	return *cache = len;
}

void ctd_urls_in_text(const char *text, size_t len, int html, ctd_url_fn fn,
		      void *arg)
{
	size_t i = 0, c_colon = SIZE_MAX, c_www = SIZE_MAX;
	unsigned stop = html ? C_STOP | C_QUOTE : C_STOP;

	while (i + 3 < len) {
		size_t colon = find_from(text, len, i, ':', &c_colon);
		size_t w = find_www(text, len, i, &c_www);
		size_t at, start, end;

		/* a "www." first, unless it is inside a name or a path */
		if (w < colon) {
			unsigned char p =
			    w > 0 ? (unsigned char)text[w - 1] : ' ';

			if (isalnum(p) || p == '.' || p == '/' || p == '@' ||
			    p == '-' || p == '_') {
				i = w + 1;
				continue;
			}
			end = url_end(text, len, w, stop);
			if (end - w > 4)
				emit(text + w, end - w, html, 1, fn, arg);
			i = end;
			continue;
		}
		if (colon >= len)
			break;
		at = colon;
		i = at + 1;
		if (at + 2 >= len ||
		    !((text[at + 1] == '/' || text[at + 1] == '\\') &&
		      (text[at + 2] == '/' || text[at + 2] == '\\')))
			continue;
		if (scheme_before(text, at, "https", 5))
			start = at - 5;
		else if (scheme_before(text, at, "http", 4))
			start = at - 4;
		else if (scheme_before(text, at, "ftp", 3))
			start = at - 3;
		else
			continue;
		end = url_end(text, len, at + 3, stop);
		if (end > at + 3)
			emit(text + start, end - start, html, 0, fn, arg);
		i = end;
	}
}
