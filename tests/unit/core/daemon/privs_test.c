/*
 * privs_test — core/daemon/privs without changing who runs the test: the
 * account lookup (what `sluiced -t` checks) and its messages, the decision
 * whether to drop for root and for an ordinary user, and the spool check
 * on a directory that is or is not the user's.  The drop itself changes
 * the process for good: tests/integration/test_privs.py runs sluiced.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/daemon/privs.h"

static struct config *
cfg_with(const char *user, const char *group, const char *control_group)
{
	static struct config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.path = "sluice.yaml";
	cfg.user = (char *)user;
	cfg.group = (char *)group;
	cfg.control_group = (char *)control_group;
	return &cfg;
}

Test(privs, lookup)
{
	struct passwd *pw = getpwuid(0);
	struct group *gr = getgrgid(0);
	struct privs p;
	char err[256];

	cr_assert_not_null(pw);
	cr_assert_not_null(gr);
	cr_expect_eq(privs_lookup(cfg_with(NULL, NULL, NULL), &p, err, sizeof(err)), 0);
	cr_expect_not(p.user, "no user: nothing to become");

	cr_assert_eq(privs_lookup(cfg_with(pw->pw_name, NULL, gr->gr_name), &p, err,
				  sizeof(err)), 0, "%s", err);
	cr_expect(p.user);
	cr_expect_eq(p.uid, 0);
	cr_expect_eq(p.gid, pw->pw_gid, "the user's primary group by default");
	cr_expect(p.control_group);
	cr_expect_eq(p.control_gid, 0);
	cr_expect_not(p.drop, "lookup never decides");

	cr_expect_eq(privs_lookup(cfg_with("no-such-user-x", NULL, NULL), &p, err, sizeof(err)),
		     -ENOENT);
	cr_expect_str_eq(err, "sluice.yaml: user 'no-such-user-x' does not exist");
	cr_expect_eq(privs_lookup(cfg_with(pw->pw_name, "no-such-group-x", NULL), &p, err,
				  sizeof(err)), -ENOENT);
	cr_expect_str_eq(err, "sluice.yaml: group 'no-such-group-x' does not exist");
	cr_expect_eq(privs_lookup(cfg_with(NULL, NULL, "no-such-group-y"), &p, err,
				  sizeof(err)), -ENOENT);
	cr_expect_str_eq(err, "sluice.yaml: control_group 'no-such-group-y' does not exist");
	cr_expect_eq(privs_lookup(cfg_with(NULL, gr->gr_name, NULL), &p, err, sizeof(err)),
		     -EINVAL);
	cr_expect(strstr(err, "is set but no user: set user: too") != NULL, "%s", err);
}

Test(privs, decide)
{
	struct privs p = { .user = true, .uid = geteuid(), .gid = getegid() };
	char err[256];

	snprintf(p.name, sizeof(p.name), "me");
	cr_expect_eq(privs_decide(&p, err, sizeof(err)), 0);
	cr_expect_not(p.drop, "already the user (root included): nothing to drop");

	p.uid = geteuid() + 1;
	if (geteuid() == 0) {
		cr_expect_eq(privs_decide(&p, err, sizeof(err)), 0);
		cr_expect(p.drop, "root becomes the user");
	} else {
		cr_expect_eq(privs_decide(&p, err, sizeof(err)), -EPERM);
		cr_expect(strstr(err, "which cannot become it") != NULL, "%s", err);
	}
	p.user = false;
	cr_expect_eq(privs_decide(&p, err, sizeof(err)), 0);
	cr_expect_not(p.drop, "no user: nothing to drop");
}

Test(privs, spool_of_another)
{
	char dir[] = "/tmp/sluice-privs-test-XXXXXX", want[256], err[512];
	struct privs p = { .user = true, .drop = true, .uid = geteuid() + 1, .gid = 0 };

	snprintf(p.name, sizeof(p.name), "other");
	snprintf(p.group, sizeof(p.group), "grp");
	cr_assert_not_null(mkdtemp(dir));
	cr_expect_eq(privs_spool(dir, &p, err, sizeof(err)), -EACCES);
	snprintf(want, sizeof(want), "spool: %s belongs to uid %u, not to other (uid %u), who "
		 "runs sluiced: chown -R other:grp %s", dir, (unsigned)geteuid(),
		 (unsigned)geteuid() + 1, dir);
	cr_expect_str_eq(err, want);
	p.drop = false;
	cr_expect_eq(privs_spool(dir, &p, err, sizeof(err)), 0, "only checked when dropping");
	rmdir(dir);
}
