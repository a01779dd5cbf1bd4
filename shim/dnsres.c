/* shim/dnsres.c — the resolver's query calls (res_query, res_send and
 * their family): refused where the C library would ask a name server
 * over TCP that a tls or deny rule names.
 *
 * glibc's resolver sends with its own internal socket calls, which no
 * wrapper of ours sees: over UDP, and over TCP with RES_USEVC, for a
 * query longer than 512 bytes, or to ask again when a UDP answer came
 * back truncated (unless RES_IGNTC).  A program that sets its own name
 * servers (_res.nsaddr_list, or a res_ninit state) can point them at
 * any address and port, a TLS-ruled one too: that query would go there
 * in clear.  So each call looks at the name servers of the state it
 * will use (as res_send picks them: get_nsaddr) before it runs; UDP
 * alone is not TCP and no rule covers it.  Where a tls rule names one
 * of them, RES_IGNTC is lent in the state for the call (a truncated UDP
 * answer is handed back, TC set, not asked again over TCP) and taken
 * back as it returns; what must go over TCP (RES_USEVC, a query longer
 * than 512 bytes) is refused: glibc's connect is not the library's.  getaddrinfo() and the
 * gethostbyname family use the same resolver from inside the C library,
 * as do getnameinfo, the gethostbyaddr and getnetby families and the
 * look-ups of rcmd, rexec and ruserok:
 * see man/libtlsshim.7, "The C library's own resolver". */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "shim/shim.h"

/* The n-th name server of st, as res_send takes it: an IPv6 one lives in
 * the extension (nsaddr_list[n] cleared), unless the program wrote
 * nsaddr_list[n] itself. */
static const struct sockaddr *name_server(const struct __res_state *st, int n, socklen_t *len)
{
	const struct sockaddr_in *a4 = &st->nsaddr_list[n];

	if (a4->sin_family == 0 && st->_u._ext.nsaddrs[n]) {
		*len = sizeof(struct sockaddr_in6);
		return (const struct sockaddr *)st->_u._ext.nsaddrs[n];
	}
	*len = sizeof *a4;
	return (const struct sockaddr *)a4;
}

/* ---- /etc/resolv.conf -------------------------------------------------------- */

/* getaddrinfo() and the gethostbyname family ask the name servers of
 * /etc/resolv.conf with the C library's internal calls, which no wrapper
 * sees: over UDP, and over TCP (port 53) for an answer too long for UDP,
 * or always with "options use-vc".  A connect rule that makes a name
 * server's port 53 TLS cannot be kept for those queries: said once at
 * start, and again when the file changes.  Look-ups are refused only
 * where every query goes over TCP ("options use-vc", RES_OPTIONS,
 * RES_USEVC): otherwise the name may come from /etc/hosts and most
 * answers come over UDP, which no connect rule covers; a truncated UDP
 * answer is kept rather than asked again over TCP (igntc_lend)
 * (docs/design.md, "The C library's resolver").
 *
 * The resolver loads the file again, inside a look-up, when stat() tells
 * it changed (size, inode, times) and the program did not change _res:
 * so while a tls or deny rule may cover port 53 (rconf_watch), each check
 * stats the file as the resolver would and reads it again on a change,
 * and a thread whose _res may be older than the file checks the file's
 * servers too. */
#define RESOLV_CONF "/etc/resolv.conf"
#define RESOLV_MAXNS 3            /* glibc asks the first three */
#define RESOLV_MAXREAD 65536
#define KNOWN_MAX 32

/* What the resolver reads from the file, and the file's identity. */
struct resolv_view {
	struct sockaddr_storage ns[RESOLV_MAXNS];
	socklen_t len[RESOLV_MAXNS];
	int n;
	bool usevc;               /* options use-vc, or RES_OPTIONS's */
	bool exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
	unsigned gen;             /* 1: the file read at start; +1 a change */
};

/* rconf, known[]: under rconf_lock (docs/locking.md: a leaf but for the
 * log's own-fd lock when a warning is logged).  known[]: every name
 * server a tls rule names that some version of the file listed (past
 * KNOWN_MAX one is not known: its look-ups are checked as the program's
 * own).  rconf_watch: written at start only. */
static pthread_mutex_t rconf_lock = PTHREAD_MUTEX_INITIALIZER;
static struct resolv_view rconf;
static struct sockaddr_storage known[KNOWN_MAX];
static int nknown;
static bool rconf_watch;
/* The file's generation this thread's checks last saw go through. */
static __thread unsigned rconf_seen __attribute__((tls_model("initial-exec")));
/* RES_IGNTC in the thread's _res is the library's (igntc_lend), for the
 * look-up under way. */
static __thread bool igntc_lent __attribute__((tls_model("initial-exec")));
/* Look-ups under way in the thread (shim_lookup_begin), and the
 * outermost's wrapper frame. */
