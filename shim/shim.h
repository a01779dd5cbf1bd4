/* shim/shim.h — what the interposed entry points share.
 *
 * shim/ is the only layer that knows about errno and the program: the
 * core returns counts and TLS_WANT_* / TLS_ERR, and the functions here
 * wait (blocking sockets), or say EAGAIN (non-blocking ones), and turn
 * failures into the errno a TCP program expects.
 *
 * errno is set once, at the exit of an exported wrapper.  Internal
 * functions never assign it: they return a count (>= 0) or a negative
 * errno value (-EAGAIN, -ECONNRESET, ...), which the wrapper turns into
 * -1 and errno (SHIM_RET).  The C library's own calls set errno as they
 * do; an internal function that gets -1 from one returns -errno.  On a
 * success after internal work, the wrapper leaves errno as the program
 * had it.
 */
#ifndef TLSSHIM_SHIM_H
#define TLSSHIM_SHIM_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <stdint.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "core/conntab.h"
#include "core/lock.h"
#include "core/unwind.h"
#include "core/tls.h"
#include "policy/policy.h"
#include "shim/addr.h"
#include "shim/real.h"
#include "shim/verdict.h"

/* The loaded policy; NULL while inactive.  Immutable once set. */
extern const struct policy *shim_policy;
/* Stops the process (78) when the policy has TLS rules: the Go library
 * at path is about to be loaded with RTLD_DEEPBIND (shim/init.c). */
void shim_refuse_go_library(const char *path);
/* Does the policy have TLS rules?  Loads it first if it is not yet
 * (shim/init.c). */
bool shim_policy_has_tls(void);
/* dlopen calls so far (shim/dlsym.c counts, shim/init.c reads). */
extern unsigned long shim_dlopen_calls;
/* The RTLD_DEEPBIND rebinding's lock, taken and released around fork()
 * (shim/dlsym.c). */
void shim_dlsym_fork_lock(void);
void shim_dlsym_fork_unlock(void);

/* Start-up (init.c).  The library initialises itself on the first call
 * that needs the policy, from whatever thread and however early (another
 * library's constructor), not only from its own constructor: a call that
 * arrives first is never passed through unchecked.  While one thread
 * initialises, that thread's own calls (reading the policy and the
 * certificates) go straight to the C library.  (Loaded with C11's
 * atomic_load_explicit: clang, which builds the fuzz targets, takes no
 * __atomic_load_n on an _Atomic object; GCC emits the same code.) */
extern _Atomic bool shim_ready;
void shim_init_slow(void);
static inline void shim_ensure_init(void)
{
	if (!__builtin_expect(atomic_load_explicit(&shim_ready, memory_order_acquire), 1))
		shim_init_slow();
}
bool shim_initialising(void);
/* How deep this thread is in start-up (init.c; shim_initialising also
 * asks that it is this task's). */
extern __thread int shim_init_depth_ __attribute__((tls_model("initial-exec")));
/* Does the loaded object at BASE, whose dynamic section is LD, define the
 * function NAME (dlsym.c: its dynamic symbol table, in memory, no lock,
 * no allocation)? */
#include <link.h>
bool shim_object_defines(ElfW(Addr) base, const ElfW(Dyn) *ld, const char *name);
/* The link map of the loaded object that holds addr, or NULL (dlsym.c:
 * no symbol lookup, no lock). */
struct link_map *shim_map_of(const void *addr);
/* exit() has begun: writes on TLS fds fail with EPIPE, no SIGPIPE. */
extern _Atomic bool shim_exiting;

/* A wrapper's exit: a negative errno value becomes -1 and errno. */
#define SHIM_RET(expr) do {                                  \
		ssize_t ret_ = (expr);                        \
		if (ret_ < 0) {                               \
			errno = (int)-ret_;                   \
			return -1;                            \
		}                                             \
		return ret_;                                  \
	} while (0)

/* The same for a wrapper whose own work may touch errno on its way to a
 * success: errno stays as the program had it then. */
#define SHIM_RET_KEEP(expr) do {                             \
		int keep_ = errno;                            \
		ssize_t ret_ = (expr);                        \
		if (ret_ < 0) {                               \
			errno = (int)-ret_;                   \
			return -1;                            \
		}                                             \
		errno = keep_;                                \
		return ret_;                                  \
	} while (0)

/* MSG_OOB on a pump's end (tlsio.c): refused like the TLS fd's, logged;
 * 0 when fd is no pump's end.  SHIM_OOB_PUMPED: a wrapper with flags. */
int shim_pumped_oob(int fd);
#define SHIM_OOB_PUMPED(fd, flags) do {                             \
		if (__builtin_expect((flags) & MSG_OOB, 0) && shim_pumped_oob(fd) < 0) \
			SHIM_RET(-EOPNOTSUPP);                \
	} while (0)

/* ---- routing a call on an fd (classify.c) -----------------------------
 * PASS: go straight to the C library.  TLS: *cp holds a reference to the
 * connection.  Negative: refuse with that errno (-EBADF on a closing or
 * shim-owned fd, -ECONNRESET on a refused socket, ...).  An fd the shim
 * has not seen is classified first: "unknown" never means "plain". */
