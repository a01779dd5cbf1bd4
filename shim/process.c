/* shim/process.c — sessions across exec() and exit().
 *
 * exec: the new image knows nothing of the old one's sessions, so at
 * start-up the shim adopts inherited connected TCP sockets the policy
 * names (inetd style: the socket on fds 0 and 1; socket activation).  A
 * session the old image never used simply starts here, lazily, on first
 * use.  One the old image already used cannot be continued: the new
 * handshake then fails and the I/O errors out, but nothing is ever
 * written in clear.  fds that share one socket share one session.
 *
 * exit: sessions this process owns and has not closed get their
 * close_notify, as the program's close would have sent.
 */
#include <dirent.h>
#include <errno.h>
#include <spawn.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "shim/shim.h"

#define ADOPT_MAX 64

struct adopted {
	ino_t ino;
	struct tls_conn *c;
};

static struct tls_conn *adopt_one(int fd)
{
	const struct policy *p = shim_policy;
	const struct policy_rule *rule;
	struct sockaddr_storage local, peer;
	socklen_t ll = sizeof local, pl = sizeof peer;
	int listening = 0;
	socklen_t l = sizeof listening;
	enum tls_role role;
	char desc[96], name[256];

	if (!shim_is_tcp(fd) ||
	    REAL(getsockopt)(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l) < 0 || listening ||
	    getsockname(fd, (struct sockaddr *)&local, &ll) < 0 ||
	    getpeername(fd, (struct sockaddr *)&peer, &pl) < 0 ||
	    (local.ss_family != AF_INET && local.ss_family != AF_INET6))
		return NULL;
	shim_format_addr((struct sockaddr *)&peer, desc, sizeof desc);
	if ((rule = policy_match(p, POLICY_ACCEPT, (struct sockaddr *)&local, ll))) {
		role = TLS_ROLE_SERVER;
	} else if ((rule = policy_match(p, POLICY_CONNECT, (struct sockaddr *)&peer, pl))) {
		role = TLS_ROLE_CLIENT;
	} else {
		return NULL;
	}
	if (rule->action == POLICY_PLAIN)
		return NULL;
	if (rule->action == POLICY_DENY) {
		log_warn("%s rule \"%s\": inherited connection on fd %d refused by policy"
			 " (action = \"deny\")", desc, rule->name, fd);
		(void)REAL(shutdown)(fd, SHUT_RDWR);
		return NULL;
	}
	if (role == TLS_ROLE_CLIENT) {
		if (rule->server_name)
			snprintf(name, sizeof name, "%s", rule->server_name);
		else
			shim_default_name((struct sockaddr *)&peer, name, sizeof name);
	}
	log_info("%s rule \"%s\": inherited fd %d becomes a TLS %s connection (handshake on first use)",
		 desc, rule->name, fd, role == TLS_ROLE_SERVER ? "server" : "client");
	return tls_conn_new(fd, rule, role, role == TLS_ROLE_CLIENT ? name : NULL, desc);
}

void shim_adopt_inherited(void)
{
	struct adopted seen[ADOPT_MAX];
	int nseen = 0;
	DIR *d;
	struct dirent *e;

	if (!shim_policy || !shim_policy->nrules || !(d = opendir("/proc/self/fd")))
		return;
	while ((e = readdir(d))) {
		struct stat st;
		struct tls_conn *c = NULL;
		char *end;
		long fd = strtol(e->d_name, &end, 10);

		if (*end || fd < 0 || fd == dirfd(d) || fstat((int)fd, &st) < 0 || !S_ISSOCK(st.st_mode))
			continue;
		for (int i = 0; i < nseen; i++)
			if (seen[i].ino == st.st_ino)
				c = seen[i].c;
		if (c) {                    /* another fd of an adopted socket */
			tls_conn_ref(c);
			if (tls_conn_fd_add(c, (int)fd) < 0 || conntab_attach((int)fd, c) < 0)
				tls_conn_unref(c);
			continue;
		}
		if (nseen == ADOPT_MAX || !(c = adopt_one((int)fd)))
			continue;
		{
			/* Far from the numbers programs expect (0, 1, 2, ...). */
			int priv = REAL(fcntl)((int)fd, F_DUPFD_CLOEXEC, 512);
			if (priv < 0)
				priv = REAL(fcntl)((int)fd, F_DUPFD_CLOEXEC, 3);
			if (priv >= 0)
				tls_conn_use_private_fd(c, priv);
		}
		if (conntab_attach((int)fd, c) < 0) {
			tls_conn_unref(c);
			continue;
		}
		seen[nseen].ino = st.st_ino;
		seen[nseen++].c = c;
	}
	closedir(d);
	/* An inetd service may use stdio on fds 0-2, which bypasses every
	 * wrapper: those sessions go through a pump from the start. */
	for (int i = 0; i < nseen; i++) {
		int fds[8], n = tls_conn_fds(seen[i].c, fds, 8);
		for (int j = 0; j < n; j++)
			if (fds[j] <= 2) {
				(void)shim_pump(seen[i].c);
				break;
			}
	}
}

/* _exit() and _Exit() skip atexit handlers, but the contract says a
 * process that owns open sessions still ends them with close_notify. */
