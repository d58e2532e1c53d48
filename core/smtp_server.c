/*
 * smtp_server.c - one inbound SMTP or LMTP session: the greeting, the
 * envelope (with Postfix's XFORWARD), the message, and the reply the accept
 * callback decides.
 *
 * Must never: keep more than max_message_size bytes of a message, read a
 * command line into more than a fixed buffer, call accept() with a partial
 * message (a client that vanishes or stalls mid-DATA gets nothing queued),
 * or answer 250 to DATA before accept() has answered. It knows nothing of
 * spools or rules. A limit of 0 (max_message_size, max_recipients) means
 * no limit of its own.
 */
#include "smtp.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp_io.h"

#define SMTP_CMD_MAX 2048     /* command line, without CRLF */
#define SMTP_DATA_PIECE 65536 /* DATA is read in pieces this big */
#define SMTP_MAX_ERRORS 10    /* bad commands before we hang up */
#define SMTP_TEXT_MAX 200     /* callback text in a reply */

struct smtp_server {
	struct smtp_io io;
	const struct smtp_server_config *cfg;
	smtp_accept_fn accept;
	void *ctx;
	const volatile int *stop;
	const char *host;
	struct smtp_envelope env;
	int greeted;	 /* HELO, EHLO or LHLO seen */
	int in_mail;	 /* MAIL accepted, transaction open */
	int done;	 /* the session is over */
	unsigned errors; /* protocol errors so far */
	int accepted;	 /* messages accepted */
	unsigned command_ms, data_ms;
	char line[SMTP_CMD_MAX + 2];
};

static void server_reply(struct smtp_server *s, const char *fmt, ...)
    VIGIL_PRINTF(2, 3);

static void server_reply(struct smtp_server *s, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	smtp_io_printf(&s->io, "%s\r\n", text);
}

/* A protocol error: counted, and too many of them end the session. */
static void server_error(struct smtp_server *s, const char *fmt, ...)
    VIGIL_PRINTF(2, 3);

static void server_error(struct smtp_server *s, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	smtp_io_printf(&s->io, "%s\r\n", text);
	s->errors++;
}

static void xforward_clear(struct smtp_envelope *env)
{
	free(env->xclient_name);
	free(env->xclient_addr);
	free(env->xclient_proto);
	free(env->xclient_helo);
	env->xclient_name = env->xclient_addr = NULL;
	env->xclient_proto = env->xclient_helo = NULL;
}

/* End the transaction; XFORWARD attributes only ever apply to one. */
static void transaction_reset(struct smtp_server *s)
{
	free(s->env.sender);
	s->env.sender = NULL;
	strvec_free(&s->env.rcpts);
	xforward_clear(&s->env);
	s->in_mail = 0;
}

/* Text from the callback, made safe for one reply line. */
static void clean_text(char *dst, size_t size, const char *src,
		       const char *dflt)
{
	size_t n = 0;

	if (src == NULL || *src == '\0')
		src = dflt;
	for (; *src != '\0' && n + 1 < size; src++) {
		unsigned char c = (unsigned char)*src;
		dst[n++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	dst[n] = '\0';
}

/* "<addr>" or a bare address at *pp, copied without the brackets (and
 * without an RFC 821 source route); *pp is left after it. NULL when it is
 * not an address. */
static char *parse_path(char **pp)
{
	char *p = *pp, *start, *addr;
	size_t len;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '<') {
		int quoted = 0;
		start = ++p;
		for (; *p != '\0'; p++) {
			if (quoted && *p == '\\' && p[1] != '\0') {
				p++;
				continue;
			}
			if (*p == '"')
				quoted = !quoted;
			else if (!quoted && *p == '>')
				break;
			else if (!quoted &&
				 (*p == '<' || *p == ' ' || *p == '\t'))
				return NULL;
		}
		if (*p != '>')
			return NULL;
		len = (size_t)(p - start);
		p++;
		if (*p != '\0' && *p != ' ' && *p != '\t')
			return NULL;
	} else {
		start = p;
		while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '>')
			p++;
		len = (size_t)(p - start);
		if (len == 0 || *p == '>')
			return NULL;
	}
	addr = xmalloc(len + 1);
	memcpy(addr, start, len);
	addr[len] = '\0';
	if (addr[0] == '@') {
		char *colon = strchr(addr, ':');
		if (colon == NULL) {
			free(addr);
			return NULL;
		}
		memmove(addr, colon + 1, strlen(colon + 1) + 1);
	}
	*pp = p;
	return addr;
}

