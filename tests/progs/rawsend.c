/* tests/progs/rawsend.c — a program with CAP_NET_RAW that crafts its own
 * TCP segments: PAYLOAD in a segment to 127.0.0.1:PORT (or [::1]:PORT)
 * from a raw or packet socket, past the kernel's TCP (and so past any
 * TLS layer over it).  tests/preload/rawsock.sh.
 *
 *   rawsend sniff PAYLOAD MARK MS   (without the library) a packet socket
 *            on lo: "ready", then at the first frame that holds MARK
 *            "seen N" (N frames held PAYLOAD before it) or "clean";
 *            "timeout" after MS ms.
 *   rawsend mark MARK               a UDP datagram MARK to 127.0.0.1:9.
 *   rawsend send MODE PORT PAYLOAD  one crafted segment, one line per step
 *            ("socket: ok", "send: Operation not permitted", ...):
 *      raw4          socket(AF_INET, SOCK_RAW, IPPROTO_TCP), sendto
 *      raw4-vec      the same, connect() then writev()
 *      raw4-hdrincl  socket(AF_INET, SOCK_RAW, IPPROTO_RAW), an IP header
 *      icmp-hdrincl  socket(AF_INET, SOCK_RAW, IPPROTO_ICMP) with
 *                    IP_HDRINCL ("hdrincl"), an IP header of protocol TCP
 *      raw6          socket(AF_INET6, SOCK_RAW, IPPROTO_TCP), sendmmsg
 *      raw6-hdrincl  socket(AF_INET6, SOCK_RAW, IPPROTO_RAW), an IPv6 header
 *      packet        socket(AF_PACKET, SOCK_RAW), an Ethernet frame on lo
 *      packet-dgram  socket(AF_PACKET, SOCK_DGRAM, ETH_P_IP), the IP packet
 *      packet-inet   socket(AF_INET, SOCK_PACKET) (the old interface)
 *      packet-ring   socket(AF_PACKET, SOCK_RAW), PACKET_QDISC_BYPASS
 *                    ("bypass"), a PACKET_TX_RING ("ring"), mapped, one
 *                    frame queued, send(fd, NULL, 0)
 *      inherit       (started with $X_PRELOAD, not under the library) a raw
 *                    IPv4 TCP socket, then exec of itself under the library
 *                    ($X_PRELOAD), which sends on it
 *      inherit-icmp  the same with a raw ICMP socket with IP_HDRINCL on,
 *                    which sends an IP packet of protocol TCP
 *      rawsys        a raw IPv4 TCP socket made by a raw system call
 *                    instruction, then sendto
 *      getfd         a child without the library (LD_PRELOAD removed) makes
 *                    a raw IPv4 TCP socket; this process takes it with
 *                    pidfd_getfd ("getfd") and sends on it
 *      scm           a child without the library (LD_PRELOAD removed) makes
 *                    a raw IPv4 TCP socket and passes it with SCM_RIGHTS
 *                    ("recv"); this process sends on it
 *   rawsend ping | ping6            an ICMP (ICMPv6) echo request on a raw
 *            socket to 127.0.0.1 (::1) and its reply: "ping: ok".
 *   rawsend bpf xdp | tc            BPF_PROG_LOAD of an XDP (SCHED_CLS)
 *            program that passes every packet ("prog_load"); the XDP one
 *            then attached to lo by an rtnetlink RTM_SETLINK with IFLA_XDP
 *            ("xdp_attach").
 *   rawsend bpf xdp-inherit         (started with $X_PRELOAD) an XDP program
 *            loaded before the library; under it, BPF_LINK_CREATE to lo
 *            ("link") and the rtnetlink attach ("xdp_attach").
 *   rawsend bpf xdp-id              a child without the library loads an XDP
 *            program; this process takes it by its id
 *            (BPF_PROG_GET_FD_BY_ID: "get_by_id") and attaches it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* socket(2) by a raw system call instruction (x86-64; elsewhere through
 * syscall(), which the library sees): the fd, or -1 with errno. */
