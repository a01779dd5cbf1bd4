/* dns_tcp MODE ADDR PORT [NAME]: one DNS query for NAME (default
 * secret-name.test) type A, over TCP (RES_USEVC), to the one name server
 * ADDR:PORT the program sets itself, with glibc's resolver
 * (tests/preload/dns_tcp.sh).  MODE: query, search, querydomain, send
 * (the thread's _res), nquery, nsearch, nquerydomain, nsend (a state of
 * its own from res_ninit), compat_query (the __res_query@GLIBC_2.2.5 that
 * programs linked before glibc 2.34 call), gai (getaddrinfo) and ghbn
 * (gethostbyname), which use the thread's _res too, as do gni
 * (getnameinfo of 192.0.2.1, NI_NAMEREQD), ghba and ghba_r
 * (gethostbyaddr, gethostbyaddr_r of 192.0.2.1: a PTR query) and rcmd
 * (rcmd_af's own look-up of NAME), gnbn and gnba (getnetbyname of NAME,
 * getnetbyaddr of 192.0.2: with "networks: files dns" in nsswitch.conf)
 * and ruserok (its look-up of NAME), dlquery (res_query taken with
 * dlsym from a dlopen handle of libresolv.so.2), compat_ghbn
 * (res_gethostbyname@GLIBC_2.2.5 of libresolv.so.2), hostid (gethostid: the C library
 * looks up the host's own name; "answer 1" for an id not 0).  Prints "answer N" (bytes, addresses,
 * or the name's length) or "failed errno=E h_errno=H".
 * file_MODE: MODE without a name server of the program's own (the ones of
 * /etc/resolv.conf); change_MODE: the thread's _res loaded from
 * /etc/resolv.conf first, then the file rewritten to name ADDR (port 53)
 * with "options use-vc", then MODE; usevc_MODE: the thread's _res loaded
 * from /etc/resolv.conf (a state from res_ninit for a MODE starting with
 * n), RES_USEVC set in it, then MODE; setenv_MODE:
 * RES_OPTIONS=use-vc set with setenv(), then MODE.  gaia:
 * getaddrinfo_a, GAI_WAIT.
 * cancel: /etc/resolv.conf rewritten to name ADDR (port 53, no use-vc),
 * then a thread with a cancel pending calls getaddrinfo of NAME (it is
 * cancelled inside); then this thread's getaddrinfo of NAME ("answer N"
 * or "failed ..." as above: it did not hang).
 * reload_MODE: the thread's _res loaded from /etc/resolv.conf first,
 * then the file rewritten to name ADDR (port 53) without use-vc, then
 * MODE.  twice_MODE: MODE with the file as it is, then the file
 * rewritten to name ADDR (its options in another order: a change, even
 * for the same ADDR), then MODE again (two result lines);
 * twiceinit_MODE: the same, with res_init() before the rewrite.
 * clearvc_MODE: the thread's _res loaded from /etc/resolv.conf, RES_USEVC
 * (its "options use-vc") cleared in it, then MODE.  restore_MODE: MODE,
 * then _res.options saved, a res_query of NAME (its result line too)
 * and the options put back as a program saving them around its own
 * query does, then the file rewritten as for twice_, then MODE again.
 * reinit_MODE: /etc/resolv.conf rewritten to name ADDR (port 53) without
 * use-vc, then res_init() (res_ninit of the state for a MODE starting
 * with n), then MODE; reinitvc_MODE: the same with "options use-vc".
 * lent_MODE: MODE as file_MODE, then "igntc N" (RES_IGNTC in the
 * options of the state MODE used after it: 1 or 0).  longsend and
 * nlongsend: res_send and res_nsend of a query of 600 bytes (one built
 * for NAME, padded: longer than 512, glibc sends it over TCP).
 * ownigntc_MODE: MODE, then RES_IGNTC set by the program in _res, then a
 * res_query of NAME (two result lines).  nested_MODE: this process's
 * pid written to the file ADDR, then MODE, during which a SIGUSR1 (the
 * test's silent name server sends it when the query reaches it) runs
 * a getaddrinfo of NAME in the handler, a look-up inside a look-up as
 * an NSS module's own is (its result line printed after MODE's).
 * jump_MODE: the same, the handler jumping out of MODE (siglongjmp, as
 * an alarm's time-out does), then MODE again: "jumped", its result line,
 * and "igntc N" (RES_IGNTC in _res.options after it: 1 or 0).  A
 * file_ MODE starting with n: its state from res_ninit, as it is. */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <resolv.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* libresolv.so.2's compatibility look-up (programs linked before glibc
 * 2.26 call it): bound to its version, as those programs are. */
