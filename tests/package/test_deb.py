"""The Debian package: `make deb` builds it, its contents and control
data are what an install needs, lintian finds no error, the daemon
extracted from it checks the configuration it ships, and (as root on CI,
or with SLUICE_PKG_INSTALL=1) apt installs it for real: the user, the
groups, the directories, the enabled unit; then it is purged.

The build compiles into build-deb/src/build-pkg/, kept between runs:
about 30 s the first time on 2 cores, 10-15 s after."""
import glob
import grp
import os
import pwd
import re
import shutil
import stat
import tempfile
import time
import unittest

from pkg import ROOT, WWW, Daemon, checkable, run

DEB_DIR = os.path.join(ROOT, "build-deb")
WANTED = {
    "./usr/sbin/sluiced", "./usr/bin/sluicectl", "./etc/sluice/sluice.yaml",
    "./lib/systemd/system/sluice.service", "./usr/lib/tmpfiles.d/sluice.conf",
    "./usr/lib/sysusers.d/sluice.conf", "./usr/share/man/man8/sluiced.8.gz",
    "./usr/share/man/man8/sluicectl.8.gz", "./usr/share/man/man5/sluice.yaml.5.gz",
    "./usr/share/doc/sluice/copyright", "./usr/share/sluice/www/index.html",
} | {"./usr/share/sluice/www/" + f for f in WWW}


def version():
    with open(os.path.join(ROOT, "core", "daemon", "sluiced.c")) as f:
        return re.search(r'#define SLUICE_VERSION "([^"]+)"', f.read()).group(1)


_built = []


def build_deb():
    """make deb, once for all the tests: (CompletedProcess, seconds, the .deb)."""
    if not _built:
        t0 = time.time()
        p = run(["make", "--no-print-directory", "-C", ROOT, "deb"])
        debs = glob.glob(os.path.join(DEB_DIR, "sluice_*.deb"))
        _built.append((p, time.time() - t0, debs[0] if len(debs) == 1 else None))
    return _built[0]


@unittest.skipUnless(shutil.which("dpkg-buildpackage") and shutil.which("dh"),
                     "dpkg-dev or debhelper not installed (make deps)")
