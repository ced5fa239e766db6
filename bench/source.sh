#!/bin/bash
# End-to-end relay with Postfix's own tools as load and sink: smtp-source
# (50 sessions, many messages each, no pipelining, 1 KiB, 1 recipient) ->
# relay on :2525 -> smtp-sink on :2526, for sluiced and Postfix in one run,
# and smtp-source straight into smtp-sink (what the harness alone does).
# Delivered msg/s = N / (time until smtp-sink counted N).  CPU us per
# delivered message, over each run: the relay (sluiced's /proc/PID/stat;
# Postfix's master with its live and reaped daemons, cpu_tree_us), smtp-sink
# and smtp-source (utime+stime, its own /proc/PID/stat and its parent's
# cutime).  Knobs: N, N_POSTFIX, REPEAT, SKIP_POSTFIX.
cd "$(dirname "$0")/.." || exit 1
. bench/lib.sh
if [ -z "${SKIP_POSTFIX:-}" ] && [ "$(id -u)" = 0 ] && [ "${BENCH_NETNS:-}" != 1 ]; then
  postfix_install || { log "cannot install postfix: set SKIP_POSTFIX=1"; exit 1; }
fi
enter_netns "$@"
N=${N:-50000}; N_POSTFIX=${N_POSTFIX:-10000}; REPEAT=${REPEAT:-3}
WORK=$(mktemp -d /tmp/sluice-bench.XXXXXX)
OUT=$RESULTS/source-$(date +%Y%m%d-%H%M%S).txt
export LD_LIBRARY_PATH=$TOOLS/root/usr/lib/postfix
PF_BIN=$TOOLS/root/usr/sbin
PFSINK_PID=""
trap '[ -n "$PFSINK_PID" ] && kill "$PFSINK_PID"; sluiced_stop; [ -n "${PF:-}" ] && postfix_stop; rm -rf "$WORK"' EXIT

# smtp-sink, fresh for each run so its counter starts at 0; -c writes
# "sess=.. quit=.. mesg=N\r" on each change, -C: no XCLIENT offered.
pfsink_start() {
  "$PF_BIN/smtp-sink" -4 -c -C -u nobody -h sink.test "127.0.0.1:$SINK_PORT" 1024 \
    > "$WORK/pfsink.out" 2>&1 &
  PFSINK_PID=$!
  wait_banner $SINK_PORT 10
}
pfsink_stop() { [ -n "$PFSINK_PID" ] && kill "$PFSINK_PID" 2>/dev/null && wait "$PFSINK_PID" 2>/dev/null; PFSINK_PID=""; }

# Started before the load: prints the moment smtp-sink counted $1 (bounded
# by $2 seconds; exit 1 then), one process polling the counter's tail.
pfsink_wait() {
  python3 - "$WORK/pfsink.out" "$1" "$2" <<'PY'
import re, sys, time
path, n, end = sys.argv[1], int(sys.argv[2]), time.time() + float(sys.argv[3])
pat = re.compile(rb"mesg=(\d+)")
with open(path, "rb") as f:
    while time.time() < end:
        f.seek(0, 2)
        f.seek(max(0, f.tell() - 256))
        m = pat.findall(f.read())
        if m and int(m[-1]) >= n:
            print("%.6f" % time.time())
            sys.exit(0)
        time.sleep(0.005)
sys.exit(1)
PY
}

# smtp-source's N messages to port $2; prints its CPU us (the subshell's
# cutime once timeout and smtp-source are reaped).
source_load() {   # $1 N, $2 port
  ( timeout 600 "$PF_BIN/smtp-source" -4 -s 50 -m "$1" -l 1024 -d -N -M client.test \
      -f s@client.test -t r@example.test "127.0.0.1:$2" >/dev/null 2>&1 || log "smtp-source failed"
    awk -v hz="$HZ" '{sub(/^[0-9]+ \(.*\) /, ""); printf "%.0f\n", ($14 + $15) * 1e6 / hz}' "/proc/$BASHPID/stat" )
}

