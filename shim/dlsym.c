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
#include <unistd.h>

#if defined(__x86_64__) || defined(__aarch64__)

#define NO_SAN __attribute__((no_sanitize("address", "undefined", "thread"), noinline))

typedef void *(*dlsym_fn)(void *, const char *);
typedef void *(*dlvsym_fn)(void *, const char *, const char *);

/* Read by the trampolines (hidden: PC-relative). */
dlsym_fn tlsshim_real_dlsym;
dlvsym_fn tlsshim_real_dlvsym;

void *tlsshim_dl_decide(void *handle, const char *name, const char *version, const void *caller);

/* ---- the trampolines ---------------------------------------------------- */

#if defined(__x86_64__)
#ifdef __CET__
#define ENDBR "endbr64\n"
#else
#define ENDBR ""
#endif
/* The three argument registers kept (dlsym's rdx too: an even count
 * keeps the stack aligned for the call; its decide() is told no
 * version), the caller's return address as decide()'s fourth. */
#define TRAMPOLINE(fn, ptr, clear)						\
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
	"movq 24(%rsp), %rcx\n"						\
	"call tlsshim_dl_decide\n"						\
	"popq %rdx\n"								\
	".cfi_adjust_cfa_offset -8\n"						\
	"popq %rsi\n"								\
	".cfi_adjust_cfa_offset -8\n"						\
	"popq %rdi\n"								\
	".cfi_adjust_cfa_offset -8\n"						\
	"testq %rax, %rax\n"							\
	"jz 1f\n"								\
	"ret\n"								\
	"1:\n"									\
	"jmp *" ptr "(%rip)\n"							\
	".cfi_endproc\n"							\
	".size " fn ", .-" fn "\n"
__asm__(TRAMPOLINE("dlsym", "tlsshim_real_dlsym", "xorl %edx, %edx\n")
	TRAMPOLINE("dlvsym", "tlsshim_real_dlvsym", ""));
#else /* __aarch64__ */
#ifdef __ARM_FEATURE_BTI_DEFAULT
#define BTI "bti c\n"
#else
#define BTI ""
#endif
/* x30 (the return address glibc reads) is restored before the jump. */
#define TRAMPOLINE(fn, ptr, clear)						\
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
	"mov x3, x30\n"							\
	"bl tlsshim_dl_decide\n"						\
	"mov x9, x0\n"								\
	"ldp x0, x1, [sp, #16]\n"						\
	"ldr x2, [sp, #32]\n"							\
	"ldp x29, x30, [sp], #48\n"						\
	".cfi_def_cfa_offset 0\n"						\
	".cfi_restore 29\n"							\
	".cfi_restore 30\n"							\
	"cbz x9, 1f\n"								\
	"mov x0, x9\n"								\
	"ret\n"									\
	"1:\n"									\
	"adrp x16, " ptr "\n"							\
	"ldr x16, [x16, :lo12:" ptr "]\n"					\
	"br x16\n"								\
	".cfi_endproc\n"							\
	".size " fn ", .-" fn "\n"
__asm__(TRAMPOLINE("dlsym", "tlsshim_real_dlsym", "mov x2, xzr\n")
	TRAMPOLINE("dlvsym", "tlsshim_real_dlvsym", ""));
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

static NO_SAN struct link_map *map_of(const void *addr)
{
	Dl_info di;
	struct link_map *lm = NULL;

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

static NO_SAN void die(const char *m, size_t n)
{
	(void)!write(2, m, n);
	abort();
}

/* Fills MINE (the caller's, good for its call); the first thread also
 * publishes a copy.  Every thread stores the same real pointers; one that
 * lost the race, or a child forked while another thread was publishing,
 * works from its own copy. */
static NO_SAN const struct dl_state *setup(struct dl_state *mine)
{
	struct link_map *lc = map_of((const void *)dlerror), *me = map_of((const void *)tlsshim_dl_decide);
	const ElfW(Sym) *ds, *dv;

	if (!lc || !me || !dyn_open(lc, &mine->libc) || !dyn_open(me, &mine->self) ||
	    !(ds = dyn_find(&mine->libc, "dlsym")) || !(dv = dyn_find(&mine->libc, "dlvsym")) ||
	    ELF64_ST_TYPE(ds->st_info) != STT_FUNC || ELF64_ST_TYPE(dv->st_info) != STT_FUNC) {
		static const char m[] = "tlsshim: fatal: cannot find the C library's dlsym\n";
		die(m, sizeof m - 1);
	}
	mine->self_map = me;
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
	const struct link_map *cm = map_of(caller), *l;

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

#endif
