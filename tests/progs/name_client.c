/* name_client — resolve names in the ways a legacy program may, then
 * connect by address (tests/preload/names.sh).
 *
 *   name_client PORT STEP...
 *
 * Each STEP resolves one name, in this thread, in order:
 *   gai:NAME     getaddrinfo(NAME), IPv4, stream
 *   gait:NAME    the same in another thread (joined before the next step)
 *   gaiaw:NAME   getaddrinfo_a(GAI_WAIT) of NAME
 *   gaian:NAME   getaddrinfo_a(GAI_NOWAIT) of NAME, gai_suspend() until it
 *                is done, then gai_error() and its ar_result
 *   resq:NAME    res_query(NAME, IN, A), the answer parsed here (ns_parserr)
 *   resqt:NAME   the same in another thread (joined before the next step)
 *   ress:NAME    res_search(NAME, IN, A) (the search list's domains), the
 *                answer parsed as resq's
 *   resqx:NAME   res_query(NAME, IN, A), the first A record of the
 *                answer's additional section taken (glue, as a program
 *                that asks for MX or SRV records may take it)
 *   gaiat:NAME   getaddrinfo_a(GAI_NOWAIT) of NAME in this thread, waited
 *                for (gai_suspend, gai_error) in another thread, which
 *                connects (the connect below runs in that thread)
 *   gaie:        gai_error() of the last gaian request again (it has ended:
 *                no new answer; it must not count as one)
 *   ghbr:NAME    gethostbyname_r(NAME)
 *   forkgai:NAME getaddrinfo(NAME) in a child this process forks (which
 *                hands the address back through a pipe and exits)
 *   addr:IP      take the address IP as the last one, resolving nothing
 *   fork:        fork(): the child goes on with the next steps (and
 *                connects), the parent waits for it and exits with its
 *                status
 *   exec:        execute this program again (/proc/self/exe) with the
 *                same PORT, the step addr:LAST (the address the steps so
 *                far gave) and the steps after this one
 *   conn:        connect now (a connection between the steps, to the
 *                address the steps so far gave): send "SECRET conn N\n"
 *                (N counts these steps from 1), shut the write side and
 *                copy what comes back to standard output; "client: conn
 *                N: connect: REASON" and exit 3 when connect() fails
 * Then connect() to the first address the last step gave, at PORT (the
 * address as a sockaddr, never a name), send standard input, shut the
 * write side and copy what comes back to standard output.  "client:
 * connect: REASON" and exit 2 when connect() fails; exit 1 when a step
 * fails.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <resolv.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static struct sockaddr_in last;
static int port;
static struct gaicb held;       /* the request of the last gaian or gaiat step */

static int took(const struct addrinfo *ai, const char *step)
{
	if (!ai || ai->ai_family != AF_INET) {
		fprintf(stderr, "client: %s: no IPv4 address\n", step);
		return -1;
	}
	memcpy(&last, ai->ai_addr, sizeof last);
	return 0;
}

/* Connect to the last address at PORT, send text (NULL: standard input),
 * shut the write side and copy the answer to standard output: 0; 2 when
 * connect() fails ("client: WHAT: REASON"), 1 on another failure. */
static int exchange(const char *text, const char *what)
{
	struct sockaddr_in a = last;
	char buf[4096];
	ssize_t n;
	int s = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_port = htons((unsigned short)port);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
		fprintf(stderr, "client: %s: %s\n", what, strerror(errno));
		if (s >= 0)
			close(s);
		return 2;
	}
	if (text) {
		if (write(s, text, strlen(text)) != (ssize_t)strlen(text))
			return 1;
	} else {
		while ((n = read(0, buf, sizeof buf)) > 0)
			if (write(s, buf, (size_t)n) != n)
				return 1;
	}
	shutdown(s, SHUT_WR);
	while ((n = read(s, buf, sizeof buf)) > 0)
		if (write(1, buf, (size_t)n) != n)
			return 1;
	close(s);
	return 0;
}

static int talk(void)
{
	return exchange(NULL, "connect");
}

static struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };

