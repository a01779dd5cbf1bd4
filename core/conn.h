/* core/conn.h — the connection object, private to core/ (tls.c: the
 * engine; session.c: what the shim keeps per session).  Nothing outside
 * core/ includes this. */
#ifndef TLSSHIM_CORE_CONN_H
#define TLSSHIM_CORE_CONN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <openssl/ssl.h>

#include "core/lock.h"
#include "core/unwind.h"
#include "core/session.h"
#include "core/tls.h"

enum conn_state { ST_NEW, ST_HANDSHAKE, ST_OPEN, ST_FAILED };

struct tls_conn {
	/* Type-stable: these three survive recycling (see conn_alloc). */
	atomic_int refs;
	struct tls_conn *_Atomic free_next;
	struct tls_conn *all_next;  /* every object ever made (see conn_alloc) */
	struct xlock lock;
	int fd;                  /* the socket the engine uses; -1 once closed */
	SSL *ssl;
	struct tls_opts o;
	enum tls_role role;
	enum conn_state state;
	bool sent_close;         /* our close_notify is queued */
	bool fin_next;           /* its send: the caller's FIN follows (tls_conn_close_notify_fin) */
	bool got_close;          /* peer's close_notify (or tolerated FIN) seen */
	bool rd_shut;            /* program did shutdown(SHUT_RD) */
	bool eof;                /* the socket returned 0 */
	bool bio_retry;          /* the last BIO read would have blocked */
	bool drained;            /* the last BIO read emptied the kernel's queue */
	bool rbuf_bulk;          /* read-ahead buffers of RBUF_BULK: see sock_read, */
	bool rbuf_swap;          /* and the small one not let go yet (read_locked) */
	bool reset_drain;        /* drain_before_reset runs: the BIO never reads past the queue */
	bool wait_first;         /* see tls_conn_wait_first */
	bool errq_clean;         /* see err_snap (tls.c): only under the lock */
	bool bufs_hot;           /* see tls_conn_wait_first: written under the lock */
	unsigned io_count;       /* reads and writes, for tls_conn_idle_check */
	bool hot_never;          /* under the lock: no watcher would take it */
	bool hs_wants_write;     /* the last handshake step waits to send */
	bool hs_drained;         /* this handshake step's read emptied the queue, */
	bool hs_flight;          /* and it sent afterwards: see sock_read */
	bool peer_refused;       /* check_peer said no: err holds why */
	atomic_bool reported;    /* the failure was logged */
	atomic_bool reset_taken; /* a call has returned the peer's reset (ECONNRESET) */
	atomic_bool resumed;     /* the handshake resumed a session */
	enum tls_fail fail;
	int sys_errno;
	pid_t owner;             /* 0 until first use; see claim() in tls.c */
	bool sock_locked;        /* claim() took the socket's record lock: tls_conn_relock */
	pid_t made_by;           /* the process that made it (tls_conn_new) */
	long long hs_deadline;   /* see tls_conn_handshake_deadline */
	unsigned long rx_gen;    /* see tls_conn_rx_generation */
	/* Records still to send under the current key before a KeyUpdate
	 * (o.key_update_records; UINT64_MAX: none due), and the record
	 * size in bits (14, or a negotiated max_fragment_length's). */
	uint64_t ku_left;
	unsigned char ku_shift;
	unsigned ku_done;        /* KeyUpdates sent */
	long long ku_last_ms;    /* clock_ms() of the last one (KU_MIN_GAP_MS) */
	int nonblock;            /* see tls_conn_nonblock */
	/* SO_RCVTIMEO, SO_SNDTIMEO: a generation (high 32 bits) and the
	 * time-out in ms (low 32; see tls_conn_sock_timeout) */
	uint64_t timeo[2];
	bool fork_held;          /* held by a fork prepare handler */
	/* A pump's session (tls_conn_prepare_pump): the buffers stay, so the
	 * pump never allocates. */
	bool keep_bufs;
	/* Parked by an epoll instance (shim/epoll.c): left out of its scans
	 * while idle.  LEAVE checks it: a change that leaves the connection
	 * not idle unparks it and tells the instance (tls_park_activity). */
	atomic_bool parked;
	int *fds;                /* the program's fds for this session */
	int nfds, fds_cap;
	unsigned char *out;      /* ciphertext not yet taken by the kernel */
	size_t out_off, out_len, out_cap;
	/* Kernel TLS (opts.ktls, see "kernel TLS" in tls.c): the kernel
	 * encrypts what we send (ktls_tx; the out-buffer then holds
	 * plaintext) and/or decrypts what we receive (ktls_rx). */
	bool ktls_tx, ktls_rx;
	bool ktls_ctrl;          /* the next BIO write is a control record ... */
	unsigned char ktls_ctrl_type;  /* ... of this type */
	bool ktls_broken;        /* re-keying asked of the kernel: cannot go on */
	bool ktls_sf_logged;     /* "sendfile through kernel TLS" logged */
	size_t out_ctrl_end;     /* kTLS: out[out_off..out_ctrl_end) is the rest of a */
	unsigned char out_ctrl_type; /* control record of this type */
	unsigned char *stage;    /* plaintext decrypted ahead of the program's reads */
	size_t stage_off, stage_len, stage_cap;
	char name[256];          /* client: the name verified */
	char peer[96];
	char err[512];
};

/* Take c's lock, unless this thread holds it already: then a signal
 * handler interrupted the engine on this very connection, and waiting
 * would hang the thread for ever.  Such a call returns `ret` instead. */
#define ENTER_OR(c, ret) do { if (!xlock_lock_unless_mine(&(c)->lock)) return ret; } while (0)
#define LEAVE(c) do {                                                                  \
		if (atomic_load_explicit(&(c)->parked, memory_order_relaxed))          \
			conn_parked_leave(c);                                          \
		xlock_unlock(&(c)->lock);                                              \
	} while (0)

/* LEAVE of a parked connection (its lock held): unpark it, and count an
 * activity, unless it is still idle (see tls_conn_park). */
void conn_parked_leave(struct tls_conn *c);

/* ENTER_OR and LEAVE for a section that may be left by a non-local jump
 * (a signal handler's siglongjmp, pthread_exit, cancellation) at a point
 * where the jump is allowed: a system call, or OpenSSL's work.  A record
 * on glibc's first cleanup chain (core/unwind.h), pushed before the lock
 * is taken, fails the connection and gives the lock back if the frame is
 * left without GUARDED_LEAVE (engine_unwound, core/tls.c).  Once per
 * scope.  Short sections that only read or set fields use ENTER_OR. */
struct engine_frame {
	struct _pthread_cleanup_buffer b;
	struct tls_conn *c;
	unsigned held;                  /* xlock_held_ before the entry */
};
void engine_unwound(void *arg);
#define ENGINE_PUSH(c)                                                        \
	struct engine_frame ef_ = { .c = (c), .held = xlock_held_ };         \
	_pthread_cleanup_push(&ef_.b, engine_unwound, &ef_)
#define ENGINE_POP() _pthread_cleanup_pop(&ef_.b, 0)
#define GUARDED_ENTER(c, ret)           \
	if (xlock_mine(&(c)->lock))     \
		return ret;             \
	ENGINE_PUSH(c);                 \
	xlock_lock(&(c)->lock)
#define GUARDED_LEAVE(c) do { LEAVE(c); ENGINE_POP(); } while (0)

#endif
