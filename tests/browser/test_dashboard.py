"""The dashboard in a real browser (headless Chromium, Selenium) against
the real sluiced HTTP listener: the scenarios of issue 13.

- A connector pointed at a closed port shows its 4.4.316 insight with the
  fix; Validate shows the steps and marks the one that failed (connect).
- Fix now, with the token, makes the domain authoritative: a later
  unknown recipient is refused at RCPT (550), a known one still taken.
- With http: write: false an action is refused and the page says so
  (without asking for a token first), its buttons then off.
- With read_token: true the page asks for the token before it shows
  anything, then reads with it.
- Each view draws without a script error, at 1280x800 and in a narrow
  window; message detail's Hold and the connector's Disable/Enable work.
- The message trace finds a delivered and a returned message (skipped,
  saying so, when this sluiced has no message trace).

Screenshots of every view land in build/screenshots/ (test artifacts)."""
import glob
import os
import unittest

from harness import wait_for
from dash import SHOTS, Browser, Relay, need_browser, rcpt, send, trace_config_ok


class DashboardTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        need_browser()
        for old in glob.glob(os.path.join(SHOTS, "*.png")):	# this run's only
            os.remove(old)
        cls.b = Browser()

    @classmethod
    def tearDownClass(cls):
        cls.b.quit()

    def setUp(self):
        self.b.size(1280, 800)
        self.b.js_errors()		# forget the previous test's

    def tearDown(self):
        self.assertEqual(self.b.js_errors(), [], "script errors on the page")

    def stuck(self, o, sender="alice@client.test"):
        """Mail for acme.example waits at the closed port; the queue alert
        fires at once.  Returns the message's id."""
        qid = send(o.port, ["alice@acme.example", "ghost@acme.example"], sender=sender)
        o.ctl("set", "alert", "threshold", "1", "age", "1")
        wait_for(lambda: o.ctl("show", "insights")["alerts"], 20, what="the queue alert")
        return qid

    def test_closed_port_insight_and_validate(self):
        o = Relay(self)
        self.stuck(o)
        b = self.b
        b.open(o.url("#/insights"))
        text = b.wait_text('article.insight[data-code="4.4.316"]')
        self.assertIn("Connection refused", text)
        self.assertIn("partner", text)					# the connector
        self.assertIn("refused the connection", text)			# what happened
        self.assertIn("allows the relay's addresses on TCP 25", text)	# the fix
        self.assertIn("acme.example", text)				# fix-now candidate
        self.assertTrue(b.find('article.insight [data-action="fix-now"]'
                               '[data-domain="acme.example"]'))
        b.shot("insights")

        # the connector's card: the flyout's fields, then Validate
        b.open(o.url("#/connectors/partner"))
        card = b.wait_text('article.connector[data-connector="partner"]', "4.4.316")
        for want in ("Deferring", "Oldest message", "Expires", "Last IP address", "127.0.0.1",
                     "450 4.4.316 Connection refused", "How to fix"):
            self.assertIn(want.lower(), card.lower())
        b.click('article[data-connector="partner"] [data-action="validate"]')
        b.wait("dialog[open] #validate-rcpt")
        b.dialog_button("Run the test")
        b.give_token()			# the first action of this tab asks for it
        failed = b.wait_text('article[data-connector="partner"] .validation li.step.bad',
                             timeout=30)
        self.assertIn("connect", failed)
        self.assertIn("Connection refused", failed)
        ok = b.texts('article[data-connector="partner"] .validation li.step.ok .step-name')
        self.assertEqual(ok, ["dns"])
        v = b.wait_text('article[data-connector="partner"] .validation')
        self.assertIn("Failed at connect", v)
        self.assertIn("4.4.316", v)
        b.shot("connectors")

        # the token is kept for the tab: Disable asks only to confirm
        b.click('article[data-connector="smarthost"] [data-action="disable"]')
        b.dialog_button("Disable")
        b.wait('article[data-connector="smarthost"] .badge.off', "Disabled")
        self.assertEqual(o.ctl("show", "connectors", "smarthost")["connectors"][0]["state"],
                         "disabled")
        b.click('article[data-connector="smarthost"] [data-action="enable"]')
        b.wait('article[data-connector="smarthost"] [data-action="disable"]')
        self.assertEqual(o.ctl("show", "connectors", "smarthost")["connectors"][0]["state"],
                         "enabled")

    def test_fix_now_refuses_unknown_recipients(self):
        o = Relay(self)
        self.stuck(o)
        self.assertEqual(rcpt(o.port, "nobody@acme.example")[0], 250)	# internal relay
        b = self.b
        b.open(o.url("#/insights"))
        b.click('[data-action="fix-now"][data-domain="acme.example"]')
        dlg = b.wait_text("dialog[open]")
        self.assertIn("550 5.1.10", dlg)			# the confirmation says what
        self.assertIn("returned to its senders now", dlg)
        b.shot("fix-now-confirm", full=False)
        b.dialog_button("Make it authoritative")
        b.give_token()
        note = b.wait_text(".notice.ok", "now authoritative")
        self.assertIn("1 queued recipient returned", note)	# ghost@, not alice@
        code, text = rcpt(o.port, "nobody@acme.example")
        self.assertEqual((code, text[:6]), (550, "5.1.10"))
        self.assertEqual(rcpt(o.port, "bob@acme.example")[0], 250)	# in the directory
        t = o.ctl("show", "tenants")["tenants"][0]
        self.assertEqual(t["domains"][0]["mode"], "authoritative (fix-now)")
        b.open(o.url("#/tenants"))
        card = b.wait_text('article.tenant[data-tenant="acme"]', "authoritative")
        self.assertIn("of 20 invalid recipients", card)
        b.shot("tenants")

    def test_write_off_is_said(self):
        o = Relay(self, write=False)
        self.stuck(o)
        b = self.b
        b.open(o.url("#/connectors"))
        b.click('article[data-connector="partner"] [data-action="flush"]')
        banner = b.wait_text("#banner", "Read-only")	# without asking for the token
        self.assertEqual(b.find("dialog[open]"), [])
        self.assertIn("write: false", banner)
        self.assertIn("write: false", b.wait_text(".notice.bad"))
        wait_for(lambda: b.d.execute_script(
            "return [...document.querySelectorAll('article.connector button')]"
            ".every((e) => e.disabled)"), 10, step=0.2, what="the action buttons disabled")
        b.shot("write-off", full=False)

    def test_read_token_asked_before_anything_shows(self):
        o = Relay(self, http="  read_token: true\n")
        b = self.b
        b.open(o.url())
        self.assertIn("read_token", b.wait_text("dialog[open]"))
        self.assertEqual(b.texts(".kpi"), [])		# nothing read without it
        b.give_token()
        b.wait(".kpi", "Queued now")
        b.wait("#live", "Live")

    def test_views(self):
        o = Relay(self)
        qid = self.stuck(o)
        send(o.port, ["bob@good.example"])
        wait_for(lambda: o.good.messages() >= 1, 20, what="the delivery to good")
        b = self.b
        b.open(o.url())
        b.wait(".kpi", "Queued now")
        b.wait("svg.chart.flow rect.bar")		# this minute's bars
        self.assertIn("Connection refused", b.wait_text("ul.alert-list"))
        b.wait("#n-insights", "1")
        # the navigation says whether there is a message trace to search
        trace = b.wait('#nav a[data-view="trace"]')
        self.assertEqual("unavailable" in trace.get_attribute("class"), not trace_config_ok())
        b.shot("overview")

        b.open(o.url("#/queue"))
        row = b.wait_text('tr[data-id="%s"]' % qid)
        self.assertIn("4.4.316", row)
        self.assertIn("ghost@acme.example", row)
        b.shot("queue")
        b.click('tr[data-id="%s"] a' % qid)
        b.wait("h1", qid)
        b.wait(".job", "partner")
        self.assertIn("Message-ID: <dash@client.test>", b.wait_text("pre.headers"))
        b.click('[data-action="hold"]')
        b.give_token()
        b.wait('[data-action="release"]')
        self.assertTrue(o.ctl("show", "message", qid)["held"])
        b.shot("message")
        b.click('[data-action="release"]')
        b.wait('[data-action="hold"]')
        self.assertFalse(o.ctl("show", "message", qid)["held"])

        b.open(o.url("#/queue?connector=smarthost"))
        b.wait(".empty", "Nothing matches")

        # a narrow window: the navigation on top, one column
        b.size(390, 800)
        b.open(o.url("#/overview"))
        b.wait(".kpi", "Queued now")
        b.wait("svg.chart.flow")
        nav = b.wait("#nav")
        self.assertLess(nav.size["height"], 80)		# a row, not a column
        self.assertLessEqual(b.d.execute_script("return document.documentElement.scrollWidth"),
                             390)				# nothing wider than the window
        b.shot("overview-narrow")
        b.open(o.url("#/connectors"))
        b.wait('article[data-connector="partner"]', "4.4.316")
        self.assertLessEqual(b.d.execute_script("return document.documentElement.scrollWidth"),
                             390)
        b.shot("connectors-narrow")

    def test_trace_finds_delivered_and_returned(self):
        if not trace_config_ok():
            self.skipTest("this sluiced has no message trace (trace: is not a key of its "
                          "configuration): the trace view has nothing to find")
        o = Relay(self, trace=True)
        ok = send(o.port, ["bob@good.example"])
        late = send(o.port, ["carol@gone.example"])	# expires after 4 s, returned
        b = self.b
        b.open(o.url("#/trace?since=1h"))
        b.wait('details.trace-msg[data-id="%s"][data-status="delivered"]' % ok, timeout=30)
        b.wait('details.trace-msg[data-id="%s"][data-status="returned"]' % late, timeout=40)
        b.open(o.url("#/trace?id=" + late))
        life = b.wait_text('details.trace-msg[data-id="%s"][open]' % late)
        for want in ("received", "deferred", "expired", "NDR sent", "4.4.316"):
            self.assertIn(want, life)
        b.shot("trace")
        b.open(o.url("#/trace?rcpt=bob@good.example"))
        life = b.wait_text('details.trace-msg[data-id="%s"][open]' % ok)
        self.assertIn("delivered", life)
        self.assertIn("smarthost", life)


if __name__ == "__main__":
    unittest.main()
