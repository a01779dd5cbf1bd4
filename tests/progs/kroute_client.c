/* kroute_client.c — a program that reaches its TCP connection's bytes
 * through the kernel's own machinery instead of write(): a BPF sockmap
 * that redirects what is sent on one socket to another's wire, and a
 * socket option that would put a kernel ULP (kTLS, espintcp) under the
 * connection.  Plain sockets, libc and raw bpf() through syscall(), as a
 * root daemon may do: nothing here knows about TLS or the library.
 *
 *   kroute_client MODE PORT SENTINEL
 *     MODE:
 *       sockmap  connect to 127.0.0.1:PORT (the TLS connection), make a
 *                plain loopback connection beside it, put both in a
 *                BPF_MAP_TYPE_SOCKMAP with an SK_MSG program that sends
 *                every message on to the connection at key 0, then send
 *                SENTINEL on the plain socket.  Each step prints
 *                "STEP: ok" or "STEP: <strerror>"; it stops at the first
 *                refused one.  Last, "echo ok" when a line written to the
 *                connection with write() came back.
 *       sockmap-plain  the plain connection alone, at key 0 (PORT is not
 *                used): sent on to itself, "got SENTINEL" at its other
 *                end when sockmaps work.
 *       sockmap-made  as sockmap, but the map is made and its program
 *                loaded and attached before the library runs: made here,
 *                then the program execs itself (mode sockmap-put MAPFD)
 *                with LD_PRELOAD set to $X_PRELOAD, as a map a daemon
 *                inherits or opens pinned; from "map_conn" on as sockmap.
 *                With X_RACE (dup2, mem or copy) it races instead: a plain
 *                socket at key 0, whose bpf() a seccomp filter of this
 *                thread holds (after the library's check, before the
 *                kernel's work) while another thread puts the connection
 *                at its number (dup2), its number in the update's value
 *                (mem), or at the number the held call's value names
 *                (copy: the library's copy) ("swapped", "map_first");
 *                a second plain socket at
 *                key 1 ("map_plain"), SENTINEL sent on it ("send"), the
 *                echo on the connection.
 *       sockops-made  as sockmap-made, and the program (before the
 *                library) moves itself into the cgroup v2 directory
 *                $X_CGROUP; under the library it puts the plain socket
 *                at key 1, loads a SOCK_OPS program that puts every
 *                socket this process connects from now on at key 0
 *                (bpf_sock_map_update: no BPF_MAP_UPDATE_ELEM call),
 *                attaches it to that cgroup ("sockops_load",
 *                "sockops_attach"), then connects (also when a step was
 *                refused), sends SENTINEL on the plain socket ("send",
 *                when none was) and echoes a line as sockmap does.
 *       sockops-early  as sockops-made, but the SOCK_OPS program is
 *                loaded before the library runs too (kept across the
 *                exec, its number in $X_PROG): the library sees it
 *                attached only ("sockops_attach").
 *       tail-made  as sockops-early (the filling SOCK_OPS program made
 *                before the library, $X_PROG), but under the library it
 *                is reached by a tail call: a prog array ("tails"), a
 *                SOCK_OPS program that tail-calls its entry 0
 *                ("tail_load"), the filling program put there
 *                ("tail_put"), the first attached to the cgroup
 *                ("tail_attach"); then as sockops-made.  With
 *                X_TAILS_EARLY the prog array is made and filled before
 *                the library too (its number in $X_TAILS); with
 *                X_TAIL_BENIGN the program made before the library puts
 *                nothing in a sockmap (its verdict only).
 *       iter-made  as sockmap-made, and before the library runs a tcp
 *                iterator's program (BTF id of bpf_iter_tcp from
 *                /sys/kernel/btf/vmlinux) that puts every TCP socket
 *                whose peer's port is PORT at key 0 (bpf_map_update_elem)
 *                is loaded and linked, the link kept across the exec (its
 *                number in $X_LINK); under the library it connects,
 *                puts the plain socket at key 1, makes an iterator of the
 *                link (BPF_ITER_CREATE: "iter_create") and reads it, sends
 *                SENTINEL on the plain socket ("send", when no step was
 *                refused) and echoes a line as sockmap does.  "iter: ..." when the kernel
 *                has no BTF or no such iterator.
 *       badfd    (PORT not used) each bpf() command the library judges,
 *                naming a descriptor that is none (999): "STEP: <strerror>"
 *                for a map update (its map, then its socket), an attach,
 *                a link, a link update, a test run and an iterator.
 *       addfd    connect to 127.0.0.1:PORT, make a plain connection
 *                beside it; a thread installs a seccomp filter that
 *                sends its getppid() to this process (user notification)
 *                and this process answers it with
 *                SECCOMP_IOCTL_NOTIF_ADDFD (SETFD): the connection put at
 *                the plain socket's number ("addfd: ..."); then SENTINEL
 *                written at that number and the echo on the connection.
 *                With X_ADDFD_SIZE=N the struct is N bytes (zeros past
 *                the kernel's: it takes any size from 24 to a page).
 *                With X_RACE=dup2 the fd given is a second plain socket,
 *                and the ADDFD ioctl is held by a seccomp filter of this
 *                thread (after the library's check, before the kernel's
 *                work: see race) while another thread puts the connection
 *                at that number with dup2() ("swapped"); X_RACE=copy: at
 *                the number the held ioctl's struct names (the library's
 *                copy).
 *       repair   TCP_REPAIR on, connect to 127.0.0.1:PORT, SENTINEL
 *                written to the send queue, repair off, SENTINEL written
 *                again: each step's "STEP: ok" or "STEP: <strerror>".
 *       lookup   (PORT: a port an accept rule names) a plain listener on
 *                an ephemeral port, in a sockmap, and an SK_LOOKUP program
 *                that gives it the connections to 127.0.0.1:PORT (as a
 *                root daemon steers ports to one socket); "listening",
 *                then one connection accepted and echoed until EOF.
 *       reuseport  (PORT: a port an accept rule names) a SO_REUSEPORT
 *                listener on PORT made before the library runs (the
 *                program then execs itself with LD_PRELOAD=$X_PRELOAD),
 *                and a second one made under it; a classic BPF program
 *                (SO_ATTACH_REUSEPORT_CBPF) gives the group's connections
 *                to the first ("listening"), then to the second
 *                ("second"): one connection each, echoed until EOF.
 *       ulp      setsockopt(TCP_ULP, "tls"), setsockopt(SOL_TLS, TLS_TX)
 *                and getsockopt(SOL_TLS, TLS_TX) on the TLS connection:
 *                "ulp: ...", "tls_tx: ...", "get_tls_tx: ...", then the
 *                echo as above.
 *       tstamp   transmit time stamps (SO_TIMESTAMPING, software, with
 *                without OPT_TSONLY: each comes with a copy of
 *                the packet it stamps) set on the socket before connect;
 *                the echo, then what the error queue holds, read with
 *                recvmsg(MSG_ERRQUEUE): "errq entries=N bytes=B stamps=S"
 *                (B: the bytes of the packets handed over); then another
 *                echo and the same read with recv(): "errq-recv
 *                entries=N bytes=B".
 *       tstamp-server  (PORT: a port an accept rule names) the same on
 *                the connection a listener with the time stamps set
 *                accepts (it inherits them): "listening", then one line
 *                read and echoed, then "errq ..." as above, then echoed
 *                until EOF.
 *       kcm      a KCM socket (AF_KCM) and a BPF parser ("kcm_socket",
 *                "kcm_prog"), the connection attached to it
 *                (ioctl SIOCKCMATTACH: "kcm_attach"), SENTINEL sent on
 *                the KCM socket when it was ("kcm_send"); then the echo.
 *       nbd      /dev/nbd0 ("nbd_open"), the connection given to it as its
 *                server's socket (ioctl NBD_SET_SOCK: "nbd_sock"),
 *                SENTINEL written to the device when it was ("nbd_write");
 *                then the echo.
 *       9p       the connection mounted as a 9p file system's
 *                transport (mount(..., "9p", ..., "trans=fd,rfdno=FD,
 *                wfdno=FD,aname=SENTINEL") on $X_MNT, unmounted again
 *                when it was: "mount_9p"); then the echo.  With X_9P_NL
 *                set, each FD ends in a newline ("rfdno=FD\n"), which the
 *                kernel's kstrtouint takes.
 *       9p-long  a plain socket's number S (one digit) as rfdno and wfdno,
 *                once to learn the number C of the library's copy that
 *                the kernel got ("probe_9p": x_p9_opts, preload_kcm.so),
 *                then in options padded so that with C in place of S
 *                they are longer than the 4095 bytes the kernel reads,
 *                the last one ("wfdno=C") cut to the first digits of C,
 *                where the connection is put (dup2) first.
 *       fs9p, fs9p-sys   the same through the new mount interface:
 *                fsopen("9p") ("fsopen"), fsconfig() (fs9p-sys:
 *                syscall(SYS_fsconfig)) of trans=fd, aname=SENTINEL,
 *                rfdno ("fsconfig_rfdno") and wfdno ("fsconfig_wfdno"),
 *                FSCONFIG_SET_FD of the connection ("fsconfig_setfd"),
 *                FSCONFIG_CMD_CREATE ("fs_create"), tried whatever the
 *                steps before answered; then the echo.
 *       kcm-server, nbd-server  (PORT: a port an accept rule names)
 *                "listening", then kcm or nbd on the connection accepted,
 *                which is then echoed until EOF.
 *     (kcm and nbd: tests/progs/preload_kcm.so stands in for a kernel
 *     without KCM or NBD.)  addfd, kcm, nbd: with X_REQ_HIGH set, bit 32
 *     of the ioctl's request (and of NBD_SET_SOCK's descriptor) is set,
 *     and in every mode bit 32 of bpf()'s size: the kernel reads the low
 *     32 bits alone.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/btf.h>
#include <linux/errqueue.h>
#include <linux/kcm.h>
#include <linux/nbd.h>
#include <linux/net_tstamp.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>

#include "common.h"

#ifndef AF_KCM
#define AF_KCM 41
#endif
#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#define TLS_TX_ 1

/* X_REQ_HIGH set: addfd, kcm and nbd set bit 32 of the ioctl request
 * (and of NBD_SET_SOCK's descriptor), and every bpf() bit 32 of its
 * size, which the kernel does not read: the same call (before h210 it
 * went past the library's checks). */
