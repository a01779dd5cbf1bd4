/* khfork — fork() from a signal handler that interrupted a key-holder
 * request (tests/launcher/keyholder.sh).
 *
 *   khfork PORT
 *
 * Run under the launcher with a key_holder accept rule on PORT, and the
 * holder stopped (SIGSTOP) before a client connects.  The main thread
 * accepts one connection and echoes one read (the handshake, and so the
 * request to the holder, happen in it).  A thread finds the library's
 * connection to the holder (a connected SOCK_SEQPACKET unix socket among
 * /proc/self/fd), prints "holder connection N" and sends SIGUSR1 to the
 * main thread, which is waiting for the holder's answer: the handler
 * forks, and the child exits 1 if it has that connection (the same socket
 * at number N), 0 if not.  The thread prints "fork: child has N" or
 * "fork: child has not N", then "ready" (let the holder go now).  The
 * main thread then prints "echoed N" (the parent's request and handshake
 * went on).  "no connection to the holder seen" after 20 s.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static pthread_t main_thread;
static char hpath[64], hlink[64];
static volatile sig_atomic_t kid;

static void on_usr1(int sig)
{
	char l[64];
	ssize_t n;
	pid_t p;

	(void)sig;
	p = fork();
	if (p == 0) {
		n = readlink(hpath, l, sizeof l);
		_exit(n > 0 && (size_t)n == strlen(hlink) && memcmp(l, hlink, (size_t)n) == 0);
	}
	kid = p > 0 ? p : -1;
}

/* Is inode (as text) a connected SOCK_SEQPACKET unix socket? */
static int seqpacket_connected(const char *ino)
{
	char line[512], num[32], path[256];
	unsigned long rc, proto, flags, type, st, inode;
	FILE *f = fopen("/proc/net/unix", "r");
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof line, f)) {
		path[0] = '\0';
		if (sscanf(line, "%31s %lx %lx %lx %lx %lx %lu %255s", num, &rc, &proto, &flags, &type, &st, &inode,
			   path) >= 7 && type == 5 && st == 3 && inode == strtoul(ino, NULL, 10))
			found = 1;
	}
	fclose(f);
	return found;
}

static void *watch(void *arg)
{
	struct timespec t0, now, ms10 = { 0, 10000000 };
	int status;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		DIR *d = opendir("/proc/self/fd");
		struct dirent *e;

		while (d && (e = readdir(d))) {
			char p[64], l[64];
			ssize_t n;

			snprintf(p, sizeof p, "/proc/self/fd/%.32s", e->d_name);
			n = readlink(p, l, sizeof l - 1);
			if (n <= 8)
				continue;
			l[n] = '\0';
			if (strncmp(l, "socket:[", 8) != 0)
				continue;
			l[n - 1] = '\0';
			if (!seqpacket_connected(l + 8))
				continue;
			l[n - 1] = ']';
			memcpy(hpath, p, sizeof hpath);
			memcpy(hlink, l, sizeof hlink);
			closedir(d);
			printf("holder connection %s\n", hpath + strlen("/proc/self/fd/"));
			fflush(stdout);
			pthread_kill(main_thread, SIGUSR1);
			while (!kid)
				nanosleep(&ms10, NULL);
			if (kid > 0 && waitpid(kid, &status, 0) == kid && WIFEXITED(status))
				printf("fork: child has %s%s\n", WEXITSTATUS(status) ? "" : "not ",
				       hpath + strlen("/proc/self/fd/"));
			else
				printf("fork: failed\n");
			printf("ready\n");
			fflush(stdout);
			return NULL;
		}
		if (d)
			closedir(d);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > 20)
			break;
		nanosleep(&ms10, NULL);
	}
	printf("no connection to the holder seen\n");
	fflush(stdout);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a;
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	char buf[100];
	int ls, c;
	ssize_t n;
	pthread_t t;

	if (argc != 2) {
		fprintf(stderr, "usage: khfork PORT\n");
		return 64;
	}
	a = loopback4(atoi(argv[1]));
	sigaction(SIGUSR1, &sa, NULL);
	main_thread = pthread_self();
	ls = tcp_listen(&a, 0, 4);
	if (ls < 0) {
		perror("khfork: bind");
		return 1;
	}
	if (pthread_create(&t, NULL, watch, NULL) != 0)
		return 1;
	printf("listening\n");
	fflush(stdout);
	c = accept(ls, NULL, NULL);
	while ((n = read(c, buf, sizeof buf)) < 0 && errno == EINTR)
		;
	pthread_join(t, NULL);
	if (n > 0)
		while (write(c, buf, (size_t)n) < 0 && errno == EINTR)
			;
	printf("echoed %zd\n", n);
	fflush(stdout);
	close(c);
	return 0;
}