#if defined(__x86_64__)
__asm__(".symver old_res_gethostbyname, res_gethostbyname@GLIBC_2.2.5");
#elif defined(__aarch64__)
__asm__(".symver old_res_gethostbyname, res_gethostbyname@GLIBC_2.17");
#endif
extern struct hostent *old_res_gethostbyname(const char *);

static void one_server(res_state st, const char *addr, int port)
{
	st->nscount = 1;
	memset(&st->nsaddr_list[0], 0, sizeof st->nsaddr_list[0]);
	st->nsaddr_list[0].sin_family = AF_INET;
	st->nsaddr_list[0].sin_port = htons((unsigned short)port);
	inet_pton(AF_INET, addr, &st->nsaddr_list[0].sin_addr);
	st->options |= RES_USEVC;
	st->options &= ~(unsigned long)RES_DNSRCH;
	st->retry = 1;
}

/* /etc/resolv.conf: name server addr, with opts. */
static int rewrite(const char *addr, const char *opts)
{
	FILE *f = fopen("/etc/resolv.conf", "w");

	if (!f || fprintf(f, "nameserver %s\noptions %s\n", addr, opts) < 0)
		return -1;
	return fclose(f);
}

static sem_t ready, go;
static const char *nested_name;
static volatile sig_atomic_t nested_n = -2;

static sigjmp_buf jump_env;

static void jump_out(int sig)
{
	(void)sig;
	siglongjmp(jump_env, 1);
}

static const char *jump_mode, *jump_name;
static struct __res_state *jump_own;
static int one(const char *mode, const char *name, struct __res_state *own);

/* jump_MODE after the set-up */
static int jumped(const char *mode, const char *name, struct __res_state *own)
{
	int r;

	jump_mode = mode;
	jump_name = name;
	jump_own = own;
	if (sigsetjmp(jump_env, 1) == 0) {
		(void)one(jump_mode, jump_name, jump_own);
		printf("not jumped\n");
		return 0;
	}
	printf("jumped\n");
	fflush(stdout);
	if ((r = one(jump_mode, jump_name, jump_own)) != 0)
		return r;
	printf("igntc %d\n", (_res.options & RES_IGNTC) != 0);
	return 0;
}

/* A look-up inside the look-up this signal interrupted. */
static void nested_lookup(int sig)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai = NULL;
	int n = 0;

	(void)sig;
	if (getaddrinfo(nested_name, NULL, &hints, &ai) != 0) {
		nested_n = -1;
		return;
	}
	for (struct addrinfo *a = ai; a; a = a->ai_next)
		n++;
	freeaddrinfo(ai);
	nested_n = n;
}

/* Cancelled at the first cancellation point of its look-up. */
static void *cancelled_lookup(void *name)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai = NULL;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	sem_post(&ready);
	while (sem_wait(&go) != 0)
		;
	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);   /* the cancel is pending */
	if (getaddrinfo(name, NULL, &hints, &ai) == 0)
		freeaddrinfo(ai);
	pthread_testcancel();
	return NULL;
}

