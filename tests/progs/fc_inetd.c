/* fc_inetd — an inetd of our own: accept, then start a service with the
 * connection on fd 5 (not 0-2) and a clean environment (no LD_PRELOAD:
 * the service image never loads the shim).
 *
 *   fc_inetd MODE PORT N SENTINEL
 *
 * Listens on 127.0.0.1:PORT and serves N connections one after the
 * other.  The service is
 *     /bin/sh -c 'echo "$GREETING" >&5; exec cat <&5 >&5'
 * with GREETING="SENTINEL service greeting": it greets, then echoes.
 * MODE says how it starts:
 *   execle     fork, dup2 the connection to 5, execle() with the clean env
 *   spawn      posix_spawn() with a dup2-to-5 file action and the clean env
 *   execveat   fork, dup2 to 5, execveat(AT_FDCWD, "/bin/sh", ...) (glibc 2.34+)
 *   sysexecveat  the same through syscall(SYS_execveat, ...)
 *   spawn-cloexec  accept4(SOCK_CLOEXEC), posix_spawn() with the dup2-to-5
 *              file action: the child gets a copy the parent's fd flag
 *              does not show
 *   spawn-chdir  posix_spawn("./svc") with the environment kept (the shim
 *              named) and an addchdir_np($FC_CHDIR) file action, from
 *              $FC_HERE: ./svc there is a script that would run the shim,
 *              $FC_CHDIR/svc a static program that does not
 *   dupenv     fork, dup2 to 5, execve() of /bin/sh with LD_PRELOAD naming
 *              the shim, then LD_PRELOAD= again (the loader takes the last)
 *   clonevm    dup2 to 5, then clone(CLONE_VM|CLONE_VFORK) whose child
 *              execve()s /bin/sh with the clean environment
 *   euid2      fork, dup2 to 5, set the effective uid to 65534 (the real
 *              one stays 0: root, as squid's master before it starts its
 *              kids), execve() of /bin/sh with the environment kept (the
 *              shim named): the kernel runs it in secure-execution mode,
 *              where the loader ignores LD_PRELOAD ("euid: unavailable:
 *              ..." when not root); the connection second (below)
 *   proccwd    posix_spawn("/proc/self/cwd/svc") from $FC_HERE with an
 *              addchdir_np($FC_CHDIR) file action (an absolute path that
 *              the chdir moves), the environment kept
 *   procfd-open  posix_spawn("/proc/self/fd/9") with an addopen(9,
 *              $FC_CHDIR/svc) file action, the environment kept
 *   spawnp-rel posix_spawnp("svc") with PATH=rel:$FC_HERE and an
 *              addchdir_np($FC_CHDIR) file action: the parent finds the
 *              script in $FC_HERE, the child $FC_CHDIR/rel/svc
 *   spawn-chdir2, dupenv2  as spawn-chdir and dupenv, but each service's
 *              (proccwd, procfd-open, spawnp-rel and euid2 too)
 *              connection comes second: a first one is accepted before it
 *              and left unused (the lowest inherited TLS fd, whose
 *              handshake the exec completes to name the peer), and closed
 *              when the service has ended
 * Exits 0 when every service ended with status 0.
 */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "fc_common.h"

extern char **environ;

/* clonevm's child: the clean environment's shell, as the others. */
struct vm_start {
	char **argv, **env;
};

static int vm_child(void *p)
{
	const struct vm_start *v = p;

	execve("/bin/sh", v->argv, v->env);
	_exit(127);
}

