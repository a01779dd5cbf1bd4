/* policy/ocsp.h — OCSP: stapling on accept rules, checking on connect
 * rules (tlsshim.conf(5), "ocsp_staple_file" and "ocsp").
 *
 * Server.  An accept rule's `ocsp_staple_file` (or one per `certs`
 * entry) is a DER OCSP response, as `openssl ocsp ... -respout` writes
 * it, for that certificate.  It is sent to clients that ask for it
 * (status_request; TLS 1.2 CertificateStatus, TLS 1.3 in the
 * Certificate message) by the SSL_CTX's status callback.  A response is
 * served only while it is usable: a successful response with a
 * SingleResponse for the certificate (CertID from the certificate and
 * its issuer in the chain; without the issuer, serial number and issuer
 * name hash), not before thisUpdate and not past nextUpdate (5 minutes
 * of clock skew allowed), or, without nextUpdate, not more than 24 hours
 * after thisUpdate.  Its signature is the client's to check.
 *
 * Reload.  ocsp_staples_refresh(), called by the shim when it accepts a
 * connection of the rule (never on the I/O path), looks at each file at
 * most once a second (stat: device, inode, size, mtime, ctime) and reads
 * it again when it changed.  A usable new response replaces the old one
 * for new handshakes; an unusable one is logged once and the old one
 * stays (one that is unusable only now, not valid yet or tryLater, is
 * read again at each look); a response past its nextUpdate stops being
 * sent (logged once).
 * The file is read with no lock held; the swap and the status callback's
 * copy take one leaf mutex (docs/locking.md, taken last at fork()).
 *
 * Client.  A connect rule with `ocsp` = "if_stapled" or "require" asks
 * for the server's status (status_request).  The status callback checks
 * the stapled response: successful, signed by the issuer or by a
 * responder it delegated to (OCSP_basic_verify against the rule's trust
 * store, the peer's chain as untrusted certificates), a SingleResponse
 * for the leaf, thisUpdate/nextUpdate within 5 minutes of skew (without
 * nextUpdate, thisUpdate at most 24 hours past), status good.  A revoked or unknown status or an invalid response fails the
 * handshake in both modes; no response fails it with "require".  The
 * reason (a printable line naming the server's certificate) is left as
 * the data of an ERR_LIB_SSL / SSL_R_INVALID_STATUS_RESPONSE error, which
 * the engine (core/tls.c) makes the connection's error.  A resumed
 * session carries no new status: it was checked when it was made, and is
 * not resumed once that response would no longer be accepted (its
 * nextUpdate, or 24 hours after its thisUpdate, plus the skew:
 * resume_bound in policy/resume.h).
 */
#ifndef TLSSHIM_POLICY_OCSP_H
#define TLSSHIM_POLICY_OCSP_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/ssl.h>

enum policy_ocsp { POLICY_OCSP_OFF = 0, POLICY_OCSP_IF_STAPLED = 1, POLICY_OCSP_REQUIRE = 2 };

struct ocsp_staples;

/* Where run-time lines go (the shim's log; levels as core/log.h:
 * 0 error, 1 warning, 2 info, 3 debug).  NULL (the default, e.g. in
 * tlsshim --check): nowhere. */
void ocsp_set_logger(void (*fn)(int level, const char *msg));

/* Staple the DER OCSP response in staple_path for the certificate whose
 * file is cert_path (its first PEM certificate; the rest of the file is
 * searched for its issuer), which must be loaded in one of ctxs.
 * Creates *set when NULL; installs the status callback on that SSL_CTX.
 * false with a one-line reason in why for what a policy must not hold: a
 * file that cannot be read, is not an OCSP response, or has no status
 * for the certificate.  A response that is only unusable now (not
 * successful, expired, not yet valid) is accepted, not sent, and logged
 * at the first refresh. */
bool ocsp_staple_add(struct ocsp_staples **set, SSL_CTX *const *ctxs, size_t nctx,
		     OSSL_LIB_CTX *libctx, const char *rule, const char *cert_path,
		     const char *staple_path, char *why, size_t whylen);
/* At a new connection of the rule: re-read changed staple files (at most
 * one look per file and second). */
void ocsp_staples_refresh(struct ocsp_staples *set);
void ocsp_staples_free(struct ocsp_staples *set);

/* Client: ask for and check the server's stapled status. */
/* A context rebuilt by a reload (policy/reload.c) serves the rule's
 * staples too: each is matched to the certificate a handshake uses, so a
 * replaced certificate gets no staple until its own response is loaded
 * (a staple for the old one would be a wrong answer). */
void ocsp_staples_attach(SSL_CTX *ctx, struct ocsp_staples *set);
bool ocsp_client_setup(SSL_CTX *ctx, enum policy_ocsp mode, char *why, size_t whylen);

/* fork(): the staple lock is taken last by the prepare handler and
 * released by both; the child owns it from then on. */
void ocsp_fork_lock(void);
void ocsp_fork_unlock(bool child);
void ocsp_fork_child(void);

#endif
