/* shim/sock.c — what the shim asks the kernel about a socket. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_packet.h>
#include <stdio.h>
#include <linux/net_tstamp.h>
#include <netinet/tcp.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/log.h"
#include "shim/shim.h"

bool shim_is_nonblocking(int fd)
{
	int fl = REAL(fcntl)(fd, F_GETFL);
	return fl >= 0 && (fl & O_NONBLOCK);
}


/* For a socket whose getsockopt was refused: true when the kernel's
 * getsockname names a family no TCP can be behind (Unix, netlink, packet,
 * vsock): a sandboxed program's own IPC must not be taken for a TCP
 * socket of unknown rule.  An internet family says nothing (TCP, UDP,
 * SMC over TCP...), nor a refused getsockname. */
static bool no_tcp_family(int fd)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;

	ss.ss_family = AF_UNSPEC;
	return REAL(getsockname)(fd, (struct sockaddr *)&ss, &l) == 0 && l >= sizeof ss.ss_family &&
	       (ss.ss_family == AF_UNIX || ss.ss_family == AF_NETLINK || ss.ss_family == AF_PACKET ||
		ss.ss_family == AF_VSOCK);
}

/* The kernel's own "not a socket" and "not open" are answers, and so is
 * getsockname's family (no_tcp_family); any other error (a seccomp
 * filter's EPERM or ENOSYS, ENOMEM) is not: the caller must not take such
 * a socket for a plain one. */
bool shim_sock_answered_not_tcp(int fd, int err)
{
	return err == ENOTSOCK || err == EBADF || no_tcp_family(fd);
}

/* A getsockopt of shim_sock_tcp failed with err. */
static int refused(int fd, int err)
{
	return shim_sock_answered_not_tcp(fd, err) || shim_sock_made_not_tcp(fd) ? 0 : -err;
}

#ifndef AF_SMC
#define AF_SMC 43
#endif

/* An internet socket of a protocol that is not TCP's: SHIM_SOCK_FOREIGN;
 * another family's: 0; or -errno when the kernel did not say. */
static int foreign_family(int fd)
{
	int dom = AF_UNSPEC;
	socklen_t l = sizeof dom;

	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) < 0)
		return refused(fd, errno);
	if (dom == AF_SMC)
		return SHIM_SOCK_TCP;
	return dom == AF_INET || dom == AF_INET6 ? SHIM_SOCK_FOREIGN : 0;
}

/* What a stream socket of protocol proto (SO_PROTOCOL's answer) is.
 * TCP, MPTCP (262) and SMC (IPPROTO_SMC, 256, Linux 6.11; or an AF_SMC
 * socket, smc_run's) are TCP on the wire, or fall back to it: a rule
 * that names the destination applies, and TLS runs over them.  Any other
 * protocol of an internet socket (SCTP's one-to-one style, 132, or one
 * this library does not know) is not taken for "not TCP" but said to be
 * foreign (SHIM_SOCK_FOREIGN): the callers refuse it where a tls or deny
 * rule names it, as no TCP peer can be behind it and the library's TLS
 * runs over TCP only.  The family is asked only when the protocol is not
 * TCP's (one system call more, never for a TCP socket). */
int shim_stream_kind(int fd, int proto)
{
	if (proto == IPPROTO_TCP || proto == 262 /* IPPROTO_MPTCP */ || proto == 256 /* IPPROTO_SMC */)
		return SHIM_SOCK_TCP;
	return foreign_family(fd);
}

int shim_sock_protocol(int fd)
{
	int proto = -1;
	socklen_t l = sizeof proto;

	return REAL(getsockopt)(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l) < 0 ? -1 : proto;
}

/* What a socket of the type the kernel told is. */
static int type_kind(int fd, int type)
{
	int proto;

	/* The connection-oriented types an internet socket has besides
	 * SOCK_STREAM: SOCK_SEQPACKET (SCTP's one-to-many style, and a
	 * socket SCTP_SOCKOPT_PEELOFF makes) and SOCK_DCCP.  Neither is TCP,
	 * and each gets a peer by connect(): foreign where a tls or deny rule
	 * names it, as an SCTP stream (they were "not TCP": a connect() to a
	 * TLS port went in clear).  A Unix SOCK_SEQPACKET says protocol 0. */
	if (type != SOCK_STREAM && type != SOCK_SEQPACKET && type != SOCK_DCCP)
		return 0;
	if ((proto = shim_sock_protocol(fd)) < 0)
		return refused(fd, errno);
	if (type != SOCK_STREAM)
		return proto ? foreign_family(fd) : 0;
	return shim_stream_kind(fd, proto);
}

