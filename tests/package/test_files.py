"""The shipped files, without building a package: /etc/sluice/sluice.yaml
parses with today's sluiced, the manual pages cover every option, command
and key and render cleanly."""
import glob
import json
import os
import re
import shutil
import tempfile
import unittest

from pkg import BUILD, CONFIG, MAN, Daemon, checkable, config_keys, run

SLUICED = os.path.join(BUILD, "sluiced")
SLUICECTL = os.path.join(BUILD, "sluicectl")


def page(name):
    """The scdoc source of a manual page, without its comment lines."""
    with open(os.path.join(MAN, name)) as f:
        return "\n".join(l for l in f.read().split("\n") if not l.startswith(";"))


def check(path):
    return run([SLUICED, "-t", "-c", checkable(path)])


class ShippedConfig(unittest.TestCase):

    def test_parses(self):
        p = check(CONFIG)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_production_places(self):
        with open(CONFIG) as f:
            text = f.read()
        for line in ("spool: /var/spool/sluice", "control_socket: /run/sluice/sluice.sock",
                     "user: sluice", "group: sluice", "log: {to: syslog",
                     "control_group: sluicectl"):
            self.assertRegex(text, "\n%s" % line)


class ManPages(unittest.TestCase):

    def test_every_config_key(self):
        text = page("sluice.yaml.5.scd").replace("\\_", "_")
        # a key is described as *key*, or shown in a mapping as key:
        missing = sorted(k for k in config_keys()
                         if "*%s*" % k not in text and "%s:" % k not in text)
        self.assertEqual(missing, [], "keys of core/config*.c not in sluice.yaml(5)")

    def test_every_sluiced_option(self):
        usage = run([SLUICED, "-h"]).stdout
        text = page("sluiced.8.scd")
        for opt in sorted(set(re.findall(r"\s(-[a-z])\b", usage))):
            self.assertIn("*%s*" % opt, text, "sluiced %s not in sluiced(8)" % opt)

    def test_every_sluicectl_command_and_option(self):
        text = page("sluicectl.8.scd")
        usage = run([SLUICECTL, "--help"]).stdout
        for opt in sorted(set(re.findall(r"(--[a-z]+)", usage))):
            self.assertIn("*%s*" % opt, text, "sluicectl %s not in sluicectl(8)" % opt)
        with Daemon(SLUICED) as d:
            p = run([SLUICECTL, "--socket", d.sock, "help", "json"])
        self.assertEqual(p.returncode, 0, p.stderr)
        commands = [c["command"] for c in json.loads(p.stdout)["commands"]]
        self.assertGreater(len(commands), 10)
        for c in commands:	# each opens an entry: *show queue* [...]
            self.assertTrue(re.search(r"(?m)^\*%s\b" % re.escape(c), text),
                            "sluicectl %s not in sluicectl(8)" % c)

    def test_render_without_warnings(self):
        if not shutil.which("scdoc") or not shutil.which("man"):
            self.skipTest("scdoc or man not installed")
        for src in sorted(glob.glob(os.path.join(MAN, "*.scd"))):
            with self.subTest(os.path.basename(src)):
                with open(src) as f:
                    roff = run(["scdoc"], stdin=f)
                self.assertEqual(roff.returncode, 0, roff.stderr)
                with tempfile.NamedTemporaryFile("w") as out:
                    out.write(roff.stdout)
                    out.flush()
                    p = run(["man", "--warnings", "-E", "UTF-8", "-l", out.name],
                            env=dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8"))
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertEqual(p.stderr.strip(), "", "warnings from man")
                self.assertIn("NAME", p.stdout)
