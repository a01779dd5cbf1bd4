/* sysdeny.c — a program that, after start-up, forbids itself one system
 * call with a seccomp filter, as sandboxed daemons do (vsftpd, openssh's
 * privsep child, tor, chrony), then uses TCP sockets.  The filter answers
 * the call with an errno (EPERM or ENOSYS) for every thread of the
 * process (SECCOMP_FILTER_FLAG_TSYNC): the library's own calls are
 * refused as much as the program's.  Or, instead of a filter, a resource
 * limit taken down after start-up (RLIMIT_NOFILE, RLIMIT_NPROC,
 * RLIMIT_AS).
 *
 *   sysdeny DENY MODE PORT SENTINEL
 *     DENY: SYSCALL:ERRNO (getsockopt:EPERM, newfstatat:ENOSYS, ...),
 *           nofile:N (RLIMIT_NOFILE N), nproc:0, as:MB, or none.
 *     MODE:
 *       connect  socket() and connect() to 127.0.0.1:PORT after the
 *                filter; write SENTINEL and a newline; read the reply.
 *       unknown  a socket made and connected with raw system calls before
 *                the filter (the library never sees it: a number of
 *                unknown origin, as one received or inherited); then as
 *                connect.
 *       stdout   as connect, then the socket is put on standard output
 *                and the sentinel written with stdio (the library needs
 *                a pump process for it); SIGPIPE ignored.
 *       accept   listen on 127.0.0.1:PORT before the filter ("listening"),
 *                accept after it, read a line, answer "reply SENTINEL".
 *       execlisten  listen on 127.0.0.1:PORT before the filter, then exec
 *                /bin/sh without LD_PRELOAD (a program that does not run
 *                the library), which prints "listener inherited" when the
 *                listening socket's number is still open in it, else
 *                "listener withheld".
 *       execunix as execlisten, with one end of a socketpair(AF_UNIX) made
 *                before the filter instead of the listener (a program's
 *                own channel to its helper: "listener inherited" wanted).
 *       udp      socket(AF_INET, SOCK_DGRAM) and connect() to
 *                127.0.0.1:PORT after the filter (a UDP socket is never a
 *                TLS one, whatever the port), send SENTINEL.
 *       exit     as connect, but exit() with the connection open (as
 *                vsftpd's processes do): the library's exit handler ends
 *                the session.
 *       unixraw  a socketpair(AF_UNIX), moved by raw dup3 before the filter
 *                to numbers of unknown origin (40, 41); SENTINEL written on one end
 *                and read on the other after it.
 *   Prints one line per step: "STEP rc=R errno=E [data=...]", then "done".
 *   Every wait is bounded (alarm: 10 s times TLSSHIM_TIME_SCALE).
 * Plain sockets and libc only, as any legacy program. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
static long raw3(long no, long a, long b, long c)
{
	long r;

	__asm__ volatile("syscall" : "=a"(r) : "0"(no), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return r;
}
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
static long raw3(long no, long a, long b, long c)
{
	register long x8 __asm__("x8") = no, x0 __asm__("x0") = a, x1 __asm__("x1") = b,
		      x2 __asm__("x2") = c;

	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
	return x0;
}
#else
#error "sysdeny: x86_64 or aarch64"
#endif

/* The report: standard output, or standard error in mode stdout. */
static FILE *out;

static const struct {
	const char *name;
	long no;
} calls[] = {
	{ "getsockopt", SYS_getsockopt }, { "getsockname", SYS_getsockname },
	{ "getpeername", SYS_getpeername }, { "setsockopt", SYS_setsockopt },
	{ "newfstatat", SYS_newfstatat }, { "statx", SYS_statx }, { "getpid", SYS_getpid },
#ifdef SYS_fstat
	{ "fstat", SYS_fstat },
#endif
	{ "fcntl", SYS_fcntl }, { "getrandom", SYS_getrandom }, { "openat", SYS_openat },
	{ "eventfd2", SYS_eventfd2 }, { "pipe2", SYS_pipe2 }, { "socketpair", SYS_socketpair },
	{ "clone", SYS_clone }, { "clone3", SYS_clone3 }, { "mmap", SYS_mmap },
	{ "ppoll", SYS_ppoll }, { "ioctl", SYS_ioctl }, { "dup3", SYS_dup3 },
#ifdef SYS_poll
	{ "poll", SYS_poll },
#endif
};

