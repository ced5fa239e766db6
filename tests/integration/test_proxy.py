"""PROXY protocol on an SMTP listener (issue 14, item 1), with a real
HAProxy in front: mode tcp, one backend that sends v2 (send-proxy-v2) and
one that sends v1 (send-proxy), both health-checked on the SMTP banner
(option smtpchk, check-send-proxy), from 127.0.0.5 (source), which is the
listener's only proxy_from.

Shown: a client that reaches HAProxy from 127.0.0.9 is 127.0.0.9 to the
relay (EHLO reply, Received:, the queued log line with proxy=, the trace);
trusted_networks and the per-client limits go by the real client, so a
trusted client relays and an untrusted one behind the same HAProxy does
not, and one client over its rate does not stop another; the health
checks pass without a warning.  With raw sockets: malformed, oversized,
late (truncated, then silent) headers, SMTP without a header, and a
header from a peer not in proxy_from are each closed without a banner,
with one log line and a count, while the relay keeps serving; bytes
that follow the header in the same segment are SMTP input."""
import json
import os
import re
import smtplib
import socket
import struct
import subprocess
import time
import unittest

from harness import SLUICED, Proc, Sink, Sluiced, free_port, wait_for
from ops_helpers import sluicectl

HAPROXY = "/usr/sbin/haproxy"
BALANCER = "127.0.0.5"		# HAProxy's source towards the relay
TRUSTED = "127.0.0.9"		# in trusted_networks
UNTRUSTED = "127.0.0.10"

CONFIG = """\
workers: {workers}
hostname: relay.test
listen:
  - "127.0.0.1:{port}"
  - {{address: "127.0.0.1:@PPORT@", proxy_protocol: true, proxy_from: ["127.0.0.5"]}}
spool: {dir}/spool
control_socket: {dir}/sluice.sock
trusted_networks: ["127.0.0.9/32"]
limits:
  proxy_timeout: 2s
  client_rate: 3
  client_exempt: ["127.0.0.9/32", "127.0.0.5/32"]   # v1 checks name the balancer
log: {{level: debug}}
trace: {{}}
connectors:
  sink:
    smarthosts: ["127.0.0.1:{sink_port}"]
domains:
  example.test: sink
  "*": sink
"""

HAPROXY_CFG = """\
global
    maxconn 200
    stats socket {dir}/haproxy.sock mode 600 level admin
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout check 5s
frontend fe_v2
    bind 127.0.0.1:{v2}
    default_backend be_v2
backend be_v2
    option smtpchk EHLO haproxy.test
    source {balancer}
    server relay 127.0.0.1:{pport} send-proxy-v2 check check-send-proxy inter 300ms
frontend fe_v1
    bind 127.0.0.1:{v1}
    default_backend be_v1
backend be_v1
    option smtpchk HELO haproxy.test
    source {balancer}
    server relay 127.0.0.1:{pport} send-proxy check check-send-proxy inter 300ms
"""

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_header(src, dst="127.0.0.1", sport=40000, dport=25, cmd=0x21, fam=0x11, tlvs=b""):
    body = (socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
            if fam == 0x11 else b"") + tlvs
    return V2_SIG + bytes([cmd, fam]) + struct.pack("!H", len(body)) + body


