/* core/session.c — what the shim keeps per session (core/session.h):
 * its fds, its owning process, the hand-over to a pump, the O_NONBLOCK
 * cache, the count of ciphertext reads.  The engine itself is in tls.c. */
#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"

int tls_conn_fds(struct tls_conn *c, int *out, int max)
{
	int n;

	ENTER_OR(c, 0);
	n = tls_conn_fds_locked(c, out, max);
	LEAVE(c);
	return n;
}

int tls_conn_fds_locked(struct tls_conn *c, int *out, int max)
{
	int n = c->nfds < max ? c->nfds : max;

	memcpy(out, c->fds, (size_t)n * sizeof *out);
	return n;
}

void tls_conn_set_owner(struct tls_conn *c, pid_t pid)
{
	__atomic_store_n(&c->owner, pid, __ATOMIC_RELEASE);
}

pid_t tls_conn_owner(struct tls_conn *c)
{
	return __atomic_load_n(&c->owner, __ATOMIC_ACQUIRE);
}

pid_t tls_conn_made_by(const struct tls_conn *c)
{
	return c->made_by;
}

void tls_conn_set_made_by(struct tls_conn *c, pid_t pid)
{
	c->made_by = pid;
}

bool tls_conn_hold(struct tls_conn *c)
{
	return xlock_lock_unless_mine(&c->lock);
}

bool tls_conn_hold_timed(struct tls_conn *c, int ms)
{
	return xlock_lock_timed(&c->lock, ms);
}

void tls_conn_release(struct tls_conn *c)
{
	LEAVE(c);
}

bool tls_conn_fork_hold(struct tls_conn *c)
{
	if (c->fork_held || xlock_mine(&c->lock))
		return false;
	xlock_lock(&c->lock);
	c->fork_held = true;
	return true;
}

void tls_conn_fork_release(struct tls_conn *c, bool child)
{
	c->fork_held = false;
	/* LEAVE, with the child's release in the child */
	if (atomic_load_explicit(&c->parked, memory_order_relaxed))
		conn_parked_leave(c);
	xlock_fork_release(&c->lock, true, child);
}

/* The room a pump's out-buffer is given before the fork: a few records
 * (program data adds at most one at a time, see WRITE_CHUNK in tls.c). */
#define PUMP_OUT_ROOM (4 * 16384)

bool tls_conn_prepare_pump(struct tls_conn *c, bool pump)
{
	unsigned char b;
	bool ok = true;

	c->keep_bufs = pump;
	__atomic_store_n(&c->bufs_hot, false, __ATOMIC_RELAXED);
	if (!pump) {
		/* No pump after all: the program's connection as it was. */
		if (c->ssl)
			SSL_set_mode(c->ssl, SSL_MODE_RELEASE_BUFFERS);
		return true;
	}
	if (c->ssl) {
		SSL_clear_mode(c->ssl, SSL_MODE_RELEASE_BUFFERS);
		ok = SSL_alloc_buffers(c->ssl) == 1;
	}
	if (c->out_cap < PUMP_OUT_ROOM) {
		unsigned char *nb = realloc(c->out, PUMP_OUT_ROOM);

		if (nb) {
			c->out = nb;
			c->out_cap = PUMP_OUT_ROOM;
		} else {
			ok = false;
		}
	}
	/* Creating a thread's random generators takes OpenSSL's global locks,
	 * which another thread of the program may hold at the fork: the pump
	 * would then wait for ever.  Made here, before the fork, the pump
	 * finds them ready.  The program's error queue is left as found. */
	ERR_set_mark();
	(void)RAND_bytes(&b, 1);
	(void)RAND_priv_bytes(&b, 1);
	ERR_pop_to_mark();
	return ok;
}

void tls_conn_reinit_after_fork(struct tls_conn *c)
{
	SSL_CTX *ctx = c->ssl ? SSL_get_SSL_CTX(c->ssl) : NULL;
	SSL_SESSION *sess = c->ssl ? SSL_get_session(c->ssl) : NULL;

	xlock_init(&c->lock);
	c->fork_held = false;
	/* In the pump (the contexts are its own copies): a session ticket
	 * that arrives now is not kept, and a fatal alert removes nothing
	 * from a cache (a session with no ID is in none).  Either would take
	 * the context's lock, or the resumption cache's, which another thread
	 * of the program may have held at the fork; and the pump never
	 * connects again.  Both contexts: the rule's, and the one SNI chose. */
	for (int i = 0; i < 2; i++) {
		SSL_CTX *x = i ? c->o.ctx : ctx;
		if (x) {
			SSL_CTX_set_session_cache_mode(x, SSL_SESS_CACHE_OFF);
			SSL_CTX_sess_set_new_cb(x, NULL);
		}
	}
	if (sess)
		(void)SSL_SESSION_set1_id(sess, (const unsigned char *)"", 0);
	/* The program's errors mean nothing here, and an entry left in the
	 * queue would make every engine call set it aside in memory from
	 * malloc (err_stash in tls.c). */
	ERR_clear_error();
}

