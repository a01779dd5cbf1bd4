#!/bin/sh
# A non-blocking connect whose TLS handshake has started, passed with
# SCM_RIGHTS before the handshake ended (dante's danted: the request
# process connects upstream and passes the socket to an I/O process,
# which waits for the connect to complete, then answers its SOCKS
# client).  The session goes to a pump mid-handshake.  Before this
# test's commit the receiving process's end was connected at once: it
# was writable at once, and a handshake that then failed reached that
# program as a connection that ended (end of file, or ECONNRESET), not as
# the ECONNREFUSED the connecting process sees; danted told its client
# "success" for an upstream that TLS refused (libtlsshim(7), BUGS, until
# then).  Now the receiver sees what the connecting process sees of its
# own connect (shim/pump.c, pending_channel).
#
# tests/progs/scm_connect.c holds the handshake at a gate until the
# receiver has looked, so that "in progress" is seen every time:
#   * scm_connect_wrong_name_refused_{lib,nolib}: the server's certificate
#     names another host: while the handshake runs the receiver's end is
#     not writable, SO_ERROR 0, a non-blocking write EAGAIN; then POLLOUT
#     with POLLERR, SO_ERROR ECONNREFUSED; the server records no byte, and
#     the log names the mismatch;
#   * scm_connect_good_name_{lib,nolib}: the same start, then POLLOUT alone,
#     SO_ERROR 0, and "ping" goes to the echo server and back; the server
#     ends with close_notify ("eof clean").
# lib: the receiver runs the library (a child of the sender, over a unix
# socket it connected); nolib: a copy of the program started without
# LD_PRELOAD, over a socketpair (its end then is a close: MARK_OPEN);
# fork: no pass, a fork (the child is the receiver) hands the session to
# the pump, mid-handshake too; early: as nolib, but passed at once after
# connect() said EINPROGRESS, its handshake not started (danted does
# this: before the early case's commit its receiver's end was connected
# at once, and danted's SOCKS reply was success in 2 of 6 runs of
# tests/interop/proxies.sh on the ASan build); -nobody: run as user
# nobody (danted's request process is): the pump's listener that held the
# SYN was one with a socket filter, which a kernel may refuse to a user
# without privilege (EPERM: this one does), and the receiver's end was
# connected at once, every time.
# systore_pump_{fork,early}: a connect rule without ca (the system trust
# store, its file read at the first verification): that first
# verification is the pump's, which reads the file itself (the test CA's:
# accepted; another CA's: refused, no byte at the server).
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim
[ -x "$PROGS/scm_connect" ] || { fail setup "$PROGS/scm_connect missing (make test-build)"; exit 1; }

