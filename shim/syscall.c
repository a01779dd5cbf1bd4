/* shim/syscall.c — the ways around the wrappers that a preload can see.
 *
 *  - syscall(SYS_write, ...) and its kin: a program (or a library, such as
 *    libuv) that makes system calls through the C library's syscall()
 *    meets the same wrappers as with the named calls.  Calls the shim has
 *    no business with go through unchanged.
 *  - io_uring and Linux native aio (io_setup/io_submit, libaio) move
 *    bytes inside the kernel, past every wrapper: while the policy has
 *    TLS rules, setting one up fails with ENOSYS, the answer of a kernel
 *    without it, so programs (libuv, liburing and libaio users) fall back
 *    to ordinary calls.  liburing, which makes its system calls itself,
 *    is refused at its own entry points that make a ring.  A ring made
 *    elsewhere is refused from pidfd_getfd() and, inherited or unseen,
 *    buried when it is classified (shim/classify.c).
 *  - POSIX aio (aio_read, aio_write, lio_listio) runs the I/O in helper
 *    threads through the C library's internal calls: on a TLS fd it is
 *    refused with EOPNOTSUPP and a log line.
 *  - rcmd()/rexec() connect and send inside the C library: to a
 *    destination a tls or deny rule names they are refused.
 *  - bpf() (no C library wrapper: syscall() is its way): a sockmap's
 *    SK_MSG or SK_SKB program moves bytes from one socket to another's
 *    wire inside the kernel, so while the policy has TLS rules loading
 *    or attaching one is refused (EPERM), and so is putting a socket the
 *    library has not found plain into a sockmap or sockhash made
 *    elsewhere, and loading, attaching, running or iterating with a
 *    program that could put one there itself (bpf_judged,
 *    prog_fills_sockmap): judged on the library's own copies of the
 *    arguments and descriptors, which the kernel then gets (the
 *    descriptors held: no dup2 onto them until the call is over).
 *  - the number is taken as the kernel takes it, its low 32 bits, so
 *    one with high bits set meets the same wrappers; an x32 number
 *    (__X32_SYSCALL_BIT) fails with ENOSYS while the policy has TLS
 *    rules.  The arguments too: the kernel's int and unsigned int ones
 *    by their low 32 bits (the casts below; poll's and ppoll's nfds in
 *    shim/poll.c), unshare's unsigned long flags with a bit above 31
 *    EINVAL, as the kernel answers (failclosed_entry.sh, widths).
 * Raw system call instructions (inline assembly, static binaries, the
 * 32-bit entry int $0x80) are beyond any preload: libtlsshim(7),
 * LIMITATIONS.
 */
#include <aio.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/kcm.h>
#include <linux/nbd.h>
#include <linux/seccomp.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sched.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/self.h"
#include "policy/reload.h"
#include "shim/shim.h"

bool shim_has_tls_rules(void)
{
	shim_ensure_init();
	return policy_has_tls(shim_policy);
}

/* Our id for process_vm_readv/writev: not getpid() where the library's
 * page knows it (a filter that refuses getpid() made every copy fail
 * with ESRCH: a raw ppoll's time-out EFAULT); -1 (refused, as EPERM)
 * where it cannot be had. */
static ssize_t own_vm(bool reading, const struct iovec *l, const struct iovec *r)
{
	pid_t me = self_pid_own();

	if (!me) {
		errno = EPERM;
		return -1;
	}
	return reading ? process_vm_readv(me, l, 1, r, 1, 0) : process_vm_writev(me, l, 1, r, 1, 0);
}

/* The head of the kernel's struct clone_args (linux/sched.h). */
/* n bytes at src, in our own memory, into dst; false if they cannot all
 * be read (a bad address, or one that runs into an unmapped page: the
 * kernel will say EFAULT).  Only where process_vm_readv is refused (a
 * seccomp filter's EPERM, no such call), or our id cannot be had, are
 * they read directly. */
static bool read_own(void *dst, const void *src, size_t n)
{
	struct iovec l = { dst, n }, r = { (void *)(uintptr_t)src, n };
	ssize_t got = own_vm(true, &l, &r);

	if (got >= 0 || (errno != EPERM && errno != ENOSYS))
		return got == (ssize_t)n;
	memcpy(dst, src, n);
	return true;
}

#define A(i) ((long)a[i])
#define P(i, T) ((T)(uintptr_t)a[i])

/* struct clone_args as large as the library copies it (88 bytes since
 * Linux 5.7). */
#define CLONE3_ARGS_MAX 128

/* clone3's arguments (a[0], a[1] bytes) read once, into args, which the
 * kernel then gets (a[0] pointed there, a[1] at most CLONE3_ARGS_MAX):
 * the flags the library judges are the ones the kernel reads.  The
 * kernel takes a struct up to a page, the bytes past its own members
 * zero (else E2BIG): a larger one is taken so, its zero tail dropped,
 * and one whose bytes past CLONE3_ARGS_MAX are not all zero is E2BIG
 * (members the library does not know).  Before h216 one above 128 bytes
 * went to the kernel as it was: a CLONE_VM | CLONE_VFORK clone3 of 256
 * bytes was not served by a copy (vfork_copied) and the parent died of
 * SIGSEGV (vmrw.sh, c3bigvfork); and the flags were read twice from the
 * program's memory, the kernel reading them a third time (another
 * thread's change in between went unjudged).  0, or a negative errno
 * (EFAULT: unreadable, where the kernel's answer could differ were the
 * memory mapped in between). */
static long clone3_copied(unsigned long *a, uint64_t *args)
{
	size_t n = a[1] < CLONE3_ARGS_MAX ? a[1] : CLONE3_ARGS_MAX;
	const char *src = (const char *)(uintptr_t)a[0];

	memset(args, 0, CLONE3_ARGS_MAX);
	if (!read_own(args, src, n))
		return -EFAULT;
	for (size_t off = n; off < a[1]; off += CLONE3_ARGS_MAX) {
		uint64_t tail[CLONE3_ARGS_MAX / 8] = { 0 };
		size_t k = a[1] - off < CLONE3_ARGS_MAX ? a[1] - off : CLONE3_ARGS_MAX;

		if (!read_own(tail, src + off, k))
			return -EFAULT;
		for (size_t i = 0; i < CLONE3_ARGS_MAX / 8; i++)
			if (tail[i])
				return -E2BIG;
	}
	a[0] = (unsigned long)(uintptr_t)args;
	a[1] = n;
	return 0;
}

/* A vfork made through syscall(): clone or clone3 with CLONE_VM and
 * CLONE_VFORK, without CLONE_THREAD, and no stack of its own.  The child
 * runs on this thread's stack, and returns from this wrapper before the
 * parent does: the C library's syscall() has no frame to lose there,
 * ours has one, and the child's next calls wrote over it (its saved
 * registers, its return address), so the parent, once the child had
 * exec'd, returned into them and died (SIGSEGV; vmrw.sh, sysvfork and
 * c3vfork).  It is served as vfork() is, by a copy of the process:
 * CLONE_VM off (and CLONE_SIGHAND, which needs it), CLONE_VFORK kept, so
 * that the parent still waits for the child's exec or _exit, which is
 * all such a child may do (its changes to the memory are its own now).
 * CLONE_FILES goes too: a descriptor table shared without the memory
 * would part from the child's copy of the library's tables, as in the
 * clone shim_before_clone refuses (sysvforkfiles).
 * The sessions went to pumps for the clone asked for (shim_before_clone)
 * all the same.  a: the system call's arguments (clone's flags
 * changed); args: clone3's, copied (clone3_copied), their flags changed.
 * true when the clone is one. */
static bool vfork_copied(long no, unsigned long *a, uint64_t *args)
{
	const uint64_t drop = CLONE_VM | CLONE_SIGHAND | CLONE_FILES, vfork = CLONE_VM | CLONE_VFORK;
	uint64_t flags;

	if (no == SYS_clone) {
		/* flags, stack first (as on x86-64 and AArch64) */
		flags = a[0];
		if ((flags & (vfork | CLONE_THREAD)) != vfork || a[1])
			return false;
		a[0] = flags & ~drop;
		return true;
	}
	/* clone3: struct clone_args' stack is its sixth member */
	flags = args[0];
	if ((flags & (vfork | CLONE_THREAD)) != vfork || args[5])
		return false;
	args[0] = flags & ~drop;
	return true;
}

/* The kernel's sigset_t, in bytes (the system calls' sigsetsize). */
#define KERNEL_SIGSET (_NSIG / 8)

static long raw_einval(void)
{
	errno = EINVAL;
	return -1;
}

static long raw_efault(void)
{
	errno = EFAULT;
	return -1;
}

/* n bytes from src into dst, in our own memory, as the kernel's
 * copy_to_user: false, nothing written, where dst is not writable (a
 * const time-out in read-only memory).  errno is kept. */
static bool write_own(void *dst, const void *src, size_t n)
{
	struct iovec l = { (void *)(uintptr_t)src, n }, r = { dst, n };
	int keep = errno;
	ssize_t got = own_vm(false, &l, &r);
	bool ok = got == (ssize_t)n;

	if (got < 0 && (errno == EPERM || errno == ENOSYS)) {
		memcpy(dst, src, n);
		ok = true;
	}
	errno = keep;
	return ok;
}

/* The time-out of a raw wait, copied as the kernel copies it (the
 * program's may be read-only, or unreadable: EFAULT, where the wrappers
 * would fault), into own: false when unreadable. */
static bool raw_timeout(const void *user, void *own, size_t n)
{
	return !user || read_own(own, user, n);
}

/* ppoll's and pselect6's arguments, the time-out the library's copy. */
struct raw_wait {
	const unsigned long *a;
	struct timespec *ts;
};

