/* tests/unit/test_ready.c — the readiness rules (shim/ready.c), table by
 * table, against a scripted engine: what poll/select/epoll show the
 * program for a TLS fd, select <-> poll sets, epoll's edge-triggered and
 * one-shot bookkeeping, the kernel mask, the bit conversions. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

#include "shim/ready.h"
#include "tests/unit/unit.h"

/* A scripted engine: each answer is a field; poll_write can complete a
 * handshake or fail it (what one handshake step does). */
struct fake {
	bool moved, timed_out, failed, done, started, client, buffered, staged;
	int poll_read, poll_write;
	bool step_completes, step_fails;  /* poll_write during a handshake */
	int reports, steps;
};

static bool f_moved(void *c) { return ((struct fake *)c)->moved; }
static bool f_timed_out(void *c) { return ((struct fake *)c)->timed_out; }
static bool f_failed(void *c) { return ((struct fake *)c)->failed; }
static bool f_done(void *c) { return ((struct fake *)c)->done; }
static bool f_started(void *c) { return ((struct fake *)c)->started; }
static bool f_client(void *c) { return ((struct fake *)c)->client; }
static bool f_buffered(void *c) { return ((struct fake *)c)->buffered; }
static int f_poll_read(void *c) { return ((struct fake *)c)->poll_read; }
static int f_poll_write(void *c)
{
	struct fake *f = c;

	if (!f->done && !f->failed) {
		f->steps++;
		if (f->step_completes)
			f->done = true;
		if (f->step_fails)
			f->failed = true;
	}
	return f->poll_write;
}
static bool f_staged(void *c) { return ((struct fake *)c)->staged; }
static void f_report(void *c) { ((struct fake *)c)->reports++; }

static const struct ready_ops ops = {
	.moved = f_moved, .timed_out = f_timed_out, .failed = f_failed, .handshake_done = f_done,
	.handshake_started = f_started, .client = f_client, .buffered = f_buffered,
	.poll_read = f_poll_read, .poll_write = f_poll_write, .staged = f_staged, .report = f_report,
};

struct revents_case {
	const char *name;
	struct fake f;
	short want, kernel, expect;
	int steps, reports;
};

static const struct revents_case revents_cases[] = {
	{ "moved to a pump: nothing (look again)", { .moved = true, .done = true, .poll_read = 1 },
	  POLLIN, POLLIN, 0, 0, 0 },
	{ "handshake deadline passed: error plus what was asked", { .timed_out = true },
	  POLLIN | POLLOUT, 0, POLLIN | POLLOUT | POLLERR, 0, 0 },
	{ "handshake running, kernel quiet: nothing", { .started = true },
	  POLLIN, 0, 0, 0, 0 },
	{ "handshake running, a step does not finish it: hidden", { .started = true, .poll_write = 0 },
	  POLLIN | POLLOUT, POLLIN, 0, 1, 0 },
	{ "handshake finished by this step: writable, not readable yet",
	  { .started = true, .step_completes = true, .poll_write = 1 },
	  POLLIN | POLLOUT, POLLIN, POLLOUT, 1, 0 },
	{ "handshake failed by this step: error", { .started = true, .step_fails = true },
	  POLLIN, POLLIN, POLLIN | POLLERR, 1, 1 },
	{ "client's TCP connect failed: POLLOUT|POLLERR for SO_ERROR", { .client = true },
	  POLLOUT, POLLERR | POLLHUP, POLLOUT | POLLERR | POLLHUP, 0, 0 },
	{ "open, plaintext buffered, kernel quiet: readable", { .done = true, .buffered = true, .poll_read = 1 },
	  POLLIN, 0, POLLIN, 0, 0 },
	{ "open, half a record in the kernel: hidden", { .done = true, .poll_read = 0 },
	  POLLIN, POLLIN, 0, 0, 0 },
	{ "open, a record in the kernel: readable", { .done = true, .poll_read = 1 },
	  POLLIN, POLLIN, POLLIN, 0, 0 },
	{ "open, POLLRDNORM asked, a record in: readable as both", { .done = true, .poll_read = 1 },
	  POLLRDNORM, POLLIN, POLLRDNORM, 0, 0 },
	{ "open, POLLIN|POLLRDNORM asked, plaintext buffered: both", { .done = true, .buffered = true, .poll_read = 1 },
	  POLLIN | POLLRDNORM, 0, POLLIN | POLLRDNORM, 0, 0 },
	{ "open, POLLWRNORM asked, room: writable as both", { .done = true, .poll_write = 1 },
	  POLLWRNORM, POLLOUT, POLLWRNORM, 0, 0 },
	{ "open, POLLRDHUP asked, the peer's FIN: reported", { .done = true },
	  POLLRDHUP, POLLRDHUP, POLLRDHUP, 0, 0 },
	{ "open, POLLRDHUP not asked: not shown", { .done = true, .poll_read = 1 },
	  POLLIN, POLLIN | POLLRDHUP, POLLIN, 0, 0 },
	{ "open, kernel has room, out-buffer drains: writable", { .done = true, .poll_write = 1 },
	  POLLOUT, POLLOUT, POLLOUT, 0, 0 },
	{ "open, kernel has room, out-buffer still full: not writable", { .done = true, .poll_write = 0 },
	  POLLOUT, POLLOUT, 0, 0, 0 },
	{ "open, writable not asked for: not reported", { .done = true, .poll_write = 1 },
	  POLLIN, POLLOUT, 0, 0, 0 },
	{ "failed: error plus what was asked, logged once per call", { .failed = true, .done = true },
	  POLLIN, 0, POLLIN | POLLERR, 0, 1 },
	{ "failed, plain text staged before it: readable only, nothing logged yet",
	  { .failed = true, .staged = true }, POLLIN | POLLOUT, POLLIN | POLLERR, POLLIN, 0, 0 },
	{ "failed, plain text staged, no reader: the failure", { .failed = true, .staged = true },
	  POLLOUT, 0, POLLOUT | POLLERR, 0, 1 },
	{ "hang-up passes through", { .done = true, .poll_read = 1 },
	  POLLIN, POLLHUP, POLLIN | POLLHUP, 0, 0 },
};

