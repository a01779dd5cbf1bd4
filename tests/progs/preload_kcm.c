/* preload_kcm.so — a test-only stand-in for two kernel consumers of a
 * TCP socket that this machine's kernel may lack: KCM (AF_KCM,
 * SIOCKCMATTACH) and the NBD client (/dev/nbd0, NBD_SET_SOCK).
 *
 *   LD_PRELOAD="libtlsshim.so preload_kcm.so" prog
 *
 * Loaded AFTER the library, so that the library's own dlsym(RTLD_NEXT)
 * finds these wrappers: the library sees the program's calls first, as
 * with the kernel's objects.  What each object does once a socket is
 * handed to it is what the kernel's does with the socket's bytes: they
 * move between the object and the connection as they are, past every
 * wrapper of the program's (here: the C library's write() and read()).
 *  - socket(AF_KCM, ...) answers with one end of a SOCK_SEQPACKET socket
 *    pair (getsockopt SO_DOMAIN says AF_KCM); ioctl(k, SIOCKCMATTACH,
 *    {fd, bpf_fd}) on it then has every message sent on k (send, write)
 *    written on fd at once, and a thread of ours gives k what fd
 *    receives, as messages.
 *  - open("/dev/nbd0") answers with one end of such a pair;
 *    ioctl(dev, NBD_SET_SOCK, fd) then has what the program writes on
 *    dev (the block device's data) written on fd at once, and gives dev
 *    what fd receives.
 *  - mount(..., "9p", ..., "trans=fd,rfdno=N,wfdno=M,aname=A...") writes
 *    what the kernel's 9p client writes first on M (a Tversion message,
 *    then a Tattach naming A) and succeeds.  It reads the options as the
 *    kernel does, their first 4095 bytes (a page, its last byte zeroed),
 *    and keeps them in x_p9_opts for the program to read (dlsym).
 *  - fsopen("9p") (the function or syscall(SYS_fsopen)) answers with one
 *    end of such a pair; fsconfig(fs, FSCONFIG_SET_STRING, ...) of
 *    "trans" "fd", "wfdno" M and "aname" A on it (the function, or
 *    syscall(SYS_fsconfig): the library's wrapper calls the latter)
 *    are kept, and FSCONFIG_CMD_CREATE then writes on M what mount does,
 *    looking the number up then, as the kernel does.
 * An ioctl's request is read as the kernel reads it, its low 32 bits,
 * and NBD_SET_SOCK's descriptor as the kernel's int.
 * Every other call goes to the C library.  Knows nothing about TLS.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kcm.h>
#include <linux/nbd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef AF_KCM
#define AF_KCM 41
#endif

#define NFAKE 1024
/* fake[n]: for a number n we answered with, its pair's other end + 1
 * (0: not ours); kind[n]: 'k' KCM, 'n' NBD. */
static int fake[NFAKE];
static char kind[NFAKE];
/* conn[n]: the connection attached to our number n, + 1 (0: none). */
static int conn[NFAKE];
/* For a fake fsopen("9p") number n: trans=fd seen, wfdno + 1, aname. */
static char fs_byfd[NFAKE];
static int fs_wfd[NFAKE];
static char fs_aname[NFAKE][64];

