/* shim/file.c — kernel-side copies into a TLS socket.
 *
 * sendfile() moves file bytes into a socket inside the kernel, past any
 * preload: on a TLS fd the shim reads the file itself and sends it
 * through the engine, with the kernel's return semantics (bytes taken;
 * *offset advanced, or the file position, by exactly that many).
 * With kernel TLS sending (ktls = true, a kernel that has it) on a
 * non-blocking socket, sendfile() goes to the kernel itself: zero-copy.
 * splice() from a pipe into a TLS fd encrypts too (see tls_splice_in).
 * Out of a TLS fd, splice() and sendfile() (the kernel takes a socket as
 * sendfile's input when the output is a pipe) are refused with EINVAL,
 * the answer the kernel gives for fds it cannot copy from: they would
 * hand the program the ciphertext, or a peer's plaintext before any
 * handshake, that TLS never authenticated.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "core/log.h"
#include "shim/shim.h"

#define FILE_CHUNK 16384

/* Kernel TLS sending on a non-blocking socket: the file goes straight
 * from the page cache into the socket, the kernel encrypts (zero-copy).
 * A count or a negative errno, with *done; *done false: the copying path
 * does it (no kTLS sending, or a blocking socket, on which a real
 * sendfile would block under the connection's lock). */
static ssize_t ktls_sendfile(struct tls_conn *c, int in, off64_t *off, size_t count, bool *done)
{
	int err = 0, e;
	ssize_t r;

	*done = false;
	if (!shim_tls_nonblocking(c, 0))
		return 0;
	if (!tls_conn_handshake_done(c) && (e = shim_tls_handshake(c, true)) < 0) {
		*done = true;
		return e;
	}
	if (!tls_conn_ktls_send(c))
		return 0;
	r = tls_conn_sendfile(c, in, off, count, &err);
	if (r == TLS_NOT_KTLS)
		return 0;
	*done = true;
	if (r >= 0)
		return r;
	if (r == TLS_WANT_POLLOUT)
		return -EAGAIN;
	if (r == TLS_SYSERR)
		return -err;
	return shim_tls_error(c, true, 0);
}

/* A count, or a negative errno. */
static ssize_t tls_sendfile(struct tls_conn *c, int in, off64_t *off, size_t count)
{
	char buf[FILE_CHUNK];
	size_t total = 0;
	bool done;
	ssize_t k;

	if (tls_conn_opts_ktls(c) && (k = ktls_sendfile(c, in, off, count, &done), done))
		return k;

	while (total < count) {
		size_t want = count - total < sizeof buf ? count - total : sizeof buf;
		ssize_t got = off ? pread64(in, buf, want, *off) : read(in, buf, want);
		ssize_t sent;

		if (got <= 0) {
			if (got < 0 && !total)
				return -errno;
			break;
		}
		sent = shim_tls_send(c, buf, (size_t)got, 0);   /* SIGPIPE as the kernel's */
		if (sent < 0) {
			if (!off)
				(void)lseek64(in, -got, SEEK_CUR);
			if (!total)
				return sent;
			break;
		}
		if (off)
			*off += sent;
		else if (sent < got)
			(void)lseek64(in, sent - got, SEEK_CUR);   /* the rest is not sent */
		total += (size_t)sent;
		if (sent < got)
			break;          /* non-blocking socket full: a short count */
	}
	return (ssize_t)total;
}

/* splice() or sendfile() out of a TLS socket: refused (see the top). */
static ssize_t tls_copy_out(struct tls_conn *c, const char *call)
{
	log_warn("%s rule \"%s\": %s() out of a TLS connection: EINVAL (use read)",
		 tls_conn_peer(c), tls_conn_label(c), call);
	return -EINVAL;
}

/* sendfile() into a pass-through fd: its input decides.  Before, only
 * the output was looked at, and sendfile() from a TLS socket into a pipe
 * gave the program what the socket received, unauthenticated. */
static ssize_t sendfile_from(int out, int in, off64_t *off, size_t count)
{
	SHIM_DISPATCH(in, REAL(sendfile64)(out, in, off, count), tls_copy_out(c, "sendfile"));
}

SHIM_EXPORT ssize_t sendfile64(int out, int in, off64_t *off, size_t count)
{
	SHIM_DISPATCH(out, sendfile_from(out, in, off, count), tls_sendfile(c, in, off, count));
}

SHIM_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
	SHIM_DISPATCH(out, sendfile_from(out, in, (off64_t *)off, count),
		      tls_sendfile(c, in, (off64_t *)off, count));
}

/* splice() from a pipe into a TLS socket: the bytes are read from the
 * pipe only once the engine is sure to take them (its out-buffer empty:
 * one record of up to 16 KiB always goes in), so none is ever lost. */
static ssize_t tls_splice_in(struct tls_conn *c, int in, size_t len, unsigned int flags)
{
	char buf[FILE_CHUNK];
	bool nb = (flags & SPLICE_F_NONBLOCK) || shim_tls_nonblocking(c, 0);
	ssize_t got, sent;
	int e;

	if (!len)
		return 0;
	if (!tls_conn_handshake_done(c) && (e = shim_tls_handshake(c, nb)) < 0)
		return e;
	/* Room first: flush what waits, or wait for it (blocking socket). */
	for (;;) {
		int r = tls_conn_flush(c);
		if (r == 0)
			break;
		if (r == TLS_ERR || r == TLS_REENTERED)
			return shim_tls_error(c, true, 0);
		if (nb)
			return -EAGAIN;
		if ((e = shim_wait(c, tls_conn_fd(c), POLLOUT, -1)) < 0)
			return e;
	}
	if (flags & SPLICE_F_NONBLOCK) {
		struct pollfd p = { .fd = in, .events = POLLIN };
		if (REAL(poll)(&p, 1, 0) == 0)
			return -EAGAIN;
	}
	got = read(in, buf, len < sizeof buf ? len : sizeof buf);
	if (got <= 0)
		return got < 0 ? -errno : 0;
	sent = shim_tls_send(c, buf, (size_t)got, MSG_DONTWAIT);
	if (sent != got) {
		/* Cannot happen with an empty out-buffer; never drop data silently. */
		log_error("%s rule \"%s\": splice: the engine took %zd of %zd bytes read from the pipe",
			  tls_conn_peer(c), tls_conn_label(c), sent, got);
		return sent > 0 ? sent : -EIO;
	}
	return sent;
}

static ssize_t splice_from(int in, off64_t *off_in, int out, off64_t *off_out, size_t len,
			   unsigned int flags)
{
	SHIM_DISPATCH(in, REAL(splice)(in, off_in, out, off_out, len, flags), tls_copy_out(c, "splice"));
}

SHIM_EXPORT ssize_t splice(int in, off64_t *off_in, int out, off64_t *off_out, size_t len,
			   unsigned int flags)
{
	SHIM_DISPATCH(out, splice_from(in, off_in, out, off_out, len, flags),
		      (off_in || off_out) ? -ESPIPE   /* a pipe and a socket take no offsets */
					  : tls_splice_in(c, in, len, flags));
}
