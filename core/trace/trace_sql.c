/*
 * trace_sql — a trace query's SQL (core/trace/trace_sql.h).
 */
#include "core/trace/trace_sql.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/strb.h"

#define DEFAULT_LIMIT 100

bool
trace_sql_is_glob(const char *p)
{
	return strpbrk(p, "*?") != NULL;
}

bool
trace_sql_like_prefix(const char *p, char *out, size_t cap)
{
	size_t k = 0;

	for (; *p != '\0' && *p != '*' && *p != '?'; p++) {
		bool esc = *p == '%' || *p == '_' || *p == '\\';
		if (k + (esc ? 2 : 1) + 2 > cap)
			break;		/* a shorter prefix still narrows */
		if (esc)
			out[k++] = '\\';
		out[k++] = *p;
	}
	if (k == 0) {
		if (cap > 0)
			out[0] = '\0';
		return false;
	}
	out[k++] = '%';
	out[k] = '\0';
	return true;
}

int64_t
trace_sql_id_of(int64_t unix_s)
{
	return unix_s <= 0 ? 0 : (int64_t)((uint64_t)(uint32_t)unix_s << 32);
}

static void
param_int(struct trace_sql *q, int64_t v)
{
	q->p[q->np].text = false;
	q->p[q->np++].i = v;
}

static void
param_text(struct trace_sql *q, const char *s)
{
	q->p[q->np].text = true;
	snprintf(q->p[q->np++].s, sizeof(q->p[0].s), "%s", s);
}

/* The condition on an event row of status bit seen (fixed text). */
static const char *
seen_sql(unsigned seen)
{
	switch (seen) {
	case TRACE_SEEN_DELIVERED: return "kind = 'attempt' AND result = 'delivered'";
	case TRACE_SEEN_DEFERRED: return "kind = 'attempt' AND result = 'deferred'";
	case TRACE_SEEN_BOUNCED: return "(kind = 'attempt' AND result = 'bounced') OR"
					" kind IN ('bounce', 'fixnow')";
	case TRACE_SEEN_EXPIRED: return "kind = 'expired'";
	case TRACE_SEEN_RETURNED: return "kind = 'ndr' AND result = 'sent'";
	default: return "0";
	}
}

/* The condition on column col for pattern pat (two parameters at most). */
static void
pattern(struct trace_sql *q, struct strb *sb, const char *col, const char *pat)
{
	char like[TRACE_PAT_MAX * 2 + 2];

	if (!trace_sql_is_glob(pat)) {
		strb_printf(sb, "%s = ? COLLATE NOCASE", col);
		param_text(q, pat);
		return;
	}
	if (trace_sql_like_prefix(pat, like, sizeof(like)) &&
	    strlen(like) <= TRACE_PAT_MAX) {
		strb_printf(sb, "%s LIKE ? ESCAPE '\\' AND ", col);
		param_text(q, like);
	}
	strb_printf(sb, "trace_glob(?, %s)", col);
	param_text(q, pat);
}

int
trace_sql_build(const struct trace_filter *f, struct trace_sql *q)
{
	struct strb sb;

	if (f->limit > TRACE_LIMIT_MAX)
		return -EINVAL;
	memset(q, 0, sizeof(*q));
	strb_init(&sb, q->text, sizeof(q->text));
	strb_puts(&sb, "SELECT id, t, client, helo, sender, tenant, size, nrcpt, ref, note"
		  " FROM msg WHERE 1");
	if (f->id != 0) {
		int64_t id;
		memcpy(&id, &f->id, sizeof(id));
		strb_puts(&sb, " AND id = ?");
		param_int(q, id);
	}
	if (f->since > 0) {
		strb_puts(&sb, " AND id >= ?");
		param_int(q, trace_sql_id_of(f->since));
	}
	if (f->until > 0) {
		strb_puts(&sb, " AND id < ?");
		param_int(q, trace_sql_id_of(f->until + 1));
	}
	if (f->has_sender) {
		strb_puts(&sb, " AND ");
		if (f->sender[0] == '\0') {
			strb_puts(&sb, "sender = ''");
		} else {
			pattern(q, &sb, "sender", f->sender);
		}
	}
	if (f->has_rcpt) {
		strb_puts(&sb, " AND id IN (SELECT msg FROM rcpt WHERE ");
		pattern(q, &sb, "addr", f->rcpt);
		strb_puts(&sb, ")");
	}
	if (f->seen != 0) {
		strb_printf(&sb, " AND EXISTS (SELECT 1 FROM ev WHERE ev.msg = msg.id AND (%s))",
			    seen_sql(f->seen));
	}
	strb_puts(&sb, " ORDER BY id DESC LIMIT ?");
	/* one more than asked: tells the caller there is more */
	param_int(q, (int64_t)(f->limit ? f->limit : DEFAULT_LIMIT) + 1);
	return 0;
}
