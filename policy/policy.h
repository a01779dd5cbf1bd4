/* policy/policy.h — the policy file, read once into an immutable object.
 *
 * policy_load() parses a libconfig file (see tlsshim.conf(5)), checks every
 * key, loads every certificate, key and CA, and builds one SSL_CTX per
 * "tls" rule (core/ctx.h does the OpenSSL side).  On any error it returns
 * NULL and fills *err with the file, the line (of the offending setting,
 * or of the rule) and a one-line message.  Nothing is half-loaded.
 *
 * policy_match() answers the only question the shim asks: which rule, if
 * any, applies to this socket?  First match wins.
 */
#ifndef TLSSHIM_POLICY_H
#define TLSSHIM_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <openssl/ssl.h>

enum policy_dir { POLICY_ACCEPT = 0, POLICY_CONNECT = 1 };
enum policy_action { POLICY_TLS = 0, POLICY_PLAIN = 1, POLICY_DENY = 2 };
enum policy_verify { POLICY_VERIFY_FULL = 0, POLICY_VERIFY_NONE = 1 };

struct policy_identity;
struct policy_sni;
struct ocsp_staples;

struct policy_cidr {
	int family;              /* AF_INET or AF_INET6 */
	uint8_t addr[16];        /* network byte order; v4 uses the first 4 */
	int prefix;              /* 0..32 or 0..128 */
};

struct policy_rule {
	char *name;              /* never NULL: "rule N" (1-based) when unnamed */
	int line;                /* line of the rule's group in the file */
	int index;               /* 0-based position in rules */
	enum policy_dir direction;
	enum policy_action action;
	uint16_t *ports;         /* nports == 0: any port */
	size_t nports;
	struct policy_cidr *addrs; /* naddrs == 0: any address */
	size_t naddrs;
	char **hosts;            /* connect: host names ("*.x": one label), */
	size_t nhosts;           /* lower case; nhosts == 0: any (or none) */
	char *cert, *key, *ca;   /* NULL when not given; key may be "pkcs11:..." */
	char *pkcs11_module;     /* key in a token: its module, NULL: p11-kit proxy */
	char *pin_file;          /* key in a token: the file holding its PIN, or NULL */
	enum policy_verify verify;
	char *server_name;       /* NULL: derive per connection */
	bool require_client_cert;
	int min_version;         /* TLS1_2_VERSION or TLS1_3_VERSION */
	char *ciphers, *ciphersuites;
	unsigned char *alpn;     /* ALPN wire format (length-prefixed), or NULL */
	size_t alpn_len;
	bool allow_truncation;
	bool ktls;               /* ask for kernel TLS after the handshake */
	int handshake_timeout_ms;
	/* How long a closed connection's socket lingers for the peer's FIN
	 * (shim/linger.c); 0: it closes at once. */
	int close_timeout_ms;
	/* TLS 1.3: records sent under one key before new keys (KeyUpdate);
	 * 0: never (core/tls.h, tls_opts). */
	unsigned key_update_records;
	/* allow_cn/ou/dns/uri/ip, pin_spki (policy/identity.h); NULL: any
	 * verified peer. */
	struct policy_identity *identity;
	bool session_cache_off;  /* session_cache = false; policy/resume.c */
	char *ticket_key_file;   /* accept: shared ticket keys, or NULL */
	char *crl;               /* CRL file or directory, or NULL; policy/crl.c */
	/* accept: certs = ( { cert; key; }, ... ), picked by SNI
	 * (policy/sni.h); ncerts == 0 when the rule uses cert/key. */
	struct policy_cert { char *cert, *key; int line; char *ocsp_staple_file; } *certs;
	size_t ncerts;
	bool sni_strict;         /* unknown/missing SNI: unrecognized_name */
	bool proxy_v2;           /* accept: proxy_protocol = "v2" (shim/proxyv2.c) */
	bool key_holder;         /* the key stays in the holder (policy/keyholder.h) */
	struct policy_sni *sni;  /* the SSL_CTXs by name; ctx is the first's */
	/* OCSP (policy/ocsp.h).  connect: 0 off, 1 if_stapled, 2 require
	 * (enum policy_ocsp).  accept: the staple file of cert (a certs
	 * entry has its own), and the staples served, reloaded by
	 * ocsp_staples_refresh() (NULL: none). */
	int ocsp;
	char *ocsp_staple_file;
	struct ocsp_staples *staples;
	SSL_CTX *ctx;            /* action "tls" only; owned by the policy */
};

struct policy_port_index;

struct policy {
	char *path;              /* as given to policy_load */
	struct policy_rule *rules;
	size_t nrules;
	bool has[2];             /* any rule for POLICY_ACCEPT / POLICY_CONNECT */
	bool has_host;           /* a connect rule matches by host name */
	/* raw_sockets = "allow": raw and packet sockets that can send TCP
	 * segments of their own are the program's to make even while rules
	 * ask for TLS (shim_raw_guarded, shim/sock.c); refused otherwise */
	bool raw_sockets_allowed;
	OSSL_LIB_CTX *libctx;    /* the shim's own; never the program's default;
				  * NULL when no rule is TLS (OpenSSL untouched) */
	/* Per direction, the rules by port and address (policy.c, "the
	 * index"); NULL: policy_match scans every rule (a policy built by
	 * hand, or no memory for the index). */
	struct policy_port_index *index[2];
	/* Each tls rule's current SSL_CTX, swapped when its files change
	 * (policy/reload.h); NULL: never reloaded. */
	struct policy_reload *reload;
};

struct policy_error {
	char file[512];
	int line;                /* 0 when no line applies (missing file) */
	char msg[512];
};

struct policy *policy_load(const char *path, struct policy_error *err);
void policy_free(struct policy *p);

/* Does any rule ask for TLS?  (A policy of plain rules only cannot leak.) */
bool policy_has_tls(const struct policy *p);

/* May a rule of direction dir that is not "plain" (tls or deny) cover
 * port, for some address?  (A port the C library reaches with its own
 * internal calls: the resolver's 53, the portmapper's 111.) */
bool policy_guards_port(const struct policy *p, enum policy_dir dir, uint16_t port);

/* addr: the local address (accept) or the remote address (connect).
 * IPv4-mapped IPv6 addresses match IPv4 CIDRs.  host: the host name the
 * program resolved to addr (connect), or NULL (none, or an address
 * literal): a rule with `host` matches only when it is given and one of
 * its names matches it.  NULL: no rule matches. */
const struct policy_rule *policy_match(const struct policy *p, enum policy_dir dir,
				       const struct sockaddr *addr, socklen_t len, const char *host);

/* "FILE:LINE: message" (or "FILE: message" when line is 0). */
void policy_error_format(const struct policy_error *err, char *buf, size_t len);

#endif
