"""The certificate-expiry insight (issue 12, point 7): a connector's
destination shows a certificate that expires in 3 days; show insights
(text and JSON) names the connector, the host, the subject, the notAfter
and the fix, a cert_expiry event is logged and show metrics exports the
date, while the mail is delivered.  A renewed certificate clears it; a
certificate valid for years raises nothing; an expired one is reported
whether the connector verifies (4.7.320) or not (delivered unverified);
cert_expiry_warning: 0 turns it off."""
import datetime
import json
import os
import subprocess
import unittest

from harness import CONFIG_HEAD, Certs, Sink, Sluiced, events, wait_for
from ops_helpers import send, sluicectl

CERTS = Certs()
setUpModule = CERTS.make
tearDownModule = CERTS.remove

CONFIG = CONFIG_HEAD + """\
connectors:
  partner:
    smarthosts: ["127.0.0.1:{sink_port}"]
    retry: {{initial: 1s, max: 2s, jitter: 0}}
    tls: @TLS@
    tls_ca: @CA@
@EXTRA@
domains:
  partner.test: partner
"""


def not_after(name):
    """The notAfter of certificate name, as the insight writes it."""
    out = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in",
                          CERTS.path(name + ".pem")], capture_output=True, text=True,
                         check=True).stdout
    t = datetime.datetime.strptime(out.strip().split("=", 1)[1], "%b %d %H:%M:%S %Y %Z")
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class CertExpiryTest(unittest.TestCase):
    maxDiff = None

    def relay(self, cert, tls="verify", extra=""):
        """A relay whose connector partner delivers to a sink showing cert."""
        self.sink = self.sink_on(cert)
        r = Sluiced(workers=2, sink_port=self.sink.port,
                    config=CONFIG.replace("@TLS@", tls).replace("@CA@", CERTS.path("ca.pem"))
                    .replace("@EXTRA@", extra))
        r.start()
        self.addCleanup(r.stop)
        self.r = r
        self.sock = os.path.join(r.dir, "sluice.sock")
        wait_for(lambda: os.path.exists(self.sock), what="control socket")
        return r

    def sink_on(self, cert, port=None):
        c, k = CERTS.pair(cert)
        s = Sink(port=port, keep=True, args=["--tls-cert", c, "--tls-key", k])
        self.addCleanup(s.stop)
        return s

    def ctl(self, *args):
        p = sluicectl(self.sock, *args)
        self.assertEqual(p.returncode, 0, "%s: %s" % (args, p.stderr))
        self.assertTrue(self.r.proc.alive(), self.r.log()[-3000:])
        return p.stdout

    def certificates(self):
        return json.loads(self.ctl("--json", "show", "insights"))["certificates"]

    def deliver(self, n=1):
        send(self.r.port, ["bob@partner.test"])
        wait_for(lambda: self.sink.messages() >= n, 20, what="delivery over TLS")

    def metric(self):
        """The expiry gauge's samples: {host: value}."""
        out = self.ctl("show", "metrics")
        return {ln.split('host="')[1].split('"')[0]: int(ln.split()[-1])
                for ln in out.splitlines()
                if ln.startswith("sluice_tls_cert_expiry_timestamp_seconds{")}

    def test_expiring_then_renewed(self):
        r = self.relay("soon")
        self.deliver()
        date = not_after("soon")
        certs = wait_for(self.certificates, 10, what="the insight")
        self.assertEqual(len(certs), 1, certs)
        c = certs[0]
        fix = ("Renew the certificate on 127.0.0.1 before %s, or deliveries on partner "
               "will fail with 4.7.320." % date)
        self.assertEqual((c["connector"], c["host"], c["subject"], c["state"],
                          c["not_after"], c["days_left"], c["tls"], c["warning"], c["fix"]),
                         ("partner", "127.0.0.1", "localhost", "expiring", date, 2,
                          "verify", 14 * 86400, fix))
        self.assertIn("expires on %s, in 2 days" % date, c["meaning"])
        self.assertEqual(c["who"], "partner or destination administrator")

        ev = wait_for(lambda: events(r.log(), "cert_expiry"), 10, what="the event")
        self.assertEqual(len(ev), 1, ev)
        e = ev[0]
        self.assertEqual((e["state"], e["connector"], e["host"], e["subject"],
                          e["not_after"], e["days_left"], e["fix"]),
                         ("raised", "partner", "127.0.0.1", "localhost", date, 2, fix))

        text = self.ctl("show", "insights")
        self.assertIn("1 certificate to renew", text)
        self.assertRegex(text, r"\npartner +127\.0\.0\.1 +localhost +%s +2d2\dh +expiring +"
                         r"verify " % date)
        self.assertIn("\npartner 127.0.0.1: how to fix: %s\n" % fix, text)
        want = int(datetime.datetime.strptime(date, "%Y-%m-%dT%H:%M:%SZ")
                   .replace(tzinfo=datetime.timezone.utc).timestamp())
        self.assertEqual(self.metric(), {"127.0.0.1": want})

        # the partner renews: the next handshake clears it
        port = self.sink.port
        self.sink.stop()
        self.sink = self.sink_on("valid", port=port)
        self.deliver()
        wait_for(lambda: self.certificates() == [], 10, what="the insight cleared")
        ev = wait_for(lambda: events(r.log(), "cert_expiry")[1:], 10, what="cleared")
        self.assertEqual((ev[0]["state"], ev[0]["reason"], ev[0]["not_after"]),
                         ("cleared", "renewed", not_after("valid")))
        self.assertNotIn("certificate", self.ctl("show", "insights"))

    def test_valid_for_years_raises_nothing(self):
        r = self.relay("valid")
        self.deliver()
        wait_for(lambda: self.metric(), 10, what="the certificate seen")
        self.ctl("show", "insights")	# a round that judges it
        self.assertEqual(self.certificates(), [])
        self.assertEqual(events(r.log(), "cert_expiry"), [])

    def test_expired_unverified_still_reported(self):
        """tls: required takes the expired certificate and delivers."""
        r = self.relay("expired", tls="required")
        self.deliver()
        c = wait_for(self.certificates, 10, what="the insight")[0]
        self.assertEqual((c["state"], c["not_after"], c["tls"]),
                         ("expired", "2020-02-01T00:00:00Z", "required"))
        self.assertIn("still succeed only because tls: required does not verify", c["meaning"])
        self.assertEqual(c["fix"], "Renew the certificate on 127.0.0.1: deliveries on partner "
                         "go on unverified, and with tls: verify they would fail with 4.7.320.")
        e = wait_for(lambda: events(r.log(), "cert_expiry"), 10, what="the event")[0]
        self.assertEqual((e["state"], e["tls"]), ("raised", "required"))

    def test_expired_verified_fails_and_says_why(self):
        r = self.relay("expired")
        send(r.port, ["bob@partner.test"])
        c = wait_for(self.certificates, 20, what="the insight")[0]
        self.assertEqual((c["state"], c["subject"]), ("expired", "localhost"))
        self.assertIn("partner verifies certificates, so its deliveries there fail with "
                      "4.7.320", c["meaning"])
        self.assertEqual(self.sink.messages(), 0)

    def test_warning_off(self):
        r = self.relay("soon", extra="    cert_expiry_warning: 0")
        self.deliver()
        self.ctl("show", "insights")
        self.assertEqual(self.certificates(), [])
        self.assertEqual(self.metric(), {})
        self.assertEqual(events(r.log(), "cert_expiry"), [])


if __name__ == "__main__":
    unittest.main()
