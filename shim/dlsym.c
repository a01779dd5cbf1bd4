/* shim/dlsym.c — dlsym() and dlvsym() on an explicit handle.
 *
 * A program that takes a C library function through a handle of the C
 * library itself — Python's ctypes.CDLL("libc.so.6").send, JNA, Ruby's
 * Fiddle, Perl's FFI: dlopen("libc.so.6") then dlsym(handle, "send") —
 * gets the C library's own definition: glibc searches that object's
 * local scope, where this library is not.  Its calls then pass every
 * wrapper, and a TLS descriptor's data went out in clear.
 *
 * dlsym and dlvsym are wrapped here: on an explicit handle, when the
 * answer is the definition one of our wrappers stands in front of (the
 * one our dlsym(RTLD_NEXT, name) finds, or the C library's own
 * definition of that name under any version), the program gets our
 * wrapper, as its ordinary calls do.  Any other answer is the C
 * library's, unchanged: a plug-in's own function that happens to be
 * called "send" stays the plug-in's.  dlsym with RTLD_DEFAULT or
 * RTLD_NEXT, and failures, are handed to the C library untouched;
 * dlvsym with them too unless its answer would be the C library's
 * function a wrapper stands in front of (glibc skips our unversioned
 * definitions for a named version): see tlsshim_dl_decide().
 *
 * glibc's dlsym looks at its caller's return address (RTLD_NEXT means
 * "after the caller's object", RTLD_DEFAULT searches the caller's
 * namespace).  A C wrapper that called it would make every caller look
 * like this library: another preloaded library's dlsym(RTLD_NEXT,
 * "write") would find its own write again.  So the entry points are
 * trampolines in assembly: they keep the arguments, ask decide(), and
 * either return its answer or jump (not call) to the C library's dlsym,
 * which then sees the program's own return address.  x86_64 and aarch64;
 * on other architectures nothing is wrapped (man/libtlsshim.7).
 *
 * Bootstrap: this library's own dlsym(RTLD_NEXT, ...) calls (shim/real.c
 * and others) come here too, as do those of libraries loaded before us
 * (the sanitizers' runtimes, from their initialisation, before any
 * constructor).  The C library's dlsym and dlvsym are found without
 * dlsym: in the dynamic symbol table of the object that defines dlerror
 * (libc.so.6; libdl.so.2 before glibc 2.34), by its GNU or SysV hash
 * table.  Everything on that path is free of sanitizer instrumentation
 * and calls nothing a sanitizer intercepts: it may run before their
 * runtimes are set up.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#if defined(__x86_64__) && __has_include(<sys/platform/x86.h>)
#include <sys/platform/x86.h>
#endif
#include <unistd.h>

#include "core/log.h"
#include "policy/inspect.h"
#include "shim/shim.h"

#if defined(__x86_64__) || defined(__aarch64__)

#define NO_SAN __attribute__((no_sanitize("address", "undefined", "thread"), noinline))

typedef void *(*dlsym_fn)(void *, const char *);
typedef void *(*dlvsym_fn)(void *, const char *, const char *);

typedef void *(*dlopen_fn)(const char *, int);
typedef void *(*dlmopen_fn)(Lmid_t, const char *, int);

/* Read by the trampolines (hidden: PC-relative). */
dlsym_fn tlsshim_real_dlsym;
dlvsym_fn tlsshim_real_dlvsym;
dlopen_fn tlsshim_real_dlopen;
dlmopen_fn tlsshim_real_dlmopen;

void *tlsshim_dl_decide(void *handle, const char *name, const char *version, const void *caller);
void *tlsshim_dlopen_decide(const char *file, int mode, const void *caller);
void *tlsshim_dlmopen_decide(Lmid_t lmid, const char *file, int mode, const void *caller);

/* tlsshim_dlopen_decide's answer for "dlopen failed" (NULL means "let the
 * C library's dlopen answer the caller"). */
#define DLOPEN_FAILED ((void *)-1)

/* ---- the trampolines ---------------------------------------------------- */

#if defined(__x86_64__)
#ifdef __CET__
#define ENDBR "endbr64\n"
#else
#define ENDBR ""
#endif
/* The three argument registers kept (dlsym's rdx too: an even count
 * keeps the stack aligned for the call), the caller's return address
 * as DECIDE's next argument (register CREG) after CLEAR; a non-NULL
 * answer is returned after ANSWER, NULL jumps to the C library's
 * function at PTR. */
#define DL_TRAMPOLINE(fn, clear, creg, decide, answer, ptr)			\
	".text\n"								\
	".globl " fn "\n"							\
	".type " fn ", @function\n"						\
	".p2align 4\n"								\
	fn ":\n"								\
	".cfi_startproc\n"							\
	ENDBR									\
	"pushq %rdi\n"								\
	".cfi_adjust_cfa_offset 8\n"						\
	"pushq %rsi\n"								\
	".cfi_adjust_cfa_offset 8\n"						\
	"pushq %rdx\n"								\
	".cfi_adjust_cfa_offset 8\n"						\
	clear									\
	"movq 24(%rsp), " creg "\n"						\
	"call " decide "\n"							\
	"popq %rdx\n"								\
	".cfi_adjust_cfa_offset -8\n"						\
	"popq %rsi\n"								\
	".cfi_adjust_cfa_offset -8\n"						\
	"popq %rdi\n"								\
	".cfi_adjust_cfa_offset -8\n"						\
	"testq %rax, %rax\n"							\
	"jz 1f\n"								\
	answer									\
	"ret\n"								\
	"1:\n"									\
	"jmp *" ptr "(%rip)\n"							\
	".cfi_endproc\n"							\
	".size " fn ", .-" fn "\n"
/* dlsym and dlvsym: the decision's fourth argument (rcx); dlsym's is told
 * no version (CLEAR). */
