"""sd_notify (issue 11): a Python datagram socket stands in for systemd as
NOTIFY_SOCKET (an abstract name, and a path) and reads what sluiced says:
READY=1 once the listeners serve and the spool is recovered, RELOADING=1
with MONOTONIC_USEC then READY=1 around a reload (a failed one too),
WATCHDOG=1 while WATCHDOG_USEC asks, STOPPING=1 on SIGTERM, STATUS= lines
throughout, every message from sluiced's own pid."""
import os
import signal
import socket
import struct
import tempfile
import time
import unittest

from harness import Proc, SLUICED, Sluiced, TestCase, banner, wait_for
from test_hostile_guards import send


class Manager:
    """A notify socket: messages with the sender's pid (SCM_CREDENTIALS)."""

    def __init__(self, addr):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.s.bind(addr if addr[0] == "/" else "\0" + addr[1:])
        self.s.settimeout(0.1)
        self.env = addr
        self.got = []       # (pid, {var: value}, raw text)

    def poll(self):
        while True:
            try:
                data, anc, _, _ = self.s.recvmsg(4096, socket.CMSG_SPACE(12))
            except socket.timeout:
                return self.got
            pid = None
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", cdata[:12])[0]
            text = data.decode()
            fields = dict(line.split("=", 1) for line in text.split("\n"))
            self.got.append((pid, fields, text))

    def wait(self, pred, what, timeout=15):
        """The first message (after those already taken) for which pred is
        true; self.taken moves past it."""
        def find():
            for i in range(self.taken, len(self.poll())):
                if pred(self.got[i][1]):
                    self.taken = i + 1
                    return self.got[i]
            return None
        return wait_for(find, timeout, what=what)

    taken = 0

    def close(self):
        self.s.close()


class NotifyTest(TestCase):
    def run_relay(self, addr, watchdog_usec=None):
        m = Manager(addr)
        self.cleanup.append(m.close)
        r = Sluiced()
        env = dict(os.environ, NOTIFY_SOCKET=m.env)
        if watchdog_usec:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        r.proc = Proc([SLUICED, "-c", r.config], r.dir, "sluiced.log", env=env)
        self.cleanup.append(r.stop)
        return r, m

    def test_lifecycle_abstract_socket(self):
        r, m = self.run_relay("@sluice-it-notify-%d" % os.getpid())
        pid = r.proc.p.pid
        first = m.wait(lambda f: "STATUS" in f, "a first STATUS")
        self.assertEqual(first[1], {"STATUS": "starting"})
        m.wait(lambda f: f.get("STATUS") == "starting: recovering the spool", "recovery")
        ready = m.wait(lambda f: f.get("READY") == "1", "READY=1")
        # by then the spool is recovered and the listener and control socket serve
        log = r.log()
        self.assertIn("messages recovered", log)
        self.assertIn("control socket", log)
        self.assertIn("ESMTP", banner(r.port) or "")
        self.assertRegex(ready[1]["STATUS"], r"^ready: 2 workers, listening on 127\.0\.0\.1:")

        # a reload: RELOADING=1 with the monotonic clock, then READY=1
        t0 = time.clock_gettime(time.CLOCK_MONOTONIC)
        r.proc.p.send_signal(signal.SIGHUP)
        rel = m.wait(lambda f: f.get("RELOADING") == "1", "RELOADING=1")
        t1 = time.clock_gettime(time.CLOCK_MONOTONIC)
        usec = int(rel[1]["MONOTONIC_USEC"])
        self.assertTrue(t0 * 1e6 - 1000 <= usec <= t1 * 1e6 + 1000, (t0, usec, t1))
        self.assertEqual(rel[1]["STATUS"], "reloading the configuration")
        again = m.wait(lambda f: f.get("READY") == "1", "READY=1 after the reload")
        self.assertEqual(again[1]["STATUS"], ready[1]["STATUS"])

        # a broken file: still READY=1 (the old config serves), and it says so
        with open(r.config, "a") as f:
            f.write("limits: {recipients: many}\n")
        r.proc.p.send_signal(signal.SIGHUP)
        m.wait(lambda f: f.get("RELOADING") == "1", "RELOADING=1 (broken file)")
        bad = m.wait(lambda f: f.get("READY") == "1", "READY=1 after the failed reload")
        self.assertIn("the last reload failed", bad[1]["STATUS"])

        r.proc.p.send_signal(signal.SIGTERM)
        stop = m.wait(lambda f: f.get("STOPPING") == "1", "STOPPING=1")
        self.assertRegex(stop[1]["STATUS"], r"^draining")
        self.assertEqual(r.proc.p.wait(15), 0)
        self.assertEqual({p for p, _, _ in m.poll()}, {pid}, "from the main pid only")
        self.assertNotIn("WATCHDOG", "".join(t for _, _, t in m.got), "not asked for")

    def test_watchdog_and_path_socket(self):
        path = os.path.join(tempfile.mkdtemp(prefix="sluice-it-"), "notify")
        r, m = self.run_relay(path, watchdog_usec=400000)
        m.wait(lambda f: f.get("READY") == "1", "READY=1")
        send(r.port)                         # busy or idle, the workers turn
        t0 = time.time()
        for _ in range(5):
            m.wait(lambda f: f.get("WATCHDOG") == "1", "WATCHDOG=1")
        # twice per period: 5 pings take about a second, not 2
        self.assertLess(time.time() - t0, 1.8)
        self.assertIn("watchdog: every 200 ms", r.log())
        r.proc.p.send_signal(signal.SIGTERM)
        m.wait(lambda f: f.get("STOPPING") == "1", "STOPPING=1")
        self.assertEqual(r.proc.p.wait(15), 0)

    def test_without_a_manager_nothing_changes(self):
        r = Sluiced()
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        env["WATCHDOG_USEC"] = "100000"      # no socket: nothing to feed
        r.proc = Proc([SLUICED, "-c", r.config], r.dir, "sluiced.log", env=env)
        self.cleanup.append(r.stop)
        wait_for(lambda: "ready:" in r.log(), what="ready")
        self.assertEqual(r.stop(), 0)
        self.assertNotIn("NOTIFY", r.log())


if __name__ == "__main__":
    unittest.main()
