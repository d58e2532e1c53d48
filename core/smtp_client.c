/*
 * smtp_client.c - deliver messages to a next hop over SMTP or LMTP, one
 * connection reused for many messages, with a result for each recipient.
 *
 * Must never: block without a timeout, send a byte the caller gave it that
 * could end a command line early (CR or LF in an address), read a reply
 * line into more than a fixed buffer, or report a recipient delivered
 * without a 2xx for it. What it does not know (the connection died first)
 * stays code 0 for the caller to retry.
 */
#include "smtp.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "smtp_io.h"

#define CLIENT_REPLY_LINE 512  /* reply text past this is ignored */
#define CLIENT_REPLY_LINES 100 /* a longer reply is a broken server */
#define CLIENT_QUIT_TIMEOUT_MS 5000
#define CLIENT_ADDR_MAX 1000

struct smtp_client {
	struct smtp_io io;
	char *name; /* host:port, for messages */
	int lmtp;
	int pipelining, eightbitmime, xforward;
	uintmax_t size_max; /* 0: SIZE not offered or no limit given */
};

/* Read one reply into r (multi-line texts joined by spaces; each line also
 * pushed to `lines` when given). Returns the code, or -1 with *error_r
 * set on an I/O error, a malformed reply or a 421. */
static int client_reply(struct smtp_client *c, const char *what,
			struct smtp_rcpt_result *r, struct strvec *lines,
			char **error_r)
{
	char line[CLIENT_REPLY_LINE + 1], junk[256];
	size_t len, skipped, tlen = 0, n_lines;
	int code = -1;

	r->code = 0;
	r->text[0] = '\0';
	for (n_lines = 0;; n_lines++) {
		enum smtp_io_read rd =
		    smtp_io_read_line(&c->io, line, CLIENT_REPLY_LINE, &len);
		while (rd == SMTP_IO_PART) /* the rest is ignored */
			rd = smtp_io_read_line(&c->io, junk, sizeof junk,
					       &skipped);
		if (rd == SMTP_IO_FAIL) {
			*error_r = xasprintf(
			    "%s: %s while waiting for the reply to %s", c->name,
			    smtp_io_strerror(&c->io), what);
			return -1;
		}
		line[len] = '\0';
		if (len < 3 || line[0] < '2' || line[0] > '5' ||
		    line[1] < '0' || line[1] > '9' || line[2] < '0' ||
		    line[2] > '9' ||
		    (len > 3 && line[3] != ' ' && line[3] != '-') ||
		    n_lines >= CLIENT_REPLY_LINES) {
			*error_r = xasprintf("%s: malformed reply to %s",
					     c->name, what);
			c->io.wfailed = 1; /* out of step: unusable */
			return -1;
		}
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
		       (line[2] - '0');
		const char *text = len > 3 ? line + 4 : "";
		if (lines != NULL)
			strvec_push(lines, text);
		if (tlen > 0 && *text != '\0' && tlen + 1 < sizeof r->text)
			r->text[tlen++] = ' ';
		for (; *text != '\0' && tlen + 1 < sizeof r->text; text++) {
			unsigned char ch = (unsigned char)*text;
			r->text[tlen++] =
			    ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
		}
		r->text[tlen] = '\0';
		if (len == 3 || line[3] == ' ')
			break;
	}
	r->code = code;
	if (code == 421) {
		*error_r = xasprintf("%s: %d %s (in reply to %s)", c->name,
				     code, r->text, what);
		c->io.wfailed = 1; /* the server is going away */
		return -1;
	}
	return code;
}

/* Connect to one address within the timeout; the socket or -1. */
static int client_dial(const struct addrinfo *ai, unsigned timeout_ms,
		       int *errno_r)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			ai->ai_protocol);
	int flags, err = 0;
	socklen_t elen = sizeof err;

	if (fd < 0) {
		*errno_r = errno;
		return -1;
	}
	flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		int n;
		if (errno != EINPROGRESS) {
			*errno_r = errno;
			close(fd);
			return -1;
		}
		do
			n = poll(&p, 1, (int)timeout_ms);
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			*errno_r = n == 0 ? ETIMEDOUT : errno;
			close(fd);
			return -1;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 ||
		    err != 0) {
			*errno_r = err ? err : errno;
			close(fd);
			return -1;
		}
	}
	return fd;
}

