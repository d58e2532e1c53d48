/*
 * snap.c - the SNAP plugin: Social engineering Attack Protection.
 *
 *   plugins = ( { name = "snap";
 *                 mode = "auto";               # or conservative, aggressive
 *                 threshold_conservative = 70; threshold_aggressive = 40;
 *                 weights = { lookalike_domain = 40; };
 *                 protected_names = [ "Jane Whitfield", "PayPal" ];
 *                 lookalike_domains = [ "paypal.com" ]; } );
 *   rules = ( { ... conditions = ( { type = "snap"; } ); ... } );
 *
 * PURPOSE: gather what the heuristics read from the host (headers, the
 * GMime tree's Received/Date fields and charsets, the decoded bodies),
 * score it (snap_analyze.c), and decide. Two modes: conservative, when no
 * Virtual Analyzer is there, acts alone above a high threshold;
 * aggressive, when the "ddan" verdict source is there, takes a lower one
 * and sends each detection's attachments and URLs (as one text/uri-list
 * sample) for double verification, which confirms or dismisses it.
 *
 * NEVER: keeps anything between evaluations (a parked message is scored
 * again from scratch, with the same URL list and so the same sample), or
 * writes to the message.
 */
#include "snap.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <glib.h>
#include <gmime/gmime.h>
#include <openssl/evp.h>

#include <vigil/plugin.h>

#define VA_SOURCE "ddan"
#define THREAT "Social engineering attack"
#define MAX_VERIFY_PARTS 16

enum snap_mode { MODE_AUTO = 0, MODE_CONSERVATIVE, MODE_AGGRESSIVE };

struct snap_plugin {
	vigil_host *host;
	struct snap_config cfg;
	enum snap_mode mode;
	int threshold_conservative;
	int threshold_aggressive;
};

/* ---- settings ---- */

static void config_free(struct snap_config *c)
{
	for (size_t i = 0; i < c->n_domains; i++) {
		free(c->domains[i].name);
		free(c->domains[i].label);
		free(c->domains[i].skel);
	}
	free(c->domains);
	for (size_t i = 0; i < c->n_names; i++) {
		free(c->names[i]);
		free(c->names_shown[i]);
		if (c->names_squeezed != NULL)
			free(c->names_squeezed[i]);
	}
	free(c->names);
	free(c->names_shown);
	free(c->names_squeezed);
}

static void plugin_free(struct snap_plugin *pl)
{
	if (pl == NULL)
		return;
	config_free(&pl->cfg);
	free(pl);
}

