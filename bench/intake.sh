#!/bin/bash
# Durable intake: sluice-bench (and smtp-source) -> relay, 1 KiB, 50 sessions,
# 10 messages per session, against sluiced and Postfix in the same run.
# The sink runs for both so Postfix relays as it normally would.
# Also: 10,000 idle sessions (RSS, time to serve a new one) and recovery
# of 1,000,000 spooled messages.  Knobs: N, N_POSTFIX, REPEAT, SKIP_POSTFIX,
# RECOVER_N, IDLE_N; ONLY=recovery runs just the recovery, REPEAT times.
cd "$(dirname "$0")/.." || exit 1
. bench/lib.sh
# Postfix is installed (network needed) before entering the loopback-only namespace
if [ -z "${SKIP_POSTFIX:-}" ] && [ -z "${ONLY:-}" ] && [ "$(id -u)" = 0 ] && [ "${BENCH_NETNS:-}" != 1 ]; then
  postfix_install || { log "cannot install postfix: set SKIP_POSTFIX=1 to skip it"; exit 1; }
fi
enter_netns "$@"
N=${N:-50000}; N_POSTFIX=${N_POSTFIX:-10000}; REPEAT=${REPEAT:-3}
RECOVER_N=${RECOVER_N:-1000000}; IDLE_N=${IDLE_N:-10000}
WORK=$(mktemp -d /tmp/sluice-bench.XXXXXX)
OUT=$RESULTS/intake-$(date +%Y%m%d-%H%M%S).txt
trap 'sluiced_stop; sink_stop; [ -n "${PF:-}" ] && postfix_stop; rm -rf "$WORK"' EXIT
ONLY=${ONLY:-}
[ -z "$ONLY" ] || [ "$ONLY" = recovery ] || { log "ONLY=recovery or nothing"; exit 1; }

say "# intake $(date -Is) $(uname -r) $(nproc) cpus; disk: $(df -T "$WORK" | awk 'NR==2{print $2}')"
say "# sync latency now: $(dd if=/dev/zero of=$WORK/dd bs=4k count=200 oflag=dsync 2>&1 | awk '/copied/{printf "%.2f ms per 4k dsync write", $(NF-3)*1000/200}')"; rm -f "$WORK/dd"
if [ -z "$ONLY" ]; then
sink_start
sluiced_start
bench_client 2000 10 10 1024 >/dev/null                 # warm-up
for i in $(seq "$REPEAT"); do
  r=$(bench_client "$N" 50 10 1024); say "sluiced sluice-bench: $r (msg/s p50 p99 p999 ok cpu_s)"
  echo "$r" | awk '{print $1}' >> "$WORK/s.bench"
  r=$(source_client "$N" 50 1024); say "sluiced smtp-source: $r msg/s"; echo "$r" >> "$WORK/s.source"
done
sluiced_stop

if [ -z "${SKIP_POSTFIX:-}" ] && [ "$(id -u)" = 0 ]; then
  postfix_config || exit 1; PF=1
  postfix_start
  bench_client 2000 10 10 1024 >/dev/null
  for i in $(seq "$REPEAT"); do
    r=$(bench_client "$N_POSTFIX" 50 10 1024); say "postfix sluice-bench: $r (msg/s p50 p99 p999 ok cpu_s)"
    echo "$r" | awk '{print $1}' >> "$WORK/p.bench"
    r=$(source_client "$N_POSTFIX" 50 1024); say "postfix smtp-source: $r msg/s"; echo "$r" >> "$WORK/p.source"
    postsuper -d ALL >/dev/null 2>&1
  done
  postfix_stop; PF=
  sb=$(median < "$WORK/s.bench"); pb=$(median < "$WORK/p.bench")
  ss=$(median < "$WORK/s.source"); ps=$(median < "$WORK/p.source")
  say "RESULT intake (median of $REPEAT, 1 KiB, 50 sessions): sluice-bench: sluiced $sb msg/s, postfix $pb msg/s, ratio $(awk -v a="$sb" -v b="$pb" 'BEGIN{printf "%.1f", a/b}')x; smtp-source: sluiced $ss, postfix $ps, ratio $(awk -v a="$ss" -v b="$ps" 'BEGIN{printf "%.1f", a/b}')x"
fi

# 10,000 idle sessions held; RSS and the time to serve one more
sluiced_start
python3 bench/idle.py "$IDLE_N" $RELAY_PORT "$SLUICED_PID" | tee -a "$OUT"
sluiced_stop
fi

# recovery of a spool of RECOVER_N 1 KiB messages, page cache dropped.
# "ready:" is logged once every worker has read its whole spool and every
# message is in the queue and scheduled (nothing is recovered lazily), so
# the time to ready is the time until all messages are known.  CPU is the
# daemon's user+system seconds at that moment (/proc/PID/stat).
recover_once() {
  rm -rf "$WORK/var"; mkdir -p "$WORK/var"
  "$B/sluice-spoolgen" "$WORK/var/spool" "$(nproc)" "$RECOVER_N" 1024 >/dev/null
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null
  local t0 t1 cpu rec
  rm -f "$WORK/sluiced.log"	# the last run's "ready:" must not count
  t0=$(now)
  ( cd "$WORK" && exec "$OLDPWD/$B/sluiced" ) > "$WORK/sluiced.log" 2>&1 &
  SLUICED_PID=$!
  while ! grep -q "ready:" "$WORK/sluiced.log"; do
    kill -0 $SLUICED_PID 2>/dev/null || { cat "$WORK/sluiced.log" >&2; exit 1; }
    sleep 0.01
  done
  t1=$(now)
  cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/hz}' /proc/$SLUICED_PID/stat)
  rec=$(grep -o '[0-9]* messages recovered' "$WORK/sluiced.log" | awk '{s+=$1} END{print s}')
  say "recovery: $rec messages recovered, all known and scheduled at ready after $(echo "$t0 $t1" | awk '{printf "%.2f", $2-$1}') s (cold page cache), $cpu s CPU; RSS $(awk '/VmRSS/{print $2/1024 " MiB"}' /proc/$SLUICED_PID/status)"
  echo "$t0 $t1" | awk '{print $2-$1}' >> "$WORK/r.wall"; echo "$cpu" >> "$WORK/r.cpu"
  sluiced_stop
}
for i in $(seq "$([ -n "$ONLY" ] && echo "$REPEAT" || echo 1)"); do recover_once; done
say "RESULT recovery of $RECOVER_N messages (median of $(wc -l < "$WORK/r.wall")): ready (all known) after $(median < "$WORK/r.wall" | awk '{printf "%.2f", $1}') s, $(median < "$WORK/r.cpu") s CPU"
log "results in $OUT"
