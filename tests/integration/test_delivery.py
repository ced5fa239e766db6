"""Delivery through connectors: every mail-flow-intelligence code from a
real fault (sluice-sink modes, a closed port, a real dnsmasq), retries,
expiry with a parsed NDR, destination health, a real Postfix smtp-sink
downstream, and restart with deferred mail."""
import email
import json
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
import unittest

from harness import (events, CONFIG_HEAD, POSTFIX_ENV, SMTP_SINK, SMTP_SOURCE, Proc, Sink, Sluiced, free_port,
                     read_spool, wait_for)

CONFIG = CONFIG_HEAD + """\
{extra}
connectors:
  sink:
{sink_connector}
    retry: {{initial: 1s, max: 2s, jitter: 0}}
    expiry: {expiry}
    connect_timeout: 2s
    command_timeout: 5s
    down_after: {down_after}
{connector_extra}
  bounces:
    smarthosts: ["127.0.0.1:{ndr_port}"]
    retry: {{initial: 1s, max: 2s, jitter: 0}}
domains:
  example.test: sink
  client.test: bounces
{domains_extra}
"""


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dnsmasq:
    """A real DNS server on loopback with the records the tests need."""

    def __init__(self, records=()):
        self.port = free_udp_port()
        self.dir = tempfile.mkdtemp(prefix="sluice-dns-")
        argv = ["/usr/sbin/dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts",
                "--bind-interfaces", "--listen-address=127.0.0.1", "--port=%d" % self.port,
                "--conf-file=/dev/null", "--log-facility=-"] + list(records)
        self.proc = Proc(argv, self.dir, "dnsmasq.log")
        time.sleep(0.3)
        if not self.proc.alive():
            raise unittest.SkipTest("dnsmasq does not start: " + self.proc.log())

    def stop(self):
        self.proc.stop()


def attempts(log, result=None):
    return [a for a in events(log, "attempt") if result is None or a["result"] == result]


def send(port, rcpts=("bob@example.test",), sender="alice@client.test", body=None,
         mail_opts=(), rcpt_opts=()):
    body = body or "Subject: test message\r\nMessage-ID: <t1@client.test>\r\n\r\nhello\r\n"
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.ehlo("client.test")
        s.mail(sender, list(mail_opts))
        for r in rcpts:
            code, msg = s.rcpt(r, list(rcpt_opts))
            assert code == 250, (r, code, msg)
        code, msg = s.data(body.encode())
        assert code == 250, msg
        return msg.decode().split()[-1]


