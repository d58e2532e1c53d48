/*
 * msg_modify.h - carry out the actions that change a message: tag the
 * subject, insert an X-header, stamp text and HTML bodies, and delete
 * attachments (each replaced by a short note naming the file and the rule).
 * Works on the GMime tree of a parsed message and serialises the result;
 * the original bytes are never touched (quarantine keeps them).
 */
#ifndef VIGIL_MSG_MODIFY_H
#define VIGIL_MSG_MODIFY_H

#include "msg.h"
#include "util.h"

struct modify_stamp {
	const char *text;
	int at_top; /* else at the bottom */
};

struct modify_strip {
	const char *path; /* a part path from vigil_part ("2", "2.1",
			   * "2/invoice.zip/a.exe": the MIME part holding it
			   * is removed) */
	const char *rule; /* named in the note */
};

struct modify_plan {
	struct strvec tag_subject; /* prefixes, applied in order */
	const char *x_header;      /* "X-Name: value"; replaces one of the
				    * same name (the last rule's wins) */
	struct modify_stamp *stamps;
	size_t n_stamps;
	int strip_all;             /* delete every attachment ... */
	const char *strip_all_rule; /* ... naming this rule */
	struct modify_strip *strips;
	size_t n_strips;
};

/* Does the plan change anything? */
int modify_plan_empty(const struct modify_plan *p);

/* The modified message (malloc'd, LF line ends), or NULL with a reason.
 * A non-ASCII subject stays RFC 2047-encoded. */
unsigned char *msg_modify(struct msg *m, const struct modify_plan *p,
			  size_t *size_r, char **error_r);

/* Notification templates: %SENDER% %RCPTS% %SUBJECT% %FILENAME%
 * %RULENAME% %DETECTED% %MAILID% %DATE% %ACTION%. */
struct notify_vars {
	const char *sender, *rcpts, *subject, *filename, *rulename;
	const char *detected, *mailid, *date, *action;
};

/* Expand a template. In header mode CR and LF in values become spaces, so
 * no value can inject a header. */
char *notify_expand(const char *tmpl, const struct notify_vars *v,
		    int header_mode);

/* A complete RFC 5322 notification (Date, Message-ID, From, To, Subject
 * RFC 2047-encoded when not ASCII, MIME text/plain UTF-8), LF line ends. */
unsigned char *notify_build(const char *from, const char *const *to,
			    size_t n_to, const char *subject_tmpl,
			    const char *body_tmpl, const struct notify_vars *v,
			    size_t *size_r);

#endif
