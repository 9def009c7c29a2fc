/*
 * spare.h - a worker's spare blocks of one size, a bounded stack.
 *
 * A session holds its larger buffers only while bytes wait in them (the
 * SMTP engine's output and line buffers, decrypted TLS input, TCP send
 * rings), so that an idle session holds none; a plain SMTP session takes
 * and frees them over twenty times. Blocks above glibc's tcache
 * limit (1032 bytes) go through malloc's bins each time: about 1.5 µs of a
 * plain session's 21 µs of work (docs/PERFORMANCE.md). The worker keeps up
 * to SPARE_MAX freed blocks of each size here and hands them out again.
 *
 * One struct spare per worker and size, used by that worker's thread
 * only. A NULL struct spare means plain malloc() and free(). A block comes
 * back with whatever its last user left in it: a user that held secrets
 * wipes them before spare_put(), as it would before free().
 */
#ifndef MX_SPARE_H
#define MX_SPARE_H

#include <stddef.h>
#include <stdlib.h>

/* Under AddressSanitizer a kept block is poisoned: a use after spare_put() is reported as a use after free() would be. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define SPARE_POISON(b, n)   ASAN_POISON_MEMORY_REGION((b), (n))
#define SPARE_UNPOISON(b, n) ASAN_UNPOISON_MEMORY_REGION((b), (n))
#else
#define SPARE_POISON(b, n)   ((void)(b), (void)(n))
#define SPARE_UNPOISON(b, n) ((void)(b), (void)(n))
#endif

#define SPARE_MAX 64

struct spare {
	size_t size;              /* the size of every block kept (set by the first put) */
	unsigned n;               /* blocks kept */
	void *blk[SPARE_MAX];
};

/* A block of size bytes: a kept one if it has that size, else malloc()'s (NULL when out of memory). */
static inline void *spare_get(struct spare *s, size_t size)
{
	if (s != NULL && s->n > 0 && s->size == size) {
		void *b = s->blk[--s->n];

		SPARE_UNPOISON(b, size);
		return b;
	}
	return malloc(size);
}

/* Give back b (size bytes, or NULL): kept while there is room for its size, else freed. */
static inline void spare_put(struct spare *s, void *b, size_t size)
{
	if (b == NULL)
		return;
	if (s != NULL && s->n == 0)
		s->size = size;
	if (s != NULL && s->n < SPARE_MAX && s->size == size) {
		SPARE_POISON(b, size);
		s->blk[s->n++] = b;
		return;
	}
	free(b);
}

/* Free every block kept. */
static inline void spare_drain(struct spare *s)
{
	while (s != NULL && s->n > 0) {
		void *b = s->blk[--s->n];

		SPARE_UNPOISON(b, s->size);
		free(b);
	}
}

#endif
