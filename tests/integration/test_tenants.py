"""Tenants: authoritative domains and the directory, the invalid-recipient
quota (trips and clears with a test-sized window, holds exactly under a
burst that both workers serve, and across two nodes sharing Redis), 5.1.1
answers from the destination counted, fix-now during an outage (unknown
recipients returned at once, known ones kept, the switch surviving a
restart), show tenants."""
import json
import os
import smtplib
import subprocess
import threading
import unittest

from harness import BUILD, Sink, Sluiced, TestCase, free_port, wait_for
from test_delivery import CONFIG, attempts, send

SLUICECTL = os.path.join(BUILD, "sluicectl")


class TenantBase(TestCase):
    """A relay with tenant acme (acme.example, a directory), and helpers
    (self.cleanup as harness.TestCase's)."""

    def relay(self, mode="internal_relay", quota=0, sink_port=None, window="10s", redis=None,
              tenants_extra="", domains_extra="", more=""):
        """A sluiced with tenant acme on acme.example (plus tenants_extra
        under tenants: and domains_extra under domains:, where "{dir}" is
        the node's directory, and more at the top level); redis: a port, or
        the YAML of redis:."""
        self.ndr = Sink(keep=True)
        self.cleanup.append(self.ndr.stop)
        sink_port = sink_port or free_port()
        r = Sluiced(config=CONFIG.replace("{sink_connector}",
                                          '    smarthosts: ["127.0.0.1:%d"]' % sink_port)
                    .replace("{expiry}", "1h").replace("{down_after}", "2")
                    .replace("{ndr_port}", str(self.ndr.port)), sink_port=sink_port)
        d = os.path.join(r.dir, "acme.txt")
        with open(d, "w") as f:
            f.write("# acme's mailboxes\nalice@acme.example\nBob@Acme.Example\n")
        extra = ("tenants:\n  acme:\n    directory: %s\n    invalid_recipient_quota: %d\n%s"
                 "quota_window: %s\nquota_bucket: 1s\n"
                 % (d, quota, tenants_extra.replace("{dir}", r.dir), window))
        if isinstance(redis, str):
            extra += "redis: %s\n" % redis
        elif redis is not None:
            extra += "redis: {host: 127.0.0.1, port: %d}\n" % redis
        extra += more
        text = r.config_text.replace("connectors:", extra + "connectors:", 1)
        text = text.replace("domains:\n", "domains:\n  acme.example: {connector: sink, "
                            "mode: %s, tenant: acme}\n%s" % (mode, domains_extra), 1)
        with open(r.config, "w") as f:
            f.write(text)
        r.start()
        self.cleanup.append(r.stop)
        return r

    def ctl(self, r, *args):
        out = subprocess.run([SLUICECTL, "--socket", os.path.join(r.dir, "sluice.sock"),
                              "--json"] + list(args), capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout)

    def rcpt(self, port, addr):
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            s.ehlo("c.test")
            s.mail("x@client.test")
            code, msg = s.rcpt(addr)
            return code, msg.decode()

    def burst(self, port, addrs):
        """RCPT TO each of addrs at once, each on a connection of its own
        (opened and past MAIL FROM beforehand, so the workers' accepts do
        not spread the RCPTs out): the [(code, text)] in addrs' order."""
        conns = []
        try:
            for _ in addrs:
                s = smtplib.SMTP("127.0.0.1", port, timeout=20)
                conns.append(s)
                s.ehlo("c.test")
                s.mail("x@client.test")
            go = threading.Barrier(len(addrs))
            out = [None] * len(addrs)

            def one(i):
                go.wait()
                code, msg = conns[i].rcpt(addrs[i])
                out[i] = (code, msg.decode())
            threads = [threading.Thread(target=one, args=(i,)) for i in range(len(addrs))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            return out
        finally:
            for s in conns:
                s.close()

    def sessions_per_worker(self, r):
        """smtp.in.sessions of each worker of r."""
        return [w["smtp.in.sessions"] for w in self.ctl(r, "show", "stats")["per_worker"]]


class TenantTest(TenantBase):
    def test_authoritative_rejects_unknown(self):
        r = self.relay(mode="authoritative")
        self.assertEqual(self.rcpt(r.port, "alice@acme.example")[0], 250)
        self.assertEqual(self.rcpt(r.port, "bob@ACME.example")[0], 250)
        code, msg = self.rcpt(r.port, "mallory@acme.example")
        self.assertEqual((code, msg[:6]), (550, "5.1.10"))
        t = self.ctl(r, "show", "tenants")["tenants"][0]
        self.assertEqual(t["tenant"], "acme")
        self.assertEqual(t["invalid_recipients"], 1)
        self.assertEqual(t["domains"][0]["mode"], "authoritative")

    def test_internal_relay_accepts_everyone(self):
        r = self.relay()
        self.assertEqual(self.rcpt(r.port, "anyone@acme.example")[0], 250)

    def test_quota_trips_and_clears(self):
        r = self.relay(mode="authoritative", quota=3, window="4s")
        for i in range(3):
            self.assertEqual(self.rcpt(r.port, "nobody%d@acme.example" % i)[0], 550)
        code, msg = self.rcpt(r.port, "alice@acme.example")
        self.assertEqual((code, msg[:7]), (451, "4.7.500"))
        self.assertTrue(self.ctl(r, "show", "tenants")["tenants"][0]["throttled"])
        ins = self.ctl(r, "show", "insights")["tenants"]
        self.assertEqual((ins[0]["tenant"], ins[0]["code"]), ("acme", "4.7.500"))
        wait_for(lambda: self.rcpt(r.port, "alice@acme.example")[0] == 250, 10,
                 step=0.5, what="the window to slide below the quota")
        self.assertFalse(self.ctl(r, "show", "tenants")["tenants"][0]["throttled"])

    def test_quota_holds_under_a_burst(self):
        """Issue 14 item 0: 28 unknown recipients at once on 28
        connections, which SO_REUSEPORT spreads over both workers, against
        a quota of 20: 20 get 550 and 8 get 451 4.7.500.  Each worker used
        to see the other's events only a second later, so all 28 got 550.
        The one slack left is the check-then-count race (core/tenant/
        tenant.h): two workers checking in the same tens of nanoseconds at
        19 both count, so 21 is allowed (quota + workers - 1); it is rare
        and reported when it happens."""
        r = self.relay(mode="authoritative", quota=20, window="60s")
        before = self.sessions_per_worker(r)
        got = self.burst(r.port, ["nobody%d@acme.example" % i for i in range(28)])
        served = [a - b for a, b in zip(self.sessions_per_worker(r), before)]
        self.assertEqual(len(served), 2)
        self.assertTrue(all(n > 0 for n in served), "one worker took every connection: %s"
                        % served)
        rejected = [m for c, m in got if c == 550]
        deferred = [m for c, m in got if c == 451]
        self.assertEqual(len(rejected) + len(deferred), 28, got)
        self.assertTrue(all(m.startswith("5.1.10") for m in rejected), rejected)
        self.assertTrue(all(m.startswith("4.7.500") for m in deferred), deferred)
        self.assertGreaterEqual(len(rejected), 20, got)
        self.assertLessEqual(len(rejected), 21, "%d rejected, workers served %s"
                             % (len(rejected), served))
        if len(rejected) == 21:
            print("test_quota_holds_under_a_burst: the check-then-count race happened "
                  "(21 counted for a quota of 20)")
        t = self.ctl(r, "show", "tenants")["tenants"][0]
        self.assertEqual(t["invalid_recipients"], len(rejected))
        self.assertTrue(t["throttled"])

    def test_show_tenants_traffic(self):
        sink = Sink()
        self.cleanup.append(sink.stop)
        r = self.relay(sink_port=sink.port)
        send(r.port, rcpts=("a@acme.example", "b@acme.example", "c@example.test"))
        wait_for(lambda: self.ctl(r, "show", "tenants")["tenants"][0]["recipients_delivered"] == 2,
                 20, what="2 recipients delivered for acme")
        t = self.ctl(r, "show", "tenants")["tenants"][0]
        self.assertEqual(t["recipients_in"], 2)

    def test_destination_user_unknown_counts(self):
        sink = Sink(args=["--user-unknown", "ghost"])
        self.cleanup.append(sink.stop)
        r = self.relay(sink_port=sink.port, quota=100)
        send(r.port, rcpts=("ghost@acme.example",))
        wait_for(lambda: self.ctl(r, "show", "tenants")["tenants"][0]["invalid_recipients"] == 1,
                 20, what="the 5.1.1 counted against acme")

    def test_fix_now_during_outage_and_restart(self):
        r = self.relay()			# sink port closed: everything queues
        send(r.port, rcpts=("alice@acme.example", "ghost@acme.example"))
        send(r.port, rcpts=("phantom@acme.example",))
        wait_for(lambda: len(attempts(r.log(), "deferred")) >= 2, 20, what="deferrals")
        self.ctl(r, "set", "alert", "threshold", "1", "age", "1")
        ins = wait_for(lambda: self.ctl(r, "show", "insights")["alerts"], 10,
                       what="a queue alert")
        self.assertEqual(ins[0]["code"], "4.4.316")
        self.assertEqual(ins[0]["fix_now"], ["acme.example"])
        out = self.ctl(r, "fix-now", "acme.example")
        self.assertEqual(out["returned"], 2)
        msgs = wait_for(lambda: [n for n in os.listdir(self.ndr.out) if n.endswith(".eml")],
                        20, what="NDRs for the unknown recipients")
        text = "".join(open(os.path.join(self.ndr.out, n), errors="replace").read()
                       for n in msgs)
        self.assertIn("5.1.10", text)
        self.assertIn("ghost@acme.example", text)
        # Sluice's own answer, not a remote one, and it says what to do
        self.assertIn("Diagnostic-Code: X-Sluice; 550 5.1.10 Recipient not found", text)
        self.assertNotIn("Remote-MTA:", text)
        self.assertIn("How to fix:", text)
        self.assertIn("Who should act: sender, or partner or destination", text)
        self.assertNotIn("Final-Recipient: rfc822; alice@acme.example", text)
        q = self.ctl(r, "show", "queue")
        self.assertIn("alice@acme.example", json.dumps(q))
        self.assertEqual(self.rcpt(r.port, "someone@acme.example")[0], 550)
        # a restart keeps the switch
        r.stop()
        r.start()
        self.assertEqual(self.rcpt(r.port, "someone@acme.example")[0], 550)
        t = self.ctl(r, "show", "tenants")["tenants"][0]
        self.assertEqual(t["domains"][0]["mode"], "authoritative (fix-now)")


class Redis:
    """A real redis-server on loopback, no persistence."""

    def __init__(self, port=None, args=()):
        import shutil
        import tempfile
        from harness import Proc
        if shutil.which("redis-server") is None:
            raise unittest.SkipTest("redis-server is not installed")
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="sluice-redis-")
        self.proc = Proc(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "no", "--dir", self.dir] + list(args),
                         self.dir, "redis.log")
        from harness import listening
        wait_for(lambda: listening(self.port), what="redis-server")

    def stop(self):
        self.proc.stop()