#define TRAMPOLINE(fn, ptr, clear)						\
	DL_TRAMPOLINE(fn, clear, "%rcx", "tlsshim_dl_decide", "", ptr)
/* dlopen and dlmopen: the same shape (the caller's return address as the
 * decision's next argument: CREG); the answer DLOPEN_FAILED becomes NULL. */
#define OPEN_TRAMPOLINE(fn, decide, ptr, creg)					\
	DL_TRAMPOLINE(fn, "", creg, decide,					\
		      "cmpq $-1, %rax\n"					\
		      "jne 2f\n"						\
		      "xorl %eax, %eax\n"					\
		      "2:\n", ptr)
__asm__(TRAMPOLINE("dlsym", "tlsshim_real_dlsym", "xorl %edx, %edx\n")
	TRAMPOLINE("dlvsym", "tlsshim_real_dlvsym", ""));
__asm__(OPEN_TRAMPOLINE("dlopen", "tlsshim_dlopen_decide", "tlsshim_real_dlopen", "%rdx")
	OPEN_TRAMPOLINE("dlmopen", "tlsshim_dlmopen_decide", "tlsshim_real_dlmopen", "%rcx"));
#else /* __aarch64__ */
#ifdef __ARM_FEATURE_BTI_DEFAULT
#define BTI "bti c\n"
#else
#define BTI ""
#endif
/* The same shape; x30 (the return address glibc reads) is restored
 * before the jump; the answer is in x9 until ANSWER puts it in x0. */
#define DL_TRAMPOLINE(fn, clear, creg, decide, answer, ptr)			\
	".text\n"								\
	".globl " fn "\n"							\
	".type " fn ", %function\n"						\
	".p2align 2\n"								\
	fn ":\n"								\
	".cfi_startproc\n"							\
	BTI									\
	"stp x29, x30, [sp, #-48]!\n"						\
	".cfi_def_cfa_offset 48\n"						\
	".cfi_offset 29, -48\n"							\
	".cfi_offset 30, -40\n"							\
	"mov x29, sp\n"								\
	"stp x0, x1, [sp, #16]\n"						\
	"str x2, [sp, #32]\n"							\
	clear									\
	"mov " creg ", x30\n"							\
	"bl " decide "\n"							\
	"mov x9, x0\n"								\
	"ldp x0, x1, [sp, #16]\n"						\
	"ldr x2, [sp, #32]\n"							\
	"ldp x29, x30, [sp], #48\n"						\
	".cfi_def_cfa_offset 0\n"						\
	".cfi_restore 29\n"							\
	".cfi_restore 30\n"							\
	"cbz x9, 1f\n"								\
	answer									\
	"ret\n"									\
	"1:\n"									\
	"adrp x16, " ptr "\n"							\
	"ldr x16, [x16, :lo12:" ptr "]\n"					\
	"br x16\n"								\
	".cfi_endproc\n"							\
	".size " fn ", .-" fn "\n"
#define TRAMPOLINE(fn, ptr, clear)						\
	DL_TRAMPOLINE(fn, clear, "x3", "tlsshim_dl_decide", "mov x0, x9\n", ptr)
#define OPEN_TRAMPOLINE(fn, decide, ptr, creg)					\
	DL_TRAMPOLINE(fn, "", creg, decide,					\
		      "cmn x9, #1\n"						\
		      "csel x0, xzr, x9, eq\n", ptr)
__asm__(TRAMPOLINE("dlsym", "tlsshim_real_dlsym", "mov x2, xzr\n")
	TRAMPOLINE("dlvsym", "tlsshim_real_dlvsym", ""));
__asm__(OPEN_TRAMPOLINE("dlopen", "tlsshim_dlopen_decide", "tlsshim_real_dlopen", "x2")
	OPEN_TRAMPOLINE("dlmopen", "tlsshim_dlmopen_decide", "tlsshim_real_dlmopen", "x3"));
#endif

/* ---- a look-up in an object's dynamic symbol table ---------------------- */

struct dynobj {
	ElfW(Addr) base;
	const ElfW(Sym) *sym;
	const char *str;
	const uint32_t *gnu;
	const ElfW(Word) *sysv;
	const ElfW(Half) *versym;
};

/* glibc relocates most addresses of a writable dynamic section in place
 * (not on every architecture): one below the load address is not. */
static NO_SAN const void *dyn_ptr(const struct dynobj *o, ElfW(Addr) p)
{
	return (const void *)(p < o->base ? p + o->base : p);
}

static NO_SAN bool dyn_open(const struct link_map *lm, struct dynobj *o)
{
	const ElfW(Dyn) *d;

	*o = (struct dynobj){ .base = lm->l_addr };
	if (!lm->l_ld)
		return false;
	for (d = lm->l_ld; d->d_tag != DT_NULL; d++) {
		switch (d->d_tag) {
		case DT_SYMTAB: o->sym = dyn_ptr(o, d->d_un.d_ptr); break;
		case DT_STRTAB: o->str = dyn_ptr(o, d->d_un.d_ptr); break;
		case DT_GNU_HASH: o->gnu = dyn_ptr(o, d->d_un.d_ptr); break;
		case DT_HASH: o->sysv = dyn_ptr(o, d->d_un.d_ptr); break;
		case DT_VERSYM: o->versym = dyn_ptr(o, d->d_un.d_ptr); break;
		default: break;
		}
	}
	return o->sym && o->str && (o->gnu || o->sysv);
}

