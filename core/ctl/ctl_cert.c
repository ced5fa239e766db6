/*
 * ctl_cert — the certificate-expiry insight, on the control thread.
 *
 * Each worker keeps, per destination and host, the certificate its last
 * TLS handshake showed (queue_dest_cert, set by the SMTP client once per
 * handshake); the snapshot round of the queue alerts (once a second, and
 * for show insights and show metrics) copies them here.  This file keeps
 * the latest per (connector, host) across workers and judges it against
 * the connector's cert_expiry_warning as the config runs it now
 * (core/mfi/mfi_cert.h): a certificate that expires within the window is
 * raised, one past its notAfter is raised as expired, and a later
 * handshake that sees a renewed certificate clears it.  Every change is
 * one cert_expiry event in the log, handed to the alert notices too
 * (core/ctl/ctl_notify.h); show insights lists what is open.
 *
 * Not for: reading certificates (tls/), or anything on a worker's path:
 * the workers only store what they saw, with no lock and no message of
 * their own.  The table lives as long as the control thread and is never
 * shrunk: one entry per (connector, host) ever seen, which the workers
 * bound (DEST_CERTS_MAX hosts per destination; MX routing only when its
 * connector asks for warnings).  Control thread only.
 */
#include "core/ctl/ctl_cert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "core/ctl/ctl_notify.h"
#include "core/ctl/ctl_table.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/mfi/mfi_cert.h"
#include "core/xalloc.h"

static struct ctl_cert *certs;	/* every (connector, host) seen */
static size_t ncerts;		/* their number */
static uint32_t *slots;		/* index + 1 into certs, 0 empty: open
				   addressing by (connector, host) */
static size_t nslots;		/* a power of two, at most half full */

static uint64_t
cert_hash(const char *connector, const char *host)
{
	uint64_t h = hash_fnv1a(connector, strlen(connector) + 1);	/* with its NUL */

	for (const char *p = host; *p != '\0'; p++)
		h = hash_fnv1a_add(h, (unsigned char)*p);
	return hash_mix64(h);
}

static void
slots_put(uint32_t idx)
{
	size_t i = cert_hash(certs[idx].connector, certs[idx].c.host) & (nslots - 1);

	while (slots[i] != 0)
		i = (i + 1) & (nslots - 1);
	slots[i] = idx + 1;
}

/* The entry of (connector, host), made (state OK, nothing seen) if new. */
static struct ctl_cert *
cert_get(const char *connector, const char *host)
{
	struct ctl_cert *e;

	if (nslots > 0)
		for (size_t i = cert_hash(connector, host) & (nslots - 1); slots[i] != 0;
		     i = (i + 1) & (nslots - 1)) {
			e = &certs[slots[i] - 1];
			if (strcmp(e->connector, connector) == 0 && strcmp(e->c.host, host) == 0)
				return e;
		}
	if (hash_slots(ncerts + 1, 64) > nslots) {
		free(slots);
		nslots = hash_slots(ncerts + 1, 64);
		slots = xcalloc(nslots, sizeof(*slots));
		for (size_t k = 0; k < ncerts; k++)
			slots_put((uint32_t)k);
	}
	certs = xrealloc(certs, (ncerts + 1) * sizeof(*certs));
	e = &certs[ncerts];
	memset(e, 0, sizeof(*e));
	snprintf(e->connector, sizeof(e->connector), "%s", connector);
	snprintf(e->c.host, sizeof(e->c.host), "%s", host);
	slots_put((uint32_t)ncerts++);
	return e;
}

/* The connector name as the workers' configs have it (worker 0 first). */
static const struct ctl_conn_cfg *
conn_cfg(struct ctl_run *r, const char *name)
{
	for (unsigned w = 0; w < ctl.nw; w++) {
		const struct ctl_snap *s = &r->reqs[w]->snap;
		for (size_t i = 0; i < s->nconn; i++)
			if (strcmp(s->conns[i].name, name) == 0)
				return &s->conns[i];
	}
	return NULL;
}

