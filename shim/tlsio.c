/* shim/tlsio.c — waiting, errno, and the read/write semantics of TLS fds.
 *
 * The engine never blocks.  For a blocking socket the shim waits here,
 * without any lock held:
 *  - for a record: ppoll() on the socket and the thread's wake-up eventfd
 *    (wait.c), bounded by the socket's SO_RCVTIMEO (kept per session,
 *    sock.c); SA_RESTART and EINTR behave as for a plain read
 *    (never restarted when it has SO_RCVTIMEO: shim_wait_timeo).  A reader
 *    whose last read had to wait waits first (tls_conn_wait_first).
 *  - for the socket to take ciphertext: poll(POLLOUT), honouring
 *    SO_SNDTIMEO.
 *  - during a handshake: poll() against the rule's handshake_timeout_ms.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/sockios.h>

#include "core/clock.h"
#include "core/log.h"
#include "shim/addr.h"
#include "shim/shim.h"

#define IOV_CHUNK 16384






void shim_tls_report(struct tls_conn *c)
{
	enum tls_fail why = tls_conn_failure(c);

	/* A session that moved to a pump, or whose last fd closed, is not a
	 * failure to report; and its socket is someone else's to end now. */
	if (why != TLS_FAIL_MOVED && why != TLS_FAIL_GONE && tls_conn_report_once(c)) {
		/* Its kind for the rate limit: the rule, the reason's class. */
		if (log_enabled(LOG_WARN))
			log_msg_kind(LOG_WARN, tls_conn_label(c), tls_conn_error(c), "%s rule \"%s\": %s",
				     tls_conn_peer(c), tls_conn_label(c), tls_conn_error(c));
		/* The peer hears nothing more, but a socket shared with the
		 * process that owns the session is that process's to end. */
		if (why != TLS_FAIL_FOREIGN && tls_conn_fd(c) >= 0)
			(void)REAL(shutdown)(tls_conn_fd(c), SHUT_RDWR);
	}
}

/* A signal handler called into the engine on a connection its own thread
 * was using: waiting for that thread would hang for ever. */
static int reentered(struct tls_conn *c)
{
	log_warn("%s rule \"%s\": called from a signal handler that interrupted this thread inside"
		 " the TLS engine on the same connection; refused (EDEADLK)", tls_conn_peer(c),
		 tls_conn_label(c));
	return -EDEADLK;
}

/* -err, and SIGPIPE with a write's EPIPE, as the kernel's; not while
 * exit() runs (the exit status must stay the program's). */
static int sigpipe(bool writing, int err, int flags)
{
	if (writing && err == EPIPE && !(flags & MSG_NOSIGNAL) &&
	    !atomic_load_explicit(&shim_exiting, memory_order_relaxed))
		pthread_kill(pthread_self(), SIGPIPE);
	return -err;
}

/* A failed connection: log its reason once, make sure the peer hears
 * nothing more, and return the errno a TCP program expects (negative).
 * The one place a connection's failure becomes an errno (connect() and
 * getsockopt(SO_ERROR) say ECONNREFUSED for a failed client handshake:
 * shim_tls_refused). */
static int fail_io(struct tls_conn *c, bool writing, int flags)
{
	enum tls_fail why = tls_conn_failure(c);
	int err = ECONNRESET;

	if (why == TLS_FAIL_CLOSED) {
		err = EPIPE;
	} else if (why == TLS_FAIL_GONE) {
		err = EBADF;
	} else if (why == TLS_FAIL_SYSCALL && tls_conn_sys_errno(c)) {
		err = tls_conn_sys_errno(c);
		/* The kernel hands the peer's reset to one call (sock_error);
		 * a write after it says EPIPE, with SIGPIPE.  A read keeps
		 * saying ECONNRESET: a failed session never reads as an end. */
		if (err == ECONNRESET && tls_conn_reset_taken(c) && writing)
			err = EPIPE;
	}
	if (why != TLS_FAIL_CLOSED)
		shim_tls_report(c);
	return sigpipe(writing, err, flags);
}

bool shim_tls_refused(struct tls_conn *c)
{
	enum tls_fail why = tls_conn_failure(c);

	return tls_conn_role(c) == TLS_ROLE_CLIENT &&
	       (why == TLS_FAIL_HANDSHAKE || why == TLS_FAIL_TIMEOUT);
}

/* The errno of a failed call on c: what the engine's failure means, or
 * the code the call itself gives (TLS_REENTERED, a wait's error). */
int shim_tls_error(struct tls_conn *c, bool writing, int flags)
{
	return fail_io(c, writing, flags);
}

