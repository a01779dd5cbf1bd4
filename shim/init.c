/* shim/init.c — start-up: resolve libc, read the environment, load the
 * policy.  A policy that cannot be used stops the program here, before
 * main() runs, so it never runs with plaintext where TLS was asked for. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "shim/shim.h"

#define EX_CONFIG 78
#define DEFAULT_POLICY "/etc/tlsshim.conf"

const struct policy *shim_policy;

static void refuse_to_start(const struct policy_error *err)
{
	char line[1200], msg[1100];
	int n;

	policy_error_format(err, msg, sizeof msg);
	n = snprintf(line, sizeof line, "tlsshim: %s\n", msg);
	if (n > (int)sizeof line - 1)
		n = (int)sizeof line - 1;
	(void)REAL(write)(2, line, (size_t)n);
	log_error("refusing to start: %s", msg);
	REAL(_exit)(EX_CONFIG);
}

/* fork(): no lock of ours may be held across it (a thread holding the
 * registry lock would leave it locked forever in the child), and the
 * child is a new owner for sessions it uses from now on. */
static void before_fork(void)
{
	/* The global lock order (docs/locking.md). */
	shim_epoll_fork_lock();
	conntab_fork_lock();
	shim_linger_fork_lock();
	shim_names_fork_lock();
}

static void after_fork_parent(void)
{
	shim_names_fork_unlock();
	shim_linger_fork_unlock();
	conntab_fork_unlock();
	shim_epoll_fork_unlock();
}

static void after_fork_child(void)
{
	shim_names_fork_unlock();
	shim_linger_fork_unlock();
	conntab_fork_unlock();
	shim_epoll_fork_unlock();
	tls_set_process(getpid());
	log_after_fork();
}

__attribute__((constructor)) static void shim_init(void)
{
	const char *path = getenv("TLSSHIM_CONFIG");
	struct policy_error err;
	struct policy *p;

	real_init();
	log_init();
	tls_set_process(getpid());
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
	if (conntab_init() < 0) {
		struct policy_error e = { .line = 0 };
		snprintf(e.file, sizeof e.file, "%s", path ? path : DEFAULT_POLICY);
		snprintf(e.msg, sizeof e.msg, "cannot allocate the connection table");
		refuse_to_start(&e);
	}
	if (!path || !*path) {
		if (access(DEFAULT_POLICY, F_OK) != 0) {
			log_info("TLSSHIM_CONFIG is not set and %s does not exist: inactive,"
				 " every socket stays plain", DEFAULT_POLICY);
			return;
		}
		path = DEFAULT_POLICY;
	}
	p = policy_load(path, &err);
	if (!p)
		refuse_to_start(&err);
	shim_policy = p;
	log_info("policy %s: %zu rule%s loaded", path, p->nrules, p->nrules == 1 ? "" : "s");
	shim_adopt_inherited();
	/* atexit runs in reverse: close_notify first, then the linger wait. */
	shim_linger_install();
	shim_exit_handler_install();
}
