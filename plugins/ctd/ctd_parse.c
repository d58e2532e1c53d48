/*
 * ctd_parse.c - suspicious-object lists in the formats sources publish.
 *
 * PURPOSE: turn a fetched document into a ctd_list (hashes for the set,
 * plus the normalised text we persist), or refuse it whole so that the
 * caller keeps the last good list:
 *   list   one object a line: VALUE [ACTION], '#' comments; any bad line
 *          refuses the file (a hand-written list must be right).
 *   csv    columns mapped by name from the header line, which may be a
 *          '#' comment as abuse.ch writes it; rows with a bad value are
 *          skipped, but a feed without the mapped columns, or whose rows
 *          are all bad, is refused.
 *   stix   a STIX 2.1 bundle: indicators whose pattern compares
 *          file:hashes.'SHA-1' / 'SHA-256', url:value, domain-name:value,
 *          ipv4-addr:value or ipv6-addr:value with '='; revoked ones and
 *          those past valid_until are left out.
 *   apex   Apex Central's UDSO answer {"Data":[...],"Meta":{"Result":1}}.
 *   saved  our own "kind TAB value TAB action TAB expires" lines.
 *
 * NEVER: trusts a length or a count from the document (every object goes
 * through normalisation, lists are bounded by max); returns part of a
 * refused document.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf, timegm */
#endif
#include "ctd.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#define VALUE_MAX CTD_URL_MAX

