/*
 * native — the in-process OpenSSL reference for the benchmarks.
 *
 * The same workloads as the plain test programs (tests/progs/bulk.c,
 * tests/progs/pingpong.c), done the way a program that links OpenSSL itself
 * would do them: default OpenSSL settings (TLS 1.3 and its default
 * ciphersuite), blocking sockets, full verification of the server's
 * certificate chain and name, no session resumption (but pp-client-resume).
 *
 *   native bulk-recv PORT CERT KEY           accept one connection, read to
 *                                            close_notify, print "bytes N
 *                                            checksum HEX" (as `bulk recv`)
 *   native bulk-send HOST PORT BYTES CAFILE  write BYTES in 16 KiB SSL_write
 *                                            calls, SSL_shutdown, wait for
 *                                            the peer's close_notify, close
 *   native pp-server PORT CERT KEY           iterative: accept, handshake,
 *                                            read 32, write 32, SSL_shutdown,
 *                                            close (as `pingpong server`)
 *   native pp-client HOST PORT N CAFILE      N sequential connections, each a
 *                                            full handshake + 32-byte ping-pong
 *                                            + SSL_shutdown; print conns/s
 *   native pp-client-resume HOST PORT N CAFILE  the same, each connection
 *                                            offering the latest session of
 *                                            the one before (TLS 1.3 ticket);
 *                                            also prints how many resumed
 *   native hold-server PORT CERT KEY         epoll, non-blocking: accept
 *                                            every connection, handshake,
 *                                            echo what arrives, keep the
 *                                            connection open (memory bench;
 *                                            raises RLIMIT_NOFILE, see
 *                                            bench/hold.c; NATIVE_NOFILE)
 *   native lat-server PORT CERT KEY          iterative: accept, handshake,
 *                                            echo until close_notify (as
 *                                            `lat server`, TCP_NODELAY)
 *   native lat-client HOST PORT N CAFILE     one kept-open connection: 200
 *                                            warm-up and N timed 32-byte round
 *                                            trips; prints the percentiles as
 *                                            `lat client` (LAT_MAX_SECONDS)
 *   native thr-server PORT CERT KEY          a detached thread per connection:
 *                                            handshake, echo until
 *                                            close_notify, close (as
 *                                            `lat thr-server`)
 *   native thr-client HOST PORT N T CAFILE   T threads share N sequential
 *                                            connections (full handshake,
 *                                            32-byte ping-pong, SSL_shutdown);
 *                                            prints conns/s
 *
 * HOST is a name or an address; the certificate is verified against it
 * (an IP SAN for an address literal, a DNS SAN otherwise, which is then also
 * sent as SNI). Servers listen on 127.0.0.1 only. Every process ends itself
 * after at most NATIVE_TIMEOUT seconds (default 600).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

/* The byte stream and its checksum: tests/progs/bulk.c's, the same code,
 * so that the work around the I/O is the same and the result lines can be
 * compared. */
#include "../tests/progs/stream.h"

#define CHUNK 16384
#define PP_LEN 32

