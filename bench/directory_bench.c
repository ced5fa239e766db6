/*
 * directory-bench — cost of a recipient directory (core/tenant/directory)
 * at a million addresses: load time, memory, lookups per second.
 *
 * Writes a file of N random addresses (default 1,000,000) spread over D
 * domains (default 10,000, one per tenant of the target), loads it
 * with directory_load() and prints the load time, the RSS growth over the
 * load (VmRSS after minus before) and its peak (VmHWM, reset just before
 * the load through /proc/self/clear_refs), then times directory_has() on
 * one million queries: hits written in random mixed case, and misses.
 *
 * Then the target as sluiced would meet it: the same number of
 * addresses split into one directory file per tenant (D files of N/D
 * addresses each, written to FILE.d/), all loaded, plus a tenant table of
 * D tenants with W (default 8) workers' counter shards and a 60 x 1 min
 * window; it prints the time and RSS growth of the whole, and of the
 * counters alone.
 *
 * Times are given as wall time and as the thread's CPU time: on a machine
 * busy with other work, the CPU time is the honest figure.
 *
 * Not a test: it checks only that every hit is found and no miss is.
 * Single-threaded; pin it (taskset) for stable numbers.  The files are left
 * in place (default /tmp/directory-bench.txt and .d/) for `ls -l`.
 *
 *	usage: directory-bench [addresses] [domains] [file] [seed] [workers]
 */
#include "core/tenant/directory.h"
#include "core/tenant/tenant.h"
#include "core/strb.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define QUERIES	1000000		/* lookups timed, half hits, half misses */

static uint64_t rng_state;	/* xorshift64* state */

static uint64_t
rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

/* A second generator for the letter case of queries, so that the first
 * keeps drawing the same addresses as when the file was written. */
static uint64_t case_state = 0x2545f4914f6cdd1dULL;

static uint64_t
rnd_case(void)
{
	case_state ^= case_state >> 12;
	case_state ^= case_state << 25;
	case_state ^= case_state >> 27;
	return case_state * UINT64_C(2685821657736338717);
}

/* Nanoseconds on clk: CLOCK_MONOTONIC for wall time, and the thread's CPU
 * time, which stays honest on a machine busy with other work. */
static uint64_t
clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static uint64_t
cpu_ns(void)
{
	return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

/* A field of /proc/self/status in KiB ("VmRSS", "VmHWM"), 0 if absent. */
static long
status_kib(const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	long v = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ':')
			v = strtol(line + klen + 1, NULL, 10);
	fclose(f);
	return v;
}

/* Reset VmHWM to the current RSS (Linux >= 4.0). */
static void
reset_peak(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");

	if (f != NULL) {
		fputs("5", f);
		fclose(f);
	}
}

/*
 * The next address of the sequence drawn from the rng: a local part of
 * 5..16 characters (letters, digits, at most one inner dot) at one of
 * `domains` domains under tld (domain number `dom`, or a random one when
 * dom is SIZE_MAX).  Written to out (>= 64 bytes); returns its length.
 */
static size_t
make_addr(char *out, size_t domains, size_t dom, const char *tld)
{
	static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	uint64_t r = rnd();
	size_t n = 5 + (size_t)(r % 12), dot = (size_t)(r >> 8) % (n * 2), k;

	for (k = 0; k < n; k++) {
		uint64_t x = rnd();

		out[k] = (k == dot && k > 0 && k + 1 < n) ? '.' :
			 alnum[x % 36];
	}
	if (dom == SIZE_MAX)
		dom = (size_t)(rnd() % domains);
	struct strb sb = { .p = out, .cap = 64, .len = k };
	strb_printf(&sb, "@tenant%zu.example.%s", dom, tld);
	return sb.len;
}

/*
 * The per-tenant case: n addresses in `domains` files (one per tenant)
 * under dir, loaded one by one, plus a tenant table of `domains` tenants
 * with `workers` shards.  Prints its figures; returns 0 or 1.
 */
