/* policy/policy.c — the policy file (libconfig) into an immutable policy.
 *
 * Loading is strict on purpose: the policy decides where a program's
 * data is encrypted, so anything unexpected (unknown key, wrong type,
 * value out of range, unusable certificate) stops the load with the file,
 * the line and the key named, and nothing is half-loaded.
 *
 * Inheritance: the top-level `defaults` group may hold any rule key but
 * `name` and `direction`; a rule takes each key it does not set from it.
 * A key that applies to one direction only (verify, server_name:
 * connect; require_client_cert: accept) is an error when a rule of the
 * other direction sets it itself, and silently not inherited by such a
 * rule from `defaults`, so one `defaults` can serve both directions.
 */
#include "policy/policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libconfig.h>
#include <openssl/err.h>

#include "policy/addrmap.h"
#include "policy/ctx.h"
#include "policy/file.h"
#include "policy/identity.h"
#include "policy/ocsp.h"
#include "policy/text.h"
#include "policy/libconfig_link.h"
#include "policy/pkcs11.h"
#include "policy/reload.h"
#include "policy/sni.h"

enum key {
	K_NAME, K_DIRECTION, K_PORT, K_ADDRESS, K_ACTION, K_CERT, K_KEY, K_CA,
	K_VERIFY, K_SERVER_NAME, K_REQUIRE_CLIENT_CERT, K_MIN_VERSION, K_CIPHERS,
	K_CIPHERSUITES, K_ALPN, K_ALLOW_TRUNCATION, K_HANDSHAKE_TIMEOUT_MS, K_CLOSE_TIMEOUT_MS, K_KTLS,
	K_SESSION_CACHE, K_TICKET_KEY_FILE, K_CRL, K_CERTS, K_SNI_STRICT, K_HOST,
	K_PROXY_PROTOCOL, K_PKCS11_MODULE, K_PIN_FILE, K_OCSP, K_OCSP_STAPLE_FILE, K_KEY_HOLDER,
	K_KEY_UPDATE_RECORDS,
	/* The identity lists, in enum policy_id_list's order. */
	K_ALLOW_CN, K_ALLOW_OU, K_ALLOW_DNS, K_ALLOW_URI, K_ALLOW_IP, K_PIN_SPKI,
	K_COUNT
};

static const char *const key_names[K_COUNT] = {
	[K_NAME] = "name", [K_DIRECTION] = "direction", [K_PORT] = "port",
	[K_ADDRESS] = "address", [K_ACTION] = "action", [K_CERT] = "cert",
	[K_KEY] = "key", [K_CA] = "ca", [K_VERIFY] = "verify",
	[K_SERVER_NAME] = "server_name", [K_REQUIRE_CLIENT_CERT] = "require_client_cert",
	[K_MIN_VERSION] = "min_version", [K_CIPHERS] = "ciphers",
	[K_CIPHERSUITES] = "ciphersuites", [K_ALPN] = "alpn",
	[K_ALLOW_TRUNCATION] = "allow_truncation",
	[K_HANDSHAKE_TIMEOUT_MS] = "handshake_timeout_ms",
	[K_CLOSE_TIMEOUT_MS] = "close_timeout_ms",
	[K_KTLS] = "ktls",
	[K_SESSION_CACHE] = "session_cache", [K_TICKET_KEY_FILE] = "ticket_key_file",
	[K_CRL] = "crl", [K_CERTS] = "certs", [K_SNI_STRICT] = "sni_strict",
	[K_HOST] = "host", [K_PROXY_PROTOCOL] = "proxy_protocol",
	[K_PKCS11_MODULE] = "pkcs11_module", [K_PIN_FILE] = "pin_file",
	[K_OCSP] = "ocsp", [K_OCSP_STAPLE_FILE] = "ocsp_staple_file",
	[K_KEY_HOLDER] = "key_holder",
	[K_KEY_UPDATE_RECORDS] = "key_update_records",
	[K_ALLOW_CN] = "allow_cn", [K_ALLOW_OU] = "allow_ou", [K_ALLOW_DNS] = "allow_dns",
	[K_ALLOW_URI] = "allow_uri", [K_ALLOW_IP] = "allow_ip", [K_PIN_SPKI] = "pin_spki",
};

#define TIMEOUT_DEFAULT_MS 10000
#define TIMEOUT_MAX_MS 3600000
#define CLOSE_DEFAULT_MS 5000
/* TLS 1.3 records sent under one key before a KeyUpdate: 2^24, below
 * the 2^24.5 full-size AES-GCM records of RFC 8446 5.5 (and far below
 * ChaCha20-Poly1305's and AES-CCM's limits).  The highest value allowed. */
#define KEY_UPDATE_DEFAULT (1 << 24)
#define ALPN_WIRE_MAX 65533 /* the extension's 16-bit list length, minus its own */

struct loader {
	const char *path;               /* the policy file, as given */
	char *dir;                      /* its directory, absolute */
	struct policy_error *err;
	char label[300];                /* `rule "x"` or `defaults`, for messages */
	bool failed;
	bool marked;                    /* an error-queue mark set (policy_ossl) */
};

/* ---- errors ------------------------------------------------------------ */

static bool failv(struct loader *ld, const config_setting_t *s, int line, const char *fmt, va_list ap)
{
	struct policy_error *e = ld->err;
	const char *file = s && config_setting_source_file(s) ? config_setting_source_file(s) : ld->path;
	size_t n = 0;

	if (ld->failed)
		return false;
	ld->failed = true;
	snprintf(e->file, sizeof(e->file), "%s", file);
	e->line = s ? (int)config_setting_source_line(s) : line;
	if (ld->label[0])
		n = (size_t)snprintf(e->msg, sizeof(e->msg), "%s: ", ld->label);
	if (n < sizeof(e->msg))
		vsnprintf(e->msg + n, sizeof(e->msg) - n, fmt, ap);
	return false;
}

