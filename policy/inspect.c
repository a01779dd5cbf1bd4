/* policy/inspect.c — can the preloaded library reach this program?
 * (see inspect.h)
 *
 * What the dynamic loader needs in order to preload a library:
 *   - there is a dynamic loader: the program has a PT_INTERP header.  A
 *     static program, static-pie included, has none and starts at its own
 *     entry point; nothing is preloaded;
 *   - the library is of the program's ELF class, byte order and machine;
 *   - not secure-execution mode, in which the loader ignores LD_PRELOAD
 *     paths with a slash: a set-user-ID or set-group-ID program, or one
 *     with file capabilities.
 * A #! script is run by its interpreter, which is judged instead (the
 * kernel ignores set-user-ID bits on scripts).  The dynamic loader run as
 * a program (ld.so PROGRAM) has no PT_INTERP itself but preloads as usual.
 */
#include "policy/inspect.h"

#include <byteswap.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "policy/why.h"

#define HEAD_SIZE 256            /* what the kernel reads of a file: BINPRM_BUF_SIZE */
#define MAX_INTERP_DEPTH 4       /* #! levels the kernel follows */
#define MAX_PHNUM 4096

struct head {
	unsigned char buf[HEAD_SIZE];
	size_t len;
	struct stat st;
};

/* The first bytes of a regular file.  -1 with errno when it cannot be
 * opened; 1 when it is not a regular file.  O_NONBLOCK: a FIFO never
 * blocks us (execve refuses it anyway). */
static int read_head(const char *path, struct head *h, int *fdp)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	ssize_t n;

	if (fd < 0)
		return -1;
	if (fstat(fd, &h->st) != 0) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	if (!S_ISREG(h->st.st_mode)) {
		close(fd);
		return 1;
	}
	n = pread(fd, h->buf, sizeof(h->buf), 0);
	if (n < 0) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	h->len = (size_t)n;
	if (fdp)
		*fdp = fd;
	else
		close(fd);
	return 0;
}

static bool is_elf(const struct head *h)
{
	return h->len >= EI_NIDENT && memcmp(h->buf, ELFMAG, SELFMAG) == 0;
}

static bool host_lsb(void)
{
	const uint16_t one = 1;

	return *(const unsigned char *)&one == 1;
}

/* Little readers in the file's byte order. */
struct reader {
	bool swap;
	bool is64;
};

static uint16_t rd16(const struct reader *r, const unsigned char *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return r->swap ? bswap_16(v) : v;
}

static uint32_t rd32(const struct reader *r, const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return r->swap ? bswap_32(v) : v;
}

static uint64_t rd64(const struct reader *r, const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return r->swap ? bswap_64(v) : v;
}

/* Class, byte order and machine of an ELF head; false when not ELF or
 * of an unknown class or byte order. */
static bool head_id(const struct head *h, struct elf_id *id, struct reader *r)
{
	if (!is_elf(h))
		return false;
	id->cls = h->buf[EI_CLASS];
	id->data = h->buf[EI_DATA];
	if ((id->cls != ELFCLASS32 && id->cls != ELFCLASS64) ||
	    (id->data != ELFDATA2LSB && id->data != ELFDATA2MSB) ||
	    h->len < (id->cls == ELFCLASS64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr)))
		return false;
	r->is64 = id->cls == ELFCLASS64;
	r->swap = (id->data == ELFDATA2LSB) != host_lsb();
	id->machine = rd16(r, h->buf + offsetof(Elf64_Ehdr, e_machine)); /* same offset in both */
	return true;
}

int elf_identity(const char *path, struct elf_id *id, char *why, size_t len)
{
	struct head h;
	struct reader r;
	int rc = read_head(path, &h, NULL);

	if (rc < 0) {
		policy_why(why, len, "%s", strerror(errno));
		return -1;
	}
	if (rc > 0 || !head_id(&h, id, &r)) {
		policy_why(why, len, "not an ELF file");
		return -1;
	}
	return 0;
}

