/* core/self.c — this process's id, kept where no child can inherit it.
 *
 * The shim asks "am I still the process that ...?" on every connection
 * (the session's owner, the linger thread's, a lock's), and getpid() is a
 * system call (glibc 2.25 dropped its cache: a cached id goes stale in a
 * child made without fork()'s handlers).  The id is kept instead in a
 * page marked MADV_WIPEONFORK: the kernel hands every child that does not
 * share our memory a zeroed copy, however it was made (fork, _Fork,
 * clone, vfork turned fork, a raw system call), so what is read there is
 * this process's id or zero, and zero means "ask the kernel".
 *
 * Trusted only where the kernel honours the advice: some emulators
 * (QEMU's user mode before 5.0) answer 0 to every madvise() and do
 * nothing, so an advice that does not exist must be refused first
 * (BoringSSL's fork detection does the same).  Behind it, the forks the
 * shim sees (the atfork child handler, _Fork, its pumps, the C library's
 * clone() and a clone or fork through syscall(), each without CLONE_VM)
 * store the child's id themselves (self_forked).
 *
 * Only the process itself stores its id: the constructor, and the child
 * of a fork the shim sees.  A zero is never filled in on first use: in a
 * process made by a fork the shim did not see (an inline system call),
 * the first to read the page may be a child made with CLONE_VM, which
 * would store its own id in the memory it shares with its parent; the
 * parent would take it for its own, and once that child is gone and a
 * fork child of the parent is given the same id, the two would pass each
 * other's ownership checks.  Such a process asks getpid() every time.
 *
 * A child that shares our memory (clone(CLONE_VM) without CLONE_THREAD)
 * reads its parent's id: for the sessions and locks it shares with the
 * parent, the same memory, it counts as the parent (nothing is encrypted
 * twice with one key and sequence number: the counters are shared too).
 * Such a child may only exec or _exit, as a vfork child: what the shim
 * does at exit and exec asks getpid() (shim/process.c, shim/pump.c), but
 * a TLS descriptor it closes is handed to its parent's linger thread,
 * which holds the parent's descriptor table, not the child's (a BUG in
 * libtlsshim(7)).  The C library's posix_spawn child runs none of our
 * code.
 */
#include "core/self.h"

#include <errno.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static pid_t *page;

/* Children made with CLONE_VM (not threads) that may be running: while
 * one of our CLONE_VFORK clones waits, and for good once one was made
 * without CLONE_VFORK.  Plain memory, shared with those children. */
static int vm_vfork;
static bool vm_for_good;

int self_thread_of(pid_t pid)
{
	pid_t t = (pid_t)syscall(SYS_gettid);

	if (pid <= 0 || t <= 0)
		return -1;
	if (t == pid)
		return 1;       /* the thread that leads group pid */
	if (syscall(SYS_tgkill, pid, t, 0) == 0)
		return 1;
	return errno == ESRCH ? 0 : -1;
}

pid_t self_pid_kernel(void)
{
	pid_t id = getpid(), t;

	/* A seccomp filter that refuses getpid() makes the C library's
	 * wrapper return the kernel's -errno (-1 for EPERM, -38 for
	 * ENOSYS): never an id.  Then the caller's thread id, where that
	 * thread leads its group (tgkill(t, t, 0) succeeds only when thread
	 * t belongs to group t): the one thread of a new child, the main
	 * thread of the constructor.  Stored as it was, -1 was one id for
	 * every process under such a filter: a fork child of a worker took
	 * the worker's session for its own and encrypted with it too. */
	if (id > 0)
		return id;
	t = (pid_t)syscall(SYS_gettid);
	if (t > 0 && syscall(SYS_tgkill, t, t, 0) == 0)
		return t;
	return 0;
}

void self_init(void)
{
	long sz = sysconf(_SC_PAGESIZE);
	void *p;

	if (__atomic_load_n(&page, __ATOMIC_ACQUIRE) || sz <= 0)
		return;
	p = mmap(NULL, (size_t)sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return;
	if (madvise(p, (size_t)sz, -1) == 0 || madvise(p, (size_t)sz, MADV_WIPEONFORK) != 0) {
		munmap(p, (size_t)sz);
		return;
	}
	*(pid_t *)p = self_pid_kernel();
	/* Made once: a second maker never replaces the first's page. */
	if (!__atomic_compare_exchange_n(&page, &(pid_t *){ NULL }, (pid_t *)p, false, __ATOMIC_RELEASE,
					 __ATOMIC_RELAXED))
		munmap(p, (size_t)sz);
}

void self_forked(void)
{
	pid_t *p = __atomic_load_n(&page, __ATOMIC_ACQUIRE);

	/* Our own memory, one thread: no child shares it yet. */
	__atomic_store_n(&vm_vfork, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&vm_for_good, false, __ATOMIC_RELAXED);
	if (p) {
		/* The child's one thread leads it: its thread id is its id,
		 * and no getpid() (a sandbox's filter may kill for it, as
		 * vsftpd's does: a pump died before it ran). */
		pid_t id = (pid_t)syscall(SYS_gettid);

		__atomic_store_n(p, id > 0 ? id : self_pid_kernel(), __ATOMIC_RELAXED);
	}
}

void self_share_begin(bool vfork)
{
	if (vfork)
		__atomic_add_fetch(&vm_vfork, 1, __ATOMIC_SEQ_CST);
	else
		__atomic_store_n(&vm_for_good, true, __ATOMIC_SEQ_CST);
}

void self_share_end(void)
{
	__atomic_sub_fetch(&vm_vfork, 1, __ATOMIC_SEQ_CST);
}

bool self_memory_shared(void)
{
	return __atomic_load_n(&vm_for_good, __ATOMIC_RELAXED) || __atomic_load_n(&vm_vfork, __ATOMIC_RELAXED);
}

pid_t self_pid_unshared(void)
{
	return self_memory_shared() ? 0 : self_pid_known();
}

pid_t self_pid_own(void)
{
	pid_t id = self_pid_unshared();

	return id ? id : self_pid_kernel();
}

pid_t self_pid_known(void)
{
	pid_t *p = __atomic_load_n(&page, __ATOMIC_ACQUIRE);

	return p ? __atomic_load_n(p, __ATOMIC_RELAXED) : 0;
}

pid_t self_pid(void)
{
	pid_t id = self_pid_known();

	/* Zero: no page, or a child made by a fork the shim did not see.
	 * Asked, never stored: this may be a child that shares its parent's
	 * memory, and its id in the shared page would become the parent's
	 * (see above). */
	return id ? id : self_pid_kernel();
}
