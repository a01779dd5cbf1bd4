/* shim/own.c — the shim's own descriptors.
 *
 * The log file, the linger thread's wake pipe and the sockets it
 * lingers on, a pump hand-over's gate: a guest must own nothing of the
 * program's, and the program must be unable to close, replace or write
 * into anything of the guest's.  A program that closes every fd at
 * start-up (closefrom(3), as OpenSSH's client does) would otherwise close
 * the log fd, and the next socket it opens would get that number: the
 * shim's next log line would land, in clear, on a TLS connection.
 *
 * So every such fd lives high (from SHIM_OWN_BASE down from the soft
 * RLIMIT_NOFILE, never above 1024 so the kernel's fd table stays small),
 * close-on-exec, and is marked OWN in the connection table:
 *  - close() of it says EBADF (as for a number the program never opened),
 *    read/write/... too;
 *  - close_range()/closefrom() close around it (tests/preload/closefrom_own.sh:
 *    the numbers stay open on the same files; closed, the linger thread's
 *    wake-up byte went into the program's file that took the pipe's number);
 *  - dup2()/dup3() onto it first moves ours to another number (its owner
 *    is told), then lets the program have the number.
 * What no wrapper sees (a raw close_range system call) is caught where it
 * matters: the log checks the identity of its fd before every line
 * (core/log.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "core/lock.h"
#include "core/log.h"
#include "shim/shim.h"

#define OWN_MAX 4096

struct own {
	int fd;
	int *cell;                      /* updated when the fd moves, or NULL */
	void (*moved)(int from, int to);
};

static struct own owned[OWN_MAX];
static int nowned;
static struct xlock own_lock = XLOCK_INIT;

/* Copies held for one system call (shim_own_hold): the numbers a bpf()
 * or ADDFD call hands the kernel after the library judged what they
 * name.  Until they are let go, dup2()/dup3() onto one says EBUSY (as
 * Linux's dup2 may), close() EBADF, close_range() closes around it: a
 * TLS connection put there between the judgement and the kernel's call
 * would be what the kernel gets (kroute.sh, helper-175); one closed by
 * closefrom() goes to the program's next file at that number, which the
 * library's close after the call would close (held_many.sh,
 * held_many_closefrom).  A call holds at
 * most three, but holds them for the kernel's whole call, which may wait:
 * since connect() again on a TLS number, and a pumped number's connect()
 * and Fast Open, are made on a held copy (shim/connect.c, held_call), each
 * thread whose blocking connect() waits for a connecting end (a program
 * that calls it again after EINTR) holds one for as long.  The table had
 * 64 places: the 65th such thread, and every held call of the process
 * meanwhile (connect() again on a connected session, EISCONN), got EMFILE
 * (h215, tests/preload/held_many.sh).  Now 1024 (one thread each), the
 * look bounded by the highest place in use (held_top).  A full table
 * refuses the copy (EMFILE). */
#define HELD_MAX 1024
static int held[HELD_MAX];      /* the numbers + 1, under own_lock; 0: free */
static int held_top;            /* places [0, held_top) may be in use; under own_lock */
static int nheld;               /* slots in use, read without the lock */

/* The base, from the soft RLIMIT_NOFILE, computed once (a system call
 * saved on each of ours; the lingering close makes one per connection).
 * A limit lowered under it since (the program's setrlimit after start-up)
 * makes F_DUPFD fail with EINVAL: then shim_own_copy() computes it again.
 * A limit raised since leaves it lower than it could be: still a number
 * the program is unlikely to ask for. */
static int base_cache;

static int own_base_now(void)
{
	struct rlimit rl;
	rlim_t top = 1024;
	int b;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < top)
		top = rl.rlim_cur;
	/* 64 below the limit (programs take the lowest free numbers); past
	 * those, the lowest free number above that, then any (still ours). */
	b = top > 256 ? (int)top - 64 : (int)(top / 2 > 3 ? top / 2 : 3);
	__atomic_store_n(&base_cache, b, __ATOMIC_RELAXED);
	return b;
}

static int own_base(void)
{
	int b = __atomic_load_n(&base_cache, __ATOMIC_RELAXED);

	return b ? b : own_base_now();
}

/* A close-on-exec duplicate of fd, high (see above); -1 if none.  Only
 * with no number free up there, the lowest free one. */