/* A wait a sandbox's filter refused (ppoll and poll: EPERM, ENOSYS): the
 * call fails with its errno, and the log says why (it said nothing). */
static int wait_failed(struct tls_conn *c, int r)
{
	if (r == -EPERM || r == -ENOSYS)
		log_warn("%s rule \"%s\": cannot wait for the socket (poll: %s)", tls_conn_peer(c),
			 tls_conn_label(c), strerror(-r));
	return r;
}

/* Wait until the socket takes more ciphertext, then send what waits.
 * timeout_ms < 0: none.  0 when the out-buffer is empty, or a negative
 * errno (timeout_errno when the time is up).  flags: the program's write
 * whose error this is, for its SIGPIPE (a write that has sent nothing
 * yet: the kernel's raises it with the EPIPE it returns, also when the
 * peer went while it waited); MSG_NOSIGNAL for every other wait (a read,
 * a close, a write that returns a count). */
static int flush_wait(struct tls_conn *c, int timeout_ms, int timeout_errno, int flags)
{
	int64_t deadline = timeout_ms >= 0 ? clock_ms() + timeout_ms : -1;

	for (;;) {
		int r = tls_conn_flush(c), left = -1;

		if (r == 0)
			return 0;
		if (r == TLS_REENTERED)
			return reentered(c);
		if (r == TLS_ERR)
			return fail_io(c, true, flags);
		if (deadline >= 0) {
			left = (int)(deadline - clock_ms());
			if (left <= 0)
				return -timeout_errno;
		}
		/* the socket's SO_SNDTIMEO (timeout_errno EAGAIN): never
		 * restarted, as the kernel's send */
		if ((r = timeout_errno == EAGAIN ? shim_wait_timeo(c, tls_conn_fd(c), POLLOUT, left)
						 : shim_wait(c, tls_conn_fd(c), POLLOUT, left)) < 0)
			return wait_failed(c, r);
	}
}

/* Blocking wait for the next record.  0: try the engine again; or a
 * negative errno.  out_empty: the caller just saw the out-buffer empty
 * (tls_conn_wait_first says so), which spares a look under the lock.
 * *deadline (-1 at a call's first wait) bounds all the waits of one call
 * by SO_RCVTIMEO, as the kernel's timeout bounds one recv(): a record
 * that trickles in, each piece sooner than the time-out, must not keep
 * the read waiting past it (nor MSG_WAITALL, record after record). */
static int read_wait(struct tls_conn *c, bool out_empty, int64_t *deadline)
{
	int fd = tls_conn_fd(c), r, ms;

	if (!out_empty && tls_conn_has_output(c) &&
	    (r = flush_wait(c, shim_conn_timeout_ms(c, fd, SO_SNDTIMEO), EAGAIN, MSG_NOSIGNAL)) < 0)
		return r;
	if ((ms = shim_conn_timeout_ms(c, fd, SO_RCVTIMEO)) >= 0) {
		int64_t now = clock_ms();

		if (*deadline < 0)
			*deadline = now + ms;
		else if ((ms = *deadline - now > 0 ? (int)(*deadline - now) : 0) == 0)
			return -EAGAIN;
	}
	r = shim_wait_timeo(c, fd, POLLIN, ms);
	if (r == 0)
		return -EAGAIN;        /* SO_RCVTIMEO expired, as recv() says */
	return r < 0 ? wait_failed(c, r) : 0;
}

int shim_tls_handshake(struct tls_conn *c, bool nonblock)
{
	int timeout_ms = tls_conn_timeout_ms(c);
	int64_t deadline = clock_ms() + timeout_ms;

	for (;;) {
		int r = tls_conn_handshake(c), left;

		if (r == 0)
			return 0;
		if (r == TLS_REENTERED)
			return reentered(c);
		if (r == TLS_ERR)
			return fail_io(c, false, 0);
		if (nonblock) {
			if (shim_tls_check_timeout(c))
				return fail_io(c, false, 0);
			return -EAGAIN;
		}
		left = (int)(deadline - clock_ms());
		if (left <= 0) {
			tls_conn_timed_out(c);
			return fail_io(c, false, 0);
		}
		if ((r = shim_wait(c, tls_conn_fd(c), r == TLS_WANT_POLLOUT ? POLLOUT : POLLIN, left)) < 0) {
			char msg[96];

			if (r == -EINTR)
				return r;       /* the handshake goes on at the next call */
			/* (a filter refusing ppoll and poll: the log line said
			 * nothing before) */
			snprintf(msg, sizeof msg, "handshake failed: cannot wait for the socket (poll: %s)",
				 strerror(-r));
			tls_conn_fail(c, TLS_FAIL_HANDSHAKE, msg);
			return fail_io(c, false, 0);
		}
	}
}

