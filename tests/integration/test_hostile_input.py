"""Hostile input from peers (issue 9, defects 6, 7, 9 and 10): a CA-signed
certificate whose name hides a NUL, an SNI name and a quoted local part
that try to forge log lines, addresses and next-hop replies that are not
UTF-8 (they used to blind the JSON outputs), and a bare CR in ORCPT that
was relayed into the next hop's command stream.  Each test failed on the
code before its fix.  Only loopback addresses are used."""
import json
import os
import re
import socket
import ssl
import threading
import time
import unittest

from harness import Certs, Sink, Sluiced, events, free_port, wait_for
from test_delivery import CONFIG, attempts

CERTS = Certs()
setUpModule = CERTS.make
tearDownModule = CERTS.remove


def cert(name):
    return CERTS.pair(name)


class Recorder(threading.Thread):
    """A next hop that keeps every byte it receives and answers RCPT with
    rcpt_reply (bytes, CRLF added); it advertises DSN, so a relay passes
    ORCPT on to it."""

    def __init__(self, rcpt_reply=b"250 2.1.5 ok"):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.rcpt_reply = rcpt_reply
        self.raw = b""
        self.messages = 0
        self.lock = threading.Lock()
        self.start()

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                self.session(conn)
            except OSError:
                pass
            finally:
                conn.close()

    def session(self, conn):
        f = conn.makefile("rb")
        conn.sendall(b"220 rec.test ESMTP\r\n")
        while True:
            line = f.readline()
            if not line:
                return
            with self.lock:
                self.raw += line
            cmd = line[:4].upper()
            if cmd in (b"EHLO", b"HELO"):
                conn.sendall(b"250-rec.test\r\n250-PIPELINING\r\n250-DSN\r\n"
                             b"250-8BITMIME\r\n250 SMTPUTF8\r\n")
            elif cmd == b"RCPT":
                conn.sendall(self.rcpt_reply + b"\r\n")
            elif cmd == b"DATA":
                conn.sendall(b"354 go\r\n")
                while True:
                    l2 = f.readline()
                    if l2 in (b".\r\n", b""):
                        break
                with self.lock:
                    self.messages += 1
                conn.sendall(b"250 2.0.0 ok\r\n")
            elif cmd == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 ok\r\n")

    def stop(self):
        self.sock.close()


class Smtp:
    """A raw SMTP client: bytes go out exactly as given."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.f = self.s.makefile("rb")
        self.reply()

    def reply(self):
        lines = []
        while True:
            line = self.f.readline()
            if not line:
                raise AssertionError("connection closed; got %r" % lines)
            lines.append(line)
            if line[3:4] != b"-":
                return b"".join(lines)

    def cmd(self, line):
        self.s.sendall(line + b"\r\n")
        return self.reply()

    def close(self):
        try:
            self.cmd(b"QUIT")
        except (OSError, AssertionError):
            pass
        self.s.close()


def ctl(sock_path, line):
    """One control-socket command: the answer's raw bytes (framing: ctl.h)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(sock_path)
        s.sendall(line.encode() + b"\n")
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                return out
            out += b


class HostileInputTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.cleanup = []

    def tearDown(self):
        for f in reversed(self.cleanup):
            try:
                f()
            except Exception:
                pass

    def relay(self, next_hop_port, connector="", extra=""):
        self.ndr = Sink()
        self.cleanup.append(self.ndr.stop)
        conn = '    smarthosts: ["127.0.0.1:%d"]\n%s' % (next_hop_port, connector)
        r = Sluiced(config=CONFIG.replace("{sink_connector}", conn.rstrip("\n"))
                    .replace("{expiry}", "1h").replace("{down_after}", "100")
                    .replace("{ndr_port}", str(self.ndr.port)),
                    extra=extra, sink_port=next_hop_port)
        r.start()
        self.cleanup.append(r.stop)
        return r

    def recorder(self, **kw):
        rec = Recorder(**kw)
        self.cleanup.append(rec.stop)
        return rec

    # ---- defect 6: a NUL in a certificate name --------------------------

    def nul_name_case(self, certname):
        c, k = cert(certname)
        sink = Sink(args=["--tls-cert", c, "--tls-key", k])
        self.cleanup.append(sink.stop)
        r = self.relay(sink.port, '    tls: verify\n    tls_ca: %s\n    tls_domain: victim.example\n'
                       % cert("ca")[0])
        s = Smtp(r.port)
        s.cmd(b"EHLO client.test")
        s.cmd(b"MAIL FROM:<alice@client.test>")
        self.assertTrue(s.cmd(b"RCPT TO:<bob@example.test>").startswith(b"250"))
        s.cmd(b"DATA")
        self.assertTrue(s.cmd(b"Subject: nul\r\n\r\nx\r\n.").startswith(b"250"))
        s.close()
        a = wait_for(lambda: [x for x in attempts(r.log()) if x["code"]], 20,
                     what="a refused certificate (the old code delivered)")[0]
        self.assertEqual((a["code"], a["mfi"]), ("4.7.320", "cert_invalid"), a)
        time.sleep(0.5)
        self.assertEqual(sink.messages(), 0)

    def test_nul_in_certificate_cn(self):
        """CN "victim.example\\0.attacker.example", no SAN: not victim.example."""
        self.nul_name_case("nulcn")

    def test_nul_in_certificate_san(self):
        self.nul_name_case("nulsan")

    # ---- defect 7: log injection ----------------------------------------

    # at most 63 characters between dots: Python IDNA-checks server_hostname
    FORGED = '{"event":"attempt","id":"F0","rcpts":["forged"]}'
    FORGED_TEXT = '2026-01-01T00:00:00.000Z info: attempt id=F1 rcpts=forged'

    def test_sni_cannot_forge_a_log_line(self):
        c, k = cert("valid")
        r = self.relay(free_port(), extra="tls: {cert: %s, key: %s}" % (c, k))
        s = Smtp(r.port)
        s.cmd(b"EHLO client.test")
        self.assertTrue(s.cmd(b"STARTTLS").startswith(b"220"))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        tls = ctx.wrap_socket(s.s, server_hostname="x\r\n" + self.FORGED + ".\r\n" +
                              self.FORGED_TEXT + "\r\ny \"z")
        tls.sendall(b"EHLO client.test\r\n")
        tls.recv(4096)
        tls.sendall(b"QUIT\r\n")
        tls.recv(4096)
        tls.close()
        wait_for(lambda: "sni=" in r.log(), 10, what="the TLS session line")
        lines = [l for l in r.log().splitlines() if "sni=" in l]
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("sni=x\\x0D\\x0A{\\\"event\\\":\\\"attempt\\\"", lines[0])
        self.assertIn("\\x20\\\"z", lines[0])
        self.assertNotIn("forged", [x for a in attempts(r.log()) for x in a["rcpts"]])
        self.assertNotIn("F1", [a["id"] for a in attempts(r.log())])
        for l in r.log().splitlines():
            self.assertFalse(l.startswith("{") and "forged" in l, l)
            self.assertFalse(" info: attempt " in l and "sni=" not in l, l)

    def test_quoted_local_part_cannot_fake_fields(self):
        rec = self.recorder()
        r = self.relay(rec.port)
        s = Smtp(r.port)
        s.cmd(b"EHLO client.test")
        self.assertTrue(s.cmd(b'MAIL FROM:<"x> nrcpt=99 size=0 client=6.6.6.6 y"@client.test>')
                        .startswith(b"250"))
        self.assertTrue(s.cmd(b"RCPT TO:<bob@example.test>").startswith(b"250"))
        s.cmd(b"DATA")
        self.assertTrue(s.cmd(b"Subject: q\r\n\r\nx\r\n.").startswith(b"250"))
        s.close()
        ev = wait_for(lambda: events(r.log(), "queued"), 10, what="the queued event")[0]
        self.assertEqual((ev["client"], ev["nrcpt"], ev["from"]),
                         ("127.0.0.1", 1, '"x> nrcpt=99 size=0 client=6.6.6.6 y"@client.test'),
                         ev)
        line = [l for l in r.log().splitlines() if " info: queued " in l][0]
        self.assertIn('from="\\"x> nrcpt=99 size=0 client=6.6.6.6 y\\"@client.test"', line)

    # ---- defect 9: UTF-8 -------------------------------------------------

    def test_addresses_must_be_utf8_and_need_smtputf8(self):
        rec = self.recorder()
        r = self.relay(rec.port)
        s = Smtp(r.port)
        s.cmd(b"EHLO client.test")
        self.assertTrue(s.cmd(b"MAIL FROM:<alice@client.test> SMTPUTF8").startswith(b"250"))
        for bad in (b"\xff", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"):
            rep = s.cmd(b"RCPT TO:<u" + bad + b"@example.test>")
            self.assertTrue(rep.startswith(b"501 5.1.3"), (bad, rep))
        rep = s.cmd(b'RCPT TO:<"\\\xc3\xa9"@example.test>')	# quoted-pair of 8-bit
        self.assertTrue(rep.startswith(b"501 5.1.3"), rep)
        self.assertTrue(s.cmd(b"RCPT TO:<r\xc3\xa9sum\xc3\xa9@example.test>").startswith(b"250"))
        s.cmd(b"RSET")
        rep = s.cmd(b"MAIL FROM:<\xc3@client.test> SMTPUTF8")
        self.assertTrue(rep.startswith(b"501 5.1.7"), rep)
        self.assertTrue(s.cmd(b"MAIL FROM:<alice@client.test>").startswith(b"250"))
        rep = s.cmd(b"RCPT TO:<r\xc3\xa9sum\xc3\xa9@example.test>")
        self.assertTrue(rep.startswith(b"553 5.6.7"), rep)
        s.close()

    def test_reply_not_utf8_keeps_json_outputs_whole(self):
        """A next hop's reply with bytes that are not UTF-8 used to drop the
        connector from show connectors json; every JSON answer stays whole
        and every table escapes the bytes."""
        rec = self.recorder(rcpt_reply=b"450 4.2.0 busy \xff\xfe try later")
        r = self.relay(rec.port)
        s = Smtp(r.port)
        s.cmd(b"EHLO client.test")
        s.cmd(b"MAIL FROM:<alice@client.test>")
        self.assertTrue(s.cmd(b"RCPT TO:<bob@example.test>").startswith(b"250"))
        s.cmd(b"DATA")
        self.assertTrue(s.cmd(b"Subject: u\r\n\r\nx\r\n.").startswith(b"250"))
        s.close()
        a = wait_for(lambda: attempts(r.log(), "deferred"), 20, what="the deferral line")[0]
        self.assertEqual(a["rcpts"], ["bob@example.test"])
        sock = os.path.join(r.dir, "sluice.sock")

        out = ctl(sock, "show queue json")
        body = out.decode("ascii")		# JSON answers are ASCII
        q = json.loads(body)
        self.assertEqual(q["count"], 1, body)
        self.assertEqual(len(q["messages"]), 1, body)
        m = q["messages"][0]
        self.assertEqual(m["recipients"], ["bob@example.test"])

        c = json.loads(ctl(sock, "show connectors json").decode("ascii"))
        names = [x["name"] for x in c["connectors"]]
        self.assertIn("sink", names, c)
        sink = [x for x in c["connectors"] if x["name"] == "sink"][0]
        self.assertIn("\\xFF\\xFE", sink["last_error"]["text"])

        json.loads(ctl(sock, "show insights json").decode("ascii"))
        # tables for people: the byte is escaped, never sent raw
        for cmd in ("show queue", "show connectors", "show insights"):
            self.assertNotIn(b"\xff", ctl(sock, cmd), cmd)
        self.assertIn(b"\\xFF\\xFE", ctl(sock, "show connectors"))

    # ---- defect 10: ORCPT and parameters -----------------------------------

    def test_bare_cr_in_orcpt_never_reaches_the_next_hop(self):
        rec = self.recorder()
        r = self.relay(rec.port)
        s = Smtp(r.port)
        s.cmd(b"EHLO client.test")
        s.cmd(b"MAIL FROM:<alice@client.test>")
        rep = s.cmd(b"RCPT TO:<u@example.test> ORCPT=rfc822\rQUIT;u@example.test")
        self.assertTrue(rep.startswith(b"501 5.5.4"), rep)
        rep = s.cmd(b"RCPT TO:<v@example.test> NOTIFY=FAILURE ORCPT=rfc822;v+40example.test\x01")
        self.assertTrue(rep.startswith(b"501 5.5.4"), rep)
        rep = s.cmd(b"DATA")
        if rep.startswith(b"354"):		# the old code accepted the RCPT
            s.cmd(b"Subject: inj\r\n\r\nx\r\n.")
        s.close()
        # a clean ORCPT goes through, so the next hop does get mail
        s = Smtp(r.port)
        s.cmd(b"EHLO client.test")
        s.cmd(b"MAIL FROM:<alice@client.test>")
        rep = s.cmd(b"RCPT TO:<w@example.test> NOTIFY=FAILURE ORCPT=rfc822;w+40example.test")
        self.assertTrue(rep.startswith(b"250"), rep)
        s.cmd(b"DATA")
        self.assertTrue(s.cmd(b"Subject: ok\r\n\r\nx\r\n.").startswith(b"250"))
        s.close()
        wait_for(lambda: rec.messages >= 1, 20, what="the clean message")
        time.sleep(1)
        with rec.lock:
            raw, n = rec.raw, rec.messages
        self.assertEqual(n, 1, raw)
        self.assertIsNone(re.search(rb"\r(?!\n)", raw), raw)
        self.assertNotIn(b"u@example.test", raw)
        self.assertIn(b"ORCPT=rfc822;w+40example.test\r\n", raw)


if __name__ == "__main__":
    unittest.main()
