/* shim/pump.c — a session handed to a helper process (design, req. 10).
 *
 * Some code paths never reach our wrappers (stdio inside the C library, a
 * new program image after exec), and a live session must never be
 * encrypted by two processes (fork: repeated AES-GCM nonces).  For these
 * the session moves to a pump: a helper process, double-forked so it is
 * not the program's child, that owns the SSL object and the TCP socket
 * and moves bytes between them and one end of an AF_UNIX socketpair.  The
 * other end takes the program's fd number(s) with dup2, so stdio,
 * sendfile, poll, exec and any number of processes see a real kernel
 * socket carrying plaintext, while the wire stays TLS.  When the program's
 * side is closed (by every process holding it) the pump sends
 * close_notify, finishes, and exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "shim/shim.h"

#define PUMP_BUF 16384
#define MAX_FDS 64

static void keep_only(int a, int b, int c)
{
	int k[3] = { a, b, c }, lo = 0;

	/* sort the three (some may be -1) */
	for (int i = 0; i < 3; i++)
		for (int j = i + 1; j < 3; j++)
			if (k[j] < k[i]) {
				int t = k[i];
				k[i] = k[j];
				k[j] = t;
			}
	for (int i = 0; i < 3; i++) {
		if (k[i] < 0 || k[i] < lo)
			continue;
		if (k[i] > lo)
			(void)REAL(close_range)((unsigned)lo, (unsigned)k[i] - 1, 0);
		lo = k[i] + 1;
	}
	(void)REAL(close_range)((unsigned)lo, ~0U, 0);
}

/* The pump's loop: plaintext on b, TLS on the session's socket. */
static void __attribute__((noreturn)) pump_run(struct tls_conn *c, int b)
{
	int tcp = tls_conn_fd(c);
	char in[PUMP_BUF], out[PUMP_BUF];
	size_t inlen = 0, inoff = 0, olen = 0, ooff = 0;
	bool b_eof = false, b_gone = false, tls_eof = false, fin_sent = false;

	/* Never F_SETFL: the TCP socket's file status flags are shared with
	 * the program until it has let go of it.  Everything here is
	 * MSG_DONTWAIT (the engine's BIO is, too). */
	for (;;) {
		struct pollfd p[2];
		bool progress = false;
		ssize_t r;

		/* TLS -> program */
		if (!tls_eof && !olen) {
			r = tls_conn_read(c, out, sizeof out, false);
			if (r > 0) {
				olen = (size_t)r;
				ooff = 0;
				progress = true;
			} else if (r == 0) {
				tls_eof = true;
				(void)REAL(shutdown)(b, SHUT_WR);
				progress = true;
			} else if (r == TLS_ERR) {
				/* After the program has closed and our close_notify went
				 * out, how the peer ends is no longer worth a warning. */
				if (!b_eof)
					shim_tls_report(c);
				break;
			}
			if (b_gone)
				olen = 0;          /* nobody left to read it */
		}
		if (olen) {
			r = REAL(send)(b, out + ooff, olen - ooff, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (r > 0) {
				ooff += (size_t)r;
				if (ooff == olen)
					olen = 0;
				progress = true;
			} else if (r < 0 && errno != EAGAIN && errno != EINTR) {
				/* Every holder of the program's end is gone: end the
				 * session properly all the same. */
				b_gone = true;
				olen = 0;
				if (!b_eof) {
					b_eof = true;
					(void)tls_conn_close_notify(c);
				}
				progress = true;
			}
		}
		/* program -> TLS */
		if (!b_eof && !inlen) {
			r = REAL(recv)(b, in, sizeof in, MSG_DONTWAIT);
			if (r > 0) {
				inlen = (size_t)r;
				inoff = 0;
				progress = true;
			} else if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				b_eof = true;
				(void)tls_conn_close_notify(c);
				progress = true;
			}
		}
		if (inlen) {
			r = tls_conn_write(c, in + inoff, inlen - inoff);
			if (r > 0) {
				inoff += (size_t)r;
				if (inoff == inlen)
					inlen = 0;
				progress = true;
			} else if (r == TLS_ERR) {
				shim_tls_report(c);
				break;
			}
		}
		if (tls_conn_flush(c) == TLS_ERR)
			break;
		if (b_eof && !inlen && !tls_conn_has_output(c) && !fin_sent) {
			(void)REAL(shutdown)(tcp, SHUT_WR);
			fin_sent = true;
		}
		if (b_eof && tls_eof && !olen && !tls_conn_has_output(c))
			break;
		if (progress || (!olen && !tls_eof && tls_conn_pending(c)))
			continue;
		p[0] = (struct pollfd){ .fd = tcp,
			.events = (short)((!tls_eof && !olen ? POLLIN : 0) |
					  (tls_conn_has_output(c) || inlen ? POLLOUT : 0)) };
		p[1] = (struct pollfd){ .fd = b,
			.events = (short)((!b_eof && !inlen ? POLLIN : 0) | (olen ? POLLOUT : 0)) };
		if (REAL(poll)(p, 2, b_eof && fin_sent ? 10000 : -1) == 0)
			break;          /* the peer never closed after our close_notify */
	}
	REAL(_exit)(0);
}

