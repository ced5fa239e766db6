#!/bin/bash
# The cost of the edge cluster, side by side on this machine with the same
# load (sluice-bench, 1 KiB, 1 recipient, 50 sessions x 10 messages, then
# the sink counts delivered mail):
#   direct      one node, 2 workers, no Redis
#   redis       the same node with redis: and cluster: (settings polled every
#               250 ms, status published every second)
#   haproxy-1   that node behind HAProxy (mode tcp, send-proxy-v2, health
#               checks every second); haproxy-1-plain: the same without
#               the PROXY header (to tell its cost from the balancer's)
#   haproxy-3   three nodes of 1 worker each behind HAProxy, sharing Redis
# On 2 cores the point is the overhead of the balancer and the shared
# state, not scaling.  Knobs: N (messages per run, 30000), REPEAT (3).
cd "$(dirname "$0")/.." || exit 1
. bench/lib.sh
enter_netns "$@"
N=${N:-30000}; REPEAT=${REPEAT:-3}
REDIS_PORT=6391
WORK=$(mktemp -d /tmp/sluice-bench.XXXXXX)
OUT=$RESULTS/cluster-$(date +%Y%m%d-%H%M%S).txt
PIDS=""
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; sink_stop; rm -rf "$WORK"' EXIT
command -v haproxy >/dev/null || { log "haproxy is not installed (make deps)"; exit 1; }

# node NAME ADDR WORKERS REDIS(0/1) PROXY(0/1): start one sluiced
node() {
  local d="$WORK/$1" lis
  mkdir -p "$d"
  if [ "$5" = 1 ]; then
    lis="[{address: \"$2:$RELAY_PORT\", proxy_protocol: true, proxy_from: [\"127.0.0.1\"]}]"
  else
    lis="[\"$2:$RELAY_PORT\"]"
  fi
  {
    echo "listen: $lis"
    echo "workers: $3"
    echo "spool: $d/spool"
    echo "control_socket: $d/sluice.sock"
    echo "limits: {client_exempt: [\"127.0.0.0/8\"]}"
    [ "$4" = 1 ] && echo "redis: {host: 127.0.0.1, port: $REDIS_PORT}" &&
      echo "cluster: {node: $1, publish_interval: 1s, stale_after: 5s}"
    echo "connectors:"
    echo "  default: {smarthosts: [\"127.0.0.1:$SINK_PORT\"], max_connections: 50}"
    echo "domains:"
    echo "  example.test: default"
  } > "$d/sluice.yaml"
  "$B/sluiced" -c "$d/sluice.yaml" > "$d/sluiced.log" 2>&1 &
  PIDS="$PIDS $!"
}

haproxy_start() { # addresses of the nodes... (PLAIN=1: no PROXY header)
  local i=1 a
  sed -e "s/10\.0\.0\.5:25/127.0.0.1:$RELAY_PORT/" -e '/^    server /d' \
      -e "${PLAIN:+s/ send-proxy-v2 check-send-proxy//}" \
      -e 's|log /dev/log local0||' -e 's/maxconn 20000/maxconn 2000/' docs/haproxy-sluice.cfg > "$WORK/haproxy.cfg"
  for a in "$@"; do
    echo "    server edge$i $a:$RELAY_PORT" >> "$WORK/haproxy.cfg"; i=$((i + 1))
  done
  haproxy -f "$WORK/haproxy.cfg" -db > "$WORK/haproxy.log" 2>&1 &
  PIDS="$PIDS $!"
}

# CPU time per message of the case's processes (sluiced, haproxy), from
# /proc: $1 label, $2 messages the case carried
cpu_report() {
  local hz p comm t line=""
  hz=$(getconf CLK_TCK)
  for comm in sluiced haproxy; do
    t=0
    for p in $PIDS; do
      [ "$(cat /proc/"$p"/comm 2>/dev/null)" = "$comm" ] || continue
      t=$(awk -v hz="$hz" -v t="$t" '{print t + ($14+$15)/hz}' /proc/"$p"/stat)
    done
    [ "$t" = 0 ] || line="$line $comm $(awk -v t="$t" -v n="$2" 'BEGIN{printf "%.1f", t*1e6/n}') us/msg"
  done
  say "$1: CPU per message:$line"
}

