/* fc_tables — the calls that would give a thread or a child a descriptor
 * table apart from the process's, and Linux native aio, each tried once:
 * prints "NAME: ok" or "NAME: ERRNO-NAME".
 *   unshare(CLONE_FILES), syscall(SYS_unshare, CLONE_FILES),
 *   close_range(CLOSE_RANGE_UNSHARE) on an fd above every open one,
 *   clone(CLONE_FILES) without CLONE_VM (the child _exits at once),
 *   syscall(SYS_io_setup) (destroyed again when it worked),
 *   unshare(CLONE_FS) (always allowed: a control).
 * Run under the shim with a policy with TLS rules (all but the control
 * refused) and with one without (all ok). */
#include <linux/aio_abi.h>
#include <linux/close_range.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "fc_common.h"

static void say(const char *name, long r)
{
	printf("%s: %s\n", name, r < 0 ? fc_err(errno) : "ok");
}

static int child(void *arg)
{
	(void)arg;
	_exit(0);
}

static char stack[1 << 16] __attribute__((aligned(16)));

int main(void)
{
	aio_context_t ctx = 0;
	long r;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	say("unshare-files", unshare(CLONE_FILES));
	say("syscall-unshare-files", syscall(SYS_unshare, CLONE_FILES));
	say("close_range-unshare", close_range(900, 1000, CLOSE_RANGE_UNSHARE));
	pid = clone(child, stack + sizeof stack, CLONE_FILES | SIGCHLD, NULL);
	say("clone-files", pid);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	r = syscall(SYS_io_setup, 8, &ctx);
	say("io_setup", r);
	if (r == 0)
		syscall(SYS_io_destroy, ctx);
	say("unshare-fs", unshare(CLONE_FS));
	return 0;
}
