/* tests/unit/test_policy.c — policy parsing, validation, matching, and the
 * SSL_CTX each rule gets (core/ctx.c).
 *
 * Table-driven: good policies with assertions on what was parsed, bad
 * policies each with the exact line and a piece of the message.  All
 * files live in a fresh temporary directory; the certificates are made
 * here with the OpenSSL API (an expired one and an encrypted key too, which
 * the openssl command line of this distribution cannot make directly), so
 * the test depends on nothing but the library under test.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "policy/ctx.h"
#include "policy/file.h"
#include "policy/hashdir.h"
#include "policy/identity.h"
#include "policy/ocsp.h"
#include "policy/keyholder.h"
#include "policy/policy.h"
#include "policy/reload.h"
#include "tests/unit/unit.h"

static char dir[256];        /* the temporary directory */
static char policy_path[320];

/* ---- files -------------------------------------------------------------- */

static void path_in(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static int write_file(const char *name, const char *text)
{
	char p[512];
	FILE *f;

	path_in(p, sizeof(p), name);
	if (!(f = fopen(p, "w")))
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* "@D@" in a policy text stands for the temporary directory. */
static char *expand(const char *text)
{
	size_t dl = strlen(dir), n = strlen(text) + 1;
	const char *s;
	char *out, *o;

	for (s = text; (s = strstr(s, "@D@")); s += 3)
		n += dl;
	if (!(o = out = malloc(n)))
		abort();
	while (*text) {
		if (strncmp(text, "@D@", 3) == 0) {
			memcpy(o, dir, dl);
			o += dl;
			text += 3;
		} else {
			*o++ = *text++;
		}
	}
	*o = '\0';
	return out;
}

static struct policy *load_text(const char *text, struct policy_error *err)
{
	char *t = expand(text);
	FILE *f = fopen(policy_path, "w");

	if (!f)
		abort();
	fputs(t, f);
	fclose(f);
	free(t);
	return policy_load(policy_path, err);
}

/* load_text with SSL_CERT_FILE set to store_file for the load only (the
 * policy keeps the path it had then; the environment is put back). */
static struct policy *load_text_store(const char *store_file, const char *text,
				      struct policy_error *err)
{
	/* (the library takes SSL_CERT_FILE once, at start: hashdir.h) */
	char *file = strdup(hashdir_system_file()), *sysdir = strdup(hashdir_system_dir());
	struct policy *p;

	if (!file || !sysdir)
		abort();
	hashdir_system_set(store_file, sysdir);
	p = load_text(text, err);
	hashdir_system_set(file, sysdir);
	free(file);
	free(sysdir);
	return p;
}

/* ---- certificates -------------------------------------------------------- */

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	if (!(e = X509V3_EXT_conf_nid(NULL, &v3, nid, value)) || !X509_add_ext(x, e, -1))
		abort();
	X509_EXTENSION_free(e);
}

/* A certificate for key, signed by issuer (self-signed when NULL), valid
 * from now+from to now+to seconds. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey,
		       bool ca, long from, long to)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_NAME *n;

	if (!x)
		abort();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), from);
	X509_gmtime_adj(X509_getm_notAfter(x), to);
	X509_set_pubkey(x, key);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	add_ext(x, issuer ? issuer : x, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
	add_ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash");
	if (ca)
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	else
		add_ext(x, issuer ? issuer : x, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
	if (!X509_sign(x, ikey ? ikey : key, EVP_sha256()))
		abort();
	return x;
}

static void write_cert(const char *name, X509 *x, X509 *extra)
{
	char p[512];
	FILE *f;

	path_in(p, sizeof(p), name);
	if (!(f = fopen(p, "w")) || !PEM_write_X509(f, x) || (extra && !PEM_write_X509(f, extra)))
		abort();
	fclose(f);
}

static void write_key(const char *name, EVP_PKEY *k, const char *pass)
{
	char p[512];
	FILE *f;

	path_in(p, sizeof(p), name);
	if (!(f = fopen(p, "w")) ||
	    !PEM_write_PrivateKey(f, k, pass ? EVP_aes_256_cbc() : NULL, NULL, 0, NULL, (void *)pass))
		abort();
	fclose(f);
}

/* A DER OCSP response: status good for x, signed by its issuer. */
static void write_ocsp(const char *name, X509 *x, X509 *issuer, EVP_PKEY *ikey)
{
	OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
	OCSP_CERTID *id = OCSP_cert_to_id(NULL, x, issuer);
	ASN1_TIME *tu = X509_gmtime_adj(NULL, -60), *nu = X509_gmtime_adj(NULL, 86400);
	OCSP_RESPONSE *r;
	unsigned char *der = NULL;
	int len;
	char p[512];
	FILE *f;

	if (!bs || !id || !tu || !nu || !OCSP_basic_add1_status(bs, id, V_OCSP_CERTSTATUS_GOOD, 0, NULL, tu, nu) ||
	    !OCSP_basic_sign(bs, issuer, ikey, EVP_sha256(), NULL, 0) ||
	    !(r = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs)) || (len = i2d_OCSP_RESPONSE(r, &der)) <= 0)
		abort();
	path_in(p, sizeof(p), name);
	if (!(f = fopen(p, "w")) || fwrite(der, 1, (size_t)len, f) != (size_t)len)
		abort();
	fclose(f);
	OPENSSL_free(der);
	OCSP_RESPONSE_free(r);
	OCSP_BASICRESP_free(bs);
	OCSP_CERTID_free(id);
	ASN1_TIME_free(tu);
	ASN1_TIME_free(nu);
}

/* An empty CRL of issuer, current for a day (PEM). */
static void write_crl(const char *name, X509 *issuer, EVP_PKEY *ikey)
{
	X509_CRL *c = X509_CRL_new();
	ASN1_TIME *lu = X509_gmtime_adj(NULL, -60), *nu = X509_gmtime_adj(NULL, 86400);
	char p[512];
	FILE *f;

	if (!c || !lu || !nu || !X509_CRL_set_version(c, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(c, X509_get_subject_name(issuer)) || !X509_CRL_set1_lastUpdate(c, lu) ||
	    !X509_CRL_set1_nextUpdate(c, nu) || !X509_CRL_sign(c, ikey, EVP_sha256()))
		abort();
	path_in(p, sizeof(p), name);
	if (!(f = fopen(p, "w")) || !PEM_write_X509_CRL(f, c))
		abort();
	fclose(f);
	X509_CRL_free(c);
	ASN1_TIME_free(lu);
	ASN1_TIME_free(nu);
}

/* ca, server (+ chain file), client, another CA, an expired server
 * certificate, an encrypted key, garbage, and CA directories with and
 * without the hashed names OpenSSL looks certificates up by. */
static void make_certs(void)
{
	EVP_PKEY *ca_k = EVP_EC_gen("P-256"), *srv_k = EVP_EC_gen("P-256");
	EVP_PKEY *cli_k = EVP_EC_gen("P-256"), *oth_k = EVP_EC_gen("P-256");
	X509 *ca, *srv, *cli, *oth, *exp;
	char hashname[64];

	if (!ca_k || !srv_k || !cli_k || !oth_k)
		abort();
	ca = make_cert(ca_k, "test CA", NULL, NULL, true, -60, 86400);
	srv = make_cert(srv_k, "localhost", ca, ca_k, false, -60, 86400);
	cli = make_cert(cli_k, "client", ca, ca_k, false, -60, 86400);
	oth = make_cert(oth_k, "other CA", NULL, NULL, true, -60, 86400);
	exp = make_cert(srv_k, "localhost", ca, ca_k, false, -2 * 86400, -86400);
	write_cert("ca.crt", ca, NULL);
	write_key("ca.key", ca_k, NULL);
	write_cert("server.crt", srv, NULL);
	write_cert("chain.crt", srv, ca);
	write_key("server.key", srv_k, NULL);
	write_cert("client.crt", cli, NULL);
	write_key("client.key", cli_k, NULL);
	write_cert("other-ca.crt", oth, NULL);
	write_cert("expired.crt", exp, NULL);
	write_key("encrypted.key", srv_k, "secret");
	write_file("garbage.pem", "this is not PEM\n");
	write_file("empty.pem", "");
	mkdir(strcat(strcpy(hashname, dir), "/cadir"), 0700);
	snprintf(hashname, sizeof(hashname), "cadir/%08lx.0", X509_subject_name_hash(ca));
	write_cert(hashname, ca, NULL);
	mkdir(strcat(strcpy(hashname, dir), "/plaindir"), 0700);
	write_cert("plaindir/ca.pem", ca, NULL);
	mkdir(strcat(strcpy(hashname, dir), "/sub"), 0700);
	write_cert("sub/server.crt", srv, NULL);
	write_key("sub/server.key", srv_k, NULL);
	write_ocsp("ocsp-good.der", srv, ca, ca_k);
	write_ocsp("staple.der", srv, ca, ca_k);
	write_ocsp("ocsp-client.der", cli, ca, ca_k);
	write_crl("ca.crl", ca, ca_k);
	X509_free(ca); X509_free(srv); X509_free(cli); X509_free(oth); X509_free(exp);
	EVP_PKEY_free(ca_k); EVP_PKEY_free(srv_k); EVP_PKEY_free(cli_k); EVP_PKEY_free(oth_k);
}

/* ---- helpers for assertions ---------------------------------------------- */

static bool ends_with(const char *s, const char *tail)
{
	size_t a = s ? strlen(s) : 0, b = strlen(tail);

	return s && a >= b && strcmp(s + a - b, tail) == 0;
}

static bool cidr_is(const struct policy_cidr *c, int family, const char *addr, int prefix)
{
	uint8_t want[16] = { 0 };

	return c->family == family && c->prefix == prefix && inet_pton(family, addr, want) == 1 &&
	       memcmp(c->addr, want, family == AF_INET ? 4 : 16) == 0;
}

static const struct policy_rule *rule(const struct policy *p, size_t i)
{
	return p && i < p->nrules ? &p->rules[i] : NULL;
}

/* ---- good policies ------------------------------------------------------- */

/* The example from the contract (docs/spec), with our own files. */
static void check_contract_example(const struct policy *p)
{
	const struct policy_rule *a = rule(p, 0), *b = rule(p, 1);
	char want[512];

	EXPECT(p->nrules == 2);
	EXPECT(p->has[POLICY_ACCEPT] && p->has[POLICY_CONNECT]);
	EXPECT(p->libctx != NULL);
	if (!a || !b)
		return;
	EXPECT_STR(a->name, "redis-in");
	EXPECT(a->index == 0 && a->line == 6);
	EXPECT(a->direction == POLICY_ACCEPT && a->action == POLICY_TLS);
	EXPECT(a->nports == 1 && a->ports[0] == 6379);
	EXPECT(a->naddrs == 0);
	path_in(want, sizeof(want), "server.crt");
	EXPECT_STR(a->cert, want);
	path_in(want, sizeof(want), "server.key");
	EXPECT_STR(a->key, want);
	EXPECT(a->ca == NULL && a->server_name == NULL && !a->require_client_cert);
	EXPECT(a->min_version == TLS1_2_VERSION && a->handshake_timeout_ms == 10000);
	EXPECT(a->close_timeout_ms == 5000);
	EXPECT(a->alpn == NULL && a->alpn_len == 0 && !a->allow_truncation);
	EXPECT(a->ciphers == NULL && a->ciphersuites == NULL);
	EXPECT(a->ctx != NULL);
	EXPECT_STR(b->name, "api-out");
	EXPECT(b->index == 1 && b->line == 12);
	EXPECT(b->direction == POLICY_CONNECT && b->verify == POLICY_VERIFY_FULL);
	EXPECT(b->nports == 1 && b->ports[0] == 443);
	EXPECT(b->naddrs == 1 && cidr_is(&b->addrs[0], AF_INET, "10.0.0.0", 8));
	EXPECT_STR(b->server_name, "api.internal");
	path_in(want, sizeof(want), "ca.crt");
	EXPECT_STR(b->ca, want);
	EXPECT(b->cert == NULL && b->key == NULL);
	EXPECT(b->ctx != NULL);
}

static void check_lists(const struct policy *p)
{
	const struct policy_rule *a = rule(p, 0), *b = rule(p, 1);

	EXPECT(p->nrules == 2);
	if (!a || !b)
		return;
	EXPECT(a->nports == 3 && a->ports[0] == 80 && a->ports[1] == 443 && a->ports[2] == 65535);
	EXPECT(b->nports == 2 && b->ports[0] == 1 && b->ports[1] == 8081);
	EXPECT(a->naddrs == 1 && cidr_is(&a->addrs[0], AF_INET, "127.0.0.1", 32));
	EXPECT(b->naddrs == 6);
	if (b->naddrs != 6)
		return;
	EXPECT(cidr_is(&b->addrs[0], AF_INET, "10.0.0.0", 8));      /* host bits dropped */
	EXPECT(cidr_is(&b->addrs[1], AF_INET6, "::1", 128));
	EXPECT(cidr_is(&b->addrs[2], AF_INET6, "2001:db8::", 32));
	EXPECT(cidr_is(&b->addrs[3], AF_INET, "192.168.0.0", 16));  /* v4-mapped folded */
	EXPECT(cidr_is(&b->addrs[4], AF_INET, "0.0.0.0", 0));
	EXPECT(cidr_is(&b->addrs[5], AF_INET6, "fe80::", 9));
}

static void check_defaults(const struct policy *p)
{
	const struct policy_rule *a = rule(p, 0), *b = rule(p, 1), *c = rule(p, 2);
	static const unsigned char wire[] = "\x02h2\x08http/1.1";

	EXPECT(p->nrules == 3);
	if (!a || !b || !c)
		return;
	/* inherits everything */
	EXPECT(a->nports == 1 && a->ports[0] == 443);
	EXPECT(a->alpn_len == sizeof(wire) - 1 && a->alpn && memcmp(a->alpn, wire, a->alpn_len) == 0);
	EXPECT(a->handshake_timeout_ms == 5000 && a->allow_truncation);
	EXPECT(a->close_timeout_ms == 0);
	EXPECT(a->min_version == TLS1_3_VERSION && a->verify == POLICY_VERIFY_NONE);
	EXPECT_STR(a->ciphersuites, "TLS_AES_256_GCM_SHA384");
	EXPECT_STR(a->server_name, "backend");
	/* overrides */
	EXPECT(b->nports == 2 && b->ports[0] == 8443 && b->ports[1] == 9443);
	EXPECT(b->alpn == NULL && b->alpn_len == 0);
	EXPECT(b->handshake_timeout_ms == 100 && !b->allow_truncation);
	EXPECT(b->close_timeout_ms == 3600000);
	EXPECT(b->min_version == TLS1_2_VERSION && b->verify == POLICY_VERIFY_FULL);
	EXPECT_STR(b->server_name, "other");
	/* an accept rule does not take the connect-only keys of defaults */
	EXPECT(c->direction == POLICY_ACCEPT);
	EXPECT(c->verify == POLICY_VERIFY_FULL && c->server_name == NULL);
	EXPECT(c->nports == 1 && c->ports[0] == 443 && c->min_version == TLS1_3_VERSION);
	EXPECT(c->ctx != NULL);
	if (c->ctx)
		EXPECT(SSL_CTX_get_min_proto_version(c->ctx) == TLS1_3_VERSION);
}

/* raw_sockets (shim/sock.c): "refuse" unless the policy says "allow". */
static void check_raw_allow(const struct policy *p)
{
	EXPECT(p->raw_sockets_allowed);
}

static void check_raw_refuse(const struct policy *p)
{
	EXPECT(!p->raw_sockets_allowed);
	EXPECT(p->nrules == 1);
}

static void check_empty(const struct policy *p)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(443) };

	EXPECT(p->nrules == 0 && p->rules == NULL);
	EXPECT(!p->has[POLICY_ACCEPT] && !p->has[POLICY_CONNECT]);
	EXPECT(policy_match(p, POLICY_CONNECT, (struct sockaddr *)&sin, sizeof(sin), NULL) == NULL);
	EXPECT(ends_with(p->path, "/policy.conf"));
}

