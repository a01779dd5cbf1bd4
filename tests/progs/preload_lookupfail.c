/* preload_lookupfail.so — a test-only fault injector: the questions the
 * library asks of a socket accept() just made fail.
 *
 *   LD_PRELOAD="libtlsshim.so preload_lookupfail.so" \
 *       TLSSHIM_TEST_LOOKUPFAIL=getsockname|protocol prog
 *
 * Loaded AFTER the library, so that the library's own dlsym(RTLD_NEXT)
 * finds these wrappers.  On a connected socket (getpeername answers),
 * getsockname() fails with ENOBUFS ("getsockname"), or getsockopt's
 * SO_PROTOCOL does ("protocol"); every other call goes to the C library.
 * What a kernel short of memory would do; the library must then refuse
 * the connection rather than hand it to the program as plain TCP.
 *   TLSSHIM_TEST_LOOKUPFAIL=protocol=N: SO_PROTOCOL of every TCP socket
 * answers N instead (256: IPPROTO_SMC, 132: SCTP), connected or not: a
 * kernel without SMC or SCTP cannot make such a socket, and the library
 * must still class it (it carries TCP here, so the wire shows what the
 * library made of it).  Knows nothing about TLS.
 *   ...,type=M (protocol=33,type=6: DCCP; protocol=132,type=5: SCTP's
 * one-to-many style): SO_TYPE of such a socket answers M as well.
 * With N other than 256 or 262, TCP's own options (level IPPROTO_TCP:
 * TCP_INFO...) fail with ENOPROTOOPT on such a socket, as on SCTP or DCCP.
 *   ...,assoc: the socket gets a peer without connect(), as an SCTP one
 * does: sendto()/sendmsg()/sendmmsg() with a destination on an unconnected socket,
 * and setsockopt(SOL_SCTP, SCTP_SOCKOPT_CONNECTX) or getsockopt(SOL_SCTP,
 * SCTP_SOCKOPT_CONNECTX3) (sctp_connectx(3)), connect it first (the C
 * library's connect(), past the library under test), and recvfrom()/
 * recvmsg() name the peer as the source (TCP names none).
 *   ...,socket: socket(AF_INET or AF_INET6, SOCK_SEQPACKET or SOCK_DCCP,
 * a protocol; or SOCK_STREAM, 132) makes a TCP socket instead.
 *   ...,peeloff=PORT: getsockopt(SOL_SCTP, SCTP_SOCKOPT_PEELOFF) on any
 * socket answers with a new descriptor (at the lowest free number, as the
 * kernel's) of an association to 127.0.0.1:PORT: a TCP socket connected
 * there, past the library under test.
 */
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/socket.h>

static int connected(int fd)
{
	static int (*gpn)(int, struct sockaddr *, socklen_t *);
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;

	if (!gpn)
		gpn = (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "getpeername");
	return gpn && gpn(fd, (struct sockaddr *)&ss, &l) == 0;
}

static int mode(const char *m)
{
	const char *v = getenv("TLSSHIM_TEST_LOOKUPFAIL");

	return v && strcmp(v, m) == 0;
}

/* The N of ",key=N" in TLSSHIM_TEST_LOOKUPFAIL (protocol=...), or -1;
 * ",key" alone: 1. */
static int opt_of(const char *key)
{
	const char *v = getenv("TLSSHIM_TEST_LOOKUPFAIL"), *at;
	size_t k = strlen(key);

	if (!v || strncmp(v, "protocol=", 9) != 0)
		return -1;
	for (at = strchr(v, ','); at; at = strchr(at + 1, ','))
		if (strncmp(at + 1, key, k) == 0 && (at[1 + k] == '=' || at[1 + k] == ',' || !at[1 + k]))
			return at[1 + k] == '=' ? atoi(at + 2 + k) : 1;
	return -1;
}

