/* core/conntab.h — what the shim knows about every fd number.
 *
 * An array indexed by fd (sized from RLIMIT_NOFILE, reserved once with
 * mmap so it never moves) of one word per fd, in one of these states:
 *
 *   UNSEEN    the shim has not classified this number yet.  "Unknown"
 *             never means "plain": the first socket call on it classifies
 *             it (is it TCP, which rule) and records the answer.
 *   PLAIN     not a TLS connection: calls go straight to the C library.
 *   PUMPED    a session handed to a pump process: the number names the
 *             plaintext end of the pump's channel (pass-through for I/O;
 *             getpeername()/getsockname() answer with the TCP addresses
 *             kept in conntab_pumped()).
 *   OWN       one of the shim's own fds (log file, linger, wake pipes):
 *             the program cannot close, replace or use it.
 *   REFUSED   a socket a TLS rule names that carried bytes outside the
 *             shim: every call on it fails.
 *   TLS       a TLS connection: the word is a reference-counted pointer.
 *   CLOSING   a TLS connection whose close() is running: a tombstone that
 *             stays until the real close() has returned.  Calls fail with
 *             EBADF, as on a closed socket; none reaches the C library.
 *
 * The fast path (one load, no lock, no write) tells pass-through numbers
 * (PLAIN, PUMPED) from the rest.  Taking a reference on a TLS connection
 * is lock-free too (see conntab_get).  Every change of a word is an atomic
 * exchange or compare-and-swap; the mutation lock only keeps changes that
 * involve a connection out of a fork()'s prepare handler, and a change
 * between words that name none takes no lock (see docs/locking.md).
 */
#ifndef TLSSHIM_CORE_CONNTAB_H
#define TLSSHIM_CORE_CONNTAB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/tls.h"

#define CT_UNSEEN   ((uintptr_t)0)
#define CT_PLAIN    ((uintptr_t)1)
#define CT_OWN      ((uintptr_t)2)
#define CT_PUMPED   ((uintptr_t)3)
#define CT_REFUSED  ((uintptr_t)4)
#define CT_PASS_BIT ((uintptr_t)1)      /* PLAIN and PUMPED */
#define CT_CLOSING_BIT ((uintptr_t)2)   /* on a connection pointer */
#define CT_TAGS     ((uintptr_t)7)

extern _Atomic uintptr_t *conntab_slots;
extern size_t conntab_size;

int conntab_init(void);

/* The word for fd; fds beyond the table read as UNSEEN (never cached). */
static inline uintptr_t conntab_load(int fd)
{
	if (__builtin_expect(fd >= 0 && (size_t)fd < conntab_size, 1))
		return atomic_load_explicit(&conntab_slots[fd], memory_order_acquire);
	return CT_UNSEEN;
}

/* The fast path: a number whose calls go straight to the C library. */
static inline bool conntab_is_pass(uintptr_t v)
{
	return (v & CT_PASS_BIT) != 0;
}

static inline bool conntab_is_tls(uintptr_t v)
{
	return v > CT_TAGS && (v & CT_TAGS) == 0;
}

static inline bool conntab_is_closing(uintptr_t v)
{
	return v > CT_TAGS && (v & CT_TAGS) == CT_CLOSING_BIT;
}

static inline struct tls_conn *conntab_conn_of(uintptr_t v)
{
	return (struct tls_conn *)(v & ~CT_TAGS);
}

/* One try of conntab_get for a word v read as TLS: a reference to the
 * connection it names, if the word still names it once the reference is
 * taken; NULL (nothing held) when it changed meanwhile. */
static inline struct tls_conn *conntab_ref_named(int fd, uintptr_t v)
{
	struct tls_conn *c = conntab_conn_of(v);

	if (!tls_conn_tryref(c))
		return NULL;    /* being recycled: the word has changed */
	if (conntab_load(fd) == v)
		return c;
	tls_conn_unref(c);
	return NULL;
}

/* A new reference to fd's TLS connection (state TLS only), or NULL.
 * Lock-free: connection objects are type-stable (core/tls.c recycles
 * them), so a stale pointer is detected by a failed try-reference or a
 * changed word, never dereferenced after being freed to the allocator. */
struct tls_conn *conntab_get(int fd);

/* Put c at fd (state TLS; the caller's reference moves into the table).
 * Whatever the word held before is dropped: a connection there was stale
 * (its number was closed behind our back) and is released without a word
 * on the wire.  -1 when fd is beyond the table (c is left to the caller). */
int conntab_attach(int fd, struct tls_conn *c);

/* Set a state without a connection (PLAIN, PUMPED, OWN, REFUSED, UNSEEN),
 * dropping a connection the word held. */
void conntab_set(int fd, uintptr_t state);

/* The same without the mutation lock, for words that never hold a
 * connection (the shim's own fds): safe from any context. */
void conntab_set_unlocked(int fd, uintptr_t state);

/* Compare and swap fd's word; the caller handles references. */
bool conntab_cas(int fd, uintptr_t old, uintptr_t new_);

/* close() of a TLS fd: TLS -> CLOSING.  Returns the connection with a
 * reference for the caller (the table's stays in the word), or NULL when
 * fd is not TLS. */
struct tls_conn *conntab_begin_close(int fd);
/* After the real close(): CLOSING -> UNSEEN, releasing the table's
 * reference (the caller still drops its own). */
void conntab_end_close(int fd, struct tls_conn *c);

/* Take fd's connection out of the table (-> UNSEEN); the caller gets the
 * table's reference.  NULL when fd held none. */
struct tls_conn *conntab_detach(int fd);

/* TCP addresses of a PUMPED number (written before the word says PUMPED). */
struct conntab_pumped {
	struct sockaddr_storage local, peer;
	socklen_t llen, plen;
	bool armed;             /* SO_LINGER {1, 0} set by the library (pump.c) */
};
struct conntab_pumped *conntab_pumped(int fd);

/* One past the highest fd ever given a non-UNSEEN state. */
size_t conntab_high(void);

/* Call fn for every fd in [first, last] whose word is TLS or CLOSING,
 * with a reference the callback must not keep (it is dropped after). */
void conntab_each_conn(int first, int last, void (*fn)(int fd, struct tls_conn *c, void *arg),
		       void *arg);

/* fork(): every change that involves a connection is kept out while the
 * prepare handler holds the lock of every connection in the table
 * (registry first, as everywhere), so no lock of ours is held
 * mid-operation in the child. */
void conntab_fork_lock(void);
void conntab_fork_unlock(bool child);

#endif