static const char *machine_name(uint16_t m, char *buf, size_t len)
{
	switch (m) {
	case EM_386: return "i386";
	case EM_X86_64: return "x86-64";
	case EM_AARCH64: return "AArch64";
	case EM_ARM: return "ARM";
	case EM_RISCV: return "RISC-V";
	case EM_PPC: return "PowerPC";
	case EM_PPC64: return "PowerPC64";
	case EM_S390: return "S/390";
	case EM_MIPS: return "MIPS";
	case EM_SPARCV9: return "SPARC V9";
	case EM_LOONGARCH: return "LoongArch";
	default:
		snprintf(buf, len, "machine %u", m);
		return buf;
	}
}

static void describe(const struct elf_id *id, char *buf, size_t len)
{
	char mb[32];

	snprintf(buf, len, "%s-bit%s ELF for %s", id->cls == ELFCLASS64 ? "64" : "32",
		 id->data == ELFDATA2MSB ? " big-endian" : "", machine_name(id->machine, mb, sizeof(mb)));
}

struct phdrs {
	bool has_interp;
	bool has_dynamic;
	bool go;                 /* linked by Go's toolchain (elf_go_marks) */
	char interp[PATH_MAX];   /* when has_interp and readable */
};

bool elf_notes_go(const unsigned char *p, size_t len, bool swap)
{
	size_t off = 0;

	/* Elf32_Nhdr and Elf64_Nhdr are the same three 4-byte words. */
	while (len - off >= 12) {
		uint32_t nsz, dsz, type;
		size_t nsz4, dsz4;

		memcpy(&nsz, p + off, 4);
		memcpy(&dsz, p + off + 4, 4);
		memcpy(&type, p + off + 8, 4);
		if (swap) {
			nsz = bswap_32(nsz);
			dsz = bswap_32(dsz);
			type = bswap_32(type);
		}
		off += 12;
		nsz4 = ((size_t)nsz + 3) & ~(size_t)3;
		dsz4 = ((size_t)dsz + 3) & ~(size_t)3;
		if (nsz4 > len - off)
			return false;
		/* cmd/link writes the name "Go\0\0" with its padding counted
		 * (namesz 4); "Go\0" (3) is the ELF spec's form. */
		if (type == 4 && (nsz == 3 || nsz == 4) && !memcmp(p + off, "Go", 3))
			return true;
		off += nsz4;
		if (dsz4 > len - off)
			return false;
		off += dsz4;
	}
	return false;
}

#define MAX_DYN_ENTRIES 1024     /* more than any linker writes */
#define MAX_CHAIN 65536

static uint64_t view_word(const struct reader *r, const unsigned char *p)
{
	return r->is64 ? rd64(r, p) : rd32(r, p);
}

static bool view_u32(const struct elf_view *v, const struct reader *r, uint64_t a, uint32_t *out)
{
	unsigned char b[4];

	if (!v->read(v, a, b, 4))
		return false;
	*out = rd32(r, b);
	return true;
}

/* Symbol idx of symtab: defined, and named name (len bytes and a NUL)? */
static bool sym_is(const struct elf_view *v, const struct reader *r, uint64_t symtab, uint64_t strtab,
		   uint64_t strsz, uint32_t idx, const char *name, size_t len)
{
	unsigned char s[sizeof(Elf64_Sym)], nm[64];
	size_t ssz = r->is64 ? sizeof(Elf64_Sym) : sizeof(Elf32_Sym);
	uint32_t st_name;
	uint16_t shndx;

	if (len + 1 > sizeof nm || !v->read(v, symtab + (uint64_t)idx * ssz, s, ssz))
		return false;
	st_name = rd32(r, s);           /* first in both */
	shndx = rd16(r, s + (r->is64 ? offsetof(Elf64_Sym, st_shndx) : offsetof(Elf32_Sym, st_shndx)));
	if (shndx == SHN_UNDEF || st_name >= strsz || strsz - st_name < len + 1 ||
	    !v->read(v, strtab + st_name, nm, len + 1))
		return false;
	return !memcmp(nm, name, len + 1);
}

