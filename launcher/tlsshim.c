/* launcher/tlsshim.c — run a program under the shim.
 *
 *   tlsshim [-c POLICY] [-v|-q] [--force] -- PROGRAM [ARGS...]
 *   tlsshim --check POLICY
 *
 * The policy is loaded here with the very code the library uses, so a bad
 * policy stops before the program starts (status 78, EX_CONFIG) instead
 * of in the middle of its start-up.  While it has a rule with action tls,
 * a program the preloaded library cannot reach (statically linked, of
 * another ELF class or machine, set-user-ID or set-group-ID: inspect.c)
 * is refused with status 78 too, unless --force.  Then TLSSHIM_CONFIG and
 * LD_PRELOAD are set to absolute paths (the program may chdir, and so may
 * its children) and the program is exec'd: the launcher leaves no process
 * behind.
 *
 * A policy with key_holder rules gets a key-holder process first
 * (launcher/holder.c), which the program reaches through
 * TLSSHIM_KEY_HOLDER.
 *
 * Exit status: 64 usage, 71 the key holder could not start, 78 policy or
 * unreachable program, 127 library or program not found or not
 * executable; otherwise the program's own.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/version.h"
#include "launcher/holder.h"
#include "policy/inspect.h"
#include "policy/keyholder.h"
#include "policy/policy.h"

#define DEFAULT_POLICY "/etc/tlsshim.conf"
#define EX_USAGE_ 64
#define EX_CONFIG_ 78
#define EX_OSERR_ 71
#define EX_NOTFOUND 127

static void usage(FILE *f)
{
	fputs("usage: tlsshim [-c POLICY] [-v|-q] [--force] [--] PROGRAM [ARGS...]\n"
	      "       tlsshim --check POLICY\n"
	      "\n"
	      "Run PROGRAM with its TCP sockets turned into TLS connections as POLICY says.\n"
	      "\n"
	      "  -c, --config POLICY  policy file (default: $TLSSHIM_CONFIG, else " DEFAULT_POLICY ")\n"
	      "  -v, --verbose        log at level info (-vv: debug)\n"
	      "  -q, --quiet          log errors only\n"
	      "      --force          run PROGRAM even if the library cannot reach it (static,\n"
	      "                       32-bit, set-user-ID, ...): its connections stay plain\n"
	      "      --check POLICY   validate POLICY and exit (0: valid, 78: invalid)\n"
	      "  -h, --help           show this help\n"
	      "      --version        show the version\n"
	      "\n"
	      "Environment: TLSSHIM_LIBRARY (the library to preload), TLSSHIM_LOG, TLSSHIM_LOG_FILE.\n",
	      f);
}

static int usage_error(const char *msg)
{
	if (msg)
		fprintf(stderr, "tlsshim: %s\n", msg);
	usage(stderr);
	return EX_USAGE_;
}

/* path made absolute against the current directory; symbolic links are
 * kept, so a policy behind a link that is later switched stays a link. */
static char *absolute(const char *path)
{
	char *cwd, *out = NULL;

	if (path[0] == '/')
		return strdup(path);
	if (!(cwd = getcwd(NULL, 0)))
		return NULL;
	if (asprintf(&out, "%s/%s", cwd, path[0] == '.' && path[1] == '/' ? path + 2 : path) < 0)
		out = NULL;
	free(cwd);
	return out;
}

/* Load the policy, or say why not (in the same form as the shim does). */
static struct policy *load_policy(const char *path)
{
	struct policy_error err;
	struct policy *p = policy_load(path, &err);
	char buf[sizeof(err.file) + sizeof(err.msg) + 32];

	if (!p) {
		policy_error_format(&err, buf, sizeof(buf));
		fprintf(stderr, "tlsshim: %s\n", buf);
	}
	return p;
}

static int check_only(const char *path)
{
	struct policy *p;

	keyholder_local_keys = true;    /* key_holder rules' keys are checked too */
	p = load_policy(path);

	if (!p)
		return EX_CONFIG_;
	printf("%s: OK (%zu rule%s)\n", path, p->nrules, p->nrules == 1 ? "" : "s");
	policy_free(p);
	return 0;
}

