/*
 * mfi_status — what a destination's own reply means to the person who
 * reads the report: for each RFC 3463 enhanced status (subject and detail;
 * the class only says whether it was final), what happened, the fix, and
 * who acts.  mfi.c has the same three texts for Sluice's own codes
 * (4.4.312 ... 4.7.320); mfi_advice() picks between the two.
 *
 * Lookup: the exact X.subject.detail, else the subject's entry (detail
 * ANY), else nothing (the caller falls back to MFI_REMOTE's general text).
 * Sluice also sends two of these statuses itself, without a remote reply:
 * 5.1.10 when fix-now returns a recipient its tenant's directory lacks,
 * 5.4.4 when no connector routes a domain any more.  Their texts are
 * written to fit both origins.
 *
 * Who: the sender fixes what is wrong in the message or its addresses
 * (RFC 3463 puts address status, X.1.X, in the sender's hands); the
 * partner or destination administrator fixes mailboxes and the receiving
 * system (X.2.X, X.3.X); routing, protocol and policy (X.4.X, X.5.X,
 * X.7.X) are the operator's side, the destination's, or both.  Each fix
 * names exactly the parties of its who (mfi_int.h).
 *
 * Pure, const tables only: any thread.
 */
#include "core/mfi/mfi.h"

#include <stdio.h>
#include <string.h>

#include "core/mfi/mfi_int.h"

#define ANY	(-1)	/* an entry for every detail of its subject */

/* The texts of one status, or of a whole subject. */
struct st_text {
	int subj;		/* X.<subj>.* */
	int det;		/* X.*.<det>, or ANY */
	const char *meaning;	/* what happened */
	const char *fix;	/* what to do, naming who does it */
	const char *who;	/* who acts (mfi_int.h) */
};