class RelayCase(unittest.TestCase):
    """A relay to the sink connector with an NDR sink, and the checks of
    its codes and NDRs: what the delivery tests share (no tests itself;
    test_ndr.py and test_report.py build on it too)."""
    maxDiff = None

    def setUp(self):
        self.cleanup = []

    def tearDown(self):
        for f in reversed(self.cleanup):
            try:
                f()
            except Exception:
                pass

    def relay(self, sink_connector=None, sink_port=None, expiry="30s", down_after=3,
              extra="", connector_extra="", domains_extra="", ndr_keep=True, start=True,
              workers=2):
        self.ndr = Sink(keep=ndr_keep)
        self.cleanup.append(self.ndr.stop)
        sink_port = sink_port or free_port()
        if sink_connector is None:
            sink_connector = '    smarthosts: ["127.0.0.1:%d"]' % sink_port
        r = Sluiced(workers=workers, config=CONFIG.replace("{sink_connector}", sink_connector)
                    .replace("{expiry}", expiry).replace("{down_after}", str(down_after))
                    .replace("{ndr_port}", str(self.ndr.port)),
                    extra=extra, connector_extra=connector_extra, domains_extra=domains_extra,
                    sink_port=sink_port)
        self.sink_port = sink_port
        if start:
            r.start()
            self.cleanup.append(r.stop)
        return r

    def ndr_messages(self):
        out = []
        for name in sorted(n for n in os.listdir(self.ndr.out) if n.endswith(".eml")
                           and not n.startswith(".")):
            with open(os.path.join(self.ndr.out, name), "rb") as f:
                out.append(email.message_from_bytes(f.read()))
        return out

    def expect_code(self, r, code, mfi, timeout=20):
        a = wait_for(lambda: [x for x in attempts(r.log()) if x["code"] == code],
                     timeout, what="an attempt with %s in the log" % code)
        self.assertEqual(a[0]["mfi"], mfi)
        self.assertEqual(a[0]["connector"], "sink")
        self.assertEqual(a[0]["result"], "deferred")
        self.assertTrue(a[0]["detail"])
        return a[0]

    def expect_ndr(self, code_text, timeout=30):
        msgs = wait_for(lambda: self.ndr_messages(), timeout, what="an NDR at the sender's sink")
        m = msgs[0]
        self.assertIn("Undeliverable", m["Subject"])
        self.assertEqual(m.get_content_type(), "multipart/report")
        self.assertEqual(m.get_param("report-type"), "delivery-status")
        parts = m.get_payload()
        human = parts[0].get_payload(decode=True).decode()
        self.assertIn(code_text, human)
        status = parts[1]
        self.assertEqual(status.get_content_type(), "message/delivery-status")
        fields = "\n".join(str(p) for p in status.get_payload())
        for f in ("Reporting-MTA: dns; relay.test", "Arrival-Date:", "Final-Recipient: rfc822; ",
                  "Action: failed", "Status:", "Diagnostic-Code:", "Last-Attempt-Date:"):
            self.assertIn(f, fields)
        self.assertIn(code_text, fields)
        first = sorted(n for n in os.listdir(self.ndr.out) if not n.startswith("."))[0]
        with open(os.path.join(self.ndr.out, first), "rb") as f:
            raw = f.read()
        self.assertIn(b"X-Sink-From: <>", raw)		# null sender
        self.assertIn(b"X-Sink-To: alice@client.test", raw)
        self.ndr_raw = raw		# as the sender's server received it
        return m, human, fields



