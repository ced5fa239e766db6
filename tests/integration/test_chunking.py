"""Delivery with CHUNKING (RFC 3030 BDAT) when the next hop offers it, and
with DATA when it does not or the connector says chunking: false
(net/smtp_client_txn.c; sluice-sink offers CHUNKING as Postfix does,
--no-chunking takes it away, and its count file says how many messages
came in BDAT chunks).

- The same messages through a CHUNKING sink and a --no-chunking one (one
  queued message, a recipient at each) arrive byte for byte the same, and
  as they were sent: lines that start with dots, 8-bit bytes, one of
  300 KiB (5 chunks) and one of 5 MiB (80 chunks: more than the client
  leaves unanswered, so it reads replies between chunks).
- A fault on the last chunk ends as it does on the final dot: a 554 at
  the end of data bounces, a reset in it defers with 4.4.318.
- Every recipient refused: the BDAT replies are refusals too, the
  recipients keep their RCPT outcome, nothing hangs, and the next message
  goes over the same connection (RSET first).
- chunking: false uses DATA although CHUNKING is offered.
- The sink's own BDAT, in raw dialogues: chunk sizes to the byte over
  many reads, 503/554 that still take the chunk's bytes, a size it
  cannot read (501) or BDAT where not offered (502) closing the
  connection, DATA after BDAT refused.

A message that does not end in CRLF cannot come in over SMTP (the final
CRLF before the dot is the message's); smtp_bdat_chunk's unit tests cover
one (tests/unit/net/smtp_proto_test.c).
"""
import os
import re
import time
import unittest

from harness import Sink, TestCase, wait_for
from test_delivery import RelayCase, attempts
from test_hostile_client import Dialogue
from test_hostile_spool import Smtp

PLAIN = "  plain:\n    smarthosts: [\"127.0.0.1:%d\"]\n    retry: {initial: 1s, max: 2s, jitter: 0}\n"


