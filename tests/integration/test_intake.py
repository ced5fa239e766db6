"""Intake: the SMTP server and the durable spool, driven by real clients
(swaks, Postfix's smtp-source, Python's smtplib, sluice-bench) against the
real sluiced."""
import os
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
import unittest

from harness import (BENCH, POSTFIX_ENV, SLUICED, SMTP_SOURCE, Sluiced, read_spool,
                     wait_for)


class Dialog:
    """A raw SMTP conversation: send bytes, read reply lines."""

    def __init__(self, port, source=None, timeout=10):
        self.s = socket.socket()
        self.s.settimeout(timeout)
        if source:
            self.s.bind((source, 0))
        self.s.connect(("127.0.0.1", port))
        self.buf = b""
        self.greeting = self.reply()

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("connection closed; have %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode()

    def reply(self):
        """One (possibly multi-line) reply as a list of lines."""
        lines = [self.line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self.line())
        return lines

    def cmd(self, text):
        self.s.sendall(text.encode() + b"\r\n")
        return self.reply()[-1]

    def send(self, raw):
        self.s.sendall(raw)

    def closed(self):
        try:
            return self.s.recv(1) == b""
        except OSError:
            return True

    def close(self):
        self.s.close()


def swaks(port, *args):
    return subprocess.run(["swaks", "--server", "127.0.0.1:%d" % port, "--from",
                           "alice@client.test", "--to", "bob@example.test",
                           "--timeout", "10"] + list(args),
                          capture_output=True, text=True, timeout=60)


class IntakeTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.relay = None

    def tearDown(self):
        if self.relay:
            self.relay.stop()

    def start(self, **kw):
        self.relay = Sluiced(**kw).start()
        return self.relay

    def test_swaks_transactions(self):
        r = self.start()
        for args in ([], ["--pipeline"], ["--protocol", "SMTP"]):
            out = swaks(r.port, *args)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            self.assertIn("250 2.0.0 Ok: queued as", out.stdout)
            if args == ["--pipeline"]:
                # swaks pipelines only when offered: MAIL, RCPT and DATA leave together
                self.assertIn("PIPELINING", out.stdout)
                self.assertRegex(out.stdout, r"-> MAIL FROM:.*\n -> RCPT TO:.*\n -> DATA")
            if args == ["--protocol", "SMTP"]:
                self.assertIn("-> HELO", out.stdout)
        r.stop()
        self.relay = None
        self.assertEqual(len(read_spool(os.path.join(r.dir, "spool"))), 3)

    def test_every_command(self):
        r = self.start()
        d = Dialog(r.port)
        self.assertTrue(d.greeting[0].startswith("220 relay.test ESMTP"))
        d.s.sendall(b"EHLO client.test\r\n")
        ehlo = d.reply()
        for ext in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN"):
            self.assertTrue(any(ext in line for line in ehlo), ext)
        cases = [
            ("HELO client.test", "250 relay.test"),
            ("NOOP", "250 2.0.0"),
            ("RSET", "250 2.0.0"),
            ("VRFY bob", "252 2.5.0"),
            ("EXPN list", "502 5.5.1"),
            ("HELP", "214 2.0.0"),
            ("MAIL FROM:<alice@client.test> SIZE=100 BODY=8BITMIME RET=HDRS ENVID=e1", "250 2.1.0"),
            ("RCPT TO:<bob@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.test",
             "250 2.1.5"),
            ("DATA", "354"),
        ]
        for cmd, want in cases:
            got = d.cmd(cmd)
            self.assertTrue(got.startswith(want), "%s -> %s" % (cmd, got))
        d.send(b"Subject: every command\r\n\r\n..leading dot\r\n.\r\n")
        ok = d.reply()[-1]
        self.assertRegex(ok, r"^250 2\.0\.0 Ok: queued as [0-9A-F]{16}$")
        self.assertTrue(d.cmd("QUIT").startswith("221 2.0.0"))
        self.assertTrue(d.closed())
        r.stop()
        self.relay = None
        qid = ok.split()[-1]
        env, data = read_spool(os.path.join(r.dir, "spool"))[qid]
        self.assertEqual(env["sender"], "alice@client.test")
        self.assertEqual(env["envid"], "e1")
        self.assertEqual(env["ret"], 2)
        self.assertEqual(env["rcpts"][0]["orcpt"], "rfc822;bob@example.test")
        self.assertEqual(env["rcpts"][0]["notify"], 2 | 4)
        self.assertTrue(data.startswith(b"Received: from client.test ([127.0.0.1])\r\n\tby relay.test"))
        self.assertIn(b"id " + qid.encode(), data)
        self.assertTrue(data.endswith(b"Subject: every command\r\n\r\n.leading dot\r\n"))

    def test_pipelining(self):
        r = self.start()
        d = Dialog(r.port)
        d.send(b"EHLO c.test\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<x@example.test>\r\n"
               b"RCPT TO:<y@other.test>\r\nRCPT TO:<z@example.test>\r\nDATA\r\n")
        self.assertTrue(d.reply()[-1].startswith("250 "))
        self.assertEqual([d.reply()[-1][:9] for _ in range(5)],
                         ["250 2.1.0", "250 2.1.5", "550 5.4.4", "250 2.1.5", "354 End d"])
        d.send(b"hello\r\n.\r\nMAIL FROM:<b@c.test>\r\nRCPT TO:<x@example.test>\r\nDATA\r\n"
               b"second\r\n.\r\nQUIT\r\n")
        replies = [d.reply()[-1] for _ in range(6)]
        self.assertRegex(replies[0], "^250 2.0.0 Ok: queued as")
        self.assertEqual([x[:3] for x in replies[1:]], ["250", "250", "354", "250", "221"])
        self.assertRegex(replies[4], "^250 2.0.0 Ok: queued as")

    def test_smtp_source_1000(self):
        r = self.start()
        out = subprocess.run([SMTP_SOURCE, "-s", "50", "-m", "1000", "-l", "1024", "-d", "-N",
                              "-M", "client.test", "-f", "s@client.test", "-t",
                              "r@example.test", "127.0.0.1:%d" % r.port],
                             env=POSTFIX_ENV, capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(r.log().count("queued id="), 1000)
        r.stop()
        self.relay = None
        spool = read_spool(os.path.join(r.dir, "spool"))
        self.assertEqual(len(spool), 1000)
        # a restart recovers all of them
        r.start()
        self.relay = r
        self.assertEqual(r.recovered(), 1000)

    def test_smtplib(self):
        r = self.start()
        body = "Subject: smtplib\r\n\r\n" + "line of text\r\n" * 50
        with smtplib.SMTP("127.0.0.1", r.port, timeout=10) as s:
            s.ehlo("py.test")
            self.assertTrue(s.has_extn("pipelining"))
            s.mail("py@client.test", ["SMTPUTF8"])
            s.rcpt("b\u00e9b@example.test")
            code, msg = s.data(body.encode())
            self.assertEqual(code, 250, msg)
            qid = msg.decode().split()[-1]
            refused = s.sendmail("py@client.test", ["a@example.test", "b@example.test"], body)
            self.assertEqual(refused, {})
        r.stop()
        self.relay = None
        spool = read_spool(os.path.join(r.dir, "spool"))
        self.assertEqual(len(spool), 2)
        env, data = spool[qid]
        self.assertEqual(env["rcpts"][0]["addr"], "b\u00e9b@example.test")
        self.assertEqual(env["smtputf8"], 1)
        self.assertTrue(data.endswith(body.encode()))

    def test_limits(self):
        r = self.start(extra="limits:\n  message_size: 4096\n  recipients: 3\n  errors: 6\n"
                             "  command_line: 512\n  idle_timeout: 2\n")
        d = Dialog(r.port)
        self.assertEqual(d.cmd("MAIL FROM:<a@c.test>")[:9], "503 5.5.1")
        d.cmd("EHLO c.test")
        self.assertEqual(d.cmd("RCPT TO:<a@example.test>")[:9], "503 5.5.1")
        self.assertEqual(d.cmd("DATA")[:9], "503 5.5.1")
        self.assertEqual(d.cmd("MAIL FROM:<a@c.test> SIZE=5000")[:9], "552 5.3.4")
        self.assertEqual(d.cmd("MAIL FROM:<a@c.test>")[:9], "250 2.1.0")
        self.assertEqual(d.cmd("MAIL FROM:<a@c.test>")[:9], "503 5.5.1")
        self.assertEqual(d.cmd("DATA")[:9], "554 5.5.1")
        for i in range(3):
            self.assertEqual(d.cmd("RCPT TO:<r%d@example.test>" % i)[:9], "250 2.1.5")
        self.assertEqual(d.cmd("RCPT TO:<r9@example.test>")[:9], "452 4.5.3")
        self.assertEqual(d.cmd("DATA")[:3], "354")
        d.send(b"x" * 900 + b"\r\n" + (b"y" * 100 + b"\r\n") * 40 + b".\r\n")
        self.assertEqual(d.reply()[-1][:9], "552 5.3.4")
        d.close()
        # over-long command line, unknown commands, then too many errors
        d = Dialog(r.port)
        self.assertEqual(d.cmd("NOOP " + "x" * 600)[:9], "500 5.5.2")
        for _ in range(4):
            self.assertEqual(d.cmd("BOGUS")[:9], "500 5.5.2")
        self.assertEqual(d.cmd("BOGUS")[:9], "500 5.5.2")
        self.assertEqual(d.reply()[-1][:9], "421 4.7.0")
        self.assertTrue(d.closed())
        # a text line over 1000 bytes
        d = Dialog(r.port)
        d.cmd("EHLO c.test")
        d.cmd("MAIL FROM:<a@c.test>")
        d.cmd("RCPT TO:<a@example.test>")
        d.cmd("DATA")
        d.send(b"z" * 1200 + b"\r\n.\r\n")
        self.assertEqual(d.reply()[-1][:9], "550 5.6.0")
        # idle timeout
        t0 = time.time()
        self.assertEqual(d.reply()[-1][:9], "421 4.4.2")
        self.assertLess(time.time() - t0, 5)
        self.assertTrue(d.closed())
        self.assertEqual(r.log().count("queued id="), 0)

    def test_not_an_open_relay(self):
        r = self.start()
        d = Dialog(r.port, source="127.0.0.2")	# outside trusted_networks
        d.cmd("EHLO outside.test")
        d.cmd("MAIL FROM:<a@outside.test>")
        self.assertEqual(d.cmd("RCPT TO:<victim@elsewhere.test>")[:9], "550 5.7.1")
        self.assertEqual(d.cmd("RCPT TO:<bob@EXAMPLE.test>")[:9], "250 2.1.5")
        d.close()
        d = Dialog(r.port)			# trusted, but no route for the domain
        d.cmd("EHLO inside.test")
        d.cmd("MAIL FROM:<a@inside.test>")
        self.assertEqual(d.cmd("RCPT TO:<x@elsewhere.test>")[:9], "550 5.4.4")

    def test_trusted_default_route(self):
        r = self.start(domains_extra='  "*": sink\n')
        d = Dialog(r.port)
        d.cmd("EHLO inside.test")
        d.cmd("MAIL FROM:<a@inside.test>")
        self.assertEqual(d.cmd("RCPT TO:<x@elsewhere.test>")[:9], "250 2.1.5")
        d.close()
        d = Dialog(r.port, source="127.0.0.3")
        d.cmd("EHLO outside.test")
        d.cmd("MAIL FROM:<a@outside.test>")
        self.assertEqual(d.cmd("RCPT TO:<x@elsewhere.test>")[:9], "550 5.7.1")

    def test_smuggling(self):
        """No end-of-data variant but CRLF.CRLF ends DATA; nothing is injected."""
        r = self.start()
        variants = [b"\n.\n", b"\r.\r\n", b"\n.\r\n", b"\r\n.\r", b"\r\n.\n"]
        for v in variants:
            d = Dialog(r.port)
            d.cmd("EHLO c.test")
            d.cmd("MAIL FROM:<a@c.test>")
            d.cmd("RCPT TO:<a@example.test>")
            self.assertEqual(d.cmd("DATA")[:3], "354")
            d.send(b"Subject: smuggle\r\n\r\nhello" + v +
                   b"MAIL FROM:<evil@c.test>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\n"
                   b"smuggled\r\n.\r\n")
            got = d.reply()[-1]
            self.assertEqual(got[:9], "550 5.6.0", "variant %r: %s" % (v, got))
            self.assertTrue(d.cmd("NOOP").startswith("250 2.0.0"), "variant %r" % v)
            d.close()
        self.assertEqual(r.log().count("queued id="), 0)
        self.assertEqual(r.log().count("rejected id="), len(variants))

    def test_config_errors(self):
        tmp = tempfile.mkdtemp(prefix="sluice-cfg-")
        cases = [
            ("listen: [\"127.0.0.1:2525\"]\nlimits:\n  idle_timeout: soon\n", ":3:"),
            ("listen: [\"127.0.0.1:2525\"]\nconnectors:\n  a:\n    smarthosts: [\"h:1\"]\n"
             "domains:\n  x.test: b\n", ":6:"),
            ("listen: [\"127.0.0.1:2525\"]\nbogus: 1\n", ":2:"),
            ("listen: [\n", ":"),
        ]
        for text, where in cases:
            path = os.path.join(tmp, "bad.yaml")
            with open(path, "w") as f:
                f.write(text)
            out = subprocess.run([SLUICED, "-t", "-c", path], capture_output=True, text=True,
                                 timeout=10)
            self.assertEqual(out.returncode, 1, text)
            self.assertIn("bad.yaml" + where, out.stderr, text)
        out = subprocess.run([SLUICED, "-t"], capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 0, out.stderr)
        out = subprocess.run([SLUICED, "-t", "-c", "/nonexistent/sluice.yaml"],
                             capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 1)
        self.assertIn("No such file", out.stderr)

    def test_sighup_reload(self):
        r = self.start()
        with open(r.config) as f:
            text = f.read()
        with open(r.config, "w") as f:
            f.write(text.replace("hostname: relay.test", "hostname: reloaded.test"))
        r.proc.p.send_signal(signal.SIGHUP)
        wait_for(lambda: "reloaded" in r.log(), what="reload")
        wait_for(lambda: "reloaded.test" in Dialog(r.port).greeting[0], what="new banner")
        with open(r.config, "w") as f:
            f.write("listen: [oops\n")
        r.proc.p.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload failed" in r.log(), what="failed reload")
        self.assertTrue(r.proc.alive())
        self.assertIn("reloaded.test", Dialog(r.port).greeting[0])

    def test_sigterm_drains(self):
        r = self.start()
        busy = Dialog(r.port)
        busy.cmd("EHLO c.test")
        busy.cmd("MAIL FROM:<a@c.test>")
        busy.cmd("RCPT TO:<a@example.test>")
        idle = Dialog(r.port)
        r.proc.p.send_signal(signal.SIGTERM)
        self.assertEqual(idle.reply()[-1][:9], "421 4.3.2")
        # the open transaction may finish and gets its 250, then 421
        self.assertEqual(busy.cmd("DATA")[:3], "354")
        busy.send(b"Subject: drain\r\n\r\nbody\r\n.\r\n")
        self.assertRegex(busy.reply()[-1], "^250 2.0.0 Ok: queued as")
        self.assertEqual(busy.reply()[-1][:9], "421 4.3.2")
        self.assertEqual(r.proc.p.wait(15), 0)
        self.relay = None
        self.assertIn("sluiced stopped", r.log())

    @unittest.skipUnless(os.geteuid() == 0, "needs root to mount a small tmpfs")
    def test_disk_full(self):
        r = Sluiced()
        spool = os.path.join(r.dir, "spool")
        os.mkdir(spool)
        m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", spool],
                           capture_output=True, text=True)
        if m.returncode != 0:
            raise unittest.SkipTest("cannot mount a tmpfs here: " + m.stderr.strip())
        try:
            r.start()
            self.relay = r
            ok, full = [], 0
            body = b"Subject: fill\r\n\r\n" + (b"0123456789" * 8 + b"\r\n") * 100 + b".\r\n"
            d = Dialog(r.port)
            d.cmd("EHLO c.test")
            for i in range(60):
                d.cmd("MAIL FROM:<a@c.test>")
                d.cmd("RCPT TO:<a@example.test>")
                d.cmd("DATA")
                d.send(body)
                got = d.reply()[-1]
                if got.startswith("250"):
                    ok.append(got.split()[-1])
                else:
                    self.assertEqual(got[:9], "452 4.3.1", got)
                    full += 1
            self.assertGreater(full, 0)
            self.assertGreater(len(ok), 0)
            r.stop()
            self.relay = None
            live = read_spool(spool)
            self.assertEqual(sorted(live), sorted(ok))
        finally:
            if self.relay:
                self.relay.stop()
                self.relay = None
            subprocess.run(["umount", spool])

    def test_crash_kill9_loses_nothing(self):
        """kill -9 while sluice-bench injects: every 250'd id is recovered."""
        r = self.start()
        ids = os.path.join(r.dir, "acked.ids")
        bench = subprocess.Popen([BENCH, "-H", "127.0.0.1:%d" % r.port, "-c", "50", "-n",
                                  "1000000", "-m", "20", "-s", "1024", "--ids", ids, "-q",
                                  "--timeout", "5"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(ids) and os.path.getsize(ids) > 17 * 2000,
                 timeout=60, what="2000 acknowledged messages")
        r.kill9()
        bench.communicate(timeout=60)
        with open(ids) as f:
            acked = [x.strip() for x in f if x.strip()]
        self.assertGreater(len(acked), 2000)
        r.start()
        self.relay = r
        live = read_spool(os.path.join(r.dir, "spool"))
        missing = [x for x in acked if x not in live]
        self.assertEqual(missing, [], "%d acknowledged ids not in the spool" % len(missing))
        self.assertGreaterEqual(r.recovered(), len(acked))
        self.assertEqual(r.recovered(), len(live))


if __name__ == "__main__":
    unittest.main()
