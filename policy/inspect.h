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
 * one-line reason in why, when it cannot.  A #! script is judged by its
 * interpreter, following up to 4 levels as the kernel does.  lib names
 * the library in reasons. */
int unreachable(const char *path, const struct elf_id *libid, const char *lib,
		char *why, size_t len);

#endif
