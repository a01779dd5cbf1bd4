/* fc_entry — the less travelled ways into a TCP connection, as legacy
 * programs and libraries use them, against an echo peer.
 *
 *   fc_entry fastopen IP PORT SENTINEL   (class 3)
 *       sendmmsg(), sendto() and sendmsg() with MSG_FASTOPEN to IP:PORT:
 *       each must fail with EOPNOTSUPP.  Then TCP_FASTOPEN_CONNECT, a
 *       blocking connect() and write(): the echo must come back.  Then the
 *       same on a non-blocking socket (poll for the connect, write, read).
 *   fc_entry entry IP PORT SENTINEL      (class 5)
 *       connect with __connect (found with dlsym); aio_write, aio_read,
 *       lio_listio must fail with EOPNOTSUPP; then each of __write, __send,
 *       pwritev2(-1), dprintf, vdprintf, syscall(SYS_write),
 *       syscall(SYS_sendto), __dup2's copy, __fcntl(F_DUPFD)'s copy
 *       writes a line and reads its echo (with __recv, __read, preadv2(-1),
 *       syscall(SYS_read), syscall(SYS_recvfrom), read); __close ends the
 *       copies.  A second connection is made with syscall(SYS_connect).
 *       io_uring_setup through syscall() must fail with ENOSYS, also
 *       with high bits set in its number (the kernel reads the low 32
 *       bits alone), and syscall((5L << 32) | SYS_write) writes a line
 *       whose echo syscall(0xffffffff00000000 | SYS_read) reads: over
 *       TLS (before h210 the high bits took such a number past the
 *       wrappers: the line went out in clear).
 *       eventfd_write() and eventfd_read() (the C library's internal
 *       write and read of 8 bytes) send "evfd-8b\n" and read its echo.
 *       backtrace_symbols_fd() (the C library's internal writev) writes
 *       four frames: the echo must be the lines it writes into a pipe.
 *       Last, dup2(fd, 1), printf, fflush: the echo must come back.
 *   fc_entry sysfork IP PORT SENTINEL    (class 5, syscall())
 *       connect, write a line and read its echo (the session is live),
 *       then fork with syscall(SYS_clone, SIGCHLD): the child writes a line
 *       and _exit()s; the parent waits, writes a line, and reads the
 *       echoes.  Prints "child: wrote|ERRNO" and what the parent read; the
 *       peer must never see one session encrypted by two processes.
 *   fc_entry uring                        io_uring_setup through syscall():
 *       prints "uring fd" or "uring ERRNO" (the caller decides).
 *   fc_entry x32 IP PORT SENTINEL        (class 5, syscall())
 *       connect; syscall(__X32_SYSCALL_BIT | SYS_write) of a line must
 *       fail with ENOSYS (under preload_x32.so, a kernel with x32: before
 *       h210 the line went out in clear); then a line's echo comes back.
 *   fc_entry x32probe                     that call on standard output:
 *       prints "x32 write: N" or "x32 write: ERRNO".
 *   fc_entry widths IP PORT SENTINEL     (class 5, syscall())
 *       arguments with high bits the kernel does not read (its int and
 *       unsigned int parameters take a register's low 32 bits): a line
 *       written with syscall(SYS_write), SYS_sendto (flags too),
 *       SYS_writev (the count too) and SYS_sendmsg on (5L << 32) | fd
 *       comes back, over TLS; after a line's echo is in, syscall(SYS_poll)
 *       and SYS_ppoll of one pollfd with nfds (1L << 32) | 1 (the kernel's
 *       unsigned int: one) answer 1 and POLLIN, as does poll() given that
 *       nfds_t (before h214 the library walked 2^32 + 1 entries: SIGSEGV
 *       or ENOMEM; that last call not with FC_NO_LIBC_POLL set);
 *       syscall(SYS_unshare, (1L << 32) | CLONE_FS) fails with EINVAL,
 *       the kernel's answer to flags it does not know (before h214 the
 *       library dropped the high bits and unshared).  close_range from
 *       2^31 to ~0U (through syscall() and the C library): 0, and a line
 *       written after it comes back over TLS (before h214 the library
 *       read the first as INT_MIN and ended every session from fd 0).
 *       dup3 with flag bit 31 set (C library and syscall(), onto another
 *       number and onto fd itself): EINVAL, as the kernel says (before
 *       h214 the library made a dup2 of it).
 *   fc_entry connect IP PORT SENTINEL    (class 7)
 *       connect() to IP (a wildcard), write a line, read its echo.
 *   fc_entry again IP PORT OTHER-IP OTHER-PORT GATE SENTINEL   (class 8)
 *       non-blocking connect() to IP:PORT (prints "first: ERRNO"); while it
 *       is in progress connect() to OTHER: prints "second: ERRNO"; then
 *       waits for the file GATE, polls until connected, connect()s to
 *       OTHER twice more ("third: 0|EISCONN", "fourth: EISCONN": the
 *       kernel's answers), writes a line and reads its echo.
 *
 * Lines written are "SENTINEL STEP\n".  Results go to standard error, one
 * "step NAME: ok" or "step NAME: FAIL reason" each; exit 0 when all ok.
 */