bool elf_defines(const struct elf_view *v, uint64_t dyn, uint64_t dynsz, const char *name)
{
	const struct reader r = { .swap = v->swap, .is64 = v->is64 };
	const size_t esz = v->is64 ? 16 : 8, wsz = v->is64 ? 8 : 4, len = strlen(name);
	uint64_t strtab = 0, symtab = 0, strsz = 0, gnu = 0, sysv = 0;
	unsigned char chunk[32 * 16];
	uint64_t got = 0;

	dynsz = dynsz < MAX_DYN_ENTRIES * esz ? dynsz - dynsz % esz : MAX_DYN_ENTRIES * esz;
	for (uint64_t o = 0; o < dynsz; o += esz) {
		const unsigned char *e;
		uint64_t tag, val;

		if (o == got) {         /* the next entries, a chunk at a time */
			size_t n = dynsz - o < sizeof chunk ? (size_t)(dynsz - o) : sizeof chunk;

			if (!v->read(v, dyn + o, chunk, n))
				return false;
			got = o + n;
		}
		e = chunk + (o % sizeof chunk);
		tag = view_word(&r, e);
		val = view_word(&r, e + wsz);
		if (tag == DT_NULL)
			break;
		if (tag != DT_STRSZ && v->reloc && val >= v->reloc)
			val -= v->reloc;
		switch (tag) {
		case DT_STRTAB: strtab = val; break;
		case DT_SYMTAB: symtab = val; break;
		case DT_STRSZ: strsz = val; break;
		case DT_GNU_HASH: gnu = val; break;
		case DT_HASH: sysv = val; break;
		default: break;
		}
		if (strtab && symtab && strsz && gnu)
			break;          /* all that is used */
	}
	if (!strtab || !symtab || !strsz)
		return false;
	if (gnu) {
		uint32_t h = 5381, hdr[4], idx, c;
		uint64_t buckets, chain;

		for (const unsigned char *p = (const unsigned char *)name; *p; p++)
			h = h * 33 + *p;
		for (int i = 0; i < 4; i++)
			if (!view_u32(v, &r, gnu + 4 * (uint64_t)i, &hdr[i]))
				return false;
		if (!hdr[0])
			return false;
		buckets = gnu + 16 + (uint64_t)hdr[2] * wsz;
		chain = buckets + 4 * (uint64_t)hdr[0];
		if (!view_u32(v, &r, buckets + 4 * (uint64_t)(h % hdr[0]), &idx) || idx < hdr[1])
			return false;
		for (int n = 0; n < MAX_CHAIN; n++, idx++) {
			if (!view_u32(v, &r, chain + 4 * (uint64_t)(idx - hdr[1]), &c))
				return false;
			if ((c | 1) == (h | 1) && sym_is(v, &r, symtab, strtab, strsz, idx, name, len))
				return true;
			if (c & 1)
				return false;
		}
		return false;
	}
	if (sysv) {
		uint32_t h = 0, nbucket, nchain, idx;

		for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
			h = (h << 4) + *p;
			h = (h ^ ((h & 0xf0000000u) >> 24)) & 0x0fffffffu;
		}
		if (!view_u32(v, &r, sysv, &nbucket) || !view_u32(v, &r, sysv + 4, &nchain) || !nbucket ||
		    !view_u32(v, &r, sysv + 8 + 4 * (uint64_t)(h % nbucket), &idx))
			return false;
		for (uint32_t n = 0; idx && idx < nchain && n < nchain && n < MAX_CHAIN; n++) {
			if (sym_is(v, &r, symtab, strtab, strsz, idx, name, len))
				return true;
			if (!view_u32(v, &r, sysv + 8 + 4 * ((uint64_t)nbucket + idx), &idx))
				return false;
		}
	}
	return false;
}

#define MAX_NOTE_READ 4096

/* Does this segment carry one of Go's marks?  A note segment: its notes
 * (the first 4 KiB); a writable, not executable, load segment: its first
 * bytes. */
static bool segment_go(int fd, const struct reader *r, uint32_t type, uint32_t flags,
		       uint64_t off, uint64_t filesz)
{
	unsigned char buf[MAX_NOTE_READ];
	size_t n;

	if (type == PT_NOTE) {
		n = filesz < sizeof buf ? (size_t)filesz : sizeof buf;
		return n >= 12 && pread(fd, buf, n, (off_t)off) == (ssize_t)n && elf_notes_go(buf, n, r->swap);
	}
	if (type == PT_LOAD && (flags & (PF_W | PF_X)) == PF_W && filesz >= GO_BUILDINFO_LEN)
		return pread(fd, buf, GO_BUILDINFO_LEN, (off_t)off) == GO_BUILDINFO_LEN &&
		       !memcmp(buf, GO_BUILDINFO_MAGIC, GO_BUILDINFO_LEN);
	return false;
}