static void deny(const char *spec)
{
	char name[64];
	const char *colon = strchr(spec, ':');
	long no = -1;
	int err;

	if (!strcmp(spec, "none"))
		return;
	if (!colon || (size_t)(colon - spec) >= sizeof name) {
		fprintf(stderr, "sysdeny: bad DENY %s\n", spec);
		exit(2);
	}
	memcpy(name, spec, (size_t)(colon - spec));
	name[colon - spec] = '\0';
	if (!strcmp(name, "nofile") || !strcmp(name, "nproc") || !strcmp(name, "as")) {
		rlim_t n = strtoul(colon + 1, NULL, 10);
		struct rlimit rl = { n, n };
		int res = name[0] == 'n' && name[1] == 'o' ? RLIMIT_NOFILE : name[1] == 'p' ? RLIMIT_NPROC : RLIMIT_AS;

		if (res == RLIMIT_AS)
			rl.rlim_cur = rl.rlim_max = n << 20;
		if (setrlimit(res, &rl) < 0) {
			perror("sysdeny: setrlimit");
			exit(2);
		}
		fprintf(out, "limited %s\n", spec);
		fflush(out);
		return;
	}
	err = !strcmp(colon + 1, "ENOSYS") ? ENOSYS : EPERM;
	for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
		if (!strcmp(calls[i].name, name))
			no = calls[i].no;
	if (no < 0) {
		fprintf(stderr, "sysdeny: unknown system call %s\n", name);
		exit(2);
	}
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)no, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof f / sizeof f[0], .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    raw3(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, (long)&prog) != 0) {
		fprintf(stderr, "sysdeny: seccomp refused\n");
		exit(2);
	}
	fprintf(out, "filtered %s\n", spec);
	fflush(out);
}

static void step(const char *what, long r, int e)
{
	fprintf(out, "%s rc=%ld errno=%s\n", what, r, r < 0 ? strerrorname_np(e) : "0");
	fflush(out);
}

static void on_alarm(int sig)
{
	(void)sig;
}

