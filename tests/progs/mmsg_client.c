/* mmsg_client — sendmmsg() three messages, then recvmmsg() the echo.
 *
 *   mmsg_client HOST PORT
 * Prints "sent N msgs, echoed: <text>"; then sends 1024 one-byte
 * messages from a vector of 1024 that ends where an unmapped page begins,
 * with a count of 2^20 (the kernel takes at most 1024 a call and reads no
 * further): "count 2^20: sent N, echoed M"; then the end of the stream.
 * Exits non-zero on error.
 * Knows nothing about TLS.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	const char *parts[3] = { "alpha-", "beta-", "gamma" };
	struct iovec siov[3], riov[3];
	struct mmsghdr sm[3], rm[3];
	char rbuf[3][64], all[256] = "";
	size_t want = 0, got = 0;
	int fd, n;

	if (argc != 3 || getaddrinfo(argv[1], argv[2], &hints, &res) != 0)
		return 64;
	fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
		perror("mmsg_client: connect");
		return 2;
	}
	memset(sm, 0, sizeof sm);
	for (int i = 0; i < 3; i++) {
		siov[i] = (struct iovec){ (void *)parts[i], strlen(parts[i]) };
		sm[i].msg_hdr.msg_iov = &siov[i];
		sm[i].msg_hdr.msg_iovlen = 1;
		want += strlen(parts[i]);
	}
	n = sendmmsg(fd, sm, 3, 0);
	if (n != 3) {
		fprintf(stderr, "mmsg_client: sendmmsg: %d %s\n", n, strerror(errno));
		return 3;
	}
	while (got < want) {
		memset(rm, 0, sizeof rm);
		for (int i = 0; i < 3; i++) {
			riov[i] = (struct iovec){ rbuf[i], sizeof rbuf[i] - 1 };
			rm[i].msg_hdr.msg_iov = &riov[i];
			rm[i].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(fd, rm, 3, MSG_WAITFORONE, NULL);
		if (n <= 0) {
			fprintf(stderr, "mmsg_client: recvmmsg: %d %s\n", n, strerror(errno));
			return 4;
		}
		for (int i = 0; i < n; i++) {
			rbuf[i][rm[i].msg_len] = 0;
			strncat(all, rbuf[i], sizeof all - strlen(all) - 1);
			got += rm[i].msg_len;
		}
	}
	printf("sent %d msgs, echoed: %s\n", 3, all);
	{
		size_t vec = 1024 * sizeof(struct mmsghdr), pg = (size_t)sysconf(_SC_PAGESIZE);
		size_t span = (vec + pg - 1) / pg * pg;
		char *map = mmap(NULL, span + pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct mmsghdr *big;
		static struct iovec one = { "x", 1 };
		char echo[1024];
		size_t back = 0;

		if (map == MAP_FAILED || mprotect(map + span, pg, PROT_NONE) < 0) {
			perror("mmsg_client: mmap");
			return 6;
		}
		big = (struct mmsghdr *)(void *)(map + span - vec);
		memset(big, 0, vec);
		for (int i = 0; i < 1024; i++) {
			big[i].msg_hdr.msg_iov = &one;
			big[i].msg_hdr.msg_iovlen = 1;
		}
		n = sendmmsg(fd, big, 1u << 20, 0);
		while (n > 0 && back < (size_t)n) {
			ssize_t r = read(fd, echo, (size_t)n - back);
			if (r <= 0)
				break;
			back += (size_t)r;
		}
		printf("count 2^20: sent %d, echoed %zu\n", n, back);
	}
	/* The end of the stream, as the kernel gives it to recvmmsg: every
	 * message of the vector empty, the count the vector's length. */
	if (shutdown(fd, SHUT_WR) < 0) {
		perror("mmsg_client: shutdown");
		return 5;
	}
	for (int i = 0; i < 3; i++)
		rm[i].msg_len = 99;
	n = recvmmsg(fd, rm, 3, 0, NULL);
	printf("at eof: %d msgs, lengths %u %u %u\n", n, rm[0].msg_len, rm[1].msg_len, rm[2].msg_len);
	close(fd);
	return 0;
}
