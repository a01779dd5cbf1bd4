/* shim/accept.c — accept()/accept4(): on a socket an accept rule names,
 * the new fd becomes a TLS server connection.  Its handshake runs on first
 * use, so a silent client stalls only its own connection. */
#include <errno.h>
#include <stdio.h>

#include "core/log.h"
#include "policy/ocsp.h"
#include "shim/shim.h"

/* The new fd, or a negative errno. */
static int shim_accept(int fd, struct sockaddr *addr, socklen_t *alen, int flags, bool four)
{
	shim_ensure_init();
	for (;;) {
		int nfd = four ? REAL(accept4)(fd, addr, alen, flags) : REAL(accept)(fd, addr, alen);
		struct shim_verdict v;
		struct tls_conn *c;

		if (nfd < 0)
			return -errno;
		shim_epoll_fds_closed(nfd, nfd);
		if (!shim_resolve_accepted(nfd, &v) || v.rule->action == POLICY_PLAIN) {
			if (v.rule)
				log_info("%s rule \"%s\": plain TCP by policy (action = \"plain\")", v.desc,
					 v.rule->name);
			conntab_set(nfd, CT_PLAIN);
			return nfd;
		}
		if (v.rule->action == POLICY_DENY) {
			log_warn("%s rule \"%s\": connection refused by policy (action = \"deny\")",
				 v.desc, v.rule->name);
			conntab_set(nfd, CT_UNSEEN);
			REAL(close)(nfd);
			continue;
		}
		shim_reload_check();
		/* Staple files changed? (at most one look a second) */
		ocsp_staples_refresh(v.rule->staples);
		c = shim_conn_new(nfd, &v);
		if (!c || conntab_attach(nfd, c) < 0) {
			log_error("%s rule \"%s\": cannot set up TLS; connection closed", v.desc, v.rule->name);
			tls_conn_unref(c);
			conntab_set(nfd, CT_UNSEEN);
			REAL(close)(nfd);
			return -ECONNABORTED;
		}
		log_debug("%s rule \"%s\": accepted, TLS handshake on first use", v.desc, v.rule->name);
		if (nfd <= 2 && (c = conntab_get(nfd))) {
			shim_tls_placed(nfd, c);
			tls_conn_unref(c);
		}
		return nfd;
	}
}

SHIM_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *alen)
{
	SHIM_RET_KEEP(shim_accept(fd, addr, alen, 0, false));
}

SHIM_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *alen, int flags)
{
	SHIM_RET_KEEP(shim_accept(fd, addr, alen, flags, true));
}