static void run_revents(void)
{
	for (size_t i = 0; i < sizeof revents_cases / sizeof *revents_cases; i++) {
		const struct revents_case *t = &revents_cases[i];
		char name[160];

		snprintf(name, sizeof name, "ready_revents: %s", t->name);
		UNIT_CASE(name) {
			struct fake f = t->f;
			short got = ready_revents(&ops, &f, t->want, t->kernel);
			if (got != t->expect)
				printf("# got 0x%x, want 0x%x\n", (unsigned)got, (unsigned)t->expect);
			EXPECT(got == t->expect);
			EXPECT(f.steps == t->steps);
			EXPECT(f.reports == t->reports);
		}
	}
}

static void run_select(void)
{
	UNIT_CASE("select sets -> pollfds: one entry per fd, the events of its sets") {
		fd_set rd, wr, ex;
		struct pollfd p[8];
		int n;

		FD_ZERO(&rd); FD_ZERO(&wr); FD_ZERO(&ex);
		FD_SET(3, &rd); FD_SET(5, &rd); FD_SET(5, &wr); FD_SET(9, &ex);
		n = ready_sets_to_poll(10, &rd, &wr, &ex, p, 8);
		EXPECT(n == 3);
		EXPECT(p[0].fd == 3 && p[0].events == POLLIN);
		EXPECT(p[1].fd == 5 && p[1].events == (POLLIN | POLLOUT));
		EXPECT(p[2].fd == 9 && p[2].events == POLLPRI);
		EXPECT(ready_sets_to_poll(5, &rd, &wr, &ex, p, 8) == 1);   /* nfds bounds it */
		EXPECT(ready_sets_to_poll(10, &rd, NULL, NULL, p, 1) == 1); /* max bounds it */
	}
	UNIT_CASE("pollfds -> select sets: hang-up and error count as readable, error as writable") {
		struct pollfd p[3] = { { 3, POLLIN, POLLHUP }, { 5, POLLIN | POLLOUT, POLLERR },
				       { 9, POLLPRI, 0 } };
		fd_set rd, wr, ex;
		int n;

		FD_ZERO(&rd); FD_ZERO(&wr); FD_ZERO(&ex);
		FD_SET(7, &rd);        /* stale bits are cleared */
		n = ready_poll_to_sets(10, p, 3, &rd, &wr, &ex);
		EXPECT(n == 3);
		EXPECT(FD_ISSET(3, &rd) && FD_ISSET(5, &rd) && !FD_ISSET(7, &rd));
		EXPECT(FD_ISSET(5, &wr) && !FD_ISSET(3, &wr));
		EXPECT(!FD_ISSET(9, &ex));
	}
	UNIT_CASE("select sets larger than FD_SETSIZE: bits up to nfds read and rewritten, no further") {
		unsigned long big[4096 / (8 * sizeof(unsigned long))];
		fd_set *rd = (fd_set *)(void *)big;
		struct pollfd p[4];
		int n;

		memset(big, 0, sizeof big);
		FD_SET(3, rd);
		big[1500 / (8 * sizeof(unsigned long))] |= 1UL << (1500 % (8 * sizeof(unsigned long)));
		big[3000 / (8 * sizeof(unsigned long))] |= 1UL << (3000 % (8 * sizeof(unsigned long)));
		n = ready_sets_to_poll(1501, rd, NULL, NULL, p, 4);
		EXPECT(n == 2 && p[0].fd == 3 && p[1].fd == 1500);
		p[0].revents = POLLIN;
		p[1].revents = 0;
		EXPECT(ready_poll_to_sets(1501, p, 2, rd, NULL, NULL) == 1);
		EXPECT(ready_set_has(rd, 3) && !ready_set_has(rd, 1500));
		EXPECT(ready_set_has(rd, 3000));   /* beyond nfds' long: not the kernel's either */
	}
	UNIT_CASE("pollfds -> select sets: a closed fd (POLLNVAL) is EBADF") {
		struct pollfd p[2] = { { 3, POLLIN, POLLIN }, { 4, POLLIN, POLLNVAL } };
		fd_set rd;

		FD_ZERO(&rd);
		EXPECT(ready_poll_to_sets(5, p, 2, &rd, NULL, NULL) == -EBADF);
	}
}

