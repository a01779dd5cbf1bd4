/* policy/identity.c — peer identity allow lists and SPKI pins.
 *
 * Matching rules (tlsshim.conf(5)):
 *   allow_cn, allow_ou  any commonName / organizationalUnitName of the
 *                       subject, exactly (case-sensitive, UTF-8).
 *   allow_dns           any SAN dNSName, case-insensitively; "*.example.com"
 *                       matches exactly one label under example.com
 *                       ("a.example.com", not "example.com" nor
 *                       "a.b.example.com").  The certificate's names are
 *                       compared as strings: a SAN "*.example.com" is not
 *                       expanded.
 *   allow_uri           any SAN URI, exactly; an entry ending in "/" "*" is a
 *                       prefix: "spiffe://td/ns/prod/" + "*" matches
 *                       "spiffe://td/ns/prod/x" and ".../prod/x/y", not
 *                       ".../prodX/x" nor ".../prod/".
 *   allow_ip            any SAN iPAddress, exactly.
 *   pin_spki            SHA-256 of the DER SubjectPublicKeyInfo, base64
 *                       (the value of curl's --pinnedpubkey sha256//...).
 * The peer is allowed when any entry of any list matches (ghostunnel).
 * Lengths are compared as well as bytes: a name with an embedded NUL
 * never matches.
 */
#include "policy/identity.h"
#include "policy/text.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libconfig.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

static const char *const list_keys[POLICY_ID_NLISTS] = {
	[POLICY_ID_CN] = "allow_cn", [POLICY_ID_OU] = "allow_ou", [POLICY_ID_DNS] = "allow_dns",
	[POLICY_ID_URI] = "allow_uri", [POLICY_ID_IP] = "allow_ip", [POLICY_ID_PIN] = "pin_spki",
};

const char *policy_identity_key(enum policy_id_list which)
{
	return which < POLICY_ID_NLISTS ? list_keys[which] : "?";
}

/* ---- parsing ------------------------------------------------------------- */

static void clear_list(struct policy_identity *id, enum policy_id_list w)
{
	size_t i;

	if (id->names[w]) {
		for (i = 0; i < id->n[w]; i++)
			free(id->names[w][i]);
		free(id->names[w]);
		id->names[w] = NULL;
	}
	if (w == POLICY_ID_IP) {
		free(id->ips);
		id->ips = NULL;
	}
	if (w == POLICY_ID_PIN) {
		free(id->pins);
		id->pins = NULL;
	}
	id->n[w] = 0;
}

void policy_identity_free(struct policy_identity *id)
{
	int w;

	if (!id)
		return;
	for (w = 0; w < POLICY_ID_NLISTS; w++)
		clear_list(id, (enum policy_id_list)w);
	EVP_MD_free(id->sha256);
	free(id);
}

/* A DNS name or "*." followed by one: no other '*', no empty label. */
static bool dns_entry_ok(const char *v)
{
	const char *s = v[0] == '*' && v[1] == '.' ? v + 2 : v;
	size_t len = strlen(s);

	if (!len || len > 253 || !policy_printable(s, false) || strchr(s, '*'))
		return false;
	return s[0] != '.' && s[len - 1] != '.' && !strstr(s, "..");
}

/* A URI (something ":" something), '*' only as the last character after
 * a '/'. */
static bool uri_entry_ok(const char *v)
{
	size_t len = strlen(v);
	const char *star = strchr(v, '*');

	if (!len || len > 2048 || !policy_printable(v, false) || !strchr(v, ':') || v[0] == ':')
		return false;
	return !star || (star == v + len - 1 && len >= 2 && v[len - 2] == '/');
}

/* 32 bytes in base64: 44 characters, the last one '='. */
static bool pin_decode(const char *v, unsigned char out[32])
{
	unsigned char buf[48];

	if (strlen(v) != 44 || v[43] != '=' || v[42] == '=')
		return false;
	if (EVP_DecodeBlock(buf, (const unsigned char *)v, 44) != 33)
		return false;
	memcpy(out, buf, 32);
	return true;
}

