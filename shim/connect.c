/* shim/connect.c — connect(): a verified TLS client handshake before the
 * program sends a byte, on destinations a connect rule names. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "shim/shim.h"

bool shim_default_name(const struct sockaddr *sa, char *buf, size_t len)
{
	bool only;

	if (shim_name_for(sa, buf, len, &only))
		return only;
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf, (socklen_t)len);
	} else {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			inet_ntop(AF_INET, a->s6_addr + 12, buf, (socklen_t)len);
		else
			inet_ntop(AF_INET6, a, buf, (socklen_t)len);
	}
	return false;
}

/* A destination of 0.0.0.0 (or ::ffff:0.0.0.0) reaches the address the
 * socket is bound to, when it is bound to one: the kernel takes the
 * source address for the destination (ip_route_output), and loopback
 * only for a socket bound to none (what shim_norm_addr assumes).  1 with
 * ss a copy of sa holding the bound address; 0 (ss untouched) when sa is
 * not such a destination or the socket is bound to no address; the
 * negative errno of a getsockname() the kernel refused.  One system
 * call, for wildcard destinations only.  (Before, a socket bound to
 * 127.0.0.2 that connected to 0.0.0.0 was matched as 127.0.0.1: a plain
 * rule there let MSG_FASTOPEN put its bytes in clear on 127.0.0.2, where
 * a tls rule applied; tests/preload/names.sh.) */
/* The IPv4 address of sa (len bytes): AF_INET, or AF_INET6 holding an
 * IPv4-mapped one (24 bytes at least: RFC 2133's form).  false: neither. */
static bool v4_of(const struct sockaddr *sa, socklen_t len, uint32_t *a4)
{
	struct in6_addr a6;

	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		memcpy(a4, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, sizeof *a4);
		return true;
	}
	if (sa->sa_family != AF_INET6 || len < 24)
		return false;
	memcpy(&a6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, sizeof a6);
	if (!IN6_IS_ADDR_V4MAPPED(&a6))
		return false;
	memcpy(a4, a6.s6_addr + 12, sizeof *a4);
	return true;
}

int shim_dest_bound(int fd, const struct sockaddr *sa, socklen_t len, struct sockaddr_storage *ss)
{
	struct sockaddr_storage b;
	socklen_t bl = sizeof b;
	uint32_t a4;

	if (!sa || len < sizeof(sa_family_t) || !v4_of(sa, len, &a4) || a4 != htonl(INADDR_ANY))
		return 0;
	if (REAL(getsockname)(fd, (struct sockaddr *)&b, &bl) < 0)
		return -errno;
	if (!v4_of((struct sockaddr *)&b, bl, &a4) || a4 == htonl(INADDR_ANY))
		return 0;
	memset(ss, 0, sizeof *ss);
	memcpy(ss, sa, len < sizeof *ss ? len : sizeof *ss);
	if (sa->sa_family == AF_INET)
		memcpy(&((struct sockaddr_in *)ss)->sin_addr, &a4, sizeof a4);
	else
		memcpy(((struct sockaddr_in6 *)ss)->sin6_addr.s6_addr + 12, &a4, sizeof a4);
	return 1;
}

/* shim_resolve_connect() said no with *err set (err): the call that
 * would give fd the peer sa is refused, with an error line; the negative
 * errno.  SHIM_ERR_FOREIGN: no TCP peer can be behind the socket, and the
 * library's TLS runs over TCP only: never plaintext instead. */
static int refuse_unresolved(int fd, const struct shim_verdict *v, int err, const struct sockaddr *sa,
			     const char *call)
{
	char desc[96];

	if (err == SHIM_ERR_FOREIGN) {
		log_error("%s rule \"%s\": %s on fd %d over protocol %d, " SHIM_FOREIGN_NOT_TCP ", where the"
			  " policy says %s; refused", v->desc, v->rule->name, call, fd, shim_sock_protocol(fd),
			  v->rule->action == POLICY_DENY ? "deny" : "TLS");
		return -ECONNREFUSED;
	}
	shim_format_addr(sa, desc, sizeof desc);
	log_error("%s on fd %d to %s: cannot tell whether the socket is TCP (getsockopt: %s), and a tls"
		  " or deny rule names the destination; refused", call, fd, desc, strerror(err));
	return -err;
}

/* A call that gives fd a peer, or moves bytes to or from one, without
 * connect(): sendto()/sendmsg() with a destination (SCTP sets up an
 * association), sctp_connectx(), recvfrom()/recvmsg() naming the source
 * (an SCTP one-to-many socket's associations).  0 when it may go on; a
 * negative errno (logged) where a tls or deny rule names peer and fd is
 * not TCP (shim_resolve_connect: SHIM_ERR_FOREIGN), or cannot be told.
 * A TCP socket ignores the address (TCP Fast Open aside: shim/io.c), and
 * so does the library.  The rules first, without a system call: a
 * destination no rule names, or one a plain rule names (no kind of
 * socket is refused there), or not an internet one, costs none; nor does
 * a TLS descriptor (TCP).  Each datagram a UDP program sends or receives
 * under a catch-all plain rule paid a getsockopt() (helper-125); under a
 * tls or deny rule a datagram socket is asked once per number
 * (shim_sock_tcp_dgram), not once per datagram (helper-130). */
