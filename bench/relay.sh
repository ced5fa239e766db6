#!/bin/bash
# End-to-end relay: sluice-bench -> relay on :2525 -> sluice-sink on :2526,
# 1 KiB, 1 recipient, 50 inbound sessions x 10 messages; delivered msg/s =
# N / (time until the sink counted N), for sluiced and Postfix in one run.
# Then outage recovery: OUTAGE_N messages queued while the sink is down,
# the time from the sink's return to the last delivery.
# CPU: us per delivered message of the relay (sluiced's /proc/PID/stat;
# Postfix's master with its live and reaped daemons), the sink and the
# load generator, over each measured run.
# Knobs: N, N_POSTFIX, REPEAT, OUTAGE_N, SKIP_POSTFIX, SKIP_OUTAGE; TRACE=1
# runs the relay with the message trace on (trace: {} added to the
# built-in configuration), for the trace on/off comparison; HTTP_POLL=1
# runs it with its HTTP listener and polls /metrics and /api/v1/connectors
# every 0.5 s while it relays (the cost of being watched).
cd "$(dirname "$0")/.." || exit 1
. bench/lib.sh
if [ -z "${SKIP_POSTFIX:-}" ] && [ "$(id -u)" = 0 ] && [ "${BENCH_NETNS:-}" != 1 ]; then
  postfix_install || { log "cannot install postfix: set SKIP_POSTFIX=1"; exit 1; }
fi
enter_netns "$@"
N=${N:-50000}; N_POSTFIX=${N_POSTFIX:-10000}; REPEAT=${REPEAT:-3}; OUTAGE_N=${OUTAGE_N:-100000}
WORK=$(mktemp -d /tmp/sluice-bench.XXXXXX)
OUT=$RESULTS/relay-$(date +%Y%m%d-%H%M%S).txt
trap '[ -n "${POLL_PID:-}" ] && kill "$POLL_PID"; sluiced_stop; sink_stop; [ -n "${PF:-}" ] && postfix_stop; rm -rf "$WORK"' EXIT

# one run: inject n with sluice-bench, wait for the sink; prints "delivered
# injected relay sink load": msg/s, then CPU us per message of the relay
# (PID $2 with its children, cpu_tree_us), the sink and sluice-bench.
relay_run() {   # $1 n, $2 relay pid
  local base t0 r t1 c0 c1 s0 s1
  base=$(sink_count); c0=$(cpu_tree_us "$2"); s0=$(cpu_tree_us "$SINK_PID"); t0=$(now)
  r=$(bench_client "$1" 50 10 1024)
  t1=$(sink_wait $((base + $1)) 300) || { echo "0 0 0 0 0"; return; }
  c1=$(cpu_tree_us "$2"); s1=$(cpu_tree_us "$SINK_PID")
  echo "$1 $t0 $t1 $r $c0 $c1 $s0 $s1" | awk '{n = $1
    printf "%.0f %.0f %.1f %.1f %.1f\n", n/($3-$2), $4, ($11-$10)/n, ($13-$12)/n, $9*1e6/n}'
}
RUN_WORDS="delivered/injected msg/s, CPU us/msg of relay/sink/sluice-bench"

# HTTP_POLL: a poller of the HTTP listener (at most 1 h)
http_poll() {
  python3 - "$1" <<'PY' &
import sys, time, urllib.request
base, n, t0 = "http://127.0.0.1:%s" % sys.argv[1], 0, time.time()
while time.time() - t0 < 3600:
    for p in ("/metrics", "/api/v1/connectors"):
        try:
            urllib.request.urlopen(base + p, timeout=5).read()
            n += 1
        except OSError:
            pass
    time.sleep(0.5)
PY
  POLL_PID=$!
}
TRACE=${TRACE:-0}
TRACE_WORD=$([ "$TRACE" != 0 ] && echo on || echo off)
say "# relay $(date -Is) $(uname -r) $(nproc) cpus, trace $TRACE_WORD${HTTP_POLL:+, HTTP listener polled every 0.5 s}"
sink_start
if [ "$TRACE" != 0 ] || [ -n "${HTTP_POLL:-}" ] || [ -n "${LOG_LEVEL:-}" ]; then
  "$B/sluiced" -d > "$WORK/relay.yaml"
  [ -z "${LOG_LEVEL:-}" ] || echo "log: {level: $LOG_LEVEL}" >> "$WORK/relay.yaml"
  [ "$TRACE" = 0 ] || echo "trace: {}" >> "$WORK/relay.yaml"
  [ -z "${HTTP_POLL:-}" ] || printf 'http: {listen: "127.0.0.1:8025"}\n' >> "$WORK/relay.yaml"
  sluiced_start -c "$WORK/relay.yaml"
