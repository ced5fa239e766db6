"""Hostile input to the control socket's answers (issue 9, defect 4).

`show queue` built its RECIPIENTS column with `k += snprintf(...)` into a
128-byte array: a first recipient over 128 bytes made the size wrap and the
next write went past the array, so the daemon died on the operator's
routine `sluicectl show queue`, and again on every later call while the
message stayed queued.  Here a message whose first two recipients are
about 250 bytes each (the most RFC 5321 allows: a 64-byte local part and a
long domain) stays queued at a closed port, and show queue, in text and
JSON, runs again and again: the daemon lives, the text row is cut with
"...", the JSON carries the whole addresses.
"""
import json
import os
import smtplib
import subprocess
import unittest

from harness import CONFIG_HEAD, BUILD, Sluiced, events, free_port, wait_for

SLUICECTL = os.path.join(BUILD, "sluicectl")

CONFIG = CONFIG_HEAD + """\
connectors:
  closed:
    smarthosts: ["127.0.0.1:{sink_port}"]
    retry: {{initial: 1h, max: 2h, jitter: 0}}
    connect_timeout: 2s
    down_after: 100
domains:
  "*": closed
"""


def long_addr(tag):
    """A 252-byte address: 64-byte local part, 187-byte domain."""
    local = (tag * 64)[:64]
    domain = ".".join([(tag + "d") * 30] * 3) + ".test"
    addr = "%s@%s" % (local, domain)
    assert 240 <= len(addr) <= 254, len(addr)
    return addr


class HostileCtlTest(unittest.TestCase):

    def setUp(self):
        # nothing listens on sink_port: delivery is refused, mail stays queued
        self.r = Sluiced(workers=2, sink_port=free_port(), config=CONFIG).start()
        self.sock = os.path.join(self.r.dir, "sluice.sock")
        wait_for(lambda: os.path.exists(self.sock), what="control socket")

    def tearDown(self):
        self.r.stop()

    def ctl(self, *args):
        p = subprocess.run([SLUICECTL, "--socket", self.sock] + list(args),
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, "sluicectl %s: rc %d %s\ndaemon log:\n%s"
                         % (" ".join(args), p.returncode, p.stderr, self.r.log()[-3000:]))
        self.assertTrue(self.r.proc.alive(), "sluiced died:\n" + self.r.log()[-3000:])
        return p.stdout

    def test_show_queue_with_long_recipients(self):
        rcpts = [long_addr("a"), long_addr("b"), "c@short.test"]
        with smtplib.SMTP("127.0.0.1", self.r.port, timeout=20) as s:
            s.ehlo("client.test")
            s.mail("alice@client.test")
            for a in rcpts:
                code, msg = s.rcpt(a)
                self.assertEqual(code, 250, (a, msg))
            code, msg = s.data(b"Subject: long recipients\r\n\r\nhello\r\n")
            self.assertEqual(code, 250, msg)
            qid = msg.decode().split()[-1]
        # the first attempt has failed: the message is deferred, as in the report
        wait_for(lambda: [a for a in events(self.r.log(), "attempt")
                          if a["result"] in ("deferred", "bounced")],
                 timeout=20, what="a failed attempt")

        for _ in range(5):
            text = self.ctl("show", "queue")
            rows = [ln for ln in text.splitlines() if ln.startswith(qid)]
            self.assertEqual(len(rows), 1, text)
            row = rows[0]
            # the column is cut at its 128-byte array and says so
            self.assertIn(rcpts[0][:100], row)
            self.assertIn("...", row)
            self.assertNotIn(rcpts[1], row)
            self.assertLess(len(row), 400, row)
            self.assertTrue(row.isprintable(), repr(row))
            self.assertIn("(1 message)", text)

            js = json.loads(self.ctl("--json", "show", "queue"))
            self.assertEqual(js["count"], 1)
            self.assertEqual(js["messages"][0]["id"], qid)
            self.assertEqual(js["messages"][0]["recipients"], rcpts)

            js = json.loads(self.ctl("--json", "show", "queue", "closed", "10"))
            self.assertEqual([m["id"] for m in js["messages"]], [qid])

        # and the daemon still answers everything else
        self.assertIn("version", self.ctl("show", "info"))


if __name__ == "__main__":
    unittest.main()
