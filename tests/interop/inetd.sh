#!/bin/sh
# inetd-style services (issue 4, "proven on real programs"): a super-server
# under the shim accepts (an accept rule names its port), forks, puts the
# connection on the child's fds 0, 1 (and 2) and execs the service.  The
# session is fresh (the server handshake is lazy), so the service's own
# copy of the library adopts it at start-up.
#  * stdio_echo (tests/progs/stdio_echo.c) answers with fgets/printf/
#    fflush on stdin/stdout: glibc's stdio never calls our wrappers, so the
#    library must hand adopted sockets on fds 0-2 to the pump.
#  * a shell script (read, echo: read()/write() calls) as the service.
# Asserted: a verifying Python ssl client gets the service's answers over
# TLS; the service's exit brings a close_notify (clean end); a wiretap relay
# sees no plaintext; the super-server's and the services' logs have no
# warning or error.
# Super-servers: openbsd-inetd (/usr/sbin/inetd -i -E: foreground, keep
# the environment, so LD_PRELOAD reaches the service) when installed
# (busybox's inetd applet is not built in Debian's busybox); always socat
# TCP-LISTEN,fork with EXEC:...,nofork, which does the same accept, fork,
# socket on fds 0/1, exec.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim
[ -x "$PROGS/stdio_echo" ] || { fail setup "$PROGS/stdio_echo missing (make test-build)"; exit 1; }

cat >"$T/svc.sh" <<'EOS'
read line
echo "shell got: $line"
EOS

# client.py PORT CA MODE LINE...: "lines": send each line and read one
# answer line per line sent, then unwrap (close_notify both ways);
# "eof": send one line, read to the end, then answer with close_notify.

# check_service LABEL PORT: run both clients through a wiretap relay in
# front of PORT and assert.
check_service() {
	_lab=$1; _port=$2
	RP=$(free_port)
	start_peer "$_lab.relay" relay --port "$RP" --to "$_port" --record "$T/$_lab.wire"
	_relay=$PEER
	out=$(timeout $((30 * TS)) "$PY" "$PYD/inetd_client.py" "$RP" "$CERTS/ca.crt" lines "hello inetd" "second line" 2>&1)
	if [ "$out" = "got 'stdio_echo: hello inetd'
got 'stdio_echo: second line'
unwrap ok" ]; then
		pass "$_lab: stdio service (fgets/printf on fds 0/1) answers over TLS; close_notify both ways at the end"
	else
		fail "$_lab: stdio service over TLS" "$(echo "$out" | tr '\\\n' '/|') $(show "$T/$_lab.log")"
	fi
	stop "$_relay"
	if [ -s "$T/$_lab.wire.s2c" ] && has_no "$T/$_lab.wire.s2c" "stdio_echo:" &&
	   has_no "$T/$_lab.wire.c2s" "hello inetd" && has_no "$T/$_lab.wire.c2s" "second line"; then
		pass "$_lab: stdio service: no plaintext on the wire"
	else
		fail "$_lab: stdio service: no plaintext on the wire" "s2c $(wc -c <"$T/$_lab.wire.s2c" 2>/dev/null) bytes: $(head -c 120 "$T/$_lab.wire.s2c" 2>/dev/null | od -c | head -n 2 | tr '\\\n' '/ ')"
	fi
}

# ------------------------------------------------ openbsd-inetd
if [ -x /usr/sbin/inetd ] && /usr/sbin/inetd -h 2>&1 | grep -q -E '\[-[a-zA-Z]*E'; then
	P=$(free_port); P2=$(free_port)
	while [ "$P2" = "$P" ]; do P2=$(free_port); done
	me=$(id -un)
	cat >"$T/inetd.conf" <<EOC
127.0.0.1:$P	stream	tcp4	nowait	$me	$PROGS/stdio_echo	stdio_echo
127.0.0.1:$P2	stream	tcp4	nowait	$me	/bin/sh	sh $T/svc.sh
EOC
	policy "$T/inetd-pol.conf" <<EOC
rules = ( { name = "inetd-in"; direction = "accept"; port = [$P, $P2];
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
	TLSSHIM_LOG_FILE="$T/inetd.log" shimbg /usr/sbin/inetd -i -E "$T/inetd.conf" >"$T/inetd.out" 2>&1
	inetd=$!
	wait_listen "$P" 15 && wait_listen "$P2" 15
	check_service inetd "$P"
	out=$(timeout $((30 * TS)) "$PY" "$PYD/inetd_client.py" "$P2" "$CERTS/ca.crt" eof "hello shell" 2>&1)
	if [ "$out" = "got 'shell got: hello shell\\n'
eof clean" ]; then
		pass "inetd: shell-script service (read/echo) answers over TLS; close_notify when it exits"
	else
		fail "inetd: shell-script service over TLS" "$(echo "$out" | tr '\\\n' '/|') $(show "$T/inetd.log")"
	fi
	wait_children "$inetd" 10  # every service has ended (and logged)
	stop "$inetd"
	if grep -q -E 'warn|error' "$T/inetd.log" 2>/dev/null; then
		fail "inetd: no warning or error logged (inetd's close of the fresh session sends nothing)" "$(head -c 1200 "$T/inetd.log")"
	else
		pass "inetd: no warning or error logged (inetd's close of the fresh session sends nothing)"
	fi
else
	fail "inetd: openbsd-inetd" "/usr/sbin/inetd is not installed (it is in .ci/packages: apt-get install openbsd-inetd)"
fi

# ------------------------------------------------ socat as the super-server
P=$(free_port)
policy "$T/socat-pol.conf" <<EOC
rules = ( { name = "socat-inetd-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
TLSSHIM_LOG_FILE="$T/socat.log" shimbg socat TCP-LISTEN:"$P",bind=127.0.0.1,reuseaddr,fork \
	EXEC:"$PROGS/stdio_echo",nofork >"$T/socat.out" 2>&1
socat=$!
wait_listen "$P" 15
check_service socat "$P"
wait_children "$socat" 10      # every service has ended (and logged)
stop "$socat"
if grep -q -E 'warn|error' "$T/socat.log" 2>/dev/null; then
	fail "socat (fork, exec nofork): no warning or error logged" "$(head -c 1200 "$T/socat.log")"
else
	pass "socat (fork, exec nofork): no warning or error logged"
fi
