#!/bin/sh
# tests/preload/errq.sh — a program that uses OpenSSL's error queue itself
# (tests/progs/errq_client: two threads, each with a TLS connection the
# shim made, and errors of its own queued before the handshake, before
# round trips and between two of them, while a third thread pushes and
# clears errors all the time) finds its errors as it left them; and on a
# kept-open connection the library does not ask OpenSSL about an empty
# queue: it counts the pushes instead (core/errq.c).
#
# preload_errpeek.so, loaded after the library, counts the calls to
# ERR_peek_error/ERR_peek_last_error per thread.  With the thread's queue
# empty, N round trips must cost fewer than N/10 of them (before: 4 per
# round trip); with an error of the program's queued, the library looks on
# every call (its entry and its exit: at least 2 per round trip).
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim errq_setup
for p in errq_client thread_server preload_errpeek.so; do
	[ -e "$PROGS/$p" ] || { fail errq_setup "$PROGS/$p missing (make test-build)"; exit 1; }
done

N=200
P=$(free_port)
policy "$T/p.conf" <<EOC
rules = ( { name = "errq-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
          { name = "errq-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
TLSSHIM_LOG_FILE="$T/srv.log" shimbg "$PROGS/thread_server" "$P" 4 >"$T/srv.out" 2>"$T/srv.err"
srv=$!
if ! wait_for "$T/srv.out" '^listening' 10; then
	fail errq_setup "thread_server never listened$(show "$T/srv.err")"
	exit 1
fi
SHIM_PRELOAD="$SHIM_PRELOAD $PROGS/preload_errpeek.so" TLSSHIM_LOG=debug TLSSHIM_LOG_FILE="$T/cli.log" \
	shimmed "$PROGS/errq_client" "$P" "$N" >"$T/cli.out" 2>"$T/cli.err"
rc=$?
# A push through libcrypto's ERR_new taken with dlsym on its own handle:
# that is the library's ERR_new (shim/dlsym.c), so the push is counted and
# the program's error stays across round trips and a second handshake
# (before, it went uncounted and was lost).
TLSSHIM_LOG_FILE="$T/unc.log" shimmed "$PROGS/errq_client" "$P" 20 uncounted >"$T/unc.out" 2>"$T/unc.err"
urc=$?
wait_exit "$srv" 20 || fail errq_server "thread_server did not end after 4 connections$(show "$T/srv.err")"
if [ "$urc" -eq 0 ] && grep -q '^errq ok' "$T/unc.out" && grep -q '^uncounted error kept' "$T/unc.out"; then
	pass "errq_push_through_libcrypto_handle_counted_error_kept"
else
	fail errq_push_through_libcrypto_handle_counted_error_kept "exit $urc$(show "$T/unc.out" "$T/unc.err" "$T/unc.log")"
fi

if [ "$rc" -eq 0 ] && grep -q '^errq ok' "$T/cli.out"; then
	pass "errq_program_errors_kept_across_handshake_and_round_trips (2 threads, and a third pushing)"
else
	fail errq_program_errors_kept_across_handshake_and_round_trips \
		"exit $rc$(show "$T/cli.out" "$T/cli.err" "$T/cli.log")"
fi
[ "$(lines "$T/cli.log" 'rule "errq-out": connected .*TLSv1')" -eq 2 ] ||
	fail errq_tls "the client's 2 connections were not both TLS$(show "$T/cli.log")"

if grep -q "OpenSSL error queue: pushes counted" "$T/cli.log"; then
	pass errq_pushes_counted_on_this_openssl
else
	fail errq_pushes_counted_on_this_openssl "the library does not count pushes$(show "$T/cli.log")"
fi

for t in 1 2; do
	line=$(grep "^peeks $t " "$T/cli.out")
	empty=$(echo "$line" | sed -n 's/.* empty=\([0-9]*\).*/\1/p')
	queued=$(echo "$line" | sed -n 's/.* queued=\([0-9]*\).*/\1/p')
	if [ -z "$empty" ] || [ -z "$queued" ]; then
		fail "errq_peeks_thread$t" "no count$(show "$T/cli.out")"
	elif [ "$empty" -ge $((N / 10)) ]; then
		fail "errq_no_peek_at_an_empty_queue_thread$t" "$empty looks at the queue in $N round trips"
	elif [ "$queued" -lt $((2 * N)) ]; then
		fail "errq_program_error_seen_thread$t" "only $queued looks in $N round trips with the program's error queued"
	else
		pass "errq_no_peek_at_an_empty_queue_thread$t ($empty in $N round trips; $queued with an error queued)"
	fi
done
