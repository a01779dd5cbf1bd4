#!/bin/sh
# tests/interop/legacy_clients.sh — real Debian clients that know no TLS,
# made TLS clients by a connect rule, against real TLS servers: wget,
# lftp (its HTTP client), busybox's wget and nc applets, netcat-openbsd's
# nc, nmap's ncat, msmtp (SMTP), and the sockets of bash (/dev/tcp), gawk
# (/inet/tcp), tclsh and Ruby (HTTP written by hand).  The servers:
# openssl s_server -WWW, tests/interop/tlspeer.py and
# tests/interop/smtp_sink.py (implicit TLS).
# For each client:
#   * a large transfer (8 MiB; msmtp: a 1 MB message) arrives intact over
#     a verified TLS 1.3 connection;
#   * a server whose certificate names another host is refused: the
#     client reports a failed connection, the shim's log names the
#     reason, and the server receives no byte of the request;
#   * the client's own timeout still works against a server that never
#     answers the handshake (wget --timeout, lftp net:timeout, nc -w,
#     ncat -w, busybox nc -w, msmtp --timeout): the client gives up with
#     its own message, long before the shim's handshake_timeout_ms.
# (busybox wget -T is left out: Debian 12's busybox 1.35 dies of SIGSEGV
# with -T, shim or no shim.)  The wire audit checks that every connection
# to the rules' ports carried TLS records only.
# In the ASan pass (Makefile, ASAN_INTEROP): unlike curl (curl_client.sh),
# these clients start with the sanitizer runtime preloaded.
# tlsshim-test: big-capture (tests/run.sh: eight 8 MiB transfers, some 80 MB)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim legacy_clients_setup
for c in wget lftp busybox nc ncat msmtp openssl bash gawk tclsh ruby; do
	command -v "$c" >/dev/null && continue
	fail legacy_clients_setup "$c not installed (.ci/packages)"; exit 1
done

W=$T/www
mkdir -p "$W" "$T/sink"
head -c 8388608 /dev/urandom >"$W/big"
# a mail of about 1 MB: headers, then base64 lines
{ printf 'From: a@example.org\r\nTo: b@example.org\r\nSubject: legacy_clients %s\r\n\r\n' "$$"
  head -c 786432 /dev/urandom | base64 -w 76 | sed 's/$/\r/'; } >"$T/mail"

G=$(free_port)   # openssl s_server -WWW, the test's server certificate
N=$(free_port)   # tlspeer: count mode (receives all, answers with the count)
B=$(free_port)   # tlspeer: a certificate for another name (wrongname)
S=$(free_port)   # a plain server that reads and never answers (no handshake)
M=$(free_port)   # smtp_sink.py, implicit TLS
policy "$T/c.conf" <<EOF
rules = ( { name = "legacy"; direction = "connect"; port = [$G, $N, $B, $S, $M]; ca = "$CERTS/ca.crt"; } );
EOF

# The servers.  s_server -WWW serves files of its working directory, one
# connection after the other: wget, lftp and busybox wget.
bg env -C "$W" openssl s_server -accept "127.0.0.1:$G" -WWW -naccept 7 \
	-cert "$CERTS/server.crt" -key "$CERTS/server.key" </dev/null >"$T/www.out" 2>&1
WWW=$!
# One refusing server for all the clients (11 refused connections).
start_peer bad server --port "$B" --cert "$CERTS/wrongname.crt" --key "$CERTS/wrongname.key" \
	--mode record --record "$T/bad.rec" --status "$T/bad.st" --count 11 --timeout 60 ||
	{ fail legacy_clients_setup "tlspeer (wrongname) did not start$(show "$T/bad.err")"; exit 1; }
BAD=$PEER
start_peer silent server --port "$S" --plain --mode record --record "$T/silent.rec" --count 6 --timeout 60 ||
	{ fail legacy_clients_setup "the silent server did not start$(show "$T/silent.err")"; exit 1; }
SILENT=$PEER
if ! wait_for "$T/www.out" '^ACCEPT' 10; then
	fail legacy_clients_setup "s_server did not start$(show "$T/www.out")"; exit 1
fi
: >"$T/bad.rec"

# run NAME CMD...: CMD under the shim (log $T/NAME.log at info level),
# standard input from $IN (default /dev/null), output $T/NAME.out and
# $T/NAME.err; RC is its exit status.
run() {
	_r_name=$1; shift
	TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/$_r_name.log" shimmed "$@" \
		<"${IN:-/dev/null}" >"$T/$_r_name.out" 2>"$T/$_r_name.err"
	RC=$?
}