/* O_NONBLOCK is cached per connection: read once from the kernel, then
 * kept current by our fcntl(F_SETFL) and ioctl(FIONBIO) wrappers, which
 * every change made through the C library passes (saves a syscall on
 * every read and write). */
bool shim_tls_nonblocking(struct tls_conn *c, int flags)
{
	int nb;

	if (flags & MSG_DONTWAIT)
		return true;
	nb = tls_conn_nonblock(c);
	if (nb < 0) {
		nb = shim_is_nonblocking(tls_conn_fd(c));
		tls_conn_set_nonblock(c, nb);
	}
	return nb;
}

/* Urgent data has no place inside a TLS stream.  who: the session. */
static int oob_refused(const char *who)
{
	log_warn("%s: MSG_OOB is not available on a TLS connection", who);
	return -EOPNOTSUPP;
}

static int refuse_oob(struct tls_conn *c)
{
	char who[256];

	snprintf(who, sizeof who, "%s rule \"%s\"", tls_conn_peer(c), tls_conn_label(c));
	return oob_refused(who);
}

/* MSG_OOB on the program's end of a pump (a session moved there for a
 * fork, an exec, stdio): the kernel takes the urgent byte, the call says
 * it was sent, and the pump's reads pass over it: it never reached the
 * peer.  Refused as on the TLS fd it stands for.  0: fd is no pump's end. */
int shim_pumped_oob(int fd)
{
	struct conntab_pumped *pi;
	char who[128], peer[INET6_ADDRSTRLEN + 8] = "?";

	if (conntab_load(fd) != CT_PUMPED)
		return 0;
	if ((pi = conntab_pumped(fd)) && pi->plen)
		shim_format_addr((const struct sockaddr *)&pi->peer, peer, sizeof peer);
	snprintf(who, sizeof who, "%s (fd %d, its session in a pump)", peer, fd);
	return oob_refused(who);
}

/* A read or a write after the program's non-blocking connect() failed
 * (refused, unreachable; its SO_ERROR read or not): no handshake can
 * start on the socket, so none is tried (it was, and the kernel's EPIPE
 * became the read's error, with a warn line of a handshake that never
 * was).  The kernel's answers instead, without a byte of the socket's:
 * the pending error, else a read's end of file and a write's EPIPE.
 * The session stays as it was: the socket may connect again.  1: the
 * socket is (or is becoming) a connection, go on. */
static int never_connected(struct tls_conn *c, int flags, bool reading)
{
	int fd = tls_conn_fd(c), err = 0;
	socklen_t l = sizeof err;

	if (tls_conn_role(c) != TLS_ROLE_CLIENT || tls_conn_handshake_started(c) ||
	    tls_conn_failed(c) || !shim_connect_failed(fd))
		return 1;
	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0 || err == 0)
		err = reading ? 0 : EPIPE;
	return err ? sigpipe(!reading, err, flags) : 0;
}

/* What a read and a write do first: MSG_OOB is refused, 0 bytes is a
 * no-op, a socket whose connect failed answers as the kernel's, a write
 * on a failed connection says why, the handshake completes.  1: go on; 0 or -errno: return that.
 * A read of a failed connection goes on: plain text decrypted before the
 * failure (a peek's or FIONREAD's stage) comes first, and the engine's
 * read says when it is all gone (TLS_ERR). */
static int io_start(struct tls_conn *c, size_t len, int flags, bool nb, bool reading)
{
	int e;

	if (flags & MSG_OOB)
		return refuse_oob(c);
	if (len == 0)
		return 0;
	if (!tls_conn_handshake_done(c) && !(reading && tls_conn_failed(c))) {
		if (!reading && tls_conn_failed(c))
			return fail_io(c, true, flags);
		if ((e = never_connected(c, flags, reading)) <= 0)
			return e;
		/* (a write whose handshake fails with EPIPE raises SIGPIPE) */
		if ((e = shim_tls_handshake(c, nb)) < 0)
			return reading ? e : sigpipe(true, -e, flags);
	}
	return 1;
}

/* SO_PEEK_OFF (TCP has it since Linux 6.10): the kernel's offset counts
 * ciphertext, and the engine's reads move it; the plain text's cannot be
 * kept there.  setsockopt(SO_PEEK_OFF) on a TLS fd is refused (sock.c),
 * as TCP refused it before 6.10; one set before the socket became TLS (or
 * inherited from its listener) refuses the peek: each peek would give the
 * same bytes again where the program expects the next ones. */
