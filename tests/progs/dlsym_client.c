/* dlsym_client — dlsym() and dlvsym() on explicit handles, under the
 * shim (tests/preload/escape.sh).
 *
 *   dlsym_client libc PORT SENTINEL
 *	connect to 127.0.0.1:PORT (a TLS rule); on dlopen("libc.so.6"):
 *	write by dlvsym(h, "write", "GLIBC_2.2.5"), send by dlsym(h, "send"),
 *	sendmsg by dlsym(h, "sendmsg"), send by dlvsym(RTLD_DEFAULT, "send",
 *	"GLIBC_2.2.5"), sendmmsg by dlsym(h, "__sendmmsg") (its second,
 *	GLIBC_PRIVATE name), write by dlsym(h, "__write_nocancel"), each a
 *	line "SENTINEL how"; then a LIO_WRITE by
 *	lio_listio's compatibility version (dlvsym(h, "lio_listio",
 *	"GLIBC_2.2.5")), which must be refused (EOPNOTSUPP, the wrapper's
 *	answer on a TLS fd); read the echo back with read().  Prints "echo ok"
 *	or what failed.
 *   dlsym_client plugin SO
 *	dlopen(SO) (preload_dlnext.so, RTLD_LOCAL): dlsym(h, "write") must
 *	be its own write, and dlsym on a handle of libm ("cos") libm's.
 *	Prints "plugin ok".
 *   dlsym_client next
 *	run with preload_dlnext.so preloaded after the library: write() a
 *	line to /dev/null; the preload library's write must have run and
 *	found, with RTLD_NEXT, the C library's (and with dlvsym(RTLD_NEXT,
 *	"send", "GLIBC_2.2.5") the C library's send).  The program's own
 *	dlvsym(RTLD_NEXT, "send", "GLIBC_2.2.5") and posix_spawn's
 *	compatibility version on the C library's handle must be the
 *	library's wrappers (functions of libtlsshim.so), and so must the
 *	C library's second names of wrapped functions (__poll, _IO_fdopen,
 *	...) and its no-cancel read, write and close on its handle.  Prints
 *	"next ok FILE".
 */
#include <aio.h>
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*send_fn)(int, const void *, size_t, int);
typedef ssize_t (*sendmsg_fn)(int, const struct msghdr *, int);
typedef int (*sendmmsg_fn)(int, struct mmsghdr *, unsigned int, int);
typedef int (*lio_fn)(int, struct aiocb *const[], int, struct sigevent *);

static int libc_case(int port, const char *sent)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	void *h = dlopen("libc.so.6", RTLD_NOW);
	write_fn w;
	send_fn s, d;
	sendmsg_fn m;
	lio_fn lio;
	sendmmsg_fn mm;
	write_fn wn;
	char want[512], got[512];
	size_t n = 0, len;
	int fd;

	if (!h) {
		printf("dlopen libc.so.6: %s\n", dlerror());
		return 1;
	}
	w = (write_fn)dlvsym(h, "write", "GLIBC_2.2.5");
	s = (send_fn)dlsym(h, "send");
	m = (sendmsg_fn)dlsym(h, "sendmsg");
	d = (send_fn)dlvsym(RTLD_DEFAULT, "send", "GLIBC_2.2.5");
	lio = (lio_fn)dlvsym(h, "lio_listio", "GLIBC_2.2.5");
	mm = (sendmmsg_fn)dlsym(h, "__sendmmsg");
	wn = (write_fn)dlsym(h, "__write_nocancel");
	if (!w || !s || !m || !d || !lio || !mm || !wn) {
		printf("lookup: %s\n", dlerror());
		return 1;
	}
	if (dlerror()) {
		printf("dlerror set after successful look-ups\n");
		return 1;
	}
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		perror("connect");
		return 1;
	}
	len = (size_t)snprintf(want, sizeof want, "%s dlvsym-write\n%s dlsym-send\n%s dlsym-sendmsg\n"
			       "%s default-send\n%s __sendmmsg\n%s nocancel\n", sent, sent, sent, sent, sent, sent);
	{
		size_t l1 = strlen(sent) + 14, l2 = strlen(sent) + 12, l3 = strlen(sent) + 15;
		size_t l4 = strlen(sent) + 14, l5 = strlen(sent) + 12, l6 = len - l1 - l2 - l3 - l4 - l5;
		struct iovec v = { want + l1 + l2, l3 }, v5 = { want + l1 + l2 + l3 + l4, l5 };
		struct msghdr mh = { .msg_iov = &v, .msg_iovlen = 1 };
		struct mmsghdr mmh = { .msg_hdr = { .msg_iov = &v5, .msg_iovlen = 1 } };
		struct aiocb cb = { .aio_fildes = fd, .aio_lio_opcode = LIO_WRITE, .aio_buf = want,
				    .aio_nbytes = l1 };
		struct aiocb *list[1] = { &cb };
		int lr;

		if (w(fd, want, l1) != (ssize_t)l1 || s(fd, want + l1, l2, 0) != (ssize_t)l2 ||
		    m(fd, &mh, 0) != (ssize_t)l3 || d(fd, want + l1 + l2 + l3, l4, 0) != (ssize_t)l4 ||
		    mm(fd, &mmh, 1, 0) != 1 || mmh.msg_len != l5 || wn(fd, want + len - l6, l6) != (ssize_t)l6) {
			perror("write/send/sendmsg/send/sendmmsg/write");
			return 1;
		}
		errno = 0;
		lr = lio(LIO_WAIT, list, 1, NULL);
		if (lr != -1 || errno != EOPNOTSUPP) {
			printf("lio_listio@GLIBC_2.2.5 LIO_WRITE on a TLS fd: %d (%s), not refused\n", lr,
			       strerror(errno));
			return 1;
		}
	}
	while (n < len) {
		ssize_t r = read(fd, got + n, sizeof got - 1 - n);

		if (r <= 0)
			break;
		n += (size_t)r;
	}
	got[n] = 0;
	if (n != len || memcmp(got, want, len)) {
		printf("echo: %zu bytes of %zu: %.80s\n", n, len, got);
		return 1;
	}
	printf("echo ok\n");
	return 0;
}