/* gai_suspend until req is done, then its result; 0 or -1. */
static int gai_wait(struct gaicb *req, const char *step)
{
	const struct gaicb *l[1] = { req };
	struct timespec ts = { 20, 0 };
	int e;

	while ((e = gai_error(req)) == EAI_INPROGRESS)
		if (gai_suspend(l, 1, &ts) == EAI_AGAIN)
			break;
	if (e) {
		fprintf(stderr, "client: %s: %s\n", step, gai_strerror(e));
		return -1;
	}
	return took(req->ar_result, step);
}

static void *other_gai(void *arg)
{
	struct addrinfo *res = NULL;

	if (getaddrinfo(arg, NULL, &hints, &res) || took(res, "gait") < 0)
		return (void *)1;
	freeaddrinfo(res);
	return NULL;
}

/* res_query(name, IN, A) (search: res_search), the answer parsed here
 * (ns_parserr): its first A record of section sec is the last address;
 * 0, or -1. */
static int resq_by(const char *name, bool search, ns_sect sec)
{
	unsigned char ans[4096];
	int n = search ? res_search(name, C_IN, T_A, ans, sizeof ans)
		       : res_query(name, C_IN, T_A, ans, sizeof ans);
	int k, got = 0;
	ns_msg msg;
	ns_rr rr;

	if (n < 0 || ns_initparse(ans, n < (int)sizeof ans ? n : (int)sizeof ans, &msg) < 0) {
		fprintf(stderr, "client: resq %s: no answer\n", name);
		return -1;
	}
	for (k = 0; !got && k < ns_msg_count(msg, sec); k++)
		if (ns_parserr(&msg, sec, k, &rr) == 0 && ns_rr_type(rr) == ns_t_a &&
		    ns_rr_rdlen(rr) == 4) {
			last.sin_family = AF_INET;
			memcpy(&last.sin_addr, ns_rr_rdata(rr), 4);
			got = 1;
		}
	if (!got) {
		fprintf(stderr, "client: resq %s: no A record\n", name);
		return -1;
	}
	return 0;
}

static int resq(const char *name)
{
	return resq_by(name, false, ns_s_an);
}

static void *other_resq(void *arg)
{
	return resq(arg) ? (void *)1 : NULL;
}