static void die_ssl(const char *what)
{
	fprintf(stderr, "native: %s failed\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static void die_errno(const char *what)
{
	fprintf(stderr, "native: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long parse_num(const char *s, const char *what)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < 0) {
		fprintf(stderr, "native: bad %s '%s'\n", what, s);
		exit(2);
	}
	return (long)v;
}

static int listen_on(const char *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die_errno("socket");
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa = { .sin_family = AF_INET,
	                          .sin_port = htons((uint16_t)parse_num(port, "port")),
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die_errno("bind");
	if (listen(fd, 128) < 0)
		die_errno("listen");
	return fd;
}

/* Resolve once, like the plain programs; the first address that takes a
 * connection is used from then on. */
static struct sockaddr_storage peer;
static socklen_t peer_len;

static int connect_to(const char *host, const char *port)
{
	if (peer_len) {
		int fd = socket(peer.ss_family, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&peer, peer_len) < 0)
			die_errno("connect");
		return fd;
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res, *ai;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc) {
		fprintf(stderr, "native: %s: %s\n", host, gai_strerror(rc));
		exit(2);
	}
	int fd = -1;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			memcpy(&peer, ai->ai_addr, ai->ai_addrlen);
			peer_len = ai->ai_addrlen;
			break;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		die_errno("connect");
	return fd;
}

static SSL_CTX *server_ctx(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		die_ssl("SSL_CTX_new");
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		die_ssl("loading the certificate");
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		die_ssl("loading the key");
	if (SSL_CTX_check_private_key(ctx) != 1)
		die_ssl("checking the key");
	return ctx;
}

static SSL_CTX *client_ctx(const char *cafile)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		die_ssl("SSL_CTX_new");
	if (SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1)
		die_ssl("loading the CA file");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

static int is_ip_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static int verbose; /* NATIVE_VERBOSE set: print each connection's parameters */

static void report_params(SSL *ssl, const char *who)
{
	if (verbose)
		fprintf(stderr, "native %s: %s %s\n", who, SSL_get_version(ssl),
		        SSL_get_cipher_name(ssl));
}

/* A verifying client connection: TCP connect, then the handshake. */
static SSL_SESSION *offer; /* pp-client-resume: the session to offer */

static SSL *client_open(SSL_CTX *ctx, const char *host, const char *port)
{
	int fd = connect_to(host, port);
	SSL *ssl = SSL_new(ctx);
	if (!ssl)
		die_ssl("SSL_new");
	if (offer && SSL_set_session(ssl, offer) != 1)
		die_ssl("SSL_set_session");
	if (SSL_set1_host(ssl, host) != 1) /* an IP literal becomes an IP check */
		die_ssl("SSL_set1_host");
	if (!is_ip_literal(host) && SSL_set_tlsext_host_name(ssl, host) != 1)
		die_ssl("SNI");
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1) {
		long v = SSL_get_verify_result(ssl);
		if (v != X509_V_OK)
			fprintf(stderr, "native: verify: %s\n", X509_verify_cert_error_string(v));
		die_ssl("SSL_connect");
	}
	report_params(ssl, "client");
	return ssl;
}

/* Accept and handshake; NULL (logged) if that connection's handshake fails. */
static SSL *server_open(SSL_CTX *ctx, int lfd)
{
	int fd;
	do
		fd = accept(lfd, NULL, NULL);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		die_errno("accept");
	SSL *ssl = SSL_new(ctx);
	if (!ssl)
		die_ssl("SSL_new");
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) != 1) {
		fprintf(stderr, "native: SSL_accept failed\n");
		ERR_print_errors_fp(stderr);
		SSL_free(ssl);
		close(fd);
		return NULL;
	}
	report_params(ssl, "server");
	return ssl;
}

static void ssl_close(SSL *ssl)
{
	int fd = SSL_get_fd(ssl);
	SSL_shutdown(ssl); /* sends close_notify; does not wait for the peer's */
	SSL_free(ssl);
	close(fd);
}

/*
 * Close after sending: send close_notify, then read until the peer's
 * close_notify (or EOF) before close(). A sender that never reads would
 * still have the server's TLS 1.3 session tickets unread in its socket when
 * it closes, and the kernel answers such a close with a RST, which can
 * discard the end of the data still queued at the receiver.
 */
static void ssl_close_wait(SSL *ssl)
{
	int fd = SSL_get_fd(ssl);
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (SSL_shutdown(ssl) == 0) {
		char buf[256];
		for (int i = 0; i < 1000 && SSL_read(ssl, buf, sizeof buf) > 0; i++)
			;
	}
	SSL_free(ssl);
	close(fd);
}

static int read_exact(SSL *ssl, void *buf, int len)
{
	int got = 0;
	while (got < len) {
		int n = SSL_read(ssl, (char *)buf + got, len - got);
		if (n <= 0) {
			fprintf(stderr, "native: SSL_read failed after %d of %d bytes\n", got, len);
			ERR_print_errors_fp(stderr);
			return -1;
		}
		got += n;
	}
	return 0;
}

static int write_all(SSL *ssl, const void *buf, int len)
{
	/* SSL_write on a blocking socket (no partial writes) writes it all. */
	if (SSL_write(ssl, buf, len) == len)
		return 0;
	fprintf(stderr, "native: SSL_write failed\n");
	ERR_print_errors_fp(stderr);
	return -1;
}