static bool peek_off_set(struct tls_conn *c, int fd)
{
	int off = -1;
	socklen_t l = sizeof off;

	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_PEEK_OFF, &off, &l) < 0 || off < 0)
		return false;
	log_warn("%s rule \"%s\": MSG_PEEK with SO_PEEK_OFF set (%d) is not available on a TLS"
		 " connection; refused (EOPNOTSUPP)", tls_conn_peer(c), tls_conn_label(c), off);
	return true;
}

/* MSG_PEEK: the plain text at the head of the stream, left in place, as
 * much as is there up to len (across records, also ones that came after
 * an earlier peek).  With MSG_WAITALL it waits, as TCP's does, until len
 * bytes are there, the stream ends or fails, the time-out, a signal; with
 * MSG_TRUNC it only counts (buf may be NULL). */
/* A peek keeps what it shows in the library (the engine's stage) until
 * the program reads it.  TCP's peek sees at most its receive queue, which
 * the window bounds (SO_RCVBUF): a program that peeks and does not read
 * stops the sender.  The library's reads of ciphertext empty that queue,
 * so the peer sends on, and a peek of a large count (MSG_PEEK|MSG_TRUNC
 * takes any count with a NULL buffer: "how much is there?") kept the
 * whole stream in memory, as much as the peer cared to send (200 MiB for
 * a peer that sent 200 MiB).  A peek of more than PEEK_FREE bytes sees at
 * most SO_RCVBUF bytes of plain text (one getsockopt): what TCP could
 * show; MSG_WAITALL then returns that much, where TCP would wait for ever
 * on its closed window. */
#define PEEK_FREE 65536
static size_t peek_bound(int fd, size_t len)
{
	int rcv = 0;
	socklen_t l = sizeof rcv;

	if (len <= PEEK_FREE)
		return len;
	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_RCVBUF, &rcv, &l) < 0 || rcv < PEEK_FREE)
		rcv = PEEK_FREE;
	return len < (size_t)rcv ? len : (size_t)rcv;
}

static ssize_t tls_peek(struct tls_conn *c, void *buf, size_t len, int flags, bool nb)
{
	bool waitall = (flags & MSG_WAITALL) && !nb;
	int64_t deadline = -1;
	size_t got = 0;
	int e;

	if (peek_off_set(c, tls_conn_fd(c)))
		return -EOPNOTSUPP;
	len = peek_bound(tls_conn_fd(c), len);
	for (;;) {
		ssize_t r = tls_conn_read(c, (flags & MSG_TRUNC) ? NULL : buf, len, true);

		if (r > 0) {
			got = (size_t)r;
			if (got == len || !waitall || tls_conn_peer_ended(c) || tls_conn_failed(c))
				return (ssize_t)got;
		} else if (r == 0) {
			return 0;
		} else if (r == TLS_REENTERED) {
			return reentered(c);
		} else if (r == TLS_ERR) {
			return fail_io(c, false, flags);
		} else if (nb) {
			return -EAGAIN;
		}
		if ((e = read_wait(c, false, &deadline)) < 0)
			return got ? (ssize_t)got : e;
	}
}

/* MSG_ERRQUEUE reads the socket's error queue, never the stream, and
 * none of the packets it stamps (shim_tls_errqueue). */
static ssize_t errqueue_recv(struct tls_conn *c, void *buf, size_t len, int flags)
{
	struct iovec v = { buf, len };
	struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 };

	return shim_tls_errqueue(c, &m, flags);
}

/* One read; *deadline as read_wait's, shared by the buffers of one readv
 * or recvmsg (SO_RCVTIMEO bounds the call, not each buffer). */
