/*
 * msg.h - the message model.
 *
 * One RFC 822 message, parsed by GMime and flattened into parts: every MIME
 * leaf, every embedded message/rfc822, and every archive member (libarchive,
 * recursively) within the configured limits. Parts are computed once, on the
 * first msg_parts() call, and shared by every condition.
 *
 * This module never decides anything: it only describes the message and
 * notes what was wrong with it (malformed, a limit hit). It must never crash
 * or allocate without bound on hostile input.
 */
#ifndef VIGIL_MSG_H
#define VIGIL_MSG_H

#include <stdint.h>
#include <gmime/gmime.h>
#include <vigil/plugin.h>

/* The security-setting limits (vigil.conf `limits`). */
struct msg_limits {
	uint64_t max_message_size;       /* bytes */
	unsigned max_recipients;
	unsigned archive_max_depth;      /* archive nesting levels */
	unsigned archive_max_members;    /* members per message, all archives */
	uint64_t archive_max_total_size; /* bytes extracted per message */
	unsigned archive_max_ratio;      /* extracted : compressed */
};

extern const struct msg_limits msg_default_limits;

/* What was wrong with a message (bits of msg->exceptions). */
enum {
	MSG_MALFORMED = 1u << 0, /* see msg->malformed_reason */
	MSG_LIMIT_HIT = 1u << 1  /* see msg->limit_hit */
};

struct msg {
	struct vigil_message pub; /* api table: set by the host */

	unsigned char *raw; /* the original bytes, owned */
	size_t raw_size;
	GMimeMessage *mime;

	char *sender;      /* envelope, "" for the null sender */
	char **rcpts;
	size_t n_rcpts;

	const struct msg_limits *limits;
	vigil_typer_fn typer; /* may be NULL: then every type is "unknown" */
	void *typer_ctx;

	vigil_part *parts;
	size_t n_parts;
	int parts_done;

	unsigned exceptions;
	char *malformed_reason; /* first problem seen, e.g. "truncated multipart" */
	char *limit_hit;        /* e.g. "archive_max_depth (10)" */

	char id[64]; /* vigil's internal (spool) id, "" offline */

	void *priv; /* msg_*.c bookkeeping (buffers, strings) */
};

/* Call once per process before anything else here. */
void msg_library_init(void);

/* Parse `raw` (taken over: freed by msg_free). Never fails on bad input: a
 * message GMime cannot make sense of is flagged MSG_MALFORMED. */
struct msg *msg_new(unsigned char *raw, size_t size,
		    const struct msg_limits *limits, vigil_typer_fn typer,
		    void *typer_ctx);
void msg_free(struct msg *m);

/* Envelope. Without one, msg_envelope_from_headers() takes the sender from
 * From and the recipients from To, Cc and Bcc. Addresses are bare
 * (local@domain), no angle brackets. */
void msg_set_envelope(struct msg *m, const char *sender,
		      const char *const *rcpts, size_t n_rcpts);
void msg_envelope_from_headers(struct msg *m);

/* The parts, flattened on first call. */
const vigil_part *msg_parts(struct msg *m, size_t *count_r);

/* First header of that name, decoded (RFC 2047) to UTF-8; NULL if absent. */
const char *msg_header(struct msg *m, const char *name);

#endif
