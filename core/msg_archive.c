/*
 * msg_archive.c - archive members as parts, through libarchive, recursively.
 *
 * PURPOSE: open a part the typer calls "compressed" (zip, tar, 7z, rar, a
 * lone .gz/.bz2/.xz ...) from memory and append each regular member as a
 * part of its own, typed and hashed, opening nested archives in turn.
 *
 * NEVER: allocate beyond the remaining extraction budget (total size and
 * ratio), open archives nested deeper than archive_max_depth, touch the
 * file system or run a program (no mtree, no external decompressors), or
 * parse an archive format by hand: libarchive does that.
 */
#ifndef _GNU_SOURCE
#endif
#include "msg_priv.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdint.h>
#include <string.h>

#define ARCH_FIRST_MAX ((size_t)8 << 20) /* first buffer for a member */
#define ARCH_CHUNK ((size_t)64 << 10)
#define ARCH_ZIP_TAIL (65535 + 22) /* end of central directory + comment */

enum arch_read {
	ARCH_READ_OK,
	ARCH_READ_TOTAL,   /* archive_max_total_size reached */
	ARCH_READ_RATIO,   /* archive_max_ratio reached */
	ARCH_READ_NOMEM,   /* the budget allowed it, malloc did not */
	ARCH_READ_DAMAGED, /* libarchive failed mid-member */
};

/* One archive being read. */
struct arch_ctx {
	struct msg *m;
	int idx;	    /* the container part */
	unsigned level;	    /* archive nesting level of its members */
	const char *base;   /* members' path prefix, e.g. "2/invoice.zip" */
	uint64_t allowance; /* bytes it may expand to (ratio limit) */
	uint64_t extracted; /* bytes its own members expanded to */
};

static uint64_t arch_mul_sat(uint64_t a, uint64_t b)
{
	if (a != 0 && b > UINT64_MAX / a)
		return UINT64_MAX;
	return a * b;
}

static int arch_starts(const unsigned char *d, size_t n, const char *sig,
		       size_t len)
{
	return n >= len && memcmp(d, sig, len) == 0;
}

/* Only formats and filters that work in memory, in process: format_all
 * would add mtree (which names files on disk) and filter_all would run
 * external lrzip/lzop/grzip programs on hostile data. 7-Zip and RAR cost
 * more to set up than a small zip costs to read, and bid only on their own
 * signature at the start (or a self-extractor): ask for them only then. A
 * filtered one (.rar.gz) comes out through raw and is opened again. */
static struct archive *arch_open(const unsigned char *d, size_t n)
{
	struct archive *a = archive_read_new();
	int sfx = arch_starts(d, n, "MZ", 2) || arch_starts(d, n, "\177ELF", 4);