enum shim_route { ROUTE_PASS = 0, ROUTE_TLS = 1 };
/* The slow path: 0 (ROUTE_PASS), a negative errno, or the connection
 * (referenced) as a number.  One return value, so that no
 * caller takes the address of a local: a wrapper with an address-taken
 * local cannot end its pass-through path in a tail call (below). */
intptr_t shim_route_conn(int fd, uintptr_t v);
/* Its answer is an errno (the top 4095 values, as the kernel's): any other
 * non-zero value is a pointer, whatever its top bits hold. */
#define SHIM_ROUTE_ERR(r) ((uintptr_t)(r) >= (uintptr_t)-4095)
/* The same answer; a word naming a connection, once start-up is over and
 * outside it on this thread, is referenced here without a call (what
 * shim_route_conn does for it: about 90 instructions a call before, in
 * three calls).  Anything else, or a word that changed meanwhile: the
 * slow path decides. */
static inline intptr_t shim_route_any(int fd, uintptr_t v)
{
	if (__builtin_expect(conntab_is_tls(v) && shim_init_depth_ == 0 &&
			     atomic_load_explicit(&shim_ready, memory_order_acquire), 1)) {
		struct tls_conn *c = conntab_ref_named(fd, v);

		if (c)
			return (intptr_t)c;
	}
	return shim_route_conn(fd, v);
}
static inline int shim_route(int fd, struct tls_conn **cp)
{
	uintptr_t v = conntab_load(fd);
	intptr_t r;

	if (__builtin_expect(conntab_is_pass(v), 1))
		return ROUTE_PASS;
	r = shim_route_any(fd, v);
	*cp = r != ROUTE_PASS && !SHIM_ROUTE_ERR(r) ? (struct tls_conn *)r : NULL;
	return r == ROUTE_PASS ? ROUTE_PASS : SHIM_ROUTE_ERR(r) ? (int)r : ROUTE_TLS;
}

/* The TLS call a thread is making (SHIM_DISPATCH, connect's handshake):
 * the connection it holds a reference on, and the program's cancellation
 * state.  The call runs with cancellation disabled, except in its
 * blocking wait for that connection, which is a cancellation point as a
 * blocking socket call is (shim/wait.c).  A call with no reference to
 * give (c NULL: the close of a TLS fd) is never cancelled; nor is one a
 * signal handler makes inside another's wait. */
struct shim_call {
	struct tls_conn *c;
	int cancel;
};
extern __thread struct shim_call shim_call_now __attribute__((tls_model("initial-exec")));

/* A call's record on glibc's first cleanup chain (core/unwind.h): when
 * the call's frames are left without returning (the thread cancelled or
 * ended in its wait, or a handler's siglongjmp out of it), the thread's
 * call state, its xlock_nocancel_ and its cancellation state become what
 * they were before the call, and the call's reference on c goes.  The
 * caller holds that reference from before shim_call_begin until after
 * shim_call_end.  It lives in the caller's frame: the frame is what glibc
 * compares with a jump's target. */
struct shim_call_frame {
	struct _pthread_cleanup_buffer b;
	struct shim_call prev;
	struct tls_conn *c;
	unsigned nocancel;              /* xlock_nocancel_ before the call */
	int cancel;                     /* the program's state; -1 until known */
};
void shim_call_unwound(void *frame);

static inline void shim_call_begin(struct shim_call_frame *f, struct tls_conn *c)
{
	f->prev = shim_call_now;
	f->c = c;
	f->nocancel = xlock_nocancel_;
	f->cancel = -1;
	_pthread_cleanup_push(&f->b, shim_call_unwound, f);
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &f->cancel);
	atomic_signal_fence(memory_order_seq_cst);
	xlock_nocancel_++;              /* after the disable (core/lock.h) */
	shim_call_now.c = c;
	shim_call_now.cancel = f->cancel;
}

static inline void shim_call_end(struct shim_call_frame *f)
{
	shim_call_now = f->prev;
	xlock_nocancel_--;              /* before the restore (core/lock.h) */
	atomic_signal_fence(memory_order_seq_cst);
	pthread_setcancelstate(f->cancel, NULL);
	_pthread_cleanup_pop(&f->b, 0);
}

/* Run PLAIN for a pass-through fd, TLS_EXPR with `c` referencing the
 * connection otherwise (returning its value).  A call that finds its
 * session handed to a pump meanwhile starts again: the fd now names the
 * pump's plaintext end.  The pass-through path is one load, one test and
 * a tail jump to the C library (no frame, no errno access, no second
 * return after the system call).  Only the TLS branch takes an address
 * (its call's frame record): GCC allows the tail call where no such
 * variable is live. */
