"""requeue (postsuper -r, issue 11): after a reload moves a domain to
another connector, or removes a connector or a domain, the mail already
queued is routed again through the new configuration — moved to the
right destination with its attempts kept, held mail staying held, what
nothing routes left where it was — by connector, by id, by filter or all;
and hostile targets get a clear error."""
import unittest

from harness import wait_for
from ops_helpers import OpsRelay, send, table

MOVED = """\
  move.test: good
  gone2.test: closed
"""


class RequeueTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        # move.test and gone.test start at the closed port; other.test at other
        self.o = OpsRelay(self, domains="  move.test: closed\n  gone.test: closed\n")

    def reload_with(self, old, new):
        with open(self.o.r.config) as f:
            text = f.read()
        self.assertIn(old, text)
        with open(self.o.r.config, "w") as f:
            f.write(text.replace(old, new))
        self.assertIn("configuration reloaded", self.o.ctl("reload").stdout)

    def test_domain_moved_to_another_connector(self):
        o = self.o
        held = send(o.port, ["h@move.test"])
        moving = send(o.port, ["a@move.test", "b@move.test", "c@closed.test"], n=2)
        gone = send(o.port, ["g@gone.test"])
        o.wait_deferred(4)
        o.js("hold", held[0])
        before = o.queue()
        self.assertEqual(before[moving[0]]["destinations"], ["closed"])
        att = before[moving[0]]["attempts"]
        self.assertGreaterEqual(att, 1)

        # the reload moves move.test to good and drops gone.test
        self.reload_with("  move.test: closed\n  gone.test: closed\n", MOVED)
        self.assertEqual(o.queue()[moving[0]]["destinations"], ["closed"])	# not yet
        self.assertEqual(o.good.messages(), 0)
        out = o.js("requeue", "closed")
        self.assertEqual((out["action"], out["result"]), ("requeue", "requeued"))
        self.assertEqual(out["messages"], 3)	# the two moving and the held one
        self.assertEqual(out["recipients"], 5)	# a, b twice; h
        self.assertEqual(out["unroutable"], 1)	# g@gone.test stays
        wait_for(lambda: o.good.messages() == 2, 15, what="the moved mail delivered")
        q = o.queue()
        for i in moving:			# c@closed.test still waits at closed
            self.assertEqual((q[i]["destinations"], q[i]["recipients"]),
                             (["closed"], ["c@closed.test"]))
        self.assertEqual(q[held[0]]["destinations"], ["good"])
        self.assertEqual(q[held[0]]["state"], "held")	# still held
        self.assertGreaterEqual(q[held[0]]["attempts"], 1)	# attempts kept
        self.assertIn("refused", q[held[0]]["last_error"])
        self.assertEqual(q[gone[0]]["destinations"], ["closed"])
        self.assertIn("requeued from closed to good", o.log())
        # requeue again: nothing moves; the unroutable one is counted again
        out = o.js("requeue", "all")
        self.assertEqual((out["recipients"], out["unroutable"]), (0, 1))
        text = o.ctl("requeue", gone[0]).stdout
        self.assertIn("0 recipients moved", text)
        self.assertIn("1 that nothing routes now left where they were", text)
        self.assertEqual(table(text)[0]["TARGET"], gone[0])
        o.js("release", held[0])
        wait_for(lambda: o.good.messages() == 3, 15, what="the held one, once released")

    def test_connector_removed(self):
        o = self.o
        ids = send(o.port, ["x@other.test"], n=3)
        o.wait_deferred(3)
        # other goes away; other.test now goes to good
        with open(o.r.config) as f:
            text = f.read()
        start = text.index("  other:\n")
        end = text.index("  bounces:\n")
        text = text[:start] + text[end:]
        text = text.replace("  other.test: other\n", "  other.test: good\n")
        with open(o.r.config, "w") as f:
            f.write(text)
        o.ctl("reload")
        self.assertEqual(o.js("show", "queue", "other")["count"], 3)	# still named
        out = o.js("requeue", "sender", "alice@client.test", "connector", "other")
        self.assertEqual((out["messages"], out["recipients"]), (3, 3))
        wait_for(lambda: o.good.messages() == 3, 15, what="delivery through good")
        wait_for(lambda: not o.queue(), what="an empty queue")
        self.assertEqual(o.js("show", "info")["queued"], 0)
        # its destination is still known, with nothing left at it
        self.assertEqual(o.js("requeue", "other")["messages"], 0)

    def test_hostile_requeue(self):
        o = self.o
        cases = [
            (("requeue",), "usage: requeue CONNECTOR|ID...|all|FILTER..."),
            (("requeue", "nosuch"), "no connector 'nosuch'"),
            (("requeue", "6B00000000000001"), "no message 6B00000000000001 in the queue"),
            (("requeue", "all", "good"), "'all' is the whole queue"),
            (("requeue", "y" * 500), "names are at most 127 bytes"),
            (("requeue", "rcpt", "*" * 256), "rcpt: a pattern of at most 255 bytes"),
        ]
        for args, want in cases:
            self.assertIn(want, o.fails(*args), args)
            p = o.ctl(*args, json_out=True, check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn(want, p.stderr)
        # an empty queue: nothing to do, no error
        self.assertEqual(o.js("requeue", "all")["messages"], 0)


if __name__ == "__main__":
    unittest.main()
