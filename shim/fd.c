/* shim/fd.c — the calls that create, copy and end fds: socket(), close(),
 * shutdown(), close_range(), closefrom(), dup(), dup2(), dup3(),
 * fcntl(F_DUPFD*), fdopen(), and every call that hands out a new number.
 *
 * A duplicate of a TLS fd shares its session (the kernel socket is the
 * same): it goes into the table too, so nothing written through it can
 * leave in clear, and close_notify waits for the last close.
 *
 * close() of a TLS fd leaves a tombstone (CLOSING) in the table until the
 * real close() has returned: another thread's write() racing the close
 * fails with EBADF, as on a closed socket, and never reaches the C
 * library while the session's close_notify is on its way. */
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <limits.h>
#include <stdarg.h>
#include <unistd.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <linux/close_range.h>
#include <linux/openat2.h>
#include <sys/syscall.h>

#include "core/log.h"
#include "core/self.h"
#include "shim/peerenv.h"
#include "shim/shim.h"

/* ---- calls that hand out new fds -------------------------------------
 * A number handed out again was closed behind our back (by the C
 * library's own close, say): whatever the table recorded for it is stale
 * and must not turn this new file's I/O into TLS. */
/* ---- numbers that have a FILE ------------------------------------------
 * stdio reads and writes with the C library's internal calls, past every
 * wrapper: a FILE that fdopen() made on a socket before it became TLS
 * (fdopen, then connect) would carry plaintext.  Such numbers are
 * remembered, and a session placed on one goes to a pump as on fds 0-2
 * (shim_tls_placed).  A number handed out again is forgotten (fclose()
 * closes with the C library's own close, which no wrapper sees). */
static void *stdio_marks;              /* unsigned char[conntab_size] */

/* A table of one entry of size bytes per number (conntab_size of them),
 * in *cell: mapped at its first use (make), by whichever thread gets
 * there first; NULL when it is not there (not made yet, or no memory). */
