/* waiter_pool — threads that end, a fork, more threads.
 *
 *   waiter_pool HOST PORT
 * Three connections to HOST:PORT (a server that sends nothing), one after
 * another, each made and used by a thread of its own: write a line, then
 * a blocking read with SO_RCVTIMEO of 50 ms, which must time out (EAGAIN),
 * then close; the thread is joined before the next step:
 *   1. thread A in this process;
 *   2. fork(); in the child, thread B; the child exits 0 when B's read
 *      timed out as it should;
 *   3. thread C in this process, after the child ended.
 * Prints "tid X TID" from each thread, "A ok", "B ok", "C ok" and "pids
 * PARENT CHILD"; exits 0 when all three did.  Knows nothing about TLS.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *host, *port;

static void *exchange(void *arg)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	struct timeval tv = { .tv_sec = 0, .tv_usec = 50000 };
	const char *line = arg;
	size_t len = strlen(line);
	char buf[64];
	ssize_t r;
	int fd;

	/* Who this thread is, for the test's strace: "tid A 1234". */
	printf("tid %c %d\n", line[12], (int)gettid());
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return NULL;
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		freeaddrinfo(ai);
		return NULL;
	}
	freeaddrinfo(ai);
	if (write(fd, line, len) != (ssize_t)len ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
		return NULL;
	r = read(fd, buf, sizeof buf);
	close(fd);
	return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? (void *)1 : NULL;
}

static int in_thread(const char *line)
{
	pthread_t t;
	void *ok = NULL;

	if (pthread_create(&t, NULL, exchange, (void *)line) != 0)
		return 0;
	pthread_join(t, &ok);
	return ok != NULL;
}

int main(int argc, char **argv)
{
	int st = 1;
	pid_t pid;

	if (argc != 3) {
		fprintf(stderr, "usage: waiter_pool HOST PORT\n");
		return 2;
	}
	host = argv[1];
	port = argv[2];
	setvbuf(stdout, NULL, _IONBF, 0);
	if (!in_thread("from thread A\n"))
		return 1;
	printf("A ok\n");
	pid = fork();
	if (pid == 0)
		_exit(in_thread("from thread B\n") ? 0 : 1);
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return 1;
	printf("B ok\n");
	if (!in_thread("from thread C\n"))
		return 1;
	printf("C ok\npids %d %d\n", (int)getpid(), (int)pid);
	return 0;
}
