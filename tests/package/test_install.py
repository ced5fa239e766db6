"""make install and make uninstall into a scratch DESTDIR, and the
installed systemd unit: systemd-analyze verify, its sandbox, and its
exposure score (systemd-analyze security --offline)."""
import os
import re
import shutil
import stat
import tempfile
import unittest

from pkg import BUILD, ROOT, WWW, Daemon, checkable, free_port, run

PATHS = ["PREFIX=/usr", "SYSCONFDIR=/etc", "LOCALSTATEDIR=/var", "RUNSTATEDIR=/run"]
FILES = {
    "usr/sbin/sluiced": 0o755,
    "usr/bin/sluicectl": 0o755,
    "usr/share/man/man8/sluiced.8": 0o644,
    "usr/share/man/man8/sluicectl.8": 0o644,
    "usr/share/man/man5/sluice.yaml.5": 0o644,
    "etc/sluice/sluice.yaml": 0o644,
    "usr/lib/systemd/system/sluice.service": 0o644,
    "usr/lib/tmpfiles.d/sluice.conf": 0o644,
    "usr/lib/sysusers.d/sluice.conf": 0o644,
    "usr/share/sluice/www/index.html": 0o644,
}
FILES.update({"usr/share/sluice/www/" + f: 0o644 for f in WWW})
# The exposure systemd-analyze security gives the unit today (2.5 with
# systemd 252): a change that loosens the sandbox fails here.
MAX_EXPOSURE = 2.5


def make(*args):
    return run(["make", "--no-print-directory", "-C", ROOT,
                "BUILD=" + os.path.relpath(BUILD, ROOT)] + list(args))


def files_under(d):
    return sorted(os.path.relpath(os.path.join(p, f), d)
                  for p, _, fs in os.walk(d) for f in fs)


