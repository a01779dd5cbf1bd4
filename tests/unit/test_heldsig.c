/* tests/unit/test_heldsig.c — the table of copies held for one call
 * (shim/own.c, shim_own_hold/shim_own_let_go) when a signal handler of
 * the same thread holds and lets go a copy in the middle of a hold
 * (h224).  No injector can stop the library between two of its stores,
 * so shim/own.c is compiled here with its signal fences (the points
 * where the order of those stores is what a handler sees) calling a
 * hook that does what such a handler does: hold a copy of another
 * socket, then let it go.  Each fence of one hold is tried in turn.
 * After the outer hold its copy must be held (close() says EBADF,
 * dup2() onto it EBUSY, close_range() over it leaves it open), and after
 * its let_go the table must be empty (nheld 0, held_top 0).  Before
 * h224 the bound was raised before the place was written: the handler
 * took the same place and its let_go lowered the bound under it, so the
 * outer copy sat past the bound: not held, never let go, nheld 1. */
static void heldsig_fence(void);
#define __atomic_signal_fence(order) heldsig_fence()
#include "shim/own.c"
#undef __atomic_signal_fence

#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/unit/unit.h"

struct real_fns real;
bool real_ready = true;
void real_init(void) { }

static int fire_at;             /* the fence (1, 2, ...) the handler lands at; 0: none */
static int fences;
static int inner_fd, inner_hi = -2, inner_held;

static void heldsig_fence(void)
{
	if (!fire_at || ++fences != fire_at)
		return;
	fire_at = 0;
	inner_hi = shim_own_hold(inner_fd);
	inner_held = inner_hi >= 0 && shim_own_held(inner_hi);
	shim_own_let_go(inner_hi);
	if (inner_hi >= 0)
		close(inner_hi);
}

int main(void)
{
	int sv[2];

	real.fcntl = fcntl;
	real.close = close;
	real.dup2 = dup2;
	real.dup3 = dup3;
	real.close_range = close_range;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 2;
	inner_fd = sv[1];
	for (int at = 1; at <= 2; at++) {
		char name[64];

		snprintf(name, sizeof name, "handler at fence %d of a hold", at);
		UNIT_CASE(name) {
			int hi, fired;

			fences = 0;
			fire_at = at;
			inner_hi = -2;
			hi = shim_own_hold(sv[0]);
			fired = inner_hi != -2;
			fire_at = 0;
			EXPECT(hi >= 0);
			if (fired)
				EXPECT(inner_hi >= 0 && inner_held);
			EXPECT(shim_own_held(hi));
			EXPECT(shim_own_dup23(sv[1], hi, -1) < 0 && errno == EBUSY);
			EXPECT(shim_own_close_range((unsigned)hi, (unsigned)hi, 0) == 0);
			EXPECT(fcntl(hi, F_GETFD) >= 0);
			shim_own_let_go(hi);
			EXPECT(!shim_own_held(hi));
			EXPECT(__atomic_load_n(&nheld, __ATOMIC_SEQ_CST) == 0);
			EXPECT(held_top == 0);
			close(hi);
			/* (a fresh table for the next case, whatever this one left) */
			memset(held, 0, sizeof held);
			held_top = 0;
			nheld = 0;
		}
	}
	return UNIT_RESULT();
}
