#!/bin/sh
# Fail closed on a descriptor table apart from the process's, and on Linux
# native aio (tests/progs/fc_tables.c).  The shim keeps one table of what
# each fd is per process: unshare(CLONE_FILES) (named or through
# syscall()), close_range(CLOSE_RANGE_UNSHARE) and clone(CLONE_FILES)
# without CLONE_VM would let a thread or child reuse a TLS fd's number for
# a plain file while another writes on it.  While the policy has TLS rules
# they fail with EINVAL, and io_setup (native aio, which moves bytes in the
# kernel past every wrapper) with ENOSYS; unshare(CLONE_FS) still works.
# Without TLS rules (deny only) every call works as without the shim.
# And a listening socket (TCP or MPTCP) an accept rule makes TLS is not
# passed to a program that will not run the shim: withheld (close-on-exec)
# from an exec with a clean environment, a posix_spawn dup2-ing it refused
# (EACCES), also with a memcpy() of the file actions (actions the library
# did not count, or as many as its own); an exec that keeps the shim
# inherits it, and after a spawn the listener is inheritable again.  A
# listener the first matching rule makes plain is passed on.  SCM_RIGHTS
# of a TLS listener (TCP or MPTCP) to a process without the library is
# refused.  A TCP socket bound to the TLS port but not listening yet is a
# listener for all of this (the program it went to could listen() on it);
# a UDP socket bound to that port is not.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim
[ -x "$PROGS/fc_tables" ] || { fail setup "$PROGS/fc_tables missing (make test-build)"; exit 1; }

policy "$T/tls.conf" <<EOC
rules = ( { name = "out"; direction = "connect"; port = 9; ca = "$CERTS/ca.crt"; } );
EOC
policy "$T/deny.conf" <<EOC
rules = ( { name = "no"; direction = "connect"; port = 9; action = "deny"; } );
EOC

# tables NAME POLICY WANT...: fc_tables under the shim prints exactly
# the lines WANT (one per call, in order).
tables() {
	_n=$1 _p=$2; shift 2
	TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/$_n.log" timeout -k 2 30 env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$_p" "$PROGS/fc_tables" >"$T/$_n.out" 2>"$T/$_n.err"
	rc=$?
	printf '%s\n' "$@" >"$T/$_n.want"
	if [ "$rc" -eq 0 ] && cmp -s "$T/$_n.out" "$T/$_n.want"; then
		pass "$_n"
	else
		fail "$_n" "exit $rc; got: $(tr '\n' '|' <"$T/$_n.out"); want: $(tr '\n' '|' <"$T/$_n.want") $(show "$T/$_n.err" "$T/$_n.log")"
	fi
}

tables tables_refused_with_tls_rules "$T/tls.conf" \
	"unshare-files: EINVAL" "syscall-unshare-files: EINVAL" "close_range-unshare: EINVAL" \
	"clone-files: EINVAL" "io_setup: ENOSYS" "unshare-fs: ok"
name=tables_refusals_logged
if [ "$(lines "$T/tables_refused_with_tls_rules.log" 'refused with EINVAL while the policy has TLS rules')" -eq 4 ] &&
   [ "$(lines "$T/tables_refused_with_tls_rules.log" 'io_setup: refused with ENOSYS')" -eq 1 ]; then
	pass "$name"
else
	fail "$name" "expected 4 EINVAL and 1 io_setup lines$(show "$T/tables_refused_with_tls_rules.log")"
