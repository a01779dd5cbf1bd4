/* policy/resume.c — session resumption (see resume.h).
 *
 * The client cache.  One array of RESUME_CACHE_MAX entries for the whole
 * process, each (rule's SSL_CTX, name verified, session).  A name is
 * verified on every full handshake, so a session kept for (rule, name)
 * is only ever offered to a connection that would verify the same name
 * under the same rule.  TLS 1.3 sessions are single-use (RFC 8446 C.4):
 * offering one takes it out of the cache, and the tickets the server
 * sends on the new connection put the latest one back.  TLS 1.2 sessions
 * stay until replaced, expired or evicted.
 *
 * Locking: one lock (core/lock.h), a leaf (nothing is called under it but OpenSSL's
 * reference counting and free), taken by the engine's hook at a client's
 * first handshake step and by OpenSSL's new-session callback, both under
 * a connection's lock.  Its word is its holder, so that a signal
 * handler that interrupted its own thread inside the cache skips the
 * cache instead of hanging.  fork() takes it last (shim/init.c); a child
 * made by fork() keeps the cache: it is the same program with the same
 * policy, so its sessions are its own.  A ticket may then be used once
 * by the parent and once by each child: that lets an observer link those
 * connections (which come from the same host anyway) and nothing more,
 * since no early data is ever sent.  A child made without fork()'s
 * handlers (_Fork, clone, vfork, the shim's pumps) does not use the cache
 * at all: the lock may have been copied held.
 */
#include "policy/resume.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "core/alloc.h"
#include "core/lock.h"
#include "core/peer.h"
#include "core/self.h"
#include "policy/asn1time.h"
#include "policy/file.h"

/* ---- ex_data indices ------------------------------------------------------ */

static int idx_cache = -1;      /* SSL_CTX: non-NULL marker, cache on for this rule */
static int idx_keys = -1;       /* SSL_CTX: struct ticket_keys */
static int idx_name = -1;       /* SSL: struct note, the name this client verifies */
static pthread_once_t idx_once = PTHREAD_ONCE_INIT;

static void purge_ctx(const SSL_CTX *ctx);

static void free_cache_marker(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)ad; (void)idx; (void)argl; (void)argp;
	if (ptr)
		purge_ctx(parent);
}

struct ticket_key {
	unsigned char name[16];
	unsigned char hmac[32];
	unsigned char aes[32];
};

struct ticket_keys {
	OSSL_LIB_CTX *libctx;
	EVP_CIPHER *cipher;
	size_t n;
	struct ticket_key k[RESUME_TICKET_KEYS_MAX];
};

static void free_keys(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	struct ticket_keys *t = ptr;

	(void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
	if (!t)
		return;
	EVP_CIPHER_free(t->cipher);
	OPENSSL_cleanse(t, sizeof *t);
	free(t);
}

/* A client connection's: where its sessions go (the name it verifies)
 * and the latest time an OCSP response it checked holds (0: none). */
struct note {
	int64_t bound;
	char name[];
};

static void free_name(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
	free(ptr);
}

static void idx_init(void)
{
	idx_cache = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_cache_marker);
	idx_keys = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_keys);
	idx_name = SSL_get_ex_new_index(0, NULL, NULL, NULL, free_name);
}

static bool indices(void)
{
	pthread_once(&idx_once, idx_init);
	return idx_cache >= 0 && idx_keys >= 0 && idx_name >= 0;
}

/* ---- the client cache ----------------------------------------------------- */

struct entry {
	const SSL_CTX *ctx;      /* the rule; NULL: free slot */
	char *name;
	SSL_SESSION *sess;
	unsigned long long used; /* stamp of the last store or offer */
};

static struct entry cache[RESUME_CACHE_MAX];
static unsigned long long stamp;
static struct xlock cache_lock = XLOCK_INIT;
static _Atomic pid_t cache_pid;          /* the process the lock is valid in */

/* false: skip the cache (a signal handler of the holder's own thread, or
 * a process made without fork()'s handlers, where the lock may be held
 * for ever). */
static bool lock_cache(void)
{
	pid_t owner = atomic_load_explicit(&cache_pid, memory_order_relaxed);

	if (owner == 0 || owner != self_pid())
		return false;
	return xlock_lock_unless_mine(&cache_lock);
}

static void unlock_cache(void)
{
	xlock_unlock(&cache_lock);
}

