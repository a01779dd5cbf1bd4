/* core/tls.c — the TLS engine: one SSL object over one socket.
 *
 * See core/tls.h for the contract.  Three rules shape this file:
 *  - No re-entry: the BIO calls the real libc through core_sys, never the
 *    interposed names.
 *  - Never block: the BIO uses MSG_DONTWAIT; waiting is the caller's job,
 *    done without our lock held.
 *  - Leave the program's OpenSSL error queue as found.  ERR_set_mark is
 *    not enough: OpenSSL's handshake state machine calls ERR_clear_error()
 *    itself.  So every entry point stashes the program's errors (if any;
 *    usually the queue is empty, and known to be without asking OpenSSL:
 *    core/errq.c counts the pushes), works on an empty queue, and puts
 *    the program's errors back on the way out.
 *    Results are classified from what *this* call queued, the BIO's retry
 *    state and SSL_get_shutdown, never from errors left by the program.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/clock.h"
#include "core/conn.h"
#include "core/errq.h"
#include "core/hgann.h"
#include "core/log.h"
#include "core/peer.h"
#include "core/self.h"
#include "core/strcopy.h"
#include "core/sys.h"
#include "core/unwind.h"

/* ---- the program's error queue ---------------------------------------- */

#define STASH_MAX 16

/* What the program had queued, kept in the heap: the stash lives on the
 * stack of every engine call, and 4.7 KiB there would push OpenSSL's
 * frames below it onto pages a new thread has not touched yet (a page
 * fault each, per thread: a thread-per-connection server paid two per
 * connection).  A program's queue is almost always empty: then nothing
 * is allocated. */
struct err_saved {
	unsigned long code;
	int line;
	bool has_data;
	/* Copies: the queue owns (and frees) its strings, file and function
	 * names included. */
	char file[96], func[64], data[120];
};

struct err_stash {
	int n;
	struct err_saved *e;
};

/* No entry at all (bottom == top).  ERR_peek_error() == 0 is not
 * enough to note the queue empty: it is also the answer for an entry
 * whose ERR_raise is between its ERR_new and its ERR_set_error, which a
 * signal handler's engine call may see.  ERR_set_mark marks the newest
 * entry whatever its code, or says there is none. */
static bool queue_empty(void)
{
	if (!ERR_set_mark())
		return true;
	ERR_clear_last_mark();
	return false;
}

/* The look, when the count cannot tell (s emptied by err_stash). */
static __attribute__((noinline)) void err_stash_slow(struct err_stash *s)
{
	const char *file, *func, *data;
	int line, flags;
	unsigned long code;
	unsigned long at = errq_pushes_;       /* before the look */

	if (!ERR_peek_error()) {
		if (queue_empty())
			errq_seen_empty(at);
		return;
	}
	/* Without memory the program's entries are lost (cleared, as our
	 * calls' own would be): never left in the queue for ours to mix with. */
	s->e = malloc(STASH_MAX * sizeof *s->e);
	while ((code = ERR_get_error_all(&file, &line, &func, &data, &flags)) != 0) {
		struct err_saved *e;

		if (!s->e || s->n == STASH_MAX)
			continue;
		e = &s->e[s->n++];
		e->code = code;
		snprintf(e->file, sizeof e->file, "%s", file ? file : "");
		snprintf(e->func, sizeof e->func, "%s", func ? func : "");
		e->line = line;
		e->has_data = data && (flags & ERR_TXT_STRING);
		snprintf(e->data, sizeof e->data, "%s", e->has_data ? data : "");
	}
	if (queue_empty())
		errq_seen_empty(at);
}

/* Inline, so that the common case (nothing pushed since the queue was
 * seen empty) is a few instructions, not a call with a large frame. */
static inline void err_stash(struct err_stash *s)
{
	s->n = 0;
	s->e = NULL;
	if (!errq_known_empty())
		err_stash_slow(s);
}

static __attribute__((noinline)) void err_unstash_slow(struct err_stash *s)
{
	unsigned long at = errq_pushes_;       /* before the look */

	if (s->n == 0 && !ERR_peek_error()) {
		if (queue_empty())
			errq_seen_empty(at);
		free(s->e);
		return;
	}
	ERR_clear_error();
	errq_seen_empty(at);
	for (int i = 0; i < s->n; i++) {
		ERR_new();
		ERR_set_debug(s->e[i].file, s->e[i].line, s->e[i].func);
		if (s->e[i].has_data)
			ERR_set_error(ERR_GET_LIB(s->e[i].code), ERR_GET_REASON(s->e[i].code), "%s",
				      s->e[i].data);
		else
			ERR_set_error(ERR_GET_LIB(s->e[i].code), ERR_GET_REASON(s->e[i].code), NULL);
	}
	free(s->e);
}

/* Drop what our calls queued; give the program its own errors back.
 * (Nothing stashed and nothing pushed since the queue was seen empty,
 * the common case: nothing to do, and known without asking OpenSSL;
 * else a peek is half the price of a clear.) */
static inline void err_unstash(struct err_stash *s)
{
	if (s->n != 0 || s->e || !errq_known_empty())
		err_unstash_slow(s);
}

/* A signal handler that interrupted this thread inside the engine and
 * leaves by siglongjmp() (or ends the thread) abandons OpenSSL's state
 * for the connection half updated, with the connection's lock held by a
 * frame that no longer exists: every later call of the thread on it was
 * refused as a handler's (EDEADLK), and other threads waited for the lock
 * for ever (helper-60's F2).  The engine never blocks (the lock is held
 * only while OpenSSL computes and the socket takes what it can at once),
 * but a large write encrypts record after record under it while the
 * kernel keeps up, so a timer often fires there.  Each entry puts a
 * record on glibc's first cleanup chain (core/unwind.h) before it takes
 * the lock: when the frame is left without returning, the connection
 * fails (ECONNRESET, a warning at its next use; OpenSSL's state is never
 * used again, nor freed: it may be half updated), and the lock goes, with
 * the count of locks the thread holds (and the cancellation state the
 * first one saved).  xlock_mine is exact at every instruction, so the
 * record knows whether its frame got the lock: before the push it was
 * not the thread's (a handler's call on a connection its thread holds
 * returns at once, pushing nothing). */

static const char abandoned_msg[] =
	"a signal handler left the TLS engine by a non-local jump (siglongjmp) or ended the"
	" thread in the middle of a call on this connection: its TLS state is lost; reset";

void engine_unwound(void *arg)
{
	struct engine_frame *f = arg;
	struct tls_conn *c = f->c;

	if (xlock_mine(&c->lock)) {
		tls_conn_ref(c);        /* kept for ever: see above */
		if (c->state != ST_FAILED) {
			/* As set_fail and set_state (below) write them. */
			__atomic_store_n(&c->fail, TLS_FAIL_PROTOCOL, __ATOMIC_RELAXED);
			memcpy(c->err, abandoned_msg, sizeof abandoned_msg);
			__atomic_store_n(&c->state, ST_FAILED, __ATOMIC_RELEASE);
		}
		c->errq_clean = false;
		if (xlock_held_ == f->held)
			xlock_held_++;  /* left between the swap and its count */
		xlock_unlock(&c->lock);
	}
	if (xlock_held_ > f->held) {
		/* Left inside a lock the engine takes (not released: its data
		 * may be half written); the count goes back all the same. */
		xlock_held_ = f->held + 1;
		xlock_held_less();
	}
}


/* An engine entry point: the connection's lock (or `ret` when a signal
 * handler interrupted this thread inside the engine on it), and the
 * program's OpenSSL error queue set aside until ENGINE_LEAVE. */
#define ENGINE_ENTER(c, ret)      \
	GUARDED_ENTER(c, ret);    \
	struct err_stash es_;     \
	err_stash(&es_);          \
	(c)->errq_clean = true
#define ENGINE_LEAVE(c)           \
	do {                      \
		(c)->errq_clean = false; \
		err_unstash(&es_); \
		GUARDED_LEAVE(c); \
	} while (0)

/* Under the lock, right before an SSL_* call whose failure classify()
 * will read: the thread's push count and the newest error in the queue,
 * so that classify tells the call's own errors from older ones.  Just
 * after ENGINE_ENTER the queue is empty (err_stash emptied it), and it
 * stays so while nothing is pushed (core/errq.c): no need to ask
 * OpenSSL, which costs about 200 instructions (its thread-local error
 * state).  Otherwise the queue is what the earlier calls left. */
struct err_snap {
	unsigned long pushes;
	unsigned long last;
};

static struct err_snap err_snap(struct tls_conn *c)
{
	struct err_snap s = { .pushes = errq_pushes_, .last = 0 };

	if (c->errq_clean)
		c->errq_clean = false;
	else if (!errq_known_empty())
		s.last = ERR_peek_last_error();
	return s;
}

/* One SSL_write at a time: one full TLS record of program data. */
#define WRITE_CHUNK 16384
/* Ciphertext the kernel would not take yet.  Program data adds at most one
 * record at a time; the rest is handshake and alerts.  A peer that makes us
 * queue more than this (never reading, yet provoking responses) is cut off. */
#define OUT_MAX (1u << 20)

/* ---- the socket BIO ---------------------------------------------------- */

/* OpenSSL's read-ahead buffer holds one record (16,709 bytes: the largest
 * record and its header), so a reader that is behind its peer takes one
 * record per recv().  Once a recv() of the open connection filled it (the
 * kernel had more), the connection's next buffers hold four records:
 * a bulk receiver makes about a third of the receive system calls (a
 * program's 64 KiB read is one or two recv()s instead of four).  The
 * small buffer goes as soon as it holds nothing (read_locked; OpenSSL
 * reads a record's rest exactly, so a reader that stays behind empties
 * it at its next record).  A request-response connection never fills
 * one (a record that came in pieces does not count: RBUF_REST_MAX), and
 * keeps the small one; an idle one has none
 * (SSL_MODE_RELEASE_BUFFERS, tls_conn_idle_check). */
#define RBUF_BULK (4 * (16384 + 320 + 5))
/* Filled, in sock_read's sense: a recv() asked for more than this and got
 * it all.  OpenSSL asks for a record's rest exactly (a record that came in
 * pieces), and that is at most the one-record buffer less a header (it
 * refuses a longer record): a request that such a rest filled says nothing
 * of the kernel having more (tests/preload/rbuf_split.sh).  A read-ahead
 * request from the small buffer is its free room, at least 16,705 bytes
 * (it holds at most four bytes of a header then). */
#define RBUF_REST_MAX (16384 + 320)

static BIO_METHOD *sock_method;
static pthread_once_t sock_method_once = PTHREAD_ONCE_INIT;

static int out_append(struct tls_conn *c, const unsigned char *p, size_t n)
{
	size_t used = c->out_len - c->out_off;

	if (used + n > OUT_MAX) {
		c->sys_errno = ENOBUFS;
		return -1;
	}
	if (c->out_off && c->out_len + n > c->out_cap) {
		memmove(c->out, c->out + c->out_off, used);
		if (c->out_ctrl_end)
			c->out_ctrl_end -= c->out_off;
		c->out_off = 0;
		c->out_len = used;
	}
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		unsigned char *nb;
		while (cap < c->out_len + n)
			cap *= 2;
		nb = realloc(c->out, cap);
		if (!nb) {
			c->sys_errno = ENOMEM;
			return -1;
		}
		c->out = nb;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
	return 0;
}

/* ---- kernel TLS -------------------------------------------------------- *
 *
 * With `ktls = true` on the rule, and a kernel that has the "tls" ULP,
 * the SSL object gets SSL_OP_ENABLE_KTLS.  After the handshake OpenSSL
 * hands the keys to its BIO (BIO_set_ktls, the internal control 72 with
 * the kernel's tls12_crypto_info_* at the start of its argument); our
 * BIO attaches the ULP and gives them to the kernel with setsockopt,
 * as OpenSSL's socket BIO does.  From then on, in that direction:
 *  - send: OpenSSL writes plaintext; application data goes out with a
 *    plain send(), other records (alerts, tickets, KeyUpdate) with a
 *    TLS_SET_RECORD_TYPE control message.  The out-buffer holds
 *    plaintext, and a control record's unsent rest is remembered with
 *    its type (out_ctrl_end).
 *  - receive: recvmsg() returns decrypted records with their type in a
 *    control message; the BIO puts a 5-byte record header in front, as
 *    OpenSSL's socket BIO does (ktls_read_record), and OpenSSL skips the
 *    decryption.
 * The kernel cannot be re-keyed through this path (TLS 1.2
 * renegotiation is refused by OpenSSL; a TLS 1.3 KeyUpdate would be):
 * the connection then fails rather than encrypt twice.
 * NOT TESTED on the project's machines, whose kernels lack the "tls"
 * ULP: there OpenSSL is never asked, and everything runs as without
 * ktls (tests/preload/ktls.sh checks that fallback). */

