/*
 * ctd_set.c - the suspicious-object hash set.
 *
 * PURPOSE: answer "is this SHA-1 / URL / domain / IP on a list?" in a
 * constant number of memory accesses however many objects are loaded.
 * Objects are 64-bit hashes (of kind and normalised value, word by word,
 * then the murmur3 finaliser for well-spread bits) in an open-addressing
 * table with linear probing, at most half full, behind a Bloom filter. Two
 * objects that share a hash (about 1 in 3.6e13 per lookup at a million objects)
 * are one object. When several lists carry the same object, the most severe
 * action wins, then the later expiry.
 *
 * NEVER: changes a set once built (readers share it without locks); keeps
 * object strings (lists are persisted as text by the caller).
 */
#include "ctd.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct ctd_set {
	uint64_t *keys; /* 0 = empty slot */
	uint32_t *meta;
	size_t mask, n;
	/* A blocked Bloom filter in front of the table: 3 bits of one word
	 * per object, 16 bits per object. It is small enough to stay in the
	 * CPU caches, so most lookups of absent objects (nearly all of them)
	 * never touch the table. */
	uint64_t *bloom;
	size_t bmask;
	unsigned has;
};

static uint64_t bloom_bits(uint64_t k)
{
	return 1ULL << (k & 63) | 1ULL << ((k >> 6) & 63) |
	       1ULL << ((k >> 12) & 63);
}

static uint64_t fmix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* Eight bytes at a time, multiplied in, then fmix64: quick on long URLs,
 * and the set is rebuilt from strings in every process, so the function
 * may change between versions. */
uint64_t ctd_key(enum ctd_kind kind, const char *value, size_t len)
{
	const uint64_t m = 0x9e3779b97f4a7c15ULL;
	uint64_t h = ((uint64_t)kind + 1) * m ^ (uint64_t)len;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, value + i, 8);
		h = (h ^ w) * m;
		h ^= h >> 29;
	}
	if (i < len) {
		uint64_t w = 0;

		memcpy(&w, value + i, len - i);
		h = (h ^ w) * m;
		h ^= h >> 29;
	}
	h = fmix64(h);
	return h ? h : 1;
}

uint32_t ctd_meta(enum ctd_act act, unsigned source, time_t expires)
{
	uint32_t hours = 0;

	if (expires > 0) {
		uint64_t h = ((uint64_t)expires + 3599) / 3600;
		hours = h > 0xffffffu ? 0xffffffu : (uint32_t)h;
	}
	return (uint32_t)act | (uint32_t)(source & 63u) << 2 | hours << 8;
}

int ctd_objs_push(struct ctd_objs *o, uint64_t key, uint32_t meta)
{
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 256;
		uint64_t *k = realloc(o->keys, cap * sizeof(*k));
		uint32_t *m;

		if (k == NULL)
			return -1;
		o->keys = k;
		m = realloc(o->meta, cap * sizeof(*m));
		if (m == NULL)
			return -1;
		o->meta = m;
		o->cap = cap;
	}
	o->keys[o->n] = key;
	o->meta[o->n] = meta;
	o->n++;
	return 0;
}

void ctd_objs_free(struct ctd_objs *o)
{
	free(o->keys);
	free(o->meta);
	memset(o, 0, sizeof(*o));
}

/* Which of two entries for one object stays. */
static uint32_t merge(uint32_t a, uint32_t b)
{
	uint32_t ea = a >> 8, eb = b >> 8;

	if (ctd_meta_act(a) != ctd_meta_act(b))
		return ctd_meta_act(a) > ctd_meta_act(b) ? a : b;
	if (ea == 0 || eb == 0) /* never expires */
		return ea == 0 ? a : b;
	return eb > ea ? b : a;
}

#define HUGE_PAGE (2u << 20)

/* Zeroed memory for a large table: in 2 MB pages where the system allows
 * (madvise), so that random lookups do not also miss the TLB. */
static void *table_alloc(size_t n, size_t size)
{
	size_t bytes = n * size, rounded;
	void *p;

	if (bytes < HUGE_PAGE)
		return calloc(n, size);
	rounded = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
	p = aligned_alloc(HUGE_PAGE, rounded);
	if (p == NULL)
		return NULL;
#ifdef MADV_HUGEPAGE
	madvise(p, rounded, MADV_HUGEPAGE);
#endif
	memset(p, 0, bytes);
	return p;
}

struct ctd_set *ctd_set_build(const struct ctd_objs *const *lists, size_t n)
{
	struct ctd_set *s = calloc(1, sizeof(*s));
	size_t total = 0, slots = 16, i, j;

	if (s == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		total += lists[i] ? lists[i]->n : 0;
	while (slots < total * 2)
		slots *= 2;
	s->keys = table_alloc(slots, sizeof(*s->keys));
	s->meta = table_alloc(slots, sizeof(*s->meta));
	s->bloom = table_alloc(slots / 8, sizeof(*s->bloom));
	if (s->keys == NULL || s->meta == NULL || s->bloom == NULL) {
		ctd_set_free(s);
		return NULL;
	}
	s->mask = slots - 1;
	s->bmask = slots / 8 - 1;
	for (i = 0; i < n; i++) {
		if (lists[i] != NULL && lists[i]->n > 0)
			s->has |= lists[i]->has;
		for (j = 0; lists[i] && j < lists[i]->n; j++) {
			uint64_t k = lists[i]->keys[j];
			size_t at = (size_t)k & s->mask;

			while (s->keys[at] != 0 && s->keys[at] != k)
				at = (at + 1) & s->mask;
			if (s->keys[at] == k) {
				s->meta[at] =
				    merge(s->meta[at], lists[i]->meta[j]);
			} else {
				s->keys[at] = k;
				s->meta[at] = lists[i]->meta[j];
				s->bloom[(k >> 32) & s->bmask] |= bloom_bits(k);
				s->n++;
			}
		}
	}
	return s;
}

int ctd_set_find(const struct ctd_set *s, uint64_t key, time_t now,
		 uint32_t *meta_r)
{
	size_t at;

	if (s == NULL || s->n == 0)
		return 0;
	{
		uint64_t b = bloom_bits(key);

		if ((s->bloom[(key >> 32) & s->bmask] & b) != b)
			return 0;
	}
	at = (size_t)key & s->mask;
	while (s->keys[at] != 0) {
		if (s->keys[at] == key) {
			time_t exp = ctd_meta_expires(s->meta[at]);

			if (exp != 0 && exp <= now)
				return 0;
			if (meta_r != NULL)
				*meta_r = s->meta[at];
			return 1;
		}
		at = (at + 1) & s->mask;
	}
	return 0;
}

size_t ctd_set_count(const struct ctd_set *s)
{
	return s ? s->n : 0;
}

void ctd_set_prefetch(const struct ctd_set *s, uint64_t key)
{
	if (s != NULL && s->n > 0)
		__builtin_prefetch(&s->bloom[(key >> 32) & s->bmask]);
}

unsigned ctd_set_has(const struct ctd_set *s)
{
	return s ? s->has : 0;
}

size_t ctd_set_bytes(const struct ctd_set *s)
{
	return s ? (s->mask + 1) * (sizeof(*s->keys) + sizeof(*s->meta)) +
		       (s->bmask + 1) * sizeof(*s->bloom)
		 : 0;
}

void ctd_set_free(struct ctd_set *s)
{
	if (s == NULL)
		return;
	free(s->keys);
	free(s->meta);
	free(s->bloom);
	free(s);
}
