/*
 * snap_analyze.c - every SNAP heuristic over one gathered message.
 *
 * PURPOSE: read a snap_msg (header values, Received and Date fields,
 * bodies), note each technique found as a named reason with a short
 * detail, add up the configured weights, and list the message's URLs.
 * The score is the whole answer: the threshold and the Virtual Analyzer
 * are snap.c's business.
 *
 * NEVER: counts a reason twice, or depends on anything but its inputs
 * (the same message always gets the same score, details and URL order).
 */
#include "snap.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <glib.h>
#include <gmime/gmime.h>

const char *const snap_reason_names[SNAP_REASON_COUNT + 1] = {
    [SNAP_DISPLAY_NAME] = "display_name",
    [SNAP_DISPLAY_ADDRESS] = "display_name_address",
    [SNAP_HOMOGLYPH] = "homoglyph_domain",
    [SNAP_LOOKALIKE] = "lookalike_domain",
    [SNAP_REPLY_TO] = "reply_to_mismatch",
    [SNAP_REPLY_TO_FREEMAIL] = "reply_to_freemail",
    [SNAP_RETURN_PATH] = "return_path_mismatch",
    [SNAP_MESSAGE_ID] = "message_id_mismatch",
    [SNAP_ENVELOPE_RCPT] = "envelope_rcpt",
    [SNAP_RECEIVED] = "received_anomaly",
    [SNAP_MULTIPLE_DATE] = "multiple_date",
    [SNAP_CHARSET] = "charset_mismatch",
    [SNAP_MIXED_SCRIPT] = "mixed_script",
    [SNAP_LINK_TEXT] = "link_text_mismatch",
    [SNAP_IP_URL] = "ip_url",
    [SNAP_SHORTENER] = "shortener_url",
    [SNAP_DATA_URI] = "data_uri",
    [SNAP_PASSWORD_FORM] = "password_form",
    [SNAP_HIDDEN_TEXT] = "hidden_text",
    [SNAP_URGENCY] = "urgency",
    [SNAP_REASON_COUNT] = NULL,
};

/* Calibrated on the SpamAssassin ham corpus and the phishing fixtures
 * (tools/bench snap): a strong technique alone stays under the
 * conservative threshold, two of them or one with urgency cross it. */
const int snap_default_weights[SNAP_REASON_COUNT] = {
    [SNAP_DISPLAY_NAME] = 45,
    [SNAP_DISPLAY_ADDRESS] = 40,
    [SNAP_HOMOGLYPH] = 50,
    [SNAP_LOOKALIKE] = 45,
    [SNAP_REPLY_TO] = 15,
    [SNAP_REPLY_TO_FREEMAIL] = 30,
    [SNAP_RETURN_PATH] = 5,
    [SNAP_MESSAGE_ID] = 5,
    [SNAP_ENVELOPE_RCPT] = 5,
    [SNAP_RECEIVED] = 10,
    [SNAP_MULTIPLE_DATE] = 40,
    [SNAP_CHARSET] = 25,
    [SNAP_MIXED_SCRIPT] = 40,
    [SNAP_LINK_TEXT] = 30,
    [SNAP_IP_URL] = 25,
    [SNAP_SHORTENER] = 15,
    [SNAP_DATA_URI] = 45,
    [SNAP_PASSWORD_FORM] = 70,
    [SNAP_HIDDEN_TEXT] = 40,
    [SNAP_URGENCY] = 30,
};

void snap_hit(struct snap_result *r, enum snap_reason why, const char *fmt,
	      ...)
{
	if (r->hit & (1u << why))
		return;
	r->hit |= 1u << why;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->detail[why], sizeof r->detail[why], fmt, ap);
	va_end(ap);
}

