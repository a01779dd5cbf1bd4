/* tests/fuzz/fuzz_goobject.c — libFuzzer target: the library's look for a
 * Go object among the loaded ones (shim/init.c's go_object_cb, the
 * dl_iterate_phdr callback that pthread_create() and the start run: a Go
 * object missed is a program whose runtime makes its own system calls, so
 * its sockets go out in clear).  shim/init.c is included whole (its
 * helpers are static); what it calls of the rest of the shim is a stub
 * that aborts, but shim_object_defines (the PT_DYNAMIC mark), answered from
 * the input.  init.c's pthread_create is renamed (goobject_pthread_create,
 * never called): the fuzzer's own threads stay the sanitizer's; its
 * constructor, the library's start, is not one here.
 *
 * An input is one object as dl_iterate_phdr gives it:
 *   byte 0, bits 0-2: the number of program headers less one (1 to 8);
 *     bits 3-4: the object's name: NULL, "" (both the main program),
 *     "libgo.so", or 300 characters (the name kept is cut to 255);
 *   then 4 bytes a program header: the type (bits 0-1: PT_NOTE, PT_LOAD,
 *     PT_DYNAMIC, PT_GNU_STACK) and flags (bit 2 PF_X, 3 PF_W, 4 PF_R);
 *     the segment's offset in the object's memory (0-255, at most its
 *     end) and its file size (16 bits little-endian, at most what is left);
 *   the rest: the object's memory, a heap copy of exactly its length, so
 *     that ASan catches a read past a segment's end.
 * shim_object_defines(base, dynamic, name) answers from the byte at the
 * dynamic section (bit 0: crosscall2, bit 1: _cgo_topofstack; none past
 * the memory's end).  It aborts when the callback's verdict is not: Go
 * when a PT_NOTE of at least 12 bytes holds Go's build-ID note in its
 * first 4096 (policy/inspect.c's elf_notes_go, whose note walk on any
 * bytes ASan checks here), a PT_LOAD writable but not executable of at
 * least 14 bytes starts with GO_BUILDINFO_MAGIC, or a PT_DYNAMIC's object
 * defines both of runtime/cgo's exports; and, Go found, the name it
 * keeps: program_invocation_name for the main program, else the object's
 * (cut to 255).  At start, the callback runs over this process's own
 * objects (real program headers, no Go among them): it must find none.
 * FUZZ_GOOBJECT_TRACE=1 prints each input's verdict (the seeds' check).
 * Build and run: make fuzz (see tests/fuzz/README). */
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

/* What shim/init.c includes, before the names below change. */
#include "core/alloc.h"
#include "core/errq.h"
#include "core/log.h"
#include "core/self.h"
#include "core/version.h"
#include "policy/file.h"
#include "policy/hashdir.h"
#include "policy/inspect.h"
#include "policy/ocsp.h"
#include "policy/keyholder.h"
#include "policy/reload.h"
#include "policy/resume.h"
#include "shim/real.h"
#include "shim/shim.h"

/* init.c's five REAL() calls: its pthread_create's own (never called) and
 * the start's, never reached here. */
#undef REAL
#define REAL(fn) goobject_real_##fn
static __attribute__((noreturn)) void goobject_real__exit(int status)
{
	(void)status;
	abort();
}
static int goobject_real_pthread_create(pthread_t *t, const pthread_attr_t *attr,
					void *(*fn)(void *), void *arg)
{
	(void)t;
	(void)attr;
	(void)fn;
	(void)arg;
	abort();
}
static int goobject_real_openat(int d, const char *p, int flags, ...)
{
	(void)d;
	(void)p;
	(void)flags;
	abort();
}
static int goobject_real_open(const char *p, int flags, ...)
{
	(void)p;
	(void)flags;
	abort();
}

/* Its constructor (the library's start) is not run: the callback needs
 * no policy. */
#define constructor unused
#define pthread_create goobject_pthread_create
#include "shim/init.c"
#undef pthread_create
#undef constructor

/* The rest of the shim that init.c calls: none is reached by
 * go_object_cb. */
static void goobject_unreached(void)
{
	abort();
}
#define UNREACHED(f) __typeof__(f) f __attribute__((alias("goobject_unreached")));
UNREACHED(real_init)
UNREACHED(shim_adopt_inherited)
UNREACHED(shim_classify_fork_lock)
UNREACHED(shim_classify_fork_unlock)
UNREACHED(shim_close_own)
UNREACHED(shim_dlsym_fork_lock)
UNREACHED(shim_dlsym_fork_unlock)
UNREACHED(shim_epoll_fork_child)
UNREACHED(shim_epoll_fork_lock)
UNREACHED(shim_epoll_fork_unlock)
UNREACHED(shim_exec_prime)
UNREACHED(shim_exit_handler_install)
UNREACHED(shim_getpid_init)
UNREACHED(shim_is_own)
UNREACHED(shim_linger_fork_child)
UNREACHED(shim_linger_fork_lock)
UNREACHED(shim_linger_fork_unlock)
UNREACHED(shim_linger_install)
UNREACHED(shim_names_fork_lock)
UNREACHED(shim_names_fork_unlock)
UNREACHED(shim_open_own)
UNREACHED(shim_openat2)
UNREACHED(shim_own_cell)
UNREACHED(shim_own_close)
UNREACHED(shim_own_close_moved)
UNREACHED(shim_own_copy)
UNREACHED(shim_own_fork_lock)
UNREACHED(shim_own_fork_unlock)
UNREACHED(shim_own_move)
UNREACHED(shim_own_socket)
UNREACHED(shim_pump_after_fork_child)
UNREACHED(shim_resolver_fork_lock)
UNREACHED(shim_resolver_fork_unlock)
UNREACHED(shim_resolver_setup)
UNREACHED(shim_signal_init)
UNREACHED(shim_sock_shared)
UNREACHED(shim_wait_fork_child)
UNREACHED(shim_wait_init)

