/* policy/hashdir.h — certificates and CRLs looked up by subject hash in a
 * directory ("1a2b3c4d.0", "1a2b3c4d.r0", as "openssl rehash" names them),
 * at verification time, as OpenSSL's hash_dir lookup does; but every entry
 * is opened as policy_open_path names it (file.h): from the root the
 * process had when the library started, never from a chroot() the program
 * entered since (where whoever can write would add a trust anchor), and
 * only when it is a regular file other users cannot write.
 */
#ifndef TLSSHIM_POLICY_HASHDIR_H
#define TLSSHIM_POLICY_HASHDIR_H

#include <stdbool.h>
#include <openssl/x509_vfy.h>

/* Look certificates (certs) and/or CRLs (crls) up in dirs (one directory,
 * or a list separated by ':' as SSL_CERT_DIR is) for store.  false: no
 * memory. */
bool hashdir_add(X509_STORE *store, OSSL_LIB_CTX *libctx, const char *dirs, bool certs, bool crls);
/* Every certificate (certs) and/or CRL (crls) of the PEM file path into
 * store, the file opened as every policy file is (file.h); false when it
 * could not even be looked at (no such file), true otherwise (an
 * unreadable or unusable file adds nothing). */
bool hashdir_load_file(X509_STORE *store, OSSL_LIB_CTX *libctx, const char *path, bool certs, bool crls);

#endif
