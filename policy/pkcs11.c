/* policy/pkcs11.c — key = "pkcs11:..." through OpenSSL's PKCS#11 engine.
 *
 * Debian 12 packages OpenSSL's PKCS#11 support only as an engine
 * (libengine-pkcs11-openssl: engine "pkcs11", libp11 built in); there is
 * no pkcs11-provider package in bookworm.  The ENGINE API is deprecated in
 * OpenSSL 3, so it is confined to this file, which alone is compiled with
 * OPENSSL_SUPPRESS_DEPRECATED (docs/design.md, "Keys in a PKCS#11 token").
 *
 * The EVP_PKEY the engine returns is a legacy key whose RSA_METHOD or
 * EC_KEY_METHOD is libp11's.  OpenSSL 3 never exports such a "foreign" key
 * to a provider: EVP_PKEY_CTX_new_from_pkey(libctx, ...) takes the legacy
 * path whatever the library context, so it signs through the token inside
 * an SSL_CTX made with SSL_CTX_new_ex(policy->libctx) too (TLS 1.2 and
 * 1.3, RSA-PSS and ECDSA: tests/interop/pkcs11.sh).
 *
 * What the program may see of it: the engine is not made a default for
 * anything (the program's own RSA and EC stay OpenSSL's), it is our own
 * instance, not added to OpenSSL's global engine list (private_engine),
 * it prints nothing (QUIET) and never prompts (our UI method answers no
 * question).  The PIN stays in libp11's memory: after fork() it logs in
 * again with it in the child.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "policy/pkcs11.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/ui.h>

#include <p11-kit/pkcs11.h>

#include "policy/file.h"
#include "policy/why.h"

/* What libp11 loads when no module is given: the p11-kit proxy, which
 * reaches every module registered with p11-kit (softhsm2, opensc, ...). */
#define DEFAULT_MODULE "p11-kit-proxy.so"
#define PIN_MAX 256