static void check_names_actions(const struct policy *p)
{
	const struct policy_rule *a = rule(p, 0), *b = rule(p, 1), *c = rule(p, 2);

	EXPECT(p->nrules == 3);
	if (!a || !b || !c)
		return;
	EXPECT_STR(a->name, "rule 1");
	EXPECT(a->action == POLICY_PLAIN && a->ctx == NULL && a->direction == POLICY_ACCEPT);
	EXPECT_STR(b->name, "blocked");
	EXPECT(b->action == POLICY_DENY && b->ctx == NULL);
	EXPECT_STR(c->name, "rule 3");
	EXPECT(c->action == POLICY_TLS && c->ctx != NULL);
	EXPECT(c->handshake_timeout_ms == 3600000);
}

static void check_files(const struct policy *p)
{
	const struct policy_rule *a = rule(p, 0), *b = rule(p, 1), *c = rule(p, 2), *d = rule(p, 3);
	char want[512];

	EXPECT(p->nrules == 4);
	if (!a || !b || !c || !d)
		return;
	path_in(want, sizeof(want), "chain.crt");            /* absolute, as written */
	EXPECT_STR(a->cert, want);
	EXPECT(a->ctx != NULL);
	if (a->ctx) {
		STACK_OF(X509) *chain = NULL;

		EXPECT(SSL_CTX_get0_chain_certs(a->ctx, &chain) == 1 && sk_X509_num(chain) == 1);
	}
	path_in(want, sizeof(want), "sub/../cadir");        /* relative, kept as is */
	EXPECT_STR(b->ca, want);
	EXPECT(b->ctx != NULL);
	path_in(want, sizeof(want), "expired.crt");
	EXPECT_STR(c->cert, want);
	EXPECT(c->ctx != NULL);                               /* expired: the shim warns */
	path_in(want, sizeof(want), "sub/server.key");
	EXPECT_STR(d->key, want);
}

/* The secure defaults of core/ctx.c, as seen on the SSL_CTX. */
static void check_ctx_settings(const struct policy *p)
{
	const uint64_t must = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
			      SSL_OP_CIPHER_SERVER_PREFERENCE;
	size_t i;

	EXPECT(p->nrules == 5);
	for (i = 0; i < p->nrules; i++) {
		SSL_CTX *x = p->rules[i].ctx;

		EXPECT(x != NULL);
		if (!x)
			return;
		EXPECT(SSL_CTX_get_min_proto_version(x) == TLS1_2_VERSION);
		EXPECT(SSL_CTX_get_max_proto_version(x) == TLS1_3_VERSION);
		EXPECT((SSL_CTX_get_options(x) & must) == must);
	}
	/* accept without require_client_cert: no client certificate asked */
	EXPECT(SSL_CTX_get_verify_mode(p->rules[0].ctx) == SSL_VERIFY_NONE);
	EXPECT(SSL_CTX_get0_certificate(p->rules[0].ctx) != NULL);
	/* mutual TLS */
	EXPECT(SSL_CTX_get_verify_mode(p->rules[1].ctx) ==
	       (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT));
	EXPECT(sk_X509_NAME_num(SSL_CTX_get_client_CA_list(p->rules[1].ctx)) == 1);
	/* connect, verify full, own CA / system store; verify none */
	EXPECT(SSL_CTX_get_verify_mode(p->rules[2].ctx) == SSL_VERIFY_PEER);
	EXPECT(SSL_CTX_get_verify_mode(p->rules[3].ctx) == SSL_VERIFY_PEER);
	EXPECT(SSL_CTX_get_verify_mode(p->rules[4].ctx) == SSL_VERIFY_NONE);
	EXPECT(SSL_CTX_get0_certificate(p->rules[4].ctx) != NULL);   /* client certificate */
}

struct good {
	const char *name;
	const char *text;
	void (*check)(const struct policy *);
};

static const struct good goods[] = {
	{ "contract example",
	  "# tlsshim.conf\n"
	  "defaults = {                       # inherited by every rule\n"
	  "  min_version = \"TLSv1.2\";\n"
	  "};\n"
	  "rules = (\n"
	  "  { name = \"redis-in\";\n"
	  "    direction = \"accept\";\n"
	  "    port = 6379;\n"
	  "    cert = \"server.crt\";\n"
	  "    key  = \"server.key\";\n"
	  "  },\n"
	  "  { name = \"api-out\";\n"
	  "    direction = \"connect\";\n"
	  "    port = 443;\n"
	  "    address = \"10.0.0.0/8\";\n"
	  "    ca = \"ca.crt\";\n"
	  "    server_name = \"api.internal\";\n"
	  "  }\n"
	  ");\n", check_contract_example },
	{ "port and address lists",
	  "rules = (\n"
	  "  { direction = \"connect\"; port = [80, 443, 65535]; address = \"127.0.0.1\"; },\n"
	  "  { direction = \"connect\"; port = (1, 8081L);\n"
	  "    address = [\"10.1.2.3/8\", \"::1\", \"2001:db8::/32\", \"::ffff:192.168.7.7/112\",\n"
	  "               \"0.0.0.0/0\", \"fe80::1/9\"]; }\n"
	  ");\n", check_lists },
	{ "defaults inherited and overridden",
	  "defaults = { port = 443; alpn = [\"h2\", \"http/1.1\"]; handshake_timeout_ms = 5000;\n"
	  "  close_timeout_ms = 0;\n"
	  "  allow_truncation = true; min_version = \"TLSv1.3\"; verify = \"none\";\n"
	  "  server_name = \"backend\"; ciphersuites = \"TLS_AES_256_GCM_SHA384\"; };\n"
	  "rules = (\n"
	  "  { direction = \"connect\"; },\n"
	  "  { direction = \"connect\"; port = [8443, 9443]; alpn = []; handshake_timeout_ms = 100;\n"
	  "    close_timeout_ms = 3600000;\n"
	  "    allow_truncation = false; min_version = \"TLSv1.2\"; verify = \"full\";\n"
	  "    server_name = \"other\"; },\n"
	  "  { direction = \"accept\"; cert = \"server.crt\"; key = \"server.key\"; }\n"
	  ");\n", check_defaults },
	{ "empty rules list", "rules = ();\n", check_empty },
	{ "raw_sockets allow", "raw_sockets = \"allow\";\nrules = ();\n", check_raw_allow },
	{ "raw_sockets refuse", "rules = ({ direction = \"connect\"; });\nraw_sockets = \"refuse\";\n",
	  check_raw_refuse },
	{ "raw_sockets unset", "rules = ({ direction = \"connect\"; });\n", check_raw_refuse },
	{ "empty rules array", "defaults = { port = 1; };\nrules = [];\n", check_empty },
	{ "names and actions",
	  "rules = (\n"
	  "  { direction = \"accept\"; action = \"plain\"; },\n"
	  "  { name = \"blocked\"; direction = \"connect\"; action = \"deny\"; },\n"
	  "  { direction = \"connect\"; action = \"tls\"; handshake_timeout_ms = 3600000; }\n"
	  ");\n", check_names_actions },
	{ "absolute, relative and directory paths",
	  "rules = (\n"
	  "  { direction = \"accept\"; cert = \"@D@/chain.crt\"; key = \"@D@/server.key\"; },\n"
	  "  { direction = \"connect\"; ca = \"sub/../cadir\"; },\n"
	  "  { direction = \"accept\"; port = 2; cert = \"expired.crt\"; key = \"server.key\"; },\n"
	  "  { direction = \"accept\"; port = 3; cert = \"sub/server.crt\"; key = \"sub/server.key\"; }\n"
	  ");\n", check_files },
	{ "SSL_CTX settings",
	  "rules = (\n"
	  "  { direction = \"accept\"; port = 1; cert = \"server.crt\"; key = \"server.key\"; ca = \"ca.crt\"; },\n"
	  "  { direction = \"accept\"; port = 2; cert = \"server.crt\"; key = \"server.key\"; ca = \"ca.crt\";\n"
	  "    require_client_cert = true; },\n"
	  "  { direction = \"connect\"; ca = \"ca.crt\"; ciphers = \"ECDHE+AESGCM\"; },\n"
	  "  { direction = \"connect\"; },\n"
	  "  { direction = \"connect\"; verify = \"none\"; cert = \"client.crt\"; key = \"client.key\"; }\n"
	  ");\n", check_ctx_settings },
};

static void run_goods(void)
{
	size_t i;

	for (i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		char name[128];

		snprintf(name, sizeof(name), "good: %s", goods[i].name);
		UNIT_CASE(name) {
			struct policy_error err;
			struct policy *p = load_text(goods[i].text, &err);

			if (!p) {
				char buf[1200];

				policy_error_format(&err, buf, sizeof(buf));
				EXPECT_STR(buf, "(policy loads)");
			} else {
				goods[i].check(p);
			}
			policy_free(p);
		}
	}
}

