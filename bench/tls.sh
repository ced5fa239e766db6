#!/bin/bash
# TLS: sluice-bench -> relay on :2525 -> sluice-sink on :2526, 1 KiB,
# 1 recipient, 50 inbound sessions x 10 messages, all in one run:
#  a) sluiced in plaintext (the baseline);
#  b) sluiced with TLS on both legs: STARTTLS inbound (sluice-bench --tls,
#     a full handshake per 10 messages), connector "tls: required" to a
#     STARTTLS sink, outbound connections reused (100 messages each);
#  c) Postfix with TLS on both legs (bench/postfix/main-tls.cf, outbound
#     reuse through tlsproxy), same load;
#  d) handshakes, one message per connection: inbound (sluice-bench
#     --tls -m 1: full; --tls-resume -m 1: resumed) and outbound
#     (max_messages_per_connection: 1; resumed since issue 15), as
#     handshakes/s and per CPU second of sluiced (utime+stime from
#     /proc/PID/stat, all threads), each next to the same run without TLS
#     so the handshake's own CPU cost can be told from the message's; the
#     reference is openssl s_time -new against openssl s_server with the
#     same certificate, for as many seconds.
# Delivered msg/s = N / (time until the sink counted N). A delivery under
# "tls: required" / "smtp_tls_security_level = encrypt" happened over TLS
# or not at all, so counting at the sink is enough; sluice-bench --tls
# stops (exit 2) if the relay does not offer STARTTLS.
# Knobs: N, N_POSTFIX, N_HS, REPEAT, SKIP_POSTFIX; SUITES="A B ..." (TLS 1.3
# suite names) runs b) once more per suite, that suite alone on both legs,
# for the cipher choice by measurement (sluiced CPU us/msg per suite).
cd "$(dirname "$0")/.." || exit 1
. bench/lib.sh
if [ -z "${SKIP_POSTFIX:-}" ] && [ "$(id -u)" = 0 ] && [ "${BENCH_NETNS:-}" != 1 ]; then
  postfix_install || { log "cannot install postfix: set SKIP_POSTFIX=1"; exit 1; }
