#!/bin/sh
# tests/interop/java.sh — a JVM under the shim: OpenJDK (its own native
# socket code in libnet/libnio: NIO selector on epoll, accept, read/write
# through its own JNI wrappers) running plain-HTTP Java code from source
# (java File.java), no TLS in it.
#  * server: com.sun.net.httpserver.HttpServer (an NIO selector thread,
#    a pool of 8 handler threads) under an accept rule, fetched by curl
#    --cacert over https://: a 10 MB body (SHA-256), 40 requests 8 at a
#    time on kept-alive connections, a POST of 3 MB answered with its
#    SHA-256 computed by Java.
#  * client: java.net.HttpURLConnection to a plain http:// URL under a
#    connect rule, to openssl s_server -WWW (a TLS-only web server): a 5 MB
#    file, SHA-256 computed by Java, and the shim logged a verified TLS
#    connection (the JVM's socket is IPv6 dual-stack: the peer is
#    ::ffff:127.0.0.1, matched by the rule's IPv4 port).
# tlsshim-test: big-capture (tests/run.sh: its capture needs the large buffer)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim java_setup
JAVA=$(command -v java)
[ -n "$JAVA" ] || { fail java_setup "java not installed (default-jdk-headless)"; exit 1; }
# The JVM's own SIGSEGV handling and its -Xshare mappings are its business;
# a JVM that cannot run a source file at all here is a setup failure.
export JAVA_TOOL_OPTIONS="-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1"

mkdir -p "$T/www"
head -c 10485760 /dev/urandom >"$T/www/big"
head -c 5242880 /dev/urandom >"$T/www/five"
head -c 3145728 /dev/urandom >"$T/post"

# ---------------------------------------------------------------- server
cat >"$T/Server.java" <<'JAVA'
import com.sun.net.httpserver.*;
import java.io.*;
import java.net.InetSocketAddress;
import java.nio.file.*;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.concurrent.Executors;