/* shim_sock_tcp, with the socket's type (*type) where the kernel told it. */
int shim_sock_tcp_type(int fd, int *type)
{
	socklen_t l = sizeof *type;

	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_TYPE, type, &l) < 0) {
		*type = 0;
		return refused(fd, errno);
	}
	return type_kind(fd, *type);
}

int shim_sock_tcp(int fd)
{
	int type;

	return shim_sock_tcp_type(fd, &type);
}

int shim_sock_tcp_dgram(int fd)
{
	unsigned gen;
	int type, r;

	if (shim_sock_dgram_known(fd, &gen))
		return 0;
	r = shim_sock_tcp_type(fd, &type);
	if (type == SOCK_DGRAM || type == SOCK_RAW)
		shim_sock_dgram_learned(fd, gen);
	return r;
}

/* The kernel's TCP state of fd (TCP_SYN_SENT, TCP_CLOSE, ...), or -1. */
int shim_tcp_state(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof ti;

	if (REAL(getsockopt)(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0)
		return -1;
	return ti.tcpi_state;
}

bool shim_tcp_connecting(int fd)
{
	return shim_tcp_state(fd) == TCP_SYN_SENT;
}

/* One entry of /proc/net/tcp or tcp6. */
struct proc_sock {
	struct sockaddr_storage local, remote;
	socklen_t len;
	unsigned state;
	unsigned long uid, ino;
};

/* "ADDR:PORT" in hex as the kernel prints it (each 32-bit word of the
 * address in host order) into *sa. */
static bool proc_addr(const char *t, size_t n, bool v6, struct sockaddr_storage *sa)
{
	char word[9];
	int words = v6 ? 4 : 1;
	unsigned long port;

	if (n != (size_t)(8 * words + 5) || t[8 * words] != ':')
		return false;
	memset(sa, 0, sizeof *sa);
	port = strtoul(t + 8 * words + 1, NULL, 16);
	for (int w = 0; w < words; w++) {
		uint32_t x;

		memcpy(word, t + 8 * w, 8);
		word[8] = '\0';
		x = (uint32_t)strtoul(word, NULL, 16);
		if (v6)
			memcpy(((struct sockaddr_in6 *)sa)->sin6_addr.s6_addr + 4 * w, &x, sizeof x);
		else
			((struct sockaddr_in *)sa)->sin_addr.s_addr = x;
	}
	if (v6) {
		((struct sockaddr_in6 *)sa)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)port);
	} else {
		((struct sockaddr_in *)sa)->sin_family = AF_INET;
		((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)port);
	}
	return true;
}

/* One line: "sl local remote st queues timer retr uid timeout inode ...". */
static bool proc_line(const char *p, bool v6, struct proc_sock *e)
{
	for (int f = 0; f <= 9; f++) {
		const char *t;

		while (*p == ' ')
			p++;
		if (!*p)
			return false;
		for (t = p; *p && *p != ' '; p++)
			;
		if ((f == 1 && !proc_addr(t, (size_t)(p - t), v6, &e->local)) ||
		    (f == 2 && !proc_addr(t, (size_t)(p - t), v6, &e->remote)))
			return false;
		if (f == 3)
			e->state = (unsigned)strtoul(t, NULL, 16);
		else if (f == 7)
			e->uid = strtoul(t, NULL, 10);
		else if (f == 9)
			e->ino = strtoul(t, NULL, 10);
	}
	e->len = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	return true;
}

/* Every entry of the kernel's TCP tables of this network namespace until
 * fn says true; read with open/read on a stack buffer: no allocation, as a
 * classification may run in a signal handler.  true when fn did; -1 when
 * neither table could be opened. */
