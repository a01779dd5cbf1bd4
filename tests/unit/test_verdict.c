/* tests/unit/test_verdict.c — the one rule resolver (shim/verdict.c):
 * which rule, which role, which name, for accepted sockets, connect()
 * destinations (as the kernel really connects: wildcards) and connected
 * sockets of unknown origin.  A policy of its own in a temporary file;
 * certificates from $TLSSHIM_TEST_CERTS (certs/mkcerts.sh). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim/verdict.h"
#include "tests/unit/unit.h"

static struct sockaddr_storage addr(const char *ip, int port, socklen_t *len)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof ss);
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, ip, &a->sin6_addr);
		*len = sizeof *a;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, ip, &a->sin_addr);
		*len = sizeof *a;
	}
	return ss;
}

/* The name a client would verify without server_name: a fixed one, so
 * that the test sees where it came from. */
static bool name_for(const struct sockaddr *peer, char *buf, size_t len)
{
	(void)peer;
	snprintf(buf, len, "resolved.example");
	return true;
}

static struct policy *load(const char *certs, char *path, size_t plen)
{
	struct policy_error err;
	struct policy *p;
	FILE *f;
	int fd;

	snprintf(path, plen, "/tmp/tlsshim-verdict.XXXXXX");
	if ((fd = mkstemp(path)) < 0 || !(f = fdopen(fd, "w")))
		return NULL;
	fprintf(f,
		"rules = (\n"
		"  { name = \"plain-local\"; direction = \"accept\"; port = 7000;\n"
		"    address = \"127.0.0.2\"; action = \"plain\"; },\n"
		"  { name = \"in\"; direction = \"accept\"; port = 7000;\n"
		"    cert = \"%s/server.crt\"; key = \"%s/server.key\"; },\n"
		"  { name = \"deny-out\"; direction = \"connect\"; port = 25; action = \"deny\"; },\n"
		"  { name = \"named\"; direction = \"connect\"; port = 443; address = \"10.0.0.0/8\";\n"
		"    ca = \"%s/ca.crt\"; server_name = \"api.internal\"; },\n"
		"  { name = \"loop\"; direction = \"connect\"; port = 443; address = [\"127.0.0.1/32\", \"::1/128\"];\n"
		"    ca = \"%s/ca.crt\"; }\n"
		");\n", certs, certs, certs, certs);
	fclose(f);
	p = policy_load(path, &err);
	if (!p)
		printf("# policy_load: %s:%d: %s\n", err.file, err.line, err.msg);
	return p;
}

struct connect_case {
	const char *name, *ip;
	int port;
	const char *rule;   /* NULL: none */
	const char *verify, *desc;
};

static const struct connect_case connects[] = {
	{ "a rule by address and port, its server_name", "10.1.2.3", 443, "named", "api.internal",
	  "10.1.2.3:443" },
	{ "no server_name: the resolved name", "127.0.0.1", 443, "loop", "resolved.example",
	  "127.0.0.1:443" },
	{ "0.0.0.0 reaches loopback: the loopback rule", "0.0.0.0", 443, "loop", "resolved.example",
	  "127.0.0.1:443" },
	{ ":: reaches loopback: the loopback rule", "::", 443, "loop", "resolved.example",
	  "[::1]:443" },
	{ "::ffff:0.0.0.0 reaches loopback: the loopback rule", "::ffff:0.0.0.0", 443, "loop",
	  "resolved.example", "[::ffff:127.0.0.1]:443" },
	{ "a v4-mapped address matches the IPv4 rule", "::ffff:10.9.9.9", 443, "named", "api.internal",
	  "[::ffff:10.9.9.9]:443" },
	{ "deny is a verdict too", "192.0.2.1", 25, "deny-out", NULL, NULL },
	{ "another port: no rule", "10.1.2.3", 444, NULL, NULL, NULL },
	{ "another address: no rule", "192.0.2.1", 443, NULL, NULL, NULL },
};