int shim_pump(struct tls_conn *c)
{
	int fds[MAX_FDS], n, sp[2], ready[2], st, fl;
	char ok = 0;
	ssize_t got;
	pid_t mid;

	n = tls_conn_fds(c, fds, MAX_FDS);
	if (n <= 0)
		return -1;
	/* The program's flags, read before any other process holds the file. */
	fl = REAL(fcntl)(fds[0], F_GETFL);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return -1;
	if (pipe2(ready, O_CLOEXEC) < 0) {
		REAL(close)(sp[0]);
		REAL(close)(sp[1]);
		return -1;
	}
	tls_conn_ref(c);        /* the table's references go below */
	/* No thread of the program may use the session from here on. */
	tls_conn_hold(c);
	/* _Fork: the program's own fork handlers are not for this. */
	mid = REAL(_Fork)();
	if (mid < 0) {
		tls_conn_release(c);
		REAL(close)(sp[0]);
		REAL(close)(sp[1]);
		REAL(close)(ready[0]);
		REAL(close)(ready[1]);
		tls_conn_unref(c);
		return -1;
	}
	if (mid == 0) {
		pid_t pump = REAL(_Fork)();
		if (pump != 0)
			REAL(_exit)(pump < 0);
		tls_conn_reinit_after_fork(c);
		/* The pump: its own session, default signals, nothing else open. */
		sigset_t none;
		setsid();
		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, sig == SIGPIPE ? SIG_IGN : SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		tls_set_process(getpid());
		log_after_fork();
		tls_conn_set_owner(c, getpid());
		/* Tell the program the pump exists, then keep only our fds. */
		(void)!REAL(write)(ready[1], "1", 1);
		keep_only(tls_conn_fd(c), sp[1], log_fd_get());
		pump_run(c, sp[1]);
	}
	REAL(close)(ready[1]);
	/* Whether the pump runs is told by the pipe, not by waitpid: with
	 * SIGCHLD ignored (or reaped by the program) waitpid says ECHILD. */
	do
		got = REAL(read)(ready[0], &ok, 1);
	while (got < 0 && errno == EINTR);
	REAL(close)(ready[0]);
	while (waitpid(mid, &st, 0) < 0 && errno == EINTR)
		;
	if (got != 1) {
		tls_conn_release(c);
		REAL(close)(sp[0]);
		REAL(close)(sp[1]);
		tls_conn_unref(c);
		errno = EAGAIN;
		return -1;
	}
	/* The session is the pump's now: nothing here may encrypt with it. */
	tls_conn_give_away_locked(c, -1);
	tls_conn_release(c);
	/* The program's numbers now name the plaintext end. */
	if (fl >= 0 && (fl & O_NONBLOCK))
		(void)REAL(fcntl)(sp[0], F_SETFL, REAL(fcntl)(sp[0], F_GETFL) | O_NONBLOCK);
	for (int i = 0; i < n; i++) {
		int fdfl = REAL(fcntl)(fds[i], F_GETFD);
		struct tls_conn *old = conntab_detach(fds[i]);

		shim_epoll_fd_moving(fds[i], true);
		if (REAL(dup2)(sp[0], fds[i]) >= 0 && fdfl >= 0)
			(void)REAL(fcntl)(fds[i], F_SETFD, fdfl);
		shim_epoll_fd_moving(fds[i], false);
		if (old) {
			tls_conn_fd_remove(old, fds[i]);
			tls_conn_unref(old);
		}
	}
	REAL(close)(sp[0]);
	REAL(close)(sp[1]);
	log_info("%s rule \"%s\": session handed to a pump process; fd%s %d%s now plaintext to it",
		 tls_conn_peer(c), tls_conn_rule(c)->name, n > 1 ? "s" : "", fds[0], n > 1 ? ",..." : "");
	tls_conn_unref(c);
	return 0;
}

/* Every live session this process owns, e.g. before fork() or exec(). */
void shim_pump_live(bool only_inheritable)
{
	size_t high = conntab_high();
	pid_t me = getpid();

	for (size_t fd = 0; fd < high; fd++) {
		struct tls_conn *c;

		if (!conntab_maybe((int)fd) || !(c = conntab_get((int)fd)))
			continue;
		if (tls_conn_handshake_started(c) && !tls_conn_failed(c) && tls_conn_owner(c) == me &&
		    (!only_inheritable || !(REAL(fcntl)((int)fd, F_GETFD) & FD_CLOEXEC)))
			(void)shim_pump(c);
		tls_conn_unref(c);
	}
}
