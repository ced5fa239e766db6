"""Hostile-input and operator-error guards (issue 9): one spool per daemon,
no silent port sharing, per-client session and connection-rate limits, the
DATA time budget, memory returned after a burst, and NDRs that nothing
routes.  Each test failed on the code before its fix."""
import email
import os
import signal
import smtplib
import socket
import subprocess
import time
import unittest

from harness import (BENCH, BUILD, DEFAULT_CONFIG, SLUICED, Proc, Sink, Sluiced, banner,
                     free_port, read_spool, wait_for)
from test_intake import Dialog

SLUICECTL = os.path.join(BUILD, "sluicectl")

BODY = "Subject: guards\r\nMessage-ID: <g1@client.test>\r\n\r\nhello\r\n"

NDR_CONFIG = """\
workers: 1
hostname: relay.test
listen: ["127.0.0.1:{port}"]
spool: {dir}/spool
control_socket: {dir}/sluice.sock
trusted_networks: ["127.0.0.1/32"]
{extra}
connectors:
  sink:
    smarthosts: ["127.0.0.1:{sink_port}"]
    retry: {{initial: 1s, max: 2s, jitter: 0}}
    connect_timeout: 2s
  bounces:
    smarthosts: ["127.0.0.1:@NDR@"]
    retry: {{initial: 1s, max: 2s, jitter: 0}}
  held:
    smarthosts: ["127.0.0.1:{sink_port}"]
    enabled: false
{connector_extra}
domains:
  example.test: sink
  client.test: bounces
{domains_extra}
"""


def send(port, rcpts=("bob@example.test",), sender="alice@client.test", body=BODY, n=1,
         source=None):
    """Send n messages on one connection; returns their queue ids."""
    ids = []
    with smtplib.SMTP("127.0.0.1", port, timeout=20,
                      source_address=(source, 0) if source else None) as s:
        s.ehlo("client.test")
        for _ in range(n):
            s.mail(sender)
            for r in rcpts:
                code, msg = s.rcpt(r)
                assert code == 250, (r, code, msg)
            code, msg = s.data(body.encode())
            assert code == 250, msg
            ids.append(msg.decode().split()[-1])
    return ids


def run_sluiced(config, timeout=10):
    """Start another sluiced on config; returns (exit code, or None if it
    got ready instead, its output).  A survivor is stopped."""
    d = os.path.dirname(config)
    p = Proc([SLUICED, "-c", config], d, "second-%d.log" % time.monotonic_ns())
    wait_for(lambda: not p.alive() or "ready:" in p.log(), timeout,
             what="sluiced to exit or get ready")
    rc = p.p.poll()
    if rc is None:
        p.stop()
    else:
        p.logf.close()
    return rc, p.log()


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmRSS for pid %d" % pid)


class GuardsTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.cleanup = []

    def tearDown(self):
        for f in reversed(self.cleanup):
            try:
                f()
            except Exception:
                pass

    def relay(self, start=True, **kw):
        r = Sluiced(**kw)
        if start:
            r.start()
            self.cleanup.append(r.stop)
        return r

    # ---- defect 2: one sluiced per spool ---------------------------------

    def test_spool_lock_second_instance_refused(self):
        """A second sluiced on the same config refuses to start, naming the
        pid that holds the spool; the first one's queued mail survives."""
        dead = free_port()	# nothing listens: the mail stays queued
        r = self.relay(sink_port=dead, connector_extra="    retry: {initial: 1s, max: 1s, "
                       "jitter: 0}\n    connect_timeout: 1s")
        ids = send(r.port, n=3)
        wait_for(lambda: "conn_refused" in r.log(), what="a refused attempt")
        self.assertEqual(sorted(read_spool(os.path.join(r.dir, "spool"))), sorted(ids))
        pid = r.proc.p.pid

        # the config check needs no lock
        chk = subprocess.run([SLUICED, "-t", "-c", r.config], capture_output=True, text=True,
                             timeout=20)
        self.assertEqual(chk.returncode, 0, chk.stdout + chk.stderr)

        rc, out = run_sluiced(r.config)
        self.assertIsNotNone(rc, "a second sluiced started on a locked spool:\n" + out)
        self.assertNotEqual(rc, 0)
        self.assertIn("pid %d" % pid, out)
        self.assertNotIn("recovered", out)
        self.assertTrue(r.proc.alive())
        with open(os.path.join(r.dir, "spool", "lock")) as f:
            self.assertEqual(f.read().strip(), str(pid))

        # the first still serves, and its queue is whole after a restart
        send(r.port, n=1)
        r.stop()
        sink = Sink(port=dead)
        self.cleanup.append(sink.stop)
        r.start()
        self.assertEqual(r.recovered(), 4)
        wait_for(lambda: sink.messages() == 4, timeout=30, what="4 messages delivered")

    # ---- defect 3: no silent port sharing ---------------------------------

    def listen_config(self, listen):
        """A sluiced (not started) whose listeners are listen (YAML list)."""
        return Sluiced(config=DEFAULT_CONFIG.replace('["127.0.0.1:{port}"]', listen))

    def assert_refused(self, r, addr):
        rc, out = run_sluiced(r.config)
        self.assertIsNotNone(rc, "sluiced shared %s:\n%s" % (addr, out))
        self.assertNotEqual(rc, 0, out)
        self.assertIn("listen %s: address already in use" % addr, out)

    def py_listener(self, family, host, port, reuseport=True):
        s = socket.socket(family, socket.SOCK_STREAM)
        self.cleanup.append(s.close)
        if reuseport:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host, port))
        s.listen(8)
        return s

    def test_listen_second_instance_refused(self):
        """A second sluiced (its own spool) on a port the first listens on
        refuses to start, naming the address, instead of joining the
        first one's SO_REUSEPORT group."""
        r = self.relay()
        other = self.listen_config('["127.0.0.1:%d"]' % r.port)
        self.assert_refused(other, "127.0.0.1:%d" % r.port)
        # the same daemon restarts on its port at once (TIME_WAIT is no rival)
        self.assertIn("220 relay.test", banner(r.port))
        send(r.port)
        r.stop()
        r.start()
        self.assertIn("220 relay.test", banner(r.port))

    def test_listen_foreign_reuseport_listener_refused(self):
        """Another program's SO_REUSEPORT listener, on the same address, on
        the IPv4 wildcard, on [::1] and on the IPv6 wildcard; and a plain one."""
        port = free_port()
        cases = [
            (socket.AF_INET, "127.0.0.1", '"127.0.0.1:%d"', "127.0.0.1:%d", True),
            (socket.AF_INET, "0.0.0.0", '"127.0.0.1:%d"', "127.0.0.1:%d", True),
            (socket.AF_INET6, "::1", '"[::1]:%d"', "[::1]:%d", True),
            (socket.AF_INET6, "::", '"[::1]:%d"', "[::1]:%d", True),
            (socket.AF_INET, "127.0.0.1", '"127.0.0.1:%d"', "127.0.0.1:%d", False),
        ]
        for family, host, listen, addr, reuseport in cases:
            with self.subTest(host=host, reuseport=reuseport):
                s = self.py_listener(family, host, port, reuseport)
                r = self.listen_config("[%s]" % (listen % port))
                self.assert_refused(r, addr % port)
                s.close()
        # once the port is free, sluiced takes it (both families)
        r = self.listen_config('["127.0.0.1:%d", "[::1]:%d"]' % (port, port))
        r.start()
        self.cleanup.append(r.stop)
        self.assertIn("220 relay.test", banner(port))
        self.assertIn("220 relay.test", banner(port, host="::1"))

    # ---- defect 8: per-client limits over all workers -------------------

    def test_client_session_limit(self):
        """Beyond limits.client_sessions concurrent sessions from one address
        (spread over both workers by SO_REUSEPORT) the next gets 421 4.7.0
        and is closed, logged once; trusted clients can be made subject to
        it, other addresses are not affected, a closed session frees a slot."""
        r = self.relay(workers=2, extra="limits:\n  client_sessions: 3\n  client_rate: 0\n"
                                         "  client_exempt: []\n")
        held = [Dialog(r.port) for _ in range(3)]
        for d in held:
            self.assertEqual(d.greeting[0][:3], "220")
            self.assertEqual(d.cmd("EHLO c.test")[:3], "250")
        for _ in range(3):
            d = Dialog(r.port)
            self.assertRegex(d.greeting[0], r"^421 4\.7\.0 Too many connections from 127\.0\.0\.1")
            self.assertTrue(d.closed())
        other = Dialog(r.port, source="127.0.0.2")
        self.assertEqual(other.greeting[0][:3], "220")
        held[0].cmd("QUIT")
        held[0].close()
        d = wait_for(lambda: (lambda x: x if x.greeting[0][:3] == "220" else x.close())(
            Dialog(r.port)), what="a session slot after QUIT")
        self.assertEqual(d.cmd("EHLO c.test")[:3], "250")
        self.assertEqual(r.log().count("client 127.0.0.1: over its limit of 3 concurrent "
                                       "sessions"), 1)
        for x in held[1:] + [d, other]:
            x.close()

    def test_client_session_limit_default(self):
        """Out of the box an untrusted address gets 50 concurrent sessions
        (Postfix's smtpd_client_connection_count_limit), the 51st a 421."""
        r = self.relay(workers=2)
        held = [Dialog(r.port, source="127.0.0.3") for _ in range(50)]
        self.assertEqual({d.greeting[0][:3] for d in held}, {"220"})
        d = Dialog(r.port, source="127.0.0.3")
        self.assertRegex(d.greeting[0], r"^421 4\.7\.0 Too many connections from 127\.0\.0\.3")
        for x in held + [d]:
            x.close()

    def test_client_rate_limit_and_exemption(self):
        """limits.client_rate connections per minute: the next is refused
        with 421 4.7.0 (and so is every further attempt that minute);
        trusted_networks are exempt unless client_exempt says otherwise."""
        r = self.relay(workers=2, extra="limits:\n  client_sessions: 0\n  client_rate: 10\n")
        for _ in range(10):
            d = Dialog(r.port, source="127.0.0.2")
            self.assertEqual(d.greeting[0][:3], "220")
            d.close()
        for _ in range(3):
            d = Dialog(r.port, source="127.0.0.2")
            self.assertRegex(d.greeting[0], r"^421 4\.7\.0 Too many connections per minute "
                                            r"from 127\.0\.0\.2")
            d.close()
        # 127.0.0.1 is trusted, hence exempt by default
        for _ in range(15):
            d = Dialog(r.port)
            self.assertEqual(d.greeting[0][:3], "220")
            d.close()
        self.assertEqual(r.log().count("client 127.0.0.2: over its limit of 10 connections "
                                       "per minute"), 1)
        self.assertNotIn("client 127.0.0.1: over", r.log())

    # ---- defect 8: the DATA phase has a time budget ----------------------

    def open_data(self, r):
        d = Dialog(r.port, source="127.0.0.2")
        d.cmd("EHLO c.test")
        self.assertEqual(d.cmd("MAIL FROM:<a@c.test>")[:3], "250")
        self.assertEqual(d.cmd("RCPT TO:<b@example.test>")[:3], "250")
        self.assertEqual(d.cmd("DATA")[:3], "354")
        return d

    def trickle(self, d, chunk, every, limit):
        """Send chunk every `every` s until the server answers; returns
        (reply, seconds since DATA)."""
        t0 = time.monotonic()
        d.s.settimeout(every)
        while time.monotonic() - t0 < limit:
            try:
                d.send(chunk)
            except OSError:
                break
            try:
                return d.reply()[-1], time.monotonic() - t0
            except socket.timeout:
                continue
        d.s.settimeout(5)
        return d.reply()[-1], time.monotonic() - t0

    def test_data_trickle_below_min_rate(self):
        """Two bytes a second keep data_timeout (2s) happy for ever on the
        old code; the default data_min_rate (500 B/s once data_timeout has
        passed) ends it with 421 4.4.2."""
        r = self.relay(extra="limits:\n  data_timeout: 2s\n")
        d = self.open_data(r)
        reply, took = self.trickle(d, b"x", 0.5, 15)
        self.assertRegex(reply, r"^421 4\.4\.2")
        self.assertLess(took, 6)
        self.assertTrue(d.closed())
        self.assertIn("DATA below data_min_rate 500 bytes/s", r.log())
        self.assertEqual(r.log().count("queued id="), 0)

    def test_data_total_budget(self):
        """A client sending steadily (200 B/s, each gap well under
        data_timeout) is cut off when data_total is spent; a normal message
        in the same configuration goes through."""
        r = self.relay(extra="limits:\n  data_timeout: 3s\n  data_total: 4s\n"
                             "  data_min_rate: 0\n")
        send(r.port, source="127.0.0.2")
        d = self.open_data(r)
        reply, took = self.trickle(d, b"y" * 50 + b"\r\n", 0.25, 15)
        self.assertRegex(reply, r"^421 4\.4\.2")
        self.assertGreaterEqual(took, 3)
        self.assertLess(took, 7)
        self.assertTrue(d.closed())
        self.assertIn("DATA not finished within data_total 4s", r.log())
        self.assertEqual(r.log().count("queued id="), 1)

    # ---- defect 12: memory follows the load ------------------------------

    def test_memory_returned_after_burst(self):
        """Relay 200 x 1 MiB messages; once the queue is empty, RSS goes back
        below start + 24 MiB within 30 s (it stayed near 100 MiB before)."""
        sink = Sink()
        self.cleanup.append(sink.stop)
        r = self.relay(workers=2, sink_port=sink.port)
        pid = r.proc.p.pid
        time.sleep(0.5)
        start = rss_mib(pid)
        bound = start + 24
        out = subprocess.run([BENCH, "-H", "127.0.0.1:%d" % r.port, "-c", "10", "-n", "200",
                              "-m", "10", "-s", str(1 << 20), "-q"],
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        wait_for(lambda: sink.messages() >= 200, timeout=120, what="200 messages relayed")
        with open("/proc/%d/status" % pid) as f:
            hwm = [int(x.split()[1]) / 1024.0 for x in f if x.startswith("VmHWM:")][0]
        self.assertGreater(hwm, bound, "the burst never raised RSS: the test proves nothing")
        t0 = time.monotonic()
        seen = []
        while time.monotonic() - t0 < 30:
            seen.append(round(rss_mib(pid)))
            if seen[-1] < bound:
                break
            time.sleep(1)
        self.assertLess(seen[-1], bound, "RSS after the burst (MiB, 1/s): %s; start %.0f, "
                        "peak %.0f" % (seen, start, hwm))

    # ---- defect 13: NDRs that nothing routes; >64 unroutable recipients ---

    def ndr_relay(self, ndr_args=(), sink_args=(), **kw):
        self.ndr = Sink(keep=True, args=ndr_args)
        self.cleanup.append(self.ndr.stop)
        self.sink = Sink(keep=True, args=sink_args)
        self.cleanup.append(self.sink.stop)
        return self.relay(config=NDR_CONFIG.replace("@NDR@", str(self.ndr.port)),
                          sink_port=self.sink.port, **kw)

    def reports(self):
        """(raw bytes, parsed message) of every message at the NDR sink."""
        out = []
        for name in sorted(n for n in os.listdir(self.ndr.out)
                           if n.endswith(".eml") and not n.startswith(".")):
            with open(os.path.join(self.ndr.out, name), "rb") as f:
                raw = f.read()
            out.append((raw, email.message_from_bytes(raw)))
        return out

    @staticmethod
    def status_fields(m):
        return "\n".join(str(p) for p in m.get_payload()[1].get_payload())

    def test_more_than_64_unroutable_recipients_finish(self):
        """A queued message whose 100 recipients nothing routes any more
        (the domain left the config) is returned whole and finishes; the
        fixed 64-entry list used to leave 36 pending for ever."""
        r = self.ndr_relay(domains_extra="  many.test: held")
        rcpts = ["r%02d@many.test" % i for i in range(100)]
        qid = send(r.port, rcpts=rcpts)[0]
        wait_for(lambda: "queued id=%s" % qid in r.log(), what="the message queued")
        r.stop()
        with open(r.config, "w") as f:
            f.write(r.config_text.replace("  many.test: held\n", ""))
        r.start()
        msgs = wait_for(self.reports, 30, what="the NDR at the sender's sink")
        self.assertEqual(len(msgs), 1)
        raw, m = msgs[0]
        self.assertIn(b"X-Sink-To: alice@client.test", raw)
        fields = self.status_fields(m)
        self.assertEqual(sorted(x.split(";")[1].strip() for x in fields.splitlines()
                                if x.startswith("Final-Recipient:")), rcpts)
        self.assertEqual(fields.count("Status: 5.4.4"), 100)
        wait_for(lambda: not read_spool(os.path.join(r.dir, "spool")), 20,
                 what="the message (and its NDR) finished: spool empty")

    def test_unroutable_ndr_logged_with_reason(self):
        """No postmaster: an NDR to a sender whose domain nothing routes is
        not sent, but a warning names the message, the sender and why (it
        used to vanish with an info line about a null sender)."""
        r = self.ndr_relay(sink_args=["--user-unknown", "bob"])
        qid = send(r.port, sender="alice@nowhere.test")[0]
        line = wait_for(lambda: [x for x in r.log().splitlines()
                                 if "id=%s from=<alice@nowhere.test>: NDR" % qid in x],
                        20, what="the dropped-NDR warning")[0]
        self.assertIn("warn:", line)
        self.assertIn("(first <bob@example.test>: 550 5.1.1", line)
        self.assertIn("dropped: no connector routes the sender's domain; set postmaster", line)
        wait_for(lambda: not read_spool(os.path.join(r.dir, "spool")), 20, what="spool empty")
        self.assertEqual(self.reports(), [])

    def test_unroutable_ndr_goes_to_postmaster(self):
        """With postmaster set, the NDR nothing else can take goes there."""
        r = self.ndr_relay(sink_args=["--user-unknown", "bob"],
                           extra="postmaster: pm@client.test")
        qid = send(r.port, sender="alice@nowhere.test")[0]
        msgs = wait_for(self.reports, 30, what="the NDR at the postmaster")
        raw, m = msgs[0]
        self.assertIn(b"X-Sink-From: <>", raw)
        self.assertIn(b"X-Sink-To: pm@client.test", raw)
        self.assertEqual(m["To"], "<pm@client.test>")
        self.assertIn("Final-Recipient: rfc822; bob@example.test", self.status_fields(m))
        self.assertIn("id=%s: NDR for <alice@nowhere.test> cannot be delivered (no connector "
                      "routes the sender's domain): sent to the postmaster <pm@client.test>"
                      % qid, r.log())
        wait_for(lambda: not read_spool(os.path.join(r.dir, "spool")), 20, what="spool empty")

    def test_bounced_ndr_goes_to_postmaster_once(self):
        """An NDR the sender's server refuses (a double bounce) goes to the
        postmaster; without one it is dropped with a warning.  A report to
        the postmaster that fails is the end of the line (no loop)."""
        r = self.ndr_relay(ndr_args=["--user-unknown", "alice", "--user-unknown", "pm"],
                           sink_args=["--user-unknown", "bob"],
                           extra="postmaster: pm@client.test")
        send(r.port)
        wait_for(lambda: "pm@client.test" in r.log() and "dropped" in r.log(), 30,
                 what="the double bounce refused by the postmaster's server too")
        log = r.log()
        self.assertRegex(log, r"NDR for 1 recipient\(s\) to <pm@client\.test> queued as")
        self.assertRegex(log, r"from=<>: NDR for 1 recipient\(s\) \(first <pm@client\.test>: "
                              r"550 5\.1\.1[^)]*\) dropped: it has a null sender")
        wait_for(lambda: not read_spool(os.path.join(r.dir, "spool")), 20, what="spool empty")
        self.assertEqual(log.count("to <pm@client.test> queued as"), 1)
        r.stop()

        # the postmaster accepts: the double bounce arrives, about alice
        self.ndr.stop()
        self.ndr = Sink(keep=True, port=self.ndr.port, args=["--user-unknown", "alice"])
        self.cleanup.append(self.ndr.stop)
        r.start()
        send(r.port)
        msgs = wait_for(self.reports, 30, what="the double bounce at the postmaster")
        raw, m = msgs[0]
        self.assertIn(b"X-Sink-To: pm@client.test", raw)
        self.assertIn("Final-Recipient: rfc822; alice@client.test", self.status_fields(m))


if __name__ == "__main__":
    unittest.main()