#include <aio.h>
#include <execinfo.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "fc_common.h"

static const char *sentinel;
static int failures;

static void step(const char *name, bool ok, const char *fmt, ...)
{
	char why[512] = "";

	if (!ok && fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, sizeof why, fmt, ap);
		va_end(ap);
	}
	fprintf(stderr, "step %s: %s%s\n", name, ok ? "ok" : "FAIL ", ok ? "" : why);
	if (!ok)
		failures++;
}

static int mkline(char *buf, size_t n, const char *name)
{
	return snprintf(buf, n, "%s %s\n", sentinel, name);
}

/* Read the echo of `want` from fd with a read function of the caller's. */
typedef ssize_t (*reader_fn)(int fd, void *buf, size_t n);

static bool echo_back(int fd, const char *want, reader_fn rd, char *got, size_t cap)
{
	size_t n = strlen(want), have = 0;
	double end = fc_now() + 10;

	got[0] = 0;
	while (have < n && have + 1 < cap && fc_now() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 1000) <= 0)
			continue;
		r = rd(fd, got + have, n - have);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0) {
			snprintf(got + have, cap - have, " [read %zd: %s]", r, fc_err(errno));
			return false;
		}
		have += (size_t)r;
		got[have] = 0;
	}
	return !strcmp(got, want);
}

static ssize_t rd_read(int fd, void *b, size_t n) { return read(fd, b, n); }

/* ---- class 3 -------------------------------------------------------------- */

static int fastopen(const char *ip, int port)
{
	struct sockaddr_storage ss;
	socklen_t l = fc_addr(ip, port, &ss);
	char line[256], got[512];
	int one = 1, s, n;
	ssize_t r;

	/* sendmmsg / sendto / sendmsg with MSG_FASTOPEN */
	{
		struct iovec iov;
		struct mmsghdr mm;

		s = socket(ss.ss_family, SOCK_STREAM, 0);
		n = mkline(line, sizeof line, "fastopen-sendmmsg");
		iov = (struct iovec){ line, (size_t)n };
		memset(&mm, 0, sizeof mm);
		mm.msg_hdr.msg_name = &ss;
		mm.msg_hdr.msg_namelen = l;
		mm.msg_hdr.msg_iov = &iov;
		mm.msg_hdr.msg_iovlen = 1;
		r = sendmmsg(s, &mm, 1, MSG_FASTOPEN);
		step("sendmmsg-MSG_FASTOPEN", r < 0 && errno == EOPNOTSUPP, "returned %zd errno %s", r,
		     fc_err(errno));
		close(s);

		s = socket(ss.ss_family, SOCK_STREAM, 0);
		n = mkline(line, sizeof line, "fastopen-sendto");
		r = sendto(s, line, (size_t)n, MSG_FASTOPEN, (struct sockaddr *)&ss, l);
		step("sendto-MSG_FASTOPEN", r < 0 && errno == EOPNOTSUPP, "returned %zd errno %s", r,
		     fc_err(errno));
		close(s);

		s = socket(ss.ss_family, SOCK_STREAM, 0);
		n = mkline(line, sizeof line, "fastopen-sendmsg");
		iov = (struct iovec){ line, (size_t)n };
		r = sendmsg(s, &mm.msg_hdr, MSG_FASTOPEN);
		step("sendmsg-MSG_FASTOPEN", r < 0 && errno == EOPNOTSUPP, "returned %zd errno %s", r,
		     fc_err(errno));
		close(s);
	}
	/* TCP_FASTOPEN_CONNECT, blocking */
	s = socket(ss.ss_family, SOCK_STREAM, 0);
	if (setsockopt(s, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one, sizeof one) < 0) {
		step("TCP_FASTOPEN_CONNECT-setsockopt", false, "%s", fc_err(errno));
	} else if (connect(s, (struct sockaddr *)&ss, l) < 0) {
		step("TCP_FASTOPEN_CONNECT-blocking", false, "connect: %s", fc_err(errno));
	} else {
		n = mkline(line, sizeof line, "tfo-connect-blocking");
		if (write_all(s, line, (size_t)n) < 0)
			step("TCP_FASTOPEN_CONNECT-blocking", false, "write: %s", fc_err(errno));
		else
			step("TCP_FASTOPEN_CONNECT-blocking", echo_back(s, line, rd_read, got, sizeof got),
			     "echo %s", got);
	}
	close(s);
	/* TCP_FASTOPEN_CONNECT, non-blocking: encrypted, or a failure */
	s = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	(void)setsockopt(s, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one, sizeof one);
	r = connect(s, (struct sockaddr *)&ss, l);
	{
		int e = r < 0 ? errno : 0;
		bool ok = true;
		n = mkline(line, sizeof line, "tfo-connect-nonblocking");
		if (r < 0 && e != EINPROGRESS) {
			fprintf(stderr, "note: non-blocking TCP_FASTOPEN_CONNECT connect: %s\n", fc_err(e));
		} else {
			double end = fc_now() + 10;
			size_t off = 0;
			while (off < (size_t)n && fc_now() < end) {
				struct pollfd p = { .fd = s, .events = POLLOUT };
				poll(&p, 1, 500);
				r = write(s, line + off, (size_t)n - off);
				if (r > 0)
					off += (size_t)r;
				else if (r < 0 && errno != EAGAIN && errno != EINPROGRESS && errno != EINTR)
					break;
			}
			if (off == (size_t)n)
				ok = echo_back(s, line, rd_read, got, sizeof got);
			else
				snprintf(got, sizeof got, "write: %zd %s", r, fc_err(errno));
			fprintf(stderr, "note: non-blocking TCP_FASTOPEN_CONNECT: %s\n", ok && off == (size_t)n ?
				"echo ok" : got);
		}
	}
	close(s);
	return failures ? 1 : 0;
}