void snap_add_url(struct snap_result *r, const char *url, size_t len)
{
	while (len > 0 && isspace((unsigned char)*url))
		url++, len--;
	while (len > 0 && isspace((unsigned char)url[len - 1]))
		len--;
	if (len == 0 || len > 2048 || r->n_urls >= SNAP_MAX_URLS)
		return;
	char *u;
	if (len > 4 && strncasecmp(url, "www.", 4) == 0)
		u = g_strdup_printf("http://%.*s", (int)len, url);
	else
		u = g_strndup(url, len);
	/* one line each in the Virtual Analyzer's URL list */
	for (char *p = u; *p; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
	for (size_t i = 0; i < r->n_urls; i++)
		if (strcmp(r->urls[i], u) == 0) {
			g_free(u);
			return;
		}
	if (r->urls == NULL)
		r->urls = g_new0(char *, SNAP_MAX_URLS);
	r->urls[r->n_urls++] = u;
}

void snap_result_clear(struct snap_result *r)
{
	for (size_t i = 0; i < r->n_urls; i++)
		g_free(r->urls[i]);
	g_free(r->urls);
	memset(r, 0, sizeof *r);
}

void snap_result_format(const struct snap_result *r,
			const struct snap_config *cfg, char *buf, size_t cap)
{
	size_t used = 0;
	buf[0] = '\0';
	for (int i = 0; i < SNAP_REASON_COUNT && used + 1 < cap; i++) {
		if (!(r->hit & (1u << i)) || cfg->weights[i] == 0)
			continue;
		int w = snprintf(buf + used, cap - used, "%s%s(%d) %s",
				 used ? ", " : "", snap_reason_names[i],
				 cfg->weights[i], r->detail[i]);
		if (w < 0)
			break;
		used += (size_t)w;
	}
	if (used >= cap)
		buf[cap - 1] = '\0';
}

/* ---- addresses ---- */

/* The bare address in a header value: the last <...>, else the first
 * word holding an '@'. Into buf; "" when none. */
static const char *bare_address(const char *v, char *buf, size_t cap)
{
	buf[0] = '\0';
	if (v == NULL)
		return buf;
	const char *lt = strrchr(v, '<');
	const char *s, *e;
	if (lt != NULL && (e = strchr(lt, '>')) != NULL) {
		s = lt + 1;
	} else {
		const char *at = strchr(v, '@');
		if (at == NULL)
			return buf;
		s = at;
		while (s > v && !isspace((unsigned char)s[-1]) && s[-1] != '"' &&
		       s[-1] != ',' && s[-1] != ':' && s[-1] != '(')
			s--;
		e = at;
		while (*e && !isspace((unsigned char)*e) && *e != '"' &&
		       *e != ',' && *e != '>' && *e != ')' && *e != ';')
			e++;
	}
	size_t n = (size_t)(e - s);
	while (n > 0 && isspace((unsigned char)*s))
		s++, n--;
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	if (n >= cap)
		n = cap - 1;
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)tolower((unsigned char)s[i]);
	buf[n] = '\0';
	return buf;
}

static int is_internal(const struct snap_config *cfg, const char *domain)
{
	if (domain == NULL)
		return 0;
	size_t n = strlen(domain);
	for (size_t i = 0; i < cfg->n_domains; i++) {
		const struct snap_domain *d = &cfg->domains[i];
		size_t dn = strlen(d->name);
		if (!d->internal)
			continue;
		if (strcasecmp(domain, d->name) == 0 ||
		    (n > dn && domain[n - dn - 1] == '.' &&
		     strcasecmp(domain + n - dn, d->name) == 0))
			return 1;
	}
	return 0;
}

/* One of the protected brands' own domains (or one of ours)? */
static int is_listed(const struct snap_config *cfg, const char *domain)
{
	size_t n = strlen(domain);
	for (size_t i = 0; i < cfg->n_domains; i++) {
		const char *d = cfg->domains[i].name;
		size_t dn = strlen(d);
		if (strcasecmp(domain, d) == 0 ||
		    (n > dn && domain[n - dn - 1] == '.' &&
		     strcasecmp(domain + n - dn, d) == 0))
			return 1;
	}
	return 0;
}

