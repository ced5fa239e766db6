#!/bin/bash
# Control-socket cost: relay throughput with `show stats json` queried 100
# times a second (one persistent socket connection) against the same load
# without it, alternating REPEAT pairs in one run.
cd "$(dirname "$0")/.." || exit 1
. bench/lib.sh
enter_netns "$@"
N=${N:-30000}; REPEAT=${REPEAT:-3}
WORK=$(mktemp -d /tmp/sluice-bench.XXXXXX)
OUT=$RESULTS/ctl-$(date +%Y%m%d-%H%M%S).txt
trap 'kill $QP 2>/dev/null; sluiced_stop; sink_stop; rm -rf "$WORK"' EXIT
QP=""
sink_start
sluiced_start
bench_client 2000 10 10 1024 >/dev/null
for i in $(seq "$REPEAT"); do
  r=$(bench_client "$N" 50 10 1024); say "quiet: $r"; echo "$r" | awk '{print $1}' >> "$WORK/q"
  python3 - "$WORK/var/sluice.sock" > "$WORK/queries" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rb")
n, t0 = 0, time.time()
while True:
    s.sendall(b"show stats json\n")
    while f.readline() not in (b"\n", b""):
        pass
    n += 1
    time.sleep(max(0, t0 + n / 100.0 - time.time()))
    if n % 100 == 0:
        print(n, flush=True)
PY
  QP=$!
  sleep 1
  r=$(bench_client "$N" 50 10 1024); say "queried 100/s: $r ($(tail -1 "$WORK/queries") queries so far)"
  echo "$r" | awk '{print $1}' >> "$WORK/s"
  kill $QP; wait $QP 2>/dev/null; QP=""
done
q=$(median < "$WORK/q"); s=$(median < "$WORK/s")
say "RESULT ctl: relay intake $q msg/s quiet, $s msg/s with show stats json 100/s: $(awk -v a="$q" -v b="$s" 'BEGIN{printf "%.1f", (a-b)*100/a}') % lower (median of $REPEAT pairs)"