int shim_own_copy(int fd)
{
	int hi = REAL(fcntl)(fd, F_DUPFD_CLOEXEC, own_base());

	if (hi < 0 && errno == EINVAL)
		hi = REAL(fcntl)(fd, F_DUPFD_CLOEXEC, own_base_now());
	if (hi < 0)
		hi = REAL(fcntl)(fd, F_DUPFD_CLOEXEC, 3);
	return hi;
}

/* The place a copy being made takes (shim_own_hold) until it is
 * recorded: neither free nor a number. */
#define HELD_FILLING (-1)

static int held_slot(int fd)
{
	int i;

	for (i = 0; i < held_top; i++)
		if (held[i] == fd + 1)
			return i;
	if (fd != -1)
		return -1;
	/* a free place past those (places below are all used), past the
	 * places an interrupted hold of this thread reserved above the
	 * bound (HELD_FILLING, before it raised held_top) */
	while (i < HELD_MAX && held[i])
		i++;
	return i < HELD_MAX ? i : -1;
}

/* A copy of fd, as shim_own_copy(), held for a system call until
 * shim_own_let_go(): -1 (errno set) if none could be made.  Made and
 * recorded under the lock that dup2()/dup3() take around their check
 * and call (shim_own_dup23): a dup2 onto its number is done before, and
 * then the copy is elsewhere, or refused after. */
int shim_own_hold(int fd)
{
	bool taken = xlock_lock_unless_mine(&own_lock);
	int hi = -1, slot = held_slot(-1);

	if (slot < 0)
		errno = EMFILE;
	else {
		/* The place reserved (HELD_FILLING) in the one store that
		 * takes it, then the bound raised over it, then the copy
		 * made and written there.  A handler of this thread that
		 * holds a copy meanwhile takes another place and its let_go
		 * lowers the bound to no lower than this one.  Raised first
		 * with the place still 0 (as it was), the handler took the
		 * same place, its let_go lowered the bound under it, and this
		 * copy was recorded past the bound: unprotected (another
		 * thread's close_range closed it), never let go, nheld one
		 * too high for ever (h224, held_signal). */
		held[slot] = HELD_FILLING;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		if (slot >= held_top)
			held_top = slot + 1;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		hi = shim_own_copy(fd);
		if (hi >= 0) {
			held[slot] = hi + 1;
			__atomic_add_fetch(&nheld, 1, __ATOMIC_SEQ_CST);
		} else {
			int e = errno;

			held[slot] = 0;
			while (held_top > 0 && !held[held_top - 1])
				held_top--;
			errno = e;
		}
	}
	if (taken)
		xlock_unlock(&own_lock);
	return hi;
}

/* The copy held is the program's number again (not closed). */
void shim_own_let_go(int hi)
{
	bool taken = xlock_lock_unless_mine(&own_lock);
	int slot = hi >= 0 ? held_slot(hi) : -1;

	if (slot >= 0) {
		held[slot] = 0;
		while (held_top > 0 && !held[held_top - 1])
			held_top--;
		__atomic_sub_fetch(&nheld, 1, __ATOMIC_SEQ_CST);
	}
	if (taken)
		xlock_unlock(&own_lock);
}

/* Whether fd is a copy held (close() says EBADF).  No lock when none is. */
bool shim_own_held(int fd)
{
	bool taken, r;

	if (!__atomic_load_n(&nheld, __ATOMIC_SEQ_CST))
		return false;
	taken = xlock_lock_unless_mine(&own_lock);
	r = held_slot(fd) >= 0;
	if (taken)
		xlock_unlock(&own_lock);
	return r;
}

/* dup2() (flags < 0) or dup3() onto newfd: -EBUSY if it is a copy held,
 * else the call's answer; check and call under the lock (see
 * shim_own_hold). */
int shim_own_dup23(int oldfd, int newfd, int flags)
{
	bool taken = xlock_lock_unless_mine(&own_lock);
	int r;

	if (held_slot(newfd) >= 0)
		r = -1, errno = EBUSY;
	else
		r = flags >= 0 ? REAL(dup3)(oldfd, newfd, flags) : REAL(dup2)(oldfd, newfd);
	if (taken) {
		int e = errno;
		xlock_unlock(&own_lock);
		errno = e;
	}
	return r;
}