static void drop(struct entry *e)
{
	SSL_SESSION_free(e->sess);
	free(e->name);
	memset(e, 0, sizeof *e);
}

static struct entry *find(const SSL_CTX *ctx, const char *name)
{
	size_t i;

	for (i = 0; i < RESUME_CACHE_MAX; i++)
		if (cache[i].ctx == ctx && strcmp(cache[i].name, name) == 0)
			return &cache[i];
	return NULL;
}

static bool expired(const SSL_SESSION *s)
{
	time_t t = SSL_SESSION_get_time(s);
	long to = SSL_SESSION_get_timeout(s);

	return (long long)time(NULL) >= (long long)t + to;
}

/* The peer's certificate in a session has expired since the session was
 * made (or its time cannot be read): a full handshake would refuse that
 * peer now, so the session is neither offered nor taken. */
static bool peer_expired(const SSL_SESSION *s)
{
	X509 *x = SSL_SESSION_get0_peer((SSL_SESSION *)s);

	return x && tls_x509_expired(x);
}

/* ---- how long a session's verification holds --------------------------------
 *
 * A resumed handshake verifies nothing: it stands on the verification of
 * the handshake that made the session, which holds only until the
 * earliest end of what it used: the notAfter of every certificate of the
 * verified chain (intermediates and trust anchor too), the nextUpdate of
 * the CRLs checked (a rule with crl: past it, a full handshake fails with
 * "CRL has expired"), the validity of the OCSP response checked
 * (resume_bound).  That time, the session's bound, is computed where the
 * chain is verified (verify_and_bound, OpenSSL's certificate verification
 * callback: the session is the full handshake's own, not yet in a cache
 * or ticket) and kept in the session (its ticket application data: inside
 * the encrypted ticket on a server, in memory on a client); the sessions
 * a resumed connection makes (TLS 1.3 tickets) inherit it.  A client's
 * OCSP end is added when the cache takes the session.  The session's
 * timeout is cut to end there too, so that OpenSSL's own expiry (the
 * server's session id cache, the ticket's lifetime hint) ends it.  A
 * session that may be shared (in the server's cache) is never written
 * but for its timeout, which OpenSSL sets under the cache's lock. */
#define BOUND_TAG "tlsshim bound 1:"
#define BOUND_TAG_LEN (sizeof BOUND_TAG - 1)

static bool get_bound(const SSL_SESSION *ss, int64_t *out)
{
	void *d = NULL;
	size_t len = 0;
	uint64_t v = 0;

	if (!SSL_SESSION_get0_ticket_appdata((SSL_SESSION *)ss, &d, &len) || !d ||
	    len != BOUND_TAG_LEN + 8 || memcmp(d, BOUND_TAG, BOUND_TAG_LEN) != 0)
		return false;
	for (size_t i = 0; i < 8; i++)
		v = v << 8 | ((const unsigned char *)d)[BOUND_TAG_LEN + i];
	*out = (int64_t)v;
	return true;
}

static bool set_bound(SSL_SESSION *ss, int64_t b)
{
	unsigned char rec[BOUND_TAG_LEN + 8];
	uint64_t v = (uint64_t)b;

	memcpy(rec, BOUND_TAG, BOUND_TAG_LEN);
	for (size_t i = 0; i < 8; i++)
		rec[BOUND_TAG_LEN + i] = (unsigned char)(v >> (56 - 8 * i));
	return SSL_SESSION_set1_ticket_appdata(ss, rec, sizeof rec) == 1;
}

/* An unreadable time counts as past. */
static int64_t when(const ASN1_TIME *t)
{
	time_t v = policy_asn1_time(t);

	return v > 0 ? (int64_t)v : 1;
}

/* The verification xs just made: its chain's earliest notAfter and,
 * with CRL checking, for each certificate checked (the leaf, or every one
 * with CRL_CHECK_ALL, as OpenSSL checks them) the latest nextUpdate of its
 * issuer's CRLs in the store (OpenSSL used the best of them; a CRL
 * without nextUpdate sets no end).  1 (long past) when the chain is not
 * known. */
