/* policy/hashdir.c — lookups by subject hash in a directory (hashdir.h).
 *
 * One X509_LOOKUP per directory list, its method data a struct hashdir.
 * At each lookup the entries of the name's hash are read (".0", ".1", ...
 * until one is missing) into the store, then the store answers, as
 * OpenSSL's by_dir does: the object returned is the store's (the caller,
 * X509_STORE_CTX_get_by_subject, takes its own reference), so the one
 * X509_OBJECT_set1_* takes is given back.  OpenSSL asks for a certificate
 * only when the store has none of that subject yet; for CRLs at every
 * verification (a CRL replaced in place is read again).
 *
 * hashdir_add_file: the system trust store's file, read into the store
 * at the first lookup instead of at the policy's load (hashdir.h).
 */
#include "policy/hashdir.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "policy/file.h"

struct hashdir {
	OSSL_LIB_CTX *libctx;
	size_t n;
	struct hd_dir {
		char *path;
		bool certs, crls;
	} *dirs;
};

static X509_LOOKUP_METHOD *method;
static pthread_once_t method_once = PTHREAD_ONCE_INIT;

static void hd_free(struct hashdir *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++)
		free(h->dirs[i].path);
	free(h->dirs);
	free(h);
}

static void lu_free(X509_LOOKUP *lu)
{
	hd_free(X509_LOOKUP_get_method_data(lu));
	X509_LOOKUP_set_method_data(lu, NULL);
}

/* hashdir_load_file; *read: the file was opened (and parsed, whatever
 * it held). */
static bool load_file(X509_STORE *store, OSSL_LIB_CTX *libctx, const char *path, bool certs,
		      bool crls, bool *read)
{
	bool unseen;
	BIO *in = policy_bio_entry(path, &unseen);
	STACK_OF(X509_INFO) *inf;

	*read = in != NULL;
	if (!in)
		return !unseen;
	inf = PEM_X509_INFO_read_bio_ex(in, NULL, NULL, "", libctx, NULL);
	BIO_free(in);
	for (int i = 0; inf && i < sk_X509_INFO_num(inf); i++) {
		X509_INFO *it = sk_X509_INFO_value(inf, i);

		if (certs && it->x509)
			X509_STORE_add_cert(store, it->x509);
		if (crls && it->crl)
			X509_STORE_add_crl(store, it->crl);
	}
	sk_X509_INFO_pop_free(inf, X509_INFO_free);
	return true;
}

bool hashdir_load_file(X509_STORE *store, OSSL_LIB_CTX *libctx, const char *path, bool certs, bool crls)
{
	bool read;

	return load_file(store, libctx, path, certs, crls, &read);
}

/* The entry's certificates, or its CRLs; false: no such entry (the end
 * of the numbering). */
static bool load_entry(X509_STORE *store, OSSL_LIB_CTX *libctx, const char *path, X509_LOOKUP_TYPE type)
{
	return hashdir_load_file(store, libctx, path, type == X509_LU_X509, type == X509_LU_CRL);
}

/* What the store holds of that subject, into ret: the object returned is
 * the store's (the caller takes its own reference), so the one
 * X509_OBJECT_set1_* takes is given back. */
static int store_answer(X509_STORE *store, X509_LOOKUP_TYPE type, const X509_NAME *name,
			X509_OBJECT *ret)
{
	X509_OBJECT *o;
	int found = 0;

	if (!X509_STORE_lock(store))
		return 0;
	o = X509_OBJECT_retrieve_by_subject(X509_STORE_get0_objects(store), type, name);
	if (o && type == X509_LU_X509) {
		X509 *x = X509_OBJECT_get0_X509(o);

		found = X509_OBJECT_set1_X509(ret, x);
		if (found)
			X509_free(x);      /* the store's reference is the one returned */
	} else if (o) {
		X509_CRL *c = X509_OBJECT_get0_X509_CRL(o);

		found = X509_OBJECT_set1_X509_CRL(ret, c);
		if (found)
			X509_CRL_free(c);
	}
	X509_STORE_unlock(store);
	return found;
}

