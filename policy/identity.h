/* policy/identity.h — who the verified peer may be (allow lists, pins).
 *
 * A tls rule may restrict the peer whose certificate chain verified:
 * allow_cn, allow_ou (subject fields), allow_dns (SAN DNS names, "*.x"
 * for one label under x), allow_uri (SAN URIs, exact or a prefix ending
 * in "/" "*"), allow_ip (SAN IP addresses) and pin_spki (base64 SHA-256 of
 * the SubjectPublicKeyInfo).  Lists combine as ghostunnel's do: the peer
 * is allowed when ANY entry of ANY list matches.
 *
 * The engine (core/) knows nothing of this: the shim hands it
 * policy_identity_check and the rule's struct policy_identity as an
 * opaque callback and argument (struct tls_opts), which the engine calls
 * from its verify callback for the leaf certificate, after the chain
 * verified.
 */
#ifndef TLSSHIM_POLICY_IDENTITY_H
#define TLSSHIM_POLICY_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

struct config_setting_t;   /* libconfig's; only policy/ parses */

enum policy_id_list {
	POLICY_ID_CN, POLICY_ID_OU, POLICY_ID_DNS, POLICY_ID_URI, POLICY_ID_IP, POLICY_ID_PIN,
	POLICY_ID_NLISTS
};

struct policy_id_ip {
	int len;                 /* 4 or 16 */
	unsigned char a[16];
};

struct policy_identity {
	char **names[POLICY_ID_NLISTS];   /* CN, OU, DNS, URI: the strings */
	size_t n[POLICY_ID_NLISTS];       /* entries in each list */
	struct policy_id_ip *ips;         /* n[POLICY_ID_IP] of them */
	unsigned char (*pins)[32];        /* n[POLICY_ID_PIN] of them */
	EVP_MD *sha256;                   /* from the policy's library context */
};

/* The key's name ("allow_cn", ...). */
const char *policy_identity_key(enum policy_id_list which);

/* Parse the value of one key (a string or a list of strings) into *id,
 * creating it when NULL; a second setting of the same list replaces the
 * first.  On error returns false with *bad the offending setting (for its
 * line) and a message in why. */
bool policy_identity_parse(struct policy_identity **id, enum policy_id_list which,
			   const struct config_setting_t *s,
			   const struct config_setting_t **bad,
			   char *why, size_t whylen);

/* After parsing: fetch SHA-256 from the policy's library context. */
bool policy_identity_prepare(struct policy_identity *id, OSSL_LIB_CTX *libctx);

void policy_identity_free(struct policy_identity *id);

/* The tls_opts check_peer callback: arg is a struct policy_identity.
 * true: the leaf certificate is allowed.  false: why names the peer
 * (subject, SANs, SPKI pin; printable characters only). */
bool policy_identity_check(const void *arg, X509 *leaf, char *why, size_t whylen);

/* The peer's identity as one printable line: subject, SANs, SPKI pin. */
void policy_identity_describe(const struct policy_identity *id, X509 *cert, char *buf, size_t len);

#endif
