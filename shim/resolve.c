/* shim/resolve.c — remember which host name the program resolved to
 * which address, so a connect rule without server_name verifies the name
 * the program asked for ("api.internal"), not just an IP address.
 *
 * The rule (tlsshim.conf(5), "server_name"): the name verified for a
 * connection is the one the connecting thread itself resolved most
 * recently to that address (getaddrinfo, gethostbyname and their
 * variants).  A thread that resolved nothing to it gets the process's
 * name for it only when that is unambiguous: if two different names
 * resolved to the same address (virtual hosts on one IP), the IP address
 * itself is verified instead, so one host's certificate can never pass
 * for the other's.  A thread that resolved the address literal itself
 * last verifies the address.  Only while connect rules exist. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "shim/shim.h"

#define NAMES 64
#define MINE 8

struct name_entry {
	int family;
	unsigned char addr[16];
	char name[254];
};

static struct name_entry names[NAMES];
static unsigned names_next;
static pthread_mutex_t names_lock = PTHREAD_MUTEX_INITIALIZER;
/* This thread's own recent answers. */
static __thread struct name_entry mine[MINE] __attribute__((tls_model("initial-exec")));
static __thread unsigned mine_next __attribute__((tls_model("initial-exec")));

/* A DNS host name, not an address literal (those need no remembering). */
static bool is_host_name(const char *s)
{
	size_t n = strlen(s);
	unsigned char tmp[16];
	bool alpha = false;

	if (!n || n >= sizeof names[0].name)
		return false;
	if (inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))
			alpha = true;
		else if (!(ch >= '0' && ch <= '9') && ch != '-' && ch != '.' && ch != '_')
			return false;
	}
	return alpha;
}

/* The address bytes of a sockaddr, IPv4-mapped IPv6 folded to IPv4. */
static int addr_key(int family, const void *addr, unsigned char out[16])
{
	if (family == AF_INET) {
		memcpy(out, addr, 4);
		return AF_INET;
	}
	if (family == AF_INET6) {
		const struct in6_addr *a = addr;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			memcpy(out, a->s6_addr + 12, 4);
			return AF_INET;
		}
		memcpy(out, a->s6_addr, 16);
		return AF_INET6;
	}
	return 0;
}

static int sa_key(const struct sockaddr *sa, unsigned char out[16])
{
	if (sa->sa_family == AF_INET)
		return addr_key(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out);
	if (sa->sa_family == AF_INET6)
		return addr_key(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out);
	return 0;
}

static void remember_one(const char *node, int family, const void *addr)
{
	struct name_entry *e;
	unsigned char key[16];
	int fam = addr_key(family, addr, key);

	if (!fam)
		return;
	e = &mine[mine_next++ % MINE];
	e->family = fam;
	memcpy(e->addr, key, 16);
	snprintf(e->name, sizeof e->name, "%s", node);
	pthread_mutex_lock(&names_lock);
	e = &names[names_next++ % NAMES];
	e->family = fam;
	memcpy(e->addr, key, 16);
	snprintf(e->name, sizeof e->name, "%s", node);
	pthread_mutex_unlock(&names_lock);
}

static bool wanted(const char *node)
{
	return node && shim_policy && shim_policy->has[POLICY_CONNECT] && is_host_name(node);
}

/* An address literal the program resolved (getaddrinfo("127.0.0.1")):
 * the newest answer of this thread for that address is the literal
 * itself, so a name it resolved earlier to the same address (its own host
 * name, say) is not the one verified for this connection. */
static void remember_literal(const char *node, const struct addrinfo *res)
{
	unsigned char tmp[16];

	if (!node || !shim_policy || !shim_policy->has[POLICY_CONNECT] ||
	    (inet_pton(AF_INET, node, tmp) != 1 && inet_pton(AF_INET6, node, tmp) != 1))
		return;
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		unsigned char key[16];
		int fam;
		struct name_entry *e;

		if (!ai->ai_addr || !(fam = sa_key(ai->ai_addr, key)))
			continue;
		e = &mine[mine_next++ % MINE];
		e->family = fam;
		memcpy(e->addr, key, 16);
		snprintf(e->name, sizeof e->name, "%s", node);
	}
}

bool shim_name_for(const struct sockaddr *sa, char *buf, size_t len)
{
	unsigned char key[16];
	int fam = sa_key(sa, key);
	size_t klen = fam == AF_INET ? 4 : 16;
	const char *found = NULL;
	bool ambiguous = false;

	if (!fam)
		return false;
	/* This thread's own, newest first. */
	for (unsigned i = 0; i < MINE; i++) {
		const struct name_entry *e = &mine[(mine_next - 1 - i) % MINE];
		if (e->family == fam && !memcmp(e->addr, key, klen)) {
			snprintf(buf, len, "%s", e->name);
			return true;
		}
	}
	/* The process's, when only one name maps to the address. */
	pthread_mutex_lock(&names_lock);
	for (unsigned i = 0; i < NAMES; i++) {
		const struct name_entry *e = &names[i];
		if (e->family != fam || memcmp(e->addr, key, klen))
			continue;
		if (!found) {
			found = e->name;
			snprintf(buf, len, "%s", e->name);
		} else if (strcasecmp(found, e->name)) {
			ambiguous = true;
		}
	}
	pthread_mutex_unlock(&names_lock);
	return found && !ambiguous;
}

SHIM_EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
			    struct addrinfo **res)
{
	int r = REAL(getaddrinfo)(node, service, hints, res);

	if (r == 0)
		remember_literal(node, *res);
	if (r == 0 && wanted(node))
		for (const struct addrinfo *ai = *res; ai; ai = ai->ai_next)
			if (ai->ai_addr) {
				unsigned char k[16];
				int fam = sa_key(ai->ai_addr, k);
				if (fam)
					remember_one(node, fam, k);
			}
	return r;
}

static void remember_hostent(const char *node, const struct hostent *h)
{
	if (!h || !wanted(node))
		return;
	for (char **a = h->h_addr_list; a && *a; a++)
		remember_one(node, h->h_addrtype, *a);
}

SHIM_EXPORT struct hostent *gethostbyname(const char *name)
{
	struct hostent *h = REAL(gethostbyname)(name);

	remember_hostent(name, h);
	return h;
}

SHIM_EXPORT struct hostent *gethostbyname2(const char *name, int af)
{
	struct hostent *h = REAL(gethostbyname2)(name, af);

	remember_hostent(name, h);
	return h;
}

SHIM_EXPORT int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t len,
				struct hostent **result, int *err)
{
	int r = REAL(gethostbyname_r)(name, ret, buf, len, result, err);

	if (r == 0 && result)
		remember_hostent(name, *result);
	return r;
}

SHIM_EXPORT int gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf,
				 size_t len, struct hostent **result, int *err)
{
	int r = REAL(gethostbyname2_r)(name, af, ret, buf, len, result, err);

	if (r == 0 && result)
		remember_hostent(name, *result);
	return r;
}

void shim_names_fork_lock(void)
{
	pthread_mutex_lock(&names_lock);
}

void shim_names_fork_unlock(void)
{
	pthread_mutex_unlock(&names_lock);
}
