/*
 * smtp_io.c - buffered line I/O with timeouts for the SMTP server and
 * client.
 *
 * Every wait is a poll() with a deadline; the socket is only ever read and
 * written with MSG_DONTWAIT (and MSG_NOSIGNAL), so a peer that stalls or
 * vanishes costs at most one timeout, never a hang or a SIGPIPE. Memory is
 * fixed per connection: lines longer than the caller's buffer come back
 * in pieces. Must never interpret what it carries: that is for the callers.
 */
#include "smtp_io.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* How often a reader waiting on a connection looks at *stop. */
#define SMTP_IO_STOP_SLICE_MS 250

static long long io_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void smtp_io_init(struct smtp_io *io, int fd, unsigned timeout_ms)
{
	memset(io, 0, sizeof *io);
	io->fd = fd;
	io->timeout_ms = timeout_ms;
}

static void io_fail(struct smtp_io *io, enum smtp_io_status status, int err)
{
	if (io->status == SMTP_IO_OK) {
		io->status = status;
		io->err = err;
	}
}

/* Wait until the socket is ready for `events` or the deadline passes. */
static int io_wait(struct smtp_io *io, short events, long long deadline)
{
	for (;;) {
		int reading = (events & POLLIN) != 0;

		if (reading && io->stop != NULL && *io->stop) {
			io_fail(io, SMTP_IO_STOPPED, 0);
			return -1;
		}
		long long left = deadline - io_now_ms();
		if (left <= 0) {
			io_fail(io, SMTP_IO_TIMEOUT, 0);
			return -1;
		}
		if (reading && io->stop != NULL && left > SMTP_IO_STOP_SLICE_MS)
			left = SMTP_IO_STOP_SLICE_MS;
		if (left > 3600 * 1000)
			left = 3600 * 1000; /* poll() takes an int */
		struct pollfd p = {.fd = io->fd, .events = events};
		int n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0; /* ready, or an error the next call reports */
		if (n < 0 && errno != EINTR) {
			io_fail(io, SMTP_IO_ERROR, errno);
			return -1;
		}
	}
}

int smtp_io_flush(struct smtp_io *io)
{
	size_t done = 0;
	long long deadline = io_now_ms() + io->timeout_ms;

	if (io->wfailed)
		return -1;
	while (done < io->out_len) {
		ssize_t n = send(io->fd, io->out + done, io->out_len - done,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			done += (size_t)n;
			deadline = io_now_ms() + io->timeout_ms;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (io_wait(io, POLLOUT, deadline) == 0)
				continue;
		} else {
			io_fail(io, SMTP_IO_ERROR, n < 0 ? errno : EIO);
		}
		io->wfailed = 1;
		io->out_len = 0;
		return -1;
	}
	io->out_len = 0;
	return 0;
}

int smtp_io_write(struct smtp_io *io, const void *data, size_t len)
{
	const unsigned char *p = data;

	if (io->wfailed)
		return -1;
	while (len > 0) {
		if (io->out_len == sizeof io->out && smtp_io_flush(io) < 0)
			return -1;
		size_t n = sizeof io->out - io->out_len;
		if (n > len)
			n = len;
		memcpy(io->out + io->out_len, p, n);
		io->out_len += n;
		p += n;
		len -= n;
	}
	return 0;
}

int smtp_io_printf(struct smtp_io *io, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof line)
		return smtp_io_write(io, line, (size_t)n);
	/* never cut a command short: that would send half a line */
	va_start(ap, fmt);
	char *big = xvasprintf(fmt, ap);
	va_end(ap);
	rc = smtp_io_write(io, big, strlen(big));
	free(big);
	return rc;
}

/* Get more input, sending what is queued first: a peer that pipelines
 * waits for our replies before it sends more. */
static int io_fill(struct smtp_io *io, long long deadline)
{
	if (io->status != SMTP_IO_OK)
		return -1;
	if (io->out_len > 0 && smtp_io_flush(io) < 0)
		return -1;
	if (io->in_start > 0) {
		memmove(io->in, io->in + io->in_start,
			io->in_end - io->in_start);
		io->in_end -= io->in_start;
		io->in_start = 0;
	}
	for (;;) {
		ssize_t n = recv(io->fd, io->in + io->in_end,
				 sizeof io->in - io->in_end, MSG_DONTWAIT);
		if (n > 0) {
			io->in_end += (size_t)n;
			return 0;
		}
		if (n == 0) {
			io_fail(io, SMTP_IO_EOF, 0);
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			io_fail(io, SMTP_IO_ERROR, errno);
			return -1;
		}
		if (io_wait(io, POLLIN, deadline) < 0)
			return -1;
	}
}

enum smtp_io_read smtp_io_read_line(struct smtp_io *io, char *buf, size_t size,
				    size_t *len_r)
{
	long long deadline = io_now_ms() + io->timeout_ms;
	size_t len = 0;

	*len_r = 0;
	for (;;) {
		size_t avail = io->in_end - io->in_start;
		if (avail == 0) {
			if (!io->per_line)
				deadline = io_now_ms() + io->timeout_ms;
			if (io_fill(io, deadline) < 0)
				return SMTP_IO_FAIL;
			continue;
		}
		const unsigned char *p = io->in + io->in_start;
		const unsigned char *lf = memchr(p, '\n', avail);
		size_t n = lf != NULL ? (size_t)(lf - p) : avail;
		if (n > size - len) {
			n = size - len;
			memcpy(buf + len, p, n);
			io->in_start += n;
			len += n;
			/* A CR at the cut may belong to a CRLF: keep it for
			 * the next piece. */
			if (n > 0 && buf[len - 1] == '\r') {
				len--;
				io->in_start--;
			}
			*len_r = len;
			return SMTP_IO_PART;
		}
		memcpy(buf + len, p, n);
		len += n;
		io->in_start += n;
		if (lf != NULL) {
			io->in_start++;
			if (len > 0 && buf[len - 1] == '\r')
				len--;
			*len_r = len;
			return SMTP_IO_LINE;
		}
	}
}

const char *smtp_io_strerror(const struct smtp_io *io)
{
	switch (io->status) {
	case SMTP_IO_OK:
		return "no error";
	case SMTP_IO_EOF:
		return "connection closed by peer";
	case SMTP_IO_TIMEOUT:
		return "timeout";
	case SMTP_IO_STOPPED:
		return "shutting down";
	case SMTP_IO_ERROR:
		break;
	}
	return io->err ? strerror(io->err) : "I/O error";
}
