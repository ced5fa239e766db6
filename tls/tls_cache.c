/*
 * tls_cache — a small per-thread LRU of wolfSSL client sessions.
 *
 * A fixed array searched in full: TLS_CACHE_MAX entries, each compared by
 * a hash of its key first, costs far less than the handshake it saves.
 * Thread-local, so no locks; tls_cache_clear() frees a thread's entries
 * when the thread ends.
 */
#include "core/hash.h"
#include "tls/tls_cache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct tls_cache_ent {
	char *key;		/* owned; NULL: the slot is free */
	uint64_t hash;		/* of key */
	WOLFSSL_SESSION *s;	/* owned */
	uint64_t used;		/* tls_cache_tick at the last get or put */
	int64_t verified;	/* unix s of the full handshake s descends
				   from */
};

static _Thread_local struct tls_cache_ent tls_cache[TLS_CACHE_MAX];
static _Thread_local uint64_t tls_cache_tick;

static uint64_t
tls_cache_hash(const char *key)
{
	return hash_fnv1a(key, strlen(key));
}

static struct tls_cache_ent *
tls_cache_find(const char *key, uint64_t h)
{
	for (size_t i = 0; i < TLS_CACHE_MAX; i++)
		if (tls_cache[i].key != NULL && tls_cache[i].hash == h &&
		    strcmp(tls_cache[i].key, key) == 0)
			return &tls_cache[i];
	return NULL;
}

static void
tls_cache_free_ent(struct tls_cache_ent *e)
{
	free(e->key);
	wolfSSL_SESSION_free(e->s);
	memset(e, 0, sizeof(*e));
}

WOLFSSL_SESSION *
tls_cache_get(const char *key, int64_t *verified)
{
	struct tls_cache_ent *e = tls_cache_find(key, tls_cache_hash(key));
	int64_t now = (int64_t)time(NULL);

	if (e == NULL)
		return NULL;
	/* A TLS 1.3 resumption brings a ticket as fresh as the last one: on
	 * its own, a chain of them would never show a certificate again. */
	if (now - wolfSSL_SESSION_get_time(e->s) >= wolfSSL_SESSION_get_timeout(e->s) ||
	    now - e->verified >= TLS_CACHE_REVERIFY || now < e->verified) {
		tls_cache_free_ent(e);
		return NULL;
	}
	e->used = ++tls_cache_tick;
	*verified = e->verified;
	return e->s;
}

void
tls_cache_put(const char *key, WOLFSSL_SESSION *s, int64_t verified)
{
	uint64_t h = tls_cache_hash(key);
	struct tls_cache_ent *e = tls_cache_find(key, h), *lru = &tls_cache[0];

	if (s == NULL)
		return;
	if (e != NULL) {
		wolfSSL_SESSION_free(e->s);
		e->s = s;
		e->verified = verified;
		e->used = ++tls_cache_tick;
		return;
	}
	for (size_t i = 0; i < TLS_CACHE_MAX && lru->key != NULL; i++)
		if (tls_cache[i].key == NULL || tls_cache[i].used < lru->used)
			lru = &tls_cache[i];
	if (lru->key != NULL)
		tls_cache_free_ent(lru);
	lru->key = strdup(key);
	if (lru->key == NULL) {
		wolfSSL_SESSION_free(s);
		return;
	}
	lru->hash = h;
	lru->s = s;
	lru->verified = verified;
	lru->used = ++tls_cache_tick;
}

void
tls_cache_drop(const char *key)
{
	struct tls_cache_ent *e = tls_cache_find(key, tls_cache_hash(key));

	if (e != NULL)
		tls_cache_free_ent(e);
}

void
tls_cache_clear(void)
{
	for (size_t i = 0; i < TLS_CACHE_MAX; i++)
		if (tls_cache[i].key != NULL)
			tls_cache_free_ent(&tls_cache[i]);
}
