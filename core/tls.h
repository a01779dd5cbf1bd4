/* core/tls.h — one TLS connection over one TCP socket (the engine).
 *
 * Modelled on libtls: a small opaque object, calls that never block and
 * return a count, TLS_WANT_POLLIN / TLS_WANT_POLLOUT, or TLS_ERR, and a
 * per-object message saying precisely why (tls_conn_error).  The caller
 * (shim/) decides whether to wait; the engine never sleeps and never holds
 * its lock while the caller waits, so one thread may read while another
 * writes the same connection.
 *
 * Ciphertext goes out through a BIO of our own that calls the real send()
 * with MSG_DONTWAIT|MSG_NOSIGNAL.  What the kernel does not take at once
 * is kept in the connection's out-buffer and sent, in order, before any
 * later record ("write semantics", docs/design.md): so tls_conn_write()
 * returning n means those n bytes will reach the peer, and the buffer
 * holds at most about one record of program data.
 */
#ifndef TLSSHIM_CORE_TLS_H
#define TLSSHIM_CORE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#define TLS_WANT_POLLIN  (-2)
#define TLS_WANT_POLLOUT (-3)
#define TLS_ERR          (-1)
/* The calling thread already holds this connection's lock: a signal
 * handler interrupted it inside the engine.  Nothing was done. */
#define TLS_REENTERED    (-4)

enum tls_role { TLS_ROLE_CLIENT, TLS_ROLE_SERVER };

/* Why a connection failed: the shim turns these into errno values. */
enum tls_fail {
	TLS_FAIL_NONE = 0,
	TLS_FAIL_HANDSHAKE,      /* verification, protocol, peer not TLS, ... */
	TLS_FAIL_TIMEOUT,        /* handshake_timeout_ms elapsed (set by caller) */
	TLS_FAIL_PROTOCOL,       /* after the handshake: bad record, alert, ... */
	TLS_FAIL_TRUNCATED,      /* FIN without close_notify */
	TLS_FAIL_SYSCALL,        /* the socket itself failed: see sys_errno */
	TLS_FAIL_CLOSED,         /* write after our close_notify */
	TLS_FAIL_FOREIGN,        /* the session belongs to another process */
	TLS_FAIL_MOVED,          /* handed to a pump: the fd now names its plaintext end */
	TLS_FAIL_GONE,           /* the last descriptor was closed */
};

struct tls_conn;

/* What the engine needs of a rule (the shim fills it from the policy). */
struct tls_opts {
	SSL_CTX *ctx;              /* the rule's context (the SSL object holds a reference) */
	const char *label;         /* the rule's name, for logs; outlives them too */
	bool verify_name;          /* client: check the server's name (else: warn) */
	bool allow_truncation;     /* a FIN without close_notify is a clean end */
	bool ktls;                 /* hand the record layer to the kernel when it can */
	int handshake_timeout_ms;
	int close_timeout_ms;      /* the lingering close's bound; 0: none (the shim's) */
	/* TLS 1.3: after this many records sent under one key, new sending
	 * keys (SSL_key_update, a KeyUpdate to the peer) before the next
	 * record; 0: never.  Not with kTLS sending, nor in TLS 1.2. */
	unsigned key_update_records;
	/* Optional: is the peer whose chain verified allowed?  Called for the
	 * leaf certificate from the verify callback, during the handshake.
	 * false: the handshake fails (the peer gets a certificate alert) and
	 * why, which names the peer, becomes the connection's error.  The
	 * engine knows nothing else of it; arg outlives every connection. */
	bool (*check_peer)(const void *arg, X509 *leaf, char *why, size_t whylen);
	const void *check_arg;
	/* (Not a field.)  A client SSL_CTX's status callback (OCSP,
	 * policy/ocsp.c) that refuses the server leaves its reason, a
	 * printable line, as the string data of an ERR_LIB_SSL /
	 * SSL_R_INVALID_STATUS_RESPONSE error; the engine makes that line
	 * the connection's error.  A server SSL_CTX's ClientHello callback
	 * that refuses the client's server name (sni_strict, policy/sni.c)
	 * leaves the name, raw ("" for none), as the data of an
	 * SSL_R_CALLBACK_FAILED error; the engine escapes it for its line. */
	/* Client: called once, at the handshake's first step (under the
	 * connection's lock), with the SSL object and the name to verify, to
	 * offer a cached session (policy/resume.c); NULL: none offered.
	 * Must not block nor take a lock that is not a leaf. */
	void (*offer_session)(SSL *ssl, const char *name);
	/* Optional: called at the handshake's steps until the SSL object has
	 * used the socket (a client's first; a server's until the first
	 * bytes of the ClientHello are read), under the connection's lock, with
	 * the context the connection was made with: the context it must use
	 * instead, with a reference for the engine, when the rule's files
	 * changed since (a reload, policy/reload.h); NULL: keep it.  The
	 * engine then makes its SSL object again from that context, so that
	 * a connection accepted before a reload is not verified, nor resumes
	 * a session, under the trust the reload replaced.  May read files;
	 * takes no lock that is not a leaf.  *refuse set (and NULL): the
	 * rule's files changed and the context for them cannot be had now;
	 * the handshake fails rather than use the old one. */
	SSL_CTX *(*fresh_ctx)(const void *arg, SSL_CTX *have, bool *refuse);
	const void *fresh_arg;
	/* Server: called once when the handshake completes (under the
	 * connection's lock), with the SSL object and the socket; the bytes
	 * it writes to buf (at most cap; it returns the count, 0 for none)
	 * come first in the plaintext the program reads (PROXY protocol v2,
	 * shim/proxyv2.c).  Must not block nor take a lock. */
	size_t (*preamble)(SSL *ssl, int fd, unsigned char *buf, size_t cap);
};