class Install(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.dest = tempfile.mkdtemp(prefix="sluice-destdir-")
        cls.inst = make("install", "DESTDIR=" + cls.dest, *PATHS)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dest, ignore_errors=True)

    def path(self, rel):
        return os.path.join(self.dest, rel)

    def test_files_and_modes(self):
        self.assertEqual(self.inst.returncode, 0, self.inst.stdout + self.inst.stderr)
        self.assertEqual(files_under(self.dest), sorted(FILES))
        for rel, mode in FILES.items():
            self.assertEqual(stat.S_IMODE(os.stat(self.path(rel)).st_mode), mode, rel)

    def test_installed_daemon_checks_installed_config(self):
        p = run([self.path("usr/sbin/sluiced"), "-t", "-c",
                 checkable(self.path("etc/sluice/sluice.yaml"))])
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_dashboard_where_sluiced_serves_it(self):
        """The installed sluiced's http: static_dir is where install put
        the dashboard, for PREFIX=/usr (the package's) and another one."""
        other = tempfile.mkdtemp(prefix="sluice-destdir-")
        self.addCleanup(shutil.rmtree, other, True)
        p = make("install", "DESTDIR=" + other, "PREFIX=/opt/sluice", *PATHS[1:])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        for dest, prefix in ((self.dest, "/usr"), (other, "/opt/sluice")):
            www = prefix + "/share/sluice/www"
            with open(os.path.join(dest, www[1:], "index.html")) as f:
                self.assertIn('<script type="module" src="js/app.js">', f.read())
            with open(os.path.join(dest, "etc/sluice/sluice.yaml")) as f:
                self.assertIn("\n#  static_dir: %s\n" % www, f.read())	# its example
            sluiced = os.path.join(dest, prefix[1:], "sbin/sluiced")
            with Daemon(sluiced, extra='http: {listen: "127.0.0.1:%d"}\n' % free_port()) as d:
                p = run([os.path.join(BUILD, "sluicectl"), "--socket", d.sock, "show", "config"])
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn('\n  static_dir: "%s"' % www, p.stdout, sluiced)

    def test_sluicectl_default_socket(self):
        """The installed sluicectl talks to the installed socket; the
        development one to ./var/sluice.sock."""
        env = dict(os.environ)
        env.pop("SLUICE_SOCKET", None)
        p = run([self.path("usr/bin/sluicectl"), "show", "info"], env=env)
        self.assertEqual(p.returncode, 2)
        self.assertIn("cannot connect to /run/sluice/sluice.sock", p.stderr)
        p = run([os.path.join(BUILD, "sluicectl"), "show", "info"], env=env,
                cwd=self.dest)
        self.assertIn("./var/sluice.sock", p.stderr)

    def test_unit_paths(self):
        with open(self.path("usr/lib/systemd/system/sluice.service")) as f:
            unit = f.read()
        self.assertIn("\nExecStart=/usr/sbin/sluiced -c /etc/sluice/sluice.yaml\n", unit)
        self.assertIn("\nReadWritePaths=/var/spool/sluice\n", unit)
        self.assertNotRegex(unit, r"@[A-Z]+@", "a path left unsubstituted")
        with open(self.path("usr/lib/tmpfiles.d/sluice.conf")) as f:
            self.assertIn("d /var/spool/sluice 0750 sluice sluice -", f.read())

    def test_systemd_analyze_verify(self):
        if not shutil.which("systemd-analyze"):
            self.skipTest("systemd-analyze not installed")
        unit = self.unit_for_here()
        p = run(["systemd-analyze", "verify", unit],
                env=dict(os.environ, MANPATH=self.path("usr/share/man")))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual((p.stdout + p.stderr).strip(), "")

    def test_sandbox(self):
        """Type=notify, reload checks the file first, and the io_uring
        calls get past the system call filter."""
        with open(self.path("usr/lib/systemd/system/sluice.service")) as f:
            unit = dict(re.findall(r"^(\w+)=(.*)$", f.read(), re.M))
        self.assertEqual(unit["Type"], "notify")
        self.assertEqual(unit["ExecReload"], "+/bin/kill -HUP $MAINPID")  # the last one, with full privileges
        self.assertEqual(unit["ProtectSystem"], "strict")
        self.assertEqual(unit["NoNewPrivileges"], "yes")
        self.assertEqual(unit["RuntimeDirectory"], "sluice")
        self.assertEqual(unit["RestrictAddressFamilies"], "AF_INET AF_INET6 AF_UNIX")
        filt = unit["SystemCallFilter"].split()
        self.assertIn("@system-service", filt)
        for call in ("io_uring_setup", "io_uring_enter", "io_uring_register"):
            self.assertIn(call, filt)

    def test_security_exposure(self):
        if not shutil.which("systemd-analyze"):
            self.skipTest("systemd-analyze not installed")
        p = run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                 self.unit_for_here()])
        m = re.search(r"Overall exposure level for sluice.service: ([0-9.]+)", p.stdout)
        if m is None:
            self.skipTest("no offline security analysis here: " + p.stderr.strip())
        print("\n  systemd-analyze security: exposure %s" % m.group(1), end=" ")
        self.assertLessEqual(float(m.group(1)), MAX_EXPOSURE)

    def unit_for_here(self):
        """The installed unit with its programs where they were installed
        (verify checks that they exist)."""
        d = tempfile.mkdtemp(prefix="sluice-unit-", dir=self.dest)
        with open(self.path("usr/lib/systemd/system/sluice.service")) as f:
            unit = f.read().replace("=/usr/sbin/", "=" + self.path("usr/sbin/"))
        with open(os.path.join(d, "sluice.service"), "w") as f:
            f.write(unit)
        return os.path.join(d, "sluice.service")


class Uninstall(unittest.TestCase):

    def test_removes_all_but_a_changed_config(self):
        dest = tempfile.mkdtemp(prefix="sluice-destdir-")
        try:
            self.assertEqual(make("install", "DESTDIR=" + dest, *PATHS).returncode, 0)
            conf = os.path.join(dest, "etc/sluice/sluice.yaml")
            with open(conf, "a") as f:
                f.write("# local change\n")
            p = make("install", "DESTDIR=" + dest, *PATHS)
            self.assertIn("kept; the shipped one is", p.stdout)
            p = make("uninstall", "DESTDIR=" + dest, *PATHS)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(files_under(dest), ["etc/sluice/sluice.yaml"])
            os.unlink(conf)
            make("install", "DESTDIR=" + dest, *PATHS)
            make("uninstall", "DESTDIR=" + dest, *PATHS)
            self.assertEqual(files_under(dest), [])
        finally:
            shutil.rmtree(dest, ignore_errors=True)
