/* policy/why.c — see why.h. */
#include "policy/why.h"

#include <stdio.h>

bool policy_vwhy(char *why, size_t len, const char *fmt, va_list ap)
{
	if (why && len)
		vsnprintf(why, len, fmt, ap);
	return false;
}

bool policy_why(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	policy_vwhy(why, len, fmt, ap);
	va_end(ap);
	return false;
}