/* The line is the setting's; always returns false, for "return fail()". */
static bool fail(struct loader *ld, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static bool fail(struct loader *ld, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	failv(ld, s, 0, fmt, ap);
	va_end(ap);
	return false;
}

static bool fail_line(struct loader *ld, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static bool fail_line(struct loader *ld, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	failv(ld, NULL, line, fmt, ap);
	va_end(ap);
	return false;
}

static bool oom(struct loader *ld, const config_setting_t *s)
{
	return fail(ld, s, "out of memory");
}

void policy_error_format(const struct policy_error *err, char *buf, size_t len)
{
	if (!buf || !len)
		return;
	if (!err)
		snprintf(buf, len, "(no error)");
	else if (err->line > 0)
		snprintf(buf, len, "%s:%d: %s", err->file, err->line, err->msg);
	else
		snprintf(buf, len, "%s: %s", err->file, err->msg);
}

/* ---- scalar values ----------------------------------------------------- */

static bool is_int(const config_setting_t *s)
{
	return config_setting_type(s) == CONFIG_TYPE_INT || config_setting_type(s) == CONFIG_TYPE_INT64;
}

static bool is_seq(const config_setting_t *s)
{
	return config_setting_is_list(s) || config_setting_is_array(s);
}

static bool get_string(struct loader *ld, enum key k, const config_setting_t *s, const char **out)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail(ld, s, "\"%s\" must be a string", key_names[k]);
	*out = config_setting_get_string(s);
	return true;
}

static bool get_bool(struct loader *ld, enum key k, const config_setting_t *s, bool *out)
{
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return fail(ld, s, "\"%s\" must be true or false", key_names[k]);
	*out = config_setting_get_bool(s);
	return true;
}

static bool get_label(struct loader *ld, enum key k, const config_setting_t *s, char **out)
{
	const char *v = NULL;

	if (!get_string(ld, k, s, &v))
		return false;
	if (!*v || strlen(v) > 255 || !policy_printable(v, true))
		return fail(ld, s, "\"%s\" must be 1 to 255 printable characters", key_names[k]);
	if (!(*out = strdup(v)))
		return oom(ld, s);
	return true;
}

/* Relative paths are relative to the policy file, not to wherever the
 * program happens to run. */
static bool get_path(struct loader *ld, enum key k, const config_setting_t *s, char **out)
{
	const char *v = NULL;

	if (!get_string(ld, k, s, &v))
		return false;
	if (!*v)
		return fail(ld, s, "\"%s\" must not be empty", key_names[k]);
	if (v[0] == '/')
		*out = strdup(v);
	else if (asprintf(out, "%s/%s", ld->dir, v) < 0)
		*out = NULL;
	if (!*out)
		return oom(ld, s);
	return true;
}

/* A key file, or a key in a PKCS#11 token: "pkcs11:..." (RFC 7512) is
 * kept as written (policy/pkcs11.h). */
static bool get_key(struct loader *ld, enum key k, const config_setting_t *s, char **out)
{
	const char *v = NULL;

	if (!get_string(ld, k, s, &v))
		return false;
	if (!pkcs11_is_uri(v))
		return get_path(ld, k, s, out);
	if (!(*out = strdup(v)))
		return oom(ld, s);
	return true;
}

/* pkcs11_module: a path (relative: to the policy file), or a bare file
 * name that the dynamic linker looks up ("p11-kit-proxy.so"). */
static bool get_module(struct loader *ld, enum key k, const config_setting_t *s, char **out)
{
	const char *v = NULL;

	if (!get_string(ld, k, s, &v))
		return false;
	if (!*v || strchr(v, '/'))
		return get_path(ld, k, s, out);
	if (!(*out = strdup(v)))
		return oom(ld, s);
	return true;
}

/* One of a fixed set of words: its index in words, or false. */
static bool get_word(struct loader *ld, enum key k, const config_setting_t *s,
		     const char *const *words, int *out)
{
	const char *v = NULL;
	int i;

	if (!get_string(ld, k, s, &v))
		return false;
	for (i = 0; words[i]; i++) {
		if (strcmp(v, words[i]) == 0) {
			*out = i;
			return true;
		}
	}
	if (i == 2)
		return fail(ld, s, "\"%s\" must be \"%s\" or \"%s\", not \"%s\"", key_names[k],
			    words[0], words[1], v);
	return fail(ld, s, "\"%s\" must be \"%s\", \"%s\" or \"%s\", not \"%s\"", key_names[k],
		    words[0], words[1], words[2], v);
}

/* ---- ports, addresses, ALPN -------------------------------------------- */

static bool port_value(struct loader *ld, const config_setting_t *s, uint16_t *out)
{
	long long v;

	if (!is_int(s))
		return fail(ld, s, "\"port\" must be an integer or a list of integers");
	v = config_setting_get_int64(s);
	if (v < 1 || v > 65535)
		return fail(ld, s, "\"port\" %lld is out of range (1..65535)", v);
	*out = (uint16_t)v;
	return true;
}

static bool parse_ports(struct loader *ld, const config_setting_t *s, struct policy_rule *r)
{
	int n = is_seq(s) ? config_setting_length(s) : 1;
	int i;

	if (!is_seq(s) && !is_int(s))
		return fail(ld, s, "\"port\" must be an integer or a list of integers");
	if (n == 0)
		return fail(ld, s, "\"port\" must not be an empty list (leave it out to match any port)");
	if (!(r->ports = calloc((size_t)n, sizeof(*r->ports))))
		return oom(ld, s);
	for (i = 0; i < n; i++) {
		if (!port_value(ld, is_seq(s) ? config_setting_get_elem(s, (unsigned)i) : s, &r->ports[i]))
			return false;
		r->nports++;
	}
	return true;
}

/* Keep only the first prefix bits: "10.1.2.3/8" means 10.0.0.0/8. */
static void mask_cidr(struct policy_cidr *c)
{
	int bytes = c->family == AF_INET ? 4 : 16;
	int i;

	for (i = 0; i < bytes; i++) {
		int keep = c->prefix - 8 * i;

		if (keep <= 0)
			c->addr[i] = 0;
		else if (keep < 8)
			c->addr[i] &= (uint8_t)(0xff << (8 - keep));
	}
}

/* "a.b.c.d", "a.b.c.d/n", "v6", "v6/n".  A v6 CIDR inside ::ffff:0:0/96
 * becomes the v4 CIDR it denotes, so both spellings match the same
 * sockets (policy_match folds v4-mapped addresses the same way). */
static bool parse_cidr(const char *text, struct policy_cidr *c)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(text, '/');
	size_t alen = slash ? (size_t)(slash - text) : strlen(text);
	int max;

	if (alen == 0 || alen >= INET6_ADDRSTRLEN)
		return false;
	memcpy(buf, text, alen);
	buf[alen] = '\0';
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, buf, c->addr) == 1)
		c->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, c->addr) == 1)
		c->family = AF_INET6;
	else
		return false;
	max = c->family == AF_INET ? 32 : 128;
	c->prefix = max;
	if (slash) {
		const char *p = slash + 1;
		int v = 0;

		if (!*p || strlen(p) > 3)
			return false;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return false;
			v = v * 10 + (*p - '0');
		}
		if (v > max)
			return false;
		c->prefix = v;
	}
	if (c->family == AF_INET6 && c->prefix >= 96 &&
	    IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)(const void *)c->addr)) {
		memmove(c->addr, c->addr + 12, 4);
		memset(c->addr + 4, 0, 12);
		c->family = AF_INET;
		c->prefix -= 96;
	}
	mask_cidr(c);
	return true;
}

static bool parse_addresses(struct loader *ld, const config_setting_t *s, struct policy_rule *r)
{
	int n = is_seq(s) ? config_setting_length(s) : 1;
	int i;

	if (!is_seq(s) && config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail(ld, s, "\"address\" must be a CIDR string or a list of them");
	if (n == 0)
		return fail(ld, s, "\"address\" must not be an empty list (leave it out to match any address)");
	if (!(r->addrs = calloc((size_t)n, sizeof(*r->addrs))))
		return oom(ld, s);
	for (i = 0; i < n; i++) {
		const config_setting_t *e = is_seq(s) ? config_setting_get_elem(s, (unsigned)i) : s;

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return fail(ld, e, "\"address\" must be a CIDR string or a list of them");
		if (!parse_cidr(config_setting_get_string(e), &r->addrs[i]))
			return fail(ld, e, "\"address\" \"%s\" is not an IP address or CIDR "
				    "(like \"10.0.0.0/8\" or \"::1/128\")", config_setting_get_string(e));
		r->naddrs++;
	}
	return true;
}

/* A list of names into ALPN wire format: each one length-prefixed.  An
 * empty list means no ALPN (and overrides an `alpn` in defaults). */
static bool parse_alpn(struct loader *ld, const config_setting_t *s, struct policy_rule *r)
{
	size_t total = 0, off = 0;
	int n, i;

	if (!is_seq(s))
		return fail(ld, s, "\"alpn\" must be a list of strings");
	n = config_setting_length(s);
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		size_t len;

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return fail(ld, e, "\"alpn\" must be a list of strings");
		len = strlen(config_setting_get_string(e));
		if (len < 1 || len > 255)
			return fail(ld, e, "\"alpn\" protocol names must be 1 to 255 bytes long");
		total += 1 + len;
	}
	if (total > ALPN_WIRE_MAX)
		return fail(ld, s, "\"alpn\" list is too long");
	if (total == 0)
		return true;
	if (!(r->alpn = malloc(total)))
		return oom(ld, s);
	for (i = 0; i < n; i++) {
		const char *v = config_setting_get_string(config_setting_get_elem(s, (unsigned)i));
		size_t len = strlen(v);

		r->alpn[off++] = (unsigned char)len;
		memcpy(r->alpn + off, v, len);
		off += len;
	}
	r->alpn_len = total;
	return true;
}

/* A DNS host name, or "*." and one: labels of letters, digits, '-' and
 * '_', 1 to 63 bytes, not starting or ending with '-'; 253 bytes at most;
 * not an address literal.  One trailing dot is dropped. */