static void check_sender(const struct snap_config *cfg,
			 const struct snap_msg *m, struct snap_result *r)
{
	const char *fd = snap_addr_domain(m->from_addr);
	const char *name = m->from_name;

	/* a protected name shown by an outsider, at the start of the
	 * display name ("PayPal Service", not "Lockergnome Apple Core") */
	if (fd != NULL && name != NULL && *name && !is_internal(cfg, fd) &&
	    !is_listed(cfg, fd) && cfg->n_names > 0) {
		char *sk = snap_name_form(name);
		char *dsk = snap_skeleton(snap_registrable(fd), 1);
		for (size_t i = 0; i < cfg->n_names; i++) {
			size_t nl = strlen(cfg->names[i]);
			if (strncmp(sk, cfg->names[i], nl) != 0 ||
			    (sk[nl] != '\0' && sk[nl] != ' '))
				continue;
			char *own = cfg->names_squeezed == NULL
					? snap_skeleton(cfg->names_shown[i], 1)
					: NULL;
			int hit =
			    strstr(dsk, own ? own : cfg->names_squeezed[i]) ==
			    NULL;
			free(own);
			if (hit) {
				snap_hit(r, SNAP_DISPLAY_NAME,
					 "'%.40s' from %.40s%s",
					 cfg->names_shown[i], fd,
					 snap_is_freemail(fd) ? " (free mail)"
							      : "");
				break;
			}
		}
		free(sk);
		free(dsk);
	}
	/* "service@bank.example" <someone@elsewhere.example> */
	if (fd != NULL && name != NULL && strchr(name, '@') != NULL) {
		char shown[256];
		bare_address(name, shown, sizeof shown);
		const char *sd = snap_addr_domain(shown);
		if (sd != NULL && strchr(sd, '.') != NULL && !snap_same_org(sd, fd))
			snap_hit(r, SNAP_DISPLAY_ADDRESS, "shows %.50s, sent from %.40s",
				 shown, fd);
	}

	/* lookalike domains: From first, then Reply-To */
	char rt[256];
	const char *rd = snap_addr_domain(bare_address(m->reply_to, rt, sizeof rt));
	const char *hosts[2] = {fd, rd};
	for (int i = 0; i < 2; i++) {
		const struct snap_domain *d;
		const char *why;
		int reason;
		if (hosts[i] == NULL ||
		    !(reason = snap_domain_lookalike(cfg, hosts[i], &d, &why)))
			continue;
		snap_hit(r, (enum snap_reason)reason, "%s%.50s~%.40s (%s)",
			 i ? "reply-to " : "", hosts[i], d->name, why);
	}

	if (fd != NULL && rd != NULL && !snap_same_org(rd, fd)) {
		snap_hit(r, SNAP_REPLY_TO, "reply to %.50s, from %.40s", rd, fd);
		if (snap_is_freemail(rd) && !snap_is_freemail(fd))
			snap_hit(r, SNAP_REPLY_TO_FREEMAIL, "%.60s", rt);
	}

	char rp[256];
	const char *rpd = NULL;
	if (m->return_path != NULL)
		rpd = snap_addr_domain(bare_address(m->return_path, rp, sizeof rp));
	else if (m->sender != NULL && *m->sender)
		rpd = snap_addr_domain(bare_address(m->sender, rp, sizeof rp));
	if (fd != NULL && rpd != NULL && !snap_same_org(rpd, fd))
		snap_hit(r, SNAP_RETURN_PATH, "return path %.50s, from %.40s", rpd,
			 fd);

	if (fd != NULL) {
		const char *mid = m->message_id;
		const char *at = mid ? strrchr(mid, '@') : NULL;
		if (mid == NULL || !*mid) {
			snap_hit(r, SNAP_MESSAGE_ID, "no Message-ID");
		} else if (at != NULL) {
			char host[256];
			size_t n = strcspn(at + 1, ">\" \t");
			if (n < sizeof host) {
				memcpy(host, at + 1, n);
				host[n] = '\0';
				if (strchr(host, '.') != NULL &&
				    !snap_same_org(host, fd) &&
				    (rpd == NULL || !snap_same_org(host, rpd)))
					snap_hit(r, SNAP_MESSAGE_ID,
						 "Message-ID host %.50s, from %.40s",
						 host, fd);
			}
		}
	}

	/* envelope recipients the headers never name */
	for (size_t i = 0; i < m->n_rcpts; i++) {
		const char *a = m->rcpts[i];
		if (a == NULL || !*a)
			continue;
		if ((m->to && strcasestr(m->to, a)) ||
		    (m->cc && strcasestr(m->cc, a)) ||
		    (m->bcc && strcasestr(m->bcc, a)))
			continue;
		snap_hit(r, SNAP_ENVELOPE_RCPT, "%.60s not in To/Cc", a);
		break;
	}
}

