"""show config (postconf, issue 11) and set log-level.

show config is the configuration the workers run as sluiced parsed it,
defaults included and marked; "changed" only what differs from them;
"defaults" those alone; JSON the same tree.  The YAML is accepted back by
sluiced -t, and a second sluiced started from it shows the same
configuration.  set log-level changes what is logged at once."""
import json
import os
import shutil
import subprocess
import unittest

from harness import CONFIG_HEAD, SLUICED, Proc, Sluiced, free_port, wait_for
from ops_helpers import SLUICECTL, send, sluicectl

CONFIG = CONFIG_HEAD + """\
resolvers: ["127.0.0.1:53"]
postmaster: postmaster@relay.test
quota_window: 2h
ndr_return_max: 64K
cert_expiry_warning: 7d
limits:
  message_size: 5M
  client_exempt: []
  idle_timeout: 90s
tenants:
  acme:
    directory: {dir}/acme.txt
    invalid_recipient_quota: 7
connectors:
  hub:
    smarthosts: ["127.0.0.1:{sink_port}", "[::1]:2526"]
    retry: {{initial: 30s, max: 1h}}
    delay_warning: 4h
    cert_expiry_warning: 30d
    tls: opportunistic
  internet:
    mx: true
    mx_port: 2525
    tls: verify
    tls_domain: mx.example.net
    enabled: false
domains:
  acme.test: {{connector: hub, mode: authoritative, tenant: acme}}
  relay.test: hub
  "*": internet
"""


class ShowConfigTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.r = Sluiced(workers=2, config=CONFIG)
        with open(os.path.join(self.r.dir, "acme.txt"), "w") as f:
            f.write("bob@acme.test\n")
        self.r.start()
        self.addCleanup(self.r.stop)
        self.sock = os.path.join(self.r.dir, "sluice.sock")
        wait_for(lambda: os.path.exists(self.sock), what="control socket")

    def ctl(self, *args, sock=None, check=True, user=None):
        p = sluicectl(sock or self.sock, *args, user=user)
        if check:
            self.assertEqual(p.returncode, 0, "%s: %s" % (args, p.stderr))
        return p

    def js(self, *args, sock=None):
        return json.loads(self.ctl("--json", *args, sock=sock).stdout)

    def check_file(self, text):
        path = os.path.join(self.r.dir, "shown.yaml")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([SLUICED, "-t", "-c", path], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr + "\n" + text)
        return path

    def test_show_config(self):
        full = self.js("show", "config")
        c = full["config"]
        self.assertEqual(full["source"], self.r.config)
        self.assertEqual((c["workers"], c["hostname"]), (2, "relay.test"))
        self.assertEqual(c["listen"], ["127.0.0.1:%d" % self.r.port])
        self.assertEqual(c["resolvers"], ["127.0.0.1:53"])
        self.assertEqual(c["limits"]["message_size"], 5 << 20)
        self.assertEqual(c["limits"]["idle_timeout"], 90)
        self.assertEqual(c["limits"]["data_spill"], 256 << 10)	# a default
        self.assertEqual(c["limits"]["client_exempt"], [])
        self.assertEqual(c["ndr_return_max"], 64 << 10)
        self.assertEqual(c["tenants"]["acme"]["invalid_recipient_quota"], 7)
        hub = c["connectors"]["hub"]
        self.assertEqual(hub["smarthosts"], ["127.0.0.1:%d" % self.r.sink_port, "[::1]:2526"])
        self.assertEqual(hub["retry"], {"initial": 30, "max": 3600, "jitter": 10})
        self.assertEqual((hub["tls"], hub["delay_warning"], hub["tls_ca"]),
                         ("opportunistic", 4 * 3600, None))
        inet = c["connectors"]["internet"]
        self.assertEqual((inet["mx"], inet["mx_port"], inet["enabled"], inet["tls_domain"]),
                         (True, 2525, False, "mx.example.net"))
        self.assertNotIn("smarthosts", inet)
        # the warning: the top level's, an entry's own, none for MX routing
        self.assertEqual((c["cert_expiry_warning"], hub["cert_expiry_warning"],
                          inet["cert_expiry_warning"]), (7 * 86400, 30 * 86400, 0))
        self.assertIn("connectors.internet.cert_expiry_warning", full["defaults"])
        self.assertNotIn("connectors.hub.cert_expiry_warning", full["defaults"])
        self.assertNotIn("cert_expiry_warning", full["defaults"])
        self.assertEqual(c["domains"], {
            "acme.test": {"connector": "hub", "mode": "authoritative", "tenant": "acme"},
            "relay.test": "hub", "*": "internet"})
        self.assertIn("limits.data_spill", full["defaults"])
        self.assertIn("connectors.hub.retry.jitter", full["defaults"])
        self.assertNotIn("limits.message_size", full["defaults"])

        changed = self.js("show", "config", "changed")
        self.assertNotIn("defaults", changed)
        cc = changed["config"]
        self.assertEqual(cc["limits"], {"message_size": 5 << 20, "client_exempt": [],
                                        "idle_timeout": 90})
        self.assertEqual(cc["connectors"]["hub"]["retry"], {"initial": 30, "max": 3600})
        self.assertNotIn("spool_segment_size", cc)
        self.assertNotIn("tls", cc)
        dflt = self.js("show", "config", "defaults")["config"]
        self.assertEqual(dflt["limits"]["message_size"], 10 << 20)
        self.assertEqual(dflt["connectors"]["(every connector)"]["retry"],
                         {"initial": 60, "max": 900, "jitter": 10})
        self.assertEqual(dflt["connectors"]["(every connector)"]["cert_expiry_warning"],
                         14 * 86400)
        self.assertEqual(dflt["cert_expiry_warning"], 14 * 86400)
        self.assertNotIn("listen", dflt)

        # the text: YAML that sluiced accepts, defaults marked
        text = self.ctl("show", "config").stdout
        self.assertIn("\nspool_segment_size: 64M  # default\n", text)
        self.assertIn("\n  message_size: 5M\n", text)
        self.assertIn('\n  "*": internet\n', text)
        self.assertIn("\n    tls: opportunistic\n", text)
        self.assertIn("\ncert_expiry_warning: 7d\n", text)
        self.assertIn("\n    cert_expiry_warning: 30d\n", text)
        self.assertIn("\n    cert_expiry_warning: 0s  # default\n", text)
        self.assertIn("# tls: (not set: no STARTTLS offered)", text)
        self.assertNotIn("\n\n", text)
        self.check_file(text)
        ctext = self.ctl("show", "config", "changed").stdout
        self.assertNotIn("# default", ctext)
        self.assertNotIn("spool_segment_size", ctext)
        self.check_file(ctext)

        # a second sluiced from what was shown runs the same configuration
        other = os.path.join(self.r.dir, "second")
        os.mkdir(other)
        port = free_port()
        text2 = (ctext.replace(self.r.dir + "/spool", other + "/spool")
                 .replace(self.r.dir + "/sluice.sock", other + "/sluice.sock")
                 .replace("127.0.0.1:%d\"]\nspool" % self.r.port, "127.0.0.1:%d\"]\nspool" % port))
        path = self.check_file(text2)
        p = Proc([SLUICED, "-c", path], other, "sluiced.log")
        self.addCleanup(p.stop)
        sock2 = os.path.join(other, "sluice.sock")
        wait_for(lambda: os.path.exists(sock2) or not p.alive(), 20, what="second sluiced")
        self.assertTrue(p.alive(), p.log())
        second = self.js("show", "config", sock=sock2)
        for k in ("listen", "spool", "control_socket"):
            del second["config"][k]
            del full["config"][k]
        self.assertEqual(second["config"], full["config"])
        self.assertEqual(second["defaults"], full["defaults"])

        # a user who may only read sees it too
        if os.geteuid() == 0 and shutil.which("setpriv"):
            os.chmod(self.r.dir, 0o711)
            os.chmod(self.sock, 0o666)
            self.assertEqual(self.ctl("show", "config", user=65534).stdout, text)

    def test_bad_words(self):
        for args in (("show", "config", "bogus"), ("show", "config", "changed", "x"),
                     ("show", "config", "x" * 3000)):
            p = self.ctl(*args, check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn("usage: show config [changed|defaults]", p.stderr)
            self.assertEqual(p.stdout, "")
        self.assertTrue(self.r.proc.alive())


class SetLogLevelTest(unittest.TestCase):

    def setUp(self):
        self.r = Sluiced(workers=1)
        self.r.start()
        self.addCleanup(self.r.stop)
        self.sock = os.path.join(self.r.dir, "sluice.sock")
        wait_for(lambda: os.path.exists(self.sock), what="control socket")

    def ctl(self, *args, check=True, user=None):
        p = sluicectl(self.sock, *args, user=user)
        if check:
            self.assertEqual(p.returncode, 0, "%s: %s" % (args, p.stderr))
        return p

    def test_levels(self):
        r = self.r
        self.assertEqual(self.ctl("set", "log-level", "error").stdout,
                         "log level error (was info), until a reload or restart sets the "
                         "configuration's\n")
        self.assertIn("control: log level error (was info)", r.log())
        n = r.log().count("control: uid")
        self.ctl("flush")			# an info line: not written now
        send(r.port, ["a@example.test"])
        self.assertEqual(r.log().count("control: uid"), n)
        self.assertEqual(json.loads(self.ctl("--json", "set", "log-level", "info").stdout),
                         {"log_level": "info", "was": "error"})
        self.ctl("flush")
        wait_for(lambda: r.log().count("control: uid") > n, what="info lines again")
        self.ctl("set", "log-level", "debug")
        self.ctl("set", "log-level", "warn")
        self.assertIn("control: log level warn (was debug)", r.log())
        for args in (("set", "log-level"), ("set", "log-level", "verbose"),
                     ("set", "log-level", "DEBUG"), ("set", "log-level", "debug", "x"),
                     ("set", "log-level", "d" * 4000)):
            p = self.ctl(*args, check=False)
            self.assertEqual(p.returncode, 1, args)
            self.assertTrue("usage: set log-level debug|info|warn|error" in p.stderr or
                            "command longer than" in p.stderr, p.stderr)
        if os.geteuid() == 0 and shutil.which("setpriv"):
            os.chmod(r.dir, 0o711)
            os.chmod(self.sock, 0o666)
            p = self.ctl("set", "log-level", "debug", user=65534, check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn("permission denied: uid 65534 may not run 'set log-level'", p.stderr)
            self.assertNotIn("log level debug (was warn)", r.log())
        self.assertTrue(r.proc.alive())



class ShowConfigServiceKeysTest(unittest.TestCase):
    """The keys of the service side of issue 11: control_group, log:, the
    TLS versions and ciphers, and the Redis password, which is never shown."""

    def test_service_keys(self):
        redis_port = free_port()
        r = Sluiced(workers=1, config=CONFIG_HEAD + """\
control_group: root
log: {{level: debug}}
redis: {{host: 127.0.0.1, port: %d, password: "s3cret-pw"}}
connectors:
  hub:
    smarthosts: ["127.0.0.1:{sink_port}"]
    tls: required
    tls_min_version: 1.3
    tls_ciphersuites: TLS_AES_128_GCM_SHA256
domains:
  relay.test: hub
""" % redis_port)
        r.start()
        self.addCleanup(r.stop)
        sock = os.path.join(r.dir, "sluice.sock")
        wait_for(lambda: os.path.exists(sock), what="control socket")
        js = json.loads(sluicectl(sock, "--json", "show", "config").stdout)
        c = js["config"]
        self.assertEqual(c["control_group"], "root")
        self.assertEqual(c["log"], {"to": "stderr", "format": "text", "level": "debug"})
        self.assertEqual(c["redis"]["password"], "(set)")
        hub = c["connectors"]["hub"]
        self.assertEqual((hub["tls_min_version"], hub["tls_ciphersuites"], hub["tls_ciphers"]),
                         ("1.3", "TLS_AES_128_GCM_SHA256", None))
        self.assertIn("log.format", js["defaults"])
        for args in (("show", "config"), ("show", "config", "changed"), ("--json", "show", "config")):
            out = sluicectl(sock, *args).stdout
            self.assertNotIn("s3cret", out)
        text = sluicectl(sock, "show", "config", "changed").stdout
        self.assertIn("\n  # password: (set, not shown)\n", text)
        self.assertIn("\nlog:\n  level: debug\n", text)
        self.assertNotIn("format: text", text)
        path = os.path.join(r.dir, "shown.yaml")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([SLUICED, "-t", "-c", path], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

        # control_group: a member (and only through the group) may read, not change
        st = os.stat(sock)
        self.assertEqual((st.st_gid, st.st_mode & 0o777), (0, 0o660))
        if os.geteuid() == 0 and shutil.which("setpriv"):
            os.chmod(r.dir, 0o711)
            member = ["setpriv", "--reuid=65534", "--regid=65534", "--groups=0"]
            stranger = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
            p = subprocess.run(member + [SLUICECTL, "--socket", sock, "show", "queue"],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("(0 messages)", p.stdout)
            p = subprocess.run(member + [SLUICECTL, "--socket", sock, "hold", "all"],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 1)
            self.assertIn("permission denied: uid 65534 may not run 'hold'", p.stderr)
            p = subprocess.run(stranger + [SLUICECTL, "--socket", sock, "show", "info"],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 2)		# not in the group: no connection
            self.assertIn("refused (changes need root", r.log())


if __name__ == "__main__":
    unittest.main()
