"""Delivery streams a message from the spool in 64 KiB chunks (issue 9,
defect 8 on the delivery side; net/smtp_client.c body_send).

- Dot-stuffing across chunk boundaries: a 2 MiB message whose lines start
  with dots, in a 21-byte pattern, so that over its 32 chunks every cut
  falls at every place in a line (a dot that begins a chunk and a line, a
  CRLF split, a line of only "."), arrives byte for byte, in clear and
  through TLS.
- A body file damaged in the spool is found only when its last chunk is
  read, after the rest went out: the connection is closed without the
  final dot, so the next hop keeps nothing, and the message stays queued.
"""
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import ROOT, Sink, Sluiced, free_port, wait_for
from test_delivery import CONFIG, attempts
from test_hostile_spool import RETRY, Smtp, body_files, delivered

CERTS = None


def setUpModule():
    global CERTS
    CERTS = tempfile.mkdtemp(prefix="sluice-certs-")
    subprocess.run(["sh", os.path.join(ROOT, "tests/tls/make-certs.sh"), CERTS], check=True,
                   capture_output=True, timeout=60)


def tearDownModule():
    shutil.rmtree(CERTS, ignore_errors=True)


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

    def test_dots_at_every_chunk_offset_in_clear(self):
        sink = Sink(keep=True)
        try:
            self.deliver(sink, RETRY)
        finally:
            sink.stop()

    def test_dots_at_every_chunk_offset_through_tls(self):
        c, k = (os.path.join(CERTS, "valid" + x) for x in (".pem", ".key"))
        sink = Sink(keep=True, args=["--tls-cert", c, "--tls-key", k])
        try:
            self.deliver(sink, RETRY + "\n    tls: verify\n    tls_ca: %s\n"
                         "    tls_domain: localhost" % os.path.join(CERTS, "ca.pem"))
            raw = [open(os.path.join(sink.out, n), "rb").read()
                   for n in os.listdir(sink.out) if n.endswith(".eml")]
            self.assertIn(b"X-Sink-TLS: TLSv1.3", raw[0])
        finally:
            sink.stop()


class DamagedBodyTest(unittest.TestCase):
    def test_damaged_body_file_closes_without_the_final_dot(self):
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
            sink = Sink(port=sink_port, keep=True)
            a = wait_for(lambda: [x for x in attempts(r.log()) if "unreadable" in x["detail"]],
                         20, what="an attempt that found the damage")[0]
            self.assertEqual(a["result"], "deferred", a)
            self.assertIn("451 4.3.0", a["detail"])
            m = re.search(r"unreadable \(.*\) after (\d+) of (\d+) bytes went to .*"
                          r"without the final dot", r.log())
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


if __name__ == "__main__":
    unittest.main()