/* ---- Received and Date ---- */

struct hop {
	gint64 t; /* UTC seconds, or G_MININT64 when unreadable */
	int zone; /* minutes east of UTC */
	char from[128], by[128];
};

/* `key` ("from", "by") as a word of its own. */
static const char *find_word(const char *s, const char *key)
{
	size_t kl = strlen(key);
	int k0 = key[0];
	for (const char *p = s; *p; p++)
		if (tolower((unsigned char)*p) == k0 &&
		    (p == s || isspace((unsigned char)p[-1])) &&
		    strncasecmp(p, key, kl) == 0 &&
		    isspace((unsigned char)p[kl]))
			return p;
	return NULL;
}

/* The word after `key`, lower case, into out. */
static void word_after(const char *s, const char *key, char *out, size_t cap)
{
	out[0] = '\0';
	const char *p = find_word(s, key);
	if (p == NULL)
		return;
	p += strlen(key);
	while (isspace((unsigned char)*p))
		p++;
	size_t n = strcspn(p, " \t\r\n;()[]");
	if (n >= cap)
		n = cap - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)p[i]);
	out[n] = '\0';
}

/* The usual RFC 5322 date, "[Www, ]D Mon YYYY HH:MM:SS +HHMM [(comment)]",
 * read without GMime (whose parser, with its time zone objects, cost a
 * tenth of SNAP's time): 1 with the UTC seconds and the zone in minutes
 * east; 0 for anything else, left to g_mime_utils_header_decode_date()
 * (the answers are the same where both read it: tested on every date of
 * the SpamAssassin corpus). */
static int plain_date(const char *s, gint64 *t_r, int *zone_r)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	static const char days[] = "SunMonTueWedThuFriSat";
	static const int mdays[] = {31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31};
#define DIG(c) ((c) >= '0' && (c) <= '9')
#define BLANK(c) ((c) == ' ' || (c) == '\t' || (c) == '\r' || (c) == '\n')
	while (BLANK(*s))
		s++;
	if (!DIG(*s)) { /* a day of the week, as written */
		int ok = 0;
		for (int i = 0; i < 7 && !ok; i++)
			ok = strncmp(s, days + 3 * i, 3) == 0;
		if (!ok || s[3] != ',')
			return 0;
		s += 4;
		while (*s == ' ' || *s == '\t')
			s++;
	}
	int day = 0, mon = -1, year, h, mi, sec;
	if (!DIG(s[0]))
		return 0;
	day = s[0] - '0';
	s++;
	if (DIG(*s))
		day = day * 10 + (*s++ - '0');
	if (*s++ != ' ')
		return 0;
	for (int i = 0; i < 12 && mon < 0; i++)
		if (strncmp(s, months + 3 * i, 3) == 0)
			mon = i;
	if (mon < 0 || s[3] != ' ')
		return 0;
	s += 4;
	if (!DIG(s[0]) || !DIG(s[1]) || !DIG(s[2]) || !DIG(s[3]) || s[4] != ' ')
		return 0;
	year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
	       (s[3] - '0');
	s += 5;
	if (!DIG(s[0]) || !DIG(s[1]) || s[2] != ':' || !DIG(s[3]) ||
	    !DIG(s[4]) || s[5] != ':' || !DIG(s[6]) || !DIG(s[7]) ||
	    s[8] != ' ')
		return 0;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	mi = (s[3] - '0') * 10 + (s[4] - '0');
	sec = (s[6] - '0') * 10 + (s[7] - '0');
	s += 9;
	if ((*s != '+' && *s != '-') || !DIG(s[1]) || !DIG(s[2]) ||
	    !DIG(s[3]) || !DIG(s[4]))
		return 0;
	int zh = (s[1] - '0') * 10 + (s[2] - '0'),
	    zm = (s[3] - '0') * 10 + (s[4] - '0');
	int zone = (*s == '-' ? -1 : 1) * (zh * 60 + zm);
	s += 5;
	/* nothing after, or a comment apart ("(PDT)") */
	if (*s != '\0' && !BLANK(*s))
		return 0;
	while (BLANK(*s))
		s++;
	if (*s != '\0' && *s != '(')
		return 0;
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	if (year < 1970 || year > 2099 || day < 1 ||
	    day > mdays[mon] + (mon == 1 && leap) || h > 23 || mi > 59 ||
	    sec > 59 || zh > 14 || zm > 59)
		return 0;
