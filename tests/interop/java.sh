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
. "$TLSSHIM_TOP/tests/interop/webapp.inc"
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
# The JVM ends on SIGTERM with status 143 (128 + 15) after its shutdown
# hooks.
JVER=$("$JAVA" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
webapp_server java 60 "hello from java $JVER" 143 "$JAVA" "$T/Server.java"

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
webapp_client java "$JAVA" "$T/Client.java"
