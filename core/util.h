/*
 * util.h - small helpers every core module uses: allocation that never
 * returns NULL, growable string vectors, error lists with FILE:LINE, and
 * case-insensitive glob matching (fnmatch, not a hand-written matcher).
 */
#ifndef VIGIL_UTIL_H
#define VIGIL_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <libconfig.h>
#include <vigil/plugin.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) VIGIL_PRINTF(1, 2);
char *xvasprintf(const char *fmt, va_list ap);

/* Grow *v (holding *n of *cap elements of `size` bytes) to hold one more. */
void *grow(void *v, size_t *cap, size_t n, size_t size);
#define PUSH(arr, n, cap) ((arr) = grow((arr), &(cap), (n), sizeof *(arr)), &(arr)[(n)++])

struct strvec {
	char **v;
	size_t n, cap;
};
void strvec_push(struct strvec *sv, const char *s);
void strvec_free(struct strvec *sv);
/* "a<sep>b<sep>c", malloc'd ("" for none). */
char *strvec_join(const struct strvec *sv, const char *sep);

/* Errors for the administrator, each one line, most as "FILE:LINE: ...". */
struct errlist {
	struct strvec lines;
};
void errlist_add(struct errlist *e, const char *fmt, ...) VIGIL_PRINTF(2, 3);
void errlist_at(struct errlist *e, const config_setting_t *s,
		const char *fmt, ...) VIGIL_PRINTF(3, 4);
char *setting_vmessage(const config_setting_t *s, const char *fmt, va_list ap);
void errlist_free(struct errlist *e);
static inline size_t errlist_count(const struct errlist *e)
{
	return e->lines.n;
}

/* A whole file ("-" = stdin) in a malloc'd buffer; NULL with a reason. */
unsigned char *read_whole_file(const char *path, size_t *size_r, char **error_r);

/* `*` and `?` globs, case-insensitive. */
bool glob_match(const char *pattern, const char *s);
/* The domain part of an address ("" when there is none). */
const char *addr_domain(const char *addr);

/* Names of the shared vocabulary, and back. */
const char *action_name(vigil_action a);
int action_parse(const char *s, vigil_action *a_r);
const char *phase_name(vigil_phase p);

#endif
