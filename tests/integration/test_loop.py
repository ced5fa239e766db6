"""Mail loops: the Received: fields of a message are counted at intake; one
over limits.hops (default 50) is refused at the end of its data with
554 5.4.6 and not queued, and show insights raises "Fix possible mail
loop" with the recipient domain, its connector and the count."""
import json
import os
import re
import socket
import subprocess
import time

from harness import BUILD, Sink, Sluiced, TestCase, events, wait_for

SLUICECTL = os.path.join(BUILD, "sluicectl")


def message(hops, body="hello\r\n", folded=False):
    """A message with hops Received: fields (mixed case; folded when asked),
    a Received-SPF field that must not count, and body (with a "Received:"
    line of its own, after the empty line, that must not count either)."""
    lines = []
    for i in range(hops):
        name = ("Received", "RECEIVED", "received")[i % 3]
        if folded:
            lines.append("%s: from hop%d.loop.test\r\n\tby hop%d.loop.test; "
                         "Thu, 1 Jan 2026 00:00:00 +0000" % (name, i, i + 1))
        else:
            lines.append("%s: from hop%d.loop.test by hop%d.loop.test" % (name, i, i + 1))
    head = "\r\n".join(lines + ["Received-SPF: pass", "Subject: loop %d" % hops])
    return head + "\r\n\r\nReceived: in the body, not a header\r\n" + body


class Client:
    """A raw SMTP client that can cut its data in small writes."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""
        assert self.reply().startswith("220")
        assert self.cmd("EHLO client.test").startswith("250")

    def reply(self):
        while True:
            lines = self.buf.split(b"\r\n")
            for k, line in enumerate(lines[:-1]):
                if len(line) >= 4 and line[3:4] == b" ":
                    self.buf = b"\r\n".join(lines[k + 1:])
                    return line.decode()
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk

    def cmd(self, line):
        self.s.sendall(line.encode() + b"\r\n")
        return self.reply()

    def send(self, rcpt, text, piece=0):
        """MAIL, RCPT and DATA, then text (pieces of piece bytes, a short
        pause between them, when piece > 0); the reply to the final dot."""
        assert self.cmd("MAIL FROM:<alice@client.test>").startswith("250")
        assert self.cmd("RCPT TO:<%s>" % rcpt).startswith("250")
        assert self.cmd("DATA").startswith("354")
        data = text.replace("\r\n.", "\r\n..").encode() + b"\r\n.\r\n"
        if piece <= 0:
            self.s.sendall(data)
        else:
            for off in range(0, len(data), piece):
                self.s.sendall(data[off:off + piece])
                time.sleep(0.002)
        return self.reply()

    def close(self):
        try:
            self.cmd("QUIT")
        finally:
            self.s.close()


class LoopTest(TestCase):
    def setUp(self):
        super().setUp()
        self.sink = Sink(keep=True)
        self.cleanup.append(self.sink.stop)
        self.r = Sluiced(sink_port=self.sink.port)
        self.r.start()
        self.cleanup.append(self.r.stop)
        self.sock = os.path.join(self.r.dir, "sluice.sock")

    def ctl(self, *args):
        p = subprocess.run([SLUICECTL, "--socket", self.sock] + list(args),
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def js(self, *args):
        return json.loads(self.ctl("--json", *args))

    def test_over_the_limit_is_refused_and_raises_the_insight(self):
        self.assertEqual(self.js("show", "config")["config"]["limits"]["hops"], 50)
        self.assertEqual(self.js("show", "insights")["loops"], [])
        c = Client(self.r.port)
        self.cleanup.append(c.close)
        # exactly the limit: accepted (and the body's "Received:" does not count)
        self.assertTrue(c.send("bob@example.test", message(50)).startswith("250 "))
        # one more: refused, however the data is cut into reads
        self.assertEqual(c.send("bob@example.test", message(51), piece=7),
                         "554 5.4.6 Routing loop detected (51 Received: headers)")
        # folded fields count once each; a message spilled to disk as it
        # arrives (over data_spill, 256K) is refused the same way
        self.assertEqual(c.send("carol@example.test", message(60, folded=True)),
                         "554 5.4.6 Routing loop detected (60 Received: headers)")
        big = message(52, body=("y" * 998 + "\r\n") * 400)
        self.assertEqual(c.send("dave@example.test", big),
                         "554 5.4.6 Routing loop detected (52 Received: headers)")
        # the session goes on: a message under the limit after them
        self.assertTrue(c.send("erin@example.test", message(3)).startswith("250 "))

        wait_for(lambda: self.sink.messages() == 2, 30, what="the two accepted messages")
        st = self.js("show", "stats")["totals"]
        self.assertEqual((st["smtp.in.messages"], st["smtp.in.loops"], st["smtp.in.rejected"]),
                         (2, 3, 3))
        self.assertEqual(st["smtp.in.spilled"], 1, "the large one went to a body file")
        subjects = set()
        for name in os.listdir(self.sink.out):
            with open(os.path.join(self.sink.out, name), "rb") as f:
                subjects.update(re.findall(rb"Subject: (loop \d+)", f.read()))
        self.assertEqual(subjects, {b"loop 50", b"loop 3"})

        loops = self.js("show", "insights")["loops"]
        self.assertEqual(len(loops), 1, loops)
        lp = loops[0]
        self.assertEqual((lp["insight"], lp["domain"], lp["connector"], lp["code"]),
                         ("Fix possible mail loop", "example.test", "sink", "5.4.6"))
        self.assertEqual((lp["messages"], lp["hops"], lp["limit"]), (3, 52, 50))
        self.assertEqual(lp["route"], "127.0.0.1:%d" % self.sink.port)
        self.assertIn("smart hosts of connector sink", lp["fix"])
        self.assertIn("relay.test", lp["fix"])
        text = self.ctl("show", "insights")
        self.assertRegex(text, r"Fix possible mail loop: example\.test: 3 messages refused "
                               r"with 554 5\.4\.6")
        self.assertIn("example.test: how to fix: check that the smart hosts of connector "
                      "sink (127.0.0.1:%d) and the MX records of example.test" % self.sink.port,
                      text)
        # logged once as raised, with the code and the domain
        ev = wait_for(lambda: [e for e in events(self.r.log(), "insight")
                               if e["name"] == "mail_loop"], 10, what="the insight event")
        self.assertEqual(len(ev), 1, ev)
        self.assertEqual((ev[0]["state"], ev[0]["domain"], ev[0]["code"], ev[0]["connector"],
                          ev[0]["limit"]), ("raised", "example.test", "5.4.6", "sink", 50))
        self.assertIn("smart hosts of connector sink", ev[0]["fix"])
        self.assertEqual(len(re.findall(r"rejected id=\S+ .*554 5\.4\.6 Routing loop",
                                        self.r.log())), 3)

    def test_configured_limit(self):
        self.r.stop()
        self.r = Sluiced(sink_port=self.sink.port, extra="limits:\n  hops: 2\n")
        self.r.start()
        self.cleanup.append(self.r.stop)
        self.sock = os.path.join(self.r.dir, "sluice.sock")
        self.assertEqual(self.js("show", "config")["config"]["limits"]["hops"], 2)
        c = Client(self.r.port)
        self.cleanup.append(c.close)
        self.assertTrue(c.send("bob@example.test", message(2)).startswith("250 "))
        self.assertEqual(c.send("bob@example.test", message(3), piece=1),
                         "554 5.4.6 Routing loop detected (3 Received: headers)")