static NO_SAN bool same(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

/* A defined function NAME: the default version's when there are several
 * (a hidden one only if nothing else). */
static NO_SAN bool candidate(const struct dynobj *o, uint32_t i, const char *name, const ElfW(Sym) **best)
{
	const ElfW(Sym) *s = &o->sym[i];
	int type = ELF64_ST_TYPE(s->st_info);

	if (s->st_shndx == SHN_UNDEF || !s->st_value || (type != STT_FUNC && type != STT_GNU_IFUNC) ||
	    !same(o->str + s->st_name, name))
		return false;
	if (!*best)
		*best = s;
	if (!o->versym || !(o->versym[i] & 0x8000)) {
		*best = s;
		return true;
	}
	return false;
}

/* The symbols named NAME in an object's hash chain, one at a time: set up
 * by dyn_first(), each next index from dyn_next() (0: no more). */
struct dyn_iter {
	const struct dynobj *o;
	const char *name;
	uint32_t h, i, n;
	bool done;
};

static NO_SAN bool dyn_first(const struct dynobj *o, const char *name, struct dyn_iter *it)
{
	const unsigned char *c;

	*it = (struct dyn_iter){ .o = o, .name = name };
	if (o->gnu) {
		const uint32_t nb = o->gnu[0], off = o->gnu[1], bsize = o->gnu[2], shift = o->gnu[3];
		const ElfW(Addr) *bloom = (const ElfW(Addr) *)&o->gnu[4];
		const uint32_t *bucket = (const uint32_t *)&bloom[bsize];
		const unsigned bits = sizeof(ElfW(Addr)) * 8;
		uint32_t h = 5381;
		ElfW(Addr) w;

		for (c = (const unsigned char *)name; *c; c++)
			h = h * 33 + *c;
		if (!nb || !bsize)
			return false;
		w = bloom[(h / bits) % bsize];
		if (!((w >> (h % bits)) & (w >> ((h >> shift) % bits)) & 1))
			return false;
		it->h = h;
		it->i = bucket[h % nb];
		return it->i >= off;
	} else {
		const ElfW(Word) nb = o->sysv[0], *bucket = &o->sysv[2];
		uint32_t h = 0, g;

		for (c = (const unsigned char *)name; *c; c++) {
			h = (h << 4) + *c;
			g = h & 0xf0000000u;
			h ^= g >> 24;
			h &= ~g;
		}
		if (!nb)
			return false;
		it->i = bucket[h % nb];
		return it->i != STN_UNDEF;
	}
}

static NO_SAN uint32_t dyn_next(struct dyn_iter *it)
{
	const struct dynobj *o = it->o;

	while (!it->done) {
		uint32_t i = it->i;

		if (o->gnu) {
			const uint32_t nb = o->gnu[0], off = o->gnu[1], bsize = o->gnu[2];
			const uint32_t *chain = (const uint32_t *)&((const ElfW(Addr) *)&o->gnu[4])[bsize] + nb;
			uint32_t h2 = chain[i - off];

			it->done = h2 & 1;
			it->i++;
			if ((it->h | 1) == (h2 | 1) && same(o->str + o->sym[i].st_name, it->name))
				return i;
		} else {
			const ElfW(Word) *chain = &o->sysv[2] + o->sysv[0];

			it->i = chain[i];
			it->done = it->i == STN_UNDEF || ++it->n >= o->sysv[1];
			if (same(o->str + o->sym[i].st_name, it->name))
				return i;
		}
	}
	return 0;
}

/* A defined function (or IFUNC) NAME: the default version's when there
 * are several (a hidden one only if nothing else). */
static NO_SAN const ElfW(Sym) *dyn_find(const struct dynobj *o, const char *name)
{
	const ElfW(Sym) *best = NULL;
	struct dyn_iter it;
	uint32_t i;

	if (!dyn_first(o, name, &it))
		return NULL;
	while ((i = dyn_next(&it)))
		if (candidate(o, i, name, &best))
			break;
	return best;
}

/* Is ADDR one of the object's definitions of the function NAME, under any
 * version (a compatibility one too)? */
static NO_SAN bool dyn_defines(const struct dynobj *o, const char *name, const void *addr)
{
	struct dyn_iter it;
	uint32_t i;

	if (!addr || !dyn_first(o, name, &it))
		return false;
	while ((i = dyn_next(&it))) {
		const ElfW(Sym) *s = &o->sym[i];

		if (s->st_shndx != SHN_UNDEF && ELF64_ST_TYPE(s->st_info) == STT_FUNC &&
		    addr == (const void *)(o->base + s->st_value))
			return true;
	}
	return false;
}

bool shim_object_defines(ElfW(Addr) base, const ElfW(Dyn) *ld, const char *name)
{
	struct link_map lm = { .l_addr = base, .l_ld = (ElfW(Dyn) *)ld };
	struct dynobj o;

	return dyn_open(&lm, &o) && dyn_find(&o, name) != NULL;
}

/* The loaded object that holds addr (shim.h).  _dl_find_object (glibc
 * 2.35) looks the address up in the dynamic linker's sorted table of
 * mappings, lock-free; dladdr1 scans the whole dynamic symbol table of
 * the object for the nearest symbol, which nobody here reads: 93 K
 * instructions for libcrypto's, twice at every start and at a dlsym or
 * dlopen the program makes (bench/README.md, "Start-up, counted").
 * dladdr1 stays the answer where the table has none (an older C library,
 * an object it does not list). */
NO_SAN struct link_map *shim_map_of(const void *addr)
{
	Dl_info di;
	struct link_map *lm = NULL;
#ifdef DLFO_STRUCT_HAS_EH_DBASE
	struct dl_find_object fo;

	if (_dl_find_object((void *)addr, &fo) == 0 && fo.dlfo_link_map)
		return fo.dlfo_link_map;
#endif
	if (!dladdr1(addr, &di, (void **)&lm, RTLD_DL_LINKMAP))
		return NULL;
	return lm;
}

/* ---- the decision ------------------------------------------------------- */

struct dl_state {
	struct dynobj libc;	/* the object that defines dlsym */
	struct dynobj self;	/* this library */
	const struct link_map *self_map;
};

static struct dl_state state;
static int state_claimed;
static const struct dl_state *state_ready;

/* noreturn: GCC infers it, clang (the fuzz targets) must be told. */
static NO_SAN __attribute__((noreturn)) void die(const char *m, size_t n)
{
	log_stderr_fatal(m, n);     /* never straight to fd 2: a socket? */
}

/* Fills MINE (the caller's, good for its call); the first thread also
 * publishes a copy.  Every thread stores the same real pointers; one that
 * lost the race, or a child forked while another thread was publishing,
 * works from its own copy. */
static NO_SAN const struct dl_state *setup(struct dl_state *mine)
{
	struct link_map *lc = shim_map_of((const void *)dlerror);
	struct link_map *me = shim_map_of((const void *)tlsshim_dl_decide);
	const ElfW(Sym) *ds, *dv, *dop;

	if (!lc || !me || !dyn_open(lc, &mine->libc) || !dyn_open(me, &mine->self) ||
	    !(ds = dyn_find(&mine->libc, "dlsym")) || !(dv = dyn_find(&mine->libc, "dlvsym")) ||
	    !(dop = dyn_find(&mine->libc, "dlopen")) || ELF64_ST_TYPE(dop->st_info) != STT_FUNC ||
	    ELF64_ST_TYPE(ds->st_info) != STT_FUNC || ELF64_ST_TYPE(dv->st_info) != STT_FUNC) {
		static const char m[] = "tlsshim: fatal: cannot find the C library's dlsym\n";
		die(m, sizeof m - 1);
	}
	mine->self_map = me;
	__atomic_store_n(&tlsshim_real_dlopen, (dlopen_fn)(lc->l_addr + dop->st_value), __ATOMIC_RELAXED);
	if (!(dop = dyn_find(&mine->libc, "dlmopen")) || ELF64_ST_TYPE(dop->st_info) != STT_FUNC) {
		static const char m[] = "tlsshim: fatal: cannot find the C library's dlmopen\n";
		die(m, sizeof m - 1);
	}
	__atomic_store_n(&tlsshim_real_dlmopen, (dlmopen_fn)(lc->l_addr + dop->st_value), __ATOMIC_RELAXED);
	__atomic_store_n(&tlsshim_real_dlvsym, (dlvsym_fn)(lc->l_addr + dv->st_value), __ATOMIC_RELAXED);
	__atomic_store_n(&tlsshim_real_dlsym, (dlsym_fn)(lc->l_addr + ds->st_value), __ATOMIC_RELAXED);
	if (!__atomic_exchange_n(&state_claimed, 1, __ATOMIC_ACQ_REL)) {
		state = *mine;
		__atomic_store_n(&state_ready, &state, __ATOMIC_RELEASE);
	}
	return mine;
}

/* Does the object CALLER's code is in come before this library in the
 * global search order?  The objects before us were loaded at start-up
 * (the program, libraries preloaded before us) and are never unloaded:
 * walked backwards from us, nothing we read can go away. */
static NO_SAN bool before_us(const struct dl_state *st, const void *caller)
{
	const struct link_map *cm = shim_map_of(caller), *l;

	if (!cm)
		return false;
	for (l = st->self_map->l_prev; l; l = l->l_prev)
		if (l == cm)
			return true;
	return false;
}

/* The trampolines' question: NULL, "let the C library answer" (it sees
 * the caller's return address and sets dlerror), or the answer.  CALLER
 * is the caller's return address. */
NO_SAN void *tlsshim_dl_decide(void *handle, const char *name, const char *version, const void *caller)
{
	const struct dl_state *st = __atomic_load_n(&state_ready, __ATOMIC_ACQUIRE);
	struct dl_state mine;
	const ElfW(Sym) *own;
	void *r, *next, *ours;
	int e;

	if (!st)
		st = setup(&mine);
	if (!name || (!version && (handle == RTLD_DEFAULT || handle == RTLD_NEXT)))
		return NULL;
	if (!(own = dyn_find(&st->self, name)) || ELF64_ST_TYPE(own->st_info) != STT_FUNC)
		return NULL;
	ours = (void *)(st->self.base + own->st_value);
	if (handle == RTLD_DEFAULT || handle == RTLD_NEXT) {
		/* dlvsym with a version skips our unversioned definition
		 * (glibc takes none for a named version), so
		 * dlvsym(RTLD_DEFAULT, "send", "GLIBC_2.2.5") was the C
		 * library's send, past the wrapper.  Asked from here:
		 * RTLD_DEFAULT searches the global scope first, which every
		 * caller's scope begins with (RTLD_DEEPBIND and dlmopen
		 * aside: LIMITATIONS); RTLD_NEXT is "after us", which is the
		 * caller's answer too when the caller comes before us (the
		 * program, a library preloaded before this one) and nothing
		 * between defines NAME with a version.  Any other caller, or
		 * any other answer, and the C library answers the caller. */
		if (handle == RTLD_NEXT && !before_us(st, caller))
			return NULL;
		e = errno;
		r = tlsshim_real_dlvsym(handle, name, version);
		errno = e;
		return dyn_defines(&st->libc, name, r) ? ours : NULL;
	}
	r = version ? tlsshim_real_dlvsym(handle, name, version) : tlsshim_real_dlsym(handle, name);
	if (!r || r == ours)
		return r;
	/* The C library's own definition, any version, from its table (a
	 * handle made from its link_map would lack the search list dlopen
	 * builds).  A compatibility version too: an ordinary call to one
	 * binds to our unversioned wrapper, and lio_listio@GLIBC_2.2.5 on a
	 * TLS fd wrote in clear. */
	if (dyn_defines(&st->libc, name, r))
		return ours;
	/* Called from here, RTLD_NEXT means after us.  A miss sets dlerror:
	 * cleared, for the program's look-up succeeded. */
	e = errno;
	next = tlsshim_real_dlsym(RTLD_NEXT, name);
	if (!next)
		(void)dlerror();
	errno = e;
	return r == next ? ours : r;
}

/* ---- code loaded with RTLD_DEEPBIND ----------------------------------------- */

/* dlopen(FILE, RTLD_DEEPBIND) puts the new objects' own dependencies
 * first in their lookup scope, ahead of the global scope where this
 * library stands in front of the C library: their calls to send, write,
 * connect... bound to the C library's functions, past every wrapper.
 * PHP loads every extension so (php-curl: libcurl's requests went out in
 * clear to a destination the policy says is TLS).  So after such a
 * dlopen, each object it loaded gets, for every name this library
 * wraps, the binding the global scope gives (what it would have without
 * the flag): its relocations of that name (PLT slots, GOT entries,
 * pointers in its data) that the deep-bound lookup answers with the
 * definition a wrapper stands in front of (tlsshim_dl_decide) are set
 * to the wrapper.  Everything else keeps the deep binding the program
 * asked for.  Slots in the object's RELRO segment are made writable for
 * the change, as the loader does for its own.  Not reached under ASan
 * or TSan: their runtimes refuse RTLD_DEEPBIND themselves. */

#if defined(__x86_64__)
#define R_SLOT R_X86_64_JUMP_SLOT
#define R_GOT R_X86_64_GLOB_DAT
#define R_ABS R_X86_64_64
#else
#define R_SLOT R_AARCH64_JUMP_SLOT
#define R_GOT R_AARCH64_GLOB_DAT
#define R_ABS R_AARCH64_ABS64
#endif

struct objs {
	const ElfW(Phdr) **phdr;        /* identity: an object's program headers */
	struct dl_phdr_info *info;      /* for the new ones */
	char **name;                    /* theirs, copied (info's is the loader's) */
	size_t n, cap;
	const struct objs *before;      /* when collecting the new ones */
	bool failed;
};

static NO_SAN int collect_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct objs *o = data;
	(void)size;

	if (o->before) {
		for (size_t i = 0; i < o->before->n; i++)
			if (o->before->phdr[i] == info->dlpi_phdr)
				return 0;
	}
	if (o->n == o->cap) {
		size_t cap = o->cap ? 2 * o->cap : 64;
		const ElfW(Phdr) **p = realloc(o->phdr, cap * sizeof *p);
		struct dl_phdr_info *in = o->before ? realloc(o->info, cap * sizeof *in) : NULL;
		char **nm = o->before ? realloc(o->name, cap * sizeof *nm) : NULL;

		if (p)
			o->phdr = p;
		if (in)
			o->info = in;
		if (nm)
			o->name = nm;
		if (!p || (o->before && (!in || !nm))) {
			o->failed = true;
			return 1;
		}
		o->cap = cap;
	}
	o->phdr[o->n] = info->dlpi_phdr;
	if (o->before) {
		o->info[o->n] = *info;
		if (!(o->name[o->n] = strdup(info->dlpi_name ? info->dlpi_name : ""))) {
			o->failed = true;
			return 1;
		}
	}
	o->n++;
	return 0;
}

