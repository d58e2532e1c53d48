/*
 * ctd.h - Connected Threat Defense: what the plugin's files share.
 *
 * PURPOSE: the suspicious-object vocabulary (kinds, actions), the compact
 * object lists every source parses into, the hash set the hidden rules
 * look objects up in, value normalisation (SHA-1/SHA-256, URL, domain,
 * IP), URL extraction from text, the parsers of each source format
 * (plain list, CSV, STIX 2.1, Apex Central JSON, our own saved form), and
 * the HTTPS and Apex Central client.
 *
 * NEVER: these functions print, log or touch the host; they return errors
 * as malloc'd strings (*error_r) for the caller to log. Only ctd.c knows
 * about the host, the store, threads and timers.
 */
#ifndef CTD_H
#define CTD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum ctd_kind { CTD_FILE = 0, CTD_URL, CTD_DOMAIN, CTD_IP, CTD_KIND_COUNT };

/* Object actions, in increasing severity: "none" reads as log. */
enum ctd_act { CTD_LOG = 0, CTD_BLOCK, CTD_QUARANTINE, CTD_ACT_COUNT };

const char *ctd_kind_name(enum ctd_kind k);
const char *ctd_act_name(enum ctd_act a);
/* "log"/"none"/"pass" -> LOG, "block"/"delete"/"deny" -> BLOCK,
 * "quarantine" -> QUARANTINE (any case); -1 otherwise. */
int ctd_act_parse(const char *s);

/* ---- objects and the hash set (ctd_set.c) ----
 *
 * An object is a 64-bit hash of its kind and normalised value, and a
 * 32-bit word: action (2 bits), source index (6 bits) and expiry in hours
 * since the epoch, rounded up (24 bits, 0 = never). No strings are kept:
 * a million objects cost 12 bytes each in a list and about 24 in the set.
 */
#define CTD_MAX_SOURCES 64

uint64_t ctd_key(enum ctd_kind kind, const char *value, size_t len);
uint32_t ctd_meta(enum ctd_act act, unsigned source, time_t expires);
static inline enum ctd_act ctd_meta_act(uint32_t m)
{
	return (enum ctd_act)(m & 3u);
}
static inline unsigned ctd_meta_source(uint32_t m)
{
	return (m >> 2) & 63u;
}
/* Expiry as epoch seconds (the end of the hour), 0 = never. */
static inline time_t ctd_meta_expires(uint32_t m)
{
	return (time_t)(m >> 8) * 3600;
}

/* What kinds of objects a list or set holds, so lookups that cannot hit
 * are skipped. */
enum {
	CTD_HAS_FILE = 1u << CTD_FILE,
	CTD_HAS_URL = 1u << CTD_URL,
	CTD_HAS_DOMAIN = 1u << CTD_DOMAIN,
	CTD_HAS_IP = 1u << CTD_IP,
	CTD_HAS_BARE_URL = 1u << CTD_KIND_COUNT /* URLs without a scheme */
};

struct ctd_objs {
	uint64_t *keys;
	uint32_t *meta;
	size_t n, cap;
	unsigned has; /* CTD_HAS_* */
};
int ctd_objs_push(struct ctd_objs *o, uint64_t key, uint32_t meta);
void ctd_objs_free(struct ctd_objs *o);

/* An immutable open-addressing set over several lists, shared by
 * reference: build it whole, swap it in, release the old one. */
struct ctd_set;
struct ctd_set *ctd_set_build(const struct ctd_objs *const *lists, size_t n);
/* 1 and *meta_r when key is in the set and not expired at now. */
int ctd_set_find(const struct ctd_set *s, uint64_t key, time_t now,
		 uint32_t *meta_r);
size_t ctd_set_count(const struct ctd_set *s);
unsigned ctd_set_has(const struct ctd_set *s); /* CTD_HAS_* */
/* Starts loading what ctd_set_find(key) will read: several lookups then
 * wait for memory together instead of one after the other. */
void ctd_set_prefetch(const struct ctd_set *s, uint64_t key);
size_t ctd_set_bytes(const struct ctd_set *s);
void ctd_set_free(struct ctd_set *s);

/* ---- normalisation and URL extraction (ctd_url.c) ---- */

#define CTD_URL_MAX 4096 /* longer URLs are matched by host only */
#define CTD_HOST_MAX 256

struct ctd_url {
	char url[CTD_URL_MAX];	 /* "https://host[:port]/path[?query]", or "" */
	char bare[CTD_URL_MAX];	 /* the same without "scheme://" */
	char host[CTD_HOST_MAX]; /* lower case, A-labels; [v6] in brackets */
	int host_is_ip;		 /* host is an IPv4 or IPv6 address */
	char ip[64];		 /* the address without brackets */
	int has_scheme;
};

/* Normalises a URL: scheme and host lower-cased, IDNA (A-labels), IPv4
 * numbers in dotted decimal, default port dropped, userinfo and fragment
 * dropped, percent-escapes of unreserved characters decoded and the
 * others upper-cased, other unsafe bytes escaped, dot-segments removed,
 * an empty path made "/". Without a scheme (allowed when scheme_optional)
 * the result has has_scheme 0 and url == bare. Returns 0, or -1 when it is
 * not an http/https/ftp URL with a valid host. A URL too long for the
 * buffers keeps url/bare "" and still gives its host. */
int ctd_url_norm(const char *in, size_t len, int scheme_optional,
		 struct ctd_url *out);
/* A domain name: lower case, A-labels, no trailing dot, no leading "*."
 * nor ".", at least one dot. 0 or -1. */