static ssize_t tls_recv(struct tls_conn *c, void *buf, size_t len, int flags, int64_t *dl)
{
	bool nb, peek = flags & MSG_PEEK;
	bool waitall;
	/* MSG_TRUNC on TCP: the bytes are consumed (or, with MSG_PEEK, only
	 * counted), never copied: buf may be NULL.  They go through here. */
	bool trunc = flags & MSG_TRUNC;
	char scratch[1024];
	size_t got = 0;
	int e;

	if (__builtin_expect(flags & MSG_ERRQUEUE, 0))
		return errqueue_recv(c, buf, len, flags);
	nb = shim_tls_nonblocking(c, flags);
	waitall = (flags & MSG_WAITALL) && !peek && !nb;
	if ((e = io_start(c, len, flags, nb, true)) <= 0)
		return e;
	if (peek)
		return tls_peek(c, buf, len, flags, nb);
	/* A reader that outpaces its sender: wait first (tls_conn_wait_first). */
	if (!nb) {
		bool went_hot;

		if (tls_conn_wait_first(c, &went_hot)) {
			/* Its record buffers kept from now on, until idle. */
			if (went_hot)
				shim_watch_hot(c);
			if ((e = read_wait(c, true, dl)) < 0)
				return e;
		}
	}
	for (;;) {
		size_t want = len - got;
		ssize_t r;

		if (trunc && want > sizeof scratch)
			want = sizeof scratch;
		r = tls_conn_read(c, trunc ? scratch : (char *)buf + got, want, false);

		if (r > 0) {
			got += (size_t)r;
			/* (a discarding read whose scratch filled goes on for
			 * what is there now, as one read would) */
			if (got == len || (!waitall && !(trunc && (size_t)r == want)))
				return (ssize_t)got;
			continue;
		}
		if (r == 0)
			return (ssize_t)got;
		if (got && !waitall)
			return (ssize_t)got;
		if (r == TLS_REENTERED)
			return got ? (ssize_t)got : reentered(c);
		if (r == TLS_ERR) {
			if (got)
				return (ssize_t)got;
			return fail_io(c, false, flags);
		}
		if (nb)
			return got ? (ssize_t)got : -EAGAIN;
		tls_conn_waited(c);
		if ((e = read_wait(c, false, dl)) < 0)
			return got ? (ssize_t)got : e;
	}
}

ssize_t shim_tls_recv(struct tls_conn *c, void *buf, size_t len, int flags)
{
	int64_t deadline = -1;

	return tls_recv(c, buf, len, flags, &deadline);
}

/* MSG_ZEROCOPY on a socket with SO_ZEROCOPY on (set before it became TLS:
 * setsockopt refuses it after, sock.c): TCP reports each such send's
 * completion on the error queue, and the program waits for it before it
 * reuses its buffer.  The engine copies and sends ciphertext, so none
 * would ever come (the program stalls): refused.  Without SO_ZEROCOPY the
 * kernel ignores the flag, and so does the library. */
static bool zerocopy_refused(struct tls_conn *c, int fd)
{
	int on = 0;
	socklen_t l = sizeof on;

	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_ZEROCOPY, &on, &l) < 0 || !on)
		return false;
	log_warn("%s rule \"%s\": MSG_ZEROCOPY with SO_ZEROCOPY on is not available on a TLS"
		 " connection (no completion would come); refused (EOPNOTSUPP)", tls_conn_peer(c),
		 tls_conn_label(c));
	return true;
}

ssize_t shim_tls_send(struct tls_conn *c, const void *buf, size_t len, int flags)
{
	int fd = tls_conn_fd(c), e;
	bool nb = shim_tls_nonblocking(c, flags), left = true;
	size_t sent = 0;

	if (__builtin_expect(flags & MSG_ZEROCOPY, 0) && zerocopy_refused(c, fd))
		return -EOPNOTSUPP;
	if ((e = io_start(c, len, flags, nb, false)) <= 0)
		return e;
	while (sent < len) {
		ssize_t r = tls_conn_write_ex(c, (const char *)buf + sent, len - sent, &left);

		if (r > 0) {
			sent += (size_t)r;
			continue;
		}
		if (r == TLS_REENTERED)
			return sent ? (ssize_t)sent : reentered(c);
		if (r == TLS_ERR) {
			if (sent)
				break;
			return fail_io(c, true, flags);
		}
		if (nb) {
			if (sent)
				break;
			return -EAGAIN;
		}
		if ((e = flush_wait(c, shim_conn_timeout_ms(c, fd, SO_SNDTIMEO), EAGAIN,
				    sent ? MSG_NOSIGNAL : flags)) < 0) {
			if (sent)
				break;
			return e;
		}
	}
	/* A blocking send returns once the kernel holds everything, as for
	 * TCP; an error now shows on the next call. */
	if (!nb && left)
		(void)flush_wait(c, shim_conn_timeout_ms(c, fd, SO_SNDTIMEO), EAGAIN, MSG_NOSIGNAL);
	return (ssize_t)sent;
}

int shim_iov_check(const struct iovec *iov, size_t cnt, int err)
{
	if (cnt > IOV_MAX)
		return -err;
	for (size_t i = 0; i < cnt; i++)
		if (iov[i].iov_len > (size_t)SSIZE_MAX)
			return -EINVAL;
	return 0;
}

/* A peek into several buffers: TCP fills them in turn from the queue's
 * start, as one peek of their total (with MSG_WAITALL, it waits for all of
 * it).  Each buffer peeked on its own would see the same first bytes, so
 * the peek is of the total (at most what one peek stages, peek_bound) into
 * a buffer of ours, then spread.  Without the memory: the first buffer. */
