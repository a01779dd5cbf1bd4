#!/bin/sh
# tests/launcher/keyholder.sh — key_holder = true: the launcher starts a
# key-holder process, and the program's memory never holds the private key.
#
#  * Plain echo servers under the launcher with key_holder rules serve
#    openssl s_client over TLS 1.2 and 1.3 with an RSA-2048 key (PKCS#1
#    and PSS signatures) and an ECDSA P-256 key; curl is served by a
#    forking socat whose children exec a shell (fork and exec: the child
#    reaches the holder by itself); a Python server that a shell forked and
#    exec'd, and that closed every inherited descriptor, is served too.
#  * The memory of each running server (every readable mapping, through
#    /proc/PID/mem) holds none of the key's secret bytes: RSA primes and
#    private exponent, the EC private scalar (big- and little-endian), a
#    piece of the key's DER and a line of its PEM text.  Controls: the
#    same server under the same launcher without key_holder holds them,
#    and so does the holder process (read as root), so the search finds a
#    key where there is one.
#  * The holder signs with PKCS#1 v1.5 only a DigestInfo of a TLS 1.2
#    hash (the padding of any data was a decryption oracle), serves a
#    handshake while 40 connections that send nothing are open, and logs
#    refused requests at most once a second (then how many since).
#  * The launcher started with stdin and stdout closed: the holder starts
#    and signs (its pipe and pidfd took 0 and 1, then /dev/null).
#  * A thread's stray close of the holder's connection during a handshake
#    (holder stopped meanwhile) says EBADF: the library's close after the
#    answer used to close the program's next file, a pipe.  A signal
#    handler's fork during the request: the child does not keep the
#    connection, and the parent's handshake completes.
#  * The holder killed: the next handshake fails, the log says why, and
#    no program data crosses; another user that binds the holder's name
#    then is not asked (SO_PEERCRED); one of the program's user is asked
#    but the request holds no token (a MAC keyed by it) and its answer is
#    refused.  A program of another user than the holder's in a user
#    namespace, where the holder reads as the overflow uid (65534), signs
#    through it; a user outside that binds its name then gets no token.
#    The program gone: the holder ends too.
#  * TLSSHIM_LOG_FILE a FIFO without a reader: the holder says so on
#    standard error and the program starts (the launcher waited for ever).
#    A FIFO whose reader stopped reading, full: the holder drops its line
#    and signs at once (it waited in write()), and counts what it dropped.
#  * Preloaded without the launcher, a key_holder policy stops the program
#    at start-up (78, "no key holder"); --check validates key_holder and
#    rejects it on a rule without a key (FILE:LINE).
# The five servers start once and serve every case that can share them;
# a case that starts a launcher of its own needs it fresh: stdin and
# stdout closed, the log a FIFO, another user, a user namespace, and
# closeit's three, which stop the holder and close or fork in the program.
. "$(dirname "$0")/../lib.sh"

L=$TLSSHIM_LAUNCHER
for f in "$L" "$TLSSHIM_LIB" "$PROGS/echo_server"; do
	[ -e "$f" ] || { fail "keyholder_setup" "$f is missing (make test-build)"; exit 1; }
done
ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}verify_asan_link_order=0"
export ASAN_OPTIONS
unset TLSSHIM_CONFIG TLSSHIM_LIBRARY TLSSHIM_LOG TLSSHIM_LOG_FILE TLSSHIM_KEY_HOLDER
# What must be preloaded before the library (a sanitizer runtime, and
# tools/sanfirst.so): the launcher appends the library itself.  Joined
# with colons (ld.so splits LD_PRELOAD at both), so that $LENV, split
# into words, sets all of it.
PRE=$(echo "$SHIM_PRELOAD" | sed "s#$TLSSHIM_LIB##; s/^ *//; s/ *$//; s/  */:/g")
# Only for the launched programs: curl with a sanitizer runtime preloaded
# hung here.
unset LD_PRELOAD
LENV="env${PRE:+ LD_PRELOAD=$PRE}"
export TLSSHIM_LIBRARY="$TLSSHIM_LIB"
MS="$PY $(dirname "$0")/py/memscan.py"

# An RSA-2048 certificate from the test CA (the test certificates are ECDSA).
if ! openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/rsa.key" -out "$T/rsa.crt" -days 2 \
	-subj /CN=localhost -addext subjectAltName=DNS:localhost \
	-CA "$CERTS/ca.crt" -CAkey "$CERTS/ca.key" >"$T/req.log" 2>&1; then
	fail "keyholder_setup" "openssl req: $(tail_of "$T/req.log")"
	exit 1
fi
cp "$CERTS/server.crt" "$T/ec.crt"
cp "$CERTS/server.key" "$T/ec.key"
$MS needles "$T/rsa.key" >"$T/rsa.needles" && $MS needles "$T/ec.key" >"$T/ec.needles" ||
	{ fail "keyholder_setup" "memscan needles failed"; exit 1; }
cat "$T/rsa.needles" "$T/ec.needles" >"$T/all.needles"

