/* tests/unit/unit.h — a tiny test harness: one line per case.
 *   PASS name            or            FAIL name: file:line: expr
 * main() returns non-zero when any case failed. */
#ifndef TLSSHIM_UNIT_H
#define TLSSHIM_UNIT_H
#include <stdio.h>
#include <string.h>

static int unit_failed_cases;
static int unit_case_failed;
static const char *unit_case;

#define UNIT_CASE(name) for (unit_case = (name), unit_case_failed = 0, unit_case_once = 1; \
	unit_case_once; unit_case_once = 0, unit_case_end())
static int unit_case_once;
static inline void unit_case_end(void)
{
	if (unit_case_failed)
		unit_failed_cases++;
	else
		printf("PASS %s\n", unit_case);
	fflush(stdout);
}
#define EXPECT(expr) do { if (!(expr)) { \
	printf("FAIL %s: %s:%d: %s\n", unit_case, __FILE__, __LINE__, #expr); \
	unit_case_failed = 1; } } while (0)
#define EXPECT_STR(a, b) do { const char *a_ = (a), *b_ = (b); \
	if (!a_ || !b_ || strcmp(a_, b_) != 0) { \
	printf("FAIL %s: %s:%d: \"%s\" != \"%s\"\n", unit_case, __FILE__, __LINE__, \
	       a_ ? a_ : "(null)", b_ ? b_ : "(null)"); unit_case_failed = 1; } } while (0)
#define EXPECT_CONTAINS(hay, needle) do { const char *h_ = (hay), *n_ = (needle); \
	if (!h_ || !strstr(h_, n_)) { \
	printf("FAIL %s: %s:%d: \"%s\" does not contain \"%s\"\n", unit_case, __FILE__, \
	       __LINE__, h_ ? h_ : "(null)", n_); unit_case_failed = 1; } } while (0)
#define UNIT_RESULT() (unit_failed_cases ? 1 : 0)
#endif