#define SHIM_DISPATCH(fd, PLAIN, TLS_EXPR) do {                        \
		uintptr_t v_ = conntab_load(fd);                       \
		int saved_errno_;                                      \
		if (__builtin_expect(conntab_is_pass(v_), 1))          \
			return PLAIN;                                  \
		saved_errno_ = errno;                                  \
		for (;;) {                                             \
			intptr_t rt_ = shim_route_any((fd), v_);       \
			struct tls_conn *c;                            \
			ssize_t r_;                                    \
			if (rt_ == ROUTE_PASS)                         \
				return PLAIN;                          \
			if (SHIM_ROUTE_ERR(rt_))                       \
				SHIM_RET(rt_);                         \
			c = (struct tls_conn *)rt_;                    \
			{                                              \
				struct shim_call_frame f_;             \
				shim_call_begin(&f_, c);               \
				r_ = (TLS_EXPR);                       \
				shim_call_end(&f_);                    \
			}                                              \
			if (r_ < 0 && tls_conn_moved(c)) {            \
				tls_conn_unref(c);                     \
				v_ = conntab_load(fd);                 \
				continue;                              \
			}                                              \
			tls_conn_unref(c);                             \
			if (r_ >= 0)                                   \
				errno = saved_errno_;                  \
			SHIM_RET(r_);                                  \
		}                                                      \
	} while (0)

/* ---- classification (classify.c): the one rule resolver -------------- */
/* A new engine object for fd as the verdict says (NULL when OpenSSL
 * cannot make one; logged). */
struct tls_conn *shim_conn_new(int fd, const struct shim_verdict *v);
/* Reload changed certificate files (at most once a second); no lock held. */
void shim_reload_check(void);
/* Which rule applies to a connection accepted on fd (by local address). */
/* peer: the address accept() returned (pl 0: unknown, asked here). */
bool shim_resolve_accepted(int fd, const struct sockaddr *peer, socklen_t pl, struct shim_verdict *v, int *err);
/* ... to connecting fd to dst (by the address the kernel will really
 * connect to: wildcards mean loopback). */
/* *err (when not NULL): 0, or the errno of a question about fd the
 * kernel did not answer (then false although a tls or deny rule names
 * dst: the caller refuses the connection; with err NULL, true then).
 * SHIM_ERR_FOREIGN (both functions): fd is an internet stream socket of
 * a protocol that is not TCP (SCTP...) and a tls or deny rule names it:
 * false, v holds that rule, and the caller refuses the connection. */
#define SHIM_ERR_FOREIGN (-1)
/* What the error lines say of such a socket. */
#define SHIM_FOREIGN_NOT_TCP "not TCP (SCTP, DCCP, or one this library does not know)"
/* sendto/sendmsg with a destination, sctp_connectx, recvfrom/recvmsg
 * with a source: peer, which fd gets or talks to without connect().  0,
 * or a negative errno (logged) where a tls or deny rule names peer and
 * fd is not TCP, or cannot be told (connect.c). */
int shim_peer_check(int fd, const struct sockaddr *peer, socklen_t len, const char *call);
/* getsockopt/setsockopt at level SOL_SCTP (132), before the call: the
 * sctp_connectx() options' addresses checked (0, or the negative errno
 * that refuses the call). */
int shim_sctp_sockopt(int fd, int opt, const void *val, socklen_t len);
/* Whether req is SECCOMP_IOCTL_NOTIF_ADDFD, of any struct size; its
 * ioctl(fd, req, arg), a fd not found plain refused (-EPERM, logged): the
 * answer, or a negative errno (shim/syscall.c). */
bool shim_is_addfd(unsigned long req);
int shim_addfd(int fd, unsigned long req, void *arg);
/* Raw and packet sockets that send TCP segments of their own
 * (shim/sock.c): refused while the policy has TLS rules, unless it says
 * raw_sockets = "allow" (shim_raw_guarded).  socket()'s check: -EPERM,
 * logged, else 0; an fd from elsewhere: its kind in words (in buf), or
 * NULL. */
bool shim_raw_guarded(void);
int shim_raw_socket_refused(int domain, int type, int proto);
const char *shim_raw_fd_refused(int fd, int type, char *buf, size_t n);
/* Whether req is SIOCKCMATTACH or NBD_SET_SOCK; its ioctl(fd, req, arg),
 * a socket not found plain refused (-EPERM, logged): the answer, or a
 * negative errno (shim/syscall.c). */
bool shim_is_attach(unsigned long req);
int shim_attach(int fd, unsigned long req, void *arg);
/* An option refused on a TLS fd (shim/sock.c): -EOPNOTSUPP, logged; else 0. */
int shim_sockopt_refused(int fd, const char *what);
bool shim_resolve_connect(int fd, const struct sockaddr *dst, socklen_t len,
			  struct shim_verdict *v, int *err);
/* shim_resolve_connect() after its rule matched (v), with the socket's
 * kind the kernel told (tcp: shim_sock_tcp's answer), the same answer;
 * *err set by the caller (0). */
bool shim_resolve_kind(int tcp, struct shim_verdict *v, int *err);
/* Classify an fd the shim has not seen (inherited, passed with SCM_RIGHTS,
 * made by a path no wrapper sees) and record the answer.  Returns the new
 * word (never CT_UNSEEN). */
uintptr_t shim_classify(int fd, bool at_start);
/* A TLS session now sits on fd (accepted, connected, duplicated,
 * adopted): on 0, 1 or 2 it goes to a pump, because stdio writes there
 * through the C library's internal calls, which no wrapper sees; and
 * anywhere while a child that shares our memory may run. */
void shim_tls_placed(int fd, struct tls_conn *c);
/* proxy_protocol = "v2": the header ahead of the plaintext (proxyv2.c);
 * a tls_opts.preamble. */
