#!/bin/sh
# tests/interop/small_httpd.sh — four small web servers that know no TLS,
# each under an accept rule, each with its own process model:
#   * mini_httpd (Debian's mini-httpd): a process forked per connection;
#     and a CGI program it runs with the connection as standard output;
#   * webfsd (webfs): one process, one select loop, the file sent with
#     sendfile(2) (the shim must encrypt what the kernel would copy);
#   * Ruby's WEBrick (ruby-webrick): a thread per connection, IO.select
#     and non-blocking reads;
#   * a Tcl server (tclsh, socket -server): one event loop, fileevent
#     and a non-blocking fcopy of the file to the socket.
# The clients are curl (verified against the test CA, for localhost).
# For each server: an 8 MiB download arrives intact; 8 downloads of
# 256 KB at once, exact; a plain HTTP client gets TLS alerts at most and
# a silent one nothing; SIGTERM stops the server.  The shim logs no error
# (its warnings: the plain and the silent client's); the wire audit.
# tlsshim-test: big-capture (tests/run.sh: four 8 MiB transfers)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim small_httpd_setup
for c in mini_httpd webfsd ruby tclsh; do
	command -v "$c" >/dev/null || [ -x "/usr/sbin/$c" ] && continue
	fail small_httpd_setup "$c not installed (.ci/packages: mini-httpd, webfs, ruby-webrick, tcl)"; exit 1
done