/* Where the ELF header puts its program headers (sections false) or its
 * section headers: the table's offset, entry size and count. */
static void ehdr_table(const struct head *h, const struct reader *r, bool sections, uint64_t *off,
		       uint16_t *entsize, uint16_t *num)
{
	const unsigned char *e = h->buf;

	if (r->is64) {
		*off = rd64(r, e + (sections ? offsetof(Elf64_Ehdr, e_shoff) : offsetof(Elf64_Ehdr, e_phoff)));
		*entsize = rd16(r, e + (sections ? offsetof(Elf64_Ehdr, e_shentsize) : offsetof(Elf64_Ehdr, e_phentsize)));
		*num = rd16(r, e + (sections ? offsetof(Elf64_Ehdr, e_shnum) : offsetof(Elf64_Ehdr, e_phnum)));
	} else {
		*off = rd32(r, e + (sections ? offsetof(Elf32_Ehdr, e_shoff) : offsetof(Elf32_Ehdr, e_phoff)));
		*entsize = rd16(r, e + (sections ? offsetof(Elf32_Ehdr, e_shentsize) : offsetof(Elf32_Ehdr, e_phentsize)));
		*num = rd16(r, e + (sections ? offsetof(Elf32_Ehdr, e_shnum) : offsetof(Elf32_Ehdr, e_phnum)));
	}
}

#define MAX_SHNUM 4096
#define MAX_SHSTRTAB (64 * 1024)

/* Does the file have a section named GO_BUILDINFO_SECTION?  Section
 * headers are not mapped, so this is read from the file: the one mark a Go
 * archive linked into a C program by the system linker keeps when it was
 * built with -buildid= (no note, no dynamic symbols, its .go.buildinfo
 * somewhere in the program's data); strip(1) keeps section headers.
 * False when there are none or they cannot be read. */
static bool sections_go(int fd, const struct head *h, const struct reader *r)
{
	static const char want[] = GO_BUILDINFO_SECTION;
	const size_t shsz = r->is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
	const size_t o_off = r->is64 ? offsetof(Elf64_Shdr, sh_offset) : offsetof(Elf32_Shdr, sh_offset);
	const size_t o_size = r->is64 ? offsetof(Elf64_Shdr, sh_size) : offsetof(Elf32_Shdr, sh_size);
	const size_t o_link = r->is64 ? offsetof(Elf64_Shdr, sh_link) : offsetof(Elf32_Shdr, sh_link);
	uint64_t shoff, stroff, strsz, num;
	uint32_t strndx;
	uint16_t shentsize, num16;
	unsigned char *tab = NULL, *str = NULL;
	bool found = false;

	ehdr_table(h, r, true, &shoff, &shentsize, &num16);
	num = num16;
	strndx = rd16(r, h->buf + (r->is64 ? offsetof(Elf64_Ehdr, e_shstrndx) : offsetof(Elf32_Ehdr, e_shstrndx)));
	if (!shoff || shoff > (uint64_t)1 << 40 || shentsize < shsz || shentsize > 4 * shsz)
		return false;
	if (num == 0 || strndx == SHN_XINDEX) {
		/* More sections than e_shnum holds: the counts are in the
		 * first section header. */
		unsigned char s0[sizeof(Elf64_Shdr)];

		if (pread(fd, s0, shsz, (off_t)shoff) != (ssize_t)shsz)
			return false;
		if (num == 0)
			num = r->is64 ? rd64(r, s0 + o_size) : rd32(r, s0 + o_size);
		if (strndx == SHN_XINDEX)
			strndx = rd32(r, s0 + o_link);
	}
	if (num == 0 || num > MAX_SHNUM || strndx == SHN_UNDEF || strndx >= num ||
	    !(tab = malloc((size_t)num * shentsize)))
		return false;
	if (pread(fd, tab, (size_t)num * shentsize, (off_t)shoff) != (ssize_t)(num * shentsize))
		goto out;
	stroff = r->is64 ? rd64(r, tab + strndx * shentsize + o_off) : rd32(r, tab + strndx * shentsize + o_off);
	strsz = r->is64 ? rd64(r, tab + strndx * shentsize + o_size) : rd32(r, tab + strndx * shentsize + o_size);
	if (strsz < sizeof want || strsz > MAX_SHSTRTAB || stroff > (uint64_t)1 << 40 || !(str = malloc(strsz)) ||
	    pread(fd, str, strsz, (off_t)stroff) != (ssize_t)strsz)
		goto out;
	for (uint64_t i = 1; i < num && !found; i++) {
		uint32_t name = rd32(r, tab + i * shentsize);    /* sh_name: first in both */

		found = name <= strsz - sizeof want && !memcmp(str + name, want, sizeof want);
	}
out:
	free(str);
	free(tab);
	return found;
}

