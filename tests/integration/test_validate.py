"""validate connector: a test connection through the real client path,
against each fault mode of sluice-sink, reporting the code the connector
would be classified with and the step that failed; with --send, a marked
test message through DATA (not queued, not retried)."""
import email
import json
import os
import subprocess
import unittest

from harness import BUILD, Sink, Sluiced, free_port, wait_for
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

    def validate(self, sink_args=None, connector_extra="", rcpt=None, send=False, text=False):
        port = free_port()
        if sink_args is not None:
            self.sink = Sink(port=port, args=sink_args, keep=True)
            self.cleanup.append(self.sink.stop)
        self.r = r = Sluiced(connector_extra="    connect_timeout: 2s\n    command_timeout: 3s\n"
                             + connector_extra, sink_port=port)
        r.start()
        self.cleanup.append(r.stop)
        argv = [SLUICECTL, "--socket", os.path.join(r.dir, "sluice.sock")] + \
            ([] if text else ["--json"]) + ["validate", "connector", "sink"] + \
            ([rcpt] if rcpt else []) + (["--send"] if send else [])
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        return out.stdout if text else json.loads(out.stdout)

    def ctl_json(self, *args):
        out = subprocess.run([SLUICECTL, "--socket", os.path.join(self.r.dir, "sluice.sock"),
                              "--json"] + list(args), capture_output=True, text=True, timeout=30)
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

    def test_drop_mid_data_passes_without_send(self):
        """Without --send the test stops at RCPT: a server that drops the
        connection mid-DATA passes (and the text answer says so)."""
        out = self.validate(["--mode", "close-after=10"], rcpt="bob@example.test", text=True)
        self.assertIn("verdict: ok: the connector delivers", out)
        self.assertIn("note: no message was sent", out)
        self.assertEqual(self.sink.messages(), 0)

    def test_send_ok(self):
        v = self.validate([], rcpt="bob@example.test", send=True)
        self.assertEqual((v["code"], v["step"], v["mfi"], v["send"]), ("", "", "none", True))
        self.assertEqual([s["step"] for s in v["steps"]],
                         ["dns", "connect", "banner", "ehlo", "mail", "rcpt", "data",
                          "end-of-data"])
        self.assertTrue(all(s["result"] == "ok" for s in v["steps"]), v["steps"])
        self.assertRegex(v["verdict"], r"^ok: the test message was accepted by 127\.0\.0\.1 "
                                       r"\[127\.0\.0\.1\]: 250 ")
        data = [s for s in v["steps"] if s["step"] == "data"][0]["detail"]
        self.assertRegex(data, r"^354 .*; test message of \d+ bytes sent, "
                               r"Message-ID <validate\.[0-9a-f]{16}@relay\.test>$")
        # the sink has it, marked; sluiced queued nothing and retries nothing
        wait_for(lambda: self.sink.messages() == 1, 10, what="the test message at the sink")
        (name,) = os.listdir(self.sink.out)
        with open(os.path.join(self.sink.out, name), "rb") as f:
            msg = email.message_from_bytes(f.read())
        self.assertEqual(msg["X-Sluice-Validation"], "sink")
        self.assertEqual(msg["Subject"], "Sluice connector validation test")
        self.assertEqual(msg["To"], "<bob@example.test>")
        self.assertEqual(msg["From"], "Sluice connector validation <postmaster@relay.test>")
        self.assertEqual(msg["Auto-Submitted"], "auto-generated")
        self.assertIn(msg["Message-ID"], data)
        st = self.ctl_json("show", "stats")["totals"]
        self.assertEqual((st["queue.messages"], st["smtp.out.attempts"], st["smtp.in.messages"]),
                         (0, 0, 0))

    def test_send_drop_mid_data(self):
        """The server takes DATA, then resets the connection 10 bytes into the
        message: delivery would fail with 4.4.318, and so does the test."""
        v = self.validate(["--mode", "close-after=10"], rcpt="bob@example.test", send=True)
        self.assertEqual((v["code"], v["mfi"], v["step"]), ("4.4.318", "conn_dropped", "data"))
        last = v["steps"][-1]
        self.assertEqual((last["step"], last["result"]), ("data", "fail"))
        self.assertRegex(last["detail"], r"^354 .*test message of \d+ bytes sent.*; then "
                                         r"connection to 127\.0\.0\.1:\d+ closed")
        self.assertEqual([s["step"] for s in v["steps"]][:6],
                         ["dns", "connect", "banner", "ehlo", "mail", "rcpt"])
        self.assertEqual(self.sink.messages(), 0)
        out = self.validate(["--mode", "close-after=10"], rcpt="bob@example.test", send=True,
                            text=True)
        self.assertIn("failed at: data\nverdict: 450 4.4.318 ", out)
        self.assertIn("fix: ", out)

    def test_send_refused_at_end_of_data(self):
        v = self.validate(["--reject-data", "bob"], rcpt="bob@example.test", send=True)
        self.assertEqual((v["code"], v["mfi"], v["step"]), ("remote", "remote", "end-of-data"))
        self.assertEqual([(s["step"], s["result"]) for s in v["steps"][-2:]],
                         [("data", "ok"), ("end-of-data", "fail")])
        self.assertIn("554 5.6.0", v["verdict"])

    def test_send_refused_at_rcpt(self):
        """A refused recipient ends the test at rcpt: no message follows (the
        pipelined DATA is answered 554 by the server, and QUIT)."""
        v = self.validate(["--user-unknown", "nobody"], rcpt="nobody@example.test", send=True)
        self.assertEqual((v["mfi"], v["step"]), ("remote", "rcpt"))
        self.assertNotIn("data", [s["step"] for s in v["steps"]])
        self.assertEqual(self.sink.messages(), 0)

    def test_send_needs_an_address(self):
        r = Sluiced()
        r.start()
        self.cleanup.append(r.stop)
        sock = os.path.join(r.dir, "sluice.sock")
        for args, want in ((["sink", "--send"], "--send needs the RCPT"),
                           (["sink", "not-an-address", "--send"], "is not an address"),
                           (["sink", "a@b.test", "x", "--send"], "usage: validate connector")):
            out = subprocess.run([SLUICECTL, "--socket", sock, "validate", "connector"] + args,
                                 capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 1, out)
            self.assertIn(want, out.stderr)

    def test_tls_required_not_offered(self):
        v = self.validate(["--mode", "no-starttls"], connector_extra="    tls: required\n")
        self.assertEqual(v["code"], "4.4.317")


if __name__ == "__main__":
    unittest.main()
