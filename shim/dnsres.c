/* shim/dnsres.c — the resolver's query calls (res_query, res_send and
 * their family): refused where the C library would ask a name server
 * over TCP that a tls or deny rule names.
 *
 * glibc's resolver sends with its own internal socket calls, which no
 * wrapper of ours sees: over UDP, and over TCP with RES_USEVC, for a
 * query longer than 512 bytes, or to ask again when a UDP answer came
 * back truncated (unless RES_IGNTC).  A program that sets its own name
 * servers (_res.nsaddr_list, or a res_ninit state) can point them at
 * any address and port, a TLS-ruled one too: that query would go there
 * in clear.  So each call looks at the name servers of the state it
 * will use (as res_send picks them: get_nsaddr) before it runs; UDP
 * alone is not TCP and no rule covers it.  getaddrinfo() and the
 * gethostbyname family use the same resolver from inside the C library,
 * as do getnameinfo, the gethostbyaddr family and rcmd's own look-up:
 * see man/libtlsshim.7, "The C library's own resolver". */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <string.h>

#include "core/log.h"
#include "shim/shim.h"

/* The n-th name server of st, as res_send takes it: an IPv6 one lives in
 * the extension (nsaddr_list[n] cleared), unless the program wrote
 * nsaddr_list[n] itself. */
static const struct sockaddr *name_server(const struct __res_state *st, int n, socklen_t *len)
{
	const struct sockaddr_in *a4 = &st->nsaddr_list[n];

	if (a4->sin_family == 0 && st->_u._ext.nsaddrs[n]) {
		*len = sizeof(struct sockaddr_in6);
		return (const struct sockaddr *)st->_u._ext.nsaddrs[n];
	}
	*len = sizeof *a4;
	return (const struct sockaddr *)a4;
}

/* Would a query of qlen bytes (0: one the call builds, always under 512)
 * on st reach a tls or deny rule's destination over TCP?  Then it is
 * refused: an error line, h_errno NO_RECOVERY, errno ECONNREFUSED. */
static bool tcp_refused(res_state st, size_t qlen, const char *call, bool lookup)
{
	const char *why = (st->options & RES_USEVC) ? "RES_USEVC" :
			  qlen > PACKETSZ ? "a query longer than 512 bytes" :
			  !(st->options & RES_IGNTC) ? "when a UDP answer comes back truncated" : NULL;

	shim_ensure_init();
	if (!why || !shim_policy || !shim_policy->has[POLICY_CONNECT])
		return false;
	for (int n = 0; n < st->nscount && n < MAXNS; n++) {
		struct shim_verdict v;
		socklen_t len;
		const struct sockaddr *sa = name_server(st, n, &len);

		if ((sa->sa_family != AF_INET && sa->sa_family != AF_INET6) ||
		    (lookup && shim_name_server_warned(sa)) ||
		    !shim_resolve_connect(-1, sa, len, &v, NULL) || v.rule->action == POLICY_PLAIN)
			continue;
		log_error("%s rule \"%s\": %s() would ask this name server over TCP (%s) with the C"
			  " library's own calls, which the library does not see: the query would go in"
			  " clear where the policy says %s; refused", v.desc, v.rule->name, call, why,
			  v.rule->action == POLICY_DENY ? "deny" : "TLS");
		st->res_h_errno = NO_RECOVERY;
		h_errno = NO_RECOVERY;
		errno = ECONNREFUSED;
		return true;
	}
	return false;
}

/* The calls without a state use the thread's _res, loaded from
 * /etc/resolv.conf on first use: loaded here first, as they would. */
static res_state thread_state(void)
{
	res_state st = &_res;

	if (!(st->options & RES_INIT))
		res_init();
	return st;
}

/* getaddrinfo(), getnameinfo() and the gethostbyname and gethostbyaddr
 * families ask the thread's _res from inside the C library (nss_dns), as
 * does rcmd()'s own look-up.  Its name servers from /etc/resolv.conf that
 * a tls rule names were warned of at start (and a look-up may come from
 * /etc/hosts without any query): left alone.  Any other, one the program
 * set itself, is checked as for res_query.  A _res not loaded yet asks
 * no one the program set (the look-up loads the file). */
bool shim_resolver_refused(const char *call)
{
	res_state st = &_res;

	return (st->options & RES_INIT) && tcp_refused(st, 0, call, true);
}

