/* shim/getpid.c — OpenSSL's fork check without a system call.
 *
 * OpenSSL 3's random generators ask getpid() at every generation, to
 * notice that they run in a child of a fork (whose copy of their state
 * must be reseeded, or parent and child would draw the same bytes): nine
 * calls per TLS handshake on each end, and getpid() is a system call
 * (1.15 us each on the project's machines: 10 us per connection).
 *
 * Calls from libcrypto's code (told by their return address) are
 * answered from the MADV_WIPEONFORK page of core/self.c, which the
 * kernel zeroes in every child that does not share our memory, however
 * it was made: BoringSSL detects forks the same way.  A page that reads 0
 * (the child of a fork the shim did not see) is the C library's answer.
 * A child that shares our memory (clone(CLONE_VM) without CLONE_THREAD)
 * would read its parent's id there: while one may run (from the clone
 * until a CLONE_VFORK one returns; for good after one without
 * CLONE_VFORK), every call is the C library's.  Its OpenSSL then reseeds
 * as it would without the shim; answered with the parent's id, it would
 * not, and a fork child of it given the parent's id (in a new pid
 * namespace, or a reused id) would repeat its bytes.  A CLONE_VM clone
 * made with an inline system call is not seen (libtlsshim(7), BUGS).
 * Every other caller (the program, other libraries, the shim itself)
 * gets the C library's getpid().  Where the kernel does not honour the
 * advice (core/self.c) there is no page, and every call is the C
 * library's.
 */
#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "core/self.h"
#include "shim/real.h"
#include "shim/shim.h"

/* libcrypto's executable segment: [text_lo, text_lo + text_len). */
static uintptr_t text_lo, text_len;

struct find {
	const void *base;
	uintptr_t lo, len;
};

static int find_text(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct find *f = arg;

	(void)size;
	if ((const void *)info->dlpi_addr != f->base || !info->dlpi_name ||
	    !strstr(info->dlpi_name, "libcrypto.so"))
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			f->lo = info->dlpi_addr + ph->p_vaddr;
			f->len = ph->p_memsz;
			return 1;
		}
	}
	return 1;
}

void shim_getpid_init(void)
{
	const struct link_map *lm = shim_map_of((const void *)OpenSSL_version_num);
	struct find f = { 0 };

	if (!lm)
		return;
	f.base = (const void *)lm->l_addr;
	dl_iterate_phdr(find_text, &f);
	if (!f.len)
		return;
	__atomic_store_n(&text_lo, f.lo, __ATOMIC_RELAXED);
	__atomic_store_n(&text_len, f.len, __ATOMIC_RELEASE);
}

SHIM_EXPORT pid_t getpid(void)
{
	uintptr_t ra = (uintptr_t)__builtin_extract_return_addr(__builtin_return_address(0));
	uintptr_t len = __atomic_load_n(&text_len, __ATOMIC_ACQUIRE);

	if (len && ra - __atomic_load_n(&text_lo, __ATOMIC_RELAXED) < len) {
		pid_t id = self_pid_unshared();

		if (id > 0)
			return id;
	}
	return REAL(getpid)();
}
