/*
 * ctl_parse tests: request lines to commands, table driven over a table
 * shaped like the real one (one-, two- and three-word commands, one the
 * prefix of another).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "core/ctl/ctl_parse.h"
#include "core/strb.h"

static const struct ctl_cmd tab[] = {
	{ "help", "", "", false, NULL },
	{ "show info", "", "", false, NULL },
	{ "show queue", "[CONNECTOR] [LIMIT]", "", false, NULL },
	{ "show", "", "", false, NULL },		/* a prefix of the two above */
	{ "validate connector", "NAME [RCPT [--send]]", "", true, NULL },
	{ "connector", "enable|disable NAME", "", true, NULL },
	{ "set alert threshold", "N", "", true, NULL },
};

#define NTAB (sizeof(tab) / sizeof(tab[0]))

/* ctl_parse takes a list of pointers, as the dispatcher's commands are
 * defined in their own files. */
static const struct ctl_cmd *const cmds[] = {
	&tab[0], &tab[1], &tab[2], &tab[3], &tab[4], &tab[5], &tab[6],
};

_Static_assert(sizeof(cmds) / sizeof(cmds[0]) == NTAB, "cmds lists every tab entry");

Test(ctl_parse, lines)
{
	static const struct {
		const char *line;	/* the request */
		int cmd;		/* index in tab, -1: refused */
		const char *args;	/* argv joined by '|', or the error's start */
		bool json;		/* trailing json */
	} t[] = {
		{ "help", 0, "", false },
		{ "show info", 1, "", false },
		{ "  show\tinfo  ", 1, "", false },
		{ "show queue good 10", 2, "good|10", false },
		{ "show queue json", 2, "", true },
		{ "show queue good json", 2, "good", true },
		{ "show", 3, "", false },
		{ "show infos", 3, "infos", false },	/* whole words only */
		{ "show json", 3, "", true },
		{ "json", -1, "unknown command 'json'", false },	/* not alone */
		{ "validate connector mx a@b.test", 4, "mx|a@b.test", false },
		{ "validate connector mx a@b.test --send json", 4, "mx|a@b.test|--send", true },
		{ "validate", -1, "unknown command 'validate'", false },
		{ "connector enable x", 5, "enable|x", false },
		{ "set alert threshold 5", 6, "5", false },
		{ "set alert", -1, "unknown command 'set alert'", false },
		{ "SHOW INFO", -1, "unknown command 'SHOW INFO'", false },
		{ "bogus", -1, "unknown command 'bogus'", false },
		{ "show nonsense json", 3, "nonsense", true },
		{ "", -1, "unknown command ''", false },
		{ "show\x01info", -1, "malformed command: byte 0x01 at offset 4", false },
		{ "show info \xff", -1, "malformed command: byte 0xff at offset 10", false },
		{ "show\x7f", -1, "malformed command: byte 0x7f", false },
		{ "help 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16", 0,
		  "1|2|3|4|5|6|7|8|9|10|11|12|13|14|15|16", false },
		{ "help 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17", -1,
		  "malformed command: too many arguments", false },
		{ "set alert threshold 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 json", 6,
		  "1|2|3|4|5|6|7|8|9|10|11|12|13|14|15|16", true },
		{ "a b c d e f g h i j k l m n o p q r s t u", -1,
		  "malformed command: more than 20 words", false },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb c",
		  -1, "unknown command 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa "
		  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb...'; try help", false },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char line[256], err[256];
		STRB_LOCAL(args, 256);
		size_t len = strlen(t[i].line);
		struct ctl_req req;
		int rc;

		memcpy(line, t[i].line, len + 1);
		rc = ctl_parse(line, len, cmds, NTAB, &req, err, sizeof(err));
		if (t[i].cmd < 0) {
			cr_expect_eq(rc, -EINVAL, "'%s' accepted", t[i].line);
			cr_expect_null(req.cmd, "'%s'", t[i].line);
			cr_expect(strncmp(err, t[i].args, strlen(t[i].args)) == 0,
				  "'%s': error '%s'", t[i].line, err);
			continue;
		}
		cr_assert_eq(rc, 0, "'%s': %s", t[i].line, err);
		cr_expect_eq(req.cmd, &tab[t[i].cmd], "'%s' found %s", t[i].line,
			     req.cmd->words);
		for (int k = 0; k < req.argc; k++)
			strb_printf(&args, "%s%s", k > 0 ? "|" : "", req.argv[k]);
		cr_expect_str_eq(args.p, t[i].args, "'%s'", t[i].line);
		cr_expect_eq(req.json, t[i].json, "'%s' json", t[i].line);
	}
}

/* An embedded NUL is a malformed byte, not the end of the line. */
Test(ctl_parse, nul_inside_the_line)
{
	char line[] = "show\0info";
	char err[128];
	struct ctl_req req;

	cr_expect_eq(ctl_parse(line, sizeof(line) - 1, cmds, NTAB, &req, err, sizeof(err)),
		     -EINVAL);
	cr_expect(strstr(err, "byte 0x00 at offset 4") != NULL, "%s", err);
}

/* A small error buffer gets a cut, terminated message. */
Test(ctl_parse, small_error_buffer)
{
	char line[] = "bogus";
	char err[8];
	struct ctl_req req;

	cr_expect_eq(ctl_parse(line, 5, cmds, NTAB, &req, err, sizeof(err)), -EINVAL);
	cr_expect_str_eq(err, "unknown");
}
