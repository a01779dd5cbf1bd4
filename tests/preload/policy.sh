#!/bin/sh
# tests/preload/policy.sh — start-up with a bad policy (fail closed: exit
# 78, "tlsshim: FILE:LINE: message", the program's own code never runs),
# no policy at all (inactive, said once at info level), and the launcher
# end to end with openssl s_client.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim policy_setup

P=$(free_port)

# bad NAME EXPECTED-LINE(or "any") — the policy is on standard input.
# Runs the shimmed echo_server with it: exit 78, the exact message format
# on stderr, and no "listening" (main() never ran).
bad() {
	name=$1 want=$2
	cat >"$T/$name.conf"
	POLICY="$T/$name.conf"
	unset TLSSHIM_LOG_FILE
	timeout -k 1 $((10 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
		"$PROGS/echo_server" -1 "$P" >"$T/$name.out" 2>"$T/$name.err"
	rc=$?
	if [ "$want" = any ]; then lre='[0-9]+'; else lre=$want; fi
	if [ "$rc" -ne 78 ]; then
		fail "$name" "expected exit status 78, got $rc$(show "$T/$name.out" "$T/$name.err")"
	elif grep -q listening "$T/$name.out"; then
		fail "$name" "the program ran (it printed 'listening') despite the bad policy"
	elif ! grep -q -E -e "^tlsshim: $POLICY:$lre: [^ ]" "$T/$name.err"; then
		fail "$name" "no line 'tlsshim: $POLICY:$want: message' on stderr$(show "$T/$name.err")"
	else
		pass "$name"
	fi
}

bad policy_unknown_key 4 <<EOF
rules = (
  { name = "in"; direction = "accept"; port = $P;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key";
    colour = "blue"; }
);
EOF

bad policy_unknown_top_level_key 1 <<EOF
colours = 3;
rules = (
  { name = "in"; direction = "accept"; port = $P;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; }
);
EOF

bad policy_missing_cert_file 3 <<EOF
rules = (
  { name = "in"; direction = "accept"; port = $P;
    cert = "$T/no-such-dir/server.crt";
    key = "$CERTS/server.key"; }
);
EOF

bad policy_syntax_error 3 <<EOF
rules = (
  { name = "in"; direction = "accept";
    port = = $P;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; }
);
EOF

bad policy_wrong_type 3 <<EOF
rules = (
  { name = "in"; direction = "accept";
    port = "https";
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; }
);
EOF

bad policy_bad_direction 2 <<EOF
rules = (
  { name = "in"; direction = "sideways"; port = $P;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; }
);
EOF

bad policy_accept_without_cert any <<EOF
rules = (
  { name = "in"; direction = "accept"; port = $P; }
);
EOF

bad policy_key_not_matching_cert any <<EOF
rules = (
  { name = "in"; direction = "accept"; port = $P;
    cert = "$CERTS/server.crt";
    key = "$CERTS/client.key"; }
);
EOF

bad policy_key_file_is_not_a_key 4 <<EOF
rules = (
  { name = "in"; direction = "accept"; port = $P;
    cert = "$CERTS/server.crt";
    key = "$CERTS/ca.crt"; }
);
EOF

bad policy_bad_min_version 3 <<EOF
rules = (
  { name = "out"; direction = "connect"; port = $P;
    min_version = "TLSv1.0"; }
);
EOF

bad policy_bad_cidr 3 <<EOF
rules = (
  { name = "out"; direction = "connect"; port = $P;
    address = "10.0.0.0/99"; }
);
EOF

# The policy file itself is missing: exit 78, "tlsshim: FILE...: message".
name=policy_file_missing
missing="$T/does-not-exist.conf"
timeout -k 1 $((10 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$missing" \
	"$PROGS/echo_server" -1 "$P" >"$T/$name.out" 2>"$T/$name.err"
rc=$?
if [ "$rc" -eq 78 ] && ! grep -q listening "$T/$name.out" &&
	grep -q -E -e "^tlsshim: $missing(:[0-9]+)?: [^ ]" "$T/$name.err"; then
	pass "$name"
else
	fail "$name" "expected exit 78 and 'tlsshim: $missing: message', got exit $rc$(show "$T/$name.out" "$T/$name.err")"
fi

# The refusal line goes to standard error, but never onto a socket (an
# inetd service's fd 2 is its client's connection: the line went there in
# clear) and never waits (a full pipe held the program before main for
# ever): exit 78 both times, no byte on the socket.
name=policy_refusal_stderr_socket_or_full_pipe
"$PY" - "$SHIM_PRELOAD" "$missing" "$PROGS/echo_server" "$P" $((10 * TS)) >"$T/$name.out" 2>&1 <<'EOP'
import fcntl, os, socket, subprocess, sys
pre, conf, prog, port, t = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
env = dict(os.environ, LD_PRELOAD=pre, TLSSHIM_CONFIG=conf)
env.pop("TLSSHIM_LOG_FILE", None)
a, b = socket.socketpair()
try:
    rc = subprocess.run([prog, "-1", port], env=env, stderr=b.fileno(), stdout=subprocess.DEVNULL,
                        timeout=t).returncode
except subprocess.TimeoutExpired:
    rc = "timeout"
b.close()
a.settimeout(t)
print("socket exit", rc, "bytes", len(a.recv(4096)))
r, w = os.pipe()
fcntl.fcntl(w, fcntl.F_SETFL, os.O_NONBLOCK)
try:
    while True:
        os.write(w, b"x" * 4096)
except BlockingIOError:
    pass
fcntl.fcntl(w, fcntl.F_SETFL, 0)
try:
    rc = subprocess.run([prog, "-1", port], env=env, stderr=w, stdout=subprocess.DEVNULL,
                        timeout=t).returncode
except subprocess.TimeoutExpired:
    rc = "timeout"
print("pipe exit", rc)
EOP
if grep -q -x 'socket exit 78 bytes 0' "$T/$name.out" && grep -q -x 'pipe exit 78' "$T/$name.out"; then
	pass "$name"
else
	fail "$name" "expected 'socket exit 78 bytes 0' and 'pipe exit 78'$(show "$T/$name.out")"
fi

# --- no TLSSHIM_CONFIG and no /etc/tlsshim.conf: inactive, every socket
# plain, said once at level info (and nothing at the default level).
name=inactive_without_policy
if [ -e /etc/tlsshim.conf ]; then
	pass "$name (skipped: /etc/tlsshim.conf exists on this machine)"
else
	for lv in info default; do
		rm -f "$T/$name.$lv.log"
		if [ $lv = info ]; then
			bg env -u TLSSHIM_CONFIG LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_LOG=info \
				TLSSHIM_LOG_FILE="$T/$name.$lv.log" "$PROGS/echo_server" -1 "$P" \
				>"$T/$name.$lv.out" 2>"$T/$name.$lv.err"
		else
			bg env -u TLSSHIM_CONFIG -u TLSSHIM_LOG -u TLSSHIM_LOG_FILE LD_PRELOAD="$SHIM_PRELOAD" \
				"$PROGS/echo_server" -1 "$P" >"$T/$name.$lv.out" 2>"$T/$name.$lv.err"
		fi
		srv=$!
		wait_for "$T/$name.$lv.out" '^listening'
		printf 'in the clear\n' | timeout $((10 * TS)) "$PROGS/client" 127.0.0.1 "$P" >"$T/$name.$lv.got" 2>&1
		eval "rc_$lv=\$?"
		wait_exit "$srv" 10
		eval "src_$lv=\$?"
	done
	n=$(lines "$T/$name.info.log" 'inactive|not active|no polic|disabled')
	# shellcheck disable=SC2154
	if [ "$rc_info" -ne 0 ] || [ "$src_info" -ne 0 ] || [ "$(cat "$T/$name.info.got")" != "in the clear" ]; then
		fail "$name" "plain echo failed under an inactive shim (client $rc_info, server $src_info)$(show "$T/$name.info.got" "$T/$name.info.err" "$T/$name.info.log")"
	elif [ "$n" -ne 1 ]; then
		fail "$name" "expected one info line saying the shim is inactive, found $n$(show "$T/$name.info.log")"
	elif [ "$rc_default" -ne 0 ] || [ "$src_default" -ne 0 ] || [ -s "$T/$name.default.err" ]; then
		fail "$name" "at the default level: client $rc_default, server $src_default, stderr not empty$(show "$T/$name.default.err")"
	else
		pass "$name"
	fi
fi

# --- /etc/tlsshim.conf there but not readable: an error, never inactive ------
# In a mount namespace of its own, /etc gets an overlay (the real one is
# never touched) where /etc/tlsshim.conf is a symbolic link to nothing, or
# to a policy in a directory only root may search, read by user nobody:
# both refuse to start (78, the reason named), where "does not exist" would
# have left every socket plain.  As root: the link's policy loads.
default_case() {
	name=$1 who=$2 want=$3
	mkdir -p "$T/$name.u" "$T/$name.w"
	cat >"$T/$name.sh" <<EOS
mount -t overlay overlay -o lowerdir=/etc,upperdir=$T/$name.u,workdir=$T/$name.w /etc || exit 90
mkdir -m 700 /etc/tlsshim-test.d
printf 'rules = ( { direction = "connect"; port = 9; action = "deny"; } );\n' >/etc/tlsshim-test.d/p.conf
chmod 644 /etc/tlsshim-test.d/p.conf
ln -s ${4:-/etc/tlsshim-test.d/p.conf} /etc/tlsshim.conf
if [ $who = root ]; then
	exec env -u TLSSHIM_CONFIG LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_LOG=info /bin/true
fi
exec setpriv --reuid=65534 --regid=65534 --clear-groups env -u TLSSHIM_CONFIG LD_PRELOAD="$SHIM_PRELOAD" /bin/true
EOS
	timeout $((20 * TS)) unshare --mount --propagation private sh "$T/$name.sh" >"$T/$name.out" 2>&1
	rc=$?
	if [ "$rc" -eq 90 ]; then
		fail "$name" "cannot mount an overlay on /etc in a mount namespace$(show "$T/$name.out")"
	elif [ "$want" = 78 ] && [ "$rc" -eq 78 ] && grep -q "tlsshim: /etc/tlsshim.conf: .*$5" "$T/$name.out"; then
		pass "$name"
	elif [ "$want" = 0 ] && [ "$rc" -eq 0 ] && grep -q 'policy /etc/tlsshim.conf: 1 rule loaded' "$T/$name.out"; then
		pass "$name"
	else
		fail "$name" "expected exit $want, got $rc$(show "$T/$name.out")"
	fi
}
if [ "$(id -u)" -ne 0 ]; then
	fail default_policy_unreadable "needs root (a mount namespace with an overlay on /etc)"
elif [ -e /etc/tlsshim.conf ] || [ -L /etc/tlsshim.conf ]; then
	fail default_policy_unreadable "/etc/tlsshim.conf exists on this machine"
else
	default_case default_policy_dangling_link_refuses root 78 /nonexistent/p.conf 'No such file'
	default_case default_policy_unreachable_for_the_user_refuses nobody 78 '' 'Permission denied'
	default_case default_policy_through_a_link_loads root 0
fi

# --- the launcher: tlsshim -c POLICY -- echo_server PORT, end to end -------
# Run from the policy's directory with a relative -c: the program must see
# absolute TLSSHIM_CONFIG and LD_PRELOAD, and an LD_PRELOAD that was
# already set is kept.
name=launcher_end_to_end_openssl
P=$(free_port)
mkdir -p "$T/launch"
cat >"$T/launch/p.conf" <<EOF
rules = (
  { name = "launched"; direction = "accept"; port = $P;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; }
);
EOF
audit_policy "$T/launch/p.conf"
# Something harmless already preloaded (under ASan: the ASan runtime, which
# must stay first).
pre=$(echo "$SHIM_PRELOAD" | sed "s|$TLSSHIM_LIB||; s/^ *//; s/ *\$//")
if [ -z "$pre" ]; then
	pre=$("$PY" -c 'import ctypes.util,sys; print(ctypes.util.find_library("m") or "")')
	[ -n "$pre" ] || pre=libm.so.6
fi
unset TLSSHIM_LOG_FILE
(cd "$T/launch" && exec env LD_PRELOAD="$pre" "$TLSSHIM_LAUNCHER" -c p.conf -- "$PROGS/echo_server" -1 "$P") \
	>"$T/$name.out" 2>"$T/$name.err" &
_bg_pids="$_bg_pids $!"
lpid=$!
if wait_for "$T/$name.out" '^listening'; then
	# what the program got in its environment
	tr '\0' '\n' <"/proc/$lpid/environ" >"$T/$name.env" 2>/dev/null
	feed_until "$T/$name.got" 'launched ok' 'launched ok' |
		timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$P" -CAfile "$CERTS/ca.crt" \
			-verify_return_error -brief >"$T/$name.got" 2>"$T/$name.ossl"
	wait_exit "$lpid" 10; rc=$?
	cfg=$(sed -n 's/^TLSSHIM_CONFIG=//p' "$T/$name.env")
	lp=$(sed -n 's/^LD_PRELOAD=//p' "$T/$name.env")
	if ! grep -q '^launched ok$' "$T/$name.got"; then
		fail "$name" "no echo through the launched program$(show "$T/$name.ossl" "$T/$name.err")"
	elif ! grep -q 'Protocol version: TLSv1.3' "$T/$name.ossl" || ! grep -q 'Verification: OK' "$T/$name.ossl"; then
		fail "$name" "s_client did not report TLSv1.3 and a verified server$(show "$T/$name.ossl")"
	elif [ "$rc" -ne 0 ]; then
		fail "$name" "echo_server exited $rc$(show "$T/$name.err")"
	elif [ ! -s "$T/$name.env" ]; then
		fail "$name" "could not read the program's environment"
	elif case "$cfg" in /*) false ;; *) true ;; esac || [ ! "$cfg" -ef "$T/launch/p.conf" ]; then
		fail "$name" "TLSSHIM_CONFIG is not the policy's absolute path: '$cfg'"
	elif ! echo "$lp" | grep -q -F "$pre" || ! echo "$lp" | grep -q -E '(^|[ :])/[^ :]*libtlsshim\.so'; then
		fail "$name" "LD_PRELOAD should keep '$pre' and add the library's absolute path: '$lp'"
	else
		pass "$name"
	fi
else
	fail "$name" "the launched echo_server never listened$(show "$T/$name.err")"
fi

# at_start LOG CONF: /bin/true under the library with the policy CONF, its
# log in LOG (emptied first): what the library says at start.
at_start() {
	: >"$1"
	timeout -k 1 $((10 * TS)) env TLSSHIM_LOG_FILE="$1" LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$2" /bin/true
}

# ---- the C library's resolver and a TLS rule over its name server --------------
# getaddrinfo() asks the name servers of /etc/resolv.conf with the C
# library's internal calls (UDP, and TCP to port 53 for long answers or
# with "options use-vc"), past every wrapper: a connect rule that makes a
# name server's port 53 TLS cannot be kept for them, and the library says
# so once at start.  This script's mount namespace is its own: a
# resolv.conf of ours is bound over /etc/resolv.conf.
printf 'nameserver 127.0.0.1\nnameserver ::1\noptions use-vc\n' >"$T/resolv.conf"
if ! mount --bind "$T/resolv.conf" /etc/resolv.conf 2>"$T/mount.err"; then
	fail "resolver: setup" "cannot bind a resolv.conf over /etc/resolv.conf: $(cat "$T/mount.err")"
else
	policy "$T/dns-tls.conf" <<EOC
rules = ( { name = "all-local"; direction = "connect"; address = ["127.0.0.1/32", "::1/128"];
            ca = "$CERTS/ca.crt"; } );
EOC
	policy "$T/dns-plain.conf" <<EOC
rules = ( { name = "dns"; direction = "connect"; port = 53; action = "plain"; },
          { name = "all-local"; direction = "connect"; address = ["127.0.0.1/32", "::1/128"];
            ca = "$CERTS/ca.crt"; } );
EOC
	for c in tls plain; do
		at_start "$T/dns-$c.log" "$T/dns-$c.conf"
	done
	w4='warn: name server 127.0.0.1 port 53 (/etc/resolv.conf) matches rule "all-local", action tls:'
	w6='warn: name server ::1 port 53 (/etc/resolv.conf) matches rule "all-local", action tls:'
	name="a TLS rule over a name server's port 53: one warning per server at start (the resolver's queries pass the library)"
	if grep -q -F "$w4" "$T/dns-tls.log" && grep -q -F "$w6" "$T/dns-tls.log" &&
	   [ "$(grep -c 'name server' "$T/dns-tls.log")" -eq 2 ]; then
		pass "$name"
	else
		fail "$name" "$(cut -c1-90 "$T/dns-tls.log" | tr '\n' '|')"
	fi
	check "a plain rule for port 53 before it: no warning" has_no "$T/dns-plain.log" "name server"
	# The servers glibc's resolver reads (res_init.c): "nameserver" at the
	# start of a line (a comment or a blank first is no server), the first
	# three valid addresses (a bad one does not count; 0x7f.1 is 127.0.0.1
	# for inet_aton; a %scope is dropped).
	printf '%s\n' '# nameserver 127.0.0.1' ' nameserver 127.0.0.1' 'nameserver bogus' \
		'nameserver 127.0.0.2' 'nameserver 0x7f.1' 'nameserver ::1%lo' 'nameserver 127.0.0.1' \
		>"$T/resolv.conf"
	at_start "$T/dns-glibc.log" "$T/dns-tls.conf"
	name="the name servers the resolver asks, as glibc reads resolv.conf: the first three valid ones"
	got=$(sed -n 's/.*warn: name server \([^ ]*\) port 53 .*/\1/p' "$T/dns-glibc.log" | tr '\n' ' ')
	if [ "$got" = "127.0.0.1 ::1 " ]; then
		pass "$name"
	else
		fail "$name" "warned for: '$got' (want 127.0.0.1 ::1: 127.0.0.2, 0x7f.1, ::1%lo)"
	fi
	umount /etc/resolv.conf 2>/dev/null
	# A FIFO as resolv.conf (no writer): the look must not hold the
	# start (the old one's fopen() waited for a writer, before main, for
	# ever); nothing to read there, so the resolver's default is said.
	mkfifo "$T/resolv.fifo" && mount --bind "$T/resolv.fifo" /etc/resolv.conf
	at_start "$T/dns-fifo.log" "$T/dns-tls.conf"
	rc=$?
	umount /etc/resolv.conf 2>/dev/null
	name="resolv.conf a FIFO without a writer: start-up does not wait on it"
	if [ $rc -eq 0 ] && grep -q -F "$w4" "$T/dns-fifo.log"; then
		pass "$name"
	else
		fail "$name" "exit $rc (124: held at start), log: $(cut -c1-90 "$T/dns-fifo.log" | tr '\n' '|')"
	fi
fi

# ---- require_client_cert with the system's store of public CAs ------------------
# Any client with a certificate from any public CA would be let in: one
# warning at start naming the rule; none with an allow_ list, none with a
# private CA.
SYSCA=/etc/ssl/certs/ca-certificates.crt
if [ ! -s "$SYSCA" ]; then
	fail "public client CA: setup" "$SYSCA is missing (ca-certificates, in .ci/packages)"
else
	for c in public allow private; do
		case $c in
		public) extra="ca = \"$SYSCA\";" ;;
		allow) extra="ca = \"$SYSCA\"; allow_cn = [\"client.test\"];" ;;
		private) extra="ca = \"$CERTS/ca.crt\";" ;;
		esac
		policy "$T/mtls-$c.conf" <<EOC
rules = ( { name = "mtls-in"; direction = "accept"; port = $P; cert = "$CERTS/server.crt";
            key = "$CERTS/server.key"; require_client_cert = true; $extra } );
EOC
		at_start "$T/mtls-$c.log" "$T/mtls-$c.conf"
	done
	check "require_client_cert with the system's public CAs and no allow_ list: warned at start" \
		grep -q -F "warn: rule \"mtls-in\": require_client_cert with ca \"$SYSCA\", the system's store of public CAs" "$T/mtls-public.log"
	check "the same with allow_cn: no warning" has_no "$T/mtls-allow.log" "public CAs"
	check "require_client_cert with a private CA: no warning" has_no "$T/mtls-private.log" "public CAs"
fi

# ---- a private key every user can read -------------------------------------------
# One warning at start naming the rule, the file and its mode; none for a
# key only its owner reads.
cp "$CERTS/server.key" "$T/open.key" && chmod 644 "$T/open.key"
for k in open shut; do
	kf=$T/open.key
	[ $k = shut ] && kf=$CERTS/server.key
	policy "$T/key-$k.conf" <<EOC
rules = ( { name = "in-$k"; direction = "accept"; port = $P; cert = "$CERTS/server.crt"; key = "$kf"; } );
EOC
	at_start "$T/key-$k.log" "$T/key-$k.conf"
done
check "a private key readable by every user: warned at start (rule, file, mode)" \
	grep -q -F "warn: rule \"in-open\": private key \"$T/open.key\" is readable by every user (mode 0644)" "$T/key-open.log"
check "a private key only its owner reads: no warning" has_no "$T/key-shut.log" "readable by every user"

# ---- two copies of the library in one process ----------------------------------
# Each would wrap the other's calls (TLS inside TLS, connections that
# hang): the first to start stops the program, naming both.
cp "$TLSSHIM_LIB" "$T/copy-libtlsshim.so"
policy "$T/copy.conf" <<EOC
rules = ( { name = "out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
timeout -k 1 $((10 * TS)) env LD_PRELOAD="$SHIM_PRELOAD $T/copy-libtlsshim.so" TLSSHIM_CONFIG="$T/copy.conf" \
	"$PROGS/echo_server" -1 "$P" >"$T/copy.out" 2>"$T/copy.err"
rc=$?
if [ $rc -eq 78 ] && ! grep -q listening "$T/copy.out" &&
   grep -q -E "^tlsshim: [^ ]*libtlsshim.so: another copy of libtlsshim.so is loaded in this process \(this one: [^ ]*libtlsshim.so\)" "$T/copy.err"; then
	pass "two copies of the library in LD_PRELOAD: stopped at start (78), both named"
else
	fail "two copies of the library: stopped" "exit $rc$(show "$T/copy.out" "$T/copy.err")"
fi
