/*
 * util.c - allocation, vectors, error lists, glob matching, names.
 * Out-of-memory aborts: a gateway that cannot allocate a few bytes cannot
 * make a safe decision, and the spool keeps the message for a restart.
 */
#include "util.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void out_of_memory(void)
{
	fputs("vigil: out of memory\n", stderr);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		out_of_memory();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		out_of_memory();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		out_of_memory();
	return p;
}

char *xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");
	if (d == NULL)
		out_of_memory();
	return d;
}

char *xvasprintf(const char *fmt, va_list ap)
{
	char *s;
	if (vasprintf(&s, fmt, ap) < 0)
		out_of_memory();
	return s;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

void *grow(void *v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return v;
	*cap = *cap ? *cap * 2 : 8;
	return xrealloc(v, *cap * size);
}

void strvec_push(struct strvec *sv, const char *s)
{
	*PUSH(sv->v, sv->n, sv->cap) = xstrdup(s);
}

char *strvec_join(const struct strvec *sv, const char *sep)
{
	size_t len = 1, seplen = strlen(sep);
	for (size_t i = 0; i < sv->n; i++)
		len += strlen(sv->v[i]) + seplen;
	char *s = xmalloc(len), *p = s;
	for (size_t i = 0; i < sv->n; i++) {
		size_t n = strlen(sv->v[i]);
		if (i) {
			memcpy(p, sep, seplen);
			p += seplen;
		}
		memcpy(p, sv->v[i], n);
		p += n;
	}
	*p = '\0';
	return s;
}

void strvec_free(struct strvec *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	memset(sv, 0, sizeof *sv);
}

void errlist_add(struct errlist *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *line = xvasprintf(fmt, ap);
	va_end(ap);
	*PUSH(e->lines.v, e->lines.n, e->lines.cap) = line;
}

char *setting_vmessage(const config_setting_t *s, const char *fmt, va_list ap)
{
	char *msg = xvasprintf(fmt, ap);
	const char *file = s ? config_setting_source_file(s) : NULL;
	unsigned line = s ? config_setting_source_line(s) : 0;
	char *full = xasprintf("%s:%u: %s", file ? file : "(config)", line, msg);
	free(msg);
	return full;
}

void errlist_at(struct errlist *e, const config_setting_t *s, const char *fmt,
		...)
{
	va_list ap;
	va_start(ap, fmt);
	char *line = setting_vmessage(s, fmt, ap);
	va_end(ap);
	*PUSH(e->lines.v, e->lines.n, e->lines.cap) = line;
}

void errlist_free(struct errlist *e)
{
	strvec_free(&e->lines);
}

unsigned char *read_whole_file(const char *path, size_t *size_r, char **error_r)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (f == NULL) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		return NULL;
	}
	size_t cap = 1 << 16, n = 0, got;
	unsigned char *buf = xmalloc(cap);
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap)
			buf = xrealloc(buf, cap *= 2);
	}
	int failed = ferror(f);
	if (f != stdin)
		fclose(f);
	if (failed) {
		*error_r = xasprintf("%s: read error", path);
		free(buf);
		return NULL;
	}
	*size_r = n;
	return buf;
}

bool glob_match(const char *pattern, const char *s)
{
	return fnmatch(pattern, s, FNM_CASEFOLD) == 0;
}

const char *addr_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');
	return at ? at + 1 : "";
}

static const char *const action_names[VIGIL_ACTION_COUNT] = {
	[VIGIL_ACTION_PASS] = "pass",
	[VIGIL_ACTION_HANDOFF] = "handoff",
	[VIGIL_ACTION_CHANGE_RECIPIENT] = "change_recipient",
	[VIGIL_ACTION_QUARANTINE] = "quarantine",
	[VIGIL_ACTION_DELETE] = "delete",
};

const char *action_name(vigil_action a)
{
	return a < VIGIL_ACTION_COUNT ? action_names[a] : "?";
}

int action_parse(const char *s, vigil_action *a_r)
{
	for (int a = 0; a < VIGIL_ACTION_COUNT; a++)
		if (strcmp(action_names[a], s) == 0) {
			*a_r = (vigil_action)a;
			return 0;
		}
	return -1;
}

const char *phase_name(vigil_phase p)
{
	static const char *const names[VIGIL_PHASE_COUNT] = {"virus", "hidden",
							     "user"};
	return p < VIGIL_PHASE_COUNT ? names[p] : "?";
}