/* A relocation's place: 8 bytes, not always aligned (one in an object's
 * text, DT_TEXTREL, is where the instruction puts it). */
static NO_SAN void *slot_get(void **slot)
{
	void *v;

	if (!((uintptr_t)slot % sizeof v))
		return __atomic_load_n(slot, __ATOMIC_RELAXED);
	__builtin_memcpy(&v, slot, sizeof v);
	return v;
}

static NO_SAN void slot_put(void **slot, void *v)
{
	if (!((uintptr_t)slot % sizeof v))
		__atomic_store_n(slot, v, __ATOMIC_RELAXED);
	else
		__builtin_memcpy(slot, &v, sizeof v);
}

/* The protection the loader left on the object's byte at A: its RELRO
 * pages read-only, else its PT_LOAD segment's flags; -1 outside them. */
static NO_SAN int prot_at(const struct dl_phdr_info *info, uintptr_t a, uintptr_t ro_start, uintptr_t ro_end)
{
	if (a >= ro_start && a < ro_end)
		return PROT_READ;
	for (size_t i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t s = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && a >= s && a - s < ph->p_memsz)
			return (ph->p_flags & PF_R ? PROT_READ : 0) | (ph->p_flags & PF_W ? PROT_WRITE : 0) |
			       (ph->p_flags & PF_X ? PROT_EXEC : 0);
	}
	return -1;
}

