/* errq_client — a program that uses OpenSSL's error queue itself (as
 * curl, redis or Python do) and talks plain TCP, which the shim makes TLS.
 * It checks that the library leaves its errors as it left them.
 *
 *   errq_client PORT N
 *
 * Two threads, each with a connection to 127.0.0.1:PORT (an echo server)
 * and errors of its own queued:
 *   1. an error queued before connect(): still there, alone, after the
 *      handshake and one round trip of 32 bytes;
 *   2. with the queue empty, N round trips; then the same with an error
 *      queued before them (the library must notice it is no longer empty);
 *   3. an error queued between two round trips: still there after the
 *      second.
 * The second thread queues and clears errors all the time while the first
 * runs its round trips (another thread's pushes are not this thread's).
 * With preload_errpeek.so loaded after the library, step 2 prints how
 * often the library asked OpenSSL about this thread's queue:
 *   "peeks T empty=A queued=B rounds=N"  (T: thread 1 or 2)
 * Prints "errq ok" and exits 0 when every check passed; each failure is
 * printed ("FAILCHECK ...") and the exit status is 1.
 *
 *   errq_client PORT N uncounted
 * One thread, one connection and a round trip; then an error queued
 * through libcrypto's ERR_new taken with dlsym on libcrypto's own handle
 * (as .NET's crypto shim does; the library hands out its own ERR_new
 * there, shim/dlsym.c, so the push is counted); then N round trips on
 * it, and a second connection with N round trips, which must all work.
 * Prints "uncounted error kept" or "uncounted error lost" (before the
 * library wrapped dlsym: a push it did not count), then "errq ok".
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#define MSG 32

static int port, rounds;
static atomic_int failures;
static atomic_bool stop_noise;

#define CHECK(t, cond)                                                          \
	do {                                                                    \
		if (!(cond)) {                                                  \
			printf("FAILCHECK thread %d line %d: %s\n", t, __LINE__, #cond); \
			fflush(stdout);                                         \
			failures++;                                             \
		}                                                               \
	} while (0)

static unsigned long peeks(void)
{
	static unsigned long (*f)(void);

	if (!f)
		f = (unsigned long (*)(void))dlsym(RTLD_DEFAULT, "errpeek_calls");
	return f ? f() : 0;
}

static int dial(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		perror("errq_client: connect");
		exit(2);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

/* One round trip of MSG bytes; 0 on success. */
static int round_trip(int fd, int i)
{
	char out[MSG], in[MSG];
	size_t got = 0;

	memset(out, 'a' + i % 26, sizeof out);
	if (write(fd, out, sizeof out) != (ssize_t)sizeof out)
		return -1;
	while (got < sizeof in) {
		ssize_t n = read(fd, in + got, sizeof in - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return memcmp(in, out, sizeof in) ? -1 : 0;
}

/* The queue holds exactly the one error `e`. */
static int only(unsigned long e)
{
	return ERR_peek_error() == e && ERR_peek_last_error() == e;
}

static void *run(void *arg)
{
	int t = (int)(long)arg, fd, bad = 0;
	unsigned long mine, p0, empty, queued;

	/* 1. queued before connect: the handshake runs in our calls */
	ERR_clear_error();
	ERR_raise(ERR_LIB_EVP, EVP_R_BAD_DECRYPT);
	mine = ERR_peek_error();
	fd = dial();
	CHECK(t, round_trip(fd, 0) == 0);
	CHECK(t, only(mine));

	/* 2. round trips with the queue empty, then with an error queued */
	ERR_clear_error();
	p0 = peeks();
	for (int i = 0; i < rounds; i++)
		bad += round_trip(fd, i) != 0;
	empty = peeks() - p0;
	ERR_raise(ERR_LIB_SSL, SSL_R_BAD_LENGTH);
	mine = ERR_peek_error();
	p0 = peeks();
	for (int i = 0; i < rounds; i++)
		bad += round_trip(fd, i) != 0;
	queued = peeks() - p0;
	CHECK(t, bad == 0);
	CHECK(t, only(mine));
	printf("peeks %d empty=%lu queued=%lu rounds=%d\n", t, empty, queued, rounds);

	/* 3. queued between two round trips */
	ERR_clear_error();
	CHECK(t, round_trip(fd, 1) == 0);
	ERR_raise(ERR_LIB_X509, X509_R_CERT_ALREADY_IN_HASH_TABLE);
	mine = ERR_peek_error();
	CHECK(t, round_trip(fd, 2) == 0);
	CHECK(t, only(mine));
	ERR_clear_error();
	close(fd);
	return NULL;
}

/* A push through libcrypto's own handle (once not counted). */
static void *uncounted(void *arg)
{
	void *h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
	void (*new_)(void) = h ? (void (*)(void))dlsym(h, "ERR_new") : NULL;
	void (*set)(int, int, const char *, ...) =
		h ? (void (*)(int, int, const char *, ...))dlsym(h, "ERR_set_error") : NULL;
	int fd, fd0, bad = 0;
	unsigned long mine;

	(void)arg;
	CHECK(0, new_ && set);
	if (!new_ || !set)
		return NULL;
	/* A first connection: the library has seen this thread's queue
	 * empty, and counts from there. */
	ERR_clear_error();
	fd0 = dial();
	CHECK(0, round_trip(fd0, 0) == 0);
	new_();
	set(ERR_LIB_EVP, EVP_R_BAD_DECRYPT, NULL);
	mine = ERR_peek_error();
	CHECK(0, mine != 0);
	/* Round trips on it, and a second connection's handshake (which
	 * raises and withdraws errors of its own) and round trips. */
	for (int i = 0; i < rounds; i++)
		bad += round_trip(fd0, i) != 0;
	fd = dial();
	for (int i = 0; i < rounds; i++)
		bad += round_trip(fd, i) != 0;
	CHECK(0, bad == 0);
	printf("uncounted error %s\n", only(mine) ? "kept" : "lost");
	close(fd);
	close(fd0);
	ERR_clear_error();
	return NULL;
}

/* Pushes and clears on another thread while thread 1 runs. */
static void *noise(void *arg)
{
	(void)arg;
	for (long i = 0; i < 10000000 && !atomic_load(&stop_noise); i++) {
		ERR_raise(ERR_LIB_EVP, EVP_R_BAD_DECRYPT);
		if (i % 3 == 0)
			ERR_clear_error();
		else
			(void)ERR_get_error();
	}
	ERR_clear_error();
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t2, tn;

	if (argc != 3 && !(argc == 4 && strcmp(argv[3], "uncounted") == 0)) {
		fprintf(stderr, "usage: errq_client PORT N [uncounted]\n");
		return 2;
	}
	port = atoi(argv[1]);
	rounds = atoi(argv[2]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4) {
		uncounted(NULL);
		if (failures)
			return 1;
		printf("errq ok\n");
		return 0;
	}
	pthread_create(&tn, NULL, noise, NULL);
	pthread_create(&t2, NULL, run, (void *)2L);
	run((void *)1L);
	pthread_join(t2, NULL);
	atomic_store(&stop_noise, true);
	pthread_join(tn, NULL);
	if (failures)
		return 1;
	printf("errq ok\n");
	return 0;
}