static void *fd_table(void **cell, size_t size, bool make)
{
	void *m = __atomic_load_n(cell, __ATOMIC_ACQUIRE), *p;
	size_t bytes = conntab_size * size;

	if (m || !make)
		return m;
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (!__atomic_compare_exchange_n(cell, &m, p, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		munmap(p, bytes);
		return m;
	}
	return p;
}

/* fd's entry in the table *cell (entries of size bytes; the table made
 * at its first use when make), or NULL: fd beyond the table, or no table
 * (not made yet, or no memory). */
static void *fd_word(void **cell, size_t size, int fd, bool make)
{
	char *m;

	if (fd < 0 || (size_t)fd >= conntab_size || !(m = fd_table(cell, size, make)))
		return NULL;
	return m + (size_t)fd * size;
}

/* A table of one flag per number (*cell): set or cleared (the table is
 * made for a set only), and read. */
static void flag_set(void **cell, int fd, bool on)
{
	unsigned char *w = fd_word(cell, sizeof *w, fd, on);

	if (w)
		__atomic_store_n(w, on, __ATOMIC_RELEASE);
}

static bool flag_get(void **cell, int fd)
{
	unsigned char *w = fd_word(cell, sizeof *w, fd, false);

	return w && __atomic_load_n(w, __ATOMIC_ACQUIRE);
}

/* A table of one socket inode per number (*cell; 0: none): what a
 * number named when it was noted, so that a number handed out again, or
 * a socket put there by a raw system call (dup2 or dup3 in inline
 * assembly, which no wrapper sees), never passes for it.  One fstat per
 * question. */
static void ino_note(void **cell, int fd, unsigned long ino)
{
	/* (no memory: not known then, asked as before) */
	unsigned long *w = fd_word(cell, sizeof *w, fd, ino != 0);

	if (w)
		__atomic_store_n(w, ino, __ATOMIC_RELEASE);
}

static bool ino_same(void **cell, int fd)
{
	unsigned long *w = fd_word(cell, sizeof *w, fd, false), ino;
	struct stat st;

	if (!w || !(ino = __atomic_load_n(w, __ATOMIC_ACQUIRE)))
		return false;
	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == ino;
}

/* (no memory: fdopen_ready refuses then, shim_fd_has_file) */
static void stdio_mark(int fd, bool on)
{
	flag_set(&stdio_marks, fd, on);
}

bool shim_fd_has_file(int fd)
{
	return (fd >= 0 && fd <= 2) || flag_get(&stdio_marks, fd);
}

/* ---- TCP sockets socket() made ------------------------------------------
 * listen() refuses a socket that is not TCP where a tls or deny accept
 * rule names its port (shim_listen_check): the kernel is asked about
 * every socket but one socket() of this process made TCP, noted here by
 * its inode (no memory: asked, as one of unknown origin).  Cleared when
 * the number is handed out again, replaced or closed
 * (shim_fd_kind_forget); compared at listen() (one fstat), so that an
 * SCTP one-to-many socket a raw dup2 or dup3 put at the number is asked,
 * and refused, not taken for the TCP socket (helper-141: it listened in
 * clear on the TLS port). */
static void *tcp_ino;                   /* unsigned long[conntab_size] */

bool shim_sock_made_tcp(int fd)
{
	return ino_same(&tcp_ino, fd);
}

/* ---- sockets whose whole history this process saw ----------------------
 * An abortive close (SO_LINGER {1, 0}) must stay one (shim/tlsio.c), and
 * asking the socket costs a getsockopt per close.  A socket socket() made
 * here, or accept() made from a listener socket() made here, can only
 * carry SO_LINGER from this process's setsockopt (shim_linger_set) while
 * no other process holds it: the number's word is the share generation
 * of its making plus one, and every event that may give this process's
 * descriptors to another (fork, clone, spawn, exec, SCM_RIGHTS sent)
 * moves the generation on (shim_sock_shared), so that every socket made
 * before it is asked again.  Cleared with the number's other kinds
 * (shim_fd_kind_forget): a dup, a received or inherited socket is asked,
 * and so is a dup's source from then on (whole_forget: the socket has
 * two numbers, and the close of one is not its FIN).
 * Beyond the library, as for its other tables: a raw system call in
 * inline assembly, and another process that takes the socket with
 * pidfd_getfd (it needs ptrace rights over this one).  Not checked by
 * inode as tcp_ino is: that fstat would cost each close of a session
 * the system call this table saves; and a session's socket replaced
 * by a raw dup2 leaves the connection table's own word stale first. */
static unsigned share_gen;
static void *whole_seen;                /* unsigned[conntab_size] */

unsigned shim_sock_share_gen(void)
{
	return __atomic_load_n(&share_gen, __ATOMIC_ACQUIRE);
}

void shim_sock_shared(void)
{
	__atomic_add_fetch(&share_gen, 1, __ATOMIC_ACQ_REL);
	shim_pump_disarm_all(false);    /* (another process may close it last) */
}

/* fd was made (socket, accept) after gen was read: a fork meanwhile
 * leaves a word that no longer matches. */
static void whole_note(int fd, unsigned gen)
{
	unsigned *w;

	/* (not while a child may share our memory but not our descriptor
	 * table: shim_sock_dgram_learned) */
	if (!self_memory_shared() && (w = fd_word(&whole_seen, sizeof *w, fd, true)))
		__atomic_store_n(w, gen + 1, __ATOMIC_RELEASE);
}

bool shim_sock_whole(int fd)
{
	unsigned *w = fd_word(&whole_seen, sizeof *w, fd, false);

	return w && !self_memory_shared() && __atomic_load_n(w, __ATOMIC_ACQUIRE) == shim_sock_share_gen() + 1;
}

/* fd is about to be duplicated (dup, dup2, dup3, F_DUPFD; dup_source,
 * before the copy, so that a close racing with it never takes its own for
 * the socket's last): its socket gets another number, so its close is
 * not the socket's last, nor its FIN; the number is asked as one of
 * unknown history.  Kept, a session's close of
 * the number sent its close_notify with MSG_MORE, for a FIN the other
 * descriptor kept back: the kernel held the record until its probe timer
 * (200 ms), which a peer waiting for it waited (shim/tlsio.c,
 * close_begin; h215, tests/preload/closefin.sh, dup_first). */
static void whole_forget(int fd)
{
	unsigned *w = fd_word(&whole_seen, sizeof *w, fd, false);

	if (w)
		__atomic_store_n(w, 0, __ATOMIC_RELEASE);
}

void shim_sock_whole_accepted(int lfd, int fd, unsigned gen)
{
	unsigned *w = fd_word(&whole_seen, sizeof *w, lfd, false);

	if (w && __atomic_load_n(w, __ATOMIC_ACQUIRE) == gen + 1)
		whole_note(fd, gen);
}

/* ---- internet sockets socket() made that are not TCP --------------------
 * A program that sandboxes itself after start-up may refuse the
 * library's getsockopt (shim_sock_tcp), and then a UDP socket's connect()
 * to a port a tls rule names could not be told from a TCP one and was
 * refused (EPERM).  socket() said what it is: the inode of each internet
 * socket socket() made whose type is not SOCK_STREAM (UDP, ICMP, raw;
 * not SOCK_SEQPACKET or SOCK_DCCP, which SCTP and DCCP connect: foreign,
 * shim_sock_tcp) is remembered by number, and compared when asked: a number handed out
 * again, or a socket put there by a raw dup2, never passes for it. */
static void *dgram_ino;                 /* unsigned long[conntab_size] */

bool shim_sock_made_not_tcp(int fd)
{
	return ino_same(&dgram_ino, fd);
}

/* ---- datagram sockets, told once per number ------------------------------
 * shim_peer_check() runs for every datagram a program sends to, or
 * receives from, an address a tls or deny rule names (a catch-all tls
 * rule names them all), and asked the kernel the socket's type each time
 * (getsockopt SO_TYPE): one system call per datagram.  A number whose
 * socket the kernel said is SOCK_DGRAM or SOCK_RAW (never refused there)
 * is remembered here (shim_sock_dgram_learned) until the number names
 * another file: every call that hands the number out again, closes it or
 * puts another socket there (socket, open..., accept, dup2/dup3/F_DUPFD,
 * SCM_RIGHTS, pidfd_getfd, SCTP's peel-off, close, close_range) forgets
 * it (shim_fd_kind_forget), so an SCTP socket put at a datagram socket's
 * number never passes for it.  One word per number: bit 0 "datagram", the
 * rest counts the number's changes, so an answer the kernel gave before
 * a change that raced with the question is not recorded.  fork() copies
 * the table with the descriptors; exec starts afresh; nothing is learnt
 * while a child made with CLONE_VM may run (its descriptor table may be
 * its own: self_memory_shared).  A raw system call
 * (inline assembly) that replaces the socket is beyond the library, as it
 * is for the connection table's own words: checking the inode here
 * (fstat, or SO_COOKIE) would cost each datagram the one system call
 * the table saves. */
static void *dgram_told;                /* unsigned[conntab_size] */

/* The table is made at the first question (a change of a number before
 * that needs no count: the kernel is asked after it). */
bool shim_sock_dgram_known(int fd, unsigned *gen)
{
	unsigned *w = fd_word(&dgram_told, sizeof *w, fd, true);

	*gen = 1;       /* odd: nothing to record (no memory, or beyond the table) */
	if (!w)
		return false;
	*gen = __atomic_load_n(w, __ATOMIC_ACQUIRE);
	return *gen & 1;
}

void shim_sock_dgram_learned(int fd, unsigned gen)
{
	unsigned *w = fd_word(&dgram_told, sizeof *w, fd, false);

	/* A child that shares our memory but not our descriptor table
	 * (clone(CLONE_VM) without CLONE_FILES) may run: what one table says
	 * of the number is not known of the other's, and a "datagram" learnt
	 * in one would let the other's SCTP socket at that number send in
	 * clear.  Asked each time then, as before. */
	if (!w || (gen & 1) || self_memory_shared())
		return;
	(void)__atomic_compare_exchange_n(w, &gen, gen | 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* What the tables above remember of the socket a number named: gone
 * when the number names another file (or none). */
void shim_fd_kind_forget(int fd)
{
	unsigned *d = fd_word(&dgram_told, sizeof *d, fd, false), v;
	unsigned *w = fd_word(&whole_seen, sizeof *w, fd, false);

	ino_note(&tcp_ino, fd, 0);
	if (w)
		__atomic_store_n(w, 0, __ATOMIC_RELEASE);
	if (!d)
		return;
	v = __atomic_load_n(d, __ATOMIC_ACQUIRE);
	while (!__atomic_compare_exchange_n(d, &v, (v | 1) + 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		;
}

static int fresh(int fd)
{
	if (fd >= 0) {
		shim_epoll_fds_closed(fd, fd);
		conntab_set(fd, CT_PLAIN);
		stdio_mark(fd, false);
		ino_note(&dgram_ino, fd, 0);
		shim_fd_kind_forget(fd);
	}
	return fd;
}

/* The library's own descriptors of the policy's files (policy/file.h):
 * the number's stale table entries cleared as fresh() clears them, but
 * not the epoll instances' (shim_epoll_fds_closed): these opens run in
 * handshake steps (a rule's ca/crl look, a reload), which epoll_wait()
 * runs under an instance's lock, and that function takes it again: the
 * thread waited for itself for ever (an Erlang client under a connect
 * rule with a ca file; helper-106).  The number is the library's until
 * shim_close_own() closes it, so no instance can have it registered
 * meanwhile; a stale instance entry of the number stays for the
 * program's next open() of it to clear, as before the library took it.
 * Moved at once to the library's own high numbers (shim_own_move), as
 * the log's copies are: at the lowest free one, where the program's next
 * socket() goes, another thread's dup2() of a socket onto it (or a stray
 * close() and a new socket) made the library read the program's socket
 * as /proc/self/status (select's bound, shim/poll.c) or a peer's maps
 * (shim/msg.c), taking the program's data, and close it after. */
static int fresh_own(int fd)
{
	fd = shim_own_move(fd);
	if (fd >= 0) {
		conntab_set(fd, CT_PLAIN);
		stdio_mark(fd, false);
		shim_fd_kind_forget(fd);
	}
	return fd;
}

/* openat2(2) for the policy's files (policy/file.h). */
int shim_openat2(int dir, const char *path, const struct open_how *how)
{
	long r = REAL(syscall)(SYS_openat2, dir, path, how, sizeof *how);

	return fresh_own(r < 0 ? -1 : (int)r);
}

int shim_open_own(const char *path, int flags, mode_t mode)
{
	return fresh_own(REAL(open)(path, flags, mode));
}

int shim_close_own(int fd)
{
	return REAL(close)(fd);
}

void shim_fd_fresh_accepted(int fd)
{
	stdio_mark(fd, false);
	shim_fd_kind_forget(fd);
}

/* A wrapper handing out new numbers: libc's answer and errno as libc
 * left them (fresh() only records the number). */
#define FRESH(expr) do {                          \
		int keep_ = errno;                 \
		int fd_ = (expr);                  \
		if (fd_ >= 0) {                    \
			fresh(fd_);                \
			errno = keep_;             \
		}                                  \
		return fd_;                        \
	} while (0)

SHIM_EXPORT int socket(int domain, int type, int proto)
{
	unsigned gen;
	int keep = errno, fd = shim_raw_socket_refused(domain, type, proto);
	struct stat st;

	/* a raw or packet socket that sends TCP segments of its own
	 * (shim/sock.c): never made while the policy has TLS rules */
	if (fd < 0)
		SHIM_RET(fd);
	gen = shim_sock_share_gen();
	fd = REAL(socket)(domain, type, proto);

	/* Not connected yet: connect() (or accept() on it) decides. */
	if (fd >= 0) {
		fresh(fd);
		if ((domain == AF_INET || domain == AF_INET6) && (type & 0xf) != SOCK_STREAM &&
		    (type & 0xf) != SOCK_SEQPACKET && (type & 0xf) != SOCK_DCCP && fstat(fd, &st) == 0)
			ino_note(&dgram_ino, fd, (unsigned long)st.st_ino);
		/* TCP, MPTCP (262), SMC (256; or any AF_SMC stream) */
		/* (not while a child may share our memory but not our
		 * descriptor table: shim_sock_dgram_learned) */
		if ((domain == AF_INET || domain == AF_INET6 || domain == 43 /* AF_SMC */) &&
		    (type & 0xf) == SOCK_STREAM && !self_memory_shared() &&
		    (!proto || proto == IPPROTO_TCP || proto == 262 || proto == 256 || domain == 43)) {
			/* (one fstat per TCP socket made, and only where
			 * listen() asks: under accept rules,
			 * shim_sock_made_tcp; a client's socket() costs none) */
			if (shim_accept_rules() && fstat(fd, &st) == 0)
				ino_note(&tcp_ino, fd, (unsigned long)st.st_ino);
			whole_note(fd, gen);
		}
		errno = keep;
	}
	return fd;
}

/* glibc's second name (GLIBC_PRIVATE: reached with dlsym on its handle). */
SHIM_EXPORT int __socket(int domain, int type, int proto)
{
	return socket(domain, type, proto);
}

/* ---- close --------------------------------------------------------------- */

/* A number the program closes is unknown again once closed.  0 or a
 * negative errno. */
static int close_plain(int fd, uintptr_t v)
{
	int r;

	shim_fd_kind_forget(fd);
	r = REAL(close)(fd) < 0 ? -errno : 0;
	if (v != CT_UNSEEN)
		(void)conntab_cas(fd, v, CT_UNSEEN);
	return r;
}

static int shim_close(int fd)
{
	for (;;) {
		uintptr_t v = conntab_load(fd);
		int r;

		/* Ours (never the program's to close), or a close of this very fd
		 * already running in another thread. */
		if (v == CT_OWN || conntab_is_closing(v) || shim_own_held(fd))
			return -EBADF;
		shim_epoll_forget(fd);
		shim_epoll_fds_closed(fd, fd);
		if (v == CT_PUMPED)
			shim_pump_closing(fd, fd);
		if (!conntab_is_tls(v))
			return close_plain(fd, v);
		/* Never cancelled half-way (shim_tls_close): the close completes,
		 * and a pending cancel acts at the next cancellation point. */
		if ((r = shim_tls_close(fd)) != -EAGAIN)
			return r;
	}
}

SHIM_EXPORT int close(int fd)
{
	SHIM_RET_KEEP(shim_close(fd));
}

SHIM_EXPORT int __close(int fd)
{
	return close(fd);
}

/* glibc's no-cancel close (GLIBC_PRIVATE, reached with dlsym on its
 * handle): the fd's session must end as close() ends it. */
SHIM_EXPORT int __close_nocancel(int fd)
{
	return close(fd);
}

/* The end of the program's stream on a pumped fd is a graceful one: the
 * pump is told first.  Asked on the plain path, after the dispatch: a
 * session handed to a pump by another thread's fork while this call
 * began (it was TLS then) comes back here as pumped (moved), and its
 * shutdown must carry the marker too (else the pump reads the FIN as a
 * truncation: the soak's threaded server met it).  Only for a how the
 * kernel shuts writing for, SHUT_WR or SHUT_RDWR: before h214 any other
 * but SHUT_RD (7, -1: the kernel's EINVAL, no FIN) told the pump of an
 * end, and a death after it read as a close, close_notify on a cut
 * stream (pump_death.sh, badshut_forked_kill). */
static int shutdown_plain(int fd, int how)
{
	if ((how == SHUT_WR || how == SHUT_RDWR) && conntab_load(fd) == CT_PUMPED)
		shim_pump_mark(fd);
	return REAL(shutdown)(fd, how);
}

SHIM_EXPORT int shutdown(int fd, int how)
{
	SHIM_DISPATCH(fd, shutdown_plain(fd, how), shim_tls_shutdown(c, how));
}

/* close_range()/closefrom(): every TLS session among the fds ends as if
 * each were closed (tombstones, close_notify from the last fd of each),
 * then one real close over the range, around the shim's own fds. */
struct range_close {
	int fds[256];
	struct tls_conn *conns[256];
	int n;
	bool more;
};

static void begin_one(int fd, struct tls_conn *c, void *arg)
{
	struct range_close *rc = arg;
	struct tls_conn *mine;

	(void)c;
	if (rc->n == 256) {
		rc->more = true;
		return;
	}
	if ((mine = conntab_begin_close(fd))) {
		shim_tls_close_begin(fd, mine);
		rc->fds[rc->n] = fd;
		rc->conns[rc->n++] = mine;
	}
}

static void forget_range(unsigned int first, unsigned int last)
{
	size_t h = conntab_high();

	for (size_t fd = first; fd < h && fd <= last; fd++) {
		uintptr_t v = conntab_load((int)fd);
		if (v != CT_UNSEEN && v != CT_OWN && !(v > CT_TAGS && !(v & CT_PASS_BIT)))
			(void)conntab_cas((int)fd, v, CT_UNSEEN);
		if (v != CT_OWN)
			shim_fd_kind_forget((int)fd);
	}
}

/* 0 or a negative errno. */
static int shim_close_range(unsigned int first, unsigned int last, int flags)
{
	int r;
	int hi = last > 0x7fffffff ? 0x7fffffff : (int)last;
	struct range_close rc;

	if (first > last)
		return -EINVAL;
	if ((flags & CLOSE_RANGE_UNSHARE) && shim_refuse_unshare_files("close_range(CLOSE_RANGE_UNSHARE)"))
		return -EINVAL;
	/* With CLOSE_RANGE_CLOEXEC nothing closes now: exec will, and the
	 * image that ran us is gone by then (exec hands sessions over first). */
	/* first and last are the kernel's unsigned int: from 2^31 on no
	 * descriptor can be open, nor any the library knows.  Before h214,
	 * first read as an int (INT_MIN) made each pass below start from 0:
	 * close_range(0x80000000, ~0U, 0), which closes nothing, ended every
	 * TLS session and left its descriptor refused (failclosed_entry.sh,
	 * widths). */
	if ((flags & CLOSE_RANGE_CLOEXEC) || first > 0x7fffffff)
		return shim_own_close_range(first, last, flags);
	shim_epoll_fds_closed((int)first, hi);
	shim_pump_closing((int)first, hi);
	do {
		rc.n = 0;
		rc.more = false;
		conntab_each_conn((int)first, hi, begin_one, &rc);
		r = shim_own_close_range(first, last, flags);
		for (int i = 0; i < rc.n; i++)
			shim_tls_close_end(rc.fds[i], rc.conns[i]);
	} while (rc.more && r == 0);
	if (r == 0)
		forget_range(first, last);
	return r;
}

SHIM_EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	SHIM_RET_KEEP(shim_close_range(first, last, flags));
}

SHIM_EXPORT void closefrom(int low)
{
	int keep = errno;

	if (low < 0)
		low = 0;
	if (shim_close_range((unsigned)low, ~0U, 0) < 0) {
		/* Kernels without close_range: one fd at a time, as glibc does. */
		size_t h = conntab_high();
		for (size_t fd = (size_t)low; fd < h; fd++)
			if (conntab_load((int)fd) != CT_OWN)
				(void)shim_close((int)fd);
	}
	errno = keep;           /* closefrom() reports nothing */
}

/* ---- duplicates ------------------------------------------------------ */

/* newfd (the C library's answer: -1 and errno on failure) is now a copy
 * of oldfd, whose word was v (classified: never UNSEEN for a socket of
 * interest): share what oldfd is.  ep: shim_epoll_dup_begin's answer,
 * taken before the copy was made.  newfd or a negative errno. */
static int share(int oldfd, int newfd, uintptr_t v, void *ep)
{
	struct tls_conn *c;
	int r, e = errno;

	/* newfd names oldfd's socket now, not the one it named (tcp_ino
	 * said TCP of a socket dup2 replaced: listen() let an SCTP socket
	 * put there by dup2 listen on a port a tls rule names). */
	if (newfd >= 0 && oldfd != newfd) {
		shim_epoll_fds_closed(newfd, newfd);
		shim_fd_kind_forget(newfd);
	}
	shim_epoll_dup_end(ep, oldfd, newfd);
	if (newfd < 0)
		return -e;
	if (oldfd == newfd)
		return newfd;
	if (v == CT_PUMPED) {
		*conntab_pumped(newfd) = *conntab_pumped(oldfd);
		conntab_set(newfd, CT_PUMPED);
		return newfd;
	}
	if (!conntab_is_tls(v) || !(c = conntab_get(oldfd))) {
		conntab_set(newfd, v == CT_REFUSED ? CT_REFUSED : v == CT_UNSEEN ? CT_UNSEEN : CT_PLAIN);
		return newfd;
	}
	if ((r = tls_conn_fd_add(c, newfd)) == -2) {
		/* The session moved to a pump while this copy was made: newfd is
		 * a copy of the TCP socket, which is the pump's now.  It must name
		 * the pump's plaintext end, as oldfd does by now. */
		int fdfl = REAL(fcntl)(newfd, F_GETFD);

		tls_conn_unref(c);
		if (conntab_load(oldfd) == CT_PUMPED && REAL(dup2)(oldfd, newfd) == newfd) {
			if (fdfl > 0)
				(void)REAL(fcntl)(newfd, F_SETFD, fdfl);
			*conntab_pumped(newfd) = *conntab_pumped(oldfd);
			conntab_set(newfd, CT_PUMPED);
			return newfd;
		}
		REAL(close)(newfd);
		return -EBADF;
	}
	if (r < 0 || conntab_attach(newfd, c) < 0) {
		/* Never leave a copy of a TLS socket that writes in clear. */
		log_error("%s rule \"%s\": cannot track duplicate fd %d of a TLS connection; closing it",
			  tls_conn_peer(c), tls_conn_label(c), newfd);
		tls_conn_fd_remove(c, newfd);
		tls_conn_unref(c);
		REAL(close)(newfd);
		return -EMFILE;
	}
	/* The table holds the reference now.  On 0, 1 or 2, stdio reaches it. */
	c = conntab_get(newfd);
	if (c) {
		shim_tls_placed_std(newfd, c);
		tls_conn_unref(c);
	}
	return newfd;
}

/* The word of an fd about to be duplicated, classified first: two
 * classifications of one socket under two numbers would make two
 * sessions of it.  0, or a negative errno for a number that cannot be
 * used (then newfd stays untouched, as with a bad oldfd). */
static int dup_source(int fd, uintptr_t *v)
{
	struct tls_conn *c;
	int r = shim_route(fd, &c);

	if (r < 0)
		return r;
	if (r == ROUTE_TLS)
		tls_conn_unref(c);
	if (REAL(fcntl)(fd, F_GETFD) < 0)
		return -errno;          /* EBADF */
	*v = conntab_load(fd);
	/* (before the copy: a close racing with it never takes its own for
	 * the socket's last) */
	whole_forget(fd);
	return 0;
}

/* dup2/dup3 close newfd first: that ends newfd's own session use. */
static void drop_target(int oldfd, int newfd)
{
	uintptr_t v = conntab_load(newfd);

	if (oldfd == newfd)
		return;
	if (v == CT_OWN) {
		shim_own_dodge(newfd);
		return;
	}
	shim_epoll_fds_closed(newfd, newfd);
	if (v == CT_PUMPED)
		shim_pump_closing(newfd, newfd);
	/* (and again once the copy is there, share(): a question answered
	 * meanwhile by the socket dup2 replaces is not kept) */
	shim_fd_kind_forget(newfd);
	if (conntab_is_tls(v)) {
		struct tls_conn *c = conntab_begin_close(newfd);
		if (c) {
			shim_tls_close_begin(newfd, c);
			/* dup2 closes it; the tombstone goes when the copy lands. */
			shim_tls_close_end(newfd, c);
		}
	}
}

static int shim_dup(int fd)
{
	uintptr_t v;
	int r = dup_source(fd, &v);
	void *ep;

	if (r < 0)
		return r;
	ep = shim_epoll_dup_begin(fd);
	return share(fd, REAL(dup)(fd), v, ep);
}

SHIM_EXPORT int dup(int fd)
{
	SHIM_RET_KEEP(shim_dup(fd));
}

/* dup2 (flags -1) and dup3 (flags >= 0; oldfd == newfd is then EINVAL). */
static int shim_dup23(int oldfd, int newfd, int flags)
{
	uintptr_t v;
	int r;
	void *ep;

	if (flags >= 0 && oldfd == newfd)
		return -EINVAL;
	if ((r = dup_source(oldfd, &v)) < 0)
		return r;
	/* a copy the library holds for a bpf() or ADDFD call (shim/own.c) */
	if (shim_own_held(newfd))
		return -EBUSY;
	drop_target(oldfd, newfd);
	ep = shim_epoll_dup_begin(oldfd);
	r = share(oldfd, shim_own_dup23(oldfd, newfd, flags), v, ep);
	if (newfd == 2 && r == 2)
		log_stderr_replaced();
	return r;
}

SHIM_EXPORT int dup2(int oldfd, int newfd)
{
	SHIM_RET_KEEP(shim_dup23(oldfd, newfd, -1));
}

SHIM_EXPORT int __dup2(int oldfd, int newfd)
{
	return dup2(oldfd, newfd);
}

SHIM_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	/* A negative flags word (bit 31 set) is no dup2 (shim_dup23's -1):
	 * the kernel's dup3 refuses every flag but O_CLOEXEC, first of all.
	 * Before h214 the library made a dup2 of it, onto newfd or fd itself
	 * (failclosed_entry.sh, widths). */
	if (flags < 0)
		SHIM_RET(-EINVAL);
	SHIM_RET_KEEP(shim_dup23(oldfd, newfd, flags));
}

/* Signal-driven I/O (O_ASYNC by F_SETFL or FIOASYNC) on a TLS fd: the
 * kernel would raise the program's signal for ciphertext, which is not
 * what the program waits for (docs/design.md, "Signal-driven I/O"):
 * refused, before the kernel sees it.  c: the connection. */
int shim_refuse_async(struct tls_conn *c, const char *how)
{
	log_warn("%s rule \"%s\": %s: O_ASYNC (signal-driven I/O, SIGIO) is not available on a TLS"
		 " connection (the kernel would signal ciphertext, not plain text); refused (EINVAL)",
		 tls_conn_peer(c), tls_conn_label(c), how);
	return -EINVAL;
}

/* 0, or -EINVAL when fd is a TLS fd (classified now if need be) whose
 * O_ASYNC is off: one that had it already when the library met it
 * (inherited) keeps it through an F_SETFL that changes another flag. */
static int async_allowed(int fd, const char *how)
{
	struct tls_conn *c;
	int r = shim_route(fd, &c), fl;

	if (r != ROUTE_TLS)
		return r < 0 ? r : 0;
	if ((fl = REAL(fcntl)(fd, F_GETFL)) >= 0 && (fl & O_ASYNC))
		r = 0;
	else
		r = shim_refuse_async(c, how);
	tls_conn_unref(c);
	return r;
}

/* fcntl's third argument is an int or a pointer; on the ABIs glibc
 * supports, passing it on as a pointer-sized value is exact. */
static int shim_fcntl(int (*real_fn)(int, int, ...), int fd, int cmd, void *arg)
{
	uintptr_t v = conntab_load(fd);
	struct tls_conn *c;
	int r;

	if (v == CT_OWN || conntab_is_closing(v))
		return -EBADF;
	if (cmd == F_SETFL && ((long)arg & O_ASYNC) && (r = async_allowed(fd, "fcntl(F_SETFL)")) < 0)
		return r;
	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) {
		void *ep;

		if ((r = dup_source(fd, &v)) < 0)
			return r;
		ep = shim_epoll_dup_begin(fd);
		return share(fd, real_fn(fd, cmd, arg), v, ep);
	}
	if ((r = real_fn(fd, cmd, arg)) < 0)
		return -errno;
	if (cmd == F_SETFL && conntab_is_tls(v) && (c = conntab_get(fd))) {
		tls_conn_set_nonblock(c, ((long)arg & O_NONBLOCK) != 0);
		tls_conn_unref(c);
	}
	return r;
}

/* fcntl, __fcntl, fcntl64: the optional argument is read as a pointer
 * (an int or a pointer, both fit), as glibc does. */
#define FCNTL_ENTRY(name, real)                                              \
	SHIM_EXPORT int name(int fd, int cmd, ...)                           \
	{                                                                    \
		va_list ap;                                                  \
		void *arg;                                                   \
		va_start(ap, cmd);                                           \
		arg = va_arg(ap, void *);                                    \
		va_end(ap);                                                  \
		SHIM_RET_KEEP(shim_fcntl(REAL(real), fd, cmd, arg));         \
	}
FCNTL_ENTRY(fcntl, fcntl)
FCNTL_ENTRY(__fcntl, fcntl)
FCNTL_ENTRY(fcntl64, fcntl64)
/* glibc's second name of fcntl64 (GLIBC_PRIVATE: reached with dlsym). */
FCNTL_ENTRY(__libc_fcntl64, fcntl64)

/* stdio writes through the C library's internal write, which no preload
 * can see: a FILE on a TLS fd goes through a pump (pump.c), so the FILE
 * gets a plaintext socket and the wire stays TLS. */
/* 0 once fd is ready for stdio (plain, or handed to a pump), else a
 * negative errno. */
static int fdopen_ready(int fd)
{
	for (;;) {
		struct tls_conn *c;
		int r = shim_route(fd, &c);

		if (r <= 0)
			return r;
		r = shim_pump(c, true);
		if (r < 0)
			log_error("%s rule \"%s\": fdopen(): cannot start a pump for stdio; refused",
				  tls_conn_peer(c), tls_conn_label(c));
		tls_conn_unref(c);      /* the fd is the pump's plaintext end now */
		if (r < 0)
			return -EOPNOTSUPP;
	}
}

SHIM_EXPORT FILE *fdopen(int fd, const char *mode)
{
	int keep = errno, r;

	/* First the mark: a connect() racing in another thread then puts its
	 * session on a pump, whichever comes first. */
	stdio_mark(fd, true);
	/* (past the connection table no session can come to the number: a
	 * connect or dup2 there is refused, so nothing need be remembered) */
	if (fd > 2 && (size_t)fd < conntab_size && !shim_fd_has_file(fd)) {
		log_error("fdopen(): cannot remember fd %d as a FILE's; refused", fd);
		errno = ENOMEM;
		return NULL;
	}
	r = fdopen_ready(fd);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	errno = keep;
	return REAL(fdopen)(fd, mode);
}

/* glibc's second, public name of fdopen. */
SHIM_EXPORT FILE *_IO_fdopen(int fd, const char *mode)
{
	return fdopen(fd, mode);
}

/* fclose() closes its number inside the C library, past close(): on the
 * program's end of a pump, the end must be known for a close, not a
 * death (shim_pump_closing), once the stream's data is out. */
SHIM_EXPORT int fclose(FILE *f)
{
	int fd = f ? fileno(f) : -1;

	if (fd >= 0 && conntab_load(fd) == CT_PUMPED) {
		int keep = errno;

		(void)fflush(f);
		shim_pump_closing(fd, fd);
		errno = keep;
	}
	return REAL(fclose)(f);
}

/* FIONREAD on a TLS fd counts plaintext the program can read now.
 * SIOCOUTQ/SIOCOUTQNSD: what the engine holds (a record a non-blocking
 * write left behind) counts too, after sending what the socket takes now:
 * a program that waits for 0 before it closes (SO_LINGER 0) or hangs up
 * saw 0 while a record it had written was still here, and a program that
 * only asks would never see it leave.  In bytes of ciphertext, as the
 * kernel counts. */
static int tls_ioctl(struct tls_conn *c, int fd, unsigned long req, void *arg)
{
	int v;

	/* The program's int may be unaligned (Python's fcntl.ioctl passes a
	 * byte buffer): copy, never dereference. */
	if (req == FIONREAD) {
		v = shim_tls_readable(c);
		memcpy(arg, &v, sizeof v);
		return 0;
	}
	if (req == SIOCOUTQ || req == SIOCOUTQNSD) {
		size_t held;

		(void)tls_conn_flush(c);
		held = tls_conn_output_len(c);
		if (REAL(ioctl)(fd, req, &v) < 0)
			return -errno;
		v = held > (size_t)(INT_MAX - v) ? INT_MAX : v + (int)held;
		memcpy(arg, &v, sizeof v);
		return 0;
	}
	if (REAL(ioctl)(fd, req, arg) < 0)
		return -errno;
	if (req == FIONBIO) {
		memcpy(&v, arg, sizeof v);
		tls_conn_set_nonblock(c, v != 0);
	}
	return 0;
}

/* FIOASYNC: switching signal-driven I/O on is refused on a TLS fd (see
 * shim_refuse_async; not when it is on already: async_allowed), off goes
 * to the kernel. */
static int tls_ioctl_async(struct tls_conn *c, int fd, void *arg)
{
	int v, fl;

	memcpy(&v, arg, sizeof v);
	if (v && !((fl = REAL(fcntl)(fd, F_GETFL)) >= 0 && (fl & O_ASYNC)))
		return shim_refuse_async(c, "ioctl(FIOASYNC)");
	return REAL(ioctl)(fd, FIOASYNC, arg) < 0 ? -errno : 0;
}

SHIM_EXPORT int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	/* The kernel reads the request's low 32 bits alone (its cmd is an
	 * unsigned int): (1UL << 32) | SIOCKCMATTACH is SIOCKCMATTACH.  Before,
	 * such a request missed every check below and went to the kernel as
	 * it was: a seccomp ADDFD or a KCM or NBD attach of the TLS connection
	 * (kroute.sh, *-high). */
	req = (unsigned int)req;

	if (!(req == FIONREAD || req == FIONBIO || req == SIOCOUTQ || req == SIOCOUTQNSD || req == FIOASYNC) || !arg) {
		if (conntab_load(fd) == CT_OWN)
			SHIM_RET(-EBADF);
		if (__builtin_expect(shim_is_addfd(req), 0))
			SHIM_RET(shim_addfd(fd, req, arg));
		if (__builtin_expect(shim_is_attach(req), 0))
			SHIM_RET(shim_attach(fd, req, arg));
		return REAL(ioctl)(fd, req, arg);
	}
	if (req == FIOASYNC)
		SHIM_DISPATCH(fd, REAL(ioctl)(fd, req, arg), tls_ioctl_async(c, fd, arg));
	SHIM_DISPATCH(fd, REAL(ioctl)(fd, req, arg), tls_ioctl(c, fd, req, arg));
}

