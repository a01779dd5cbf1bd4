/* shim/addr.h — pure helpers: addresses and iovecs (shim/addr.c). */
#ifndef TLSSHIM_SHIM_ADDR_H
#define TLSSHIM_SHIM_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* The kernel's destination for a connect() to sa, in ss (zero-filled):
 * the 24-byte sockaddr_in6 of RFC 2133 as a full one, and 0.0.0.0, ::
 * and ::ffff:0.0.0.0 as the loopback address they reach.  The length to
 * match with. */
socklen_t shim_norm_addr(const struct sockaddr *sa, socklen_t len, struct sockaddr_storage *ss);
/* "a.b.c.d:port" or "[v6]:port" (logs, TLSSHIM_PUMPED), and back. */
void shim_format_addr(const struct sockaddr *sa, char *buf, size_t len);
bool shim_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len);
/* Fill chunk (size bytes) from iov, starting at iov[*i] + *off, and
 * advance them; returns the bytes copied. */
size_t shim_iov_gather(const struct iovec *iov, int cnt, int *i, size_t *off, char *chunk,
		       size_t size);

#endif