PR=$(free_port) PE=$(free_port) PC=$(free_port) PF=$(free_port) PX=$(free_port) PK=$(free_port) PZ=$(free_port) PL=$(free_port)
policy "$T/kh.conf" <<EOF
defaults = { key_holder = true; };
rules = (
  { name = "rsa"; direction = "accept"; port = $PR; cert = "$T/rsa.crt"; key = "$T/rsa.key"; },
  { name = "ec"; direction = "accept"; port = $PE; cert = "$T/ec.crt"; key = "$T/ec.key"; },
  { name = "fork"; direction = "accept"; port = $PF; cert = "$T/rsa.crt"; key = "$T/rsa.key"; },
  { name = "exec"; direction = "accept"; port = $PX; cert = "$T/ec.crt"; key = "$T/ec.key"; },
  { name = "close"; direction = "accept"; port = $PK; cert = "$T/ec.crt"; key = "$T/ec.key"; },
  { name = "closed"; direction = "accept"; port = $PZ; cert = "$T/ec.crt"; key = "$T/ec.key"; },
  { name = "fifo"; direction = "accept"; port = $PL; cert = "$T/ec.crt"; key = "$T/ec.key"; },
  { name = "out"; direction = "connect"; port = 1; }
);
EOF
KH=$POLICY
policy "$T/plain.conf" <<EOF
rules = (
  { name = "ctl"; direction = "accept"; port = $PC; cert = "$T/rsa.crt"; key = "$T/rsa.key"; }
);
EOF
CTL=$POLICY

# ---- --check --------------------------------------------------------------
name="check accepts key_holder (and the key files are checked)"
if "$L" --check "$KH" >"$T/chk.out" 2>&1; then pass "$name"; else fail "$name" "$(tail_of "$T/chk.out")"; fi
printf 'rules = (\n  { direction = "connect"; port = 1;\n    key_holder = true; }\n);\n' >"$T/bad.conf"
name="check rejects key_holder on a rule without a key (FILE:LINE)"
"$L" --check "$T/bad.conf" >"$T/bad.out" 2>&1
rc=$?
if [ $rc -eq 78 ] && grep -q -F "$T/bad.conf:3: rule \"rule 1\": \"key_holder\" needs" "$T/bad.out"; then
	pass "$name"
else
	fail "$name" "exit $rc: $(tail_of "$T/bad.out")"
fi

