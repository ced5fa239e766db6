/*
 * libFuzzer target: the control socket's request parser (core/ctl/ctl_parse.c)
 * over the command names of core/ctl/ (copied here: the real commands hold
 * their functions, which need the whole daemon), plus a few that
 * exercise longest-match.  The first input byte picks the error buffer's
 * size; the rest is the line.
 *
 * Invariants: a found command's words are exactly the line's first words
 * and no longer entry matches (checked against a plain strtok reading,
 * which is how the parser worked before it was split out); the arguments
 * are the remaining words, non-empty, blank-free, inside the line; a
 * refusal leaves a terminated printable one-line reason inside its buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctl/ctl_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct ctl_cmd tab[] = {
	{ "help", "", "", false, NULL }, { "show info", "", "", false, NULL },
	{ "show stats", "", "", false, NULL }, { "show connectors", "", "", false, NULL },
	{ "show insights", "", "", false, NULL }, { "show queue", "", "", false, NULL },
	{ "qshape", "", "", false, NULL }, { "show metrics", "", "", false, NULL },
	{ "flush", "", "", true, NULL }, { "hold", "", "", true, NULL },
	{ "release", "", "", true, NULL }, { "delete", "", "", true, NULL },
	{ "bounce", "", "", true, NULL }, { "connector", "", "", true, NULL },
	{ "validate connector", "", "", true, NULL }, { "show tenants", "", "", false, NULL },
	{ "fix-now", "", "", true, NULL }, { "set alert", "", "", true, NULL },
	{ "reload", "", "", true, NULL }, { "quit", "", "", false, NULL },
	/* not real commands: a one-word prefix of two-word commands, three words */
	{ "show", "", "", false, NULL }, { "set alert now", "", "", true, NULL },
};

#define NTAB (sizeof(tab) / sizeof(tab[0]))

/* ctl_parse takes a list of pointers, as the daemon's commands are
 * defined in their own files. */
static const struct ctl_cmd *const cmds[] = {
	&tab[0], &tab[1], &tab[2], &tab[3], &tab[4], &tab[5], &tab[6], &tab[7],
	&tab[8], &tab[9], &tab[10], &tab[11], &tab[12], &tab[13], &tab[14], &tab[15],
	&tab[16], &tab[17], &tab[18], &tab[19], &tab[20], &tab[21],
};

_Static_assert(sizeof(cmds) / sizeof(cmds[0]) == NTAB, "cmds lists every tab entry");
#define MAXW 64

/* The line's words by strtok_r, at most MAXW; returns their number. */
static int
ref_words(char *copy, char **w)
{
	char *save, *tok;
	int n = 0;

	for (tok = strtok_r(copy, " \t", &save); tok && n < MAXW;
	     tok = strtok_r(NULL, " \t", &save))
		w[n++] = tok;
	return n;
}

/* How many words of cmd start w[0..n), 0 unless all of them do. */
static int
ref_match(const char *cmd, char **w, int n)
{
	char words[64], *save, *tok;
	int k = 0;

	if (strlen(cmd) >= sizeof(words))
		abort();
	memcpy(words, cmd, strlen(cmd) + 1);
	for (tok = strtok_r(words, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		if (k >= n || strcmp(w[k], tok) != 0)
			return 0;
		k++;
	}
	return k;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char line[8200], copy[8200];
	char err[300], *w[MAXW];
	struct ctl_req req;
	size_t len, errlen;
	int rc, n, best = 0, bad = -1;

	if (size == 0 || size - 1 >= sizeof(line))
		return 0;
	errlen = 1 + data[0] % 255;
	len = size - 1;
	memcpy(line, data + 1, len);
	line[len] = '\0';
	memcpy(copy, line, len + 1);
	memset(err, 0x5a, sizeof(err));
	rc = ctl_parse(line, len, cmds, NTAB, &req, err, errlen);

	for (size_t i = 0; i < len && bad < 0; i++)
		if (((unsigned char)copy[i] < 0x20 && copy[i] != '\t') ||
		    (unsigned char)copy[i] >= 0x7f)
			bad = (int)i;
	if (rc != 0) {
		size_t el = strnlen(err, errlen);
		if (req.cmd != NULL || el >= errlen || err[errlen] != 0x5a)
			abort();
		for (size_t i = 0; i < el; i++)
			if ((unsigned char)err[i] < 0x20 || (unsigned char)err[i] >= 0x7f)
				abort();
		return 0;
	}
	if (req.cmd == NULL || bad >= 0 || req.argc < 0 || req.argc > CTL_MAXARGS)
		abort();
	n = ref_words(copy, w);
	if (n > 1 && strcmp(w[n - 1], "json") == 0) {
		if (!req.json)
			abort();
		n--;
	} else if (req.json) {
		abort();
	}
	for (size_t i = 0; i < NTAB; i++) {
		int k = ref_match(tab[i].words, w, n);
		if (k > best)
			best = k;
	}
	if (best == 0 || ref_match(req.cmd->words, w, n) != best || n - best != req.argc)
		abort();
	for (int k = 0; k < req.argc; k++) {
		const char *a = req.argv[k];
		if (a < line || a >= line + len || strcmp(a, w[best + k]) != 0)
			abort();
	}
	return 0;
}