static bool readable(const char *path)
{
	return path && access(path, R_OK) == 0;
}

/* $TLSSHIM_LIBRARY, else next to the launcher, else ../lib (installed). */
static char *find_library(void)
{
	const char *env = getenv("TLSSHIM_LIBRARY");
	char exe[PATH_MAX], *slash, *cand = NULL;
	ssize_t n;

	if (env && *env) {
		if (!readable(env)) {
			fprintf(stderr, "tlsshim: TLSSHIM_LIBRARY=%s: %s\n", env, strerror(errno));
			return NULL;
		}
		return absolute(env);
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		if ((slash = strrchr(exe, '/')))
			*slash = '\0';
		if (asprintf(&cand, "%s/libtlsshim.so", exe) >= 0 && readable(cand))
			return cand;
		free(cand);
		if (asprintf(&cand, "%s/../lib/libtlsshim.so", exe) >= 0 && readable(cand))
			return cand;
		free(cand);
		fprintf(stderr, "tlsshim: libtlsshim.so not found in %s or %s/../lib"
			" (set TLSSHIM_LIBRARY)\n", exe, exe);
		return NULL;
	}
	fprintf(stderr, "tlsshim: cannot find libtlsshim.so: /proc/self/exe: %s"
		" (set TLSSHIM_LIBRARY)\n", strerror(errno));
	return NULL;
}

/* ld.so splits LD_PRELOAD at spaces and colons. */
static bool preload_token_ok(const char *lib)
{
	return !strpbrk(lib, " :\t\n");
}

/* Is the LD_PRELOAD entry e (n bytes) the file lib (the same name, or
 * the same file under another name: ld.so loads a file once)?  1: yes;
 * -1: another copy of the library, a file by its name that is not lib
 * (another build or install); 0: neither. */
