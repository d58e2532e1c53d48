/*
 * check_smtp.c - Check suite for SMTP/LMTP (core/smtp_server.c,
 * core/smtp_client.c, core/smtp_io.c).
 *
 * PURPOSE: the server is driven over a socketpair by a scripted client and
 * its whole transcript compared with a golden one (a table of cases); the
 * client is driven against a scripted fake server whose received transcript
 * is compared the same way; then client and server talk to each other.
 *
 * NEVER: hang (every socket has a short timeout, every case finishes well
 * inside Check's default per-test timeout) or use a fixed TCP port.
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "smtp.h"

/* ---- the accept callback: remembers what it was handed ---- */

struct sink {
	enum smtp_verdict verdict;
	int calls;
	char *data;
	size_t size;
	char *sender, *rcpts, *helo, *xforward;
};

static char *or_dash(const char *s)
{
	return xstrdup(s ? s : "-");
}

static enum smtp_verdict sink_accept(void *ctx, const struct smtp_envelope *env,
				     const unsigned char *data, size_t size,
				     char *id_r, size_t id_size,
				     const char **reason_r)
{
	struct sink *k = ctx;
	size_t i;

	k->calls++;
	free(k->data);
	k->data = xmalloc(size + 1);
	memcpy(k->data, data, size);
	k->data[size] = '\0';
	k->size = size;
	free(k->sender);
	k->sender = xstrdup(env->sender);
	free(k->helo);
	k->helo = or_dash(env->helo);
	free(k->rcpts);
	k->rcpts = xstrdup("");
	for (i = 0; i < env->rcpts.n; i++) {
		char *t = xasprintf("%s%s%s", k->rcpts, i ? "," : "",
				    env->rcpts.v[i]);
		free(k->rcpts);
		k->rcpts = t;
	}
	free(k->xforward);
	k->xforward = xasprintf("%s|%s|%s|%s",
				env->xclient_name ? env->xclient_name : "-",
				env->xclient_addr ? env->xclient_addr : "-",
				env->xclient_proto ? env->xclient_proto : "-",
				env->xclient_helo ? env->xclient_helo : "-");
	snprintf(id_r, id_size, "Q%d", k->calls);
	if (k->verdict == SMTP_TEMPFAIL)
		*reason_r = "spool is full";
	else if (k->verdict == SMTP_REJECT)
		*reason_r = "virus found\r\n(injected)";
	return k->verdict;
}

static void sink_free(struct sink *k)
{
	free(k->data);
	free(k->sender);
	free(k->rcpts);
	free(k->helo);
	free(k->xforward);
}

/* ---- a server session on one end of a socketpair ---- */

struct server_run {
	struct smtp_server_config cfg;
	struct sink sink;
	volatile int stop;
	int fd;
	int ret;
	int listen; /* fd is a listening socket: accept one connection */
};

static void *server_thread(void *arg)
{
	struct server_run *r = arg;
	int fd = r->fd;

	if (r->listen) {
		fd = accept(r->fd, NULL, NULL);
		close(r->fd);
		if (fd < 0)
			return NULL;
	}
	r->ret =
	    smtp_server_session(fd, &r->cfg, sink_accept, &r->sink, &r->stop);
	close(fd);
	return NULL;
}

