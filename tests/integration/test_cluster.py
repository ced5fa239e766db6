"""The edge cluster through a real Redis: organisation-wide settings
(fix-now, connector disable, hold by connector) reach every node within a
second and survive a restart while Redis is down; `local` keeps one on its
node; `sluicectl cluster` (and GET /api/v1/cluster) merges every node's
status and flags a node that stopped reporting; queue alerts may count the
organisation's queue."""
import json
import os
import socket
import subprocess
import time
import urllib.request

from harness import Sink, free_port, wait_for
from test_delivery import send
from test_tenants import SLUICECTL, Redis, TenantBase


def resp(port, *args):
    """One Redis command, binary-safe (RESP), its reply's first line."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a)
                                                     for a in args))
        return s.recv(4096).split(b"\r\n")[0]


def node_cfg(name, publish="1s", stale="3s", alerts="node"):
    return ("cluster: {node: %s, publish_interval: %s, stale_after: %s, alerts: %s}\n"
            % (name, publish, stale, alerts))


class ClusterStateTest(TenantBase):
    def nodes(self, n=2, more="", **kw):
        self.redis = Redis()
        self.cleanup.append(self.redis.stop)
        sink = free_port()
        return [self.relay(redis=self.redis.port, sink_port=sink,
                           more=node_cfg("n%d" % i, **kw) + more) for i in range(n)]

    def text(self, r, *args):
        out = subprocess.run([SLUICECTL, "--socket", os.path.join(r.dir, "sluice.sock")]
                             + list(args), capture_output=True, text=True, timeout=30)
        return out.returncode, out.stdout + out.stderr

    def conn(self, r, name="sink"):
        return [c for c in self.ctl(r, "show", "connectors")["connectors"]
                if c["name"] == name][0]

    def test_fix_now_on_one_node_holds_on_every_node(self):
        a, b = self.nodes()
        self.assertEqual(self.rcpt(b.port, "nobody@acme.example")[0], 250)
        rc, out = self.text(a, "fix-now", "acme.example")
        self.assertEqual(rc, 0, out)
        self.assertIn("sent to the cluster", out)
        t0 = time.monotonic()
        wait_for(lambda: self.rcpt(b.port, "nobody@acme.example")[0] == 550, 5,
                 what="fix-now applied on the other node")
        self.assertLess(time.monotonic() - t0, 2.0)
        mode = self.ctl(b, "show", "tenants")["tenants"][0]["domains"][0]["mode"]
        self.assertEqual(mode, "authoritative (fix-now, cluster)")
        view = self.ctl(b, "cluster")
        self.assertIn({"setting": "fix-now", "name": "acme.example", "node": "n0"},
                      [{k: s[k] for k in ("setting", "name", "node")}
                       for s in view["settings"]])
        self.assertIn("applied fix-now acme.example, set on n0", b.log())

    def test_connector_disable_and_enable_travel_both_ways(self):
        a, b = self.nodes()
        self.assertEqual(self.text(a, "connector", "disable", "sink")[0], 0)
        wait_for(lambda: self.conn(b)["state"] == "disabled", 5, what="disabled on b")
        self.assertEqual(self.conn(b)["state_source"], {"from": "cluster", "node": "n0"})
        rc, out = self.text(b, "show", "connectors")
        self.assertIn("disabled (cluster)", out)
        # the other node ends it
        self.assertEqual(self.text(b, "connector", "enable", "sink")[0], 0)
        wait_for(lambda: self.conn(a)["state"] == "enabled", 5, what="enabled on a")
        self.assertEqual(self.ctl(a, "cluster")["settings"], [])

    def test_local_stays_on_its_node(self):
        a, b = self.nodes()
        rc, out = self.text(a, "connector", "disable", "sink", "local")
        self.assertEqual(rc, 0, out)
        self.assertNotIn("cluster", out)
        time.sleep(1.5)
        self.assertEqual(self.conn(a)["state"], "disabled")
        self.assertEqual(self.conn(b)["state"], "enabled")
        self.assertEqual(self.conn(a)["state_source"], "local")

    def test_hold_by_connector_holds_the_other_nodes_queue(self):
        a, b = self.nodes()      # nothing listens at the sink: mail waits
        send(b.port)
        wait_for(lambda: self.conn(b)["queued"] == 1, 10, what="queued on b")
        self.assertEqual(self.text(a, "hold", "sink")[0], 0)
        wait_for(lambda: self.conn(b)["held"] == 1, 5, what="held on b")
        self.assertEqual(self.text(a, "release", "sink")[0], 0)
        wait_for(lambda: self.conn(b)["held"] == 0, 5, what="released on b")

    def test_settings_apply_at_start_while_redis_is_down(self):
        a, b = self.nodes()
        self.assertEqual(self.text(a, "connector", "disable", "sink")[0], 0)
        wait_for(lambda: self.conn(b)["state"] == "disabled", 5, what="disabled on b")
        self.redis.stop()
        b.stop()
        b.start()
        wait_for(lambda: self.conn(b)["state"] == "disabled", 5,
                 what="the kept setting applied at start")
        rc, out = self.text(b, "cluster")
        self.assertIn("redis down", out)
        self.assertIn("connector-disable", out)

    def test_changes_made_while_redis_is_down_reach_the_others_later(self):
        a, b = self.nodes()
        port = self.redis.port
        wait_for(lambda: self.ctl(a, "cluster")["redis"] == "up", 5, what="redis up")
        self.redis.stop()
        wait_for(lambda: self.ctl(a, "cluster")["redis"] == "down", 5, what="redis down")
        rc, out = self.text(a, "connector", "disable", "sink")
        self.assertEqual(rc, 0, out)
        self.assertIn("kept for the cluster", out)
        self.assertEqual(self.conn(a)["state"], "disabled")
        self.assertEqual(self.conn(b)["state"], "enabled")
        self.redis = Redis(port=port)
        self.cleanup.append(self.redis.stop)
        wait_for(lambda: self.conn(b)["state"] == "disabled", 15,
                 what="the change stored once Redis returned")

    def test_the_cluster_view_merges_nodes_and_flags_a_silent_one(self):
        a, b = self.nodes()
        send(a.port)
        send(b.port)
        send(b.port)

        def merged():
            v = self.ctl(a, "cluster")
            c = [c for c in v["connectors"] if c["name"] == "sink"]
            return v if v["nodes_reporting"] == 2 and c and c[0]["queued"] == 3 else None
        wait_for(merged, 10, what="both nodes' queues in the view")
        v = merged()
        self.assertEqual(sorted(n["node"] for n in v["nodes"]), ["n0", "n1"])
        self.assertEqual([n["self"] for n in v["nodes"] if n["node"] == "n0"], [True])
        rc, out = self.text(a, "cluster")
        self.assertEqual(rc, 0, out)
        self.assertIn("2 node(s), 2 reporting", out)
        b.kill9()
        wait_for(lambda: self.ctl(a, "cluster")["nodes_reporting"] == 1, 10,
                 what="the killed node flagged")
        rc, out = self.text(a, "cluster")
        self.assertIn("NOT REPORTING", out)

    def test_queue_alerts_count_the_cluster(self):
        more = "alerts: {threshold: 2, age: 1s}\n"
        a, b = self.nodes(alerts="cluster", more=more)
        send(a.port)
        send(b.port)

        def raised(r):
            return any(x["connector"] == "sink" for x in self.ctl(r, "cluster")["alerts"])
        wait_for(lambda: raised(a) and raised(b), 15,
                 what="an alert on each node from the cluster's total")
        self.assertIn("alert", a.log())

    def test_hostile_redis_contents_are_skipped(self):
        """What another writer may put into the shared Redis: a node name and
        a setting name that are not printable ASCII, a status key of another
        type, one larger than any status.  The view goes on (both nodes
        reporting), the link stays up, nothing of it is applied or shown."""
        a, b = self.nodes()
        wait_for(lambda: self.ctl(a, "cluster")["nodes_reporting"] == 2, 10,
                 what="both nodes in the view")
        now = str(int(time.time()) + 60).encode()
        resp(self.redis.port, b"ZADD", b"sluice:nodes", now, b"\xff\xfe", now, b"wrongtype",
             now, b"huge")
        resp(self.redis.port, b"HSET", b"sluice:node:wrongtype", b"a", b"b")
        resp(self.redis.port, b"SET", b"sluice:node:huge", b"[" + b" " * (2 << 20) + b"]")
        resp(self.redis.port, b"HSET", b"sluice:org", b"hold:\xff",
             b'{"node": "evil", "at": 1}')
        resp(self.redis.port, b"INCR", b"sluice:org:ver")
        time.sleep(5)	# stale_after 3s: a view stuck since the writes shows 0 reporting
        v = self.ctl(a, "cluster")
        self.assertEqual(v["nodes_reporting"], 2, v["nodes"])
        self.assertEqual(sorted(n["node"] for n in v["nodes"]), ["huge", "n0", "n1",
                                                                 "wrongtype"])
        self.assertEqual(v["settings"], [])
        rc, out = self.text(b, "cluster")
        self.assertEqual(rc, 0, out)
        for r in (a, b):
            self.assertNotIn("settings and view as last known", r.log())  # link kept
            self.assertIn("is not a setting: ignored", r.log())

    def test_redis_that_lost_the_settings_gets_them_again(self):
        """FLUSHALL (as Redis restarted without persistence, or a lagging
        replica promoted) while a connector is disabled: the version went
        back, so the nodes store their settings again instead of ending
        them; an enable afterwards still ends it everywhere."""
        a, b = self.nodes()
        rc, out = self.text(a, "connector", "disable", "sink")
        self.assertEqual(rc, 0, out)
        wait_for(lambda: self.conn(b)["state"].startswith("disabled"), 5,
                 what="the disable on the other node")
        self.assertEqual(resp(self.redis.port, b"FLUSHALL"), b"+OK")
        wait_for(lambda: resp(self.redis.port, b"HEXISTS", b"sluice:org",
                              b"connector-disable:sink") == b":1", 5,
                 what="the setting stored again")
        time.sleep(1.5)
        for r in (a, b):
            self.assertTrue(self.conn(r)["state"].startswith("disabled"), r.log())
        self.assertIn("it lost them", a.log() + b.log())
        rc, out = self.text(b, "connector", "enable", "sink")
        self.assertEqual(rc, 0, out)
        wait_for(lambda: self.conn(a)["state"] == "enabled", 5,
                 what="the enable on the other node")

    def test_a_node_alone_is_not_a_cluster(self):
        r = self.relay()
        rc, out = self.text(r, "cluster")
        self.assertNotEqual(rc, 0)
        self.assertIn("not in a cluster", out)


class ClusterConfigTest(TenantBase):
    def test_cluster_needs_redis(self):
        from harness import SLUICED, Sluiced
        r = Sluiced(extra="cluster: {node: a}\n")
        out = subprocess.run([SLUICED, "-t", "-c", r.config], capture_output=True,
                             text=True, timeout=30)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("cluster: needs redis:", out.stderr)

    def test_stale_after_must_exceed_the_interval(self):
        from harness import SLUICED, Sluiced
        r = Sluiced(extra="redis: {host: 127.0.0.1}\ncluster: {publish_interval: 10s, "
                    "stale_after: 5s}\n")
        out = subprocess.run([SLUICED, "-t", "-c", r.config], capture_output=True,
                             text=True, timeout=30)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("stale_after", out.stderr)


class ClusterHttpTest(TenantBase):
    def test_api_cluster(self):
        redis = Redis()
        self.cleanup.append(redis.stop)
        port = free_port()
        r = self.relay(redis=redis.port, more=node_cfg("web") +
                       "http: {listen: \"127.0.0.1:%d\"}\n" % port)
        wait_for(lambda: self.ctl(r, "cluster")["nodes_reporting"] == 1, 10,
                 what="the node in its own view")
        with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/cluster" % port,
                                    timeout=10) as f:
            v = json.loads(f.read())
        self.assertEqual(v["nodes"][0]["node"], "web")


class AdoptSpoolTest(TenantBase):
    """A dead node's spool, copied to another host and started there by an
    instance with fewer workers, is recovered and delivered whole."""

    def test_a_spool_of_four_workers_recovered_by_one(self):
        import shutil
        from harness import Sluiced
        old = Sluiced(workers=4, connector_extra="    retry: {initial: 1h, max: 1h}\n")
        old.start()
        self.cleanup.append(old.stop)
        ids = {send(old.port, body="Subject: m%d\r\nMessage-ID: <adopt%d@client.test>"
                    "\r\n\r\nhello\r\n" % (i, i)) for i in range(24)}
        self.assertEqual(len(ids), 24)
        time.sleep(0.5)
        old.kill9()
        used = [w for w in sorted(os.listdir(os.path.join(old.dir, "spool")))
                if w.startswith("w") and os.listdir(os.path.join(old.dir, "spool", w))]
        self.assertGreater(len(used), 1, "the load reached one worker only")
        sink = Sink(keep=True)
        self.cleanup.append(sink.stop)
        new = Sluiced(workers=1, sink_port=sink.port)
        shutil.copytree(os.path.join(old.dir, "spool"), os.path.join(new.dir, "spool"))
        os.unlink(os.path.join(new.dir, "spool", "lock"))
        new.start()
        self.cleanup.append(new.stop)
        self.assertIn("running 4 workers so that all of it is recovered", new.log())
        wait_for(lambda: sink.messages() == 24, 30, what="every adopted message delivered")
