/* policy/keyholder.c — the program's side of the key holder
 * (policy/keyholder.h): a key made of the certificate's public key whose
 * private operations are requests to the holder process.
 *
 * This file uses OpenSSL's RSA_METHOD and EC_KEY_METHOD, deprecated in
 * OpenSSL 3, hence OPENSSL_SUPPRESS_DEPRECATED here and nowhere else.
 * Why not a provider: a provider would need a key manager and a
 * signature implementation for RSA, RSA-PSS and EC (import, export,
 * match, parameters, the algorithm identifiers), several hundred lines
 * that must agree with how libssl picks its signature algorithms.  A key
 * with its own method is what OpenSSL 3 calls a "foreign" key: libcrypto
 * signs it through its legacy code path, doing the hashing and the PSS
 * encoding itself and leaving us the one private operation.  The methods
 * are set on our own key objects only; nothing global is installed in the
 * program's OpenSSL (docs/design.md, "The key holder").
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "policy/keyholder.h"
#include "policy/file.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

bool keyholder_local_keys;

static void default_log(const char *msg)
{
	fprintf(stderr, "tlsshim: %s\n", msg);
}

static struct keyholder_io io = {
	.socket = socket, .connect = connect, .send = send, .recv = recv, .close = close,
	.setsockopt = setsockopt, .getsockopt = getsockopt, .log_error = default_log, .syscall = syscall,
};

void keyholder_set_io(const struct keyholder_io *x)
{
	io = *x;
}

/* The holder's name and token, from the environment at load time. */
static char holder_name[KH_NAME_MAX + 1];
static unsigned char holder_token[KH_TOKEN_LEN];

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

bool keyholder_parse_env(const char *v, char name[KH_NAME_MAX + 1], unsigned char token[KH_TOKEN_LEN])
{
	const char *colon = v ? strchr(v, ':') : NULL;
	size_t n = colon ? (size_t)(colon - v) : 0;

	if (!colon || n == 0 || n > KH_NAME_MAX || strlen(colon + 1) != 2 * KH_TOKEN_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (v[i] <= ' ' || v[i] > '~')
			return false;
	for (size_t i = 0; i < KH_TOKEN_LEN; i++) {
		int hi = hexval(colon[1 + 2 * i]), lo = hexval(colon[2 + 2 * i]);

		if (hi < 0 || lo < 0)
			return false;
		token[i] = (unsigned char)(hi << 4 | lo);
	}
	memcpy(name, v, n);
	name[n] = '\0';
	return true;
}

bool keyholder_spki_hash(X509 *x, unsigned char out[KH_HASH_LEN])
{
	unsigned char *der = NULL;
	unsigned int len = 0;
	int n = x ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der) : -1;
	bool ok = n > 0 && EVP_Digest(der, (size_t)n, out, &len, EVP_sha256(), NULL) && len == KH_HASH_LEN;

	OPENSSL_free(der);
	return ok;
}

bool keyholder_mac(EVP_MAC *hmac, const unsigned char token[KH_TOKEN_LEN], const char *label,
		   const unsigned char *a, size_t alen, const unsigned char *b, size_t blen,
		   const unsigned char *c, size_t clen, unsigned char mac[KH_MAC_LEN])
{
	char md[] = "SHA256";
	OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, md, 0),
				OSSL_PARAM_construct_end() };
	EVP_MAC_CTX *m = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
	size_t len = 0;
	bool ok = m && EVP_MAC_init(m, token, KH_TOKEN_LEN, params) &&
		  EVP_MAC_update(m, (const unsigned char *)label, strlen(label)) &&
		  EVP_MAC_update(m, a, alen) && (!b || EVP_MAC_update(m, b, blen)) &&
		  (!c || EVP_MAC_update(m, c, clen)) && EVP_MAC_final(m, mac, &len, KH_MAC_LEN) &&
		  len == KH_MAC_LEN;

	EVP_MAC_CTX_free(m);
	return ok;
}

/* ---- our keys ------------------------------------------------------------ */

/* Which of our RSA / EC_KEY objects is which holder key.  Entries are
 * added while the policy loads and cleared when the key is freed; the
 * lookups during handshakes take no lock (no lock of ours may be held
 * at a fork). */
