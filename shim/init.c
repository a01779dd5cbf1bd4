/* shim/init.c — start-up: resolve libc, read the environment, load the
 * policy.  A policy that cannot be used stops the program here, before
 * main() runs, so it never runs with plaintext where TLS was asked for.
 *
 * The first call that needs the policy initialises the library, from any
 * thread, even one that arrives before our constructor (another shared
 * library's constructor runs before a preloaded one's): calls never pass
 * through unchecked because the policy was not loaded yet.  The thread
 * that initialises may re-enter our wrappers (OpenSSL and libconfig open
 * and read files): those calls go straight to the C library. */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/auxv.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "core/alloc.h"
#include "core/errq.h"
#include "core/log.h"
#include "core/self.h"
#include "core/version.h"
#include "policy/file.h"
#include "policy/hashdir.h"
#include "policy/inspect.h"
#include "policy/ocsp.h"
#include "policy/keyholder.h"
#include "policy/reload.h"
#include "policy/resume.h"
#include "shim/shim.h"

#define EX_CONFIG 78
#define DEFAULT_POLICY "/etc/tlsshim.conf"

const struct policy *shim_policy;
_Atomic bool shim_ready;
_Atomic bool shim_exiting;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
__thread int shim_init_depth_ __attribute__((tls_model("initial-exec")));
/* The task (thread id) that initialises: a child made with CLONE_VM and
 * without CLONE_SETTLS shares its parent's thread pointer, so its
 * shim_init_depth_ is the parent thread's.  Without this, the parent's thread
 * would take the child's initialisation for its own re-entry, skip it,
 * and run unchecked before the policy is loaded. */
static pid_t init_task;

static bool initialising_here(void)
{
	return shim_init_depth_ > 0 &&
	       __atomic_load_n(&init_task, __ATOMIC_ACQUIRE) == gettid();
}

bool shim_initialising(void)
{
	return initialising_here();
}

static void stop_with(const struct policy_error *err, const char *what) __attribute__((noreturn));
static void refuse_to_start(const struct policy_error *err) __attribute__((noreturn));

static void refuse_to_start(const struct policy_error *err)
{
	stop_with(err, "refusing to start");
}

/* One line on standard error, one in the log ("WHAT: message"), exit 78. */
static void stop_with(const struct policy_error *err, const char *what)
{
	char line[1200], msg[1100];
	int n;

	policy_error_format(err, msg, sizeof msg);
	/* The file name came from the environment: control characters are
	 * escaped, as in log lines, so no forged line can follow. */
	n = snprintf(line, sizeof line, "tlsshim: ");
	for (const unsigned char *p = (const unsigned char *)msg; *p && n < (int)sizeof line - 6; p++)
		n += *p < 0x20 || *p == 0x7f ? snprintf(line + n, sizeof line - (size_t)n, "\\x%02x", *p)
					     : (line[n] = (char)*p, 1);
	line[n++] = '\n';
	log_stderr_write(line, (size_t)n);
	log_error("%s: %s", what, msg);
	REAL(_exit)(EX_CONFIG);
}

/* ---- programs that make their own system calls ---------------------------- */

/* An object of the process that Go's toolchain linked (policy/inspect.h,
 * GO_BUILDINFO_MAGIC): the Go runtime makes the system calls of its net
 * and os packages itself, never through the C library, so no wrapper of
 * ours sees its sockets: a connect to a TLS destination would send in
 * clear, an accept on a TLS port would serve plaintext.  The launcher
 * refuses such a program from its file; a program started with
 * LD_PRELOAD by hand, or exec'd by a shimmed one, is stopped here.
 * Read in memory: the segments are mapped (no sanitizer: the bytes are
 * the object's, not ours). */
__attribute__((no_sanitize("address")))
static bool load_segment_go(const unsigned char *a)
{
	static const char magic[] = GO_BUILDINFO_MAGIC;

	for (size_t i = 0; i < GO_BUILDINFO_LEN; i++)
		if (a[i] != (unsigned char)magic[i])
			return false;
	return true;
}

struct go_found {
	bool found;
	bool main_program;
	char name[256];
};

