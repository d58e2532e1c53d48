/*
 * ddan_api.c - a synchronous client of the DDAN web service API.
 *
 * PURPOSE: build the X-DTAS-* signed requests (fresh UUID4 challenge, epoch
 * time, checksum = lowercase hex SHA-1 of the API key + the header values
 * in the declared order + the body when it is text), send them over one
 * reused libcurl handle, verify the reply's X-DTAS-Checksum when the server
 * sends one, and parse the XML reports leniently with libxml2.
 *
 * TLS: peer and host verification are always on. ca_file is the trust
 * store when given; pin_sha256 (a certificate fingerprint, not an SPKI pin)
 * is checked by our own OpenSSL certificate verify callback: the leaf's
 * DER must hash to the pin, and when a ca_file is given the chain must
 * verify too. Without either, the system CA store applies.
 *
 * NEVER: disables verification; copies the API key into an error string
 * (every message is scrubbed); lets a transfer outlive timeout_s; trusts a
 * length, a risk value or an XML shape from the wire; prints.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf, strcasestr */
#endif
#include "ddan_api.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define DDAN_PATH "/web_service/sample_upload/"
#define DDAN_MAX_REPLY (16u << 20) /* bytes of a reply body we accept */
#define DDAN_MAX_HDRS 12
#define DDAN_SNIPPET 120 /* bytes of a reply body quoted in an error */
#define DDAN_DEFAULT_TIMEOUT 30u

struct ddan_conn {
	CURL *curl;
	char *base_url; /* https://host:port/web_service/sample_upload/ */
	char *api_key;
	char *ca_file;
	unsigned char pin[32];
	int has_pin;
	unsigned timeout_s;
	char *product_name, *client_hostname, *client_uuid, *source_id,
	    *source_name, *protocol_version;
	char errbuf[CURL_ERROR_SIZE];
	char pin_error[256]; /* set by the verify callback of this transfer */
};

struct ddan_hdr {
	const char *name;
	const char *value;
};

struct ddan_reply {
	char *body;
	size_t len;
	int too_large;
	long status;
	char checksum[41];
	int has_checksum;
};

/* ---------------------------------------------------------------------
 * Errors: formatted, then scrubbed of the API key.
 */

/* Replaces every case-insensitive occurrence of key in s by "<api-key>". */
static char *scrub(char *s, const char *key)
{
	static const char mask[] = "<api-key>";
	size_t klen = key ? strlen(key) : 0;
	char *hit;

	if (s == NULL || klen == 0)
		return s;
	while ((hit = strcasestr(s, key)) != NULL) {
		size_t pre = (size_t)(hit - s), post = strlen(hit + klen);
		char *n = malloc(pre + sizeof(mask) + post);

		if (n == NULL) {
			free(s);
			return NULL;
		}
		memcpy(n, s, pre);
		memcpy(n + pre, mask, sizeof(mask) - 1);
		memcpy(n + pre + sizeof(mask) - 1, hit + klen, post + 1);
		free(s);
		s = n;
	}
	return s;
}

