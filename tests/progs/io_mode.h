/* tests/progs/io_mode.h — the I/O calls a test program can be told to
 * use (client.c, echo_server.c): read/write, recv/send, recvfrom/sendto,
 * readv/writev or recvmsg/sendmsg; the vectored ones in two pieces, so
 * that a scatter or gather is really exercised, with an empty entry
 * {NULL, 0} between them, as Erlang's runtime passes (the kernel takes
 * it; the library copied from and to its NULL base, undefined behaviour
 * that the sanitizer build stopped the program for). */
#ifndef TLSSHIM_TESTS_IO_MODE_H
#define TLSSHIM_TESTS_IO_MODE_H

#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum io_mode { IO_RW, IO_RECVSEND, IO_VEC, IO_MSG, IO_FROMTO };

/* buf's two halves as iov[0] and iov[2], iov[1] empty (NULL, 0). */
static inline void io_halves(struct iovec iov[3], void *buf, size_t len)
{
	iov[0].iov_base = buf;
	iov[0].iov_len = len / 2;
	iov[1].iov_base = NULL;
	iov[1].iov_len = 0;
	iov[2].iov_base = (char *)buf + len / 2;
	iov[2].iov_len = len - len / 2;
}

static inline ssize_t io_read(enum io_mode m, int fd, char *buf, size_t len)
{
	struct iovec iov[3];
	struct msghdr msg;

	switch (m) {
	case IO_RECVSEND:
		return recv(fd, buf, len, 0);
	case IO_FROMTO:
		return recvfrom(fd, buf, len, 0, NULL, NULL);
	case IO_VEC:
		io_halves(iov, buf, len);
		return readv(fd, iov, 3);
	case IO_MSG:
		memset(&msg, 0, sizeof msg);
		io_halves(iov, buf, len);
		msg.msg_iov = iov;
		msg.msg_iovlen = 3;
		return recvmsg(fd, &msg, 0);
	default:
		return read(fd, buf, len);
	}
}

static inline ssize_t io_write(enum io_mode m, int fd, const char *buf, size_t len)
{
	struct iovec iov[3];
	struct msghdr msg;

	switch (m) {
	case IO_RECVSEND:
		return send(fd, buf, len, 0);
	case IO_FROMTO:
		return sendto(fd, buf, len, 0, NULL, 0);
	case IO_VEC:
		io_halves(iov, (void *)buf, len);
		return writev(fd, iov, 3);
	case IO_MSG:
		memset(&msg, 0, sizeof msg);
		io_halves(iov, (void *)buf, len);
		msg.msg_iov = iov;
		msg.msg_iovlen = 3;
		return sendmsg(fd, &msg, 0);
	default:
		return write(fd, buf, len);
	}
}

#endif
