/* core/alloc.h — OpenSSL's allocator, and the pump's private heap
 * (see core/alloc.c). */
#ifndef TLSSHIM_CORE_ALLOC_H
#define TLSSHIM_CORE_ALLOC_H

#include <stdbool.h>

/* At start-up, before OpenSSL allocates: give OpenSSL our functions.
 * false when OpenSSL had allocated already (another library used it
 * first): a pump may then wait for an allocator lock (docs/fork.md). */
bool alloc_install(void);

/* In a pump, right after its fork, before any OpenSSL call: OpenSSL's
 * allocations come from the private heap from now on (when
 * alloc_install succeeded). */
void alloc_enter_pump(void);

/* Around the close_notify of _exit() and _Exit() (which a signal handler
 * may call while its thread is inside malloc): OpenSSL's allocations on
 * this thread come from the exit heap, which takes no lock and takes a
 * block back only when it is the last one taken, and its frees of
 * malloc's blocks do nothing.  begin returns the previous
 * state, for end.  alloc_exiting: this thread is between the two (code
 * that allocates on its own, with malloc, leaves it undone). */
bool alloc_exit_begin(void);
void alloc_exit_end(bool was);
bool alloc_exiting(void);

#endif
