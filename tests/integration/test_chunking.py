"""sluice-sink's CHUNKING (RFC 3030 BDAT), offered as Postfix offers it
unless --no-chunking, in raw dialogues: chunk sizes to the byte over many
reads, 503/554 that still take the chunk's bytes, a size it cannot read
(501) or BDAT where not offered (502) closing the connection, DATA after
BDAT refused; and its count file says how many messages came in chunks.
"""
import os
import time
import unittest

from harness import Sink, TestCase, wait_for
from test_hostile_client import Dialogue


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
