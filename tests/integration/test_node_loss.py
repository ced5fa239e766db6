"""The node-loss test of the edge cluster (docs/CLUSTER.md): three sluiced
nodes on their own loopback addresses, each with its own spool, behind a
real HAProxy running docs/haproxy-sluice.cfg (PROXY v2, health checks on
the SMTP greeting), sharing Redis with a replica and three Sentinels, all
delivering to one sink.  Under load from sluice-bench through HAProxy one
node is killed with SIGKILL: HAProxy marks it down within its health-check
interval and new sessions go to the two others; the node is restarted; then
every message that got a 250 is found at the sink by its queue id (0 lost;
duplicates counted and reported).  The tenant quota holds across the three
nodes, and a fix-now given on one node takes effect on the others."""
import collections
import os
import re
import signal
import smtplib
import subprocess
import tempfile
import time

from harness import BUILD, CONFIG_HEAD, Proc, Sink, Sluiced, TestCase, free_port, wait_for
from test_proxy import haproxy_stat
from test_sentinel import MASTER, redis_ha
from test_tenants import TenantBase

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(BUILD, "sluice-bench")
ADDRS = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]

# each node: its PROXY listener for HAProxy, and a plain one on {port} for
# the test's direct checks
NODE = CONFIG_HEAD.replace('listen: ["127.0.0.1:{port}"]', "listen: [{{address: "
                           "\"{addr}:{pport}\", proxy_protocol: true, proxy_from: "
                           "[\"127.0.0.1\"]}}, \"{addr}:{port}\"]") + """\
redis: {redis}
cluster: {{node: {name}, number: {number}, publish_interval: 1s, stale_after: 4s}}
tenants:
  acme: {{directory: {dir}/acme.txt, invalid_recipient_quota: 10}}
  beta: {{directory: {dir}/acme.txt}}
quota_window: 1h
quota_bucket: 1m
connectors:
  sink:
    smarthosts: ["127.0.0.1:{sink_port}"]
    retry: {{initial: 1s, max: 2s, jitter: 0}}
    max_connections: 20
domains:
  example.test: sink
  acme.example: {{connector: sink, mode: authoritative, tenant: acme}}
  beta.example: {{connector: sink, mode: internal_relay, tenant: beta}}
"""