int elf_file_sections_go(const char *path)
{
	struct head h;
	struct reader r;
	struct elf_id id;
	int fd = -1, rc = read_head(path, &h, &fd);
	bool go;

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	go = head_id(&h, &id, &r) && sections_go(fd, &h, &r);
	close(fd);
	return go;
}

/* An ELF file read through its PT_LOAD headers (struct elf_view). */
struct file_view {
	int fd;
	const unsigned char *tab;       /* the program headers */
	size_t phnum, phentsize;
	const struct reader *r;
};

static bool file_read(const struct elf_view *v, uint64_t vaddr, void *buf, size_t len)
{
	const struct file_view *f = v->ctx;

	for (size_t i = 0; i < f->phnum; i++) {
		const unsigned char *p = f->tab + i * f->phentsize;
		uint64_t pv, off, filesz;

		if (rd32(f->r, p) != PT_LOAD)
			continue;
		if (f->r->is64) {
			pv = rd64(f->r, p + offsetof(Elf64_Phdr, p_vaddr));
			off = rd64(f->r, p + offsetof(Elf64_Phdr, p_offset));
			filesz = rd64(f->r, p + offsetof(Elf64_Phdr, p_filesz));
		} else {
			pv = rd32(f->r, p + offsetof(Elf32_Phdr, p_vaddr));
			off = rd32(f->r, p + offsetof(Elf32_Phdr, p_offset));
			filesz = rd32(f->r, p + offsetof(Elf32_Phdr, p_filesz));
		}
		if (vaddr >= pv && vaddr - pv <= filesz && filesz - (vaddr - pv) >= len)
			return off + (vaddr - pv) < (uint64_t)1 << 40 &&
			       pread(f->fd, buf, len, (off_t)(off + (vaddr - pv))) == (ssize_t)len;
	}
	return false;
}

/* The program headers: PT_INTERP (and its path), PT_DYNAMIC, Go's
 * marks.  -1 when they cannot be read. */
static int read_phdrs(int fd, const struct head *h, const struct reader *r, struct phdrs *out)
{
	uint64_t dyn = 0, dynsz = 0;
	uint64_t phoff;
	uint16_t phentsize, phnum;
	unsigned char *tab;
	size_t size, i;
	ssize_t n;

	memset(out, 0, sizeof(*out));
	ehdr_table(h, r, false, &phoff, &phentsize, &phnum);
	if (phnum == 0 || phnum > MAX_PHNUM ||
	    phentsize < (r->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr)) || phoff > (uint64_t)1 << 40)
		return -1;
	size = (size_t)phnum * phentsize;
	if (!(tab = malloc(size)))
		return -1;
	n = pread(fd, tab, size, (off_t)phoff);
	if (n < 0 || (size_t)n != size) {
		free(tab);
		return -1;
	}
	for (i = 0; i < phnum; i++) {
		const unsigned char *p = tab + i * phentsize;
		uint32_t type = rd32(r, p), flags;
		uint64_t off, filesz;

		if (r->is64) {
			off = rd64(r, p + offsetof(Elf64_Phdr, p_offset));
			filesz = rd64(r, p + offsetof(Elf64_Phdr, p_filesz));
			flags = rd32(r, p + offsetof(Elf64_Phdr, p_flags));
		} else {
			off = rd32(r, p + offsetof(Elf32_Phdr, p_offset));
			filesz = rd32(r, p + offsetof(Elf32_Phdr, p_filesz));
			flags = rd32(r, p + offsetof(Elf32_Phdr, p_flags));
		}
		if (type == PT_DYNAMIC && !out->has_dynamic) {
			out->has_dynamic = true;
			dyn = r->is64 ? rd64(r, p + offsetof(Elf64_Phdr, p_vaddr))
				      : rd32(r, p + offsetof(Elf32_Phdr, p_vaddr));
			dynsz = filesz;
		}
		if (!out->go && segment_go(fd, r, type, flags, off, filesz))
			out->go = true;
		if (type != PT_INTERP || out->has_interp)
			continue;
		out->has_interp = true;
		if (filesz > 0 && filesz < sizeof(out->interp) &&
		    pread(fd, out->interp, (size_t)filesz, (off_t)off) == (ssize_t)filesz)
			out->interp[filesz] = '\0';
		else
			out->interp[0] = '\0';
	}
	if (!out->go && out->has_dynamic) {
		const struct file_view f = { .fd = fd, .tab = tab, .phnum = phnum, .phentsize = phentsize, .r = r };
		const struct elf_view v = { .is64 = r->is64, .swap = r->swap, .read = file_read, .ctx = &f };

		out->go = elf_defines(&v, dyn, dynsz, GO_CGO_SYMBOL) && elf_defines(&v, dyn, dynsz, GO_CGO_SYMBOL2);
	}
	free(tab);
	return 0;
}

