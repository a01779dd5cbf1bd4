/* config_clash — a plain echo server that, like lighttpd, exports functions
 * with the names of libconfig's API (config_init, config_read,
 * config_read_file, config_destroy, ...).  It knows nothing about TLS or
 * libconfig and never calls these functions itself.
 *
 *   config_clash PORT      127.0.0.1:PORT; serve one connection, then exit
 *
 * Linked with -rdynamic (see the Makefile), so the names are in its dynamic
 * symbol table, where the dynamic loader finds them before any library's.
 * A preloaded library that resolves libconfig's names dynamically (or a
 * libconfig whose internal calls do) would call these instead; each of them
 * prints "config_clash: NAME called" on standard error and aborts.
 *
 * Standard output: "listening on port N" once bound, "closed" when the
 * connection ended with EOF.  Exit status 0 when the connection ended with
 * EOF and everything read was written back, 1 otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

static void clash(const char *name)
{
	fprintf(stderr, "config_clash: %s called\n", name);
	abort();
}

/* The program's own "configuration API", as in lighttpd. */
void config_init(void) { clash("config_init"); }
void config_destroy(void) { clash("config_destroy"); }
int config_read(void) { clash("config_read"); return -1; }
int config_read_file(void) { clash("config_read_file"); return -1; }
int config_read_string(void) { clash("config_read_string"); return -1; }
void *config_lookup(void) { clash("config_lookup"); return NULL; }
void *config_root_setting(void) { clash("config_root_setting"); return NULL; }
void config_set_include_dir(void) { clash("config_set_include_dir"); }
int config_setting_length(void) { clash("config_setting_length"); return -1; }
void *config_setting_get_elem(void) { clash("config_setting_get_elem"); return NULL; }
void *config_setting_get_member(void) { clash("config_setting_get_member"); return NULL; }
const char *config_setting_get_string(void) { clash("config_setting_get_string"); return NULL; }

static int serve(int fd)
{
	char buf[16384];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);

		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "config_clash: read: %s\n", strerror(errno));
			return -1;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));

			if (w < 0) {
				if (errno == EINTR)
					continue;
				fprintf(stderr, "config_clash: write: %s\n", strerror(errno));
				return -1;
			}
			off += w;
		}
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof sa;
	int lfd, fd, rc;
	char *end;
	unsigned long port;

	if (argc != 2 || (port = strtoul(argv[1], &end, 10), *end) || port > 65535) {
		fprintf(stderr, "usage: config_clash PORT\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = tcp_listen(&sa, 0, 8)) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len) < 0) {
		fprintf(stderr, "config_clash: listen: %s\n", strerror(errno));
		return 1;
	}
	printf("listening on port %u\n", ntohs(sa.sin_port));
	fflush(stdout);
	while ((fd = accept(lfd, NULL, NULL)) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "config_clash: accept: %s\n", strerror(errno));
			return 1;
		}
	}
	rc = serve(fd);
	close(fd);
	if (rc == 0) {
		printf("closed\n");
		fflush(stdout);
	}
	close(lfd);
	return rc == 0 ? 0 : 1;
}