#undef DIG
#undef BLANK
	/* days since 1970-01-01 (H. Hinnant's days_from_civil) */
	int y = year - (mon < 2), m = mon + 1;
	int era = y / 400, yoe = y - era * 400;
	int doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + day - 1;
	int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	gint64 days_since = (gint64)era * 146097 + doe - 719468;
	*t_r =
	    days_since * 86400 + h * 3600 + mi * 60 + sec - (gint64)zone * 60;
	*zone_r = zone;
	return 1;
}

/* A date: 1 with its UTC seconds and zone (minutes east), else 0. */
static int decode_date(const char *s, gint64 *t_r, int *zone_r)
{
	if (plain_date(s, t_r, zone_r))
		return 1;
	GDateTime *dt = g_mime_utils_header_decode_date(s);
	if (dt == NULL)
		return 0;
	*t_r = g_date_time_to_unix(dt);
	*zone_r = (int)(g_date_time_get_utc_offset(dt) / G_TIME_SPAN_MINUTE);
	g_date_time_unref(dt);
	return 1;
}

static void parse_hop(const char *rcv, struct hop *h)
{
	h->t = G_MININT64;
	h->zone = 0;
	word_after(rcv, "from", h->from, sizeof h->from);
	/* "from helo (rdns [ip])": the reverse name says more than HELO */
	const char *paren = strchr(rcv, '(');
	const char *by = find_word(rcv, "by");
	if (paren != NULL && (by == NULL || paren < by)) {
		char rdns[128];
		size_t n = strcspn(paren + 1, " \t[)");
		if (n > 0 && n < sizeof rdns) {
			memcpy(rdns, paren + 1, n);
			rdns[n] = '\0';
			if (strchr(rdns, '.') && !snap_is_ip_host(rdns))
				snprintf(h->from, sizeof h->from, "%s", rdns);
		}
	}
	word_after(rcv, "by", h->by, sizeof h->by);
	const char *semi = strrchr(rcv, ';');
	if (semi == NULL)
		return;
	gint64 t;
	int zone;
	if (decode_date(semi + 1, &t, &zone)) {
		h->t = t;
		h->zone = zone;
	}
}

/* A full host name: dotted, ending in a top-level domain of letters. */
static int fqdn(const char *h)
{
	const char *dot = strrchr(h, '.');
	if (dot == NULL || dot == h || !dot[1] || snap_is_ip_host(h) ||
	    strncmp(h, "localhost", 9) == 0)
		return 0;
	for (const char *p = dot + 1; *p; p++)
		if (!isalpha((unsigned char)*p))
			return 0;
	return 1;
}