#define NEXT(name) static __typeof__(&name) next_##name; \
	if (!next_##name) next_##name = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

/* ",assoc": fd is not connected and sa names a peer: connect to it now.
 * 0, or -1 with errno; 1 for a socket that is not SOCK_STREAM (a UDP
 * one: left alone, its destination kept). */
static int assoc(int fd, const struct sockaddr *sa, socklen_t l)
{
	int type = 0;
	socklen_t tl = sizeof type;

	NEXT(connect);
	NEXT(getsockopt);
	if (next_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type != SOCK_STREAM)
		return 1;
	if (opt_of("assoc") != 1 || !sa || l < sizeof(sa_family_t) || connected(fd))
		return 0;
	return next_connect(fd, sa, l);
}

int socket(int dom, int type, int proto)
{
	NEXT(socket);
	if (opt_of("socket") == 1 && (dom == AF_INET || dom == AF_INET6) && proto &&
	    ((type & 0xf) == SOCK_SEQPACKET || (type & 0xf) == 6 /* SOCK_DCCP */ ||
	     ((type & 0xf) == SOCK_STREAM && proto == 132)))
		return next_socket(dom, (type & ~0xf) | SOCK_STREAM, 0);
	return next_socket(dom, type, proto);
}

ssize_t sendto(int fd, const void *b, size_t n, int fl, const struct sockaddr *sa, socklen_t l)
{
	NEXT(sendto);
	if (opt_of("assoc") == 1 && sa) {
		int r = assoc(fd, sa, l);

		if (r < 0)
			return -1;
		if (r == 0) {
			sa = NULL;
			l = 0;
		}
	}
	return next_sendto(fd, b, n, fl, sa, l);
}

static ssize_t own_sendmsg(int fd, const struct msghdr *m, int fl)
{
	NEXT(sendmsg);
	if (opt_of("assoc") == 1 && m && m->msg_name) {
		struct msghdr c = *m;
		int r = assoc(fd, m->msg_name, m->msg_namelen);

		if (r < 0)
			return -1;
		if (r > 0)
			return next_sendmsg(fd, m, fl);
		c.msg_name = NULL;
		c.msg_namelen = 0;
		c.msg_control = NULL;           /* (SCTP's: no meaning to TCP) */
		c.msg_controllen = 0;
		return next_sendmsg(fd, &c, fl);
	}
	return next_sendmsg(fd, m, fl);
}

ssize_t sendmsg(int fd, const struct msghdr *m, int fl)
{
	return own_sendmsg(fd, m, fl);
}

int sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int fl)
{
	NEXT(sendmmsg);
	if (opt_of("assoc") == 1 && v && n && v[0].msg_hdr.msg_name) {
		/* (one message, as the test sends) */
		ssize_t r = own_sendmsg(fd, &v[0].msg_hdr, fl);

		if (r < 0)
			return -1;
		v[0].msg_len = (unsigned int)r;
		return 1;
	}
	return next_sendmmsg(fd, v, n, fl);
}

/* The peer as the source, where the kernel named none (TCP). */
static void name_source(int fd, struct sockaddr *a, socklen_t *l, socklen_t room)
{
	static int (*gpn)(int, struct sockaddr *, socklen_t *);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;

	if (opt_of("assoc") != 1 || !a || !l || *l)
		return;
	if (!gpn)
		gpn = (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "getpeername");
	if (gpn(fd, (struct sockaddr *)&ss, &sl) == 0) {
		memcpy(a, &ss, sl < room ? sl : room);
		*l = sl;
	}
}

ssize_t recvfrom(int fd, void *b, size_t n, int fl, struct sockaddr *a, socklen_t *l)
{
	socklen_t room = a && l ? *l : 0;
	ssize_t r;

	NEXT(recvfrom);
	r = next_recvfrom(fd, b, n, fl, a, l);
	if (r >= 0)
		name_source(fd, a, l, room);
	return r;
}

ssize_t recvmsg(int fd, struct msghdr *m, int fl)
{
	socklen_t room = m && m->msg_name ? m->msg_namelen : 0;
	ssize_t r;

	NEXT(recvmsg);
	r = next_recvmsg(fd, m, fl);
	if (r >= 0 && room)
		name_source(fd, m->msg_name, &m->msg_namelen, room);
	return r;
}

