#!/bin/sh
# Fail closed when a connection changes hands (classes 4 and 16): our own
# plain servers under the shim, a real TLS client (Python ssl) through a
# recording relay.
#  4  a pre-forked server (tests/progs/fc_prefork.c): the parent accepts on
#     the TLS port and passes the fd to a worker with SCM_RIGHTS; the
#     worker greets and reads the client's line: the client gets the
#     greeting over TLS, the worker the client's plaintext.  The same with
#     a session the parent already used (greeted), and with the worker
#     taking the fd with pidfd_getfd() (unused: it serves; used: its write
#     is refused and the parent goes on serving).  And a worker that is
#     another program image, started without the shim (clean environment),
#     inheriting the socketpair: the session must not reach it raw.
# 16  an inetd of our own (tests/progs/fc_inetd.c) starts a service that
#     will not load the shim (clean environment, connection on fd 5) with
#     execle(), posix_spawn(), execveat() and syscall(SYS_execveat): the
#     service's greeting and echo reach the client over TLS.
# The wire is all TLS records; the sentinel never in clear.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/failclosed_common.inc"
need_shim
for p in fc_prefork fc_inetd; do
	[ -x "$PROGS/$p" ] || { fail setup "$PROGS/$p missing (make test-build)"; exit 1; }
done

# The server under test listens on P; the relay R in front of it records.
set -- $(fc_ports 2)
P=$1 R=$2
mkdir -p "$T/relay.wire"
bg "$PY" "$WIRE" relay --port "$R" --to "$P" --dir "$T/relay.wire" >"$T/relay.out" 2>&1
RELAY=$!
if ! wait_for "$T/relay.out" '^ready' 10; then
	fail setup "relay did not start: $(cat "$T/relay.out")"
	exit 1