struct engine {
	char *module;
	ENGINE *e;
	void *dl;        /* our own handle on the module, for diagnostics */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct engine engines[8];
static size_t nengines;
static UI_METHOD *no_ui;

bool pkcs11_is_uri(const char *key)
{
	return key && strncasecmp(key, "pkcs11:", 7) == 0;
}

static bool is_sep(char c)
{
	return c == ';' || c == '?' || c == '&';
}

/* The start of attribute name's value in the URI, or NULL. */
static const char *uri_attr(const char *uri, const char *name)
{
	size_t n = strlen(name);
	const char *p = uri + 7;

	while (*p) {
		if (strncmp(p, name, n) == 0 && p[n] == '=')
			return p + n + 1;
		while (*p && !is_sep(*p))
			p++;
		if (*p)
			p++;
	}
	return NULL;
}

/* An attribute's value, percent-decoded; false when absent. */
static bool uri_value(const char *uri, const char *name, char *out, size_t len)
{
	const char *v = uri_attr(uri, name);
	size_t o = 0;

	if (!v)
		return false;
	while (*v && !is_sep(*v) && o + 1 < len) {
		if (v[0] == '%' && isxdigit((unsigned char)v[1]) && isxdigit((unsigned char)v[2])) {
			char hex[3] = { v[1], v[2], 0 };
			out[o++] = (char)strtol(hex, NULL, 16);
			v += 3;
		} else {
			out[o++] = *v++;
		}
	}
	out[o] = '\0';
	return true;
}

bool pkcs11_uri_has_pin(const char *uri)
{
	return pkcs11_is_uri(uri) && uri_attr(uri, "pin-value") != NULL;
}

void pkcs11_uri_printable(const char *uri, char *out, size_t len)
{
	const char *pin = uri_attr(uri, "pin-value");
	size_t o = 0;
	const char *p;

	if (!len)
		return;
	for (p = uri; *p && o + 1 < len; p++) {
		if (p == pin) {
			for (const char *m = "***"; *m && o + 1 < len; m++)
				out[o++] = *m;
			while (p[1] && !is_sep(p[1]))
				p++;
			continue;
		}
		out[o++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
	}
	out[o] = '\0';
}

static EVP_PKEY *failf(enum pkcs11_err *which, enum pkcs11_err w, char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static EVP_PKEY *failf(enum pkcs11_err *which, enum pkcs11_err w, char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	*which = w;
	va_start(ap, fmt);
	policy_vwhy(why, len, fmt, ap);
	va_end(ap);
	return NULL;
}

/* UI reader that answers nothing: the engine then fails the login
 * instead of prompting on the program's terminal. */
static int ui_refuse(UI *ui, UI_STRING *s)
{
	(void)ui; (void)s;
	return 0;
}

/* The PIN file: a regular file, not readable by others, one line. */
static bool read_pin(const char *path, char *pin, size_t len, char *why, size_t whylen)
{
	const char *r = NULL;
	struct stat st;
	FILE *f = policy_fopen_regular(path, &r);
	size_t n;

	if (!f) {
		snprintf(why, whylen, "cannot read pin_file \"%s\": %s", path, r ? r : strerror(errno));
		return false;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & S_IRWXO)) {
		fclose(f);
		snprintf(why, whylen, "pin_file \"%s\" is accessible by others (chmod o-rwx)", path);
		return false;
	}
	n = fread(pin, 1, len - 1, f);
	fclose(f);
	pin[n] = '\0';
	if (n == len - 1) {
		OPENSSL_cleanse(pin, len);
		snprintf(why, whylen, "pin_file \"%s\": longer than %zu bytes", path, len - 2);
		return false;
	}
	pin[strcspn(pin, "\r\n")] = '\0';
	if (!pin[0]) {
		snprintf(why, whylen, "pin_file \"%s\" is empty", path);
		return false;
	}
	return true;
}

/* The module, opened by us first: a missing or broken module is then a
 * precise error (libp11 would print dlerror() on stderr), and the handle
 * serves the diagnostics of probe_tokens. */
static void *open_module(const char *module, char *why, size_t len)
{
	void *dl;

	if (strchr(module, '/')) {
		struct stat st;

		if (stat(module, &st) != 0) {
			snprintf(why, len, "cannot load pkcs11_module \"%s\": %s", module, strerror(errno));
			return NULL;
		}
		if (!S_ISREG(st.st_mode)) {
			snprintf(why, len, "cannot load pkcs11_module \"%s\": not a regular file", module);
			return NULL;
		}
		/* Its code runs in the program, next to the keys. */
		if (policy_others_can_write(&st)) {
			snprintf(why, len, "cannot load pkcs11_module \"%s\": %s", module, POLICY_WHY_OTHERS_WRITE);
			return NULL;
		}
	}
	dl = dlopen(module, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		const char *e = dlerror();
		snprintf(why, len, "cannot load pkcs11_module \"%s\": %s", module, e ? e : "dlopen failed");
		return NULL;
	}
	if (!dlsym(dl, "C_GetFunctionList")) {
		dlclose(dl);
		snprintf(why, len, "pkcs11_module \"%s\" is not a PKCS#11 module (no C_GetFunctionList)", module);
		return NULL;
	}
	return dl;
}

/* A pkcs11 engine of our own, loaded by OpenSSL's "dynamic" engine from
 * $OPENSSL_ENGINES or OpenSSL's engines directory, never added to the
 * engine list.  ENGINE_by_id("pkcs11") would return the program's
 * instance when its openssl.cnf loads one: our MODULE_PATH and PIN would
 * then change the program's engine, and two modules would share one. */
static ENGINE *private_engine(void)
{
	const char *dir = getenv("OPENSSL_ENGINES");
	char path[600], buf[512];
	ENGINE *e;

	if (!dir || !*dir) {
		/* 'ENGINESDIR: "/usr/lib/x86_64-linux-gnu/engines-3"' */
		const char *v = OpenSSL_version(OPENSSL_ENGINES_DIR), *q = v ? strchr(v, '"') : NULL;
		size_t n = q ? strcspn(q + 1, "\"") : 0;

		if (!q || n == 0 || n >= sizeof buf)
			return NULL;
		memcpy(buf, q + 1, n);
		buf[n] = '\0';
		dir = buf;
	}
	snprintf(path, sizeof path, "%s/pkcs11.so", dir);
	if (access(path, R_OK) != 0 || !(e = ENGINE_by_id("dynamic")))
		return NULL;
	if (!ENGINE_ctrl_cmd_string(e, "SO_PATH", path, 0) || !ENGINE_ctrl_cmd_string(e, "ID", "pkcs11", 0) ||
	    !ENGINE_ctrl_cmd_string(e, "LIST_ADD", "0", 0) || !ENGINE_ctrl_cmd_string(e, "LOAD", NULL, 0)) {
		ENGINE_free(e);
		return NULL;
	}
	return e;
}

/* One engine per module, for the life of the process (keys refer to it). */
static struct engine *engine_for(const char *module, enum pkcs11_err *which, char *why, size_t len)
{
	struct engine *g;
	void *dl;
	ENGINE *e;
	size_t i;

	for (i = 0; i < nengines; i++)
		if (strcmp(engines[i].module, module) == 0)
			return &engines[i];
	if (nengines == sizeof(engines) / sizeof(engines[0])) {
		failf(which, PKCS11_ERR_MODULE, why, len, "too many PKCS#11 modules (at most %zu)", nengines);
		return NULL;
	}
	if (!(dl = open_module(module, why, len))) {
		*which = PKCS11_ERR_MODULE;
		return NULL;
	}
	if (!no_ui && (!(no_ui = UI_create_method("tlsshim: no prompt")) ||
		       UI_method_set_reader(no_ui, ui_refuse) != 0)) {
		dlclose(dl);
		failf(which, PKCS11_ERR_KEY, why, len, "out of memory");
		return NULL;
	}
	if (!(e = private_engine())) {
		dlclose(dl);
		failf(which, PKCS11_ERR_KEY, why, len,
		      "OpenSSL's PKCS#11 engine \"pkcs11\" is not installed (Debian: libengine-pkcs11-openssl)");
		return NULL;
	}
	if (!ENGINE_ctrl_cmd_string(e, "QUIET", NULL, 0) ||
	    !ENGINE_ctrl_cmd_string(e, "MODULE_PATH", module, 0) || !ENGINE_init(e)) {
		ENGINE_free(e);
		dlclose(dl);
		failf(which, PKCS11_ERR_MODULE, why, len, "cannot start OpenSSL's PKCS#11 engine with \"%s\"", module);
		return NULL;
	}
	ENGINE_free(e);          /* ENGINE_init's functional reference stays */
	g = &engines[nengines];
	if (!(g->module = strdup(module))) {
		ENGINE_finish(e);
		dlclose(dl);
		failf(which, PKCS11_ERR_KEY, why, len, "out of memory");
		return NULL;
	}
	g->e = e;
	g->dl = dl;
	nengines++;
	return g;
}

/* Trailing blanks off a fixed-width CK_UTF8CHAR field. */
static void field(char *out, const unsigned char *in, size_t n)
{
	while (n > 0 && in[n - 1] == ' ')
		n--;
	memcpy(out, in, n);
	out[n] = '\0';
}

static bool token_matches(const char *uri, const CK_TOKEN_INFO *ti)
{
	static const struct { const char *attr; size_t off, n; } f[] = {
		{ "token", offsetof(CK_TOKEN_INFO, label), 32 },
		{ "manufacturer", offsetof(CK_TOKEN_INFO, manufacturerID), 32 },
		{ "model", offsetof(CK_TOKEN_INFO, model), 16 },
		{ "serial", offsetof(CK_TOKEN_INFO, serialNumber), 16 },
	};
	char want[128], have[40];

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (!uri_value(uri, f[i].attr, want, sizeof want))
			continue;
		field(have, (const unsigned char *)ti + f[i].off, f[i].n);
		if (strcmp(want, have) != 0)
			return false;
	}
	return true;
}

/* "object not found" from libp11 means either; tell which.  The module
 * is initialised already (by the engine) in this process. */
static void probe_tokens(const struct engine *g, const char *uri, const char *shown, char *why, size_t len)
{
	CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(g->dl, "C_GetFunctionList");
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	CK_FUNCTION_LIST_PTR fl = NULL;
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64, i;
	char names[200] = "", label[40];
	size_t o = 0, ntokens = 0;
	bool ours, found = false;
	CK_RV rv;

	snprintf(why, len, "no private key matches \"%s\"", shown);
	if (!get || get(&fl) != CKR_OK || !fl)
		return;
	rv = fl->C_Initialize(&args);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
		return;
	ours = rv == CKR_OK;
	if (fl->C_GetSlotList(CK_TRUE, slots, &n) == CKR_OK) {
		for (i = 0; i < n && !found; i++) {
			CK_TOKEN_INFO ti;

			if (fl->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
				continue;
			if (!(ti.flags & CKF_TOKEN_INITIALIZED))
				continue;
			ntokens++;
			found = token_matches(uri, &ti);
			field(label, ti.label, sizeof ti.label);
			if (o < sizeof names)
				o += (size_t)snprintf(names + o, sizeof names - o, "%s\"%s\"", o ? ", " : "", label);
		}
		if (found)
			snprintf(why, len, "no private key matches \"%s\" on token \"%s\" (key not found)", shown, label);
		else if (ntokens == 0)
			snprintf(why, len, "no initialised token in pkcs11_module \"%s\" (token not found)",
				 g->module);
		else
			snprintf(why, len, "no token matches \"%s\" in pkcs11_module \"%s\" (token not found;"
				 " tokens present: %s)", shown, g->module, names);
	}
	if (ours)
		fl->C_Finalize(NULL);
}

/* libp11 reports PKCS#11 return values as reasons of its "PKCS#11 module"
 * library (reason = the CKR_ value). */
static bool ckr_pin(unsigned long e)
{
	const char *lib = ERR_lib_error_string(e);
	unsigned long r = (unsigned long)ERR_GET_REASON(e);

	return lib && strcmp(lib, "PKCS#11 module") == 0 && r >= CKR_PIN_INCORRECT && r <= CKR_PIN_LOCKED;
}

static bool reason_is(unsigned long e, const char *lib, const char *reason)
{
	const char *l = ERR_lib_error_string(e), *r = ERR_reason_error_string(e);

	return l && r && strcmp(l, lib) == 0 && strcmp(r, reason) == 0;
}

/* The EC public point comes from the token's public key or certificate
 * object with the key's id; without one OpenSSL cannot match the key to
 * the certificate, and "does not match" would be misleading. */
static bool has_public(EVP_PKEY *k)
{
	const EC_KEY *ec;

	if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC)
		return true;
	ec = EVP_PKEY_get0_EC_KEY(k);
	return ec && EC_KEY_get0_public_key(ec);
}

static EVP_PKEY *load_locked(const char *uri, const char *module, const char *pin_file,
			     enum pkcs11_err *which, char *why, size_t len)
{
	char shown[512], rbuf[64], pin[PIN_MAX + 2];
	ENGINE_LOAD_KEY_PTR load;
	struct engine *g;
	EVP_PKEY *k;
	unsigned long e;
	const char *r;