#define BIO_CTRL_SET_KTLS_ 72                 /* OpenSSL-internal numbers */
#define BIO_CTRL_SET_KTLS_TX_SEND_CTRL_MSG_ 74
#define BIO_CTRL_CLEAR_KTLS_TX_CTRL_MSG_ 75
#define TLS_HDR 5
#define TLS_TAG 16

static pthread_once_t ktls_once = PTHREAD_ONCE_INIT;
static bool ktls_ulp;             /* the kernel lists the "tls" ULP */
static char ktls_ulps[128];       /* what it lists */
static atomic_bool ktls_said;     /* the one line per process was logged */

static void ktls_probe(void)
{
	/* fopen: glibc's internal open, never the shim's wrapper. */
	FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "re");

	if (f) {
		if (fgets(ktls_ulps, sizeof ktls_ulps, f)) {
			char *save = NULL, copy[sizeof ktls_ulps];
			ktls_ulps[strcspn(ktls_ulps, "\n")] = '\0';
			memcpy(copy, ktls_ulps, sizeof copy);
			for (char *t = strtok_r(copy, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
				if (!strcmp(t, "tls"))
					ktls_ulp = true;
		}
		fclose(f);
	} else {
		snprintf(ktls_ulps, sizeof ktls_ulps, "unreadable: %s", strerror(errno));
	}
}

/* One info line per process: kTLS asked for and not to be had. */
static void ktls_say_once(const char *label, const char *why)
{
	if (!atomic_exchange(&ktls_said, true))
		log_info("kTLS: rule \"%s\" has ktls = true, but %s: OpenSSL keeps the record layer"
			 " (connections work exactly as without ktls; said once per process)", label, why);
}

/* Should this rule's SSL objects get SSL_OP_ENABLE_KTLS? */
static bool ktls_usable(const char *label)
{
	char why[200];

	pthread_once(&ktls_once, ktls_probe);
	if (ktls_ulp)
		return true;
	snprintf(why, sizeof why, "the kernel has no \"tls\" ULP"
		 " (/proc/sys/net/ipv4/tcp_available_ulp: \"%s\")", ktls_ulps);
	ktls_say_once(label, why);
	return false;
}

/* The size of the kernel's crypto_info at the start of OpenSSL's
 * ktls_crypto_info_t (a union of them, then a length whose offset
 * depends on how OpenSSL was built: so read the cipher, not that). */
static socklen_t ktls_info_len(const void *info)
{
	const struct tls_crypto_info *i = info;

	switch (i->cipher_type) {
	case TLS_CIPHER_AES_GCM_128: return sizeof(struct tls12_crypto_info_aes_gcm_128);
	case TLS_CIPHER_AES_GCM_256: return sizeof(struct tls12_crypto_info_aes_gcm_256);
	case TLS_CIPHER_AES_CCM_128: return sizeof(struct tls12_crypto_info_aes_ccm_128);
	case TLS_CIPHER_CHACHA20_POLY1305: return sizeof(struct tls12_crypto_info_chacha20_poly1305);
	default: return 0;
	}
}

static ssize_t ktls_send_ctrl(struct tls_conn *c, unsigned char type, const void *p, size_t n)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(unsigned char))];
	} cb;
	struct iovec iov = { .iov_base = (void *)p, .iov_len = n };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cb.buf,
			    .msg_controllen = sizeof cb.buf };
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);
	ssize_t r;

	h->cmsg_level = SOL_TLS;
	h->cmsg_type = TLS_SET_RECORD_TYPE;
	h->cmsg_len = CMSG_LEN(sizeof(unsigned char));
	*CMSG_DATA(h) = type;
	m.msg_controllen = h->cmsg_len;
	do
		r = core_sys.sendmsg(c->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	return r;
}

/* Send what the out-buffer holds without failing the connection:
 * 0 empty, 1 the kernel is full, -1 an error (sys_errno). */
static int out_push(struct tls_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n;

		if (c->out_ctrl_end > c->out_off)
			n = ktls_send_ctrl(c, c->out_ctrl_type, c->out + c->out_off,
					   c->out_ctrl_end - c->out_off);
		else
			n = core_sys.send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
					  MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			c->out_off += (size_t)n;
			if (c->out_ctrl_end && c->out_off >= c->out_ctrl_end)
				c->out_ctrl_end = 0;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 1;
		c->sys_errno = n < 0 ? errno : EPIPE;
		return -1;
	}
	c->out_off = c->out_len = c->out_ctrl_end = 0;
	if (c->out && !c->keep_bufs) {
		/* Idle connections hold no buffer of ours. */
		free(c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
	return 0;
}

/* Set (for good) once a direction of any connection of the process went
 * to the kernel: until then every connection's answer to OpenSSL's "is
 * this kTLS?" is no, without looking at it (sock_ctrl). */
static bool ktls_any;

/* BIO_set_ktls: give the kernel this direction's keys.  1 done, 0 not
 * (OpenSSL then goes on in software). */
static long ktls_start(struct tls_conn *c, const void *info, bool tx)
{
	static const char ulp[] = "tls";
	socklen_t len = info ? ktls_info_len(info) : 0;

	if (tx ? c->ktls_tx : c->ktls_rx) {
		/* New keys for a direction the kernel already handles (a TLS 1.3
		 * KeyUpdate): going on in software would encrypt twice. */
		c->ktls_broken = true;
		c->sys_errno = EPROTO;
		log_error("%s rule \"%s\": kTLS: the peer asked for new keys (KeyUpdate), which this"
			  " kernel TLS path cannot take: the connection fails", c->peer, c->o.label);
		return 0;
	}
	if (!len || !core_sys.setsockopt || c->fd < 0)
		return 0;
	/* Records OpenSSL encrypted itself must be out first. */
	if (tx && out_push(c) != 0)
		return 0;
	if (!c->ktls_tx && !c->ktls_rx &&
	    core_sys.setsockopt(c->fd, SOL_TCP, TCP_ULP, ulp, sizeof ulp - 1) < 0 && errno != EEXIST) {
		char why[160];
		snprintf(why, sizeof why, "the kernel refused the \"tls\" ULP (%s)", strerror(errno));
		ktls_say_once(c->o.label, why);
		return 0;
	}
	if (core_sys.setsockopt(c->fd, SOL_TLS, tx ? TLS_TX : TLS_RX, info, len) < 0) {
		log_debug("%s rule \"%s\": kTLS: the kernel refused the %s keys (%s): software",
			  c->peer, c->o.label, tx ? "send" : "receive", strerror(errno));
		return 0;
	}
	if (tx)
		c->ktls_tx = true;
	else
		c->ktls_rx = true;
	__atomic_store_n(&ktls_any, true, __ATOMIC_RELAXED);
	return 1;
}

/* n of len bytes were sent (n < 0: the send failed, errno says why): the
 * rest goes to the out-buffer.  len, or -1 on a real error. */
static int queue_rest(struct tls_conn *c, const char *buf, int len, ssize_t n)
{
	if (n == len)
		return len;
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			c->sys_errno = errno;
			return -1;
		}
		n = 0;
	}
	if (out_append(c, (const unsigned char *)buf + n, (size_t)(len - n)) < 0)
		return -1;
	return len;
}

/* Never reports "retry": what the kernel does not take is kept, in order. */
static int sock_write(BIO *b, const char *buf, int len)
{
	struct tls_conn *c = BIO_get_data(b);
	ssize_t n = 0;

	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	if (c->ktls_broken) {
		c->sys_errno = EPROTO;
		return -1;
	}
	if (c->ktls_ctrl) {
		/* A control record through kernel TLS.  OpenSSL flushed the
		 * BIO first (BIO_CTRL_FLUSH below), so nothing is queued. */
		unsigned char type = c->ktls_ctrl_type;
		c->ktls_ctrl = false;
		if (c->out_off != c->out_len) {
			c->sys_errno = EPROTO;
			return -1;
		}
		c->out_off = c->out_len = 0;
		n = queue_rest(c, buf, len, ktls_send_ctrl(c, type, buf, (size_t)len));
		if (n == len && c->out_len) {
			c->out_ctrl_end = c->out_len;
			c->out_ctrl_type = type;
		}
		return (int)n;
	}
	n = 0;
	if (c->out_off == c->out_len) {
		/* close_notify with the FIN right behind (fin_next): MSG_MORE
		 * holds the record in the kernel until the FIN goes out with it,
		 * one segment.  What the kernel does not take now is sent from
		 * the out-buffer without MSG_MORE, which pushes all of it. */
		int fl = MSG_DONTWAIT | MSG_NOSIGNAL | (c->fin_next ? MSG_MORE : 0);

		c->out_off = c->out_len = 0;
		do
			n = core_sys.send(c->fd, buf, (size_t)len, fl);
		while (n < 0 && errno == EINTR);
	}
	c->hs_flight = c->hs_drained && c->state == ST_HANDSHAKE;
	return queue_rest(c, buf, len, n);
}

/* kTLS receive: one or more decrypted records of one type, behind a
 * record header of our own (what OpenSSL's ktls_read_record does). */
static ssize_t ktls_recv(struct tls_conn *c, char *buf, size_t len)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(unsigned char))];
	} cb;
	struct iovec iov;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cb.buf,
			    .msg_controllen = sizeof cb.buf };
	struct cmsghdr *h;
	size_t room;
	ssize_t n;

	if (len < TLS_HDR + TLS_TAG + 1) {
		errno = EINVAL;
		return -1;
	}
	room = len - TLS_HDR - TLS_TAG;
	if (room > 16384)
		room = 16384;   /* never more than one record's plaintext */
	iov.iov_base = buf + TLS_HDR;
	iov.iov_len = room;
	n = core_sys.recvmsg(c->fd, &m, MSG_DONTWAIT);
	if (n <= 0)
		return n;
	h = CMSG_FIRSTHDR(&m);
	if (!h || h->cmsg_level != SOL_TLS || h->cmsg_type != TLS_GET_RECORD_TYPE) {
		errno = EPROTO;
		return -1;
	}
	buf[0] = (char)*CMSG_DATA(h);
	buf[1] = 3;     /* TLS1_2_VERSION_MAJOR/MINOR, as OpenSSL writes them */
	buf[2] = 3;
	buf[3] = (char)((n >> 8) & 0xff);
	buf[4] = (char)(n & 0xff);
	return n + TLS_HDR;
}