static long ppoll_call(const struct raw_wait *w)
{
	const unsigned long *a = w->a;

	if (a[3] && a[4] != KERNEL_SIGSET)
		return raw_einval();
	/* nfds: the kernel's unsigned int (as in ppoll() itself: a
	 * sanitizer's interceptor, before the library, reads all 64 bits) */
	return ppoll(P(0, struct pollfd *), (unsigned int)a[1], w->ts, P(3, const sigset_t *));
}

/* pselect6's sixth argument: the mask and its size, or NULL (read before
 * the time-out, as the kernel: EFAULT first). */
static long pselect_call(const struct raw_wait *w)
{
	const unsigned long *a = w->a;
	const unsigned long *m = P(5, const unsigned long *);
	unsigned long sm[2] = { 0, KERNEL_SIGSET };

	if (m && !read_own(sm, m, sizeof sm))
		return raw_efault();
	if (clock_ts_timeout_ns(w->ts) == CLOCK_NS_INVALID)
		return raw_einval();
	if (sm[0] && sm[1] != KERNEL_SIGSET)
		return raw_einval();
	return pselect((int)A(0), P(1, fd_set *), P(2, fd_set *), P(3, fd_set *), w->ts,
		       (const sigset_t *)(uintptr_t)sm[0]);
}

/* ppoll and pselect6 as system calls write the time not slept back into
 * the timespec (the C library's calls work on a copy): a program's loop
 * counts on it.  Not for a zero or an invalid time-out, as the kernel;
 * and, as the kernel, a time-out in read-only memory is left as it is
 * (the wait's result stands).  The wrappers get a copy: an unreadable
 * time-out is EFAULT, before the mask, as the kernel says. */
static long raw_timed_wait(struct timespec *user, long (*call)(const struct raw_wait *),
			   const unsigned long *a)
{
	struct timespec own;
	struct raw_wait w = { a, NULL };
	int64_t t, start, left;
	long r;
	int keep;

	if (!raw_timeout(user, &own, sizeof own))
		return raw_efault();
	w.ts = user ? &own : NULL;
	t = clock_ts_timeout_ns(w.ts);
	start = clock_ns();
	r = call(&w);
	keep = errno;
	if (!w.ts || t <= 0 || t == CLOCK_NS_FOREVER || (r < 0 && errno == EINVAL))
		return r;
	left = t - (clock_ns() - start);
	if (left < 0)
		left = 0;
	own.tv_sec = left / 1000000000;
	own.tv_nsec = left % 1000000000;
	write_own(user, &own, sizeof own);
	errno = keep;
	return r;
}

/* select as a system call: its timeval copied (EFAULT when unreadable)
 * and read as kern_select reads it: tv_sec + tv_usec / 10^6 seconds (in
 * the kernel's wrapping arithmetic) and (tv_usec % 10^6) * 1000 ns, EINVAL
 * when either is negative ({-1, 3000000} is 2 s; {5, -1} and {LONG_MAX,
 * 2000000} EINVAL), where the C library's select refuses any negative
 * part and saturates.  The wrapper gets the time-out normalised; the time
 * left goes back, as poll_select_finish: not for a zero time-out, and not
 * where the program's is read-only (the C library's select would write
 * it and fault). */
static long raw_select(const unsigned long *a)
{
	struct timeval own;
	struct timeval *tv = NULL;
	bool zero = true;
	long r;

	if (!raw_timeout(P(4, const struct timeval *), &own, sizeof own))
		return raw_efault();
	if (a[4]) {
		long sec = (long)((unsigned long)own.tv_sec + (unsigned long)(own.tv_usec / 1000000));
		long usec = own.tv_usec % 1000000;

		if (sec < 0 || usec < 0)
			return raw_einval();
		own = (struct timeval){ sec, usec };
		tv = &own;
		zero = !sec && !usec;
	}
	r = select((int)A(0), P(1, fd_set *), P(2, fd_set *), P(3, fd_set *), tv);
	if (tv && !zero)
		write_own(P(4, struct timeval *), &own, sizeof own);
	return r;
}

/* epoll_pwait2's time-out: copied (EFAULT when unreadable, before the
 * sigsetsize's EINVAL). */
static long raw_epoll_pwait2(const unsigned long *a)
{
	struct timespec own;
	struct timespec *ts;

	if (!raw_timeout(P(3, const struct timespec *), &own, sizeof own))
		return raw_efault();
	ts = a[3] ? &own : NULL;
	if (clock_ts_timeout_ns(ts) == CLOCK_NS_INVALID)
		return raw_einval();
	if (a[4] && a[5] != KERNEL_SIGSET)
		return raw_einval();
	return epoll_pwait2((int)A(0), P(1, struct epoll_event *), (int)A(2), ts, P(4, const sigset_t *));
}

/* ---- bpf() ---------------------------------------------------------------
 * An SK_MSG program on a sockmap sent what the program wrote on a plain
 * socket on to a TLS connection's wire (bpf_msg_redirect_map: in clear,
 * past every wrapper), and an SK_SKB one does the same with what a plain
 * socket receives.  No such program is needed to run TLS under a legacy
 * program: while the policy has TLS rules, loading one (BPF_PROG_LOAD) and
 * attaching one made elsewhere (BPF_PROG_ATTACH, BPF_LINK_CREATE) are
 * refused; and a map made elsewhere, with its program already attached,
 * gets no socket of this process that the library has not found plain
 * (BPF_MAP_UPDATE_ELEM on a sockmap or sockhash).  The kernel's own
 * answer for what it does not allow, EPERM, and a log line.  Nor does
 * this process load, attach or link a program that fills a sockmap by
 * itself (a SOCK_OPS program's bpf_sock_map_update put the TLS connection
 * in a map made before the library ran: prog_fills_sockmap).  A program
 * of another process, attached there (a cgroup's SOCK_OPS program that
 * adds every socket to its map), is beyond a preload: libtlsshim(7),
 * LIMITATIONS. */
static bool sk_redirect_attach(uint32_t type)
{
	return type == BPF_SK_SKB_STREAM_PARSER || type == BPF_SK_SKB_STREAM_VERDICT ||
	       type == BPF_SK_MSG_VERDICT || type == BPF_SK_SKB_VERDICT;
}

/* The kernel's bpf_*_info of the BPF object fd into info (len bytes, as
 * the caller set them up: zeros, or the room for a list); false when fd
 * is none. */
static bool bpf_info(int fd, void *info, uint32_t len)
{
	union bpf_attr q;

	memset(&q, 0, sizeof q);
	q.info.bpf_fd = (uint32_t)fd;
	q.info.info_len = len;
	q.info.info = (uintptr_t)info;
	return REAL(syscall)(SYS_bpf, BPF_OBJ_GET_INFO_BY_FD, &q, sizeof q) == 0;
}

/* Whether the BPF program prog_fd may put sockets in a sockmap by
 * itself: it uses a sockmap or sockhash, or a map of maps (its inner
 * maps may be either), or one the kernel does not let this process
 * inspect, or a prog array one of whose programs may (a tail call runs
 * it: a SOCK_OPS program that tail-called one made before the library
 * put the TLS connection in a sockmap).  A SOCK_OPS program's
 * bpf_sock_map_update() puts every connection of its cgroup in the map
 * with no BPF_MAP_UPDATE_ELEM call, and the bpf_map_update_elem() of tc,
 * XDP, socket filter and iterator programs takes sockets too.  An
 * SK_LOOKUP program is let through: it hands connections to listeners
 * only (the accepted socket's own port picks the rule).  fd no program,
 * or one the kernel will not describe (a seccomp filter refuses
 * BPF_OBJ_GET_INFO_BY_FD): true.  w bounds the walk (tail calls may
 * loop): past it, true. */
static const char unreadable_prog[] = "a program whose maps cannot be read, taken for one";

/* What a walk through tail calls may look at: system calls in all, and
 * prog arrays deep (each level's program keeps its lists on the stack). */
struct walk {
	int calls, depth;
};

static bool tails_fill_sockmap(int tails, uint32_t entries, struct walk *w, const char **type);

static bool prog_fills(int prog_fd, struct walk *w, const char **type)
{
	struct bpf_prog_info info;
	struct bpf_map_info m;
	uint32_t ids[64];
	union bpf_attr q;
	bool fills;
	int fd;

	memset(&info, 0, sizeof info);
	memset(ids, 0, sizeof ids);
	info.nr_map_ids = sizeof ids / sizeof ids[0];
	info.map_ids = (uintptr_t)ids;
	if (--w->calls < 0 || !bpf_info(prog_fd, &info, sizeof info)) {
		/* not a program (the kernel answers as well), or the kernel will
		 * not say what it is (a seccomp filter): taken as one */
		*type = unreadable_prog;
		return true;
	}
	if (info.type == BPF_PROG_TYPE_SK_LOOKUP)
		return false;
	*type = info.type == BPF_PROG_TYPE_SOCK_OPS ? "a SOCK_OPS program" : "a program";
	if (info.nr_map_ids > sizeof ids / sizeof ids[0])
		return true;
	for (uint32_t i = 0; i < info.nr_map_ids; i++) {
		memset(&q, 0, sizeof q);
		q.map_id = ids[i];
		if ((fd = (int)REAL(syscall)(SYS_bpf, BPF_MAP_GET_FD_BY_ID, &q, sizeof q)) < 0) {
			if (errno == ENOENT)
				continue;       /* gone, or fd no program: the kernel answers */
			return true;
		}
		memset(&m, 0, sizeof m);
		if (!bpf_info(fd, &m, sizeof m))
			m.type = BPF_MAP_TYPE_SOCKMAP;  /* cannot be told: taken for one */
		fills = m.type == BPF_MAP_TYPE_SOCKMAP || m.type == BPF_MAP_TYPE_SOCKHASH ||
			m.type == BPF_MAP_TYPE_ARRAY_OF_MAPS || m.type == BPF_MAP_TYPE_HASH_OF_MAPS ||
			(m.type == BPF_MAP_TYPE_PROG_ARRAY && tails_fill_sockmap(fd, m.max_entries, w, type));
		REAL(close)(fd);
		if (fills)
			return true;
	}
	return false;
}

