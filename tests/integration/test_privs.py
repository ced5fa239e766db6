"""user:, group:, control_group: (issue 11).  Started as root, sluiced binds
its listeners and control socket, drops to the user for good, and only then
opens the spool: /proc/PID/status shows the user's ids and no capability,
mail is spooled and delivered, every spool file (body files written through
the ring included) is the user's, and a reload still works.  The errors:
a spool that is someone else's, a user that cannot be become, an account
that does not exist (`sluiced -t` too), a state_file the user cannot keep.

Needs root (the CI runs the tests as root); uses nobody:nogroup, which every
Debian system has, rather than adding an account to the machine."""
import os
import pwd
import grp
import signal
import subprocess
import tempfile
import unittest

from harness import BUILD, DEFAULT_CONFIG, SLUICED, Sink, Sluiced, TestCase, wait_for
from test_hostile_guards import send

SLUICECTL = os.path.join(BUILD, "sluicectl")
USER, GROUP = "nobody", "nogroup"


def setUpModule():
    if os.geteuid() != 0:
        raise unittest.SkipTest("dropping privileges needs root (os.geteuid() != 0)")
    try:
        pwd.getpwnam(USER)
        grp.getgrnam(GROUP)
    except KeyError:
        raise unittest.SkipTest("no %s:%s account on this system" % (USER, GROUP))


