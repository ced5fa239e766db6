"""The HTTP admin listener (http: in the config, core/http/): every GET of
the API answers the JSON sluicectl --json prints, queue filters, bad input
answered 400/404/405/413 with a JSON error, POST actions refused without
write, without the token or from another site and done with them (flush,
connector disable/enable, fix-now, hold/release), read_token, /metrics
checked by promtool, a flood of idle connections that neither stops the
listener for long nor the relay, and the config's errors."""
import json
import os
import re
import shutil
import socket
import subprocess
import time
import unittest
import urllib.error
import urllib.request

from harness import SLUICED, free_port, wait_for
from ops_helpers import OpsRelay, send
from test_ctl import parse_prometheus, promtool

TOKEN = "t0ken-for-the-http-tests-0123456789"

# keys whose values move with the clock between two calls
VOLATILE = re.compile(r"^(uptime|time|next_attempt)$|age$|_in$")


def stable(v):
    """v without the members that change from one second to the next."""
    if isinstance(v, dict):
        return {k: stable(x) for k, x in v.items() if not VOLATILE.search(k)}
    if isinstance(v, list):
        return [stable(x) for x in v]
    return v


NO_WWW = "/nonexistent/sluice-www"


class HttpRelay(OpsRelay):
    """OpsRelay (good, closed, other, bounces) with an HTTP listener."""

    def __init__(self, test, http="", tenants="", domains="", files=None, **kw):
        # no dashboard files: the built-in page, whatever is installed
        extra = "http:\n  listen: \"127.0.0.1:@HTTP@\"\n%s%s" % (http, tenants)
        if "static_dir" not in http:
            extra = extra.replace("\n", "\n  static_dir: %s\n" % NO_WWW, 1)
        super().__init__(test, extra=extra, domains=domains, start=False, **kw)
        # a port none of the relay's others is (they are not bound yet)
        taken = {self.r.port, self.r.sink_port, self.good_port, self.closed_port,
                 self.other_port, self.ndr.port}
        self.http_port = free_port()
        while self.http_port in taken:
            self.http_port = free_port()
        self.token_file = os.path.join(self.r.dir, "http.token")
        with open(self.token_file, "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(self.token_file, 0o600)
        for name, text in (files or {}).items():
            with open(os.path.join(self.r.dir, name), "w") as f:
                f.write(text)
        with open(self.r.config) as f:
            text = (f.read().replace("@TOKEN@", self.token_file).replace("@DIR@", self.r.dir)
                    .replace("@HTTP@", str(self.http_port)))
        with open(self.r.config, "w") as f:
            f.write(text)
        self.start()
        wait_for(lambda: "http: listening" in self.log(), what="the HTTP listener")

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.http_port, path)

    def http(self, path, method="GET", body=None, headers=None, token=None, timeout=30):
        """(status, headers, body bytes) of one request."""
        data = None
        h = dict(headers or {})
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        if token is not None:
            h["Authorization"] = "Bearer " + token
        rq = urllib.request.Request(self.url(path), data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(rq, timeout=timeout) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def get(self, path, **kw):
        """The JSON of a GET that must answer 200."""
        st, h, b = self.http(path, **kw)
        self.test.assertEqual(st, 200, "%s: %d %r" % (path, st, b[:300]))
        self.test.assertEqual(h["Content-Type"], "application/json")
        return json.loads(b)

    def error(self, path, status, **kw):
        """The message of an answer that must be status with a JSON error."""
        st, h, b = self.http(path, **kw)
        self.test.assertEqual(st, status, "%s: %d %r" % (path, st, b[:300]))
        self.test.assertEqual(h["Content-Type"], "application/json")
        j = json.loads(b)
        self.test.assertEqual(list(j), ["error"], b)
        return j["error"]


WRITE = "  token_file: @TOKEN@\n  write: true\n"
TENANT = """tenants:
  acme:
    directory: @DIR@/acme.txt
"""
ACME = "  acme.test: {{connector: closed, mode: internal_relay, tenant: acme}}\n"


class HttpTest(unittest.TestCase):
    maxDiff = None

    def relay(self, http=WRITE, **kw):
        return HttpRelay(self, http=http, **kw)

    def test_get_matches_sluicectl(self):
        r = self.relay()
        ids = send(r.port, ["a@good.test"], n=2)
        send(r.port, ["x@closed.test"], sender="news@bulk.test", n=3)
        send(r.port, ["y@closed.test"], sender="bob@client.test")
        r.wait_deferred(4)
        wait_for(lambda: r.good.messages() >= 2, what="delivery to good")
        for name in ("info", "stats", "connectors", "insights", "tenants"):
            self.assertEqual(stable(r.get("/api/v1/" + name)),
                             stable(r.js("show", name)), name)
        self.assertEqual(stable(r.get("/api/v1/connectors/closed")),
                         stable(r.js("show", "connectors", "closed")))
        # the queue, filtered as show queue is
        for query, words in (("", ["limit", "1000"]),
                             ("?connector=closed", ["connector", "closed", "limit", "1000"]),
                             ("?sender=*@bulk.test&limit=2",
                              ["sender", "*@bulk.test", "limit", "2"]),
                             ("?rcpt=y@closed.test", ["rcpt", "y@closed.test", "limit", "1000"]),
                             ("?older=1h", ["older", "1h", "limit", "1000"]),
                             ("?younger=1h&connector=good",
                              ["younger", "1h", "connector", "good", "limit", "1000"])):
            self.assertEqual(stable(r.get("/api/v1/queue" + query)),
                             stable(r.js("show", "queue", *words)), query)
        q = r.get("/api/v1/queue?sender=*@bulk.test")
        self.assertEqual(q["count"], 3)
        self.assertEqual(r.get("/api/v1/queue?sender=*@bulk.test&limit=2")["count"], 2)
        self.assertEqual(r.get("/api/v1/queue?older=1h")["count"], 0)
        qid = q["messages"][0]["id"]
        self.assertEqual(stable(r.get("/api/v1/messages/" + qid)),
                         stable(r.js("show", "message", qid)))
        self.assertEqual(r.get("/api/v1/messages/" + qid.lower())["id"], qid)
        # the history the dashboard charts: 60 minutes, the last with a sample
        h = r.get("/api/v1/history")
        self.assertEqual(len(h["minutes"]), 60)
        self.assertEqual(h["sample_seconds"], 10)
        self.assertIsNotNone(h["minutes"][-1]["queue"])
        self.assertLess(h["minutes"][0]["time"], h["minutes"][-1]["time"])
        # the page, and show config
        st, hd, body = r.http("/")
        self.assertEqual(st, 200)
        self.assertTrue(hd["Content-Type"].startswith("text/html"))
        self.assertIn(b"/api/v1/connectors", body)
        self.assertNotIn(b"<style", body, "inline styles are refused by its own CSP")
        st, hd, css = r.http("/builtin.css")
        self.assertEqual((st, hd["Content-Type"].split(";")[0]), (200, "text/css"))
        c = r.js("show", "config")["config"]["http"]
        self.assertEqual(c, {"listen": "127.0.0.1:%d" % r.http_port,
                             "token_file": r.token_file, "write": True,
                             "read_token": False, "max_connections": 32,
                             "static_dir": NO_WWW})
        self.assertTrue(r.r.proc.alive())
        self.assertEqual(len(ids), 2)

    def test_bad_input(self):
        r = self.relay()
        e = r.error("/api/v1/queue?sender=a%20b", 400)
        self.assertIn("sender: expected printable ASCII", e)
        self.assertIn("unknown parameter 'bogus'", r.error("/api/v1/queue?bogus=1", 400))
        self.assertIn("limit", r.error("/api/v1/queue?limit=0", 400))
        self.assertIn("older: expected an age", r.error("/api/v1/queue?older=soon", 400))
        self.assertIn("sender", r.error("/api/v1/queue?sender=%00x", 400))
        self.assertIn("rcpt", r.error("/api/v1/queue?rcpt=caf%C3%A9@x.test", 400))
        self.assertIn("16 hex digits", r.error("/api/v1/messages/12345", 400))
        self.assertIn("no message", r.error("/api/v1/messages/0123456789ABCDEF", 404))
        self.assertIn("no connector 'nosuch'", r.error("/api/v1/connectors/nosuch", 404))
        self.assertIn("no such API path", r.error("/api/v1/nothing", 404))
        self.assertIn("the message trace is off",
                      r.error("/api/v1/trace?sender=a@b.test", 404))
        self.assertEqual(r.error("/nothing.html", 404), "not found")
        st, h, b = r.http("/api/v1/info", method="DELETE")
        self.assertEqual((st, h["Allow"]), (405, "GET, HEAD"))
        self.assertIn("error", json.loads(b))
        st, h, b = r.http("/api/v1/flush")
        self.assertEqual((st, h["Allow"]), (405, "POST"))
        big = {"sender": "x" * 20000}
        self.assertIn("over", r.error("/api/v1/hold", 413, method="POST", body=big,
                                      token=TOKEN))
        self.assertIn("one JSON object", r.error("/api/v1/hold", 400, method="POST",
                                                 body=b"[1,2]", token=TOKEN))
        self.assertIn("unknown member", r.error("/api/v1/hold", 400, method="POST",
                                                body={"conector": "good"}, token=TOKEN))
        # a raw request with a head over the limit, and garbage: refused, no crash
        with socket.create_connection(("127.0.0.1", r.http_port), timeout=10) as s:
            s.sendall(b"GET /api/v1/info HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 +
                      b"\r\n\r\n")
            first = s.recv(100)
            self.assertRegex(first, rb"^HTTP/1\.1 4\d\d ")
        with socket.create_connection(("127.0.0.1", r.http_port), timeout=10) as s:
            s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64 +
                      b"\r\n\r\n")
            s.recv(100)
        self.assertEqual(r.get("/api/v1/info")["workers"], 2)
        self.assertTrue(r.r.proc.alive())

    def test_posts_need_write_token_and_same_site(self):
        off = self.relay(http="  token_file: @TOKEN@\n")
        self.assertIn("write: false", off.error("/api/v1/flush", 403, method="POST",
                                                body={}, token=TOKEN))
        off.r.stop()

        r = self.relay(tenants=TENANT, domains=ACME, files={"acme.txt": "known@acme.test\n"})
        ids = send(r.port, ["x@closed.test"], n=2)
        r.wait_deferred(2)
        self.assertIn("token is needed", r.error("/api/v1/flush", 401, method="POST",
                                                 body={"connector": "closed"}))
        st, h, _ = r.http("/api/v1/flush", method="POST", body={})
        self.assertEqual(h["WWW-Authenticate"], "Bearer")
        self.assertIn("wrong token", r.error("/api/v1/flush", 401, method="POST", body={},
                                             token=TOKEN + "x"))
        self.assertIn("cross-site", r.error(
            "/api/v1/flush", 403, method="POST", body={}, token=TOKEN,
            headers={"Origin": "http://evil.test"}))
        self.assertIn("cross-site", r.error(
            "/api/v1/flush", 403, method="POST", body={}, token=TOKEN,
            headers={"Sec-Fetch-Site": "cross-site"}))
        self.assertIn("cross-site", r.error(
            "/api/v1/connectors/closed/disable", 403, method="POST", token=TOKEN,
            headers={"Origin": "null"}))
        self.assertIn("refused", r.log())
        attempts = r.js("show", "connectors", "closed")["connectors"][0]["attempts"]

        # with the token, from the listener's own origin
        st, _, b = r.http("/api/v1/flush", method="POST", body={"connector": "closed"},
                          token=TOKEN,
                          headers={"Origin": "http://127.0.0.1:%d" % r.http_port})
        self.assertEqual(st, 200, b)
        j = json.loads(b)
        self.assertEqual((j["action"], j["target"], j["jobs"]),
                         ("flush", "connector closed", 2))
        wait_for(lambda: r.js("show", "connectors", "closed")["connectors"][0]["attempts"]
                 > attempts, 20, what="the flushed attempts")
        st, _, b = r.http("/api/v1/hold", method="POST", body={"ids": ids}, token=TOKEN)
        self.assertEqual((st, json.loads(b)["jobs"]), (200, 2))
        self.assertEqual({m["state"] for m in r.queue().values()}, {"held"})
        st, _, b = r.http("/api/v1/release", method="POST", body={"all": True}, token=TOKEN)
        self.assertEqual((st, json.loads(b)["jobs"]), (200, 2))
        st, _, b = r.http("/api/v1/connectors/closed/disable", method="POST", token=TOKEN)
        self.assertEqual(st, 200, b)
        self.assertEqual(r.js("show", "connectors", "closed")["connectors"][0]["state"],
                         "disabled")
        st, _, b = r.http("/api/v1/connectors/closed/enable", method="POST", token=TOKEN)
        self.assertEqual(st, 200, b)
        self.assertEqual(r.js("show", "connectors", "closed")["connectors"][0]["state"],
                         "enabled")
        self.assertIn("no connector", r.error("/api/v1/connectors/nosuch/disable", 404,
                                              method="POST", token=TOKEN))
        # fix-now: the domain turns authoritative (and stays so when asked again)
        st, _, b = r.http("/api/v1/fix-now/acme.test", method="POST", token=TOKEN)
        self.assertEqual(st, 200, b)
        self.assertEqual(json.loads(b)["mode"], "authoritative")
        doms = r.js("show", "tenants")["tenants"][0]["domains"]
        self.assertEqual(doms, [{"domain": "acme.test", "mode": "authoritative (fix-now)"}])
        self.assertIn("not an accepted domain", r.error("/api/v1/fix-now/nosuch.test", 404,
                                                        method="POST", token=TOKEN))
        # validate: the step that failed, as sluicectl says it
        st, _, b = r.http("/api/v1/connectors/closed/validate", method="POST", body={},
                          token=TOKEN)
        self.assertEqual(st, 200, b)
        v = json.loads(b)
        self.assertEqual(v["code"], "4.4.316")
        # the actions are logged with who asked
        self.assertRegex(r.log(), r"http: 127\.0\.0\.1 POST /api/v1/fix-now/acme\.test: "
                                  r"fix-now acme\.test json")

    def test_read_token(self):
        r = self.relay(http="  token_file: @TOKEN@\n  read_token: true\n")
        self.assertIn("read_token", r.error("/api/v1/info", 401))
        self.assertIn("read_token", r.error("/metrics", 401))
        self.assertEqual(r.get("/api/v1/info", token=TOKEN)["workers"], 2)
        st, _, _ = r.http("/metrics", token=TOKEN)
        self.assertEqual(st, 200)
        st, _, _ = r.http("/")
        self.assertEqual(st, 200)	# the page itself holds no data

    def test_metrics(self):
        r = self.relay()
        send(r.port, ["a@good.test"])
        send(r.port, ["x@closed.test"])
        r.wait_deferred(1)
        wait_for(lambda: r.good.messages() >= 1, what="delivery")
        st, h, b = r.http("/metrics")
        self.assertEqual(st, 200)
        self.assertTrue(h["Content-Type"].startswith("text/plain; version=0.0.4"))
        text = b.decode()
        fams = parse_prometheus(text)
        hist = fams["sluice_delivery_attempt_duration_seconds"]
        self.assertEqual(hist["type"], "histogram")
        count = [s for s in hist["samples"] if s[0].endswith("_count")][0][2]
        self.assertGreaterEqual(count, 2)
        qt = {(s[0], s[1].get("result"), s[1].get("le")): s[2]
              for s in fams["sluice_queue_time_seconds"]["samples"]}
        self.assertEqual(qt[("sluice_queue_time_seconds_count", "delivered", None)], 1)
        self.assertEqual(qt[("sluice_queue_time_seconds_bucket", "delivered", "+Inf")], 1)
        codes = {s[1]["code"] for s in fams["sluice_connector_failures_total"]["samples"]}
        self.assertIn("remote_4xx", codes)
        self.assertIn("remote_5xx", codes)
        self.assertNotIn("remote", codes)
        last = {s[1]["connector"]
                for s in fams["sluice_connector_last_attempt_timestamp_seconds"]["samples"]}
        self.assertIn("good", last)
        self.assertNotIn("other", last)		# never tried: no sample, not 0
        self.assertIn("sluice_smtp_in_sessions_active", fams)
        self.assertIn("sluice_tls_handshakes_total", fams)
        self.assertIn("sluice_http_responses_total", fams)
        tool = promtool()
        if tool is None:
            self.skipTest("promtool is not installed (Debian package prometheus): "
                          "the exposition was checked by parse_prometheus only")
        p = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_flood_of_idle_connections(self):
        r = self.relay(http=WRITE + "  max_connections: 8\n")
        conns = []
        self.addCleanup(lambda: [c.close() for c in conns])
        for _ in range(8 + 20):
            conns.append(socket.create_connection(("127.0.0.1", r.http_port), timeout=5))
        time.sleep(0.5)
        t0 = time.monotonic()
        try:
            st, _, _ = r.http("/api/v1/info", timeout=5)
            self.assertEqual(st, 200)
        except OSError:
            pass		# refused at once: over the limit
        self.assertLess(time.monotonic() - t0, 3, "a request waited behind the flood")
        # the relay still relays meanwhile
        send(r.port, ["a@good.test"])
        wait_for(lambda: r.good.messages() >= 1, 20, what="delivery during the flood")
        # the idle connections time out (10 s) and the listener serves again
        wait_for(lambda: self.answers(r), 30, step=1, what="the listener after the flood")
        for c in conns:
            c.close()
        self.assertTrue(r.r.proc.alive())

    @staticmethod
    def answers(r):
        try:
            return r.http("/api/v1/info", timeout=5)[0] == 200
        except OSError:
            return False


