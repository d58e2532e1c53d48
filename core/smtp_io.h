/*
 * smtp_io.h - buffered line reader and writer with timeouts, shared by the
 * SMTP server and client.
 *
 * Reads are line-oriented and bounded by the caller's buffer: a line longer
 * than the buffer comes back in pieces, never as a bigger allocation.
 * Writes are buffered and flushed before any read blocks, so pipelined
 * replies go out in order without a deadlock. Never uses blocking calls
 * without a poll() timeout and never raises SIGPIPE.
 */
#ifndef VIGIL_SMTP_IO_H
#define VIGIL_SMTP_IO_H

#include <stddef.h>

#include "util.h"

#define SMTP_IO_INBUF 16384
#define SMTP_IO_OUTBUF 16384

enum smtp_io_status {
	SMTP_IO_OK = 0,
	SMTP_IO_EOF,	 /* the peer closed the connection */
	SMTP_IO_TIMEOUT, /* nothing moved within the timeout */
	SMTP_IO_ERROR,	 /* a socket error (errno kept in `err`) */
	SMTP_IO_STOPPED	 /* *stop became non-zero while waiting to read */
};

/* What smtp_io_read_line() returns. */
enum smtp_io_read {
	SMTP_IO_FAIL = -1, /* see io->status */
	SMTP_IO_PART = 0,  /* the buffer filled up; the line goes on */
	SMTP_IO_LINE = 1   /* a whole line (or its last piece), end stripped */
};

struct smtp_io {
	int fd;
	unsigned timeout_ms;	  /* for each wait on the socket */
	int per_line;		  /* the timeout spans a whole read_line call */
	const volatile int *stop; /* checked while waiting to read, if set */
	enum smtp_io_status status; /* sticky once not OK */
	int err;
	int wfailed; /* a write failed: nothing more is sent */
	size_t in_start, in_end, out_len;
	unsigned char in[SMTP_IO_INBUF];
	unsigned char out[SMTP_IO_OUTBUF];
};

void smtp_io_init(struct smtp_io *io, int fd, unsigned timeout_ms);

/* Read up to the next LF into buf (size >= 2). The LF and a CR before it
 * are not stored. A line that does not fit comes back as SMTP_IO_PART
 * pieces followed by one SMTP_IO_LINE piece. */
enum smtp_io_read smtp_io_read_line(struct smtp_io *io, char *buf, size_t size,
				    size_t *len_r);

/* Queue bytes; flushes by itself when the buffer fills. 0 or -1. */
int smtp_io_write(struct smtp_io *io, const void *data, size_t len);
int smtp_io_printf(struct smtp_io *io, const char *fmt, ...) VIGIL_PRINTF(2, 3);
int smtp_io_flush(struct smtp_io *io);

/* A short reason for a failed status, for error messages. */
const char *smtp_io_strerror(const struct smtp_io *io);

#endif
