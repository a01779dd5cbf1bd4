/* stacktop — how far below the top of a new thread's stack the thread's
 * own function starts: what the C library's thread block and the static
 * thread-local storage of every library loaded at start (LD_PRELOAD's
 * among them) take of each thread's stack, before the program's first
 * frame.  Every frame of the thread lies that much deeper, so the bytes
 * count against the stack pages a new thread touches.
 *
 *   stacktop    prints "depth N" (bytes from the top of the thread's
 *               stack to a local of its start function), for a thread
 *               that makes a socket first (a library may set itself up
 *               on it) and then a second one, made after it.
 * Plain libc and pthreads: knows nothing about TLS or the library.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

static void *probe(void *arg)
{
	volatile char here = 0;
	pthread_attr_t at;
	void *low;
	size_t size;

	if (pthread_getattr_np(pthread_self(), &at) != 0 || pthread_attr_getstack(&at, &low, &size) != 0)
		return (void *)-1;
	pthread_attr_destroy(&at);
	*(intptr_t *)arg = (intptr_t)((uintptr_t)low + size - (uintptr_t)&here);
	(void)here;
	return NULL;
}

static int depth(intptr_t *d)
{
	pthread_t th;
	void *ret = NULL;

	return pthread_create(&th, NULL, probe, d) == 0 && pthread_join(th, &ret) == 0 && !ret ? 0 : -1;
}

int main(void)
{
	intptr_t d1 = 0, d2 = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd >= 0)
		close(fd);
	if (depth(&d1) < 0 || depth(&d2) < 0) {
		fprintf(stderr, "stacktop: cannot make or measure a thread\n");
		return 1;
	}
	printf("depth %ld %ld\n", (long)d1, (long)d2);
	return 0;
}