static int bulk_recv(char **av)
{
	SSL_CTX *ctx = server_ctx(av[1], av[2]);
	int lfd = listen_on(av[0]);
	SSL *ssl = server_open(ctx, lfd);
	if (!ssl)
		return 1;
	static uint8_t buf[65536];
	struct cks c;
	memset(&c, 0, sizeof c);
	double t0 = 0;
	for (;;) {
		int n = SSL_read(ssl, buf, sizeof buf);
		if (n <= 0) {
			int err = SSL_get_error(ssl, n);
			if (err == SSL_ERROR_ZERO_RETURN)
				break;
			fprintf(stderr, "native: read error after %llu bytes (%s)\n",
			        (unsigned long long)c.n,
			        err == SSL_ERROR_SYSCALL ? "truncated: EOF without close_notify" : "TLS error");
			ERR_print_errors_fp(stderr);
			return 1;
		}
		if (c.n == 0)
			t0 = now();
		cks_update(&c, buf, (size_t)n);
	}
	double dt = now() - t0;
	ssl_close(ssl);
	close(lfd);
	SSL_CTX_free(ctx);
	printf("bytes %llu checksum %016llx\n", (unsigned long long)c.n,
	       (unsigned long long)cks_final(&c));
	fprintf(stderr, "native: %.1f MB/s (first byte to EOF)\n",
	        dt > 0 ? (double)c.n / dt / 1e6 : 0.0);
	return 0;
}

static int bulk_send(char **av)
{
	unsigned long long total = (unsigned long long)parse_num(av[2], "byte count"), done = 0;
	SSL_CTX *ctx = client_ctx(av[3]);
	SSL *ssl = client_open(ctx, av[0], av[1]);
	static uint8_t buf[CHUNK];
	struct cks c;
	memset(&c, 0, sizeof c);
	while (done < total) {
		int len = total - done < CHUNK ? (int)(total - done) : CHUNK;
		fill(buf, CHUNK);
		cks_update(&c, buf, (size_t)len);
		if (write_all(ssl, buf, len))
			return 1;
		done += (unsigned long long)len;
	}
	ssl_close_wait(ssl);
	SSL_CTX_free(ctx);
	printf("bytes %llu checksum %016llx\n", done, (unsigned long long)cks_final(&c));
	return 0;
}

#define SERVER_MAX_CONNS 10000000L /* servers are also bounded by alarm() */

static int pp_server(char **av)
{
	SSL_CTX *ctx = server_ctx(av[1], av[2]);
	int lfd = listen_on(av[0]);
	for (long i = 0; i < SERVER_MAX_CONNS; i++) {
		SSL *ssl = server_open(ctx, lfd);
		if (!ssl)
			continue;
		char buf[PP_LEN];
		if (read_exact(ssl, buf, PP_LEN) == 0)
			write_all(ssl, buf, PP_LEN);
		ssl_close(ssl);
	}
	return 0;
}

static int pp_client(char **av)
{
	long n = parse_num(av[2], "connection count");
	SSL_CTX *ctx = client_ctx(av[3]);
	char ping[PP_LEN + 1], pong[PP_LEN];
	double t0 = now();
	for (long i = 0; i < n; i++) {
		snprintf(ping, sizeof ping, "ping %026ld", i);
		SSL *ssl = client_open(ctx, av[0], av[1]);
		if (write_all(ssl, ping, PP_LEN) || read_exact(ssl, pong, PP_LEN))
			return 1;
		if (memcmp(ping, pong, PP_LEN)) {
			fprintf(stderr, "native: bad pong on connection %ld\n", i);
			return 1;
		}
		ssl_close(ssl);
	}
	double dt = now() - t0;
	SSL_CTX_free(ctx);
	printf("%ld connections in %.3f s: %.1f conn/s\n", n, dt, (double)n / dt);
	return 0;
}

/* As pp_client, a program that keeps its last session and offers it on
 * its next connection, as the shim's client cache does. */
