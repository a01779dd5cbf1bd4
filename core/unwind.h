/* core/unwind.h — what the shim holds for a call is given back when the
 * call's frames are left by a non-local exit.
 *
 * A signal handler may leave the call it interrupted with siglongjmp()
 * (the alarm() timeouts of old daemons: POSIX allows it when the call is
 * async-signal-safe, as read(), write() and connect() are), and a thread
 * may end inside it (pthread_exit() from a handler, cancellation).  What
 * the call held then stays held for ever: the connection's lock, a
 * reference, a place among the waiters, the program's cancellation state.
 *
 * glibc runs, for both kinds of exit, the handlers of its first cleanup
 * chain whose records lie in the frames being left: longjmp() through
 * _longjmp_unwind (__pthread_cleanup_upto), cancellation's unwinding
 * through its stop function.  That chain is LinuxThreads' interface,
 * still exported (GLIBC_2.2.5 and 2.34) for old binaries but no longer
 * declared.  Its push and pop are two stores each to the thread's
 * descriptor: no system call, no sigsetjmp (pthread_cleanup_push's
 * second chain saves the registers, and a longjmp never looks at it:
 * a record of it left behind by one is what a later pthread_exit()
 * jumped into, helper-60's F1).
 *
 * A handler runs on the thread's stack below the frame it interrupted,
 * and glibc stops at records below the longjmp()'s own frame: a jump
 * that stays inside the handler leaves the interrupted call's records
 * alone.  (A handler on a sigaltstack() above the thread's stack makes
 * glibc drop the chain without running it: then the call's holdings stay,
 * as before; libtlsshim(7), BUGS.)
 */
#ifndef TLSSHIM_CORE_UNWIND_H
#define TLSSHIM_CORE_UNWIND_H

#include <pthread.h>

extern void _pthread_cleanup_push(struct _pthread_cleanup_buffer *buffer,
				  void (*routine)(void *), void *arg);
extern void _pthread_cleanup_pop(struct _pthread_cleanup_buffer *buffer, int execute);

#endif