/* A slot outside the RELRO pages: in a writable segment it is written;
 * in a read-only one (a text relocation, DT_TEXTREL: an absolute address
 * in the code) its pages are made writable for the change and get their
 * protection back, as the loader does when it relocates such an object
 * (the segment's own protection kept: other threads may be running its
 * code).  False when the pages cannot be changed. */
static NO_SAN bool put_outside_relro(const struct dl_phdr_info *info, void **slot, void *v, uintptr_t ro_start,
				     uintptr_t ro_end, uintptr_t page)
{
	const uintptr_t a = (uintptr_t)slot, last = a + sizeof v - 1;
	const uintptr_t p0 = a & ~(page - 1), p1 = last & ~(page - 1);
	const int pr0 = prot_at(info, a, ro_start, ro_end), pr1 = prot_at(info, last, ro_start, ro_end);
	bool ok = true;

	if (pr0 < 0 || pr1 < 0) {
		errno = EFAULT;
		return false;
	}
	if ((pr0 & PROT_WRITE) && (pr1 & PROT_WRITE)) {
		slot_put(slot, v);
		return true;
	}
	if (mprotect((void *)p0, page, pr0 | PROT_WRITE) != 0)
		return false;
	if (p1 != p0 && mprotect((void *)p1, page, pr1 | PROT_WRITE) != 0) {
		ok = false;
	} else {
		slot_put(slot, v);
		if ((pr0 | pr1) & PROT_EXEC)
			__builtin___clear_cache((char *)a, (char *)last + 1);
		if (p1 != p0 && mprotect((void *)p1, page, pr1) != 0)
			ok = false;
	}
	if (mprotect((void *)p0, page, pr0) != 0)
		ok = false;
	return ok;
}