static __thread unsigned lookup_depth __attribute__((tls_model("initial-exec")));
static __thread uintptr_t lookup_frame __attribute__((tls_model("initial-exec")));

static bool same_server(const struct sockaddr_storage *w, const struct sockaddr *sa)
{
	if (w->ss_family != sa->sa_family)
		return false;
	return sa->sa_family == AF_INET ?
	       !memcmp(&((const struct sockaddr_in *)w)->sin_addr, &((const struct sockaddr_in *)sa)->sin_addr, 4) &&
	       ((const struct sockaddr_in *)w)->sin_port == ((const struct sockaddr_in *)sa)->sin_port :
	       !memcmp(&((const struct sockaddr_in6 *)w)->sin6_addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16) &&
	       ((const struct sockaddr_in6 *)w)->sin6_port == ((const struct sockaddr_in6 *)sa)->sin6_port;
}

/* A TLS-ruled name server of the file (this version or an older). */
static bool known_server(const struct sockaddr *sa)
{
	bool found = false;

	pthread_mutex_lock(&rconf_lock);
	for (int i = 0; i < nknown && !found; i++)
		found = same_server(&known[i], sa);
	pthread_mutex_unlock(&rconf_lock);
	return found;
}

/* One name server: ss holds its address, port 53.  Under rconf_lock. */
static void warn_tls_name_server(const struct policy *p, const struct sockaddr_storage *ss, socklen_t len,
				 bool usevc)
{
	char addr[INET6_ADDRSTRLEN];
	const struct policy_rule *r = policy_match(p, POLICY_CONNECT, (const struct sockaddr *)ss, len, NULL);
	bool dup = false;

	if (!r || r->action != POLICY_TLS)
		return;
	for (int i = 0; i < nknown && !dup; i++)
		dup = same_server(&known[i], (const struct sockaddr *)ss);
	if (!dup && nknown < KNOWN_MAX)
		known[nknown++] = *ss;
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, addr, sizeof addr);
	else
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, addr, sizeof addr);
	log_warn("name server %s port 53 (%s) matches rule \"%s\", action tls: the C library's"
		 " resolver queries it with its own internal calls, which the library does not"
		 " see, over UDP in clear; never over TCP: a look-up keeps a truncated UDP"
		 " answer (RES_IGNTC: only the records that fit) rather than ask again over"
		 " TCP (the res_query family likewise: RES_IGNTC lent for the call), and"
		 " getaddrinfo_a() is refused; give it a"
		 " rule with action \"plain\" before this one%s",
		 addr, RESOLV_CONF, r->name,
		 usevc ? " (with use-vc every query goes over TCP: look-ups that would ask it are refused)" : "");
}

/* A "nameserver" line's address as glibc's resolver reads it
 * (res_init.c): up to a blank, an IPv4 address in any form inet_aton
 * takes (127.1 too), else an IPv6 one without its %scope.  false: the
 * resolver skips the line (it does not count among the three). */
static bool name_server_addr(char *cp, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	cp += strspn(cp, " \t");
	cp[strcspn(cp, " \t\n")] = '\0';
	if (*cp && !cp[strcspn(cp, "\r\v\f")] && inet_aton(cp, &a4->sin_addr)) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(53);
		*len = sizeof *a4;
		return true;
	}
	cp[strcspn(cp, "%")] = '\0';
	if (*cp && inet_pton(AF_INET6, cp, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(53);
		*len = sizeof *a6;
		return true;
	}
	return false;
}

/* An "options" line (or RES_OPTIONS) as res_setoptions reads it: blank-
 * separated words, each option matched by its prefix. */
static bool options_usevc(const char *cp)
{
	while (cp && *cp) {
		cp += strspn(cp, " \t");
		if (!strncmp(cp, "use-vc", 6))
			return true;
		cp += strcspn(cp, " \t");
	}
	return false;
}

/* Under rconf_lock (or at start): v from the file now.  The name servers
 * glibc's resolver asks: the first three valid "nameserver" lines (the
 * keyword at the start of the line, then a blank; ';' and '#' start
 * comments), 127.0.0.1 when there is none or the file cannot be opened
 * for a reason the resolver ignores (res_init.c).  The file is opened
 * without blocking (a FIFO without a writer held fopen() for ever, before
 * main) and at most RESOLV_MAXREAD bytes of it are read, what is there
 * now (/dev/zero grew getline's line until memory ran out).  A real
 * resolv.conf is a few hundred bytes.  Each TLS-ruled server warned of. */