static bool peek_iov(struct tls_conn *c, const struct iovec *iov, int cnt, int flags, int64_t *dl,
		     ssize_t *r)
{
	size_t total = 0, off = 0;
	char *tmp;

	for (int i = 0; i < cnt; i++)
		total = iov[i].iov_len > (size_t)SSIZE_MAX - total ? (size_t)SSIZE_MAX : total + iov[i].iov_len;
	if (flags & MSG_TRUNC) {
		*r = tls_recv(c, NULL, total, flags, dl);
		return true;
	}
	total = peek_bound(tls_conn_fd(c), total);
	if (!(tmp = malloc(total ? total : 1)))
		return false;
	*r = tls_recv(c, tmp, total, flags, dl);
	for (int i = 0; *r > 0 && i < cnt && off < (size_t)*r; i++) {
		size_t n = (size_t)*r - off < iov[i].iov_len ? (size_t)*r - off : iov[i].iov_len;

		if (n) /* an empty entry may be {NULL, 0} */
			memcpy(iov[i].iov_base, tmp + off, n);
		off += n;
	}
	free(tmp);
	return true;
}

ssize_t shim_tls_recv_iov(struct tls_conn *c, const struct iovec *iov, int cnt, int flags)
{
	ssize_t total = 0;
	int64_t deadline = -1;

	if ((flags & MSG_PEEK) && cnt > 1 && !(flags & MSG_ERRQUEUE)) {
		ssize_t r;

		if (peek_iov(c, iov, cnt, flags, &deadline, &r))
			return r;
	}
	for (int i = 0; i < cnt; i++) {
		ssize_t r;

		if (!iov[i].iov_len)
			continue;
		/* Only the first buffer may wait; later ones take what is there. */
		r = tls_recv(c, iov[i].iov_base, iov[i].iov_len,
			     total && !(flags & MSG_WAITALL) ? flags | MSG_DONTWAIT : flags, &deadline);
		if (r < 0)
			return total ? total : r;
		total += r;
		if ((size_t)r < iov[i].iov_len || (flags & MSG_PEEK))
			break;
	}
	return total;
}


/* Gather small buffers into full records rather than one record each.
 * The gathering buffer is on the stack only when it is small: 16 KiB there
 * would push OpenSSL's frames below it onto pages a new thread has not
 * touched yet (a page fault each, per thread). */
ssize_t shim_tls_send_iov(struct tls_conn *c, const struct iovec *iov, int cnt, int flags)
{
	char small[1024], *chunk = small;
	size_t want = 0, size = sizeof small;
	ssize_t total = 0;
	int i = 0;
	size_t off = 0;

	if (cnt == 1)
		return shim_tls_send(c, iov[0].iov_base, iov[0].iov_len, flags);
	for (int k = 0; k < cnt && want <= sizeof small; k++)
		want += iov[k].iov_len;
	if (want > sizeof small) {
		size = IOV_CHUNK;
		if (!(chunk = malloc(size))) {
			chunk = small;           /* smaller records, still correct */
			size = sizeof small;
		}
	}
	while (i < cnt) {
		size_t fill = shim_iov_gather(iov, cnt, &i, &off, chunk, size);
		ssize_t r;

		if (!fill)
			break;
		/* (once some went out, an error returns the count, with no
		 * SIGPIPE: the kernel's one call of them all) */
		r = shim_tls_send(c, chunk, fill, total ? flags | MSG_NOSIGNAL : flags);
		if (r < 0) {
			if (!total)
				total = r;
			break;
		}
		total += r;
		if ((size_t)r < fill)
			break;
	}
	if (chunk != small)
		free(chunk);
	return total;
}

/* Bounded: a peer that never reads does not hang the program's close.
 * fin: the caller sends the socket's FIN right after (a shutdown, or the
 * close of the socket's only descriptor): the close_notify goes out in
 * the FIN's segment (tls_conn_close_notify_fin), one segment less, and
 * one ACK less from the peer. */
static void send_close_notify(struct tls_conn *c, bool fin)
{
	int r = fin ? tls_conn_close_notify_fin(c) : tls_conn_close_notify(c);

	if (r == TLS_WANT_POLLOUT)
		(void)flush_wait(c, tls_conn_timeout_ms(c), ETIMEDOUT, MSG_NOSIGNAL);
}

/* SO_LINGER {1, 0} (set on the socket or inherited from its listener):
 * the program asks for an abortive close, a RST that tells the peer the
 * stream was cut short.  A close_notify would tell it the opposite, with
 * TLS's authority: none is sent, and nothing lingers (the real close
 * sends the RST) once what the program wrote and the socket can take
 * at once has gone out.  One getsockopt per close of a session, unless
 * the socket cannot carry the option: one whose whole history this
 * process saw, in a process that never set SO_LINGER (shim/fd.c). */