static int sock_read(BIO *b, char *buf, int len)
{
	struct tls_conn *c = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	c->bio_retry = false;
	if (len <= 0)
		return 0;
	/* A handshake step that read until the kernel's queue was empty
	 * (a short recv), then sent its flight, now reads again: usually
	 * for the answer to that flight, which takes the peer longer than
	 * this.  Whatever is there now arrived after the emptying recv, so
	 * it woke every level-triggered waiter that looks next (shim_wait,
	 * poll) and queued a fresh edge for an edge-triggered epoll: "would
	 * block" without asking loses nothing.  One receive system call
	 * fewer per flight (the server's after its ServerHello..Finished).
	 * Per step: the flags start false at each SSL_do_handshake
	 * (handshake_locked), and only a handshake step skips. */
	if (c->hs_flight && c->state == ST_HANDSHAKE && !c->ktls_rx) {
		c->hs_flight = c->hs_drained = false;
		c->bio_retry = true;
		BIO_set_retry_read(b);
		return -1;
	}
	do
		n = c->ktls_rx ? ktls_recv(c, buf, (size_t)len)
			       : core_sys.recv(c->fd, buf, (size_t)len, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		/* kTLS gives a record at a time: only EAGAIN says "drained". */
		c->drained = c->hs_drained = !c->ktls_rx && n < len;
		/* From the next buffer on (this one is in use): RBUF_BULK.
		 * Not for a record's rest read exactly (RBUF_REST_MAX). */
		if (__builtin_expect(n == len && !c->rbuf_bulk, 0) && len > RBUF_REST_MAX &&
		    c->state == ST_OPEN && !c->ktls_rx) {
			c->rbuf_bulk = c->rbuf_swap = true;
			SSL_set_default_read_buffer_len(c->ssl, RBUF_BULK);
		}
		__atomic_add_fetch(&c->rx_gen, 1, __ATOMIC_RELAXED);
		return (int)n;
	}
	if (c->reset_drain && (n == 0 || errno != EAGAIN)) {
		/* The queue's end (the reset's error was another call's): a
		 * record cut there is the reset's, never an end of stream. */
		c->drained = true;
		c->bio_retry = true;
		BIO_set_retry_read(b);
		return -1;
	}
	if (n == 0) {
		c->eof = true;
		c->drained = true;
		__atomic_add_fetch(&c->rx_gen, 1, __ATOMIC_RELAXED);
		return 0;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		c->drained = true;
		c->bio_retry = true;
		BIO_set_retry_read(b);
		return -1;
	}
	c->sys_errno = errno;
	return -1;
}

static __attribute__((noinline)) long sock_ctrl_slow(BIO *b, int cmd, long num, void *ptr)
{
	struct tls_conn *c = BIO_get_data(b);

	switch (cmd) {
	case BIO_CTRL_EOF:       /* how OpenSSL tells a FIN from "no data yet" */
		return c && c->eof;
	case BIO_CTRL_FLUSH:
		/* With kTLS sending, OpenSSL flushes before a control record and
		 * needs the queue empty (see sock_write); otherwise the
		 * out-buffer is flushed by the engine, in order. */
		if (c && c->ktls_tx && out_push(c) != 0)
			return 0;
		return 1;
	case BIO_CTRL_DUP:
		return 1;
	case BIO_CTRL_GET_KTLS_SEND:
		return c && c->ktls_tx;
	case BIO_CTRL_GET_KTLS_RECV:
		return c && c->ktls_rx;
	case BIO_CTRL_SET_KTLS_:
		return c && c->o.ktls ? ktls_start(c, ptr, num != 0) : 0;
	case BIO_CTRL_SET_KTLS_TX_SEND_CTRL_MSG_:
		if (c && c->ktls_tx) {
			c->ktls_ctrl = true;
			c->ktls_ctrl_type = (unsigned char)num;
		}
		return 0;
	case BIO_CTRL_CLEAR_KTLS_TX_CTRL_MSG_:
		if (c)
			c->ktls_ctrl = false;
		return 0;
	default:
		return 0;
	}
}

/* OpenSSL asks "is sending kTLS?" about ten times per record it writes
 * and "is receiving?" at each read (BIO_get_ktls_send/_recv): a few
 * instructions while no connection of the process uses kTLS (ktls_any),
 * not a look-up of the connection and a switch in a frame that saves
 * registers (some 350 instructions per request and response, callgrind;
 * bench/README.md).  The rest, out of line. */
static long sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	if ((cmd == BIO_CTRL_GET_KTLS_SEND || cmd == BIO_CTRL_GET_KTLS_RECV) &&
	    !__atomic_load_n(&ktls_any, __ATOMIC_RELAXED))
		return 0;
	return sock_ctrl_slow(b, cmd, num, ptr);
}

static int sock_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void sock_method_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tlsshim socket");

	if (!m)
		return;
	BIO_meth_set_write(m, sock_write);
	BIO_meth_set_read(m, sock_read);
	BIO_meth_set_ctrl(m, sock_ctrl);
	BIO_meth_set_create(m, sock_create);
	sock_method = m;
}

/* ---- the one place OpenSSL failures become reasons -------------------- */

static bool is_ip_literal(const char *s)
{
	unsigned char tmp[16];
	return inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1;
}

/* state and fail are written under the connection's lock but read
 * without it (tls_conn_failed, tls_conn_handshake_done, tls_conn_moved,
 * tls_conn_failure: poll and fork ask from other threads), so every write
 * is atomic; fail first, so that a reader that sees ST_FAILED sees why.
 * (ThreadSanitizer, make check-tsan, found the plain writes.) */
static inline void set_state(struct tls_conn *c, enum conn_state st)
{
	__atomic_store_n(&c->state, st, __ATOMIC_RELEASE);
}

static inline void set_fail(struct tls_conn *c, enum tls_fail why)
{
	__atomic_store_n(&c->fail, why, __ATOMIC_RELAXED);
}

/* newerr: this call queued an OpenSSL error (the newest one is ours). */
/* A name the peer sent, for a message: printable ASCII but '"' and '\\'
 * as is, the rest as \\xNN; at most 255 input bytes. */
static void escape_name(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; in[i] && i < 255 && o + 5 <= len; i++) {
		unsigned char ch = (unsigned char)in[i];

		if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", ch);
	}
	out[o] = '\0';
}

/* The string data of the first ERR_LIB_SSL error of this reason a
 * callback left (core/tls.h: a status callback's printable line with
 * SSL_R_INVALID_STATUS_RESPONSE, the name sni_strict refused with
 * SSL_R_CALLBACK_FAILED).  Takes the engine's errors off the queue (the
 * caller is done with them; the program's are stashed). */
static bool reason_data(int reason, char *buf, size_t len)
{
	const char *data;
	unsigned long code;
	int flags;
	bool found = false;

	while ((code = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
		if (found || ERR_GET_LIB(code) != ERR_LIB_SSL || ERR_GET_REASON(code) != reason ||
		    !data || !(flags & ERR_TXT_STRING))
			continue;
		snprintf(buf, len, "%s", data);
		found = true;
	}
	return found;
}

/* Did an allocation fail among the engine's errors?  OpenSSL puts the
 * allocation's ERR_R_MALLOC_FAILURE first and the giving-up step's
 * "internal error" last, and the last is the one a log line names: a
 * process short of memory (RLIMIT_AS, RLIMIT_DATA) read as a bug.  Takes
 * the errors off the queue, as reason_data does. */
static bool errors_out_of_memory(void)
{
	unsigned long code;
	bool oom = false;

	while ((code = ERR_get_error()) != 0)
		if (ERR_GET_REASON(code) == ERR_GET_REASON(ERR_R_MALLOC_FAILURE))
			oom = true;
	return oom;
}

static ssize_t stage_locked(struct tls_conn *c, size_t want, size_t most);

/* A send failed because the peer reset the connection (ECONNRESET; EPIPE
 * when an earlier call took the reset's error).  What the peer sent before
 * its RST is still there: Linux's tcp_reset leaves the receive queue, and
 * a TCP program reads those bytes, then the error.  The failure would cut
 * them off (after it a read returns the stage only), so the complete
 * records the kernel and OpenSSL hold now are decrypted into the stage
 * first: authenticated plain text, delivered before the error like any
 * staged bytes; a record cut by the reset stays behind.  Reads at the
 * queue's end say "would block" (reset_drain), never end of stream.  A
 * record that fails to authenticate fails the connection here, with its
 * own reason. */
static void drain_before_reset(struct tls_conn *c)
{
	int err = c->sys_errno;
	bool eof = c->eof;

	if (c->state != ST_OPEN || (err != ECONNRESET && err != EPIPE) || c->got_close ||
	    c->rd_shut || c->reset_drain || c->fd < 0)
		return;
	c->reset_drain = true;
	c->drained = false;
	(void)stage_locked(c, 0, 0);    /* reset: nothing more can arrive */
	c->reset_drain = false;
	c->bio_retry = false;
	if (c->state == ST_OPEN) {
		c->sys_errno = err;
		c->eof = eof;
	}
}

static void note_failure(struct tls_conn *c, bool newerr)
{
	unsigned long e = newerr ? ERR_peek_last_error() : 0;
	int lib = ERR_GET_LIB(e), reason = ERR_GET_REASON(e);
	bool in_handshake = c->state != ST_OPEN;
	long vr;

	if (!newerr && !in_handshake && c->sys_errno) {
		drain_before_reset(c);
		if (c->state == ST_FAILED)
			return;         /* a bad record among them: its reason stands */
	}
	vr = SSL_get_verify_result(c->ssl);
	enum tls_fail why = in_handshake ? TLS_FAIL_HANDSHAKE : TLS_FAIL_PROTOCOL;
	char *m = c->err;
	size_t ml = sizeof c->err;

	if (c->peer_refused && vr == X509_V_ERR_APPLICATION_VERIFICATION) {
		/* m already says who the peer is (verify_peer). */
	} else if (lib == ERR_LIB_SSL && reason == SSL_R_CERTIFICATE_VERIFY_FAILED && vr != X509_V_OK) {
		if (vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH)
			snprintf(m, ml, "certificate verification failed: %s (expected \"%s\")",
				 X509_verify_cert_error_string(vr), c->name);
		else
			snprintf(m, ml, "certificate verification failed: %s",
				 X509_verify_cert_error_string(vr));
	} else if (lib == ERR_LIB_SSL && (reason == SSL_R_WRONG_VERSION_NUMBER ||
					 reason == SSL_R_HTTP_REQUEST ||
					 reason == SSL_R_HTTPS_PROXY_REQUEST ||
					 reason == SSL_R_PACKET_LENGTH_TOO_LONG ||
					 reason == SSL_R_RECORD_LENGTH_MISMATCH) && in_handshake) {
		snprintf(m, ml, "peer does not speak TLS (plaintext or another protocol?): %s",
			 ERR_reason_error_string(e));
	} else if (lib == ERR_LIB_SSL && (reason == SSL_R_UNSUPPORTED_PROTOCOL ||
					 reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION ||
					 reason == SSL_R_NO_PROTOCOLS_AVAILABLE ||
					 reason == SSL_R_WRONG_SSL_VERSION)) {
		snprintf(m, ml, "protocol version mismatch: %s", ERR_reason_error_string(e));
	} else if (lib == ERR_LIB_SSL && (reason == SSL_R_NO_APPLICATION_PROTOCOL ||
					 reason == SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL)) {
		snprintf(m, ml, "ALPN mismatch: no application protocol in common with the peer (%s)",
			 reason == SSL_R_NO_APPLICATION_PROTOCOL ? "the client offered none this rule accepts"
			 : "the server accepts none this rule offers");
	} else if (lib == ERR_LIB_SSL && reason == SSL_R_CALLBACK_FAILED && in_handshake &&
		   c->role == TLS_ROLE_SERVER) {
		/* The only callbacks that refuse a client are sni_strict's
		 * (policy/sni.c): names no certificate of the rule has get
		 * unrecognized_name.  The ClientHello callback's error
		 * carries the name the client sent ("" for none); the
		 * servername callback's carries none: the name is then
		 * OpenSSL's. */
		char sent[256], esc[256];
		const char *sni = reason_data(SSL_R_CALLBACK_FAILED, sent, sizeof sent)
				  ? sent : SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);

		if (sni && *sni) {
			escape_name(sni, esc, sizeof esc);
			snprintf(m, ml, "unknown server name \"%s\" refused (sni_strict: no certificate of"
				 " the rule names it; unrecognized_name alert sent)", esc);
		} else {
			snprintf(m, ml, "client sent no server name (SNI) and sni_strict refuses it"
				 " (unrecognized_name alert sent)");
		}
	} else if (lib == ERR_LIB_SSL && reason == SSL_R_INVALID_STATUS_RESPONSE && in_handshake &&
		   c->role == TLS_ROLE_CLIENT) {
		/* The status callback of the rule's SSL_CTX (the server's
		 * OCSP response, policy/ocsp.c) refused the server. */
		if (!reason_data(SSL_R_INVALID_STATUS_RESPONSE, m, ml) || !*m)
			snprintf(m, ml, "OCSP: the server's certificate status was refused");
	} else if (lib == ERR_LIB_SSL && reason == SSL_R_NO_SHARED_CIPHER) {
		snprintf(m, ml, "no cipher suite in common with the peer");
	} else if (lib == ERR_LIB_SSL && (reason == SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC ||
					 reason == SSL_R_DECRYPTION_FAILED)) {
		snprintf(m, ml, "record authentication failed (data altered or corrupted): %s",
			 ERR_reason_error_string(e));
	} else if ((lib == ERR_LIB_SSL && reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) ||
		   (!newerr && c->eof && !c->sys_errno)) {
		if (in_handshake) {
			snprintf(m, ml, "peer closed the connection during the handshake");
		} else {
			why = TLS_FAIL_TRUNCATED;
			snprintf(m, ml, "connection truncated: TCP FIN without TLS close_notify"
				 " (allow_truncation is off)");
		}
	} else if (c->sys_errno) {
		why = TLS_FAIL_SYSCALL;
		snprintf(m, ml, "%s: %s", in_handshake ? "socket error during the handshake"
			 : "socket error", strerror(c->sys_errno));
	} else if (newerr && errors_out_of_memory()) {
		snprintf(m, ml, "%sout of memory: OpenSSL could not allocate (the process's RLIMIT_AS or"
			 " RLIMIT_DATA, or the system's memory)", in_handshake ? "handshake failed: " : "");
	} else if (newerr) {
		const char *r = ERR_reason_error_string(e);
		snprintf(m, ml, "%s%s", in_handshake ? "handshake failed: " : "",
			 r ? r : "unknown OpenSSL error");
	} else {
		snprintf(m, ml, "unexpected TLS failure");
	}
	set_fail(c, why);
	set_state(c, ST_FAILED);
}