static int add_domain(struct snap_config *c, const char *name, int internal)
{
	while (*name == '*' || *name == '.' || *name == '@')
		name++;
	if (strchr(name, '.') == NULL || strpbrk(name, "*? /") != NULL)
		return -1;
	for (size_t i = 0; i < c->n_domains; i++)
		if (strcasecmp(c->domains[i].name, name) == 0) {
			c->domains[i].internal |= internal;
			return 0;
		}
	struct snap_domain *g = realloc(c->domains,
					(c->n_domains + 1) * sizeof *g);
	if (g == NULL)
		return -1;
	c->domains = g;
	struct snap_domain *d = &c->domains[c->n_domains];
	d->name = strdup(name);
	if (d->name == NULL)
		return -1;
	for (char *p = d->name; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	size_t n = strlen(d->name);
	while (n > 0 && d->name[n - 1] == '.')
		d->name[--n] = '\0';
	const char *reg = snap_registrable(d->name);
	d->label = strndup(reg, strcspn(reg, "."));
	d->skel = snap_skeleton(d->label, 0);
	d->internal = internal;
	c->n_domains++;
	return 0;
}

static int add_name(struct snap_config *c, const char *name)
{
	char *sk = snap_name_form(name);
	if (strlen(sk) < 3) {
		free(sk);
		return -1;
	}
	char **a = realloc(c->names, (c->n_names + 1) * sizeof *a);
	if (a != NULL)
		c->names = a;
	char **b = realloc(c->names_shown, (c->n_names + 1) * sizeof *b);
	if (b != NULL)
		c->names_shown = b;
	char **q = realloc(c->names_squeezed, (c->n_names + 1) * sizeof *q);
	if (q != NULL)
		c->names_squeezed = q;
	if (a == NULL || b == NULL || q == NULL) {
		free(sk);
		return -1;
	}
	c->names[c->n_names] = sk;
	c->names_shown[c->n_names] = strdup(name);
	/* once here, not for every message */
	c->names_squeezed[c->n_names++] = snap_skeleton(name, 1);
	return 0;
}

/* A list of strings (list or array), each passed to add(). */
static int read_list(struct snap_plugin *pl, const config_setting_t *cfg,
		     const char *key, int (*add)(struct snap_plugin *, const char *),
		     const char **error_r)
{
	const config_setting_t *s = config_setting_get_member(cfg, key);
	if (s == NULL)
		return 0;
	if (!config_setting_is_list(s) && !config_setting_is_array(s)) {
		*error_r = vigil_setting_error(pl->host, s,
					       "'%s' must be a list of strings",
					       key);
		return -1;
	}
	for (int i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);
		const char *v = config_setting_get_string(e);
		if (v == NULL || add(pl, v) != 0) {
			*error_r = vigil_setting_error(
			    pl->host, e ? e : s,
			    "'%s': element %d is not a usable %s", key, i + 1,
			    strcmp(key, "protected_names") == 0
				? "name (a string of 3 letters or more)"
				: "domain name (\"example.com\")");
			return -1;
		}
	}
	return 0;
}

static int add_lookalike(struct snap_plugin *pl, const char *v)
{
	return add_domain(&pl->cfg, v, 0);
}

static int add_protected(struct snap_plugin *pl, const char *v)
{
	return add_name(&pl->cfg, v);
}

static int read_int(struct snap_plugin *pl, const config_setting_t *cfg,
		    const char *key, int lo, int hi, int *v_r,
		    const char **error_r)
{
	const config_setting_t *s = config_setting_get_member(cfg, key);
	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_INT ||
	    config_setting_get_int(s) < lo || config_setting_get_int(s) > hi) {
		*error_r = vigil_setting_error(pl->host, s,
					       "'%s' must be a number from %d to %d",
					       key, lo, hi);
		return -1;
	}
	*v_r = config_setting_get_int(s);
	return 0;
}

static int read_settings(struct snap_plugin *pl, const config_setting_t *cfg,
			 const char **error_r)
{
	static const char *const keys[] = {
	    "mode", "threshold_conservative", "threshold_aggressive",
	    "weights", "protected_names", "lookalike_domains", NULL};
	if (vigil_check_keys(pl->host, cfg, keys, error_r) != 0)
		return -1;
	const config_setting_t *s = config_setting_get_member(cfg, "mode");
	if (s != NULL) {
		const char *v = config_setting_get_string(s);
		if (v != NULL && strcmp(v, "auto") == 0)
			pl->mode = MODE_AUTO;
		else if (v != NULL && strcmp(v, "conservative") == 0)
			pl->mode = MODE_CONSERVATIVE;
		else if (v != NULL && strcmp(v, "aggressive") == 0)
			pl->mode = MODE_AGGRESSIVE;
		else {
			*error_r = vigil_setting_error(
			    pl->host, s,
			    "'mode' must be \"auto\", \"conservative\" or "
			    "\"aggressive\"");
			return -1;
		}
	}
	if (read_int(pl, cfg, "threshold_conservative", 1, 1000,
		     &pl->threshold_conservative, error_r) != 0 ||
	    read_int(pl, cfg, "threshold_aggressive", 1, 1000,
		     &pl->threshold_aggressive, error_r) != 0)
		return -1;
	const config_setting_t *w = config_setting_get_member(cfg, "weights");
	if (w != NULL) {
		if (!config_setting_is_group(w)) {
			*error_r = vigil_setting_error(
			    pl->host, w,
			    "'weights' must be a group: weights = { "
			    "lookalike_domain = 40; }");
			return -1;
		}
		if (vigil_check_keys(pl->host, w, snap_reason_names,
				     error_r) != 0)
			return -1;
		for (int i = 0; i < SNAP_REASON_COUNT; i++)
			if (read_int(pl, w, snap_reason_names[i], 0, 1000,
				     &pl->cfg.weights[i], error_r) != 0)
				return -1;
	}
	if (read_list(pl, cfg, "protected_names", add_protected, error_r) != 0 ||
	    read_list(pl, cfg, "lookalike_domains", add_lookalike, error_r) != 0)
		return -1;
	return 0;
}

