/* shim/msg.c — recvmsg()/sendmsg() and their many-message forms.
 *
 * On TLS fds the iovecs carry plaintext; ancillary data cannot travel
 * inside TLS and is refused.  On any fd, descriptors passed with
 * SCM_RIGHTS are watched both ways:
 *  - sending: a TLS session that has started is handed to a pump first
 *    (two processes must never encrypt with one session), so the receiver
 *    gets the pump's plaintext end; one that has not started is passed as
 *    it is when the receiving process runs this library (it adopts the
 *    socket), else it is pumped too.  Either way this process lets go of it.
 *  - receiving: every descriptor that arrives is classified at once
 *    (classify.c), before the program can touch it.
 */
#include <errno.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/self.h"
#include "policy/file.h"
#include "shim/shim.h"

/* Set once this process turned TCP_INQ on for any socket (setsockopt):
 * until then a recvmsg without a control buffer does not ask the socket
 * (one getsockopt per read) whether it must say MSG_CTRUNC. */
bool shim_inq_set;

/* TCP_INQ on: is the socket's option set? */
static bool inq_wanted(int fd)
{
	int on = 0;
	socklen_t l = sizeof on;

	return REAL(getsockopt)(fd, IPPROTO_TCP, TCP_INQ, &on, &l) == 0 && on;
}

/* One control message into the program's buffer as the kernel's
 * put_cmsg() writes it: no buffer, or one shorter than a header, gets
 * nothing and MSG_CTRUNC; one shorter than the message gets the header
 * and what fits (cmsg_len is then the room) and MSG_CTRUNC;
 * msg_controllen is what was used (up to CMSG_SPACE).  memcpy: the
 * program's buffer need not be aligned. */
static void put_cmsg(struct msghdr *m, size_t room, int level, int type, const void *data, size_t len)
{
	size_t cm = CMSG_LEN(len);
	struct cmsghdr h;

	if (!m->msg_control || room < sizeof h) {
		m->msg_flags |= MSG_CTRUNC;
		return;
	}
	if (room < cm) {
		m->msg_flags |= MSG_CTRUNC;
		cm = room;
	}
	memset(&h, 0, sizeof h);
	h.cmsg_level = level;
	h.cmsg_type = type;
	h.cmsg_len = cm;
	memcpy(m->msg_control, &h, sizeof h);
	memcpy((char *)m->msg_control + CMSG_LEN(0), data, cm - CMSG_LEN(0));
	m->msg_controllen = room < CMSG_SPACE(len) ? room : CMSG_SPACE(len);
}

/* The TCP_CM_INQ message TCP gives after each read with TCP_INQ on: the
 * plain text left to read (the kernel's count would be ciphertext), 1 at
 * the end of the stream when nothing is left ("read on": TCP's hint). */
static void put_inq(struct tls_conn *c, struct msghdr *m, size_t room)
{
	int inq = shim_tls_readable(c);

	if (!inq && tls_conn_peer_ended(c))
		inq = 1;
	put_cmsg(m, room, IPPROTO_TCP, TCP_CM_INQ, &inq, sizeof inq);
}

/* recvmsg on a TLS fd: the plain text, and what TCP's recvmsg says
 * around it (libtlsshim(7)).  Of the control messages TCP gives, one:
 *  - TCP_CM_INQ (TCP_INQ on): the plain text left (put_inq);
 *  - receive time stamps (SO_TIMESTAMP, SO_TIMESTAMPNS, SO_TIMESTAMPING):
 *    none.  The kernel's are the times ciphertext segments arrived, and
 *    the engine reads ahead of the program (a record spread over many
 *    segments, records not yet decrypted): no time the kernel has is the
 *    plain text's.  TCP too gives none for data that has no time stamp.
 * TCP never gives SCM_RIGHTS or SCM_CREDENTIALS, nor IP_PKTINFO, IP_TOS
 * or IP_TTL (datagram sockets' messages).  As the kernel's recvmsg:
 * msg_controllen is what was written (0: nothing, never the program's
 * stale bytes), MSG_CTRUNC when the message did not fit (no buffer at
 * all included), msg_namelen 0 only when there is a msg_name (TCP reports
 * no address), msg_flags is MSG_CMSG_CLOEXEC if asked for, else 0, plus
 * MSG_CTRUNC.  The msghdr is left as it was when the read fails. */