static bool host_syntax(const char *v, char **out)
{
	const char *p = v;
	size_t n = strlen(v), label = 0;
	unsigned char tmp[16];
	char *h;

	if (n && v[n - 1] == '.')
		n--;
	if (n == 0 || n > 253)
		return false;
	if (p[0] == '*') {
		if (n < 3 || p[1] != '.')
			return false;
		p += 2;
	}
	for (size_t i = (size_t)(p - v); i <= n; i++) {
		char ch = i < n ? v[i] : '.';

		if (ch == '.') {
			if (label == 0 || v[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '_') || (label == 0 && ch == '-') || ++label > 63)
			return false;
	}
	if (!(h = strndup(v, n)))
		return false;
	if (inet_pton(AF_INET, h, tmp) == 1 || inet_pton(AF_INET6, h, tmp) == 1) {
		free(h);
		return false;
	}
	for (char *c = h; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	*out = h;
	return true;
}

static bool parse_hosts(struct loader *ld, const config_setting_t *s, struct policy_rule *r)
{
	int n = is_seq(s) ? config_setting_length(s) : 1;
	int i;

	if (!is_seq(s) && config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail(ld, s, "\"host\" must be a host name or a list of them");
	if (n == 0)
		return fail(ld, s, "\"host\" must not be an empty list (leave it out to match any host)");
	if (!(r->hosts = calloc((size_t)n, sizeof(*r->hosts))))
		return oom(ld, s);
	for (i = 0; i < n; i++) {
		const config_setting_t *e = is_seq(s) ? config_setting_get_elem(s, (unsigned)i) : s;
		const char *v;

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return fail(ld, e, "\"host\" must be a host name or a list of them");
		v = config_setting_get_string(e);
		if (!host_syntax(v, &r->hosts[i]))
			return fail(ld, e, "\"host\" \"%s\" is not a host name (like \"db.internal\" or"
				    " \"*.internal\"; addresses go in \"address\")", policy_printable(v, true) ? v : "?");
		r->nhosts++;
	}
	return true;
}

/* certs = ( { cert = "..."; key = "..."; }, ... ): at least one entry,
 * each with both keys and nothing else. */
static bool parse_certs(struct loader *ld, const config_setting_t *s, struct policy_rule *r)
{
	int n, i;

	if (!is_seq(s))
		return fail(ld, s, "\"certs\" must be a list of groups: certs = ( { cert = \"...\"; key = \"...\"; } );");
	n = config_setting_length(s);
	if (n == 0)
		return fail(ld, s, "\"certs\" must not be an empty list");
	if (!(r->certs = calloc((size_t)n, sizeof(*r->certs))))
		return oom(ld, s);
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		struct policy_cert *c = &r->certs[i];
		int j, m;

		r->ncerts++;
		c->line = (int)config_setting_source_line(e);
		if (!config_setting_is_group(e))
			return fail(ld, e, "\"certs\" entry %d must be a group: { cert = \"...\"; key = \"...\"; }", i + 1);
		m = config_setting_length(e);
		for (j = 0; j < m; j++) {
			const config_setting_t *v = config_setting_get_elem(e, (unsigned)j);
			const char *nm = config_setting_name(v);

			if (strcmp(nm, "cert") == 0) {
				if (!get_path(ld, K_CERT, v, &c->cert))
					return false;
			} else if (strcmp(nm, "key") == 0) {
				if (!get_key(ld, K_KEY, v, &c->key))
					return false;
			} else if (strcmp(nm, "ocsp_staple_file") == 0) {
				if (!get_path(ld, K_OCSP_STAPLE_FILE, v, &c->ocsp_staple_file))
					return false;
			} else {
				return fail(ld, v, "unknown key \"%s\" in \"certs\" entry %d (only \"cert\", \"key\""
					    " and \"ocsp_staple_file\")", nm, i + 1);
			}
		}
		if (!c->cert)
			return fail(ld, e, "\"certs\" entry %d has no \"cert\"", i + 1);
		if (!c->key)
			return fail(ld, e, "\"certs\" entry %d has no \"key\"", i + 1);
	}
	return true;
}

/* ---- one key ------------------------------------------------------------ */

static const char *const dir_words[] = { "accept", "connect", NULL };
static const char *const action_words[] = { "tls", "plain", "deny", NULL };
static const char *const verify_words[] = { "full", "none", NULL };
static const char *const version_words[] = { "TLSv1.2", "TLSv1.3", NULL };
static const char *const proxy_words[] = { "none", "v2", NULL };
static const char *const ocsp_words[] = { "off", "if_stapled", "require", NULL };

static bool parse_key(struct loader *ld, enum key k, const config_setting_t *s, struct policy_rule *r)
{
	int w = 0;
	long long v;

	switch (k) {
	case K_NAME:
		return get_label(ld, k, s, &r->name);
	case K_DIRECTION:
		if (!get_word(ld, k, s, dir_words, &w))
			return false;
		r->direction = w == 0 ? POLICY_ACCEPT : POLICY_CONNECT;
		return true;
	case K_PORT:
		return parse_ports(ld, s, r);
	case K_ADDRESS:
		return parse_addresses(ld, s, r);
	case K_ACTION:
		if (!get_word(ld, k, s, action_words, &w))
			return false;
		r->action = w == 0 ? POLICY_TLS : w == 1 ? POLICY_PLAIN : POLICY_DENY;
		return true;
	case K_CERT:
		return get_path(ld, k, s, &r->cert);
	case K_KEY:
		return get_key(ld, k, s, &r->key);
	case K_PKCS11_MODULE:
		return get_module(ld, k, s, &r->pkcs11_module);
	case K_PIN_FILE:
		return get_path(ld, k, s, &r->pin_file);
	case K_CA:
		return get_path(ld, k, s, &r->ca);
	case K_VERIFY:
		if (!get_word(ld, k, s, verify_words, &w))
			return false;
		r->verify = w == 0 ? POLICY_VERIFY_FULL : POLICY_VERIFY_NONE;
		return true;
	case K_SERVER_NAME:
		if (!get_label(ld, k, s, &r->server_name))
			return false;
		if (strchr(r->server_name, ' '))
			return fail(ld, s, "\"server_name\" must not contain spaces");
		{
			/* A DNS name or an address, nothing OpenSSL would read as
			 * more: ".example.com" would accept any name under it, and
			 * "*.example.com" only a wildcard certificate. */
			unsigned char tmp[16];
			char *h = NULL;
			size_t n = strlen(r->server_name);

			if (inet_pton(AF_INET, r->server_name, tmp) == 1 ||
			    inet_pton(AF_INET6, r->server_name, tmp) == 1)
				return true;
			if (r->server_name[0] == '*' || !host_syntax(r->server_name, &h))
				return fail(ld, s, "\"server_name\" \"%s\" is not a DNS name or an IP address"
					    " (like \"db.internal\" or \"10.0.0.5\"; no \"*\", no empty label)",
					    r->server_name);
			free(h);
			if (r->server_name[n - 1] == '.')
				r->server_name[n - 1] = '\0';   /* as in host: "a.test." is a.test */
		}
		return true;
	case K_REQUIRE_CLIENT_CERT:
		return get_bool(ld, k, s, &r->require_client_cert);
	case K_MIN_VERSION:
		if (!get_word(ld, k, s, version_words, &w))
			return false;
		r->min_version = w == 0 ? TLS1_2_VERSION : TLS1_3_VERSION;
		return true;
	case K_CIPHERS:
	case K_CIPHERSUITES: {
		const char *c = NULL;

		if (!get_string(ld, k, s, &c))
			return false;
		if (!(*(k == K_CIPHERS ? &r->ciphers : &r->ciphersuites) = strdup(c)))
			return oom(ld, s);
		return true;
	}
	case K_ALPN:
		return parse_alpn(ld, s, r);
	case K_ALLOW_TRUNCATION:
		return get_bool(ld, k, s, &r->allow_truncation);
	case K_KTLS:
		return get_bool(ld, k, s, &r->ktls);
	case K_PROXY_PROTOCOL:
		if (!get_word(ld, k, s, proxy_words, &w))
			return false;
		r->proxy_v2 = w == 1;
		return true;
	case K_HANDSHAKE_TIMEOUT_MS:
		if (!is_int(s))
			return fail(ld, s, "\"handshake_timeout_ms\" must be an integer");
		v = config_setting_get_int64(s);
		if (v < 1 || v > TIMEOUT_MAX_MS)
			return fail(ld, s, "\"handshake_timeout_ms\" %lld is out of range (1..%d)", v,
				    TIMEOUT_MAX_MS);
		r->handshake_timeout_ms = (int)v;
		return true;
	case K_KEY_UPDATE_RECORDS:
		if (!is_int(s))
			return fail(ld, s, "\"key_update_records\" must be an integer");
		v = config_setting_get_int64(s);
		if (v < 0 || v > KEY_UPDATE_DEFAULT)
			return fail(ld, s, "\"key_update_records\" %lld is out of range (0..%d: more records"
				    " under one AES-GCM key would exceed RFC 8446's limit)", v, KEY_UPDATE_DEFAULT);
		r->key_update_records = (unsigned)v;
		return true;
	case K_CLOSE_TIMEOUT_MS:
		if (!is_int(s))
			return fail(ld, s, "\"close_timeout_ms\" must be an integer");
		v = config_setting_get_int64(s);
		if (v < 0 || v > TIMEOUT_MAX_MS)
			return fail(ld, s, "\"close_timeout_ms\" %lld is out of range (0..%d)", v,
				    TIMEOUT_MAX_MS);
		r->close_timeout_ms = (int)v;
		return true;
	case K_ALLOW_CN:
	case K_ALLOW_OU:
	case K_ALLOW_DNS:
	case K_ALLOW_URI:
	case K_ALLOW_IP:
	case K_PIN_SPKI: {
		const config_setting_t *bad = NULL;
		char why[400];

		if (!policy_identity_parse(&r->identity, (enum policy_id_list)(k - K_ALLOW_CN), s, &bad,
					   why, sizeof(why)))
			return fail(ld, bad ? bad : s, "%s", why);
		return true;
	}
	case K_SESSION_CACHE:
		if (!get_bool(ld, k, s, &r->session_cache_off))
			return false;
		r->session_cache_off = !r->session_cache_off;
		return true;
	case K_TICKET_KEY_FILE:
		return get_path(ld, k, s, &r->ticket_key_file);
	case K_CRL:
		return get_path(ld, k, s, &r->crl);
	case K_CERTS:
		return parse_certs(ld, s, r);
	case K_SNI_STRICT:
		return get_bool(ld, k, s, &r->sni_strict);
	case K_HOST:
		return parse_hosts(ld, s, r);
	case K_OCSP:
		if (!get_word(ld, k, s, ocsp_words, &w))
			return false;
		r->ocsp = w;   /* enum policy_ocsp's order */
		return true;
	case K_OCSP_STAPLE_FILE:
		return get_path(ld, k, s, &r->ocsp_staple_file);
	case K_KEY_HOLDER:
		return get_bool(ld, k, s, &r->key_holder);
	case K_COUNT:
		break;
	}
	return fail(ld, s, "internal error: unhandled key");
}

static int key_lookup(const char *name)
{
	int k;

	for (k = 0; k < K_COUNT; k++)
		if (name && strcmp(name, key_names[k]) == 0)
			return k;
	return -1;
}

/* Keys that make sense in one direction only. */
static bool applies(enum key k, enum policy_dir d)
{
	if (k == K_VERIFY || k == K_SERVER_NAME || k == K_HOST || k == K_OCSP)
		return d == POLICY_CONNECT;
	if (k == K_REQUIRE_CLIENT_CERT || k == K_TICKET_KEY_FILE || k == K_CERTS || k == K_SNI_STRICT ||
	    k == K_OCSP_STAPLE_FILE)
		return d == POLICY_ACCEPT;
	return true;
}

static void rule_free(struct policy_rule *r)
{
	free(r->name);
	free(r->ports);
	free(r->addrs);
	for (size_t i = 0; i < r->nhosts; i++)
		free(r->hosts[i]);
	free(r->hosts);
	free(r->cert);
	free(r->key);
	free(r->pkcs11_module);
	free(r->pin_file);
	free(r->ca);
	free(r->server_name);
	free(r->ciphers);
	free(r->ciphersuites);
	free(r->alpn);
	policy_identity_free(r->identity);
	free(r->ticket_key_file);
	free(r->crl);
	for (size_t i = 0; i < r->ncerts; i++) {
		free(r->certs[i].cert);
		free(r->certs[i].key);
		free(r->certs[i].ocsp_staple_file);
	}
	free(r->certs);
	free(r->ocsp_staple_file);
	ocsp_staples_free(r->staples);
	sni_free(r->sni);
	SSL_CTX_free(r->ctx);
	memset(r, 0, sizeof(*r));
}

static void rule_init(struct policy_rule *r)
{
	memset(r, 0, sizeof(*r));
	r->action = POLICY_TLS;
	r->verify = POLICY_VERIFY_FULL;
	r->min_version = TLS1_2_VERSION;
	r->handshake_timeout_ms = TIMEOUT_DEFAULT_MS;
	r->close_timeout_ms = CLOSE_DEFAULT_MS;
	r->key_update_records = KEY_UPDATE_DEFAULT;
}

/* ---- defaults and rules ------------------------------------------------- */

/* Checked once on its own, so that a bad value in defaults is reported
 * as such and not once per rule. */
static bool check_defaults(struct loader *ld, const config_setting_t *d)
{
	struct policy_rule scratch;
	int i, n = config_setting_length(d);
	bool ok = true;

	snprintf(ld->label, sizeof(ld->label), "defaults");
	rule_init(&scratch);
	for (i = 0; ok && i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(d, (unsigned)i);
		int k = key_lookup(config_setting_name(m));

		if (k < 0)
			ok = fail(ld, m, "unknown key \"%s\"", config_setting_name(m));
		else if (k == K_NAME || k == K_DIRECTION)
			ok = fail(ld, m, "\"%s\" is not allowed in defaults", key_names[k]);
		else if (k == K_OCSP_STAPLE_FILE)
			ok = fail(ld, m, "\"ocsp_staple_file\" is not allowed in defaults (a response is about"
				  " one certificate: set it next to that \"cert\")");
		else
			ok = parse_key(ld, (enum key)k, m, &scratch);
	}
	rule_free(&scratch);
	ld->label[0] = '\0';
	return ok;
}

static bool rule_has_pkcs11_key(const struct policy_rule *r)
{
	if (pkcs11_is_uri(r->key))
		return true;
	for (size_t i = 0; i < r->ncerts; i++)
		if (pkcs11_is_uri(r->certs[i].key))
			return true;
	return false;
}

/* A crl or ticket_key_file from defaults is not inherited by a rule where
 * it would do nothing (no peer certificate checked, resumption off), so
 * that one defaults can serve every rule; set in the rule itself, such a
 * combination is an error (check_rule). */
static void inherit_only_where_used(const bool own[K_COUNT], const config_setting_t *src[K_COUNT],
				    struct policy_rule *r)
{
	if (r->crl && !own[K_CRL] &&
	    (r->direction == POLICY_ACCEPT ? !r->require_client_cert : r->verify == POLICY_VERIFY_NONE)) {
		free(r->crl);
		r->crl = NULL;
		src[K_CRL] = NULL;
	}
	/* A rule's own cert replaces certs from defaults (and sni_strict,
	 * which only means something with them). */
	if (r->ncerts && !own[K_CERTS] && (own[K_CERT] || own[K_KEY])) {
		for (size_t i = 0; i < r->ncerts; i++) {
			free(r->certs[i].cert);
			free(r->certs[i].key);
			free(r->certs[i].ocsp_staple_file);
		}
		free(r->certs);
		r->certs = NULL;
		r->ncerts = 0;
		src[K_CERTS] = NULL;
	}
	if (r->sni_strict && !own[K_SNI_STRICT] && !r->ncerts) {
		r->sni_strict = false;
		src[K_SNI_STRICT] = NULL;
	}
	/* A rule's own certs replace a cert and key from defaults. */
	if (own[K_CERTS] && !own[K_CERT] && !own[K_KEY]) {
		free(r->cert);
		free(r->key);
		r->cert = r->key = NULL;
		src[K_CERT] = src[K_KEY] = NULL;
	}
	/* proxy_protocol from defaults: for the accept rules that make TLS. */
	if (r->proxy_v2 && !own[K_PROXY_PROTOCOL] &&
	    (r->direction != POLICY_ACCEPT || r->action != POLICY_TLS)) {
		r->proxy_v2 = false;
		src[K_PROXY_PROTOCOL] = NULL;
	}
	/* pkcs11_module and pin_file from defaults: only for keys in a token. */
	if (!rule_has_pkcs11_key(r)) {
		for (int k = K_PKCS11_MODULE; k <= K_PIN_FILE; k++) {
			char **v = k == K_PKCS11_MODULE ? &r->pkcs11_module : &r->pin_file;

			if (*v && !own[k]) {
				free(*v);
				*v = NULL;
				src[k] = NULL;
			}
		}
	}
	/* key_holder from defaults: only where there is a key to hold. */
	if (r->key_holder && !own[K_KEY_HOLDER] && (r->action != POLICY_TLS || (!r->cert && !r->ncerts))) {
		r->key_holder = false;
		src[K_KEY_HOLDER] = NULL;
	}
	if (r->ticket_key_file && !own[K_TICKET_KEY_FILE] && r->session_cache_off) {
		free(r->ticket_key_file);
		r->ticket_key_file = NULL;
		src[K_TICKET_KEY_FILE] = NULL;
	}
}

/* Relations between keys, on the rule's effective values. */
static bool check_rule(struct loader *ld, const config_setting_t *const src[K_COUNT],
		       struct policy_rule *r)
{
	if (r->ncerts && (r->cert || r->key))
		return fail(ld, src[K_CERTS], "\"certs\" and \"%s\" exclude each other (one certificate: \"cert\""
			    " and \"key\"; several, picked by SNI: \"certs\")", r->cert ? "cert" : "key");
	if (r->sni_strict && !r->ncerts)
		return fail(ld, src[K_SNI_STRICT], "\"sni_strict\" needs \"certs\"");
	if (r->key && !r->cert)
		return fail(ld, src[K_KEY], "\"key\" given without \"cert\"");
	if (r->cert && !r->key)
		return fail(ld, src[K_CERT], "\"cert\" given without \"key\"");
	if (r->direction == POLICY_ACCEPT && r->action == POLICY_TLS && !r->cert && !r->ncerts)
		return fail_line(ld, r->line, "an accept rule with action \"tls\" needs \"cert\" and \"key\""
				 " (or \"certs\")");
	if (r->require_client_cert && !r->ca)
		return fail(ld, src[K_REQUIRE_CLIENT_CERT], "\"require_client_cert\" needs \"ca\"");
	if (r->proxy_v2 && r->direction != POLICY_ACCEPT)
		return fail(ld, src[K_PROXY_PROTOCOL], "\"proxy_protocol\" applies only to accept rules"
			    " (the header is read by the program that accepts)");
	if (r->proxy_v2 && r->action != POLICY_TLS)
		return fail(ld, src[K_PROXY_PROTOCOL], "\"proxy_protocol\" applies only to rules with action"
			    " \"tls\" (the header describes the TLS session)");
	if ((r->pkcs11_module || r->pin_file) && !rule_has_pkcs11_key(r))
		return fail(ld, src[r->pkcs11_module ? K_PKCS11_MODULE : K_PIN_FILE],
			    "\"%s\" needs a key in a PKCS#11 token (key = \"pkcs11:...\")",
			    r->pkcs11_module ? "pkcs11_module" : "pin_file");
	if (r->key_holder && (r->action != POLICY_TLS || (!r->cert && !r->ncerts)))
		return fail(ld, src[K_KEY_HOLDER], "\"key_holder\" needs a rule with action \"tls\" and a key"
			    " (\"cert\" and \"key\", or \"certs\")");
	if (r->key_holder && rule_has_pkcs11_key(r))
		return fail(ld, src[K_KEY_HOLDER], "\"key_holder\" with a key in a PKCS#11 token (the token"
			    " already keeps the key out of the program)");
	if (r->ticket_key_file && r->session_cache_off)
		return fail(ld, src[K_TICKET_KEY_FILE], "\"ticket_key_file\" with \"session_cache\" = false"
			    " (resumption is off: no ticket is issued)");
	if (r->crl && r->direction == POLICY_ACCEPT && !r->require_client_cert)
		return fail(ld, src[K_CRL], "\"crl\" on an accept rule needs \"require_client_cert\" = true"
			    " (no client certificate is asked for, so none would be checked)");
	if (r->crl && r->direction == POLICY_CONNECT && r->verify == POLICY_VERIFY_NONE)
		return fail(ld, src[K_CRL], "\"crl\" with \"verify\" = \"none\" (nothing is verified)");
	return true;
}

/* The identity lists restrict a peer that was verified: an accept rule
 * that requires a client certificate, or a connect rule that verifies
 * the server.  Anywhere else they would restrict nothing, which a policy
 * must not seem to do.  On plain and deny rules (no peer certificate at
 * all) a list inherited from defaults is dropped; one set by the rule
 * itself is an error. */
static bool check_identity(struct loader *ld, OSSL_LIB_CTX *libctx,
			   const config_setting_t *const src[K_COUNT], const bool own[K_COUNT],
			   struct policy_rule *r)
{
	int k, first = -1;

	for (k = K_ALLOW_CN; first < 0 && k <= K_PIN_SPKI; k++)
		if (src[k])
			first = k;
	if (first < 0)
		return true;
	if (r->action != POLICY_TLS) {
		for (k = K_ALLOW_CN; k <= K_PIN_SPKI; k++)
			if (src[k] && own[k])
				return fail(ld, src[k], "\"%s\" applies only to rules with action \"tls\"",
					    key_names[k]);
		policy_identity_free(r->identity);
		r->identity = NULL;
		return true;
	}
	if (r->direction == POLICY_ACCEPT && !r->require_client_cert)
		return fail(ld, src[first], "\"%s\" needs require_client_cert = true on an accept rule"
			    " (without a client certificate there is no identity to check)%s",
			    key_names[first], own[first] ? "" : " (it comes from defaults)");
	if (r->direction == POLICY_CONNECT && r->verify != POLICY_VERIFY_FULL)
		return fail(ld, src[first], "\"%s\" needs verify = \"full\" (an unverified server's"
			    " identity proves nothing)%s", key_names[first],
			    own[first] ? "" : " (it comes from defaults)");
	if (!policy_identity_prepare(r->identity, libctx))
		return fail(ld, src[first], "cannot fetch SHA-256 for \"%s\"", key_names[first]);
	return true;
}

/* OCSP (policy/ocsp.h): ocsp where a server's certificate is verified;
 * ocsp_staple_file next to the one certificate it is about.  From
 * defaults, ocsp reaches only connect rules that verify (as crl). */
static bool check_ocsp(struct loader *ld, const config_setting_t *const src[K_COUNT], const bool own[K_COUNT],
		       struct policy_rule *r)
{
	if (r->ocsp != POLICY_OCSP_OFF && (r->action != POLICY_TLS || r->verify == POLICY_VERIFY_NONE)) {
		if (own[K_OCSP])
			return fail(ld, src[K_OCSP], "\"ocsp\" = \"%s\" %s", r->ocsp == POLICY_OCSP_REQUIRE ?
				    "require" : "if_stapled", r->action != POLICY_TLS ?
				    "applies only to rules with action \"tls\"" :
				    "with \"verify\" = \"none\" (an unverified server's OCSP response proves"
				    " nothing)");
		r->ocsp = POLICY_OCSP_OFF;
	}
	if (r->ocsp_staple_file && r->action != POLICY_TLS)
		return fail(ld, src[K_OCSP_STAPLE_FILE], "\"ocsp_staple_file\" applies only to rules with"
			    " action \"tls\"");
	if (r->ocsp_staple_file && r->ncerts)
		return fail(ld, src[K_OCSP_STAPLE_FILE], "\"ocsp_staple_file\" with \"certs\": each"
			    " certificate has its own response, set it in its entry:"
			    " certs = ( { cert = ...; key = ...; ocsp_staple_file = ...; } )");
	return true;
}

/* The staples of an accept rule's certificates; OCSP checking on a
 * connect rule's SSL_CTX. */
static bool build_ocsp(struct loader *ld, OSSL_LIB_CTX *libctx, const config_setting_t *const src[K_COUNT],
		       struct policy_rule *r)
{
	SSL_CTX *one[1] = { r->ctx }, **ctxs = one;
	size_t nctx = 1, i;
	char why[400];
	bool ok = true;

	if (r->direction == POLICY_CONNECT)
		return ocsp_client_setup(r->ctx, (enum policy_ocsp)r->ocsp, why, sizeof why) ||
		       fail(ld, src[K_OCSP], "%s", why);
	if (r->ocsp_staple_file)
		return ocsp_staple_add(&r->staples, ctxs, nctx, libctx, r->name, r->cert, r->ocsp_staple_file,
				       why, sizeof why) ||
		       fail(ld, src[K_OCSP_STAPLE_FILE], "%s", why);
	for (i = 0; i < r->ncerts && !r->certs[i].ocsp_staple_file; i++)
		;
	if (i == r->ncerts || !r->sni)
		return true;
	if (!(ctxs = calloc(r->sni->ngroups, sizeof *ctxs)))
		return fail_line(ld, r->line, "out of memory");
	for (nctx = 0; nctx < r->sni->ngroups; nctx++)
		ctxs[nctx] = r->sni->groups[nctx].ctx;
	for (i = 0; ok && i < r->ncerts; i++) {
		const config_setting_t *e = src[K_CERTS] ? config_setting_get_elem(src[K_CERTS], (unsigned)i) : NULL;
		const config_setting_t *m = e ? config_setting_get_member(e, "ocsp_staple_file") : NULL;

		if (r->certs[i].ocsp_staple_file &&
		    !ocsp_staple_add(&r->staples, ctxs, nctx, libctx, r->name, r->certs[i].cert,
				     r->certs[i].ocsp_staple_file, why, sizeof why))
			ok = m ? fail(ld, m, "\"certs\" entry %zu: %s", i + 1, why)
			       : fail_line(ld, r->certs[i].line, "\"certs\" entry %zu: %s", i + 1, why);
	}
	free(ctxs);
	return ok;
}

static const config_setting_t *ctx_err_setting(enum ctx_err_key which,
					       const config_setting_t *const src[K_COUNT])
{
	switch (which) {
	case CTX_ERR_CERT: return src[K_CERT];
	case CTX_ERR_KEY: return src[K_KEY];
	case CTX_ERR_CA: return src[K_CA];
	case CTX_ERR_CIPHERS: return src[K_CIPHERS];
	case CTX_ERR_CIPHERSUITES: return src[K_CIPHERSUITES];
	case CTX_ERR_ALPN: return src[K_ALPN];
	case CTX_ERR_MIN_VERSION: return src[K_MIN_VERSION];
	case CTX_ERR_TICKET_KEY_FILE: return src[K_TICKET_KEY_FILE];
	case CTX_ERR_CRL: return src[K_CRL];
	case CTX_ERR_PKCS11_MODULE: return src[K_PKCS11_MODULE];
	case CTX_ERR_PIN_FILE: return src[K_PIN_FILE];
	default: return NULL;
	}
}

/* The setting of certs entry i's cert or key, for an error's line. */
static const config_setting_t *entry_setting(const config_setting_t *certs, size_t i, enum ctx_err_key which)
{
	const config_setting_t *e = certs ? config_setting_get_elem(certs, (unsigned)i) : NULL;
	const config_setting_t *m = NULL;

	if (e && (which == CTX_ERR_CERT || which == CTX_ERR_KEY))
		m = config_setting_get_member(e, which == CTX_ERR_CERT ? "cert" : "key");
	return m ? m : e;
}

/* certs: one SSL_CTX per entry, built as if the rule had that cert and
 * key; entries with the same names go into the first one's SSL_CTX, one
 * per key type (policy/sni.h). */
static bool build_sni(struct loader *ld, OSSL_LIB_CTX *libctx,
		      const config_setting_t *const src[K_COUNT], struct policy_rule *r)
{
	enum ctx_err_key which = CTX_ERR_NONE;
	char why[400];
	size_t i;

	if (!(r->sni = calloc(1, sizeof(*r->sni))))
		return fail_line(ld, r->line, "out of memory");
	r->sni->strict = r->sni_strict;
	for (i = 0; i < r->ncerts; i++) {
		struct policy_cert *c = &r->certs[i];
		struct policy_sni_group *g;
		const config_setting_t *s;
		char **names = NULL;
		size_t n = 0, t;
		SSL_CTX *ctx;
		int type;

		/* ctx_build reads the rule (its ALPN callback keeps it):
		 * lend it this entry's files for the time of the call. */
		r->cert = c->cert;
		r->key = c->key;
		ctx = ctx_build(libctx, r, &which, why, sizeof(why));
		r->cert = r->key = NULL;
		if (!ctx) {
			s = ctx_err_setting(which, src);
			if (which == CTX_ERR_CERT || which == CTX_ERR_KEY || !s)
				s = entry_setting(src[K_CERTS], i, which);
			return fail(ld, s, "\"certs\" entry %zu: %s", i + 1, why);
		}
		if (!sni_cert_names(ctx, &names, &n)) {
			SSL_CTX_free(ctx);
			return fail_line(ld, c->line, "out of memory");
		}
		if (n == 0) {
			SSL_CTX_free(ctx);
			sni_free_names(names, n);
			return fail(ld, entry_setting(src[K_CERTS], i, CTX_ERR_CERT),
				    "\"certs\" entry %zu: the certificate has no subjectAltName DNS name to"
				    " match the client's server name with", i + 1);
		}
		if (!(g = sni_find_group(r->sni, names, n))) {
			if (!sni_add_group(r->sni, ctx, names, n, i)) {
				SSL_CTX_free(ctx);
				sni_free_names(names, n);
				return fail_line(ld, c->line, "out of memory");
			}
			continue;
		}
		type = sni_key_type(ctx);
		SSL_CTX_free(ctx);
		sni_free_names(names, n);
		for (t = 0; t < g->nkeys; t++)
			if (g->key_types[t] == type)
				return fail(ld, entry_setting(src[K_CERTS], i, CTX_ERR_CERT),
					    "\"certs\" entry %zu: same names and key type as entry %zu"
					    " (only one certificate per key type can serve a name)",
					    i + 1, g->first_entry + 1);
		if (g->nkeys == sizeof(g->key_types) / sizeof(g->key_types[0]))
			return fail(ld, entry_setting(src[K_CERTS], i, CTX_ERR_CERT),
				    "\"certs\" entry %zu: too many certificates for the same names", i + 1);
		if (!ctx_add_cert(g->ctx, libctx, r, c->cert, c->key, &which, why, sizeof(why)))
			return fail(ld, entry_setting(src[K_CERTS], i, which), "\"certs\" entry %zu: %s",
				    i + 1, why);
		g->key_types[g->nkeys++] = type;
	}
	sni_install(r->sni);
	SSL_CTX_up_ref(r->sni->groups[0].ctx);
	r->ctx = r->sni->groups[0].ctx;
	return true;
}

static bool build_ctx(struct loader *ld, OSSL_LIB_CTX *libctx,
		      const config_setting_t *const src[K_COUNT], struct policy_rule *r)
{
	enum ctx_err_key which = CTX_ERR_NONE;
	char why[400];
	const config_setting_t *s;

	if (r->ncerts)
		return build_sni(ld, libctx, src, r);
	r->ctx = ctx_build(libctx, r, &which, why, sizeof(why));
	if (r->ctx)
		return true;
	s = ctx_err_setting(which, src);
	return s ? fail(ld, s, "%s", why) : fail_line(ld, r->line, "%s", why);
}

/* src[k]: where key k of this rule comes from (the rule, or defaults). */
static bool collect_keys(struct loader *ld, const config_setting_t *g, const config_setting_t *defaults,
			 const config_setting_t *src[K_COUNT], bool own[K_COUNT])
{
	int i, n = config_setting_length(g);

	for (i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		int k = key_lookup(config_setting_name(m));

		if (k < 0)
			return fail(ld, m, "unknown key \"%s\"", config_setting_name(m));
		src[k] = m;
		own[k] = true;
	}
	n = defaults ? config_setting_length(defaults) : 0;
	for (i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(defaults, (unsigned)i);
		int k = key_lookup(config_setting_name(m));

		if (k >= 0 && !src[k])
			src[k] = m;
	}
	return true;
}

/* The policy's library context, made at its first TLS rule; before it,
 * a mark in the thread's error queue (popped by policy_load), so that
 * whatever OpenSSL queues while we load is ours to drop and what the
 * program had queued stays.  A policy without a TLS rule never calls
 * OpenSSL: its first error-queue call sets up the thread's error state
 * and loads all of OpenSSL's error strings (0.95 M instructions, most of
 * what such a process's start spent outside the dynamic linker;
 * bench/README.md, "Start-up, counted"). */
static OSSL_LIB_CTX *policy_ossl(struct loader *ld, struct policy *p)
{
	if (!ld->marked) {
		ERR_set_mark();
		ld->marked = true;
	}
	if (!p->libctx && !(p->libctx = OSSL_LIB_CTX_new()))
		fail_line(ld, 0, "out of memory");
	return p->libctx;
}

static bool load_rule(struct loader *ld, struct policy *p, const config_setting_t *g,
		      const config_setting_t *defaults, int index, struct policy_rule *r)
{
	OSSL_LIB_CTX *libctx;
	const config_setting_t *src[K_COUNT] = { 0 };
	bool own[K_COUNT] = { 0 };
	const config_setting_t *name = config_setting_get_member(g, "name");
	int k;

	rule_init(r);
	r->index = index;
	r->line = (int)config_setting_source_line(g);
	snprintf(ld->label, sizeof(ld->label), "rule %d", index + 1);
	if (name && !parse_key(ld, K_NAME, name, r))
		return false;
	if (!r->name && asprintf(&r->name, "rule %d", index + 1) < 0) {
		r->name = NULL;
		return oom(ld, g);
	}
	snprintf(ld->label, sizeof(ld->label), "rule \"%s\"", r->name);
	if (!collect_keys(ld, g, defaults, src, own))
		return false;
	if (!src[K_DIRECTION])
		return fail_line(ld, r->line, "missing \"direction\" (\"accept\" or \"connect\")");
	if (!parse_key(ld, K_DIRECTION, src[K_DIRECTION], r))
		return false;
	for (k = 0; k < K_COUNT; k++) {
		if (!src[k] || applies((enum key)k, r->direction))
			continue;
		if (own[k])
			return fail(ld, src[k], "\"%s\" applies only to %s rules", key_names[k],
				    r->direction == POLICY_ACCEPT ? "connect" : "accept");
		src[k] = NULL;
	}
	for (k = K_DIRECTION + 1; k < K_COUNT; k++)
		if (src[k] && !parse_key(ld, (enum key)k, src[k], r))
			return false;
	inherit_only_where_used(own, src, r);
	if (!check_rule(ld, src, r))
		return false;
	if (r->action != POLICY_TLS)
		libctx = NULL;          /* check_identity drops what a plain rule inherits */
	else if (!(libctx = policy_ossl(ld, p)))
		return false;
	if (!check_identity(ld, libctx, src, own, r) ||
	    !check_ocsp(ld, src, own, r))
		return false;
	return r->action != POLICY_TLS || (build_ctx(ld, libctx, src, r) && build_ocsp(ld, libctx, src, r));
}

/* ---- the file ------------------------------------------------------------ */

/* The directory of path, absolute, without resolving symbolic links. */
static char *abs_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *cwd = NULL, *out = NULL;
	int len = slash ? (int)(slash - path) : 0;

	if (slash && len == 0)
		return strdup("/");
	if (path[0] == '/')
		return strndup(path, (size_t)len);
	if (!(cwd = getcwd(NULL, 0)))
		return NULL;
	if (slash ? asprintf(&out, "%s/%.*s", cwd, len, path) < 0 : !(out = strdup(cwd)))
		out = NULL;
	free(cwd);
	return out;
}

/* The policy file, opened by us rather than by libconfig: only a regular
 * file, never blocking (policy/file.h), and with a precise reason
 * (missing, a directory, a FIFO, unreadable) where libconfig's only word
 * for all of these is "file I/O error". */
static FILE *open_file(struct loader *ld)
{
	const char *why = NULL;
	FILE *f = policy_fopen_regular(ld->path, &why);
	char lit[64];
	int ln;

	if (!f) {
		fail_line(ld, 0, "cannot read policy file: %s", why ? why : strerror(errno));
		return NULL;
	}
	if (!libconfig_ints_fit(f, &ln, lit, sizeof lit)) {
		fail_line(ld, ln, "integer %s does not fit in 32 bits (libconfig reads it wrongly;"
			  " no key takes a value that large)", lit);
		fclose(f);
		return NULL;
	}
	return f;
}

/* libconfig's error; an @include it could not open gets its name and the
 * reason (libconfig_link.c opens them). */
static void parse_error(struct loader *ld, const config_t *cf, const struct libconfig_failure *fail)
{
	const char *text = config_error_text(cf) ? config_error_text(cf) : "cannot parse";

	snprintf(ld->err->file, sizeof(ld->err->file), "%s",
		 config_error_file(cf) ? config_error_file(cf) : ld->path);
	ld->err->line = config_error_line(cf);
	if (strstr(text, "include") && fail->path[0])
		snprintf(ld->err->msg, sizeof(ld->err->msg), "%s \"%.*s\": %s", text,
			 (int)strnlen(fail->path, sizeof fail->path), fail->path,
			 fail->why ? fail->why : "cannot open");
	else
		snprintf(ld->err->msg, sizeof(ld->err->msg), "%s", text);
	ld->failed = true;
}

static bool check_top(struct loader *ld, const config_setting_t *root,
		      const config_setting_t **defaults, const config_setting_t **rules,
		      const config_setting_t **raw)
{
	int i, n = config_setting_length(root);

	for (i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(m);

		if (strcmp(name, "defaults") == 0)
			*defaults = m;
		else if (strcmp(name, "rules") == 0)
			*rules = m;
		else if (strcmp(name, "raw_sockets") == 0)
			*raw = m;
		else
			return fail(ld, m, "unknown top-level key \"%s\" (expected \"defaults\", \"rules\""
				    " or \"raw_sockets\")", name);
	}
	/* raw_sockets: "refuse" (the default) or "allow" (shim/sock.c,
	 * shim_raw_guarded) */
	if (*raw && (config_setting_type(*raw) != CONFIG_TYPE_STRING ||
		     (strcmp(config_setting_get_string(*raw), "refuse") != 0 &&
		      strcmp(config_setting_get_string(*raw), "allow") != 0)))
		return fail(ld, *raw, "\"raw_sockets\" must be \"refuse\" or \"allow\"");
	if (*defaults && !config_setting_is_group(*defaults))
		return fail(ld, *defaults, "\"defaults\" must be a group: defaults = { ... };");
	if (!*rules)
		return fail_line(ld, 0, "no \"rules\" list (an empty one is written: rules = ();)");
	if (!is_seq(*rules))
		return fail(ld, *rules, "\"rules\" must be a list of groups: rules = ( { ... }, ... );");
	return true;
}

static bool load_rules(struct loader *ld, struct policy *p, const config_setting_t *rules,
		       const config_setting_t *defaults)
{
	int i, n = config_setting_length(rules);

	if (n == 0)
		return true;
	if (!(p->rules = calloc((size_t)n, sizeof(*p->rules))))
		return oom(ld, rules);
	for (i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(rules, (unsigned)i);

		p->nrules++;
		if (!config_setting_is_group(g))
			return fail(ld, g, "rule %d must be a group: { direction = ...; ... }", i + 1);
		if (!load_rule(ld, p, g, defaults, i, &p->rules[i]))
			return false;
		p->has[p->rules[i].direction] = true;
		if (p->rules[i].nhosts)
			p->has_host = true;
	}
	return true;
}

/* ---- the index -----------------------------------------------------------
 *
 * First match wins: the answer is the smallest rule index among the rules
 * that match.  Per direction, the rules are grouped into sets: the rules
 * without ports (they match every port), and for each port some rule
 * names, the rules that name it.  The answer for a socket is the smaller
 * of the answers of two sets, the no-port set and its port's set (found
 * by binary search).  Within a set:
 *
 *   - the first rule with neither address nor host matches every socket
 *     that reaches the set: no later rule of the set is kept;
 *   - the rules with addresses and no host, before it, go into an address
 *     map (policy/addrmap.h): the smallest rule whose blocks hold the
 *     address, by one binary search;
 *   - the host names of the rules with hosts, before it, go into a table
 *     sorted by name and then rule: when the program gave a name, one
 *     binary search finds the rules naming it exactly, another those whose
 *     "*.x" covers it (the key "*" plus the name from its first dot); the
 *     first of each run, in rule order, whose addresses also hold the
 *     peer answers for that run.
 *
 * The answer is the one a scan of all rules gives, by construction;
 * tests/unit/test_policy_scale.c and test_policy_index.c check it against
 * scans of their own. */
struct host_entry {
	const char *name;        /* a rule's host pattern (the rule owns it) */
	size_t rule;
};

struct rule_set {
	size_t catch_all;        /* the first rule matching anything, or ADDRMAP_NONE */
	struct addrmap addrs;    /* address rules before it */
	struct host_entry *hosts; /* host names of the rules before it, */
	size_t nhosts;           /* by name, then rule */
};

struct policy_port_index {
	struct rule_set any;     /* rules without ports */
	uint16_t *ports;         /* the ports rules name, ascending */
	struct rule_set *sets;   /* sets[i]: the rules that name ports[i] */
	size_t nports;
};

struct port_rule {
	uint16_t port;
	size_t rule;
};

static int cmp_port_rule(const void *a, const void *b)
{
	const struct port_rule *x = a, *y = b;

	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return x->rule < y->rule ? -1 : x->rule > y->rule;
}

static int cmp_host_entry(const void *a, const void *b)
{
	const struct host_entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->rule < y->rule ? -1 : x->rule > y->rule;
}

static void free_set(struct rule_set *s)
{
	addrmap_free(&s->addrs);
	free(s->hosts);
}

static void free_index(struct policy_port_index *ix)
{
	if (!ix)
		return;
	free_set(&ix->any);
	for (size_t i = 0; i < ix->nports; i++)
		free_set(&ix->sets[i]);
	free(ix->ports);
	free(ix->sets);
	free(ix);
}

/* The set of rules idx[0..n) (ascending, no repeats); e has room for
 * all their addresses. */
static bool build_set(const struct policy *p, const size_t *idx, size_t n,
		      struct addrmap_entry *e, struct rule_set *s)
{
	size_t ne = 0, i, k;

	memset(s, 0, sizeof(*s));
	s->catch_all = ADDRMAP_NONE;
	for (i = 0; i < n; i++) {
		const struct policy_rule *r = &p->rules[idx[i]];

		if (r->nhosts)
			s->nhosts += r->nhosts;
		else if (!r->naddrs) {
			s->catch_all = idx[i];
			break;
		}
	}
	n = i;
	if (s->nhosts && !(s->hosts = malloc(s->nhosts * sizeof(*s->hosts))))
		return false;
	s->nhosts = 0;
	for (i = 0; i < n; i++) {
		const struct policy_rule *r = &p->rules[idx[i]];

		for (k = 0; k < r->nhosts; k++)
			s->hosts[s->nhosts++] = (struct host_entry){ r->hosts[k], idx[i] };
		for (k = 0; !r->nhosts && k < r->naddrs; k++)
			e[ne++] = (struct addrmap_entry){ &r->addrs[k], idx[i] };
	}
	if (s->nhosts)
		qsort(s->hosts, s->nhosts, sizeof(*s->hosts), cmp_host_entry);
	return addrmap_build(&s->addrs, e, ne);
}

static struct policy_port_index *index_dir(const struct policy *p, enum policy_dir dir)
{
	struct policy_port_index *ix = calloc(1, sizeof(*ix));
	struct port_rule *pr = NULL;
	struct addrmap_entry *e = NULL;
	size_t *idx = NULL;
	size_t npr = 0, nany = 0, nidx = 0, naddrs = 0, i, k;

	if (!ix)
		return NULL;
	for (i = 0; i < p->nrules; i++)
		if (p->rules[i].direction == dir) {
			if (p->rules[i].nports)
				npr += p->rules[i].nports;
			else
				nany++;
			naddrs += p->rules[i].naddrs;
		}
	/* idx: the no-port rules, then each port's; a rule is in at most
	 * one set per port, so any one set has at most naddrs addresses */
	if (!(idx = malloc((nany + npr + 1) * sizeof(*idx))) ||
	    !(e = malloc((naddrs + 1) * sizeof(*e))) ||
	    (npr && !(pr = malloc(npr * sizeof(*pr)))) ||
	    (npr && !(ix->ports = calloc(npr, sizeof(*ix->ports)))) ||
	    (npr && !(ix->sets = calloc(npr, sizeof(*ix->sets)))))
		goto fail;
	npr = 0;
	for (i = 0; i < p->nrules; i++) {
		const struct policy_rule *r = &p->rules[i];
		if (r->direction != dir)
			continue;
		if (!r->nports)
			idx[nidx++] = i;
		for (k = 0; k < r->nports; k++)
			pr[npr++] = (struct port_rule){ r->ports[k], i };
	}
	if (!build_set(p, idx, nidx, e, &ix->any))
		goto fail;
	if (npr)
		qsort(pr, npr, sizeof(*pr), cmp_port_rule);
	for (i = 0; i < npr; ) {
		size_t start = nidx;

		/* a rule that names a port twice is listed once */
		for (k = i; k < npr && pr[k].port == pr[i].port; k++)
			if (k == i || pr[k].rule != pr[k - 1].rule)
				idx[nidx++] = pr[k].rule;
		ix->ports[ix->nports] = pr[i].port;
		if (!build_set(p, idx + start, nidx - start, e, &ix->sets[ix->nports++]))
			goto fail;
		i = k;
	}
	free(pr);
	free(e);
	free(idx);
	return ix;
fail:
	free(pr);
	free(e);
	free(idx);
	free_index(ix);
	return NULL;
}

/* Without memory for it, no index: policy_match scans. */
static void build_index(struct policy *p)
{
	for (int d = 0; d < 2; d++)
		p->index[d] = index_dir(p, (enum policy_dir)d);
}

static struct policy *load(struct loader *ld)
{
	config_t cf;
	const config_setting_t *defaults = NULL, *rules = NULL, *raw = NULL;
	struct policy *p = NULL;
	bool ok = false;
	int parsed;
	FILE *f;

	if (!(ld->dir = abs_dir(ld->path))) {
		fail_line(ld, 0, "cannot find the policy file's directory: %s", strerror(errno));
		return NULL;
	}
	if (!(f = open_file(ld)))
		return NULL;
	config_init(&cf);
	config_set_include_dir(&cf, ld->dir);
	{
		struct libconfig_failure fail;

		libconfig_open_failures(&fail);
		parsed = config_read(&cf, f);
		libconfig_open_failures(NULL);
		fclose(f);
		if (!parsed) {
			parse_error(ld, &cf, &fail);
			goto out;
		}
	}
	if (!check_top(ld, config_root_setting(&cf), &defaults, &rules, &raw))
		goto out;
	if (defaults && !check_defaults(ld, defaults))
		goto out;
	if (!(p = calloc(1, sizeof(*p))) || !(p->path = strdup(ld->path))) {
		fail_line(ld, 0, "out of memory");
		goto out;
	}
	{
		struct ctx_memo memo;

		ctx_memo_start(&memo);
		ok = load_rules(ld, p, rules, defaults);
		ctx_memo_finish(&memo);
	}
	if (ok) {
		p->raw_sockets_allowed = raw && strcmp(config_setting_get_string(raw), "allow") == 0;
		build_index(p);
		p->reload = policy_reload_new(p);
	}
out:
	config_destroy(&cf);
	if (!ok) {
		policy_free(p);
		p = NULL;
	}
	return p;
}

struct policy *policy_load(const char *path, struct policy_error *err)
{
	struct policy_error dummy;
	struct loader ld = { .path = path ? path : "", .err = err ? err : &dummy };
	struct policy *p;

	memset(ld.err, 0, sizeof(*ld.err));
	if (!path || !*path) {
		fail_line(&ld, 0, "no policy file given");
		return NULL;
	}
	/* The mark set at the first TLS rule (policy_ossl), popped after
	 * everything load() did, a policy freed on failure included. */
	p = load(&ld);
	if (ld.marked)
		ERR_pop_to_mark();
	free(ld.dir);
	return p;
}

bool policy_has_tls(const struct policy *p)
{
	for (size_t i = 0; p && i < p->nrules; i++)
		if (p->rules[i].action == POLICY_TLS)
			return true;
	return false;
}

bool policy_guards_port(const struct policy *p, enum policy_dir dir, uint16_t port)
{
	for (size_t i = 0; p && i < p->nrules; i++) {
		const struct policy_rule *r = &p->rules[i];

		if (r->direction != dir || r->action == POLICY_PLAIN)
			continue;
		if (!r->nports)
			return true;
		for (size_t k = 0; k < r->nports; k++)
			if (r->ports[k] == port)
				return true;
	}
	return false;
}

void policy_free(struct policy *p)
{
	size_t i;

	if (!p)
		return;
	policy_reload_free(p->reload);
	for (i = 0; i < p->nrules; i++)
		rule_free(&p->rules[i]);
	free(p->rules);
	free(p->path);
	free_index(p->index[POLICY_ACCEPT]);
	free_index(p->index[POLICY_CONNECT]);
	/* After the SSL_CTXs: they hold references into it. */
	OSSL_LIB_CTX_free(p->libctx);
	free(p);
}

/* ---- matching ------------------------------------------------------------ */

struct peer {
	int family;                 /* AF_INET (v4-mapped folded in) or AF_INET6 */
	const uint8_t *addr;
	uint16_t port;
	const char *host;           /* lower case, no trailing dot; or NULL */
};

static bool peer_from(const struct sockaddr *sa, socklen_t len, struct peer *out)
{
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

		out->family = AF_INET;
		out->addr = (const uint8_t *)&in->sin_addr;
		out->port = ntohs(in->sin_port);
		return true;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

		out->port = ntohs(in6->sin6_port);
		out->addr = in6->sin6_addr.s6_addr;
		out->family = AF_INET6;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			out->family = AF_INET;
			out->addr += 12;
		}
		return true;
	}
	return false;
}