#define MAX_KEYS 256
static struct kh_key {
	const void *obj;        /* read and written with __atomic builtins */
	unsigned char hash[KH_HASH_LEN];
} keys[MAX_KEYS];

static bool key_add(const void *obj, const unsigned char hash[KH_HASH_LEN])
{
	for (size_t i = 0; i < MAX_KEYS; i++) {
		if (__atomic_load_n(&keys[i].obj, __ATOMIC_ACQUIRE))
			continue;
		memcpy(keys[i].hash, hash, KH_HASH_LEN);
		__atomic_store_n(&keys[i].obj, obj, __ATOMIC_RELEASE);
		return true;
	}
	return false;
}

static const unsigned char *key_hash(const void *obj)
{
	for (size_t i = 0; i < MAX_KEYS; i++)
		if (__atomic_load_n(&keys[i].obj, __ATOMIC_ACQUIRE) == obj)
			return keys[i].hash;
	return NULL;
}

static void key_remove(const void *obj)
{
	for (size_t i = 0; i < MAX_KEYS; i++)
		if (__atomic_load_n(&keys[i].obj, __ATOMIC_ACQUIRE) == obj)
			__atomic_store_n(&keys[i].obj, NULL, __ATOMIC_RELEASE);
}

/* ---- one request ----------------------------------------------------------- */

static void log_fail(const char *what, int err)
{
	char msg[400];

	snprintf(msg, sizeof msg, "key holder \"%s\": %s%s%s; the handshake fails (no private key"
		 " in this process: key_holder = true)", holder_name, what, err ? ": " : "",
		 err ? strerror(err) : "");
	io.log_error(msg);
}

static const char *status_text(int st)
{
	switch (st) {
	case KH_ERR_AUTH: return "refused the request (user or MAC)";
	case KH_ERR_NOKEY: return "holds no key for this certificate";
	case KH_ERR_BAD: return "refused a malformed request";
	default: return "could not sign";
	}
}

/* How the kernel shows a user not mapped in this user namespace
 * (/proc/sys/kernel/overflowuid, which no one changes). */
#define KH_OVERFLOW_UID 65534

/* Is this process in the initial user namespace, where every user is
 * mapped, so that a peer that reads as the overflow uid is that user?
 * The kernel gives the initial one a fixed inode number (proc_ns.h,
 * PROC_USER_INIT_INO, since Linux 3.8).  A readlink (the C library's
 * system call: never the shim's wrappers inside a handshake) in the start
 * root's procfs (policy_open_proc): after a chroot "/proc/self/ns/user"
 * could be a link the jail's writer made, saying either answer.  false
 * when it cannot tell (no /proc). */
static bool initial_user_ns(void)
{
	static const char init[] = "user:[4026531837]";
	char buf[64];
	int d = io.syscall ? policy_open_proc("/proc/self/ns", O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
	long n = d >= 0 ? io.syscall(SYS_readlinkat, d, "user", buf, sizeof buf - 1) : -1;

	if (d >= 0)
		policy_close_path(d);
	return n == (long)sizeof init - 1 && memcmp(buf, init, sizeof init - 1) == 0;
}

/* Who listens on the holder's name: is it worth asking?  The holder
 * proves itself by its answer's MAC (nothing a squatter can use is ever
 * sent: kh_request), so this only spares a handshake the wait for a
 * squatter's answer, up to 10 s: a peer of another user than this
 * process's (real or effective) and root is refused without a request
 * (1de8e63).  A peer that reads as the overflow uid is asked when this
 * process is in a user namespace: any user not mapped there, the holder's
 * too, reads so (a program of another user than the holder's that entered
 * one, or was started in one, was refused its own holder: helper-96).
 * *cr: the peer, for the log. */
static bool holder_worth_asking(int fd, struct ucred *cr, int *err)
{
	socklen_t crl = sizeof *cr;
	char what[160];

	if (io.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cr, &crl) != 0 || crl != sizeof *cr) {
		*err = errno;
		log_fail("cannot tell who listens on its name", *err);
		return false;
	}
	if (cr->uid == 0 || cr->uid == getuid() || cr->uid == geteuid())
		return true;
	if (cr->uid == KH_OVERFLOW_UID && !initial_user_ns())
		return true;
	snprintf(what, sizeof what, "another listens on its name: uid %d (pid %d), neither this process's"
		 " user nor root", (int)cr->uid, (int)cr->pid);
	log_fail(what, 0);
	return false;
}

