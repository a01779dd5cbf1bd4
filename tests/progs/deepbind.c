/* deepbind — loads a plug-in with RTLD_DEEPBIND, as PHP loads its
 * extensions (tests/preload/deepbind.sh).
 *
 *   deepbind SO now|lazy|newlm PORT LINE
 *	dlopen(SO, RTLD_NOW or RTLD_LAZY, | RTLD_DEEPBIND) (a name without
 *	a slash is found along this program's run path, $ORIGIN: the
 *	directory of the test programs, then $ORIGIN/deeplib), then
 *	plug_dial(PORT, LINE) (tests/progs/plugins/deep.c); prints its
 *	answer, or the dlopen error and exits 2.  The loaded object's path
 *	goes to stderr: "loaded: PATH".
 *	With newlm: dlmopen(LM_ID_NEWLM, SO, RTLD_NOW), a namespace of its
 *	own (and its own copy of the C library).
 *	DEEPBIND_FIRST=PATH: PATH is loaded first (RTLD_NOW, no deep).
 *	DEEPBIND_VIA=LIB: the dlopen is made by LIB's mid_open(SO, MODE)
 *	(tests/progs/plugins/deepload.c).
 *
 *   deepbind --race N SO...
 *	a thread for each SO (at most 8) loads it with RTLD_NOW|RTLD_DEEPBIND
 *	and unloads it, N times; prints "race ok" (exit 0), or the dlopen
 *	error (exit 2).
 */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int race_n;

static void *race(void *so)
{
	for (int i = 0; i < race_n; i++) {
		void *h = dlopen(so, RTLD_NOW | RTLD_DEEPBIND);

		if (!h) {
			printf("dlopen failed: %s\n", dlerror());
			exit(2);
		}
		dlclose(h);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *(*dial)(int, const char *);
	const char *first = getenv("DEEPBIND_FIRST"), *via = getenv("DEEPBIND_VIA");
	int mode;
	struct link_map *lm;
	void *h;

	if (argc > 3 && !strcmp(argv[1], "--race")) {
		pthread_t t[8];
		int n = argc - 3 < 8 ? argc - 3 : 8;

		race_n = atoi(argv[2]);
		for (int i = 0; i < n; i++)
			if (pthread_create(&t[i], NULL, race, argv[3 + i]) != 0)
				return 2;
		for (int i = 0; i < n; i++)
			pthread_join(t[i], NULL);
		puts("race ok");
		return 0;
	}
	if (argc != 5) {
		fprintf(stderr, "usage: deepbind SO now|lazy PORT LINE\n");
		return 2;
	}
	mode = (strcmp(argv[2], "lazy") ? RTLD_NOW : RTLD_LAZY) | RTLD_DEEPBIND;
	if (first && !dlopen(first, RTLD_NOW)) {
		printf("dlopen %s failed: %s\n", first, dlerror());
		return 2;
	}
	if (via) {
		void *v = dlopen(via, RTLD_NOW), *(*mid_open)(const char *, int);

		if (!v || !(*(void **)&mid_open = dlsym(v, "mid_open"))) {
			printf("%s: %s\n", via, dlerror());
			return 2;
		}
		h = mid_open(argv[1], mode);
	} else if (!strcmp(argv[2], "newlm")) {
		h = dlmopen(LM_ID_NEWLM, argv[1], RTLD_NOW);
	} else {
		h = dlopen(argv[1], mode);
	}
	if (!h) {
		const char *e = dlerror();

		printf("dlopen failed: %s\n", e ? e : "(no dlerror)");
		return 2;
	}
	if (dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0)
		fprintf(stderr, "loaded: %s\n", lm->l_name);
	*(void **)&dial = dlsym(h, "plug_dial");
	if (!dial) {
		printf("no plug_dial\n");
		return 2;
	}
	puts(dial(atoi(argv[3]), argv[4]));
	return 0;
}