/* fd (just made, at the lowest free number) moved high: a copy there and
 * fd closed; fd itself when no copy could be made (better than none). */
int shim_own_move(int fd)
{
	int hi, e = errno;

	if (fd < 0 || (hi = shim_own_copy(fd)) < 0) {
		errno = e;
		return fd;
	}
	REAL(close)(fd);
	errno = e;
	return hi;
}

/* Record hi as ours. */
static void own_record(int hi, int *cell, void (*moved)(int from, int to))
{
	bool taken = xlock_lock_unless_mine(&own_lock);

	if (cell)
		*cell = hi;
	if (nowned < OWN_MAX)
		owned[nowned++] = (struct own){ hi, cell, moved };
	if (taken)
		xlock_unlock(&own_lock);
	conntab_set_unlocked(hi, CT_OWN);
}

static int own_register(int fd, int *cell, void (*moved)(int from, int to))
{
	int hi;

	if (fd < 0)
		return -1;
	hi = shim_own_move(fd);
	own_record(hi, cell, moved);
	return hi;
}

/* A duplicate of fd (which stays the caller's), made one of ours at once:
 * one system call.  -1 (errno set) if none could be made. */
int shim_own_dup(int fd, void (*moved)(int from, int to))
{
	int hi = shim_own_copy(fd);

	if (hi >= 0)
		own_record(hi, NULL, moved);
	return hi;
}

/* A socket made one of ours at once, under the lock that fork()'s prepare
 * handler takes (shim_own_fork_lock): a fork never finds it at the low
 * number socket() gave it, where the child would keep it unrecorded. */
int shim_own_socket(int domain, int type, int proto, void (*moved)(int from, int to))
{
	bool taken = xlock_lock_unless_mine(&own_lock);
	int fd = REAL(socket)(domain, type, proto), hi = -1, err;

	if (fd >= 0) {
		hi = shim_own_copy(fd);
		err = errno;
		REAL(close)(fd);
		if (hi >= 0)
			own_record(hi, NULL, moved);
		errno = err;
	}
	if (taken)
		xlock_unlock(&own_lock);
	return hi;
}

/* Close every one of ours whose owner is moved (a fork()'s child: the
 * key holder's connections of requests under way in the parent's
 * threads, which the child must not keep). */
void shim_own_close_moved(void (*moved)(int from, int to))
{
	int mine[OWN_MAX], n = 0;
	bool taken = xlock_lock_unless_mine(&own_lock);

	for (int i = 0; i < nowned; i++)
		if (owned[i].moved == moved && !owned[i].cell)
			mine[n++] = owned[i].fd;
	if (taken)
		xlock_unlock(&own_lock);
	for (int i = 0; i < n; i++)
		shim_own_close(mine[i]);
}

void shim_own_cell(int fd, int *cell)
{
	(void)own_register(fd, cell, NULL);
}

void shim_own_close(int fd)
{
	bool taken;

	if (fd < 0)
		return;
	taken = xlock_lock_unless_mine(&own_lock);
	for (int i = 0; i < nowned; i++)
		if (owned[i].fd == fd) {
			owned[i] = owned[--nowned];
			break;
		}
	if (taken)
		xlock_unlock(&own_lock);
	/* Only if the number is still ours: never close a program's file. */
	if (conntab_load(fd) == CT_OWN) {
		conntab_set_unlocked(fd, CT_UNSEEN);
		REAL(close)(fd);
	}
}

/* dup2()/dup3() onto one of ours: move it out of the way first. */
void shim_own_dodge(int fd)
{
	void (*moved)(int, int) = NULL;
	int to, slot = -1;
	bool taken;

	if (conntab_load(fd) != CT_OWN)
		return;
	taken = xlock_lock_unless_mine(&own_lock);
	for (int i = 0; i < nowned; i++)
		if (owned[i].fd == fd)
			slot = i;
	/* Anywhere free, as shim_own_copy places a new one: the high numbers may
	 * all be ours already (an epoll instance's copy each, a wake-up
	 * eventfd per thread), and a copy that could not move stayed named
	 * by a number that is the program's file from now on. */
	to = shim_own_copy(fd);
	if (slot >= 0 && to >= 0) {
		moved = owned[slot].moved;
		owned[slot].fd = to;
		if (owned[slot].cell)
			__atomic_store_n(owned[slot].cell, to, __ATOMIC_RELEASE);
		conntab_set_unlocked(to, CT_OWN);
	} else if (slot >= 0 && owned[slot].moved && !owned[slot].cell) {
		/* No room at all: the owner is told it has lost it (-1). */
		moved = owned[slot].moved;
		owned[slot] = owned[--nowned];
	}
	if (taken)
		xlock_unlock(&own_lock);
	if (moved)
		moved(fd, to);
	/* The program's dup2 replaces the old number atomically. */
	conntab_set_unlocked(fd, CT_UNSEEN);
}

