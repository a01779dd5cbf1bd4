/* policy/pkcs11.h — private keys in a PKCS#11 token (key = "pkcs11:...").
 *
 * A rule's key may be an RFC 7512 URI instead of a file.  The key is then
 * loaded through OpenSSL's PKCS#11 engine (Debian's
 * libengine-pkcs11-openssl, libp11): the EVP_PKEY the rule's SSL_CTX gets
 * only refers to the token's object, every signature is made by the
 * token, and the key's bytes never enter the program's memory.  The
 * engine API is deprecated in OpenSSL 3 and is used in policy/pkcs11.c
 * only (docs/design.md, "Keys in a PKCS#11 token").
 */
#ifndef TLSSHIM_POLICY_PKCS11_H
#define TLSSHIM_POLICY_PKCS11_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/evp.h>

/* Which setting a failure is about: the key URI, pkcs11_module, pin_file. */
enum pkcs11_err { PKCS11_ERR_KEY, PKCS11_ERR_MODULE, PKCS11_ERR_PIN_FILE };

/* key names a token's object ("pkcs11:", any case). */
bool pkcs11_is_uri(const char *key);

/* Whether the URI carries its own PIN (a pin-value attribute). */
bool pkcs11_uri_has_pin(const char *uri);

/* The URI for messages and log lines: a pin-value attribute's value is
 * replaced by "***" and control characters by '?'. */
void pkcs11_uri_printable(const char *uri, char *out, size_t len);

/* The key the URI names, from module (NULL: the p11-kit proxy, which
 * reaches every module p11-kit has registered), logged in with the PIN in
 * pin_file (NULL: the URI's pin-value, or no login).  NULL on failure,
 * with *which and a one-line reason (never the PIN) in why: the module
 * cannot be loaded, no token matches, wrong PIN, no PIN given, no such
 * key.  Never prompts.  Safe across fork: libp11 notices a new process
 * and initialises the module again (C_Initialize, login, objects looked
 * up again) before the child's first signature. */
EVP_PKEY *pkcs11_load_key(const char *uri, const char *module, const char *pin_file,
			  enum pkcs11_err *which, char *why, size_t whylen);

#endif
