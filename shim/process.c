/* shim/process.c — sessions across exec(), exit() and fork().
 *
 * exec: the new image knows nothing of the old one's sessions.
 *  - A live session (handshake started) on an fd that survives exec is
 *    handed to a pump first: the new image inherits a plaintext socket.
 *  - A session not started yet is inherited as it is when the new image
 *    will load this library with this policy (it adopts the socket at
 *    start-up, inetd style); otherwise (LD_PRELOAD dropped or changed,
 *    another policy, a set-user-ID, static or foreign program) it is
 *    pumped too: the new program must never hold a bare TLS socket.
 *  - Pumped fds that survive exec keep their TCP addresses: the new
 *    image's library learns them from TLSSHIM_PUMPED in its environment.
 *
 * exit: sessions this process owns get their close_notify, as the
 * program's close would have sent (exit, _exit, _Exit, quick_exit); they
 * stay in the table, so a write from another thread during exit fails
 * (EPIPE) instead of going out in clear.  Exit paths never wait for a lock for ever: a connection whose
 * lock this very thread holds (a signal handler called _exit) is skipped,
 * and said so in the log.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <dirent.h>
#include <sched.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <wordexp.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/self.h"
#include "policy/inspect.h"
#include "shim/peerenv.h"
#include "policy/file.h"
#include "shim/shim.h"

#define PUMPED_ENV "TLSSHIM_PUMPED"

/* ---- start-up: inherited fds -------------------------------------------- */

/* TLSSHIM_PUMPED=fd,dev,ino,local,peer;...: pumped fds the old image
 * passed on, each checked against the socket it names. */
static void learn_pumped(void)
{
	const char *env = getenv(PUMPED_ENV);
	char buf[4096], *save = NULL;

	if (!env || strlen(env) >= sizeof buf)
		return;
	snprintf(buf, sizeof buf, "%s", env);
	for (char *e = strtok_r(buf, ";", &save); e; e = strtok_r(NULL, ";", &save)) {
		int fd;
		unsigned long long dev, ino;
		char l[80], p[80];
		struct stat st;
		struct conntab_pumped *pi;

		if (sscanf(e, "%d,%llu,%llu,%79[^,],%79s", &fd, &dev, &ino, l, p) != 5 ||
		    fstat(fd, &st) < 0 || st.st_dev != dev || st.st_ino != ino || !(pi = conntab_pumped(fd)))
			continue;
		memset(pi, 0, sizeof *pi);
		if (!shim_parse_addr(l, &pi->local, &pi->llen) || !shim_parse_addr(p, &pi->peer, &pi->plen))
			continue;
		conntab_set(fd, CT_PUMPED);
	}
	shim_peerenv_learn();
}

/* Without /proc: which numbers below lim are open, asked 256 at a time
 * with one poll() (an fd that is not open answers POLLNVAL; events 0 and
 * a zero time-out wait for nothing).  One fcntl() per number costs a
 * system call each: with a soft limit of 1,048,576 (some containers'),
 * over a second at every start of every program.  A poll() that fails
 * (EINTR, ENOMEM) is asked again number by number. */
static void probe_fds(size_t lim)
{
	struct pollfd p[256];

	for (size_t base = 0; base < lim;) {
		size_t n = lim - base < 256 ? lim - base : 256;
		int r;

		for (size_t i = 0; i < n; i++)
			p[i] = (struct pollfd){ .fd = (int)(base + i) };
		r = REAL(poll)(p, (nfds_t)n, 0);
		for (size_t i = 0; i < n; i++) {
			int fd = (int)(base + i);
			bool open = r >= 0 ? !(p[i].revents & POLLNVAL) : REAL(fcntl)(fd, F_GETFD) >= 0;

			if (open && conntab_load(fd) == CT_UNSEEN)
				(void)shim_classify(fd, true);
		}
		base += n;
	}
}

static void adopt_fds(void)
{
	DIR *d;
	struct dirent *e;
	int fds[1024], n = 0;

	if (!(d = opendir("/proc/self/fd"))) {
		/* No /proc (a chroot without it, a mount hiding it): every
		 * number below the soft limit is asked.  Skipping the
		 * adoption would leave an inherited socket on 0-2 to stdio,
		 * whose internal calls no wrapper sees: plain text on a TLS
		 * port. */
		struct rlimit rl;
		size_t lim = conntab_size;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
		    rl.rlim_cur < lim)
			lim = (size_t)rl.rlim_cur;
		probe_fds(lim);
		return;
	}
	while ((e = readdir(d)) && n < 1024) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);

		if (!*end && fd >= 0 && fd != dirfd(d))
			fds[n++] = (int)fd;
	}
	closedir(d);
	for (int i = 0; i < n; i++)
		if (conntab_load(fds[i]) == CT_UNSEEN)
			(void)shim_classify(fds[i], true);
}

void shim_adopt_inherited(void)
{
	learn_pumped();
	adopt_fds();
	/* Sessions on 0-2 go to their pumps only now that every inherited
	 * number of their socket has joined them: the pump takes all of
	 * them (inetd's 0, 1 and 2), none is left on the bare socket. */
	for (int fd = 0; fd <= 2; fd++) {
		struct tls_conn *c = conntab_get(fd);

		if (c) {
			shim_tls_placed(fd, c);
			tls_conn_unref(c);
		}
	}
}

/* ---- exit ------------------------------------------------------------------ */

struct ending {
	pid_t me;
	int lock_ms;
	bool linger;
};

static void end_one(int fd, struct tls_conn *c, void *arg)
{
	struct ending *e = arg;
	int r;

	if (tls_conn_owner(c) != e->me || !tls_conn_handshake_done(c) || tls_conn_failed(c))
		return;
	r = tls_conn_finish(c, e->lock_ms);
	if (r == TLS_REENTERED) {
		log_warn("%s rule \"%s\": exit while this connection was busy (a signal handler, or"
			 " another thread, held it): no close_notify", tls_conn_peer(c),
			 tls_conn_label(c));
		return;
	}
	if (e->linger && r == 0 && !tls_conn_failed(c) && tls_conn_close_timeout_ms(c) > 0)
		shim_linger(fd, tls_conn_close_timeout_ms(c), tls_conn_opts_ktls(c));
}

/* exit() told the pumps of this process's ends (close_notify_at_exit). */
static bool marked_at_exit;

/* _exit() and _Exit() skip atexit handlers, but the contract says a
 * process that owns open sessions still ends them with close_notify:
 * one non-blocking attempt each, no lingering. */
static void end_sessions(bool linger, int lock_ms)
{
	/* self_pid_own(): a clone(CLONE_VM) child that calls exit() ends
	 * none of its parent's sessions (core/self.c); and no getpid() when
	 * none may run: vsftpd's seccomp filter kills its processes for it,
	 * and one that answers EPERM left every session without its
	 * close_notify. */
	struct ending e = { .me = self_pid_own(), .lock_ms = lock_ms, .linger = linger };

	atomic_store_explicit(&shim_exiting, true, memory_order_relaxed);
	conntab_each_conn(0, 0x7fffffff, end_one, &e);
	/* An end, not a death, for what this process pumped: its markers
	 * (after stdio's buffers, at exit()), then the option off (the FIN
	 * comes at the kernel's close). */
	if (e.me == self_pid_own()) {
		shim_pump_ending_all(linger);
		shim_pump_disarm_all(true);
		__atomic_store_n(&marked_at_exit, linger, __ATOMIC_RELAXED);
	}
}

/* _exit() and _Exit(), which a signal handler may call while its thread
 * is inside malloc or free (both are async-signal-safe; malloc is not):
 * OpenSSL allocates from the exit heap meanwhile, and frees nothing of
 * malloc's (core/alloc.c). */
static void end_sessions_now(void)
{
	bool was;

	if (!shim_policy)
		return;
	was = alloc_exit_begin();
	end_sessions(false, 200);
	alloc_exit_end(was);
}

SHIM_EXPORT void _exit(int status)
{
	end_sessions_now();
	REAL(_exit)(status);
}

SHIM_EXPORT void _Exit(int status)
{
	end_sessions_now();
	REAL(_Exit)(status);
}

static void marks_later(void);

