/* shim/accept.c — accept()/accept4(): on a socket an accept rule names,
 * the new fd becomes a TLS server connection.  Its handshake runs on first
 * use, so a silent client stalls only its own connection. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "policy/ocsp.h"
#include "shim/shim.h"

/* The new fd, or a negative errno. */
static int shim_accept(int fd, struct sockaddr *addr, socklen_t *alen, int flags, bool four)
{
	/* The program's buffer length, given again on every pass: the kernel
	 * wrote the refused connection's address length over *alen, and the
	 * next accept would write that much (helper-63: 28 bytes of an IPv6
	 * address into a 16-byte struct sockaddr). */
	const socklen_t in = addr && alen ? *alen : 0;

	shim_ensure_init();
	for (;;) {
		/* The peer's address comes with the accept (no getpeername):
		 * into the program's buffer when it gave one, else into ours. */
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		struct sockaddr *a = addr ? addr : (struct sockaddr *)&ss;
		socklen_t *al = addr ? alen : &sl;
		struct shim_verdict v;
		struct tls_conn *c;
		bool named;
		int nfd, err;

		if (addr && alen)
			*alen = in;
		nfd = four ? REAL(accept4)(fd, a, al, flags) : REAL(accept)(fd, a, al);
		if (nfd < 0)
			return -errno;
		shim_epoll_fds_closed(nfd, nfd);
		shim_fd_fresh_accepted(nfd);
		/* A buffer too small for it holds a part only: ask then. */
		if (addr && (!alen || *alen > in))
			sl = 0;
		else
			sl = *al;
		named = shim_resolve_accepted(nfd, a, sl, &v, &err);
		if (!named && err == SHIM_ERR_FOREIGN) {
			/* An SCTP (or unknown) stream on a port a tls or deny
			 * rule names: the library's TLS runs over TCP only. */
			log_error("%s rule \"%s\": connection accepted on fd %d over protocol %d, "
				  SHIM_FOREIGN_NOT_TCP ", where the policy says %s;"
				  " connection closed", v.desc, v.rule->name, fd, shim_sock_protocol(nfd),
				  v.rule->action == POLICY_DENY ? "deny" : "TLS");
			conntab_set(nfd, CT_UNSEEN);
			REAL(close)(nfd);
			continue;
		}
		if (!named && err) {
			/* Fail closed: a connection whose rule is not known may be
			 * one that must be TLS.  EBADF: another thread closed the
			 * number already (it may be another file's now). */
			log_error("accept on fd %d: cannot tell which rule applies to a new connection (%s);"
				  " connection closed", fd, strerror(err));
			if (err != EBADF) {
				conntab_set(nfd, CT_UNSEEN);
				REAL(close)(nfd);
			}
			continue;
		}
		if (!named || v.rule->action == POLICY_PLAIN) {
			if (named)
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
		/* A new socket has O_NONBLOCK only if accept4 was asked for it
		 * (Linux: not inherited from the listener): no fcntl to learn it. */
		if (c)
			tls_conn_init_nonblock(c, four && (flags & SOCK_NONBLOCK));
		if (!c || conntab_attach(nfd, c) < 0) {
			log_error("%s rule \"%s\": cannot set up TLS; connection closed", v.desc, v.rule->name);
			tls_conn_unref(c);
			conntab_set(nfd, CT_UNSEEN);
			REAL(close)(nfd);
			return -ECONNABORTED;
		}
		log_debug("%s rule \"%s\": accepted, TLS handshake on first use", v.desc, v.rule->name);
		if (shim_fd_has_file(nfd) && (c = conntab_get(nfd))) {
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