static void __attribute__((format(printf, 2, 3)))
fail(char **error_r, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	if (error_r == NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	free(*error_r);
	*error_r = s;
}

/* A printable excerpt of untrusted text for an error message. */
static void excerpt(const char *s, size_t n, char *out, size_t outsz)
{
	size_t i, o = 0;

	for (i = 0; i < n && o + 4 < outsz; i++) {
		unsigned char c = (unsigned char)s[i];

		out[o++] = (c < 0x20 || c > 0x7e) ? '?' : (char)c;
	}
	if (i < n) {
		out[o++] = '.';
		out[o++] = '.';
		out[o++] = '.';
	}
	out[o] = '\0';
}

/* ---------------------------------------------------------------------
 * The list
 */

void ctd_list_init(struct ctd_list *l, unsigned source, size_t max)
{
	memset(l, 0, sizeof(*l));
	l->source = source;
	l->max = max;
}

void ctd_list_free(struct ctd_list *l)
{
	ctd_objs_free(&l->objs);
	free(l->text);
	l->text = NULL;
	l->text_len = l->text_cap = 0;
}

static int text_append(struct ctd_list *l, const char *s, size_t n)
{
	if (l->text_len + n + 1 > l->text_cap) {
		size_t cap = l->text_cap ? l->text_cap : 4096;
		char *t;

		while (cap < l->text_len + n + 1)
			cap *= 2;
		t = realloc(l->text, cap);
		if (t == NULL)
			return -1;
		l->text = t;
		l->text_cap = cap;
	}
	memcpy(l->text + l->text_len, s, n);
	l->text_len += n;
	l->text[l->text_len] = '\0';
	return 0;
}

int ctd_list_add(struct ctd_list *l, enum ctd_kind kind, const char *value,
		 enum ctd_act act, time_t expires, char **error_r)
{
	char tail[64];
	size_t vn = strlen(value);
	int tn;

	if (l->max > 0 && l->objs.n >= l->max) {
		fail(error_r, "more than %zu objects (max_objects)", l->max);
		return -1;
	}
	if (ctd_objs_push(&l->objs, ctd_key(kind, value, vn),
			  ctd_meta(act, l->source, expires)) < 0) {
		fail(error_r, "out of memory");
		return -1;
	}
	l->objs.has |= kind == CTD_URL && strstr(value, "://") == NULL
			   ? CTD_HAS_BARE_URL
			   : 1u << kind;
	if (l->no_text)
		return 0;
	tn = snprintf(tail, sizeof(tail), "\t%s\t%lld\n", ctd_act_name(act),
		      (long long)(expires > 0 ? expires : 0));
	if (text_append(l, ctd_kind_name(kind), strlen(ctd_kind_name(kind))) <
		0 ||
	    text_append(l, "\t", 1) < 0 || text_append(l, value, vn) < 0 ||
	    text_append(l, tail, (size_t)tn) < 0) {
		fail(error_r, "out of memory");
		return -1;
	}
	return 0;
}

/* Normalises and adds, unless expired. 1 added or left out, 0 the value
 * is bad, -1 the list is full. */
static int add_value(struct ctd_list *l, enum ctd_kind kind, const char *value,
		     enum ctd_act act, time_t expires, time_t now,
		     char **error_r)
{
	char norm[VALUE_MAX];

	if (ctd_value_norm(kind, value, norm, sizeof(norm)) < 0)
		return 0;
	if (expires > 0 && expires <= now) {
		l->skipped++;
		return 1;
	}
	return ctd_list_add(l, kind, norm, act, expires, error_r) < 0 ? -1 : 1;
}

/* ---------------------------------------------------------------------
 * Times
 */

time_t ctd_parse_time(const char *s)
{
	struct tm tm;
	const char *p;
	char *end;
	long off = 0;
	time_t t;

	if (s == NULL)
		return 0;
	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0')
		return 0;
	if (isdigit((unsigned char)*s)) {
		long long v = strtoll(s, &end, 10);

		while (isspace((unsigned char)*end))
			end++;
		if (*end == '\0')
			return v > 0 ? (time_t)v : -1;
	}
	memset(&tm, 0, sizeof(tm));
	p = strptime(s, "%Y-%m-%d", &tm);
	if (p == NULL)
		return -1;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p = strptime(p + 1, "%H:%M:%S", &tm);
		if (p == NULL)
			return -1;
		if (*p == '.') /* fractions of a second */
			for (p++; isdigit((unsigned char)*p); p++)
				;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
		   isdigit((unsigned char)p[2])) {
		int sign = *p == '-' ? -1 : 1;
		long hh = (p[1] - '0') * 10 + (p[2] - '0'), mm = 0;

		p += 3;
		if (*p == ':')
			p++;
		if (isdigit((unsigned char)p[0]) &&
		    isdigit((unsigned char)p[1])) {
			mm = (p[0] - '0') * 10 + (p[1] - '0');
			p += 2;
		}
		off = sign * (hh * 3600 + mm * 60);
	}
	while (isspace((unsigned char)*p))
		p++;
	if (*p != '\0')
		return -1;
	t = timegm(&tm);
	return t == (time_t)-1 ? -1 : t - off;
}

/* ---------------------------------------------------------------------
 * Plain list
 */

/* The next blank-separated word of line[0..n) from *pos, or 0. */
static size_t word_at(const char *line, size_t n, size_t *pos, const char **w_r)
{
	size_t i = *pos, start;

	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	start = i;
	while (i < n && line[i] != ' ' && line[i] != '\t')
		i++;
	*pos = i;
	*w_r = line + start;
	return i - start;
}

int ctd_parse_list(const char *buf, size_t len, enum ctd_act def, time_t now,
		   struct ctd_list *out, char **error_r)
{
	size_t pos = 0, lineno = 0;

