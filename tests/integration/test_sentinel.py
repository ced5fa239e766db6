"""Redis Sentinel (issue 14 item 4): two sluiced nodes find the Redis master
through three sentinels (quorum 2) and share a tenant's quota there.  While
unknown recipients are sent to both nodes, the master is killed (-9): the
nodes say Redis is down and why (the sentinels still name the dead master),
keep enforcing the quota on the last known total of the other node plus
their own live count, follow the promoted replica within seconds, and
rewrite their counts there so the cluster total equals the events counted;
no SMTP answer waited on any of it.  Also: a config that mixes the two
forms of redis: is refused with a clear error."""
import os
import signal
import smtplib
import subprocess
import tempfile
import threading
import time

from harness import BUILD, SLUICED, Proc, TestCase, free_port, listening, wait_for
from test_tenants import Redis, TenantTest

SLUICECTL = os.path.join(BUILD, "sluicectl")
MASTER = "mymaster"
WINDOW = "120s"

SENTINEL_CONF = """\
port {port}
bind 127.0.0.1
daemonize no
dir {dir}
sentinel monitor {master} 127.0.0.1 {mport} 2
sentinel down-after-milliseconds {master} 1000
sentinel failover-timeout {master} 4000
sentinel parallel-syncs {master} 1
"""


def redis_cli(port, *args):
    """redis-cli's raw answer lines, or None when the server does not answer."""
    out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "--raw"] +
                         [str(a) for a in args], capture_output=True, text=True, timeout=10)
    return out.stdout.splitlines() if out.returncode == 0 else None


class Sentinel:
    """A real redis-sentinel on loopback, its config file in its own
    directory (the sentinel rewrites it)."""

    def __init__(self, master_port):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="sluice-sentinel-")
        conf = os.path.join(self.dir, "sentinel.conf")
        with open(conf, "w") as f:
            f.write(SENTINEL_CONF.format(port=self.port, dir=self.dir, master=MASTER,
                                         mport=master_port))
        self.proc = Proc(["redis-sentinel", conf], self.dir, "sentinel.log")
        wait_for(lambda: listening(self.port) or not self.proc.alive(), what="redis-sentinel")
        if not self.proc.alive():
            raise AssertionError("redis-sentinel died:\n" + self.proc.log())

    def master_info(self):
        """SENTINEL master's fields as a dict ({} when it does not answer)."""
        lines = redis_cli(self.port, "SENTINEL", "master", MASTER) or []
        return dict(zip(lines[0::2], lines[1::2]))

    def stop(self):
        self.proc.stop()


def redis_ha(cleanup):
    """A Redis master, its replica in sync and three sentinels that know
    them and each other (a failover needs the quorum); each stop added to
    cleanup.  (master, replica, [sentinels])."""
    master = Redis()
    cleanup.append(master.stop)
    replica = Redis(args=["--replicaof", "127.0.0.1", str(master.port)])
    cleanup.append(replica.stop)
    wait_for(lambda: "master_link_status:up" in
             "\n".join(redis_cli(replica.port, "INFO", "replication") or []),
             15, step=0.1, what="the replica in sync")
    sentinels = []
    for _ in range(3):
        s = Sentinel(master.port)
        cleanup.append(s.stop)
        sentinels.append(s)
    # hello messages every 2 s
    wait_for(lambda: all(s.master_info().get("num-other-sentinels") == "2" and
                         s.master_info().get("num-slaves") == "1"
                         for s in sentinels), 30, step=0.2,
             what="the sentinels to find each other and the replica")
    return master, replica, sentinels


class Load:
    """Unknown recipients sent to one node, one SMTP session each, in a
    thread: what each answer was and how long the longest session took."""

    def __init__(self, port, prefix):
        self.port, self.prefix = port, prefix
        self.codes = {}			# reply code: count
        self.errors = []		# exceptions, as text
        self.slowest = 0.0		# seconds of the slowest session
        self.log = []			# (time.monotonic(), code)
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        n = 0
        while not self.halt.is_set():
            n += 1
            t0 = time.monotonic()
            try:
                with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as s:
                    s.ehlo("c.test")
                    s.mail("x@client.test")
                    code, _ = s.rcpt("%s-%d@acme.example" % (self.prefix, n))
            except Exception as e:		# counted, the test fails on it
                self.errors.append(repr(e))
                code = None
            dt = time.monotonic() - t0
            self.slowest = max(self.slowest, dt)
            if code is not None:
                self.codes[code] = self.codes.get(code, 0) + 1
                self.log.append((time.monotonic(), code))
            self.halt.wait(0.03)

    def stop(self):
        self.halt.set()
        self.thread.join(30)