/* The texts of e's warning, with the peer's strings escaped (core/log.h). */
struct cert_text {
	char host[LOG_ESC_MAX];		/* e's host, escaped */
	char subject[LOG_ESC_MAX];	/* its certificate's subject, escaped */
	char not_after[32];		/* "2026-12-12T11:59:00Z" */
	char meaning[1024];		/* mfi_cert_meaning */
	char fix[1024];			/* mfi_cert_fix */
};

static void
cert_text(const struct ctl_cert *e, int64_t now, struct cert_text *t)
{
	struct mfi_cert_note n = {
		.state = (enum mfi_cert_state)e->state, .connector = e->connector,
		.host = t->host, .subject = t->subject, .not_after = e->c.not_after,
		.now = now, .tls = config_tls_policy_name((enum cfg_tls_policy)e->tls),
		.verify = e->tls == CFG_TLS_VERIFY,
	};
	struct strb m, f;

	log_esc(t->host, sizeof(t->host), e->c.host, strlen(e->c.host), 0);
	log_esc(t->subject, sizeof(t->subject), e->c.subject, e->c.subject_len, 0);
	mfi_cert_date(e->c.not_after, t->not_after, sizeof(t->not_after));
	strb_init(&m, t->meaning, sizeof(t->meaning));
	strb_init(&f, t->fix, sizeof(t->fix));
	mfi_cert_meaning(&n, &m);
	mfi_cert_fix(&n, &f);
}

/* One cert_expiry event: what (raised, expired, updated, cleared) with the
 * texts, or why it cleared. */
static void
cert_log(const struct ctl_cert *e, const char *what, const char *why, int64_t now)
{
	struct cert_text *t = xcalloc(1, sizeof(*t));
	json_t *o;

	cert_text(e, now, t);
	o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:s, s:I, s:s, s:I}",
		      "event", "cert_expiry", "state", what, "connector", e->connector,
		      "host", log_json_s(e->c.host),
		      "subject", log_json_str(e->c.subject, e->c.subject_len),
		      "not_after", t->not_after,
		      "days_left", (json_int_t)mfi_cert_days_left(e->c.not_after, now),
		      "tls", config_tls_policy_name((enum cfg_tls_policy)e->tls),
		      "warning", (json_int_t)e->warn);
	if (why != NULL)
		log_json_set(&o, "reason", log_json_s(why));
	else if (log_json_set(&o, "meaning", log_json_s(t->meaning)))
		log_json_set(&o, "fix", log_json_s(t->fix));
	log_json(o, "cert_expiry");
	ctl_notify_cert(&(struct ctl_notify_cert){
		.connector = e->connector, .host = t->host, .subject = t->subject,
		.not_after = t->not_after, .days_left = mfi_cert_days_left(e->c.not_after, now),
		.cert_state = mfi_cert_state_name((enum mfi_cert_state)e->state),
		.tls = config_tls_policy_name((enum cfg_tls_policy)e->tls),
		.meaning = why ? NULL : t->meaning, .fix = why ? NULL : t->fix, .why = why,
		.since = e->since }, what);
	free(t);
}

/* Judge e against its connector's settings now; log what changed. */
static void
cert_judge(struct ctl_run *r, struct ctl_cert *e, int64_t now)
{
	const struct ctl_conn_cfg *cc = conn_cfg(r, e->connector);
	enum mfi_cert_state st = MFI_CERT_OK, was = (enum mfi_cert_state)e->state;
	const char *what = NULL, *why = NULL;

	if (cc != NULL) {
		e->warn = cc->cert_warning;
		e->tls = cc->tls;
		st = mfi_cert_state(e->c.not_after, now, e->warn);
	}
	if (st == MFI_CERT_OK && was != MFI_CERT_OK) {
		what = "cleared";
		why = cc == NULL ? "connector removed" : e->warn == 0 ? "warning off"
			: e->c.not_after != e->logged_not_after ? "renewed"
			: "outside the warning window";
	} else if (st != MFI_CERT_OK && was == MFI_CERT_OK) {
		what = "raised";
		e->since = now;
	} else if (st != was) {
		what = st == MFI_CERT_EXPIRED ? "expired" : "updated";
	} else if (st != MFI_CERT_OK && e->c.not_after != e->logged_not_after) {
		what = "updated";	/* another certificate, in the window too */
	}
	if (what == NULL)
		return;
	e->state = (uint8_t)st;
	e->logged_not_after = e->c.not_after;
	cert_log(e, what, why, now);
	if (st == MFI_CERT_OK)
		e->since = 0;
}