static int proc_scan(bool (*fn)(const struct proc_sock *, void *), void *arg)
{
	static const char *const files[2] = { "/proc/self/net/tcp", "/proc/self/net/tcp6" };
	int opened = 0;

	for (int i = 0; i < 2; i++) {
		char buf[4096];
		size_t have = 0;
		bool found = false;
		/* (high at once: at the lowest free number, another thread's
		 * dup2() onto it made the program's data the table) */
		int fd = shim_own_move(REAL(open)(files[i], O_RDONLY | O_CLOEXEC));

		if (fd < 0)
			continue;
		opened++;
		while (!found) {
			char *line = buf, *nl;
			ssize_t r = REAL(read)(fd, buf + have, sizeof buf - 1 - have);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;          /* the kernel ends every line with a newline */
			have += (size_t)r;
			while (!found && (nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
				struct proc_sock e;

				*nl = '\0';
				found = proc_line(line, i == 1, &e) && fn(&e, arg);
				line = nl + 1;
			}
			have -= (size_t)(line - buf);
			memmove(buf, line, have);
			if (have == sizeof buf - 1)
				have = 0;       /* no line is that long: drop it */
		}
		REAL(close)(fd);
		if (found)
			return 1;
	}
	return opened ? 0 : -1;
}

struct by_inode {
	unsigned long ino;
	struct sockaddr_storage *peer;
	socklen_t *pl;
};

static bool is_inode(const struct proc_sock *e, void *arg)
{
	struct by_inode *b = arg;

	if (!e->ino || e->ino != b->ino || !((struct sockaddr_in *)&e->remote)->sin_port)
		return false;
	*b->peer = e->remote;
	*b->pl = e->len;
	return true;
}

/* The destination of a socket whose connect() is still in progress
 * (TCP_SYN_SENT: getpeername() says ENOTCONN until the handshake is
 * done), by its inode.  False when it is not found (no /proc).  An MPTCP
 * socket's subflows are listed under the socket's own inode (the kernel
 * gives them its inode number), the first one with the destination. */
bool shim_connecting_peer(unsigned long ino, struct sockaddr_storage *peer, socklen_t *pl)
{
	struct by_inode b = { ino, peer, pl };

	return proc_scan(is_inode, &b) == 1;
}

/* Is a socket listening on local's port, at local's address or at the
 * wildcard of its family?  (A connected socket of unknown origin with
 * one: accepted there, most likely.)  1, 0, or -1 when it cannot be told. */
static bool is_listener(const struct proc_sock *e, void *arg)
{
	const struct sockaddr_storage *l = arg;
	static const unsigned char zero[16];

	if (e->state != 0x0A /* TCP_LISTEN */ || e->local.ss_family != l->ss_family)
		return false;
	if (l->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)&e->local, *b = (const void *)l;
		return a->sin_port == b->sin_port &&
		       (!a->sin_addr.s_addr || a->sin_addr.s_addr == b->sin_addr.s_addr);
	} else {
		const struct sockaddr_in6 *a = (const void *)&e->local, *b = (const void *)l;
		return a->sin6_port == b->sin6_port &&
		       (!memcmp(&a->sin6_addr, zero, 16) || !memcmp(&a->sin6_addr, &b->sin6_addr, 16));
	}
}

int shim_port_listening(const struct sockaddr_storage *local)
{
	if (local->ss_family != AF_INET && local->ss_family != AF_INET6)
		return 0;
	return proc_scan(is_listener, (void *)(uintptr_t)local);
}

/* A pump's channel (IPv4 local and peer, both in 127.254.0.0/16)?  No
 * socket listens on its local port (the pump's listener is closed once
 * the channel is made), and the socket at its other end (local and
 * remote swapped) belongs to this process's real or effective user, or
 * to root: the pump's end was made by the process that made this one.
 * A channel still being connected (connecting: pump.c, pending_channel)
 * has no other end yet: the pump's listener at its peer's very address
 * is that end, by the same rule of users.
 * An address in that range proves nothing, as any local process can
 * bind one; another user's socket there is a client, not a pump.  False
 * when the kernel's tables cannot be read. */
struct chan_look {
	const struct sockaddr_storage *local;
	const struct sockaddr_in *l4, *p4;
	bool listener, found, connecting;
	unsigned long uid;
};

