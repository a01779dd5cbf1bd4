/* tests/tools/wiremark.c — the end-of-capture marker of tests/tools/nsrun.sh.
 *
 *   wiremark MARK
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
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	static char filler[60000];
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9) };
	int s, i, sent = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: wiremark MARK\n");
		return 2;
	}
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		perror("wiremark: socket");
		return 1;
	}
	if (sendto(s, argv[1], strlen(argv[1]), 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
		perror("wiremark: sendto");
		return 1;
	}
	for (i = 0; i < 16; i++)
		if (sendto(s, filler, sizeof(filler), 0, (struct sockaddr *)&to, sizeof(to)) > 0)
			sent++;
	close(s);
	/* The marker went out; the filler only makes it arrive sooner. */
	if (sent == 0)
		fprintf(stderr, "wiremark: no filler datagram was sent\n");
	return 0;
}