static bool cidr_contains(const struct policy_cidr *c, const struct peer *a)
{
	int full = c->prefix / 8, rest = c->prefix % 8;

	if (c->family != a->family)
		return false;
	if (memcmp(c->addr, a->addr, (size_t)full) != 0)
		return false;
	return rest == 0 || ((c->addr[full] ^ a->addr[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

/* "*.x" matches one label under x; host is lower case, without a
 * trailing dot (policy_match). */
static bool host_matches(const char *pattern, const char *host)
{
	const char *dot;

	if (pattern[0] != '*')
		return strcmp(pattern, host) == 0;
	dot = strchr(host, '.');
	return dot && dot != host && strcmp(pattern + 1, dot) == 0;
}

/* No addresses, or one of its blocks holds a. */
static bool addrs_match(const struct policy_rule *r, const struct peer *a)
{
	for (size_t i = 0; i < r->naddrs; i++)
		if (cidr_contains(&r->addrs[i], a))
			return true;
	return r->naddrs == 0;
}

static bool rule_matches(const struct policy_rule *r, const struct peer *a)
{
	size_t i;
	bool ok = r->nports == 0;

	if (r->nhosts) {
		bool named = false;

		for (i = 0; !named && a->host && i < r->nhosts; i++)
			named = host_matches(r->hosts[i], a->host);
		if (!named)
			return false;
	}

	for (i = 0; !ok && i < r->nports; i++)
		ok = r->ports[i] == a->port;
	return ok && addrs_match(r, a);
}

/* The first rule of s naming key whose addresses hold a, if it comes
 * before best; else best.  (The set already matched a's port.) */
static size_t match_host(const struct policy *p, const struct rule_set *s, const char *key,
			 const struct peer *a, size_t best)
{
	size_t lo = 0, hi = s->nhosts;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(s->hosts[mid].name, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < s->nhosts && s->hosts[lo].rule < best && strcmp(s->hosts[lo].name, key) == 0; lo++)
		if (addrs_match(&p->rules[s->hosts[lo].rule], a))
			return s->hosts[lo].rule;
	return best;
}

/* The first rule of s that matches a, if it comes before best; else best. */
static size_t match_set(const struct policy *p, const struct rule_set *s, const struct peer *a,
			size_t best)
{
	size_t r = s->addrs.nseg[a->family == AF_INET6] ? addrmap_lookup(&s->addrs, a->family, a->addr)
						       : ADDRMAP_NONE;

	if (s->catch_all < best)
		best = s->catch_all;
	if (r < best)
		best = r;
	if (a->host && s->nhosts) {
		/* host_matches(): a pattern that starts with '*' is "*.x" and
		 * matches as one, the others only the same name */
		const char *dot = strchr(a->host, '.');
		char wild[256];          /* a->host has at most 253 */

		if (a->host[0] != '*')
			best = match_host(p, s, a->host, a, best);
		if (dot && dot != a->host && strlen(dot) + 2 <= sizeof wild) {
			wild[0] = '*';
			strcpy(wild + 1, dot);
			best = match_host(p, s, wild, a, best);
		}
	}
	return best;
}

/* The no-port set and the set of a's port (see "the index"). */
static const struct policy_rule *match_indexed(const struct policy *p,
					       const struct policy_port_index *ix,
					       const struct peer *a)
{
	size_t lo = 0, hi = ix->nports, best;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ix->ports[mid] < a->port)
			lo = mid + 1;
		else
			hi = mid;
	}
	best = match_set(p, &ix->any, a, ADDRMAP_NONE);
	if (lo < ix->nports && ix->ports[lo] == a->port)
		best = match_set(p, &ix->sets[lo], a, best);
	return best < p->nrules ? &p->rules[best] : NULL;
}

const struct policy_rule *policy_match(const struct policy *p, enum policy_dir dir,
				       const struct sockaddr *addr, socklen_t len, const char *host)
{
	struct peer a;
	char lower[254];
	size_t i;

	if (!p || !addr || (dir != POLICY_ACCEPT && dir != POLICY_CONNECT) || !p->has[dir])
		return NULL;
	if (!peer_from(addr, len, &a))
		return NULL;
	a.host = NULL;
	if (host && *host && dir == POLICY_CONNECT && p->has_host) {
		size_t n = strlen(host);

		if (host[n - 1] == '.')
			n--;
		if (n > 0 && n < sizeof lower) {
			for (i = 0; i < n; i++)
				lower[i] = (char)(host[i] >= 'A' && host[i] <= 'Z' ? host[i] - 'A' + 'a' : host[i]);
			lower[n] = '\0';
			a.host = lower;
		}
	}
	if (p->index[dir])
		return match_indexed(p, p->index[dir], &a);
	for (i = 0; i < p->nrules; i++)
		if (p->rules[i].direction == dir && rule_matches(&p->rules[i], &a))
			return &p->rules[i];
	return NULL;
}