static void run_epoll(void)
{
	UNIT_CASE("epoll LT: buffered plaintext may be reported on every wait") {
		struct ready_ep e = { .events = EPOLLIN };
		EXPECT(ready_ep_may_report_data(&e, true, 1));
		ready_ep_reported(&e, EPOLLIN, false, 1);
		EXPECT(ready_ep_may_report_data(&e, true, 1));
		EXPECT(!ready_ep_may_report_data(&e, false, 1));  /* handshake running */
	}
	UNIT_CASE("epoll ET: once per arrival of new bytes (rx generation)") {
		struct ready_ep e = { .events = EPOLLIN | EPOLLET };
		EXPECT(ready_ep_may_report_data(&e, true, 1));
		ready_ep_reported(&e, EPOLLIN, false, 1);
		EXPECT(!ready_ep_may_report_data(&e, true, 1));
		EXPECT(ready_ep_may_report_data(&e, true, 2));
	}
	UNIT_CASE("epoll ET: a failure is reported once; LT: every time") {
		struct ready_ep et = { .events = EPOLLIN | EPOLLET }, lt = { .events = EPOLLIN };
		EXPECT(ready_ep_may_report_failure(&et, true, false, 0));
		ready_ep_reported(&et, EPOLLIN | EPOLLERR, true, 0);
		EXPECT(!ready_ep_may_report_failure(&et, true, false, 0));
		ready_ep_reported(&lt, EPOLLIN | EPOLLERR, true, 0);
		EXPECT(ready_ep_may_report_failure(&lt, true, false, 0));
		EXPECT(!ready_ep_may_report_failure(&lt, false, false, 0));
	}
	UNIT_CASE("epoll ET: plain text staged before a failure is data (an edge per arrival), the failure an edge of its own after it") {
		struct ready_ep et = { .events = EPOLLIN | EPOLLET }, lt = { .events = EPOLLIN };
		EXPECT(ready_ep_may_report_failure(&et, true, true, 1));
		ready_ep_reported(&et, EPOLLIN, true, 1);
		EXPECT(!et.fail_seen);
		EXPECT(!ready_ep_may_report_failure(&et, true, true, 1));   /* nothing new */
		EXPECT(ready_ep_may_report_failure(&et, true, false, 1));   /* read: now the failure */
		ready_ep_reported(&et, EPOLLIN | EPOLLERR, true, 1);
		EXPECT(!ready_ep_may_report_failure(&et, true, false, 1));
		EXPECT(ready_ep_may_report_failure(&lt, true, true, 1));
		ready_ep_reported(&lt, EPOLLIN, true, 1);
		EXPECT(ready_ep_may_report_failure(&lt, true, true, 1));
	}
	UNIT_CASE("epoll ET waiting only to write: a failure is reported at once, staged plain text or not") {
		struct ready_ep out = { .events = EPOLLOUT | EPOLLET };
		EXPECT(ready_ep_may_report_failure(&out, true, true, 1));
		ready_ep_reported(&out, EPOLLERR, true, 1);
		EXPECT(!ready_ep_may_report_failure(&out, true, true, 1));  /* once (an edge) */
	}
	UNIT_CASE("epoll ONESHOT: disabled after a report, nothing until re-armed") {
		struct ready_ep e = { .events = EPOLLIN | EPOLLONESHOT };
		ready_ep_reported(&e, 0, false, 1);
		EXPECT(!e.disabled);                 /* nothing reported: still armed */
		ready_ep_reported(&e, EPOLLIN, false, 1);
		EXPECT(e.disabled);
		EXPECT(!ready_ep_may_report_data(&e, true, 2));
		EXPECT(!ready_ep_may_report_failure(&e, true, false, 2));
		EXPECT(ready_ep_kernel_mask(&e, false, true, POLLIN) == 0);
	}
	UNIT_CASE("epoll kernel mask: the program's events once open, the engine's needs always") {
		struct ready_ep e = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET };
		EXPECT(ready_ep_kernel_mask(&e, false, true, 0) == (EPOLLIN | EPOLLRDHUP | EPOLLET));
		EXPECT(ready_ep_kernel_mask(&e, false, true, POLLOUT) ==
		       (EPOLLIN | EPOLLRDHUP | EPOLLET | EPOLLOUT));
		/* during a handshake only EPOLLET of the program's, plus its needs */
		EXPECT(ready_ep_kernel_mask(&e, false, false, POLLOUT) == (EPOLLET | EPOLLOUT));
		EXPECT(ready_ep_kernel_mask(&e, false, false, POLLIN) == (EPOLLET | EPOLLIN));
		/* failed: in/out/et as asked, so the program hears of it */
		EXPECT(ready_ep_kernel_mask(&e, true, true, POLLOUT) == (EPOLLIN | EPOLLET));
	}
	UNIT_CASE("kernel want: IN/OUT/RDHUP, NORM as IN/OUT, never PRI") {
		EXPECT(ready_kernel_want(POLLIN | POLLPRI | POLLRDBAND) == POLLIN);
		EXPECT(ready_kernel_want(POLLRDNORM | POLLWRNORM) == (POLLIN | POLLOUT));
		EXPECT(ready_kernel_want(POLLPRI) == 0);
		EXPECT(ready_kernel_want(POLLRDHUP | POLLOUT) == (POLLRDHUP | POLLOUT));
	}
	UNIT_CASE("epoll kernel mask: never EPOLLPRI, RDNORM/WRNORM as IN/OUT") {
		struct ready_ep e = { .events = EPOLLIN | EPOLLPRI };
		EXPECT(ready_ep_kernel_mask(&e, false, true, 0) == EPOLLIN);
		e.events = EPOLLRDNORM | EPOLLWRNORM;
		EXPECT(ready_ep_kernel_mask(&e, false, true, 0) == (EPOLLIN | EPOLLOUT));
		EXPECT(ready_ep_may_report_data(&e, true, 1));
		EXPECT(ready_to_epoll(POLLIN | POLLRDNORM, EPOLLRDNORM, 0) == (EPOLLIN | EPOLLRDNORM));
	}
	UNIT_CASE("epoll <-> poll bits: each both ways; RDHUP only when asked for") {
		EXPECT(ready_to_poll(EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLERR | EPOLLHUP) ==
		       (POLLIN | POLLOUT | POLLPRI | POLLERR | POLLHUP));
		EXPECT(ready_to_epoll(POLLIN | POLLERR, EPOLLIN, 0) == (EPOLLIN | EPOLLERR));
		EXPECT(ready_to_epoll(POLLIN, EPOLLIN | EPOLLRDHUP, EPOLLRDHUP) == (EPOLLIN | EPOLLRDHUP));
		EXPECT(ready_to_epoll(POLLIN, EPOLLIN, EPOLLRDHUP) == EPOLLIN);
	}
}

int main(void)
{
	run_revents();
	run_select();
	run_epoll();
	return UNIT_RESULT();
}
