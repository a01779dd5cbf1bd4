/* tests/unit/test_pkcs11.c — the PKCS#11 URI helpers of policy/pkcs11.c
 * that decide what a message may show: a pin-value never appears, control
 * characters never reach a log line; and which keys are URIs at all.
 * (Loading keys from a token is tests/interop/pkcs11.sh.) */
#include <stdio.h>
#include <string.h>

#include "policy/pkcs11.h"
#include "tests/unit/unit.h"

static const char *shown(const char *uri)
{
	static char buf[200];

	pkcs11_uri_printable(uri, buf, sizeof buf);
	return buf;
}

int main(void)
{
	UNIT_CASE("pkcs11: URIs are recognised in any case, files are not") {
		EXPECT(pkcs11_is_uri("pkcs11:token=a"));
		EXPECT(pkcs11_is_uri("PKCS11:token=a"));
		EXPECT(!pkcs11_is_uri("/etc/tlsshim/pkcs11:key"));
		EXPECT(!pkcs11_is_uri("pkcs11"));
		EXPECT(!pkcs11_is_uri(NULL));
	}
	UNIT_CASE("pkcs11: pin-value in the path or the query is found") {
		EXPECT(pkcs11_uri_has_pin("pkcs11:token=a;object=k;pin-value=1234"));
		EXPECT(pkcs11_uri_has_pin("pkcs11:token=a;object=k?pin-value=1234"));
		EXPECT(pkcs11_uri_has_pin("pkcs11:token=a?module-path=/x.so&pin-value=1234"));
		EXPECT(!pkcs11_uri_has_pin("pkcs11:token=pin-value;object=k"));
		EXPECT(!pkcs11_uri_has_pin("pkcs11:token=a;object=xpin-value=1"));
	}
	UNIT_CASE("pkcs11: a pin-value is shown as ***, the rest as written") {
		EXPECT_STR(shown("pkcs11:token=a;object=k;pin-value=1234"), "pkcs11:token=a;object=k;pin-value=***");
		EXPECT_STR(shown("pkcs11:token=a;object=k?pin-value=1234&x=y"), "pkcs11:token=a;object=k?pin-value=***&x=y");
		EXPECT_STR(shown("pkcs11:pin-value=secret;token=a"), "pkcs11:pin-value=***;token=a");
		EXPECT_STR(shown("pkcs11:token=a%20b;object=k"), "pkcs11:token=a%20b;object=k");
	}
	UNIT_CASE("pkcs11: control characters never reach a message") {
		EXPECT_STR(shown("pkcs11:token=a\nforged line"), "pkcs11:token=a?forged line");
		EXPECT_STR(shown("pkcs11:token=\x1b[31m"), "pkcs11:token=?[31m");
	}
	UNIT_CASE("pkcs11: a short buffer is cut, never the PIN shown") {
		char small[30];

		pkcs11_uri_printable("pkcs11:token=abcdefghij;pin-value=0123456789abcdef", small, sizeof small);
		EXPECT(strlen(small) < sizeof small);
		EXPECT(!strstr(small, "0123"));
	}
	return UNIT_RESULT();
}