/* Registered with atexit() after OpenSSL set up its own exit handler, so
 * this runs first, while OpenSSL still works. */
static void close_notify_at_exit(void)
{
	end_sessions(true, 2000);
	marks_later();
}

/* quick_exit() (C11; a signal handler may call it) runs the
 * at_quick_exit handlers, then the C library's own _exit, which no
 * wrapper sees: its sessions ended with a bare FIN.  Ours, registered at
 * start-up, runs after the program's (the last registered runs first)
 * and ends them as _exit() does (lifecycle.sh, quick_exit). */
static void close_notify_at_quick_exit(void)
{
	end_sessions_now();
}

void shim_exit_handler_install(void)
{
	atexit(close_notify_at_exit);
	(void)at_quick_exit(close_notify_at_quick_exit);
}

/* Writes to a pumped number may follow our exit handler: those of an
 * atexit() handler registered before it (by a library whose constructor
 * ran before ours) and of the destructors the C library runs after it
 * (_dl_fini: our handler, registered by our constructor before the C
 * library registered _dl_fini, runs there, with our destructor; a
 * dlopen()ed library's destructor, and a library's listed after us in
 * LD_PRELOAD with its atexit() handlers, run after that).  The exit
 * marker said "this many bytes by now"; bytes after it read as cut
 * short.  So the markers go again, as late as the C library lets us:
 * from one more exit handler, tied to no library (an atexit() of ours
 * would be tied to ours and run with our destructor), which the C
 * library runs once _dl_fini has returned, after every destructor, just
 * before stdio's last flush (fflush(NULL) here first) and _exit.  It is
 * registered when our handler has run; if that was before _dl_fini (a
 * library initialised late), it runs at once, and our destructor
 * registers it again.  A marker only ever raises the count
 * (docs/design.md, "Writes at exit"). */
extern int __cxa_atexit(void (*fn)(void *), void *arg, void *dso);

static void marks_after_destructors(void *unused)
{
	(void)unused;
	shim_pump_ending_all(true);
}

static void marks_later(void)
{
	if (__atomic_load_n(&marked_at_exit, __ATOMIC_RELAXED) &&
	    __cxa_atexit(marks_after_destructors, NULL, NULL) != 0)
		shim_pump_ending_all(true);
}

__attribute__((destructor)) static void marks_at_exit(void)
{
	marks_later();
}

/* ---- fork ------------------------------------------------------------------ */

/* A live session kept by two processes would be encrypted by both: before
 * fork it moves to a pump, which both then share through a plaintext
 * socket.  Sessions not started yet (the lazy server handshake) stay: the
 * first process to use one owns it (the classic forking server). */
SHIM_EXPORT pid_t fork(void)
{
	/* Never in the middle of our initialisation (another thread's): the
	 * child would run it again, its fork handlers twice. */
	shim_ensure_init();
	if (shim_policy)
		shim_pump_live(PUMP_LIVE, -1);
	return REAL(fork)();
}

SHIM_EXPORT pid_t __fork(void)
{
	return fork();
}

/* GLIBC_PRIVATE second name (reached with dlsym on the C library's handle). */
SHIM_EXPORT pid_t __libc_fork(void)
{
	return fork();
}

/* vfork's child may only exec or _exit; a real fork serves it exactly,
 * and our wrappers are not safe on a borrowed stack and memory. */
SHIM_EXPORT pid_t vfork(void)
{
	return fork();
}

SHIM_EXPORT pid_t __vfork(void)
{
	return fork();
}

SHIM_EXPORT pid_t _Fork(void)
{
	pid_t r;

	/* No wait for another thread's initialisation here: _Fork() is
	 * async-signal-safe (a handler may call it while its thread holds a
	 * lock the initialisation needs), and its child runs no fork
	 * handlers. */
	shim_sock_shared();
	if (shim_policy)
		shim_pump_live(PUMP_LIVE, -1);
	r = REAL(_Fork)();
	if (r == 0) {
		shim_forked();
		shim_own_forked();      /* (another thread's held copies) */
	}
	return r;
}

static void count_one(int fd, struct tls_conn *c, void *arg)
{
	(void)fd;
	(void)c;
	++*(int *)arg;
}

/* clone() without CLONE_THREAD makes another process: as fork(), live
 * sessions move to pumps first.  The child runs none of the program's
 * atfork handlers; a copy of the process (no CLONE_VM) runs the library's
 * own, as a fork() child does (shim_fork_prepare: by the callers, which
 * can run the child's).
 *
 * The library's tables (what each fd is, the sessions) say what one
 * descriptor table holds, and live in the memory: a task that shares the
 * memory must share the table too, or what it does to a number in its
 * own table is taken for what the program's number is.  A thread
 * (CLONE_THREAD) without CLONE_FILES is refused, as unshare(CLONE_FILES)
 * is: its dup2 of /dev/null onto a TLS fd's number told the table
 * "plain", and the program's next write on the number, still the
 * connection, went out in clear.  A child that shares the memory but not
 * the table (clone(CLONE_VM), the spawn code of CLONE_VM|CLONE_VFORK)
 * may only exec or _exit, but closes and dup2s on its way there: every
 * session on the table moves to a pump first, whatever its fd's
 * FD_CLOEXEC and started or not, so that every TLS number of the program
 * is a plaintext socket to a pump, which nothing the child tells the
 * table can make leak; one that cannot (another process's, a failed one,
 * no pump) refuses the clone with EINVAL (tests/preload/vmshare.sh). */
bool shim_before_clone(unsigned long flags)
{
	int left = 0;

	if ((flags & (CLONE_THREAD | CLONE_FILES)) == CLONE_THREAD &&
	    shim_refuse_unshare_files("clone(CLONE_THREAD) without CLONE_FILES")) {
		errno = EINVAL;
		return false;
	}
	if (flags & CLONE_THREAD)
		return true;
	shim_ensure_init();
	shim_sock_shared();
	/* The descriptor table shared without the memory: the child's table
	 * of what each fd is would part from the kernel's (shim/syscall.c,
	 * shim_refuse_unshare_files). */
	if ((flags & CLONE_FILES) && !(flags & CLONE_VM) &&
	    shim_refuse_unshare_files("clone(CLONE_FILES) without CLONE_VM")) {
		errno = EINVAL;
		return false;
	}
	if (flags & CLONE_VM)
		self_share_begin(flags & CLONE_VFORK);
	if (shim_policy)
		shim_pump_live(PUMP_LIVE, -1);
	/* A child that shares our memory may only exec (or _exit), and
	 * cannot hand a session over itself (before_exec): every session
	 * its new image could inherit moves to a pump now, started or not;
	 * without our descriptor table, every session (above). */
	if (shim_policy && (flags & CLONE_VM)) {
		if (flags & CLONE_FILES) {
			shim_pump_live(PUMP_ALL_INHERITABLE, -1);
		} else {
			shim_pump_spawned(PUMP_ALL_INHERITABLE, -1);
			conntab_each_conn(0, 0x7fffffff, count_one, &left);
			if (left && shim_refuse_unshare_files("clone(CLONE_VM) without CLONE_FILES, with a TLS"
							      " session that could not go to a pump")) {
				if (flags & CLONE_VFORK)
					self_share_end();
				errno = EINVAL;
				return false;
			}
		}
	}
	/* The pumps are told not to wait for the child's markers: they cannot
	 * come from another network namespace, nor from whatever image a
	 * child that shares our memory execs (it cannot tell them itself:
	 * a small borrowed stack). */
	if (shim_policy && (flags & (CLONE_NEWNET | CLONE_VM)))
		shim_pump_open_all();
	return true;
}

void shim_after_clone(unsigned long flags)
{
	if ((flags & (CLONE_VM | CLONE_VFORK | CLONE_THREAD)) == (CLONE_VM | CLONE_VFORK))
		self_share_end();
}

/* The child of a clone() that copies our memory starts here: it stores
 * its own id (core/self.c) before the program's function runs.  `start`
 * is at the top of the child's stack, above where its frames go (the
 * parent's frame may be in memory the parent goes on writing: a shared
 * stack). */
struct clone_start {
	int (*fn)(void *);
	void *arg;
};

static int clone_child(void *p)
{
	const struct clone_start *start = p;

	shim_fork_child();
	return start->fn(start->arg);
}

