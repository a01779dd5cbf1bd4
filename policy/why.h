/* policy/why.h — the reason a policy step failed, written into the
 * caller's buffer (why, len: the (char *why, size_t whylen) pair that
 * the policy functions take). */
#ifndef TLSSHIM_POLICY_WHY_H
#define TLSSHIM_POLICY_WHY_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* vsnprintf into why when there is a buffer (why not NULL, len not 0);
 * always false, for "return policy_why(...)". */
bool policy_vwhy(char *why, size_t len, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
bool policy_why(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