	(void)now; /* plain lists carry no expiry */
	if (memchr(buf, '\0', len) != NULL) {
		fail(error_r, "not a text file (NUL byte)");
		return -1;
	}
	while (pos < len) {
		const char *line = buf + pos,
			   *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos, at = 0, wl, al;
		char value[VALUE_MAX], norm[VALUE_MAX], word[16], show[80];
		const char *w, *aw;
		int kind, act = (int)def;

		pos += n + (nl ? 1 : 0);
		lineno++;
		/* a comment: the line's first word, or a word after a blank */
		for (at = 0; at < n; at++)
			if (line[at] == '#' &&
			    (at == 0 || line[at - 1] == ' ' ||
			     line[at - 1] == '\t'))
				break;
		n = at;
		while (n > 0 && isspace((unsigned char)line[n - 1]))
			n--;
		at = 0;
		wl = word_at(line, n, &at, &w);
		if (wl == 0 || w[0] == ';')
			continue;
		al = word_at(line, n, &at, &aw);
		{
			const char *extra;

			if (word_at(line, n, &at, &extra) != 0) {
				excerpt(line, n, show, sizeof(show));
				fail(error_r,
				     "line %zu: expected VALUE [ACTION]: %s",
				     lineno, show);
				return -1;
			}
		}
		if (wl >= sizeof(value)) {
			fail(error_r, "line %zu: too long", lineno);
			return -1;
		}
		memcpy(value, w, wl);
		value[wl] = '\0';
		if (al > 0) {
			if (al < sizeof(word)) {
				memcpy(word, aw, al);
				word[al] = '\0';
			} else {
				memcpy(word, aw, sizeof(word) - 1);
				word[sizeof(word) - 1] = '\0';
			}
			if (al >= sizeof(word) ||
			    (act = ctd_act_parse(word)) < 0) {
				fail(
				    error_r,
				    "line %zu: unknown action '%s' (log, block "
				    "or quarantine)",
				    lineno, word);
				return -1;
			}
		}
		if (ctd_value_guess(value, norm, sizeof(norm), &kind) < 0) {
			excerpt(line, n, show, sizeof(show));
			if (kind < 0)
				fail(error_r,
				     "line %zu: not a SHA-1, SHA-256, URL, "
				     "domain or IP address: %s",
				     lineno, show);
			else
				fail(error_r, "line %zu: not a valid %s: %s",
				     lineno, ctd_kind_name((enum ctd_kind)kind),
				     show);
			return -1;
		}
		if (ctd_list_add(out, (enum ctd_kind)kind, norm,
				 (enum ctd_act)act, 0, error_r) < 0)
			return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------
 * CSV
 */

#define CSV_MAX_FIELDS 64

/* Splits one CSV record starting at *pos (quotes, doubled quotes, CRLF,
 * newlines inside quotes) into fields, in place in a copy. Returns the
 * number of fields, 0 at the end, -1 when malformed. */
static int csv_record(const char *buf, size_t len, size_t *pos, char *scratch,
		      size_t scratchsz, char **fields)
{
	size_t i = *pos, o = 0;
	int nf = 0, quoted = 0, in_field = 0;

	if (i >= len)
		return 0;
	fields[nf++] = scratch;
	while (i < len) {
		char c = buf[i];

		if (quoted) {
			if (c == '"') {
				if (i + 1 < len && buf[i + 1] == '"') {
					i++;
				} else {
					quoted = 0;
					i++;
					continue;
				}
			}
		} else if (c == '"' && !in_field) {
			quoted = 1;
			in_field = 1;
			i++;
			continue;
		} else if (c == ',') {
			if (o + 1 >= scratchsz || nf == CSV_MAX_FIELDS)
				return -1;
			scratch[o++] = '\0';
			fields[nf++] = scratch + o;
			in_field = 0;
			i++;
			continue;
		} else if (c == '\n' || c == '\r') {
			i++;
			if (c == '\r' && i < len && buf[i] == '\n')
				i++;
			break;
		} else if (c == ' ' || c == '\t') {
			if (!in_field) { /* space after a comma */
				i++;
				continue;
			}
		} else {
			in_field = 1;
		}
		if (o + 1 >= scratchsz)
			return -1;
		scratch[o++] = c;
		i++;
	}
	if (quoted)
		return -1;
	scratch[o] = '\0';
	*pos = i;
	/* trailing blanks of unquoted fields */
	for (int f = 0; f < nf; f++) {
		size_t n = strlen(fields[f]);

		while (n > 0 && isspace((unsigned char)fields[f][n - 1]))
			fields[f][--n] = '\0';
	}
	return nf;
}

static int col_index(char **names, int n, const char *want)
{
	int i;

	if (want == NULL)
		return -2; /* not mapped */
	for (i = 0; i < n; i++)
		if (strcasecmp(names[i], want) == 0)
			return i;
	return -1;
}

int ctd_parse_csv(const char *buf, size_t len,
		  const struct ctd_csv_columns *cols, enum ctd_act def,
		  time_t now, struct ctd_list *out, char **error_r)
{
	static const size_t scratchsz = 2 * VALUE_MAX;
	char *scratch = malloc(scratchsz), *hscratch = malloc(scratchsz);
	char *fields[CSV_MAX_FIELDS], *hfields[CSV_MAX_FIELDS];
	const char *want[5] = {cols->sha1, cols->sha256, cols->url,
			       cols->domain, cols->ip};
	static const enum ctd_kind kinds[5] = {CTD_FILE, CTD_FILE, CTD_URL,
					       CTD_DOMAIN, CTD_IP};
	int idx[5], act_col = -2, exp_col = -2, nh = 0, k, rc = -1;
	size_t pos = 0, rows = 0, bad = 0, added = 0;

	if (scratch == NULL || hscratch == NULL) {
		fail(error_r, "out of memory");
		goto out;
	}
	if (memchr(buf, '\0', len) != NULL) {
		fail(error_r, "not a CSV file (NUL byte)");
		goto out;
	}
	/* The header: the first line (comment or not) holding every mapped
	 * name; data starts after it. */
	while (pos < len) {
		size_t ls = pos, le;
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t hp = 0;
		int ok = 1;

		le = nl ? (size_t)(nl - buf) : len;
		pos = le + (nl ? 1 : 0);
		while (ls < le &&
		       (buf[ls] == '#' || isspace((unsigned char)buf[ls])))
			ls++;
		if (ls >= le)
			continue;
		nh = csv_record(buf + ls, le - ls, &hp, hscratch, scratchsz,
				hfields);
		if (nh <= 0)
			continue;
		for (k = 0; k < 5; k++) {
			idx[k] = col_index(hfields, nh, want[k]);
			if (idx[k] == -1)
				ok = 0;
		}
		act_col = col_index(hfields, nh, cols->action);
		exp_col = col_index(hfields, nh, cols->expires);
		if (act_col == -1 || exp_col == -1)
			ok = 0;
		if (ok)
			break;
		nh = 0;
	}
	if (nh == 0) {
		fail(error_r,
		     "no header line with the configured column names");
		goto out;
	}
	for (;;) {
		int nf;

		if (pos < len &&
		    buf[pos] == '#') { /* comments, also at the end */
			const char *nl = memchr(buf + pos, '\n', len - pos);

			pos = nl ? (size_t)(nl - buf) + 1 : len;
			continue;
		}
		nf = csv_record(buf, len, &pos, scratch, scratchsz, fields);
		if (nf == 0)
			break;
		if (nf < 0) {
			fail(error_r, "malformed CSV record after %zu rows",
			     rows);
			goto out;
		}
		if (nf == 1 && fields[0][0] == '\0')
			continue; /* blank line */
		rows++;
		{
			int act = (int)def;
			time_t exp = 0;
			int row_ok = 1, any = 0;

			if (act_col >= 0 && act_col < nf &&
			    fields[act_col][0]) {
				act = ctd_act_parse(fields[act_col]);
				if (act < 0)
					row_ok = 0;
			}
			if (exp_col >= 0 && exp_col < nf &&
			    fields[exp_col][0]) {
				exp = ctd_parse_time(fields[exp_col]);
				if (exp < 0)
					row_ok = 0;
			}
			for (k = 0; row_ok && k < 5; k++) {
				int r;

				if (idx[k] < 0 || idx[k] >= nf ||
				    fields[idx[k]][0] == '\0')
					continue;
				r = add_value(out, kinds[k], fields[idx[k]],
					      (enum ctd_act)act, exp, now,
					      error_r);
				if (r < 0)
					goto out;
				if (r == 0)
					row_ok = 0;
				else
					any = 1;
			}
			if (!row_ok || !any)
				bad++;
			else
				added++;
		}
	}
	out->skipped += bad;
	if (rows > 0 && added == 0) {
		fail(error_r, "none of the %zu rows holds a valid object",
		     rows);
		goto out;
	}
	rc = 0;
out:
	free(scratch);
	free(hscratch);
	return rc;
}

/* ---------------------------------------------------------------------
 * STIX 2.1
 */

/* The object paths we understand, and the kind each gives. */
static const struct {
	const char *path;
	enum ctd_kind kind;
	int hash;
} stix_paths[] = {
    {"file:hashes.'SHA-1'", CTD_FILE, 1},
    {"file:hashes.\"SHA-1\"", CTD_FILE, 1},
    {"file:hashes.SHA1", CTD_FILE, 1},
    {"file:hashes.'SHA1'", CTD_FILE, 1},
    {"file:hashes.'SHA-256'", CTD_FILE, 1},
    {"file:hashes.SHA256", CTD_FILE, 1},
    {"file:hashes.'SHA256'", CTD_FILE, 1},
    {"artifact:hashes.'SHA-1'", CTD_FILE, 1},
    {"artifact:hashes.'SHA-256'", CTD_FILE, 1},
    {"url:value", CTD_URL, 0},
    {"domain-name:value", CTD_DOMAIN, 0},
    {"ipv4-addr:value", CTD_IP, 0},
    {"ipv6-addr:value", CTD_IP, 0},
};

/*
 * The "PATH = 'value'" comparisons of a pattern. Only '=' counts; in a
 * pattern that also joins with AND or FOLLOWEDBY, only file hashes do
 * (a hash names the file whatever else is said about it; a URL under an
 * AND may be only half of the indicator).
 */
static int stix_pattern(const char *pat, enum ctd_act act, time_t exp,
			time_t now, struct ctd_list *out, size_t *added_r,
			char **error_r)
{
	size_t n = strlen(pat), i;
	int conj = 0;
	char value[VALUE_MAX];

	/* AND / FOLLOWEDBY outside quotes */
	for (i = 0; i < n; i++) {
		if (pat[i] == '\'') {
			for (i++; i < n && pat[i] != '\''; i++)
				if (pat[i] == '\\')
					i++;
			continue;
		}
		if ((i == 0 || !isalnum((unsigned char)pat[i - 1])) &&
		    (strncmp(pat + i, "AND", 3) == 0 ||
		     strncmp(pat + i, "FOLLOWEDBY", 10) == 0)) {
			size_t l = pat[i] == 'A' ? 3 : 10;

			if (!isalnum((unsigned char)pat[i + l]))
				conj = 1;
		}
	}
	for (i = 0; i < n; i++) {
		size_t k;

		if (pat[i] == '\'') { /* skip literals not after a path */
			for (i++; i < n && pat[i] != '\''; i++)
				if (pat[i] == '\\')
					i++;
			continue;
		}
		for (k = 0; k < sizeof(stix_paths) / sizeof(stix_paths[0]);
		     k++) {
			size_t pl = strlen(stix_paths[k].path), j, o = 0;
			int r;

			if (strncmp(pat + i, stix_paths[k].path, pl) != 0)
				continue;
			if (i > 0 && (isalnum((unsigned char)pat[i - 1]) ||
				      pat[i - 1] == '-' || pat[i - 1] == ':' ||
				      pat[i - 1] == '.'))
				continue;
			j = i + pl;
			while (j < n && isspace((unsigned char)pat[j]))
				j++;
			if (j >= n || pat[j] != '=') {
				i = j - 1;
				break; /* != LIKE MATCHES IN ...: not ours */
			}
			j++;
			while (j < n && isspace((unsigned char)pat[j]))
				j++;
			if (j >= n || pat[j] != '\'') {
				i = j - 1;
				break;
			}
			for (j++; j < n && pat[j] != '\''; j++) {
				if (pat[j] == '\\' && j + 1 < n)
					j++;
				if (o + 1 < sizeof(value))
					value[o++] = pat[j];
			}
			value[o] = '\0';
			i = j;
			if (conj && !stix_paths[k].hash)
				break;
			r = add_value(out, stix_paths[k].kind, value, act, exp,
				      now, error_r);
			if (r < 0)
				return -1;
			if (r == 0)
				out->skipped++;
			else
				(*added_r)++;
			break;
		}
	}
	return 0;
}

int ctd_parse_stix(const char *buf, size_t len, enum ctd_act def, time_t now,
		   struct ctd_list *out, char **error_r)
{
	json_error_t jerr;
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *objs, *o;
	size_t i, indicators = 0, added = 0;
	int rc = -1;

	if (root == NULL) {
		fail(error_r, "not JSON: %s (line %d)", jerr.text, jerr.line);
		return -1;
	}
	objs = json_object_get(root, "objects");
	if (!json_is_object(root) ||
	    !json_is_string(json_object_get(root, "type")) ||
	    strcmp(json_string_value(json_object_get(root, "type")),
		   "bundle") != 0 ||
	    !json_is_array(objs)) {
		fail(error_r, "not a STIX 2.1 bundle (no type \"bundle\" with "
			      "an \"objects\" array)");
		goto out;
	}
	json_array_foreach(objs, i, o)
	{
		const char *type =
		    json_string_value(json_object_get(o, "type"));
		const char *pat =
		    json_string_value(json_object_get(o, "pattern"));
		const char *ptype =
		    json_string_value(json_object_get(o, "pattern_type"));
		const char *until =
		    json_string_value(json_object_get(o, "valid_until"));
		const char *vact =
		    json_string_value(json_object_get(o, "x_vigil_action"));
		time_t exp = 0;
		int act = (int)def;

		if (type == NULL || strcmp(type, "indicator") != 0)
			continue;
		indicators++;
		if (pat == NULL ||
		    (ptype != NULL && strcmp(ptype, "stix") != 0) ||
		    json_is_true(json_object_get(o, "revoked"))) {
			out->skipped++;
			continue;
		}
		if (until != NULL) {
			exp = ctd_parse_time(until);
			if (exp < 0) {
				out->skipped++;
				continue;
			}
			if (exp > 0 && exp <= now) {
				out->skipped++;
				continue;
			}
		}
		if (vact != NULL && ctd_act_parse(vact) >= 0)
			act = ctd_act_parse(vact);
		if (stix_pattern(pat, (enum ctd_act)act, exp, now, out, &added,
				 error_r) < 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* ---------------------------------------------------------------------
 * Apex Central
 */

int ctd_parse_apex(const char *buf, size_t len, enum ctd_act def, time_t now,
		   struct ctd_list *out, char **error_r)
{
	json_error_t jerr;
	json_t *root = json_loadb(buf, len, 0, &jerr), *meta, *data, *o;
	size_t i;
	int rc = -1;

	if (root == NULL) {
		fail(error_r, "not JSON: %s (line %d)", jerr.text, jerr.line);
		return -1;
	}
	meta = json_object_get(root, "Meta");
	data = json_object_get(root, "Data");
	if (!json_is_object(meta)) {
		fail(error_r, "no \"Meta\" in the answer");
		goto out;
	}
	if (!json_is_integer(json_object_get(meta, "Result")) ||
	    json_integer_value(json_object_get(meta, "Result")) != 1) {
		const char *msg =
		    json_string_value(json_object_get(meta, "ErrorMsg"));
		json_t *code = json_object_get(meta, "ErrorCode");
		char show[120];

		excerpt(msg ? msg : "", msg ? strlen(msg) : 0, show,
			sizeof(show));
		fail(error_r, "the server says Result %lld, ErrorCode %lld%s%s",
		     (long long)json_integer_value(
			 json_object_get(meta, "Result")),
		     (long long)json_integer_value(code), show[0] ? ": " : "",
		     show);
		goto out;
	}
	if (json_is_null(data) || data == NULL) { /* no objects of the type */
		rc = 0;
		goto out;
	}
	if (!json_is_array(data)) {
		fail(error_r, "\"Data\" is not a list");
		goto out;
	}
	json_array_foreach(data, i, o)
	{
		const char *type =
		    json_string_value(json_object_get(o, "type"));
		const char *content =
		    json_string_value(json_object_get(o, "content"));
		const char *sa =
		    json_string_value(json_object_get(o, "scan_action"));
		json_t *ej = json_object_get(o, "expiration_utc_date");
		enum ctd_kind kind;
		int act = (int)def, r;
		time_t exp = 0;

		if (type == NULL || content == NULL) {
			out->skipped++;
			continue;
		}
		if (strcasecmp(type, "file_sha1") == 0 ||
		    strcasecmp(type, "file") == 0)
			kind = CTD_FILE;
		else if (strcasecmp(type, "url") == 0)
			kind = CTD_URL;
		else if (strcasecmp(type, "domain") == 0)
			kind = CTD_DOMAIN;
		else if (strcasecmp(type, "ip") == 0)
			kind = CTD_IP;
		else {
			out->skipped++;
			continue;
		}
		if (sa != NULL && *sa != '\0' &&
		    (act = ctd_act_parse(sa)) < 0) {
			out->skipped++;
			continue;
		}
		if (json_is_string(ej)) {
			exp = ctd_parse_time(json_string_value(ej));
			if (exp < 0) {
				out->skipped++;
				continue;
			}
		} else if (json_is_integer(ej) && json_integer_value(ej) > 0) {
			exp = (time_t)json_integer_value(ej);
		}
		r = add_value(out, kind, content, (enum ctd_act)act, exp, now,
			      error_r);
		if (r < 0)
			goto out;
		if (r == 0)
			out->skipped++;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* ---------------------------------------------------------------------
 * Our saved form
 */

int ctd_parse_saved(const char *buf, size_t len, time_t now,
		    struct ctd_list *out, char **error_r)
{
	size_t pos = 0, lineno = 0;

	while (pos < len) {
		const char *line = buf + pos,
			   *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;
		const char *f[4];
		size_t fl[4], nf = 0, i, s = 0;
		char value[VALUE_MAX], word[16], num[24];
		int kind = -1, act;
		long long exp;
		char *end;

		pos += n + (nl ? 1 : 0);
		lineno++;
		if (n == 0)
			continue;
		for (i = 0; i <= n && nf < 4; i++)
			if (i == n || line[i] == '\t') {
				f[nf] = line + s;
				fl[nf++] = i - s;
				s = i + 1;
			}
		if (nf != 4 || fl[1] == 0 || fl[1] >= sizeof(value) ||
		    fl[2] >= sizeof(word) || fl[3] >= sizeof(num) ||
		    fl[0] >= sizeof(word)) {
			fail(error_r, "saved list line %zu is damaged", lineno);
			return -1;
		}
		memcpy(word, f[0], fl[0]);
		word[fl[0]] = '\0';
		for (i = 0; i < CTD_KIND_COUNT; i++)
			if (strcmp(word, ctd_kind_name((enum ctd_kind)i)) == 0)
				kind = (int)i;
		memcpy(value, f[1], fl[1]);
		value[fl[1]] = '\0';
		memcpy(word, f[2], fl[2]);
		word[fl[2]] = '\0';
		act = ctd_act_parse(word);
		memcpy(num, f[3], fl[3]);
		num[fl[3]] = '\0';
		errno = 0;
		exp = strtoll(num, &end, 10);
		if (kind < 0 || act < 0 || *end != '\0' || errno != 0 ||
		    exp < 0) {
			fail(error_r, "saved list line %zu is damaged", lineno);
			return -1;
		}
		if (exp > 0 && exp <= now) {
			out->skipped++;
			continue;
		}
		/* written normalised: only re-hashed */
		if (ctd_list_add(out, (enum ctd_kind)kind, value,
				 (enum ctd_act)act, (time_t)exp, error_r) < 0)
			return -1;
	}
	return 0;
}
