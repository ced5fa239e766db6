#!/bin/bash
# 10,000 concurrent outbound deliveries to a slow sink (every reply 1 s
# late): peak concurrent connections to the sink, sluiced's peak RSS, and
# the time until all were delivered.  Knobs: SLOW_N, SLOW_MS.
cd "$(dirname "$0")/.." || exit 1
. bench/lib.sh
enter_netns "$@"
SLOW_N=${SLOW_N:-10000}; SLOW_MS=${SLOW_MS:-1000}
WORK=$(mktemp -d /tmp/sluice-bench.XXXXXX)
OUT=$RESULTS/slow-$(date +%Y%m%d-%H%M%S).txt
trap 'sluiced_stop; sink_stop; rm -rf "$WORK"' EXIT
ulimit -n 1048576 2>/dev/null || ulimit -n 65536
cat > "$WORK/slow.yaml" <<YAML
listen: ["127.0.0.1:$RELAY_PORT"]
spool: ./var/spool
limits: {client_exempt: ["127.0.0.0/8"]}   # the load generator is not an abuser
connectors:
  default:
    smarthosts: ["127.0.0.1:$SINK_PORT"]
    max_connections: $SLOW_N
    max_messages_per_connection: 1
    command_timeout: 60s
domains:
  example.test: default
YAML
say "# slow sink $(date -Is): $SLOW_N messages, sink replies ${SLOW_MS} ms late"
sink_start --mode slow=$SLOW_MS
sluiced_start -c "$WORK/slow.yaml"
t0=$(now)
"$B/sluice-bench" -H 127.0.0.1:$RELAY_PORT -n "$SLOW_N" -c 200 -m 50 -s 1024 -q >/dev/null &
BP=$!
peak=0; rss=0
while [ "$(sink_count)" -lt "$SLOW_N" ]; do
  c=$(ss -Htn state established "( dport = :$SINK_PORT )" | wc -l)
  r=$(awk '/VmRSS/{print int($2/1024)}' /proc/$SLUICED_PID/status 2>/dev/null)
  [ "$c" -gt "$peak" ] && peak=$c
  [ "${r:-0}" -gt "$rss" ] && rss=$r
  [ $(( $(date +%s) - ${t0%.*} )) -gt 300 ] && { log "timeout"; break; }
  sleep 0.2
done
t1=$(now)
wait $BP
say "RESULT slow sink: $(sink_count) of $SLOW_N delivered in $(echo "$t0 $t1" | awk '{printf "%.1f", $2-$1}') s; peak concurrent deliveries $peak; sluiced peak RSS $rss MiB"