class DeliveryTest(RelayCase):
    # ---- success paths ------------------------------------------------

    def test_relay_delivers_and_frees_the_spool(self):
        sink = Sink(keep=True)
        self.cleanup.append(sink.stop)
        r = self.relay(sink_port=sink.port)
        ids = [send(r.port) for _ in range(5)]
        send(r.port, rcpts=("a@example.test", "b@example.test", "c@example.test"))
        wait_for(lambda: sink.messages() == 6, what="6 messages at the sink")
        self.assertEqual(int(sink.counts()["recipients"]), 8)
        first = sorted(n for n in os.listdir(sink.out) if not n.startswith("."))[0]
        with open(os.path.join(sink.out, first), "rb") as f:
            raw = f.read()
        self.assertIn(b"Received: from client.test ([127.0.0.1])", raw)
        self.assertIn(b"hello", raw)
        self.assertEqual(len(attempts(r.log(), "delivered")), 6)
        wait_for(lambda: not read_spool(os.path.join(r.dir, "spool")), what="spool emptied")
        self.assertTrue(ids)

    def test_connection_cap_shared_by_workers(self):
        """max_connections 1 over 2 workers: the worker without the slot
        must still deliver once the other lets it go (it used to wait
        forever: nothing woke it)."""
        sink = Sink()
        self.cleanup.append(sink.stop)
        r = self.relay(sink_port=sink.port, connector_extra="", workers=2,
                       sink_connector='    smarthosts: ["127.0.0.1:%d"]\n'
                                      '    max_connections: 1' % sink.port)
        for _ in range(40):
            send(r.port)
        wait_for(lambda: sink.messages() == 40, 30, what="all 40 delivered")
        self.assertLessEqual(int(sink.counts()["sessions"]), 40)

    def test_postfix_smtp_sink_downstream(self):
        port = free_port()
        d = tempfile.mkdtemp(prefix="sluice-pf-")
        root = ["-u", "nobody"] if os.geteuid() == 0 else []
        p = Proc([SMTP_SINK, "-c"] + root + ["127.0.0.1:%d" % port, "100"], d, "sink.log",
                 env=POSTFIX_ENV)
        self.cleanup.append(p.stop)
        r = self.relay(sink_port=port)
        out = subprocess.run([SMTP_SOURCE, "-s", "10", "-m", "200", "-l", "2048", "-d", "-N",
                              "-M", "client.test", "-f", "s@client.test", "-t",
                              "r@example.test", "127.0.0.1:%d" % r.port],
                             env=POSTFIX_ENV, capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        wait_for(lambda: len(attempts(r.log(), "delivered")) == 200, 60,
                 what="200 deliveries to Postfix's smtp-sink")

    def test_retry_then_success(self):
        r = self.relay()			# nothing listens on the sink port yet
        send(r.port)
        self.expect_code(r, "4.4.316", "conn_refused")
        sink = Sink(port=self.sink_port)
        self.cleanup.append(sink.stop)
        wait_for(lambda: sink.messages() == 1, 20, what="delivery after the sink came up")
        self.assertEqual(len(attempts(r.log(), "delivered")), 1)

    def test_mx_routing_and_null_mx(self):
        """MX connector: preference order (the first MX is dead), implicit
        MX, and a null MX returned at once with 556 5.1.10."""
        sink = Sink(keep=True)
        self.cleanup.append(sink.stop)
        dns = Dnsmasq(["--mx-host=mx.test,dead.mx.test,5", "--mx-host=mx.test,live.mx.test,10",
                       "--host-record=dead.mx.test,127.0.0.9",
                       "--host-record=live.mx.test,127.0.0.1",
                       "--host-record=implicit.test,127.0.0.1", "--local=/implicit.test/",
                       "--mx-host=nullmx.test,.,0"])
        self.cleanup.append(dns.stop)
        r = self.relay(sink_port=sink.port,
                       extra='resolvers: ["127.0.0.1:%d"]' % dns.port,
                       connector_extra="  bymx:\n    mx: true\n    mx_port: %d\n"
                                       "    connect_timeout: 2s\n" % sink.port,
                       domains_extra="  mx.test: bymx\n  implicit.test: bymx\n"
                                     "  nullmx.test: bymx\n")
        send(r.port, rcpts=("a@mx.test", "b@implicit.test"))
        wait_for(lambda: int(sink.counts().get("recipients", 0)) == 2, 20,
                 what="delivery by MX and implicit MX")
        send(r.port, rcpts=("c@nullmx.test",))
        m, human, fields = self.expect_ndr("5.1.10", timeout=10)
        self.assertIn("null MX", fields)

    # ---- one test per code --------------------------------------------

    def test_4_4_312_nxdomain(self):
        dns = Dnsmasq(["--address=/exists.test/127.0.0.1"])
        self.cleanup.append(dns.stop)
        r = self.relay(sink_connector='    smarthosts: ["nothere.invalid.test:25"]',
                       extra='resolvers: ["127.0.0.1:%d"]' % dns.port, expiry="4s")
        send(r.port)
        self.expect_code(r, "4.4.312", "dns_failed")
        self.expect_ndr("4.4.312")

    def test_4_4_312_dns_unreachable(self):
        dead = free_udp_port()			# nothing answers there
        r = self.relay(sink_connector='    smarthosts: ["mx.partner.test:25"]',
                       extra='resolvers: ["127.0.0.1:%d"]\ndns_timeout_ms: 300' % dead)
        send(r.port)
        a = self.expect_code(r, "4.4.312", "dns_failed")
        self.assertIn("mx.partner.test", a["detail"])

    def test_4_4_315_blackhole(self):
        sink = Sink(args=["--mode", "blackhole"])
        self.cleanup.append(sink.stop)
        r = self.relay(sink_port=sink.port, expiry="5s")
        send(r.port)
        self.expect_code(r, "4.4.315", "conn_timeout")
        self.expect_ndr("4.4.315")

    def test_4_4_316_refused(self):
        r = self.relay(expiry="3s")
        send(r.port)
        self.expect_code(r, "4.4.316", "conn_refused")
        m, human, fields = self.expect_ndr("4.4.316")
        self.assertIn("firewall", human)		# the fix is in the NDR

    def test_4_4_317_banner_421(self):
        sink = Sink(args=["--mode", "banner=421"])
        self.cleanup.append(sink.stop)
        r = self.relay(sink_port=sink.port, expiry="3s")
        send(r.port)
        a = self.expect_code(r, "4.4.317", "cannot_connect")
        self.assertIn("421", a["detail"])
        self.expect_ndr("4.4.317")

    def test_4_4_318_closed_mid_data(self):
        sink = Sink(args=["--mode", "close-after=10"])
        self.cleanup.append(sink.stop)
        r = self.relay(sink_port=sink.port, expiry="3s")
        send(r.port, body="Subject: long\r\n\r\n" + ("x" * 70 + "\r\n") * 100)
        self.expect_code(r, "4.4.318", "conn_dropped")
        self.expect_ndr("4.4.318")

    def test_remote_tempfail_kept_verbatim(self):
        sink = Sink(args=["--tempfail", "slowuser"])
        self.cleanup.append(sink.stop)
        r = self.relay(sink_port=sink.port, expiry="3s")
        send(r.port, rcpts=("slowuser@example.test", "ok@example.test"))
        a = wait_for(lambda: attempts(r.log(), "deferred"), 20, what="a deferral")[0]
        self.assertEqual(a["mfi"], "remote")
        self.assertIn("451 4.2.0", a["detail"])
        self.assertIn("127.0.0.1", a["detail"])
        self.assertEqual(a["rcpts"], ["slowuser@example.test"])
        wait_for(lambda: sink.messages() == 1, what="the other recipient delivered")
        m, human, fields = self.expect_ndr("4.2.0")
        self.assertIn("Final-Recipient: rfc822; slowuser@example.test", fields)
        self.assertNotIn("ok@example.test", fields)

    def test_delay_notice(self):
        """delay_warning: one "delayed" DSN while the message keeps waiting."""
        r = self.relay(expiry="1h", connector_extra="    delay_warning: 2s")
        send(r.port, rcpt_opts=("NOTIFY=DELAY,FAILURE",))
        msgs = wait_for(lambda: self.ndr_messages(), 20, what="a delay notice")
        m = msgs[0]
        self.assertIn("Delayed", m["Subject"])
        fields = "\n".join(str(p) for p in m.get_payload()[1].get_payload())
        self.assertIn("Action: delayed", fields)
        self.assertIn("Will-Retry-Until:", fields)
        time.sleep(3)
        self.assertEqual(len(self.ndr_messages()), 1)	# once per message
        self.assertTrue(read_spool(os.path.join(r.dir, "spool")))	# still queued

    def test_user_unknown_returned_at_once(self):
        sink = Sink(args=["--user-unknown", "nobody"])
        self.cleanup.append(sink.stop)
        r = self.relay(sink_port=sink.port, expiry="1h")
        send(r.port, rcpts=("nobody@example.test",))
        t0 = time.time()
        m, human, fields = self.expect_ndr("5.1.1", timeout=10)
        self.assertLess(time.time() - t0, 10)
        self.assertIn("Status: 5.1.1", fields)
        self.assertIn("Remote-MTA:", fields)
        self.assertEqual(len(attempts(r.log(), "bounced")), 1)

    def test_ndr_honours_ret_envid_notify_orcpt(self):
        sink = Sink(args=["--user-unknown", "nobody"])
        self.cleanup.append(sink.stop)
        r = self.relay(sink_port=sink.port)
        body = "Subject: secret body\r\n\r\nTHE-BODY-TEXT\r\n"
        send(r.port, rcpts=("nobody@example.test",), body=body,
             mail_opts=("RET=HDRS", "ENVID=env42"),
             rcpt_opts=("NOTIFY=FAILURE", "ORCPT=rfc822;orig@example.test"))
        m, human, fields = self.expect_ndr("5.1.1")
        self.assertIn("Original-Envelope-Id: env42", fields)
        self.assertIn("Original-Recipient: rfc822;orig@example.test", fields)
        raw = m.as_string()
        self.assertIn("secret body", raw)
        self.assertNotIn("THE-BODY-TEXT", raw)
        # NOTIFY=NEVER: no NDR at all
        send(r.port, rcpts=("nobody2@example.test",), rcpt_opts=("NOTIFY=NEVER",))
        wait_for(lambda: len(attempts(r.log(), "bounced")) == 2, what="second bounce")
        time.sleep(1)
        self.assertEqual(len(self.ndr_messages()), 1)

    def test_ndr_is_never_bounced(self):
        """An NDR whose recipient is unknown is dropped, not bounced again."""
        sink = Sink(args=["--user-unknown", "nobody"])
        self.cleanup.append(sink.stop)
        r = self.relay(sink_port=sink.port)
        send(r.port, sender="", rcpts=("nobody@example.test",))
        wait_for(lambda: "null sender" in r.log(), what="no NDR for a null sender")
        time.sleep(1)
        self.assertEqual(self.ndr_messages(), [])

    # ---- health, backlog, restart ---------------------------------------

    def test_destination_down_then_backlog_released(self):
        r = self.relay(down_after=2)
        for _ in range(20):
            send(r.port)
        wait_for(lambda: "marked down" in r.log(), 20, what="destination marked down")
        n_attempts = len(attempts(r.log()))
        self.assertLess(n_attempts, 10, "each message should not open its own connection")
        sink = Sink(port=self.sink_port)
        self.cleanup.append(sink.stop)
        t0 = time.time()
        wait_for(lambda: sink.messages() == 20, 20, what="the backlog delivered")
        self.assertIn("up again", r.log())
        self.assertLess(time.time() - t0, 8)

    def test_restart_with_deferred_mail(self):
        r = self.relay()
        ids = [send(r.port) for _ in range(10)]
        wait_for(lambda: len(attempts(r.log(), "deferred")) >= 10, what="10 deferrals")
        self.assertEqual(r.stop(), 0)
        live = read_spool(os.path.join(r.dir, "spool"))
        self.assertEqual(sorted(live), sorted(ids))
        sink = Sink(port=self.sink_port, keep=True)
        self.cleanup.append(sink.stop)
        r.start()
        self.assertEqual(r.recovered(), 10)
        wait_for(lambda: sink.messages() == 10, 20, what="recovered mail delivered")
        time.sleep(1.5)
        self.assertEqual(sink.messages(), 10)	# nothing twice

    def test_attempts_count_on_after_a_restart(self):
        """The attempt count is kept in the spool (TRIED records): after a
        restart the next attempt is numbered after the last one before it,
        not 1 again, and an expiry NDR counts them all."""
        r = self.relay(expiry="12s")
        qid = send(r.port)
        wait_for(lambda: [a for a in attempts(r.log(), "deferred") if a["attempt"] >= 3], 20,
                 what="three failed attempts")
        self.assertEqual(r.stop(), 0)
        before = max(a["attempt"] for a in attempts(r.log(), "deferred"))
        env = read_spool(os.path.join(r.dir, "spool"))[qid][0]
        self.assertEqual(env["rcpts"][0]["tries"], before)
        log_len = len(r.log())
        r.start()
        a = wait_for(lambda: attempts(r.log()[log_len:], "deferred"), 20,
                     what="an attempt after the restart")[0]
        self.assertEqual(a["attempt"], before + 1, a)
        ex = wait_for(lambda: events(r.log(), "expired"), 20, what="the expiry")[0]
        self.assertGreaterEqual(ex["attempts"], before + 1)
        self.assertEqual(ex["attempts"],
                         max(a["attempt"] for a in attempts(r.log(), "deferred")), ex)


if __name__ == "__main__":
    unittest.main()