/* ---- bad policies --------------------------------------------------------- */

struct bad {
	const char *name;
	const char *text;
	int line;
	const char *msg;
};

#define ACC "direction = \"accept\"; "
#define CRT "cert = \"server.crt\"; key = \"server.key\"; "

static const struct bad bads[] = {
	{ "unknown rule key",
	  "rules = (\n  { name = \"redis-in\";\n    direction = \"accept\";\n" "    " CRT "\n"
	  "    prot = 6379; }\n);\n", 5, "rule \"redis-in\": unknown key \"prot\"" },
	{ "unknown top-level key", "rules = ();\nrule = ();\n", 2, "unknown top-level key \"rule\"" },
	{ "raw_sockets word", "rules = ();\nraw_sockets = \"yes\";\n", 2,
	  "\"raw_sockets\" must be \"refuse\" or \"allow\"" },
	{ "raw_sockets bool", "raw_sockets = true;\nrules = ();\n", 1, "\"raw_sockets\" must be" },
	{ "port is a string", "rules = (\n { direction = \"connect\";\n   port = \"80\"; }\n);\n", 3,
	  "rule \"rule 1\": \"port\" must be an integer" },
	{ "port 0", "rules = ({ direction = \"connect\";\n port = 0; });\n", 2, "\"port\" 0 is out of range" },
	{ "port 70000", "rules = ({ direction = \"connect\";\n port = 70000; });\n", 2, "70000 is out of range" },
	{ "bad port in a list", "rules = ({ direction = \"connect\"; port = [80,\n 443,\n 99999]; });\n", 3,
	  "99999 is out of range" },
	{ "string in a port list", "rules = ({ direction = \"connect\"; port = (80,\n \"443\"); });\n", 2,
	  "\"port\" must be an integer" },
	{ "empty port list", "rules = ({ direction = \"connect\";\n port = []; });\n", 2, "empty list" },
	{ "float port", "rules = ({ direction = \"connect\";\n port = 80.0; });\n", 2, "must be an integer" },
	{ "verify is an int", "rules = ({ direction = \"connect\";\n verify = 1; });\n", 2,
	  "\"verify\" must be a string" },
	{ "verify word", "rules = ({ direction = \"connect\";\n verify = \"partial\"; });\n", 2,
	  "\"verify\" must be \"full\" or \"none\"" },
	{ "direction sideways", "rules = (\n{ name = \"x\";\n direction = \"sideways\"; });\n", 3,
	  "rule \"x\": \"direction\" must be \"accept\" or \"connect\", not \"sideways\"" },
	{ "missing direction", "rules = (\n  { port = 1; },\n  { name = \"nodir\";\n port = 1; }\n);\n", 2,
	  "rule \"rule 1\": missing \"direction\"" },
	{ "address /33", "rules = ({ direction = \"connect\";\n address = \"10.0.0.0/33\"; });\n", 2,
	  "\"address\" \"10.0.0.0/33\" is not an IP address or CIDR" },
	{ "address v6 /129", "rules = ({ direction = \"connect\";\n address = \"::1/129\"; });\n", 2,
	  "\"::1/129\" is not" },
	{ "address host name", "rules = ({ direction = \"connect\";\n address = \"example.com\"; });\n", 2,
	  "\"example.com\" is not" },
	{ "address junk prefix", "rules = ({ direction = \"connect\";\n address = \"10.0.0.0/8x\"; });\n", 2,
	  "is not an IP address" },
	{ "bad address in a list",
	  "rules = ({ direction = \"connect\"; address = [\"10.0.0.0/8\",\n \"10.0.0.0/\"]; });\n", 2,
	  "\"10.0.0.0/\" is not" },
	{ "address is an int", "rules = ({ direction = \"connect\";\n address = 10; });\n", 2,
	  "\"address\" must be a CIDR string" },
	{ "action word", "rules = ({ direction = \"connect\";\n action = \"encrypt\"; });\n", 2,
	  "\"action\" must be \"tls\", \"plain\" or \"deny\"" },
	{ "tls accept without cert", "rules = (\n { direction = \"accept\";\n port = 1; }\n);\n", 2,
	  "accept rule with action \"tls\" needs \"cert\" and \"key\"" },
	{ "key without cert", "rules = ({ direction = \"connect\";\n key = \"client.key\"; });\n", 2,
	  "\"key\" given without \"cert\"" },
	{ "cert without key", "rules = ({ direction = \"connect\";\n cert = \"client.crt\"; });\n", 2,
	  "\"cert\" given without \"key\"" },
	{ "require_client_cert without ca",
	  "rules = ({ " ACC CRT "\n require_client_cert = true; });\n", 2,
	  "\"require_client_cert\" needs \"ca\"" },
	{ "require_client_cert not a bool",
	  "rules = ({ " ACC CRT "ca = \"ca.crt\";\n require_client_cert = \"yes\"; });\n", 2,
	  "\"require_client_cert\" must be true or false" },
	{ "require_client_cert on connect",
	  "rules = ({ name = \"c\"; direction = \"connect\"; ca = \"ca.crt\";\n require_client_cert = true; });\n",
	  2, "rule \"c\": \"require_client_cert\" applies only to accept rules" },
	{ "verify on accept", "rules = ({ " ACC CRT "\n verify = \"none\"; });\n", 2,
	  "\"verify\" applies only to connect rules" },
	{ "server_name on accept", "rules = ({ " ACC CRT "\n server_name = \"x\"; });\n", 2,
	  "\"server_name\" applies only to connect rules" },
	{ "server_name with a space", "rules = ({ direction = \"connect\";\n server_name = \"a b\"; });\n", 2,
	  "must not contain spaces" },
	{ "empty server_name", "rules = ({ direction = \"connect\";\n server_name = \"\"; });\n", 2,
	  "\"server_name\" must be 1 to 255 printable characters" },
	{ "name is an int", "rules = ({\n name = 5; direction = \"connect\"; });\n", 2,
	  "rule 1: \"name\" must be a string" },
	{ "name with a newline", "rules = ({\n name = \"a\\nb\"; direction = \"connect\"; });\n", 2,
	  "\"name\" must be 1 to 255 printable characters" },
	{ "min_version TLSv1.1", "rules = ({ direction = \"connect\";\n min_version = \"TLSv1.1\"; });\n", 2,
	  "\"min_version\" must be \"TLSv1.2\" or \"TLSv1.3\"" },
	{ "alpn not a list", "rules = ({ direction = \"connect\";\n alpn = \"h2\"; });\n", 2,
	  "\"alpn\" must be a list of strings" },
	{ "alpn empty name", "rules = ({ direction = \"connect\"; alpn = [\"h2\",\n \"\"]; });\n", 2,
	  "1 to 255 bytes" },
	{ "alpn int element", "rules = ({ direction = \"connect\"; alpn = (\"h2\",\n 2); });\n", 2,
	  "\"alpn\" must be a list of strings" },
	{ "allow_truncation not a bool", "rules = ({ direction = \"connect\";\n allow_truncation = 1; });\n", 2,
	  "\"allow_truncation\" must be true or false" },
	{ "timeout 0", "rules = ({ direction = \"connect\";\n handshake_timeout_ms = 0; });\n", 2,
	  "\"handshake_timeout_ms\" 0 is out of range (1..3600000)" },
	{ "timeout too long", "rules = ({ direction = \"connect\";\n handshake_timeout_ms = 3600001; });\n", 2,
	  "out of range" },
	{ "timeout a string", "rules = ({ direction = \"connect\";\n handshake_timeout_ms = \"10\"; });\n", 2,
	  "\"handshake_timeout_ms\" must be an integer" },
	{ "close timeout negative", "rules = ({ direction = \"connect\";\n close_timeout_ms = -1; });\n", 2,
	  "\"close_timeout_ms\" -1 is out of range (0..3600000)" },
	{ "close timeout too long", "rules = ({ direction = \"accept\";\n close_timeout_ms = 3600001; });\n", 2,
	  "\"close_timeout_ms\" 3600001 is out of range (0..3600000)" },
	{ "close timeout a float", "rules = ({ direction = \"connect\";\n close_timeout_ms = 1.5; });\n", 2,
	  "\"close_timeout_ms\" must be an integer" },
	{ "defaults with name", "defaults = {\n name = \"x\"; };\nrules = ();\n", 2,
	  "defaults: \"name\" is not allowed in defaults" },
	{ "defaults with direction", "defaults = {\n direction = \"accept\"; };\nrules = ();\n", 2,
	  "\"direction\" is not allowed in defaults" },
	{ "defaults unknown key", "defaults = { port = 1;\n prot = 2; };\nrules = ();\n", 2,
	  "defaults: unknown key \"prot\"" },
	{ "defaults bad value", "defaults = {\n verify = \"maybe\"; };\nrules = ({ direction = \"connect\"; });\n", 2,
	  "defaults: \"verify\" must be" },
	{ "defaults not a group", "defaults = 5;\nrules = ();\n", 1, "\"defaults\" must be a group" },
	{ "defaults file missing, reported at its line",
	  "defaults = {\n ca = \"nope.crt\"; };\nrules = (\n{ name = \"r\"; direction = \"connect\"; });\n", 2,
	  "rule \"r\": cannot read CA file" },
	{ "rules not a list", "\nrules = 5;\n", 2, "\"rules\" must be a list of groups" },
	{ "rule not a group", "rules = (\n { direction = \"connect\"; },\n 5\n);\n", 3, "rule 2 must be a group" },
	{ "syntax error", "rules = (\n { direction = ; }\n);\n", 2, "syntax error" },
	{ "duplicate key", "rules = ({ direction = \"connect\";\n direction = \"accept\"; });\n", 2,
	  "duplicate setting name" },
	{ "missing cert file", "rules = ({ " ACC "\n cert = \"nope.crt\"; key = \"server.key\"; });\n", 2,
	  "cannot read certificate file \"@D@/nope.crt\": No such file or directory" },
	{ "cert is a directory", "rules = ({ " ACC "\n cert = \"cadir\"; key = \"server.key\"; });\n", 2,
	  "cannot read certificate file \"@D@/cadir\": Is a directory" },
	{ "garbage cert", "rules = ({ " ACC "\n cert = \"garbage.pem\"; key = \"server.key\"; });\n", 2,
	  "cannot load certificate file \"@D@/garbage.pem\": no PEM data found" },
	{ "empty cert", "rules = ({ " ACC "\n cert = \"empty.pem\"; key = \"server.key\"; });\n", 2,
	  "cannot load certificate file" },
	{ "key file is a certificate",
	  "rules = ({ " ACC "cert = \"server.crt\";\n key = \"server.crt\"; });\n", 2,
	  "cannot load key file \"@D@/server.crt\": no PEM private key found" },
	{ "missing key file", "rules = ({ name = \"api-out\"; direction = \"connect\"; cert = \"client.crt\";\n"
	  " key = \"/x/y.key\"; });\n", 2,
	  "rule \"api-out\": cannot read key file \"/x/y.key\": No such file or directory" },
	{ "key does not match certificate",
	  "rules = (\n{ name = \"web\"; " ACC "\n cert = \"server.crt\";\n key = \"client.key\"; });\n", 4,
	  "rule \"web\": key does not match certificate" },
	{ "encrypted key", "rules = ({ " ACC "cert = \"server.crt\";\n key = \"encrypted.key\"; });\n", 2,
	  "encrypted keys are not supported" },
	{ "garbage CA file", "rules = ({ direction = \"connect\";\n ca = \"garbage.pem\"; });\n", 2,
	  "cannot load CA file \"@D@/garbage.pem\"" },
	{ "missing CA file", "rules = ({ direction = \"connect\";\n ca = \"nope\"; });\n", 2,
	  "cannot read CA file \"@D@/nope\": No such file or directory" },
	{ "CA directory without hashed names", "rules = ({ direction = \"connect\";\n ca = \"plaindir\"; });\n", 2,
	  "has no hashed certificate names" },
	{ "garbage mTLS CA",
	  "rules = ({ " ACC CRT "require_client_cert = true;\n ca = \"garbage.pem\"; });\n", 2,
	  "cannot load CA file" },
	{ "empty cert path", "rules = ({ direction = \"connect\";\n cert = \"\"; key = \"client.key\"; });\n", 2,
	  "\"cert\" must not be empty" },
	{ "invalid cipher string", "rules = ({ direction = \"connect\";\n ciphers = \"NOPE-NOPE\"; });\n", 2,
	  "invalid cipher string \"NOPE-NOPE\"" },
	{ "unknown ciphersuite",
	  "rules = ({ direction = \"connect\";\n ciphersuites = \"TLS_AES_128_GCM_SHA256:TLS_NOPE\"; });\n", 2,
	  "unknown ciphersuite \"TLS_NOPE\"" },
	{ "no TLS 1.3 suite with TLS 1.3 only",
	  "rules = ({ direction = \"connect\"; min_version = \"TLSv1.3\";\n ciphersuites = \"\"; });\n", 2,
	  "empty ciphersuites" },
	{ "ciphers not a string", "rules = ({ direction = \"connect\";\n ciphers = [\"A\"]; });\n", 2,
	  "\"ciphers\" must be a string" },
	{ "missing rules", "defaults = {};\n", 0, "no \"rules\" list" },
	{ "allow_cn on accept without require_client_cert",
	  "rules = ({ " ACC CRT "\n allow_cn = \"alice\"; });\n", 2,
	  "\"allow_cn\" needs require_client_cert = true on an accept rule" },
	{ "allow_uri from defaults on accept without require_client_cert",
	  "defaults = {\n allow_uri = \"spiffe://td/x\"; };\nrules = ({ " ACC CRT "});\n", 2,
	  "(it comes from defaults)" },
	{ "pin_spki with verify none",
	  "rules = ({ direction = \"connect\"; verify = \"none\";\n pin_spki = \"" 
	  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"; });\n", 2,
	  "\"pin_spki\" needs verify = \"full\"" },
	{ "allow_dns on a plain rule",
	  "rules = ({ direction = \"connect\"; action = \"plain\";\n allow_dns = \"a.example\"; });\n", 2,
	  "\"allow_dns\" applies only to rules with action \"tls\"" },
	{ "allow_cn not a string",
	  "rules = ({ direction = \"connect\";\n allow_cn = 3; });\n", 2,
	  "\"allow_cn\" must be a string or a list of strings" },
	{ "allow_ou empty list",
	  "rules = ({ direction = \"connect\";\n allow_ou = []; });\n", 2,
	  "\"allow_ou\" must not be an empty list" },
	{ "allow_ou int in a list",
	  "rules = ({ direction = \"connect\"; allow_ou = (\"a\",\n 2); });\n", 2,
	  "\"allow_ou\" must be a string or a list of strings" },
	{ "allow_dns inner wildcard",
	  "rules = ({ direction = \"connect\"; allow_dns = [\"a.example\",\n \"a.*.example\"]; });\n", 2,
	  "\"allow_dns\" entry \"a.*.example\" is not a DNS name" },
	{ "allow_dns bare star",
	  "rules = ({ direction = \"connect\";\n allow_dns = \"*\"; });\n", 2, "is not a DNS name" },
	{ "allow_uri star not after a slash",
	  "rules = ({ direction = \"connect\";\n allow_uri = \"spiffe://td/ns/prod*\"; });\n", 2,
	  "is not a URI, or a URI prefix ending in" },
	{ "allow_uri without a scheme",
	  "rules = ({ direction = \"connect\";\n allow_uri = \"example.org/x\"; });\n", 2, "is not a URI" },
	{ "allow_ip not an address",
	  "rules = ({ direction = \"connect\";\n allow_ip = \"10.0.0.0/8\"; });\n", 2,
	  "\"allow_ip\" entry \"10.0.0.0/8\" is not an IPv4 or IPv6 address" },
	{ "pin_spki too short",
	  "rules = ({ direction = \"connect\";\n pin_spki = \"AAAA\"; });\n", 2,
	  "\"pin_spki\" entry \"AAAA\" is not a base64 SHA-256 digest" },
	{ "pin_spki not base64",
	  "rules = ({ direction = \"connect\";\n pin_spki = \"!AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"; });\n", 2,
	  "is not a base64 SHA-256 digest" },
	{ "key_holder on a rule without a key",
	  "rules = ({ direction = \"connect\";\n key_holder = true; });\n", 2,
	  "\"key_holder\" needs a rule with action \"tls\" and a key" },
	{ "key_holder not a boolean",
	  "rules = ({ " ACC CRT "\n key_holder = 1; });\n", 2, "key_holder" },
	{ "pin_spki 33 bytes",
	  "rules = ({ direction = \"connect\";\n pin_spki = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"; });\n", 2,
	  "is not a base64 SHA-256 digest" },
};

