/*
 * ddan_api.h - a small synchronous client of the Deep Discovery Analyzer
 * (DDAN) web service API, for the Virtual Analyzer plugin.
 *
 * PURPOSE: sign and send the DDAN operations (test_connection, register,
 * unregister, check_duplicate_sample, simple_upload_sample,
 * get_brief_report, get_report) over one kept-alive HTTPS connection per
 * server, and read their answers into plain C structs.
 *
 * NEVER: turns TLS verification off; puts the API key in an error string;
 * waits longer than the configured timeout per transfer; prints anything.
 * Depends on libcurl (OpenSSL backend), libxml2 and libcrypto only; the
 * caller runs curl_global_init() and xmlInitParser() once before threads.
 * A struct ddan_conn is used by one thread at a time.
 */
#ifndef DDAN_API_H
#define DDAN_API_H

#include <stddef.h>

struct ddan_server_cfg {
	const char *host; /* name, IPv4, or IPv6 literal (with or without []) */
	int port;	  /* 1..65535 */
	const char *api_key; /* secret: never in an error string */
	const char *ca_file; /* PEM file of trusted CAs, or NULL */
	const char
	    *pin_sha256; /* "AB:CD:..." SHA-256 of the leaf cert DER, or NULL */
	unsigned timeout_s; /* bound of every transfer; 0 means 30 */
};

struct ddan_client_id {
	const char *product_name, *client_hostname, *client_uuid, *source_id,
	    *source_name;
	const char *protocol_version; /* "1.5" */
};

struct ddan_conn;

struct ddan_conn *ddan_conn_new(const struct ddan_server_cfg *cfg,
				const struct ddan_client_id *id,
				char **error_r);
void ddan_conn_free(struct ddan_conn *conn);

/* All calls return 0 on success, -1 with a malloc'd *error_r on failure. */
int ddan_test_connection(struct ddan_conn *conn, char **error_r);
int ddan_register(struct ddan_conn *conn, char **error_r);
int ddan_unregister(struct ddan_conn *conn, char **error_r);

/* Of n sha1s (hex), set known[i] = 1 for those the server has, else 0. */
int ddan_check_duplicate(struct ddan_conn *conn, const char *const *sha1s,
			 size_t n, int *known, char **error_r);

enum ddan_sample_type { DDAN_SAMPLE_FILE = 0, DDAN_SAMPLE_URL = 1 };

/* Submits data as a sample: a file, or a URL list (one URL a line); sha1
 * is the SHA-1 of data in hex. */
int ddan_upload(struct ddan_conn *conn, const char *sha1, const char *file_name,
		const unsigned char *data, size_t size,
		enum ddan_sample_type type, char **error_r);

enum ddan_state {
	DDAN_NOT_FOUND,
	DDAN_ARRIVED,
	DDAN_PROCESSING,
	DDAN_DONE,
	DDAN_ERROR,
	DDAN_TIMEOUT,
	DDAN_UNKNOWN
};

#define DDAN_RISK_NONE (-100) /* absent or unreadable */

struct ddan_brief {
	char sha1[41];
	enum ddan_state state;
	int risk; /* -10..3, or DDAN_RISK_NONE */
};

/*
 * Batched: one request for n samples. out[i] answers sha1s[i]; entries the
 * XML lacks or that cannot be read (including "done" with an unreadable
 * risk) get DDAN_UNKNOWN and DDAN_RISK_NONE: the caller falls back to
 * ddan_report(). On error every out[i] is DDAN_UNKNOWN too.
 */
int ddan_brief_report(struct ddan_conn *conn, const char *const *sha1s,
		      size_t n, struct ddan_brief *out, char **error_r);

struct ddan_report {
	int processing;	    /* 1: HTTP 102, analysis still running */
	int risk;	    /* OVERALL_RISK_LEVEL -10..3, or DDAN_RISK_NONE */
	char virus[128];    /* VirusName, "" when none */
	char true_type[64]; /* TrueFileType, "" when none */
};

int ddan_report(struct ddan_conn *conn, const char *sha1,
		struct ddan_report *out, char **error_r);

const char *ddan_state_name(enum ddan_state state);

#endif
