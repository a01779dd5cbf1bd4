/* spawn_attack — a TLS client (through the shim) that spawns or forks in
 * ways the plain exec and fork tests do not: posix_spawn file actions
 * that move, close or replace the session's descriptor, spawn flags, a
 * child without the library, system()/popen() while another thread uses
 * the connection, openpty() onto a number a session just left, forkpty()
 * with the session on fd 0, and a vfork() child that writes.
 *
 *   spawn_attack HOST PORT CASE
 *
 * Every case but "fresh-*" first exchanges "one" with the echo peer (a
 * live session).  Cases whose child uses the connection make it write
 * "child" (a shell's printf on the number it got) and report on a pipe;
 * the parent then exchanges "two" and closes.  Prints "first: one",
 * what the child reported ("child: ..."), "second: ..." (or the reads of
 * the reader thread, "reader: ...").  The test (tests/preload/spawn_fa.sh)
 * holds the peer's decrypted record against it: one, child, two, and a
 * clean close_notify.  Knows nothing about TLS.
 *
 * Cases:
 *   dup2-0        adddup2(fd, 0), adddup2(fd, 1): the child's stdout is
 *                 the connection (environ: the child runs the library)
 *   dup2-0-nopre  the same, LD_PRELOAD removed from the child's envp
 *   dup2-7        adddup2(fd, 7) of a close-on-exec fd, no LD_PRELOAD
 *   dup2-self     adddup2(fd, fd) of a close-on-exec fd (glibc clears
 *                 FD_CLOEXEC in the child), no LD_PRELOAD
 *   fresh-nopre   no exchange first, spawn without LD_PRELOAD, the child
 *                 inherits fd as is and is the first to write on it (a
 *                 client's handshake is made at connect: a live session)
 *   fresh-dup2    as fresh-nopre with adddup2(fd, 0), adddup2(fd, 1)
 *   srv-nopre     (spawn_attack ADDR PORT srv-nopre) listen, accept two
 *                 connections onto 8 and 9 (the lazy server handshake:
 *                 9's is not started at the spawn), spawn sh without
 *                 LD_PRELOAD, which reads a line on each and writes it
 *                 back; prints "listening", then "child: done"
 *   srv-dup2      the same, 9 dup2'd onto 0 and 1 by file actions
 *   addclose      addclose(fd): the child has no such number (it tries)
 *   addopen       addopen(fd, "/dev/null"): the child's write there goes
 *                 to /dev/null, not the peer
 *   closefrom     addclosefrom_np(3): the child has no such number
 *   fchdir        addfchdir(/bin) and the program "./sh", no LD_PRELOAD
 *   setsid        POSIX_SPAWN_SETSID|POSIX_SPAWN_RESETIDS, no LD_PRELOAD
 *   system-read   a thread blocked reading the connection while the main
 *                 thread runs system() whose shell writes "child" on it
 *   popen-write   a thread writing 200 lines "w" while popen()'s shell
 *                 writes "child"
 *   popen-bulk    popen() while another thread writes 64 times 16 KiB
 *                 (the peer only records: tlspeer.py --mode record)
 *   system-race   two threads' system() calls overlapping, the first to
 *                 start ends first; then environ must be the program's
 *                 array again, and getenv() find PATH
 *   system-setenv a thread's system() under way (its shell waits) while
 *                 the main thread calls setenv() (glibc copies the
 *                 library's array, TLSSHIM_PUMPED in it); after the call
 *                 the program's environ must hold the variable set and
 *                 no TLSSHIM_PUMPED (before h222 that entry pointed into
 *                 the call's freed array: ASan's heap-use-after-free)
 *   openpty       close(fd), then openpty() (a number lands on fd's):
 *                 a line through the terminal both ways
 *   forkpty-0     dup2(fd, 0): forkpty()'s child (login_tty puts the
 *                 terminal on 0-2) runs; the parent's fd 0 goes on
 *   vfork         vfork(): the child writes "child" with write() and
 *                 _exit()s
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <pty.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

extern char **environ;

static int fd, closefrom_after;

/* environ without LD_PRELOAD (nopre: a program without the library). */
static char **env_for(int nopre)
{
	static char *e[512];
	int n = 0;

	for (char **p = environ; *p && n < 510; p++)
		if (!nopre || strncmp(*p, "LD_PRELOAD=", 11))
			e[n++] = *p;
	e[n] = NULL;
	return e;
}

