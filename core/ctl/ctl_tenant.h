/*
 * ctl_tenant — the control socket's tenant commands (show tenants,
 * fix-now) and the tenant facts other commands show (fix-now candidates
 * and tenant insights, for show insights).  Implemented by
 * core/ctl/ctl_tenant.c on the control thread; it uses nothing of the
 * other command files.
 */
#ifndef SLUICE_CORE_CTL_CTL_TENANT_H
#define SLUICE_CORE_CTL_CTL_TENANT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ctl/ctl_parse.h"

struct ctl_run;

extern const struct ctl_cmd ctl_cmd_show_tenants;
extern const struct ctl_cmd ctl_cmd_fixnow;

/* Internal-relay domains of connector that fix-now could switch: at most
 * max names, pointing into the running config, stored in out; returns how
 * many. */
size_t ctl_fixnow_candidates(const char *connector, const char **out, size_t max);
/* Tenant and cluster insights: printed into r's answer, or appended to
 * *arr when arr is not NULL; returns how many. */
size_t ctl_tenant_insights(struct ctl_run *r, json_t **arr);

/* One tenant's use of its invalid-recipient quota. */
struct ctl_tenant_use {
	char name[65];			/* the tenant (at most 64 bytes) */
	uint64_t invalid;		/* invalid recipients in the window (the
					   cluster's count when Redis knows more) */
	uint32_t quota;			/* per window, 0 none */
};

/* Every tenant of the running config, in a malloc()ed array of *np (the
 * caller frees it); *redis: 1 Redis up, 0 down, -1 not configured. */
struct ctl_tenant_use *ctl_tenant_usage(size_t *np, int *redis);
/* The running config's cluster link (redis:), for show info. */
struct ctl_redis_state {
	int up;				/* 1 up, 0 down, -1 no redis: */
	char master[129];		/* master name with sentinels, "" direct */
	size_t nsentinels;		/* sentinels configured, 0 direct */
	char addr[272];			/* server of the current (or, down, the
					   last) connection, "" before the first */
	char why[256];			/* reason for being down, "" when up */
	uint64_t since;			/* UNIX time up or down began */
};

/* Fill st from the running config.  Control thread. */
void ctl_redis_state(struct ctl_redis_state *st);

struct config;

/* A tenant over its invalid-recipient quota. */
struct ctl_tenant_over {
	const char *name;		/* the tenant, in cfg */
	uint64_t invalid;		/* invalid recipients in the window (the
					   cluster's count when it is larger) */
	uint32_t quota;			/* its quota */
};

/* The tenants of cfg (which the caller holds) over their quota now: at
 * most max into out; returns how many.  For the alert notices. */
size_t ctl_tenants_over(const struct config *cfg, struct ctl_tenant_over *out, size_t max);

#endif