static ssize_t tls_recvmsg(struct tls_conn *c, struct msghdr *m, int flags)
{
	size_t room;
	ssize_t r;

	if (!m)
		return -EFAULT;
	/* The error queue is the socket's, never the stream (shim_tls_recv). */
	if (__builtin_expect(flags & MSG_ERRQUEUE, 0))
		return shim_tls_errqueue(c, m, flags);
	if ((r = shim_iov_check(m->msg_iov, m->msg_iovlen, EMSGSIZE)) < 0)
		return r;
	room = m->msg_controllen;
	r = shim_tls_recv_iov(c, m->msg_iov, (int)m->msg_iovlen, flags);
	if (r >= 0) {
		if (m->msg_name)
			m->msg_namelen = 0;      /* TCP reports no source address */
		m->msg_controllen = 0;
		m->msg_flags = flags & MSG_CMSG_CLOEXEC;
		if ((room && m->msg_control) || __atomic_load_n(&shim_inq_set, __ATOMIC_RELAXED))
			if (inq_wanted(tls_conn_fd(c)))
				put_inq(c, m, room);
	}
	return r;
}

static ssize_t tls_sendmsg(struct tls_conn *c, const struct msghdr *m, int flags)
{
	int e;

	if (!m)
		return -EFAULT;
	if (m->msg_controllen) {
		log_warn("%s rule \"%s\": sendmsg with ancillary data cannot be sent over TLS",
			 tls_conn_peer(c), tls_conn_label(c));
		return -EOPNOTSUPP;
	}
	if ((e = shim_iov_check(m->msg_iov, m->msg_iovlen, EMSGSIZE)) < 0)
		return e;
	return shim_tls_send_iov(c, m->msg_iov, (int)m->msg_iovlen, flags);
}

/* ---- descriptors in flight ---------------------------------------------- */

/* Every descriptor a received message carried: forget what the table
 * knew of that number (it was free until now) and classify it. */
/* How many descriptors an SCM_RIGHTS header carries (0 for anything else),
 * and the i-th of them, read with memcpy: the program's control buffer
 * need not be aligned for int. */
static int cmsg_fds(const struct cmsghdr *h)
{
	if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS || h->cmsg_len < CMSG_LEN(0))
		return 0;
	return (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
}

static int cmsg_fd(const struct cmsghdr *h, int i)
{
	int fd;

	memcpy(&fd, (const char *)CMSG_DATA(h) + (size_t)i * sizeof fd, sizeof fd);
	return fd;
}

static void fds_arrived(const struct msghdr *m)
{
	if (!m->msg_control || m->msg_controllen < sizeof(struct cmsghdr))
		return;
	for (struct cmsghdr *h = CMSG_FIRSTHDR((struct msghdr *)m); h;
	     h = CMSG_NXTHDR((struct msghdr *)m, h)) {
		int n = cmsg_fds(h);

		for (int i = 0; i < n; i++)
			shim_fd_arrived(cmsg_fd(h, i));
	}
}

void shim_fd_arrived(int fd)
{
	if (fd < 0)
		return;
	shim_epoll_fds_closed(fd, fd);
	shim_fd_kind_forget(fd);
	conntab_set(fd, CT_UNSEEN);
	shim_ensure_init();
	shim_lowat_learn(fd);   /* a mark the sender set */
	if (shim_policy)
		(void)shim_classify(fd, false);
}

/* Both ends of unix socket fd have no name: a socketpair(), whose
 * SO_PEERCRED names the process that made the pair, not the one holding
 * the other end now.  (A connection to a listener has the listener's
 * name at one end.) */
static bool unnamed_pair(int fd)
{
	struct sockaddr_un a;
	socklen_t l = sizeof a;

	if (REAL(getsockname)(fd, (struct sockaddr *)&a, &l) < 0 || a.sun_family != AF_UNIX ||
	    l != sizeof(sa_family_t))
		return false;
	l = sizeof a;
	return REAL(getpeername)(fd, (struct sockaddr *)&a, &l) == 0 && a.sun_family == AF_UNIX &&
	       l == sizeof(sa_family_t);
}

/* Does the process at the other end of unix socket fd run this library?
 * SO_PEERCRED names the process that connected (or, for a socketpair(),
 * the one that made the pair, whatever forked or exec'd child of it
 * holds the other end now): only another process that maps our library,
 * and is the peer, is known to run it; anything else counts as "no".
 * For a listener or a refused connection, a socketpair counts as "no"
 * whoever made it (unnamed_pair, in the caller): made by another process
 * (this one's parent), its other end may be a sibling's that exec'd
 * without the library (helper-183: a TLS listener passed there served a
 * plain client in clear).  Not for a session: see libtlsshim(7), BUGS. */