static void view_load(const struct policy *p, struct resolv_view *v)
{
	/* (the library's own descriptor, moved high at once: at the lowest
	 * free number a program's open() or dup2() in another thread could
	 * make it the program's file; and no epoll lock, which comes before
	 * rconf_lock, taken for it: shim_open_own) */
	int fd = shim_open_own(RESOLV_CONF, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0);
	struct stat sb;
	char *buf = NULL;
	size_t got = 0;
	unsigned gen = v->gen + 1;

	memset(v, 0, sizeof *v);
	v->gen = gen;
	v->usevc = options_usevc(getenv("RES_OPTIONS"));
	if (fd >= 0 && fstat(fd, &sb) == 0) {
		v->exists = true;
		v->dev = sb.st_dev;
		v->ino = sb.st_ino;
		v->size = sb.st_size;
		v->mtime = sb.st_mtim;
		v->ctime = sb.st_ctim;
	}
	if (fd < 0 && errno != ENOENT && errno != EACCES && errno != EISDIR && errno != ELOOP &&
	    errno != ENOTDIR && errno != EPERM)
		return;                 /* the resolver fails as well */
	if (fd >= 0 && (buf = malloc(RESOLV_MAXREAD + 1))) {
		while (got < RESOLV_MAXREAD) {
			ssize_t r = REAL(read)(fd, buf + got, RESOLV_MAXREAD - got);

			if (r > 0)
				got += (size_t)r;
			else if (r == 0 || errno != EINTR)
				break;  /* the end, or nothing more now (EAGAIN) */
		}
		buf[got] = '\0';
	}
	if (fd >= 0)
		shim_close_own(fd);
	/* Line by line; a NUL ends what the resolver reads of a line, as
	 * here the string functions stop there. */
	for (char *line = buf, *end = buf + got; line && line < end;) {
		char *nl = memchr(line, '\n', (size_t)(end - line)), *next = nl ? nl + 1 : NULL;

		if (nl)
			*nl = '\0';
		if (!strncmp(line, "nameserver", 10) && (line[10] == ' ' || line[10] == '\t') &&
		    v->n < RESOLV_MAXNS && name_server_addr(line + 10, &v->ns[v->n], &v->len[v->n]))
			v->n++;
		else if (!strncmp(line, "options", 7) && (line[7] == ' ' || line[7] == '\t') &&
			 options_usevc(line + 7))
			v->usevc = true;
		line = next;
	}
	free(buf);
	if (!v->n) {
		char def[] = "127.0.0.1";     /* the resolver's default */

		if (name_server_addr(def, &v->ns[0], &v->len[0]))
			v->n = 1;
	}
	for (int i = 0; i < v->n; i++)
		warn_tls_name_server(p, &v->ns[i], v->len[i], v->usevc);
}

/* At start (init.c, a policy with tls and connect rules): the file read
 * and its TLS-ruled name servers warned of; the file watched from now on
 * when a tls or deny connect rule may cover port 53. */
void shim_resolver_setup(const struct policy *p)
{
	rconf_watch = policy_guards_port(p, POLICY_CONNECT, 53);
	view_load(p, &rconf);
}

/* *out: the file as the resolver would load it now (read again when
 * stat() tells a change, as glibc's file_change_detection would).  The
 * thread's cancellation is off while it holds rconf_lock: view_load's
 * open, read and close are cancellation points, and a thread cancelled
 * inside its look-up died holding the lock, every later look-up and
 * fork() waiting for it for ever (tests/preload/dns_resolvconf.sh). */
static void view_now(struct resolv_view *out)
{
	struct stat sb;
	bool exists = stat(RESOLV_CONF, &sb) == 0;
	int cs;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
	pthread_mutex_lock(&rconf_lock);
	if (exists != rconf.exists ||
	    (exists && (sb.st_dev != rconf.dev || sb.st_ino != rconf.ino || sb.st_size != rconf.size ||
			sb.st_mtim.tv_sec != rconf.mtime.tv_sec || sb.st_mtim.tv_nsec != rconf.mtime.tv_nsec ||
			sb.st_ctim.tv_sec != rconf.ctime.tv_sec || sb.st_ctim.tv_nsec != rconf.ctime.tv_nsec)))
		view_load(shim_policy, &rconf);
	*out = rconf;
	pthread_mutex_unlock(&rconf_lock);
	pthread_setcancelstate(cs, NULL);
}

void shim_resolver_fork_lock(void)
{
	pthread_mutex_lock(&rconf_lock);
}

void shim_resolver_fork_unlock(void)
{
	pthread_mutex_unlock(&rconf_lock);
}

/* ---- the checks ---------------------------------------------------------------- */

/* Why a query of qlen bytes (0: one the call builds, always under 512)
 * with these options may go over TCP, or NULL. */
static const char *tcp_why(unsigned long options, size_t qlen)
{
	return (options & RES_USEVC) ? "RES_USEVC" :
	       qlen > PACKETSZ ? "a query longer than 512 bytes" :
	       !(options & RES_IGNTC) ? "when a UDP answer comes back truncated" : NULL;
}

