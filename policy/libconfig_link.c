/* policy/libconfig_link.c — what the statically linked libconfig needs.
 *
 * libconfig is linked into libtlsshim.so (and the launcher) from Debian's
 * libconfig.a with its symbols hidden, so that its calls, ours and its
 * own internal ones, bind inside the library and never to a function of
 * the same name that the program exports (lighttpd has config_init and
 * config_read).  See "Private dependencies" in docs/design.md.
 *
 * Debian's libconfig.a is compiled as position-independent *executable*
 * code: it reads the C library's stdin, stdout and stderr variables
 * PC-relative, which a shared object cannot do for a variable of another
 * object.  The Makefile renames these three references in a copy of the
 * archive (objcopy --redefine-sym) to the hidden variables below, set
 * from the C library's before any constructor of ours runs.  The flex
 * scanner inside libconfig uses them only as defaults (its input is
 * always the policy file) and for its fatal-error message.
 *
 * Its fopen() is renamed the same way, to tlsshim_libconfig_fopen() below,
 * so that the files a policy @includes are opened as carefully as the
 * policy file itself: regular files only, never blocking on a FIFO.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/file.h"
#include "policy/libconfig_link.h"

FILE *tlsshim_libconfig_stdin;
FILE *tlsshim_libconfig_stdout;
FILE *tlsshim_libconfig_stderr;

__attribute__((constructor(101))) static void libconfig_stdio(void)
{
	tlsshim_libconfig_stdin = stdin;
	tlsshim_libconfig_stdout = stdout;
	tlsshim_libconfig_stderr = stderr;
}

/* Where the files libconfig cannot open in this thread are told. */
static __thread struct libconfig_failure *failed __attribute__((tls_model("initial-exec")));

/* Debian 12's libconfig 1.5 reads an integer without the L suffix with
 * atoi(): 4294967739 becomes 443, silently.  Every integer literal of a
 * file is looked at first (strings and comments skipped): one that does
 * not fit in 32 bits is an error.  With L it is read whole (int64), and
 * the key's own range check says what is wrong. */
bool libconfig_ints_fit(FILE *f, int *line, char *lit, size_t litlen)
{
	int c, prev = ' ', prev2 = ' ', ln = 1;
	bool ok = true;

	while (ok && (c = getc_unlocked(f)) != EOF) {
		if (c == '\n') {
			ln++;
		} else if (c == '"') {                   /* a string */
			while ((c = getc_unlocked(f)) != EOF && c != '"') {
				if (c == '\\')
					c = getc_unlocked(f);
				if (c == '\n')
					ln++;
			}
		} else if (c == '#' || (c == '/' && prev == '/')) {
			while ((c = getc_unlocked(f)) != EOF && c != '\n')
				;
			ln++;
			c = '\n';
		} else if (c == '*' && prev == '/') {    /* a block comment */
			int p = 0;
			while ((c = getc_unlocked(f)) != EOF && !(p == '*' && c == '/')) {
				if (c == '\n')
					ln++;
				p = c;
			}
			c = ' ';
		} else if (isdigit(c) && !(isalnum(prev) || prev == '_' || prev == '*' || prev == '.' ||
					   (prev == '-' && (isalnum(prev2) || prev2 == '_' || prev2 == '*')))) {
			char tok[64];
			size_t n = 0;
			unsigned long long v;
			bool hex, flt;

			do {
				if (n < sizeof tok - 1)
					tok[n++] = (char)c;
				c = getc_unlocked(f);
			} while (c != EOF && (isalnum(c) || c == '.' ||
					      ((c == '+' || c == '-') && (tok[n - 1] == 'e' || tok[n - 1] == 'E'))));
			tok[n] = '\0';
			if (c != EOF)
				ungetc(c, f);
			hex = n > 1 && tok[0] == '0' && (tok[1] == 'x' || tok[1] == 'X');
			flt = !hex && strpbrk(tok, ".eE");
			if (!flt && !strchr(tok, 'L')) {
				errno = 0;
				v = strtoull(tok, NULL, hex ? 16 : 10);
				/* A sign before it: -2147483648 still fits. */
				if (errno == ERANGE || v > (prev == '-' ? (unsigned long long)INT32_MAX + 1 : INT32_MAX)) {
					*line = ln;
					snprintf(lit, litlen, "%s%s", prev == '-' ? "-" : "", tok);
					ok = false;
				}
			}
			c = tok[n - 1];
		}
		prev2 = prev;
		prev = c;
	}
	rewind(f);
	return ok;
}

/* libconfig's fopen() (renamed the same way): it opens the policy's
 * @include files, and only regular ones, never blocking (policy/file.h),
 * whose integers all fit (libconfig_ints_fit).  It never writes a file
 * for us. */
FILE *tlsshim_libconfig_fopen(const char *path, const char *mode);
FILE *tlsshim_libconfig_fopen(const char *path, const char *mode)
{
	const char *why = NULL;
	FILE *f;

	if (!path || !mode || mode[0] != 'r' || strchr(mode, '+')) {
		errno = EINVAL;
		return NULL;
	}
	if ((f = policy_fopen_regular(path, &why))) {
		char lit[64];
		int ln;

		if (libconfig_ints_fit(f, &ln, lit, sizeof lit))
			return f;
		fclose(f);
		f = NULL;
		why = NULL;
		if (failed) {
			snprintf(failed->text, sizeof failed->text, "integer %s on line %d does not fit in 32 bits",
				 lit, ln);
			why = failed->text;
		}
		errno = ERANGE;
	}
	if (failed) {
		int err = errno;

		snprintf(failed->path, sizeof failed->path, "%s", path);
		failed->why = why;
		errno = err;
	}
	return f;
}

void libconfig_open_failures(struct libconfig_failure *f)
{
	if (f) {
		f->path[0] = '\0';
		f->why = NULL;
	}
	failed = f;
}
