#!/bin/sh
# tests/interop/prefork.sh — prefork servers that know no TLS, under an
# accept rule, each with a master process and workers that share its
# listening socket (and accept on it in turn), and each with a restart of
# its own:
#   * gunicorn (python3-gunicorn, sync workers): SIGUSR2 makes the master
#     fork and exec a new master that inherits the listener (GUNICORN_FD)
#     and forks new workers; the old master is then stopped;
#   * uwsgi (uwsgi-core, its python3 plugin; --master, --http-socket):
#     SIGHUP makes the master exec itself again, the listener inherited,
#     and fork new workers;
#   * php-fpm (php8.2-fpm, pm = static) behind nginx: nginx (accept rule)
#     speaks FastCGI to php-fpm's pool over TLS (a connect rule on the
#     pool's port, an accept rule in php-fpm, whose children run as
#     nobody);
#   * spamd (Perl, preforked children that run as nobody) with spamc, a
#     client that knows no TLS, under a connect rule.
# Each: 8 requests at once, answers exact (for spamc: the scores), the
# accepted sessions in the workers (never in the master); a 2 MiB upload
# echoed intact (php-fpm: through nginx); a plain client of the server's
# own protocol gets TLS alerts at most, a silent one nothing; SIGTERM ends
# it.  The shim logs no error; the wire audit checks every connection to
# the rules' ports.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim prefork_setup
for c in uwsgi php-fpm8.2 nginx spamd spamc; do
	command -v "$c" >/dev/null || [ -x "/usr/sbin/$c" ] && continue
	fail prefork_setup "$c not installed (.ci/packages: uwsgi-core, php-fpm, nginx-light, spamd, spamc)"; exit 1
done
if ! /usr/bin/python3 -c 'import gunicorn' 2>/dev/null || [ ! -f /usr/lib/uwsgi/plugins/python3_plugin.so ]; then
	fail prefork_setup "python3-gunicorn or uwsgi-plugin-python3 not installed (.ci/packages)"; exit 1
fi
[ "$(id -u)" = 0 ] || { fail prefork_setup "run as root (php-fpm's and spamd's children change user)"; exit 1; }

open_tmp
X=$T/pf
mkdir -p "$X/tmp" "$X/sa"
chmod 755 "$X"
head -c 2097152 /dev/urandom >"$X/big"
head -c 65536 /dev/urandom >"$X/small"
chmod 644 "$X/big" "$X/small"
G=$(free_port)   # gunicorn
U=$(free_port)   # uwsgi
N=$(free_port)   # nginx, in front of php-fpm
F=$(free_port)   # php-fpm's pool
S=$(free_port)   # spamd
policy "$T/pf.policy" <<EOC
rules = (
  { name = "in"; direction = "accept"; port = [$G, $U, $N, $F, $S]; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
  { name = "out"; direction = "connect"; port = [$F, $S]; ca = "$CERTS/ca.crt"; server_name = "localhost"; }
);
EOC

# A WSGI application: GET /small sends the file, a POST its body back.
cat >"$X/app.py" <<EOA
def app(environ, start_response):
    n = int(environ.get("CONTENT_LENGTH") or 0)
    out = environ["wsgi.input"].read(n) if n else open("$X/small", "rb").read()
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(out)))])
    return [out]
application = app
EOA
# The same in PHP.
cat >"$X/app.php" <<EOA
<?php
header('Content-Type: application/octet-stream');
if (\$_SERVER['REQUEST_METHOD'] === 'POST') { readfile('php://input'); } else { readfile('$X/small'); }
EOA
chmod 644 "$X/app.py" "$X/app.php"

# served NAME URL LOG MASTER BEFORE: the cases NAME_8_at_once (8 GETs of
# small, exact) and NAME_upload_echoed (big POSTed, echoed intact); BEFORE:
# the sessions LOG had accepted already.
served() {
	_sv_name=$1 _sv_url=$2 _sv_log=$3 _sv_m=$4 _sv_b=$5
	downloads 8 "$X/small" "$_sv_url" --cacert "$CERTS/ca.crt"
	if [ $BAD -eq 0 ] && [ $OK -eq 8 ]; then
		pass "${_sv_name}_8_at_once (65536 bytes each, exact)"
	else
		fail "${_sv_name}_8_at_once" "$BAD curl failed, $OK of 8 exact: $(cat "$T"/curl.*.err | head -c 300)$(show "$_sv_log")"
	fi
	timeout $((30 * TS)) curl -sS --cacert "$CERTS/ca.crt" -H 'Content-Type: application/octet-stream' \
		--data-binary @"$X/big" -o "$T/$_sv_name.echo" "$_sv_url" >"$T/$_sv_name.err" 2>&1
	_sv_rc=$?
	if [ $_sv_rc -eq 0 ] && cmp -s "$T/$_sv_name.echo" "$X/big"; then
		pass "${_sv_name}_upload_echoed (2 MiB, intact)"
	else
		fail "${_sv_name}_upload_echoed" "curl exit $_sv_rc, $(wc -c <"$T/$_sv_name.echo" 2>/dev/null) bytes$(show "$T/$_sv_name.err" "$_sv_log")"
	fi
	in_workers "${_sv_name}_sessions_in_workers" "$_sv_log" "$_sv_m" $((_sv_b + 9))
}

