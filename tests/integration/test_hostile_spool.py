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


# ---- DATA memory (defect 8) --------------------------------------------------

def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def large_body(k, size):
    """About size bytes of CRLF lines, different for every k."""
    block = [hashlib.sha256(b"%d-%d" % (k, i)).hexdigest().encode() for i in range(64)]
    lines = [b"Subject: large message %d\r\nX-Test-Id: %d\r\n\r\n" % (k, k)]
    n = 0
    while n < size:
        line = b"%07d %s\r\n" % (len(lines), block[len(lines) % 64])
        lines.append(line)
        n += len(line)
    return b"".join(lines)


def slow_send(port, k, body, results, chunk=64 << 10, pause=0.02, stop=None):
    """Send one message slowly; results[k] = its queue id once acknowledged."""
    try:
        c = Smtp(port, timeout=120)
        c.begin(["large%d@example.test" % k])
        data = Smtp.stuff(body) + b".\r\n"
        for off in range(0, len(data), chunk):
            if stop is not None and stop.is_set():
                return
            c.s.sendall(data[off:off + chunk])
            time.sleep(pause)
        text = c.expect(250)
        results[k] = re.search(r"queued as ([0-9A-F]{16})", text).group(1)
        c.close()
    except (OSError, AssertionError) as e:
        results.setdefault("errors", []).append("%d: %s" % (k, e))


def delivered(sink):
    """{X-Test-Id: message as delivered (from our Received: line on)}."""
    out = {}
    for m in sink_files(sink):
        i = re.search(rb"X-Test-Id: (\d+)", m)
        if i:
            out[int(i.group(1))] = m[m.index(b"Received:"):]
    return out


def body_files(r):
    spool = os.path.join(r.dir, "spool")
    return sorted(f for w in os.listdir(spool) if os.path.isdir(os.path.join(spool, w, "body"))
                  for f in os.listdir(os.path.join(spool, w, "body")))


RETRY = "    retry: {initial: 1s, max: 1s, jitter: 0}"


