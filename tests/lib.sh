# tests/lib.sh — sourced by every test script.  POSIX sh.
#
# Environment (set by tests/run.sh): TLSSHIM_TOP, TLSSHIM_BUILD,
# TLSSHIM_LIB, SHIM_PRELOAD (what LD_PRELOAD must hold for the shim),
# TLSSHIM_LAUNCHER, TLSSHIM_PROGS (our plain test programs),
# TLSSHIM_TEST_CERTS (ca.crt, server.crt/.key, client.crt/.key, ...).
# Run one script by hand:  make test-build && sh tests/run.sh --only NAME

: "${TLSSHIM_TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${TLSSHIM_BUILD:=$TLSSHIM_TOP/build}"
: "${TLSSHIM_LIB:=$TLSSHIM_BUILD/libtlsshim.so}"
: "${SHIM_PRELOAD:=$TLSSHIM_LIB}"
: "${TLSSHIM_LAUNCHER:=$TLSSHIM_BUILD/tlsshim}"
: "${TLSSHIM_PROGS:=$TLSSHIM_BUILD/progs}"
if [ -z "${TLSSHIM_TEST_CERTS:-}" ]; then
	TLSSHIM_TEST_CERTS=$(mktemp -d /tmp/tlsshim-certs.XXXXXX)
	sh "$TLSSHIM_TOP/certs/mkcerts.sh" "$TLSSHIM_TEST_CERTS" >/dev/null 2>&1
fi
CERTS=$TLSSHIM_TEST_CERTS
PROGS=$TLSSHIM_PROGS

T=$(mktemp -d /tmp/tlsshim-t.XXXXXX)
_bg_pids=""
_cleanup() {
	for p in $_bg_pids; do kill "$p" 2>/dev/null; done
	sleep 0.1
	for p in $_bg_pids; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap _cleanup EXIT
trap 'exit 1' INT TERM

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
# check NAME COMMAND...: PASS if the command succeeds, else FAIL.
check() { _n=$1; shift; if "$@"; then pass "$_n"; else fail "$_n" "command failed: $*"; fi; }

# A TCP port that is free now on 127.0.0.1 (and ::1).
free_port() {
	python3 -c 'import socket
s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT [HOST] — wait up to 10 s until something listens.
wait_port() {
	_h=${2:-127.0.0.1}
	python3 - "$_h" "$1" <<'PY'
import socket, sys, time
h, p = sys.argv[1], int(sys.argv[2])
end = time.time() + 10
while time.time() < end:
    try:
        socket.create_connection((h, p), timeout=1).close(); sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
}

# bg CMD...: start in the background, killed when the script ends.
# The pid is in $!.
bg() { "$@" & _bg_pids="$_bg_pids $!"; }

# shim CMD...: run a command under the shim with policy $POLICY.
shim() { env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" "$@"; }

# policy FILE <<EOF ... EOF: write a policy file; sets POLICY.
policy() { POLICY=$1; cat >"$POLICY"; }

# has_no FILE STRING: the file does not contain the string (plaintext check).
has_no() { ! grep -q -F -- "$2" "$1"; }