int ctd_domain_norm(const char *in, char *out, size_t outsz);
/* An IPv4 or IPv6 address in canonical text. 0 or -1. */
int ctd_ip_norm(const char *in, char *out, size_t outsz);
/* A SHA-1 (40) or SHA-256 (64) in lower-case hex. 0 or -1. */
int ctd_hash_norm(const char *in, char *out, size_t outsz);
/* Normalises value as an object of kind into out. 0 or -1. */
int ctd_value_norm(enum ctd_kind kind, const char *value, char *out,
		   size_t outsz);
/* Guesses the kind of a bare value (a list line, `vigil so lookup`):
 * 40/64 hex digits -> file, "://" or "/" -> url, an address -> ip, a name
 * with a dot -> domain. -1 when it is none of these. */
int ctd_value_kind(const char *value);
/* The same guess, normalised into out: 0, or -1 when the value is not a
 * valid object of its kind (*kind_r says which, -1 when none fits). */
int ctd_value_guess(const char *value, char *out, size_t outsz, int *kind_r);

/* Calls fn on every URL candidate in text: "scheme://..." for http,
 * https and ftp, and "www." names (given as "http://www..."). html: also
 * stop at quotes and decode character references inside the URL. The
 * URL given to fn is len bytes, not NUL-terminated. */
typedef void (*ctd_url_fn)(void *arg, const char *url, size_t len);
void ctd_urls_in_text(const char *text, size_t len, int html, ctd_url_fn fn,
		      void *arg);

/* ---- lists and their formats (ctd_parse.c) ---- */

struct ctd_list {
	struct ctd_objs objs;
	char *text; /* the saved form: "kind\tvalue\taction\texpires\n"... */
	size_t text_len, text_cap;
	size_t skipped; /* entries left out: expired, revoked, unsupported */
	size_t max;	/* most objects accepted; 0 = no limit */
	unsigned source;
	int no_text; /* set: do not build text (nowhere to keep it) */
};
void ctd_list_init(struct ctd_list *l, unsigned source, size_t max);
void ctd_list_free(struct ctd_list *l);
/* value must be normalised. -1 (and *error_r) when the list is full. */
int ctd_list_add(struct ctd_list *l, enum ctd_kind kind, const char *value,
		 enum ctd_act act, time_t expires, char **error_r);

/* Column names of a CSV feed, NULL when not mapped. */
struct ctd_csv_columns {
	const char *sha1, *sha256, *url, *domain, *ip, *action, *expires;
};

/* Every parser returns 0 with the objects added to out, or -1 with
 * *error_r; a -1 means "keep the old list". def is the action of objects
 * that do not name one; now drops objects already expired. */
int ctd_parse_list(const char *buf, size_t len, enum ctd_act def, time_t now,
		   struct ctd_list *out, char **error_r);
int ctd_parse_csv(const char *buf, size_t len,
		  const struct ctd_csv_columns *cols, enum ctd_act def,
		  time_t now, struct ctd_list *out, char **error_r);
int ctd_parse_stix(const char *buf, size_t len, enum ctd_act def, time_t now,
		   struct ctd_list *out, char **error_r);
int ctd_parse_apex(const char *buf, size_t len, enum ctd_act def, time_t now,
		   struct ctd_list *out, char **error_r);
int ctd_parse_saved(const char *buf, size_t len, time_t now,
		    struct ctd_list *out, char **error_r);
/* "2024-05-01T10:00:00Z", "...+02:00", "....123Z", "2024-05-01 10:00:00",
 * "2024-05-01", epoch digits -> epoch seconds (UTC when no offset); "" or
 * NULL -> 0 (never). -1 when unreadable. */
time_t ctd_parse_time(const char *s);

/* ---- HTTPS and Apex Central (ctd_http.c) ---- */

struct ctd_http {
	const char *ca_file;	  /* PEM trust store, or NULL: system CAs */
	const char *pin_sha256;	  /* "AB:CD:..." leaf certificate SHA-256 */
	unsigned timeout_s;	  /* every transfer; 0 means 30 */
	size_t max_size;	  /* largest body accepted */
	const volatile int *stop; /* abort the transfer when it turns 1 */
};

/* GET an https:// URL with extra headers ("Name: value", NULL-ended).
 * 0 with the body (malloc'd, NUL-terminated) when the status is 2xx;
 * -1 with *error_r otherwise. The error never quotes a header value. */
int ctd_http_get(const struct ctd_http *cfg, const char *url,
		 const char *const *headers, char **body_r, size_t *len_r,
		 char **error_r);

/* base64(SHA-256("METHOD|path?query lower-cased|canonical headers|body")) */
char *ctd_apex_checksum(const char *method, const char *path_query,
			const char *canonical_headers, const char *body);
/* The HS256 JWT Apex Central expects: {"alg":"HS256","typ":"JWT"},
 * {"appid","iat","version":"V1","checksum"}, signed with api_key. */
char *ctd_apex_jwt(const char *app_id, const char *api_key, const char *method,
		   const char *path_query, const char *canonical_headers,
		   const char *body, time_t iat);
/* The UDSO list of one type ("file", "url", "domain", "ip") from the
 * server at base ("https://host[:port][/prefix]"), appended to out. */
int ctd_apex_fetch(const struct ctd_http *cfg, const char *base,
		   const char *app_id, const char *api_key, const char *type,
		   enum ctd_act def, time_t now, struct ctd_list *out,
		   char **error_r);

#endif