size_t shim_proxy_v2(SSL *ssl, int fd, unsigned char *buf, size_t cap);

/* Plaintext in, records out: the blocking/non-blocking logic. */
ssize_t shim_tls_recv(struct tls_conn *c, void *buf, size_t len, int flags);
ssize_t shim_tls_send(struct tls_conn *c, const void *buf, size_t len, int flags);
/* The kernel's checks of an iovec array, before anything moves: more
 * than IOV_MAX buffers (or a negative count) is `err` (EINVAL from
 * readv/writev, EMSGSIZE from recvmsg/sendmsg), a buffer longer than
 * SSIZE_MAX EINVAL.  0 or the negative errno. */
int shim_iov_check(const struct iovec *iov, size_t cnt, int err);
ssize_t shim_tls_recv_iov(struct tls_conn *c, const struct iovec *iov, int cnt, int flags);
/* recvmsg(MSG_ERRQUEUE) on a TLS fd: the kernel's control messages, no
 * byte of a packet (shim/msg.c); 0 or -errno. */
ssize_t shim_tls_errqueue(struct tls_conn *c, struct msghdr *m, int flags);
ssize_t shim_tls_send_iov(struct tls_conn *c, const struct iovec *iov, int cnt, int flags);
/* The negative errno of a call that failed on c (logged once). */
int shim_tls_error(struct tls_conn *c, bool writing, int flags);
/* A client whose handshake failed: connect() and SO_ERROR say ECONNREFUSED. */
bool shim_tls_refused(struct tls_conn *c);
/* Does this call not wait?  MSG_DONTWAIT, or the socket's O_NONBLOCK
 * (cached per connection). */
bool shim_tls_nonblocking(struct tls_conn *c, int flags);
/* Blocking handshake with the rule's timeout; 0 or a negative errno. */
int shim_tls_handshake(struct tls_conn *c, bool nonblock);
/* close() of a TLS fd (the word must be TLS; -EAGAIN when it changed
 * meanwhile); shutdown().  0 or a negative errno. */
int shim_tls_close(int fd);
void shim_tls_close_begin(int fd, struct tls_conn *c);
void shim_tls_close_end(int fd, struct tls_conn *c);
/* After the library closed a copy of a socket that is in no session's
 * list (st: its fstat): the record lock of its sessions, taken again. */
struct stat;
void shim_relock_socket(const struct stat *st);
int shim_tls_shutdown(struct tls_conn *c, int how);
/* FIONREAD on a TLS fd. */
int shim_tls_readable(struct tls_conn *c);
/* Send FIN and keep absorbing late records in the background (linger.c),
 * for at most ms milliseconds (> 0: the rule's close_timeout_ms).
 * record_reads: the socket's reads may stop at a record's end (kernel TLS
 * may be on), so a short read does not tell that everything was read. */
void shim_linger(int fd, int ms, bool record_reads);
bool shim_linger_abortive(int fd);
void shim_linger_prepare(void);
/* c keeps its record buffers between records (tls_conn_wait_first): the
 * linger thread frees them once c is idle (tls_conn_idle_check). */
void shim_watch_hot(struct tls_conn *c);
/* c's last fd is closed: its buffers and the watch's reference go now,
 * not at the next sweep (a server closing connections at a high rate
 * would hold each one's buffers for another 200-400 ms). */
void shim_unwatch_hot(struct tls_conn *c);
void shim_linger_install(void);

/* The shim's own fds (own.c). */
/* A close-on-exec copy of fd at the library's own high numbers (64 below
 * the soft RLIMIT_NOFILE, at most 960; computed again when the program
 * lowered the limit under it), not recorded as one of ours: for a
 * descriptor used for a moment (a log line's), never at the lowest free
 * number, which the program's next socket() takes and another thread's
 * dup2() may replace.  Only with nothing free up there, the lowest free
 * one.  -1 with errno if none.  Async-signal-safe. */
int shim_own_copy(int fd);
/* fd, which the library has just opened at the lowest free number, moved
 * high as shim_own_copy places it (fd closed; errno kept); fd itself when
 * no copy could be made. */
int shim_own_move(int fd);
int shim_own_dup(int fd, void (*moved)(int from, int to));
int shim_own_socket(int domain, int type, int proto, void (*moved)(int from, int to));
void shim_own_close_moved(void (*moved)(int from, int to));
void shim_own_cell(int fd, int *cell);
void shim_own_close(int fd);
void shim_own_dodge(int fd);
int shim_own_close_range(unsigned int first, unsigned int last, int flags);
/* A copy of fd held for one system call: dup2/dup3 onto it EBUSY, close
 * EBADF, close_range around it, until let go (shim/own.c). */
int shim_own_hold(int fd);
void shim_own_let_go(int hi);
void shim_own_forked(void);
bool shim_own_held(int fd);
int shim_own_dup23(int oldfd, int newfd, int flags);
bool shim_is_own(int fd);

/* A descriptor arrived by a path no creation wrapper saw (SCM_RIGHTS,
 * pidfd_getfd): forget what the number was, classify what it is. */
void shim_fd_arrived(int fd);

/* Log a failed connection's reason once and shut its socket down. */
void shim_tls_report(struct tls_conn *c);

