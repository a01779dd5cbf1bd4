/* tests/unit/test_sni.c — which certificate group serves a client's SNI
 * (policy/sni.c: sni_pick): exact names first, case-insensitively, then
 * "*.suffix" names for exactly one more label; -1 when none matches (the
 * first group's, or with sni_strict an unrecognized_name alert). */
#include <stdio.h>
#include <string.h>

#include "policy/sni.h"
#include "tests/unit/unit.h"

static char *g0[] = { "a.test", "b.test" };
static char *g1[] = { "*.example.com", "www.example.org" };
static char *g2[] = { "host.example.com" };

static struct policy_sni_group groups[] = {
	{ .names = g0, .nnames = 2 },
	{ .names = g1, .nnames = 2 },
	{ .names = g2, .nnames = 1 },
};
static const struct policy_sni sni = { .groups = groups, .ngroups = 3 };

static const struct {
	const char *name, *sni;
	int want;
} cases[] = {
	{ "sni_pick_exact", "b.test", 0 },
	{ "sni_pick_exact_any_case", "WWW.Example.ORG", 1 },
	{ "sni_pick_wildcard_one_label", "a.example.com", 1 },
	{ "sni_pick_wildcard_any_case", "A.EXAMPLE.COM", 1 },
	/* An exact name in a later group wins over an earlier wildcard. */
	{ "sni_pick_exact_before_wildcard", "host.example.com", 2 },
	/* "*" stands for one label: not two, not none, not an empty one. */
	{ "sni_pick_wildcard_not_two_labels", "a.b.example.com", -1 },
	{ "sni_pick_wildcard_not_two_labels_exact_suffix", "x.host.example.com", -1 },
	{ "sni_pick_wildcard_not_the_suffix", "example.com", -1 },
	{ "sni_pick_wildcard_not_empty_label", ".example.com", -1 },
	{ "sni_pick_wildcard_not_glued", "aexample.com", -1 },
	{ "sni_pick_wildcard_not_a_prefix", "a.example.com.evil", -1 },
	{ "sni_pick_unknown", "c.test", -1 },
	{ "sni_pick_literal_star_only_as_itself", "*.example.com", 1 },
	{ "sni_pick_empty", "", -1 },
	{ "sni_pick_none", NULL, -1 },
};

int main(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		UNIT_CASE(cases[i].name) {
			int got = sni_pick(&sni, cases[i].sni);

			EXPECT(got == cases[i].want);
			if (got != cases[i].want)
				printf("  (sni \"%s\": group %d, want %d)\n",
				       cases[i].sni ? cases[i].sni : "(null)", got, cases[i].want);
		}
	return UNIT_RESULT();
}