struct change {
	void **slot;
	void *ours;
};

/* Held only while slots are changed (nothing in it calls the loader). */
static pthread_mutex_t rebind_lock = PTHREAD_MUTEX_INITIALIZER;

/* The relocations of one new object (handle: the dlopen's) that name a
 * function we wrap: set to the wrapper.  Counts them in *done; false when
 * a slot could not be made writable. */
static NO_SAN bool rebind_object(const struct dl_state *st, void *handle, const struct dl_phdr_info *info,
				 unsigned *done)
{
	const ElfW(Phdr) *dynph = NULL, *relro = NULL;
	const ElfW(Rela) *tabs[2] = { NULL, NULL };
	size_t sizes[2] = { 0, 0 };
	uintptr_t ro_start = 0, ro_end = 0;
	bool opened = false, ok = true;
	struct link_map lm;
	struct dynobj o;
	struct change *ch = NULL;
	size_t nch = 0, capch = 0;
	long page = sysconf(_SC_PAGESIZE);

	for (size_t i = 0; i < info->dlpi_phnum; i++) {
		if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
			dynph = &info->dlpi_phdr[i];
		else if (info->dlpi_phdr[i].p_type == PT_GNU_RELRO)
			relro = &info->dlpi_phdr[i];
	}
	if (!dynph)
		return true;
	if (page <= 0)
		return false;
	lm = (struct link_map){ .l_addr = info->dlpi_addr, .l_ld = (ElfW(Dyn) *)(info->dlpi_addr + dynph->p_vaddr) };
	if (!dyn_open(&lm, &o))
		return true;
	for (const ElfW(Dyn) *d = lm.l_ld; d->d_tag != DT_NULL; d++) {
		switch (d->d_tag) {
		case DT_JMPREL: tabs[0] = dyn_ptr(&o, d->d_un.d_ptr); break;
		case DT_PLTRELSZ: sizes[0] = d->d_un.d_val; break;
		case DT_PLTREL: if (d->d_un.d_val != DT_RELA) return true; break;
		case DT_RELA: tabs[1] = dyn_ptr(&o, d->d_un.d_ptr); break;
		case DT_RELASZ: sizes[1] = d->d_un.d_val; break;
		default: break;
		}
	}
	if (relro) {
		/* What the loader made read-only: whole pages, the last
		 * partial one left writable. */
		ro_start = (info->dlpi_addr + relro->p_vaddr) & ~(uintptr_t)(page - 1);
		ro_end = (info->dlpi_addr + relro->p_vaddr + relro->p_memsz) & ~(uintptr_t)(page - 1);
	}
	/* The slots to change first (the decision asks the loader, which
	 * takes its lock), then the changes under ours, which asks nothing:
	 * two threads loading at once may both find an object new, and one
	 * gave the RELRO pages back read-only while the other wrote. */
	for (int t = 0; t < 2 && ok; t++) {
		for (size_t k = 0; tabs[t] && k < sizes[t] / sizeof(ElfW(Rela)) && ok; k++) {
			const ElfW(Rela) *r = &tabs[t][k];
			uint32_t type = (uint32_t)ELF64_R_TYPE(r->r_info), idx = (uint32_t)ELF64_R_SYM(r->r_info);
			const ElfW(Sym) *sym, *own;
			const char *name;
			void **slot, *ours;

			if (!idx || (type != R_SLOT && type != R_GOT && !(type == R_ABS && r->r_addend == 0)))
				continue;
			sym = &o.sym[idx];
			if (sym->st_shndx != SHN_UNDEF)
				continue;       /* its own definition */
			name = o.str + sym->st_name;
			if (!(own = dyn_find(&st->self, name)) || ELF64_ST_TYPE(own->st_info) != STT_FUNC)
				continue;
			ours = (void *)(st->self.base + own->st_value);
			slot = (void **)(info->dlpi_addr + r->r_offset);
			if (slot_get(slot) == ours || tlsshim_dl_decide(handle, name, NULL, NULL) != ours)
				continue;
			if (nch == capch) {
				struct change *c = realloc(ch, (capch = capch ? 2 * capch : 16) * sizeof *c);

				if (!c) {
					ok = false;
					break;
				}
				ch = c;
			}
			ch[nch++] = (struct change){ slot, ours };
		}
	}
	if (!ok || !nch) {
		free(ch);
		return ok;
	}
	pthread_mutex_lock(&rebind_lock);
	for (size_t k = 0; k < nch; k++) {
		void **slot = ch[k].slot, *ours = ch[k].ours;

		if (slot_get(slot) == ours)
			continue;
		if ((uintptr_t)slot >= ro_start && (uintptr_t)slot + sizeof ours <= ro_end) {
			if (!opened) {
				if (mprotect((void *)ro_start, ro_end - ro_start, PROT_READ | PROT_WRITE) != 0) {
					ok = false;
					break;
				}
				opened = true;
			}
			slot_put(slot, ours);
		} else if (!put_outside_relro(info, slot, ours, opened ? 0 : ro_start, opened ? 0 : ro_end,
					      (uintptr_t)page)) {
			ok = false;
			break;
		}
		(*done)++;
	}
	if (opened && mprotect((void *)ro_start, ro_end - ro_start, PROT_READ) != 0)
		ok = false;
	pthread_mutex_unlock(&rebind_lock);
	free(ch);
	return ok;
}

/* ---- a name without a slash: the caller's search ------------------------- */

/* glibc's dlopen takes a name an object already loaded answers to (its
 * name, its DT_SONAME) before any search. */
struct by_name {
	const char *file;
	bool found;
};

