/*
 * directory — recipient directory: file parser and immutable hash set (see
 * directory.h for the file format, the matching rules and the threading).
 *
 * Job: turn a file of addresses into a table that answers "does this
 * address exist?" with one hash and a probe or two, fast enough for every
 * RCPT of an authoritative domain.
 *
 * Not for: anything mutable.  Nothing here changes after directory_load()
 * returns, which is what makes lock-free reads from every worker safe.
 *
 * Layout.  The file is read into one buffer, which then becomes the arena:
 * each address is normalised (ASCII lower case, quoted local parts in their
 * canonical form) into a small stack buffer and copied back into the same
 * buffer at a write cursor that never passes the line being read, so the
 * arena costs no second copy of the file and ends up holding exactly the
 * distinct addresses back to back; a realloc() then gives back the rest.
 * The table is open addressing with linear probing, sized to the next power
 * of two at or above twice the number of lines, so it is at most half full:
 * a miss (the common case under a dictionary attack) ends after ~2.5 probes
 * on average, and a slot is 16 bytes, four per cache line.  Each slot keeps
 * the full 64-bit hash, so a probe touches the arena only when the hashes
 * match (almost always a real hit); the string is still compared in full.
 *
 * The hash reads 8 bytes at a time and folds ASCII upper case to lower case
 * with SWAR arithmetic on the whole word, so lookups hash the address as
 * the client sent it, without copying it first.
 */
#include "core/tenant/directory.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/addr.h"
#include "core/file.h"
#include "core/hash.h"

/* One table slot. */
struct dir_slot {
	uint64_t hash;		/* addr_hash() of the normalised address */
	uint32_t off;		/* where the address starts in the arena */
	uint32_t len;		/* its length in bytes; 0 marks a free slot */
};

struct directory {
	struct dir_slot *slots;	/* mask + 1 slots, at most half in use */
	size_t mask;		/* slots - 1 (slots is a power of two) */
	size_t slots_mapped;	/* bytes mmap()ed for slots, 0 if calloc()ed */
	size_t count;		/* distinct addresses stored */
	char *arena;		/* normalised addresses, back to back */
	size_t arena_len;	/* bytes of arena in use */
};

/* Why an address did not parse. */
enum addr_err {
	ADDR_OK,
	ADDR_TOO_LONG,		/* over DIRECTORY_MAX_ADDR octets */
	ADDR_LOCAL_TOO_LONG,	/* local part over DIRECTORY_MAX_LOCAL */
	ADDR_BAD_LOCAL,		/* local part syntax */
	ADDR_NO_AT,		/* no '@' after the local part */
	ADDR_BAD_DOMAIN,	/* domain syntax */
	ADDR_TRAILING,		/* something other than a comment follows */
};

static const char *const addr_err_text[] = {
	[ADDR_OK] = "no error",
	[ADDR_TOO_LONG] = "address longer than 254 characters",
	[ADDR_LOCAL_TOO_LONG] = "local part longer than 64 characters",
	[ADDR_BAD_LOCAL] = "invalid address syntax (bad local part)",
	[ADDR_NO_AT] = "invalid address syntax (expected local@domain)",
	[ADDR_BAD_DOMAIN] = "invalid address syntax (bad domain)",
	[ADDR_TRAILING] = ("invalid address syntax (unexpected text after the "
			   "address; comments start with a blank and '#')"),
};

/* Room for a normalised address plus slack for the overflow check. */
#define NORM_CAP	(DIRECTORY_MAX_ADDR + 2)

/* ---- hashing ---------------------------------------------------------- */

#define ONES	UINT64_C(0x0101010101010101)
#define HIGHS	UINT64_C(0x8080808080808080)

/* The 8 bytes of w with ASCII 'A'..'Z' made lower case; other bytes
 * (UTF-8 included) unchanged.  Adding to the low 7 bits of each byte sets
 * its top bit iff the byte reaches the threshold, without carries between
 * bytes (the sums stay below 0x100). */
static inline uint64_t
lower8(uint64_t w)
{
	uint64_t low7 = w & ~HIGHS;
	uint64_t ge_a = low7 + ONES * (0x80 - 'A');
	uint64_t gt_z = low7 + ONES * (0x80 - 'Z' - 1);
	uint64_t upper = ge_a & ~gt_z & ~w & HIGHS;

	return w | (upper >> 2);	/* 0x80 >> 2 == 0x20 */
}