static int go_object_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct go_found *g = data;
	(void)size;

	for (size_t i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const unsigned char *a = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
		bool go = false;

		if (ph->p_type == PT_NOTE && ph->p_filesz >= 12)
			go = elf_notes_go(a, ph->p_filesz < 4096 ? ph->p_filesz : 4096, false);
		else if (ph->p_type == PT_LOAD && (ph->p_flags & (PF_W | PF_X)) == PF_W &&
			 ph->p_filesz >= GO_BUILDINFO_LEN)
			go = load_segment_go(a);
		else if (ph->p_type == PT_DYNAMIC)
			/* runtime/cgo's exports, in every Go object a dynamic
			 * program can hold (without cgo Go links statically):
			 * marks that a build without a build ID, whose
			 * .go.buildinfo is not where the first look finds it
			 * (c-shared), still carries. */
			go = shim_object_defines(info->dlpi_addr, (const ElfW(Dyn) *)a, "crosscall2") &&
			     shim_object_defines(info->dlpi_addr, (const ElfW(Dyn) *)a, "_cgo_topofstack");
		if (go) {
			g->found = true;
			g->main_program = !info->dlpi_name || !*info->dlpi_name;
			snprintf(g->name, sizeof g->name, "%s",
				 g->main_program ? program_invocation_name : info->dlpi_name);
			return 1;
		}
	}
	return 0;
}

static void refuse_go(const struct go_found *g, bool running)
{
	struct policy_error e = { .line = 0 };

	snprintf(e.file, sizeof e.file, "%s", g->name);
	snprintf(e.msg, sizeof e.msg, "a Go %s: its runtime makes its system calls itself, never through"
		 " the C library, so the library cannot see its sockets; %s: the policy asks for TLS, and"
		 " its connections would not be TLS", g->main_program ? "program" : "library",
		 running ? "the program that loaded it is stopped" : "not started");
	stop_with(&e, running ? "stopping the program" : "refusing to start");
}

bool shim_policy_has_tls(void)
{
	shim_ensure_init();
	return policy_has_tls(shim_policy);
}

/* A Go library about to be loaded with RTLD_DEEPBIND (shim/dlsym.c): its
 * constructor's pthread_create would bind to the C library's own, past
 * the look below, so it is judged from its file before the load. */
void shim_refuse_go_library(const char *path)
{
	struct go_found g = { .found = true, .main_program = false };

	shim_ensure_init();
	if (!policy_has_tls(shim_policy))
		return;
	snprintf(g.name, sizeof g.name, "%s", path);
	refuse_go(&g, atomic_load_explicit(&shim_ready, memory_order_acquire));
}

/* A Go library starts its runtime from its constructor on a thread of its
 * own (pthread_create), before that thread runs any Go code: one linked
 * at start does so before our constructor (another library's constructor
 * runs before a preloaded one's), one loaded with dlopen() at any time.
 * So every pthread_create() looks for a Go object among those loaded
 * since the last look (dl_iterate_phdr's count of loads: one callback
 * when nothing was loaded), and with one there the policy is loaded, if
 * it was not yet, and decides.  Nothing else is done here: no allocation
 * (an allocator may create a thread inside its own lock). */
static unsigned long long go_seen_adds;

static int adds_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	*(unsigned long long *)data = info->dlpi_adds;
	return 1;
}

struct first_object {
	unsigned long long adds;
	const char *name;
	const ElfW(Phdr) *phdr;
};

static int first_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct first_object *f = data;
	(void)size;

	f->adds = info->dlpi_adds;
	f->name = info->dlpi_name;
	f->phdr = info->dlpi_phdr;
	return 1;
}

/* The file mapped at ADDR, from /proc/self/maps: false without /proc,
 * or when the mapping has no file. */
static bool mapped_file(const void *addr, char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[PATH_MAX + 128];
	bool found = false;

	if (!f)
		return false;
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		int off = 0;

		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &off) < 2 || !off ||
		    (uintptr_t)addr < lo || (uintptr_t)addr >= hi)
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (line[off] == '/' && (size_t)snprintf(buf, len, "%s", line + off) < len)
			found = true;
		break;
	}
	fclose(f);
	return found;
}