static NO_SAN int by_name_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct by_name *b = data;
	struct link_map lm = { .l_addr = info->dlpi_addr };
	struct dynobj o;
	(void)size;

	if (info->dlpi_name && same(info->dlpi_name, b->file)) {
		b->found = true;
		return 1;
	}
	for (size_t i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
			lm.l_ld = (ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
	if (!lm.l_ld || !dyn_open(&lm, &o))
		return 0;
	for (const ElfW(Dyn) *d = lm.l_ld; d->d_tag != DT_NULL; d++)
		if (d->d_tag == DT_SONAME && same(o.str + d->d_un.d_val, b->file)) {
			b->found = true;
			return 1;
		}
	return 0;
}

/* The directories glibc searches for an object's dlopen (RTLD_DI_SERINFO:
 * DT_RPATH of it and of the objects that loaded it, the program's
 * DT_RPATH, LD_LIBRARY_PATH, DT_RUNPATH, the system directories), $ORIGIN
 * and the rest expanded; NULL when they cannot be had.  free() it. */
static NO_SAN Dl_serinfo *serinfo(struct link_map *lm)
{
	Dl_serinfo size, *si;

	if (dlinfo(lm, RTLD_DI_SERINFOSIZE, &size) != 0 || !(si = malloc(size.dls_size)))
		return NULL;
	*si = size;
	if (dlinfo(lm, RTLD_DI_SERINFOSIZE, si) != 0 || dlinfo(lm, RTLD_DI_SERINFO, si) != 0) {
		free(si);
		return NULL;
	}
	return si;
}

/* glibc's open_path passes over a file it cannot open and an ELF object
 * of another class or machine (a 32-bit or foreign copy earlier in the
 * path); anything else is its answer (an error for a file that is not an
 * object). */
static NO_SAN bool loadable(const char *path)
{
	unsigned char e[EI_NIDENT + 4];
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC), er = errno;
	ssize_t n;
	uint16_t machine;

	if (fd < 0)
		return false;
	n = read(fd, e, sizeof e);
	close(fd);
	errno = er;
	if (n != (ssize_t)sizeof e || memcmp(e, ELFMAG, SELFMAG))
		return true;
	__builtin_memcpy(&machine, e + EI_NIDENT + 2, sizeof machine);
#if defined(__x86_64__)
	return e[EI_CLASS] == ELFCLASS64 && machine == EM_X86_64;
#else
	return e[EI_CLASS] == ELFCLASS64 && machine == EM_AARCH64;
#endif
}

/* The glibc-hwcaps subdirectories glibc searches in each directory before
 * the directory itself, best first (ld.so --help lists them). */
static NO_SAN size_t hwcaps_subdirs(const char **sub)
{
	size_t n = 0;
#if defined(__x86_64__) && __has_include(<sys/platform/x86.h>)
#define A(f) CPU_FEATURE_ACTIVE(f)
	if (A(CMPXCHG16B) && A(LAHF64_SAHF64) && A(POPCNT) && A(SSE3) && A(SSSE3) && A(SSE4_1) && A(SSE4_2)) {
		if (A(AVX) && A(AVX2) && A(BMI1) && A(BMI2) && A(F16C) && A(FMA) && A(LZCNT) && A(MOVBE)) {
			if (A(AVX512F) && A(AVX512BW) && A(AVX512CD) && A(AVX512DQ) && A(AVX512VL))
				sub[n++] = "x86-64-v4";
			sub[n++] = "x86-64-v3";
		}
		sub[n++] = "x86-64-v2";
	}
#undef A
#else
	(void)sub;
#endif
	return n;
}

/* Because our call is the C library's caller now, a name without a slash
 * is looked for as the CALLER's would be: a name an object loaded answers
 * to is the C library's to answer; else the directories glibc would
 * search for the caller that it would not search for us (those before the
 * list the two share at its end: the system directories, after the
 * ld.so.cache, and what every caller searches), each one's glibc-hwcaps
 * subdirectories first.  Found there, that path is loaded; else the name,
 * and our own call searches the rest. */
static NO_SAN const char *caller_path(const struct dl_state *st, const void *caller, const char *file, char *buf,
				      size_t len)
{
	struct link_map *cm = shim_map_of(caller);
	struct by_name b = { .file = file };
	const char *found = file, *sub[4];
	Dl_serinfo *mine = NULL, *ours = NULL;
	size_t nsub, end;

	if (!cm || strchr(file, '/') || cm == st->self_map)
		return file;
	dl_iterate_phdr(by_name_cb, &b);
	if (b.found || !(mine = serinfo(cm)) || !(ours = serinfo((struct link_map *)st->self_map)))
		goto out;
	/* Drop the shared tail. */
	for (end = mine->dls_cnt; end > 0 && ours->dls_cnt >= mine->dls_cnt - end + 1; end--)
		if (!same(mine->dls_serpath[end - 1].dls_name,
			  ours->dls_serpath[ours->dls_cnt - (mine->dls_cnt - end) - 1].dls_name))
			break;
	nsub = hwcaps_subdirs(sub);
	for (size_t i = 0; i < end && found == file; i++) {
		for (size_t k = 0; k <= nsub; k++) {
			const char *dir = mine->dls_serpath[i].dls_name;
			int n = k < nsub ? snprintf(buf, len, "%s/glibc-hwcaps/%s/%s", dir, sub[k], file)
					 : snprintf(buf, len, "%s/%s", dir, file);

			if (n > 0 && (size_t)n < len && loadable(buf)) {
				found = buf;
				break;
			}
		}
	}
out:
	free(mine);
	free(ours);
	return found;
}

/* The file a deep-bound load of FILE (path: caller_path's answer) will
 * map, when it can be told: a path, or the first of the program's search
 * directories (LD_LIBRARY_PATH, its run paths, the system's) that has it;
 * NULL when only the loader's cache would find it. */
