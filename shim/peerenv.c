/* shim/peerenv.c — the peer's identity in the environment of an exec'd
 * service (inetd style), as stunnel's exec mode gives it.
 *
 * When a process execs (exec family, posix_spawn, system, popen) with a
 * TLS connection on an fd the new image inherits, the connection on the
 * lowest such fd (fd 0 for an inetd service) names the peer: its
 * handshake is completed first (bounded by the rule's
 * handshake_timeout_ms), and the new image gets
 *   TLS_PEER_SUBJECT      RFC 2253 subject of the peer's certificate
 *   TLS_PEER_SANS         DNS:a,URI:b,IP:c,email:d
 *   TLS_PEER_SPKI_SHA256  base64 SHA-256 of its SubjectPublicKeyInfo
 *   TLS_VERSION, TLS_CIPHER, REMOTE_ADDR, REMOTE_PORT
 * Whatever the environment held under these names is removed first, so
 * a parent cannot fake a peer: a failed handshake, or a peer without a
 * certificate, leaves the names (or the TLS_PEER_ ones) absent.
 *
 * A session on fd 0-2 goes to a pump as soon as it gets there (dup2 in
 * an inetd child: stdio bypasses every wrapper); its handshake is
 * completed before, and what it established is kept beside the pump's
 * channel (by device and inode), so the later exec still knows it.  A
 * new image that inherits such a pumped fd (TLSSHIM_PUMPED) keeps the
 * values its environment got for a further exec.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "core/peer.h"
#include "core/self.h"
#include "shim/peerenv.h"
#include "shim/shim.h"

static const char *const names[] = {
	"TLS_PEER_SUBJECT", "TLS_PEER_SANS", "TLS_PEER_SPKI_SHA256", "TLS_VERSION", "TLS_CIPHER",
	"REMOTE_ADDR", "REMOTE_PORT", "TLS_PEER_INCOMPLETE",
};
#define NNAMES (sizeof names / sizeof names[0])

static bool ours(const char *entry)
{
	for (size_t i = 0; i < NNAMES; i++) {
		size_t n = strlen(names[i]);
		if (!strncmp(entry, names[i], n) && entry[n] == '=')
			return true;
	}
	return false;
}

/* Room kept for TLS_PEER_INCOMPLETE, which names the values left out. */
#define INCOMPLETE_ROOM 128

static bool put(struct shim_peerenv *pe, size_t cap, const char *name, const char *value)
{
	size_t need = strlen(name) + 1 + strlen(value) + 1;

	if (pe->used + need >= cap)
		return false;
	pe->used += (size_t)snprintf(pe->block + pe->used, sizeof pe->block - pe->used, "%s=%s",
				     name, value) + 1;
	return true;
}

static bool add(struct shim_peerenv *pe, const char *name, const char *value)
{
	return put(pe, sizeof pe->block - INCOMPLETE_ROOM, name, value);
}

/* REMOTE_ADDR, REMOTE_PORT: numeric; an IPv4-mapped IPv6 address as IPv4.
 * false: they did not fit. */
static bool add_remote(struct shim_peerenv *pe, const struct sockaddr_storage *ss)
{
	char a[INET6_ADDRSTRLEN], p[8];
	unsigned port;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof a);
		port = ntohs(s4->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, s6->sin6_addr.s6_addr + 12, a, sizeof a);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof a);
		port = ntohs(s6->sin6_port);
	} else {
		return true;
	}
	snprintf(p, sizeof p, "%u", port);
	return add(pe, "REMOTE_ADDR", a) && add(pe, "REMOTE_PORT", p);
}

/* The values of c, whose handshake is complete.  A value too long for
 * the environment block (a certificate with hundreds of subjectAltNames)
 * is left out, but never silently: a service must be able to tell "none"
 * from "too many to pass", so TLS_PEER_INCOMPLETE names what is missing
 * (room for it is kept), with a warn line. */
