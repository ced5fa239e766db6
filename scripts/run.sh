#!/bin/sh
# `make run`: a local sluice-sink on 127.0.0.1:2526 (keeping what it gets in
# ./var/sink) and sluiced in the foreground on the built-in default config
# (listen 127.0.0.1:2525, spool ./var/spool, example.test -> 127.0.0.1:2526).
# Ctrl-C stops both.
set -eu
B=${BUILD:-build}
mkdir -p var/sink
"$B/sluice-sink" -l 127.0.0.1:2526 --out var/sink --count-file var/sink.count &
SINK=$!
trap 'kill $SINK 2>/dev/null; wait $SINK 2>/dev/null' EXIT INT TERM
echo "sluice-sink on 127.0.0.1:2526 (messages in ./var/sink); starting sluiced on 127.0.0.1:2525"
echo "try: swaks --server 127.0.0.1:2525 --from you@client.test --to someone@example.test"
"$B/sluiced" "$@"
