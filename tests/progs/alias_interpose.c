/* alias_interpose — a program that interposes C library functions itself
 * and forwards each to the next definition of its second name, as
 * Erlang's runtime (beam.smp) does with sigaction(): it exports
 * sigaction() and calls dlsym(RTLD_NEXT, "__sigaction") from it
 * (tests/preload/escape.sh).
 *
 *   alias_interpose PORT SENTINEL
 *	sigaction -> __sigaction, signal -> ssignal, sysv_signal ->
 *	__sysv_signal, connect -> __connect, write -> __write, read ->
 *	__read, send -> __send, recv -> __recv: the next definitions are the
 *	library's second names, which must not call the program's functions
 *	again (the library looped between the two until the stack
 *	overflowed: beam.smp died with SIGSEGV at start).  Installs three
 *	handlers, connects to 127.0.0.1:PORT (a TLS rule), writes and sends
 *	a line "SENTINEL how", reads the echo back with read() and recv().
 *	Prints "echo ok" or what failed.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int depth; /* how deep the program's own wrappers are nested */

#define NEXT(type, alias)                                                     \
	static type next;                                                     \
	if (!next)                                                            \
		*(void **)&next = dlsym(RTLD_NEXT, alias);                    \
	if (!next || depth > 8)                                               \
		abort(); /* no next, or the library called us back in a loop */

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);
typedef __sighandler_t (*signal_fn)(int, __sighandler_t);
typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*read_fn)(int, void *, size_t);
typedef ssize_t (*send_fn)(int, const void *, size_t, int);
typedef ssize_t (*recv_fn)(int, void *, size_t, int);

#define FORWARD(expr)                                                         \
	do {                                                                  \
		__typeof__(expr) r_;                                          \
		depth++;                                                      \
		r_ = (expr);                                                  \
		depth--;                                                      \
		return r_;                                                    \
	} while (0)

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	NEXT(sigaction_fn, "__sigaction");
	FORWARD(next(sig, act, old));
}

__sighandler_t signal(int sig, __sighandler_t h)
{
	NEXT(signal_fn, "ssignal");
	FORWARD(next(sig, h));
}

__sighandler_t sysv_signal(int sig, __sighandler_t h)
{
	NEXT(signal_fn, "__sysv_signal");
	FORWARD(next(sig, h));
}

int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	NEXT(connect_fn, "__connect");
	FORWARD(next(fd, sa, len));
}

ssize_t write(int fd, const void *buf, size_t n)
{
	NEXT(write_fn, "__write");
	FORWARD(next(fd, buf, n));
}

ssize_t read(int fd, void *buf, size_t n)
{
	NEXT(read_fn, "__read");
	FORWARD(next(fd, buf, n));
}

ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	NEXT(send_fn, "__send");
	FORWARD(next(fd, buf, n, flags));
}

ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	NEXT(recv_fn, "__recv");
	FORWARD(next(fd, buf, n, flags));
}

static void on_usr1(int sig)
{
	(void)sig;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	char want[256], got[256];
	size_t len, l1, n = 0;
	int fd;

	if (argc != 3)
		return 2;
	a.sin_port = htons((unsigned short)atoi(argv[1]));
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) != 0 || signal(SIGUSR2, on_usr1) == SIG_ERR ||
	    sysv_signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		perror("sigaction/signal/sysv_signal");
		return 1;
	}
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		perror("connect");
		return 1;
	}
	l1 = (size_t)snprintf(want, sizeof want, "%s write\n", argv[2]);
	len = l1 + (size_t)snprintf(want + l1, sizeof want - l1, "%s send\n", argv[2]);
	if (write(fd, want, l1) != (ssize_t)l1 || send(fd, want + l1, len - l1, 0) != (ssize_t)(len - l1)) {
		perror("write/send");
		return 1;
	}
	while (n < len) {
		ssize_t r = (n == 0) ? read(fd, got, l1) : recv(fd, got + n, len - n, 0);

		if (r <= 0)
			break;
		n += (size_t)r;
	}
	if (n != len || memcmp(got, want, len)) {
		printf("echo: %zu bytes of %zu: %.*s\n", n, len, (int)n, got);
		return 1;
	}
	close(fd);
	printf("echo ok\n");
	return 0;
}
