/* core/peer.c — see core/peer.h. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "core/conn.h"
#include "core/peer.h"

/* Bytes outside printable ASCII become '?'. */
static void printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

void tls_ssl_peer_info(SSL *ssl, bool server, const char *name, struct tls_peer_info *pi)
{
	const unsigned char *alpn = NULL;
	unsigned int alpn_len = 0;
	const SSL_CIPHER *ci = SSL_get_current_cipher(ssl);
	const char *s;

	memset(pi, 0, sizeof *pi);
	ERR_set_mark();
	snprintf(pi->version, sizeof pi->version, "%s", SSL_get_version(ssl));
	snprintf(pi->cipher, sizeof pi->cipher, "%s", ci ? SSL_CIPHER_get_name(ci) : "");
	SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
	if (alpn && alpn_len <= sizeof pi->alpn) {
		memcpy(pi->alpn, alpn, alpn_len);
		pi->alpn_len = alpn_len;
	}
	s = server ? SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) : name;
	snprintf(pi->sni, sizeof pi->sni, "%s", s ? s : "");
	/* The client chooses it (OpenSSL refuses only a NUL and more than
	 * 255 bytes): for a backend that logs or routes by the PROXY
	 * header's AUTHORITY, no CR, LF, escape sequence or other byte. */
	printable(pi->sni);
	pi->verify = SSL_get_verify_result(ssl);
	pi->resumed = SSL_session_reused(ssl) == 1;
	pi->cert = SSL_get1_peer_certificate(ssl);
	/* A connect rule with verify = "none" has the server's certificate
	 * too, but nobody checked it: whoever answered chose its names. */
	pi->verified = pi->cert && (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) && pi->verify == X509_V_OK;
	ERR_pop_to_mark();
}

bool tls_conn_peer_info(struct tls_conn *c, struct tls_peer_info *pi)
{
	bool ok = false;

	memset(pi, 0, sizeof *pi);
	GUARDED_ENTER(c, false);        /* OpenSSL parses the certificate */
	if (c->state == ST_OPEN && c->ssl) {
		tls_ssl_peer_info(c->ssl, c->role == TLS_ROLE_SERVER, c->name, pi);
		ok = true;
	}
	GUARDED_LEAVE(c);
	return ok;
}

bool tls_x509_subject(X509 *x, char *buf, size_t len)
{
	BIO *b;
	char *data = NULL;
	long n;
	bool ok = false;

	if (!len)
		return false;
	buf[0] = '\0';
	ERR_set_mark();
	b = BIO_new(BIO_s_mem());
	if (b && X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0 &&
	    (n = BIO_get_mem_data(b, &data)) >= 0 && (size_t)n < len) {
		memcpy(buf, data, (size_t)n);
		buf[n] = '\0';
		printable(buf);
		ok = true;
	}
	BIO_free(b);
	ERR_pop_to_mark();
	return ok;
}

void tls_x509_oneline(X509 *x, char *buf, size_t len)
{
	X509_NAME *nm = X509_get_subject_name(x);
	size_t o = 0;

	if (!len)
		return;
	buf[0] = '\0';
	ERR_set_mark();
	for (int i = 0; i < X509_NAME_entry_count(nm) && o + 1 < len; i++) {
		X509_NAME_ENTRY *e = X509_NAME_get_entry(nm, i);
		int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
		const char *sn = nid != NID_undef ? OBJ_nid2sn(nid) : "?";
		unsigned char *u = NULL;
		int n = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(e));

		char part[1100];
		size_t p = (size_t)snprintf(part, sizeof part, "/%s=", sn);

		for (int j = 0; j < n && p + 8 < sizeof part; j++) {
			if (u[j] < 0x20 || u[j] > 0x7e || u[j] == '\\')
				p += (size_t)snprintf(part + p, sizeof part - p, "\\x%02X", u[j]);
			else
				part[p++] = (char)u[j];
		}
		if (n < 0)
			part[p++] = '?';
		part[p] = '\0';
		OPENSSL_free(u);
		/* A value that does not fit ends the line, marked: never a
		 * cut value followed by the next one. */
		if (o + p >= len) {
			size_t keep = len > o + 4 ? len - o - 4 : 0;
			snprintf(buf + o, len - o, "%.*s...", (int)keep, part);
			break;
		}
		memcpy(buf + o, part, p + 1);
		o += p;
	}
	ERR_pop_to_mark();
}

