/* core/session.h — what the shim keeps per session, next to the engine
 * (core/tls.h): the program's fds of the session, the process that owns
 * it, holding it across a hand-over to a pump or a fork, the O_NONBLOCK
 * cache, the count of ciphertext reads.  The engine's API itself knows
 * none of this. */
#ifndef TLSSHIM_CORE_SESSION_H
#define TLSSHIM_CORE_SESSION_H

#include <stdbool.h>
#include <sys/types.h>

struct tls_conn;

/* The socket's O_NONBLOCK as last seen by the shim: -1 unknown, 0, 1. */
int tls_conn_nonblock(struct tls_conn *c);
void tls_conn_set_nonblock(struct tls_conn *c, int nb);
/* The socket's SO_RCVTIMEO (snd false) or SO_SNDTIMEO in ms as last
 * read by the shim: -1 none, TLS_TIMEO_UNKNOWN until read, and again
 * after any SOL_SOCKET setsockopt on one of the session's fds
 * (tls_conn_forget_sock_timeout).  *gen is the copy's generation: a
 * value read from the socket is noted (tls_conn_note_sock_timeout) only
 * if no forget came since *gen was read, so that a wait which read "none"
 * before another thread's setsockopt never notes it after that
 * setsockopt's forget (the read would wait for ever); false: read again. */
#define TLS_TIMEO_UNKNOWN (-2)
int tls_conn_sock_timeout(const struct tls_conn *c, bool snd, unsigned *gen);
bool tls_conn_note_sock_timeout(struct tls_conn *c, bool snd, unsigned gen, int ms);
void tls_conn_forget_sock_timeout(struct tls_conn *c);
void tls_conn_init_nonblock(struct tls_conn *c, int nb);
/* Counts reads of ciphertext from the socket: an edge-triggered waiter is
 * told of buffered plaintext again only after new bytes arrived. */
unsigned long tls_conn_rx_generation(const struct tls_conn *c);
/* Duplicates (dup, dup2, fcntl F_DUPFD) share one session.  The engine
 * does its I/O on one of the program's fds; when that one closes, another
 * takes its place.  tls_conn_fd_remove returns how many remain: close_notify
 * belongs to the last close. */
/* -1: no memory; -2: the session moved to a pump meanwhile (fd is a copy
 * of a socket that is the pump's now: the caller must re-point it). */
int tls_conn_fd_add(struct tls_conn *c, int fd);
int tls_conn_fd_remove(struct tls_conn *c, int fd);

/* After the last fd was removed and the session ended: the engine lets
 * go of the socket (it is about to be closed; its number may be reused),
 * and any later call fails (TLS_FAIL_GONE). */
void tls_conn_detach_fd(struct tls_conn *c);

/* The program fds of the session (at most max of them); returns how many. */
int tls_conn_fds(struct tls_conn *c, int *out, int max);
/* The same under tls_conn_hold. */
int tls_conn_fds_locked(struct tls_conn *c, int *out, int max);
/* The session now belongs to process pid (the pump, or the survivor of
 * daemon()). */
void tls_conn_set_owner(struct tls_conn *c, pid_t pid);
pid_t tls_conn_owner(struct tls_conn *c);
/* The process that made the session (accepted, connected or adopted the
 * socket): not a fork child that inherited it. */
pid_t tls_conn_made_by(const struct tls_conn *c);
void tls_conn_set_made_by(struct tls_conn *c, pid_t pid);
/* Hold the connection across a hand-over to a pump (no thread of the
 * program may use it meanwhile); the pump re-initialises its copy.
 * false: this thread holds it already (nothing taken). */
bool tls_conn_hold(struct tls_conn *c);
bool tls_conn_hold_timed(struct tls_conn *c, int ms);
void tls_conn_release(struct tls_conn *c);
/* In a pump, right after its fork: the connection's lock made anew, no
 * session cache, an empty error queue (see session.c). */
void tls_conn_reinit_after_fork(struct tls_conn *c);
/* Under the lock, before forking a pump for c: the pump is made by _Fork
 * in a process whose other threads may hold the allocator's locks (and
 * AddressSanitizer's), which stay held in the pump for ever; so OpenSSL's
 * record buffers and our out-buffer are made now and kept for the
 * session's life, and the calling thread's random generators are made.
 * false: some buffers could not be (the pump may allocate).
 * pump false: undo it (the pump could not be started). */
bool tls_conn_prepare_pump(struct tls_conn *c, bool pump);
/* fork prepare (under the registry lock): hold c once, however many fds
 * name it.  false: already held. */
bool tls_conn_fork_hold(struct tls_conn *c);
void tls_conn_fork_release(struct tls_conn *c, bool child);
/* Under tls_conn_hold: the session moved to a pump; every later call
 * fails with TLS_FAIL_MOVED, and the shim then looks the fd up again. */
void tls_conn_moved_locked(struct tls_conn *c);
bool tls_conn_moved(const struct tls_conn *c);

#endif