# one run through port $2 (relay, or the sink itself); prints "msg/s relay
# sink source": delivered msg/s, then CPU us per message (relay 0 if none).
source_run() {    # $1 N, $2 port, $3 relay pid or ""
  local t0 t1 c0=0 c1=0 s1 src waiter
  pfsink_start || { echo "0 0 0 0"; return; }
  pfsink_wait "$1" 300 > "$WORK/t1" & waiter=$!
  [ -n "$3" ] && c0=$(cpu_tree_us "$3")
  t0=$(now)
  src=$(source_load "$1" "$2")
  wait "$waiter" || { log "smtp-sink got $(tail -c 40 "$WORK/pfsink.out" | tr '\r' ' ')"; pfsink_stop; echo "0 0 0 0"; return; }
  t1=$(cat "$WORK/t1")
  [ -n "$3" ] && c1=$(cpu_tree_us "$3")
  s1=$(cpu_tree_us "$PFSINK_PID")
  pfsink_stop
  awk -v n="$1" -v t0="$t0" -v t1="$t1" -v c="$((c1 - c0))" -v s="$s1" -v src="$src" \
    'BEGIN{printf "%.0f %.1f %.1f %.1f\n", n/(t1-t0), c/n, s/n, src/n}'
}

# REPEAT runs through $1 (a name) with N $2 at port $3, relay pid $4;
# results into $WORK/$1.{rate,cpu,harness}
source_runs() {
  local r i
  source_run 2000 "$3" "$4" > /dev/null
  for i in $(seq "$REPEAT"); do
    r=$(source_run "$2" "$3" "$4")
    say "$1: delivered msg/s, CPU us/msg of relay/smtp-sink/smtp-source: $r"
    echo "$r" | awk '{print $1}' >> "$WORK/$1.rate"
    echo "$r" | awk '{print $2}' >> "$WORK/$1.cpu"
    echo "$r" | awk '{print $3 + $4}' >> "$WORK/$1.harness"
  done
}
med() { median < "$WORK/$1"; }

say "# source $(date -Is) $(uname -r) $(nproc) cpus: smtp-source -> relay -> smtp-sink, 1 KiB, 1 rcpt, 50 sessions"
source_runs direct "$N" $SINK_PORT ""
say "smtp-source -> smtp-sink (no relay): median $(med direct.rate) msg/s, smtp-source+smtp-sink $(med direct.harness) us CPU/msg"
sluiced_start
source_runs sluiced "$N" $RELAY_PORT "$SLUICED_PID"
sluiced_stop
say "sluiced: median $(med sluiced.rate) msg/s delivered, sluiced $(med sluiced.cpu) us CPU/msg, smtp-source+smtp-sink $(med sluiced.harness) us CPU/msg"

if [ -z "${SKIP_POSTFIX:-}" ] && [ "$(id -u)" = 0 ]; then
  postfix_config || exit 1; PF=1
  postfix_start
  source_runs postfix "$N_POSTFIX" $RELAY_PORT "$(postfix_master_pid)"
  postfix_stop; PF=
  say "postfix: median $(med postfix.rate) msg/s delivered, postfix (master and its daemons) $(med postfix.cpu) us CPU/msg, smtp-source+smtp-sink $(med postfix.harness) us CPU/msg"
  say "RESULT source (median of $REPEAT, 1 KiB, 1 rcpt, 50 sessions): sluiced $(med sluiced.rate) msg/s delivered, postfix $(med postfix.rate) msg/s, ratio $(awk -v a="$(med sluiced.rate)" -v b="$(med postfix.rate)" 'BEGIN{printf "%.1f", a/b}')x; CPU us/msg: sluiced $(med sluiced.cpu), postfix $(med postfix.cpu); harness alone $(med direct.rate) msg/s"
fi
log "results in $OUT"
