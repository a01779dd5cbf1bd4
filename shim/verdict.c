/* shim/verdict.c — the one rule resolver (see verdict.h). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "core/strcopy.h"
#include "shim/addr.h"
#include "shim/verdict.h"

static bool is_inet(const struct sockaddr *sa)
{
	return sa && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6);
}

/* A name for a connect rule's host match: the one the program resolved
 * to peer (name_for's answer when it is not the address itself); NULL
 * when no rule matches by host name (then name_for is not even asked). */
static const char *host_for(const struct policy *p, const struct sockaddr *peer, shim_name_fn name_for,
			    struct shim_verdict *v, bool *only)
{
	unsigned char tmp[16];

	*only = false;
	if (!p->has_host)
		return NULL;
	*only = name_for(peer, v->name, sizeof v->name);
	v->named = true;
	if (!v->name[0] || inet_pton(AF_INET, v->name, tmp) == 1 || inet_pton(AF_INET6, v->name, tmp) == 1)
		return NULL;
	return v->name;
}

/* The connect rule for peer.  A rule with host and action plain takes a
 * name only when it is the only one ever resolved to the address: where
 * another name was too (virtual hosts, or a name whose DNS an attacker
 * points at the address), the library cannot tell which one the program
 * connects for, and the connection is matched as one without a name (the
 * next rules: a tls rule by address, a deny).  A name that is not the
 * only one never makes a connection plain.  Before, the thread's newest
 * name decided: a thread that resolved db.internal (tls) and then
 * cache.internal (plain), one address, sent its database connection in
 * clear (tests/preload/names.sh). */
static const struct policy_rule *match_connect(const struct policy *p, const struct sockaddr *peer,
					       socklen_t len, shim_name_fn name_for, struct shim_verdict *v)
{
	bool only;
	const char *host = host_for(p, peer, name_for, v, &only);
	const struct policy_rule *r = policy_match(p, POLICY_CONNECT, peer, len, host);

	if (r && host && !only && r->nhosts && r->action == POLICY_PLAIN)
		r = policy_match(p, POLICY_CONNECT, peer, len, NULL);
	return r;
}

static void client_name(struct shim_verdict *v, const struct sockaddr *peer, shim_name_fn name_for)
{
	if (v->rule->server_name)
		str_copy(v->name, sizeof v->name, v->rule->server_name);
	else if (!v->named)
		name_for(peer, v->name, sizeof v->name);
}

bool shim_verdict_accepted(const struct policy *p, const struct sockaddr *local, socklen_t ll,
			   const struct sockaddr *peer, socklen_t pl, int fd, struct shim_verdict *v)
{
	shim_verdict_clear(v);
	if (!p || !p->has[POLICY_ACCEPT] || !is_inet(local) ||
	    !(v->rule = policy_match(p, POLICY_ACCEPT, local, ll, NULL)))
		return false;
	v->role = TLS_ROLE_SERVER;
	if (peer && pl)
		shim_format_addr(peer, v->desc, sizeof v->desc);
	else
		snprintf(v->desc, sizeof v->desc, "fd %d", fd);
	return true;
}

bool shim_verdict_connect(const struct policy *p, const struct sockaddr *dst, socklen_t len,
			  shim_name_fn name_for, struct shim_verdict *v)
{
	struct sockaddr_storage ss;

	shim_verdict_clear(v);
	if (!p || !p->has[POLICY_CONNECT] || !dst || len < sizeof(sa_family_t) || !is_inet(dst))
		return false;
	len = shim_norm_addr(dst, len, &ss);
	if (!(v->rule = match_connect(p, (struct sockaddr *)&ss, len, name_for, v)))
		return false;
	v->role = TLS_ROLE_CLIENT;
	shim_format_addr((struct sockaddr *)&ss, v->desc, sizeof v->desc);
	client_name(v, (struct sockaddr *)&ss, name_for);
	return true;
}

bool shim_verdict_connected(const struct policy *p, const struct sockaddr *local, socklen_t ll,
			    const struct sockaddr *peer, socklen_t pl, shim_name_fn name_for,
			    struct shim_verdict *v)
{
	shim_verdict_clear(v);
	if (!p || !is_inet(local) || !is_inet(peer))
		return false;
	shim_format_addr(peer, v->desc, sizeof v->desc);
	if ((v->rule = policy_match(p, POLICY_ACCEPT, local, ll, NULL))) {
		v->role = TLS_ROLE_SERVER;
	} else if ((v->rule = match_connect(p, peer, pl, name_for, v))) {
		v->role = TLS_ROLE_CLIENT;
		client_name(v, peer, name_for);
	} else {
		return false;
	}
	return true;
}