/* The programs in the prog array tails (of so many entries), as
 * prog_fills() judges them; one too large or deep to walk: true. */
static bool tails_fill_sockmap(int tails, uint32_t entries, struct walk *w, const char **type)
{
	union bpf_attr q;
	uint32_t id;
	bool fills;
	long r;
	int fd;

	if (--w->depth < 0) {
		*type = "a program whose prog array cannot be walked, taken for one";
		return true;
	}
	for (uint32_t key = 0; key < entries; key++) {
		memset(&q, 0, sizeof q);
		q.map_fd = (uint32_t)tails;
		q.key = (uintptr_t)&key;
		q.value = (uintptr_t)&id;
		if (--w->calls < 0 ||
		    ((r = REAL(syscall)(SYS_bpf, BPF_MAP_LOOKUP_ELEM, &q, sizeof q)) < 0 && errno != ENOENT)) {
			*type = "a program whose prog array cannot be walked, taken for one";
			return true;
		}
		if (r < 0)
			continue;       /* an empty entry */
		memset(&q, 0, sizeof q);
		q.prog_id = id;
		if ((fd = (int)REAL(syscall)(SYS_bpf, BPF_PROG_GET_FD_BY_ID, &q, sizeof q)) < 0) {
			if (errno == ENOENT)
				continue;       /* gone */
			*type = unreadable_prog;
			return true;
		}
		fills = prog_fills(fd, w, type);
		REAL(close)(fd);
		if (fills)
			return true;
	}
	w->depth++;
	return false;
}

/* prog_fills() of prog_fd: 4096 system calls (a prog array's entries,
 * programs) and 8 prog arrays deep at the most. */
static bool prog_fills_sockmap(int prog_fd, const char **type)
{
	struct walk w = { 4096, 8 };

	return prog_fills(prog_fd, &w, type);
}

/* The program of the BPF link link_fd (BPF_ITER_CREATE's: reading the
 * iterator runs it), as prog_fills_sockmap() judges it: a tcp or
 * sock_map iterator's bpf_map_update_elem() puts any socket of the
 * network namespace in a sockmap.  A link or program the kernel will not
 * describe: true. */
static bool link_fills_sockmap(int link_fd, const char **type)
{
	struct bpf_link_info li;
	union bpf_attr q;
	bool fills;
	int fd;

	memset(&li, 0, sizeof li);
	memset(&q, 0, sizeof q);
	if (!bpf_info(link_fd, &li, sizeof li) ||
	    (q.prog_id = li.prog_id, fd = (int)REAL(syscall)(SYS_bpf, BPF_PROG_GET_FD_BY_ID, &q, sizeof q)) < 0) {
		*type = unreadable_prog;
		return true;
	}
	fills = prog_fills_sockmap(fd, type);
	REAL(close)(fd);
	return fills;
}

/* Whether fd is one the library has not found plain (a TLS connection,
 * or one it refused or cannot tell yet); *what says which, for the log
 * line of the caller's refusal. */
static bool not_plain(int fd, const char **what)
{
	struct tls_conn *c = NULL;
	int rt = shim_route(fd, &c);

	if (c)
		tls_conn_unref(c);
	*what = rt == ROUTE_TLS ? "TLS" : "refused or unknown";
	return rt != ROUTE_PASS;
}

/* -EPERM, logged: doing (loading, attaching, linking) a program of
 * prog_fills_sockmap(). */
static int fills_refused(const char *doing, const char *type)
{
	log_warn("bpf: %s %s that uses a sockmap, sockhash or map of maps refused (EPERM) while the"
		 " policy has TLS rules: it could put a TLS connection in a sockmap by itself", doing, type);
	return -EPERM;
}

/* The name /proc gives fd ("anon_inode:[io_uring]", "anon_inode:bpf-prog"),
 * at most n bytes of it, not terminated; its length, or -1 (no /proc, or
 * readlink refused). */
static ssize_t anon_name(int fd, char *buf, size_t n)
{
	char path[40];

	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	return readlink(path, buf, n);
}

/* Program types that write packets the kernel sends or delivers: XDP
 * (XDP_TX, and BPF_PROG_TEST_RUN's live frames: sent), tc (SCHED_CLS,
 * SCHED_ACT: bpf_skb_store_bytes, bpf_clone_redirect) and lwt ones (an
 * encapsulation of their own).  Such a program rewrites TLS records into
 * bytes of the program's (a map it fills), or makes segments of its own,
 * past the library: the class of a raw socket, refused with them while
 * the policy has TLS rules (shim_raw_guarded, shim/sock.c; the same
 * raw_sockets = "allow" lets them through).  rtnetlink (IFLA_XDP, a tc
 * filter) attaches one with no bpf() call: one this process did not load
 * is refused when taken (BPF_OBJ_GET, BPF_PROG_GET_FD_BY_ID) and replaced
 * when it arrives otherwise (shim_packet_prog, shim/classify.c). */
static bool packet_writer(uint32_t type)
{
	return type == BPF_PROG_TYPE_XDP || type == BPF_PROG_TYPE_SCHED_CLS || type == BPF_PROG_TYPE_SCHED_ACT ||
	       type == BPF_PROG_TYPE_LWT_IN || type == BPF_PROG_TYPE_LWT_OUT ||
	       type == BPF_PROG_TYPE_LWT_XMIT || type == BPF_PROG_TYPE_LWT_SEG6LOCAL;
}

/* Whether the program prog_fd (one made elsewhere, to be attached,
 * linked or run) is a packet_writer; one the kernel will not describe is
 * taken for one, as in prog_fills_sockmap. */
static bool prog_writes_packets(int prog_fd)
{
	struct bpf_prog_info info;

	memset(&info, 0, sizeof info);
	return !bpf_info(prog_fd, &info, sizeof info) || packet_writer(info.type);
}

/* Whether fd, a descriptor this process did not get from BPF_PROG_LOAD
 * (inherited, received, taken with pidfd_getfd: shim/classify.c), is a
 * BPF program of a packet_writer type while those are refused: rtnetlink
 * (IFLA_XDP, a tc filter) attaches it with no bpf() call.  Not a
 * program, or one the kernel will not describe: false (a descriptor of
 * any kind reaches here). */
bool shim_packet_prog(int fd)
{
	static const char name[] = "anon_inode:bpf-prog";
	struct bpf_prog_info info;
	char link[sizeof name];
	ssize_t n;

	if (!shim_raw_guarded())
		return false;
	/* the name first, as for a ring: bpf() only for a program's (or
	 * without /proc), not for every eventfd of a sandboxed program
	 * whose filter may kill for bpf() */
	if ((n = anon_name(fd, link, sizeof link)) >= 0 &&
	    ((size_t)n != sizeof name - 1 || memcmp(link, name, sizeof name - 1)))
		return false;
	memset(&info, 0, sizeof info);
	return bpf_info(fd, &info, sizeof info) && packet_writer(info.type);
}

/* -EPERM, logged: doing (loading, attaching, ...) a packet_writer. */
static int packets_refused(const char *doing)
{
	log_warn("bpf: %s an XDP, tc or lwt program refused (EPERM) while the policy has TLS rules: it"
		 " could put the program's bytes in the packets the kernel sends (raw_sockets = \"allow\""
		 " in the policy permits it)", doing);
	return -EPERM;
}

/* ---- judged once: the library's own copies ----------------------------
 * The bpf() and ADDFD refusals judged a descriptor number, then called
 * the kernel with the same number and the same memory: another thread's
 * dup2() of a TLS connection onto that number, or its rewrite of the
 * union bpf_attr, a sockmap update's value or the ADDFD struct, between
 * the check and the call, put what was never judged in the kernel's
 * hands (kroute.sh's races, helper-169).  So the arguments are copied
 * into the library's memory once, every descriptor the check judges is
 * duplicated at the library's own high numbers (shim_own_copy), the
 * copy is what is judged, and the kernel gets the copied arguments
 * naming the copies, which are closed after. */

/* Bytes of an extensible struct kept (the kernel's union bpf_attr grows:
 * a program built with newer headers than the library's passes more). */
#define EXT_OWN 1024

/* The program's n-byte struct at src into own (EXT_OWN bytes, zeros past
 * n): the size to hand the kernel, at most EXT_OWN, the bytes past it
 * checked zero as the kernel checks what it does not know; -EFAULT
 * (unreadable) or -E2BIG (not zero), as the kernel answers. */
static long ext_copy(void *own, const void *src, size_t n)
{
	unsigned char b[256];
	size_t k = n < EXT_OWN ? n : EXT_OWN;

	memset(own, 0, EXT_OWN);
	if ((n && !src) || !read_own(own, src, k))
		return -EFAULT;
	for (size_t at = k, m; at < n; at += m) {
		m = n - at < sizeof b ? n - at : sizeof b;
		if (!read_own(b, (const unsigned char *)src + at, m))
			return -EFAULT;
		for (size_t i = 0; i < m; i++)
			if (b[i])
				return -E2BIG;
	}
	return (long)k;
}

/* What the kernel wrote into the copy (own against sent, n bytes: a test
 * run's results, a load's log size) written back to the program's struct
 * at user; the copies' numbers, which it does not write, stay the
 * program's own. */
static void ext_write_back(void *user, const unsigned char *own, const unsigned char *sent, size_t n)
{
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i; j < n && own[j] != sent[j]; j++)
			;
		if (j > i)
			write_own((unsigned char *)user + i, own + i, j - i);
		else
			j++;
	}
}