void
ctl_certs_update(struct ctl_run *r)
{
	int64_t now = time(NULL);

	for (unsigned w = 0; w < ctl.nw; w++) {
		const struct ctl_snap *s = &r->reqs[w]->snap;
		for (size_t i = 0; i < s->ncerts; i++) {
			const struct ctl_cert_snap *o = &s->certs[i];
			struct ctl_cert *e = cert_get(o->connector, o->c.host);
			/* the latest handshake wins; in one second, the later date */
			if (o->c.seen > e->c.seen ||
			    (o->c.seen == e->c.seen && o->c.not_after > e->c.not_after))
				e->c = o->c;
		}
	}
	for (size_t i = 0; i < ncerts; i++)
		cert_judge(r, &certs[i], now);
}

const struct ctl_cert *
ctl_certs_get(size_t *n)
{
	*n = ncerts;
	return certs;
}

size_t
ctl_cert_insights(struct ctl_run *r, json_t **arr)
{
	int64_t now = time(NULL);
	struct cert_text *t = xcalloc(1, sizeof(*t));
	struct ctl_table *tab = NULL;
	size_t open = 0;

	for (size_t i = 0; i < ncerts; i++)
		open += certs[i].state != MFI_CERT_OK;
	if (open > 0 && arr == NULL) {
		ctl_printf(r, "%zu certificate%s to renew (expiring within cert_expiry_warning, "
			      "or expired)\n", open, open == 1 ? "" : "s");
		tab = ctl_table_new((const char *[]){ "CONNECTOR", "HOST", "SUBJECT", "NOT-AFTER",
						      ">LEFT", "STATE", "TLS", "SINCE", NULL });
	}
	for (size_t i = 0; i < ncerts; i++) {
		const struct ctl_cert *e = &certs[i];
		char left[32], since[32];
		if (e->state == MFI_CERT_OK)
			continue;
		cert_text(e, now, t);
		if (arr != NULL) {
			log_json_append(arr, json_pack(
				"{s:s, s:o, s:o, s:s, s:s, s:I, s:s, s:I, s:o, s:o, s:o, s:o, s:s}",
				"connector", e->connector, "host", log_json_s(e->c.host),
				"subject", log_json_str(e->c.subject, e->c.subject_len),
				"state", mfi_cert_state_name((enum mfi_cert_state)e->state),
				"not_after", t->not_after,
				"days_left", (json_int_t)mfi_cert_days_left(e->c.not_after, now),
				"tls", config_tls_policy_name((enum cfg_tls_policy)e->tls),
				"warning", (json_int_t)e->warn, "seen", ctl_json_time(e->c.seen),
				"since", ctl_json_time(e->since),
				"meaning", log_json_s(t->meaning), "fix", log_json_s(t->fix),
				"who", mfi_cert_who()));
			continue;
		}
		ctl_fmt_age(e->c.not_after - now, left, sizeof(left));
		ctl_fmt_time(e->since, since, sizeof(since));
		ctl_table_row(tab, e->connector, t->host, t->subject[0] ? t->subject : "-",
			      t->not_after, left,
			      mfi_cert_state_name((enum mfi_cert_state)e->state),
			      config_tls_policy_name((enum cfg_tls_policy)e->tls), since);
	}
	if (tab != NULL) {
		ctl_table_print(tab, r);
		for (size_t i = 0; i < ncerts; i++) {
			const struct ctl_cert *e = &certs[i];
			if (e->state == MFI_CERT_OK)
				continue;
			cert_text(e, now, t);
			ctl_printf(r, "%s %s: what happened: %s\n", e->connector, t->host,
				   t->meaning);
			ctl_printf(r, "%s %s: how to fix: %s\n", e->connector, t->host, t->fix);
		}
	}
	free(t);
	return open;
}

void
ctl_certs_fini(void)
{
	free(certs);
	free(slots);
	certs = NULL;
	slots = NULL;
	ncerts = nslots = 0;
}
