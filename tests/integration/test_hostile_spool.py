"""Hostile input against the spool (issue 9): records forged in a message
body (defect 5), DATA memory under many slow large messages and a crash
in the middle of spilling them (defect 8), and spool segments that must be
freed once large messages are delivered (defect 11).

Only loopback addresses are used; every process is stopped by PID.
"""
import hashlib
import json
import os
import re
import signal
import socket
import struct
import subprocess
import threading
import time
import unittest

from harness import BENCH, BUILD, Sink, Sluiced, free_port, read_spool, wait_for

SLUICECTL = os.path.join(BUILD, "sluicectl")


def info(r):
    """sluicectl show info, as JSON."""
    p = subprocess.run([SLUICECTL, "--socket", os.path.join(r.dir, "sluice.sock"), "--json",
                        "show", "info"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)

# ---- raw SMTP --------------------------------------------------------------


class Smtp:
    """A minimal SMTP client over a socket: sends exactly the bytes given."""

    def __init__(self, port, timeout=30.0):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.f = self.s.makefile("rb")
        self.expect(220)
        self.cmd("EHLO client.test", 250)

    def reply(self):
        lines = []
        while True:
            line = self.f.readline()
            if not line:
                raise AssertionError("connection closed; got %r" % lines)
            lines.append(line.decode(errors="replace").rstrip("\r\n"))
            if line[3:4] != b"-":
                return int(line[:3]), "\n".join(lines)

    def expect(self, code):
        c, text = self.reply()
        if c != code:
            raise AssertionError("expected %d, got %s" % (code, text))
        return text

    def cmd(self, line, code):
        self.s.sendall(line.encode() + b"\r\n")
        return self.expect(code)

    def begin(self, rcpts, sender="attacker@client.test"):
        self.cmd("MAIL FROM:<%s>" % sender, 250)
        for r in rcpts:
            self.cmd("RCPT TO:<%s>" % r, 250)
        self.cmd("DATA", 354)

    @staticmethod
    def stuff(data):
        """Dot-stuff CRLF lines (data must end with CRLF)."""
        return re.sub(rb"(?m)^\.", b"..", data)

    def send(self, rcpts, data, sender="attacker@client.test"):
        """One message; returns its queue id."""
        self.begin(rcpts, sender)
        self.s.sendall(self.stuff(data) + b".\r\n")
        text = self.expect(250)
        return re.search(r"queued as ([0-9A-F]{16})", text).group(1)

    def close(self):
        try:
            self.s.sendall(b"QUIT\r\n")
        except OSError:
            pass
        self.f.close()
        self.s.close()


def send_one(port, rcpts, data):
    c = Smtp(port)
    try:
        return c.send(rcpts, data)
    finally:
        c.close()


# ---- what an attacker can compute without the key ---------------------------

def _crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 & -(c & 1))
        t.append(c)
    return t


CRC_TABLE = _crc32c_table()


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def envelope(qid, rcpts, sender="forger@client.test", arrival=1700000000):
    def s(x):
        b = x.encode()
        return struct.pack("<H", len(b)) + b
    out = struct.pack("<BBBBIqQ", 1, 0, 0, 0, len(rcpts), arrival, qid)
    out += s(sender) + struct.pack("<H", 0xFFFF) + s("client.test") + s("127.0.0.1")
    for r in rcpts:
        out += s(r) + struct.pack("<H", 0xFFFF) + bytes([0, 0])
    return out


def old_record(typ, qid, aux, payload):
    """A record in the format before sealing: SCL1, CRC32C over it all."""
    hdr = struct.pack("<IB3xIIQQ", 0x314C4353, typ, len(payload), 0, qid, aux)
    crc = crc32c(hdr + payload)
    return struct.pack("<IB3xIIQQ", 0x314C4353, typ, len(payload), crc, qid, aux) + payload


def new_shaped_record(typ, qid, aux, payload, guess):
    """SCL2-shaped, with tags the attacker had to guess."""
    return struct.pack("<IBBHIIQQQQ", 0x324C4353, typ, 0, 0, len(payload), 1, qid, aux,
                       guess, guess ^ 0x5555) + payload


def clean(b):
    """Can these bytes travel inside DATA unchanged (CR and LF only as CRLF)?"""
    return re.search(rb"\r(?!\n)|(?<!\r)\n", b) is None


def forged_records(victim_id):
    """Records a client embeds: a MSG of its choosing, a DONE for the victim."""
    data = b"Subject: forged\r\n\r\nFORGED-BODY\r\n"
    msg = done = None
    for k in range(1, 100000):
        env = envelope(0x5EED000000000000 + k, ["forged@example.test"], arrival=1700000000 + k)
        m = old_record(1, 0x5EED000000000000 + k, len(env), env + data)
        if clean(m):
            msg = m + new_shaped_record(1, 0x5EED000000000000 + k, len(env), env + data, k)
            break
    for aux in range(100000):
        d = old_record(3, int(victim_id, 16), aux, b"")
        if clean(d):
            done = d + new_shaped_record(3, int(victim_id, 16), aux, b"", aux)
            break
    assert msg and done and clean(msg) and clean(done)
    return msg + done