static int64_t chain_bound(X509_STORE_CTX *xs)
{
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(xs);
	unsigned long flags = X509_VERIFY_PARAM_get_flags(X509_STORE_CTX_get0_param(xs));
	int n = chain ? sk_X509_num(chain) : 0, last;
	int64_t b = INT64_MAX;

	if (n <= 0)
		return 1;
	for (int i = 0; i < n; i++) {
		int64_t t = when(X509_get0_notAfter(sk_X509_value(chain, i)));

		if (t < b)
			b = t;
	}
	if (!(flags & X509_V_FLAG_CRL_CHECK))
		return b;
	last = flags & X509_V_FLAG_CRL_CHECK_ALL ? n - 1 : 0;
	ERR_set_mark();
	for (int i = 0; i <= last; i++) {
		STACK_OF(X509_CRL) *crls = X509_STORE_CTX_get1_crls(xs, X509_get_issuer_name(sk_X509_value(chain, i)));
		int64_t latest = 0;
		bool open = false;

		for (int j = 0; j < sk_X509_CRL_num(crls); j++) {
			const ASN1_TIME *nu = X509_CRL_get0_nextUpdate(sk_X509_CRL_value(crls, j));
			int64_t t = nu ? when(nu) : 0;

			open |= !nu;
			if (t > latest)
				latest = t;
		}
		/* None: a certificate OpenSSL did not check (the trust anchor). */
		if (!open && latest && latest < b)
			b = latest;
		sk_X509_CRL_pop_free(crls, X509_CRL_free);
	}
	ERR_pop_to_mark();
	return b;
}

/* OpenSSL's certificate verification callback (every rule with a
 * session cache): the verification OpenSSL would make, then, when it
 * passed, the bound of the handshake's session from what it used. */
static int verify_and_bound(X509_STORE_CTX *xs, void *arg)
{
	int ok = X509_verify_cert(xs);
	SSL *s = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	SSL_SESSION *ss = s ? SSL_get_session(s) : NULL;

	(void)arg;
	if (ok > 0 && ss)
		(void)set_bound(ss, chain_bound(xs));   /* none: never resumed (stale) */
	return ok;
}

/* A session of a connection that verified its peer: its timeout is cut to
 * end at its bound (none: at once).  With own (a client's new session,
 * which only the cache will hold), an OCSP end the connection noted
 * (resume_bound) is added to the bound first.  false: the bound has
 * passed, the session must not be kept. */
static bool bound_session(SSL *s, SSL_SESSION *ss, bool own)
{
	const struct note *n = own && indices() ? SSL_get_ex_data(s, idx_name) : NULL;
	int64_t b, left;

	if (!(SSL_get_verify_mode(s) & SSL_VERIFY_PEER) || !SSL_SESSION_get0_peer(ss))
		return true;
	if (!get_bound(ss, &b))
		b = 1;
	if (n && n->bound && n->bound < b && !set_bound(ss, n->bound))
		b = 1;
	else if (n && n->bound && n->bound < b)
		b = n->bound;
	left = b - (int64_t)SSL_SESSION_get_time(ss);
	if (left < SSL_SESSION_get_timeout(ss))
		SSL_SESSION_set_timeout(ss, left > 0 ? (long)left : 0);
	return b > (int64_t)time(NULL);
}

/* A session that may not stand any more: its peer's certificate has
 * expired, or (when the rule verifies its peer) its bound has passed or
 * it has none (made before bounds were kept, or by another program with
 * the same ticket keys). */
static bool stale(const SSL_SESSION *ss, bool verifies)
{
	int64_t b;

	if (!SSL_SESSION_get0_peer((SSL_SESSION *)ss))
		return false;
	if (peer_expired(ss))
		return true;
	return verifies && (!get_bound(ss, &b) || b <= (int64_t)time(NULL));
}

void resume_bound(SSL *ssl, time_t until)
{
	struct note *n = indices() ? SSL_get_ex_data(ssl, idx_name) : NULL;

	if (n && (!n->bound || (int64_t)until < n->bound))
		n->bound = until > 0 ? (int64_t)until : 1;
}

static void purge_ctx(const SSL_CTX *ctx)
{
	size_t i;

	if (!lock_cache())
		return;
	for (i = 0; i < RESUME_CACHE_MAX; i++)
		if (cache[i].ctx == ctx)
			drop(&cache[i]);
	unlock_cache();
}

