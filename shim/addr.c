/* shim/addr.c — addresses as the shim matches and logs them, and the
 * iovec gathering of writev: functions of their arguments only
 * (unit-tested: tests/unit/test_addr.c). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strcopy.h"
#include "shim/addr.h"

/* The kernel accepts the 24-byte sockaddr_in6 of RFC 2133 (no scope id):
 * copy the address into ss, zero-filled, and match it as the full
 * structure, so a short form cannot slip past the policy.  And connect()
 * to a wildcard address (0.0.0.0, ::, ::ffff:0.0.0.0) reaches loopback:
 * match what the kernel will really connect to. */
socklen_t shim_norm_addr(const struct sockaddr *sa, socklen_t len, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	memcpy(ss, sa, len < sizeof *ss ? len : sizeof *ss);
	if (sa->sa_family == AF_INET6 && len >= 24 && len < sizeof(struct sockaddr_in6))
		len = sizeof(struct sockaddr_in6);
	if (ss->ss_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		if (s4->sin_addr.s_addr == htonl(INADDR_ANY))
			s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else if (ss->ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		static const unsigned char v4any[16] = { [10] = 0xff, [11] = 0xff };
		if (IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
			s6->sin6_addr = in6addr_loopback;
		else if (!memcmp(&s6->sin6_addr, v4any, 16))
			s6->sin6_addr.s6_addr[15] = 1, s6->sin6_addr.s6_addr[12] = 127;
	}
	return len;
}


/* v in decimal at p; the digits written. */
static size_t put_decimal(char *p, unsigned v)
{
	char d[10];
	size_t n = 0, o = 0;

	do
		d[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (n)
		p[o++] = d[--n];
	return o;
}

/* Without snprintf, and an IPv4 address without inet_ntop (glibc's
 * formats it with sprintf): every connection's peer is formatted (about
 * 2,500 instructions so, 200 now). */
void shim_format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char out[1 + INET6_ADDRSTRLEN + 8];
	size_t o = 0;
	unsigned port;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		const unsigned char *b = (const unsigned char *)&s4->sin_addr;

		for (int i = 0; i < 4; i++) {
			o += put_decimal(out + o, b[i]);
			out[o++] = i < 3 ? '.' : ':';
		}
		port = ntohs(s4->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		out[0] = '[';
		if (!inet_ntop(AF_INET6, &s6->sin6_addr, out + 1, INET6_ADDRSTRLEN))
			strcpy(out + 1, "?");
		o = strlen(out);
		out[o++] = ']';
		out[o++] = ':';
		port = ntohs(s6->sin6_port);
	} else {
		snprintf(buf, len, "(family %d)", sa->sa_family);
		return;
	}
	o += put_decimal(out + o, port);
	out[o] = '\0';
	str_copy(buf, len, out);
}


bool shim_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN];
	const char *colon = strrchr(s, ':');
	size_t hl;
	long port;
	char *end;

	memset(ss, 0, sizeof *ss);
	if (!colon)
		return false;
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535)
		return false;
	if (*s == '[') {
		hl = (size_t)(colon - s);
		if (hl < 2 || s[hl - 1] != ']' || hl - 2 >= sizeof host)
			return false;
		memcpy(host, s + 1, hl - 2);
		host[hl - 2] = '\0';
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof *s6;
		return inet_pton(AF_INET6, host, &s6->sin6_addr) == 1;
	}
	hl = (size_t)(colon - s);
	if (hl >= sizeof host)
		return false;
	memcpy(host, s, hl);
	host[hl] = '\0';
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	*len = sizeof *s4;
	return inet_pton(AF_INET, host, &s4->sin_addr) == 1;
}


size_t shim_iov_gather(const struct iovec *iov, int cnt, int *i, size_t *off, char *chunk,
		       size_t size)
{
	size_t fill = 0;

	while (*i < cnt && fill < size) {
		size_t take = iov[*i].iov_len - *off;
		if (take > size - fill)
			take = size - fill;
		if (take) /* an empty entry may be {NULL, 0}: no memcpy from NULL */
			memcpy(chunk + fill, (const char *)iov[*i].iov_base + *off, take);
		fill += take;
		*off += take;
		if (*off == iov[*i].iov_len) {
			(*i)++;
			*off = 0;
		}
	}
	return fill;
}