int shim_peer_check(int fd, const struct sockaddr *peer, socklen_t len, const char *call)
{
	struct shim_verdict v;
	struct sockaddr_storage ss;
	int err = 0;

	if (!peer || len < sizeof(sa_family_t) || (peer->sa_family != AF_INET && peer->sa_family != AF_INET6))
		return 0;
	shim_ensure_init();
	if (shim_policy && shim_policy->has[POLICY_CONNECT] && shim_dest_bound(fd, peer, len, &ss) > 0)
		peer = (const struct sockaddr *)&ss;
	if (!shim_policy || !shim_policy->has[POLICY_CONNECT] || conntab_is_tls(conntab_load(fd)) ||
	    !shim_verdict_connect(shim_policy, peer, len, shim_default_name, &v) ||
	    v.rule->action == POLICY_PLAIN || shim_resolve_kind(shim_sock_tcp_dgram(fd), &v, &err) || !err)
		return 0;
	return refuse_unresolved(fd, &v, err, peer, call);
}

/* sctp_connectx(3): an SCTP association to every address of a packed
 * list (each a sockaddr_in or sockaddr_in6, len bytes in all) without
 * connect(), as setsockopt(SOL_SCTP, SCTP_SOCKOPT_CONNECTX or _OLD) or
 * getsockopt(SCTP_SOCKOPT_CONNECTX3) (shim_sctp_sockopt) set it up.  Each address
 * is checked (shim_peer_check); the walk stops where the kernel's would
 * fail (EINVAL).  0 or the negative errno. */
static int connectx_check(int fd, const unsigned char *addrs, size_t len)
{
	size_t at = 0;

	while (addrs && at + sizeof(sa_family_t) <= len) {
		sa_family_t fam;
		size_t one;
		int e;

		memcpy(&fam, addrs + at, sizeof fam);
		one = fam == AF_INET ? sizeof(struct sockaddr_in) : fam == AF_INET6 ? sizeof(struct sockaddr_in6) : 0;
		if (!one || at + one > len)
			break;
		{
			struct sockaddr_storage ss;

			memcpy(&ss, addrs + at, one);      /* (the list packs them unaligned) */
			if ((e = shim_peer_check(fd, (struct sockaddr *)&ss, (socklen_t)one, "sctp_connectx")) < 0)
				return e;
		}
		at += one;
	}
	return 0;
}

/* The SCTP socket options (level SOL_SCTP, 132) that give a socket peers
 * without connect(); val and len as the program gave them (len:
 * getsockopt's *optlen).  0, or the negative errno that refuses the call.
 * (A descriptor SCTP_SOCKOPT_PEELOFF makes: shim_sctp_peeled.) */
#define SCTP_SOCKOPT_CONNECTX_OLD_ 107
#define SCTP_SOCKOPT_CONNECTX_ 110
#define SCTP_SOCKOPT_CONNECTX3_ 111
int shim_sctp_sockopt(int fd, int opt, const void *val, socklen_t len)
{
	if (opt == SCTP_SOCKOPT_CONNECTX_ || opt == SCTP_SOCKOPT_CONNECTX_OLD_)
		return connectx_check(fd, val, len);
	if (opt == SCTP_SOCKOPT_CONNECTX3_ && val) {
		/* struct sctp_getaddrs_old: the association, the list's size in
		 * bytes (addr_num), the list */
		struct { int32_t assoc_id; int addr_num; const unsigned char *addrs; } p;

		if (len < sizeof p)
			return 0;    /* the kernel's EINVAL */
		memcpy(&p, val, sizeof p);
		return p.addr_num > 0 ? connectx_check(fd, p.addrs, (size_t)p.addr_num) : 0;
	}
	return 0;
}

/* getsockopt(SOL_SCTP, SCTP_SOCKOPT_PEELOFF or _PEELOFF_FLAGS) answered
 * (val: the program's sctp_peeloff_arg_t, or the _flags_ one that starts
 * with it): a new descriptor of one association, at a number the library
 * did not hand out.  Classified at once, as one received with SCM_RIGHTS
 * (shim_fd_arrived): SOCK_SEQPACKET, so foreign, and refused where a tls
 * or deny rule names its peer.  Classified on its first use before, the
 * number kept what the table said of the file it named last: a number
 * whose FILE fclose() had closed (past every wrapper) stayed PLAIN, and
 * the association's first write went out in clear. */
#define SCTP_SOCKOPT_PEELOFF_ 102
#define SCTP_SOCKOPT_PEELOFF_FLAGS_ 122
static void sctp_peeled(int opt, const void *val, socklen_t len)
{
	struct { int32_t assoc_id; int sd; } p;

	if ((opt == SCTP_SOCKOPT_PEELOFF_ || opt == SCTP_SOCKOPT_PEELOFF_FLAGS_) && val && len >= sizeof p) {
		memcpy(&p, val, sizeof p);
		shim_fd_arrived(p.sd);
	}
}

/* connect() failed, but the socket may still be (or become) connected:
 * its session must stay in the table, or a later write would go out in
 * clear.  Only a definite failure ends it. */
static bool still_connecting(int err)
{
	return err == EINPROGRESS || err == EINTR || err == EAGAIN;
}

/* An earlier connect() of this socket failed: TCP_CLOSE, and no peer.  On
 * an MPTCP socket TCP_INFO describes the first subflow only, which may be
 * closed (reset by the peer, or on the path) while the connection goes on
 * over another: getpeername() answers for the connection. */