/* ---- other calls that hand out numbers --------------------------------- */

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & __O_TMPFILE) == __O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

#define OPEN_WRAPPER(name, ...) do {                    \
		va_list ap;                             \
		mode_t m;                               \
		va_start(ap, flags);                    \
		m = mode_arg(flags, ap);                \
		va_end(ap);                             \
		FRESH(REAL(name)(__VA_ARGS__, m));       \
	} while (0)

SHIM_EXPORT int open(const char *path, int flags, ...)
{
	OPEN_WRAPPER(open, path, flags);
}

SHIM_EXPORT int __open(const char *path, int flags, ...)
{
	OPEN_WRAPPER(open, path, flags);
}

SHIM_EXPORT int open64(const char *path, int flags, ...)
{
	OPEN_WRAPPER(open64, path, flags);
}

SHIM_EXPORT int __open64(const char *path, int flags, ...)
{
	OPEN_WRAPPER(open64, path, flags);
}

SHIM_EXPORT int openat(int dir, const char *path, int flags, ...)
{
	OPEN_WRAPPER(openat, dir, path, flags);
}

SHIM_EXPORT int openat64(int dir, const char *path, int flags, ...)
{
	OPEN_WRAPPER(openat64, dir, path, flags);
}

SHIM_EXPORT int __open_2(const char *path, int flags)
{
	FRESH(REAL(__open_2)(path, flags));
}