	pkcs11_uri_printable(uri, shown, sizeof shown);
	if (pin_file && pkcs11_uri_has_pin(uri))
		return failf(which, PKCS11_ERR_PIN_FILE, why, len,
			     "both pin_file and a pin-value in \"%s\": give the PIN once", shown);
	if (!(g = engine_for(module ? module : DEFAULT_MODULE, which, why, len)))
		return NULL;
	if (pin_file) {
		bool ok;

		if (!read_pin(pin_file, pin, sizeof pin, why, len))
			return failf(which, PKCS11_ERR_PIN_FILE, NULL, 0, "%s", "");
		ok = ENGINE_ctrl_cmd_string(g->e, "PIN", pin, 0);
		OPENSSL_cleanse(pin, sizeof pin);
		if (!ok)
			return failf(which, PKCS11_ERR_PIN_FILE, why, len, "cannot hand the PIN to the engine");
	}
	if (!(load = ENGINE_get_load_privkey_function(g->e)))
		return failf(which, PKCS11_ERR_KEY, why, len, "the PKCS#11 engine cannot load private keys");
	/* Called directly rather than through ENGINE_load_private_key, whose
	 * own error would hide the engine's reason at the top of the queue. */
	if ((k = load(g->e, uri, no_ui, NULL))) {
		if (has_public(k))
			return k;
		EVP_PKEY_free(k);
		return failf(which, PKCS11_ERR_KEY, why, len,
			     "key \"%s\": the token holds no public key or certificate with the same id"
			     " (import the certificate with the key's id)", shown);
	}
	e = ERR_peek_last_error();
	if (ckr_pin(e))
		return failf(which, pin_file ? PKCS11_ERR_PIN_FILE : PKCS11_ERR_KEY, why, len,
			     "wrong PIN for \"%s\" (%s)", shown, ERR_reason_error_string(e));
	if (ERR_GET_LIB(e) == ERR_LIB_UI)
		return failf(which, PKCS11_ERR_KEY, why, len,
			     "the token of \"%s\" needs a PIN: none given (pin_file, or pin-value in the URI)",
			     shown);
	if (reason_is(e, "pkcs11 engine", "invalid id"))
		return failf(which, PKCS11_ERR_KEY, why, len, "\"%s\" is not a valid PKCS#11 URI (RFC 7512)",
			     shown);
	*which = PKCS11_ERR_KEY;
	if (reason_is(e, "pkcs11 engine", "object not found")) {
		probe_tokens(g, uri, shown, why, len);
		return NULL;
	}
	r = e ? ERR_reason_error_string(e) : NULL;
	if (!r && e)
		snprintf(rbuf, sizeof rbuf, "OpenSSL error %08lx", e);
	return failf(which, PKCS11_ERR_KEY, why, len, "cannot load key \"%s\" from the token: %s", shown,
		     r ? r : e ? rbuf : "no reason given");
}

EVP_PKEY *pkcs11_load_key(const char *uri, const char *module, const char *pin_file,
			  enum pkcs11_err *which, char *why, size_t whylen)
{
	EVP_PKEY *k;

	pthread_mutex_lock(&lock);
	k = load_locked(uri, module, pin_file, which, why, whylen);
	pthread_mutex_unlock(&lock);
	return k;
}
