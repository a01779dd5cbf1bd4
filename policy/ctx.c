/* policy/ctx.c — every setting of a rule's SSL_CTX, in one place.
 *
 * The shim is a guest in a program that may use the same libssl: every
 * object here is created in the caller's OSSL_LIB_CTX, and the thread's
 * error queue is left exactly as found.  That second point is why this
 * file reads PEM files itself instead of calling the convenience loaders
 * (SSL_CTX_use_certificate_chain_file, SSL_load_client_CA_file,
 * SSL_CTX_set_default_verify_paths, X509_load_cert_crl_file): all of them
 * end in ERR_clear_error(), which would wipe errors the program queued.
 */
#include "policy/ctx.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/hgann.h"
#include "policy/crl.h"
#include "policy/file.h"
#include "policy/hashdir.h"
#include "policy/pkcs11.h"
#include "policy/keyholder.h"
#include "policy/policy.h"
#include "policy/reload.h"
#include "policy/resume.h"

struct build {
	OSSL_LIB_CTX *libctx;
	const struct policy_rule *rule;
	const char *cert, *key;  /* an accept rule's: the rule's, or a certs entry's */
	SSL_CTX *ctx;
	bool key_holder;        /* the rule's key_holder: no key file read here */
	enum ctx_err_key *which;
	char *why;
	size_t whylen;
};

/* Start a step with an empty view of the error queue, so that a message
 * names the reason of this step's failure and not a leftover of an
 * earlier step that succeeded anyway.  Errors queued before ctx_build
 * sit below the mark and are never touched. */
static void step(void)
{
	ERR_pop_to_mark();
	ERR_set_mark();
}

/* The most recent OpenSSL reason, in words.  Only the reason: file
 * names and the rest are already in our own message. */
static const char *ossl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	const char *r;

	if (e == 0)
		return NULL;
	if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
		return "no PEM data found";
	if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_BAD_PASSWORD_READ)
		return "encrypted keys are not supported";
	r = ERR_reason_error_string(e);
	if (r)
		return r;
	snprintf(buf, len, "OpenSSL error %08lx", e);
	return buf;
}

