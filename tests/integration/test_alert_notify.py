"""Alert notices (issue 13, item 3): Sluice mails its own alerts to
alerts.notify, queued and delivered like an NDR, and posts them as JSON to
alerts.webhook.

A connector "partner" points at a closed port; the notices go to
ops@example.net through connector "ops" (alerts.connector: nothing else
routes example.net), whose sink keeps the mail.  The alert threshold is
lowered with `sluicectl set alert threshold 1 age 0`."""
import email
import email.policy
import http.server
import json
import os
import shutil
import smtplib
import socketserver
import subprocess
import tempfile
import threading
import time
import unittest

from harness import CONFIG_HEAD, SLUICED, Certs, Sink, Sluiced, events, free_port, wait_for
from ops_helpers import send, sluicectl

CERTS = Certs()
setUpModule = CERTS.make
tearDownModule = CERTS.remove

CONFIG = CONFIG_HEAD + """\
alerts:
  notify: [ops@example.net, second@example.net]
  connector: ops
  daily_limit: @LIMIT@
@ALERTS@
@TOP@
connectors:
  partner:
    smarthosts: ["127.0.0.1:@PARTNER@"]
    retry: {{initial: 1h, max: 2h, jitter: 0}}
    connect_timeout: 2s
    down_after: @DOWN@
@PARTNER_EXTRA@
  ops:
    smarthosts: ["127.0.0.1:@OPS@"]
    retry: {{initial: 1s, max: 2s, jitter: 0}}
domains:
  partner.test: partner
@DOMAINS@
"""