/* ---- class 5 -------------------------------------------------------------- */

static int (*p_connect)(int, const struct sockaddr *, socklen_t);
static ssize_t (*p_write)(int, const void *, size_t);
static ssize_t (*p_read)(int, void *, size_t);
static ssize_t (*p_send)(int, const void *, size_t, int);
static ssize_t (*p_recv)(int, void *, size_t, int);
static int (*p_dup2)(int, int);
static int (*p_fcntl)(int, int, ...);
static int (*p_close)(int);

static ssize_t rd_recv(int fd, void *b, size_t n) { return p_recv(fd, b, n, 0); }
static ssize_t rd_dread(int fd, void *b, size_t n) { return p_read(fd, b, n); }
static ssize_t rd_preadv2(int fd, void *b, size_t n)
{
	struct iovec iov = { b, n };
	return preadv2(fd, &iov, 1, -1, 0);
}
static ssize_t rd_sysread(int fd, void *b, size_t n) { return syscall(SYS_read, fd, b, n); }
/* A system call number with high bits set: the kernel reads the low 32
 * bits alone (x86_64 sign-extends %eax), so this is the call named. */
#define HIGH(no) ((long)((unsigned long)(no) | 0x500000000UL))
static ssize_t rd_syshigh(int fd, void *b, size_t n)
{
	return syscall((long)((unsigned long)SYS_read | 0xffffffff00000000UL), fd, b, n);
}
static ssize_t rd_sysrecvfrom(int fd, void *b, size_t n)
{
	return syscall(SYS_recvfrom, fd, b, n, 0, NULL, NULL);
}

static int my_vdprintf(int fd, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vdprintf(fd, fmt, ap);
	va_end(ap);
	return r;
}

/* write with WRITE (returning the count), then read the echo with RD. */
#define ROUND(NAME, FD, WRITE, RD) do {                                            \
		char line_[256], got_[512];                                        \
		int n_ = mkline(line_, sizeof line_, NAME);                        \
		ssize_t w_ = (WRITE);                                              \
		if (w_ != n_)                                                      \
			step(NAME, false, "write returned %zd (%s)", w_, fc_err(errno)); \
		else                                                               \
			step(NAME, echo_back(FD, line_, RD, got_, sizeof got_),    \
			     "echo \"%s\"", got_);                                 \
	} while (0)