static long raw_socket(long domain, long type, long proto)
{
#if defined(__x86_64__)
	long r;

	__asm__ volatile("syscall" : "=a"(r) : "0"((long)SYS_socket), "D"(domain), "S"(type), "d"(proto)
			 : "rcx", "r11", "memory");
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
#else
	return syscall(SYS_socket, domain, type, proto);
#endif
}

static void step(const char *what, int r)
{
	printf("%s: %s\n", what, r < 0 ? strerror(errno) : "ok");
	fflush(stdout);
}

static uint16_t csum(const void *p, size_t n, uint32_t sum)
{
	const uint8_t *b = p;

	for (; n > 1; n -= 2, b += 2)
		sum += (uint32_t)(b[0] << 8 | b[1]);
	if (n)
		sum += (uint32_t)(b[0] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* A TCP header (PSH|ACK, from port 40000 + pid % 1000) and PAYLOAD at
 * tcp; its length.  The checksum over the pseudo-header of src/dst (4 or
 * 16 bytes each). */
static size_t tcp_seg(uint8_t *tcp, int port, const char *payload, const void *src, const void *dst,
		      size_t alen)
{
	size_t n = strlen(payload), len = 20 + n;
	uint8_t ph[40];
	uint32_t sum = 0;

	memset(tcp, 0, 20);
	tcp[0] = (uint8_t)((40000 + getpid() % 1000) >> 8);
	tcp[1] = (uint8_t)(40000 + getpid() % 1000);
	tcp[2] = (uint8_t)(port >> 8);
	tcp[3] = (uint8_t)port;
	tcp[7] = 1;                     /* seq 1 */
	tcp[11] = 1;                    /* ack 1 */
	tcp[12] = 5 << 4;
	tcp[13] = 0x18;                 /* PSH|ACK */
	tcp[14] = 0xff;                 /* window */
	memcpy(tcp + 20, payload, n);
	memset(ph, 0, sizeof ph);
	memcpy(ph, src, alen);
	memcpy(ph + alen, dst, alen);
	for (size_t i = 0; i < 2 * alen; i += 2)
		sum += (uint32_t)(ph[i] << 8 | ph[i + 1]);
	sum += 6 + (uint32_t)len;
	{
		uint16_t c = csum(tcp, len, sum);
		tcp[16] = (uint8_t)(c >> 8);
		tcp[17] = (uint8_t)c;
	}
	return len;
}

/* An IPv4 packet 127.0.0.1 -> 127.0.0.1 of the segment at buf; its length. */
static size_t ip4_pkt(uint8_t *buf, int port, const char *payload)
{
	struct iphdr *ip = (struct iphdr *)(void *)buf;
	uint32_t lo = htonl(INADDR_LOOPBACK);
	size_t n = tcp_seg(buf + 20, port, payload, &lo, &lo, 4);

	memset(ip, 0, sizeof *ip);
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons((uint16_t)(20 + n));
	ip->ttl = 64;
	ip->protocol = IPPROTO_TCP;
	ip->saddr = ip->daddr = lo;
	ip->check = htons(csum(ip, 20, 0));
	return 20 + n;
}

static size_t ip6_pkt(uint8_t *buf, int port, const char *payload)
{
	struct ip6_hdr *ip = (struct ip6_hdr *)(void *)buf;
	size_t n = tcp_seg(buf + 40, port, payload, &in6addr_loopback, &in6addr_loopback, 16);

	memset(ip, 0, sizeof *ip);
	ip->ip6_flow = htonl(6u << 28);
	ip->ip6_plen = htons((uint16_t)n);
	ip->ip6_nxt = IPPROTO_TCP;
	ip->ip6_hlim = 64;
	ip->ip6_src = ip->ip6_dst = in6addr_loopback;
	return 40 + n;
}

static struct sockaddr_ll lo_ll(int proto)
{
	return (struct sockaddr_ll){ .sll_family = AF_PACKET, .sll_protocol = htons((uint16_t)proto),
				     .sll_ifindex = (int)if_nametoindex("lo"), .sll_halen = ETH_ALEN };
}

/* The raw IPv4 TCP segment on fd (a raw socket of protocol TCP). */
static void send_raw4(int fd, int port, const char *payload)
{
	uint8_t buf[2048];
	uint32_t lo = htonl(INADDR_LOOPBACK);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = lo };
	size_t n = tcp_seg(buf, port, payload, &lo, &lo, 4);

	step("send", (int)sendto(fd, buf, n, 0, (struct sockaddr *)&a, sizeof a));
}

static int ring_send(int fd, int port, const char *payload)
{
	struct tpacket_req req = { .tp_block_size = 4096, .tp_block_nr = 1, .tp_frame_size = 2048,
				   .tp_frame_nr = 2 };
	struct sockaddr_ll ll = lo_ll(ETH_P_ALL);
	int v = TPACKET_V2, one = 1;
	struct tpacket2_hdr *h;
	uint8_t *ring, *data;
	size_t n;

	step("bypass", setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one));
	if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0 ||
	    bind(fd, (struct sockaddr *)&ll, sizeof ll) < 0)
		return -1;
	step("ring", setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof req));
	ring = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (ring == MAP_FAILED)
		return -1;
	h = (struct tpacket2_hdr *)(void *)ring;
	data = ring + TPACKET2_HDRLEN - sizeof(struct sockaddr_ll);
	memset(data, 0, 14);
	data[12] = 0x08;                /* ETH_P_IP */
	n = 14 + ip4_pkt(data + 14, port, payload);
	h->tp_len = (uint32_t)n;
	h->tp_status = TP_STATUS_SEND_REQUEST;
	return (int)send(fd, NULL, 0, 0);
}

