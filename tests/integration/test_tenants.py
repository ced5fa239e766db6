"""Tenants: authoritative domains and the directory, the invalid-recipient
quota (trips and clears with a test-sized window), 5.1.1 answers from the
destination counted, fix-now during an outage (unknown recipients returned
at once, known ones kept, the switch surviving a restart), show tenants."""
import json
import os
import smtplib
import subprocess
import time
import unittest

from harness import BUILD, Sink, Sluiced, free_port, wait_for
from test_delivery import CONFIG, attempts, send

SLUICECTL = os.path.join(BUILD, "sluicectl")


class TenantTest(unittest.TestCase):
    def setUp(self):
        self.cleanup = []

    def tearDown(self):
        for f in reversed(self.cleanup):
            try:
                f()
            except Exception:
                pass

    def relay(self, mode="internal_relay", quota=0, sink_port=None, window="10s", redis=None,
              tenants_extra="", domains_extra=""):
        """A sluiced with tenant acme on acme.example (plus tenants_extra
        under tenants: and domains_extra under domains:, where "{dir}" is
        the node's directory); redis: a port, or the YAML of redis:."""
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
        time.sleep(1.1)		# each worker sees the others' counts within a second
        code, msg = self.rcpt(r.port, "alice@acme.example")
        self.assertEqual((code, msg[:7]), (451, "4.7.500"))
        self.assertTrue(self.ctl(r, "show", "tenants")["tenants"][0]["throttled"])
        ins = self.ctl(r, "show", "insights")["tenants"]
        self.assertEqual((ins[0]["tenant"], ins[0]["code"]), ("acme", "4.7.500"))
        wait_for(lambda: self.rcpt(r.port, "alice@acme.example")[0] == 250, 10,
                 step=0.5, what="the window to slide below the quota")
        self.assertFalse(self.ctl(r, "show", "tenants")["tenants"][0]["throttled"])

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


class ClusterTest(TenantTest):
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