/* The object under test, while the callback runs on it (else NULL: this
 * process's own objects define neither export, as far as the look is
 * concerned). */
static const unsigned char *fz_mem;
static size_t fz_len;

bool shim_object_defines(ElfW(Addr) base, const ElfW(Dyn) *ld, const char *name)
{
	const unsigned char *at = (const unsigned char *)ld;
	int bit;

	if (!fz_mem)
		return false;
	if (base != (ElfW(Addr))fz_mem || at < fz_mem || at > fz_mem + fz_len)
		abort();                /* not the dynamic section it was given */
	if (!strcmp(name, "crosscall2"))
		bit = 1;
	else if (!strcmp(name, "_cgo_topofstack"))
		bit = 2;
	else
		abort();                /* not one of runtime/cgo's exports */
	return at < fz_mem + fz_len && (*at & bit);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct go_found g = { .found = false };

	(void)argc;
	(void)argv;
	dl_iterate_phdr(go_object_cb, &g);
	if (g.found) {
		fprintf(stderr, "fuzz_goobject: a Go object in this process: %s\n", g.name);
		abort();
	}
	return 0;
}

static const ElfW(Word) TYPES[4] = { PT_NOTE, PT_LOAD, PT_DYNAMIC, PT_GNU_STACK };

/* The verdict go_object_cb must give one program header. */
static bool expect_go(const ElfW(Phdr) *ph)
{
	const unsigned char *a = fz_mem + ph->p_vaddr;

	if (ph->p_type == PT_NOTE)
		return ph->p_filesz >= 12 &&
		       elf_notes_go(a, ph->p_filesz < 4096 ? ph->p_filesz : 4096, false);
	if (ph->p_type == PT_LOAD)
		return (ph->p_flags & (PF_W | PF_X)) == PF_W && ph->p_filesz >= GO_BUILDINFO_LEN &&
		       !memcmp(a, GO_BUILDINFO_MAGIC, GO_BUILDINFO_LEN);
	if (ph->p_type == PT_DYNAMIC)
		return ph->p_vaddr < fz_len && (fz_mem[ph->p_vaddr] & 3) == 3;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ElfW(Phdr) ph[8];
	char longname[301];
	const char *name;
	size_t n, hdr;
	unsigned char *mem;
	struct dl_phdr_info info;
	struct go_found g = { .found = false };
	char want[256];
	bool go = false;

	if (size < 1)
		return 0;
	n = (size_t)(data[0] & 7) + 1;
	hdr = 1 + 4 * n;
	if (size < hdr)
		return 0;
	memset(longname, 'n', 300);
	longname[300] = 0;
	switch (data[0] >> 3 & 3) {
	case 0: name = NULL; break;
	case 1: name = ""; break;
	case 2: name = "libgo.so"; break;
	default: name = longname; break;
	}
	fz_len = size - hdr;
	mem = malloc(fz_len ? fz_len : 1);
	if (!mem)
		abort();
	memcpy(mem, data + hdr, fz_len);
	fz_mem = mem;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = data + 1 + 4 * i;
		size_t off = p[1] < fz_len ? p[1] : fz_len;
		size_t sz = (size_t)p[2] | (size_t)p[3] << 8;

		memset(&ph[i], 0, sizeof ph[i]);
		ph[i].p_type = TYPES[p[0] & 3];
		ph[i].p_flags = (p[0] & 4 ? PF_X : 0) | (p[0] & 8 ? PF_W : 0) |
				(p[0] & 16 ? PF_R : 0);
		ph[i].p_vaddr = off;
		ph[i].p_filesz = ph[i].p_memsz = sz < fz_len - off ? sz : fz_len - off;
		go = go || expect_go(&ph[i]);
	}
	memset(&info, 0, sizeof info);
	info.dlpi_addr = (ElfW(Addr))mem;
	info.dlpi_name = name;
	info.dlpi_phdr = ph;
	info.dlpi_phnum = (ElfW(Half))n;
	if (go_object_cb(&info, sizeof info, &g) != (go ? 1 : 0) || g.found != go) {
		fprintf(stderr, "fuzz_goobject: Go %s, the callback said %s\n",
			go ? "marked" : "unmarked", g.found ? "Go" : "not Go");
		abort();
	}
	if (getenv("FUZZ_GOOBJECT_TRACE"))
		fprintf(stderr, "fuzz_goobject: %zu headers, %zu bytes: %s%s%s\n", n, fz_len,
			go ? "Go, as " : "not Go", go ? (g.main_program ? "the program " : "") : "",
			go ? g.name : "");
	if (go) {
		bool main_program = !name || !*name;

		snprintf(want, sizeof want, "%s", main_program ? program_invocation_name : name);
		if (g.main_program != main_program || strcmp(g.name, want)) {
			fprintf(stderr, "fuzz_goobject: found as \"%s\" (main %d), not \"%s\"\n",
				g.name, g.main_program, want);
			abort();
		}
	}
	fz_mem = NULL;
	free(mem);
	return 0;
}