static bool from_conn(struct tls_conn *c, struct shim_peerenv *pe)
{
	struct tls_peer_info pi;
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;
	char buf[2048], left[INCOMPLETE_ROOM] = "";

	pe->used = 0;
	if (!tls_conn_peer_info(c, &pi))
		return false;
	/* Only a certificate that was verified names the peer: the server's
	 * of a connect rule with verify = "none" is whatever the one who
	 * answered sent, and leaves the TLS_PEER_ names absent, as none does. */
	if (pi.cert && pi.verified) {
		if (!tls_x509_subject(pi.cert, buf, sizeof buf) || !add(pe, "TLS_PEER_SUBJECT", buf))
			strcat(left, "TLS_PEER_SUBJECT,");
		if (!tls_x509_sans(pi.cert, buf, sizeof buf) || (buf[0] && !add(pe, "TLS_PEER_SANS", buf)))
			strcat(left, "TLS_PEER_SANS,");
		if (!tls_x509_spki_sha256(pi.cert, buf, sizeof buf) || !add(pe, "TLS_PEER_SPKI_SHA256", buf))
			strcat(left, "TLS_PEER_SPKI_SHA256,");
	}
	X509_free(pi.cert);
	if (!add(pe, "TLS_VERSION", pi.version))
		strcat(left, "TLS_VERSION,");
	if (!add(pe, "TLS_CIPHER", pi.cipher))
		strcat(left, "TLS_CIPHER,");
	if (REAL(getpeername)(tls_conn_fd(c), (struct sockaddr *)&ss, &l) == 0 && !add_remote(pe, &ss))
		strcat(left, "REMOTE_ADDR,");
	if (left[0]) {
		left[strlen(left) - 1] = '\0';
		log_warn("%s rule \"%s\": %s too long for an exec'd service's environment (at most %zu"
			 " bytes a value): left out, and TLS_PEER_INCOMPLETE=%s set", tls_conn_peer(c),
			 tls_conn_label(c), left, sizeof buf - 1, left);
		(void)put(pe, sizeof pe->block, "TLS_PEER_INCOMPLETE", left);
	}
	return true;
}

/* ---- what pumped channels carry ------------------------------------------ */

#define CACHE 8
static struct {
	dev_t dev;
	ino_t ino;
	bool used;
	size_t len;
	char block[PEERENV_MAX];
} cache[CACHE];
static unsigned cache_next;
static atomic_flag cache_lock = ATOMIC_FLAG_INIT;

/* A spin lock held for a copy only; never waited for long (a fork while
 * another thread held it leaves it held in the child: then nothing is
 * remembered or found there, and a later exec sets no variable). */
static bool cache_enter(void)
{
	for (int i = 0; i < 100000; i++) {
		if (!atomic_flag_test_and_set_explicit(&cache_lock, memory_order_acquire))
			return true;
		sched_yield();
	}
	return false;
}

static void cache_leave(void)
{
	atomic_flag_clear_explicit(&cache_lock, memory_order_release);
}

static void remember(int fd, const struct shim_peerenv *pe)
{
	struct stat st;
	unsigned i;

	if (!pe->used || fstat(fd, &st) < 0 || !cache_enter())
		return;
	for (i = 0; i < CACHE; i++)
		if (cache[i].used && cache[i].dev == st.st_dev && cache[i].ino == st.st_ino)
			break;
	if (i == CACHE)
		i = cache_next++ % CACHE;
	cache[i].dev = st.st_dev;
	cache[i].ino = st.st_ino;
	cache[i].used = true;
	cache[i].len = pe->used;
	memcpy(cache[i].block, pe->block, pe->used);
	cache_leave();
}

static void recall(int fd, struct shim_peerenv *pe)
{
	struct stat st;

	pe->used = 0;
	if (fstat(fd, &st) < 0 || !cache_enter())
		return;
	for (unsigned i = 0; i < CACHE; i++)
		if (cache[i].used && cache[i].dev == st.st_dev && cache[i].ino == st.st_ino) {
			memcpy(pe->block, cache[i].block, cache[i].len);
			pe->used = cache[i].len;
			break;
		}
	cache_leave();
}

static bool inherited(int fd)
{
	int fl = REAL(fcntl)(fd, F_GETFD);

	return fl >= 0 && !(fl & FD_CLOEXEC);
}