/* A copy of the program's descriptor fd, the library's for one call,
 * held (shim_own_hold: no dup2 onto it, no close, until the call is
 * over): its number, or -EBADF (no such descriptor, as the kernel says)
 * or -EMFILE. */
static int own_copy(uint32_t fd)
{
	int d = fd > INT32_MAX ? (errno = EBADF, -1) : shim_own_hold((int)fd);

	return d < 0 ? -errno : d;
}

/* Let go and closed as the program's close() would (a socket copy
 * judged has an entry in the library's table); errno kept.  A copy of a
 * TLS socket is in no session's list: its close let the record lock
 * claim() took go, taken again here (shim_relock_socket). */
static void own_copy_close(int d)
{
	int e = errno;
	struct stat st;

	if (d >= 0) {
		bool sock = fstat(d, &st) == 0 && S_ISSOCK(st.st_mode);

		shim_own_let_go(d);
		(void)close(d);
		if (sock)
			shim_relock_socket(&st);
	}
	errno = e;
}

/* Whether the program's descriptor fd, of which d is the library's copy,
 * is not plain: the number (as before: it classifies the program's own
 * number) or the copy, which is what the kernel gets. */
static bool copy_not_plain(uint32_t fd, int d, const char **what)
{
	return not_plain((int)fd, what) || not_plain(d, what);
}

/* BPF_MAP_UPDATE_ELEM: the map and, for a sockmap or sockhash, the
 * socket in the update's value, for a prog array the program, taken as
 * copies (*map, *fd), the value copied into val and named by at.  0,
 * -EPERM (logged: the socket is not plain, the program fills a sockmap)
 * or the kernel's answer to a descriptor that is none. */
static int map_update_judged(union bpf_attr *at, uint64_t *val, int *map, int *fd)
{
	struct bpf_map_info info;
	const char *what;
	uint32_t v32;
	uint64_t v;
	bool tails;

	if ((*map = own_copy(at->map_fd)) < 0)
		return *map;
	at->map_fd = (uint32_t)*map;
	memset(&info, 0, sizeof info);
	if (!bpf_info(*map, &info, sizeof info) ||
	    (info.type != BPF_MAP_TYPE_SOCKMAP && info.type != BPF_MAP_TYPE_SOCKHASH &&
	     info.type != BPF_MAP_TYPE_PROG_ARRAY) ||
	    (info.value_size != sizeof v32 && info.value_size != sizeof v))
		return 0;       /* no such map: the kernel answers */
	tails = info.type == BPF_MAP_TYPE_PROG_ARRAY;
	if (info.value_size == sizeof v32 ? !read_own(&v32, (const void *)(uintptr_t)at->value, sizeof v32)
					  : !read_own(&v, (const void *)(uintptr_t)at->value, sizeof v))
		return -EFAULT;
	if (info.value_size == sizeof v32)
		v = v32;
	*val = v;
	at->value = (uintptr_t)val;
	if (v > INT32_MAX)
		return 0;       /* the kernel's EINVAL or EBADF, on the copy */
	if ((*fd = own_copy((uint32_t)v)) < 0)
		return *fd;
	if (tails && prog_fills_sockmap(*fd, &what))
		return fills_refused("tail-calling", what);
	if (!tails && copy_not_plain((uint32_t)v, *fd, &what)) {
		log_warn("bpf: fd %d into a sockmap refused (EPERM): it is not a plain connection"
			 " (%s), and a sockmap's program would move its bytes past the library", (int)v, what);
		return -EPERM;
	}
	if (info.value_size == sizeof v32)
		memcpy(val, &(uint32_t){ (uint32_t)*fd }, sizeof v32);
	else
		*val = (uint64_t)*fd;
	return 0;
}

/* bpf(cmd, uattr, size): the commands that could move a TLS connection's
 * bytes past the library judged (while the policy has TLS rules) on the
 * library's copies, and refused with EPERM (logged); the answer as a
 * system call's, or a negative errno. */
static long bpf_judged(int cmd, void *uattr, unsigned long size)
{
	union { union bpf_attr at; unsigned char b[EXT_OWN]; } k, sent;
	const char *what = NULL, *doing = NULL, *type;
	uint32_t *judged = NULL;
	uint64_t val = 0;
	int d = -1, map = -1, held = -1, e;
	long n, r;

	if ((cmd != BPF_PROG_LOAD && cmd != BPF_PROG_ATTACH && cmd != BPF_LINK_CREATE && cmd != BPF_LINK_UPDATE &&
	     cmd != BPF_PROG_TEST_RUN && cmd != BPF_MAP_UPDATE_ELEM && cmd != BPF_ITER_CREATE) ||
	    !shim_has_tls_rules() || size > (unsigned long)sysconf(_SC_PAGESIZE)) {
		/* (a size above a page: the kernel's E2BIG, by the size alone) */
		r = REAL(syscall)(SYS_bpf, cmd, uattr, size);
		/* a pinned program (BPF_OBJ_GET) or one found by its id: an XDP
		 * or tc one would be attached through rtnetlink */
		if ((cmd == BPF_OBJ_GET || cmd == BPF_PROG_GET_FD_BY_ID) && r >= 0 && shim_packet_prog((int)r)) {
			REAL(close)((int)r);
			return packets_refused("taking");
		}
		return r < 0 ? -errno : r;
	}
	if ((n = ext_copy(&k, uattr, size)) < 0)
		return n;
	if (cmd == BPF_PROG_LOAD && packet_writer(k.at.prog_type) && shim_raw_guarded())
		return packets_refused("loading");
	switch (cmd) {
	case BPF_PROG_LOAD:
		if (k.at.prog_type == BPF_PROG_TYPE_SK_MSG || k.at.prog_type == BPF_PROG_TYPE_SK_SKB)
			what = k.at.prog_type == BPF_PROG_TYPE_SK_MSG ? "loading an SK_MSG program"
									: "loading an SK_SKB program";
		break;
	case BPF_PROG_ATTACH:
		if (sk_redirect_attach(k.at.attach_type))
			what = "attaching an SK_MSG or SK_SKB program";
		judged = &k.at.attach_bpf_fd, doing = "attaching";
		break;
	case BPF_LINK_CREATE:
		if (sk_redirect_attach(k.at.link_create.attach_type))
			what = "linking an SK_MSG or SK_SKB program";
		judged = &k.at.link_create.prog_fd, doing = "linking";
		break;
	case BPF_LINK_UPDATE:
		judged = &k.at.link_update.new_prog_fd, doing = "linking";
		break;
	case BPF_PROG_TEST_RUN:
		/* a program made elsewhere, run here without any attach (an
		 * XDP or tc program's bpf_sk_lookup_tcp and
		 * bpf_map_update_elem put a socket in a sockmap) */
		judged = &k.at.test.prog_fd, doing = "running";
		break;
	case BPF_ITER_CREATE:
		/* an iterator runs its link's program at every read() */
		judged = &k.at.iter_create.link_fd, doing = "iterating with";
		break;
	}
	if (what) {
		log_warn("bpf: %s refused (EPERM) while the policy has TLS rules: it would move bytes"
			 " between sockets past the library (bpf_msg_redirect_map, bpf_sk_redirect_map)", what);
		return -EPERM;
	}
	if (judged) {
		if ((d = own_copy(*judged)) < 0)
			return d;
		*judged = (uint32_t)d;
		if (cmd == BPF_ITER_CREATE ? link_fills_sockmap(d, &type) : prog_fills_sockmap(d, &type)) {
			own_copy_close(d);
			return fills_refused(doing, type);
		}
		/* (a test run sends packets only with live frames) */
		if (cmd != BPF_ITER_CREATE && shim_raw_guarded() &&
		    (cmd != BPF_PROG_TEST_RUN || (k.at.test.flags & BPF_F_TEST_XDP_LIVE_FRAMES)) &&
		    prog_writes_packets(d)) {
			own_copy_close(d);
			return packets_refused(doing);
		}
	}
	if (cmd == BPF_MAP_UPDATE_ELEM && (r = map_update_judged(&k.at, &val, &map, &held)) < 0)
		goto out;
	/* the whole union at least: a copy's number in a field past a short
	 * size would not reach the kernel, which reads 0 there (fd 0, never
	 * judged); zeros past the program's size are what the kernel reads
	 * there anyway, and only the program's own bytes are written back */
	memcpy(&sent, &k, sizeof sent);
	r = REAL(syscall)(SYS_bpf, cmd, &k, (unsigned long)n < sizeof k.at ? sizeof k.at : (unsigned long)n);
	r = r < 0 ? -errno : r;
	ext_write_back(uattr, k.b, sent.b, (size_t)n);
	/* which maps a program uses, the kernel tells once it is loaded
	 * (instructions, fd_array): not attached yet, it has done nothing */
	if (cmd == BPF_PROG_LOAD && r >= 0 && prog_fills_sockmap((int)r, &type)) {
		REAL(close)((int)r);
		r = fills_refused("loading", type);
	}
out:
	e = errno;
	own_copy_close(d);
	own_copy_close(map);
	own_copy_close(held);
	errno = e;
	return r;
}

/* ioctl(fd, req, arg) of a seccomp supervisor's
 * SECCOMP_IOCTL_NOTIF_ADDFD, of any struct size the kernel takes (it
 * reads the size from req: a program's larger struct, zeros past ours,
 * went past the library's check of req): while the policy has TLS rules,
 * a descriptor the library has not found plain is refused with EPERM
 * (logged).  ADDFD puts a copy of it in the notifying process at any
 * number (SECCOMP_ADDFD_FLAG_SETFD: also in place of one of its own,
 * this process's too when one of its threads notifies), past every
 * wrapper: a TLS connection put at a number the library knows plain
 * took the program's writes there in clear (kroute.sh, helper-166).
 * The answer as ioctl's, or a negative errno. */