SHIM_EXPORT int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	va_list ap;
	pid_t *ptid;
	void *tls;
	pid_t *ctid;
	int r;

	va_start(ap, arg);
	ptid = va_arg(ap, pid_t *);
	tls = va_arg(ap, void *);
	ctid = va_arg(ap, pid_t *);
	va_end(ap);
	if (!shim_before_clone((unsigned long)flags))
		return -1;
	/* Not with CLONE_SETTLS: the start function would run on the
	 * program's thread pointer, which our code does not expect. */
	if (fn && stack && !(flags & (CLONE_VM | CLONE_THREAD | CLONE_SETTLS))) {
		struct clone_start *start =
			(struct clone_start *)(((uintptr_t)stack - sizeof *start) & ~(uintptr_t)15);

		start->fn = fn;
		start->arg = arg;
		/* A copy of the process: fork()'s handlers of ours around it
		 * (init.c, shim_fork_prepare), the child's in clone_child. */
		shim_fork_prepare();
		r = REAL(clone)(clone_child, start, flags, start, ptid, tls, ctid);
		shim_fork_parent();
		return r;
	}
	r = REAL(clone)(fn, stack, flags, arg, ptid, tls, ctid);
	shim_after_clone((unsigned long)flags);
	return r;
}

SHIM_EXPORT int __clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	va_list ap;
	pid_t *ptid;
	void *tls;
	pid_t *ctid;

	va_start(ap, arg);
	ptid = va_arg(ap, pid_t *);
	tls = va_arg(ap, void *);
	ctid = va_arg(ap, pid_t *);
	va_end(ap);
	return clone(fn, stack, flags, arg, ptid, tls, ctid);
}

/* ---- will the new image run this library? ------------------------------ */

/* Our own file, to recognise it in LD_PRELOAD by identity, not by name.
 * Taken at start (shim_exec_prime): after a chroot our path may name
 * another file, or none. */
static bool same_file_as_us(const char *path)
{
	static dev_t our_dev;
	static ino_t our_ino;
	static bool known;
	struct stat st;

	if (!known) {
		const struct link_map *me = shim_map_of((const void *)same_file_as_us);

		if (!me || !me->l_name || stat(me->l_name, &st) < 0)
			return false;
		our_dev = st.st_dev;
		our_ino = st.st_ino;
		known = true;
	}
	return path && stat(path, &st) == 0 && st.st_dev == our_dev && st.st_ino == our_ino;
}

/* The working directory at start, where the policy was loaded: a
 * relative TLSSHIM_CONFIG names that file only from there. */
static dev_t start_cwd_dev;
static ino_t start_cwd_ino;
static bool start_cwd_known;

void shim_exec_prime(void)
{
	struct stat st;

	(void)same_file_as_us(NULL);
	if (stat(".", &st) == 0) {
		start_cwd_dev = st.st_dev;
		start_cwd_ino = st.st_ino;
		start_cwd_known = true;
	}
}

/* The process has left the directory it started in (or it cannot tell). */
static bool cwd_moved(void)
{
	struct stat st;

	return !start_cwd_known || stat(".", &st) != 0 || st.st_dev != start_cwd_dev ||
	       st.st_ino != start_cwd_ino;
}

/* The policy's path names, here, the file the library loaded: after a
 * chroot, or a mount in a mount namespace of the process's own, as
 * policy_stat_path names it from the root (and mounts) at start; a
 * relative name, from the directory at start (helper-183: a relative
 * name after a chdir, and an absolute one after a bind mount over its
 * directory, named a policy.conf that made a TLS port plain, and the
 * new image's inherited TLS listener served a plain client in clear). */
static bool policy_same_here(const char *cfg)
{
	struct stat a, b;

	if (cfg[0] != '/')
		return !cwd_moved();
	return policy_stat_path(cfg, &a) == 0 && stat(cfg, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

/* The value of name in envp: the first one (getenv's, the library's
 * TLSSHIM_CONFIG in the new image), or the last (the dynamic loader's
 * LD_PRELOAD: a later entry overrides an earlier one). */
static const char *env_get(char *const envp[], const char *name, bool last)
{
	size_t n = strlen(name);
	const char *v = NULL;

	for (size_t i = 0; envp && envp[i]; i++)
		if (!strncmp(envp[i], name, n) && envp[i][n] == '=') {
			v = envp[i] + n + 1;
			if (!last)
				break;
		}
	return v;
}

static bool preload_has_us(const char *list)
{
	char buf[4096], *save = NULL;

	if (!list || strlen(list) >= sizeof buf)
		return false;
	snprintf(buf, sizeof buf, "%s", list);
	for (char *p = strtok_r(buf, " :", &save); p; p = strtok_r(NULL, " :", &save))
		if (same_file_as_us(p))
			return true;
	return false;
}

static bool system_preload_has_us(void)
{
	char buf[4096];
	FILE *f = fopen("/etc/ld.so.preload", "re");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\n' || buf[i] == '\t')
			buf[i] = ' ';
	return preload_has_us(buf);
}

/* An executable the dynamic loader runs with our LD_PRELOAD: the same
 * check as the launcher's (policy/inspect.c): ELF of our class and
 * machine with an interpreter, or a #! script whose interpreter is one,
 * and not set-user-ID, set-group-ID or with file capabilities. */
static bool image_preloadable(const char *path)
{
	static struct elf_id our_id;
	static int known;       /* 0 not yet, 1 known, -1 unknowable */
	char why[256];

	if (!known) {
		const struct link_map *me = shim_map_of((const void *)image_preloadable);

		known = me && me->l_name && elf_identity(me->l_name, &our_id, why, sizeof why) == 0 ? 1 : -1;
	}
	return known > 0 && unreachable(path, &our_id, "libtlsshim.so", why, sizeof why) == 0;
}

/* The kernel runs a new image in secure-execution mode (AT_SECURE) also
 * when the image is an ordinary one: an exec by a process whose effective
 * user or group ID is not its real one (root that has set only its
 * effective uid to a service user, as squid's master before it starts
 * its kids).  A spawn with POSIX_SPAWN_RESETIDS sets the child's
 * effective ids to the real ones before its exec (or fails): not then. */
static bool secure_exec(const posix_spawnattr_t *attr)
{
	short fl = 0;

	if (attr && posix_spawnattr_getflags(attr, &fl) == 0 && (fl & POSIX_SPAWN_RESETIDS))
		return false;
	return geteuid() != getuid() || getegid() != getgid();
}

#define SYSTEM_POLICY "/etc/tlsshim.conf"

static bool will_run_shim(const char *path, char *const envp[], const posix_spawnattr_t *attr)
{
	const char *cfg = env_get(envp, "TLSSHIM_CONFIG", false);
	const char *ours = shim_policy ? shim_policy->path : NULL;

	if (!path || !image_preloadable(path))
		return false;
	/* In secure-execution mode the dynamic loader ignores LD_PRELOAD's
	 * paths but still reads /etc/ld.so.preload, and the library loaded
	 * from there ignores TLSSHIM_CONFIG (secure_getenv): the system
	 * policy. */
	if (secure_exec(attr))
		return system_preload_has_us() && ours && !strcmp(ours, SYSTEM_POLICY);
	if (!preload_has_us(env_get(envp, "LD_PRELOAD", true)) && !system_preload_has_us())
		return false;
	/* The same policy: the same file (an unset variable means the
	 * default one in both images); after a chroot, the same name may
	 * be another file, and after a mount, and a relative one after a
	 * chdir. */
	if (!cfg || !*cfg)
		cfg = SYSTEM_POLICY;
	return ours && !strcmp(cfg, ours) && policy_same_here(ours);
}

/* ---- posix_spawn's file actions ------------------------------------------- */

/* The C library carries a spawn's file actions out in the child, where no
 * wrapper of ours runs.  Two of them change what the exec must judge: a
 * dup2 gives the child a copy of an fd that may be close-on-exec here (a
 * TLS session the exec would not count as inherited is), and a chdir
 * makes a relative program path name another file.  The adders are ours:
 * each object's dup2 sources, and whether it changes directory, are noted
 * by its address until it is destroyed or initialised again, with the
 * count of its actions.  An object whose count is not ours (no free slot,
 * a struct copy, an adder we do not wrap) is judged the cautious way:
 * every TLS fd inherited, an image that does not run the shim.  Slots are
 * claimed with a compare-and-swap; an object is filled by one thread at a
 * time (POSIX: not thread-safe). */
#define FA_NOTES 64
#define FA_SRCS 16
struct fa_note {
	const void *fa;
	const void *actions;    /* glibc's __actions after our last add */
	bool chdir, many;
	int nact;               /* actions added through our wrappers */
	int nsrc;
	int src[FA_SRCS];
};
static struct fa_note fa_notes[FA_NOTES];

static struct fa_note *fa_slot(const void *fa, bool make)
{
	for (int i = 0; i < FA_NOTES; i++)
		if (__atomic_load_n(&fa_notes[i].fa, __ATOMIC_ACQUIRE) == fa)
			return &fa_notes[i];
	for (int i = 0; make && i < FA_NOTES; i++) {
		const void *none = NULL;
		if (__atomic_compare_exchange_n(&fa_notes[i].fa, &none, fa, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED)) {
			fa_notes[i].chdir = fa_notes[i].many = false;
			fa_notes[i].nsrc = fa_notes[i].nact = 0;
			return &fa_notes[i];
		}
	}
	return NULL;
}

static void fa_forget(const void *fa)
{
	struct fa_note *n = fa_slot(fa, false);

	if (n)
		__atomic_store_n(&n->fa, NULL, __ATOMIC_RELEASE);
}

/* What the spawn's file actions do that matters (none: fa NULL).  An
 * object whose count of actions or action array (glibc's __used and
 * __actions, in the public header) is not what our wrappers saw (a struct
 * copy, an adder we do not wrap, a note lost) is judged the cautious
 * way. */
static void fa_look(const posix_spawn_file_actions_t *fa, struct fa_note *out)
{
	struct fa_note *n = fa ? fa_slot(fa, false) : NULL;

	memset(out, 0, sizeof *out);
	if (n)
		*out = *n;
	if (fa && (fa->__used != out->nact || (out->nact && (const void *)fa->__actions != out->actions)))
		out->chdir = out->many = true;
}

/* An adder's note: the slot of fa (made if need be), its count of
 * actions raised; NULL when no slot was free (fa_look then sees the
 * counts differ). */
static struct fa_note *fa_added(posix_spawn_file_actions_t *fa)
{
	struct fa_note *n = fa_slot(fa, true);

	if (n) {
		n->nact++;
		n->actions = fa->__actions;
	}
	return n;
}

SHIM_EXPORT int posix_spawn_file_actions_init(posix_spawn_file_actions_t *fa)
{
	fa_forget(fa);
	return REAL(posix_spawn_file_actions_init)(fa);
}

SHIM_EXPORT int posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *fa)
{
	fa_forget(fa);
	return REAL(posix_spawn_file_actions_destroy)(fa);
}

SHIM_EXPORT int posix_spawn_file_actions_adddup2(posix_spawn_file_actions_t *fa, int fd, int newfd)
{
	int r = REAL(posix_spawn_file_actions_adddup2)(fa, fd, newfd);
	struct fa_note *n;

	if (r == 0 && (n = fa_added(fa))) {
		if (n->nsrc < FA_SRCS)
			n->src[n->nsrc++] = fd;
		else
			n->many = true;
	}
	return r;
}

SHIM_EXPORT int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *fa, const char *dir)
{
	int r = REAL(posix_spawn_file_actions_addchdir_np)(fa, dir);
	struct fa_note *n;

	if (r == 0 && (n = fa_added(fa)))
		n->chdir = true;
	return r;
}

