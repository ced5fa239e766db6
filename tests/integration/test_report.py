"""sluicectl report (issue 11): the daily summary of a real relay's log, in
both log formats, read from the file sluiced wrote: deliveries per
connector and tenant, a deferral with its code and reason, an expiry."""
import json
import os
import subprocess

from harness import BUILD, Sink, events, wait_for
from test_delivery import RelayCase, send

SLUICECTL = os.path.join(BUILD, "sluicectl")


class ReportTest(RelayCase):
    def day(self, fmt):
        """A relay's log (format fmt) with two deliveries (one for tenant
        acme), then a message refused until it expires."""
        sink = Sink()
        self.cleanup.append(sink.stop)
        r = self.relay(sink_port=sink.port, expiry="3s",
                       extra="log: {format: %s}\ntenants:\n  acme: {invalid_recipient_quota: 10}"
                       % fmt,
                       domains_extra="  acme.example: {connector: sink, tenant: acme}")
        send(r.port, rcpts=("bob@example.test",))
        send(r.port, rcpts=("carol@acme.example",))
        wait_for(lambda: sink.messages() == 2, what="two deliveries")
        sink.stop()
        send(r.port, rcpts=("dave@example.test",))
        wait_for(lambda: events(r.log(), "expired"), 20, what="the expiry")
        wait_for(lambda: self.ndr.messages() == 1, 20, what="its NDR delivered")
        self.assertEqual(r.stop(), 0)
        return r.proc.logpath

    def report(self, *args):
        p = subprocess.run([SLUICECTL] + list(args), capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def check(self, js):
        self.assertEqual(js["received"], {"messages": 3, "recipients": 3})
        self.assertEqual(js["unreadable"], 0)
        conns = {c["connector"]: c for c in js["connectors"]}
        self.assertEqual((conns["sink"]["delivered"], conns["sink"]["expired"],
                          conns["sink"]["bounced"]), (2, 1, 0), conns)
        self.assertGreaterEqual(conns["sink"]["deferred"], 1)
        self.assertEqual(conns["bounces"]["delivered"], 1, "the NDR to the sender")
        code = [c for c in js["codes"] if c["connector"] == "sink"]
        self.assertEqual([(c["code"], c["mfi"], c["expired"]) for c in code],
                         [("4.4.316", "conn_refused", 1)])
        reason = js["deferral_reasons"][0]
        self.assertEqual((reason["connector"], reason["code"]), ("sink", "4.4.316"))
        self.assertIn("refused", reason["detail"])
        self.assertEqual(js["tenants"], [{"tenant": "acme", "delivered": 1, "deferred": 0,
                                          "bounced": 0, "expired": 0, "returned": 0}])
        self.assertRegex(js["from"], r"^\d{4}-\d\d-\d\dT")

    def test_report_of_a_text_and_a_json_log(self):
        reports = []
        for fmt in ("text", "json"):
            with self.subTest(fmt=fmt):
                path = self.day(fmt)
                js = json.loads(self.report("--json", "report", path))
                self.check(js)
                reports.append(js)
                text = self.report("report", "--top", "3", path)
                self.assertIn("By connector\nCONNECTOR  DELIVERED", text)
                self.assertIn("Top 3 deferral reasons", text)
                self.assertRegex(text, r"\nacme +1 +0 +0 +0 +0\n")
                # from stdin, the same
                with open(path) as f:
                    p = subprocess.run([SLUICECTL, "--json", "report"], stdin=f,
                                       capture_output=True, text=True, timeout=30)
                self.assertEqual(json.loads(p.stdout), js)

    def test_tenants_long_lists_returns_and_a_quiet_log(self):
        """Recipients of several tenants in one message count for each of
        them (not all for the first one's); a long recipient list is split
        into lines short enough for syslog, and the report sums them; an
        operator's bounce counts as returned; at level warn the received
        messages still count (their event is always written)."""
        sink = Sink()
        self.cleanup.append(sink.stop)
        r = self.relay(sink_port=sink.port,
                       extra="limits: {recipients: 200}\ntenants:\n"
                             "  acme: {invalid_recipient_quota: 10}\n"
                             "  globex: {invalid_recipient_quota: 10}",
                       domains_extra="  acme.example: {connector: sink, tenant: acme}\n"
                                     "  globex.example: {connector: sink, tenant: globex}")
        sock = os.path.join(r.dir, "sluice.sock")
        subprocess.run([SLUICECTL, "--socket", sock, "set", "log-level", "warn"], check=True,
                       capture_output=True, timeout=30)
        send(r.port, rcpts=("carol@acme.example", "y@globex.example", "z@globex.example",
                            "w@example.test"))
        many = ["a-fairly-long-recipient-name-%03d@example.test" % i for i in range(150)]
        send(r.port, rcpts=many)
        wait_for(lambda: sink.messages() == 2, what="two deliveries")
        sink.stop()
        qid = send(r.port, rcpts=("dave@example.test",))
        wait_for(lambda: [a for a in events(r.log(), "attempt") if a["id"] == qid], 20,
                 what="its deferral")
        subprocess.run([SLUICECTL, "--socket", sock, "bounce", qid], check=True,
                       capture_output=True, timeout=30)
        wait_for(lambda: events(r.log(), "returned"), 20, what="the returned event")
        self.assertEqual(r.stop(), 0)
        lines = [l for l in r.log().splitlines() if " info: attempt " in l]
        self.assertGreater(len(lines), 3, "the 150 recipients on several lines")
        self.assertLess(max(len(l.encode()) for l in lines), 8192, "each within syslog's 8 KiB")
        js = json.loads(self.report("--json", "report", r.proc.logpath))
        self.assertEqual(js["received"], {"messages": 3, "recipients": 155})
        # 154 to the sink and the NDR of the returned one on "bounces"
        self.assertEqual((js["totals"]["delivered"], js["totals"]["returned"]), (155, 1), js)
        tenants = {t["tenant"]: t["delivered"] for t in js["tenants"]}
        self.assertEqual(tenants, {"acme": 1, "globex": 2})
        self.assertEqual(js["unreadable"], 0)

    def test_unreadable_file(self):
        p = subprocess.run([SLUICECTL, "report", "/nonexistent/sluiced.log"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("/nonexistent/sluiced.log: No such file", p.stderr)