void resume_offer(SSL *ssl, const char *name)
{
	SSL_CTX *ctx = SSL_get_SSL_CTX(ssl);
	SSL_SESSION *sess = NULL;
	struct entry *e;
	struct note *note;
	size_t len;

	if (!name || !*name || !ctx || !indices() || !SSL_CTX_get_ex_data(ctx, idx_cache))
		return;
	/* For the new-session callback: where this connection's sessions go. */
	len = strlen(name);
	if (!(note = calloc(1, sizeof *note + len + 1)))
		return;
	memcpy(note->name, name, len + 1);
	if (!SSL_set_ex_data(ssl, idx_name, note)) {
		free(note);
		return;
	}
	if (!lock_cache())
		return;
	if ((e = find(ctx, name))) {
		if (!SSL_SESSION_is_resumable(e->sess) || expired(e->sess) ||
		    stale(e->sess, SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER)) {
			drop(e);
		} else if (SSL_SESSION_get_protocol_version(e->sess) >= TLS1_3_VERSION) {
			sess = e->sess;  /* single use: the reference moves to us */
			e->sess = NULL;
			drop(e);
		} else {
			sess = e->sess;
			SSL_SESSION_up_ref(sess);
			e->used = ++stamp;
		}
	}
	unlock_cache();
	if (sess) {
		SSL_set_session(ssl, sess);
		SSL_SESSION_free(sess);
	}
}

/* OpenSSL's new-session callback (client): 1 when the cache keeps the
 * reference it is given. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	const struct note *note = indices() ? SSL_get_ex_data(ssl, idx_name) : NULL;
	const char *name = note ? note->name : NULL;
	SSL_CTX *ctx = SSL_get_SSL_CTX(ssl);
	struct entry *e;
	size_t i;

	/* Not at _exit (a ticket the close_notify's peek took in): the
	 * process ends, and the copy of the name would be malloc's, which a
	 * signal handler's _exit may not call (core/alloc.c). */
	if (!name || !ctx || alloc_exiting() || !SSL_SESSION_is_resumable(sess) ||
	    !bound_session(ssl, sess, true) || !lock_cache())
		return 0;
	e = find(ctx, name);
	if (e) {
		SSL_SESSION_free(e->sess);  /* the latest ticket replaces the older */
	} else {
		char *copy = strdup(name);

		if (!copy) {
			unlock_cache();
			return 0;
		}
		for (i = 0; i < RESUME_CACHE_MAX && !e; i++)
			if (!cache[i].ctx)
				e = &cache[i];
		for (i = 0; i < RESUME_CACHE_MAX && !e; i++)
			if (expired(cache[i].sess))
				e = &cache[i];
		if (!e) {   /* full: the least recently used goes */
			e = &cache[0];
			for (i = 1; i < RESUME_CACHE_MAX; i++)
				if (cache[i].used < e->used)
					e = &cache[i];
		}
		if (e->ctx)
			drop(e);
		e->ctx = ctx;
		e->name = copy;
	}
	e->sess = sess;
	e->used = ++stamp;
	unlock_cache();
	return 1;
}

void resume_forget(const SSL_CTX *ctx)
{
	if (ctx)
		purge_ctx(ctx);
}

size_t resume_cache_count(void)
{
	size_t i, n = 0;

	if (!lock_cache())
		return 0;
	for (i = 0; i < RESUME_CACHE_MAX; i++)
		n += cache[i].ctx != NULL;
	unlock_cache();
	return n;
}

/* Not taken when the forking thread holds it already (a signal handler
 * that forks, having interrupted its thread inside the cache): that
 * thread goes on and releases it, in both processes. */
static bool fork_took;

void resume_fork_lock(void)
{
	fork_took = xlock_lock_unless_mine(&cache_lock);
}

void resume_fork_unlock(bool child)
{
	xlock_fork_release(&cache_lock, fork_took, child);
}

void resume_fork_child(void)
{
	if (atomic_load_explicit(&cache_pid, memory_order_relaxed) != 0)
		atomic_store_explicit(&cache_pid, self_pid(), memory_order_relaxed);
}

static bool why_set(char *why, size_t whylen, const char *fmt, const char *arg)
	__attribute__((format(printf, 3, 0)));
static bool why_set(char *why, size_t whylen, const char *fmt, const char *arg)
{
	if (whylen)
		snprintf(why, whylen, fmt, arg);
	return false;
}

