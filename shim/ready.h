/* shim/ready.h — readiness as the program must see it on TLS fds, as
 * functions of their inputs only (unit-tested: tests/unit/test_ready.c).
 *
 * The kernel knows about ciphertext; the program cares about plaintext.
 * poll/select (poll.c) and epoll (epoll.c) share these rules:
 *  - plaintext already inside the library (or a close_notify, or an
 *    error) makes the fd readable even when the kernel socket is empty;
 *  - a kernel "readable" that is only half a record is hidden;
 *  - while a handshake runs, the program's events are hidden and the
 *    shim drives the handshake one step per kernel event;
 *  - POLLOUT is reported only when the engine's out-buffer is empty;
 *  - a failed connection reports POLLERR plus the events asked for; but
 *    while plain text decrypted before the failure is left, a reader is
 *    shown only that it is readable (the failure comes at the read after).
 * The engine is reached through a table of questions (struct ready_ops),
 * so that the rules can be tested without one.
 */
#ifndef TLSSHIM_SHIM_READY_H
#define TLSSHIM_SHIM_READY_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/select.h>

/* What the rules ask of one TLS connection. */
struct ready_ops {
	bool (*moved)(void *c);         /* handed to a pump: look again */
	bool (*timed_out)(void *c);     /* its handshake deadline passed (now failed) */
	bool (*failed)(void *c);
	bool (*handshake_done)(void *c);
	bool (*handshake_started)(void *c);
	bool (*client)(void *c);
	bool (*buffered)(void *c);      /* anything inside that a read might take */
	int (*poll_read)(void *c);      /* 1: a read would return at once */
	int (*poll_write)(void *c);     /* 1: a write would be taken (drives a handshake step) */
	bool (*staged)(void *c);        /* failed, with plain text from before it left */
	void (*report)(void *c);        /* log the failure once */
};

/* What the program sees (POLL* bits), given what it asked for (want) and
 * what the kernel reported for the socket (kernel). */
short ready_revents(const struct ready_ops *ops, void *c, short want, short kernel);

/* What the kernel is asked for a TLS fd on the program's behalf, of the
 * events it asked for (POLL*): POLLIN, POLLOUT (POLLRDNORM and POLLWRNORM
 * as those), POLLRDHUP; never POLLPRI (urgent data has no place in TLS),
 * or a kernel answer the rules hide would end each kernel wait at once. */
short ready_kernel_want(short events);

/* select() in terms of poll(): the pollfd array for select's sets
 * (returns the count written, at most max), and select's answer from
 * poll's (the sets rewritten; the count of bits set, or -EBADF).  The
 * sets are nfds bits long, as the kernel reads them: nfds may be above
 * FD_SETSIZE (a program that allocates larger sets, as Ruby does), and
 * only the longs that hold bits below nfds are rewritten. */
int ready_sets_to_poll(int nfds, const fd_set *rd, const fd_set *wr, const fd_set *ex,
		       struct pollfd *p, int max);
int ready_poll_to_sets(int nfds, const struct pollfd *p, int n, fd_set *rd, fd_set *wr, fd_set *ex);
bool ready_set_has(const fd_set *s, int fd);

/* epoll's view of one registration of a TLS fd. */
struct ready_ep {
	uint32_t events;          /* as the program asked (EPOLL*) */
	bool disabled;            /* EPOLLONESHOT: reported, not re-armed yet */
	unsigned long seen_gen;   /* EPOLLET: the engine's rx generation last reported */
	bool fail_seen;           /* EPOLLET: the failure was reported */
};

/* Before a kernel wait: may this registration be told of something the
 * kernel cannot signal (plaintext buffered inside, a failure)?  Level-
 * triggered: whenever there is something; edge-triggered: once per
 * arrival of new bytes (gen: the engine's rx generation), a failure
 * once; plain text staged before a failure (staged) is data.  The caller then asks the engine whether there really is
 * plaintext (buffered, poll_read). */
bool ready_ep_may_report_failure(const struct ready_ep *e, bool failed, bool staged,
				 unsigned long gen);
bool ready_ep_may_report_data(const struct ready_ep *e, bool handshake_done, unsigned long gen);
/* After `got` (EPOLL*) was reported to the program. */
void ready_ep_reported(struct ready_ep *e, uint32_t got, bool failed, unsigned long gen);
/* The mask the kernel must watch for a TLS fd: what the program asked for
 * once the handshake is done, plus what the engine needs (POLL* bits:
 * POLLIN for a handshake waiting for the peer, POLLOUT for ciphertext
 * waiting to go out or a TCP connect in progress). */
uint32_t ready_ep_kernel_mask(const struct ready_ep *e, bool failed, bool handshake_done,
			      short engine_needs);
/* epoll and poll bits, both ways (EPOLLRDHUP passed on when asked for). */
uint32_t ready_to_epoll(short poll_bits, uint32_t want, uint32_t kernel);
short ready_to_poll(uint32_t epoll_bits);

#endif