/* key_holder (policy/keyholder.h): parsed, inherited only where there is
 * a key, RSA key exchange left out; in the library, the key is made from
 * the certificate without reading the key file, and without a holder the
 * policy does not load. */
static void run_key_holder(void)
{
	static const char *const text =
		"defaults = { key_holder = true; };\n"
		"rules = (\n"
		"  { direction = \"accept\"; port = 1; cert = \"server.crt\"; key = \"server.key\"; },\n"
		"  { direction = \"connect\"; port = 2; },\n"
		"  { direction = \"accept\"; port = 3; cert = \"server.crt\"; key = \"server.key\";\n"
		"    key_holder = false; }\n"
		");\n";
	struct policy_error err;
	struct policy *p;
	char buf[1200];

	UNIT_CASE("key_holder: inherited where there is a key, no RSA key exchange") {
		keyholder_local_keys = true;
		p = load_text(text, &err);
		keyholder_local_keys = false;
		if (!p) {
			policy_error_format(&err, buf, sizeof buf);
			EXPECT_STR(buf, "(policy loads)");
		} else {
			STACK_OF(SSL_CIPHER) *c = SSL_CTX_get_ciphers(rule(p, 0)->ctx);
			bool krsa = false;

			EXPECT(rule(p, 0)->key_holder);
			EXPECT(!rule(p, 1)->key_holder);
			EXPECT(!rule(p, 2)->key_holder);
			for (int i = 0; i < sk_SSL_CIPHER_num(c); i++)
				if (SSL_CIPHER_get_kx_nid(sk_SSL_CIPHER_value(c, i)) == NID_kx_rsa)
					krsa = true;
			EXPECT(!krsa);
			EXPECT(SSL_CTX_get0_privatekey(rule(p, 0)->ctx) != NULL);
		}
		policy_free(p);
	}
	UNIT_CASE("key_holder: without a holder the policy does not load") {
		unsetenv(KH_ENV);
		p = load_text(text, &err);
		EXPECT(p == NULL);
		policy_free(p);
		EXPECT(err.line == 3);
		EXPECT_CONTAINS(err.msg, "key_holder: no key holder (TLSSHIM_KEY_HOLDER is not set)");
	}
	UNIT_CASE("key_holder: the key comes from the certificate, the key file is not read") {
		/* A key file that is no key: only a holder-held key can load. */
		static const char *const t2 =
			"rules = ({ direction = \"accept\"; cert = \"server.crt\"; key = \"garbage.pem\";\n"
			"  key_holder = true; });\n";

		setenv(KH_ENV, "tlsshim-test-nobody:00000000000000000000000000000000"
		       "00000000000000000000000000000000", 1);
		p = load_text(t2, &err);
		unsetenv(KH_ENV);
		if (!p) {
			policy_error_format(&err, buf, sizeof buf);
			EXPECT_STR(buf, "(policy loads)");
		} else {
			EXPECT(SSL_CTX_get0_privatekey(rule(p, 0)->ctx) != NULL);
			EXPECT(SSL_CTX_check_private_key(rule(p, 0)->ctx) == 1);
		}
		policy_free(p);
	}
}

static void run_bads(void)
{
	size_t i;

	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		char name[128];

		snprintf(name, sizeof(name), "bad: %s", bads[i].name);
		UNIT_CASE(name) {
			struct policy_error err;
			struct policy *p = load_text(bads[i].text, &err);
			char *want = expand(bads[i].msg), buf[1200], prefix[400];

			EXPECT(p == NULL);
			policy_free(p);
			EXPECT_STR(err.file, policy_path);
			EXPECT(err.line == bads[i].line);
			if (err.line != bads[i].line)
				printf("  line %d, want %d: %s\n", err.line, bads[i].line, err.msg);
			EXPECT_CONTAINS(err.msg, want);
			EXPECT(strchr(err.msg, '\n') == NULL);
			policy_error_format(&err, buf, sizeof(buf));
			if (bads[i].line)
				snprintf(prefix, sizeof(prefix), "%s:%d: ", policy_path, bads[i].line);
			else
				snprintf(prefix, sizeof(prefix), "%s: ", policy_path);
			EXPECT(strncmp(buf, prefix, strlen(prefix)) == 0);
			free(want);
		}
	}
}

static void run_special_bads(void)
{
	struct policy_error err;
	struct policy *p;
	char buf[1200];

	UNIT_CASE("bad: missing policy file") {
		char missing[400];

		snprintf(missing, sizeof(missing), "%s/does-not-exist.conf", dir);
		EXPECT(policy_load(missing, &err) == NULL);
		EXPECT_STR(err.file, missing);
		EXPECT(err.line == 0);
		EXPECT_CONTAINS(err.msg, "No such file or directory");
		policy_error_format(&err, buf, sizeof(buf));
		EXPECT(strncmp(buf, missing, strlen(missing)) == 0 && strncmp(buf + strlen(missing), ": ", 2) == 0);
	}
	UNIT_CASE("bad: policy file is a directory") {
		EXPECT(policy_load(dir, &err) == NULL);
		EXPECT(err.line == 0);
		EXPECT_CONTAINS(err.msg, "Is a directory");
	}
	UNIT_CASE("bad: no path") {
		EXPECT(policy_load(NULL, &err) == NULL);
		EXPECT(policy_load("", &err) == NULL);
		EXPECT_CONTAINS(err.msg, "no policy file");
		EXPECT(policy_load("", NULL) == NULL);
	}
	UNIT_CASE("bad: alpn name of 256 bytes") {
		char text[600], longname[257];

		memset(longname, 'a', 256);
		longname[256] = '\0';
		snprintf(text, sizeof(text), "rules = ({ direction = \"connect\";\n alpn = [\"%s\"]; });\n", longname);
		longname[255] = '\0';
		p = load_text(text, &err);
		EXPECT(p == NULL && err.line == 2);
		EXPECT_CONTAINS(err.msg, "1 to 255 bytes");
		policy_free(p);
		/* 255 is the most a name may have */
		snprintf(text, sizeof(text), "rules = ({ direction = \"connect\";\n alpn = [\"%s\"]; });\n", longname);
		p = load_text(text, &err);
		EXPECT(p != NULL && p->rules[0].alpn_len == 256 && p->rules[0].alpn[0] == 255);
		policy_free(p);
	}
	UNIT_CASE("bad: a ca or crl file larger than 64 MiB (sparse) is refused, not read") {
		/* The test CA's certificate (or CRL), then zeros to one byte
		 * past the bound (file.h: POLICY_FILE_MAX).  Before, it was
		 * read to its end (and the rule loaded: zeros are no PEM
		 * block), at every reload too. */
		static const struct { const char *from, *name, *key; } big[] = {
			{ "ca.crt", "huge-ca.crt", "ca" }, { "ca.crl", "huge.crl", "crl" },
		};

		for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
			char from[512], to[512], text[300], cmd[1200];

			path_in(from, sizeof from, big[i].from);
			path_in(to, sizeof to, big[i].name);
			snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
			EXPECT(system(cmd) == 0 && truncate(to, POLICY_FILE_MAX + 1) == 0);
			snprintf(text, sizeof text, "rules = ({ direction = \"connect\"; port = 1;\n"
				 " %s = \"%s\"; });\n", big[i].key, big[i].name);
			p = load_text(text, &err);
			EXPECT(p == NULL);
			EXPECT_CONTAINS(err.msg, big[i].name);
			EXPECT_CONTAINS(err.msg, POLICY_WHY_TOO_LARGE);
			policy_free(p);
			/* At the bound exactly: read (and loaded). */
			EXPECT(truncate(to, POLICY_FILE_MAX) == 0);
			p = load_text(text, &err);
			EXPECT(p != NULL);
			if (!p)
				printf("  (%s)\n", err.msg);
			policy_free(p);
			unlink(to);
		}
	}
	UNIT_CASE("policy_error_format") {
		struct policy_error e = { .file = "a.conf", .line = 7, .msg = "rule \"x\": bad" };

		policy_error_format(&e, buf, sizeof(buf));
		EXPECT_STR(buf, "a.conf:7: rule \"x\": bad");
		e.line = 0;
		policy_error_format(&e, buf, sizeof(buf));
		EXPECT_STR(buf, "a.conf: rule \"x\": bad");
		policy_error_format(&e, buf, 4);
		EXPECT_STR(buf, "a.c");
	}
}

