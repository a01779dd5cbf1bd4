/* tests/progs/raw_fork.h — a fork the shim cannot see: the fork system
 * call made by an inline `syscall` instruction (no C library wrapper, no
 * atfork handler, no interposed fork or syscall()).  Returns the child's
 * id, 0 in the child, or -errno.  Elsewhere than x86-64 (not the test
 * machines) through syscall(SYS_clone), which the shim sees: the tests
 * then check the ordinary path only. */
#ifndef TLSSHIM_TESTS_RAW_FORK_H
#define TLSSHIM_TESTS_RAW_FORK_H

#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline long raw_fork(void)
{
#if defined(__x86_64__)
	long r;

	__asm__ volatile("syscall" : "=a"(r) : "0"((long)SYS_fork) : "rcx", "r11", "memory");
	return r;
#else
	long r = syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L);

	return r < 0 ? -errno : r;
#endif
}

#endif