bool shim_is_addfd(unsigned long req)
{
	unsigned long no_size = ~((unsigned long)_IOC_SIZEMASK << _IOC_SIZESHIFT);

	return (req & no_size) == (SECCOMP_IOCTL_NOTIF_ADDFD & no_size);
}

int shim_addfd(int fd, unsigned long req, void *arg)
{
	union { struct seccomp_notif_addfd ad; unsigned char b[EXT_OWN]; } k;
	size_t size = _IOC_SIZE(req);
	const char *what;
	uint32_t src;
	long n;
	int d, r;

	/* a size the kernel refuses (EINVAL) by req alone */
	if (!shim_has_tls_rules() || size < sizeof k.ad || size >= (size_t)sysconf(_SC_PAGESIZE))
		return REAL(ioctl)(fd, req, arg) < 0 ? -errno : 0;
	if ((n = ext_copy(&k, arg, size)) < 0)
		return (int)n;
	if ((d = own_copy(src = k.ad.srcfd)) < 0)
		return d;
	if (copy_not_plain(src, d, &what)) {
		log_warn("seccomp: SECCOMP_IOCTL_NOTIF_ADDFD of fd %u refused (EPERM): it is not a plain"
			 " connection (%s), and its copy would be written past the library", src, what);
		own_copy_close(d);
		return -EPERM;
	}
	k.ad.srcfd = (uint32_t)d;
	r = REAL(ioctl)(fd, (req & ~((unsigned long)_IOC_SIZEMASK << _IOC_SIZESHIFT)) |
			    ((unsigned long)n << _IOC_SIZESHIFT), &k);
	r = r < 0 ? -errno : r;
	own_copy_close(d);
	return r;
}

/* Whether fd is a KCM socket (AF_KCM): its SIOCPROTOPRIVATE is
 * SIOCKCMATTACH, another protocol's is its own.  One the kernel will not
 * describe (a seccomp filter) is taken for one. */
static bool kcm_socket(int fd)
{
	int dom = 0;
	socklen_t l = sizeof dom;

	return REAL(getsockopt)(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) < 0 ? errno != ENOTSOCK && errno != EBADF
									   : dom == AF_KCM;
}

/* SIOCKCMATTACH on a KCM socket and NBD_SET_SOCK hand the kernel a TCP
 * socket, which it then reads and writes itself: KCM sends what the
 * program sends on the KCM socket on the connection as it is, and hands
 * it the connection's records as messages; the NBD client writes its
 * requests and the block device's data.  Before, a TLS connection went
 * out in clear so (kroute.sh, kcm, nbd).  While the policy has TLS rules
 * a descriptor the library has not found plain is refused with EPERM
 * (logged), judged on a copy, which is what the kernel gets (as ADDFD).
 * The answer as ioctl's, or a negative errno. */
bool shim_is_attach(unsigned long req)
{
	return req == SIOCKCMATTACH || req == NBD_SET_SOCK;
}

int shim_attach(int fd, unsigned long req, void *arg)
{
	const char *what, *how = req == NBD_SET_SOCK ? "NBD_SET_SOCK" : "SIOCKCMATTACH";
	struct kcm_attach ka;
	uint32_t src;
	int d, r;

	/* (NBD_SET_SOCK's descriptor is the kernel's int: the low 32 bits of
	 * arg; before h210 one with high bits set went to the kernel
	 * unjudged, and the kernel took its low bits, the TLS connection) */
	if (!shim_has_tls_rules() || (req == NBD_SET_SOCK && (uint32_t)(uintptr_t)arg > INT32_MAX) ||
	    (req == SIOCKCMATTACH && (!arg || !kcm_socket(fd))))
		return REAL(ioctl)(fd, req, arg) < 0 ? -errno : 0;
	if (req == SIOCKCMATTACH && !read_own(&ka, arg, sizeof ka))
		return -EFAULT;
	src = req == NBD_SET_SOCK ? (uint32_t)(uintptr_t)arg : (uint32_t)ka.fd;
	if ((d = own_copy(src)) < 0)
		return d;
	if (copy_not_plain(src, d, &what)) {
		log_warn("ioctl(%s) of fd %u refused (EPERM): it is not a plain connection (%s), and the"
			 " kernel would move its bytes past the library", how, src, what);
		own_copy_close(d);
		return -EPERM;
	}
	ka.fd = d;
	r = req == NBD_SET_SOCK ? REAL(ioctl)(fd, req, (unsigned long)d) : REAL(ioctl)(fd, req, &ka);
	r = r < 0 ? -errno : r;
	own_copy_close(d);
	return r;
}

/* A string at src, in our own memory, into dst (at most cap - 1 bytes,
 * as far as it can be read, then a NUL); false if none can be read. */
static bool read_own_str(char *dst, const void *src, size_t cap)
{
	struct iovec l = { dst, cap - 1 }, r = { (void *)(uintptr_t)src, cap - 1 };
	ssize_t got = own_vm(true, &l, &r);

	if (got < 0 && (errno == EPERM || errno == ENOSYS))
		got = (ssize_t)strnlen(src, cap - 1), memcpy(dst, src, (size_t)got);
	if (got <= 0)
		return false;
	dst[got] = 0;
	return true;
}

/* A mount option's number as the kernel's kstrtouint(s, 0) reads it (a
 * 9p option is fsparam_u32): an optional '+', digits (0x hex, 0 octal),
 * and one '\n' may end it; -1 for anything else, or past UINT_MAX.
 * Before h214 strtol read it, and "rfdno=5\n", which the kernel takes
 * as 5, went to the kernel unjudged: 9P in clear on a TLS connection
 * (kroute.sh, 9p-nl). */
static long kernel_uint_opt(const char *s)
{
	unsigned long long v;
	char *end;

	if (*s == '+')
		s++;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || v > 0xffffffffULL)
		return -1;
	if (*end == '\n')
		end++;
	return *end ? -1 : (long)v;
}

/* mount() of a 9p file system with "trans=fd": its rfdno and wfdno name
 * descriptors the kernel's 9p client then reads and writes itself (its
 * 9P messages, the files' data).  While the policy has TLS rules, one the
 * library has not found plain is refused with EPERM (logged); they are
 * judged on copies, which the options the kernel gets name (as ADDFD).
 * Before, the kernel spoke 9P in clear on a TLS connection (kroute.sh,
 * 9p).  fsconfig()'s rfdno and wfdno (the new mount interface): below. */
SHIM_EXPORT int mount(const char *src, const char *dir, const char *type, unsigned long flags,
		      const void *data)
{
	char t[8], opts[4096], out[4300], *save = NULL;
	int copies[8], nc = 0, r;
	size_t len = 0;

	if (!type || !data || !read_own_str(t, type, sizeof t) || strcmp(t, "9p") || !shim_has_tls_rules() ||
	    !read_own_str(opts, data, sizeof opts))
		return REAL(mount)(src, dir, type, flags, data);
	out[0] = 0;
	for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(o, '=');
		const char *what;
		long n = -1;
		int d;

		if (eq && eq - o == 5 && (!strncmp(o, "rfdno", 5) || !strncmp(o, "wfdno", 5)))
			n = kernel_uint_opt(eq + 1);
		/* (past INT32_MAX no descriptor: the kernel's fget fails) */
		if (n < 0 || n > INT32_MAX) {
			len += (size_t)snprintf(out + len, sizeof out - len, "%s%s", len ? "," : "", o);
			continue;
		}
		if (nc == (int)(sizeof copies / sizeof copies[0])) {
			r = -EINVAL;
			goto done;
		}
		if ((d = own_copy((uint32_t)n)) < 0) {
			r = d;
			goto done;
		}
		copies[nc++] = d;
		if (copy_not_plain((uint32_t)n, d, &what)) {
			log_warn("mount: 9p's %.5s=%ld refused (EPERM): fd %ld is not a plain connection (%s), and"
				 " the kernel would read and write it past the library", o, n, n, what);
			r = -EPERM;
			goto done;
		}
		len += (size_t)snprintf(out + len, sizeof out - len, "%s%.5s=%d", len ? "," : "", o, d);
	}
	/* The kernel reads a page less its last byte: options that the
	 * copies' numbers made longer would be cut there, the last one
	 * perhaps a number the library never judged ("wfdno=5" of
	 * "wfdno=512"; before h216 the kernel got it: kroute.sh, 9p-long). */
	if (len >= sizeof opts) {
		log_warn("mount: 9p's options with the library's copies would be %zu bytes, more"
			 " than the kernel reads: refused (EINVAL)", len);
		r = -EINVAL;
		goto done;
	}
	r = REAL(mount)(src, dir, type, flags, out) < 0 ? -errno : 0;
done:
	while (nc > 0)
		own_copy_close(copies[--nc]);
	SHIM_RET(r);
}

/* fsconfig() (the new mount interface) of a key that names a descriptor
 * by its number: 9p's "rfdno" and "wfdno" (trans=fd: the kernel's 9p
 * client reads and writes them itself, its 9P messages and the files'
 * data), FUSE's and autofs' "fd".  The kernel looks the number up when
 * the file system is made (FSCONFIG_CMD_CREATE), not now: a number found
 * plain here could name the TLS connection by then (a dup2 in between),
 * so while the policy has TLS rules the keys are refused, EPERM (logged),
 * whatever the number and the command; so is such a key with "=" and a
 * value in it (a file system on the old interface joins a flag's key into
 * its option string as it is).  FSCONFIG_SET_FD of another key hands the
 * kernel the file now: judged on a copy (as ADDFD), which the kernel
 * gets.  The key (and a string value) go to the kernel as the library's
 * copies, read once.  Before h213 fsconfig was not looked at: a 9p file
 * system made on the TLS connection spoke 9P on it in clear (kroute.sh,
 * fs9p, fs9p-sys; FUSE's kernel takes /dev/fuse alone, autofs' a pipe).
 * The answer as a system call's, or a negative errno. */
