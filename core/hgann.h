/* core/hgann.h — tell valgrind's helgrind which fields are C11 atomics.
 *
 * A few fields of a connection (state, fail, fd, owner) are written under
 * its lock but read without it, on purpose, with __atomic loads (see
 * set_state in core/tls.c).  ThreadSanitizer models atomics and checks
 * them (make check-tsan); helgrind models only pthread primitives, so it
 * reports those reads as races, and whether it sees one depends on
 * timing (tests/preload/threads.sh).  VALGRIND_HG_DISABLE_CHECKING leaves
 * exactly those fields out of helgrind's race detection and nothing else.
 * A connection's reference count (its last holder frees it) and the free
 * stack of connection objects (the thread that freed one hands it to the
 * one that takes it again) order threads through atomics too:
 * HG_HAPPENS_BEFORE/AFTER tell helgrind so (core/tls.c; it reported the
 * new owner's first writes as racing with the old owners' last ones,
 * once in a round of make check-stress).
 *
 * Each request is made only when the program runs under helgrind
 * (hg_on(): one load of a flag, asked of valgrind once per process).
 * Outside valgrind a request is a sequence of about sixteen instructions
 * that does nothing; a lock taken and let go made four, a round trip of a
 * kept-open connection about 220 such instructions on each side
 * (bench/README.md, "Request latency, counted again").  The flag says "helgrind", not "valgrind":
 * under callgrind, which the hot path's counts use, the library runs the
 * instructions it runs outside valgrind.  Built without valgrind's
 * headers, they are nothing at all. */
#ifndef TLSSHIM_HGANN_H
#define TLSSHIM_HGANN_H

#include <stdbool.h>

#if defined(__has_include)
#if __has_include(<valgrind/helgrind.h>)
#include <valgrind/helgrind.h>
#define TLSSHIM_HG_REQUESTS 1
#endif
#endif

#ifdef TLSSHIM_HG_REQUESTS
/* 1 under helgrind, 0 elsewhere, -1 until asked (core/lock.c). */
extern int hg_on_;
bool hg_on_slow(void);
/* One load and a test (the first ask out of line).  The locks look
 * once per take and once per release (core/lock.h). */
static inline bool hg_on(void)
{
	return __builtin_expect(__atomic_load_n(&hg_on_, __ATOMIC_RELAXED) != 0, 0) && hg_on_slow();
}
/* Make the request `req` only under helgrind. */
#define HG_DO(req) do { if (hg_on()) { req; } } while (0)
#else
static inline bool hg_on(void)
{
	return false;
}
#define HG_DO(req) ((void)0)
#define VALGRIND_HG_MUTEX_INIT_POST(m, r)
#define VALGRIND_HG_MUTEX_LOCK_PRE(m, t)
#define VALGRIND_HG_MUTEX_LOCK_POST(m)
#define VALGRIND_HG_MUTEX_UNLOCK_PRE(m)
#define VALGRIND_HG_MUTEX_UNLOCK_POST(m)
#define VALGRIND_HG_MUTEX_DESTROY_PRE(m)
#endif

#define HG_ATOMIC_FIELD(p) HG_DO(VALGRIND_HG_DISABLE_CHECKING((p), sizeof *(p)))
#define HG_HAPPENS_BEFORE(p) HG_DO(ANNOTATE_HAPPENS_BEFORE(p))
#define HG_HAPPENS_AFTER(p) HG_DO(ANNOTATE_HAPPENS_AFTER(p))

#endif