static void *sym(const char *name)
{
	void *p = dlsym(RTLD_DEFAULT, name);

	if (!p) {
		fprintf(stderr, "dlsym %s: %s\n", name, dlerror());
		exit(2);
	}
	return p;
}

static int entry(const char *ip, int port)
{
	struct sockaddr_storage ss;
	socklen_t l = fc_addr(ip, port, &ss);
	int fd, d2, d3, s2, r;

	p_connect = sym("__connect");
	p_write = sym("__write");
	p_read = sym("__read");
	p_send = sym("__send");
	p_recv = sym("__recv");
	p_dup2 = sym("__dup2");
	p_fcntl = sym("__fcntl");
	p_close = sym("__close");

	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (p_connect(fd, (struct sockaddr *)&ss, l) < 0) {
		step("__connect", false, "%s", fc_err(errno));
		return 1;
	}
	step("__connect", true, NULL);

	/* POSIX aio: refused on a TLS fd. */
	{
		char line[256];
		int n = mkline(line, sizeof line, "aio_write");
		struct aiocb cb = { .aio_fildes = fd, .aio_buf = line, .aio_nbytes = (size_t)n };
		struct aiocb rb = { .aio_fildes = fd, .aio_buf = line, .aio_nbytes = sizeof line };
		struct aiocb lb = { .aio_fildes = fd, .aio_buf = line, .aio_nbytes = (size_t)n,
				    .aio_lio_opcode = LIO_WRITE };
		struct aiocb *list[1] = { &lb };

		r = aio_write(&cb);
		step("aio_write", r < 0 && errno == EOPNOTSUPP, "returned %d errno %s", r, fc_err(errno));
		if (r == 0) {
			const struct aiocb *w[1] = { &cb };
			aio_suspend(w, 1, NULL);
		}
		r = aio_read(&rb);
		step("aio_read", r < 0 && errno == EOPNOTSUPP, "returned %d errno %s", r, fc_err(errno));
		if (r == 0) {
			aio_cancel(fd, &rb);
		}
		mkline(line, sizeof line, "lio_listio");
		lb.aio_nbytes = strlen(line);
		r = lio_listio(LIO_WAIT, list, 1, NULL);
		step("lio_listio", r < 0 && errno == EOPNOTSUPP, "returned %d errno %s", r, fc_err(errno));
	}

	ROUND("__write", fd, p_write(fd, line_, (size_t)n_), rd_recv);
	ROUND("__send", fd, p_send(fd, line_, (size_t)n_, 0), rd_dread);
	{
		struct iovec iov2[2];
		ROUND("pwritev2", fd,
		      (iov2[0] = (struct iovec){ line_, 5 }, iov2[1] = (struct iovec){ line_ + 5, (size_t)n_ - 5 },
		       pwritev2(fd, iov2, 2, -1, 0)), rd_preadv2);
	}
	ROUND("dprintf", fd, dprintf(fd, "%s", line_), rd_sysread);
	ROUND("vdprintf", fd, my_vdprintf(fd, "%s", line_), rd_sysrecvfrom);
	ROUND("syscall-SYS_write", fd, syscall(SYS_write, fd, line_, (size_t)n_), rd_read);
	ROUND("syscall-SYS_sendto", fd, syscall(SYS_sendto, fd, line_, (size_t)n_, 0, NULL, 0), rd_read);

	d2 = p_dup2(fd, 20);
	if (d2 != 20)
		step("__dup2", false, "returned %d (%s)", d2, fc_err(errno));
	else
		ROUND("__dup2", 20, write(20, line_, (size_t)n_), rd_read);
	d3 = p_fcntl(fd, F_DUPFD, 30);
	if (d3 < 30)
		step("__fcntl-F_DUPFD", false, "returned %d (%s)", d3, fc_err(errno));
	else
		ROUND("__fcntl-F_DUPFD", d3, write(d3, line_, (size_t)n_), rd_read);
	step("__close-copies", p_close(20) == 0 && (d3 < 0 || p_close(d3) == 0), "%s", fc_err(errno));
	ROUND("write-after-__close-of-copies", fd, write(fd, line_, (size_t)n_), rd_read);

	/* A second connection made with syscall(SYS_connect). */
	s2 = socket(ss.ss_family, SOCK_STREAM, 0);
	if (syscall(SYS_connect, s2, (struct sockaddr *)&ss, l) < 0)
		step("syscall-SYS_connect", false, "%s", fc_err(errno));
	else
		ROUND("syscall-SYS_connect", s2, syscall(SYS_write, s2, line_, (size_t)n_), rd_read);
	close(s2);

	/* io_uring would move bytes past every wrapper. */
	{
		struct io_uring_params p;
		long u;
		memset(&p, 0, sizeof p);
		u = syscall(SYS_io_uring_setup, 4, &p);
		step("io_uring_setup-ENOSYS", u < 0 && errno == ENOSYS, "returned %ld errno %s", u, fc_err(errno));
		if (u >= 0)
			close((int)u);
		/* The kernel reads a number's low 32 bits alone: the same call. */
		memset(&p, 0, sizeof p);
		u = syscall(HIGH(SYS_io_uring_setup), 4, &p);
		step("io_uring_setup-high-ENOSYS", u < 0 && errno == ENOSYS, "returned %ld errno %s", u,
		     fc_err(errno));
		if (u >= 0)
			close((int)u);
	}
	ROUND("syscall-SYS_write-high", fd, syscall(HIGH(SYS_write), fd, line_, (size_t)n_), rd_syshigh);

	/* eventfd_write()/eventfd_read(): the C library's internal write and
	 * read of 8 bytes. */
	{
		eventfd_t v, back = 0;
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		int w, rr = -1;

		memcpy(&v, "evfd-8b\n", sizeof v);
		w = eventfd_write(fd, v);
		if (w == 0 && poll(&pf, 1, 10000) == 1)
			rr = eventfd_read(fd, &back);
		step("eventfd_write-eventfd_read", w == 0 && rr == 0 && back == v,
		     "write %d, read %d (%s), echo \"%.8s\"", w, rr, fc_err(errno), (char *)&back);
	}

	/* backtrace_symbols_fd() writes with the C library's internal writev:
	 * its lines (as it writes them into a pipe) come back as the echo. */
	{
		void *bt[4];
		int k = backtrace(bt, 4), p[2];
		char want[4096], got[4096];
		ssize_t wn;

		if (pipe(p) < 0) {
			step("backtrace_symbols_fd", false, "pipe: %s", fc_err(errno));
		} else {
			backtrace_symbols_fd(bt, k, p[1]);
			close(p[1]);
			wn = read(p[0], want, sizeof want - 1);
			close(p[0]);
			want[wn > 0 ? wn : 0] = 0;
			backtrace_symbols_fd(bt, k, fd);
			step("backtrace_symbols_fd", wn > 0 && echo_back(fd, want, rd_read, got, sizeof got),
			     "echo \"%s\" of \"%s\"", got, want);
		}
	}

	/* stdio on a TLS fd: dup2 onto standard output, printf, fflush. */
	fflush(stdout);
	if (dup2(fd, 1) != 1) {
		step("stdio-printf", false, "dup2: %s", fc_err(errno));
	} else {
		char line[256], got[512];
		mkline(line, sizeof line, "stdio-printf");
		printf("%s", line);
		if (fflush(stdout) != 0)
			step("stdio-printf", false, "fflush: %s", fc_err(errno));
		else
			step("stdio-printf", echo_back(fd, line, rd_read, got, sizeof got), "echo \"%s\"", got);
	}
	p_close(1);
	p_close(fd);
	return failures ? 1 : 0;
}