static const struct st_text st_texts[] = {
	/* X.1.X: addresses. */
	{ 1, 1, "The recipient's mailbox does not exist at the destination: "
	  "the part of the address before the @ is wrong or no longer in use.",
	  "The sender checks the recipient's address for typing errors and "
	  "sends the message again to the corrected address, or reaches the "
	  "recipient another way.", WHO_SENDER },
	{ 1, 2, "The recipient's domain (the part of the address after the @) "
	  "does not exist or does not take mail.",
	  "The sender checks the domain of the recipient's address for typing "
	  "errors and sends the message again to the corrected address.",
	  WHO_SENDER },
	{ 1, 3, "The recipient's address is not a valid address: its syntax is "
	  "wrong.",
	  "The sender corrects the recipient's address and sends the message "
	  "again.", WHO_SENDER },
	{ 1, 4, "The recipient's address matches more than one mailbox at the "
	  "destination.",
	  "The sender uses the recipient's complete, exact address and sends "
	  "the message again.", WHO_SENDER },
	{ 1, 6, "The recipient's mailbox has moved and the destination knows no "
	  "forwarding address.",
	  "The sender finds the recipient's new address and sends the message "
	  "to it.", WHO_SENDER },
	{ 1, 7, "The destination refused the sender's own address (the return "
	  "address, MAIL FROM), not the recipient's: it is not a valid "
	  "address.",
	  "The sender corrects the return address that their mail program or "
	  "application uses, and sends the message again.", WHO_SENDER },
	{ 1, 8, "The destination refused the sender's own address (the return "
	  "address, MAIL FROM) because its domain does not exist or cannot "
	  "receive mail, so no reply could reach it.",
	  "The sender uses a return address in a domain that exists and takes "
	  "mail; when that is the organisation's own domain, the operator has "
	  "its MX or address records published.", WHO_SENDER_OP },
	{ 1, 10, "The recipient's address was not found: the directory of its "
	  "domain does not list it (the use Exchange Online makes of 5.1.10; "
	  "RFC 7505 uses it for a domain whose null MX says it takes no mail).",
	  "The sender checks the recipient's address for typing errors and "
	  "sends the message again to the corrected address; if the address "
	  "should exist, the partner or destination administrator adds it to "
	  "the domain's directory.", WHO_SENDER_DEST },
	{ 1, ANY, "The destination refused an address of the message.",
	  "The sender checks the recipient's address and their own return "
	  "address for typing errors and sends the message again.",
	  WHO_SENDER },

	/* X.2.X: the recipient's mailbox. */
	{ 2, 1, "The recipient's mailbox is disabled and takes no messages.",
	  "The partner or destination administrator enables the mailbox if it "
	  "is still in use; otherwise the sender reaches the recipient another "
	  "way.", WHO_SENDER_DEST },
	{ 2, 2, "The recipient's mailbox is full.",
	  "The partner or destination administrator (or the recipient) makes "
	  "room in the mailbox or raises its quota.", WHO_DEST },
	{ 2, 3, "The message is larger than the recipient's mailbox accepts.",
	  "The sender sends a smaller message (a link instead of a large "
	  "attachment), or the partner or destination administrator raises the "
	  "mailbox's size limit.", WHO_SENDER_DEST },
	{ 2, 4, "The recipient is a mailing list that the destination could not "
	  "expand.",
	  "The partner or destination administrator, or the list's owner, "
	  "repairs the list.", WHO_DEST },
	{ 2, ANY, "The recipient's mailbox cannot take the message; the reply "
	  "may say why.",
	  "The partner or destination administrator checks the recipient's "
	  "mailbox.", WHO_DEST },

	/* X.3.X: the receiving system. */
	{ 3, 3, "The destination cannot handle a feature the message needs, "
	  "such as 8-bit or UTF-8 content.",
	  "The partner or destination administrator enables the feature on "
	  "their server; otherwise the sender sends the message as plain ASCII "
	  "text.", WHO_SENDER_DEST },
	{ 3, 4, "The message is larger than the destination accepts.",
	  "The sender sends a smaller message (a link instead of a large "
	  "attachment), or the partner or destination administrator raises the "
	  "server's size limit.", WHO_SENDER_DEST },
	{ 3, ANY, "The destination's mail system could not take the message: it "
	  "is full, not accepting mail, or misconfigured.",
	  "The partner or destination administrator checks their mail server's "
	  "storage, state and configuration.", WHO_DEST },

	/* X.4.X: network and routing. */
	{ 4, 4, "No route to the recipient's domain: no connector of this relay "
	  "routes it, or a server on the way found no route for it.",
	  "The operator adds the domain to this relay's configuration with a "
	  "connector (or restores it if it was removed by mistake); if a server "
	  "on the way said it, the partner or destination administrator fixes "
	  "that server's routing.", WHO_EITHER },
	{ 4, 6, "The message went round in a loop between mail servers.",
	  "The operator checks that the connector's smart host and the domain's "
	  "MX records do not point back at this relay; the partner or "
	  "destination administrator checks their own routing.", WHO_EITHER },
	{ 4, 7, "A server on the way gave up on the message: it waited there "
	  "too long.",
	  "The partner or destination administrator finds out why their server "
	  "could not pass the message on.", WHO_DEST },
	{ 4, ANY, "A network or routing problem at the destination or beyond it "
	  "stopped the message.",
	  "The partner or destination administrator checks their servers and "
	  "the network path behind them.", WHO_DEST },

	/* X.5.X: the SMTP conversation. */
	{ 5, 3, "The message has more recipients than the destination accepts "
	  "in one message.",
	  "The sender splits the recipients over several messages, or the "
	  "partner or destination administrator raises the limit.",
	  WHO_SENDER_DEST },
	{ 5, ANY, "This relay and the destination did not understand each other "
	  "in the SMTP conversation.",
	  "The operator and the partner or destination administrator compare "
	  "this relay's log with the server's log for the command it refused.",
	  WHO_EITHER },

	/* X.6.X: content. */
	{ 6, 7, "An address of the message has non-ASCII characters and the "
	  "destination does not support them (SMTPUTF8).",
	  "The sender uses an ASCII address for the recipient, or the partner "
	  "or destination administrator enables SMTPUTF8.", WHO_SENDER_DEST },
	{ 6, ANY, "The destination cannot take the message's content or its "
	  "encoding.",
	  "The sender sends the content in a more common form (plain text, "
	  "usual attachment types), or the partner or destination "
	  "administrator accepts it.", WHO_SENDER_DEST },

	/* X.7.X: security and policy. */
	{ 7, 1, "The destination refused the message by policy: for example it "
	  "does not accept mail from this relay's address, or blocks the "
	  "return address.",
	  "The partner or destination administrator allows this relay's "
	  "addresses if the mail is wanted; the operator checks that the relay "
	  "is on no block list.", WHO_EITHER },
	{ 7, 8, "The destination did not accept this relay's credentials.",
	  "The operator corrects the connector's user name and password.",
	  WHO_OPERATOR },
	{ 7, 10, "The destination requires TLS for this message.",
	  "The operator turns on TLS for the connector.", WHO_OPERATOR },
	{ 7, 20, "The destination found no passing DKIM signature.",
	  "The operator has the relay's mail signed with DKIM for the sending "
	  "domain.", WHO_OPERATOR },
	{ 7, 21, "The destination found no acceptable DKIM signature.",
	  "The operator has the relay's mail signed with DKIM for the sending "
	  "domain.", WHO_OPERATOR },
	{ 7, 22, "The destination found no DKIM signature of the From domain.",
	  "The operator has the relay's mail signed with DKIM for the sending "
	  "domain.", WHO_OPERATOR },
	{ 7, 23, "SPF: the sending domain does not list this relay's address.",
	  "The operator adds the relay's addresses to the sending domain's SPF "
	  "record.", WHO_OPERATOR },
	{ 7, 24, "SPF: the sending domain's record could not be evaluated.",
	  "The operator repairs the sending domain's SPF record.",
	  WHO_OPERATOR },
	{ 7, 25, "This relay's address has no matching reverse DNS name.",
	  "The operator gives the relay's addresses a PTR record whose name "
	  "resolves back to them.", WHO_OPERATOR },
	{ 7, 26, "The message failed several sender authentication checks "
	  "(SPF, DKIM, DMARC).",
	  "The operator lists the relay in the sending domain's SPF record and "
	  "has its mail signed with DKIM.", WHO_OPERATOR },
	{ 7, 27, "The sender's own domain publishes a null MX (it takes no "
	  "mail), so the destination refuses its messages.",
	  "The sender uses a return address in a domain that takes mail.",
	  WHO_SENDER },
	{ 7, ANY, "The destination refused the message for a security or policy "
	  "reason; the reply may name it.",
	  "The partner or destination administrator explains their policy; "
	  "the operator checks the relay's reputation and its SPF, DKIM and "
	  "reverse DNS.", WHO_EITHER },
};

