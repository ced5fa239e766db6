"""The control socket and sluicectl: every command in table and JSON form
against a known state (mail delivered, bounced, and queued at a blackhole
and at a closed port), permissions, bad input, flush past the backoff,
hold/release/delete/bounce, connector enable/disable, queue alerts, the
Prometheus exposition, reload, streaming show queue, and watch."""
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import time
import unittest

from harness import CONFIG_HEAD, events, BUILD, Sink, Sluiced, free_port, read_spool, wait_for
from ops_helpers import attempts, table, send as ops_send

SLUICECTL = os.path.join(BUILD, "sluicectl")

CONFIG = CONFIG_HEAD + """\
{extra}
connectors:
  good:
    smarthosts: ["127.0.0.1:{sink_port}"]
    retry: {{initial: 1h, max: 2h, jitter: 0}}
    connect_timeout: 2s
    command_timeout: 5s
  hole:
    smarthosts: ["127.0.0.1:@HOLE@"]
    retry: {{initial: 1h, max: 2h, jitter: 0}}
    connect_timeout: 1s
    command_timeout: 2s
    down_after: 100
  closed:
    smarthosts: ["127.0.0.1:@CLOSED@"]
    retry: {{initial: 1h, max: 2h, jitter: 0}}
    connect_timeout: 2s
    down_after: 100
  bounces:
    smarthosts: ["127.0.0.1:@NDR@"]
    retry: {{initial: 1s, max: 2s, jitter: 0}}
{connector_extra}
domains:
  good.test: good
  hole.test: hole
  closed.test: closed
  client.test: bounces
{domains_extra}
"""

BODY = "Subject: ctl test\r\nMessage-ID: <c1@client.test>\r\n\r\nhello\r\n"


def send(port, rcpts, sender="alice@client.test", body=BODY, n=1):
    """Send n messages on one connection; returns their queue ids."""
    return ops_send(port, rcpts, sender=sender, body=body, n=n)


def alert_events(log):
    return events(log, "alert")


# ---- Prometheus text format, checked strictly ------------------------------

METRIC_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"')


def parse_prometheus(text):
    """Parse the text exposition format (0.0.4) strictly; returns
    {family: {"type", "help", "samples": [(name, labels, value)]}}."""
    fams, seen, current = {}, set(), None
    for n, line in enumerate(text.split("\n"), 1):
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                assert METRIC_RE.match(name), "line %d: bad metric name %r" % (n, name)
                f = fams.setdefault(name, {"type": None, "help": None, "samples": []})
                if parts[1] == "TYPE":
                    assert f["type"] is None, "line %d: second TYPE for %s" % (n, name)
                    assert not f["samples"], "line %d: TYPE after samples" % n
                    assert parts[3] in ("counter", "gauge", "histogram", "summary",
                                        "untyped"), line
                    f["type"] = parts[3]
                else:
                    assert f["help"] is None, "line %d: second HELP for %s" % (n, name)
                    f["help"] = parts[3] if len(parts) > 3 else ""
                current = name
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)( -?\d+)?$", line)
        assert m, "line %d: not a sample: %r" % (n, line)
        name, lab, val = m.group(1), m.group(2), m.group(3)
        fam = name
        if current and fams[current]["type"] == "histogram":
            for suffix in ("_bucket", "_sum", "_count"):
                if name == current + suffix:
                    fam = current
        assert fam == current, "line %d: %s outside its family block" % (n, name)
        labels = {}
        if lab:
            inner = lab[1:-1]
            pos = 0
            while pos < len(inner):
                lm = LABEL_RE.match(inner, pos)
                assert lm, "line %d: bad labels %r" % (n, lab)
                assert lm.group(1) not in labels, "line %d: repeated label" % n
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
                if pos < len(inner):
                    assert inner[pos] == ",", "line %d: bad labels %r" % (n, lab)
                    pos += 1
        v = float(val)
        key = (name, tuple(sorted(labels.items())))
        assert key not in seen, "line %d: duplicate sample %r" % (n, key)
        seen.add(key)
        f = fams[fam]
        if f["type"] == "counter":
            assert name.endswith("_total") and v >= 0, line
        if f["type"] == "histogram" and name.endswith("_bucket"):
            assert "le" in labels, line
        fams[fam]["samples"].append((name, labels, v))
    for name, f in fams.items():
        assert f["type"] and f["help"], "family %s lacks TYPE or HELP" % name
        # OpenMetrics names a counter's family without _total: no other
        # family (a gauge) may have that name
        if f["type"] == "counter":
            assert name[:-len("_total")] not in fams, "%s and %s share a family" % (
                name, name[:-len("_total")])
    for name, f in fams.items():
        if f["type"] == "histogram":   # cumulative buckets, +Inf = _count
            series = {}
            for sname, labels, v in f["samples"]:
                rest = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
                series.setdefault(rest, {})[sname[len(name):] + labels.get("le", "")] = v
            for rest, vals in series.items():
                buckets = sorted((float(k[len("_bucket"):]), v) for k, v in vals.items()
                                 if k.startswith("_bucket"))
                assert [v for _, v in buckets] == sorted(v for _, v in buckets), name
                assert buckets[-1][0] == float("inf"), name
                assert vals["_count"] == buckets[-1][1], name
    return fams