bool shim_connect_failed(int fd)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;

	return shim_tcp_state(fd) == TCP_CLOSE &&
	       REAL(getpeername)(fd, (struct sockaddr *)&ss, &l) < 0 && errno == ENOTCONN;
}

/* sa (len bytes) with a multicast host in it (224.0.0.1, ff02::1; the
 * same family, length and port), to which TCP connects nothing
 * (tcp_v4_connect, tcp_v6_connect: ENETUNREACH before any SYN), into
 * *ss; false when len is too long for it (the kernel's EINVAL). */
static bool multicast_dest(const struct sockaddr *sa, socklen_t len, struct sockaddr_storage *ss)
{
	if (len > sizeof *ss)
		return false;
	memcpy(ss, sa, len);
	if (ss->ss_family == AF_INET && len >= sizeof(struct sockaddr_in))
		((struct sockaddr_in *)ss)->sin_addr.s_addr = htonl(INADDR_ALLHOSTS_GROUP);
	else if (ss->ss_family == AF_INET6 && len >= offsetof(struct sockaddr_in6, sin6_scope_id))
		inet_pton(AF_INET6, "ff02::1", &((struct sockaddr_in6 *)ss)->sin6_addr);
	return true;
}

/* True when fd carries a source route of the program's (IP_OPTIONS with
 * LSRR or SSRR; a look the kernel refuses counts as one): tcp_v4_connect
 * then routes to the route's first hop, not to the address given, and
 * connects a multicast host all the same (SYN_SENT, a SYN to that hop;
 * found by h200).  (tcp_v6_connect refuses a multicast host before any
 * route: only an AF_INET address needs the look.) */
static bool source_routed(int fd)
{
	unsigned char o[40];
	socklen_t l = sizeof o, i = 0;

	if (REAL(getsockopt)(fd, IPPROTO_IP, IP_OPTIONS, o, &l) < 0)
		return errno != ENOPROTOOPT && errno != EOPNOTSUPP;
	while (i < l && o[i] != IPOPT_END) {
		if (o[i] == IPOPT_NOOP) {
			i++;
			continue;
		}
		if (o[i] == IPOPT_LSRR || o[i] == IPOPT_SSRR)
			return true;
		if (i + 1 >= l || o[i + 1] < 2)
			return true;    /* (not the kernel's form: taken as one) */
		i += o[i + 1];
	}
	return false;
}

/* The length the kernel gets with ss, multicast_dest's len bytes from
 * the program's sa, on fd: len; for an AF_INET address on a socket with
 * a source route (source_routed), the family and port alone, which
 * tcp_v4_connect refuses (EINVAL) before any route, while
 * __inet_stream_connect answers a connected or connecting socket before
 * it looks (EISCONN, EALREADY, the wait).  Atomic, where a look at the
 * state first would leave a window.  Only such sockets: a security
 * module that judges the address first (SELinux, Landlock) answers
 * EINVAL to the short length whatever the state, a refusal. */
static socklen_t nowhere_len(int fd, const struct sockaddr_storage *ss, socklen_t len)
{
	if (ss->ss_family == AF_INET && len >= sizeof(struct sockaddr_in) && source_routed(fd))
		return offsetof(struct sockaddr_in, sin_addr);
	return len;
}

/* The kernel answered e to a call given multicast_dest's address (and
 * nowhere_len's length): is the end dead, so that the call is refused?
 * A refusal of the address (no route; EINVAL where einval says the
 * length or the address made it) on an end whose TCP state is CLOSE.
 * (again() and pumped_failed.) */
static bool nowhere_dead(int fd, int e, bool einval)
{
	return (e == ENETUNREACH || e == EHOSTUNREACH || (einval && e == EINVAL)) &&
	       shim_tcp_state(fd) == TCP_CLOSE;
}

/* The look at a socket (its TCP state, nowhere_len's IP_OPTIONS), the
 * kernel's call with the multicast host and the judgement of its answer
 * (nowhere_dead) are made on a copy of the program's number held for the
 * call (shim_own_hold: the program cannot close it nor dup2 onto it), so
 * that they all reach one socket, whatever another thread puts at the
 * number meanwhile: the call is the old socket's, as if it came before.
 * Made on the number, a fresh socket dup2()ed there between the look and
 * the connect got the call: with a source route the look had missed, it
 * was connected to 224.0.0.1 through the route's first hop (SYN_SENT,
 * EINPROGRESS to the program; no rule applied), and without one its
 * ENETUNREACH, on a CLOSE socket, refused a call on a connected session
 * (ECONNABORTED, where the kernel's answer was EISCONN; found by h208,
 * tests/preload/dup2_race.sh).  Two system calls more (the copy, its
 * close), on these calls only.  held_let_go: the copy let go and closed
 * (it has no entry in the library's table); errno kept. */
static void held_let_go(int d)
{
	int e = errno;

	shim_own_let_go(d);
	(void)REAL(close)(d);
	errno = e;
}

/* (the copy's close let the record lock go: taken again, as the
 * call's own end does with tls_conn_relock) */
static void held_unwound(void *arg)
{
	struct stat st;
	bool sock = fstat(*(int *)arg, &st) == 0;

	held_let_go(*(int *)arg);
	if (sock)
		shim_relock_socket(&st);
}

/* The kernel's connect() (m NULL) or sendmsg() (m, flags) on the held
 * copy d; a thread cancelled while it waits (a blocking connect on a
 * connecting end) lets d go on its way out. */