class Deb(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.build, cls.seconds, cls.deb = build_deb()

    def setUp(self):
        self.assertEqual(self.build.returncode, 0,
                         self.build.stdout[-3000:] + self.build.stderr[-3000:])
        self.assertIsNotNone(self.deb)

    def test_built(self):
        print("\n  make deb: %.0f s" % self.seconds, end=" ")
        self.assertEqual(os.path.basename(self.deb), "sluice_%s_%s.deb"
                         % (version(), run(["dpkg", "--print-architecture"]).stdout.strip()))

    def test_contents(self):
        listing = run(["dpkg-deb", "-c", self.deb]).stdout
        files = {l.split()[-1] for l in listing.splitlines() if not l.startswith("d")}
        self.assertEqual(WANTED - files, set())
        for name in ("sluice-sink", "sluice-bench", "sluice-spoolgen"):
            self.assertNotIn(name, listing, "test tools stay out of the package")
        self.assertRegex(listing, r"-rwxr-xr-x root/root .* \./usr/sbin/sluiced\n")

    def test_control(self):
        info = run(["dpkg-deb", "-I", self.deb]).stdout
        self.assertRegex(info, r"Depends: adduser,")
        self.assertRegex(info, r"liburing2")
        with tempfile.TemporaryDirectory() as d:
            run(["dpkg-deb", "-e", self.deb, d], check=True)
            with open(os.path.join(d, "conffiles")) as f:
                self.assertEqual(f.read().split(), ["/etc/sluice/sluice.yaml"])
            with open(os.path.join(d, "postinst")) as f:
                postinst = f.read()
            pre = os.path.join(d, "preinst")
            preinst = open(pre).read() if os.path.exists(pre) else ""
        # the user first, then tmpfiles (which names it), then the unit:
        # enabled, and on an upgrade restarted only if it was running
        order = [postinst.find(s) for s in ("adduser --system", "--create sluice.conf",
                                            "deb-systemd-helper enable")]
        self.assertTrue(-1 not in order and order == sorted(order), order)
        self.assertIn("deb-systemd-invoke try-restart", postinst)
        self.assertNotIn("deb-systemd-invoke start", postinst)
        self.assertNotIn("stop", preinst, "an upgrade would stop the relay for good")

    def test_lintian(self):
        if not shutil.which("lintian"):
            self.skipTest("lintian not installed")
        changes = glob.glob(os.path.join(DEB_DIR, "sluice_*.changes"))[0]
        p = run(["lintian", "--fail-on", "error", changes])
        tags = [l for l in p.stdout.splitlines() if re.match(r"[EWI]: ", l)]
        print("\n  lintian: %s" % ("; ".join(tags) or "nothing"), end=" ")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual([t for t in tags if t.startswith("E:")], [])

    def test_extracted_daemon_checks_shipped_config(self):
        with tempfile.TemporaryDirectory() as root:
            run(["dpkg-deb", "-x", self.deb, root], check=True)
            p = run([os.path.join(root, "usr/sbin/sluiced"), "-t", "-c",
                     checkable(os.path.join(root, "etc/sluice/sluice.yaml"))])
            self.assertEqual(p.returncode, 0, p.stderr)
            p = run(["systemd-analyze", "verify", "--man=no",
                     os.path.join(root, "lib/systemd/system/sluice.service")])
            # only the programs' paths, which are in the scratch root, may be missing
            left = [l for l in (p.stdout + p.stderr).splitlines()
                    if l.strip() and "/usr/sbin/sluiced is not executable" not in l]
            self.assertEqual(left, [])


def real_install_wanted():
    if os.geteuid() != 0:
        return "not root"
    if not (os.environ.get("CI") or os.environ.get("SLUICE_PKG_INSTALL")):
        return "set SLUICE_PKG_INSTALL=1 (CI does) to install it on this machine"
    st = run(["dpkg-query", "-W", "-f=${Status}", "sluice"]).stdout
    if "installed" in st and not os.environ.get("SLUICE_PKG_INSTALL"):
        return "a sluice package is installed here already"
    return None


@unittest.skipIf(real_install_wanted(), real_install_wanted() or "")
class AptInstall(unittest.TestCase):
    """apt install ./sluice_*.deb on this machine, then purge."""

    @classmethod
    def setUpClass(cls):
        cls.deb = build_deb()[2]
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        cls.env = env
        cls.install = run(["apt-get", "install", "-y", "--no-install-recommends",
                           cls.deb], env=env) if cls.deb else None

    @classmethod
    def tearDownClass(cls):
        run(["apt-get", "purge", "-y", "sluice"], env=cls.env)

    def test_installed(self):
        self.assertIsNotNone(self.install)
        self.assertEqual(self.install.returncode, 0, self.install.stdout + self.install.stderr)
        u = pwd.getpwnam("sluice")
        self.assertEqual(u.pw_dir, "/var/spool/sluice")
        self.assertEqual(u.pw_shell, "/usr/sbin/nologin")
        self.assertLess(u.pw_uid, 1000)
        grp.getgrnam("sluicectl")
        st = os.stat("/var/spool/sluice")
        self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)),
                         (u.pw_uid, u.pw_gid, 0o750))
        st = os.stat("/run/sluice")
        self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)),
                         (0, u.pw_gid, 0o775))
        self.assertTrue(os.path.islink(
            "/etc/systemd/system/multi-user.target.wants/sluice.service"), "unit not enabled")
        self.assertIn(run(["dpkg-query", "-W", "-f=${Status}", "sluice"]).stdout,
                      ["install ok installed"])
        p = run(["sluiced", "-t", "-c", "/etc/sluice/sluice.yaml"])
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_sluicectl_finds_the_socket(self):
        """The installed daemon serves /run/sluice/sluice.sock and the
        installed sluicectl finds it without --socket."""
        self.assertEqual(self.install.returncode, 0)
        env = dict(os.environ)
        env.pop("SLUICE_SOCKET", None)
        with Daemon("/usr/sbin/sluiced", control_socket="/run/sluice/sluice.sock"):
            p = run(["/usr/bin/sluicectl", "show", "info"], env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(version(), p.stdout)

    def test_zz_purge(self):
        self.assertEqual(self.install.returncode, 0)
        p = run(["apt-get", "purge", "-y", "sluice"], env=self.env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        for path in ("/etc/sluice", "/var/spool/sluice", "/usr/sbin/sluiced",
                     "/etc/systemd/system/multi-user.target.wants/sluice.service"):
            self.assertFalse(os.path.lexists(path), path + " left after purge")
