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
 *     DENY: SYSCALL:ACTION (getsockopt:EPERM, newfstatat:ENOSYS,
 *           getpid:KILL: SECCOMP_RET_KILL_PROCESS; ppoll+poll:EPERM: two
 *           calls),
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
 *       stdouthigh  as stdout, but first a pipe's write end moved by a raw
 *                dup3 (the library never sees the number) to the top of
 *                the descriptor limit, then RLIMIT_NOFILE lowered to 64;
 *                after the reply the program closes its copy and reads
 *                the pipe without waiting ("pipe read rc=0": no copy left
 *                open anywhere, the pump's included; rc=-1 EAGAIN: one is).
 *       accept   listen on 127.0.0.1:PORT before the filter ("listening"),
 *                accept after it, read a line, answer "reply SENTINEL".
 *       listenunknown  a socket made and bound to 127.0.0.1:PORT with raw
 *                system calls before the filter (unknown origin), listen()
 *                after it ("listen rc=...").
 *       execlisten  listen on 127.0.0.1:PORT before the filter, then exec
 *                /bin/sh without LD_PRELOAD (a program that does not run
 *                the library), which prints "listener inherited" when the
 *                listening socket's number is still open in it, else
 *                "listener withheld".
 *       execthread  as execlisten, the exec made by a second thread (one
 *                that does not lead the process).
 *       daemon   as connect, then daemon(3) (no chdir, no close): the
 *                survivor writes SENTINEL again and reads the reply
 *                ("survivor ..." lines, "survivor exit 0"); the program
 *                (a subreaper) waits for it: "survivor killed by SIG" when
 *                it died.
 *       execunix as execlisten, with one end of a socketpair(AF_UNIX) made
 *                before the filter instead of the listener (a program's
 *                own channel to its helper: "listener inherited" wanted).
 *       udp      socket(AF_INET, SOCK_DGRAM) and connect() to
 *                127.0.0.1:PORT after the filter (a UDP socket is never a
 *                TLS one, whatever the port), send SENTINEL.
 *       dccp     the same with socket(AF_INET, SOCK_DCCP, IPPROTO_DCCP)
 *                (with preload_lookupfail.so's ",socket" a TCP socket: this
 *                kernel has no DCCP), which is no datagram socket.
 *       rawppoll as connect, the reply waited for with syscall(SYS_ppoll)
 *                ("ppoll rc=...") before it is read.
 *       exit     as connect, but exit() with the connection open (as
 *                vsftpd's processes do): the library's exit handler ends
 *                the session.
 *       passfd0, passfd, passlisten  before the filter, a helper (this
 *                program in mode recvfd, without LD_PRELOAD: a program
 *                that does not run the library) on a socketpair; after
 *                it, a connection to 127.0.0.1:PORT (passfd: after an
 *                exchange as connect's, its handshake done; passfd0:
 *                before any), or a listener on PORT (passlisten), passed
 *                to the helper with SCM_RIGHTS and closed.  The helper
 *                writes SENTINEL and a newline on a connection it gets
 *                and reads the reply ("helper ..." lines), or prints
 *                "helper got a listener" / "helper got nothing".
 *       forkfork a worker forked after the filter connects and makes an
 *                exchange as connect's, then forks a child that writes
 *                "child SENTINEL" on the connection ("child write ...");
 *                the worker writes and reads once more, then exits
 *                ("worker exit N").
 *       unspec   a connection and an exchange as connect's before the
 *                filter; after it, connect(AF_UNSPEC) on it ("unspec
 *                rc=..."); when that worked, connect() again to PORT
 *                ("reconnect rc=..."); then SENTINEL written again and the
 *                reply read (with connect:EPERM the kernel keeps the
 *                connection).
 *       uringgetfd, uringscm, uringprocfd  before the filter, a helper
 *                (this program in mode makering, without LD_PRELOAD) makes
 *                an io_uring instance; after it, a connection and an
 *                exchange as connect's, then the helper's ring taken with
 *                pidfd_getfd(), as it arrived with SCM_RIGHTS (Linux
 *                refuses: "ring none") or by an open of /proc/HELPER/fd/N
 *                ("ring rc=..."), and IORING_OP_SEND of SENTINEL and a
 *                newline on the connection through it, entered with a raw
 *                system call as liburing does ("send res=N"; the reply
 *                read).
 *                uringgetfd takes the helper's eventfd and socket first
 *                ("getfd eventfd rc=...", "getfd socket rc=...");
 *                uringrawgetfd takes the ring with a raw pidfd_getfd
 *                (the library never sees it) and poll()s it first.
 *       uringexec  (run without the library) an io_uring instance made and
 *                its FD_CLOEXEC cleared, the filter set, then this program
 *                exec'd in mode uringinherited with
 *                LD_PRELOAD=$SYSDENY_PRELOAD (the library starts under
 *                the filter): a connection and an exchange as connect's,
 *                then IORING_OP_SEND through the inherited ring as above.
 *       unixraw  a socketpair(AF_UNIX), moved by raw dup3 before the filter
 *                to numbers of unknown origin (40, 41); SENTINEL written on one end
 *                and read on the other after it.
 *   With SYSDENY_LIBC set in the environment, the filter goes on through
 *   the C library's syscall(), which the library sees (as libseccomp's
 *   seccomp_load and the daemons above make it), not a raw system call.
 *   Prints one line per step: "STEP rc=R errno=E [data=...]", then "done".
 *   Every wait is bounded (alarm: 10 s times TLSSHIM_TIME_SCALE).
 * Plain sockets and libc only, as any legacy program. */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
static long raw4(long no, long a, long b, long c, long d)
{
	register long r10 __asm__("r10") = d;
	long r;

	__asm__ volatile("syscall" : "=a"(r) : "0"(no), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
	return r;
}
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
static long raw4(long no, long a, long b, long c, long d)
{
	register long x8 __asm__("x8") = no, x0 __asm__("x0") = a, x1 __asm__("x1") = b,
		      x2 __asm__("x2") = c, x3 __asm__("x3") = d;

	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
	return x0;
}
#else
#error "sysdeny: x86_64 or aarch64"
#endif
/* A raw system call: the kernel's result (a negative errno on failure). */
#define raw3(no, a, b, c) raw4(no, a, b, c, 0)

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
	{ "gettid", SYS_gettid }, { "prctl", SYS_prctl }, { "prlimit64", SYS_prlimit64 },
	{ "setitimer", SYS_setitimer }, { "setsid", SYS_setsid }, { "rt_sigprocmask", SYS_rt_sigprocmask },
	{ "rt_sigaction", SYS_rt_sigaction }, { "wait4", SYS_wait4 }, { "madvise", SYS_madvise },
	{ "sysinfo", SYS_sysinfo }, { "getdents64", SYS_getdents64 }, { "openat2", SYS_openat2 },
	{ "close_range", SYS_close_range }, { "process_vm_readv", SYS_process_vm_readv },
	{ "process_vm_writev", SYS_process_vm_writev }, { "readlinkat", SYS_readlinkat },
	{ "shutdown", SYS_shutdown }, { "sendmsg", SYS_sendmsg }, { "recvmsg", SYS_recvmsg },
	{ "bind", SYS_bind }, { "listen", SYS_listen }, { "accept4", SYS_accept4 },
	{ "epoll_pwait2", SYS_epoll_pwait2 },
	{ "epoll_create1", SYS_epoll_create1 }, { "epoll_ctl", SYS_epoll_ctl },
	{ "timerfd_create", SYS_timerfd_create }, { "tgkill", SYS_tgkill }, { "kill", SYS_kill },
	{ "pidfd_open", SYS_pidfd_open }, { "faccessat2", SYS_faccessat2 }, { "uname", SYS_uname },
	{ "clock_nanosleep", SYS_clock_nanosleep }, { "sched_yield", SYS_sched_yield },
	{ "mprotect", SYS_mprotect }, { "munmap", SYS_munmap }, { "pread64", SYS_pread64 },
	{ "lseek", SYS_lseek }, { "set_robust_list", SYS_set_robust_list }, { "rseq", SYS_rseq },
	{ "getppid", SYS_getppid }, { "sendto", SYS_sendto }, { "recvfrom", SYS_recvfrom },
	{ "connect", SYS_connect }, { "io_uring_register", SYS_io_uring_register },
	{ "io_uring_enter", SYS_io_uring_enter },
#ifdef SYS_readlink
	{ "readlink", SYS_readlink },   /* glibc's readlink() here */
#else
	{ "readlink", SYS_readlinkat },
#endif
};

static void deny(const char *spec)
{
	char name[64], *plus;
	const char *colon = strchr(spec, ':');
	long no = -1, no2 = -1;
	int err;
	unsigned act;

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
	act = !strcmp(colon + 1, "KILL") ? SECCOMP_RET_KILL_PROCESS : SECCOMP_RET_ERRNO | (unsigned)err;
	/* NAME or NAME+NAME2: two calls refused alike */
	if ((plus = strchr(name, '+')))
		*plus++ = '\0';
	for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
		if (!strcmp(calls[i].name, name))
			no = calls[i].no;
		if (plus && !strcmp(calls[i].name, plus))
			no2 = calls[i].no;
	}
	if (!plus)
		no2 = no;
	if (no < 0 || no2 < 0) {
		fprintf(stderr, "sysdeny: unknown system call in %s\n", spec);
		exit(2);
	}
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)no, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)no2, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, act),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof f / sizeof f[0], .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    (getenv("SYSDENY_LIBC")
	     ? syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog)
	     : raw3(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC,
		    (long)&prog)) != 0) {
		fprintf(stderr, "sysdeny: seccomp refused\n");
		exit(2);
	}
	fprintf(out, "filtered %s\n", spec);
	fflush(out);
}

