/* policy/libconfig_link.h — what policy.c asks of libconfig_link.c. */
#ifndef TLSSHIM_POLICY_LIBCONFIG_LINK_H
#define TLSSHIM_POLICY_LIBCONFIG_LINK_H

#include <stdbool.h>
#include <stdio.h>

/* Every integer literal of f (from its start; rewound after) fits in 32
 * bits, or carries libconfig's L suffix: true.  false: the first that
 * does not, and its line. */
bool libconfig_ints_fit(FILE *f, int *line, char *lit, size_t litlen);

/* Forget the last file libconfig could not open (in this thread). */
void libconfig_open_failure_reset(void);

/* The last file libconfig could not open in this thread since the reset,
 * and why ("not a regular file", strerror); false when there was none. */
bool libconfig_open_failure(const char **path, const char **why);

#endif
