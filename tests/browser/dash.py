"""What the browser tests share: a sluiced with its HTTP listener serving
the tree's dashboard (www/), its sinks and a closed port, and a headless
Chromium driven by Selenium (Debian's chromium, chromium-driver and
python3-selenium).

Without Chromium, its driver or Selenium the tests are skipped with a
message saying what is missing, except on CI (CI set), where that is a
failure: scripts/deps.sh installs them.  A browser that is there but does
not start is a failure everywhere."""
import json
import sys
import os
import shutil
import smtplib
import subprocess
import time
import unittest
import urllib.error
import urllib.request

from harness import BUILD, CONFIG_HEAD, ROOT, Sink, Sluiced, free_port, wait_for
from ops_helpers import send as ops_send

SLUICECTL = os.path.join(BUILD, "sluicectl")
WWW = os.path.join(ROOT, "www")
SHOTS = os.path.join(BUILD, "screenshots")
TOKEN = "dashboard-test-token-0123456789abcdef"
CHROMIUM = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"

# partner: a closed port (the 4.4.316 of the issue), an hour between
# tries; smarthost: a sink; shortlived: the closed port again, but its
# mail expires after 4 s and goes back in an NDR; bounces: the NDR sink.
# acme.example is an internal relay of tenant acme, whose directory knows
# alice and bob: a fix-now candidate.  Braces are doubled (str.format).
CONFIG = CONFIG_HEAD + """\
http:
  listen: "127.0.0.1:@HTTP@"
  token_file: {dir}/http.token
  write: @WRITE@
  static_dir: @WWW@
@TRACE@
tenants:
  acme:
    directory: {dir}/acme.txt
    invalid_recipient_quota: 20
connectors:
  partner:
    smarthosts: ["127.0.0.1:@CLOSED@"]
    retry: {{initial: 1h, max: 2h, jitter: 0}}
    connect_timeout: 2s
    down_after: 100
  smarthost:
    smarthosts: ["127.0.0.1:@GOOD@"]
  shortlived:
    smarthosts: ["127.0.0.1:@CLOSED@"]
    retry: {{initial: 1s, max: 1s, jitter: 0}}
    expiry: 4s
    down_after: 100
  bounces:
    smarthosts: ["127.0.0.1:@NDR@"]
domains:
  acme.example: {{connector: partner, mode: internal_relay, tenant: acme}}
  good.example: smarthost
  gone.example: shortlived
  client.test: bounces
"""

BODY = "Subject: dashboard test\r\nMessage-ID: <dash@client.test>\r\n\r\nhello\r\n"


def send(port, rcpts, sender="alice@client.test"):
    """One message to rcpts; its queue id."""
    return ops_send(port, rcpts, sender=sender, body=BODY)[0]


def rcpt(port, addr):
    """The (code, text) of RCPT TO:<addr> in a fresh session."""
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
        s.ehlo("client.test")
        s.mail("alice@client.test")
        code, msg = s.rcpt(addr)
        return code, msg.decode()


def trace_config_ok():
    """Does this sluiced know the message trace (trace: in the config)?"""
    d = Sluiced(config=CONFIG_HEAD + "trace: {{}}\n")
    p = subprocess.run([os.path.join(BUILD, "sluiced"), "-t", "-c", d.config],
                       capture_output=True, text=True, timeout=30)
    shutil.rmtree(d.dir, ignore_errors=True)
    return p.returncode == 0


