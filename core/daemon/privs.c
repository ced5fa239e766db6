/*
 * privs — the user sluiced becomes (core/daemon/privs.h): account lookup,
 * the spool and control socket made ready for that user while still root,
 * the drop itself and the checks after it.
 *
 * The drop, in the order that can work: setgroups (needs root), setgid
 * (needs root), setuid last (after it nothing above is allowed).  glibc
 * applies each to every thread of the process (the workers exist already,
 * parked between binding and opening their spools), so no thread keeps
 * root.  setuid from root to another uid also empties the capability sets
 * (no SECBIT_KEEP_CAPS is set), including CAP_NET_BIND_SERVICE: the
 * listeners are bound before, and a reload never binds again; the bounding
 * set is emptied first too, where root may.  Then it is checked, not
 * assumed: every id is the user's, setuid(0) and setgid(0) fail, capget
 * shows nothing permitted, effective or inheritable.
 *
 * io_uring: the rings are made as root, but a request runs with the
 * credentials of the thread when it is submitted (io-wq workers included),
 * and nothing is submitted before the drop; the spool test checks that
 * every file written through a ring belongs to the user.
 */
#include "core/daemon/privs.h"

#include <errno.h>
#include <dirent.h>
#include <grp.h>
#include <libgen.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/config.h"
#include "core/file.h"
#include "core/log.h"
#include "core/strb.h"

/* getpwnam_r/getgrnam_r buffers: large groups have long member lists */
#define ACCOUNT_BUF 65536

int
privs_lookup(const struct config *cfg, struct privs *p, char *err, size_t errlen)
{
	char *buf = malloc(ACCOUNT_BUF);
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	int rc = 0;

	memset(p, 0, sizeof(*p));
	if (buf == NULL)
		return -ENOMEM;
	if (cfg->user != NULL) {
		getpwnam_r(cfg->user, &pw, buf, ACCOUNT_BUF, &pwp);
		if (pwp == NULL) {
			snprintf(err, errlen, "%s: user '%s' does not exist", cfg->path, cfg->user);
			rc = -ENOENT;
			goto out;
		}
		p->user = true;
		p->uid = pw.pw_uid;
		p->gid = pw.pw_gid;
		snprintf(p->name, sizeof(p->name), "%s", cfg->user);
		snprintf(p->group, sizeof(p->group), "%u", (unsigned)pw.pw_gid);
		if (getgrgid_r(pw.pw_gid, &gr, buf, ACCOUNT_BUF, &grp) == 0 && grp != NULL)
			snprintf(p->group, sizeof(p->group), "%s", gr.gr_name);
	}
	if (cfg->group != NULL) {
		if (!p->user) {
			snprintf(err, errlen, "%s: group '%s' is set but no user: set user: "
				 "too", cfg->path, cfg->group);
			rc = -EINVAL;
			goto out;
		}
		getgrnam_r(cfg->group, &gr, buf, ACCOUNT_BUF, &grp);
		if (grp == NULL) {
			snprintf(err, errlen, "%s: group '%s' does not exist", cfg->path,
				 cfg->group);
			rc = -ENOENT;
			goto out;
		}
		p->gid = gr.gr_gid;
		snprintf(p->group, sizeof(p->group), "%s", cfg->group);
	}
	if (cfg->control_group != NULL) {
		getgrnam_r(cfg->control_group, &gr, buf, ACCOUNT_BUF, &grp);
		if (grp == NULL) {
			snprintf(err, errlen, "%s: control_group '%s' does not exist", cfg->path,
				 cfg->control_group);
			rc = -ENOENT;
			goto out;
		}
		p->control_group = true;
		p->control_gid = gr.gr_gid;
	}
out:
	free(buf);
	return rc;
}

int
privs_decide(struct privs *p, char *err, size_t errlen)
{
	p->drop = false;
	if (!p->user)
		return 0;
	if (geteuid() == 0) {
		p->drop = p->uid != 0;	/* user: root is what it says */
		return 0;
	}
	if (geteuid() != p->uid) {
		snprintf(err, errlen, "configured to run as user '%s' (uid %u), but started "
			 "as uid %u, which cannot become it: start sluiced as root or as "
			 "'%s'", p->name, (unsigned)p->uid, (unsigned)geteuid(), p->name);
		return -EPERM;
	}
	if (getegid() != p->gid) {
		snprintf(err, errlen, "configured to run as group '%s' (gid %u), but started "
			 "as gid %u, which cannot become it: start sluiced as root or with "
			 "that group", p->group, (unsigned)p->gid, (unsigned)getegid());
		return -EPERM;
	}
	return 0;
}

