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

#endif