/* "" in the program, "helper " in the helper of the pass modes. */
static const char *who = "";

static void step(const char *what, long r, int e)
{
	fprintf(out, "%s%s rc=%ld errno=%s\n", who, what, r, r < 0 ? strerrorname_np(e) : "0");
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
	fprintf(out, "%sread rc=%ld errno=%s data=%s\n", who, have ? (long)have : (long)r,
	       have || r >= 0 ? "0" : strerrorname_np(e), buf);
	fflush(out);
}

/* Mode execthread: the exec, from a thread that does not lead. */
static void *exec_thread(void *arg)
{
	char **args = arg;
	char *env[] = { "PATH=/usr/bin:/bin", NULL };

	execve("/bin/sh", args, env);
	step("execve", -1, errno);
	exit(1);
}

/* A listening socket on sa (the program exits when it cannot). */
static int listen_on(const struct sockaddr_in *sa)
{
	int lfd = tcp_listen(sa, 0, 8);

	if (lfd < 0) {
		perror("sysdeny: listen");
		exit(2);
	}
	return lfd;
}

/* The pass and uring modes' helper, started before the filter: this
 * program again (mode recvfd or makering), without LD_PRELOAD, on one end
 * of a socketpair; the other end in *chan. */
static pid_t start_helper(char **argv, const char *mode, int *chan)
{
	extern char **environ;
	char *env[256], num[16];
	int sv[2], n = 0;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
		perror("sysdeny: socketpair");
		exit(2);
	}
	for (char **e = environ; *e && n < 255; e++)
		if (strncmp(*e, "LD_PRELOAD=", 11))
			env[n++] = *e;
	env[n] = NULL;
	snprintf(num, sizeof num, "%d", sv[1]);
	fflush(out);
	if ((pid = fork()) == 0) {
		char *args[] = { argv[0], "none", (char *)mode, num, argv[4], NULL };

		close(sv[0]);
		execve("/proc/self/exe", args, env);
		_exit(127);
	}
	close(sv[1]);
	if (pid < 0) {
		perror("sysdeny: fork");
		exit(2);
	}
	*chan = sv[0];
	return pid;
}