/* What did the SSL_* call that returned "not done" mean?  0: clean
 * close_notify (reads only), TLS_WANT_*, or TLS_ERR with the reason noted. */
static int classify(struct tls_conn *c, struct err_snap snap, bool reading)
{
	/* Nothing pushed since the snapshot: nothing new.  And an empty
	 * queue holds no error of this call's (OpenSSL's handshake clears
	 * the queue; a step may raise and withdraw an error). */
	unsigned long last = errq_none_since(snap.pushes) ? snap.last : ERR_peek_last_error();
	bool newerr = last != 0 && last != snap.last;

	if (!newerr && !c->sys_errno) {
		if (reading && (SSL_get_shutdown(c->ssl) & SSL_RECEIVED_SHUTDOWN)) {
			c->got_close = true;
			return 0;
		}
		if (c->bio_retry || SSL_want_read(c->ssl))
			return TLS_WANT_POLLIN;
		if (SSL_want_write(c->ssl))
			return TLS_WANT_POLLOUT;
	}
	if (reading && c->state == ST_OPEN && c->eof && !c->sys_errno &&
	    c->o.allow_truncation) {
		/* The rule accepts a bare FIN as the end of the stream. */
		c->got_close = true;
		log_debug("%s rule \"%s\": peer closed without close_notify (allowed)",
			  c->peer, c->o.label);
		return 0;
	}
	note_failure(c, newerr);
	return TLS_ERR;
}

/* ---- which process owns the session ------------------------------------ */


/* The record lock on byte 0 of fd's socket that claim() takes (see there):
 * taken (take) or let go; 0 done, 1 another process holds it (EAGAIN,
 * EACCES), -1 any other answer.  errno as it was. */
static int socket_lock(int fd, bool take)
{
	struct flock l = { .l_type = take ? F_WRLCK : F_UNLCK, .l_whence = SEEK_SET, .l_start = 0,
			   .l_len = 1 };
	int e = errno, r = core_sys.fcntl(fd, F_SETLK, &l);

	r = r == 0 ? 0 : errno == EAGAIN || errno == EACCES ? 1 : -1;
	errno = e;
	return r;
}

/* The process holding that lock, or -1.  errno as it was. */
static pid_t socket_lock_holder(int fd)
{
	struct flock l = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	int e = errno;
	pid_t o = core_sys.fcntl(fd, F_GETLK, &l) == 0 && l.l_type != F_UNLCK && l.l_pid > 0
		  ? l.l_pid : -1;

	errno = e;
	return o;
}

/* c failed as another process's session (TLS_FAIL_FOREIGN), its error
 * text the format's, unless it failed already. */
static void __attribute__((format(printf, 2, 3)))
fail_foreign(struct tls_conn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->state == ST_FAILED)
		return;
	set_fail(c, TLS_FAIL_FOREIGN);
	set_state(c, ST_FAILED);
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
}

/* Claim the session for this process (self_pid(), core/self.h) on first
 * use: after fork, two processes encrypting with one session would repeat
 * AES-GCM nonces.  false: another process used it first; the connection
 * is failed here (only in this process's copy, TLS_FAIL_FOREIGN), its
 * close sends nothing, and nothing is ever encrypted with it again. */
