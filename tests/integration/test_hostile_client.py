"""The relay's client side against strict next hops (issue 9).

Defect 1: with no MAIL parameter to send (a next hop that advertises bare
SIZE, SIZE 0, no SIZE, or only HELO; a 7-bit message, no DSN) the MAIL
parameter buffer was never terminated and stack bytes followed the path.
sluice-sink always advertised "SIZE N", so no test ever built an empty
list, and it took any bytes after the path anyway.  The sink now offers
each of those greetings (--size, --helo-only) and is strict the way real
servers are (bench/sink_check.h); each test below delivers through sluiced
and checks the message arrived intact with the exact MAIL line expected.

A hostile next hop answering a pipelined RCPT with a ~200 KB multi-line
550 (bare CR and NUL inside lines over 4 KiB) was logged as a malformed
reply "during MAIL FROM", though MAIL had a clean 250: the reply parser's
failure named a fixed stage instead of the reply it was parsing.

Defect 13: a connector removed by a reload while the next hop holds back
its 220 to STARTTLS was looked up again when the 220 came, found missing,
and dereferenced (the daemon died).  A connection now holds the config it
started under (net/smtp_client.c).
"""
import json
import os
import signal
import smtplib
import socket
import threading
import time
import unittest

from harness import Certs, Sink, Sluiced, wait_for
from test_delivery import CONFIG, attempts

CERTS = Certs()
setUpModule = CERTS.make
tearDownModule = CERTS.remove

BODY = ("Subject: strict next hop\r\n"
        "Message-ID: <strict@client.test>\r\n"
        "\r\n"
        "first line\r\n"
        ".a line that starts with a dot\r\n"
        "..and one with two\r\n"
        "last line\r\n")


def cert(name):
    return CERTS.pair(name)


def sink_files(sink):
    """The messages a keep=True sink stored, oldest first, as bytes."""
    out = []
    for name in sorted((n for n in os.listdir(sink.out) if n.endswith(".eml")
                        and not n.startswith(".")), key=lambda n: int(n.split(".")[0])):
        with open(os.path.join(sink.out, name), "rb") as f:
            out.append(f.read())
    return out


def sink_header(raw, name):
    """Every value of the sink's own header `name` (X-Sink-...) in raw."""
    pre = name.encode() + b": "
    return [line[len(pre):].decode("utf-8") for line in raw.split(b"\r\n")
            if line.startswith(pre)]


