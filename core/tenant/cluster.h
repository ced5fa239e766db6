/*
 * cluster — cluster-wide invalid-recipient counts through Redis, so every
 * edge node of a cluster enforces the same per-tenant quota.
 *
 * Job: collect this node's events per tenant and window bucket, store them
 * in Redis, read back what every node stored, and publish the cluster's
 * window total per tenant for the workers to compare with the quota.
 *
 * Not for: the local count (core/tenant/tenant.h keeps it and stays the
 * fallback), deciding anything (the caller compares totals with the quota),
 * being on a worker's ring (all Redis I/O is on the cluster's own thread).
 *
 * Threads.  cluster_start() starts one thread per instance (not a worker)
 * that owns a blocking hiredis connection with connect and command
 * timeouts.  Workers never block, allocate or take a lock: cluster_add() is
 * one relaxed load and one relaxed store on the worker's own cache line
 * (a per-worker, per-tenant accumulator that the thread drains every
 * flush_ms), cluster_tenant_total() is `buckets` relaxed loads of words the
 * thread publishes.  Any thread may call cluster_up() and cluster_stats()
 * (a mutex guards only the error text: cold path).
 *
 * Storage in Redis.  One hash per bucket, key "<prefix><bucket_secs>:
 * <bucket start, UNIX seconds>" (e.g. "sluice:tq:60:1764213600"), one field
 * per tenant and node, "<tenant>/<node id>", holding that node's absolute
 * count of the tenant's events in that bucket (HSET), and an EXPIREAT one
 * bucket after the bucket leaves the window.  Each flush, the thread writes
 * the counts that changed and reads the window's hashes (HGETALL, one per
 * bucket, pipelined); a tenant's cluster total is the sum of the other
 * nodes' fields plus this node's own count.  Absolute per-node counts make
 * every write idempotent, which is what makes resync exact: after an outage
 * the node simply writes again every count of the window, whether Redis
 * kept the data (a partition) or lost it (restart without persistence), and
 * a reply lost to a timeout never double counts.  (INCRBY on one counter
 * per bucket would double count the first case's re-sent increments or
 * lose the second case's earlier ones.)  The read cost per flush is one
 * field per active tenant, node and bucket.
 *
 * Redis down.  The thread keeps draining the workers, so nothing they
 * count is lost; the published totals become "last known total of the
 * other nodes + this node's own live count", cluster_up() answers false
 * with the last error ("redis 10.0.0.5:6379: Connection refused") for show
 * info / show insights, and the thread reconnects with exponential backoff
 * (flush_ms doubling up to backoff_max_ms, at most 1 s with sentinels).
 *
 * Failover (Redis Sentinel).  Each connect asks the sentinels for the
 * current master (core/tenant/redis_link.h).  A lost connection, a timeout
 * or a reply saying the server is not the master any more (READONLY from a
 * demoted master) drops the connection like any outage; the next connect
 * finds the promoted replica, and the resync below rewrites every count of
 * the window there, which also restores what asynchronous replication had
 * not copied before the old master died.  While the sentinels still name
 * a dead master, the reason says so ("sentinels A, B, C: master mymaster
 * at 10.0.0.5:6379: Connection refused").  The buffer of unsent counts is
 * bounded by construction: one count per tenant and bucket of the window;
 * counts whose bucket has left the window are dropped (nobody would read
 * them).  On reconnect everything in the window is written again.
 *
 * Clock.  Bucket keys must line up across nodes, so `now` given to
 * cluster_add() and cluster_tenant_total() is CLOCK_REALTIME seconds (UNIX
 * time), and the thread itself uses CLOCK_REALTIME; keep the nodes' clocks
 * in NTP sync (skew below a bucket costs little: an event may count in a
 * neighbouring bucket).  Every node must use the same window shape.
 *
 * Lag.  cluster_tenant_total() is as fresh as the last flush: up to
 * flush_ms (plus a command round trip) behind, for this node's own events
 * too.  A worker should treat the tenant as over quota when either its
 * local window (tenant_over_quota(), immediate for every worker's events
 * on this node) or the cluster total reaches the quota; what that misses
 * is the cluster's events (this node's included) since the last flush.
 *
 * Ownership: the instance borrows the tenant table given to cluster_start()
 * (names, shard count, window); the table must outlive the instance.  A
 * reload that changes the tenants or the window starts a new instance with
 * the new table and stops the old one (cluster_stop() flushes what it can);
 * each instance has its own node id, so the old instance's fields keep
 * counting in Redis until they expire.
 */
#ifndef SLUICE_CORE_TENANT_CLUSTER_H
#define SLUICE_CORE_TENANT_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/tenant/tenant.h"