static bool claim(struct tls_conn *c)
{
	pid_t me = self_pid(), o = 0;

	/* No id (a sandbox refuses getpid(), asked from a thread that does
	 * not lead the process): no process may claim it as its own. */
	if (me <= 0) {
		if (c->state != ST_FAILED) {
			set_fail(c, TLS_FAIL_FOREIGN);
			set_state(c, ST_FAILED);
			snprintf(c->err, sizeof c->err, "this process's id is unknown (getpid() refused):"
				 " the TLS session is not used (two processes must never encrypt with one)");
		}
		return false;
	}
	/* This process's already (every call after the first): the answer
	 * the compare-and-swap below would give, without its locked
	 * instruction. */
	if (__atomic_load_n(&c->owner, __ATOMIC_ACQUIRE) == me)
		return true;
	if (__atomic_compare_exchange_n(&c->owner, &o, me, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		/* The first use in this process; but the owner word is this
		 * process's own memory, and a fork() before any use left
		 * the session free in both copies.  What the two processes
		 * share is the socket: a POSIX record lock on it belongs to a
		 * process (not to the open file description they share) and
		 * a fork child does not inherit its parent's, so the first
		 * user's F_SETLK is taken and the second's fails (EAGAIN or
		 * EACCES) before it sends a byte.  Any other answer (a
		 * sandbox's refusal, EBADF, ENOLCK) leaves the claim as
		 * before.  The lock goes with this process's first close of
		 * any descriptor of the socket (POSIX), or its exit. */
		int r = c->fd >= 0 ? socket_lock(c->fd, true) : -1;

		if (r == 0)     /* (taken again after a close of ours: tls_conn_relock) */
			__atomic_store_n(&c->sock_locked, true, __ATOMIC_RELEASE);
		if (r != 1)
			return true;
		o = socket_lock_holder(c->fd);
		__atomic_store_n(&c->owner, o, __ATOMIC_RELEASE);
		fail_foreign(c, "the TLS session is in use by process %d (it took the socket's lock"
			     " first); process %d may not use it (after fork, two processes must never"
			     " start a handshake on one stream)", (int)o, (int)me);
		return false;
	}
	if (o == me)
		return true;
	fail_foreign(c, "the TLS session belongs to process %d; process %d may not use it (after"
		     " fork, two processes must never encrypt with one session)", (int)o, (int)me);
	return false;
}

/* The lock claim() took goes with this process's close of ANY descriptor
 * of the socket (POSIX): a dup() of the program's, the copy the library
 * holds for a call (connect() again: shim/connect.c) and closes.  Called
 * after such a close, while the session still has a descriptor: the lock
 * taken again, so that a process holding a copy forked before the
 * handshake is still refused at its first use (before h219 it found the
 * lock free and started a handshake of its own in the middle of this
 * process's stream: the peer failed the connection).  Under the
 * connection's lock, on c->fd, which is in the session's list until
 * close_begin takes it out, before the real close: never another file
 * that took its number.  Another process that took the lock in the
 * moment it was free is logged; what it starts fails at the peer. */
void tls_conn_relock(struct tls_conn *c)
{
	int fd;
	pid_t me;

	if (!__atomic_load_n(&c->sock_locked, __ATOMIC_ACQUIRE))
		return;
	me = self_pid();
	ENTER_OR(c, );
	fd = c->fd;
	if (fd >= 0 && c->nfds > 0 && me > 0 && __atomic_load_n(&c->owner, __ATOMIC_ACQUIRE) == me &&
	    socket_lock(fd, true) == 1)
		log_warn("%s rule \"%s\": another process took this TLS socket's lock in the moment a"
			 " close of this process's let it go: if it uses its copy, the peer fails the"
			 " connection", c->peer, c->o.label);
	LEAVE(c);
}

/* The record lock claim() took on c's socket, let go (take false: just
 * before a pump is made for the session, which takes it then) or taken
 * (take true: in the pump, or in the program again when no pump started).
 * The program's dup2() of the pump's channel onto the session's numbers
 * drops its lock (POSIX); the pump, a process of its own, never had it:
 * before h219 a process holding a copy forked before the handshake then
 * found it free and started a handshake in the middle of the pump's
 * stream.  The caller holds c's lock, or is the pump (one thread). */
void tls_conn_sock_lock(struct tls_conn *c, bool take)
{
	int fd = __atomic_load_n(&c->fd, __ATOMIC_ACQUIRE);

	if (fd < 0 || !__atomic_load_n(&c->sock_locked, __ATOMIC_ACQUIRE))
		return;
	if (socket_lock(fd, take) == 1)     /* (only a take can find it held) */
		log_warn("%s rule \"%s\": another process took this TLS socket's lock while the"
			 " session moved to a pump: if it uses its copy, the peer fails the connection",
			 c->peer, c->o.label);
}

/* The pump's take of the lock (shim/pump.c, before its ready byte),
 * whether or not this session's claim() ever took it: a session this
 * process never used (owner 0: a server session not started, handed
 * over at exec or spawn) had no sock_locked, so tls_conn_sock_lock did
 * nothing in the pump, and the pump's own claim() skips F_SETLK (it is
 * the owner already): before h223 a process holding a copy forked before
 * then found the lock free and started a handshake in the middle of the
 * pump's stream.  false: another process holds it (its copy was used
 * first, or won the moment of the hand-over): the session is failed here
 * (TLS_FAIL_FOREIGN), so the peer sees a failed connection, never two
 * handshakes.  Any other answer (a sandbox's refusal, ENOLCK) leaves the
 * session as claim() would.  The pump is one thread. */
bool tls_conn_pump_lock(struct tls_conn *c)
{
	int fd = __atomic_load_n(&c->fd, __ATOMIC_ACQUIRE), r;
	pid_t o;

	if (fd < 0)
		return true;
	r = socket_lock(fd, true);
	if (r == 0)
		__atomic_store_n(&c->sock_locked, true, __ATOMIC_RELEASE);
	if (r != 1)
		return true;
	o = socket_lock_holder(fd);
	fail_foreign(c, "the TLS session is in use by process %d (it took the socket's lock before"
		     " this pump, process %d, could): the pump fails it (two processes must never"
		     " start a handshake on one stream)", (int)o, (int)self_pid());
	log_warn("%s rule \"%s\": %s", c->peer, c->o.label, c->err);
	return false;
}

/* ---- life cycle -------------------------------------------------------- */

/* Connection objects are type-stable: a freed one goes on this stack and
 * is only ever reused as a connection, never returned to the allocator.
 * That is what lets conntab_get() take a reference without a lock: a
 * stale pointer read from the table still points at a connection object,
 * whose reference count says 0 (tls_conn_tryref fails) or that has been
 * reused (the table word no longer matches).  The stack head carries a
 * 16-bit tag against ABA; user-space pointers fit in 48 bits. */
static _Atomic uint64_t free_stack;
static struct tls_conn *_Atomic all_conns;
#define PTR_MASK ((UINT64_C(1) << 48) - 1)

static struct tls_conn *conn_alloc(void)
{
	uint64_t h = atomic_load_explicit(&free_stack, memory_order_acquire);

	for (;;) {
		struct tls_conn *c = (struct tls_conn *)(uintptr_t)(h & PTR_MASK), *next;
		uint64_t nh;

		if (!c) {
			/* A new object joins the list of all of them, which keeps
			 * it reachable (a leak checker cannot follow the tagged
			 * free-list head). */
			if ((c = calloc(1, sizeof *c))) {
				struct tls_conn *head;

				/* Read without the lock by design (type-stable:
				 * once per object). */
				HG_ATOMIC_FIELD(&c->state);
				HG_ATOMIC_FIELD(&c->fail);
				HG_ATOMIC_FIELD(&c->fd);
				HG_ATOMIC_FIELD(&c->owner);
				/* read by a popper that may lose the race for it */
				HG_ATOMIC_FIELD(&c->free_next);
				head = atomic_load_explicit(&all_conns, memory_order_relaxed);
				do
					c->all_next = head;
				while (!atomic_compare_exchange_weak_explicit(&all_conns, &head, c,
									      memory_order_release,
									      memory_order_relaxed));
			}
			return c;
		}
		next = atomic_load_explicit(&c->free_next, memory_order_relaxed);
		nh = ((uint64_t)(uintptr_t)next & PTR_MASK) | ((h & ~PTR_MASK) + (UINT64_C(1) << 48));
		if (atomic_compare_exchange_weak_explicit(&free_stack, &h, nh, memory_order_acq_rel,
							  memory_order_acquire)) {
			HG_HAPPENS_AFTER(c);
			/* Everything but the two type-stable fields starts at zero. */
			memset(&c->lock, 0, sizeof *c - offsetof(struct tls_conn, lock));
			return c;
		}
	}
}

static void conn_free(struct tls_conn *c)
{
	uint64_t h = atomic_load_explicit(&free_stack, memory_order_relaxed);

	HG_HAPPENS_BEFORE(c);
	for (;;) {
		uint64_t nh = ((uint64_t)(uintptr_t)c & PTR_MASK) | ((h & ~PTR_MASK) + (UINT64_C(1) << 48));
		atomic_store_explicit(&c->free_next, (struct tls_conn *)(uintptr_t)(h & PTR_MASK),
				      memory_order_relaxed);
		if (atomic_compare_exchange_weak_explicit(&free_stack, &h, nh, memory_order_acq_rel,
							  memory_order_relaxed))
			return;
	}
}

/* The verify callback when the rule restricts the peer's identity: once
 * the chain verified (ok at depth 0, the last call), ask check_peer about
 * the leaf.  A callback the SSL_CTX has of its own runs first and keeps
 * its say.  Runs inside SSL_do_handshake, under c's lock. */
static int verify_peer(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_conn *c = ssl ? SSL_get_app_data(ssl) : NULL;
	SSL_verify_cb ctx_cb = ssl ? SSL_CTX_get_verify_callback(SSL_get_SSL_CTX(ssl)) : NULL;
	char why[sizeof c->err - 40];

	if (ctx_cb && ctx_cb != verify_peer)
		ok = ctx_cb(ok, xs);
	if (!ok || !c || !c->o.check_peer || X509_STORE_CTX_get_error_depth(xs) != 0)
		return ok;
	if (c->o.check_peer(c->o.check_arg, X509_STORE_CTX_get_current_cert(xs), why, sizeof why))
		return 1;
	snprintf(c->err, sizeof c->err, "certificate verification failed: %s", why);
	c->peer_refused = true;
	X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
	return 0;
}

/* c->ssl, a new SSL object of ctx over c's socket, set up for c's role
 * and options; false (c->ssl NULL or to be freed) when OpenSSL cannot. */
static bool ssl_make(struct tls_conn *c, SSL_CTX *ctx)
{
	BIO *bio;

	c->ssl = SSL_new(ctx);
	bio = c->ssl ? BIO_new(sock_method) : NULL;
	if (!bio)
		return false;
	BIO_set_data(bio, c);
	SSL_set_bio(c->ssl, bio, bio);
	/* Read ahead: one recv() takes in as many records as fit, and a
	 * short one tells that the kernel's queue is empty (read_locked). */
	SSL_set_read_ahead(c->ssl, 1);
	if (c->o.check_peer) {
		SSL_set_app_data(c->ssl, c);
		SSL_set_verify(c->ssl, SSL_get_verify_mode(c->ssl), verify_peer);
	}
	/* An idle connection keeps no record buffers: OpenSSL frees its
	 * read buffer when it holds nothing and its write buffer when all is
	 * written (about 34 KiB per connection otherwise). */
	SSL_set_mode(c->ssl, SSL_MODE_RELEASE_BUFFERS);
	if (c->o.ktls && ktls_usable(c->o.label))
		SSL_set_options(c->ssl, SSL_OP_ENABLE_KTLS);
	/* A bare FIN the rule accepts is the end of the peer's stream only,
	 * as TCP's half-close: OpenSSL must see it as a close_notify, not as
	 * a fatal error that would fail our later writes (the reply to a
	 * peer that shut down its sending side). */
	if (c->o.allow_truncation)
		SSL_set_options(c->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (c->role == TLS_ROLE_SERVER) {
		SSL_set_accept_state(c->ssl);
	} else {
		SSL_set_connect_state(c->ssl);
		if (c->name[0] && !is_ip_literal(c->name) &&
		    !SSL_set_tlsext_host_name(c->ssl, c->name))
			return false;
		if (c->o.verify_name && c->name[0]) {
			X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
			/* subjectAltName only: a name in the subject CN alone is
			 * not accepted (RFC 6125 §6.4.4, tlsshim.conf(5)). */
			X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
							      X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
			if (is_ip_literal(c->name) ? !X509_VERIFY_PARAM_set1_ip_asc(vp, c->name)
						   : !SSL_set1_host(c->ssl, c->name))
				return false;
		}
	}
	return true;
}

struct tls_conn *tls_conn_new(int fd, const struct tls_opts *opts, enum tls_role role,
			      const char *peer_name, const char *peer_desc)
{
	struct tls_conn *c;

	pthread_once(&sock_method_once, sock_method_init);
	if (!sock_method || !opts->ctx)
		return NULL;
	c = conn_alloc();
	if (!c)
		return NULL;
	xlock_init(&c->lock);
	c->fd = fd;
	c->made_by = self_pid();
	c->nonblock = -1;
	c->timeo[0] = c->timeo[1] = (uint32_t)TLS_TIMEO_UNKNOWN;
	c->o = *opts;
	c->role = role;
	c->state = ST_NEW;
	c->ku_left = UINT64_MAX;
	/* A server's handshake must be done handshake_timeout_ms after the
	 * accept: a client that connects and says nothing is timed out when
	 * the program waits for it (poll, select, epoll) or uses it. */
	if (role == TLS_ROLE_SERVER)
		c->hs_deadline = clock_ms() + opts->handshake_timeout_ms;
	str_copy(c->peer, sizeof c->peer, peer_desc ? peer_desc : "?");
	str_copy(c->name, sizeof c->name, peer_name ? peer_name : "");
	if (!(c->fds = malloc(2 * sizeof *c->fds))) {
		conn_free(c);
		return NULL;
	}
	c->fds[0] = fd;
	c->nfds = 1;
	c->fds_cap = 2;

	struct err_stash es_;
	err_stash(&es_);
	if (!ssl_make(c, opts->ctx))
		goto fail;
	err_unstash(&es_);
	atomic_store_explicit(&c->refs, 1, memory_order_release);
	return c;
fail:
	log_error("%s rule \"%s\": cannot create TLS connection object", c->peer, opts->label);
	err_unstash(&es_);
	SSL_free(c->ssl);
	free(c->fds);
	conn_free(c);
	return NULL;
}

void tls_conn_ref(struct tls_conn *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

bool tls_conn_tryref(struct tls_conn *c)
{
	int r = atomic_load_explicit(&c->refs, memory_order_acquire);

	while (r > 0)
		if (atomic_compare_exchange_weak_explicit(&c->refs, &r, r + 1, memory_order_acq_rel,
							  memory_order_acquire))
			return true;
	return false;
}

void tls_conn_unref(struct tls_conn *c)
{
	if (!c)
		return;
	/* The last holder's work on the object follows every other holder's
	 * (the count is an atomic, which helgrind does not see). */
	HG_HAPPENS_BEFORE(&c->refs);
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	HG_HAPPENS_AFTER(&c->refs);
	struct err_stash es_;
	err_stash(&es_);
	SSL_free(c->ssl);
	err_unstash(&es_);
	free(c->out);
	free(c->stage);
	free(c->fds);
	xlock_destroy(&c->lock);
	conn_free(c);
}


bool tls_conn_reentered(struct tls_conn *c)
{
	return xlock_mine(&c->lock);
}















/* ---- handshake --------------------------------------------------------- */

static int flush_locked(struct tls_conn *c)
{
	int r = out_push(c);

	if (r == 0)
		return 0;
	if (r > 0)
		return TLS_WANT_POLLOUT;
	if (c->state != ST_FAILED)
		note_failure(c, false);
	return TLS_ERR;
}

static void describe_peer(struct tls_conn *c, char *buf, size_t len)
{
	X509 *pc = SSL_get0_peer_certificate(c->ssl);
	char subj[200];

	if (!pc) {
		snprintf(buf, len, c->role == TLS_ROLE_SERVER ? "no client certificate"
			 : "no server certificate");
		return;
	}
	tls_x509_oneline(pc, subj, sizeof subj);
	if (c->role == TLS_ROLE_CLIENT && !c->o.verify_name)
		snprintf(buf, len, "server %s NOT VERIFIED", subj);
	else if (c->role == TLS_ROLE_CLIENT)
		snprintf(buf, len, "server %s verified for \"%s\"", subj, c->name);
	else
		snprintf(buf, len, "client %s verified", subj);
}

/* The preamble (tls_opts.preamble) goes into the stage, ahead of every
 * byte of the peer's: reads, MSG_PEEK, FIONREAD and readiness see it as
 * plaintext that has arrived.  false: no memory for it. */
#define PREAMBLE_MAX 4096
static bool stage_preamble(struct tls_conn *c)
{
	unsigned char *b;
	size_t n;

	if (c->role != TLS_ROLE_SERVER || !c->o.preamble)
		return true;
	if (!(b = malloc(32768)))
		return false;
	n = c->o.preamble(c->ssl, c->fd, b, PREAMBLE_MAX);
	if (!n) {
		free(b);
		return true;
	}
	free(c->stage);
	c->stage = b;
	c->stage_cap = 32768;
	c->stage_off = 0;
	c->stage_len = n;
	return true;
}

/* ---- new sending keys (TLS 1.3 KeyUpdate) -------------------------------- *
 *
 * AES-GCM must not encrypt too many records under one key: RFC 8446 5.5
 * gives about 2^24.5 full-size records for a safety margin of 2^-57
 * (draft-irtf-cfrg-aead-limits), and OpenSSL 3.0 never changes its
 * sending keys by itself (only when the peer asks, with update_requested).
 * So the engine counts the records it sends (one SSL_write_ex of at most
 * WRITE_CHUNK bytes is one record, or a few under a negotiated
 * max_fragment_length) and, when o.key_update_records of them went out
 * under one key, calls SSL_key_update before the next one: OpenSSL sends
 * the KeyUpdate and switches keys at that next SSL_write_ex.  On the
 * write path this is one compare and one subtraction per record.  Not
 * in TLS 1.2 (no KeyUpdate; renegotiation is refused), nor when the
 * kernel holds the sending keys (kTLS: they cannot be replaced there). */

static void key_update_arm(struct tls_conn *c)
{
	SSL_SESSION *sess = SSL_get_session(c->ssl);
	uint8_t mfl = sess ? SSL_SESSION_get_max_fragment_length(sess) : 0;

	/* TLSEXT_max_fragment_length_512 (1) .. _4096 (4): 2^(8 + code). */
	c->ku_shift = mfl >= 1 && mfl <= 4 ? (unsigned char)(8 + mfl) : 14;
	c->ku_left = c->o.key_update_records && SSL_version(c->ssl) == TLS1_3_VERSION && !c->ktls_tx
		     ? c->o.key_update_records : UINT64_MAX;
}

/* At most one KeyUpdate of ours per KU_MIN_GAP_MS: GnuTLS ends a
 * connection whose peer sends more than 8 in a second ("Too many
 * handshake packets have been received"), which a small
 * key_update_records on a fast link did (helper-103: 1 record, 2 MB to
 * gnutls-serv --echo).  Past the count, the update waits for the gap,
 * record by record; the default (2^24 records, 256 GiB) never waits. */
#define KU_MIN_GAP_MS 200

/* The count is reached: new sending keys before the next record. */
static __attribute__((noinline)) void key_update_due(struct tls_conn *c)
{
	long long now = clock_ms();

	if (c->ku_done && now - c->ku_last_ms < KU_MIN_GAP_MS) {
		c->ku_left = 1;         /* not yet: look again at the next record */
		return;
	}
	ERR_set_mark();
	if (!c->ktls_tx && SSL_key_update(c->ssl, SSL_KEY_UPDATE_NOT_REQUESTED) == 1) {
		c->ku_done++;
		c->ku_last_ms = now;
		c->ku_left = c->o.key_update_records;
		log_debug("%s rule \"%s\": KeyUpdate: new sending keys after %u records"
			  " (key_update_records; update %u of this connection)",
			  c->peer, c->o.label, c->o.key_update_records, c->ku_done);
	} else {
		/* Not now (OpenSSL is in the middle of a handshake message):
		 * at the next record. */
		c->ku_left = 1;
		if (c->ktls_tx)
			c->ku_left = UINT64_MAX;
	}
	ERR_pop_to_mark();
}

static void handshake_done(struct tls_conn *c)
{
	set_state(c, ST_OPEN);
	key_update_arm(c);
	atomic_store_explicit(&c->resumed, SSL_session_reused(c->ssl) == 1, memory_order_relaxed);
	if (c->role == TLS_ROLE_CLIENT && !c->o.verify_name)
		log_warn("%s rule \"%s\": verify = \"none\": the server's certificate was NOT verified;"
			 " this connection is not authenticated", c->peer, c->o.label);
	if (log_enabled(LOG_INFO)) {
		const unsigned char *alpn = NULL;
		unsigned int alen = 0;
		char who[512];

		describe_peer(c, who, sizeof who);
		SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
		log_info("%s rule \"%s\": %s %s %s, %s%s%.*s%s%s%s", c->peer, c->o.label,
			 c->role == TLS_ROLE_SERVER ? "accepted" : "connected",
			 SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl), who,
			 alen ? ", ALPN \"" : "", (int)alen, alen ? (const char *)alpn : "",
			 alen ? "\"" : "",
			 atomic_load_explicit(&c->resumed, memory_order_relaxed) ? ", session resumed"
										 : ", new session",
			 !c->o.ktls ? "" : c->ktls_tx && c->ktls_rx ? ", kTLS send+receive"
			 : c->ktls_tx ? ", kTLS send" : c->ktls_rx ? ", kTLS receive" : ", kTLS off");
	}
}

/* A resumed session skipped this handshake's certificate checks: it
 * carries those of the handshake that made it.  The session id context
 * keeps a session within rules that ask the same of the peer
 * (policy/reload.c: the trust files and the rule's terms); this is the
 * engine's own look, so that nothing else can make it resume one made
 * without what this context asks: no certificate where the SSL_CTX
 * requires one, a chain that did not verify, or a peer the rule's
 * identity lists refuse.  true: the session may stand. */
static bool resumed_peer_ok(struct tls_conn *c)
{
	X509 *peer;
	int mode;
	char why[sizeof c->err - 64];

	if (SSL_session_reused(c->ssl) != 1)
		return true;
	mode = SSL_get_verify_mode(c->ssl);
	peer = SSL_get0_peer_certificate(c->ssl);
	if (!peer) {
		if (c->o.check_peer || (c->role == TLS_ROLE_SERVER && (mode & SSL_VERIFY_FAIL_IF_NO_PEER_CERT))) {
			snprintf(c->err, sizeof c->err, "resumed session refused: it was made without the"
				 " peer certificate this rule requires");
			return false;
		}
		return true;
	}
	if ((mode & SSL_VERIFY_PEER) && SSL_get_verify_result(c->ssl) != X509_V_OK) {
		snprintf(c->err, sizeof c->err, "resumed session refused: the peer's certificate did not"
			 " verify when it was made");
		return false;
	}
	/* A session outlives the certificate it was made with (a TLS 1.3
	 * ticket lives up to 7 days): a full handshake would refuse a peer
	 * whose certificate has expired since.  Most such sessions are never
	 * offered (resume_offer) or taken (resume.c's ticket callback); this
	 * is the engine's own look, for the others (a TLS 1.2 session id).
	 * An unreadable time refuses too (tls_x509_expired). */
	if ((mode & SSL_VERIFY_PEER) && tls_x509_expired(peer)) {
		snprintf(c->err, sizeof c->err, "resumed session refused: the peer's certificate has"
			 " expired since it was made");
		return false;
	}
	if (c->o.check_peer && !c->o.check_peer(c->o.check_arg, peer, why, sizeof why)) {
		snprintf(c->err, sizeof c->err, "resumed session refused: %s", why);
		return false;
	}
	return true;
}

/* Before a step: the SSL object made again from the rule's current
 * context, when a reload replaced the one it was made from
 * (tls_opts.fresh_ctx).  Nothing was sent or read with the old one
 * (see handshake_locked). */
static bool renew_ssl(struct tls_conn *c)
{
	bool refuse = false;
	SSL_CTX *n = c->o.fresh_ctx(c->o.fresh_arg, c->o.ctx, &refuse);
	SSL *old = c->ssl;

	if (refuse) {
		set_fail(c, TLS_FAIL_HANDSHAKE);
		set_state(c, ST_FAILED);
		snprintf(c->err, sizeof c->err, "the rule's ca or crl changed and the reload another thread"
			 " is making did not end within 10 s: not verified against the old files");
		return false;
	}
	if (!n)
		return true;
	c->ssl = NULL;
	if (!ssl_make(c, n)) {
		SSL_free(c->ssl);
		c->ssl = old;
		SSL_CTX_free(n);
		set_fail(c, TLS_FAIL_HANDSHAKE);
		set_state(c, ST_FAILED);
		snprintf(c->err, sizeof c->err, "cannot create the TLS connection object for the reloaded"
			 " certificates");
		return false;
	}
	SSL_free(old);
	c->o.ctx = n;
	SSL_CTX_free(n);        /* the SSL object holds its own */
	log_debug("%s rule \"%s\": the rule's files were reloaded since this connection was made:"
		  " its handshake uses the new ones", c->peer, c->o.label);
	return true;
}

static int handshake_locked(struct tls_conn *c)
{
	struct err_snap snap;
	int r;

	if (!claim(c))
		return TLS_ERR;
	if (c->state == ST_OPEN)
		return 0;
	if (c->state == ST_FAILED)
		return TLS_ERR;
	if (c->state == ST_NEW && !c->hs_deadline)
		c->hs_deadline = clock_ms() + c->o.handshake_timeout_ms;
	/* Until the SSL object has used the socket: a client's before its
	 * first step (its ClientHello), a server's until it has read a byte
	 * (it sends nothing before the ClientHello): so the check is made
	 * right before the ClientHello is read, however long after the
	 * accept it comes. */
	if (c->o.fresh_ctx && __atomic_load_n(&c->rx_gen, __ATOMIC_RELAXED) == 0 &&
	    (c->state == ST_NEW || c->role == TLS_ROLE_SERVER) && !renew_ssl(c))
		return TLS_ERR;
	/* Offered at the first step, not at creation: a connect() that
	 * fails (one address of several) must not use up a single-use
	 * TLS 1.3 session. */
	if (c->state == ST_NEW && c->role == TLS_ROLE_CLIENT && c->o.offer_session && c->name[0])
		c->o.offer_session(c->ssl, c->name);
	set_state(c, ST_HANDSHAKE);
	r = flush_locked(c);
	if (r)
		return r;
	c->sys_errno = 0;
	/* Once per step, and offer_session may have queued: ask, even when
	 * nothing was counted (a step may raise and withdraw errors of its
	 * own, and a push the count missed must not then read as new:
	 * docs/design.md, "Knowing the queue is empty"). */
	c->errq_clean = false;
	snap = (struct err_snap){ .pushes = errq_pushes_, .last = ERR_peek_last_error() };
	c->hs_flight = c->hs_drained = false;
	r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		if (!resumed_peer_ok(c)) {
			/* Never again offered by OpenSSL's own cache. */
			SSL_CTX_remove_session(c->o.ctx, SSL_get0_session(c->ssl));
			set_fail(c, TLS_FAIL_HANDSHAKE);
			set_state(c, ST_FAILED);
			return TLS_ERR;
		}
		handshake_done(c);
		if (!stage_preamble(c)) {
			set_fail(c, TLS_FAIL_SYSCALL);
			c->sys_errno = ENOMEM;
			set_state(c, ST_FAILED);
			snprintf(c->err, sizeof c->err, "no memory for the PROXY protocol header");
			return TLS_ERR;
		}
		/* The last flight (client Finished, server tickets) may be
		 * waiting in the out-buffer; the caller flushes it. */
		r = flush_locked(c);
		return r == TLS_ERR ? TLS_ERR : 0;
	}
	r = classify(c, snap, false);
	if (r == TLS_WANT_POLLIN && c->out_off < c->out_len)
		r = TLS_WANT_POLLOUT;
	c->hs_wants_write = r == TLS_WANT_POLLOUT;
	return r;
}

/* fn under the connection's lock, the program's error queue set aside. */
static int engine_call(struct tls_conn *c, int (*fn)(struct tls_conn *))
{
	int r;

	ENGINE_ENTER(c, TLS_REENTERED);
	r = fn(c);
	ENGINE_LEAVE(c);
	return r;
}

int tls_conn_handshake(struct tls_conn *c)
{
	return engine_call(c, handshake_locked);
}

bool tls_conn_handshake_done(const struct tls_conn *c)
{
	return __atomic_load_n(&c->state, __ATOMIC_ACQUIRE) == ST_OPEN;
}

bool tls_conn_handshake_started(const struct tls_conn *c)
{
	return __atomic_load_n(&c->state, __ATOMIC_ACQUIRE) != ST_NEW;
}

void tls_conn_fail(struct tls_conn *c, enum tls_fail why, const char *msg)
{
	ENTER_OR(c, );
	if (c->state != ST_FAILED) {
		set_fail(c, why);
		set_state(c, ST_FAILED);
		snprintf(c->err, sizeof c->err, "%s", msg);
	}
	LEAVE(c);
}

void tls_conn_timed_out(struct tls_conn *c)
{
	char msg[96];

	snprintf(msg, sizeof msg, "handshake timeout: no complete handshake within %d ms",
		 c->o.handshake_timeout_ms);
	tls_conn_fail(c, TLS_FAIL_TIMEOUT, msg);
}

/* ---- data -------------------------------------------------------------- */

/* OpenSSL holds something of the peer's: plaintext decrypted and not yet
 * read (what SSL_pending counts) or bytes of records not yet processed.
 * SSL_has_pending alone says both ("buffered data, whether processed or
 * unprocessed", SSL_pending(3)): asking SSL_pending first too cost about
 * 50 instructions a look, two looks per blocking read. */
static inline bool ssl_buffered(struct tls_conn *c)
{
	return SSL_has_pending(c->ssl) != 0;
}

/* Is there a complete record's worth anywhere that a read would take
 * without the kernel giving more?  (OpenSSL's buffered bytes may be half
 * a record: then only SSL_read knows.) */
static bool more_buffered(struct tls_conn *c)
{
	return !c->drained || ssl_buffered(c);
}

/* Under the lock, the handshake done: decrypt into buf as much plaintext
 * as is there now, across records, without waiting: >0 bytes, 0 at the
 * end of the stream, TLS_WANT_POLLIN, TLS_ERR.  Like a TCP recv(), a
 * count below len means nothing more could be read at that moment (so an
 * edge-triggered program that trusts a short read is never left behind).
 * Having read something, an end or a failure met afterwards is kept for
 * the next call (the state says so).  After a failure: the stage only. */
/* Up to len bytes of the stage into buf (NULL: only counted), taken
 * unless peek.  The count. */
static size_t take_stage(struct tls_conn *c, unsigned char *buf, size_t len, bool peek)
{
	size_t take = c->stage_len - c->stage_off;

	if (take > len)
		take = len;
	if (!take)
		return 0;
	if (buf)
		memcpy(buf, c->stage + c->stage_off, take);
	if (peek)
		return take;
	c->stage_off += take;
	if (c->stage_off == c->stage_len) {
		/* Emptied: an idle connection keeps no stage (32 KiB). */
		c->stage_off = c->stage_len = 0;
		if (!c->keep_bufs) {
			free(c->stage);
			c->stage = NULL;
			c->stage_cap = 0;
		}
	}
	return take;
}

static ssize_t read_locked(struct tls_conn *c, unsigned char *buf, size_t len)
{
	size_t got = take_stage(c, buf, len, false);

	while (got < len) {
		struct err_snap snap;
		size_t n = 0;
		int r;

		if (c->state != ST_OPEN)
			return got ? (ssize_t)got : TLS_ERR;
		if (got && (c->got_close || !more_buffered(c)))
			break;
		c->sys_errno = 0;
		snap = err_snap(c);
		if (SSL_read_ex(c->ssl, buf + got, len - got, &n)) {
			got += n;
			/* A bulk reader's small read buffer, once it holds
			 * nothing, makes way for one of RBUF_BULK (sock_read).
			 * Only empty: before 3.0.14 SSL_free_buffers freed a
			 * buffer holding part of a record (CVE-2024-4741). */
			if (__builtin_expect(c->rbuf_swap, 0) && !ssl_buffered(c) &&
			    SSL_free_buffers(c->ssl))
				c->rbuf_swap = false;
			continue;
		}
		r = classify(c, snap, true);
		if (got)
			break;          /* an end or a failure waits for the next call */
		return r;
	}
	/* The kernel had more than one buffer's worth: a reader that keeps
	 * up with nothing (see tls_conn_wait_first) it is not. */
	if (!c->drained)
		__atomic_store_n(&c->wait_first, false, __ATOMIC_RELAXED);
	return (ssize_t)got;
}

/* What FIONREAD (and TCP_INQ) stage at most.  The count goes on across
 * records while the kernel has more: against a peer that sends as fast as
 * the engine decrypts, one FIONREAD read everything it sent into the
 * stage, memory and time without bound (65 MB and 0.6 s for a 65 MB
 * burst; TCP's own count stops at its receive buffer).  A count of at
 * least this much is never 0, so a program that reads until FIONREAD
 * says 0 is still never left behind. */
#define STAGE_COUNT_MAX (1u << 20)

/* Under the lock: decrypt what is there into the stage (for a peek or
 * FIONREAD); at most `want` staged bytes when want > 0, and no more
 * once `most` are staged when most > 0.  Returns the staged count, or
 * (nothing staged) 0 at the end, TLS_WANT_POLLIN, TLS_ERR. */
static ssize_t stage_locked(struct tls_conn *c, size_t want, size_t most)
{
	for (;;) {
		size_t have = c->stage_len - c->stage_off, room;
		ssize_t r;

		if ((want && have >= want) || (most && have >= most))
			return (ssize_t)have;
		if (c->stage_off) {
			memmove(c->stage, c->stage + c->stage_off, have);
			c->stage_off = 0;
			c->stage_len = have;
		}
		if (c->stage_cap - c->stage_len < 16384) {
			size_t cap = c->stage_cap ? c->stage_cap * 2 : 32768;
			unsigned char *nb = realloc(c->stage, cap);
			if (!nb)
				return have ? (ssize_t)have : TLS_WANT_POLLIN;
			c->stage = nb;
			c->stage_cap = cap;
		}
		room = c->stage_cap - c->stage_len;
		/* A peek short of its count asks the kernel too (records that
		 * came after the staged ones: TCP's peek sees them, and a
		 * program that peeks until its header is whole would spin on
		 * the staged part for ever); FIONREAD keeps to the hint. */
		if (have && !more_buffered(c) && !want)
			return (ssize_t)have;
		/* read_locked takes from the stage first: read past it. */
		{
			size_t off = c->stage_off, slen = c->stage_len;
			c->stage_off = c->stage_len = 0;
			r = read_locked(c, c->stage + slen, room);
			c->stage_off = off;
			c->stage_len = slen;
		}
		if (r > 0) {
			c->stage_len += (size_t)r;
			continue;
		}
		return have ? (ssize_t)have : r;
	}
}

ssize_t tls_conn_read(struct tls_conn *c, void *buf, size_t len, bool peek)
{
	ssize_t r;

	ENGINE_ENTER(c, TLS_REENTERED);
	c->io_count++;
	if (!claim(c)) {
		r = TLS_ERR;
		goto out;
	}
	/* Plaintext already decrypted is the program's even after a failure
	 * or the peer's close: TCP delivers queued data before the error.
	 * A peer that ended its stream with close_notify before the failure
	 * (a write that met its reset after it, the drain reaching its
	 * close_notify: drain_before_reset) ended it cleanly: the reads end
	 * at 0, as TCP's do after a FIN that came before the reset, and as
	 * they do when the program read up to the close_notify first. */
	if (c->state == ST_FAILED && c->stage_off == c->stage_len) {
		r = c->got_close && !SSL_pending(c->ssl) ? 0 : TLS_ERR;
		goto out;
	}
	/* After shutdown(SHUT_RD), as TCP's queue: the plain text taken in
	 * before it (shim_tls_shutdown stages what had arrived) is still
	 * read, then 0 at once.  The kernel is not read again: its recv says
	 * 0 on an empty queue now, which OpenSSL would take for a truncated
	 * stream. */
	if (c->rd_shut) {
		r = (ssize_t)take_stage(c, buf, len, peek);
		goto out;
	}
	if (c->got_close && c->stage_off == c->stage_len && !SSL_pending(c->ssl)) {
		r = 0;
		goto out;
	}
	if (c->state != ST_OPEN && c->state != ST_FAILED && (r = handshake_locked(c)) != 0)
		goto out;
	/* Responses the record layer queued earlier go out first. */
	if (c->out_off < c->out_len && c->state == ST_OPEN && flush_locked(c) == TLS_ERR) {
		r = TLS_ERR;
		goto out;
	}
	if (peek) {
		r = stage_locked(c, len, 0);
		if (r > 0) {
			if ((size_t)r > len)
				r = (ssize_t)len;
			if (buf)        /* NULL: only counted (MSG_PEEK|MSG_TRUNC) */
				memcpy(buf, c->stage + c->stage_off, (size_t)r);
		}
	} else {
		r = read_locked(c, buf, len);
	}
	/* A KeyUpdate answer, or a fatal alert, may have been queued by this
	 * read: send it (an alert goes out even as the connection fails). */
	if (c->out_off < c->out_len && c->fd >= 0)
		(void)flush_locked(c);
out:
	ENGINE_LEAVE(c);
	return r;
}

/* A blocking reader that outpaces its sender finds nothing in the kernel
 * at nearly every read: asking first (a recv that fails with EAGAIN, with
 * the error queue's save and restore around it) and then waiting costs
 * two system calls and an engine call more than waiting first.  true:
 * the last read of c had to wait, and nothing it could return without
 * the kernel is here (no plaintext, no partial record, no end of stream,
 * no failure, nothing queued to send): the caller may wait for
 * readability before calling tls_conn_read.  Only a hint: the read after
 * the wait decides. */
bool tls_conn_wait_first(struct tls_conn *c, bool *went_hot)
{
	bool r;

	*went_hot = false;
	if (!__atomic_load_n(&c->wait_first, __ATOMIC_RELAXED))
		return false;
	ENTER_OR(c, false);
	r = __atomic_load_n(&c->wait_first, __ATOMIC_RELAXED) && c->state == ST_OPEN && c->drained && !c->eof && !c->got_close &&
	    !c->rd_shut && c->stage_off == c->stage_len && c->out_off == c->out_len &&
	    __atomic_load_n(&c->owner, __ATOMIC_RELAXED) == self_pid() &&
	    !ssl_buffered(c);
	/* A blocking reader waiting for its peer's next record: a
	 * request-response exchange.  Its record buffers are kept from one
	 * record to the next (OpenSSL would free and take back its read and
	 * write buffers, about 17 KiB each, at every record: some 1,000
	 * instructions per round trip) until the connection has been idle
	 * for a while: the caller has the linger thread watch it
	 * (shim_watch_hot), which calls tls_conn_idle_check. */
	if (r && !c->bufs_hot && !c->keep_bufs && !c->hot_never) {
		SSL_clear_mode(c->ssl, SSL_MODE_RELEASE_BUFFERS);
		__atomic_store_n(&c->bufs_hot, true, __ATOMIC_RELAXED);
		*went_hot = true;
	}
	LEAVE(c);
	return r;
}

bool tls_conn_bufs_hot(const struct tls_conn *c)
{
	return __atomic_load_n(&c->bufs_hot, __ATOMIC_RELAXED);
}

/* Under the lock: back to freeing the buffers whenever they are empty. */
static void cool_locked(struct tls_conn *c)
{
	__atomic_store_n(&c->bufs_hot, false, __ATOMIC_RELAXED);
	if (!c->keep_bufs && c->ssl) {
		SSL_set_mode(c->ssl, SSL_MODE_RELEASE_BUFFERS);
		/* Only empty buffers (OpenSSL frees a buffer that holds data
		 * once emptied, the mode set again).  SSL_free_buffers refuses
		 * them itself, but before 3.0.14 it freed a read buffer holding
		 * part of a record (CVE-2024-4741): not asked then. */
		if (!ssl_buffered(c) && SSL_free_buffers(c->ssl))
			c->rbuf_swap = false;   /* (the small buffer went too) */
	}
}

void tls_conn_idle(struct tls_conn *c, bool never_again)
{
	ENTER_OR(c, );
	if (c->bufs_hot)
		cool_locked(c);
	if (never_again)
		c->hot_never = true;
	LEAVE(c);
}

bool tls_conn_idle_check(struct tls_conn *c, unsigned *seen)
{
	bool watch = true;

	/* Never waits: a connection in use is not idle. */
	if (!xlock_trylock(&c->lock))
		return true;
	if (!c->bufs_hot) {
		watch = false;
	} else if (c->io_count != *seen && c->state == ST_OPEN && c->fd >= 0) {
		*seen = c->io_count;
	} else {
		cool_locked(c);
		watch = false;
	}
	LEAVE(c);
	return watch;
}

unsigned tls_conn_io_count(struct tls_conn *c)
{
	unsigned n;

	ENTER_OR(c, 0);
	n = c->io_count;
	LEAVE(c);
	return n;
}

void tls_conn_fork_cool(struct tls_conn *c)
{
	if (__atomic_load_n(&c->bufs_hot, __ATOMIC_RELAXED)) {
		__atomic_store_n(&c->bufs_hot, false, __ATOMIC_RELAXED);
		if (!c->keep_bufs && c->ssl)
			SSL_set_mode(c->ssl, SSL_MODE_RELEASE_BUFFERS);
	}
}

void tls_conn_waited(struct tls_conn *c)
{
	__atomic_store_n(&c->wait_first, true, __ATOMIC_RELAXED);
}

size_t tls_conn_pending(struct tls_conn *c)
{
	int n;
	size_t staged;

	ENTER_OR(c, 0);
	staged = c->stage_len - c->stage_off;
	n = c->state == ST_OPEN ? SSL_pending(c->ssl) : 0;
	LEAVE(c);
	return staged + (n > 0 ? (size_t)n : 0);
}

bool tls_conn_buffered(struct tls_conn *c)
{
	bool r;

	ENTER_OR(c, false);
	/* An end of stream already taken in (a close_notify that came with
	 * the last data) is something a read returns at once, too. */
	r = c->stage_off < c->stage_len || c->got_close || c->rd_shut ||
	    (c->state == ST_OPEN && ssl_buffered(c));
	LEAVE(c);
	return r;
}

bool tls_conn_peer_ended(struct tls_conn *c)
{
	bool r;

	ENTER_OR(c, false);
	r = c->got_close || c->eof;
	LEAVE(c);
	return r;
}

/* Stage under the engine's lock, and flush what waits to go out: `more`
 * bytes past what is staged (stage_locked's want: the kernel read until
 * then, or until it has nothing more) when more > 0, otherwise what is
 * there up to `most`. */
static size_t stage(struct tls_conn *c, size_t more, size_t most)
{
	ssize_t r = 0;

	ENGINE_ENTER(c, 0);
	if (claim(c) && c->state == ST_OPEN && !c->rd_shut)
		r = stage_locked(c, more ? c->stage_len - c->stage_off + more : 0, most);
	else
		r = (ssize_t)(c->stage_len - c->stage_off);
	if (c->out_off < c->out_len && c->fd >= 0)
		(void)flush_locked(c);
	ENGINE_LEAVE(c);
	return r > 0 ? (size_t)r : 0;
}

size_t tls_conn_readable(struct tls_conn *c)
{
	return stage(c, 0, STAGE_COUNT_MAX);
}

size_t tls_conn_stage_more(struct tls_conn *c, size_t more)
{
	return stage(c, more ? more : 1, 0);
}

ssize_t tls_conn_write(struct tls_conn *c, const void *buf, size_t len)
{
	return tls_conn_write_ex(c, buf, len, NULL);
}

ssize_t tls_conn_write_ex(struct tls_conn *c, const void *buf, size_t len, bool *left)
{
	const unsigned char *p = buf;
	size_t done = 0;
	ssize_t r;

	ENGINE_ENTER(c, TLS_REENTERED);
	c->io_count++;
	if (!claim(c) || c->state == ST_FAILED) {
		r = TLS_ERR;
		goto out;
	}
	if (c->sent_close) {
		set_fail(c, TLS_FAIL_CLOSED);
		snprintf(c->err, sizeof c->err, "write after the connection was shut down");
		r = TLS_ERR;
		goto out;
	}
	if (c->state != ST_OPEN && (r = handshake_locked(c)) != 0)
		goto out;
	if ((r = flush_locked(c)) != 0)
		goto out;
	/* Record by record while the kernel keeps up; stop as soon as one
	 * record had to be kept back, so the out-buffer stays small. */
	while (done < len && c->out_off == c->out_len) {
		size_t chunk = len - done < WRITE_CHUNK ? len - done : WRITE_CHUNK;
		size_t w = 0, recs;
		struct err_snap snap;

		if (__builtin_expect(c->ku_left == 0, 0))
			key_update_due(c);
		snap = err_snap(c);
		c->sys_errno = 0;
		if (!SSL_write_ex(c->ssl, p + done, chunk, &w)) {
			r = classify(c, snap, false);
			if (done)
				break;
			goto out;
		}
		done += w;
		/* Records this took: one, or a few of a smaller fragment size. */
		recs = (w + ((size_t)1 << c->ku_shift) - 1) >> c->ku_shift;
		c->ku_left = c->ku_left > recs ? c->ku_left - recs : 0;
	}
	r = (ssize_t)done;
out:
	if (left)
		*left = c->out_off < c->out_len;
	ENGINE_LEAVE(c);
	return r;
}

bool tls_conn_opts_ktls(const struct tls_conn *c)
{
	return c->o.ktls;
}

bool tls_conn_ktls_send(struct tls_conn *c)
{
	return __atomic_load_n(&c->ktls_tx, __ATOMIC_RELAXED) &&
	       !__atomic_load_n(&c->ktls_broken, __ATOMIC_RELAXED);
}

ssize_t tls_conn_sendfile(struct tls_conn *c, int in, off64_t *off, size_t count, int *err)
{
	ssize_t r;

	ENGINE_ENTER(c, TLS_REENTERED);
	if (!claim(c) || c->state == ST_FAILED) {
		r = TLS_ERR;
		goto out;
	}
	if (c->state != ST_OPEN || !c->ktls_tx || c->ktls_broken || c->sent_close || !core_sys.sendfile64) {
		r = TLS_NOT_KTLS;
		goto out;
	}
	/* In order: what is queued goes first. */
	if ((r = flush_locked(c)) != 0)
		goto out;
	do
		r = core_sys.sendfile64(c->fd, in, off, count);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			r = TLS_WANT_POLLOUT;
		} else {
			*err = errno;
			r = TLS_SYSERR;
		}
	} else if (r > 0 && !c->ktls_sf_logged) {
		c->ktls_sf_logged = true;
		log_debug("%s rule \"%s\": sendfile: zero-copy through kernel TLS", c->peer, c->o.label);
	}