static ssize_t held_call(int d, const struct sockaddr *sa, socklen_t len,
			 const struct msghdr *m, int flags)
{
	struct _pthread_cleanup_buffer b;
	ssize_t n;

	_pthread_cleanup_push(&b, held_unwound, &d);
	n = m ? REAL(sendmsg)(d, m, flags) : REAL(connect)(d, sa, len);
	_pthread_cleanup_pop(&b, 0);
	return n;
}

/* The kernel's answer to a call given the multicast host on the held
 * copy d (ok: it succeeded; else e): true when it connected d all the
 * same, which a source route set on the socket after nowhere_len's look
 * does (another holder's setsockopt(IP_OPTIONS), LSRR or SSRR: SYN_SENT
 * through the route's first hop, EINPROGRESS; or connected there, its
 * peer the multicast host, when a blocking call waited): the connection
 * is aborted at once (connect(AF_UNSPEC): no byte of the program's
 * follows the SYN), and the caller refuses the call.  EINPROGRESS comes
 * from a connect the kernel began in this call only (a connecting end
 * says EALREADY; a deferred Fast Open connect, EISCONN to connect()),
 * and a legitimate peer is never a multicast host.  The SYN itself left
 * (a hop that delivers a source-routed segment to a multicast host: no
 * Linux one, which drops it); closing the look's window would take the
 * setsockopt (h208, tests/preload/dup2_race.sh, opt_pumped). */
static bool nowhere_went(int d, bool ok, int e)
{
	struct sockaddr_storage p;
	struct sockaddr u = { .sa_family = AF_UNSPEC };
	socklen_t l = sizeof p;
	uint32_t a4;

	if (!ok && e != EINPROGRESS)
		return false;
	if (ok) {
		if (REAL(getpeername)(d, (struct sockaddr *)&p, &l) < 0)
			return false;
		if (!(v4_of((struct sockaddr *)&p, l, &a4) && a4 == htonl(INADDR_ALLHOSTS_GROUP)) &&
		    !(p.ss_family == AF_INET6 && l >= sizeof(struct sockaddr_in6) &&
		      IN6_IS_ADDR_MULTICAST(&((struct sockaddr_in6 *)&p)->sin6_addr)))
			return false;
	}
	(void)REAL(connect)(d, &u, sizeof u);
	log_warn("a connect given the multicast host connected all the same (a source route set"
		 " meanwhile by another holder of the socket); aborted");
	return true;
}

/* connect() on a socket that already has a session: the kernel answers
 * (EALREADY while connecting, EISCONN once connected) and the session
 * stays, whatever address this call names.  Only a socket whose earlier
 * connect failed (TCP_CLOSE) may connect again, afresh (*afresh).
 * 0 or a negative errno. */
static int again(int fd, struct tls_conn *c, const struct sockaddr *sa, socklen_t len, bool *afresh)
{
	struct sockaddr_storage ss;

	*afresh = false;
	if (sa && len >= sizeof(sa_family_t) && sa->sa_family == AF_UNSPEC) {
		/* Dissolve the association (TCP: an abortive close).  The kernel
		 * first: where it says no (a seccomp filter's EPERM), the
		 * connection goes on, and so does its session.  Before, the
		 * session was ended and the number made plain first, and the
		 * program's next write on the still connected socket went out
		 * in clear (tests/preload/sysdeny.sh, unspec).  Once dissolved,
		 * the session dies with it, and the number is classified afresh
		 * at its next call: unconnected, plain (a later connect() is
		 * matched afresh); connected again meanwhile by another thread,
		 * as any socket of unknown history. */
		if (REAL(connect)(fd, sa, len) < 0)
			return -errno;
		tls_conn_fail(c, TLS_FAIL_SYSCALL, "the program dissolved the connection"
			      " (connect with AF_UNSPEC)");
		/* -> UNSEEN, only while the word names c (unplace) */
		if (conntab_cas(fd, (uintptr_t)c, CT_UNSEEN))
			tls_conn_unref(c);
		return 0;
	}
	if (!tls_conn_handshake_started(c) && !tls_conn_failed(c) && shim_connect_failed(fd)) {
		*afresh = true;
		return 0;
	}
	/* The session stays in the table: the kernel's answer, asked with
	 * the multicast host (as for a pumped number, pumped_connect).  A
	 * socket whose connect the peer refused after the handshake had
	 * started (its ClientHello waiting for the connection) is answered
	 * with that error once, and then the kernel would connect it again
	 * to the program's address, under the old session: its ClientHello,
	 * for the old rule's name, went there, to a destination a deny rule
	 * names as well (h195, tests/preload/failed_reconnect.sh).  Now such
	 * a call is refused, ECONNABORTED: a new socket connects anew. */
	/* A source route (IP_OPTIONS) takes the kernel past the multicast
	 * host (source_routed): such a socket's call names the family and
	 * port alone (nowhere_len), EINVAL where the kernel would route. */
	/* (On a copy held for the call: held_call.) */
	if (sa && len >= sizeof sa->sa_family && sa->sa_family != AF_UNSPEC &&
	    multicast_dest(sa, len, &ss)) {
		int d = shim_own_hold(fd), e;
		socklen_t sl;
		bool dead;

		if (d < 0)
			return -errno;
		sl = nowhere_len(d, &ss, len);
		e = held_call(d, (const struct sockaddr *)&ss, sl, NULL, 0) < 0 ? errno : 0;
		dead = nowhere_went(d, !e, e) || (e && nowhere_dead(d, e, sl != len));
		held_let_go(d);
		tls_conn_relock(c);     /* (the copy's close let the lock go) */
		if (!e && !dead)
			return 0;
		if (dead) {
			log_warn("%s rule \"%s\": connect() again on fd %d, whose connection"
				 " failed after its handshake started; refused: a new socket"
				 " connects anew", tls_conn_peer(c), tls_conn_label(c), fd);
			return -ECONNABORTED;
		}
		return -e;
	}
	return REAL(connect)(fd, sa, len) < 0 ? -errno : 0;
}