static bool abortive_close(int fd)
{
	if (!__atomic_load_n(&shim_linger_set, __ATOMIC_RELAXED) && shim_sock_whole(fd))
		return false;
	return shim_linger_abortive(fd);
}

/* The socket says SO_LINGER {1, 0}: one getsockopt (a pump asks its TCP
 * socket so, pump.c). */
bool shim_linger_abortive(int fd)
{
	struct linger l;
	socklen_t len = sizeof l;

	return REAL(getsockopt)(fd, SOL_SOCKET, SO_LINGER, &l, &len) == 0 && l.l_onoff && !l.l_linger;
}

/* fd stops naming c (close, dup2 onto it, close_range): c's word is a
 * tombstone now (conntab_begin_close).  The session's last fd sends
 * close_notify and lingers like the kernel would, then the engine lets go
 * of the socket: the number is about to be closed and may be reused.
 * closing: the caller is close(), whose real close follows at once (not
 * dup2 or close_range, which may still refuse after this). */
static void close_begin(int fd, struct tls_conn *c, bool closing)
{
	if (tls_conn_reentered(c)) {
		/* A signal handler closes the fd its own thread was using inside
		 * the engine: no close_notify (that would wait for ever). */
		log_warn("%s rule \"%s\": close() from a signal handler that interrupted this thread"
			 " inside the TLS engine: no close_notify for this connection",
			 tls_conn_peer(c), tls_conn_label(c));
		return;
	}
	if (tls_conn_fd_remove(c, fd) > 0)
		return;
	if (tls_conn_handshake_done(c) && abortive_close(fd)) {
		/* What the socket takes now, no wait: the program drops a
		 * stuck peer this way, and TCP throws away what it holds. */
		(void)tls_conn_flush(c);
		log_debug("%s rule \"%s\": abortive close (SO_LINGER 0): no close_notify, the peer gets a"
			  " reset", tls_conn_peer(c), tls_conn_label(c));
	} else if (tls_conn_handshake_done(c)) {
		/* Records the program never sees (TLS 1.3 session tickets) may
		 * sit unread in the kernel; Linux answers close() with unread
		 * data by a RST, which destroys what is still in flight to the
		 * peer.  Let OpenSSL consume them first (a peek: application
		 * data the program left unread stays, and resets as under TCP). */
		(void)tls_conn_poll_read(c);
		/* The session ended cleanly here: linger like the kernel would,
		 * unless the peer has ended its side already (its close_notify or
		 * FIN is in): then nothing more can arrive, and the real close
		 * sends the FIN at once (no hand-over to the linger thread).
		 * Decided before the close_notify, which then goes out with the
		 * FIN: the linger's shutdown sends it, or close()'s real close
		 * of a socket no other descriptor or process holds
		 * (shim_sock_whole; another holder would keep the FIN, and the
		 * record with it).
		 * (The peer's end seen only after our close_notify, by another
		 * thread's read: a linger that was not needed, as before a
		 * look at the peer.) */
		int ms = tls_conn_close_timeout_ms(c);
		bool ended = tls_conn_peer_ended(c), linger = !ended && ms > 0;

		send_close_notify(c, linger || (closing && shim_sock_whole(fd)));
		if (!tls_conn_failed(c)) {
			if (ended) {
				log_debug("%s rule \"%s\": the peer ended first: closed without lingering",
					  tls_conn_peer(c), tls_conn_label(c));
			} else if (linger) {
				log_debug("%s rule \"%s\": lingering close (late records are read until the"
					  " peer's FIN, at most %d ms)", tls_conn_peer(c), tls_conn_label(c), ms);
				shim_linger(fd, ms, tls_conn_opts_ktls(c));
			} else {
				log_debug("%s rule \"%s\": close_timeout_ms is 0: closed without lingering",
					  tls_conn_peer(c), tls_conn_label(c));
			}
		}
	}
	tls_conn_detach_fd(c);
	shim_unwatch_hot(c);
}

/* Never cancelled half-way (its waits included, even in a signal handler
 * that interrupted a cancellable wait): see shim_call_begin. */
void shim_tls_close_begin(int fd, struct tls_conn *c)
{
	struct shim_call_frame f;

	shim_call_begin(&f, NULL);
	close_begin(fd, c, false);
	shim_call_end(&f);
}

/* After the real close: the tombstone goes, and the caller's reference. */
void shim_tls_close_end(int fd, struct tls_conn *c)
{
	/* (a descriptor of the socket left: the POSIX lock the close let go) */
	tls_conn_relock(c);
	conntab_end_close(fd, c);
	tls_conn_unref(c);
}

