"""TLS session resumption (issue 15): inbound, openssl s_client saves the
session of a first STARTTLS connection and offers it on a second, which
says "Reused" (TLS 1.3 and TLS 1.2 tickets), a ticket from another
process's keys is not reused, and two relays given the same
ticket_key_file accept each other's tickets; outbound, two messages to a
TLS sink (TLS 1.3), or to an OpenSSL server capped at TLS 1.2, go on two
connections and the second resumes.  show stats and show metrics count
full and resumed handshakes both ways; a key file too short to be a
secret stops sluiced -t."""
import json
import os
import ssl
import subprocess
import tempfile
import unittest

from harness import CONFIG_HEAD, SLUICED, Certs, Sink, Sluiced, wait_for
from ops_helpers import sluicectl
import test_tls
from test_delivery import send
from test_tls import OpenSSLSmtpServer

CERTS = Certs()
setUpModule = CERTS.make
tearDownModule = CERTS.remove

CONFIG = CONFIG_HEAD + """\
tls: {{cert: @CERT@, key: @KEY@@TICKETS@}}
connectors:
  sink:
    smarthosts: ["127.0.0.1:{sink_port}"]
    retry: {{initial: 1s, max: 2s, jitter: 0}}
    tls: verify
    tls_ca: @CA@
    tls_domain: localhost
    max_messages_per_connection: 1
domains:
  example.test: sink
"""


def der_item(der, i):
    """The tag, content start and content end of the DER item at i."""
    n = der[i + 1]
    if n < 0x80:
        return der[i], i + 2, i + 2 + n
    k = n & 0x7f
    n = int.from_bytes(der[i + 2:i + 2 + k], "big")
    return der[i], i + 2 + k, i + 2 + k + n


def ticket_span(der):
    """Where the ticket is in an OpenSSL session (DER): the OCTET STRING
    in the SEQUENCE's [10] field (RFC 5077 ticket)."""
    _, i, end = der_item(der, 0)
    while i < end:
        tag, start, stop = der_item(der, i)
        if tag == 0xaa:
            _, t0, t1 = der_item(der, start)
            return t0, t1
        i = stop
    raise AssertionError("no ticket in the session")