static void addr(int port, struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_port = htons((unsigned short)port);
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* Read the reply (what one read returns): bounded by the alarm. */
static void reply(int fd)
{
	char buf[512];
	size_t have = 0;
	ssize_t r = 0;
	int e = 0;

	while (have < sizeof buf - 1) {
		r = read(fd, buf + have, sizeof buf - 1 - have);
		e = errno;
		if (r <= 0)
			break;
		have += (size_t)r;
		break;          /* one record's worth: the peers send a line at once */
	}
	buf[have] = '\0';
	for (size_t i = 0; i < have; i++)
		if (buf[i] < 0x20 || buf[i] > 0x7e)
			buf[i] = '.';
	fprintf(out, "read rc=%ld errno=%s data=%s\n", have ? (long)have : (long)r,
	       have || r >= 0 ? "0" : strerrorname_np(e), buf);
	fflush(out);
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	struct sigaction act;
	const char *scale = getenv("TLSSHIM_TIME_SCALE");
	int fd = -1, lfd = -1, port;
	char line[256];
	long r;

	if (argc != 5) {
		fprintf(stderr, "usage: sysdeny DENY connect|unknown|stdout|accept|execlisten|execunix|udp|unixraw PORT SENTINEL\n");
		return 2;
	}
	out = strcmp(argv[2], "stdout") ? stdout : stderr;
	port = atoi(argv[3]);
	snprintf(line, sizeof line, "%s\n", argv[4]);
	memset(&act, 0, sizeof act);
	act.sa_handler = on_alarm;     /* no SA_RESTART: a read ends with EINTR */
	sigaction(SIGALRM, &act, NULL);
	alarm(10 * (unsigned)(scale && atoi(scale) > 0 ? atoi(scale) : 1));
	addr(port, &sa);

	if (!strcmp(argv[2], "unixraw")) {
		int sv[2];

		/* numbers the library never saw made: raw dup3 of a pair */
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 || raw3(SYS_dup3, sv[0], 40, 0) != 40 ||
		    raw3(SYS_dup3, sv[1], 41, 0) != 41) {
			fprintf(stderr, "sysdeny: socketpair failed\n");
			return 2;
		}
		sv[0] = 40;
		sv[1] = 41;
		deny(argv[1]);
		r = write(sv[0], line, strlen(line));
		step("write", r, errno);
		reply(sv[1]);
		fprintf(out, "done\n");
		return 0;
	}
	if (!strcmp(argv[2], "unknown")) {
		fd = (int)raw3(SYS_socket, AF_INET, SOCK_STREAM, 0);
		r = raw3(SYS_connect, fd, (long)&sa, sizeof sa);
		if (fd < 0 || r < 0) {
			fprintf(stderr, "sysdeny: raw connect: %ld %ld\n", (long)fd, r);
			return 2;
		}
	} else if (!strcmp(argv[2], "execunix")) {
		int sv[2];

		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
			perror("sysdeny: socketpair");
			return 2;
		}
		lfd = sv[0];
	} else if (!strcmp(argv[2], "accept") || !strcmp(argv[2], "execlisten")) {
		int one = 1;

		lfd = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 8) < 0) {
			perror("sysdeny: listen");
			return 2;
		}
		fprintf(out, "listening\n");
		fflush(out);
	}
	deny(argv[1]);

	if (!strcmp(argv[2], "execlisten") || !strcmp(argv[2], "execunix")) {
		char cmd[160];
		char *args[] = { "sh", "-c", cmd, NULL };
		char *env[] = { "PATH=/usr/bin:/bin", NULL };

		snprintf(cmd, sizeof cmd, "if [ -e /dev/fd/%d ]; then echo listener inherited;"
			 " else echo listener withheld; fi", lfd);
		fflush(out);
		execve("/bin/sh", args, env);
		step("execve", -1, errno);
		return 1;
	}
	if (!strcmp(argv[2], "udp")) {
		fd = socket(AF_INET, SOCK_DGRAM, 0);
		step("socket", fd, errno);
		r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
		step("connect", r, errno);
		r = send(fd, line, strlen(line), 0);
		step("send", r, errno);
		fprintf(out, "done\n");
		return 0;
	}
	if (!strcmp(argv[2], "accept")) {
		fd = accept(lfd, NULL, NULL);
		step("accept", fd, errno);
		if (fd >= 0) {
			reply(fd);
			snprintf(line, sizeof line, "reply %s\n", argv[4]);
			r = write(fd, line, strlen(line));
			step("write", r, errno);
			close(fd);
		}
		fprintf(out, "done\n");
		return 0;
	}
	if (fd < 0) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		step("socket", fd, errno);
		if (fd < 0) {
			fprintf(out, "done\n");
			return 0;
		}
		r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
		step("connect", r, errno);
		if (r < 0) {
			fprintf(out, "done\n");
			return 0;
		}
	}
	if (!strcmp(argv[2], "stdout")) {
		/* A write on a connection shut down reports EPIPE, not SIGPIPE. */
		signal(SIGPIPE, SIG_IGN);
		r = dup2(fd, 1);
		step("dup2", r, errno);
		if (r == 1) {
			errno = 0;
			r = fputs(line, stdout) < 0 || fflush(stdout) != 0 ? -1 : (long)strlen(line);
			step("fputs", r, errno);
			if (r > 0)
				reply(fd);
		}
		fprintf(out, "done\n");
		return 0;
	}
	r = write(fd, line, strlen(line));
	step("write", r, errno);
	if (r > 0)
		reply(fd);
	if (!strcmp(argv[2], "exit")) {
		/* The connection left open: exit() is to end it. */
		fprintf(out, "done\n");
		exit(0);
	}
	close(fd);
	fprintf(out, "done\n");
	return 0;
}