static void run(const struct policy *p)
{
	for (size_t i = 0; i < sizeof connects / sizeof *connects; i++) {
		const struct connect_case *t = &connects[i];
		char name[160];

		snprintf(name, sizeof name, "verdict_connect: %s", t->name);
		UNIT_CASE(name) {
			struct shim_verdict v;
			socklen_t l;
			struct sockaddr_storage a = addr(t->ip, t->port, &l);
			bool got = shim_verdict_connect(p, (struct sockaddr *)&a, l, name_for, &v);

			EXPECT(got == (t->rule != NULL));
			if (got && t->rule) {
				EXPECT_STR(v.rule->name, t->rule);
				EXPECT(v.role == TLS_ROLE_CLIENT);
				if (t->verify)
					EXPECT_STR(v.name, t->verify);
				if (t->desc)
					EXPECT_STR(v.desc, t->desc);
			}
		}
	}
	UNIT_CASE("verdict_connect: not an IP address, or too short: no rule") {
		struct sockaddr sa = { .sa_family = AF_UNIX };
		struct shim_verdict v;
		socklen_t l;
		struct sockaddr_storage a = addr("10.1.2.3", 443, &l);
		EXPECT(!shim_verdict_connect(p, &sa, sizeof sa, name_for, &v));
		EXPECT(!shim_verdict_connect(p, (struct sockaddr *)&a, 1, name_for, &v));
		EXPECT(!shim_verdict_connect(NULL, (struct sockaddr *)&a, l, name_for, &v));
	}
	UNIT_CASE("verdict_accepted: first match wins (plain for 127.0.0.2, TLS for the rest)") {
		struct shim_verdict v;
		socklen_t ll, pl;
		struct sockaddr_storage l1 = addr("127.0.0.2", 7000, &ll), pe = addr("127.0.0.9", 5555, &pl);
		struct sockaddr_storage l2 = addr("127.0.0.1", 7000, &ll);

		EXPECT(shim_verdict_accepted(p, (struct sockaddr *)&l1, ll, (struct sockaddr *)&pe, pl, 9, &v));
		EXPECT_STR(v.rule->name, "plain-local");
		EXPECT(shim_verdict_accepted(p, (struct sockaddr *)&l2, ll, (struct sockaddr *)&pe, pl, 9, &v));
		EXPECT_STR(v.rule->name, "in");
		EXPECT(v.role == TLS_ROLE_SERVER);
		EXPECT_STR(v.desc, "127.0.0.9:5555");
		EXPECT(v.name[0] == '\0');
		/* the peer unknown: the fd names the connection in logs */
		EXPECT(shim_verdict_accepted(p, (struct sockaddr *)&l2, ll, NULL, 0, 9, &v));
		EXPECT_STR(v.desc, "fd 9");
	}
	UNIT_CASE("verdict_connected: an accept rule by local address before a connect rule by peer") {
		struct shim_verdict v;
		socklen_t ll, pl;
		/* accepted on 7000 from a peer the loop connect rule would name */
		struct sockaddr_storage loc = addr("127.0.0.1", 7000, &ll), pe = addr("127.0.0.1", 443, &pl);
		EXPECT(shim_verdict_connected(p, (struct sockaddr *)&loc, ll, (struct sockaddr *)&pe, pl,
					      name_for, &v));
		EXPECT_STR(v.rule->name, "in");
		EXPECT(v.role == TLS_ROLE_SERVER);
		/* a client socket: ephemeral local port, peer on a connect rule */
		loc = addr("127.0.0.1", 40000, &ll);
		EXPECT(shim_verdict_connected(p, (struct sockaddr *)&loc, ll, (struct sockaddr *)&pe, pl,
					      name_for, &v));
		EXPECT_STR(v.rule->name, "loop");
		EXPECT(v.role == TLS_ROLE_CLIENT);
		EXPECT_STR(v.name, "resolved.example");
		/* neither */
		pe = addr("192.0.2.1", 80, &pl);
		EXPECT(!shim_verdict_connected(p, (struct sockaddr *)&loc, ll, (struct sockaddr *)&pe, pl,
					       name_for, &v));
	}
}

int main(void)
{
	const char *certs = getenv("TLSSHIM_TEST_CERTS");
	char path[64];
	struct policy *p;

	if (!certs) {
		printf("FAIL setup: TLSSHIM_TEST_CERTS is not set (run through tests/run.sh)\n");
		return 1;
	}
	p = load(certs, path, sizeof path);
	unlink(path);
	if (!p) {
		printf("FAIL setup: the test policy does not load\n");
		return 1;
	}
	run(p);
	policy_free(p);
	return UNIT_RESULT();
}
