/* core/sys.c — the table of real C library functions used by the core. */
#include <fcntl.h>
#include <unistd.h>
#include <sys/sendfile.h>

#include "core/sys.h"

struct core_sys core_sys;

void core_sys_default(void)
{
	core_sys.recv = recv;
	core_sys.send = send;
	core_sys.write = write;
	core_sys.poll = poll;
	core_sys.close = close;
	core_sys.shutdown = shutdown;
	core_sys.fcntl = fcntl;
	core_sys.getsockopt = getsockopt;
	core_sys.open = open;
	core_sys.setsockopt = setsockopt;
	core_sys.recvmsg = recvmsg;
	core_sys.sendmsg = sendmsg;
	core_sys.sendfile64 = sendfile64;
}