/* Would the name server sa, asked over TCP (why), reach a tls or deny
 * rule's destination?  Then refused: an error line, h_errno NO_RECOVERY
 * (st's too, when there is one), errno ECONNREFUSED.  A look-up (lookup)
 * leaves alone a TLS-ruled server of the file unless every query goes
 * over TCP (usevc). */
static bool server_refused(res_state st, const struct sockaddr *sa, socklen_t len, const char *why, bool usevc,
			   const char *call, bool lookup)
{
	struct shim_verdict v;

	if ((sa->sa_family != AF_INET && sa->sa_family != AF_INET6) ||
	    !shim_resolve_connect(-1, sa, len, &v, NULL) || v.rule->action == POLICY_PLAIN ||
	    (lookup && !usevc && v.rule->action == POLICY_TLS && known_server(sa)))
		return false;
	log_error("%s rule \"%s\": %s() would ask this name server over TCP (%s) with the C"
		  " library's own calls, which the library does not see: the query would go in"
		  " clear where the policy says %s; refused", v.desc, v.rule->name, call, why,
		  v.rule->action == POLICY_DENY ? "deny" : "TLS");
	if (st)
		st->res_h_errno = NO_RECOVERY;
	h_errno = NO_RECOVERY;
	errno = ECONNREFUSED;
	return true;
}

/* RES_IGNTC that igntc_lend set in the thread's _res for its last
 * look-up taken back, before the state is judged or used by anything
 * else: the program's own options again (and glibc's reload of the file,
 * which a _res whose options differ from the file's never gets). */
/* A call of the thread's resolver from the wrapper whose frame is
 * frame: an outer look-up under way whose wrapper's frame is not above
 * it was left by a longjmp (an alarm's time-out around gethostbyname),
 * and is forgotten (shim_lookup_begin). */
static void lookup_gone(const void *frame)
{
	if (lookup_depth && (uintptr_t)frame >= lookup_frame)
		lookup_depth = 0;
}

static void igntc_take_back(res_state st)
{
	if (st == &_res && igntc_lent && !lookup_depth) {
		st->options &= ~(unsigned long)RES_IGNTC;
		igntc_lent = false;
	}
}

/* The name servers of st, as for a query of qlen bytes (one longer than
 * 512 bytes goes over TCP as with RES_USEVC: a look-up's known server
 * is refused then too). */
static bool tcp_refused(res_state st, size_t qlen, const char *call, bool lookup)
{
	const char *why;

	igntc_take_back(st);
	why = tcp_why(st->options, qlen);
	shim_ensure_init();
	if (!why || !shim_policy || !shim_policy->has[POLICY_CONNECT])
		return false;
	for (int n = 0; n < st->nscount && n < MAXNS; n++) {
		socklen_t len;
		const struct sockaddr *sa = name_server(st, n, &len);

		if (server_refused(st, sa, len, why, (st->options & RES_USEVC) || qlen > PACKETSZ, call, lookup))
			return true;
	}
	return false;
}

/* v: the file as the resolver would load it now, read again if it
 * changed; false when the library does not watch it (no tls or deny rule
 * may cover port 53).  Read before any state is judged: a server the
 * file names now is known (known[]) before a _res that glibc loaded
 * from it (the program's res_init) is looked at. */
static bool file_view(struct resolv_view *v)
{
	shim_ensure_init();     /* sets rconf_watch */
	if (!rconf_watch)
		return false;
	view_now(v);
	return true;
}

/* The name servers of the file v, for a call on the thread's _res (st),
 * or on a _res of a new thread (st NULL: getaddrinfo_a's helper), of a
 * query of qlen bytes (0: one the call builds): a _res not loaded yet,
 * or loaded before the file changed, is loaded from the file inside the
 * call.  A _res loaded while the file was the one read at start
 * (generation 1), or after this thread last checked the file, holds what
 * the file says (or what the program set): tcp_refused looks at it. */
static bool file_refused(res_state st, const struct resolv_view *v, size_t qlen, const char *call, bool lookup)
{
	bool usevc;

	if (st && (st->options & RES_INIT) && (v->gen == 1 || rconf_seen == v->gen))
		return false;
	/* RES_OPTIONS as it is now: the resolver reads it when it loads the
	 * file, at the process's first look-up too, after the program may
	 * have set it (the view read it at start, or at the file's change) */
	usevc = v->usevc || options_usevc(getenv("RES_OPTIONS"));
	for (int i = 0; i < v->n; i++)
		if (server_refused(st, (const struct sockaddr *)&v->ns[i], v->len[i],
				   qlen > PACKETSZ ? "a query longer than 512 bytes" :
				   usevc ? "options use-vc" : "when a UDP answer comes back truncated",
				   usevc || qlen > PACKETSZ, call, lookup))
			return true;
	if (st)
		rconf_seen = v->gen;
	return false;
}