static void *next(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

static int make_fake(char k)
{
	int sv[2];
	int (*sp)(int, int, int, int *) = (int (*)(int, int, int, int *))next("socketpair");

	if (!sp || sp(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	if (sv[0] >= NFAKE) {
		close(sv[0]);
		close(sv[1]);
		errno = EMFILE;
		return -1;
	}
	fake[sv[0]] = sv[1] + 1;
	kind[sv[0]] = k;
	return sv[0];
}

struct relay {
	int obj, conn;
};

static ssize_t (*c_write(void))(int, const void *, size_t)
{
	return (ssize_t (*)(int, const void *, size_t))next("write");
}

/* What the kernel's object does with what the connection receives:
 * takes it, as it is, until either end closes (the process's exit ends
 * it in any case). */
static void *relay(void *arg)
{
	struct relay r = *(struct relay *)arg;
	ssize_t (*rd)(int, void *, size_t) = (ssize_t (*)(int, void *, size_t))next("read");
	ssize_t (*wr)(int, const void *, size_t) = c_write();
	char buf[16384];
	ssize_t n;

	free(arg);
	while ((n = rd(r.conn, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
		if (n > 0 && wr(r.obj, buf, (size_t)n) != n)
			break;
	return NULL;
}

static int attach(int fd, int c)
{
	struct relay *r = malloc(sizeof *r);
	pthread_t t;

	if (!r)
		return -1;
	r->obj = fake[fd] - 1;
	r->conn = c;
	if (pthread_create(&t, NULL, relay, r)) {
		free(r);
		errno = EAGAIN;
		return -1;
	}
	pthread_detach(t);
	conn[fd] = c + 1;
	return 0;
}

static int ours(int fd, char k)
{
	return fd >= 0 && fd < NFAKE && fake[fd] && kind[fd] == k;
}

/* What the program writes on our attached number goes on the connection
 * at once (the KCM message, the block device's data), as it is. */
ssize_t write(int fd, const void *buf, size_t n)
{
	ssize_t (*wr)(int, const void *, size_t) = c_write();

	if (fd >= 0 && fd < NFAKE && conn[fd])
		return wr(conn[fd] - 1, buf, n);
	return wr ? wr(fd, buf, n) : -1;
}

ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	ssize_t (*f)(int, const void *, size_t, int) = (ssize_t (*)(int, const void *, size_t, int))next("send");

	if (fd >= 0 && fd < NFAKE && conn[fd])
		return c_write()(conn[fd] - 1, buf, n);
	return f ? f(fd, buf, n, flags) : -1;
}

/* A 9P message of type `type` (tag 0) with the strings s[0..n-1], on fd. */
static void p9_msg(int fd, unsigned char type, const char *const *s, int n)
{
	unsigned char m[512];
	size_t len = 7;

	for (int i = 0; i < n; i++) {
		size_t l = strlen(s[i]) < 200 ? strlen(s[i]) : 200;

		m[len] = (unsigned char)l;
		m[len + 1] = 0;
		memcpy(m + len + 2, s[i], l);
		len += 2 + l;
	}
	m[0] = (unsigned char)len;
	m[1] = (unsigned char)(len >> 8);
	m[2] = m[3] = 0;
	m[4] = type;
	m[5] = m[6] = 0;
	c_write()(fd, m, len);
}

static void p9_hello(int wfd, const char *aname);

/* The options of the last 9p mount, as the kernel read them. */
__attribute__((visibility("default"))) char x_p9_opts[4096];

int mount(const char *src, const char *dir, const char *type, unsigned long flags, const void *data)
{
	int (*f)(const char *, const char *, const char *, unsigned long, const void *) =
		(int (*)(const char *, const char *, const char *, unsigned long, const void *))next("mount");
	char opts[4096], *save = NULL, aname[256] = "";
	int wfd = -1, byfd = 0;

	if (!type || strcmp(type, "9p") || !data)
		return f ? f(src, dir, type, flags, data) : -1;
	snprintf(opts, sizeof opts, "%s", (const char *)data);
	memcpy(x_p9_opts, opts, sizeof opts);
	for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		if (!strcmp(o, "trans=fd"))
			byfd = 1;
		else if (!strncmp(o, "wfdno=", 6))
			wfd = atoi(o + 6);
		else if (!strncmp(o, "aname=", 6))
			snprintf(aname, sizeof aname, "%s", o + 6);
	}
	if (!byfd || wfd < 0)
		return f ? f(src, dir, type, flags, data) : -1;
	p9_hello(wfd, aname);
	return 0;
}

/* 9p's first words on wfd: Tversion, then a Tattach naming aname. */
static void p9_hello(int wfd, const char *aname)
{
	const char *version[] = { "9P2000.L" }, *attach[] = { "root", aname };

	p9_msg(wfd, 100, version, 1);   /* Tversion */
	p9_msg(wfd, 104, attach, 2);    /* Tattach */
}

static long fake_fsopen(const char *name)
{
	return !strcmp(name, "9p") ? make_fake('9') : (errno = ENODEV, -1);
}

/* fsconfig on a fake 9p context (kind '9'); -2: not ours. */
static long fake_fsconfig(int fs, unsigned int cmd, const char *key, const char *val)
{
	if (!ours(fs, '9'))
		return -2;
	if (cmd == FSCONFIG_SET_STRING && key && val) {
		if (!strcmp(key, "trans"))
			fs_byfd[fs] = !strcmp(val, "fd");
		else if (!strcmp(key, "wfdno"))
			fs_wfd[fs] = atoi(val) + 1;
		else if (!strcmp(key, "aname"))
			snprintf(fs_aname[fs], sizeof fs_aname[fs], "%s", val);
		return 0;
	}
	if (cmd == FSCONFIG_CMD_CREATE) {
		if (!fs_byfd[fs] || !fs_wfd[fs]) {
			errno = EINVAL;
			return -1;
		}
		p9_hello(fs_wfd[fs] - 1, fs_aname[fs]);
		return 0;
	}
	errno = EINVAL;
	return -1;
}

int fsopen(const char *name, unsigned int flags)
{
	(void)flags;
	return (int)fake_fsopen(name);
}

int fsconfig(int fs, unsigned int cmd, const char *key, const void *val, int aux)
{
	long r = fake_fsconfig(fs, cmd, key, val);

	return r != -2 ? (int)r : (int)syscall(SYS_fsconfig, fs, cmd, key, val, aux);
}

long syscall(long no, ...)
{
	long (*f)(long, ...) = (long (*)(long, ...))next("syscall");
	unsigned long a[6];
	va_list ap;
	long r;

	va_start(ap, no);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, unsigned long);
	va_end(ap);
	if (no == SYS_fsopen)
		return fake_fsopen((const char *)a[0]);
	if (no == SYS_fsconfig &&
	    (r = fake_fsconfig((int)a[0], (unsigned)a[1], (const char *)a[2], (const char *)a[3])) != -2)
		return r;
	return f ? f(no, a[0], a[1], a[2], a[3], a[4], a[5]) : -1;
}

int socket(int domain, int type, int protocol)
{
	int (*f)(int, int, int) = (int (*)(int, int, int))next("socket");

	if (domain == AF_KCM)
		return make_fake('k');
	return f ? f(domain, type, protocol) : -1;
}

int open(const char *path, int flags, ...)
{
	int (*f)(const char *, int, ...) = (int (*)(const char *, int, ...))next("open");
	va_list ap;
	mode_t m = 0;

	if (!strcmp(path, "/dev/nbd0"))
		return make_fake('n');
	va_start(ap, flags);
	if (flags & (O_CREAT | O_TMPFILE))
		m = (mode_t)va_arg(ap, int);
	va_end(ap);
	return f ? f(path, flags, m) : -1;
}

int getsockopt(int fd, int level, int opt, void *val, socklen_t *len)
{
	int (*f)(int, int, int, void *, socklen_t *) =
		(int (*)(int, int, int, void *, socklen_t *))next("getsockopt");

	if (ours(fd, 'k') && level == SOL_SOCKET && opt == SO_DOMAIN && val && len && *len >= sizeof(int)) {
		int d = AF_KCM;

		memcpy(val, &d, sizeof d);
		*len = sizeof d;
		return 0;
	}
	return f ? f(fd, level, opt, val, len) : -1;
}

int ioctl(int fd, unsigned long req, ...)
{
	int (*f)(int, unsigned long, ...) = (int (*)(int, unsigned long, ...))next("ioctl");
	va_list ap;
	void *arg;
	struct kcm_attach ka;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	req = (unsigned int)req;        /* the kernel's cmd: the low 32 bits */
	if (req == SIOCKCMATTACH && ours(fd, 'k') && arg) {
		memcpy(&ka, arg, sizeof ka);
		return attach(fd, ka.fd);
	}
	if (req == NBD_SET_SOCK && ours(fd, 'n'))
		return attach(fd, (int)(uintptr_t)arg);        /* the kernel's int */
	return f ? f(fd, req, arg) : -1;
}