SHIM_EXPORT int __open64_2(const char *path, int flags)
{
	FRESH(REAL(__open64_2)(path, flags));
}

SHIM_EXPORT int __openat_2(int dir, const char *path, int flags)
{
	FRESH(REAL(openat)(dir, path, flags));
}

SHIM_EXPORT int __openat64_2(int dir, const char *path, int flags)
{
	FRESH(REAL(openat64)(dir, path, flags));
}

SHIM_EXPORT int creat(const char *path, mode_t mode)
{
	FRESH(REAL(open)(path, O_CREAT | O_WRONLY | O_TRUNC, mode));
}

SHIM_EXPORT int creat64(const char *path, mode_t mode)
{
	FRESH(REAL(open64)(path, O_CREAT | O_WRONLY | O_TRUNC, mode));
}

/* Wrappers handing out two numbers (pipes, socket pairs). */
#define FRESH2(expr, p) do {                      \
		int keep_ = errno;                 \
		int r_ = (expr);                   \
		if (r_ == 0) {                     \
			fresh((p)[0]);             \
			fresh((p)[1]);             \
			errno = keep_;             \
		}                                  \
		return r_;                         \
	} while (0)

SHIM_EXPORT int pipe(int p[2])
{
	FRESH2(REAL(pipe)(p), p);
}