static int uring(void)
{
	struct io_uring_params p;
	long u;

	memset(&p, 0, sizeof p);
	u = syscall(SYS_io_uring_setup, 4, &p);
	if (u >= 0) {
		printf("uring fd\n");
		close((int)u);
		return 0;
	}
	printf("uring %s\n", fc_err(errno));
	return 1;
}

static int sysfork(const char *ip, int port)
{
	char line[256], got[1024];
	int fd = fc_connect(ip, port), st = 0;
	long pid;

	if (fd < 0) {
		step("sysfork-connect", false, "%s", fc_err(errno));
		return 1;
	}
	mkline(line, sizeof line, "before-sysfork");
	if (write_all(fd, line, strlen(line)) < 0 || !echo_back(fd, line, rd_read, got, sizeof got)) {
		step("sysfork-live-session", false, "echo \"%s\" (%s)", got, fc_err(errno));
		return 1;
	}
	fflush(stdout);
	fflush(stderr);
	pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (pid == 0) {
		mkline(line, sizeof line, "child-after-sysfork");
		if (write_all(fd, line, strlen(line)) < 0) {
			fprintf(stderr, "child: %s\n", fc_err(errno));
			_exit(1);
		}
		fprintf(stderr, "child: wrote\n");
		_exit(0);
	}
	if (pid < 0) {
		step("sysfork", false, "clone: %s", fc_err(errno));
		return 1;
	}
	{
		double end = fc_now() + 15;
		while (waitpid((pid_t)pid, &st, WNOHANG) == 0 && fc_now() < end)
			usleep(10000);
	}
	mkline(line, sizeof line, "parent-after-sysfork");
	if (write_all(fd, line, strlen(line)) < 0) {
		fprintf(stderr, "parent: write: %s\n", fc_err(errno));
	} else {
		ssize_t r = fc_read_until(fd, got, sizeof got, line, 5000);
		fprintf(stderr, "parent: read %zd: %s\n", r, got);
	}
	close(fd);
	return 0;
}

