#!/bin/sh
# tests/preload/startup.sh — what a shimmed process's start costs it, and
# that what was taken off keeps every start-up error.
#
# tests/progs/startprobe tells, from main(), whether OpenSSL's error
# strings were loaded before it ran and how many dladdr/dladdr1 calls
# preload_dladdr.so (loaded after the library) counted.
# - A policy without a TLS rule (plain and deny rules, an identity list
#   in defaults that such rules drop) never calls OpenSSL: no error state,
#   no error strings (0.95 M instructions and some 40 page faults a
#   start); the program's own OPENSSL_init_crypto still loads them.  With
#   a TLS rule they are loaded, as before (the probe sees a load).
# - The library finds the object holding an address with
#   _dl_find_object, not dladdr/dladdr1 (a scan of the object's whole
#   symbol table, 93 K instructions for libcrypto's, four at every start).
# - The library context is made at the first TLS rule: a policy error in
#   a TLS-less policy, or in a TLS rule after plain ones, is still exit 78
#   with the policy's line.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim startup_setup
for p in startprobe preload_dladdr.so echo_server; do
	[ -e "$PROGS/$p" ] || { fail startup_setup "$PROGS/$p missing (make test-build)"; exit 1; }
done

P=$(free_port)

# probe NAME: startprobe under the shim and the counter, with $POLICY.
probe() {
	SHIM_PRELOAD="$SHIM_PRELOAD $PROGS/preload_dladdr.so" TLSSHIM_LOG_FILE="$T/$1.log" \
		shimmed "$PROGS/startprobe" >"$T/$1.out" 2>"$T/$1.err"
}

policy "$T/plain.conf" <<EOC
defaults = { allow_cn = [ "client" ]; };
rules = ( { name = "out-plain"; direction = "connect"; port = $P; action = "plain"; },
          { name = "in-deny"; direction = "accept"; port = $P; action = "deny"; } );
EOC
probe plain
rc=$?
if [ "$rc" -ne 0 ]; then
	fail startup_no_tls_rule_runs "exit $rc$(show "$T/plain.out" "$T/plain.err" "$T/plain.log")"
elif ! grep -q '^strings not loaded$' "$T/plain.out" || ! grep -q '^queue empty$' "$T/plain.out"; then
	fail startup_no_tls_rule_leaves_openssl_alone \
		"the library set up OpenSSL's error state$(show "$T/plain.out")"
else
	pass startup_no_tls_rule_leaves_openssl_alone
fi
if grep -q '^own strings loaded$' "$T/plain.out"; then
	pass startup_program_loads_its_own_error_strings
else
	fail startup_program_loads_its_own_error_strings "$(show "$T/plain.out")"
fi
if grep -q '^dladdr 0$' "$T/plain.out"; then
	pass startup_no_dladdr
else
	fail startup_no_dladdr "the library called dladdr at start$(show "$T/plain.out")"
fi

# A TLS rule after a plain one: the library context is made there, and
# the probe does see a load.
policy "$T/tls.conf" <<EOC
rules = ( { name = "out-plain"; direction = "connect"; port = $P; action = "plain"; },
          { name = "in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
probe tls
rc=$?
if [ "$rc" -eq 0 ] && grep -q '^strings loaded$' "$T/tls.out" && grep -q '^queue empty$' "$T/tls.out" &&
	grep -q '^dladdr 0$' "$T/tls.out"; then
	pass startup_tls_rule_after_plain_rule
else
	fail startup_tls_rule_after_plain_rule "exit $rc$(show "$T/tls.out" "$T/tls.err" "$T/tls.log")"
fi

# bad NAME LINE WORDS: echo_server under the shim with the policy on
# standard input: exit 78, "tlsshim: FILE:LINE: ...WORDS...", main() never ran.
bad() {
	name=$1 want=$2 words=$3
	policy "$T/$name.conf"
	unset TLSSHIM_LOG_FILE
	shimmed "$PROGS/echo_server" -1 "$P" >"$T/$name.out" 2>"$T/$name.err"
	rc=$?
	if [ "$rc" -ne 78 ]; then
		fail "$name" "expected exit status 78, got $rc$(show "$T/$name.out" "$T/$name.err")"
	elif grep -q listening "$T/$name.out"; then
		fail "$name" "the program ran despite the bad policy"
	elif ! grep -q -e "^tlsshim: $T/$name.conf:$want: .*$words" "$T/$name.err"; then
		fail "$name" "no line 'tlsshim: $T/$name.conf:$want: ...$words'$(show "$T/$name.err")"
	else
		pass "$name"
	fi
}

bad startup_plain_rule_error_exit_78 3 'port' <<EOC
rules = (
  { name = "out-plain"; direction = "connect"; action = "plain";
    port = 70000; }
);
EOC
bad startup_identity_on_plain_rule_exit_78 3 'applies only to rules with action "tls"' <<EOC
rules = (
  { name = "out-plain"; direction = "connect"; port = $P; action = "plain";
    allow_cn = [ "x" ]; }
);
EOC
bad startup_key_mismatch_after_plain_rule_exit_78 4 'key does not match certificate' <<EOC
rules = (
  { name = "out-plain"; direction = "connect"; port = $P; action = "plain"; },
  { name = "in"; direction = "accept"; port = $P; cert = "$CERTS/server.crt";
    key = "$CERTS/client.key"; }
);
EOC
