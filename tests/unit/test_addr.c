/* tests/unit/test_addr.c — addresses as the shim matches and logs them
 * (shim/addr.c): the destination the kernel really connects to, the
 * 24-byte sockaddr_in6, text both ways; and writev's iovec gathering. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "shim/addr.h"
#include "tests/unit/unit.h"

static struct sockaddr_in v4(const char *ip, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

static struct sockaddr_in6 v6(const char *ip, int port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
	inet_pton(AF_INET6, ip, &a.sin6_addr);
	return a;
}

/* The normalised destination, as text. */
static const char *norm(const struct sockaddr *sa, socklen_t len, socklen_t *out_len)
{
	static char buf[80];
	struct sockaddr_storage ss;

	*out_len = shim_norm_addr(sa, len, &ss);
	shim_format_addr((struct sockaddr *)&ss, buf, sizeof buf);
	return buf;
}

static void run_norm(void)
{
	struct { const char *name, *in; bool six; const char *out; } t[] = {
		{ "0.0.0.0 connects to loopback", "0.0.0.0", false, "127.0.0.1:443" },
		{ "a plain IPv4 address stays", "10.1.2.3", false, "10.1.2.3:443" },
		{ ":: connects to loopback", "::", true, "[::1]:443" },
		{ "::ffff:0.0.0.0 connects to loopback", "::ffff:0.0.0.0", true, "[::ffff:127.0.0.1]:443" },
		{ "a plain IPv6 address stays", "2001:db8::1", true, "[2001:db8::1]:443" },
		{ "::ffff:10.1.2.3 stays (policy folds v4-mapped)", "::ffff:10.1.2.3", true,
		  "[::ffff:10.1.2.3]:443" },
	};

	for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
		char name[120];
		socklen_t l;

		snprintf(name, sizeof name, "norm_addr: %s", t[i].name);
		UNIT_CASE(name) {
			if (t[i].six) {
				struct sockaddr_in6 a = v6(t[i].in, 443);
				EXPECT_STR(norm((struct sockaddr *)&a, sizeof a, &l), t[i].out);
				EXPECT(l == sizeof a);
			} else {
				struct sockaddr_in a = v4(t[i].in, 443);
				EXPECT_STR(norm((struct sockaddr *)&a, sizeof a, &l), t[i].out);
				EXPECT(l == sizeof a);
			}
		}
	}
	UNIT_CASE("norm_addr: the 24-byte sockaddr_in6 (RFC 2133) is matched as a full one") {
		struct sockaddr_in6 a = v6("::1", 80);
		socklen_t l;
		EXPECT_STR(norm((struct sockaddr *)&a, 24, &l), "[::1]:80");
		EXPECT(l == sizeof(struct sockaddr_in6));
	}
}

static void run_text(void)
{
	const char *good[] = { "127.0.0.1:1", "10.0.0.7:65535", "[::1]:443", "[2001:db8::5]:8080" };
	const char *bad[] = { "127.0.0.1", "[::1]", "1.2.3.4:70000", "[::1:80", "x.y:1", ":80", "" };

	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		char name[80], back[80];
		struct sockaddr_storage ss;
		socklen_t l;

		snprintf(name, sizeof name, "parse_addr/format_addr round trip: %s", good[i]);
		UNIT_CASE(name) {
			EXPECT(shim_parse_addr(good[i], &ss, &l));
			shim_format_addr((struct sockaddr *)&ss, back, sizeof back);
			EXPECT_STR(back, good[i]);
			EXPECT(l == (ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
							    : sizeof(struct sockaddr_in6)));
		}
	}
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char name[80];
		struct sockaddr_storage ss;
		socklen_t l;

		snprintf(name, sizeof name, "parse_addr refuses \"%s\"", bad[i]);
		UNIT_CASE(name)
			EXPECT(!shim_parse_addr(bad[i], &ss, &l));
	}
	/* Formatted without snprintf: the same text, ports 0 to 65535, cut
	 * to the buffer as snprintf cuts. */
	UNIT_CASE("format_addr: the text snprintf wrote, cut to the buffer as it cut") {
		static const int ports[] = { 0, 1, 9, 10, 443, 9999, 10000, 65535 };
		static const char *ips[] = { "0.0.0.0", "127.0.0.1", "255.255.255.255", "10.200.3.40",
					     "1.22.199.100", "::", "::1",
					     "::ffff:10.1.2.3", "fe80::1:2:3:4",
					     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" };

		for (size_t i = 0; i < sizeof ips / sizeof ips[0]; i++)
			for (size_t p = 0; p < sizeof ports / sizeof ports[0]; p++) {
				struct sockaddr_in a4 = v4(ips[i], ports[p]);
				struct sockaddr_in6 a6 = v6(ips[i], ports[p]);
				bool six = strchr(ips[i], ':') != NULL;
				char want[80], got[80];

				snprintf(want, sizeof want, six ? "[%s]:%d" : "%s:%d", ips[i], ports[p]);
				if (!strcmp(ips[i], "::ffff:10.1.2.3"))
					snprintf(want, sizeof want, "[::ffff:10.1.2.3]:%d", ports[p]);
				for (size_t n = 1; n <= strlen(want) + 1; n++) {
					char cut[80];

					memset(got, 'x', sizeof got);
					shim_format_addr(six ? (struct sockaddr *)&a6 : (struct sockaddr *)&a4, got, n);
					snprintf(cut, n, "%s", want);
					EXPECT_STR(got, cut);
					EXPECT(got[n] == 'x');
				}
			}
	}
	UNIT_CASE("format_addr: another family is named, not printed as an address") {
		struct sockaddr sa = { .sa_family = AF_UNIX };
		char buf[40];
		shim_format_addr(&sa, buf, sizeof buf);
		EXPECT_STR(buf, "(family 1)");
	}
}

static void run_iov(void)
{
	UNIT_CASE("iov_gather: small buffers fill one chunk, across iovecs, in order") {
		char a[] = "hello ", b[] = "", c[] = "world", chunk[8];
		struct iovec iov[3] = { { a, 6 }, { b, 0 }, { c, 5 } };
		int i = 0;
		size_t off = 0, n;

		n = shim_iov_gather(iov, 3, &i, &off, chunk, sizeof chunk);
		EXPECT(n == 8 && !memcmp(chunk, "hello wo", 8));
		EXPECT(i == 2 && off == 2);
		n = shim_iov_gather(iov, 3, &i, &off, chunk, sizeof chunk);
		EXPECT(n == 3 && !memcmp(chunk, "rld", 3));
		EXPECT(i == 3 && off == 0);
		EXPECT(shim_iov_gather(iov, 3, &i, &off, chunk, sizeof chunk) == 0);
	}
	UNIT_CASE("iov_gather: a buffer larger than the chunk is taken in pieces") {
		char big[20], chunk[8];
		struct iovec iov[1] = { { big, sizeof big } };
		int i = 0;
		size_t off = 0, total = 0, n;

		for (size_t k = 0; k < sizeof big; k++)
			big[k] = (char)k;
		while ((n = shim_iov_gather(iov, 1, &i, &off, chunk, sizeof chunk)) > 0) {
			EXPECT(!memcmp(chunk, big + total, n));
			total += n;
		}
		EXPECT(total == sizeof big);
	}
}

int main(void)
{
	run_norm();
	run_text();
	run_iov();
	return UNIT_RESULT();
}