static int preload_entry(const char *e, size_t n, const char *lib)
{
	const char *base = strrchr(lib, '/') ? strrchr(lib, '/') + 1 : lib;
	size_t blen = strlen(base);
	struct stat a, b;
	char path[PATH_MAX];
	bool same_name, ok;
	int fd;

	if (n == strlen(lib) && strncmp(e, lib, n) == 0)
		return 1;
	/* A bare name is looked up by ld.so in its own paths: not judged. */
	if (!memchr(e, '/', n) || n >= sizeof path)
		return 0;
	memcpy(path, e, n);
	path[n] = '\0';
	/* One ld.so cannot load (missing, unreadable, a directory) is said
	 * by it and skipped: not another copy.  Without waiting (a FIFO). */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)) < 0)
		return 0;
	ok = fstat(fd, &a) == 0 && S_ISREG(a.st_mode);
	close(fd);
	if (!ok)
		return 0;
	if (stat(lib, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		return 1;
	same_name = n >= blen && strcmp(path + n - blen, base) == 0 && (n == blen || path[n - blen - 1] == '/');
	return same_name ? -1 : 0;
}

/* -1: another copy is in list (*other, *olen), wherever it is; else 1:
 * lib is in it already; 0: neither.  The whole list is read: lib first
 * and another copy after it are two copies all the same. */
static int preload_has(const char *list, const char *lib, const char **other, size_t *olen)
{
	const char *s = list;
	int found = 0;

	while (*s) {
		size_t len;
		int r;

		s += strspn(s, " :\t\n");
		len = strcspn(s, " :\t\n");
		if (len && (r = preload_entry(s, len, lib)) != 0) {
			if (r < 0) {
				*other = s;
				*olen = len;
				return -1;
			}
			found = 1;
		}
		s += len;
	}
	return found;
}

/* Our library goes last: whatever was preloaded first (a sanitizer
 * runtime must be) stays first.  Another copy of the library there is
 * refused (false, errno 0, said on stderr): both copies would wrap the
 * program's calls, one inside the other (TLS inside TLS), each with its
 * own tables and descriptors unknown to the other. */
static bool set_preload(const char *lib)
{
	const char *old = getenv("LD_PRELOAD"), *other = NULL;
	char *val = NULL;
	size_t olen = 0;
	int rc;

	if (old && old[strspn(old, " :\t\n")] != '\0') {
		rc = preload_has(old, lib, &other, &olen);
		if (rc > 0)
			return true;
		if (rc < 0) {
			fprintf(stderr, "tlsshim: LD_PRELOAD already holds another %s (%.*s): two copies in one"
				" program would wrap its sockets twice; remove it from LD_PRELOAD\n",
				strrchr(lib, '/') ? strrchr(lib, '/') + 1 : lib, (int)olen, other);
			errno = 0;
			return false;
		}
		if (asprintf(&val, "%s %s", old, lib) < 0)
			return false;
		rc = setenv("LD_PRELOAD", val, 1);
		free(val);
		return rc == 0;
	}
	return setenv("LD_PRELOAD", lib, 1) == 0;
}

/* A program that must run without the library (UNREACH_BARE): the
 * library leaves LD_PRELOAD, also when the caller's environment had it
 * there already (the library would stop a Go program; musl's loader
 * cannot load it): lib, the same file, another copy (preload_entry) or
 * lib's file name alone (ld.so searches for it); the other entries stay,
 * in their order. */
static bool drop_preload(const char *lib)
{
	const char *old = getenv("LD_PRELOAD"), *s;
	const char *base = strrchr(lib, '/') ? strrchr(lib, '/') + 1 : lib;
	char *val;
	size_t n = 0;
	int rc;

	if (!old)
		return true;
	if (!(val = malloc(strlen(old) + 1)))
		return false;
	for (s = old; *s;) {
		size_t len;

		s += strspn(s, " :\t\n");
		len = strcspn(s, " :\t\n");
		if (len && preload_entry(s, len, lib) == 0 &&
		    (memchr(s, '/', len) || len != strlen(base) || strncmp(s, base, len))) {
			if (n)
				val[n++] = ' ';
			memcpy(val + n, s, len);
			n += len;
		}
		s += len;
	}
	val[n] = '\0';
	rc = n ? setenv("LD_PRELOAD", val, 1) : unsetenv("LD_PRELOAD");
	free(val);
	return rc == 0;
}

struct opts {
	const char *policy;
	int verbose;
	bool quiet;
	bool force;
	const char *check;
};

enum { OPT_CHECK = 256, OPT_VERSION, OPT_FORCE };

/* Returns -1 to go on, else an exit status. */
static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "check", required_argument, NULL, OPT_CHECK },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	/* "+": options end at PROGRAM, whose own options are its own. */
	while ((c = getopt_long(argc, argv, "+:c:vqh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->policy = optarg; break;
		case 'v': o->verbose++; break;
		case 'q': o->quiet = true; break;
		case OPT_CHECK: o->check = optarg; break;
		case OPT_FORCE: o->force = true; break;
		case 'h': usage(stdout); return 0;
		case OPT_VERSION: puts("tlsshim " TLSSHIM_VERSION); return 0;
		case ':': return usage_error("option requires an argument");
		default: return usage_error("unknown option");
		}
	}
	if ((o->policy && !*o->policy) || (o->check && !*o->check))
		return usage_error("empty policy file name");
	if (o->verbose && o->quiet)
		return usage_error("-v and -q exclude each other");
	if (o->check && (o->policy || optind < argc || o->verbose || o->quiet || o->force))
		return usage_error("--check takes only the policy file");
	if (!o->check && optind >= argc)
		return usage_error("no program to run");
	return -1;
}

static bool set_log_level(const struct opts *o)
{
	if (o->quiet)
		return setenv("TLSSHIM_LOG", "error", 1) == 0;
	if (o->verbose)
		return setenv("TLSSHIM_LOG", o->verbose > 1 ? "debug" : "info", 1) == 0;
	return true;
}

/* While the policy asks for TLS, a program the library cannot reach
 * would run with plain sockets: refuse it (78), or with --force say so
 * and go on.  -1: go on.  *bare: --force and a program the library must
 * not be preloaded into (UNREACH_BARE: Go, musl): it runs without it.
 * *judged: the file judged (malloc'd), which is then the one executed:
 * execvp would go on to the next match in PATH when this one fails with
 * ENOENT (a #! interpreter or a loader that is not there), and run a
 * program no one looked at. */
