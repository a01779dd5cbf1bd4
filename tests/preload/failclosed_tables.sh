#!/bin/sh
# Fail closed on a descriptor table apart from the process's, and on Linux
# native aio (tests/progs/fc_tables.c).  The shim keeps one table of what
# each fd is per process: unshare(CLONE_FILES) (named or through
# syscall()), close_range(CLOSE_RANGE_UNSHARE) and clone(CLONE_FILES)
# without CLONE_VM would let a thread or child reuse a TLS fd's number for
# a plain file while another writes on it.  While the policy has TLS rules
# they fail with EINVAL, and io_setup (native aio, which moves bytes in the
# kernel past every wrapper) with ENOSYS; unshare(CLONE_FS) still works.
# Without TLS rules (deny only) every call works as without the shim.
# And a listening socket an accept rule makes TLS is not passed to a
# program that will not run the shim: withheld (close-on-exec) from an
# exec with a clean environment, a posix_spawn dup2-ing it refused
# (EACCES), also with a memcpy() of the file actions (actions the library
# did not count); an exec that keeps the shim inherits it.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim
[ -x "$PROGS/fc_tables" ] || { fail setup "$PROGS/fc_tables missing (make test-build)"; exit 1; }

policy "$T/tls.conf" <<EOC
rules = ( { name = "out"; direction = "connect"; port = 9; ca = "$CERTS/ca.crt"; } );
EOC
policy "$T/deny.conf" <<EOC
rules = ( { name = "no"; direction = "connect"; port = 9; action = "deny"; } );
EOC

# tables NAME POLICY WANT...: fc_tables under the shim prints exactly
# the lines WANT (one per call, in order).
tables() {
	_n=$1 _p=$2; shift 2
	TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/$_n.log" timeout -k 2 30 env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$_p" "$PROGS/fc_tables" >"$T/$_n.out" 2>"$T/$_n.err"
	rc=$?
	printf '%s\n' "$@" >"$T/$_n.want"
	if [ "$rc" -eq 0 ] && cmp -s "$T/$_n.out" "$T/$_n.want"; then
		pass "$_n"
	else
		fail "$_n" "exit $rc; got: $(tr '\n' '|' <"$T/$_n.out"); want: $(tr '\n' '|' <"$T/$_n.want") $(show "$T/$_n.err" "$T/$_n.log")"
	fi
}

tables tables_refused_with_tls_rules "$T/tls.conf" \
	"unshare-files: EINVAL" "syscall-unshare-files: EINVAL" "close_range-unshare: EINVAL" \
	"clone-files: EINVAL" "io_setup: ENOSYS" "unshare-fs: ok"
name=tables_refusals_logged
if [ "$(lines "$T/tables_refused_with_tls_rules.log" 'refused with EINVAL while the policy has TLS rules')" -eq 4 ] &&
   [ "$(lines "$T/tables_refused_with_tls_rules.log" 'io_setup: refused with ENOSYS')" -eq 1 ]; then
	pass "$name"
else
	fail "$name" "expected 4 EINVAL and 1 io_setup lines$(show "$T/tables_refused_with_tls_rules.log")"
fi
P=$(free_port)
policy "$T/listen.conf" <<EOC
rules = ( { name = "in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
name=tables_tls_listener_withheld_from_a_program_without_the_shim
TLSSHIM_LOG_FILE="$T/$name.log" timeout -k 2 30 env LD_PRELOAD="$SHIM_PRELOAD" \
	TLSSHIM_CONFIG="$T/listen.conf" "$PROGS/fc_tables" listener "$P" >"$T/$name.out" 2>"$T/$name.err"
rc=$?
printf '%s\n' "spawn-dup2: EACCES" "spawn-copied-actions: EACCES" "clean: withheld" "kept: inherited" >"$T/$name.want"
if [ "$rc" -eq 0 ] && cmp -s "$T/$name.out" "$T/$name.want" &&
   [ "$(lines "$T/$name.log" 'posix_spawn refused: it would give fd 3, a listening socket')" -eq 1 ] &&
   [ "$(lines "$T/$name.log" 'listening socket fd 3 not passed on')" -eq 1 ]; then
	pass "$name"
else
	fail "$name" "exit $rc; got: $(tr '\n' '|' <"$T/$name.out") $(show "$T/$name.err" "$T/$name.log")"
fi
tables tables_allowed_without_tls_rules "$T/deny.conf" \
	"unshare-files: ok" "syscall-unshare-files: ok" "close_range-unshare: ok" \
	"clone-files: ok" "io_setup: ok" "unshare-fs: ok"