class Relay:
    """sluiced with the dashboard's listener (write on unless asked; more
    lines of its http: section in http), the sinks, and the closed port."""

    def __init__(self, test, write=True, trace=False, http=""):
        self.test = test
        self.good = Sink(keep=True)
        test.addCleanup(self.good.stop)
        self.ndr = Sink(keep=True)
        test.addCleanup(self.ndr.stop)
        self.closed_port = free_port()
        self.http_port = free_port()
        while self.http_port in (self.closed_port, self.good.port, self.ndr.port):
            self.http_port = free_port()
        text = (CONFIG.replace("  static_dir: @WWW@\n", "  static_dir: @WWW@\n" + http)
                .replace("@HTTP@", str(self.http_port))
                .replace("@WRITE@", "true" if write else "false")
                .replace("@WWW@", WWW).replace("@TRACE@", "trace: {{}}" if trace else "")
                .replace("@CLOSED@", str(self.closed_port))
                .replace("@GOOD@", str(self.good.port)).replace("@NDR@", str(self.ndr.port)))
        self.r = Sluiced(workers=2, config=text)
        with open(os.path.join(self.r.dir, "http.token"), "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(os.path.join(self.r.dir, "http.token"), 0o600)
        with open(os.path.join(self.r.dir, "acme.txt"), "w") as f:
            f.write("alice@acme.example\nbob@acme.example\n")
        self.r.start()
        test.addCleanup(self.r.stop)
        wait_for(lambda: "http: listening" in self.r.log(), what="the HTTP listener")
        self.sock = os.path.join(self.r.dir, "sluice.sock")

    @property
    def port(self):
        return self.r.port

    def url(self, frag=""):
        return "http://127.0.0.1:%d/%s" % (self.http_port, frag)

    def ctl(self, *args):
        """sluicectl --json args: the JSON answer."""
        p = subprocess.run([SLUICECTL, "--socket", self.sock, "--json"] + list(args),
                           capture_output=True, text=True, timeout=60)
        self.test.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def api(self, path):
        """GET /api/v1/path: (status, JSON)."""
        try:
            with urllib.request.urlopen(self.url("api/v1/" + path), timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())


def _missing():
    """Why the browser cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "python3-selenium is not installed (for %s)" % sys.executable
    for path, pkg in ((CHROMIUM, "chromium"), (DRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return "%s is not installed (%s)" % (pkg, path)
    return None


def need_browser():
    """Skip (fail on CI) when Chromium, its driver or Selenium is missing."""
    why = _missing()
    if why is None:
        return
    if os.environ.get("CI"):
        raise AssertionError("browser tests: %s; scripts/deps.sh installs it" % why)
    raise unittest.SkipTest("no headless browser: %s (apt-get install chromium "
                            "chromium-driver python3-selenium)" % why)


class Browser:
    """Headless Chromium with a window of width x height CSS pixels."""

    def __init__(self, width=1280, height=800):
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
        o = Options()
        o.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--hide-scrollbars", "--force-color-profile=srgb", "--lang=en-US",
                  "--window-size=%d,%d" % (width, height)):
            o.add_argument(a)
        o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.d = webdriver.Chrome(service=Service(DRIVER), options=o)
        self.d.set_page_load_timeout(30)
        self.size(width, height)

    def size(self, width, height):
        """The viewport, exactly (the window's own size includes nothing)."""
        self.width, self.height = width, height
        self.d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def quit(self):
        self.d.quit()

    def open(self, url):
        self.d.get(url)

    def find(self, css):
        """The visible elements matching css (none while the live refresh
        redraws them)."""
        try:
            return [e for e in self.d.find_elements("css selector", css) if e.is_displayed()]
        except Exception:	# one went stale between the two calls
            return []

    def poll(self, get, what, timeout):
        """wait_for(get), with a screenshot of the page when it times out."""
        try:
            return wait_for(get, timeout, step=0.2, what=what)
        except AssertionError as e:
            raise AssertionError("%s (the page: %s)" % (e, self.shot("failed", full=False)))

    def wait(self, css, text=None, timeout=20):
        """The first visible element matching css (and containing text), once
        there is one."""
        def get():
            for e in self.find(css):
                try:
                    if text is None or text in e.text:
                        return e
                except Exception:	# redrawn by the live refresh meanwhile
                    pass
            return None
        return self.poll(get, "%s%s on the page" % (css, " with %r" % text if text else ""),
                         timeout)

    def texts(self, css):
        """The text of each visible element matching css, read in one go
        (the live refresh may redraw an element between two calls)."""
        return self.d.execute_script(
            "return [...document.querySelectorAll(arguments[0])]"
            ".filter((e) => e.getClientRects().length).map((e) => e.innerText)", css)

    def wait_text(self, css, text=None, timeout=20):
        """The text of the first visible element matching css (and
        containing text), once there is one."""
        def get():
            return next((t for t in self.texts(css) if text is None or text in t), None)
        return self.poll(get, "%s%s on the page" % (css, " with %r" % text if text else ""),
                         timeout)

    def click(self, css, text=None, timeout=20):
        """Click the element css (with text), retrying while the page redraws
        it under the pointer."""
        def go():
            try:
                self.wait(css, text, timeout=2).click()
                return True
            except Exception:
                return False
        wait_for(go, timeout, step=0.2, what="a click on %s" % css)

    def dialog_button(self, label):
        self.click("dialog[open] .dialog-buttons button", label)

    def give_token(self, token=TOKEN):
        """Answer the token dialog."""
        box = self.wait("dialog[open] #token-input")
        box.send_keys(token)
        self.dialog_button("Continue")

    def text(self):
        return self.d.find_element("css selector", "body").text

    def shot(self, name, full=True):
        """build/screenshots/<name>.png of the page (whole, or the viewport)."""
        os.makedirs(SHOTS, exist_ok=True)
        path = os.path.join(SHOTS, name + ".png")
        h = self.height
        if full:
            h = max(self.height, self.d.execute_script(
                "return document.documentElement.scrollHeight"))
            self.size(self.width, h)
            time.sleep(0.3)
        self.d.save_screenshot(path)
        if full:
            self.size(self.width, self.height)
        return path

    def js_errors(self):
        """Errors of the page's scripts since the last call: an API answer
        refused on purpose (a 404, a 403) is a failed resource load, not
        one of these."""
        return [e["message"] for e in self.d.get_log("browser")
                if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]]