# ---------------------------------------------------------------- gunicorn
# (its log in a file of its own, opened for appending: the new master's
# start wrote over what the old one had written to standard error)
shim_daemon prefork_setup gunicorn "$G" /usr/bin/python3 -m gunicorn -w 2 -b "127.0.0.1:$G" --chdir "$X" --pid "$X/gunicorn.pid" \
	--error-logfile "$T/gunicorn.glog" app:app
GM=$SRV
wait_ready "$GM" "$T/gunicorn.glog" 'Booting worker' 15
served gunicorn "https://localhost:$G/small" "$T/gunicorn.log" "$GM" 0
no_clear gunicorn_plain_client_gets_nothing_in_clear "$G" "GET /small HTTP/1.0
" "$GM"
# SIGUSR2: a new master (fork, exec, the listener inherited), its own
# workers; the old master is then stopped.  The new one serves alone.
kill -USR2 "$GM"
name=gunicorn_usr2_new_master_inherits_the_listener
# (gunicorn 20.1: the new master's pid file is PIDFILE.2 until the old
# one has ended)
if wait_lines "$T/gunicorn.glog" 'Booting worker' 4 20 && wait_for "$X/gunicorn.pid.2" '^[0-9]' 10 &&
   GN=$(cat "$X/gunicorn.pid.2") && [ "$GN" != "$GM" ]; then
	kill "$GM"
	wait_ready "$GN" "$T/gunicorn.glog" 'Master has been promoted' 15
	before=$(logged_tls "$T/gunicorn.log" in accepted)
	timeout $((30 * TS)) curl -sS --cacert "$CERTS/ca.crt" -o "$T/gunicorn.usr2" "https://localhost:$G/small" \
		>"$T/gunicorn.usr2.err" 2>&1
	rc=$?
	# (the session's log line: a worker of the new master)
	w=$(sed -n 's/^tlsshim\[\([0-9]*\)\]: info: .*rule "in": accepted.*/\1/p' "$T/gunicorn.log" | tail -n 1)
	if [ $rc -eq 0 ] && cmp -s "$T/gunicorn.usr2" "$X/small" && ! alive "$GM" &&
	   [ "$(logged_tls "$T/gunicorn.log" in accepted)" -eq $((before + 1)) ] &&
	   [ "$(sed -n 's/^PPid:[[:space:]]*//p' "/proc/$w/status" 2>/dev/null)" = "$GN" ]; then
		pass "$name (exact, accepted in worker $w of the new master $GN)"
	else
		fail "$name" "curl exit $rc, worker ${w:-?} (new master $GN)$(show "$T/gunicorn.usr2.err" "$T/gunicorn.glog" "$T/gunicorn.log")"
	fi
	stops_clean gunicorn_stops "$GN" "$T/gunicorn.log"
else
	fail "$name" "no new master$(show "$T/gunicorn.glog" "$T/gunicorn.log")"
fi
kill_tree "$GM"

# ---------------------------------------------------------------- uwsgi
shim_daemon prefork_setup uwsgi "$U" uwsgi --plugin python3 --http-socket "127.0.0.1:$U" --master --processes 2 \
	--wsgi-file "$X/app.py" --die-on-term --buffer-size 16384
UM=$SRV
wait_ready "$UM" "$T/uwsgi.out" 'spawned uWSGI worker 2' 15
served uwsgi "https://localhost:$U/small" "$T/uwsgi.log" "$UM" 0
no_clear uwsgi_plain_client_gets_nothing_in_clear "$U" "GET /small HTTP/1.0
" "$UM"
# SIGHUP: the master execs itself again (the listener inherited) and
# forks new workers.
kill -HUP "$UM"
name=uwsgi_hup_reexec_keeps_the_listener_tls
if wait_lines "$T/uwsgi.out" 'spawned uWSGI worker 2' 2 20 && grep -q 'binary reloading uWSGI' "$T/uwsgi.out"; then
	downloads 4 "$X/small" "https://localhost:$U/small" --cacert "$CERTS/ca.crt"
	if [ $BAD -eq 0 ] && [ $OK -eq 4 ] && [ "$(logged_tls "$T/uwsgi.log" in accepted)" -eq 13 ]; then
		pass "$name (the master exec'ed itself; 4 exact after it)"
	else
		fail "$name" "$BAD curl failed, $OK of 4 exact$(show "$T/uwsgi.out" "$T/uwsgi.log")"
	fi