/* sendto/sendmsg/sendmmsg with MSG_FASTOPEN to a destination a tls or
 * deny rule names: refused (EOPNOTSUPP), logged. */
bool shim_fastopen_refused(int fd, const struct sockaddr *addr, socklen_t alen);
/* The same calls, not refused, with a destination, on a TLS number whose
 * connect failed before its handshake started: the session ends, as
 * connect() there ends it (shim/connect.c). */
void shim_fastopen_afresh(int fd);
/* The same calls on a number whose session went to a pump: what connect()
 * is on it (shim/connect.c).  The bytes sent, a negative errno, or
 * SHIM_NOT_PUMPED (below every errno): not a pumped number. */
#define SHIM_NOT_PUMPED ((ssize_t)-4097)
ssize_t shim_pumped_fastopen(int fd, const struct msghdr *m, int flags, const char *call);
/* A destination of 0.0.0.0 or ::ffff:0.0.0.0 from a socket bound to an
 * address reaches that address (connect.c): 1 with ss holding it, 0 when
 * not such a case, a negative errno when the kernel did not tell. */
int shim_dest_bound(int fd, const struct sockaddr *sa, socklen_t len, struct sockaddr_storage *ss);

/* exec and exit (shim/process.c). */
void shim_adopt_inherited(void);
/* A raw clone()/clone3() of another process (syscall.c): as fork(). */
/* false: refused (errno EINVAL), nothing made. */
bool shim_before_clone(unsigned long flags);
/* A TCP listening socket whose connections the policy makes TLS, or one
 * bound to such a port that neither listens nor is connected yet (a
 * program may listen() on it): the rule (shim/process.c), or NULL. */
const struct policy_rule *shim_tls_listener(int fd);
/* fd (above 2) is a connection the library refused (CT_REFUSED): a
 * program that does not run the library must not get it (it would use it
 * in clear). */
bool shim_refused_conn(int fd);
/* The accept rule a socket bound to ss (l bytes) listens under, as
 * shim_tls_listener() answers: a "tls" one, or (deny) a "deny" one, by
 * the same order of rules; NULL for any other. */
const struct policy_rule *shim_listener_rule(int fd, const struct sockaddr_storage *ss, socklen_t l, bool deny);
/* listen() on fd would take connections or associations a tls or deny
 * accept rule names over a protocol that is not TCP (or one that cannot
 * be told): 0, or the negative errno (logged) that refuses it. */
int shim_listen_check(int fd);
/* The policy has a rule with action "tls". */
bool shim_has_tls_rules(void);
/* The policy (the library started) has accept rules. */
static inline bool shim_accept_rules(void)
{
	shim_ensure_init();
	return shim_policy && shim_policy->has[POLICY_ACCEPT];
}
/* fd is an io_uring instance (shim/syscall.c); st: its fstat(), or NULL. */
struct stat;
bool shim_is_uring(int fd);
/* fd is a BPF program that writes packets (XDP, tc, lwt) while raw
 * sockets are refused (shim/syscall.c). */
bool shim_packet_prog(int fd);
bool shim_is_uring_st(int fd, const struct stat *st);
/* A descriptor table apart from the process's (unshare(CLONE_FILES) and
 * kin) while the policy has TLS rules: true (refuse it; logged). */
bool shim_refuse_unshare_files(const char *what);
/* Sockets whose whole history this process saw (fd.c): the share
 * generation, read before a socket() or accept(); moved on by every event
 * that may give this process's descriptors to another process; fd was
 * made here since the last; an accepted fd from such a listener. */
unsigned shim_sock_share_gen(void);
void shim_sock_shared(void);
bool shim_sock_whole(int fd);
void shim_sock_whole_accepted(int lfd, int fd, unsigned gen);
/* The program has set SO_LINGER on some socket (sock.c). */
extern bool shim_linger_set;
/* The program has set SO_RCVTIMEO or SO_SNDTIMEO on some socket (sock.c). */
extern bool shim_timeo_set;
/* The program has set SO_RCVLOWAT on some socket (sock.c). */
extern bool shim_lowat_set;
/* This process turned TCP_INQ on for some socket (shim/msg.c). */
extern bool shim_inq_set;
/* fd came from outside (inherited, received): set shim_lowat_set if it
 * carries a mark (sock.c). */
void shim_lowat_learn(int fd);
/* O_ASYNC on a TLS fd: log, -EINVAL (fd.c). */
int shim_refuse_async(struct tls_conn *c, const char *how);
/* In the parent, after it (a CLONE_VM|CLONE_VFORK child has gone). */
void shim_after_clone(unsigned long flags);
/* Around a clone() that copies the process (no CLONE_VM, no CLONE_THREAD)
 * past the C library's fork(): the library's own fork handlers (init.c),
 * which the C library does not run for it.  errno is kept. */
void shim_fork_prepare(void);
void shim_fork_parent(void);
void shim_fork_child(void);
/* First thing in the child of any fork the shim sees (fork handlers,
 * _Fork, a pump): its process id (self_forked), and the log forgets a
 * change another thread was making when the fork cut it off
 * (log_fork_child). */
void shim_forked(void);
void shim_exit_handler_install(void);

