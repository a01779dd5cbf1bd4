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
#     inheriting the socketpair: the session must not reach it raw.  And a
#     parent that may not fork (Dovecot's login processes): its sendmsg of
#     a used session fails, and the error line says why.
# 16  an inetd of our own (tests/progs/fc_inetd.c) starts a service that
#     will not load the shim (clean environment, connection on fd 5) with
#     execle(), posix_spawn(), execveat() and syscall(SYS_execveat); with
#     posix_spawn() dup2-ing a close-on-exec connection; by root with its
#     effective uid changed (secure-execution: LD_PRELOAD ignored, the
#     environment kept); with posix_spawn()
#     changing directory to where the relative program is static; with an
#     environment whose last LD_PRELOAD is empty; and from a
#     clone(CLONE_VM|CLONE_VFORK) child: the service's greeting and echo
#     reach the client over TLS.
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

# A process that may not create processes (Dovecot's login processes:
# uid of their own, RLIMIT_NPROC 1) cannot hand a used session to a pump:
# sendmsg fails, the error line says why, nothing in clear.
if serve scmnofork fc_prefork scm-nofork 1; then
	clients scmnofork 1 "$SENT parent greeting" worker
	finish scmnofork 1
	what="a process that may not fork (uid 65534, RLIMIT_NPROC 1, as Dovecot's login processes) passing a used session with SCM_RIGHTS"
	if grep -q '^nofork: unavailable' "$T/scmnofork.out"; then
		pass "$what (not run here: $(grep '^nofork' "$T/scmnofork.out"))"
	elif grep -q '^parent: sendmsg SCM_RIGHTS: EOPNOTSUPP' "$T/scmnofork.out" && [ "$WRC" -eq 0 ] &&
	   [ "$CLIENTS_OK" -eq 0 ] &&
	   grep -q 'could not be handed to a pump process: cannot create a process: Resource temporarily unavailable (RLIMIT_NPROC is 1)' \
		"$T/scmnofork.log"; then
		pass "$what: sendmsg fails with EOPNOTSUPP, the error line names the reason; $WIRE_OUT"
	else
		fail "$what" "server exit $RC; $CLIENTS_OK clients ok; $WIRE_OUT; server: $(head -n 4 "$T/scmnofork.out" | tr '\n' '|') log: $(log_tail "$T/scmnofork.log")"
	fi
else
	fail "SCM_RIGHTS from a process that may not fork" "did not listen: $(cat "$T/scmnofork.out")"
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
# spawn-chdir: ./svc in $T/here is a script (it would run the shim), the
# child's ./svc, in $T/there, a static program that greets and echoes on fd 5.
mkdir -p "$T/here" "$T/there"
printf '#!/bin/sh\nexit 0\n' >"$T/here/svc"
chmod 755 "$T/here/svc"
cat >"$T/svc.c" <<'EOC'
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(void)
{
	const char *g = getenv("GREETING");
	char b[4096];
	ssize_t n;
	if (!g || write(5, g, strlen(g)) < 0 || write(5, "\n", 1) < 0)
		return 1;
	while ((n = read(5, b, sizeof b)) > 0)
		if (write(5, b, (size_t)n) != n)
			return 1;
	return n < 0;
}
EOC
if ! cc -static -O2 -o "$T/there/svc" "$T/svc.c" 2>"$T/svc.cc.err"; then
	fail "inetd-style exec (spawn-chdir): setup" "cc -static: $(cat "$T/svc.cc.err")"
fi
mkdir -p "$T/there/rel"
cp "$T/there/svc" "$T/there/rel/svc"
export FC_CHDIR="$T/there"
for m in execle spawn execveat sysexecveat spawn-cloexec spawn-chdir dupenv clonevm spawn-chdir2 dupenv2 euid2 \
	proccwd procfd-open spawnp-rel; do
	case $m in spawn-chdir*|proccwd|spawnp-rel) export FC_HERE="$T/here" ;; *) unset FC_HERE ;; esac
	case $m in *2|proccwd|procfd-open|spawnp-rel) n=1 held=1 ;; *) n=2 held= ;; esac
	if serve "inetd-$m" fc_inetd "$m" "$n"; then
		_i=0
		CLIENTS_OK=0
		holder=
		if [ -n "$held" ]; then
			# The first connection: held open, unused, until the service
			# has ended (then the server closes it: s_client ends).
			bg timeout $((30 * TS)) openssl s_client -quiet -connect "127.0.0.1:$R" \
				-CAfile "$CERTS/ca.crt" -servername localhost </dev/null >"$T/inetd-$m.holder" 2>&1
			holder=$!
			wait_for "$T/inetd-$m.out" '^holder accepted' 10 || true
		fi
		while [ $_i -lt "$n" ]; do
			_line="$SENT client line $_i"
			"$PY" "$WIRE" client --port "$R" --ca "$CERTS/ca.crt" --server-name localhost \
				--expect "$SENT service greeting
" --send "$_line
" --reply "$_line
" >>"$T/inetd-$m.cli" 2>&1 && CLIENTS_OK=$((CLIENTS_OK + 1))
			_i=$((_i + 1))
		done
		conns=$n
		if [ -n "$holder" ]; then
			wait_exit "$holder" 30 >/dev/null
			conns=$((n + 1))
		fi
		finish "inetd-$m" "$conns"
		case $m in
		execle) how="execle() with a clean environment" ;;
		spawn) how="posix_spawn() with a clean environment" ;;
		execveat) how="execveat() (glibc 2.34) with a clean environment" ;;
		sysexecveat) how="syscall(SYS_execveat) with a clean environment" ;;
		spawn-cloexec) how="posix_spawn() dup2-ing a close-on-exec connection (accept4 SOCK_CLOEXEC) to it" ;;
		spawn-chdir) how="posix_spawn() of ./svc with addchdir_np to where ./svc is static (the shim kept in the environment; ./svc here would run it)" ;;
		dupenv) how="execve() with LD_PRELOAD naming the shim, then LD_PRELOAD= (the loader takes the last)" ;;
		spawn-chdir2) how="as spawn-chdir, the service's connection second to an unused one" ;;
		proccwd) how="posix_spawn() of /proc/self/cwd/svc with addchdir_np to where svc is static" ;;
		procfd-open) how="posix_spawn() of /proc/self/fd/9 with an addopen() of the static svc on 9" ;;
		spawnp-rel) how="posix_spawnp() of svc with a relative PATH entry and addchdir_np (the parent finds a script)" ;;
		dupenv2) how="as dupenv, the service's connection second to an unused one" ;;
		euid2) how="execve() with the environment kept (the shim named) by root with its effective uid set to 65534 (squid's master starting its kids: secure-execution mode, the loader ignores LD_PRELOAD), the service's connection second to an unused one" ;;
		*) how="clone(CLONE_VM|CLONE_VFORK) whose child execs with a clean environment" ;;
		esac
		if grep -q '^euid: unavailable' "$T/inetd-$m.out"; then
			pass "inetd-style exec, $how (not run here: $(grep '^euid' "$T/inetd-$m.out" | head -n 1))"
		else
			verdict "inetd-$m" "$n" "inetd-style server execs a service that will not load the shim, socket on fd 5, $how: greeting and echo over TLS"
		fi
	else
		fail "inetd-style exec ($m)" "did not listen: $(cat "$T/inetd-$m.out")"
	fi
done
stop "$RELAY"
