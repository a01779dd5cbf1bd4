#!/bin/sh
# tests/interop/dovecot.sh — an IMAP and POP3 server whose login
# processes hand each client's descriptor to a mail process with
# SCM_RIGHTS after they have read from it: Debian's dovecot (a master
# that forks and execs every service; imap-login and pop3-login, a new
# process per client, chroot'ed, as dovenull, with RLIMIT_NPROC set to 1:
# "make sure we can't fork()"; an auth process; the imap and pop3
# processes, as the mail user) under the shim with accept rules on its
# IMAP and POP3 ports (dovecot's own TLS is off there), and a third
# port where dovecot does TLS itself (no rule: the library passes it
# through).
# A session the login process has used (the greeting, the LOGIN) cannot
# go to the mail process: that would be a second process encrypting with
# it; the library would hand it to a pump, which a process that may not
# fork cannot start, so the library refuses the sendmsg (EOPNOTSUPP,
# libtlsshim(7) "cannot create a process ... (RLIMIT_NPROC is 1)") and
# dovecot ends the connection ("Internal login failure").  Fail closed:
# that is the known limit this test pins, on a real daemon.
# Asserted: on the shim's ports the greeting comes over TLS (verified),
# nothing in clear; the login of an IMAP and a POP3 client (Python's
# imaplib, poplib over TLS) fails, no message reaches them, dovecot and
# the shim log why; the same login and fetch on dovecot's own TLS port
# work (the user and the mailbox are right, and the library passes a
# port without a rule through inside dovecot); after 5 such clients the
# master lives, no login process is left, and the next client is served;
# fetchmail under the shim (a connect rule) fetches the message from
# dovecot's own TLS port; the wire audit.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim dovecot_setup
DOVECOT=$(command -v dovecot || echo /usr/sbin/dovecot)
[ -x "$DOVECOT" ] || { fail dovecot_setup "dovecot not installed (dovecot-imapd, dovecot-pop3d)"; exit 1; }
[ -x /usr/lib/dovecot/imap ] && [ -x /usr/lib/dovecot/pop3 ] ||
	{ fail dovecot_setup "dovecot's imap or pop3 missing (dovecot-imapd, dovecot-pop3d)"; exit 1; }
[ "$(id -u)" = 0 ] || { fail dovecot_setup "run as root (dovecot changes users and chroots)"; exit 1; }
for u in dovenull dovecot nobody; do
	id "$u" >/dev/null 2>&1 || { fail dovecot_setup "no user $u (dovecot-core)"; exit 1; }
done

open_tmp
X=$T/dv
mkdir -p "$X/run" "$X/state" "$X/home/alice/Maildir/cur" "$X/home/alice/Maildir/tmp" \
	"$X/home/alice/Maildir/new" "$X/certs"
printf 'From: bob@example.org\r\nTo: alice@example.org\r\nSubject: over TLS %s\r\n\r\nthe body of the message %s\r\n' \
	"$$" "$$" >"$X/home/alice/Maildir/new/1000.M1P1.test"
chown -R nobody:nogroup "$X/home/alice"
chmod 755 "$X" "$X/home"
echo 'alice:{PLAIN}wonderland' >"$X/passwd"
chmod 644 "$X/passwd"
cp "$CERTS/server.crt" "$CERTS/server.key" "$X/certs/"
san_logs_to "$X"
P=$(free_port)        # IMAP, the shim's TLS
Q=$(free_port)        # POP3, the shim's TLS
S=$(free_port)        # IMAP, dovecot's own TLS (no rule)
while [ "$Q" = "$P" ]; do Q=$(free_port); done
while [ "$S" = "$P" ] || [ "$S" = "$Q" ]; do S=$(free_port); done
# default_vsz_limit = 0: no RLIMIT_AS (the ASan build's shadow memory
# would not fit in dovecot's default 256 MB).  import_environment: the
# master clears every service's environment but what it names.
cat >"$X/dovecot.conf" <<EOC
protocols = imap pop3
listen = 127.0.0.1
base_dir = $X/run
state_dir = $X/state
log_path = $X/dovecot.log
info_log_path = $X/dovecot.log
ssl = yes
ssl_cert = <$X/certs/server.crt
ssl_key = <$X/certs/server.key
disable_plaintext_auth = no
auth_mechanisms = plain
default_vsz_limit = 0
import_environment = TZ LD_PRELOAD TLSSHIM_CONFIG TLSSHIM_LOG TLSSHIM_LOG_FILE ASAN_OPTIONS UBSAN_OPTIONS
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $X/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$X/home/%u
}
mail_location = maildir:~/Maildir
service imap-login {
  inet_listener imap {
    port = $P
  }
  inet_listener imaps {
    port = $S
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    port = $Q
  }
  inet_listener pop3s {
    port = 0
  }
}
EOC
policy "$X/dovecot.policy" <<EOC
rules = (
  { name = "imap"; direction = "accept"; port = $P; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
  { name = "pop3"; direction = "accept"; port = $Q; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; }
);
EOC
: >"$X/shim.log"
chmod 666 "$X/shim.log"
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$X/shim.log" shimbg "$DOVECOT" -F -c "$X/dovecot.conf" >"$T/dovecot.out" 2>&1
DV=$!
listen_or_exit dovecot_setup dovecot "$DV" "$P $Q $S" "$T/dovecot.out" "$X/dovecot.log" "$X/shim.log"

mail() { timeout -k 2 $((40 * TS)) "$PY" "$PYD/mail_client.py" "$@" alice wonderland; }
# (dovecot moves the message from new/ to cur/ once it is seen)
body_sha=$(sha "$X/home/alice/Maildir/new/1000.M1P1.test")
body_len=$(wc -c <"$X/home/alice/Maildir/new/1000.M1P1.test")

name=dovecot_own_tls_login_fetch
mail imap "$S" "$CERTS/ca.crt" >"$T/own.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q '^greeting \* OK .*Dovecot' "$T/own.out" && grep -q '^login ok$' "$T/own.out" &&
   grep -q "^fetched $body_len $body_sha$" "$T/own.out"; then
	pass "$name (dovecot's TLS, the library passing the port through: the message fetched exact)"
else
	fail "$name" "exit $rc: $(tr '\n' '|' <"$T/own.out")$(show "$X/dovecot.log" "$X/shim.log")"
fi

name=dovecot_login_after_use_fails_closed
# 3 IMAP and 2 POP3 clients on the shim's ports.
bad=""
for c in imap.1 imap.2 imap.3 pop3.1 pop3.2; do
	case $c in imap*) port=$P ;; *) port=$Q ;; esac
	mail "${c%.*}" "$port" "$CERTS/ca.crt" >"$T/$c.out" 2>&1
	rc=$?
	case $c in imap*) greet='^greeting \* OK .*Dovecot' ;; *) greet='^greeting [+]OK Dovecot' ;; esac
	if [ $rc -ne 1 ] || ! grep -q "$greet" "$T/$c.out" || ! grep -q '^login failed: ' "$T/$c.out" ||
	   grep -q '^fetched' "$T/$c.out"; then
		bad="$bad [$c: exit $rc: $(tr '\n' '|' <"$T/$c.out")]"
	fi
