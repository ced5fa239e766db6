#!/bin/sh
# `make bench`: every benchmark, each against Postfix on this machine in the
# same run, results appended to bench/results/.  WHAT="intake relay" limits.
cd "$(dirname "$0")/.." || exit 1
for w in ${WHAT:-intake relay source sizes slow tls tenants ctl cluster}; do
  echo "== $w"
  ./bench/$w.sh || exit 1
done
