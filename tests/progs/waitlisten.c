/* waitlisten — tests/lib.sh's wait_listen (and the wait_listen of
 * tests/interop/daemons.inc and lighttpd.sh) in one process instead of a
 * shell reading /proc/net/tcp and forking a sleep ten times a second.
 *
 *   waitlisten PORT MS [PID]
 *
 * Until a TCP socket of this network namespace listens on PORT (any
 * address, IPv4 or IPv6: state 0A in /proc/net/tcp or /proc/net/tcp6,
 * what lib.sh's listening tells), at most MS milliseconds; with PID, also
 * until process PID has ended (a zombie or gone).  Exit 0 as soon as
 * something listens, 1 at the time limit or when PID has ended, 2 on a
 * usage error.  A look every 20 ms (the kernel lists the listening
 * sockets first, so a look stops at the first socket in another state;
 * but the kernel walks its whole connection table to fill the first
 * read: 3.4 ms of CPU per file with the host's table of 262,144 buckets,
 * a third of a CPU while it waits, 0.08 ms with the table of 8,192 that
 * tests/run.sh gives each test's namespace).  It never connects: a
 * probe would be a failed handshake on a TLS port.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "waitproc.h"

/* 1 when a socket in PATH's table listens on PORT. */
static int listens_in(const char *path, unsigned port)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	char line[512];
	int found = 0;
	/* "sl local_address rem_address st ...": the header first */
	if (fgets(line, sizeof line, f)) {
		while (fgets(line, sizeof line, f)) {
			char local[128], remote[128];
			unsigned st;
			if (sscanf(line, " %*[0-9]: %127s %127s %x", local, remote, &st) != 3)
				continue;
			if (st != 0x0A)
				break;  /* the listeners are listed first */
			const char *colon = strrchr(local, ':');
			if (colon && strtoul(colon + 1, NULL, 16) == port) {
				found = 1;
				break;
			}
		}
	}
	fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	char *e1 = NULL, *e2 = NULL, *e3 = NULL;
	long port = argc >= 3 ? strtol(argv[1], &e1, 10) : 0;
	long long ms = argc >= 3 ? strtoll(argv[2], &e2, 10) : -1;
	long pid = argc == 4 ? strtol(argv[3], &e3, 10) : 0;
	if (argc < 3 || argc > 4 || *e1 || *e2 || (e3 && *e3) || port <= 0 ||
	    port > 65535 || ms < 0 || (argc == 4 && pid <= 0)) {
		fprintf(stderr, "usage: waitlisten PORT MS [PID]\n");
		return 2;
	}
	long long deadline = now_ms() + ms;
	for (;;) {
		if (listens_in("/proc/net/tcp", (unsigned)port) ||
		    listens_in("/proc/net/tcp6", (unsigned)port))
			return 0;
		if (pid > 0 && !alive(pid))
			return 1;
		if (!pause_until(deadline, 20))
			return 1;
	}
}
