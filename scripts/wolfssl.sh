#!/bin/sh
# scripts/wolfssl.sh PREFIX — the wolfSSL that `make WOLFSSL=private` links:
# Debian's source package of a current release (the next Debian release's,
# with Debian's security patches), fetched with apt-get source through a
# private sources list and package lists under PREFIX's parent (the
# machine's apt configuration is left alone), configured for speed
# (single-precision math with assembly, AES-NI and the Intel assembly on
# x86-64, the ARMv8 crypto instructions on aarch64; TLS 1.3, session
# tickets, SNI), built once and installed into PREFIX as a static library.
# Without the fixed-point ECC cache and SAKKE, which --enable-distro brings:
# their tables are thread-local (1.4 MB of static TLS that every thread of
# the process gets and zeroes, and more than a 256 KiB thread stack holds).
# A stamp in PREFIX names the source and the options: the same call again
# does nothing (no network), a change of either builds again.
set -eu
PREFIX=${1:?usage: scripts/wolfssl.sh PREFIX}
SUITE=${WOLFSSL_SUITE:-trixie}
TOP=$(dirname "$PREFIX")
FLAGS="--enable-static --disable-shared --enable-distro --disable-oldtls --enable-tls13
  --enable-session-ticket --enable-sni --enable-sp=yes --disable-fpecc --disable-sakke
  --disable-examples --disable-crypttests --disable-benchmark"
case "$(uname -m)" in
  x86_64) FLAGS="$FLAGS --enable-sp-asm --enable-aesni --enable-intelasm" ;;
  aarch64) FLAGS="$FLAGS --enable-sp-asm --enable-armasm" ;;
esac
FLAGS=$(echo $FLAGS)
STAMP="$PREFIX/.sluice-wolfssl"
if [ -f "$PREFIX/lib/libwolfssl.a" ] && [ -f "$PREFIX/include/wolfssl/options.h" ] && [ -f "$STAMP" ] &&
   [ "$(sed -n 2p "$STAMP")" = "$FLAGS" ]; then
  exit 0
fi
log() { echo "wolfssl: $*" >&2; }
t0=$(date +%s)
mkdir -p "$TOP/apt/lists/partial" "$TOP/src"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $SUITE main" \
  > "$TOP/apt/sources.list"
APT="-o Dir::Etc::sourcelist=$TOP/apt/sources.list -o Dir::Etc::sourceparts=- \
  -o Dir::State::Lists=$TOP/apt/lists -o APT::Get::List-Cleanup=0 \
  -o APT::Sandbox::User=root"
log "fetching the source package of $SUITE"
# shellcheck disable=SC2086
apt-get -qq $APT update >&2
rm -rf "$TOP/src"/*
# shellcheck disable=SC2086
( cd "$TOP/src" && apt-get -qq $APT --download-only source wolfssl >&2 )
dsc=$(ls "$TOP/src"/wolfssl_*.dsc)
version=$(sed -n 's/^Version: //p' "$dsc")
log "building wolfSSL $version ($FLAGS)"
( cd "$TOP/src" && dpkg-source --no-check -x "$dsc" tree >&2 )
cd "$TOP/src/tree"
./autogen.sh >"$TOP/src/autogen.log" 2>&1 || { tail -20 "$TOP/src/autogen.log" >&2; exit 1; }
# shellcheck disable=SC2086
./configure --prefix="$PREFIX" $FLAGS >"$TOP/src/configure.log" 2>&1 ||
  { tail -20 "$TOP/src/configure.log" >&2; exit 1; }
make -j"$(nproc)" >"$TOP/src/make.log" 2>&1 || { tail -20 "$TOP/src/make.log" >&2; exit 1; }
rm -rf "$PREFIX"
make install >"$TOP/src/install.log" 2>&1
# Debian's patches leave the generated options.h out of make install (its
# packaging copies it): without it the compiler would take the system's
# (another version's options, other struct layouts) from /usr/include.
install -m 644 wolfssl/options.h "$PREFIX/include/wolfssl/options.h"
# static only: the linker must not find a shared one next to it
rm -f "$PREFIX"/lib/libwolfssl.so* "$PREFIX"/lib/libwolfssl.la
printf '%s\n%s\n' "$version" "$FLAGS" > "$STAMP"
rm -rf "$TOP/src/tree"
log "wolfSSL $version in $PREFIX after $(( $(date +%s) - t0 )) s"
