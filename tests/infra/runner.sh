#!/bin/sh
# tests/infra/runner.sh — the runner's isolation checks itself
# (tests/tools/nsrun.sh, run in namespaces nested in this test's own):
#  * a test runs as the only thing in its PID namespace, with lo up and no
#    other network interface;
#  * a process a test leaves running is a FAIL naming its pid and command
#    line, and is killed (the namespace ends empty);
#  * a script that sources tests/lib.sh stops its whole process tree at
#    exit (children and grandchildren started with or without bg): no FAIL;
#  * with tests/interop/daemons.inc as well, the script's at_exit functions
#    and lib.sh's cleanup both run (nothing left in TLSSHIM_TEST_TMP);
#  * a test past its time limit is stopped (exit status 124);
#  * the runner's own exit kills only its jobs that still run: a process
#    that has taken the pid of a job that ended (here made to, with
#    ns_last_pid in a PID namespace of this test's) is left alone;
#  * the capture's buffer: a test whose capture passes 24 MB (here, with
#    TLSSHIM_CAPTURE_LIMIT_KB, 2 MB) without the
#    line "# tlsshim-test: big-capture" fails the wire audit, saying so;
#    with the line, the same test passes (tests/run.sh on a tree of links
#    to the runner's files with these two tests only).
# The two runs nested here copy this run's certificates
# (TLSSHIM_TEST_CERTS_FROM) instead of making their own: 3 s of CPU each.
# tlsshim-test: once
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
NS="unshare --net --pid --fork --mount-proc --kill-child"
NSRUN="$TLSSHIM_TOP/tests/tools/nsrun.sh"
# nested J LIMIT CMD...: run CMD as a test in nested namespaces; output in J/out.
nested() {
	_j=$1 _l=$2; shift 2
	mkdir -p "$_j"
	: >"$_j/out"
	TLSSHIM_AUDIT=0 timeout $((60 * TS)) $NS sh "$NSRUN" "$_j" "$_l" inner "$@" >>"$_j/out" 2>&1
}

nested "$T/a" 20 sh -c 'echo "init $(tr "\0" " " </proc/1/cmdline)"; ip -o link | cut -d: -f2 | tr -d " "; echo "processes $(ls /proc | grep -c "^[0-9]")"'
if grep -q '^init sh .*/tests/tools/nsrun.sh ' "$T/a/out" && [ "$(sed -n 2p "$T/a/out")" = lo ] &&
   [ "$(sed -n 's/^processes //p' "$T/a/out")" -le 8 ] && ! grep -q FAIL "$T/a/out"; then
	pass "a test runs in PID and network namespaces of its own (nsrun is process 1, lo only, a handful of processes)"
else
	fail "a test runs in namespaces of its own" "$(tr '\n' '|' <"$T/a/out")"
fi

nested "$T/b" 20 sh -c 'setsid sleep 300 & (sleep 301 &); echo PASS started'
if grep -q -E '^FAIL inner: processes left running after the test ended \(killed now\): pid [0-9]+: sleep 30[01] ; pid [0-9]+: sleep 30[01]' "$T/b/out"; then
	pass "processes a test leaves running are a FAIL naming them, and are killed"
else
	fail "leftover processes are reported" "$(tr '\n' '|' <"$T/b/out")"
fi

cat >"$T/tree.sh" <<EOS
. "$TLSSHIM_TOP/tests/lib.sh"
bg sleep 302
sleep 303 &
sh -c 'sleep 304 & sleep 305' &
echo "PASS started a tree"
EOS
nested "$T/c" 20 env TLSSHIM_TOP="$TLSSHIM_TOP" TLSSHIM_TEST_CERTS="$CERTS" sh "$T/tree.sh"
if grep -q '^PASS started a tree' "$T/c/out" && ! grep -q FAIL "$T/c/out"; then
	pass "tests/lib.sh stops the script's whole process tree at its end (nothing left)"
else
	fail "lib.sh stops the process tree" "$(tr '\n' '|' <"$T/c/out")"
fi

