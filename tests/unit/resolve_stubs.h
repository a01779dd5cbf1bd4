/* tests/unit/resolve_stubs.h — what shim/resolve.c needs of the rest of
 * the shim, for a program that includes resolve.c whole (its helpers are
 * static): tests/unit/test_dnsparse.c and tests/fuzz/fuzz_dnsanswer.c.
 * Include it once, after "shim/resolve.c".  None of these is reached by
 * the DNS answer parser; resolve_stubs_policy is the policy it reads
 * (shim_policy): the includer sets has[POLICY_CONNECT], or nothing is
 * learned. */
#ifndef TLSSHIM_TESTS_RESOLVE_STUBS_H
#define TLSSHIM_TESTS_RESOLVE_STUBS_H

struct real_fns real;
bool real_ready = true;
void real_init(void)
{
}
static struct policy resolve_stubs_policy;
const struct policy *shim_policy = &resolve_stubs_policy;
bool shim_lookup_refused_at(const char *node, const char *call, const void *frame)
{
	(void)node;
	(void)call;
	(void)frame;
	return false;
}
void shim_lookup_begin(const void *frame)
{
	(void)frame;
}
void shim_lookup_end(void)
{
}

#endif
