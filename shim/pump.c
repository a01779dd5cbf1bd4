/* shim/pump.c — a session handed to a helper process (design, req. 10).
 *
 * Some code paths never reach our wrappers (stdio inside the C library, a
 * new program image after exec), and a live session must never be
 * encrypted by two processes (fork: repeated AES-GCM nonces).  For these
 * the session moves to a pump: a helper process, double-forked so it is
 * not the program's child, that owns the SSL object and the TCP socket
 * and moves bytes between them and the pump's end of a channel.  The
 * program's end of the channel takes the program's fd number(s) with
 * dup2, so stdio, sendfile, poll, exec and any number of processes see a
 * real kernel socket carrying plaintext, while the wire stays TLS.
 *
 * The channel is a TCP connection over loopback (127.254.0.1, a shim
 * address: inherited sockets there are never adopted), so that:
 *  - the program's end is a TCP socket: TCP options work on it;
 *  - a failed session (truncation, altered record, fatal alert) reaches
 *    the program as an error, never as a clean end of file: the pump
 *    resets the channel (SO_LINGER 0), and the program's next read, in
 *    a wrapper, in stdio or in an exec'd program, fails with ECONNRESET.
 * getpeername()/getsockname() on a pumped fd answer with the session's
 * TCP addresses (kept in the connection table; passed across exec in
 * TLSSHIM_PUMPED).  When loopback is not available, a socketpair serves
 * (then a failure reads as end of file; logged).
 *
 * A death is not a close.  The kernel closes the program's end of a
 * process killed by a signal with the FIN that close() sends, and the
 * pump answered both with close_notify: a peer took half a reply for the
 * whole of it (helper-146).  A channel made for this process alone (stdio
 * on 0-2, fdopen: shim_pump's arm) carries SO_LINGER {1, 0} on the
 * program's end, so that a death resets it; the program's own ends take
 * the option off first (the last close of its numbers, fclose, exit,
 * _exit), and the pump reads a reset from an armed end as a death: no
 * close_notify.  The option belongs to the socket, not to a holder, so
 * every event that may give the end to another process (fork, clone,
 * spawn, exec, SCM_RIGHTS: shim_sock_shared) takes it off for good: a
 * holder without the library, or one that closes after another died,
 * must not end in a reset.  A session pumped for a fork or an exec is
 * never armed: there the markers below tell a death from a close.
 *
 * Threads blocked inside the shim on this session when it moves (a
 * reader in read() while another thread forks: git clone does this) are
 * woken (wait.c) and continue on the fd's new plaintext end.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/self.h"
#include "policy/file.h"
#include "shim/shim.h"

#define PUMP_BUF 16384
#define MAX_FDS 64
#define PUMP_ADDR 0x7ffe0001u      /* 127.254.0.1 */

/* ---- the channel ---------------------------------------------------------- */

bool shim_is_pump_addr(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *s4 = (const void *)ss;
	const struct sockaddr_in6 *s6 = (const void *)ss;

	if (ss->ss_family == AF_INET)
		return (ntohl(s4->sin_addr.s_addr) >> 16) == (PUMP_ADDR >> 16);
	if (ss->ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		uint32_t a;
		memcpy(&a, s6->sin6_addr.s6_addr + 12, 4);
		return (ntohl(a) >> 16) == (PUMP_ADDR >> 16);
	}
	return false;
}

static bool same_addr(const struct sockaddr_in *x, const struct sockaddr_in *y)
{
	return x->sin_addr.s_addr == y->sin_addr.s_addr && x->sin_port == y->sin_port;
}

/* A loopback TCP connection: *a for the program, *b for the pump.  The
 * accepted end must be the very connection we made: a local process that
 * raced us to the listener would otherwise get the session's plaintext.
 * Both ends are bound to 127.254.0.1, so that a channel has both its
 * addresses in 127.254.0.0/16 (shim/classify.c, pump_channel): the
 * kernel's choice of source address for it would be 127.0.0.1. */