/* Where Redis is and how to talk to it.  Zero fields take the default.
 * Either host and port (one Redis) or sentinels and master (Redis Sentinel:
 * the master is looked up at each connect, core/tenant/redis_link.h). */
struct cluster_config {
	const char *host;	/* Redis host name or address ("127.0.0.1") */
	int port;		/* Redis TCP port (6379) */
	const char *const *sentinels;	/* "host:port" of each sentinel */
	size_t nsentinels;	/* 0: host and port */
	const char *master;	/* the master's name at the sentinels */
	const char *sentinel_password;	/* AUTH for the sentinels, NULL or
				   "": none */
	unsigned flush_ms;	/* drain, write and read period (250) */
	unsigned timeout_ms;	/* connect and command timeout (500) */
	unsigned backoff_max_ms;	/* reconnect backoff cap (5000) */
	const char *password;	/* AUTH password of Redis (the master), NULL
				   or "": none */
	const char *prefix;	/* key prefix ("sluice:tq:"), to share one
				   Redis between clusters */
	const char *node;	/* readable node name (host name); the node id
				   is "<node>:<pid>:<random>", unique per
				   instance; '/' is replaced by '_' */
};

/* Counters of one instance, for show info / show insights / metrics. */
struct cluster_stats {
	bool up;		/* last flush reached Redis */
	uint64_t since;		/* UNIX time up or down began */
	uint64_t flushes;	/* thread cycles completed */
	uint64_t connects;	/* connections established */
	uint64_t failures;	/* failed connects or commands */
	uint64_t writes;	/* counts stored in Redis (HSET acknowledged) */
	uint64_t dropped;	/* events whose bucket had left the window
				   before they could be stored */
	uint64_t unsent;	/* bucket counts waiting for Redis, at the
				   last flush */
};

struct cluster;

/*
 * Start an instance for the tenants of t (borrowed: must outlive the
 * instance; its shard count is the number of workers that may call
 * cluster_add(), its window the cluster's window) and its thread, which
 * connects in the background: the instance starts "down" and cluster_start()
 * succeeds whether Redis answers or not.  *out is the caller's:
 * cluster_stop().  Returns 0, -EINVAL (port out of range, sentinels without
 * a master name), -ENOMEM,
 * or the negative errno of the thread or eventfd creation.  Main thread.
 */
int cluster_start(const struct cluster_config *cfg,
		  const struct tenant_table *t, struct cluster **out);

/* Stop the thread after a last drain and, when Redis is up, a last write,
 * then free c.  NULL is a no-op.  Main thread, once no worker uses c. */
void cluster_stop(struct cluster *c);

/* Count n events of tenant index idx (tenant_table_find() on the table
 * given to cluster_start()) at time now (UNIX seconds).  Worker `worker`
 * only, like tenant_count_add(); out-of-range idx or worker is ignored.
 * No allocation, no lock, no locked instruction. */
void cluster_add_idx(struct cluster *c, size_t idx, unsigned worker,
		     uint64_t now, uint32_t n);

/* Same by tenant name (NUL-terminated); an unknown tenant is ignored.
 * Costs a table lookup more. */
void cluster_add(struct cluster *c, const char *tenant, unsigned worker,
		 uint64_t now, uint32_t n);

/* Events of tenant idx in the cluster's window ending at now (UNIX
 * seconds), as of the last flush (see "Lag").  Any thread; lock-free. */
uint64_t cluster_tenant_total_idx(const struct cluster *c, size_t idx,
				  uint64_t now);

/* Same by tenant name; 0 for an unknown tenant. */
uint64_t cluster_tenant_total(const struct cluster *c, const char *tenant,
			      uint64_t now);

/* True when the last flush reached Redis.  When why is not NULL it gets
 * the reason for being down ("redis 127.0.0.1:6379: Connection refused",
 * "not connected yet"), or "" when up.  Any thread. */
bool cluster_up(const struct cluster *c, char *why, size_t len);

/* Fill st with c's counters.  Any thread. */
void cluster_stats(const struct cluster *c, struct cluster_stats *st);

/* "host:port" of the Redis server of the current connection, or of the
 * last one while down; "" before the first.  Any thread. */
void cluster_addr(const struct cluster *c, char *buf, size_t len);

/* This instance's node id (the field suffix in Redis). */
const char *cluster_node_id(const struct cluster *c);

/* Run a flush now instead of at the end of the period (one eventfd write:
 * not for the hot path; for control commands and tests).  Any thread. */
void cluster_kick(struct cluster *c);

#endif /* SLUICE_CORE_TENANT_CLUSTER_H */