static int by_subject(X509_LOOKUP *lu, X509_LOOKUP_TYPE type, const X509_NAME *name, X509_OBJECT *ret)
{
	struct hashdir *h = X509_LOOKUP_get_method_data(lu);
	X509_STORE *store = X509_LOOKUP_get_store(lu);
	unsigned long hash;
	int ok = 0, found = 0;

	if (!h || !store || !name || !ret || (type != X509_LU_X509 && type != X509_LU_CRL))
		return 0;
	ERR_set_mark();
	hash = X509_NAME_hash_ex(name, h->libctx, NULL, &ok);
	for (size_t d = 0; ok && d < h->n; d++)
		for (int k = 0; (type == X509_LU_X509 ? h->dirs[d].certs : h->dirs[d].crls) && k < 1000; k++) {
			char path[4200];

			if ((size_t)snprintf(path, sizeof path, "%s/%08lx.%s%d", h->dirs[d].path, hash,
					     type == X509_LU_CRL ? "r" : "", k) >= sizeof path ||
			    !load_entry(store, h->libctx, path, type))
				break;
		}
	found = ok && store_answer(store, type, name, ret);
	ERR_pop_to_mark();
	return found;
}

static void method_init(void)
{
	X509_LOOKUP_METHOD *m = X509_LOOKUP_meth_new("tlsshim hashed directory");

	if (m && X509_LOOKUP_meth_set_free(m, lu_free) && X509_LOOKUP_meth_set_get_by_subject(m, by_subject))
		method = m;
	else
		X509_LOOKUP_meth_free(m);
}

bool hashdir_add(X509_STORE *store, OSSL_LIB_CTX *libctx, const char *dirs, bool certs, bool crls)
{
	X509_LOOKUP *lu;
	struct hashdir *h;
	const char *s = dirs;

	pthread_once(&method_once, method_init);
	/* One lookup of the method per store (X509_STORE_add_lookup gives
	 * back the one it has): its directories are added to. */
	if (!method || !(lu = X509_STORE_add_lookup(store, method)))
		return false;
	if (!(h = X509_LOOKUP_get_method_data(lu))) {
		if (!(h = calloc(1, sizeof *h)))
			return false;
		h->libctx = libctx;
		if (!X509_LOOKUP_set_method_data(lu, h)) {
			free(h);
			return false;
		}
	}
	while (s && *s) {
		size_t len = strcspn(s, ":");

		if (len) {
			struct hd_dir *v = realloc(h->dirs, (h->n + 1) * sizeof *v);

			if (!v)
				return false;
			h->dirs = v;
			if (!(v[h->n].path = strndup(s, len)))
				return false;
			v[h->n].certs = certs;
			v[h->n].crls = crls;
			h->n++;
		}
		s += len + (s[len] == ':');
	}
	return true;
}

/* ---- the system store's file, read at the first lookup -------------------- */

/* Its lookup's method data.  loaded: set once the file was opened and
 * read into the store (by any thread); never cleared. */
struct hashfile {
	OSSL_LIB_CTX *libctx;
	char *path;
	atomic_bool loaded;
};

static X509_LOOKUP_METHOD *file_method;
static pthread_once_t file_method_once = PTHREAD_ONCE_INIT;

static void file_lu_free(X509_LOOKUP *lu)
{
	struct hashfile *f = X509_LOOKUP_get_method_data(lu);

	if (f)
		free(f->path);
	free(f);
	X509_LOOKUP_set_method_data(lu, NULL);
}

/* The file into the store, unless it was read (by any thread).  One that
 * could not be opened (none, unreadable, no descriptor left: EMFILE)
 * adds nothing, not an error, and is tried again at the next ask: a
 * passing failure at the first verification does not empty the store
 * for the rest of the process's life (one unusable but read adds
 * nothing, for good). */
static void file_read(struct hashfile *f, X509_STORE *store)
{
	bool read;

	if (atomic_load_explicit(&f->loaded, memory_order_acquire))
		return;
	(void)load_file(store, f->libctx, f->path, true, true, &read);
	if (read)
		atomic_store_explicit(&f->loaded, true, memory_order_release);
}

