#!/bin/sh
# make-certs.sh DIR - throwaway PKI for the TLS tests (openssl CLI, no network).
#
# Writes into DIR (created if missing), every key EC P-256 (fast to make):
#   ca.pem ca.key           the test CA (trust this one)
#   valid.pem valid.key     leaf: CN localhost, SAN localhost, mx.test.example,
#                           IP 127.0.0.1
#   expired.pem .key        same names, valid 2020-01-01 .. 2020-02-01
#   soon.pem .key           same names, expires 3 days after it was made
#                           (the certificate-expiry insight)
#   notyet.pem .key         same names, valid 2099-01-01 .. 2100-01-01
#   wrongname.pem .key      CN/SAN other.example
#   selfsigned.pem .key     same names as valid, self-signed
#   unknownca.pem .key      same names, signed by ca2 (not trusted)
#   ca2.pem ca2.key         that untrusted CA
#   revoked.pem .key        same names, signed by ca, then revoked
#   crl.pem                 ca's CRL listing revoked.pem (valid ~10 years)
#   wild.pem .key           SAN *.wild.test (wildcard matching tests)
#   laxwild.pem .key        SANs f*.part.test, *.*.deep.test, *.test, *
#                           (wildcards RFC 6125 matching must refuse)
#   cnonly.pem .key         CN mx.cn.test, no subjectAltName at all
#   cnsan.pem .key          CN cn.name.test, SAN DNS:san.name.test
#   nulcn.pem .key          CN "victim.example\0.attacker.example" (an
#                           embedded NUL), no subjectAltName
#   nulsan.pem .key         CN nulsan.test, SAN DNS with the same NUL name
#   int.pem int.key         intermediate CA signed by ca
#   chain.pem chain.key     leaf signed by int; chain.pem holds leaf + int
#
# Idempotent: a stamp file records a complete run; a later run with the
# same (or older) script does nothing. Otherwise everything is regenerated.
# The openssl ca databases live in DIR/db-*. Two runs at once on the same
# DIR race each other: give each concurrent user its own DIR.
set -eu

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
DIR=$1
mkdir -p "$DIR"
STAMP="$DIR/.complete"
if [ -f "$STAMP" ] && [ ! "$0" -nt "$STAMP" ]; then
	exit 0
fi
rm -f "$STAMP"

NAMES="DNS:localhost,DNS:mx.test.example,IP:127.0.0.1"
export OPENSSL_CONF=/dev/null	# no system defaults leaking in

key() {	# key NAME
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$DIR/$1.key" 2>/dev/null
}

