# bench/lib.sh — shared helpers of the benchmark scripts (sourced).
# Loopback only; every process started is stopped by PID; every wait bounded.
set -u
B=${BUILD:-build}
TOOLS=${TOOLS:-/opt/sluice-tools}
RESULTS=${RESULTS:-bench/results}
RELAY_PORT=2525
SINK_PORT=2526
mkdir -p "$RESULTS"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
say() { echo "$*" | tee -a "$OUT"; }	# a result line, also into the script's $OUT
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }	# of stdin's numbers
now() { date +%s.%N; }

# Re-run the calling script inside a private network namespace with only
# loopback, so nothing a relay tries can leave the machine (root only).
enter_netns() {
  if [ "${BENCH_NETNS:-}" != 1 ] && [ "$(id -u)" = 0 ] && [ "${BENCH_NO_NETNS:-}" != 1 ]; then
    exec unshare --net env BENCH_NETNS=1 sh -c 'ip link set lo up && exec "$0" "$@"' "$0" "$@"
  fi
}

wait_banner() {   # $1 port, $2 seconds
  local i=0
  while [ $i -lt $(( ${2:-20} * 10 )) ]; do
    if python3 - "$1" <<'PY' 2>/dev/null; then return 0; fi
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
sys.exit(0 if s.recv(64).startswith(b"220") else 1)
PY
    sleep 0.1; i=$((i+1))
  done
  log "no SMTP greeting on port $1"; return 1
}

wait_gone() {     # $1 pid, $2 seconds
  local i=0
  while kill -0 "$1" 2>/dev/null; do
    [ $i -ge $(( ${2:-20} * 10 )) ] && { kill -9 "$1" 2>/dev/null; return 1; }
    sleep 0.1; i=$((i+1))
  done
}

# CPU accounting, in microseconds of utime+stime from /proc/PID/stat.
# cpu_tree_us: the process, its live children, and the children they all
# reaped (cutime+cstime): Postfix's master reaps its daemons, so an smtpd
# that exited after max_use stays counted; threads are in their process.
HZ=$(getconf CLK_TCK)
cpu_tree_us() {   # $1 pid
  cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$1" -v hz="$HZ" '
    { pid = $1; sub(/^[0-9]+ \(.*\) /, "")	# after "pid (comm) ": $2 ppid, $12.. times
      if (pid == root || $2 == root) t += $12 + $13 + $14 + $15 }
    END { printf "%.0f\n", t * 1e6 / hz }'
}
postfix_master_pid() { cat "$(postconf -h queue_directory)/pid/master.pid" 2>/dev/null | tr -d ' '; }
per_msg() { awk -v a="$1" -v n="$2" 'BEGIN{printf "%.1f", n > 0 ? a / n : 0}'; }	# $1 us, $2 msgs

SINK_PID=""
sink_start() {    # extra sluice-sink args...
  rm -f "$WORK/sink.count"
  "$B/sluice-sink" -l 127.0.0.1:$SINK_PORT --count-file "$WORK/sink.count" "$@" \
    > "$WORK/sink.log" 2>&1 &
  SINK_PID=$!
  wait_banner $SINK_PORT 10
}
sink_stop() { [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null; SINK_PID=""; }
sink_count() { sed -n 's/.*messages=\([0-9]*\).*/\1/p' "$WORK/sink.count" 2>/dev/null || echo 0; }

# Wait until the sink has N messages (bounded); prints the moment it did.
sink_wait() {     # $1 N, $2 seconds
  local end=$(( $(date +%s) + ${2:-300} ))
  while [ "$(sink_count)" -lt "$1" ]; do
    [ "$(date +%s)" -gt $end ] && { log "sink has $(sink_count) of $1"; return 1; }
    sleep 0.01
  done
  now
}

SLUICED_PID=""
sluiced_start() { # extra sluiced args...
  rm -rf "$WORK/var"
  ( cd "$WORK" && exec "$OLDPWD/$B/sluiced" "$@" ) > "$WORK/sluiced.log" 2>&1 &
  SLUICED_PID=$!
  wait_banner $RELAY_PORT 60
}
sluiced_stop() {
  [ -n "$SLUICED_PID" ] || return 0
  kill "$SLUICED_PID" 2>/dev/null
  ( sleep 60; kill -9 "$SLUICED_PID" 2>/dev/null ) & local killer=$!
  wait "$SLUICED_PID" 2>/dev/null	# our child: reaped here, no zombie
  kill "$killer" 2>/dev/null; wait "$killer" 2>/dev/null
  SLUICED_PID=""
}

# Postfix, installed on demand, configured from bench/postfix/main.cf.
postfix_install() {
  command -v debconf-set-selections >/dev/null || return 1
  if ! dpkg-query -W -f='${Status}' postfix 2>/dev/null | grep -q 'install ok installed'; then
    log "installing postfix (the baseline)"
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    echo "postfix postfix/mailname string postfix-bench.test" | debconf-set-selections
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postfix >/dev/null
  fi
  if postfix status >/dev/null 2>&1; then postfix stop >/dev/null 2>&1; sleep 1; fi
}
postfix_config() {
  cp bench/postfix/main.cf /etc/postfix/main.cf
  cp /usr/share/postfix/master.cf.dist /etc/postfix/master.cf
  postconf -M# smtp/inet
  postconf -M "127.0.0.1:$RELAY_PORT/inet=127.0.0.1:$RELAY_PORT inet n - n - - smtpd"
  postconf -F '*/*/chroot = n'
  touch /var/log/postfix-bench.log
  postfix check
}
postfix_start() { postfix start >/dev/null 2>&1; wait_banner $RELAY_PORT 30; }
postfix_stop() {
  postsuper -d ALL >/dev/null 2>&1
  postfix stop >/dev/null 2>&1
  sleep 1
}

# sluice-bench against the relay: prints "msg/s p50 p99 p999 ok cpu_s" (the
# 250s; cpu_s: sluice-bench's own CPU seconds).
bench_client() {  # $1 N, $2 sessions, $3 msgs per session, $4 size
  "$B/sluice-bench" -H 127.0.0.1:$RELAY_PORT -n "$1" -c "$2" -m "$3" -s "$4" --json -q \
    --timeout 60 | python3 -c '
import json, sys
r = json.load(sys.stdin)
l = r["latency_ms"]
print("%.0f %.2f %.2f %.2f %d %.3f" % (r["msg_per_s"], l["p50"], l["p99"], l["p999"], r["ok"], r["cpu_s"]))'
}

# Postfix smtp-source with the same load, for a second opinion on the client.
source_client() { # $1 N, $2 sessions, $3 size; prints msg/s
  local t0 t1
  t0=$(now)
  if ! LD_LIBRARY_PATH=$TOOLS/root/usr/lib/postfix timeout 600 "$TOOLS/root/usr/sbin/smtp-source" \
    -s "$2" -m "$1" -l "$3" -d -N -M client.test -f s@client.test -t r@example.test \
    127.0.0.1:$RELAY_PORT >/dev/null 2>&1; then log "smtp-source failed"; echo 0; return; fi
  t1=$(now)
  echo "$1 $t0 $t1" | awk '{printf "%.0f\n", $1/($3-$2)}'
}
