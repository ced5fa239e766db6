#!/usr/bin/env python3
"""Run every tests/integration/test_*.py (unittest) and print a final
"N passed, N failed" line.  TESTS="substring ..." limits which tests run
(a test runs when its id holds any of them).
`run.py DIR LABEL` runs the test_*.py of another folder (tests/package)."""
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main(here=HERE, label="integration"):
    if here != HERE:
        sys.path.insert(0, here)
    loader = unittest.TestLoader()
    suite = loader.discover(here, pattern="test_*.py", top_level_dir=here)
    only = os.environ.get("TESTS", "").split()	# substrings, any of them
    flat = []

    def walk(s):
        for t in s:
            if isinstance(t, unittest.TestSuite):
                walk(t)
            elif not only or any(o in t.id() for o in only):
                flat.append(t)
    walk(suite)
    t0 = time.time()
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(unittest.TestSuite(flat))
    failed = len(result.failures) + len(result.errors)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    print("%s: %d passed, %d failed, %d skipped in %.0fs"
          % (label, passed, failed, skipped, time.time() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) == 3:
        sys.exit(main(os.path.abspath(sys.argv[1]), sys.argv[2]))
    sys.exit(main())