static bool same_ep(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

static bool chan_entry(const struct proc_sock *e, void *arg)
{
	struct chan_look *c = arg;

	if (is_listener(e, (void *)(uintptr_t)c->local)) {
		c->listener = true;
		return true;
	}
	if (e->local.ss_family == AF_INET && same_ep((const void *)&e->local, c->p4) &&
	    (e->state == 0x0A /* TCP_LISTEN */ ? c->connecting : same_ep((const void *)&e->remote, c->l4))) {
		c->found = true;
		c->uid = e->uid;
	}
	return false;
}

bool shim_pump_channel(const struct sockaddr_storage *local, const struct sockaddr_storage *peer,
		       bool connecting)
{
	struct chan_look c = { local, (const void *)local, (const void *)peer, false, false, connecting, 0 };

	if (local->ss_family != AF_INET || peer->ss_family != AF_INET || proc_scan(chan_entry, &c) != 0 ||
	    c.listener || !c.found)
		return false;
	return c.uid == getuid() || c.uid == geteuid() || c.uid == 0;
}

/* Set once the program has set a send or receive time-out on any socket
 * (SO_RCVTIMEO, SO_SNDTIMEO, old and new forms): until then a socket whose
 * whole history this process saw (shim_sock_whole; an accepted one takes
 * its listener's, made here too) has none, and its session's first wait
 * needs no getsockopt to know it (one a connection that waits, at each
 * end: bench/README.md, "The resumed rows with both ends shimmed,
 * counted"). */
bool shim_timeo_set;

/* The socket's SO_RCVTIMEO/SO_SNDTIMEO in ms, or -1 for none: the
 * session's copy, read from the kernel once and again after the program
 * sets a socket option (setsockopt below): one system call less per wait.
 * The copy is noted only if no setsockopt forgot it since this read it
 * unknown (its generation): a wait that saw "none" before another
 * thread's setsockopt(SO_RCVTIMEO) stored it after that call's forget,
 * and every read after waited for ever (tests/preload/timeo_ask.sh,
 * timeo_set_mid_wait).  Not noted, it is read again. */
int shim_conn_timeout_ms(struct tls_conn *c, int fd, int opt)
{
	bool snd = opt == SO_SNDTIMEO;
	unsigned gen;
	int ms;

	while ((ms = tls_conn_sock_timeout(c, snd, &gen)) == TLS_TIMEO_UNKNOWN) {
		if (!__atomic_load_n(&shim_timeo_set, __ATOMIC_ACQUIRE) && shim_sock_whole(fd))
			ms = -1;
		else
			ms = shim_sock_timeout_ms(fd, opt);
		if (tls_conn_note_sock_timeout(c, snd, gen, ms))
			break;
	}
	return ms;
}

/* Any socket-level option set on a TLS fd may be a timeout (SO_RCVTIMEO,
 * its _OLD and _NEW forms, SO_SNDTIMEO): forget the session's copy.
 * SO_RCVLOWAT on a TLS fd is taken and not given to the kernel, which
 * would count ciphertext with it: the tail of a record below the mark
 * kept the library's wait asleep for ever, with the record's plain text
 * above it (shim_conn_new puts one set earlier back to 1, once the
 * program has set one on any socket: shim_lowat_set).  Plain text
 * is ready from its first byte, as libtlsshim(7) says. */
bool shim_lowat_set;

/* Set once the program has set SO_LINGER on any socket: until then the
 * close of a session on a socket whose whole history this process saw
 * (shim_sock_whole) needs no getsockopt to know it is not abortive. */
bool shim_linger_set;

/* A socket this process did not make (inherited at start-up, received
 * with SCM_RIGHTS or pidfd_getfd) may carry a mark another program set:
 * a listener's is inherited by every socket accept() makes from it.
 * shim_lowat_set was only set by this process's own setsockopt, so such a
 * mark stayed and the session's reads slept on it.  One getsockopt per
 * such descriptor, until a mark is seen. */
void shim_lowat_learn(int fd)
{
	int v = 0, keep = errno;
	socklen_t l = sizeof v;

	if (!__atomic_load_n(&shim_lowat_set, __ATOMIC_RELAXED) &&
	    REAL(getsockopt)(fd, SOL_SOCKET, SO_RCVLOWAT, &v, &l) == 0 && v > 1)
		__atomic_store_n(&shim_lowat_set, true, __ATOMIC_RELAXED);
	errno = keep;
}

/* SO_LINGER {1, 0} on a number whose session went to a pump: the option
 * is on the program's end of the pump's channel, which the pump does not
 * see; a close of it tells the pump no graceful end (pump.c, markers), so
 * the session ends without close_notify (a truncation for the peer), but
 * with a FIN, not the reset asked for (pump.c sees the option only on the
 * TCP socket, set before the hand-over).  Said, not hidden.  Not on an end the library armed (pump.c, "a death
 * is not a close"): the pump reads its reset, and the option is the
 * program's from now on. */
static void pumped_linger(int fd, const void *val, socklen_t len)
{
	struct linger l;

	if (val && len >= sizeof l && conntab_load(fd) == CT_PUMPED && !shim_pump_linger_set(fd) &&
	    (memcpy(&l, val, sizeof l), l.l_onoff && !l.l_linger))
		log_warn("fd %d: SO_LINGER 0 set after its TLS session went to a pump process, which"
			 " does not see it: the session will end without close_notify but with a FIN,"
			 " not a reset (set it before the fork or exec)", fd);
}

/* ---- raw and packet sockets ------------------------------------------------
 * A program with CAP_NET_RAW (root, or a daemon that keeps it) can craft
 * its own TCP segments: a raw IPv4 or IPv6 socket of protocol TCP, or of
 * IPPROTO_RAW (an IP header of its own), any raw socket with IP_HDRINCL or
 * IPV6_HDRINCL, a packet socket (AF_PACKET, or AF_INET's old SOCK_PACKET:
 * whole frames, a PACKET_TX_RING, PACKET_QDISC_BYPASS) or an AF_XDP one.
 * Such segments to a TLS rule's port, or from a TLS listener's port into
 * an accepted connection's sequence space, carried the program's bytes in
 * clear past the kernel's TCP and so past the library (helper-168,
 * tests/preload/rawsock.sh).  Parsing what is sent (IPv4 options, IPv6
 * extension headers, VLAN tags, fragments, tunnels: the sender chooses the
 * framing) would be a guess; instead, while the policy has TLS rules,
 * such a socket is not made (EPERM, a warn line), IP_HDRINCL is not turned
 * on, and one that arrives from elsewhere (inherited, SCM_RIGHTS,
 * pidfd_getfd) is replaced by a dead socket (shim/classify.c), unless the
 * policy says raw_sockets = "allow".  A raw socket of ICMP (IPv4) or
 * ICMPv6 (IPv6), ping's and traceroute -I's, sends only its protocol's
 * messages and is let through; so is every raw socket under a policy
 * without TLS rules. */
#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef IPV6_HDRINCL
#define IPV6_HDRINCL 36
#endif

/* Whether raw and packet sockets are refused now. */
bool shim_raw_guarded(void)
{
	return shim_has_tls_rules() && !shim_policy->raw_sockets_allowed;
}

/* What a socket of (domain, type, proto) is, in words, when it can send
 * TCP segments of its own: into buf, and buf returned; else NULL. */
static const char *raw_kind(int domain, int type, int proto, char *buf, size_t n)
{
	type &= 0xf;
	if (domain == AF_PACKET || type == SOCK_PACKET)
		snprintf(buf, n, "a packet socket (%s)", type == SOCK_PACKET ? "SOCK_PACKET" :
			 type == SOCK_DGRAM ? "AF_PACKET, SOCK_DGRAM" : "AF_PACKET, SOCK_RAW");
	else if (domain == AF_XDP)
		snprintf(buf, n, "an AF_XDP socket");
	else if ((domain == AF_INET || domain == AF_INET6) && type == SOCK_RAW &&
		 proto != (domain == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6))
		snprintf(buf, n, "a raw %s socket of protocol %d", domain == AF_INET ? "IPv4" : "IPv6", proto);
	else
		return NULL;
	return buf;
}

/* socket(domain, type, proto): -EPERM, logged, when it would make a
 * socket that sends TCP segments of its own while they are refused; else 0. */
int shim_raw_socket_refused(int domain, int type, int proto)
{
	char buf[80];
	const char *kind;

	if (__builtin_expect(domain != AF_PACKET && domain != AF_XDP && (type & 0xf) != SOCK_RAW &&
			     (type & 0xf) != SOCK_PACKET, 1) ||
	    !(kind = raw_kind(domain, type, proto, buf, sizeof buf)) || !shim_raw_guarded())
		return 0;
	log_warn("socket: %s refused (EPERM) while the policy has TLS rules: its packets would carry"
		 " the program's bytes past the library (raw_sockets = \"allow\" in the policy permits it)", kind);
	return -EPERM;
}

/* setsockopt(level, opt, val, len): -EPERM, logged, when it turns on
 * IP_HDRINCL or IPV6_HDRINCL (an IP header of the program's own, of any
 * protocol, on a raw ICMP socket) while raw sockets are refused; else 0. */
static int hdrincl_refused(int level, int opt, const void *val, socklen_t len)
{
	int on = 0;

	if (!((level == IPPROTO_IP && opt == IP_HDRINCL) || (level == IPPROTO_IPV6 && opt == IPV6_HDRINCL)) ||
	    !val || !len)
		return 0;
	if (len >= sizeof on)
		memcpy(&on, val, sizeof on);
	else
		on = *(const unsigned char *)val;
	if (!on || !shim_raw_guarded())
		return 0;
	log_warn("setsockopt: %s refused (EPERM) while the policy has TLS rules: a raw socket's own IP"
		 " header may say TCP (raw_sockets = \"allow\" in the policy permits it)",
		 level == IPPROTO_IP ? "IP_HDRINCL" : "IPV6_HDRINCL");
	return -EPERM;
}

/* fd (a socket not made through this library, whose SO_TYPE the kernel
 * said is type: shim_sock_tcp_type) in words when it can send TCP
 * segments of its own while they are refused: into buf, and buf
 * returned; else NULL.  A question the kernel does not answer: NULL. */
const char *shim_raw_fd_refused(int fd, int type, char *buf, size_t n)
{
	int dom = AF_UNSPEC, proto = 0, on = 0;
	socklen_t l = sizeof dom;

	if (!shim_raw_guarded() || (type != SOCK_RAW && type != SOCK_DGRAM && type != SOCK_PACKET))
		return NULL;
	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) < 0 ||
	    (dom != AF_PACKET && dom != AF_XDP && type != SOCK_RAW && type != SOCK_PACKET))
		return NULL;
	if ((proto = shim_sock_protocol(fd)) < 0)
		proto = -1;     /* (unknown: not ICMP's, so refused) */
	if (raw_kind(dom, type, proto, buf, n))
		return buf;
	if (dom != AF_INET && dom != AF_INET6)
		return NULL;
	l = sizeof on;
	if (REAL(getsockopt)(fd, dom == AF_INET ? IPPROTO_IP : IPPROTO_IPV6,
			     dom == AF_INET ? IP_HDRINCL : IPV6_HDRINCL, &on, &l) < 0 || !on)
		return NULL;
	snprintf(buf, n, "a raw %s socket with %s on", dom == AF_INET ? "ICMP" : "ICMPv6",
		 dom == AF_INET ? "IP_HDRINCL" : "IPV6_HDRINCL");
	return buf;
}