static long fs_call(int fd, unsigned int cmd, const void *key, const void *value, int aux)
{
	long r = REAL(syscall)(SYS_fsconfig, fd, cmd, key, value, aux);

	return r < 0 ? -errno : r;
}

static bool fd_key(const char *k)
{
	size_t n = strcspn(k, "=");

	return (n == 5 && (!strncmp(k, "rfdno", 5) || !strncmp(k, "wfdno", 5))) ||
	       (n == 2 && !strncmp(k, "fd", 2));
}

static long fsconfig_judged(int fd, unsigned int cmd, const char *key, const void *value, int aux)
{
	/* (the kernel's strndup_user(key, 256): 255 bytes and the NUL) */
	char k[257], v[257];
	const char *what;
	long r;
	int d;

	if (!shim_has_tls_rules() || cmd > FSCONFIG_SET_FD || !key)
		return fs_call(fd, cmd, key, value, aux);
	if (!read_own_str(k, key, sizeof k))
		return -EFAULT;
	if (strlen(k) == sizeof k - 1)
		return -EINVAL;
	if (fd_key(k)) {
		log_warn("fsconfig(fd %d): the key \"%.*s\" names a descriptor the kernel would"
			 " read and write past the library; refused (EPERM) while the policy has"
			 " TLS rules", fd, (int)strcspn(k, "="), k);
		return -EPERM;
	}
	if (cmd == FSCONFIG_SET_STRING && value) {
		if (!read_own_str(v, value, sizeof v))
			return -EFAULT;
		if (strlen(v) == sizeof v - 1)
			return -EINVAL;
		return fs_call(fd, cmd, k, v, aux);
	}
	if (cmd != FSCONFIG_SET_FD || value || aux < 0)
		return fs_call(fd, cmd, k, value, aux);
	if ((d = own_copy((uint32_t)aux)) < 0)
		return d;
	if (copy_not_plain((uint32_t)aux, d, &what)) {
		log_warn("fsconfig(fd %d): FSCONFIG_SET_FD of fd %d refused (EPERM): it is not a"
			 " plain connection (%s), and the kernel would take it past the library",
			 fd, aux, what);
		own_copy_close(d);
		return -EPERM;
	}
	r = fs_call(fd, cmd, k, NULL, d);
	own_copy_close(d);
	return r;
}

SHIM_EXPORT int fsconfig(int fd, unsigned int cmd, const char *key, const void *value, int aux)
{
	SHIM_RET(fsconfig_judged(fd, cmd, key, value, aux));
}

/* n word-sized arguments of a variadic call (unused ones: whatever the
 * registers held, as the C library's own wrappers read them). */
#define TAKE_ARGS(a, n, last) do {                              \
		va_list ap_;                                    \
		va_start(ap_, last);                            \
		for (int i_ = 0; i_ < (n); i_++)                \
			(a)[i_] = va_arg(ap_, unsigned long);   \
		va_end(ap_);                                    \
	} while (0)

/* A seccomp filter about to go on: the pumps of the ends this process
 * holds stop waiting for its markers (pump.c), and the system trust
 * store's file, read at the first verification against it
 * (policy/hashdir.h), is read now, while the process may still open it
 * (sshd's, vsftpd's, tor's filters refuse open).  Landlock: the file
 * only. */
static void sandboxing(void)
{
	shim_pump_sandboxed();
	policy_read_system_stores(shim_policy);
}

/* An iovec count as the kernel's readv family takes it: an unsigned long
 * in the system call, whose low 32 bits alone reach import_iovec (its
 * nr_segs is an unsigned int: Linux 6.18 moves one buffer for
 * (1UL << 32) | 1), for the wrappers' int: one above INT_MAX (and so
 * above UIO_MAXIOV) is -1, which they and the kernel refuse (EINVAL).
 * tests/preload/counts.sh and failclosed_entry.sh (widths). */
#define IOVCNT(v) ((unsigned int)(v) > INT_MAX ? -1 : (int)(unsigned int)(v))