fi
P=$(free_port)
policy "$T/listen.conf" <<EOC
rules = ( { name = "in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
# The same for an MPTCP listener (protocol 262, as mptcpize makes them),
# and for a TCP socket only bound to the port, not listening yet (as
# Node's cluster passes its workers): the program would listen() on it and
# serve the TLS port in clear (before 2026-12-07 it got it).
for proto in tcp mptcp bound; do
	name=tables_tls_listener_withheld_from_a_program_without_the_shim
	[ $proto = tcp ] || name=${name}_$proto
	what="listening socket" kept="listening socket fd 3 not passed on"
	[ $proto = bound ] && what="socket bound to the port" kept="socket fd 3 bound to the port, not passed on"
	TLSSHIM_LOG_FILE="$T/$name.log" timeout -k 2 30 env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/listen.conf" "$PROGS/fc_tables" listener "$P" $proto >"$T/$name.out" 2>"$T/$name.err"
	rc=$?
	printf '%s\n' "spawn-dup2: EACCES" "spawn-copied-actions: EACCES" "spawn-copied-same-count: EACCES" \
		"after-spawn: inheritable" "clean: withheld" "kept: inherited" >"$T/$name.want"
	if [ "$rc" -eq 0 ] && cmp -s "$T/$name.out" "$T/$name.want" &&
	   [ "$(lines "$T/$name.log" "posix_spawn refused: it would give fd 3, a $what")" -eq 1 ] &&
	   [ "$(lines "$T/$name.log" "$kept")" -eq 2 ]; then
		pass "$name"
	else
		fail "$name" "exit $rc; got: $(tr '\n' '|' <"$T/$name.out") $(show "$T/$name.err" "$T/$name.log")"
	fi
done
# The first rule that matches decides: plain for 127.0.0.1 on that port,
# before a TLS rule for every port: the listener is the program's to pass.
policy "$T/firstplain.conf" <<EOC
rules = ( { name = "local-plain"; direction = "accept"; port = $P; address = "127.0.0.1/32";
            action = "plain"; },
          { name = "rest"; direction = "accept";
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
name=tables_plain_listener_by_the_first_rule_passed_on
TLSSHIM_LOG_FILE="$T/$name.log" timeout -k 2 30 env LD_PRELOAD="$SHIM_PRELOAD" \
	TLSSHIM_CONFIG="$T/firstplain.conf" "$PROGS/fc_tables" listener "$P" >"$T/$name.out" 2>"$T/$name.err"
rc=$?
if [ "$rc" -eq 0 ] && grep -q '^spawn-dup2: ok$' "$T/$name.out" && grep -q '^clean: inherited$' "$T/$name.out"; then
	pass "$name"
else
	fail "$name" "exit $rc; got: $(tr '\n' '|' <"$T/$name.out") $(show "$T/$name.err" "$T/$name.log")"
fi

# SCM_RIGHTS of the TLS listener to a process without the library: refused
# (EOPNOTSUPP); the same to one with the library: passed.
cat >"$T/scm.py" <<'EOS'
import array, os, socket, sys
path, port, role = sys.argv[1], int(sys.argv[2]), sys.argv[3]
proto = 262 if sys.argv[4:] == ["mptcp"] else 0
bound = sys.argv[4:] in (["bound"], ["udp"])   # bound to the port, not listening (yet)
kind = socket.SOCK_DGRAM if sys.argv[4:] == ["udp"] else socket.SOCK_STREAM
if role == "recv":
    u = socket.socket(socket.AF_UNIX); u.bind(path); u.listen(1)
    print("ready", flush=True)
    c, _ = u.accept(); c.settimeout(10)
    try:
        msg, anc, _, _ = c.recvmsg(16, socket.CMSG_LEN(4))
        print("received fds" if anc else "received no fd", flush=True)
    except OSError as e:
        print("received nothing", e, flush=True)
else:
    l = socket.socket(socket.AF_INET, kind, proto); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("127.0.0.1", port))
    if not bound:
        l.listen(1)
    u = socket.socket(socket.AF_UNIX); u.connect(path)
    try:
        u.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [l.fileno()]))])
        print("sent")
    except OSError as e:
        print("refused", os.strerror(e.errno))
EOS
for who in plain shim plain_mptcp plain_bound shim_bound plain_udp; do
	name=tables_tls_listener_over_scm_rights_to_$who
	rm -f "$T/scm.$who.sock"
	if [ "${who%_bound}" = shim ]; then
		TLSSHIM_CONFIG="$T/listen.conf" shimbg "$PY" "$T/scm.py" "$T/scm.$who.sock" "$P" recv >"$T/$name.recv" 2>&1
	else
		bg "$PY" "$T/scm.py" "$T/scm.$who.sock" "$P" recv >"$T/$name.recv" 2>&1
	fi
	rpid=$!
	wait_for "$T/$name.recv" '^ready' 10
	TLSSHIM_LOG_FILE="$T/$name.log" timeout -k 2 30 env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/listen.conf" "$PY" "$T/scm.py" "$T/scm.$who.sock" "$P" send ${who#*_} >"$T/$name.out" 2>&1
	wait_exit "$rpid" 15 >/dev/null
	# (a UDP socket bound to the port takes no connection: passed on)
	case $who in plain_udp) want='^sent$' n=0 ;; plain*) want='^refused Operation not supported$' n=1 ;;
	*) want='^sent$' n=0 ;; esac
	if grep -q -E "$want" "$T/$name.out" && [ "$(lines "$T/$name.log" 'sendmsg refused: it would pass fd')" -eq $n ]; then
		pass "$name"
	else
		fail "$name" "got: $(tr '\n' '|' <"$T/$name.out") receiver: $(tr '\n' '|' <"$T/$name.recv") $(show "$T/$name.log")"
	fi
done

tables tables_allowed_without_tls_rules "$T/deny.conf" \
	"unshare-files: ok" "syscall-unshare-files: ok" "close_range-unshare: ok" \
	"clone-files: ok" "io_setup: ok" "unshare-fs: ok"