class Dialogue:
    """A raw SMTP conversation with a server, one reply per call."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.f = self.s.makefile("rb")
        self.banner = self.reply()

    def reply(self):
        lines = []
        while True:
            line = self.f.readline()
            if not line:
                lines.append(b"(closed)")
                break
            lines.append(line.rstrip(b"\r\n"))
            if len(line) < 4 or line[3:4] != b"-":
                break
        return b"\n".join(lines).decode("utf-8", "replace")

    def cmd(self, line):
        self.s.sendall(line if isinstance(line, bytes) else line.encode() + b"\r\n")
        return self.reply()

    def close(self):
        self.s.close()


class StrictSinkTest(unittest.TestCase):
    """The oracle first: what the sink refuses, a strict server refuses."""

    def setUp(self):
        self.cleanup = []

    def tearDown(self):
        for f in reversed(self.cleanup):
            try:
                f()
            except Exception:
                pass

    def dialogue(self, sink, ehlo="EHLO client.test"):
        d = Dialogue(sink.port)
        self.cleanup.append(d.close)
        self.assertTrue(d.cmd(ehlo).startswith("250"))
        return d

    def test_refuses_what_strict_servers_refuse(self):
        sink = Sink()
        self.cleanup.append(sink.stop)
        d = self.dialogue(sink)
        cases = [
            # residue after the path: the defect-1 symptom
            (b"MAIL FROM:<a@client.test>\x90\x1f\x7f\r\n", "500 5.5.2"),
            (b"MAIL FROM:<a@client.test>\x00\r\n", "500 5.5.2"),
            (b"MAIL FROM:<a@client.test>\xe8\x9a\x55\x55\r\n", "501 5.1.7"),
            (b"MAIL FROM:<a@client.test> \xe8\x9a\x55\x55\r\n", "501 5.5.4"),
            ("MAIL FROM:<a@client.test> ", "501 5.5.4"),
            ("MAIL FROM:<a@client.test>  SIZE=10", "501 5.5.4"),
            ("MAIL FROM: <a@client.test>", "501 5.5.4"),
            ("MAIL FROM:<a@@client.test>", "501 5.1.7"),
            ("MAIL FROM:<a@client.test> X-JUNK=1", "555 5.5.4"),
            ("MAIL FROM:<a@client.test> RET=FULL", "555 5.5.4"),	# no DSN advertised
            ("MAIL FROM:<a@client.test> SIZE=12k", "501 5.5.4"),
            ("MAIL FROM:<a@client.test> SIZE=1 SIZE=1", "501 5.5.4"),
            ("MAIL FROM:<a@client.test> BODY=9BIT", "501 5.5.4"),
            ("MAIL FROM:<a@client.test> SMTPUTF8=yes", "501 5.5.4"),
            ("MAIL FROM:<d\u00e9j\u00e0@client.test>", "553 5.6.7"),	# no SMTPUTF8
            (b"MAIL FROM:<a@client.test>\n", "500 5.5.2"),		# bare LF
            ("MAIL FROM:<a@client.test> SIZE=1 BODY=8BITMIME", "250 2.1.0"),
            (b"RCPT TO:<b@example.test>\rQUIT\r\n", "500 5.5.2"),
            ("RCPT TO:<>", "501 5.1.3"),
            ("RCPT TO:<b@example.test> NOTIFY=NEVER", "555 5.5.4"),
            ("RCPT TO:<b@example.test>", "250 2.1.5"),
        ]
        for line, want in cases:
            got = d.cmd(line)
            self.assertTrue(got.startswith(want), (line, want, got))
        wait_for(lambda: int(sink.counts().get("refused", -1)) == len(cases) - 2, 5,
                 what="%d refusals counted" % (len(cases) - 2))
        # each refusal is written, escaped, where a test can show it
        self.assertIn(r'refused "MAIL FROM:<a@client.test>\x90\x1f\x7f"', sink.proc.log())

    def test_smtputf8_and_dsn_when_advertised(self):
        sink = Sink(args=["--dsn", "--size", "1000"])
        self.cleanup.append(sink.stop)
        d = self.dialogue(sink)
        self.assertEqual(d.cmd("MAIL FROM:<a@client.test> SIZE=1001")[:9], "552 5.3.4")
        for line, want in [
            ("MAIL FROM:<d\u00e9j\u00e0@client.test> SMTPUTF8 RET=HDRS ENVID=a+2Bb", "250"),
            ("RCPT TO:<\u00fc@example.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;x@example.test",
             "250"),
            ("RCPT TO:<b@example.test> NOTIFY=NEVER,DELAY", "501 5.5.4"),
            ("RCPT TO:<b@example.test> ORCPT=rfc822", "501 5.5.4"),
            (b"RCPT TO:<\xc3\x28@example.test>\r\n", "501 5.1.3"),		# bad UTF-8
        ]:
            got = d.cmd(line)
            self.assertTrue(got.startswith(want), (line, want, got))

    def test_greetings(self):
        """--size number/bare/0/none and --helo-only change the greeting."""
        for args, want in [([], "SIZE 104857600"), (["--size", "bare"], "SIZE"),
                           (["--size", "0"], "SIZE 0"), (["--size", "none"], None)]:
            sink = Sink(args=args)
            self.cleanup.append(sink.stop)
            lines = [x[4:] for x in self.dialogue(sink).cmd("EHLO c.test").splitlines()]
            self.assertEqual([x for x in lines if x.startswith("SIZE")], [want] if want else [])
        sink = Sink(args=["--helo-only"])
        self.cleanup.append(sink.stop)
        d = Dialogue(sink.port)
        self.cleanup.append(d.close)
        self.assertEqual(d.cmd("EHLO c.test")[:3], "502")
        self.assertEqual(d.cmd("HELO c.test")[:3], "250")
        # no extensions after HELO, and no pipelining either
        self.assertEqual(d.cmd("MAIL FROM:<a@client.test> SIZE=10")[:9], "555 5.5.4")
        got = d.cmd(b"MAIL FROM:<a@client.test>\r\nRCPT TO:<b@example.test>\r\n")
        self.assertEqual(got[:9], "554 5.5.0")


class NextHopTest(unittest.TestCase):
    """Delivery through sluiced to a strict sink with each greeting."""
    maxDiff = None

    def setUp(self):
        self.cleanup = []

    def tearDown(self):
        for f in reversed(self.cleanup):
            try:
                f()
            except Exception:
                pass

    def relay(self, sink_args, msgs):
        """Relay msgs (Msg) to a sink started with sink_args, each in its own
        SMTP session and transaction; returns the stored messages by
        recipient."""
        sink = Sink(keep=True, args=sink_args)
        self.cleanup.append(sink.stop)
        ndr = Sink(keep=True)
        self.cleanup.append(ndr.stop)
        conn = '    smarthosts: ["127.0.0.1:%d"]' % sink.port
        r = Sluiced(workers=1, config=CONFIG.replace("{sink_connector}", conn)
                    .replace("{expiry}", "30s").replace("{down_after}", "3")
                    .replace("{ndr_port}", str(ndr.port)), sink_port=sink.port)
        r.start()
        self.cleanup.append(r.stop)
        for m in msgs:
            with smtplib.SMTP("127.0.0.1", r.port, timeout=10) as s:
                s.ehlo("client.test")
                self.assertEqual(s.mail(m.sender, list(m.mail_opts))[0], 250)
                self.assertEqual(s.rcpt(m.rcpt, list(m.rcpt_opts))[0], 250)
                code, msg = s.data(m.body.encode("utf-8"))
                self.assertEqual(code, 250, msg)

        def outcomes():
            return [a for a in attempts(r.log()) if a["connector"] == "sink"]
        wait_for(lambda: len(outcomes()) >= len(msgs), 30, what="%d outcomes" % len(msgs))
        self.assertEqual([a for a in outcomes() if a["result"] != "delivered"], [],
                         "the sink refused what sluiced sent:\n" + sink.proc.log())
        wait_for(lambda: sink.messages() == len(msgs), 5, what="the sink's count")
        self.assertEqual(int(sink.counts()["refused"]), 0, sink.proc.log())
        stored = {}
        for raw in sink_files(sink):
            stored[sink_header(raw, "X-Sink-To")[0]] = raw
        return stored

    def check(self, sink_args, msgs):
        stored = self.relay(sink_args, msgs)
        self.assertEqual(sorted(stored), sorted(m.rcpt for m in msgs))
        for m in msgs:
            raw = stored[m.rcpt]
            # the payload is sluiced's Received line, then the message as sent
            payload = b"Received: " + raw.split(b"\r\nReceived: ", 1)[1]
            self.assertTrue(payload.endswith(m.body.encode("utf-8")), payload)
            self.assertEqual(payload.count(b"Received: "), 1)
            mail = m.mail.replace("{size}", str(len(payload)))
            self.assertEqual(sink_header(raw, "X-Sink-Mail"), [mail])
            self.assertEqual(sink_header(raw, "X-Sink-Rcpt"), [m.rcpt_line])

    def test_size_with_a_number(self):
        """The control: "SIZE N" makes every MAIL carry SIZE=, so this one
        passes on the old code too; it pins the exact declaration."""
        self.check([], [Msg("r%d@example.test" % i, "MAIL FROM:<alice@client.test> SIZE={size}")
                        for i in range(2)])

    def test_bare_size(self):
        self.check(["--size", "bare"], [Msg("r%d@example.test" % i) for i in range(3)])

    def test_size_zero(self):
        """Postfix with message_size_limit = 0 says "SIZE 0"."""
        self.check(["--size", "0"], [Msg("r%d@example.test" % i) for i in range(3)])

    def test_no_size(self):
        self.check(["--size", "none"], [Msg("r%d@example.test" % i) for i in range(3)])

    def test_helo_only(self):
        """EHLO answered 502: HELO, no extensions, one command at a time."""
        self.check(["--helo-only"], [Msg("r%d@example.test" % i) for i in range(3)])

    def test_null_sender_no_size(self):
        self.check(["--size", "none"], [Msg("r%d@example.test" % i, "MAIL FROM:<>", sender="")
                                        for i in range(2)])

    def test_8bit_and_plain_messages(self):
        """Parameters only where they apply: an 8-bit SMTPUTF8 message and
        7-bit ones to the same next hop without SIZE."""
        body = BODY.replace("first line", "premi\u00e8re ligne")
        self.check(["--size", "none"], [
            Msg("plain1@example.test"),
            Msg("b\u00f6b@example.test",
                "MAIL FROM:<alice@client.test> BODY=8BITMIME SMTPUTF8", body=body,
                mail_opts=("BODY=8BITMIME", "SMTPUTF8")),
            Msg("plain2@example.test")])

    def test_dsn_and_plain_messages(self):
        """A next hop with DSN but no SIZE: RET/ENVID/NOTIFY/ORCPT where the
        client gave them, nothing where it did not."""
        self.check(["--size", "none", "--dsn"], [
            Msg("plain1@example.test"),
            Msg("dsn@example.test", "MAIL FROM:<alice@client.test> RET=HDRS ENVID=env+2Bid",
                mail_opts=("RET=HDRS", "ENVID=env+2Bid"),
                rcpt_opts=("NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;dsn@example.test"),
                rcpt_line="RCPT TO:<dsn@example.test> NOTIFY=SUCCESS,FAILURE "
                          "ORCPT=rfc822;dsn@example.test"),
            Msg("plain2@example.test")])


class HostileHop:
    """A next hop in Python: EHLO with PIPELINING, then for each
    transaction the replies reply(cmds) returns to the pipelined commands
    (MAIL, RCPT..., DATA) it read.  It records every line it received."""

    def __init__(self, reply):
        self.reply = reply
        self.lines = []
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(8)
        self.port = self.ls.getsockname()[1]
        self.t = threading.Thread(target=self.serve, daemon=True)
        self.t.start()

    def serve(self):
        while True:
            try:
                s, _ = self.ls.accept()
            except OSError:
                return
            try:
                self.session(s)
            except OSError:
                pass
            finally:
                s.close()

    def session(self, s):
        s.settimeout(10)
        f = s.makefile("rb")
        s.sendall(b"220 hostile.test ESMTP\r\n")
        cmds = []
        while True:
            line = f.readline()
            if not line:
                return
            self.lines.append(line)
            verb = line[:4].upper()
            if verb == b"EHLO":
                s.sendall(b"250-hostile.test\r\n250 PIPELINING\r\n")
            elif verb == b"QUIT":
                s.sendall(b"221 bye\r\n")
                return
            elif verb == b"RSET":
                s.sendall(b"250 ok\r\n")
            else:
                cmds.append(line)
                if verb == b"DATA":
                    s.sendall(self.reply(cmds))
                    cmds = []

    def stop(self):
        self.ls.close()


class HostileReplyTest(unittest.TestCase):
    def test_huge_rcpt_reply_is_blamed_on_rcpt(self):
        def reply(cmds):
            long_line = b"550-5.1.1 " + b"x" * 3000 + b"\rbare CR\x00NUL" + b"y" * 3000 + b"\r\n"
            return (b"250 2.1.0 sender ok\r\n" + long_line * 33 +
                    b"550 5.1.1 no such user\r\n554 no valid recipients\r\n")
        hop = HostileHop(reply)
        r = Sluiced(workers=1, sink_port=hop.port,
                    connector_extra="    retry: {initial: 1s, max: 2s, jitter: 0}\n")
        try:
            r.start()
            with smtplib.SMTP("127.0.0.1", r.port, timeout=10) as s:
                s.sendmail("alice@client.test", ["bob@example.test"], BODY.encode())
            wait_for(lambda: attempts(r.log()), 20, what="an attempt")
            a = attempts(r.log())[0]
            self.assertTrue(r.proc.alive())
            text = json.dumps(a)
            self.assertIn("malformed reply", text, text)
            self.assertIn("RCPT", text, text)
            self.assertNotIn("MAIL FROM", text, text)
            self.assertEqual(a["result"], "deferred", text)
        finally:
            r.stop()
            hop.stop()


class Msg:
    """One message to relay and the MAIL/RCPT lines the next hop must see
    ({size} in mail: the size of the message as relayed)."""

    def __init__(self, rcpt, mail="MAIL FROM:<alice@client.test>", sender="alice@client.test",
                 body=BODY, mail_opts=(), rcpt_opts=(), rcpt_line=None):
        self.rcpt = rcpt
        self.mail = mail
        self.sender = sender
        self.body = body
        self.mail_opts = mail_opts
        self.rcpt_opts = rcpt_opts
        self.rcpt_line = rcpt_line or "RCPT TO:<%s>" % rcpt


RELOAD_CONFIG = """\
workers: 1
hostname: relay.test
listen: ["127.0.0.1:{port}"]
spool: {dir}/spool
control_socket: {dir}/sluice.sock
trusted_networks: ["127.0.0.1/32"]
connectors:
%s
  plain:
    smarthosts: ["127.0.0.1:%d"]
    retry: {{initial: 1s, max: 2s, jitter: 0}}
