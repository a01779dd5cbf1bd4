/* shim/shim.h — what the interposed entry points share.
 *
 * shim/ is the only layer that knows about errno and the program: the
 * core returns counts and TLS_WANT_* / TLS_ERR, and the functions here
 * wait (blocking sockets), or say EAGAIN (non-blocking ones), and turn
 * failures into the errno a TCP program expects.  Each sets errno only
 * on its way out.
 */
#ifndef TLSSHIM_SHIM_H
#define TLSSHIM_SHIM_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <stdint.h>
#include <poll.h>
#include <signal.h>

#include "core/conntab.h"
#include "core/tls.h"
#include "policy/policy.h"
#include "shim/real.h"

/* The loaded policy; NULL while inactive.  Immutable once set. */
extern const struct policy *shim_policy;

/* Plaintext in, records out: the blocking/non-blocking logic. */
ssize_t shim_tls_recv(struct tls_conn *c, void *buf, size_t len, int flags);
ssize_t shim_tls_send(struct tls_conn *c, const void *buf, size_t len, int flags);
ssize_t shim_tls_recv_iov(struct tls_conn *c, const struct iovec *iov, int cnt, int flags);
ssize_t shim_tls_send_iov(struct tls_conn *c, const struct iovec *iov, int cnt, int flags);
/* Does this call not wait?  MSG_DONTWAIT, or the socket's O_NONBLOCK
 * (cached per connection). */
bool shim_tls_nonblocking(struct tls_conn *c, int flags);
/* Blocking handshake with the rule's timeout; 0 or -1 with errno set. */
int shim_tls_handshake(struct tls_conn *c, bool nonblock);
/* close()/shutdown() of a TLS fd. */
int shim_tls_close(int fd, struct tls_conn *c);
/* Release every TLS fd in first..last (fd.c). */
void shim_release_fds(int first, int last, bool linger);
/* true when this was the session's last fd and close_notify went out. */
bool shim_tls_release(int fd, struct tls_conn *c);
/* Send FIN and keep absorbing late records in the background (linger.c). */
void shim_linger(int fd);
void shim_linger_install(void);
int shim_tls_shutdown(struct tls_conn *c, int how);

/* Log a failed connection's reason once and shut its socket down. */
void shim_tls_report(struct tls_conn *c);

socklen_t shim_norm_addr(const struct sockaddr *sa, socklen_t len, struct sockaddr_storage *ss);

/* sendto/sendmsg with MSG_FASTOPEN to a TLS destination: -1/EOPNOTSUPP. */
bool shim_fastopen_refused(int fd, const struct sockaddr *addr, socklen_t alen);

/* exec and exit (shim/process.c). */
void shim_adopt_inherited(void);
void shim_exit_handler_install(void);

/* Readiness (poll.c), shared with epoll.c; POLL* event bits. */
int64_t shim_now_ns(void);
short shim_tls_revents(struct tls_conn *c, short want, short kr);
bool shim_tls_check_timeout(struct tls_conn *c);
int64_t shim_deadline_ns(struct tls_conn *c, int64_t cur);
struct timespec *shim_wait_timeout(bool ready_now, int64_t wake, struct timespec *ts);

/* epoll (epoll.c). */
void shim_epoll_forget(int fd);
void shim_epoll_fds_closed(int first, int last);
void shim_epoll_fd_moving(int fd, bool before);
void shim_epoll_fork_lock(void);
void shim_epoll_fork_unlock(void);
void shim_linger_fork_lock(void);
void shim_linger_fork_unlock(void);
void shim_names_fork_lock(void);
void shim_names_fork_unlock(void);
int epoll_ctl_real(int epfd, int op, int fd, struct epoll_event *ev);
int epoll_pwait2_real(int epfd, struct epoll_event *ev, int max, const struct timespec *ts,
		      const sigset_t *mask);

/* The pump (pump.c): hand a live session to a helper process; the
 * program's fds become plaintext ends of a socketpair. */
int shim_pump(struct tls_conn *c);
void shim_pump_live(bool only_inheritable);

/* Socket helpers. */
bool shim_is_tcp(int fd);
bool shim_is_nonblocking(int fd);
void shim_format_addr(const struct sockaddr *sa, char *buf, size_t len);
/* The host name the program resolved for this address (getaddrinfo). */
bool shim_name_for(const struct sockaddr *sa, char *buf, size_t len);
/* The name a client verifies when the rule names none: the resolved host
 * name, else the IP address itself (checked against IP SANs). */
void shim_default_name(const struct sockaddr *sa, char *buf, size_t len);

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

int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask,
		size_t fdslen);

#endif