SHIM_EXPORT int posix_spawn_file_actions_addfchdir_np(posix_spawn_file_actions_t *fa, int dirfd)
{
	int r = REAL(posix_spawn_file_actions_addfchdir_np)(fa, dirfd);
	struct fa_note *n;

	if (r == 0 && (n = fa_added(fa)))
		n->chdir = true;
	return r;
}

SHIM_EXPORT int posix_spawn_file_actions_addclose(posix_spawn_file_actions_t *fa, int fd)
{
	int r = REAL(posix_spawn_file_actions_addclose)(fa, fd);

	if (r == 0)
		(void)fa_added(fa);
	return r;
}

SHIM_EXPORT int posix_spawn_file_actions_addopen(posix_spawn_file_actions_t *fa, int fd, const char *path,
						 int oflag, mode_t mode)
{
	int r = REAL(posix_spawn_file_actions_addopen)(fa, fd, path, oflag, mode);

	if (r == 0)
		(void)fa_added(fa);
	return r;
}

SHIM_EXPORT int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *fa, int from)
{
	int r = REAL(posix_spawn_file_actions_addclosefrom_np)(fa, from);

	if (r == 0)
		(void)fa_added(fa);
	return r;
}

/* ---- exec ------------------------------------------------------------------ */

/* "addr:port" / "[addr]:port" of a TCP address, for TLSSHIM_PUMPED. */
static void addr_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	shim_format_addr((const struct sockaddr *)ss, buf, len);
}

struct pumped_list {
	char *out;
	size_t len, used;
};

/* TLSSHIM_PUMPED for the pumped fds that survive exec. */
static void build_pumped(char *out, size_t len)
{
	size_t h = conntab_high(), used;

	used = (size_t)snprintf(out, len, PUMPED_ENV "=");
	for (size_t fd = 0; fd < h && used < len; fd++) {
		struct conntab_pumped *pi;
		struct stat st;
		char l[80], p[80];
		int fl;

		if (conntab_load((int)fd) != CT_PUMPED || !(pi = conntab_pumped((int)fd)) ||
		    (fl = REAL(fcntl)((int)fd, F_GETFD)) < 0 || (fl & FD_CLOEXEC) || fstat((int)fd, &st) < 0)
			continue;
		addr_text(&pi->local, l, sizeof l);
		addr_text(&pi->peer, p, sizeof p);
		used += (size_t)snprintf(out + used, len - used, "%s%d,%llu,%llu,%s,%s",
					 used > strlen(PUMPED_ENV "=") ? ";" : "", (int)fd,
					 (unsigned long long)st.st_dev, (unsigned long long)st.st_ino, l, p);
	}
}

/* envp plus our TLSSHIM_PUMPED (replacing one there) and the peer's
 * identity (replacing those names: shim/peerenv.c); in buf. */
static char *const *with_pumped(char *const envp[], char **buf, size_t nbuf, char *var, size_t nvar,
				const struct shim_peerenv *pe)
{
	size_t n;

	build_pumped(var, nvar);
	n = shim_peerenv_env(pe, envp, buf, nbuf - 1, PUMPED_ENV "=", sizeof PUMPED_ENV);
	if (strlen(var) > sizeof PUMPED_ENV)
		buf[n++] = var;
	buf[n] = NULL;
	return buf;
}

#define ENV_MAX 4096
extern char **environ;

/* Before an exec of path with envp: hand over what the new image cannot
 * carry on (see the top of this file). */
/* A child that shares our memory (clone(CLONE_VM) without CLONE_THREAD:
 * it reads its parent's id, core/self.c) cannot hand sessions to pumps:
 * the table it would change is its parent's, the descriptors it would
 * change its own.  What its new image would inherit of the TLS sessions
 * is taken away instead: their fds become close-on-exec in the child's
 * table (the parent's own, if it shares that too). */
static void cloexec_one(int fd, struct tls_conn *c, void *arg)
{
	int fl = REAL(fcntl)(fd, F_GETFD);

	(void)arg;
	if (fl < 0 || (fl & FD_CLOEXEC))
		return;
	(void)REAL(fcntl)(fd, F_SETFD, fl | FD_CLOEXEC);
	log_warn("%s rule \"%s\": exec in a child that shares the parent's memory (clone(CLONE_VM)):"
		 " fd %d not passed on (close-on-exec); such a child cannot hand a TLS session over",
		 tls_conn_peer(c), tls_conn_label(c), fd);
}

/* A TCP or MPTCP listening socket whose connections the policy makes
 * TLS: the rule, or NULL.  Bound to one address: the accept rule that
 * address and port match first.  Bound to a wildcard (it takes
 * connections for every local address): the first rule for its port that
 * covers every address, unless a "tls" rule for some addresses comes
 * first (fail closed: some of its connections are TLS). */
