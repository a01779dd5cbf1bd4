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
/* The same for the system trust store's file (its certificates and
 * CRLs), but read at the first lookup that reaches it rather than now:
 * parsing Debian's bundle of 146 CAs is 250 M instructions, 30 ms, that
 * a process which never verifies against the store never needs (its
 * parse found no error at start either: a missing or unusable file adds
 * nothing).  Read by the thread whose verification first asks, as it is
 * then (from the root at start, file.h); never again once read (one
 * that could not be opened, EMFILE included, or that changed while it
 * was read, is tried again at the next ask; one that held no
 * certificate or did not parse, a torn write, at the first ask after
 * its stat() stamps change; each failure's cause logged once, see
 * hashdir_set_logger).  Add it before
 * hashdir_add's directory lookup on the same store, so that the file's
 * certificates come first, as when they were in the store from the
 * start.  false: no memory. */
bool hashdir_add_file(X509_STORE *store, OSSL_LIB_CTX *libctx, const char *path);
/* That file read into store now, unless it was (a store hashdir_add_file
 * was given: policy_read_system_stores, reload.h). */
void hashdir_read_file_now(X509_STORE *store);

/* Where a line saying why the system store's file added nothing goes
 * (levels as core/log.h's: 0 error, 2 info), once per cause, at most
 * three causes and a line saying it stops until the file is read, which
 * is logged with the count of failed reads (file_failed, hashdir.c).
 * NULL (the default, tlsshim --check): nowhere. */
void hashdir_set_logger(void (*fn)(int level, const char *msg));

/* The system trust store's file and directory list: SSL_CERT_FILE and
 * SSL_CERT_DIR as the process was started with them (/proc/self/environ:
 * not as a library's constructor that ran before the shim's set them;
 * without a procfs, secure_getenv when the library started; none in
 * secure-execution mode), else OpenSSL's defaults.
 * Taken once (hashdir_system_capture: the shim's start calls it before it
 * loads the policy; a process that never did, tlsshim --check, takes them
 * at its first load) and used for every load and reload from then on: a
 * program's own setenv(), unsetenv() or clearenv() after start changes
 * nothing it trusts.  A process exec'd takes its own, from the
 * environment it is given. */
void hashdir_system_capture(void);
const char *hashdir_system_file(void);
const char *hashdir_system_dir(void);
/* Replace them (unit tests; NULL: OpenSSL's default).  Not thread-safe:
 * before any load. */
void hashdir_system_set(const char *file, const char *dir);

#endif