/* Run sh -c SCRIPT with the actions and flags; its stderr on a pipe, which
 * is printed ("child: ..." lines the script writes). */
static int spawn_sh(const char *prog, const char *script, posix_spawn_file_actions_t *fa,
		    short flags, int nopre)
{
	posix_spawnattr_t at;
	char *argv[] = { "sh", "-c", (char *)script, NULL };
	int rep[2], st, r;
	pid_t pid;
	char buf[512];
	ssize_t n;

	if (pipe(rep) < 0)
		return -1;
	posix_spawnattr_init(&at);
	if (flags)
		posix_spawnattr_setflags(&at, flags);
	posix_spawn_file_actions_adddup2(fa, rep[1], 2);
	if (closefrom_after)
		posix_spawn_file_actions_addclosefrom_np(fa, 3);
	r = posix_spawn(&pid, prog, fa, &at, argv, env_for(nopre));
	close(rep[1]);
	if (r) {
		printf("spawn: %s\n", strerror(r));
		close(rep[0]);
		return -1;
	}
	while ((n = read(rep[0], buf, sizeof buf)) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	fflush(stdout);
	close(rep[0]);
	waitpid(pid, &st, 0);
	return 0;
}

/* The child's script: write "child" on number N, read the echo line from
 * it, report both on stderr. */
static void script_rw(char *buf, size_t len, int n)
{
	snprintf(buf, len,
		 "if printf 'child\\n' >&%d; then IFS= read -r l <&%d; echo \"child: $l\" >&2;"
		 " else echo 'child: no fd' >&2; fi", n, n);
}

static void *reader(void *arg)
{
	char buf[256], all[512] = "";
	size_t used = 0;

	(void)arg;
	while (used < sizeof all - 1 && !strstr(all, "two\n")) {
		ssize_t r = read(fd, buf, sizeof buf);

		if (r <= 0) {
			printf("reader: %s\n", r < 0 ? strerror(errno) : "eof");
			return NULL;
		}
		if ((size_t)r > sizeof all - 1 - used)
			r = (ssize_t)(sizeof all - 1 - used);
		memcpy(all + used, buf, (size_t)r);
		used += (size_t)r;
		all[used] = 0;
	}
	for (char *p = all, *nl; (nl = strchr(p, '\n')); p = nl + 1)
		printf("reader: %.*s\n", (int)(nl - p), p);
	return NULL;
}

static void *writer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 200; i++)
		if (write(fd, "w\n", 2) != 2) {
			printf("writer: %s\n", strerror(errno));
			break;
		}
	return NULL;
}

/* 64 writes of 16 KiB: 16383 times the letter 'a' + i % 26, then a
 * newline (the peer only records). */
static void *bulk_writer(void *arg)
{
	static char chunk[16384];

	(void)arg;
	for (int i = 0; i < 64; i++) {
		size_t off = 0;

		memset(chunk, 'a' + i % 26, sizeof chunk - 1);
		chunk[sizeof chunk - 1] = '\n';
		while (off < sizeof chunk) {
			ssize_t w = write(fd, chunk + off, sizeof chunk - off);

			if (w <= 0) {
				printf("bulk writer: %s\n", w < 0 ? strerror(errno) : "0");
				return NULL;
			}
			off += (size_t)w;
		}
	}
	return NULL;
}

/* system-race: a thread's system() whose shell says it runs (a byte on
 * race_rdy) and waits for the end of its release pipe. */
static int race_rdy[2], race_rel[2][2];

static void *held_system(void *arg)
{
	int k = (int)(long)arg;
	char cmd[128];

	snprintf(cmd, sizeof cmd, "echo >&%d; read x <&%d; exit 0", race_rdy[1], race_rel[k][0]);
	if (system(cmd) != 0)
		printf("system %d: failed\n", k);
	return NULL;
}