/* Multiply and fold the 128-bit product: the mixing step of wyhash. */
static inline uint64_t
mum(uint64_t a, uint64_t b)
{
	unsigned __int128 r = (unsigned __int128)a * b;

	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

#define K0	UINT64_C(0xa0761d6478bd642f)
#define K1	UINT64_C(0xe7037ed1a0b428db)
#define K2	UINT64_C(0x8ebc6af09c88c6e3)

/* Hash of s (n bytes) as if it were ASCII lower case. */
static uint64_t
addr_hash(const char *s, size_t n)
{
	uint64_t h = K0 ^ (n * K1), w;

	for (; n >= 8; s += 8, n -= 8) {
		memcpy(&w, s, 8);
		h = mum(lower8(w) ^ K1, h ^ K2);
	}
	if (n > 0) {
		w = 0;
		memcpy(&w, s, n);
		h = mum(lower8(w) ^ K2, h ^ K1);
	}
	return mum(h ^ K0, K1);
}

/* True if in (n bytes, any case) equals stored (n bytes, lower case). */
static bool
eq_fold(const char *stored, const char *in, size_t n)
{
	uint64_t a, b;

	for (; n >= 8; stored += 8, in += 8, n -= 8) {
		memcpy(&a, stored, 8);
		memcpy(&b, in, 8);
		if (a != lower8(b))
			return false;
	}
	if (n == 0)
		return true;
	a = b = 0;
	memcpy(&a, stored, n);
	memcpy(&b, in, n);
	return a == lower8(b);
}

/* ---- address syntax: core/addr.c's scanners, as at RCPT ---------------- */

static inline char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/*
 * The quoted local part at p (p[0] == '"'), written to out in canonical
 * form: the bare content when it is a dot-string, else the content quoted
 * again with only '"' and '\' escaped.  Returns the input length consumed
 * (0 on bad syntax, *e set) and the output length in *olen.
 */
static size_t
norm_quoted(const char *p, size_t n, char *out, size_t *olen,
	    enum addr_err *e)
{
	char content[DIRECTORY_MAX_LOCAL + 1];
	size_t l = addr_scan_quoted(p, n, NULL), k = 0, o = 0;

	if (l == 0) {
		*e = ADDR_BAD_LOCAL;
		return 0;
	}
	/* the syntax is good: drop the quotes and the escapes */
	for (size_t i = 1; i < l - 1; i++) {
		if (p[i] == '\\')
			i++;
		if (k < sizeof(content))
			content[k] = lower(p[i]);
		k++;
	}
	if (k > DIRECTORY_MAX_LOCAL) {
		*e = ADDR_LOCAL_TOO_LONG;
		return 0;
	}
	if (k > 0 && addr_scan_dot_string(content, k, NULL) == k) {
		memcpy(out, content, k);
		o = k;
	} else {
		out[o++] = '"';
		for (size_t j = 0; j < k; j++) {
			if (content[j] == '"' || content[j] == '\\')
				out[o++] = '\\';
			out[o++] = content[j];
		}
		out[o++] = '"';
		if (o > DIRECTORY_MAX_LOCAL) {
			*e = ADDR_LOCAL_TOO_LONG;
			return 0;
		}
	}
	*olen = o;
	return l;
}

/*
 * Parse the address at the start of p (n bytes) and write its normalised
 * form to out (NORM_CAP bytes) and its length to *olen.  *used gets the
 * input bytes it spans.  Returns ADDR_OK or why it is not an address.
 */
static enum addr_err
addr_parse(const char *p, size_t n, char *out, size_t *olen, size_t *used)
{
	enum addr_err e = ADDR_OK;
	size_t l, d, o;

	if (n > 0 && p[0] == '"') {
		l = norm_quoted(p, n, out, &o, &e);
		if (l == 0)
			return e;
	} else {
		l = addr_scan_dot_string(p, n, NULL);
		if (l == 0)
			return memchr(p, '@', n) != NULL ? ADDR_BAD_LOCAL :
			       ADDR_NO_AT;
		if (l > DIRECTORY_MAX_LOCAL)
			return ADDR_LOCAL_TOO_LONG;
		for (o = 0; o < l; o++)
			out[o] = lower(p[o]);
	}
	if (l >= n || p[l] != '@')
		return memchr(p + l, '@', n - l) != NULL ? ADDR_BAD_LOCAL :
		       ADDR_NO_AT;
	d = addr_scan_domain(p + l + 1, n - l - 1, NULL);
	if (d == 0)
		return ADDR_BAD_DOMAIN;
	if (o + 1 + d > DIRECTORY_MAX_ADDR)
		return ADDR_TOO_LONG;
	out[o++] = '@';
	for (size_t i = 0; i < d; i++)
		out[o++] = lower(p[l + 1 + i]);
	*olen = o;
	*used = l + 1 + d;
	return ADDR_OK;
}

/* ---- the table -------------------------------------------------------- */

/* The slot holding addr (normalised or not: compared case-insensitively),
 * or the free slot where it would go. */
static struct dir_slot *
find_slot(const struct directory *d, uint64_t h, const char *addr,
	  size_t len)
{
	for (size_t i = (size_t)h & d->mask;; i = (i + 1) & d->mask) {
		struct dir_slot *s = &d->slots[i];

		if (s->len == 0)
			return s;
		if (s->hash == h && s->len == len &&
		    eq_fold(d->arena + s->off, addr, len))
			return s;
	}
}

bool
directory_has(const struct directory *d, const char *addr, size_t len)
{
	char norm[NORM_CAP];
	size_t used = 0, nlen = 0;

	if (d == NULL || d->count == 0 || len == 0)
		return false;
	if (addr[0] == '"') {
		/* Rare: quoted local part.  Canonicalise it first. */
		if (addr_parse(addr, len, norm, &nlen, &used) != ADDR_OK ||
		    used != len)
			return false;
		addr = norm;
		len = nlen;
	} else if (len > DIRECTORY_MAX_ADDR) {
		return false;
	}
	return find_slot(d, addr_hash(addr, len), addr, len)->len != 0;
}

size_t
directory_count(const struct directory *d)
{
	return d == NULL ? 0 : d->count;
}

void
directory_free(struct directory *d)
{
	if (d == NULL)
		return;
	if (d->slots_mapped > 0)
		munmap(d->slots, d->slots_mapped);
	else
		free(d->slots);
	free(d->arena);
	free(d);
}

/* ---- loading ---------------------------------------------------------- */

#define HUGE_PAGE	((size_t)2 << 20)

/*
 * Zeroed storage for n slots into d.  A table of 2 MiB or more (from about
 * 65,000 addresses) is mapped on 2 MiB boundaries and offered to
 * transparent huge pages: lookups land on random slots, and with 4 KiB
 * pages nearly every one of them would also miss the TLB.  Returns false
 * when out of memory.
 */
static bool
slots_alloc(struct directory *d, size_t n)
{
	size_t bytes = n * sizeof(struct dir_slot), head;
	char *p, *aligned;

	if (bytes < HUGE_PAGE) {
		d->slots = calloc(n, sizeof(struct dir_slot));
		return d->slots != NULL;
	}
	/* bytes is a power of two >= 2 MiB: a multiple of HUGE_PAGE. */
	p = mmap(NULL, bytes + HUGE_PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return false;
	aligned = (char *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1));
	head = (size_t)(aligned - p);
	if (head > 0)
		munmap(p, head);
	munmap(aligned + bytes, HUGE_PAGE - head);
	madvise(aligned, bytes, MADV_HUGEPAGE);	/* a hint: may fail */
	d->slots = (struct dir_slot *)(void *)aligned;
	d->slots_mapped = bytes;
	return true;
}

/* Copy at most 60 bytes of a line into out for an error message, control
 * characters shown as '?'. */
static void
quote_line(const char *p, size_t n, char *out, size_t cap)
{
	size_t i, k = 0;

	for (i = 0; i < n && k + 4 < cap && i < 60; i++) {
		unsigned char c = (unsigned char)p[i];

		out[k++] = c < 32 || c == 127 ? '?' : (char)c;
	}
	if (i < n && k + 4 < cap) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = '\0';
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/*
 * Inserting is bound by the cache miss on the slot, so the loader parses a
 * few lines ahead: each parsed address waits in a small ring while its
 * slot is prefetched, and is inserted PREFETCH lines later, when the miss
 * has had time to complete.  That overlaps the misses and about halves the
 * load time of a large directory.
 */
#define PREFETCH	8

/* A parsed address waiting for insertion. */
struct pending {
	uint64_t hash;		/* addr_hash() of s */
	size_t len;		/* length of s */
	char s[NORM_CAP];	/* the normalised address */
};

/* Insert p into d, its string copied into the arena at *w (unless it is a
 * duplicate). */
static void
insert(struct directory *d, char *arena, size_t *w, const struct pending *p)
{
	struct dir_slot *s = find_slot(d, p->hash, p->s, p->len);

	if (s->len != 0)
		return;		/* duplicate */
	memcpy(arena + *w, p->s, p->len);
	s->hash = p->hash;
	s->off = (uint32_t)*w;
	s->len = (uint32_t)p->len;
	*w += p->len;
	d->count++;
}

int
directory_load(const char *path, struct directory **out, char *err,
	       size_t errlen)
{
	struct pending ring[PREFETCH];
	struct directory *d;
	char shown[80], *buf = NULL, *arena;
	size_t len = 0, lines = 1, nslots, w = 0, lineno = 0;
	size_t head = 0, npend = 0;
	int rc;

	if (errlen > 0)
		err[0] = '\0';
	rc = file_read(path, UINT32_MAX, &buf, &len);	/* offsets are 32-bit */
	if (rc == -EFBIG) {
		snprintf(err, errlen, "%s: directory larger than 4 GiB", path);
		return rc;
	}
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	for (const char *p = buf; (p = memchr(p, '\n', len - (size_t)(p - buf)));
	     p++)
		lines++;
	nslots = hash_slots(lines, 16);
	d = calloc(1, sizeof(*d));
	if (d == NULL || !slots_alloc(d, nslots)) {
		free(d);
		free(buf);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	d->mask = nslots - 1;
	d->arena = buf;		/* find_slot() compares against it */

	for (const char *p = buf, *end = buf + len, *e; p < end; p = e + 1) {
		enum addr_err ae;
		struct pending *pd;
		size_t used = 0, n;

		e = memchr(p, '\n', (size_t)(end - p));
		if (e == NULL)
			e = end;
		lineno++;
		while (p < e && is_blank(*p))
			p++;
		n = (size_t)(e - p);
		while (n > 0 && is_blank(p[n - 1]))
			n--;
		if (n == 0 || p[0] == '#')
			continue;
		if (npend == PREFETCH) {
			/* The arena write cursor w stays behind the line
			   being read: every earlier line gave the arena at
			   most its own length. */
			insert(d, buf, &w, &ring[head]);
			head = (head + 1) % PREFETCH;
			npend--;
		}
		pd = &ring[(head + npend) % PREFETCH];
		ae = addr_parse(p, n, pd->s, &pd->len, &used);
		if (ae == ADDR_OK && used < n) {
			/* Only blanks then a comment may follow (n ends on a
			   non-blank, so k stops inside the line). */
			size_t k = used;

			while (is_blank(p[k]))
				k++;
			if (k == used || p[k] != '#')
				ae = ADDR_TRAILING;
		}
		if (ae != ADDR_OK && ae != ADDR_TOO_LONG && p[0] != '"') {
			/* A long run of non-blanks is reported as too long
			   whatever else is wrong with it. */
			size_t tok = 0;

			while (tok < n && !is_blank(p[tok]))
				tok++;
			if (tok > DIRECTORY_MAX_ADDR)
				ae = ADDR_TOO_LONG;
		}
		if (ae != ADDR_OK) {
			quote_line(p, n, shown, sizeof(shown));
			snprintf(err, errlen, "%s:%zu: %s: \"%s\"", path,
				 lineno, addr_err_text[ae], shown);
			d->arena = NULL;
			directory_free(d);
			free(buf);
			return -EINVAL;
		}
		pd->hash = addr_hash(pd->s, pd->len);
		__builtin_prefetch(&d->slots[pd->hash & d->mask], 1);
		npend++;
	}
	for (; npend > 0; npend--, head = (head + 1) % PREFETCH)
		insert(d, buf, &w, &ring[head]);
	arena = realloc(buf, w > 0 ? w : 1);
	d->arena = arena != NULL ? arena : buf;
	d->arena_len = w;
	*out = d;
	return 0;
}