/* peer_name: client only, the name to send as SNI and verify (a DNS name
 * or an IP literal, checked against IP SANs).  peer_desc: "addr:port" for
 * logs.  Returns NULL (and logs) when OpenSSL cannot make the object. */
struct tls_conn *tls_conn_new(int fd, const struct tls_opts *opts, enum tls_role role,
			      const char *peer_name, const char *peer_desc);
void tls_conn_ref(struct tls_conn *c);
/* A reference unless c is being freed (its count is 0): for lock-free
 * lookups (core/conntab.c).  Objects are type-stable (never returned to
 * the allocator), so c may be a stale pointer. */
bool tls_conn_tryref(struct tls_conn *c);
void tls_conn_unref(struct tls_conn *c);
/* The calling thread holds c's lock (it is in a signal handler that
 * interrupted the engine on c). */
bool tls_conn_reentered(struct tls_conn *c);

/* Drive the handshake: 0 when done, TLS_WANT_*, TLS_ERR. */
int tls_conn_handshake(struct tls_conn *c);
bool tls_conn_handshake_done(const struct tls_conn *c);
bool tls_conn_handshake_started(const struct tls_conn *c);
/* Mark the connection failed from outside. */
void tls_conn_fail(struct tls_conn *c, enum tls_fail why, const char *msg);
/* The handshake did not finish within handshake_timeout_ms. */
void tls_conn_timed_out(struct tls_conn *c);

/* Read plaintext: >0, 0 at the peer's close_notify (or, with
 * allow_truncation, at a bare FIN), TLS_WANT_*, TLS_ERR.  As much as is
 * there, across records, without waiting: a count below len means that
 * nothing more could be read then, as with TCP.  peek: leave the data in
 * place (MSG_PEEK), also across records, and with buf NULL only count
 * (at most len). */
ssize_t tls_conn_read(struct tls_conn *c, void *buf, size_t len, bool peek);
/* Plaintext that a read would return without touching the socket. */
size_t tls_conn_pending(struct tls_conn *c);
/* Anything held inside (plaintext, the peer's close_notify, or bytes of
 * records not decrypted yet, maybe half a record): worth a
 * tls_conn_poll_read() to know. */
bool tls_conn_buffered(struct tls_conn *c);
/* Blocking reads: wait for the kernel before reading (a hint; tls.c).
 * True also says the out-buffer was empty.  From then on the connection
 * keeps its record buffers between records ("hot"); *went_hot says it
 * just became so: the caller has it watched (tls_conn_idle_check). */
