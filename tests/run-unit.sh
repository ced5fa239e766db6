#!/bin/sh
# Run every Criterion test binary given; each prints its own summary.
# Exit non-zero if any failed.  Sums them into one final line.
# $RUN, when set, runs each (make portability: RUN="qemu-x86_64 -cpu qemu64").
fail=0; passed=0; failed=0
for t in "$@"; do
  out=$(${RUN:-} "$t" --jobs 2 2>&1); rc=$?
  echo "$out" | tail -n 1 | sed "s|^|$(basename "$t"): |"
  [ $rc -ne 0 ] && { echo "$out" | grep -v '^\[----\]' | head -40; fail=1; }
  p=$(echo "$out" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p' | tail -1)
  f=$(echo "$out" | sed -n 's/.*Failing: \([0-9]*\).*/\1/p' | tail -1)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  [ $rc -ne 0 ] && [ "${f:-0}" = 0 ] && failed=$((failed + 1))
done
echo "unit: $passed passed, $failed failed"
exit $fail