static int check_reach(const struct opts *o, const char *prog, const char *lib, bool *bare, char **judged)
{
	const char *libname = strrchr(lib, '/') ? strrchr(lib, '/') + 1 : lib;
	struct elf_id libid;
	char why[1200], *path;
	int rc = -1, u;

	if (elf_identity(lib, &libid, why, sizeof(why)) != 0) {
		fprintf(stderr, "tlsshim: %s: %s\n", lib, why);
		return EX_NOTFOUND;
	}
	if (!(path = resolve_program(prog)))
		return -1;              /* execvp will say it is not found */
	if ((u = unreachable(path, &libid, libname, why, sizeof(why)))) {
		if (o->force) {
			*bare = u == UNREACH_BARE;
			fprintf(stderr, "tlsshim: warning: %s: %s; running it anyway (--force%s):"
				" its connections are NOT protected by TLS\n", path, why,
				*bare ? ", without the library" : "");
		} else {
			fprintf(stderr, "tlsshim: %s: %s; not started, its connections would not be TLS"
				" (--force runs it anyway)\n", path, why);
			rc = EX_CONFIG_;
		}
	}
	if (rc < 0)
		*judged = path;
	else
		free(path);
	return rc;
}

static int run(const struct opts *o, char **prog)
{
	const char *path = o->policy;
	struct policy *p;
	char *abs_policy, *lib, holder[KH_NAME_MAX + 2 * KH_TOKEN_LEN + 2];
	bool tls, bare = false;
	char *judged = NULL;
	int rc;

	if (!path)
		path = getenv("TLSSHIM_CONFIG");
	if (!path || !*path)
		path = DEFAULT_POLICY;
	/* Keys of key_holder rules are loaded here, for the holder this
	 * process forks; its own copy goes with the exec. */
	keyholder_local_keys = true;
	if (!(p = load_policy(path)))
		return EX_CONFIG_;
	tls = policy_has_tls(p);
	if (!(lib = find_library())) {
		policy_free(p);
		return EX_NOTFOUND;
	}
	if (!preload_token_ok(lib)) {
		fprintf(stderr, "tlsshim: %s: a preloaded library's path cannot hold spaces or colons\n", lib);
		policy_free(p);
		return EX_NOTFOUND;
	}
	if (tls && (rc = check_reach(o, prog[0], lib, &bare, &judged)) >= 0) {
		free(lib);
		policy_free(p);
		return rc;
	}
	/* The log level first: the holder reads it. */
	if (!set_log_level(o)) {
		fprintf(stderr, "tlsshim: cannot set up the environment: %s\n", strerror(errno));
		return EX_NOTFOUND;
	}
	unsetenv(KH_ENV);
	if (holder_needed(p)) {
		if (holder_start(p, holder, sizeof holder) != 0) {
			policy_free(p);
			return EX_OSERR_;
		}
		if (setenv(KH_ENV, holder, 1) != 0) {
			fprintf(stderr, "tlsshim: cannot set up the environment: %s\n", strerror(errno));
			return EX_NOTFOUND;
		}
	}
	policy_free(p);
	if (!(abs_policy = absolute(path)) || setenv("TLSSHIM_CONFIG", abs_policy, 1) != 0 ||
	    !(bare ? drop_preload(lib) : set_preload(lib))) {
		if (errno)
			fprintf(stderr, "tlsshim: cannot set up the environment: %s\n", strerror(errno));
		return EX_NOTFOUND;
	}
	free(abs_policy);
	free(lib);
	/* The judged file holds a slash: execvp runs that file and no other
	 * (no PATH search), and still hands a file without #! to /bin/sh. */
	execvp(judged ? judged : prog[0], prog);
	fprintf(stderr, "tlsshim: %s: %s\n", judged ? judged : prog[0], strerror(errno));
	return EX_NOTFOUND;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	int rc = parse_args(argc, argv, &o);

	if (rc >= 0)
		return rc;
	if (o.check)
		return check_only(o.check);
	return run(&o, argv + optind);
}
