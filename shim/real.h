/* shim/real.h — the real C library functions, resolved once.
 *
 * real_init() fills `real` with dlsym(RTLD_NEXT, ...) under pthread_once
 * and aborts loudly if a lookup returns one of our own wrappers (that
 * would recurse forever).  REAL(fn) works before the constructor ran
 * (calls from other libraries' constructors pass straight through).
 */
#ifndef TLSSHIM_SHIM_REAL_H
#define TLSSHIM_SHIM_REAL_H

#include <netdb.h>
#include <stdio.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/epoll.h>
#include <spawn.h>
#include <wordexp.h>
#include <aio.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#define SHIM_EXPORT __attribute__((visibility("default")))

struct __res_state;                /* <resolv.h>, whose macros (p_type) clash */
struct gaicb;
struct netent;

struct real_fns {
	int (*socket)(int, int, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*accept)(int, struct sockaddr *, socklen_t *);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*listen)(int, int);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*readv)(int, const struct iovec *, int);
	ssize_t (*writev)(int, const struct iovec *, int);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
	ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	int (*shutdown)(int, int);
	int (*close)(int);
	int (*getaddrinfo)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
	ssize_t (*__read_chk)(int, void *, size_t, size_t);
	ssize_t (*__recv_chk)(int, void *, size_t, size_t, int);
	ssize_t (*__recvfrom_chk)(int, void *, size_t, size_t, int, struct sockaddr *, socklen_t *);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
	int (*__poll_chk)(struct pollfd *, nfds_t, int, size_t);
	int (*__ppoll_chk)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *, size_t);
	int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
	int (*pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *);
	int (*fcntl)(int, int, ...);
	int (*fcntl64)(int, int, ...);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*close_range)(unsigned int, unsigned int, int);
	FILE *(*fdopen)(int, const char *);
	int (*fclose)(FILE *);
	ssize_t (*sendfile)(int, int, off_t *, size_t);
	ssize_t (*sendfile64)(int, int, off64_t *, size_t);
	ssize_t (*splice)(int, off64_t *, int, off64_t *, size_t, unsigned int);
	int (*sendmmsg)(int, struct mmsghdr *, unsigned int, int);
	int (*recvmmsg)(int, struct mmsghdr *, unsigned int, int, struct timespec *);
	int (*epoll_create)(int);
	int (*epoll_create1)(int);
	int (*epoll_ctl)(int, int, int, struct epoll_event *);
	int (*epoll_wait)(int, struct epoll_event *, int, int);
	int (*epoll_pwait)(int, struct epoll_event *, int, int, const sigset_t *);
	int (*epoll_pwait2)(int, struct epoll_event *, int, const struct timespec *, const sigset_t *);
	int (*ioctl)(int, unsigned long, ...);
	pid_t (*fork)(void);
	pid_t (*_Fork)(void);
	pid_t (*getpid)(void);
	int (*execve)(const char *, char *const[], char *const[]);
	int (*execv)(const char *, char *const[]);
	int (*execvp)(const char *, char *const[]);
	int (*execvpe)(const char *, char *const[], char *const[]);
	int (*fexecve)(int, char *const[], char *const[]);
	int (*posix_spawn)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *, char *const[], char *const[]);
	int (*posix_spawnp)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *, char *const[], char *const[]);
	int (*posix_spawn_file_actions_init)(posix_spawn_file_actions_t *);
	int (*posix_spawn_file_actions_destroy)(posix_spawn_file_actions_t *);
	int (*posix_spawn_file_actions_adddup2)(posix_spawn_file_actions_t *, int, int);
	int (*posix_spawn_file_actions_addchdir_np)(posix_spawn_file_actions_t *, const char *);
	int (*posix_spawn_file_actions_addfchdir_np)(posix_spawn_file_actions_t *, int);
	int (*posix_spawn_file_actions_addclose)(posix_spawn_file_actions_t *, int);
	int (*posix_spawn_file_actions_addopen)(posix_spawn_file_actions_t *, int, const char *, int, mode_t);
	int (*posix_spawn_file_actions_addclosefrom_np)(posix_spawn_file_actions_t *, int);
	int (*unshare)(int);
	int (*system)(const char *);
	FILE *(*popen)(const char *, const char *);
	int (*wordexp)(const char *, wordexp_t *, int);
	int (*daemon)(int, int);
	void (*closefrom)(int);
	void (*_exit)(int) __attribute__((noreturn));
	void (*_Exit)(int) __attribute__((noreturn));
	int (*open)(const char *, int, ...);
	int (*open64)(const char *, int, ...);
	int (*openat)(int, const char *, int, ...);
	int (*openat64)(int, const char *, int, ...);
	int (*pipe)(int[2]);
	int (*pipe2)(int[2], int);
	int (*socketpair)(int, int, int, int[2]);
	int (*eventfd)(unsigned int, int);
	int (*__open_2)(const char *, int);
	int (*__open64_2)(const char *, int);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*getpeername)(int, struct sockaddr *, socklen_t *);
	int (*getsockname)(int, struct sockaddr *, socklen_t *);
	ssize_t (*preadv2)(int, const struct iovec *, int, off_t, int);
	ssize_t (*pwritev2)(int, const struct iovec *, int, off_t, int);
	int (*vdprintf)(int, const char *, va_list);
	void (*backtrace_symbols_fd)(void *const *, int, int);
	int (*__vdprintf_chk)(int, int, const char *, va_list);
	int (*aio_read)(struct aiocb *);
	int (*aio_write)(struct aiocb *);
	int (*aio_read64)(struct aiocb64 *);
	int (*aio_write64)(struct aiocb64 *);
	int (*lio_listio)(int, struct aiocb *const[], int, struct sigevent *);
	int (*lio_listio64)(int, struct aiocb64 *const[], int, struct sigevent *);
	long (*syscall)(long, ...);
	int (*pidfd_getfd)(int, int, unsigned int);
	int (*mount)(const char *, const char *, const char *, unsigned long, const void *);
	struct hostent *(*gethostbyname)(const char *);
	struct hostent *(*gethostbyname2)(const char *, int);
	int (*gethostbyname_r)(const char *, struct hostent *, char *, size_t, struct hostent **, int *);
	int (*gethostbyname2_r)(const char *, int, struct hostent *, char *, size_t, struct hostent **,
				int *);
	struct netent *(*getnetbyname)(const char *);
	int (*getnetbyname_r)(const char *, struct netent *, char *, size_t, struct netent **, int *);
	struct netent *(*getnetbyaddr)(uint32_t, int);
	int (*getnetbyaddr_r)(uint32_t, int, struct netent *, char *, size_t, struct netent **, int *);
	long (*gethostid)(void);
	int (*ruserok_af)(const char *, int, const char *, const char *, sa_family_t);
	int (*iruserok_af)(const void *, int, const char *, const char *, sa_family_t);
	int (*getaddrinfo_a)(int, struct gaicb **, int, struct sigevent *);
	int (*gai_error)(struct gaicb *);
	int (*getnameinfo)(const struct sockaddr *, socklen_t, char *, socklen_t, char *, socklen_t, int);
	struct hostent *(*gethostbyaddr)(const void *, socklen_t, int);
	int (*gethostbyaddr_r)(const void *, socklen_t, int, struct hostent *, char *, size_t, struct hostent **,
			       int *);
	int (*res_nquery)(struct __res_state *, const char *, int, int, unsigned char *, int);
	int (*res_nsearch)(struct __res_state *, const char *, int, int, unsigned char *, int);
	int (*res_nquerydomain)(struct __res_state *, const char *, const char *, int, int, unsigned char *, int);
	int (*res_nsend)(struct __res_state *, const unsigned char *, int, unsigned char *, int);
	int (*res_query)(const char *, int, int, unsigned char *, int);
	int (*res_search)(const char *, int, int, unsigned char *, int);
	int (*res_querydomain)(const char *, const char *, int, int, unsigned char *, int);
	int (*res_send)(const unsigned char *, int, unsigned char *, int);
	int (*__res_init)(void);          /* res_init (resolv.h names it so) */
	int (*__res_ninit)(struct __res_state *);   /* res_ninit (the same) */
	int (*rcmd_af)(char **, unsigned short, const char *, const char *, const char *, int *,
		       sa_family_t);
	int (*rexec_af)(char **, int, const char *, const char *, const char *, int *, sa_family_t);
	int (*signalfd)(int, const sigset_t *, int);
	int (*timerfd_create)(int, int);
	int (*memfd_create)(const char *, unsigned int);
	int (*inotify_init)(void);
	int (*inotify_init1)(int);
	int (*sigaction)(int, const struct sigaction *, struct sigaction *);
	__sighandler_t (*signal)(int, __sighandler_t);
	__sighandler_t (*bsd_signal)(int, __sighandler_t);
	__sighandler_t (*sysv_signal)(int, __sighandler_t);
	__sighandler_t (*sigset)(int, __sighandler_t);
	int (*siginterrupt)(int, int);
	int (*execveat)(int, const char *, char *const[], char *const[], int);
	int (*clone)(int (*)(void *), void *, int, void *, ...);
	int (*pthread_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
};

extern struct real_fns real;
extern bool real_ready;
void real_init(void);

#define REAL(fn) (__builtin_expect(real_ready, 1) ? real.fn : (real_init(), real.fn))

#endif