/* The lowest fd the new image inherits that is a TLS connection or the
 * plaintext end of a pumped one; -1 when none. */
static int identity_fd(void)
{
	size_t h = conntab_high();

	for (size_t fd = 0; fd < h; fd++) {
		uintptr_t v = conntab_load((int)fd);

		if ((conntab_is_tls(v) || v == CT_PUMPED) && inherited((int)fd))
			return (int)fd;
	}
	return -1;
}

/* Complete c's handshake, bounded by its rule's handshake_timeout_ms. */
static bool complete(struct tls_conn *c)
{
	if (tls_conn_failed(c))
		return false;
	for (int tries = 0; !tls_conn_handshake_done(c) && tries < 100; tries++) {
		int r = shim_tls_handshake(c, false);

		if (r == 0)
			break;
		if (r != -EINTR)
			return false;
	}
	return tls_conn_handshake_done(c);
}

void shim_peerenv_prepare(struct shim_peerenv *pe)
{
	struct tls_conn *c;

	pe->active = false;
	pe->used = 0;
	pe->fd = shim_policy ? identity_fd() : -1;
	if (pe->fd < 0)
		return;
	pe->active = true;
	if (conntab_load(pe->fd) == CT_PUMPED) {
		recall(pe->fd, pe);
		return;
	}
	if (!(c = conntab_get(pe->fd)))
		return;
	/* A lazy session inherited through fork() is not this process's to
	 * complete: its parent may use it (ncat -e forks a relay that serves
	 * the connection and a child that execs with the socket left open):
	 * two handshakes on one connection, and the parent's broken.  The
	 * first process to use it owns it; the new image gets no names from
	 * it (and refuses it, as any socket that carried bytes outside the
	 * library, if the parent has used it). */
	if (!tls_conn_handshake_started(c) && tls_conn_made_by(c) != self_pid())
		log_debug("%s rule \"%s\": fd %d: a session this process inherited through fork and"
			  " did not start; the exec'd program gets no TLS_PEER_ names from it",
			  tls_conn_peer(c), tls_conn_label(c), pe->fd);
	else if (complete(c))
		(void)from_conn(c, pe);
	tls_conn_unref(c);
}

void shim_peerenv_done(const struct shim_peerenv *pe)
{
	if (pe->active && pe->used && conntab_load(pe->fd) == CT_PUMPED)
		remember(pe->fd, pe);
}

size_t shim_peerenv_env(const struct shim_peerenv *pe, char *const envp[], char **out, size_t nout,
			const char *skip, size_t skiplen)
{
	size_t n = 0;

	for (size_t i = 0; envp && envp[i] && n + 1 < nout; i++) {
		if (skip && !strncmp(envp[i], skip, skiplen))
			continue;
		if (pe && pe->active && ours(envp[i]))
			continue;
		out[n++] = envp[i];
	}
	if (pe && pe->active)
		for (size_t off = 0; off < pe->used && n + 1 < nout; off += strlen(pe->block + off) + 1)
			out[n++] = (char *)pe->block + off;
	out[n] = NULL;
	return n;
}

void shim_tls_placed_std(int fd, struct tls_conn *c)
{
	struct shim_peerenv pe = { .active = true, .fd = fd };
	bool known = false;

	if (fd > 2) {
		shim_tls_placed(fd, c);     /* a number with a FILE of fdopen() */
		return;
	}
	if (fd < 0)
		return;
	if (complete(c))
		known = from_conn(c, &pe);
	if (tls_conn_failed(c))
		return;         /* reported, its socket shut down */
	shim_tls_placed(fd, c);
	if (known)
		shim_peerenv_done(&pe);
}

void shim_peerenv_learn(void)
{
	struct shim_peerenv pe = { .active = true };

	pe.fd = identity_fd();
	if (pe.fd < 0 || conntab_load(pe.fd) != CT_PUMPED)
		return;
	for (size_t i = 0; i < NNAMES; i++) {
		const char *v = getenv(names[i]);
		if (v)
			add(&pe, names[i], v);
	}
	shim_peerenv_done(&pe);
}