/* Next "KEY=VALUE" or "KEY" word at *pp; NULL at the end. */
static char *next_word(char **pp)
{
	char *p = *pp, *w;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return NULL;
	w = p;
	while (*p != '\0' && *p != ' ' && *p != '\t')
		p++;
	if (*p != '\0')
		*p++ = '\0';
	*pp = p;
	return w;
}

/* Skip "FROM:" or "TO:" (any case, spaces allowed after the colon). */
static char *after_keyword(char *args, const char *kw)
{
	size_t n = strlen(kw);

	if (strncasecmp(args, kw, n) != 0)
		return NULL;
	return args + n;
}

static void server_ehlo_reply(struct smtp_server *s, int extended)
{
	if (!extended) {
		server_reply(s, "250 %s", s->host);
		return;
	}
	server_reply(s, "250-%s", s->host);
	server_reply(s, "250-PIPELINING");
	if (s->cfg->max_message_size > 0)
		server_reply(s, "250-SIZE %zu", s->cfg->max_message_size);
	else
		server_reply(s, "250-SIZE");
	server_reply(s, "250-8BITMIME");
	server_reply(s, "250-ENHANCEDSTATUSCODES");
	server_reply(s, "250 XFORWARD NAME ADDR PROTO HELO");
}

static void cmd_hello(struct smtp_server *s, const char *verb, char *args)
{
	int lhlo = strcasecmp(verb, "LHLO") == 0;

	if (s->cfg->lmtp && !lhlo) {
		server_error(s, "500 5.5.1 Error: this is LMTP, use LHLO");
		return;
	}
	if (!s->cfg->lmtp && lhlo) {
		server_error(s, "500 5.5.1 Error: LHLO is for LMTP");
		return;
	}
	if (*args == '\0') {
		server_error(s, "501 5.5.4 Syntax: %s hostname", verb);
		return;
	}
	transaction_reset(s);
	free(s->env.helo);
	s->env.helo = xstrdup(args);
	s->greeted = 1;
	server_ehlo_reply(s, strcasecmp(verb, "HELO") != 0);
}

static void cmd_helo(struct smtp_server *s, char *args)
{
	cmd_hello(s, "HELO", args);
}

static void cmd_ehlo(struct smtp_server *s, char *args)
{
	cmd_hello(s, "EHLO", args);
}