static int is_safe_word(const char *s)
{
	if (s == NULL || *s == '\0' || strlen(s) > 255)
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return 0;
	return 1;
}

/* No CR, LF or other control character, and a sane length. */
static int is_safe_addr(const char *s)
{
	if (s == NULL || strlen(s) > CLIENT_ADDR_MAX)
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			return 0;
	return 1;
}

static void client_extensions(struct smtp_client *c, const struct strvec *lines)
{
	size_t i;

	/* the first line is the server's name */
	for (i = 1; i < lines->n; i++) {
		const char *l = lines->v[i];
		size_t kw = strcspn(l, " ");
		if (kw == 10 && strncasecmp(l, "PIPELINING", kw) == 0) {
			c->pipelining = 1;
		} else if (kw == 8 && strncasecmp(l, "8BITMIME", kw) == 0) {
			c->eightbitmime = 1;
		} else if (kw == 8 && strncasecmp(l, "XFORWARD", kw) == 0) {
			c->xforward = 1;
		} else if (kw == 4 && strncasecmp(l, "SIZE", kw) == 0) {
			uintmax_t n = 0;
			const char *p = l + kw;
			while (*p == ' ')
				p++;
			for (; *p >= '0' && *p <= '9'; p++) {
				if (n > UINTMAX_MAX / 10 - 10)
					break; /* as good as no limit */
				n = n * 10 + (uintmax_t)(*p - '0');
			}
			c->size_max = n;
		}
	}
}

struct smtp_client *smtp_client_connect(const char *host, int port, int lmtp,
					const char *helo, unsigned timeout,
					char **error_r)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL, *ai;
	struct smtp_rcpt_result r;
	struct strvec lines = {0};
	struct smtp_client *c;
	char portstr[16], *name, *err = NULL;
	size_t hlen = strlen(host);
	int fd = -1, last_errno = ECONNREFUSED, rc;
	unsigned timeout_ms = (timeout ? timeout : 300) * 1000;

	/* "[127.0.0.1]" as Postfix writes a next hop */
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']')
		name = xasprintf("%.*s", (int)(hlen - 2), host + 1);
	else
		name = xstrdup(host);
	snprintf(portstr, sizeof portstr, "%d", port);
	rc = getaddrinfo(name, portstr, &hints, &res);
	if (rc != 0) {
		*error_r = xasprintf("%s:%d: %s", name, port, gai_strerror(rc));
		free(name);
		return NULL;
	}
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
		fd = client_dial(ai, timeout_ms, &last_errno);
	freeaddrinfo(res);
	if (fd < 0) {
		*error_r = xasprintf("%s:%d: cannot connect: %s", name, port,
				     strerror(last_errno));
		free(name);
		return NULL;
	}

	c = xcalloc(1, sizeof *c);
	smtp_io_init(&c->io, fd, timeout_ms);
	c->name = xasprintf("%s:%d", name, port);
	c->lmtp = lmtp;
	free(name);
	if (!is_safe_word(helo))
		helo = "localhost";

	rc = client_reply(c, "the greeting", &r, NULL, &err);
	if (rc >= 0 && rc != 220) {
		err = xasprintf("%s: greeting: %d %s", c->name, rc, r.text);
		goto fail;
	}
	if (rc < 0)
		goto fail;
	smtp_io_printf(&c->io, "%s %s\r\n", lmtp ? "LHLO" : "EHLO", helo);
	rc = client_reply(c, lmtp ? "LHLO" : "EHLO", &r, &lines, &err);
	if (rc >= 500 && rc < 600 && !lmtp) {
		smtp_io_printf(&c->io, "HELO %s\r\n", helo);
		strvec_free(&lines);
		rc = client_reply(c, "HELO", &r, NULL, &err);
	}
	if (rc < 0)
		goto fail;
	if (rc / 100 != 2) {
		err = xasprintf("%s: %s: %d %s", c->name,
				lmtp ? "LHLO" : "EHLO/HELO", rc, r.text);
		goto fail;
	}
	client_extensions(c, &lines);
	strvec_free(&lines);
	return c;

