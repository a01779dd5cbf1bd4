/* policy/crl.c — revocation lists (see crl.h).
 *
 * Like policy/ctx.c, this reads PEM itself rather than with
 * X509_load_crl_file (which ends in ERR_clear_error and would wipe the
 * program's queued errors), and opens only regular files, never
 * blocking (policy/file.h).
 */
#include "policy/crl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "policy/file.h"
#include "policy/hashdir.h"
#include "policy/why.h"

/* Every CRL of a PEM file into the store; other PEM blocks (a CA
 * certificate kept in the same file) are skipped. */
static bool load_file(X509_STORE *store, OSSL_LIB_CTX *libctx, const char *path, char *why, size_t whylen)
{
	const char *reason = NULL;
	BIO *in = policy_bio_regular(path, &reason);
	unsigned long e;
	int n = 0;

	(void)libctx; /* PEM_read_bio_X509_CRL has no _ex form; CRLs hold no keys */
	if (!in)
		return policy_why(why, whylen, "cannot read CRL file \"%s\": %s", path, reason ? reason : "cannot open");
	for (;;) {
		char *name = NULL, *header = NULL;
		unsigned char *data = NULL;
		long len = 0;
		const unsigned char *p;
		X509_CRL *crl;

		if (!PEM_read_bio(in, &name, &header, &data, &len))
			break;
		if (strcmp(name, PEM_STRING_X509_CRL) == 0) {
			p = data;
			crl = d2i_X509_CRL(NULL, &p, len);
			if (!crl || !X509_STORE_add_crl(store, crl)) {
				X509_CRL_free(crl);
				OPENSSL_free(name); OPENSSL_free(header); OPENSSL_free(data);
				BIO_free(in);
				return policy_why(why, whylen, "cannot use CRL %d of \"%s\": not a valid CRL", n + 1, path);
			}
			X509_CRL_free(crl);
			n++;
		}
		OPENSSL_free(name); OPENSSL_free(header); OPENSSL_free(data);
	}
	BIO_free(in);
	e = ERR_peek_last_error();
	if (e && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE))
		return policy_why(why, whylen, "cannot load CRL file \"%s\": %s", path,
			       ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "bad PEM data");
	if (n == 0)
		return policy_why(why, whylen, "CRL file \"%s\" holds no PEM CRL (\"-----BEGIN X509 CRL-----\")", path);
	return true;
}

/* A CRL directory is only searched by issuer hash: "1a2b3c4d.r0".  The
 * same lookup also takes certificates named "1a2b3c4d.0" from it, as
 * trust anchors: a directory that holds such names is refused, or
 * pointing crl at a directory of certificates would widen the trust. */
static void scan_dir(const char *path, bool *crls, bool *certs)
{
	DIR *d = policy_opendir_path(path);
	struct dirent *e;

	*crls = *certs = false;
	if (!d)
		return;
	while ((e = readdir(d))) {
		char kind = policy_hashed_name(e->d_name);

		*crls |= kind == 'r';
		*certs |= kind == 'c';
	}
	closedir(d);
}

static bool load_dir(X509_STORE *store, OSSL_LIB_CTX *libctx, const char *path, char *why, size_t whylen)
{
	bool crls, certs;

	scan_dir(path, &crls, &certs);
	if (certs)
		return policy_why(why, whylen, "CRL directory \"%s\" also holds certificates named by subject"
			       " hash (\"1a2b3c4d.0\"), which would be trusted as CAs: keep the CRLs in a"
			       " directory of their own", path);
	if (!crls)
		return policy_why(why, whylen, "CRL directory \"%s\" has no CRL named by issuer hash"
			       " (\"1a2b3c4d.r0\"; run \"openssl rehash\")", path);
	{
		char entry[PATH_MAX + 64];

		/* Read at verification time: anyone who can write one can
		 * put back an older CRL without a revocation. */
		if (policy_dir_entry_others_can_write(path, entry, sizeof entry))
			return policy_why(why, whylen, "cannot use CRL file \"%s\": %s", entry,
				       POLICY_WHY_OTHERS_WRITE);
	}
	/* CRLs only, never certificates; read at verification time from
	 * the root at start (policy/hashdir.h). */
	if (!hashdir_add(store, libctx, path, false, true))
		return policy_why(why, whylen, "cannot use CRL directory \"%s\"", path);
	return true;
}

bool crl_setup(SSL_CTX *ctx, OSSL_LIB_CTX *libctx, const char *path, char *why, size_t whylen)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	struct stat st;

	if (policy_stat_path(path, &st) != 0)
		return policy_why(why, whylen, "cannot read CRL file \"%s\": %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return policy_why(why, whylen, "cannot read CRL file \"%s\": not a regular file", path);
	if (policy_access_path(path, S_ISDIR(st.st_mode) ? R_OK | X_OK : R_OK) != 0)
		return policy_why(why, whylen, "cannot read CRL file \"%s\": %s", path, strerror(errno));
	if (policy_others_can_write(&st))
		return policy_why(why, whylen, "cannot use CRL %s \"%s\": %s", S_ISDIR(st.st_mode) ? "directory" : "file",
			       path, POLICY_WHY_OTHERS_WRITE);
	if (S_ISDIR(st.st_mode) ? !load_dir(store, libctx, path, why, whylen)
	    : !load_file(store, libctx, path, why, whylen))
		return false;
	/* The leaf and every intermediate: a CRL of each issuer, current. */
	if (!X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx),
					 X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL))
		return policy_why(why, whylen, "cannot turn on CRL checking%s", "");
	return true;
}