/* The HMAC of the requests and answers (keyholder_mac), from a library
 * context of its own: the program's configuration of OpenSSL's default
 * context (its providers) is not ours to depend on.  Made once
 * (make_methods), never freed. */
static OSSL_LIB_CTX *kh_libctx;
static EVP_MAC *kh_hmac;

/* Ask the holder; the answer's length, or -1 (logged).  The token never
 * leaves this process: the request carries a MAC keyed by it, and an
 * answer counts only with the holder's MAC over the request's. */
static int kh_request(const unsigned char hash[KH_HASH_LEN], int op, const unsigned char *in, size_t inlen,
		      unsigned char *out, size_t outcap)
{
	unsigned char req[KH_HDR_LEN + KH_MAX_DATA], ans[KH_ANS_HDR_LEN + KH_MAX_DATA], mac[KH_MAC_LEN];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t nlen = strlen(holder_name);
	socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + nlen);
	struct timeval tv = { .tv_sec = 10 };
	struct ucred cr = { .pid = 0 };
	char what[200];
	ssize_t n;
	int fd, err;
	size_t alen;

	if (!hash || inlen > KH_MAX_DATA || !holder_name[0]) {
		log_fail("internal error: key not known", 0);
		return -1;
	}
	memcpy(req, KH_MAGIC, 4);
	req[4] = KH_VERSION;
	req[5] = (unsigned char)op;
	req[6] = (unsigned char)(inlen >> 8);
	req[7] = (unsigned char)inlen;
	memcpy(req + 8 + KH_NONCE_LEN, hash, KH_HASH_LEN);
	memcpy(req + KH_HDR_LEN, in, inlen);
	/* (the default context's generator: a pump's fork makes it ready
	 * for the thread beforehand, tls_conn_prepare_pump) */
	if (RAND_bytes(req + 8, KH_NONCE_LEN) != 1 ||
	    !keyholder_mac(kh_hmac, holder_token, KH_LABEL_REQ, req, KH_REQ_MAC_OFF, req + KH_HDR_LEN, inlen,
			   NULL, 0, req + KH_REQ_MAC_OFF)) {
		log_fail("cannot make the request (no random bytes or no HMAC)", 0);
		return -1;
	}
	memcpy(sa.sun_path + 1, holder_name, nlen);
	fd = io.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_fail("socket", errno);
		return -1;
	}
	(void)io.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	(void)io.setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	while ((err = io.connect(fd, (struct sockaddr *)&sa, salen)) < 0 && errno == EINTR)
		;
	if (err < 0) {
		err = errno;
		io.close(fd);
		log_fail("cannot reach it", err);
		return -1;
	}
	/* Once the holder is gone, any local user can bind its name (listed
	 * in /proc/net/unix): one of another user is not even asked. */
	if (!holder_worth_asking(fd, &cr, &err)) {
		io.close(fd);
		return -1;
	}
	if (io.lost && io.lost(fd)) {
		log_fail("the program took its connection's descriptor (dup2)", 0);
		return -1;
	}
	while ((n = io.send(fd, req, KH_HDR_LEN + inlen, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)(KH_HDR_LEN + inlen)) {
		err = n < 0 ? errno : EIO;
		io.close(fd);
		log_fail("cannot send the request", err);
		return -1;
	}
	if (io.lost && io.lost(fd)) {
		log_fail("the program took its connection's descriptor (dup2)", 0);
		return -1;
	}
	while ((n = io.recv(fd, ans, sizeof ans, 0)) < 0 && errno == EINTR)
		;
	err = n < 0 ? errno : 0;
	io.close(fd);
	if (n < KH_ANS_HDR_LEN || memcmp(ans, KH_MAGIC, 4) != 0) {
		log_fail(n == 0 ? "closed the connection without an answer" : "no valid answer", err);
		return -1;
	}
	alen = (size_t)ans[6] << 8 | ans[7];
	if (!keyholder_mac(kh_hmac, holder_token, KH_LABEL_ANS, req + KH_REQ_MAC_OFF, KH_MAC_LEN, ans,
			   KH_ANS_MAC_OFF, ans + KH_ANS_HDR_LEN, (size_t)n - KH_ANS_HDR_LEN, mac) ||
	    CRYPTO_memcmp(mac, ans + KH_ANS_MAC_OFF, KH_MAC_LEN) != 0) {
		/* (the holder's refusals by user or MAC are not MACed: it says
		 * so before, or instead of, trusting the request) */
		snprintf(what, sizeof what, "%s (uid %d, pid %d) without a MAC made with the program's secret:"
			 " not the holder's%s", ans[4] == KH_ERR_AUTH ? "refused the request, in an answer"
			 : "an answer from whoever listens on its name", (int)cr.uid, (int)cr.pid,
			 ans[4] == KH_ERR_AUTH ? " unless it refused this process's user or MAC" : "");
		log_fail(what, 0);
		return -1;
	}
	if (ans[4] != KH_OK) {
		log_fail(status_text(ans[4]), 0);
		return -1;
	}
	if (alen != (size_t)n - KH_ANS_HDR_LEN || alen > outcap) {
		log_fail("answer of a wrong length", 0);
		return -1;
	}
	memcpy(out, ans + KH_ANS_HDR_LEN, alen);
	return (int)alen;
}

