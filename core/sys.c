/* core/sys.c — the table of real C library functions used by the core. */
#include <fcntl.h>
#include <unistd.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "core/sys.h"

struct core_sys core_sys;

void core_sys_default(void)
{
#define CORE_SYS_LIBC(f) core_sys.f = f;
	CORE_SYS_FUNCS(CORE_SYS_LIBC)
#undef CORE_SYS_LIBC
}
