/* core/self.h — this process's id without a system call per question. */
#ifndef TLSSHIM_CORE_SELF_H
#define TLSSHIM_CORE_SELF_H

#include <stdbool.h>
#include <sys/types.h>

/* Once, from the library's constructor (the process the program started
 * in, one thread; never an earlier first call, which may come from a
 * CLONE_VM child of another library's constructor): keep the id in a
 * page the kernel wipes in every child.  Until then, and where the
 * kernel cannot (before Linux 4.14), self_pid() is getpid(). */
void self_init(void);

/* In the child of a fork the shim sees (never one that shares our
 * memory): store the child's id, whether or not the kernel wiped it. */
void self_forked(void);

/* This process's id: a load, or self_pid_kernel() where the page reads 0
 * (a child of a fork the shim did not see) or there is no page.  0:
 * unknown (getpid() refused, asked from a thread that does not lead the
 * process), never the id of any process. */
pid_t self_pid(void);

/* The kernel's answer, a system call: getpid(), or where a seccomp filter
 * refuses it, gettid() if the caller's thread leads its process (checked
 * with tgkill(t, t, 0)); else 0. */
pid_t self_pid_kernel(void);

/* Does the calling thread belong to process pid?  1 yes, 0 no, -1 the
 * kernel did not say.  No getpid() (a sandbox's filter may kill for it):
 * tgkill(pid, gettid(), 0) succeeds only for a thread of group pid, and
 * fails with ESRCH for any other (in a child made with CLONE_VM, not a
 * thread, which reads its parent's id in the page). */
int self_thread_of(pid_t pid);

/* The page's answer only: 0 where it reads 0 or there is none. */
pid_t self_pid_known(void);

/* Around a clone with CLONE_VM and without CLONE_THREAD, in the parent:
 * begin before it (vfork: the parent waits for the child's exec or exit),
 * end after a CLONE_VFORK one returns. */
void self_share_begin(bool vfork);
void self_share_end(void);

/* May a child made with CLONE_VM (not a thread) run now, sharing our
 * memory but maybe not our descriptor table?  What a number names in one
 * process's table is then not known to hold in the other's. */
bool self_memory_shared(void);

/* For OpenSSL's fork check (shim/getpid.c): the page's answer, or 0 while
 * a child may share our memory.  Such a child reads its parent's id in
 * the page; OpenSSL in it must get its own, or a fork child of it that is
 * given the parent's id (a new pid namespace, a reused id) would take the
 * generator state it copied for its own and repeat the child's bytes. */
pid_t self_pid_unshared(void);

/* This process's own id, never its parent's: the page's answer while no
 * child may share our memory, else getpid().  For what is done at exit
 * and before a fork or exec, which a child sharing our memory must not
 * do to its parent's sessions, without the system call in the common
 * case: a sandbox's seccomp filter may refuse getpid() or kill the
 * process for it (vsftpd's).  0 where the kernel's answer is needed and
 * not had (self_pid_kernel): the caller cannot tell which process it is,
 * and must not act as any. */
pid_t self_pid_own(void);

#endif
