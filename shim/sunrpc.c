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
 * refused) is refused before it is made.
 */
#include <dlfcn.h>
#include <errno.h>
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

/* The C library's own: compatibility symbols, which dlsym() does not
 * find (x86_64's version, then aarch64's). */
static void *rpc_next(const char *name)
{
	void *f = dlvsym(RTLD_NEXT, name, "GLIBC_2.2.5");

	return f ? f : dlvsym(RTLD_NEXT, name, "GLIBC_2.17");
}

static void rpc_refuse(void)
{
	struct rpc_createerr *(*ce)(void) = (struct rpc_createerr *(*)(void))rpc_next("__rpc_thread_createerr");
	struct rpc_createerr *e = ce ? ce() : NULL;

	if (e) {
		e->stat = RPC_SYSTEMERROR;
		e->error.status = RPC_SYSTEMERROR;
		e->error.u.err = ECONNREFUSED;
	}
	errno = ECONNREFUSED;
}

/* A client's socket, connected: does a tls or deny connect rule name its
 * peer?  Then the client is destroyed (true). */
static bool client_refused(struct rpc_client *cl, const char *what)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;
	struct shim_verdict v;
	int fd = -1;

	if (!cl || !shim_policy || !cl->ops->control(cl, CLGET_FD, (char *)&fd) || fd < 0 ||
	    REAL(getpeername)(fd, (struct sockaddr *)&ss, &l) < 0 ||
	    !shim_resolve_connect(-1, (struct sockaddr *)&ss, l, &v, NULL) || v.rule->action == POLICY_PLAIN)
		return false;
	log_warn("%s rule \"%s\": %s() (the C library's Sun RPC) reads and writes inside the C"
		 " library, past the TLS layer; refused", v.desc, v.rule->name, what);
	cl->ops->destroy(cl);
	rpc_refuse();
	return true;
}

SHIM_EXPORT void *clnttcp_create(void *raddr, unsigned long prog, unsigned long vers, int *sockp,
				 unsigned int sendsz, unsigned int recvsz)
{
	void *(*next)(void *, unsigned long, unsigned long, int *, unsigned int, unsigned int) =
		(void *(*)(void *, unsigned long, unsigned long, int *, unsigned int, unsigned int))
		rpc_next("clnttcp_create");
	struct rpc_client *cl;

	shim_ensure_init();
	if (!next) {
		errno = ENOSYS;
		return NULL;
	}
	cl = next(raddr, prog, vers, sockp, sendsz, recvsz);
	return cl && client_refused(cl, "clnttcp_create") ? NULL : cl;
}

SHIM_EXPORT void *clnt_create(const char *host, unsigned long prog, unsigned long vers, const char *proto)
{
	void *(*next)(const char *, unsigned long, unsigned long, const char *) =
		(void *(*)(const char *, unsigned long, unsigned long, const char *))rpc_next("clnt_create");
	struct rpc_client *cl;

	shim_ensure_init();
	if (!next) {
		errno = ENOSYS;
		return NULL;
	}
	cl = next(host, prog, vers, proto);
	return cl && proto && !strcmp(proto, "tcp") && client_refused(cl, "clnt_create") ? NULL : cl;
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
		(void *(*)(int, unsigned int, unsigned int))rpc_next("svctcp_create");
	struct rpc_xprt *x;

	shim_ensure_init();
	if (!next) {
		errno = ENOSYS;
		return NULL;
	}
	x = next(sock, sendsz, recvsz);
	return x && service_refused(x, "svctcp_create") ? NULL : x;
}

/* A connection the library serves (TLS, or refused) cannot be read and
 * written by the C library's internal calls. */
SHIM_EXPORT void *svcfd_create(int fd, unsigned int sendsz, unsigned int recvsz)
{
	void *(*next)(int, unsigned int, unsigned int) =
		(void *(*)(int, unsigned int, unsigned int))rpc_next("svcfd_create");
	struct tls_conn *c;
	int r;

	shim_ensure_init();
	if (!next) {
		errno = ENOSYS;
		return NULL;
	}
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
