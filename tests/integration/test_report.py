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
                                          "bounced": 0, "expired": 0}])
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
                self.assertRegex(text, r"\nacme +1 +0 +0 +0\n")
                # from stdin, the same
                with open(path) as f:
                    p = subprocess.run([SLUICECTL, "--json", "report"], stdin=f,
                                       capture_output=True, text=True, timeout=30)
                self.assertEqual(json.loads(p.stdout), js)

    def test_unreadable_file(self):
        p = subprocess.run([SLUICECTL, "report", "/nonexistent/sluiced.log"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("/nonexistent/sluiced.log: No such file", p.stderr)