static unsigned long req_high(void)
{
	return getenv("X_REQ_HIGH") ? 1UL << 32 : 0;
}

/* (X_REQ_HIGH: bit 32 of the size set, which the kernel does not read) */
static long bpf_call(int cmd, union bpf_attr *attr)
{
	return syscall(SYS_bpf, cmd, attr, sizeof *attr | req_high());
}

static bool step(const char *what, long r)
{
	printf("%s: %s\n", what, r < 0 ? strerror(errno) : "ok");
	fflush(stdout);
	return r >= 0;
}

/* A program of type `type` (expected attach type `expect`) made of n
 * instructions: its fd, or -1 (errno). */
static int prog_load(uint32_t type, uint32_t expect, const struct bpf_insn *insn, size_t n)
{
	union bpf_attr a;

	memset(&a, 0, sizeof a);
	a.prog_type = type;
	a.expected_attach_type = expect;
	a.insns = (uintptr_t)insn;
	a.insn_cnt = (uint32_t)n;
	a.license = (uintptr_t)"GPL";
	return (int)bpf_call(BPF_PROG_LOAD, &a);
}

/* An SK_MSG program: bpf_msg_redirect_map(msg, map, 0, 0) (egress of the
 * socket at key 0), its verdict returned. */
static int load_redirect(int map)
{
	struct bpf_insn insn[] = {
		{ .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = BPF_REG_2, .src_reg = BPF_PSEUDO_MAP_FD, .imm = map },
		{ 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_3, .imm = 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_4, .imm = 0 },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_msg_redirect_map },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return prog_load(BPF_PROG_TYPE_SK_MSG, 0, insn, sizeof insn / sizeof insn[0]);
}

/* A BPF_MAP_TYPE_SOCKMAP of 4-byte keys ("map_create"), or -1. */
static int new_sockmap(unsigned value_size, unsigned entries)
{
	union bpf_attr at;
	int map;

	memset(&at, 0, sizeof at);
	at.map_type = BPF_MAP_TYPE_SOCKMAP;
	at.key_size = 4;
	at.value_size = value_size;
	at.max_entries = entries;
	return step("map_create", map = (int)bpf_call(BPF_MAP_CREATE, &at)) ? map : -1;
}

/* A sockmap of two with the redirecting SK_MSG program attached
 * ("map_create", "prog_load", "prog_attach"), or -1. */
static int redirect_map(void)
{
	union bpf_attr at;
	int map, prog;

	if ((map = new_sockmap(4, 2)) < 0 || !step("prog_load", prog = load_redirect(map)))
		return -1;
	memset(&at, 0, sizeof at);
	at.target_fd = (uint32_t)map;
	at.attach_bpf_fd = (uint32_t)prog;
	at.attach_type = BPF_SK_MSG_VERDICT;
	return step("prog_attach", bpf_call(BPF_PROG_ATTACH, &at)) ? map : -1;
}

/* The socket whose number is at *v (the map's value: 4 bytes, the low
 * ones, or 8) put at key. */
static long map_put_at(int map, uint32_t key, uint64_t *v)
{
	union bpf_attr a;

	memset(&a, 0, sizeof a);
	a.map_fd = (uint32_t)map;
	a.key = (uintptr_t)&key;
	a.value = (uintptr_t)v;
	a.flags = BPF_ANY;
	return bpf_call(BPF_MAP_UPDATE_ELEM, &a);
}

static long map_put(int map, uint32_t key, int fd)
{
	uint64_t v = (uint64_t)fd;

	return map_put_at(map, key, &v);
}

/* A line through the connection's ordinary write() and read(). */
static void echo(int fd)
{
	char buf[64];
	size_t got = 0;

	if (write(fd, "ping\n", 5) != 5)
		return;
	while (got < 5) {
		ssize_t r = read(fd, buf + got, sizeof buf - got);

		if (r <= 0)
			return;
		got += (size_t)r;
	}
	if (!memcmp(buf, "ping\n", 5))
		printf("echo ok\n");
}

