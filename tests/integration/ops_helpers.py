"""What the operator-tool tests (test_ops_*.py) share: a sluiced whose
mail waits at a closed port (so it stays queued for the commands to see),
a sink that takes mail, a sink for NDRs, a client that sends, and sluicectl
(run as another uid when asked)."""
import json
import os
import re
import smtplib
import subprocess

from harness import CONFIG_HEAD, BUILD, Sink, Sluiced, free_port, wait_for
from test_delivery import attempts  # noqa: F401 (the ops tests take it from here)

SLUICECTL = os.path.join(BUILD, "sluicectl")

# good: a sink; closed, other: closed ports (an hour between tries, never
# marked down); bounces: where NDRs to client.test and spam.example go
CONFIG = CONFIG_HEAD + """\
@EXTRA@
connectors:
  good:
    smarthosts: ["127.0.0.1:@GOOD@"]
    retry: {{initial: 1h, max: 2h, jitter: 0}}
  closed:
    smarthosts: ["127.0.0.1:@CLOSED@"]
    retry: {{initial: 1h, max: 2h, jitter: 0}}
    connect_timeout: 2s
    down_after: 100
  other:
    smarthosts: ["127.0.0.1:@OTHER@"]
    retry: {{initial: 1h, max: 2h, jitter: 0}}
    connect_timeout: 2s
    down_after: 100
  bounces:
    smarthosts: ["127.0.0.1:@NDR@"]
    retry: {{initial: 1s, max: 2s, jitter: 0}}
domains:
  good.test: good
  closed.test: closed
  other.test: other
  client.test: bounces
  spam.example: bounces
@DOMAINS@
"""

BODY = ("Subject: ops test\r\nMessage-ID: <ops1@client.test>\r\n"
        "X-Folded: first\r\n second line\r\n\r\nhello\r\n")


def send(port, rcpts, sender="alice@client.test", body=BODY, n=1, mail_opts=(),
         rcpt_opts=()):
    """Send n messages on one connection; returns their queue ids."""
    ids = []
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
        s.ehlo("client.test")
        for _ in range(n):
            code, msg = s.mail(sender, list(mail_opts))
            assert code == 250, (sender, code, msg)
            for r in rcpts:
                code, msg = s.rcpt(r, list(rcpt_opts))
                assert code == 250, (r, code, msg)
            code, msg = s.data(body.encode() if isinstance(body, str) else body)
            assert code == 250, msg
            ids.append(msg.decode().split()[-1])
    return ids


def table(text):
    """Rows of an aligned table as dicts (columns are 2+ spaces apart)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    heads = re.split(r"\s{2,}", lines[0].strip())
    rows = []
    for ln in lines[1:]:
        cells = re.split(r"\s{2,}", ln.strip())
        if len(cells) == len(heads):
            rows.append(dict(zip(heads, cells)))
    return rows


def sluicectl(sock, *args, user=None, stdin=None):
    """Run sluicectl on sock (as uid user, when given): the finished process."""
    argv = [SLUICECTL, "--socket", sock] + list(args)
    if user is not None:
        argv = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user,
                "--clear-groups"] + argv
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, input=stdin)


class OpsRelay:
    """sluiced with the connectors above, its sinks, and sluicectl."""

    def __init__(self, test, good=True, workers=2, domains="", start=True, good_args=(),
                 extra=""):
        self.test = test
        self.ndr = Sink(keep=True)
        test.addCleanup(self.ndr.stop)
        self.good_port = free_port()
        self.good = None
        if good:
            self.good = Sink(port=self.good_port, keep=True, args=list(good_args))
            test.addCleanup(self.good.stop)
        self.closed_port = free_port()
        self.other_port = free_port()
        text = (CONFIG.replace("@GOOD@", str(self.good_port))
                .replace("@CLOSED@", str(self.closed_port))
                .replace("@OTHER@", str(self.other_port))
                .replace("@NDR@", str(self.ndr.port))
                .replace("@DOMAINS@", domains)
                .replace("@EXTRA@", extra))
        self.r = Sluiced(workers=workers, config=text)
        self.sock = os.path.join(self.r.dir, "sluice.sock")
        if start:
            self.start()

    def start(self):
        self.r.start()
        self.test.addCleanup(self.r.stop)
        wait_for(lambda: os.path.exists(self.sock), what="control socket")

    @property
    def port(self):
        return self.r.port

    def log(self):
        return self.r.log()

    def ctl(self, *args, json_out=False, check=True, user=None, stdin=None):
        p = sluicectl(self.sock, *((("--json",) if json_out else ()) + args), user=user,
                      stdin=stdin)
        if check:
            self.test.assertEqual(p.returncode, 0, "sluicectl %s: %s" % (" ".join(args),
                                                                         p.stderr))
        self.test.assertTrue(self.r.proc.alive(), "sluiced died:\n" + self.log()[-3000:])
        return p

    def js(self, *args, **kw):
        return json.loads(self.ctl(*args, json_out=True, **kw).stdout)

    def fails(self, *args, json_out=False, stdin=None):
        """Run a command that must fail: its error text (stderr)."""
        p = self.ctl(*args, json_out=json_out, check=False, stdin=stdin)
        self.test.assertEqual(p.returncode, 1, "sluicectl %s: rc %d, out %r, err %r"
                              % (" ".join(args), p.returncode, p.stdout, p.stderr))
        self.test.assertEqual(p.stdout, "")
        return p.stderr

    def queue(self, *args):
        """show queue json, by id."""
        return {m["id"]: m for m in self.js("show", "queue", *args)["messages"]}

    def wait_deferred(self, n):
        wait_for(lambda: len(attempts(self.log(), "deferred")) >= n, 30,
                 what="%d deferrals" % n)