/* A child without the library (LD_PRELOAD removed): "rawsend MODE FD"
 * writes a number on FD (*value) and holds what it made until its
 * standard input (*in_w, this end) ends.  Its pid, or -1. */
static pid_t holder(char **argv, const char *mode, int *in_w, long *value)
{
	int in[2], out[2];
	char f[16], line[24];
	ssize_t r;
	pid_t pid;

	*value = -1;
	if (pipe2(in, O_CLOEXEC) < 0 || pipe(out) < 0)
		return -1;
	snprintf(f, sizeof f, "%d", out[1]);
	if ((pid = fork()) == 0) {
		char *env[] = { NULL };

		dup2(in[0], 0);
		close(out[0]);
		execle("/proc/self/exe", argv[0], mode, f, (char *)NULL, env);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if ((r = read(out[0], line, sizeof line - 1)) > 0) {
		line[r] = '\0';
		*value = atol(line);
	}
	close(out[0]);
	*in_w = in[1];
	return pid;
}

static void holder_end(pid_t pid, int in_w)
{
	int st;

	close(in_w);
	if (pid > 0)
		waitpid(pid, &st, 0);
}

/* The holder's side: value on fd, then wait for the end of input. */
static int hold(int fd, long value)
{
	char c;

	dprintf(fd, "%ld\n", value);
	close(fd);
	while (read(0, &c, 1) > 0)
		;
	return 0;
}

static int do_send(const char *mode, int port, const char *payload, char **argv)
{
	uint8_t buf[2048];
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd, one = 1;
	size_t n;

	if (!strcmp(mode, "raw4") || !strcmp(mode, "raw4-vec")) {
		step("socket", fd = socket(AF_INET, SOCK_RAW, IPPROTO_TCP));
		if (fd < 0)
			return 0;
		if (!strcmp(mode, "raw4")) {
			send_raw4(fd, port, payload);
		} else {
			uint32_t lo = a4.sin_addr.s_addr;
			struct iovec iov[2];

			n = tcp_seg(buf, port, payload, &lo, &lo, 4);
			iov[0] = (struct iovec){ buf, 20 };
			iov[1] = (struct iovec){ buf + 20, n - 20 };
			step("connect", connect(fd, (struct sockaddr *)&a4, sizeof a4));
			step("send", (int)writev(fd, iov, 2));
		}
	} else if (!strcmp(mode, "raw4-hdrincl") || !strcmp(mode, "icmp-hdrincl")) {
		bool icmp = !strcmp(mode, "icmp-hdrincl");

		step("socket", fd = socket(AF_INET, SOCK_RAW, icmp ? IPPROTO_ICMP : IPPROTO_RAW));
		if (fd < 0)
			return 0;
		if (icmp && setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof one) < 0) {
			step("hdrincl", -1);    /* (a send now would be ICMP's) */
			return 0;
		}
		n = ip4_pkt(buf, port, payload);
		step("send", (int)sendto(fd, buf, n, 0, (struct sockaddr *)&a4, sizeof a4));
	} else if (!strcmp(mode, "raw6") || !strcmp(mode, "raw6-hdrincl")) {
		bool inc = !strcmp(mode, "raw6-hdrincl");
		struct mmsghdr mm;
		struct iovec iov;

		step("socket", fd = socket(AF_INET6, SOCK_RAW, inc ? IPPROTO_RAW : IPPROTO_TCP));
		if (fd < 0)
			return 0;
		n = inc ? ip6_pkt(buf, port, payload)
			: tcp_seg(buf, port, payload, &in6addr_loopback, &in6addr_loopback, 16);
		iov = (struct iovec){ buf, n };
		memset(&mm, 0, sizeof mm);
		mm.msg_hdr.msg_name = &a6;
		mm.msg_hdr.msg_namelen = sizeof a6;
		mm.msg_hdr.msg_iov = &iov;
		mm.msg_hdr.msg_iovlen = 1;
		step("send", sendmmsg(fd, &mm, 1, 0));
	} else if (!strcmp(mode, "packet") || !strcmp(mode, "packet-dgram") || !strcmp(mode, "packet-inet")) {
		bool dgram = !strcmp(mode, "packet-dgram"), inet = !strcmp(mode, "packet-inet");
		struct sockaddr_ll ll = lo_ll(ETH_P_IP);

		step("socket", fd = inet ? socket(AF_INET, SOCK_PACKET, htons(ETH_P_ALL))
				    : socket(AF_PACKET, dgram ? SOCK_DGRAM : SOCK_RAW, htons(ETH_P_IP)));
		if (fd < 0)
			return 0;
		memset(buf, 0, 14);
		buf[12] = 0x08;
		n = (dgram ? 0 : 14) + ip4_pkt(buf + (dgram ? 0 : 14), port, payload);
		if (inet) {
			struct sockaddr sp = { .sa_family = AF_INET };

			strcpy(sp.sa_data, "lo");
			step("send", (int)sendto(fd, buf, n, 0, &sp, sizeof sp));
		} else {
			step("send", (int)sendto(fd, buf, n, 0, (struct sockaddr *)&ll, sizeof ll));
		}
	} else if (!strcmp(mode, "packet-ring")) {
		step("socket", fd = socket(AF_PACKET, SOCK_RAW, 0));
		if (fd < 0)
			return 0;
		step("send", ring_send(fd, port, payload));
	} else if (!strcmp(mode, "inherit") || !strcmp(mode, "inherit-icmp")) {
		char p[16], f[16];
		const char *pre = getenv("X_PRELOAD");
		bool icmp = !strcmp(mode, "inherit-icmp");

		step("socket", fd = socket(AF_INET, SOCK_RAW, icmp ? IPPROTO_ICMP : IPPROTO_TCP));
		if (fd < 0 || (icmp && setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof one) < 0))
			return 0;
		snprintf(p, sizeof p, "%d", port);
		snprintf(f, sizeof f, "%d", fd);
		if (pre)
			setenv("LD_PRELOAD", pre, 1);
		unsetenv("X_PRELOAD");
		execl("/proc/self/exe", argv[0], icmp ? "inherited-ip" : "inherited", f, p, payload, (char *)NULL);
		perror("exec");
		return 1;
	} else if (!strcmp(mode, "rawsys")) {
		/* made by a raw system call instruction, which no wrapper sees */
		step("socket", fd = (int)raw_socket(AF_INET, SOCK_RAW, IPPROTO_TCP));
		if (fd < 0)
			return 0;
		send_raw4(fd, port, payload);
	} else if (!strcmp(mode, "getfd")) {
		/* taken with pidfd_getfd from a child without the library */
		int in1, pidfd;
		long target;
		pid_t pid = holder(argv, "hold", &in1, &target);

		pidfd = pid < 0 ? -1 : (int)syscall(SYS_pidfd_open, pid, 0);
		step("getfd", fd = pidfd < 0 || target < 0 ? -1 : pidfd_getfd(pidfd, (int)target, 0));
		if (fd >= 0)
			send_raw4(fd, port, payload);
		holder_end(pid, in1);
	} else if (!strcmp(mode, "scm")) {
		int sv[2], st;
		char f[16];
		pid_t pid;
		char cbuf[CMSG_SPACE(sizeof(int))], c;
		struct iovec iov = { &c, 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				    .msg_controllen = sizeof cbuf };

		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
			return 1;
		snprintf(f, sizeof f, "%d", sv[1]);
		if ((pid = fork()) == 0) {
			char *env[] = { NULL };

			close(sv[0]);
			execle("/proc/self/exe", argv[0], "give", f, (char *)NULL, env);
			_exit(127);
		}
		close(sv[1]);
		step("recv", (int)recvmsg(sv[0], &m, 0));
		waitpid(pid, &st, 0);
		if (!CMSG_FIRSTHDR(&m) || CMSG_FIRSTHDR(&m)->cmsg_type != SCM_RIGHTS)
			return 1;
		memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof fd);
		send_raw4(fd, port, payload);
	} else {
		fprintf(stderr, "rawsend: unknown mode %s\n", mode);
		return 2;
	}
	return 0;
}