/* ---- RSA ------------------------------------------------------------------- */

static RSA_METHOD *rsa_meth;
static EC_KEY_METHOD *ec_meth;
static int (*rsa_orig_finish)(RSA *);
static void (*ec_orig_finish)(EC_KEY *);

static int rsa_priv_enc(int flen, const unsigned char *from, unsigned char *to, RSA *rsa, int padding)
{
	int size = RSA_size(rsa), op;

	if (padding == RSA_PKCS1_PADDING)
		op = KH_OP_RSA_PKCS1;
	else if (padding == RSA_NO_PADDING && flen == size)
		op = KH_OP_RSA_PSS;
	else
		return -1;
	return kh_request(key_hash(rsa), op, from, (size_t)flen, to, (size_t)size) == size ? size : -1;
}

/* No decryption: TLS 1.2 RSA key exchange is off on key_holder rules. */
static int rsa_priv_dec(int flen, const unsigned char *from, unsigned char *to, RSA *rsa, int padding)
{
	(void)flen; (void)from; (void)to; (void)rsa; (void)padding;
	io.log_error("key holder: RSA decryption asked for (RSA key exchange), refused");
	return -1;
}

static int rsa_finish(RSA *rsa)
{
	key_remove(rsa);
	return rsa_orig_finish ? rsa_orig_finish(rsa) : 1;
}

/* ---- ECDSA ----------------------------------------------------------------- */

static int ec_sign(int type, const unsigned char *dgst, int dlen, unsigned char *sig, unsigned int *siglen,
		   const BIGNUM *kinv, const BIGNUM *r, EC_KEY *ec)
{
	int n, cap = ECDSA_size(ec);

	(void)type; (void)kinv; (void)r;
	if (dlen <= 0 || cap <= 0)
		return 0;
	n = kh_request(key_hash(ec), KH_OP_ECDSA, dgst, (size_t)dlen, sig, (size_t)cap);
	if (n <= 0)
		return 0;
	*siglen = (unsigned int)n;
	return 1;
}

static ECDSA_SIG *ec_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv, const BIGNUM *r,
			      EC_KEY *ec)
{
	unsigned char der[256];
	const unsigned char *p = der;
	unsigned int len = 0;

	if (ECDSA_size(ec) > (int)sizeof der || !ec_sign(0, dgst, dlen, der, &len, kinv, r, ec))
		return NULL;
	return d2i_ECDSA_SIG(NULL, &p, len);
}

static void ec_finish(EC_KEY *ec)
{
	key_remove(ec);
	if (ec_orig_finish)
		ec_orig_finish(ec);
}

static bool methods_ok;

