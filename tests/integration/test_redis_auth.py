"""redis: password (issue 11): against a redis-server started with
requirepass, the right password brings the cluster link up, a wrong one or
none keeps it down with Redis's reason, and the password never reaches the
log or the control socket's answers."""
import json
import os
import subprocess

from harness import BUILD, Sluiced, TestCase, wait_for
from test_tenants import Redis

SLUICECTL = os.path.join(BUILD, "sluicectl")
SECRET = "s3cret: with spaces"


class RedisAuthTest(TestCase):
    def setUp(self):
        super().setUp()
        self.redis = Redis(args=["--requirepass", SECRET])
        self.cleanup.append(self.redis.stop)

    def relay(self, password_line):
        extra = ("tenants:\n  acme: {invalid_recipient_quota: 10}\n"
                 "redis:\n  host: 127.0.0.1\n  port: %d\n%s" % (self.redis.port, password_line))
        r = Sluiced(extra=extra, domains_extra="  acme.example: {connector: sink, "
                    "tenant: acme}")
        r.start()
        self.cleanup.append(r.stop)
        return r

    def tenants(self, r):
        out = subprocess.run([SLUICECTL, "--socket", os.path.join(r.dir, "sluice.sock"),
                              "--json", "show", "tenants"], capture_output=True, text=True,
                             timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertNotIn(SECRET, out.stdout)
        return json.loads(out.stdout)

    def test_password_accepted(self):
        r = self.relay('  password: "%s"\n' % SECRET)
        wait_for(lambda: self.tenants(r)["cluster"] == "redis up", 10, what="redis up")
        self.assertNotIn(SECRET, r.log())

    def test_wrong_or_missing_password(self):
        for line, why in (('  password: "not it"\n', "AUTH"), ("", "NOAUTH")):
            r = self.relay(line)
            t = wait_for(lambda: (lambda t: t if t["cluster_error"] else None)(self.tenants(r)),
                         10, what="the reason redis is down")
            self.assertEqual(t["cluster"], "redis down")
            self.assertIn(why, t["cluster_error"])
            self.assertNotIn("not it", t["cluster_error"])
            self.assertNotIn("not it", r.log())
            r.stop()
