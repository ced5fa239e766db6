"""TLS: inbound STARTTLS (swaks, smtplib, openssl s_client), the STARTTLS
command-injection class, require_tls, and outbound connector policies
against sluice-sink and a Python/OpenSSL SMTP server: one test per
certificate failure (4.7.320 with its reason), TLS not offered or refused
(4.4.317), and no plaintext fallback under 'required'."""
import os
import smtplib
import socket
import ssl
import subprocess
import threading
import unittest

from harness import Certs, Sink, Sluiced, free_port, wait_for
from test_delivery import CONFIG, attempts, send

CERTS = Certs()
setUpModule = CERTS.make
tearDownModule = CERTS.remove


def cert(name):
    return CERTS.pair(name)


def server_tls():
    c, k = cert("valid")
    return "tls: {cert: %s, key: %s}" % (c, k)


class OpenSSLSmtpServer(threading.Thread):
    """A minimal SMTP server whose TLS is Python's ssl module (OpenSSL)."""

    def __init__(self, certname):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(*cert(certname))
        self.got = []
        self.start()

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                self.session(conn)
            except Exception:
                pass

    def session(self, conn):
        f = conn.makefile("rb")
        conn.sendall(b"220 openssl.test ESMTP\r\n")
        tls = None
        while True:
            line = f.readline()
            if not line:
                return
            cmd = line.strip().upper()
            out = conn if tls is None else tls
            if cmd.startswith(b"EHLO"):
                out.sendall(b"250-openssl.test\r\n" + (b"250-STARTTLS\r\n" if tls is None else b"")
                            + b"250 PIPELINING\r\n")
            elif cmd == b"STARTTLS":
                conn.sendall(b"220 go ahead\r\n")
                tls = self.ctx.wrap_socket(conn, server_side=True)
                f = tls.makefile("rb")
            elif cmd == b"DATA":
                out.sendall(b"354 go\r\n")
                data = b""
                while True:
                    l2 = f.readline()
                    if l2 in (b".\r\n", b""):
                        break
                    data += l2
                self.got.append((tls.version() if tls else None, data))
                out.sendall(b"250 ok\r\n")
            elif cmd == b"QUIT":
                out.sendall(b"221 bye\r\n")
                return
            else:
                out.sendall(b"250 ok\r\n")

    def stop(self):
        self.sock.close()


class TlsTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.cleanup = []

    def tearDown(self):
        for f in reversed(self.cleanup):
            try:
                f()
            except Exception:
                pass

    def relay(self, sink_port, policy="verify", expiry="30s", extra="", tls_domain="localhost"):
        self.ndr = Sink(keep=True)
        self.cleanup.append(self.ndr.stop)
        conn = ('    smarthosts: ["127.0.0.1:%d"]\n    tls: %s\n    tls_ca: %s\n'
                '    tls_domain: %s' % (sink_port, policy, cert("ca")[0], tls_domain))
        r = Sluiced(config=CONFIG.replace("{sink_connector}", conn).replace("{expiry}", expiry)
                    .replace("{down_after}", "3").replace("{ndr_port}", str(self.ndr.port)),
                    extra=extra + "\n" + server_tls(), sink_port=sink_port)
        r.start()
        self.cleanup.append(r.stop)
        return r

    # ---- inbound ------------------------------------------------------

    def test_inbound_swaks_and_smtplib(self):
        r = self.relay(free_port())
        out = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % r.port, "--tls",
                              "--from", "a@client.test", "--to", "b@example.test",
                              "--tls-verify", "--tls-ca-path", cert("ca")[0],
                              "--tls-sni", "localhost"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("TLS started", out.stdout)
        ctx = ssl.create_default_context(cafile=cert("ca")[0])
        with smtplib.SMTP("127.0.0.1", r.port, timeout=10) as s:
            s.ehlo("py.test")
            self.assertTrue(s.has_extn("starttls"))
            s.starttls(context=ctx)
            s.ehlo("py.test")
            self.assertFalse(s.has_extn("starttls"))
            s.sendmail("a@client.test", ["b@example.test"], "Subject: tls\r\n\r\nx\r\n")
        self.assertEqual(r.log().count("queued id="), 2)
        self.assertGreaterEqual(r.log().count("TLS TLSv1.3"), 2)

    def test_inbound_openssl_s_client(self):
        r = self.relay(free_port())
        p = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect",
                            "127.0.0.1:%d" % r.port, "-CAfile", cert("ca")[0],
                            "-servername", "localhost", "-verify_return_error", "-quiet"],
                           input="EHLO x.test\r\nQUIT\r\n", capture_output=True, text=True,
                           timeout=30)
        self.assertIn("250", p.stdout)
        self.assertIn("221", p.stdout)

    def test_starttls_command_injection(self):
        """Commands pipelined behind STARTTLS are discarded, not executed."""
        r = self.relay(free_port())
        raw = socket.create_connection(("127.0.0.1", r.port), timeout=10)
        f = raw.makefile("rb")
        f.readline()
        raw.sendall(b"EHLO c.test\r\n")
        while f.readline()[3:4] == b"-":
            pass
        raw.sendall(b"STARTTLS\r\nMAIL FROM:<evil@c.test>\r\nRCPT TO:<x@example.test>\r\n")
        self.assertTrue(f.readline().startswith(b"220 2.0.0"))
        ctx = ssl.create_default_context(cafile=cert("ca")[0])
        tls = ctx.wrap_socket(raw, server_hostname="localhost")
        tf = tls.makefile("rb")
        # the injected MAIL must not have opened a transaction: RCPT fails
        tls.sendall(b"EHLO c.test\r\n")
        while tf.readline()[3:4] == b"-":
            pass
        tls.sendall(b"RCPT TO:<x@example.test>\r\n")
        self.assertTrue(tf.readline().startswith(b"503 5.5.1"))
        tls.close()

    def test_require_tls_listener(self):
        port = free_port()
        r = self.relay(free_port())
        r.stop()
        self.cleanup.pop()
        text = open(r.config).read().replace('listen: ["127.0.0.1:%d"]' % r.port,
                                             'listen: [{address: "127.0.0.1:%d", require_tls: true}]' % port)
        open(r.config, "w").write(text)
        r.port = port
        r.start()
        self.cleanup.append(r.stop)
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            s.ehlo("c.test")
            code, msg = s.mail("a@client.test")
            self.assertEqual((code, msg[:5]), (530, b"5.7.0"))
            s.starttls(context=ssl.create_default_context(cafile=cert("ca")[0]))
            s.ehlo("c.test")
            self.assertEqual(s.mail("a@client.test")[0], 250)

    # ---- outbound -----------------------------------------------------

    def test_outbound_verify_delivers_over_tls(self):
        c, k = cert("valid")
        sink = Sink(keep=True, args=["--tls-cert", c, "--tls-key", k])
        self.cleanup.append(sink.stop)
        r = self.relay(sink.port)
        send(r.port)
        wait_for(lambda: sink.messages() == 1, 20, what="delivery over TLS")
        name = [n for n in os.listdir(sink.out) if not n.startswith(".")][0]
        self.assertIn(b"X-Sink-TLS: TLSv1.3", open(os.path.join(sink.out, name), "rb").read())

    def test_outbound_openssl_peer(self):
        srv = OpenSSLSmtpServer("valid")
        self.cleanup.append(srv.stop)
        r = self.relay(srv.port)
        send(r.port)
        wait_for(lambda: srv.got, 20, what="delivery to the OpenSSL server")
        self.assertTrue(srv.got[0][0].startswith("TLSv1."))

    def cert_case(self, certname, reason_words):
        c, k = cert(certname)
        sink = Sink(args=["--tls-cert", c, "--tls-key", k])
        self.cleanup.append(sink.stop)
        r = self.relay(sink.port, expiry="3s")
        send(r.port)
        a = wait_for(lambda: [x for x in attempts(r.log()) if x["code"]], 20,
                     what="a classified attempt")[0]
        self.assertEqual((a["code"], a["mfi"]), ("4.7.320", "cert_invalid"), a)
        self.assertTrue(any(w in a["detail"].lower() for w in reason_words), a["detail"])
        self.assertEqual(sink.messages(), 0)
        msgs = wait_for(lambda: [n for n in os.listdir(self.ndr.out) if n.endswith(".eml")],
                        30, what="the NDR")
        ndr = open(os.path.join(self.ndr.out, msgs[0]), "rb").read().decode(errors="replace")
        self.assertIn("4.7.320", ndr)

    def test_cert_expired(self):
        self.cert_case("expired", ["expired"])

    def test_cert_not_yet_valid(self):
        self.cert_case("notyet", ["not yet valid"])

    def test_cert_wrong_name(self):
        self.cert_case("wrongname", ["name", "mismatch"])

    def test_cert_self_signed(self):
        self.cert_case("selfsigned", ["self-signed", "self signed"])

    def test_cert_unknown_ca(self):
        self.cert_case("unknownca", ["trusted", "issuer"])

    def test_required_accepts_any_certificate(self):
        c, k = cert("selfsigned")
        sink = Sink(keep=True, args=["--tls-cert", c, "--tls-key", k])
        self.cleanup.append(sink.stop)
        r = self.relay(sink.port, policy="required")
        send(r.port)
        wait_for(lambda: sink.messages() == 1, 20, what="delivery under 'required'")

    def test_required_but_not_offered_never_plaintext(self):
        """Downgrade: the server strips STARTTLS; nothing goes in clear."""
        c, k = cert("valid")
        sink = Sink(args=["--tls-cert", c, "--tls-key", k, "--mode", "no-starttls"])
        self.cleanup.append(sink.stop)
        r = self.relay(sink.port, policy="required", expiry="3s")
        send(r.port)
        a = wait_for(lambda: [x for x in attempts(r.log()) if x["code"]], 20,
                     what="a classified attempt")[0]
        self.assertEqual((a["code"], a["mfi"]), ("4.4.317", "cannot_connect"))
        self.assertIn("STARTTLS", a["detail"])
        wait_for(lambda: "expired" in r.log(), 20, what="expiry")
        self.assertEqual(sink.messages(), 0)

    def test_starttls_refused(self):
        c, k = cert("valid")
        sink = Sink(args=["--tls-cert", c, "--tls-key", k, "--starttls-reply", "454"])
        self.cleanup.append(sink.stop)
        r = self.relay(sink.port, policy="verify")
        send(r.port)
        a = wait_for(lambda: [x for x in attempts(r.log()) if x["code"]], 20,
                     what="a classified attempt")[0]
        self.assertEqual(a["code"], "4.4.317")
        self.assertEqual(sink.messages(), 0)

    def test_opportunistic_falls_back(self):
        c, k = cert("valid")
        sink = Sink(keep=True, args=["--tls-cert", c, "--tls-key", k, "--starttls-reply", "454"])
        self.cleanup.append(sink.stop)
        r = self.relay(sink.port, policy="opportunistic")
        send(r.port)
        wait_for(lambda: sink.messages() == 1, 20, what="delivery in clear")


if __name__ == "__main__":
    unittest.main()