/* ---- matching --------------------------------------------------------------- */

static socklen_t sa_of(struct sockaddr_storage *ss, const char *addr, int port)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
			abort();
		return sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
			abort();
		return sizeof(*s4);
	}
}

static const char *match_name(const struct policy *p, enum policy_dir d, const char *addr, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = sa_of(&ss, addr, port);
	const struct policy_rule *r = policy_match(p, d, (struct sockaddr *)&ss, len, NULL);

	return r ? r->name : "(none)";
}

static const char *const match_policy =
	"rules = (\n"
	"  { name = \"a\"; direction = \"accept\"; action = \"plain\"; port = 443; address = \"127.0.0.0/8\"; },\n"
	"  { name = \"b\"; direction = \"accept\"; action = \"plain\"; port = [443, 8443]; },\n"
	"  { name = \"c\"; direction = \"connect\"; action = \"plain\"; port = 443;\n"
	"    address = [\"10.0.0.0/8\", \"2001:db8::/32\"]; },\n"
	"  { name = \"d\"; direction = \"connect\"; action = \"plain\"; address = \"10.1.0.0/16\"; },\n"
	"  { name = \"e\"; direction = \"connect\"; action = \"plain\"; address = \"::/0\"; },\n"
	"  { name = \"f\"; direction = \"connect\"; action = \"plain\"; address = \"10.255.255.254/31\"; },\n"
	"  { name = \"g\"; direction = \"connect\"; action = \"plain\"; port = 9; address = \"::ffff:172.16.0.0/108\"; }\n"
	");\n";

struct match_case {
	const char *name;
	enum policy_dir dir;
	const char *addr;
	int port;
	const char *want;
};

static const struct match_case matches[] = {
	{ "first match wins", POLICY_ACCEPT, "127.0.0.1", 443, "a" },
	{ "port list, second element", POLICY_ACCEPT, "127.0.0.1", 8443, "b" },
	{ "address outside the first rule's CIDR", POLICY_ACCEPT, "192.168.1.1", 443, "b" },
	{ "v4-mapped v6 matches a v4 CIDR", POLICY_ACCEPT, "::ffff:127.0.0.1", 443, "a" },
	{ "v6 does not match a v4 CIDR", POLICY_ACCEPT, "::1", 443, "b" },
	{ "no port matches", POLICY_ACCEPT, "127.0.0.1", 80, "(none)" },
	{ "connect, v4 CIDR and port", POLICY_CONNECT, "10.1.2.3", 443, "c" },
	{ "connect, other port falls through", POLICY_CONNECT, "10.1.2.3", 80, "d" },
	{ "connect, v6 CIDR", POLICY_CONNECT, "2001:db8:1::1", 443, "c" },
	{ "connect, v6 outside the CIDR", POLICY_CONNECT, "2001:db9::1", 443, "e" },
	{ "connect, CIDR edge excluded", POLICY_CONNECT, "10.2.0.0", 80, "(none)" },
	{ "connect, /31 first address", POLICY_CONNECT, "10.255.255.254", 1, "f" },
	{ "connect, /31 second address", POLICY_CONNECT, "10.255.255.255", 1, "f" },
	{ "connect, /31 neighbour", POLICY_CONNECT, "10.255.255.253", 1, "(none)" },
	{ "v4-mapped CIDR matches plain v4", POLICY_CONNECT, "172.16.5.5", 9, "g" },
	{ "v4-mapped CIDR matches v4-mapped", POLICY_CONNECT, "::ffff:172.16.5.5", 9, "g" },
	{ "v4-mapped CIDR boundary", POLICY_CONNECT, "172.32.0.1", 9, "(none)" },
	{ "connect rules do not match accepted sockets", POLICY_ACCEPT, "10.1.2.3", 80, "(none)" },
};

static void run_matches(void)
{
	struct policy_error err;
	struct policy *p = load_text(match_policy, &err);
	size_t i;

	UNIT_CASE("match: policy loads") {
		EXPECT(p != NULL);
		if (!p)
			printf("  %s:%d: %s\n", err.file, err.line, err.msg);
	}
	if (!p)
		return;
	for (i = 0; i < sizeof(matches) / sizeof(matches[0]); i++) {
		char name[128];

		snprintf(name, sizeof(name), "match: %s", matches[i].name);
		UNIT_CASE(name)
			EXPECT_STR(match_name(p, matches[i].dir, matches[i].addr, matches[i].port), matches[i].want);
	}
	UNIT_CASE("match: not an IP socket, short length, NULLs") {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		struct sockaddr_storage ss;
		socklen_t len = sa_of(&ss, "127.0.0.1", 443);

		EXPECT(policy_match(p, POLICY_ACCEPT, (struct sockaddr *)&sun, sizeof(sun), NULL) == NULL);
		EXPECT(policy_match(p, POLICY_ACCEPT, (struct sockaddr *)&ss, len - 1, NULL) == NULL);
		EXPECT(policy_match(p, POLICY_ACCEPT, (struct sockaddr *)&ss, len, NULL) == &p->rules[0]);
		EXPECT(policy_match(NULL, POLICY_ACCEPT, (struct sockaddr *)&ss, len, NULL) == NULL);
		EXPECT(policy_match(p, POLICY_ACCEPT, NULL, len, NULL) == NULL);
		EXPECT(policy_match(p, (enum policy_dir)7, (struct sockaddr *)&ss, len, NULL) == NULL);
	}
	policy_free(p);
	p = load_text("rules = ({ direction = \"accept\"; action = \"deny\"; });\n", &err);
	UNIT_CASE("match: no rule for the direction") {
		EXPECT(p && p->has[POLICY_ACCEPT] && !p->has[POLICY_CONNECT]);
		if (p) {
			EXPECT_STR(match_name(p, POLICY_CONNECT, "10.0.0.1", 443), "(none)");
			EXPECT_STR(match_name(p, POLICY_ACCEPT, "10.0.0.1", 443), "rule 1");
			EXPECT_STR(match_name(p, POLICY_ACCEPT, "::1", 1), "rule 1");
		}
	}
	policy_free(p);
}

/* host: by the resolved name, through the port index and by a full scan
 * (the index removed), with the same answers. */
static const char *host_name(const struct policy *p, const char *addr, int port, const char *host)
{
	struct sockaddr_storage ss;
	socklen_t len = sa_of(&ss, addr, port);
	const struct policy_rule *r = policy_match(p, POLICY_CONNECT, (struct sockaddr *)&ss, len, host);

	return r ? r->name : "(none)";
}

static void run_hosts(void)
{
	static const struct { const char *addr; int port; const char *host, *want; } cases[] = {
		{ "10.0.0.1", 5432, "db.internal", "db" },
		{ "10.0.0.1", 5432, "DB.Internal.", "db" },
		{ "10.0.0.1", 5432, "x.internal", "wild" },
		{ "10.0.0.1", 5432, "a.b.internal", "rest" },
		{ "10.0.0.1", 5432, "internal", "rest" },
		{ "10.0.0.1", 5432, NULL, "rest" },
		{ "10.0.0.1", 5432, "", "rest" },
		{ "10.0.0.1", 6379, "db.internal", "anyport" },
		{ "192.168.0.1", 6379, "db.internal", "(none)" },
		{ "10.0.0.1", 6379, "x.internal", "(none)" },
		{ "10.0.0.1", 5432, "api.example", "rest" },
	};
	struct policy_error err;
	struct policy *p = load_text(
		"rules = (\n"
		"  { name = \"db\"; direction = \"connect\"; action = \"plain\"; port = 5432; host = \"db.internal\"; },\n"
		"  { name = \"wild\"; direction = \"connect\"; action = \"plain\"; port = [5432, 1]; host = \"*.internal\"; },\n"
		"  { name = \"anyport\"; direction = \"connect\"; action = \"plain\"; host = [\"db.internal\"];\n"
		"    address = \"10.0.0.0/8\"; },\n"
		"  { name = \"rest\"; direction = \"connect\"; action = \"deny\"; port = 5432; }\n"
		");\n", &err);

	UNIT_CASE("host: policy loads") {
		EXPECT(p && p->has_host);
		if (!p)
			printf("  %s:%d: %s\n", err.file, err.line, err.msg);
	}
	if (!p)
		return;
	for (int pass = 0; pass < 2; pass++) {
		struct policy_port_index *saved = p->index[POLICY_CONNECT];

		if (pass == 1)
			p->index[POLICY_CONNECT] = NULL;   /* the full scan */
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			char name[160];

			snprintf(name, sizeof(name), "host (%s): %s:%d as \"%s\"", pass ? "scan" : "index",
				 cases[i].addr, cases[i].port, cases[i].host ? cases[i].host : "(null)");
			UNIT_CASE(name)
				EXPECT_STR(host_name(p, cases[i].addr, cases[i].port, cases[i].host), cases[i].want);
		}
		p->index[POLICY_CONNECT] = saved;
	}
	policy_free(p);
}

/* ---- handshakes with the built SSL_CTXs ----------------------------------------- */

/* Run a handshake in memory; true when both sides completed it. */
static bool handshake(SSL_CTX *cctx, SSL_CTX *sctx, char *alpn, size_t alpnlen, long *verify)
{
	SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
	BIO *bc, *bs;
	int i, rc = 0, rs = 0;
	bool ok;

	if (!c || !s || !BIO_new_bio_pair(&bc, 0, &bs, 0))
		abort();
	SSL_set_bio(c, bc, bc);
	SSL_set_bio(s, bs, bs);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	for (i = 0; i < 50 && (rc != 1 || rs != 1); i++) {
		if (rc != 1) {
			rc = SSL_do_handshake(c);
			if (rc <= 0 && SSL_get_error(c, rc) != SSL_ERROR_WANT_READ)
				break;
		}
		if (rs != 1) {
			rs = SSL_do_handshake(s);
			if (rs <= 0 && SSL_get_error(s, rs) != SSL_ERROR_WANT_READ)
				break;
		}
	}
	/* TLS 1.3: the server judges the client certificate after the
	 * client is done; one read on the client shows the verdict. */
	if (rc == 1 && rs == 1) {
		char b;

		SSL_write(s, "x", 1);
		ok = SSL_read(c, &b, 1) == 1;
	} else {
		ok = false;
	}
	if (alpn) {
		const unsigned char *a = NULL;
		unsigned int alen = 0;

		SSL_get0_alpn_selected(c, &a, &alen);
		snprintf(alpn, alpnlen, "%.*s", (int)alen, a ? (const char *)a : "");
	}
	if (verify)
		*verify = SSL_get_verify_result(c);
	SSL_free(c);
	SSL_free(s);
	ERR_clear_error();
	return ok;
}

static const char *const hs_policy =
	"rules = (\n"
	"  { name = \"s-alpn\"; direction = \"accept\"; port = 1; cert = \"chain.crt\"; key = \"server.key\";\n"
	"    alpn = [\"h2\", \"http/1.1\"]; },\n"
	"  { name = \"s-mtls\"; direction = \"accept\"; port = 2; cert = \"server.crt\"; key = \"server.key\";\n"
	"    ca = \"ca.crt\"; require_client_cert = true; },\n"
	"  { name = \"s-mtls-dir\"; direction = \"accept\"; port = 3; cert = \"server.crt\"; key = \"server.key\";\n"
	"    ca = \"cadir\"; require_client_cert = true; },\n"
	"  { name = \"c-alpn\"; direction = \"connect\"; ca = \"ca.crt\"; alpn = [\"http/1.1\", \"h2\"]; },\n"
	"  { name = \"c-spdy\"; direction = \"connect\"; ca = \"ca.crt\"; alpn = [\"spdy/1\"]; },\n"
	"  { name = \"c-plain\"; direction = \"connect\"; ca = \"cadir\"; },\n"
	"  { name = \"c-cert\"; direction = \"connect\"; ca = \"ca.crt\"; cert = \"client.crt\"; key = \"client.key\"; },\n"
	"  { name = \"c-other\"; direction = \"connect\"; ca = \"other-ca.crt\"; },\n"
	"  { name = \"c-none\"; direction = \"connect\"; verify = \"none\"; },\n"
	"  { name = \"c-tls12\"; direction = \"connect\"; ca = \"ca.crt\"; min_version = \"TLSv1.2\";\n"
	"    ciphersuites = \"\"; ciphers = \"ECDHE-ECDSA-AES128-GCM-SHA256\"; },\n"
	"  { name = \"s-tls13\"; direction = \"accept\"; port = 4; cert = \"server.crt\"; key = \"server.key\";\n"
	"    min_version = \"TLSv1.3\"; }\n"
	");\n";