# scm_run NAME CERT-NAME lib|nolib|fork|early[-nobody]: the server
# (certificate CERT-NAME) behind the gate, and the program.
scm_run() {
	_n=$1 _how=$3 _log=$T/$1.log
	SHIM_WRAP=""
	if [ "${_how%-nobody}" != "$_how" ]; then
		# (its log goes to standard error: nobody may not write here;
		# it reads the policy file, with $T searchable)
		chmod o+x "$T"
		SHIM_WRAP="setpriv --reuid=65534 --regid=65534 --clear-groups"
		_how=${_how%-nobody} _log=""
	fi
	# (SCM_Q and SCM_R: ports taken by the caller, for cases run at once:
	# free_port in two subshells at the same moment can give both the
	# same port, as it once did to the stuck cases below)
	Q=${SCM_Q:-$(free_port)}
	R=${SCM_R:-$(free_port)}
	while [ "$R" = "$Q" ]; do R=$(free_port); done
	# (SCM_RULE_CA set and empty: no ca, the system store)
	_ca="ca = \"$CERTS/ca.crt\";"
	[ "${SCM_RULE_CA+set}" = set ] && _ca=$SCM_RULE_CA
	policy "$T/$_n.conf" <<EOC
rules = ( { name = "up"; direction = "connect"; port = $R; $_ca server_name = "localhost"; ${SCM_RULE_EXTRA:-} } );
EOC
	start_peer "$_n.peer" server --port "$Q" --cert "$CERTS/$2.crt" --key "$CERTS/$2.key" \
		--mode echo --record "$T/$_n.rec" --status "$T/$_n.status" --timeout $((15 * TS)) ||
		fail "$_n: the server listens" "$(show "$T/$_n.peer.out" "$T/$_n.peer.err")"
	_peer=$PEER
	if [ -n "$_log" ]; then
		TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$_log" shimmed "$PROGS/scm_connect" "$R" "$Q" "$_how" \
			>"$T/$_n.out" 2>"$T/$_n.err"
	else
		TLSSHIM_LOG=info shimmed "$PROGS/scm_connect" "$R" "$Q" "$_how" >"$T/$_n.out" 2>"$T/$_n.err"
	fi
	_rc=$?
	SHIM_WRAP=""
	[ "$_log" = "$T/$_n.log" ] || cp "$T/$_n.err" "$T/$_n.log"
	wait_exit "$_peer" 20
	stop "$_peer"
	_o=$T/$_n.out
	_pending=false
	grep -q '^receiver: pending revents none so_error 0 write EAGAIN$' "$_o" && _pending=true
}

for how in lib nolib fork early nolib-nobody early-nobody; do
	_n=scm_connect_wrong_name_refused_$how
	scm_run "$_n" wrongname "$how"
	if [ $_rc -eq 0 ] && $_pending &&
	   grep -q '^receiver: done revents OUT|ERR[|A-Z]* so_error ECONNREFUSED$' "$_o" &&
	   [ ! -s "$T/$_n.rec" ] && grep -q 'hostname mismatch' "$T/$_n.log"; then
		pass "$_n: while the handshake ran, not writable, SO_ERROR 0, EAGAIN; then POLLOUT|POLLERR and ECONNREFUSED; no byte reached the server"
	else
		fail "$_n: in progress, then ECONNREFUSED" \
			"exit $_rc, $(wc -c 2>/dev/null <"$T/$_n.rec" || echo 0) bytes at the server; $(show "$_o" "$T/$_n.err" "$T/$_n.log")"
	fi

	_n=scm_connect_good_name_$how
	scm_run "$_n" server "$how"
	if [ $_rc -eq 0 ] && $_pending && grep -q '^receiver: done revents OUT so_error 0$' "$_o" &&
	   grep -q '^receiver: echo ok$' "$_o" && [ "$(cat "$T/$_n.rec" 2>/dev/null)" = ping ] &&
	   grep -q '^eof clean' "$T/$_n.status"; then
		pass "$_n: while the handshake ran, not writable, SO_ERROR 0, EAGAIN; then connected, \"ping\" echoed, close_notify"
	else
		fail "$_n: in progress, then connected and carrying data" \
			"exit $_rc; $(show "$_o" "$T/$_n.err" "$T/$_n.status" "$T/$_n.log")"
	fi
done