/* What shim_tls_listener() answers for a socket the kernel would not
 * describe (a seccomp filter's EPERM or ENOSYS for the library's own
 * getsockopt or getsockname, as a sandboxed daemon installs): it may be a
 * listener the policy makes TLS, so it is held back as one. */
static struct policy_rule unknown_listener = {
	.name = (char *)"(unknown: the library's getsockopt/getsockname on it was refused)",
	.direction = POLICY_ACCEPT,
	.action = POLICY_TLS,
};

/* A question about fd failed with err: NULL when the kernel's own answer
 * says fd is no TCP socket (shim_sock_answered_not_tcp, or fstat: not a
 * socket), else the stand-in above. */
static const struct policy_rule *listener_unknown(int fd, int err)
{
	struct stat st;

	if (shim_sock_answered_not_tcp(fd, err) || (fstat(fd, &st) == 0 && !S_ISSOCK(st.st_mode)))
		return NULL;
	return &unknown_listener;
}

/* shim_tls_listener; *bound (when not NULL): fd does not listen yet, but
 * is bound to a port, neither connected nor connecting (TCP_CLOSE): a
 * program that gets it may listen() on it (helper-183: one without the
 * library listened on a TLS port and served a plain client in clear). */
static const struct policy_rule *tls_port_socket(int fd, bool *bound)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;
	int acc = 0, proto = 0, kind;
	socklen_t il = sizeof acc;

	if (bound)
		*bound = false;
	if (!shim_policy || !shim_policy->has[POLICY_ACCEPT])
		return NULL;
	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &il) < 0)
		return listener_unknown(fd, errno);
	if (!acc && shim_tcp_state(fd) != TCP_CLOSE)
		return NULL;
	/* TCP, MPTCP (protocol 262, mptcpize's) or SMC: its connections are
	 * TLS by the same rules (shim_resolve_accepted).  An internet stream
	 * of another protocol (SCTP) too: the library refuses its
	 * connections where a rule says TLS, and a program without it would
	 * serve them in clear (shim_stream_kind). */
	il = sizeof proto;
	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &il) < 0)
		return listener_unknown(fd, errno);
	if ((kind = shim_stream_kind(fd, proto)) < 0)
		return listener_unknown(fd, -kind);
	if (!kind)
		return NULL;
	if (REAL(getsockname)(fd, (struct sockaddr *)&ss, &l) < 0)
		return listener_unknown(fd, errno);
	if (!acc) {
		/* Not bound (port 0): nothing a new socket would not have. */
		if ((ss.ss_family != AF_INET && ss.ss_family != AF_INET6) ||
		    !(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					      : ((struct sockaddr_in6 *)&ss)->sin6_port))
			return NULL;
		if (bound)
			*bound = true;
	}
	return shim_listener_rule(fd, &ss, l, false);
}

const struct policy_rule *shim_tls_listener(int fd)
{
	return tls_port_socket(fd, NULL);
}

const struct policy_rule *shim_listener_rule(int fd, const struct sockaddr_storage *ss, socklen_t l, bool deny)
{
	struct shim_verdict v;
	bool wild;
	uint16_t port;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		port = ntohs(a->sin_port);
		wild = a->sin_addr.s_addr == htonl(INADDR_ANY);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		port = ntohs(a->sin6_port);
		wild = IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr);
	} else {
		return NULL;
	}
	if (!wild)
		return shim_verdict_accepted(shim_policy, (const struct sockaddr *)ss, l, NULL, 0, fd, &v) && v.rule &&
		       (v.rule->action == POLICY_TLS || (deny && v.rule->action == POLICY_DENY)) ? v.rule : NULL;
	for (size_t i = 0; i < shim_policy->nrules; i++) {
		const struct policy_rule *r = &shim_policy->rules[i];
		bool covers = !r->nports;

		for (size_t k = 0; !covers && k < r->nports; k++)
			covers = r->ports[k] == port;
		if (r->direction != POLICY_ACCEPT || !covers)
			continue;
		if (r->action == POLICY_TLS || (deny && r->action == POLICY_DENY))
			return r;
		if (!r->naddrs)
			return NULL;    /* plain (or deny) for every address */
	}
	return NULL;
}

/* Before an exec of an image that will not run the library (or from a
 * child that shares our memory): the TLS listening sockets it would
 * inherit become close-on-exec (warn), and so do the connections the
 * library refused (a connection to a TLS rule's port that carried bytes
 * outside it, one whose rule cannot be told): every call on one fails
 * here, and the new program would write on it in clear (before, it did).
 * Not on 0-2, where a refused number already names a dead socket, or a
 * shut one (classify.c).  A spawn that dup2()s one to the child (its copy
 * is inheritable whatever we set here) is refused: false. */
#define WITHHELD_MAX 64
static __thread int withheld[WITHHELD_MAX], withheld_n;

bool shim_refused_conn(int fd)
{
	return fd > 2 && conntab_load(fd) == CT_REFUSED;
}

static bool withhold_listeners(const struct fa_note *n)
{
	size_t h = conntab_high();
	const struct policy_rule *r = NULL;
	bool accept_rules = shim_policy->has[POLICY_ACCEPT];

	if (h < 64)
		h = 64;
	for (size_t i = 0; n && i < (n->many ? h : (size_t)n->nsrc); i++) {
		int fd = n->many ? (int)i : n->src[i];
		bool bound;

		if ((r = tls_port_socket(fd, &bound))) {
			log_warn("rule \"%s\": posix_spawn refused: it would%s give fd %d, a %s"
				 " the rule makes TLS, to a program that does not run this library",
				 r->name, n->many ? " (its file actions unknown: may)" : "", fd,
				 bound ? "socket bound to the port" : "listening socket");
			return false;
		}
		if (shim_refused_conn(fd)) {
			log_warn("posix_spawn refused: it would%s give fd %d, a connection this library"
				 " refused, to a program that does not run this library",
				 n->many ? " (its file actions unknown: may)" : "", fd);
			return false;
		}
	}
	for (size_t fd = 0; fd < h; fd++) {
		bool refused = shim_refused_conn((int)fd), bound = false;
		int fl;

		if (!refused && !accept_rules)
			continue;
		fl = REAL(fcntl)((int)fd, F_GETFD);
		if (fl < 0 || (fl & FD_CLOEXEC) || (!refused && !(r = tls_port_socket((int)fd, &bound))))
			continue;
		(void)REAL(fcntl)((int)fd, F_SETFD, fl | FD_CLOEXEC);
		if (withheld_n < WITHHELD_MAX)
			withheld[withheld_n++] = (int)fd;
		if (refused)
			log_warn("fd %d, a connection this library refused, not passed on (close-on-exec):"
				 " the new program does not run this library, and would use it in clear",
				 (int)fd);
		else if (bound)
			log_warn("rule \"%s\": socket fd %d bound to the port, not passed on (close-on-exec):"
				 " the new program does not run this library, and would listen there and"
				 " accept plain", r->name, (int)fd);
		else
			log_warn("rule \"%s\": listening socket fd %d not passed on (close-on-exec): the new"
				 " program does not run this library, and what it accepted would be plain",
				 r->name, (int)fd);
	}
	return true;
}

/* After the exec or spawn returned (glibc's posix_spawn, system and popen
 * return once the child has exec'd; an exec returns only on failure): the
 * listeners withheld for it are inheritable again here, for a later exec
 * that runs the library (a daemon's re-exec). */
static void listeners_back(void)
{
	for (int i = 0; i < withheld_n; i++) {
		int fl = REAL(fcntl)(withheld[i], F_GETFD);

		if (fl >= 0)
			(void)REAL(fcntl)(withheld[i], F_SETFD, fl & ~FD_CLOEXEC);
	}
	withheld_n = 0;
}