static void cmd_lhlo(struct smtp_server *s, char *args)
{
	cmd_hello(s, "LHLO", args);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* RFC 3461 xtext, decoded in place; -1 when malformed or when it decodes
 * to a control character. */
static int xtext_decode(char *s)
{
	char *out = s;

	for (; *s != '\0'; s++) {
		int c = (unsigned char)*s;
		if (c == '+') {
			int hi = hexval((unsigned char)s[1]);
			int lo = hi < 0 ? -1 : hexval((unsigned char)s[2]);
			if (lo < 0)
				return -1;
			c = hi * 16 + lo;
			s += 2;
		}
		if (c < 0x20 || c == 0x7f)
			return -1;
		*out++ = (char)c;
	}
	*out = '\0';
	return 0;
}

/* Postfix passes the original client, possibly over several commands;
 * each attribute given replaces the one held for the next transaction. */
static void cmd_xforward(struct smtp_server *s, char *args)
{
	static const char *const names[] = {"NAME", "ADDR",  "PROTO", "HELO",
					    "PORT", "IDENT", "SOURCE"};
	char *words[16], *p = args, *w;
	size_t n = 0, i, k;

	if (s->in_mail) {
		server_error(s,
			     "503 5.5.1 Error: MAIL transaction in progress");
		return;
	}
	while ((w = next_word(&p)) != NULL) {
		char *eq = strchr(w, '=');
		if (n == sizeof words / sizeof words[0] || eq == NULL ||
		    eq == w) {
			server_error(
			    s, "501 5.5.4 Syntax: XFORWARD attribute=value...");
			return;
		}
		*eq = '\0';
		for (k = 0; k < sizeof names / sizeof names[0]; k++)
			if (strcasecmp(w, names[k]) == 0)
				break;
		if (k == sizeof names / sizeof names[0]) {
			server_error(
			    s, "501 5.5.4 Bad XFORWARD attribute name: %.64s",
			    w);
			return;
		}
		if (xtext_decode(eq + 1) < 0) {
			server_error(
			    s, "501 5.5.4 Bad XFORWARD attribute value syntax");
			return;
		}
		words[n++] = w;
	}
	if (n == 0) {
		server_error(s,
			     "501 5.5.4 Syntax: XFORWARD attribute=value...");
		return;
	}
	for (i = 0; i < n; i++) {
		char *value = words[i] + strlen(words[i]) + 1, **slot;
		if (strcasecmp(words[i], "NAME") == 0)
			slot = &s->env.xclient_name;
		else if (strcasecmp(words[i], "ADDR") == 0)
			slot = &s->env.xclient_addr;
		else if (strcasecmp(words[i], "PROTO") == 0)
			slot = &s->env.xclient_proto;
		else if (strcasecmp(words[i], "HELO") == 0)
			slot = &s->env.xclient_helo;
		else
			continue; /* known to Postfix, not kept here */
		free(*slot);
		*slot = NULL;
		if (strcasecmp(value, "[UNAVAILABLE]") == 0 ||
		    strcasecmp(value, "[TEMPUNAVAIL]") == 0)
			continue;
		if (slot == &s->env.xclient_addr &&
		    strncasecmp(value, "IPv6:", 5) == 0)
			value += 5;
		*slot = xstrdup(value);
	}
	server_reply(s, "250 2.0.0 Ok");
}

/* SIZE=digits, without overflow; -1 when not a number. */
static int parse_size(const char *v, uintmax_t *size_r)
{
	uintmax_t n = 0;

	if (*v == '\0')
		return -1;
	for (; *v != '\0'; v++) {
		if (!isdigit((unsigned char)*v))
			return -1;
		if (n > (UINTMAX_MAX - 9) / 10)
			n = UINTMAX_MAX - 9; /* saturate: surely too big */
		n = n * 10 + (uintmax_t)(*v - '0');
	}
	*size_r = n;
	return 0;
}

static void cmd_mail(struct smtp_server *s, char *args)
{
	char *p, *addr, *w;

	if (!s->greeted) {
		server_error(s, "503 5.5.1 Error: send %s first",
			     s->cfg->lmtp ? "LHLO" : "HELO/EHLO");
		return;
	}
	if (s->in_mail) {
		server_error(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	p = after_keyword(args, "FROM:");
	if (p == NULL || (addr = parse_path(&p)) == NULL) {
		server_error(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	while ((w = next_word(&p)) != NULL) {
		if (strncasecmp(w, "SIZE=", 5) == 0) {
			uintmax_t size;
			if (parse_size(w + 5, &size) < 0) {
				server_error(
				    s, "501 5.5.4 Bad message size syntax");
				free(addr);
				return;
			}
			if (s->cfg->max_message_size > 0 &&
			    size > s->cfg->max_message_size) {
				server_reply(s, "552 5.3.4 Message size "
						"exceeds fixed limit");
				free(addr);
				return;
			}
		} else if (strncasecmp(w, "BODY=", 5) == 0) {
			if (strcasecmp(w + 5, "8BITMIME") != 0 &&
			    strcasecmp(w + 5, "7BIT") != 0) {
				server_error(
				    s, "501 5.5.4 Unsupported BODY parameter");
				free(addr);
				return;
			}
		} else {
			server_error(s, "555 5.5.4 Unsupported option: %.64s",
				     w);
			free(addr);
			return;
		}
	}
	free(s->env.sender);
	s->env.sender = addr;
	s->in_mail = 1;
	server_reply(s, "250 2.1.0 Ok");
}

static void cmd_rcpt(struct smtp_server *s, char *args)
{
	char *p, *addr, *w;

	if (!s->in_mail) {
		server_error(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	p = after_keyword(args, "TO:");
	if (p == NULL || (addr = parse_path(&p)) == NULL) {
		server_error(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	if (*addr == '\0') {
		server_error(s, "501 5.1.3 Bad recipient address syntax");
		free(addr);
		return;
	}
	if ((w = next_word(&p)) != NULL) {
		server_error(s, "555 5.5.4 Unsupported option: %.64s", w);
		free(addr);
		return;
	}
	if (s->cfg->max_recipients > 0 &&
	    s->env.rcpts.n >= s->cfg->max_recipients) {
		server_reply(s, "452 4.5.3 Error: too many recipients");
		free(addr);
		return;
	}
	strvec_push(&s->env.rcpts, addr);
	free(addr);
	server_reply(s, "250 2.1.5 Ok");
}

/* Append to a buffer that never grows past `limit`; 0, or -1 (buffer
 * freed) when the message would exceed it. */
static int data_append(unsigned char **buf, size_t *len, size_t *cap,
		       size_t limit, const void *p, size_t n)
{
	if (n > limit - *len) {
		free(*buf);
		*buf = NULL;
		*len = *cap = 0;
		return -1;
	}
	if (n == 0)
		return 0;
	if (*len + n > *cap) {
		size_t want = *cap ? *cap : 65536;
		while (want < *len + n && want <= SIZE_MAX / 2)
			want *= 2;
		if (want < *len + n)
			want = *len + n;
		if (want > limit)
			want = limit;
		*buf = xrealloc(*buf, want);
		*cap = want;
	}
	memcpy(*buf + *len, p, n);
	*len += n;
	return 0;
}

/* Read the message up to the final dot. 0 with the message in *buf_r
 * (NULL and *too_big_r set when it went past the limit), -1 when the
 * client timed out or vanished (nothing is kept). */
static int server_read_data(struct smtp_server *s, unsigned char **buf_r,
			    size_t *len_r, int *too_big_r)
{
	size_t limit =
	    s->cfg->max_message_size ? s->cfg->max_message_size : SIZE_MAX;
	char *piece = xmalloc(SMTP_DATA_PIECE);
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0, n;
	int bol = 1, too_big = 0;

	s->io.stop = NULL;
	s->io.per_line = 0;
	s->io.timeout_ms = s->data_ms;
	for (;;) {
		enum smtp_io_read r =
		    smtp_io_read_line(&s->io, piece, SMTP_DATA_PIECE, &n);
		const char *p = piece;
		if (r == SMTP_IO_FAIL) {
			free(piece);
			free(buf);
			return -1;
		}
		if (bol && r == SMTP_IO_LINE && n == 1 && p[0] == '.')
			break;
		if (bol && n > 0 && p[0] == '.') {
			p++;
			n--;
		}
		if (!too_big &&
		    (data_append(&buf, &len, &cap, limit, p, n) < 0 ||
		     (r == SMTP_IO_LINE &&
		      data_append(&buf, &len, &cap, limit, "\n", 1) < 0)))
			too_big = 1;
		bol = r == SMTP_IO_LINE;
	}
	free(piece);
	*buf_r = buf;
	*len_r = len;
	*too_big_r = too_big;
	return 0;
}

/* One reply per message (SMTP) or per recipient (LMTP). */
static void server_final_reply(struct smtp_server *s, const char *text)
{
	size_t i, n = s->cfg->lmtp ? s->env.rcpts.n : 1;

	for (i = 0; i < n; i++)
		server_reply(s, "%s", text);
}

static void cmd_data(struct smtp_server *s, char *args)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	int too_big = 0;
	char reply[512], text[SMTP_TEXT_MAX + 1];

	if (*args != '\0') {
		server_error(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (!s->in_mail) {
		server_error(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->env.rcpts.n == 0) {
		server_reply(s, "554 5.5.1 Error: no valid recipients");
		return;
	}
	server_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	if (server_read_data(s, &buf, &len, &too_big) < 0) {
		if (s->io.status == SMTP_IO_TIMEOUT)
			server_reply(s, "421 4.4.2 %s Error: timeout exceeded",
				     s->host);
		s->done = 1;
		return;
	}
	if (too_big) {
		server_final_reply(
		    s, "552 5.3.4 Message size exceeds fixed limit");
	} else {
		char id[128] = "";
		const char *reason = NULL;
		enum smtp_verdict v = s->accept(
		    s->ctx, &s->env, buf ? buf : (const unsigned char *)"", len,
		    id, sizeof id, &reason);
		id[sizeof id - 1] = '\0';
		switch (v) {
		case SMTP_ACCEPTED:
			clean_text(text, sizeof text, id, "?");
			snprintf(reply, sizeof reply,
				 "250 2.0.0 Ok: queued as %s", text);
			s->accepted++;
			break;
		case SMTP_TEMPFAIL:
			clean_text(text, sizeof text, reason,
				   "Error: temporary failure");
			snprintf(reply, sizeof reply, "451 4.3.0 %s", text);
			break;
		case SMTP_REJECT:
		default:
			clean_text(text, sizeof text, reason,
				   "Error: message rejected");
			snprintf(reply, sizeof reply, "554 5.7.1 %s", text);
			break;
		}
		server_final_reply(s, reply);
	}
	free(buf);
	transaction_reset(s);
}

static void cmd_rset(struct smtp_server *s, char *args)
{
	if (*args != '\0') {
		server_error(s, "501 5.5.4 Syntax: RSET");
		return;
	}
	transaction_reset(s);
	server_reply(s, "250 2.0.0 Ok");
}

static void cmd_noop(struct smtp_server *s, char *args)
{
	(void)args;
	server_reply(s, "250 2.0.0 Ok");
}

static void cmd_quit(struct smtp_server *s, char *args)
{
	(void)args;
	server_reply(s, "221 2.0.0 Bye");
	s->done = 1;
}

static void cmd_vrfy(struct smtp_server *s, char *args)
{
	(void)args;
	server_reply(s, "252 2.0.0 Cannot VRFY user, but will accept message");
}

static void cmd_help(struct smtp_server *s, char *args)
{
	(void)args;
	server_reply(s,
		     "214 2.0.0 Commands: %s MAIL RCPT DATA RSET NOOP QUIT "
		     "VRFY HELP XFORWARD",
		     s->cfg->lmtp ? "LHLO" : "HELO EHLO");
}

static const struct {
	const char *name;
	void (*fn)(struct smtp_server *s, char *args);
} server_commands[] = {
    {"HELO", cmd_helo},		{"EHLO", cmd_ehlo}, {"LHLO", cmd_lhlo},
    {"XFORWARD", cmd_xforward}, {"MAIL", cmd_mail}, {"RCPT", cmd_rcpt},
    {"DATA", cmd_data},		{"RSET", cmd_rset}, {"NOOP", cmd_noop},
    {"QUIT", cmd_quit},		{"VRFY", cmd_vrfy}, {"HELP", cmd_help},
};

static void server_command(struct smtp_server *s, size_t len)
{
	char *line = s->line, *args;
	size_t i, vlen;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			server_error(s, "500 5.5.2 Error: bad syntax");
			return;
		}
	}
	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	line[len] = '\0';
	vlen = strcspn(line, " \t");
	args = line + vlen;
	while (*args == ' ' || *args == '\t')
		args++;
	for (i = 0; i < sizeof server_commands / sizeof server_commands[0];
	     i++) {
		const char *name = server_commands[i].name;
		if (vlen == strlen(name) &&
		    strncasecmp(line, name, vlen) == 0) {
			server_commands[i].fn(s, args);
			return;
		}
	}
	server_error(s, "500 5.5.2 Error: command not recognized");
}

/* After a read failed while waiting for a command: say why, if anyone is
 * still listening. */
static void server_read_failed(struct smtp_server *s)
{
	if (s->io.status == SMTP_IO_TIMEOUT)
		server_reply(s, "421 4.4.2 %s Error: timeout exceeded",
			     s->host);
	else if (s->io.status == SMTP_IO_STOPPED)
		server_reply(s, "421 4.3.2 %s Service shutting down", s->host);
}

/* Seconds to milliseconds; 0 (unset) is taken as RFC 5321's 5 minutes. */
static unsigned timeout_ms(unsigned seconds)
{
	if (seconds == 0)
		return 300 * 1000;
	return seconds > 86400 ? 86400 * 1000 : seconds * 1000;
}

int smtp_server_session(int fd, const struct smtp_server_config *cfg,
			smtp_accept_fn accept, void *ctx,
			const volatile int *stop)
{
	struct smtp_server *s = xcalloc(1, sizeof *s);
	int accepted;

	s->command_ms = timeout_ms(cfg->command_timeout);
	s->data_ms = timeout_ms(cfg->data_timeout);
	smtp_io_init(&s->io, fd, s->command_ms);
	s->cfg = cfg;
	s->accept = accept;
	s->ctx = ctx;
	s->stop = stop;
	s->host = cfg->hostname && *cfg->hostname ? cfg->hostname : "localhost";
	server_reply(s, "220 %s %s vigil", s->host,
		     cfg->lmtp ? "LMTP" : "ESMTP");
	while (!s->done && !s->io.wfailed) {
		enum smtp_io_read r;
		size_t len;

		if (stop != NULL && *stop) {
			server_reply(s, "421 4.3.2 %s Service shutting down",
				     s->host);
			break;
		}
		s->io.stop = stop;
		s->io.per_line = 1;
		s->io.timeout_ms = s->command_ms;
		r = smtp_io_read_line(&s->io, s->line, SMTP_CMD_MAX + 1, &len);
		if (r == SMTP_IO_PART ||
		    (r == SMTP_IO_LINE && len > SMTP_CMD_MAX)) {
			size_t skipped;
			while (r == SMTP_IO_PART)
				r = smtp_io_read_line(&s->io, s->line,
						      SMTP_CMD_MAX + 1,
						      &skipped);
			if (r == SMTP_IO_FAIL) {
				server_read_failed(s);
				break;
			}
			server_error(s, "500 5.5.2 Error: line too long");
		} else if (r == SMTP_IO_FAIL) {
			server_read_failed(s);
			break;
		} else {
			server_command(s, len);
		}
		if (s->errors >= SMTP_MAX_ERRORS && !s->done) {
			server_reply(s, "421 4.7.0 %s Error: too many errors",
				     s->host);
			break;
		}
	}
	smtp_io_flush(&s->io);
	transaction_reset(s);
	free(s->env.helo);
	accepted = s->accepted;
	free(s);
	return accepted;
}
