#!/bin/sh
# Install every Debian package Sluice needs to build, test and benchmark.
# Idempotent: does nothing when everything is present.  Run as root or with sudo.
# smtp-source/smtp-sink come from the postfix .deb, extracted privately into
# $SLUICE_TOOLS (default /opt/sluice-tools) so that the postfix package itself
# (installed only by the Postfix benchmark) is not needed for the tests.
# debhelper, lintian, scdoc and systemd (for systemd-analyze) build and
# check the Debian package, the manual pages and the unit (make deb, make
# test-package); debootstrap and systemd-container (systemd-nspawn) boot a
# Debian 12 root to run the packaged service (make test-service).
# qemu-user runs the unit tests on a CPU without SSE4.2 (make portability).
# libsisimai-perl is a real bounce parser: tests/integration/test_ndr.py
# feeds it the NDRs of expired messages, which it must read as final.
# libmicrohttpd-dev is the HTTP admin listener's library (core/http/);
# prometheus ships promtool, which checks /metrics (test_ctl, test_http;
# its service is not started by the tests).
# chromium, chromium-driver and python3-selenium drive the dashboard in a
# headless browser (make test-browser); fonts-dejavu-core gives its
# screenshots a font on a system that has none.
set -eu
TOOLS=${SLUICE_TOOLS:-/opt/sluice-tools}
PKGS="build-essential pkg-config liburing-dev libwolfssl-dev libc-ares-dev \
libjemalloc-dev libcriterion-dev libyaml-dev libjansson-dev libhiredis-dev libsqlite3-dev \
swaks libnet-ssleay-perl python3 iproute2 dnsmasq-base redis-server redis-sentinel haproxy openssl ca-certificates \
libicu72 libdb5.3 libnsl2 libsasl2-2 libssl3 procps psmisc \
clang valgrind gcovr autoconf automake libtool dpkg-dev \
debhelper lintian scdoc systemd debootstrap systemd-container libsisimai-perl qemu-user \
libmicrohttpd-dev prometheus chromium chromium-driver python3-selenium fonts-dejavu-core"

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

updated=""
# Install those of the packages given that are not installed yet.
install_missing() {
  missing=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
  done
  [ -n "$missing" ] || return 0
  echo "deps: installing:$missing"
  [ -n "$updated" ] || $SUDO apt-get update -qq || true
  updated=1
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
}
install_missing $PKGS
# libFuzzer and the sanitizer runtimes of the clang just installed, whatever
# its version (14 on Debian 12): make fuzz, the clang ASan builds.
install_missing "libclang-rt-$(clang -dumpversion | cut -d. -f1)-dev"

if [ ! -x "$TOOLS/root/usr/sbin/smtp-source" ]; then
  echo "deps: extracting smtp-source/smtp-sink from the postfix .deb into $TOOLS"
  $SUDO mkdir -p "$TOOLS"
  tmp=$(mktemp -d)
  ( cd "$tmp" && apt-get download postfix >/dev/null && $SUDO dpkg-deb -x postfix_*.deb "$TOOLS/root" )
  rm -rf "$tmp"
fi
