/* fc_ctor — the main program of class 6: a program linked against a
 * shared library whose constructor connects to a TLS-ruled destination
 * and writes before main() (and before the preloaded library's own
 * constructor: the dynamic loader runs the constructors of the program's
 * libraries, loaded after the preloaded one, first).
 *
 *   fc_ctor
 *
 * The library (built by tests/preload/failclosed_entry.sh) exports
 * fc_ctor_result(); found here with dlsym, so this file also links alone
 * (then it says "no constructor library").  Prints the constructor's
 * report and exits 0 when it says "echo ok".
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
	const char *(*result)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "fc_ctor_result");
	const char *r;

	if (!result) {
		printf("no constructor library\n");
		return 2;
	}
	r = result();
	printf("constructor: %s\n", r);
	return strncmp(r, "echo ok", 7) ? 1 : 0;
}
