#!/bin/sh
# tests/preload/jail.sh — a program that confines itself after start keeps
# the policy's files: they are named from the root the library started
# under (policy/file.h), never from the program's new root or mounts.
# The shimmed tests/progs/jail_server (an accept rule requiring a client
# certificate of the test CA) listens, then
#  * chroot()s into a directory where "an attacker" put the rule's paths:
#    a forged CA (ca file; or its hashed entry in a ca directory, read at
#    verification time) and a server certificate and key of their own;
#  * or, in a mount namespace of its own, bind-mounts that directory over
#    the directory of the rule's files.
# A client certificate of the forged CA must be refused, one of the test
# CA accepted.  Before, the per-handshake ca check saw "changed" paths and
# reloaded the rule from the jail's files (and a ca directory's entries
# were read there at verification): the forged client got in, the good
# one was refused.
# A shimmed client that chroot()s, under a connect rule on the system
# store (SSL_CERT_DIR, read at verification time): a server of the jail's
# CA refused, one of the test CA accepted (before, the other way round).
# The same with the store's file (SSL_CERT_FILE, read at the first
# verification: the host's file, not the jail's at the same path).
# A shimmed program that chroot()s and execs a program the jail holds
# (without the library): a warn line at the exec (before, none).
# TLSSHIM_LOG_FILE opened again (its descriptor closed by a raw system
# call) after a chroot: the host's file, never the jail's (before, the
# jail's).
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim jail_setup
command -v openssl >/dev/null || { fail jail_setup "openssl not installed"; exit 1; }
[ -x "$PROGS/jail_server" ] || { fail jail_setup "$PROGS/jail_server missing (make test-build)"; exit 1; }

# The host's files, and the jail's forged ones at the same paths.
H=$T/host J=$T/jail
mkdir -p "$H/cadir" "$J$H/cadir" "$H/sysdir" "$J$H/sysdir" || exit 1
cp "$CERTS/server.crt" "$CERTS/server.key" "$CERTS/ca.crt" "$H/" &&
	cp "$CERTS/ca.crt" "$H/cadir/$(openssl x509 -in "$CERTS/ca.crt" -noout -subject_hash).0" &&
	printf 'basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost\n' >"$T/leaf.ext" &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=tlsshim test CA" -keyout "$T/evilca.key" -out "$J$H/ca.crt" 2>"$T/setup.log" &&
	for _n in server client; do
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$_n" \
			-keyout "$T/evil$_n.key" -out "$T/evil$_n.csr" 2>>"$T/setup.log" &&
		openssl x509 -req -in "$T/evil$_n.csr" -CA "$J$H/ca.crt" -CAkey "$T/evilca.key" \
			-CAcreateserial -days 2 -extfile "$T/leaf.ext" -out "$T/evil$_n.crt" 2>>"$T/setup.log" || exit 1
	done &&
	cp "$T/evilserver.crt" "$J$H/server.crt" && cp "$T/evilserver.key" "$J$H/server.key" &&
	cp "$J$H/ca.crt" "$J$H/cadir/$(openssl x509 -in "$J$H/ca.crt" -noout -subject_hash).0" &&
	cp "$H/cadir/"* "$H/sysdir/" && cp "$J$H/cadir/"* "$J$H/sysdir/" ||
	{ fail jail_setup "openssl failed$(show "$T/setup.log")"; exit 1; }
chmod 0755 "$J" "$J$H" "$J$H/cadir" "$J$H/sysdir"

# sc NAME PORT CERT KEY: one line sent with that client certificate; 0 when
# it came back.  The server's certificate is not checked (the forged
# server's is not of the test CA): what is tested is whom the server lets in.
sc() {
	_s_line="SECRET-$1"
	: >"$T/$1.sc"
	{
		printf '%s\n' "$_s_line"
		_s_end=$(($(date +%s) + 10 * TS))
		until grep -q "$_s_line" "$T/$1.sc" || grep -q ':error:\|^closed' "$T/$1.sc" ||
			[ "$(date +%s)" -ge "$_s_end" ]; do
			sleep 0.05
		done
	} | timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$2" -cert "$3" -key "$4" \
		>"$T/$1.sc" 2>&1
	grep -q "$_s_line" "$T/$1.sc"
}