# ------------------------------------------------ the system store read in the pump
# A connect rule without ca verifies against the system trust store,
# whose file is read at the first verification (policy/hashdir.h): here
# the program's first, run by the pump its session went to before the
# server's certificate came (fork: a fork hands it over mid-handshake;
# early: passed before the handshake started).  The pump reads the file
# itself: SSL_CERT_FILE the test CA, the server accepted and "ping"
# echoed; another CA's, refused (ECONNREFUSED at the receiver, no byte at
# the server, the log says why).  (Its directory, SSL_CERT_DIR, an empty
# one.)
mkdir -p "$T/sysdir"
for how in fork early; do
	_n=scm_connect_systore_pump_$how
	(export SSL_CERT_FILE="$CERTS/ca.crt" SSL_CERT_DIR="$T/sysdir"; SCM_RULE_CA=""
	 scm_run "$_n" server "$how"
	 if [ $_rc -eq 0 ] && $_pending && grep -q '^receiver: done revents OUT so_error 0$' "$_o" &&
	    grep -q '^receiver: echo ok$' "$_o" && [ "$(cat "$T/$_n.rec" 2>/dev/null)" = ping ]; then
		pass "$_n: the system store's file read at the first verification, in the pump: accepted, \"ping\" echoed"
	 else
		fail "$_n: the system store read in the pump" \
			"exit $_rc; $(show "$_o" "$T/$_n.err" "$T/$_n.log")"
	 fi)
	_n=scm_connect_systore_pump_other_ca_$how
	(export SSL_CERT_FILE="$CERTS/other-ca.crt" SSL_CERT_DIR="$T/sysdir"; SCM_RULE_CA=""
	 scm_run "$_n" server "$how"
	 if [ $_rc -eq 0 ] && $_pending &&
	    grep -q '^receiver: done revents OUT|ERR[|A-Z]* so_error ECONNREFUSED$' "$_o" &&
	    [ ! -s "$T/$_n.rec" ] && grep -q 'certificate verification failed' "$T/$_n.log"; then
		pass "$_n: the system store (another CA) read in the pump: refused, no byte at the server"
	 else
		fail "$_n: the system store (another CA) read in the pump: refused" \
			"exit $_rc, $(wc -c 2>/dev/null <"$T/$_n.rec" || echo 0) bytes at the server; $(show "$_o" "$T/$_n.err" "$T/$_n.log")"
	 fi)
done

# ------------------------------------------------ a pump stuck while its end connects
# The pump's watchdog (shim/pump.c: a turn of the pump stuck inside OpenSSL
# on a lock another thread held at the fork) must also watch the handshake
# the pump runs for a pending channel, from its first step, and must not
# leave the program's end connecting to a port nobody holds: the pump's
# listener and end-to-be hold it only while the pump lives, and that end
# sends its SYN again 1, 3, 7, 15 ... s apart.  preload_pumphang.so makes
# the pump's Nth SSL_do_handshake wait (TLSSHIM_TEST_HANG_HANDSHAKE=N, the
# watchdog's ticks 1 s); tests/preload/py/pending_squat.py, user nobody,
# finds the receiver's end in /proc/net/tcp and binds its peer port as
# soon as it is free.
#   * scm_connect_stuck_pump_squat (N = 2: the pump's second step, after
#     the server's first flight): before this case's commit the watchdog
#     reset the session, then waited for the next SYN with SIGALRM's
#     default action, which ended the pump within a tick: the end's next
#     SYN (7 s) met the squatter, the receiver was connected to it, wrote
#     "ping" in clear to it and read its "forged".
#   * scm_connect_stuck_pump_first_step (N = 1: the ClientHello, the
#     first step of a handshake not started, danted's case): the
#     watchdog did not watch that step (the pump hung, its program's end
#     connecting for 127 s, the TLS connection open and silent).
# Now both: the receiver's end fails (POLLOUT|POLLERR, ECONNRESET) as
# soon as the watchdog acts, the squatter takes nothing, the server
# records no byte, and the log says why (the pump writes that line just
# after it aborts the end: waited for, up to 10 s; looked at once, it
# was not there yet in 1 of 26 runs with two copies of the suite).
# (Since helper-190 the end is
# signed too, and the squatter could not answer it anyway (pump_squat.sh);
# what fails here without the watchdog's abort, pending_abort, is the
# ECONNRESET at once: the end would stay connecting until the kernel
# gave up, 127 s.)
stuck_case() {
	_n=$1 step=$2
	: >"$T/$_n.out"
	bg setpriv --reuid=65534 --regid=65534 --clear-groups "$PY" "$PYD/pending_squat.py" \
		"$T/$_n.out" 25 >"$T/$_n.squat" 2>&1
	sq=$!
	SHIM_PRELOAD="$SHIM_PRELOAD $PROGS/preload_pumphang.so"
	export TLSSHIM_TEST_HANG_HANDSHAKE=$step
	scm_run "$_n" server early
	wait_exit "$sq" 30
	if [ $_rc -eq 0 ] && $_pending && grep -q '^squatter: took nothing' "$T/$_n.squat" &&
	   grep -q '^receiver: done revents OUT|ERR[|A-Z]* so_error ECONNRESET$' "$_o" &&
	   [ ! -s "$T/$_n.rec" ] && wait_for "$T/$_n.log" 'waited 15 s inside OpenSSL' 10; then
		pass "$_n: a pump stuck in its handshake ($step step) is ended by its watchdog: the receiver's end fails (ECONNRESET), another user's squat of its port gets nothing"
	else
		fail "$_n: a pump stuck in its handshake ($step step): its end fails, no squatter gets it" \
			"exit $_rc; $(show "$T/$_n.squat" "$_o" "$T/$_n.err" "$T/$_n.log")"
	fi
}
chmod o+x "$T"
# (the squat case: the gate goes on 9.3 s after the receiver looked, so
# that the watchdog acts at about 13 s, after the SYN of 11 s and long
# before the one of 19 s (the SYNs of 1, 2, 3, 4, 5, 7, 11, 19 s of
# tcp_syn_linear_timeouts; of 1, 3, 7, 15 s without it): the old pump
# ended about 14 s, with the port free until the next SYN.  Both cases
# at once.)
# (their ports taken here, one after another: see scm_run)
q1=$(free_port) r1=$(free_port) q2=$(free_port) r2=$(free_port)
(export SCM_Q=$q2 SCM_R=$r2 SCM_CONNECT_GO_DELAY_MS=9300; SCM_RULE_EXTRA="handshake_timeout_ms = 40000;"
 stuck_case scm_connect_stuck_pump_squat reply) >"$T/stuck2.case" 2>&1 &