out:
	ENGINE_LEAVE(c);
	return r;
}

/* It sends under the lock: guarded as the engine's entries are (a jump
 * out of its send would leave the lock held, helper-63). */
int tls_conn_flush(struct tls_conn *c)
{
	int r;

	GUARDED_ENTER(c, TLS_REENTERED);
	if (!claim(c))
		r = TLS_ERR;
	else
		r = c->state == ST_FAILED && c->out_off == c->out_len ? TLS_ERR : flush_locked(c);
	GUARDED_LEAVE(c);
	return r;
}

bool tls_conn_has_output(struct tls_conn *c)
{
	bool r;

	ENTER_OR(c, false);
	r = c->out_off < c->out_len;
	LEAVE(c);
	return r;
}

size_t tls_conn_output_len(struct tls_conn *c)
{
	size_t r;

	ENTER_OR(c, 0);
	r = c->out_len - c->out_off;
	LEAVE(c);
	return r;
}

/* Under the lock: queue close_notify (once) and try to send it. */
static int close_notify_locked(struct tls_conn *c)
{
	int r = 0;

	if (c->owner && c->owner != self_pid())
		return 0;       /* inherited from the process that owns it: say nothing */
	if (c->state == ST_OPEN && !c->sent_close) {
		/* kTLS sending: the alert needs the queue empty (BIO_CTRL_FLUSH);
		 * come back when there is room rather than lose it. */
		if (c->ktls_tx && c->out_off < c->out_len && (r = flush_locked(c)) != 0)
			return r;
		c->sent_close = true;
		(void)SSL_shutdown(c->ssl);
		log_debug("%s rule \"%s\": close_notify sent", c->peer, c->o.label);
	}
	if (c->out_off < c->out_len)
		r = flush_locked(c);
	return r;
}

