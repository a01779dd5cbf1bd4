/* bulk — plain, blocking bulk transfer for throughput tests and benchmarks.
 *
 *   bulk send HOST PORT BYTES   connect, write BYTES of a pseudo-random
 *                               stream in 16 KiB write() calls, close
 *   bulk recv PORT              listen on 127.0.0.1:PORT, accept one
 *                               connection, read() to EOF
 *
 * Both print one result line on standard output:
 *     bytes N checksum HEX
 * and the sender's line equals the receiver's when every byte arrived in
 * order.  recv first prints "listening on 127.0.0.1 port N" (PORT 0: any
 * port), flushed.  A connection that ends before its first byte (a port
 * probe such as a plain connect-and-close, or a failed handshake) is
 * reported on standard error and ignored: recv accepts the next one.
 * Exit status: 0 ok, 1 I/O error, 2 usage or connect failure.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "stream.h"

#define CHUNK 16384

static int do_send(const char *host, const char *port, const char *bytes)
{
	static uint8_t buf[CHUNK];
	struct cks c;
	char *end;
	unsigned long long total = strtoull(bytes, &end, 10), done = 0;
	int fd;

	if (*end || !*bytes) {
		fprintf(stderr, "bulk: bad byte count: %s\n", bytes);
		return 2;
	}
	fd = dial_host("bulk", host, port, AF_UNSPEC, SOCK_STREAM);
	if (fd < 0)
		return 2;
	memset(&c, 0, sizeof c);
	while (done < total) {
		size_t len = total - done < CHUNK ? (size_t)(total - done) : CHUNK;
		size_t off = 0;
		fill(buf, CHUNK);
		cks_update(&c, buf, len);
		while (off < len) {
			ssize_t w = write(fd, buf + off, len - off);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				fprintf(stderr, "bulk: write: %s\n", strerror(errno));
				return 1;
			}
			off += (size_t)w;
		}
		done += len;
	}
	if (close(fd) < 0) {
		fprintf(stderr, "bulk: close: %s\n", strerror(errno));
		return 1;
	}
	printf("bytes %llu checksum %016llx\n", done, (unsigned long long)cks_final(&c));
	return 0;
}

static int do_recv(const char *port)
{
	static uint8_t buf[65536];
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	char *end;
	unsigned long p = strtoul(port, &end, 10);
	int fd;

	if (*end || !*port || p > 65535) {
		fprintf(stderr, "bulk: bad port: %s\n", port);
		return 2;
	}
	sin = loopback4((int)p);
	fd = tcp_listen(&sin, 0, 16);
	if (fd < 0) {
		perror("bulk: socket/bind/listen");
		return 1;
	}
	getsockname(fd, (struct sockaddr *)&sin, &len);
	printf("listening on 127.0.0.1 port %u\n", ntohs(sin.sin_port));
	fflush(stdout);

	for (;;) {
		struct cks c;
		int cfd = accept(fd, NULL, NULL);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("bulk: accept");
			return 1;
		}
		memset(&c, 0, sizeof c);
		for (;;) {
			ssize_t n = read(cfd, buf, sizeof buf);
			if (n == 0)
				break;
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (c.n == 0)
					break;
				fprintf(stderr, "bulk: read: %s (after %llu bytes)\n", strerror(errno),
					(unsigned long long)c.n);
				return 1;
			}
			cks_update(&c, buf, (size_t)n);
		}
		close(cfd);
		if (c.n == 0) {
			fprintf(stderr, "bulk: ignored a connection that carried no data\n");
			continue;
		}
		printf("bytes %llu checksum %016llx\n", (unsigned long long)c.n,
		       (unsigned long long)cks_final(&c));
		return 0;
	}
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 5 && strcmp(argv[1], "send") == 0)
		return do_send(argv[2], argv[3], argv[4]);
	if (argc == 3 && strcmp(argv[1], "recv") == 0)
		return do_recv(argv[2]);
	fprintf(stderr, "usage: bulk send HOST PORT BYTES\n       bulk recv PORT\n");
	return 2;
}