static bool peer_runs_shim(int fd)
{
	struct ucred cr;
	socklen_t l = sizeof cr;
	Dl_info info;
	char path[64], line[512];
	FILE *f;
	bool found = false;
	int mfd;
	/* Not getpid(): a sandbox's filter may refuse it (-1), and then a
	 * socketpair's credentials (our own id) read as another process's,
	 * one that maps our library (helper-119).  0: cannot tell, "no". */
	pid_t me = self_pid_own();

	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0 || cr.pid <= 0 || !me ||
	    cr.pid == me)
		return false;
	if (!dladdr((void *)peer_runs_shim, &info) || !info.dli_fname)
		return false;
	snprintf(path, sizeof path, "/proc/%d/maps", (int)cr.pid);
	/* From the root at start (policy/file.h), and only from a real
	 * /proc: after a chroot the path may name a file whoever can write
	 * the new root made, "running" the library for any process. */
	if ((mfd = policy_open_proc(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	if (!(f = fdopen(mfd, "re"))) {
		policy_close_path(mfd);
		return false;
	}
	while (!found && fgets(line, sizeof line, f))
		found = strstr(line, info.dli_fname) != NULL;
	fclose(f);
	return found;
}

/* Before a message that carries descriptors leaves: TLS sessions go as
 * described at the top.  0, or -EOPNOTSUPP when one cannot be made safe. */
static int fds_leaving(int sock, const struct msghdr *m)
{
	int peer_shim = -1;

	if (!m || !m->msg_control || m->msg_controllen < sizeof(struct cmsghdr))
		return 0;
	for (struct cmsghdr *h = CMSG_FIRSTHDR((struct msghdr *)m); h;
	     h = CMSG_NXTHDR((struct msghdr *)m, h)) {
		int n = cmsg_fds(h);

		if (n)
			shim_sock_shared();     /* the receiver holds them too */
		for (int i = 0; i < n; i++) {
			int fd = cmsg_fd(h, i);
			const struct policy_rule *r;
			struct tls_conn *c;
			bool pump;

			/* A listener the policy makes TLS, to a process that does
			 * not run the library: what that process accepted would
			 * be plain on the TLS port. */
			if ((r = shim_tls_listener(fd))) {
				if (peer_shim < 0)
					peer_shim = peer_runs_shim(sock);
				if (!peer_shim || unnamed_pair(sock)) {
					log_warn("rule \"%s\": sendmsg refused: it would pass fd %d, a listening"
						 " socket (or one bound to the port) the rule makes TLS, to a"
						 " process that does not run this library", r->name, fd);
					return -EOPNOTSUPP;
				}
				continue;
			}
			/* A connection the library refused: that process would
			 * use it in clear (before, it did). */
			if (shim_refused_conn(fd)) {
				if (peer_shim < 0)
					peer_shim = peer_runs_shim(sock);
				if (!peer_shim || unnamed_pair(sock)) {
					log_warn("sendmsg refused: it would pass fd %d, a connection this library"
						 " refused, to a process that does not run this library", fd);
					return -EOPNOTSUPP;
				}
				continue;
			}
			/* A pumped end, to a process that may tell its pump of
			 * no end (pump.c, markers). */
			if (conntab_load(fd) == CT_PUMPED) {
				if (peer_shim < 0)
					peer_shim = peer_runs_shim(sock);
				if (!peer_shim)
					shim_pump_open(fd);
				continue;
			}
			if (shim_route(fd, &c) != ROUTE_TLS)
				continue;
			if (peer_shim < 0)
				peer_shim = peer_runs_shim(sock);
			pump = tls_conn_handshake_started(c) || !peer_shim;
			if (pump && tls_conn_owner(c) != 0) {
				/* (self_pid_own: a filter's -1 from getpid() made
				 * every session "not ours", passed on unpumped) */
				pid_t me = self_pid_own();

				if (!me) {
					log_error("%s rule \"%s\": sendmsg refused: it would pass fd %d, a TLS"
						  " session, and whether it is this process's cannot be told"
						  " (getpid() refused)", tls_conn_peer(c), tls_conn_label(c), fd);
					tls_conn_unref(c);
					return -EOPNOTSUPP;
				}
				if (tls_conn_owner(c) != me) {
					tls_conn_unref(c);
					continue;   /* not ours: whoever owns it keeps it */
				}
			}
			if (pump && shim_pump(c, false) < 0) {
				log_error("%s rule \"%s\": cannot hand the session on fd %d to a pump before"
					  " passing it with SCM_RIGHTS; sendmsg refused", tls_conn_peer(c),
					  tls_conn_label(c), fd);
				tls_conn_unref(c);
				return -EOPNOTSUPP;
			}
			if (pump && !peer_shim)
				shim_pump_open(fd);
			if (!pump) {
				/* The receiver adopts it; this process only closes it. */
				tls_conn_set_owner(c, -1);
				log_debug("%s rule \"%s\": fd %d passed with SCM_RIGHTS before its handshake;"
					  " the receiving process adopts it", tls_conn_peer(c),
					  tls_conn_label(c), fd);
			}
			tls_conn_unref(c);
		}
	}
	return 0;
}

/* ---- peers without connect() -------------------------------------------- */

#define SOL_SCTP_ 132
#define SCTP_DSTADDRV4_ 7
#define SCTP_DSTADDRV6_ 8

/* A message with a destination (msg_name): on an SCTP socket it sets up
 * an association, with every address an SCTP_DSTADDRV4/V6 control message
 * adds (sctp_sendv(3): the peer's other addresses, at msg_name's port)
 * as a path to that peer.  Each is checked (shim_peer_check).  0 or the
 * negative errno. */
static int msg_peers_check(int fd, const struct msghdr *m, const char *call)
{
	const struct sockaddr *to = m->msg_name;
	int e;

	if (!to || (e = shim_peer_check(fd, to, m->msg_namelen, call)) < 0 || !m->msg_control ||
	    m->msg_controllen < sizeof(struct cmsghdr))
		return to ? e : 0;
	for (struct cmsghdr *h = CMSG_FIRSTHDR((struct msghdr *)m); h; h = CMSG_NXTHDR((struct msghdr *)m, h)) {
		struct sockaddr_storage ss;
		struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
		socklen_t l;

		if (h->cmsg_level != SOL_SCTP_ || m->msg_namelen < sizeof(struct sockaddr_in) ||
		    (to->sa_family != AF_INET && to->sa_family != AF_INET6))
			continue;
		memset(&ss, 0, sizeof ss);
		if (h->cmsg_type == SCTP_DSTADDRV4_ && h->cmsg_len >= CMSG_LEN(sizeof a4->sin_addr)) {
			a4->sin_family = AF_INET;
			memcpy(&a4->sin_addr, CMSG_DATA(h), sizeof a4->sin_addr);
			a4->sin_port = ((const struct sockaddr_in *)(const void *)to)->sin_port;
			l = sizeof *a4;
		} else if (h->cmsg_type == SCTP_DSTADDRV6_ && h->cmsg_len >= CMSG_LEN(sizeof a6->sin6_addr)) {
			a6->sin6_family = AF_INET6;
			memcpy(&a6->sin6_addr, CMSG_DATA(h), sizeof a6->sin6_addr);
			a6->sin6_port = ((const struct sockaddr_in *)(const void *)to)->sin_port;
			l = sizeof *a6;
		} else {
			continue;
		}
		if ((e = shim_peer_check(fd, (struct sockaddr *)&ss, l, call)) < 0)
			return e;
	}
	return 0;
}

/* The first n bytes a message's buffers received, wiped. */
static void wipe_iov(const struct msghdr *m, size_t n)
{
	for (size_t i = 0; n && m->msg_iov && i < m->msg_iovlen; i++) {
		size_t k = m->msg_iov[i].iov_len < n ? m->msg_iov[i].iov_len : n;

		explicit_bzero(m->msg_iov[i].iov_base, k);
		n -= k;
	}
}

/* MSG_ERRQUEUE on a TLS fd reads the socket's error queue (time stamps,
 * zero-copy completions), never the stream, as on TCP.  But a transmit
 * time stamp asked for without SOF_TIMESTAMPING_OPT_TSONLY comes with a
 * copy of the packet it stamps: its headers and the library's records,
 * ciphertext the program must not be handed.  Its bytes are wiped and
 * none counted, as the kernel answers with OPT_TSONLY; the control
 * messages (the time stamp, its sock_extended_err) are the kernel's. */
ssize_t shim_tls_errqueue(struct tls_conn *c, struct msghdr *m, int flags)
{
	int fd = tls_conn_fd(c);
	ssize_t r;

	if (fd < 0)
		return -EBADF;
	if ((r = REAL(recvmsg)(fd, m, flags)) < 0)
		return -errno;
	if (r > 0) {
		wipe_iov(m, (size_t)r);
		m->msg_flags &= ~MSG_TRUNC;
	}
	return 0;
}

/* A message received on a descriptor that is not TLS: the source the
 * kernel names (TCP names none; an SCTP one-to-many socket names the
 * association's peer) is checked as a destination (shim_peer_check).
 * Refused: its bytes wiped from the buffers, the negative errno. */
static int msg_source_check(int fd, const struct msghdr *m, socklen_t room, ssize_t r, int flags)
{
	int e;

	if (!room || (flags & MSG_ERRQUEUE) ||
	    (e = shim_peer_check(fd, m->msg_name, m->msg_namelen < room ? m->msg_namelen : room,
				 "recvmsg")) == 0)
		return 0;
	wipe_iov(m, (size_t)r);
	return e;
}

static ssize_t plain_recvmsg(int fd, struct msghdr *m, int flags)
{
	socklen_t room = m && m->msg_name ? m->msg_namelen : 0;
	ssize_t r = REAL(recvmsg)(fd, m, flags);
	int e;

	if (r >= 0 && (e = msg_source_check(fd, m, room, r, flags)) < 0) {
		errno = -e;
		return -1;
	}
	if (r >= 0 && m->msg_controllen)
		fds_arrived(m);
	return r;
}

SHIM_EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
	SHIM_OOB_PUMPED(fd, flags);
	SHIM_DISPATCH(fd, plain_recvmsg(fd, m, flags), tls_recvmsg(c, m, flags));
}

SHIM_EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	int e;

	SHIM_OOB_PUMPED(fd, flags);
	if (__builtin_expect(flags & MSG_FASTOPEN, 0) && m &&
	    shim_fastopen_refused(fd, m->msg_name, m->msg_namelen))
		SHIM_RET(-EOPNOTSUPP);
	if (__builtin_expect(flags & MSG_FASTOPEN, 0) && m && m->msg_name)
		shim_fastopen_afresh(fd);
	if (m && (e = msg_peers_check(fd, m, "sendmsg")) < 0)
		SHIM_RET(e);
	if (m && m->msg_controllen && (e = fds_leaving(fd, m)) < 0)
		SHIM_RET(e);
	/* (a pumped number: its end connects nowhere else) */
	if (__builtin_expect(flags & MSG_FASTOPEN, 0) && m) {
		ssize_t r = shim_pumped_fastopen(fd, m, flags, "sendmsg(MSG_FASTOPEN)");

		if (r != SHIM_NOT_PUMPED)
			SHIM_RET(r);
	}
	SHIM_DISPATCH(fd, REAL(sendmsg)(fd, m, flags), tls_sendmsg(c, m, flags));
}

