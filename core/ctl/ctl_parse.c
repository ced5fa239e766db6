/*
 * ctl_parse — request lines.  Every byte is checked before anything is
 * split, so a NUL or a control byte never reaches a command; words are
 * compared exactly (case-sensitive, as `help` lists them).
 */
#include "core/ctl/ctl_parse.h"

#include <errno.h>
#include <string.h>

#include "core/strb.h"

/* Words in a line at most: the longest command, its arguments, "json". */
#define CTL_MAXWORDS (CTL_MAXCMDW + CTL_MAXARGS + 1)

/* How many of cmd's words (one space apart) start w[0..n); 0 if not all. */
static int
cmd_match(const char *cmd, char *const *w, int n)
{
	int k = 0;

	while (*cmd != '\0') {
		size_t l = strcspn(cmd, " ");

		if (k >= n || strlen(w[k]) != l || memcmp(w[k], cmd, l) != 0)
			return 0;
		k++;
		cmd += l;
		while (*cmd == ' ')
			cmd++;
	}
	return k;
}

int
ctl_parse(char *line, size_t len, const struct ctl_cmd *const *tab, size_t ntab,
	  struct ctl_req *req, char *err, size_t errlen)
{
	char *w[CTL_MAXWORDS];
	int n = 0, used = 0;
	struct strb sb;
	size_t i = 0;

	memset(req, 0, sizeof(*req));
	strb_init(&sb, err, errlen);
	for (size_t k = 0; k < len; k++) {
		unsigned char ch = (unsigned char)line[k];
		if ((ch < 0x20 && ch != '\t') || ch >= 0x7f) {
			strb_printf(&sb, "malformed command: byte 0x%02x at offset %zu (only "
				    "printable ASCII); try help", ch, k);
			return -EINVAL;
		}
	}
	while (i < len) {
		while (i < len && (line[i] == ' ' || line[i] == '\t'))
			line[i++] = '\0';
		if (i == len)
			break;
		if (n == CTL_MAXWORDS) {
			strb_printf(&sb, "malformed command: more than %d words", CTL_MAXWORDS);
			return -EINVAL;
		}
		w[n++] = line + i;
		while (i < len && line[i] != ' ' && line[i] != '\t')
			i++;
	}
	line[len] = '\0';
	if (n > 1 && strcmp(w[n - 1], "json") == 0) {
		req->json = true;
		n--;
	}
	for (size_t t = 0; t < ntab; t++) {
		int k = cmd_match(tab[t]->words, w, n);
		if (k > used) {
			req->cmd = tab[t];
			used = k;
		}
	}
	if (req->cmd == NULL) {
		STRB_LOCAL(shown, 80);
		for (int k = 0; k < n && k < 3; k++)
			strb_printf(&shown, "%s%s", k ? " " : "", w[k]);
		strb_mark_cut(&shown, "...");
		strb_printf(&sb, "unknown command '%s'; try help", shown.p);
		return -EINVAL;
	}
	if (n - used > CTL_MAXARGS) {
		req->cmd = NULL;
		strb_printf(&sb, "malformed command: too many arguments");
		return -EINVAL;
	}
	req->argc = n - used;
	for (int k = 0; k < req->argc; k++)
		req->argv[k] = w[used + k];
	return 0;
}
