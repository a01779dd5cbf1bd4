#!/bin/sh
# tests/attack/records_nginx.sh — malformed records against an
# edge-triggered daemon: Debian's nginx under the shim (an accept rule).
#
# tests/attack/records.py is a TLS 1.3 client that writes its own records
# after the handshake, so it can send what an endpoint, not only a man in
# the middle, can send: a record whose inner content type is zero
# (tlsfuzzer's test-tls13-zero-content-type), a flipped bit, a replayed, reordered
# or dropped record, an oversized record, a bad outer content type, a
# truncated record.  Each goes once in the same TCP segment as a good
# request ("with_data": the case that used to sit unread behind the first
# record while the edge-triggered daemon waited for an edge that never
# came) and once on its own after a request was answered ("alone").
#
# Each case asserts: the shim answers with the alert RFC 8446 names
# (unexpected_message, bad_record_mac, record_overflow) where there is one
# to send, the connection is closed within the bound (not "when the peer
# gives up"), the shim logs the failure, and nginx never receives a byte
# of a bad record (its access log holds no "/evil", and no request twice).
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim records_nginx_setup
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { fail records_nginx_setup "nginx not installed (nginx-light)"; exit 1; }
"$PY" -c 'import cryptography' 2>/dev/null ||
	{ fail records_nginx_setup "python3-cryptography not installed"; exit 1; }

D=$T/nginx
mkdir -p "$T/www"
echo "tlsshim records" >"$T/www/index.html"
for i in 1 2 3; do echo "good $i" >"$T/www/good-$i"; done
P=$(free_port)
nginx_conf "$D" off <<EOF
  keepalive_timeout 300;
  server {
    listen 127.0.0.1:$P;
    root $T/www;
  }
EOF
policy "$T/policy.conf" <<EOF
rules = ( { name = "nginx-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
export TLSSHIM_LOG_FILE="$T/shim.log"
shimbg "$NGINX" -e "$D/logs/error.log" -p "$D" -c "$D/nginx.conf" >"$T/nginx.out" 2>&1
NG=$!
if ! wait_listen "$P"; then
	fail records_nginx_setup "nginx did not listen$(show "$T/nginx.out" "$D/logs/error.log" "$T/shim.log")"
	exit 1
fi

# The alerts RFC 8446 asks for (level 2 = fatal): 10 unexpected_message,
# 20 bad_record_mac, 22 record_overflow; "" = none required (a truncated
# record then FIN: the connection just ends).
# The reason the shim logs for each case.
want_log() {
	case "$1" in
	zero_type|badtype) echo "bad record type" ;;
	bitflip|replay|reorder|drop) echo "record authentication failed" ;;
	oversize) echo "encrypted length too long" ;;
	truncate) echo "connection truncated" ;;
	esac
}
nlines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
want_alert() {
	case "$1" in
	zero_type|badtype) echo 10 ;;
	bitflip|replay|reorder|drop) echo 20 ;;
	oversize) echo 22 ;;
	*) echo "" ;;
	esac
}

for where in with_data alone; do
	for kind in zero_type bitflip replay reorder drop oversize badtype truncate; do
		name=records_nginx_${kind}_$where
		before=$(nlines "$D/logs/access.log")
		lines0=$(nlines "$T/shim.log")
		# A bad outer content type is a byte that is not a TLS record on
		# the wire: that connection is left out of the wire audit.
		ex=""
		[ "$kind" = badtype ] && ex="audit_exclude_during $P deliberate_non-TLS_record_type"
		$ex "$PY" "$TLSSHIM_TOP/tests/attack/records.py" 127.0.0.1 "$P" "$CERTS/ca.crt" localhost \
			"${kind}_$where" $((10 * TS)) >"$T/$name.out" 2>&1
		out=$(tr '\n' ' ' <"$T/$name.out")
		alert=$(want_alert "$kind")
		why=""
		grep -q '^eof ' "$T/$name.out" || why="the connection was not closed within $((10 * TS)) s"
		if [ -n "$alert" ] && ! grep -q "^alert 2 $alert\$" "$T/$name.out"; then
			why="${why:+$why; }no fatal alert $alert"
		fi
		if [ "$where" = alone ] && ! grep -q '^response [1-9]' "$T/$name.out"; then
			why="${why:+$why; }the good request before it was not answered"
		fi
		# What nginx was given: no byte of the bad record, no request twice.
		new=$(tail -n +"$((before + 1))" "$D/logs/access.log" 2>/dev/null)
		if printf '%s\n' "$new" | grep -q '/evil'; then
			why="${why:+$why; }nginx received the bad record's request"
		fi
		dup=$(printf '%s\n' "$new" | grep -o 'GET /good-[0-9]*' | sort | uniq -d)
		[ -z "$dup" ] || why="${why:+$why; }nginx received a request twice ($dup)"
		reason=$(want_log "$kind")
		if ! tail -n +"$((lines0 + 1))" "$T/shim.log" | grep -q -F "rule \"nginx-in\": $reason"; then
			why="${why:+$why; }no shim log line \"$reason\""
		fi
		if [ -z "$why" ]; then pass "$name ($out)"; else fail "$name" "$why: $out$(show "$T/shim.log")"; fi
	done
done

# nginx is still serving after all that.
name=records_nginx_still_serving
got=$(curl -sS --max-time $((20 * TS)) --cacert "$CERTS/ca.crt" --resolve "localhost:$P:127.0.0.1" \
	"https://localhost:$P/good-2" 2>&1)
if [ "$got" = "good 2" ]; then pass "$name"; else fail "$name" "curl got: $got"; fi
stop "$NG"