def status(pid):
    """The Uid/Gid/Groups/Cap* lines of /proc/PID/status as a dict."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid", "Groups", "CapPrm", "CapEff", "CapInh", "CapAmb",
                     "NoNewPrivs"):
                out[k] = v.split()
    return out


def owners(top):
    """{path: uid} of everything below top."""
    found = {}
    for d, dirs, files in os.walk(top):
        for name in dirs + files:
            p = os.path.join(d, name)
            found[p] = os.lstat(p).st_uid
    return found


def free_low_port():
    """A privileged TCP port on 127.0.0.1 that nothing listens on."""
    import socket
    for port in range(700, 1000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise unittest.SkipTest("no free port below 1024")


def as_user(uid, gid):
    def demote():
        os.setgroups([gid])
        os.setgid(gid)
        os.setuid(uid)
    return demote


class PrivsTest(TestCase):
    def setUp(self):
        super().setUp()
        self.uid = pwd.getpwnam(USER).pw_uid
        self.gid = grp.getgrnam(GROUP).gr_gid

    def relay(self, extra="", **kw):
        d = tempfile.mkdtemp(prefix="sluice-it-")
        os.chmod(d, 0o755)                   # the user must reach its spool
        r = Sluiced(dir=d, extra=extra, **kw)
        return r

    def run_once(self, r, preexec=None):
        """Run r's sluiced expecting it to exit; (code, output)."""
        proc = subprocess.run([SLUICED, "-c", r.config], cwd=r.dir, capture_output=True,
                              text=True, timeout=20, preexec_fn=preexec)
        return proc.returncode, proc.stdout + proc.stderr

    def test_drop_then_spool_and_deliver(self):
        sink = Sink()
        self.cleanup.append(sink.stop)
        dead = Sink()                        # a port nothing will listen on
        dead.stop()
        # the socket's directory does not exist: sluiced makes it the user's;
        # a port below 1024 is bound before the drop, so no capability is kept
        low = free_low_port()
        config = DEFAULT_CONFIG.replace("{dir}/sluice.sock", "{dir}/run/sluice.sock")
        config = config.replace('listen: ["127.0.0.1:{port}"]',
                                'listen: ["127.0.0.1:{port}", "127.0.0.1:%d"]' % low)
        r = self.relay(extra="user: %s\ngroup: %s" % (USER, GROUP), sink_port=sink.port,
                       config=config,
                       domains_extra="  held.test: later",
                       connector_extra="  later:\n    smarthosts: [\"127.0.0.1:%d\"]\n"
                                       "    retry: {initial: 1h, max: 1h, jitter: 0}"
                                       % dead.port)
        r.start()
        self.cleanup.append(r.stop)
        pid = r.proc.p.pid
        st = status(pid)
        self.assertEqual(st["Uid"], [str(self.uid)] * 4, st)
        self.assertEqual(st["Gid"], [str(self.gid)] * 4, st)
        self.assertEqual(st["Groups"], [str(self.gid)], st)
        for cap in ("CapPrm", "CapEff", "CapInh", "CapAmb"):
            self.assertEqual(int(st[cap][0], 16), 0, (cap, st))
        self.assertEqual(st["NoNewPrivs"], ["1"])
        self.assertIn("running as %s:%s (uid %d, gid %d), no capabilities left"
                      % (USER, GROUP, self.uid, self.gid), r.log())

        # mail is spooled and delivered as the user
        send(r.port, n=2)
        send(low)
        wait_for(lambda: sink.messages() == 3, what="3 messages delivered")
        # one that stays queued, large enough to spill to a body file
        big = "Subject: big\r\n\r\n" + ("x" * 998 + "\r\n") * 400
        send(r.port, rcpts=("carol@held.test",), body=big)
        spool = os.path.join(r.dir, "spool")
        wait_for(lambda: any("/body/" in p for p in owners(spool)), what="a body file")
        files = owners(spool)
        self.assertTrue(any(p.endswith(".seg") for p in files), files)
        self.assertEqual({p for p, u in files.items() if u != self.uid}, set(),
                         "spool files that are not %s's" % USER)
        sock = os.path.join(r.dir, "run", "sluice.sock")
        self.assertEqual(os.stat(sock).st_uid, self.uid)
        st = os.stat(os.path.dirname(sock))
        self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o777), (self.uid, self.gid, 0o750))
        self.assertEqual(os.stat(sock).st_mode & 0o777, 0o600)

        # root may still use the control socket; a reload still works
        out = subprocess.run([SLUICECTL, "--socket", sock, "show", "info"],
                             capture_output=True, text=True, timeout=20)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        r.proc.p.send_signal(signal.SIGHUP)
        wait_for(lambda: "reloaded" in r.log(), what="reload after the drop")
        send(r.port)
        wait_for(lambda: sink.messages() == 4, what="delivered after the reload")
        self.assertEqual(r.stop(), 0)
        self.assertFalse(os.path.exists(sock), "the user removed its socket at exit")

        # and it starts again on its own spool, the queued message still there
        r.start()
        self.assertEqual(r.recovered(), 1)

    def test_trace_database_is_the_users(self):
        """The message trace's database is opened after the drop: it and its
        WAL files are the user's, and root's sluicectl reads it."""
        sink = Sink()
        self.cleanup.append(sink.stop)
        r = self.relay(extra="user: %s\ngroup: %s\ntrace: {}" % (USER, GROUP),
                       sink_port=sink.port)
        r.start()
        self.cleanup.append(r.stop)
        send(r.port)
        wait_for(lambda: sink.messages() == 1, what="delivered")
        sock = os.path.join(r.dir, "sluice.sock")
        out = wait_for(lambda: (lambda p: p if p.returncode == 0 and "delivered" in p.stdout
                                else None)(subprocess.run(
                                    [SLUICECTL, "--socket", sock, "trace"],
                                    capture_output=True, text=True, timeout=20)),
                       what="the delivery in the trace")
        self.assertIn("1 message", out.stdout)
        spool = os.path.join(r.dir, "spool")
        files = {p: u for p, u in owners(spool).items() if "trace.db" in p}
        self.assertIn(os.path.join(spool, "trace.db"), files)
        self.assertIn(os.path.join(spool, "trace.db-wal"), files)
        self.assertEqual({p for p, u in files.items() if u != self.uid}, set(),
                         "trace files that are not %s's" % USER)

    def test_group_defaults_to_primary_and_control_group(self):
        others = [g for g in ("adm", "mail", "daemon") if self.has_group(g)]
        if not others:
            self.skipTest("no adm, mail or daemon group")
        cg = grp.getgrnam(others[0]).gr_gid
        r = self.relay(extra="user: %s\ncontrol_group: %s" % (USER, others[0]))
        r.start()
        self.cleanup.append(r.stop)
        self.assertEqual(status(r.proc.p.pid)["Gid"], [str(self.gid)] * 4)
        st = os.stat(os.path.join(r.dir, "sluice.sock"))
        self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o777), (self.uid, cg, 0o660))
        self.assertIn("group %s, mode 0660" % others[0], r.log())
        # the accounts are start-up settings: a reload says so and keeps them
        with open(r.config) as f:
            text = f.read().replace("control_group: %s" % others[0], "control_group: %s" % GROUP)
        with open(r.config, "w") as f:
            f.write(text)
        r.proc.p.send_signal(signal.SIGHUP)
        wait_for(lambda: "reloaded" in r.log(), what="reload")
        self.assertIn("user, group and control_group take effect at the next start", r.log())
        self.assertEqual(os.stat(os.path.join(r.dir, "sluice.sock")).st_gid, cg)

    @staticmethod
    def has_group(name):
        try:
            grp.getgrnam(name)
            return True
        except KeyError:
            return False

    def test_spool_of_someone_else_refused(self):
        r = self.relay(extra="user: %s" % USER)
        spool = os.path.join(r.dir, "spool")
        os.mkdir(spool, 0o700)               # root's, as a run before user: left it
        rc, out = self.run_once(r)
        self.assertEqual(rc, 1, out)
        self.assertIn("spool: %s belongs to uid 0, not to %s (uid %d), who runs sluiced: "
                      "chown -R %s:%s %s" % (spool, USER, self.uid, USER, GROUP, spool), out)
        # a file inside, too
        os.chown(spool, self.uid, self.gid)
        with open(os.path.join(spool, "spool.key"), "wb") as f:
            f.write(os.urandom(32))
        rc, out = self.run_once(r)
        self.assertEqual(rc, 1, out)
        self.assertIn("spool: %s/spool.key belongs to uid 0" % spool, out)

    def test_started_as_the_user(self):
        r = self.relay(extra="user: %s\ngroup: %s" % (USER, GROUP))
        os.chown(r.dir, self.uid, self.gid)  # its spool and socket go there
        logpath = os.path.join(r.dir, "out.log")
        with open(logpath, "wb") as logf:
            proc = subprocess.Popen([SLUICED, "-c", r.config], cwd=r.dir, stdout=logf,
                                    stderr=subprocess.STDOUT,
                                    preexec_fn=as_user(self.uid, self.gid))
        self.cleanup.append(lambda: proc.kill() if proc.poll() is None else None)

        def output():
            with open(logpath) as f:
                return f.read()
        wait_for(lambda: "ready:" in output() or proc.poll() is not None, 20, what="started")
        self.assertIsNone(proc.poll(), output())
        self.assertEqual(status(proc.pid)["Uid"], [str(self.uid)] * 4)
        send(r.port)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(20), 0, output())
        self.assertNotIn("running as", output(), "nothing to drop")

        # another user, not root: cannot become it
        r2 = self.relay(extra="user: daemon")
        os.chown(r2.dir, self.uid, self.gid)
        rc, out = self.run_once(r2, preexec=as_user(self.uid, self.gid))
        self.assertEqual(rc, 1, out)
        self.assertIn("configured to run as user 'daemon' (uid %d), but started as uid %d, "
                      "which cannot become it: start sluiced as root or as 'daemon'"
                      % (pwd.getpwnam("daemon").pw_uid, self.uid), out)

    def test_unknown_accounts_refused_by_check(self):
        for extra, want in (("user: no-such-user-x", "user 'no-such-user-x' does not exist"),
                            ("user: %s\ngroup: no-such-group-x" % USER,
                             "group 'no-such-group-x' does not exist"),
                            ("control_group: no-such-group-y",
                             "control_group 'no-such-group-y' does not exist"),
                            ("group: %s" % GROUP, "group '%s' is set but no user" % GROUP)):
            r = self.relay(extra=extra)
            chk = subprocess.run([SLUICED, "-t", "-c", r.config], capture_output=True,
                                 text=True, timeout=20)
            self.assertEqual(chk.returncode, 1, extra)
            self.assertIn(want, chk.stderr, extra)
            rc, out = self.run_once(r)
            self.assertEqual(rc, 1, extra)
            self.assertIn(want, out, extra)
        r = self.relay(extra="user: %s\ngroup: %s\ncontrol_group: %s" % (USER, GROUP, GROUP))
        chk = subprocess.run([SLUICED, "-t", "-c", r.config], capture_output=True, text=True,
                             timeout=20)
        self.assertEqual(chk.returncode, 0, chk.stdout + chk.stderr)

    def test_state_file_the_user_cannot_keep(self):
        keep = tempfile.mkdtemp(prefix="sluice-it-state-")
        os.chmod(keep, 0o755)                # root's: the user cannot write there
        r = self.relay(extra="user: %s\nstate_file: %s/fixnow.txt" % (USER, keep))
        rc, out = self.run_once(r)
        self.assertEqual(rc, 1, out)
        self.assertIn("state_file %s/fixnow.txt: %s cannot write in %s" % (keep, USER, keep),
                      out)
        self.assertNotIn("recovered", out, "stopped before the spool was opened")


if __name__ == "__main__":
    unittest.main()