domains:
  example.test: %s
  client.test: plain
"""

TLS_CONNECTOR = """\
  tlshop:
    smarthosts: ["127.0.0.1:%d"]
    tls: verify
    tls_ca: %s
    tls_domain: localhost
    command_timeout: 20s
    retry: {{initial: 1s, max: 2s, jitter: 0}}"""


class ReloadTest(unittest.TestCase):
    def setUp(self):
        self.cleanup = []

    def tearDown(self):
        for f in reversed(self.cleanup):
            try:
                f()
            except Exception:
                pass

    def test_connector_removed_while_starttls_220_is_held(self):
        c, k = cert("valid")
        hold_ms = 3000
        tls_sink = Sink(keep=True, args=["--tls-cert", c, "--tls-key", k,
                                         "--starttls-delay", str(hold_ms)])
        self.cleanup.append(tls_sink.stop)
        plain = Sink(keep=True)
        self.cleanup.append(plain.stop)
        conn = TLS_CONNECTOR % (tls_sink.port, cert("ca")[0])
        r = Sluiced(workers=1, config=RELOAD_CONFIG % (conn, plain.port, "tlshop"))
        r.start()
        self.cleanup.append(r.stop)
        with smtplib.SMTP("127.0.0.1", r.port, timeout=10) as s:
            s.sendmail("alice@client.test", ["bob@example.test"], BODY.encode())
        wait_for(lambda: "220 held" in tls_sink.proc.log(), 10,
                 what="sluiced's STARTTLS at the sink")
        # the connector goes while its 220 is outstanding
        with open(r.config, "w") as f:
            f.write((RELOAD_CONFIG.replace("%s\n", "", 1) % (plain.port, "plain"))
                    .format(port=r.port, dir=r.dir))
        t0 = time.time()
        r.proc.p.send_signal(signal.SIGHUP)
        wait_for(lambda: "reloaded" in r.log() or not r.proc.alive(), 5,
                 what="the reload")
        self.assertLess(time.time() - t0, hold_ms / 1000.0, "reload too slow for the test")
        # the 220 comes; the connection carries on under the config it
        # started with and delivers over TLS
        wait_for(lambda: tls_sink.messages() == 1 or not r.proc.alive(), 20,
                 what="delivery after the 220")
        self.assertTrue(r.proc.alive(), "sluiced died (exit %s):\n%s"
                        % (r.proc.p.poll(), r.log()[-2000:]))
        raw = sink_files(tls_sink)[0]
        self.assertIn(b"X-Sink-TLS: TLSv1.3", raw)
        # new mail follows the new config
        with smtplib.SMTP("127.0.0.1", r.port, timeout=10) as s:
            s.sendmail("alice@client.test", ["carol@example.test"], BODY.encode())
        wait_for(lambda: plain.messages() == 1, 20, what="delivery by the new config")
        self.assertEqual(r.stop(), 0, r.log()[-2000:])


if __name__ == "__main__":
    unittest.main()