/* Wait (bounded, 10 s) until thread t sleeps (state S in /proc). */
static void wait_sleeping(pid_t tid)
{
	char path[64], buf[256];

	snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
	for (int i = 0; i < 10000; i++) {
		FILE *f = fopen(path, "r");
		char *p;

		if (f) {
			size_t n = fread(buf, 1, sizeof buf - 1, f);

			fclose(f);
			buf[n] = 0;
			if ((p = strrchr(buf, ')')) && p[1] == ' ' && p[2] == 'S')
				return;
		}
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
}

static pid_t reader_tid;
static void *reader_top(void *arg)
{
	__atomic_store_n(&reader_tid, gettid(), __ATOMIC_RELEASE);
	return reader(arg);
}

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	posix_spawn_file_actions_t fa;
	const char *c;
	char s[512];
	int fresh;

	if (argc != 4 || getaddrinfo(argv[1], argv[2], &hints, &res) != 0)
		return 64;
	c = argv[3];
	if (!strncmp(c, "srv-", 4)) {
		int l = socket(res->ai_family, SOCK_STREAM, 0), one = 1;

		setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(l, res->ai_addr, res->ai_addrlen) < 0 || listen(l, 2) < 0)
			return 2;
		printf("listening\n");
		fflush(stdout);
		/* Two connections, on 8 and 9: at a spawn the library completes
		 * the handshake of the lowest inherited session (to name the
		 * peer to the new program: shim/peerenv.c), so 8's starts;
		 * 9's is not started at the spawn. */
		for (int k = 8; k <= 9; k++) {
			int a = accept(l, NULL, NULL);

			if (a < 0 || (a != k && (dup2(a, k) < 0 || close(a) < 0)))
				return 2;
		}
		close(l);
		posix_spawn_file_actions_init(&fa);
		if (!strcmp(c, "srv-dup2")) {
			posix_spawn_file_actions_adddup2(&fa, 9, 0);
			posix_spawn_file_actions_adddup2(&fa, 9, 1);
			spawn_sh("/bin/sh", "IFS= read -r l <&8; printf '%s\\n' \"$l\" >&8;"
				 " IFS= read -r l; printf '%s\\n' \"$l\"; echo 'child: done' >&2",
				 &fa, 0, 1);
		} else {
			spawn_sh("/bin/sh", "IFS= read -r l <&8; printf '%s\\n' \"$l\" >&8;"
				 " IFS= read -r l <&9; printf '%s\\n' \"$l\" >&9;"
				 " echo 'child: done' >&2", &fa, 0, 1);
		}
		posix_spawn_file_actions_destroy(&fa);
		close(8);
		close(9);
		return 0;
	}
	fresh = !strncmp(c, "fresh-", 6);
	fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
		perror("spawn_attack: connect");
		return 2;
	}
	/* On 8: away from 0-2 and from 7 (a number the cases use), below 10
	 * (dash takes one digit in ">&N").  Not for openpty, which must find
	 * the number the session leaves the lowest free one. */
	if (strcmp(c, "openpty") && fd != 8) {
		if (dup2(fd, 8) < 0)
			return 2;
		close(fd);
		fd = 8;
	}
	if (!fresh && strcmp(c, "popen-bulk") && exchange_line(fd, stdout, "one\n", "first") < 0)
		return 3;
	posix_spawn_file_actions_init(&fa);
	if (!strcmp(c, "dup2-0") || !strcmp(c, "dup2-0-nopre") || !strcmp(c, "fresh-dup2")) {
		posix_spawn_file_actions_adddup2(&fa, fd, 0);
		posix_spawn_file_actions_adddup2(&fa, fd, 1);
		script_rw(s, sizeof s, 1);
		spawn_sh("/bin/sh", s, &fa, 0, strcmp(c, "dup2-0") != 0);
	} else if (!strcmp(c, "dup2-7")) {
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		posix_spawn_file_actions_adddup2(&fa, fd, 7);
		script_rw(s, sizeof s, 7);
		spawn_sh("/bin/sh", s, &fa, 0, 1);
	} else if (!strcmp(c, "dup2-self")) {
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		posix_spawn_file_actions_adddup2(&fa, fd, fd);
		script_rw(s, sizeof s, fd);
		spawn_sh("/bin/sh", s, &fa, 0, 1);
	} else if (!strcmp(c, "fresh-nopre") || !strcmp(c, "setsid")) {
		script_rw(s, sizeof s, fd);
		spawn_sh("/bin/sh", s, &fa,
			 *c == 's' ? POSIX_SPAWN_SETSID | POSIX_SPAWN_RESETIDS : 0, 1);
	} else if (!strcmp(c, "addclose") || !strcmp(c, "addopen") || !strcmp(c, "closefrom")) {
		if (*c == 'c')
			closefrom_after = 1;   /* after spawn_sh's dup2 onto 2 */
		else if (!strcmp(c, "addclose"))
			posix_spawn_file_actions_addclose(&fa, fd);
		else
			posix_spawn_file_actions_addopen(&fa, fd, "/dev/null", O_WRONLY, 0);
		snprintf(s, sizeof s, "if { printf 'leak\\n' >&%d; } 2>/dev/null;"
			 " then echo 'child: wrote' >&2;"
			 " else echo 'child: no fd' >&2; fi", fd);
		spawn_sh("/bin/sh", s, &fa, 0, 1);
	} else if (!strcmp(c, "fchdir")) {
		int d = open("/bin", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		posix_spawn_file_actions_addfchdir_np(&fa, d);
		script_rw(s, sizeof s, fd);
		spawn_sh("./sh", s, &fa, 0, 1);
		close(d);
	} else if (!strcmp(c, "system-read") || !strcmp(c, "popen-write")) {
		pthread_t t;
		int rd = *c == 's';

		pthread_create(&t, NULL, rd ? reader_top : writer, NULL);
		if (rd) {
			while (!__atomic_load_n(&reader_tid, __ATOMIC_ACQUIRE))
				sched_yield();
			wait_sleeping(reader_tid);
			snprintf(s, sizeof s, "printf 'child\\n' >&%d", fd);
			printf("system: %d\n", system(s));
		} else {
			FILE *p;

			snprintf(s, sizeof s, "printf 'child\\n' >&%d && echo ok", fd);
			p = popen(s, "r");
			printf("popen: %s", p && fgets(s, sizeof s, p) ? s : "failed\n");
			if (p)
				pclose(p);
		}
		fflush(stdout);
		if (rd) {
			if (write(fd, "two\n", 4) != 4)
				printf("second write: %s\n", strerror(errno));
			pthread_join(t, NULL);
		} else {
			char buf[4096];
			size_t got = 0;

			pthread_join(t, NULL);
			/* 200 "w\n" and "child\n" come back, in some order */
			while (got < 406) {
				ssize_t r = read(fd, buf, sizeof buf);

				if (r <= 0)
					break;
				got += (size_t)r;
			}
			printf("echoed: %zu\n", got);
			if (exchange_line(fd, stdout, "two\n", "second") < 0)
				printf("second: %s\n", strerror(errno));
		}
		fflush(stdout);
		close(fd);
		return 0;
	} else if (!strcmp(c, "popen-bulk")) {
		pthread_t t;
		FILE *p;

		pthread_create(&t, NULL, bulk_writer, NULL);
		snprintf(s, sizeof s, "printf 'child\\n' >&%d && echo ok", fd);
		p = popen(s, "r");
		printf("popen: %s", p && fgets(s, sizeof s, p) ? s : "failed\n");
		if (p)
			pclose(p);
		pthread_join(t, NULL);
		if (write(fd, "two\n", 4) != 4)
			printf("second write: %s\n", strerror(errno));
		fflush(stdout);
		close(fd);
		return 0;
	} else if (!strcmp(c, "system-race")) {
		char **before = environ, *path = getenv("PATH"), b;
		pthread_t t[2];

		/* close-on-exec but for the ends the shells use, all below 10 */
		if (pipe2(race_rdy, O_CLOEXEC) || pipe2(race_rel[0], O_CLOEXEC) ||
		    pipe2(race_rel[1], O_CLOEXEC))
			return 5;
		fcntl(race_rdy[1], F_SETFD, 0);
		fcntl(race_rel[0][0], F_SETFD, 0);
		fcntl(race_rel[1][0], F_SETFD, 0);
		path = path ? strdup(path) : NULL;
		/* A's call starts, then B's; A's ends, then B's. */
		for (long k = 0; k < 2; k++) {
			pthread_create(&t[k], NULL, held_system, (void *)k);
			if (read(race_rdy[0], &b, 1) != 1)
				return 6;
		}
		close(race_rel[0][1]);
		pthread_join(t[0], NULL);
		close(race_rel[1][1]);
		pthread_join(t[1], NULL);
		printf("environ: %s\n", environ == before ? "the program's" : "another array");
		b = path && getenv("PATH") && !strcmp(getenv("PATH"), path);
		printf("PATH: %s\n", b ? "same" : "changed");
		free(path);
	} else if (!strcmp(c, "system-setenv")) {
		pthread_t t;
		char b;
		int kept = 0;

		if (pipe2(race_rdy, O_CLOEXEC) || pipe2(race_rel[0], O_CLOEXEC))
			return 5;
		fcntl(race_rdy[1], F_SETFD, 0);
		fcntl(race_rel[0][0], F_SETFD, 0);
		pthread_create(&t, NULL, held_system, (void *)0L);
		if (read(race_rdy[0], &b, 1) != 1)
			return 6;
		/* the shell runs: environ is the library's array for the call */
		setenv("H222_SET", "during", 1);
		close(race_rel[0][1]);
		pthread_join(t, NULL);
		for (char **p = environ; *p; p++)
			if (!strncmp(*p, "TLSSHIM_PUMPED=", 15))
				kept++;
		printf("pumped entries: %d\n", kept);
		printf("H222_SET: %s\n", getenv("H222_SET") ? getenv("H222_SET") : "(none)");
	} else if (!strcmp(c, "openpty")) {
		int m, sl, old = fd;
		char buf[64];
		ssize_t n;
		struct termios tio;

		close(fd);
		if (openpty(&m, &sl, NULL, NULL, NULL) < 0) {
			printf("openpty: %s\n", strerror(errno));
			return 5;
		}
		tcgetattr(sl, &tio);
		cfmakeraw(&tio);
		tcsetattr(sl, TCSANOW, &tio);
		if (m != old && sl != old)
			printf("pty: not on %d (%d, %d)\n", old, m, sl);
		n = write(m, "to slave\n", 9);
		n = n == 9 ? read(sl, buf, sizeof buf - 1) : -1;
		buf[n > 0 ? n : 0] = 0;
		printf("pty slave read: %s", n > 0 ? buf : "failed\n");
		n = write(sl, "to master\n", 10);
		n = n == 10 ? read(m, buf, sizeof buf - 1) : -1;
		buf[n > 0 ? n : 0] = 0;
		printf("pty master read: %s", n > 0 ? buf : "failed\n");
		return 0;
	} else if (!strcmp(c, "forkpty-0")) {
		int m, st;
		pid_t pid;

		if (dup2(fd, 0) < 0)
			return 5;
		close(fd);
		fd = 0;
		pid = forkpty(&m, NULL, NULL, NULL);
		if (pid == 0) {
			/* fd 0 is the terminal now: a write there is no TLS */
			_exit(write(0, "tty\n", 4) == 4 ? 0 : 1);
		}
		if (pid < 0)
			return 5;
		waitpid(pid, &st, 0);
		printf("child: exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		close(m);
	} else if (!strcmp(c, "vfork")) {
		int st;
		pid_t pid = vfork();

		if (pid == 0)
			_exit(write(fd, "child\n", 6) == 6 ? 0 : 1);
		if (pid < 0)
			return 5;
		waitpid(pid, &st, 0);
		printf("child: exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		{
			char buf[64];
			ssize_t n = read(fd, buf, sizeof buf - 1);

			buf[n > 0 ? n : 0] = 0;
			printf("echo: %s", n > 0 ? buf : "none\n");
		}
	} else {
		return 64;
	}
	posix_spawn_file_actions_destroy(&fa);
	if (exchange_line(fd, stdout, "two\n", "second") < 0)
		printf("second: %s\n", strerror(errno));
	fflush(stdout);
	close(fd);
	return 0;
}
