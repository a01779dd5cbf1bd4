/* preload_dladdr.so — a test-only counter: how often anything in the
 * process called dladdr or dladdr1 (each scans the whole dynamic symbol
 * table of the object that holds the address: some 93 K instructions for
 * libcrypto's).
 *
 *   LD_PRELOAD="libtlsshim.so preload_dladdr.so" prog
 *
 * Loaded AFTER the library: the library's calls find these wrappers
 * first, which count and answer.  A program reads the count with
 * dlsym(RTLD_DEFAULT, "dladdr_calls").
 *
 * The answer names the object only (its file, base and link map; no
 * symbol), from _dl_find_object: finding the C library's dladdr with
 * dlsym would go through the library's dlsym, which asks dladdr1 who
 * calls.
 */
#include <dlfcn.h>
#include <link.h>
#include <stddef.h>

static unsigned long calls;

unsigned long dladdr_calls(void);
unsigned long dladdr_calls(void)
{
	return __atomic_load_n(&calls, __ATOMIC_RELAXED);
}

static int answer(const void *addr, Dl_info *info, struct link_map **lm)
{
	struct dl_find_object fo;

	__atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
	if (_dl_find_object((void *)addr, &fo) != 0 || !fo.dlfo_link_map)
		return 0;
	info->dli_fname = fo.dlfo_link_map->l_name;
	info->dli_fbase = fo.dlfo_map_start;
	info->dli_sname = NULL;
	info->dli_saddr = NULL;
	if (lm)
		*lm = fo.dlfo_link_map;
	return 1;
}

int dladdr(const void *addr, Dl_info *info)
{
	return answer(addr, info, NULL);
}

int dladdr1(const void *addr, Dl_info *info, void **extra, int flags)
{
	return answer(addr, info, flags == RTLD_DL_LINKMAP ? (struct link_map **)extra : NULL);
}