/* Readiness (poll.c), shared with epoll.c; POLL* event bits. */
short shim_tls_revents(struct tls_conn *c, short want, short kr);
bool shim_tls_check_timeout(struct tls_conn *c);
int64_t shim_deadline_ns(struct tls_conn *c, int64_t cur);
struct timespec *shim_wait_timeout(bool ready_now, int64_t wake, struct timespec *ts);

/* epoll (epoll.c). */
void shim_epoll_forget(int fd);
/* fd is an epoll instance the shim manages that holds TLS fds or nested
 * instances now (a lock-free hint, set under the instance's lock): only
 * then can it report plain text (or a failure) the kernel cannot see, so
 * poll/select take the shim's path for it (shim/epoll.c). */
bool shim_epoll_may_report(int fd);
bool shim_epoll_pending(int epfd);
void shim_epoll_fds_closed(int first, int last);
void *shim_epoll_dup_begin(int oldfd);
void shim_epoll_dup_end(void *tok, int oldfd, int newfd);
void shim_epoll_fd_moving(int fd, bool before);
void shim_epoll_fork_lock(void);
void shim_epoll_fork_unlock(void);
void shim_epoll_fork_child(void);
void shim_classify_fork_lock(void);
void shim_classify_fork_unlock(bool child);
void shim_own_fork_lock(void);
void shim_own_fork_unlock(bool child);
void shim_linger_fork_lock(void);
void shim_linger_fork_unlock(void);
void shim_linger_fork_child(void);
void shim_names_fork_lock(void);
void shim_names_fork_unlock(void);
int epoll_ctl_real(int epfd, int op, int fd, struct epoll_event *ev);
int epoll_pwait2_real(int epfd, struct epoll_event *ev, int max, const struct timespec *ts,
		      const sigset_t *mask);

/* The pump (pump.c): hand a session to a helper process; the program's
 * fds become the plaintext end of a loopback channel. */
int shim_pump(struct tls_conn *c, bool arm);
/* A death is not a close (pump.c): a channel made for this process alone
 * (arm, in shim_pump) carries SO_LINGER {1, 0}, so that a death resets
 * it; the program's own ends take it off first.  closing: the numbers
 * [first, last] are about to close.  disarm_all: every number (another
 * process may hold them from now on, or the process ends).  linger_set:
 * the program sets SO_LINGER itself on fd; true if fd was armed (the
 * pump then reads its reset as a death: no warning needed).
 * Every end the library sees on a pumped number (closing, the process's
 * exit: ending_all, exec: exec_closing, shutdown: shim_pump_mark) first
 * tells the pump how many bytes the socket had been given by then (its
 * marker): the pump ends with close_notify only when the last marker
 * counts every byte it read (pump.c, "a graceful end is told"). */
void shim_pump_closing(int first, int last);
void shim_pump_disarm_all(bool ending);
bool shim_pump_linger_set(int fd);
void shim_pump_mark(int fd);
void shim_pump_ending_all(bool flush);
void shim_pump_exec_closing(void);
/* Where no marker can come from (pump.c): open (fd goes to a process
 * without the library), open_inherited (an image without it; all: every
 * pumped number, not only those without close-on-exec), open_all (a
 * move to another network namespace), sandboxed (a
 * seccomp filter goes on now). */
void shim_pump_open(int fd);
void shim_pump_open_all(void);
void shim_pump_open_inherited(bool all);
void shim_pump_sandboxed(void);
/* The number after "KEY:" in /proc/self/status (start root's procfs). */
bool shim_status_field(const char *key, long *val);
/* Bytes written on a TCP socket by all its holders (classify.c). */
bool shim_tcp_written(int fd, uint64_t *n);
enum pump_which {
	PUMP_LIVE,              /* fork(): live sessions this process owns */
	PUMP_LIVE_INHERITABLE,  /* exec() of an image that runs the shim */
	PUMP_ALL_INHERITABLE,   /* exec() of one that does not: every session */
};
void shim_pump_live(enum pump_which which, int only_fd);
/* As shim_pump_live for an exec, counting fd (or every fd: -1) as
 * inherited whatever its close-on-exec flag: posix_spawn's dup2 actions
 * give the child copies of it. */
void shim_pump_spawned(enum pump_which which, int only_fd);
void shim_pump_after_fork_child(void);
/* 127.254.0.0/16: the pumps' channels (both their addresses there;
 * shim/classify.c, pump_channel); never adopted. */
bool shim_is_pump_addr(const struct sockaddr_storage *ss);

/* Kernel waits for blocking calls (wait.c): 1 ready (or the session
 * moved to a pump: look again), 0 timed out, -1 with errno (EINTR when a
 * handler without SA_RESTART may have run). */
int shim_wait(struct tls_conn *c, int fd, short events, int timeout_ms);
/* As shim_wait, for a wait bounded by the socket's own SO_RCVTIMEO or
 * SO_SNDTIMEO: the kernel never restarts such a call, SA_RESTART or not
 * (signal(7)): any handler that ran ends it with EINTR. */
int shim_wait_timeo(struct tls_conn *c, int fd, short events, int timeout_ms);
void shim_wake_waiters(struct tls_conn *c);
/* For poll(): the calling thread's wake-up eventfd (-1 if none), and a
 * registration of it for c's hand-over to a pump (shim_wake_waiters writes
 * it); -1 when no slot is free.  shim_wait_unwatch(-1) does nothing. */
