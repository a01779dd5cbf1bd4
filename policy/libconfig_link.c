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
#include <errno.h>
#include <stdio.h>
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

/* The last file libconfig could not open in this thread, and why. */
static __thread char failed_path[512];
static __thread const char *failed_why;

/* libconfig's fopen() (renamed the same way): it opens the policy's
 * @include files, and only regular ones, never blocking (policy/file.h).
 * It never writes a file for us. */
FILE *tlsshim_libconfig_fopen(const char *path, const char *mode);
FILE *tlsshim_libconfig_fopen(const char *path, const char *mode)
{
	const char *why = NULL;
	FILE *f;

	if (!path || !mode || mode[0] != 'r' || strchr(mode, '+')) {
		errno = EINVAL;
		return NULL;
	}
	if (!(f = policy_fopen_regular(path, &why))) {
		int err = errno;

		snprintf(failed_path, sizeof(failed_path), "%s", path);
		failed_why = why;
		errno = err;
	}
	return f;
}

void libconfig_open_failure_reset(void)
{
	failed_path[0] = '\0';
	failed_why = NULL;
}

bool libconfig_open_failure(const char **path, const char **why)
{
	if (!failed_path[0])
		return false;
	*path = failed_path;
	*why = failed_why ? failed_why : "cannot open";
	return true;
}
