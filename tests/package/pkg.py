"""What the package tests share: where the tree and the build are, running
a command, and a scratch sluiced."""
import grp
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
CONFIG = os.path.join(ROOT, "etc", "sluice", "sluice.yaml")
MAN = os.path.join(ROOT, "docs", "man")
# The dashboard's files, relative to www/ (installed under share/sluice/www).
WWW = sorted(os.path.relpath(os.path.join(d, f), os.path.join(ROOT, "www"))
             for d, _, fs in os.walk(os.path.join(ROOT, "www")) for f in fs)

def run(args, **kw):
    """Run a command; its CompletedProcess with text stdout/stderr."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 600)
    return subprocess.run(args, **kw)


def checkable(path):
    """A file sluiced -t can check on this machine: path itself, or a copy
    in which the accounts it names (user:, group:, control_group:) that
    do not exist here (no sluice user before the package is installed) are
    root.  sluiced -t asks the system for them."""
    with open(path) as f:
        text = f.read()

    def local(m):
        key, name = m.group(1), m.group(2)
        try:
            (pwd.getpwnam if key == "user" else grp.getgrnam)(name)
            return m.group(0)
        except KeyError:
            return "%s: root" % key
    fixed = re.sub(r"(?m)^(user|group|control_group): *(\S+)", local, text)
    if fixed == text:
        return path
    fd, copy = tempfile.mkstemp(suffix=".yaml", prefix="sluice-checkable-")
    with os.fdopen(fd, "w") as f:
        f.write(fixed)
    return copy


def config_keys():
    """Every key of sluiced's configuration: the names in the field tables
    of core/config*.c ({ "name", parser, ... })."""
    keys = set()
    for name in os.listdir(os.path.join(ROOT, "core")):
        if name.startswith("config") and name.endswith(".c"):
            with open(os.path.join(ROOT, "core", name)) as f:
                keys |= set(re.findall(r'\{\s*"([a-z_]+)",\s*(?:cfg_)?f_', f.read()))
    return keys


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """sluiced on a loopback port with a scratch spool, for what needs a
    running daemon (sluicectl help), with extra lines of configuration.
    Use as a context manager."""

    def __init__(self, sluiced, control_socket=None, extra=""):
        self.dir = tempfile.mkdtemp(prefix="sluice-pkg-")
        self.sock = control_socket or os.path.join(self.dir, "ctl.sock")
        self.conf = os.path.join(self.dir, "sluice.yaml")
        with open(self.conf, "w") as f:
            f.write('listen: ["127.0.0.1:%d"]\nspool: %s/spool\ncontrol_socket: %s\n'
                    'workers: 1\n%s' % (free_port(), self.dir, self.sock, extra))
        self.sluiced = sluiced
        self.proc = None

    def __enter__(self):
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen([self.sluiced, "-c", self.conf],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(100):
            if os.path.exists(self.sock) or self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if not os.path.exists(self.sock):
            self.__exit__()
            raise RuntimeError("sluiced did not start: " + self.logtext())
        return self

    def logtext(self):
        with open(os.path.join(self.dir, "log")) as f:
            return f.read()

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