s2=$!
(export SCM_Q=$q1 SCM_R=$r1; stuck_case scm_connect_stuck_pump_first_step first) >"$T/stuck1.case" 2>&1 &
s1=$!
wait "$s2"; wait "$s1"
cat "$T/stuck2.case" "$T/stuck1.case"

# ------------------------------------------------ no pending channel: said so
# Where the pending channel cannot be made (its listener refused, no port
# on 127.254.0.1, no descriptor left, a queue that never fills), the
# receiver's end is the ordinary channel, connected at once: the program
# may take the connection for made before TLS verified it (no byte
# crosses before: the pump holds it).  preload_nopending.so refuses the
# listener.  scm_connect_no_pending_warned: the log says so at level warn
# (before this case's commit: at debug only), and the session still
# carries "ping" to the echo server and back.
_n=scm_connect_no_pending_warned
SHIM_PRELOAD="$SHIM_PRELOAD $PROGS/preload_nopending.so"
scm_run "$_n" server early
SHIM_PRELOAD=${SHIM_PRELOAD% *}
if [ $_rc -eq 0 ] && grep -q '^receiver: echo ok$' "$_o" && [ "$(cat "$T/$_n.rec" 2>/dev/null)" = ping ] &&
   grep -q "warn: pump: no channel that connects when the handshake is done.*connected at once" "$T/$_n.log"; then
	pass "$_n: no pending channel (its listener refused): a warning says the end is connected at once; the session still carries data"
else
	fail "$_n: no pending channel: a warning says so" "exit $_rc; $(show "$_o" "$T/$_n.err" "$T/$_n.log")"
fi