# verified NAME: the shim logged one verified TLS 1.3 connection.
verified() {
	[ "$(lines "$T/$1.log" 'rule "legacy": connected TLSv1\.3 .* verified for ')" -eq 1 ]
}

# big_ok NAME FILE: FILE is the 8 MiB file, over a verified connection.
big_ok() {
	if [ "$RC" -eq 0 ] && cmp -s "$2" "$W/big" && verified "$1"; then
		pass "$1 (8 MiB intact, TLS 1.3, verified)"
	else
		fail "$1" "exit $RC, $(wc -c <"$2" 2>/dev/null) bytes$(show "$T/$1.err" "$T/$1.log")"
	fi
}

# refused NAME WANT-RC ERR-REGEX: the client exited WANT-RC saying
# ERR-REGEX, the shim logged the name mismatch, the server got nothing.
refused() {
	_rf_msg=$(grep -h -E -o -e "$3" "$T/$1.err" "$T/$1.out" 2>/dev/null | head -1)
	if [ "$RC" -eq "$2" ] && { [ -z "$3" ] || [ -n "$_rf_msg" ]; } &&
	   [ "$(lines "$T/$1.log" 'rule "legacy": certificate verification failed: (hostname|IP address) mismatch')" -eq 1 ] &&
	   [ ! -s "$T/bad.rec" ] && ! verified "$1"; then
		pass "$1 (exit $RC${_rf_msg:+, $_rf_msg}; $(grep -E -o 'verification failed: [a-zA-Z ]*mismatch' "$T/$1.log"))"
	else
		fail "$1" "exit $RC (expected $2, /$3/), $(wc -c <"$T/bad.rec") bytes reached the server$(show "$T/$1.err" "$T/$1.out" "$T/$1.log")"
	fi
}

# timed_out NAME WANT-RC ERR-REGEX: the client gave up by its own
# timeout (exit WANT-RC, ERR-REGEX in what it printed; "" for a client
# that says nothing), with no TLS connection and no log line of the shim
# at warn level or above (its handshake timeout did not end it).
timed_out() {
	if [ "$RC" -eq "$2" ] && { [ -z "$3" ] || grep -q -E -e "$3" "$T/$1.err" "$T/$1.out"; } &&
	   ! verified "$1" && [ "$(lines "$T/$1.log" ': (warn|error): ')" -eq 0 ]; then
		pass "$1 (exit $RC${3:+, /$3/})"
	else
		fail "$1" "exit $RC (expected $2, /$3/)$(show "$T/$1.err" "$T/$1.out" "$T/$1.log")"
	fi
}

# ---------------------------------------------------------------- wget
run wget_8MiB wget -q --tries=1 -O "$T/wget.big" "http://localhost:$G/big"
big_ok wget_8MiB "$T/wget.big"
run wget_wrong_name_refused wget --tries=1 -O "$T/wget.bad" "http://localhost:$B/big"
refused wget_wrong_name_refused 4 'Connection refused'
run wget_own_timeout wget --tries=1 --timeout=2 -O "$T/wget.to" "http://localhost:$S/big"
timed_out wget_own_timeout 4 'Connection timed out'

# ---------------------------------------------------------------- lftp
# (lftp resolves in a child it forks: the name verified is the address,
# which the test certificate holds too; libtlsshim(7), LIMITATIONS)
LFTP_SET="set net:max-retries 1; set net:timeout 2; set xfer:clobber on"
run lftp_http_8MiB lftp -c "$LFTP_SET; get http://localhost:$G/big -o $T/lftp.big"
big_ok lftp_http_8MiB "$T/lftp.big"
run lftp_wrong_name_refused lftp -c "$LFTP_SET; get http://localhost:$B/big -o $T/lftp.bad"
refused lftp_wrong_name_refused 1 'max-retries exceeded \(Connection refused\)'
run lftp_own_timeout lftp -c "$LFTP_SET; get http://localhost:$S/big -o $T/lftp.to"
timed_out lftp_own_timeout 1 'max-retries exceeded'

# ---------------------------------------------------------------- busybox wget
# (it reads the response through stdio: the session goes to a pump)
run busybox_wget_8MiB busybox wget -q -O "$T/bbwget.big" "http://localhost:$G/big"
big_ok busybox_wget_8MiB "$T/bbwget.big"
run busybox_wget_wrong_name_refused busybox wget -O "$T/bbwget.bad" "http://localhost:$B/big"
refused busybox_wget_wrong_name_refused 1 "can't connect to remote host.*Connection refused"

