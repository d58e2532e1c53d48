/*
 * spool.h - vigild's durable spool: one file per message and a JSON state
 * file beside it.
 *
 *   DIR/tmp/         files being written (never trusted after a crash)
 *   DIR/queue/X/ID.msg the message as received (LF line ends), never changed
 *   DIR/queue/X/ID.out the message as it will be delivered, when modified
 *   DIR/queue/X/ID.env its state: envelope, stage, policy state, attempts
 *                      (X = the id's last hex digit: 16 shards)
 *   DIR/quarantine/AREA/ID.eml  quarantined originals
 *
 * A message exists once its files are flushed, its .env renamed into
 * queue/ and the directory fsync'd (one group fsync for every writer
 * waiting): spool_add()
 * returns only then, and only then may the SMTP server answer 250. Removal deletes the .env first, so a crash can leave
 * an orphan .msg (cleaned at start) but never a state without its message.
 */
#ifndef VIGIL_SPOOL_H
#define VIGIL_SPOOL_H

#include <jansson.h>
#include <stddef.h>

#define SPOOL_ID_SIZE 24
#define SPOOL_SHARDS 16 /* queue/0 .. queue/f, by the id's last digit */

struct spool;

struct spool *spool_open(const char *dir, char **error_r);
void spool_close(struct spool *sp);
const char *spool_dir(const struct spool *sp);

/* Durably add a message and its first state (the state gains "id"). */
int spool_add(struct spool *sp, const unsigned char *data, size_t size,
	      json_t *state, char id_r[SPOOL_ID_SIZE], char **error_r);

/* Read ID.msg ("msg") or ID.out ("out"); malloc'd. */
int spool_read(struct spool *sp, const char *id, const char *kind,
	       unsigned char **data_r, size_t *size_r, char **error_r);
/* The modified copy. Not flushed: a crash may lose it, so the state that
 * refers to it records its size and a mismatch means "scan again". */
int spool_write_out(struct spool *sp, const char *id,
		    const unsigned char *data, size_t size, char **error_r);

/* The state, or NULL. Replacing it is atomic and durable. */
json_t *spool_state(struct spool *sp, const char *id, char **error_r);
int spool_set_state(struct spool *sp, const char *id, json_t *state,
		    char **error_r);
/* The same, atomic but not flushed: for steps a crash may undo because
 * they are redone from the last durable state (scanning again is safe;
 * delivering twice is allowed, losing is not). */
int spool_update_state(struct spool *sp, const char *id, json_t *state,
		       char **error_r);

/* Copy the original into quarantine/AREA/ID.eml (durably); *path_r is
 * malloc'd. The queue entry stays until spool_remove(). */
int spool_quarantine(struct spool *sp, const char *id, const char *area,
		     char **path_r, char **error_r);

/* Forget a message: state first, then its files. */
int spool_remove(struct spool *sp, const char *id);

/* Every message with a state, for recovery at start. Clears tmp/ and
 * orphans. Calls fn for each id; returns how many. */
size_t spool_recover(struct spool *sp, void (*fn)(void *ctx, const char *id),
		     void *ctx);

/* Is this a well-formed spool id (so a path built from it is safe)? */
int spool_id_valid(const char *id);

#endif