static void run_handshakes(void)
{
	struct policy_error err;
	struct policy *p = load_text(hs_policy, &err);
	SSL_CTX *s_alpn, *s_mtls, *s_mtls_dir, *c_alpn, *c_spdy, *c_plain, *c_cert, *c_other, *c_none;
	SSL_CTX *c_tls12, *s_tls13;
	char alpn[64];
	long v;

	UNIT_CASE("handshake: policy loads") {
		EXPECT(p != NULL && p->nrules == 11);
		if (!p)
			printf("  %s:%d: %s\n", err.file, err.line, err.msg);
	}
	if (!p || p->nrules != 11)
		return;
	s_alpn = p->rules[0].ctx; s_mtls = p->rules[1].ctx; s_mtls_dir = p->rules[2].ctx;
	c_alpn = p->rules[3].ctx; c_spdy = p->rules[4].ctx; c_plain = p->rules[5].ctx;
	c_cert = p->rules[6].ctx; c_other = p->rules[7].ctx; c_none = p->rules[8].ctx;
	c_tls12 = p->rules[9].ctx; s_tls13 = p->rules[10].ctx;
	UNIT_CASE("handshake: verified server, CA directory") {
		EXPECT(handshake(c_plain, s_alpn, alpn, sizeof(alpn), &v));
		EXPECT(v == X509_V_OK);
		EXPECT_STR(alpn, "");   /* the client offered no ALPN */
	}
	UNIT_CASE("handshake: ALPN picks the client's first protocol the rule lists") {
		EXPECT(handshake(c_alpn, s_alpn, alpn, sizeof(alpn), NULL));
		EXPECT_STR(alpn, "http/1.1");
	}
	UNIT_CASE("handshake: ALPN without overlap is refused") {
		EXPECT(!handshake(c_spdy, s_alpn, NULL, 0, NULL));
	}
	UNIT_CASE("handshake: ALPN offered to a rule without alpn is ignored") {
		EXPECT(handshake(c_alpn, s_tls13, alpn, sizeof(alpn), NULL));
		EXPECT_STR(alpn, "");
	}
	UNIT_CASE("handshake: untrusted server is refused") {
		EXPECT(!handshake(c_other, s_alpn, NULL, 0, &v));
		EXPECT(v != X509_V_OK);
	}
	UNIT_CASE("handshake: verify none accepts any server") {
		EXPECT(handshake(c_none, s_alpn, NULL, 0, NULL));
	}
	UNIT_CASE("handshake: mutual TLS with a client certificate") {
		EXPECT(handshake(c_cert, s_mtls, NULL, 0, NULL));
		EXPECT(handshake(c_cert, s_mtls_dir, NULL, 0, NULL));
	}
	UNIT_CASE("handshake: mutual TLS without a client certificate is refused") {
		EXPECT(!handshake(c_plain, s_mtls, NULL, 0, NULL));
		EXPECT(!handshake(c_plain, s_mtls_dir, NULL, 0, NULL));
	}
	UNIT_CASE("handshake: min_version TLSv1.3 refuses a TLS 1.2 client") {
		EXPECT(handshake(c_tls12, s_alpn, NULL, 0, NULL));
		EXPECT(!handshake(c_tls12, s_tls13, NULL, 0, NULL));
	}
	policy_free(p);
}

/* ---- OpenSSL state ------------------------------------------------------------- */

static void run_error_queue(void)
{
	UNIT_CASE("the thread's OpenSSL error queue is left as found") {
		struct policy_error err;
		struct policy *p;
		unsigned long mine;

		ERR_clear_error();
		ERR_raise(ERR_LIB_USER, 42);
		mine = ERR_peek_last_error();
		p = load_text(hs_policy, &err);   /* every loader: chains, CA files and dirs, keys */
		EXPECT(p != NULL);
		policy_free(p);
		p = load_text("rules = ({ direction = \"connect\"; });\n", &err);   /* system store */
		EXPECT(p != NULL);
		policy_free(p);
		EXPECT(load_text("rules = ({ " ACC "cert = \"garbage.pem\"; key = \"server.key\"; });\n", &err) == NULL);
		EXPECT(load_text("rules = ({ " ACC "cert = \"server.crt\"; key = \"client.key\"; });\n", &err) == NULL);
		EXPECT(load_text("rules = ({ direction = \"connect\"; ciphers = \"NOPE\"; });\n", &err) == NULL);
		EXPECT(ERR_peek_error() == mine);
		EXPECT(ERR_get_error() == mine);
		EXPECT(ERR_get_error() == 0);
	}
	UNIT_CASE("ctx_build reports which key failed") {
		struct policy_rule r;
		enum ctx_err_key which;
		char why[256], path[512];
		OSSL_LIB_CTX *lc = OSSL_LIB_CTX_new();
		SSL_CTX *x;

		memset(&r, 0, sizeof(r));
		r.name = "t";
		r.direction = POLICY_CONNECT;
		r.min_version = TLS1_2_VERSION;
		r.ciphers = "NOPE";
		EXPECT(ctx_build(lc, &r, &which, why, sizeof(why)) == NULL && which == CTX_ERR_CIPHERS);
		r.ciphers = NULL;
		r.ciphersuites = "TLS_BOGUS";
		EXPECT(ctx_build(lc, &r, &which, why, sizeof(why)) == NULL && which == CTX_ERR_CIPHERSUITES);
		r.ciphersuites = NULL;
		path_in(path, sizeof(path), "garbage.pem");
		r.ca = path;
		EXPECT(ctx_build(lc, &r, &which, why, sizeof(why)) == NULL && which == CTX_ERR_CA);
		r.ca = NULL;
		r.direction = POLICY_ACCEPT;
		EXPECT(ctx_build(lc, &r, &which, why, sizeof(why)) == NULL && which == CTX_ERR_CERT);
		r.min_version = 0x0301;
		EXPECT(ctx_build(lc, &r, &which, why, sizeof(why)) == NULL && which == CTX_ERR_MIN_VERSION);
		r.direction = POLICY_CONNECT;
		r.min_version = TLS1_3_VERSION;
		x = ctx_build(lc, &r, &which, why, sizeof(why));
		EXPECT(x != NULL && which == CTX_ERR_NONE && why[0] == '\0');
		SSL_CTX_free(x);
		OSSL_LIB_CTX_free(lc);
	}
}

/* ---- OCSP ------------------------------------------------------------------------ */

static const char *const ocsp_policy =
	"rules = (\n"
	"  { name = \"s-staple\"; direction = \"accept\"; port = 1; cert = \"chain.crt\"; key = \"server.key\";\n"
	"    ocsp_staple_file = \"staple.der\"; },\n"
	"  { name = \"s-none\"; direction = \"accept\"; port = 2; cert = \"chain.crt\"; key = \"server.key\"; },\n"
	"  { name = \"c-require\"; direction = \"connect\"; port = 3; ca = \"ca.crt\"; ocsp = \"require\"; },\n"
	"  { name = \"c-if\"; direction = \"connect\"; port = 4; ca = \"ca.crt\"; ocsp = \"if_stapled\"; }\n"
	");\n";

static void run_ocsp(void)
{
	struct policy_error err;
	struct policy *p;
	unsigned long mine;
	char path[512];
	FILE *f;

	UNIT_CASE("ocsp: keys parsed, staples loaded") {
		p = load_text(ocsp_policy, &err);
		EXPECT(p != NULL && p->nrules == 4);
		if (p && p->nrules == 4) {
			EXPECT(p->rules[0].staples != NULL && p->rules[1].staples == NULL);
			EXPECT(p->rules[2].ocsp == POLICY_OCSP_REQUIRE && p->rules[3].ocsp == POLICY_OCSP_IF_STAPLED);
			EXPECT(handshake(p->rules[2].ctx, p->rules[0].ctx, NULL, 0, NULL));
			EXPECT(!handshake(p->rules[2].ctx, p->rules[1].ctx, NULL, 0, NULL));
			EXPECT(handshake(p->rules[3].ctx, p->rules[1].ctx, NULL, 0, NULL));
		}
		policy_free(p);
	}
	UNIT_CASE("ocsp: the error queue is left as found (load, refresh, handshake)") {
		ERR_clear_error();
		ERR_raise(ERR_LIB_USER, 43);
		mine = ERR_peek_last_error();
		EXPECT(load_text("rules = ({ " ACC "cert = \"chain.crt\"; key = \"server.key\";"
				 " ocsp_staple_file = \"ocsp-client.der\"; });\n", &err) == NULL);
		EXPECT(strstr(err.msg, "has no status for the certificate") != NULL);
		EXPECT(load_text("rules = ({ " ACC "cert = \"chain.crt\"; key = \"server.key\";"
				 " ocsp_staple_file = \"garbage.pem\"; });\n", &err) == NULL);
		EXPECT(strstr(err.msg, "is not a DER OCSP response") != NULL);
		p = load_text(ocsp_policy, &err);
		EXPECT(p != NULL);
		if (p) {
			/* A broken replacement: parsed (and refused) by the refresh. */
			path_in(path, sizeof(path), "staple.der");
			if (!(f = fopen(path, "w")))
				abort();
			fputs("not an OCSP response, and longer than the old one to change the size\n", f);
			fclose(f);
			ocsp_staples_refresh(p->rules[0].staples);
		}
		EXPECT(ERR_peek_error() == mine);
		EXPECT(ERR_get_error() == mine);
		EXPECT(ERR_get_error() == 0);
		/* The old response is still stapled. */
		EXPECT(p && handshake(p->rules[2].ctx, p->rules[0].ctx, NULL, 0, NULL));
		policy_free(p);
	}
}

static void cleanup(void)
{
	char cmd[400];

	if (dir[0] && !getenv("TLSSHIM_KEEP_TEST_DIR")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", dir);
	}
}

/* ---- identity lists (policy/identity.c) ------------------------------------ */

/* A leaf for the identity checks: subject "O=t, OU=ou, CN=cn", SAN san. */
static X509 *id_cert(EVP_PKEY *k, const char *cn, const char *ou, const char *san)
{
	X509 *x = X509_new();
	X509_NAME *n;

	if (!x)
		abort();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 77);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"t", -1, -1, 0);
	if (ou)
		X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_ASC, (const unsigned char *)ou, -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, n);
	if (san)
		add_ext(x, x, NID_subject_alt_name, san);
	if (!X509_sign(x, k, EVP_sha256()))
		abort();
	return x;
}

static void spki_b64(X509 *x, char out[48])
{
	unsigned char *der = NULL, md[32];
	int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);

	if (len <= 0 || !EVP_Digest(der, (size_t)len, md, NULL, EVP_sha256(), NULL))
		abort();
	OPENSSL_free(der);
	EVP_EncodeBlock((unsigned char *)out, md, 32);
}

struct id_case {
	const char *keys;      /* the rule's identity keys */
	const char *cn, *ou, *san;
	bool allowed;
};