/* The sessions of the socket st describes (a copy of it the library
 * held for one call, just closed): the record lock claim() took, taken
 * again (tls_conn_relock), as shim_tls_close_end does for a copy in the
 * session's list.  The copies the library closes after a refused bpf,
 * seccomp ADDFD, KCM, NBD, 9p or fsconfig SET_FD call (shim/syscall.c),
 * or that a cancelled connect() again unwinds (shim/connect.c), are in
 * no session's list: before h223 their close let the lock go for good,
 * and a child forked before the handshake then started a second one on
 * the stream.  Only a socket: the walk compares each session's
 * descriptor's inode. */
struct relock_of { dev_t dev; ino_t ino; };

static void relock_one(int fd, struct tls_conn *c, void *arg)
{
	const struct relock_of *r = arg;
	struct stat st;

	if (fstat(fd, &st) == 0 && st.st_dev == r->dev && st.st_ino == r->ino)
		tls_conn_relock(c);
}

void shim_relock_socket(const struct stat *st)
{
	struct relock_of r = { st->st_dev, st->st_ino };
	int e = errno;

	if (S_ISSOCK(st->st_mode))
		conntab_each_conn(0, (int)conntab_high(), relock_one, &r);
	errno = e;
}

int shim_tls_close(int fd)
{
	struct tls_conn *c = conntab_begin_close(fd);
	struct shim_call_frame f;
	int r;

	if (!c)
		return -EAGAIN;         /* it changed meanwhile: the caller starts again */
	/* The real close too is a cancellation point: not here. */
	shim_call_begin(&f, NULL);
	close_begin(fd, c, true);
	r = REAL(close)(fd) < 0 ? -errno : 0;
	shim_tls_close_end(fd, c);
	shim_call_end(&f);
	return r;
}

/* What OpenSSL may hold already read ahead from the kernel, besides what
 * the kernel still holds (shim_tls_shutdown). */
#define SHUT_STAGE_SLACK (64u << 10)

int shim_tls_shutdown(struct tls_conn *c, int how)
{
	int fd = tls_conn_fd(c);

	/* A signal handler that interrupted its own thread inside the engine
	 * on c: neither the engine's close_notify nor the real shutdown()
	 * may run under that call (the stream would be torn in the middle
	 * of a record); refused as every such call is (libtlsshim(7),
	 * ERRORS). */
	if (tls_conn_reentered(c))
		return reentered(c);
	if (how == SHUT_RD || how == SHUT_RDWR) {
		/* What has arrived stays readable after it, as in TCP's queue:
		 * taken in now, while the kernel's recv still says "would
		 * block" on an empty queue (0 once the socket is shut).  What
		 * has arrived, and no more: the kernel's queue now (SIOCINQ:
		 * its plain text is no longer than that) and what OpenSSL
		 * holds (read ahead: a few records).  Staging for as long as
		 * the kernel had more took in everything a peer kept sending
		 * (one shutdown(SHUT_RDWR) before a close: 6 s and 1.3 GB,
		 * for as long as the peer went on). */
		if (tls_conn_handshake_done(c)) {
			int inq = 0;
			socklen_t l = sizeof inq;

			/* (no SIOCINQ: the queue is no longer than its buffer) */
			if (fd >= 0 && REAL(ioctl)(fd, SIOCINQ, &inq) < 0 &&
			    REAL(getsockopt)(fd, SOL_SOCKET, SO_RCVBUF, &inq, &l) < 0)
				inq = 0;
			if (inq < 0)
				inq = 0;
			(void)tls_conn_stage_more(c, (size_t)inq + SHUT_STAGE_SLACK);
		}
		tls_conn_shut_read(c);
	}
	if ((how == SHUT_WR || how == SHUT_RDWR) && tls_conn_handshake_done(c))
		send_close_notify(c, fd >= 0);   /* the FIN: the shutdown below */
	if (fd < 0)
		return -EBADF;
	return REAL(shutdown)(fd, how) < 0 ? -errno : 0;
}

/* FIONREAD: the plaintext a read would return now, across records,
 * without waiting, up to about 1 MiB (tls_conn_readable): never 0 while
 * something can be read (an edge-triggered program that reads until
 * FIONREAD says 0 is never left behind), also what is staged ahead of a
 * failure. */
int shim_tls_readable(struct tls_conn *c)
{
	size_t n;

	if (!tls_conn_handshake_done(c) && !tls_conn_failed(c))
		return 0;
	n = tls_conn_readable(c);
	return n > 0x7fffffff ? 0x7fffffff : (int)n;
}
