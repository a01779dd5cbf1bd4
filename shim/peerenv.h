/* shim/peerenv.h — the peer's identity in an exec'd service's environment
 * (see shim/peerenv.c). */
#ifndef TLSSHIM_SHIM_PEERENV_H
#define TLSSHIM_SHIM_PEERENV_H

#include <stdbool.h>
#include <stddef.h>

#include "core/tls.h"

#define PEERENV_MAX 4096

struct shim_peerenv {
	bool active;             /* an inherited TLS fd names the peer: our names are replaced */
	int fd;
	size_t used;
	char block[PEERENV_MAX]; /* "NAME=value\0" ... (used bytes) */
};

/* Before an exec: find the fd that names the peer, complete its
 * handshake, collect the values (before the sessions go to pumps). */
void shim_peerenv_prepare(struct shim_peerenv *pe);
/* After the hand-over to pumps: remember the values beside the pumped
 * fd (system(), popen(), posix_spawn(): the program goes on). */
void shim_peerenv_done(const struct shim_peerenv *pe);
/* envp without entries starting with skip (skiplen bytes) and, when pe
 * is active, without our names, plus pe's values; out has nout slots
 * (NULL-terminated).  Returns the count. */
size_t shim_peerenv_env(const struct shim_peerenv *pe, char *const envp[], char **out, size_t nout,
			const char *skip, size_t skiplen);
/* A TLS session placed on fd 0, 1 or 2 by dup2 (inetd): its handshake
 * is completed, then it goes to a pump (shim_tls_placed), remembered. */
void shim_tls_placed_std(int fd, struct tls_conn *c);
/* At start-up, after the pumped fds were learned: the environment's
 * values belong to the inherited pumped fd that names the peer. */
void shim_peerenv_learn(void);

#endif
