/* policy/inspect.h — can the preloaded library reach this program?
 *
 * The dynamic loader preloads libtlsshim.so only into a dynamically linked
 * program of the library's own ELF class and machine, and not at all in
 * secure-execution mode (set-user-ID, set-group-ID, file capabilities).
 * Any other program would run with plain sockets where the policy asks for
 * TLS, so the launcher refuses to start it (tlsshim(1), "Programs the
 * library cannot reach").  Only headers are read; nothing is executed.
 */
#ifndef TLSSHIM_POLICY_INSPECT_H
#define TLSSHIM_POLICY_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the dynamic loader compares: class (32/64), byte order, machine. */
struct elf_id {
	unsigned char cls;       /* ELFCLASS32 or ELFCLASS64 */
	unsigned char data;      /* ELFDATA2LSB or ELFDATA2MSB */
	uint16_t machine;        /* EM_* */
};

/* The ELF identity of a file (the library).  0, or -1 with a reason. */
int elf_identity(const char *path, struct elf_id *id, char *why, size_t len);

/* PROG as execvp(3) would find it: itself when it holds a slash, else the
 * first executable regular file of that name in $PATH (default: the
 * system's, confstr _CS_PATH).  NULL when there is none: then execvp
 * fails too and reports it.  Returned string malloc'd. */
char *resolve_program(const char *prog);

/* 0 when the library can be preloaded into the program at PATH (or when
 * the exec itself will fail: a missing file or interpreter); 1, with a
 * one-line reason in why, when it cannot; UNREACH_BARE, with a reason,
 * when the library must not be preloaded into it at all: a program that
 * makes its socket calls itself, past the C library (a Go program: the
 * library, once loaded, stops it), or one whose loader cannot load the
 * library (musl's).  tlsshim --force runs those without it.  A #! script is judged by its
 * interpreter, following up to 4 levels as the kernel does.  lib names
 * the library in reasons. */
#define UNREACH_BARE 2
int unreachable(const char *path, const struct elf_id *libid, const char *lib,
		char *why, size_t len);

/* The Go toolchain's marks on an object it linked (cmd/link): a build-ID
 * note (owner "Go", type 4) and the ".go.buildinfo" blob, which begins
 * with GO_BUILDINFO_MAGIC at the start of a writable segment.  Either
 * is enough; a build with -buildid= has no note.  Go's runtime makes
 * every system call of its net and os packages itself (cgo or not), so
 * no wrapper sees them.  elf_notes_go: true when the note area p[0..len)
 * (in the object's byte order: swap) holds Go's build-ID note. */
#define GO_BUILDINFO_MAGIC "\xff Go buildinf:"
#define GO_BUILDINFO_LEN 14
bool elf_notes_go(const unsigned char *p, size_t len, bool swap);

/* A third mark, for what the system linker linked (go build with
 * -linkmode=external, the default for a program with C code of its own,
 * and -buildmode=c-shared): the linker places .go.buildinfo after .data,
 * not at the start of the segment, and a build with -buildid= has no
 * note; but the runtime's cgo part exports GO_CGO_SYMBOL and
 * GO_CGO_SYMBOL2 (runtime/cgo: cgo_export_dynamic), as the library looks
 * for them in memory (shim/init.c). */
#define GO_CGO_SYMBOL "crosscall2"
#define GO_CGO_SYMBOL2 "_cgo_topofstack"

/* A fourth, for a Go archive (-buildmode=c-archive) that the system
 * linker linked into a C program: its .go.buildinfo section keeps its
 * name in the section headers (which are not mapped: the file is read).
 * elf_file_sections_go: 1 when the ELF file at path has that section, 0
 * when not (or it is not a readable ELF file), -1 when path cannot be
 * opened. */
#define GO_BUILDINFO_SECTION ".go.buildinfo"
int elf_file_sections_go(const char *path);
/* elf_file_go: 1 when the ELF file at path carries any of Go's marks
 * (note, .go.buildinfo at a segment's start, runtime/cgo's exports, the
 * section), 0 when not, -1 when path cannot be opened. */
int elf_file_go(const char *path);

/* An object's bytes by their link-time address (an ELF file, or one the
 * loader mapped): read copies [vaddr, vaddr + len) into buf, or says
 * false when that range is not the object's.  reloc: the load bias the
 * loader added to the dynamic section's addresses (0: none). */
struct elf_view {
	bool is64, swap;
	uint64_t reloc;
	bool (*read)(const struct elf_view *v, uint64_t vaddr, void *buf, size_t len);
	const void *ctx;
};

/* Does the object whose dynamic section is at [dyn, dyn + dynsz) define
 * (not import) the dynamic symbol name?  Looked up through its DT_GNU_HASH
 * or DT_HASH table, as the loader does; false when anything needed
 * cannot be read. */
bool elf_defines(const struct elf_view *v, uint64_t dyn, uint64_t dynsz, const char *name);

#endif
