"""The log: section (issue 11): a log file that logrotate moves away and
SIGUSR1 replaces, JSON format in which every line parses, syslog through a
socket the test binds (SLUICE_SYSLOG_SOCKET, the tests' way to stand in for
/dev/log), and a reload that changes the level."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import unittest

from harness import BUILD, Proc, events, SLUICED, Sink, Sluiced, TestCase, wait_for
from test_hostile_guards import send

SLUICECTL = os.path.join(BUILD, "sluicectl")


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


class LogTest(TestCase):
    def sink(self):
        sink = Sink()
        self.cleanup.append(sink.stop)
        return sink

    def start(self, r, ready, env=None):
        """Start r's sluiced (its stderr and stdout in r.proc) and wait until
        ready() is true."""
        r.proc = Proc([SLUICED, "-c", r.config], r.dir, "sluiced.log", env=env)
        self.cleanup.append(r.stop)
        wait_for(lambda: ready() or not r.proc.alive(), 20, what="sluiced ready")
        self.assertTrue(r.proc.alive(), r.proc.log())

    def test_file_reopened_on_sigusr1(self):
        sink = self.sink()
        d = tempfile.mkdtemp(prefix="sluice-it-")
        path = os.path.join(d, "relay.log")
        r = Sluiced(sink_port=sink.port, dir=d, extra="log: {to: file, path: %s}" % path)
        self.start(r, lambda: "ready:" in read(path))
        send(r.port)
        wait_for(lambda: sink.messages() == 1, what="first message delivered")
        wait_for(lambda: 'result=delivered' in read(path), what="its attempt line")

        # logrotate: move the file away, then SIGUSR1
        os.rename(path, path + ".1")
        r.proc.p.send_signal(signal.SIGUSR1)
        wait_for(lambda: "log reopened" in read(path), what="a new file")
        send(r.port)
        wait_for(lambda: sink.messages() == 2, what="second message delivered")
        wait_for(lambda: 'result=delivered' in read(path), what="the new attempt line")
        self.assertEqual(r.stop(), 0)

        old, new = read(path + ".1"), read(path)
        self.assertIn("ready:", old)
        self.assertEqual(old.count('result=delivered'), 1, old)
        self.assertNotIn("log reopened", old)
        self.assertEqual(new.count('result=delivered'), 1, new)
        self.assertIn("sluiced stopped", new)
        self.assertEqual(oct(os.stat(path).st_mode & 0o777), "0o640")
        self.assertEqual(r.proc.log(), "", "nothing on stderr with to: file")

    def delivered_then_deferred(self, extra):
        """A relay with log: extra that delivered one message, and had the
        next one refused (its sink stopped)."""
        sink = self.sink()
        r = Sluiced(sink_port=sink.port, extra=extra,
                    connector_extra="    retry: {initial: 1s, max: 1s, jitter: 0}")
        r.start()
        self.cleanup.append(r.stop)
        send(r.port)
        wait_for(lambda: sink.messages() == 1, what="delivered")
        sink.stop()                       # the next attempt is refused
        send(r.port)
        wait_for(lambda: [a for a in events(r.log(), "attempt") if a["result"] == "deferred"],
                 what="a deferral")
        return r

    def test_text_every_line_has_time_and_level(self):
        """format: text (the default): events are key=value lines with the
        time and level like every other line, not bare JSON."""
        r = self.delivered_then_deferred("log: {level: debug}")
        self.assertEqual(r.stop(), 0)
        for line in r.log().splitlines():
            self.assertRegex(line, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
                             r"(debug|info|warn|error): \S")
        done, deferred = events(r.log(), "attempt")[:2]
        self.assertEqual((done["result"], done["rcpts"], done["attempt"], done["code"]),
                         ("delivered", ["bob@example.test"], 1, ""), done)
        self.assertEqual((deferred["result"], deferred["code"], deferred["mfi"]),
                         ("deferred", "4.4.316", "conn_refused"), deferred)
        self.assertIn(" connector=", [l for l in r.log().splitlines()
                                      if " info: attempt " in l][0])

    def test_json_every_line_parses(self):
        r = self.delivered_then_deferred("log: {format: json, level: debug}")
        with open(r.config, "a") as f:
            f.write("limits: {recipients: 10}\n")
        r.proc.p.send_signal(signal.SIGHUP)
        wait_for(lambda: "reloaded" in r.log(), what="reload")
        r.proc.p.send_signal(signal.SIGUSR1)
        self.assertEqual(r.stop(), 0)

        lines = r.log().splitlines()
        self.assertGreater(len(lines), 8)
        kinds = set()
        for line in lines:
            o = json.loads(line)          # every line, or the test fails here
            self.assertEqual(list(o)[:2], ["ts", "level"], line)
            self.assertRegex(o["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertIn(o["level"], ("debug", "info", "warn", "error"))
            self.assertTrue("msg" in o or "event" in o, line)
            kinds.add(o.get("event", "msg"))
        self.assertIn("attempt", kinds)
        self.assertIn("msg", kinds)

    def test_syslog(self):
        d = tempfile.mkdtemp(prefix="sluice-it-")
        path = os.path.join(d, "log.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.cleanup.append(s.close)
        s.bind(path)
        s.settimeout(0.2)
        got = []

        def recv_all():
            while True:
                try:
                    got.append(s.recv(65536).decode())
                except socket.timeout:
                    return got

        def seen(text):
            return any(text in g for g in recv_all())

        r = Sluiced(dir=d, extra="log: {to: syslog, facility: mail}")
        self.start(r, lambda: seen("ready:"),
                   env=dict(os.environ, SLUICE_SYSLOG_SOCKET=path))
        r.proc.p.send_signal(signal.SIGHUP)
        wait_for(lambda: seen("reloaded"), what="reload logged")
        self.assertEqual(r.stop(), 0)
        wait_for(lambda: seen("sluiced stopped"), what="stop logged")
        for g in got:
            self.assertRegex(g, r"^<22>[A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d sluiced\[%d\]: "
                             r"info: " % r.proc.p.pid)
            self.assertNotIn("\n", g)
        self.assertEqual(r.proc.log(), "", "nothing on stderr with to: syslog")

    def test_syslog_unreachable_is_a_start_error(self):
        r = Sluiced(extra="log: {to: syslog}")
        proc = Proc([SLUICED, "-c", r.config], r.dir, "sluiced.log",
                    env=dict(os.environ, SLUICE_SYSLOG_SOCKET=os.path.join(r.dir, "none")))
        self.assertEqual(proc.p.wait(10), 1)
        proc.logf.close()
        self.assertIn("log: syslog socket %s/none: No such file or directory" % r.dir,
                      proc.log())

    def test_reload_changes_the_level(self):
        r = Sluiced(extra="log: {level: info}")
        r.start()
        self.cleanup.append(r.stop)
        before = len(r.log())
        with open(r.config) as f:
            text = f.read().replace("log: {level: info}", "log: {level: warn}")
        with open(r.config, "w") as f:
            f.write(text)
        out = subprocess.run([SLUICECTL, "--socket", os.path.join(r.dir, "sluice.sock"),
                              "reload"], capture_output=True, text=True, timeout=20)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        r.proc.p.send_signal(signal.SIGUSR1)       # "log reopened" is info
        self.assertEqual(r.stop(), 0)
        log = r.log()
        self.assertIn("ready:", log[:before])
        # the control socket logs the request (at info) before the reload
        after = log[log.index(": reload\n", before) + 9:]
        self.assertNotIn(" info: ", after, "info lines after the reload to warn")


if __name__ == "__main__":
    unittest.main()