fail:
	strvec_free(&lines);
	*error_r = err;
	c->io.wfailed = 1; /* no QUIT to a server that said no */
	smtp_client_close(c);
	return NULL;
}

/* The message as it goes on the wire: CRLF line ends, leading dots doubled,
 * ended by CRLF.CRLF. */
static int client_write_body(struct smtp_client *c, const unsigned char *data,
			     size_t size)
{
	size_t i = 0;
	int bol = 1;

	while (i < size) {
		const unsigned char *lf = memchr(data + i, '\n', size - i);
		size_t end = lf != NULL ? (size_t)(lf - data) : size;
		size_t stop = end;

		if (bol && data[i] == '.')
			smtp_io_write(&c->io, ".", 1);
		if (lf != NULL && stop > i && data[stop - 1] == '\r')
			stop--;
		smtp_io_write(&c->io, data + i, stop - i);
		if (lf == NULL) {
			bol = 0;
			break;
		}
		smtp_io_write(&c->io, "\r\n", 2);
		i = end + 1;
	}
	if (!bol)
		smtp_io_write(&c->io, "\r\n", 2);
	return smtp_io_write(&c->io, ".\r\n", 3);
}

static void set_result(struct smtp_rcpt_result *r, int code, const char *text)
{
	r->code = code;
	snprintf(r->text, sizeof r->text, "%s", text);
}

int smtp_client_send(struct smtp_client *c, const char *sender,
		     const char *const *rcpts, size_t n_rcpts,
		     const unsigned char *data, size_t size,
		     struct smtp_rcpt_result *results, char **error_r)
{
	struct smtp_rcpt_result mail_r = {0}, data_r = {0}, rset_r;
	unsigned char *state = xcalloc(n_rcpts, 1); /* 1 sent, 2 accepted */
	size_t i, n_sent = 0, n_ok = 0, lines = 0;
	int pipe = c->pipelining, eight = 0, rc = -1, data_sent = 0;
	char *err = NULL;

	for (i = 0; i < n_rcpts; i++) {
		results[i].code = 0;
		results[i].text[0] = '\0';
	}
	if (c->io.wfailed || c->io.status != SMTP_IO_OK) {
		err = xasprintf("%s: connection is not usable", c->name);
		goto out;
	}
	if (!is_safe_addr(sender)) {
		for (i = 0; i < n_rcpts; i++)
			set_result(&results[i], 553,
				   "5.1.7 bad sender address syntax");
		rc = 0;
		goto out;
	}
	for (i = 0; i < size; i++) {
		lines += data[i] == '\n';
		eight |= data[i] >= 0x80;
	}
	if (c->size_max > 0 && size + lines > c->size_max) {
		for (i = 0; i < n_rcpts; i++)
			set_result(
			    &results[i], 552,
			    "5.3.4 message size exceeds the next hop's limit");
		rc = 0;
		goto out;
	}