/* A plain loopback connection: *p its client end, *q its server end;
 * false (reported) when it cannot be made. */
static bool plain_pair(int *p, int *q)
{
	struct sockaddr_in a = loopback4(0);
	socklen_t al = sizeof a;
	int lst;

	if ((lst = tcp_listen(&a, 0, 1)) < 0 || getsockname(lst, (struct sockaddr *)&a, &al) < 0 ||
	    (*p = socket(AF_INET, SOCK_STREAM, 0)) < 0 || connect(*p, (struct sockaddr *)&a, sizeof a) < 0 ||
	    (*q = accept(lst, NULL, NULL)) < 0) {
		perror("plain pair");
		return false;
	}
	return true;
}

/* The sockmap cases: to_conn, the connection at key 0 (the plain
 * socket at 1); else the plain socket alone at 0.  map >= 0: made
 * already, its program attached. */
static int sockmap(int conn, const char *sent, bool to_conn, int map)
{
	int p, q;
	char buf[128];
	ssize_t n;

	if (!plain_pair(&p, &q))
		return 1;
	if (map < 0 && (map = redirect_map()) < 0)
		return 0;
	if (to_conn ? !step("map_conn", map_put(map, 0, conn)) || !step("map_plain", map_put(map, 1, p))
		    : !step("map_plain", map_put(map, 0, p)))
		return 0;
	if (!step("send", send(p, sent, strlen(sent), 0)))
		return 0;
	if (!to_conn) {
		/* to itself: the bytes come out at the other end, q */
		n = recv(q, buf, sizeof buf - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		printf("got %s\n", buf);
	}
	return 0;
}

/* An SK_LOOKUP program: a TCP connection to local port `port` goes to
 * the listener at key 0 of map (bpf_sk_assign). */
static int load_lookup(int map, int port)
{
	struct bpf_insn insn[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_6, .src_reg = BPF_REG_1 },
		{ .code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = BPF_REG_2, .src_reg = BPF_REG_6,
		  .off = offsetof(struct bpf_sk_lookup, local_port) },
		{ .code = BPF_JMP | BPF_JNE | BPF_K, .dst_reg = BPF_REG_2, .off = 14, .imm = port },
		{ .code = BPF_ST | BPF_MEM | BPF_W, .dst_reg = BPF_REG_10, .off = -4, .imm = 0 },
		{ .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = BPF_REG_1, .src_reg = BPF_PSEUDO_MAP_FD, .imm = map },
		{ 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_2, .src_reg = BPF_REG_10 },
		{ .code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = BPF_REG_2, .imm = -4 },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_map_lookup_elem },
		{ .code = BPF_JMP | BPF_JEQ | BPF_K, .dst_reg = BPF_REG_0, .off = 7, .imm = 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_7, .src_reg = BPF_REG_0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_1, .src_reg = BPF_REG_6 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_2, .src_reg = BPF_REG_7 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_3, .imm = 0 },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_sk_assign },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_1, .src_reg = BPF_REG_7 },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_sk_release },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 /* SK_PASS */ },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return prog_load(BPF_PROG_TYPE_SK_LOOKUP, BPF_SK_LOOKUP, insn, sizeof insn / sizeof insn[0]);
}

/* lookup: a plain listener on an ephemeral port gets, by an SK_LOOKUP
 * program, the connections to 127.0.0.1:PORT; it echoes one. */
static int lookup(int port)
{
	struct sockaddr_in a = loopback4(0);
	union bpf_attr at;
	char buf[4096];
	int lst, map, prog, ns, c;
	ssize_t n;

	if ((lst = tcp_listen(&a, 0, 4)) < 0 || (map = new_sockmap(8, 1)) < 0 ||
	    !step("map_listener", map_put(map, 0, lst)) || !step("prog_load", prog = load_lookup(map, port)) ||
	    !step("netns", ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)))
		return 1;
	memset(&at, 0, sizeof at);
	at.link_create.prog_fd = (uint32_t)prog;
	at.link_create.target_fd = (uint32_t)ns;
	at.link_create.attach_type = BPF_SK_LOOKUP;
	if (!step("link", bpf_call(BPF_LINK_CREATE, &at)))
		return 1;
	printf("listening\n");
	if ((c = accept(lst, NULL, NULL)) < 0) {
		perror("accept");
		return 1;
	}
	while ((n = read(c, buf, sizeof buf)) > 0)
		if (write(c, buf, (size_t)n) != n)
			break;
	close(c);
	return 0;
}

/* Exec this program again as MODE=fd (fd kept open across the exec),
 * with LD_PRELOAD set to $X_PRELOAD: from now on under the library. */
static int reexec(char **argv, const char *mode, int fd)
{
	char m[32];
	const char *pre = getenv("X_PRELOAD");

	if (fcntl(fd, F_SETFD, 0) < 0)
		perror("fcntl");
	snprintf(m, sizeof m, "%s=%d", mode, fd);
	argv[1] = m;
	if (pre)
		setenv("LD_PRELOAD", pre, 1);
	execv("/proc/self/exe", argv);
	perror("exec");
	return 1;
}

/* A listener on 127.0.0.1:port in a SO_REUSEPORT group, or -1. */
static int reuse_listener(int port)
{
	struct sockaddr_in a = loopback4(port);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4) < 0)
		return -1;
	return fd;
}

/* The group's connections all to its member number `which` (in the
 * order they joined): a classic BPF program "return which". */
static bool steer(int fd, unsigned which)
{
	struct sock_filter f = { BPF_RET | BPF_K, 0, 0, which };
	struct sock_fprog prog = { 1, &f };

	return step("steer", setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog));
}

/* Connection c echoed until EOF, then closed. */
static void echo_conn(int c)
{
	char buf[4096];
	ssize_t n;

	while ((n = read(c, buf, sizeof buf)) > 0)
		if (write(c, buf, (size_t)n) != n)
			break;
	close(c);
}

/* One connection accepted on fd, echoed until EOF. */
static void echo_one(int fd)
{
	int c = accept(fd, NULL, NULL);

	if (c < 0) {
		perror("accept");
		return;
	}
	echo_conn(c);
}

/* reuseport: a listener on PORT made before the library runs (then an
 * exec with it, as reuseport=FD), a second one made under it: the first
 * one's connection, then the second one's, echoed. */
static int reuseport(char **argv, int port)
{
	int a, b;

	if (!strcmp(argv[1], "reuseport")) {
		if ((a = reuse_listener(port)) < 0) {
			perror("listener");
			return 1;
		}
		return reexec(argv, "reuseport", a);
	}
	a = atoi(argv[1] + 10);
	if ((b = reuse_listener(port)) < 0) {
		perror("second listener");
		return 1;
	}
	if (!steer(b, 0))
		return 1;
	printf("listening\n");
	echo_one(a);
	if (!steer(b, 1))
		return 1;
	printf("second\n");
	echo_one(b);
	return 0;
}

