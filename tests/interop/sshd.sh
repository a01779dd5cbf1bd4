#!/bin/sh
# tests/interop/sshd.sh — OpenSSH over TLS made by the shim on both ends:
# Debian's sshd (private host key and config in $T, UsePAM no, public key
# authentication of root with an AuthorizedKeysFile in $T; it forks and
# re-execs itself for every connection, the connection on the new image's
# fds) under an accept rule, and the ssh client (which calls closefrom(3)
# at start-up) under a connect rule.
# Asserted: `ssh ... 'echo hello; sha256sum FILE'` prints exactly the
# expected lines; 5 MB sent through ssh's stdin and 5 MB read back have the
# right SHA-256; sshd's log names the client's real address
# ("Connection from 127.0.0.1 port N", N the client's TCP port, not 0 or
# a UNIX socket); the shim logged TLS on both ends; openssl s_client gets
# a verified handshake on sshd's port (no SSH banner in clear).
# tlsshim-test: big-capture (tests/run.sh: its capture needs the large buffer)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim sshd_setup
SSHD=/usr/sbin/sshd
[ -x "$SSHD" ] || { fail sshd_setup "sshd not installed (openssh-server)"; exit 1; }
command -v ssh >/dev/null && command -v ssh-keygen >/dev/null || { fail sshd_setup "ssh not installed (openssh-client)"; exit 1; }
[ "$(id -u)" = 0 ] || { fail sshd_setup "sshd needs root here (it logs in as root)"; exit 1; }
mkdir -p /run/sshd && chmod 755 /run/sshd    # its privilege separation directory

ssh-keygen -q -t ed25519 -N '' -f "$T/hostkey" || { fail sshd_setup "ssh-keygen failed"; exit 1; }
ssh-keygen -q -t ed25519 -N '' -f "$T/id" || { fail sshd_setup "ssh-keygen failed"; exit 1; }
cp "$T/id.pub" "$T/authorized_keys"
head -c 5242880 /dev/urandom >"$T/file5m"
SUM=$(sha "$T/file5m")

P=$(free_port)
policy "$T/policy.conf" <<EOF
rules = (
  { name = "ssh-in"; direction = "accept"; port = $P;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
  { name = "ssh-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; }
);
EOF
cat >"$T/sshd_config" <<EOF
Port $P
ListenAddress 127.0.0.1
HostKey $T/hostkey
PidFile $T/sshd.pid
UsePAM no
AuthorizedKeysFile $T/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
LogLevel VERBOSE
EOF
"$SSHD" -t -f "$T/sshd_config" >"$T/sshd_t.out" 2>&1 || { fail sshd_setup "sshd -t: $(head -c 300 "$T/sshd_t.out")"; exit 1; }
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/srv.log" shimbg "$SSHD" -D -f "$T/sshd_config" -E "$T/sshd.log" >"$T/sshd.out" 2>&1
SRV=$!
listen_or_exit sshd_setup "sshd" "$SRV" "$P" "$T/sshd.out" "$T/sshd.log" "$T/srv.log"
export TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/cli.log"
sssh() {
	shimmed ssh -F /dev/null -p "$P" -i "$T/id" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o BatchMode=yes -o ConnectTimeout=20 -o LogLevel=ERROR root@127.0.0.1 "$@"
}

name=sshd_command_output_exact
out=$(sssh "echo hello; sha256sum $T/file5m" 2>"$T/ssh1.err" </dev/null); rc=$?
if [ "$rc" -eq 0 ] && [ "$out" = "hello
$SUM  $T/file5m" ]; then
	pass "$name"
else
	fail "$name" "ssh exit $rc, output '$(echo "$out" | tr '\n' '|' | cut -c1-200)'$(show "$T/ssh1.err" "$T/cli.log" "$T/sshd.log" "$T/srv.log")"
fi

name=sshd_5MB_each_way_sha256
got=$(sssh "sha256sum" <"$T/file5m" 2>"$T/ssh2.err" | cut -d' ' -f1); rc1=$?
sssh "cat $T/file5m" </dev/null >"$T/back5m" 2>"$T/ssh3.err"; rc2=$?
if [ "$got" = "$SUM" ] && [ "$rc2" -eq 0 ] && [ "$(sha "$T/back5m")" = "$SUM" ]; then
	pass "$name"
else
	fail "$name" "upload sha256 '${got}', download exit $rc2 $(wc -c <"$T/back5m") bytes$(show "$T/ssh2.err" "$T/ssh3.err" "$T/cli.log" "$T/sshd.log")"
fi

# The clients' TCP ports, as the shim saw them accepted, must be the ports
# sshd logged.
name=sshd_logs_the_clients_real_address
conns=$(sed -n 's/.*Connection from \([^ ]*\) port \([0-9]*\) on .*/\1:\2/p' "$T/sshd.log" 2>/dev/null)
ports=$(sed -n 's/.* 127\.0\.0\.1:\([0-9]*\) rule "ssh-in": \(accepted\|inherited\).*/\1/p' "$T/srv.log" 2>/dev/null | sort -u)
bad=""
n=0
for c in $conns; do
	n=$((n + 1))
	case "$c" in
	127.0.0.1:0|*UNKNOWN*|*unix*) bad="$bad $c" ;;
	127.0.0.1:*) echo "$ports" | grep -q -x "${c#127.0.0.1:}" || bad="$bad $c(not-a-shim-session)" ;;
	*) bad="$bad $c" ;;
	esac
done
if [ "$n" -ge 3 ] && [ -z "$bad" ]; then
	pass "$name"
else
	fail "$name" "$n connections logged, wrong:${bad:- none}; shim sessions on ports $(echo $ports)$(show "$T/sshd.log")"
fi

name=sshd_both_ends_logged_tls
na=$(logged_tls "$T/srv.log" ssh-in accepted)
nc=$(count "$T/cli.log" 'rule "ssh-out": connected TLSv1\.[23] .*verified')
if [ "$na" -ge 3 ] && [ "$nc" -ge 3 ]; then
	pass "$name"
else
	fail "$name" "$na accepted, $nc connected (3 ssh runs)$(show "$T/srv.log" "$T/cli.log")"
fi
unset TLSSHIM_LOG TLSSHIM_LOG_FILE

name=sshd_port_speaks_tls_no_banner_in_clear
# sshd writes its banner at once, before reading: neither a silent client
# nor a plain SSH client (its identification line first) may get it in
# clear (daemons.inc, plain_clients).
plain_clients "$P" "$T/raw" "SSH-2.0-OpenSSH_9.2p1 plain"
if tls_probe "$P" "$T/probe" && has_no "$T/raw.silent" "SSH-2.0" && has_no "$T/raw.plain" "SSH-2.0" &&
   alerts_only "$T/raw.plain"; then
	pass "$name (silent client: $(wc -c <"$T/raw.silent") bytes; plain SSH client: $(wc -c <"$T/raw.plain") bytes, TLS alerts only)"
else
	fail "$name" "s_client: $(grep -c 'Verification: OK' "$T/probe") ok; silent client got '$(head -c 60 "$T/raw.silent")'; plain client got '$(od -A n -t x1 "$T/raw.plain" | head -c 120)' (want nothing or TLS alerts)$(show "$T/probe")"
fi

kill_tree "$SRV"