# A script with daemons.inc (its own at-exit cleanup) that fails early:
# lib.sh's cleanup still runs after it (dash's $(trap) is empty, and 16
# scripts once lost their $T and their tree stop that way).
mkdir -p "$T/e/tmp"
cat >"$T/daemons.sh" <<EOS
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
mine() { echo "at_exit ran" >"$T/e/mark"; }
at_exit mine
bg sleep 306
echo "PASS started"
exit 1
EOS
nested "$T/e" 20 env TLSSHIM_TOP="$TLSSHIM_TOP" TLSSHIM_TEST_CERTS="$CERTS" TLSSHIM_TEST_TMP="$T/e/tmp" sh "$T/daemons.sh"
if grep -q '^PASS started' "$T/e/out" && ! grep -q FAIL "$T/e/out" && [ -s "$T/e/mark" ] &&
   [ -z "$(ls -A "$T/e/tmp")" ]; then
	pass "with daemons.inc too, a failing script runs its at_exit functions, stops its tree and removes its \$T"
else
	fail "daemons.inc keeps lib.sh's cleanup" "$(tr '\n' '|' <"$T/e/out") mark: $(cat "$T/e/mark" 2>/dev/null) left: $(ls -A "$T/e/tmp")"
fi

nested "$T/d" 2 sh -c 'echo PASS before; sleep 30; echo PASS after'
if [ "$(cat "$T/d/rc" 2>/dev/null)" = 124 ] && ! grep -q 'PASS after' "$T/d/out"; then
	pass "a test past its time limit is stopped (status 124)"
else
	fail "time limit" "rc $(cat "$T/d/rc" 2>/dev/null): $(tr '\n' '|' <"$T/d/out")"
fi

# A process that takes a finished job's pid before the runner exits: the
# runner's hook (TLSSHIM_RUNNER_AT_EXIT, given the jobs' pids) starts it,
# in a PID namespace of its own where the next pid can be chosen.
cat >"$T/decoy.sh" <<'EOF'
echo $(($1 - 1)) >/proc/sys/kernel/ns_last_pid
setsid sleep 300 </dev/null >/dev/null 2>&1 &
echo "$1 $!" >"$DECOY"
EOF
DECOY=$T/decoy TLSSHIM_AUDIT=0 TLSSHIM_RUNNER_AT_EXIT="sh $T/decoy.sh" TLSSHIM_TEST_CERTS_FROM="$TLSSHIM_TEST_CERTS" timeout $((120 * TS)) \
	unshare --pid --fork --mount-proc sh -c '
		sh "$1/tests/run.sh" --build "$2:tests/test_addr" >"$3/r.out" 2>&1
		read -r job decoy <"$DECOY"
		if [ "$job" = "$decoy" ] && kill -0 "$decoy" 2>/dev/null; then echo "alive $job"
		elif [ "$job" = "$decoy" ]; then echo "killed $job"
		else echo "no decoy: job $job, decoy $decoy"; fi
		kill "$decoy" 2>/dev/null' _ "$TLSSHIM_TOP" "$TLSSHIM_BUILD" "$T" >"$T/decoy.out" 2>&1
if grep -q '^alive ' "$T/decoy.out" && grep -q '^[1-9][0-9]* passed, 0 failed$' "$T/r.out"; then
	pass "the runner's exit leaves alone a process that took the pid of a job that ended ($(cat "$T/decoy.out"))"
else
	fail "the runner kills only its own jobs" "$(tr '\n' '|' <"$T/decoy.out") run: $(tail -n 3 "$T/r.out" | tr '\n' '|')"
fi

# The capture's buffer.  A tree of the runner's own files (links) with two
# tests that move 6 MB over loopback, one of them saying it is big; the
# runner is given a limit of 2 MB instead of 24 (TLSSHIM_CAPTURE_LIMIT_KB:
# 2 x 30 MB captured and audited took about 20 s of CPU).
mkdir -p "$T/top/tests/preload"
for _f in certs tests/run.sh tests/lib.sh tests/tools tests/preload/common.inc; do
	ln -s "$TLSSHIM_TOP/$_f" "$T/top/$_f"
