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
	SSL_CTX *ctx;              /* the rule's context; outlives every connection */
	const char *label;         /* the rule's name, for logs; outlives them too */
	bool verify_name;          /* client: check the server's name (else: warn) */
	bool allow_truncation;     /* a FIN without close_notify is a clean end */
	int handshake_timeout_ms;
};

/* The current process (set at start and in the child after fork).  A
 * session belongs to the first process that uses it: after fork, two
 * processes encrypting with one session would repeat AES-GCM nonces.
 * Any use from another process fails (TLS_FAIL_FOREIGN) and its close
 * sends nothing. */
void tls_set_process(pid_t pid);

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
/* Mark the handshake failed from outside (timeout). */
void tls_conn_fail(struct tls_conn *c, enum tls_fail why, const char *msg);

/* Read plaintext: >0, 0 at the peer's close_notify (or, with
 * allow_truncation, at a bare FIN), TLS_WANT_*, TLS_ERR.  As much as is
 * there, across records, without waiting: a count below len means that
 * nothing more could be read then, as with TCP.  peek: leave the data in
 * place (MSG_PEEK), also across records. */
ssize_t tls_conn_read(struct tls_conn *c, void *buf, size_t len, bool peek);
/* Plaintext that a read would return without touching the socket. */
size_t tls_conn_pending(struct tls_conn *c);
/* Anything held inside (plaintext, or bytes of records not decrypted
 * yet, maybe half a record): worth a tls_conn_poll_read() to know. */
bool tls_conn_buffered(struct tls_conn *c);
/* FIONREAD: all the plaintext a read would return now, across records,
 * without waiting (decrypts what is there into a buffer of its own). */
size_t tls_conn_readable(struct tls_conn *c);
/* Write plaintext: >0 bytes taken (all of them or a prefix; they will
 * reach the peer), TLS_WANT_POLLOUT when the out-buffer is still full,
 * TLS_ERR. */
ssize_t tls_conn_write(struct tls_conn *c, const void *buf, size_t len);
/* Send what the out-buffer holds: 0 when empty, TLS_WANT_POLLOUT, TLS_ERR. */
int tls_conn_flush(struct tls_conn *c);
bool tls_conn_has_output(struct tls_conn *c);
/* Queue close_notify (once) and try to send it: as tls_conn_flush.
 * Sends nothing when the handshake never completed or the connection
 * failed. */
int tls_conn_close_notify(struct tls_conn *c);
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
/* The socket's O_NONBLOCK as last seen by the shim: -1 unknown, 0, 1. */
int tls_conn_nonblock(struct tls_conn *c);
void tls_conn_set_nonblock(struct tls_conn *c, int nb);
/* Counts reads of ciphertext from the socket: an edge-triggered waiter is
 * told of buffered plaintext again only after new bytes arrived. */
unsigned long tls_conn_rx_generation(const struct tls_conn *c);
/* CLOCK_MONOTONIC ms by which the handshake must finish (from the rule's
 * handshake_timeout_ms, counted from the accept for a server, from its
 * start for a client); -1 when none is due. */
long long tls_conn_handshake_deadline(const struct tls_conn *c);


/* Duplicates (dup, dup2, fcntl F_DUPFD) share one session.  The engine
 * does its I/O on one of the program's fds; when that one closes, another
 * takes its place.  tls_conn_fd_remove returns how many remain: close_notify
 * belongs to the last close. */
int tls_conn_fd_add(struct tls_conn *c, int fd);
int tls_conn_fd_remove(struct tls_conn *c, int fd);

/* After the last fd was removed and the session ended: the engine lets
 * go of the socket (it is about to be closed; its number may be reused),
 * and any later call fails (TLS_FAIL_GONE). */
void tls_conn_detach_fd(struct tls_conn *c);

/* The program fds of the session (at most max of them); returns how many. */
int tls_conn_fds(struct tls_conn *c, int *out, int max);
/* The session now belongs to process pid (the pump, or the survivor of
 * daemon()). */
void tls_conn_set_owner(struct tls_conn *c, pid_t pid);
pid_t tls_conn_owner(struct tls_conn *c);
/* Hold the connection across a hand-over to a pump (no thread of the
 * program may use it meanwhile); the pump re-initialises its copy.
 * false: this thread holds it already (nothing taken). */
bool tls_conn_hold(struct tls_conn *c);
bool tls_conn_hold_timed(struct tls_conn *c, int ms);
void tls_conn_release(struct tls_conn *c);
void tls_conn_reinit_after_fork(struct tls_conn *c);
/* fork prepare (under the registry lock): hold c once, however many fds
 * name it.  false: already held. */
bool tls_conn_fork_hold(struct tls_conn *c);
void tls_conn_fork_release(struct tls_conn *c);
/* Under tls_conn_hold: the session moved to a pump; every later call
 * fails with TLS_FAIL_MOVED, and the shim then looks the fd up again. */
void tls_conn_moved_locked(struct tls_conn *c);
bool tls_conn_moved(const struct tls_conn *c);

/* Kept for the shim's hand-over to a pump: how many of its threads wait
 * in the kernel for this connection's input (add delta, return the new
 * count), and an fd whose close tells the pump they have all gone
 * (exchange: returns the previous one, -1 for none). */
int tls_conn_waiters(struct tls_conn *c, int delta);
int tls_conn_gate(struct tls_conn *c, int fd);

int tls_conn_fd(const struct tls_conn *c);
/* The rule's name, for log lines; its handshake timeout. */
const char *tls_conn_label(const struct tls_conn *c);
int tls_conn_timeout_ms(const struct tls_conn *c);
enum tls_role tls_conn_role(const struct tls_conn *c);
const char *tls_conn_peer(const struct tls_conn *c);
enum tls_fail tls_conn_failure(const struct tls_conn *c);
int tls_conn_sys_errno(const struct tls_conn *c);
/* True exactly once per connection: the caller logs the failure. */
bool tls_conn_report_once(struct tls_conn *c);
/* The precise reason of the last failure, for logs and tests. */
const char *tls_conn_error(const struct tls_conn *c);

#endif