/* One call of MODE; its result line printed.  2: no such mode. */
static int one(const char *mode, const char *name, struct __res_state *own)
{
	unsigned char ans[4096], q[512];
	int n = -1, ql;

	errno = 0;
	if (!strcmp(mode, "query")) {
		n = res_query(name, C_IN, T_A, ans, sizeof ans);
	} else if (!strcmp(mode, "search")) {
		n = res_search(name, C_IN, T_A, ans, sizeof ans);
	} else if (!strcmp(mode, "querydomain")) {
		n = res_querydomain("secret-name", "test", C_IN, T_A, ans, sizeof ans);
	} else if (!strcmp(mode, "send")) {
		ql = res_mkquery(QUERY, name, C_IN, T_A, NULL, 0, NULL, q, sizeof q);
		n = ql < 0 ? -1 : res_send(q, ql, ans, sizeof ans);
	} else if (!strcmp(mode, "nquery")) {
		n = res_nquery(own, name, C_IN, T_A, ans, sizeof ans);
	} else if (!strcmp(mode, "nsearch")) {
		n = res_nsearch(own, name, C_IN, T_A, ans, sizeof ans);
	} else if (!strcmp(mode, "nquerydomain")) {
		n = res_nquerydomain(own, "secret-name", "test", C_IN, T_A, ans, sizeof ans);
	} else if (!strcmp(mode, "nsend")) {
		ql = res_nmkquery(own, QUERY, name, C_IN, T_A, NULL, 0, NULL, q, sizeof q);
		n = ql < 0 ? -1 : res_nsend(own, q, ql, ans, sizeof ans);
	} else if (!strcmp(mode, "longsend") || !strcmp(mode, "nlongsend")) {
		unsigned char lq[600] = { 0 };

		ql = mode[0] == 'n' ? res_nmkquery(own, QUERY, name, C_IN, T_A, NULL, 0, NULL, lq, sizeof lq) :
		     res_mkquery(QUERY, name, C_IN, T_A, NULL, 0, NULL, lq, sizeof lq);
		n = ql < 0 ? -1 : mode[0] == 'n' ? res_nsend(own, lq, sizeof lq, ans, sizeof ans) :
		    res_send(lq, sizeof lq, ans, sizeof ans);
	} else if (!strcmp(mode, "compat_query")) {
		int (*fn)(const char *, int, int, unsigned char *, int) =
			(int (*)(const char *, int, int, unsigned char *, int))dlvsym(RTLD_DEFAULT, "__res_query",
										       "GLIBC_2.2.5");
		if (!fn)
			return 4;
		n = fn(name, C_IN, T_A, ans, sizeof ans);
	} else if (!strcmp(mode, "gai")) {
		struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai = NULL;
		int r = getaddrinfo(name, NULL, &hints, &ai);

		if (r == EAI_SYSTEM)
			n = -1;
		else if (r != 0)
			return printf("failed gai=%d\n", r) < 0;
		else
			for (n = 0; ai; ai = ai->ai_next)
				n++;
	} else if (!strcmp(mode, "gaia")) {
		struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
		struct gaicb cb = { .ar_name = name, .ar_request = &hints }, *list[1] = { &cb };
		int r = getaddrinfo_a(GAI_WAIT, list, 1, NULL);

		if (r == 0)
			r = gai_error(&cb);
		if (r == EAI_SYSTEM)
			n = -1;
		else if (r != 0)
			return printf("failed gai=%d\n", r) < 0;
		else
			for (n = 0; cb.ar_result; cb.ar_result = cb.ar_result->ai_next)
				n++;
	} else if (!strcmp(mode, "ghbn") || !strcmp(mode, "compat_ghbn")) {
		struct hostent *h = mode[0] == 'c' ? old_res_gethostbyname(name) : gethostbyname(name);

		if (h)
			for (n = 0; h->h_addr_list[n];)
				n++;
	} else if (!strcmp(mode, "gni")) {
		struct sockaddr_in sa = { .sin_family = AF_INET };
		char host[NI_MAXHOST];
		int r;

		inet_pton(AF_INET, "192.0.2.1", &sa.sin_addr);
		r = getnameinfo((struct sockaddr *)&sa, sizeof sa, host, sizeof host, NULL, 0, NI_NAMEREQD);
		if (r == 0)
			n = (int)strlen(host);
		else if (r != EAI_SYSTEM)
			return printf("failed gni=%d\n", r) < 0;
	} else if (!strcmp(mode, "ghba") || !strcmp(mode, "ghba_r")) {
		struct hostent hb, *h = NULL;
		struct in_addr a;
		char buf[1024];
		int err = 0;

		inet_pton(AF_INET, "192.0.2.1", &a);
		if (!strcmp(mode, "ghba"))
			h = gethostbyaddr(&a, sizeof a, AF_INET);
		else if (gethostbyaddr_r(&a, sizeof a, AF_INET, &hb, buf, sizeof buf, &h, &err) == 0 && !h)
			h_errno = err;
		if (h)
			n = (int)strlen(h->h_name);
	} else if (!strcmp(mode, "gnbn") || !strcmp(mode, "gnba")) {
		struct netent *ne = !strcmp(mode, "gnbn") ? getnetbyname(name) : getnetbyaddr(0xc00002, AF_INET);

		if (ne)
			n = (int)strlen(ne->n_name);
	} else if (!strcmp(mode, "dlquery")) {
		void *h = dlopen("libresolv.so.2", RTLD_NOW);
		int (*fn)(const char *, int, int, unsigned char *, int) =
			h ? (int (*)(const char *, int, int, unsigned char *, int))dlsym(h, "res_query") : NULL;

		if (!fn)
			return 4;
		n = fn(name, C_IN, T_A, ans, sizeof ans);
	} else if (!strcmp(mode, "hostid")) {
		n = gethostid() != 0 ? 1 : -1;
	} else if (!strcmp(mode, "ruserok")) {
		n = ruserok(name, 1, "root", "root") == 0 ? 1 : -1;
	} else if (!strcmp(mode, "rcmd")) {
		char *host = (char *)name;
		int fd = rcmd_af(&host, htons(514), "root", "root", "true", NULL, AF_INET);

		n = fd >= 0 ? 1 : -1;
	} else {
		return 2;
	}
	if (n >= 0)
		printf("answer %d\n", n);
	else
		printf("failed errno=%d h_errno=%d\n", errno, h_errno);
	return 0;
}

