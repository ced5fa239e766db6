"""Integration test harness: start the real sluiced and sluice-sink on
loopback ports, read the spool files, run real clients.

Only 127.0.0.0/8 addresses are used.  Every process a test starts is
stopped by the test (or by Harness.cleanup) by PID.
"""
import json
import os
import shutil
import re
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
TOOLS = os.environ.get("TOOLS", "/opt/sluice-tools")
SLUICED = os.path.join(BUILD, "sluiced")
SINK = os.path.join(BUILD, "sluice-sink")
BENCH = os.path.join(BUILD, "sluice-bench")
SMTP_SOURCE = os.path.join(TOOLS, "root/usr/sbin/smtp-source")
SMTP_SINK = os.path.join(TOOLS, "root/usr/sbin/smtp-sink")
POSTFIX_ENV = dict(os.environ, LD_LIBRARY_PATH=os.path.join(TOOLS, "root/usr/lib/postfix"))


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=10.0, step=0.02, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))


def banner(port, host="127.0.0.1", timeout=5.0):
    """The greeting of the SMTP server on port, or None."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            return s.recv(512).decode(errors="replace")
    except OSError:
        return None


def listening(port, host="127.0.0.1"):
    """True when something accepts TCP connections on port."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


# ---- events in the log ------------------------------------------------------
# sluiced writes an event (attempt, alert, ...) as one JSON object in
# format: json, and as "TIME info: EVENT key=value ..." in format: text
# (a value with a space is quoted, a list is a,b,c, a null is "-", every
# peer byte escaped as \\, \\" or \\xNN).  events() reads either into
# the same dicts, so a test does not depend on the format.

_VAL = r'"(?:[^"\\]|\\.)*"|[^"\s]\S*'
_EVENT_RE = re.compile(r"^\S+ info: ([a-z_]+)((?: [a-z_]+=(?:" + _VAL + r"))*)$")
_PAIR_RE = re.compile(r" ([a-z_]+)=(" + _VAL + r")")
_LIST_KEYS = {"rcpts"}


def _unescape(v):
    out = bytearray()
    for m in re.finditer(r"\\x([0-9A-F]{2})|\\(.)|([^\\]+)", v):
        if m.group(1):
            out.append(int(m.group(1), 16))
        else:
            out += (m.group(2) or m.group(3)).encode("utf-8")
    return out.decode("utf-8", "replace")


def _value(key, v):
    if v.startswith('"'):
        return _unescape(v[1:-1])
    if key in _LIST_KEYS:
        return [] if v == "-" else [_unescape(e) for e in v.split(",")]
    if v == "-":
        return None
    if v in ("true", "false"):
        return v == "true"
    if re.fullmatch(r"-?\d{1,18}", v):
        return int(v)
    return _unescape(v)


def parse_event(line):
    """The event a log line holds (a dict with "event"), or None."""
    if line.startswith("{"):
        o = json.loads(line)
        return o if "event" in o else None
    m = _EVENT_RE.match(line)
    if not m:
        return None
    o = {"event": m.group(1)}
    for k, v in _PAIR_RE.findall(m.group(2)):
        o[k] = _value(k, v)
    return o


def events(log, name):
    """Every event called name in log (text), in order."""
    out = []
    for line in log.splitlines():
        o = parse_event(line)
        if o is not None and o["event"] == name:
            out.append(o)
    return out


class TestCase(unittest.TestCase):
    """A test whose clean-ups (self.cleanup, callables) run in reverse at
    its end, whatever happened, also when setUp itself failed half-way
    (unittest skips tearDown then, but not addCleanup's); a failing
    clean-up does not hide the rest."""

    def setUp(self):
        self.cleanup = []
        self.addCleanup(self.run_cleanup)

    def run_cleanup(self):
        while self.cleanup:
            try:
                self.cleanup.pop()()
            except Exception:
                pass