static bool in_vm_child(void)
{
	pid_t known = self_pid_known();

	if (!known)
		return false;
	/* A thread of process `known` (its leader: the usual exec, from the
	 * main thread; or another thread of it, asked with tgkill) is that
	 * process: no getpid(), which a sandbox's filter may kill for (an
	 * exec from a second thread died of SIGSYS: helper-129).  Where the
	 * kernel does not say (tgkill refused), its getpid() answer
	 * (self_pid_kernel: under a filter refusing getpid() too, 0 from a
	 * thread that does not lead the process, counted as such a child:
	 * its sessions are closed at exec, never passed on). */
	switch (self_thread_of(known)) {
	case 1:
		return false;
	case 0:
		return true;
	default:
		return known != self_pid_kernel();
	}
}

/* Can the spawn's file actions make the child run another image, or
 * read another policy or library, than the parent judges?  A change of
 * directory moves every relative name (the program, a PATH entry,
 * TLSSHIM_CONFIG, LD_PRELOAD, /proc/self/cwd); a program under /proc or
 * /dev/fd names a descriptor the actions may replace. */
static bool spawn_may_change_image(const char *path, const struct fa_note *n)
{
	if (!n->nact && !n->many)
		return false;
	return n->chdir || !path || !strncmp(path, "/proc/", 6) || !strncmp(path, "/dev/fd/", 8);
}

/* A noted dup2 source that is a TLS session or listener, or a refused
 * connection (every one: many). */
static bool spawn_gives_tls(const struct fa_note *n)
{
	if (n->many)
		return conntab_high() > 0;
	for (int i = 0; i < n->nsrc; i++)
		if (conntab_is_tls(conntab_load(n->src[i])) || shim_tls_listener(n->src[i]) ||
		    shim_refused_conn(n->src[i]))
			return true;
	return false;
}

/* n: what the spawn's file actions do (all zero for an exec).  false:
 * refuse the spawn (errno EACCES). */
static bool handover(const char *path, char *const envp[], const posix_spawnattr_t *attr,
		     const struct fa_note *n)
{
	const char *cfg = env_get(envp, "TLSSHIM_CONFIG", false);
	enum pump_which w;

	if (in_vm_child()) {
		/* It cannot pump; a dup2 action would undo close-on-exec. */
		if (spawn_gives_tls(n)) {
			log_warn("posix_spawn refused in a child that shares its parent's memory"
				 " (clone(CLONE_VM)): its file actions would pass a TLS descriptor on");
			errno = EACCES;
			return false;
		}
		conntab_each_conn(0, 0x7fffffff, cloexec_one, NULL);
		return withhold_listeners(NULL);
	}
	w = will_run_shim(path, envp, attr) && !spawn_may_change_image(path, n)
	    ? PUMP_LIVE_INHERITABLE : PUMP_ALL_INHERITABLE;
	if (w == PUMP_ALL_INHERITABLE && shim_root_moved()) {
		const char *pl = env_get(envp, "LD_PRELOAD", true);

		/* The loader looks for LD_PRELOAD's files under the new root,
		 * and the library there for its policy file: usually there is
		 * neither, and the new image runs without us, silently. */
		if ((pl && *pl) || system_preload_has_us())
			log_warn("exec of %s after this process changed its root directory (chroot or"
				 " pivot_root): the new image will not run this library with this policy"
				 " (%s is not this library's file under the new root, or the policy %s is"
				 " another file there, or none); the TLS sessions it would inherit go to a"
				 " pump, but the connections it makes itself are not the policy's",
				 path ? path : "(unknown)", pl && *pl ? pl : "/etc/ld.so.preload",
				 shim_policy->path ? shim_policy->path : "?");
	}
	if (w == PUMP_ALL_INHERITABLE && cfg && shim_policy->path && !strcmp(cfg, shim_policy->path) &&
	    !shim_root_moved() && !policy_same_here(cfg))
		log_warn("exec of %s: the policy name TLSSHIM_CONFIG=%s names another file here (or none)"
			 " than %s; the TLS sessions it would inherit go to a pump and TLS listeners"
			 " are not passed on%s",
			 path ? path : "(unknown)", cfg,
			 cfg[0] != '/' ? "where this process loaded it: it changed its working directory"
				       : "under the root and mounts this process started with (a mount"
					 " since, in a mount namespace of its own)",
			 cfg[0] != '/' ? " (an absolute TLSSHIM_CONFIG, as tlsshim(1) sets, keeps the"
					 " policy)" : "");
	if (secure_exec(attr)) {
		bool sys = system_preload_has_us();

		if (!sys && preload_has_us(env_get(envp, "LD_PRELOAD", true)))
			log_warn("exec of %s with effective ids (uid %u, gid %u) other than the real ones"
				 " (uid %u, gid %u): the kernel runs it in secure-execution mode and the"
				 " dynamic loader will not load this library, although LD_PRELOAD names it;"
				 " the connections it makes itself are not the policy's",
				 path ? path : "(unknown)", (unsigned)geteuid(), (unsigned)getegid(),
				 (unsigned)getuid(), (unsigned)getgid());
		else if (sys && (!shim_policy->path || strcmp(shim_policy->path, SYSTEM_POLICY)))
			log_warn("exec of %s with effective ids (uid %u, gid %u) other than the real ones"
				 " (uid %u, gid %u): the kernel runs it in secure-execution mode, where this"
				 " library comes from /etc/ld.so.preload with the system policy "
				 SYSTEM_POLICY ", not this one (%s)",
				 path ? path : "(unknown)", (unsigned)geteuid(), (unsigned)getegid(),
				 (unsigned)getuid(), (unsigned)getgid(),
				 shim_policy->path ? shim_policy->path : "?");
	}
	if (w == PUMP_ALL_INHERITABLE && !withhold_listeners(n)) {
		errno = EACCES;
		return false;
	}
	if (n->many)
		shim_pump_spawned(w, -1);
	for (int i = 0; !n->many && i < n->nsrc; i++)
		shim_pump_spawned(w, n->src[i]);
	shim_pump_live(w, -1);
	/* An image without the library tells its pumps of no end (pump.c,
	 * markers): they must not wait for one. */
	if (w == PUMP_ALL_INHERITABLE)
		shim_pump_open_inherited(n->many || n->nsrc > 0);
	return true;
}

/* posix_spawn(p), and exec (fa NULL): hand over what the new image cannot
 * carry on, with what the file actions change (above). */
static bool before_spawn(const char *path, const posix_spawn_file_actions_t *fa,
			 const posix_spawnattr_t *attr, char *const envp[], struct shim_peerenv *pe)
{
	struct fa_note n;
	bool ok;

	pe->active = false;
	pe->used = 0;
	withheld_n = 0;
	shim_sock_shared();     /* (system, popen: the child, in our memory) */
	if (!shim_policy)
		return true;
	fa_look(fa, &n);
	shim_peerenv_prepare(pe);
	ok = handover(path, envp, attr, &n);
	shim_peerenv_done(pe);
	return ok;
}

/* exec: a spawn without file actions (never refused: only actions that
 * would dup2 a TLS listener are). */
static void before_exec(const char *path, char *const envp[], struct shim_peerenv *pe)
{
	(void)before_spawn(path, NULL, NULL, envp, pe);
	shim_pump_exec_closing();
}

#define EXEC_ENV(envp_in, call) do {                                            \
		char *env_[ENV_MAX], var_[8192];                                \
		char *const *e_ = shim_policy ? with_pumped((envp_in), env_, ENV_MAX, var_, sizeof var_, &pe_) \
					      : (envp_in);                      \
		int r_ = (call), e2_ = errno;                                   \
		listeners_back();                                               \
		errno = e2_;                                                    \
		return r_;                                                      \
	} while (0)

SHIM_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	struct shim_peerenv pe_;

	before_exec(path, envp, &pe_);
	EXEC_ENV(envp, REAL(execve)(path, argv, e_));
}

SHIM_EXPORT int execv(const char *path, char *const argv[])
{
	struct shim_peerenv pe_;

	before_exec(path, environ, &pe_);
	EXEC_ENV(environ, REAL(execve)(path, argv, e_));
}

SHIM_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	struct shim_peerenv pe_;
	char *path = resolve_program(file);

	before_exec(path, envp, &pe_);
	free(path);
	EXEC_ENV(envp, REAL(execvpe)(file, argv, e_));
}

SHIM_EXPORT int execvp(const char *file, char *const argv[])
{
	return execvpe(file, argv, environ);
}

/* execveat(): the image named by dirfd and path (AT_EMPTY_PATH: dirfd
 * itself), judged through /proc/self/fd. */