int main(int argc, char **argv)
{
	struct __res_state own;
	const char *mode, *name;
	bool twice = false, reinit = false, restore = false;

	if (argc < 4)
		return 2;
	mode = argv[1];
	name = argc > 4 ? argv[4] : "secret-name.test";
	memset(&own, 0, sizeof own);
	if (!strncmp(mode, "file_", 5)) {
		mode += 5;
		if (mode[0] == 'n' && res_ninit(&own) != 0)
			return 3;
	} else if (!strncmp(mode, "reload_", 7)) {
		mode += 7;
		if (res_init() != 0 || rewrite(argv[2], "attempts:1 timeout:1") != 0)
			return 3;
	} else if (!strncmp(mode, "clearvc_", 8)) {
		mode += 8;
		if (res_init() != 0)
			return 3;
		_res.options &= ~(unsigned long)RES_USEVC;
	} else if (!strncmp(mode, "twice_", 6)) {
		mode += 6;
		twice = true;
	} else if (!strncmp(mode, "restore_", 8)) {
		mode += 8;
		twice = restore = true;
	} else if (!strncmp(mode, "ownigntc_", 9)) {
		int r;

		mode += 9;
		if ((r = one(mode, name, &own)) != 0)
			return r;
		_res.options |= RES_IGNTC;
		fflush(stdout);
		return one("query", name, &own);
	} else if (!strncmp(mode, "nested_", 7) || !strncmp(mode, "jump_", 5)) {
		bool jump = mode[0] == 'j';
		struct sigaction sa = { .sa_handler = jump ? jump_out : nested_lookup };
		FILE *f = fopen(argv[2], "w");
		int r;

		mode += jump ? 5 : 7;
		nested_name = name;
		if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0 ||
		    sigaction(SIGUSR1, &sa, NULL) != 0)
			return 3;
		if (jump)
			return jumped(mode, name, &own);
		if ((r = one(mode, name, &own)) != 0)
			return r;
		if (nested_n == -2)
			printf("inner none\n");
		else if (nested_n < 0)
			printf("inner failed\n");
		else
			printf("inner answer %d\n", (int)nested_n);
		return 0;
	} else if (!strncmp(mode, "reinit_", 7) || !strncmp(mode, "reinitvc_", 9)) {
		bool vc = mode[6] == 'v';

		mode += vc ? 9 : 7;
		if (rewrite(argv[2], vc ? "use-vc attempts:1 timeout:1" : "attempts:1 timeout:1") != 0 ||
		    (mode[0] == 'n' ? res_ninit(&own) : res_init()) != 0)
			return 3;
	} else if (!strncmp(mode, "lent_", 5)) {
		int r;

		mode += 5;
		if (mode[0] == 'n' && res_ninit(&own) != 0)
			return 3;
		if ((r = one(mode, name, &own)) != 0)
			return r;
		printf("igntc %d\n", ((mode[0] == 'n' ? own.options : _res.options) & RES_IGNTC) != 0);
		return 0;
	} else if (!strncmp(mode, "twiceinit_", 10)) {
		mode += 10;
		twice = reinit = true;
	} else if (!strncmp(mode, "setenv_", 7)) {
		/* use-vc set in RES_OPTIONS by the program itself, before
		 * its first look-up (the resolver reads it then) */
		mode += 7;
		if (setenv("RES_OPTIONS", "use-vc", 1) != 0)
			return 3;
	} else if (!strcmp(mode, "cancel")) {
		FILE *f;
		pthread_t t;
		void *how;

		mode = "gai";
		if (!(f = fopen("/etc/resolv.conf", "w")) ||
		    fprintf(f, "nameserver %s\noptions attempts:1 timeout:1\n", argv[2]) < 0 || fclose(f) != 0 ||
		    sem_init(&ready, 0, 0) != 0 || sem_init(&go, 0, 0) != 0 ||
		    pthread_create(&t, NULL, cancelled_lookup, (void *)name) != 0)
			return 3;
		while (sem_wait(&ready) != 0)
			;
		pthread_cancel(t);
		sem_post(&go);
		pthread_join(t, &how);
		printf("thread %s\n", how == PTHREAD_CANCELED ? "cancelled" : "returned");
		fflush(stdout);
	} else if (!strncmp(mode, "usevc_", 6)) {
		mode += 6;
		if (mode[0] == 'n' ? res_ninit(&own) != 0 : res_init() != 0)
			return 3;
		if (mode[0] == 'n')
			own.options |= RES_USEVC;
		else
			_res.options |= RES_USEVC;
	} else if (!strncmp(mode, "change_", 7)) {
		FILE *f;

		mode += 7;
		if (res_init() != 0 || !(f = fopen("/etc/resolv.conf", "w")) ||
		    fprintf(f, "nameserver %s\noptions use-vc attempts:1\n", argv[2]) < 0 || fclose(f) != 0)
			return 3;
	} else if (!strncmp(mode, "n", 1)) {
		if (res_ninit(&own) != 0)
			return 3;
		one_server(&own, argv[2], atoi(argv[3]));
	} else {
		if (res_init() != 0)
			return 3;
		one_server(&_res, argv[2], atoi(argv[3]));
	}
	if (twice) {
		int r = one(mode, name, &own);

		if (r == 0 && restore) {
			unsigned long saved = _res.options;

			fflush(stdout);
			r = one("query", name, &own);
			_res.options = saved;
		}
		fflush(stdout);
		if (r != 0 || (reinit && res_init() != 0) || rewrite(argv[2], "timeout:1 attempts:1") != 0)
			return r ? r : 3;
	}
	return one(mode, name, &own);
}
