/* policy/sni.h — several certificates on one accept rule, picked by SNI.
 *
 * An accept rule with `certs = ( { cert; key; }, ... )` gets one SSL_CTX
 * per distinct set of names (the subjectAltName DNS names of the
 * entry's certificate), each built by ctx_build exactly like a rule with
 * one `cert`, so protocol, verification, CRL, ALPN and resumption
 * settings are the same in all of them.  Entries with the same names
 * share one SSL_CTX, one certificate per key type (ECDSA and RSA side by
 * side; OpenSSL picks by the client's signature algorithms).
 *
 * The servername callback, on every one of those SSL_CTXs, switches the
 * connection to the SSL_CTX whose names match the client's SNI (exact,
 * case-insensitive, first; then "*.suffix" names of a certificate, one
 * label), in entry order.  No match, or no SNI: the first entry's, or
 * with strict a fatal unrecognized_name alert (judged on the name the
 * ClientHello carries, by a ClientHello callback: see sni.c's hello_cb).
 * Resumption keys and the
 * session cache are the first SSL_CTX's (OpenSSL keeps the context the
 * connection was created with as its session context).
 */
#ifndef TLSSHIM_POLICY_SNI_H
#define TLSSHIM_POLICY_SNI_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/ssl.h>

struct policy_sni_group {
	SSL_CTX *ctx;
	char **names;            /* lower case, sorted */
	size_t nnames;
	int key_types[8];        /* EVP_PKEY base ids loaded into ctx */
	size_t nkeys;
	size_t first_entry;      /* 0-based index in certs */
};

struct policy_sni {
	struct policy_sni_group *groups;
	size_t ngroups;
	bool strict;
};

/* The DNS names of ctx's current certificate (lower case, sorted). */
bool sni_cert_names(SSL_CTX *ctx, char ***names, size_t *n);
/* The group with exactly these names, or NULL. */
struct policy_sni_group *sni_find_group(struct policy_sni *s, char **names, size_t n);
/* Add a group (takes ctx, names). */
bool sni_add_group(struct policy_sni *s, SSL_CTX *ctx, char **names, size_t n, size_t entry);
/* The key type of ctx's current certificate, or 0. */
int sni_key_type(SSL_CTX *ctx);
/* Set the servername and ClientHello callbacks on every group's ctx. */
void sni_install(struct policy_sni *s);
/* Which group serves name (NULL: none); -1 when none matches. */
int sni_pick(const struct policy_sni *s, const char *name);
void sni_free(struct policy_sni *s);
void sni_free_names(char **names, size_t n);

#endif