class HAProxy:
    """HAProxy running docs/haproxy-sluice.cfg, its addresses on loopback,
    with a stats socket to read the servers' states."""

    def __init__(self, port, servers):
        self.dir = tempfile.mkdtemp(prefix="sluice-haproxy-")
        self.port = port
        self.sock = os.path.join(self.dir, "stats.sock")
        with open(os.path.join(ROOT, "docs", "haproxy-sluice.cfg")) as f:
            text = f.read()
        text = text.replace("log /dev/log local0", "stats socket %s level admin" % self.sock)
        text = text.replace("bind 10.0.0.5:25", "bind 127.0.0.1:%d" % port)
        text = text.replace("maxconn 20000", "maxconn 2000")	# the test's fd limit
        text = re.sub(r"(?m)^    server .*\n", "", text)
        text += "".join("    server edge%d %s\n" % (i + 1, s) for i, s in enumerate(servers))
        self.cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(self.cfg, "w") as f:
            f.write(text)
        out = subprocess.run(["haproxy", "-c", "-f", self.cfg], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
        self.proc = Proc(["haproxy", "-db", "-f", self.cfg], self.dir, "haproxy.log")

    def states(self):
        """{server: status} from the stats socket ("UP", "DOWN", ...)."""
        try:
            rows = haproxy_stat(self.sock)
        except OSError:		# not up yet
            return {}
        return {sv: r["status"].split()[0] for (px, sv), r in rows.items()
                if px == "sluice" and sv.startswith("edge")}

    def stop(self):
        self.proc.stop()


class NodeLossTest(TestCase):
    def setUp(self):
        super().setUp()		# self.cleanup runs even if the rest fails
        self.master, self.replica, self.sentinels = redis_ha(self.cleanup)
        redis = "{sentinels: [%s], master: %s}" % (
            ", ".join('"127.0.0.1:%d"' % s.port for s in self.sentinels), MASTER)
        self.sink = Sink(keep=True)
        self.cleanup.append(self.sink.stop)
        self.nodes = []
        for i, addr in enumerate(ADDRS):
            pport = free_port()
            n = Sluiced(workers=1, sink_port=self.sink.port,
                        config=NODE.replace("{addr}", addr).replace("{name}", "edge%d" % (i + 1))
                        .replace("{number}", str(i + 1))
                        .replace("{pport}", str(pport))
                        .replace("{redis}", redis.replace("{", "{{").replace("}", "}}")))
            n.addr, n.pport = addr, pport
            with open(os.path.join(n.dir, "acme.txt"), "w") as f:
                f.write("alice@acme.example\nalice@beta.example\n")
            self.nodes.append(n)
        for n in self.nodes:
            n.start()
            self.cleanup.append(n.stop)
        self.hp = HAProxy(free_port(), ["%s:%d" % (n.addr, n.pport) for n in self.nodes])
        self.cleanup.append(self.hp.stop)
        wait_for(lambda: set(self.hp.states().values()) == {"UP"}, 20, step=0.2,
                 what="HAProxy to see three nodes up")

    ctl = TenantBase.ctl	# sluicectl --json on a node

    def rcpt(self, host, port, addr):
        with smtplib.SMTP(host, port, timeout=10) as s:
            s.ehlo("c.test")
            s.mail("x@client.test")
            code, msg = s.rcpt(addr)
            return code, msg.decode()

    def delivered_ids(self):
        """Queue ids of the sink's messages, from the Received: field the
        node that took each one wrote: {id: times delivered}."""
        ids = collections.Counter()
        for name in os.listdir(self.sink.out):
            with open(os.path.join(self.sink.out, name), "rb") as f:
                head = f.read(4096).decode("utf-8", "replace")
            m = re.search(r"\(Sluice\) with \S+ id ([0-9A-Za-z]+)", head)
            if m:
                ids[m.group(1)] += 1
        return ids

    def sessions(self, n):
        return self.ctl(n, "show", "stats")["totals"]["smtp.in.sessions"]

    def test_node_loss_under_load(self):
        ids_file = os.path.join(self.sink.dir, "acked")
        n_total = 6000
        load = subprocess.Popen([BENCH, "-H", "127.0.0.1:%d" % self.hp.port, "-n", str(n_total),
                                 "-c", "30", "-m", "20", "-s", "1024", "--rate", "1000",
                                 "--ids", ids_file, "--timeout", "20", "-q", "--json"],
                                stdout=subprocess.PIPE, text=True)
        self.cleanup.append(load.kill)
        time.sleep(2.0)
        victim = self.nodes[1]
        sessions_before = [self.sessions(n) for n in (self.nodes[0], self.nodes[2])]
        killed = time.monotonic()
        victim.kill9()
        wait_for(lambda: self.hp.states().get("edge2") == "DOWN", 10, step=0.05,
                 what="HAProxy to mark the killed node down")
        marked_down = time.monotonic() - killed
        time.sleep(1.0)
        sessions_after = [self.sessions(n) for n in (self.nodes[0], self.nodes[2])]
        self.assertTrue(all(a > b for a, b in zip(sessions_after, sessions_before)),
                        "new sessions did not reach the two other nodes")
        out, _ = load.communicate(timeout=120)
        victim.start()
        wait_for(lambda: self.hp.states().get("edge2") == "UP", 20, step=0.2,
                 what="the restarted node back in HAProxy")

        with open(ids_file) as f:
            acked = [l.strip() for l in f if l.strip()]
        self.assertGreater(len(acked), n_total // 2)
        wait_for(lambda: set(acked) <= set(self.delivered_ids()), 120, step=0.5,
                 what="every acknowledged message at the sink")
        got = self.delivered_ids()
        lost = [i for i in acked if i not in got]
        dups = sum(c - 1 for c in got.values() if c > 1)
        self.assertEqual(lost, [])
        print("\nnode loss: %d acknowledged (of %d sent), %d delivered, %d lost, %d duplicated; "
              "HAProxy marked the node down %.2f s after kill -9; bench: %s"
              % (len(acked), n_total, sum(got.values()), len(lost), dups, marked_down,
                 out.strip()))

        # the shared quota holds across the three nodes: 10 unknown
        # recipients in all, whichever node HAProxy picks, then 451
        codes = []
        for i in range(14):
            codes.append(self.rcpt("127.0.0.1", self.hp.port, "u%d@acme.example" % i)[0])
            time.sleep(0.6)	# each event in every node's total before the next
        self.assertEqual(codes, [550] * 10 + [451] * 4)

        # fix-now on one node, in force on the others within about a second
        self.assertEqual(self.rcpt(self.nodes[2].addr, self.nodes[2].port,
                                   "nobody@beta.example")[0], 250)
        self.ctl(self.nodes[0], "fix-now", "beta.example")
        for n in self.nodes[1:]:
            wait_for(lambda: self.rcpt(n.addr, n.port, "nobody@beta.example")[0] == 550, 5,
                     step=0.1, what="fix-now on %s" % n.addr)
