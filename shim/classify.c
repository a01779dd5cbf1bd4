/* shim/classify.c — which rule applies to a socket, and what the shim
 * does with an fd it has not seen.
 *
 * One resolver answers "which rule, which role, which name to verify"
 * for every way a TCP socket reaches the shim: accept() (by local
 * address), connect() (by the address the kernel will really connect
 * to), and an fd of unknown origin (inherited across exec, received with
 * SCM_RIGHTS or pidfd_getfd(), made by a path no wrapper sees).
 *
 * "Unknown" never means "plain".  An fd the table holds as UNSEEN is
 * classified on its first call: not a TCP socket, listening, or not
 * connected: PLAIN (accept() and connect() decide later).  A connect()
 * still in progress (TCP_SYN_SENT: getpeername says ENOTCONN, yet the
 * connection completes with no further call) is matched by the
 * destination the kernel's table gives, as a connected socket is; one
 * whose destination cannot be learned is refused while connect rules
 * exist.  A connected
 * TCP socket a tls rule names is adopted if nobody has used it yet (no
 * byte sent, none read: TCP_INFO and the queues say so) and REFUSED if
 * it already carried bytes outside the shim — those bytes were plaintext
 * on a connection the policy says is TLS, so the connection cannot be
 * trusted now.  A deny rule refuses it too.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/lock.h"
#include "core/log.h"
#include "core/self.h"
#include "policy/identity.h"
#include "policy/reload.h"
#include "policy/resume.h"
#include "shim/shim.h"

/* ---- the engine's view of a rule ---------------------------------------- */

/* Certificate reload (policy/reload.h): called on the accept() and
 * connect() paths, with no lock of ours held, before the connection's
 * SSL object is made; a check runs at most once a second. */
static void reload_log(int level, const char *rule, const char *msg)
{
	if (level <= 1)
		log_warn("rule \"%s\": %s", rule, msg);
	else if (level == 2)
		log_info("rule \"%s\": %s", rule, msg);
	else
		log_debug("rule \"%s\": %s", rule, msg);
}

void shim_reload_check(void)
{
	if (shim_policy && shim_policy->reload)
		policy_reload_check(shim_policy, reload_log);
}

/* tls_opts.fresh_ctx: the rule's context now, if a reload replaced the
 * one the connection was made with (policy_reload_fresh). */
static SSL_CTX *fresh_ctx(const void *arg, SSL_CTX *have, bool *refuse)
{
	return policy_reload_fresh(shim_policy, arg, have, reload_log, refuse);
}

struct tls_conn *shim_conn_new(int fd, const struct shim_verdict *v)
{
	const struct policy_rule *r = v->rule;
	/* The rule's current context, with a reference of ours: a reload
	 * may swap it meanwhile; SSL_new takes its own. */
	SSL_CTX *ctx = policy_reload_ctx(shim_policy, r);
	struct tls_conn *c;
	struct tls_opts o = {
		.ctx = ctx,
		.label = r->name,
		.verify_name = r->verify == POLICY_VERIFY_FULL,
		.allow_truncation = r->allow_truncation,
		.ktls = r->ktls,
		.handshake_timeout_ms = r->handshake_timeout_ms,
		.close_timeout_ms = r->close_timeout_ms,
		.key_update_records = r->key_update_records,
		.check_peer = r->identity ? policy_identity_check : NULL,
		.check_arg = r->identity,
		.fresh_ctx = shim_policy->reload ? fresh_ctx : NULL,
		.fresh_arg = r,
		.offer_session = r->direction == POLICY_CONNECT && !r->session_cache_off ? resume_offer : NULL,
		.preamble = r->proxy_v2 && v->role == TLS_ROLE_SERVER ? shim_proxy_v2 : NULL,
	};

