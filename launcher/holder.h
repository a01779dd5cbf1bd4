/* launcher/holder.h — the key-holder process (policy/keyholder.h). */
#ifndef TLSSHIM_LAUNCHER_HOLDER_H
#define TLSSHIM_LAUNCHER_HOLDER_H

#include <stdbool.h>
#include <stddef.h>

struct policy;

/* Any rule with key_holder = true (and so a key to hold)? */
bool holder_needed(const struct policy *p);

/* Start the holder for p (loaded with keyholder_local_keys): a process
 * of its own (not a child of the program), not dumpable, serving the
 * keys of p's key_holder rules until the process that called this (the
 * program, after exec) ends.  env gets the value of TLSSHIM_KEY_HOLDER.
 * 0, or -1 with a message on stderr. */
int holder_start(struct policy *p, char *env, size_t envlen);

#endif