	smtp_io_printf(&c->io, "MAIL FROM:<%s>", sender);
	if (c->size_max > 0)
		smtp_io_printf(&c->io, " SIZE=%zu", size + lines);
	if (eight && c->eightbitmime)
		smtp_io_printf(&c->io, " BODY=8BITMIME");
	smtp_io_printf(&c->io, "\r\n");
	if (!pipe) {
		if (client_reply(c, "MAIL", &mail_r, NULL, &err) < 0)
			goto out;
		if (mail_r.code / 100 != 2)
			goto refused;
	}
	for (i = 0; i < n_rcpts; i++) {
		if (!is_safe_addr(rcpts[i])) {
			set_result(&results[i], 553,
				   "5.1.3 bad recipient address syntax");
			continue;
		}
		smtp_io_printf(&c->io, "RCPT TO:<%s>\r\n", rcpts[i]);
		state[i] = 1;
		n_sent++;
		if (pipe)
			continue;
		if (client_reply(c, "RCPT", &results[i], NULL, &err) < 0) {
			results[i].code = 0;
			goto out;
		}
		if (results[i].code / 100 == 2) {
			state[i] = 2;
			n_ok++;
			results[i].code = 0;
		}
	}
	if (pipe) {
		if (n_sent > 0) {
			smtp_io_printf(&c->io, "DATA\r\n");
			data_sent = 1;
		}
		if (client_reply(c, "MAIL", &mail_r, NULL, &err) < 0)
			goto out;
		for (i = 0; i < n_rcpts; i++) {
			if (state[i] == 0)
				continue;
			if (client_reply(c, "RCPT", &results[i], NULL, &err) <
			    0) {
				results[i].code = 0;
				goto out;
			}
			if (results[i].code / 100 == 2 &&
			    mail_r.code / 100 == 2) {
				state[i] = 2;
				n_ok++;
				results[i].code = 0;
			}
		}
		if (data_sent &&
		    client_reply(c, "DATA", &data_r, NULL, &err) < 0)
			goto out;
		if (data_r.code == 354 && n_ok == 0) {
			err = xasprintf("%s: 354 to DATA without any recipient",
					c->name);
			c->io.wfailed = 1;
			goto out;
		}
		if (mail_r.code / 100 != 2)
			goto refused;
	} else if (n_ok > 0) {
		smtp_io_printf(&c->io, "DATA\r\n");
		if (client_reply(c, "DATA", &data_r, NULL, &err) < 0)
			goto out;
	}

	if (n_ok > 0 && data_r.code != 354) {
		for (i = 0; i < n_rcpts; i++)
			if (state[i] == 2)
				results[i] = data_r;
	} else if (n_ok > 0) {
		struct smtp_rcpt_result final;
		client_write_body(c, data, size);
		if (!c->lmtp &&
		    client_reply(c, "the end of data", &final, NULL, &err) < 0)
			goto out;
		for (i = 0; i < n_rcpts; i++) {
			if (state[i] != 2)
				continue;
			if (c->lmtp && client_reply(c, "the end of data",
						    &final, NULL, &err) < 0)
				goto out;
			results[i] = final;
		}
	}
	goto rset;

refused:
	/* MAIL refused: that answer is every recipient's */
	for (i = 0; i < n_rcpts; i++)
		if (results[i].code == 0 || state[i] != 0)
			results[i] = mail_r;
rset:
	smtp_io_printf(&c->io, "RSET\r\n");
	if (client_reply(c, "RSET", &rset_r, NULL, &err) < 0)
		goto out;
	if (rset_r.code / 100 != 2) {
		err = xasprintf("%s: RSET: %d %s", c->name, rset_r.code,
				rset_r.text);
		c->io.wfailed = 1;
		goto out;
	}
	rc = 0;
out:
	free(state);
	if (rc < 0)
		*error_r = err;
	else
		free(err);
	return rc;
}

void smtp_client_close(struct smtp_client *c)
{
	if (c == NULL)
		return;
	if (!c->io.wfailed && c->io.status == SMTP_IO_OK) {
		struct smtp_rcpt_result r;
		char *err = NULL;
		if (c->io.timeout_ms > CLIENT_QUIT_TIMEOUT_MS)
			c->io.timeout_ms = CLIENT_QUIT_TIMEOUT_MS;
		smtp_io_printf(&c->io, "QUIT\r\n");
		client_reply(c, "QUIT", &r, NULL, &err);
		free(err);
	}
	close(c->io.fd);
	free(c->name);
	free(c);
}
