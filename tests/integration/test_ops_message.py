"""show message ID (postcat + trace, issue 11): the envelope with its DSN
parameters, each recipient's state (delivered, failed, deferred, held,
queued), each job's attempts with their codes and a bounded history, and
the headers read back from wherever the message lives — memory, its
segment (after a restart), its body file (a spilled message).  Hostile
input: bad ids, terminal escapes and binary bytes in headers, a header
section longer than what is read; JSON always parses."""
import json
import os
import unittest

from harness import wait_for
from ops_helpers import BODY, OpsRelay, send, table


class ShowMessageTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.o = OpsRelay(self, good_args=["--user-unknown", "nobody"])

    def test_envelope_states_attempts_headers(self):
        o = self.o
        (mid,) = send(o.port, ["a@good.test", "nobody@good.test", "c@closed.test",
                               "d@other.test"], sender="alice@client.test",
                      mail_opts=["RET=FULL", "ENVID=env+2Did"],
                      rcpt_opts=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;orig@client.test"])
        wait_for(lambda: o.good.messages() == 1, 15, what="a@good.test delivered")
        o.wait_deferred(2)
        o.js("hold", mid, "connector", "other")
        for _ in range(10):		# more attempts than the history keeps
            o.js("flush", "closed")
            wait_for(lambda: o.js("show", "message", mid)["jobs"][0]["state"] == "deferred",
                     what="the attempt over")
        m = o.js("show", "message", mid)
        self.assertEqual(m["id"], mid)
        self.assertEqual((m["sender"], m["envid"], m["ret"], m["client"], m["helo"]),
                         ("alice@client.test", "env+2Did", "full", "127.0.0.1", "client.test"))
        self.assertEqual(m["spool"]["in_memory"], True)
        self.assertIsNone(m["spool"]["body_file"])
        self.assertTrue(m["spool"]["segment"].endswith(".seg"), m["spool"])
        self.assertGreater(m["size"], len(BODY))
        rc = {r["address"]: r for r in m["recipients"]}
        self.assertEqual({a: r["state"] for a, r in rc.items()},
                         {"a@good.test": "delivered", "nobody@good.test": "failed",
                          "c@closed.test": "deferred", "d@other.test": "held"})
        for r in rc.values():
            self.assertEqual(r["orcpt"], "rfc822;orig@client.test")
            self.assertEqual(r["notify"], "success,failure")
        self.assertEqual(rc["c@closed.test"]["destination"], "closed")
        self.assertIsNone(rc["a@good.test"]["destination"])
        self.assertEqual(m["pending"], 2)
        jobs = {j["destination"]: j for j in m["jobs"]}
        c = jobs["closed"]
        self.assertEqual(c["attempts"], 11)
        self.assertEqual((c["code"], c["mfi"], c["reply"]), ("4.4.316", "conn_refused", 0))
        self.assertIn("refused", c["detail"])
        self.assertEqual(c["last_error"], "450 4.4.316 Connection refused")
        self.assertEqual(c["history_total"], 11)
        self.assertEqual([h["attempt"] for h in c["history"]], list(range(4, 12)))
        self.assertTrue(all(h["status"] == "4.4.316" and h["result"] == "deferred"
                            for h in c["history"]))
        self.assertIsNotNone(c["next_attempt"])
        self.assertIsNotNone(c["expires"])
        self.assertEqual(jobs["other"]["state"], "held")
        self.assertIsNone(jobs["other"]["next_attempt"])
        self.assertIn("Subject: ops test", m["headers"])
        self.assertIn("X-Folded: first", m["headers"])
        self.assertIn(" second line", m["headers"])
        self.assertTrue(m["headers"][0].startswith("Received: from client.test"))
        self.assertFalse(m["headers_truncated"])
        self.assertNotIn("hello", json.dumps(m["headers"]))	# no body

        # the text form
        text = o.ctl("show", "message", mid).stdout
        self.assertIn("sender      <alice@client.test>", text)
        self.assertIn("envid       env+2Did", text)
        self.assertIn("state       2 of 4 recipients pending", text)
        rec = text.split("recipients:\n")[1].split("jobs:\n")[0]
        rows = {r["RECIPIENT"]: r for r in table(rec)}
        self.assertEqual(rows["nobody@good.test"]["STATE"], "failed")
        self.assertEqual(rows["d@other.test"]["STATE"], "held")
        att = text.split("attempts (")[1].split("headers (")[0].split("\n", 1)[1]
        hist = [r for r in table(att) if r["DESTINATION"] == "closed"]
        self.assertEqual([r["#"] for r in hist], [str(i) for i in range(4, 12)])
        self.assertEqual({r["STATUS"] for r in hist}, {"4.4.316"})
        self.assertIn("\nX-Folded: first\n second line\n", text)
        self.assertIn("\n\tby relay.test (Sluice)", text)
        self.assertNotIn("\n\n", text)

        # the data comes from the segment after a restart, the same headers
        o.r.stop()
        o.r.start()
        wait_for(lambda: os.path.exists(o.sock), what="control socket")
        m2 = o.js("show", "message", mid)
        self.assertFalse(m2["spool"]["in_memory"])
        self.assertEqual(m2["headers"], m["headers"])
        # attempts and their history are memory only: what is left is the
        # attempt made since the restart, if any
        self.assertLessEqual(m2["jobs"][0]["history_total"], 1)
        self.assertEqual({r["address"]: r["state"] for r in m2["recipients"]}["nobody@good.test"],
                         "failed")

    def test_body_file_and_hostile_headers(self):
        o = self.o
        evil = ("Subject: \x1b[31mred\x1b[0m caf\xc3\xa9 \xff\xfe\r\n"
                "X-Ctl: a\x07b\x7fc\r\n")
        long_hdrs = "".join("X-Pad-%04d: %s\r\n" % (i, "p" * 900) for i in range(80))
        big = (evil + long_hdrs + "\r\n" + "body line\r\n" * 40000).encode("latin-1")
        (mid,) = send(o.port, ["x@closed.test"], body=big)
        o.wait_deferred(1)
        m = o.js("show", "message", mid)
        self.assertIsNotNone(m["spool"]["body_file"])		# spilled
        self.assertFalse(m["spool"]["in_memory"])
        self.assertTrue(m["headers_truncated"])			# > 64 KiB of headers
        self.assertEqual(m["headers_bytes"], 65536)
        subj = [h for h in m["headers"] if h.startswith("Subject:")][0]
        self.assertIn("\x1b[31mred", subj)			# JSON escapes it
        self.assertIn("caf\u00e9", subj)
        self.assertIn("\\xFF\\xFE", subj)			# not UTF-8: shown as bytes
        text = o.ctl("show", "message", mid).stdout
        self.assertNotIn("\x1b", text)
        self.assertNotIn("\x07", text)
        self.assertIn("Subject: \\x1B[31mred\\x1B[0m caf\u00e9 \\xFF\\xFE", text)
        self.assertIn("X-Ctl: a\\x07b\\x7Fc", text)
        self.assertIn("cut: no end of the headers in the first 64 KiB", text)
        self.assertNotIn("\n\n", text)
        self.assertTrue(all(line.isprintable() or "\t" in line for line in text.splitlines()))

    def test_bad_ids(self):
        o = self.o
        (mid,) = send(o.port, ["x@closed.test"])
        cases = [
            (("show", "message"), "usage: show message ID"),
            (("show", "message", "zzz"), "usage: show message ID"),
            (("show", "message", "0000000000000000"), "usage: show message ID"),
            (("show", "message", mid + "0"), "usage: show message ID"),
            (("show", "message", "f" * 3000), "usage: show message ID"),
            (("show", "message", mid, mid), "usage: show message ID"),
            (("show", "message", "6B00000000000001"), "no message 6B00000000000001 in the queue"),
        ]
        for args, want in cases:
            self.assertIn(want, o.fails(*args), args)
            p = o.ctl(*args, json_out=True, check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn(want, p.stderr)
        self.assertEqual(o.js("show", "message", mid.lower())["id"], mid)


if __name__ == "__main__":
    unittest.main()