static const struct id_case id_cases[] = {
	{ "allow_cn = \"alice\";", "alice", NULL, NULL, true },
	{ "allow_cn = \"alice\";", "Alice", NULL, NULL, false },        /* CN: exact */
	{ "allow_cn = \"alice\";", "alice2", NULL, NULL, false },
	{ "allow_ou = [\"ops\", \"dev\"];", "x", "dev", NULL, true },
	{ "allow_ou = \"ops\";", "x", "ops2", NULL, false },
	{ "allow_dns = \"*.example.com\";", "x", NULL, "DNS:a.example.com", true },
	{ "allow_dns = \"*.example.com\";", "x", NULL, "DNS:A.EXAMPLE.COM", true },
	{ "allow_dns = \"*.example.com\";", "x", NULL, "DNS:a.b.example.com", false },
	{ "allow_dns = \"*.example.com\";", "x", NULL, "DNS:example.com", false },
	{ "allow_dns = \"*.example.com\";", "x", NULL, "DNS:aexample.com", false },
	{ "allow_dns = \"*.example.com\";", "a.example.com", NULL, NULL, false }, /* CN is not a SAN */
	{ "allow_dns = \"db.example.com\";", "x", NULL, "DNS:other.example, DNS:DB.example.com", true },
	{ "allow_dns = \"db.example.com\";", "x", NULL, "DNS:x.db.example.com", false },
	{ "allow_uri = \"spiffe://example.org/ns/prod/*\";", "x", NULL, "URI:spiffe://example.org/ns/prod/sa/a", true },
	{ "allow_uri = \"spiffe://example.org/ns/prod/*\";", "x", NULL, "URI:spiffe://example.org/ns/prodX/a", false },
	{ "allow_uri = \"spiffe://example.org/ns/prod/*\";", "x", NULL, "URI:spiffe://example.org/ns/prod/", false },
	{ "allow_uri = \"spiffe://example.org/ns/prod/*\";", "x", NULL, "URI:spiffe://example.org/ns/prod", false },
	{ "allow_uri = \"spiffe://example.org/ns/prod/*\";", "x", NULL, "URI:SPIFFE://example.org/ns/prod/a", false },
	{ "allow_uri = \"spiffe://example.org/a\";", "x", NULL, "URI:spiffe://example.org/a", true },
	{ "allow_uri = \"spiffe://example.org/a\";", "x", NULL, "URI:spiffe://example.org/a/b", false },
	{ "allow_uri = \"spiffe://example.org/a\";", "x", NULL, "DNS:spiffe://example.org/a", false },
	{ "allow_ip = [\"10.0.0.1\", \"2001:db8::1\"];", "x", NULL, "IP:2001:db8:0::1", true },
	{ "allow_ip = [\"10.0.0.1\", \"2001:db8::1\"];", "x", NULL, "IP:10.0.0.1", true },
	{ "allow_ip = [\"10.0.0.1\", \"2001:db8::1\"];", "x", NULL, "IP:10.0.0.2, DNS:10.0.0.1", false },
	/* Any entry of any list. */
	{ "allow_cn = \"nobody\"; allow_dns = \"*.example.com\"; allow_uri = \"spiffe://td/x\";",
	  "alice", NULL, "URI:spiffe://td/x", true },
	{ "allow_cn = \"nobody\"; allow_dns = \"*.example.com\"; allow_uri = \"spiffe://td/x\";",
	  "nobody", NULL, NULL, true },
	{ "allow_cn = \"nobody\"; allow_dns = \"*.example.com\"; allow_uri = \"spiffe://td/x\";",
	  "alice", "ops", "URI:spiffe://td/y, DNS:example.com", false },
};

static void run_identity(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256"), *k2 = EVP_EC_gen("P-256");
	char text[1024], why[600];
	size_t i;

	if (!k || !k2)
		abort();
	for (i = 0; i < sizeof(id_cases) / sizeof(id_cases[0]); i++) {
		const struct id_case *t = &id_cases[i];
		char name[300];

		snprintf(name, sizeof(name), "identity: {%s} vs CN=%s OU=%s SAN %s: %s", t->keys, t->cn,
			 t->ou ? t->ou : "-", t->san ? t->san : "-", t->allowed ? "allowed" : "refused");
		UNIT_CASE(name) {
			struct policy_error err;
			struct policy *p;
			X509 *x = id_cert(k, t->cn, t->ou, t->san);

			snprintf(text, sizeof(text), "rules = ({ direction = \"connect\"; ca = \"ca.crt\"; %s });\n",
				 t->keys);
			p = load_text(text, &err);
			EXPECT(p != NULL && p->rules[0].identity != NULL);
			if (p && p->rules[0].identity) {
				bool ok = policy_identity_check(p->rules[0].identity, x, why, sizeof(why));

				EXPECT(ok == t->allowed);
				if (!ok) {
					char want[300];

					EXPECT_CONTAINS(why, "peer identity not in the rule's allow lists: subject \"");
					snprintf(want, sizeof(want), "CN=%s", t->cn);
					EXPECT_CONTAINS(why, want);
					EXPECT_CONTAINS(why, "SPKI sha256 \"");
				}
			}
			policy_free(p);
			X509_free(x);
		}
	}
	UNIT_CASE("identity: pin_spki match and mismatch; the pin in the refusal is the peer's") {
		X509 *x = id_cert(k, "a", NULL, NULL), *y = id_cert(k2, "b", NULL, NULL);
		char pin[48], pin2[48], want[80];
		struct policy_error err;
		struct policy *p;

		spki_b64(x, pin);
		spki_b64(y, pin2);
		snprintf(text, sizeof(text), "rules = ({ direction = \"connect\";\n pin_spki = [\"%s\"]; });\n", pin);
		p = load_text(text, &err);
		EXPECT(p != NULL);
		if (p) {
			EXPECT(policy_identity_check(p->rules[0].identity, x, why, sizeof(why)));
			EXPECT(!policy_identity_check(p->rules[0].identity, y, why, sizeof(why)));
			snprintf(want, sizeof(want), "SPKI sha256 \"%s\"", pin2);
			EXPECT_CONTAINS(why, want);
			/* Truncation never overruns. */
			EXPECT(!policy_identity_check(p->rules[0].identity, y, why, 20) && strlen(why) == 19);
		}
		policy_free(p);
		X509_free(x);
		X509_free(y);
	}
	UNIT_CASE("identity: peer-controlled names cannot forge a log line") {
		X509 *x = id_cert(k, "evil\"\nwarn: forged", NULL, "DNS:a\x01\"b.example");
		struct policy_error err;
		struct policy *p = load_text("rules = ({ direction = \"connect\"; allow_cn = \"x\"; });\n", &err);
		const char *c;

		EXPECT(p != NULL);
		if (p) {
			EXPECT(!policy_identity_check(p->rules[0].identity, x, why, sizeof(why)));
			for (c = why; *c; c++)
				EXPECT((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f);
			EXPECT(strstr(why, "\nwarn") == NULL);
		}
		policy_free(p);
		X509_free(x);
	}
	UNIT_CASE("identity: inherited from defaults; dropped on plain rules; a rule replaces a list") {
		struct policy_error err;
		struct policy *p = load_text(
			"defaults = { allow_cn = [\"a\", \"b\"]; };\n"
			"rules = (\n"
			"  { direction = \"connect\"; action = \"plain\"; },\n"
			"  { direction = \"connect\"; ca = \"ca.crt\"; },\n"
			"  { direction = \"connect\"; ca = \"ca.crt\"; allow_cn = \"c\"; allow_ip = \"::1\"; },\n"
			"  { direction = \"accept\"; " CRT "ca = \"ca.crt\"; require_client_cert = true; }\n"
			");\n", &err);

		EXPECT(p != NULL);
		if (p) {
			EXPECT(p->rules[0].identity == NULL);
			EXPECT(p->rules[1].identity && p->rules[1].identity->n[POLICY_ID_CN] == 2);
			EXPECT(p->rules[2].identity && p->rules[2].identity->n[POLICY_ID_CN] == 1 &&
			       p->rules[2].identity->n[POLICY_ID_IP] == 1 &&
			       strcmp(p->rules[2].identity->names[POLICY_ID_CN][0], "c") == 0);
			EXPECT(p->rules[3].identity && p->rules[3].identity->n[POLICY_ID_CN] == 2);
		}
		policy_free(p);
	}
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
}

/* ---- how a key file is decoded -------------------------------------------- */

/* policy/ctx.c is linked into this program, so its calls to
 * OSSL_DECODER_CTX_new_for_pkey come here (libcrypto's own calls, from
 * PEM_read_bio_PrivateKey_ex, may not): the key types it names are
 * recorded, then libcrypto's function does the work. */
static char decoder_types[256];

OSSL_DECODER_CTX *OSSL_DECODER_CTX_new_for_pkey(EVP_PKEY **pkey, const char *input_type,
						const char *input_struct, const char *keytype, int selection,
						OSSL_LIB_CTX *libctx, const char *propquery)
{
	static OSSL_DECODER_CTX *(*real)(EVP_PKEY **, const char *, const char *, const char *, int,
					 OSSL_LIB_CTX *, const char *);
	size_t n = strlen(decoder_types);

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "OSSL_DECODER_CTX_new_for_pkey");
	if (!real)
		abort();
	snprintf(decoder_types + n, sizeof decoder_types - n, "%s;", keytype ? keytype : "(any)");
	return real(pkey, input_type, input_struct, keytype, selection, libctx, propquery);
}

static void run_key_decoding(void)
{
	UNIT_CASE("key: a PKCS#8 key is decoded by its own type's decoders only, into the same key") {
		struct policy_error err;
		struct policy *p;
		char path[512];
		EVP_PKEY *k = NULL;
		FILE *f;

		decoder_types[0] = '\0';
		p = load_text("rules = ({ direction = \"accept\"; port = 1; " CRT "});\n", &err);
		EXPECT(p != NULL);
		/* id-ecPublicKey: the EC decoders, not every decoder there is. */
		EXPECT_CONTAINS(decoder_types, "1.2.840.10045.2.1;");
		path_in(path, sizeof path, "server.key");
		if ((f = fopen(path, "r"))) {
			k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
			fclose(f);
		}
		EXPECT(k != NULL);
		if (p && k)
			EXPECT(EVP_PKEY_eq(SSL_CTX_get0_privatekey(p->rules[0].ctx), k) == 1);
		EVP_PKEY_free(k);
		policy_free(p);
	}
	UNIT_CASE("key: an EC PRIVATE KEY (SEC1) and a key after a certificate still load") {
		struct policy_error err;
		struct policy *p;
		char path[512], buf[1200];
		EVP_PKEY *k = NULL;
		X509 *x = NULL;
		FILE *f;

		path_in(path, sizeof path, "server.key");
		if ((f = fopen(path, "r"))) {
			k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
			fclose(f);
		}
		path_in(path, sizeof path, "server.crt");
		if ((f = fopen(path, "r"))) {
			x = PEM_read_X509(f, NULL, NULL, NULL);
			fclose(f);
		}
		if (!k || !x)
			abort();
		path_in(path, sizeof path, "sec1.key");
		{
			BIO *o = BIO_new_file(path, "w");

			if (!o || !PEM_write_bio_PrivateKey_traditional(o, k, NULL, NULL, 0, NULL, NULL))
				abort();
			BIO_free(o);
		}
		path_in(path, sizeof path, "both.pem");
		if (!(f = fopen(path, "w")) || !PEM_write_X509(f, x) || !PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL))
			abort();
		fclose(f);
		p = load_text("rules = (\n"
			      "  { direction = \"accept\"; port = 1; cert = \"server.crt\"; key = \"sec1.key\"; },\n"
			      "  { direction = \"accept\"; port = 2; cert = \"both.pem\"; key = \"both.pem\"; }\n"
			      ");\n", &err);
		if (!p) {
			policy_error_format(&err, buf, sizeof(buf));
			EXPECT_STR(buf, "(policy loads)");
		} else {
			EXPECT(EVP_PKEY_eq(SSL_CTX_get0_privatekey(p->rules[0].ctx), k) == 1);
			EXPECT(EVP_PKEY_eq(SSL_CTX_get0_privatekey(p->rules[1].ctx), k) == 1);
		}
		policy_free(p);
		EVP_PKEY_free(k);
		X509_free(x);
	}
}

/* ---- files parsed once per load (policy/ctx.c, memo) ----------------------- */

/* The certificate object in ctx's verify store with this subject. */
static X509 *store_cert(SSL_CTX *ctx)
{
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));

	for (int i = 0; i < sk_X509_OBJECT_num(objs); i++)
		if (X509_OBJECT_get_type(sk_X509_OBJECT_value(objs, i)) == X509_LU_X509)
			return X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
	return NULL;
}

/* server.crt verified against ctx's verify store alone (no CRL checks):
 * what a connect rule's handshake asks of the store. */