static void check_received(const struct snap_msg *m, struct snap_result *r)
{
	size_t n = m->n_received < 32 ? m->n_received : 32;
	if (m->n_dates > 1)
		snap_hit(r, SNAP_MULTIPLE_DATE, "%zu Date fields", m->n_dates);
	if (n == 0)
		return;
	struct hop *hops = g_new0(struct hop, n);
	int zones[40], n_zones = 0;
	for (size_t i = 0; i < n; i++) {
		parse_hop(m->received[i], &hops[i]);
		if (hops[i].t == G_MININT64)
			continue;
		int seen = 0;
		for (int z = 0; z < n_zones; z++)
			seen |= zones[z] == hops[i].zone;
		if (!seen)
			zones[n_zones++] = hops[i].zone;
	}
	for (size_t i = 0; i < m->n_dates && i < 4; i++) {
		gint64 t;
		int zone;
		if (!decode_date(m->dates[i], &t, &zone))
			continue;
		int seen = 0;
		for (int z = 0; z < n_zones; z++)
			seen |= zones[z] == zone;
		if (!seen)
			zones[n_zones++] = zone;
	}
	int broken = 0;
	char broken_at[160] = "";
	for (size_t i = 0; i + 1 < n; i++) {
		const struct hop *newer = &hops[i], *older = &hops[i + 1];
		if (newer->t != G_MININT64 && older->t != G_MININT64) {
			gint64 gap = newer->t - older->t;
			if (gap > 3 * 86400) {
				snap_hit(r, SNAP_RECEIVED, "%lld h between hops %zu and %zu",
					 (long long)(gap / 3600), n - i - 1, n - i);
			} else if (gap < -86400) {
				snap_hit(r, SNAP_RECEIVED,
					 "hop %zu is %lld h older than hop %zu",
					 n - i, (long long)(-gap / 3600), n - i - 1);
			}
		}
		if (fqdn(newer->from) && fqdn(older->by) &&
		    !snap_same_org(newer->from, older->by)) {
			if (!broken_at[0])
				snprintf(broken_at, sizeof broken_at,
					 "%.60s handed over by %.60s",
					 older->by, newer->from);
			broken++;
		}
	}
	if (broken >= 2)
		snap_hit(r, SNAP_RECEIVED, "broken path (%d links): %s", broken,
			 broken_at);
	if (n_zones >= 4)
		snap_hit(r, SNAP_RECEIVED, "%d time zones in %zu hops", n_zones, n);
	g_free(hops);
}

/* ---- bodies ---- */

static int charset_is(const char *cs, const char *name)
{
	return cs != NULL && strcasecmp(cs, name) == 0;
}

static void check_charsets(const struct snap_msg *m, struct snap_result *r)
{
	static const char *const evasive[] = {"utf-7", "utf7", "x-user-defined",
					      "unicode-1-1-utf-7", NULL};
	for (size_t i = 0; i < m->n_header_charsets; i++)
		for (const char *const *e = evasive; *e; e++)
			if (charset_is(m->header_charsets[i], *e))
				snap_hit(r, SNAP_CHARSET, "header in %s", *e);
	for (size_t i = 0; i < m->n_texts; i++) {
		const struct snap_text *t = &m->texts[i];
		for (const char *const *e = evasive; *e; e++)
			if (charset_is(t->charset, *e))
				snap_hit(r, SNAP_CHARSET, "body in %s", *e);
		if (charset_is(t->charset, "utf-8") &&
		    !g_utf8_validate(t->data, (gssize)t->size, NULL))
			snap_hit(r, SNAP_CHARSET, "declared utf-8, is not");
		if (charset_is(t->charset, "us-ascii")) {
			size_t high = 0;
			for (size_t k = 0; k < t->size; k++)
				high += (unsigned char)t->data[k] >= 0x80;
			if (high > 16 && high * 20 > t->size)
				snap_hit(r, SNAP_CHARSET,
					 "declared us-ascii, %zu 8-bit bytes",
					 high);
		}
	}
}