done
nsend=$(count "$X/dovecot.log" '-login: Error: master\((imap|pop3)\): fd_send\(fd=[0-9]+\) failed: Operation not supported')
nfail=$(count "$X/dovecot.log" 'Disconnected: Internal login failure')
npump=$(count "$X/shim.log" 'the session could not be handed to a pump process: cannot create a process: .*\(RLIMIT_NPROC is 1\)')
nref=$(count "$X/shim.log" 'before passing it with SCM_RIGHTS; sendmsg refused')
if [ -z "$bad" ] && [ "$nsend" -eq 5 ] && [ "$nfail" -eq 5 ] && [ "$npump" -eq 5 ] && [ "$nref" -eq 5 ]; then
	pass "$name (5 clients: greeting over TLS, login refused, no message; dovecot and the shim said why, 5 times each)"
else
	fail "$name" "$bad; dovecot fd_send $nsend, login failures $nfail; shim: pump $npump, refused $nref (5 each)$(show "$X/dovecot.log" "$X/shim.log")"
fi

name=dovecot_healthy_after_refusals
# The login processes (dovenull) end after their client; bounded look.
n=0
while [ "$n" -lt $((100 * TS)) ] && pgrep -u dovenull >/dev/null; do n=$((n + 1)); sleep 0.1; done
left=$(pgrep -u dovenull -a | tr '\n' '|')
mail imap "$S" "$CERTS/ca.crt" >"$T/own2.out" 2>&1
rc=$?
if [ -z "$left" ] && [ $rc -eq 0 ] && grep -q '^logout ok$' "$T/own2.out" && alive "$DV" &&
   [ "$(logged_tls "$X/shim.log" imap accepted)" -eq 3 ] && [ "$(logged_tls "$X/shim.log" pop3 accepted)" -eq 2 ]; then
	pass "$name (no login process left, the next client served, the master alive)"
else
	fail "$name" "left: '$left'; next client exit $rc: $(tr '\n' '|' <"$T/own2.out")$(show "$X/dovecot.log" "$X/shim.log")"
fi

no_clear dovecot_no_greeting_in_clear "$P" "a1 LOGIN alice wonderland" "$DV"

name=dovecot_fetchmail_client_under_shim
# The other side: fetchmail (plain IMAP, its own TLS and STARTTLS off)
# under the shim with a connect rule to dovecot's own TLS port, which
# verifies dovecot's certificate; the message (seen already: fetchall)
# goes to an MDA (cat).
if command -v fetchmail >/dev/null; then
	mkdir -p "$T/fmhome"
	cat >"$T/fmhome/rc" <<EOC
set no syslog
poll 127.0.0.1 service $S protocol IMAP auth password
  user "alice" password "wonderland" is root here keep fetchall sslproto '' mda "cat >> $T/fm.mbox"
EOC
	chmod 600 "$T/fmhome/rc"
	policy "$X/fetch.policy" <<EOC
rules = ( { name = "fetch"; direction = "connect"; port = $S; ca = "$CERTS/ca.crt"; } );
EOC
	HOME=$T/fmhome TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/fm-shim.log" shimmed fetchmail -f "$T/fmhome/rc" \
		--nodetach --pidfile "$T/fmhome/pid" -v >"$T/fm.out" 2>&1
	rc=$?
	if [ $rc -eq 0 ] && grep -q "^the body of the message $$" "$T/fm.mbox" 2>/dev/null &&
	   [ "$(count "$T/fm-shim.log" 'rule "fetch": connected TLSv1\.[23] .*verified')" -eq 1 ] &&
	   ! grep -q -E ': (error|warn): ' "$T/fm-shim.log"; then
		pass "$name (the message fetched over TLS, dovecot's certificate verified)"
	else
		fail "$name" "fetchmail exit $rc$(show "$T/fm.out" "$T/fm-shim.log" "$X/dovecot.log")"
	fi
else
	fail "$name" "fetchmail not installed (fetchmail)"
fi

kill_tree "$DV"
san_logs_back
