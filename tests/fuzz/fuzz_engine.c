/* tests/fuzz/fuzz_engine.c — libFuzzer target: the engine's record path.
 *
 * Two engines (core/tls.c), a client and a server, each on its own
 * socketpair, exactly as the shim runs them on a TCP socket.  The harness
 * holds the other end of both pairs and carries the bytes between them:
 * what one engine sends waits in a queue until the input says to deliver
 * it, and the input may first flip bits in it, insert bytes, delete
 * bytes, or end the stream with a bare FIN.  Meanwhile the input makes
 * either side write, read, peek, close_notify and drive its handshake.
 *
 * The input is a script (one byte per operation, then its arguments; see
 * step()).  Its first byte chooses the protocol (TLS 1.3 or 1.2) and
 * whether a bare FIN is a clean end (allow_truncation).
 *
 * What must hold, whatever the input (abort() otherwise, which libFuzzer
 * reports as a crash):
 *  - nothing crashes, leaks or trips ASan/UBSan;
 *  - the engines never block and never return other than the documented
 *    values;
 *  - every byte a side reads (or peeks) is the byte the other side wrote
 *    at that position of its stream: the writers write a known pattern,
 *    so a tampered record that got through as data, a record replayed,
 *    dropped or reordered, or injected plaintext is caught;
 *  - nothing is read past what the other side's writes returned;
 *  - after a read returned end of file or an error, no read returns data;
 *  - when the input tampered with nothing, every byte written arrives.
 *
 * Certificates: $TLSSHIM_TEST_CERTS (certs/mkcerts.sh).  Build and run:
 * make fuzz (tests/fuzz/README).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/sys.h"
#include "core/tls.h"
#include "policy/ctx.h"
#include "policy/policy.h"

#define QMAX 65536

static SSL_CTX *srv_ctx[2], *cli_ctx;   /* srv_ctx[1]: TLS 1.2 at most */
static bool trace;                      /* FUZZ_ENGINE_TRACE=1: one line per input */

static void die(const char *what)
{
	fprintf(stderr, "fuzz_engine: %s\n", what);
	exit(1);
}

static SSL_CTX *build(OSSL_LIB_CTX *libctx, struct policy_rule *r)
{
	enum ctx_err_key which;
	char why[256];
	SSL_CTX *ctx = ctx_build(libctx, r, &which, why, sizeof why);

	if (!ctx) {
		fprintf(stderr, "fuzz_engine: ctx_build(%s): %s\n", r->name, why);
		exit(1);
	}
	return ctx;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *certs = getenv("TLSSHIM_TEST_CERTS");
	static char crt[600], key[600], ca[600];
	OSSL_LIB_CTX *libctx;

	(void)argc;
	(void)argv;
	if (!certs || !*certs)
		die("set TLSSHIM_TEST_CERTS to a directory made by certs/mkcerts.sh");
	snprintf(crt, sizeof crt, "%s/server.crt", certs);
	snprintf(key, sizeof key, "%s/server.key", certs);
	snprintf(ca, sizeof ca, "%s/ca.crt", certs);
	setenv("TLSSHIM_LOG_FILE", "/dev/null", 0);
	trace = getenv("FUZZ_ENGINE_TRACE") && *getenv("FUZZ_ENGINE_TRACE") == '1';
	core_sys_default();
	log_init(NULL);
	if (!(libctx = OSSL_LIB_CTX_new()))
		die("OSSL_LIB_CTX_new");
	struct policy_rule sr = { .name = "srv", .direction = POLICY_ACCEPT, .action = POLICY_TLS,
				  .min_version = TLS1_2_VERSION, .cert = crt, .key = key };
	struct policy_rule cr = { .name = "cli", .direction = POLICY_CONNECT, .action = POLICY_TLS,
				  .min_version = TLS1_2_VERSION, .ca = ca };
	srv_ctx[0] = build(libctx, &sr);
	srv_ctx[1] = build(libctx, &sr);
	SSL_CTX_set_max_proto_version(srv_ctx[1], TLS1_2_VERSION);
	cli_ctx = build(libctx, &cr);
	return 0;
}

/* The input, read a byte at a time; zeros once it is used up. */
struct input { const uint8_t *p; size_t n; };