fi
policy "$T/srv.conf" <<EOC
rules = ( { name = "fc-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC

# serve NAME PROG MODE N: start PROG MODE under the shim on P (output in
# $T/NAME.out), wait until it listens; the pid is in SRV.
serve() {
	TLSSHIM_LOG_FILE="$T/$1.log" timeout -k 2 90 env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/srv.conf" "$PROGS/$2" "$3" "$P" "$4" "$SENT" >"$T/$1.out" 2>&1 &
	SRV=$!
	_bg_pids="$_bg_pids $SRV"
	wait_for "$T/$1.out" '^listening' 10
}

# clients NAME N GREETING WHO: N TLS clients through the relay, one after
# the other: each expects GREETING, sends its line, expects WHO's answer.
# Sets CLIENTS_OK to the number that worked; outputs in $T/NAME.cli.
clients() {
	CLIENTS_OK=0
	_i=0
	while [ $_i -lt "$2" ]; do
		_line="$SENT client line $_i"
		if "$PY" "$WIRE" client --port "$R" --ca "$CERTS/ca.crt" --server-name localhost \
			--expect "$3
" --send "$_line
" --reply "$4 read: $_line
" >>"$T/$1.cli" 2>&1; then
			CLIENTS_OK=$((CLIENTS_OK + 1))
		fi
		_i=$((_i + 1))
	done
}

# finish NAME N: wait for the server, collect its captures; sets RC, WRC.
finish() {
	wait_exit "$SRV" 30
	RC=$?
	fc_collect relay "$1"
	fc_wire "$1" --min-conns "$2" --need-bytes
	WRC=$?
}

verdict() {
	if [ "$RC" -eq 0 ] && [ "$WRC" -eq 0 ] && [ "$CLIENTS_OK" -eq "$2" ] && [ -z "${EXTRA_BAD:-}" ]; then
		pass "$3 ($CLIENTS_OK/$2 clients ok; $WIRE_OUT${EXTRA_OK:-})"
	else
		fail "$3" "server exit $RC; $CLIENTS_OK/$2 clients ok ($(grep -E 'error' "$T/$1.cli" | head -n 2 | tr '\n' '|')); $WIRE_OUT; server: $(grep -v -E '^(listening|worker got|parent got)' "$T/$1.out" | head -n 4 | tr '\n' '|')${EXTRA_BAD:-} log: $(log_tail "$T/$1.log")"
	fi
	EXTRA_BAD='' EXTRA_OK=''
}

# ---- 4: SCM_RIGHTS and pidfd_getfd ---------------------------------------------
if serve scm fc_prefork scm 3; then
	clients scm 3 "$SENT worker greeting" worker
	finish scm 3
	verdict scm 3 "pre-forked server, fd passed with SCM_RIGHTS before any use: the worker's greeting and the client's line cross over TLS"
else
	fail "SCM_RIGHTS pre-forked server" "did not listen: $(cat "$T/scm.out")"
fi

if serve scmexec fc_prefork scm-exec 2; then
	clients scmexec 2 "$SENT worker greeting" worker
	finish scmexec 2
	verdict scmexec 2 "fd passed with SCM_RIGHTS before any use to a worker that is another image without the shim (exec'd with a clean environment, socketpair inherited): the worker's greeting and the client's line cross over TLS"
else
	fail "SCM_RIGHTS to a worker without the shim" "did not listen: $(cat "$T/scmexec.out")"
fi

if serve scmused fc_prefork scm-used 2; then
	clients scmused 2 "$SENT parent greeting" worker
	finish scmused 2
	verdict scmused 2 "pre-forked server passing a session it already used (greeting sent) with SCM_RIGHTS: the worker reads the client's plaintext and answers over TLS"
else
	fail "SCM_RIGHTS of a used session" "did not listen: $(cat "$T/scmused.out")"
fi

if serve pidfd fc_prefork pidfd 2; then
	clients pidfd 2 "$SENT worker greeting" worker
	finish pidfd 2
	verdict pidfd 2 "worker takes the accepted fd with pidfd_getfd() before any use: greeting and line cross over TLS"
else
	fail "pidfd_getfd" "did not listen: $(cat "$T/pidfd.out")"
fi

if serve pidfdused fc_prefork pidfd-used 1; then
	clients pidfdused 1 "$SENT parent greeting" parent
	finish pidfdused 1
	stolen=$(grep '^worker: stolen write' "$T/pidfdused.out")
	case "$stolen" in
	*ECONNRESET|*EPIPE|*EBADF) EXTRA_OK="; $stolen" ;;
	*) EXTRA_BAD="; $stolen (want a failure)" ;;
	esac
	verdict pidfdused 1 "another process takes a used TLS fd with pidfd_getfd(): its write fails, nothing in clear; the owner goes on over TLS"
else
	fail "pidfd_getfd of a used session" "did not listen: $(cat "$T/pidfdused.out")"
fi

# ---- 16: exec into an image that will not load the shim --------------------------
for m in execle spawn execveat sysexecveat; do
	if serve "inetd-$m" fc_inetd "$m" 2; then
		_i=0
		CLIENTS_OK=0
		while [ $_i -lt 2 ]; do
			_line="$SENT client line $_i"
			"$PY" "$WIRE" client --port "$R" --ca "$CERTS/ca.crt" --server-name localhost \
				--expect "$SENT service greeting
" --send "$_line
" --reply "$_line
" >>"$T/inetd-$m.cli" 2>&1 && CLIENTS_OK=$((CLIENTS_OK + 1))
			_i=$((_i + 1))
		done
		finish "inetd-$m" 2
		case $m in
		execle) how="execle() with a clean environment" ;;
		spawn) how="posix_spawn() with a clean environment" ;;
		execveat) how="execveat() (glibc 2.34) with a clean environment" ;;
		*) how="syscall(SYS_execveat) with a clean environment" ;;
		esac
		verdict "inetd-$m" 2 "inetd-style server execs a service that will not load the shim, socket on fd 5, $how: greeting and echo over TLS"
	else
		fail "inetd-style exec ($m)" "did not listen: $(cat "$T/inetd-$m.out")"
	fi
done
stop "$RELAY"