# jailed NAME CA MODE ARGS...: the server with ca = CA, confined by MODE;
# the forged client refused, the good one accepted.
jailed() {
	_j_n=$1 _j_ca=$2
	shift 2
	P=$(free_port)
	policy "$T/$_j_n.conf" <<EOC
rules = ( { name = "$_j_n"; direction = "accept"; port = $P; require_client_cert = true;
  cert = "$H/server.crt"; key = "$H/server.key"; ca = "$_j_ca"; } );
EOC
	TLSSHIM_LOG=debug TLSSHIM_LOG_FILE="$T/$_j_n.log" shimbg "$PROGS/jail_server" "$P" "$@" \
		>"$T/$_j_n.out" 2>"$T/$_j_n.err"
	_j_srv=$!
	if ! wait_for "$T/$_j_n.out" '^jailed' 10; then
		fail "${_j_n}_setup" "never confined itself$(show "$T/$_j_n.out" "$T/$_j_n.err" "$T/$_j_n.log")"
		stop $_j_srv
		return
	fi
	if sc "${_j_n}_forged" "$P" "$T/evilclient.crt" "$T/evilclient.key"; then
		fail "${_j_n}_forged_client_refused" "a client certificate of the jail's CA was let in$(show "$T/$_j_n.log")"
	else
		pass "${_j_n}_forged_client_refused"
	fi
	if sc "${_j_n}_good" "$P" "$CERTS/client.crt" "$CERTS/client.key"; then
		pass "${_j_n}_good_client_accepted"
	else
		fail "${_j_n}_good_client_accepted" "the test CA's client was refused$(show "$T/${_j_n}_good.sc" "$T/$_j_n.err" "$T/$_j_n.log")"
	fi
	if grep -q 'reloaded certificates' "$T/$_j_n.log"; then
		fail "${_j_n}_no_reload" "the rule was reloaded from the jail$(show "$T/$_j_n.log")"
	else
		pass "${_j_n}_no_reload"
	fi
	stop $_j_srv
}

jailed chroot_ca_file "$H/ca.crt" chroot "$J"
jailed chroot_ca_dir "$H/cadir" chroot "$J"
jailed mount_ca_file "$H/ca.crt" mount "$J$H" "$H"

# A connect rule without ca: the system trust store, here SSL_CERT_DIR (a
# hashed directory, read at verification time).  The client chroot()s,
# then connects: a server of the jail's CA must be refused, one of the
# test CA accepted.  Before, the directory's entries were read in the jail.
# outbound NAME CERT KEY [FILE]: 0 when the shimmed client got its echo;
# FILE: SSL_CERT_FILE (default: none), then with an empty SSL_CERT_DIR.
outbound() {
	P=$(free_port)
	policy "$T/$1.conf" <<EOC
rules = ( { name = "$1"; direction = "connect"; port = $P; server_name = "localhost"; } );
EOC
	bg python3 "$TLSSHIM_TOP/tests/preload/tls_echo_server.py" "$P" "$2" "$3" >"$T/$1.srv" 2>&1
	wait_for "$T/$1.srv" '^listening' 10 || return 1
	SSL_CERT_FILE="${4:-$T/none}" SSL_CERT_DIR="${4:+$T/none}${4:-$H/sysdir}" \
		TLSSHIM_LOG_FILE="$T/$1.log" \
		timeout $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
		"$PROGS/jail_server" "$P" connect "$J" >"$T/$1.out" 2>&1
	grep -q '^reply: SECRET-connect' "$T/$1.out"
}
if outbound system_dir_forged_server "$T/evilserver.crt" "$T/evilserver.key"; then
	fail system_dir_forged_server_refused "a server of the jail's CA was trusted$(show "$T/system_dir_forged_server.out" "$T/system_dir_forged_server.log")"
else
	pass system_dir_forged_server_refused
fi
if outbound system_dir_good_server "$CERTS/server.crt" "$CERTS/server.key"; then
	pass system_dir_good_server_accepted
else
	fail system_dir_good_server_accepted "$(show "$T/system_dir_good_server.out" "$T/system_dir_good_server.log" "$T/system_dir_good_server.srv")"
fi

# The same with the store's file (SSL_CERT_FILE), which is read at the
# first verification (policy/hashdir.h), here after the chroot: the host's
# ca.crt, never the jail's forged one at the same path.
if outbound system_file_forged_server "$T/evilserver.crt" "$T/evilserver.key" "$H/ca.crt"; then
	fail system_file_forged_server_refused "a server of the jail's CA was trusted$(show \
		"$T/system_file_forged_server.out" "$T/system_file_forged_server.log")"
else
	pass system_file_forged_server_refused
fi
if outbound system_file_good_server "$CERTS/server.crt" "$CERTS/server.key" "$H/ca.crt"; then
	pass system_file_good_server_accepted