static void *waiter(void *arg)
{
	if (gai_wait(arg, "gaiat") < 0)
		return (void *)1;
	return (void *)(long)talk();
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: name_client PORT STEP...\n");
		return 1;
	}
	port = atoi(argv[1]);
	for (int i = 2; i < argc; i++) {
		char *colon = strchr(argv[i], ':');
		const char *name = colon ? colon + 1 : "";
		struct gaicb req = { .ar_name = name, .ar_request = &hints }, *list[1] = { &req };
		struct addrinfo *res = NULL;
		int e;

		if (!colon)
			return 1;
		*colon = '\0';
		if (!strcmp(argv[i], "gai")) {
			if ((e = getaddrinfo(name, NULL, &hints, &res))) {
				fprintf(stderr, "client: gai %s: %s\n", name, gai_strerror(e));
				return 1;
			}
			if (took(res, "gai") < 0)
				return 1;
			freeaddrinfo(res);
		} else if (!strcmp(argv[i], "gait")) {
			pthread_t t;
			void *r;

			if (pthread_create(&t, NULL, other_gai, (void *)name) || pthread_join(t, &r) || r) {
				fprintf(stderr, "client: gait %s failed\n", name);
				return 1;
			}
		} else if (!strcmp(argv[i], "resq")) {
			if (resq(name))
				return 1;
		} else if (!strcmp(argv[i], "ress")) {
			if (resq_by(name, true, ns_s_an))
				return 1;
		} else if (!strcmp(argv[i], "resqx")) {
			if (resq_by(name, false, ns_s_ar))
				return 1;
		} else if (!strcmp(argv[i], "resqt")) {
			pthread_t t;
			void *r;

			if (pthread_create(&t, NULL, other_resq, (void *)name) || pthread_join(t, &r) || r) {
				fprintf(stderr, "client: resqt %s failed\n", name);
				return 1;
			}
		} else if (!strcmp(argv[i], "gaiaw")) {
			if ((e = getaddrinfo_a(GAI_WAIT, list, 1, NULL)) || (e = gai_error(&req))) {
				fprintf(stderr, "client: gaiaw %s: %s\n", name, gai_strerror(e));
				return 1;
			}
			if (took(req.ar_result, "gaiaw") < 0)
				return 1;
		} else if (!strcmp(argv[i], "gaian") || !strcmp(argv[i], "gaiat")) {
			pthread_t t;
			void *r;

			if (held.ar_result)     /* (its memory may then hold the next answer) */
				freeaddrinfo(held.ar_result);
			held = req;
			list[0] = &held;
			if ((e = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL))) {
				fprintf(stderr, "client: %s %s: %s\n", argv[i], name, gai_strerror(e));
				return 1;
			}
			if (!strcmp(argv[i], "gaian")) {
				if (gai_wait(&held, "gaian") < 0)
					return 1;
				continue;
			}
			if (i != argc - 1 || pthread_create(&t, NULL, waiter, &held) || pthread_join(t, &r))
				return 1;
			return (int)(long)r;
		} else if (!strcmp(argv[i], "gaie")) {
			if ((e = gai_error(&held))) {
				fprintf(stderr, "client: gaie: %s\n", gai_strerror(e));
				return 1;
			}
		} else if (!strcmp(argv[i], "ghbr")) {
			struct hostent he, *h = NULL;
			char hb[4096];
			int herr = 0;

			if (gethostbyname_r(name, &he, hb, sizeof hb, &h, &herr) || !h ||
			    h->h_addrtype != AF_INET || !h->h_addr_list[0]) {
				fprintf(stderr, "client: ghbr %s: no IPv4 address\n", name);
				return 1;
			}
			last.sin_family = AF_INET;
			memcpy(&last.sin_addr, h->h_addr_list[0], 4);
		} else if (!strcmp(argv[i], "forkgai")) {
			int fds[2], st = 0;
			ssize_t got;
			pid_t pid;

			if (pipe(fds) || (pid = fork()) < 0)
				return 1;
			if (pid == 0) {
				close(fds[0]);
				if (getaddrinfo(name, NULL, &hints, &res) || took(res, "forkgai") < 0 ||
				    write(fds[1], &last, sizeof last) != (ssize_t)sizeof last)
					_exit(1);
				_exit(0);
			}
			close(fds[1]);
			got = read(fds[0], &last, sizeof last);
			close(fds[0]);
			if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) ||
			    got != (ssize_t)sizeof last) {
				fprintf(stderr, "client: forkgai %s failed\n", name);
				return 1;
			}
		} else if (!strcmp(argv[i], "addr")) {
			last.sin_family = AF_INET;
			if (inet_pton(AF_INET, name, &last.sin_addr) != 1) {
				fprintf(stderr, "client: addr %s: not an IPv4 address\n", name);
				return 1;
			}
		} else if (!strcmp(argv[i], "fork")) {
			int st = 0;
			pid_t pid = fork();

			if (pid < 0)
				return 1;
			if (pid == 0)
				continue;
			if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
				return 1;
			return WEXITSTATUS(st);
		} else if (!strcmp(argv[i], "exec")) {
			char **nv = calloc((size_t)argc + 2, sizeof *nv), step[64], ip[INET_ADDRSTRLEN];
			int k = 0;

			if (!nv || !inet_ntop(AF_INET, &last.sin_addr, ip, sizeof ip))
				return 1;
			snprintf(step, sizeof step, "addr:%s", ip);
			nv[k++] = argv[0];
			nv[k++] = argv[1];
			nv[k++] = step;
			for (int j = i + 1; j < argc; j++)
				nv[k++] = argv[j];
			nv[k] = NULL;
			execv("/proc/self/exe", nv);
			fprintf(stderr, "client: exec: %s\n", strerror(errno));
			return 1;
		} else if (!strcmp(argv[i], "conn")) {
			static int conns;
			char text[64], what[64];
			int r;

			snprintf(text, sizeof text, "SECRET conn %d\n", ++conns);
			snprintf(what, sizeof what, "conn %d: connect", conns);
			if ((r = exchange(text, what)))
				return r == 2 ? 3 : r;
		} else {
			fprintf(stderr, "client: unknown step %s\n", argv[i]);
			return 1;
		}
	}
	return talk();
}
