/* shim/accept.c — accept()/accept4(): on a socket an accept rule names,
 * the new fd becomes a TLS server connection.  Its handshake runs on first
 * use, so a silent client stalls only its own connection. */
#include <errno.h>
#include <stdio.h>

#include "core/log.h"
#include "shim/shim.h"

static int shim_accept(int fd, struct sockaddr *addr, socklen_t *alen, int flags, bool four)
{
	for (;;) {
		int nfd = four ? REAL(accept4)(fd, addr, alen, flags) : REAL(accept)(fd, addr, alen);
		const struct policy *p = shim_policy;
		const struct policy_rule *rule;
		struct sockaddr_storage local, peer;
		socklen_t ll = sizeof local, pl = sizeof peer;
		struct tls_conn *c;
		char desc[96];

		if (nfd < 0)
			return nfd;
		conntab_forget(nfd);
		shim_epoll_fds_closed(nfd, nfd);
		if (!p || !p->has[POLICY_ACCEPT])
			return nfd;
		if (getsockname(nfd, (struct sockaddr *)&local, &ll) < 0 ||
		    (local.ss_family != AF_INET && local.ss_family != AF_INET6) || !shim_is_tcp(nfd))
			return nfd;
		rule = policy_match(p, POLICY_ACCEPT, (struct sockaddr *)&local, ll);
		if (!rule)
			return nfd;
		if (getpeername(nfd, (struct sockaddr *)&peer, &pl) == 0)
			shim_format_addr((struct sockaddr *)&peer, desc, sizeof desc);
		else
			snprintf(desc, sizeof desc, "fd %d", nfd);
		if (rule->action == POLICY_PLAIN) {
			log_info("%s rule \"%s\": plain TCP by policy (action = \"plain\")", desc, rule->name);
			return nfd;
		}
		if (rule->action == POLICY_DENY) {
			log_warn("%s rule \"%s\": connection refused by policy (action = \"deny\")",
				 desc, rule->name);
			REAL(close)(nfd);
			continue;
		}
		c = tls_conn_new(nfd, rule, TLS_ROLE_SERVER, NULL, desc);
		if (!c || conntab_attach(nfd, c) < 0) {
			log_error("%s rule \"%s\": cannot set up TLS; connection closed", desc, rule->name);
			tls_conn_unref(c);
			REAL(close)(nfd);
			errno = ECONNABORTED;
			return -1;
		}
		log_debug("%s rule \"%s\": accepted, TLS handshake on first use", desc, rule->name);
		return nfd;
	}
}

SHIM_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *alen)
{
	return shim_accept(fd, addr, alen, 0, false);
}

SHIM_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *alen, int flags)
{
	return shim_accept(fd, addr, alen, flags, true);
}
