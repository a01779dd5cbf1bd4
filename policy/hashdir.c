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
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <fcntl.h>

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

bool hashdir_load_file(X509_STORE *store, OSSL_LIB_CTX *libctx, const char *path, bool certs,
		       bool crls)
{
	bool unseen;
	BIO *in = policy_bio_entry(path, &unseen);
	STACK_OF(X509_INFO) *inf;

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

/* Its lookup's method data.  loaded: set once the file was read into
 * the store (by any thread), never cleared.  bad: the stamp (stamp()) of
 * the file as it was when a read of it found no certificate or did not
 * parse; 0 when none, or when the file is to be read at the next ask. */
struct hashfile {
	OSSL_LIB_CTX *libctx;
	char *path;
	atomic_bool loaded;
	_Atomic uint64_t bad;
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

/* ---- why the file added nothing: one line per cause ------------------------ */

static void (*_Atomic file_logger)(int level, const char *msg);

void hashdir_set_logger(void (*fn)(int level, const char *msg))
{
	atomic_store(&file_logger, fn);
}

/* The log of the file's failures (of every store: there is one such file
 * per process, hashdir_system_file).  last_cause: FNV-1a of the last
 * failure line logged; 0: none since the last good read (the store is
 * not failing, or has not been tried).  A cause is logged when it is not
 * the last one logged: a file that stays unreadable is said once, not at
 * every verification; one that goes from EMFILE to missing is said
 * again.  But a file whose cause keeps changing (missing, a directory,
 * missing again: a deployment script flapping) would still be one line
 * per verification, so a failure spell (from the first failure after a
 * good read, or after start, to the next good read) logs at most
 * CAUSE_LINES lines of cause, then one saying that it stops; the good
 * read that ends it is always logged, with the count of failed reads
 * (fails), and the first failure after it starts a new spell, logged
 * again.  Atomic words, no lock (file_by_subject): two threads racing
 * may log a line more, never a line per verification. */
#define CAUSE_LINES 3

static _Atomic uint64_t last_cause;
static atomic_uint cause_lines;
static atomic_ulong fails;

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * UINT64_C(0x100000001b3);
	return h;
}

static void file_failed(const char *path, const char *why)
{
	void (*fn)(int, const char *) = atomic_load(&file_logger);
	char msg[PATH_MAX + 400];
	unsigned n;
	uint64_t h;

	atomic_fetch_add(&fails, 1);
	snprintf(msg, sizeof msg, "system trust store: cannot use \"%s\": %s; every"
		 " verification against it fails (the connection is refused) until it can,"
		 " tried again at the next", path, why);
	h = fnv(msg, strlen(msg), UINT64_C(0xcbf29ce484222325)) | 1;
	if (atomic_exchange(&last_cause, h) == h)
		return;
	n = atomic_fetch_add(&cause_lines, 1);
	if (n < CAUSE_LINES && fn)
		fn(0, msg);
	if (n == CAUSE_LINES && fn) {
		snprintf(msg, sizeof msg, "system trust store: cannot use \"%s\": why keeps"
			 " changing (%u causes since it was last read); not logged again until it"
			 " is read (every verification against it fails until then)", path, n + 1);
		fn(0, msg);
	}
}

static void file_good(const char *path, int ncert)
{
	void (*fn)(int, const char *) = atomic_load(&file_logger);
	char msg[PATH_MAX + 100];
	unsigned long nf;

	if (atomic_exchange(&last_cause, 0) == 0)
		return;
	nf = atomic_exchange(&fails, 0);
	atomic_store(&cause_lines, 0);
	if (!fn)
		return;
	snprintf(msg, sizeof msg, "system trust store: \"%s\" read: %d certificate%s (after %lu"
		 " failed read%s)", path, ncert, ncert == 1 ? "" : "s", nf, nf == 1 ? "" : "s");
	fn(2, msg);
}

/* The file's identity and times: a file written again (in place or
 * renamed over) has another. */
static uint64_t stamp(const struct stat *st)
{
	uint64_t v[7] = { st->st_dev, st->st_ino, (uint64_t)st->st_size,
			  (uint64_t)st->st_mtim.tv_sec, (uint64_t)st->st_mtim.tv_nsec,
			  (uint64_t)st->st_ctim.tv_sec, (uint64_t)st->st_ctim.tv_nsec };

	return fnv(v, sizeof v, UINT64_C(0xcbf29ce484222325)) | 1;
}

/* The file into the store, unless it was read (by any thread).  What is
 * kept as read is a file that was opened, parsed whole, held at least
 * one certificate and did not change while it was read; anything else
 * adds nothing (an empty store verifies no one: fail closed), is logged
 * (file_failed) and is tried again:
 *  - one that could not be opened (none, unreadable, no descriptor left:
 *    EMFILE) at the next ask: a passing failure at the first
 *    verification does not empty the store for the rest of the process's
 *    life;
 *  - one that changed while it was read (a writer truncating and
 *    writing it in place) at the next ask;
 *  - one with no certificate, or that does not parse (a torn write:
 *    empty, or cut inside a certificate), at the first ask after its
 *    stat() stamps change (not a parse per handshake while it stays so).
 * Before, a file opened counted as read whatever it held: one read
 * while a writer had just truncated it left the store empty for good. */
static void file_read(struct hashfile *f, X509_STORE *store)
{
	uint64_t bad = atomic_load_explicit(&f->bad, memory_order_relaxed);
	STACK_OF(X509_INFO) *inf;
	struct stat a, b;
	const char *why = NULL;
	bool changed;
	int ncert = 0;
	BIO *in;

	if (atomic_load_explicit(&f->loaded, memory_order_acquire))
		return;
	if (bad && policy_stat_path(f->path, &a) == 0 && stamp(&a) == bad)
		return;                 /* as it was at the failed read */
	/* (read whole, at most POLICY_FILE_MAX bytes, then parsed) */
	if (!(in = policy_bio_read(f->path, &why, &a, &b))) {
		if (why)
			file_failed(f->path, why);
		return;                 /* (no memory: tried again) */
	}
	inf = PEM_X509_INFO_read_bio_ex(in, NULL, NULL, "", f->libctx, NULL);
	changed = stamp(&a) != stamp(&b);
	BIO_free(in);
	for (int i = 0; inf && i < sk_X509_INFO_num(inf); i++)
		ncert += sk_X509_INFO_value(inf, i)->x509 != NULL;
	if (changed) {
		atomic_store_explicit(&f->bad, 0, memory_order_relaxed);
		file_failed(f->path, "it changed while it was read (written in place?)");
	} else if (!inf || !ncert) {
		atomic_store_explicit(&f->bad, stamp(&a), memory_order_relaxed);
		file_failed(f->path, !inf ? "it does not parse as PEM (cut short while written?)" :
					    "it holds no certificate (empty while written?)");
	} else {
		for (int i = 0; i < sk_X509_INFO_num(inf); i++) {
			X509_INFO *it = sk_X509_INFO_value(inf, i);

			if (it->x509)
				X509_STORE_add_cert(store, it->x509);
			if (it->crl)
				X509_STORE_add_crl(store, it->crl);
		}
		atomic_store_explicit(&f->loaded, true, memory_order_release);
		file_good(f->path, ncert);
	}
	sk_X509_INFO_pop_free(inf, X509_INFO_free);
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
	atomic_init(&f->bad, 0);
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

/* The most of /proc/self/environ read (the kernel's own bound on the
 * strings execve() takes is a quarter of the stack limit). */
#define START_ENV_MAX (64u << 20)

/* The values of the variables fname and dname (copies, NULL when not
 * set: the first of each, as getenv() finds it) in the environment the
 * process was started with: /proc/self/environ, the strings execve()
 * put on its stack, which setenv(), putenv(), unsetenv() and clearenv()
 * leave as they were.  false when it cannot be read (no procfs, no
 * memory): *f and *d untouched. */
static bool start_env(const char *fname, const char *dname, char **f, char **d)
{
	size_t fl = strlen(fname), dl = strlen(dname), len = 0, cap = 0;
	int fd = policy_open_proc("/proc/self/environ", O_RDONLY | O_CLOEXEC);
	char *buf = NULL, *vf = NULL, *vd = NULL;
	bool ok = false;
	FILE *in;

	if (fd < 0)
		return false;
	if (!(in = fdopen(fd, "r"))) {
		policy_close_path(fd);
		return false;
	}
	for (;;) {
		size_t got;

		if (len == cap) {
			char *nb = cap < START_ENV_MAX ? realloc(buf, cap ? 2 * cap : 4096) : NULL;

			if (!nb)
				goto out;
			buf = nb;
			cap = cap ? 2 * cap : 4096;
		}
		got = fread(buf + len, 1, cap - len, in);
		len += got;
		if (!got) {
			if (ferror(in))
				goto out;
			break;
		}
	}
	for (size_t at = 0; at < len;) {
		const char *e = buf + at, *z = memchr(e, '\0', len - at);
		size_t n = z ? (size_t)(z - e) : len - at;

		if (!vf && n > fl && e[fl] == '=' && !memcmp(e, fname, fl) &&
		    !(vf = strndup(e + fl + 1, n - fl - 1)))
			goto out;
		if (!vd && n > dl && e[dl] == '=' && !memcmp(e, dname, dl) &&
		    !(vd = strndup(e + dl + 1, n - dl - 1)))
			goto out;
		at += n + 1;
	}
	*f = vf;
	*d = vd;
	vf = vd = NULL;
	ok = true;
out:
	fclose(in);
	free(buf);
	free(vf);
	free(vd);
	return ok;
}

/* (the shim's start, through hashdir_system_capture; any thread's first
 * ask when nothing took them before) */
static void system_take(void)
{
	const char *f, *d;

	/* Secure-execution mode (a set-user-ID program): neither, as
	 * secure_getenv() and OpenSSL have it. */
	if (getauxval(AT_SECURE))
		return;
	/* As execve() gave them: another library's constructor runs before
	 * the shim's, and its setenv() is already in environ by then. */
	if (start_env(X509_get_default_cert_file_env(), X509_get_default_cert_dir_env(),
		      &system_file, &system_dir))
		return;
	/* No procfs: the environment as it is now. */
	f = secure_getenv(X509_get_default_cert_file_env());
	d = secure_getenv(X509_get_default_cert_dir_env());
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