/* At start, from the constructor (the policy loaded, with TLS rules).
 * The look counts as pthread_create's for the objects loaded so far.
 * The program's own file is read too (policy/inspect.h,
 * GO_BUILDINFO_SECTION): a Go archive linked into it by the system linker
 * may carry no mark in memory that can be found without scanning all its
 * data; its runtime starts from the program's constructor, after ours.
 * The program is the first object, its path empty (glibc 2.36 gives no
 * name when the loader was run as a program either).  When the kernel
 * loaded it: read through /proc/self/exe, else the path it was exec'd by.
 * "ld.so PROGRAM" (AT_BASE 0): /proc/self/exe names the loader; the file
 * mapped at the program's headers (/proc/self/maps), else AT_EXECFN,
 * else argv[0]. */
static void refuse_own_syscalls(void)
{
	struct go_found g = { .found = false };
	struct first_object first = { .adds = 0 };

	dl_iterate_phdr(first_cb, &first);
	dl_iterate_phdr(go_object_cb, &g);
	if (!g.found && first.name) {
		char own[PATH_MAX];
		int go;

		if (*first.name) {
			go = elf_file_sections_go(first.name);
		} else if (!getauxval(AT_BASE)) {
			/* "ld.so PROGRAM": the kernel ran the loader (no
			 * interpreter base), which /proc/self/exe names.  The
			 * program is the file mapped at its program headers;
			 * without /proc, AT_EXECFN (glibc 2.33 and later set it
			 * to the program's path), else argv[0]. */
			go = mapped_file(first.phdr, own, sizeof own) ? elf_file_sections_go(own) : -1;
			if (go < 0 && getauxval(AT_EXECFN))
				go = elf_file_sections_go((const char *)getauxval(AT_EXECFN));
			if (go < 0)
				go = elf_file_sections_go(program_invocation_name);
		} else {
			go = elf_file_sections_go("/proc/self/exe");
			if (go < 0 && getauxval(AT_EXECFN))
				go = elf_file_sections_go((const char *)getauxval(AT_EXECFN));
		}
		if (go > 0) {
			g.found = g.main_program = true;
			snprintf(g.name, sizeof g.name, "%s", program_invocation_name);
		}
	}
	if (g.found)
		refuse_go(&g, false);
	__atomic_store_n(&go_seen_adds, first.adds, __ATOMIC_RELAXED);
}

/* A child of fork() does not look until it has called dlopen: glibc does
 * not reset the loader's lock (dl_iterate_phdr's) in the child, so when
 * another thread of the parent was walking the objects at the fork (an
 * unwinder, say), the child's first look waited on that lock for ever.
 * The child holds what the parent held, which the parent judged when it
 * loaded it (a Go library's constructor creates its thread inside the
 * load); a dlopen of the child's own that returned means the lock is
 * free.  shim_dlopen_calls: counted by the dlopen trampoline
 * (shim/dlsym.c). */
unsigned long shim_dlopen_calls;
static bool child_skip;
static unsigned long child_skip_mark;

static void go_look_fork_child(void)
{
	child_skip_mark = __atomic_load_n(&shim_dlopen_calls, __ATOMIC_RELAXED);
	__atomic_store_n(&child_skip, true, __ATOMIC_RELAXED);
}

SHIM_EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	unsigned long long adds = 0;

	if (__atomic_load_n(&child_skip, __ATOMIC_RELAXED)) {
		if (__atomic_load_n(&shim_dlopen_calls, __ATOMIC_RELAXED) == child_skip_mark)
			return REAL(pthread_create)(t, attr, fn, arg);
		__atomic_store_n(&child_skip, false, __ATOMIC_RELAXED);
	}
	dl_iterate_phdr(adds_cb, &adds);
	if (adds != __atomic_load_n(&go_seen_adds, __ATOMIC_RELAXED)) {
		struct go_found g = { .found = false };

		dl_iterate_phdr(go_object_cb, &g);
		if (g.found && !initialising_here()) {
			/* Before the library's own start (a library linked with
			 * the program, from its constructor): the program has
			 * not started either. */
			bool running = atomic_load_explicit(&shim_ready, memory_order_acquire);

			shim_ensure_init();
			if (policy_has_tls(shim_policy))
				refuse_go(&g, running);
		}
		__atomic_store_n(&go_seen_adds, adds, __ATOMIC_RELAXED);
	}
	return REAL(pthread_create)(t, attr, fn, arg);
}

/* ---- one copy of the library per process ------------------------------------ */

