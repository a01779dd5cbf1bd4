/* shim/real.c — resolve the real libc functions once (see real.h). */
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <pthread.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wordexp.h>

#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include "core/log.h"
#include "core/sys.h"
#include "shim/real.h"
#include "shim/shim.h"

struct real_fns real;
bool real_ready;
static pthread_once_t real_once = PTHREAD_ONCE_INIT;

static void die(const char *what, const char *name)
{
	/* No wrapper of ours can serve this process: stop before any data
	 * moves.  The line as the log's last words (never onto a socket). */
	char m[256];
	int n = snprintf(m, sizeof m, "tlsshim: fatal: %s \"%s\"\n", what, name);

	log_stderr_fatal(m, n > 0 && (size_t)n < sizeof m ? (size_t)n : sizeof m - 1);
}

static void *resolve(const char *name, void *ours)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (!p)
		die("cannot find the C library's", name);
	if (p == ours)
		die("dlsym returned our own wrapper for", name);
	return p;
}

/* R: a function we wrap (it must not resolve to ourselves); U: one we
 * only call. */
#define R(fn) real.fn = (__typeof__(real.fn))resolve(#fn, (void *)(fn))
#define U(fn) real.fn = (__typeof__(real.fn))resolve(#fn, NULL)

/* sigset and siginterrupt are deprecated, and wrapped all the same. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static void do_init(void)
{
	R(socket); R(connect); R(accept); R(accept4); R(listen);
	R(read); R(write); R(readv); R(writev);
	R(recv); R(send); R(recvfrom); R(sendto); R(recvmsg); R(sendmsg);
	R(shutdown); R(close); R(getaddrinfo);
	R(__read_chk); R(__recv_chk); R(__recvfrom_chk);
	R(poll); R(ppoll); R(__poll_chk); R(__ppoll_chk); R(select); R(pselect);
	R(getsockopt); R(fcntl); R(fcntl64); R(dup); R(dup2); R(dup3); R(close_range);
	R(fdopen); R(fclose); R(sendfile); R(sendfile64); R(splice); R(sendmmsg); R(recvmmsg);
	R(epoll_create); R(epoll_create1); R(epoll_ctl); R(epoll_wait); R(epoll_pwait); R(epoll_pwait2);
	R(ioctl); R(fork); R(_Fork); R(getpid); R(execve); R(execv); R(execvp); R(execvpe); R(fexecve);
	R(posix_spawn); R(posix_spawnp); R(posix_spawn_file_actions_init);
	R(posix_spawn_file_actions_destroy); R(posix_spawn_file_actions_adddup2);
	R(posix_spawn_file_actions_addchdir_np); R(posix_spawn_file_actions_addfchdir_np); R(unshare);
	R(posix_spawn_file_actions_addclose); R(posix_spawn_file_actions_addopen);
	R(posix_spawn_file_actions_addclosefrom_np); R(system); R(popen); R(wordexp); R(daemon);
	R(closefrom);
	R(_exit); R(_Exit); R(open); R(open64); R(openat); R(openat64); R(pipe); R(pipe2);
	R(socketpair); R(eventfd); R(__open_2); R(__open64_2);
	R(setsockopt); R(getpeername); R(getsockname); R(preadv2); R(pwritev2);
	R(vdprintf); R(__vdprintf_chk); R(backtrace_symbols_fd); R(aio_read); R(aio_write); R(aio_read64); R(aio_write64);
	R(lio_listio); R(lio_listio64); R(syscall); R(pidfd_getfd); R(mount);
	R(gethostbyname); R(gethostbyname2); R(gethostbyname_r); R(gethostbyname2_r);
	R(getaddrinfo_a); R(gai_error); R(getnetbyname); R(getnetbyname_r); R(getnetbyaddr); R(getnetbyaddr_r); R(gethostid);
	R(ruserok_af); R(iruserok_af); R(getnameinfo); R(gethostbyaddr); R(gethostbyaddr_r);
	R(res_nquery); R(res_nsearch); R(res_nquerydomain); R(res_nsend);
	R(res_query); R(res_search); R(res_querydomain); R(res_send); R(__res_init); R(__res_ninit);
	R(rcmd_af); R(rexec_af); R(signalfd); R(timerfd_create); R(memfd_create);
	R(inotify_init); R(inotify_init1); R(pthread_create);
	R(execveat); R(clone);
	R(sigaction); R(signal); R(bsd_signal); R(sysv_signal); R(sigset); R(siginterrupt);

#define CORE_SYS_REAL(f) core_sys.f = real.f;
	CORE_SYS_FUNCS(CORE_SYS_REAL)
#undef CORE_SYS_REAL
	__atomic_store_n(&real_ready, true, __ATOMIC_RELEASE);
}

void real_init(void)
{
	pthread_once(&real_once, do_init);
}

/* The C library's own: compatibility symbols, which dlsym() does not
 * find (x86_64's version, then aarch64's): the Sun RPC's (sunrpc.c),
 * libresolv.so.2's (dnsres.c). */
void *shim_compat_next(const char *name)
{
	void *f = dlvsym(RTLD_NEXT, name, "GLIBC_2.2.5");

	return f ? f : dlvsym(RTLD_NEXT, name, "GLIBC_2.17");
}

/* The same, the library started; NULL (errno ENOSYS): none. */
void *shim_compat_entry(const char *name)
{
	void *f;

	shim_ensure_init();
	if (!(f = shim_compat_next(name)))
		errno = ENOSYS;
	return f;
}