bool resume_setup_client(SSL_CTX *ctx, bool on, char *why, size_t whylen)
{
	if (!on) {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		return true;
	}
	if (!indices() || !SSL_CTX_set_ex_data(ctx, idx_cache, (void *)ctx))
		return why_set(why, whylen, "cannot set up the session cache%s", "");
	atomic_store_explicit(&cache_pid, self_pid(), memory_order_relaxed);
	SSL_CTX_set_cert_verify_callback(ctx, verify_and_bound, NULL);
	/* Not OpenSSL's internal store: ours, keyed by the name verified. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, on_new_session);
	return true;
}

/* ---- server: shared ticket keys --------------------------------------------- */

/* OpenSSL's ticket callback: encrypt with the first key; decrypt with
 * whichever key the ticket names.  1: done; 2: done, but the ticket was
 * made with an older key, so a new one (first key) is issued; 0: unknown
 * key, a full handshake; -1: error. */
static int ticket_cb(SSL *s, unsigned char key_name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
		     EVP_MAC_CTX *hctx, int enc)
{
	struct ticket_keys *t = indices() ? SSL_CTX_get_ex_data(SSL_get_SSL_CTX(s), idx_keys) : NULL;
	const struct ticket_key *k = NULL;
	OSSL_PARAM params[3];
	int ivlen;
	size_t i;

	if (!t)
		return -1;
	ivlen = EVP_CIPHER_get_iv_length(t->cipher);
	if (enc) {
		k = &t->k[0];
		memcpy(key_name, k->name, sizeof k->name);
		if (ivlen <= 0 || RAND_bytes_ex(t->libctx, iv, (size_t)ivlen, 0) <= 0 ||
		    !EVP_EncryptInit_ex2(cctx, t->cipher, k->aes, iv, NULL))
			return -1;
	} else {
		for (i = 0; i < t->n && !k; i++)
			if (CRYPTO_memcmp(key_name, t->k[i].name, sizeof t->k[i].name) == 0)
				k = &t->k[i];
		if (!k)
			return 0;
		if (!EVP_DecryptInit_ex2(cctx, t->cipher, k->aes, iv, NULL))
			return -1;
	}
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac, sizeof k->hmac);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_CTX_set_params(hctx, params))
		return -1;
	return enc || k == &t->k[0] ? 1 : 2;
}

/* The whole file, RESUME_TICKET_KEY_LEN bytes per key.  Regular file
 * only, never blocking (policy/file.h), not readable by other users. */
static bool read_keys(struct ticket_keys *t, const char *path, char *why, size_t whylen)
{
	unsigned char buf[RESUME_TICKET_KEY_LEN * RESUME_TICKET_KEYS_MAX + 1];
	const char *reason = NULL;
	struct stat st;
	size_t len = 0, i, j;
	bool ok = false;
	BIO *in;
	int n;

	if (stat(path, &st) == 0 && (st.st_mode & (S_IROTH | S_IWOTH)))
		return why_set(why, whylen, "ticket key file \"%s\" is readable or writable by other users"
			       " (chmod o-rwx)", path);
	if (!(in = policy_bio_regular(path, &reason))) {
		if (whylen)
			snprintf(why, whylen, "cannot read ticket key file \"%s\": %s", path,
				 reason ? reason : "cannot open");
		return false;
	}
	while (len < sizeof buf && (n = BIO_read(in, buf + len, (int)(sizeof buf - len))) > 0)
		len += (size_t)n;
	BIO_free(in);
	if (len == 0 || len % RESUME_TICKET_KEY_LEN != 0 || len > RESUME_TICKET_KEY_LEN * RESUME_TICKET_KEYS_MAX) {
		if (whylen)
			snprintf(why, whylen, "ticket key file \"%s\" must hold 1 to %d keys of %d bytes each"
				 " (make one with: openssl rand %d >FILE)", path, RESUME_TICKET_KEYS_MAX,
				 RESUME_TICKET_KEY_LEN, RESUME_TICKET_KEY_LEN);
		goto out;
	}
	t->n = len / RESUME_TICKET_KEY_LEN;
	for (i = 0; i < t->n; i++) {
		const unsigned char *r = buf + i * RESUME_TICKET_KEY_LEN;

		memcpy(t->k[i].name, r, 16);
		memcpy(t->k[i].hmac, r + 16, 32);
		memcpy(t->k[i].aes, r + 48, 32);
		for (j = 0; j < i; j++)
			if (memcmp(t->k[j].name, t->k[i].name, 16) == 0) {
				if (whylen)
					snprintf(why, whylen, "ticket key file \"%s\": keys %zu and %zu have the same"
						 " name (first 16 bytes)", path, j + 1, i + 1);
				goto out;
			}
	}
	ok = true;
out:
	OPENSSL_cleanse(buf, sizeof buf);
	return ok;
}

