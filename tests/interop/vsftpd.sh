#!/bin/sh
# tests/interop/vsftpd.sh — an FTP server with privilege separation and a
# chroot, made TLS by the shim: Debian's vsftpd, standalone (background=NO:
# a process per client, which forks again into a privileged process and
# an unprivileged session process chroot'ed into the anonymous root; the
# privileged one accepts each passive data connection and passes it to
# the session process with SCM_RIGHTS, where vsftpd sets SO_LINGER (600 s)
# on it, writes the file and closes).  Accept rules for the control port
# and the one passive data port; the client is tests/interop/py/
# ftps_client.py (Python's ftplib over TLS it starts itself on every
# connection: vsftpd's own TLS is off, and an FTPS client's PBSZ/PROT
# would be refused: libtlsshim(7), LIMITATIONS).
# seccomp_sandbox=NO: Debian 12's vsftpd 3.0.3 kills itself under its own
# filter (SIGSYS on glibc's newfstatat), with or without the library.
# Asserted: login, a listing and 3 downloads of a 300 KB file, exact;
# vsftpd logged the downloads; the shim accepted TLS on the control
# connection and on every data connection (4); a client that does not
# speak TLS gets no banner in clear; the wire audit.
# Found with it (helper-111): a download stalled now and then on
# a loaded machine (the client timed out; vsftpd had logged "226
# Transfer complete"): the pump's lingering close (tests/preload/pump.sh,
# linger_after_fork).  And (helper-167) the client timed out after "230
# Login successful" now and then: the session process, which vsftpd
# clones (syscall, no fork handlers) right after accept(), had inherited
# the linger thread's lock held, and waited for ever at the passive data
# connection (tests/preload/forklock.sh, clone_linger_*).
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim vsftpd_setup
VSFTPD=$(command -v vsftpd || echo /usr/sbin/vsftpd)
[ -x "$VSFTPD" ] || { fail vsftpd_setup "vsftpd not installed (vsftpd)"; exit 1; }
[ "$(id -u)" = 0 ] || { fail vsftpd_setup "run as root (vsftpd chroots and changes user)"; exit 1; }
FTPUSER=daemon      # the anonymous user: any user with a home that exists
id "$FTPUSER" >/dev/null 2>&1 || { fail vsftpd_setup "no user $FTPUSER"; exit 1; }

open_tmp
X=$T/ftp
mkdir -p "$X/root" "$X/empty"
chmod 755 "$X" "$X/root" "$X/empty"
head -c 300000 /dev/urandom >"$X/root/big"
echo small >"$X/root/small"
chmod 644 "$X/root/big" "$X/root/small"
P=$(free_port)
D=$(free_port)
while [ "$D" = "$P" ]; do D=$(free_port); done
cat >"$X/vsftpd.conf" <<EOC
listen=YES
listen_address=127.0.0.1
listen_port=$P
background=NO
anonymous_enable=YES
no_anon_password=YES
anon_root=$X/root
ftp_username=$FTPUSER
local_enable=NO
write_enable=NO
pasv_enable=YES
pasv_min_port=$D
pasv_max_port=$D
secure_chroot_dir=$X/empty
seccomp_sandbox=NO
ssl_enable=NO
xferlog_enable=YES
dual_log_enable=YES
vsftpd_log_file=$X/vsftpd.log
xferlog_file=$X/xfer.log
EOC
# The ASan build: vsftpd limits its processes' address space (RLIMIT_AS),
# which the sanitizer's shadow memory does not fit in: with libasan alone
# preloaded (no shim) the session process fails ("ERROR: Failed to
# mmap", written to the client) at the first listing.  Proven here with
# a plain FTP client and libasan alone; then this script runs vsftpd with
# the default build of the library instead, and says so.
case "$SHIM_PRELOAD" in
*libasan*)
	_rt=""
	for _l in $SHIM_PRELOAD; do case "$_l" in *libasan*) _rt=$_l ;; esac; done
	A=$(free_port)
	while [ "$A" = "$P" ] || [ "$A" = "$D" ]; do A=$(free_port); done
	sed "s/^listen_port=.*/listen_port=$A/; s/^pasv_min_port=.*/pasv_min_port=$P/; s/^pasv_max_port=.*/pasv_max_port=$P/" \
		"$X/vsftpd.conf" >"$X/asan.conf"
	bg env LD_PRELOAD="$_rt" "$VSFTPD" "$X/asan.conf" >"$T/asan.out" 2>&1
	_ap=$!
	if wait_listen "$A" 15 "$_ap" &&
	   ! timeout $((20 * TS)) "$PY" -c 'import ftplib, sys
