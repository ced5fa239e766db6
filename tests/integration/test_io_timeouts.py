"""The network timeouts that the worker's tick keeps (no longer a timeout
linked to every send and recv): a client that does not read its replies
is closed after limits.send_timeout; a next hop that goes silent after
EHLO fails the attempt after the connector's command_timeout."""
import socket
import subprocess
import threading
import time

from harness import Sluiced, TestCase, free_port, wait_for
from test_delivery import RelayCase, attempts, send


class SilentHop:
    """A next hop that greets, answers EHLO, then never answers again."""

    def __init__(self, port):
        self.ls = socket.create_server(("127.0.0.1", port))
        self.conns = []
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            self.conns.append(c)
            c.sendall(b"220 silent.test ESMTP\r\n")
            c.settimeout(30)
            try:
                c.recv(4096)		# EHLO
                c.sendall(b"250 silent.test\r\n")
            except OSError:
                pass			# then silence: the relay's timer must act

    def stop(self):
        self.ls.close()
        for c in self.conns:
            c.close()


class CommandTimeoutTest(RelayCase):
    def test_silent_next_hop_times_out(self):
        port = free_port()
        hop = SilentHop(port)
        self.cleanup.append(hop.stop)
        r = self.relay(sink_port=port)	# command_timeout: 5s
        t0 = time.time()
        send(r.port)
        a = wait_for(lambda: attempts(r.log()), 20, what="an attempt")[0]
        took = time.time() - t0
        self.assertEqual(a["result"], "deferred")
        self.assertGreaterEqual(took, 4.5, a)	# not before command_timeout
        self.assertLess(took, 9, a)		# and soon after it
        self.assertIn("tim", a["detail"].lower(), a)


def send_q(port):
    """Bytes the relay's socket on port holds unsent (ss's Send-Q)."""
    out = subprocess.run(["ss", "-tnH", "sport = :%d" % port], capture_output=True,
                         text=True, check=True).stdout.split()
    return int(out[2]) if len(out) > 2 else 0


class SendTimeoutTest(TestCase):
    def test_client_that_does_not_read_is_closed(self):
        r = Sluiced(extra="limits: {send_timeout: 2s}").start()
        self.cleanup.append(r.stop)
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.connect(("127.0.0.1", r.port))
        self.cleanup.append(c.close)
        c.recv(512)		# the banner; then never read again
        c.settimeout(10)
        # batches of replies until the relay's socket buffer stops taking
        # them (its send then waits); the 1 MiB output limit stays far
        t0 = time.time()
        last = -1
        for _ in range(100):
            c.sendall(b"NOOP\r\n" * 5000)
            time.sleep(0.2)
            queued = send_q(r.port)
            if queued == last:
                break
            last = queued
        t0 = time.time()
        wait_for(lambda: "did not read replies" in r.log(), 15, what="the send timeout")
        took = time.time() - t0
        self.assertGreaterEqual(took, 0.5, r.log()[-2000:])
        self.assertLess(took, 6, r.log()[-2000:])
        self.assertNotIn("does not read its replies", r.log())
