/* deepbind — loads a plug-in with RTLD_DEEPBIND, as PHP loads its
 * extensions (tests/preload/deepbind.sh).
 *
 *   deepbind SO now|lazy PORT LINE
 *	dlopen(SO, RTLD_NOW or RTLD_LAZY, | RTLD_DEEPBIND) (a name without
 *	a slash is found along this program's run path, $ORIGIN: the
 *	directory of the test programs), then plug_dial(PORT, LINE)
 *	(tests/progs/plugins/deep.c); prints its answer, or the dlopen
 *	error and exits 2.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	const char *(*dial)(int, const char *);
	void *h;

	if (argc != 5) {
		fprintf(stderr, "usage: deepbind SO now|lazy PORT LINE\n");
		return 2;
	}
	h = dlopen(argv[1], (strcmp(argv[2], "lazy") ? RTLD_NOW : RTLD_LAZY) | RTLD_DEEPBIND);
	if (!h) {
		const char *e = dlerror();

		printf("dlopen failed: %s\n", e ? e : "(no dlerror)");
		return 2;
	}
	*(void **)&dial = dlsym(h, "plug_dial");
	if (!dial) {
		printf("no plug_dial\n");
		return 2;
	}
	puts(dial(atoi(argv[3]), argv[4]));
	return 0;
}