	if (!ctx)
		return NULL;
	shim_linger_prepare();
	c = tls_conn_new(fd, &o, v->role, v->role == TLS_ROLE_CLIENT ? v->name : NULL, v->desc);
	SSL_CTX_free(ctx);
	/* The kernel's SO_RCVLOWAT counts ciphertext: a low-water mark set
	 * before the session (on the socket before connect(), inherited from
	 * a listener) would keep the library's waits asleep while the tail of
	 * a record sits below it (setsockopt() in sock.c keeps later ones
	 * from the kernel).  Back to the kernel's default, 1; only once the
	 * program has set one (a system call, 4 us here, per session). */
	if (c && __atomic_load_n(&shim_lowat_set, __ATOMIC_RELAXED)) {
		static const int one = 1;

		(void)REAL(setsockopt)(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
	}
	return c;
}

/* ---- the resolver, with the addresses from the kernel ------------------- */

/* The rules first, then the protocol: a socket no accept rule names is
 * plain whatever its protocol, so the pass-through accept pays one system
 * call (getsockname), and a named one two.  *err: 0, or the errno of a
 * question the kernel did not answer (then false): the socket's rule is
 * not known, and the caller refuses it rather than leave it plain. */
bool shim_resolve_accepted(int fd, const struct sockaddr *peer, socklen_t pl, struct shim_verdict *v, int *err)
{
	struct sockaddr_storage local, asked;
	socklen_t ll = sizeof local, al = sizeof asked;
	int proto = 0, kind;
	socklen_t l = sizeof proto;

	shim_verdict_clear(v);
	*err = 0;
	if (!shim_policy || !shim_policy->has[POLICY_ACCEPT])
		return false;
	if (REAL(getsockname)(fd, (struct sockaddr *)&local, &ll) < 0) {
		*err = errno;
		return false;
	}
	if (!shim_verdict_accepted(shim_policy, (struct sockaddr *)&local, ll, peer, pl, fd, v))
		return false;
	/* accept() hands out connection-oriented sockets only (TCP, MPTCP,
	 * SMC, SCTP, DCCP: never a raw one): the protocol tells TCP (TCP,
	 * MPTCP and SMC sockets are always SOCK_STREAM); another one on an
	 * internet socket (SCTP) is foreign: *err SHIM_ERR_FOREIGN, v kept,
	 * unless the rule says plain. */
	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l) < 0) {
		*err = errno;
		shim_verdict_clear(v);
		return false;
	}
	kind = shim_stream_kind(fd, proto);
	if (kind != SHIM_SOCK_TCP && (kind != SHIM_SOCK_FOREIGN || v->rule->action == POLICY_PLAIN)) {
		*err = kind < 0 ? -kind : 0;
		shim_verdict_clear(v);
		return false;
	}
	/* No address from accept (the program gave no buffer): the log's. */
	if (!pl && REAL(getpeername)(fd, (struct sockaddr *)&asked, &al) == 0)
		shim_format_addr((struct sockaddr *)&asked, v->desc, sizeof v->desc);
	if (kind == SHIM_SOCK_FOREIGN) {
		*err = SHIM_ERR_FOREIGN;
		return false;
	}
	return true;
}

bool shim_resolve_connect(int fd, const struct sockaddr *dst, socklen_t len, struct shim_verdict *v, int *err)
{
	if (err)
		*err = 0;
	/* The rules first (no system call): a destination no rule names, or
	 * not an internet address, needs no question to the kernel. */
	if (!shim_verdict_connect(shim_policy, dst, len, shim_default_name, v))
		return false;
	return shim_resolve_kind(fd < 0 ? SHIM_SOCK_TCP : shim_sock_tcp(fd), v, err);
}

bool shim_resolve_kind(int tcp, struct shim_verdict *v, int *err)
{
	if (tcp == SHIM_SOCK_TCP)
		return true;
	/* Not told (getsockopt refused by a seccomp filter, say): a TCP
	 * socket for all we know.  Plain by policy, it may go; otherwise
	 * the caller refuses it (err), or takes it for TCP (no err).  A
	 * foreign stream (SCTP: shim_stream_kind) is the same, but said so
	 * (*err SHIM_ERR_FOREIGN, v kept for the caller's log line). */
	if (tcp < 0 && (!err || v->rule->action == POLICY_PLAIN))
		return true;
	if (tcp == SHIM_SOCK_FOREIGN && v->rule->action != POLICY_PLAIN) {
		if (!err)
			return true;
		*err = SHIM_ERR_FOREIGN;
		return false;
	}
	if (tcp < 0)
		*err = -tcp;
	shim_verdict_clear(v);
	return false;
}

/* ---- fds of unknown origin -------------------------------------------- */

/* The head of the kernel's struct mptcp_info (SOL_MPTCP, MPTCP_INFO): the
 * byte counters came with Linux 6.5; the C library's headers may be older. */
struct mptcp_counters {
	uint8_t subflows, add_addr_signal, add_addr_accepted, subflows_max;
	uint8_t add_addr_signal_max, add_addr_accepted_max;
	uint32_t flags, token;
	uint64_t write_seq, snd_una, rcv_nxt;
	uint8_t local_addr_used, local_addr_max, csum_enabled;
	uint32_t retransmits;
	uint64_t bytes_retrans, bytes_sent, bytes_received, bytes_acked;
};
#define SOL_MPTCP_ 284
#define MPTCP_INFO_ 1

/* An MPTCP connection's own counters, over every subflow it ever had.
 * TCP_INFO on an MPTCP socket describes its first subflow only: bytes
 * that went over another subflow are not in it, nor any once the first
 * subflow was reset while the connection went on over another (TCP_CLOSE,
 * zero counters).  1 with *sent and *received set; 0 for a TCP socket;
 * 2 for an MPTCP one that fell back to TCP (one subflow, which TCP_INFO
 * describes: the kernel hands SOL_MPTCP to that subflow's IP layer, which
 * answers EOPNOTSUPP on IPv4 and ENOPROTOOPT on IPv6); -1 when it cannot
 * be told (a kernel before 6.5). */
