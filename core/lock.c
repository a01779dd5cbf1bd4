/* core/lock.c — the per-thread count behind core/lock.h's cancellation
 * rule: how many of its locks the thread holds, and the cancellation
 * state the first one saved. */
#include "core/lock.h"

__thread unsigned xlock_held_ __attribute__((tls_model("initial-exec")));
__thread int xlock_cancel_ __attribute__((tls_model("initial-exec")));
__thread unsigned xlock_nocancel_ __attribute__((tls_model("initial-exec")));
