/* core/self.c — this process's id, kept where no child can inherit it.
 *
 * The shim asks "am I still the process that ...?" on every connection
 * (the session's owner, the linger thread's, a lock's), and getpid() is a
 * system call (glibc 2.25 dropped its cache: a cached id goes stale in a
 * child made without fork()'s handlers).  The id is kept instead in a
 * page marked MADV_WIPEONFORK: the kernel hands every child that does not
 * share our memory a zeroed copy, however it was made (fork, _Fork,
 * clone, vfork turned fork, a raw system call), so what is read there is
 * this process's id or zero, and zero means "ask the kernel".  A child
 * that shares our memory (clone(CLONE_VM) without CLONE_THREAD, the
 * C library's posix_spawn child, which runs none of our code) reads its
 * parent's id: it shares the parent's sessions and locks too, the same
 * memory, so nothing is encrypted twice with one key and sequence number.
 */
#include "core/self.h"

#include <sys/mman.h>
#include <unistd.h>

static pid_t *page;

void self_init(void)
{
	long sz = sysconf(_SC_PAGESIZE);
	void *p;

	if (__atomic_load_n(&page, __ATOMIC_ACQUIRE) || sz <= 0)
		return;
	p = mmap(NULL, (size_t)sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return;
	if (madvise(p, (size_t)sz, MADV_WIPEONFORK) != 0) {
		munmap(p, (size_t)sz);
		return;
	}
	*(pid_t *)p = getpid();
	__atomic_store_n(&page, (pid_t *)p, __ATOMIC_RELEASE);
}

pid_t self_pid(void)
{
	pid_t *p = __atomic_load_n(&page, __ATOMIC_ACQUIRE), id;

	if (!p)
		return getpid();
	id = __atomic_load_n(p, __ATOMIC_RELAXED);
	if (!id) {
		id = getpid();
		__atomic_store_n(p, id, __ATOMIC_RELAXED);
	}
	return id;
}