static bool store_verifies(SSL_CTX *ctx)
{
	X509_STORE_CTX *sc = X509_STORE_CTX_new();
	char path[512];
	X509 *x = NULL;
	FILE *f;
	bool ok;

	path_in(path, sizeof path, "server.crt");
	if ((f = fopen(path, "r"))) {
		x = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	ok = sc && x && X509_STORE_CTX_init(sc, SSL_CTX_get_cert_store(ctx), x, NULL) == 1 &&
	     X509_verify_cert(sc) == 1;
	X509_STORE_CTX_free(sc);
	X509_free(x);
	ERR_clear_error();
	return ok;
}

/* What the system store's file logged (hashdir_set_logger), one line
 * after another. */
static char store_said[4096];

static void store_log(int level, const char *msg)
{
	size_t n = strlen(store_said);

	(void)level;
	snprintf(store_said + n, sizeof store_said - n, "%s\n", msg);
}

static void run_shared_files(void)
{
	UNIT_CASE("the system store's file larger than 64 MiB (sparse): refused and logged, not read") {
		/* The test CA's certificate then zeros past the bound: before,
		 * read to its end at the first verification, and trusted. */
		char cafile[512], huge[512], cmd[1200];
		struct policy_error err;
		struct policy *p;

		path_in(cafile, sizeof cafile, "ca.crt");
		path_in(huge, sizeof huge, "huge-store.crt");
		snprintf(cmd, sizeof cmd, "cp '%s' '%s'", cafile, huge);
		EXPECT(system(cmd) == 0 && truncate(huge, POLICY_FILE_MAX + 1) == 0);
		store_said[0] = '\0';
		hashdir_set_logger(store_log);
		p = load_text_store(huge, "rules = ({ direction = \"connect\"; port = 1; });\n", &err);
		EXPECT(p != NULL);
		if (p) {
			SSL_CTX *a = policy_reload_ctx(p, &p->rules[0]);

			EXPECT(a && !store_verifies(a));
			EXPECT_CONTAINS(store_said, POLICY_WHY_TOO_LARGE);
			SSL_CTX_free(a);
		}
		policy_free(p);
		hashdir_set_logger(NULL);
		unlink(huge);
	}

	UNIT_CASE("shared: rules naming the same cert, key and ca share what it parsed, each its own SSL_CTX") {
		struct policy_error err;
		struct policy *p = load_text(
			"rules = (\n"
			"  { direction = \"accept\"; port = 1; " CRT "ca = \"ca.crt\"; require_client_cert = true; },\n"
			"  { direction = \"accept\"; port = 2; " CRT "ca = \"ca.crt\"; require_client_cert = true; },\n"
			"  { direction = \"accept\"; port = 3; cert = \"chain.crt\"; key = \"server.key\"; },\n"
			"  { direction = \"connect\"; port = 4; ca = \"ca.crt\"; },\n"
			"  { direction = \"connect\"; port = 5; ca = \"ca.crt\"; cert = \"client.crt\"; key = \"client.key\"; },\n"
			"  { direction = \"connect\"; port = 6; ca = \"other-ca.crt\"; }\n"
			");\n", &err);

		EXPECT(p != NULL);
		if (p) {
			SSL_CTX *a = p->rules[0].ctx, *b = p->rules[1].ctx, *c = p->rules[2].ctx;
			SSL_CTX *d = p->rules[3].ctx, *e = p->rules[4].ctx, *f = p->rules[5].ctx;

			EXPECT(a && b && c && d && e && f && a != b && d != e);
			EXPECT(SSL_CTX_get0_privatekey(a) == SSL_CTX_get0_privatekey(b));
			EXPECT(SSL_CTX_get0_privatekey(a) == SSL_CTX_get0_privatekey(c));
			EXPECT(SSL_CTX_get0_certificate(a) == SSL_CTX_get0_certificate(b));
			/* chain.crt is another file: parsed on its own. */
			EXPECT(SSL_CTX_get0_certificate(a) != SSL_CTX_get0_certificate(c));
			EXPECT(X509_cmp(SSL_CTX_get0_certificate(a), SSL_CTX_get0_certificate(c)) == 0);
			/* Stores: one per SSL_CTX, the anchors parsed once. */
			EXPECT(SSL_CTX_get_cert_store(a) != SSL_CTX_get_cert_store(b));
			EXPECT(store_cert(a) && store_cert(a) == store_cert(b) && store_cert(a) == store_cert(d) &&
			       store_cert(d) == store_cert(e));
			EXPECT(store_cert(f) && store_cert(f) != store_cert(d));
			EXPECT(sk_X509_NAME_num(SSL_CTX_get_client_CA_list(a)) == 1 &&
			       sk_X509_NAME_num(SSL_CTX_get_client_CA_list(b)) == 1);
		}
		policy_free(p);
	}
	UNIT_CASE("shared: a key parsed for one rule still must match the next rule's certificate") {
		struct policy_error err;
		struct policy *p = load_text(
			"rules = (\n"
			"  { direction = \"accept\"; port = 1; " CRT "},\n"
			"  { direction = \"accept\"; port = 2;\n"
			"    cert = \"client.crt\"; key = \"server.key\"; }\n"
			");\n", &err);
		char buf[1200];

		EXPECT(p == NULL);
		policy_error_format(&err, buf, sizeof(buf));
		EXPECT_CONTAINS(buf, "key does not match certificate");
		EXPECT(err.line == 4);    /* the key's line, as without the memo */
		policy_free(p);
	}
	UNIT_CASE("shared: the system trust store is read once for the rules without a crl,"
		  " at the first verification") {
		char cafile[512];
		struct policy_error err;
		struct policy *p;

		/* The default file: ours, so that the store's anchor is known. */
		path_in(cafile, sizeof(cafile), "ca.crt");
		p = load_text_store(cafile, "rules = (\n"
				    "  { direction = \"connect\"; port = 1; },\n"
				    "  { direction = \"connect\"; port = 2; },\n"
				    "  { direction = \"connect\"; port = 3; crl = \"ca.crl\"; }\n"
				    ");\n", &err);
		EXPECT(p != NULL);
		if (p) {
			SSL_CTX *a = p->rules[0].ctx, *b = p->rules[1].ctx, *c = p->rules[2].ctx;

			EXPECT(a && b && c && a != b);
			EXPECT(SSL_CTX_get_cert_store(a) == SSL_CTX_get_cert_store(b));
			/* The crl goes into the store: that rule's is its own. */
			EXPECT(SSL_CTX_get_cert_store(c) != SSL_CTX_get_cert_store(a));
			/* Not read at the load (policy/hashdir.h, hashdir_add_file):
			 * the stores hold no anchor yet ... */
			EXPECT(store_cert(a) == NULL && store_cert(c) == NULL);
			/* ... the first verification reads the file (SSL_CERT_FILE as
			 * it was at the load, not as it is now) ... */
			EXPECT(store_verifies(a));
			EXPECT(store_cert(a) != NULL && store_cert(b) == store_cert(a));
			EXPECT(store_cert(c) == NULL);
			EXPECT(store_verifies(c) && store_cert(c) != NULL);
			/* ... once: the anchor stays the same object. */
			{
				X509 *x = store_cert(a);

				EXPECT(store_verifies(b) && store_cert(a) == x);
			}
		}
		policy_free(p);
	}
	UNIT_CASE("shared: a system store file that could not be opened at the first verification"
		  " is tried again at the next") {
		char cafile[512], late[512];
		struct policy_error err;
		struct policy *p;

		path_in(cafile, sizeof(cafile), "ca.crt");
		path_in(late, sizeof(late), "late-store.crt");
		unlink(late);
		p = load_text_store(late, "rules = ({ direction = \"connect\"; port = 1; });\n", &err);
		EXPECT(p != NULL);
		if (p) {
			SSL_CTX *a = p->rules[0].ctx;

			/* None at the first verification: refused, nothing in the store ... */
			EXPECT(a && !store_verifies(a) && store_cert(a) == NULL);
			/* ... there at the next: read then (before: the failed open
			 * counted as the read, and the store stayed empty for good). */
			EXPECT(link(cafile, late) == 0);
			EXPECT(store_verifies(a) && store_cert(a) != NULL);
		}
		policy_free(p);
		unlink(late);
	}
	UNIT_CASE("shared: a system store file with no certificate at the first verification"
		  " (a torn write) is not kept: read again once written") {
		char cafile[512], torn[512], cmd[1200];
		struct policy_error err;
		struct policy *p;

		path_in(cafile, sizeof(cafile), "ca.crt");
		path_in(torn, sizeof(torn), "torn-store.crt");
		EXPECT(write_file("torn-store.crt", "") == 0);
		p = load_text_store(torn, "rules = ({ direction = \"connect\"; port = 1; });\n",
				    &err);
		EXPECT(p != NULL);
		if (p) {
			SSL_CTX *a = p->rules[0].ctx;

			/* Empty (a writer truncated it): refused, nothing kept ... */
			EXPECT(a && !store_verifies(a) && store_cert(a) == NULL);
			EXPECT(!store_verifies(a));
			/* ... written in place (the same inode): read then (before:
			 * the empty read counted as the read, for good). */
			snprintf(cmd, sizeof cmd, "cat '%s' >'%s'", cafile, torn);
			EXPECT(system(cmd) == 0);
			EXPECT(store_verifies(a) && store_cert(a) != NULL);
		}
		policy_free(p);
		unlink(torn);
	}
	UNIT_CASE("shared: a reload of a rule on the system store without a crl keeps the store"
		  " it had, as read") {
		char cafile[512], store[512], cert[512], cmd[3000];
		struct policy_error err;
		struct policy *p;

		path_in(cafile, sizeof(cafile), "ca.crt");
		path_in(store, sizeof(store), "kept-store.crt");
		path_in(cert, sizeof(cert), "client.crt");
		snprintf(cmd, sizeof cmd, "cp '%s' '%s'", cafile, store);
		EXPECT(system(cmd) == 0);
		p = load_text_store(store, "rules = ({ direction = \"connect\"; port = 1;"
				    " cert = \"client.crt\"; key = \"client.key\"; });\n", &err);
		EXPECT(p != NULL);
		if (p) {
			SSL_CTX *a = policy_reload_ctx(p, &p->rules[0]), *b;

			EXPECT(a && store_verifies(a));
			/* The store's file truncated by a writer, and the client
			 * certificate renamed over: the rule reloads ... */
			snprintf(cmd, sizeof cmd, ": >'%s' && cp '%s' '%s.new' && mv '%s.new' '%s'",
				 store, cert, cert, cert, cert);
			EXPECT(system(cmd) == 0);
			policy_reload_check_now(p, NULL);
			b = policy_reload_ctx(p, &p->rules[0]);
			EXPECT(b && b != a);
			/* ... with the store it had, as read (before: a new
			 * store, which read the empty file and verified no one). */
			EXPECT(b && SSL_CTX_get_cert_store(b) == SSL_CTX_get_cert_store(a));
			EXPECT(b && store_verifies(b));
			SSL_CTX_free(a);
			SSL_CTX_free(b);
		}
		policy_free(p);
		unlink(store);
	}
	UNIT_CASE("shared: the system store's SSL_CERT_FILE as at start: a setenv() after changes"
		  " nothing, at a load nor at a reload") {
		char cafile[512], crl[512], crlnew[512];
		struct policy_error err;
		struct policy *p;

		path_in(cafile, sizeof(cafile), "ca.crt");
		path_in(crl, sizeof(crl), "ca.crl");
		path_in(crlnew, sizeof(crlnew), "ca.crl.new");
		/* The program's own setenv(), after the library took the
		 * paths (hashdir_system_capture): a file that trusts nothing. */
		setenv("SSL_CERT_FILE", "/nonexistent/tlsshim-store.crt", 1);
		p = load_text_store(cafile, "rules = ({ direction = \"connect\"; port = 1;"
				    " crl = \"ca.crl\"; });\n", &err);
		/* (load_text_store set the captured file to cafile and back) */
		hashdir_system_set(cafile, hashdir_system_dir());
		EXPECT(p != NULL);
		if (p) {
			SSL_CTX *a = policy_reload_ctx(p, &p->rules[0]), *b;

			EXPECT(a && store_verifies(a));
			/* The crl renamed over: the rule is rebuilt, its store
			 * named as at start (before: by the environment of the
			 * moment, here a file that trusts nothing). */
			{
				char cmd[2200];

				snprintf(cmd, sizeof cmd, "cp '%s' '%s' && mv '%s' '%s'", crl,
					 crlnew, crlnew, crl);
				EXPECT(system(cmd) == 0);
			}
			policy_reload_check_now(p, NULL);
			b = policy_reload_ctx(p, &p->rules[0]);
			EXPECT(b && b != a);
			EXPECT(b && store_verifies(b));
			SSL_CTX_free(a);
			SSL_CTX_free(b);
		}
		policy_free(p);
		unsetenv("SSL_CERT_FILE");
	}
}

int main(void)
{
	strcpy(dir, "/tmp/tlsshim-policy.XXXXXX");
	if (!mkdtemp(dir)) {
		printf("FAIL setup: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	atexit(cleanup);
	snprintf(policy_path, sizeof(policy_path), "%s/policy.conf", dir);
	make_certs();
	run_goods();
	run_bads();
	run_special_bads();
	run_key_holder();
	run_identity();
	run_matches();
	run_hosts();
	run_handshakes();
	run_error_queue();
	run_ocsp();
	run_shared_files();
	run_key_decoding();
	return UNIT_RESULT();
}