static void make_methods(void)
{
	int (*init)(EC_KEY *) = NULL;
	void (*finish)(EC_KEY *) = NULL;
	int (*copy)(EC_KEY *, const EC_KEY *) = NULL;
	int (*set_group)(EC_KEY *, const EC_GROUP *) = NULL;
	int (*set_private)(EC_KEY *, const BIGNUM *) = NULL;
	int (*set_public)(EC_KEY *, const EC_POINT *) = NULL;
	int (*sign_setup)(EC_KEY *, BN_CTX *, BIGNUM **, BIGNUM **) = NULL;

	rsa_meth = RSA_meth_dup(RSA_PKCS1_OpenSSL());
	ec_meth = EC_KEY_METHOD_new(EC_KEY_OpenSSL());
	kh_libctx = OSSL_LIB_CTX_new();
	kh_hmac = kh_libctx ? EVP_MAC_fetch(kh_libctx, OSSL_MAC_NAME_HMAC, NULL) : NULL;
	if (!rsa_meth || !ec_meth || !kh_hmac)
		return;
	rsa_orig_finish = RSA_meth_get_finish(rsa_meth);
	if (!RSA_meth_set1_name(rsa_meth, "tlsshim key holder") ||
	    !RSA_meth_set_priv_enc(rsa_meth, rsa_priv_enc) ||
	    !RSA_meth_set_priv_dec(rsa_meth, rsa_priv_dec) ||
	    !RSA_meth_set_finish(rsa_meth, rsa_finish))
		return;
	EC_KEY_METHOD_get_init(ec_meth, &init, &finish, &copy, &set_group, &set_private, &set_public);
	ec_orig_finish = finish;
	EC_KEY_METHOD_set_init(ec_meth, init, ec_finish, copy, set_group, set_private, set_public);
	EC_KEY_METHOD_get_sign(ec_meth, NULL, &sign_setup, NULL);
	EC_KEY_METHOD_set_sign(ec_meth, ec_sign, sign_setup, ec_sign_sig);
	methods_ok = true;
}

/* ---- the key --------------------------------------------------------------- */

bool keyholder_use_key(SSL_CTX *ctx, char *why, size_t whylen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	X509 *x = SSL_CTX_get0_certificate(ctx);
	EVP_PKEY *pub = x ? X509_get0_pubkey(x) : NULL, *pk = NULL;
	unsigned char hash[KH_HASH_LEN];
	const char *env = secure_getenv(KH_ENV);
	bool ok = false;

	if (!env || !*env) {
		snprintf(why, whylen, "no key holder (%s is not set): run the program with the tlsshim"
			 " launcher, which starts it", KH_ENV);
		return false;
	}
	if (!keyholder_parse_env(env, holder_name, holder_token)) {
		snprintf(why, whylen, "%s is malformed", KH_ENV);
		return false;
	}
	pthread_once(&once, make_methods);
	if (!methods_ok || !pub || !keyholder_spki_hash(x, hash) || !(pk = EVP_PKEY_new())) {
		snprintf(why, whylen, "cannot make the key (out of memory?)");
		return false;
	}
	if (EVP_PKEY_is_a(pub, "RSA")) {
		const RSA *r0 = EVP_PKEY_get0_RSA(pub);
		RSA *rsa = r0 ? RSAPublicKey_dup(r0) : NULL;

		if (rsa && RSA_set_method(rsa, rsa_meth) && key_add(rsa, hash) &&
		    EVP_PKEY_assign_RSA(pk, rsa))
			ok = true;
		else
			RSA_free(rsa);
	} else if (EVP_PKEY_is_a(pub, "EC")) {
		const EC_KEY *e0 = EVP_PKEY_get0_EC_KEY(pub);
		EC_KEY *ec = e0 ? EC_KEY_dup(e0) : NULL;

		if (ec && EC_KEY_set_method(ec, ec_meth) && key_add(ec, hash) &&
		    EVP_PKEY_assign_EC_KEY(pk, ec))
			ok = true;
		else
			EC_KEY_free(ec);
	} else {
		snprintf(why, whylen, "only RSA and ECDSA keys can be held by the key holder");
		EVP_PKEY_free(pk);
		return false;
	}
	if (!ok) {
		snprintf(why, whylen, "cannot make the key");
		EVP_PKEY_free(pk);
		return false;
	}
	ok = SSL_CTX_use_PrivateKey(ctx, pk) == 1;
	EVP_PKEY_free(pk);
	if (!ok)
		snprintf(why, whylen, "the certificate's key cannot be used");
	return ok;
}