static NO_SAN const char *load_path(const char *path, char *buf, size_t len)
{
	struct link_map *main_map = shim_map_of((const void *)dlerror);
	Dl_serinfo *si;
	const char *found = NULL;

	if (strchr(path, '/'))
		return path;
	while (main_map && main_map->l_prev)
		main_map = main_map->l_prev;
	if (!main_map || !(si = serinfo(main_map)))
		return NULL;
	for (unsigned i = 0; i < si->dls_cnt && !found; i++) {
		int n = snprintf(buf, len, "%s/%s", si->dls_serpath[i].dls_name, path);

		if (n > 0 && (size_t)n < len && access(buf, F_OK) == 0)
			found = buf;
	}
	free(si);
	return found;
}

NO_SAN void *tlsshim_dlopen_decide(const char *file, int mode, const void *caller)
{
	const struct dl_state *st = __atomic_load_n(&state_ready, __ATOMIC_ACQUIRE);
	struct objs before = { .phdr = NULL }, added = { .phdr = NULL };
	struct dl_state mine;
	char path[PATH_MAX], judge_buf[PATH_MAX];
	const char *file_to_load, *judged;
	unsigned done = 0;
	bool ok = true;
	void *h;

	__atomic_add_fetch(&shim_dlopen_calls, 1, __ATOMIC_RELAXED);
	if (!st)
		st = setup(&mine);
	if (!file || !(mode & RTLD_DEEPBIND))
		return NULL;            /* the C library answers the caller */
	file_to_load = caller_path(st, caller, file, path, sizeof path);
	/* A Go library starts its runtime from its constructor, inside the
	 * load and before the change below: judged from its file first
	 * (the process stops, as at the pthread_create of one loaded
	 * without the flag). */
	if ((judged = load_path(file_to_load, judge_buf, sizeof judge_buf)) && elf_file_go(judged) > 0) {
		void *loaded = tlsshim_real_dlopen(file_to_load, RTLD_LAZY | RTLD_NOLOAD);

		if (loaded)
			dlclose(loaded);        /* already there: its constructor has run */
		else
			shim_refuse_go_library(judged);
	}
	dl_iterate_phdr(collect_cb, &before);
	h = tlsshim_real_dlopen(file_to_load, mode);
	if (h && !before.failed) {
		added.before = &before;
		dl_iterate_phdr(collect_cb, &added);
		ok = !added.failed;
		for (size_t i = 0; ok && i < added.n; i++) {
			/* Another thread may be loading or unloading objects
			 * counted as new here: each is held open (dlopen
			 * RTLD_NOLOAD waits for a load in progress to end).  One
			 * gone, or another by its name now (unloaded and loaded
			 * again meanwhile), was not ours: H holds ours, and the
			 * loader keeps one object per name. */
			void *pin = added.name[i][0] ? tlsshim_real_dlopen(added.name[i], RTLD_LAZY | RTLD_NOLOAD) : NULL;
			struct link_map *pm = NULL;

			if (!pin) {
				(void)dlerror();
				continue;
			}
			if (dlinfo(pin, RTLD_DI_LINKMAP, &pm) == 0 && pm && pm->l_addr == added.info[i].dlpi_addr)
				ok = rebind_object(st, h, &added.info[i], &done);
			dlclose(pin);
		}
	}
	ok = ok && !before.failed;
	free(before.phdr);
	free(added.phdr);
	free(added.info);
	for (size_t i = 0; i < added.n; i++)
		free(added.name[i]);
	free(added.name);
	if (!h)
		return DLOPEN_FAILED;   /* dlerror says why */
	if (!ok) {
		log_error("dlopen %s with RTLD_DEEPBIND: its calls to the C library's socket and I/O functions"
			  " cannot be sent through the library (%s); refused", file, strerror(errno));
		dlclose(h);
		/* dlerror() then names the refusal. */
		(void)tlsshim_real_dlopen("/ tlsshim: RTLD_DEEPBIND refused, see the log", RTLD_LAZY);
		return DLOPEN_FAILED;
	}
	if (done)
		log_debug("dlopen %s with RTLD_DEEPBIND: %u of its calls to functions the library wraps bound"
			  " to the library", file, done);
	return h;
}

/* ---- dlmopen ------------------------------------------------------------- */

/* Code loaded into another link-map namespace has a copy of the C library
 * of its own, in front of which this library is not (nor can it be: that
 * copy's errno, stdio and allocator are not ours): its sockets would be
 * plain, whatever the policy says.  While the policy has TLS rules such a
 * dlmopen is refused (NULL, dlerror names it, a line at level error);
 * LM_ID_BASE is the program's own namespace, and the C library's
 * dlmopen serves it, as it does every call when the policy has no TLS
 * rule. */
NO_SAN void *tlsshim_dlmopen_decide(Lmid_t lmid, const char *file, int mode, const void *caller)
{
	const struct dl_state *st = __atomic_load_n(&state_ready, __ATOMIC_ACQUIRE);
	struct dl_state mine;

	(void)mode, (void)caller;
	__atomic_add_fetch(&shim_dlopen_calls, 1, __ATOMIC_RELAXED);
	if (!st)
		st = setup(&mine);
	if (lmid == LM_ID_BASE || !shim_policy_has_tls())
		return NULL;            /* the C library answers the caller */
	log_error("dlmopen %s into another link-map namespace: its code would have a copy of the C library of"
		  " its own, past the library, and its connections would not be TLS; refused (the policy asks"
		  " for TLS)", file ? file : "(null)");
	(void)tlsshim_real_dlopen("/ tlsshim: dlmopen into another namespace refused, see the log", RTLD_LAZY);
	return DLOPEN_FAILED;
}

/* fork() takes the rebinding lock (the last of the global order,
 * docs/locking.md; nothing is taken under it), so that a child never
 * inherits it held by a thread that is not there. */
void shim_dlsym_fork_lock(void)
{
	pthread_mutex_lock(&rebind_lock);
}

void shim_dlsym_fork_unlock(void)
{
	pthread_mutex_unlock(&rebind_lock);
}

#else

void shim_dlsym_fork_lock(void)
{
}

void shim_dlsym_fork_unlock(void)
{
}

#endif
