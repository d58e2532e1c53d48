/*
 * snap.h - SNAP (Social engineering Attack Protection): the plugin's
 * private interface between its pieces.
 *
 * PURPOSE: the heuristics work on a `struct snap_msg`, plain strings the
 * plugin gathers from the host (snap.c) or a unit test builds by hand, and
 * fill a `struct snap_result`: one named reason per technique, each with a
 * weight and a short detail, plus the message's URLs for the Virtual
 * Analyzer's double verification.
 *
 *   snap_text.c     strings, domains, lookalikes, URLs, language
 *   snap_html.c     the HTML bodies, through libxml2's HTML parser
 *   snap_analyze.c  every heuristic over a snap_msg -> snap_result
 *   snap.c          the plugin: settings, the condition, the two modes
 *
 * NEVER: reads anything but the snap_msg, allocates without bound on
 * hostile input, or talks to the host (only snap.c does).
 */
#ifndef VIGIL_SNAP_H
#define VIGIL_SNAP_H

#include <stddef.h>
#include <stdint.h>

/* The reasons, in the order details are printed. */
enum snap_reason {
	SNAP_DISPLAY_NAME = 0, /* a protected name in an outsider's display name */
	SNAP_DISPLAY_ADDRESS,  /* the display name shows another domain's address */
	SNAP_HOMOGLYPH,        /* a domain that looks the same (confusables, punycode) */
	SNAP_LOOKALIKE,        /* a domain a typo away, or with the name inside */
	SNAP_REPLY_TO,         /* Reply-To in another domain than From */
	SNAP_REPLY_TO_FREEMAIL, /* ... at a free mail provider, From is not */
	SNAP_RETURN_PATH,      /* Return-Path / envelope sender elsewhere */
	SNAP_MESSAGE_ID,       /* Message-ID host unrelated to From, or none */
	SNAP_ENVELOPE_RCPT,    /* an envelope recipient no header names */
	SNAP_RECEIVED,         /* Received chain: gaps, broken path, time zones */
	SNAP_MULTIPLE_DATE,    /* several Date header fields */
	SNAP_CHARSET,          /* declared charset lies, or is an evasive one */
	SNAP_MIXED_SCRIPT,     /* a word mixing Latin and Cyrillic/Greek letters */
	SNAP_LINK_TEXT,        /* a link shows one domain and goes to another */
	SNAP_IP_URL,           /* a link to a bare IP address */
	SNAP_SHORTENER,        /* a link through a URL shortener */
	SNAP_DATA_URI,         /* a data: (or javascript:) link */
	SNAP_PASSWORD_FORM,    /* an HTML form asking for a password or card */
	SNAP_HIDDEN_TEXT,      /* text nobody sees: zero-size, same colour */
	SNAP_URGENCY,          /* credential / payment urgency language */
	SNAP_REASON_COUNT
};

/* NULL-terminated, for vigil_check_keys() */
extern const char *const snap_reason_names[SNAP_REASON_COUNT + 1];
extern const int snap_default_weights[SNAP_REASON_COUNT];

/* A domain to protect: internal ones also catch a mere change of TLD. */
struct snap_domain {
	char *name;  /* lower case, "paypal.com" */
	char *label; /* its registrable label, "paypal" */
	char *skel;  /* skeleton of the label */
	int internal;
};

struct snap_config {
	int weights[SNAP_REASON_COUNT];
	struct snap_domain *domains;
	size_t n_domains;
	char **names; /* protected display names, snap_name_form() */
	char **names_shown; /* ... as written, for details */
	char **names_squeezed; /* snap_skeleton(shown, 1), or NULL: computed
				* when needed */
	size_t n_names;
};

/* One body or HTML attachment. */
struct snap_text {
	const char *data;
	size_t size;
	const char *charset; /* declared, NULL when none */
	int html;
	int attachment; /* has a file name */
};

/* Everything the heuristics read. Any pointer may be NULL. */
struct snap_msg {
	const char *from_name; /* display name, decoded */
	const char *from_addr; /* bare address */
	const char *reply_to, *return_path, *message_id;
	const char *to, *cc, *bcc, *subject;
	const char *sender; /* envelope, "" for the null sender */
	const char *const *rcpts;
	size_t n_rcpts;
	const char *const *received; /* top (newest) first, unfolded */
	size_t n_received;
	const char *const *dates; /* every Date field */
	size_t n_dates;
	const char *const *header_charsets; /* of encoded-words in From/Subject */
	size_t n_header_charsets;
	const struct snap_text *texts;
	size_t n_texts;
};