def haproxy_stat(path):
    """HAProxy's "show stat": {(proxy, server): row} from its stats socket."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(b"show stat\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    lines = data.decode().splitlines()
    head = lines[0].lstrip("# ").split(",")
    rows = {}
    for line in lines[1:]:
        if line:
            row = dict(zip(head, line.split(",")))
            rows[(row["pxname"], row["svname"])] = row
    return rows


class Raw:
    """A raw connection to the proxy listener, from a chosen address."""

    def __init__(self, port, source=BALANCER, timeout=10):
        self.s = socket.socket()
        self.s.settimeout(timeout)
        self.s.bind((source, 0))
        self.s.connect(("127.0.0.1", port))

    def send(self, data):
        self.s.sendall(data)

    def read_all(self):
        """Everything until the relay closes; (bytes, seconds it took)."""
        t0 = time.time()
        out = b""
        try:
            while True:
                chunk = self.s.recv(4096)
                if not chunk:
                    break
                out += chunk
        except ConnectionResetError:
            pass
        return out, time.time() - t0

    def until(self, text):
        out = b""
        while text not in out:
            chunk = self.s.recv(4096)
            if not chunk:
                raise EOFError("closed; have %r" % out)
            out += chunk
        return out

    def close(self):
        self.s.close()


@unittest.skipUnless(os.access(HAPROXY, os.X_OK), "haproxy not installed")
class ProxyProtocolTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.sink = Sink(keep=True)
        cls.addClassCleanup(cls.sink.stop)
        cls.pport = free_port()
        cls.r = Sluiced(workers=2, sink_port=cls.sink.port,
                        config=CONFIG.replace("@PPORT@", str(cls.pport)))
        cls.r.start()
        cls.addClassCleanup(cls.r.stop)
        cls.v2, cls.v1 = free_port(), free_port()
        while cls.v1 == cls.v2:
            cls.v1 = free_port()
        cfg = os.path.join(cls.r.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(HAPROXY_CFG.format(dir=cls.r.dir, v2=cls.v2, v1=cls.v1, pport=cls.pport,
                                       balancer=BALANCER))
        cls.hap = Proc([HAPROXY, "-f", cfg, "-db"], cls.r.dir, "haproxy.log")
        cls.addClassCleanup(cls.hap.stop)
        cls.stats_sock = os.path.join(cls.r.dir, "haproxy.sock")
        wait_for(lambda: os.path.exists(cls.stats_sock) or not cls.hap.alive(),
                 what="haproxy stats socket")
        assert cls.hap.alive(), cls.hap.log()
        # both servers seen up by a health check that went through the header
        wait_for(lambda: all(haproxy_stat(cls.stats_sock)[(b, "relay")]["check_status"] == "L7OK"
                             for b in ("be_v2", "be_v1")), 15, what="health checks L7OK")

    def ctl_json(self, *args):
        p = sluicectl(os.path.join(self.r.dir, "sluice.sock"), "--json", *args)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def refused(self):
        return self.ctl_json("show", "stats")["totals"]["smtp.in.proxy_refused"]

    def smtp(self, port, source):
        s = smtplib.SMTP(timeout=20, source_address=(source, 0))
        s.connect("127.0.0.1", port)
        return s

    def sink_mail(self, marker):
        """The message with marker in it, as the sink received it."""
        def find():
            for name in os.listdir(self.sink.out):
                if name.startswith("."):
                    continue
                with open(os.path.join(self.sink.out, name), "rb") as f:
                    raw = f.read()
                if marker.encode() in raw:
                    return raw
            return None
        return wait_for(find, 20, what="message %s at the sink" % marker)

    def expect_log(self, pattern, what):
        return wait_for(lambda: re.search(pattern, self.r.log(), re.M), 10, what=what)

    # ---- through HAProxy ------------------------------------------------

    def relay_through(self, port, version):
        marker = "proxy-%s-%s" % (version, time.time())
        with self.smtp(port, TRUSTED) as s:
            code, msg = s.ehlo("client.test")
            self.assertEqual(code, 250)
            self.assertIn(b"Hello client.test [127.0.0.9]", msg)
            self.assertEqual(s.mail("alice@client.test")[0], 250)
            self.assertEqual(s.rcpt("bob@elsewhere.test")[0], 250)	# relayed
            code, msg = s.data("Subject: %s\r\n\r\nhello\r\n" % marker)
            self.assertEqual(code, 250, msg)
            qid = msg.decode().rsplit(" ", 1)[1]
        raw = self.sink_mail(marker)
        self.assertIn(b"Received: from client.test ([127.0.0.9])", raw)
        self.assertNotIn(b"[127.0.0.5]", raw)
        self.assertNotIn(b"[127.0.0.1]", raw)
        # the log names the client, and the balancer as proxy=
        line = self.expect_log(r"^.* info: queued id=%s from=alice@client.test .*"
                               r"client=127\.0\.0\.9 proxy=127\.0\.0\.5$" % qid, "queued line")
        self.assertIn("debug: session 127.0.0.9: through proxy 127.0.0.5 (PROXY v%s)"
                      % version, self.r.log())
        return line

    def test_v2_trusted_real_client_relays(self):
        self.relay_through(self.v2, 2)
        # the trace tells the same client
        m = wait_for(lambda: self.ctl_json("trace", "rcpt", "bob@elsewhere.test")["messages"],
                     what="trace")
        self.assertEqual({x["client"] for x in m}, {"127.0.0.9"})

    def test_v1_trusted_real_client_relays(self):
        self.relay_through(self.v1, 1)

    def test_untrusted_client_behind_the_same_haproxy(self):
        for port in (self.v2, self.v1):
            marker = "untrusted-%d-%s" % (port, time.time())
            with self.smtp(port, UNTRUSTED) as s:
                code, msg = s.ehlo("other.test")
                self.assertIn(b"[127.0.0.10]", msg)
                self.assertEqual(s.mail("mallory@other.test")[0], 250)
                code, msg = s.rcpt("victim@elsewhere.test")
                self.assertEqual((code, msg), (550, b"5.7.1 Relay access denied"))
                # an accepted domain takes mail from anyone
                self.assertEqual(s.rcpt("bob@example.test")[0], 250)
                code, _ = s.data("Subject: %s\r\n\r\nhi\r\n" % marker)
                self.assertEqual(code, 250)
            raw = self.sink_mail(marker)
            self.assertIn(b"Received: from other.test ([127.0.0.10])", raw)

    def test_client_rate_goes_by_the_real_client(self):
        # client_rate 3 per minute: the fourth connection of 127.0.0.20 is
        # refused, 127.0.0.21 behind the same HAProxy is not
        for i in range(3):
            with self.smtp(self.v2, "127.0.0.20") as s:
                self.assertEqual(s.noop()[0], 250)
        s = socket.create_connection(("127.0.0.1", self.v2), timeout=10,
                                     source_address=("127.0.0.20", 0))
        reply = s.recv(512)
        s.close()
        self.assertTrue(reply.startswith(b"421 4.7.0 Too many connections per minute "
                                         b"from 127.0.0.20"), reply)
        with self.smtp(self.v2, "127.0.0.21") as s:
            self.assertEqual(s.noop()[0], 250)
        self.expect_log(r"warn: client 127\.0\.0\.20: over its limit of 3 connections per "
                        r"minute", "the limit's log line")

    def test_health_checks_are_quiet(self):
        t0 = time.time()
        before = {b: int(haproxy_stat(self.stats_sock)[(b, "relay")]["chkfail"] or 0)
                  for b in ("be_v2", "be_v1")}
        log_before = len(self.r.log())
        time.sleep(2)		# a few checks of each backend, every 300 ms
        st = haproxy_stat(self.stats_sock)
        for b in ("be_v2", "be_v1"):
            row = st[(b, "relay")]
            self.assertEqual((row["status"], row["check_status"]), ("UP", "L7OK"), row)
            self.assertEqual(int(row["chkfail"] or 0), before[b], row)
        new = self.r.log()[log_before:]
        # v2 checks say LOCAL; v1 ones name the balancer itself
        self.assertIn("debug: session 127.0.0.5: PROXY v2 LOCAL", new)
        self.assertIn("debug: session 127.0.0.5: through proxy 127.0.0.5 (PROXY v1)", new)
        noise = [l for l in new.splitlines() if " warn: " in l or " err: " in l]
        self.assertEqual(noise, [], "after %.1fs" % (time.time() - t0))

    def test_show_config(self):
        full = self.ctl_json("show", "config")
        c = full["config"]
        self.assertEqual(c["listen"], [
            "127.0.0.1:%d" % self.r.port,
            {"address": "127.0.0.1:%d" % self.pport, "proxy_protocol": True,
             "proxy_from": ["127.0.0.5/32"]}])
        self.assertEqual(c["limits"]["proxy_timeout"], 2)
        self.assertNotIn("limits.proxy_timeout", full["defaults"])
        self.assertEqual(self.ctl_json("show", "config", "defaults")["config"]["limits"]
                         ["proxy_timeout"], 5)
        p = sluicectl(os.path.join(self.r.dir, "sluice.sock"), "show", "config")
        self.assertIn('\nlisten: ["127.0.0.1:%d", {address: "127.0.0.1:%d", '
                      'proxy_protocol: true, proxy_from: ["127.0.0.5/32"]}]\n'
                      % (self.r.port, self.pport), p.stdout)
        self.assertIn("\n  proxy_timeout: 2s\n", p.stdout)
        # what is shown is a configuration sluiced accepts
        path = os.path.join(self.r.dir, "shown.yaml")
        with open(path, "w") as f:
            f.write(p.stdout)
        t = subprocess.run([SLUICED, "-t", "-c", path], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(t.returncode, 0, t.stdout + t.stderr)

    # ---- raw connections to the proxy listener ------------------------------

    def expect_closed(self, data, reason, source=BALANCER, then_silent=False):
        """data sent, the connection is closed without a banner and the
        one log line "proxy SOURCE: REASON, closed" is there."""
        line = "warn: proxy %s: %s, closed\n" % (source, reason)
        before = self.refused(), self.r.log().count(line)
        c = Raw(self.pport, source)
        if data:
            c.send(data)
        out, took = c.read_all()
        c.close()
        self.assertEqual(out, b"", "a reply to %r" % data[:40])
        wait_for(lambda: self.r.log().count(line) > before[1], 10, what=line)
        time.sleep(0.1)
        self.assertEqual(self.r.log().count(line), before[1] + 1)	# one line
        self.assertEqual(self.refused(), before[0] + 1)
        return took

    def test_malformed_headers_are_closed(self):
        cases = [
            (b"PROXY TCP4 127.0.0.9 127.0.0.1 40000 99999\r\n",
             "bad PROXY header (v1 port is not a number from 0 to 65535)"),
            (b"PROXY TCP4 ::1 127.0.0.1 40000 25\r\nEHLO x\r\n",
             "bad PROXY header (v1 TCP4 address is not an IPv4 address)"),
            (b"PROXY TCP6 127.0.0.9 ::1 40000 25\r\n",
             "bad PROXY header (v1 TCP6 address is not an IPv6 address)"),
            (b"PROXY UDP4 127.0.0.9 127.0.0.1 1 2\r\n",
             "bad PROXY header (v1 protocol is not TCP4, TCP6 or UNKNOWN)"),
            (b"PROXY TCP4 127.0.0.9 127.0.0.1 1 2\n",
             "bad PROXY header (v1 header line not ended by CRLF)"),
            (b"PROXY UNKNOWN " + b"x" * 120,
             "bad PROXY header (v1 header without CRLF within 107 bytes)"),
            (b"\r\n\r\n\x00\r\nQUIX\n" + b"\x21\x11\x00\x0c" + b"\x00" * 12,
             "bad PROXY header (bad v2 signature)"),
            (V2_SIG + b"\x11\x11\x00\x0c" + b"\x00" * 12,
             "bad PROXY header (v2 version is not 2)"),
            (V2_SIG + b"\x21\x31\x00\xd8" + b"\x00" * 216,
             "bad PROXY header (v2 family AF_UNIX is not supported)"),
            (V2_SIG + b"\x21\x51\x00\x0c" + b"\x00" * 12,
             "bad PROXY header (v2 address family is unknown)"),
            (v2_header(TRUSTED, tlvs=b"\x04\x00\x09abc"),
             "bad PROXY header (v2 TLV runs past the end of the header)"),
            (b"EHLO client.test\r\n", "bad PROXY header (not a PROXY protocol header)"),
        ]
        for data, reason in cases:
            with self.subTest(reason=reason):
                self.expect_closed(data, reason)

    def test_oversized_header_is_closed_at_its_length(self):
        # the length field alone says too much: closed before the body
        self.expect_closed(V2_SIG + b"\x21\x11\xff\xff" + b"\x00" * 100,
                           "bad PROXY header (v2 header longer than 2048 bytes)")
        self.expect_closed(V2_SIG + b"\x21\x11\x08\x00",
                           "bad PROXY header (v2 header longer than 2048 bytes)")

    def test_truncated_then_silent_is_closed_at_the_deadline(self):
        took = self.expect_closed(b"PROXY TCP4 127.0.0.9",
                                  "no complete PROXY header within 2s (20 bytes received)")
        self.assertGreater(took, 1.0)
        self.assertLess(took, 6.0)
        took = self.expect_closed(b"", "no complete PROXY header within 2s (0 bytes received)")
        self.assertGreater(took, 1.0)
        # v2 cut after its 16 bytes, the rest never sent
        self.expect_closed(v2_header(TRUSTED)[:20],
                           "no complete PROXY header within 2s (20 bytes received)")

    def test_peer_not_in_proxy_from_is_closed(self):
        # a valid header naming a trusted client, from the wrong peer
        for source in ("127.0.0.1", TRUSTED):
            with self.subTest(source=source):
                took = self.expect_closed(
                    b"PROXY TCP4 127.0.0.9 127.0.0.1 40000 25\r\nEHLO x\r\n",
                    "not in proxy_from of listener 127.0.0.1:%d" % self.pport, source=source)
                self.assertLess(took, 1.5)

    def test_bytes_after_the_header_are_smtp(self):
        # the header and pipelined commands in one segment
        for hdr in (v2_header(TRUSTED), b"PROXY TCP4 127.0.0.9 127.0.0.1 40000 25\r\n",
                    v2_header(TRUSTED, tlvs=b"\x04\x00\x03pad\x05\x00\x02id")):
            with self.subTest(hdr=hdr[:16]):
                c = Raw(self.pport)
                c.send(hdr + b"EHLO raw.test\r\nNOOP\r\nQUIT\r\n")
                out, _ = c.read_all()
                c.close()
                self.assertTrue(out.startswith(b"220 relay.test ESMTP Sluice\r\n"), out)
                self.assertIn(b"250-relay.test Hello raw.test [127.0.0.9]\r\n", out)
                self.assertTrue(out.endswith(b"250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n"), out)
        # a header a byte at a time, then the client
        c = Raw(self.pport)
        for b in v2_header(TRUSTED, sport=5555):
            c.send(bytes([b]))
            time.sleep(0.005)
        self.assertTrue(c.until(b"\r\n").startswith(b"220 "))
        c.send(b"EHLO slow.test\r\n")
        self.assertIn(b"Hello slow.test [127.0.0.9]", c.until(b"250 "))
        c.close()
        # LOCAL: the balancer's own address stands
        c = Raw(self.pport)
        c.send(v2_header(TRUSTED, cmd=0x20, fam=0x00) + b"EHLO lb.test\r\n")
        self.assertIn(b"Hello lb.test [127.0.0.5]", c.until(b"250 "))
        c.close()

    def test_relay_keeps_serving_around_bad_peers(self):
        # a silent connection waits for its deadline meanwhile
        silent = Raw(self.pport)
        silent.send(b"PROXY ")
        bad = Raw(self.pport)
        bad.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")	# a TLS hello
        out, _ = bad.read_all()
        self.assertEqual(out, b"")
        self.relay_through(self.v2, 2)
        # the plain listener is untouched: a PROXY line there is no header
        with smtplib.SMTP("127.0.0.1", self.r.port, timeout=10) as s:
            code, msg = s.docmd("PROXY TCP4 127.0.0.9 127.0.0.1 1 25")
            self.assertEqual(code, 500)
            self.assertIn(b"[127.0.0.1]", s.ehlo("direct.test")[1])
        out, took = silent.read_all()
        self.assertEqual(out, b"")
        self.assertTrue(self.hap.alive() and self.r.proc.alive())


if __name__ == "__main__":
    unittest.main()
