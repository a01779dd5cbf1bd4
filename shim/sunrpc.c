/* shim/sunrpc.c — the C library's own Sun RPC over TCP.
 *
 * clnttcp_create, clnt_create("tcp"), svctcp_create and svcfd_create are
 * compatibility symbols of glibc (programs linked before 2.32 call them;
 * newer ones use libtirpc, which calls the C library's functions like
 * any program).  They connect, accept, read and write with the C
 * library's internal calls, past every wrapper: a call to a port a tls
 * rule names went out in clear, and a service on a port a tls accept
 * rule names answered in clear.  Making a transport sends no byte (the
 * client's first bytes go with clnt_call, the service's after
 * svc_getreqset accepted), so each is judged once made: where a tls or
 * deny rule names it, it is destroyed, the call returns NULL with
 * rpc_createerr RPC_SYSTEMERROR and errno ECONNREFUSED, and a warn line
 * says why.  svcfd_create on a descriptor the library serves (TLS,
 * refused) is refused before it is made.  A TCP client made for port 0
 * (clnt_create, clnttcp_create), pmap_getport and getrpcport with
 * IPPROTO_TCP, and pmap_getmaps first ask the host's portmapper over
 * TCP, port 111, and rtime without a timeout its time server (TCP port
 * 37), with the same internal calls: refused before that where a tls or
 * deny rule names it.  clnt_create, getrpcport and callrpc look the host's name
 * up inside the C library (its internal gethostbyname_r), past every
 * wrapper: checked and lent RES_IGNTC as gethostbyname is (dnsres.c), or
 * a truncated answer from a TLS-ruled name server of /etc/resolv.conf
 * was asked again over TCP in clear.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "shim/shim.h"

/* glibc's <rpc/clnt.h> and <rpc/svc.h>, as far as they are used. */
struct rpc_client;
struct rpc_client_ops {
	void *call, *abort, *geterr, *freeres;
	void (*destroy)(struct rpc_client *);
	int (*control)(struct rpc_client *, unsigned int, char *);
};
struct rpc_client {
	void *auth;
	const struct rpc_client_ops *ops;
	void *priv;
};
struct rpc_xprt;
struct rpc_xprt_ops {
	void *recv, *stat, *getargs, *reply, *freeargs;
	void (*destroy)(struct rpc_xprt *);
};
struct rpc_xprt {
	int sock;
	unsigned short port;
	const struct rpc_xprt_ops *ops;
};
struct rpc_createerr {
	int stat;
	struct {
		int status;
		union {
			int err;
			long pad[2];
		} u;
	} error;
};
#define RPC_SYSTEMERROR 12
#define CLGET_FD 6
#define PMAP_PORT 111
#define TIME_PORT 37

static void rpc_refuse(void)
{
	struct rpc_createerr *(*ce)(void) = (struct rpc_createerr *(*)(void))shim_compat_next("__rpc_thread_createerr");
	struct rpc_createerr *e = ce ? ce() : NULL;

	if (e) {
		e->stat = RPC_SYSTEMERROR;
		e->error.status = RPC_SYSTEMERROR;
		e->error.u.err = ECONNREFUSED;
	}
	errno = ECONNREFUSED;
}

/* A client's socket, a connected stream (clnt_create's protocol is a
 * name from /etc/protocols: "TCP", tcp's alias, made a TCP transport as
 * "tcp" does; so each client is judged by its socket): does a tls or
 * deny connect rule name its peer?  Then the client is destroyed (true). */
static bool client_refused(struct rpc_client *cl, const char *what)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss, tl;
	struct shim_verdict v;
	int fd = -1, type = 0;

	if (!cl || !shim_policy || !cl->ops->control(cl, CLGET_FD, (char *)&fd) || fd < 0 ||
	    (tl = sizeof type, REAL(getsockopt)(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0) || type != SOCK_STREAM ||
	    REAL(getpeername)(fd, (struct sockaddr *)&ss, &l) < 0 ||
	    !shim_resolve_connect(-1, (struct sockaddr *)&ss, l, &v, NULL) || v.rule->action == POLICY_PLAIN)
		return false;
	log_warn("%s rule \"%s\": %s() (the C library's Sun RPC) reads and writes inside the C"
		 " library, past the TLS layer; refused", v.desc, v.rule->name, what);
	cl->ops->destroy(cl);
	rpc_refuse();
	return true;
}

/* The server at port of a (the portmapper's 111, the time server's 37,
 * whom), asked over TCP by the C library's own calls before any
 * transport is made (pmap_getport with IPPROTO_TCP: a TCP client made
 * for port 0, getrpcport; pmap_getmaps; rtime without a timeout):
 * refused where a tls or deny connect rule names it (true;
 * rpc_createerr and errno as above).  The query and its answer went in
 * clear before, the answer to the program unauthenticated. */