	if (a == NULL)
		return NULL;
	if (sfx || arch_starts(d, n, "7z\274\257\047\034", 6))
		archive_read_support_format_7zip(a);
	if (sfx || arch_starts(d, n, "Rar!\032\007", 6)) {
		archive_read_support_format_rar(a);
		archive_read_support_format_rar5(a);
	}
	archive_read_support_format_ar(a);
	archive_read_support_format_cab(a);
	archive_read_support_format_cpio(a);
	archive_read_support_format_iso9660(a);
	archive_read_support_format_lha(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_xar(a);
	archive_read_support_format_zip(a);
	archive_read_support_format_raw(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_filter_compress(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_lz4(a);
	archive_read_support_filter_lzip(a);
	archive_read_support_filter_lzma(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_uu(a);
	archive_read_support_filter_rpm(a);
	return a;
}

static void arch_damaged(struct arch_ctx *c)
{
	c->m->parts[c->idx].flags |= VIGIL_PART_TRUNCATED;
	msg_note_malformed(c->m, "truncated archive %s", c->base);
}

/* A zip the streaming reader got through but whose central directory is
 * missing was cut short after a complete member. */
static int arch_zip_cut(struct archive *a, const vigil_part *cp)
{
	static const char eocd[] = "PK\005\006";
	size_t tail = cp->size < ARCH_ZIP_TAIL ? cp->size : ARCH_ZIP_TAIL;

	if ((archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) !=
		ARCHIVE_FORMAT_ZIP ||
	    archive_filter_count(a) > 1)
		return 0;
	return memmem(cp->data + cp->size - tail, tail, eocd, 4) == NULL;
}

/* base "/" name in at most MSG_PATH_MAX - 1 bytes: the name keeps its last
 * MSG_NAME_MAX bytes (its extension matters), the base its beginning,
 * both cut on UTF-8 character boundaries. */
static const char *arch_join(struct msg *m, const char *base, const char *name)
{
	size_t lb = strlen(base), ln = strlen(name);

	if (ln > MSG_NAME_MAX) {
		name += ln - MSG_NAME_MAX;
		while (((unsigned char)*name & 0xc0) == 0x80)
			name++;
		ln = strlen(name);
	}
	if (lb > MSG_PATH_MAX - 2 - ln) {
		lb = MSG_PATH_MAX - 2 - ln;
		while (lb > 0 && ((unsigned char)base[lb] & 0xc0) == 0x80)
			lb--;
	}
	return msg_arena_printf(m, "%.*s/%s", (int)lb, base, name);
}

/* The member's path inside the archive; a lone compressed file without a
 * stored name is named after its container, less the extension. */
static const char *arch_pathname(struct arch_ctx *c, struct archive *a,
				 struct archive_entry *e)
{
	const char *s = archive_entry_pathname_utf8(e);
	const char *cname, *dot;

	if (s == NULL)
		s = archive_entry_pathname(e);
	if (s == NULL || *s == '\0')
		s = "data";
	if (archive_format(a) != ARCHIVE_FORMAT_RAW || strcmp(s, "data") != 0)
		return s;
	cname = c->m->parts[c->idx].name;
	dot = strrchr(cname, '.');
	if (dot == NULL || dot == cname || strchr(dot, '/') != NULL)
		return s;
	return msg_arena_strndup(c->m, cname, (size_t)(dot - cname));
}

/* Reads the current member into a buffer of at most the remaining budget
 * (plus nothing: one probe byte says whether more was coming). */
static enum arch_read arch_read_data(struct arch_ctx *c, struct archive *a,
				     struct archive_entry *e,
				     unsigned char **buf_r, size_t *len_r)
{
	struct msg_priv *p = msg_priv(c->m);
	const struct msg_limits *lim = c->m->limits;
	uint64_t total_left = lim->archive_max_total_size > p->extracted
				  ? lim->archive_max_total_size - p->extracted
				  : 0;
	uint64_t ratio_left =
	    c->allowance > c->extracted ? c->allowance - c->extracted : 0;
	enum arch_read over =
	    total_left <= ratio_left ? ARCH_READ_TOTAL : ARCH_READ_RATIO;
	uint64_t allowed = total_left <= ratio_left ? total_left : ratio_left;
	size_t first = ARCH_CHUNK, cap = 0, len = 0;
	enum arch_read res = ARCH_READ_OK;
	unsigned char *buf = NULL, *nb;
	la_ssize_t n;

	if (allowed > SIZE_MAX / 4)
		allowed = SIZE_MAX / 4;
	if (archive_entry_size_is_set(e) && archive_entry_size(e) >= 0 &&
	    (uint64_t)archive_entry_size(e) < ARCH_FIRST_MAX)
		first = (size_t)archive_entry_size(e);
	for (;;) {
		if (len == cap) {
			unsigned char probe;
			size_t ncap;

			n = archive_read_data(a, &probe, 1);
			if (n == 0)
				break;
			if (n < 0) {
				res = ARCH_READ_DAMAGED;
				break;
			}
			if (len >= allowed) {
				res = over;
				break;
			}
			ncap = cap ? cap * 2 : (first ? first : ARCH_CHUNK);
			if (ncap > allowed)
				ncap = (size_t)allowed;
			nb = g_try_realloc(buf, ncap);
			if (nb == NULL) {
				res = ARCH_READ_NOMEM;
				break;
			}
			buf = nb;
			cap = ncap;
			buf[len++] = probe;
			continue;
		}
		n = archive_read_data(a, buf + len, cap - len);
		if (n == 0)
			break;
		if (n < 0) {
			res = ARCH_READ_DAMAGED;
			break;
		}
		len += (size_t)n;
	}
	if (len == 0) {
		g_free(buf);
		buf = NULL;
	} else if (cap - len > ARCH_CHUNK && (nb = g_try_realloc(buf, len))) {
		buf = nb;
	}
	*buf_r = buf;
	*len_r = len;
	return res;
}

/* Adds the current member; returns 0 when this archive must stop. */
static int arch_member(struct arch_ctx *c, struct archive *a,
		       struct archive_entry *e)
{
	struct msg *m = c->m;
	struct msg_priv *p = msg_priv(m);
	unsigned depth = m->parts[c->idx].depth + 1;
	unsigned flags = VIGIL_PART_MEMBER;
	const char *path, *name;
	unsigned char *buf;
	size_t len;
	enum arch_read res;
	int i;

	path = arch_join(m, c->base, arch_pathname(c, a, e));
	name = strrchr(path, '/') + 1;
	m->parts[c->idx].flags |= VIGIL_PART_CONTAINER;

	if (archive_entry_is_encrypted(e)) {
		/* No passphrase: listed with no data (size 0, as the SDK
		 * promises `size` readable bytes). */
		i = msg_add_part(m, path, name, "", (const unsigned char *)"",
				 0, depth, c->idx, flags | VIGIL_PART_ENCRYPTED);
		return 1;
	}

	res = arch_read_data(c, a, e, &buf, &len);
	msg_keep_buffer(m, buf);
	p->extracted += len;
	c->extracted += len;
	if (res != ARCH_READ_OK)
		flags |= VIGIL_PART_TRUNCATED;
	i = msg_add_part(m, path, name, "", buf, len, depth, c->idx, flags);

	switch (res) {
	case ARCH_READ_OK:
		if (msg_part_is_compressed(&m->parts[i]))
			msg_archive_extract(m, i, c->level + 1);
		return 1;
	case ARCH_READ_TOTAL:
		msg_note_limit(m, "archive_max_total_size",
			       m->limits->archive_max_total_size);
		p->archives_stopped = 1;
		break;
	case ARCH_READ_RATIO:
		msg_note_limit(m, "archive_max_ratio",
			       m->limits->archive_max_ratio);
		break;
	case ARCH_READ_NOMEM:
		break;
	case ARCH_READ_DAMAGED:
		if (archive_read_has_encrypted_entries(a) > 0) {
			/* found out only on reading: a passphrase it lacks */
			m->parts[i].flags |= VIGIL_PART_ENCRYPTED;
			return 1;
		}
		arch_damaged(c);
		return 0;
	}
	m->parts[c->idx].flags |= VIGIL_PART_TRUNCATED;
	return 0;
}

static void arch_members(struct arch_ctx *c, struct archive *a)
{
	struct msg *m = c->m;
	struct msg_priv *p = msg_priv(m);
	struct archive_entry *e;
	int first = 1, r;

	for (;;) {
		r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF) {
			if (arch_zip_cut(a, &m->parts[c->idx]))
				arch_damaged(c);
			return;
		}
		if (r < ARCHIVE_WARN) {
			if (archive_read_has_encrypted_entries(a) > 0)
				m->parts[c->idx].flags |=
				    VIGIL_PART_ENCRYPTED | VIGIL_PART_TRUNCATED;
			else
				arch_damaged(c);
			return;
		}
		/* raw format without a filter: it was no archive at all */
		if (first && archive_format(a) == ARCHIVE_FORMAT_RAW &&
		    archive_filter_count(a) <= 1)
			return;
		first = 0;
		if (archive_entry_filetype(e) != AE_IFREG)
			continue;
		if (p->archives_stopped) {
			m->parts[c->idx].flags |= VIGIL_PART_TRUNCATED;
			return;
		}
		if (p->n_members >= m->limits->archive_max_members) {
			msg_note_limit(m, "archive_max_members",
				       m->limits->archive_max_members);
			p->archives_stopped = 1;
			m->parts[c->idx].flags |= VIGIL_PART_TRUNCATED;
			return;
		}
		p->n_members++;
		if (!arch_member(c, a, e))
			return;
	}
}

void msg_archive_extract(struct msg *m, int idx, unsigned level)
{
	struct msg_priv *p = msg_priv(m);
	const struct msg_limits *lim = m->limits;
	vigil_part *cp = &m->parts[idx];
	struct arch_ctx c = {.m = m, .idx = idx, .level = level};
	struct archive *a;

	if (p->archives_stopped) {
		cp->flags |= VIGIL_PART_TRUNCATED;
		return;
	}
	if (level > lim->archive_max_depth) {
		msg_note_limit(m, "archive_max_depth", lim->archive_max_depth);
		cp->flags |= VIGIL_PART_TRUNCATED;
		return;
	}
	if (cp->data == NULL || cp->size == 0)
		return;
	c.base = (cp->flags & VIGIL_PART_MEMBER) || *cp->name == '\0'
		     ? cp->path
		     : arch_join(m, cp->path, cp->name);
	c.allowance = arch_mul_sat(lim->archive_max_ratio, cp->size);
	if (c.allowance < MSG_RATIO_FLOOR)
		c.allowance = MSG_RATIO_FLOOR;

	a = arch_open(cp->data, cp->size);
	if (a == NULL)
		return;
	/* the raw format bids on anything: failing to open is damage */
	if (archive_read_open_memory(a, cp->data, cp->size) == ARCHIVE_OK)
		arch_members(&c, a);
	else
		arch_damaged(&c);
	archive_read_free(a);
}