/* sctp_connectx's packed list: connect to its first address. */
static int connectx(int fd, const void *addrs, size_t len)
{
	struct sockaddr_storage ss;
	sa_family_t fam;
	size_t one;

	if (len < sizeof fam)
		return errno = EINVAL, -1;
	memcpy(&fam, addrs, sizeof fam);
	one = fam == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	if (len < one)
		return errno = EINVAL, -1;
	memcpy(&ss, addrs, one);
	return assoc(fd, (struct sockaddr *)&ss, (socklen_t)one);
}

int setsockopt(int fd, int level, int opt, const void *v, socklen_t l)
{
	NEXT(setsockopt);
	if (level == 132 && (opt == 110 || opt == 107) && opt_of("assoc") == 1)
		return connectx(fd, v, l) < 0 ? -1 : 1;      /* the association's id */
	return next_setsockopt(fd, level, opt, v, l);
}

int getsockname(int fd, struct sockaddr *a, socklen_t *l)
{
	static int (*next)(int, struct sockaddr *, socklen_t *);

	if (mode("getsockname") && connected(fd)) {
		errno = ENOBUFS;
		return -1;
	}
	if (!next)
		next = (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "getsockname");
	return next(fd, a, l);
}

int getsockopt(int fd, int level, int opt, void *v, socklen_t *l)
{
	static int (*next)(int, int, int, void *, socklen_t *);

	const char *as = getenv("TLSSHIM_TEST_LOOKUPFAIL");
	int r;

	if (level == SOL_SOCKET && opt == SO_PROTOCOL && mode("protocol") && connected(fd)) {
		errno = ENOBUFS;
		return -1;
	}
	if (level == 132 && opt == 111 && opt_of("assoc") == 1 && v && l) {
		struct { int32_t assoc_id; int addr_num; const void *addrs; } p;   /* sctp_getaddrs_old */

		memcpy(&p, v, sizeof p);
		return connectx(fd, p.addrs, (size_t)p.addr_num) < 0 ? -1 : 0;
	}
	if (level == 132 && opt == 102 /* SCTP_SOCKOPT_PEELOFF */ && opt_of("peeloff") > 0 && v && l &&
	    *l >= 2 * sizeof(int)) {
		struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt_of("peeloff")),
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int sd;

		NEXT(socket);
		NEXT(connect);
		if ((sd = next_socket(AF_INET, SOCK_STREAM, 0)) < 0)
			return -1;
		if (next_connect(sd, (struct sockaddr *)&to, sizeof to) < 0)
			return -1;
		memcpy((char *)v + sizeof(int), &sd, sizeof sd);     /* sctp_peeloff_arg_t.sd */
		return 0;
	}
	if (!next)
		next = (int (*)(int, int, int, void *, socklen_t *))dlsym(RTLD_NEXT, "getsockopt");
	if (level == 6 /* IPPROTO_TCP */ && as && strncmp(as, "protocol=", 9) == 0 && atoi(as + 9) != 256 &&
	    atoi(as + 9) != 262) {
		/* SCTP's and DCCP's answer to TCP's options (TCP_INFO...): SMC
		 * hands them to its TCP socket, MPTCP answers them */
		int p = 0;
		socklen_t pl = sizeof p;

		if (next(fd, SOL_SOCKET, SO_PROTOCOL, &p, &pl) == 0 && p == 6) {
			errno = ENOPROTOOPT;
			return -1;
		}
	}
	r = next(fd, level, opt, v, l);
	if (r == 0 && level == SOL_SOCKET && opt == SO_TYPE && opt_of("type") > 0 && v && l &&
	    *l >= sizeof(int) && *(int *)v == SOCK_STREAM) {
		int p = 0;
		socklen_t pl = sizeof p;

		if (next(fd, SOL_SOCKET, SO_PROTOCOL, &p, &pl) == 0 && p == 6)
			*(int *)v = opt_of("type");
	}
	if (r == 0 && level == SOL_SOCKET && opt == SO_PROTOCOL && as && strncmp(as, "protocol=", 9) == 0 &&
	    v && l && *l >= sizeof(int) && *(int *)v == 6 /* IPPROTO_TCP */)
		*(int *)v = atoi(as + 9);
	return r;
}