static unsigned byte(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static unsigned word(struct input *in)
{
	unsigned hi = byte(in);
	return hi << 8 | byte(in);
}

/* Byte i of the stream side d writes. */
static uint8_t pattern(int d, uint64_t i)
{
	return (uint8_t)(i * 31u + (i >> 8) * 7u + (unsigned)d * 101u + 1u);
}

struct side {
	struct tls_conn *c;
	int fd;                 /* the engine's end */
	int wire;               /* the harness's end of the same pair */
	uint64_t sent;          /* bytes of the pattern its writes took */
	uint64_t got;           /* bytes of the peer's pattern it has read */
	bool ended;             /* a read returned 0 or TLS_ERR */
	bool fin;               /* the harness ended the stream towards it */
	uint8_t q[QMAX];        /* ciphertext it sent, not delivered yet */
	size_t qlen;
};

static struct side S[2];        /* 0: client, 1: server */
static bool tampered;

static void check_data(int d, const uint8_t *buf, ssize_t r, bool peek)
{
	struct side *me = &S[d], *peer = &S[!d];

	if (me->ended || me->got + (uint64_t)r > peer->sent)
		abort();        /* data after the end, or bytes nobody wrote */
	for (ssize_t i = 0; i < r; i++)
		if (buf[i] != pattern(!d, me->got + (uint64_t)i))
			abort();        /* not the byte the peer wrote there */
	if (!peek)
		me->got += (uint64_t)r;
}

static void check_ret(ssize_t r)
{
	if (r < TLS_REENTERED || r == TLS_REENTERED)
		abort();        /* no signal handler here: never reentered */
}

/* Move what the engine of side d sent into its queue. */
static void collect(int d)
{
	struct side *s = &S[d];

	while (s->qlen < QMAX) {
		ssize_t r = recv(s->wire, s->q + s->qlen, QMAX - s->qlen, MSG_DONTWAIT);
		if (r <= 0)
			break;
		s->qlen += (size_t)r;
	}
}

/* Deliver up to n queued bytes of side d to the other side. */
static void deliver(int d, size_t n)
{
	struct side *s = &S[d], *to = &S[!d];

	if (to->fin)
		return;
	if (n > s->qlen)
		n = s->qlen;
	ssize_t w = n ? send(to->wire, s->q, n, MSG_DONTWAIT | MSG_NOSIGNAL) : 0;
	if (w > 0) {
		memmove(s->q, s->q + w, s->qlen - (size_t)w);
		s->qlen -= (size_t)w;
	}
}

static void do_read(int d, size_t len, bool peek)
{
	uint8_t buf[4096];
	struct side *s = &S[d];

	if (len > sizeof buf)
		len = sizeof buf;
	if (!len)
		len = 1;
	ssize_t r = tls_conn_read(s->c, buf, len, peek);
	check_ret(r);
	if (r > 0) {
		if ((size_t)r > len)
			abort();
		check_data(d, buf, r, peek);
	} else if ((r == 0 || r == TLS_ERR) && !peek) {
		s->ended = true;
	}
}

static void do_write(int d, size_t len)
{
	uint8_t buf[8192];
	struct side *s = &S[d];

	if (len > sizeof buf)
		len = sizeof buf;
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern(d, s->sent + i);
	ssize_t w = tls_conn_write(s->c, buf, len);
	check_ret(w);
	if (w > 0) {
		if ((size_t)w > len)
			abort();
		s->sent += (size_t)w;
	} else if (w == 0) {
		abort();        /* never 0 for a non-empty write */
	}
}

/* Let both engines make progress: handshakes, flushes, reads. */
static void service(void)
{
	for (int d = 0; d < 2; d++) {
		struct side *s = &S[d];

		if (!tls_conn_handshake_done(s->c) && !tls_conn_failed(s->c))
			check_ret(tls_conn_handshake(s->c));
		check_ret(tls_conn_flush(s->c));
		if (tls_conn_handshake_done(s->c) && !s->ended)
			do_read(d, sizeof(((struct side *)0)->q), false);
		collect(d);
	}
}

static void step(struct input *in)
{
	unsigned op = byte(in);
	int d = op >> 7;                /* which side, or which direction */
	struct side *s = &S[d];
	size_t off, len;

	switch (op & 0x0f) {
	case 0: case 1:                 /* side d writes */
		do_write(d, (size_t)word(in) % 8192 + 1);
		break;
	case 2: case 3: case 4:         /* deliver what side d sent */
		deliver(d, (size_t)word(in));
		break;
	case 5:                         /* deliver all of it */
		deliver(d, QMAX);
		break;
	case 6:                         /* flip bits in it */
		off = word(in);
		len = byte(in) | 1;
		if (s->qlen) {
			s->q[off % s->qlen] ^= (uint8_t)len;
			tampered = true;
		}
		break;
	case 7:                         /* insert bytes into it */
		off = word(in);
		len = byte(in) % 64 + 1;
		if (s->qlen + len <= QMAX) {
			off = s->qlen ? off % (s->qlen + 1) : 0;
			memmove(s->q + off + len, s->q + off, s->qlen - off);
			for (size_t i = 0; i < len; i++)
				s->q[off + i] = (uint8_t)byte(in);
			s->qlen += len;
			tampered = true;
		}
		break;
	case 8:                         /* delete bytes from it */
		off = word(in);
		len = word(in) % 512 + 1;
		if (s->qlen) {
			off %= s->qlen;
			if (len > s->qlen - off)
				len = s->qlen - off;
			memmove(s->q + off, s->q + off + len, s->qlen - off - len);
			s->qlen -= len;
			tampered = true;
		}
		break;
	case 9:                         /* end the stream towards side !d: a bare FIN */
		if (!S[!d].fin) {
			shutdown(S[!d].wire, SHUT_WR);
			S[!d].fin = true;
			tampered = true;
		}
		break;
	case 10:                        /* side d sends close_notify */
		check_ret(tls_conn_close_notify(s->c));
		break;
	case 11:                        /* side d peeks */
		do_read(d, byte(in) + 1, true);
		break;
	case 12:                        /* side d reads a little */
		do_read(d, byte(in) % 32 + 1, false);
		break;
	case 13:                        /* what side d would say to poll and FIONREAD */
		check_ret(tls_conn_poll_read(s->c));
		check_ret(tls_conn_poll_write(s->c));
		(void)tls_conn_kernel_events(s->c);
		(void)tls_conn_buffered(s->c);
		if (tls_conn_pending(s->c) > tls_conn_readable(s->c) + 0)
			abort();        /* what a read returns at once is all readable */
		break;
	default:                        /* side d drives its handshake */
		check_ret(tls_conn_handshake(s->c));
		break;
	}
	service();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	int a[2], b[2];
	unsigned mode = byte(&in);

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, a) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, b) < 0)
		die("socketpair");
	memset(S, 0, sizeof S);
	tampered = false;
	S[0].fd = a[0], S[0].wire = a[1];
	S[1].fd = b[0], S[1].wire = b[1];
	struct tls_opts co = { .ctx = cli_ctx, .label = "cli", .verify_name = true,
			       .allow_truncation = mode & 2, .handshake_timeout_ms = 10000 };
	struct tls_opts so = { .ctx = srv_ctx[mode & 1], .label = "srv",
			       .allow_truncation = mode & 2, .handshake_timeout_ms = 10000 };
	S[0].c = tls_conn_new(S[0].fd, &co, TLS_ROLE_CLIENT, "localhost", "client-side");
	S[1].c = tls_conn_new(S[1].fd, &so, TLS_ROLE_SERVER, NULL, "server-side");
	if (!S[0].c || !S[1].c)
		die("tls_conn_new");

	service();
	while (in.n)
		step(&in);
	/* Then deliver everything, unchanged, until nothing moves. */
	for (int round = 0; round < 64; round++) {
		uint64_t before = S[0].got + S[1].got + S[0].qlen + S[1].qlen + S[0].sent + S[1].sent;
		deliver(0, QMAX);
		deliver(1, QMAX);
		service();
		service();
		uint64_t after = S[0].got + S[1].got + S[0].qlen + S[1].qlen + S[0].sent + S[1].sent;
		if (after == before && !S[0].qlen && !S[1].qlen)
			break;
	}
	/* Nothing tampered with: nothing lost. */
	if (!tampered && tls_conn_handshake_done(S[0].c) && tls_conn_handshake_done(S[1].c) &&
	    (S[0].got != S[1].sent || S[1].got != S[0].sent)) {
		fprintf(stderr, "fuzz_engine: untampered bytes lost: client got %llu of %llu, server got %llu of %llu\n",
			(unsigned long long)S[0].got, (unsigned long long)S[1].sent,
			(unsigned long long)S[1].got, (unsigned long long)S[0].sent);
		abort();
	}
	if (trace)
		fprintf(stderr, "fuzz_engine: tls%s%s%s: client %s sent %llu got %llu%s%s, server %s sent %llu got %llu%s%s\n",
			mode & 1 ? "1.2" : "1.3", mode & 2 ? " allow_truncation" : "", tampered ? " tampered" : "",
			tls_conn_handshake_done(S[0].c) ? "up" : "not up",
			(unsigned long long)S[0].sent, (unsigned long long)S[0].got,
			tls_conn_failed(S[0].c) ? " failed: " : "", tls_conn_failed(S[0].c) ? tls_conn_error(S[0].c) : "",
			tls_conn_handshake_done(S[1].c) ? "up" : "not up",
			(unsigned long long)S[1].sent, (unsigned long long)S[1].got,
			tls_conn_failed(S[1].c) ? " failed: " : "", tls_conn_failed(S[1].c) ? tls_conn_error(S[1].c) : "");
	tls_conn_unref(S[0].c);
	tls_conn_unref(S[1].c);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	return 0;
}