int shim_wait_evfd(void);
int shim_wait_watch(struct tls_conn *c, int evfd);
void shim_wait_unwatch(int slot);
void shim_wait_init(void);
/* fork's child: its own wake-up eventfd, no waiters of the parent's. */
void shim_wait_fork_child(void);
/* system(), popen(), wordexp(): their environ arrays (shim/process.c). */
void shim_env_swap_fork_child(void);
/* Signals (signal.c). */
void shim_signal_init(void);
/* Once, at initialisation: where libcrypto's code is, so that its getpid()
 * calls (its random generators' fork check) are answered without a
 * system call (shim/getpid.c). */
void shim_getpid_init(void);
bool shim_signal_restarts(void);

/* Does fd have a FILE (0-2, or a number fdopen() was called on)?  stdio
 * there bypasses every wrapper: a session placed on it goes to a pump. */
bool shim_fd_has_file(int fd);
/* A number accept() handed out: any FILE of an earlier file is gone. */
void shim_fd_fresh_accepted(int fd);
/* The process's root directory is not the one the library started under
 * (a chroot() or pivot_root() since; shim/init.c). */
bool shim_root_moved(void);
/* What shim/process.c must know of this library's file before the
 * program can change its root. */
void shim_exec_prime(void);
struct open_how;
int shim_openat2(int dir, const char *path, const struct open_how *how);
/* open(2) and close(2) of the library's own descriptors of the policy's
 * files (policy/file.h, policy_fd_ops_set). */
int shim_open_own(const char *path, int flags, mode_t mode);
int shim_close_own(int fd);

/* Socket helpers. */
/* Is fd a TCP (or MPTCP, or SMC) socket?  SHIM_SOCK_TCP yes;
 * SHIM_SOCK_FOREIGN an internet stream socket of another protocol (SCTP,
 * or one the library does not know: refused where a tls or deny rule
 * names it); 0 no (not a socket, not open, not a stream, not internet);
 * or -errno when the kernel did not say (a seccomp filter refused
 * getsockopt, no memory): never to be taken for "no" where a rule may
 * name the socket. */
enum { SHIM_SOCK_TCP = 1, SHIM_SOCK_FOREIGN = 2 };
int shim_sock_tcp(int fd);
/* The same, with the SO_TYPE the kernel told in *type (0 when it did not). */
int shim_sock_tcp_type(int fd, int *type);
/* The same for the checks made per datagram (shim_peer_check): a socket
 * the kernel said is SOCK_DGRAM or SOCK_RAW is not asked again until its
 * number names another file (fd.c). */
int shim_sock_tcp_dgram(int fd);
/* fd.c's memory of those: is fd such a socket (*gen: the number's count
 * of changes, for shim_sock_dgram_learned)?  Record that it is, unless
 * the number changed since *gen was read. */
bool shim_sock_dgram_known(int fd, unsigned *gen);
void shim_sock_dgram_learned(int fd, unsigned gen);
/* fd names another file now, or none: forget what was told of its
 * socket (shim_sock_made_tcp, shim_sock_dgram_known). */
void shim_fd_kind_forget(int fd);
/* The same for a SOCK_STREAM socket whose SO_PROTOCOL said proto. */
int shim_stream_kind(int fd, int proto);
/* fd's SO_PROTOCOL, or -1 with errno (shim_sock_tcp; a log line). */
int shim_sock_protocol(int fd);
/* A question about fd failed with err: did the kernel still say that fd
 * is no TCP socket (EBADF, ENOTSOCK, or getsockname naming Unix,
 * netlink, packet or vsock)?  Any other error is no answer (sock.c). */
bool shim_sock_answered_not_tcp(int fd, int err);
/* Did socket() make fd (the same socket still) an internet socket that
 * is not SOCK_STREAM (fd.c)? */
bool shim_sock_made_not_tcp(int fd);
/* socket() of this process made fd as an internet (or AF_SMC) stream
 * of protocol 0, TCP, MPTCP or SMC, and the number was not handed out
 * or closed since: no question to the kernel (listen()). */
bool shim_sock_made_tcp(int fd);
/* The kernel's TCP state of fd (TCP_SYN_SENT, TCP_CLOSE after a failed
 * connect, ...), or -1 (sock.c). */
int shim_tcp_state(int fd);
/* Is fd's connect() still in progress (TCP_SYN_SENT)? */
bool shim_tcp_connecting(int fd);
/* An earlier connect() of fd failed (TCP_CLOSE, no peer): it may connect
 * again (connect.c). */
bool shim_connect_failed(int fd);
/* The destination of the socket with inode ino whose connect() is still in
 * progress (getpeername says ENOTCONN), from /proc/self/net/tcp{,6}. */
bool shim_connecting_peer(unsigned long ino, struct sockaddr_storage *peer, socklen_t *pl);
/* Is a socket listening on local's port (at its address or the family's
 * wildcard)?  1, 0, or -1 when the kernel's tables cannot be read. */
int shim_port_listening(const struct sockaddr_storage *local);
/* Is a connection with both addresses in 127.254.0.0/16 a pump's channel
 * (no listener on its local port, its other end this user's or root's)?
 * False when it cannot be told. */