/* Pass fd to the helper with SCM_RIGHTS. */
static long pass(int chan, int fd)
{
	char c = 'f', ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &c, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);

	memset(ctl, 0, sizeof ctl);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(h), &fd, sizeof fd);
	return sendmsg(chan, &m, 0);
}

/* The helper (no library): what arrives on chan, a listener or a
 * connection (written LINE, its reply read), or nothing. */
static int helper_main(int chan, const char *line)
{
	char c, ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &c, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
	struct cmsghdr *h;
	int fd = -1, lis = 0;
	socklen_t l = sizeof lis;
	long r;

	who = "helper ";
	r = recvmsg(chan, &m, 0);
	if (r > 0 && (h = CMSG_FIRSTHDR(&m)) && h->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(h), sizeof fd);
	if (fd < 0) {
		fprintf(out, "helper got nothing\n");
		return 0;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &lis, &l) == 0 && lis) {
		fprintf(out, "helper got a listener\n");
		return 0;
	}
	r = write(fd, line, strlen(line));
	step("write", r, errno);
	if (r > 0)
		reply(fd);
	close(fd);
	return 0;
}

/* Write LINE on fd and read the reply ("write", "read" lines). */
static void exchange(int fd, const char *line)
{
	long r = write(fd, line, strlen(line));

	step("write", r, errno);
	if (r > 0)
		reply(fd);
}