int tls_conn_close_notify(struct tls_conn *c)
{
	return engine_call(c, close_notify_locked);
}

static int close_notify_fin_locked(struct tls_conn *c)
{
	int r;

	c->fin_next = !c->ktls_tx;
	r = close_notify_locked(c);
	c->fin_next = false;
	return r;
}

int tls_conn_close_notify_fin(struct tls_conn *c)
{
	return engine_call(c, close_notify_fin_locked);
}

int tls_conn_finish(struct tls_conn *c, int lock_ms)
{
	unsigned char b;
	size_t n;
	int r;

	if (xlock_mine(&c->lock))
		return TLS_REENTERED;
	ENGINE_PUSH(c);
	if (!xlock_lock_timed(&c->lock, lock_ms)) {
		ENGINE_POP();
		return TLS_REENTERED;
	}
	struct err_stash es_;
	err_stash(&es_);
	c->errq_clean = true;
	if (c->state == ST_OPEN && !c->sent_close && !c->got_close && c->fd >= 0 &&
	    (!c->owner || c->owner == self_pid())) {
		/* Take in records the program never sees (TLS 1.3 tickets), so
		 * the exit is not answered by a RST; a peek leaves data alone. */
		struct err_snap snap = err_snap(c);
		c->sys_errno = 0;
		if (!SSL_peek_ex(c->ssl, &b, 1, &n))
			(void)classify(c, snap, true);
	}
	r = close_notify_locked(c);
	ENGINE_LEAVE(c);
	return r;
}