static void __attribute__((format(printf, 3, 4)))
set_error(const struct ddan_conn *conn, char **error_r, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	if (error_r == NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	*error_r = conn ? scrub(s, conn->api_key) : s;
}

/* ---------------------------------------------------------------------
 * Small helpers
 */

static int is_hex40(const char *s)
{
	size_t i;

	if (s == NULL)
		return 0;
	for (i = 0; i < 40; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return s[40] == '\0';
}

/* A header value we may send: printable ASCII, no CR/LF, bounded. */
static int header_safe(const char *s, size_t max)
{
	size_t i;

	if (s == NULL || *s == '\0')
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (i >= max || (unsigned char)s[i] < 0x20 ||
		    (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

static void hex_lower(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* "AB:CD:..." (colons optional, any case) -> 32 bytes. */
static int parse_pin(const char *s, unsigned char pin[32])
{
	size_t n = 0;

	while (*s != '\0') {
		int hi, lo;

		if (*s == ':') {
			s++;
			continue;
		}
		if (!isxdigit((unsigned char)s[0]) ||
		    !isxdigit((unsigned char)s[1]) || n >= 32)
			return -1;
		hi = isdigit((unsigned char)s[0])
			 ? s[0] - '0'
			 : (tolower((unsigned char)s[0]) - 'a' + 10);
		lo = isdigit((unsigned char)s[1])
			 ? s[1] - '0'
			 : (tolower((unsigned char)s[1]) - 'a' + 10);
		pin[n++] = (unsigned char)(hi << 4 | lo);
		s += 2;
	}
	return n == 32 ? 0 : -1;
}

static void pin_text(const unsigned char pin[32], char out[96])
{
	static const char digits[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < 32; i++) {
		out[3 * i] = digits[pin[i] >> 4];
		out[3 * i + 1] = digits[pin[i] & 15];
		out[3 * i + 2] = i == 31 ? '\0' : ':';
	}
}

/* A random (version 4) UUID, lowercase. */
static int make_uuid4(char out[37])
{
	unsigned char b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	hex_lower(b, 4, out);
	out[8] = '-';
	hex_lower(b + 4, 2, out + 9);
	out[13] = '-';
	hex_lower(b + 6, 2, out + 14);
	out[18] = '-';
	hex_lower(b + 8, 2, out + 19);
	out[23] = '-';
	hex_lower(b + 10, 6, out + 24);
	return 0;
}

static int sha1_hex(const char *key, const struct ddan_hdr *hdrs, size_t n,
		    const char *body, size_t body_len, char out[41])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;
	size_t i;

	if (ctx == NULL)
		return -1;
	ok = EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, key, strlen(key)) == 1;
	for (i = 0; ok && i < n; i++)
		ok = EVP_DigestUpdate(ctx, hdrs[i].value,
				      strlen(hdrs[i].value)) == 1;
	if (ok && body_len > 0)
		ok = EVP_DigestUpdate(ctx, body, body_len) == 1;
	if (ok)
		ok = EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 20;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -1;
	hex_lower(md, 20, out);
	return 0;
}

/* A printable excerpt of a reply body, for error messages. */
static void snippet(const struct ddan_reply *r, char out[DDAN_SNIPPET + 1])
{
	size_t i, j = 0;

	for (i = 0; r->body != NULL && i < r->len && j < DDAN_SNIPPET; i++) {
		unsigned char c = (unsigned char)r->body[i];

		if (c == '\r' || c == '\n' || c == '\t')
			c = ' ';
		if (c < 0x20 || c > 0x7e)
			c = '?';
		if (c == ' ' && (j == 0 || out[j - 1] == ' '))
			continue;
		out[j++] = (char)c;
	}
	while (j > 0 && out[j - 1] == ' ')
		j--;
	out[j] = '\0';
}

static char *xstrdup_or_null(const char *s, int *failed)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = strdup(s);
	if (d == NULL)
		*failed = 1;
	return d;
}

/* ---------------------------------------------------------------------
 * TLS: certificate fingerprint pinning
 */

/*
 * Replaces OpenSSL's chain verification for this connection: the leaf must
 * hash to the pin; with a ca_file the chain must verify as well.
 */
static int pin_verify_cb(X509_STORE_CTX *xctx, void *arg)
{
	struct ddan_conn *conn = arg;
	X509 *leaf = X509_STORE_CTX_get0_cert(xctx);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char got[96], want[96];

	if (leaf == NULL || X509_digest(leaf, EVP_sha256(), md, &mdlen) != 1 ||
	    mdlen != 32) {
		snprintf(conn->pin_error, sizeof(conn->pin_error),
			 "cannot compute the server certificate fingerprint");
		X509_STORE_CTX_set_error(xctx,
					 X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	if (CRYPTO_memcmp(md, conn->pin, 32) != 0) {
		pin_text(md, got);
		pin_text(conn->pin, want);
		snprintf(
		    conn->pin_error, sizeof(conn->pin_error),
		    "certificate fingerprint mismatch: got %s, expected %s",
		    got, want);
		X509_STORE_CTX_set_error(xctx,
					 X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	if (conn->ca_file != NULL && X509_verify_cert(xctx) != 1) {
		snprintf(conn->pin_error, sizeof(conn->pin_error),
			 "certificate matches the pin but does not verify "
			 "against ca_file: %s",
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

/* ---------------------------------------------------------------------
 * Connection
 */

struct ddan_conn *ddan_conn_new(const struct ddan_server_cfg *cfg,
				const struct ddan_client_id *id, char **error_r)
{
	struct ddan_conn *conn;
	const char *host;
	int failed = 0, brackets;
	size_t i;

	if (error_r != NULL)
		*error_r = NULL;
	if (cfg == NULL || id == NULL) {
		set_error(NULL, error_r, "ddan: no server configuration");
		return NULL;
	}
	host = cfg->host;
	if (!header_safe(host, 253) || strpbrk(host, "/?#@ \\%") != NULL) {
		set_error(NULL, error_r, "ddan: invalid host");
		return NULL;
	}
	if (cfg->port < 1 || cfg->port > 65535) {
		set_error(NULL, error_r, "ddan: invalid port %d", cfg->port);
		return NULL;
	}
	/* the key itself must never be quoted, even here */
	if (!header_safe(cfg->api_key, 256) || strchr(cfg->api_key, ' ')) {
		set_error(NULL, error_r,
			  "ddan %s: api_key is empty or not printable ASCII",
			  host);
		return NULL;
	}
	{
		const char *v[] = {id->product_name, id->client_hostname,
				   id->client_uuid,  id->source_id,
				   id->source_name,  id->protocol_version};
		static const char *const names[] = {
		    "product_name", "client_hostname", "client_uuid",
		    "source_id",    "source_name",     "protocol_version"};

		for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
			if (!header_safe(v[i], 256)) {
				set_error(NULL, error_r,
					  "ddan %s: %s is empty or not "
					  "printable ASCII",
					  host, names[i]);
				return NULL;
			}
	}

	conn = calloc(1, sizeof(*conn));
	if (conn == NULL) {
		set_error(NULL, error_r, "ddan: out of memory");
		return NULL;
	}
	if (cfg->pin_sha256 != NULL && *cfg->pin_sha256 != '\0') {
		if (parse_pin(cfg->pin_sha256, conn->pin) < 0) {
			free(conn);
			set_error(NULL, error_r,
				  "ddan %s: pin_sha256 is not 32 hex bytes "
				  "(AB:CD:...)",
				  host);
			return NULL;
		}
		conn->has_pin = 1;
	}
	conn->timeout_s =
	    cfg->timeout_s ? cfg->timeout_s : DDAN_DEFAULT_TIMEOUT;
	conn->api_key = xstrdup_or_null(cfg->api_key, &failed);
	if (cfg->ca_file != NULL && *cfg->ca_file != '\0')
		conn->ca_file = xstrdup_or_null(cfg->ca_file, &failed);
	conn->product_name = xstrdup_or_null(id->product_name, &failed);
	conn->client_hostname = xstrdup_or_null(id->client_hostname, &failed);
	conn->client_uuid = xstrdup_or_null(id->client_uuid, &failed);
	conn->source_id = xstrdup_or_null(id->source_id, &failed);
	conn->source_name = xstrdup_or_null(id->source_name, &failed);
	conn->protocol_version = xstrdup_or_null(id->protocol_version, &failed);
	brackets = strchr(host, ':') != NULL && host[0] != '[';
	if (asprintf(&conn->base_url, "https://%s%s%s:%d" DDAN_PATH,
		     brackets ? "[" : "", host, brackets ? "]" : "",
		     cfg->port) < 0) {
		conn->base_url = NULL;
		failed = 1;
	}
	if (!failed)
		conn->curl = curl_easy_init();
	if (failed || conn->curl == NULL) {
		ddan_conn_free(conn);
		set_error(NULL, error_r, "ddan %s: out of memory", host);
		return NULL;
	}
	return conn;
}

void ddan_conn_free(struct ddan_conn *conn)
{
	if (conn == NULL)
		return;
	if (conn->curl != NULL)
		curl_easy_cleanup(conn->curl);
	if (conn->api_key != NULL) {
		OPENSSL_cleanse(conn->api_key, strlen(conn->api_key));
		free(conn->api_key);
	}
	free(conn->base_url);
	free(conn->ca_file);
	free(conn->product_name);
	free(conn->client_hostname);
	free(conn->client_uuid);
	free(conn->source_id);
	free(conn->source_name);
	free(conn->protocol_version);
	free(conn);
}

/* ---------------------------------------------------------------------
 * One signed request
 */

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct ddan_reply *r = arg;
	size_t n = size * nmemb;
	char *b;

	if (n > DDAN_MAX_REPLY - r->len) {
		r->too_large = 1;
		return 0;
	}
	b = realloc(r->body, r->len + n + 1);
	if (b == NULL)
		return 0;
	memcpy(b + r->len, ptr, n);
	r->len += n;
	b[r->len] = '\0';
	r->body = b;
	return n;
}

static size_t header_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct ddan_reply *r = arg;
	size_t n = size * nmemb, i;
	static const char name[] = "X-DTAS-Checksum:";

	/* a new status line (e.g. after an interim 1xx) starts afresh */
	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0)
		r->has_checksum = 0;
	if (n > sizeof(name) - 1 &&
	    strncasecmp(ptr, name, sizeof(name) - 1) == 0) {
		const char *v = ptr + sizeof(name) - 1;
		size_t len = n - (sizeof(name) - 1);

		while (len > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			len--;
		}
		while (len > 0 && isspace((unsigned char)v[len - 1]))
			len--;
		if (len > 40)
			len = 40; /* longer ones cannot match; kept as-is */
		for (i = 0; i < len; i++)
			r->checksum[i] = v[i];
		r->checksum[len] = '\0';
		r->has_checksum = 1;
	}
	return n;
}

enum body_kind { BODY_NONE, BODY_TEXT, BODY_MIME };

struct ddan_req {
	const char *op;
	const char *method;		     /* GET, PUT, POST */
	struct ddan_hdr hdrs[DDAN_MAX_HDRS]; /* signed, in checksum order */
	size_t nhdrs;
	enum body_kind kind;
	const char *body; /* BODY_TEXT */
	size_t body_len;
	curl_mime *mime;    /* BODY_MIME */
	char now[24];	    /* X-DTAS-Time value */
	char challenge[37]; /* X-DTAS-Challenge value */
	int no_random;
};

static void req_add(struct ddan_req *req, const char *name, const char *value)
{
	if (req->nhdrs < DDAN_MAX_HDRS) {
		req->hdrs[req->nhdrs].name = name;
		req->hdrs[req->nhdrs].value = value;
		req->nhdrs++;
	}
}

/* X-DTAS-Time: epoch seconds, now. */
static void req_add_time(struct ddan_req *req)
{
	snprintf(req->now, sizeof(req->now), "%lld", (long long)time(NULL));
	req_add(req, "X-DTAS-Time", req->now);
}

/* X-DTAS-Challenge: a fresh UUID4. */
static void req_add_challenge(struct ddan_req *req)
{
	if (make_uuid4(req->challenge) < 0) {
		req->no_random = 1;
		req->challenge[0] = '\0';
	}
	req_add(req, "X-DTAS-Challenge", req->challenge);
}

static struct curl_slist *slist_add(struct curl_slist *l, int *failed,
				    const char *name, const char *value)
{
	char *line = NULL;
	struct curl_slist *n;

	if (*failed)
		return l;
	if (asprintf(&line, "%s: %s", name, value) < 0) {
		*failed = 1;
		return l;
	}
	n = curl_slist_append(l, line);
	free(line);
	if (n == NULL) {
		*failed = 1;
		return l;
	}
	return n;
}

static void set_options(struct ddan_conn *conn, struct ddan_reply *reply)
{
	CURL *c = conn->curl;
	long t = conn->timeout_s > 86400 ? 86400L : (long)conn->timeout_s;

	curl_easy_reset(c); /* keeps live connections for reuse */
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, conn->errbuf);
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
	if (conn->ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, conn->ca_file);
	if (conn->has_pin) {
		/* every new connection runs our callback: no resumption */
		curl_easy_setopt(c, CURLOPT_SSL_SESSIONID_CACHE, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
		curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, conn);
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, reply);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, reply);
}

/*
 * Signs and performs req. Returns 0 when an HTTP status came back (also the
 * bare 102 that ends in CURLE_GOT_NOTHING), -1 on a transport error.
 */
static int perform(struct ddan_conn *conn, struct ddan_req *req,
		   struct ddan_reply *reply, char **error_r)
{
	char checksum[41], order[512];
	struct curl_slist *hl = NULL;
	char *url = NULL;
	int failed = 0;
	size_t i, olen = 0;
	CURLcode rc;
	long status = 0;

	memset(reply, 0, sizeof(*reply));
	if (req->no_random) {
		set_error(conn, error_r, "ddan %s: no random bytes", req->op);
		return -1;
	}
	order[0] = '\0';
	for (i = 0; i < req->nhdrs; i++) {
		int w = snprintf(order + olen, sizeof(order) - olen, "%s%s",
				 i ? "," : "", req->hdrs[i].name);

		if (w < 0 || (size_t)w >= sizeof(order) - olen) {
			set_error(conn, error_r, "ddan %s: too many headers",
				  req->op);
			return -1;
		}
		olen += (size_t)w;
	}
	if (sha1_hex(conn->api_key, req->hdrs, req->nhdrs,
		     req->kind == BODY_TEXT ? req->body : NULL,
		     req->kind == BODY_TEXT ? req->body_len : 0,
		     checksum) < 0) {
		set_error(conn, error_r, "ddan %s: SHA-1 failed", req->op);
		return -1;
	}
	for (i = 0; i < req->nhdrs; i++)
		hl = slist_add(hl, &failed, req->hdrs[i].name,
			       req->hdrs[i].value);
	hl = slist_add(hl, &failed, "X-DTAS-ChecksumCalculatingOrder", order);
	hl = slist_add(hl, &failed, "X-DTAS-Checksum", checksum);
	if (req->kind == BODY_TEXT)
		hl = slist_add(hl, &failed, "Content-Type", "text/plain");
	if (!failed) {
		struct curl_slist *n = curl_slist_append(hl, "Expect:");

		if (n == NULL)
			failed = 1;
		else
			hl = n;
	}
	if (!failed && asprintf(&url, "%s%s", conn->base_url, req->op) < 0) {
		url = NULL;
		failed = 1;
	}
	if (failed) {
		curl_slist_free_all(hl);
		free(url);
		set_error(conn, error_r, "ddan %s: out of memory", req->op);
		return -1;
	}

	set_options(conn, reply);
	curl_easy_setopt(conn->curl, CURLOPT_URL, url);
	curl_easy_setopt(conn->curl, CURLOPT_HTTPHEADER, hl);
	if (req->kind == BODY_TEXT) {
		curl_easy_setopt(conn->curl, CURLOPT_CUSTOMREQUEST,
				 req->method);
		curl_easy_setopt(conn->curl, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)req->body_len);
		curl_easy_setopt(conn->curl, CURLOPT_POSTFIELDS, req->body);
	} else if (req->kind == BODY_MIME) {
		curl_easy_setopt(conn->curl, CURLOPT_MIMEPOST, req->mime);
	} else {
		curl_easy_setopt(conn->curl, CURLOPT_HTTPGET, 1L);
	}
	conn->errbuf[0] = '\0';
	conn->pin_error[0] = '\0';
	rc = curl_easy_perform(conn->curl);
	curl_easy_getinfo(conn->curl, CURLINFO_RESPONSE_CODE, &status);
	/* drop pointers to request data before they go */
	curl_easy_setopt(conn->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hl);
	free(url);
	reply->status = status;

	if (rc == CURLE_OK)
		return 0;
	if (status == 102) /* final 102 then close: "still processing" */
		return 0;
	if (conn->pin_error[0] != '\0') {
		set_error(conn, error_r, "ddan %s: %s", req->op,
			  conn->pin_error);
	} else if (reply->too_large) {
		set_error(conn, error_r, "ddan %s: reply larger than %u bytes",
			  req->op, DDAN_MAX_REPLY);
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		set_error(conn, error_r, "ddan %s: timed out after %u s: %s",
			  req->op, conn->timeout_s,
			  conn->errbuf[0] ? conn->errbuf
					  : curl_easy_strerror(rc));
	} else {
		set_error(conn, error_r, "ddan %s: %s: %s", req->op,
			  curl_easy_strerror(rc),
			  conn->errbuf[0] ? conn->errbuf : "no detail");
	}
	return -1;
}

/* A 2xx with a valid (or absent) reply checksum, else an error. */
static int expect_ok(struct ddan_conn *conn, const char *op,
		     const struct ddan_reply *r, char **error_r)
{
	char text[DDAN_SNIPPET + 1];

	if (r->status < 200 || r->status > 299) {
		snippet(r, text);
		set_error(conn, error_r, "ddan %s: HTTP %ld%s%s", op, r->status,
			  text[0] ? ": " : "", text);
		return -1;
	}
	if (r->has_checksum) {
		char want[41];

		if (sha1_hex(conn->api_key, NULL, 0, r->body, r->len, want) <
			0 ||
		    strcasecmp(want, r->checksum) != 0) {
			set_error(conn, error_r,
				  "ddan %s: reply checksum mismatch: reply "
				  "not trusted",
				  op);
			return -1;
		}
	}
	return 0;
}

static void reply_free(struct ddan_reply *r)
{
	free(r->body);
	r->body = NULL;
}

/* Builds the headers every op but test_connection starts with. */
static void req_init(struct ddan_req *req, const struct ddan_conn *conn,
		     const char *op, const char *method, int with_client)
{
	memset(req, 0, sizeof(*req));
	req->op = op;
	req->method = method;
	req_add(req, "X-DTAS-ProtocolVersion", conn->protocol_version);
	if (with_client)
		req_add(req, "X-DTAS-ClientUUID", conn->client_uuid);
}

static int simple_op(struct ddan_conn *conn, struct ddan_req *req,
		     char **error_r)
{
	struct ddan_reply r;
	int ret;

	if (error_r != NULL)
		*error_r = NULL;
	if (perform(conn, req, &r, error_r) < 0) {
		reply_free(&r);
		return -1;
	}
	ret = expect_ok(conn, req->op, &r, error_r);
	reply_free(&r);
	return ret;
}

int ddan_test_connection(struct ddan_conn *conn, char **error_r)
{
	struct ddan_req req;

	req_init(&req, conn, "test_connection", "GET", 0);
	req_add_time(&req);
	req_add_challenge(&req);
	return simple_op(conn, &req, error_r);
}

int ddan_register(struct ddan_conn *conn, char **error_r)
{
	struct ddan_req req;

	req_init(&req, conn, "register", "GET", 0);
	req_add(&req, "X-DTAS-ProductName", conn->product_name);
	req_add(&req, "X-DTAS-ClientHostname", conn->client_hostname);
	req_add(&req, "X-DTAS-ClientUUID", conn->client_uuid);
	req_add(&req, "X-DTAS-SourceID", conn->source_id);
	req_add(&req, "X-DTAS-SourceName", conn->source_name);
	req_add_time(&req);
	req_add_challenge(&req);
	return simple_op(conn, &req, error_r);
}

int ddan_unregister(struct ddan_conn *conn, char **error_r)
{
	struct ddan_req req;

	req_init(&req, conn, "unregister", "GET", 1);
	req_add_time(&req);
	req_add_challenge(&req);
	return simple_op(conn, &req, error_r);
}

/* "sha1;sha1;..." of n checked hashes, lowercase. */
static char *sha1_list(struct ddan_conn *conn, const char *op,
		       const char *const *sha1s, size_t n, size_t *len_r,
		       char **error_r)
{
	char *body, *p;
	size_t i, j;

	if (n > SIZE_MAX / 41 - 1) {
		set_error(conn, error_r, "ddan %s: too many samples", op);
		return NULL;
	}
	for (i = 0; i < n; i++)
		if (!is_hex40(sha1s[i])) {
			set_error(conn, error_r,
				  "ddan %s: sample %zu is not a hex SHA-1", op,
				  i);
			return NULL;
		}
	body = malloc(41 * n + 1);
	if (body == NULL) {
		set_error(conn, error_r, "ddan %s: out of memory", op);
		return NULL;
	}
	p = body;
	for (i = 0; i < n; i++) {
		if (i)
			*p++ = ';';
		for (j = 0; j < 40; j++)
			*p++ = (char)tolower((unsigned char)sha1s[i][j]);
	}
	*p = '\0';
	*len_r = (size_t)(p - body);
	return body;
}

/* The signed PUT both batch operations make: "sha1;sha1;..." as the text
 * body, a 2xx expected. On success *r holds the reply (caller frees). */
static int put_sha1_list(struct ddan_conn *conn, const char *op,
			 const char *const *sha1s, size_t n,
			 struct ddan_reply *r, char **error_r)
{
	struct ddan_req req;
	size_t len;
	char *body = sha1_list(conn, op, sha1s, n, &len, error_r);
	int rc = 0;

	if (body == NULL)
		return -1;
	req_init(&req, conn, op, "PUT", 1);
	req_add_time(&req);
	req_add_challenge(&req);
	req.kind = BODY_TEXT;
	req.body = body;
	req.body_len = len;
	if (perform(conn, &req, r, error_r) < 0 ||
	    expect_ok(conn, req.op, r, error_r) < 0) {
		reply_free(r);
		rc = -1;
	}
	free(body);
	return rc;
}

int ddan_check_duplicate(struct ddan_conn *conn, const char *const *sha1s,
			 size_t n, int *known, char **error_r)
{
	struct ddan_reply r;
	size_t i, pos;

	if (error_r != NULL)
		*error_r = NULL;
	for (i = 0; i < n; i++)
		known[i] = 0;
	if (n == 0)
		return 0;
	if (put_sha1_list(conn, "check_duplicate_sample", sha1s, n, &r,
			  error_r) < 0)
		return -1;
	/* the reply lists known hashes separated by ';' (or whitespace) */
	pos = 0;
	while (r.body != NULL && pos < r.len) {
		size_t start, tl;

		while (pos < r.len &&
		       (r.body[pos] == ';' || r.body[pos] == ',' ||
			isspace((unsigned char)r.body[pos])))
			pos++;
		start = pos;
		while (pos < r.len && r.body[pos] != ';' &&
		       r.body[pos] != ',' &&
		       !isspace((unsigned char)r.body[pos]))
			pos++;
		tl = pos - start;
		if (tl != 40)
			continue;
		for (i = 0; i < n; i++)
			if (strncasecmp(r.body + start, sha1s[i], 40) == 0)
				known[i] = 1;
	}
	reply_free(&r);
	return 0;
}

/* A file name safe for a Content-Disposition: no controls, quotes, paths. */
static char *safe_file_name(const char *name)
{
	const char *base;
	char *out;
	size_t i, n;

	if (name == NULL || *name == '\0')
		name = "sample";
	base = strrchr(name, '/');
	base = base ? base + 1 : name;
	if (*base == '\0')
		base = "sample";
	n = strlen(base);
	if (n > 255)
		n = 255;
	out = malloc(n + 1);
	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)base[i];

		out[i] = (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			     ? '_'
			     : (char)c;
	}
	out[n] = '\0';
	return out;
}

int ddan_upload(struct ddan_conn *conn, const char *sha1, const char *file_name,
		const unsigned char *data, size_t size,
		enum ddan_sample_type type, char **error_r)
{
	struct ddan_req req;
	struct ddan_reply r;
	curl_mime *mime;
	curl_mimepart *part;
	char lower[41], *name;
	size_t i;
	int ret;

	if (error_r != NULL)
		*error_r = NULL;
	if (!is_hex40(sha1)) {
		set_error(conn, error_r,
			  "ddan simple_upload_sample: not a hex SHA-1");
		return -1;
	}
	if (data == NULL && size > 0) {
		set_error(conn, error_r, "ddan simple_upload_sample: no data");
		return -1;
	}
	for (i = 0; i < 40; i++)
		lower[i] = (char)tolower((unsigned char)sha1[i]);
	lower[40] = '\0';
	name = safe_file_name(file_name);
	mime = curl_mime_init(conn->curl);
	part = mime ? curl_mime_addpart(mime) : NULL;
	if (name == NULL || part == NULL ||
	    curl_mime_name(part, "uploadsample") != CURLE_OK ||
	    curl_mime_filename(part, name) != CURLE_OK ||
	    curl_mime_type(part, "application/octet-stream") != CURLE_OK ||
	    curl_mime_data(part, size ? (const char *)data : "", size) !=
		CURLE_OK) {
		curl_mime_free(mime);
		free(name);
		set_error(conn, error_r,
			  "ddan simple_upload_sample: out of memory");
		return -1;
	}
	free(name);
	req_init(&req, conn, "simple_upload_sample", "POST", 1);
	req_add(&req, "X-DTAS-SourceID", conn->source_id);
	req_add(&req, "X-DTAS-SourceName", conn->source_name);
	req_add(&req, "X-DTAS-SHA1", lower);
	req_add_time(&req);
	req_add(&req, "X-DTAS-SampleType", type == DDAN_SAMPLE_URL ? "1" : "0");
	req_add_challenge(&req);
	req.kind = BODY_MIME;
	req.mime = mime;
	ret = -1;
	if (perform(conn, &req, &r, error_r) == 0)
		ret = expect_ok(conn, req.op, &r, error_r);
	reply_free(&r);
	curl_mime_free(mime);
	return ret;
}

/* ---------------------------------------------------------------------
 * XML
 */

static int name_is(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && n->name != NULL &&
	       strcasecmp((const char *)n->name, name) == 0;
}

/* The trimmed text of the first child element called name, into out. */
static int child_text(const xmlNode *parent, const char *name, char *out,
		      size_t outsz)
{
	const xmlNode *c;

	out[0] = '\0';
	for (c = parent->children; c != NULL; c = c->next) {
		xmlChar *t;
		const char *s, *e;
		size_t n;

		if (!name_is(c, name))
			continue;
		t = xmlNodeGetContent(c);
		if (t == NULL)
			return -1;
		s = (const char *)t;
		while (isspace((unsigned char)*s))
			s++;
		e = s + strlen(s);
		while (e > s && isspace((unsigned char)e[-1]))
			e--;
		n = (size_t)(e - s);
		if (n >= outsz)
			n = outsz - 1;
		memcpy(out, s, n);
		out[n] = '\0';
		xmlFree(t);
		return 0;
	}
	return -1;
}

/* An integer risk level in -10..3, else DDAN_RISK_NONE. */
static int parse_risk(const char *s)
{
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return DDAN_RISK_NONE;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < -10 || v > 3)
		return DDAN_RISK_NONE;
	return (int)v;
}

static enum ddan_state parse_state(const char *s)
{
	static const struct {
		const char *name;
		enum ddan_state state;
	} table[] = {
	    {"not found", DDAN_NOT_FOUND},   {"not_found", DDAN_NOT_FOUND},
	    {"notfound", DDAN_NOT_FOUND},    {"arrived", DDAN_ARRIVED},
	    {"processing", DDAN_PROCESSING}, {"done", DDAN_DONE},
	    {"error", DDAN_ERROR},	     {"timeout", DDAN_TIMEOUT},
	};
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcasecmp(s, table[i].name) == 0)
			return table[i].state;
	return DDAN_UNKNOWN;
}

const char *ddan_state_name(enum ddan_state state)
{
	switch (state) {
	case DDAN_NOT_FOUND:
		return "not found";
	case DDAN_ARRIVED:
		return "arrived";
	case DDAN_PROCESSING:
		return "processing";
	case DDAN_DONE:
		return "done";
	case DDAN_ERROR:
		return "error";
	case DDAN_TIMEOUT:
		return "timeout";
	case DDAN_UNKNOWN:
		break;
	}
	return "unknown";
}

static xmlDoc *parse_xml(const struct ddan_reply *r)
{
	if (r->body == NULL || r->len == 0 || r->len > INT_MAX)
		return NULL;
	return xmlReadMemory(r->body, (int)r->len, "ddan.xml", NULL,
			     XML_PARSE_NONET | XML_PARSE_NOERROR |
				 XML_PARSE_NOWARNING);
}

#define XML_MAX_DEPTH 32

/* Calls fn on every element called name, depth-first, bounded depth. */
static void each_elem(xmlNode *n, const char *name, int depth,
		      void (*fn)(xmlNode *, void *), void *arg)
{
	for (; n != NULL; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (name_is(n, name))
			fn(n, arg);
		else if (depth < XML_MAX_DEPTH)
			each_elem(n->children, name, depth + 1, fn, arg);
	}
}

struct brief_ctx {
	const char *const *sha1s;
	size_t n;
	struct ddan_brief *out;
};

static void brief_entry(xmlNode *e, void *arg)
{
	struct brief_ctx *b = arg;
	char sha[64], status[64], risk[64];
	enum ddan_state st;
	int rv;
	size_t i;

	if (child_text(e, "SHA1", sha, sizeof(sha)) < 0 || !is_hex40(sha))
		return;
	if (child_text(e, "STATUS", status, sizeof(status)) < 0)
		return;
	st = parse_state(status);
	if (child_text(e, "RiskLevel", risk, sizeof(risk)) < 0)
		risk[0] = '\0';
	rv = parse_risk(risk);
	if (st == DDAN_DONE && rv == DDAN_RISK_NONE)
		st = DDAN_UNKNOWN; /* done, but no usable risk */
	if (st == DDAN_UNKNOWN)
		rv = DDAN_RISK_NONE;
	for (i = 0; i < b->n; i++)
		if (strcasecmp(b->sha1s[i], sha) == 0) {
			b->out[i].state = st;
			b->out[i].risk = rv;
		}
}

int ddan_brief_report(struct ddan_conn *conn, const char *const *sha1s,
		      size_t n, struct ddan_brief *out, char **error_r)
{
	struct ddan_reply r;
	struct brief_ctx b = {sha1s, n, out};
	xmlDoc *doc;
	size_t i, j;

	if (error_r != NULL)
		*error_r = NULL;
	for (i = 0; i < n; i++) {
		out[i].sha1[0] = '\0';
		for (j = 0; sha1s[i] != NULL && j < 40 && sha1s[i][j]; j++)
			out[i].sha1[j] =
			    (char)tolower((unsigned char)sha1s[i][j]);
		out[i].sha1[j] = '\0';
		out[i].state = DDAN_UNKNOWN;
		out[i].risk = DDAN_RISK_NONE;
	}
	if (n == 0)
		return 0;
	if (put_sha1_list(conn, "get_brief_report", sha1s, n, &r, error_r) < 0)
		return -1;
	doc = parse_xml(&r);
	reply_free(&r);
	if (doc == NULL) {
		set_error(conn, error_r,
			  "ddan get_brief_report: malformed XML reply");
		return -1;
	}
	each_elem(xmlDocGetRootElement(doc), "BRIEF_REPORT", 0, brief_entry,
		  &b);
	xmlFreeDoc(doc);
	return 0;
}

struct report_ctx {
	const char *sha1;
	xmlNode *first, *match, *overall;
};

static void report_file(xmlNode *e, void *arg)
{
	struct report_ctx *c = arg;
	char sha[64];

	if (c->first == NULL)
		c->first = e;
	if (c->match == NULL &&
	    child_text(e, "FileSHA1", sha, sizeof(sha)) == 0 &&
	    strcasecmp(sha, c->sha1) == 0)
		c->match = e;
}

static void report_overall(xmlNode *e, void *arg)
{
	struct report_ctx *c = arg;

	if (c->overall == NULL)
		c->overall = e;
}

int ddan_report(struct ddan_conn *conn, const char *sha1,
		struct ddan_report *out, char **error_r)
{
	struct ddan_req req;
	struct ddan_reply r;
	struct report_ctx c = {sha1, NULL, NULL, NULL};
	xmlDoc *doc;
	xmlNode *root, *file;
	char lower[41], risk[64];
	size_t i;

	if (error_r != NULL)
		*error_r = NULL;
	memset(out, 0, sizeof(*out));
	out->risk = DDAN_RISK_NONE;
	if (!is_hex40(sha1)) {
		set_error(conn, error_r, "ddan get_report: not a hex SHA-1");
		return -1;
	}
	for (i = 0; i < 40; i++)
		lower[i] = (char)tolower((unsigned char)sha1[i]);
	lower[40] = '\0';
	req_init(&req, conn, "get_report", "GET", 1);
	req_add(&req, "X-DTAS-SHA1", lower);
	req_add_time(&req);
	req_add_challenge(&req);
	if (perform(conn, &req, &r, error_r) < 0) {
		reply_free(&r);
		return -1;
	}
	if (r.status == 102) {
		out->processing = 1;
		reply_free(&r);
		return 0;
	}
	if (expect_ok(conn, req.op, &r, error_r) < 0) {
		reply_free(&r);
		return -1;
	}
	doc = parse_xml(&r);
	reply_free(&r);
	root = doc ? xmlDocGetRootElement(doc) : NULL;
	if (root == NULL) {
		if (doc)
			xmlFreeDoc(doc);
		set_error(conn, error_r,
			  "ddan get_report: malformed XML reply");
		return -1;
	}
	each_elem(root, "OVERALL_RISK_LEVEL", 0, report_overall, &c);
	each_elem(root, "FILE_ANALYZE_REPORT", 0, report_file, &c);
	if (c.overall != NULL) {
		xmlChar *t = xmlNodeGetContent(c.overall);
		const char *s = t ? (const char *)t : "";
		size_t n;

		while (isspace((unsigned char)*s))
			s++;
		n = strlen(s);
		while (n > 0 && isspace((unsigned char)s[n - 1]))
			n--;
		if (n < sizeof(risk)) {
			memcpy(risk, s, n);
			risk[n] = '\0';
			out->risk = parse_risk(risk);
		}
		if (t)
			xmlFree(t);
	}
	file = c.match ? c.match : c.first;
	if (file != NULL) {
		child_text(file, "VirusName", out->virus, sizeof(out->virus));
		child_text(file, "TrueFileType", out->true_type,
			   sizeof(out->true_type));
		if (c.overall == NULL &&
		    child_text(file, "RiskLevel", risk, sizeof(risk)) == 0)
			out->risk = parse_risk(risk);
	}
	xmlFreeDoc(doc);
	return 0;
}