/* connect() on a pumped number: its socket is the program's end of the
 * pump's channel, connected (the kernel answers EISCONN) or still
 * connecting (pending_channel: EALREADY, or a blocking call waits for
 * the end of the handshake).  One that is neither any more (its connect
 * refused, then asked again: ECONNABORTED, and the next call connects;
 * shutdown() while it connects, which aborts it; connect(AF_UNSPEC))
 * the kernel would connect again, anywhere, and the number still stands
 * for the pumped session here: no policy would be applied, and what the
 * program then wrote went out in clear to a port a rule makes TLS
 * (h189: to the server whose certificate had just been refused, with a
 * retry of connect() on the same socket).  Refused, the socket's pending
 * error first (as the kernel reports it), else ECONNABORTED: a new
 * socket connects anew, under the policy.  A TCP state the kernel will
 * not tell (a filter refused TCP_INFO) is refused too; a socketpair's end
 * (no TCP) is the kernel's to answer.
 *
 * The kernel gets the program's address with a multicast host in it
 * (224.0.0.1, ff02::1; the same family, length and port, so that a
 * security module that judges the port judges the program's own), to
 * which TCP connects nothing (tcp_v4_connect, tcp_v6_connect:
 * ENETUNREACH before any SYN): it answers a connected or connecting end
 * as it would (EISCONN, EALREADY, a blocking wait, which looks at no
 * address), and can connect nothing.  Another holder of the socket that
 * disconnects it (connect(AF_UNSPEC)) between the state's look and this
 * call left an end the kernel connected to the program's address, in
 * clear (h194, tests/preload/pumped_reconnect.sh, race); now the kernel
 * refuses the multicast host, and the end, CLOSE, is refused as above. */
static int pumped_refused(int fd, int d, const char *call)
{
	int e = 0;
	socklen_t l = sizeof e;

	log_warn("fd %d: %s again on a socket handed to a pump, whose end of the pump"
		 " is no longer connected or connecting; refused: a new socket connects anew",
		 fd, call);
	if (REAL(getsockopt)(d, SOL_SOCKET, SO_ERROR, &e, &l) == 0 && e > 0)
		return -e;
	return -ECONNABORTED;
}

/* The address the kernel gets for a call on a pumped number that would
 * give it the peer sa (len bytes): 1, sa as it is (no address,
 * AF_UNSPEC, not TCP, a length the kernel refuses before anything); 0,
 * *ss holds sa with the multicast host, *slen bytes of it; a negative
 * errno (logged): the end is neither connected nor connecting, refused
 * (pumped_refused).  A socket with a source route gets the family and
 * port alone (nowhere_len): tcp_v4_connect routes it by the route's
 * first hop, past the multicast host, and an end that another holder
 * disconnected between the look and the call went SYN_SENT through
 * that hop (Fast Open data in the SYN where no cookie is asked for:
 * TCP_FASTOPEN_NO_COOKIE set before the first connect, or the sysctl;
 * h200, pumped_fastopen.sh, race_srr).  d: the copy of the program's
 * number fd held for the call (held_call), which every look and the
 * kernel's call are made on; fd names it in the warning.  (The kernel's
 * call with the program's own address, 1, goes to d too: a socketpair's
 * end, where a TCP socket dup2()ed onto the number after the look got
 * that address, unjudged, before h208.) */
static int pumped_dest(int fd, int d, const struct sockaddr *sa, socklen_t len,
		       struct sockaddr_storage *ss, socklen_t *slen, const char *call)
{
	int st;

	if (!sa || len < sizeof sa->sa_family || sa->sa_family == AF_UNSPEC)
		return 1;
	st = shim_tcp_state(d);
	if (st < 0 && (errno == EOPNOTSUPP || errno == ENOPROTOOPT))   /* not TCP */
		return 1;
	if (st < 0 || st == TCP_CLOSE)
		return pumped_refused(fd, d, call);
	if (!multicast_dest(sa, len, ss))
		return 1;
	*slen = nowhere_len(d, ss, len);
	return 0;
}

/* The kernel refused the multicast host (pumped_dest) with e: an end
 * that stopped connecting meanwhile is refused as above; else -e. */
static int pumped_failed(int fd, int d, int e, const char *call)
{
	if (nowhere_dead(d, e, true))
		return pumped_refused(fd, d, call);
	return -e;
}

/* The kernel's connect() of the held copy d with pumped_dest's address
 * (ss, sl bytes): 0 (a connecting end now connected), the kernel's
 * answer, or the refusal (pumped_failed; nowhere_went). */
static int pumped_probe(int fd, int d, const struct sockaddr_storage *ss, socklen_t sl,
			const char *call)
{
	int e = held_call(d, (const struct sockaddr *)ss, sl, NULL, 0) < 0 ? errno : 0;

	if (nowhere_went(d, !e, e))
		return pumped_refused(fd, d, call);
	return e ? pumped_failed(fd, d, e, call) : 0;
}