class Hook:
    """An HTTP server on 127.0.0.1 that keeps the JSON POSTed to it."""

    def __init__(self):
        self.posts = []
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers["Content-Length"])
                hook.posts.append((self.path, self.headers["Content-Type"],
                                   json.loads(self.rfile.read(n))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.srv.server_address[1]
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


class HostileServer:
    """An SMTP server whose reply to RCPT is a 451 of hostile lines: header
    lines, a bare CR inside a line, an escape byte."""

    REPLY = (b"451-4.7.1 try later\r\n"
             b"451-Bcc: victim@evil.test\r\n"
             b"451-4.7.1 a\rSubject: injected\x1b\r\n"
             b"451 4.7.1 To: everyone@evil.test\r\n")

    def __init__(self, port):
        srv = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                self.wfile.write(b"220 hostile.test ESMTP\r\n")
                for line in self.rfile:
                    verb = line[:4].upper()
                    if verb in (b"EHLO", b"HELO"):
                        self.wfile.write(b"250 hostile.test\r\n")
                    elif verb == b"RCPT":
                        self.wfile.write(srv.REPLY)
                    elif verb == b"QUIT":
                        self.wfile.write(b"221 bye\r\n")
                        return
                    else:
                        self.wfile.write(b"250 ok\r\n")

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.srv = socketserver.ThreadingTCPServer(("127.0.0.1", port), Handler)
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def notices(sink):
    """The notices a sink kept: (envelope lines, parsed message, raw bytes),
    in the order they arrived."""
    out = []
    if sink is None or not os.path.isdir(sink.out):
        return out
    for name in sorted((n for n in os.listdir(sink.out) if n.endswith(".eml")),
                       key=lambda n: int(n.split(".")[0])):
        with open(os.path.join(sink.out, name), "rb") as f:
            raw = f.read()
        env, _, data = raw.partition(b"\r\n\r\n") if raw.startswith(b"X-Sink") else (b"", 0, raw)
        # the sink's own lines come first, then the message as it was sent
        lines = raw.split(b"\r\n")
        k = 0
        while k < len(lines) and lines[k].startswith(b"X-Sink-"):
            k += 1
        data = b"\r\n".join(lines[k:])
        msg = email.message_from_bytes(data, policy=email.policy.default)
        out.append(([ln.decode() for ln in lines[:k]], msg, data))
    return out


def with_tag(sink, prefix):
    return [n for n in notices(sink) if str(n[1]["X-Sluice-Alert"] or "").startswith(prefix)]


def header_names(data):
    """The field names of the header section, in order (continuations joined)."""
    head = data.split(b"\r\n\r\n", 1)[0]
    return [ln.split(b":", 1)[0].decode() for ln in head.split(b"\r\n")
            if ln and not ln.startswith((b" ", b"\t"))]


class AlertNotifyTest(unittest.TestCase):
    maxDiff = None

    def relay(self, limit=3, down_after=1, alerts_extra="", hook=False, partner_extra="",
              top="", domains=""):
        self.ops = Sink(keep=True)
        self.addCleanup(self.ops.stop)
        self.partner_port = free_port()
        self.hook = None
        if hook:
            self.hook = Hook()
            self.addCleanup(self.hook.stop)
            alerts_extra += "  webhook: http://127.0.0.1:%d/sluice/alerts?x=1\n" % self.hook.port
        text = (CONFIG.replace("@LIMIT@", str(limit)).replace("@ALERTS@", alerts_extra)
                .replace("@PARTNER@", str(self.partner_port))
                .replace("@OPS@", str(self.ops.port)).replace("@DOWN@", str(down_after))
                .replace("@PARTNER_EXTRA@", partner_extra).replace("@TOP@", top)
                .replace("@DOMAINS@", domains))
        self.r = Sluiced(workers=2, config=text)
        self.r.start()
        self.addCleanup(self.r.stop)
        self.sock = os.path.join(self.r.dir, "sluice.sock")
        wait_for(lambda: os.path.exists(self.sock), what="control socket")
        self.ctl("set", "alert", "threshold", "1", "age", "0")
        return self.r

    def ctl(self, *args):
        p = sluicectl(self.sock, *args)
        self.assertEqual(p.returncode, 0, "%s: %s" % (args, p.stderr))
        return p.stdout

    def partner_up(self):
        """A sink on the partner's port, and the queue flushed into it."""
        sink = Sink(port=self.partner_port)
        self.addCleanup(sink.stop)
        self.ctl("flush")
        return sink

    # ---------------------------------------------------------------------

    def test_raised_and_cleared(self):
        r = self.relay(hook=True)
        send(r.port, ["bob@partner.test"])
        raised = wait_for(lambda: with_tag(self.ops, "queue; raised; partner"), 20,
                          what="the queue alert's notice")
        env, msg, data = raised[0]
        # an NDR's envelope: from <>, to every address of alerts.notify
        self.assertTrue(env[0].startswith("X-Sink-Mail: MAIL FROM:<> "), env[0])
        self.assertEqual([e for e in env if e.startswith("X-Sink-To")],
                         ["X-Sink-To: ops@example.net", "X-Sink-To: second@example.net"])
        self.assertEqual(msg["From"], '"Sluice relay.test" <postmaster@relay.test>')
        self.assertIn(b"\r\nTo: <ops@example.net>,\r\n <second@example.net>\r\n", data)
        self.assertEqual(msg["Auto-Submitted"], "auto-generated")
        self.assertEqual(str(msg["Subject"]), "[Sluice relay.test] Queue alert raised: "
                         "partner 4.4.316 Connection refused (1 message)")
        body = msg.get_content()
        for want in ("A queue alert was raised for connector partner",
                     "\n  Code:           4.4.316 (conn_refused)\n",
                     "\n  Last error:     450 4.4.316 Connection refused\n",
                     "\n  What happened:  The destination refused the connection",
                     "firewall", "\n  Who should act: ", "notice 1 of at most 3 a day"):
            self.assertIn(want, body.replace("\r\n", "\n"))
        self.assertTrue(all(len(ln) <= 78 for ln in body.splitlines()), body)
        self.assertNotIn(b"\n", data.replace(b"\r\n", b""))		# CRLF only
        self.assertIn("alert notice (the queue alert of connector partner: raised) to 2 "
                      "recipient(s) queued as", r.log())
        self.assertIn("through connector ops", r.log())
        # down_after 1: the connector is down too, with its own notice
        down = wait_for(lambda: with_tag(self.ops, "down; raised; partner"), 20,
                        what="the connector-down notice")
        self.assertEqual(str(down[0][1]["Subject"]), "[Sluice relay.test] Connector "
                         "down: partner 4.4.316 Connection refused")
        self.assertIn("\n  Health:         down (", down[0][1].get_content())
        ins = [e for e in events(r.log(), "insight") if e["name"] == "connector_down"]
        self.assertEqual([(e["state"], e["connector"]) for e in ins], [("raised", "partner")])

        # the partner comes back: both clear, each with its all-clear
        sink = self.partner_up()
        wait_for(lambda: sink.messages() == 1, 20, what="the message delivered")
        cleared = wait_for(lambda: with_tag(self.ops, "queue; cleared; partner"), 20,
                           what="the cleared notice")
        self.assertRegex(str(cleared[0][1]["Subject"]), r"^\[Sluice relay\.test\] Queue alert "
                         r"cleared: partner \(after \d+ seconds?\)$")
        self.assertIn("has cleared", cleared[0][1].get_content())
        up = wait_for(lambda: with_tag(self.ops, "down; cleared; partner"), 20,
                      what="the connector-up notice")
        self.assertIn("Connector up again: partner", str(up[0][1]["Subject"]))
        time.sleep(1.5)
        tags = [str(n[1]["X-Sluice-Alert"]) for n in notices(self.ops)]
        self.assertEqual(sorted(tags), ["down; cleared; partner", "down; raised; partner",
                                        "queue; cleared; partner", "queue; raised; partner"])

        # the webhook got every event as JSON, the code once it was known
        posts = wait_for(lambda: len(self.hook.posts) >= 4 and self.hook.posts, 10,
                         what="the webhook's posts")
        self.assertEqual({(p[0], p[1]) for p in posts},
                         {("/sluice/alerts?x=1", "application/json")})
        seen = [(p[2]["kind"], p[2]["state"]) for p in posts]
        for ks in (("queue", "raised"), ("queue", "cleared"), ("down", "raised"),
                   ("down", "cleared")):
            self.assertIn(ks, seen)
        q = [p[2] for p in posts if p[2]["kind"] == "queue" and p[2]["state"] != "cleared"]
        self.assertEqual(q[-1]["details"]["code"], "4.4.316")
        self.assertEqual((q[-1]["relay"], q[-1]["source"], q[-1]["key"]),
                         ("relay.test", "sluice", "queue:partner"))
        self.assertIn("firewall", q[-1]["details"]["fix"])

    def test_raise_waits_for_its_code(self):
        """Raised while the first attempt still waits for a silent host, the
        alert has no code yet: its notice waits for the code (the webhook
        does not), and goes out once, as a raise with 4.4.315, not as a
        raise without a code followed by an update."""
        r = self.relay(down_after=100, hook=True, partner_extra="    command_timeout: 4s\n")
        hole = Sink(port=self.partner_port, args=["--mode", "blackhole"])
        self.addCleanup(hole.stop)
        send(r.port, ["bob@partner.test"])
        ev = wait_for(lambda: events(r.log(), "alert"), 10, what="the alert raised")
        self.assertEqual((ev[0]["state"], ev[0]["code"]), ("raised", "-"))
        wait_for(lambda: [p for p in self.hook.posts if p[2]["kind"] == "queue"], 10,
                 what="the raise posted at once")
        self.assertEqual(notices(self.ops), [])
        raised = wait_for(lambda: with_tag(self.ops, "queue; raised; partner"), 20,
                          what="the notice, with the code")
        self.assertEqual(str(raised[0][1]["Subject"]), "[Sluice relay.test] Queue alert "
                         "raised: partner 4.4.315 Connection timed out (1 message)")
        self.assertIn("(conn_timeout)", raised[0][1].get_content())
        time.sleep(2)
        self.assertEqual([str(n[1]["X-Sluice-Alert"]) for n in notices(self.ops)],
                         ["queue; raised; partner"])
        self.assertEqual([(p[2]["state"], p[2]["details"]["code"]) for p in self.hook.posts
                          if p[2]["kind"] == "queue"], [("raised", "-"), ("updated", "4.4.315")])

    def test_certificate_expiring_then_renewed(self):
        """The partner's certificate expires in 3 days: a notice names the
        connector, the host, the date and the fix; a renewed certificate
        clears it with a notice that says so."""
        r = self.relay(down_after=100, partner_extra="    tls: verify\n    tls_ca: %s\n"
                       % CERTS.path("ca.pem"))
        c, k = CERTS.pair("soon")
        sink = Sink(port=self.partner_port, args=["--tls-cert", c, "--tls-key", k])
        self.addCleanup(sink.stop)
        send(r.port, ["bob@partner.test"])
        wait_for(lambda: sink.messages() == 1, 20, what="delivery over TLS")
        raised = wait_for(lambda: with_tag(self.ops, "cert; raised; partner/127.0.0.1"), 20,
                          what="the certificate notice")
        msg = raised[0][1]
        self.assertRegex(str(msg["Subject"]), r"^\[Sluice relay\.test\] Certificate expiring: "
                         r"partner 127\.0\.0\.1, not after \d{4}-\d\d-\d\dT[\d:]+Z "
                         r"\(2 days left\)$")
        body = msg.get_content().replace("\r\n", "\n")
        self.assertIn("The certificate of 127.0.0.1 (localhost) expires on", body)
        self.assertIn("\n  Connector:      partner (tls: verify)\n", body)
        self.assertIn("Renew the certificate on 127.0.0.1 before", body)
        sink.stop()
        c, k = CERTS.pair("valid")
        sink = Sink(port=self.partner_port, args=["--tls-cert", c, "--tls-key", k])
        self.addCleanup(sink.stop)
        send(r.port, ["bob@partner.test"])
        cleared = wait_for(lambda: with_tag(self.ops, "cert; cleared; partner/127.0.0.1"), 20,
                           what="the cleared notice")
        self.assertEqual(str(cleared[0][1]["Subject"]), "[Sluice relay.test] Certificate "
                         "warning cleared: partner 127.0.0.1 (renewed)")

    def test_tenant_over_quota(self):
        """A tenant whose senders hit its invalid-recipient quota: a notice
        with 4.7.500, the counts and the fix; back under it, the all-clear."""
        tmp = tempfile.mkdtemp(prefix="sluice-notify-")
        self.addCleanup(shutil.rmtree, tmp, True)
        d = os.path.join(tmp, "acme.txt")
        with open(d, "w") as f:
            f.write("alice@acme.example\n")
        r = self.relay(down_after=100, top="tenants:\n  acme:\n    directory: %s\n"
                       "    invalid_recipient_quota: 2\nquota_window: 4s\nquota_bucket: 1s\n" % d,
                       domains="  acme.example: {{connector: partner, mode: authoritative, "
                       "tenant: acme}}\n")
        with smtplib.SMTP("127.0.0.1", r.port, timeout=10) as s:
            s.ehlo("client.test")
            s.mail("x@client.test")
            for i in range(2):
                self.assertEqual(s.rcpt("nobody%d@acme.example" % i)[0], 550)
        raised = wait_for(lambda: with_tag(self.ops, "quota; raised; acme"), 20,
                          what="the quota notice")
        msg = raised[0][1]
        self.assertEqual(str(msg["Subject"]), "[Sluice relay.test] Tenant over quota: acme "
                         "4.7.500 (2 invalid recipients, quota 2)")
        body = msg.get_content().replace("\r\n", "\n")
        self.assertIn("\n  Invalid:        2 recipients in the last 4 seconds (quota 2)\n", body)
        self.assertIn("directory", body)
        cleared = wait_for(lambda: with_tag(self.ops, "quota; cleared; acme"), 20,
                           what="the all-clear")
        self.assertRegex(str(cleared[0][1]["Subject"]), r"Tenant back under quota: acme "
                         r"\(after \d+ seconds?\)$")
        ins = [e for e in events(r.log(), "insight") if e["name"] == "tenant_quota"]
        self.assertEqual([(e["state"], e["tenant"]) for e in ins],
                         [("raised", "acme"), ("cleared", "acme")])

    def test_daily_limit(self):
        """daily_limit 1: the first raise is mailed and so is its clear; the
        second raise the same day sends only the notice that the rest are
        suppressed (and the log says so); its clear and a third raise send
        nothing."""
        r = self.relay(limit=1, down_after=100)

        def queue_tags():
            return [str(n[1]["X-Sluice-Alert"]) for n in notices(self.ops)
                    if str(n[1]["X-Sluice-Alert"]).startswith("queue")]

        send(r.port, ["bob@partner.test"])
        wait_for(lambda: queue_tags() == ["queue; raised; partner"], 20, what="raised")
        sink = self.partner_up()
        wait_for(lambda: queue_tags() == ["queue; raised; partner", "queue; cleared; partner"],
                 20, what="cleared")
        sink.stop()
        # again, the same day
        send(r.port, ["carol@partner.test"])
        sup = wait_for(lambda: with_tag(self.ops, "queue; suppressed; partner"), 20,
                       what="the suppression notice")
        msg = sup[0][1]
        self.assertEqual(str(msg["Subject"]), "[Sluice relay.test] Notices suppressed until "
                         "tomorrow: the queue alert of connector partner")
        body = msg.get_content()
        self.assertIn("Sluice has sent the 1 notice a day allowed", body)
        self.assertIn("\n  Not sent:       Queue alert raised: partner", body)
        self.assertRegex(body, r"Resumes:\s+\d{4}-\d\d-\d\dT00:00:00Z")
        self.assertIn("alert notices: 1 sent today about the queue alert of connector partner "
                      "(alerts: daily_limit): further notices about it are suppressed until",
                      r.log())
        # cleared and raised again: nothing more
        sink = self.partner_up()
        wait_for(lambda: sink.messages() == 1, 20, what="the second message delivered")
        wait_for(lambda: len([e for e in events(r.log(), "alert") if e["state"] == "cleared"])
                 == 2, 20, what="cleared again")
        sink.stop()
        send(r.port, ["dave@partner.test"])
        wait_for(lambda: len([e for e in events(r.log(), "alert") if e["state"] == "raised"])
                 == 3, 20, what="raised a third time")
        time.sleep(2)
        self.assertEqual(queue_tags(), ["queue; raised; partner", "queue; cleared; partner",
                                        "queue; suppressed; partner"])

    def test_hostile_reply_cannot_inject_headers(self):
        """The partner's reply (the alert's last error, in the subject and the
        body) holds header lines, a bare CR and LF and an escape byte: the
        notice keeps its own header fields and no others, every line ends in
        CRLF, and the text shows the reply on one line."""
        r = self.relay(down_after=100)
        hostile = HostileServer(self.partner_port)
        self.addCleanup(hostile.stop)
        send(r.port, ["bob@partner.test"])
        raised = wait_for(lambda: with_tag(self.ops, "queue; raised; partner"), 20,
                          what="the notice")
        env, msg, data = raised[0]
        self.assertEqual(header_names(data), [
            "From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted",
            "X-Sluice-Alert", "MIME-Version", "Content-Type", "Content-Transfer-Encoding"])
        self.assertNotIn(b"\n", data.replace(b"\r\n", b""))
        self.assertNotIn(b"\r", data.replace(b"\r\n", b""))
        self.assertNotIn(b"\x1b", data)
        if os.environ.get("SHOW_NOTICE"):
            print(data.decode())
        subject = str(msg["Subject"])
        self.assertTrue(subject.startswith("[Sluice relay.test] Queue alert raised: partner "
                                           "451 4.7.1 "), subject)
        self.assertIsNone(msg["Bcc"])
        self.assertIsNone(msg["X-Evil"])
        self.assertEqual(msg.get_all("Subject"), [subject])
        body = msg.get_content()
        self.assertIn("Bcc: victim@evil.test", body)	# shown, inside its line
        for ln in body.splitlines():
            self.assertFalse(ln.startswith(("Bcc:", "Subject:", "X-Evil:", "To:")), ln)

    def test_config(self):
        """alerts: in show config, the settings sluiced refuses, and a reload
        that changes threshold and age."""
        r = self.relay(alerts_extra="  notify_cleared: false\n")
        c = json.loads(self.ctl("--json", "show", "config"))["config"]["alerts"]
        self.assertEqual(c, {"threshold": 200, "age": 3600,
                             "notify": ["ops@example.net", "second@example.net"],
                             "connector": "ops", "daily_limit": 3, "notify_cleared": False,
                             "webhook": None})
        text = self.ctl("show", "config", "changed")
        self.assertIn('\nalerts:\n  notify: ["ops@example.net", "second@example.net"]\n'
                      '  connector: "ops"\n  notify_cleared: false\n', text)
        bad = [("  daily_limit: 3\n", "  webhook: https://hooks.example.net/x\n",
                "alerts: webhook: only http:// URLs are supported"),
               ("  notify: [ops@example.net, second@example.net]\n", "  notify: [nobody]\n",
                "alerts: notify: expected a mail address like ops@example.net, got 'nobody'"),
               ("  connector: ops\n", "  connector: nosuch\n",
                "alerts: connector: no connector is called 'nosuch'"),
               ("  connector: ops\n", "",
                "alerts: notify: no connector routes 'example.net'")]
        for old, new, want in bad:
            path = os.path.join(r.dir, "bad.yaml")
            with open(path, "w") as f:
                f.write(r.config_text.replace(old, new))
            p = subprocess.run([SLUICED, "-t", "-c", path], capture_output=True, text=True,
                               timeout=30)
            self.assertNotEqual(p.returncode, 0, new)
            self.assertIn(want, p.stdout + p.stderr, new)

        # set alert holds across a reload that leaves threshold and age
        # alone, and gives way to one that changes them
        def settings():
            return json.loads(self.ctl("--json", "show", "insights"))["settings"]
        self.assertEqual(settings(), {"alert_threshold": 1, "alert_age": 0})
        self.ctl("reload")
        time.sleep(1.5)
        self.assertEqual(settings(), {"alert_threshold": 1, "alert_age": 0})
        with open(r.config, "w") as f:
            f.write(r.config_text.replace("  daily_limit: 3\n",
                                          "  daily_limit: 3\n  threshold: 5\n  age: 30s\n"))
        self.ctl("reload")
        wait_for(lambda: settings() == {"alert_threshold": 5, "alert_age": 30}, 10,
                 what="the reloaded threshold")
        self.assertIn("queue alert: 5 messages queued for more than 30 s (alerts: in the "
                      "configuration)", r.log())


if __name__ == "__main__":
    unittest.main()
