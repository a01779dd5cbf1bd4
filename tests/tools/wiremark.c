/* tests/tools/wiremark.c — the end-of-capture marker of tests/tools/nsrun.sh.
 *
 *   wiremark MARK [FILE MS]
 *
 * Sends MARK in one UDP datagram to 127.0.0.1 port 9, then 16 datagrams of
 * 60,000 zero bytes after it.  tcpdump (libpcap's TPACKET_V3 ring) hands a
 * block of packets over when the block is full or after its timeout, about
 * a second: the filler fills the marker's block at once, so the marker
 * reaches the capture file in milliseconds instead of that second, at
 * the end of each of the suite's tests.  An unconnected socket: the ICMP
 * "port unreachable" that answers each datagram does not fail the next
 * send (as it does with bash's /dev/udp, a connected socket).  The audit
 * reads TCP only; these datagrams are not audited.
 *
 * With FILE and MS: then waits until MARK is in FILE (the capture, which
 * tcpdump only appends to), at most MS milliseconds, reading only what
 * was appended since the marker was sent, and since the last look,
 * every 5 ms: exit 0 when it is there,
 * 1 when it is not by then (nsrun.sh's "marker-missing").  This wait was a
 * tail, a grep and a sleep forked every 50 ms.  Exit 2: usage, or the
 * marker could not be sent.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../progs/waitproc.h"

/* 1 when MARK is in FILE past *from (updated: where the next look starts,
 * far enough back that a mark cut by the end of this read is found). */
static int mark_in(const char *path, const char *mark, long long *from)
{
	static char buf[1 << 16];
	size_t mlen = strlen(mark), have = 0;
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && st.st_size < *from)
		*from = 0;              /* rewritten: from the start */
	if (fseeko(f, *from, SEEK_SET) != 0) {
		fclose(f);
		return 0;
	}
	for (;;) {
		size_t got = fread(buf + have, 1, sizeof buf - have, f);
		if (got == 0)
			break;
		have += got;
		if (memmem(buf, have, mark, mlen)) {
			fclose(f);
			return 1;
		}
		/* keep the last mlen - 1 bytes: a mark across two reads */
		size_t keep = have < mlen ? have : mlen - 1;
		*from += (long long)(have - keep);
		memmove(buf, buf + have - keep, keep);
		have = keep;
	}
	fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	static char filler[60000];
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9) };
	int s, i, sent = 0;
	char *end = NULL;
	long long ms = argc == 4 ? strtoll(argv[3], &end, 10) : 0;

	if ((argc != 2 && argc != 4) || argv[1][0] == 0 || (end && (*end || ms < 0))) {
		fprintf(stderr, "usage: wiremark MARK [FILE MS]\n");
		return 2;
	}
	/* The marker cannot be in what the file holds before it is sent:
	 * the looks start there (a capture can be gigabytes long). */
	long long from = 0;
	struct stat before;
	if (argc == 4 && stat(argv[2], &before) == 0)
		from = before.st_size;
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		perror("wiremark: socket");
		return 2;
	}
	if (sendto(s, argv[1], strlen(argv[1]), 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
		perror("wiremark: sendto");
		return 2;
	}
	for (i = 0; i < 16; i++)
		if (sendto(s, filler, sizeof(filler), 0, (struct sockaddr *)&to, sizeof(to)) > 0)
			sent++;
	close(s);
	/* The marker went out; the filler only makes it arrive sooner. */
	if (sent == 0)
		fprintf(stderr, "wiremark: no filler datagram was sent\n");
	if (argc == 2)
		return 0;
	long long deadline = now_ms() + ms;
	for (;;) {
		if (mark_in(argv[2], argv[1], &from))
			return 0;
		if (!pause_until(deadline, 5))
			return 1;
	}
}
