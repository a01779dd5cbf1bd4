/* policy/libconfig_link.h — what policy.c asks of libconfig_link.c. */
#ifndef TLSSHIM_POLICY_LIBCONFIG_LINK_H
#define TLSSHIM_POLICY_LIBCONFIG_LINK_H

#include <stdbool.h>
#include <stdio.h>

/* Every integer literal of f (from its start; rewound after) fits in 32
 * bits, or carries libconfig's L suffix: true.  false: the first that
 * does not, and its line. */
bool libconfig_ints_fit(FILE *f, int *line, char *lit, size_t litlen);

/* The last file libconfig could not open while a policy was read, and
 * why ("not a regular file", strerror): path empty when there was none. */
struct libconfig_failure {
	char path[512];
	char text[160];         /* a reason made here (why points to it) */
	const char *why;        /* NULL: "cannot open" */
};

/* From now on the files libconfig cannot open in this thread are told in
 * *f (emptied here); NULL: no longer.  Thread-local is only the pointer:
 * the static TLS of a library loaded at start is on every thread's
 * stack. */
void libconfig_open_failures(struct libconfig_failure *f);

#endif