/* OpenSSL's callback for a ticket it could decrypt (server): a session
 * past its timeout or stale (its client certificate expired, its bound
 * passed: an intermediate CA or the CRL ended since) is not resumed; the
 * client gets a full handshake (and a new ticket), where its certificate
 * is verified again.  Otherwise OpenSSL's own choice. */
static SSL_TICKET_RETURN ticket_dec_cb(SSL *s, SSL_SESSION *ss, const unsigned char *keyname,
				       size_t keyname_len, SSL_TICKET_STATUS status, void *arg)
{
	(void)keyname; (void)keyname_len; (void)arg;
	switch (status) {
	case SSL_TICKET_SUCCESS:
	case SSL_TICKET_SUCCESS_RENEW:
		if (ss && (expired(ss) || stale(ss, SSL_get_verify_mode(s) & SSL_VERIFY_PEER)))
			return SSL_TICKET_RETURN_IGNORE_RENEW;
		return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE : SSL_TICKET_RETURN_USE_RENEW;
	case SSL_TICKET_FATAL_ERR_MALLOC:
	case SSL_TICKET_FATAL_ERR_OTHER:
		return SSL_TICKET_RETURN_ABORT;
	default:        /* none, empty, cannot decrypt */
		return SSL_TICKET_RETURN_IGNORE_RENEW;
	}
}

/* OpenSSL's callback before it encrypts a ticket (server), and its
 * new-session callback (a session id put in the server's cache): the
 * session's timeout ends at its bound. */
static int ticket_gen_cb(SSL *s, void *arg)
{
	SSL_SESSION *ss = SSL_get_session(s);

	(void)arg;
	if (ss)
		(void)bound_session(s, ss, false);
	return 1;
}

static int on_server_session(SSL *ssl, SSL_SESSION *sess)
{
	(void)bound_session(ssl, sess, false);
	return 0;
}

bool resume_setup_server(SSL_CTX *ctx, OSSL_LIB_CTX *libctx, bool on, const char *ticket_key_file,
			 const char *rule_name, char *why, size_t whylen)
{
	struct ticket_keys *t;
	unsigned char sid[SHA256_DIGEST_LENGTH];
	char label[300];

	if (!on) {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx, 0);
		return true;
	}
	if (!SSL_CTX_set_session_ticket_cb(ctx, ticket_gen_cb, ticket_dec_cb, NULL))
		return why_set(why, whylen, "cannot set up session tickets%s", "");
	SSL_CTX_sess_set_new_cb(ctx, on_server_session);
	SSL_CTX_set_cert_verify_callback(ctx, verify_and_bound, NULL);
	if (!ticket_key_file)
		return true;    /* OpenSSL's tickets, keys of this process */
	if (!indices() || !(t = calloc(1, sizeof *t)))
		return why_set(why, whylen, "out of memory%s", "");
	t->libctx = libctx;
	if (!read_keys(t, ticket_key_file, why, whylen)) {
		free_keys(NULL, t, NULL, 0, 0, NULL);
		return false;
	}
	if (!(t->cipher = EVP_CIPHER_fetch(libctx, "AES-256-CBC", NULL)) ||
	    !SSL_CTX_set_ex_data(ctx, idx_keys, t)) {
		free_keys(NULL, t, NULL, 0, 0, NULL);
		return why_set(why, whylen, "cannot use the ticket keys of \"%s\"", ticket_key_file);
	}
	if (!SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb))
		return why_set(why, whylen, "cannot use the ticket keys of \"%s\"", ticket_key_file);
	/* Every host that shares the key file must agree on the session id
	 * context: derived from the rule's name, not from its position. */
	snprintf(label, sizeof label, "tlsshim rule %s", rule_name);
	if (!SHA256((const unsigned char *)label, strlen(label), sid) ||
	    !SSL_CTX_set_session_id_context(ctx, sid, sizeof sid))
		return why_set(why, whylen, "cannot set the session id context%s", "");
	return true;
}
