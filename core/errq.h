/* core/errq.h — knowing that a thread's OpenSSL error queue is empty
 * without asking OpenSSL (see core/errq.c). */
#ifndef TLSSHIM_CORE_ERRQ_H
#define TLSSHIM_CORE_ERRQ_H

#include <stdbool.h>

#define ERRQ_TLS __attribute__((tls_model("initial-exec")))

/* How many errors this thread has pushed (ERR_new calls, counted by our
 * ERR_new), and that count when the engine last saw the queue empty. */
extern __thread unsigned long errq_pushes_ ERRQ_TLS;
extern __thread unsigned long errq_empty_at_ ERRQ_TLS;
/* Set once by errq_init() when every push provably goes through us. */
extern bool errq_counting_;

/* Once, in the library's constructor: find OpenSSL's ERR_new now (not
 * at the first push, which may come in a signal handler). */
void errq_resolve(void);

/* Once, after OpenSSL is initialised: check that pushes from libssl and
 * from libcrypto both reach our ERR_new, and only then trust the count.
 * true when counting is on. */
bool errq_init(void);

/* The calling thread's queue is empty for sure: nothing was pushed since
 * the engine saw it empty. */
static inline bool errq_known_empty(void)
{
	return __atomic_load_n(&errq_counting_, __ATOMIC_RELAXED) && errq_pushes_ == errq_empty_at_;
}

/* Nothing pushed on this thread since the count was `since` (false
 * whenever counting is off: then ask OpenSSL). */
static inline bool errq_none_since(unsigned long since)
{
	return __atomic_load_n(&errq_counting_, __ATOMIC_RELAXED) && errq_pushes_ == since;
}

/* The engine saw the queue empty (structurally: ERR_set_mark found no
 * entry); `at` is errq_pushes_ read *before* it looked, so that a push
 * in between (a signal handler's) keeps the answer "maybe not empty". */
static inline void errq_seen_empty(unsigned long at)
{
	errq_empty_at_ = at;
}

#endif