static bool fail(struct build *b, enum ctx_err_key k, bool with_ossl, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Record the first error only; always returns false for "return fail()". */
static bool fail(struct build *b, enum ctx_err_key k, bool with_ossl, const char *fmt, ...)
{
	char rbuf[64];
	const char *reason = with_ossl ? ossl_reason(rbuf, sizeof(rbuf)) : NULL;
	va_list ap;
	size_t n;

	if (*b->which != CTX_ERR_NONE)
		return false;
	*b->which = k;
	if (!b->whylen)
		return false;
	va_start(ap, fmt);
	vsnprintf(b->why, b->whylen, fmt, ap);
	va_end(ap);
	n = strlen(b->why);
	if (reason && n < b->whylen)
		snprintf(b->why + n, b->whylen - n, ": %s", reason);
	return false;
}

/* errno-precise check before OpenSSL sees the path: its "system lib"
 * errors do not say whether a file is missing, unreadable or a
 * directory.  faccessat with AT_EACCESS checks the effective ids (right
 * for setuid programs) and opens no descriptor, so no close() goes
 * through the preloaded wrappers.  *is_dir is set for directories when
 * dir_ok, else a directory is an error. */
static bool check_path(struct build *b, enum ctx_err_key k, const char *what,
		       const char *path, bool dir_ok, bool *is_dir, struct stat *out)
{
	struct stat st;
	int err = 0;

	if (policy_stat_path(path, &st) != 0)
		err = errno;
	else if (S_ISDIR(st.st_mode) && !dir_ok)
		err = EISDIR;
	else if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return fail(b, k, false, "cannot read %s file \"%s\": not a regular file", what, path);
	else if (policy_access_path(path, S_ISDIR(st.st_mode) ? R_OK | X_OK : R_OK) != 0)
		err = errno;
	if (err)
		return fail(b, k, false, "cannot read %s file \"%s\": %s", what, path, strerror(err));
	if (policy_others_can_write(&st))
		return fail(b, k, false, "cannot use %s %s \"%s\": %s", what,
			    S_ISDIR(st.st_mode) ? "directory" : "file", path, POLICY_WHY_OTHERS_WRITE);
	if (is_dir)
		*is_dir = S_ISDIR(st.st_mode);
	if (out)
		*out = st;
	return true;
}

/* ---- files parsed once per policy load --------------------------------------
 *
 * Rules that name the same certificate, key or CA file (several ports
 * with one certificate, a certs entry repeated, one CA for many connect
 * rules) each used to parse it again: about 4.7 M instructions for a
 * P-256 key (OpenSSL 3.0 builds its decoder chain for every key read),
 * 1.5 M for a certificate, 256 M (some 30 ms of CPU) for the system
 * trust store.  While a load runs (ctx_memo_start/ctx_memo_finish, one
 * thread's), what a file parsed into is kept under its name and stat()
 * stamps; a rule naming the same file with the same stamps takes the
 * same objects (references: OpenSSL counts them, X509 and EVP_PKEY are
 * shared between SSL_CTXs safely).  Everything else is still done for
 * every rule: the path checks, the reload stamps, and every
 * SSL_CTX_use_* and its checks (key and certificate matching, the
 * security level of this rule's ciphers), so every start-up error stays
 * the rule's own.  Only what parsed cleanly is kept; a file that fails
 * fails the load. */
enum memo_kind { MEMO_CHAIN, MEMO_KEY, MEMO_CA, MEMO_SYSTEM };

struct memo {
	struct memo *next;
	enum memo_kind kind;
	OSSL_LIB_CTX *libctx;
	char *path;                     /* NULL for MEMO_SYSTEM */
	struct stat st;
	STACK_OF(X509) *certs;          /* CHAIN: leaf first; CA: in file order */
	EVP_PKEY *key;                  /* KEY */
	X509_STORE *store;              /* SYSTEM: the default paths' store */
};

static __thread struct ctx_memo *memo_cur __attribute__((tls_model("initial-exec")));

void ctx_memo_start(struct ctx_memo *m)
{
	m->head = NULL;
	memo_cur = m;
}

void ctx_memo_finish(struct ctx_memo *m)
{
	struct memo *e = m->head, *next;

	if (memo_cur == m)
		memo_cur = NULL;
	for (; e; e = next) {
		next = e->next;
		sk_X509_pop_free(e->certs, X509_free);
		EVP_PKEY_free(e->key);
		X509_STORE_free(e->store);
		free(e->path);
		free(e);
	}
	m->head = NULL;
}

static bool same_stamps(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static struct memo *memo_find(const struct build *b, enum memo_kind kind, const char *path,
			      const struct stat *st)
{
	struct ctx_memo *m = memo_cur;

	for (struct memo *e = m ? m->head : NULL; e; e = e->next)
		if (e->kind == kind && e->libctx == b->libctx &&
		    (kind == MEMO_SYSTEM || (!strcmp(e->path, path) && same_stamps(&e->st, st))))
			return e;
	return NULL;
}

/* Keep what was parsed (references taken here); out of memory only
 * means the next rule parses again. */
static void memo_add(const struct build *b, enum memo_kind kind, const char *path, const struct stat *st,
		     STACK_OF(X509) *certs, EVP_PKEY *key, X509_STORE *store)
{
	struct ctx_memo *m = memo_cur;
	struct memo *e;

	if (!m || !(e = calloc(1, sizeof *e)))
		return;
	if (path && !(e->path = strdup(path))) {
		free(e);
		return;
	}
	if (certs && !(e->certs = X509_chain_up_ref(certs))) {
		free(e->path);
		free(e);
		return;
	}
	if (key)
		EVP_PKEY_up_ref(key);
	if (store)
		X509_STORE_up_ref(store);
	e->kind = kind;
	e->libctx = b->libctx;
	e->key = key;
	e->store = store;
	if (st)
		e->st = *st;
	e->next = m->head;
	m->head = e;
}

/* A PEM file as a BIO, opened only if it is a regular file and without
 * blocking on a FIFO put in its place since check_path (policy/file.h). */
static BIO *open_pem(struct build *b, enum ctx_err_key k, const char *what, const char *path)
{
	const char *why = NULL;
	BIO *in = policy_bio_regular(path, &why);

	if (!in && why)
		fail(b, k, false, "cannot read %s file \"%s\": %s", what, path, why);
	else if (!in)
		fail(b, k, true, "cannot open %s file \"%s\"", what, path);
	return in;
}

/* Never prompt on the program's terminal for a pass phrase. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf; (void)size; (void)rwflag; (void)u;
	return -1;
}

/* Reading stops at the end of the file with PEM_R_NO_START_LINE; any
 * other reason means the file holds something broken. */
static bool pem_clean_eof(void)
{
	unsigned long e = ERR_peek_last_error();

	return e == 0 || (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE);
}

/* Read the next certificate of a PEM file ("CERTIFICATE" or "TRUSTED
 * CERTIFICATE"; other blocks such as CRLs are skipped) into libctx. */
static X509 *read_cert(struct build *b, BIO *in)
{
	X509 *x = X509_new_ex(b->libctx, NULL);

	if (x && !PEM_read_bio_X509_AUX(in, &x, no_password, NULL)) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

/* x, parsed for a memo: kept in *certs (which takes its reference), or
 * freed where there is no memo (*certs NULL: none, or no room for it; a
 * failed push gives up the whole memo, so that it is never partial). */
static void memo_keep(STACK_OF(X509) **certs, X509 *x)
{
	if (*certs && !sk_X509_push(*certs, x)) {
		sk_X509_pop_free(*certs, X509_free);
		*certs = NULL;
	}
	if (!*certs)
		X509_free(x);
}

/* The certificate and its chain, parsed once per load (memo). */
static bool use_chain(struct build *b, const char *path, STACK_OF(X509) *certs)
{
	step();
	if (!SSL_CTX_use_certificate(b->ctx, sk_X509_value(certs, 0)))
		return fail(b, CTX_ERR_CERT, true, "cannot use certificate \"%s\"", path);
	step();
	for (int i = 1; i < sk_X509_num(certs); i++)
		if (!SSL_CTX_add1_chain_cert(b->ctx, sk_X509_value(certs, i)))
			return fail(b, CTX_ERR_CERT, true, "cannot use chain certificate in \"%s\"", path);
	return true;
}

/* The certificate, then the rest of the file as its chain (leaf first,
 * as SSL_CTX_use_certificate_chain_file expects). */
static bool load_chain(struct build *b, const char *path)
{
	STACK_OF(X509) *certs = NULL;
	struct memo *e;
	struct stat st;
	BIO *in;
	X509 *x;
	bool ok = false;

	if (!check_path(b, CTX_ERR_CERT, "certificate", path, false, NULL, &st))
		return false;
	if ((e = memo_find(b, MEMO_CHAIN, path, &st)))
		return use_chain(b, path, e->certs);
	step();
	if (!(in = open_pem(b, CTX_ERR_CERT, "certificate", path)))
		return false;
	certs = memo_cur ? sk_X509_new_null() : NULL;
	if (!(x = read_cert(b, in))) {
		fail(b, CTX_ERR_CERT, true, "cannot load certificate file \"%s\"", path);
		goto out;
	}
	if (!SSL_CTX_use_certificate(b->ctx, x)) {
		X509_free(x);
		fail(b, CTX_ERR_CERT, true, "cannot use certificate \"%s\"", path);
		goto out;
	}
	memo_keep(&certs, x);
	step();
	while ((x = read_cert(b, in))) {
		if (!SSL_CTX_add1_chain_cert(b->ctx, x)) {
			X509_free(x);
			fail(b, CTX_ERR_CERT, true, "cannot use chain certificate in \"%s\"", path);
			goto out;
		}
		memo_keep(&certs, x);
	}
	if (!pem_clean_eof()) {
		fail(b, CTX_ERR_CERT, true, "bad data after the certificate in \"%s\"", path);
		goto out;
	}
	if (certs)
		memo_add(b, MEMO_CHAIN, path, &st, certs, NULL, NULL);
	ok = true;
out:
	sk_X509_pop_free(certs, X509_free);
	BIO_free(in);
	return ok;
}

static bool key_mismatch(void)
{
	unsigned long e = ERR_peek_last_error();

	return ERR_GET_LIB(e) == ERR_LIB_X509 && (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH ||
						  ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH);
}

/* The decoders say "unsupported" when the file holds no key they know. */
static bool no_key_found(void)
{
	unsigned long e = ERR_peek_last_error();

	return e == 0 || (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) ||
	       (ERR_GET_LIB(e) == ERR_LIB_OSSL_DECODER && ERR_GET_REASON(e) == ERR_R_UNSUPPORTED);
}

/* key = "pkcs11:...": the key stays in the token (policy/pkcs11.c). */
static EVP_PKEY *load_pkcs11(struct build *b, const char *uri)
{
	static const enum ctx_err_key keys[] = {
		[PKCS11_ERR_KEY] = CTX_ERR_KEY, [PKCS11_ERR_MODULE] = CTX_ERR_PKCS11_MODULE,
		[PKCS11_ERR_PIN_FILE] = CTX_ERR_PIN_FILE,
	};
	enum pkcs11_err w = PKCS11_ERR_KEY;
	char why[400] = "";
	EVP_PKEY *k;

	step();
	k = pkcs11_load_key(uri, b->rule ? b->rule->pkcs11_module : NULL, b->rule ? b->rule->pin_file : NULL,
			    &w, why, sizeof why);
	if (!k)
		fail(b, keys[w], false, "%s", why);
	return k;
}

/* A PKCS#8 key ("PRIVATE KEY", what openssl genpkey and req write) as the
 * file's first PEM block, decoded with its algorithm named: OpenSSL 3.0
 * then sets up the decoders of that key type only, 1.8 M instructions
 * for a P-256 key against PEM_read_bio_PrivateKey_ex's 4.7 M (it tries
 * every decoder it has, at the start of every process, for every key
 * file).  The same decoder makes the same key.  Anything else (another
 * PEM type first, an encrypted key, a decoding that fails) gives NULL
 * with the file rewound: PEM_read_bio_PrivateKey_ex then reads it as
 * before and says what is wrong. */
static EVP_PKEY *read_pkcs8_key(struct build *b, BIO *in)
{
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long len = 0;
	EVP_PKEY *k = NULL;

	if (PEM_read_bio(in, &name, &header, &data, &len) && !strcmp(name, PEM_STRING_PKCS8INF) && !*header) {
		const unsigned char *p = data;
		PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, len);
		const ASN1_OBJECT *alg;
		char type[80];
		int n;

		if (p8 && p == data + len && PKCS8_pkey_get0(&alg, NULL, NULL, NULL, p8) &&
		    (n = OBJ_obj2txt(type, sizeof type, alg, 1)) > 0 && (size_t)n < sizeof type) {
			OSSL_DECODER_CTX *d = OSSL_DECODER_CTX_new_for_pkey(&k, "DER", "PrivateKeyInfo", type,
									    EVP_PKEY_KEYPAIR, b->libctx, NULL);
			const unsigned char *q = data;
			size_t l = (size_t)len;

			if (!d || !OSSL_DECODER_from_data(d, &q, &l)) {
				EVP_PKEY_free(k);
				k = NULL;
			}
			OSSL_DECODER_CTX_free(d);
		}
		PKCS8_PRIV_KEY_INFO_free(p8);
	}
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_clear_free(data, data ? (size_t)len : 0);
	return k;
}

/* The private key never appears in a message, only its file name. */
static bool load_key(struct build *b, const char *path)
{
	struct memo *e;
	struct stat st;
	EVP_PKEY *k;
	BIO *in;
	bool ok;

	if (pkcs11_is_uri(path)) {
		if (!(k = load_pkcs11(b, path)))
			return false;
		goto use;
	}
	if (b->key_holder && !keyholder_local_keys) {
		char why[300];

		step();
		return keyholder_use_key(b->ctx, why, sizeof why) ||
		       fail(b, CTX_ERR_KEY, false, "key_holder: %s", why);
	}
	if (!check_path(b, CTX_ERR_KEY, "key", path, false, NULL, &st))
		return false;
	if ((e = memo_find(b, MEMO_KEY, path, &st))) {
		k = e->key;
		EVP_PKEY_up_ref(k);
		goto use;
	}
	step();
	if (!(in = open_pem(b, CTX_ERR_KEY, "key", path)))
		return false;
	if (!(k = read_pkcs8_key(b, in))) {
		step();
		if (BIO_reset(in) != 0) {
			BIO_free(in);
			if (!(in = open_pem(b, CTX_ERR_KEY, "key", path)))
				return false;
		}
		k = PEM_read_bio_PrivateKey_ex(in, NULL, no_password, NULL, b->libctx, NULL);
	}
	BIO_free(in);
	if (!k && no_key_found())
		return fail(b, CTX_ERR_KEY, false, "cannot load key file \"%s\": no PEM private key found", path);
	if (!k)
		return fail(b, CTX_ERR_KEY, true, "cannot load key file \"%s\"", path);
	memo_add(b, MEMO_KEY, path, &st, NULL, k, NULL);
use:
	step();
	ok = SSL_CTX_use_PrivateKey(b->ctx, k) == 1;
	EVP_PKEY_free(k);
	if (!ok && key_mismatch())
		return fail(b, CTX_ERR_KEY, false, "key does not match certificate");
	if (!ok && pkcs11_is_uri(path))
		return fail(b, CTX_ERR_KEY, true, "cannot use the token's key");
	if (!ok)
		return fail(b, CTX_ERR_KEY, true, "cannot use key \"%s\"", path);
	step();
	if (SSL_CTX_check_private_key(b->ctx) != 1)
		return fail(b, CTX_ERR_KEY, false, "key does not match certificate");
	return true;
}

/* Each trust anchor into the verify store, its subject into names (when
 * not NULL). */
static bool add_anchor(X509_STORE *store, X509 *x, STACK_OF(X509_NAME) *names)
{
	X509_NAME *nm = NULL;

	if (!X509_STORE_add_cert(store, x) ||
	    (names && (!(nm = X509_NAME_dup(X509_get_subject_name(x))) || !sk_X509_NAME_push(names, nm)))) {
		X509_NAME_free(nm);
		return false;
	}
	return true;
}

/* A file of trust anchors: every certificate goes into the verify store;
 * names collects their subjects (for the server's list of acceptable
 * client CAs) when not NULL.  st: the stamps check_path judged (memo). */
static bool load_ca_file(struct build *b, const char *path, const struct stat *st, STACK_OF(X509_NAME) *names)
{
	X509_STORE *store = SSL_CTX_get_cert_store(b->ctx);
	STACK_OF(X509) *certs = NULL;
	struct memo *e;
	BIO *in;
	X509 *x;
	int n = 0;
	bool ok = false;

	step();
	if ((e = memo_find(b, MEMO_CA, path, st))) {
		for (int i = 0; i < sk_X509_num(e->certs); i++)
			if (!add_anchor(store, sk_X509_value(e->certs, i), names))
				return fail(b, CTX_ERR_CA, true, "cannot use certificate in CA file \"%s\"", path);
		return true;
	}
	if (!(in = open_pem(b, CTX_ERR_CA, "CA", path)))
		return false;
	certs = memo_cur ? sk_X509_new_null() : NULL;
	while ((x = read_cert(b, in))) {
		if (!add_anchor(store, x, names)) {
			X509_free(x);
			fail(b, CTX_ERR_CA, true, "cannot use certificate in CA file \"%s\"", path);
			goto out;
		}
		memo_keep(&certs, x);
		n++;
	}
	if (!pem_clean_eof() || n == 0) {
		fail(b, CTX_ERR_CA, true, "cannot load CA file \"%s\"", path);
		goto out;
	}
	if (certs)
		memo_add(b, MEMO_CA, path, st, certs, NULL, NULL);
	ok = true;
out:
	sk_X509_pop_free(certs, X509_free);
	BIO_free(in);
	return ok;
}

/* OpenSSL looks certificates up in a CA directory by subject hash
 * ("1a2b3c4d.0"); a directory of plain PEM files would silently trust
 * nothing, so say so at load time. */
static bool has_hashed_entry(const char *path)
{
	DIR *d = policy_opendir_path(path);
	struct dirent *e;
	bool found = false;

	if (!d)
		return false;
	while (!found && (e = readdir(d))) {
		found = policy_hashed_name(e->d_name) == 'c';
	}
	closedir(d);
	return found;
}

static bool load_ca_dir(struct build *b, const char *path)
{
	step();
	if (!has_hashed_entry(path))
		return fail(b, CTX_ERR_CA, false,
			    "CA directory \"%s\" has no hashed certificate names (run \"openssl rehash\")", path);
	{
		char entry[PATH_MAX + 64];

		/* Read by OpenSSL at verification time: one anyone can write
		 * is a trust anchor anyone can choose. */
		if (policy_dir_entry_others_can_write(path, entry, sizeof entry))
			return fail(b, CTX_ERR_CA, false, "cannot use CA file \"%s\": %s", entry,
				    POLICY_WHY_OTHERS_WRITE);
	}
	/* Its entries are read at verification time: from the root at
	 * start (policy/hashdir.h), as every file of the policy. */
	if (!hashdir_add(SSL_CTX_get_cert_store(b->ctx), b->libctx, path, true, true))
		return fail(b, CTX_ERR_CA, true, "cannot use CA directory \"%s\"", path);
	return true;
}

/* The system trust store, as SSL_CTX_set_default_verify_paths would set
 * it (SSL_CERT_FILE / SSL_CERT_DIR honoured, as the environment was at
 * start, at a reload too: hashdir_system_capture), minus its
 * ERR_clear_error.  A missing default file or directory is not an
 * error: verification then fails closed on every connection.
 *
 * Its file (Debian's ca-certificates.crt: 146 certificates, 225 KB)
 * costs about 256 M instructions to parse; nothing in it is checked at
 * start (an unusable file adds nothing), so it is read at the first
 * verification that looks in the store (hashdir_add_file), and a process
 * that never verifies against it never parses it.  Rules without a crl
 * (which adds to the store) share one store per load (memo): the same
 * anchors and the same directory lookup, read once.  A rule with a crl
 * gets a store of its own, as before. */
static bool load_default_paths(struct build *b)
{
	X509_STORE *store = SSL_CTX_get_cert_store(b->ctx);
	const char *file, *dir;
	struct memo *e;

	step();
	if (!b->rule->crl && (e = memo_find(b, MEMO_SYSTEM, NULL, NULL))) {
		SSL_CTX_set1_cert_store(b->ctx, e->store);
		return true;
	}
	/* Read as every file of the policy is (policy/file.h, hashdir.h):
	 * from the root at start, at a reload too; named by the
	 * environment as it was at start (hashdir_system_file), not as the
	 * program may have set it since. */
	file = hashdir_system_file();
	dir = hashdir_system_dir();
	if (!hashdir_add_file(store, b->libctx, file) ||
	    !hashdir_add(store, b->libctx, dir, true, true))
		return fail(b, CTX_ERR_CA, true, "cannot set up the system trust store");
	if (!b->rule->crl)
		memo_add(b, MEMO_SYSTEM, NULL, NULL, NULL, NULL, store);
	return true;
}

static bool load_ca(struct build *b, STACK_OF(X509_NAME) *names)
{
	const char *path = b->rule->ca;
	bool is_dir = false;
	struct stat st;

	if (!check_path(b, CTX_ERR_CA, "CA", path, true, &is_dir, &st))
		return false;
	return is_dir ? load_ca_dir(b, path) : load_ca_file(b, path, &st, names);
}

static bool set_protocols(struct build *b)
{
	int min = b->rule->min_version ? b->rule->min_version : TLS1_2_VERSION;
	/* ciphersuites = "" means no TLS 1.3; say so in the version range
	 * too, or an OpenSSL client still offers 1.3 and then cannot speak
	 * it with a server that picks it. */
	int max = b->rule->ciphersuites && !*b->rule->ciphersuites ? TLS1_2_VERSION : TLS1_3_VERSION;

	step();
	if (min != TLS1_2_VERSION && min != TLS1_3_VERSION)
		return fail(b, CTX_ERR_MIN_VERSION, false, "unsupported minimum version");
	if (min > max)
		return fail(b, CTX_ERR_CIPHERSUITES, false,
			    "empty ciphersuites with min_version \"TLSv1.3\" leaves no usable protocol");
	if (!SSL_CTX_set_min_proto_version(b->ctx, min) ||
	    !SSL_CTX_set_max_proto_version(b->ctx, max))
		return fail(b, CTX_ERR_MIN_VERSION, true, "cannot set the protocol versions");
	SSL_CTX_set_options(b->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
				    SSL_OP_CIPHER_SERVER_PREFERENCE);
	return true;
}

/* OpenSSL accepts a TLS 1.3 list as long as one name is known, silently
 * dropping the others; a typo in a policy must be an error instead. */
static bool set_ciphersuites(struct build *b)
{
	const char *list = b->rule->ciphersuites;
	const char *s = list;

	step();
	while (*s) {
		size_t n = strcspn(s, ":");
		char name[128];

		if (n > 0) {
			if (n >= sizeof(name))
				return fail(b, CTX_ERR_CIPHERSUITES, false, "unknown ciphersuite \"%.*s\"",
					    (int)n, s);
			memcpy(name, s, n);
			name[n] = '\0';
			if (!SSL_CTX_set_ciphersuites(b->ctx, name))
				return fail(b, CTX_ERR_CIPHERSUITES, false, "unknown ciphersuite \"%s\"", name);
		}
		s += n + (s[n] == ':');
	}
	step();
	if (!SSL_CTX_set_ciphersuites(b->ctx, list))
		return fail(b, CTX_ERR_CIPHERSUITES, true, "invalid ciphersuites \"%s\"", list);
	return true;
}

static bool set_ciphers(struct build *b)
{
	step();
	if (b->rule->ciphers && !SSL_CTX_set_cipher_list(b->ctx, b->rule->ciphers))
		return fail(b, CTX_ERR_CIPHERS, false, "invalid cipher string \"%s\"", b->rule->ciphers);
	/* The key holder signs and never decrypts: no TLS 1.2 RSA key
	 * exchange (policy/keyholder.h). */
	if (b->key_holder) {
		char list[1024];

		snprintf(list, sizeof list, "%s:!kRSA",
			 b->rule->ciphers ? b->rule->ciphers : OSSL_default_cipher_list());
		if (!SSL_CTX_set_cipher_list(b->ctx, list))
			return fail(b, CTX_ERR_CIPHERS, false, "no cipher left without RSA key exchange"
				    " (key_holder)");
	}
	if (b->rule->ciphersuites && !set_ciphersuites(b))
		return false;
	return true;
}

/* Cipher suites that authenticate no one (aNULL: ADH, AECDH) or encrypt
 * nothing (eNULL) are never used, whatever the rule's ciphers, a
 * "@SECLEVEL=0" in them or OpenSSL's system configuration say.  OpenSSL's
 * own check refuses them from security level 1 on only, and a client
 * that negotiates an anonymous suite gets no certificate to verify:
 * SSL_VERIFY_PEER then passes, and a connect rule with verify = "full"
 * would talk to whoever answered ("ALL:@SECLEVEL=0" for an old server
 * was enough).  The check sits in the security callback, which OpenSSL
 * asks for every suite it would offer, pick or accept; the rest is left
 * to the default callback (the one SSL_CTX_new installed). */
typedef int (*sec_cb_fn)(const SSL *, const SSL_CTX *, int, int, int, void *, void *);
static _Atomic(sec_cb_fn) default_sec_cb;

/* Each suite's answer, remembered: OpenSSL asks for every suite of the
 * list at every handshake (about 45 calls for a server's, 160 for a
 * client's), and SSL_CIPHER_get_auth_nid and SSL_CIPHER_get_cipher_nid
 * each search a table (7.5 K instructions of a client's handshake).  The
 * suites are libssl's own static objects, never freed: a slot is one word,
 * the suite's address with the answer in its low bit (an SSL_CIPHER holds
 * pointers: its address is even), written and read whole, so a reader
 * finds that suite's own answer or a miss; a miss, or two suites sharing
 * a slot, only means asking OpenSSL again. */
#define UNAUTH_SLOTS 256

static uintptr_t unauth_memo[UNAUTH_SLOTS];

static uintptr_t *unauth_slot(const void *c)
{
	return &unauth_memo[((uint64_t)(uintptr_t)c * UINT64_C(0x9e3779b97f4a7c15)) >> 56];
}

static inline int sec_default(const SSL *s, const SSL_CTX *ctx, int op, int bits, int nid, void *other,
			      void *ex)
{
	sec_cb_fn dflt = atomic_load_explicit(&default_sec_cb, memory_order_relaxed);

	return dflt ? dflt(s, ctx, op, bits, nid, other, ex) : 1;
}

/* A suite not in the memo: OpenSSL asked, the answer noted. */
__attribute__((noinline)) static int refuse_unauthenticated_ask(const SSL *s, const SSL_CTX *ctx, int op,
								 int bits, int nid, void *other, void *ex)
{
	const SSL_CIPHER *c = other;
	bool bad = SSL_CIPHER_get_auth_nid(c) == NID_auth_null || SSL_CIPHER_get_cipher_nid(c) == NID_undef;

	if (!((uintptr_t)c & 1))
		__atomic_store_n(unauth_slot(c), (uintptr_t)c | bad, __ATOMIC_RELAXED);
	return bad ? 0 : sec_default(s, ctx, op, bits, nid, other, ex);
}

/* A hit (every suite after the first handshake) answers without a frame
 * that saves registers, the miss is a tail call: about 17 instructions a
 * call where it was 37 with the miss inlined, about 160 calls a client
 * handshake (callgrind; bench/README.md, "The resumed rows, counted"). */
static int refuse_unauthenticated(const SSL *s, const SSL_CTX *ctx, int op, int bits, int nid,
				  void *other, void *ex)
{
	if ((op & SSL_SECOP_OTHER_TYPE) == SSL_SECOP_OTHER_CIPHER && other) {
		uintptr_t e = __atomic_load_n(unauth_slot(other), __ATOMIC_RELAXED);

		if ((e & ~(uintptr_t)1) != (uintptr_t)other)
			return refuse_unauthenticated_ask(s, ctx, op, bits, nid, other, ex);
		if (e & 1)
			return 0;
	}
	return sec_default(s, ctx, op, bits, nid, other, ex);
}

/* The lowest security level the peer's certificate chain is checked at,
 * whatever the rule's ciphers say.  OpenSSL checks a chain at the
 * connection's security level, so "@SECLEVEL=0" in a rule's ciphers (for
 * an old server's ciphers) also took away every check of the chain's
 * strength: a chain signed with MD5 or SHA-1, a CA or peer key of 512
 * bits, verified, and whoever can forge such a signature or factor such
 * a key (an MD5 chosen-prefix collision takes hours) could pose as any
 * server or client of the rule's CA.  Level 1: keys of at least 80 bits
 * of security (RSA and DSA 1024, EC 160), signatures stronger than SHA-1
 * (OpenSSL rates it at 63 bits).  The trust anchor's own self-signature is
 * not checked (OpenSSL never does): its key is. */
#define AUTH_LEVEL_MIN 1

/* After set_ciphers, which may change the level ("@SECLEVEL=N"): the
 * chain is checked at the rule's level, never below AUTH_LEVEL_MIN.
 * OpenSSL copies a level set in the SSL_CTX's verify parameters over the
 * connection's own at every verification (ssl_verify_cert_chain). */
static void set_auth_level(struct build *b)
{
	int level = SSL_CTX_get_security_level(b->ctx);

	X509_VERIFY_PARAM_set_auth_level(SSL_CTX_get0_param(b->ctx), level > AUTH_LEVEL_MIN ? level
					 : AUTH_LEVEL_MIN);
}

static void set_security(struct build *b)
{
	sec_cb_fn cur = SSL_CTX_get_security_callback(b->ctx);

	if (cur && cur != refuse_unauthenticated)
		atomic_store_explicit(&default_sec_cb, cur, memory_order_relaxed);
	/* the memo's slots are relaxed atomics, which helgrind does not
	 * model: it reported two handshakes' threads as racing on a slot */
	HG_ATOMIC_FIELD(&unauth_memo);
	SSL_CTX_set_security_callback(b->ctx, refuse_unauthenticated);
}

/* Server side ALPN: the first protocol in the client's order that the
 * rule also lists.  A client that offers ALPN but nothing we accept gets
 * a fatal no_application_protocol alert (RFC 7301 3.2) rather than a
 * connection that speaks a protocol it did not ask for. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	const struct policy_rule *rule = arg;
	unsigned char *sel = NULL;

	(void)ssl;
	if (!rule->alpn || !rule->alpn_len)
		return SSL_TLSEXT_ERR_NOACK;
	if (inlen == 0)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	/* Client list first: SSL_select_next_proto prefers its first list. */
	if (SSL_select_next_proto(&sel, outlen, in, inlen, rule->alpn,
				  (unsigned int)rule->alpn_len) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static bool set_alpn(struct build *b)
{
	const struct policy_rule *r = b->rule;

	if (!r->alpn || !r->alpn_len)
		return true;
	step();
	if (r->direction == POLICY_CONNECT) {
		/* Inverted convention: 0 is success. */
		if (SSL_CTX_set_alpn_protos(b->ctx, r->alpn, (unsigned int)r->alpn_len) != 0)
			return fail(b, CTX_ERR_ALPN, true, "cannot set ALPN protocols");
	} else {
		/* The rule lives as long as the policy that owns this SSL_CTX. */
		SSL_CTX_set_alpn_select_cb(b->ctx, alpn_select, (void *)r);
	}
	return true;
}

/* The largest list of acceptable client CA names a CertificateRequest
 * carries here: the TLS field's length is 16 bits, and OpenSSL fails the
 * handshake ("internal error") when the names do not fit, so a ca file of
 * many CAs made every handshake fail.  Some room is left for the rest of
 * the message (its signature algorithms). */
#define CA_NAMES_MAX 61440

/* The subjects of a ca file, as the list a server sends: each name once
 * (a bundle that repeats a CA adds nothing), and none at all when they
 * cannot fit in the message (as for a CA directory: a client then offers
 * whichever certificate it has, and verification decides as before). */
static int name_order(const X509_NAME *const *a, const X509_NAME *const *b)
{
	return X509_NAME_cmp(*a, *b);
}

static void ca_names_fit(STACK_OF(X509_NAME) *names)
{
	long total = 0;

	/* Sorted (the order carries no meaning), then each name once. */
	(void)sk_X509_NAME_set_cmp_func(names, name_order);
	sk_X509_NAME_sort(names);
	for (int i = 0; i < sk_X509_NAME_num(names); i++) {
		X509_NAME *a = sk_X509_NAME_value(names, i);
		int len;

		if (i > 0 && X509_NAME_cmp(a, sk_X509_NAME_value(names, i - 1)) == 0) {
			X509_NAME_free(sk_X509_NAME_delete(names, i--));
			continue;
		}
		len = i2d_X509_NAME(a, NULL);
		total += 2 + (len > 0 ? len : 0);
	}
	(void)sk_X509_NAME_set_cmp_func(names, NULL);
	if (total > CA_NAMES_MAX)
		while (sk_X509_NAME_num(names) > 0)
			X509_NAME_free(sk_X509_NAME_pop(names));
}

/* Accept rules: our certificate, and client certificates only when the
 * rule says require_client_cert = true.  A `ca` without it does not make
 * us request a certificate: "request but don't require" would let a
 * client without one in while looking like mutual TLS in the policy. */
static bool setup_server(struct build *b)
{
	const struct policy_rule *r = b->rule;
	unsigned char sid[SSL_MAX_SID_CTX_LENGTH];
	int n;

	if (!b->cert || !b->key)
		return fail(b, CTX_ERR_CERT, false, "an accept rule needs \"cert\" and \"key\"");
	if (!load_chain(b, b->cert) || !load_key(b, b->key))
		return false;
	/* Sessions resumed from the cache must stay within this rule. */
	n = snprintf((char *)sid, sizeof(sid), "tlsshim:%d", r->index);
	if (!SSL_CTX_set_session_id_context(b->ctx, sid, (unsigned int)n))
		return fail(b, CTX_ERR_OTHER, true, "cannot set the session id context");
	if (!r->require_client_cert) {
		SSL_CTX_set_verify(b->ctx, SSL_VERIFY_NONE, NULL);
		return true;
	}
	if (!r->ca)
		return fail(b, CTX_ERR_CA, false, "\"require_client_cert\" needs \"ca\"");
	{
		STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();

		if (!names)
			return fail(b, CTX_ERR_OTHER, false, "out of memory");
		if (!load_ca(b, names)) {
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			return false;
		}
		/* Empty for a CA directory: clients then pick their own. */
		ca_names_fit(names);
		SSL_CTX_set_client_CA_list(b->ctx, names);
	}
	SSL_CTX_set_verify(b->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return true;
}

/* Connect rules: verify the server unless the rule says verify = "none".
 * The name to check is set per connection by core/tls.c (SSL_set1_host
 * or the IP address); here only how names match: no partial wildcards. */
static bool setup_client(struct build *b)
{
	const struct policy_rule *r = b->rule;

	if (r->cert && (!load_chain(b, r->cert) || !load_key(b, r->key ? r->key : r->cert)))
		return false;
	if (r->verify == POLICY_VERIFY_NONE) {
		SSL_CTX_set_verify(b->ctx, SSL_VERIFY_NONE, NULL);
		return true;
	}
	if (r->ca ? !load_ca(b, NULL) : !load_default_paths(b))
		return false;
	X509_VERIFY_PARAM_set_hostflags(SSL_CTX_get0_param(b->ctx), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	SSL_CTX_set_verify(b->ctx, SSL_VERIFY_PEER, NULL);
	return true;
}

/* Revocation (policy/crl.c) and resumption (policy/resume.c). */
static bool set_crl_and_resumption(struct build *b)
{
	const struct policy_rule *r = b->rule;
	char why[400] = "";

	step();
	if (r->crl && !crl_setup(b->ctx, b->libctx, r->crl, why, sizeof why))
		return fail(b, CTX_ERR_CRL, false, "%s", why);
	step();
	if (r->direction == POLICY_CONNECT ? !resume_setup_client(b->ctx, !r->session_cache_off, why, sizeof why)
	    : !resume_setup_server(b->ctx, b->libctx, !r->session_cache_off, r->ticket_key_file, r->name,
				   why, sizeof why))
		return fail(b, r->ticket_key_file ? CTX_ERR_TICKET_KEY_FILE : CTX_ERR_OTHER, false, "%s", why);
	return true;
}

static bool build(struct build *b)
{
	step();
	b->ctx = SSL_CTX_new_ex(b->libctx, NULL, TLS_method());
	if (!b->ctx)
		return fail(b, CTX_ERR_OTHER, true, "cannot create an SSL_CTX");
	/* Before any file is read (policy/reload.h). */
	if (b->rule->direction == POLICY_ACCEPT)
		reload_note_rule(b->ctx, b->libctx, b->rule, b->cert, b->key);
	else
		reload_note_rule(b->ctx, b->libctx, b->rule, b->rule->cert, b->rule->key);
	set_security(b);
	if (!set_protocols(b) || !set_ciphers(b))
		return false;
	set_auth_level(b);
	if (b->rule->direction == POLICY_ACCEPT ? !setup_server(b) : !setup_client(b))
		return false;
	if (!set_alpn(b) || !set_crl_and_resumption(b))
		return false;
	/* A session verified under other CA or CRL files never resumes. */
	if (b->rule->direction == POLICY_ACCEPT && !reload_session_context(b->ctx, b->libctx, b->rule))
		return fail(b, CTX_ERR_OTHER, false, "cannot set the session id context");
	return true;
}

SSL_CTX *ctx_build(OSSL_LIB_CTX *libctx, const struct policy_rule *rule,
		   enum ctx_err_key *which, char *why, size_t whylen)
{
	return ctx_build_cert(libctx, rule, rule ? rule->cert : NULL, rule ? rule->key : NULL,
			      which, why, whylen);
}

SSL_CTX *ctx_build_cert(OSSL_LIB_CTX *libctx, const struct policy_rule *rule, const char *cert,
			const char *key, enum ctx_err_key *which, char *why, size_t whylen)
{
	enum ctx_err_key dummy;
	struct build b = {
		.libctx = libctx, .rule = rule, .cert = cert, .key = key, .key_holder = rule && rule->key_holder,
		.which = which ? which : &dummy,
		.why = why, .whylen = why ? whylen : 0,
	};

	*b.which = CTX_ERR_NONE;
	if (b.whylen)
		why[0] = '\0';
	if (!rule) {
		fail(&b, CTX_ERR_OTHER, false, "no rule");
		return NULL;
	}
	ERR_set_mark();
	if (!build(&b)) {
		SSL_CTX_free(b.ctx);
		b.ctx = NULL;
		if (*b.which == CTX_ERR_NONE)
			fail(&b, CTX_ERR_OTHER, false, "cannot build the TLS context");
	}
	ERR_pop_to_mark();
	return b.ctx;
}

bool ctx_add_cert(SSL_CTX *ctx, OSSL_LIB_CTX *libctx, const struct policy_rule *rule, const char *cert,
		  const char *key, enum ctx_err_key *which, char *why, size_t whylen)
{
	enum ctx_err_key dummy;
	struct build b = {
		.libctx = libctx, .ctx = ctx, .rule = rule, .key_holder = rule && rule->key_holder, .which = which ? which : &dummy,
		.why = why, .whylen = why ? whylen : 0,
	};
	bool ok;

	*b.which = CTX_ERR_NONE;
	if (b.whylen)
		why[0] = '\0';
	reload_note_files(ctx, cert, key);
	ERR_set_mark();
	ok = load_chain(&b, cert) && load_key(&b, key);
	ERR_pop_to_mark();
	return ok;
}
