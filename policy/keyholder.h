/* policy/keyholder.h — private keys held by another process.
 *
 * A rule with `key_holder = true` never reads its key file in the
 * program: the tlsshim launcher starts a key-holder process before the
 * program (launcher/holder.c), which alone loads the keys and answers
 * signing requests over an abstract unix socket.  The program's SSL_CTX
 * gets a key made from the certificate's public key whose private
 * operations are requests to the holder (keyholder_use_key).
 *
 * The holder's address and a secret token reach the program in
 * TLSSHIM_KEY_HOLDER="NAME:TOKENHEX" (NAME: the abstract socket name,
 * without its leading NUL).  Each request connects anew (a forked or
 * exec'd program, or one that closed every fd, still reaches it).
 *
 * The token itself never crosses the socket: it keys an HMAC-SHA256
 * (OpenSSL's EVP_MAC) by which each side proves it knows it.  Whoever
 * listens on the name (the holder, or once it has gone any local process
 * that bound the name) learns from a request only a nonce, the
 * certificate's hash, what is to be signed and a MAC over them; an answer
 * whose MAC is not the holder's is refused.  So the client needs no
 * judgement of who listens (SO_PEERCRED reads any user not mapped in a
 * user namespace as the overflow uid: a program that entered one refused
 * its own holder, helper-96).
 *
 * Wire format (SOCK_SEQPACKET, one request and one answer per connection):
 *   request:  magic "TSKH", version 2, op, u16 len (big-endian),
 *             nonce[32], spki_sha256[32], mac[32], data[len]
 *             mac = HMAC(token, "tlsshim key holder request" ||
 *                        the 72 bytes before mac || data)
 *   answer:   magic "TSKH", status (0 ok), 0, u16 len, mac[32], data[len]
 *             mac = HMAC(token, "tlsshim key holder answer" ||
 *                        the request's mac || the 8 bytes before mac || data)
 *             (all zero in the answer to a request whose mac is wrong)
 * ops: KH_OP_RSA_PKCS1  a DigestInfo (SHA-1/224/256/384/512, as TLS 1.2
 *                       RSA signatures have): the holder signs its digest
 *                       with PKCS#1 v1.5 and refuses any other data
 *      KH_OP_RSA_PSS    raw RSA of an encoded PSS block (RSA_size bytes);
 *                       the holder checks it is one (no decryption oracle)
 *      KH_OP_ECDSA      ECDSA of a digest; the answer is DER
 * No decryption is ever offered: key_holder rules leave out TLS 1.2 RSA
 * key exchange (ctx.c).
 */
#ifndef TLSSHIM_POLICY_KEYHOLDER_H
#define TLSSHIM_POLICY_KEYHOLDER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <openssl/ssl.h>

#define KH_ENV "TLSSHIM_KEY_HOLDER"
#define KH_MAGIC "TSKH"
#define KH_VERSION 2
#define KH_TOKEN_LEN 32
#define KH_HASH_LEN 32
#define KH_NONCE_LEN 32
#define KH_MAC_LEN 32           /* HMAC-SHA256 */
#define KH_REQ_MAC_OFF (4 + 1 + 1 + 2 + KH_NONCE_LEN + KH_HASH_LEN)
#define KH_HDR_LEN (KH_REQ_MAC_OFF + KH_MAC_LEN)
#define KH_ANS_MAC_OFF 8
#define KH_ANS_HDR_LEN (KH_ANS_MAC_OFF + KH_MAC_LEN)
#define KH_LABEL_REQ "tlsshim key holder request"
#define KH_LABEL_ANS "tlsshim key holder answer"
#define KH_MAX_DATA 1024        /* RSA up to 8192 bits */
#define KH_NAME_MAX 100

enum kh_op { KH_OP_RSA_PKCS1 = 1, KH_OP_RSA_PSS = 2, KH_OP_ECDSA = 3 };
enum kh_status { KH_OK = 0, KH_ERR_AUTH = 1, KH_ERR_NOKEY = 2, KH_ERR_BAD = 3, KH_ERR_SIGN = 4 };

/* The calls the client side makes: libc's by default; the shim gives
 * its real (not interposed) functions, and its logger. */
struct keyholder_io {
	int (*socket)(int, int, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*recv)(int, void *, size_t, int);
	int (*close)(int);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	void (*log_error)(const char *msg);
	long (*syscall)(long, ...);     /* readlinkat of /proc/self/ns/user */
	/* The shim makes the connection one of its own descriptors (high,
	 * out of the program's close, closefrom and dup2: shim/own.c):
	 * socket and close above are then its own, and lost(fd) says that
	 * the program's dup2 took the number meanwhile.  NULL: never. */
	bool (*lost)(int fd);
};
void keyholder_set_io(const struct keyholder_io *io);

/* SHA-256 of the DER SubjectPublicKeyInfo of x: how a key is named. */
bool keyholder_spki_hash(X509 *x, unsigned char out[KH_HASH_LEN]);

/* Install into ctx, for its current certificate, a key whose private
 * operations go to the holder named in TLSSHIM_KEY_HOLDER.  The key
 * file is not opened.  false: why says why (no holder, key type). */
bool keyholder_use_key(SSL_CTX *ctx, char *why, size_t whylen);

/* Set by the launcher (and so by the holder it forks) before it loads
 * the policy: key_holder rules then load their keys as other rules do.
 * Everywhere else (the library) they go to the holder. */
extern bool keyholder_local_keys;

/* mac = HMAC-SHA256 keyed by token of label || a || b || c (b, c may be
 * NULL); hmac is an EVP_MAC of "HMAC".  false: it could not be made. */
bool keyholder_mac(EVP_MAC *hmac, const unsigned char token[KH_TOKEN_LEN], const char *label,
		   const unsigned char *a, size_t alen, const unsigned char *b, size_t blen,
		   const unsigned char *c, size_t clen, unsigned char mac[KH_MAC_LEN]);

/* Parse "NAME:TOKENHEX"; false when malformed. */
bool keyholder_parse_env(const char *v, char name[KH_NAME_MAX + 1], unsigned char token[KH_TOKEN_LEN]);

#endif