/* Connect fd to sa, then an exchange; the connect's result. */
static long connect_exchange(int fd, const struct sockaddr_in *sa, const char *line)
{
	long r = connect(fd, (const struct sockaddr *)sa, sizeof *sa);

	step("connect", r, errno);
	if (r == 0)
		exchange(fd, line);
	return r;
}

/* The uring modes' helper (no library): make an io_uring instance and an
 * eventfd, pass the ring with SCM_RIGHTS (Linux refuses: then the byte
 * alone), send the numbers of the ring, the eventfd and chan, and the
 * ring's layout, and keep them until the program is done. */
static int makering_main(int chan)
{
	struct io_uring_params p;
	int num[3];
	char c = 'r', ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &c, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);

	memset(&p, 0, sizeof p);
	if ((num[0] = (int)syscall(SYS_io_uring_setup, 4, &p)) < 0) {
		fprintf(stderr, "sysdeny: io_uring_setup: %s\n", strerror(errno));
		return 2;
	}
	num[1] = eventfd(0, 0);
	num[2] = chan;
	memset(ctl, 0, sizeof ctl);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(h), &num[0], sizeof num[0]);
	if (sendmsg(chan, &m, 0) != 1) {
		m.msg_control = NULL;
		m.msg_controllen = 0;
		if (sendmsg(chan, &m, 0) != 1)
			return 2;
	}
	if (write(chan, num, sizeof num) != sizeof num || write(chan, &p, sizeof p) != sizeof p)
		return 2;
	(void)read(chan, &c, 1);
	return 0;
}

/* Mode uringexec (no library): make an io_uring instance, clear its
 * FD_CLOEXEC, set the filter DENY, and exec this program in mode
 * uringinherited (DENY none: the filter stays) with
 * LD_PRELOAD=$SYSDENY_PRELOAD and the ring's number and layout in
 * SYSDENY_RING (as a parent that hands a ring to the program it starts). */
static int uringexec_main(char **argv)
{
	struct io_uring_params p;
	char env[64 + 2 * sizeof p], *e = env;
	const char *pre = getenv("SYSDENY_PRELOAD");
	int ring;

	memset(&p, 0, sizeof p);
	if ((ring = (int)syscall(SYS_io_uring_setup, 4, &p)) < 0 || fcntl(ring, F_SETFD, 0) < 0) {
		fprintf(stderr, "sysdeny: io_uring_setup: %s\n", strerror(errno));
		return 2;
	}
	e += sprintf(e, "%d:", ring);
	for (size_t i = 0; i < sizeof p; i++)
		e += sprintf(e, "%02x", ((unsigned char *)&p)[i]);
	if (setenv("SYSDENY_RING", env, 1) < 0 || (pre && setenv("LD_PRELOAD", pre, 1) < 0))
		return 2;
	deny(argv[1]);          /* a filter stays through the exec */
	argv[1] = "none";
	argv[2] = "uringinherited";
	execv("/proc/self/exe", argv);
	perror("sysdeny: exec");
	return 2;
}