done
cat >"$T/bigmove.py" <<'PYEOF'
import socket, threading
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
got = [0]
def sink():
    c, _ = srv.accept()
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        got[0] += len(b)
t = threading.Thread(target=sink)
t.start()
s = socket.create_connection(srv.getsockname())
chunk = b"x" * (1 << 20)
for _ in range(6):
    s.sendall(chunk)
s.close()
t.join(60)
print("PASS moved %d bytes" % got[0])
PYEOF
for _k in undeclared declared; do
	{
		echo '#!/bin/sh'
		[ $_k = declared ] && echo '# tlsshim-test: big-capture'
		echo '. "$TLSSHIM_TOP/tests/lib.sh"'
		echo "/usr/bin/python3 $T/bigmove.py"
	} >"$T/top/tests/preload/big_$_k.sh"
done
# (without the buffer size this job was given: that would be the user's)
timeout $((120 * TS)) env -u TLSSHIM_CAPTURE_BUFFER_KB TLSSHIM_CAPTURE_LIMIT_KB=2048 \
	TLSSHIM_TEST_CERTS_FROM="$TLSSHIM_TEST_CERTS" \
	sh "$T/top/tests/run.sh" --build "$TLSSHIM_BUILD:preload/big_" \
	>"$T/big.out" 2>&1
# (On a busy machine the undeclared test's small buffer may also drop
# packets: a second failure of that test, and a capture short of 6 MB;
# it fails the audit either way, which is the point.)
if grep -q '^\[[^]]*\] *tests/preload/big_undeclared.sh .* [12] failed' "$T/big.out" &&
   { grep -q 'FAIL wire audit: the capture took [6-9] MB, more than 2 MB: .*big-capture' "$T/big.out" ||
     grep -q 'FAIL wire audit: tcpdump dropped [0-9]* packets' "$T/big.out"; } &&
   grep -q '^\[[^]]*\] *tests/preload/big_declared.sh .* 0 failed' "$T/big.out" &&
   grep -q '^[34] passed, [12] failed$' "$T/big.out"; then
	pass "a capture over the limit (24 MB; 2 MB here) fails the audit unless the test says '# tlsshim-test: big-capture' (then it passes)"
else
	fail "big captures must be declared" "$(tr '\n' '|' <"$T/big.out" | cut -c1-1500)"
fi

# ---- "# tlsshim-test: long": twice the time limit -----------------------
# A script that waits on real time (certificates that must expire, a Go
# compiler) gets twice TLSSHIM_TEST_TIMEOUT; the limit it was given is in
# TLSSHIM_TEST_TIME_LIMIT, the value run.sh's timeout uses.
for _k in plain declared; do
	{
		echo '#!/bin/sh'
		[ $_k = declared ] && echo '# tlsshim-test: long'
		echo 'echo "PASS limit=$TLSSHIM_TEST_TIME_LIMIT"'
	} >"$T/top/tests/preload/long_$_k.sh"
done
timeout $((120 * TS)) env TLSSHIM_AUDIT=0 TLSSHIM_TEST_VERBOSE=1 TLSSHIM_TEST_TIMEOUT=37 \
	TLSSHIM_TEST_CERTS_FROM="$TLSSHIM_TEST_CERTS" \
	sh "$T/top/tests/run.sh" --build "$TLSSHIM_BUILD:preload/long_" >"$T/long.out" 2>&1
_lp=$(grep -c 'PASS limit=37$' "$T/long.out")
_ld=$(grep -c 'PASS limit=74$' "$T/long.out")
if [ "$_lp" = 1 ] && [ "$_ld" = 1 ] && grep -q '^2 passed, 0 failed$' "$T/long.out"; then
	pass "a script with '# tlsshim-test: long' gets twice the time limit (74 s for 37), another the limit"
else
	fail "long scripts get twice the limit" "plain $_lp, declared $_ld: $(tr '\n' '|' <"$T/long.out" | cut -c1-1500)"
fi