int elf_file_go(const char *path)
{
	struct head h;
	struct reader r;
	struct elf_id id;
	struct phdrs ph;
	int fd = -1, rc = read_head(path, &h, &fd);
	bool go = false;

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (head_id(&h, &id, &r) && read_phdrs(fd, &h, &r, &ph) == 0)
		go = ph.go || sections_go(fd, &h, &r);
	close(fd);
	return go;
}

/* Is st the dynamic loader this launcher itself runs with?  Then the
 * program is "ld.so PROGRAM", which preloads like any dynamic program. */
static bool is_our_loader(const struct stat *st)
{
	struct head h;
	struct reader r;
	struct elf_id id;
	struct phdrs ph;
	struct stat ls;
	int fd = -1;
	bool same = false;

	if (read_head("/proc/self/exe", &h, &fd) != 0)
		return false;
	if (head_id(&h, &id, &r) && read_phdrs(fd, &h, &r, &ph) == 0 && ph.has_interp &&
	    ph.interp[0] && stat(ph.interp, &ls) == 0)
		same = ls.st_dev == st->st_dev && ls.st_ino == st->st_ino;
	close(fd);
	return same;
}

/* The interpreter of a #! line: 1 and its path in out, 0 when there is
 * none (an empty #! line). */
static int shebang(const struct head *h, char *out, size_t len)
{
	size_t i = 2, start, n;

	while (i < h->len && (h->buf[i] == ' ' || h->buf[i] == '\t'))
		i++;
	start = i;
	while (i < h->len && h->buf[i] != ' ' && h->buf[i] != '\t' && h->buf[i] != '\n' && h->buf[i] != '\0')
		i++;
	n = i - start;
	if (n == 0 || n >= len)
		return 0;
	memcpy(out, h->buf + start, n);
	out[n] = '\0';
	return 1;
}

/* One ELF file: 0 (reachable, or the exec will fail by itself) or 1 and
 * a reason. */
