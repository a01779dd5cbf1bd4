#!/bin/sh
# certs/mkcerts.sh DIR — make throwaway test/demo certificates for tlsshim.
#
# Creates in DIR (EC P-256 keys, PEM, keys mode 0600):
#   ca.crt ca.key                    root CA "tlsshim test CA"
#   server.crt server.key            CN=localhost, SAN localhost,127.0.0.1,::1
#   client.crt client.key            CN=tlsshim-client, clientAuth
#   expired.crt expired.key          like server, but expired (2020)
#   wrongname.crt wrongname.key      CN/SAN other.example only
#   other-ca.crt other-ca.key        a second, unrelated CA
#   untrusted.crt untrusted.key      server cert (localhost) signed by other-ca
#   client-untrusted.crt/.key        client cert signed by other-ca
#   cnonly.crt cnonly.key            CN=localhost only: no subjectAltName
#   a-test.crt a-test.key            CN/SAN a.test (virtual hosts on one IP)
#   b-test.crt b-test.key            CN/SAN b.test
#
# Idempotent: if every file is present and the certificates are still valid
# for at least a day, nothing is regenerated.  FORCE=1 regenerates.
# NOT for production: see certs/README.md for real certificates.
set -eu

if [ $# -ne 1 ] || [ -z "$1" ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir=$1
command -v openssl >/dev/null 2>&1 || { echo "mkcerts: openssl not found" >&2; exit 1; }

names="ca server client expired wrongname other-ca untrusted client-untrusted cnonly a-test b-test"

summary() {
	echo "mkcerts: certificates in $dir:"
	for n in $names; do
		subj=$(openssl x509 -in "$dir/$n.crt" -noout -subject -nameopt oneline 2>/dev/null | sed 's/^subject= *//')
		iss=$(openssl x509 -in "$dir/$n.crt" -noout -issuer -nameopt oneline 2>/dev/null | sed 's/^issuer= *//')
		end=$(openssl x509 -in "$dir/$n.crt" -noout -enddate 2>/dev/null | sed 's/^notAfter=//')
		printf '  %-22s %s (issuer: %s; notAfter %s)\n' "$n.crt/.key" "$subj" "$iss" "$end"
	done
}

# Up to date?  Every file there, keys private, valid certs (but expired.crt).
uptodate() {
	[ -z "${FORCE:-}" ] || return 1
	for n in $names; do
		[ -s "$dir/$n.crt" ] && [ -s "$dir/$n.key" ] || return 1
	done
	for n in ca server client wrongname other-ca untrusted client-untrusted cnonly a-test b-test; do
		openssl x509 -in "$dir/$n.crt" -noout -checkend 86400 >/dev/null 2>&1 || return 1
	done
	openssl verify -CAfile "$dir/ca.crt" "$dir/server.crt" >/dev/null 2>&1 || return 1
	return 0
}

mkdir -p "$dir"
if uptodate; then
	chmod 0600 "$dir"/*.key
	summary
	exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mkcerts.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
umask 077

cat >"$tmp/ext.cnf" <<'EOF'
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ server_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ wrongname_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:other.example
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ cnonly_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ a_test_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:a.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ b_test_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:b.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

genkey() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$tmp/$1.key" 2>/dev/null
}

# mkca NAME CN
mkca() {
	genkey "$1"
	openssl req -new -x509 -key "$tmp/$1.key" -out "$tmp/$1.crt" -sha256 \
		-days 3650 -subj "/O=tlsshim test/CN=$2" -set_serial "0x$(openssl rand -hex 12)" \
		-config "$tmp/ext.cnf" -extensions ca_ext 2>/dev/null
}

# mkleaf NAME CN CA EXT
mkleaf() {
	genkey "$1"
	openssl req -new -key "$tmp/$1.key" -out "$tmp/$1.csr" -subj "/O=tlsshim test/CN=$2" \
		-config "$tmp/ext.cnf" 2>/dev/null
	openssl x509 -req -in "$tmp/$1.csr" -out "$tmp/$1.crt" -sha256 -days 825 \
		-CA "$tmp/$3.crt" -CAkey "$tmp/$3.key" -set_serial "0x$(openssl rand -hex 12)" \
		-extfile "$tmp/ext.cnf" -extensions "$4" 2>/dev/null
}

mkca ca "tlsshim test CA"
mkca other-ca "tlsshim other CA"
mkleaf server localhost ca server_ext
mkleaf client tlsshim-client ca client_ext
mkleaf wrongname other.example ca wrongname_ext
mkleaf untrusted localhost other-ca server_ext
mkleaf client-untrusted tlsshim-client other-ca client_ext
mkleaf cnonly localhost ca cnonly_ext
mkleaf a-test a.test ca a_test_ext
mkleaf b-test b.test ca b_test_ext

# The expired certificate: "openssl x509" of OpenSSL 3.0 cannot set dates in
# the past, "openssl ca" can (-startdate/-enddate).
genkey expired
openssl req -new -key "$tmp/expired.key" -out "$tmp/expired.csr" -subj "/O=tlsshim test/CN=localhost" \
	-config "$tmp/ext.cnf" 2>/dev/null
mkdir "$tmp/ca.db"
: >"$tmp/ca.db/index.txt"
openssl rand -hex 12 >"$tmp/ca.db/serial"
cat >"$tmp/ca.cnf" <<EOF
[ ca ]
default_ca = testca
[ testca ]
dir = $tmp/ca.db
database = \$dir/index.txt
new_certs_dir = \$dir
serial = \$dir/serial
certificate = $tmp/ca.crt
private_key = $tmp/ca.key
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[ anything ]
organizationName = optional
commonName = supplied
EOF
cat "$tmp/ext.cnf" >>"$tmp/ca.cnf"
openssl ca -batch -notext -config "$tmp/ca.cnf" -extensions server_ext \
	-startdate 20200101000000Z -enddate 20200201000000Z \
	-in "$tmp/expired.csr" -out "$tmp/expired.crt" >"$tmp/ca.log" 2>&1 || {
	cat "$tmp/ca.log" >&2
	echo "mkcerts: could not make expired.crt" >&2
	exit 1
}

for n in $names; do
	[ -s "$tmp/$n.crt" ] && [ -s "$tmp/$n.key" ] || { echo "mkcerts: failed to make $n" >&2; exit 1; }
	chmod 0644 "$tmp/$n.crt"
	chmod 0600 "$tmp/$n.key"
done
# Keys first, then certificates, each by rename within DIR (no half files).
for n in $names; do
	for s in key crt; do
		cp -p "$tmp/$n.$s" "$dir/.$n.$s.new"
		mv -f "$dir/.$n.$s.new" "$dir/$n.$s"
	done
done
summary