SHIM_EXPORT int __pipe(int p[2])
{
	FRESH2(REAL(pipe)(p), p);
}

SHIM_EXPORT int pipe2(int p[2], int flags)
{
	FRESH2(REAL(pipe2)(p, flags), p);
}

SHIM_EXPORT int socketpair(int d, int t, int pr, int sv[2])
{
	FRESH2(REAL(socketpair)(d, t, pr, sv), sv);
}

SHIM_EXPORT int eventfd(unsigned int v, int flags)
{
	FRESH(REAL(eventfd)(v, flags));
}

SHIM_EXPORT int signalfd(int fd, const sigset_t *mask, int flags)
{
	if (fd != -1)
		return REAL(signalfd)(fd, mask, flags);
	FRESH(REAL(signalfd)(fd, mask, flags));
}

SHIM_EXPORT int timerfd_create(int clock, int flags)
{
	FRESH(REAL(timerfd_create)(clock, flags));
}

SHIM_EXPORT int memfd_create(const char *name, unsigned int flags)
{
	FRESH(REAL(memfd_create)(name, flags));
}

SHIM_EXPORT int inotify_init(void)
{
	FRESH(REAL(inotify_init)());
}

SHIM_EXPORT int inotify_init1(int flags)
{
	FRESH(REAL(inotify_init1)(flags));
}

/* A descriptor taken from another process: classified like one received
 * with SCM_RIGHTS.  An io_uring instance is refused while the policy has
 * TLS rules, as making one is (shim/syscall.c): the kernel's sends and
 * receives through it pass no wrapper (before, IORING_OP_SEND on a TLS
 * socket through a ring taken from a helper went out in clear,
 * tests/preload/bypass.sh). */
SHIM_EXPORT int pidfd_getfd(int pidfd, int target, unsigned int flags)
{
	int keep = errno;
	int fd = REAL(pidfd_getfd)(pidfd, target, flags);

	if (fd >= 0 && shim_has_tls_rules() && shim_is_uring(fd)) {
		REAL(close)(fd);
		log_warn("pidfd_getfd: fd %d of the other process is an io_uring instance, which"
			 " would move bytes past the library; refused (EPERM)", target);
		errno = EPERM;
		return -1;
	}
	if (fd >= 0) {
		shim_fd_arrived(fd);
		errno = keep;
	}
	return fd;
}