/* Two copies (two builds or installs both in LD_PRELOAD) would each wrap
 * the program's calls, the first one's "real" calls going into the
 * second: TLS inside TLS, two connection tables, connections that hang.
 * Each copy exports this marker; the first to start stops the program
 * when it finds another object that defines it. */
SHIM_EXPORT const char *tlsshim_library_version(void)
{
	return "tlsshim " TLSSHIM_VERSION;
}

struct copy_found {
	bool found;
	char name[256];
};

static int other_copy_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct copy_found *c = data;
	const ElfW(Phdr) *dyn = NULL;
	/* A static object's address is this copy's for sure (an exported
	 * function's may be the first copy's, by interposition). */
	uintptr_t ours = (uintptr_t)&go_seen_adds;
	(void)size;

	for (size_t i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && ours >= start && ours - start < ph->p_memsz)
			return 0;       /* this copy */
		if (ph->p_type == PT_DYNAMIC)
			dyn = ph;
	}
	if (dyn && shim_object_defines(info->dlpi_addr, (const ElfW(Dyn) *)(info->dlpi_addr + dyn->p_vaddr),
				       "tlsshim_library_version")) {
		c->found = true;
		snprintf(c->name, sizeof c->name, "%s", info->dlpi_name);
		return 1;
	}
	return 0;
}

static void refuse_second_copy(void)
{
	struct copy_found c = { .found = false };
	struct policy_error e = { .line = 0 };
	Dl_info di;

	dl_iterate_phdr(other_copy_cb, &c);
	if (!c.found)
		return;
	snprintf(e.file, sizeof e.file, "%s", c.name);
	snprintf(e.msg, sizeof e.msg, "another copy of libtlsshim.so is loaded in this process (this one: %s):"
		 " each would wrap the other's calls; name the library once in LD_PRELOAD",
		 dladdr(&go_seen_adds, &di) && di.dli_fname ? di.dli_fname : "?");
	refuse_to_start(&e);
}

/* ---- client certificates from any public CA --------------------------------- */

/* An accept rule with require_client_cert whose ca is the system's store
 * of public CAs (the file or directory OpenSSL's defaults name, or the
 * ones SSL_CERT_FILE / SSL_CERT_DIR name) and no allow_* or pin_spki list
 * lets in anyone who holds a certificate from any public CA (a web
 * server's, bought or free): client authentication in name only.  Said
 * once at start, with the rule. */
static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

static bool system_store(const char *ca)
{
	return same_file(ca, X509_get_default_cert_file()) || same_file(ca, X509_get_default_cert_dir()) ||
	       same_file(ca, hashdir_system_file()) || same_file(ca, hashdir_system_dir());
}

static void warn_public_client_ca(const struct policy *p)
{
	for (size_t i = 0; i < p->nrules; i++) {
		const struct policy_rule *r = &p->rules[i];

		if (r->direction == POLICY_ACCEPT && r->action == POLICY_TLS && r->require_client_cert &&
		    !r->identity && system_store(r->ca))
			log_warn("rule \"%s\": require_client_cert with ca \"%s\", the system's store of"
				 " public CAs, and no allow_cn, allow_ou, allow_dns, allow_uri, allow_ip or"
				 " pin_spki: any client with a certificate from any public CA is let in; name"
				 " the CA that issues your clients' certificates, or an allow_ list",
				 r->name, r->ca);
	}
}

/* ---- private keys every user can read --------------------------------------- */

/* A key file that others can read (o+r) lets any local user impersonate
 * the rule's side.  Not refused (a key's mode is its owner's to choose,
 * and refusing would stop working services at an upgrade); said once at
 * start per file. */
static void warn_key_readable(const struct policy_rule *r, const char *key)
{
	struct stat st;

	if (key && strncmp(key, "pkcs11:", 7) && stat(key, &st) == 0 && (st.st_mode & S_IROTH))
		log_warn("rule \"%s\": private key \"%s\" is readable by every user (mode %04o):"
			 " anyone on this machine can take it and pose as this side; chmod o-r",
			 r->name, key, (unsigned)(st.st_mode & 07777));
}

static void warn_keys_readable(const struct policy *p)
{
	for (size_t i = 0; i < p->nrules; i++) {
		const struct policy_rule *r = &p->rules[i];

		if (r->action != POLICY_TLS)
			continue;
		warn_key_readable(r, r->key);
		for (size_t k = 0; k < r->ncerts; k++)
			warn_key_readable(r, r->certs[k].key);
	}
}