/* The child of "scm": a raw socket passed on fd. */
static int give(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))], c = 'r';
	struct iovec iov = { &c, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = sizeof cbuf };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_TCP);

	if (fd < 0)
		return 1;
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof fd);
	memcpy(CMSG_DATA(cm), &fd, sizeof fd);
	return sendmsg(sock, &m, 0) == 1 ? 0 : 1;
}

static int sniff(const char *payload, const char *mark, int ms)
{
	struct sockaddr_ll ll = lo_ll(ETH_P_ALL);
	int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)), seen = 0;
	struct timespec t0, t;
	uint8_t buf[65536];

	if (fd < 0 || bind(fd, (struct sockaddr *)&ll, sizeof ll) < 0) {
		perror("sniff");
		return 1;
	}
	puts("ready");
	fflush(stdout);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;
		long left;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
			puts("timeout");
			return 1;
		}
		if ((n = recv(fd, buf, sizeof buf, 0)) <= 0)
			continue;
		if (memmem(buf, (size_t)n, mark, strlen(mark))) {
			if (seen)
				printf("seen %d\n", seen);
			else
				puts("clean");
			return 0;
		}
		if (memmem(buf, (size_t)n, payload, strlen(payload)))
			seen++;
	}
}

static int ping(bool v6)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	uint8_t req[64], buf[2048];
	uint16_t id = (uint16_t)getpid();
	int fd;

	step("socket", fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP));
	if (fd < 0)
		return 1;
	memset(req, 0, sizeof req);
	req[0] = v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
	req[4] = (uint8_t)(id >> 8);
	req[5] = (uint8_t)id;
	req[7] = 1;
	memcpy(req + 8, "tlsshim-ping", 12);
	if (!v6) {
		uint16_t c = csum(req, sizeof req, 0);     /* (ICMPv6's: the kernel's) */
		req[2] = (uint8_t)(c >> 8);
		req[3] = (uint8_t)c;
	}
	if (sendto(fd, req, sizeof req, 0, v6 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a4,
		   v6 ? sizeof a6 : sizeof a4) < 0) {
		step("ping", -1);
		return 1;
	}
	for (int i = 0; i < 50; i++) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;
		uint8_t *icmp;

		if (poll(&p, 1, 10000) <= 0)
			break;
		if ((n = recv(fd, buf, sizeof buf, 0)) <= 0)
			continue;
		icmp = v6 ? buf : buf + (buf[0] & 0xf) * 4;     /* (IPv4: after the IP header) */
		if (icmp + 8 <= buf + n && icmp[0] == (v6 ? ICMP6_ECHO_REPLY : ICMP_ECHOREPLY) &&
		    icmp[4] == (uint8_t)(id >> 8) && icmp[5] == (uint8_t)id) {
			puts("ping: ok");
			return 0;
		}
	}
	puts("ping: no reply");
	return 1;
}