else
	fail system_file_good_server_accepted "$(show "$T/system_file_good_server.out" \
		"$T/system_file_good_server.log" "$T/system_file_good_server.srv")"
fi

# A program under the library that chroot()s and then execs: the loader
# looks for LD_PRELOAD's file under the new root, does not find it, and
# runs the new image without the library.  A warn line says so at the
# exec (before, nothing did).  The jail holds the program and its C
# library, not libtlsshim.so.
X=$T/xjail
mkdir -p "$X/bin" && cp "$PROGS/client" "$X/bin/client" &&
	for _l in $(ldd "$PROGS/client" | sed -n 's|.*=> \(/[^ ]*\).*|\1|p; s|^[[:space:]]*\(/[^ ]*\) .*|\1|p'); do
		mkdir -p "$X$(dirname "$_l")" && cp "$_l" "$X$_l" || exit 1
	done || { fail exec_setup "cannot build the jail"; exit 1; }
P=$(free_port)
policy "$T/exec.conf" <<EOC
rules = ( { name = "exec-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
TLSSHIM_LOG_FILE="$T/exec.log" timeout $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
	"$PROGS/jail_server" "$P" exec "$X" /bin/client >"$T/exec.out" 2>&1
_rc=$?
if lines "$T/exec.log" 'warn: exec of /bin/client after this process changed its root directory' | grep -qx 1 &&
	grep -q 'usage: client' "$T/exec.out"; then
	pass "exec_after_chroot_warned (exit $_rc: the program ran without the library)"
else
	fail exec_after_chroot_warned "exit $_rc$(show "$T/exec.out" "$T/exec.log")"
fi

# A TLS listener passed with SCM_RIGHTS goes only to a process that runs
# the library, told by the peer's /proc/PID/maps.  After a chroot that
# path named the jail's file: jail_server writes one (as whoever can write
# the jail would) that lists the library for its peer, a Python program
# without it; the pass must be refused (before, it was sent: the peer
# would serve plain text on the TLS port).
P=$(free_port)
policy "$T/pass.conf" <<EOC
rules = ( { name = "pass-in"; direction = "accept"; port = $P; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
bg python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.bind("\0" + sys.argv[1]); s.listen(1); s.settimeout(60)
print("ready", flush=True)
c, _ = s.accept(); c.settimeout(60)
try:
    msg, fds, _, _ = socket.recv_fds(c, 16, 4)
    print("got", len(fds), "fds", flush=True)
except OSError as e:
    print("recv:", e, flush=True)
' "tlsshim-jail-$$" >"$T/pass.peer" 2>&1
if wait_for "$T/pass.peer" '^ready' 10; then
	TLSSHIM_LOG_FILE="$T/pass.log" timeout $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
		"$PROGS/jail_server" "$P" pass "$T/pjail" "tlsshim-jail-$$" >"$T/pass.out" 2>&1
	if ! grep -q '^sent' "$T/pass.out" && grep -q 'sendmsg refused' "$T/pass.log"; then
		pass listener_not_passed_after_chroot
	else
		fail listener_not_passed_after_chroot "$(show "$T/pass.out" "$T/pass.log" "$T/pass.peer")"
	fi
else
	fail listener_not_passed_after_chroot "the peer never listened$(show "$T/pass.peer")"
fi

# The log file (TLSSHIM_LOG_FILE) is opened again by name when its
# descriptor was closed behind the library's back (here a raw close system
# call after chroot): the name is resolved from the start root, so the
# line goes to the host's file, not to the jail's file of that name
# (before, the jail's: whoever writes the jail chose where lines went).
P=$(free_port)
policy "$T/logjail.conf" <<EOC
rules = ( { name = "logjail"; direction = "connect"; port = $P; action = "deny"; } );
EOC
rm -f "$H/jail.log" "$J$H/jail.log"
TLSSHIM_LOG_FILE="$H/jail.log" timeout $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
	"$PROGS/jail_server" "$P" log "$J" "$H/jail.log" >"$T/logjail.out" 2>&1
if grep -q '^closed fd [0-9]*, connect: Connection refused' "$T/logjail.out" &&
	lines "$H/jail.log" 'rule "logjail": connection refused by policy' | grep -qx 1 && [ ! -e "$J$H/jail.log" ]; then
	pass log_file_reopened_from_start_root
else
	fail log_file_reopened_from_start_root "host log: $(lines "$H/jail.log" 'logjail') lines; jail's file: $([ -e "$J$H/jail.log" ] && echo present || echo absent)$(show "$T/logjail.out" "$H/jail.log" "$J$H/jail.log")"
fi