void tls_conn_moved_locked(struct tls_conn *c)
{
	__atomic_store_n(&c->owner, -1, __ATOMIC_RELEASE);
	__atomic_store_n(&c->fail, TLS_FAIL_MOVED, __ATOMIC_RELAXED);
	snprintf(c->err, sizeof c->err, "the TLS session was handed to a pump process");
	/* Sequentially consistent against tls_conn_waiters (shim/pump.c). */
	__atomic_store_n(&c->state, ST_FAILED, __ATOMIC_SEQ_CST);
}

bool tls_conn_moved(const struct tls_conn *c)
{
	return __atomic_load_n(&c->state, __ATOMIC_SEQ_CST) == ST_FAILED &&
	       __atomic_load_n(&c->fail, __ATOMIC_RELAXED) == TLS_FAIL_MOVED;
}

int tls_conn_fd_add(struct tls_conn *c, int fd)
{
	int r = 0;

	ENTER_OR(c, -1);
	if (c->state == ST_FAILED && c->fail == TLS_FAIL_MOVED) {
		LEAVE(c);
		return -2;      /* handed to a pump meanwhile: the caller re-points fd */
	}
	if (c->nfds == c->fds_cap) {
		int cap = c->fds_cap ? c->fds_cap * 2 : 2;
		int *n = realloc(c->fds, (size_t)cap * sizeof *n);
		if (!n)
			r = -1;
		else {
			c->fds = n;
			c->fds_cap = cap;
		}
	}
	if (r == 0) {
		c->fds[c->nfds++] = fd;
		r = c->nfds;
	}
	LEAVE(c);
	return r;
}

int tls_conn_fd_remove(struct tls_conn *c, int fd)
{
	int left;

	/* Reentered: leave the list alone and say others remain, so this
	 * close sends nothing (the interrupted call then fails on its own). */
	ENTER_OR(c, 1);
	for (int i = 0; i < c->nfds; i++) {
		if (c->fds[i] == fd) {
			c->fds[i] = c->fds[--c->nfds];
			break;
		}
	}
	/* The engine's own fd is going away: continue on a duplicate. */
	if (c->fd == fd && c->nfds > 0)
		__atomic_store_n(&c->fd, c->fds[0], __ATOMIC_RELEASE);
	left = c->nfds;
	LEAVE(c);
	return left;
}

void tls_conn_detach_fd(struct tls_conn *c)
{
	ENTER_OR(c, );
	if (c->nfds == 0) {
		__atomic_store_n(&c->fd, -1, __ATOMIC_RELEASE);
		if (c->state != ST_FAILED) {
			__atomic_store_n(&c->fail, TLS_FAIL_GONE, __ATOMIC_RELAXED);
			snprintf(c->err, sizeof c->err, "the connection's last descriptor was closed");
			__atomic_store_n(&c->state, ST_FAILED, __ATOMIC_RELEASE);
		}
	}
	LEAVE(c);
}

/* An atomic, not the lock: every read and write asks (twice per round
 * trip of a request-response program, where a lock and the cancel-state
 * calls around it cost about 100 instructions each time).  The flag is
 * only a cache of the descriptor's O_NONBLOCK, which another thread's
 * fcntl() may change at any moment anyway. */
int tls_conn_nonblock(struct tls_conn *c)
{
	return __atomic_load_n(&c->nonblock, __ATOMIC_RELAXED);
}

void tls_conn_set_nonblock(struct tls_conn *c, int nb)
{
	__atomic_store_n(&c->nonblock, nb, __ATOMIC_RELAXED);
}

int tls_conn_sock_timeout(const struct tls_conn *c, bool snd, unsigned *gen)
{
	uint64_t w = __atomic_load_n(&c->timeo[snd], __ATOMIC_ACQUIRE);

	*gen = (unsigned)(w >> 32);
	return (int)(uint32_t)w;
}

/* Compare-and-swap: the copy is still the unknown one of generation gen. */
bool tls_conn_note_sock_timeout(struct tls_conn *c, bool snd, unsigned gen, int ms)
{
	uint64_t old = (uint64_t)gen << 32 | (uint32_t)TLS_TIMEO_UNKNOWN;

	return __atomic_compare_exchange_n(&c->timeo[snd], &old, (uint64_t)gen << 32 | (uint32_t)ms,
					   false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* Unknown again, in a new generation: a note of a value read before
 * fails (the setsockopt that calls this is done, so a read after it sees
 * the new value). */
void tls_conn_forget_sock_timeout(struct tls_conn *c)
{
	for (int i = 0; i < 2; i++) {
		uint64_t w = __atomic_load_n(&c->timeo[i], __ATOMIC_RELAXED), n;

		do
			n = ((w >> 32) + 1) << 32 | (uint32_t)TLS_TIMEO_UNKNOWN;
		while (!__atomic_compare_exchange_n(&c->timeo[i], &w, n, true, __ATOMIC_ACQ_REL,
						    __ATOMIC_RELAXED));
	}
}

/* The value known when the connection was made, unless a wrapper has
 * set one meanwhile (another thread's fcntl: that one is newer). */
void tls_conn_init_nonblock(struct tls_conn *c, int nb)
{
	int unknown = -1;

	__atomic_compare_exchange_n(&c->nonblock, &unknown, nb, false, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED);
}

unsigned long tls_conn_rx_generation(const struct tls_conn *c)
{
	return __atomic_load_n(&c->rx_gen, __ATOMIC_RELAXED);
}