/* ---- XDP and tc programs ---- */

/* A program of type (XDP or SCHED_CLS) that lets every packet pass:
 * its fd, or -1 with errno. */
static int prog_load(unsigned type)
{
	struct bpf_insn insns[2] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = type == BPF_PROG_TYPE_XDP ? 2 : 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr a;

	memset(&a, 0, sizeof a);
	a.prog_type = type;
	a.insns = (uintptr_t)insns;
	a.insn_cnt = 2;
	a.license = (uintptr_t)"GPL";
	return (int)syscall(SYS_bpf, BPF_PROG_LOAD, &a, sizeof a);
}

/* The XDP program prog_fd attached to lo (generic mode) by an rtnetlink
 * RTM_SETLINK with IFLA_XDP, as ip-link(8) does: 0, or -1 with errno. */
static int xdp_netlink(int prog_fd)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
		char attrs[64];
	} req;
	char ans[512];
	struct rtattr *nest, *a;
	unsigned flags = XDP_FLAGS_SKB_MODE;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	ssize_t n;

	if (fd < 0)
		return -1;
	memset(&req, 0, sizeof req);
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof req.ifi);
	req.nh.nlmsg_type = RTM_SETLINK;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	req.ifi.ifi_family = AF_UNSPEC;
	req.ifi.ifi_index = (int)if_nametoindex("lo");
	nest = (struct rtattr *)(void *)((char *)&req + NLMSG_ALIGN(req.nh.nlmsg_len));
	nest->rta_type = NLA_F_NESTED | IFLA_XDP;
	nest->rta_len = RTA_LENGTH(0);
	a = (struct rtattr *)(void *)((char *)nest + nest->rta_len);
	a->rta_type = IFLA_XDP_FD;
	a->rta_len = RTA_LENGTH(sizeof prog_fd);
	memcpy(RTA_DATA(a), &prog_fd, sizeof prog_fd);
	nest->rta_len = (unsigned short)(nest->rta_len + RTA_ALIGN(a->rta_len));
	a = (struct rtattr *)(void *)((char *)nest + nest->rta_len);
	a->rta_type = IFLA_XDP_FLAGS;
	a->rta_len = RTA_LENGTH(sizeof flags);
	memcpy(RTA_DATA(a), &flags, sizeof flags);
	nest->rta_len = (unsigned short)(nest->rta_len + RTA_ALIGN(a->rta_len));
	req.nh.nlmsg_len += RTA_ALIGN(nest->rta_len);
	if (send(fd, &req, req.nh.nlmsg_len, 0) < 0 || (n = recv(fd, ans, sizeof ans, 0)) < 0) {
		close(fd);
		return -1;
	}
	close(fd);
	{
		struct nlmsghdr *h = (struct nlmsghdr *)(void *)ans;
		struct nlmsgerr *e = NLMSG_DATA(h);

		if ((size_t)n < NLMSG_LENGTH(sizeof *e) || h->nlmsg_type != NLMSG_ERROR)
			return errno = EPROTO, -1;
		return e->error ? (errno = -e->error, -1) : 0;
	}
}