struct snap_result {
	int score;
	unsigned hit; /* bit per reason */
	char detail[SNAP_REASON_COUNT][128];
	char **urls; /* http(s) URLs, first seen first, no repeats */
	size_t n_urls;
};

#define SNAP_MAX_URLS 64

void snap_analyze(const struct snap_config *cfg, const struct snap_msg *m,
		  struct snap_result *r);
void snap_result_clear(struct snap_result *r);
/* "score 85: lookalike_domain(40) a~b, urgency(25) ..." into buf */
void snap_result_format(const struct snap_result *r,
			const struct snap_config *cfg, char *buf, size_t cap);
/* note a reason once: the first detail stays */
void snap_hit(struct snap_result *r, enum snap_reason why, const char *fmt,
	      ...) __attribute__((format(printf, 3, 4)));
void snap_add_url(struct snap_result *r, const char *url, size_t len);

/* ---- snap_text.c ---- */

/* A growing text, for the language checks: ASCII lower-cased, blanks
 * squeezed to one space, at most SNAP_TEXT_MAX bytes. */
struct snap_buf {
	char *p;
	size_t len, cap;
};
#define SNAP_TEXT_MAX (128u << 10)
void snap_buf_add(struct snap_buf *b, const char *s, size_t n);
void snap_buf_free(struct snap_buf *b);

/* The registrable part of a host name ("a.b.example.co.uk" ->
 * "example.co.uk"), a pointer into `host`. */
const char *snap_registrable(const char *host);
/* Same organisation: equal registrable domains (case-insensitive). */
int snap_same_org(const char *a, const char *b);
/* The domain of an address, or NULL. */
const char *snap_addr_domain(const char *addr);
/* Malloc'd ASCII skeleton of UTF-8 text: compatibility-folded, accents and
 * confusable letters mapped to ASCII, lower case, 0->o 1/i/|->l rn->m vv->w;
 * spaces and punctuation dropped when squeeze is set. */
char *snap_skeleton(const char *s, int squeeze);
/* Malloc'd skeleton of a display name with words kept: anything but
 * letters and digits becomes one space ("Jane  Whitfield (CEO)" -> "jane
 * whltfleld ceo"). */
char *snap_name_form(const char *s);
/* Optimal string alignment distance, or max + 1 when above max. */
int snap_edit_distance(const char *a, const char *b, int max);
/* Does `host` imitate one of cfg's domains? 0 no; else the reason
 * (SNAP_HOMOGLYPH or SNAP_LOOKALIKE), with *which_r the domain and why_r
 * a few words ("edit distance 1"). */
int snap_domain_lookalike(const struct snap_config *cfg, const char *host,
			  const struct snap_domain **which_r,
			  const char **why_r);
/* Host of a URL ("http://u@Host:80/x" -> "host"), or of "www.x.y/...";
 * 0 when there is none. */
int snap_url_host(const char *url, size_t len, char *host, size_t cap);
/* The host a link's visible text shows, if it shows one. */
int snap_text_host(const char *text, char *host, size_t cap);
int snap_is_ip_host(const char *host);
/* loopback, RFC 1918, 0/8 */
int snap_ip_is_private(const char *host);
int snap_is_shortener(const char *host);
int snap_is_freemail(const char *domain);
/* Find a word mixing Latin with Cyrillic or Greek letters; copy it. */
int snap_mixed_script(const char *utf8, size_t len, char *word_r, size_t cap);
/* Credential/payment urgency in lower-cased text: bit 1 credential, 2
 * payment, 4 urgency; *hits_r counts phrases; the first ones go to
 * detail. */
unsigned snap_urgency(const char *text, size_t len, int *hits_r, char *detail,
		      size_t cap);
/* Every http(s):// and www. URL in plain text. */
void snap_text_urls(const char *data, size_t n, struct snap_result *r);

/* ---- snap_html.c ---- */

/* What one HTML document showed. */
struct snap_html {
	char link_text[128];  /* "shown.example->real.example" */
	char data_uri[64];    /* the scheme and start of the first one */
	char form[96];        /* what the form asks for */
	char hidden[96];      /* what is hidden, how */
};
void snap_html_scan(const struct snap_config *cfg, const char *data,
		    size_t size, const char *charset, struct snap_html *out,
		    struct snap_buf *text, struct snap_result *r);
void snap_html_init(void);

#endif
