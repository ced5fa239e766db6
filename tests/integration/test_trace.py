"""The message trace (issue 13, item 4): three lives told by
`sluicectl --json trace` in the order they happened — one message
delivered, one deferred until it expired and came back in an NDR (which
has a life of its own), one held and deleted by the operator — and the
queries (recipient, sender, status, id, time, hostile patterns); the
retention deleting old messages; a trace that cannot open its database
(the relay warns and delivers without it); and the trace off by default."""
import json
import os
import time
import unittest

from harness import CONFIG_HEAD, Sink, Sluiced, free_port, wait_for
from ops_helpers import send, sluicectl

CONFIG = CONFIG_HEAD + """\
@TRACE@
connectors:
  good:
    smarthosts: ["127.0.0.1:@GOOD@"]
  closed:
    smarthosts: ["127.0.0.1:@CLOSED@"]
    retry: {{initial: 1s, max: 1s, jitter: 0}}
    expiry: 4s
    down_after: 100
  parked:
    smarthosts: ["127.0.0.1:@CLOSED@"]
    retry: {{initial: 1h, max: 2h, jitter: 0}}
    down_after: 100
  bounces:
    smarthosts: ["127.0.0.1:@NDR@"]
domains:
  good.test: good
  closed.test: closed
  parked.test: parked
  client.test: bounces
"""


class Relay:
    """sluiced with the trace section given (braces doubled: the text goes
    through str.format), a sink, an NDR sink."""

    def __init__(self, test, trace="trace: {{}}"):
        self.test = test
        self.good = Sink(keep=True)
        test.addCleanup(self.good.stop)
        self.ndr = Sink(keep=True)
        test.addCleanup(self.ndr.stop)
        text = (CONFIG.replace("@TRACE@", trace).replace("@GOOD@", str(self.good.port))
                .replace("@CLOSED@", str(free_port())).replace("@NDR@", str(self.ndr.port)))
        self.r = Sluiced(workers=2, config=text)
        self.sock = os.path.join(self.r.dir, "sluice.sock")
        self.r.start()
        test.addCleanup(self.r.stop)

    def ctl(self, *args, json_out=False):
        p = sluicectl(self.sock, *((("--json",) if json_out else ()) + args))
        self.test.assertTrue(self.r.proc.alive(), "sluiced died:\n" + self.r.log()[-3000:])
        return p

    def trace(self, *args):
        p = self.ctl("trace", *args, json_out=True)
        self.test.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)["messages"]

    def life(self, *args, until=None, timeout=20):
        """The one message args select, once until(message) holds."""
        def get():
            m = self.trace(*args)
            return m[0] if len(m) == 1 and (until is None or until(m[0])) else None
        return wait_for(get, timeout, what="trace %s" % " ".join(args))


def words(m):
    """A message's events as "received", "attempt:deferred", ..."""
    return [e["event"] + (":" + e["result"] if e["result"] else "") for e in m["events"]]