static char vm_stack[1 << 16] __attribute__((aligned(16)));

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	const char *mode;
	char greeting[256];
	int ls, n, bad = 0;

	if (argc != 5) {
		fprintf(stderr, "usage: fc_inetd execle|spawn|execveat|sysexecveat|spawn-cloexec|spawn-chdir|"
			"dupenv|clonevm|euid2|spawn-chdir2|dupenv2|proccwd|procfd-open|spawnp-rel PORT N SENTINEL\n");
		return 2;
	}
	if (getenv("FC_HERE") && chdir(getenv("FC_HERE")) < 0) {
		printf("chdir: %s\n", fc_err(errno));
		return 1;
	}
	mode = argv[1];
	n = atoi(argv[3]);
	snprintf(greeting, sizeof greeting, "GREETING=%s service greeting", argv[4]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	fc_alarm(60);
	a.sin_port = htons((unsigned short)atoi(argv[2]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ls = tcp_listen(&a, SOCK_CLOEXEC, 16);
	if (ls < 0) {
		printf("listen: %s\n", fc_err(errno));
		return 1;
	}
	printf("listening\n");
	for (int i = 0; i < n; i++) {
		char *env[] = { "PATH=/usr/bin:/bin", greeting, NULL };
		char *sargv[] = { "sh", "-c", "echo \"$GREETING\" >&5; exec cat <&5 >&5", NULL };
		bool second = !strcmp(mode, "spawn-chdir2") || !strcmp(mode, "dupenv2") || !strcmp(mode, "proccwd") ||
			      !strcmp(mode, "euid2") ||
			      !strcmp(mode, "procfd-open") || !strcmp(mode, "spawnp-rel");
		int first = second ? accept(ls, NULL, NULL) : -1;
		int c = (first >= 0 ? printf("holder accepted\n") : 0,
			 accept4(ls, NULL, NULL, !strcmp(mode, "spawn-cloexec") ? SOCK_CLOEXEC : 0)), st;
		pid_t pid;

		if (c < 0) {
			printf("accept: %s\n", fc_err(errno));
			return 1;
		}
		if (!strcmp(mode, "proccwd") || !strcmp(mode, "procfd-open") || !strcmp(mode, "spawnp-rel") ||
		    !strncmp(mode, "spawn-chdir", 11)) {
			/* The environment kept, the greeting added. */
			char *kept[256], *av[] = { "svc", NULL }, p[600], pathvar[700];
			size_t k = 0;
			posix_spawn_file_actions_t fa;
			int r;

			if (!strcmp(mode, "spawnp-rel")) {
				snprintf(pathvar, sizeof pathvar, "rel:%s", getenv("FC_HERE"));
				setenv("PATH", pathvar, 1);
			}
			for (char **e = environ; *e && k < 254; e++)
				kept[k++] = *e;
			kept[k++] = greeting;
			kept[k] = NULL;
			posix_spawn_file_actions_init(&fa);
			posix_spawn_file_actions_adddup2(&fa, c, 5);
			if (!strcmp(mode, "procfd-open")) {
				snprintf(p, sizeof p, "%s/svc", getenv("FC_CHDIR"));
				close(9);
				posix_spawn_file_actions_addopen(&fa, 9, p, O_RDONLY, 0);
				r = posix_spawn(&pid, "/proc/self/fd/9", &fa, NULL, av, kept);
			} else {
				posix_spawn_file_actions_addchdir_np(&fa, getenv("FC_CHDIR"));
				r = !strcmp(mode, "spawnp-rel") ? posix_spawnp(&pid, "svc", &fa, NULL, av, kept)
				    : posix_spawn(&pid, !strcmp(mode, "proccwd") ? "/proc/self/cwd/svc" : "./svc", &fa,
						  NULL, av, kept);
			}
			posix_spawn_file_actions_destroy(&fa);
			if (r != 0) {
				printf("posix_spawn failed: %s\n", fc_err(r));
				return 1;
			}
		} else if (!strncmp(mode, "dupenv", 6)) {
			char pre[600], cfg[600];
			char *denv[] = { pre, cfg, greeting, "PATH=/usr/bin:/bin", "LD_PRELOAD=", NULL };

			snprintf(pre, sizeof pre, "LD_PRELOAD=%s", getenv("LD_PRELOAD") ? getenv("LD_PRELOAD") : "");
			snprintf(cfg, sizeof cfg, "TLSSHIM_CONFIG=%s",
				 getenv("TLSSHIM_CONFIG") ? getenv("TLSSHIM_CONFIG") : "");
			pid = fork();
			if (pid == 0) {
				if (c != 5) {
					dup2(c, 5);
					close(c);
				}
				execve("/bin/sh", sargv, denv);
				_exit(127);
			}
		} else if (!strcmp(mode, "euid2")) {
			char *kept[256];
			size_t k = 0;

			for (char **e = environ; *e && k < 254; e++)
				kept[k++] = *e;
			kept[k++] = greeting;
			kept[k] = NULL;
			if (getuid() != 0) {
				printf("euid: unavailable: not root\n");
				return 1;
			}
			pid = fork();
			if (pid == 0) {
				if (c != 5) {
					dup2(c, 5);
					close(c);
				}
				if (setresuid((uid_t)-1, 65534, (uid_t)-1) < 0) {
					printf("euid: unavailable: setresuid: %s\n", fc_err(errno));
					_exit(1);
				}
				execve("/bin/sh", sargv, kept);
				_exit(127);
			}
		} else if (!strcmp(mode, "clonevm")) {
			struct vm_start v = { .argv = sargv, .env = env };

			if (c != 5 && dup2(c, 5) != 5) {
				printf("dup2: %s\n", fc_err(errno));
				return 1;
			}
			pid = clone(vm_child, vm_stack + sizeof vm_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &v);
			if (pid < 0) {
				printf("clone: %s\n", fc_err(errno));
				return 1;
			}
			close(5);
		} else if (!strcmp(mode, "spawn") || !strcmp(mode, "spawn-cloexec")) {
			posix_spawn_file_actions_t fa;
			posix_spawn_file_actions_init(&fa);
			posix_spawn_file_actions_adddup2(&fa, c, 5);
			if (c != 5)
				posix_spawn_file_actions_addclose(&fa, c);
			if (posix_spawn(&pid, "/bin/sh", &fa, NULL, sargv, env) != 0) {
				printf("posix_spawn failed\n");
				return 1;
			}
			posix_spawn_file_actions_destroy(&fa);
		} else {
			pid = fork();
			if (pid == 0) {
				if (c != 5) {
					dup2(c, 5);
					close(c);
				}
				if (!strcmp(mode, "execveat"))
					execveat(AT_FDCWD, "/bin/sh", sargv, env, 0);
				else if (!strcmp(mode, "sysexecveat"))
					syscall(SYS_execveat, AT_FDCWD, "/bin/sh", sargv, env, 0);
				else
					execle("/bin/sh", "sh", "-c", sargv[2], (char *)NULL, env);
				_exit(127);
			}
		}
		close(c);
		{
			double end = fc_now() + 30;
			pid_t r;
			while ((r = waitpid(pid, &st, WNOHANG)) == 0 && fc_now() < end)
				usleep(5000);
			if (r == 0) {
				kill(pid, SIGKILL);
				waitpid(pid, &st, 0);
				printf("service %d: HANG\n", i);
				bad++;
				continue;
			}
		}
		if (first >= 0)
			close(first);
		printf("service %d: %s %d\n", i, WIFEXITED(st) ? "exit" : "signal",
		       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			bad++;
	}
	return bad ? 1 : 0;
}
