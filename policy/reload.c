/* policy/reload.c — files watched, contexts rebuilt and swapped (reload.h).
 *
 * Locking.  One mutex per policy (the swap lock) guards the pointers to
 * each rule's current context and SNI groups; it is held only to read a
 * pointer and take a reference, or to exchange it: a leaf, under which
 * nothing else is taken (SSL_CTX_up_ref is an atomic increment; the old
 * context is freed after the lock is released).  A check runs in one
 * thread at a time (an atomic flag, not a lock, so fork() never copies
 * it held for ever: the child clears it) and builds the new contexts with
 * no lock held.  fork() takes the swap lock last of all the library's
 * locks (shim/init.c).  A process made without fork()'s handlers (_Fork,
 * vfork, the pumps) only try-locks it.
 */
#include "policy/reload.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "core/lock.h"
#include "core/self.h"
#include "policy/ctx.h"
#include "policy/file.h"
#include "policy/hashdir.h"
#include "policy/identity.h"
#include "policy/ocsp.h"
#include "policy/policy.h"
#include "policy/resume.h"
#include "policy/sni.h"
#include "policy/why.h"

/* ---- stamps --------------------------------------------------------------- */

struct stamp {
	char *path;
	int err;                 /* stat's errno, or 0 */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

struct stamps {
	size_t n, cap;
	struct stamp *s;
	bool have_digest;
	unsigned char digest[SHA256_DIGEST_LENGTH];
};

static int idx_stamps = -1;     /* SSL_CTX: struct stamps */
static int idx_sni = -1;        /* SSL_CTX (a reloaded rule's first): its struct policy_sni */
static pthread_once_t idx_once = PTHREAD_ONCE_INIT;

static void stamps_free(struct stamps *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->n; i++)
		free(st->s[i].path);
	free(st->s);
	free(st);
}

static void free_stamps_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
	stamps_free(ptr);
}

/* A reloaded rule's SNI groups: group 0's context is the one this is
 * attached to (being freed now, not ours); the others hold a reference
 * each. */
static void free_sni_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	struct policy_sni *s = ptr;

	(void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
	if (!s)
		return;
	for (size_t g = 0; g < s->ngroups; g++) {
		if (g > 0)
			SSL_CTX_free(s->groups[g].ctx);
		sni_free_names(s->groups[g].names, s->groups[g].nnames);
	}
	free(s->groups);
	free(s);
}

static void idx_init(void)
{
	idx_stamps = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_stamps_cb);
	idx_sni = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_sni_cb);
}

static bool indices(void)
{
	pthread_once(&idx_once, idx_init);
	return idx_stamps >= 0 && idx_sni >= 0;
}