f = ftplib.FTP(timeout=10); f.connect("127.0.0.1", int(sys.argv[1])); f.login(); f.nlst()' "$A" >"$T/asan.probe" 2>&1 &&
	   default_lib >/dev/null; then
		use_default_lib "vsftpd fails with libasan alone (no shim): $(tail -n 1 "$T/asan.probe" | head -c 100)"
	fi
	stop "$_ap" ;;
esac
policy "$T/vsftpd.policy" <<EOC
rules = (
  { name = "ftp-ctl"; direction = "accept"; port = $P; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
  { name = "ftp-data"; direction = "accept"; port = $D; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; }
);
EOC
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/shim.log" shimbg "$VSFTPD" "$X/vsftpd.conf" >"$T/vsftpd.out" 2>&1
FTPD=$!
listen_or_exit vsftpd_setup "vsftpd" "$FTPD" "$P" "$T/vsftpd.out" "$T/shim.log"

name=vsftpd_login_list_retr_3x
timeout -k 2 $((60 * TS)) "$PY" "$PYD/ftps_client.py" "$P" "$CERTS/ca.crt" big 3 "$T/got" >"$T/client.out" 2>&1
rc=$?
ok=0
for i in 1 2 3; do cmp -s "$X/root/big" "$T/got.$i" && ok=$((ok + 1)); done
if [ $rc -eq 0 ] && grep -q '^welcome 220' "$T/client.out" && grep -q '^login 230' "$T/client.out" &&
   grep -q '^list big small$' "$T/client.out" && [ $ok -eq 3 ] && grep -q '^quit 221' "$T/client.out"; then
	pass "$name (listing, 3 downloads of 300000 bytes exact)"
else
	fail "$name" "exit $rc, $ok of 3 downloads exact: $(tr '\n' '|' <"$T/client.out")$(show "$X/vsftpd.log" "$T/shim.log")"
fi

name=vsftpd_logged_downloads
n=$(count "$X/vsftpd.log" 'OK DOWNLOAD: Client "127\.0\.0\.1", "/big", 300000 bytes')
if [ "$n" -eq 3 ]; then
	pass "$name"
else
	fail "$name" "$n of 3 'OK DOWNLOAD' lines$(show "$X/vsftpd.log")"
fi

name=vsftpd_every_connection_tls
nc=$(logged_tls "$T/shim.log" ftp-ctl accepted)
nd=$(logged_tls "$T/shim.log" ftp-data accepted)
if [ "$nc" -eq 1 ] && [ "$nd" -eq 4 ] && ! grep -q -E ': (error|warn): ' "$T/shim.log"; then
	pass "$name (control 1, data 4: the listing and 3 files)"
else
	fail "$name" "control $nc of 1, data $nd of 4$(show "$T/shim.log")"
fi

name=vsftpd_no_banner_in_clear
# vsftpd writes its 220 greeting at once: neither a silent client nor a
# plain FTP client (USER first) may get anything in clear.
plain_clients "$P" "$T/raw" "USER anonymous"
if tls_probe "$P" "$T/probe" && [ ! -s "$T/raw.silent" ] && alerts_only "$T/raw.plain"; then
	pass "$name (silent client: nothing; plain client: $(wc -c <"$T/raw.plain") bytes, TLS alerts only)"
else
	fail "$name" "silent client got '$(head -c 60 "$T/raw.silent")'; plain client got '$(od -A n -t x1 "$T/raw.plain" | head -c 120)'$(show "$T/probe")"
fi

kill_tree "$FTPD"