static bool tcp_channel(int *a, int *b)
{
	for (int tries = 0; tries < 5; tries++) {
		struct sockaddr_in la = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(PUMP_ADDR) };
		const struct sockaddr_in xa = la;
		struct sockaddr_in aa, bp;
		socklen_t l = sizeof la;
		int lfd, one = 1, x = -1, y = -1;

		lfd = REAL(socket)(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (lfd < 0)
			return false;
		if (bind(lfd, (struct sockaddr *)&la, sizeof la) < 0 || listen(lfd, 1) < 0 ||
		    REAL(getsockname)(lfd, (struct sockaddr *)&la, &l) < 0 ||
		    (x = REAL(socket)(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
		    bind(x, (const struct sockaddr *)&xa, sizeof xa) < 0 ||
		    REAL(connect)(x, (struct sockaddr *)&la, sizeof la) < 0 ||
		    (y = REAL(accept4)(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
			REAL(close)(lfd);
			if (x >= 0)
				REAL(close)(x);
			return false;
		}
		REAL(close)(lfd);
		l = sizeof aa;
		if (REAL(getsockname)(x, (struct sockaddr *)&aa, &l) == 0 &&
		    (l = sizeof bp, REAL(getpeername)(y, (struct sockaddr *)&bp, &l) == 0) &&
		    same_addr(&aa, &bp)) {
			(void)REAL(setsockopt)(x, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
			(void)REAL(setsockopt)(y, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
			*a = x;
			*b = y;
			return true;
		}
		log_warn("pump: another process connected to the pump's loopback listener first;"
			 " dropped, trying again");
		REAL(close)(x);
		REAL(close)(y);
	}
	return false;
}

/* A channel whose program's end is still being connected, for a client
 * session whose handshake has not finished (started or not): the program
 * sees what it sees of its own non-blocking connect while the handshake
 * runs (no POLLOUT, SO_ERROR 0, EAGAIN for a non-blocking write), the
 * connection when it is verified, ECONNREFUSED when it failed, in any
 * process that holds the end, with or without this library.  The
 * program's end (*a) connects to the pump's listener (l), whose accept
 * queue is full (backlog 0, and one connection of the pump's own made and
 * queued first): the kernel drops every SYN that meets it, unanswered,
 * and keeps the program's end in SYN_SENT, sending the SYN again after
 * 1 s, then 3, 7, 15, 31 and 63 s (tcp_syn_retries).  (Not a socket
 * filter that drops all: a kernel may refuse one to a user without
 * privilege, EPERM, as this one does: danted's request process, user
 * nobody, then got the ordinary channel, connected at once.)  The pump's
 * end-to-be (h) is bound to the same address (SO_REUSEPORT: same user
 * only), not listening.  After the handshake the pump connects h to *a:
 * the two SYNs cross (a simultaneous open, RFC 9293), and both ends are
 * connected at once.  If the handshake fails, the pump closes l, and the
 * program's end's next SYN meets h, bound and not listening: the kernel's
 * reset, which in SYN_SENT is ECONNREFUSED (refused_wait).  On every
 * other way out that has not seen the end connected or refused (its
 * watchdog, a wait cut short, a step that fails) the pump aborts the end's
 * connect first (pending_abort).
 *
 * The program's end carries a TCP-MD5 signature key (RFC 2385,
 * TCP_MD5SIG; random, made here, known only to the channel's sockets), as
 * h does: its SYNs are signed, and it takes no segment that is not signed
 * with that key.  While the pump holds l or h no other user can bind the
 * port (SO_REUSEPORT groups only sockets of one user); but a pump killed
 * (SIGKILL, the OOM killer) while the handshake ran freed it, and a
 * listener another user bound there before the end's next SYN got the
 * connection, and with it what the program then wrote (libtlsshim(7),
 * BUGS, until helper-190).  With the key, such a listener drops the SYN
 * (it has no key: the kernel drops a signed segment there), and its
 * SYN-ACK, unsigned, would be dropped by the end: the end stays in
 * SYN_SENT until the kernel gives up (ETIMEDOUT, 127 s), never connected
 * to anyone but the pump, with nothing left running that could die.  The
 * kernel's reset for a closed port is not signed (the end would drop it),
 * so the refusal comes from r, bound to the program's end's own address
 * (SO_REUSEPORT again, set on the end), with the key, and made to listen
 * only then: for a signed SYN that meets no socket the kernel signs its
 * reset with the key of a listener on the SYN's source port
 * (tcp_v4_send_reset: "active side is lost").  Once the SYNs have crossed
 * the keys come off both ends (signing costs about 3 s of CPU a GiB on
 * loopback, six times the copy).  false: no such channel (no key, or a
 * filter refused a call); the caller makes an ordinary one. */
struct pending {
	int l, h;       /* the pump's listener and its end-to-be; -1: none */
	int a;          /* the pump's copy of the program's end */
	int r;          /* the refuser: on the program's end's address, not listening */
};

/* The channel's TCP-MD5 key on fd, for the peer 127.254.0.1 (both ends'
 * address); len 0: taken off.  Async-signal-safe. */
static bool md5_key(int fd, const unsigned char *key, size_t len)
{
	struct tcp_md5sig m;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&m.tcpm_addr;
	bool ok;

	memset(&m, 0, sizeof m);
	s4->sin_family = AF_INET;
	s4->sin_addr.s_addr = htonl(PUMP_ADDR);
	m.tcpm_keylen = (uint16_t)len;
	if (len)
		memcpy(m.tcpm_key, key, len);
	ok = REAL(setsockopt)(fd, IPPROTO_TCP, TCP_MD5SIG, &m, sizeof m) == 0;
	explicit_bzero(&m, sizeof m);
	return ok;
}

/* poll() of one descriptor for up to ms, again after a signal (EINTR)
 * with what is left: > 0 ready, 0 time out, < 0 another error.
 * Async-signal-safe. */
static int poll_one(struct pollfd *p, int ms)
{
	int64_t end = clock_ms() + ms;
	int r;

	while ((r = REAL(poll)(p, 1, ms)) < 0 && errno == EINTR) {
		int64_t left = end - clock_ms();

		if (left <= 0)
			return 0;
		ms = (int)left;
	}
	return r;
}

/* How long pending_channel waits for its own connection to be queued
 * (on loopback it is, inside the connect()). */
#define QUEUE_WAIT_MS 5000

/* The listener l's accept queue, of length 0, made full: a connection
 * from the pump's address, queued (l readable), its socket closed (the
 * queued end stays, in CLOSE_WAIT, never accepted).  Only then may the
 * program's end send its SYN: one that came before would be answered. */
static bool fill_queue(int l, const struct sockaddr_in *la, const struct sockaddr_in *xa)
{
	struct pollfd p = { .fd = l, .events = POLLIN };
	int d = REAL(socket)(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), r = -1, e;

	if (d >= 0 && bind(d, (const struct sockaddr *)xa, sizeof *xa) == 0 &&
	    (REAL(connect)(d, (const struct sockaddr *)la, sizeof *la) == 0 || errno == EINPROGRESS) &&
	    (r = poll_one(&p, QUEUE_WAIT_MS)) == 0)
		errno = ETIMEDOUT;
	e = errno;
	if (d >= 0)
		REAL(close)(d);
	errno = e;
	return r == 1 && p.revents == POLLIN;
}

#define PENDING_KEY 32     /* bytes of the channel's TCP-MD5 key */

static bool pending_channel(int *a, struct pending *pd)
{
	struct sockaddr_in la = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(PUMP_ADDR) };
	const struct sockaddr_in xa = la;
	struct sockaddr_in ea;
	socklen_t l = sizeof la, el = sizeof ea;
	unsigned char key[PENDING_KEY];
	int one = 1, x = -1;

	pd->l = REAL(socket)(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pd->h = REAL(socket)(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	pd->r = REAL(socket)(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	errno = 0;
	if (RAND_bytes(key, sizeof key) != 1 || pd->l < 0 || pd->h < 0 || pd->r < 0 ||
	    REAL(setsockopt)(pd->l, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
	    bind(pd->l, (const struct sockaddr *)&xa, sizeof xa) < 0 || REAL(listen)(pd->l, 0) < 0 ||
	    REAL(getsockname)(pd->l, (struct sockaddr *)&la, &l) < 0 || !fill_queue(pd->l, &la, &xa) ||
	    REAL(setsockopt)(pd->h, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
	    !md5_key(pd->h, key, sizeof key) ||
	    bind(pd->h, (const struct sockaddr *)&la, sizeof la) < 0 ||
	    (x = REAL(socket)(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0 ||
	    REAL(setsockopt)(x, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
	    !md5_key(x, key, sizeof key) ||
	    bind(x, (const struct sockaddr *)&xa, sizeof xa) < 0 ||
	    REAL(getsockname)(x, (struct sockaddr *)&ea, &el) < 0 ||
	    REAL(setsockopt)(pd->r, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
	    !md5_key(pd->r, key, sizeof key) ||
	    bind(pd->r, (const struct sockaddr *)&ea, sizeof ea) < 0 ||
	    REAL(connect)(x, (const struct sockaddr *)&la, sizeof la) == 0 || errno != EINPROGRESS ||
	    REAL(fcntl)(x, F_SETFL, REAL(fcntl)(x, F_GETFL) & ~O_NONBLOCK) < 0) {
		int e = errno;

		explicit_bzero(key, sizeof key);
		if (x >= 0)
			REAL(close)(x);
		if (pd->l >= 0)
			REAL(close)(pd->l);
		if (pd->h >= 0)
			REAL(close)(pd->h);
		if (pd->r >= 0)
			REAL(close)(pd->r);
		pd->l = pd->h = pd->r = -1;
		/* (warn: the program may take the connection for made before
		 * TLS verified it; no byte crosses before, all the same) */
		log_warn("pump: no channel that connects when the handshake is done (%s); the"
			 " program's end is connected at once, before the handshake is verified",
			 e ? strerror(e) : "no random key, or connected at once");
		return false;
	}
	explicit_bzero(key, sizeof key);
	(void)REAL(setsockopt)(x, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	(void)REAL(setsockopt)(pd->h, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	*a = pd->a = x;
	return true;
}

static bool channel(int *a, int *b, bool *resets)
{
	int sp[2];

	*resets = true;
	if (tcp_channel(a, b))
		return true;
	*resets = false;
	if (REAL(socketpair)(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return false;
	log_info("pump: no loopback TCP; a socketpair serves (a failed session then reads as end of"
		 " file, not as ECONNRESET)");
	*a = sp[0];
	*b = sp[1];
	return true;
}

/* ---- armed ends (a death is not a close) ------------------------------------ */

static bool ever_armed;         /* no number was ever armed: nothing to look at */

/* SO_LINGER {on, 0}: on, a close sends a reset. */
static bool set_linger(int fd, bool on)
{
	struct linger lg = { .l_onoff = on, .l_linger = 0 };

	return REAL(setsockopt)(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0;
}

static struct conntab_pumped *armed_at(int fd)
{
	struct conntab_pumped *pi;

	if (conntab_load(fd) != CT_PUMPED || !(pi = conntab_pumped(fd)) || !pi->armed)
		return NULL;
	return pi;
}

/* ---- a graceful end is told (markers) ----------------------------------------
 *
 * A death is not a close also when several processes hold the program's
 * end (fork, exec, spawn, SCM_RIGHTS), where no option of the socket can
 * say which holder ended how (helper-149).  So every end the library sees
 * on a pumped number, in any process that runs it (the close of a
 * number, the last one or not, fclose, dup2 over it, shutdown for
 * writing, exit and _exit, exec for a close-on-exec number), first sends
 * the pump a marker: the bytes the socket had been given by then, by all
 * its holders together (shim_tcp_written: the kernel's counters).  It
 * goes on a seqpacket connection of its own to a listener the pump binds
 * to an abstract name made of the channel's two ports (one connection a
 * marker: another local user's flood of the name cannot fill a holder's
 * queue, as it filled the datagram queue of ten used before
 * helper-159; marks_read), with the program's end itself attached
 * (SCM_RIGHTS): only a holder of the end can mark it, whatever its user,
 * and the pump drops a message whose attached socket is not its
 * channel's.  The marker is queued before the close that follows it, so
 * the pump reads it at the latest when it meets the end of the stream.
 * There the pump sends close_notify only if the highest marker counts
 * every byte it read; bytes written after the last graceful end (by a
 * holder that then died, or by a program without the library) end the
 * session without close_notify, with a warn line: a truncation.  So does
 * a close with SO_LINGER {1, 0} on the socket (the program asked for an
 * abortive end: its marker says so), whatever came before or after it.
 * A graceful end vouches for every byte written before it, by any
 * holder.  Cost: a few system calls per close of a pumped number.
 *
 * An abstract name is anyone's to take, and the attached socket is the
 * program's plaintext end: another user who bound the name first (the
 * ports are in /proc/net/tcp; a narrowed or exhausted ephemeral range
 * makes them known beforehand) got it, read the program's input and
 * wrote into its session.  So a marker goes only where the listener's
 * owner (SO_PEERCRED:
 * who called listen()) is root or this process's user: a squatted name
 * gets nothing, and the session ends as cut short (a denial of service,
 * no forgery).
 *
 * Where markers cannot come, the pump is told so beforehand (MARK_OPEN),
 * and from then on an end without one is a close, as before 2026-12-07:
 * the new image of an exec or spawn that will not run the library, a
 * process at the other end of SCM_RIGHTS that does not (or that made the
 * socketpair: which process holds its other end cannot be told), and a
 * process that installs a seccomp filter (prctl, seccomp(): sshd's and
 * vsftpd's sandboxes kill for a socket()), for every end it holds then,
 * and one that enters (or makes a child in) another network namespace,
 * where the abstract name is not (vsftpd's isolate_network);
 * a process that started under a filter sends no markers at all, and its
 * own pumps do not ask for them. */
#define MARK_NAME "tlsshim-pump/%u/%u"
#define MARK_ABORT UINT64_MAX   /* a holder closed with SO_LINGER {1, 0} */
#define MARK_OPEN (UINT64_MAX - 1) /* from now on an end may come unmarked */
#define MARK_WAIT_MS 1000       /* a holder's wait for room in the listener's queue */
#define MARK_CONNS 16           /* connections the pump waits on for their marker */
#define MARK_ACCEPTS 256        /* accepted at once, while the session runs */
#define MARK_ACCEPTS_FINAL 65536 /* at the end: past any listener's queue */

/* A seccomp filter may refuse (or kill for) what a marker takes (socket,
 * sendmsg): such a process sends none (shim_pump_sandboxed).  One it
 * runs under already (an exec'd image keeps its parent's; systemd's
 * SystemCallFilter=), or one put on unseen, is read from
 * /proc/self/status the first time a marker or a pump needs to know, not
 * at start-up: most processes never do (no cost to their start).
 * Without /proc: none.  0: not known yet; 1: none; 2: under a filter. */
static int sandboxed;

static bool quiet(void)
{
	int s = __atomic_load_n(&sandboxed, __ATOMIC_RELAXED), none = 0;
	long v = 0;

	if (s)
		return s == 2;
	s = shim_status_field("Seccomp", &v) && v != 0 ? 2 : 1;
	if (!__atomic_compare_exchange_n(&sandboxed, &none, s, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		s = none;
	return s == 2;
}

struct marks {
	int fd;                 /* the pump's listener (see above); -1: none */
	int conn[MARK_CONNS];   /* accepted, their marker not come yet; -1: free */
	bool mine[MARK_CONNS];  /* its connector is the pump's user */
	unsigned next;          /* the slot to reuse when all are taken */
	bool counted;           /* a TCP channel: an end needs its marker */
	bool any;               /* a marker came */
	bool aborted;           /* a MARK_ABORT came */
	bool open;              /* a MARK_OPEN came */
	int held;               /* a marker's copy of the end, kept: see hold() */
	int held_q;             /* its unsent bytes at the last look */
	int64_t held_until;     /* let go then, if they have not dropped */
	dev_t dev;
	ino_t ino;              /* the program's end */
	uint64_t base, last;    /* its count when made; the highest marker */
};

static socklen_t mark_name(struct sockaddr_un *u, unsigned pump_port, unsigned prog_port)
{
	int n;

	memset(u, 0, sizeof *u);
	u->sun_family = AF_UNIX;
	n = snprintf(u->sun_path + 1, sizeof u->sun_path - 1, MARK_NAME, pump_port, prog_port);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)(n > 0 ? n : 0));
}

/* The port of fd's own (peer: its peer's) IPv4 address; 0 if none, or
 * if pump (with peer) and the peer is not the pump's address. */
static unsigned port_of(int fd, bool peer, bool pump)
{
	struct sockaddr_storage ss;
	const struct sockaddr_in *s4 = (const void *)&ss;
	socklen_t l = sizeof ss;
	struct stat st;
	int r = peer ? REAL(getpeername)(fd, (struct sockaddr *)&ss, &l)
		     : REAL(getsockname)(fd, (struct sockaddr *)&ss, &l);

	/* A channel still being connected (pending_channel): the kernel's
	 * table names its peer. */
	if (r < 0 && peer && errno == ENOTCONN && shim_tcp_connecting(fd) && fstat(fd, &st) == 0 &&
	    (l = sizeof ss, shim_connecting_peer((unsigned long)st.st_ino, &ss, &l)))
		r = 0;
	if (r < 0 || ss.ss_family != AF_INET || (pump && !shim_is_pump_addr(&ss)))
		return 0;
	return ntohs(s4->sin_port);
}

/* A marker's own connection to the pump's listener at u: only where its
 * owner (SO_PEERCRED: who called listen()) is root or this process's
 * user.  A connect waits while the listener's queue is full (another
 * user's flood), MARK_WAIT_MS at most. */
static int mark_connect(const struct sockaddr_un *u, socklen_t len)
{
	struct timeval tv = { .tv_sec = MARK_WAIT_MS / 1000, .tv_usec = MARK_WAIT_MS % 1000 * 1000 };
	struct ucred cr;
	socklen_t l = sizeof cr;
	int s = REAL(socket)(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (s < 0)
		return -1;
	(void)REAL(setsockopt)(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (REAL(connect)(s, (const struct sockaddr *)u, len) == 0 &&
	    REAL(getsockopt)(s, SOL_SOCKET, SO_PEERCRED, &cr, &l) == 0 && l == sizeof cr &&
	    (cr.uid == 0 || cr.uid == geteuid() || cr.uid == getuid()))
		return s;
	if (errno == 0 || errno == EINPROGRESS)
		errno = EACCES;
	REAL(close)(s);
	return -1;
}

static void mark_send(int fd, bool open_end)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cm;
	struct conntab_pumped *pi;
	struct sockaddr_un u;
	struct iovec iov;
	struct msghdr m;
	struct cmsghdr *h;
	socklen_t len;
	unsigned pp, lp;
	uint64_t n;
	int s, keep = errno;

	if (conntab_load(fd) != CT_PUMPED || quiet())
		return;
	pi = conntab_pumped(fd);
	/* SO_LINGER {1, 0} of the program's own asks for an abortive end:
	 * the marker says so (MARK_ABORT), and no close_notify will go
	 * (armed: the option is the library's). */
	if (!(pp = port_of(fd, true, true)) || !(lp = port_of(fd, false, false)))
		goto out;
	if (open_end)
		n = MARK_OPEN;
	else if (!(pi && pi->armed) && shim_linger_abortive(fd))
		n = MARK_ABORT;
	else if (!shim_tcp_written(fd, &n))
		goto out;
	len = mark_name(&u, pp, lp);
	/* The pump lets go of a connection that has said nothing when too
	 * many wait (pump_run): one it dropped before this marker went is
	 * tried again. */
	for (int tries = 0; tries < 3; tries++) {
		if ((s = mark_connect(&u, len)) < 0) {
			log_debug("fd %d: no pump of this user's hears at its name (%s): its end is"
				  " not told, and will read as cut short", fd, strerror(errno));
			goto out;
		}
		iov = (struct iovec){ .iov_base = &n, .iov_len = sizeof n };
		m = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
				     .msg_controllen = sizeof cm.buf };
		h = CMSG_FIRSTHDR(&m);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof fd);
		memcpy(CMSG_DATA(h), &fd, sizeof fd);
		if (REAL(sendmsg)(s, &m, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)sizeof n) {
			REAL(close)(s);
			goto out;
		}
		REAL(close)(s);
		if (errno != EPIPE && errno != ECONNRESET)
			break;
	}
	log_debug("fd %d: the pump was not told of this end (%s): it will read as cut short", fd,
		  strerror(errno));
out:
	errno = keep;
}

void shim_pump_mark(int fd)
{
	mark_send(fd, false);
}

/* fd goes where no marker may come from: an end without one is a close. */
void shim_pump_open(int fd)
{
	mark_send(fd, true);
}

/* Which pumped numbers mark_each() tells of: every one, or only those
 * an exec keeps, or only those it closes. */
enum mark_which { MARK_EVERY, MARK_KEPT_ON_EXEC, MARK_CLOSED_ON_EXEC };

/* A marker (open_end: MARK_OPEN) for each pumped number of this process
 * that `which` names; flush: stdio's buffers first, once, if there is
 * one (the C library writes them after the atexit handlers: they would
 * come after the marker). */
static void mark_each(bool open_end, enum mark_which which, bool flush)
{
	size_t h = conntab_high();

	for (size_t fd = 0; fd < h && fd <= INT_MAX; fd++) {
		if (conntab_load((int)fd) != CT_PUMPED)
			continue;
		if (which != MARK_EVERY) {
			int fl = REAL(fcntl)((int)fd, F_GETFD);

			if (fl < 0 || (which == MARK_CLOSED_ON_EXEC) != ((fl & FD_CLOEXEC) != 0))
				continue;
		}
		if (flush) {
			(void)fflush(NULL);
			flush = false;
		}
		mark_send((int)fd, open_end);
	}
}

/* Every pumped number of this process: it (or its child) moves to
 * another network namespace, where the pump's abstract name is not. */
void shim_pump_open_all(void)
{
	mark_each(true, MARK_EVERY, false);
}

/* This process is about to install a seccomp filter (prctl, seccomp()). */
void shim_pump_sandboxed(void)
{
	if (quiet())
		return;
	shim_pump_open_all();
	__atomic_store_n(&sandboxed, 2, __ATOMIC_RELAXED);
}

/* An exec or spawn whose new image will not run the library: the pumped
 * numbers it inherits (every one: all). */
void shim_pump_open_inherited(bool all)
{
	mark_each(true, all ? MARK_EVERY : MARK_KEPT_ON_EXEC, false);
}

/* This process exits: every pumped number it holds (flush: see
 * mark_each). */
void shim_pump_ending_all(bool flush)
{
	mark_each(false, MARK_EVERY, flush);
}

/* exec: the kernel closes the close-on-exec numbers. */
void shim_pump_exec_closing(void)
{
	mark_each(false, MARK_CLOSED_ON_EXEC, false);
}

/* The pump's side: its listener for the channel whose program's end is
 * a and whose pump's end has port pp, and a's count before any byte. */
static void marks_open(struct marks *mk, int a, unsigned pp)
{
	struct sockaddr_un u;
	struct stat st;
	unsigned lp = port_of(a, false, false);
	socklen_t len = mark_name(&u, pp, lp);
	int l = -1;

	errno = 0;
	if (fstat(a, &st) < 0 || !shim_tcp_written(a, &mk->base) || !pp || !lp)
		goto fail;
	/* Still connecting (pending_channel): the counter will count the
	 * SYN, as it does on a channel connected before any byte. */
	if (shim_tcp_connecting(a))
		mk->base++;
	if ((l = REAL(socket)(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0 ||
	    bind(l, (struct sockaddr *)&u, len) < 0 || REAL(listen)(l, SOMAXCONN) < 0) {
		int e = errno;

		if (l >= 0)
			REAL(close)(l);
		errno = e;
		goto fail;
	}
	mk->fd = l;
	mk->dev = st.st_dev;
	mk->ino = st.st_ino;
	return;
fail:
	log_warn("pump: no socket on which the program's ends can say they closed (%s): this"
		 " session will end as cut short, without close_notify", strerror(errno));
}

/* Bytes the program's end has not sent to ours yet (SIOCOUTQNSD). */
static int unsent(int fd)
{
	int q;

	return REAL(ioctl)(fd, SIOCOUTQNSD, &q) == 0 && q > 0 ? q : 0;
}

/* How long a kept copy (hold) waits for its unsent bytes to drop, while
 * the pump reads: a bound only (they drop at once on loopback; TCP_CORK
 * holds them 200 ms at most). */
#define HOLD_MS 2000

/* The kept copy goes once the end has nothing left to send us, once its
 * unsent bytes have not dropped for HOLD_MS while we read (reading: the
 * pump reads the channel now), or always.  -1, or how long it may still
 * wait (ms): the loop's poll wakes for it. */
static int release(struct marks *mk, bool always, bool reading)
{
	int64_t now;
	int q;

	if (mk->held < 0)
		return -1;
	q = always ? 0 : unsent(mk->held);
	now = clock_ms();
	if (q && (q < mk->held_q || !reading)) {
		mk->held_q = q;
		mk->held_until = now + HOLD_MS;
	}
	if (q && now < mk->held_until)
		return (int)(mk->held_until - now);
	if (q)
		log_debug("pump: a closed end of the channel kept %d bytes unsent for %d ms: let go"
			  " (they are lost: a truncation)", q, HOLD_MS);
	REAL(close)(mk->held);
	mk->held = -1;
	return -1;
}

/* A marker's copy f of the program's end: closed at once (a last close's
 * FIN waits for that), unless the end still has bytes for us it has not
 * sent (a reply larger than the channel's buffers, written just before
 * the close).  That close, when it is the last (the program's own closes
 * are not: this copy was in flight), resets the channel if the peer's
 * bytes lie unread on the end, and a reset throws away what the end has
 * not sent: the reply's tail, which the marker counted (a truncation;
 * helper-165).  So the one copy is kept until the end has sent us
 * everything (release(), at every wait of the loop), as the kernel keeps
 * a closed socket until its data is out: then its close, the last or
 * not, loses nothing of the program's.  No wait in the program's close,
 * and nothing read from the end (another holder may read it).  Not kept
 * once a MARK_ABORT came: a holder set SO_LINGER {1, 0} and asked for
 * the reset. */
static void hold(struct marks *mk, int f, bool abort)
{
	int q;

	if (!abort && !mk->aborted && mk->held < 0 && (q = unsent(f))) {
		mk->held = f;
		mk->held_q = q;
		mk->held_until = clock_ms() + HOLD_MS;
		return;
	}
	REAL(close)(f);
	if (abort)
		(void)release(mk, true, false);
}

/* The marker on connection c, if it came: false while c has said
 * nothing yet.  (Its attached copy of the program's end closes here at
 * once, but see hold().)  One message a connection:
 * whatever it said, the caller closes it. */
static bool mark_take(struct marks *mk, int c)
{
	union {
		char buf[CMSG_SPACE(8 * sizeof(int))];
		struct cmsghdr align;
	} cm;
	uint64_t n = 0;
	struct iovec iov = { .iov_base = &n, .iov_len = sizeof n };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
			    .msg_controllen = sizeof cm.buf };
	int copy = -1;
	ssize_t r;

	do
		r = REAL(recvmsg)(c, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0 && errno == EAGAIN)
		return false;
	if (r < 0)
		return true;
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
		size_t k;

		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t j = 0; j < k; j++) {
			struct stat st;
			int f;

			memcpy(&f, CMSG_DATA(h) + j * sizeof f, sizeof f);
			if (k == 1 && copy < 0 && fstat(f, &st) == 0 && st.st_dev == mk->dev &&
			    st.st_ino == mk->ino)
				copy = f;
			else
				REAL(close)(f);
		}
	}
	if (copy < 0 || r != (ssize_t)sizeof n || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		if (copy >= 0)
			REAL(close)(copy);
		return true;
	}
	hold(mk, copy, n == MARK_ABORT);
	if (n == MARK_ABORT)
		mk->aborted = true;
	else if (n == MARK_OPEN)
		mk->open = true;
	else if (!mk->any || n > mk->last) {
		mk->any = true;
		mk->last = n;
	}
	return true;
}

/* Give up connection c, which has said nothing yet (or the end of the
 * stream came): its sender can no longer send (SHUT_RD: EPIPE, and a
 * holder then tries again), and what it sent before that is read. */
static void mark_drop(struct marks *mk, int c)
{
	(void)REAL(shutdown)(c, SHUT_RD);
	(void)mark_take(mk, c);
	REAL(close)(c);
}

/* A slot for a connection that has said nothing yet: a free one, else
 * the oldest of a connector of another user than the pump's (the
 * holders are nearly always the pump's user: another user's flood never
 * takes their place), else the oldest. */
static int mark_slot(struct marks *mk)
{
	int j, k = -1;

	for (j = 0; j < MARK_CONNS; j++)
		if (mk->conn[j] < 0)
			return j;
	for (unsigned t = 0; t < MARK_CONNS && k < 0; t++) {
		j = (int)((mk->next + t) % MARK_CONNS);
		if (!mk->mine[j])
			k = j;
	}
	if (k < 0)
		k = (int)(mk->next % MARK_CONNS);
	mk->next = (unsigned)k + 1;
	mark_drop(mk, mk->conn[k]);
	mk->conn[k] = -1;
	return k;
}

/* The markers waiting: on the connections accepted before, and on those
 * in the listener's queue (at most MARK_ACCEPTS of them; every one at
 * the end of the stream: final).  A connection that has said nothing
 * yet waits in one of MARK_CONNS slots (mark_slot gives one up for it
 * when all are taken): a connector that sends nothing (any local user
 * may connect) never stalls the pump nor takes its descriptors, and a
 * holder whose connection was given up tries again (mark_send).  At the
 * end of the stream every holder's marker has come (each one sent it
 * before its close, and the end comes after the last close): what is
 * still silent then is not a holder's. */
static void marks_read(struct marks *mk, bool final)
{
	for (int i = 0; i < MARK_CONNS; i++)
		if (mk->conn[i] >= 0 && (mark_take(mk, mk->conn[i]) || final)) {
			if (final)
				mark_drop(mk, mk->conn[i]);
			else
				REAL(close)(mk->conn[i]);
			mk->conn[i] = -1;
		}
	for (int i = 0; mk->fd >= 0 && i < (final ? MARK_ACCEPTS_FINAL : MARK_ACCEPTS); i++) {
		int c = REAL(accept4)(mk->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK), j;
		struct ucred cr;
		socklen_t l = sizeof cr;

		if (c < 0 && errno == EINTR)
			continue;
		if (c < 0)
			break;
		if (mark_take(mk, c)) {
			REAL(close)(c);
			continue;
		}
		if (final) {
			mark_drop(mk, c);
			continue;
		}
		j = mark_slot(mk);
		mk->conn[j] = c;
		mk->mine[j] = REAL(getsockopt)(c, SOL_SOCKET, SO_PEERCRED, &cr, &l) == 0 &&
			      cr.uid == geteuid();
	}
}

/* The program's stream ended after got bytes: was its last byte followed
 * by a graceful end?  (A socketpair channel has no counter, nor does a
 * pump made under a seccomp filter: yes, as before; after MARK_OPEN too;
 * never after MARK_ABORT.) */
static bool ended_clean(struct marks *mk, uint64_t got)
{
	if (!mk->counted)
		return true;
	marks_read(mk, true);
	if (mk->aborted)
		return false;
	return mk->open || (mk->any && mk->last >= mk->base && mk->last - mk->base == got);
}

static bool same_socket(int x, int y)
{
	struct stat a, b;

	return fstat(x, &a) == 0 && fstat(y, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Another armed number of fd's socket outside [first, last]? */
static bool armed_elsewhere(int fd, int first, int last)
{
	size_t h = conntab_high();

	for (size_t o = 0; o < h && o <= INT_MAX; o++)
		if (((int)o < first || (int)o > last) && armed_at((int)o) && same_socket(fd, (int)o))
			return true;
	return false;
}

/* What close() would drop anyway, read now: a close with unread data
 * resets the connection, which the pump would take for a death. */
static void drain_unread(int fd)
{
	char sink[4096];
	int n = 64;

	while (n-- > 0 && REAL(recv)(fd, sink, sizeof sink, MSG_DONTWAIT) > 0)
		;
}

void shim_pump_closing(int first, int last)
{
	size_t h = conntab_high();

	for (size_t fd = (size_t)(first < 0 ? 0 : first); fd < h && fd <= (size_t)last; fd++)
		shim_pump_mark((int)fd);
	if (!__atomic_load_n(&ever_armed, __ATOMIC_ACQUIRE))
		return;
	for (size_t fd = (size_t)(first < 0 ? 0 : first); fd < h && fd <= (size_t)last; fd++) {
		struct conntab_pumped *pi = armed_at((int)fd);

		if (!pi)
			continue;
		pi->armed = false;
		if (armed_elsewhere((int)fd, first, last))
			continue;
		/* The program's last number of the end (no other process holds
		 * it: see above): the FIN goes after its data, ahead of any
		 * reset the close may still send. */
		(void)set_linger((int)fd, false);
		(void)REAL(shutdown)((int)fd, SHUT_WR);
		drain_unread((int)fd);
	}
}

void shim_pump_disarm_all(bool ending)
{
	size_t h;

	if (!__atomic_load_n(&ever_armed, __ATOMIC_ACQUIRE))
		return;
	h = conntab_high();
	for (size_t fd = 0; fd < h && fd <= INT_MAX; fd++) {
		struct conntab_pumped *pi = armed_at((int)fd);

		if (!pi)
			continue;
		pi->armed = false;
		(void)set_linger((int)fd, false);
		if (ending)
			drain_unread((int)fd);
	}
}

bool shim_pump_linger_set(int fd)
{
	size_t h;

	if (!__atomic_load_n(&ever_armed, __ATOMIC_ACQUIRE) || !armed_at(fd))
		return false;
	/* The program's option from now on, on every number of the socket:
	 * its {1, 0} reads as the reset it asks for; anything else as a close
	 * (a death too, as before the arming). */
	h = conntab_high();
	for (size_t o = 0; o < h && o <= INT_MAX; o++) {
		struct conntab_pumped *pi = armed_at((int)o);

		if (pi && ((int)o == fd || same_socket(fd, (int)o)))
			pi->armed = false;
	}
	return true;
}

/* A fork()'s child: nothing to do (kept for the atfork order). */
void shim_pump_after_fork_child(void)
{
}

/* ---- the pump process ------------------------------------------------------- */

/* The numbers in [lo, hi] that /proc/self/fd lists (a real procfs:
 * policy_open_proc), closed one by one: every open one, however high.
 * false when the list could not be read to its end (no /proc, a filter
 * refusing getdents64): what is left is the caller's. */
static bool close_listed(unsigned lo, unsigned hi)
{
	long buf[512];
	long n;
	int d = policy_open_proc("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (d < 0)
		return false;
	/* (closing while reading is safe: procfs lists by number, from the
	 * last one read) */
	while ((n = getdents64(d, buf, sizeof buf)) > 0) {
		for (long off = 0; off < n;) {
			const struct dirent64 *e = (const struct dirent64 *)((const char *)buf + off);
			char *end;
			unsigned long fd = strtoul(e->d_name, &end, 10);

			off += e->d_reclen;
			if (end != e->d_name && !*end && fd >= lo && fd <= hi && fd != (unsigned long)d)
				REAL(close)((int)fd);
		}
	}
	policy_close_path(d);
	return n == 0;
}

/* close_range() over [lo, hi]; where it is refused (a seccomp filter
 * written before Linux 5.9 answers EPERM, or kills; the kernel before 5.9
 * says ENOSYS) the numbers /proc/self/fd lists, and without it one number
 * at a time, up to the descriptor limit: a copy of the program's end of
 * the channel left open here kept the pump, and its connection, alive for
 * ever after the program was gone, and the peer never got close_notify
 * (helper-119).  Not the loop alone: a number above both the limit and
 * the highest the library saw (opened with no wrapper, then
 * RLIMIT_NOFILE lowered: prlimit, or the program's setrlimit) stayed
 * open here, and a plaintext socket of the program's with it, which its
 * close() no longer ended (helper-129). */
static void close_between(unsigned lo, unsigned hi)
{
	struct rlimit rl;
	size_t end = conntab_high();

	if (REAL(close_range)(lo, hi, 0) == 0 || (errno != EPERM && errno != ENOSYS))
		return;
	if (close_listed(lo, hi))
		return;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > end)
		end = (size_t)rl.rlim_cur;
	for (size_t fd = lo; fd <= hi && fd < end && fd <= INT_MAX; fd++)
		(void)REAL(close)((int)fd);
}

static void keep_only(const int *keep, int n)
{
	int k[9], lo = 0;

	memcpy(k, keep, (size_t)n * sizeof *k);
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (k[j] < k[i]) {
				int t = k[i];
				k[i] = k[j];
				k[j] = t;
			}
	for (int i = 0; i < n; i++) {
		if (k[i] < 0 || k[i] < lo)
			continue;
		if (k[i] > lo)
			close_between((unsigned)lo, (unsigned)k[i] - 1);
		lo = k[i] + 1;
	}
	close_between((unsigned)lo, ~0U);
}

/* End the program's side abortively: its next read fails (ECONNRESET). */
static void reset(int fd)
{
	(void)set_linger(fd, true);
	REAL(close)(fd);
}

/* The program's end of a channel not connected yet (pending_channel)
 * made to fail at once, whatever its state: the kernel's disconnect
 * (connect() with AF_UNSPEC): in SYN_SENT the connect is aborted
 * (ECONNRESET in every process that holds the end, POLLOUT|POLLERR|POLLHUP)
 * and no SYN is sent again, as shutdown() would; an end already connected
 * (its key could not come off) is reset, where shutdown() would send a FIN
 * the program reads as the peer's orderly end.  On every path that has not
 * seen the end refused or connected, before the pump lets go of the port
 * its SYNs go to: its key keeps another user's listener there from
 * answering (pending_channel), and the abort ends the end's wait at once
 * rather than at the kernel's last SYN (127 s).  Async-signal-safe. */
static void pending_abort(const struct pending *pd)
{
	struct sockaddr sa = { .sa_family = AF_UNSPEC };

	(void)REAL(connect)(pd->a, &sa, sizeof sa);
}

/* The program's end of a channel not connected yet (pending_channel)
 * is refused: the refuser listens, the listener goes, and the end's next
 * SYN meets the pump's end-to-be, bound and not listening, which the
 * kernel answers with a reset signed with the refuser's key (see
 * pending_channel): ECONNREFUSED in every process that holds the end,
 * shown by poll, select and epoll as POLLOUT|POLLERR|POLLHUP, as for any
 * refused connect.  The pump holds that port (and its copy of the end,
 * so that the end is still there to be refused) until then.  (A pump
 * killed meanwhile leaves the end signed: never connected to another
 * listener, ETIMEDOUT when the kernel gives up.)  A refuser that cannot
 * listen: the end is aborted at once (pending_abort), with a warning
 * (silent before h195: tests/preload/scm_connect.sh, refuser_unready).  At most
 * REFUSE_WAIT_MS, longer than the longest gap between two SYNs (64 s:
 * 1, 3, 7, 15, 31 and 63 s after the connect, tcp_syn_retries 6, or 1,
 * 2, 3, 4, 5, 7, 11, 19, 35 and 67 s with tcp_syn_linear_timeouts 4);
 * an end still connecting then (a wait cut short) is aborted
 * (pending_abort). */
#define REFUSE_WAIT_MS 130000

static void refused_wait(const struct pending *pd)
{
	struct pollfd p = { .fd = pd->a, .events = POLLOUT };

	if (REAL(listen)(pd->r, 0) < 0) {
		int e = errno;

		pending_abort(pd);
		log_warn("pump: the refusal of the program's end could not be made"
			 " (listen: %s): its connect is aborted instead (ECONNRESET)", strerror(e));
	}
	REAL(close)(pd->l);
	if (poll_one(&p, REFUSE_WAIT_MS) <= 0 || !(p.revents & (POLLOUT | POLLERR | POLLHUP)))
		pending_abort(pd);
}

/* ---- the pump's watchdog -------------------------------------------------
 *
 * A lock of OpenSSL's that another thread of the program held at the fork
 * stays held in the pump for ever (docs/fork.md, "Locks in the pump").  A
 * pump that waits on one would hold its connection open and silent for
 * good.  Outside its poll() the pump never waits for long: every socket
 * call is MSG_DONTWAIT, the engine never blocks, and the one wait it may
 * make, a key holder's answer inside a handshake step (10 s at most,
 * policy/keyholder.c), is shorter than WATCH_TICKS periods.  So one turn
 * of its loop that lasts WATCH_TICKS whole periods of WATCH_S is such a
 * lock: the watchdog (SIGALRM every WATCH_S) then resets both ends, so
 * that the program and the peer learn at once that the connection is
 * gone, logs it, and ends the pump. */
#define WATCH_S 5
#define WATCH_TICKS 3

static volatile sig_atomic_t w_busy;      /* outside poll() */
static volatile unsigned long w_turns;    /* turns of the loop begun */
static unsigned long w_seen;
static int w_ticks;                       /* ticks the turn w_seen has lasted */
static int w_tcp = -1, w_b = -1;
static const struct pending *w_pd;        /* a channel not connected yet */
static char w_line[600];
static size_t w_len;

static void watchdog(int sig)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t alrm;

	(void)sig;
	if (!w_busy || w_turns != w_seen) {
		w_seen = w_turns;
		w_ticks = 0;
		return;
	}
	if (++w_ticks < WATCH_TICKS)
		return;
	/* The resets first; then the line, through the log (never onto a
	 * socket, never waiting: it wrote to the fd the log had at the
	 * pump's start, blocking); should anything still hold it, the next
	 * tick, with SIGALRM's default action, ends the pump. */
	reset(w_b);
	reset(w_tcp);
	/* A channel not connected yet fails now: the pump ends within a
	 * tick, and with it its hold on the port the end's SYNs go to. */
	if (w_pd)
		pending_abort(w_pd);
	(void)REAL(sigaction)(SIGALRM, &dfl, NULL);
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	(void)sigprocmask(SIG_UNBLOCK, &alrm, NULL);
	if (w_len)
		log_put(w_line, w_len);
	REAL(_exit)(1);
}

static void watchdog_start(struct tls_conn *c, int b)
{
	struct sigaction sa = { .sa_handler = watchdog, .sa_flags = SA_RESTART };
	struct itimerval it = { { WATCH_S, 0 }, { WATCH_S, 0 } };

	w_tcp = tls_conn_fd(c);
	w_b = b;
	w_len = log_format(w_line, sizeof w_line, LOG_ERROR,
			   "%s rule \"%s\": the pump process of this session waited %d s inside OpenSSL"
			   " (on a lock another thread of the program held when it forked): connection reset",
			   tls_conn_peer(c), tls_conn_label(c), WATCH_S * WATCH_TICKS);
	sigemptyset(&sa.sa_mask);
	(void)REAL(sigaction)(SIGALRM, &sa, NULL);
	(void)setitimer(ITIMER_REAL, &it, NULL);
}

/* How long a failed session's pump waits, with no progress, for the
 * program to take what it was still to be given, before the reset goes
 * all the same. */
#define FAILED_WAIT_MS 10000

/* What the program writes to a failed session goes nowhere: read and
 * dropped, so that a program blocked writing to its end (a service that
 * answers a client who stopped reading) can go on to read what is left,
 * and then the error (helper-63: both waited for ever).  1: drained for
 * now; 0: the program has shut its writing side (end of file: nothing
 * more to drain, but it may still read); -1: its end is gone. */
static int drain(int b)
{
	char sink[PUMP_BUF];
	ssize_t r;

	while ((r = REAL(recv)(b, sink, sizeof sink, MSG_DONTWAIT)) > 0)
		;
	if (r == 0)
		return 0;
	return r < 0 && errno != EAGAIN && errno != EINTR ? -1 : 1;
}

/* Before the reset: what the program has been sent must have reached its
 * end.  A RST throws away what our end still holds (SIOCOUTQ: unsent or
 * unacknowledged), while what the program's end has queued it reads
 * before the error.  The deadline moves on while the program takes bytes
 * (FAILED_WAIT_MS of no progress); what it writes meanwhile is dropped,
 * and a program that shut its writing side (b_eof) is still waited for. */
static void delivered(int b, bool b_eof, int64_t deadline)
{
	int q, last = -1;

	w_busy = 0;
	while (REAL(ioctl)(b, SIOCOUTQ, &q) == 0 && q > 0 && clock_ms() < deadline) {
		struct pollfd p = { .fd = b, .events = b_eof ? 0 : POLLIN };

		if (last >= 0 && q < last)
			deadline = clock_ms() + FAILED_WAIT_MS;
		last = q;
		/* POLLERR or POLLHUP: the program's end is gone.  (No event
		 * says the queue emptied: a look every 20 ms.) */
		if (REAL(poll)(&p, 1, 20) <= 0)
			continue;
		if (p.revents & (POLLERR | POLLHUP))
			break;
		if (p.revents & POLLIN) {
			int d = drain(b);

			if (d < 0)
				break;
			b_eof = d == 0;
		}
	}
}

/* The session failed (truncation, altered record, fatal alert, socket
 * error): the warn line, and the program's next read fails with
 * ECONNRESET, never end of file (when its end resets: see channel()).
 * Everything before the failure has been handed to the program, unless
 * it left it unread past the deadline. */
static void __attribute__((noreturn)) pump_failed(struct tls_conn *c, int b, bool resets, bool b_eof,
						 int64_t deadline)
{
	/* After the program has closed and our close_notify went out, how
	 * the peer ends is no longer worth a warning. */
	if (!b_eof)
		shim_tls_report(c);
	if (resets) {
		delivered(b, b_eof, deadline);
		reset(b);
	}
	REAL(_exit)(0);
}

/* The program's end is gone, and the session's socket carries SO_LINGER
 * {1, 0}: the program set it before the hand-over (or its listener did),
 * and asked for an abortive close, as tlsio.c keeps it without a pump: no
 * close_notify, which would tell the peer the stream ended complete; what
 * the socket takes now goes, and the pump's exit closes the socket with a
 * RST.  One getsockopt, once, when the program's end closes.  (Set after
 * the hand-over, the option is on the channel's end, out of the pump's
 * sight: libtlsshim(7), LIMITS.) */
static void pump_if_aborted(struct tls_conn *c, int tcp, int b)
{
	if (!shim_linger_abortive(tcp))
		return;
	(void)tls_conn_flush(c);
	log_debug("%s rule \"%s\": the program closed its end of the pump, and the connection has"
		  " SO_LINGER 0: no close_notify, the peer gets a reset", tls_conn_peer(c), tls_conn_label(c));
	REAL(close)(b);
	REAL(_exit)(0);
}

#define DIED_RESET "was reset, not closed (the process died, or set SO_LINGER 0)"
#define DIED_UNMARKED "ended with no graceful close after its last byte (a holder died, ran" \
	" without this library, or set SO_LINGER 0)"

/* An armed end (see the top) was reset before its end of file: the last
 * process that held it died (or set SO_LINGER {1, 0} itself); or the
 * stream ended with bytes after its last marker (see above).  What it
 * wrote before goes out (at most FAILED_WAIT_MS for the peer to take it),
 * then the connection ends without close_notify: the peer sees the
 * stream cut short, as when a process dies with a direct session. */
static void __attribute__((noreturn)) pump_died(struct tls_conn *c, const char *how)
{
	int64_t deadline = clock_ms() + FAILED_WAIT_MS;

	w_busy = 0;
	while (tls_conn_flush(c) != TLS_ERR && tls_conn_has_output(c) && clock_ms() < deadline) {
		struct pollfd p = { .fd = tls_conn_fd(c), .events = POLLOUT };

		(void)REAL(poll)(&p, 1, 100);
	}
	log_warn("%s rule \"%s\": the program's end of the pump %s: no close_notify, the peer sees"
		 " the stream cut short", tls_conn_peer(c), tls_conn_label(c), how);
	REAL(_exit)(0);
}

/* How long the pump waits for the crossed SYNs of pending_channel: on
 * loopback they cross inside the connect(). */
#define CROSS_WAIT_MS 5000

/* A channel not connected yet (pending_channel): the handshake first,
 * to its end or its deadline (handshake_timeout_ms, as the program's own
 * wait keeps it), then the pump connects its end to the program's, and
 * returns it; or the program's end is refused (refused_wait) and the
 * pump ends.  Nothing crosses the channel before: it is not connected. */
static int pump_connect(struct tls_conn *c, const struct pending *pd, struct marks *mk)
{
	struct sockaddr_in xa, xp, ha, hp;
	struct pollfd p;
	socklen_t l;
	int r;

	/* Every step is watched, the first one too (a handshake not started
	 * yet makes its ClientHello here: random bytes, a key share). */
	w_pd = pd;
	w_turns++;
	w_busy = 1;
	while ((r = tls_conn_handshake(c)) != 0 && r != TLS_ERR) {
		long long dl = tls_conn_handshake_deadline(c);
		int ms = -1;

		if (dl >= 0 && (ms = dl > clock_ms() ? (int)(dl - clock_ms()) : 0) == 0) {
			tls_conn_timed_out(c);
			break;
		}
		p = (struct pollfd){ .fd = tls_conn_fd(c), .events = r == TLS_WANT_POLLOUT ? POLLOUT : POLLIN };
		w_turns++;
		w_busy = 0;
		(void)REAL(poll)(&p, 1, ms);
		w_busy = 1;
	}
	if (r != 0) {
		w_busy = 0;
		shim_tls_report(c);
		refused_wait(pd);
		REAL(_exit)(0);
	}
	/* The SYNs cross.  Then the ends must name each other: the pump's
	 * copy keeps the program's end, and so its port, ours until here
	 * (one whose connect the kernel gave up has no peer). */
	l = sizeof xa;
	if (REAL(getsockname)(pd->a, (struct sockaddr *)&xa, &l) == 0 &&
	    (REAL(connect)(pd->h, (struct sockaddr *)&xa, sizeof xa) == 0 || errno == EINPROGRESS)) {
		p = (struct pollfd){ .fd = pd->h, .events = POLLOUT };
		(void)poll_one(&p, CROSS_WAIT_MS);
	}
	if (l = sizeof xp, REAL(getpeername)(pd->a, (struct sockaddr *)&xp, &l) < 0 ||
	    (l = sizeof ha, REAL(getsockname)(pd->h, (struct sockaddr *)&ha, &l) < 0) ||
	    (l = sizeof hp, REAL(getpeername)(pd->h, (struct sockaddr *)&hp, &l) < 0) ||
	    !same_addr(&xa, &hp) || !same_addr(&xp, &ha)) {
		log_warn("%s rule \"%s\": the program's end of the pump was gone before the handshake"
			 " ended (closed, or its connect given up): the session ends", tls_conn_peer(c),
			 tls_conn_label(c));
		pending_abort(pd);      /* (in case it still connects) */
		REAL(_exit)(0);
	}
	/* The keys come off, h's first (should h's not, both keep theirs:
	 * slower, whole); should the end's fail (it does not), the end,
	 * still signed, could take nothing from h: it is aborted (reset,
	 * ECONNRESET), never left waiting.  A segment that crosses between
	 * the two calls is dropped and sent again.  (A pump killed between
	 * them leaves the two ends deaf to each other: libtlsshim(7), BUGS.) */
	if (md5_key(pd->h, NULL, 0) && !md5_key(pd->a, NULL, 0)) {
		pending_abort(pd);
		log_warn("%s rule \"%s\": the channel's signature key could not be taken off the"
			 " program's end of the pump (%s): the session ends", tls_conn_peer(c),
			 tls_conn_label(c), strerror(errno));
		REAL(_exit)(0);
	}
	REAL(close)(pd->l);
	REAL(close)(pd->r);
	w_pd = NULL;
	hold(mk, pd->a, false);         /* (closed at once, unless it has bytes for us) */
	return pd->h;
}

/* The pump's loop: plaintext on b, TLS on the session's socket.
 *
 * Only tls_conn_read says when the program's stream ends: 0 for the
 * peer's close_notify (end of file on the channel), TLS_ERR for a failure
 * once the plaintext decrypted before it has been returned (one call may
 * return good bytes while the failure behind them is already noted: the
 * next call says so).  A failure that a write or a flush meets first stops
 * the TLS side at once, but the reads go on until they say it too; either
 * way the plaintext still to go to the program goes first. */
static void __attribute__((noreturn)) pump_run(struct tls_conn *c, int b, bool resets, bool armed,
						struct marks *mk, const struct pending *pd)
{
	int tcp = tls_conn_fd(c);
	char in[PUMP_BUF], out[PUMP_BUF];
	size_t inlen = 0, inoff = 0, olen = 0, ooff = 0;
	bool b_eof = false, b_gone = false, tls_eof = false, fin_sent = false;
	bool failed = false, rd_failed = false, ending = false;
	int64_t fin_deadline = -1, fail_deadline = -1;
	uint64_t got = 0;       /* bytes read from the program */

	watchdog_start(c, b);
	if (pd->l >= 0)
		w_b = b = pump_connect(c, pd, mk);
	/* Never F_SETFL: the TCP socket's file status flags are shared with
	 * the program until it has let go of it.  Everything here is
	 * MSG_DONTWAIT (the engine's BIO is, too). */
	for (;;) {
		struct pollfd p[3 + MARK_CONNS];
		bool progress = false;
		ssize_t r;
		int wait_ms = -1, hold_ms, n;

		w_turns++;
		w_busy = 1;

		/* TLS -> program */
		if (!tls_eof && !rd_failed && !olen) {
			r = tls_conn_read(c, out, sizeof out, false);
			if (r > 0) {
				olen = (size_t)r;
				ooff = 0;
				progress = true;
			} else if (r == 0) {
				tls_eof = true;
				(void)REAL(shutdown)(b, SHUT_WR);
				progress = true;
			} else if (r == TLS_ERR || failed) {
				/* (failed: a write or a flush said so, and the read
				 * has nothing more before it) */
				rd_failed = failed = true;
				progress = true;
			}
			if (b_gone)
				olen = 0;          /* nobody left to read it */
		}
		if (olen) {
			r = REAL(send)(b, out + ooff, olen - ooff, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (r > 0) {
				ooff += (size_t)r;
				if (ooff == olen)
					olen = 0;
				progress = true;
				if (fail_deadline >= 0)     /* the program takes it: wait on */
					fail_deadline = clock_ms() + FAILED_WAIT_MS;
			} else if (r < 0 && errno != EAGAIN && errno != EINTR) {
				if (armed && errno == ECONNRESET && !b_eof)
					pump_died(c, DIED_RESET);
				/* Every holder of the program's end is gone (a close
				 * with our bytes unread resets the channel): nothing
				 * more goes to it, but what it wrote before that close
				 * and that reached our end is still read and sent on,
				 * up to the end of file or the error the reads below
				 * meet, as a direct session's close sends all it was
				 * given (a reset keeps the receiver's queue; it throws
				 * away only what the program's end had not sent: the
				 * markers then count more than was read, a truncation). */
				b_gone = true;
				olen = 0;
				progress = true;
			}
		}
		if (failed && fail_deadline < 0) {
			fail_deadline = clock_ms() + FAILED_WAIT_MS;
			inlen = inoff = 0;         /* never to be sent */
		}
		/* The failure, once the program has had everything before it
		 * (the read side's end already told, if the peer ended first),
		 * or has left it unread too long. */
		if (failed && (((rd_failed || tls_eof) && !olen) || clock_ms() >= fail_deadline)) {
			(void)release(mk, true, false);   /* its reset ends the wait for the program */
			pump_failed(c, b, resets, b_eof, fail_deadline);
		}
		/* program -> TLS (failed: read and dropped, see drain) */
		if (failed && !b_eof && drain(b) <= 0) {
			b_eof = true;
			progress = true;
		} else if (!failed && !b_eof && !inlen) {
			r = REAL(recv)(b, in, sizeof in, MSG_DONTWAIT);
			if (r > 0) {
				inlen = (size_t)r;
				inoff = 0;
				got += (uint64_t)r;
				progress = true;
			} else if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				if (r < 0 && armed && errno == ECONNRESET)
					pump_died(c, DIED_RESET);
				/* The program's side is gone (a reset too, unless armed:
				 * it closed with our data unread, as a direct TLS fd
				 * may, which ends with close_notify all the same). */
				b_eof = ending = true;
				pump_if_aborted(c, tcp, b);
				progress = true;
			}
		}
		if (!failed && inlen) {
			r = tls_conn_write(c, in + inoff, inlen - inoff);
			if (r > 0) {
				inoff += (size_t)r;
				if (inoff == inlen)
					inlen = 0;
				progress = true;
			} else if (r == TLS_ERR) {
				failed = progress = true;
			}
		}
		/* The program's stream ended, and all it wrote is with the
		 * engine: close_notify if a graceful end came after its last
		 * byte (the markers), else a truncation. */
		if (!failed && ending && !inlen) {
			ending = false;
			if (!ended_clean(mk, got))
				pump_died(c, DIED_UNMARKED);
			(void)tls_conn_close_notify(c);
			progress = true;
		}
		/* TLS_ERR: failed, by this pass's read perhaps, with its good
		 * bytes still on their way to the program. */
		if (!failed && tls_conn_flush(c) == TLS_ERR)
			failed = progress = true;
		if (!failed && b_eof && !inlen && !tls_conn_has_output(c) && !fin_sent) {
			(void)REAL(shutdown)(tcp, SHUT_WR);
			fin_sent = true;
		}
		if (!failed && b_eof && !ending && tls_eof && !olen && !tls_conn_has_output(c))
			break;
		if (progress || (!olen && !tls_eof && tls_conn_buffered(c) && tls_conn_poll_read(c)))
			continue;
		/* A kept copy of the program's end (hold) goes once the end has
		 * sent us all it holds: what comes then wakes the poll below.
		 * Failed: at once (what it sends is dropped). */
		hold_ms = release(mk, failed, !b_eof && !inlen);
		/* Failed: only the program's end is waited for (its room for
		 * what the reads still return). */
		p[0] = (struct pollfd){ .fd = failed ? -1 : tcp,
			.events = (short)((!tls_eof && !olen ? POLLIN : 0) |
					  (tls_conn_has_output(c) || inlen ? POLLOUT : 0)) };
		p[1] = (struct pollfd){ .fd = b,
			.events = (short)((!b_eof && (failed || !inlen) ? POLLIN : 0) | (olen ? POLLOUT : 0)) };
		/* Markers: read as they come, so that their copies of the end
		 * close (a last close's FIN waits for that; but see hold). */
		p[2] = (struct pollfd){ .fd = mk->fd, .events = POLLIN };
		for (int i = 0; i < MARK_CONNS; i++)
			p[3 + i] = (struct pollfd){ .fd = mk->conn[i], .events = POLLIN };
		if (b_eof && fin_sent && !failed) {
			/* The peer's end: 10 s at most after our close_notify
			 * (a deadline: the watchdog's ticks interrupt poll). */
			if (fin_deadline < 0)
				fin_deadline = clock_ms() + 10000;
			wait_ms = (int)(fin_deadline - clock_ms());
			if (wait_ms < 0)
				wait_ms = 0;
		} else if (failed) {
			wait_ms = (int)(fail_deadline - clock_ms());
			if (wait_ms < 0)
				wait_ms = 0;
		}
		if (hold_ms >= 0 && (wait_ms < 0 || hold_ms < wait_ms))
			wait_ms = hold_ms;
		w_busy = 0;
		n = REAL(poll)(p, 3 + MARK_CONNS, wait_ms);
		for (int i = 2; n > 0 && i < 3 + MARK_CONNS; i++)
			if (p[i].revents) {
				marks_read(mk, false);
				break;
			}
		if (n == 0 && fin_deadline >= 0 && clock_ms() >= fin_deadline && !failed)
			break;          /* the peer never closed after our close_notify */
	}
	REAL(_exit)(0);
}

/* ---- the hand-over ---------------------------------------------------------- */

static void capture_addrs(int fd, struct conntab_pumped *pi)
{
	memset(pi, 0, sizeof *pi);
	pi->llen = sizeof pi->local;
	pi->plen = sizeof pi->peer;
	if (REAL(getsockname)(fd, (struct sockaddr *)&pi->local, &pi->llen) < 0)
		pi->llen = 0;
	if (REAL(getpeername)(fd, (struct sockaddr *)&pi->peer, &pi->plen) < 0)
		pi->plen = 0;
}

/* Why a hand-over failed, for its error line: a program that may not
 * create processes (Dovecot's login processes set RLIMIT_NPROC to 1 once
 * they run as their own user, "make sure we can't fork()") must hear
 * that, not only that it failed. */
static void why_failed(char *why, size_t len, const char *what, int err)
{
	struct rlimit rl;
	int n = snprintf(why, len, ": %s: %s", what, err ? strerror(err) : "ended before it ran");

	if (n > 0 && (size_t)n < len && err == EAGAIN && getrlimit(RLIMIT_NPROC, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY)
		snprintf(why + n, len - (size_t)n, " (RLIMIT_NPROC is %llu)",
			 (unsigned long long)rl.rlim_cur);
}

/* Start the pump process; true once it runs (it said so on `ready`).
 * On failure, why says what failed. */
static bool start_pump(struct tls_conn *c, int b, bool resets, bool armed, struct marks *mk,
		       const struct pending *pd, char *why, size_t wlen)
{
	int ready[2], st;
	char ok = 0;
	ssize_t got;
	pid_t mid;

	if (REAL(pipe2)(ready, O_CLOEXEC) < 0) {
		why_failed(why, wlen, "pipe2", errno);
		return false;
	}
	/* The middle process: a clone() that sends its parent no SIGCHLD when
	 * it exits (exit signal 0), so the program never hears of it (a
	 * program that takes any SIGCHLD for its own child's death, as
	 * pg_basebackup does, would otherwise misread it); it is reaped below
	 * with __WCLONE, which the program's own waits never match.  It runs
	 * nothing but the real _Fork (no fork handlers: they are not the
	 * program's business here) and _exit. */
	/* The socket's record lock (claim(), core/tls.c) goes to the pump:
	 * let go here, taken by the pump before its ready byte; the dup2 of
	 * the channel onto our numbers would drop ours anyway, and the pump
	 * could not take it while we held it.  (The moment between the two:
	 * another process's first use of a copy forked unstarted wins it,
	 * the pump logs that, and the peer fails the connection.) */
	tls_conn_sock_lock(c, false);
	mid = (pid_t)REAL(syscall)(SYS_clone, 0UL, NULL, NULL, NULL, 0UL);
	if (mid < 0) {
		why_failed(why, wlen, "cannot create a process", errno);
		tls_conn_sock_lock(c, true);
		REAL(close)(ready[0]);
		REAL(close)(ready[1]);
		return false;
	}
	if (mid == 0) {
		pid_t pump = REAL(_Fork)();
		/* The middle's exit status: 0, or why the pump's fork failed. */
		if (pump != 0)
			REAL(_exit)(pump < 0 ? (errno > 0 && errno < 256 ? errno : 255) : 0);
		/* One thread from here on, and maybe an allocator lock held for
		 * ever: OpenSSL allocates from the pump's own heap. */
		alloc_enter_pump();
		shim_forked();
		tls_conn_reinit_after_fork(c);
		/* The pump: its own session, default signals, nothing else open. */
		sigset_t none;
		setsid();
		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, sig == SIGPIPE ? SIG_IGN : SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		tls_conn_set_owner(c, self_pid());
		/* Keep only our fds, then tell the program the pump exists.
		 * In this order: the program waits for `ready`, so none of
		 * its copies of what we close can have gone yet, and our
		 * close is never the last one.  The other way round, a
		 * program that went on at once could close a socket of its
		 * with SO_LINGER and unsent data before we did (vsftpd's data
		 * connection: its end of this very channel, with 600 s of
		 * linger), and our close, the last, waited for that data to
		 * be sent: the data the pump was to read (helper-111). */
		{
			int keep[9] = { tls_conn_fd(c), b, log_fd_get(), ready[1], mk->fd,
					pd->l, pd->h, pd->a, pd->r };
			keep_only(keep, 9);
		}
		/* (after keep_only: its close of another number of the
		 * socket would drop the lock)  Always, even for a session the
		 * program never used (no lock to hand over): held by another
		 * process, the session is failed here (tls_conn_pump_lock). */
		(void)tls_conn_pump_lock(c);
		(void)!REAL(write)(ready[1], "1", 1);
		REAL(close)(ready[1]);
		pump_run(c, b, resets, armed, mk, pd);
	}
	REAL(close)(ready[1]);
	/* Whether the pump runs is told by the pipe, not by waitpid: with
	 * SIGCHLD ignored (or reaped by the program) waitpid says ECHILD. */
	do
		got = REAL(read)(ready[0], &ok, 1);
	while (got < 0 && errno == EINTR);
	REAL(close)(ready[0]);
	st = 0;
	while (waitpid(mid, &st, __WCLONE) < 0 && errno == EINTR)
		;
	if (got != 1) {
		why_failed(why, wlen, "cannot create a process",
			   WIFEXITED(st) && WEXITSTATUS(st) != 255 ? WEXITSTATUS(st) : 0);
		tls_conn_sock_lock(c, true);    /* (the session stays ours) */
	}
	return got == 1;
}

/* The dup2 below gives the program's numbers the channel's open file:
 * what belongs to the open file, and not to the number, goes with it.
 * Only O_NONBLOCK did: the signal owner (F_SETOWN, F_SETOWN_EX), F_SETSIG's
 * signal and O_ASYNC (kept from an inherited TLS socket) were lost, and
 * a program that had set its owner on the TLS fd and turned O_ASYNC on
 * once the fd was plain text (after fork() or fdopen(), where the kernel
 * takes it) waited for a signal that had no one to go to. */
static void carry_owner(int from, int to)
{
	struct f_owner_ex ow;
	int sig;

	if (REAL(fcntl)(from, F_GETOWN_EX, &ow) == 0 && ow.pid)
		(void)REAL(fcntl)(to, F_SETOWN_EX, &ow);
	if ((sig = REAL(fcntl)(from, F_GETSIG)) > 0)
		(void)REAL(fcntl)(to, F_SETSIG, sig);
}

int shim_pump(struct tls_conn *c, bool arm)
{
	int fds[MAX_FDS], n, a = -1, b = -1, fl;
	struct conntab_pumped pi;
	struct marks mk = { .fd = -1, .held = -1 };
	struct pending pd = { .l = -1, .h = -1, .a = -1, .r = -1 };
	bool resets = true, ok, armed = false;
	char why[160] = "";

	for (int i = 0; i < MARK_CONNS; i++)
		mk.conn[i] = -1;
	n = tls_conn_fds(c, fds, MAX_FDS);
	if (n <= 0 || tls_conn_moved(c))
		return -1;
	/* The program's flags and the TCP addresses, read before any other
	 * process holds the socket. */
	fl = REAL(fcntl)(fds[0], F_GETFL);
	capture_addrs(tls_conn_fd(c), &pi);
	/* A client whose handshake has not ended, started or not (a
	 * non-blocking connect passed at once: danted): its end connects
	 * when it is done (pending_channel).  (Not a server's: its program
	 * had the accept.) */
	if ((tls_conn_role(c) != TLS_ROLE_CLIENT || tls_conn_handshake_done(c) || tls_conn_failed(c) ||
	     !pending_channel(&a, &pd)) &&
	    !channel(&a, &b, &resets)) {
		why_failed(why, sizeof why, "no channel to it", errno);
		log_error("%s rule \"%s\": the session could not be handed to a pump process%s",
			  tls_conn_peer(c), tls_conn_label(c), why);
		return -1;
	}
	/* Armed before the pump starts (it must know), on the channel's open
	 * file: every number the dup2 below gives it shares it.  Only with a
	 * TCP channel (a socketpair has no reset). */
	if (arm && resets && (armed = set_linger(a, true)))
		__atomic_store_n(&ever_armed, true, __ATOMIC_RELEASE);
	pi.armed = armed;
	if ((mk.counted = resets && !quiet()))
		marks_open(&mk, a, pd.l >= 0 ? port_of(pd.l, false, false) : port_of(b, false, false));
	tls_conn_ref(c);        /* the table's references go below */
	/* epoll interest is keyed by the open file: take fd's registrations
	 * off the TCP socket now, put them on the channel after the dup2.
	 * (Outside the connection's lock: epoll's locks come first.) */
	for (int i = 0; i < n; i++)
		shim_epoll_fd_moving(fds[i], true);
	/* No thread of the program may use the session from here on. */
	if (!tls_conn_hold(c)) {
		snprintf(why, sizeof why, ": this thread is inside a call on the connection");
		ok = false;
		goto out;
	}
	/* The fds again, under the lock: a dup() of another thread may have
	 * added one since (a later one finds the session moved: see share()
	 * in fd.c). */
	n = tls_conn_fds_locked(c, fds, MAX_FDS);
	if (!tls_conn_prepare_pump(c, true))
		log_warn("%s rule \"%s\": out of memory for the pump's buffers; it may stall",
			 tls_conn_peer(c), tls_conn_label(c));
	ok = start_pump(c, b, resets, armed, &mk, &pd, why, sizeof why);
	if (!ok) {
		(void)tls_conn_prepare_pump(c, false);
		tls_conn_release(c);
		goto out;
	}
	/* The session is the pump's.  Calls waiting for the lock find it
	 * moved and start again on the fd's new plaintext end; threads waiting
	 * in the kernel for its input are woken to do the same (wait.c). */
	tls_conn_moved_locked(c);
	carry_owner(fds[0], a);
	if (fl >= 0 && (fl & (O_NONBLOCK | O_ASYNC)))
		(void)REAL(fcntl)(a, F_SETFL, REAL(fcntl)(a, F_GETFL) | (fl & (O_NONBLOCK | O_ASYNC)));
	for (int i = 0; i < n; i++) {
		int fdfl = REAL(fcntl)(fds[i], F_GETFD);

		if (REAL(dup2)(a, fds[i]) >= 0 && fdfl >= 0)
			(void)REAL(fcntl)(fds[i], F_SETFD, fdfl);
		*conntab_pumped(fds[i]) = pi;
		conntab_set(fds[i], CT_PUMPED);
	}
	tls_conn_release(c);
	shim_wake_waiters(c);
	for (int i = 0; i < n; i++)
		(void)tls_conn_fd_remove(c, fds[i]);
out:
	for (int i = 0; i < n; i++)
		shim_epoll_fd_moving(fds[i], false);
	REAL(close)(a);
	if (b >= 0)
		REAL(close)(b);
	if (pd.l >= 0) {
		REAL(close)(pd.l);
		REAL(close)(pd.h);
		REAL(close)(pd.r);
	}
	if (mk.fd >= 0)
		REAL(close)(mk.fd);
	if (ok)
		log_info("%s rule \"%s\": session handed to a pump process; fd%s %d%s now plaintext to it%s",
			 tls_conn_peer(c), tls_conn_label(c), n > 1 ? "s" : "", fds[0],
			 n > 1 ? ",..." : "", pd.l >= 0 ? ", connected once its handshake is verified" : "");
	else
		log_error("%s rule \"%s\": the session could not be handed to a pump process%s",
			  tls_conn_peer(c), tls_conn_label(c), why);
	tls_conn_unref(c);
	return ok ? 0 : -1;
}

struct live {
	enum pump_which which;
	pid_t me;
	bool any_fd;            /* inherited whatever FD_CLOEXEC says */
};

static void pump_one(int fd, struct tls_conn *c, void *arg)
{
	struct live *l = arg;
	pid_t owner = tls_conn_owner(c);
	bool inheritable = l->which == PUMP_LIVE || l->any_fd ||
			   !(REAL(fcntl)(fd, F_GETFD) & FD_CLOEXEC);
	bool want;

	if (tls_conn_failed(c) || !inheritable)
		return;
	if (l->which == PUMP_ALL_INHERITABLE)
		want = owner == l->me || owner == 0;
	else
		want = tls_conn_handshake_started(c) && owner == l->me;
	if (want)
		(void)shim_pump(c, false);
}

/* Every session of this process that must move before fork() or exec(). */
static void pump_each(enum pump_which which, int only_fd, bool any_fd)
{
	/* self_pid_own(): a clone(CLONE_VM) child that execs moves none of
	 * its parent's sessions (core/self.c); no getpid() otherwise (a
	 * seccomp filter may refuse it: see end_sessions in process.c). */
	struct live l = { .which = which, .me = self_pid_own(), .any_fd = any_fd };

	if (only_fd >= 0)
		conntab_each_conn(only_fd, only_fd, pump_one, &l);
	else
		conntab_each_conn(0, 0x7fffffff, pump_one, &l);
}

void shim_pump_live(enum pump_which which, int only_fd)
{
	pump_each(which, only_fd, false);
}

void shim_pump_spawned(enum pump_which which, int only_fd)
{
	pump_each(which, only_fd, true);
}
