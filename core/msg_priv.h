/*
 * msg_priv.h - what msg_parse.c and msg_archive.c share, and nothing else.
 *
 * PURPOSE: the bookkeeping behind a struct msg (string arena, owned
 * buffers, header cache, per-message archive budget) and the helpers both
 * halves of the message model use to add parts and note problems.
 *
 * NEVER: include this from any other file; the rest of vigil sees msg.h.
 */
#ifndef VIGIL_MSG_PRIV_H
#define VIGIL_MSG_PRIV_H

#include <stdint.h>
#include <string.h>
#include <openssl/evp.h>

#include "msg.h"

/* MIME nesting the walk follows (multiparts and embedded messages). */
#define MSG_MIME_MAX_DEPTH 64

/* Embedded messages are re-serialised for their part's data; nested ones
 * would otherwise cost depth times the message: at most this many times
 * the raw size in all. */
#define MSG_EMBED_FACTOR 4

/* Archive member paths are cut to fit this many bytes, the member's own
 * part of it to MSG_NAME_MAX: a long attachment name repeated in every
 * member's path must not multiply memory. */
#define MSG_PATH_MAX 4096
#define MSG_NAME_MAX 1024

/* Archives this small may expand beyond archive_max_ratio. */
#define MSG_RATIO_FLOOR ((uint64_t)1 << 20)

struct msg_arena_block;

struct msg_hdr_cache {
	char *name;
	const char *value; /* arena string, or NULL when absent */
};

struct msg_priv {
	GByteArray *raw_array;	  /* wraps m->raw without copying it */
	GMimeParserOptions *opts; /* GMime headers keep a pointer to it */

	int truncated;	   /* GMime said "truncated message" */
	uint64_t embedded; /* bytes of embedded messages serialised */

	struct msg_arena_block *arena; /* paths, names, header values */

	void **bufs; /* decoded contents and members, g_free()d */
	size_t n_bufs, cap_bufs;

	struct msg_hdr_cache *hdrs;
	size_t n_hdrs, cap_hdrs;

	EVP_MD_CTX *sha1, *sha256;

	size_t cap_parts;

	/* the per-message archive budget */
	unsigned n_members;
	uint64_t extracted;
	int archives_stopped; /* a per-message limit was hit: open no more */
};

static inline struct msg_priv *msg_priv(struct msg *m)
{
	return m->priv;
}

/* Strings that live until msg_free(). */
char *msg_arena_strdup(struct msg *m, const char *s);
char *msg_arena_strndup(struct msg *m, const char *s, size_t len);
char *msg_arena_printf(struct msg *m, const char *fmt, ...) VIGIL_PRINTF(2, 3);

/* Hand a g_malloc()ed buffer to the message: g_free()d by msg_free(). */
void msg_keep_buffer(struct msg *m, void *buf);

/* Append a part (strings must outlive the message: arena or static), run
 * the typer on it and hash it. Returns its index. */
int msg_add_part(struct msg *m, const char *path, const char *name,
		 const char *content_type, const unsigned char *data,
		 size_t size, unsigned depth, int parent, unsigned flags);

/* Only the first reason / the first limit is kept. */
void msg_note_malformed(struct msg *m, const char *fmt, ...) VIGIL_PRINTF(2, 3);
void msg_note_limit(struct msg *m, const char *limit, uint64_t value);

static inline int msg_part_is_compressed(const vigil_part *p)
{
	return p->category != NULL && strcmp(p->category, "compressed") == 0;
}

/* Open part `idx` with libarchive and append its members (level = the
 * archive nesting level its members are at, 1 for a MIME attachment). */
void msg_archive_extract(struct msg *m, int idx, unsigned level);

#endif