SHIM_EXPORT long syscall(long no, ...)
{
	unsigned long a[6];

	TAKE_ARGS(a, 6, no);
	/* The kernel reads the number's low 32 bits alone (x86_64's entry
	 * sign-extends %eax, arm64's takes w8), so (1L << 32) | SYS_write is
	 * write.  Before, such a number missed every case below and went to
	 * the kernel as it was: a TLS fd's write in clear, io_uring_setup and
	 * bpf() unjudged (tests/preload/failclosed_entry.sh, entry). */
	no = (int)no;
#ifdef __X32_SYSCALL_BIT
	/* An x32 number: a kernel built with the x32 ABI (Debian's, booted
	 * with syscall.x32=y) runs it as the call of its low bits (write,
	 * sendto, ...) or as that call's x32 form (512 and up: readv, sendmsg,
	 * io_submit, ...), past every case below.  Refused while the policy
	 * has TLS rules, as a kernel without x32 answers.  Before, it went
	 * to the kernel (failclosed_entry.sh, x32: preload_x32.so stands in
	 * for such a kernel). */
	if (__builtin_expect(((unsigned int)no & 0xc0000000u) == __X32_SYSCALL_BIT, 0) &&
	    shim_has_tls_rules()) {
		log_warn("syscall(%#lx): an x32 system call, refused with ENOSYS while the policy has"
			 " TLS rules (it would go past the library)", (unsigned long)no);
		SHIM_RET(-ENOSYS);
	}
#endif

	switch (no) {
	case SYS_read:
		return read((int)A(0), P(1, void *), (size_t)a[2]);
	case SYS_write:
		return write((int)A(0), P(1, const void *), (size_t)a[2]);
	case SYS_readv:
		return readv((int)A(0), P(1, const struct iovec *), IOVCNT(a[2]));
	case SYS_writev:
		return writev((int)A(0), P(1, const struct iovec *), IOVCNT(a[2]));
	case SYS_preadv2:
		/* pos_l, pos_h: one 64-bit offset on LP64 */
		return preadv2((int)A(0), P(1, const struct iovec *), IOVCNT(a[2]), (off_t)A(3), (int)A(5));
	case SYS_pwritev2:
		return pwritev2((int)A(0), P(1, const struct iovec *), IOVCNT(a[2]), (off_t)A(3), (int)A(5));
	case SYS_recvfrom:
		return recvfrom((int)A(0), P(1, void *), (size_t)a[2], (int)A(3), P(4, struct sockaddr *),
				P(5, socklen_t *));
	case SYS_sendto:
		return sendto((int)A(0), P(1, const void *), (size_t)a[2], (int)A(3),
			      P(4, const struct sockaddr *), (socklen_t)a[5]);
	case SYS_recvmsg:
		return recvmsg((int)A(0), P(1, struct msghdr *), (int)A(2));
	case SYS_sendmsg:
		return sendmsg((int)A(0), P(1, const struct msghdr *), (int)A(2));
	case SYS_recvmmsg:
		return recvmmsg((int)A(0), P(1, struct mmsghdr *), (unsigned)a[2], (int)A(3),
				P(4, struct timespec *));
	case SYS_sendmmsg:
		return sendmmsg((int)A(0), P(1, struct mmsghdr *), (unsigned)a[2], (int)A(3));
	case SYS_sendfile:
		return sendfile((int)A(0), (int)A(1), P(2, off_t *), (size_t)a[3]);
	case SYS_splice:
		return splice((int)A(0), P(1, off64_t *), (int)A(2), P(3, off64_t *), (size_t)a[4],
			      (unsigned)a[5]);
	case SYS_connect:
		return connect((int)A(0), P(1, const struct sockaddr *), (socklen_t)a[2]);
	case SYS_accept:
		return accept((int)A(0), P(1, struct sockaddr *), P(2, socklen_t *));
	case SYS_accept4:
		return accept4((int)A(0), P(1, struct sockaddr *), P(2, socklen_t *), (int)A(3));
	case SYS_listen:
		return listen((int)A(0), (int)A(1));
	case SYS_socket:
		return socket((int)A(0), (int)A(1), (int)A(2));
	case SYS_socketpair:
		return socketpair((int)A(0), (int)A(1), (int)A(2), P(3, int *));
	case SYS_shutdown:
		return shutdown((int)A(0), (int)A(1));
	case SYS_close:
		return close((int)A(0));
	case SYS_close_range:
		return close_range((unsigned)a[0], (unsigned)a[1], (int)A(2));
	case SYS_dup:
		return dup((int)A(0));
	case SYS_dup2:
		return dup2((int)A(0), (int)A(1));
	case SYS_dup3:
		return dup3((int)A(0), (int)A(1), (int)A(2));
	case SYS_fcntl:
		return fcntl((int)A(0), (int)A(1), a[2]);
	case SYS_ioctl:
		return ioctl((int)A(0), (unsigned long)a[1], a[2]);
	case SYS_getpeername:
		return getpeername((int)A(0), P(1, struct sockaddr *), P(2, socklen_t *));
	case SYS_setsockopt:
		return setsockopt((int)A(0), (int)A(1), (int)A(2), P(3, const void *), (socklen_t)a[4]);
	case SYS_getsockname:
		return getsockname((int)A(0), P(1, struct sockaddr *), P(2, socklen_t *));
	case SYS_getsockopt:
		return getsockopt((int)A(0), (int)A(1), (int)A(2), P(3, void *), P(4, socklen_t *));
	case SYS_poll:
		return poll(P(0, struct pollfd *), (unsigned int)a[1], (int)A(2));
	case SYS_ppoll:
		return raw_timed_wait(P(2, struct timespec *), ppoll_call, a);
	case SYS_select:
		return raw_select(a);
	case SYS_pselect6:
		return raw_timed_wait(P(4, struct timespec *), pselect_call, a);
	case SYS_epoll_create:
		return epoll_create((int)A(0));
	case SYS_epoll_create1:
		return epoll_create1((int)A(0));
	case SYS_epoll_ctl:
		return epoll_ctl((int)A(0), (int)A(1), (int)A(2), P(3, struct epoll_event *));
	case SYS_epoll_wait:
		return epoll_wait((int)A(0), P(1, struct epoll_event *), (int)A(2), (int)A(3));
	case SYS_epoll_pwait:
		if (a[4] && a[5] != KERNEL_SIGSET)
			return raw_einval();
		return epoll_pwait((int)A(0), P(1, struct epoll_event *), (int)A(2), (int)A(3),
				   P(4, const sigset_t *));
	case SYS_epoll_pwait2:
		return raw_epoll_pwait2(a);
	case SYS_pidfd_getfd:
		return pidfd_getfd((int)A(0), (int)A(1), (unsigned)a[2]);
	case SYS_fsconfig:
		return fsconfig((int)A(0), (unsigned)a[1], P(2, const char *), P(3, const void *),
				(int)A(4));
	case SYS_mount:
		return mount(P(0, const char *), P(1, const char *), P(2, const char *), a[3], P(4, const void *));
	case SYS_execve:
		return execve(P(0, const char *), P(1, char *const *), P(2, char *const *));
	case SYS_execveat:
		return execveat((int)A(0), P(1, const char *), P(2, char *const *), P(3, char *const *),
				(int)A(4));
	case SYS_prctl:
		if ((int)A(0) == PR_SET_SECCOMP && shim_policy)
			sandboxing();
		break;
	case SYS_seccomp:
		if (shim_policy)
			sandboxing();
		break;
#ifdef SYS_landlock_restrict_self
	case SYS_landlock_restrict_self:
		if (shim_policy)
			policy_read_system_stores(shim_policy);
		break;
#endif
	case SYS_fork:
		return fork();
	case SYS_vfork:
		return vfork();
	case SYS_clone:
	case SYS_clone3: {
		/* Another process (no CLONE_THREAD): live sessions go to pumps
		 * first.  The child runs none of the program's atfork handlers;
		 * a copy of the process runs the library's own (below). */
		uint64_t flags, args[CLONE3_ARGS_MAX / 8];
		bool copy;
		long r;

		/* clone3 without arguments the kernel would take (a probe for
		 * clone3, as glibc's): its answer, EINVAL or EFAULT, made
		 * nothing (a page's size at most: E2BIG).  Its arguments are
		 * read once, without the risk of a fault, and the kernel gets
		 * that copy (clone3_copied). */
		if (no == SYS_clone) {
			flags = a[0];
		} else if (!a[0] || a[1] < 64 || a[1] > (unsigned long)getpagesize()) {
			break;
		} else {
			if ((r = clone3_copied(a, args)) < 0)
				SHIM_RET(r);
			flags = args[0];
		}

		if (!shim_before_clone(flags))
			SHIM_RET(-EINVAL);
		/* A copy of the process: fork()'s handlers of ours around it
		 * (init.c, shim_fork_prepare); a vfork on this stack is served
		 * by one (vfork_copied). */
		if ((copy = !(flags & (CLONE_VM | CLONE_THREAD)) || vfork_copied(no, a, args)))
			shim_fork_prepare();
		r = REAL(syscall)(no, a[0], a[1], a[2], a[3], a[4], a[5]);
		if (r == 0 && copy) {
			shim_fork_child();
		} else if (r != 0) {
			if (copy)
				shim_fork_parent();
			shim_after_clone(flags);
		}
		return r;
	}
	case SYS_exit_group:
		_exit((int)A(0));
	case SYS_unshare:
		/* flags: the kernel's unsigned long, every flag it knows in the
		 * low 32 bits (check_unshare_flags: EINVAL for any other).
		 * Before h214 the high bits were dropped and the call made
		 * (failclosed_entry.sh, widths). */
		if (a[0] >> 32)
			SHIM_RET(-EINVAL);
		return unshare((int)A(0));
	case SYS_setns:
		return setns((int)A(0), (int)A(1));
	case SYS_bpf:
		/* size: the kernel's unsigned int (before h210 one with high
		 * bits set was "above a page", went to the kernel unjudged, and
		 * the kernel loaded the SK_MSG program: kroute.sh, *-high) */
		SHIM_RET(bpf_judged((int)A(0), P(1, void *), (unsigned int)a[2]));
	case SYS_io_setup:
		/* Linux native aio (libaio) writes and reads in the kernel,
		 * past every wrapper, as io_uring does. */
		if (shim_has_tls_rules()) {
			log_info("io_setup: refused with ENOSYS while the policy has TLS rules"
				 " (native aio would move bytes past the shim)");
			SHIM_RET(-ENOSYS);
		}
		break;
	case SYS_io_uring_setup:
		if (shim_has_tls_rules()) {
			log_info("io_uring_setup: refused with ENOSYS while the policy has TLS rules"
				 " (io_uring would move bytes past the shim)");
			SHIM_RET(-ENOSYS);
		}
		break;
	}
	return REAL(syscall)(no, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* An io_uring instance that another process made (one that does not run
 * the library, which refuses to make one while the policy has TLS rules)
 * moves this process's bytes past every wrapper once this process holds
 * it: its IORING_OP_SEND on a TLS socket sent the program's plain text.
 * Linux refuses to pass one with SCM_RIGHTS (EINVAL) and to open one
 * through /proc/PID/fd (ENXIO); pidfd_getfd() takes it, and an exec keeps
 * one whose FD_CLOEXEC was cleared (shim_classify() looks at start-up).
 *
 * The kernel's answers only, in this order:
 *  - fstat(): a ring is an anonymous inode, with no file type in its
 *    mode (as eventfd, epoll, timerfd, pidfd); a socket, a pipe, a file
 *    or a device is no ring, whatever a seccomp filter refuses later.
 *    The type of an open file cannot be changed (chmod keeps it).
 *  - the name /proc gives it: "anon_inode:[io_uring]".
 *  - without /proc (a chroot, a mount that hides it, readlink refused):
 *    io_uring_enter() with nothing to submit and nothing to wait for (a
 *    ring answers 0 and does nothing; anything else EOPNOTSUPP).  Before,
 *    io_uring_register() was asked, and a seccomp filter's answer to it
 *    decided: EPERM (Docker's default profile) made every descriptor a
 *    ring, so pidfd_getfd() of a socket failed; ENOSYS made a ring none,
 *    and its IORING_OP_SEND went out in clear.  A filter's answer to
 *    io_uring_enter() (EPERM, ENOSYS) is the answer every later enter
 *    gets too (a filter is never lifted, and exec keeps it): such a ring
 *    cannot be driven by this process, so it moves none of its bytes
 *    (a ring with a kernel submission thread, SQPOLL, takes its
 *    descriptors from the table of the process that made it).
 * st: fd's fstat() when the caller has it, or NULL. */
bool shim_is_uring_st(int fd, const struct stat *st)
{
	static const char name[] = "anon_inode:[io_uring]";
	char link[sizeof name];
	struct stat own;
	int keep = errno;
	ssize_t n;
	bool ring;

	if (!st && fstat(fd, &own) == 0)
		st = &own;
	if (st ? (st->st_mode & S_IFMT) != 0 : errno == EBADF) {
		errno = keep;
		return false;
	}
	n = anon_name(fd, link, sizeof link);
	if (n >= 0)
		ring = (size_t)n == sizeof name - 1 && !memcmp(link, name, sizeof name - 1);
	else
		ring = REAL(syscall)(SYS_io_uring_enter, fd, 0, 0, 0, NULL, 0) >= 0 ||
		       (errno != EOPNOTSUPP && errno != EBADF && errno != ENOSYS && errno != EPERM &&
			errno != EACCES);
	errno = keep;
	return ring;
}

bool shim_is_uring(int fd)
{
	return shim_is_uring_st(fd, NULL);
}

/* ---- liburing ---------------------------------------------------------------- */

/* liburing (Debian's 2.3 among others) is built to make its system calls
 * itself, with the syscall instruction, not through syscall(): its
 * io_uring_setup() never reaches the wrapper above, and a ring so made
 * connects, sends and receives past every wrapper (IORING_OP_CONNECT then
 * IORING_OP_SEND to a TLS destination left in clear).  Its exported entry
 * points that make a ring are wrapped instead: ENOSYS (liburing's
 * negative errno, and errno) while the policy has TLS rules, as for the
 * system call; otherwise liburing's own.  A program linked with a static
 * liburing is beyond any preload (LIMITATIONS). */
static bool uring_refused(const char *what)
{
	if (!shim_has_tls_rules())
		return false;
	log_info("%s: refused with ENOSYS while the policy has TLS rules (io_uring would move"
		 " bytes past the shim)", what);
	errno = ENOSYS;
	return true;
}

static void *uring_next(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

SHIM_EXPORT int io_uring_setup(unsigned entries, void *params)
{
	int (*next)(unsigned, void *);

	if (uring_refused("io_uring_setup (liburing)") || !(next = uring_next("io_uring_setup")))
		return -ENOSYS;
	return next(entries, params);
}

SHIM_EXPORT int io_uring_queue_init(unsigned entries, void *ring, unsigned flags)
{
	int (*next)(unsigned, void *, unsigned);

	if (uring_refused("io_uring_queue_init (liburing)") || !(next = uring_next("io_uring_queue_init")))
		return -ENOSYS;
	return next(entries, ring, flags);
}

SHIM_EXPORT int io_uring_queue_init_params(unsigned entries, void *ring, void *params)
{
	int (*next)(unsigned, void *, void *);

	if (uring_refused("io_uring_queue_init_params (liburing)") ||
	    !(next = uring_next("io_uring_queue_init_params")))
		return -ENOSYS;
	return next(entries, ring, params);
}

SHIM_EXPORT int io_uring_queue_init_mem(unsigned entries, void *ring, void *params, void *buf,
					size_t size)
{
	int (*next)(unsigned, void *, void *, void *, size_t);

	if (uring_refused("io_uring_queue_init_mem (liburing)") ||
	    !(next = uring_next("io_uring_queue_init_mem")))
		return -ENOSYS;
	return next(entries, ring, params, buf, size);
}

/* ---- unshare ---------------------------------------------------------------- */

/* unshare(CLONE_FILES) gives the calling thread a descriptor table of its
 * own while the shim's table of what each fd is stays one per process:
 * the thread could then close a TLS fd and reuse its number for a plain
 * file in its own table, and another thread's write on that number would
 * go out plain on the TLS socket.  While the policy has TLS rules it is
 * refused with EINVAL (a kernel's answer to a flag it does not know), as
 * is close_range(CLOSE_RANGE_UNSHARE) (shim/fd.c) and a clone() that
 * shares the table without the memory (shim/process.c). */
bool shim_refuse_unshare_files(const char *what)
{
	if (!shim_has_tls_rules())
		return false;
	log_warn("%s: refused with EINVAL while the policy has TLS rules (a descriptor table"
		 " apart from the process's would let a plain fd take a TLS fd's number)", what);
	return true;
}

SHIM_EXPORT int unshare(int flags)
{
	if ((flags & CLONE_FILES) && shim_refuse_unshare_files("unshare(CLONE_FILES)")) {
		errno = EINVAL;
		return -1;
	}
	if ((flags & CLONE_NEWNET) && shim_policy)
		shim_pump_open_all();   /* (pump.c: markers cannot leave the new one) */
	return REAL(unshare)(flags);
}

/* A seccomp filter about to go on: the pumps of the ends this process
 * holds are told not to wait for its markers (pump.c), which the filter
 * may refuse, or kill for (sshd's and vsftpd's sandboxes). */
SHIM_EXPORT int prctl(int option, ...)
{
	unsigned long a[4];

	TAKE_ARGS(a, 4, option);
	if (option == PR_SET_SECCOMP && shim_policy)
		sandboxing();
	return (int)REAL(syscall)(SYS_prctl, option, a[0], a[1], a[2], a[3]);
}

SHIM_EXPORT int setns(int fd, int nstype)
{
	if ((!nstype || (nstype & CLONE_NEWNET)) && shim_policy)
		shim_pump_open_all();   /* (as unshare) */
	return (int)REAL(syscall)(SYS_setns, fd, nstype);
}

/* ---- POSIX aio ------------------------------------------------------------ */

/* 0 when aio may go on with fd, else the negative errno that refuses
 * it: on a TLS fd EOPNOTSUPP (logged); on a number the library refused
 * (a connection that carried bytes outside it, one whose rule cannot be
 * told, a deny rule's) the error every other call on it gets,
 * ECONNRESET.  Before, only a TLS fd was refused, and aio_write on a
 * refused one wrote in clear from the C library's helper thread. */
static int aio_refused(int fd, const char *what)
{
	struct tls_conn *c;
	int r = shim_route(fd, &c);

	if (r != ROUTE_TLS)
		return r < 0 ? r : 0;
	log_warn("%s rule \"%s\": %s on a TLS connection is not supported (its I/O runs inside"
		 " the C library, past the TLS layer); refused with EOPNOTSUPP", tls_conn_peer(c),
		 tls_conn_label(c), what);
	tls_conn_unref(c);
	return -EOPNOTSUPP;
}

/* aio_read, aio_write and the 64-bit forms: refused on TLS sockets. */
#define AIO_ENTRY(name, cbtype, what)                                        \
	SHIM_EXPORT int name(cbtype *cb)                                     \
	{                                                                    \
		int e_ = aio_refused(cb->aio_fildes, what);                  \
		if (e_ < 0)                                                  \
			SHIM_RET(e_);                                        \
		return REAL(name)(cb);                                       \
	}
AIO_ENTRY(aio_read, struct aiocb, "aio_read")
AIO_ENTRY(aio_write, struct aiocb, "aio_write")
AIO_ENTRY(aio_read64, struct aiocb64, "aio_read")
AIO_ENTRY(aio_write64, struct aiocb64, "aio_write")

#define LIO_ENTRY(name, cb)                                                            \
	SHIM_EXPORT int name(int mode, cb *const list[], int n, struct sigevent *sev) \
	{                                                                              \
		for (int i = 0; i < n; i++) {                                          \
			int e_;                                                        \
			if (list[i] && list[i]->aio_lio_opcode != LIO_NOP &&           \
			    (e_ = aio_refused(list[i]->aio_fildes, "lio_listio")) < 0) \
				SHIM_RET(e_);                                          \
		}                                                                      \
		return REAL(name)(mode, list, n, sev);                                 \
	}
LIO_ENTRY(lio_listio, struct aiocb)
LIO_ENTRY(lio_listio64, struct aiocb64)

/* ---- rcmd/rexec --------------------------------------------------------- */

/* Would a connect rule make this destination TLS (or deny it)?  Or
 * would the call's own look-up of host (the C library's internal
 * getaddrinfo, which no wrapper sees) ask a TLS-ruled name server over
 * TCP (shim_lookup_refused, which logs it)?  A look-up of ours that
 * fails otherwise is no refusal: the call's own fails the same way. */
static bool remote_refused(const char *host, unsigned short port_be, sa_family_t af, const char *what)
{
	struct addrinfo hints = { .ai_family = af, .ai_socktype = SOCK_STREAM }, *res = NULL;
	bool refused = false;

	if (!shim_policy || !host)
		return false;
	if (shim_lookup_refused(host, what))
		return true;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		res = NULL;
	for (struct addrinfo *ai = res; ai && !refused; ai = ai->ai_next) {
		struct shim_verdict v;
		if (ai->ai_family == AF_INET)
			((struct sockaddr_in *)(void *)ai->ai_addr)->sin_port = port_be;
		else if (ai->ai_family == AF_INET6)
			((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_port = port_be;
		else
			continue;
		if (shim_resolve_connect(-1, ai->ai_addr, ai->ai_addrlen, &v, NULL) &&
		    v.rule->action != POLICY_PLAIN) {
			log_warn("%s rule \"%s\": %s() connects and sends inside the C library, past the"
				 " TLS layer; refused", v.desc, v.rule->name, what);
			refused = true;
		}
	}
	if (res)
		freeaddrinfo(res);
	/* (checked again last: that getaddrinfo took back its RES_IGNTC,
	 * which the call's own look-up needs) */
	return refused || shim_lookup_refused(host, what);
}

SHIM_EXPORT int rcmd_af(char **ahost, unsigned short port, const char *luser, const char *ruser,
			const char *cmd, int *fd2, sa_family_t af)
{
	if (ahost && remote_refused(*ahost, port, af, "rcmd"))
		SHIM_RET(-ECONNREFUSED);
	return SHIM_LOOKUP(REAL(rcmd_af)(ahost, port, luser, ruser, cmd, fd2, af));
}

SHIM_EXPORT int rcmd(char **ahost, unsigned short port, const char *luser, const char *ruser,
		     const char *cmd, int *fd2)
{
	return rcmd_af(ahost, port, luser, ruser, cmd, fd2, AF_INET);
}

SHIM_EXPORT int rexec_af(char **ahost, int port, const char *user, const char *pass,
			 const char *cmd, int *fd2, sa_family_t af)
{
	if (ahost && remote_refused(*ahost, (unsigned short)port, af, "rexec"))
		SHIM_RET(-ECONNREFUSED);
	return SHIM_LOOKUP(REAL(rexec_af)(ahost, port, user, pass, cmd, fd2, af));
}

SHIM_EXPORT int rexec(char **ahost, int port, const char *user, const char *pass, const char *cmd,
		      int *fd2)
{
	return rexec_af(ahost, port, user, pass, cmd, fd2, AF_INET);
}

/* ruserok() looks rhost up, and it and iruserok() the host names of
 * /etc/hosts.equiv and ~/.rhosts, with the C library's internal
 * getaddrinfo: refused (-1, errno ECONNREFUSED) where that look-up would
 * ask a TLS-ruled name server over TCP (shim_resolver_refused, which
 * logs it; for iruserok whether a file names a host is not known ahead). */
SHIM_EXPORT int ruserok_af(const char *rhost, int superuser, const char *ruser, const char *luser, sa_family_t af)
{
	if (shim_lookup_refused(rhost, "ruserok"))
		SHIM_RET(-ECONNREFUSED);
	return SHIM_LOOKUP(REAL(ruserok_af)(rhost, superuser, ruser, luser, af));
}

SHIM_EXPORT int ruserok(const char *rhost, int superuser, const char *ruser, const char *luser)
{
	return ruserok_af(rhost, superuser, ruser, luser, AF_INET);
}

SHIM_EXPORT int iruserok_af(const void *raddr, int superuser, const char *ruser, const char *luser,
			    sa_family_t af)
{
	if (shim_resolver_refused("iruserok"))
		SHIM_RET(-ECONNREFUSED);
	return SHIM_LOOKUP(REAL(iruserok_af)(raddr, superuser, ruser, luser, af));
}

SHIM_EXPORT int iruserok(uint32_t raddr, int superuser, const char *ruser, const char *luser)
{
	return iruserok_af(&raddr, superuser, ruser, luser, AF_INET);
}