static int plugin_case(const char *so)
{
	void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL), *m, *w, *own, *cos_h, *cos_d;
	void *(*own_write)(void);

	if (!h) {
		printf("dlopen %s: %s\n", so, dlerror());
		return 1;
	}
	*(void **)&own_write = dlsym(h, "dlnext_own_write");
	w = dlsym(h, "write");
	own = own_write ? own_write() : NULL;
	if (!w || w != own) {
		printf("plugin's write %p, its own %p\n", w, own);
		return 1;
	}
	m = dlopen("libm.so.6", RTLD_NOW);
	cos_h = m ? dlsym(m, "cos") : NULL;
	cos_d = dlsym(RTLD_DEFAULT, "cos");
	if (!cos_h || (cos_d && cos_d != cos_h)) {
		printf("libm's cos %p, the default %p\n", cos_h, cos_d);
		return 1;
	}
	if (dlsym(h, "no_such_symbol_here") || !dlerror()) {
		printf("a missing symbol: no error\n");
		return 1;
	}
	printf("plugin ok\n");
	return 0;
}

/* The file that defines P (a sanitizer's runtime may stand in front of
 * the library's wrapper under RTLD_DEFAULT: compared by file). */
static const char *in_file(const void *p)
{
	Dl_info di;

	return p && dladdr(p, &di) && di.dli_fname ? di.dli_fname : "none";
}

/* The C library's second names of functions the library wraps, and its
 * no-cancel forms of read, write and close. */
static const char *const second[] = { "__sendmmsg", "__libc_fcntl64", "__socket", "_IO_fdopen", "__poll",
				       "__select", "ssignal", "_IO_popen", "__libc_system", "__libc_fork",
				       "__read_nocancel", "__write_nocancel", "__close_nocancel" };

static int next_case(void)
{
	const char *(*where)(void);
	unsigned long (*calls)(void);
	int fd = open("/dev/null", O_WRONLY);

	*(void **)&where = dlsym(RTLD_DEFAULT, "dlnext_where");
	*(void **)&calls = dlsym(RTLD_DEFAULT, "dlnext_calls");
	if (!where || !calls || fd < 0) {
		printf("preload_dlnext.so is not loaded\n");
		return 1;
	}
	if (write(fd, "x\n", 2) != 2) {
		perror("write");
		return 1;
	}
	if (calls() < 1 || !strstr(where(), "libc.so")) {
		printf("next: %lu calls, RTLD_NEXT found write in %s\n", calls(), where());
		return 1;
	}
	{
		void *(*vnext)(void), *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
		void *send_v = dlvsym(RTLD_NEXT, "send", "GLIBC_2.2.5");
		void *spawn_v = libc ? dlvsym(libc, "posix_spawn", "GLIBC_2.2.5") : NULL;
		const char *send_f = in_file(send_v), *spawn_f = in_file(spawn_v);
		Dl_info di;

		*(void **)&vnext = dlsym(RTLD_DEFAULT, "dlnext_vnext_send");
		if (!strstr(send_f, "libtlsshim") || !strstr(spawn_f, "libtlsshim")) {
			printf("next: dlvsym(RTLD_NEXT, send@GLIBC_2.2.5) in %s, dlvsym(libc,"
			       " posix_spawn@GLIBC_2.2.5) in %s: not the wrappers\n", send_f, spawn_f);
			return 1;
		}
		for (size_t i = 0; i < sizeof second / sizeof *second; i++) {
			const char *f = in_file(libc ? dlsym(libc, second[i]) : NULL);

			if (!strstr(f, "libtlsshim")) {
				printf("next: dlsym(libc, \"%s\") in %s: not the wrapper\n", second[i], f);
				return 1;
			}
		}
		if (!vnext || !dladdr(vnext(), &di) || !di.dli_fname || !strstr(di.dli_fname, "libc.so")) {
			printf("next: dlvsym(RTLD_NEXT, send@GLIBC_2.2.5) in the later library is not the C"
			       " library's\n");
			return 1;
		}
	}
	printf("next ok %s\n", strrchr(where(), '/') ? strrchr(where(), '/') + 1 : where());
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "libc"))
		return libc_case(atoi(argv[2]), argv[3]);
	if (argc >= 3 && !strcmp(argv[1], "plugin"))
		return plugin_case(argv[2]);
	if (argc >= 2 && !strcmp(argv[1], "next"))
		return next_case();
	fprintf(stderr, "usage: dlsym_client libc PORT SENTINEL | plugin SO | next\n");
	return 2;
}
