/* preload_fakemadvise.so — a test-only stand-in for an emulator whose
 * madvise() answers 0 to every advice and does nothing (QEMU's user mode
 * before 5.0 did): MADV_WIPEONFORK is then not honoured, and a fork child
 * would read its parent's pid from a page the kernel never wiped.
 *
 *   LD_PRELOAD="libtlsshim.so preload_fakemadvise.so" prog
 *
 * The library's madvise() calls resolve here (no definition comes before
 * this one).  Knows nothing about TLS.
 */
#include <stddef.h>
#include <sys/mman.h>

int madvise(void *addr, size_t len, int advice)
{
	(void)addr;
	(void)len;
	(void)advice;
	return 0;
}