static int mptcp_used(int fd, unsigned long long *sent, unsigned long long *received)
{
	struct mptcp_counters m;
	int proto = 0;
	socklen_t l = sizeof proto;

	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l) < 0 || proto != 262 /* IPPROTO_MPTCP */)
		return 0;
	memset(&m, 0, sizeof m);
	l = sizeof m;
	if (REAL(getsockopt)(fd, SOL_MPTCP_, MPTCP_INFO_, &m, &l) < 0)
		return errno == EOPNOTSUPP || errno == ENOPROTOOPT ? 2 : -1;
	if (l < offsetof(struct mptcp_counters, bytes_acked))
		return -1;
	*sent = m.bytes_sent;
	*received = m.bytes_received;
	return 1;
}

/* The bytes written so far on the TCP socket fd, by every process that
 * holds it: what its peer acknowledged (TCP_INFO's bytes_acked) plus what
 * is still queued (SIOCOUTQ).  Two calls: read again until no
 * acknowledgement moved bytes from one to the other in between (a few
 * tries; false if the kernel cannot say).  Both count the FIN's sequence
 * number once it is queued (shutdown for writing, by any holder): it is
 * no byte, and a close after a shutdown told the pump one more byte than
 * it read (a graceful end read as cut short).  The states from then on
 * take it off; TCP_CLOSE too (both FINs, or a reset: the pump's, sent
 * once it had decided). */
enum { ST_FIN_WAIT1 = 4, ST_FIN_WAIT2, ST_TIME_WAIT, ST_CLOSE, ST_CLOSE_WAIT, ST_LAST_ACK,
       ST_CLOSING = 11 };  /* the kernel's TCP states */
#define FIN_QUEUED ((1u << ST_FIN_WAIT1) | (1u << ST_FIN_WAIT2) | (1u << ST_CLOSING) | \
		    (1u << ST_TIME_WAIT) | (1u << ST_LAST_ACK) | (1u << ST_CLOSE))

bool shim_tcp_written(int fd, uint64_t *n)
{
	for (int i = 0; i < 16; i++) {
		struct tcp_info t1, t2;
		socklen_t l1 = sizeof t1, l2 = sizeof t2;
		const socklen_t need = offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof t1.tcpi_bytes_acked;
		int q;

		if (REAL(getsockopt)(fd, IPPROTO_TCP, TCP_INFO, &t1, &l1) < 0 || l1 < need ||
		    REAL(ioctl)(fd, SIOCOUTQ, &q) < 0 || q < 0 ||
		    REAL(getsockopt)(fd, IPPROTO_TCP, TCP_INFO, &t2, &l2) < 0 || l2 < need)
			return false;
		if (t1.tcpi_bytes_acked == t2.tcpi_bytes_acked && t1.tcpi_state == t2.tcpi_state) {
			*n = t1.tcpi_bytes_acked + (uint64_t)q;
			if (t1.tcpi_state < 32 && ((1u << t1.tcpi_state) & FIN_QUEUED) && *n > 0)
				(*n)--;
			return true;
		}
	}
	return false;
}

/* Has anything moved bytes on this socket outside the shim?  Sent data
 * (TCP_INFO's bytes_sent, or bytes still queued to send), or received
 * data that was read (bytes_received beyond what still waits unread).
 * An MPTCP socket: the connection's counters (mptcp_used); one that fell
 * back to TCP: TCP_INFO, with the socket's own queue and end of input. */