/* fork(): no lock of ours may be held across it (a thread holding the
 * registry lock would leave it locked forever in the child), and the
 * child is a new owner for sessions it uses from now on. */
static void before_fork(void)
{
	shim_sock_shared();     /* the child holds every socket too */
	/* The global lock order (docs/locking.md). */
	shim_classify_fork_lock();
	shim_epoll_fork_lock();
	conntab_fork_lock();
	shim_linger_fork_lock();
	shim_names_fork_lock();
	shim_resolver_fork_lock();
	shim_own_fork_lock();
	resume_fork_lock();
	ocsp_fork_lock();
	policy_reload_fork_lock(shim_policy);
	shim_dlsym_fork_lock();
}

/* The same locks, released in the same order; in the child the lock
 * words of ours also forget the parent's threads that were waiting
 * (core/lock.h: xlock_fork_child). */
static void release_after_fork(bool child)
{
	shim_dlsym_fork_unlock();
	ocsp_fork_unlock(child);
	policy_reload_fork_unlock(shim_policy, child);
	resume_fork_unlock(child);
	shim_own_fork_unlock(child);
	shim_resolver_fork_unlock();
	shim_names_fork_unlock();
	shim_linger_fork_unlock();
	conntab_fork_unlock(child);
	shim_epoll_fork_unlock();
	shim_classify_fork_unlock(child);
}

static void after_fork_parent(void)
{
	release_after_fork(false);
}

/* The key holder's connections (kh_socket) of the requests that the
 * parent's threads had under way: a fork() of a signal handler that
 * interrupted one (another thread's fork waits for the handshake's lock)
 * left it in the child for its whole life, a descriptor of ours that the
 * child's program cannot even close.  Closing the child's copy leaves the
 * parent's request as it was; a child that goes on with its copy of the
 * interrupted request finds its connection gone (kh_lost). */
static void kh_moved(int from, int to);

static void kh_fork_child(void)
{
	shim_own_close_moved(kh_moved);
}

static void after_fork_child(void)
{
	go_look_fork_child();
	shim_forked();
	release_after_fork(true);
	kh_fork_child();
	shim_epoll_fork_child();
	shim_wait_fork_child();
	resume_fork_child();
	ocsp_fork_child();
	policy_reload_fork_child(shim_policy);
	shim_pump_after_fork_child();
	shim_linger_fork_child();
	shim_env_swap_fork_child();
}

/* A clone() that copies the process (no CLONE_VM, no CLONE_THREAD) made
 * past the C library's fork(): syscall(SYS_clone) or clone() (vsftpd's
 * isolated children).  The C library runs no fork handler for it, so the
 * library runs its own around it (shim/process.c, shim/syscall.c): a
 * child must not inherit a lock that another thread held at that moment.
 * The linger thread holds its lock for a moment after it starts, which is
 * at the first TLS connection, and vsftpd clones right after its
 * accept(): the session process waited for ever on that lock at its first
 * data connection (the client timed out after "230 Login successful"). */
static bool fork_handlers;     /* registered (the library started) */

void shim_forked(void)
{
	self_forked();
	log_fork_child();
}

void shim_fork_prepare(void)
{
	if (__atomic_load_n(&fork_handlers, __ATOMIC_ACQUIRE))
		before_fork();
}

void shim_fork_parent(void)
{
	int e = errno;

	if (__atomic_load_n(&fork_handlers, __ATOMIC_ACQUIRE))
		after_fork_parent();
	errno = e;
}

void shim_fork_child(void)
{
	if (__atomic_load_n(&fork_handlers, __ATOMIC_ACQUIRE))
		after_fork_child();
	else
		shim_forked();
}

/* The policy's run-time lines (OCSP staples, the system store): levels as core/log.h's. */
static void ocsp_log(int level, const char *msg)
{
	log_msg(level <= LOG_ERROR ? LOG_ERROR : level >= LOG_DEBUG ? LOG_DEBUG : (enum log_level)level, "%s", msg);
}

static void keyholder_log(const char *msg)
{
	log_error("%s", msg);
}