/* rawsend bpf xdp | tc | xdp-inherit | xdp-inherited FD */
static int bpf_mode(int argc, char **argv)
{
	const char *mode = argv[2];
	int fd;

	if (!strcmp(mode, "xdp") || !strcmp(mode, "tc")) {
		step("prog_load", fd = prog_load(!strcmp(mode, "xdp") ? BPF_PROG_TYPE_XDP : BPF_PROG_TYPE_SCHED_CLS));
		if (fd >= 0 && !strcmp(mode, "xdp"))
			step("xdp_attach", xdp_netlink(fd));
		return 0;
	}
	if (!strcmp(mode, "xdp-inherit")) {
		/* loaded before the library, linked under it */
		char f[16];
		const char *pre = getenv("X_PRELOAD");

		step("prog_load", fd = prog_load(BPF_PROG_TYPE_XDP));
		if (fd < 0 || fcntl(fd, F_SETFD, 0) < 0)
			return 0;
		snprintf(f, sizeof f, "%d", fd);
		if (pre)
			setenv("LD_PRELOAD", pre, 1);
		unsetenv("X_PRELOAD");
		execl("/proc/self/exe", argv[0], "bpf", "xdp-inherited", f, (char *)NULL);
		perror("exec");
		return 1;
	}
	if (!strcmp(mode, "xdp-inherited") && argc == 4) {
		union bpf_attr a;

		memset(&a, 0, sizeof a);
		a.link_create.prog_fd = (unsigned)atoi(argv[3]);
		a.link_create.target_ifindex = if_nametoindex("lo");
		a.link_create.attach_type = BPF_XDP;
		a.link_create.flags = XDP_FLAGS_SKB_MODE;
		step("link", (int)syscall(SYS_bpf, BPF_LINK_CREATE, &a, sizeof a));
		step("xdp_attach", xdp_netlink(atoi(argv[3])));
		return 0;
	}
	if (!strcmp(mode, "xdp-id")) {
		/* a program another process holds, taken by its id */
		union bpf_attr a;
		int in1;
		long id;
		pid_t pid = holder(argv, "hold-xdp", &in1, &id);

		memset(&a, 0, sizeof a);
		a.prog_id = (unsigned)id;
		step("get_by_id", fd = id < 0 ? -1 : (int)syscall(SYS_bpf, BPF_PROG_GET_FD_BY_ID, &a, sizeof a));
		if (fd >= 0)
			step("xdp_attach", xdp_netlink(fd));
		holder_end(pid, in1);
		return 0;
	}
	return 2;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "bpf"))
		return bpf_mode(argc, argv);
	if (argc == 5 && !strcmp(argv[1], "sniff"))
		return sniff(argv[2], argv[3], atoi(argv[4]));
	if (argc == 3 && !strcmp(argv[1], "mark")) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int fd = socket(AF_INET, SOCK_DGRAM, 0);

		return fd < 0 || sendto(fd, argv[2], strlen(argv[2]), 0, (struct sockaddr *)&a, sizeof a) < 0;
	}
	if (argc == 5 && !strcmp(argv[1], "send"))
		return do_send(argv[2], atoi(argv[3]), argv[4], argv);
	if (argc == 5 && !strcmp(argv[1], "inherited")) {
		send_raw4(atoi(argv[2]), atoi(argv[3]), argv[4]);
		return 0;
	}
	if (argc == 5 && !strcmp(argv[1], "inherited-ip")) {
		uint8_t buf[2048];
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		size_t n = ip4_pkt(buf, atoi(argv[3]), argv[4]);

		step("send", (int)sendto(atoi(argv[2]), buf, n, 0, (struct sockaddr *)&a, sizeof a));
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "give"))
		return give(atoi(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "hold"))     /* "getfd"'s child: a raw socket */
		return hold(atoi(argv[2]), socket(AF_INET, SOCK_RAW, IPPROTO_TCP));
	if (argc == 3 && !strcmp(argv[1], "hold-xdp")) {        /* "xdp-id"'s: an XDP program's id */
		struct bpf_prog_info info;
		union bpf_attr a;
		int fd = prog_load(BPF_PROG_TYPE_XDP);

		memset(&info, 0, sizeof info);
		memset(&a, 0, sizeof a);
		a.info.bpf_fd = (unsigned)fd;
		a.info.info_len = sizeof info;
		a.info.info = (uintptr_t)&info;
		return hold(atoi(argv[2]), fd < 0 || syscall(SYS_bpf, BPF_OBJ_GET_INFO_BY_FD, &a, sizeof a) < 0 ?
				 -1 : (long)info.id);
	}
	if (argc == 2 && (!strcmp(argv[1], "ping") || !strcmp(argv[1], "ping6")))
		return ping(!strcmp(argv[1], "ping6"));
	fprintf(stderr, "usage: rawsend sniff|mark|send|ping|ping6 ...\n");
	return 2;
}