/* The ring SYSDENY_RING names (mode uringinherited): false when none. */
static bool inherited_ring(int *ring, struct io_uring_params *p)
{
	const char *env = getenv("SYSDENY_RING"), *h;
	unsigned b;

	if (!env || sscanf(env, "%d:", ring) != 1 || !(h = strchr(env, ':')) || strlen(++h) != 2 * sizeof *p)
		return false;
	for (size_t i = 0; i < sizeof *p; i++, h += 2) {
		if (sscanf(h, "%2x", &b) != 1)
			return false;
		((unsigned char *)p)[i] = (unsigned char)b;
	}
	return true;
}

/* The uring modes: the helper's ring, taken as HOW says (uringscm: as it
 * arrived with SCM_RIGHTS; uringgetfd: pidfd_getfd, which takes the
 * helper's eventfd and socket too first, "getfd eventfd rc=..." and
 * "getfd socket rc=...": no ring; uringrawgetfd: pidfd_getfd() with a
 * raw system call, then poll() on the ring ("poll rc=...", as a program
 * that waits for completions); uringprocfd: open of /proc/HELPER/fd/N;
 * uringinherited: the one inherited through exec): "ring rc=..." ("ring
 * none": nothing arrived).  Then IORING_OP_SEND of line on fd, entered
 * with a raw system call as liburing does ("mmap rc=...", "enter
 * rc=...", "send res=N"), and the reply read. */
static void uring_send(const char *how, pid_t helper, int chan, int fd, const char *line)
{
	struct io_uring_params p;
	char c, path[64], ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &c, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
	struct cmsghdr *h;
	int ring = -1, num[3], pfd;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqe;
	unsigned *tail, t;
	size_t sz;
	char *sq;
	long r;

	if (!strcmp(how, "uringinherited")) {
		if (!inherited_ring(&ring, &p)) {
			fprintf(out, "no ring inherited\n");
			return;
		}
		errno = 0;
		goto have;
	}
	if (recvmsg(chan, &m, 0) == 1 && (h = CMSG_FIRSTHDR(&m)) && h->cmsg_type == SCM_RIGHTS)
		memcpy(&ring, CMSG_DATA(h), sizeof ring);
	if (read(chan, num, sizeof num) != sizeof num || read(chan, &p, sizeof p) != sizeof p) {
		fprintf(out, "no ring from the helper\n");
		return;
	}
	if (!strcmp(how, "uringgetfd")) {
		pfd = (int)syscall(SYS_pidfd_open, helper, 0);
		r = pfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pfd, num[1], 0);
		step("getfd eventfd", r, errno);
		r = pfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pfd, num[2], 0);
		step("getfd socket", r, errno);
		ring = pfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pfd, num[0], 0);
	} else if (!strcmp(how, "uringrawgetfd")) {
		struct pollfd pf;

		pfd = (int)syscall(SYS_pidfd_open, helper, 0);
		r = pfd < 0 ? -EBADF : raw3(SYS_pidfd_getfd, pfd, num[0], 0);
		ring = r < 0 ? -1 : (int)r;
		if (ring >= 0) {
			pf = (struct pollfd){ .fd = ring, .events = POLLIN };
			step("poll", poll(&pf, 1, 0), errno);
		}
		errno = r < 0 ? (int)-r : 0;
	} else if (!strcmp(how, "uringprocfd")) {
		snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)helper, num[0]);
		ring = open(path, O_RDWR);
	}
	if (ring < 0 && !strcmp(how, "uringscm")) {
		fprintf(out, "ring none\n");
		return;
	}