#define NST	(sizeof(st_texts) / sizeof(st_texts[0]))

/* The table's entry for "c.s.d", or NULL. */
static const struct st_text *
st_find(const char *status)
{
	const struct st_text *sub = NULL;
	unsigned c, s, d;
	char end;

	if (status == NULL ||
	    sscanf(status, "%1u.%3u.%3u%c", &c, &s, &d, &end) != 3 ||
	    (c != 4 && c != 5))
		return NULL;
	for (size_t i = 0; i < NST; i++) {
		if (st_texts[i].subj != (int)s)
			continue;
		if (st_texts[i].det == (int)d)
			return &st_texts[i];
		if (st_texts[i].det == ANY)
			sub = &st_texts[i];
	}
	return sub;
}

bool
mfi_advice(enum mfi_code c, const char *status, struct mfi_advice *out)
{
	const struct st_text *t;

	*out = (struct mfi_advice){ 0 };
	if ((unsigned)c >= MFI_NCODES)
		c = MFI_NONE;
	if (c != MFI_NONE && c != MFI_REMOTE) {
		out->meaning = mfi_meaning(c);
		out->fix = mfi_fix(c);
		out->who = mfi_who(c);
		return true;
	}
	if ((t = st_find(status)) != NULL) {
		out->meaning = t->meaning;
		out->fix = t->fix;
		out->who = t->who;
		return true;
	}
	if (c != MFI_REMOTE)
		return false;	/* nothing known, or a status of no subject */
	out->meaning = mfi_meaning(MFI_REMOTE);
	out->fix = mfi_fix(MFI_REMOTE);
	out->who = mfi_who(MFI_REMOTE);
	return true;
}