/* The fix for a spool that is not the user's. */
static int
not_ours(const char *what, const struct stat *st, const char *dir, const struct privs *p,
	 char *err, size_t errlen)
{
	snprintf(err, errlen, "spool: %s belongs to uid %u, not to %s (uid %u), who runs "
		 "sluiced: chown -R %s:%s %s", what, (unsigned)st->st_uid, p->name,
		 (unsigned)p->uid, p->name, p->group, dir);
	return -EACCES;
}

/* Every entry of the directory path (not "." and ".."), and those of its
 * w<N> subdirectories when top, must be the user's. */
static int
spool_entries(const char *path, const char *root, bool top, const struct privs *p,
	      char *err, size_t errlen)
{
	DIR *d = opendir(path);
	struct dirent *de;
	struct stat st;
	int rc = 0;

	if (d == NULL) {
		snprintf(err, errlen, "spool: %s: %s", path, strerror(errno));
		return -errno;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		char sub[4200];
		struct strb sb;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		strb_init(&sb, sub, sizeof(sub));
		strb_printf(&sb, "%s/%s", path, de->d_name);
		if (sb.trunc || lstat(sub, &st) < 0)
			continue;
		if (st.st_uid != p->uid)
			rc = not_ours(sub, &st, root, p, err, errlen);
		else if (top && S_ISDIR(st.st_mode) && de->d_name[0] == 'w')
			rc = spool_entries(sub, root, false, p, err, errlen);
	}
	closedir(d);
	return rc;
}

int
privs_spool(const char *dir, const struct privs *p, char *err, size_t errlen)
{
	char parent[4096];
	struct stat st;
	int rc;

	if (!p->drop)
		return 0;
	if (lstat(dir, &st) < 0 && errno == ENOENT) {
		snprintf(parent, sizeof(parent), "%s", dir);
		rc = file_mkdirs(dirname(parent), 0755);
		if (rc < 0 || (mkdir(dir, 0700) < 0 && errno != EEXIST) ||
		    chown(dir, p->uid, p->gid) < 0) {
			rc = rc < 0 ? rc : -errno;
			snprintf(err, errlen, "spool %s: cannot create it for %s: %s", dir,
				 p->name, strerror(-rc));
			return rc;
		}
		log_info("spool %s created for %s", dir, p->name);
	}
	if (lstat(dir, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "spool %s: %s", dir, strerror(errno));
		return rc;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "spool %s: not a directory", dir);
		return -ENOTDIR;
	}
	if (st.st_uid != p->uid)
		return not_ours(dir, &st, dir, p, err, errlen);
	return spool_entries(dir, dir, true, p, err, errlen);
}

/* The directory part of path into out ("." for a bare name). */
static const char *
dir_of(const char *path, char *out, size_t len)
{
	snprintf(out, len, "%s", path);
	return dirname(out);
}

int
privs_control_dir(const char *sock, const struct privs *p, char *err, size_t errlen)
{
	char buf[4096];
	const char *dir = dir_of(sock, buf, sizeof(buf));

	if (!p->drop || access(dir, F_OK) == 0)
		return 0;
	if (mkdir(dir, 0750) < 0 ||
	    chown(dir, p->uid, p->control_group ? p->control_gid : p->gid) < 0) {
		int rc = -errno;

		snprintf(err, errlen, "control socket %s: cannot create %s for %s: %s", sock,
			 dir, p->name, strerror(errno));
		return rc;
	}
	return 0;
}

int
privs_control_socket(const char *sock, const struct privs *p, char *err, size_t errlen)
{
	uid_t uid = p->drop ? p->uid : (uid_t)-1;
	gid_t gid = p->control_group ? p->control_gid : p->drop ? p->gid : (gid_t)-1;

	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(sock, uid, gid) < 0) {
		int rc = -errno;

		snprintf(err, errlen, "control socket %s: cannot give it to %s%s: %s%s", sock,
			 p->drop ? p->name : "group ", p->drop ? "" : p->group, strerror(errno),
			 rc == -EPERM ? " (sluiced's user must be in control_group, or "
			 "start it as root)" : "");
		return rc;
	}
	if (p->control_group && chmod(sock, 0660) < 0) {
		int rc = -errno;

		snprintf(err, errlen, "control socket %s: chmod 0660: %s", sock, strerror(errno));
		return rc;
	}
	return 0;
}