class TraceLivesTest(unittest.TestCase):
    maxDiff = None

    def test_three_lives(self):
        o = Relay(self, trace="trace: {{retention: 1d}}")
        (ok,) = send(o.r.port, ["bob@good.test"])
        (late,) = send(o.r.port, ["carol@closed.test"])
        (held,) = send(o.r.port, ["dan@parked.test"], sender="eve@client.test")

        # delivered: received, then the attempt that delivered it
        m = o.life("rcpt", "bob@good.test", until=lambda m: m["status"] == "delivered")
        self.assertEqual(m["id"], ok)
        self.assertEqual(words(m), ["received", "attempt:delivered"])
        self.assertEqual(m["sender"], "alice@client.test")
        self.assertEqual(m["recipients"], ["bob@good.test"])
        self.assertEqual(m["client"], "127.0.0.1")
        self.assertGreater(m["size"], 0)
        rec, att = m["events"]
        self.assertEqual(rec["host"], "client.test")		# its HELO
        self.assertEqual(att["connector"], "good")
        self.assertEqual(att["ip"], "127.0.0.1")
        self.assertEqual(att["reply"], 250)
        self.assertEqual(att["rcpts"], ["bob@good.test"])
        self.assertIsNotNone(att["ms"])
        self.assertLessEqual(rec["t_ms"], att["t_ms"])

        # held, then deleted by the operator, while it waits for its retry
        wait_for(lambda: [x for x in o.trace("id", held) if len(x["events"]) >= 2], 20,
                 what="the first attempt of the parked message")
        self.assertEqual(o.ctl("hold", held).returncode, 0)
        self.assertEqual(o.ctl("delete", held).returncode, 0)
        m = o.life("rcpt", "dan@parked.test", until=lambda m: m["status"] == "deleted")
        self.assertEqual(words(m), ["received", "attempt:deferred", "hold", "delete"])
        self.assertEqual(m["events"][1]["code"], "4.4.316")
        self.assertEqual(m["events"][1]["mfi"], "conn_refused")
        self.assertEqual(m["events"][2]["connector"], "parked")
        self.assertEqual(m["events"][3]["rcpts"], ["dan@parked.test"])

        # deferred every second until it expires (4 s), then returned in an NDR
        m = o.life("rcpt", "carol@closed.test", until=lambda m: m["status"] == "returned",
                   timeout=30)
        self.assertEqual(m["id"], late)
        w = words(m)
        self.assertEqual(w[0], "received")
        self.assertEqual(w[-2:], ["expired", "ndr:sent"])
        self.assertGreaterEqual(w.count("attempt:deferred"), 2)
        self.assertEqual(set(w[1:-2]), {"attempt:deferred"})
        attempts = [e["attempt"] for e in m["events"] if e["event"] == "attempt"]
        self.assertEqual(attempts, list(range(1, len(attempts) + 1)))
        exp, ndr = m["events"][-2:]
        self.assertEqual(exp["code"], "4.4.316")
        self.assertEqual(exp["rcpts"], ["carol@closed.test"])
        times = [e["t_ms"] for e in m["events"]]
        self.assertEqual(times, sorted(times))
        # the NDR is a message of its own, which refers back, and is delivered
        nid = ndr["ref"]
        self.assertTrue(nid)
        n = o.life("id", nid, until=lambda n: n["status"] == "delivered")
        self.assertEqual(n["report_on"], late)
        self.assertEqual(n["sender"], "")
        self.assertEqual(n["recipients"], ["alice@client.test"])
        self.assertEqual(words(n), ["received", "attempt:delivered"])
        self.assertEqual(n["events"][1]["connector"], "bounces")

        # queries
        ids = lambda *a: sorted(x["id"] for x in o.trace(*a))
        self.assertEqual(ids(), sorted([ok, late, held, nid]))
        self.assertEqual(ids("status", "expired"), [late])
        self.assertEqual(ids("status", "returned"), [late])
        self.assertEqual(ids("status", "delivered"), sorted([ok, nid]))
        self.assertEqual(ids("status", "deferred"), sorted([late, held]))
        self.assertEqual(ids("status", "bounced"), [])
        self.assertEqual(ids("sender", "<>"), [nid])
        self.assertEqual(ids("sender", "EVE@*"), [held])
        self.assertEqual(ids("rcpt", "*@closed.test"), [late])
        self.assertEqual(ids("rcpt", "?ob@good.test"), [ok])
        self.assertEqual(ids("since", "1h"), sorted([ok, late, held, nid]))
        self.assertEqual(ids("until", "2000-01-01"), [])
        self.assertEqual(len(o.trace("limit", "2")), 2)
        for hostile in ("x'OR'1'='1", "%", "_ob@good.test", "*'--", "\\*"):
            self.assertEqual(ids("rcpt", hostile), [], hostile)
        p = o.ctl("trace", "rcpt")
        self.assertEqual(p.returncode, 1)
        self.assertIn("rcpt: expected a value after it", p.stderr)
        p = o.ctl("trace", "status", "lost")
        self.assertIn("status: expected delivered, deferred, bounced, expired or returned",
                      p.stderr)

        # the text: one line per message, its events indented under it
        text = o.ctl("trace", "id", late).stdout
        lines = text.splitlines()
        self.assertTrue(lines[0].startswith(late + "  "), text)
        self.assertIn("returned", lines[0])
        self.assertTrue(all(ln.startswith("  ") for ln in lines[1:-1]), text)
        self.assertIn("4.4.316/conn_refused", text)
        self.assertEqual(lines[-1], "1 message")

        st = json.loads(o.ctl("show", "stats", json_out=True).stdout)["trace"]
        self.assertGreater(st["trace.records"], 10)
        self.assertEqual(st["trace.dropped"], 0)
        self.assertEqual(st["trace.errors"], 0)

    def test_retention(self):
        """Messages older than the retention go, a chunk at a time."""
        o = Relay(self, trace="trace: {{retention: 2s}}")
        (first,) = send(o.r.port, ["bob@good.test"])
        o.life("id", first, until=lambda m: m["status"] == "delivered")
        wait_for(lambda: o.trace("id", first) == [], 20, what="the message pruned")
        (second,) = send(o.r.port, ["bob@good.test"])
        self.assertEqual(o.life("id", second)["id"], second)
        st = json.loads(o.ctl("show", "stats", json_out=True).stdout)["trace"]
        self.assertGreaterEqual(st["trace.pruned"], 1)

    def test_unwritable_path(self):
        """A database that cannot be opened: a warning, and mail still flows."""
        o = Relay(self, trace="trace: {{path: {dir}/missing/dir/trace.db}}")
        self.assertIn("the relay runs without a message trace", o.r.log())
        send(o.r.port, ["bob@good.test"])
        wait_for(lambda: o.good.messages() >= 1, 20,
                 what="delivery without the trace")
        p = o.ctl("trace")
        self.assertEqual(p.returncode, 1)
        self.assertIn("the message trace is not running", p.stderr)
        self.assertIn("missing/dir/trace.db", p.stderr)

    def test_off_by_default(self):
        o = Relay(self, trace="")
        p = o.ctl("trace", "rcpt", "bob@good.test")
        self.assertEqual(p.returncode, 1)
        self.assertIn("the message trace is off", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(o.r.dir, "spool", "trace.db")))
        self.assertIsNone(json.loads(o.ctl("show", "stats", json_out=True).stdout)["trace"])


if __name__ == "__main__":
    unittest.main()
