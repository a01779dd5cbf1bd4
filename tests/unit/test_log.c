/* tests/unit/test_log.c — the rate limit of error and warn lines
 * (core/log.c, TLSSHIM_LOG_LIMIT): a burst, then N lines per interval, per
 * kind; the first line of a kind never suppressed; one "N similar lines
 * suppressed" line when a kind resumes; info lines never limited; the
 * limit shared with forked children.  Each case runs in a child process of
 * its own (log_init reads the environment once) that logs to a file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "tests/unit/unit.h"

static char path[64];
static char text[65536];

/* Run body in a child with TLSSHIM_LOG_LIMIT=limit (NULL: unset), the
 * log going to a fresh file; the file's text is left in text. */
static void run(const char *limit, void (*body)(void))
{
	pid_t pid;
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "/tmp/tlsshim-test-log.%d", (int)getpid());
	unlink(path);
	pid = fork();
	if (pid == 0) {
		setenv("TLSSHIM_LOG_FILE", path, 1);
		setenv("TLSSHIM_LOG", "info", 1);
		if (limit)
			setenv("TLSSHIM_LOG_LIMIT", limit, 1);
		else
			unsetenv("TLSSHIM_LOG_LIMIT");
		log_init(NULL);
		body();
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	text[0] = 0;
	if ((f = fopen(path, "r"))) {
		n = fread(text, 1, sizeof text - 1, f);
		text[n] = 0;
		fclose(f);
	}
	unlink(path);
}

static int count(const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void ten_of_one_site(void)
{
	for (int i = 0; i < 10; i++)
		log_msg(LOG_WARN, "site A line %d", i);
}

static void kinds(void)
{
	/* One call site, two rules, three classes of reason; digits and the
	 * text after the first ':' make no new kind. */
	for (int i = 0; i < 5; i++) {
		log_msg_kind(LOG_WARN, "r1", "handshake failed: x", "r1 hs %d", i);
		log_msg_kind(LOG_WARN, "r1", "handshake failed: y", "r1 hs %d", i);
		log_msg_kind(LOG_WARN, "r2", "handshake failed: x", "r2 hs %d", i);
		log_msg_kind(LOG_WARN, "r1", "certificate verification failed: z", "r1 verify %d", i);
		log_msg_kind(LOG_WARN, "r1", i % 2 ? "process 123 owns it" : "process 4567 owns it",
			     "r1 owner %d", i);
	}
}

static void info_and_error(void)
{
	for (int i = 0; i < 10; i++)
		log_msg(LOG_INFO, "info line %d", i);
	for (int i = 0; i < 10; i++)
		log_msg(LOG_ERROR, "error line %d", i);
}

static void resumes(void)
{
	for (int i = 0; i < 7; i++)
		log_msg(LOG_WARN, "resume line %d", i);
	usleep(1100 * 1000);   /* the limit: one line a second after the burst */
	log_msg(LOG_WARN, "resume line %d", 99);
}

static void fork_line(const char *who)
{
	log_msg(LOG_WARN, "fork line %s", who);   /* one call site: one kind */
}

static void forked(void)
{
	pid_t pid;

	fork_line("parent");
	pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 5; i++)
			fork_line("child");
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	fork_line("parent");
}

static void bad_value(void)
{
	for (int i = 0; i < 120; i++)
		log_msg(LOG_WARN, "default line %d", i);
}

/* A name of letters only (digits make no kind): n in base 26. */
static void letters(char *out, unsigned n)
{
	for (int i = 0; i < 3; i++, n /= 26)
		out[i] = (char)('a' + n % 26);
	out[3] = 0;
}

static void peer_names(void)
{
	char name[4], why[128];

	/* A client sends 300 server names sni_strict refuses (each three
	 * times); the quoted name is the peer's: no kind of its own. */
	for (unsigned i = 0; i < 300; i++) {
		letters(name, i);
		snprintf(why, sizeof why, "unknown server name \"%s\" refused (sni_strict: no certificate)",
			 name);
		for (int j = 0; j < 3; j++)
			log_msg_kind(LOG_WARN, "srv", why, "sni refused %s", why);
	}
	log_msg_kind(LOG_WARN, "other", "certificate verification failed: x", "first of a new kind");
}

static void idle_slots(void)
{
	char rule[4];

	/* 250 kinds, a line each (the table nearly full), all idle a second
	 * later: 30 new kinds take their slots, each its first line. */
	for (unsigned i = 0; i < 250; i++) {
		letters(rule, i);
		log_msg_kind(LOG_WARN, rule, "handshake failed: x", "old kind %s", rule);
	}
	usleep(1100 * 1000);
	for (unsigned i = 300; i < 330; i++) {
		letters(rule, i);
		log_msg_kind(LOG_WARN, rule, "handshake failed: x", "new kind %s", rule);
	}
}

int main(void)
{
	UNIT_CASE("log_limit_burst_per_call_site") {
		run("3,1/3600", ten_of_one_site);
		EXPECT(count("site A line") == 3);
		EXPECT(count("site A line 0\n") == 1);
		EXPECT(count("suppressed") == 0);   /* said when the kind resumes */
	}
	UNIT_CASE("log_limit_off") {
		run("off", ten_of_one_site);
		EXPECT(count("site A line") == 10);
	}
	UNIT_CASE("log_limit_default_is_off") {
		run(NULL, bad_value);
		EXPECT(count("default line") == 120);
	}
	UNIT_CASE("log_limit_bad_value_said_every_line_logged") {
		run("3,1/0", bad_value);
		EXPECT(count("TLSSHIM_LOG_LIMIT=\"3,1/0\" is not") == 1);
		EXPECT(count("default line") == 120);
	}
	UNIT_CASE("log_limit_kinds_rule_and_reason_class") {
		run("2,1/3600", kinds);
		EXPECT(count("r1 hs") == 2);        /* x and y: one class */
		EXPECT(count("r2 hs") == 2);        /* another rule */
		EXPECT(count("r1 verify") == 2);    /* another class */
		EXPECT(count("r1 verify 0\n") == 1);
		EXPECT(count("r1 owner") == 2);     /* the pids are not a kind */
	}
	UNIT_CASE("log_limit_info_never_error_too") {
		run("2,1/3600", info_and_error);
		EXPECT(count("info line") == 10);
		EXPECT(count("error line") == 2);
	}
	UNIT_CASE("log_limit_summary_when_a_kind_resumes") {
		run("2,1/1", resumes);
		EXPECT(count("resume line") == 3);
		EXPECT_CONTAINS(text, ": warn: 5 similar lines suppressed (TLSSHIM_LOG_LIMIT); the next line is"
				" of their kind\ntlsshim[");
		EXPECT(strstr(text, "suppressed") < strstr(text, "resume line 99"));
	}
	UNIT_CASE("log_limit_shared_with_forked_children") {
		run("3,1/3600", forked);
		EXPECT(count("fork line parent") == 1);
		EXPECT(count("fork line child") == 2);
	}
	UNIT_CASE("log_limit_peer_text_makes_no_kind") {
		run("2,1/3600", peer_names);
		EXPECT(count("sni refused") == 2);          /* one kind, its burst */
		EXPECT(count("first of a new kind\n") == 1);
	}
	UNIT_CASE("log_limit_idle_slot_taken_by_a_new_kind") {
		run("2,1/1", idle_slots);
		EXPECT(count("new kind") == 30);
	}
	return UNIT_RESULT();
}