static void check_urls(const struct snap_config *cfg, struct snap_result *r)
{
	char seen[SNAP_MAX_URLS][64]; /* hosts done: links repeat them */
	size_t n_seen = 0;
	for (size_t i = 0; i < r->n_urls; i++) {
		const char *u = r->urls[i];
		char host[256];
		if (!snap_url_host(u, strlen(u), host, sizeof host))
			continue;
		int again = 0;
		for (size_t k = 0; k < n_seen && !again; k++)
			again = strcmp(seen[k], host) == 0;
		if (again)
			continue;
		if (strlen(host) < sizeof seen[0])
			memcpy(seen[n_seen++], host, strlen(host) + 1);
		if (snap_is_ip_host(host)) {
			if (!snap_ip_is_private(host))
				snap_hit(r, SNAP_IP_URL, "%.80s", host);
			continue;
		}
		if (snap_is_shortener(host))
			snap_hit(r, SNAP_SHORTENER, "%.80s", host);
		const struct snap_domain *d;
		const char *why;
		int reason = snap_domain_lookalike(cfg, host, &d, &why);
		if (reason)
			snap_hit(r, (enum snap_reason)reason, "link %.50s~%.40s (%s)",
				 host, d->name, why);
	}
}

void snap_analyze(const struct snap_config *cfg, const struct snap_msg *m,
		  struct snap_result *r)
{
	struct snap_buf text = {0};
	if (m->subject != NULL) {
		snap_buf_add(&text, m->subject, strlen(m->subject));
		snap_buf_add(&text, " ", 1);
	}

	check_sender(cfg, m, r);
	check_received(m, r);
	check_charsets(m, r);

	for (size_t i = 0; i < m->n_texts; i++) {
		const struct snap_text *t = &m->texts[i];
		if (t->html) {
			struct snap_html h = {0};
			snap_html_scan(cfg, t->data, t->size, t->charset, &h,
				       &text, r);
			if (h.link_text[0])
				snap_hit(r, SNAP_LINK_TEXT, "%s", h.link_text);
			if (h.data_uri[0])
				snap_hit(r, SNAP_DATA_URI, "%s", h.data_uri);
			if (h.form[0])
				snap_hit(r, SNAP_PASSWORD_FORM, "%s%s", h.form,
					 t->attachment ? " (attachment)" : "");
			if (h.hidden[0])
				snap_hit(r, SNAP_HIDDEN_TEXT, "%s", h.hidden);
		} else if (!t->attachment) {
			snap_text_urls(t->data, t->size, r);
			snap_buf_add(&text, t->data, t->size);
			snap_buf_add(&text, " ", 1);
		}
	}
	check_urls(cfg, r);

	char word[64];
	if (m->from_name != NULL &&
	    snap_mixed_script(m->from_name, strlen(m->from_name), word, sizeof word))
		snap_hit(r, SNAP_MIXED_SCRIPT, "display name '%s'", word);
	if (m->subject != NULL &&
	    snap_mixed_script(m->subject, strlen(m->subject), word, sizeof word))
		snap_hit(r, SNAP_MIXED_SCRIPT, "subject '%s'", word);
	if (text.len > 0 && snap_mixed_script(text.p, text.len, word, sizeof word))
		snap_hit(r, SNAP_MIXED_SCRIPT, "text '%s'", word);

	int hits = 0;
	char said[100];
	unsigned kinds = snap_urgency(text.p, text.len, &hits, said, sizeof said);
	int n_kinds = !!(kinds & 1) + !!(kinds & 2) + !!(kinds & 4);
	if (n_kinds >= 2 || hits >= 3)
		snap_hit(r, SNAP_URGENCY, "%s%s%s: %s",
			 kinds & 1 ? "credential" : "",
			 kinds & 2 ? (kinds & 1 ? "+payment" : "payment") : "",
			 kinds & 4 ? (kinds & 3 ? "+urgency" : "urgency") : "",
			 said);
	snap_buf_free(&text);

	r->score = 0;
	for (int i = 0; i < SNAP_REASON_COUNT; i++)
		if (r->hit & (1u << i))
			r->score += cfg->weights[i];
}
