/* policy/ctx.h — build a rule's SSL_CTX with tlsshim's secure defaults.
 *
 * All OpenSSL context settings live here, in one place:
 *   TLS 1.2 minimum (1.3 if asked), TLS 1.3 maximum, no renegotiation,
 *   no compression, server cipher preference, peer verification on,
 *   certificate/key loaded and checked to match, CA file or directory
 *   (default: the system store), optional client-certificate requirement,
 *   cipher lists and ALPN.
 * Returns NULL and writes a one-line reason into why on error; the caller
 * (policy/) adds file and line.
 */
#ifndef TLSSHIM_POLICY_CTX_H
#define TLSSHIM_POLICY_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/ssl.h>

struct policy_rule;

/* Which key of the rule an error is about, so policy/ can report its line. */
enum ctx_err_key {
	CTX_ERR_NONE = 0, CTX_ERR_CERT, CTX_ERR_KEY, CTX_ERR_CA, CTX_ERR_CIPHERS,
	CTX_ERR_CIPHERSUITES, CTX_ERR_ALPN, CTX_ERR_MIN_VERSION, CTX_ERR_OTHER,
	CTX_ERR_TICKET_KEY_FILE, CTX_ERR_CRL,
	CTX_ERR_PKCS11_MODULE, CTX_ERR_PIN_FILE     /* key = "pkcs11:..." (policy/pkcs11.h) */
};

SSL_CTX *ctx_build(OSSL_LIB_CTX *libctx, const struct policy_rule *rule,
		   enum ctx_err_key *which, char *why, size_t whylen);
/* The same with this certificate and key in place of an accept rule's
 * own (a `certs` entry); the rule is not changed. */
SSL_CTX *ctx_build_cert(OSSL_LIB_CTX *libctx, const struct policy_rule *rule, const char *cert,
			const char *key, enum ctx_err_key *which, char *why, size_t whylen);

/* One more certificate (and its chain) and key into a server's ctx, in
 * the slot of its key type (ECDSA next to RSA): for `certs` entries that
 * serve the same names (policy/sni.c); rule gives pkcs11_module and
 * pin_file for a key in a token, and key_holder
 * (policy/keyholder.h).  Same errors as ctx_build. */
bool ctx_add_cert(SSL_CTX *ctx, OSSL_LIB_CTX *libctx, const struct policy_rule *rule, const char *cert,
		  const char *key, enum ctx_err_key *which, char *why, size_t whylen);

/* Files parsed once per policy load (policy/ctx.c, "memo"): between
 * ctx_memo_start and ctx_memo_finish, in the calling thread, rules that
 * name the same certificate, key or CA file (same name and stat stamps)
 * share what it parsed, and rules without a crl that use the system
 * trust store share one store.  Every check and SSL_CTX_use_* still runs
 * for every rule.  finish drops the memo's references (the SSL_CTXs keep
 * theirs). */
struct ctx_memo {
	struct memo *head;
};
void ctx_memo_start(struct ctx_memo *m);
void ctx_memo_finish(struct ctx_memo *m);

#endif