static bool entry(struct policy_identity *id, enum policy_id_list w, size_t i, const char *v,
		  char *why, size_t whylen)
{
	const char *k = list_keys[w];

	switch (w) {
	case POLICY_ID_CN:
	case POLICY_ID_OU:
		if (!*v || strlen(v) > 1024 || !policy_printable(v, true)) {
			snprintf(why, whylen, "\"%s\" entries must be 1 to 1024 printable characters", k);
			return false;
		}
		break;
	case POLICY_ID_DNS:
		if (!dns_entry_ok(v)) {
			snprintf(why, whylen, "\"%s\" entry \"%.200s\" is not a DNS name or \"*.\" and one"
				 " (like \"db.example.com\" or \"*.example.com\")", k,
				 policy_printable(v, true) ? v : "(unprintable)");
			return false;
		}
		break;
	case POLICY_ID_URI:
		if (!uri_entry_ok(v)) {
			snprintf(why, whylen, "\"%s\" entry \"%.200s\" is not a URI, or a URI prefix ending"
				 " in \"/*\" (like \"spiffe://example.org/ns/prod/*\")", k,
				 policy_printable(v, true) ? v : "(unprintable)");
			return false;
		}
		break;
	case POLICY_ID_IP:
		if (inet_pton(AF_INET, v, id->ips[i].a) == 1) {
			id->ips[i].len = 4;
		} else if (inet_pton(AF_INET6, v, id->ips[i].a) == 1) {
			id->ips[i].len = 16;
		} else {
			snprintf(why, whylen, "\"%s\" entry \"%.200s\" is not an IPv4 or IPv6 address", k,
				 policy_printable(v, true) ? v : "(unprintable)");
			return false;
		}
		return true;
	case POLICY_ID_PIN:
		if (!pin_decode(v, id->pins[i])) {
			snprintf(why, whylen, "\"%s\" entry \"%.200s\" is not a base64 SHA-256 digest"
				 " (44 characters, 32 bytes)", k, policy_printable(v, true) ? v : "(unprintable)");
			return false;
		}
		return true;
	case POLICY_ID_NLISTS:
		return false;
	}
	if (!(id->names[w][i] = strdup(v))) {
		snprintf(why, whylen, "out of memory");
		return false;
	}
	return true;
}

bool policy_identity_parse(struct policy_identity **idp, enum policy_id_list w,
			   const struct config_setting_t *s, const struct config_setting_t **bad,
			   char *why, size_t whylen)
{
	bool seq = config_setting_is_list(s) || config_setting_is_array(s);
	int n = seq ? config_setting_length(s) : 1;
	struct policy_identity *id = *idp;
	int i;

	*bad = s;
	if (w >= POLICY_ID_NLISTS) {
		snprintf(why, whylen, "internal error: unknown identity list");
		return false;
	}
	if (!seq && config_setting_type(s) != CONFIG_TYPE_STRING) {
		snprintf(why, whylen, "\"%s\" must be a string or a list of strings", list_keys[w]);
		return false;
	}
	if (n == 0) {
		snprintf(why, whylen, "\"%s\" must not be an empty list", list_keys[w]);
		return false;
	}
	if (!id && !(id = *idp = calloc(1, sizeof(*id)))) {
		snprintf(why, whylen, "out of memory");
		return false;
	}
	clear_list(id, w);
	if (w == POLICY_ID_IP ? !(id->ips = calloc((size_t)n, sizeof(*id->ips)))
	    : w == POLICY_ID_PIN ? !(id->pins = calloc((size_t)n, sizeof(*id->pins)))
	    : !(id->names[w] = calloc((size_t)n, sizeof(char *)))) {
		snprintf(why, whylen, "out of memory");
		return false;
	}
	for (i = 0; i < n; i++) {
		const config_setting_t *e = seq ? config_setting_get_elem(s, (unsigned)i) : s;

		*bad = e;
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			snprintf(why, whylen, "\"%s\" must be a string or a list of strings", list_keys[w]);
			return false;
		}
		if (!entry(id, w, (size_t)i, config_setting_get_string(e), why, whylen))
			return false;
		id->n[w]++;
	}
	*bad = NULL;
	return true;
}

bool policy_identity_prepare(struct policy_identity *id, OSSL_LIB_CTX *libctx)
{
	if (!id->sha256)
		id->sha256 = EVP_MD_fetch(libctx, "SHA256", NULL);
	return id->sha256 != NULL;
}

/* ---- matching -------------------------------------------------------------- */