static int judge_elf(const char *path, int fd, const struct head *h, const struct elf_id *libid,
		     const char *lib, char *why, size_t len)
{
	struct elf_id id;
	struct reader r;
	struct phdrs ph;
	uint16_t type;
	char a[80], b[80];
	bool suid, sgid;

	if (!head_id(h, &id, &r)) {
		policy_why(why, len, "an ELF file of unknown class or byte order: cannot tell whether %s can be preloaded", lib);
		return 1;
	}
	if (id.cls != libid->cls || id.data != libid->data || id.machine != libid->machine) {
		describe(&id, a, sizeof(a));
		describe(libid, b, sizeof(b));
		policy_why(why, len, "a %s, and %s is a %s: the dynamic loader cannot preload it", a, lib, b);
		return 1;
	}
	type = rd16(&r, h->buf + offsetof(Elf64_Ehdr, e_type));
	if (type != ET_EXEC && type != ET_DYN) {
		policy_why(why, len, "an ELF file that is not a program (type %u)", type);
		return 1;
	}
	if (read_phdrs(fd, h, &r, &ph) != 0) {
		policy_why(why, len, "its ELF program headers cannot be read: cannot tell whether %s can be preloaded", lib);
		return 1;
	}
	if (!ph.go)
		ph.go = sections_go(fd, h, &r);
	if (!ph.has_interp && !is_our_loader(&h->st)) {
		policy_why(why, len, "statically linked%s: no dynamic loader runs in it to preload %s",
		    type == ET_DYN ? " (static-pie)" : "", lib);
		return 1;
	}
	if (ph.has_interp && strstr(ph.interp, "/ld-musl-")) {
		policy_why(why, len, "a program of musl's C library: its loader %s cannot load %s, which is built"
		    " for the GNU C library", ph.interp, lib);
		return UNREACH_BARE;
	}
	suid = (h->st.st_mode & S_ISUID) != 0;
	sgid = (h->st.st_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP);
	if (suid || sgid) {
		policy_why(why, len, "%s: the dynamic loader ignores LD_PRELOAD for it (secure-execution mode)",
		    suid && sgid ? "set-user-ID and set-group-ID" : suid ? "set-user-ID" : "set-group-ID");
		return 1;
	}
	if (getxattr(path, "security.capability", NULL, 0) > 0) {
		policy_why(why, len, "it has file capabilities: the dynamic loader ignores LD_PRELOAD for it"
		    " (secure-execution mode)");
		return 1;
	}
	if (ph.go) {
		policy_why(why, len, "a Go program: its runtime makes its system calls itself, never through the"
		    " C library, so %s cannot see its sockets", lib);
		return UNREACH_BARE;
	}
	return 0;
}

int unreachable(const char *path, const struct elf_id *libid, const char *lib,
		char *why, size_t len)
{
	char cur[PATH_MAX], interp[PATH_MAX], sub[768];
	int depth, rc = 0;
	bool too_deep;

	snprintf(cur, sizeof(cur), "%s", path);
	for (depth = 0; depth <= MAX_INTERP_DEPTH; depth++) {
		struct head h;
		int fd = -1, r = read_head(cur, &h, &fd);

		if (r < 0 && errno == EACCES) {
			policy_why(sub, sizeof(sub), "it cannot be read to check it (%s)", strerror(EACCES));
			rc = 1;
			break;
		}
		if (r != 0)
			return 0;           /* missing or not a file: execve fails by itself */
		if (is_elf(&h)) {
			rc = judge_elf(cur, fd, &h, libid, lib, sub, sizeof(sub));
			close(fd);
			break;
		}
		close(fd);
		if (h.len < 2 || h.buf[0] != '#' || h.buf[1] != '!') {
			policy_why(sub, sizeof(sub), "neither an ELF program nor a #! script:"
			    " cannot tell whether %s can be preloaded", lib);
			rc = 1;
			break;
		}
		if (!shebang(&h, interp, sizeof(interp))) {
			policy_why(sub, sizeof(sub), "a #! script without an interpreter");
			rc = 1;
			break;
		}
		memcpy(cur, interp, sizeof(cur));
	}
	if ((too_deep = depth > MAX_INTERP_DEPTH)) {
		policy_why(sub, sizeof(sub), "more than %d levels of #! interpreters", MAX_INTERP_DEPTH);
		rc = 1;
	}
	if (!rc)
		return 0;
	if (depth == 0 || too_deep)
		policy_why(why, len, "%s", sub);
	else
		policy_why(why, len, "#! interpreter %s: %s", cur, sub);
	return rc;
}

char *resolve_program(const char *prog)
{
	const char *path = getenv("PATH");
	char *defpath = NULL, *out = NULL;
	const char *p;

	if (!*prog)
		return NULL;
	if (strchr(prog, '/'))
		return strdup(prog);
	if (!path) {
		size_t n = confstr(_CS_PATH, NULL, 0);

		if (n && (defpath = malloc(n)))
			confstr(_CS_PATH, defpath, n);
		path = defpath ? defpath : "/bin:/usr/bin";
	}
	for (p = path; !out; p++) {
		size_t dl = strcspn(p, ":");
		struct stat st;
		char *cand;

		/* An empty entry is the current directory, as for execvp. */
		if (asprintf(&cand, "%.*s%s%s", (int)dl, p, dl ? "/" : "", prog) < 0)
			break;
		if (access(cand, X_OK) == 0 && stat(cand, &st) == 0 && S_ISREG(st.st_mode))
			out = cand;
		else
			free(cand);
		p += dl;
		if (!*p)
			break;
	}
	free(defpath);
	return out;
}