/* True when no capability is permitted, effective or inheritable. */
static bool
caps_empty(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	memset(d, 0xff, sizeof(d));
	if (syscall(SYS_capget, &h, d) < 0)
		return false;
	for (int i = 0; i < 2; i++)
		if (d[i].permitted || d[i].effective || d[i].inheritable)
			return false;
	return true;
}

int
privs_drop(const struct privs *p, char *err, size_t errlen)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (!p->drop)
		return 0;
	/* the bounding set too, where root may (CAP_SETPCAP): belt and braces,
	   as nothing is executed and no_new_privs is set below */
	for (int c = 0; c <= CAP_LAST_CAP; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			break;
	if (setgroups(1, &p->gid) < 0) {
		snprintf(err, errlen, "setgroups(%u): %s", (unsigned)p->gid, strerror(errno));
		return -errno;
	}
	if (setgid(p->gid) < 0) {
		snprintf(err, errlen, "setgid(%u): %s", (unsigned)p->gid, strerror(errno));
		return -errno;
	}
	if (setuid(p->uid) < 0) {
		snprintf(err, errlen, "setuid(%u): %s", (unsigned)p->uid, strerror(errno));
		return -errno;
	}
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 ||
	    ru != p->uid || eu != p->uid || su != p->uid ||
	    rg != p->gid || eg != p->gid || sg != p->gid) {
		snprintf(err, errlen, "after the drop the ids are not %s's", p->name);
		return -EPERM;
	}
	if (setuid(0) == 0 || setgid(0) == 0) {
		snprintf(err, errlen, "after the drop to %s, root could be regained", p->name);
		return -EPERM;
	}
	if (!caps_empty()) {
		snprintf(err, errlen, "after the drop to %s, capabilities are left", p->name);
		return -EPERM;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		snprintf(err, errlen, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/* Warn when the user cannot read path, which a reload reads again. */
static void
reload_reads(const char *path, const char *what, const struct privs *p)
{
	if (path != NULL && access(path, R_OK) < 0)
		log_warn("%s %s is not readable by %s (%s): a reload will fail until it is",
			 what, path, p->name, strerror(errno));
}

int
privs_check_later(const struct config *cfg, const struct privs *p, const char *state_file,
		  char *err, size_t errlen)
{
	char buf[4096];
	const char *dir;

	if (!p->user)
		return 0;
	if (access(cfg->spool_dir, R_OK | W_OK | X_OK) < 0) {
		snprintf(err, errlen, "spool %s: %s cannot use it (%s): check the modes of "
			 "its parent directories", cfg->spool_dir, p->name, strerror(errno));
		return -EACCES;
	}
	dir = dir_of(state_file, buf, sizeof(buf));
	if (access(dir, W_OK | X_OK) < 0) {
		snprintf(err, errlen, "state_file %s: %s cannot write in %s (%s), so fix-now "
			 "switches could not be kept: give it the directory or set state_file",
			 state_file, p->name, dir, strerror(errno));
		return -EACCES;
	}
	if (cfg->path[0] != '(')		/* not the built-in config */
		reload_reads(cfg->path, "config", p);
	reload_reads(cfg->tls_cert, "tls cert", p);
	reload_reads(cfg->tls_key, "tls key", p);
	reload_reads(cfg->tls_ticket_key, "tls ticket_key_file", p);
	for (size_t i = 0; i < cfg->nconnectors; i++)
		reload_reads(cfg->connectors[i].tls_ca, "tls_ca", p);
	for (size_t i = 0; i < cfg->ntenants; i++)
		reload_reads(cfg->tenants[i].directory, "directory", p);
	dir = dir_of(cfg->control_socket, buf, sizeof(buf));
	if (access(dir, W_OK | X_OK) < 0)
		log_warn("control socket directory %s is not writable by %s: the socket "
			 "stays behind at exit (a later start as root replaces it)", dir, p->name);
	return 0;
}