static bool same(const ASN1_STRING *a, const char *s, bool nocase)
{
	size_t len = strlen(s);

	if ((size_t)ASN1_STRING_length(a) != len)
		return false;
	return nocase ? strncasecmp((const char *)ASN1_STRING_get0_data(a), s, len) == 0
		      : memcmp(ASN1_STRING_get0_data(a), s, len) == 0;
}

/* Any entry of the subject with this nid equal to any of names. */
static bool subject_match(X509 *x, int nid, char *const *names, size_t n)
{
	const X509_NAME *nm = X509_get_subject_name(x);
	int pos = -1;

	while (n && (pos = X509_NAME_get_index_by_NID(nm, nid, pos)) >= 0) {
		ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, pos));
		unsigned char *u = NULL;
		int len = ASN1_STRING_to_UTF8(&u, d);
		size_t i;
		bool ok = false;

		for (i = 0; len >= 0 && !ok && i < n; i++)
			ok = strlen(names[i]) == (size_t)len && memcmp(u, names[i], (size_t)len) == 0;
		OPENSSL_free(u);
		if (ok)
			return true;
	}
	return false;
}

static bool dns_match(const ASN1_STRING *a, const char *pat)
{
	const char *d = (const char *)ASN1_STRING_get0_data(a);
	size_t dl = (size_t)ASN1_STRING_length(a), sl;

	if (pat[0] != '*')
		return same(a, pat, true);
	pat++;                        /* ".example.com" */
	sl = strlen(pat);
	if (dl <= sl || memchr(d, '\0', dl))
		return false;
	if (strncasecmp(d + dl - sl, pat, sl) != 0)
		return false;
	return !memchr(d, '.', dl - sl);   /* one non-empty label */
}

static bool uri_match(const ASN1_STRING *a, const char *pat)
{
	size_t pl = strlen(pat), ul = (size_t)ASN1_STRING_length(a);
	const unsigned char *u = ASN1_STRING_get0_data(a);

	if (pl < 2 || pat[pl - 1] != '*')
		return same(a, pat, false);
	pl--;                         /* the prefix, with its final '/' */
	return ul > pl && memcmp(u, pat, pl) == 0 && !memchr(u, '\0', ul);
}

static bool san_match(const struct policy_identity *id, X509 *x)
{
	GENERAL_NAMES *gens;
	bool ok = false;
	int i;

	if (!id->n[POLICY_ID_DNS] && !id->n[POLICY_ID_URI] && !id->n[POLICY_ID_IP])
		return false;
	if (!(gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL)))
		return false;
	for (i = 0; !ok && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		size_t j;

		if (g->type == GEN_DNS)
			for (j = 0; !ok && j < id->n[POLICY_ID_DNS]; j++)
				ok = dns_match(g->d.dNSName, id->names[POLICY_ID_DNS][j]);
		else if (g->type == GEN_URI)
			for (j = 0; !ok && j < id->n[POLICY_ID_URI]; j++)
				ok = uri_match(g->d.uniformResourceIdentifier, id->names[POLICY_ID_URI][j]);
		else if (g->type == GEN_IPADD)
			for (j = 0; !ok && j < id->n[POLICY_ID_IP]; j++)
				ok = ASN1_STRING_length(g->d.iPAddress) == id->ips[j].len &&
				     memcmp(ASN1_STRING_get0_data(g->d.iPAddress), id->ips[j].a,
					    (size_t)id->ips[j].len) == 0;
	}
	GENERAL_NAMES_free(gens);
	return ok;
}

static bool spki_digest(const struct policy_identity *id, X509 *x, unsigned char md[32])
{
	unsigned char *der = NULL;
	unsigned int mdlen = 0;
	int len;
	bool ok;

	if (!id || !id->sha256)
		return false;
	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	if (len <= 0)
		return false;
	ok = EVP_Digest(der, (size_t)len, md, &mdlen, id->sha256, NULL) == 1 && mdlen == 32;
	OPENSSL_free(der);
	return ok;
}

static bool allowed(const struct policy_identity *id, X509 *x)
{
	size_t i;

	if (subject_match(x, NID_commonName, id->names[POLICY_ID_CN], id->n[POLICY_ID_CN]) ||
	    subject_match(x, NID_organizationalUnitName, id->names[POLICY_ID_OU], id->n[POLICY_ID_OU]) ||
	    san_match(id, x))
		return true;
	if (id->n[POLICY_ID_PIN]) {
		unsigned char md[32];

		if (!spki_digest(id, x, md))
			return false;
		for (i = 0; i < id->n[POLICY_ID_PIN]; i++)
			if (CRYPTO_memcmp(md, id->pins[i], 32) == 0)
				return true;
	}
	return false;
}