static void server_defaults(struct server_run *r)
{
	memset(r, 0, sizeof *r);
	r->cfg.hostname = "mx.test";
	r->cfg.max_message_size = 10240;
	r->cfg.max_recipients = 100;
	r->cfg.command_timeout = 5;
	r->cfg.data_timeout = 5;
	r->ret = -1;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Feed `in` to a session (pieces split at '\a' go 20 ms apart; `hold`
 * keeps our side open afterwards) and return everything it said. */
static char *converse(struct server_run *r, const char *in, size_t in_len,
		      int hold, size_t *out_len_r)
{
	int sv[2];
	pthread_t th;
	size_t off = 0, len = 0, cap = 4096;
	char *out = xmalloc(cap);
	long long deadline = now_ms() + 3500;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	r->fd = sv[1];
	ck_assert_int_eq(pthread_create(&th, NULL, server_thread, r), 0);
	while (off < in_len) {
		const char *bell = memchr(in + off, '\a', in_len - off);
		size_t n = bell ? (size_t)(bell - in) - off : in_len - off;
		while (n > 0) {
			ssize_t w = send(sv[0], in + off, n, MSG_NOSIGNAL);
			if (w <= 0)
				goto written; /* the server hung up */
			off += (size_t)w;
			n -= (size_t)w;
		}
		if (bell) {
			off++;
			usleep(20000);
		}
	}
written:
	if (!hold)
		shutdown(sv[0], SHUT_WR);
	for (;;) {
		struct pollfd p = {.fd = sv[0], .events = POLLIN};
		long long left = deadline - now_ms();
		ck_assert_msg(left > 0, "the session did not end");
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		if (len + 1024 > cap)
			out = xrealloc(out, cap *= 2);
		ssize_t n = recv(sv[0], out + len, cap - len - 1, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	out[len] = '\0';
	pthread_join(th, NULL);
	close(sv[0]);
	if (out_len_r)
		*out_len_r = len;
	return out;
}

/* ---- server: golden transcripts ---- */

#define GREET "220 mx.test ESMTP vigil\r\n"
#define LGREET "220 mx.test LMTP vigil\r\n"
#define EHLO_OUT                                                               \
	"250-mx.test\r\n250-PIPELINING\r\n250-SIZE 10240\r\n250-8BITMIME\r\n"  \
	"250-ENHANCEDSTATUSCODES\r\n250 XFORWARD NAME ADDR PROTO HELO\r\n"
#define HELO_OUT "250 mx.test\r\n"
#define OK "250 2.0.0 Ok\r\n"
#define MAIL_OK "250 2.1.0 Ok\r\n"
#define RCPT_OK "250 2.1.5 Ok\r\n"
#define GO "354 End data with <CR><LF>.<CR><LF>\r\n"
#define QUEUED(n) "250 2.0.0 Ok: queued as Q" #n "\r\n"
#define BYE "221 2.0.0 Bye\r\n"
#define UNKNOWN "500 5.5.2 Error: command not recognized\r\n"
#define TIMEOUT "421 4.4.2 mx.test Error: timeout exceeded\r\n"
#define TOO_BIG "552 5.3.4 Message size exceeds fixed limit\r\n"
#define X10(s) s s s s s s s s s s
#define ENVELOPE "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"

/* clang-format off */
static const struct server_case {
	const char *name;
	int lmtp;
	size_t max_size;       /* 0: 10240 */
	unsigned max_rcpts;    /* 0: 100 */
	unsigned timeout;      /* 0: 5 s for commands and data */
	enum smtp_verdict verdict;
	int hold, stop;        /* keep the client side open; *stop preset */
	const char *in, *out;
	int ret, calls;
	const char *data;      /* the last message handed to accept() */
	const char *sender, *rcpts, *xforward;
} server_cases[] = {
	{.name = "full transaction, one command at a time",
	 .in = "EHLO client.test\r\n\aMAIL FROM:<alice@example.org>\r\n\a"
	       "RCPT TO:<bob@example.com>\r\n\aRCPT TO:carol@example.com\r\n\a"
	       "DATA\r\n\aSubject: hi\r\n\r\n..hidden\r\nbody\r\n.\r\n\aQUIT\r\n",
	 .out = GREET EHLO_OUT MAIL_OK RCPT_OK RCPT_OK GO QUEUED(1) BYE,
	 .ret = 1, .calls = 1,
	 .data = "Subject: hi\n\n.hidden\nbody\n",
	 .sender = "alice@example.org",
	 .rcpts = "bob@example.com,carol@example.com",
	 .xforward = "-|-|-|-"},
	{.name = "pipelined in one write, null sender, SIZE and BODY",
	 .in = "EHLO client.test\r\nMAIL FROM:<> SIZE=40 BODY=8BITMIME\r\n"
	       "RCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n"
	       "caf\xc3\xa9\r\n.\r\nQUIT\r\n",
	 .out = GREET EHLO_OUT MAIL_OK RCPT_OK RCPT_OK GO QUEUED(1) BYE,
	 .ret = 1, .calls = 1, .data = "caf\xc3\xa9\n", .sender = "",
	 .rcpts = "b@example.com,c@example.com"},
	{.name = "bare LF line ends, LF.LF ends the data",
	 .in = "HELO c\nMAIL FROM:<a@b>\nRCPT TO:<c@d>\nDATA\nline1\n\n.\nQUIT\n",
	 .out = GREET HELO_OUT MAIL_OK RCPT_OK GO QUEUED(1) BYE,
	 .ret = 1, .calls = 1, .data = "line1\n\n"},
	{.name = "dots: only a lone dot ends, a leading dot is removed",
	 .in = "HELO c\r\n" ENVELOPE "DATA\r\na\r\n..\r\n .\r\n.x\r\n...\r\n"
	       "b.\r\n.\r\n",
	 .out = GREET HELO_OUT MAIL_OK RCPT_OK GO QUEUED(1),
	 .ret = 1, .calls = 1, .data = "a\n.\n .\nx\n..\nb.\n"},
	{.name = "an empty message",
	 .in = "HELO c\r\n" ENVELOPE "DATA\r\n.\r\n",
	 .out = GREET HELO_OUT MAIL_OK RCPT_OK GO QUEUED(1),
	 .ret = 1, .calls = 1, .data = ""},
	{.name = "address forms: source route, quotes, case",
	 .in = "HELO c\r\nmail from: <@relay.example:u@example.org>\r\n"
	       "rcpt to:<\"odd >name\"@example.com>\r\nDATA\r\nx\r\n.\r\n",
	 .out = GREET HELO_OUT MAIL_OK RCPT_OK GO QUEUED(1),
	 .ret = 1, .calls = 1, .sender = "u@example.org",
	 .rcpts = "\"odd >name\"@example.com"},
	{.name = "SIZE above the limit at MAIL",
	 .in = "EHLO c\r\nMAIL FROM:<a@b> SIZE=20000\r\n"
	       "MAIL FROM:<a@b> SIZE=99999999999999999999999999\r\n"
	       "MAIL FROM:<a@b> SIZE=10240\r\nRSET\r\nQUIT\r\n",
	 .out = GREET EHLO_OUT TOO_BIG TOO_BIG MAIL_OK OK BYE},
	{.name = "message over max_message_size during DATA, then one that fits",
	 .max_size = 64,
	 .in = "HELO c\r\n" ENVELOPE "DATA\r\n" X10("0123456789") "\r\n.\r\n"
	       ENVELOPE "DATA\r\n" X10("1234567\r\n") ".\r\n" ENVELOPE
	       "DATA\r\n" X10("12345\r\n") ".\r\n",
	 .out = GREET HELO_OUT MAIL_OK RCPT_OK GO TOO_BIG MAIL_OK RCPT_OK GO
		TOO_BIG MAIL_OK RCPT_OK GO QUEUED(1),
	 .ret = 1, .calls = 1, .data = X10("12345\n")},
	{.name = "exactly max_message_size fits",
	 .max_size = 64,
	 .in = "HELO c\r\n" ENVELOPE "DATA\r\n1234567\r\n1234567\r\n1234567\r\n"
	       "1234567\r\n1234567\r\n1234567\r\n1234567\r\n1234567\r\n.\r\n",
	 .out = GREET HELO_OUT MAIL_OK RCPT_OK GO QUEUED(1),
	 .ret = 1, .calls = 1},
	{.name = "max_recipients, then 452",
	 .max_rcpts = 2,
	 .in = "HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<r1@d>\r\nRCPT TO:<r2@d>\r\n"
	       "RCPT TO:<r3@d>\r\nDATA\r\nx\r\n.\r\n",
	 .out = GREET HELO_OUT MAIL_OK RCPT_OK RCPT_OK
		"452 4.5.3 Error: too many recipients\r\n" GO QUEUED(1),
	 .ret = 1, .calls = 1, .rcpts = "r1@d,r2@d"},
	{.name = "bad sequence",
	 .in = "MAIL FROM:<a@b>\r\nDATA\r\nRCPT TO:<c@d>\r\nHELO c\r\n"
	       "MAIL FROM:<a@b>\r\nMAIL FROM:<a@b>\r\nDATA\r\nQUIT\r\n",
	 .out = GREET "503 5.5.1 Error: send HELO/EHLO first\r\n"
		"503 5.5.1 Error: need MAIL command\r\n"
		"503 5.5.1 Error: need MAIL command\r\n" HELO_OUT MAIL_OK
		"503 5.5.1 Error: nested MAIL command\r\n"
		"554 5.5.1 Error: no valid recipients\r\n" BYE},
	{.name = "syntax errors in MAIL",
	 .in = "EHLO\r\nEHLO c\r\nMAIL FROM:\r\nMAIL FROM <a@b>\r\nMAIL FROM:<a@b\r\n"
	       "MAIL FROM:<a@b> FOO=1\r\nMAIL FROM:<a@b> BODY=9BIT\r\n"
	       "MAIL FROM:<a@b> SIZE=abc\r\nMAIL FROM:<a b@c>\r\nQUIT\r\n",
	 .out = GREET "501 5.5.4 Syntax: EHLO hostname\r\n" EHLO_OUT
		"501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
		"501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
		"501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
		"555 5.5.4 Unsupported option: FOO=1\r\n"
		"501 5.5.4 Unsupported BODY parameter\r\n"
		"501 5.5.4 Bad message size syntax\r\n"
		"501 5.5.4 Syntax: MAIL FROM:<address>\r\n" BYE},
	{.name = "syntax errors in RCPT, DATA, RSET",
	 .in = "HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<>\r\nRCPT <c@d>\r\n"
	       "RCPT TO:<c@d> NOTIFY=NEVER\r\nRCPT TO:<c@d>\r\nDATA now\r\n"
	       "RSET please\r\nRSET\r\nQUIT\r\n",
	 .out = GREET HELO_OUT MAIL_OK
		"501 5.1.3 Bad recipient address syntax\r\n"
		"501 5.5.4 Syntax: RCPT TO:<address>\r\n"
		"555 5.5.4 Unsupported option: NOTIFY=NEVER\r\n" RCPT_OK
		"501 5.5.4 Syntax: DATA\r\n" "501 5.5.4 Syntax: RSET\r\n" OK BYE},
	{.name = "garbage, binary, a very long line: 500 and carry on",
	 .in = "\x01\x02\xfe\xff\r\nGET / HTTP/1.0\r\n\r\n"
	       X10(X10(X10("AAA"))) "\r\nNOOP\r\nHELO c\r\n" ENVELOPE
	       "DATA\r\nx\r\n.\r\nQUIT\r\n",
	 .out = GREET "500 5.5.2 Error: bad syntax\r\n" UNKNOWN UNKNOWN
		"500 5.5.2 Error: line too long\r\n" OK HELO_OUT MAIL_OK
		RCPT_OK GO QUEUED(1) BYE,
	 .ret = 1, .calls = 1},
	{.name = "a 2048-byte command is not too long, 2049 is",
	 .in = "NOOP " X10(X10("0123456789")) X10(X10("0123456789"))
	       "0123456789012345678901234567890123456789012\r\n"
	       "NOOP " X10(X10("0123456789")) X10(X10("0123456789"))
	       "01234567890123456789012345678901234567890123\r\nQUIT\r\n",
	 .out = GREET OK "500 5.5.2 Error: line too long\r\n" BYE},
	{.name = "too many errors: 421 and close",
	 .in = X10("BOGUS\r\n") "NOOP\r\n",
	 .out = GREET UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN
		UNKNOWN UNKNOWN UNKNOWN
		"421 4.7.0 mx.test Error: too many errors\r\n"},
	{.name = "client vanishes mid-DATA: nothing accepted",
	 .in = "HELO c\r\n" ENVELOPE "DATA\r\nSubject: x\r\n\r\nhalf a mess",
	 .out = GREET HELO_OUT MAIL_OK RCPT_OK GO},
	{.name = "client vanishes after .CR without the LF",
	 .in = "HELO c\r\n" ENVELOPE "DATA\r\nSubject: x\r\n\r\nbody\r\n.\r",
	 .out = GREET HELO_OUT MAIL_OK RCPT_OK GO},
	{.name = "command timeout",
	 .timeout = 1, .hold = 1,
	 .in = "HELO c\r\nNOOP\r\nNOO",
	 .out = GREET HELO_OUT OK TIMEOUT},
	{.name = "data timeout: nothing accepted",
	 .timeout = 1, .hold = 1,
	 .in = "HELO c\r\n" ENVELOPE "DATA\r\nSubject: x\r\n",
	 .out = GREET HELO_OUT MAIL_OK RCPT_OK GO TIMEOUT},
	{.name = "stop set: 421 before any command",
	 .stop = 1, .in = "HELO c\r\n",
	 .out = GREET "421 4.3.2 mx.test Service shutting down\r\n"},
	{.name = "XFORWARD over two commands reaches the envelope",
	 .in = "EHLO c\r\nXFORWARD NAME=mail+2Eexample.org ADDR=IPv6:2001:db8::1\r\n"
	       "XFORWARD PROTO=ESMTP HELO=[UNAVAILABLE] PORT=25 SOURCE=REMOTE\r\n"
	       ENVELOPE "DATA\r\nx\r\n.\r\n",
	 .out = GREET EHLO_OUT OK OK MAIL_OK RCPT_OK GO QUEUED(1),
	 .ret = 1, .calls = 1,
	 .xforward = "mail.example.org|2001:db8::1|ESMTP|-"},
	{.name = "XFORWARD applies to the next transaction only",
	 .in = "EHLO c\r\nXFORWARD NAME=a.example ADDR=192.0.2.1 PROTO=SMTP "
	       "HELO=a\r\n" ENVELOPE "DATA\r\nx\r\n.\r\n" ENVELOPE
	       "DATA\r\ny\r\n.\r\n",
	 .out = GREET EHLO_OUT OK MAIL_OK RCPT_OK GO QUEUED(1) MAIL_OK RCPT_OK
		GO QUEUED(2),
	 .ret = 2, .calls = 2, .data = "y\n", .xforward = "-|-|-|-"},
	{.name = "RSET clears XFORWARD",
	 .in = "EHLO c\r\nXFORWARD NAME=a.example ADDR=192.0.2.1\r\nRSET\r\n"
	       ENVELOPE "DATA\r\nx\r\n.\r\n",
	 .out = GREET EHLO_OUT OK OK MAIL_OK RCPT_OK GO QUEUED(1),
	 .ret = 1, .calls = 1, .xforward = "-|-|-|-"},
	{.name = "XFORWARD errors",
	 .in = "EHLO c\r\nXFORWARD\r\nXFORWARD FOO=1\r\nXFORWARD NAME=+zz\r\n"
	       "XFORWARD NAME=a+0Db\r\nXFORWARD NAME\r\nMAIL FROM:<a@b>\r\n"
	       "XFORWARD NAME=x\r\n",
	 .out = GREET EHLO_OUT
		"501 5.5.4 Syntax: XFORWARD attribute=value...\r\n"
		"501 5.5.4 Bad XFORWARD attribute name: FOO\r\n"
		"501 5.5.4 Bad XFORWARD attribute value syntax\r\n"
		"501 5.5.4 Bad XFORWARD attribute value syntax\r\n"
		"501 5.5.4 Syntax: XFORWARD attribute=value...\r\n" MAIL_OK
		"503 5.5.1 Error: MAIL transaction in progress\r\n"},
	{.name = "LMTP: HELO and EHLO refused, one reply per recipient",
	 .lmtp = 1,
	 .in = "HELO c\r\nEHLO c\r\nLHLO c\r\nMAIL FROM:<a@b>\r\n"
	       "RCPT TO:<r1@d>\r\nRCPT TO:<r2@d>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n",
	 .out = LGREET "500 5.5.1 Error: this is LMTP, use LHLO\r\n"
		"500 5.5.1 Error: this is LMTP, use LHLO\r\n" EHLO_OUT MAIL_OK
		RCPT_OK RCPT_OK GO QUEUED(1) QUEUED(1) BYE,
	 .ret = 1, .calls = 1, .rcpts = "r1@d,r2@d"},
	{.name = "LMTP: MAIL before LHLO",
	 .lmtp = 1, .in = "MAIL FROM:<a@b>\r\n",
	 .out = LGREET "503 5.5.1 Error: send LHLO first\r\n"},
	{.name = "LMTP: a rejection for each recipient",
	 .lmtp = 1, .verdict = SMTP_REJECT,
	 .in = "LHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<r1@d>\r\nRCPT TO:<r2@d>\r\n"
	       "DATA\r\nx\r\n.\r\n",
	 .out = LGREET EHLO_OUT MAIL_OK RCPT_OK RCPT_OK GO
		"554 5.7.1 virus found  (injected)\r\n"
		"554 5.7.1 virus found  (injected)\r\n",
	 .calls = 1},
	{.name = "LMTP: too big, one 552 per recipient",
	 .lmtp = 1, .max_size = 8,
	 .in = "LHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<r1@d>\r\nRCPT TO:<r2@d>\r\n"
	       "DATA\r\n0123456789\r\n.\r\n",
	 .out = LGREET
		"250-mx.test\r\n250-PIPELINING\r\n250-SIZE 8\r\n250-8BITMIME\r\n"
		"250-ENHANCEDSTATUSCODES\r\n250 XFORWARD NAME ADDR PROTO HELO\r\n"
		MAIL_OK RCPT_OK RCPT_OK GO TOO_BIG TOO_BIG},
	{.name = "SMTP refuses LHLO",
	 .in = "LHLO c\r\nQUIT\r\n",
	 .out = GREET "500 5.5.1 Error: LHLO is for LMTP\r\n" BYE},
	{.name = "accept() says TEMPFAIL: 451, and the next one still works",
	 .verdict = SMTP_TEMPFAIL,
	 .in = "HELO c\r\n" ENVELOPE "DATA\r\nx\r\n.\r\n" ENVELOPE
	       "DATA\r\ny\r\n.\r\n",
	 .out = GREET HELO_OUT MAIL_OK RCPT_OK GO "451 4.3.0 spool is full\r\n"
		MAIL_OK RCPT_OK GO "451 4.3.0 spool is full\r\n",
	 .ret = 0, .calls = 2, .data = "y\n"},
	{.name = "accept() says REJECT: 554, reason on one line",
	 .verdict = SMTP_REJECT,
	 .in = "HELO c\r\n" ENVELOPE "DATA\r\nx\r\n.\r\n",
	 .out = GREET HELO_OUT MAIL_OK RCPT_OK GO
		"554 5.7.1 virus found  (injected)\r\n",
	 .calls = 1},
	{.name = "NOOP, VRFY, HELP",
	 .in = "NOOP\r\nnoop x\r\nVRFY root\r\nHELP\r\nquit\r\n",
	 .out = GREET OK OK
		"252 2.0.0 Cannot VRFY user, but will accept message\r\n"
		"214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT "
		"VRFY HELP XFORWARD\r\n" BYE},
};
/* clang-format on */

static void check_field(const char *what, const char *want, const char *got)
{
	if (want == NULL)
		return;
	ck_assert_msg(got != NULL && strcmp(want, got) == 0,
		      "%s: want \"%s\", got \"%s\"", what, want,
		      got ? got : "(none)");
}

START_TEST(test_server_case)
{
	const struct server_case *c = &server_cases[_i];
	struct server_run r;
	char *out;

	server_defaults(&r);
	r.cfg.lmtp = c->lmtp;
	if (c->max_size)
		r.cfg.max_message_size = c->max_size;
	if (c->max_rcpts)
		r.cfg.max_recipients = c->max_rcpts;
	if (c->timeout)
		r.cfg.command_timeout = r.cfg.data_timeout = c->timeout;
	r.sink.verdict = c->verdict;
	r.stop = c->stop;
	out = converse(&r, c->in, strlen(c->in), c->hold, NULL);
	ck_assert_msg(strcmp(out, c->out) == 0,
		      "%s:\n--- want\n%s--- got\n%s---", c->name, c->out, out);
	ck_assert_msg(r.ret == c->ret, "%s: returned %d", c->name, r.ret);
	ck_assert_msg(r.sink.calls == c->calls, "%s: accept() called %d times",
		      c->name, r.sink.calls);
	check_field("data", c->data, r.sink.data);
	check_field("sender", c->sender, r.sink.sender);
	check_field("rcpts", c->rcpts, r.sink.rcpts);
	check_field("xforward", c->xforward, r.sink.xforward);
	free(out);
	sink_free(&r.sink);
}
END_TEST

/* ---- server: cases a table cannot hold ---- */

/* NUL bytes in a command line are garbage, not the end of the line. */
START_TEST(test_server_nul)
{
	static const char in[] = "NO\0OP\r\nHELO c\r\nQUIT\r\n";
	struct server_run r;
	char *out;

	server_defaults(&r);
	out = converse(&r, in, sizeof in - 1, 0, NULL);
	ck_assert_str_eq(out,
			 GREET "500 5.5.2 Error: bad syntax\r\n" HELO_OUT BYE);
	free(out);
}
END_TEST

/* A data line far past 1000 bytes (and past the read buffer) arrives
 * whole, and NUL bytes in the body are kept. */
START_TEST(test_server_long_data_line)
{
	static const char head[] = "HELO c\r\n" ENVELOPE "DATA\r\n.";
	size_t body = 200000, n = 0;
	char *in = xmalloc(sizeof head + body + 64);
	struct server_run r;
	char *out;

	memcpy(in, head, sizeof head - 1);
	n = sizeof head - 1;
	memset(in + n, 'x', body);
	in[n + 100] = '\0';
	in[n + 70000] = '\r'; /* a bare CR at a piece boundary stays */
	n += body;
	memcpy(in + n, "\r\n.\r\n", 5);
	n += 5;
	server_defaults(&r);
	r.cfg.max_message_size = 1 << 20;
	out = converse(&r, in, n, 0, NULL);
	ck_assert_int_eq(r.sink.calls, 1);
	ck_assert_uint_eq(r.sink.size, body + 1);
	ck_assert_int_eq(r.sink.data[100], '\0');
	ck_assert_int_eq(r.sink.data[70000], '\r');
	ck_assert_int_eq(r.sink.data[body - 1], 'x');
	ck_assert_int_eq(r.sink.data[body], '\n');
	free(in);
	free(out);
	sink_free(&r.sink);
}
END_TEST

/* A thousand pipelined commands in one write: every reply, in order. */
START_TEST(test_server_pipeline_many)
{
	struct server_run r;
	char *in = xmalloc(1000 * 6 + 200), *out, *p;
	size_t n = 0, i, replies = 0;

	n += (size_t)snprintf(in, 200, "EHLO c\r\nMAIL FROM:<a@b>\r\n");
	for (i = 0; i < 1000; i++) {
		memcpy(in + n, "NOOP\r\n", 6);
		n += 6;
	}
	memcpy(in + n, "QUIT\r\n", 6);
	n += 6;
	server_defaults(&r);
	out = converse(&r, in, n, 0, NULL);
	for (p = out; (p = strstr(p, OK)) != NULL; p++)
		replies++;
	ck_assert_uint_eq(replies, 1000);
	ck_assert_msg(strncmp(out, GREET EHLO_OUT MAIL_OK OK,
			      strlen(GREET EHLO_OUT MAIL_OK OK)) == 0,
		      "%.200s", out);
	n = strlen(out);
	ck_assert_str_eq(out + n - strlen(OK BYE), OK BYE);
	free(in);
	free(out);
}
END_TEST

/* A client that pipelines megabytes and never reads: the session ends
 * after one write timeout instead of buffering without end. */
START_TEST(test_server_pipeline_abuse)
{
	size_t n = 4 << 20, i;
	char *in = xmalloc(n);
	struct server_run r;
	long long t0 = now_ms();

	for (i = 0; i + 6 <= n; i += 6)
		memcpy(in + i, "NOOP\r\n", 6);
	server_defaults(&r);
	r.cfg.command_timeout = 1;
	free(converse(&r, in, i, 0, NULL));
	ck_assert_int_eq(r.ret, 0);
	ck_assert_msg(now_ms() - t0 < 3000, "took %lld ms", now_ms() - t0);
	free(in);
}
END_TEST

static void *set_stop_later(void *arg)
{
	usleep(300000);
	*(volatile int *)arg = 1;
	return NULL;
}

/* *stop is seen while waiting for a command, long before the timeout. */
START_TEST(test_server_stop_while_waiting)
{
	struct server_run r;
	pthread_t th;
	long long t0 = now_ms();
	char *out;

	server_defaults(&r);
	r.cfg.command_timeout = 30;
	pthread_create(&th, NULL, set_stop_later, (void *)&r.stop);
	out = converse(&r, "HELO c\r\n", 8, 1, NULL);
	pthread_join(th, NULL);
	ck_assert_str_eq(out, GREET HELO_OUT
			 "421 4.3.2 mx.test Service shutting down\r\n");
	ck_assert_msg(now_ms() - t0 < 2000, "took %lld ms", now_ms() - t0);
	free(out);
}
END_TEST

/* ---- a scripted fake server for the client ---- */

struct fake {
	int lfd, port;
	const char *const (*rules)[2]; /* {prefix, reply}, ends with NULL */
	int silent;		       /* accept, then never speak */
	char log[65536];	       /* everything the client sent */
	size_t log_len;
	int pipelined; /* commands read while the next was already there */
	pthread_t th;
};

static int listen_loopback(int *port_r)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port_r = ntohs(sa.sin_port);
	return fd;
}

static void fake_log(struct fake *f, const char *s, size_t n)
{
	if (n > sizeof f->log - 1 - f->log_len)
		n = sizeof f->log - 1 - f->log_len;
	memcpy(f->log + f->log_len, s, n);
	f->log_len += n;
	f->log[f->log_len] = '\0';
}

/* One line, byte by byte so that nothing is read ahead; -1 at EOF. */
static int fake_line(int fd, char *buf, size_t size)
{
	size_t n = 0;
	char ch;

	for (;;) {
		if (recv(fd, &ch, 1, 0) != 1)
			return -1;
		if (ch == '\n')
			break;
		if (n + 1 < size)
			buf[n++] = ch;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return 0;
}

static const char *fake_rule(const struct fake *f, const char *line,
			     const char *dflt)
{
	size_t i;

	for (i = 0; f->rules != NULL && f->rules[i][0] != NULL; i++)
		if (strncmp(line, f->rules[i][0], strlen(f->rules[i][0])) == 0)
			return f->rules[i][1];
	return dflt;
}

static void fake_say(int fd, const char *s)
{
	(void)!send(fd, s, strlen(s), MSG_NOSIGNAL);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	struct timeval tv = {.tv_sec = 3};
	char line[4096];
	int fd = accept(f->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (f->silent) {
		while (fake_line(fd, line, sizeof line) == 0)
			;
		close(fd);
		return NULL;
	}
	fake_say(fd, fake_rule(f, "greeting", "220 fake.test ESMTP\r\n"));
	while (fake_line(fd, line, sizeof line) == 0) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		usleep(5000); /* what was sent with this line is here by now */
		if (poll(&p, 1, 0) == 1)
			f->pipelined++;
		fake_log(f, line, strlen(line));
		fake_log(f, "\r\n", 2);
		if (strcmp(line, "DATA") == 0) {
			const char *go = fake_rule(f, line, "354 go ahead\r\n");
			fake_say(fd, go);
			if (strncmp(go, "354", 3) != 0)
				continue;
			while (fake_line(fd, line, sizeof line) == 0) {
				fake_log(f, line, strlen(line));
				fake_log(f, "\r\n", 2);
				if (strcmp(line, ".") == 0)
					break;
			}
			fake_say(fd,
				 fake_rule(f, ".",
					   "250 2.0.0 Ok: queued as F1\r\n"));
		} else if (strcmp(line, "QUIT") == 0) {
			fake_say(fd, fake_rule(f, line, "221 2.0.0 Bye\r\n"));
			break;
		} else {
			fake_say(fd, fake_rule(f, line, "250 2.0.0 Ok\r\n"));
		}
	}
	close(fd);
	return NULL;
}

static void fake_start(struct fake *f, const char *const (*rules)[2])
{
	memset(f, 0, sizeof *f);
	f->rules = rules;
	f->lfd = listen_loopback(&f->port);
}

static void fake_run(struct fake *f)
{
	ck_assert_int_eq(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void fake_end(struct fake *f)
{
	pthread_join(f->th, NULL);
	close(f->lfd);
}

/* ---- client against the fake: what it sent and what it reported ---- */

#define FAKE_EHLO_PIPE                                                         \
	"250-fake.test\r\n250-PIPELINING\r\n"                                  \
	"250-SIZE 100000\r\n250 8BITMIME\r\n"
#define FAKE_EHLO_PLAIN "250-fake.test\r\n250 SIZE 100000\r\n"
#define MSG "Subject: t\n\n.hidden\nend"
#define MSG_WIRE "Subject: t\r\n\r\n..hidden\r\nend\r\n.\r\n"
#define CLIENT_EHLO "EHLO client.test\r\n"

/* clang-format off */
static const struct client_case {
	const char *name;
	int lmtp;
	const char *const rules[6][2];
	const char *sender; /* NULL: a@x */
	const char *rcpts[3];
	const char *message; /* NULL: MSG */
	int rc;
	int codes[3];
	const char *text0; /* results[0].text, when given */
	const char *sent;
	int pipelined; /* whether commands were sent ahead of replies */
} client_cases[] = {
	{.name = "pipelined: MAIL, RCPTs and DATA in one write; dot-stuffed",
	 .rules = {{"EHLO", FAKE_EHLO_PIPE}},
	 .rcpts = {"b@y", "c@y"}, .codes = {250, 250},
	 .text0 = "2.0.0 Ok: queued as F1",
	 .sent = CLIENT_EHLO "MAIL FROM:<a@x> SIZE=26\r\nRCPT TO:<b@y>\r\n"
		 "RCPT TO:<c@y>\r\nDATA\r\n" MSG_WIRE "RSET\r\nQUIT\r\n",
	 .pipelined = 1},
	{.name = "no PIPELINING offered: one command at a time",
	 .rules = {{"EHLO", FAKE_EHLO_PLAIN}},
	 .rcpts = {"b@y", "c@y"}, .codes = {250, 250},
	 .sent = CLIENT_EHLO "MAIL FROM:<a@x> SIZE=26\r\nRCPT TO:<b@y>\r\n"
		 "RCPT TO:<c@y>\r\nDATA\r\n" MSG_WIRE "RSET\r\nQUIT\r\n"},
	{.name = "8-bit body: BODY=8BITMIME; CRLF in the data stays one CRLF",
	 .rules = {{"EHLO", FAKE_EHLO_PIPE}},
	 .rcpts = {"b@y"}, .message = "caf\xc3\xa9\r\n.\n", .codes = {250},
	 .sent = CLIENT_EHLO "MAIL FROM:<a@x> SIZE=11 BODY=8BITMIME\r\n"
		 "RCPT TO:<b@y>\r\nDATA\r\ncaf\xc3\xa9\r\n..\r\n.\r\n"
		 "RSET\r\nQUIT\r\n",
	 .pipelined = 1},
	{.name = "null sender, empty message",
	 .rules = {{"EHLO", FAKE_EHLO_PLAIN}},
	 .sender = "", .rcpts = {"b@y"}, .message = "", .codes = {250},
	 .sent = CLIENT_EHLO "MAIL FROM:<> SIZE=0\r\nRCPT TO:<b@y>\r\n"
		 "DATA\r\n.\r\nRSET\r\nQUIT\r\n"},
	{.name = "a refused recipient, the other delivered",
	 .rules = {{"EHLO", FAKE_EHLO_PLAIN},
		   {"RCPT TO:<bad", "550 5.1.1 <bad@y>: unknown user\r\n"}},
	 .rcpts = {"bad@y", "c@y"}, .codes = {550, 250},
	 .text0 = "5.1.1 <bad@y>: unknown user",
	 .sent = CLIENT_EHLO "MAIL FROM:<a@x> SIZE=26\r\nRCPT TO:<bad@y>\r\n"
		 "RCPT TO:<c@y>\r\nDATA\r\n" MSG_WIRE "RSET\r\nQUIT\r\n"},
	{.name = "a refused recipient, pipelined",
	 .rules = {{"EHLO", FAKE_EHLO_PIPE},
		   {"RCPT TO:<bad", "550 5.1.1 <bad@y>: unknown user\r\n"}},
	 .rcpts = {"c@y", "bad@y"}, .codes = {250, 550},
	 .sent = CLIENT_EHLO "MAIL FROM:<a@x> SIZE=26\r\nRCPT TO:<c@y>\r\n"
		 "RCPT TO:<bad@y>\r\nDATA\r\n" MSG_WIRE "RSET\r\nQUIT\r\n",
	 .pipelined = 1},
	{.name = "every recipient refused: RSET instead of DATA",
	 .rules = {{"EHLO", FAKE_EHLO_PLAIN},
		   {"RCPT", "550 5.1.1 unknown user\r\n"}},
	 .rcpts = {"b@y", "c@y"}, .codes = {550, 550},
	 .sent = CLIENT_EHLO "MAIL FROM:<a@x> SIZE=26\r\nRCPT TO:<b@y>\r\n"
		 "RCPT TO:<c@y>\r\nRSET\r\nQUIT\r\n"},
	{.name = "every recipient refused, pipelined: DATA refused, RSET",
	 .rules = {{"EHLO", FAKE_EHLO_PIPE},
		   {"RCPT", "450 4.2.0 greylisted\r\n"},
		   {"DATA", "554 5.5.1 Error: no valid recipients\r\n"}},
	 .rcpts = {"b@y", "c@y"}, .codes = {450, 450},
	 .sent = CLIENT_EHLO "MAIL FROM:<a@x> SIZE=26\r\nRCPT TO:<b@y>\r\n"
		 "RCPT TO:<c@y>\r\nDATA\r\nRSET\r\nQUIT\r\n",
	 .pipelined = 1},
	{.name = "MAIL refused: its reply is every recipient's",
	 .rules = {{"EHLO", FAKE_EHLO_PLAIN},
		   {"MAIL", "553 5.1.8 sender rejected\r\n"}},
	 .rcpts = {"b@y", "c@y"}, .codes = {553, 553},
	 .text0 = "5.1.8 sender rejected",
	 .sent = CLIENT_EHLO "MAIL FROM:<a@x> SIZE=26\r\nRSET\r\nQUIT\r\n"},
	{.name = "MAIL refused, pipelined",
	 .rules = {{"EHLO", FAKE_EHLO_PIPE},
		   {"MAIL", "452 4.3.1 insufficient storage\r\n"},
		   {"RCPT", "503 5.5.1 need MAIL\r\n"},
		   {"DATA", "503 5.5.1 need MAIL\r\n"}},
	 .rcpts = {"b@y", "c@y"}, .codes = {452, 452},
	 .sent = CLIENT_EHLO "MAIL FROM:<a@x> SIZE=26\r\nRCPT TO:<b@y>\r\n"
		 "RCPT TO:<c@y>\r\nDATA\r\nRSET\r\nQUIT\r\n",
	 .pipelined = 1},
	{.name = "DATA refused",
	 .rules = {{"EHLO", FAKE_EHLO_PLAIN}, {"DATA", "451 4.3.0 later\r\n"}},
	 .rcpts = {"b@y", "c@y"}, .codes = {451, 451},
	 .sent = CLIENT_EHLO "MAIL FROM:<a@x> SIZE=26\r\nRCPT TO:<b@y>\r\n"
		 "RCPT TO:<c@y>\r\nDATA\r\nRSET\r\nQUIT\r\n"},
	{.name = "SMTP: the final reply is every accepted recipient's",
	 .rules = {{"EHLO", FAKE_EHLO_PIPE},
		   {"RCPT TO:<bad", "550 5.1.1 unknown\r\n"},
		   {".", "554-5.7.1 spam\r\n554 5.7.1 go away\r\n"}},
	 .rcpts = {"b@y", "bad@y", "c@y"}, .codes = {554, 550, 554},
	 .text0 = "5.7.1 spam 5.7.1 go away",
	 .sent = CLIENT_EHLO "MAIL FROM:<a@x> SIZE=26\r\nRCPT TO:<b@y>\r\n"
		 "RCPT TO:<bad@y>\r\nRCPT TO:<c@y>\r\nDATA\r\n" MSG_WIRE
		 "RSET\r\nQUIT\r\n",
	 .pipelined = 1},
	{.name = "LMTP: one reply per accepted recipient",
	 .lmtp = 1,
	 .rules = {{"LHLO", "250-fake.test\r\n250 PIPELINING\r\n"},
		   {"RCPT TO:<bad", "550 5.1.1 unknown\r\n"},
		   {".", "250 2.1.5 b ok\r\n452 4.2.2 mailbox full\r\n"}},
	 .rcpts = {"b@y", "bad@y", "c@y"}, .codes = {250, 550, 452},
	 .sent = "LHLO client.test\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n"
		 "RCPT TO:<bad@y>\r\nRCPT TO:<c@y>\r\nDATA\r\n" MSG_WIRE
		 "RSET\r\nQUIT\r\n",
	 .pipelined = 1},
	{.name = "421 to RCPT: unusable, the unknown stay 0",
	 .rules = {{"EHLO", FAKE_EHLO_PLAIN},
		   {"RCPT TO:<c", "421 4.3.2 going down\r\n"}},
	 .rcpts = {"b@y", "c@y"}, .rc = -1, .codes = {0, 0},
	 .sent = CLIENT_EHLO "MAIL FROM:<a@x> SIZE=26\r\nRCPT TO:<b@y>\r\n"
		 "RCPT TO:<c@y>\r\n"},
	{.name = "421 at the end of data: nothing known",
	 .rules = {{"EHLO", FAKE_EHLO_PIPE},
		   {"RCPT TO:<bad", "550 5.1.1 unknown\r\n"},
		   {".", "421 4.4.2 timeout\r\n"}},
	 .rcpts = {"b@y", "bad@y"}, .rc = -1, .codes = {0, 550},
	 .sent = CLIENT_EHLO "MAIL FROM:<a@x> SIZE=26\r\nRCPT TO:<b@y>\r\n"
		 "RCPT TO:<bad@y>\r\nDATA\r\n" MSG_WIRE,
	 .pipelined = 1},
	{.name = "EHLO refused: HELO, and no extensions",
	 .rules = {{"EHLO", "502 5.5.2 what\r\n"}},
	 .rcpts = {"b@y"}, .codes = {250},
	 .sent = CLIENT_EHLO "HELO client.test\r\nMAIL FROM:<a@x>\r\n"
		 "RCPT TO:<b@y>\r\nDATA\r\n" MSG_WIRE "RSET\r\nQUIT\r\n"},
	{.name = "bigger than the next hop's SIZE: 552, nothing sent",
	 .rules = {{"EHLO", "250-fake.test\r\n250 SIZE 10\r\n"}},
	 .rcpts = {"b@y", "c@y"}, .codes = {552, 552},
	 .sent = CLIENT_EHLO "QUIT\r\n"},
	{.name = "CR LF in an address never reaches the wire",
	 .rules = {{"EHLO", FAKE_EHLO_PLAIN}},
	 .rcpts = {"b@y\r\nRSET", "c@y"}, .codes = {553, 250},
	 .sent = CLIENT_EHLO "MAIL FROM:<a@x> SIZE=26\r\nRCPT TO:<c@y>\r\n"
		 "DATA\r\n" MSG_WIRE "RSET\r\nQUIT\r\n"},
	{.name = "CR LF in the sender: nothing sent",
	 .rules = {{"EHLO", FAKE_EHLO_PLAIN}},
	 .sender = "a@x>\r\nRCPT TO:<evil@z", .rcpts = {"b@y"},
	 .codes = {553}, .sent = CLIENT_EHLO "QUIT\r\n"},
	{.name = "reply text past 512 bytes is ignored",
	 .rules = {{"EHLO", FAKE_EHLO_PLAIN},
		   {"RCPT", "250 2.1.5 " X10(X10(X10("x"))) "\r\n"}},
	 .rcpts = {"b@y"}, .codes = {250},
	 .sent = CLIENT_EHLO "MAIL FROM:<a@x> SIZE=26\r\nRCPT TO:<b@y>\r\n"
		 "DATA\r\n" MSG_WIRE "RSET\r\nQUIT\r\n"},
};
/* clang-format on */

START_TEST(test_client_case)
{
	const struct client_case *cc = &client_cases[_i];
	struct smtp_rcpt_result res[3];
	struct smtp_client *c;
	struct fake f;
	char *err = NULL;
	size_t n = 0, i;
	const char *msg = cc->message ? cc->message : MSG;
	int rc;

	while (n < 3 && cc->rcpts[n] != NULL)
		n++;
	fake_start(&f, cc->rules);
	fake_run(&f);
	c = smtp_client_connect("127.0.0.1", f.port, cc->lmtp, "client.test", 2,
				&err);
	ck_assert_msg(c != NULL, "%s: %s", cc->name, err);
	memset(res, 0x55, sizeof res);
	rc = smtp_client_send(c, cc->sender ? cc->sender : "a@x", cc->rcpts, n,
			      (const unsigned char *)msg, strlen(msg), res,
			      &err);
	ck_assert_msg(rc == cc->rc, "%s: rc %d (%s)", cc->name, rc,
		      rc ? err : "");
	if (rc != 0)
		ck_assert_msg(err != NULL && *err != '\0', "%s: no reason",
			      cc->name);
	for (i = 0; i < n; i++)
		ck_assert_msg(res[i].code == cc->codes[i],
			      "%s: rcpt %zu: %d %s", cc->name, i, res[i].code,
			      res[i].text);
	if (cc->text0)
		ck_assert_str_eq(res[0].text, cc->text0);
	smtp_client_close(c);
	fake_end(&f);
	ck_assert_msg(strcmp(f.log, cc->sent) == 0,
		      "%s:\n--- want\n%s--- got\n%s---", cc->name, cc->sent,
		      f.log);
	if (cc->pipelined)
		ck_assert_msg(f.pipelined >= 2, "%s: not pipelined", cc->name);
	else
		ck_assert_msg(f.pipelined == 0, "%s: %d commands sent ahead",
			      cc->name, f.pipelined);
	free(err);
}
END_TEST

/* ---- client: connection failures ---- */

START_TEST(test_client_closed_port)
{
	int port, fd = listen_loopback(&port);
	char *err = NULL;

	close(fd);
	ck_assert_ptr_null(
	    smtp_client_connect("127.0.0.1", port, 0, "c", 2, &err));
	ck_assert_msg(err != NULL && strstr(err, "cannot connect") != NULL,
		      "%s", err ? err : "(null)");
	free(err);
}
END_TEST

/* A server that accepts and never greets: timeout, not a hang. */
START_TEST(test_client_silent_server)
{
	struct fake f;
	char *err = NULL;
	long long t0 = now_ms();

	fake_start(&f, NULL);
	f.silent = 1;
	fake_run(&f);
	ck_assert_ptr_null(
	    smtp_client_connect("[127.0.0.1]", f.port, 0, "c", 1, &err));
	ck_assert_msg(err != NULL && strstr(err, "timeout") != NULL, "%s",
		      err ? err : "(null)");
	ck_assert_msg(now_ms() - t0 < 2500, "took %lld ms", now_ms() - t0);
	fake_end(&f);
	free(err);
}
END_TEST

START_TEST(test_client_greeting_refused)
{
	static const char *const rules[][2] = {
	    {"greeting", "554-5.3.2 not\r\n554 5.3.2 now\r\n"}, {NULL, NULL}};
	struct fake f;
	char *err = NULL;

	fake_start(&f, rules);
	fake_run(&f);
	ck_assert_ptr_null(
	    smtp_client_connect("localhost", f.port, 0, "c", 2, &err));
	ck_assert_msg(err != NULL && strstr(err, "554 5.3.2 not 5.3.2 now"),
		      "%s", err ? err : "(null)");
	fake_end(&f);
	ck_assert_str_eq(f.log, "");
	free(err);
}
END_TEST

/* ---- client and server together ---- */

/* clang-format off */
static const struct round_trip {
	const char *name;
	int lmtp;
	enum smtp_verdict verdict;
	unsigned max_rcpts;
	size_t max_size;
	const char *rcpts[3];
	int codes[3];
} round_trips[] = {
	{"SMTP, two recipients", 0, SMTP_ACCEPTED, 0, 0, {"b@y", "c@y"},
	 {250, 250}},
	{"SMTP, a refused recipient", 0, SMTP_ACCEPTED, 0, 0, {"", "b@y"},
	 {501, 250}},
	{"SMTP, max_recipients", 0, SMTP_ACCEPTED, 2, 0, {"b@y", "c@y", "d@y"},
	 {250, 250, 452}},
	{"SMTP, tempfail", 0, SMTP_TEMPFAIL, 0, 0, {"b@y", "c@y"}, {451, 451}},
	{"SMTP, too big for SIZE", 0, SMTP_ACCEPTED, 0, 20, {"b@y"}, {552}},
	{"LMTP, per-recipient replies", 1, SMTP_ACCEPTED, 0, 0,
	 {"b@y", "", "c@y"}, {250, 501, 250}},
	{"LMTP, rejected", 1, SMTP_REJECT, 0, 0, {"b@y", "c@y"}, {554, 554}},
};
/* clang-format on */

/* Two messages on one connection, each arriving exactly as sent. */
START_TEST(test_round_trip)
{
	static const char *const msgs[] = {
	    "Subject: one\n\n.hidden\n..two dots\ncaf\xc3\xa9\n",
	    "Subject: two\n\nno final newline"};
	static const char *const got[] = {
	    "Subject: one\n\n.hidden\n..two dots\ncaf\xc3\xa9\n",
	    "Subject: two\n\nno final newline\n"};
	const struct round_trip *t = &round_trips[_i];
	struct smtp_rcpt_result res[3];
	struct server_run r;
	struct smtp_client *c;
	pthread_t th;
	char *err = NULL;
	size_t n = 0, m, i;
	int port, delivered = 0;

	while (n < 3 && t->rcpts[n] != NULL)
		n++;
	server_defaults(&r);
	r.cfg.lmtp = t->lmtp;
	r.sink.verdict = t->verdict;
	if (t->max_rcpts)
		r.cfg.max_recipients = t->max_rcpts;
	if (t->max_size)
		r.cfg.max_message_size = t->max_size;
	r.fd = listen_loopback(&port);
	r.listen = 1;
	ck_assert_int_eq(pthread_create(&th, NULL, server_thread, &r), 0);
	c = smtp_client_connect("127.0.0.1", port, t->lmtp, "client.test", 2,
				&err);
	ck_assert_msg(c != NULL, "%s", err);
	for (m = 0; m < 2; m++) {
		ck_assert_msg(smtp_client_send(c, "a@x", t->rcpts, n,
					       (const unsigned char *)msgs[m],
					       strlen(msgs[m]), res, &err) == 0,
			      "%s: %s", t->name, err);
		for (i = 0; i < n; i++)
			ck_assert_msg(res[i].code == t->codes[i],
				      "%s: message %zu rcpt %zu: %d %s",
				      t->name, m, i, res[i].code, res[i].text);
		for (i = 0; i < n && res[i].code != 250; i++)
			;
		if (i < n) {
			delivered++;
			ck_assert_str_eq(r.sink.data, got[m]);
			ck_assert_str_eq(r.sink.sender, "a@x");
			ck_assert_str_eq(r.sink.helo, "client.test");
		}
	}
	smtp_client_close(c);
	pthread_join(th, NULL);
	ck_assert_int_eq(r.ret, delivered);
	sink_free(&r.sink);
}
END_TEST

static Suite *smtp_suite(void)
{
	Suite *s = suite_create("smtp");
	TCase *tc = tcase_create("server");

	tcase_add_loop_test(tc, test_server_case, 0,
			    sizeof server_cases / sizeof server_cases[0]);
	tcase_add_test(tc, test_server_nul);
	tcase_add_test(tc, test_server_long_data_line);
	tcase_add_test(tc, test_server_pipeline_many);
	tcase_add_test(tc, test_server_pipeline_abuse);
	tcase_add_test(tc, test_server_stop_while_waiting);
	suite_add_tcase(s, tc);

	tc = tcase_create("client");
	tcase_add_loop_test(tc, test_client_case, 0,
			    sizeof client_cases / sizeof client_cases[0]);
	tcase_add_test(tc, test_client_closed_port);
	tcase_add_test(tc, test_client_silent_server);
	tcase_add_test(tc, test_client_greeting_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("round trip");
	tcase_add_loop_test(tc, test_round_trip, 0,
			    sizeof round_trips / sizeof round_trips[0]);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(smtp_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