/* ---- races: a check of a number, then the kernel's call --------------
 * A seccomp filter of the calling thread sends its call (bpf() of one
 * command, or ioctl() of one request) to a supervisor thread, which the
 * kernel asks after the library's wrapper has judged the call and before
 * the kernel reads its arguments: the supervisor does the swap there (a
 * dup2() onto the number judged, or a new number in the argument's
 * memory), then lets the call go on (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
 * The widest window a second thread could hope for, every time. */
struct race {
	int listener;
	int calls;              /* the calls held (the first one swapped), at most */
	int from, onto;         /* dup2(from, onto), or: */
	uint64_t *mem, memval;  /* *mem = memval */
	int copy;               /* onto read from the held call's own memory:
				 * 'b' a bpf() map update's value, 'a' an
				 * ADDFD's srcfd (the number the kernel gets) */
};

/* The descriptor number the held call req hands the kernel, read from
 * the memory it names (kind 'b' or 'a', as struct race's copy). */
static int held_fd(const struct seccomp_notif *req, int kind)
{
	uint32_t fd;

	if (kind == 'b')
		memcpy(&fd, (const void *)(uintptr_t)((const union bpf_attr *)(uintptr_t)req->data.args[1])->value,
		       sizeof fd);
	else
		fd = ((const struct seccomp_notif_addfd *)(uintptr_t)req->data.args[2])->srcfd;
	return (int)fd;
}

static void *race_supervisor(void *arg)
{
	struct race *r = arg;

	for (int i = 0; i < r->calls; i++) {
		struct pollfd pf = { r->listener, POLLIN, 0 };
		struct seccomp_notif req;
		struct seccomp_notif_resp resp;

		if (poll(&pf, 1, 10000) != 1)   /* (bounded: 10 s a call) */
			break;
		memset(&req, 0, sizeof req);
		if (ioctl(r->listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0)
			break;
		if (i == 0) {
			if (r->copy)
				r->onto = held_fd(&req, r->copy);
			if (r->mem)
				__atomic_store_n(r->mem, r->memval, __ATOMIC_SEQ_CST);
			step("swapped", r->mem ? 0 : dup2(r->from, r->onto));
		}
		memset(&resp, 0, sizeof resp);
		resp.id = req.id;
		resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		ioctl(r->listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
	}
	return NULL;
}

/* The calling thread's system call nr whose argument `arg` (its low 32
 * bits) is val held for r's supervisor, started on a thread of its own
 * ("trap"); false when none could be. */
static bool race_start(struct race *r, pthread_t *t, int nr, unsigned arg, uint32_t val)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)offsetof(struct seccomp_data, args[0]) + 8 * arg),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, val, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof f / sizeof f[0], f };

	r->listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	return step("trap", r->listener) && !pthread_create(t, NULL, race_supervisor, r);
}

/* sockmap-put=MAP with X_RACE: the map's put of a plain socket, raced. */
static int race_map(int conn, const char *sent, int map)
{
	static uint64_t v;
	struct race r = { .calls = 2 };
	pthread_t t;
	int p, q, p2, q2;

	if (!plain_pair(&p, &q) || !plain_pair(&p2, &q2))
		return 1;
	if (!strcmp(getenv("X_RACE"), "mem"))
		r.mem = &v, r.memval = (uint64_t)conn;
	else
		r.from = conn, r.onto = p, r.copy = strcmp(getenv("X_RACE"), "copy") ? 0 : 'b';
	v = (uint64_t)p;
	if (!race_start(&r, &t, SYS_bpf, 0, BPF_MAP_UPDATE_ELEM))
		return 1;
	step("map_first", map_put_at(map, 0, &v));
	step("map_plain", map_put(map, 1, p2));
	pthread_join(t, NULL);
	step("send", send(p2, sent, strlen(sent), 0));
	return 0;
}

/* addfd's notifying thread: its getppid() goes to the supervisor (the
 * main thread) through the listener it leaves in *arg (-1: none). */
static void *notifier(void *arg)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof f / sizeof f[0], f };
	int fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);

	if (!step("notify", fd)) {
		__atomic_store_n((int *)arg, -2, __ATOMIC_RELEASE);
		return NULL;
	}
	__atomic_store_n((int *)arg, fd, __ATOMIC_RELEASE);
	syscall(SYS_getppid);
	return NULL;
}

/* addfd: the connection conn put at the plain socket's number by a
 * seccomp supervisor's ADDFD, SENTINEL written there. */
static int addfd(int conn, const char *sent)
{
	struct seccomp_notif req;
	struct seccomp_notif_resp resp;
	struct {
		struct seccomp_notif_addfd ad;
		unsigned char more[64];         /* zeros */
	} big;
	struct race r = { .calls = 1 };
	const char *size = getenv("X_ADDFD_SIZE");
	unsigned long adsize = size ? strtoul(size, NULL, 10) : sizeof big.ad;
	pthread_t t, rt;
	int p, q, x = -1, y, nfd = -1;

	if (!plain_pair(&p, &q) || (getenv("X_RACE") && !plain_pair(&x, &y)) ||
	    pthread_create(&t, NULL, notifier, &nfd))
		return 1;
	while (__atomic_load_n(&nfd, __ATOMIC_ACQUIRE) == -1)
		poll(NULL, 0, 10);      /* (bounded: the thread stores either way) */
	if (nfd < 0)
		return pthread_join(t, NULL), 0;
	memset(&req, 0, sizeof req);
	if (!step("recv", ioctl(nfd, SECCOMP_IOCTL_NOTIF_RECV, &req)))
		return 1;
	memset(&big, 0, sizeof big);
	big.ad.id = req.id;
	big.ad.flags = SECCOMP_ADDFD_FLAG_SETFD;
	big.ad.srcfd = (uint32_t)(x >= 0 ? x : conn);
	big.ad.newfd = (uint32_t)p;
	if (x >= 0) {
		/* X_RACE: x is judged, the connection is put at its number */
		r.from = conn, r.onto = x, r.copy = strcmp(getenv("X_RACE"), "copy") ? 0 : 'a';
		if (!race_start(&r, &rt, SYS_ioctl, 1, (uint32_t)SECCOMP_IOCTL_NOTIF_ADDFD))
			return 1;
	}
	step("addfd", ioctl(nfd, _IOC(_IOC_WRITE, '!', 3, adsize > sizeof big ? sizeof big : adsize) | req_high(),
			    &big));
	if (x >= 0)
		pthread_join(rt, NULL);
	memset(&resp, 0, sizeof resp);
	resp.id = req.id;
	ioctl(nfd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
	pthread_join(t, NULL);
	step("write", write(p, sent, strlen(sent)));
	return 0;
}

/* repair: TCP_REPAIR on before connect (no handshake: ESTABLISHED at
 * once), SENTINEL written into the send queue, repair off (the queue
 * goes out). */
static int repair(struct sockaddr_in a, const char *sent)
{
	int one = 1, q = TCP_SEND_QUEUE, off = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (!step("repair_on", setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &one, sizeof one)))
		return 0;
	step("connect", connect(fd, (struct sockaddr *)&a, sizeof a));
	step("queue", setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof q));
	step("write", write(fd, sent, strlen(sent)));
	step("repair_off", setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof off));
	step("write2", write(fd, sent, strlen(sent)));
	return 0;
}

/* tstamp: transmit time stamps on fd (without OPT_TSONLY; OPT_ID needs
 * a connected socket). */