/* ---- argument widths (syscall()) ----------------------------------------- */

/* The kernel reads an int or unsigned int argument as a register's low 32
 * bits: high bits set on a descriptor, flags or count name the same call. */
#define WIDE(v) ((long)((unsigned long)(unsigned int)(v) | 0x500000000UL))

/* The echo of the line just written has arrived (read nothing): a poll of
 * ours, then the call under test. */
static bool echo_waiting(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 10000) == 1 && (p.revents & POLLIN);
}

/* One pollfd, nfds with bit 32 set (the kernel's unsigned int reads 1):
 * how: 0 syscall(SYS_poll), 1 syscall(SYS_ppoll), 2 poll() itself. */
static void wide_poll(int fd, int how, const char *name)
{
	char line[256], got[512];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct timespec ts = { 10, 0 };
	unsigned long n = (1UL << 32) | 1;
	/* (through a pointer, as a program's own prototype would: the
	 * compiler would flag the count, which only the kernel reads right) */
	int (*volatile poll_fn)(struct pollfd *, nfds_t, int) = poll;
	long r;

	mkline(line, sizeof line, name);
	if (write_all(fd, line, strlen(line)) < 0 || !echo_waiting(fd)) {
		step(name, false, "write or echo: %s", fc_err(errno));
		return;
	}
	r = how == 0 ? syscall(SYS_poll, &p, n, 10000) :
	    how == 1 ? syscall(SYS_ppoll, &p, n, &ts, NULL, (size_t)8) : poll_fn(&p, (nfds_t)n, 10000);
	if (r != 1 || !(p.revents & POLLIN)) {
		step(name, false, "returned %ld revents %#x errno %s", r, p.revents, fc_err(errno));
		return;
	}
	step(name, echo_back(fd, line, rd_read, got, sizeof got), "echo \"%s\"", got);
}