static int pp_client_resume(char **av)
{
	long n = parse_num(av[2], "connection count"), resumed = 0;
	SSL_CTX *ctx = client_ctx(av[3]);
	char ping[PP_LEN + 1], pong[PP_LEN];
	double t0 = now();
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	for (long i = 0; i < n; i++) {
		snprintf(ping, sizeof ping, "ping %026ld", i);
		SSL *ssl = client_open(ctx, av[0], av[1]);
		resumed += SSL_session_reused(ssl) == 1;
		if (write_all(ssl, ping, PP_LEN) || read_exact(ssl, pong, PP_LEN))
			return 1;
		if (memcmp(ping, pong, PP_LEN)) {
			fprintf(stderr, "native: bad pong on connection %ld\n", i);
			return 1;
		}
		/* The tickets came before the pong: the latest session. */
		SSL_SESSION *sess = SSL_get1_session(ssl);
		if (sess && SSL_SESSION_is_resumable(sess)) {
			SSL_SESSION_free(offer);
			offer = sess;
		} else {
			SSL_SESSION_free(sess);
		}
		ssl_close(ssl);
	}
	double dt = now() - t0;
	SSL_SESSION_free(offer);
	SSL_CTX_free(ctx);
	printf("%ld connections in %.3f s: %.1f conn/s, %ld resumed\n", n, dt, (double)n / dt, resumed);
	return 0;
}

/* The descriptor limit for hold-server, as bench/hold.c raises it: soft and
 * hard to NATIVE_NOFILE (default /proc/sys/fs/nr_open) with
 * CAP_SYS_RESOURCE, else the soft limit to the hard one. */
static void raise_nofile(void)
{
	struct rlimit rl;
	rlim_t want = 0;
	const char *e = getenv("NATIVE_NOFILE");
	FILE *f;

	if (e && *e) {
		want = (rlim_t)strtoull(e, NULL, 10);
	} else if ((f = fopen("/proc/sys/fs/nr_open", "r"))) {
		unsigned long long v;
		if (fscanf(f, "%llu", &v) == 1)
			want = (rlim_t)v;
		fclose(f);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (want > rl.rlim_max) {
		struct rlimit up = { want, want };
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl = up;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	fprintf(stderr, "native: RLIMIT_NOFILE %llu\n", (unsigned long long)rl.rlim_cur);
}

/* hold-server: bench/hold.c with OpenSSL in the program. One thread, one
 * epoll instance, non-blocking sockets: each connection's handshake is
 * driven by SSL_accept as its socket becomes ready, then whatever arrives
 * is echoed back; EOF, an error or close_notify closes the connection. */
static void hold_drop(int ep, SSL *ssl, long *held)
{
	int fd = SSL_get_fd(ssl);
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	SSL_free(ssl);
	close(fd);
	(*held)--;
}

/* Re-arm fd for what OpenSSL waits for after a call that returned r. */
static int hold_want(int ep, SSL *ssl, int r)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = ssl };
	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_WANT_READ:
		break;
	case SSL_ERROR_WANT_WRITE:
		ev.events = EPOLLOUT;
		break;
	default:
		return -1;
	}
	return epoll_ctl(ep, EPOLL_CTL_MOD, SSL_get_fd(ssl), &ev);
}

static int hold_server(char **av)
{
	raise_nofile();
	SSL_CTX *ctx = server_ctx(av[1], av[2]);
	int lfd = listen_on(av[0]);
	int one = 1;
	long held = 0;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
	if (ep < 0 || fcntl(lfd, F_SETFL, O_NONBLOCK) < 0 || listen(lfd, 4096) < 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0)
		die_errno("hold-server: epoll");
	for (;;) {
		struct epoll_event evs[256];
		int n = epoll_wait(ep, evs, 256, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die_errno("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			SSL *ssl = evs[i].data.ptr;
			if (!ssl) {
				for (int k = 0; k < 64; k++) {
					int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
					if (fd < 0) {
						if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) {
							fprintf(stderr, "native: accept: %s after %ld connections;"
								" no more accepted\n", strerror(errno), held);
							epoll_ctl(ep, EPOLL_CTL_DEL, lfd, NULL);
						} else if (errno != EAGAIN && errno != EINTR &&
							   errno != ECONNABORTED) {
							die_errno("accept");
						}
						break;
					}
					/* As bench/hold.c: the echo must not wait (Nagle) for the
					 * ACK of the session tickets. */
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					if (!(ssl = SSL_new(ctx)))
						die_ssl("SSL_new");
					SSL_set_fd(ssl, fd);
					SSL_set_accept_state(ssl);
					struct epoll_event ev = { .events = EPOLLIN, .data.ptr = ssl };
					if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
						fprintf(stderr, "native: epoll_ctl: %s after %ld connections\n",
							strerror(errno), held);
						SSL_free(ssl);
						close(fd);
						continue;
					}
					held++;
				}
				continue;
			}
			if (!SSL_is_init_finished(ssl)) {
				int r = SSL_do_handshake(ssl);
				if (r != 1) {
					if (hold_want(ep, ssl, r) < 0) {
						ERR_clear_error();
						hold_drop(ep, ssl, &held);
					}
					continue;
				}
				report_params(ssl, "server");
			}
			/* Echo all that is there; OpenSSL may hold a record's
			 * plaintext the socket no longer shows, hence the loop. */
			char buf[512];
			int r;
			while ((r = SSL_read(ssl, buf, sizeof buf)) > 0)
				if (SSL_write(ssl, buf, r) != r)
					break;
			if (r > 0 || hold_want(ep, ssl, r) < 0) {
				ERR_clear_error();
				hold_drop(ep, ssl, &held);
			}
		}
	}
	return 0;   /* not reached: alarm() ends it */
}

