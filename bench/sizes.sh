#!/bin/bash
# Message sizes: the relay end to end (sluice-bench -> relay on :2525 ->
# sluice-sink on :2526, 1 recipient, 50 sessions x 10 messages) for each
# size of SIZES (1 KiB, 32 KiB, 256 KiB, 2 MiB), sluiced and Postfix in the
# same run, with the relay's peak memory (VmHWM) at each size; then
# CONCURRENT transfers of 2 MiB at once into sluiced, and its peak RSS
# (memory per session must stay bounded: DATA spills to disk beyond
# limits.data_spill, and a worker holds at most limits.data_memory).
# Knobs: SIZES, BYTES (payload per run, 256 MiB), REPEAT (3), CONCURRENT
# (1000), SKIP_POSTFIX.
cd "$(dirname "$0")/.." || exit 1
. bench/lib.sh
if [ -z "${SKIP_POSTFIX:-}" ] && [ "$(id -u)" = 0 ] && [ "${BENCH_NETNS:-}" != 1 ]; then
  postfix_install || { log "cannot install postfix: set SKIP_POSTFIX=1"; exit 1; }
fi
enter_netns "$@"
SIZES=${SIZES:-1024 32768 262144 2097152}; BYTES=${BYTES:-268435456}; REPEAT=${REPEAT:-3}
CONCURRENT=${CONCURRENT:-1000}
WORK=$(mktemp -d /tmp/sluice-bench.XXXXXX)
OUT=$RESULTS/sizes-$(date +%Y%m%d-%H%M%S).txt
trap 'sluiced_stop; sink_stop; [ -n "${PF:-}" ] && postfix_stop; rm -rf "$WORK"' EXIT
kib() { awk -v b="$1" 'BEGIN{ if (b >= 1048576) printf "%d MiB", b/1048576; else printf "%d KiB", b/1024 }'; }

# messages per run at size $1: BYTES of payload, 200 to 20,000 messages
count() { awk -v b="$BYTES" -v s="$1" 'BEGIN{n=int(b/s); if (n>20000) n=20000; if (n<200) n=200; print n}'; }

# one run: inject $1 messages of $2 bytes, wait for the sink; prints msg/s
size_run() {
  local base t0 t1
  base=$(sink_count); t0=$(now)
  bench_client "$1" 50 10 "$2" > /dev/null
  t1=$(sink_wait $((base + $1)) 900) || { echo 0; return; }
  echo "$1 $t0 $t1" | awk '{printf "%.0f\n", $1/($3-$2)}'
}

hwm() { awk '/VmHWM/{print int($2/1024)}' /proc/"$1"/status 2>/dev/null; }

cat > "$WORK/relay.yaml" <<YAML
listen: ["127.0.0.1:$RELAY_PORT"]
spool: ./var/spool
control_socket: ./var/sluice.sock
trusted_networks: ["127.0.0.1/32"]
limits: {client_exempt: ["127.0.0.0/8"], max_sessions: 4000}
connectors:
  default: {smarthosts: ["127.0.0.1:$SINK_PORT"], max_connections: 50}
domains:
  example.test: default
YAML

say "# sizes $(date -Is) $(uname -r) $(nproc) cpus; 1 rcpt, 50 sessions x 10 messages"
sink_start
declare -A S P M
for size in $SIZES; do
  n=$(count "$size")
  sluiced_start -c "$WORK/relay.yaml"
  size_run 200 "$size" > /dev/null
  : > "$WORK/s"
  for i in $(seq "$REPEAT"); do size_run "$n" "$size" >> "$WORK/s"; done
  S[$size]=$(median < "$WORK/s"); M[$size]=$(hwm "$SLUICED_PID")
  say "sluiced $(kib "$size"): $n messages x $REPEAT: $(tr '\n' ' ' < "$WORK/s")msg/s; median ${S[$size]} msg/s ($(awk -v m="${S[$size]}" -v s="$size" 'BEGIN{printf "%.0f", m*s/1048576}') MiB/s); peak RSS ${M[$size]} MiB"
  sluiced_stop
done

# The ceiling for big messages: every byte acknowledged is on disk first,
# so the spool's file system cannot take more than its synced write rate
# (one sequential 256 MiB file, dd conv=fdatasync, in the spool's place).
dd_out=$(dd if=/dev/zero of="$WORK/dd.test" bs=1M count=256 conv=fdatasync 2>&1 | tail -1)
rm -f "$WORK/dd.test"
say "disk: synced sequential write of 256 MiB where the spool is: $(echo "$dd_out" | awk -F, '{print $NF}' | sed 's/^ //') (the bound of any relay that syncs before 250)"

if [ -z "${SKIP_POSTFIX:-}" ] && [ "$(id -u)" = 0 ]; then
  postfix_config || exit 1; PF=1
  postfix_start
  for size in $SIZES; do
    n=$(( $(count "$size") / 5 )); [ "$n" -lt 100 ] && n=100
    size_run 100 "$size" > /dev/null
    : > "$WORK/p"
    for i in $(seq "$REPEAT"); do size_run "$n" "$size" >> "$WORK/p"; done
    P[$size]=$(median < "$WORK/p")
    say "postfix $(kib "$size"): $n messages x $REPEAT: $(tr '\n' ' ' < "$WORK/p")msg/s; median ${P[$size]} msg/s"
  done
  postfix_stop; PF=
  for size in $SIZES; do
    say "RESULT size $(kib "$size"): sluiced ${S[$size]} msg/s, postfix ${P[$size]} msg/s, ratio $(awk -v a="${S[$size]}" -v b="${P[$size]}" 'BEGIN{printf "%.1f", a/b}')x; sluiced peak RSS ${M[$size]} MiB"
  done
fi

# CONCURRENT transfers of 2 MiB at once: one message per session, every
# session started together; the relay's peak RSS while they arrive
sluiced_start -c "$WORK/relay.yaml"
idle=$(hwm "$SLUICED_PID")
sent=$(sink_count)		# the sink's count before the transfers
"$B/sluice-bench" -H 127.0.0.1:$RELAY_PORT -n "$CONCURRENT" -c "$CONCURRENT" -m 1 -s 2097152 \
  --timeout 300 --json -q > "$WORK/conc.json"
ok=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ok"])' "$WORK/conc.json")
if sink_wait $((sent + ok)) 900 > /dev/null; then got="all $ok delivered"; else got="only $(( $(sink_count) - sent )) of $ok delivered"; fi
say "RESULT $CONCURRENT concurrent 2 MiB transfers: $(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%d acknowledged, %d failed" % (r["ok"], r["failed"]))' "$WORK/conc.json"), $got; sluiced peak RSS $(hwm "$SLUICED_PID") MiB (idle $idle MiB)"
sluiced_stop; sink_stop
log "results in $OUT"
