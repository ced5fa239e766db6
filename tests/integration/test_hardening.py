"""Build hardening, checked on the built binaries the way checksec does:
each program is a position-independent executable (ELF type DYN with the
PIE flag), fully RELRO (a GNU_RELRO segment and BIND_NOW), with a
non-executable stack, stack-protector canaries (__stack_chk_fail) and,
in release builds, fortified libc calls (__*_chk); and each thread's
static thread-local block stays small.

Sanitizer builds (BUILD=build-address-...) have no FORTIFY by design
(ASan replaces those functions); the other properties hold for them too.
Uses readelf (binutils) only.
"""
import os
import re
import shutil
import subprocess
import unittest

from harness import BUILD

PROGRAMS = ["sluiced", "sluicectl", "sluice-sink", "sluice-bench", "sluice-spoolgen"]
SANITIZED = os.path.basename(BUILD) != "build"


def readelf(*args):
    return subprocess.run(["readelf", "-W"] + list(args), check=True,
                          capture_output=True, text=True).stdout


@unittest.skipUnless(shutil.which("readelf"), "readelf (binutils) not installed")
class Hardening(unittest.TestCase):

    def programs(self):
        found = [p for p in PROGRAMS if os.path.exists(os.path.join(BUILD, p))]
        self.assertIn("sluiced", found, "build sluiced first")
        return [(p, os.path.join(BUILD, p)) for p in found]

    def test_pie(self):
        for name, path in self.programs():
            with self.subTest(name):
                self.assertRegex(readelf("-h", path), r"Type:\s+DYN\b",
                                 "%s is not position-independent" % name)
                self.assertRegex(readelf("-d", path), r"\(FLAGS_1\).*\bPIE\b",
                                 "%s: no DF_1_PIE (a shared object, not a PIE?)" % name)

    def test_full_relro(self):
        for name, path in self.programs():
            with self.subTest(name):
                dyn = readelf("-d", path)
                self.assertIn("GNU_RELRO", readelf("-l", path), "%s: no RELRO" % name)
                self.assertTrue(re.search(r"\(FLAGS\).*\bBIND_NOW\b", dyn) or
                                re.search(r"\(FLAGS_1\).*\bNOW\b", dyn) or
                                re.search(r"\(BIND_NOW\)", dyn),
                                "%s: partial RELRO only (no BIND_NOW)" % name)

    def test_small_thread_locals(self):
        """Every thread gets (and zeroes) the static thread-local block:
        the wolfSSL built with its thread-local ECC caches had 1.4 MB of it,
        more than the HTTP listener's 256 KiB thread stacks hold."""
        for name, path in self.programs():
            with self.subTest(name):
                m = re.search(r"^\s*TLS\s+(?:0x[0-9a-f]+\s+){4}(0x[0-9a-f]+)",
                              readelf("-l", path), re.M)
                size = int(m.group(1), 16) if m else 0
                self.assertLess(size, 64 << 10, "%s: %d bytes of static thread-local "
                                "storage per thread" % (name, size))

    def test_stack_not_executable(self):
        for name, path in self.programs():
            with self.subTest(name):
                m = re.search(r"^\s*GNU_STACK\s.*\s(R?W?E?)\s+0x[0-9a-f]+$",
                              readelf("-l", path), re.M)
                self.assertIsNotNone(m, "%s: no GNU_STACK header" % name)
                self.assertNotIn("E", m.group(1), "%s: executable stack" % name)

    def imports(self, path):
        return set(re.findall(r"\b(__\w+_chk|__stack_chk_fail)\b", readelf("--dyn-syms", path)))

    def test_stack_protector(self):
        for name, path in self.programs():
            with self.subTest(name):
                self.assertIn("__stack_chk_fail", self.imports(path),
                              "%s: built without -fstack-protector" % name)

    @unittest.skipIf(SANITIZED, "FORTIFY is off in sanitizer builds")
    def test_fortified(self):
        for name, path in self.programs():
            with self.subTest(name):
                chk = self.imports(path) - {"__stack_chk_fail"}
                self.assertTrue(chk, "%s: no fortified calls (__*_chk): _FORTIFY_SOURCE "
                                "missing or -O0" % name)
        # the daemon's formatting and copying go through the checked versions
        chk = self.imports(os.path.join(BUILD, "sluiced"))
        for f in ("__snprintf_chk", "__memcpy_chk"):
            self.assertIn(f, chk)


if __name__ == "__main__":
    unittest.main()
