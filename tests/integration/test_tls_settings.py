"""TLS versions and ciphers (issue 11): inbound tls: min_version, ciphers
and ciphersuites against Python's ssl client (OpenSSL) capped at TLS 1.2 or
not; a connector's tls_min_version, tls_ciphers and tls_ciphersuites
against a Python STARTTLS server capped at TLS 1.2; names wolfSSL does not
know refused by `sluiced -t`; MX routing encrypting by default (and
delivering in clear to a server without STARTTLS)."""
import os
import smtplib
import ssl
import subprocess
import unittest

import test_tls
from harness import SLUICED, Sink, Sluiced, TestCase, wait_for
from test_delivery import Dnsmasq, attempts, send
from test_tls import OpenSSLSmtpServer, cert


def setUpModule():
    test_tls.setUpModule()


def tearDownModule():
    test_tls.tearDownModule()


def client_ctx(max12=False, ciphers=None):
    ctx = ssl.create_default_context(cafile=cert("ca")[0])
    if max12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


class Max12Server(OpenSSLSmtpServer):
    """The Python STARTTLS server of test_tls, speaking TLS 1.2 at most."""

    def __init__(self, certname):
        super().__init__(certname)
        self.ctx.maximum_version = ssl.TLSVersion.TLSv1_2


class TlsSettingsTest(TestCase):
    def relay(self, tls_extra="", **kw):
        c, k = cert("valid")
        r = Sluiced(extra="tls: {cert: %s, key: %s%s}" % (c, k, tls_extra), **kw)
        r.start()
        self.cleanup.append(r.stop)
        return r

    def starttls(self, port, ctx):
        """(version, cipher) of a STARTTLS session, after a message went
        through it; ssl.SSLError when the handshake fails."""
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            s.ehlo("py.test")
            s.starttls(context=ctx)
            s.ehlo("py.test")
            s.sendmail("a@client.test", ["b@example.test"], "Subject: t\r\n\r\nx\r\n")
            return s.sock.version(), s.sock.cipher()[0]

    def test_inbound_min_13_refuses_a_12_client(self):
        r = self.relay(", min_version: 1.3")
        with self.assertRaises((ssl.SSLError, smtplib.SMTPServerDisconnected, OSError)):
            self.starttls(r.port, client_ctx(max12=True))
        self.assertEqual(self.starttls(r.port, client_ctx())[0], "TLSv1.3")
        # and openssl s_client, told to speak 1.2 only, gets no session either
        p = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-tls1_2",
                            "-connect", "127.0.0.1:%d" % r.port, "-servername", "localhost"],
                           input="QUIT\r\n", capture_output=True, text=True, timeout=30)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertNotIn("Cipher is ECDHE", p.stdout)

    def test_inbound_default_still_takes_12(self):
        r = self.relay()
        self.assertEqual(self.starttls(r.port, client_ctx(max12=True))[0], "TLSv1.2")

    def test_inbound_ciphers_and_suites(self):
        r = self.relay(", ciphers: ECDHE-ECDSA-AES256-GCM-SHA384, "
                       "ciphersuites: TLS_AES_256_GCM_SHA384")
        self.assertEqual(self.starttls(r.port, client_ctx(max12=True)),
                         ("TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384"))
        self.assertEqual(self.starttls(r.port, client_ctx()),
                         ("TLSv1.3", "TLS_AES_256_GCM_SHA384"))
        # a TLS 1.2 client offering only a cipher the server left out
        with self.assertRaises((ssl.SSLError, smtplib.SMTPServerDisconnected, OSError)):
            self.starttls(r.port, client_ctx(max12=True, ciphers="ECDHE-ECDSA-AES128-GCM-SHA256"))

    def outbound(self, connector_extra):
        srv = Max12Server("valid")
        self.cleanup.append(srv.stop)
        r = Sluiced(sink_port=srv.port, extra="log: {level: debug}",
                    connector_extra=connector_extra +
                    "\n    retry: {initial: 1s, max: 1s, jitter: 0}")
        r.start()
        self.cleanup.append(r.stop)
        send(r.port)
        return r, srv

    def test_outbound_min_13_against_a_12_server(self):
        r, srv = self.outbound("    tls: required\n    tls_min_version: 1.3")
        a = wait_for(lambda: attempts(r.log(), "deferred"), 20, what="a deferral")[0]
        self.assertEqual(a["code"], "4.4.318", a)
        self.assertEqual(srv.got, [], "nothing delivered below TLS 1.3")

    def test_outbound_12_and_a_chosen_cipher(self):
        r, srv = self.outbound("    tls: required\n"
                               "    tls_ciphers: ECDHE-ECDSA-AES128-GCM-SHA256")
        wait_for(lambda: srv.got, 20, what="delivery over TLS 1.2")
        self.assertEqual(srv.got[0][0], "TLSv1.2")
        self.assertIn("TLS TLSv1.2 TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", r.log())
        wait_for(lambda: attempts(r.log(), "delivered"), what="the attempt line")

    def test_unknown_names_refused_at_check(self):
        for extra, connector_extra, want in (
                ("", "    tls: required\n    tls_ciphers: ECDHE-RSA-AES128-GCM-SHA256:"
                     "ECDHE-RSA-NONSUCH-SHA256",
                 "connector 'sink': tls: unknown cipher 'ECDHE-RSA-NONSUCH-SHA256': not a "
                 "name this wolfSSL knows"),
                ("tls: {cert: %s, key: %s, ciphersuites: TLS_AES_512_GCM_SHA512}"
                 % cert("valid"), "",
                 "tls: unknown cipher 'TLS_AES_512_GCM_SHA512': not a name this wolfSSL "
                 "knows")):
            r = Sluiced(extra=extra, connector_extra=connector_extra)
            chk = subprocess.run([SLUICED, "-t", "-c", r.config], capture_output=True,
                                 text=True, timeout=20)
            self.assertEqual(chk.returncode, 1, chk.stdout)
            self.assertIn(want, chk.stderr)

    def test_mx_routing_is_opportunistic_by_default(self):
        c, k = cert("valid")
        tls_sink = Sink(keep=True, args=["--tls-cert", c, "--tls-key", k])
        self.cleanup.append(tls_sink.stop)
        clear_sink = Sink(keep=True)
        self.cleanup.append(clear_sink.stop)
        dns = Dnsmasq(["--mx-host=tls.test,mx.tls.test,10", "--mx-host=clear.test,mx.clear.test,10",
                       "--mx-host=none.test,mx.tls.test,10",
                       "--host-record=mx.tls.test,127.0.0.1",
                       "--host-record=mx.clear.test,127.0.0.1"])
        self.cleanup.append(dns.stop)
        r = Sluiced(extra='resolvers: ["127.0.0.1:%d"]' % dns.port,
                    connector_extra="  bymx:\n    mx: true\n    mx_port: %d\n"
                                    "  byclearmx:\n    mx: true\n    mx_port: %d\n"
                                    "  nevertls:\n    mx: true\n    mx_port: %d\n"
                                    "    tls: none\n"
                                    % (tls_sink.port, clear_sink.port, tls_sink.port),
                    domains_extra="  tls.test: bymx\n  clear.test: byclearmx\n"
                                  "  none.test: nevertls\n")
        r.start()
        self.cleanup.append(r.stop)
        send(r.port, rcpts=("a@tls.test",))
        send(r.port, rcpts=("b@clear.test",))
        send(r.port, rcpts=("c@none.test",))
        wait_for(lambda: tls_sink.messages() == 2 and clear_sink.messages() == 1, 20,
                 what="three deliveries")

        def headers(sink):
            out = []
            for name in sorted(os.listdir(sink.out)):
                if not name.startswith("."):
                    with open(os.path.join(sink.out, name), "rb") as f:
                        out.append(f.read())
            return out
        got = headers(tls_sink)
        self.assertEqual(sum(b"X-Sink-TLS: TLSv1.3" in m for m in got), 1,
                         "one over TLS (the default), one in clear (tls: none)")
        self.assertEqual([b"X-Sink-TLS" in m for m in headers(clear_sink)], [False])


if __name__ == "__main__":
    unittest.main()