else
	fail "$name" "no re-exec, or no new workers$(show "$T/uwsgi.out" "$T/uwsgi.log")"
fi
in_workers uwsgi_sessions_in_workers_after_reexec "$T/uwsgi.log" "$UM" 13
stops_clean uwsgi_stops "$UM" "$T/uwsgi.log"

# ---------------------------------------------------------------- php-fpm
cat >"$X/fpm.conf" <<EOC
[global]
pid = $X/fpm.pid
error_log = /proc/self/fd/2
daemonize = no
[pool]
user = nobody
group = nogroup
listen = 127.0.0.1:$F
pm = static
pm.max_children = 2
EOC
cat >"$X/nginx.conf" <<EOC
daemon off;
master_process on;
worker_processes 1;
pid $X/nginx.pid;
error_log $T/nginx.err;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $X/tmp;
  fastcgi_temp_path $X/tmp;
  client_max_body_size 16m;
  server {
    listen 127.0.0.1:$N;
    location / {
      fastcgi_pass 127.0.0.1:$F;
      fastcgi_param SCRIPT_FILENAME $X/app.php;
      fastcgi_param REQUEST_METHOD \$request_method;
      fastcgi_param CONTENT_LENGTH \$content_length;
      fastcgi_param CONTENT_TYPE \$content_type;
    }
  }
}
EOC
shim_daemon prefork_setup php-fpm "$F" php-fpm8.2 -F -R -n -y "$X/fpm.conf"
FM=$SRV
shim_daemon prefork_setup nginx "$N" nginx -c "$X/nginx.conf"
NX=$SRV
wait_ready "$FM" "$T/php-fpm.out" 'ready to handle connections' 15
served php-fpm "https://localhost:$N/small" "$T/php-fpm.log" "$FM" 0
name=php-fpm_nginx_connects_verified
c=$(count "$T/nginx.log" "rule \"out\": connected TLSv1\.[23] .*verified for \"localhost\"")
if [ "$c" -eq 9 ] && [ "$(logged_tls "$T/nginx.log" in accepted)" -eq 9 ]; then
	pass "$name (nginx accepted 9, connected to the pool 9 times, verified)"
else
	fail "$name" "$c connects$(show "$T/nginx.log" "$T/nginx.err")"
fi
no_clear php-fpm_plain_fastcgi_client_gets_nothing_in_clear "$F" "$(printf '\001\001\001\001\001\010\001\001')" "$FM"
stops_clean nginx_stops "$NX" "$T/nginx.log"
stops_clean php-fpm_stops "$FM" "$T/php-fpm.log"

# ---------------------------------------------------------------- spamd
# Rules of our own (no sa-update here): a marker word scores 10.
cp /etc/spamassassin/*.pre "$X/sa/"
printf 'body PF_MARK /tlsshim-prefork-marker/\nscore PF_MARK 10.0\nrequired_score 5.0\n' >"$X/sa/local.cf"
shim_daemon prefork_setup spamd "$S" spamd --listen "127.0.0.1:$S" -m 2 --min-children 2 --max-spare 2 -C "$X/sa" \
	--siteconfigpath "$X/sa" -L -x -u nobody -s stderr
SM=$SRV
wait_ready "$SM" "$T/spamd.out" 'server started' 30
printf 'Subject: a\n\nhello tlsshim-prefork-marker\n' >"$X/spam.txt"
printf 'Subject: b\n\nhello\n' >"$X/ham.txt"
pids=""
for i in 1 2 3 4 5 6 7 8; do
	m=ham; [ $((i % 2)) -eq 0 ] && m=spam
	TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/spamc.log" timeout $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$POLICY" spamc -d 127.0.0.1 -p "$S" -c <"$X/$m.txt" >"$T/spamc.$i" 2>&1 &
	pids="$pids $!"
done
for p in $pids; do wait "$p"; done
name=spamd_8_at_once_scored
good=0
for i in 1 2 3 4 5 6 7 8; do
	want=0.0/5.0; [ $((i % 2)) -eq 0 ] && want=10.0/5.0
	[ "$(cat "$T/spamc.$i")" = "$want" ] && good=$((good + 1))
done
c=$(count "$T/spamc.log" "rule \"out\": connected TLSv1\.[23] .*verified for \"localhost\"")
if [ $good -eq 8 ] && [ "$c" -eq 8 ]; then
	pass "$name (4 spam 10.0/5.0, 4 ham 0.0/5.0; spamc connected 8 times, verified)"
else
	fail "$name" "$good of 8 scores right, $c connects: $(cat "$T"/spamc.[1-8] | tr '\n' ' ')$(show "$T/spamc.log" "$T/spamd.log")"
fi
in_workers spamd_sessions_in_children "$T/spamd.log" "$SM" 8
no_clear spamd_plain_client_gets_nothing_in_clear "$S" "PING SPAMC/1.5
" "$SM"
stops_clean spamd_stops "$SM" "$T/spamd.log"