class ClusterTest(TenantBase):
    """Two sluiced nodes share one quota through a real Redis."""

    def test_two_nodes_cross_the_quota_together(self):
        redis = Redis()
        self.cleanup.append(redis.stop)
        a = self.relay(mode="authoritative", quota=4, window="30s", redis=redis.port)
        b = self.relay(mode="authoritative", quota=4, window="30s", redis=redis.port)
        for node in (a, b):
            for i in range(2):
                self.assertEqual(self.rcpt(node.port, "x%d@acme.example" % i)[0], 550)
        # neither node counted 4 alone; together they did
        for node in (a, b):
            wait_for(lambda: self.rcpt(node.port, "alice@acme.example")[0] == 451, 10,
                     step=0.3, what="the cluster quota on every node")
            t = self.ctl(node, "show", "tenants")
            self.assertEqual(t["cluster"], "redis up")
            self.assertGreaterEqual(t["tenants"][0]["invalid_recipients"], 4)

    def test_two_nodes_quota_exact_after_each_flush(self):
        """Node a takes 12 unknown recipients in a burst over both its
        workers; once node b has read them from Redis, b lets exactly 8
        more through (one at a time, each waited into the cluster total)
        and defers the rest.  The cross-node slack is the flush lag only
        (README: events counted anywhere in the cluster during the last
        flush interval), which the waits take out."""
        redis = Redis()
        self.cleanup.append(redis.stop)
        a = self.relay(mode="authoritative", quota=20, window="60s", redis=redis.port)
        b = self.relay(mode="authoritative", quota=20, window="60s", redis=redis.port)

        def invalid(node):
            return self.ctl(node, "show", "tenants")["tenants"][0]["invalid_recipients"]
        got = self.burst(a.port, ["a%d@acme.example" % i for i in range(12)])
        self.assertEqual([c for c, _ in got], [550] * 12)
        wait_for(lambda: invalid(b) == 12, 10, step=0.1, what="node b to read a's 12")
        codes = []
        for i in range(10):
            codes.append(self.rcpt(b.port, "b%d@acme.example" % i)[0])
            if codes[-1] == 550:
                wait_for(lambda: invalid(b) == 12 + codes.count(550), 10, step=0.05,
                         what="b's event in the cluster total")
        self.assertEqual(codes, [550] * 8 + [451] * 2)
        wait_for(lambda: self.rcpt(a.port, "alice@acme.example")[0] == 451, 10, step=0.1,
                 what="node a to read b's 8")

    def test_redis_down_then_up(self):
        redis = Redis()
        port = redis.port
        a = self.relay(mode="authoritative", quota=100, window="60s", redis=port)
        wait_for(lambda: self.ctl(a, "show", "tenants")["cluster"] == "redis up", 10,
                 what="redis up")
        redis.stop()
        wait_for(lambda: self.ctl(a, "show", "tenants")["cluster"] == "redis down", 10,
                 what="redis seen down")
        self.assertTrue(self.ctl(a, "show", "tenants")["cluster_error"])
        # (show insights json took the daemon down while Redis was down)
        ins = self.ctl(a, "show", "insights")["tenants"]
        self.assertEqual([x["cluster"] for x in ins], ["redis down"])
        self.assertIn("127.0.0.1:%d" % port, ins[0]["why"])
        for i in range(3):				# local counting goes on
            self.assertEqual(self.rcpt(a.port, "y%d@acme.example" % i)[0], 550)
        self.assertEqual(self.ctl(a, "show", "tenants")["tenants"][0]["invalid_recipients"], 3)
        redis = Redis(port=port)			# back, empty: resync rewrites
        self.cleanup.append(redis.stop)
        wait_for(lambda: self.ctl(a, "show", "tenants")["cluster"] == "redis up", 20,
                 what="redis up again")
        b = self.relay(mode="authoritative", quota=100, window="60s", redis=port)
        wait_for(lambda: self.ctl(b, "show", "tenants")["tenants"][0]["invalid_recipients"] == 3,
                 10, step=0.3, what="node b sees node a's resynced counts")


if __name__ == "__main__":
    unittest.main()
