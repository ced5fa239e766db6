/*
 * privs — who sluiced runs as.  Started as root with `user:` configured,
 * sluiced does what needs root first (read the TLS keys, bind the
 * listeners, open the log and the control socket), gives the files it
 * will keep using to the user, then drops to that user and group for good
 * and checks it cannot come back; only then does it open the spool, so
 * every spool file belongs to the user.  Started as that user already, it
 * has nothing to drop.
 *
 * Not for: what is opened in between (core/daemon/sluiced.c orders the
 * steps), or who may use the control socket's commands (core/ctl/).
 * Main thread, at start-up, before the workers open their spools.
 */
#ifndef SLUICE_CORE_DAEMON_PRIVS_H
#define SLUICE_CORE_DAEMON_PRIVS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct config;

/* The accounts of a config, looked up. */
struct privs {
	bool user;		/* user: is configured */
	bool drop;		/* ... and we are root, to become it */
	uid_t uid;		/* the user's uid */
	gid_t gid;		/* group:, or the user's primary group */
	bool control_group;	/* control_group: is configured */
	gid_t control_gid;	/* its gid */
	char name[40];		/* the user's name, for messages */
	char group[40];		/* the group's name */
};

/*
 * Look up cfg's user, group and control_group in the system's account
 * databases into *p (drop stays false).  Returns 0, or -ENOENT with "user
 * 'x' does not exist" (or the group's) in err.  What `sluiced -t` checks.
 */
int privs_lookup(const struct config *cfg, struct privs *p, char *err, size_t errlen);

/*
 * Decide whether to drop: root with a user that is not root does; the
 * user itself does not need to; anyone else cannot become the user and
 * gets -EPERM with the reason in err.  Sets p->drop.
 */
int privs_decide(struct privs *p, char *err, size_t errlen);

/*
 * When dropping: make the spool root if missing (its parents 0755, itself
 * 0700, owned by the user), and refuse one that the user does not own, or
 * whose files (spool.key, lock, w<N>/ and the segments in them) are
 * another's, with the chown that fixes it in err.  Returns 0 or -errno.
 */
int privs_spool(const char *dir, const struct privs *p, char *err, size_t errlen);

/*
 * When dropping: make the control socket's directory if missing, owned by
 * the user (group control_group, or the user's group; mode 0750), so that
 * the daemon can remove and replace its socket later.  Before ctl_start.
 */
int privs_control_dir(const char *sock, const struct privs *p, char *err, size_t errlen);

/*
 * After ctl_start: the socket to the user when dropping, and with
 * control_group to that group, mode 0660 (else it stays 0600).  Returns 0
 * or -errno with err.
 */
int privs_control_socket(const char *sock, const struct privs *p, char *err,
			 size_t errlen);

/*
 * Become the user: setgroups to the one group, setgid, setuid, each
 * checked; then check that real, effective and saved ids are the user's,
 * that setuid(0) and setgid(0) fail, and that no capability is left.
 * Also sets no_new_privs.  Returns 0, or -errno with what failed in err
 * (the caller must not go on).
 */
int privs_drop(const struct privs *p, char *err, size_t errlen);

/*
 * After the drop (or started as the user): what the user will need later.
 * The spool must be usable, and the fix-now state file writable where it
 * is (-EACCES and err otherwise); the files a reload reads again (the config, TLS certificates
 * and keys, CA files, tenant directories) and the control socket's
 * directory are only warned about when the user cannot read (write) them.
 * Nothing without user:.
 */
int privs_check_later(const struct config *cfg, const struct privs *p,
		      const char *state_file, char *err, size_t errlen);

#endif