/* RES_IGNTC set in st, when st has not got it and a tls rule names one
 * of its name servers on its port: true when set (the caller takes it
 * back when the call returns). */
static bool igntc_set(res_state st)
{
	struct shim_verdict v;

	if (!shim_policy || (st->options & RES_IGNTC))
		return false;
	for (int n = 0; n < st->nscount && n < MAXNS; n++) {
		socklen_t len;
		const struct sockaddr *sa = name_server(st, n, &len);

		if ((sa->sa_family == AF_INET || sa->sa_family == AF_INET6) &&
		    shim_resolve_connect(-1, sa, len, &v, NULL) && v.rule->action == POLICY_TLS) {
			st->options |= RES_IGNTC;
			return true;
		}
	}
	return false;
}

/* A look-up that goes on to ask a TLS-ruled name server of the file
 * over UDP must not ask it again over TCP when the answer comes back
 * truncated: the thread's _res gets RES_IGNTC for the look-up (glibc
 * then keeps the truncated answer, the records that fit), taken back
 * when the look-up returns (shim_resolver_done).  So that the look-up uses the _res judged here, glibc
 * loads it now, or loads the file again if it changed, as the look-up
 * would (res_mkquery builds a query in a buffer and sends nothing; it
 * goes through the same __resolv_context_get): a _res whose options
 * differ from the file's is never reloaded, so the look-up cannot load
 * another file without the flag.  The servers of st that a tls rule
 * names on their port get it (those a program set itself and the file's
 * a deny rule names were refused before).  The state may hold use-vc
 * after the load (the file changed again): checked again. */
static bool igntc_lend(res_state st, size_t qlen, const char *call)
{
	unsigned char q[PACKETSZ];

	if (!rconf_watch || !shim_policy)
		return false;
	(void)res_mkquery(QUERY, ".", C_IN, T_A, NULL, 0, NULL, q, sizeof q);
	if (!(st->options & RES_INIT))
		return false;
	if (igntc_set(st))
		igntc_lent = true;
	/* (tcp_refused takes the flag back first) */
	return ((st->options & RES_USEVC) || qlen > PACKETSZ) && tcp_refused(st, qlen, call, true);
}

/* getaddrinfo(), getnameinfo() and the gethostbyname and gethostbyaddr
 * families ask the thread's _res from inside the C library (nss_dns), as
 * does rcmd()'s own look-up.  Its name servers from /etc/resolv.conf that
 * a tls rule names were warned of (and a look-up may come from
 * /etc/hosts without any query): left alone, unless every query goes
 * over TCP (use-vc).  Any other, one the program set itself, is checked
 * as for res_query; and the file's, when the look-up would load it. */
static bool thread_refused_at(size_t qlen, const char *call, const void *frame)
{
	res_state st = &_res;
	struct resolv_view v;
	bool watched;

	lookup_gone(frame);
	igntc_take_back(st);
	watched = file_view(&v);
	return ((st->options & RES_INIT) && tcp_refused(st, qlen, call, true)) ||
	       (watched && file_refused(st, &v, qlen, call, true)) || igntc_lend(st, qlen, call);
}

bool shim_resolver_refused_at(const char *call, const void *frame)
{
	return thread_refused_at(0, call, frame);
}

/* Around the call that shim_resolver_refused() (or shim_lookup_refused())
 * let go (SHIM_LOOKUP): the RES_IGNTC it lent taken back when it
 * returns, before the program runs again.  Left until the thread's next
 * check, the program could take it for its own: one that saved
 * _res.options after a look-up and put them back after its res_query()
 * kept the flag for good, and its _res never followed the file again
 * (it asked a name server the file no longer named); one that set
 * RES_IGNTC itself lost it at its next call (tests/preload/
 * dns_resolvconf.sh, "restore", "ownigntc").
 *
 * A look-up made inside another of the same thread (an NSS module's
 * own, a signal handler's) neither judges the outer's flag as the
 * program's nor takes it back: the outer goes on with it.  It took the
 * flag back, and the outer asked a truncated answer again over TCP
 * ("nested").  An outer look-up left by a longjmp (an alarm's time-out
 * around gethostbyname) never ended: the next look-up whose wrapper's
 * frame is not below the outermost's (the stack grows down) takes its
 * place, and takes the flag back when it returns.  errno and h_errno are
 * left as the call set them. */
void shim_lookup_begin(const void *frame)
{
	lookup_gone(frame);
	if (!lookup_depth++)
		lookup_frame = (uintptr_t)frame;
}

void shim_lookup_end(void)
{
	if (lookup_depth && !--lookup_depth)
		igntc_take_back(&_res);
}

/* An address literal asks no one. */
static bool asks_name_server(const char *node)
{
	struct in6_addr a6;
	struct in_addr a4;

	return node && !inet_aton(node, &a4) && inet_pton(AF_INET6, node, &a6) != 1;
}