fi
enter_netns "$@"
N=${N:-20000}; N_POSTFIX=${N_POSTFIX:-3000}; N_HS=${N_HS:-3000}; REPEAT=${REPEAT:-1}
SSL_PORT=4433
HZ=$(getconf CLK_TCK)
WORK=$(mktemp -d /tmp/sluice-bench.XXXXXX)
OUT=$RESULTS/tls-$(date +%Y%m%d-%H%M%S).txt
SSL_PID=""
trap 'sluiced_stop; sink_stop; [ -n "$SSL_PID" ] && kill "$SSL_PID" 2>/dev/null; [ -n "${PF:-}" ] && postfix_stop; rm -rf "$WORK"' EXIT
ratio() { awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" 'BEGIN{ if (b > 0) printf f, a/b; else printf "n/a" }'; }

# CPU ticks (utime + stime, every thread) of a process; comm may hold spaces.
cpu_ticks() { awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$1/stat" 2>/dev/null || echo 0; }

sh tests/tls/make-certs.sh "$WORK/certs" || { log "cannot make certificates"; exit 1; }
CERT=$WORK/certs/valid.pem; KEY=$WORK/certs/valid.key

# sluiced configs: the built-in default's values, spelled out, plus TLS.
relay_yaml() {    # $1 file, $2 inbound cert (yes/no), $3 connector tls, $4 msgs per connection, $5 suite
  local suite=${5:-}
  {
    echo "workers: 0"
    echo "listen: [\"127.0.0.1:$RELAY_PORT\"]"
    echo "spool: ./var/spool"
    echo "control_socket: ./var/sluice.sock"
    echo "trusted_networks: [\"127.0.0.1/32\", \"::1/128\"]"
    [ "$2" = yes ] && echo "tls: {cert: \"$CERT\", key: \"$KEY\"${suite:+, ciphersuites: \"$suite\"}}"
    echo "connectors:"
    echo "  default:"
    echo "    smarthosts: [\"127.0.0.1:$SINK_PORT\"]"
    echo "    tls: $3"
    echo "    max_messages_per_connection: $4"
    [ -n "$suite" ] && echo "    tls_ciphersuites: \"$suite\""
    echo "domains:"
    echo "  example.test: default"
  } > "$1"
}
relay_yaml "$WORK/plain.yaml" no none 100
relay_yaml "$WORK/tls.yaml" yes required 100
relay_yaml "$WORK/hs-out-plain.yaml" no none 1
relay_yaml "$WORK/hs-out-tls.yaml" no required 1

# sluice-bench against the relay; prints "msg/s handshakes ok seconds
# version its-CPU-us-per-message"
bench_json() {    # $1 N, $2 sessions, $3 msgs per session, more sluice-bench args...
  local n=$1 c=$2 m=$3; shift 3
  "$B/sluice-bench" -H 127.0.0.1:$RELAY_PORT -n "$n" -c "$c" -m "$m" -s 1024 --json -q \
    --timeout 60 "$@" | python3 -c '
import json, sys
try:
    r = json.load(sys.stdin)
except ValueError:
    print("0 0 0 0 - -"); sys.exit(0)
hs = "%d" % r.get("handshakes", 0)
if r.get("resumed"):
    hs += "/%d-resumed" % r["resumed"]
print("%.0f %s %d %.3f %s %.0f" % (r["msg_per_s"], hs, r["ok"],
      r["seconds"], (r.get("tls_version") or "-").replace(" ", "/"),
      r.get("cpu_s", 0) * 1e6 / max(r["ok"], 1)))'
}

# One run: inject n, wait for the sink to count them. Prints "delivered/s
# injected/s cpu_us_per_msg handshakes bench_cpu_us_per_msg bench_seconds
# version" (cpu "-" without a PID to watch).
tls_run() {       # $1 n, $2 msgs per session, $3 PID for CPU or "", more sluice-bench args...
  local n=$1 m=$2 pid=$3 base t0 t1 c0 c1 r cpu
  shift 3
  base=$(sink_count); c0=$([ -n "$pid" ] && cpu_ticks "$pid"); t0=$(now)
  r=$(bench_json "$n" 50 "$m" "$@")
  t1=$(sink_wait $((base + n)) 300) || { echo "0 0 - 0 - 0 -"; return; }
  if [ -n "$pid" ]; then
    c1=$(cpu_ticks "$pid")
    cpu=$(awk -v a="$c0" -v b="$c1" -v n="$n" -v hz="$HZ" 'BEGIN{printf "%.0f", (b-a)/hz*1e6/n}')
  else
    cpu=-
  fi
  echo "$n $t0 $t1 $r $cpu" | awk '{printf "%.0f %.0f %s %s %s %s %s\n", $1/($3-$2), $4, $10, $5, $9, $7, $8}'
}

say "# tls $(date -Is) $(uname -r) $(nproc) cpus; load $(cut -d' ' -f1-3 /proc/loadavg)"
say "# 1 KiB, 1 rcpt, 50 inbound sessions x 10 msgs; N=$N N_POSTFIX=$N_POSTFIX N_HS=$N_HS REPEAT=$REPEAT"
say "# columns: delivered msg/s, injected msg/s, sluiced CPU us/msg, handshakes (client side), sluice-bench CPU us/msg"

# a) plaintext relay
sink_start
sluiced_start -c "$WORK/plain.yaml" || exit 1
tls_run 2000 10 "" >/dev/null
for i in $(seq "$REPEAT"); do
  r=$(tls_run "$N" 10 "$SLUICED_PID"); say "a) sluiced plaintext: $(echo "$r" | cut -d' ' -f1-5)"
  echo "$r" | awk '{print $1}' >> "$WORK/a"; echo "$r" | awk '{print $3}' >> "$WORK/a.cpu"
done
sluiced_stop; sink_stop

# b) TLS on both legs, connections reused
sink_start --tls-cert "$CERT" --tls-key "$KEY"
sluiced_start -c "$WORK/tls.yaml" || exit 1
tls_run 2000 10 "" --tls >/dev/null
for i in $(seq "$REPEAT"); do
  r=$(tls_run "$N" 10 "$SLUICED_PID" --tls); say "b) sluiced TLS both legs: $(echo "$r" | cut -d' ' -f1-5) ($(echo "$r" | cut -d' ' -f7))"
  echo "$r" | awk '{print $1}' >> "$WORK/b"; echo "$r" | awk '{print $3}' >> "$WORK/b.cpu"
done
sluiced_stop
a=$(median < "$WORK/a"); b=$(median < "$WORK/b")
acpu=$(median < "$WORK/a.cpu"); bcpu=$(median < "$WORK/b.cpu")
say "RESULT tls relay (median of $REPEAT, 1 KiB, 1 rcpt, 50 sessions x 10): sluiced plaintext $a msg/s delivered, TLS on both legs $b msg/s = $(awk -v a="$a" -v b="$b" 'BEGIN{ if (a > 0) printf "%.0f", 100*b/a; else printf "n/a" }') % of plaintext (target >= 60 %); sluiced CPU $acpu vs $bcpu us/msg ($(awk -v a="$acpu" -v b="$bcpu" 'BEGIN{ if (b > 0) printf "%.0f", 100*a/b; else printf "n/a" }') % by CPU)"

# b') the same, one TLS 1.3 suite at a time on both legs (SUITES)
for suite in ${SUITES:-}; do
  relay_yaml "$WORK/suite.yaml" yes required 100 "$suite"
  sluiced_start -c "$WORK/suite.yaml" || exit 1
  tls_run 2000 10 "" --tls >/dev/null
  rm -f "$WORK/s.rate" "$WORK/s.cpu"
  for i in $(seq "$REPEAT"); do
    r=$(tls_run "$N" 10 "$SLUICED_PID" --tls); say "b') sluiced TLS both legs, $suite: $(echo "$r" | cut -d' ' -f1-5) ($(echo "$r" | cut -d' ' -f7))"
    echo "$r" | awk '{print $1}' >> "$WORK/s.rate"; echo "$r" | awk '{print $3}' >> "$WORK/s.cpu"
  done
  sluiced_stop
  say "RESULT tls suite $suite (median of $REPEAT): $(median < "$WORK/s.rate") msg/s delivered, sluiced CPU $(median < "$WORK/s.cpu") us/msg"
done

# c) Postfix with TLS on both legs, against the same TLS sink
if [ -z "${SKIP_POSTFIX:-}" ] && [ "$(id -u)" = 0 ]; then
  postfix_config >/dev/null || exit 1; PF=1
  cp bench/postfix/main-tls.cf /etc/postfix/main.cf
  postconf -e "smtpd_tls_cert_file = $CERT" "smtpd_tls_key_file = $KEY"
  postconf -Me "tlsproxy/unix=tlsproxy unix - - n - 0 tlsproxy"
  postfix check || exit 1
  l0=$(wc -l < /var/log/postfix-bench.log)
  postfix_start || exit 1
  tls_run 1000 10 "" --tls >/dev/null
  for i in $(seq "$REPEAT"); do
    r=$(tls_run "$N_POSTFIX" 10 "" --tls); say "c) postfix TLS both legs: $(echo "$r" | cut -d' ' -f1-5) ($(echo "$r" | cut -d' ' -f7))"
    echo "$r" | awk '{print $1}' >> "$WORK/p"
  done
  postfix_stop; PF=
  tail -n +$((l0 + 1)) /var/log/postfix-bench.log > "$WORK/pf.log"
  say "# postfix log: $(grep -c 'postfix/smtpd.*TLS connection established' "$WORK/pf.log") inbound and $(grep -c 'postfix/\(smtp\|tlsproxy\)\[.*TLS connection established' "$WORK/pf.log") outbound TLS connections, $(grep -c 'status=sent' "$WORK/pf.log") sent, $(grep -i 'warning\|fatal\|panic' "$WORK/pf.log" | grep -vc 'dict_nis_init') warnings (NIS notices aside)"
  p=$(median < "$WORK/p")
  say "RESULT tls vs postfix (median of $REPEAT, TLS on both legs, 1 KiB, 50 sessions x 10): sluiced $b msg/s delivered, postfix $p msg/s, ratio $(ratio "$b" "$p" %.1f)x (target >= 10x)"
fi

# d) full handshakes, with the TLS sink still up
#  inbound: the TLS relay (outbound TLS, reused), one message per inbound connection
sluiced_start -c "$WORK/tls.yaml" || exit 1
tls_run 1000 1 "" --tls >/dev/null
r0=$(tls_run "$N_HS" 1 "$SLUICED_PID"); say "d) inbound -m 1 plaintext: $(echo "$r0" | cut -d' ' -f1-5)"
r1=$(tls_run "$N_HS" 1 "$SLUICED_PID" --tls); say "d) inbound -m 1 TLS: $(echo "$r1" | cut -d' ' -f1-5) ($(echo "$r1" | cut -d' ' -f7))"
in_secs=$(echo "$r1" | awk '{print $6}')
if "$B/sluice-bench" --help | grep -q -- --tls-resume; then
  r2=$(tls_run "$N_HS" 1 "$SLUICED_PID" --tls-resume); say "d) inbound -m 1 TLS resumed: $(echo "$r2" | cut -d' ' -f1-5) ($(echo "$r2" | cut -d' ' -f7))"
fi
sluiced_stop
#  outbound: plaintext in with reuse; one message per outbound connection
sluiced_start -c "$WORK/hs-out-plain.yaml" || exit 1
tls_run 1000 10 "" >/dev/null
o0=$(tls_run "$N_HS" 10 "$SLUICED_PID"); say "d) outbound 1 msg/conn plaintext: $(echo "$o0" | cut -d' ' -f1-5)"
sluiced_stop
sluiced_start -c "$WORK/hs-out-tls.yaml" || exit 1
tls_run 1000 10 "" >/dev/null
o1=$(tls_run "$N_HS" 10 "$SLUICED_PID"); say "d) outbound 1 msg/conn TLS: $(echo "$o1" | cut -d' ' -f1-5)"
sluiced_stop; sink_stop

# handshakes/s, per sluiced CPU second (gross: the message's relay included),
# and net: per CPU second of the difference to the plaintext twin run
hs_report() {     # $1 label, $2 plain run, $3 TLS run, $4 which rate (1 delivered, 2 injected)
  echo "$2 $3" | awk -v l="$1" -v k="$4" '{
    rate = $(7 + k); cp = $3; ct = $10
    gross = ct > 0 ? 1e6 / ct : 0; net = ct > cp ? 1e6 / (ct - cp) : 0
    printf "RESULT tls handshakes %s: %.0f handshakes/s (1 per message; plaintext twin %.0f msg/s); sluiced CPU %.0f us per TLS message vs %.0f plaintext: %.0f handshakes per CPU-second gross, %.0f net of the message\n", l, rate, $k, ct, cp, gross, net }'
}
say "$(hs_report "inbound (sluice-bench --tls -m 1)" "$r0" "$r1" 2)"
[ -n "${r2:-}" ] && say "$(hs_report "inbound resumed (sluice-bench --tls-resume -m 1)" "$r0" "$r2" 2)"
say "$(hs_report "outbound (max_messages_per_connection: 1)" "$o0" "$o1" 1)"

#  reference: openssl s_server / s_time -new, same certificate, same seconds
secs=$(awk -v s="$in_secs" 'BEGIN{ s = int(s + 0.999); print s < 1 ? 1 : s }')
openssl s_server -accept 127.0.0.1:$SSL_PORT -cert "$CERT" -key "$KEY" -quiet \
  > "$WORK/s_server.log" 2>&1 &
SSL_PID=$!
i=0; while ! (exec 3<>/dev/tcp/127.0.0.1/$SSL_PORT) 2>/dev/null; do
  i=$((i+1)); [ $i -gt 100 ] && break; sleep 0.1
done
proto=$(openssl s_client -connect 127.0.0.1:$SSL_PORT -brief </dev/null 2>&1 |
  awk -F': ' '/^Protocol version/{v=$2} /^Ciphersuite/{c=$2} END{print v "/" c}')
c0=$(cpu_ticks $SSL_PID)
st=$(openssl s_time -connect 127.0.0.1:$SSL_PORT -new -time "$secs" 2>&1 | grep 'real seconds')
c1=$(cpu_ticks $SSL_PID)
kill $SSL_PID 2>/dev/null; wait $SSL_PID 2>/dev/null; SSL_PID=""
say "RESULT tls handshakes reference (openssl s_time -new -time $secs vs s_server, $proto): $(echo "$st $c0 $c1" | awk -v hz="$HZ" '{ n = $1; s = $4; cpu = ($(NF) - $(NF-1)) / hz
  printf "%d handshakes in %d s = %.0f/s; s_server CPU %.2f s: %.0f handshakes per CPU-second", n, s, (s > 0 ? n/s : 0), cpu, (cpu > 0 ? n/cpu : 0) }')"
log "results in $OUT"
