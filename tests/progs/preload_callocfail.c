/* preload_callocfail.so — a test-only fault injector: calloc() called
 * from the library under test fails for chosen sizes.
 *
 *   LD_PRELOAD="libtlsshim.so preload_callocfail.so" \
 *       TLSSHIM_TEST_CALLOCFAIL=LO-HI prog
 *
 * Loaded after the library, so that the library's calloc() calls come
 * here.  A call whose caller lies in libtlsshim.so (dladdr of the return
 * address) and whose size (count times size) is between LO and HI bytes
 * fails with ENOMEM, as on a machine short of memory; every other call
 * goes to the C library's allocator (__libc_calloc: no dlsym, which
 * itself allocates).  AddressSanitizer's calloc comes before any preload:
 * under it nothing fails here.  Knows nothing about TLS.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

extern void *__libc_calloc(size_t n, size_t size);

static int ours(const void *caller)
{
	Dl_info di;

	return dladdr(caller, &di) && di.dli_fname && strstr(di.dli_fname, "libtlsshim");
}

void *calloc(size_t n, size_t size)
{
	const char *v = getenv("TLSSHIM_TEST_CALLOCFAIL");
	size_t total = n * size;

	if (v && size && total / size == n) {
		char *end;
		unsigned long lo = strtoul(v, &end, 10), hi = lo;

		if (*end == '-')
			hi = strtoul(end + 1, NULL, 10);
		if (total >= lo && total <= hi && ours(__builtin_return_address(0))) {
			errno = ENOMEM;
			return NULL;
		}
	}
	return __libc_calloc(n, size);
}