bool shim_pump_channel(const struct sockaddr_storage *local, const struct sockaddr_storage *peer,
		       bool connecting);
/* The same for a socket accept() returned (so stream-oriented): one call. */
bool shim_is_nonblocking(int fd);
/* The socket's SO_RCVTIMEO/SO_SNDTIMEO in ms, or -1 for none. */
int shim_sock_timeout_ms(int fd, int opt);
int shim_conn_timeout_ms(struct tls_conn *c, int fd, int opt);
/* The host name the program resolved for this address (getaddrinfo);
 * *only: it is the only name ever resolved to the address. */
bool shim_name_for(const struct sockaddr *sa, char *buf, size_t len, bool *only);
/* A getaddrinfo_a() request: when it has ended with answers, they are
 * learned as getaddrinfo's would be (resolve.c). */
void shim_gai_learned(struct gaicb *req);
/* getaddrinfo_a() is about to make the requests of list (n): each is a
 * new request, whose answer gai_error() learns once per thread. */
void shim_gai_made(struct gaicb *const list[], int n);
/* The names a call of the res_query family may have asked, in wire
 * form (uncompressed, at most 255 bytes): its answer teaches a name only
 * when its question is one of them (resolve.c). */
#define SHIM_DNS_ASKED 8
struct shim_dns_asked {
	int n;
	unsigned char name[SHIM_DNS_ASKED][256];
};
/* name as res_mkquery reads it (escapes: "a\\.b" is one label), with
 * "." and domain after it when domain is not NULL, added to *q. */
void shim_dns_ask(struct shim_dns_asked *q, const char *name, const char *domain);
/* The question of msg (mlen bytes), a query the program built, added. */
void shim_dns_ask_msg(struct shim_dns_asked *q, const unsigned char *msg, int mlen);
/* An answer of res_query() and its family (len bytes): its A and AAAA
 * records are learned, for the name asked when they are its own
 * (resolve.c). */
void shim_dns_learned(const unsigned char *ans, int len, const struct shim_dns_asked *asked);
/* At start: /etc/resolv.conf's name servers that a tls rule names
 * warned of, the file watched where a rule may cover port 53 (dnsres.c);
 * its lock around fork. */
void shim_resolver_setup(const struct policy *p);
void shim_resolver_fork_lock(void);
void shim_resolver_fork_unlock(void);
/* getaddrinfo() or gethostbyname*() of node would ask a name server the
 * program set in the thread's _res over TCP where a tls or deny rule
 * names it: refused, logged, h_errno NO_RECOVERY and errno ECONNREFUSED
 * set (dnsres.c). */
bool shim_lookup_refused_at(const char *node, const char *call, const void *frame);
#define shim_lookup_refused(node, call) shim_lookup_refused_at(node, call, __builtin_frame_address(0))
/* The same for any look-up that asks the thread's _res (getnameinfo,
 * gethostbyaddr, rcmd's): no name to tell a literal by. */
bool shim_resolver_refused_at(const char *call, const void *frame);
#define shim_resolver_refused(call) shim_resolver_refused_at(call, __builtin_frame_address(0))
/* Around the look-up either let go: RES_IGNTC lent for it taken back
 * when the outermost returns (dnsres.c).  frame, here and in the checks
 * above: the wrapper's (__builtin_frame_address), which tells a look-up
 * inside another from one after another left by a longjmp. */
void shim_lookup_begin(const void *frame);
void shim_lookup_end(void);
/* The look-up call, made after one of the checks above let it go: its
 * value. */
#define SHIM_LOOKUP(call) ({ shim_lookup_begin(__builtin_frame_address(0)); \
			     __typeof__(call) shim_lookup_r_ = (call); shim_lookup_end(); shim_lookup_r_; })
/* A compatibility symbol of the C library (a version no new program
 * links: the Sun RPC's, libresolv's compat look-ups), as dlvsym finds it
 * after us; _entry: the library started first, errno ENOSYS when there
 * is none (real.c). */
void *shim_compat_next(const char *name);
void *shim_compat_entry(const char *name);
/* The result of a refused gethostby*_r(): *result NULL, *err
 * NO_RECOVERY, ECONNREFUSED returned (resolve.c). */
struct hostent;
int shim_hostent_r_refused(struct hostent **result, int *err);
/* The name a client verifies when the rule names none: the resolved host
 * name, else the IP address itself (checked against IP SANs). */
bool shim_default_name(const struct sockaddr *sa, char *buf, size_t len);

extern void __chk_fail(void) __attribute__((noreturn));

int fcntl64(int fd, int cmd, ...);
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
ssize_t sendfile64(int out, int in, off64_t *off, size_t count);

/* Our own exported wrappers that glibc declares only with fortification. */
ssize_t __read_chk(int fd, void *buf, size_t nbytes, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
		       struct sockaddr *addr, socklen_t *alen);

int __vdprintf_chk(int fd, int flag, const char *fmt, va_list ap);
int __dprintf_chk(int fd, int flag, const char *fmt, ...);
__sighandler_t bsd_signal(int sig, __sighandler_t h);

int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask,
		size_t fdslen);

#endif