static int widths(const char *ip, int port)
{
	int fd = fc_connect(ip, port);
	long r;

	if (fd < 0) {
		step("widths-connect", false, "%s", fc_err(errno));
		return 1;
	}
	ROUND("wide-SYS_write", fd, syscall(SYS_write, WIDE(fd), line_, (size_t)n_), rd_read);
	ROUND("wide-SYS_sendto", fd, syscall(SYS_sendto, WIDE(fd), line_, (size_t)n_, WIDE(0), NULL, 0),
	      rd_read);
	{
		char line[256], got[512];
		struct iovec v[2];
		struct msghdr m = { .msg_iov = v, .msg_iovlen = 2 };
		int n = mkline(line, sizeof line, "wide-SYS_writev");

		v[0] = (struct iovec){ line, 3 };
		v[1] = (struct iovec){ line + 3, (size_t)n - 3 };
		r = syscall(SYS_writev, WIDE(fd), v, WIDE(2));
		step("wide-SYS_writev", r == n && echo_back(fd, line, rd_read, got, sizeof got),
		     "returned %ld (%s) echo \"%s\"", r, fc_err(errno), got);
		n = mkline(line, sizeof line, "wide-SYS_sendmsg");
		v[0] = (struct iovec){ line, 3 };
		v[1] = (struct iovec){ line + 3, (size_t)n - 3 };
		r = syscall(SYS_sendmsg, WIDE(fd), &m, WIDE(0));
		step("wide-SYS_sendmsg", r == n && echo_back(fd, line, rd_read, got, sizeof got),
		     "returned %ld (%s) echo \"%s\"", r, fc_err(errno), got);
	}
	wide_poll(fd, 0, "wide-SYS_poll-nfds");
	wide_poll(fd, 1, "wide-SYS_ppoll-nfds");
	/* (not under a sanitizer: its poll interceptor, before the library,
	 * reads the count at 64 bits and faults first) */
	if (!getenv("FC_NO_LIBC_POLL"))
		wide_poll(fd, 2, "wide-poll-nfds");
	r = syscall(SYS_unshare, (long)((1UL << 32) | CLONE_FS));
	step("wide-SYS_unshare-EINVAL", r < 0 && errno == EINVAL, "returned %ld errno %s", r,
	     fc_err(errno));
	/* close_range's first and last: the kernel's unsigned int.  From
	 * 2^31 on nothing is open: 0, and the TLS fd stays as it was (before
	 * h214 the library read first as an int, INT_MIN, and closed the
	 * sessions of every descriptor from 0). */
	r = syscall(SYS_close_range, 0x80000000UL, ~0U, 0);
	step("close_range-2^31-0", r == 0, "returned %ld errno %s", r, fc_err(errno));
	ROUND("after-close_range-2^31", fd, write(fd, line_, (size_t)n_), rd_read);
	r = close_range(0x80000000U, ~0U, 0);
	step("close_range-2^31-libc-0", r == 0, "returned %ld errno %s", r, fc_err(errno));
	/* dup3's flags: the kernel's int, EINVAL for any bit but O_CLOEXEC,
	 * bit 31 too (before h214 the library took a negative one for its
	 * own "dup2" and made the copy). */
	{
		int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
		int fl = (int)(0x80000000U | O_CLOEXEC);

		r = dup3(fd, nul, fl);
		step("dup3-flag31-EINVAL", r < 0 && errno == EINVAL, "returned %ld errno %s", r,
		     fc_err(errno));
		r = syscall(SYS_dup3, fd, nul, WIDE(fl));
		step("SYS_dup3-flag31-EINVAL", r < 0 && errno == EINVAL, "returned %ld errno %s", r,
		     fc_err(errno));
		r = dup3(fd, fd, fl);
		step("dup3-same-flag31-EINVAL", r < 0 && errno == EINVAL, "returned %ld errno %s", r,
		     fc_err(errno));
		close(nul);
	}
	ROUND("after-widths", fd, write(fd, line_, (size_t)n_), rd_read);
	close(fd);
	return failures ? 1 : 0;
}

/* ---- class 7 -------------------------------------------------------------- */

static int connect_to(const char *ip, int port)
{
	char line[256], got[512], name[80];
	int fd = fc_connect(ip, port);

	snprintf(name, sizeof name, "connect-%s", ip);
	if (fd < 0) {
		step(name, false, "connect: %s", fc_err(errno));
		return 1;
	}
	mkline(line, sizeof line, name);
	if (write_all(fd, line, strlen(line)) < 0)
		step(name, false, "write: %s", fc_err(errno));
	else
		step(name, echo_back(fd, line, rd_read, got, sizeof got), "echo \"%s\"", got);
	close(fd);
	return failures ? 1 : 0;
}

/* ---- class 8 -------------------------------------------------------------- */

