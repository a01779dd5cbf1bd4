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
 * The request is a no-op sequence of a few instructions when the program
 * does not run under valgrind.  Built without valgrind's headers, it is
 * nothing at all. */
#ifndef TLSSHIM_HGANN_H
#define TLSSHIM_HGANN_H

#if defined(__has_include)
#if __has_include(<valgrind/helgrind.h>)
#include <valgrind/helgrind.h>
#define HG_ATOMIC_FIELD(p) VALGRIND_HG_DISABLE_CHECKING((p), sizeof *(p))
#define HG_HAPPENS_BEFORE(p) ANNOTATE_HAPPENS_BEFORE(p)
#define HG_HAPPENS_AFTER(p) ANNOTATE_HAPPENS_AFTER(p)
#endif
#endif
#ifndef HG_ATOMIC_FIELD
#define HG_ATOMIC_FIELD(p) ((void)(p))
#define HG_HAPPENS_BEFORE(p) ((void)(p))
#define HG_HAPPENS_AFTER(p) ((void)(p))
#endif

#endif