/* An option refused on a TLS fd (named what): -EOPNOTSUPP and a log
 * line; 0 on any other fd.
 *  - TCP_ULP ("tls", "espintcp", any upper layer) and SOL_TLS's options
 *    (TLS_TX, TLS_RX: the program's own kTLS): the kernel's layer would
 *    sit under the library's records, framing or transforming them, and
 *    getsockopt(SOL_TLS) of a session whose keys the library gave the
 *    kernel (ktls = true) hands those keys to the program. */
int shim_sockopt_refused(int fd, const char *what)
{
	struct tls_conn *c = conntab_get(fd);

	if (!c)
		return 0;
	log_warn("%s rule \"%s\": %s is not available on a TLS connection; refused (EOPNOTSUPP)",
		 tls_conn_peer(c), tls_conn_label(c), what);
	tls_conn_unref(c);
	return -EOPNOTSUPP;
}

SHIM_EXPORT int setsockopt(int fd, int level, int opt, const void *val, socklen_t len)
{
	struct tls_conn *c;
	int r, off;

	/* A negative optlen (an int to the kernel) is refused EINVAL by the
	 * kernel before any level or option is looked at, and nothing is set:
	 * the options the library answers itself (SO_RCVLOWAT on a TLS fd,
	 * below: 0; SO_PEEK_OFF, SO_ZEROCOPY, TCP_ULP, SOL_TLS: EOPNOTSUPP)
	 * took it for a socklen_t of 4 GiB.  The kernel answers it (EBADF,
	 * ENOTSOCK and EINVAL in its order). */
	if (__builtin_expect((int)len < 0, 0))
		return REAL(setsockopt)(fd, level, opt, val, len);

	/* SO_PEEK_OFF would count ciphertext (shim_tls_recv's peek): refused
	 * on a TLS fd as TCP refused it before Linux 6.10; turning it off
	 * (a negative value) is let through.  SO_ZEROCOPY: the engine copies,
	 * and no completion would ever come for the program's MSG_ZEROCOPY
	 * sends (shim_tls_send): refused as on a socket without zerocopy, so
	 * the program copies too; turning it off (0) is let through. */
	if (__builtin_expect(level == SOL_SOCKET && (opt == SO_PEEK_OFF || opt == SO_ZEROCOPY), 0) &&
	    val && len >= sizeof off && (memcpy(&off, val, sizeof off), opt == SO_PEEK_OFF ? off >= 0 : off != 0) &&
	    (r = shim_sockopt_refused(fd, opt == SO_PEEK_OFF ? "SO_PEEK_OFF" : "SO_ZEROCOPY")) < 0)
		SHIM_RET(r);
	if (__builtin_expect(level == SOL_TLS || (level == IPPROTO_TCP && opt == TCP_ULP), 0) &&
	    (r = shim_sockopt_refused(fd, level == SOL_TLS ? "setsockopt(SOL_TLS)" : "TCP_ULP")) < 0)
		SHIM_RET(r);

	if (__builtin_expect(level == IPPROTO_IP || level == IPPROTO_IPV6, 0) &&
	    (r = hdrincl_refused(level, opt, val, len)) < 0)
		SHIM_RET(r);
	/* sctp_connectx(): peers without connect() (shim/connect.c). */
	if (__builtin_expect(level == 132 /* SOL_SCTP */, 0) && (r = shim_sctp_sockopt(fd, opt, val, len)) < 0)
		SHIM_RET(r);
	if (level == SOL_SOCKET && opt == SO_RCVLOWAT) {
		if ((c = conntab_get(fd))) {
			tls_conn_unref(c);
			if (!val || len < sizeof(int)) {
				errno = val ? EINVAL : EFAULT;
				return -1;
			}
			return 0;
		}
		__atomic_store_n(&shim_lowat_set, true, __ATOMIC_RELAXED);
	}
	/* Before the option is on: a close racing with it asks the socket. */
	if (level == SOL_SOCKET && opt == SO_LINGER)
		__atomic_store_n(&shim_linger_set, true, __ATOMIC_RELAXED);
	/* (so too a wait racing with it) */
	if (level == SOL_SOCKET && (opt == SO_RCVTIMEO_OLD || opt == SO_RCVTIMEO_NEW ||
				    opt == SO_SNDTIMEO_OLD || opt == SO_SNDTIMEO_NEW))
		__atomic_store_n(&shim_timeo_set, true, __ATOMIC_RELAXED);
	r = REAL(setsockopt)(fd, level, opt, val, len);
	if (r == 0 && level == SOL_SOCKET && opt == SO_LINGER)
		pumped_linger(fd, val, len);
	if (r == 0 && level == IPPROTO_TCP && opt == TCP_INQ)
		__atomic_store_n(&shim_inq_set, true, __ATOMIC_RELAXED);
	if (r == 0 && level == SOL_SOCKET && (c = conntab_get(fd))) {
		tls_conn_forget_sock_timeout(c);
		/* Receive time stamps: none on a TLS fd (shim/msg.c). */
		if ((opt == SO_TIMESTAMP_OLD || opt == SO_TIMESTAMPNS_OLD || opt == SO_TIMESTAMPING_OLD ||
		     opt == SO_TIMESTAMP_NEW || opt == SO_TIMESTAMPNS_NEW || opt == SO_TIMESTAMPING_NEW) &&
		    val && len >= sizeof off && (memcpy(&off, val, sizeof off), off != 0) &&
		    ((opt != SO_TIMESTAMPING_OLD && opt != SO_TIMESTAMPING_NEW) ||
		     (off & (SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_RX_HARDWARE)) != 0))
			log_info("%s rule \"%s\": recvmsg gives no receive time stamps on a TLS connection"
				 " (the kernel's are the ciphertext's), whatever SO_TIMESTAMP* says",
				 tls_conn_peer(c), tls_conn_label(c));
		tls_conn_unref(c);
	}
	return r;
}

/* The socket's SO_RCVTIMEO/SO_SNDTIMEO in ms, or -1 for none. */
int shim_sock_timeout_ms(int fd, int opt)
{
	struct timeval tv;
	socklen_t l = sizeof tv;

	int64_t ms;

	if (REAL(getsockopt)(fd, SOL_SOCKET, opt, &tv, &l) < 0 || (!tv.tv_sec && !tv.tv_usec))
		return -1;
	/* A time-out past INT_MAX ms (24.8 days) is taken as that much: the
	 * int wrapped (4,294,968 s came out as 704 ms, 30 days as none). */
	ms = (int64_t)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

