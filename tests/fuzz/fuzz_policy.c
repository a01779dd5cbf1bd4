/* tests/fuzz/fuzz_policy.c — libFuzzer target: the policy parser and matcher.
 *
 * Each input is written, as is, to a policy file in a directory of our own
 * and loaded with policy_load(), the function the library and
 * `tlsshim --check` call.  The load must return a policy or NULL with a
 * reason (never crash, abort, leak or hang); a policy that loaded is
 * matched against a handful of addresses, both directions, and freed.
 *
 * The directory holds server.crt, server.key and ca.crt (symbolic links
 * to $TLSSHIM_TEST_CERTS, made by certs/mkcerts.sh), so that inputs naming
 * them ("cert = \"server.crt\";") reach the SSL_CTX building too.  An
 * input can @include files: itself (libconfig bounds the depth), or
 * anything else on the machine, which is then parsed, never written.
 *
 * Build and run: make fuzz (see tests/fuzz/README).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/sys.h"
#include "policy/policy.h"

static char dir[256];
static char path[300];

static void link_cert(const char *certs, const char *name)
{
	char from[600], to[600];

	snprintf(from, sizeof from, "%s/%s", certs, name);
	snprintf(to, sizeof to, "%s/%s", dir, name);
	if (symlink(from, to) < 0 && errno != EEXIST)
		fprintf(stderr, "fuzz_policy: symlink %s: %s\n", to, strerror(errno));
}

static void remove_dir(void)
{
	const char *names[] = { "policy.conf", "server.crt", "server.key", "ca.crt" };
	char p[600];

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(p, sizeof p, "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	const char *certs = getenv("TLSSHIM_TEST_CERTS");

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof dir, "%s/tlsshim-fuzz-policy.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("fuzz_policy: mkdtemp");
		exit(1);
	}
	atexit(remove_dir);
	snprintf(path, sizeof path, "%s/policy.conf", dir);
	if (certs && *certs) {
		link_cert(certs, "server.crt");
		link_cert(certs, "server.key");
		link_cert(certs, "ca.crt");
	}
	/* key = "pkcs11:...": the parser and the checks around it are fuzzed,
	 * the token is not: with no engine in OPENSSL_ENGINES the load stops
	 * at "engine not installed", so no input logs in to a token on this
	 * machine with random PINs (a real card could lock), and libp11's own
	 * small leaks on malformed URIs stay out of the leak reports. */
	setenv("OPENSSL_ENGINES", dir, 1);
	/* Error lines for every bad input would drown libFuzzer's output. */
	setenv("TLSSHIM_LOG_FILE", "/dev/null", 0);
	core_sys_default();
	log_init(NULL);
	return 0;
}

static void put(const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0) {
		perror("fuzz_policy: open");
		abort();
	}
	while (size > 0) {
		ssize_t w = write(fd, data, size);
		if (w <= 0) {
			perror("fuzz_policy: write");
			abort();
		}
		data += w;
		size -= (size_t)w;
	}
	close(fd);
}

static void match_some(const struct policy *p)
{
	static const char *const v4[] = { "127.0.0.1", "10.1.2.3", "192.168.0.255", "0.0.0.0", "255.255.255.255" };
	static const char *const v6[] = { "::1", "::ffff:10.1.2.3", "fe80::1", "2001:db8::42", "::" };
	static const uint16_t ports[] = { 0, 443, 8443, 65535 };

	for (int d = 0; d < 2; d++) {
		for (size_t i = 0; i < sizeof v4 / sizeof v4[0]; i++) {
			for (size_t j = 0; j < sizeof ports / sizeof ports[0]; j++) {
				struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(ports[j]) };
				inet_pton(AF_INET, v4[i], &a.sin_addr);
				/* With and without a resolved name (host rules). */
				const struct policy_rule *r = policy_match(p, (enum policy_dir)d,
									   (struct sockaddr *)&a, sizeof a,
									   j % 2 ? "db.Example.test." : NULL);
				/* A rule matched is one of the policy's, of that direction. */
				if (r && (r < p->rules || r >= p->rules + p->nrules || (int)r->direction != d))
					abort();
			}
		}
		for (size_t i = 0; i < sizeof v6 / sizeof v6[0]; i++) {
			struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(443) };
			inet_pton(AF_INET6, v6[i], &a.sin6_addr);
			const struct policy_rule *r = policy_match(p, (enum policy_dir)d,
								   (struct sockaddr *)&a, sizeof a, "a.test");
			if (r && (r < p->rules || r >= p->rules + p->nrules || (int)r->direction != d))
				abort();
		}
		/* Not an IP address, and a truncated one: never a match, never a read past len. */
		struct sockaddr_un_like { sa_family_t f; char path[8]; } u = { AF_UNIX, "x" };
		if (policy_match(p, (enum policy_dir)d, (struct sockaddr *)&u, sizeof u, "a.test"))
			abort();
		struct sockaddr_in a = { .sin_family = AF_INET };
		if (policy_match(p, (enum policy_dir)d, (struct sockaddr *)&a, 4, NULL))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy_error err;
	char line[1200];

	put(data, size);
	struct policy *p = policy_load(path, &err);
	if (!p) {
		/* Every refusal says why. */
		if (!memchr(err.msg, 0, sizeof err.msg) || !err.msg[0] || !memchr(err.file, 0, sizeof err.file))
			abort();
		policy_error_format(&err, line, sizeof line);
		return 0;
	}
	for (size_t i = 0; i < p->nrules; i++) {
		const struct policy_rule *r = &p->rules[i];
		if (!r->name || (r->action == POLICY_TLS) != (r->ctx != NULL) || r->index != (int)i)
			abort();
	}
	match_some(p);
	policy_free(p);
	return 0;
}
