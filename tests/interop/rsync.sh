#!/bin/sh
# tests/interop/rsync.sh — rsync's daemon and client, both under the shim:
# Debian's rsync --daemon (a process per client, which chroots into the
# module and changes to nobody, then forks again for an upload: the
# receiver and the generator share the connection) under an accept rule,
# and the rsync client (which forks the same way for a download) under a
# connect rule with the CA, over rsync:// URLs.
# Asserted: a 2 MB file and a small one downloaded exact, a file uploaded
# exact; the daemon logged both transfers; the shim accepted and connected
# TLS twice each (verified server), and the sessions that two processes
# share were handed to a pump; no error or warning; a client that does not
# speak TLS gets no "@RSYNCD:" greeting in clear; the wire audit.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim rsync_setup
command -v rsync >/dev/null || { fail rsync_setup "rsync not installed (rsync)"; exit 1; }
[ "$(id -u)" = 0 ] || { fail rsync_setup "run as root (the daemon chroots and changes user)"; exit 1; }
NOGROUP=$(id -gn nobody 2>/dev/null || echo nogroup)

open_tmp
X=$T/rs
mkdir -p "$X/mod" "$X/dst"
head -c 2000000 /dev/urandom >"$X/mod/big"
echo "small file $$" >"$X/mod/small"
echo "uploaded $$" >"$X/up"
chmod 755 "$X"
chmod 777 "$X/mod"
chmod 644 "$X/mod/big" "$X/mod/small"
P=$(free_port)
cat >"$X/rsyncd.conf" <<EOC
use chroot = yes
uid = nobody
gid = $NOGROUP
log file = $X/rsyncd.log
[mod]
path = $X/mod
read only = no
EOC
policy "$T/rs.policy" <<EOC
rules = (
  { name = "rsync-in"; direction = "accept"; port = $P; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
  { name = "rsync-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; server_name = "localhost"; }
);
EOC
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/daemon.log" shimbg rsync --daemon --no-detach --address 127.0.0.1 \
	--port "$P" --config "$X/rsyncd.conf" >"$T/daemon.out" 2>&1
RSD=$!
listen_or_exit rsync_setup "rsync --daemon" "$RSD" "$P" "$T/daemon.out" "$X/rsyncd.log" "$T/daemon.log"

name=rsync_download
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/client.log" shimmed rsync -a "rsync://127.0.0.1:$P/mod/" "$X/dst/" \
	>"$T/get.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && cmp -s "$X/mod/big" "$X/dst/big" && cmp -s "$X/mod/small" "$X/dst/small"; then
	pass "$name (2 MB and a small file, exact)"
else
	fail "$name" "exit $rc$(show "$T/get.out" "$T/client.log" "$X/rsyncd.log" "$T/daemon.log")"
fi

name=rsync_upload
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/client.log" shimmed rsync -a "$X/up" "rsync://127.0.0.1:$P/mod/" \
	>"$T/put.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && cmp -s "$X/up" "$X/mod/up"; then
	pass "$name"
else
	fail "$name" "exit $rc$(show "$T/put.out" "$T/client.log" "$X/rsyncd.log" "$T/daemon.log")"
fi

name=rsync_logged_tls
na=$(logged_tls "$T/daemon.log" rsync-in accepted)
nc=$(count "$T/client.log" 'rule "rsync-out": connected TLSv1\.3 .*verified')
np=$(count "$T/daemon.log" 'rule "rsync-in": session handed to a pump process')
if [ "$na" -eq 2 ] && [ "$nc" -eq 2 ] && [ "$np" -ge 1 ] &&
   [ "$(count "$X/rsyncd.log" 'rsync on mod/ from')" -eq 1 ] && [ "$(count "$X/rsyncd.log" 'rsync to mod/ from')" -eq 1 ] &&
   ! grep -q -E ': (error|warn): ' "$T/daemon.log" "$T/client.log"; then
	pass "$name (accepted 2, connected 2 verified, daemon pumps $np; the daemon logged both transfers)"
else
	fail "$name" "accepted $na of 2, connected $nc of 2, pumps $np$(show "$T/daemon.log" "$T/client.log" "$X/rsyncd.log")"
fi

name=rsync_no_greeting_in_clear
plain_clients "$P" "$T/raw" "@RSYNCD: 31.0"
if [ ! -s "$T/raw.silent" ] && alerts_only "$T/raw.plain" && alive "$RSD"; then
	pass "$name (silent client: nothing; plain client: $(wc -c <"$T/raw.plain") bytes, TLS alerts only)"
else
	fail "$name" "silent client got '$(head -c 60 "$T/raw.silent")'; plain client got '$(od -A n -t x1 "$T/raw.plain" | head -c 120)'"
fi

kill_tree "$RSD"