static bool tstamps_on(int fd)
{
	int v = SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;

	return step("tstamp_on", setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &v, sizeof v));
}

/* What fd's error queue holds, read to its end (at most 256 entries;
 * the first waited for, at most 10 s: the echo came back, so its
 * packets were sent and stamped): with recvmsg, or recv when by_recv. */
static void errq_read(int fd, bool by_recv)
{
	size_t bytes = 0;
	int entries = 0, stamps = 0;
	struct pollfd p = { fd, 0, 0 };

	poll(&p, 1, 10000);     /* POLLERR: an entry is there */
	for (int i = 0; i < 256; i++) {
		char buf[4096];
		union { char b[1024]; struct cmsghdr align; } ctl;
		struct iovec v = { buf, sizeof buf };
		struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1, .msg_control = ctl.b,
				    .msg_controllen = sizeof ctl.b };
		ssize_t n = by_recv ? recv(fd, buf, sizeof buf, MSG_ERRQUEUE | MSG_DONTWAIT)
				    : recvmsg(fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT);

		if (n < 0)
			break;
		entries++;
		bytes += (size_t)n;
		for (struct cmsghdr *h = by_recv ? NULL : CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h))
			stamps += h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_TIMESTAMPING;
	}
	if (by_recv)
		printf("errq-recv entries=%d bytes=%zu\n", entries, bytes);
	else
		printf("errq entries=%d bytes=%zu stamps=%d\n", entries, bytes, stamps);
}

/* tstamp: stamped before connect, then echo and the error queue twice. */
static int tstamp(struct sockaddr_in a)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || !tstamps_on(fd) || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		perror("connect");
		return 1;
	}
	echo(fd);
	errq_read(fd, false);
	echo(fd);
	errq_read(fd, true);
	close(fd);
	return 0;
}

/* kcm: the connection attached to a KCM socket (a parser that takes
 * what is there as one message), SENTINEL sent on the KCM socket. */
static int kcm(int conn, const char *sent)
{
	struct bpf_insn insn[] = {
		{ .code = BPF_LDX | BPF_W | BPF_MEM, .dst_reg = BPF_REG_0, .src_reg = BPF_REG_1,
		  .off = offsetof(struct __sk_buff, len) },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	struct kcm_attach ka;
	int k, prog;

	if (!step("kcm_socket", k = socket(AF_KCM, SOCK_DGRAM, KCMPROTO_CONNECTED)))
		return 0;
	step("kcm_prog", prog = prog_load(BPF_PROG_TYPE_SOCKET_FILTER, 0, insn, 2));
	ka.fd = conn;
	ka.bpf_fd = prog;
	if (step("kcm_attach", ioctl(k, SIOCKCMATTACH | req_high(), &ka)))
		step("kcm_send", send(k, sent, strlen(sent), 0));
	return 0;
}

/* nbd: the connection given to /dev/nbd0 as its server's socket,
 * SENTINEL written to the device. */
static int nbd(int conn, const char *sent)
{
	int dev;

	if (!step("nbd_open", dev = open("/dev/nbd0", O_RDWR)))
		return 0;
	if (step("nbd_sock", ioctl(dev, NBD_SET_SOCK | req_high(), (unsigned long)conn | req_high())))
		step("nbd_write", write(dev, sent, strlen(sent)));
	return 0;
}

/* 9p: the connection as a 9p mount's transport, SENTINEL its aname. */
static int p9(int conn, const char *sent)
{
	char opts[256];
	const char *dir = getenv("X_MNT");

	/* X_9P_NL: each number ends in a newline, which the kernel's
	 * kstrtouint takes (before h214 the library did not judge it) */
	snprintf(opts, sizeof opts, getenv("X_9P_NL") ? "trans=fd,rfdno=%d\n,wfdno=%d\n,aname=%s" :
		 "trans=fd,rfdno=%d,wfdno=%d,aname=%s", conn, conn, sent);
	if (step("mount_9p", mount("kroute", dir ? dir : "/nonexistent", "9p", 0, opts)) && dir)
		umount2(dir, MNT_DETACH);
	return 0;
}

/* fs9p, fs9p-sys: p9 through fsopen() and fsconfig(). */
static long fscfg(bool sys, int fs, unsigned int cmd, const char *key, const char *val, int aux)
{
	return sys ? syscall(SYS_fsconfig, fs, cmd, key, val, aux) : fsconfig(fs, cmd, key, val, aux);
}

/* 9p-long: the options cut by the kernel after the library's copies
 * made them longer, the last number left naming the connection. */
static int p9_long(int conn, const char *sent)
{
	static char opts[4096];
	const char *dir = getenv("X_MNT"), *got, *w;
	char head[300], tail[16], pre[8];
	int sp[2], dc, k, at;
	size_t len, pad;
	long c;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0 || sp[0] > 9) {
		printf("socketpair: %s\n", sp[0] > 9 ? "not one digit" : strerror(errno));
		return 1;
	}
	snprintf(opts, sizeof opts, "trans=fd,rfdno=%d,wfdno=%d,aname=probe", sp[0], sp[0]);
	if (!step("probe_9p", mount("kroute", dir ? dir : "/nonexistent", "9p", 0, opts)))
		return 1;
	got = (const char *)dlsym(RTLD_DEFAULT, "x_p9_opts");
	if (!got || !(w = strstr(got, "wfdno=")) || (c = strtol(w + 6, NULL, 10)) < 10) {
		printf("probe_9p: no copy's number read (%s)\n", got ? got : "no x_p9_opts");
		return 1;
	}
	dc = snprintf(pre, sizeof pre, "%ld", c);
	/* the prefix the kernel is to keep: one digit, two where that would
	 * be 0 to 2 or the plain socket */
	k = pre[0] < '3' || pre[0] - '0' == sp[0] || pre[0] - '0' == conn ? 2 : 1;
	if (k >= dc) {
		printf("probe_9p: copy %ld too short\n", c);
		return 1;
	}
	pre[k] = 0;
	at = atoi(pre);
	if (at != conn && !step("dup2_conn", dup2(conn, at)))
		return 1;
	snprintf(head, sizeof head, "trans=fd,rfdno=%d,aname=%s,pad=", sp[0], sent);
	snprintf(tail, sizeof tail, ",wfdno=%d", sp[0]);
	/* with the copies: two numbers dc - 1 longer; kept: 4095 bytes,
	 * which end dc - k digits before the last number's end */
	len = 4095 - 2 * (size_t)(dc - 1) + (size_t)(dc - k);
	pad = len - strlen(head) - strlen(tail);
	snprintf(opts, sizeof opts, "%s%0*d%s", head, (int)pad, 0, tail);
	if (step("mount_9p", mount("kroute", dir ? dir : "/nonexistent", "9p", 0, opts)) && dir)
		umount2(dir, MNT_DETACH);
	return 0;
}

