/* core/strcopy.h — a string into a buffer of n bytes, cut to fit and
 * always terminated: what snprintf(dst, n, "%s", src) does, without the
 * format machinery (about 600 instructions a copy, against 40).  The
 * connection's peer and name are copied so at every connection. */
#ifndef TLSSHIM_CORE_STRCOPY_H
#define TLSSHIM_CORE_STRCOPY_H

#include <stddef.h>
#include <string.h>

/* The length copied. */
static inline size_t str_copy(char *dst, size_t n, const char *src)
{
	size_t l;

	if (!n)
		return 0;
	l = strnlen(src, n - 1);
	memcpy(dst, src, l);
	dst[l] = '\0';
	return l;
}

#endif
