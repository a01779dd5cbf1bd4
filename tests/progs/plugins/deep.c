/* plugins/deep.c — a plug-in for tests/progs/deepbind.c
 * (tests/preload/deepbind.sh), built twice: plugdeep_now.so (-z now,
 * -z relro: its GOT read-only once loaded; its DT_SONAME plugdeep_now.so),
 * plugdeep_lazy.so (lazy PLT slots, no RELRO) and plugdeep_textrel.so
 * (-DDEEP_TEXTREL: send's address is in its text, an absolute relocation
 * in a read-only segment, DT_TEXTREL).  plug_dial() connects to 127.0.0.1:PORT and sends
 * LINE and a newline with the C library's functions, three ways: write()
 * (a PLT slot), send() through a pointer loaded from the GOT, and the
 * newline through a pointer in its data (an absolute relocation); then
 * reads the reply line with recv().  Loaded with RTLD_DEEPBIND, each of
 * these binds to the C library first.  Returns "reply: LINE" or what
 * failed (static buffer). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

ssize_t (*plug_writer)(int, const void *, size_t) = write;

#ifdef DEEP_TEXTREL
void *plug_send_address(void);
#if defined(__x86_64__)
__asm__(".text\n.globl plug_send_address\n.type plug_send_address, @function\nplug_send_address:\n"
	"\tmovabsq $send, %rax\n\tret\n.size plug_send_address, .-plug_send_address\n");
#else
__asm__(".text\n.globl plug_send_address\n.type plug_send_address, %function\nplug_send_address:\n"
	"\tldr x0, 1f\n\tret\n\t.p2align 3\n1:\t.xword send\n.size plug_send_address, .-plug_send_address\n");
#endif
#endif

const char *plug_dial(int port, const char *line)
{
	static char out[512];
#ifdef DEEP_TEXTREL
	ssize_t (*volatile sender)(int, const void *, size_t, int) =
		(ssize_t (*)(int, const void *, size_t, int))plug_send_address();
#else
	ssize_t (*volatile sender)(int, const void *, size_t, int) = send;
#endif
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	size_t half = strlen(line) / 2, got = 0;
	char buf[256];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		snprintf(out, sizeof out, "connect failed");
		return out;
	}
	if (write(fd, line, half) != (ssize_t)half ||
	    sender(fd, line + half, strlen(line) - half, 0) != (ssize_t)(strlen(line) - half) ||
	    plug_writer(fd, "\n", 1) != 1) {
		snprintf(out, sizeof out, "send failed");
		close(fd);
		return out;
	}
	while (got < sizeof buf - 1 && (got == 0 || buf[got - 1] != '\n')) {
		ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	close(fd);
	snprintf(out, sizeof out, "reply: %s", buf);
	return out;
}