class SentinelTest(TestCase):
    # the node set-up and clients of the tenant tests
    relay = TenantTest.relay
    ctl = TenantTest.ctl
    rcpt = TenantTest.rcpt

    def start_redis(self):
        self.master, self.replica, self.sentinels = redis_ha(self.cleanup)

    def node(self):
        redis = "{sentinels: [%s], master: %s}" % (
            ", ".join('"127.0.0.1:%d"' % s.port for s in self.sentinels), MASTER)
        return self.relay(mode="authoritative", quota=100000, window=WINDOW, redis=redis,
                          tenants_extra="  beta:\n    directory: {dir}/acme.txt\n"
                                        "    invalid_recipient_quota: 10\n",
                          domains_extra="  beta.example: {connector: sink, "
                                        "mode: authoritative, tenant: beta}\n")

    def info(self, r):
        return self.ctl(r, "show", "info")["redis"]

    def tenant(self, r, name):
        t = self.ctl(r, "show", "tenants")["tenants"]
        return [x for x in t if x["tenant"] == name][0]["invalid_recipients"]

    def times(self, nodes, pred, timeout, what):
        """Seconds from since until pred(show info's redis) held, per node
        (the nodes polled in turn, so each time is its own)."""
        got, since = {}, self.killed
        while len(got) < len(nodes):
            for name, r in nodes.items():
                if name not in got and pred(self.info(r)):
                    got[name] = round(time.monotonic() - since, 2)
            if time.monotonic() - since > timeout:
                raise AssertionError("timed out after %ds waiting for %s (%s)"
                                     % (timeout, what, sorted(set(nodes) - set(got))))
            time.sleep(0.02)
        return got

    def redis_total(self, port, tenant):
        """The tenant's events summed over every node's field in Redis."""
        total = 0
        for key in redis_cli(port, "KEYS", "sluice:tq:*") or []:
            lines = redis_cli(port, "HGETALL", key) or []
            for field, value in zip(lines[0::2], lines[1::2]):
                if field.startswith(tenant + "/"):
                    total += int(value)
        return total

    def test_failover_keeps_quota_and_resyncs(self):
        self.start_redis()
        old = "127.0.0.1:%d" % self.master.port
        new = "127.0.0.1:%d" % self.replica.port
        a, b = self.node(), self.node()
        for r in (a, b):
            wait_for(lambda: self.info(r)["state"] == "up", 15, step=0.1, what="redis up")
            i = self.info(r)
            self.assertEqual((i["address"], i["master"], i["sentinels"]), (old, MASTER, 3))
        show = self.ctl(a, "show", "config")["config"]["redis"]
        self.assertEqual(show["sentinels"], ["127.0.0.1:%d" % s.port for s in self.sentinels])
        self.assertEqual(show["master"], MASTER)

        # beta: 6 events on node b, known to node a through Redis
        for i in range(6):
            self.assertEqual(self.rcpt(b.port, "b%d@beta.example" % i)[0], 550)
        wait_for(lambda: self.tenant(a, "beta") == 6, 10, step=0.1, what="a sees b's 6")

        loads = [Load(a.port, "a"), Load(b.port, "b")]
        for ld in loads:
            self.cleanup.append(ld.stop)
        time.sleep(1.5)
        # cut the replica off first (its link closed by the master, and
        # its AUTH refused when it tries again): the whole buckets the nodes
        # write in the next 2.5 s never reach it, and only the nodes' resync
        # can bring them back to the promoted replica
        self.assertEqual(redis_cli(self.replica.port, "CONFIG", "SET", "masterauth", "x"),
                         ["OK"])
        self.assertEqual(redis_cli(self.master.port, "CLIENT", "KILL", "TYPE", "replica"),
                         ["1"])
        time.sleep(2.5)
        on_master = self.redis_total(self.master.port, "acme")
        self.killed = kill = time.monotonic()
        self.master.proc.stop(signal.SIGKILL)
        self.assertLess(self.redis_total(self.replica.port, "acme"), on_master)

        # down: first the lost connection, then what the sentinels say (they
        # still name the dead master until the failover)
        nodes = {"a": a, "b": b}
        sentinels = ", ".join("127.0.0.1:%d" % s.port for s in self.sentinels)
        seen = self.times(nodes, lambda i: i["state"] == "down", 10, "redis seen down")
        for r in (a, b):
            i = wait_for(lambda: (lambda i: i if "sentinel" in (i["error"] or "") else None)(
                self.info(r)), 5, step=0.05, what="the sentinels' answer as the reason")
            self.assertEqual(i["state"], "down")
            self.assertEqual(i["error"], "sentinels %s: master %s at %s: Connection refused"
                             % (sentinels, MASTER, old))
        ins = self.ctl(a, "show", "insights")["tenants"]
        self.assertTrue(any(x.get("cluster") == "redis down" and "sentinel" in x["why"]
                            for x in ins), ins)

        # enforced locally while down: 6 last known from b + 4 own = the quota
        for i in range(4):
            self.assertEqual(self.rcpt(a.port, "a%d@beta.example" % i)[0], 550)
        # (the published total lags a flush behind the node's own events)
        wait_for(lambda: self.tenant(a, "beta") == 10, 3, step=0.05, what="beta at 10 on a")
        code, msg = self.rcpt(a.port, "a-over@beta.example")
        self.assertEqual((code, msg[:7]), (451, "4.7.500"))
        self.assertEqual(self.info(a)["state"], "down",
                         "the failover ended before the local check: too fast to test")
        down_counts = [len(ld.log) for ld in loads]

        # the promoted replica, found through the sentinels
        up = self.times(nodes, lambda i: i["state"] == "up", 30, "the nodes to follow "
                        "the failover")
        for r in (a, b):
            self.assertEqual(self.info(r)["address"], new)
        promoted = [s.master_info().get("ip") + ":" + s.master_info().get("port")
                    for s in self.sentinels]
        self.assertEqual(promoted, [new] * 3)
        time.sleep(1)				# some load on the new master too
        for ld in loads:
            ld.stop()

        # every event counted once, whatever the old master had not replicated
        events = sum(ld.codes.get(550, 0) for ld in loads)
        wait_for(lambda: self.redis_total(self.replica.port, "acme") == events, 10, step=0.2,
                 what="Redis's acme total to equal the %d events" % events)
        for r in (a, b):
            wait_for(lambda: self.tenant(r, "acme") == events, 10, step=0.2,
                     what="each node's acme total to equal the %d events" % events)
        self.assertEqual(self.redis_total(self.replica.port, "beta"), 10)

        # mail was answered all along, without a stall
        for ld in loads:
            self.assertEqual(ld.errors, [])
            self.assertEqual(set(ld.codes), {550})
            self.assertLess(ld.slowest, 1.0)
        self.assertTrue(all(len(ld.log) > n for ld, n in zip(loads, down_counts)))
        answered = [t for ld in loads for t, _ in ld.log if kill < t < kill + min(up.values())]
        self.assertTrue(answered, "no answers while the master was gone")
        gap = max(y - x for ld in loads
                  for x, y in zip([t for t, _ in ld.log], [t for t, _ in ld.log][1:]))
        self.assertLess(gap, 1.0)
        print("\nfailover: down seen after %s s, node up again after %s s (from kill -9), "
              "%d events" % (seen, up, events))


    def test_manual_failover_followed(self):
        """SENTINEL FAILOVER with the old master alive: the sentinels demote
        it (and close its clients); the node follows to the new master."""
        self.start_redis()
        new = "127.0.0.1:%d" % self.replica.port
        a = self.node()
        wait_for(lambda: self.info(a)["state"] == "up", 15, step=0.1, what="redis up")
        for i in range(3):
            self.assertEqual(self.rcpt(a.port, "m%d@acme.example" % i)[0], 550)
        self.assertEqual(redis_cli(self.sentinels[0].port, "SENTINEL", "FAILOVER", MASTER),
                         ["OK"])
        wait_for(lambda: (lambda i: i["state"] == "up" and i["address"] == new)(self.info(a)),
                 30, step=0.05, what="the node on the promoted replica")
        for i in range(2):
            self.assertEqual(self.rcpt(a.port, "n%d@acme.example" % i)[0], 550)
        wait_for(lambda: self.redis_total(self.replica.port, "acme") == 5, 10, step=0.1,
                 what="the 5 events on the new master")
        self.assertIn("cluster: redis %s up (master %s, from the sentinels)" % (new, MASTER),
                      a.log())

    def test_readonly_drops_the_server(self):
        """A server that turned replica under a node (direct redis:) answers
        READONLY: the node says so and drops it; back to master, back up."""
        other = Redis()
        self.cleanup.append(other.stop)
        redis = Redis()
        self.cleanup.append(redis.stop)
        a = self.relay(mode="authoritative", quota=100, window=WINDOW, redis=redis.port)
        wait_for(lambda: self.info(a)["state"] == "up", 15, step=0.1, what="redis up")
        self.assertEqual(redis_cli(redis.port, "REPLICAOF", "127.0.0.1", other.port), ["OK"])
        self.assertEqual(self.rcpt(a.port, "r1@acme.example")[0], 550)
        i = wait_for(lambda: (lambda i: i if i["state"] == "down" else None)(self.info(a)),
                     10, step=0.05, what="READONLY seen")
        self.assertIn("HSET: READONLY", i["error"])
        self.assertIn("(not the master: looking for it again)", i["error"])
        self.assertEqual(redis_cli(redis.port, "REPLICAOF", "NO", "ONE"), ["OK"])
        wait_for(lambda: self.info(a)["state"] == "up", 15, step=0.1, what="redis up again")
        wait_for(lambda: self.redis_total(redis.port, "acme") == 1, 10, step=0.1,
                 what="the event written once it is a master again")


    def test_no_sentinel_answers(self):
        """Nothing at the sentinels' addresses from the start: down, and the
        reason in show info and in the log."""
        ports = (free_port(), free_port())
        a = self.relay(mode="authoritative", quota=100, window=WINDOW,
                       redis='{sentinels: ["127.0.0.1:%d", "127.0.0.1:%d"], master: %s}'
                       % (ports + (MASTER,)))
        why = "sentinels 127.0.0.1:%d, 127.0.0.1:%d: Connection refused" % ports
        wait_for(lambda: self.info(a)["error"] == why, 10, step=0.05, what="the reason")
        self.assertEqual(self.info(a)["state"], "down")
        self.assertIsNone(self.info(a)["address"])
        wait_for(lambda: "cluster: %s; enforcing tenant quotas" % why in a.log(), 5,
                 what="the reason in the log")


