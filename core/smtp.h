/*
 * smtp.h - SMTP and LMTP, both sides, for vigild.
 *
 * The server side runs one session on a connected socket and hands every
 * complete message to an accept callback; the callback's answer is the
 * reply (250 only once the message is durable). The client side delivers
 * one message to a next hop and reports a result per recipient.
 *
 * Neither side knows about rules, spools or stores. Every length read from
 * the wire is bounded; every read and write has a timeout.
 */
#ifndef VIGIL_SMTP_H
#define VIGIL_SMTP_H

#include <stddef.h>

#include "util.h"

/* ---- server ---- */

struct smtp_envelope {
	char *helo;
	char *sender; /* "" for the null sender <> */
	struct strvec rcpts;
	/* XFORWARD attributes from Postfix (NULL when not given) */
	char *xclient_name, *xclient_addr, *xclient_proto, *xclient_helo;
};

struct smtp_server_config {
	int lmtp;                 /* speak LMTP: LHLO, one reply per rcpt */
	const char *hostname;     /* for the greeting and EHLO */
	size_t max_message_size;  /* SIZE, and enforced during DATA */
	unsigned max_recipients;
	unsigned command_timeout; /* seconds, waiting for a command */
	unsigned data_timeout;    /* seconds, between DATA chunks */
};

/* What the accept callback answers. */
enum smtp_verdict {
	SMTP_ACCEPTED = 0, /* 250 2.0.0 Ok: queued as ID */
	SMTP_TEMPFAIL,     /* 451 4.3.0 reason */
	SMTP_REJECT        /* 554 5.7.1 reason */
};

/* `data` is the message as received with the dot-stuffing undone and
 * line ends normalised to LF. `id_r` receives the queue id for the reply. */
typedef enum smtp_verdict (*smtp_accept_fn)(void *ctx,
					    const struct smtp_envelope *env,
					    const unsigned char *data,
					    size_t size, char *id_r,
					    size_t id_size,
					    const char **reason_r);

/* Run one session on `fd` until QUIT, a timeout, an error or `*stop`
 * becoming non-zero (checked between commands). Closes nothing: the
 * caller owns fd. Returns the number of messages accepted. */
int smtp_server_session(int fd, const struct smtp_server_config *cfg,
			smtp_accept_fn accept, void *ctx,
			const volatile int *stop);

/* ---- client ---- */

struct smtp_client;

/* One recipient's outcome: an SMTP reply code (2xx, 4xx or 5xx) and its
 * text, or code 0 when the transaction never reached that recipient. */
struct smtp_rcpt_result {
	int code;
	char text[256];
};

/* Connect to host:port, read the greeting, EHLO/LHLO. NULL with a
 * malloc'd reason on failure. */
struct smtp_client *smtp_client_connect(const char *host, int port, int lmtp,
					const char *helo, unsigned timeout,
					char **error_r);

/* Send one message (LF line ends in `data`; sent as CRLF, dot-stuffed),
 * with PIPELINING when offered. results[i] is filled for every rcpts[i]:
 * the RCPT reply when it was refused, else the final reply (one per
 * recipient with LMTP). Returns 0 when the session is still usable for
 * another message (RSET done), -1 when it is not (then unfilled results
 * carry code 0 and *error_r says why). */
int smtp_client_send(struct smtp_client *c, const char *sender,
		     const char *const *rcpts, size_t n_rcpts,
		     const unsigned char *data, size_t size,
		     struct smtp_rcpt_result *results, char **error_r);

/* QUIT (best effort) and free. */
void smtp_client_close(struct smtp_client *c);

#endif
