/* policy/sni.c — the SSL_CTX for the client's server name (policy/sni.h). */
#include "policy/sni.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

void sni_free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* subjectAltName DNS names only, as the client checks them (no CN). */
bool sni_cert_names(SSL_CTX *ctx, char ***names, size_t *n)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	GENERAL_NAMES *gens = x ? X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL) : NULL;
	int i, count = gens ? sk_GENERAL_NAME_num(gens) : 0;
	char **out = calloc((size_t)count + 1, sizeof(*out));
	size_t k = 0;

	if (!out) {
		GENERAL_NAMES_free(gens);
		return false;
	}
	for (i = 0; i < count; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const unsigned char *d;
		int len;

		if (g->type != GEN_DNS)
			continue;
		d = ASN1_STRING_get0_data(g->d.dNSName);
		len = ASN1_STRING_length(g->d.dNSName);
		if (len <= 0 || memchr(d, 0, (size_t)len))
			continue;
		if (!(out[k] = strndup((const char *)d, (size_t)len))) {
			sni_free_names(out, k);
			GENERAL_NAMES_free(gens);
			return false;
		}
		for (char *p = out[k]; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		k++;
	}
	GENERAL_NAMES_free(gens);
	qsort(out, k, sizeof(*out), cmp_str);
	*names = out;
	*n = k;
	return true;
}

struct policy_sni_group *sni_find_group(struct policy_sni *s, char **names, size_t n)
{
	for (size_t g = 0; g < s->ngroups; g++) {
		struct policy_sni_group *gr = &s->groups[g];
		size_t i;

		if (gr->nnames != n)
			continue;
		for (i = 0; i < n && strcmp(gr->names[i], names[i]) == 0; i++)
			;
		if (i == n)
			return gr;
	}
	return NULL;
}

int sni_key_type(SSL_CTX *ctx)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	EVP_PKEY *k = x ? X509_get0_pubkey(x) : NULL;

	return k ? EVP_PKEY_get_base_id(k) : 0;
}

bool sni_add_group(struct policy_sni *s, SSL_CTX *ctx, char **names, size_t n, size_t entry)
{
	struct policy_sni_group *g = realloc(s->groups, (s->ngroups + 1) * sizeof(*g));

	if (!g)
		return false;
	s->groups = g;
	g = &s->groups[s->ngroups++];
	memset(g, 0, sizeof(*g));
	g->ctx = ctx;
	g->names = names;
	g->nnames = n;
	g->first_entry = entry;
	g->key_types[g->nkeys++] = sni_key_type(ctx);
	return true;
}

/* "*.example.com" matches "a.example.com", not "example.com" nor
 * "a.b.example.com"; name is compared case-insensitively. */
static bool wild_match(const char *pattern, const char *name)
{
	const char *dot = strchr(name, '.');

	if (pattern[0] != '*' || pattern[1] != '.' || !dot || dot == name)
		return false;
	return strcasecmp(pattern + 1, dot) == 0;
}

int sni_pick(const struct policy_sni *s, const char *name)
{
	size_t g, i;

	if (!name || !*name)
		return -1;
	for (g = 0; g < s->ngroups; g++)
		for (i = 0; i < s->groups[g].nnames; i++)
			if (strcasecmp(s->groups[g].names[i], name) == 0)
				return (int)g;
	for (g = 0; g < s->ngroups; g++)
		for (i = 0; i < s->groups[g].nnames; i++)
			if (wild_match(s->groups[g].names[i], name))
				return (int)g;
	return -1;
}

static int servername_cb(SSL *ssl, int *al, void *arg)
{
	const struct policy_sni *s = arg;
	int g = sni_pick(s, SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));

	if (g < 0 && s->strict) {
		*al = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	if (g < 0)
		g = 0;
	if (SSL_get_SSL_CTX(ssl) != s->groups[g].ctx && !SSL_set_SSL_CTX(ssl, s->groups[g].ctx)) {
		*al = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

/* The host name this ClientHello's server_name extension carries, as
 * OpenSSL parses it (one host_name entry, no NUL; empty is possible):
 * 1 with the name in buf, 0 when the client sent none, -1 for one that
 * is malformed, has a NUL or does not fit buf. */
static int hello_name(SSL *ssl, char *buf, size_t cap)
{
	const unsigned char *p;
	size_t len, n;

	if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len))
		return 0;
	if (len < 5 || (size_t)(p[0] << 8 | p[1]) != len - 2 || p[2] != TLSEXT_NAMETYPE_host_name)
		return -1;
	n = (size_t)(p[3] << 8 | p[4]);
	if (n != len - 5 || n >= cap || (n && memchr(p + 5, 0, n)))
		return -1;
	memcpy(buf, p + 5, n);
	buf[n] = '\0';
	return 1;
}

/* sni_strict, judged on the name the client sent in this ClientHello.
 * The servername callback cannot: on a TLS 1.2 resumption OpenSSL hands
 * it the name stored in the session, not the one just sent, so a
 * session made for a known name would let any name, or none, in.  The
 * name (or "" for none) goes with the error for the engine's log line
 * (core/tls.h: SSL_R_CALLBACK_FAILED). */
static int hello_cb(SSL *ssl, int *al, void *arg)
{
	const struct policy_sni *s = arg;
	char name[256];
	int k;

	if (!s->strict)
		return SSL_CLIENT_HELLO_SUCCESS;
	/* A name OpenSSL would refuse on a full handshake (too long, a
	 * NUL) is not refused on a TLS 1.2 resumption, which only compares
	 * it with the session's: refused here, as no certificate has it. */
	if ((k = hello_name(ssl, name, sizeof name)) > 0 && sni_pick(s, name) >= 0)
		return SSL_CLIENT_HELLO_SUCCESS;
	if (k < 0)
		snprintf(name, sizeof name, "(malformed or longer than 255 bytes)");
	ERR_raise_data(ERR_LIB_SSL, SSL_R_CALLBACK_FAILED, "%s", k ? name : "");
	*al = SSL_AD_UNRECOGNIZED_NAME;
	return SSL_CLIENT_HELLO_ERROR;
}

void sni_install(struct policy_sni *s)
{
	for (size_t g = 0; g < s->ngroups; g++) {
		SSL_CTX_set_tlsext_servername_callback(s->groups[g].ctx, servername_cb);
		SSL_CTX_set_tlsext_servername_arg(s->groups[g].ctx, s);
		SSL_CTX_set_client_hello_cb(s->groups[g].ctx, hello_cb, s);
	}
}

void sni_free(struct policy_sni *s)
{
	if (!s)
		return;
	for (size_t g = 0; g < s->ngroups; g++) {
		SSL_CTX_free(s->groups[g].ctx);
		sni_free_names(s->groups[g].names, s->groups[g].nnames);
	}
	free(s->groups);
	free(s);
}