static int fs9p(int conn, const char *sent, bool sys)
{
	char n[16];
	int fs;

	if (!step("fsopen", fs = sys ? (int)syscall(SYS_fsopen, "9p", 0) : fsopen("9p", 0)))
		return 0;
	snprintf(n, sizeof n, "%d", conn);
	step("fsconfig_trans", fscfg(sys, fs, FSCONFIG_SET_STRING, "trans", "fd", 0));
	step("fsconfig_aname", fscfg(sys, fs, FSCONFIG_SET_STRING, "aname", sent, 0));
	step("fsconfig_rfdno", fscfg(sys, fs, FSCONFIG_SET_STRING, "rfdno", n, 0));
	step("fsconfig_wfdno", fscfg(sys, fs, FSCONFIG_SET_STRING, "wfdno", n, 0));
	step("fsconfig_setfd", fscfg(sys, fs, FSCONFIG_SET_FD, "source", NULL, conn));
	step("fs_create", fscfg(sys, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0));
	close(fs);
	return 0;
}

/* tstamp-server, kcm-server, nbd-server: one connection of a listener
 * on port (for tstamp-server, with the time stamps set on the listener:
 * the connection inherits them), the mode's steps on it (tstamp-server:
 * a line echoed, then its error queue), then echoed until EOF. */
static int server(int port, const char *mode, const char *sent)
{
	struct sockaddr_in a = loopback4(port);
	char buf[256];
	ssize_t n;
	bool ts = !strcmp(mode, "tstamp-server");
	int lst = tcp_listen(&a, 0, 1), c;

	if (lst < 0 || (ts && !tstamps_on(lst))) {
		perror("listen");
		return 1;
	}
	printf("listening\n");
	if ((c = accept(lst, NULL, NULL)) < 0) {
		perror("accept");
		return 1;
	}
	if (ts) {
		if ((n = read(c, buf, sizeof buf)) > 0 && write(c, buf, (size_t)n) == n)
			printf("echoed %zd\n", n);
		errq_read(c, false);
	} else if (!strcmp(mode, "kcm-server")) {
		kcm(c, sent);
	} else {
		nbd(c, sent);
	}
	echo_conn(c);
	close(lst);
	return 0;
}

static int load_sockops(int map);

/* The BTF id of the kernel function named name (kind FUNC), or -1. */
static int btf_func_id(const char *name)
{
	static char btf[64 << 20];
	const struct btf_header *h = (const void *)btf;
	const char *types, *strs;
	ssize_t n = 0, r;
	int fd = open("/sys/kernel/btf/vmlinux", O_RDONLY | O_CLOEXEC);

	while (fd >= 0 && n < (ssize_t)sizeof btf && (r = read(fd, btf + n, sizeof btf - (size_t)n)) > 0)
		n += r;
	if (fd >= 0)
		close(fd);
	if (n < (ssize_t)sizeof *h || h->magic != BTF_MAGIC ||
	    (size_t)h->hdr_len + h->str_off + h->str_len > (size_t)n ||
	    (size_t)h->hdr_len + h->type_off + h->type_len > (size_t)n)
		return -1;
	types = btf + h->hdr_len + h->type_off;
	strs = btf + h->hdr_len + h->str_off;
	for (uint32_t at = 0, id = 1; at + sizeof(struct btf_type) <= h->type_len; id++) {
		const struct btf_type *t = (const void *)(types + at);
		uint32_t vlen = BTF_INFO_VLEN(t->info), more;

		switch (BTF_INFO_KIND(t->info)) {
		case BTF_KIND_INT: case BTF_KIND_VAR: case BTF_KIND_DECL_TAG: more = 4; break;
		case BTF_KIND_ARRAY: more = 12; break;
		case BTF_KIND_STRUCT: case BTF_KIND_UNION: case BTF_KIND_DATASEC: more = 12 * vlen; break;
		case BTF_KIND_ENUM: case BTF_KIND_FUNC_PROTO: more = 8 * vlen; break;
		case 19 /* BTF_KIND_ENUM64 */: more = 12 * vlen; break;
		default: more = 0; break;
		}
		if (BTF_INFO_KIND(t->info) == BTF_KIND_FUNC && t->name_off < h->str_len &&
		    !strcmp(strs + t->name_off, name))
			return (int)id;
		at += (uint32_t)sizeof *t + more;
	}
	return -1;
}

/* A tcp iterator's program: every TCP socket whose peer's port is port
 * put at key 0 of map (bpf_map_update_elem, which the kernel allows a
 * BPF_TRACE_ITER program on a sockmap); its fd, or -1. */
static int load_iter(int map, int port)
{
	struct bpf_insn insn[] = {
		/* r6 = ctx->sk_common (struct bpf_iter__tcp: after meta) */
		{ .code = BPF_LDX | BPF_MEM | BPF_DW, .dst_reg = BPF_REG_6, .src_reg = BPF_REG_1, .off = 8 },
		{ .code = BPF_JMP | BPF_JEQ | BPF_K, .dst_reg = BPF_REG_6, .off = 10, .imm = 0 },
		/* struct sock_common's skc_dport: after two addresses and the hash */
		{ .code = BPF_LDX | BPF_MEM | BPF_H, .dst_reg = BPF_REG_2, .src_reg = BPF_REG_6, .off = 12 },
		{ .code = BPF_JMP | BPF_JNE | BPF_K, .dst_reg = BPF_REG_2, .off = 8, .imm = htons((uint16_t)port) },
		{ .code = BPF_ST | BPF_MEM | BPF_W, .dst_reg = BPF_REG_10, .off = -4, .imm = 0 },
		{ .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = BPF_REG_1, .src_reg = BPF_PSEUDO_MAP_FD, .imm = map },
		{ 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_2, .src_reg = BPF_REG_10 },
		{ .code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = BPF_REG_2, .imm = -4 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_3, .src_reg = BPF_REG_6 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_4, .imm = BPF_ANY },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_map_update_elem },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	static char log[65536];
	union bpf_attr a;
	int id = btf_func_id("bpf_iter_tcp"), fd;

	if (id < 0) {
		errno = ENOENT;
		return -1;
	}
	memset(&a, 0, sizeof a);
	a.prog_type = BPF_PROG_TYPE_TRACING;
	a.expected_attach_type = BPF_TRACE_ITER;
	a.attach_btf_id = (uint32_t)id;
	a.insns = (uintptr_t)insn;
	a.insn_cnt = sizeof insn / sizeof insn[0];
	a.license = (uintptr_t)"GPL";
	a.log_buf = (uintptr_t)log;
	a.log_size = sizeof log;
	a.log_level = 1;
	if ((fd = (int)bpf_call(BPF_PROG_LOAD, &a)) < 0 && getenv("X_VERBOSE"))
		fprintf(stderr, "%s\n", log);
	return fd;
}

/* iter-made: the iterator's program loaded and linked (the link kept as
 * $X_LINK), or false ("iter: ..."). */
static bool made_iter(int map, int port)
{
	union bpf_attr a;
	char num[16];
	int prog, link;

	if ((prog = load_iter(map, port)) < 0) {
		printf("iter: %s\n", strerror(errno));
		return false;
	}
	memset(&a, 0, sizeof a);
	a.link_create.prog_fd = (uint32_t)prog;
	a.link_create.attach_type = BPF_TRACE_ITER;
	if ((link = (int)bpf_call(BPF_LINK_CREATE, &a)) < 0 || fcntl(link, F_SETFD, 0) < 0) {
		printf("iter: link: %s\n", strerror(errno));
		return false;
	}
	snprintf(num, sizeof num, "%d", link);
	setenv("X_LINK", num, 1);
	return true;
}

