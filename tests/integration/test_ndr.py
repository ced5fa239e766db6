"""Expiry NDRs as a bounce processor reads them: a message that runs out
of time (nothing listens at its destination; its DNS name does not exist;
the destination keeps answering 4xx) comes back with a final status
(5.4.7), its last error kept in Diagnostic-Code, and Remote-MTA only for a
destination that answered in SMTP.  Each NDR, as the sender's server
received it, goes through Sisimai (Debian's libsisimai-perl, installed by
scripts/deps.sh), which must call it expired and permanent."""
import json
import os
import re
import subprocess
import unittest

from harness import Sink
from test_delivery import Dnsmasq, RelayCase, send

# Sisimai's verdict on each recipient of a bounce, as JSON: its own fields
# (reason, deliverystatus, action, softbounce...) and "permanent", what its
# is_permanent() says of the status it settled on.
SISIMAI = r"""
use Sisimai; use Sisimai::SMTP::Error; use JSON::PP;
my $v = Sisimai->make($ARGV[0]) || [];
print JSON::PP->new->canonical->encode([map {
    +{ %{ $_->damn },
       permanent => Sisimai::SMTP::Error->is_permanent($_->deliverystatus) }
} @$v]), "\n";
"""


def sisimai(path):
    """Sisimai's verdict on the bounce in path: a list, one per recipient."""
    if subprocess.run(["perl", "-MSisimai", "-e", "1"], capture_output=True).returncode != 0:
        if os.environ.get("CI"):
            raise AssertionError("Sisimai is missing: scripts/deps.sh installs libsisimai-perl")
        raise unittest.SkipTest("no Sisimai (apt-get install libsisimai-perl)")
    out = subprocess.run(["perl", "-e", SISIMAI, path], capture_output=True, text=True,
                         timeout=60)
    if out.returncode != 0:
        raise AssertionError("sisimai: " + out.stderr)
    return json.loads(out.stdout)


class NdrTest(RelayCase):
    def expire(self, code, **relay):
        """Send one message that expires (within 4 s) on code; the NDR's
        human part, its delivery-status fields and Sisimai's verdict on
        it as the sender's server received it."""
        self.relay(expiry="4s", **relay)
        send(self.r.port)
        m, human, fields = self.expect_ndr(code, timeout=30)
        path = os.path.join(self.ndr.out, "received-ndr.eml")
        with open(path, "wb") as f:
            f.write(self.ndr_raw)
        verdict = sisimai(path)
        print("\n    sisimai: " + json.dumps(
            {k: verdict[0].get(k) for k in ("recipient", "reason", "deliverystatus", "action",
                                            "permanent", "softbounce", "diagnostictype",
                                            "diagnosticcode")} if verdict else None))
        return human, fields, verdict

    def relay(self, **kw):
        self.r = super().relay(**kw)
        return self.r

    def expect_final(self, human, fields, verdict, last_error):
        # for a person: it expired, after how long and how many attempts,
        # the last error, that it is final, and the fix
        flat = re.sub(r"\s+", " ", human)
        self.assertRegex(flat, r"It expired after \d+ seconds? and \d+ attempts? without "
                               r"being delivered\. This is final")
        self.assertIn("the last error was " + last_error, flat)
        self.assertIn("Status: 5.4.7 (delivery time expired)", flat)
        for label in ("What happened:", "How to fix:", "Who should act:"):
            self.assertIn(label, human)
        # for a program: failed, and a status of the same class
        self.assertIn("Action: failed", fields)
        self.assertIn("Status: 5.4.7", fields)
        # and for Sisimai: an expiry, and a permanent failure
        self.assertEqual(len(verdict), 1, verdict)
        v = verdict[0]
        self.assertEqual(v["recipient"], "bob@example.test")
        self.assertEqual(v["action"], "failed")
        self.assertEqual(v["reason"], "expired", v)
        self.assertEqual(v["deliverystatus"], "5.4.7", v)
        self.assertEqual(v["permanent"], 1, v)
        return v

    def test_expired_on_connection_refused(self):
        """Nothing listens: 4.4.316 at every attempt, then expiry."""
        human, fields, verdict = self.expire("4.4.316")
        self.expect_final(human, fields, verdict, "450 4.4.316 Connection refused")
        self.assertIn("firewall", human)			# the fix for 4.4.316
        # no SMTP server ever answered: nothing to name as Remote-MTA, and
        # the diagnostic is Sluice's own, not an SMTP reply
        self.assertNotIn("Remote-MTA:", fields)
        self.assertRegex(fields, r"Diagnostic-Code: X-Sluice; 450 4\.4\.316 Connection refused; "
                                 r"delivery time expired after \d+ seconds? and \d+ attempts?")

    def test_expired_on_dns_failure(self):
        """The smart host's name does not exist: 4.4.312, then expiry."""
        dns = Dnsmasq(["--address=/exists.test/127.0.0.1"])
        self.cleanup.append(dns.stop)
        human, fields, verdict = self.expire(
            "4.4.312", sink_connector='    smarthosts: ["nothere.invalid.test:25"]',
            extra='resolvers: ["127.0.0.1:%d"]' % dns.port)
        self.expect_final(human, fields, verdict, "450 4.4.312 DNS query failed")
        self.assertNotIn("Remote-MTA:", fields)
        self.assertNotIn("nothere.invalid.test", fields)
        self.assertIn("Diagnostic-Code: X-Sluice; 450 4.4.312 DNS query failed; delivery time "
                      "expired", fields)

    def test_expired_on_remote_tempfail(self):
        """The destination answers 451 4.2.0 every time: it took part, so
        it is the Remote-MTA, and its reply is the Diagnostic-Code as it
        sent it."""
        sink = Sink(args=["--tempfail", "bob"])
        self.cleanup.append(sink.stop)
        human, fields, verdict = self.expire("4.2.0", sink_port=sink.port)
        self.assertIn("Status: 5.4.7", fields)
        self.assertIn("Remote-MTA: dns; 127.0.0.1", fields)
        self.assertRegex(fields, r"Diagnostic-Code: smtp; 451 4\.2\.0 \S")
        self.assertRegex(re.sub(r"\s+", " ", human), r"It expired after \d+ seconds? and \d+ "
                                                     r"attempts?")
        self.assertEqual(verdict[0]["action"], "failed")
        self.assertEqual(verdict[0]["permanent"], 1, verdict)


if __name__ == "__main__":
    unittest.main()