/* ---- latency on a kept-open connection, and the threaded server ---- */

static void echo_ssl(SSL *ssl)
{
	char buf[16384];
	int n, one = 1;
	setsockopt(SSL_get_fd(ssl), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	while ((n = SSL_read(ssl, buf, sizeof buf)) > 0)
		if (write_all(ssl, buf, n))
			break;
	ssl_close(ssl);
}

static int lat_server(char **av)
{
	SSL_CTX *ctx = server_ctx(av[1], av[2]);
	int lfd = listen_on(av[0]);
	for (long i = 0; i < SERVER_MAX_CONNS; i++) {
		SSL *ssl = server_open(ctx, lfd);
		if (ssl)
			echo_ssl(ssl);
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(const double *v, long n, double p)
{
	long i = (long)(p * (double)n + 0.999999) - 1;
	return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

#define LAT_WARM 200

static int lat_client(char **av)
{
	long n = parse_num(av[2], "round trip count"), done = 0;
	SSL_CTX *ctx = client_ctx(av[3]);
	SSL *ssl = client_open(ctx, av[0], av[1]);
	int one = 1;
	setsockopt(SSL_get_fd(ssl), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	const char *ms = getenv("LAT_MAX_SECONDS");
	double limit = ms ? atof(ms) : 60;
	double *rtt = malloc(sizeof *rtt * (size_t)(n > 0 ? n : 1));
	char ping[PP_LEN], pong[PP_LEN];
	if (!rtt)
		return 1;
	double t0 = now(), tstart = 0;
	for (long i = 0; i < LAT_WARM + n; i++) {
		memset(ping, 'a' + (int)(i % 26), PP_LEN);
		double a = now();
		if (i == LAT_WARM)
			tstart = a;
		if (write_all(ssl, ping, PP_LEN) || read_exact(ssl, pong, PP_LEN))
			return 1;
		double b = now();
		if (memcmp(ping, pong, PP_LEN)) {
			fprintf(stderr, "native: bad echo at %ld\n", i);
			return 1;
		}
		if (i >= LAT_WARM)
			rtt[done++] = (b - a) * 1e6;
		if (b - t0 > limit)
			break;
	}
	double dt = now() - tstart;
	ssl_close_wait(ssl);
	SSL_CTX_free(ctx);
	qsort(rtt, (size_t)done, sizeof *rtt, cmp_double);
	double sum = 0;
	for (long i = 0; i < done; i++)
		sum += rtt[i];
	printf("rtt n %ld p50 %.1f p99 %.1f p999 %.1f mean %.1f max %.1f us rate %.1f/s\n", done,
	       pct(rtt, done, 0.50), pct(rtt, done, 0.99), pct(rtt, done, 0.999),
	       done ? sum / (double)done : 0, done ? rtt[done - 1] : 0, done / dt);
	free(rtt);
	return 0;
}

static SSL_CTX *thr_ctx;

static void *thr_serve(void *arg)
{
	SSL *ssl = arg;
	int fd = SSL_get_fd(ssl);
	if (SSL_accept(ssl) != 1) {
		SSL_free(ssl);
		close(fd);
		return NULL;
	}
	echo_ssl(ssl);
	return NULL;
}

static int thr_server(char **av)
{
	thr_ctx = server_ctx(av[1], av[2]);
	int lfd = listen_on(av[0]);
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, 256 * 1024);
	for (long i = 0; i < SERVER_MAX_CONNS; i++) {
		int fd = accept(lfd, NULL, NULL);
		pthread_t th;
		if (fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				die_errno("accept");
			continue;
		}
		SSL *ssl = SSL_new(thr_ctx);
		if (!ssl)
			die_ssl("SSL_new");
		SSL_set_fd(ssl, fd);
		if (pthread_create(&th, &at, thr_serve, ssl)) {
			SSL_free(ssl);
			close(fd);
		}
	}
	return 0;
}

static struct thr_job {
	const char *host, *port;
	SSL_CTX *ctx;
	long n;
	int failed;
} *jobs;

static int pp_once(SSL_CTX *ctx, const char *host, const char *port, long i)
{
	char ping[PP_LEN + 1], pong[PP_LEN];
	snprintf(ping, sizeof ping, "ping %026ld", i);
	SSL *ssl = client_open(ctx, host, port);
	if (write_all(ssl, ping, PP_LEN) || read_exact(ssl, pong, PP_LEN) || memcmp(ping, pong, PP_LEN)) {
		fprintf(stderr, "native: bad ping-pong on connection %ld\n", i);
		return -1;
	}
	ssl_close(ssl);
	return 0;
}

static void *thr_run(void *arg)
{
	struct thr_job *j = arg;
	for (long i = 0; i < j->n && !j->failed; i++)
		j->failed = pp_once(j->ctx, j->host, j->port, i) != 0;
	return NULL;
}

static int thr_client(char **av)
{
	long n = parse_num(av[2], "connection count"), t = parse_num(av[3], "thread count");
	if (t < 1 || t > 64)
		t = 1;
	SSL_CTX *ctx = client_ctx(av[4]);
	/* One connection first: resolves the address (connect_to caches it)
	 * before the threads share it. */
	if (pp_once(ctx, av[0], av[1], -1))
		return 1;
	pthread_t th[64];
	jobs = calloc((size_t)t, sizeof *jobs);
	if (!jobs)
		return 1;
	double t0 = now();
	for (long i = 0; i < t; i++) {
		jobs[i] = (struct thr_job){ av[0], av[1], ctx, n / t + (i < n % t), 0 };
		if (pthread_create(&th[i], NULL, thr_run, &jobs[i]))
			die_errno("pthread_create");
	}
	int failed = 0;
	for (long i = 0; i < t; i++) {
		pthread_join(th[i], NULL);
		failed |= jobs[i].failed;
	}
	double dt = now() - t0;
	if (failed)
		return 1;
	printf("%ld connections in %.3f s with %ld threads: %.1f conn/s\n", n, dt, t, (double)n / dt);
	return 0;
}

static const struct cmd {
	const char *name;
	int argc;
	int (*fn)(char **);
	const char *usage;
} cmds[] = {
	{ "bulk-recv", 3, bulk_recv, "PORT CERT KEY" },
	{ "bulk-send", 4, bulk_send, "HOST PORT BYTES CAFILE" },
	{ "pp-server", 3, pp_server, "PORT CERT KEY" },
	{ "pp-client", 4, pp_client, "HOST PORT N CAFILE" },
	{ "pp-client-resume", 4, pp_client_resume, "HOST PORT N CAFILE" },
	{ "hold-server", 3, hold_server, "PORT CERT KEY" },
	{ "lat-server", 3, lat_server, "PORT CERT KEY" },
	{ "lat-client", 4, lat_client, "HOST PORT N CAFILE" },
	{ "thr-server", 3, thr_server, "PORT CERT KEY" },
	{ "thr-client", 5, thr_client, "HOST PORT N THREADS CAFILE" },
	};

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	verbose = getenv("NATIVE_VERBOSE") != NULL;
	const char *t = getenv("NATIVE_TIMEOUT");
	alarm(t ? (unsigned)parse_num(t, "NATIVE_TIMEOUT") : 600);
	for (size_t i = 0; argc >= 2 && i < sizeof cmds / sizeof cmds[0]; i++)
		if (!strcmp(argv[1], cmds[i].name) && argc - 2 == cmds[i].argc)
			return cmds[i].fn(argv + 2);
	fprintf(stderr, "usage:\n");
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		fprintf(stderr, "  native %s %s\n", cmds[i].name, cmds[i].usage);
	return 2;
}