static bool server_refused(const struct sockaddr_in *a, uint16_t port, const char *whom, const char *what)
{
	struct sockaddr_in to;
	struct shim_verdict v;

	if (!a || a->sin_family != AF_INET || !shim_policy || !policy_guards_port(shim_policy, POLICY_CONNECT, port))
		return false;
	to = *a;
	to.sin_port = htons(port);
	if (!shim_resolve_connect(-1, (struct sockaddr *)&to, sizeof to, &v, NULL) || v.rule->action == POLICY_PLAIN)
		return false;
	log_warn("%s rule \"%s\": %s() would ask this %s over TCP with the C library's own"
		 " calls, past the TLS layer; refused", v.desc, v.rule->name, what, whom);
	rpc_refuse();
	return true;
}

static bool pmap_refused(const struct sockaddr_in *a, const char *what)
{
	return server_refused(a, PMAP_PORT, "portmapper", what);
}

/* host's address as clnt_create() and getrpcport() take it (the first
 * IPv4 address of gethostbyname_r), asked only where a rule may cover
 * the portmapper; false: none (the C library's call fails as well). */
static bool pmap_host(const char *host, struct sockaddr_in *a)
{
	struct hostent h, *hp = NULL;
	char buf[1024];
	int herr;

	if (!host || !shim_policy || !policy_guards_port(shim_policy, POLICY_CONNECT, PMAP_PORT) ||
	    gethostbyname_r(host, &h, buf, sizeof buf, &hp, &herr) != 0 || !hp || hp->h_addrtype != AF_INET ||
	    hp->h_length != sizeof a->sin_addr || !hp->h_addr_list[0])
		return false;
	memset(a, 0, sizeof *a);
	a->sin_family = AF_INET;
	memcpy(&a->sin_addr, hp->h_addr_list[0], sizeof a->sin_addr);
	return true;
}

/* proto (a name of /etc/protocols) is TCP. */
static bool proto_tcp(const char *proto)
{
	struct protoent pe, *pp = NULL;
	char buf[1024];

	return proto && getprotobyname_r(proto, &pe, buf, sizeof buf, &pp) == 0 && pp && pp->p_proto == IPPROTO_TCP;
}

SHIM_EXPORT void *clnttcp_create(void *raddr, unsigned long prog, unsigned long vers, int *sockp,
				 unsigned int sendsz, unsigned int recvsz)
{
	void *(*next)(void *, unsigned long, unsigned long, int *, unsigned int, unsigned int) =
		(void *(*)(void *, unsigned long, unsigned long, int *, unsigned int, unsigned int))
		shim_compat_entry("clnttcp_create");
	struct rpc_client *cl;

	if (!next)
		return NULL;
	if (raddr && ((struct sockaddr_in *)raddr)->sin_port == 0 &&
	    pmap_refused((struct sockaddr_in *)raddr, "clnttcp_create"))
		return NULL;
	cl = next(raddr, prog, vers, sockp, sendsz, recvsz);
	return cl && client_refused(cl, "clnttcp_create") ? NULL : cl;
}

SHIM_EXPORT void *clnt_create(const char *host, unsigned long prog, unsigned long vers, const char *proto)
{
	void *(*next)(const char *, unsigned long, unsigned long, const char *) =
		(void *(*)(const char *, unsigned long, unsigned long, const char *))shim_compat_entry("clnt_create");
	struct rpc_client *cl;
	struct sockaddr_in a;

	if (!next)
		return NULL;
	if (proto_tcp(proto) && pmap_host(host, &a) && pmap_refused(&a, "clnt_create"))
		return NULL;
	if (shim_lookup_refused(host, "clnt_create")) {
		rpc_refuse();
		return NULL;
	}
	cl = SHIM_LOOKUP(next(host, prog, vers, proto));
	return cl && client_refused(cl, "clnt_create") ? NULL : cl;
}

/* The portmapper's answer for a program, asked over TCP for IPPROTO_TCP. */
SHIM_EXPORT unsigned short pmap_getport(struct sockaddr_in *addr, unsigned long prog, unsigned long vers,
					unsigned int proto)
{
	unsigned short (*next)(struct sockaddr_in *, unsigned long, unsigned long, unsigned int) =
		(unsigned short (*)(struct sockaddr_in *, unsigned long, unsigned long, unsigned int))
		shim_compat_entry("pmap_getport");

	if (!next)
		return 0;
	return proto == IPPROTO_TCP && pmap_refused(addr, "pmap_getport") ? 0 : next(addr, prog, vers, proto);
}

