/* preload_x32.so — a test-only stand-in for a kernel built with the x32
 * ABI (CONFIG_X86_X32_ABI: Debian's, booted with syscall.x32=y), which
 * this machine's kernel may lack (tests/preload/failclosed_entry.sh).
 *
 *   LD_PRELOAD="libtlsshim.so preload_x32.so" prog
 *
 * Loaded AFTER the library, so that the library's dlsym(RTLD_NEXT,
 * "syscall") finds this one: the library sees the program's syscall()
 * first, as with the kernel.  A number with __X32_SYSCALL_BIT (and not
 * bit 31) whose low bits are below 512, the calls x32 shares with x86_64
 * (read, write, sendto, ...), is made as the kernel's x32 entry makes it:
 * the call of the low bits, here through the C library's syscall().
 * Every other number goes to the C library unchanged.  Knows nothing
 * about TLS.
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <unistd.h>

#define X32_BIT 0x40000000u

long syscall(long no, ...)
{
	static long (*real)(long, ...);
	unsigned long a[6];
	unsigned int n = (unsigned int)no;
	va_list ap;

	va_start(ap, no);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, unsigned long);
	va_end(ap);
	if (!real)
		real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	if ((n & 0xc0000000u) == X32_BIT && (n & ~X32_BIT) < 512)
		no = (long)(n & ~X32_BIT);
	return real(no, a[0], a[1], a[2], a[3], a[4], a[5]);
}