/* The same for a look-up of node. */
bool shim_lookup_refused_at(const char *node, const char *call, const void *frame)
{
	return asks_name_server(node) && shim_resolver_refused_at(call, frame);
}

/* The networks database, when nsswitch.conf names dns for it, asks the
 * thread's _res too (nss_dns: a PTR query for the name or the network):
 * refused as gethostbyname is. */
static int netent_r_refused(struct netent **result, int *err)
{
	if (result)
		*result = NULL;
	return shim_hostent_r_refused(NULL, err);
}

SHIM_EXPORT struct netent *getnetbyname(const char *name)
{
	return shim_resolver_refused("getnetbyname") ? NULL : SHIM_LOOKUP(REAL(getnetbyname)(name));
}

SHIM_EXPORT int getnetbyname_r(const char *name, struct netent *ret, char *buf, size_t buflen,
			       struct netent **result, int *err)
{
	return shim_resolver_refused("getnetbyname_r") ? netent_r_refused(result, err) :
	       SHIM_LOOKUP(REAL(getnetbyname_r)(name, ret, buf, buflen, result, err));
}

SHIM_EXPORT struct netent *getnetbyaddr(uint32_t net, int type)
{
	return shim_resolver_refused("getnetbyaddr") ? NULL : SHIM_LOOKUP(REAL(getnetbyaddr)(net, type));
}

SHIM_EXPORT int getnetbyaddr_r(uint32_t net, int type, struct netent *ret, char *buf, size_t buflen,
			       struct netent **result, int *err)
{
	return shim_resolver_refused("getnetbyaddr_r") ? netent_r_refused(result, err) :
	       SHIM_LOOKUP(REAL(getnetbyaddr_r)(net, type, ret, buf, buflen, result, err));
}

/* gethostid() without a 4-byte /etc/hostid looks the host's own name up
 * inside the C library (its internal gethostbyname_r, through nss_dns),
 * past every wrapper: a truncated UDP answer from a TLS-ruled name
 * server of the file was asked again over TCP, in clear.  Checked and
 * lent RES_IGNTC as gethostbyname is; refused: 0, as when its look-up
 * fails (errno ECONNREFUSED).  (Checked with /etc/hostid too: refused
 * there only where a look-up of a name would be.) */
SHIM_EXPORT long gethostid(void)
{
	return shim_resolver_refused("gethostid") ? 0 : SHIM_LOOKUP(REAL(gethostid)());
}

/* libresolv.so.2's res_gethostbyname, res_gethostbyname2 and
 * res_gethostbyaddr: compatibility symbols (programs linked before
 * glibc 2.26 call them) that ask the thread's _res inside libresolv,
 * past every wrapper: a truncated UDP answer from a TLS-ruled name
 * server of the file was asked again over TCP, in clear.  Checked and
 * lent RES_IGNTC as gethostbyname and gethostbyaddr are; refused: NULL,
 * h_errno NO_RECOVERY. */
SHIM_EXPORT struct hostent *res_gethostbyname2(const char *name, int af)
{
	struct hostent *(*next)(const char *, int) =
		(struct hostent *(*)(const char *, int))shim_compat_entry("res_gethostbyname2");

	return !next || shim_lookup_refused(name, "res_gethostbyname2") ? NULL : SHIM_LOOKUP(next(name, af));
}

SHIM_EXPORT struct hostent *res_gethostbyname(const char *name)
{
	struct hostent *(*next)(const char *) =
		(struct hostent *(*)(const char *))shim_compat_entry("res_gethostbyname");

	return !next || shim_lookup_refused(name, "res_gethostbyname") ? NULL : SHIM_LOOKUP(next(name));
}

SHIM_EXPORT struct hostent *res_gethostbyaddr(const void *addr, socklen_t len, int af)
{
	struct hostent *(*next)(const void *, socklen_t, int) =
		(struct hostent *(*)(const void *, socklen_t, int))shim_compat_entry("res_gethostbyaddr");

	return !next || shim_resolver_refused("res_gethostbyaddr") ? NULL : SHIM_LOOKUP(next(addr, len, af));
}

/* getaddrinfo_a() looks its names up in a helper thread of the C
 * library, with a _res of that thread's own: loaded from the file, never
 * the program's.  Refused as a whole (EAI_SYSTEM, errno ECONNREFUSED,
 * no request started) when a name of it would ask the file's servers
 * where a look-up is refused. */
