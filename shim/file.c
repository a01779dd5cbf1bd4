/* shim/file.c — kernel-side copies into a TLS socket.
 *
 * sendfile() moves file bytes into a socket inside the kernel, past any
 * preload: on a TLS fd the shim reads the file itself and sends it
 * through the engine, with the kernel's return semantics (bytes taken;
 * *offset advanced, or the file position, by exactly that many).
 * splice() into or out of a TLS fd is refused with EINVAL, the answer
 * the kernel gives for fds it cannot splice, which programs already
 * handle by falling back to read and write.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "core/log.h"
#include "shim/shim.h"

#define FILE_CHUNK 16384

static ssize_t tls_sendfile(struct tls_conn *c, int in, off64_t *off, size_t count)
{
	char buf[FILE_CHUNK];
	size_t total = 0;
	int saved = errno;

	while (total < count) {
		size_t want = count - total < sizeof buf ? count - total : sizeof buf;
		ssize_t got = off ? pread64(in, buf, want, *off) : read(in, buf, want);
		ssize_t sent;

		if (got <= 0) {
			if (got < 0 && !total)
				return -1;
			break;
		}
		sent = shim_tls_send(c, buf, (size_t)got, 0);   /* SIGPIPE as the kernel's */
		if (sent < 0) {
			int err = errno;
			if (!off)
				(void)lseek64(in, -got, SEEK_CUR);
			if (!total) {
				errno = err;
				return -1;
			}
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
	errno = saved;
	return (ssize_t)total;
}

SHIM_EXPORT ssize_t sendfile64(int out, int in, off64_t *off, size_t count)
{
	struct tls_conn *c;
	ssize_t r;

	if (!conntab_maybe(out) || !(c = conntab_get(out)))
		return REAL(sendfile64)(out, in, off, count);
	r = tls_sendfile(c, in, off, count);
	tls_conn_unref(c);
	return r;
}

SHIM_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
	struct tls_conn *c;
	ssize_t r;

	if (!conntab_maybe(out) || !(c = conntab_get(out)))
		return REAL(sendfile)(out, in, off, count);
	r = tls_sendfile(c, in, (off64_t *)off, count);
	tls_conn_unref(c);
	return r;
}

SHIM_EXPORT ssize_t splice(int in, off64_t *off_in, int out, off64_t *off_out, size_t len,
			   unsigned int flags)
{
	if (conntab_maybe(in) || conntab_maybe(out)) {
		struct tls_conn *c = conntab_get(conntab_maybe(out) ? out : in);
		if (c) {
			log_info("%s rule \"%s\": splice() on a TLS connection: EINVAL (use read/write)",
				 tls_conn_peer(c), tls_conn_rule(c)->name);
			tls_conn_unref(c);
			errno = EINVAL;
			return -1;
		}
	}
	return REAL(splice)(in, off_in, out, off_out, len, flags);
}
