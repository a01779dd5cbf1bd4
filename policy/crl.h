/* policy/crl.h — certificate revocation lists for a rule's peer
 * verification (tlsshim.conf(5), "crl").
 *
 * A file of one or more PEM CRLs, read once at policy load into the
 * rule's verify store; or a directory of CRLs named by issuer hash
 * ("1a2b3c4d.r0", as "openssl rehash" names them), looked up during
 * each verification.  Every certificate of the peer's chain issued by a
 * CA (not the trust anchor itself) must then be covered by a current CRL
 * of its issuer: a revoked certificate, a missing CRL or an expired one
 * fails the handshake (X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL).
 */
#ifndef TLSSHIM_POLICY_CRL_H
#define TLSSHIM_POLICY_CRL_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/ssl.h>

/* false with a one-line reason in why. */
bool crl_setup(SSL_CTX *ctx, OSSL_LIB_CTX *libctx, const char *path, char *why, size_t whylen);

#endif
