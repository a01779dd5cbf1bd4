/* fc_verify — two host names on one IP address (virtual hosts), resolved
 * by different threads, and connections to that address (class 14).
 *
 *   fc_verify MODE PORT SENTINEL
 *
 * a.test and b.test must both resolve to 127.0.0.1 (/etc/hosts).
 *   name       thread 1 resolves a.test (getaddrinfo); thread 2 resolves
 *              b.test and connects to the address it got
 *   ambiguous  thread 1 resolves a.test, thread 2 resolves b.test; then a
 *              third thread, which resolved nothing, connects to 127.0.0.1
 * The connecting thread writes "SENTINEL MODE\n" and reads the echo.
 * Prints "connect: ok" and "echo: ok", or "connect: ERRNO"; exit 0 when
 * the echo came back, 1 when connect failed, 2 otherwise.
 */
#include <netdb.h>
#include <pthread.h>
#include <signal.h>

#include "fc_common.h"

static const char *sentinel, *mode;
static int port, status = 2;

static bool resolve(const char *name, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res;
	char ps[16];

	snprintf(ps, sizeof ps, "%d", port);
	if (getaddrinfo(name, ps, &hints, &res) != 0) {
		printf("resolve %s: failed\n", name);
		return false;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return true;
}

static void talk(const struct sockaddr_storage *ss, socklen_t len)
{
	char line[256], got[512];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ssize_t r;

	if (connect(fd, (const struct sockaddr *)ss, len) < 0) {
		printf("connect: %s\n", fc_err(errno));
		status = 1;
		close(fd);
		return;
	}
	printf("connect: ok\n");
	snprintf(line, sizeof line, "%s %s\n", sentinel, mode);
	if (write_all(fd, line, strlen(line)) < 0) {
		printf("write: %s\n", fc_err(errno));
	} else {
		r = fc_read_until(fd, got, sizeof got, line, 10000);
		printf("echo: %s\n", r > 0 && !strcmp(got, line) ? "ok" : "FAIL");
		if (r > 0 && !strcmp(got, line))
			status = 0;
	}
	close(fd);
}

static void *resolve_a(void *p)
{
	struct sockaddr_storage ss;
	socklen_t l;

	(void)p;
	resolve("a.test", &ss, &l);
	return NULL;
}

static void *resolve_b(void *p)
{
	struct sockaddr_storage ss;
	socklen_t l;

	if (resolve("b.test", &ss, &l) && p)
		talk(&ss, l);
	return NULL;
}

static void *nothing_resolved(void *p)
{
	struct sockaddr_storage ss;

	(void)p;
	talk(&ss, fc_addr("127.0.0.1", port, &ss));
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t a, b, c;

	if (argc != 4) {
		fprintf(stderr, "usage: fc_verify name|ambiguous PORT SENTINEL\n");
		return 2;
	}
	mode = argv[1];
	port = atoi(argv[2]);
	sentinel = argv[3];
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	fc_alarm(30);
	pthread_create(&a, NULL, resolve_a, NULL);
	pthread_join(a, NULL);
	pthread_create(&b, NULL, resolve_b, !strcmp(mode, "name") ? (void *)1 : NULL);
	pthread_join(b, NULL);
	if (!strcmp(mode, "ambiguous")) {
		pthread_create(&c, NULL, nothing_resolved, NULL);
		pthread_join(c, NULL);
	}
	return status;
}
