#!/bin/bash
# Tenants: (1) a config of TENANTS tenants with ADDRS addresses each in
# their directories (1,000,000 entries by default) loaded by `sluiced -t`:
# wall time and peak RSS; (2) the cost of the recipient check and counter
# update on intake: the same load into an authoritative domain (every
# recipient checked against a 1,000,000-entry directory) and into an
# internal-relay domain, same run, as a ratio.
cd "$(dirname "$0")/.." || exit 1
. bench/lib.sh
enter_netns "$@"
TENANTS=${TENANTS:-10000}; ADDRS=${ADDRS:-100}; N=${N:-30000}; REPEAT=${REPEAT:-3}
WORK=$(mktemp -d /tmp/sluice-bench.XXXXXX)
OUT=$RESULTS/tenants-$(date +%Y%m%d-%H%M%S).txt
trap 'sluiced_stop; sink_stop; rm -rf "$WORK"' EXIT

python3 - "$WORK" "$TENANTS" "$ADDRS" <<'PY'
import os, sys
work, nt, na = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(work + "/dirs", exist_ok=True)
with open(work + "/big.yaml", "w") as y:
    y.write('listen: ["127.0.0.1:2525"]\nspool: ./var/spool\ncontrol_socket: ./var/sluice.sock\n'
            'connectors:\n  default:\n    smarthosts: ["127.0.0.1:2526"]\ntenants:\n')
    for t in range(nt):
        p = "%s/dirs/t%d.txt" % (work, t)
        with open(p, "w") as f:
            f.write("".join("user%d@t%d.example\n" % (a, t) for a in range(na)))
        y.write("  t%d: {directory: %s, invalid_recipient_quota: 1000000}\n" % (t, p))
    y.write("domains:\n  example.test: {connector: default, mode: authoritative, tenant: t0}\n")
    for t in range(nt):
        y.write("  t%d.example: {connector: default, mode: authoritative, tenant: t%d}\n" % (t, t))
PY
# example.test's directory must know the bench's recipient
echo "rcpt@example.test" >> "$WORK/dirs/t0.txt"
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null
/usr/bin/time -f "%e %M" -o "$WORK/time" "$B/sluiced" -t -c "$WORK/big.yaml" > /dev/null || exit 1
read -r secs kib < "$WORK/time"
say "RESULT tenants load: $TENANTS tenants, $((TENANTS * ADDRS)) directory entries, $((TENANTS + 1)) domains: loaded and checked in $secs s (cold cache), peak RSS $((kib / 1024)) MiB"

# recipient check cost: authoritative (directory lookup + counter) vs internal relay
sed 's/example.test: {connector: default, mode: authoritative, tenant: t0}/example.test: {connector: default, mode: internal_relay, tenant: t0}/' \
  "$WORK/big.yaml" > "$WORK/relay.yaml"
sink_start
for i in $(seq "$REPEAT"); do
  for mode in authoritative relay; do
    cfg=$WORK/big.yaml; [ $mode = relay ] && cfg=$WORK/relay.yaml
    sluiced_start -c "$cfg"
    r=$(bench_client "$N" 50 10 1024)
    sluiced_stop
    echo "$r" | awk '{print $1}' >> "$WORK/$mode"
    say "$mode: $r (msg/s p50 p99 p999 ok)"
  done
done
a=$(median < "$WORK/authoritative"); b=$(median < "$WORK/relay")
say "RESULT tenants intake cost: authoritative $a msg/s, internal relay $b msg/s (median of $REPEAT): the check costs $(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.1f", (b-a)*100/b}') % (noise on this machine is several %)"
