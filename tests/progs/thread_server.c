/* thread_server — a threaded TCP echo server: one thread per connection,
 * blocking read()/write(), the thread closes its connection at end of data.
 *
 *   thread_server PORT CONNS   (exits after CONNS connections were served)
 * Prints "listening" once bound; exit status 0 when every connection
 * ended with end of data (read returned 0) and every write succeeded,
 * 1 otherwise (each failure is printed on stderr).
 * Knows nothing about TLS.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "common.h"

static atomic_int bad;

static void *serve(void *arg)
{
	int c = (int)(long)arg;
	char buf[16384];
	ssize_t r;

	while ((r = read(c, buf, sizeof buf)) > 0 || (r < 0 && errno == EINTR))
		if (r > 0 && write_all(c, buf, (size_t)r) < 0) {
			fprintf(stderr, "thread_server: write: %s\n", strerror(errno));
			atomic_fetch_add(&bad, 1);
			break;
		}
	if (r < 0) {
		fprintf(stderr, "thread_server: read: %s\n", strerror(errno));
		atomic_fetch_add(&bad, 1);
	}
	if (close(c) < 0) {
		fprintf(stderr, "thread_server: close: %s\n", strerror(errno));
		atomic_fetch_add(&bad, 1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a;
	int ls, n;
	pthread_t *th;

	if (argc != 3) {
		fprintf(stderr, "usage: thread_server PORT CONNS\n");
		return 64;
	}
	a = loopback4(atoi(argv[1]));
	n = atoi(argv[2]);
	if (n <= 0 || !(th = calloc((size_t)n, sizeof *th)))
		return 64;
	ls = tcp_listen(&a, 0, 64);
	if (ls < 0) {
		perror("thread_server: bind/listen");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	for (int i = 0; i < n; i++) {
		int c = accept(ls, NULL, NULL);
		if (c < 0) {
			perror("thread_server: accept");
			return 1;
		}
		if (pthread_create(&th[i], NULL, serve, (void *)(long)c) != 0) {
			fprintf(stderr, "thread_server: pthread_create failed\n");
			return 1;
		}
	}
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	close(ls);
	printf("served %d\n", n);
	return atomic_load(&bad) ? 1 : 0;
}