/* The lowest of ours (owned or held for a call) in [lo, last], or -1.
 * Under own_lock. */
static long own_next(unsigned int lo, unsigned int last)
{
	long best = -1;

	for (int i = 0; i < nowned; i++) {
		unsigned int f = (unsigned)owned[i].fd;
		if (f >= lo && f <= last && (best < 0 || f < (unsigned long)best))
			best = f;
	}
	for (int i = 0; i < held_top; i++) {
		unsigned int f = (unsigned)held[i] - 1;
		if (held[i] > 0 && f >= lo && f <= last && (best < 0 || f < (unsigned long)best))
			best = f;
	}
	return best;
}

/* close_range()/closefrom() over [first, last], leaving ours open.
 * Ours are few, and high, so this is a handful of system calls.  No
 * array of them on the stack (5,120 places: 20 KiB, more than a thread
 * made with PTHREAD_STACK_MIN has) and no allocation (a fork's child
 * calls this): each gap is found by a look over the tables. */
int shim_own_close_range(unsigned int first, unsigned int last, int flags)
{
	int r = 0;
	unsigned int lo = first;
	bool taken = xlock_lock_unless_mine(&own_lock);

	for (;;) {
		long k = own_next(lo, last);
		unsigned int hi = k < 0 ? last : (unsigned)k - 1;

		if ((k < 0 || (unsigned)k > lo) && lo <= hi)
			r = REAL(close_range)(lo, hi, flags);
		if (r || k < 0 || (unsigned)k >= last)
			break;
		lo = (unsigned)k + 1;
	}
	/* (the lock kept until here: a copy held meanwhile is not closed) */
	if (taken) {
		int e = errno;
		xlock_unlock(&own_lock);
		errno = e;
	}
	return r;
}

/* The child of _Fork(), which runs no fork handler (shim/process.c): the
 * copies other threads held for their calls are closed, as a fork()'s
 * child closes them (shim_own_fork_unlock).  Kept, a child that did not
 * exec held the program's sockets for its whole life at numbers its
 * program could neither close (EBADF) nor dup2() onto (EBUSY): the
 * parent's close of a connection then ended nothing on the wire, no FIN
 * while the child lived (h215, tests/preload/held_many.sh, _Fork).  No
 * lock (the child has one thread; one another thread held stays so), and
 * nothing when this thread holds it (a handler that interrupted a change
 * of the table, which goes on when the handler returns). */
void shim_own_forked(void)
{
	if (xlock_mine(&own_lock) || !__atomic_load_n(&nheld, __ATOMIC_SEQ_CST))
		return;
	for (int i = 0; i < HELD_MAX; i++)
		if (held[i]) {
			if (held[i] > 0)
				REAL(close)(held[i] - 1);
			held[i] = 0;
		}
	held_top = 0;
	__atomic_store_n(&nheld, 0, __ATOMIC_SEQ_CST);
}

/* The child of fork() keeps ours; exec closes them (close-on-exec). */
bool shim_is_own(int fd)
{
	return conntab_load(fd) == CT_OWN;
}

/* Not taken when the forking thread holds it already (a signal handler
 * that forks): that thread goes on and releases it, in both processes. */
static bool fork_took;

void shim_own_fork_lock(void)
{
	fork_took = xlock_lock_unless_mine(&own_lock);
}

void shim_own_fork_unlock(bool child)
{
	/* the calls other threads held copies for are not the child's */
	for (int i = 0; child && i < held_top; i++)
		if (held[i]) {
			if (held[i] > 0)
				REAL(close)(held[i] - 1);
			held[i] = 0;
		}
	if (child)
		held_top = 0;
	if (child)
		__atomic_store_n(&nheld, 0, __ATOMIC_SEQ_CST);
	xlock_fork_release(&own_lock, fork_took, child);
}