/* iter-put=MAP: the plain socket at key 1, the iterator made from the
 * link $X_LINK and read (its program puts the connection conn at key 0),
 * SENTINEL sent on the plain socket. */
static int iter_put(int map, const char *sent)
{
	union bpf_attr a;
	char buf[4096];
	int p, q, it;
	bool ok;

	if (!plain_pair(&p, &q))
		return 1;
	memset(&a, 0, sizeof a);
	a.iter_create.link_fd = (uint32_t)atoi(getenv("X_LINK") ? getenv("X_LINK") : "-1");
	ok = step("map_plain", map_put(map, 1, p)) && step("iter_create", it = (int)bpf_call(BPF_ITER_CREATE, &a));
	/* (bounded: one record per TCP socket of the test's namespace) */
	for (int i = 0; ok && i < 1000 && read(it, buf, sizeof buf) > 0; i++)
		;
	if (ok)
		step("send", send(p, sent, strlen(sent), 0));
	return 0;
}

/* A prog array of one entry, or -1. */
static int new_prog_array(void)
{
	union bpf_attr at;

	memset(&at, 0, sizeof at);
	at.map_type = BPF_MAP_TYPE_PROG_ARRAY;
	at.key_size = 4;
	at.value_size = 4;
	at.max_entries = 1;
	return (int)bpf_call(BPF_MAP_CREATE, &at);
}

/* A SOCK_OPS program that tail-calls entry 0 of the prog array tails;
 * its verdict 1. */
static int load_dispatch(int tails)
{
	struct bpf_insn insn[] = {
		{ .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = BPF_REG_2, .src_reg = BPF_PSEUDO_MAP_FD, .imm = tails },
		{ 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_3, .imm = 0 },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_tail_call },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return prog_load(BPF_PROG_TYPE_SOCK_OPS, 0, insn, sizeof insn / sizeof insn[0]);
}

/* When ok, the SOCK_OPS program prog attached to the cgroup $X_CGROUP
 * ("cgroup_open", then attach_step); the connection in any case (refused
 * steps leave it TLS: "echo ok"), SENTINEL sent on the plain socket p
 * when every step was done, and the echo. */
static int sockops_send(struct sockaddr_in a, bool ok, int prog, const char *attach_step, int p, const char *sent)
{
	union bpf_attr at;
	int cg, fd;

	ok = ok && step("cgroup_open", cg = open(getenv("X_CGROUP") ? getenv("X_CGROUP") : "", O_RDONLY | O_DIRECTORY));
	if (ok) {
		memset(&at, 0, sizeof at);
		at.target_fd = (uint32_t)cg;
		at.attach_bpf_fd = (uint32_t)prog;
		at.attach_type = BPF_CGROUP_SOCK_OPS;
		ok = step(attach_step, bpf_call(BPF_PROG_ATTACH, &at));
	}
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		perror("connect");
		return 1;
	}
	if (ok)
		step("send", send(p, sent, strlen(sent), 0));
	echo(fd);
	return 0;
}

/* tail-put=MAP: the filling program $X_PROG reached by a tail call from
 * a program attached to the cgroup, the connection made, SENTINEL sent on
 * the plain socket. */
static int tail_put(struct sockaddr_in a, int map, const char *sent)
{
	int p, q, tails, disp = -1;
	bool ok;

	if (!plain_pair(&p, &q))
		return 1;
	tails = getenv("X_TAILS") ? atoi(getenv("X_TAILS")) : new_prog_array();
	ok = step("map_plain", map_put(map, 1, p)) && step("tails", tails) &&
	     step("tail_load", disp = load_dispatch(tails)) &&
	     (getenv("X_TAILS") || step("tail_put", map_put(tails, 0, atoi(getenv("X_PROG")))));
	return sockops_send(a, ok, disp, "tail_attach", p, sent);
}

/* A SOCK_OPS program that does nothing but its verdict, 1. */
static int load_verdict(void)
{
	struct bpf_insn insn[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return prog_load(BPF_PROG_TYPE_SOCK_OPS, 0, insn, sizeof insn / sizeof insn[0]);
}

/* sockmap-made, sockops-made, tail-made, iter-made: the map and its
 * attached program (and for sockops-made and tail-made this process in
 * the cgroup $X_CGROUP, for iter-made the iterator's link), then exec. */
static int made_map(char **argv, bool sockops)
{
	char path[512];
	int map, fd, prog;

	if (sockops) {
		snprintf(path, sizeof path, "%s/cgroup.procs", getenv("X_CGROUP") ? getenv("X_CGROUP") : "");
		if ((fd = open(path, O_WRONLY)) < 0 || dprintf(fd, "%d\n", (int)getpid()) < 0 || close(fd) < 0) {
			printf("cgroup: %s\n", strerror(errno));
			return 0;
		}
	}
	/* (bpf() makes its descriptors close-on-exec: reexec clears it) */
	if ((map = redirect_map()) < 0)
		return 0;
	if (!strcmp(argv[1], "iter-made"))
		return made_iter(map, atoi(argv[2])) ? reexec(argv, "iter-put", map) : 0;
	if (!strcmp(argv[1], "sockops-early") || !strcmp(argv[1], "tail-made")) {
		if ((prog = getenv("X_TAIL_BENIGN") ? load_verdict() : load_sockops(map)) < 0 ||
		    fcntl(prog, F_SETFD, 0) < 0) {
			printf("early sockops_load: %s\n", strerror(errno));
			return 0;
		}
		snprintf(path, sizeof path, "%d", prog);
		setenv("X_PROG", path, 1);
	}
	if (!strcmp(argv[1], "tail-made") && getenv("X_TAILS_EARLY")) {
		if ((fd = new_prog_array()) < 0 || map_put(fd, 0, prog) < 0 || fcntl(fd, F_SETFD, 0) < 0) {
			printf("early tails: %s\n", strerror(errno));
			return 0;
		}
		snprintf(path, sizeof path, "%d", fd);
		setenv("X_TAILS", path, 1);
	}
	return reexec(argv, argv[1][0] == 't' ? "tail-put" : sockops ? "sockops-put" : "sockmap-put", map);
}

/* A SOCK_OPS program: at BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB,
 * bpf_sock_map_update(ops, map, &0, BPF_ANY); its verdict 1. */
static int load_sockops(int map)
{
	struct bpf_insn insn[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_6, .src_reg = BPF_REG_1 },
		{ .code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = BPF_REG_2, .src_reg = BPF_REG_6,
		  .off = offsetof(struct bpf_sock_ops, op) },
		{ .code = BPF_JMP | BPF_JNE | BPF_K, .dst_reg = BPF_REG_2, .off = 8,
		  .imm = BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB },
		{ .code = BPF_ST | BPF_MEM | BPF_W, .dst_reg = BPF_REG_10, .off = -4, .imm = 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_1, .src_reg = BPF_REG_6 },
		{ .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = BPF_REG_2, .src_reg = BPF_PSEUDO_MAP_FD, .imm = map },
		{ 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_3, .src_reg = BPF_REG_10 },
		{ .code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = BPF_REG_3, .imm = -4 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_4, .imm = BPF_ANY },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_sock_map_update },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return prog_load(BPF_PROG_TYPE_SOCK_OPS, 0, insn, sizeof insn / sizeof insn[0]);
}