def dotted(k, size):
    """Lines ".", ".abc", "..x" and plain ones, about size bytes."""
    head = b"Subject: chunking %d\r\nX-Test-Id: %d\r\n\r\n" % (k, k)
    return head + b".\r\n.abc\r\n..x\r\nplain\r\n" * (size // 21)


def eight_bit(k):
    """Every byte value but CR and LF, in lines of 200, twice."""
    head = b"Subject: 8-bit %d\r\nX-Test-Id: %d\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" % (k, k)
    raw = bytes(b for b in range(256) if b not in (10, 13)) * 2
    return head + b"".join(raw[i:i + 200] + b"\r\n" for i in range(0, len(raw), 200))


def by_id(sink):
    """{X-Test-Id: the message as delivered, from our Received: line on}."""
    out = {}
    for name in os.listdir(sink.out):
        if name.endswith(".eml") and not name.startswith("."):
            with open(os.path.join(sink.out, name), "rb") as f:
                m = f.read()
            i = re.search(rb"X-Test-Id: (\d+)", m)
            if i:
                out[int(i.group(1))] = m[m.index(b"Received:"):]
    return out


def send(port, rcpts, body, mail="MAIL FROM:<alice@client.test> BODY=8BITMIME"):
    c = Smtp(port)
    try:
        c.cmd(mail, 250)
        for r in rcpts:
            c.cmd("RCPT TO:<%s>" % r, 250)
        c.cmd("DATA", 354)
        c.s.sendall(Smtp.stuff(body) + b".\r\n")
        c.expect(250)
    finally:
        c.close()


class ChunkingTest(RelayCase):

    def sinks(self, args=(), keep=True):
        """A CHUNKING sink (the sink connector, example.test) and one
        without (the plain connector, other.test), both with args."""
        chunked = Sink(keep=keep, args=list(args))
        self.cleanup.append(chunked.stop)
        plain = Sink(keep=keep, args=list(args) + ["--no-chunking"])
        self.cleanup.append(plain.stop)
        return chunked, plain

    def relay2(self, chunked, plain, **kw):
        return self.relay(sink_port=chunked.port, connector_extra=PLAIN % plain.port,
                          domains_extra="  other.test: plain\n", **kw)

    def test_same_bytes_with_bdat_and_data(self):
        chunked, plain = self.sinks()
        r = self.relay2(chunked, plain)
        bodies = {1: dotted(1, 2000), 2: eight_bit(2), 3: dotted(3, 300 << 10),
                  4: dotted(4, 5 << 20),
                  5: b"Subject: short\r\nX-Test-Id: 5\r\n\r\n.\r\n"}
        for k, body in bodies.items():
            send(r.port, ["a%d@example.test" % k, "b%d@other.test" % k], body)
        wait_for(lambda: chunked.messages() == len(bodies) and plain.messages() == len(bodies),
                 60, what="every message at both sinks")
        got_c, got_p = by_id(chunked), by_id(plain)
        for k, body in bodies.items():
            self.assertTrue(got_c[k].endswith(body), "message %d changed through BDAT" % k)
            self.assertTrue(got_p[k].endswith(body), "message %d changed through DATA" % k)
            self.assertEqual(got_c[k], got_p[k], "message %d: BDAT and DATA differ" % k)
        self.assertEqual(int(chunked.counts()["bdat"]), len(bodies))
        self.assertEqual(int(plain.counts()["bdat"]), 0)
        for s in (chunked, plain):
            self.assertEqual(int(s.counts()["refused"]), 0, s.proc.log())
            self.assertIn("BODY=8BITMIME", open(os.path.join(
                s.out, sorted(n for n in os.listdir(s.out) if n.endswith(".eml"))[0]),
                "rb").read().decode(errors="replace"))
        self.assertEqual(len(attempts(r.log(), "delivered")), 2 * len(bodies))

    def test_chunking_false_sends_data(self):
        sink = Sink(keep=True)
        self.cleanup.append(sink.stop)
        r = self.relay(sink_port=sink.port,
                       sink_connector='    smarthosts: ["127.0.0.1:%d"]\n'
                                      '    chunking: false' % sink.port)
        body = dotted(1, 100 << 10)
        send(r.port, ["a@example.test"], body)
        wait_for(lambda: sink.messages() == 1, 20, what="the message at the sink")
        self.assertEqual(int(sink.counts()["bdat"]), 0)
        self.assertTrue(by_id(sink)[1].endswith(body))

    def test_a_server_that_refuses_bdat_gets_data_and_nothing_bounces(self):
        """CHUNKING offered, BDAT refused as a command (502): the mail is
        not at fault, so it waits (451) and goes again with DATA."""
        sink = Sink(keep=True, args=["--refuse-bdat"])
        self.cleanup.append(sink.stop)
        r = self.relay(sink_port=sink.port)
        body = dotted(1, 1000)
        send(r.port, ["a@example.test"], body)
        wait_for(lambda: sink.messages() == 1, 30, what="the message, sent again with DATA")
        self.assertEqual(int(sink.counts()["bdat"]), 0)
        self.assertTrue(by_id(sink)[1].endswith(body))
        self.assertEqual(attempts(r.log(), "bounced"), [])
        d = attempts(r.log(), "deferred")
        self.assertTrue(d and "BDAT refused by the next hop" in d[0]["detail"], d)
        self.assertIn("offers CHUNKING but refused BDAT", r.log())

    def test_reject_on_the_last_chunk_bounces_as_on_the_final_dot(self):
        chunked, plain = self.sinks(args=["--reject-data", "bad"], keep=False)
        r = self.relay2(chunked, plain)
        send(r.port, ["bad1@example.test"], dotted(1, 1000))
        send(r.port, ["bad2@other.test"], dotted(2, 200 << 10))
        send(r.port, ["bad3@example.test"], dotted(3, 200 << 10))
        got = wait_for(lambda: len(attempts(r.log(), "bounced")) == 3 and
                       attempts(r.log(), "bounced"), 20, what="three bounces")
        for a in got:		# the same words for BDAT LAST as for the final dot
            self.assertEqual(a["mfi"], "remote", a)
            self.assertIn("said: 554 5.6.0 rejected (in reply to end of data)", a["detail"])
        self.assertEqual((chunked.messages(), plain.messages()), (0, 0))
        # the connection is still good for the next message
        send(r.port, ["good@example.test", "good@other.test"], dotted(4, 1000))
        wait_for(lambda: chunked.messages() == 1 and plain.messages() == 1, 20,
                 what="the next message at both sinks")
        self.assertEqual(int(chunked.counts()["bdat"]), 1)

    def test_reset_in_the_last_chunk_defers_with_4_4_318(self):
        size = 200 << 10		# four chunks; the reset comes in the last one
        for args in ([], ["--no-chunking"]):
            sink = Sink(args=["--mode", "close-after=%d" % (size - 2000)] + args)
            self.cleanup.append(sink.stop)
            r = self.relay(sink_port=sink.port, expiry="1h")
            self.cleanup.append(r.stop)
            send(r.port, ["x@example.test"], dotted(1, size))
            a = self.expect_code(r, "4.4.318", "conn_dropped")
            self.assertIn("end of data", a["detail"])
            self.assertEqual(sink.messages(), 0)
            r.stop()
            sink.stop()

    def test_dropped_mid_chunk_is_4_4_318(self):
        sink = Sink(args=["--mode", "close-after=100"])
        self.cleanup.append(sink.stop)
        r = self.relay(sink_port=sink.port, expiry="1h")
        send(r.port, ["x@example.test"], dotted(1, 300 << 10))
        self.expect_code(r, "4.4.318", "conn_dropped")
        self.assertEqual(sink.messages(), 0)

    def test_every_recipient_refused(self):
        """The chunks get 554 (no valid recipients); a message of 80 chunks
        stops after the first refused one was read; the recipients keep
        their 550 5.1.1; the next message takes the same connection."""
        sink = Sink(keep=True, args=["--user-unknown", "nobody"])
        self.cleanup.append(sink.stop)
        r = self.relay(sink_port=sink.port, workers=1)
        t0 = time.time()
        send(r.port, ["nobody1@example.test", "nobody2@example.test"], dotted(1, 1000))
        send(r.port, ["nobody3@example.test"], dotted(2, 5 << 20))
        got = wait_for(lambda: len(attempts(r.log(), "bounced")) == 2 and
                       attempts(r.log(), "bounced"), 20, what="two bounces")
        self.assertLess(time.time() - t0, 15)
        for a in got:
            self.assertEqual(a["mfi"], "remote", a)
            self.assertIn("user unknown (in reply to RCPT TO)", a["detail"])
        self.assertEqual(sorted(sum((a["rcpts"] for a in got), [])),
                         ["nobody1@example.test", "nobody2@example.test",
                          "nobody3@example.test"])
        time.sleep(0.2)			# the count file is rewritten within 50 ms
        sessions = int(sink.counts()["sessions"])
        send(r.port, ["somebody@example.test"], dotted(3, 1000))
        wait_for(lambda: sink.messages() == 1, 20, what="the next message")
        self.assertEqual(int(sink.counts()["bdat"]), 1)
        self.assertEqual(int(sink.counts()["sessions"]), sessions,
                         "the connection of the refused chunks was not reused")
        self.assertEqual(int(sink.counts()["refused"]), 0, sink.proc.log())


class SinkBdatTest(TestCase):
    """sluice-sink's BDAT, the oracle of the tests above."""

    def dialogue(self, args=(), keep=False):
        self.sink = Sink(keep=keep, args=list(args))
        self.cleanup.append(self.sink.stop)
        d = Dialogue(self.sink.port)
        self.cleanup.append(d.close)
        self.ehlo = d.cmd("EHLO client.test")
        return d

    def test_chunks(self):
        d = self.dialogue(keep=True)
        self.assertIn("250-CHUNKING", self.ehlo)
        self.assertEqual(d.cmd(b"BDAT 5\r\nhello")[:3], "503")	# bytes taken all the same
        self.assertEqual(d.cmd("MAIL FROM:<a@client.test>")[:3], "250")
        self.assertEqual(d.cmd("RCPT TO:<b@example.test>")[:3], "250")
        self.assertEqual(d.cmd(b"BDAT 13\r\nSubject: x\r\n\r"), "250 2.0.0 Ok: 13 bytes")
        # one chunk over many reads, with what looks like commands and dots inside
        big = b"\n.\r\nQUIT\r\n" + b"0123456789" * 20000 + b"\r\n.\r\n"
        d.s.sendall(b"BDAT %d\r\n" % len(big))
        for i in range(0, len(big), 7000):
            d.s.sendall(big[i:i + 7000])
            time.sleep(0.002)
        self.assertEqual(d.reply(), "250 2.0.0 Ok: %d bytes" % len(big))
        self.assertEqual(d.cmd("DATA")[:3], "503")			# not after BDAT
        self.assertTrue(d.cmd(b"BDAT 0 LAST\r\n").startswith("250 2.0.0 Ok: queued as S"))
        # pipelined: MAIL, RCPT, BDAT LAST and its bytes, QUIT in one send
        d.s.sendall(b"MAIL FROM:<c@client.test>\r\nRCPT TO:<d@example.test>\r\n"
                    b"bdat 4 last\r\nok\r\nQUIT\r\n")
        self.assertEqual([d.reply()[:3] for _ in range(4)], ["250", "250", "250", "221"])
        wait_for(lambda: self.sink.messages() == 2, 5, what="two messages")
        self.assertEqual(int(self.sink.counts()["bdat"]), 2)
        got = sorted(open(os.path.join(self.sink.out, n), "rb").read()
                     for n in os.listdir(self.sink.out) if n.endswith(".eml"))
        bodies = sorted(m[m.index(b"X-Sink-To: ") :].split(b"\r\n", 1)[1] for m in got)
        self.assertEqual(bodies, sorted([b"Subject: x\r\n\r" + big, b"ok\r\n"]))

    def test_no_recipient(self):
        d = self.dialogue(args=["--user-unknown", "nobody"])
        self.assertEqual(d.cmd("MAIL FROM:<a@client.test>")[:3], "250")
        self.assertEqual(d.cmd("RCPT TO:<nobody@example.test>")[:3], "550")
        self.assertEqual(d.cmd(b"BDAT 3\r\nabc")[:9], "554 5.5.1")
        self.assertEqual(d.cmd(b"BDAT 3 LAST\r\nabc")[:9], "554 5.5.1")
        # BDAT LAST ended the transaction: MAIL is not nested
        self.assertEqual(d.cmd("MAIL FROM:<a@client.test>")[:3], "250")
        self.assertEqual(d.cmd("RSET")[:3], "250")
        self.assertEqual(self.sink.messages(), 0)

    def test_unreadable_size_closes(self):
        for line in (b"BDAT\r\n", b"BDAT x\r\n", b"BDAT 5 LASTX\r\n", b"BDAT 5  LAST\r\n",
                     b"BDAT -1\r\n", b"BDAT 99999999999999999999999\r\n"):
            d = self.dialogue()
            self.assertEqual(d.cmd(line)[:9], "501 5.5.4", line)
            self.assertEqual(d.reply(), "(closed)", line)

    def test_not_offered(self):
        d = self.dialogue(args=["--no-chunking"])
        self.assertNotIn("CHUNKING", self.ehlo)
        self.assertEqual(d.cmd("MAIL FROM:<a@client.test>")[:3], "250")
        self.assertEqual(d.cmd("RCPT TO:<b@example.test>")[:3], "250")
        self.assertEqual(d.cmd(b"BDAT 3 LAST\r\nabc")[:3], "502")
        self.assertEqual(d.reply(), "(closed)")
        self.assertIn('refused "BDAT 3 LAST"', self.sink.proc.log())


if __name__ == "__main__":
    unittest.main()