public class Server {
    public static void main(String[] a) throws Exception {
        int port = Integer.parseInt(a[0]);
        byte[] big = Files.readAllBytes(Path.of(a[1], "big"));
        HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 64);
        s.createContext("/", ex -> {
            try (ex) {
                if (ex.getRequestMethod().equals("POST")) {
                    MessageDigest md = MessageDigest.getInstance("SHA-256");
                    long n = 0;
                    byte[] buf = new byte[65536];
                    InputStream in = ex.getRequestBody();
                    for (int r; (r = in.read(buf)) > 0; n += r) md.update(buf, 0, r);
                    byte[] out = (n + " " + HexFormat.of().formatHex(md.digest()) + "\n").getBytes();
                    ex.sendResponseHeaders(200, out.length);
                    ex.getResponseBody().write(out);
                } else if (ex.getRequestURI().getPath().startsWith("/big")) {
                    ex.sendResponseHeaders(200, big.length);
                    ex.getResponseBody().write(big);
                } else {
                    byte[] out = ("hello from java " + Runtime.version().feature() + "\n").getBytes();
                    ex.sendResponseHeaders(200, out.length);
                    ex.getResponseBody().write(out);
                }
            } catch (Exception e) {
                e.printStackTrace();
            }
        });
        s.setExecutor(Executors.newFixedThreadPool(8));
        s.start();
        System.out.println("listening " + port);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> s.stop(0)));
    }
}
JAVA
P=$(free_port)
policy "$T/srv.conf" <<EOF
rules = ( { name = "java-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/srv.log" POLICY=$T/srv.conf shimbg "$JAVA" "$T/Server.java" "$P" "$T/www" \
	>"$T/server.out" 2>&1
SRV=$!
track "$SRV"
if wait_ready "$SRV" "$T/server.out" "^listening $P" 60; then
	ncurl() { curl -sS --max-time 60 --cacert "$CERTS/ca.crt" --resolve "localhost:$P:127.0.0.1" "$@"; }
	URL=https://localhost:$P

	name=java_server_hello_over_tls
	out=$(ncurl -v "$URL/" 2>"$T/hello.err"); rc=$?
	if [ "$rc" -eq 0 ] && [ "$out" = "hello from java $("$JAVA" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')" ] && grep -q 'SSL certificate verify ok' "$T/hello.err"; then
		pass "$name"
	else
		fail "$name" "curl exit $rc, '$out'$(show "$T/hello.err" "$T/server.out" "$T/srv.log")"
	fi

	name=java_server_10MB_sha256
	ncurl -o "$T/got.big" "$URL/big" 2>"$T/big.err"; rc=$?
	if [ "$rc" -eq 0 ] && [ "$(sha "$T/got.big")" = "$(sha "$T/www/big")" ]; then
		pass "$name"
	else
		fail "$name" "curl exit $rc, $(wc -c <"$T/got.big" 2>/dev/null) bytes$(show "$T/big.err" "$T/server.out" "$T/srv.log")"
	fi
	rm -f "$T/got.big"

	name=java_server_40_requests_8_parallel
	mkdir -p "$T/par"
	ncurl --parallel --parallel-max 8 -o "$T/par/#1" "$URL/big?n=[1-40]" >/dev/null 2>"$T/par.err"; rc=$?
	same=0
	for f in "$T/par"/*; do cmp -s "$f" "$T/www/big" && same=$((same + 1)); done
	if [ "$rc" -eq 0 ] && [ "$same" -eq 40 ]; then
		pass "$name"
	else
		fail "$name" "curl exit $rc, $same of 40 bodies exact$(show "$T/par.err" "$T/server.out" "$T/srv.log")"
	fi
	rm -rf "$T/par"

	name=java_server_3MB_post_hashed_by_java
	out=$(ncurl --data-binary @"$T/post" -H 'Content-Type: application/octet-stream' "$URL/post" 2>"$T/post.err"); rc=$?
	if [ "$rc" -eq 0 ] && [ "$out" = "3145728 $(sha "$T/post")" ]; then
		pass "$name"
	else
		fail "$name" "curl exit $rc, '$out'$(show "$T/post.err" "$T/server.out" "$T/srv.log")"
	fi

	name=java_server_port_speaks_tls
	warns=$(count "$T/srv.log" ': (warn|error): ')
	if tls_probe "$P" "$T/probe" && [ "$(logged_tls "$T/srv.log" java-in accepted)" -ge 3 ] && [ "$warns" -eq 0 ]; then
		pass "$name"
	else
		fail "$name" "$warns warnings$(show "$T/probe" "$T/srv.log")"
	fi

	# The JVM ends on SIGTERM with status 143 (128 + 15) after its shutdown
	# hooks.
	name=java_server_sigterm_exit_143
	kill -TERM "$SRV"
	wait_gone "$SRV" 30; rc=$?
	if [ "$rc" -eq 143 ]; then pass "$name"; else fail "$name" "java exited $rc$(show "$T/server.out" "$T/srv.log")"; fi
else
	fail java_server_setup "java did not listen$(show "$T/server.out" "$T/srv.log")"
	kill_tree "$SRV"
fi

# ---------------------------------------------------------------- client
cat >"$T/Client.java" <<'JAVA'
import java.io.InputStream;
import java.net.*;
import java.security.MessageDigest;
import java.util.HexFormat;

public class Client {
    public static void main(String[] a) throws Exception {
        HttpURLConnection c = (HttpURLConnection) new URL(a[0]).openConnection();
        c.setConnectTimeout(30000);
        c.setReadTimeout(30000);
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        long n = 0;
        byte[] buf = new byte[65536];
        int status = c.getResponseCode();
        try (InputStream in = c.getInputStream()) {
            for (int r; (r = in.read(buf)) > 0; n += r) md.update(buf, 0, r);
        }
        System.out.println("status " + status + " " + n + " " + HexFormat.of().formatHex(md.digest()));
    }
}
JAVA
Q=$(free_port)
policy "$T/cli.conf" <<EOF
rules = ( { name = "java-out"; direction = "connect"; port = $Q; ca = "$CERTS/ca.crt"; } );
EOF
# s_server -WWW serves files relative to its directory; -naccept 1: one
# connection, then it exits.
(cd "$T/www" && exec openssl s_server -accept "127.0.0.1:$Q" -cert "$CERTS/server.crt" -key "$CERTS/server.key" \
	-WWW -naccept 1) >"$T/s_server.out" 2>&1 &
SS=$!
_bg_pids="$_bg_pids $SS"
track "$SS"
name=java_client_http_get_through_tls_5MB_sha256
if wait_listen "$Q" 15 "$SS"; then
	out=$(TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/cli.log" POLICY=$T/cli.conf shimmed "$JAVA" "$T/Client.java" \
		"http://127.0.0.1:$Q/five" 2>"$T/client.err"); rc=$?
	if [ "$rc" -eq 0 ] && [ "$out" = "status 200 5242880 $(sha "$T/www/five")" ] &&
	   [ "$(count "$T/cli.log" 'rule "java-out": connected TLSv1\.[23] .*verified')" -eq 1 ]; then
		pass "$name"
	else
		fail "$name" "java exit $rc: '$out'$(show "$T/client.err" "$T/cli.log" "$T/s_server.out")"
	fi
	wait_gone "$SS" 10 >/dev/null
else
	fail "$name" "openssl s_server did not listen$(show "$T/s_server.out")"
fi