static void stamp_take(struct stamp *s)
{
	struct stat st;

	memset((char *)s + sizeof s->path, 0, sizeof *s - sizeof s->path);
	if (policy_stat_path(s->path, &st) != 0) {
		s->err = errno ? errno : EIO;
		return;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->size = st.st_size;
	s->mtime = st.st_mtim;
	s->ctime = st.st_ctim;
}

static bool stamp_same(const struct stamp *a, const struct stamp *b)
{
	return a->err == b->err && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

static bool add_path(struct stamps *st, const char *path)
{
	if (!path)
		return true;
	for (size_t i = 0; i < st->n; i++)
		if (strcmp(st->s[i].path, path) == 0)
			return true;
	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 8;
		struct stamp *s = realloc(st->s, cap * sizeof *s);

		if (!s)
			return false;
		st->s = s;
		st->cap = cap;
	}
	if (!(st->s[st->n].path = strdup(path)))
		return false;
	stamp_take(&st->s[st->n++]);
	return true;
}

/* "1a2b3c4d.0" (certificates) or "1a2b3c4d.r0" (CRLs), as openssl rehash
 * names them: the entries OpenSSL looks up in a directory. */
static bool hashed_name(const char *s)
{
	size_t i;

	for (i = 0; i < 8 && ((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')); i++)
		;
	if (i != 8 || s[8] != '.')
		return false;
	s += 9 + (s[9] == 'r');
	return *s >= '0' && *s <= '9';
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The hashed entries of a directory, sorted (NULL: not a directory). */
static char **dir_entries(const char *path, size_t *n)
{
	DIR *d = policy_opendir_path(path);
	struct dirent *e;
	char **v = NULL;
	size_t cap = 0;

	*n = 0;
	if (!d)
		return NULL;
	while ((e = readdir(d))) {
		char *full;

		if (!hashed_name(e->d_name))
			continue;
		if (*n == cap) {
			char **nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof *nv);

			if (!nv)
				break;
			v = nv;
		}
		if (asprintf(&full, "%s/%s", path, e->d_name) < 0)
			break;
		v[(*n)++] = full;
	}
	closedir(d);
	if (!v)
		v = calloc(1, sizeof *v);
	if (v && *n)
		qsort(v, *n, sizeof *v, cmp_str);
	return v;
}

static void free_entries(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static bool is_dir(const char *path)
{
	struct stat st;

	return policy_stat_path(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A file, or a directory and its hashed entries. */
static bool add_tree(struct stamps *st, const char *path)
{
	char **v;
	size_t n;
	bool ok;

	if (!path)
		return true;
	if (!add_path(st, path))
		return false;
	if (!is_dir(path) || !(v = dir_entries(path, &n)))
		return true;
	ok = true;
	for (size_t i = 0; i < n && ok; i++)
		ok = add_path(st, v[i]);
	free_entries(v, n);
	return ok;
}

/* ---- the trust digest (session id context) ----------------------------------- */

static void digest_contents(EVP_MD_CTX *md, const char *path)
{
	unsigned char buf[4096];
	const char *why = NULL;
	BIO *in = policy_bio_regular(path, &why);
	int n;

	if (!in) {
		EVP_DigestUpdate(md, "\xff", 1);
		return;
	}
	while ((n = BIO_read(in, buf, sizeof buf)) > 0)
		EVP_DigestUpdate(md, buf, (size_t)n);
	BIO_free(in);
}

/* Contents only (and entry names for a directory), never the path of the
 * file itself: hosts may keep the same files in different places. */
static void digest_tree(EVP_MD_CTX *md, const EVP_MD *sha, const char *tag, const char *path)
{
	char **v;
	size_t n;

	EVP_DigestUpdate(md, tag, strlen(tag) + 1);
	if (!path)
		return;
	if (!is_dir(path)) {
		EVP_DigestUpdate(md, "file", 5);
		digest_contents(md, path);
		return;
	}
	EVP_DigestUpdate(md, "dir", 4);
	if (!(v = dir_entries(path, &n)))
		return;
	for (size_t i = 0; i < n; i++) {
		const char *name = v[i] + strlen(path) + 1;
		unsigned char h[SHA256_DIGEST_LENGTH];
		EVP_MD_CTX *sub = EVP_MD_CTX_new();
		unsigned int hl = 0;

		EVP_DigestUpdate(md, name, strlen(name) + 1);
		if (sub && EVP_DigestInit_ex(sub, sha, NULL) == 1) {
			digest_contents(sub, v[i]);
			if (EVP_DigestFinal_ex(sub, h, &hl) == 1)
				EVP_DigestUpdate(md, h, hl);
		}
		EVP_MD_CTX_free(sub);
	}
	free_entries(v, n);
}

/* SHA-256 from the policy's library context, never the program's default
 * one (policy.h), where the policy's context has it ready from
 * SSL_CTX_new_ex.  EVP_sha256() made OpenSSL fetch it in the program's
 * context, activating the default provider there first (OpenSSL's
 * certificate checks do that later anyway: the saving is 0.65 M of the
 * 26 M instructions a shimmed process with an accept rule starts in). */
static EVP_MD *sha256(OSSL_LIB_CTX *libctx)
{
	return EVP_MD_fetch(libctx, "SHA256", NULL);
}

static void digest_str(EVP_MD_CTX *md, const char *tag, const char *v)
{
	EVP_DigestUpdate(md, tag, strlen(tag) + 1);
	if (v)
		EVP_DigestUpdate(md, v, strlen(v) + 1);
	else
		EVP_DigestUpdate(md, "\xff", 1);
}

/* The first certificate of a PEM file (the leaf, as load_chain in ctx.c
 * takes it): SHA-256 of its DER bytes into out.  Not parsed, only
 * decoded from base64 (no provider is asked for anything).  false: none
 * (unreadable, not PEM, no certificate block). */
static bool leaf_hash(const EVP_MD *sha, const char *path, unsigned char out[SHA256_DIGEST_LENGTH])
{
	BIO *in = policy_bio_regular(path, NULL);
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	unsigned int hl = 0;
	long len = 0;
	bool ok = false;

	if (!in)
		return false;
	while (!ok && PEM_read_bio(in, &name, &header, &data, &len) == 1) {
		if (!strcmp(name, PEM_STRING_X509) || !strcmp(name, PEM_STRING_X509_OLD) ||
		    !strcmp(name, PEM_STRING_X509_TRUSTED))
			ok = EVP_Digest(data, (size_t)len, out, &hl, sha, NULL) == 1 && hl == SHA256_DIGEST_LENGTH;
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
		name = header = NULL;
		data = NULL;
	}
	BIO_free(in);
	return ok;
}

static int cmp_hash(const void *a, const void *b)
{
	return memcmp(a, b, SHA256_DIGEST_LENGTH);
}

/* Which server the client authenticated: the leaf certificates of the
 * rule (cert, or every certs entry), as a sorted set.  Without them two
 * rules of one name and terms that share a ticket key file but hold
 * other certificates (a.test on one host or port, b.test on another)
 * took each other's sessions: a client that had verified a.test, its
 * connection redirected to the b.test server, resumed there and talked
 * to a server that never proved it holds a.test's key (nginx binds its
 * session id context to the certificates for the same reason). */
static void digest_server_certs(EVP_MD_CTX *md, const EVP_MD *sha, const struct policy_rule *r)
{
	size_t n = r->ncerts ? r->ncerts : 1, k = 0;
	unsigned char (*h)[SHA256_DIGEST_LENGTH] = calloc(n, sizeof *h);
	char count[32];

	EVP_DigestUpdate(md, "certs", 6);
	if (!h) {
		EVP_DigestUpdate(md, "\xff", 1);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const char *path = r->ncerts ? r->certs[i].cert : r->cert;

		if (path && leaf_hash(sha, path, h[k]))
			k++;
	}
	qsort(h, k, sizeof *h, cmp_hash);
	snprintf(count, sizeof count, "%zu of %zu", k, n);
	EVP_DigestUpdate(md, count, strlen(count) + 1);
	EVP_DigestUpdate(md, h, k * sizeof *h);
	free(h);
}

/* What the rule asks of the peer besides its trust files: whether a
 * client certificate is required, the identity lists and pins, the
 * lowest protocol and the ciphers.  A session made under one set of
 * these must not resume under another: two rules of one name (a policy
 * may repeat a name; unnamed rules are "rule N" on every host) that
 * share a ticket key file would otherwise take each other's sessions,
 * and a rule that requires a certificate, or only some peers, would
 * resume one made without that check. */
static void digest_terms(EVP_MD_CTX *md, const struct policy_rule *r)
{
	const struct policy_identity *id = r->identity;
	char n[64];

	snprintf(n, sizeof n, "%d %d %d", r->require_client_cert ? 1 : 0, (int)r->verify, r->min_version);
	digest_str(md, "terms", n);
	digest_str(md, "ciphers", r->ciphers);
	digest_str(md, "ciphersuites", r->ciphersuites);
	for (int w = 0; id && w < POLICY_ID_NLISTS; w++) {
		snprintf(n, sizeof n, "%zu", id->n[w]);
		digest_str(md, policy_identity_key((enum policy_id_list)w), n);
		for (size_t i = 0; i < id->n[w]; i++) {
			if (w == POLICY_ID_IP) {
				EVP_DigestUpdate(md, &id->ips[i].len, sizeof id->ips[i].len);
				EVP_DigestUpdate(md, id->ips[i].a, sizeof id->ips[i].a);
			} else if (w == POLICY_ID_PIN) {
				EVP_DigestUpdate(md, id->pins[i], sizeof id->pins[i]);
			} else {
				digest_str(md, "", id->names[w][i]);
			}
		}
	}
}

static bool trust_digest(OSSL_LIB_CTX *libctx, const struct policy_rule *r,
			 unsigned char out[SHA256_DIGEST_LENGTH])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_MD *sha;
	unsigned int len = 0;
	bool ok;

	if (!md)
		return false;
	ERR_set_mark();
	sha = sha256(libctx);
	ok = sha && EVP_DigestInit_ex(md, sha, NULL) == 1;
	if (ok) {
		digest_tree(md, sha, "ca", r->ca);
		digest_tree(md, sha, "crl", r->crl);
		digest_terms(md, r);
		digest_server_certs(md, sha, r);
		ok = EVP_DigestFinal_ex(md, out, &len) == 1 && len == SHA256_DIGEST_LENGTH;
	}
	EVP_MD_free(sha);
	ERR_pop_to_mark();
	EVP_MD_CTX_free(md);
	return ok;
}

static struct stamps *stamps_of(SSL_CTX *ctx, bool create)
{
	struct stamps *st;

	if (!indices())
		return NULL;
	st = SSL_CTX_get_ex_data(ctx, idx_stamps);
	if (st || !create)
		return st;
	if (!(st = calloc(1, sizeof *st)))
		return NULL;
	if (!SSL_CTX_set_ex_data(ctx, idx_stamps, st)) {
		stamps_free(st);
		return NULL;
	}
	return st;
}

void reload_note_rule(SSL_CTX *ctx, OSSL_LIB_CTX *libctx, const struct policy_rule *r, const char *cert,
		      const char *key)
{
	struct stamps *st = stamps_of(ctx, true);

	if (!st)
		return;
	(void)(add_path(st, cert) && add_path(st, key) && add_tree(st, r->ca) && add_tree(st, r->crl) &&
	       add_path(st, r->ticket_key_file));
	if (r->direction == POLICY_ACCEPT)
		st->have_digest = trust_digest(libctx, r, st->digest);
}

void reload_note_files(SSL_CTX *ctx, const char *cert, const char *key)
{
	struct stamps *st = stamps_of(ctx, true);

	if (st)
		(void)(add_path(st, cert) && add_path(st, key));
}

bool reload_session_context(SSL_CTX *ctx, OSSL_LIB_CTX *libctx, const struct policy_rule *r)
{
	struct stamps *st = stamps_of(ctx, false);
	unsigned char sid[SHA256_DIGEST_LENGTH];
	char label[300];
	EVP_MD_CTX *md;
	EVP_MD *sha;
	unsigned int len = 0;
	bool ok;

	if (!st || !st->have_digest)
		return false;
	/* As before this digest existed: the rule's name when hosts share a
	 * ticket key file (they must agree), else its position. */
	if (r->ticket_key_file)
		snprintf(label, sizeof label, "tlsshim rule %s", r->name);
	else
		snprintf(label, sizeof label, "tlsshim:%d", r->index);
	if (!(md = EVP_MD_CTX_new()))
		return false;
	ERR_set_mark();
	sha = sha256(libctx);
	ok = sha && EVP_DigestInit_ex(md, sha, NULL) == 1 &&
	     EVP_DigestUpdate(md, label, strlen(label) + 1) == 1 &&
	     EVP_DigestUpdate(md, st->digest, sizeof st->digest) == 1 &&
	     EVP_DigestFinal_ex(md, sid, &len) == 1 &&
	     SSL_CTX_set_session_id_context(ctx, sid, len) == 1;
	EVP_MD_free(sha);
	ERR_pop_to_mark();
	EVP_MD_CTX_free(md);
	return ok;
}

/* Has any file a context of this generation was built from changed? */
static bool ctx_changed(SSL_CTX *ctx)
{
	struct stamps *st = stamps_of(ctx, false);
	struct stamp now;

	if (!st)
		return false;      /* not stamped (no memory): never reloaded */
	for (size_t i = 0; i < st->n; i++) {
		now.path = st->s[i].path;
		stamp_take(&now);
		/* A process that may no longer even look at the file (a
		 * daemon that dropped its privileges after start: apache's
		 * and nginx's workers) cannot reload it either: the contexts
		 * it has stay, and nothing is logged at every connection. */
		if ((now.err == EACCES || now.err == EPERM) && !st->s[i].err)
			continue;
		if (!stamp_same(&now, &st->s[i]))
			return true;
	}
	return false;
}

/* ---- the policy's state -------------------------------------------------------- */

struct reload_rule {
	SSL_CTX *ctx;              /* current; one reference is the policy's */
	struct policy_sni *sni;    /* its SNI groups (NULL: none); live as long as ctx */
	struct stamps *failed;     /* the files as they were at the last failure */
	unsigned gen;
};

struct policy_reload {
	struct reload_rule *r;     /* one per rule (ctx NULL: not tls) */
	size_t n;
	struct xlock lock;         /* the swap lock: r[].ctx and r[].sni */
	_Atomic pid_t pid;         /* the process the lock is valid in */
	_Atomic long long next_ms; /* no check before this (CLOCK_MONOTONIC) */
	atomic_int busy;           /* a check is running */
	atomic_ulong reloads;
	bool fork_took;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool lock_swap(struct policy_reload *rl)
{
	if (xlock_mine(&rl->lock))
		return false;
	if (atomic_load_explicit(&rl->pid, memory_order_relaxed) != self_pid())
		return xlock_trylock(&rl->lock);
	xlock_lock(&rl->lock);
	return true;
}

static void unlock_swap(struct policy_reload *rl)
{
	xlock_unlock(&rl->lock);
}

struct policy_reload *policy_reload_new(const struct policy *p)
{
	struct policy_reload *rl = calloc(1, sizeof *rl);

	if (!rl || !(rl->r = calloc(p->nrules ? p->nrules : 1, sizeof *rl->r))) {
		free(rl);
		return NULL;
	}
	rl->n = p->nrules;
	xlock_init(&rl->lock);
	atomic_store(&rl->pid, self_pid());
	atomic_store(&rl->next_ms, now_ms() + 1000);
	for (size_t i = 0; i < p->nrules; i++) {
		const struct policy_rule *r = &p->rules[i];

		if (r->action != POLICY_TLS || !r->ctx)
			continue;
		SSL_CTX_up_ref(r->ctx);
		rl->r[i].ctx = r->ctx;
		rl->r[i].sni = r->sni;  /* the policy's own: lives as long as it */
	}
	return rl;
}

void policy_reload_free(struct policy_reload *rl)
{
	if (!rl)
		return;
	for (size_t i = 0; i < rl->n; i++) {
		SSL_CTX_free(rl->r[i].ctx);
		stamps_free(rl->r[i].failed);
	}
	xlock_destroy(&rl->lock);
	free(rl->r);
	free(rl);
}

SSL_CTX *policy_reload_ctx(const struct policy *p, const struct policy_rule *r)
{
	struct policy_reload *rl = p ? p->reload : NULL;
	SSL_CTX *ctx;

	/* (rl->r[i].ctx is set for every rule with a ctx, never cleared:
	 * only read under the lock.) */
	if (!rl || !r->ctx || (size_t)r->index >= rl->n || r != &p->rules[r->index]) {
		if (r->ctx)
			SSL_CTX_up_ref(r->ctx);
		return r->ctx;
	}
	if (!lock_swap(rl))
		return NULL;
	ctx = rl->r[r->index].ctx;
	SSL_CTX_up_ref(ctx);
	unlock_swap(rl);
	return ctx;
}

void policy_read_system_stores(const struct policy *p)
{
	for (size_t i = 0; p && i < p->nrules; i++) {
		const struct policy_rule *r = &p->rules[i];
		SSL_CTX *ctx;

		if (r->action != POLICY_TLS || r->direction != POLICY_CONNECT || r->ca ||
		    r->verify == POLICY_VERIFY_NONE || !(ctx = policy_reload_ctx(p, r)))
			continue;
		hashdir_read_file_now(SSL_CTX_get_cert_store(ctx));
		SSL_CTX_free(ctx);
	}
}

/* The current generation of rule i, with a reference; *sni its groups. */
static SSL_CTX *current(struct policy_reload *rl, size_t i, struct policy_sni **sni)
{
	SSL_CTX *ctx;

	if (!lock_swap(rl))
		return NULL;
	ctx = rl->r[i].ctx;
	*sni = rl->r[i].sni;
	if (ctx)
		SSL_CTX_up_ref(ctx);
	unlock_swap(rl);
	return ctx;
}

static bool gen_changed(SSL_CTX *ctx, const struct policy_sni *sni)
{
	if (!sni)
		return ctx_changed(ctx);
	for (size_t g = 0; g < sni->ngroups; g++)
		if (ctx_changed(sni->groups[g].ctx))
			return true;
	return false;
}

/* The files of the rule as they are now (for "reported once"). */
static struct stamps *rule_stamps(const struct policy_rule *r)
{
	struct stamps *st = calloc(1, sizeof *st);
	bool ok;

	if (!st)
		return NULL;
	ok = add_path(st, r->cert) && add_path(st, r->key) && add_tree(st, r->ca) && add_tree(st, r->crl) &&
	     add_path(st, r->ticket_key_file);
	for (size_t i = 0; ok && i < r->ncerts; i++)
		ok = add_path(st, r->certs[i].cert) && add_path(st, r->certs[i].key);
	if (!ok) {
		stamps_free(st);
		return NULL;
	}
	return st;
}

static bool stamps_same(const struct stamps *a, const struct stamps *b)
{
	if (!a || !b || a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->s[i].path, b->s[i].path) != 0 || !stamp_same(&a->s[i], &b->s[i]))
			return false;
	return true;
}

/* The certificate just loaded into ctx (its current one) is valid now. */
static bool cert_current(SSL_CTX *ctx, const char *path, char *why, size_t len)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);

	if (!x)
		return true;
	if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0)
		return policy_why(why, len, "certificate \"%s\" has expired", path);
	if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
		return policy_why(why, len, "certificate \"%s\" is not valid yet", path);
	return true;
}

/* CRLs read from a crl file: none past its next update. */
static bool crls_current(SSL_CTX *ctx, const struct policy_rule *r, char *why, size_t len)
{
	STACK_OF(X509_OBJECT) *objs;
	bool ok = true;

	if (!r->crl)
		return true;
	objs = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));
	for (int i = 0; ok && i < sk_X509_OBJECT_num(objs); i++) {
		X509_OBJECT *o = sk_X509_OBJECT_value(objs, i);
		X509_CRL *c = X509_OBJECT_get_type(o) == X509_LU_CRL ? X509_OBJECT_get0_X509_CRL(o) : NULL;
		const ASN1_TIME *next = c ? X509_CRL_get0_nextUpdate(c) : NULL;

		if (next && X509_cmp_current_time(next) <= 0)
			ok = policy_why(why, len, "CRL file \"%s\" has expired (next update passed)", r->crl);
	}
	return ok;
}

/* A connect rule on the system trust store (no ca) with no crl: its new
 * context keeps the store of the context it replaces, as it was read
 * (tlsshim.conf(5), ca: the store is read once, and a reload does not
 * read it again).  Before, a reload (a client certificate renamed over)
 * gave the rule a new store, which read the file anew at its first
 * verification: one read while a writer had the file truncated then
 * refused every server where the previous store was good, and cost the
 * 30 ms parse again.  A rule with a crl keeps a store of its own: the
 * new CRLs go into a new one, which reads the file anew. */
static bool keeps_system_store(const struct policy_rule *r)
{
	return r->direction == POLICY_CONNECT && !r->ca && !r->crl &&
	       r->verify != POLICY_VERIFY_NONE;
}

/* A rule with one cert (or a connect rule); prev: the context it
 * replaces. */
static SSL_CTX *build_plain(const struct policy *p, const struct policy_rule *r, SSL_CTX *prev,
			    char *why, size_t len)
{
	SSL_CTX *ctx = ctx_build(p->libctx, r, NULL, why, len);

	if (!ctx)
		return NULL;
	if (prev && keeps_system_store(r))
		SSL_CTX_set1_cert_store(ctx, SSL_CTX_get_cert_store(prev));
	if ((r->cert && !cert_current(ctx, r->cert, why, len)) || !crls_current(ctx, r, why, len)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* A rule with certs: as build_sni in policy.c, without the lines (the
 * policy was checked at load; what can fail now is the files). */
static SSL_CTX *build_sni(const struct policy *p, const struct policy_rule *r, struct policy_sni **out,
			  char *why, size_t len)
{
	struct policy_sni *s = calloc(1, sizeof *s);
	SSL_CTX *first;

	if (!s) {
		policy_why(why, len, "out of memory");
		return NULL;
	}
	s->strict = r->sni_strict;
	for (size_t i = 0; i < r->ncerts; i++) {
		const struct policy_cert *c = &r->certs[i];
		struct policy_sni_group *g;
		char **names = NULL, sub[400];
		size_t n = 0;
		SSL_CTX *ctx = ctx_build_cert(p->libctx, r, c->cert, c->key, NULL, sub, sizeof sub);
		int type;

		if (!ctx) {
			policy_why(why, len, "\"certs\" entry %zu: %s", i + 1, sub);
			goto fail;
		}
		if (!cert_current(ctx, c->cert, sub, sizeof sub) || (i == 0 && !crls_current(ctx, r, sub, sizeof sub))) {
			SSL_CTX_free(ctx);
			policy_why(why, len, "\"certs\" entry %zu: %s", i + 1, sub);
			goto fail;
		}
		if (!sni_cert_names(ctx, &names, &n) || n == 0) {
			SSL_CTX_free(ctx);
			sni_free_names(names, n);
			policy_why(why, len, "\"certs\" entry %zu: certificate \"%s\" has no subjectAltName DNS name",
				i + 1, c->cert);
			goto fail;
		}
		if (!(g = sni_find_group(s, names, n))) {
			if (!sni_add_group(s, ctx, names, n, i)) {
				SSL_CTX_free(ctx);
				sni_free_names(names, n);
				policy_why(why, len, "out of memory");
				goto fail;
			}
			continue;
		}
		type = sni_key_type(ctx);
		SSL_CTX_free(ctx);
		sni_free_names(names, n);
		for (size_t t = 0; t < g->nkeys; t++)
			if (g->key_types[t] == type) {
				policy_why(why, len, "\"certs\" entry %zu: same names and key type as entry %zu",
					i + 1, g->first_entry + 1);
				goto fail;
			}
		if (g->nkeys == sizeof(g->key_types) / sizeof(g->key_types[0])) {
			policy_why(why, len, "\"certs\" entry %zu: too many certificates for the same names", i + 1);
			goto fail;
		}
		if (!ctx_add_cert(g->ctx, p->libctx, r, c->cert, c->key, NULL, sub, sizeof sub) ||
		    !cert_current(g->ctx, c->cert, sub, sizeof sub)) {
			policy_why(why, len, "\"certs\" entry %zu: %s", i + 1, sub);
			goto fail;
		}
		g->key_types[g->nkeys++] = type;
	}
	if (s->ngroups == 0) {
		policy_why(why, len, "no certificate");
		goto fail;
	}
	first = s->groups[0].ctx;
	sni_install(s);
	/* From here the groups live as long as the first context. */
	if (!indices() || !SSL_CTX_set_ex_data(first, idx_sni, s)) {
		policy_why(why, len, "out of memory");
		goto fail;
	}
	*out = s;
	return first;
fail:
	sni_free(s);
	return NULL;
}

/* What policy.c's build_ocsp set on the rule's first contexts, on the
 * rebuilt ones: a connect rule's OCSP check (a reload must never turn
 * "ocsp = require" off), an accept rule's staples. */
static bool ocsp_again(const struct policy_rule *r, SSL_CTX *ctx, const struct policy_sni *sni,
		       char *why, size_t len)
{
	if (r->direction == POLICY_CONNECT)
		return ocsp_client_setup(ctx, (enum policy_ocsp)r->ocsp, why, len);
	if (sni)
		for (size_t g = 0; g < sni->ngroups; g++)
			ocsp_staples_attach(sni->groups[g].ctx, r->staples);
	else
		ocsp_staples_attach(ctx, r->staples);
	return true;
}

/* The files of rule i as at its last failed reload (NULL: none).  Set
 * by the checking thread under the swap lock, so that policy_reload_fresh
 * may read it under that lock. */
static void set_failed(struct policy_reload *rl, size_t i, struct stamps *st)
{
	struct stamps *old;

	if (!lock_swap(rl)) {
		stamps_free(st);
		return;
	}
	old = rl->r[i].failed;
	rl->r[i].failed = st;
	unlock_swap(rl);
	stamps_free(old);
}

static void check_rule(const struct policy *p, struct policy_reload *rl, size_t i, reload_log_fn log)
{
	const struct policy_rule *r = &p->rules[i];
	struct policy_sni *sni = NULL, *nsni = NULL;
	SSL_CTX *cur = current(rl, i, &sni), *nctx, *old;
	struct stamps *now;
	char why[600], msg[700];
	unsigned gen;

	if (!cur)
		return;
	if (!gen_changed(cur, sni)) {
		SSL_CTX_free(cur);
		return;
	}
	/* Taken before the files are read: a change while they are read is
	 * a change from these, seen at the next check. */
	now = rule_stamps(r);
	if (now && stamps_same(now, rl->r[i].failed)) {
		SSL_CTX_free(cur);
		stamps_free(now);      /* the same broken files: reported already */
		if (log)
			log(3, r->name, "reload: the files are as at the failed reload");
		return;
	}
	why[0] = '\0';
	ERR_set_mark();
	nctx = r->ncerts ? build_sni(p, r, &nsni, why, sizeof why) :
			   build_plain(p, r, cur, why, sizeof why);
	SSL_CTX_free(cur);
	if (nctx && !ocsp_again(r, nctx, nsni, why, sizeof why)) {
		SSL_CTX_free(nctx);    /* the groups go with the first context */
		nctx = NULL;
	}
	ERR_pop_to_mark();
	if (!nctx) {
		set_failed(rl, i, now);
		snprintf(msg, sizeof msg, "reload failed, the previous certificates stay in use: %s",
			 why[0] ? why : "cannot build the TLS context");
		if (log)
			log(1, r->name, msg);
		return;
	}
	set_failed(rl, i, NULL);
	stamps_free(now);
	if (!lock_swap(rl)) {
		SSL_CTX_free(nctx);
		return;
	}
	old = rl->r[i].ctx;
	rl->r[i].ctx = nctx;
	rl->r[i].sni = nsni;
	gen = ++rl->r[i].gen;
	unlock_swap(rl);
	atomic_fetch_add(&rl->reloads, 1);
	/* Sessions cached for the old context are never offered again. */
	resume_forget(old);
	SSL_CTX_free(old);
	if (log) {
		snprintf(msg, sizeof msg, "reloaded certificates, keys, CAs and CRLs (generation %u)", gen);
		log(2, r->name, msg);
	}
}

/* How long a handshake that found its rule's trust files changed waits
 * for a check another thread is making (policy_reload_fresh). */
#define FRESH_WAIT_MS 10000

/* This thread is running check_all (it never waits for itself). */
static _Thread_local bool in_check;

/* Every rule checked, by this thread, when no other is checking: true;
 * false (nothing done) when another is. */
static bool check_all_once(const struct policy *p, reload_log_fn log)
{
	struct policy_reload *rl = p->reload;
	int zero = 0;

	if (!atomic_compare_exchange_strong(&rl->busy, &zero, 1))
		return false;
	in_check = true;
	for (size_t i = 0; i < rl->n; i++)
		if (p->rules[i].ctx)
			check_rule(p, rl, i, log);
	in_check = false;
	atomic_store(&rl->busy, 0);
	return true;
}

static void check_all(const struct policy *p, reload_log_fn log)
{
	if (atomic_load_explicit(&p->reload->pid, memory_order_relaxed) != self_pid())
		return;   /* a child made without fork()'s handlers */
	(void)check_all_once(p, log);
}

void policy_reload_check(const struct policy *p, reload_log_fn log)
{
	struct policy_reload *rl = p ? p->reload : NULL;
	long long now, next;

	if (!rl)
		return;
	now = now_ms();
	next = atomic_load_explicit(&rl->next_ms, memory_order_relaxed);
	if (now < next || !atomic_compare_exchange_strong(&rl->next_ms, &next, now + 1000))
		return;
	check_all(p, log);
}

void policy_reload_check_now(const struct policy *p, reload_log_fn log)
{
	struct policy_reload *rl = p ? p->reload : NULL;

	if (!rl)
		return;
	atomic_store(&rl->next_ms, now_ms() + 1000);
	check_all(p, log);
}

/* Does the rule use its ca and crl files to verify peers? */
static bool trust_watched(const struct policy_rule *r)
{
	if (!r->ca && !r->crl)
		return false;
	return r->direction == POLICY_ACCEPT ? r->require_client_cert : r->verify != POLICY_VERIFY_NONE;
}

/* The stamp of path in st, or NULL. */
static const struct stamp *stamp_in(const struct stamps *st, const char *path)
{
	for (size_t i = 0; st && i < st->n; i++)
		if (strcmp(st->s[i].path, path) == 0)
			return &st->s[i];
	return NULL;
}

/* now[k] (the ca and crl paths as they are) differ from what st says. */
static bool trust_differs(const struct stamps *st, const char *const paths[2], const struct stamp now[2])
{
	for (size_t k = 0; k < 2; k++) {
		const struct stamp *was = paths[k] ? stamp_in(st, paths[k]) : NULL;

		if (!was)
			continue;
		if ((now[k].err == EACCES || now[k].err == EPERM) && !was->err)
			continue;      /* as ctx_changed: cannot look, cannot reload */
		if (!stamp_same(&now[k], was))
			return true;
	}
	return false;
}

SSL_CTX *policy_reload_fresh(const struct policy *p, const struct policy_rule *r, SSL_CTX *have,
			     reload_log_fn log, bool *refuse)
{
	struct policy_reload *rl = p ? p->reload : NULL;
	SSL_CTX *cur;

	if (!rl || !r->ctx || (size_t)r->index >= rl->n || r != &p->rules[r->index])
		return NULL;
	if (trust_watched(r) && atomic_load_explicit(&rl->pid, memory_order_relaxed) == self_pid()) {
		const char *const paths[2] = { r->ca, r->crl };
		struct stamp now[2] = { { 0 } };
		struct policy_sni *sni = NULL;
		bool changed = false;

		for (size_t k = 0; k < 2; k++)
			if (paths[k]) {
				now[k].path = (char *)paths[k];
				stamp_take(&now[k]);
			}
		if ((cur = current(rl, r->index, &sni))) {
			changed = trust_differs(stamps_of(cur, false), paths, now);
			SSL_CTX_free(cur);
		}
		/* Not again for files a reload already found broken (logged
		 * once; the previous context stays until they change). */
		if (changed && lock_swap(rl)) {
			if (rl->r[r->index].failed && !trust_differs(rl->r[r->index].failed, paths, now))
				changed = false;
			unlock_swap(rl);
		}
		/* A check that starts now, after the stat: one that another
		 * thread began earlier may have read the files before the
		 * change, and one still running has not swapped the context
		 * in yet; so wait for it to end, then check (the rules it
		 * rebuilt are only looked at again).  Without the wait this
		 * handshake went on with the context of the old files. */
		if (changed) {
			long long end = now_ms() + FRESH_WAIT_MS;

			atomic_store(&rl->next_ms, now_ms() + 1000);
			while (!check_all_once(p, log)) {
				if (in_check || now_ms() >= end) {
					*refuse = true;
					return NULL;
				}
				nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
			}
		}
	}
	if (!(cur = policy_reload_ctx(p, r)) || cur == have) {
		SSL_CTX_free(cur);
		return NULL;
	}
	return cur;
}

unsigned long policy_reload_count(const struct policy *p)
{
	return p && p->reload ? atomic_load(&p->reload->reloads) : 0;
}

void policy_reload_fork_lock(const struct policy *p)
{
	struct policy_reload *rl = p ? p->reload : NULL;

	if (!rl)
		return;
	rl->fork_took = !xlock_mine(&rl->lock) &&
			atomic_load_explicit(&rl->pid, memory_order_relaxed) == self_pid();
	if (rl->fork_took)
		xlock_lock(&rl->lock);
}

void policy_reload_fork_unlock(const struct policy *p, bool child)
{
	struct policy_reload *rl = p ? p->reload : NULL;

	if (rl)
		xlock_fork_release(&rl->lock, rl->fork_took, child);
}

void policy_reload_fork_child(const struct policy *p)
{
	struct policy_reload *rl = p ? p->reload : NULL;

	if (!rl)
		return;
	if (atomic_load_explicit(&rl->pid, memory_order_relaxed) != 0)
		atomic_store_explicit(&rl->pid, self_pid(), memory_order_relaxed);
	/* The thread that was checking, if any, is not in the child. */
	atomic_store(&rl->busy, 0);
}
