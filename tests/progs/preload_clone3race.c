/* preload_clone3race.so — a test-only race maker: another thread of the
 * program changes the flags of its struct clone_args between the
 * library's look at them and the kernel's clone3 (tests/preload/vmrw.sh,
 * c3race).  Loaded AFTER the library, so that the library's own
 * syscall() (REAL(syscall)) comes here first.  While
 * TLSSHIM_TEST_CLONE3_AT names an address in the environment (the
 * program's struct clone_args, set just before its call), the first
 * syscall(SYS_clone3) that reaches here sets the flags at that address
 * to CLONE_VM | CLONE_VFORK, as the program's other thread would in the
 * microseconds between the two, says so on standard error ("clone3
 * race: ..."), and then makes the system call with the arguments it was
 * given: the program's struct (the kernel reads the changed flags) or
 * the library's copy of it (the kernel reads what the library judged).
 * Every other call is the C library's. */
#include <dlfcn.h>
#include <errno.h>
#include <linux/sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

long syscall(long no, ...)
{
	static long (*real)(long, ...);
	static int fired;
	unsigned long a[6];
	const char *at = getenv("TLSSHIM_TEST_CLONE3_AT");
	va_list ap;

	va_start(ap, no);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, unsigned long);
	va_end(ap);
	if (!real && !(real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall"))) {
		errno = ENOSYS;
		return -1;
	}
	if (no == SYS_clone3 && at && !fired) {
		struct clone_args *p = (struct clone_args *)(uintptr_t)strtoull(at, NULL, 16);
		static const char said[] = "clone3 race: the program's flags changed to"
					   " CLONE_VM|CLONE_VFORK after the library's look\n";

		fired = 1;
		if (p) {
			__atomic_store_n(&p->flags, (uint64_t)(CLONE_VM | CLONE_VFORK), __ATOMIC_SEQ_CST);
			(void)!write(2, said, sizeof said - 1);
		}
	}
	return real(no, a[0], a[1], a[2], a[3], a[4], a[5]);
}