static int
bench_per_tenant(size_t n, size_t domains, unsigned workers,
		 const char *dir, uint64_t seed)
{
	struct tenant_window win = { .bucket_secs = 60, .buckets = 60 };
	struct directory **dirs = calloc(domains, sizeof(*dirs));
	char **names = calloc(domains, sizeof(*names));
	char path[4200], a[64], err[512];
	struct tenant_table *tt = NULL;
	size_t per = n / domains, total = 0;
	long rss0, rss1, rss2, hwm;
	uint64_t t0, c0, t_dirs, c_dirs, t_tab, c_tab;
	int rc;

	if (dirs == NULL || names == NULL || per == 0) {
		fprintf(stderr, "directory-bench: per-tenant case skipped "
			"(fewer addresses than domains, or no memory)\n");
		return per == 0 ? 0 : 1;
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		perror(dir);
		return 1;
	}
	rng_state = seed ^ 0x3333333333333333ULL;
	for (size_t k = 0; k < domains; k++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/tenant%zu.txt", dir, k);
		f = fopen(path, "w");
		if (f == NULL) {
			perror(path);
			return 1;
		}
		for (size_t i = 0; i < per; i++) {
			size_t l = make_addr(a, domains, k, "com");

			a[l++] = '\n';
			fwrite(a, 1, l, f);
		}
		if (fclose(f) != 0) {
			perror(path);
			return 1;
		}
		snprintf(a, sizeof(a), "tenant%zu", k);
		names[k] = strdup(a);
		if (names[k] == NULL)
			return 1;
	}

	reset_peak();
	rss0 = status_kib("VmRSS");
	t0 = now_ns();
	c0 = cpu_ns();
	for (size_t k = 0; k < domains; k++) {
		snprintf(path, sizeof(path), "%s/tenant%zu.txt", dir, k);
		rc = directory_load(path, &dirs[k], err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "directory-bench: %s\n", err);
			return 1;
		}
		total += directory_count(dirs[k]);
	}
	c_dirs = cpu_ns() - c0;
	t_dirs = now_ns() - t0;
	rss1 = status_kib("VmRSS");
	t0 = now_ns();
	c0 = cpu_ns();
	rc = tenant_table_new((const char *const *)names, domains, workers,
			      &win, NULL, &tt, NULL);
	c_tab = cpu_ns() - c0;
	t_tab = now_ns() - t0;
	rss2 = status_kib("VmRSS");
	hwm = status_kib("VmHWM");
	if (rc < 0) {
		fprintf(stderr, "directory-bench: tenant table: %s\n",
			strerror(-rc));
		return 1;
	}
	/* Touch every counter as a worker would, so its pages are counted
	   even where calloc'ed memory is not yet faulted in. */
	for (size_t k = 0; k < domains; k++)
		for (unsigned w = 0; w < workers; w++)
			tenant_count_add(tenant_table_counter(tt, k), w, 0, 0);
	rss2 = status_kib("VmRSS");

	printf("per-tenant: %zu tenants x %zu addresses (%zu distinct), "
	       "%u workers\n", domains, per, total, workers);
	printf("load:    directories %.3f s wall, %.3f s CPU; tenant table "
	       "%.3f s wall, %.3f s CPU\n", (double)t_dirs / 1e9,
	       (double)c_dirs / 1e9, (double)t_tab / 1e9,
	       (double)c_tab / 1e9);
	printf("memory:  RSS growth %.1f MiB (directories %.1f, counters "
	       "%.1f), peak +%.1f MiB\n", (double)(rss2 - rss0) / 1024,
	       (double)(rss1 - rss0) / 1024, (double)(rss2 - rss1) / 1024,
	       (double)((hwm > rss2 ? hwm : rss2) - rss0) / 1024);
	for (size_t k = 0; k < domains; k++) {
		directory_free(dirs[k]);
		free(names[k]);
	}
	tenant_table_free(tt);
	free(dirs);
	free(names);
	return 0;
}