static void execveat_path(int dirfd, const char *path, int flags, char *buf, size_t len)
{
	if ((flags & AT_EMPTY_PATH) && (!path || !*path))
		snprintf(buf, len, "/proc/self/fd/%d", dirfd);
	else if (path && (path[0] == '/' || dirfd == AT_FDCWD))
		snprintf(buf, len, "%s", path);
	else
		snprintf(buf, len, "/proc/self/fd/%d/%s", dirfd, path ? path : "");
}

SHIM_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
			 int flags)
{
	struct shim_peerenv pe_;
	char img[4200];

	execveat_path(dirfd, path, flags, img, sizeof img);
	before_exec(img, envp, &pe_);
	EXEC_ENV(envp, REAL(execveat)(dirfd, path, argv, e_, flags));
}

SHIM_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	struct shim_peerenv pe_;
	char path[64];

	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	before_exec(path, envp, &pe_);
	EXEC_ENV(envp, REAL(fexecve)(fd, argv, e_));
}

/* execl, execlp, execle: collect the arguments, then as above. */
#define EXECL_MAX 4096
static bool collect(const char *first, va_list ap, char **argv)
{
	int n;

	argv[0] = (char *)first;
	for (n = 1; argv[n - 1] && n < EXECL_MAX; n++)
		argv[n] = va_arg(ap, char *);
	return !argv[n - 1];
}

/* execl, execlp: the list to a vector, then execv/execvp. */
#define EXECL_ENTRY(name, vname)                                             \
	SHIM_EXPORT int name(const char *path, const char *arg, ...)         \
	{                                                                    \
		char *argv[EXECL_MAX];                                       \
		va_list ap;                                                  \
		bool ok;                                                     \
		va_start(ap, arg);                                           \
		ok = collect(arg, ap, argv);                                 \
		va_end(ap);                                                  \
		if (!ok) {                                                   \
			errno = E2BIG;                                       \
			return -1;                                           \
		}                                                            \
		return vname(path, argv);                                    \
	}
EXECL_ENTRY(execl, execv)
EXECL_ENTRY(execlp, execvp)

SHIM_EXPORT int execle(const char *path, const char *arg, ...)
{
	char *argv[EXECL_MAX];
	char *const *envp;
	va_list ap;
	bool ok;

	va_start(ap, arg);
	ok = collect(arg, ap, argv);
	envp = ok ? va_arg(ap, char *const *) : NULL;
	va_end(ap);
	if (!ok) {
		errno = E2BIG;
		return -1;
	}
	return execve(path, argv, envp);
}

SHIM_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
			    const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	struct shim_peerenv pe_;

	if (!before_spawn(path, fa, attr, envp, &pe_))
		return EACCES;
	EXEC_ENV(envp, REAL(posix_spawn)(pid, path, fa, attr, argv, e_));
}

SHIM_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			     const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	struct shim_peerenv pe_;
	char *path = resolve_program(file);
	bool ok = before_spawn(path, fa, attr, envp, &pe_);

	free(path);
	if (!ok)
		return EACCES;
	EXEC_ENV(envp, REAL(posix_spawnp)(pid, file, fa, attr, argv, e_));
}

/* system() and popen() run /bin/sh with environ; for the duration of the
 * call, environ also names our pumped fds (the C library spawns the shell
 * with vfork semantics, so the restore waits for its exec).
 *
 * Calls in several threads at once.  environ is one word for the whole
 * process.  Until h220 each call saved the environ it found and put it
 * back at its end, with its array on its own stack: of two overlapping
 * calls the second saved the first's array, and when the first ended
 * first, the second put back the first's array, a dead stack frame, as
 * the program's environ for good (getenv then read another frame's
 * bytes; 4 runs of 6 with two threads making 20 calls each:
 * tests/preload/spawn_fa.sh, system-race, makes that order every time).
 * Now the arrays (with the pumped list and the peer's names, which they
 * point into) are taken from the heap and registered; the program's own
 * environ is kept beside them, and each new array is made from it; a
 * call that ends with its array in environ puts back the newest array of
 * a call still under way, or the program's once none is; the arrays are
 * freed only when no call is under way (the C library's spawn of another
 * call may have read one of them from environ and pass it to the
 * kernel).  An environ that is none of ours (the program's setenv() in
 * the meantime made its own copy) is left as it is, and becomes the one
 * the next arrays are made from; that copy holds our entries too
 * (TLSSHIM_PUMPED, the peer's names, in the structs), which are taken
 * out of it before the structs are freed (env_swap_scrub: before h222
 * they stayed, pointing into freed memory).  The register's mutex is held for the
 * bookkeeping and the building of one array, never across the spawn; a
 * fork() child made its own again (shim_env_swap_fork_child).  The
 * judgement of the new image reads the program's array, taken under the
 * mutex (ThreadSanitizer saw the read of environ race with another
 * thread's swap). */
struct env_swap {
	struct env_swap *next;
	bool done;
	const void *thread;             /* &env_swaps_mine of the calling thread */
	struct shim_peerenv pe;
	char var[8192];
	char *env[ENV_MAX];
};
static pthread_mutex_t env_swap_mu = PTHREAD_MUTEX_INITIALIZER;
static struct env_swap *env_swaps;      /* made since none was under way */
static int env_swaps_active;
/* This thread's calls under way (from env_swap_begin to env_swap_out):
 * what a fork() child's count becomes (shim_env_swap_fork_child). */
static __thread int env_swaps_mine __attribute__((tls_model("initial-exec")));
static char **env_swap_base;            /* the program's environ, while one is */

static bool env_swap_ours(char **e)
{
	for (struct env_swap *s = env_swaps; s; s = s->next)
		if (s->env == e)
			return true;
	return false;
}

/* A new call's array (NULL, errno ENOMEM: the call fails). */
static struct env_swap *env_swap_new(void)
{
	struct env_swap *s = malloc(sizeof *s);

	if (!s)
		errno = ENOMEM;
	return s;
}

/* A call begins: counted (no array of ours is freed while it is under
 * way); the program's environ, read under the mutex (what the judgement
 * of the new image reads: another call's array is swapped in by another
 * thread at any time). */
static char **env_swap_begin(void)
{
	char **e;

	pthread_mutex_lock(&env_swap_mu);
	if (!env_swap_ours(environ))
		env_swap_base = environ;
	e = env_swap_base;
	env_swaps_active++;
	env_swaps_mine++;
	pthread_mutex_unlock(&env_swap_mu);
	return e;
}

static void env_swap_in(struct env_swap *s)
{
	pthread_mutex_lock(&env_swap_mu);
	if (!env_swap_ours(environ))
		env_swap_base = environ;
	(void)with_pumped(env_swap_base, s->env, ENV_MAX, s->var, sizeof s->var, &s->pe);
	s->done = false;
	s->thread = &env_swaps_mine;
	s->next = env_swaps;
	env_swaps = s;
	environ = s->env;
	pthread_mutex_unlock(&env_swap_mu);
}

/* Whether the string e points into one of the register's structs (our
 * TLSSHIM_PUMPED, the peer's names). */
static bool env_swap_holds(const char *e)
{
	for (struct env_swap *s = env_swaps; s; s = s->next)
		if ((uintptr_t)e >= (uintptr_t)s && (uintptr_t)e < (uintptr_t)(s + 1))
			return true;
	return false;
}

/* env without the entries env_swap_holds (moved down in place). */
static void env_swap_scrub(char **env)
{
	size_t w = 0, r;

	if (!env)
		return;

	for (r = 0; env[r]; r++)
		if (!env_swap_holds(env[r]) && w++ != r)
			env[w - 1] = env[r];
	if (w != r)
		env[w] = NULL;
}