# ---- preloaded without the launcher: refused at start-up ----------------------
name="preloaded without the launcher, key_holder refuses to start"
timeout -k 2 $((10 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$KH" \
	"$PROGS/echo_server" "$PR" >"$T/nol.out" 2>"$T/nol.err"
rc=$?
if [ $rc -eq 78 ] && grep -q "no key holder (TLSSHIM_KEY_HOLDER is not set)" "$T/nol.err" &&
	! grep -q listening "$T/nol.out"; then
	pass "$name"
else
	fail "$name" "exit $rc $(tail_of "$T/nol.out" "$T/nol.err")"
fi

# ---- TLSSHIM_LOG_FILE a FIFO without a reader ------------------------------------------
# The holder opened it waiting for a reader, before its "OK": the launcher
# waited for ever and the program never started.  Now, as the library, it
# says so on standard error and logs there.
name="TLSSHIM_LOG_FILE a FIFO without a reader: the launcher still starts the program"
mkfifo "$T/fifo"
TLSSHIM_LOG_FILE=$T/fifo timeout -k 2 $((5 * TS)) $LENV "$L" -c "$KH" -- echo started >"$T/fifo.out" 2>"$T/fifo.err"
rc=$?
# (the old holder still waits in open(): a reader lets it go)
[ $rc -eq 0 ] || timeout 2 cat "$T/fifo" >/dev/null 2>&1
if [ $rc -eq 0 ] && grep -q -x started "$T/fifo.out" &&
	grep -q "tlsshim-keyholder\[[0-9]*\]: error: cannot open TLSSHIM_LOG_FILE \"$T/fifo\": No such device" "$T/fifo.err"; then
	pass "$name"
else
	fail "$name" "exit $rc $(tail_of "$T/fifo.out" "$T/fifo.err")"
fi

# ---- servers ------------------------------------------------------------------
TLSSHIM_LOG_FILE=$T/rsa.log bg $LENV "$L" -v -c "$KH" -- "$PROGS/echo_server" "$PR" >"$T/rsa.out" 2>"$T/rsa.err"
SR=$!
TLSSHIM_LOG_FILE=$T/ec.log bg $LENV "$L" -v -c "$KH" -- "$PROGS/echo_server" "$PE" >"$T/ec.out" 2>"$T/ec.err"
SE=$!
TLSSHIM_LOG_FILE=$T/ctl.log bg $LENV "$L" -v -c "$CTL" -- "$PROGS/echo_server" "$PC" >"$T/ctl.out" 2>"$T/ctl.err"
SC=$!
printf '#!/bin/sh\nread l\nprintf "HTTP/1.0 200 OK\\r\\nContent-Length: 9\\r\\n\\r\\nforked!\\r\\n"\n' >"$T/resp.sh"
chmod +x "$T/resp.sh"
TLSSHIM_LOG_FILE=$T/fork.log bg $LENV "$L" -v -c "$KH" -- socat TCP-LISTEN:"$PF",bind=127.0.0.1,reuseaddr,fork \
	EXEC:"$T/resp.sh" >"$T/fork.out" 2>"$T/fork.err"
SF=$!
# A shell that forks and execs a Python server, which closes every
# descriptor it inherited before it listens.
cat >"$T/closefrom_echo.py" <<'PYEOF'
import os, socket, sys
os.closerange(3, 1 << 16)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
for _ in range(3):
    c, _ = s.accept()
    d = c.recv(1000)
    if d.startswith(b"GET "):
        d = b"HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\nexec'd!\r\n"
    c.sendall(d)
    c.close()
PYEOF
TLSSHIM_LOG_FILE=$T/exec.log bg $LENV "$L" -v -c "$KH" -- sh -c "$PY $T/closefrom_echo.py $PX; exit 0" \
	>"$T/exec.out" 2>"$T/exec.err"
SX=$!
for p in "$PR" "$PE" "$PC" "$PF" "$PX"; do
	wait_listen "$p" || { fail "keyholder_setup" "nothing listens on $p $(tail_of "$T"/*.err "$T"/*.log)"; exit 1; }
done

# s_client NAME PORT ARGS...: one line of data through, echoed.  Its input
# stays open until the echo is in or s_client has ended (a refused
# handshake: that waited out the whole bound, 30 s), bounded: s_client
# hangs up at the end of its input, and a fixed second was too short on a
# loaded machine.
sclient() {
	_n=$1 _p=$2
	shift 2
	_msg="ping-$_n-$$"
	{
		echo "$_msg"
		_i=0
		while [ $_i -lt $((100 * TS)) ] && [ ! -e "$T/c.$_n.end" ] &&
		      ! grep -q -x -F "$_msg" "$T/c.$_n.out" 2>/dev/null; do
			sleep 0.1; _i=$((_i + 1))
		done
	} | {
		timeout -k 2 $((10 * TS)) openssl s_client -connect 127.0.0.1:"$_p" \
			-CAfile "$CERTS/ca.crt" -verify_hostname localhost -verify_return_error "$@" >"$T/c.$_n.out" 2>&1
		: >"$T/c.$_n.end"
	}
	grep -q -x -F "$_msg" "$T/c.$_n.out"
}
for v in tls1_2 tls1_3; do
	name="RSA key in the holder: $v handshake and data (s_client)"
	if sclient "rsa-$v" "$PR" -"$v"; then pass "$name"; else fail "$name" "$(tail_of "$T/c.rsa-$v.out" "$T/rsa.log")"; fi
	name="ECDSA P-256 key in the holder: $v handshake and data (s_client)"
	if sclient "ec-$v" "$PE" -"$v"; then pass "$name"; else fail "$name" "$(tail_of "$T/c.ec-$v.out" "$T/ec.log")"; fi
done
name="RSA key in the holder: TLS 1.2 PKCS#1 v1.5 signature (-sigalgs RSA+SHA256)"
if sclient rsa-pkcs1 "$PR" -tls1_2 -sigalgs RSA+SHA256 && grep -q "Peer signature type: RSA$" "$T/c.rsa-pkcs1.out"; then
	pass "$name"
else
	fail "$name" "$(tail_of "$T/c.rsa-pkcs1.out" "$T/rsa.log")"
fi
name="RSA key in the holder: PSS signature (-sigalgs RSA-PSS+SHA384)"
if sclient rsa-pss "$PR" -tls1_3 -sigalgs rsa_pss_rsae_sha384 && grep -q "Peer signature type: RSA-PSS" "$T/c.rsa-pss.out"; then
	pass "$name"
else
	fail "$name" "$(tail_of "$T/c.rsa-pss.out" "$T/rsa.log")"
fi
name="key_holder rule refuses TLS 1.2 RSA key exchange (no decryption)"
if ! sclient rsa-kx "$PR" -tls1_2 -cipher AES128-SHA; then pass "$name"; else fail "$name" "RSA key exchange was served"; fi
name="control server (no key_holder) serves"
if sclient ctl "$PC" -tls1_3; then pass "$name"; else fail "$name" "$(tail_of "$T/c.ctl.out" "$T/ctl.log")"; fi

name="a forked and exec'd program that closed every inherited fd signs through the holder"
if sclient exec "$PX" -tls1_3 && grep -q 'rule "exec": accepted TLSv1.3' "$T/exec.log"; then
	pass "$name"
else
	fail "$name" "$(tail_of "$T/c.exec.out" "$T/exec.log" "$T/exec.err")"
fi
for v in 1.2 1.3; do
	name="curl TLS $v to the forked and exec'd server"
	if timeout -k 2 $((30 * TS)) curl -sS --cacert "$CERTS/ca.crt" --tlsv"$v" --tls-max "$v" \
		"https://localhost:$PX/" >"$T/curlx.$v.out" 2>"$T/curlx.$v.err" && grep -q "exec'd!" "$T/curlx.$v.out"; then
		pass "$name"
	else
		fail "$name" "$(tail_of "$T/curlx.$v.out" "$T/curlx.$v.err" "$T/exec.log")"
	fi
done
wait_exit "$SX" >/dev/null

for v in 1.2 1.3; do
	name="curl TLS $v to a forking socat whose children exec a shell"
	if timeout -k 2 $((30 * TS)) curl -sS --cacert "$CERTS/ca.crt" --tlsv"$v" --tls-max "$v" \
		"https://localhost:$PF/" >"$T/curl.$v.out" 2>"$T/curl.$v.err" && grep -q "forked!" "$T/curl.$v.out"; then
		pass "$name"
	else
		fail "$name" "$(tail_of "$T/curl.$v.out" "$T/curl.$v.err" "$T/fork.log")"
	fi
done

# ---- the memory ----------------------------------------------------------------
# The program is the launcher's pid (exec); the holder is a process named
# tlsshim-keyhold whose command line is the launcher's.
holder_of() { ps -eo pid=,comm=,args= | awk -v p=" $1\$" '$2 == "tlsshim-keyhold" && $0 ~ p { print $1 }'; }
HR=$(holder_of "$PR") HE=$(holder_of "$PE")
name="one key holder per launched program"
if [ -n "$HR" ] && [ -n "$HE" ] && [ "$HR" != "$HE" ] && [ -z "$(holder_of "$PC")" ]; then
	pass "$name"
else
	fail "$name" "holders: rsa '$HR' ec '$HE' control '$(holder_of "$PC")'; $(ps -eo pid,comm,args | tr '\n' '|')"
fi

$MS scan "$T/all.needles" "$SR" "$SE" >"$T/scan.kh" 2>&1
name="no key bytes in the memory of the programs served by the holder"
if grep -q "^scanned $SR [1-9]" "$T/scan.kh" && grep -q "^scanned $SE [1-9]" "$T/scan.kh" &&
	! grep -q FOUND "$T/scan.kh"; then
	pass "$name ($(grep -c . "$T/all.needles") needles, $(awk '/^scanned/ { s += $3 } END { print s }' "$T/scan.kh") bytes)"
else
	fail "$name" "$(tr '\n' '|' <"$T/scan.kh")"
fi
$MS scan "$T/rsa.needles" "$SC" >"$T/scan.ctl" 2>&1
name="control: the search finds the key in a program without the holder"
if grep -q "FOUND $SC rsa.key:prime1" "$T/scan.ctl"; then
	pass "$name ($(grep -c FOUND "$T/scan.ctl") of $(grep -c . "$T/rsa.needles") needles)"
else
	fail "$name" "$(tr '\n' '|' <"$T/scan.ctl")"
fi
if [ -n "$HR" ]; then
	$MS scan "$T/rsa.needles" "$HR" >"$T/scan.holder" 2>&1
	name="control: the key is in the holder process (read as root)"
	if grep -q "FOUND $HR rsa.key:prime1" "$T/scan.holder"; then
		pass "$name"
	elif [ "$(id -u)" != 0 ]; then
		pass "$name (skipped: not root)"
	else
		fail "$name" "$(tr '\n' '|' <"$T/scan.holder")"
	fi
fi

# ---- not dumpable: the program's own user cannot read the holder ----------------------
# As root the test can read every process; the same launch as user nobody
# shows what PR_SET_DUMPABLE does: nobody reads its program's memory
# (no Yama restriction here) but not its holder's.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	# (not under $T: user nobody must reach it)
	ND=$(mktemp -d /tmp/tlsshim-kh-nobody.XXXXXX)
	_kh_rm_nd() { rm -rf "$ND"; }
	at_exit _kh_rm_nd
	chmod 755 "$ND"
	cp "$T/ec.crt" "$T/ec.key" "$PYD/memscan.py" "$T/ec.needles" "$ND/"
	PN=$(free_port)
	policy "$ND/p.conf" <<EOF
rules = ( { name = "nobody"; direction = "accept"; port = $PN; cert = "$ND/ec.crt"; key = "$ND/ec.key";
            key_holder = true; } );
EOF
	chown -R 65534:65534 "$ND"
	NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"
	TLSSHIM_LOG_FILE=$ND/n.log bg $NOBODY $LENV "$L" -c "$ND/p.conf" -- "$PROGS/echo_server" "$PN" >"$T/n.out" 2>"$T/n.err"
	SN=$!
	if wait_listen "$PN" && sclient nobody "$PN" -tls1_3; then
		HN=$(holder_of "$PN")
		$NOBODY $PY "$ND/memscan.py" scan "$ND/ec.needles" "$SN" >"$T/scan.n.prog" 2>&1
		$NOBODY $PY "$ND/memscan.py" scan "$ND/ec.needles" "$HN" >"$T/scan.n.holder" 2>&1
		name="the program's user reads the program's memory (no key there) but not the holder's"
		if [ -n "$HN" ] && grep -q "^scanned $SN [1-9]" "$T/scan.n.prog" && ! grep -q FOUND "$T/scan.n.prog" &&
			grep -q "PermissionError" "$T/scan.n.holder" && ! grep -q FOUND "$T/scan.n.holder"; then
			pass "$name"
		else
			fail "$name" "holder '$HN' $(tail_of "$T/scan.n.prog" "$T/scan.n.holder")"
		fi
		# A holder not run as root serves its own user only (SO_PEERCRED):
		# another user that learned the name and token (the program's
		# environment) still gets every request refused as not the
		# program's user, before the MAC or the key is looked at.
		KHN=$(tr '\0' '\n' </proc/"$SN"/environ 2>/dev/null | sed -n 's/^TLSSHIM_KEY_HOLDER=//p')
		cp "$PYD/khprobe.py" "$ND/" && chmod 644 "$ND/khprobe.py"
		# one request MACed with the token, for a key it does not hold:
		# "status=S" (its answer), or "reset" (closed before it was sent)
		setpriv --reuid=1234 --regid=1234 --clear-groups $PY -c '
import sys
sys.path.insert(0, sys.argv[1])
import khprobe
name, tok = khprobe.parse(sys.argv[2])
try:
    print("status=%s" % khprobe.request(name, tok, bytes(32), 1, bytes(51))[0])
except (ConnectionResetError, BrokenPipeError):
    print("reset")
' "$ND" "$KHN" >"$T/probe.other" 2>&1
		name="a holder run as nobody refuses another user's request, token or not"
		if [ -n "$KHN" ] && grep -qx 'status=1\|reset' "$T/probe.other" &&
			grep -q "tlsshim-keyholder\[$HN\]: error: refused a connection from uid 1234 pid [0-9]*: not the program's user" "$ND/n.log"; then
			pass "$name"
		else
			fail "$name" "holder '$HN' $(tail_of "$T/probe.other" "$ND/n.log")"
		fi
	else
		fail "holder as user nobody" "$(tail_of "$T/n.out" "$T/n.err" "$ND/n.log" "$T/c.nobody.out")"
	fi
	stop "$SN"
	rm -rf "$ND"
fi

# ---- what the holder signs, and for whom it waits ----------------------------------------
# A compromised program has the holder's name and token (its environment);
# khprobe.py asks the RSA server's holder directly.  PKCS#1 v1.5 is made
# only of a DigestInfo of a TLS 1.2 hash: the padding of any other data
# made the holder a decryption oracle (two signatures decrypt a block).
KHV=$(tr '\0' '\n' </proc/"$SR"/environ 2>/dev/null | sed -n 's/^TLSSHIM_KEY_HOLDER=//p')
KP="$PY $PYD/khprobe.py"
$KP sign "$KHV" "$T/rsa.crt" >"$T/probe.sign" 2>&1
name="the holder refuses PKCS#1 v1.5 of data that is not a DigestInfo (no decryption oracle)"
if grep -q "^raw-block status=3$" "$T/probe.sign" && grep -q "^sha256-long status=3$" "$T/probe.sign"; then
	pass "$name"
else
	fail "$name" "$(tr '\n' '|' <"$T/probe.sign")"
fi
name="the holder refuses a DigestInfo of MD5 (not a TLS 1.2 hash)"
if grep -q "^md5 status=3$" "$T/probe.sign"; then pass "$name"; else fail "$name" "$(tr '\n' '|' <"$T/probe.sign")"; fi
name="the holder signs DigestInfos of SHA-256 and SHA-512 (valid PKCS#1 v1.5 signatures)"
if grep -q "^sha256 status=0 valid$" "$T/probe.sign" && grep -q "^sha512 status=0 valid$" "$T/probe.sign"; then
	pass "$name"
else
	fail "$name" "$(tr '\n' '|' <"$T/probe.sign")"
fi
name="the holder's refusal is logged"
if grep -q "tlsshim-keyholder\[$HR\]: error: pid [0-9]*: refused operation 1" "$T/rsa.log"; then
	pass "$name"
else
	fail "$name" "$(tail_of "$T/rsa.log")"
fi
name="TLS 1.2 PKCS#1 v1.5 with SHA-512 through the holder (-sigalgs RSA+SHA512)"
if sclient rsa-pkcs1-512 "$PR" -tls1_2 -sigalgs RSA+SHA512 && grep -q "Peer signature type: RSA$" "$T/c.rsa-pkcs1-512.out"; then
	pass "$name"
else
	fail "$name" "$(tail_of "$T/c.rsa-pkcs1-512.out" "$T/rsa.log")"
fi

# Connections that send nothing (any local user can open them when the
# holder runs as root; here the program's own user) used to hold the
# holder 2 s each, one at a time: 40 of them stalled every handshake
# past the client's 10 s.  Now they wait aside and a handshake goes by.
$KP stall "$KHV" 40 "$T/stall.end" >"$T/probe.stall" 2>&1 &
KS=$!
wait_for "$T/probe.stall" "^open 40" 30
name="40 connections that send nothing to the holder: a handshake is still signed"
if grep -q "^open 40" "$T/probe.stall" && sclient rsa-stalled "$PR" -tls1_3; then
	pass "$name"
else
	fail "$name" "$(tail_of "$T/probe.stall" "$T/c.rsa-stalled.out" "$T/rsa.log")"
fi
: >"$T/stall.end"
wait "$KS" 2>/dev/null
# Refused requests are logged at most once a second; those in between are
# counted, and the count logged when the second is over (nothing lost).
$KP badtoken "$KHV" 200 >"$T/probe.bad" 2>&1
secs=$(sed -n 's/^seconds //p' "$T/probe.bad")
refusals() {
	awk '/wrong MAC/ { n++ } match($0, /: [0-9]+ more connections? or requests? refused/) {
		split(substr($0, RSTART + 2), w, " "); n += w[1] } END { print n + 0 }' "$T/rsa.log"
}
n=0
while [ "$(refusals)" -lt 200 ] && [ $n -lt $((50 * TS)) ]; do sleep 0.1; n=$((n + 1)); done
lines=$(grep -c -E "wrong MAC|more connections? or requests? refused" "$T/rsa.log")
name="200 requests MACed with a wrong token: all refused and counted, at most two log lines a second"
if grep -q "^refused 200 of 200$" "$T/probe.bad" && [ -n "$secs" ] && [ "$(refusals)" -ge 200 ] &&
	[ "$lines" -le $((2 * secs + 4)) ]; then
	pass "$name ($lines lines in about $secs s)"
else
	fail "$name" "$lines lines, $(refusals) counted, in $secs s; $(tr '\n' '|' <"$T/probe.bad") $(tail_of "$T/rsa.log")"
fi

# ---- the launcher started with standard input and output closed ---------------------------
# The holder's pipe, pidfd and socket took 0 and 1, which it then gave
# /dev/null: its "OK" was lost (exit 71), or with 0 alone closed, its pidfd
# was /dev/null and it ended at once (every handshake failed).
name="the launcher started with stdin and stdout closed: the holder stays and signs"
TLSSHIM_LOG_FILE=$T/closed.log bg $LENV "$L" -c "$KH" -- "$PROGS/echo_server" "$PZ" <&- >&- 2>"$T/closed.err"
SZ=$!
if wait_listen "$PZ" && sclient closed "$PZ" -tls1_3; then
	pass "$name"
else
	fail "$name" "$(tail_of "$T/closed.err" "$T/closed.log" "$T/c.closed.out")"
fi
stop "$SZ"

# ---- the program closes the holder's connection ----------------------------------------
# A stray close() (or closefrom) in another thread while a handshake waits
# for the holder: the connection had the lowest free number, the close
# took it, the program's next file (a pipe) got the number, and the
# library's own close after the answer closed the program's pipe.  Now it
# is one of the library's own descriptors: the program's close says EBADF.
# closeit MODE NAME: khclose.py in MODE (close, dup2) on port $PK; MODE
# sigfork: khfork (tests/progs/khfork.c).
closeit() {
	if [ "$1" = sigfork ]; then set -- "$1" "$2" "$PROGS/khfork"; else set -- "$1" "$2" $PY "$PYD/khclose.py" "$1"; fi
	_m=$1 _n=$2
	shift 2
	TLSSHIM_LOG_FILE=$T/close.$_m.log bg $LENV "$L" -c "$KH" -- "$@" "$PK" \
		>"$T/close.$_m.out" 2>"$T/close.$_m.err"
	set -- "$_m" "$_n"
	SK=$!
	if wait_for "$T/close.$1.out" "^listening" 10 && wait_listen "$PK" && HK=$(holder_of "$PK") &&
		[ -n "$HK" ]; then
		kill -STOP "$HK"
		{ echo "hello-close"; wait_for "$T/close.$1.out" "^echoed" 10; } | timeout -k 2 $((10 * TS)) \
			openssl s_client -connect 127.0.0.1:"$PK" -CAfile "$CERTS/ca.crt" >"$T/c.close.$1.out" 2>&1 &
		CK=$!
		wait_for "$T/close.$1.out" "^(ready|no connection)" 25
		kill -CONT "$HK"
		wait "$CK"
	fi
	if grep -q "^echoed 12" "$T/close.$1.out" && grep -q -x "hello-close" "$T/c.close.$1.out" &&
		if [ "$1" = sigfork ]; then grep -q "^fork: child has not [0-9]" "$T/close.$1.out"
		else grep -q "^pipe ok" "$T/close.$1.out"; fi; then
		pass "$2 ($(grep -E "^(clos|dup2|fork)" "$T/close.$1.out"))"
	else
		fail "$2" "$(tail_of "$T/close.$1.out" "$T/close.$1.err" "$T/close.$1.log")"
	fi
	stop "$SK"
	n=0
	while [ -n "$HK" ] && alive "$HK" && [ $n -lt $((50 * TS)) ]; do sleep 0.1; n=$((n + 1)); done
}
closeit close "a thread closes the holder's connection during a handshake: the program's next file stays open"
closeit dup2 "a thread dup2s a pipe onto the holder's connection during a handshake: the pipe stays open"
# A fork() during a request (a signal handler's: a fork() in another
# thread waits for the handshake's lock) left the connection, one of the
# library's own descriptors that the program cannot even close, open in
# the child for its whole life.  Now fork's child handler closes it; the
# parent's request goes on.
closeit sigfork "a signal handler forks during a holder request: the child has not the connection, the handshake completes"

# ---- TLSSHIM_LOG_FILE a FIFO whose reader stopped reading ----------------------------
# The holder wrote its log lines blocking: with the pipe full it stopped in
# write() at its next line (here a malformed request's), and every
# handshake of the program waited for it (the client's 10 s, then failed).
# Now its log is non-blocking: the line is dropped and counted, and the
# count leads its next line once the reader reads again.
FILL='
import os, sys, time
r = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
w = os.open(sys.argv[1], os.O_WRONLY | os.O_NONBLOCK)
try:
    while True:
        os.write(w, b"#" * 4095 + b"\n")
except BlockingIOError:
    pass
os.close(w)
print("full", flush=True)
t = time.time()
while not os.path.exists(sys.argv[2]) and time.time() - t < 30:
    time.sleep(0.05)
out = open(sys.argv[3], "ab")
while time.time() - t < 30 and not os.path.exists(sys.argv[4]):
    try:
        d = os.read(r, 65536)
        out.write(d.replace(b"#" * 4095 + b"\n", b""))
        out.flush()
    except BlockingIOError:
        time.sleep(0.05)
'
# khgarbage KH: a malformed request to the holder (a line in its log).
khgarbage() {
	$PY -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect("\0" + sys.argv[1]); s.send(b"garbage"); s.settimeout(5); s.recv(100)' "${1%%:*}" 2>/dev/null
}
mkfifo "$T/full.fifo"
$PY -c "$FILL" "$T/full.fifo" "$T/full.drain" "$T/full.read" "$T/full.end" >"$T/full.out" 2>&1 &
FP=$!
if wait_for "$T/full.out" "^full" 10; then
	TLSSHIM_LOG_FILE=$T/full.fifo bg $LENV "$L" -c "$KH" -- "$PROGS/echo_server" "$PL" >"$T/full.sout" 2>"$T/full.err"
	SL=$!
	wait_listen "$PL"
	KHL=$(tr '\0' '\n' </proc/"$SL"/environ 2>/dev/null | sed -n 's/^TLSSHIM_KEY_HOLDER=//p')
	khgarbage "$KHL"
	name="TLSSHIM_LOG_FILE a full FIFO: the holder logs a refusal, then signs at once"
	if [ -n "$KHL" ] && sclient full "$PL" -tls1_3; then pass "$name"; else fail "$name" "$(tail_of "$T/c.full.out" "$T/full.err")"; fi
	: >"$T/full.drain"
	n=0
	while ! grep -q "log lines\? dropped" "$T/full.read" 2>/dev/null && [ $n -lt $((10 * TS)) ]; do
		khgarbage "$KHL"
		sleep 0.3
		n=$((n + 1))
	done
	name="the holder's lines dropped while the FIFO was full are counted in its next line"
	if grep -q "tlsshim-keyholder\[[0-9]*\]: error: [0-9]* log lines\? dropped: the log was full" "$T/full.read"; then
		pass "$name ($(grep -o "[0-9]* log lines\? dropped" "$T/full.read" | head -1))"
	else
		fail "$name" "$(tail_of "$T/full.read" "$T/full.err")"
	fi
	stop "$SL"
fi
: >"$T/full.end"
wait "$FP" 2>/dev/null

# ---- the holder gone --------------------------------------------------------------
if [ -n "$HE" ]; then
	kill "$HE"
	n=0
	while alive "$HE" && [ $n -lt $((50 * TS)) ]; do sleep 0.1; n=$((n + 1)); done
	name="holder killed: the handshake fails, with a log line, no data crosses"
	msg="secret-after-kill-$$"
	# input open until the library has logged the failed handshake (bounded)
	{ echo "$msg"; wait_for "$T/ec.log" 'cannot reach it' 10; } | timeout -k 2 $((10 * TS)) openssl s_client -connect 127.0.0.1:"$PE" \
		-CAfile "$CERTS/ca.crt" >"$T/c.dead.out" 2>&1
	if grep -q "key holder \"tlsshim-keyholder-$SE-[0-9a-f]*\": cannot reach it" "$T/ec.log" &&
		! grep -q -x -F "$msg" "$T/c.dead.out" && has_no "$T/ec.out" "$msg"; then
		pass "$name"
	else
		fail "$name" "$(tail_of "$T/c.dead.out" "$T/ec.log")"
	fi
fi
# Its name free, another local user binds it (names are listed in
# /proc/net/unix): the library used to send it the token and what is to be
# signed, and to wait up to 10 s for its answer, at each handshake.  Now it
# looks at who listens (SO_PEERCRED): only its own user or root.
SQUAT='
import os, socket, sys, time
name, tok = sys.argv[1], bytes.fromhex(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind("\0" + name)
s.listen(8)
s.settimeout(0.2)
print("listening uid %d" % os.getuid(), flush=True)
t = time.time()
while time.time() - t < 30:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    c.settimeout(2)
    try:
        r = c.recv(4096)
        if r:
            print("request %d bytes token=%s" % (len(r), "yes" if tok in r else "no"), flush=True)
            # a signature, in the holder'"'"'s format, with no valid MAC
            c.send(b"TSKH\x00\x00\x00\x40" + bytes(32) + bytes(64))
    except OSError:
        pass
    c.close()
'
# squat_run TAG UID KH PORT LOG REGEX: as UID, bind the holder's name of
# KH (NAME:TOKEN) with $SQUAT (its lines in $T/TAG.sq), then one s_client
# to PORT that sends $msg and waits, at most 10 s, for REGEX in LOG (its
# output in $T/c.TAG.out); the squatter is stopped after.
squat_run() {
	setpriv --reuid="$2" --regid="$2" --clear-groups $PY -c "$SQUAT" "${3%%:*}" "${3#*:}" >"$T/$1.sq" 2>&1 &
	_sq=$!
	wait_for "$T/$1.sq" "^listening" 10
	{ echo "$msg"; wait_for "$5" "$6" 10; } |
		timeout -k 2 $((10 * TS)) openssl s_client -connect 127.0.0.1:"$4" -CAfile "$CERTS/ca.crt" \
		>"$T/c.$1.out" 2>&1
	kill "$_sq" 2>/dev/null
	wait "$_sq" 2>/dev/null
}
if [ -n "$HE" ] && ! alive "$HE" && [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	KHE=$(tr '\0' '\n' </proc/"$SE"/environ 2>/dev/null | sed -n 's/^TLSSHIM_KEY_HOLDER=//p')
	name="holder gone, another user binds its name: not asked (no token sent), the handshake fails, logged"
	msg="secret-after-squat-$$"
	squat_run squat 65534 "$KHE" "$PE" "$T/ec.log" 'another listens on its name|key holder .*could not sign'
	if grep -q "^listening uid 65534" "$T/squat.sq" && ! grep -q "^request" "$T/squat.sq" &&
		grep -q "key holder \"${KHE%%:*}\": another listens on its name: uid 65534 (pid [0-9]*)" "$T/ec.log" &&
		! grep -q -x -F "$msg" "$T/c.squat.out" && has_no "$T/ec.out" "$msg"; then
		pass "$name"
	else
		fail "$name" "$(tail_of "$T/squat.sq" "$T/c.squat.out" "$T/ec.log")"
	fi
	# One of the program's own user is asked (it could read the token from
	# the program's environment, but one that did not learned it from the
	# request: the token was in it).  Now the request carries a MAC keyed
	# by the token, not the token, and the squatter's answer, without the
	# holder's MAC, is refused.
	name="holder gone, a process of the program's user binds its name: the request holds no token, its answer is refused"
	msg="secret-after-own-squat-$$"
	squat_run osq 0 "$KHE" "$PE" "$T/ec.log" 'not the holder|key holder .*could not sign'
	if grep -q "^listening uid 0" "$T/osq.sq" && grep -q "^request [0-9]* bytes token=no" "$T/osq.sq" &&
		grep -q "key holder \"${KHE%%:*}\": an answer from whoever listens on its name (uid 0, pid [0-9]*) without a MAC made with the program's secret: not the holder's" "$T/ec.log" &&
		! grep -q -x -F "$msg" "$T/c.osq.out" && has_no "$T/ec.out" "$msg"; then
		pass "$name ($(grep "^request" "$T/osq.sq"))"
	else
		fail "$name" "$(tail_of "$T/osq.sq" "$T/c.osq.out" "$T/ec.log")"
	fi
fi
# In a user namespace every user not mapped there reads as the overflow
# uid (65534), the holder's too: a program of another user than the
# holder's that enters one (unshare(CLONE_NEWUSER)), or is started in one,
# was refused its own holder by the SO_PEERCRED check of 1de8e63 ("another
# listens on its name: uid 65534"), and every handshake failed.  Now the
# holder proves itself by a MAC keyed by the program's token.  The launcher
# (root) in a pid namespace of its own, the program as uid 1234 in a user
# namespace where it is root and root outside is not mapped: the holder
# signs; killed, its name is bound by uid 4321 outside (65534 and pid 0
# there, as the holder was), which gets no token and whose answer is refused.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && unshare --user --map-root-user true 2>/dev/null; then
	UD=$(mktemp -d /tmp/tlsshim-kh-userns.XXXXXX)
	_kh_rm_ud() { rm -rf "$UD"; }
	at_exit _kh_rm_ud
	chmod 755 "$UD"
	cp "$T/ec.crt" "$T/ec.key" "$UD/"
	PU=$(free_port)
	policy "$UD/p.conf" <<EOF
rules = ( { name = "userns"; direction = "accept"; port = $PU; cert = "$UD/ec.crt"; key = "$UD/ec.key";
            key_holder = true; } );
EOF
	chmod 644 "$UD/p.conf" "$UD/ec.crt"
	bg unshare --pid --fork --kill-child $LENV "$L" -c "$UD/p.conf" -- \
		setpriv --reuid=1234 --regid=1234 --clear-groups \
		unshare --user --map-root-user "$PROGS/echo_server" "$PU" >"$T/u.out" 2>"$T/u.err"
	SU=$!
	name="program of another user than the holder's in a user namespace (the holder reads as 65534 there): it signs"
	if wait_listen "$PU" && sclient userns "$PU" -tls1_3; then
		pass "$name"
	else
		fail "$name" "$(tail_of "$T/u.out" "$T/u.err" "$T/c.userns.out")"
	fi
	HU=$(holder_of "$PU")
	EU=$(ps -eo pid=,comm=,args= | awk -v p=" $PU\$" '$2 == "echo_server" && $0 ~ p { print $1 }')
	KHU=$(tr '\0' '\n' </proc/"$EU"/environ 2>/dev/null | sed -n 's/^TLSSHIM_KEY_HOLDER=//p')
	[ -n "$HU" ] && kill "$HU"
	n=0
	while [ -n "$HU" ] && alive "$HU" && [ $n -lt $((50 * TS)) ]; do sleep 0.1; n=$((n + 1)); done
	name="program in a user namespace: a user outside binding the holder's name gets no token, its answer refused"
	msg="secret-after-userns-squat-$$"
	squat_run squ 4321 "$KHU" "$PU" "$T/u.err" 'not the holder|key holder .*could not sign'
	if [ -n "$KHU" ] && grep -q "^listening uid 4321" "$T/squ.sq" && ! grep -q "token=yes" "$T/squ.sq" &&
		grep -q "key holder \"${KHU%%:*}\": .*(uid 65534, pid 0).*not the holder's" "$T/u.err" &&
		! grep -q -x -F "$msg" "$T/c.squ.out"; then
		pass "$name ($(grep "^request" "$T/squ.sq"))"
	else
		fail "$name" "$(tail_of "$T/squ.sq" "$T/c.squ.out" "$T/u.err")"
	fi
	[ -n "$EU" ] && kill -KILL "$EU"
	stop "$SU"
	rm -rf "$UD"
fi
name="the program ends: its holder ends"
stop "$SR"
n=0
while [ -n "$HR" ] && alive "$HR" && [ $n -lt $((50 * TS)) ]; do sleep 0.1; n=$((n + 1)); done
if [ -n "$HR" ] && ! alive "$HR"; then pass "$name"; else fail "$name" "holder $HR still there"; fi
stop "$SE"
stop "$SC"
stop "$SF"