static bool socket_used(int fd, unsigned long long *sent, unsigned long long *consumed)
{
	struct tcp_info ti;
	socklen_t l = sizeof ti;
	int inq = 0, outq = 0, mp;
	unsigned long long msent = 0, mreceived = 0;

	memset(&ti, 0, sizeof ti);
	if (REAL(getsockopt)(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0 ||
	    l < offsetof(struct tcp_info, tcpi_bytes_retrans))
		return true;     /* cannot tell: assume the worst */
	(void)REAL(ioctl)(fd, SIOCINQ, &inq);
	(void)REAL(ioctl)(fd, SIOCOUTQ, &outq);
	if ((mp = mptcp_used(fd, &msent, &mreceived)) < 0)
		return true;     /* cannot tell: assume the worst */
	if (mp > 0) {
		/* An MPTCP socket's SIOCINQ (fallen back to TCP or not) counts
		 * the peer's DATA_FIN (or FIN) as a byte (1 with nothing
		 * queued), which the counters do not hold: at the end of its
		 * input (POLLRDHUP) one less waits unread.  A socket shut for
		 * reading here (also POLLRDHUP) is counted one byte used:
		 * refused, the cautious way. */
		struct pollfd p = { .fd = fd, .events = POLLRDHUP };

		if (inq > 0 && REAL(poll)(&p, 1, 0) == 1 && (p.revents & POLLRDHUP))
			inq--;
	}
	if (mp == 2) {
		/* Fallen back: its SIOCOUTQ is one byte too many until the
		 * first data is acked (an unused connection read as used).
		 * Queued and not yet sent: what the MPTCP socket has not
		 * handed to its subflow (SIOCOUTQNSD) and what the subflow has
		 * not sent (tcpi_notsent_bytes); the rest is in bytes_sent. */
		int nsd = 0;

		if (REAL(ioctl)(fd, SIOCOUTQNSD, &nsd) < 0)
			return true;     /* cannot tell: assume the worst */
		outq = nsd + (int)ti.tcpi_notsent_bytes;
	} else if (mp > 0) {
		*sent = msent + (unsigned)outq;
		*consumed = mreceived > (unsigned)inq ? mreceived - (unsigned)inq : 0;
		return *sent > 0 || *consumed > 0;
	}
	*sent = ti.tcpi_bytes_sent + (unsigned)outq;
	/* The kernel counts the peer's FIN in bytes_received (it advances
	 * rcv_nxt by one) but never queues it: a client that sent and shut
	 * its side before the service started has read nothing. */
	if (ti.tcpi_bytes_received > 0 &&
	    (ti.tcpi_state == ST_CLOSE_WAIT || ti.tcpi_state == ST_LAST_ACK ||
	     ti.tcpi_state == ST_CLOSING || ti.tcpi_state == ST_TIME_WAIT))
		ti.tcpi_bytes_received--;
	*consumed = ti.tcpi_bytes_received > (unsigned)inq ? ti.tcpi_bytes_received - (unsigned)inq : 0;
	return *sent > 0 || *consumed > 0;
}

/* The TLS connection already made for this socket under another fd
 * number (dup'ed behind our back, received twice, inherited twice). */
struct same_socket {
	dev_t dev;
	ino_t ino;
	struct tls_conn *found;
};

static void find_same(int fd, struct tls_conn *c, void *arg)
{
	struct same_socket *s = arg;
	struct stat st;

	(void)fd;
	if (!s->found && !tls_conn_failed(c) && fstat(tls_conn_fd(c), &st) == 0 &&
	    st.st_dev == s->dev && st.st_ino == s->ino) {
		tls_conn_ref(c);
		s->found = c;
	}
}

static struct xlock classify_lock = XLOCK_INIT;

/* Put a dead socket (end of file, EPIPE) on fd, with fd's flags: false
 * when none could be made. */
static bool bury(int fd)
{
	int sv[2], fl = REAL(fcntl)(fd, F_GETFD);
	bool done;

	if (REAL(socketpair)(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return false;
	(void)REAL(shutdown)(sv[0], SHUT_RDWR);
	done = REAL(dup2)(sv[0], fd) >= 0;
	if (done && fl >= 0)
		(void)REAL(fcntl)(fd, F_SETFD, fl);
	REAL(close)(sv[0]);
	REAL(close)(sv[1]);
	return done;
}

/* A refused socket on 0, 1 or 2: the wrappers answer ECONNRESET, but the
 * C library's stdio reads and writes there with internal calls that no
 * wrapper sees, and would move plain text over the TLS port.  The number
 * is given a dead socket instead (bury), with its fd flags; the TCP
 * socket itself is left as it is to whatever other process holds it (one
 * whose session this is).  When no dead socket can be made, the TCP
 * socket is shut both ways. */
static void refuse_socket(int fd)
{
	if (fd >= 0 && fd <= 2 && !bury(fd))
		(void)REAL(shutdown)(fd, SHUT_RDWR);
}

/* bury(fd), or close it when no dead socket can be made: what was done,
 * for the caller's log line. */
static const char *bury_or_close(int fd)
{
	return bury(fd) ? "replaced by a closed socket" : REAL(close)(fd) == 0 ? "closed" : "not closed";
}

/* An io_uring instance this process did not make (the library refuses to
 * make one while the policy has TLS rules): inherited through an exec
 * from a parent, or an image before this one, that cleared its
 * FD_CLOEXEC; or taken from another process with a raw pidfd_getfd()
 * and first met here.  Its IORING_OP_SEND on a TLS socket, entered with
 * a raw system call as liburing does, wrote the program's plain text on
 * the connection (tests/preload/bypass.sh, "exec", "rawgetfd").  While the
 * policy has TLS rules the number is given a dead socket (bury; closed
 * when none can be made): the ring cannot be mapped or entered through
 * it, and the number stays taken.  st: fd's fstat(), or NULL when it
 * was refused.  True when fd was a ring. */
static bool bury_ring(int fd, const struct stat *st, bool at_start)
{
	const char *done;

	if (!shim_policy || !policy_has_tls(shim_policy) || !shim_is_uring_st(fd, st))
		return false;
	done = bury_or_close(fd);
	log_warn("fd %d (%s, not made through this library) is an io_uring instance, which would"
		 " move bytes past the library while the policy has TLS rules; %s", fd,
		 at_start ? "inherited" : "unseen", done);
	return true;
}

/* A raw or packet socket that sends TCP segments of its own (shim/sock.c,
 * shim_raw_fd_refused), not made through this library: inherited through
 * an exec, received with SCM_RIGHTS, taken with pidfd_getfd, or made by a
 * raw system call.  Its crafted segments to a TLS rule's port left in
 * clear (tests/preload/rawsock.sh, "inherit", "scm").  While such sockets
 * are refused the number is given a dead socket (bury; closed when none
 * can be made), as an io_uring instance's. */
static void bury_raw(int fd, int type, bool at_start)
{
	char kind[80];
	const char *done;

	if (!shim_raw_fd_refused(fd, type, kind, sizeof kind))
		return;
	done = bury_or_close(fd);
	log_warn("fd %d is %s (%s, not made through this library), whose packets would carry the"
		 " program's bytes past the library while the policy has TLS rules; %s (raw_sockets ="
		 " \"allow\" in the policy permits it)", fd, kind, at_start ? "inherited" : "received or unseen",
		 done);
}

/* A BPF program that writes packets (XDP, tc, lwt: shim_packet_prog)
 * this process did not load: inherited, received, taken with
 * pidfd_getfd.  rtnetlink (IFLA_XDP, a tc filter) attaches it with no
 * bpf() call the library could refuse (tests/preload/rawsock.sh,
 * "xdp-inherit"): its number gets a dead socket, as a ring's. */
static void bury_prog(int fd, bool at_start)
{
	const char *done;

	if (!shim_packet_prog(fd))
		return;
	done = bury_or_close(fd);
	log_warn("fd %d (%s, not made through this library) is an XDP, tc or lwt BPF program, which"
		 " could put the program's bytes in the packets the kernel sends while the policy has TLS"
		 " rules; %s (raw_sockets = \"allow\" in the policy permits it)", fd,
		 at_start ? "inherited" : "received or unseen", done);
}

/* Record a word for a number that was UNSEEN; false when another thread
 * recorded one first (the caller looks again). */
static bool record(int fd, uintptr_t w)
{
	return conntab_cas(fd, CT_UNSEEN, w);
}

/* A question the kernel did not answer about fd (a seccomp filter refused
 * the system call, no memory): which rule applies is not known, so the
 * number is refused while the policy has a rule that is not plain (a
 * socket of any rule's could be this one); this call fails with
 * ECONNRESET.  Recorded only when fd is known to be a socket (a sandbox
 * refuses every later question too; one log line); otherwise the next
 * call asks again. */
static uintptr_t cannot_tell(int fd, const char *what, int err, bool sock)
{
	bool strict = false;

	for (size_t i = 0; shim_policy && i < shim_policy->nrules; i++)
		if (shim_policy->rules[i].action != POLICY_PLAIN)
			strict = true;
	if (!strict) {
		record(fd, CT_PLAIN);
		return CT_PLAIN;
	}
	log_error("fd %d (not made through this library): cannot tell which rule applies (%s: %s);"
		  " refused: %s", fd, what, strerror(err),
		  sock ? "every call on it fails with ECONNRESET" : "this call fails with ECONNRESET");
	if (sock && (size_t)fd < conntab_size)
		record(fd, CT_REFUSED);
	return CT_REFUSED;
}

/* A pump's channel (shim/pump.c): both its addresses in 127.254.0.0/16,
 * no socket listening on its local port (the pump's listener is closed
 * once the channel is made), and its other end this user's (or root's)
 * socket (shim_pump_channel).  One address in that range was enough
 * before: any local process may bind a source address there, and a
 * connection from it, inherited by an inetd-style service or passed with
 * SCM_RIGHTS, was PLAIN on a TLS port: the client's plaintext reached
 * the program and the reply went out in clear, require_client_cert and
 * all (helper-152, tests/preload/adopt_std.sh).  Cannot tell (no /proc):
 * not a channel; the rules decide. */
static bool pump_channel(const struct sockaddr_storage *local, const struct sockaddr_storage *peer,
			 bool connecting)
{
	return shim_is_pump_addr(local) && shim_is_pump_addr(peer) &&
	       shim_pump_channel(local, peer, connecting);
}

static uintptr_t classify_locked(int fd, bool at_start)
{
	struct sockaddr_storage local, peer;
	socklen_t ll = sizeof local, pl = sizeof peer;
	int listening = 0, tcp, type, staterr = 0;
	socklen_t l = sizeof listening;
	struct shim_verdict v;
	struct stat st;
	struct same_socket same;
	unsigned long long sent = 0, consumed = 0;
	struct tls_conn *c;
	bool beyond = (size_t)fd >= conntab_size, known = true, connecting = false;

	if (!beyond && conntab_load(fd) != CT_UNSEEN)
		return conntab_load(fd);
	if (fstat(fd, &st) < 0) {
		if (errno == EBADF)
			return CT_PLAIN;        /* not open: the C library says EBADF */
		if (bury_ring(fd, NULL, at_start)) {
			record(fd, CT_PLAIN);
			return CT_PLAIN;
		}
		/* Refused (a seccomp filter's EPERM or ENOSYS for newfstatat):
		 * a socket still answers getsockopt; without fstat its inode
		 * (another number's session on it, a connection in progress)
		 * is not known (known). */
		known = false;
		staterr = errno;
		memset(&st, 0, sizeof st);
		st.st_mode = S_IFSOCK;
	}
	if (!S_ISSOCK(st.st_mode)) {
		if (!(st.st_mode & S_IFMT) && !bury_ring(fd, &st, at_start))     /* an anonymous inode */
			bury_prog(fd, at_start);
		record(fd, CT_PLAIN);
		return CT_PLAIN;
	}
	if ((tcp = shim_sock_tcp_type(fd, &type)) < 0)
		return cannot_tell(fd, known ? "getsockopt" : "fstat and getsockopt", -tcp, known);
	if (!tcp) {
		bury_raw(fd, type, at_start);
		record(fd, CT_PLAIN);
		return CT_PLAIN;
	}
	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l) < 0)
		return cannot_tell(fd, "getsockopt", errno, true);
	if (listening) {
		/* An SCTP one-to-many listener (or a DCCP or SCTP stream one)
		 * on a port a tls or deny accept rule names: its associations
		 * reach the program with no accept() (shim_listen_check).  A
		 * TCP one is asked nothing more. */
		const struct policy_rule *r;

		if (tcp == SHIM_SOCK_FOREIGN && REAL(getsockname)(fd, (struct sockaddr *)&local, &ll) < 0)
			return cannot_tell(fd, "getsockname", errno, true);
		if (tcp == SHIM_SOCK_FOREIGN && (r = shim_listener_rule(fd, &local, ll, true))) {
			log_error("rule \"%s\": fd %d (not made through this library) is a listening socket"
				  " over protocol %d, " SHIM_FOREIGN_NOT_TCP ", where the policy says %s for its"
				  " port; refused: every call on it fails with ECONNRESET", r->name, fd,
				  shim_sock_protocol(fd), r->action == POLICY_DENY ? "deny" : "TLS");
			refuse_socket(fd);
			record(fd, CT_REFUSED);
			return CT_REFUSED;
		}
		record(fd, CT_PLAIN);
		return CT_PLAIN;
	}
	if (REAL(getsockname)(fd, (struct sockaddr *)&local, &ll) < 0)
		return cannot_tell(fd, "getsockname", errno, true);
	if (REAL(getpeername)(fd, (struct sockaddr *)&peer, &pl) < 0) {
		/* Not connected: connect() decides later.  But a connect() still
		 * in progress (made elsewhere, then passed on, or made before
		 * exec) has its destination already, and completes without any
		 * further call of the program's: ask the kernel's table for it.
		 * One that got connected between the two questions (ENOTCONN,
		 * then TCP_INFO no longer says SYN_SENT) is asked again: it is
		 * a connected socket now, classified as one. */
		if (errno == EBADF) {
			record(fd, CT_PLAIN);
			return CT_PLAIN;
		}
		if (errno != ENOTCONN)
			return cannot_tell(fd, "getpeername", errno, true);
		pl = sizeof peer;
		if (tcp == SHIM_SOCK_FOREIGN) {
			/* SCTP or DCCP: neither TCP_INFO nor the kernel's TCP
			 * tables know it, so an association still being set up
			 * (it completes with no further call of the program's,
			 * and takes data meanwhile), or a one-to-many socket's
			 * associations, and their peers, cannot be told: taken
			 * for "not connected", it went plain to a TLS port. */
			if (!shim_policy->has[POLICY_CONNECT]) {
				record(fd, CT_PLAIN);
				return CT_PLAIN;
			}
			log_error("fd %d (not made through this library): a socket over protocol %d, "
				  SHIM_FOREIGN_NOT_TCP ", without a peer that getpeername names: whether it is"
				  " being connected, and to where, cannot be told while connect rules exist;"
				  " refused: every call on it fails with ECONNRESET", fd, shim_sock_protocol(fd));
			refuse_socket(fd);
			record(fd, CT_REFUSED);
			return CT_REFUSED;
		}
		if (!shim_tcp_connecting(fd)) {
			if (REAL(getpeername)(fd, (struct sockaddr *)&peer, &pl) < 0) {
				if (errno != ENOTCONN && errno != EBADF)
					return cannot_tell(fd, "getpeername", errno, true);
				record(fd, CT_PLAIN);   /* not connected (TCP_CLOSE) */
				return CT_PLAIN;
			}
		} else if (!known || !(connecting = shim_connecting_peer((unsigned long)st.st_ino, &peer, &pl))) {
			if (!shim_policy->has[POLICY_CONNECT]) {
				record(fd, CT_PLAIN);
				return CT_PLAIN;
			}
			log_warn("fd %d: a connection still being made (not through this library) to a"
				 " destination that cannot be learned (not in /proc/self/net/tcp); refused:"
				 " every call on it fails with ECONNRESET", fd);
			record(fd, CT_REFUSED);
			return CT_REFUSED;
		}
	}
	/* A pump's end that came otherwise than by fork, or exec with
	 * TLSSHIM_PUMPED (SCM_RIGHTS from a process with the library, or an
	 * environment that lost the variable): a pumped number all the same,
	 * whose ends tell its pump (pump.c, markers).  Taken for plain, its
	 * closes told nothing, and a graceful end read as cut short
	 * (pgbouncer's online restart).  The session's addresses are not
	 * known here: the kernel's answer the channel's. */
	if (pump_channel(&local, &peer, connecting)) {
		struct conntab_pumped *pi = conntab_pumped(fd);

		if (pi) {
			memset(pi, 0, sizeof *pi);
			record(fd, CT_PUMPED);
			return CT_PUMPED;
		}
	}
	if (pump_channel(&local, &peer, connecting) ||
	    !shim_verdict_connected(shim_policy, (struct sockaddr *)&local, ll, (struct sockaddr *)&peer,
				    pl, shim_default_name, &v)) {
		record(fd, CT_PLAIN);
		return CT_PLAIN;
	}
	if (v.role == TLS_ROLE_SERVER && v.rule->action == POLICY_PLAIN) {
		/* An accept rule says plain by the local address (one for every
		 * address or port, say), but a connect rule may name the peer:
		 * a socket that connected out (a parent without the library
		 * made it) must not go plain to a destination the policy makes
		 * TLS.  Accepted, it has a listener on its local port; with
		 * none (or no way to tell), the connect rule decides. */
		struct shim_verdict cv;

		if (shim_verdict_connect(shim_policy, (struct sockaddr *)&peer, pl, shim_default_name, &cv) &&
		    cv.rule->action != POLICY_PLAIN && shim_port_listening(&local) != 1) {
			log_info("%s: fd %d has no listener on its local port: a connection made out,"
				 " so connect rule \"%s\" applies, not accept rule \"%s\"", cv.desc, fd,
				 cv.rule->name, v.rule->name);
			v = cv;
		}
	}
	if (v.rule->action == POLICY_PLAIN) {
		record(fd, CT_PLAIN);
		return CT_PLAIN;
	}
	if (v.rule->action == POLICY_DENY) {
		log_warn("%s rule \"%s\": connection on fd %d (not made through this library) refused"
			 " by policy (action = \"deny\")", v.desc, v.rule->name, fd);
		(void)REAL(shutdown)(fd, SHUT_RDWR);
		refuse_socket(fd);
		record(fd, CT_REFUSED);
		return CT_REFUSED;
	}
	if (tcp == SHIM_SOCK_FOREIGN) {
		log_error("%s rule \"%s\": fd %d (not made through this library) is a connection over"
			  " protocol %d, " SHIM_FOREIGN_NOT_TCP ", where the policy says TLS; refused:"
			  " every call on it fails with ECONNRESET", v.desc, v.rule->name, fd,
			  shim_sock_protocol(fd));
		refuse_socket(fd);
		record(fd, CT_REFUSED);
		return CT_REFUSED;
	}
	if (!known) {
		/* Without its inode, another number's session on this socket
		 * cannot be found: a second session on it would be made. */
		log_error("%s rule \"%s\": fd %d (not made through this library): fstat refused (%s),"
			  " so whether it is another number of a session's socket cannot be told; refused:"
			  " every call on it fails with ECONNRESET", v.desc, v.rule->name, fd,
			  strerror(staterr));
		refuse_socket(fd);
		record(fd, CT_REFUSED);
		return CT_REFUSED;
	}
	same = (struct same_socket){ .dev = st.st_dev, .ino = st.st_ino };
	conntab_each_conn(0, 0x7fffffff, find_same, &same);
	if (same.found) {
		c = same.found;
		if (tls_conn_fd_add(c, fd) < 0) {
			/* (no memory) not left on the bare socket: stdio on
			 * fd 1 would write past the pump that takes fd 0 */
			log_error("%s rule \"%s\": fd %d cannot join its connection's session; refused",
				  v.desc, v.rule->name, fd);
			tls_conn_unref(c);
			refuse_socket(fd);
			record(fd, CT_REFUSED);
			return CT_REFUSED;
		}
		if (!conntab_cas(fd, CT_UNSEEN, (uintptr_t)c)) {
			tls_conn_fd_remove(c, fd);
			tls_conn_unref(c);
			return conntab_load(fd) != CT_UNSEEN ? conntab_load(fd) : CT_REFUSED;
		}
		if (!at_start)
			shim_tls_placed(fd, c);
		return (uintptr_t)c;
	}
	if (socket_used(fd, &sent, &consumed)) {
		log_warn("%s rule \"%s\": connection on fd %d already carried bytes outside this library"
			 " (%llu sent, %llu read) where the policy says TLS; refused: every call on it"
			 " fails with ECONNRESET", v.desc, v.rule->name, fd, sent, consumed);
		refuse_socket(fd);
		record(fd, CT_REFUSED);
		return CT_REFUSED;
	}
	if (beyond) {
		log_error("%s rule \"%s\": fd %d is beyond the connection table (RLIMIT_NOFILE was"
			  " raised after start-up); refused", v.desc, v.rule->name, fd);
		refuse_socket(fd);
		return CT_REFUSED;
	}
	c = shim_conn_new(fd, &v);
	if (!c) {
		log_error("%s rule \"%s\": cannot set up TLS on fd %d; refused", v.desc, v.rule->name, fd);
		refuse_socket(fd);
		record(fd, CT_REFUSED);
		return CT_REFUSED;
	}
	if (!conntab_cas(fd, CT_UNSEEN, (uintptr_t)c)) {
		tls_conn_unref(c);
		return conntab_load(fd);
	}
	log_info("%s rule \"%s\": %s fd %d becomes a TLS %s connection (handshake on first use)",
		 v.desc, v.rule->name, at_start ? "inherited" : "unseen", fd,
		 v.role == TLS_ROLE_SERVER ? "server" : "client");
	/* At start-up the pump waits until every inherited number is known
	 * (shim_adopt_inherited): inetd puts one socket on 0, 1 and 2, and
	 * a pump started for 0 alone would leave 1 on the bare socket. */
	if (!at_start)
		shim_tls_placed(fd, c);
	return conntab_load(fd);
}

uintptr_t shim_classify(int fd, bool at_start)
{
	uintptr_t w;

	if (at_start)
		shim_lowat_learn(fd);   /* a mark set before exec */
	if (!xlock_lock_unless_mine(&classify_lock)) {
		/* A signal handler interrupted this thread while it classified:
		 * refuse this one call rather than guess. */
		return CT_REFUSED;
	}
	w = classify_locked(fd, at_start);
	xlock_unlock(&classify_lock);
	return w;
}

/* ---- routing ----------------------------------------------------------- */

intptr_t shim_route_conn(int fd, uintptr_t v)
{
	struct tls_conn *c;

	if (fd < 0)
		return ROUTE_PASS;
	if (!atomic_load_explicit(&shim_ready, memory_order_acquire)) {
		struct stat st;

		/* Before start-up finished (another library's constructor, or a
		 * memory allocator reading /proc from inside its own lock): only
		 * a socket needs the policy; anything else passes without
		 * loading it here (which would allocate, and might re-enter
		 * the caller's lock).  Only the kernel's answers say "not a
		 * socket": a file, or EBADF.  An fstat a seccomp filter refused
		 * (one inherited through exec, while another library's
		 * constructor does socket I/O before ours) let the call pass
		 * unclassified, in clear where the policy says TLS: the policy
		 * is loaded, and the number classified as after start-up. */
		if (shim_initialising())
			return ROUTE_PASS;
		if (fstat(fd, &st) < 0 ? errno == EBADF : !S_ISSOCK(st.st_mode))
			return ROUTE_PASS;
		shim_ensure_init();
		v = conntab_load(fd);
	}
	if (shim_initialising())
		return ROUTE_PASS;
	for (;;) {
		if (conntab_is_pass(v))
			return ROUTE_PASS;
		if (v == CT_UNSEEN) {
			if (!shim_policy) {
				conntab_set(fd, CT_PLAIN);
				return ROUTE_PASS;
			}
			v = shim_classify(fd, false);
			if (v == CT_UNSEEN)      /* cannot happen; never loop on it */
				v = CT_REFUSED;
			if ((size_t)fd >= conntab_size)
				return v == CT_PLAIN ? ROUTE_PASS : -ECONNRESET;
			continue;
		}
		if (v == CT_OWN || conntab_is_closing(v))
			return -EBADF;
		if (v == CT_REFUSED)
			return -ECONNRESET;
		if ((c = conntab_get(fd)))
			return (intptr_t)c;
		v = conntab_load(fd);
		if ((size_t)fd >= conntab_size) {
			/* Beyond the table: nothing is recorded; classified per call. */
			v = shim_classify(fd, false);
			return v == CT_PLAIN ? ROUTE_PASS : -ECONNRESET;
		}
	}
}

/* ---- where a session may sit ------------------------------------------ */

/* Also while a child that shares our memory, and so this table, may run
 * (self_memory_shared: from a clone(CLONE_VM) until a CLONE_VFORK one
 * returns, for good after one without CLONE_VFORK): its descriptor table
 * may be its own, and a file it opens or dup2()s at the number in it
 * tells the table "plain" while our number is still this connection
 * (shim_before_clone pumps the sessions there at the clone; this, those
 * made after it: tests/preload/vmshare.sh). */
void shim_tls_placed(int fd, struct tls_conn *c)
{
	if (!shim_fd_has_file(fd) && !self_memory_shared())
		return;
	if (shim_pump(c, true) < 0) {
		tls_conn_fail(c, TLS_FAIL_SYSCALL, "a TLS connection on standard input, output or"
			      " error, on a number fdopen() gave a FILE, or made while a child shares"
			      " the process's memory, needs a pump process (stdio bypasses every"
			      " wrapper; the child's descriptor table may be its own), and none could"
			      " be started");
		/* The number is still the TCP socket, and stdio's writes there
		 * pass no wrapper: failing the session kept them off nothing.
		 * The connection is shut both ways (it is of no use to anyone
		 * now): stdio's writes fail with EPIPE, its reads see the end. */
		(void)REAL(shutdown)(fd, SHUT_RDWR);
		log_error("%s rule \"%s\": fd %d: no pump, so its connection is shut down (stdio on it,"
			  " or a child's change to its number, would make it write in clear)", tls_conn_peer(c), tls_conn_label(c), fd);
	}
}

/* Not taken when the forking thread holds it already (a signal handler
 * that forks): that thread goes on and releases it, in both processes. */
static bool fork_took;

void shim_classify_fork_lock(void)
{
	fork_took = xlock_lock_unless_mine(&classify_lock);
}

void shim_classify_fork_unlock(bool child)
{
	xlock_fork_release(&classify_lock, fork_took, child);
}
