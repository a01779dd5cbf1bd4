/* shim/verdict.h — the one rule resolver: which rule applies to a TCP
 * socket, in which role, verifying which name.  Functions of the policy
 * and the addresses only (unit-tested: tests/unit/test_verdict.c); the
 * shim asks the kernel for the addresses (classify.c). */
#ifndef TLSSHIM_SHIM_VERDICT_H
#define TLSSHIM_SHIM_VERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "core/tls.h"
#include "policy/policy.h"

struct shim_verdict {
	const struct policy_rule *rule;   /* NULL: no rule names this socket */
	enum tls_role role;
	char desc[96];                    /* "addr:port" of the peer, for logs */
	char name[256];                   /* client: the name to verify */
	bool named;                       /* name holds name_for's answer */
};

/* No rule, no role, empty strings: what every resolver starts from.  The
 * strings' tails are never read, so they are not cleared (a memset of the
 * 376 bytes was 55 instructions, done twice per accept). */
static inline void shim_verdict_clear(struct shim_verdict *v)
{
	v->rule = NULL;
	v->role = 0;
	v->desc[0] = '\0';
	v->name[0] = '\0';
	v->named = false;
}

/* The name a client verifies when its rule names none (resolve.c): true
 * when it is a name that is, as far as the library knows, the only one
 * ever resolved to the address (a rule with host and action plain needs
 * that: shim_verdict_connect). */
typedef bool (*shim_name_fn)(const struct sockaddr *peer, char *buf, size_t len);

/* A connection accepted with local address `local` from `peer` (NULL:
 * unknown; desc says `fd N` then, from fd). */
bool shim_verdict_accepted(const struct policy *p, const struct sockaddr *local, socklen_t ll,
			   const struct sockaddr *peer, socklen_t pl, int fd, struct shim_verdict *v);
/* connect() to dst (matched as the kernel will really connect: see
 * shim_norm_addr). */
bool shim_verdict_connect(const struct policy *p, const struct sockaddr *dst, socklen_t len,
			  shim_name_fn name_for, struct shim_verdict *v);
/* A connected socket of unknown origin: an accept rule by its local
 * address (it was accepted: inetd, a pre-forked server's parent), else a
 * connect rule by its peer. */
bool shim_verdict_connected(const struct policy *p, const struct sockaddr *local, socklen_t ll,
			    const struct sockaddr *peer, socklen_t pl, shim_name_fn name_for,
			    struct shim_verdict *v);

#endif
