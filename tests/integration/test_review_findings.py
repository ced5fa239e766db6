"""Findings of the hostile review of the issue 9 fixes (branch review).

Each test fails on b6ec04f and states what it expects; they are the
reviewer's, for the lead to take or discard.  Only loopback addresses are
used; every process is stopped by PID.
"""
import os
import subprocess
import threading
import time
import unittest

from harness import BUILD, Sink, Sluiced, free_port, wait_for
from test_hostile_spool import RETRY, Smtp, delivered, large_body, rss_kb

SLUICECTL = os.path.join(BUILD, "sluicectl")


def ctl(r, *args):
    p = subprocess.run([SLUICECTL, "--socket", os.path.join(r.dir, "sluice.sock")] + list(args),
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout


class ShowQueueText(unittest.TestCase):
    """`sluicectl show queue` (text) cuts the RECIPIENTS column at a byte
    count (core/ctl/ctl_queue.c, qstream_row: memcpy of "..." at cap - 4), in the
    middle of a UTF-8 sequence when the recipients are SMTPUTF8 addresses.
    The operator's terminal (and any script reading the table) gets invalid
    UTF-8."""

    def test_show_queue_text_is_valid_utf8(self):
        r = Sluiced(workers=1, connector_extra=RETRY)	# no sink: the message stays queued
        try:
            r.start()
            c = Smtp(r.port)
            c.cmd("MAIL FROM:<s@client.test> SMTPUTF8", 250)
            # 21 x U+20AC (3 bytes each) then a second recipient: the column's
            # 128-byte buffer ends inside a euro sign
            for rc in ["\u20ac" * 21 + "@example.test", "\u20ac" * 21 + "@example.test",
                       "b@example.test"]:
                c.s.sendall(("RCPT TO:<%s>\r\n" % rc).encode())
                c.expect(250)
            c.cmd("DATA", 354)
            c.s.sendall(b"Subject: utf8\r\n\r\nx\r\n.\r\n")
            c.expect(250)
            c.close()
            out = ctl(r, "show", "queue")
            try:
                out.decode("utf-8")
            except UnicodeDecodeError as e:
                self.fail("show queue printed invalid UTF-8 (%s): %r"
                          % (e, out[max(0, e.start - 20):e.end + 10]))
        finally:
            r.stop()


class DeliveryMemory(unittest.TestCase):
    """Intake of large messages is bounded (data_memory plus 128 KiB per
    spilling session), but delivery is not: each outbound connection reads
    the whole message into memory (queue_msg_data) and builds a second,
    dot-stuffed copy of it (smtp_stuff in conn_start_txn).  16 queued 8 MiB
    messages released at once to a slow next hop took a 2-worker sluiced from
    ~12 MiB to ~320 MiB in the review (30 messages; max_connections 20): the
    footprint is max_connections x message_size x up to 2, per destination,
    and any client allowed to send to an accepted domain can fill it."""

    N = 16
    SIZE = 8 << 20
    RSS_GROWTH_MAX = 96 << 10	# KiB: data_memory (32 MiB) and then some

    def test_delivery_of_large_messages_keeps_memory_bounded(self):
        sink_port = free_port()
        r = Sluiced(workers=2, sink_port=sink_port, connector_extra=RETRY)
        sink = None
        try:
            r.start()
            pid = r.proc.p.pid
            errors = []

            def send(k):
                try:
                    c = Smtp(r.port)
                    c.send(["big%d@example.test" % k], large_body(k, self.SIZE))
                    c.close()
                except Exception as e:		# noqa: BLE001 - reported below
                    errors.append(repr(e))
            ts = [threading.Thread(target=send, args=(k,)) for k in range(self.N)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            self.assertEqual(errors, [])
            time.sleep(3)			# let the worker give back the intake burst
            base = rss_kb(pid)
            sink = Sink(port=sink_port, keep=True, args=["--mode", "slow=200"])
            peak = base
            end = time.time() + 120
            while time.time() < end and len(delivered(sink)) < self.N:
                peak = max(peak, rss_kb(pid))
                time.sleep(0.05)
            self.assertEqual(len(delivered(sink)), self.N, "not every message delivered")
            growth = peak - base
            print("delivery RSS %d KiB before, peak %d KiB (+%d KiB) for %d x %d MiB"
                  % (base, peak, growth, self.N, self.SIZE >> 20))
            self.assertLess(growth, self.RSS_GROWTH_MAX,
                            "delivering %d x %d MiB grew RSS by %d KiB"
                            % (self.N, self.SIZE >> 20, growth))
        finally:
            r.stop()
            if sink:
                sink.stop()


if __name__ == "__main__":
    unittest.main()