have:
	step("ring", ring, errno);
	if (ring < 0)
		return;
	sz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	if (p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe) > sz)
		sz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	sq = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
	sqes = mmap(NULL, p.sq_entries * sizeof *sqes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		    ring, IORING_OFF_SQES);
	step("mmap", sq == MAP_FAILED || sqes == MAP_FAILED ? -1 : 0, errno);
	if (sq == MAP_FAILED || sqes == MAP_FAILED)
		return;
	/* one SQE at the tail, the CQ (same mapping) read at its head */
	tail = (unsigned *)(sq + p.sq_off.tail);
	t = *tail & *(unsigned *)(sq + p.sq_off.ring_mask);
	memset(&sqes[t], 0, sizeof sqes[t]);
	sqes[t].opcode = IORING_OP_SEND;
	sqes[t].fd = fd;
	sqes[t].addr = (unsigned long)line;
	sqes[t].len = (unsigned)strlen(line);
	((unsigned *)(sq + p.sq_off.array))[t] = t;
	__atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);
	r = raw4(SYS_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS);
	step("enter", r < 0 ? -1 : r, (int)-r);
	if (r < 0 || __atomic_load_n((unsigned *)(sq + p.cq_off.tail), __ATOMIC_ACQUIRE) ==
		     *(unsigned *)(sq + p.cq_off.head))
		return;
	cqe = (struct io_uring_cqe *)(sq + p.cq_off.cqes) +
	      (*(unsigned *)(sq + p.cq_off.head) & *(unsigned *)(sq + p.cq_off.ring_mask));
	fprintf(out, "send res=%d\n", cqe->res);
	fflush(out);
	if (cqe->res > 0)
		reply(fd);
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	struct sigaction act;
	const char *scale = getenv("TLSSHIM_TIME_SCALE");
	int fd = -1, lfd = -1, port, high = -1, hread = -1;
	char line[256];
	long r;

	if (argc != 5) {
		fprintf(stderr, "usage: sysdeny DENY connect|unknown|stdout|accept|listenunknown|execlisten|execthread|execunix|daemon|udp|dccp|unixraw"
			"|passfd0|passfd|passlisten|rawppoll|forkfork|unspec|uringgetfd|uringrawgetfd|uringscm|uringprocfd|uringexec PORT SENTINEL\n");
		return 2;
	}
	out = strncmp(argv[2], "stdout", 6) ? stdout : stderr;
	port = atoi(argv[3]);
	snprintf(line, sizeof line, "%s\n", argv[4]);
	memset(&act, 0, sizeof act);
	act.sa_handler = on_alarm;     /* no SA_RESTART: a read ends with EINTR */
	sigaction(SIGALRM, &act, NULL);
	alarm(10 * (unsigned)(scale && atoi(scale) > 0 ? atoi(scale) : 1));
	addr(port, &sa);

	if (!strcmp(argv[2], "recvfd"))
		return helper_main(port, line);
	if (!strcmp(argv[2], "makering"))
		return makering_main(port);
	if (!strcmp(argv[2], "uringexec"))
		return uringexec_main(argv);
	if (!strcmp(argv[2], "uringinherited")) {
		deny(argv[1]);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		connect_exchange(fd, &sa, line);
		uring_send(argv[2], 0, -1, fd, line);
		close(fd);
		fprintf(out, "done\n");
		return 0;
	}
	if (!strncmp(argv[2], "uring", 5)) {
		int chan;
		pid_t h = start_helper(argv, "makering", &chan);

		deny(argv[1]);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		connect_exchange(fd, &sa, line);
		uring_send(argv[2], h, chan, fd, line);
		close(fd);
		close(chan);
		(void)waitpid(h, NULL, 0);
		fprintf(out, "done\n");
		return 0;
	}
	if (!strncmp(argv[2], "pass", 4)) {
		int chan;
		pid_t h = start_helper(argv, "recvfd", &chan);
		int st = 0;

		if (!strcmp(argv[2], "passlisten")) {
			lfd = listen_on(&sa);
			deny(argv[1]);
			r = pass(chan, lfd);
			step("sendmsg", r, errno);
		} else {
			deny(argv[1]);
			fd = socket(AF_INET, SOCK_STREAM, 0);
			r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
			step("connect", r, errno);
			if (r == 0 && !strcmp(argv[2], "passfd")) {
				/* the session in use: handshake and a first exchange */
				r = write(fd, line, strlen(line));
				step("write", r, errno);
				if (r > 0)
					reply(fd);
			}
			r = pass(chan, fd);
			step("sendmsg", r, errno);
			close(fd);
		}
		close(chan);
		r = waitpid(h, &st, 0);
		if (r == h && WIFEXITED(st))
			fprintf(out, "helper exit %d\n", WEXITSTATUS(st));
		else if (r == h && WIFSIGNALED(st))
			fprintf(out, "helper killed by %s\n", sigabbrev_np(WTERMSIG(st)));
		else
			step("waitpid", r, errno);
		fprintf(out, "done\n");
		return 0;
	}
	if (!strcmp(argv[2], "unspec")) {
		struct sockaddr un = { .sa_family = AF_UNSPEC };

		fd = socket(AF_INET, SOCK_STREAM, 0);
		connect_exchange(fd, &sa, line);
		deny(argv[1]);
		r = connect(fd, &un, sizeof un);
		step("unspec", r, errno);
		if (r == 0) {
			r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
			step("reconnect", r, errno);
		}
		exchange(fd, line);
		close(fd);
		fprintf(out, "done\n");
		return 0;
	}
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
	} else if (!strcmp(argv[2], "listenunknown")) {
		fd = (int)raw3(SYS_socket, AF_INET, SOCK_STREAM, 0);
		if (fd < 0 || raw3(SYS_bind, fd, (long)&sa, sizeof sa) < 0) {
			fprintf(stderr, "sysdeny: raw bind failed\n");
			return 2;
		}
		deny(argv[1]);
		r = listen(fd, 8);
		step("listen", r, errno);
		return 0;
	} else if (!strcmp(argv[2], "stdouthigh")) {
		struct rlimit rl;
		int p[2];

		if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < 128 || pipe2(p, O_NONBLOCK) != 0) {
			fprintf(stderr, "sysdeny: no room for a high number\n");
			return 2;
		}
		high = rl.rlim_cur > 4096 ? 4095 : (int)rl.rlim_cur - 1;
		if (raw3(SYS_dup3, p[1], high, 0) != high || raw3(SYS_close, p[1], 0, 0) != 0) {
			fprintf(stderr, "sysdeny: raw dup3 failed\n");
			return 2;
		}
		rl.rlim_cur = rl.rlim_max = 64;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			perror("sysdeny: setrlimit");
			return 2;
		}
		hread = p[0];
	} else if (!strcmp(argv[2], "execunix")) {
		int sv[2];

		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
			perror("sysdeny: socketpair");
			return 2;
		}
		lfd = sv[0];
	} else if (!strcmp(argv[2], "accept") || !strcmp(argv[2], "execlisten") ||
		   !strcmp(argv[2], "execthread")) {
		lfd = listen_on(&sa);
		fprintf(out, "listening\n");
		fflush(out);
	}
	deny(argv[1]);

	if (!strcmp(argv[2], "forkfork")) {
		/* A worker forked under the filter (a prefork daemon's) makes
		 * a connection and an exchange, then forks a child of its own
		 * that writes on it ("child write ..."); then the worker
		 * writes and reads again ("worker exit N" at the end). */
		char cline[300];
		int st = 0;
		pid_t w, k;

		fflush(out);
		w = fork();
		if (w < 0) {
			step("fork", -1, errno);
		} else if (w > 0) {
			r = waitpid(w, &st, 0);
			fprintf(out, "worker exit %d\n", r == w && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		} else {
			fd = socket(AF_INET, SOCK_STREAM, 0);
			connect_exchange(fd, &sa, line);
			fflush(out);
			k = fork();
			if (k == 0) {
				who = "child ";
				snprintf(cline, sizeof cline, "child %s", line);
				r = write(fd, cline, strlen(cline));
				step("write", r, errno);
				_exit(0);
			}
			if (k > 0)
				(void)waitpid(k, &st, 0);
			r = write(fd, line, strlen(line));
			step("write", r, errno);
			if (r > 0)
				reply(fd);
			close(fd);
			fflush(out);
			_exit(0);
		}
		fprintf(out, "done\n");
		return 0;
	}
	if (!strcmp(argv[2], "execlisten") || !strcmp(argv[2], "execunix") ||
	    !strcmp(argv[2], "execthread")) {
		char cmd[160];
		char *args[] = { "sh", "-c", cmd, NULL };
		char *env[] = { "PATH=/usr/bin:/bin", NULL };
		pthread_t t;

		snprintf(cmd, sizeof cmd, "if [ -e /dev/fd/%d ]; then echo listener inherited;"
			 " else echo listener withheld; fi", lfd);
		fflush(out);
		if (!strcmp(argv[2], "execthread")) {
			if ((errno = pthread_create(&t, NULL, exec_thread, args)) != 0) {
				step("pthread_create", -1, errno);
				return 1;
			}
			pthread_join(t, NULL);
			return 1;
		}
		execve("/bin/sh", args, env);
		step("execve", -1, errno);
		return 1;
	}
	if (!strcmp(argv[2], "udp") || !strcmp(argv[2], "dccp")) {
		fd = !strcmp(argv[2], "udp") ? socket(AF_INET, SOCK_DGRAM, 0) : socket(AF_INET, 6 /* SOCK_DCCP */, 33);
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
	if (!strcmp(argv[2], "stdout") || !strcmp(argv[2], "stdouthigh")) {
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
		if (hread >= 0 && r > 0) {
			char c;

			(void)raw3(SYS_close, high, 0, 0);
			r = read(hread, &c, 1);
			step("pipe read", r, errno);
		}
		fprintf(out, "done\n");
		return 0;
	}
	r = write(fd, line, strlen(line));
	step("write", r, errno);
	if (r > 0 && !strcmp(argv[2], "rawppoll")) {
		/* the reply waited for as a system call, through the C
		 * library's syscall() (with its time-out: copied in and out) */
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct timespec ts = { 10, 0 };

		r = syscall(SYS_ppoll, &p, 1, &ts, NULL, 8);
		step("ppoll", r, errno);
	}
	if (r > 0)
		reply(fd);
	if (!strcmp(argv[2], "daemon")) {
		/* The survivor of daemon() is reparented here (a subreaper),
		 * and waited for: a death of a signal is seen. */
		int st = 0;
		pid_t k, c;

		fflush(out);
		if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0 || (k = c = fork()) < 0) {
			step("fork", -1, errno);
			return 1;
		}
		if (k == 0) {
			if (daemon(1, 1) != 0) {
				step("daemon", -1, errno);
				_exit(1);
			}
			who = "survivor ";
			r = write(fd, line, strlen(line));
			step("write", r, errno);
			if (r > 0)
				reply(fd);
			close(fd);
			fprintf(out, "survivor exit 0\n");
			fflush(out);
			_exit(0);
		}
		close(fd);
		while ((k = waitpid(-1, &st, 0)) > 0)
			if (WIFSIGNALED(st))
				fprintf(out, "%s killed by %s\n", k == c ? "child" : "survivor",
					sigabbrev_np(WTERMSIG(st)));
		fprintf(out, "done\n");
		return 0;
	}
	if (!strcmp(argv[2], "exit")) {
		/* The connection left open: exit() is to end it. */
		fprintf(out, "done\n");
		exit(0);
	}
	close(fd);
	fprintf(out, "done\n");
	return 0;
}