# scm_connect_no_md5_warned: the same, where TCP_MD5SIG is refused (a
# seccomp filter's EPERM for setsockopt level 6 optname 14, a kernel
# without it: preload_nomd5.so, loaded after the library, refuses the
# library's calls as such a filter would): no unsigned pending channel
# (a dead pump's port could be squatted), the ordinary one, with the
# warning and the refusal's reason, and the session still carries "ping"
# through TLS (the wire audit: no byte in clear).
_n=scm_connect_no_md5_warned
SHIM_PRELOAD="$SHIM_PRELOAD $PROGS/preload_nomd5.so"
scm_run "$_n" server early
SHIM_PRELOAD=${SHIM_PRELOAD% *}
if [ $_rc -eq 0 ] && grep -q '^receiver: echo ok$' "$_o" && [ "$(cat "$T/$_n.rec" 2>/dev/null)" = ping ] &&
   grep -q "warn: pump: no channel that connects when the handshake is done (Operation not permitted).*connected at once" \
	"$T/$_n.log"; then
	pass "$_n: TCP_MD5SIG refused: no pending channel, a warning says the end is connected at once; the session still carries data"
else
	fail "$_n: TCP_MD5SIG refused: a warning says so" "exit $_rc; $(show "$_o" "$T/$_n.err" "$T/$_n.log")"
fi

# ------------------------------------------------ the pending channel's other failures
# pending_channel's and the pump's steps that fail, each with an injector
# loaded after the library (h195); each must end fail-closed, with a log
# line: no byte of the receiver's reaches the server in clear, and the
# receiver's end is refused or aborted where the handshake failed.
#   * scm_connect_no_random_key: RAND_bytes fails (preload_norand.so: the
#     channel's 32-byte key): the ordinary channel, connected at once,
#     with the warning; the server's certificate names another host: the
#     receiver's "ping" (written at once, the end connected) never
#     crosses, the server records no byte.
#   * scm_connect_refuser_unready: the refuser cannot listen
#     (preload_norefuser.so), so a failed handshake cannot reach the
#     end as a refusal: the end is aborted (ECONNRESET) at once, the
#     server records no byte, and a warning says so (before h195 the
#     abort was silent).
#   * scm_connect_key_stuck: the key cannot come off the program's end
#     (preload_md5stuck.so) after a verified handshake: the end is
#     aborted, not left deaf to the pump's; no "ping" crosses, no echo,
#     and the log says why.
# failed_case NAME INJECTOR CERT-NAME LOG-PATTERN SO_ERROR-PATTERN PENDING-LINE
failed_case() {
	_n=$1
	SHIM_PRELOAD="$SHIM_PRELOAD $PROGS/$2"
	scm_run "$_n" "$3" early
	SHIM_PRELOAD=${SHIM_PRELOAD% *}
	if [ $_rc -eq 0 ] && ! grep -q '^receiver: echo ok$' "$_o" && [ ! -s "$T/$_n.rec" ] &&
	   grep -q "^receiver: pending $6\$" "$_o" &&
	   grep -Eq "^receiver: done revents [|A-Z]* so_error ($5)$" "$_o" &&
	   grep -q "$4" "$T/$_n.log"; then
		pass "$_n: $2: no byte at the server, the receiver's end $5, and a log line"
	else
		fail "$_n: $2: fail-closed, with a log line" \
			"exit $_rc, $(wc -c 2>/dev/null <"$T/$_n.rec" || echo 0) bytes at the server;\
 $(show "$_o" "$T/$_n.err" "$T/$_n.log")"
	fi
}
failed_case scm_connect_no_random_key preload_norand.so wrongname \
	"warn: pump: no channel that connects when the handshake is done (no random key" "0" \
	"revents OUT so_error 0 write 5"
failed_case scm_connect_refuser_unready preload_norefuser.so wrongname \
	"warn: pump: the refusal of the program's end could not be made (listen: Operation not permitted" \
	"ECONNRESET" "revents none so_error 0 write EAGAIN"
failed_case scm_connect_key_stuck preload_md5stuck.so server \
	"could not be taken off the program's end of the pump (Operation not permitted)" \
	"ECONNRESET|0" \
	"revents none so_error 0 write EAGAIN"