class DataMemoryTest(unittest.TestCase):
    """Defect 8: DATA memory bounded by design, not message size x sessions."""

    SESSIONS = 24
    SIZE = 6 << 20
    RSS_GROWTH_MAX = 64 << 10		# KiB: the stated bound for the test below

    def test_slow_large_messages_keep_memory_bounded(self):
        """24 sessions each send 6 MiB slowly (144 MiB in flight at once): the
        daemon's RSS grows by less than 64 MiB, and every message arrives
        intact at the sink afterwards."""
        sink_port = free_port()		# the sink starts after intake: intake alone
        r = Sluiced(workers=2, sink_port=sink_port, connector_extra=RETRY)
        sink = None
        try:
            r.start()
            pid = r.proc.p.pid
            base = rss_kb(pid)
            bodies = {k: large_body(k, self.SIZE) for k in range(self.SESSIONS)}
            results, peak = {}, [base]
            threads = [threading.Thread(target=slow_send, args=(r.port, k, bodies[k], results))
                       for k in range(self.SESSIONS)]
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                peak.append(rss_kb(pid))
                time.sleep(0.05)
            for t in threads:
                t.join()
            self.assertNotIn("errors", results)
            self.assertEqual(len(results), self.SESSIONS)
            growth = max(peak) - base
            print("RSS %d KiB before, peak %d KiB (+%d KiB) for %d sessions x %d MiB"
                  % (base, max(peak), growth, self.SESSIONS, self.SIZE >> 20))
            self.assertLess(growth, self.RSS_GROWTH_MAX,
                            "DATA memory grew %d KiB for %d sessions" % (growth, self.SESSIONS))
            sink = Sink(port=sink_port, keep=True)
            wait_for(lambda: len(delivered(sink)) >= self.SESSIONS, 120,
                     what="every large message delivered")
            got = delivered(sink)
            for k, body in bodies.items():
                self.assertTrue(got[k].endswith(body), "message %d damaged: sha256 %s, sent %s"
                                % (k, hashlib.sha256(got[k]).hexdigest()[:16],
                                   hashlib.sha256(body).hexdigest()[:16]))
            wait_for(lambda: not body_files(r), 10, what="body files removed once delivered")
        finally:
            r.stop()
            if sink:
                sink.stop()

    def test_crash_mid_spill_loses_nothing_acknowledged(self):
        """kill -9 while sessions spill: every acknowledged message is
        delivered intact after the restart; the half-written body files are
        removed by recovery."""
        sink_port = free_port()
        r = Sluiced(workers=2, sink_port=sink_port, connector_extra=RETRY)
        sink = None
        stop = threading.Event()
        try:
            r.start()
            bodies = {k: large_body(k, 3 << 20) for k in range(10)}
            acked = {}
            for k in range(4):		# acknowledged, spilled, queued
                slow_send(r.port, k, bodies[k], acked, pause=0)
            self.assertEqual(len(acked), 4)
            late = {}
            threads = [threading.Thread(target=slow_send,
                                        args=(r.port, k, bodies[k], late),
                                        kwargs={"pause": 0.05, "stop": stop})
                       for k in range(4, 10)]
            for t in threads:
                t.start()
            wait_for(lambda: len(body_files(r)) >= 10, 30, what="six spills under way")
            time.sleep(0.5)
            r.kill9()
            stop.set()
            for t in threads:
                t.join()
            acked.update({k: v for k, v in late.items() if k != "errors"})
            on_disk = body_files(r)
            self.assertGreater(len(on_disk), len(acked), "no half-written body file")
            r.start()
            self.assertEqual(r.recovered(), len(acked))
            self.assertEqual(body_files(r), sorted(acked.values()),
                             "orphan body files after recovery")
            self.assertRegex(r.log(), r"[1-9]\d* orphan body files removed")
            sink = Sink(port=sink_port, keep=True)
            wait_for(lambda: len(delivered(sink)) >= len(acked), 60,
                     what="every acknowledged message delivered")
            got = delivered(sink)
            for k in acked:
                self.assertTrue(got[k].endswith(bodies[k]), "message %d damaged" % k)
            wait_for(lambda: not body_files(r), 10, what="body files removed once delivered")
        finally:
            stop.set()
            if r.proc and r.proc.alive():
                r.stop()
            if sink:
                sink.stop()

    def test_pipelining_behind_a_large_message(self):
        """A client that pipelines a large message and then thousands of
        commands without reading is slowed down by TCP (the session stops
        reading while its message syncs), not dropped, and gets every reply."""
        sink = Sink()
        r = Sluiced(workers=1, sink_port=sink.port)
        try:
            r.start()
            c = Smtp(r.port, timeout=60)
            body = large_body(1, 2 << 20)
            nnoop = 200000
            data = (b"MAIL FROM:<p@client.test>\r\nRCPT TO:<p@example.test>\r\nDATA\r\n" +
                    Smtp.stuff(body) + b".\r\n" + b"NOOP\r\n" * nnoop + b"QUIT\r\n")
            replies = []

            def reader():
                for line in c.f:
                    replies.append(line[:3])
            t = threading.Thread(target=reader)
            t.start()
            c.s.sendall(data)
            t.join(60)
            self.assertEqual(replies.count(b"354"), 1)
            self.assertEqual(replies.count(b"221"), 1, "the session was dropped: %s"
                             % [x for x in r.log().splitlines() if "closed" in x][-3:])
            self.assertEqual(replies.count(b"250"), 2 + 1 + nnoop)
            c.close()
        finally:
            r.stop()
            sink.stop()

    def test_spilled_message_refused_or_disk_full(self):
        """A spilled message refused at its end (bare LF, too big) or whose
        body file hits a full disk is answered 550/552/452, leaves no body
        file, and the session goes on."""
        sink = Sink()
        r = Sluiced(workers=1, sink_port=sink.port, extra="limits: {message_size: 1M}")
        spool = os.path.join(r.dir, "spool")
        try:
            r.start()
            c = Smtp(r.port)
            big = large_body(1, 600 << 10)
            c.begin(["a@example.test"])
            c.s.sendall(big + b"bare\nLF\r\n.\r\n")
            self.assertIn("550 5.6.0", c.reply()[1])
            c.begin(["a@example.test"])
            c.s.sendall(Smtp.stuff(large_body(2, 2 << 20)) + b".\r\n")
            self.assertIn("552 5.3.4", c.reply()[1])
            self.assertEqual(body_files(r), [])
            c.send(["a@example.test"], big)		# and the session goes on
            c.close()
            wait_for(lambda: sink.messages() >= 1, 20, what="the good message delivered")
        finally:
            r.stop()
        # the disk fills while a message spills
        r = Sluiced(workers=1, sink_port=sink.port, dir=None)
        spool = os.path.join(r.dir, "spool")
        os.mkdir(spool)
        m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", spool],
                           capture_output=True, text=True)
        if m.returncode != 0:
            sink.stop()
            raise unittest.SkipTest("cannot mount a tmpfs here: " + m.stderr.strip())
        try:
            r.start()
            c = Smtp(r.port)
            c.begin(["a@example.test"])
            c.s.sendall(Smtp.stuff(large_body(3, 3 << 20)) + b".\r\n")
            self.assertIn("452 4.3.1", c.reply()[1])
            self.assertEqual(body_files(r), [])
            c.send(["a@example.test"], b"Subject: small\r\n\r\nfits\r\n")
            c.close()
        finally:
            r.stop()
            subprocess.run(["umount", spool])
            sink.stop()


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
