/*
 * smtp_testmsg — the text of the connector test message (net/smtp_testmsg.h).
 * Every string the caller gives goes through put_clean, so the message is
 * 7-bit and no field can be ended early, whatever the strings hold.
 */
#include "net/smtp_testmsg.h"

#include <inttypes.h>
#include <string.h>

#include "core/strb.h"

/* Byte c as the message may carry it: printable ASCII, else '?'. */
static char
clean(char c)
{
	return (unsigned char)c >= 0x20 && (unsigned char)c < 0x7f ? c : '?';
}

/* Append s, cleaned. */
static void
put_clean(struct buf *out, const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		buf_append(out, &(char){ clean(*s) }, 1);
}

void
smtp_testmsg_id(const struct smtp_testmsg *m, char out[SMTP_TESTMSG_ID_MAX])
{
	struct strb sb;

	strb_init(&sb, out, SMTP_TESTMSG_ID_MAX);
	strb_printf(&sb, "<validate.%016" PRIx64 "@", m->unique);
	for (const char *h = m->hostname; h != NULL && *h != '\0'; h++)
		strb_putn(&sb, &(char){ clean(*h) }, 1);
	strb_puts(&sb, ">");
}

void
smtp_testmsg_build(const struct smtp_testmsg *m, struct buf *out)
{
	char id[SMTP_TESTMSG_ID_MAX];

	smtp_testmsg_id(m, id);
	buf_puts(out, "Date: ");
	put_clean(out, m->date);
	buf_puts(out, "\r\nFrom: Sluice connector validation <postmaster@");
	put_clean(out, m->hostname);
	buf_puts(out, ">\r\nTo: <");
	put_clean(out, m->rcpt);
	buf_puts(out, ">\r\nSubject: " SMTP_TESTMSG_SUBJECT "\r\nMessage-ID: ");
	buf_puts(out, id);
	buf_puts(out, "\r\n" SMTP_TESTMSG_FIELD ": ");
	put_clean(out, m->connector);
	buf_puts(out, "\r\nAuto-Submitted: auto-generated\r\n"
		 "MIME-Version: 1.0\r\n"
		 "Content-Type: text/plain; charset=us-ascii\r\n"
		 "Content-Transfer-Encoding: 7bit\r\n"
		 "\r\n"
		 "This message tests the connector ");
	put_clean(out, m->connector);
	buf_puts(out, " of the mail relay ");
	put_clean(out, m->hostname);
	buf_puts(out, ".\r\n"
		 "It was sent by `sluicectl validate connector ... --send` to check\r\n"
		 "that mail through this connector is delivered to the end of its data.\r\n"
		 "It was not queued and is never retried. Nothing needs to be done:\r\n"
		 "it may be deleted.\r\n");
}