class SentinelConfigTest(TestCase):
    def check(self, redis, want):
        d = tempfile.mkdtemp(prefix="sluice-it-")
        conf = os.path.join(d, "sluice.yaml")
        with open(conf, "w") as f:
            f.write('listen: ["127.0.0.1:%d"]\nspool: %s/spool\ncontrol_socket: %s/s.sock\n'
                    'connectors: {sink: {smarthosts: ["127.0.0.1:%d"]}}\nredis: %s\n'
                    % (free_port(), d, d, free_port(), redis))
        out = subprocess.run([SLUICED, "-c", conf, "-t"], capture_output=True, text=True,
                             timeout=30)
        self.assertNotEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn(conf + ":5: redis: " + want, out.stderr + out.stdout)

    def test_mixed_or_incomplete_forms(self):
        self.check('{host: 127.0.0.1, sentinels: ["127.0.0.1:26379"], master: m}',
                   "host and sentinels exclude each other")
        self.check('{sentinels: ["127.0.0.1:26379"]}', "sentinels need master")
        self.check('{master: m}', "expected a host (one Redis), or sentinels and master")
        self.check('{sentinels: ["::1:26379"], master: m}',
                   "sentinels: expected an IPv6 address in brackets")


if __name__ == "__main__":
    import unittest
    unittest.main()
