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
 * Exits 0 when every service ended with status 0.
 */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "fc_common.h"

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	const char *mode;
	char greeting[256];
	int ls, n, one = 1, bad = 0;

	if (argc != 5) {
		fprintf(stderr, "usage: fc_inetd execle|spawn|execveat|sysexecveat PORT N SENTINEL\n");
		return 2;
	}
	mode = argv[1];
	n = atoi(argv[3]);
	snprintf(greeting, sizeof greeting, "GREETING=%s service greeting", argv[4]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm(60);
	a.sin_port = htons((unsigned short)atoi(argv[2]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 16) < 0) {
		printf("listen: %s\n", fc_err(errno));
		return 1;
	}
	printf("listening\n");
	for (int i = 0; i < n; i++) {
		char *env[] = { "PATH=/usr/bin:/bin", greeting, NULL };
		char *sargv[] = { "sh", "-c", "echo \"$GREETING\" >&5; exec cat <&5 >&5", NULL };
		int c = accept(ls, NULL, NULL), st;
		pid_t pid;

		if (c < 0) {
			printf("accept: %s\n", fc_err(errno));
			return 1;
		}
		if (!strcmp(mode, "spawn")) {
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
		printf("service %d: %s %d\n", i, WIFEXITED(st) ? "exit" : "signal",
		       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			bad++;
	}
	return bad ? 1 : 0;
}
