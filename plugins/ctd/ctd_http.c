/*
 * ctd_http.c - fetching suspicious-object lists over HTTPS, and the Apex
 * Central / Control Manager client.
 *
 * PURPOSE: one bounded, verified GET (libcurl with OpenSSL): https only,
 * no redirects, peer and host always verified against ca_file (or the
 * system store), optionally pinned to a certificate SHA-256 fingerprint
 * by our own verify callback (the ddan client's scheme), a size limit and
 * a timeout on every transfer, and an abort flag for a clean shutdown.
 * Apex Central requests carry "Authorization: Bearer JWT", the JWT
 * HS256-signed with the API key over {appid, iat, version "V1",
 * checksum}, checksum = base64(SHA-256("GET|" + path?query in lower case
 * + "|" + the canonical API* headers (we send none: "") + "|" + body)).
 *
 * NEVER: turns verification off; follows a redirect; puts the API key or
 * the token in an error; lets a reply grow past max_size.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif
#include "ctd.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define APEX_PATH "/WebApp/api/SuspiciousObjects/UserDefinedSO/"
#define DEFAULT_TIMEOUT 30u
#define SNIPPET 120

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

/* ---------------------------------------------------------------------
 * base64
 */

static char *b64(const unsigned char *in, size_t n, int url)
{
	static const char std[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	static const char web[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const char *t = url ? web : std;
	char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;
	size_t i;

	if (out == NULL)
		return NULL;
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
			     in[i + 2];

		*o++ = t[v >> 18];
		*o++ = t[(v >> 12) & 63];
		*o++ = t[(v >> 6) & 63];
		*o++ = t[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 |
			     (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);

		*o++ = t[v >> 18];
		*o++ = t[(v >> 12) & 63];
		if (i + 1 < n)
			*o++ = t[(v >> 6) & 63];
		else if (!url)
			*o++ = '=';
		if (!url)
			*o++ = '=';
	}
	*o = '\0';
	return out;
}

/* ---------------------------------------------------------------------
 * Apex Central: checksum and JWT
 */

char *ctd_apex_checksum(const char *method, const char *path_query,
			const char *canonical_headers, const char *body)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char *m = strdup(method), *pq = strdup(path_query), *s = NULL;
	size_t i;

	if (m != NULL && pq != NULL) {
		for (i = 0; m[i] != '\0'; i++)
			m[i] = (char)toupper((unsigned char)m[i]);
		for (i = 0; pq[i] != '\0'; i++)
			pq[i] = (char)tolower((unsigned char)pq[i]);
		if (asprintf(&s, "%s|%s|%s|%s", m, pq,
			     canonical_headers ? canonical_headers : "",
			     body ? body : "") < 0)
			s = NULL;
	}
	free(m);
	free(pq);
	if (s == NULL)
		return NULL;
	SHA256((const unsigned char *)s, strlen(s), md);
	free(s);
	return b64(md, sizeof(md), 0);
}

/* A JSON string literal of s (we only ever quote app ids and base64). */
static int json_safe(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == '"' || *s == '\\' ||
		    (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

char *ctd_apex_jwt(const char *app_id, const char *api_key, const char *method,
		   const char *path_query, const char *canonical_headers,
		   const char *body, time_t iat)
{
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	char *checksum, *payload = NULL, *h64, *p64, *signing = NULL, *sig64,
			*jwt = NULL;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;

	if (!json_safe(app_id))
		return NULL;
	checksum =
	    ctd_apex_checksum(method, path_query, canonical_headers, body);
	if (checksum == NULL)
		return NULL;
	if (asprintf(&payload,
		     "{\"appid\":\"%s\",\"iat\":%lld,\"version\":\"V1\","
		     "\"checksum\":\"%s\"}",
		     app_id, (long long)iat, checksum) < 0)
		payload = NULL;
	free(checksum);
	if (payload == NULL)
		return NULL;
	h64 = b64((const unsigned char *)header, strlen(header), 1);
	p64 = b64((const unsigned char *)payload, strlen(payload), 1);
	free(payload);
	if (h64 != NULL && p64 != NULL &&
	    asprintf(&signing, "%s.%s", h64, p64) < 0)
		signing = NULL;
	free(h64);
	free(p64);
	if (signing == NULL)
		return NULL;
	if (HMAC(EVP_sha256(), api_key, (int)strlen(api_key),
		 (const unsigned char *)signing, strlen(signing), mac,
		 &maclen) == NULL) {
		free(signing);
		return NULL;
	}
	sig64 = b64(mac, maclen, 1);
	OPENSSL_cleanse(mac, sizeof(mac));
	if (sig64 != NULL && asprintf(&jwt, "%s.%s", signing, sig64) < 0)
		jwt = NULL;
	free(sig64);
	free(signing);
	return jwt;
}

/* ---------------------------------------------------------------------
 * HTTPS GET
 */

struct xfer {
	const struct ctd_http *cfg;
	char *body;
	size_t len;
	int too_large;
	unsigned char pin[32];
	int has_pin;
	char pin_error[256];
};

static int parse_pin(const char *s, unsigned char pin[32])
{
	size_t n = 0;

	while (*s != '\0') {
		if (*s == ':') {
			s++;
			continue;
		}
		if (!isxdigit((unsigned char)s[0]) ||
		    !isxdigit((unsigned char)s[1]) || n >= 32)
			return -1;
		pin[n++] = (unsigned char)((isdigit((unsigned char)s[0])
						? s[0] - '0'
						: tolower((unsigned char)s[0]) -
						      'a' + 10)
					       << 4 |
					   (isdigit((unsigned char)s[1])
						? s[1] - '0'
						: tolower((unsigned char)s[1]) -
						      'a' + 10));
		s += 2;
	}
	return n == 32 ? 0 : -1;
}

static int pin_verify_cb(X509_STORE_CTX *xctx, void *arg)
{
	struct xfer *x = arg;
	X509 *leaf = X509_STORE_CTX_get0_cert(xctx);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (leaf == NULL || X509_digest(leaf, EVP_sha256(), md, &mdlen) != 1 ||
	    mdlen != 32 || CRYPTO_memcmp(md, x->pin, 32) != 0) {
		snprintf(x->pin_error, sizeof(x->pin_error),
			 "the server certificate does not match pin_sha256");
		X509_STORE_CTX_set_error(xctx,
					 X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	if (x->cfg->ca_file != NULL && X509_verify_cert(xctx) != 1) {
		snprintf(x->pin_error, sizeof(x->pin_error),
			 "the certificate matches the pin but does not "
			 "verify against ca_file: %s",
			 X509_verify_cert_error_string(
			     X509_STORE_CTX_get_error(xctx)));
		return 0;
	}
	X509_STORE_CTX_set_error(xctx, X509_V_OK);
	return 1;
}

static CURLcode ssl_ctx_cb(CURL *curl, void *sslctx, void *arg)
{
	(void)curl;
	SSL_CTX_set_cert_verify_callback(sslctx, pin_verify_cb, arg);
	return CURLE_OK;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;
	char *b;

	if (n > x->cfg->max_size - x->len) {
		x->too_large = 1;
		return 0;
	}
	b = realloc(x->body, x->len + n + 1);
	if (b == NULL)
		return 0;
	memcpy(b + x->len, ptr, n);
	x->len += n;
	b[x->len] = '\0';
	x->body = b;
	return n;
}

static int progress_cb(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
		       curl_off_t un)
{
	const struct xfer *x = arg;

	(void)dt, (void)dn, (void)ut, (void)un;
	return x->cfg->stop != NULL && *x->cfg->stop;
}

/* The host part of a URL, for error messages (never the query). */
static void url_show(const char *url, char *out, size_t outsz)
{
	const char *p = strstr(url, "://");
	size_t n;

	p = p ? p + 3 : url;
	n = strcspn(p, "/?#");
	snprintf(out, outsz, "%.*s", (int)(n < 200 ? n : 200), p);
}

int ctd_http_get(const struct ctd_http *cfg, const char *url,
		 const char *const *headers, char **body_r, size_t *len_r,
		 char **error_r)
{
	struct xfer x;
	struct curl_slist *hl = NULL;
	char errbuf[CURL_ERROR_SIZE] = "", where[256];
	long t = cfg->timeout_s ? (long)cfg->timeout_s : (long)DEFAULT_TIMEOUT;
	long status = 0;
	CURLcode rc;
	CURL *c;
	size_t i;

	*body_r = NULL;
	*len_r = 0;
	url_show(url, where, sizeof(where));
	if (strncasecmp(url, "https://", 8) != 0) {
		fail(error_r, "%s: only https:// URLs are fetched", where);
		return -1;
	}
	memset(&x, 0, sizeof(x));
	x.cfg = cfg;
	if (cfg->pin_sha256 != NULL && *cfg->pin_sha256 != '\0') {
		if (parse_pin(cfg->pin_sha256, x.pin) < 0) {
			fail(error_r, "pin_sha256 is not 32 hex bytes");
			return -1;
		}
		x.has_pin = 1;
	}
	c = curl_easy_init();
	if (c == NULL) {
		fail(error_r, "out of memory");
		return -1;
	}
	for (i = 0; headers != NULL && headers[i] != NULL; i++) {
		struct curl_slist *n = curl_slist_append(hl, headers[i]);

		if (n == NULL) {
			curl_slist_free_all(hl);
			curl_easy_cleanup(c);
			fail(error_r, "out of memory");
			return -1;
		}
		hl = n;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTPS);
#endif
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, t);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, t);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "vigil-ctd/1.0");
	if (cfg->ca_file != NULL && *cfg->ca_file != '\0')
		curl_easy_setopt(c, CURLOPT_CAINFO, cfg->ca_file);
	if (x.has_pin) {
		curl_easy_setopt(c, CURLOPT_SSL_SESSIONID_CACHE, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
		curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, &x);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	curl_slist_free_all(hl);

	if (rc != CURLE_OK) {
		if (x.pin_error[0] != '\0')
			fail(error_r, "%s: %s", where, x.pin_error);
		else if (x.too_large)
			fail(error_r, "%s: answer larger than %zu bytes", where,
			     cfg->max_size);
		else if (rc == CURLE_ABORTED_BY_CALLBACK)
			fail(error_r, "%s: stopped", where);
		else if (rc == CURLE_OPERATION_TIMEDOUT)
			fail(error_r, "%s: timed out after %ld s", where, t);
		else
			fail(error_r, "%s: %s%s%s", where,
			     curl_easy_strerror(rc), errbuf[0] ? ": " : "",
			     errbuf);
		free(x.body);
		return -1;
	}
	if (status < 200 || status > 299) {
		char snip[SNIPPET + 1];
		size_t o = 0;

		for (i = 0; x.body != NULL && i < x.len && o < SNIPPET; i++) {
			unsigned char ch = (unsigned char)x.body[i];

			if (ch == '\n' || ch == '\r' || ch == '\t')
				ch = ' ';
			if (ch < 0x20 || ch > 0x7e)
				ch = '?';
			if (ch == ' ' && (o == 0 || snip[o - 1] == ' '))
				continue;
			snip[o++] = (char)ch;
		}
		snip[o] = '\0';
		fail(error_r, "%s: HTTP %ld%s%s", where, status, o ? ": " : "",
		     snip);
		free(x.body);
		return -1;
	}
	if (x.body == NULL) {
		x.body = strdup("");
		if (x.body == NULL) {
			fail(error_r, "out of memory");
			return -1;
		}
	}
	*body_r = x.body;
	*len_r = x.len;
	return 0;
}

/* ---------------------------------------------------------------------
 * Apex Central's user-defined suspicious objects
 */

int ctd_apex_fetch(const struct ctd_http *cfg, const char *base,
		   const char *app_id, const char *api_key, const char *type,
		   enum ctd_act def, time_t now, struct ctd_list *out,
		   char **error_r)
{
	const char *p = strstr(base, "://");
	char *path_query = NULL, *url = NULL, *jwt, *auth = NULL, *body = NULL;
	const char *headers[3];
	size_t len = 0, blen = strlen(base);
	int rc = -1;

	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	p = p ? strchr(p + 3, '/') : NULL; /* a path prefix on the base */
	if (p != NULL && (size_t)(p - base) > blen)
		p = NULL;
	if (asprintf(&path_query, "%.*s" APEX_PATH "?type=%s",
		     p ? (int)(blen - (size_t)(p - base)) : 0, p ? p : "",
		     type) < 0)
		path_query = NULL;
	if (path_query == NULL ||
	    asprintf(&url, "%.*s%s", (int)(p ? (size_t)(p - base) : blen), base,
		     path_query) < 0) {
		free(path_query);
		fail(error_r, "out of memory");
		return -1;
	}
	jwt = ctd_apex_jwt(app_id, api_key, "GET", path_query, "", "", now);
	if (jwt == NULL ||
	    asprintf(&auth, "Authorization: Bearer %s", jwt) < 0) {
		fail(error_r, "cannot make the JWT (app_id must be printable "
			      "ASCII)");
		auth = NULL;
		goto out;
	}
	headers[0] = auth;
	headers[1] = "Content-Type: application/json;charset=utf-8";
	headers[2] = NULL;
	if (ctd_http_get(cfg, url, headers, &body, &len, error_r) < 0)
		goto out;
	{
		char *perr = NULL;

		if (ctd_parse_apex(body, len, def, now, out, &perr) < 0) {
			fail(error_r, "type %s: %s", type,
			     perr ? perr : "unreadable answer");
			free(perr);
			goto out;
		}
	}
	rc = 0;
out:
	if (jwt != NULL) {
		OPENSSL_cleanse(jwt, strlen(jwt));
		free(jwt);
	}
	if (auth != NULL) {
		OPENSSL_cleanse(auth, strlen(auth));
		free(auth);
	}
	free(body);
	free(url);
	free(path_query);
	return rc;
}