def promtool():
    for p in (os.environ.get("PROMTOOL"), shutil.which("promtool"),
              "/opt/sluice-tools/promtool", "/tmp/prom/root/usr/bin/promtool"):
        if p and os.access(p, os.X_OK):
            return p
    return None


class CtlTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.cleanup = []

    def tearDown(self):
        for f in reversed(self.cleanup):
            try:
                f()
            except Exception:
                pass

    def relay(self, good=None, hole=True, workers=2, extra="", start=True,
              hole_timeouts=("1s", "2s")):
        """sluiced with: good -> a sink (or a closed port), hole -> a
        blackhole sink, closed -> a closed port, bounces -> the NDR sink."""
        self.ndr = Sink(keep=True)
        self.cleanup.append(self.ndr.stop)
        good_port = free_port()
        if good is not None:
            self.good = Sink(port=good_port, keep=True, args=good)
            self.cleanup.append(self.good.stop)
        hole_port = free_port()
        if hole:
            self.hole = Sink(port=hole_port, args=["--mode", "blackhole"])
            self.cleanup.append(self.hole.stop)
        self.good_port = good_port
        self.closed_port = free_port()
        r = Sluiced(workers=workers, sink_port=good_port, extra=extra,
                    config=CONFIG.replace("@HOLE@", str(hole_port))
                    .replace("connect_timeout: 1s\n    command_timeout: 2s\n    down_after: 100",
                             "connect_timeout: %s\n    command_timeout: %s\n    down_after: 100"
                             % hole_timeouts)
                    .replace("@CLOSED@", str(self.closed_port))
                    .replace("@NDR@", str(self.ndr.port)))
        self.sock = os.path.join(r.dir, "sluice.sock")
        if start:
            r.start()
            self.cleanup.append(r.stop)
            wait_for(lambda: os.path.exists(self.sock), what="control socket")
        return r

    def ctl(self, *args, json_out=False, check=True, user=None, sock=None):
        argv = [SLUICECTL, "--socket", sock or self.sock]
        if json_out:
            argv.append("--json")
        argv += list(args)
        if user is not None:
            argv = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user,
                    "--clear-groups"] + argv
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if check:
            self.assertEqual(p.returncode, 0, "sluicectl %s: %s" % (" ".join(args), p.stderr))
        return p

    def js(self, *args):
        return json.loads(self.ctl(*args, json_out=True).stdout)

    def raw(self, data, timeout=10):
        """Send bytes on a fresh connection, shut the write side, read to EOF."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.sock)
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            out = b""
            while True:
                b = s.recv(65536)
                if not b:
                    return out.decode()
                out += b

    # ---- every command against a known state -----------------------------

    def test_commands_against_known_state(self):
        r = self.relay(good=["--user-unknown", "nobody"])
        send(r.port, ["a@good.test"], n=3)
        send(r.port, ["nobody@good.test"])
        hole_ids = send(r.port, ["h1@hole.test", "h2@hole.test"], n=4)
        closed_ids = send(r.port, ["c@closed.test"], n=2)
        wait_for(lambda: self.good.messages() == 3, what="3 delivered")
        wait_for(lambda: self.ndr.messages() == 1, what="the NDR delivered")
        wait_for(lambda: len(attempts(r.log(), "deferred")) >= 6, 20,
                 what="hole and closed deferrals")
        wait_for(lambda: self.js("show stats")["totals"]["queue.messages"] == 6,
                 what="6 queued")

        # help
        help_t = self.ctl("help").stdout
        for c in ("show info", "show stats", "show connectors", "show insights",
                  "show queue", "qshape", "show metrics", "flush", "hold", "release",
                  "delete", "bounce", "connector", "validate connector", "reload",
                  "set alert"):
            self.assertIn(c, help_t)
        help_j = self.js("help")
        self.assertIn("show queue", [c["command"] for c in help_j["commands"]])

        # show info
        info = self.js("show info")
        self.assertEqual(info["workers"], 2)
        self.assertEqual(info["config"], r.config)
        self.assertEqual(info["queued"], 6)
        self.assertGreater(info["spool_bytes"], 0)
        self.assertEqual(info["control_socket"], self.sock)
        t = {row["KEY"]: row["VALUE"] for row in table(self.ctl("show info").stdout)}
        self.assertEqual(t["workers"], "2")
        self.assertEqual(t["queued"], "6")
        self.assertEqual(t["config"], r.config)

        # show stats
        st = self.js("show stats")
        tot = st["totals"]
        self.assertEqual(tot["smtp.in.messages"], 10)
        self.assertEqual(tot["smtp.in.recipients"], 3 + 1 + 8 + 2)
        self.assertEqual(tot["delivery.delivered"], 4)		# 3 + the NDR
        self.assertEqual(tot["delivery.bounced"], 1)
        self.assertEqual(tot["ndr.sent"], 1)
        self.assertEqual(tot["smtp.out.messages"], 4)
        self.assertGreaterEqual(tot["delivery.deferred"], 6)
        self.assertEqual(len(st["per_worker"]), 2)
        self.assertEqual(sum(w["smtp.in.messages"] for w in st["per_worker"]), 10)
        rows = {row["COUNTER"]: row for row in table(self.ctl("show stats").stdout)}
        self.assertEqual(rows["smtp.in.messages"]["TOTAL"], "10")
        self.assertEqual(int(rows["smtp.in.messages"]["W0"]) +
                         int(rows["smtp.in.messages"]["W1"]), 10)
        self.assertEqual(rows["delivery.bounced"]["TOTAL"], "1")

        # show connectors
        cj = {c["name"]: c for c in self.js("show connectors")["connectors"]}
        self.assertEqual(set(cj), {"good", "hole", "closed", "bounces"})
        self.assertEqual(cj["good"]["delivered"], 3)
        self.assertEqual(cj["good"]["bounced"], 1)
        self.assertEqual(cj["good"]["queued"], 0)
        self.assertEqual(cj["good"]["health"], "up")
        self.assertEqual(cj["hole"]["queued"], 4)
        self.assertEqual(cj["hole"]["deferred"] + cj["hole"]["active"], 4)
        self.assertEqual(cj["hole"]["last_error"]["code"], "4.4.315")
        self.assertIn("127.0.0.1", cj["hole"]["last_error"]["destination"])
        self.assertIsNotNone(cj["hole"]["oldest_queued_age"])
        self.assertGreater(cj["hole"]["oldest_expires_in"], 80000)
        self.assertIsNotNone(cj["hole"]["last_attempt"])
        self.assertEqual(cj["closed"]["queued"], 2)
        self.assertEqual(cj["closed"]["last_error"]["code"], "4.4.316")
        self.assertEqual(cj["closed"]["last_error"]["mfi"], "conn_refused")
        # the code's meaning, fix and who acts, as the alert says them
        self.assertIn("refused the connection", cj["closed"]["last_error"]["meaning"])
        self.assertIn("firewall", cj["closed"]["last_error"]["fix"])
        self.assertIn("operator", cj["closed"]["last_error"]["who"])
        self.assertEqual(cj["closed"]["state"], "enabled")
        ct = {row["CONNECTOR"]: row for row in table(self.ctl("show connectors").stdout)}
        self.assertEqual(ct["closed"]["QUEUED"], "2")
        self.assertEqual(ct["closed"]["LAST-CODE"], "4.4.316")
        self.assertEqual(ct["hole"]["QUEUED"], "4")
        self.assertEqual(ct["good"]["STATE"], "enabled")
        self.assertEqual(ct["good"]["HEALTH"], "up")

        # show queue
        q = self.js("show queue")
        self.assertEqual(q["count"], 6)
        self.assertEqual(sorted(m["id"] for m in q["messages"]), sorted(hole_ids + closed_ids))
        byid = {m["id"]: m for m in q["messages"]}
        m = byid[closed_ids[0]]
        self.assertEqual(m["destinations"], ["closed"])
        self.assertEqual(m["sender"], "alice@client.test")
        self.assertEqual(m["recipients"], ["c@closed.test"])
        self.assertEqual(m["code"], "4.4.316")
        self.assertGreaterEqual(m["attempts"], 1)
        self.assertIn("refused", m["last_error"])
        self.assertEqual(sorted(byid[hole_ids[0]]["recipients"]), ["h1@hole.test", "h2@hole.test"])
        ages = [m["arrival"] for m in q["messages"]]
        self.assertEqual(ages, sorted(ages))			# oldest first
        self.assertEqual(self.js("show queue", "closed")["count"], 2)
        self.assertEqual(self.js("show queue", "hole", "3")["count"], 3)
        self.assertEqual(self.js("show queue", "1")["count"], 1)
        qt = table(self.ctl("show queue", "closed").stdout)
        self.assertEqual(sorted(row["ID"] for row in qt), sorted(closed_ids))
        self.assertTrue(all(row["SENDER"] == "alice@client.test" for row in qt))
        self.assertIn("(2 messages)", self.ctl("show queue", "closed").stdout)
        p = self.ctl("show queue", "nosuch", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no connector 'nosuch'", p.stderr)

        # qshape
        qs = self.js("qshape")
        self.assertEqual(qs["buckets"][0], "5")
        self.assertEqual(qs["buckets"][-1], "1280+")
        dests = {d["name"]: d for d in qs["destinations"]}
        self.assertEqual(dests["TOTAL"]["T"], 6)
        self.assertEqual(dests["hole"]["T"], 4)
        self.assertEqual(dests["hole"]["buckets"][0], 4)
        self.assertEqual(dests["closed"]["T"], 2)
        qt = {row["DESTINATION"]: row for row in table(self.ctl("qshape").stdout)}
        self.assertEqual(qt["TOTAL"]["T"], "6")
        self.assertEqual(qt["hole"]["5"], "4")
        self.assertEqual(qt["closed"]["1280+"], "0")
        qt = table(self.ctl("qshape", "closed").stdout)
        self.assertEqual([(row["DESTINATION"], row["T"]) for row in qt],
                         [("TOTAL", "2"), ("closed", "2")])

        # show insights: nothing with the defaults; then with test thresholds
        self.assertEqual(self.js("show insights")["alerts"], [])
        self.assertIn("no open alerts", self.ctl("show insights").stdout)
        self.ctl("set", "alert", "threshold", "2", "age", "0")
        ins = self.js("show insights")
        al = {a["connector"]: a for a in ins["alerts"]}
        self.assertEqual(set(al), {"hole", "closed"})
        self.assertEqual(al["closed"]["code"], "4.4.316")
        self.assertEqual(al["closed"]["mfi"], "conn_refused")
        self.assertIn("firewall", al["closed"]["fix"])
        self.assertIn("refused", al["closed"]["meaning"])
        self.assertEqual(al["hole"]["code"], "4.4.315")
        it = self.ctl("show insights").stdout
        self.assertIn("2 open alerts", it)
        self.assertIn("closed: how to fix:", it)
        rows = {row["CONNECTOR"]: row for row in table(it.split("\n", 1)[1])}
        self.assertEqual(rows["closed"]["CODE"], "4.4.316")

        # show metrics
        text = self.ctl("show metrics").stdout
        fams = parse_prometheus(text)
        self.assertEqual(fams["sluice_smtp_in_messages_total"]["samples"][0][2], 10)
        q = {s[1]["connector"]: s[2] for s in fams["sluice_connector_queued"]["samples"]}
        self.assertEqual(q["hole"], 4)
        self.assertEqual(q["closed"], 2)
        fails = {(s[1]["connector"], s[1]["code"]): s[2]
                 for s in fams["sluice_connector_failures_total"]["samples"]}
        self.assertGreaterEqual(fails[("closed", "4.4.316")], 2)
        self.assertEqual(fams["sluice_connector_failures_total"]["type"], "counter")
        alerts = {s[1]["connector"]: s[1]["code"] for s in fams["sluice_alert"]["samples"]}
        self.assertEqual(alerts, {"hole": "4.4.315", "closed": "4.4.316"})
        tool = promtool()
        if tool:
            p = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        p = self.ctl("show metrics", json_out=True, check=False)
        self.assertEqual(p.returncode, 1)

    # ---- permissions -------------------------------------------------------

    def test_permissions(self):
        r = self.relay(hole=False)
        self.assertEqual(stat.S_IMODE(os.stat(self.sock).st_mode), 0o600)
        if os.geteuid() != 0 or not shutil.which("setpriv"):
            raise unittest.SkipTest("needs root and setpriv")
        # 0600: another uid cannot even connect
        p = self.ctl("show", "info", user=65534, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("cannot connect", p.stderr)
        # open the file up (as control_group: and mode 0660 would for a
        # group): the other uid may read, not change (SO_PEERCRED)
        os.chmod(r.dir, 0o711)
        os.chmod(self.sock, 0o666)
        for cmd in (("show", "info"), ("help",), ("qshape",), ("show", "queue")):
            p = self.ctl(*cmd, user=65534, check=False)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertNotEqual(p.stdout, "")
        self.assertEqual(json.loads(self.ctl("show", "stats", user=65534,
                                             json_out=True).stdout)["workers"], 2)
        for cmd in (("flush",), ("hold", "all"), ("reload",), ("connector", "disable", "x"),
                    ("set", "alert", "threshold", "1", "age", "1")):
            p = self.ctl(*cmd, user=65534, check=False)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn("permission denied: uid 65534 may not run '%s" % cmd[0], p.stderr)
            self.assertIn("changes need root or the daemon's user", p.stderr)
            self.assertEqual(p.stdout, "")
        p = self.ctl("flush", user=65534, json_out=True, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("permission denied", p.stderr)
        self.assertIn("control: uid 65534 pid", r.log())
        self.assertIn("refused (changes need root", r.log())
        self.assertNotIn("reloaded (listeners", r.log())
        self.ctl("show", "info")		# root still may

    # ---- bad input -------------------------------------------------------

    def test_bad_input_gets_an_error_and_delivery_goes_on(self):
        r = self.relay(good=[], hole=False)
        out = self.raw(b"bogus\n")
        self.assertEqual(out, "error: unknown command 'bogus'; try help\n\n")
        out = self.raw(b"show nonsense json\n")
        self.assertEqual(json.loads(out.strip()),
                         {"error": "unknown command 'show nonsense'; try help"})
        out = self.raw(b"A" * 5000 + b"\nshow info\n")
        answers = out.split("\n\n")
        self.assertIn("error: command line too long", answers[0])
        self.assertIn("version", answers[1])
        out = self.raw(b"show\x01info\nshow info\n")
        self.assertTrue(out.startswith("error: malformed command"), out)
        self.assertIn("version", out)
        out = self.raw(b"show info \xff\xfe\n")
        self.assertTrue(out.startswith("error: malformed command"), out)
        out = self.raw(b"hold\n")
        self.assertEqual(out, "error: usage: hold CONNECTOR|ID...|all|FILTER... [json] "
                         "(say which mail: a connector, queue ids, all, or filters)\n\n")
        out = self.raw(b"show queue a b c\n")
        self.assertTrue(out.startswith("error: two connectors: 'a' and 'b'; usage: show queue"),
                        out)
        out = self.raw(b"connector frobnicate good\n")
        self.assertTrue(out.startswith("error: usage: connector"), out)
        p = self.ctl("validate", "connector", "nosuch", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no connector 'nosuch'", p.stderr)
        # several commands on one connection, blank lines ignored, CRLF ok
        out = self.raw(b"\n  \nshow info json\r\nhelp\nquit\nshow info\n")
        parts = out.split("\n\n")
        self.assertEqual(json.loads(parts[0])["workers"], 2)
        self.assertIn("COMMAND", parts[1])
        self.assertEqual(parts[2:], [""])		# quit: no answer, EOF
        # a connection that never ends its line does not block others
        hang = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.cleanup.append(hang.close)
        hang.connect(self.sock)
        hang.sendall(b"show in")
        # delivery was never disturbed
        send(r.port, ["a@good.test"], n=3)
        wait_for(lambda: self.good.messages() == 3, what="delivery after bad commands")
        self.assertIn("version", self.ctl("show", "info").stdout)
        self.assertTrue(r.proc.alive())
        p = subprocess.run([SLUICECTL, "--socket", self.sock + ".nope", "show", "info"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)

    # ---- queue control ---------------------------------------------------

    def test_flush_bypasses_backoff(self):
        r = self.relay(hole=False)		# good: nothing listens yet, retry 1h
        ids = send(r.port, ["a@good.test"], n=2)
        wait_for(lambda: len(attempts(r.log(), "deferred")) >= 2, what="2 deferrals")
        sink = Sink(port=self.good_port)
        self.cleanup.append(sink.stop)
        time.sleep(2)
        self.assertEqual(sink.messages(), 0)		# the backoff is an hour
        out = self.js("flush", ids[0])
        self.assertEqual((out["messages"], out["jobs"]), (1, 1))
        wait_for(lambda: sink.messages() == 1, 10, what="the flushed message delivered")
        out = self.js("flush", "good")
        self.assertEqual(out["jobs"], 1)
        wait_for(lambda: sink.messages() == 2, 10, what="the connector flushed")
        self.assertEqual(self.js("show queue")["count"], 0)
        self.assertIn("flushed", self.ctl("flush").stdout)

    def test_hold_release_delete_bounce(self):
        r = self.relay(hole=False)		# good: closed port for now
        a, b, c = send(r.port, ["a@good.test"], n=3)
        wait_for(lambda: len(attempts(r.log(), "deferred")) >= 3, what="3 deferrals")

        def q():
            return {m["id"]: m for m in self.js("show queue")["messages"]}

        # hold by id, and flush leaves it alone
        self.assertEqual(self.js("hold", a)["jobs"], 1)
        self.assertEqual(q()[a]["state"], "held")
        n_att = len(attempts(r.log()))
        self.js("flush", a)
        time.sleep(1.5)
        self.assertEqual(len(attempts(r.log())), n_att)
        # hold by connector, release by connector
        out = self.js("hold", "good")
        self.assertEqual(out["jobs"], 2)			# a was held already
        self.assertEqual({m["state"] for m in q().values()}, {"held"})
        ct = {c_["name"]: c_ for c_ in self.js("show connectors")["connectors"]}
        self.assertEqual(ct["good"]["held"], 3)
        self.assertEqual(self.js("release", "good")["jobs"], 3)
        self.assertEqual({m["state"] for m in q().values()} & {"held"}, set())
        self.js("hold", a)

        # delete: gone, DONE written, no NDR
        self.assertEqual(self.js("delete", b)["jobs"], 1)
        wait_for(lambda: b not in q(), what="b gone from the queue")
        wait_for(lambda: b not in read_spool(os.path.join(r.dir, "spool")),
                 what="b's DONE record")
        self.assertEqual(self.js("show stats")["totals"]["delivery.deleted"], 1)

        # bounce: an NDR to the sender, naming the recipient
        self.assertEqual(self.js("bounce", c)["jobs"], 1)
        wait_for(lambda: self.ndr.messages() == 1, 15, what="the NDR of the bounce")
        wait_for(lambda: c not in q(), what="c gone from the queue")
        time.sleep(0.5)
        self.assertEqual(self.ndr.messages(), 1)		# and only for c
        names = [n for n in os.listdir(self.ndr.out) if n.endswith(".eml")]
        with open(os.path.join(self.ndr.out, names[0]), "rb") as f:
            ndr = f.read().decode(errors="replace")
        self.assertIn("a@good.test", ndr)
        self.assertIn("returned by the relay operator", ndr)
        self.assertIn(c, ndr)

        # a still held: the sink comes up, a waits until released
        sink = Sink(port=self.good_port)
        self.cleanup.append(sink.stop)
        self.js("flush")
        time.sleep(1.5)
        self.assertEqual(sink.messages(), 0)
        self.assertEqual(q()[a]["state"], "held")
        self.assertEqual(self.js("release", a)["jobs"], 1)
        self.assertNotEqual(q()[a]["state"], "held")
        self.js("flush", a)	# its destination is down after 3 refusals: probe now
        wait_for(lambda: sink.messages() == 1, 10, what="a delivered after release")
        wait_for(lambda: not q(), what="queue empty")
        p = self.ctl("delete", a, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no message %s" % a, p.stderr)
        # the table forms
        send(r.port, ["z@good.test"])
        wait_for(lambda: sink.messages() == 2, what="one more")
        rows = table(self.ctl("hold", "good").stdout)
        self.assertEqual(rows[0]["ACTION"], "hold")
        self.assertEqual(rows[0]["TARGET"], "good")

    def test_bounce_and_delete_by_connector(self):
        r = self.relay(hole=False)
        send(r.port, ["x@closed.test"], n=3)
        send(r.port, ["y@closed.test", "a@good.test"])	# two connectors
        wait_for(lambda: len(attempts(r.log(), "deferred")) >= 5, what="deferrals")
        out = self.js("bounce", "closed")
        self.assertEqual((out["messages"], out["jobs"]), (4, 4))
        wait_for(lambda: self.ndr.messages() == 4, 15, what="4 NDRs")
        for name in os.listdir(self.ndr.out):	# final: class 5 beside Action: failed
            if name.endswith(".eml"):
                with open(os.path.join(self.ndr.out, name), "rb") as f:
                    raw = f.read().decode("utf-8", "replace")
                self.assertIn("Action: failed", raw)
                self.assertRegex(raw, r"\nStatus: 5\.0\.0\b")
                self.assertIn("Diagnostic-Code: X-Sluice; 450 4.4.316", raw)
        qq = self.js("show queue")
        self.assertEqual(qq["count"], 1)			# its good.test part waits
        self.assertEqual(qq["messages"][0]["destinations"], ["good"])
        self.assertEqual(self.js("delete", "good")["jobs"], 1)
        wait_for(lambda: self.js("show queue")["count"] == 0, what="empty queue")
        wait_for(lambda: not read_spool(os.path.join(r.dir, "spool")), 15,
                 what="an empty spool (the NDRs delivered)")
        self.assertEqual(self.ctl("bounce", "nosuch", check=False).returncode, 1)

    def test_connector_disable_enable(self):
        r = self.relay(good=[], hole=False)
        out = self.js("connector", "disable", "good")
        self.assertEqual(out["state"], "disabled")
        send(r.port, ["a@good.test"], n=2)
        time.sleep(2)
        self.assertEqual(self.good.messages(), 0)
        ct = {c["name"]: c for c in self.js("show connectors")["connectors"]}
        self.assertEqual(ct["good"]["state"], "disabled")
        self.assertFalse(ct["good"]["enabled"])
        self.assertEqual(ct["good"]["queued"], 2)
        self.assertIn("disabled", self.ctl("show", "connectors").stdout)
        self.js("flush", "good")				# still does not deliver
        time.sleep(1)
        self.assertEqual(self.good.messages(), 0)
        self.assertIn("enabled", self.ctl("connector", "enable", "good").stdout)
        wait_for(lambda: self.good.messages() == 2, 10, what="delivery after enable")
        p = self.ctl("connector", "disable", "nosuch", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no connector 'nosuch'", p.stderr)

    # ---- alerts ----------------------------------------------------------

    def test_alert_raised_and_cleared(self):
        r = self.relay(hole=False)
        self.assertEqual(self.js("set", "alert", "threshold", "3", "age", "1"),
                         {"alert_threshold": 3, "alert_age": 1})
        send(r.port, ["a@good.test"], n=2)
        time.sleep(2.5)
        self.assertEqual(alert_events(r.log()), [])		# 2 < 3
        send(r.port, ["a@good.test"])
        ev = wait_for(lambda: alert_events(r.log()), 10, what="alert raised")
        self.assertEqual(ev[0]["state"], "raised")
        self.assertEqual(ev[0]["connector"], "good")
        self.assertEqual(ev[0]["code"], "4.4.316")
        self.assertIn("firewall", ev[0]["fix"])
        ins = self.js("show insights")["alerts"]
        self.assertEqual([(a["connector"], a["code"]) for a in ins], [("good", "4.4.316")])
        self.assertEqual(ins[0]["messages_over_age"], 3)
        wait_for(lambda: len(alert_events(r.log())) == 1, what="raised once")
        sink = Sink(port=self.good_port)
        self.cleanup.append(sink.stop)
        self.js("flush", "good")
        wait_for(lambda: sink.messages() == 3, 10, what="the backlog delivered")
        ev = wait_for(lambda: [e for e in alert_events(r.log()) if e["state"] == "cleared"],
                      10, what="alert cleared")
        self.assertEqual(ev[0]["connector"], "good")
        self.assertEqual(self.js("show insights")["alerts"], [])

    def test_alert_before_the_first_code_is_updated(self):
        """Raised while the first attempt still waits for a silent host, the
        alert says the code is not known yet; when the attempt times out an
        "updated" alert line gives 4.4.315 (the old code logged "-" and
        "Nothing to fix", and never said more)."""
        r = self.relay(hole_timeouts=("6s", "6s"))
        self.js("set", "alert", "threshold", "1", "age", "0")
        send(r.port, ["a@hole.test"])
        ev = wait_for(lambda: alert_events(r.log()), 5, what="alert raised")
        self.assertEqual((ev[0]["state"], ev[0]["connector"], ev[0]["code"]),
                         ("raised", "hole", "-"), ev[0])
        self.assertIn("not known", ev[0]["meaning"])
        self.assertNotIn("Nothing to fix", ev[0]["fix"])
        self.assertIn("not known", self.ctl("show", "insights").stdout)
        up = wait_for(lambda: [e for e in alert_events(r.log()) if e["state"] == "updated"],
                      15, what="the alert updated with the code")
        self.assertEqual((up[0]["connector"], up[0]["code"], up[0]["mfi"]),
                         ("hole", "4.4.315", "conn_timeout"), up[0])
        self.assertIn("timed out", up[0]["meaning"])
        self.assertEqual([(a["connector"], a["code"]) for a in self.js("show insights")["alerts"]],
                         [("hole", "4.4.315")])
        time.sleep(1.5)		# the next checks change nothing: one update only
        self.assertEqual([e["state"] for e in alert_events(r.log())], ["raised", "updated"])

    # ---- streaming, reload, watch ---------------------------------------

    def test_show_queue_streams_thousands(self):
        r = self.relay(hole=False)
        n = 2500
        ids = []
        for _ in range(5):
            ids += send(r.port, ["x@closed.test"], n=n // 5)
        wait_for(lambda: self.js("show stats")["totals"]["queue.messages"] == n, 30,
                 what="%d queued" % n)
        q = self.js("show queue")
        self.assertEqual(q["count"], n)
        got = [m["id"] for m in q["messages"]]
        self.assertEqual(sorted(got), sorted(ids))
        self.assertEqual([m["arrival"] for m in q["messages"]],
                         sorted(m["arrival"] for m in q["messages"]))
        self.assertEqual(self.js("show queue", "closed", "1500")["count"], 1500)
        text = self.ctl("show", "queue").stdout
        self.assertIn("(%d messages)" % n, text)
        self.assertEqual(len(table(text)), n)
        # a reader that stops reading does not stall the relay
        hang = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.cleanup.append(hang.close)
        hang.connect(self.sock)
        hang.sendall(b"show queue\n")
        time.sleep(0.5)
        self.assertIn("version", self.ctl("show", "info").stdout)
        send(r.port, ["q@good.test"])
        wait_for(lambda: self.js("show info")["queued"] == n + 1, what="one more queued")

    def test_reload(self):
        r = self.relay(hole=False)
        self.assertIn("configuration reloaded", self.ctl("reload").stdout)
        self.assertEqual(self.js("reload"), {"result": "reloaded"})
        with open(r.config, "a") as f:
            f.write("\nbogus_key: [\n")
        p = self.ctl("reload", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("reload failed", p.stderr)
        self.assertIn("version", self.ctl("show", "info").stdout)

    def test_watch(self):
        r = self.relay(hole=False)
        send(r.port, ["a@good.test"])
        p = subprocess.run([SLUICECTL, "--socket", self.sock, "watch", "--interval", "0.3",
                            "--count", "3"], capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.count("alerts:"), 3)
        self.assertEqual(p.stdout.count("msg/s"), 6)		# in and out
        self.assertIn("queued 1", p.stdout)
        self.assertIn("alerts: 0", p.stdout)


if __name__ == "__main__":
    unittest.main()
