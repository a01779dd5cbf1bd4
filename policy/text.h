/* policy/text.h — which characters a policy's strings may hold.  Names,
 * server names and identity entries reach log lines: no control
 * characters, so a policy cannot forge a line. */
#ifndef TLSSHIM_POLICY_TEXT_H
#define TLSSHIM_POLICY_TEXT_H

#include <stdbool.h>

/* No control character and no DEL; with space_ok false, no space either. */
static inline bool policy_printable(const char *s, bool space_ok)
{
	for (; *s; s++)
		if ((unsigned char)*s < (space_ok ? 0x20 : 0x21) || *s == 0x7f)
			return false;
	return true;
}

#endif