/* The connection to the key holder is one of the library's own
 * descriptors (own.c): it used to take the lowest free number, so a
 * program's stray close() or closefrom() in another thread during a
 * handshake closed it, the number went to the program's next file, and
 * the client then closed that file (or sent the token into it).  Now the
 * program's close says EBADF, closefrom closes around it, and a dup2 onto
 * it moves ours away (kh_moved closes the copy; kh_lost tells the client). */
static void kh_moved(int from, int to)
{
	(void)from;
	shim_own_close(to);
}

static int kh_socket(int domain, int type, int proto)
{
	return shim_own_socket(domain, type, proto, kh_moved);
}

static int kh_close(int fd)
{
	shim_own_close(fd);
	return 0;
}

static bool kh_lost(int fd)
{
	return !shim_is_own(fd);
}

/* The key holder's client (policy/keyholder.c) calls the C library
 * itself, never our wrappers: it runs inside a handshake. */
static void keyholder_setup(void)
{
	struct keyholder_io io = {
		.socket = kh_socket, .connect = real.connect, .send = real.send, .recv = real.recv,
		.close = kh_close, .setsockopt = real.setsockopt, .getsockopt = real.getsockopt,
		.log_error = keyholder_log, .syscall = real.syscall, .lost = kh_lost,
	};

	keyholder_set_io(&io);
}

/* The root directory the process starts in: every file of the policy is
 * named from it from now on (policy/file.h), whatever root the program
 * chroot()s or pivots to later, and in whatever mount namespace. */
static int start_root = -1;

/* The log file opened again by name (core/log.c: its descriptor was
 * closed or replaced behind the library's back), from the start root as
 * the policy's files are (policy_open_how): after chroot(JAIL) the name
 * named the jail's file (whoever can write the jail chose where the
 * library's lines went: a file of theirs, a link).  A name that needs a
 * magic link (TLSSHIM_LOG_FILE=/dev/stderr), a relative name, or a kernel
 * without openat2 is opened as given only while the root is still the
 * start root; else EXDEV (the line goes nowhere).  Async-signal-safe:
 * system calls and atomics only. */
static int log_reopen(const char *path, int flags, mode_t mode)
{
	return policy_open_how(path, flags, mode, POLICY_OPEN_NAMED);
}

/* The file fd (the log's private copy of standard error: a terminal or a
 * pipe) opened again, O_WRONLY|O_NONBLOCK, for one line (core/log.c): a
 * file description of the library's own, whose flags are not the
 * program's, so the write can say EAGAIN instead of waiting.  Through
 * /proc/self/fd/FD of the start root's procfs (policy_open_proc: after a
 * chroot the path could name the jail's file; the log checks the
 * identity too), at the library's own high numbers, both the directory
 * and the file (shim_own_move: the lowest free number is the program's
 * next socket's).  -1 when there is none (EXDEV: what was opened as the
 * directory was no procfs).  Async-signal-safe: system calls only. */
