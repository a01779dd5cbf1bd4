/* policy/resume.h — session resumption: the client's session cache and
 * the server's ticket keys (tlsshim.conf(5), "Resumption").
 *
 * Client (connect rules): one cache per process, keyed by the rule (its
 * SSL_CTX) and the name the connection verifies.  The engine offers a
 * cached session before a handshake through the hook it gets in
 * struct tls_opts (resume_offer); OpenSSL hands new sessions and TLS 1.3
 * tickets to the cache through the SSL_CTX's new-session callback.
 *
 * Server (accept rules): OpenSSL's tickets with keys of this process, or
 * with `ticket_key_file`, keys read once from that file and shared by
 * every process (and host) that reads the same file.
 */
#ifndef TLSSHIM_POLICY_RESUME_H
#define TLSSHIM_POLICY_RESUME_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <openssl/ssl.h>

/* Most sessions the client cache holds, over every rule of the process;
 * the least recently stored or used one goes first. */
#define RESUME_CACHE_MAX 256
/* Most keys a ticket_key_file may hold (the first encrypts). */
#define RESUME_TICKET_KEYS_MAX 8
/* One key record: 16 bytes key name, 32 bytes HMAC-SHA256 secret,
 * 32 bytes AES-256-CBC key. */
#define RESUME_TICKET_KEY_LEN 80

/* A connect rule's SSL_CTX: with on, sessions are cached; without, the
 * client neither offers nor keeps any.  false with a reason in why. */
bool resume_setup_client(SSL_CTX *ctx, bool on, char *why, size_t whylen);

/* An accept rule's SSL_CTX: off (no ticket, no session cache), OpenSSL's
 * default (ticket_key_file NULL), or the keys of ticket_key_file, with a
 * session id context derived from the rule's name (rule_name) so that
 * hosts with the same rule resume each other's sessions.  The key file's
 * bytes are never logged nor put in a message. */
bool resume_setup_server(SSL_CTX *ctx, OSSL_LIB_CTX *libctx, bool on, const char *ticket_key_file,
			 const char *rule_name, char *why, size_t whylen);

/* The engine's hook (struct tls_opts .offer_session): a client SSL about
 * to start its handshake for name; offers the cached session if the
 * rule's cache has one.  Thread-safe; never blocks on the network. */
void resume_offer(SSL *ssl, const char *name);

/* A client connection's OCSP check (policy/ocsp.c): the response it
 * accepted holds until `until`; the sessions the connection makes are not
 * resumed past it (nor past the end of any certificate of the verified
 * chain or of the CRLs checked: resume.c, "how long a session's
 * verification holds").  Nothing when the rule keeps no sessions. */
void resume_bound(SSL *ssl, time_t until);

/* fork(): the cache's lock is a leaf of the global lock order
 * (docs/locking.md); the child keeps the cache (same identity). */
void resume_fork_lock(void);
void resume_fork_unlock(bool child);
void resume_fork_child(void);

/* Drop every session cached for this context (a reload replaced it:
 * policy/reload.c). */
void resume_forget(const SSL_CTX *ctx);

/* Sessions the cache holds now (tests). */
size_t resume_cache_count(void);

#endif