SHIM_EXPORT int getaddrinfo_a(int mode, struct gaicb *list[], int nitems, struct sigevent *sevp)
{
	struct resolv_view v;
	int r;

	for (int i = 0; i < nitems; i++)
		if (list && list[i] && asks_name_server(list[i]->ar_name) && file_view(&v) &&
		    file_refused(NULL, &v, 0, "getaddrinfo_a", false))
			return EAI_SYSTEM;
	shim_gai_made(list, nitems);
	r = REAL(getaddrinfo_a)(mode, list, nitems, sevp);
	/* GAI_WAIT: the answers are there; GAI_NOWAIT: gai_error() learns
	 * them when it reports the end (shim/resolve.c). */
	for (int i = 0; mode == GAI_WAIT && list && i < nitems; i++)
		shim_gai_learned(list[i]);
	return r;
}

/* The look-ups of an address (a PTR query).  getnameinfo() asks only for
 * a host name not NI_NUMERICHOST of an IPv4 or IPv6 address (the service
 * comes from files); refused: EAI_SYSTEM, errno ECONNREFUSED, as
 * getaddrinfo().  The gethostbyaddr family: as gethostbyname's. */
SHIM_EXPORT int getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host, socklen_t hostlen,
			    char *serv, socklen_t servlen, int flags)
{
	if (sa && host && hostlen && !(flags & NI_NUMERICHOST) &&
	    (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)) {
		if (shim_resolver_refused("getnameinfo"))
			return EAI_SYSTEM;
		return SHIM_LOOKUP(REAL(getnameinfo)(sa, salen, host, hostlen, serv, servlen, flags));
	}
	return REAL(getnameinfo)(sa, salen, host, hostlen, serv, servlen, flags);
}

SHIM_EXPORT struct hostent *gethostbyaddr(const void *addr, socklen_t len, int type)
{
	return shim_resolver_refused("gethostbyaddr") ? NULL : SHIM_LOOKUP(REAL(gethostbyaddr)(addr, len, type));
}

SHIM_EXPORT int gethostbyaddr_r(const void *addr, socklen_t len, int type, struct hostent *ret, char *buf,
				size_t buflen, struct hostent **result, int *err)
{
	return shim_resolver_refused("gethostbyaddr_r") ? shim_hostent_r_refused(result, err) :
	       SHIM_LOOKUP(REAL(gethostbyaddr_r)(addr, len, type, ret, buf, buflen, result, err));
}

/* The program's res_init() while the library's RES_IGNTC is in _res
 * would load the file with it (glibc keeps the options a program set
 * before res_init), and once it is taken back the thread's _res would
 * differ from the file's and never follow the file again: taken back
 * first.  res_init() and res_ninit() load the file as it is now: the
 * library reads it too, if it changed, so that the name servers glibc
 * has just loaded from it are known as the file's (judged as the file's
 * at the next look-up, not as servers the program set itself: a file
 * that changed to name a TLS-ruled server, then res_init(), had the next
 * look-up refused).  (resolv.h names them __res_init and __res_ninit,
 * the names glibc exports.) */
SHIM_EXPORT int res_init(void)
{
	struct resolv_view v;
	int r;

	lookup_gone(__builtin_frame_address(0));
	igntc_take_back(&_res);
	r = REAL(__res_init)();
	(void)file_view(&v);
	return r;
}

SHIM_EXPORT int res_ninit(res_state st)
{
	struct resolv_view v;
	int r = REAL(__res_ninit)(st);

	(void)file_view(&v);
	return r;
}

/* The query calls on a state of the program's own (res_ninit, or one it
 * filled itself), which glibc uses as it is (no reload of the file): its
 * name servers judged as a look-up's (tcp_refused), then RES_IGNTC lent
 * in it for the call when a tls rule names one of them (igntc_set), so
 * that a truncated UDP answer is handed to the caller, TC bit set, and
 * not asked again over TCP in clear; taken back as the call returns.
 * RES_USEVC, or a query longer than 512 bytes, to such a server is
 * refused: glibc's own TCP connect is not the library's (the query
 * would go in clear, not in TLS). */
static bool own_refused(res_state st, size_t qlen, const char *call, const void *frame, bool *lent)
{
	struct resolv_view v;

	*lent = false;
	lookup_gone(frame);
	(void)file_view(&v);    /* a server of the file now is known */
	if (tcp_refused(st, qlen, call, true))
		return true;
	*lent = igntc_set(st);
	return false;
}

#define OWN_CALL(st, qlen, name, call) ({ \
	bool own_lent_; \
	int own_r_ = own_refused(st, qlen, name, __builtin_frame_address(0), &own_lent_) ? -1 : (call); \
	if (own_lent_) \
		(st)->options &= ~(unsigned long)RES_IGNTC; \
	own_r_; })

/* The calls without a state use the thread's _res, as a look-up does:
 * judged and lent RES_IGNTC as one (thread_refused_at, SHIM_LOOKUP). */
#define THREAD_CALL(qlen, name, call) \
	(thread_refused_at(qlen, name, __builtin_frame_address(0)) ? -1 : SHIM_LOOKUP(call))

