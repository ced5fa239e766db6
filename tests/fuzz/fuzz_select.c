/*
 * libFuzzer target: the selections of show queue and the queue actions
 * (core/ctl/ctl_select.c), the words an operator types.
 *
 * The input is split at NUL bytes: the first part is the words (printable
 * ASCII split at blanks, what the control parser passes on; the first
 * byte's low bit picks the mode), the second and third a sender and a recipient to match.
 * Invariants: a refusal leaves one printable line in its buffer, never
 * longer than it; an accepted selection's strings are terminated inside
 * their arrays; a glob's cost stays within its documented bound
 * (strlen(s) + 1) * (strlen(p) + 1) and a plain pattern (no '*' or '?')
 * matches exactly the strings equal to it without regard to ASCII case.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/ctl/ctl_select.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXW 40

static void
check_glob(const char *p, const char *s)
{
	uint64_t steps = 0;
	bool m = ctl_glob(p, s, &steps);

	if (steps > (uint64_t)(strlen(s) + 1) * (strlen(p) + 1))
		abort();	/* over its budget */
	if (strpbrk(p, "*?") == NULL && m != (strcasecmp(p, s) == 0))
		abort();	/* a plain pattern is an exact match */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[4096], *part[3] = { "", "", "" }, *argv[MAXW], err[96];
	struct ctl_sel sel;
	int argc = 0, np = 0;
	uint64_t steps = 0;

	if (size == 0 || size >= sizeof(buf))
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	part[np++] = buf;
	for (size_t i = 0; i + 1 < size && np < 3; i++)
		if (buf[i] == '\0')
			part[np++] = buf + i + 1;
	/* what ctl_parse lets through: printable ASCII and blanks */
	for (const char *c = part[0]; *c != '\0'; c++)
		if ((*c < 0x20 && *c != '\t') || *c >= 0x7f)
			return 0;
	for (char *save = NULL, *w = strtok_r(part[0], " \t", &save); w && argc < MAXW;
	     w = strtok_r(NULL, " \t", &save))
		argv[argc++] = w;

	memset(err, 'x', sizeof(err));
	if (ctl_sel_parse(argv, argc, data[0] & 1 ? CTL_SEL_ACT : CTL_SEL_LIST, 1800000000,
			  &sel, err, sizeof(err) - 16) < 0) {
		size_t n = strnlen(err, sizeof(err));

		if (n >= sizeof(err) - 16 || strchr(err, '\n') != NULL)
			abort();	/* not one terminated line in its buffer */
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)err[i] < 0x20)
				abort();
		return 0;
	}
	if (memchr(sel.connector, '\0', sizeof(sel.connector)) == NULL ||
	    memchr(sel.sender, '\0', sizeof(sel.sender)) == NULL ||
	    memchr(sel.rcpt, '\0', sizeof(sel.rcpt)) == NULL || sel.nids > CTL_SEL_IDS)
		abort();
	(void)ctl_sel_msg(&sel, part[1], 1799990000, &steps);
	(void)ctl_sel_rcpt(&sel, part[2], &steps);
	check_glob(part[1], part[2]);
	if (sel.has_sender)
		check_glob(sel.sender, part[1]);
	return 0;
}
