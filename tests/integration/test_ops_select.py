"""Selecting queued mail (issue 11): show queue's filters (sender, rcpt,
older, younger, connector, limit); the actions (hold, release, flush,
delete, bounce) on the same selections, on recipients (delete/bounce
rcpt take only the matching recipients of a job), on several ids, and on
ids from stdin (sluicectl delete -); and hostile selections — overlong
patterns, a pathological glob over many messages, bad ages and ids,
unknown connectors — answered with a clear error, never a crash."""
import json
import os
import time
import unittest

from harness import read_spool, wait_for
from ops_helpers import OpsRelay, send, table

NOT_QUEUED = "6B00000000000001"


class ShowQueueFilterTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.o = OpsRelay(self, good=False)
        o = self.o
        self.alice = send(o.port, ["x@closed.test"], n=3)
        self.spam = send(o.port, ["y@closed.test", "Z@Closed.Test"], sender="bulk@spam.example",
                         n=2)
        self.null = send(o.port, ["w@closed.test"], sender="")
        self.other = send(o.port, ["v@other.test", "u@closed.test"], sender="carol@client.test")
        o.wait_deferred(8)

    def ids(self, *args):
        return sorted(self.o.queue(*args))

    def test_filters(self):
        o = self.o
        everything = sorted(self.alice + self.spam + self.null + self.other)
        self.assertEqual(self.ids(), everything)
        self.assertEqual(self.ids("sender", "*@spam.example"), sorted(self.spam))
        self.assertEqual(self.ids("sender", "<BULK@SPAM.EXAMPLE>"), sorted(self.spam))
        self.assertEqual(self.ids("sender", "<>"), self.null)
        self.assertEqual(self.ids("sender", "?ob@*"), [])
        self.assertEqual(self.ids("rcpt", "z@closed.test"), sorted(self.spam))
        self.assertEqual(self.ids("rcpt", "*@other.test"), self.other)
        # a message is shown with the jobs that hold a matching recipient
        m = o.queue("rcpt", "*@other.test")[self.other[0]]
        self.assertEqual(m["destinations"], ["other"])
        self.assertEqual(m["recipients"], ["v@other.test"])
        self.assertEqual(self.ids("connector", "closed", "sender", "carol@client.test"),
                         self.other)
        self.assertEqual(self.ids("connector", "other"), self.other)
        self.assertEqual(self.ids("closed", "sender", "alice@*"), sorted(self.alice))
        self.assertEqual(len(self.ids("limit", "2")), 2)
        self.assertEqual(len(self.ids("closed", "3")), 3)	# today's form
        self.assertEqual(len(self.ids("sender", "*", "limit", "4")), 4)
        self.assertEqual(self.ids("older", "1h"), [])
        self.assertEqual(self.ids("younger", "1h"), everything)
        time.sleep(2.2)
        late = send(o.port, ["late@closed.test"])
        self.assertEqual(self.ids("older", "2s"), everything)
        self.assertEqual(self.ids("younger", "2s"), late)
        self.assertEqual(self.ids("younger", "1h", "older", "1m", "rcpt", "late@*"), [])
        # the table and its count
        text = o.ctl("show", "queue", "sender", "*@spam.example").stdout
        self.assertEqual(sorted(r["ID"] for r in table(text)), sorted(self.spam))
        self.assertIn("(2 messages)", text)
        self.assertIn("(0 messages)", o.ctl("show", "queue", "older", "1w").stdout)
        js = o.js("show", "queue", "rcpt", "nobody@nowhere.test")
        self.assertEqual((js["count"], js["messages"]), (0, []))

    def test_hostile_selections(self):
        o = self.o
        cases = [
            (("show", "queue", "sender", "a" * 300),
             "sender: a pattern of at most 255 bytes, got 300"),
            (("show", "queue", "older", "soon"), "older: expected an age like 90s"),
            (("show", "queue", "younger", "-5m"), "younger: expected an age"),
            (("show", "queue", "older", "99999999999999999999d"), "older: expected an age"),
            (("show", "queue", "rcpt"), "rcpt: expected a value after it"),
            (("show", "queue", "limit", "0"), "limit: expected a number above 0"),
            (("show", "queue", "0"), "the limit must be above 0"),
            (("show", "queue", "sender", "a", "sender", "b"), "sender given twice"),
            (("show", "queue", "nosuch"), "no connector 'nosuch'"),
            (("show", "queue", "connector", "x" * 200), "names are at most 127 bytes"),
            (("show", "queue", "older", "1h", "younger", "10m"),
             "older and younger leave no age between them"),
            (("show", "queue", "rcpt", "<>"), "rcpt: expected an address or a pattern"),
        ]
        for args, want in cases:
            err = o.fails(*args)
            self.assertIn(want, err, args)
            self.assertTrue(err.startswith("sluicectl: "), err)
            self.assertEqual(err.count("\n"), 1, err)
            js = o.ctl(*args, json_out=True, check=False)
            self.assertEqual(js.returncode, 1)
            self.assertIn(want, js.stderr)
        self.assertEqual(o.js("show", "info")["queued"], 7)

    def test_pathological_glob_is_bounded(self):
        """A 255-byte glob made to backtrack as much as it can, over a few
        thousand recipients: the answer comes, correct, and the workers go
        on delivering meanwhile."""
        o = self.o
        rcpts = ["%s@closed.test" % ("a" * 60 + str(i)) for i in range(50)]
        send(o.port, rcpts, n=40)
        pat = ("*a" * 126) + "b"
        self.assertEqual(len(pat), 253)
        t0 = time.time()
        self.assertEqual(o.js("show", "queue", "rcpt", pat)["count"], 0)
        self.assertEqual(o.js("show", "queue", "sender", pat)["count"], 0)
        self.assertLess(time.time() - t0, 30)
        self.assertEqual(o.js("show", "queue", "rcpt", "*a9@closed.test")["count"], 40)
        # the actions walk with the same budget, resumed from their cursor
        self.assertEqual(o.js("hold", "rcpt", pat)["jobs"], 0)
        out = o.js("hold", "rcpt", "*a9@closed.test", "sender", "alice@client.test")
        self.assertEqual((out["messages"], out["jobs"]), (40, 40))
        self.assertEqual(o.js("show", "info")["queued"], 47)


class BulkActionTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.o = OpsRelay(self, good=False)
        o = self.o
        self.alice = send(o.port, ["x@closed.test"], n=3)
        self.spam = send(o.port, ["y@closed.test", "z@closed.test"], sender="bulk@spam.example",
                         n=2)
        self.carol = send(o.port, ["v@other.test", "u@closed.test"], sender="carol@client.test")
        o.wait_deferred(7)

    def test_actions_on_selections(self):
        o = self.o
        out = o.js("hold", "sender", "*@SPAM.example")
        self.assertEqual((out["messages"], out["jobs"], out["recipients"]), (2, 2, 4))
        self.assertEqual(out["target"], "sender *@SPAM.example")
        self.assertEqual({m["state"] for m in o.queue("sender", "*@spam.example").values()},
                         {"held"})
        self.assertEqual({m["state"] for m in o.queue("sender", "alice@*").values()},
                         {"deferred"})
        self.assertEqual(o.js("release", "sender", "*@spam.example", "rcpt", "z@*")["jobs"], 2)
        self.assertEqual(o.js("flush", "older", "1h")["jobs"], 0)
        self.assertEqual(o.js("hold", "connector", "other")["jobs"], 1)
        self.assertEqual(o.js("release", "other", "rcpt", "v@other.test")["jobs"], 1)

        # delete rcpt: only the matching recipient of each job goes
        out = o.js("delete", "rcpt", "z@closed.test")
        self.assertEqual((out["messages"], out["jobs"], out["recipients"]), (2, 2, 2))
        q = o.queue()
        self.assertEqual(sorted(q), sorted(self.alice + self.spam + self.carol))
        for i in self.spam:
            self.assertEqual(q[i]["recipients"], ["y@closed.test"])
        # bounce rcpt: an NDR for that recipient, the message stays for the other
        out = o.js("bounce", "rcpt", "v@other.test")
        self.assertEqual((out["messages"], out["recipients"]), (1, 1))
        wait_for(lambda: o.ndr.messages() == 1, 15, what="the NDR of the bounce")
        names = [n for n in os.listdir(o.ndr.out) if n.endswith(".eml")]
        with open(os.path.join(o.ndr.out, names[0]), "rb") as f:
            ndr = f.read().decode(errors="replace")
        self.assertIn("v@other.test", ndr)
        self.assertNotIn("u@closed.test", ndr)
        self.assertEqual(o.queue()[self.carol[0]]["recipients"], ["u@closed.test"])
        self.assertEqual(o.js("show", "stats")["totals"]["delivery.deleted"], 2)

        # several ids on the line; one not queued is named, not an error
        out = o.js("hold", self.alice[0], self.alice[1], NOT_QUEUED)
        self.assertEqual((out["messages"], out["not_found"]), (2, [NOT_QUEUED]))
        text = o.ctl("release", self.alice[0], NOT_QUEUED).stdout
        self.assertIn("not in the queue: %s" % NOT_QUEUED, text)
        self.assertEqual(table(text)[0]["MESSAGES"], "1")
        # and the table
        rows = table(o.ctl("hold", "sender", "carol@client.test").stdout)
        self.assertEqual((rows[0]["ACTION"], rows[0]["TARGET"], rows[0]["RECIPIENTS"]),
                         ("hold", "sender carol@client.test", "1"))

        # delete by sender: gone from the queue and the spool, no NDR
        self.assertEqual(o.js("delete", "sender", "*@spam.example")["messages"], 2)
        spool = os.path.join(o.r.dir, "spool")
        wait_for(lambda: not set(self.spam) & set(read_spool(spool)), what="DONE records")
        time.sleep(0.5)
        self.assertEqual(o.ndr.messages(), 1)

    def test_ids_from_stdin(self):
        o = self.o
        many = send(o.port, ["m@closed.test"], n=40)
        # a bad line: nothing is sent
        err = o.fails("delete", "-", stdin="%s\nnot-an-id\n" % many[0])
        self.assertIn("stdin line 2: 'not-an-id' is not a queue id (16 hex digits); "
                      "nothing was sent", err)
        self.assertEqual(len(o.queue()), 46)
        self.assertIn("no queue ids on stdin", o.fails("hold", "-", stdin="\n  \n"))
        # 40 ids (three commands), blank lines and trailing words allowed
        lines = "\n".join("  %s  extra words" % i for i in many) + "\n\n"
        p = o.ctl("hold", "-", stdin=lines)
        self.assertEqual(p.stdout, "hold: 40 ids from stdin: 40 messages, 40 jobs, "
                         "40 recipients held now; 0 on a connection: applied when the "
                         "attempt ends\n")
        self.assertEqual({m["state"] for m in o.queue("rcpt", "m@*").values()}, {"held"})
        # JSON, with ids that are not queued: named, exit status 1
        p = o.ctl("--json", "delete", "-", check=False,
                  stdin="\n".join(many[:17] + [NOT_QUEUED]) + "\n")
        self.assertEqual(p.returncode, 1, p.stderr)
        js = json.loads(p.stdout)
        self.assertEqual((js["action"], js["ids"], js["messages"], js["not_found"]),
                         ("delete", 18, 17, [NOT_QUEUED]))
        self.assertIn("1 not in the queue: %s" % NOT_QUEUED, p.stderr)
        # a last command of one id that is not queued
        p = o.ctl("delete", "-", check=False, stdin="%s\n" % NOT_QUEUED)
        self.assertEqual(p.returncode, 1)
        self.assertIn("delete: 1 id from stdin: 0 messages, 0 jobs", p.stdout)
        self.assertIn("not in the queue: %s" % NOT_QUEUED, p.stderr)
        self.assertEqual(len(o.queue()), 46 - 17)
        # the filters still apply to ids given on stdin
        p = o.ctl("release", "sender", "nobody@*", "-", stdin="\n".join(many[17:]) + "\n")
        self.assertIn(": 0 messages", p.stdout)

    def test_hostile_actions(self):
        o = self.o
        ids17 = " ".join("6B09114E%08X" % i for i in range(1, 18)).split()
        cases = [
            (("hold",), "usage: hold CONNECTOR|ID...|all|FILTER... [json] (say which mail"),
            (("delete", "all", "sender", "x@y"), "'all' is the whole queue"),
            (("delete", "nosuch"), "no connector 'nosuch'"),
            (("bounce", NOT_QUEUED), "no message %s in the queue" % NOT_QUEUED),
            (("delete",) + tuple(ids17), "malformed command: too many arguments"),
            (("delete", "sender", "x" * 400), "sender: a pattern of at most 255 bytes"),
            (("release", "rcpt"), "rcpt: expected a value after it"),
            (("flush", "older", "yesterday"), "older: expected an age"),
            (("hold", "connector", "a", "b"), "two connectors"),
            (("delete", "x" * 300), "names are at most 127 bytes"),
            (("delete", "6B09114E0000000G"), "no connector '6B09114E0000000G'"),
        ]
        for args, want in cases:
            self.assertIn(want, o.fails(*args), args)
            p = o.ctl(*args, json_out=True, check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn(want, p.stderr)
        self.assertEqual(len(o.queue()), 6)
        self.assertEqual(o.ndr.messages(), 0)


if __name__ == "__main__":
    unittest.main()