static int pumped_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	int d = shim_own_hold(fd), r;

	if (d < 0)
		return -errno;
	r = pumped_dest(fd, d, sa, len, &ss, &sl, "connect()");
	if (r == 1)
		r = held_call(d, sa, len, NULL, 0) < 0 ? -errno : 0;
	else if (r == 0)
		r = pumped_probe(fd, d, &ss, sl, "connect()");
	held_let_go(d);
	return r;
}

/* sendto(), sendmsg() or sendmmsg() with MSG_FASTOPEN (m: its message,
 * the first of sendmmsg's) on a number whose session went to a pump
 * (shim_route first: a number not seen yet is classified).  TCP Fast
 * Open connects in the same call, as connect() does: on an end that is
 * neither connected nor connecting the kernel connected the number
 * again, anywhere a rule left plain, and the program's bytes went there
 * while the number still stood for the pumped session (h195,
 * tests/preload/pumped_fastopen.sh).  So it is what connect() is on it
 * (pumped_connect): refused once the end is neither, the kernel's
 * answer otherwise (EISCONN, EALREADY), asked with the multicast host.
 * The bytes sent (one message), a negative errno, or SHIM_NOT_PUMPED:
 * not a pumped number, the caller goes on. */
ssize_t shim_pumped_fastopen(int fd, const struct msghdr *m, int flags, const char *call)
{
	struct sockaddr_storage ss;
	struct msghdr h;
	socklen_t sl = 0;
	struct tls_conn *c = NULL;
	ssize_t n;
	int r, d;

	r = shim_route(fd, &c);
	if (c)
		tls_conn_unref(c);
	if (r < 0 || r == ROUTE_TLS || conntab_load(fd) != CT_PUMPED || !m)
		return SHIM_NOT_PUMPED;
	h = *m;
	/* The kernel's sendmsg takes the first sizeof ss bytes of a longer
	 * name (a negative length is its EINVAL): so must the look.  Let
	 * through as it was, such a name reached the kernel with the
	 * program's address, which connected an end disconnected between the
	 * look and the call there, in clear (h200, pumped_fastopen.sh,
	 * race_long).  (sendto's longer name is the kernel's EINVAL: io.c.) */
	if (h.msg_name && h.msg_namelen > sizeof ss && (int)h.msg_namelen >= 0)
		h.msg_namelen = sizeof ss;
	/* (on a copy held for the call: held_call) */
	if ((d = shim_own_hold(fd)) < 0)
		return -errno;
	if ((r = pumped_dest(fd, d, h.msg_name, h.msg_namelen, &ss, &sl, call)) < 0) {
		held_let_go(d);
		return r;
	}
	/* The multicast host is asked with connect(), which carries no data,
	 * and the bytes go after it, without Fast Open, on an end it found
	 * connected: a Fast Open given the host put them in its SYN (a
	 * cookie, or TCP_FASTOPEN_NO_COOKIE) where a source route set in the
	 * look's window took the SYN to the route's first hop (h208).  The
	 * kernel's answers are its sendmsg's (EISCONN, EALREADY, a blocking
	 * wait for a connecting end, then the bytes). */
	if (r == 0 && (r = pumped_probe(fd, d, &ss, sl, call)) == 0) {
		h.msg_name = NULL;
		h.msg_namelen = 0;
		flags &= ~MSG_FASTOPEN;
	}
	if (r < 0)
		n = r;
	else if ((n = held_call(d, NULL, 0, &h, flags)) < 0)
		n = -errno;
	held_let_go(d);
	return n;
}

/* The number's word, which names c (the session this call placed
 * there, or again() found there), made PLAIN and the table's reference
 * dropped: true.  false, nothing changed: another thread's dup2(), dup3()
 * or close() and a new socket put another word at the number since,
 * which is not this call's to change.  Taken out and made PLAIN
 * whatever the word was (conntab_detach), a TLS connection dup2()ed onto
 * the number while its connect() ran (the kernel's EISCONN) lost its
 * session there, and the program's next write on it went out in clear
 * (found by h208, tests/preload/dup2_race.sh, session, afresh). */
static bool unplace(int fd, struct tls_conn *c)
{
	if (!conntab_cas(fd, (uintptr_t)c, CT_PLAIN))
		return false;
	tls_conn_unref(c);
	return true;
}

/* c put at fd, the table taking the caller's reference: 0; -1 beyond
 * the table; CONNECT_AGAIN when the word names a connection, a pump's
 * end or one of the library's own now (another thread's dup2() since the
 * call was routed), which conntab_attach would have dropped (and the
 * connection's socket then been made PLAIN, unplace): the call is the
 * number's as it is now, routed again. */
#define CONNECT_AGAIN 1
static int place(int fd, struct tls_conn *c)
{
	for (;;) {
		uintptr_t v = conntab_load(fd);

		if (v > CT_TAGS || v == CT_PUMPED || v == CT_OWN)
			return CONNECT_AGAIN;
		if (conntab_cas(fd, v, (uintptr_t)c))
			return 0;
		if (conntab_load(fd) == v)
			return -1;      /* (beyond the table: the load says UNSEEN) */
	}
}