# ---------------------------------------------------------------- scripts
# The sockets of shells and interpreters, asking s_server -WWW for the
# file in HTTP/1.0 by hand and printing the answer: bash's /dev/tcp
# redirection, gawk's |& /inet/tcp special file (binary mode), tclsh's
# socket and Ruby's TCPSocket.  (gawk tries a failed connection 5 times
# by default: GAWK_SOCK_RETRIES=1.  Ruby copies in 64 KiB pieces: one
# s.read of the whole answer grows its string by reallocations, each a new
# copy under the ASan build's allocator, which took over 30 s there.)
# http_body NAME: the body of the answer in $T/NAME.out, when it is a 200.
http_body() {
	"$PY" -c 'import sys
h, _, b = open(sys.argv[1], "rb").read().partition(b"\r\n\r\n")
sys.stdout.buffer.write(b if h.startswith(b"HTTP/1.0 200 ") else b"")' "$T/$1.out" >"$T/$1.body"
}
REQ='GET /big HTTP/1.0\r\n\r\n'
cat >"$T/get.tcl" <<'EOT'
lassign $argv port request
set s [socket localhost $port]
fconfigure $s -translation binary
fconfigure stdout -translation binary
puts -nonewline $s [subst -nocommands -novariables $request]
flush $s
puts -nonewline [read $s]
close $s
EOT
GAWK_GET='BEGIN { BINMODE = 3; ORS = ""; s = "/inet/tcp/0/localhost/" port
	printf req |& s
	while ((s |& getline line) > 0) print line RT
	close(s) }'
RUBY_GET='s = TCPSocket.new("localhost", Integer(ARGV[0])); s.write(ARGV[1].gsub("\\r\\n", "\r\n"))
STDOUT.binmode; while (d = s.read(65536)); STDOUT.write(d); end'
run bash_dev_tcp_8MiB bash -c 'exec 3<>"/dev/tcp/localhost/$1" && printf "$2" >&3 && cat <&3' bash "$G" "$REQ"
http_body bash_dev_tcp_8MiB
big_ok bash_dev_tcp_8MiB "$T/bash_dev_tcp_8MiB.body"
run gawk_inet_8MiB env LC_ALL=C gawk -v port="$G" -v req="$REQ" "$GAWK_GET"
http_body gawk_inet_8MiB
big_ok gawk_inet_8MiB "$T/gawk_inet_8MiB.body"
run tclsh_socket_8MiB tclsh "$T/get.tcl" "$G" "$REQ"
http_body tclsh_socket_8MiB
big_ok tclsh_socket_8MiB "$T/tclsh_socket_8MiB.body"
run ruby_tcpsocket_8MiB ruby -rsocket -e "$RUBY_GET" "$G" "$REQ"
http_body ruby_tcpsocket_8MiB
big_ok ruby_tcpsocket_8MiB "$T/ruby_tcpsocket_8MiB.body"
wait_exit "$WWW" 10 >/dev/null
run bash_dev_tcp_wrong_name_refused bash -c 'exec 3<>"/dev/tcp/localhost/$1" && printf "$2" >&3 && cat <&3' bash "$B" "$REQ"
refused bash_dev_tcp_wrong_name_refused 1 'connect: Connection refused'
GAWK_SOCK_RETRIES=1 run gawk_inet_wrong_name_refused env LC_ALL=C gawk -v port="$B" -v req="$REQ" "$GAWK_GET"
refused gawk_inet_wrong_name_refused 2 'cannot open two way pipe'
run tclsh_socket_wrong_name_refused tclsh "$T/get.tcl" "$B" "$REQ"
refused tclsh_socket_wrong_name_refused 1 "couldn't open socket: connection refused"
run ruby_tcpsocket_wrong_name_refused ruby -rsocket -e "$RUBY_GET" "$B" "$REQ"
refused ruby_tcpsocket_wrong_name_refused 1 'Connection refused - connect\(2\)'

# ---------------------------------------------------------------- nc, ncat, busybox nc
# netcat-openbsd's nc -N and ncat send 8 MiB, shut their sending side down
# (close_notify) and read the server's answer: the count it received.
# busybox nc does not half-close: it is refused and timed out only.
start_peer count server --port "$N" --cert "$CERTS/server.crt" --key "$CERTS/server.key" \
	--mode count --count 2 --status "$T/count.st" ||
	{ fail legacy_clients_setup "tlspeer (count) did not start$(show "$T/count.err")"; exit 1; }
