"""Delivery streams a message from the spool in 64 KiB chunks (issue 9,
defect 8 on the delivery side; net/smtp_client_txn.c, smtp_conn_body_send),
after DATA or as BDAT chunks (the sink offers CHUNKING unless
--no-chunking).

- Dot-stuffing across chunk boundaries: a 2 MiB message whose lines start
  with dots, in a 21-byte pattern, so that over its 32 chunks every cut
  falls at every place in a line (a dot that begins a chunk and a line, a
  CRLF split, a line of only "."), arrives byte for byte, in clear and
  through TLS, after DATA and in BDAT chunks.
- A body file damaged in the spool is found only when its last chunk is
  read, after the rest went out: the connection is closed without the
  final dot (or BDAT LAST), so the next hop keeps nothing, and the message
  stays queued.
- An NDR reads only what it returns: the head of a large message for its
  headers; with RET=FULL the whole message only up to ndr_return_max.
"""
import email
import os
import re
import time
import unittest

from harness import Certs, Sink, Sluiced, free_port, wait_for
from test_delivery import CONFIG, attempts
from test_hostile_spool import RETRY, Smtp, body_files, delivered

CERTS = Certs()
setUpModule = CERTS.make
tearDownModule = CERTS.remove




def dotted_body(k, size):
    """About size bytes: lines ".", ".abc", "..x", "plain" (21 bytes a
    round); 65536 mod 21 = 16, prime to 21, so successive 64 KiB cuts fall
    at every offset of the pattern."""
    head = b"Subject: dots %d\r\nX-Test-Id: %d\r\n\r\n" % (k, k)
    pattern = b".\r\n.abc\r\n..x\r\nplain\r\n"
    return head + pattern * (size // len(pattern))


class StreamIntegrityTest(unittest.TestCase):
    SIZE = 2 << 20

    def deliver(self, sink, connector_extra):
        r = Sluiced(workers=1, sink_port=sink.port, connector_extra=connector_extra)
        try:
            r.start()
            body = dotted_body(1, self.SIZE)
            c = Smtp(r.port)
            c.send(["dots@example.test"], body)
            c.close()
            got = wait_for(lambda: delivered(sink).get(1), 30, what="the message at the sink")
            # what arrives is our Received: line and then the message, exactly
            self.assertTrue(got.endswith(body), "the message changed on its way")
            self.assertNotIn(b"X-Test-Id", got[:len(got) - len(body)])	# nothing doubled
            wait_for(lambda: attempts(r.log(), "delivered"), 10, what="the attempt logged")
            self.assertEqual(len(attempts(r.log())), 1)
            return r.log()
        finally:
            r.stop()

    def in_clear(self, args):
        sink = Sink(keep=True, args=args)
        try:
            self.deliver(sink, RETRY)
            wait_for(lambda: sink.messages() == 1, 5, what="the count file")
            return int(sink.counts()["bdat"])
        finally:
            sink.stop()

    def through_tls(self, args):
        c, k = CERTS.pair("valid")
        sink = Sink(keep=True, args=["--tls-cert", c, "--tls-key", k] + args)
        try:
            self.deliver(sink, RETRY + "\n    tls: verify\n    tls_ca: %s\n"
                         "    tls_domain: localhost" % CERTS.path("ca.pem"))
            raw = [open(os.path.join(sink.out, n), "rb").read()
                   for n in os.listdir(sink.out) if n.endswith(".eml")]
            self.assertIn(b"X-Sink-TLS: TLSv1.3", raw[0])
            wait_for(lambda: sink.messages() == 1, 5, what="the count file")
            return int(sink.counts()["bdat"])
        finally:
            sink.stop()

    def test_dots_at_every_chunk_offset_in_clear(self):
        self.assertEqual(self.in_clear(["--no-chunking"]), 0)

    def test_dots_at_every_chunk_offset_through_tls(self):
        self.assertEqual(self.through_tls(["--no-chunking"]), 0)

    def test_bdat_chunks_in_clear(self):
        self.assertEqual(self.in_clear([]), 1)

    def test_bdat_chunks_through_tls(self):
        self.assertEqual(self.through_tls([]), 1)


class DamagedBodyTest(unittest.TestCase):
    def test_damaged_body_file_closes_without_the_final_dot(self):
        self.damaged(["--no-chunking"], "the final dot")

    def test_damaged_body_file_closes_without_bdat_last(self):
        self.damaged([], "BDAT LAST")

    def damaged(self, args, without):
        sink_port = free_port()		# nothing listens yet: the message waits
        r = Sluiced(workers=1, sink_port=sink_port, connector_extra=RETRY)
        sink = None
        try:
            r.start()
            body = dotted_body(7, 1 << 20)
            c = Smtp(r.port)
            qid = c.send(["damaged@example.test"], body)
            c.close()
            wait_for(lambda: attempts(r.log(), "deferred"), 20, what="a first deferral")
            files = body_files(r)
            self.assertEqual(files, [qid])
            path = os.path.join(r.dir, "spool", "w0", "body", qid)
            size = os.path.getsize(path)
            with open(path, "r+b") as f:	# one byte near the end: every chunk
                f.seek(size - 100)		# but the last has gone out when it shows
                b = f.read(1)
                f.seek(size - 100)
                f.write(b"X" if b != b"X" else b"Y")
            sink = Sink(port=sink_port, keep=True, args=args)
            a = wait_for(lambda: [x for x in attempts(r.log()) if "unreadable" in x["detail"]],
                         20, what="an attempt that found the damage")[0]
            self.assertEqual(a["result"], "deferred", a)
            self.assertIn("451 4.3.0", a["detail"])
            m = re.search(r"unreadable \(.*\) after (\d+) of (\d+) bytes went to .*"
                          r"without " + without, r.log())
            self.assertTrue(m, r.log()[-2000:])
            sent, total = int(m.group(1)), int(m.group(2))
            self.assertGreater(sent, total // 2, "the damage should show after data went out")
            self.assertLess(sent, total)
            time.sleep(0.5)
            self.assertEqual(sink.messages(), 0, "the next hop took a corrupt message")
            self.assertEqual(delivered(sink), {})
            self.assertTrue(r.proc.alive())
            self.assertEqual(body_files(r), [qid], "the message must stay queued")
        finally:
            r.stop()
            if sink:
                sink.stop()


class NdrHeadTest(unittest.TestCase):
    """What an NDR returns of a message, and that it reads no more."""

    def setUp(self):
        self.cleanup = []

    def tearDown(self):
        for f in reversed(self.cleanup):
            try:
                f()
            except Exception:
                pass

    def relay(self, extra=""):
        self.ndr = Sink(keep=True)
        self.cleanup.append(self.ndr.stop)
        sink = Sink(args=["--user-unknown", "nobody"])
        self.cleanup.append(sink.stop)
        r = Sluiced(workers=1, config=CONFIG.replace("{sink_connector}",
                                                     '    smarthosts: ["127.0.0.1:%d"]' % sink.port)
                    .replace("{expiry}", "30s").replace("{down_after}", "3")
                    .replace("{ndr_port}", str(self.ndr.port)), extra=extra)
        r.start()
        self.cleanup.append(r.stop)
        return r

    def bounce(self, r, body, ret):
        c = Smtp(r.port)
        c.cmd("MAIL FROM:<alice@client.test> RET=%s" % ret, 250)
        c.cmd("RCPT TO:<nobody@example.test>", 250)
        c.cmd("DATA", 354)
        c.s.sendall(Smtp.stuff(body) + b".\r\n")
        c.expect(250)
        c.close()
        return self.ndr_part()

    def ndr_part(self):
        def one():
            names = [n for n in os.listdir(self.ndr.out)
                     if n.endswith(".eml") and not n.startswith(".")]
            return names and os.path.join(self.ndr.out, names[0])
        path = wait_for(one, 30, what="the NDR")
        with open(path, "rb") as f:
            raw = f.read()
        m = email.message_from_bytes(raw)
        human = m.get_payload()[0].get_payload(decode=True).decode()
        return m.get_payload()[2], human, raw

    def big(self, marker):
        head = (b"Subject: a large one\r\nX-Head-Marker: HEAD-1\r\n\r\n")
        line = b"body line of a large message, returned only as headers\r\n"
        return head + line * ((4 << 20) // len(line)) + marker + b"\r\n"

    def test_ret_full_of_a_large_message_returns_its_headers(self):
        r = self.relay()
        part, human, raw = self.bounce(r, self.big(b"TAIL-MARKER"), "FULL")
        self.assertEqual(part.get_content_type(), "text/rfc822-headers")
        self.assertIn(b"HEAD-1", raw)
        self.assertNotIn(b"body line of a large", raw)
        self.assertNotIn(b"TAIL-MARKER", raw)
        self.assertIn("too large to return", human)
        self.assertLess(len(raw), 20000)

    def test_ret_hdrs_of_a_large_message(self):
        r = self.relay()
        part, human, raw = self.bounce(r, self.big(b"TAIL-MARKER"), "HDRS")
        self.assertEqual(part.get_content_type(), "text/rfc822-headers")
        self.assertIn(b"HEAD-1", raw)
        self.assertNotIn(b"TAIL-MARKER", raw)
        self.assertNotIn("too large", human)

    def test_ret_full_within_the_limit_returns_the_message(self):
        r = self.relay()
        body = b"Subject: small\r\n\r\n" + b"x" * 70 + b"\r\n" + b".dot line\r\nSMALL-TAIL\r\n"
        part, human, raw = self.bounce(r, body, "FULL")
        self.assertEqual(part.get_content_type(), "message/rfc822")
        self.assertIn(b"SMALL-TAIL", raw)
        self.assertIn(b"\r\n.dot line\r\n", raw)

    def test_ndr_return_max_is_a_config_key(self):
        r = self.relay(extra="ndr_return_max: 1K")
        body = b"Subject: over 1K\r\n\r\n" + (b"y" * 70 + b"\r\n") * 30 + b"OVER-TAIL\r\n"
        part, human, raw = self.bounce(r, body, "FULL")
        self.assertEqual(part.get_content_type(), "text/rfc822-headers")
        self.assertNotIn(b"OVER-TAIL", raw)
        self.assertIn("too large to return", human)


if __name__ == "__main__":
    unittest.main()
