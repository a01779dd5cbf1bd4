/* core/conntab.h — which fds are TLS connections.
 *
 * An array indexed by fd (sized from RLIMIT_NOFILE, reserved once with
 * mmap so it never moves) of pointers to reference-counted connections.
 * Readers look a slot up without a lock: NULL means "plain socket, go
 * straight to libc".  Taking a reference on a non-NULL slot, and every
 * change of a slot, happens under one registry lock, which is never held
 * during I/O.  Lock order: registry lock, then a connection's lock.
 */
#ifndef TLSSHIM_CORE_CONNTAB_H
#define TLSSHIM_CORE_CONNTAB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/tls.h"

extern _Atomic(struct tls_conn *) *conntab_slots;
extern size_t conntab_size;

int conntab_init(void);

/* The fast path: is there possibly a connection on fd?  No lock. */
static inline bool conntab_maybe(int fd)
{
	return fd >= 0 && (size_t)fd < conntab_size &&
	       atomic_load_explicit(&conntab_slots[fd], memory_order_acquire) != NULL;
}

/* A new reference to fd's connection, or NULL. */
struct tls_conn *conntab_get(int fd);
/* Put c (the caller's reference moves into the table) at fd.  A stale
 * connection still there (its fd was closed behind our back) is dropped
 * without a word on the wire.  -1 when fd is beyond the table. */
int conntab_attach(int fd, struct tls_conn *c);
/* Take fd's connection out of the table; the caller gets its reference. */
struct tls_conn *conntab_detach(int fd);
/* A call just returned fd as new (socket, accept, ...): forget any stale
 * connection recorded under that number. */
void conntab_forget(int fd);

/* One past the highest fd ever attached (bounds a scan of the table). */
size_t conntab_high(void);

/* fork(): lock the registry in prepare, release in parent and child. */
void conntab_lock(void);
void conntab_unlock(void);
/* fork(): the registry lock and every connection's lock (registry first,
 * as everywhere), so no lock of ours is held mid-operation in the child. */
void conntab_fork_lock(void);
void conntab_fork_unlock(void);

#endif