static int again(char **argv)
{
	struct sockaddr_storage a, b;
	socklen_t la = fc_addr(argv[2], atoi(argv[3]), &a);
	socklen_t lb = fc_addr(argv[4], atoi(argv[5]), &b);
	const char *gate = argv[6];
	char line[256], got[512];
	int s = socket(a.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0), r, e, err = 0;
	socklen_t el = sizeof err;
	struct stat st;
	double end;
	size_t off = 0;

	r = connect(s, (struct sockaddr *)&a, la);
	printf("first: %s\n", r < 0 ? fc_err(errno) : "0");
	r = connect(s, (struct sockaddr *)&b, lb);
	e = errno;
	printf("second: %s\n", r < 0 ? fc_err(e) : "0");
	fflush(stdout);
	step("second-connect-EALREADY-or-EISCONN", r < 0 && (e == EALREADY || e == EISCONN),
	     "returned %d errno %s", r, fc_err(e));
	end = fc_now() + 15;
	while (stat(gate, &st) < 0 && fc_now() < end)
		usleep(20000);
	{
		struct pollfd p = { .fd = s, .events = POLLOUT };
		r = poll(&p, 1, 15000);
	}
	(void)getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el);
	printf("connected: poll %d SO_ERROR %s\n", r, fc_err(err));
	/* The kernel completes a non-blocking connect for the first connect()
	 * after it (0, whatever address it names), EISCONN after that. */
	r = connect(s, (struct sockaddr *)&b, lb);
	e = errno;
	printf("third: %s\n", r < 0 ? fc_err(e) : "0");
	step("third-connect-0-or-EISCONN", r == 0 || e == EISCONN, "returned %d errno %s", r, fc_err(e));
	r = connect(s, (struct sockaddr *)&b, lb);
	e = errno;
	printf("fourth: %s\n", r < 0 ? fc_err(e) : "0");
	step("fourth-connect-EISCONN", r < 0 && e == EISCONN, "returned %d errno %s", r, fc_err(e));
	mkline(line, sizeof line, "after-second-connect");
	end = fc_now() + 10;
	while (off < strlen(line) && fc_now() < end) {
		struct pollfd p = { .fd = s, .events = POLLOUT };
		ssize_t w;
		poll(&p, 1, 500);
		w = write(s, line + off, strlen(line) - off);
		if (w > 0)
			off += (size_t)w;
		else if (w < 0 && errno != EAGAIN && errno != EINTR)
			break;
	}
	if (off != strlen(line))
		step("write-after-second-connect", false, "wrote %zu: %s", off, fc_err(errno));
	else
		step("write-after-second-connect", echo_back(s, line, rd_read, got, sizeof got),
		     "echo \"%s\"", got);
	close(s);
	return failures ? 1 : 0;
}

/* x32: syscall(__X32_SYSCALL_BIT | SYS_write) of a line on a TLS
 * connection (preload_x32.so after the library stands in for a kernel
 * with x32) must fail with ENOSYS, the line nowhere; then write() and
 * read() of another line: the session intact.  x32probe: the same call
 * on standard output, "x32 write: N" (the stand-in works) or the errno. */
#define X32_NO(no) ((long)(0x40000000L | (no)))
static int x32(const char *ip, int port)
{
	char line[256], got[1024];
	int fd = fc_connect(ip, port);
	long r;

	if (fd < 0) {
		step("x32-connect", false, "%s", fc_err(errno));
		return 1;
	}
	mkline(line, sizeof line, "x32-write");
	r = syscall(X32_NO(SYS_write), fd, line, strlen(line));
	step("x32-write-ENOSYS", r < 0 && errno == ENOSYS, "returned %ld errno %s", r, fc_err(errno));
	mkline(line, sizeof line, "after-x32");
	step("after-x32", write_all(fd, line, strlen(line)) == 0 &&
	     echo_back(fd, line, rd_read, got, sizeof got), "echo \"%s\" (%s)", got, fc_err(errno));
	close(fd);
	return failures ? 1 : 0;
}

static int x32probe(void)
{
	long r = syscall(X32_NO(SYS_write), 1, "x32 probe\n", (size_t)10);

	if (r < 0)
		printf("x32 write: %s\n", fc_err(errno));
	else
		printf("x32 write: %ld\n", r);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stderr, NULL, _IOLBF, 0);
	if (argc == 2 && !strcmp(argv[1], "uring"))
		return uring();
	if (argc == 2 && !strcmp(argv[1], "x32probe"))
		return x32probe();
	if (argc == 8 && !strcmp(argv[1], "again")) {
		sentinel = argv[7];
		return again(argv);
	}
	if (argc != 5) {
		fprintf(stderr, "usage: fc_entry fastopen|entry|sysfork|connect|x32|widths IP PORT SENTINEL\n"
			"       fc_entry again IP PORT OTHER-IP OTHER-PORT GATE SENTINEL\n"
			"       fc_entry uring|x32probe\n");
		return 2;
	}
	sentinel = argv[4];
	if (!strcmp(argv[1], "fastopen"))
		return fastopen(argv[2], atoi(argv[3]));
	if (!strcmp(argv[1], "entry"))
		return entry(argv[2], atoi(argv[3]));
	if (!strcmp(argv[1], "sysfork"))
		return sysfork(argv[2], atoi(argv[3]));
	if (!strcmp(argv[1], "connect"))
		return connect_to(argv[2], atoi(argv[3]));
	if (!strcmp(argv[1], "x32"))
		return x32(argv[2], atoi(argv[3]));
	if (!strcmp(argv[1], "widths"))
		return widths(argv[2], atoi(argv[3]));
	return 2;
}