class TlsResumeTest(unittest.TestCase):

    def relay(self, sink_port=None, key_file=None):
        c, k = CERTS.pair("valid")
        text = (CONFIG.replace("@CERT@", c).replace("@KEY@", k)
                .replace("@CA@", CERTS.path("ca.pem"))
                .replace("@TICKETS@", ", ticket_key_file: %s" % key_file if key_file else ""))
        # one worker: the outbound session cache is per worker
        r = Sluiced(workers=1, sink_port=sink_port, config=text)
        r.start()
        self.addCleanup(r.stop)
        wait_for(lambda: os.path.exists(os.path.join(r.dir, "sluice.sock")),
                 what="control socket")
        return r

    def stats(self, r):
        p = sluicectl(os.path.join(r.dir, "sluice.sock"), "--json", "show", "stats")
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)["totals"]

    def metrics(self, r):
        p = sluicectl(os.path.join(r.dir, "sluice.sock"), "show", "metrics")
        self.assertEqual(p.returncode, 0, p.stderr)
        return dict(l.rsplit(" ", 1) for l in p.stdout.splitlines()
                    if l and not l.startswith("#"))

    def s_client(self, port, version, sess_out=None, sess_in=None):
        """One STARTTLS connection; openssl's report of it."""
        argv = ["openssl", "s_client", "-starttls", "smtp", "-connect",
                "127.0.0.1:%d" % port, "-CAfile", CERTS.path("ca.pem"),
                "-servername", "localhost", "-verify_return_error", "-ign_eof", version]
        if sess_out:
            argv += ["-sess_out", sess_out]
        if sess_in:
            argv += ["-sess_in", sess_in]
        # EHLO after the handshake: a TLS 1.3 ticket comes after it, and
        # s_client saves the session when it quits
        p = subprocess.run(argv, input="EHLO c.test\r\nQUIT\r\n", capture_output=True,
                           text=True, timeout=30)
        self.assertIn("221", p.stdout, p.stdout + p.stderr)
        return p.stdout

    def resume(self, port, version, sess):
        first = self.s_client(port, version, sess_out=sess)
        self.assertIn("New, TLSv1.", first)
        return self.s_client(port, version, sess_in=sess)

    def test_inbound_tls13_and_tls12(self):
        r = self.relay()
        tmp = tempfile.mkdtemp(prefix="sluice-sess-")
        for version, proto in (("-tls1_3", "TLSv1.3"), ("-tls1_2", "TLSv1.2")):
            again = self.resume(r.port, version, os.path.join(tmp, version))
            self.assertIn("Reused, " + proto, again, version)
        t = self.stats(r)
        self.assertEqual(t["tls.in.handshakes_full"], 2)
        self.assertEqual(t["tls.in.handshakes_resumed"], 2)
        m = self.metrics(r)
        self.assertEqual(m["sluice_tls_in_handshakes_resumed_total"], "2")
        self.assertEqual(m["sluice_tls_in_handshakes_full_total"], "2")
        self.assertIn(" resumed", r.log())

    def test_inbound_other_keys_not_reused(self):
        """A ticket sealed by another process is refused (full handshake);
        two relays with the same ticket_key_file share their tickets."""
        tmp = tempfile.mkdtemp(prefix="sluice-sess-")
        sess = os.path.join(tmp, "s")
        a = self.relay()
        self.s_client(a.port, "-tls1_3", sess_out=sess)
        b = self.relay()
        self.assertIn("New, TLSv1.3", self.s_client(b.port, "-tls1_3", sess_in=sess))
        self.assertEqual(self.stats(b)["tls.in.handshakes_resumed"], 0)

        key = os.path.join(tmp, "ticket.key")
        with open(key, "wb") as f:
            f.write(os.urandom(32))
        c = self.relay(key_file=key)
        d = self.relay(key_file=key)
        for version in ("-tls1_3", "-tls1_2"):
            self.s_client(c.port, version, sess_out=sess)
            self.assertIn("Reused, ", self.s_client(d.port, version, sess_in=sess), version)

    def test_inbound_tampered_ticket_refused(self):
        """A ticket changed anywhere, the unused end of wolfSSL's 32-byte
        MAC field included (the 16-byte tag fills its front), gets a full
        handshake."""
        r = self.relay()
        tmp = tempfile.mkdtemp(prefix="sluice-sess-")
        for version in ("-tls1_3", "-tls1_2"):
            sess = os.path.join(tmp, version)
            self.s_client(r.port, version, sess_out=sess)
            der = subprocess.run(["openssl", "sess_id", "-in", sess, "-outform", "DER"],
                                 capture_output=True, check=True).stdout
            start, end = ticket_span(der)
            for off in (start + 40, end - 17, end - 1):   # sealed text, tag, MAC's end
                bad = bytearray(der)
                bad[off] ^= 1
                subprocess.run(["openssl", "sess_id", "-inform", "DER", "-out", sess],
                               input=bytes(bad), capture_output=True, check=True)
                self.assertIn("New, TLSv1.", self.s_client(r.port, version, sess_in=sess),
                              "%s: byte %d of %d" % (version, off - start, end - start))
        self.assertEqual(self.stats(r)["tls.in.handshakes_resumed"], 0)

    def test_outbound_second_connection_resumes(self):
        c, k = CERTS.pair("valid")
        sink = Sink(keep=True, args=["--tls-cert", c, "--tls-key", k])
        self.addCleanup(sink.stop)
        r = self.relay(sink_port=sink.port)
        send(r.port)
        wait_for(lambda: sink.messages() == 1, 20, what="first delivery")
        send(r.port)
        wait_for(lambda: sink.messages() == 2, 20, what="second delivery")
        wait_for(lambda: self.stats(r)["tls.out.handshakes_resumed"] == 1, 10,
                 what="the second connection resumed")
        t = self.stats(r)
        self.assertEqual(t["tls.out.handshakes_full"], 1)
        m = self.metrics(r)
        self.assertEqual(m["sluice_tls_out_handshakes_resumed_total"], "1")
        self.assertEqual(m["sluice_tls_out_handshakes_full_total"], "1")


    def test_outbound_tls12_openssl_peer_resumes(self):
        # its certificate from this module's directory (test_tls's own may
        # not be made, and test_tls's tests may run in this process too)
        theirs, test_tls.CERTS = test_tls.CERTS, CERTS
        try:
            srv = OpenSSLSmtpServer("valid")
        finally:
            test_tls.CERTS = theirs
        srv.ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        self.addCleanup(srv.stop)
        r = self.relay(sink_port=srv.port)
        send(r.port)
        wait_for(lambda: len(srv.got) == 1, 20, what="first delivery")
        send(r.port)
        wait_for(lambda: len(srv.got) == 2, 20, what="second delivery")
        self.assertEqual([g[0] for g in srv.got], ["TLSv1.2", "TLSv1.2"])
        wait_for(lambda: self.stats(r)["tls.out.handshakes_resumed"] == 1, 10,
                 what="the second connection resumed")
        self.assertEqual(self.stats(r)["tls.out.handshakes_full"], 1)

    def test_bad_ticket_key_file(self):
        tmp = tempfile.mkdtemp(prefix="sluice-key-")
        key = os.path.join(tmp, "ticket.key")
        with open(key, "wb") as f:
            f.write(b"too short")
        c, k = CERTS.pair("valid")
        conf = os.path.join(tmp, "sluice.yaml")
        with open(conf, "w") as f:
            f.write(CONFIG.replace("@CERT@", c).replace("@KEY@", k)
                    .replace("@CA@", CERTS.path("ca.pem"))
                    .replace("@TICKETS@", ", ticket_key_file: " + key)
                    .format(workers=1, port=2525, dir=tmp, sink_port=2526))
        p = subprocess.run([SLUICED, "-t", "-c", conf], capture_output=True, text=True,
                           timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("ticket key file has 9 bytes, expected at least 32", p.stderr + p.stdout)

    def test_fifo_files_refused_not_waited_on(self):
        """A FIFO as a file read whole at start would block its open until
        a writer comes: sluiced -t must say what it is at once instead."""
        tmp = tempfile.mkdtemp(prefix="sluice-fifo-")
        fifo = os.path.join(tmp, "fifo")
        os.mkfifo(fifo)
        c, k = CERTS.pair("valid")
        for cert, key, tickets in ((c, k, fifo), (fifo, k, None), (c, fifo, None)):
            with self.subTest(cert=cert, key=key, tickets=tickets):
                conf = os.path.join(tmp, "sluice.yaml")
                with open(conf, "w") as f:
                    f.write(CONFIG.replace("@CERT@", cert).replace("@KEY@", key)
                            .replace("@CA@", CERTS.path("ca.pem"))
                            .replace("@TICKETS@", ", ticket_key_file: " + tickets if tickets
                                     else "")
                            .format(workers=1, port=2525, dir=tmp, sink_port=2526))
                p = subprocess.run([SLUICED, "-t", "-c", conf], capture_output=True,
                                   text=True, timeout=30)
                self.assertNotEqual(p.returncode, 0)
                self.assertIn("not a regular file", p.stderr + p.stdout)


if __name__ == "__main__":
    unittest.main()
