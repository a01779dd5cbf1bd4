/* shim/resolve.c — remember which host name the program resolved to
 * which address, so a connect rule without server_name verifies the name
 * the program asked for ("api.internal"), not just an IP address.
 * A small ring of recent answers; only while connect rules exist. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "shim/shim.h"

#define NAMES 64

struct name_entry {
	int family;
	unsigned char addr[16];
	char name[254];
};

static struct name_entry names[NAMES];
static unsigned names_next;
static pthread_mutex_t names_lock = PTHREAD_MUTEX_INITIALIZER;

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
static int addr_key(const struct sockaddr *sa, unsigned char out[16])
{
	if (sa->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		return AF_INET;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			memcpy(out, a->s6_addr + 12, 4);
			return AF_INET;
		}
		memcpy(out, a->s6_addr, 16);
		return AF_INET6;
	}
	return 0;
}

static void remember(const char *node, const struct addrinfo *res)
{
	pthread_mutex_lock(&names_lock);
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		struct name_entry *e;
		unsigned char key[16];
		int fam;

		if (!ai->ai_addr || !(fam = addr_key(ai->ai_addr, key)))
			continue;
		e = &names[names_next++ % NAMES];
		e->family = fam;
		memcpy(e->addr, key, 16);
		snprintf(e->name, sizeof e->name, "%s", node);
	}
	pthread_mutex_unlock(&names_lock);
}

bool shim_name_for(const struct sockaddr *sa, char *buf, size_t len)
{
	unsigned char key[16];
	int fam = addr_key(sa, key);
	bool found = false;
	size_t klen = fam == AF_INET ? 4 : 16;

	if (!fam)
		return false;
	pthread_mutex_lock(&names_lock);
	/* Newest first: the name the program resolved most recently wins. */
	for (unsigned i = 0; i < NAMES && !found; i++) {
		const struct name_entry *e = &names[(names_next - 1 - i) % NAMES];
		if (e->family == fam && !memcmp(e->addr, key, klen)) {
			snprintf(buf, len, "%s", e->name);
			found = true;
		}
	}
	pthread_mutex_unlock(&names_lock);
	return found;
}

SHIM_EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
			    struct addrinfo **res)
{
	int r = REAL(getaddrinfo)(node, service, hints, res);

	if (r == 0 && node && shim_policy && shim_policy->has[POLICY_CONNECT] && is_host_name(node))
		remember(node, *res);
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