/* The bytes one message carries. */
static size_t msg_bytes(const struct msghdr *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->msg_iovlen; i++)
		n += m->msg_iov[i].iov_len;
	return n;
}

/* Many messages: one after another through the single-message paths,
 * as the kernel's __sys_sendmmsg: at most UIO_MAXIOV (1024) of them, and
 * a message sent in part ends the call (the next one's bytes would come
 * before the rest of it, which the program sends again). */
static int tls_sendmmsg(struct tls_conn *c, struct mmsghdr *v, unsigned int n, int flags)
{
	unsigned int i;

	if (n > IOV_MAX)
		n = IOV_MAX;
	for (i = 0; i < n; i++) {
		ssize_t r = tls_sendmsg(c, &v[i].msg_hdr, flags);
		if (r < 0) {
			if (i == 0)
				return (int)r;
			break;
		}
		v[i].msg_len = (unsigned int)r;
		if ((size_t)r < msg_bytes(&v[i].msg_hdr)) {
			i++;
			break;
		}
	}
	return (int)i;
}

SHIM_EXPORT int sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags);

/* glibc's second name (GLIBC_PRIVATE: reached with dlsym on its handle). */
SHIM_EXPORT int __sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags)
{
	return sendmmsg(fd, v, n, flags);
}