int
main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 0) : 1000000;
	size_t domains = argc > 2 ? strtoul(argv[2], NULL, 0) : 10000;
	const char *path = argc > 3 ? argv[3] : "/tmp/directory-bench.txt";
	uint64_t seed = argc > 4 ? strtoull(argv[4], NULL, 0) :
			0x9e3779b97f4a7c15ULL;
	unsigned workers = argc > 5 ? (unsigned)strtoul(argv[5], NULL, 0) : 8;
	char err[512], a[64], *qbuf, dir[4096];
	struct directory *d = NULL;
	size_t *qoff, *qlen, found = 0, fsize = 0;
	long rss0, rss1, hwm;
	uint64_t t0, c0, t_load, c_load, t_hit, c_hit, t_miss, c_miss;
	FILE *f;
	int rc;

	if (n == 0 || domains == 0 || seed == 0 || workers == 0 ||
	    workers > TENANT_MAX_WORKERS) {
		fprintf(stderr, "usage: directory-bench [addresses (>0)] "
			"[domains (>0)] [file] [seed (!= 0)] [workers]\n");
		return 2;
	}
	f = fopen(path, "w");
	if (f == NULL) {
		perror(path);
		return 1;
	}
	fprintf(f, "# directory-bench: %zu addresses, %zu domains\n", n,
		domains);
	rng_state = seed;
	for (size_t i = 0; i < n; i++) {
		size_t l = make_addr(a, domains, SIZE_MAX, "com");

		a[l++] = '\n';
		fwrite(a, 1, l, f);
		fsize += l;
	}
	if (fclose(f) != 0) {
		perror(path);
		return 1;
	}

	reset_peak();
	rss0 = status_kib("VmRSS");
	t0 = now_ns();
	c0 = cpu_ns();
	rc = directory_load(path, &d, err, sizeof(err));
	c_load = cpu_ns() - c0;
	t_load = now_ns() - t0;
	rss1 = status_kib("VmRSS");
	hwm = status_kib("VmHWM");
	if (rc < 0) {
		fprintf(stderr, "directory-bench: %s\n", err);
		return 1;
	}

	/* Queries, drawn after the measurement: the first QUERIES/2
	   addresses again (hits) in random case, then as many under a
	   top-level domain no address uses (misses). */
	qbuf = malloc((size_t)QUERIES * 64);
	qoff = malloc(QUERIES * sizeof(*qoff));
	qlen = malloc(QUERIES * sizeof(*qlen));
	if (qbuf == NULL || qoff == NULL || qlen == NULL) {
		fprintf(stderr, "directory-bench: out of memory\n");
		return 1;
	}
	rng_state = seed;
	for (size_t i = 0; i < QUERIES; i++) {
		char *q = qbuf + i * 64;
		size_t l;

		if (i == QUERIES / 2)
			rng_state = seed ^ 0x5555555555555555ULL;
		if (i < QUERIES / 2 && i % n == 0)	/* small n: wrap */
			rng_state = seed;
		l = make_addr(q, domains, SIZE_MAX,
			      i < QUERIES / 2 ? "com" : "net");
		for (size_t k = 0; k < l; k++)
			if (q[k] >= 'a' && q[k] <= 'z' && (rnd_case() & 1))
				q[k] = (char)(q[k] - 32);
		qoff[i] = i * 64;
		qlen[i] = l;
	}
	t0 = now_ns();
	c0 = cpu_ns();
	for (size_t i = 0; i < QUERIES / 2; i++)
		found += directory_has(d, qbuf + qoff[i], qlen[i]);
	c_hit = cpu_ns() - c0;
	t_hit = now_ns() - t0;
	if (found != QUERIES / 2) {
		fprintf(stderr, "directory-bench: %zu of %d hits found\n",
			found, QUERIES / 2);
		return 1;
	}
	found = 0;
	t0 = now_ns();
	c0 = cpu_ns();
	for (size_t i = QUERIES / 2; i < QUERIES; i++)
		found += directory_has(d, qbuf + qoff[i], qlen[i]);
	c_miss = cpu_ns() - c0;
	t_miss = now_ns() - t0;
	if (found != 0) {
		fprintf(stderr, "directory-bench: %zu misses found\n", found);
		return 1;
	}

	printf("directory: %zu addresses (%zu distinct), %zu domains, "
	       "file %.1f MiB\n", n, directory_count(d), domains,
	       (double)fsize / 1048576);
	printf("load:    %.3f s wall, %.3f s CPU (%.0f ns CPU/address)\n",
	       (double)t_load / 1e9, (double)c_load / 1e9,
	       (double)c_load / (double)n);
	printf("memory:  RSS growth %.1f MiB (%.1f bytes/address), "
	       "peak during load +%.1f MiB\n", (double)(rss1 - rss0) / 1024,
	       (double)(rss1 - rss0) * 1024 / (double)n,
	       (double)(hwm - rss0) / 1024);
	printf("lookups: hits %.1f M/s (%.0f ns), misses %.1f M/s (%.0f ns) "
	       "by CPU time\n", (double)(QUERIES / 2) * 1e3 / (double)c_hit,
	       (double)c_hit / (QUERIES / 2),
	       (double)(QUERIES / 2) * 1e3 / (double)c_miss,
	       (double)c_miss / (QUERIES / 2));
	printf("         (wall: hits %.0f ns, misses %.0f ns)\n",
	       (double)t_hit / (QUERIES / 2), (double)t_miss / (QUERIES / 2));
	directory_free(d);
	free(qbuf);
	free(qoff);
	free(qlen);
	snprintf(dir, sizeof(dir), "%s.d", path);
	return bench_per_tenant(n, domains, workers, dir, seed);
}