/* TCP Fast Open (sendto, sendmsg, sendmmsg with MSG_FASTOPEN and a
 * destination, which shim_fastopen_refused found no tls or deny rule
 * names) on a TLS number whose connect failed before its handshake
 * started: connect() there matches the destination afresh (again(): the
 * session ends, the number is PLAIN), and so does this call now: the
 * session ends (unplace) and the caller's dispatch finds a plain number,
 * a fresh socket's Fast Open.  Before (h208), the call went to the
 * session, which could connect nothing: the socket's pending error, then
 * EPIPE, and its handshake counted as started, so that a connect() after
 * it was refused too (tests/preload/fastopen_afresh.sh).  No byte of the
 * session ever left (its handshake had not started); the program's go
 * where a fresh socket's Fast Open would send them, in clear only where
 * a plain rule (or none) says so.  Anything else: nothing done. */
void shim_fastopen_afresh(int fd)
{
	struct tls_conn *c;

	if (shim_route(fd, &c) != ROUTE_TLS)
		return;
	if (!tls_conn_handshake_started(c) && !tls_conn_failed(c) && shim_connect_failed(fd))
		(void)unplace(fd, c);
	tls_conn_unref(c);
}

/* 0, a negative errno, or CONNECT_AGAIN: route the call again. */
static int connect_once(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct shim_verdict v;
	struct sockaddr_storage ss, bound;
	struct tls_conn *c;
	bool nb, afresh;
	int r, fl;

	shim_ensure_init();
	r = shim_route(fd, &c);
	if (r < 0)
		return r;
	if (r == ROUTE_PASS && conntab_load(fd) == CT_PUMPED)
		return pumped_connect(fd, sa, len);
	if (r == ROUTE_TLS) {
		r = again(fd, c, sa, len, &afresh);
		if (afresh && !unplace(fd, c))
			r = CONNECT_AGAIN;      /* (the number's word changed) */
		tls_conn_unref(c);
		if (!afresh || r == CONNECT_AGAIN)
			return r;
	}
	/* 0.0.0.0 from a socket bound to an address goes there: matched
	 * there, and that address given to the kernel (a getsockname refused:
	 * matched and given as 127.0.0.1, shim_norm_addr). */
	if (shim_policy && shim_policy->has[POLICY_CONNECT] && shim_dest_bound(fd, sa, len, &bound) > 0)
		sa = (const struct sockaddr *)&bound;
	if (!shim_resolve_connect(fd, sa, len, &v, &r))
		return r ? refuse_unresolved(fd, &v, r, sa, "connect") : REAL(connect)(fd, sa, len) < 0 ? -errno : 0;
	len = shim_norm_addr(sa, len, &ss);
	sa = (const struct sockaddr *)&ss;
	switch (v.rule->action) {
	case POLICY_DENY:
		log_warn("%s rule \"%s\": connection refused by policy (action = \"deny\")",
			 v.desc, v.rule->name);
		return -ECONNREFUSED;
	case POLICY_PLAIN:
		log_info("%s rule \"%s\": plain TCP by policy (action = \"plain\")", v.desc, v.rule->name);
		return REAL(connect)(fd, sa, len) < 0 ? -errno : 0;
	case POLICY_TLS:
		break;
	}
	shim_reload_check();
	c = shim_conn_new(fd, &v);
	if (!c)
		return -ENOMEM;
	/* In the table before the first byte can move: from here on no
	 * thread of the program can write plaintext to this socket. */
	tls_conn_ref(c);
	if ((r = place(fd, c)) != 0) {
		tls_conn_unref(c);
		tls_conn_unref(c);
		if (r == CONNECT_AGAIN)
			return r;
		log_error("%s rule \"%s\": fd %d beyond the connection table", v.desc, v.rule->name, fd);
		return -EMFILE;
	}
	/* One look at the flags: O_NONBLOCK, and O_ASYNC set before the
	 * connect (refused as by fcntl, shim_refuse_async; in the table
	 * first, so that no F_SETFL of another thread slips in between). */
	fl = REAL(fcntl)(fd, F_GETFL);
	if (fl >= 0 && (fl & O_ASYNC)) {
		r = shim_refuse_async(c, "connect()");
		(void)unplace(fd, c);
		tls_conn_unref(c);
		return r;
	}
	nb = fl >= 0 && (fl & O_NONBLOCK);
	tls_conn_init_nonblock(c, nb);  /* the first read or write needs no fcntl */
	if (REAL(connect)(fd, sa, len) < 0) {
		r = -errno;
		/* Still connecting: the handshake runs on first use.  Otherwise a
		 * plain failure, with its plain errno.  (EALREADY or EISCONN
		 * here: the socket was connecting or connected elsewhere before
		 * this call, by a connect no rule named; it stays that.) */
		if (!still_connecting(-r)) {
			(void)unplace(fd, c);
		} else {
			shim_tls_placed(fd, c);
		}
		tls_conn_unref(c);
		return r;
	}
	if (nb) {
		/* The handshake runs on first use (see docs/design.md). */
		shim_tls_placed(fd, c);
		tls_conn_unref(c);
		return 0;
	}
	{
		/* Cancellable while it waits, as a blocking connect() is. */
		struct shim_call_frame f;

		shim_call_begin(&f, c);
		r = shim_tls_handshake(c, false);
		shim_call_end(&f);
	}
	if (r == 0 || (r == -EINTR && !tls_conn_failed(c)))
		/* Interrupted, the handshake goes on at the next call (the
		 * program is told EINTR, the connection proceeds, as TCP's
		 * does): a FILE on the number (0-2, fdopen's) writes past every
		 * wrapper meanwhile, so it goes to a pump now as well. */
		shim_tls_placed(fd, c);
	else
		r = -ECONNREFUSED;      /* the connection stays in the table, failed */
	tls_conn_unref(c);
	return r;
}

