/* core/self.h — this process's id without a system call per question. */
#ifndef TLSSHIM_CORE_SELF_H
#define TLSSHIM_CORE_SELF_H

#include <sys/types.h>

/* Once, early (the library's initialisation, one thread): keep the id in
 * a page the kernel wipes in every child.  Until then, and where the
 * kernel cannot (before Linux 4.14), self_pid() is getpid(). */
void self_init(void);

/* In the child of a fork the shim sees (never one that shares our
 * memory): store the child's id, whether or not the kernel wiped it. */
void self_forked(void);

/* This process's id: a load, or getpid() where the page reads 0 (a child
 * of a fork the shim did not see) or there is no page. */
pid_t self_pid(void);

/* The page's answer only: 0 where it reads 0 or there is none.  For the
 * getpid() wrapper (shim/getpid.c), which must not reach itself again
 * through self_pid()'s getpid(). */
pid_t self_pid_known(void);

#endif