/* The length of a query the program built (res_send). */
#define QLEN(mlen) ((mlen) > 0 ? (size_t)(mlen) : 0)

/* r, the answer's length (res_query and its family: larger than the
 * buffer when it was cut); its address records are learned
 * (shim_dns_learned), a name for those of the name asked: name (with
 * domain after it, res_querydomain's), or the question of the query msg
 * the program built (res_send), or for res_search also name with each
 * domain of the search list of st after it (as the resolver tries them;
 * one past the sixth, or an alias of HOSTALIASES, teaches no name). */
static int answered(int r, const unsigned char *ans, int len, const char *name, const char *domain,
		    const struct __res_state *st, const unsigned char *msg, int mlen)
{
	struct shim_dns_asked q;

	if (r <= 0 || !ans || !shim_policy || !shim_policy->has[POLICY_CONNECT])
		return r;
	q.n = 0;
	shim_dns_ask(&q, name, domain);
	shim_dns_ask_msg(&q, msg, mlen);
	if (st && name && *name && name[strlen(name) - 1] != '.')
		for (int i = 0; i < MAXDNSRCH && st->dnsrch[i]; i++)
			shim_dns_ask(&q, name, st->dnsrch[i]);
	shim_dns_learned(ans, r < len ? r : len, &q);
	return r;
}

/* Each function and the __res_ name glibc also exports for it (the
 * programs linked before glibc 2.34 call those).  GCC's copy() gives the
 * alias its target's attributes; clang, which builds the fuzz targets,
 * has no such attribute (nor GCC's warning of an alias that lacks them). */
#if defined(__has_attribute) && __has_attribute(copy)
#define RES_COPY(name) , copy(name)
#else
#define RES_COPY(name)
#endif
#define RES_ALIAS(name) \
	SHIM_EXPORT __typeof__(name) __##name __attribute__((alias(#name) RES_COPY(name)));

SHIM_EXPORT int res_nquery(res_state st, const char *dname, int class, int type, unsigned char *ans, int len)
{
	int r = OWN_CALL(st, 0, "res_nquery", REAL(res_nquery)(st, dname, class, type, ans, len));

	return answered(r, ans, len, dname, NULL, NULL, NULL, 0);
}
RES_ALIAS(res_nquery)

SHIM_EXPORT int res_nsearch(res_state st, const char *dname, int class, int type, unsigned char *ans, int len)
{
	int r = OWN_CALL(st, 0, "res_nsearch", REAL(res_nsearch)(st, dname, class, type, ans, len));

	return answered(r, ans, len, dname, NULL, st, NULL, 0);
}
RES_ALIAS(res_nsearch)

SHIM_EXPORT int res_nquerydomain(res_state st, const char *name, const char *domain, int class, int type,
				 unsigned char *ans, int len)
{
	return answered(OWN_CALL(st, 0, "res_nquerydomain",
				 REAL(res_nquerydomain)(st, name, domain, class, type, ans, len)),
			ans, len, name, domain, NULL, NULL, 0);
}
RES_ALIAS(res_nquerydomain)

SHIM_EXPORT int res_nsend(res_state st, const unsigned char *msg, int mlen, unsigned char *ans, int alen)
{
	int r = OWN_CALL(st, QLEN(mlen), "res_nsend", REAL(res_nsend)(st, msg, mlen, ans, alen));

	return answered(r, ans, alen, NULL, NULL, NULL, msg, mlen);
}
RES_ALIAS(res_nsend)

SHIM_EXPORT int res_query(const char *dname, int class, int type, unsigned char *ans, int len)
{
	return answered(THREAD_CALL(0, "res_query", REAL(res_query)(dname, class, type, ans, len)),
			ans, len, dname, NULL, NULL, NULL, 0);
}
RES_ALIAS(res_query)

SHIM_EXPORT int res_search(const char *dname, int class, int type, unsigned char *ans, int len)
{
	int r = THREAD_CALL(0, "res_search", REAL(res_search)(dname, class, type, ans, len));

	return answered(r, ans, len, dname, NULL, &_res, NULL, 0);
}
RES_ALIAS(res_search)

SHIM_EXPORT int res_querydomain(const char *name, const char *domain, int class, int type, unsigned char *ans,
				int len)
{
	return answered(THREAD_CALL(0, "res_querydomain", REAL(res_querydomain)(name, domain, class, type, ans, len)),
			ans, len, name, domain, NULL, NULL, 0);
}
RES_ALIAS(res_querydomain)

SHIM_EXPORT int res_send(const unsigned char *msg, int mlen, unsigned char *ans, int alen)
{
	return answered(THREAD_CALL(QLEN(mlen), "res_send", REAL(res_send)(msg, mlen, ans, alen)),
			ans, alen, NULL, NULL, NULL, msg, mlen);
}
RES_ALIAS(res_send)
