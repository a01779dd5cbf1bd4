/* policy/asn1time.h — an ASN.1 time (a certificate's notAfter, a CRL's
 * nextUpdate, an OCSP response's thisUpdate and nextUpdate) in seconds
 * since the epoch. */
#ifndef TLSSHIM_POLICY_ASN1TIME_H
#define TLSSHIM_POLICY_ASN1TIME_H

#include <time.h>
#include <openssl/asn1.h>

/* 0 when absent or unreadable. */
static inline time_t policy_asn1_time(const ASN1_TIME *t)
{
	struct tm tm;

	if (!t || !ASN1_TIME_to_tm(t, &tm))
		return 0;
	return timegm(&tm);
}

#endif
