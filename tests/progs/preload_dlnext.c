/* preload_dlnext.so — a test-only preload library that wraps write() and
 * finds the next write with dlsym(RTLD_NEXT), as every wrapping library
 * does (tests/preload/escape.sh, with tests/progs/dlsym_client.c).
 *
 *   LD_PRELOAD="libtlsshim.so preload_dlnext.so" dlsym_client next
 *
 * Loaded AFTER the library: its RTLD_NEXT must mean "after this object"
 * (the C library's write), even though the library wraps dlsym itself;
 * were it "after libtlsshim.so" it would find its own write and recurse.
 * Also opened as a plug-in (dlopen, RTLD_LOCAL): dlsym on its handle must
 * give its own write, not the library's (dlsym_client plugin).
 */
#include <dlfcn.h>
#include <stddef.h>
#include <sys/types.h>

typedef ssize_t (*write_fn)(int, const void *, size_t);

static write_fn next_write;
static unsigned long calls;

static ssize_t own_write(int fd, const void *buf, size_t n)
{
	write_fn w = __atomic_load_n(&next_write, __ATOMIC_ACQUIRE);

	if (!w) {
		w = (write_fn)dlsym(RTLD_NEXT, "write");
		__atomic_store_n(&next_write, w, __ATOMIC_RELEASE);
	}
	__atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
	return w ? w(fd, buf, n) : -1;
}

ssize_t write(int, const void *, size_t) __attribute__((alias("own_write")));

void *dlnext_own_write(void)
{
	return (void *)own_write;
}

/* The file that defines the write found with RTLD_NEXT, or "none". */
const char *dlnext_where(void)
{
	Dl_info di;
	void *w = (void *)__atomic_load_n(&next_write, __ATOMIC_ACQUIRE);

	if (!w || !dladdr(w, &di) || !di.dli_fname)
		return "none";
	return di.dli_fname;
}

/* dlvsym(RTLD_NEXT) from here: after this library (the C library's send).
 * Not a tail call: glibc would take the caller's return address for ours. */
void *dlnext_vnext_send(void)
{
	void *volatile r = dlvsym(RTLD_NEXT, "send", "GLIBC_2.2.5");

	return r;
}

unsigned long dlnext_calls(void)
{
	return __atomic_load_n(&calls, __ATOMIC_RELAXED);
}
