/* shim/connect.c — connect(): a verified TLS client handshake before the
 * program sends a byte, on destinations a connect rule names. */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "shim/shim.h"

void shim_default_name(const struct sockaddr *sa, char *buf, size_t len)
{
	if (shim_name_for(sa, buf, len))
		return;
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf, (socklen_t)len);
	} else {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			inet_ntop(AF_INET, a->s6_addr + 12, buf, (socklen_t)len);
		else
			inet_ntop(AF_INET6, a, buf, (socklen_t)len);
	}
}

/* The kernel accepts the 24-byte sockaddr_in6 of RFC 2133 (no scope id):
 * copy the address into ss, zero-filled, and match it as the full
 * structure, so a short form cannot slip past the policy. */
socklen_t shim_norm_addr(const struct sockaddr *sa, socklen_t len, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	memcpy(ss, sa, len < sizeof *ss ? len : sizeof *ss);
	if (sa->sa_family == AF_INET6 && len >= 24 && len < sizeof(struct sockaddr_in6))
		len = sizeof(struct sockaddr_in6);
	return len;
}

/* connect() failed, but the socket may still be (or become) connected:
 * its session must stay in the table, or a later write would go out in
 * clear.  Only a definite failure ends it. */
static bool still_connecting(int err)
{
	return err == EINPROGRESS || err == EALREADY || err == EINTR || err == EISCONN ||
	       err == EAGAIN;
}

static int shim_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	const struct policy *p = shim_policy;
	const struct policy_rule *rule;
	struct sockaddr_storage ss;
	struct tls_conn *c;
	char desc[96], name[256];
	bool nb;
	int r;

	if (!p || !p->has[POLICY_CONNECT] || !sa || len < sizeof(sa_family_t) ||
	    (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) || !shim_is_tcp(fd))
		return REAL(connect)(fd, sa, len);
	if (conntab_maybe(fd) && (c = conntab_get(fd))) {
		bool fresh = !tls_conn_handshake_started(c) && !tls_conn_failed(c);
		tls_conn_unref(c);
		if (!fresh)    /* connected already: the kernel says EISCONN */
			return REAL(connect)(fd, sa, len);
		/* A connect retried after EINTR/EINPROGRESS: match afresh. */
		tls_conn_unref(conntab_detach(fd));
	}
	len = shim_norm_addr(sa, len, &ss);
	sa = (const struct sockaddr *)&ss;
	rule = policy_match(p, POLICY_CONNECT, sa, len);
	if (!rule)
		return REAL(connect)(fd, sa, len);
	shim_format_addr(sa, desc, sizeof desc);
	switch (rule->action) {
	case POLICY_DENY:
		log_warn("%s rule \"%s\": connection refused by policy (action = \"deny\")",
			 desc, rule->name);
		errno = ECONNREFUSED;
		return -1;
	case POLICY_PLAIN:
		log_info("%s rule \"%s\": plain TCP by policy (action = \"plain\")", desc, rule->name);
		return REAL(connect)(fd, sa, len);
	case POLICY_TLS:
		break;
	}
	if (rule->server_name)
		snprintf(name, sizeof name, "%s", rule->server_name);
	else
		shim_default_name(sa, name, sizeof name);
	c = tls_conn_new(fd, rule, TLS_ROLE_CLIENT, name, desc);
	if (!c) {
		errno = ENOMEM;
		return -1;
	}
	/* In the table before the first byte can move: from here on no
	 * thread of the program can write plaintext to this socket. */
	tls_conn_ref(c);
	if (conntab_attach(fd, c) < 0) {
		tls_conn_unref(c);
		tls_conn_unref(c);
		log_error("%s rule \"%s\": fd %d beyond the connection table", desc, rule->name, fd);
		errno = EMFILE;
		return -1;
	}
	nb = shim_is_nonblocking(fd);
	r = REAL(connect)(fd, sa, len);
	if (r < 0) {
		int saved = errno;
		/* Still connecting: the handshake runs on first use.  Otherwise a
		 * plain failure, with its plain errno. */
		if (!still_connecting(saved))
			tls_conn_unref(conntab_detach(fd));
		tls_conn_unref(c);
		errno = saved;
		return -1;
	}
	if (nb) {
		/* The handshake runs on first use (see docs/design.md). */
		tls_conn_unref(c);
		return 0;
	}
	r = shim_tls_handshake(c, false);
	tls_conn_unref(c);
	if (r < 0) {
		/* The connection stays in the table, failed: any later I/O fails. */
		errno = ECONNREFUSED;
		return -1;
	}
	return 0;
}

SHIM_EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	return shim_connect(fd, sa, len);
}