COUNT=$PEER
# count_ok NAME: the server received the 8 MiB and closed cleanly.
count_ok() {
	if [ "$RC" -eq 0 ] && [ "$(cat "$T/$1.out")" = "received 8388608 bytes" ] && verified "$1"; then
		pass "$1 (8 MiB sent, half-closed, the server's count read back)"
	else
		fail "$1" "exit $RC, '$(head -c 100 "$T/$1.out")'$(show "$T/$1.err" "$T/$1.log" "$T/count.st")"
	fi
}
IN=$W/big run nc_8MiB_halfclose nc -N 127.0.0.1 "$N"
count_ok nc_8MiB_halfclose
IN=$W/big run ncat_8MiB_halfclose ncat 127.0.0.1 "$N"
count_ok ncat_8MiB_halfclose
wait_exit "$COUNT" 10 >/dev/null
name=tlspeer_saw_two_clean_closes
if [ "$(lines "$T/count.st" '^eof clean')" -eq 2 ] && [ "$(lines "$T/count.st" '^unwrap ok')" -eq 2 ]; then
	pass "$name"
else
	fail "$name" "$(tr '\n' '|' <"$T/count.st")"
fi

IN=$T/mail run nc_wrong_name_refused nc -N 127.0.0.1 "$B"
# (nc says nothing of a refused connection without -v)
refused nc_wrong_name_refused 1 ''
IN=$T/mail run ncat_wrong_name_refused ncat 127.0.0.1 "$B"
refused ncat_wrong_name_refused 1 'Ncat: Connection refused'
IN=$T/mail run busybox_nc_wrong_name_refused busybox nc 127.0.0.1 "$B"
refused busybox_nc_wrong_name_refused 1 'Connection refused'

# The clients' -w against the silent server: connect timeouts.
run nc_own_timeout nc -w 2 127.0.0.1 "$S"
timed_out nc_own_timeout 1 ''
run ncat_own_timeout ncat -w 2 127.0.0.1 "$S"
timed_out ncat_own_timeout 1 'Ncat: TIMEOUT'
run busybox_nc_own_timeout busybox nc -w 2 127.0.0.1 "$S"
timed_out busybox_nc_own_timeout 1 'timed out'

# ---------------------------------------------------------------- msmtp
bg "$PY" "$TLSSHIM_TOP/tests/interop/smtp_sink.py" --port "$M" --cert "$CERTS/server.crt" \
	--key "$CERTS/server.key" --out "$T/sink" >"$T/sink.out" 2>&1
SINK=$!
if ! wait_for "$T/sink.out" '^ready' 10; then
	fail legacy_clients_setup "smtp_sink.py did not start$(show "$T/sink.out")"; exit 1
fi
MSMTP="msmtp --host=127.0.0.1 --tls=off --auth=off --timeout=2 --from=a@example.org b@example.org"
IN=$T/mail run msmtp_1MB_mail $MSMTP --port="$M"
wait_exit "$SINK" 10 >/dev/null
name=msmtp_1MB_mail
# (the sink keeps the message dot-unstuffed with its CRLFs; msmtp adds a
# Date and a Message-ID header: the headers sent and the body, exact)
sed '/^\r$/,$d' "$T/mail" >"$T/mail.head"; sed '1,/^\r$/d' "$T/mail" >"$T/mail.body"
sed '1,/^\r$/d' "$T/sink/msg.1" >"$T/got.body" 2>/dev/null
if [ "$RC" -eq 0 ] && [ -s "$T/mail.body" ] && cmp -s "$T/mail.body" "$T/got.body" &&
   [ "$(grep -c -F -f "$T/mail.head" "$T/sink/msg.1")" -eq 3 ] && verified "$name" &&
   grep -q '^mail from=<a@example.org> rcpt=<b@example.org> ' "$T/sink/status" && grep -q '^quit' "$T/sink/status"; then
	pass "$name ($(wc -c <"$T/mail.body") bytes of body intact, TLS 1.3, verified)"
else
	fail "$name" "exit $RC: $(tr '\n' '|' <"$T/sink/status")$(show "$T/$name.err" "$T/$name.log")"
fi
IN=$T/mail run msmtp_wrong_name_refused $MSMTP --port="$B"
refused msmtp_wrong_name_refused 75 'cannot connect to 127\.0\.0\.1, port [0-9]*: Connection refused'
IN=$T/mail run msmtp_own_timeout $MSMTP --port="$S"
timed_out msmtp_own_timeout 75 'cannot connect to 127\.0\.0\.1, port [0-9]*: Connection timed out'

wait_exit "$BAD" 10 >/dev/null
refusals_only wrong_name_server_saw_every_refusal bad 11
stop "$SILENT"