/* OpenSSL asks the store's lookups, in the order they were added, for a
 * subject the store holds no certificate of (for a CRL: at every
 * verification).  The first ask of any kind reads the whole file into the
 * store; from then on the store holds the file's certificates, as if they
 * had been read at start, and OpenSSL asks here only for subjects the
 * file does not have.  No lock of ours: threads whose first asks meet
 * each read the file (adding a certificate the store has is a no-op that
 * succeeds), so a fork() or a signal handler at any point finds nothing
 * held; until one of them has added it all, another thread may see only
 * part of the file's certificates (and then none of the directory's,
 * which come after the whole file), which can fail a verification but
 * never widens the trust.  (One exception: a file renamed over while two
 * first reads meet, one reading the old version, one the new, leaves
 * both versions' certificates in the store, each trusted by a version
 * of the file: the old one's were, before e6d8e23, for the process's
 * whole life.)  CRLs: the file read, the ask goes on to the
 * next lookup (a CRL directory's entries are read at every
 * verification), and OpenSSL takes the CRLs from the store. */
static int file_by_subject(X509_LOOKUP *lu, X509_LOOKUP_TYPE type, const X509_NAME *name,
			   X509_OBJECT *ret)
{
	struct hashfile *f = X509_LOOKUP_get_method_data(lu);
	X509_STORE *store = X509_LOOKUP_get_store(lu);
	int found;

	if (!f || !store || !name || !ret)
		return 0;
	ERR_set_mark();
	file_read(f, store);
	found = type == X509_LU_X509 && store_answer(store, type, name, ret);
	ERR_pop_to_mark();
	return found;
}

static void file_method_init(void)
{
	X509_LOOKUP_METHOD *m = X509_LOOKUP_meth_new("tlsshim file read at first use");

	if (m && X509_LOOKUP_meth_set_free(m, file_lu_free) &&
	    X509_LOOKUP_meth_set_get_by_subject(m, file_by_subject))
		file_method = m;
	else
		X509_LOOKUP_meth_free(m);
}

bool hashdir_add_file(X509_STORE *store, OSSL_LIB_CTX *libctx, const char *path)
{
	X509_LOOKUP *lu;
	struct hashfile *f;

	pthread_once(&file_method_once, file_method_init);
	if (!file_method || !(lu = X509_STORE_add_lookup(store, file_method)))
		return false;
	if (X509_LOOKUP_get_method_data(lu))
		return true;            /* (one file per store) */
	if (!(f = calloc(1, sizeof *f)) || !(f->path = strdup(path))) {
		free(f);
		return false;
	}
	f->libctx = libctx;
	atomic_init(&f->loaded, false);
	if (!X509_LOOKUP_set_method_data(lu, f)) {
		free(f->path);
		free(f);
		return false;
	}
	return true;
}

/* ---- the system store's paths, as at start -------------------------------- */

static char *system_file, *system_dir;
static pthread_once_t system_once = PTHREAD_ONCE_INIT;

static void system_take(void)
{
	const char *f = secure_getenv(X509_get_default_cert_file_env());
	const char *d = secure_getenv(X509_get_default_cert_dir_env());

	/* (no memory: OpenSSL's defaults, never another's path) */
	system_file = f ? strdup(f) : NULL;
	system_dir = d ? strdup(d) : NULL;
}

void hashdir_system_capture(void)
{
	pthread_once(&system_once, system_take);
}

const char *hashdir_system_file(void)
{
	hashdir_system_capture();
	return system_file ? system_file : X509_get_default_cert_file();
}

const char *hashdir_system_dir(void)
{
	hashdir_system_capture();
	return system_dir ? system_dir : X509_get_default_cert_dir();
}

void hashdir_system_set(const char *file, const char *dir)
{
	char *f = file ? strdup(file) : NULL, *d = dir ? strdup(dir) : NULL;

	hashdir_system_capture();
	/* (copied first: file or dir may be ours) */
	free(system_file);
	free(system_dir);
	system_file = f;
	system_dir = d;
}

void hashdir_read_file_now(X509_STORE *store)
{
	X509_LOOKUP *lu;
	struct hashfile *f;

	pthread_once(&file_method_once, file_method_init);
	/* (gives back the store's own lookup of the method: it has one) */
	if (!store || !file_method || !(lu = X509_STORE_add_lookup(store, file_method)) ||
	    !(f = X509_LOOKUP_get_method_data(lu)))
		return;
	ERR_set_mark();
	file_read(f, store);
	ERR_pop_to_mark();
}
