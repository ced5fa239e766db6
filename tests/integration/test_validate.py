"""validate connector: a test connection through the real client path,
against each fault mode of sluice-sink, reporting the code the connector
would be classified with."""
import json
import os
import subprocess
import unittest

from harness import BUILD, Sink, Sluiced, free_port
from test_tls import cert, setUpModule, tearDownModule  # noqa: F401 (certificates)

SLUICECTL = os.path.join(BUILD, "sluicectl")


class ValidateTest(unittest.TestCase):
    def setUp(self):
        self.cleanup = []

    def tearDown(self):
        for f in reversed(self.cleanup):
            try:
                f()
            except Exception:
                pass

    def validate(self, sink_args=None, connector_extra="", rcpt=None):
        port = free_port()
        if sink_args is not None:
            s = Sink(port=port, args=sink_args)
            self.cleanup.append(s.stop)
        r = Sluiced(connector_extra="    connect_timeout: 2s\n    command_timeout: 3s\n" +
                    connector_extra, sink_port=port)
        r.start()
        self.cleanup.append(r.stop)
        argv = [SLUICECTL, "--socket", os.path.join(r.dir, "sluice.sock"), "--json",
                "validate", "connector", "sink"] + ([rcpt] if rcpt else [])
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout)

    def test_ok(self):
        v = self.validate([])
        self.assertEqual(v["code"], "")
        self.assertEqual([s["step"] for s in v["steps"]],
                         ["dns", "connect", "banner", "ehlo", "mail", "rcpt"])
        self.assertTrue(all(s["result"] == "ok" for s in v["steps"]))

    def test_refused(self):
        v = self.validate(None)
        self.assertEqual((v["code"], v["mfi"]), ("4.4.316", "conn_refused"))

    def test_blackhole(self):
        v = self.validate(["--mode", "blackhole"])
        self.assertEqual((v["code"], v["mfi"]), ("4.4.315", "conn_timeout"))

    def test_banner_421(self):
        v = self.validate(["--mode", "banner=421"])
        self.assertEqual((v["code"], v["mfi"]), ("4.4.317", "cannot_connect"))

    def test_ehlo_554(self):
        v = self.validate(["--mode", "ehlo=554"])
        self.assertEqual(v["code"], "4.4.317")

    def test_user_unknown(self):
        v = self.validate(["--user-unknown", "nobody"], rcpt="nobody@example.test")
        self.assertEqual(v["mfi"], "remote")
        self.assertIn("5.1.1", v["verdict"])

    def test_tls_expired(self):
        c, k = cert("expired")
        v = self.validate(["--tls-cert", c, "--tls-key", k],
                          connector_extra="    tls: verify\n    tls_ca: %s\n"
                                          "    tls_domain: localhost\n" % cert("ca")[0])
        self.assertEqual((v["code"], v["mfi"]), ("4.7.320", "cert_invalid"))
        self.assertIn("expired", [s for s in v["steps"] if s["result"] == "fail"][0]["detail"])

    def test_tls_required_not_offered(self):
        v = self.validate(["--mode", "no-starttls"], connector_extra="    tls: required\n")
        self.assertEqual(v["code"], "4.4.317")


if __name__ == "__main__":
    unittest.main()
