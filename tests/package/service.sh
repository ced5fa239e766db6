#!/bin/sh
# make test-service: the packaged relay under a real systemd, as on a
# Debian 12 server.  A Debian 12 root made by debootstrap (kept in
# build-deb/root: 1 to 3 minutes and 330 MB the first time; remove it to
# make it again, after the package's Depends changed) is booted
# with systemd-nspawn on a throw-away overlay, sharing this machine's
# network; in it the .deb from `make deb` is installed with dpkg, the
# shipped configuration gets a loopback port, and the service must:
# start (Type=notify: active only once sluiced said READY=1), take a
# message, answer the installed sluicectl on its default socket, reload,
# refuse a broken configuration on reload while it keeps running, and
# stop.  Needs root, debootstrap and systemd-nspawn (systemd-container).
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=build-deb/root
PORT=${SERVICE_PORT:-2625}
pass=0; fail=0; nspawn=""

ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAILED: $*"; }
finish() {
	[ -n "$nspawn" ] && kill "$nspawn" 2>/dev/null && wait "$nspawn" 2>/dev/null
	echo "service: $pass passed, $fail failed"
	echo "$pass passed, $fail failed"
	[ "$fail" = 0 ]
	exit $?
}

[ "$(id -u)" = 0 ] || { echo "service: needs root"; exit 2; }
for t in debootstrap systemd-nspawn swaks; do
	command -v $t >/dev/null || { echo "service: $t not installed"; exit 2; }
done
deb=$(ls build-deb/sluice_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || { echo "service: no build-deb/sluice_*.deb: make deb first"; exit 2; }

# what the root holds: systemd, and the package's own Depends as dpkg-deb
# reads them from the .deb (so a new library cannot be missed); a root
# made for another list is made again
include="systemd,systemd-sysv,dbus,procps,ca-certificates,$(dpkg-deb -f "$deb" Depends |
	tr ',' '\n' | sed 's/([^)]*)//; s/|.*//; s/ //g' | grep -v '^$' | paste -sd,)"
if [ ! -x "$ROOT/lib/systemd/systemd" ] ||
   [ "$(cat build-deb/root.include 2>/dev/null)" != "$include" ]; then
	echo "service: debootstrap bookworm into $ROOT"
	rm -rf "$ROOT" build-deb/root.include
	debootstrap --variant=minbase --include="$include" \
		bookworm "$ROOT" >build-deb/debootstrap.log 2>&1 ||
		{ tail -5 build-deb/debootstrap.log
		  # no Debian root, no boot: said, not failed (the package tests
		  # still ran); anything after a root exists is a real failure
		  echo "service: SKIPPED: debootstrap could not make a Debian 12 root" \
		       "(no network to the archive?)"; rm -rf "$ROOT"; exit 0; }
	echo "$include" > build-deb/root.include
fi

systemd-nspawn --quiet --register=no --keep-unit --volatile=overlay -D "$ROOT" \
	--bind-ro="$(pwd)/tests/package:/setup" --bind-ro="$(pwd)/build-deb:/debs" \
	--machine=sluice-test -b >build-deb/boot.log 2>&1 </dev/null &
nspawn=$!
init=""
for _ in $(seq 100); do
	init=$(pgrep -P $nspawn -x systemd) && break
	sleep 0.2
done
[ -n "$init" ] || { bad "container did not boot"; tail build-deb/boot.log; finish; }
ct() { nsenter -t "$init" -a "$@"; }
ct systemctl is-system-running --wait >/dev/null 2>&1

if ct sh /setup/service-setup.sh "/debs/$(basename "$deb")" "$PORT"; then
	ok "dpkg -i $(basename "$deb")"
else
	bad "dpkg -i"; finish
fi
[ "$(ct systemctl is-enabled sluice)" = enabled ] && ok "unit enabled" || bad "unit not enabled"
[ "$(ct systemctl is-active sluice)" = inactive ] && ok "not started by the install" ||
	bad "started by the install"
if timeout 100 nsenter -t "$init" -a systemctl start sluice; then
	ok "systemctl start sluice: $(ct systemctl is-active sluice)"
else
	bad "systemctl start sluice"; ct journalctl -u sluice --no-pager -n 20; finish
fi
if swaks --server 127.0.0.1:$PORT --from a@client.test --to b@example.test \
	--silent 2 >/dev/null 2>&1; then ok "message accepted on 127.0.0.1:$PORT"
else bad "message refused"; fi
user=$(ct ps -o user= -p "$(ct systemctl show -p MainPID --value sluice)")
if [ "$user" = sluice ]; then ok "sluiced runs as sluice"
else bad "sluiced runs as '$user', not sluice"; fi
q=$(ct sluicectl show queue)
echo "$q" | grep -q "b@example.test" && ok "sluicectl (default socket) shows it queued" ||
	bad "sluicectl show queue: $q"
if ct systemctl reload sluice; then ok "systemctl reload"
else bad "systemctl reload"; ct journalctl -u sluice --no-pager -n 20; fi
ct sh -c 'echo "bogus: 1" >>/etc/sluice/sluice.yaml'
if ct systemctl reload sluice 2>/dev/null; then bad "a broken file reloaded"
else ok "a broken file makes the reload fail"; fi
[ "$(ct systemctl is-active sluice)" = active ] && ok "still running after it" ||
	bad "not running after the failed reload"
ct systemctl stop sluice
ct journalctl -u sluice --no-pager | grep -q "sluiced stopped" && ok "systemctl stop drains" ||
	bad "no 'sluiced stopped' in the journal"
finish
