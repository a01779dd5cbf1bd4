#!/bin/sh
# busybox httpd under the shim (issue 4, "proven on real programs"): it
# forks a child per connection (the session is still fresh at that fork:
# the child owns it, the parent's close sends nothing), and for a CGI the
# child forks again (vfork) with the session live and execs the script,
# relaying between the script's pipes and the socket.
# Asserted, with curl --cacert (verifying) as the client:
#  * a 1 MB file, 10 times in a row, every copy with the right SHA-256;
#  * a CGI (GET) and a CGI reading a POST body on its stdin return their
#    output over TLS; these responses have no Content-Length, so curl needs
#    a clean end (close_notify) to accept them: a truncation is its error
#    56 ("unexpected eof while reading");
#  * httpd's log of the shim has no warning or error.
# tlsshim-test: big-capture (tests/run.sh: its capture needs the large buffer)
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim
if ! busybox httpd --help 2>&1 | grep -q -- '-p \[IP:\]PORT'; then
	fail setup "busybox httpd is not available (.ci/packages lists busybox)"
	exit 1
fi

W=$T/www
mkdir -p "$W/cgi-bin"
head -c 1000000 /dev/urandom >"$W/file"
want=$(sha256sum <"$W/file" | cut -d' ' -f1)
cat >"$W/cgi-bin/hello.cgi" <<'EOS'
#!/bin/sh
echo "Content-Type: text/plain"
echo
echo "cgi says hello ($REQUEST_METHOD)"
EOS
cat >"$W/cgi-bin/post.cgi" <<'EOS'
#!/bin/sh
echo "Content-Type: text/plain"
echo
body=$(head -c "${CONTENT_LENGTH:-0}")
echo "cgi got: $body"
EOS
chmod +x "$W/cgi-bin/hello.cgi" "$W/cgi-bin/post.cgi"

P=$(free_port)
policy "$T/httpd.conf" <<EOC
rules = ( { name = "httpd-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
TLSSHIM_LOG_FILE="$T/httpd.log" shimbg busybox httpd -f -p "127.0.0.1:$P" -h "$W" >"$T/httpd.out" 2>&1
httpd=$!
wait_listen "$P" 15

CURL="curl -sS --max-time 20 --cacert $CERTS/ca.crt"
bad=""
i=1
while [ $i -le 10 ]; do
	rm -f "$T/got"
	if ! $CURL -o "$T/got" "https://localhost:$P/file" 2>"$T/curl.err"; then
		bad="$bad [request $i: curl: $(head -c 200 "$T/curl.err")]"
	elif [ "$(sha256sum <"$T/got" | cut -d' ' -f1)" != "$want" ]; then
		bad="$bad [request $i: $(wc -c <"$T/got") bytes, wrong SHA-256]"
	fi
	i=$((i + 1))
done
if [ -z "$bad" ]; then
	pass "busybox httpd: a 1 MB file over TLS 10 times in a row, every SHA-256 right"
else
	fail "busybox httpd: 1 MB file 10 times" "$bad $(show "$T/httpd.log")"
fi

out=$($CURL "https://localhost:$P/cgi-bin/hello.cgi" 2>&1); rc=$?
if [ $rc -eq 0 ] && [ "$out" = "cgi says hello (GET)" ]; then
	pass "busybox httpd: a CGI's output over TLS, ended by close_notify (curl accepts the length-less response)"
else
	fail "busybox httpd: CGI (GET) over TLS" "curl exit $rc: $(echo "$out" | head -c 300) $(show "$T/httpd.log")"
fi
out=$($CURL --data-binary "posted over tls" "https://localhost:$P/cgi-bin/post.cgi" 2>&1); rc=$?
if [ $rc -eq 0 ] && [ "$out" = "cgi got: posted over tls" ]; then
	pass "busybox httpd: a CGI reads a POST body on its stdin and answers over TLS"
else
	fail "busybox httpd: CGI (POST) over TLS" "curl exit $rc: $(echo "$out" | head -c 300) $(show "$T/httpd.log")"
fi
wait_children "$httpd" 10      # every connection's child has ended (and logged)
stop "$httpd"
if grep -q -E 'warn|error' "$T/httpd.log" 2>/dev/null; then
	fail "busybox httpd: no warning or error logged" "$(head -c 1500 "$T/httpd.log")"
else
	pass "busybox httpd: no warning or error logged"
fi
