/* policy/reload.h — certificates, keys, CAs, CRLs (and ticket key files)
 * reloaded when their files change (tlsshim.conf(5), RELOAD).
 *
 * Every SSL_CTX that ctx_build makes carries the stat() stamps (device,
 * inode, size, mtime, ctime) of the files it was built from, taken
 * *before* they were read, so a change made while they were read is seen
 * at the next check.  policy_reload_check() (at most once a second per
 * policy, called by the shim on the accept()/connect() path with no lock
 * held, never on the read/write path) compares them with the files, and
 * when one changed rebuilds the rule's SSL_CTX (and its SNI contexts) and
 * swaps it in.  A new file that does not build (unreadable, unparsable,
 * key not matching the certificate, certificate expired or not yet valid,
 * CRL past its next update) keeps the old context and is reported once
 * per change of the files.
 *
 * The current context of each rule is a pointer under a mutex (a leaf of
 * the global lock order, docs/locking.md); policy_reload_ctx() returns it
 * with a reference of its own (SSL_CTX_up_ref), which the caller drops
 * after SSL_new took its own.  The swap drops the old context's last
 * reference of the policy's; live connections hold theirs (SSL_new ups
 * both ctx and session_ctx), so an old context goes when its last
 * connection does.  The SNI groups of a reloaded rule live as long as
 * its first context (ex_data on it).
 *
 * Resumption: an accept rule's session id context is derived from a
 * SHA-256 of the contents of its ca and crl files (and the rule's name or
 * index), so a session established before a CA or CRL change never
 * resumes after it, even with a shared ticket_key_file; hosts sharing the
 * same files keep resuming each other's sessions.  A reload also forgets
 * the client sessions cached for the old context (policy/resume.c).
 * The ca and crl paths of rules that verify peers are also looked at
 * right before each handshake reads its first byte (policy_reload_fresh),
 * so a change is in force from the next handshake, not a second later.
 */
#ifndef TLSSHIM_POLICY_RELOAD_H
#define TLSSHIM_POLICY_RELOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/ssl.h>

struct policy;
struct policy_rule;
struct policy_reload;

/* ---- for policy/ctx.c ----------------------------------------------------- */

/* Stamp the files ctx is about to be built from: the certificate and key
 * given (NULL: none), the rule's ca, crl and ticket_key_file (with the
 * hashed entries of a directory), and, for an accept rule, the digest of
 * the ca and crl contents, the rule's terms and its leaf certificates
 * (SHA-256 from libctx, the policy's library context).  Call before any
 * of them is read. */
void reload_note_rule(SSL_CTX *ctx, OSSL_LIB_CTX *libctx, const struct policy_rule *r, const char *cert,
		      const char *key);
/* One more certificate and key (ctx_add_cert). */
void reload_note_files(SSL_CTX *ctx, const char *cert, const char *key);
/* An accept rule's session id context: SHA-256 of the rule's label and
 * the digest noted by reload_note_rule. */
bool reload_session_context(SSL_CTX *ctx, OSSL_LIB_CTX *libctx, const struct policy_rule *r);

/* ---- for policy/policy.c ---------------------------------------------------- */

/* The reload state of a loaded policy (each tls rule's context as
 * loaded); NULL without memory (then no reload). */
struct policy_reload *policy_reload_new(const struct policy *p);
void policy_reload_free(struct policy_reload *rl);

/* ---- for the shim -------------------------------------------------------- */

/* levels as core/log.h's: 1 warn, 2 info, 3 debug. */
typedef void (*reload_log_fn)(int level, const char *rule, const char *msg);

/* The rule's current SSL_CTX with a reference for the caller (release
 * with SSL_CTX_free once SSL_new has taken its own), or NULL (a signal
 * handler interrupted its own thread inside the swap lock). */
SSL_CTX *policy_reload_ctx(const struct policy *p, const struct policy_rule *r);
/* Check the files of every tls rule if a second has passed since the
 * last check, and reload what changed.  With no lock of the caller held:
 * it reads files and builds contexts. */
void policy_reload_check(const struct policy *p, reload_log_fn log);
/* Same, whatever the time of the last check (tests, the linger thread). */
void policy_reload_check_now(const struct policy *p, reload_log_fn log);
/* At a connection's first handshake step (tls_opts.fresh_ctx): when the
 * rule verifies its peers (an accept rule with require_client_cert, a
 * connect rule that verifies), its ca and crl paths are looked at
 * (stat(2), at most two calls: a directory's own stamp changes when an
 * entry is added, removed or renamed over) and a change reloads at once,
 * whatever the time of the last check; then, when the rule's current
 * context is not `have`, it is returned with a reference for the caller
 * (NULL: keep have).  So a CA or CRL replaced by a rename is in force
 * for every handshake that starts after the rename, also one of a
 * connection accepted before it.  A change seen while another thread is
 * checking waits for that check to end and checks again (it may have
 * read the files before the change); *refuse is set (NULL returned: the
 * handshake must fail) when that did not end within 10 s.  Called under
 * a connection's lock: what it takes besides are leaves (the swap lock,
 * the resume cache's). */
SSL_CTX *policy_reload_fresh(const struct policy *p, const struct policy_rule *r, SSL_CTX *have,
			     reload_log_fn log, bool *refuse);
/* The system trust store's file of every connect rule on it (no ca) read
 * now, in the calling thread, unless it was (policy/hashdir.h: it is read
 * at the first verification against it): before the process sandboxes
 * itself (a seccomp filter, Landlock), after which it may not open the
 * file any more.  With no lock of the caller held. */
void policy_read_system_stores(const struct policy *p);
/* Successful reloads so far (tests). */
unsigned long policy_reload_count(const struct policy *p);

/* fork(): the swap lock is a leaf, taken last (docs/locking.md). */
void policy_reload_fork_lock(const struct policy *p);
void policy_reload_fork_unlock(const struct policy *p, bool child);
void policy_reload_fork_child(const struct policy *p);

#endif