/* X_NOINFO: a seccomp filter that refuses bpf(BPF_OBJ_GET_INFO_BY_FD)
 * (EPERM), as a sandbox may: the library cannot ask what a program it
 * loads uses. */
static int noinfo(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_bpf, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, BPF_OBJ_GET_INFO_BY_FD, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof f / sizeof f[0], f };

	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

/* sockops-put=MAP: the plain socket at key 1, the SOCK_OPS program on
 * this process's cgroup, then the connection (it lands at key 0 by
 * itself) and SENTINEL sent on the plain socket. */
static int sockops(struct sockaddr_in a, int map, const char *sent)
{
	union bpf_attr at;
	int p, q, prog;
	bool ok;

	if (!plain_pair(&p, &q))
		return 1;
	if (getenv("X_NOINFO") && !step("noinfo", noinfo()))
		return 1;
	prog = getenv("X_PROG") ? atoi(getenv("X_PROG")) : load_sockops(map);
	if (getenv("X_TESTRUN")) {
		/* BPF_PROG_TEST_RUN runs a program without attaching it (a
		 * SOCK_OPS one cannot be: the kernel's ENOTSUPP, 524) */
		memset(&at, 0, sizeof at);
		at.test.prog_fd = (uint32_t)prog;
		step("test_run", bpf_call(BPF_PROG_TEST_RUN, &at));
	}
	ok = step("map_plain", map_put(map, 1, p)) && step("sockops_load", prog);
	return sockops_send(a, ok, prog, "sockops_attach", p, sent);
}

/* bpf(cmd) with 999, a descriptor that is none, in the 4-byte fields at
 * offsets first and second (the same one for one field) ("what"). */
static void bad_call(const char *what, int cmd, size_t first, size_t second)
{
	union bpf_attr a;
	uint32_t none = 999;

	memset(&a, 0, sizeof a);
	memcpy((char *)&a + first, &none, sizeof none);
	memcpy((char *)&a + second, &none, sizeof none);
	step(what, bpf_call(cmd, &a));
}

/* badfd: what the kernel says of a descriptor that is none. */
static int badfd(void)
{
	int map = new_sockmap(8, 1);

	step("map_fd", map_put(999, 0, 1));
	step("map_value", map_put(map, 0, 999));
	bad_call("attach", BPF_PROG_ATTACH, offsetof(union bpf_attr, attach_bpf_fd),
		 offsetof(union bpf_attr, attach_bpf_fd));
	bad_call("link", BPF_LINK_CREATE, offsetof(union bpf_attr, link_create.prog_fd),
		 offsetof(union bpf_attr, link_create.prog_fd));
	bad_call("link_update", BPF_LINK_UPDATE, offsetof(union bpf_attr, link_update.link_fd),
		 offsetof(union bpf_attr, link_update.new_prog_fd));
	bad_call("test_run", BPF_PROG_TEST_RUN, offsetof(union bpf_attr, test.prog_fd),
		 offsetof(union bpf_attr, test.prog_fd));
	bad_call("iter", BPF_ITER_CREATE, offsetof(union bpf_attr, iter_create.link_fd),
		 offsetof(union bpf_attr, iter_create.link_fd));
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a;
	socklen_t l;
	char ctl[64];
	int fd, rc = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: kroute_client sockmap|sockmap-plain|sockmap-made|sockops-made|sockops-early|tail-made|iter-made|badfd|addfd|repair|lookup|reuseport|ulp|tstamp|tstamp-server|kcm|nbd|9p|9p-long|fs9p|fs9p-sys|kcm-server|nbd-server PORT SENTINEL\n");
		return 2;
	}
	a = loopback4(atoi(argv[2]));
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[1], "sockmap-plain"))
		return sockmap(-1, argv[3], false, -1);
	if (!strcmp(argv[1], "sockmap-made") || !strcmp(argv[1], "sockops-made") || !strcmp(argv[1], "sockops-early") ||
	    !strcmp(argv[1], "iter-made") || !strcmp(argv[1], "tail-made"))
		return made_map(argv, argv[1][4] == 'o' || argv[1][0] == 't');
	if (!strncmp(argv[1], "tail-put=", 9))
		return tail_put(a, atoi(argv[1] + 9), argv[3]);
	if (!strncmp(argv[1], "sockops-put=", 12))
		return sockops(a, atoi(argv[1] + 12), argv[3]);
	if (!strcmp(argv[1], "repair"))
		return repair(a, argv[3]);
	if (!strcmp(argv[1], "badfd"))
		return badfd();
	if (!strcmp(argv[1], "lookup"))
		return lookup(atoi(argv[2]));
	if (!strcmp(argv[1], "tstamp"))
		return tstamp(a);
	if (!strcmp(argv[1], "tstamp-server") || !strcmp(argv[1], "kcm-server") || !strcmp(argv[1], "nbd-server"))
		return server(atoi(argv[2]), argv[1], argv[3]);
	if (!strcmp(argv[1], "reuseport") || !strncmp(argv[1], "reuseport=", 10))
		return reuseport(argv, atoi(argv[2]));
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		perror("connect");
		return 1;
	}
	if (!strcmp(argv[1], "sockmap")) {
		rc = sockmap(fd, argv[3], true, -1);
	} else if (!strncmp(argv[1], "sockmap-put=", 12)) {
		rc = getenv("X_RACE") ? race_map(fd, argv[3], atoi(argv[1] + 12))
				      : sockmap(fd, argv[3], true, atoi(argv[1] + 12));
	} else if (!strncmp(argv[1], "iter-put=", 9)) {
		rc = iter_put(atoi(argv[1] + 9), argv[3]);
	} else if (!strcmp(argv[1], "addfd")) {
		rc = addfd(fd, argv[3]);
	} else if (!strcmp(argv[1], "kcm")) {
		rc = kcm(fd, argv[3]);
	} else if (!strcmp(argv[1], "nbd")) {
		rc = nbd(fd, argv[3]);
	} else if (!strcmp(argv[1], "9p")) {
		rc = p9(fd, argv[3]);
	} else if (!strcmp(argv[1], "9p-long")) {
		rc = p9_long(fd, argv[3]);
	} else if (!strcmp(argv[1], "fs9p") || !strcmp(argv[1], "fs9p-sys")) {
		rc = fs9p(fd, argv[3], argv[1][4] == '-');
	} else if (!strcmp(argv[1], "ulp")) {
		memset(ctl, 0, sizeof ctl);
		step("ulp", setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", 3));
		step("tls_tx", setsockopt(fd, SOL_TLS, TLS_TX_, ctl, 40));
		l = sizeof ctl;
		step("get_tls_tx", getsockopt(fd, SOL_TLS, TLS_TX_, ctl, &l));
	} else {
		fprintf(stderr, "kroute_client: unknown mode %s\n", argv[1]);
		return 2;
	}
	echo(fd);
	return rc;
}