/* ---- gathering the message ---- */

#define MAX_HDRS 32
#define MAX_TEXTS 32

struct gather {
	struct snap_msg m;
	const char *received[MAX_HDRS];
	const char *dates[8];
	const char *hcs[8];
	char hcs_buf[8][32];
	struct snap_text texts[MAX_TEXTS];
	const char *charsets[MAX_TEXTS];
	size_t n_charsets;
	char from_buf[512], name_buf[512];
};

/* The charsets of encoded-words ("=?koi8-r?B?...?=") in a raw value. */
static void note_header_charsets(struct gather *g, const char *raw)
{
	for (const char *p = raw; p && (p = strstr(p, "=?")) != NULL; p += 2) {
		size_t n = strcspn(p + 2, "?*");
		if (n == 0 || n >= sizeof g->hcs_buf[0] || p[2 + n] == '\0' ||
		    g->m.n_header_charsets >= 8)
			continue;
		char *b = g->hcs_buf[g->m.n_header_charsets];
		memcpy(b, p + 2, n);
		b[n] = '\0';
		g->hcs[g->m.n_header_charsets++] = b;
	}
}

/* The declared charset of each text leaf of the top-level message, in
 * the order the core lists them (embedded messages excluded: their
 * parts sit one level deeper). */
static void collect_charsets(struct gather *g, GMimeObject *obj, int level)
{
	if (obj == NULL || level > 32 || g->n_charsets >= MAX_TEXTS)
		return;
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		for (int i = 0; i < g_mime_multipart_get_count(mp); i++)
			collect_charsets(g, g_mime_multipart_get_part(mp, i),
					 level + 1);
	} else if (GMIME_IS_PART(obj)) {
		GMimeContentType *ct = g_mime_object_get_content_type(obj);
		if (ct && g_mime_content_type_get_media_type(ct) &&
		    g_ascii_strcasecmp(g_mime_content_type_get_media_type(ct),
				       "text") == 0)
			g->charsets[g->n_charsets++] =
			    g_mime_content_type_get_parameter(ct, "charset");
	}
}

/* Display name and address from a decoded From value, when there is no
 * GMime tree to ask. */
static void split_from(struct gather *g, const char *from)
{
	const char *lt = strrchr(from, '<');
	const char *gt = lt ? strchr(lt, '>') : NULL;
	if (lt != NULL && gt != NULL) {
		snprintf(g->from_buf, sizeof g->from_buf, "%.*s",
			 (int)(gt - lt - 1), lt + 1);
		const char *s = from, *e = lt;
		while (s < e && (isspace((unsigned char)*s) || *s == '"'))
			s++;
		while (e > s && (isspace((unsigned char)e[-1]) || e[-1] == '"'))
			e--;
		snprintf(g->name_buf, sizeof g->name_buf, "%.*s", (int)(e - s), s);
	} else {
		const char *s = from;
		while (isspace((unsigned char)*s))
			s++;
		snprintf(g->from_buf, sizeof g->from_buf, "%.*s",
			 (int)strcspn(s, " \t("), s);
		g->name_buf[0] = '\0';
	}
	g->m.from_addr = g->from_buf;
	g->m.from_name = g->name_buf;
}