void tls_conn_shut_read(struct tls_conn *c)
{
	if (!xlock_lock_unless_mine(&c->lock)) {
		__atomic_store_n(&c->rd_shut, true, __ATOMIC_RELAXED);
		return;
	}
	c->rd_shut = true;
	LEAVE(c);
}

int tls_conn_poll_read(struct tls_conn *c)
{
	unsigned char b;
	size_t n = 0;
	int r;

	ENGINE_ENTER(c, 1);
	if (!claim(c) || c->state == ST_FAILED || c->got_close || c->rd_shut) {
		r = 1;
	} else if (c->state != ST_OPEN && (r = handshake_locked(c)) != 0) {
		r = r == TLS_ERR;
	} else if (c->stage_off < c->stage_len || SSL_pending(c->ssl) > 0) {
		r = 1;
	} else {
		struct err_snap snap = err_snap(c);
		c->sys_errno = 0;
		if (SSL_peek_ex(c->ssl, &b, 1, &n))
			r = 1;
		else
			r = classify(c, snap, true);
		r = r == 0 || r == TLS_ERR || r > 0;
	}
	ENGINE_LEAVE(c);
	return r;
}

int tls_conn_poll_write(struct tls_conn *c)
{
	int r;

	ENGINE_ENTER(c, 1);
	if (!claim(c) || c->state == ST_FAILED)
		r = 1;
	else if (c->state != ST_OPEN && (r = handshake_locked(c)) != 0)
		r = r == TLS_ERR;
	else
		r = flush_locked(c) != TLS_WANT_POLLOUT;
	ENGINE_LEAVE(c);
	return r;
}

short tls_conn_kernel_events(struct tls_conn *c)
{
	short ev = 0;

	ENTER_OR(c, 0);
	if (c->out_off < c->out_len)
		ev |= POLLOUT;
	if (c->state == ST_NEW && c->role == TLS_ROLE_CLIENT)
		ev |= POLLOUT;           /* the TCP connect completes */
	else if (c->state == ST_NEW || (c->state == ST_HANDSHAKE && !c->hs_wants_write))
		ev |= POLLIN;
	LEAVE(c);
	return ev;
}

/* ---- parking (tls.h) ---- */

static _Atomic unsigned long park_activity;

/* Under c's lock: nothing for a readiness check to see or do. */
static bool conn_idle(struct tls_conn *c)
{
	return c->state == ST_OPEN && c->out_off >= c->out_len && c->stage_off >= c->stage_len &&
	       !c->got_close && !c->rd_shut && !c->eof && !ssl_buffered(c);
}

bool tls_conn_park(struct tls_conn *c)
{
	bool idle;

	ENTER_OR(c, false);
	idle = conn_idle(c);
	/* Under the lock, as every change LEAVE checks: either this sees the
	 * change, or the change's LEAVE sees the mark. */
	atomic_store_explicit(&c->parked, idle, memory_order_relaxed);
	xlock_unlock(&c->lock);
	return idle;
}

void tls_conn_unpark(struct tls_conn *c, bool count)
{
	if (atomic_exchange_explicit(&c->parked, false, memory_order_relaxed) && count)
		atomic_fetch_add_explicit(&park_activity, 1, memory_order_seq_cst);
}

unsigned long tls_park_activity(void)
{
	return atomic_load_explicit(&park_activity, memory_order_seq_cst);
}

void conn_parked_leave(struct tls_conn *c)
{
	if (!conn_idle(c))
		tls_conn_unpark(c, true);
}

long long tls_conn_handshake_deadline(const struct tls_conn *c)
{
	int st = __atomic_load_n(&c->state, __ATOMIC_ACQUIRE);

	if (st == ST_HANDSHAKE || (st == ST_NEW && c->role == TLS_ROLE_SERVER))
		return c->hs_deadline;
	return -1;
}




bool tls_conn_failed(const struct tls_conn *c)
{
	return __atomic_load_n(&c->state, __ATOMIC_ACQUIRE) == ST_FAILED;
}


int tls_conn_fd(const struct tls_conn *c) { return __atomic_load_n(&c->fd, __ATOMIC_ACQUIRE); }
const char *tls_conn_label(const struct tls_conn *c) { return c->o.label; }
int tls_conn_timeout_ms(const struct tls_conn *c) { return c->o.handshake_timeout_ms; }
int tls_conn_close_timeout_ms(const struct tls_conn *c) { return c->o.close_timeout_ms; }
bool tls_conn_resumed(const struct tls_conn *c)
{
	return atomic_load_explicit(&c->resumed, memory_order_relaxed);
}
enum tls_role tls_conn_role(const struct tls_conn *c) { return c->role; }
const char *tls_conn_peer(const struct tls_conn *c) { return c->peer; }
enum tls_fail tls_conn_failure(const struct tls_conn *c) { return __atomic_load_n(&c->fail, __ATOMIC_RELAXED); }
int tls_conn_sys_errno(const struct tls_conn *c) { return c->sys_errno; }
const char *tls_conn_error(const struct tls_conn *c) { return c->err; }

bool tls_conn_report_once(struct tls_conn *c)
{
	return !atomic_exchange(&c->reported, true);
}

bool tls_conn_reset_taken(struct tls_conn *c)
{
	return atomic_exchange(&c->reset_taken, true);
}