bool tls_conn_wait_first(struct tls_conn *c, bool *went_hot);
/* A hot connection's watcher, every TLS_IDLE_MS: false when it is no
 * longer hot, or was idle (no read or write) since the last look, which
 * frees its record buffers (those that hold no data) and makes it free
 * them whenever they are empty again, as before it went hot.  *seen: the
 * watcher's count of reads and writes.  Never waits for c's lock. */
#define TLS_IDLE_MS 200
bool tls_conn_idle_check(struct tls_conn *c, unsigned *seen);
unsigned tls_conn_io_count(struct tls_conn *c);
bool tls_conn_bufs_hot(const struct tls_conn *c);
/* Not hot any more (its close; never_again: no watcher can take it,
 * and it never goes hot again: no lock taken at every read to ask). */
void tls_conn_idle(struct tls_conn *c, bool never_again);
/* In a fork's child, the only thread: not hot (no watcher here). */
void tls_conn_fork_cool(struct tls_conn *c);
void tls_conn_waited(struct tls_conn *c);
/* The peer has ended its side: its close_notify, or its FIN, came in.  A
 * conforming peer sends nothing after that, so a close cannot meet late
 * records (no lingering close needed). */
bool tls_conn_peer_ended(struct tls_conn *c);
/* Parking (epoll instances with many idle connections, shim/epoll.c):
 * tls_conn_park() marks c parked and returns true when it is idle: the
 * handshake done, nothing held inside (no plaintext, close_notify or
 * record bytes), nothing waiting to go out, no end of stream seen.  Until
 * unparked, every change that leaves it not idle (under its lock: a read,
 * a write, a failure) unparks it and increments tls_park_activity(), so
 * that whoever parked it looks at it again.  tls_conn_unpark() clears
 * the mark; with `count`, it also counts an activity. */
bool tls_conn_park(struct tls_conn *c);
void tls_conn_unpark(struct tls_conn *c, bool count);
unsigned long tls_park_activity(void);
/* FIONREAD: the plaintext a read would return now, across records,
 * without waiting (decrypts what is there into a buffer of its own), up
 * to about 1 MiB (more is still there for the reads; never 0 while
 * something can be read). */
size_t tls_conn_readable(struct tls_conn *c);
/* The same, but taking in at most about `more` bytes of plain text beyond
 * what is staged already, and not the 1 MiB bound (shutdown's SHUT_RD:
 * what has arrived, never what a peer keeps sending meanwhile).  The
 * staged count. */
size_t tls_conn_stage_more(struct tls_conn *c, size_t more);
/* Write plaintext: >0 bytes taken (all of them or a prefix; they will
 * reach the peer), TLS_WANT_POLLOUT when the out-buffer is still full,
 * TLS_ERR. */
ssize_t tls_conn_write(struct tls_conn *c, const void *buf, size_t len);
/* The same; *left: ciphertext stays in the out-buffer (as
 * tls_conn_has_output would say right after, without a second lock). */
ssize_t tls_conn_write_ex(struct tls_conn *c, const void *buf, size_t len, bool *left);
/* Kernel TLS (opts.ktls): the kernel encrypts what this connection
 * sends (the handshake is done and the kernel took the keys). */
bool tls_conn_ktls_send(struct tls_conn *c);
/* The rule asked for kernel TLS. */
bool tls_conn_opts_ktls(const struct tls_conn *c);
/* sendfile() of count bytes of `in` (from *off, or its file position)
 * straight into the socket, which the kernel encrypts: zero-copy.  Only
 * with kTLS sending; the socket must be non-blocking (the call runs under
 * the connection's lock).  Returns bytes (0: end of the file),
 * TLS_WANT_POLLOUT, TLS_ERR (the connection failed), TLS_SYSERR (*err:
 * the kernel's errno, the connection unchanged), TLS_NOT_KTLS (no kTLS
 * sending: the caller copies the file through tls_conn_write). */
