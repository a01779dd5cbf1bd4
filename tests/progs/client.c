/* client — a plain, blocking TCP client of the old school (think nc).
 * It knows nothing about TLS; tlsshim's tests run it under the shim.
 *
 *   client [-6] [-n] [-s] [-t] [-R] [-S] [-m|-v|-M|-f] HOST PORT
 *   client [-n] [-s] -U PATH          AF_UNIX stream socket
 *   client -d [-6] HOST PORT          UDP: stdin as one datagram, print the reply
 *
 * HOST is resolved with getaddrinfo() (IPv4; -6: IPv6) and every address is
 * tried with connect(); when none works: "client: connect: <strerror>",
 * exit 2.  Then all of standard input is written to the socket; at its end
 * shutdown(SHUT_WR) (not with -n); then everything received is copied to
 * standard output until read returns 0 (exit 0) or -1 ("client: read:
 * <strerror>", exit 3).  A failed write: "client: write: <strerror>", exit 4.
 *   -s  the server speaks first: do not read standard input, only receive.
 *   -t  full duplex: a second thread sends standard input while the main
 *       thread receives (for inputs larger than the socket buffers).
 *   -m  recv()/send()   -v  readv()/writev()   -M  recvmsg()/sendmsg()
 *   -f  recvfrom()/sendto()
 *   -S  send standard input with sendfile() (it must be a regular file)
 *   -R  at the end of input shutdown(SHUT_RDWR), and exit 0 without reading
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "common.h"
#include "io_mode.h"

static enum io_mode mode = IO_RW;
static int no_shutdown, use_sendfile, shut_rdwr;

static int mode_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = io_write(mode, fd, buf, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Copy standard input to the socket; 0, or 4 after printing the error. */
static int send_stdin(int fd)
{
	char buf[16384];

	if (use_sendfile) {
		struct stat st;
		off_t left;
		if (fstat(0, &st) < 0 || !S_ISREG(st.st_mode)) {
			fprintf(stderr, "client: -S: standard input is not a regular file\n");
			return 4;
		}
		for (left = st.st_size; left > 0;) {
			ssize_t n = sendfile(fd, 0, NULL, (size_t)left);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				fprintf(stderr, "client: sendfile: %s\n", strerror(errno));
				return 4;
			}
			if (n == 0)
				break;
			left -= n;
		}
	}
	for (;;) {
		ssize_t n = read(0, buf, sizeof buf);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "client: stdin: %s\n", strerror(errno));
			return 4;
		}
		if (mode_write_all(fd, buf, (size_t)n) < 0) {
			fprintf(stderr, "client: write: %s\n", strerror(errno));
			return 4;
		}
	}
	if (!no_shutdown && shutdown(fd, shut_rdwr ? SHUT_RDWR : SHUT_WR) < 0) {
		fprintf(stderr, "client: shutdown: %s\n", strerror(errno));
		return 4;
	}
	return 0;
}

static void *sender(void *arg)
{
	int fd = *(int *)arg;
	return (void *)(long)send_stdin(fd);
}

static int receive(int fd)
{
	char buf[16384];

	for (;;) {
		ssize_t n = io_read(mode, fd, buf, sizeof buf);
		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "client: read: %s\n", strerror(errno));
			return 3;
		}
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n) {
			perror("client: stdout");
			return 5;
		}
		fflush(stdout);
	}
}

static int udp_exchange(int fd)
{
	static char buf[65536];
	ssize_t n = read(0, buf, sizeof buf);
	struct timeval tv = { 5, 0 };

	if (n < 0) {
		perror("client: stdin");
		return 4;
	}
	if (write(fd, buf, (size_t)n) < 0) {
		fprintf(stderr, "client: write: %s\n", strerror(errno));
		return 4;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	n = read(fd, buf, sizeof buf);
	if (n < 0) {
		fprintf(stderr, "client: read: %s\n", strerror(errno));
		return 3;
	}
	fwrite(buf, 1, (size_t)n, stdout);
	fflush(stdout);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: client [-6] [-n] [-s] [-t] [-R] [-S] [-m|-v|-M|-f] HOST PORT\n"
			"       client [-n] [-s] -U PATH\n"
			"       client -d [-6] HOST PORT\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int v6 = 0, speak_first = 0, duplex = 0, udp = 0, opt, fd = -1, rc;
	const char *unix_path = NULL;

	while ((opt = getopt(argc, argv, "6nstfmvMRSU:d")) != -1) {
		switch (opt) {
		case '6': v6 = 1; break;
		case 'n': no_shutdown = 1; break;
		case 's': speak_first = 1; break;
		case 't': duplex = 1; break;
		case 'm': mode = IO_RECVSEND; break;
		case 'f': mode = IO_FROMTO; break;
		case 'S': use_sendfile = 1; break;
		case 'R': shut_rdwr = 1; break;
		case 'v': mode = IO_VEC; break;
		case 'M': mode = IO_MSG; break;
		case 'U': unix_path = optarg; break;
		case 'd': udp = 1; break;
		default: usage();
		}
	}
	if (unix_path ? optind != argc : optind != argc - 2)
		usage();
	signal(SIGPIPE, SIG_IGN);

	if (unix_path) {
		struct sockaddr_un sun;
		memset(&sun, 0, sizeof sun);
		if (strlen(unix_path) >= sizeof sun.sun_path)
			usage();
		sun.sun_family = AF_UNIX;
		strcpy(sun.sun_path, unix_path);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
			fprintf(stderr, "client: connect: %s\n", strerror(errno));
			return 2;
		}
	} else {
		fd = dial_host("client", argv[optind], argv[optind + 1], v6 ? AF_INET6 : AF_INET,
			       udp ? SOCK_DGRAM : SOCK_STREAM);
		if (fd < 0)
			return 2;
	}

	if (udp)
		return udp_exchange(fd);

	if (speak_first) {
		rc = receive(fd);
	} else if (duplex) {
		pthread_t t;
		void *ret;
		if (pthread_create(&t, NULL, sender, &fd) != 0) {
			fprintf(stderr, "client: pthread_create failed\n");
			return 6;
		}
		rc = receive(fd);
		if (rc != 0)
			return rc;	/* the sender may be stuck; exit takes it */
		pthread_join(t, &ret);
		if (rc == 0 && ret)
			rc = (int)(long)ret;
	} else {
		rc = send_stdin(fd);
		if (rc == 0 && !shut_rdwr)
			rc = receive(fd);
	}
	close(fd);
	return rc;
}