class Proc:
    """A child process with its output in a file."""

    def __init__(self, argv, cwd, logname, env=None):
        self.logpath = os.path.join(cwd, logname)
        self.logf = open(self.logpath, "ab")
        self.p = subprocess.Popen(argv, cwd=cwd, stdout=self.logf, stderr=subprocess.STDOUT,
                                  env=env)

    def log(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode(errors="replace")

    def alive(self):
        return self.p.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                raise AssertionError("%s did not exit within %.0fs of signal %d"
                                     % (self.p.args[0], timeout, sig))
        self.logf.close()
        return self.p.returncode


class Certs:
    """The test PKI of tests/tls/make-certs.sh (a CA, valid, expired,
    self-signed and wrong-name certificates), made once per test module:
    CERTS = Certs(); setUpModule = CERTS.make; tearDownModule = CERTS.remove."""

    def __init__(self):
        self.dir = None

    def make(self):
        self.dir = tempfile.mkdtemp(prefix="sluice-certs-")
        subprocess.run(["sh", os.path.join(ROOT, "tests/tls/make-certs.sh"), self.dir],
                       check=True, capture_output=True, timeout=120)

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def pair(self, name):
        """(certificate, key) of name."""
        return self.path(name + ".pem"), self.path(name + ".key")


# The first lines of every test configuration: a sluiced of its own on
# loopback (Sluiced fills in the fields).
CONFIG_HEAD = """\
workers: {workers}
hostname: relay.test
listen: ["127.0.0.1:{port}"]
spool: {dir}/spool
control_socket: {dir}/sluice.sock
trusted_networks: ["127.0.0.1/32"]
"""

DEFAULT_CONFIG = CONFIG_HEAD + """\
{extra}
connectors:
  sink:
    smarthosts: ["127.0.0.1:{sink_port}"]
{connector_extra}
domains:
  example.test: sink
{domains_extra}
"""


class Sluiced:
    """A sluiced with its own directory, port and spool."""

    def __init__(self, workers=2, extra="", connector_extra="", domains_extra="",
                 sink_port=None, config=None, dir=None):
        self.dir = dir or tempfile.mkdtemp(prefix="sluice-it-")
        self.port = free_port()
        self.sink_port = sink_port or free_port()
        self.workers = workers
        text = config if config is not None else DEFAULT_CONFIG
        self.config_text = text.format(workers=workers, port=self.port, dir=self.dir,
                                       sink_port=self.sink_port, extra=extra,
                                       connector_extra=connector_extra,
                                       domains_extra=domains_extra)
        self.config = os.path.join(self.dir, "sluice.yaml")
        with open(self.config, "w") as f:
            f.write(self.config_text)
        self.proc = None

    def start(self, timeout=20.0):
        before = self.log().count("ready:")
        self.proc = Proc([SLUICED, "-c", self.config], self.dir, "sluiced.log")
        wait_for(lambda: self.proc.log().count("ready:") > before or not self.proc.alive(),
                 timeout, what="sluiced ready")
        if not self.proc.alive():
            raise AssertionError("sluiced died at start:\n" + self.proc.log())
        return self

    def log(self):
        return self.proc.log() if self.proc else ""

    def stop(self, sig=signal.SIGTERM):
        if self.proc:
            return self.proc.stop(sig)

    def kill9(self):
        self.proc.p.kill()
        self.proc.p.wait()
        self.proc.logf.close()

    def recovered(self):
        """Messages recovered at the most recent start (sum over workers)."""
        text = self.log()
        last = text.rfind("ready:")
        prev = text.rfind("ready:", 0, last)
        block = text[prev + 1 if prev >= 0 else 0:last]
        return sum(int(re.search(r"(\d+) messages recovered", line).group(1))
                   for line in block.splitlines() if "messages recovered" in line)


SPOOL_MAGIC = 0x324C4353          # "SCL2": sealed records (queue/spool.h)
SPOOL_HDR = struct.Struct("<IBBHIIQQQQ")  # magic type flags pad len seg id aux sum mac
REC_MSG, REC_RCPT, REC_DONE, REC_TRIED = 1, 2, 3, 4
REC_F_BODY = 1


def _str(b, o):
    (n,) = struct.unpack_from("<H", b, o)
    o += 2
    if n == 0xFFFF:
        return None, o
    return b[o:o + n].decode("utf-8", "replace"), o + n


def decode_envelope(b):
    ver, ret, body, utf8, nrcpt, arrival, qid = struct.unpack_from("<BBBBIqQ", b, 0)
    o = 24
    sender, o = _str(b, o)
    envid, o = _str(b, o)
    helo, o = _str(b, o)
    client, o = _str(b, o)
    rcpts = []
    for _ in range(nrcpt):
        addr, o = _str(b, o)
        orcpt, o = _str(b, o)
        notify, state = b[o], b[o + 1]
        o += 2
        rcpts.append({"addr": addr, "orcpt": orcpt, "notify": notify, "state": state,
                      "tries": 0})
    return {"id": qid, "arrival": arrival, "sender": sender, "envid": envid, "helo": helo,
            "client": client, "ret": ret, "body": body, "smtputf8": utf8, "rcpts": rcpts}


def read_spool(spool_dir):
    """Live messages in a spool: {id_hex: (envelope, data_bytes)}.

    An independent reader of the documented format (queue/spool.h), used to
    check what sluiced wrote; it stops a segment at the first bad record and
    does not check the seals (it has no business with the key).  The data of
    a message kept in a body file is read from it (None if it is missing).
    """
    live = {}
    for w in sorted(os.listdir(spool_dir)):
        wdir = os.path.join(spool_dir, w)
        if not os.path.isdir(wdir):
            continue
        for seg in sorted(os.listdir(wdir)):
            if not seg.endswith(".seg"):
                continue
            with open(os.path.join(wdir, seg), "rb") as f:
                data = f.read()
            o = 0
            while o + SPOOL_HDR.size <= len(data):
                magic, typ, flags, _, ln, _, qid, aux, _, _ = SPOOL_HDR.unpack_from(data, o)
                o += SPOOL_HDR.size
                if magic != SPOOL_MAGIC or o + ln > len(data):
                    break
                payload = data[o:o + ln]
                key = "%016X" % qid
                if typ == REC_MSG:
                    body = payload[aux:]
                    if flags & REC_F_BODY:
                        try:
                            with open(os.path.join(wdir, "body", key), "rb") as f:
                                body = f.read()
                        except OSError:
                            body = None
                    live[key] = (decode_envelope(payload[:aux]), body)
                elif typ == REC_DONE:
                    live.pop(key, None)
                elif typ == REC_TRIED and key in live:
                    for (i,) in struct.iter_unpack("<I", payload):
                        rc = live[key][0]["rcpts"]
                        if i < len(rc):
                            rc[i]["tries"] = max(rc[i]["tries"], aux)
                o += ln
    return live


class Sink:
    """sluice-sink on a loopback port, counting (and optionally keeping) mail."""

    def __init__(self, port=None, args=(), keep=False):
        self.dir = tempfile.mkdtemp(prefix="sluice-sink-")
        self.port = port or free_port()
        self.count_file = os.path.join(self.dir, "count")
        argv = [SINK, "-l", "127.0.0.1:%d" % self.port, "--count-file", self.count_file]
        if keep:
            self.out = os.path.join(self.dir, "mail")
            os.mkdir(self.out)
            argv += ["--out", self.out]
        argv += list(args)
        self.proc = Proc(argv, self.dir, "sink.log")
        wait_for(lambda: listening(self.port) or not self.proc.alive(), what="sluice-sink")

    def counts(self):
        try:
            with open(self.count_file) as f:
                return dict(kv.split("=") for kv in f.read().split())
        except (OSError, ValueError):
            return {}

    def messages(self):
        return int(self.counts().get("messages", 0))

    def stop(self):
        return self.proc.stop()