SHIM_EXPORT int sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags)
{
	/* The kernel sends at most UIO_MAXIOV (1024) messages a call and reads
	 * no further: a program may pass a larger count with a shorter vector. */
	SHIM_OOB_PUMPED(fd, flags);
	if (n > IOV_MAX)
		n = IOV_MAX;
	for (unsigned int i = 0; i < n; i++) {
		int e;
		if (__builtin_expect(flags & MSG_FASTOPEN, 0) &&
		    shim_fastopen_refused(fd, v[i].msg_hdr.msg_name, v[i].msg_hdr.msg_namelen))
			SHIM_RET(-EOPNOTSUPP);
		if ((e = msg_peers_check(fd, &v[i].msg_hdr, "sendmmsg")) < 0)
			SHIM_RET(e);
		if (v[i].msg_hdr.msg_controllen && (e = fds_leaving(fd, &v[i].msg_hdr)) < 0)
			SHIM_RET(e);
	}
	if (__builtin_expect(flags & MSG_FASTOPEN, 0) && n > 0 && v[0].msg_hdr.msg_name)
		shim_fastopen_afresh(fd);
	/* A pumped number: the first message alone, as sendmsg() (its end
	 * connects nowhere else; the kernel would refuse the first message
	 * of a connected or connecting end all the same). */
	if (__builtin_expect(flags & MSG_FASTOPEN, 0) && n > 0) {
		ssize_t r = shim_pumped_fastopen(fd, &v[0].msg_hdr, flags,
						 "sendmmsg(MSG_FASTOPEN)");

		if (r != SHIM_NOT_PUMPED) {
			if (r < 0)
				SHIM_RET(r);
			v[0].msg_len = (unsigned int)r;
			return 1;
		}
	}
	SHIM_DISPATCH(fd, REAL(sendmmsg)(fd, v, n, flags), tls_sendmmsg(c, v, n, flags));
}

