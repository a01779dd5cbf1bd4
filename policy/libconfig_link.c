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
 */
#include <stdio.h>

FILE *tlsshim_libconfig_stdin;
FILE *tlsshim_libconfig_stdout;
FILE *tlsshim_libconfig_stderr;

__attribute__((constructor(101))) static void libconfig_stdio(void)
{
	tlsshim_libconfig_stdin = stdin;
	tlsshim_libconfig_stdout = stdout;
	tlsshim_libconfig_stderr = stderr;
}
