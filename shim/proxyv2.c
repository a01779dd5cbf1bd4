/* shim/proxyv2.c — proxy_protocol = "v2" on an accept rule: the program
 * reads a PROXY protocol version 2 header (haproxy's proxy-protocol.txt)
 * before the first byte of the client's plaintext, as it would behind a
 * load balancer that speaks it.
 *
 * The header says PROXY over TCP, with the client's address and port as
 * the source and the address it connected to as the destination (IPv4,
 * or IPv6; IPv4-mapped addresses of a dual-stack socket as IPv4), and
 * these TLVs:
 *   PP2_TYPE_ALPN       the protocol negotiated, when one was;
 *   PP2_TYPE_AUTHORITY  the SNI host name, when the client sent one;
 *   PP2_TYPE_SSL        client flags: PP2_CLIENT_SSL always,
 *                       PP2_CLIENT_CERT_SESS when the session has a
 *                       client certificate, PP2_CLIENT_CERT_CONN when it
 *                       was sent on this connection (not resumed);
 *                       verify: 0 when a certificate was presented and
 *                       verified, else the verify result (1 when none);
 *                       sub-TLVs PP2_SUBTYPE_SSL_VERSION ("TLSv1.3"),
 *                       PP2_SUBTYPE_SSL_CN (the certificate's subject
 *                       CN, when there is one), PP2_SUBTYPE_SSL_CIPHER
 *                       (OpenSSL's name).
 * It is made when the handshake completes (tls_opts.preamble, called by
 * the engine under the connection's lock) and staged as plaintext that
 * has arrived: read, recv, readv, recvmsg, MSG_PEEK, FIONREAD, poll,
 * select and epoll all see it as bytes in the socket.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "core/peer.h"
#include "shim/shim.h"

static const unsigned char sig[12] = {
	0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A
};

#define PP2_TYPE_ALPN           0x01
#define PP2_TYPE_AUTHORITY      0x02
#define PP2_TYPE_SSL            0x20
#define PP2_SUBTYPE_SSL_VERSION 0x21
#define PP2_SUBTYPE_SSL_CN      0x22
#define PP2_SUBTYPE_SSL_CIPHER  0x23
#define PP2_CLIENT_SSL          0x01
#define PP2_CLIENT_CERT_CONN    0x02
#define PP2_CLIENT_CERT_SESS    0x04

struct out {
	unsigned char *b;
	size_t cap, len;
	bool full;
};

static void put(struct out *o, const void *p, size_t n)
{
	if (o->len + n > o->cap) {
		o->full = true;
		return;
	}
	memcpy(o->b + o->len, p, n);
	o->len += n;
}

static void put8(struct out *o, unsigned v)
{
	unsigned char b = (unsigned char)v;
	put(o, &b, 1);
}

static void put16(struct out *o, size_t v)
{
	unsigned char b[2] = { (unsigned char)(v >> 8), (unsigned char)v };
	put(o, b, 2);
}

static void tlv(struct out *o, unsigned type, const void *v, size_t n)
{
	put8(o, type);
	put16(o, n);
	put(o, v, n);
}

/* The addresses as the header carries them: 4 or 16 bytes each. */
static bool v4_of(const struct sockaddr_storage *ss, unsigned char a[4], uint16_t *port)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;
		memcpy(a, &s4->sin_addr, 4);
		*port = s4->sin_port;
		return true;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;
		if (!IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			return false;
		memcpy(a, s6->sin6_addr.s6_addr + 12, 4);
		*port = s6->sin6_port;
		return true;
	}
	return false;
}

size_t shim_proxy_v2(SSL *ssl, int fd, unsigned char *buf, size_t cap)
{
	struct sockaddr_storage src, dst;
	socklen_t sl = sizeof src, dl = sizeof dst;
	unsigned char s4[4], d4[4];
	uint16_t sp, dp;
	struct tls_peer_info pi;
	struct out o = { .b = buf, .cap = cap };
	size_t lenpos, sslpos;
	char cn[1040];          /* 64 characters of 4 UTF-8 bytes, each as \xNN */
	unsigned client = PP2_CLIENT_SSL;
	uint32_t verify;

	if (REAL(getpeername)(fd, (struct sockaddr *)&src, &sl) < 0 ||
	    REAL(getsockname)(fd, (struct sockaddr *)&dst, &dl) < 0)
		memset(&src, 0, sizeof src), memset(&dst, 0, sizeof dst);
	put(&o, sig, sizeof sig);
	put8(&o, 0x21);                         /* version 2, PROXY */
	if (v4_of(&src, s4, &sp) && v4_of(&dst, d4, &dp)) {
		put8(&o, 0x11);                 /* TCP over IPv4 */
		lenpos = o.len;
		put16(&o, 0);
		put(&o, s4, 4);
		put(&o, d4, 4);
		put(&o, &sp, 2);
		put(&o, &dp, 2);
	} else if (src.ss_family == AF_INET6 && dst.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)&src, *b = (const void *)&dst;
		put8(&o, 0x21);                 /* TCP over IPv6 */
		lenpos = o.len;
		put16(&o, 0);
		put(&o, &a->sin6_addr, 16);
		put(&o, &b->sin6_addr, 16);
		put(&o, &a->sin6_port, 2);
		put(&o, &b->sin6_port, 2);
	} else {
		put8(&o, 0x00);                 /* UNSPEC: no addresses */
		lenpos = o.len;
		put16(&o, 0);
	}
	tls_ssl_peer_info(ssl, true, NULL, &pi);
	if (pi.alpn_len)
		tlv(&o, PP2_TYPE_ALPN, pi.alpn, pi.alpn_len);
	if (pi.sni[0])
		tlv(&o, PP2_TYPE_AUTHORITY, pi.sni, strlen(pi.sni));
	if (pi.cert) {
		client |= PP2_CLIENT_CERT_SESS;
		if (!pi.resumed)
			client |= PP2_CLIENT_CERT_CONN;
		verify = pi.verify == X509_V_OK ? 0 : (uint32_t)pi.verify;
	} else {
		verify = 1;
	}
	put8(&o, PP2_TYPE_SSL);
	sslpos = o.len;
	put16(&o, 0);
	put8(&o, client);
	verify = htonl(verify);
	put(&o, &verify, 4);
	tlv(&o, PP2_SUBTYPE_SSL_VERSION, pi.version, strlen(pi.version));
	if (pi.cert && tls_x509_cn(pi.cert, cn, sizeof cn))
		tlv(&o, PP2_SUBTYPE_SSL_CN, cn, strlen(cn));
	tlv(&o, PP2_SUBTYPE_SSL_CIPHER, pi.cipher, strlen(pi.cipher));
	X509_free(pi.cert);
	if (o.full)
		return 0;
	buf[sslpos] = (unsigned char)((o.len - sslpos - 2) >> 8);
	buf[sslpos + 1] = (unsigned char)(o.len - sslpos - 2);
	buf[lenpos] = (unsigned char)((o.len - 16) >> 8);
	buf[lenpos + 1] = (unsigned char)(o.len - 16);
	return o.len;
}