open_tmp
W=$T/www
mkdir -p "$W" "$T/san"
chmod 755 "$W"
# (mini_httpd's children run as nobody: a sanitizer report goes where
# they may write)
chmod 777 "$T/san"
san_logs_to "$T/san"
head -c 8388608 /dev/urandom >"$W/big"
head -c 262144 /dev/urandom >"$W/small"
chmod 644 "$W/big" "$W/small"
M=$(free_port)   # mini_httpd
F=$(free_port)   # webfsd
R=$(free_port)   # WEBrick
C=$(free_port)   # tclsh
G=$(free_port)   # mini_httpd with a CGI program
policy "$T/web.policy" <<EOC
rules = ( { name = "web"; direction = "accept"; port = [$M, $F, $R, $C, $G]; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC

# The Tcl server: reads the request line and headers, then copies the
# file named in it (big or small) to the socket without blocking.
cat >"$T/httpd.tcl" <<'EOT'
proc done {s f args} { close $f; close $s }
proc request {s} {
	global root req
	if {[gets $s line] < 0} { if {[eof $s]} { close $s }; return }
	if {![info exists req($s)]} { set req($s) $line; return }
	if {$line ne ""} return
	fileevent $s readable {}
	regexp {^GET /(big|small)} $req($s) -> name
	unset req($s)
	set f [open [file join $root $name] rb]
	puts -nonewline $s "HTTP/1.0 200 OK\r\nContent-Length: [file size [file join $root $name]]\r\n\r\n"
	fconfigure $s -translation binary
	fcopy $f $s -command [list done $s $f]
}
proc accept {s addr port} {
	fconfigure $s -blocking 0 -translation {auto binary}
	fileevent $s readable [list request $s]
}
lassign $argv root port
socket -server accept -myaddr 127.0.0.1 $port
vwait forever
EOT

# served NAME PORT PID: the cases NAME_8MiB, NAME_8_at_once,
# NAME_plain_client_gets_nothing_in_clear, NAME_stops.
served() {
	_sv_name=$1 _sv_port=$2 _sv_pid=$3
	timeout $((30 * TS)) curl -sS --cacert "$CERTS/ca.crt" -o "$T/$_sv_name.big" \
		"https://localhost:$_sv_port/big" >"$T/$_sv_name.err" 2>&1
	_sv_rc=$?
	if [ $_sv_rc -eq 0 ] && cmp -s "$T/$_sv_name.big" "$W/big" && [ "$(logged_tls "$T/$_sv_name.log" web accepted)" -eq 1 ]; then
		pass "${_sv_name}_8MiB (intact, TLS)"
	else
		fail "${_sv_name}_8MiB" "curl exit $_sv_rc, $(wc -c <"$T/$_sv_name.big" 2>/dev/null) bytes$(show "$T/$_sv_name.err" "$T/$_sv_name.out" "$T/$_sv_name.log")"
	fi
	downloads 8 "$W/small" "https://localhost:$_sv_port/small" --cacert "$CERTS/ca.crt"
	_sv_a=$(logged_tls "$T/$_sv_name.log" web accepted)
	if [ $BAD -eq 0 ] && [ $OK -eq 8 ] && [ "$_sv_a" -eq 9 ]; then
		pass "${_sv_name}_8_at_once (262144 bytes each, exact)"
	else
		fail "${_sv_name}_8_at_once" "$BAD curl failed, $OK of 8 exact, $_sv_a accepted: $(cat "$T"/curl.*.err | head -c 300)$(show "$T/$_sv_name.out" "$T/$_sv_name.log")"
	fi
	no_clear "${_sv_name}_plain_client_gets_nothing_in_clear" "$_sv_port" "GET /small HTTP/1.0
" "$_sv_pid"
	kill "$_sv_pid" 2>/dev/null
	wait_exit "$_sv_pid" 10
	_sv_rc=$?
	if [ $_sv_rc -ne 124 ] && ! grep -q ': error: ' "$T/$_sv_name.log"; then
		pass "${_sv_name}_stops (exit status $_sv_rc; no error from the shim)"
	else
		fail "${_sv_name}_stops" "exit status $_sv_rc (124: still running after 10 s)$(show "$T/$_sv_name.out" "$T/$_sv_name.log")"
	fi
	kill_tree "$_sv_pid"
}

# start NAME PORT CMD...: CMD under the shim (log $T/NAME.log), listening
# on PORT; its pid in SRV.
start() {
	_s_name=$1 _s_port=$2
	shift 2
	TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/$_s_name.log" shimbg "$@" >"$T/$_s_name.out" 2>&1
	SRV=$!
	listen_or_exit small_httpd_setup "$_s_name" "$SRV" "$_s_port" "$T/$_s_name.out" "$T/$_s_name.log"
}

start webfsd "$F" webfsd -F -p "$F" -r "$W" -i 127.0.0.1 -L "$T/webfsd.access"
served webfsd "$F" "$SRV"
start tclsh "$C" tclsh "$T/httpd.tcl" "$W" "$C"
served tclsh "$C" "$SRV"
# The ASan build: mini_httpd and Ruby fail under libasan alone (no shim):
# mini_httpd's child for the first request reads before a buffer of its
# own (heap-buffer-overflow in strcmp, in mini_httpd's code: the client
# gets an empty reply), and each Ruby thread that ends makes the runtime
# unmap Ruby's own malloc'ed sigaltstack ("AddressSanitizer: CHECK failed:
# ... unable to unmap").  They run with the default build of the library.
case "$SHIM_PRELOAD" in
*libasan*) use_default_lib "mini_httpd and Ruby's threads fail with libasan alone (no shim)" ||
	{ fail small_httpd_setup "no default build of the library beside $TLSSHIM_BUILD"; exit 1; } ;;
esac
start mini_httpd "$M" mini_httpd -D -p "$M" -d "$W" -h 127.0.0.1 -l "$T/mini_httpd.access"
served mini_httpd "$M" "$SRV"

# mini_httpd runs a CGI program with the connection as its standard
# output (no TLS of its own: no output interposer) and an environment of
# its own making, without LD_PRELOAD: the session must go to a pump
# before the exec, and the program's 8 MiB reach the client whole.
mkdir -p "$W/cgi-bin"
printf '#!/bin/sh
printf "Content-Type: application/octet-stream\r\n\r\n"
exec cat %s
' "$W/big" >"$W/cgi-bin/big.cgi"
chmod 755 "$W/cgi-bin" "$W/cgi-bin/big.cgi"
start mini_httpd_cgi "$G" mini_httpd -D -p "$G" -d "$W" -h 127.0.0.1 -c 'cgi-bin/*'
name=mini_httpd_cgi_8MiB
timeout $((30 * TS)) curl -sS --cacert "$CERTS/ca.crt" -o "$T/cgi.big" "https://localhost:$G/cgi-bin/big.cgi" >"$T/cgi.err" 2>&1
rc=$?
if [ $rc -eq 0 ] && cmp -s "$T/cgi.big" "$W/big" && [ "$(logged_tls "$T/mini_httpd_cgi.log" web accepted)" -eq 1 ] &&
   grep -q 'rule "web": session handed to a pump process' "$T/mini_httpd_cgi.log" && ! grep -q -E ': (error|warn): ' "$T/mini_httpd_cgi.log"; then
	pass "$name (the exec'ed program's output intact, through a pump)"
else
	fail "$name" "curl exit $rc, $(wc -c <"$T/cgi.big" 2>/dev/null) bytes$(show "$T/cgi.err" "$T/mini_httpd_cgi.out" "$T/mini_httpd_cgi.log")"
fi
kill_tree "$SRV"
start webrick "$R" ruby -rwebrick -e 'port, root = ARGV
s = WEBrick::HTTPServer.new(BindAddress: "127.0.0.1", Port: Integer(port), DocumentRoot: root, AccessLog: [])
trap("TERM") { s.shutdown }
s.start' "$R" "$W"
served webrick "$R" "$SRV"