bool tls_x509_cn(X509 *x, char *buf, size_t len)
{
	X509_NAME *nm = X509_get_subject_name(x);
	int i, count = 0, at = -1;
	unsigned char *u = NULL;
	int n;
	bool ok = false;

	if (!len)
		return false;
	buf[0] = '\0';
	for (i = -1; (i = X509_NAME_get_index_by_NID(nm, NID_commonName, i)) >= 0; count++)
		at = i;
	/* None, or several: no one name to give (allow_cn takes any of
	 * several; a backend told one of them would trust that one). */
	if (count != 1)
		return false;
	/* In UTF-8, as allow_cn compares it: the raw bytes of a BMPString
	 * "\u726f\u6f74" are "root". */
	ERR_set_mark();
	n = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, at)));
	ERR_pop_to_mark();
	/* Bytes outside printable ASCII, and the backslash, as \xNN: a '?'
	 * for each made two certificates one name (any two CNs of as many
	 * non-ASCII bytes: U+726F U+6F74 and U+4E2D U+6587 both "??????"). */
	if (n >= 0 && !memchr(u, 0, (size_t)n)) {
		size_t o = 0;

		ok = true;
		for (int j = 0; j < n && ok; j++) {
			bool esc = u[j] < 0x20 || u[j] > 0x7e || u[j] == '\\';

			if (o + (esc ? 4 : 1) >= len) {
				ok = false;
			} else if (esc) {
				snprintf(buf + o, 5, "\\x%02X", u[j]);
				o += 4;
			} else {
				buf[o++] = (char)u[j];
			}
		}
		buf[ok ? o : 0] = '\0';
	}
	OPENSSL_free(u);
	return ok;
}

/* A byte of a name that is written \xNN in the list: the separator, the
 * escape character itself, and anything outside printable ASCII.  The
 * names come from the peer's certificate: a URI (or a DNS name or email
 * a CA did not check) may hold a comma, and "URI:spiffe://td/x,URI:
 * spiffe://td/admin" written as is would read as two names, one of them
 * an identity the certificate does not have. */
static bool escaped(unsigned char ch)
{
	return ch < 0x20 || ch > 0x7e || ch == ',' || ch == '\\';
}

static bool append(char *buf, size_t len, size_t *off, const char *tag, const char *v, size_t vl)
{
	size_t tl = strlen(tag), need = (*off ? 1 : 0) + tl;

	for (size_t i = 0; i < vl; i++)
		need += escaped((unsigned char)v[i]) ? 4 : 1;
	if (*off + need >= len)
		return false;
	if (*off)
		buf[(*off)++] = ',';
	memcpy(buf + *off, tag, tl);
	*off += tl;
	for (size_t i = 0; i < vl; i++) {
		unsigned char ch = (unsigned char)v[i];

		if (escaped(ch)) {
			snprintf(buf + *off, 5, "\\x%02X", ch);
			*off += 4;
		} else {
			buf[(*off)++] = (char)ch;
		}
	}
	buf[*off] = '\0';
	return true;
}

bool tls_x509_sans(X509 *x, char *buf, size_t len)
{
	GENERAL_NAMES *gens;
	size_t off = 0;
	bool ok = true;

	if (!len)
		return false;
	buf[0] = '\0';
	ERR_set_mark();
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; gens && ok && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const ASN1_STRING *a = NULL;
		const char *tag;
		char ip[INET6_ADDRSTRLEN] = "";

		switch (g->type) {
		case GEN_DNS: tag = "DNS:"; a = g->d.dNSName; break;
		case GEN_URI: tag = "URI:"; a = g->d.uniformResourceIdentifier; break;
		case GEN_EMAIL: tag = "email:"; a = g->d.rfc822Name; break;
		case GEN_IPADD: {
			int l = ASN1_STRING_length(g->d.iPAddress);

			tag = "IP:";
			if (l != 4 && l != 16)
				continue;
			inet_ntop(l == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(g->d.iPAddress), ip,
				  sizeof ip);
			break;
		}
		default:
			continue;
		}
		if (a)
			ok = append(buf, len, &off, tag, (const char *)ASN1_STRING_get0_data(a),
				    (size_t)ASN1_STRING_length(a));
		else
			ok = append(buf, len, &off, tag, ip, strlen(ip));
	}
	GENERAL_NAMES_free(gens);
	ERR_pop_to_mark();
	return ok;
}

bool tls_x509_spki_sha256(X509 *x, char *buf, size_t len)
{
	unsigned char *der = NULL, md[32];
	unsigned int mdlen = 0;
	EVP_MD *sha;
	int n;
	bool ok = false;

	if (len < 45)
		return false;
	ERR_set_mark();
	sha = EVP_MD_fetch(NULL, "SHA256", NULL);
	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	if (sha && n > 0 && EVP_Digest(der, (size_t)n, md, &mdlen, sha, NULL) == 1 && mdlen == 32) {
		EVP_EncodeBlock((unsigned char *)buf, md, 32);
		ok = true;
	}
	OPENSSL_free(der);
	EVP_MD_free(sha);
	ERR_pop_to_mark();
	return ok;
}