/* 0 or a negative errno.  The call is routed again while another
 * thread changes what the number names under it (connect_once). */
static int shim_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	int r;

	while ((r = connect_once(fd, sa, len)) == CONNECT_AGAIN)
		;
	return r;
}

SHIM_EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	SHIM_RET_KEEP(shim_connect(fd, sa, len));
}

SHIM_EXPORT int __connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	return connect(fd, sa, len);
}

/* A pumped fd names the pump's loopback channel; the program asks about
 * its connection: answer with the session's TCP addresses (inetd services,
 * sshd and tcp-wrappers log and filter on them), as the kernel does
 * (move_addr_to_user): *len is read as an int, and a negative one is
 * EINVAL (as a socklen_t it was huge: the address was written and 0
 * returned); a *len of 0 copies nothing, so a null sa is then no fault,
 * and *len says the address's length. */
static int pumped_addr(int fd, bool peer, struct sockaddr *sa, socklen_t *len)
{
	struct conntab_pumped *pi = conntab_pumped(fd);
	const struct sockaddr_storage *ss = peer ? &pi->peer : &pi->local;
	socklen_t l = peer ? pi->plen : pi->llen;
	int n;

	if (!l)
		return 1;       /* not known: let the kernel answer */
	if (!len)
		return -EFAULT;
	if ((n = (int)*len) < 0)
		return -EINVAL;
	if ((socklen_t)n > l)
		n = (int)l;
	if (n && !sa)
		return -EFAULT;
	if (n)
		memcpy(sa, ss, (size_t)n);
	*len = l;
	return 0;
}

/* A pumped fd answers with the addresses of the session it stands for. */
#define NAME_ENTRY(name, peer)                                               \
	SHIM_EXPORT int name(int fd, struct sockaddr *sa, socklen_t *len)    \
	{                                                                    \
		if (conntab_load(fd) == CT_PUMPED) {                         \
			int r = pumped_addr(fd, peer, sa, len);              \
			if (r <= 0)                                          \
				SHIM_RET(r);                                 \
		}                                                            \
		return REAL(name)(fd, sa, len);                              \
	}
NAME_ENTRY(getpeername, true)
NAME_ENTRY(getsockname, false)

/* After a non-blocking connect, a program asks SO_ERROR whether it worked:
 * a failed TLS handshake is a refused connection. */
/* getsockopt(TCP_ZEROCOPY_RECEIVE) hands the program what a socket
 * received, past read(): pages moved into its mapping of the socket, and
 * the rest in a copy buffer.  On a TLS fd that is the ciphertext, or a
 * peer's plaintext before any handshake, which TLS never authenticated:
 * refused, EOPNOTSUPP (before, an attacker's bytes on a TLS port reached
 * the program this way). */
static int tls_zerocopy_refused(struct tls_conn *c)
{
	log_warn("%s rule \"%s\": TCP_ZEROCOPY_RECEIVE is not available on a TLS connection;"
		 " refused (EOPNOTSUPP)", tls_conn_peer(c), tls_conn_label(c));
	return -EOPNOTSUPP;
}

static int zerocopy_receive(int fd, void *val, socklen_t *len)
{
	SHIM_DISPATCH(fd, REAL(getsockopt)(fd, IPPROTO_TCP, TCP_ZEROCOPY_RECEIVE, val, len),
		      tls_zerocopy_refused(c));
}

SHIM_EXPORT int getsockopt(int fd, int level, int opt, void *val, socklen_t *len)
{
	struct tls_conn *c;
	int r, v = 0;

	if (__builtin_expect(level == IPPROTO_TCP && opt == TCP_ZEROCOPY_RECEIVE, 0))
		return zerocopy_receive(fd, val, len);

	/* sctp_connectx(): peers without connect().  A negative *len (an
	 * int to the kernel) is the kernel's EINVAL, before anything is done:
	 * as a socklen_t it was taken for a buffer of 4 GiB and walked. */
	if (__builtin_expect(level == 132 /* SOL_SCTP */, 0) && len && (int)*len >= 0 &&
	    (r = shim_sctp_sockopt(fd, opt, val, *len)) < 0)
		SHIM_RET(r);
	/* kTLS's keys (ktls = true): shim/sock.c, shim_sockopt_refused. */
	if (__builtin_expect(level == SOL_TLS, 0) && (r = shim_sockopt_refused(fd, "getsockopt(SOL_TLS)")) < 0)
		SHIM_RET(r);
	r = REAL(getsockopt)(fd, level, opt, val, len);
	if (__builtin_expect(level == 132, 0) && r == 0 && len)
		sctp_peeled(opt, val, *len);

	/* memcpy: the program's int may be unaligned. */
	if (r == 0 && level == SOL_SOCKET && opt == SO_ERROR && val && len &&
	    *len >= sizeof(int) && (memcpy(&v, val, sizeof v), v == 0) &&
	    (c = conntab_get(fd))) {
		if (shim_tls_refused(c)) {
			v = ECONNREFUSED;
			memcpy(val, &v, sizeof v);
		}
		tls_conn_unref(c);
	}
	return r;
}