/* ---- description (for the log) ------------------------------------------- */

/* Append to buf, control and non-ASCII bytes and quotes as '?': names
 * come from the peer and must not forge log lines. */
static void put(char *buf, size_t len, size_t *off, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && *off + 1 < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		buf[(*off)++] = ch < 0x20 || ch >= 0x7f || ch == '"' ? '?' : (char)ch;
	}
	buf[*off] = '\0';
}

/* Our own text, quotes included. */
static void puts_(char *buf, size_t len, size_t *off, const char *s)
{
	int n = snprintf(buf + *off, len - *off, "%s", s);

	if (n > 0)
		*off += (size_t)n < len - *off ? (size_t)n : len - *off - 1;
}

static void describe_subject(X509 *x, char *buf, size_t len, size_t *off)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data = NULL;
	long n;

	puts_(buf, len, off, "subject \"");
	if (b && X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0 &&
	    (n = BIO_get_mem_data(b, &data)) > 0)
		put(buf, len, off, data, (size_t)(n > 300 ? 300 : n));
	puts_(buf, len, off, "\"");
	BIO_free(b);
}

static void describe_sans(X509 *x, char *buf, size_t len, size_t *off)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int i, shown = 0;

	puts_(buf, len, off, ", SAN \"");
	for (i = 0; gens && i < sk_GENERAL_NAME_num(gens) && shown < 8; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const ASN1_STRING *a = NULL;
		const char *tag = NULL;
		char ip[INET6_ADDRSTRLEN] = "";

		if (g->type == GEN_DNS) {
			tag = "DNS:";
			a = g->d.dNSName;
		} else if (g->type == GEN_URI) {
			tag = "URI:";
			a = g->d.uniformResourceIdentifier;
		} else if (g->type == GEN_IPADD) {
			int l = ASN1_STRING_length(g->d.iPAddress);

			tag = "IP:";
			if (l != 4 && l != 16)
				snprintf(ip, sizeof ip, "?");
			else
				inet_ntop(l == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(g->d.iPAddress),
					  ip, sizeof ip);
		} else if (g->type == GEN_EMAIL) {
			tag = "email:";
			a = g->d.rfc822Name;
		} else {
			continue;
		}
		if (shown++)
			puts_(buf, len, off, ", ");
		puts_(buf, len, off, tag);
		if (a)
			put(buf, len, off, (const char *)ASN1_STRING_get0_data(a),
			    (size_t)(ASN1_STRING_length(a) > 200 ? 200 : ASN1_STRING_length(a)));
		else
			puts_(buf, len, off, ip);
	}
	if (gens && sk_GENERAL_NAME_num(gens) > shown && shown == 8)
		puts_(buf, len, off, ", ...");
	puts_(buf, len, off, "\"");
	GENERAL_NAMES_free(gens);
}

void policy_identity_describe(const struct policy_identity *id, X509 *x, char *buf, size_t len)
{
	unsigned char md[32];
	char b64[48];
	size_t off = 0;

	if (!len)
		return;
	buf[0] = '\0';
	describe_subject(x, buf, len, &off);
	describe_sans(x, buf, len, &off);
	if (spki_digest(id, x, md)) {
		EVP_EncodeBlock((unsigned char *)b64, md, 32);
		puts_(buf, len, &off, ", SPKI sha256 \"");
		puts_(buf, len, &off, b64);
		puts_(buf, len, &off, "\"");
	}
}

bool policy_identity_check(const void *arg, X509 *leaf, char *why, size_t whylen)
{
	const struct policy_identity *id = arg;
	size_t off;

	if (!id)
		return true;
	if (leaf && allowed(id, leaf))
		return true;
	if (!whylen)
		return false;
	snprintf(why, whylen, "peer identity not in the rule's allow lists: ");
	off = strlen(why);
	if (leaf)
		policy_identity_describe(id, leaf, why + off, whylen - off);
	else
		snprintf(why + off, whylen - off, "no certificate");
	return false;
}
