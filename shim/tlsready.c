/* shim/tlsready.c — the readiness rules (ready.c) applied to the engine:
 * shared by poll/select (poll.c) and epoll (epoll.c), with the handshake
 * deadlines they must wake up for. */
#include "core/clock.h"
#include "core/log.h"
#include "shim/ready.h"
#include "shim/shim.h"

/* A non-blocking handshake past its rule's handshake_timeout_ms fails
 * here, when readiness is asked (a blocking one times out in
 * shim_tls_handshake).  true when it did. */
bool shim_tls_check_timeout(struct tls_conn *c)
{
	long long dl = tls_conn_handshake_deadline(c);

	if (dl < 0 || clock_ms() < dl)
		return false;
	tls_conn_timed_out(c);
	shim_tls_report(c);
	return true;
}

/* The timeout for a kernel wait: none now (ready already), until wake
 * (CLOCK_MONOTONIC ns), or for ever (wake < 0, returns NULL). */
struct timespec *shim_wait_timeout(bool ready_now, int64_t wake, struct timespec *ts)
{
	int64_t left;

	if (!ready_now && wake < 0)
		return NULL;
	left = ready_now ? 0 : wake - clock_ns();
	if (left < 0)
		left = 0;
	ts->tv_sec = left / 1000000000;
	ts->tv_nsec = left % 1000000000;
	return ts;
}

/* The earliest handshake deadline among conns (ns, CLOCK_MONOTONIC), or
 * -1: a wait must end then to enforce it. */
int64_t shim_deadline_ns(struct tls_conn *c, int64_t cur)
{
	long long dl = c ? tls_conn_handshake_deadline(c) : -1;

	if (dl < 0)
		return cur;
	dl *= 1000000;
	return cur < 0 || dl < cur ? dl : cur;
}

/* The engine, as the readiness rules ask it (ready.h). */
static bool q_moved(void *c) { return tls_conn_moved(c); }
static bool q_timed_out(void *c) { return shim_tls_check_timeout(c); }
static bool q_failed(void *c) { return tls_conn_failed(c); }
static bool q_done(void *c) { return tls_conn_handshake_done(c); }
static bool q_started(void *c) { return tls_conn_handshake_started(c); }
static bool q_client(void *c) { return tls_conn_role(c) == TLS_ROLE_CLIENT; }
static bool q_buffered(void *c) { return tls_conn_buffered(c); }
static int q_poll_read(void *c) { return tls_conn_poll_read(c); }
static int q_poll_write(void *c) { return tls_conn_poll_write(c); }
/* (failed: only the stage is pending, never OpenSSL's buffer) */
static bool q_staged(void *c) { return tls_conn_pending(c) > 0; }
static void q_report(void *c) { shim_tls_report(c); }

static const struct ready_ops engine = {
	.moved = q_moved, .timed_out = q_timed_out, .failed = q_failed,
	.handshake_done = q_done, .handshake_started = q_started, .client = q_client,
	.buffered = q_buffered, .poll_read = q_poll_read, .poll_write = q_poll_write,
	.staged = q_staged, .report = q_report,
};

/* What one TLS fd shows the program, given what the kernel reported. */
short shim_tls_revents(struct tls_conn *c, short want, short kr)
{
	return ready_revents(&engine, c, want, kr);
}