static int ends_with_ci(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

static void gather(struct gather *g, vigil_message *msg)
{
	const vigil_host_api *api = msg->api;
	memset(g, 0, sizeof *g);
	struct snap_msg *m = &g->m;
	m->reply_to = vigil_message_header(msg, "Reply-To");
	m->return_path = vigil_message_header(msg, "Return-Path");
	m->message_id = vigil_message_header(msg, "Message-ID");
	m->to = vigil_message_header(msg, "To");
	m->cc = vigil_message_header(msg, "Cc");
	m->bcc = vigil_message_header(msg, "Bcc");
	m->subject = vigil_message_header(msg, "Subject");
	m->sender = api->message_sender(msg);
	m->rcpts = api->message_recipients(msg, &m->n_rcpts);

	GMimeMessage *mime = api->message_mime(msg);
	InternetAddressList *from = mime ? g_mime_message_get_from(mime) : NULL;
	InternetAddress *first = from && internet_address_list_length(from) > 0
				     ? internet_address_list_get_address(from, 0)
				     : NULL;
	if (first != NULL && INTERNET_ADDRESS_IS_MAILBOX(first)) {
		const char *name = internet_address_get_name(first);
		m->from_name = name ? name : "";
		m->from_addr = internet_address_mailbox_get_addr(
		    INTERNET_ADDRESS_MAILBOX(first));
	} else {
		const char *f = vigil_message_header(msg, "From");
		split_from(g, f ? f : "");
	}

	if (mime != NULL) {
		GMimeHeaderList *hl =
		    g_mime_object_get_header_list(GMIME_OBJECT(mime));
		int n = hl ? g_mime_header_list_get_count(hl) : 0;
		for (int i = 0; i < n; i++) {
			GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
			const char *name = g_mime_header_get_name(h);
			const char *raw = g_mime_header_get_raw_value(h);
			if (name == NULL || raw == NULL)
				continue;
			/* folded as they are: the parsers take any blank */
			if (g_ascii_strcasecmp(name, "Received") == 0 &&
			    m->n_received < MAX_HDRS)
				g->received[m->n_received++] = raw;
			else if (g_ascii_strcasecmp(name, "Date") == 0 &&
				 m->n_dates < 8)
				g->dates[m->n_dates++] = raw;
			else if (g_ascii_strcasecmp(name, "Subject") == 0 ||
				 g_ascii_strcasecmp(name, "From") == 0)
				note_header_charsets(g, raw);
		}
		collect_charsets(g, mime->mime_part, 0);
	} else {
		const char *d = vigil_message_header(msg, "Date");
		if (d != NULL)
			g->dates[m->n_dates++] = d;
	}
	m->received = g->received;
	m->dates = g->dates;
	m->header_charsets = g->hcs;

	size_t n_parts, k = 0;
	const vigil_part *parts = vigil_message_parts(msg, &n_parts);
	for (size_t i = 0; i < n_parts && m->n_texts < MAX_TEXTS; i++) {
		const vigil_part *p = &parts[i];
		const char *ct = p->content_type ? p->content_type : "";
		const char *charset = NULL;
		if (p->depth == 0 && !(p->flags & VIGIL_PART_MEMBER) &&
		    strncasecmp(ct, "text/", 5) == 0 && k < g->n_charsets)
			charset = g->charsets[k++];
		if (p->data == NULL || p->size == 0)
			continue;
		int named = p->name != NULL && *p->name;
		int html = strcasecmp(ct, "text/html") == 0 ||
			   (named && (ends_with_ci(p->name, ".htm") ||
				      ends_with_ci(p->name, ".html") ||
				      ends_with_ci(p->name, ".shtml")));
		int plain = strcasecmp(ct, "text/plain") == 0 && !named &&
			    p->depth == 0;
		if (!html && !plain)
			continue;
		if (p->depth > 0 && !named)
			continue; /* a forwarded message's body */
		struct snap_text *t = &g->texts[m->n_texts++];
		t->data = (const char *)p->data;
		t->size = p->size > (1u << 20) ? (1u << 20) : p->size;
		t->charset = charset;
		t->html = html;
		t->attachment = named;
	}
	m->texts = g->texts;
}

/* ---- double verification ---- */

static int is_attachment(const vigil_part *p)
{
	const char *ct = p->content_type ? p->content_type : "";
	if (p->data == NULL || p->size == 0 || (p->flags & VIGIL_PART_MEMBER))
		return 0;
	if (strncasecmp(ct, "multipart/", 10) == 0 ||
	    strcasecmp(ct, "message/rfc822") == 0)
		return 0;
	if (p->name != NULL && *p->name)
		return 1;
	return strncasecmp(ct, "text/", 5) != 0;
}

static void hex(const unsigned char *md, unsigned n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (unsigned i = 0; i < n; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[2 * n] = '\0';
}

/* The message's URLs as one sample: a text/uri-list, one URL a line. */
static char *url_part(const struct snap_result *r, vigil_part *p)
{
	GString *s = g_string_new(NULL);
	for (size_t i = 0; i < r->n_urls; i++) {
		g_string_append(s, r->urls[i]);
		g_string_append_c(s, '\n');
	}
	memset(p, 0, sizeof *p);
	p->path = "urls.txt";
	p->name = "urls.txt";
	p->content_type = "text/uri-list";
	p->true_type = "text";
	p->category = "other";
	p->data = (const unsigned char *)s->str;
	p->size = s->len;
	p->parent = -1;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	if (EVP_Digest(s->str, s->len, md, &n, EVP_sha1(), NULL) == 1)
		hex(md, n, p->sha1);
	if (EVP_Digest(s->str, s->len, md, &n, EVP_sha256(), NULL) == 1)
		hex(md, n, p->sha256);
	return g_string_free(s, FALSE);
}

/* Ask the Virtual Analyzer about every attachment and the URLs. Answers
 * MATCH (confirmed, or nobody will wait: the detection stands), NO_MATCH
 * (dismissed), ERROR or PENDING; *note_r says which. */
static vigil_result verify(struct snap_plugin *pl, vigil_message *msg,
			   vigil_eval *ev, const struct snap_result *r,
			   const char **note_r)
{
	vigil_host *h = pl->host;
	int match = 0, error = 0, pending = 0, undecided = 0, asked = 0;
	size_t n_parts;
	const vigil_part *parts = vigil_message_parts(msg, &n_parts);
	for (size_t i = 0; i < n_parts && !match && asked < MAX_VERIFY_PARTS;
	     i++) {
		if (!is_attachment(&parts[i]))
			continue;
		asked++;
		switch (h->api->verdict_query(h, VA_SOURCE, msg, &parts[i], ev)) {
		case VIGIL_MATCH: match = 1; break;
		case VIGIL_ERROR: error = 1; break;
		case VIGIL_PENDING: pending = 1; break;
		case VIGIL_UNDECIDED: undecided = 1; break;
		default: break;
		}
	}
	if (!match && r->n_urls > 0) {
		vigil_part up;
		char *data = url_part(r, &up);
		asked++;
		switch (h->api->verdict_query(h, VA_SOURCE, msg, &up, ev)) {
		case VIGIL_MATCH: match = 1; break;
		case VIGIL_ERROR: error = 1; break;
		case VIGIL_PENDING: pending = 1; break;
		case VIGIL_UNDECIDED: undecided = 1; break;
		default: break;
		}
		g_free(data);
	}
	if (match) {
		*note_r = "confirmed by " VA_SOURCE;
		return VIGIL_MATCH;
	}
	if (error) {
		*note_r = VA_SOURCE " could not verify";
		return VIGIL_ERROR;
	}
	if (pending) {
		*note_r = "waiting for " VA_SOURCE;
		return VIGIL_PENDING;
	}
	if (undecided || asked == 0) {
		*note_r = asked ? "not verified (" VA_SOURCE " undecided)"
				: "nothing to verify";
		return VIGIL_UNDECIDED;
	}
	*note_r = "dismissed by " VA_SOURCE;
	return VIGIL_NO_MATCH;
}

/* ---- the condition ---- */

static int snap_compile(void *ctx, const config_setting_t *setting,
			vigil_userdata *cond_r, const char **error_r)
{
	struct snap_plugin *pl = ctx;
	if (vigil_check_keys(pl->host, setting, NULL, error_r) != 0)
		return -1;
	cond_r->data = pl;
	cond_r->free = NULL;
	return 0;
}

static vigil_result snap_eval(void *cond, vigil_message *msg, vigil_eval *ev)
{
	struct snap_plugin *pl = cond;
	struct gather g;
	struct snap_result r = {0};
	gather(&g, msg);
	snap_analyze(&pl->cfg, &g.m, &r);

	int va = pl->host->api->verdict_available(pl->host, VA_SOURCE);
	int aggressive = pl->mode == MODE_AGGRESSIVE ||
			 (pl->mode == MODE_AUTO && va);
	int threshold = aggressive ? pl->threshold_aggressive
				   : pl->threshold_conservative;
	char reasons[1600];
	snap_result_format(&r, &pl->cfg, reasons, sizeof reasons);
	const char *mode = aggressive ? "aggressive" : "conservative";

	if (r.score < threshold) {
		vigil_eval_detail(ev, "score %d < %d (%s)%s%s", r.score,
				  threshold, mode, reasons[0] ? ": " : "",
				  reasons);
		snap_result_clear(&r);
		return VIGIL_NO_MATCH;
	}
	vigil_result res = VIGIL_MATCH;
	const char *note = NULL;
	if (aggressive && va)
		res = verify(pl, msg, ev, &r, &note);
	if (res == VIGIL_UNDECIDED || (res == VIGIL_MATCH && note == NULL))
		vigil_eval_threat(ev, THREAT);
	if (res == VIGIL_UNDECIDED)
		res = VIGIL_MATCH;
	vigil_eval_detail(ev, "score %d >= %d: %s [%s%s%s]", r.score, threshold,
			  reasons, mode, note ? "; " : "", note ? note : "");
	if (res == VIGIL_MATCH || res == VIGIL_PENDING)
		vigil_log(pl->host, VIGIL_LOG_INFO, "snap: %s: score %d >= %d: %s [%s%s%s]",
			  msg->api->message_id(msg), r.score, threshold, reasons,
			  mode, note ? "; " : "", note ? note : "");
	snap_result_clear(&r);
	return res;
}

static const vigil_condition_ops snap_condition_ops = {
    .type = "snap",
    .compile = snap_compile,
    .eval = snap_eval,
};

/* ---- life cycle ---- */

static int snap_init(vigil_host *host, const config_setting_t *cfg,
		     void **state_r, const char **error_r)
{
	struct snap_plugin *pl = calloc(1, sizeof *pl);
	if (pl == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	pl->host = host;
	pl->threshold_conservative = 70;
	pl->threshold_aggressive = 40;
	memcpy(pl->cfg.weights, snap_default_weights, sizeof pl->cfg.weights);
	snap_html_init();
	if (read_settings(pl, cfg, error_r) != 0) {
		plugin_free(pl);
		return -1;
	}
	size_t n;
	const char *const *internal = host->api->internal_domains(host, &n);
	for (size_t i = 0; i < n; i++)
		(void)add_domain(&pl->cfg, internal[i], 1); /* skip odd globs */
	if (vigil_register_condition(host, &snap_condition_ops, pl, error_r) != 0) {
		plugin_free(pl);
		return -1;
	}
	*state_r = pl;
	return 0;
}

static void snap_fini(void *state)
{
	plugin_free(state);
}

VIGIL_PLUGIN("snap", "1.0", .init = snap_init, .fini = snap_fini);