else
  sluiced_start
fi
[ -z "${HTTP_POLL:-}" ] || http_poll 8025
relay_run 2000 "$SLUICED_PID" >/dev/null
for i in $(seq "$REPEAT"); do
  r=$(relay_run "$N" "$SLUICED_PID"); say "sluiced (trace $TRACE_WORD): $RUN_WORDS: $r"
  echo "$r" | awk '{print $1}' >> "$WORK/s"; echo "$r" | awk '{print $3}' >> "$WORK/s.cpu"
done
[ -z "${POLL_PID:-}" ] || { kill "$POLL_PID" 2>/dev/null; wait "$POLL_PID" 2>/dev/null; POLL_PID=; }
say "sluiced${HTTP_POLL:+ with its HTTP listener polled}: median of $REPEAT $(median < "$WORK/s") msg/s delivered, $(median < "$WORK/s.cpu") us CPU/msg"
if [ "$TRACE" != 0 ]; then
  say "$("$B/sluicectl" --socket "$WORK/var/sluice.sock" show stats | grep '^trace:')"
  hz=$(getconf CLK_TCK)
  for t in /proc/"$SLUICED_PID"/task/*; do
    [ "$(cat "$t/comm")" = sluice-trace ] && cpu_w=$(awk -v hz="$hz" '{print ($14+$15)/hz}' "$t/stat")
  done
  cpu_all=$(awk -v hz="$hz" '{print ($14+$15)/hz}' /proc/"$SLUICED_PID"/stat)
  say "trace writer thread: ${cpu_w:-?} s of CPU of sluiced's $cpu_all s"
fi
sluiced_stop

if [ -z "${SKIP_POSTFIX:-}" ] && [ "$(id -u)" = 0 ]; then
  postfix_config || exit 1; PF=1
  postfix_start
  PF_PID=$(postfix_master_pid)
  relay_run 2000 "$PF_PID" >/dev/null
  for i in $(seq "$REPEAT"); do
    r=$(relay_run "$N_POSTFIX" "$PF_PID"); say "postfix: $RUN_WORDS: $r"
    echo "$r" | awk '{print $1}' >> "$WORK/p"; echo "$r" | awk '{print $3}' >> "$WORK/p.cpu"
  done
  postfix_stop; PF=
  s=$(median < "$WORK/s"); p=$(median < "$WORK/p")
  say "RESULT relay (median of $REPEAT, 1 KiB, 1 rcpt, 50 sessions): sluiced $s msg/s delivered, postfix $p msg/s, ratio $(awk -v a="$s" -v b="$p" 'BEGIN{printf "%.1f", a/b}')x; CPU us/msg: sluiced $(median < "$WORK/s.cpu"), postfix (master and its daemons) $(median < "$WORK/p.cpu")"
fi

# outage: the sink is down while OUTAGE_N messages queue; probes every 2-10 s
[ -n "${SKIP_OUTAGE:-}" ] && { sink_stop; log "results in $OUT"; exit 0; }
sink_stop
cat > "$WORK/outage.yaml" <<YAML
listen: ["127.0.0.1:$RELAY_PORT"]
spool: ./var/spool
limits: {client_exempt: ["127.0.0.0/8"]}   # the load generator is not an abuser
connectors:
  default:
    smarthosts: ["127.0.0.1:$SINK_PORT"]
    retry: {initial: 2s, max: 10s, jitter: 10}
    max_connections: 50
domains:
  example.test: default
YAML
sluiced_start -c "$WORK/outage.yaml"
r=$(bench_client "$OUTAGE_N" 50 100 1024)
say "outage: $OUTAGE_N queued while the sink is down (intake $(echo "$r" | awk '{print $1}') msg/s)"
sleep 3
t0=$(now)
sink_start
first=""
while [ "$(sink_count)" -lt 1 ]; do sleep 0.01; done; first=$(now)
t1=$(sink_wait "$OUTAGE_N" 600)
say "RESULT outage recovery: first message $(echo "$t0 $first" | awk '{printf "%.2f", $2-$1}') s after the sink returned (probe every 2-10 s), all $OUTAGE_N delivered after $(echo "$t0 $t1" | awk '{printf "%.2f", $2-$1}') s: $(echo "$OUTAGE_N $first $t1" | awk '{printf "%.0f", $1/($3-$2)}') msg/s drain"
sluiced_stop; sink_stop
log "results in $OUT"