SHIM_EXPORT int getrpcport(const char *host, long prog, long vers, int proto)
{
	int (*next)(const char *, long, long, int) = (int (*)(const char *, long, long, int))shim_compat_entry("getrpcport");
	struct sockaddr_in a;

	if (!next)
		return 0;
	return (proto == IPPROTO_TCP && pmap_host(host, &a) && pmap_refused(&a, "getrpcport")) ||
	       shim_lookup_refused(host, "getrpcport") ? 0 : SHIM_LOOKUP(next(host, prog, vers, proto));
}

/* callrpc: the same look-up of its host, then a call over UDP (which no
 * connect rule covers); refused: RPC_SYSTEMERROR, errno ECONNREFUSED. */
SHIM_EXPORT int callrpc(const char *host, unsigned long prog, unsigned long vers, unsigned long proc, void *inproc,
			const char *in, void *outproc, char *out)
{
	int (*next)(const char *, unsigned long, unsigned long, unsigned long, void *, const char *, void *, char *) =
		(int (*)(const char *, unsigned long, unsigned long, unsigned long, void *, const char *, void *,
			 char *))shim_compat_entry("callrpc");

	if (!next)
		return RPC_SYSTEMERROR;
	return shim_lookup_refused(host, "callrpc") ? RPC_SYSTEMERROR :
	       SHIM_LOOKUP(next(host, prog, vers, proc, inproc, in, outproc, out));
}

/* A service's listening socket: does a tls or deny accept rule name its
 * port?  Then the transport is destroyed (true). */
static bool service_refused(struct rpc_xprt *x, const char *what)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;
	const struct policy_rule *rule;

	if (!x || !shim_policy || REAL(getsockname)(x->sock, (struct sockaddr *)&ss, &l) < 0 ||
	    (!(rule = shim_listener_rule(x->sock, &ss, l, false)) &&
	     !(rule = shim_listener_rule(x->sock, &ss, l, true))))
		return false;
	log_warn("port %u rule \"%s\": %s() (the C library's Sun RPC) accepts, reads and writes"
		 " inside the C library, past the TLS layer; refused", x->port, rule->name, what);
	x->ops->destroy(x);
	rpc_refuse();
	return true;
}

SHIM_EXPORT void *svctcp_create(int sock, unsigned int sendsz, unsigned int recvsz)
{
	void *(*next)(int, unsigned int, unsigned int) =
		(void *(*)(int, unsigned int, unsigned int))shim_compat_entry("svctcp_create");
	struct rpc_xprt *x;

	if (!next)
		return NULL;
	x = next(sock, sendsz, recvsz);
	return x && service_refused(x, "svctcp_create") ? NULL : x;
}

/* A connection the library serves (TLS, or refused) cannot be read and
 * written by the C library's internal calls. */
SHIM_EXPORT void *svcfd_create(int fd, unsigned int sendsz, unsigned int recvsz)
{
	void *(*next)(int, unsigned int, unsigned int) =
		(void *(*)(int, unsigned int, unsigned int))shim_compat_entry("svcfd_create");
	struct tls_conn *c;
	int r;

	if (!next)
		return NULL;
	r = shim_route(fd, &c);
	if (r == ROUTE_TLS) {
		log_warn("%s rule \"%s\": svcfd_create() (the C library's Sun RPC) reads and writes"
			 " inside the C library, past the TLS layer; refused", tls_conn_peer(c),
			 tls_conn_label(c));
		tls_conn_unref(c);
	}
	if (r != ROUTE_PASS) {
		rpc_refuse();
		return NULL;
	}
	return next(fd, sendsz, recvsz);
}

/* The portmapper's list of programs: asked over TCP, always. */
SHIM_EXPORT void *pmap_getmaps(struct sockaddr_in *addr)
{
	void *(*next)(struct sockaddr_in *) = (void *(*)(struct sockaddr_in *))shim_compat_entry("pmap_getmaps");

	if (!next)
		return NULL;
	return pmap_refused(addr, "pmap_getmaps") ? NULL : next(addr);
}

/* The time of a time server (port 37): over TCP without a timeout (the
 * 4 bytes read are the program's answer). */
SHIM_EXPORT int rtime(struct sockaddr_in *addr, void *tv, void *timeout)
{
	int (*next)(struct sockaddr_in *, void *, void *) =
		(int (*)(struct sockaddr_in *, void *, void *))shim_compat_entry("rtime");

	if (!next)
		return -1;
	return !timeout && server_refused(addr, TIME_PORT, "time server", "rtime") ? -1 : next(addr, tv, timeout);
}