static void close_notify_owned(void)
{
	size_t high = conntab_high();
	pid_t me = getpid();

	for (size_t fd = 0; fd < high; fd++) {
		struct tls_conn *c;
		if (conntab_maybe((int)fd) && (c = conntab_get((int)fd))) {
			if (tls_conn_owner(c) == me && tls_conn_handshake_done(c) && !tls_conn_failed(c)) {
				/* As close() does: take in records the program never
				 * sees (tickets), so the exit is not answered by a RST. */
				(void)tls_conn_poll_read(c);
				(void)tls_conn_close_notify(c);
			}
			tls_conn_unref(c);
		}
	}
}

SHIM_EXPORT void _exit(int status)
{
	if (shim_policy)
		close_notify_owned();
	REAL(_exit)(status);
}

SHIM_EXPORT void _Exit(int status)
{
	if (shim_policy)
		close_notify_owned();
	REAL(_Exit)(status);
}

/* Registered with atexit() after OpenSSL set up its own exit handler, so
 * this runs first, while OpenSSL still works.  _exit() skips atexit, so it
 * has its own wrapper (close_notify_owned, above). */
static void close_notify_at_exit(void)
{
	shim_release_fds(0, 0x7fffffff, true);
}

void shim_exit_handler_install(void)
{
	atexit(close_notify_at_exit);
}

/* ---- fork, exec, daemon ------------------------------------------------ */

/* A live session kept by two processes would be encrypted by both: before
 * fork it moves to a pump, which both then share through a plaintext
 * socket.  Sessions not started yet (the lazy server handshake) stay: the
 * first process to use one owns it (the classic forking server). */
SHIM_EXPORT pid_t fork(void)
{
	if (shim_policy)
		shim_pump_live(false);
	return REAL(fork)();
}

/* vfork's child may only exec or _exit; a real fork serves it exactly,
 * and our wrappers are not safe on a borrowed stack and memory. */
SHIM_EXPORT pid_t vfork(void)
{
	return fork();
}

SHIM_EXPORT pid_t _Fork(void)
{
	if (shim_policy)
		shim_pump_live(false);
	return REAL(_Fork)();
}

/* A program that execs keeps its non-CLOEXEC fds: live sessions on them
 * go to a pump, so the new image inherits a plaintext socket. */
static void before_exec(void)
{
	if (shim_policy)
		shim_pump_live(true);
}

SHIM_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	before_exec();
	return REAL(execve)(path, argv, envp);
}

SHIM_EXPORT int execv(const char *path, char *const argv[])
{
	before_exec();
	return REAL(execv)(path, argv);
}

SHIM_EXPORT int execvp(const char *file, char *const argv[])
{
	before_exec();
	return REAL(execvp)(file, argv);
}

SHIM_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	before_exec();
	return REAL(execvpe)(file, argv, envp);
}

SHIM_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	before_exec();
	return REAL(fexecve)(fd, argv, envp);
}

/* execl, execlp, execle: collect the arguments, then as above. */
#define EXECL_MAX 4096
#define COLLECT(first, ap, argv, n, ok) do {                              \
		(argv)[0] = (char *)(first);                               \
		for ((n) = 1; (argv)[(n) - 1] && (n) < EXECL_MAX; (n)++)   \
			(argv)[(n)] = va_arg((ap), char *);                \
		(ok) = !(argv)[(n) - 1];                                    \
	} while (0)

SHIM_EXPORT int execl(const char *path, const char *arg, ...)
{
	char *argv[EXECL_MAX];
	va_list ap;
	int n;
	bool ok;

	va_start(ap, arg);
	COLLECT(arg, ap, argv, n, ok);
	va_end(ap);
	if (!ok) {
		errno = E2BIG;
		return -1;
	}
	return execv(path, argv);
}

SHIM_EXPORT int execlp(const char *file, const char *arg, ...)
{
	char *argv[EXECL_MAX];
	va_list ap;
	int n;
	bool ok;

	va_start(ap, arg);
	COLLECT(arg, ap, argv, n, ok);
	va_end(ap);
	if (!ok) {
		errno = E2BIG;
		return -1;
	}
	return execvp(file, argv);
}

SHIM_EXPORT int execle(const char *path, const char *arg, ...)
{
	char *argv[EXECL_MAX];
	char *const *envp;
	va_list ap;
	int n;
	bool ok;

	va_start(ap, arg);
	COLLECT(arg, ap, argv, n, ok);
	envp = va_arg(ap, char *const *);
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
	before_exec();
	return REAL(posix_spawn)(pid, path, fa, attr, argv, envp);
}

SHIM_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			     const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	before_exec();
	return REAL(posix_spawnp)(pid, file, fa, attr, argv, envp);
}

SHIM_EXPORT int system(const char *cmd)
{
	before_exec();
	return REAL(system)(cmd);
}

SHIM_EXPORT FILE *popen(const char *cmd, const char *mode)
{
	before_exec();
	return REAL(popen)(cmd, mode);
}

/* daemon() forks inside the C library and the parent exits at once: the
 * survivor keeps the sessions the parent owned. */
SHIM_EXPORT int daemon(int nochdir, int noclose)
{
	pid_t before = getpid();
	int r = REAL(daemon)(nochdir, noclose);
	size_t high;

	if (r != 0 || getpid() == before)
		return r;
	high = conntab_high();
	for (size_t fd = 0; fd < high; fd++) {
		struct tls_conn *c;
		if (conntab_maybe((int)fd) && (c = conntab_get((int)fd))) {
			if (tls_conn_owner(c) == before)
				tls_conn_set_owner(c, getpid());
			tls_conn_unref(c);
		}
	}
	return 0;
}