class HttpConfigTest(unittest.TestCase):
    """sluiced -t says what is wrong with http:, file:line and the fix."""

    def check(self, http, token=None, mode=0o600):
        d = self.dir = getattr(self, "dir", None) or __import__("tempfile").mkdtemp()
        self.addCleanup(shutil.rmtree, d, True)
        tok = os.path.join(d, "tok")
        if token is None and os.path.exists(tok):
            os.unlink(tok)
        if token is not None:
            with open(tok, "w") as f:
                f.write(token)
            os.chmod(tok, mode)
        path = os.path.join(d, "s.yaml")
        with open(path, "w") as f:
            f.write('listen: ["127.0.0.1:2525"]\nconnectors: {d: {smarthosts: '
                    '["127.0.0.1"]}}\ndomains: {d.test: d}\nhttp:\n' +
                    http.replace("@TOKEN@", tok))
        p = subprocess.run([SLUICED, "-t", "-c", path], capture_output=True, text=True,
                           timeout=30)
        return p.returncode, p.stdout + p.stderr

    def test_errors(self):
        rc, out = self.check("  write: true\n")
        self.assertEqual(rc, 1)
        self.assertRegex(out, r"s\.yaml:5: http: write: true needs a token_file")
        rc, out = self.check("  read_token: true\n")
        self.assertIn("read_token: true needs a token_file", out)
        rc, out = self.check("  listen: 8025\n")
        self.assertIn("http: listen: expected an IP address and port like 127.0.0.1:8025", out)
        rc, out = self.check("  listn: x\n")
        self.assertIn("unknown key 'listn'", out)
        rc, out = self.check("  max_connections: 0\n")
        self.assertIn("max_connections", out)
        rc, out = self.check("  token_file: @TOKEN@\n", token="short\n")
        self.assertIn("expected a token of 16 to 1024 characters", out)
        rc, out = self.check("  token_file: @TOKEN@\n", token=TOKEN, mode=0o644)
        self.assertIn("readable by every user", out)
        rc, out = self.check("  token_file: @TOKEN@\n")
        self.assertIn("No such file", out)
        rc, out = self.check("  token_file: @TOKEN@\n  write: true\n", token=TOKEN + "\n")
        self.assertEqual(rc, 0, out)
        rc, out = self.check("  {}\n")
        self.assertEqual(rc, 0, out)


if __name__ == "__main__":
    unittest.main()