/* The same for a look-up of node: an address literal asks no one. */
bool shim_lookup_refused(const char *node, const char *call)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (!node || inet_aton(node, &a4) || inet_pton(AF_INET6, node, &a6) == 1)
		return false;
	return shim_resolver_refused(call);
}

/* The look-ups of an address (a PTR query).  getnameinfo() asks only for
 * a host name not NI_NUMERICHOST of an IPv4 or IPv6 address (the service
 * comes from files); refused: EAI_SYSTEM, errno ECONNREFUSED, as
 * getaddrinfo().  The gethostbyaddr family: as gethostbyname's. */
SHIM_EXPORT int getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host, socklen_t hostlen,
			    char *serv, socklen_t servlen, int flags)
{
	if (sa && host && hostlen && !(flags & NI_NUMERICHOST) &&
	    (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) && shim_resolver_refused("getnameinfo"))
		return EAI_SYSTEM;
	return REAL(getnameinfo)(sa, salen, host, hostlen, serv, servlen, flags);
}

SHIM_EXPORT struct hostent *gethostbyaddr(const void *addr, socklen_t len, int type)
{
	return shim_resolver_refused("gethostbyaddr") ? NULL : REAL(gethostbyaddr)(addr, len, type);
}

SHIM_EXPORT int gethostbyaddr_r(const void *addr, socklen_t len, int type, struct hostent *ret, char *buf,
				size_t buflen, struct hostent **result, int *err)
{
	return shim_resolver_refused("gethostbyaddr_r") ? shim_hostent_r_refused(result, err) :
	       REAL(gethostbyaddr_r)(addr, len, type, ret, buf, buflen, result, err);
}

/* Each function and the __res_ name glibc also exports for it (the
 * programs linked before glibc 2.34 call those). */
#define RES_ALIAS(name) SHIM_EXPORT __typeof__(name) __##name __attribute__((alias(#name), copy(name)));

SHIM_EXPORT int res_nquery(res_state st, const char *dname, int class, int type, unsigned char *ans, int len)
{
	return tcp_refused(st, 0, "res_nquery", false) ? -1 : REAL(res_nquery)(st, dname, class, type, ans, len);
}
RES_ALIAS(res_nquery)

SHIM_EXPORT int res_nsearch(res_state st, const char *dname, int class, int type, unsigned char *ans, int len)
{
	return tcp_refused(st, 0, "res_nsearch", false) ? -1 : REAL(res_nsearch)(st, dname, class, type, ans, len);
}
RES_ALIAS(res_nsearch)

SHIM_EXPORT int res_nquerydomain(res_state st, const char *name, const char *domain, int class, int type,
				 unsigned char *ans, int len)
{
	return tcp_refused(st, 0, "res_nquerydomain", false) ? -1 :
	       REAL(res_nquerydomain)(st, name, domain, class, type, ans, len);
}
RES_ALIAS(res_nquerydomain)

SHIM_EXPORT int res_nsend(res_state st, const unsigned char *msg, int mlen, unsigned char *ans, int alen)
{
	return tcp_refused(st, mlen > 0 ? (size_t)mlen : 0, "res_nsend", false) ? -1 :
	       REAL(res_nsend)(st, msg, mlen, ans, alen);
}
RES_ALIAS(res_nsend)

SHIM_EXPORT int res_query(const char *dname, int class, int type, unsigned char *ans, int len)
{
	return tcp_refused(thread_state(), 0, "res_query", false) ? -1 : REAL(res_query)(dname, class, type, ans, len);
}
RES_ALIAS(res_query)

SHIM_EXPORT int res_search(const char *dname, int class, int type, unsigned char *ans, int len)
{
	return tcp_refused(thread_state(), 0, "res_search", false) ? -1 : REAL(res_search)(dname, class, type, ans, len);
}
RES_ALIAS(res_search)

SHIM_EXPORT int res_querydomain(const char *name, const char *domain, int class, int type, unsigned char *ans,
				int len)
{
	return tcp_refused(thread_state(), 0, "res_querydomain", false) ? -1 :
	       REAL(res_querydomain)(name, domain, class, type, ans, len);
}
RES_ALIAS(res_querydomain)

SHIM_EXPORT int res_send(const unsigned char *msg, int mlen, unsigned char *ans, int alen)
{
	return tcp_refused(thread_state(), mlen > 0 ? (size_t)mlen : 0, "res_send", false) ? -1 :
	       REAL(res_send)(msg, mlen, ans, alen);
}
RES_ALIAS(res_send)
