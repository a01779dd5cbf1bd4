/* core/peer.h — what a completed handshake established, for the program:
 * the environment of an exec'd service (shim/peerenv.c) and the PROXY
 * protocol v2 header (shim/proxyv2.c).  Read under the connection's lock;
 * the program's OpenSSL error queue is left as found. */
#ifndef TLSSHIM_CORE_PEER_H
#define TLSSHIM_CORE_PEER_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/tls.h"

struct tls_peer_info {
	char version[16];          /* "TLSv1.3" */
	char cipher[80];           /* OpenSSL's name: "TLS_AES_256_GCM_SHA384" */
	unsigned char alpn[256];   /* the negotiated protocol (alpn_len bytes) */
	size_t alpn_len;
	char sni[256];             /* server: the name the client sent ("" none) */
	long verify;               /* SSL_get_verify_result */
	bool verified;             /* cert was asked for and verified (SSL_VERIFY_PEER and
				    * X509_V_OK): not the server's of verify = "none" */
	bool resumed;
	X509 *cert;                /* the peer's certificate (a reference), or NULL */
};

/* Fill *pi from c, whose handshake is complete: false when it is not (or
 * a signal handler interrupted this thread inside the engine on c).  The
 * caller frees pi->cert with X509_free. */
bool tls_conn_peer_info(struct tls_conn *c, struct tls_peer_info *pi);
/* The same from an SSL object whose handshake completed (no lock taken:
 * for tls_opts.preamble).  name: a client's verified name, or NULL. */
void tls_ssl_peer_info(SSL *ssl, bool server, const char *name, struct tls_peer_info *pi);

/* The subject in RFC 2253 form (as `openssl x509 -nameopt RFC2253`). */
bool tls_x509_subject(X509 *x, char *buf, size_t len);
/* The subject as X509_NAME_oneline writes it ("/O=x/CN=y"), but every
 * value taken as UTF-8 first (oneline writes a BMPString's raw bytes:
 * U+726F U+6F74 would read "root"), bytes outside printable ASCII as \xNN. */
void tls_x509_oneline(X509 *x, char *buf, size_t len);
/* The subject's commonName in UTF-8, bytes outside printable ASCII and
 * the backslash as \xNN; false when the subject has none, or more than
 * one, or it does not fit. */
bool tls_x509_cn(X509 *x, char *buf, size_t len);
/* subjectAltNames, typed and comma-separated: "DNS:a,URI:b,IP:c,email:d"
 * (other types are left out); inside a name a comma, a backslash and any
 * byte outside printable ASCII are written \xNN, so a comma only ever
 * separates two names. */
bool tls_x509_sans(X509 *x, char *buf, size_t len);
/* X509_cmp_current_time(X509_get0_notAfter(x)) <= 0: x's notAfter is now
 * or past, or is not a time RFC 5280 allows (the format X509_cmp_time
 * checks: UTCTime of 13 or GeneralizedTime of 15 characters, digits then
 * "Z"), or cannot be read.  Asked at every resumed handshake, where
 * X509_cmp_time's way (it allocates an ASN1_TIME for the current time
 * and formats it) costs about 5,400 instructions; this, about 1,250.
 * Inline: the launcher's policy code (policy/resume.c) uses it without
 * the engine. */
static inline bool tls_x509_expired(const X509 *x)
{
	const ASN1_TIME *t = X509_get0_notAfter(x);
	const unsigned char *d = t ? ASN1_STRING_get0_data(t) : NULL;
	int len = t ? ASN1_STRING_length(t) : 0, type = t ? ASN1_STRING_type(t) : 0, day, sec;

	if (!d || !((type == V_ASN1_UTCTIME && len == 13) || (type == V_ASN1_GENERALIZEDTIME && len == 15)) ||
	    d[len - 1] != 'Z')
		return true;
	for (int i = 0; i < len - 1; i++)
		if (d[i] < '0' || d[i] > '9')
			return true;
	/* t minus now; day and sec have the same sign. */
	if (!ASN1_TIME_diff(&day, &sec, NULL, t))
		return true;
	return day < 0 || (day == 0 && sec <= 0);
}

/* base64 SHA-256 of the DER SubjectPublicKeyInfo (44 characters): the
 * pin_spki form. */
bool tls_x509_spki_sha256(X509 *x, char *buf, size_t len);

#endif