static int tls_recvmmsg(struct tls_conn *c, struct mmsghdr *v, unsigned int n, int flags)
{
	unsigned int i;

	if (n > IOV_MAX)
		n = IOV_MAX;            /* the kernel's UIO_MAXIOV, as for sendmmsg */

	for (i = 0; i < n; i++) {
		int f = flags & ~MSG_WAITFORONE;
		ssize_t r;

		if (i > 0 && (flags & MSG_WAITFORONE))
			f |= MSG_DONTWAIT;
		r = tls_recvmsg(c, &v[i].msg_hdr, f);
		if (r < 0) {
			if (i == 0)
				return (int)r;
			break;
		}
		/* At the end of the stream the kernel goes on: every message
		 * left is an empty one, and the count is n (a program that
		 * takes 0 messages for "nothing yet" would spin on ours). */
		v[i].msg_len = (unsigned int)r;
	}
	return (int)i;
}

/* As plain_recvmsg, for each message: one refused refuses the call, every
 * message's bytes wiped (the kernel took them all). */
static int plain_recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags, struct timespec *t)
{
	socklen_t room[IOV_MAX];   /* the kernel reads at most UIO_MAXIOV (1024) */
	unsigned int k = n < IOV_MAX ? n : IOV_MAX;
	int r, e = 0;

	for (unsigned int i = 0; v && i < k; i++)
		room[i] = v[i].msg_hdr.msg_name ? v[i].msg_hdr.msg_namelen : 0;
	r = REAL(recvmmsg)(fd, v, n, flags, t);
	for (int i = 0; i < r && !e; i++)
		e = msg_source_check(fd, &v[i].msg_hdr, room[i], v[i].msg_len, flags);
	if (e) {
		for (int i = 0; i < r; i++)
			wipe_iov(&v[i].msg_hdr, v[i].msg_len);
		errno = -e;
		return -1;
	}
	for (int i = 0; i < r; i++)
		if (v[i].msg_hdr.msg_controllen)
			fds_arrived(&v[i].msg_hdr);
	return r;
}

SHIM_EXPORT int recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags, struct timespec *t)
{
	SHIM_OOB_PUMPED(fd, flags);
	/* On a TLS fd an invalid time-out is the kernel's EINVAL, before any
	 * message; on another fd the kernel reads it (the library must not:
	 * an unreadable one is EFAULT, not a fault in here). */
	SHIM_DISPATCH(fd, plain_recvmmsg(fd, v, n, flags, t),
		      t && clock_ts_timeout_ns(t) == CLOCK_NS_INVALID ? -EINVAL : tls_recvmmsg(c, v, n, flags));
}