stop_all() {
  for p in $PIDS; do kill "$p" 2>/dev/null; done
  for p in $PIDS; do wait_gone "$p" 60; done
  PIDS=""
  rm -rf "$WORK"/n* "$WORK"/haproxy.*
}

wait_ready() {    # $1 node name: its log says ready
  local i=0
  until grep -q " ready: " "$WORK/$1/sluiced.log" 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 300 ] && { log "$1 not ready"; return 1; }; sleep 0.1
  done
}

run_case() {      # $1 label; the relay is up on 127.0.0.1:RELAY_PORT
  local base t0 t1 r i
  : > "$WORK/m"
  bench_client 2000 50 10 1024 > /dev/null
  for i in $(seq "$REPEAT"); do
    base=$(sink_count); t0=$(now)
    r=$(bench_client "$N" 50 10 1024)
    t1=$(sink_wait $((base + N)) 300) || { say "$1: the sink did not get all $N"; return 1; }
    echo "$N $t0 $t1" | awk '{printf "%.0f\n", $1/($3-$2)}' >> "$WORK/m"
    say "$1: run $i: $(tail -1 "$WORK/m") msg/s delivered (intake $(echo "$r" | awk '{print $1}') msg/s, p99 $(echo "$r" | awk '{print $3}') ms)"
  done
  RES=$(median < "$WORK/m")
  say "$1: median of $REPEAT $RES msg/s"
  cpu_report "$1" $((2000 + REPEAT * N))
}

say "# cluster $(date -Is) $(uname -r) $(nproc) cpus, $(haproxy -v | head -1 | cut -d' ' -f1-3)"
sink_start
redis-server --port $REDIS_PORT --bind 127.0.0.1 --save "" --appendonly no \
  > "$WORK/redis.log" 2>&1 &
PIDS_REDIS=$!

node n1 127.0.0.1 2 0 0; wait_ready n1 && run_case direct; D=$RES; stop_all
node n1 127.0.0.1 2 1 0; wait_ready n1 && run_case redis; R=$RES; stop_all
node n1 127.0.0.11 2 0 1; wait_ready n1; haproxy_start 127.0.0.11
sleep 2; wait_banner $RELAY_PORT 20 && run_case haproxy-1; H1=$RES; stop_all
node n1 127.0.0.11 2 0 0; wait_ready n1; PLAIN=1 haproxy_start 127.0.0.11
sleep 2; wait_banner $RELAY_PORT 20 && run_case haproxy-1-plain; H1P=$RES; stop_all
for i in 1 2 3; do node n$i 127.0.0.1$i 1 1 1; done
for i in 1 2 3; do wait_ready n$i; done
haproxy_start 127.0.0.11 127.0.0.12 127.0.0.13
sleep 2; wait_banner $RELAY_PORT 20 && run_case haproxy-3; H3=$RES; stop_all
kill $PIDS_REDIS 2>/dev/null; wait $PIDS_REDIS 2>/dev/null
sink_stop
say "RESULT cluster (median of $REPEAT, 1 KiB, 1 rcpt, 50 sessions): direct $D msg/s; with Redis settings+view $R ($(awk -v a="$R" -v b="$D" 'BEGIN{printf "%+.1f%%", (a/b-1)*100}')); behind HAProxy $H1 ($(awk -v a="$H1" -v b="$D" 'BEGIN{printf "%+.1f%%", (a/b-1)*100}')), without the PROXY header $H1P ($(awk -v a="$H1P" -v b="$D" 'BEGIN{printf "%+.1f%%", (a/b-1)*100}')); 3 nodes behind HAProxy with Redis $H3 ($(awk -v a="$H3" -v b="$D" 'BEGIN{printf "%+.1f%%", (a/b-1)*100}'))"
log "results in $OUT"
