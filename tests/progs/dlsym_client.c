/* dlsym_client — dlsym() and dlvsym() on explicit handles, under the
 * shim (tests/preload/escape.sh).
 *
 *   dlsym_client libc PORT SENTINEL
 *	connect to 127.0.0.1:PORT (a TLS rule); on dlopen("libc.so.6"):
 *	write by dlvsym(h, "write", "GLIBC_2.2.5"), send by dlsym(h, "send"),
 *	sendmsg by dlsym(h, "sendmsg"), each a line "SENTINEL how";
 *	read the echo back with read().  Prints "echo ok" or what failed.
 *   dlsym_client plugin SO
 *	dlopen(SO) (preload_dlnext.so, RTLD_LOCAL): dlsym(h, "write") must
 *	be its own write, and dlsym on a handle of libm ("cos") libm's.
 *	Prints "plugin ok".
 *   dlsym_client next
 *	run with preload_dlnext.so preloaded after the library: write() a
 *	line to /dev/null; the preload library's write must have run and
 *	found, with RTLD_NEXT, the C library's.  Prints "next ok FILE".
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*send_fn)(int, const void *, size_t, int);
typedef ssize_t (*sendmsg_fn)(int, const struct msghdr *, int);

static int libc_case(int port, const char *sent)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	void *h = dlopen("libc.so.6", RTLD_NOW);
	write_fn w;
	send_fn s;
	sendmsg_fn m;
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
	if (!w || !s || !m) {
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
	len = (size_t)snprintf(want, sizeof want, "%s dlvsym-write\n%s dlsym-send\n%s dlsym-sendmsg\n",
			       sent, sent, sent);
	{
		size_t l1 = strlen(sent) + 14, l2 = strlen(sent) + 12;
		struct iovec v = { want + l1 + l2, len - l1 - l2 };
		struct msghdr mh = { .msg_iov = &v, .msg_iovlen = 1 };

		if (w(fd, want, l1) != (ssize_t)l1 || s(fd, want + l1, l2, 0) != (ssize_t)l2 ||
		    m(fd, &mh, 0) != (ssize_t)v.iov_len) {
			perror("write/send/sendmsg");
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