#define TLS_NOT_KTLS (-5)
#define TLS_SYSERR   (-6)
ssize_t tls_conn_sendfile(struct tls_conn *c, int in, off64_t *off, size_t count, int *err);
/* Send what the out-buffer holds: 0 when empty, TLS_WANT_POLLOUT, TLS_ERR. */
int tls_conn_flush(struct tls_conn *c);
/* The ciphertext bytes the engine holds that the kernel has not taken
 * (SIOCOUTQ). */
size_t tls_conn_output_len(struct tls_conn *c);
bool tls_conn_has_output(struct tls_conn *c);
/* Queue close_notify (once) and try to send it: as tls_conn_flush.
 * Sends nothing when the handshake never completed or the connection
 * failed. */
int tls_conn_close_notify(struct tls_conn *c);
/* The same, for a caller that sends the socket's FIN right after it
 * (shutdown(SHUT_WR), or the close of the socket's last descriptor): the
 * record is sent with MSG_MORE, and the kernel sends it and the FIN in one
 * segment.  A caller whose FIN may not follow must not use it: the record
 * would wait in the kernel until something else is sent. */
int tls_conn_close_notify_fin(struct tls_conn *c);
/* At exit: take in unread records, then close_notify, one attempt, never
 * waiting more than lock_ms for c's lock (TLS_REENTERED: skipped). */
int tls_conn_finish(struct tls_conn *c, int lock_ms);
/* After shutdown(SHUT_RD) by the program: reads return 0. */
void tls_conn_shut_read(struct tls_conn *c);

/* Readiness (poll/select): would a read return at once, without waiting?
 * Pulls what the kernel holds into OpenSSL and drives a pending handshake
 * (never blocks).  1: yes (data, end of file, or an error to report);
 * 0: no — a half record, or the handshake still running. */
int tls_conn_poll_read(struct tls_conn *c);
/* Would a write take data at once, given the kernel has room?  Drives a
 * pending handshake and flushes the out-buffer.  1 yes (or an error to
 * report), 0 no. */
int tls_conn_poll_write(struct tls_conn *c);
/* The kernel events the engine itself needs before it can progress:
 * POLLIN while a handshake waits for the peer, POLLOUT while ciphertext
 * waits to be sent or a client's TCP connect is in progress. */
short tls_conn_kernel_events(struct tls_conn *c);
bool tls_conn_failed(const struct tls_conn *c);
/* CLOCK_MONOTONIC ms by which the handshake must finish (from the rule's
 * handshake_timeout_ms, counted from the accept for a server, from its
 * start for a client); -1 when none is due. */
long long tls_conn_handshake_deadline(const struct tls_conn *c);

int tls_conn_fd(const struct tls_conn *c);
/* After this process closed a descriptor of c's socket other than its
 * last: the record lock claim() took, taken again (POSIX dropped it). */
void tls_conn_relock(struct tls_conn *c);
/* That lock let go (take false) or taken (true): a pump's hand-over; the
 * caller holds c's lock, or is the pump. */
void tls_conn_sock_lock(struct tls_conn *c, bool take);
/* The pump's take of that lock, whether or not claim() took it; false:
 * another process holds it, and the session is failed (TLS_FAIL_FOREIGN). */
bool tls_conn_pump_lock(struct tls_conn *c);
/* The rule's name, for log lines; its handshake and close timeouts. */
const char *tls_conn_label(const struct tls_conn *c);
int tls_conn_timeout_ms(const struct tls_conn *c);
int tls_conn_close_timeout_ms(const struct tls_conn *c);
enum tls_role tls_conn_role(const struct tls_conn *c);
const char *tls_conn_peer(const struct tls_conn *c);
enum tls_fail tls_conn_failure(const struct tls_conn *c);
/* The handshake resumed an earlier session. */
bool tls_conn_resumed(const struct tls_conn *c);
int tls_conn_sys_errno(const struct tls_conn *c);
/* True exactly once per connection: the caller logs the failure. */
bool tls_conn_report_once(struct tls_conn *c);
/* A call returns the peer's reset: false the first time, true after. */
bool tls_conn_reset_taken(struct tls_conn *c);
/* The precise reason of the last failure, for logs and tests. */
const char *tls_conn_error(const struct tls_conn *c);

#include "core/session.h"

#endif