static int log_nonblock(int fd)
{
	char name[12], *p = name + sizeof name;
	int d, r, e;

	if (fd < 0)
		return -1;
	*--p = '\0';
	do
		*--p = (char)('0' + fd % 10);
	while ((fd /= 10) && p > name);
	if ((d = policy_open_proc("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	r = shim_own_move(REAL(openat)(d, p, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
	e = errno;
	policy_close_path(d);
	errno = e;
	return r;
}

static void root_setup(void)
{
	int fd;

	policy_fd_ops_set(shim_open_own, shim_close_own);
	fd = REAL(open)("/", O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return;
	shim_own_cell(fd, &start_root);
	policy_root_set(&start_root, shim_openat2);
	log_open_set(log_reopen);
	log_nonblock_set(log_nonblock);
	shim_exec_prime();
}

bool shim_root_moved(void)
{
	int fd = __atomic_load_n(&start_root, __ATOMIC_RELAXED);
	struct stat a, b;

	return fd >= 0 && fstat(fd, &a) == 0 && stat("/", &b) == 0 &&
	       (a.st_dev != b.st_dev || a.st_ino != b.st_ino);
}

static void do_init(void)
{
	/* In secure-execution mode (set-user-ID programs) the environment is
	 * the caller's: secure_getenv() ignores it, so a setuid program never
	 * reads a policy or writes a log file an unprivileged user named. */
	const char *path = secure_getenv("TLSSHIM_CONFIG");
	struct policy_error err;
	struct policy *p;

	shim_init_depth_++;
	__atomic_store_n(&init_task, gettid(), __ATOMIC_RELEASE);
	real_init();
	log_fd_dup_set(shim_own_copy);
	if (conntab_init() < 0) {
		struct policy_error e = { .line = 0 };
		snprintf(e.file, sizeof e.file, "%s", path ? path : DEFAULT_POLICY);
		snprintf(e.msg, sizeof e.msg, "cannot allocate the connection table");
		refuse_to_start(&e);
	}
	log_init(shim_own_cell);
	errq_resolve();
	shim_signal_init();
	shim_wait_init();
	shim_getpid_init();
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
	__atomic_store_n(&fork_handlers, true, __ATOMIC_RELEASE);
	if (getenv("TLSSHIM_CONFIG") && !path)
		log_warn("secure-execution mode (set-user-ID or set-group-ID program): TLSSHIM_CONFIG"
			 " and TLSSHIM_LOG_FILE from the environment are ignored");
	if (!path || !*path) {
		struct stat st;

		/* Only a file that is not there at all means inactive.  One
		 * that cannot be reached (a directory on its path we may not
		 * search, a dangling symbolic link) is an error, as for a
		 * TLSSHIM_CONFIG: policy_load says why and we refuse to start.
		 * lstat, not access(): that asks with the real user id, which
		 * a set-user-ID program under /etc/ld.so.preload is not. */
		if (lstat(DEFAULT_POLICY, &st) != 0 && (errno == ENOENT || errno == ENOTDIR)) {
			log_info("TLSSHIM_CONFIG is not set and %s does not exist: inactive,"
				 " every socket stays plain", DEFAULT_POLICY);
			goto done;
		}
		path = DEFAULT_POLICY;
	}
	/* Before the policy's first OpenSSL call: OpenSSL's allocations go
	 * through us, so that a pump can take them from a heap of its own. */
	if (!alloc_install())
		log_debug("OpenSSL allocated before the shim started: a pump process will allocate"
			  " with malloc (docs/fork.md, \"Locks in the pump\")");
	ocsp_set_logger(ocsp_log);
	hashdir_set_logger(ocsp_log);
	keyholder_setup();
	root_setup();
	/* The system store's SSL_CERT_FILE and SSL_CERT_DIR: as the
	 * process got them from execve (another library's constructor may
	 * have set them already: hashdir.h). */
	hashdir_system_capture();
	p = policy_load(path, &err);
	if (!p)
		refuse_to_start(&err);
	shim_policy = p;
	log_info("policy %s: %zu rule%s loaded", path, p->nrules, p->nrules == 1 ? "" : "s");
	refuse_second_copy();
	if (policy_has_tls(p)) {
		refuse_own_syscalls();
		if (p->has[POLICY_CONNECT])
			shim_resolver_setup(p);
		if (p->has[POLICY_ACCEPT])
			warn_public_client_ca(p);
		warn_keys_readable(p);
		/* Only the engine reads the count; without a TLS rule the
		 * process never touches OpenSSL's error queue (policy_load). */
		if (errq_init())
			log_debug("OpenSSL error queue: pushes counted, empty queues not looked at");
		else
			log_debug("OpenSSL error queue: pushes not all seen (OpenSSL %s): looked at on"
				  " every call", OpenSSL_version(OPENSSL_VERSION));
	}
	/* atexit runs in reverse: close_notify first, then the linger wait. */
	shim_linger_install();
	shim_exit_handler_install();
done:
	atomic_store_explicit(&shim_ready, true, memory_order_release);
	/* Inherited sockets (inetd style, exec'd services) are classified now,
	 * before the program can touch them. */
	if (shim_policy)
		shim_adopt_inherited();
	__atomic_store_n(&init_task, 0, __ATOMIC_RELEASE);
	shim_init_depth_--;
}

void shim_init_slow(void)
{
	if (initialising_here())
		return;         /* our own calls while initialising */
	pthread_once(&init_once, do_init);
}

__attribute__((constructor)) static void shim_init(void)
{
	/* The page for our id is made here only, by the process the program
	 * started in, before the policy's OpenSSL calls: a first call from
	 * another library's constructor may come from a CLONE_VM child of
	 * the process (and any flag telling "the constructor runs" would be
	 * in memory that child shares), which would store its own id in the
	 * page it shares (core/self.c). */
	self_init();
	shim_ensure_init();
}