# CA NAME [PARENT]: a CA certificate (self-signed, or signed by PARENT) and
# an openssl ca database for it.
ca() {
	key "$1"
	db="$DIR/db-$1"
	rm -rf "$db"
	mkdir -p "$db/new"
	: > "$db/index.txt"
	echo 1000 > "$db/serial"
	echo 1000 > "$db/crlnumber"
	cat > "$db/ca.cnf" <<EOF
[ ca ]
default_ca = ca_here
[ ca_here ]
database = $db/index.txt
new_certs_dir = $db/new
serial = $db/serial
crlnumber = $db/crlnumber
certificate = $DIR/$1.pem
private_key = $DIR/$1.key
default_md = sha256
default_crl_days = 3650
policy = policy_any
email_in_dn = no
unique_subject = no
copy_extensions = none
[ policy_any ]
commonName = supplied
[ v3_ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
	if [ $# -eq 1 ]; then
		openssl req -new -x509 -key "$DIR/$1.key" -out "$DIR/$1.pem" \
			-days 3650 -subj "/CN=Sluice Test $1" -sha256 \
			-addext "basicConstraints=critical,CA:true" \
			-addext "keyUsage=critical,keyCertSign,cRLSign"
	else
		openssl req -new -key "$DIR/$1.key" -subj "/CN=Sluice Test $1" \
			-out "$db/req.csr"
		sign "$2" "$db/req.csr" "$DIR/$1.pem" v3_ca "" -days 3650
	fi
}

# sign CA CSR OUT SECTION SAN DATE-ARGS...: issue a certificate with ca's
# database; SECTION is v3_ca or leaf, SAN the subjectAltName for a leaf.
sign() {
	signer=$1 csr=$2 out=$3 section=$4 san=$5
	shift 5
	ext="$DIR/db-$signer/ext.cnf"
	cat > "$ext" <<EOF
[ v3_ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ leaf ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = ${san:-DNS:unused.invalid}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ leaf_nosan ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
	openssl ca -batch -notext -config "$DIR/db-$signer/ca.cnf" \
		-in "$csr" -out "$out" -extfile "$ext" -extensions "$section" \
		"$@" 2>/dev/null
}

# leaf NAME CA CN SAN DATE-ARGS...  (SAN "-": no subjectAltName)
leaf() {
	name=$1 signer=$2 cn=$3 san=$4 section=leaf
	shift 4
	[ "$san" = "-" ] && section=leaf_nosan
	key "$name"
	openssl req -new -key "$DIR/$name.key" -subj "/CN=$cn" \
		-out "$DIR/db-$signer/$name.csr"
	sign "$signer" "$DIR/db-$signer/$name.csr" "$DIR/$name.pem" $section \
		"$san" "$@"
}

ca ca
ca ca2
ca int ca

leaf valid ca localhost "$NAMES" -days 3650
leaf expired ca localhost "$NAMES" \
	-startdate 20200101000000Z -enddate 20200201000000Z
leaf soon ca localhost "$NAMES" -days 3
leaf notyet ca localhost "$NAMES" \
	-startdate 20990101000000Z -enddate 21000101000000Z
leaf wrongname ca other.example "DNS:other.example" -days 3650
leaf unknownca ca2 localhost "$NAMES" -days 3650
leaf revoked ca localhost "$NAMES" -days 3650
leaf wild ca "*.wild.test" "DNS:*.wild.test" -days 3650
leaf laxwild ca laxwild "DNS:f*.part.test,DNS:*.*.deep.test,DNS:*.test,DNS:*" -days 3650
leaf cnonly ca mx.cn.test - -days 3650
leaf cnsan ca cn.name.test "DNS:san.name.test" -days 3650
leaf chainleaf int localhost "$NAMES" -days 3650
cat "$DIR/chainleaf.pem" "$DIR/int.pem" > "$DIR/chain.pem"
mv "$DIR/chainleaf.key" "$DIR/chain.key"
rm -f "$DIR/chainleaf.pem"

# nul NAME SECTION: a leaf whose CN (SECTION leaf_nosan) or only DNS SAN
# (SECTION leaf) is "victim.example\0.attacker.example".  No openssl
# command takes a NUL in a name, so: issue it with an X there, patch the
# DER, then have the patched name re-signed properly (x509toreq makes a
# request with a valid self-signature out of it; x509 -req issues that).
nul() {
	name=$1 section=$2 cn=victim.exampleX.attacker.example
	san=DNS:$cn
	[ "$section" = leaf ] && cn=nulsan.test
	key "$name"
	openssl req -new -key "$DIR/$name.key" -subj "/CN=$cn" \
		-out "$DIR/db-ca/$name.csr"
	sign ca "$DIR/db-ca/$name.csr" "$DIR/db-ca/$name.pre" "$section" \
		"$san" -days 3650
	openssl x509 -in "$DIR/db-ca/$name.pre" -outform DER |
		perl -0777 -pe 's/victim\.exampleX\./victim.example\0./' \
		> "$DIR/db-ca/$name.der"
	openssl x509 -x509toreq -copy_extensions copy -inform DER \
		-in "$DIR/db-ca/$name.der" -signkey "$DIR/$name.key" \
		-out "$DIR/db-ca/$name.req" 2>/dev/null
	openssl x509 -req -copy_extensions copy -in "$DIR/db-ca/$name.req" \
		-CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" -set_serial "0x$(od -An \
		-N8 -tx1 /dev/urandom | tr -d ' \n')" -days 3650 \
		-out "$DIR/$name.pem" 2>/dev/null
}
nul nulcn leaf_nosan
nul nulsan leaf

key selfsigned
openssl req -new -x509 -key "$DIR/selfsigned.key" -out "$DIR/selfsigned.pem" \
	-days 3650 -subj "/CN=localhost" -sha256 \
	-addext "subjectAltName=$NAMES" \
	-addext "basicConstraints=critical,CA:false"

openssl ca -batch -config "$DIR/db-ca/ca.cnf" -revoke "$DIR/revoked.pem" \
	-crl_reason keyCompromise 2>/dev/null
openssl ca -batch -config "$DIR/db-ca/ca.cnf" -gencrl -out "$DIR/crl.pem" \
	2>/dev/null

chmod 600 "$DIR"/*.key
touch "$STAMP"
