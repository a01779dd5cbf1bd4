/* counts — the counts a wrapper walks, taken as the kernel takes them.
 *
 *   counts CASE PORT
 *
 * connects to 127.0.0.1:PORT (a TLS echo server; a connect rule names
 * the port) and runs CASE; prints "CASE ok", or "CASE FAIL: why", and
 * exits 0 only when ok.  The arrays a call walks end at a page that
 * cannot be read (an entry past the count the kernel reads faults):
 *  poll, ppoll, sys-poll, sys-ppoll   nfds with bit 32 set, one entry
 *       (the TLS connection, POLLOUT): the kernel reads nfds as an
 *       unsigned int, one entry; it answers 1, POLLOUT.  poll-plain: the
 *       same with a pipe holding a byte, POLLIN, no TLS fd in the set.
 *  sys-readv, sys-writev   syscall(SYS_readv/SYS_writev) of the TLS
 *       connection with bit 32 of the count set: the kernel takes the
 *       count's low 32 bits (import_iovec's unsigned nr_segs; Linux 6.18:
 *       one buffer moved), so the library moves one buffer, over TLS.
 *       With X_DIRECT set (the AddressSanitizer build, whose own poll
 *       interceptors, preloaded first, would walk the whole nfds_t before
 *       the library's), poll and ppoll are the library's, looked up in
 *       it: the overread is then the library's alone.
 *  epoll-max   epoll_wait on an instance holding the TLS connection
 *       (EPOLLOUT) with maxevents above the kernel's EP_MAX_EVENTS
 *       (INT_MAX / sizeof(struct epoll_event)): EINVAL.
 */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define HIGH(n) ((1UL << 32) | (unsigned long)(n))

static const char *name;

__attribute__((format(printf, 1, 2))) static int bad(const char *fmt, ...)
{
	va_list ap;

	printf("%s FAIL: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	return 1;
}

/* n bytes that end where an unreadable page begins. */
static void *at_page_end(size_t n)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED || mprotect(m + pg, (size_t)pg, PROT_NONE)) {
		perror("mmap");
		exit(2);
	}
	return m + pg - n;
}

static int tls_connect(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int s = socket(AF_INET, SOCK_STREAM, 0);

	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a)) {
		perror("connect");
		exit(2);
	}
	return s;
}

/* The loaded library's own name (dl_iterate_phdr). */
static int lib_name(struct dl_phdr_info *info, size_t size, void *arg)
{
	size_t n = strlen(info->dlpi_name);

	(void)size;
	if (n >= 13 && !strcmp(info->dlpi_name + n - 13, "libtlsshim.so")) {
		*(const char **)arg = info->dlpi_name;
		return 1;
	}
	return 0;
}

/* sym as the library defines it (X_DIRECT), or the ordinary binding. */
static void *fn(const char *sym, void *ordinary)
{
	const char *lib = NULL;
	void *h, *f;

	if (!getenv("X_DIRECT"))
		return ordinary;
	dl_iterate_phdr(lib_name, &lib);
	if (!lib || !(h = dlopen(lib, RTLD_LAZY | RTLD_NOLOAD)) || !(f = dlsym(h, sym))) {
		fprintf(stderr, "counts: the library's %s not found\n", sym);
		exit(2);
	}
	return f;
}

static int poll_case(int fd, short ev)
{
	int (*p_poll)(struct pollfd *, nfds_t, int) = fn("poll", (void *)poll);
	int (*p_ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *) =
		fn("ppoll", (void *)ppoll);
	struct pollfd *p = at_page_end(sizeof *p);
	struct timespec ts = { 10, 0 };
	long r = -2;

	*p = (struct pollfd){ .fd = fd, .events = ev };
	if (!strcmp(name, "poll") || !strcmp(name, "poll-plain"))
		r = p_poll(p, (nfds_t)HIGH(1), 10000);
	else if (!strcmp(name, "ppoll"))
		r = p_ppoll(p, (nfds_t)HIGH(1), &ts, NULL);
	else if (!strcmp(name, "sys-poll"))
		r = syscall(SYS_poll, p, HIGH(1), 10000);
	else if (!strcmp(name, "sys-ppoll"))
		r = syscall(SYS_ppoll, p, HIGH(1), &ts, NULL, 8);
	if (r != 1 || !(p->revents & ev))
		return bad("answered %ld (errno %d), not 1 with the event", r, r < 0 ? errno : 0);
	return 0;
}

int main(int argc, char **argv)
{
	int s, pfd[2];
	char buf[16] = "x";
	long r;

	if (argc != 3) {
		fprintf(stderr, "usage: counts CASE PORT\n");
		return 2;
	}
	name = argv[1];
	s = tls_connect(atoi(argv[2]));
	if (!strcmp(name, "poll-plain")) {
		if (pipe(pfd) || write(pfd[1], buf, 1) != 1)
			return bad("pipe: errno %d", errno);
		if (poll_case(pfd[0], POLLIN))
			return 1;
	} else if (strstr(name, "poll") && strcmp(name, "epoll-max")) {
		if (poll_case(s, POLLOUT))
			return 1;
	} else if (!strcmp(name, "sys-readv") || !strcmp(name, "sys-writev")) {
		struct iovec *v = at_page_end(sizeof *v);
		int rd = name[4] == 'r';

		/* sys-readv reads the echo of "ping" through the call, sys-writev
		 * sends "ping" through it and reads its echo */
		if (rd && write(s, "ping", 4) != 4)
			return bad("write: errno %d", errno);
		memcpy(buf, "ping", 4);
		*v = (struct iovec){ buf, rd ? sizeof buf : 4 };
		if (rd)
			memset(buf, 0, sizeof buf);
		errno = 0;
		r = syscall(rd ? SYS_readv : SYS_writev, s, v, HIGH(1));
		if (r != 4)
			return bad("answered %ld (errno %d), not 4 (one buffer, as the kernel)", r, errno);
		if (!rd && read(s, buf, 4) != 4)
			return bad("no echo");
		if (memcmp(buf, "ping", 4))
			return bad("the echo did not come back whole");
	} else if (!strcmp(name, "epoll-max")) {
		struct epoll_event e = { .events = EPOLLOUT }, *out = malloc(sizeof *out);
		int ep = epoll_create1(0);
		volatile int big;

		if (ep < 0 || !out || epoll_ctl(ep, EPOLL_CTL_ADD, s, &e))
			return bad("epoll: errno %d", errno);
		/* (the handshake done and POLLOUT there: an answer is at hand) */
		if (epoll_wait(ep, out, 1, 10000) != 1)
			return bad("epoll_wait(1): errno %d", errno);
		errno = 0;
		/* (volatile: GCC would see the count and refuse to build) */
		big = (int)(INT_MAX / sizeof *out) + 1;
		r = epoll_wait(ep, out, big, 0);
		if (r != -1 || errno != EINVAL)
			return bad("answered %ld (errno %d), not EINVAL", r, errno);
	} else {
		return bad("unknown case");
	}
	printf("%s ok\n", name);
	close(s);
	return 0;
}