static void env_swap_out(struct env_swap *s)
{
	pthread_mutex_lock(&env_swap_mu);
	s->done = true;
	/* (never below zero: a fork() child counts only its thread's calls) */
	if (env_swaps_active > 0)
		env_swaps_active--;
	if (env_swaps_mine > 0)
		env_swaps_mine--;
	if (environ == s->env) {
		struct env_swap *live = env_swaps;

		while (live && live->done)
			live = live->next;
		environ = live ? live->env : env_swap_base;
	}
	if (!env_swaps_active) {
		/* The program's array (its setenv() during a call copied ours,
		 * whose entries point into the structs freed below): the
		 * library's entries taken out of it first.  Left, they pointed
		 * into freed memory (getenv, the next call's walk of environ:
		 * tests/preload/spawn_fa.sh, system-setenv). */
		if (!env_swap_ours(environ))
			env_swap_scrub(environ);
		while (env_swaps) {
			struct env_swap *n = env_swaps->next;

			free(env_swaps);
			env_swaps = n;
		}
	}
	pthread_mutex_unlock(&env_swap_mu);
}

/* fork() child: the calls of the parent's other threads are not under
 * way here (their arrays are left, not freed).  This thread's are: a
 * signal handler's fork() interrupted them, and they end when it
 * returns; the count becomes theirs and their arrays stay registered.
 * Zeroed (before h224), the resumed call took it to -1, and no array of
 * the child's was freed again (a leak per call); its own array, off the
 * register, was never freed. */
void shim_env_swap_fork_child(void)
{
	struct env_swap **pp = &env_swaps;

	pthread_mutex_init(&env_swap_mu, NULL);
	if (env_swaps_active && env_swap_ours(environ))
		environ = env_swap_base;
	while (*pp)
		if ((*pp)->thread == &env_swaps_mine && !(*pp)->done)
			pp = &(*pp)->next;
		else
			*pp = (*pp)->next;
	env_swaps_active = env_swaps_mine;
}

SHIM_EXPORT int system(const char *cmd)
{
	struct env_swap *s;
	int r;

	if (!cmd || !shim_policy)
		return REAL(system)(cmd);
	if (!(s = env_swap_new()))
		return -1;
	before_exec("/bin/sh", env_swap_begin(), &s->pe);
	env_swap_in(s);
	r = REAL(system)(cmd);
	env_swap_out(s);
	listeners_back();
	return r;
}

SHIM_EXPORT FILE *popen(const char *cmd, const char *mode)
{
	struct env_swap *s;
	FILE *f;
	int e;

	if (!shim_policy)
		return REAL(popen)(cmd, mode);
	if (!(s = env_swap_new()))
		return NULL;
	before_exec("/bin/sh", env_swap_begin(), &s->pe);
	env_swap_in(s);
	f = REAL(popen)(cmd, mode);
	e = errno;
	env_swap_out(s);
	listeners_back();
	errno = e;
	return f;
}

/* wordexp() runs each command substitution ("$(...)", "`...`") in
 * /bin/sh, which the C library spawns itself (no wrapper of ours sees
 * it) with the program's descriptors and environment: as for system(),
 * what the shell cannot carry on is handed over first.  Before, the
 * shell of a program whose environment did not name the library
 * inherited a live session's TCP socket as it was, and "$(printf ...
 * >&3)" went out in clear (tests/preload/wordexp.sh).  Words
 * with neither "$(" nor "`" start no shell (and WRDE_NOCMD refuses
 * them): they cost nothing more. */
SHIM_EXPORT int wordexp(const char *words, wordexp_t *we, int flags)
{
	struct env_swap *s;
	int r;

	if (!shim_policy || !words || (flags & WRDE_NOCMD) ||
	    (!strchr(words, '`') && !strstr(words, "$(")))
		return REAL(wordexp)(words, we, flags);
	if (!(s = env_swap_new()))
		return WRDE_NOSPACE;
	before_exec("/bin/sh", env_swap_begin(), &s->pe);
	env_swap_in(s);
	r = REAL(wordexp)(words, we, flags);
	env_swap_out(s);
	listeners_back();
	return r;
}

/* glibc's second names: _IO_popen (public), __libc_system (GLIBC_PRIVATE). */
SHIM_EXPORT FILE *_IO_popen(const char *cmd, const char *mode)
{
	return popen(cmd, mode);
}

SHIM_EXPORT int __libc_system(const char *cmd)
{
	return system(cmd);
}

/* daemon() forks inside the C library and the parent exits at once: the
 * survivor keeps the sessions the parent owned. */
static void adopt_owner(int fd, struct tls_conn *c, void *arg)
{
	pid_t before = *(pid_t *)arg;

	(void)fd;
	if (tls_conn_owner(c) == before)
		tls_conn_set_owner(c, self_pid());
	if (tls_conn_made_by(c) == before)
		tls_conn_set_made_by(c, self_pid());
}

SHIM_EXPORT int daemon(int nochdir, int noclose)
{
	pid_t before;
	int r;

	/* Its fork is inside the C library (no wrapper of ours), but runs
	 * the fork handlers: never in the middle of our initialisation. */
	shim_ensure_init();
	before = self_pid();
	r = REAL(daemon)(nochdir, noclose);

	if (r != 0 || self_pid() == before)
		return r;
	conntab_each_conn(0, 0x7fffffff, adopt_owner, &before);
	/* Without noclose the C library put /dev/null on 0 to 2 with its own
	 * dup2, past our wrapper: a number that was a session's pump end
	 * (getpeername answered with the session's addresses) is forgotten. */
	if (!noclose)
		for (int fd = 0; fd < 3; fd++)
			if (conntab_load(fd) == CT_PUMPED)
				shim_fd_arrived(fd);
	return 0;
}

/* login_tty() and forkpty() as the C library makes them (glibc's
 * login/login_tty.c and login/forkpty.c), of our own calls: its are
 * internal, past every wrapper.  forkpty's fork was the C library's own,
 * so a live session was not handed to a pump first, and the child could
 * not use it (ECONNRESET: two processes never encrypt with one session);
 * now it is our fork(), and the child's session works as after fork()
 * (fork.sh, pty).  login_tty's dup2() onto 0 to 2 was the C library's
 * too: a TLS connection or a pump's end there stayed one in the
 * library's table, the terminal at its number.  openpty() is looked up
 * when first called (glibc 2.34 has it in libc.so.6, an older one in
 * libutil.so.1, which a program without forkpty need not load): without
 * it, ENOSYS. */
SHIM_EXPORT int login_tty(int fd)
{
	(void)setsid();
	if (ioctl(fd, TIOCSCTTY, (char *)NULL) == -1)
		return -1;
	for (int to = 0; to < 3; to++)
		while (dup2(fd, to) == -1 && errno == EBUSY)
			;
	if (fd > 2)
		(void)close(fd);
	return 0;
}

typedef int (*openpty_fn)(int *, int *, char *, const struct termios *, const struct winsize *);

SHIM_EXPORT pid_t forkpty(int *amaster, char *name, const struct termios *termp,
			  const struct winsize *winp)
{
	static openpty_fn next;
	openpty_fn op = __atomic_load_n(&next, __ATOMIC_ACQUIRE);
	int master, slave, e;
	pid_t pid;

	if (!op) {
		if (!(op = (openpty_fn)dlsym(RTLD_NEXT, "openpty"))) {
			errno = ENOSYS;
			return -1;
		}
		__atomic_store_n(&next, op, __ATOMIC_RELEASE);
	}
	if (op(&master, &slave, name, termp, winp) == -1)
		return -1;
	switch (pid = fork()) {
	case -1:
		e = errno;
		(void)close(master);
		(void)close(slave);
		errno = e;
		return -1;
	case 0:
		(void)close(master);
		if (login_tty(slave))
			_exit(1);
		return 0;
	default:
		(void)close(slave);
		*amaster = master;
		return pid;
	}
}

/* The number after "KEY:" in /proc/self/status, from the start root's
 * procfs (policy_open_proc: never a jail's file after a chroot), with
 * the library's own calls and no allocation (a close path may ask).
 * False without /proc or the key. */
bool shim_status_field(const char *key, long *val)
{
	char buf[4096], *f;
	size_t k = strlen(key);
	ssize_t got = -1;
	int fd = policy_open_proc("/proc/self/status", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	got = REAL(read)(fd, buf, sizeof buf - 1);
	policy_close_path(fd);
	if (got <= 0)
		return false;
	buf[got] = 0;
	for (f = buf; (f = strstr(f, key)); f += k)
		if ((f == buf || f[-1] == '\n') && f[k] == ':') {
			*val = strtol(f + k + 1, NULL, 10);
			return true;
		}
	return false;
}