def sink_files(sink):
    out = []
    for name in sorted(os.listdir(sink.out)):
        if name.endswith(".eml"):
            with open(os.path.join(sink.out, name), "rb") as f:
                out.append(f.read())
    return out


def segments(spool):
    return sorted(os.path.join(spool, w, f) for w in os.listdir(spool)
                  if os.path.isdir(os.path.join(spool, w))
                  for f in os.listdir(os.path.join(spool, w)) if f.endswith(".seg"))


class ForgedRecordTest(unittest.TestCase):
    """Defect 5: recovery must never take bytes a client sent for a record."""

    def run_case(self, damage):
        sink_port = free_port()		# nothing listens yet: the mail stays queued
        r = Sluiced(workers=1, sink_port=sink_port)
        sink = None
        try:
            r.start()
            victim = None
            while victim is None:	# an id whose bytes can travel in DATA
                qid = send_one(r.port, ["victim@example.test"],
                               b"Subject: victim\r\n\r\nVICTIM-BODY\r\n")
                if clean(struct.pack("<Q", int(qid, 16))):
                    victim = qid
            recs = forged_records(victim)
            body = (b"Subject: carrier\r\n\r\nCARRIER-PREFIX\r\n" + recs + b"\r\n" +
                    b"".join(b"padding line %04d of the carrier message\r\n" % i
                             for i in range(200)))
            send_one(r.port, ["carrier@example.test"], body)
            r.kill9()
            # the crash: the carrier's record is damaged after its header
            seg = segments(os.path.join(r.dir, "spool"))[-1]
            with open(seg, "r+b") as f:
                data = f.read()
                at = data.index(recs)
                if damage == "flip":
                    p = data.index(b"CARRIER-PREFIX")
                    f.seek(p)
                    f.write(b"X")
                else:
                    f.truncate(at + len(recs) + 300)
            sink = Sink(port=sink_port, keep=True)
            r.start()
            wait_for(lambda: sink_files(sink), 20, what="a delivery after the restart")
            time.sleep(3)		# time for everything recovered to be delivered
            mails = sink_files(sink)
            self.assertFalse([m for m in mails if b"FORGED-BODY" in m or b"forged@" in m],
                             "a record forged in a message body was delivered")
            self.assertTrue([m for m in mails if b"VICTIM-BODY" in m],
                            "the victim was not delivered (a forged DONE dropped it)")
            log = r.log()
            self.assertRegex(log, r"damaged record|torn tail")
            self.assertNotIn("5EED", " ".join(read_spool(os.path.join(r.dir, "spool"))))
        finally:
            r.stop()
            if sink:
                sink.stop()

    def test_forged_records_after_a_damaged_record(self):
        self.run_case("flip")

    def test_forged_records_before_a_torn_tail(self):
        self.run_case("truncate")


class SegmentCollectTest(unittest.TestCase):
    """Defect 11: once large messages are delivered, their segments go."""

    def test_spool_shrinks_back_after_large_messages(self):
        sink = Sink()
        r = Sluiced(workers=2, sink_port=sink.port, extra="spool_segment_size: 1M")
        try:
            r.start()
            total = 0
            for _ in range(2):		# intake and delivery overlap: DONEs and new
                n = 200			# messages share flights, segments rotate
                p = subprocess.run([BENCH, "-H", "127.0.0.1:%d" % r.port, "-n", str(n),
                                    "-c", "16", "-m", "5", "-s", "200000", "-q",
                                    "--timeout", "60"], capture_output=True, text=True,
                                   timeout=300)
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
                total += n
            wait_for(lambda: sink.messages() >= total, 120, what="every message delivered")
            wait_for(lambda: info(r)["queued"] == 0, 30, what="an empty queue")
            spool = os.path.join(r.dir, "spool")
            rotated = max(int(os.path.basename(f)[:8], 16) for f in segments(spool))
            self.assertGreater(rotated, 10, "the test did not rotate segments")
            # the working set: each worker's current segment, nothing else
            try:
                wait_for(lambda: len(segments(spool)) <= r.workers, 10,
                         what="the spool back to one segment per worker")
            finally:
                i = info(r)
                print("after %d messages: %d segment files, show info: %d segments, "
                      "%d bytes, oldest %ss" % (total, len(segments(spool)),
                                                i.get("spool_segments", -1),
                                                i["spool_bytes"],
                                                i.get("spool_oldest_segment_age", -1)))
            i = info(r)
            self.assertEqual(i["spool_segments"], r.workers)
            self.assertEqual(i["spool_oldest_segment_age"], 0)
            self.assertLessEqual(i["spool_bytes"], r.workers * (2 << 20))
            self.assertNotIn("spool accounting", r.log())
        finally:
            r.stop()
            sink.stop()


if __name__ == "__main__":
    unittest.main()
