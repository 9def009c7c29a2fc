/*
 * test_slog.c - the SMTP log ring (dataplane/smtp/slog.c): lines of a
 * bound thread wait in the ring until slog_drain() writes them, in order,
 * with their daemon and session key; a full ring drops and counts, and
 * the count is logged ahead of the next line once there is room; an
 * unbound thread writes at once; session keys are unique and never 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/smtp/slog.h"

static int failures, passes;
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); failures++; } \
		      else passes++; } while (0)

#define MAXL 4096
static char lines[MAXL][SLOG_TEXT_MAX + 64];
static unsigned nlines;

static void capture(enum slog_daemon d, unsigned key, int64_t sec, const char *text, size_t len)
{
	static const char *const names[] = { "smtpd", "qmgr", "smtp" };

	if (nlines < MAXL)
		snprintf(lines[nlines++], sizeof(lines[0]), "%s[%u]%s: %.*s", names[d], key, sec > 0 ? "" : "?",
			 (int)len, text);
}

int main(void)
{
	uint64_t dropped = 0;
	struct slog_ring *r;
	unsigned i, n, kept;
	char want[64];

	slog_set_writer(capture);

	/* unbound: at once */
	slog(7, "connect from unknown[%s]", "198.18.0.1");
	CHECK(nlines == 1 && strcmp(lines[0], "smtpd[7]: connect from unknown[198.18.0.1]") == 0);

	/* bound: nothing until drained, then in order with daemon and key */
	r = slog_ring_new(4096, &dropped);
	CHECK(r != NULL);
	CHECK(slog_ring_new(4000, &dropped) == NULL);   /* not a power of two */
	slog_bind(r);
	nlines = 0;
	slogd(SLOG_QMGR, 3, "Q1: from=<a@b>, size=%d, nrcpt=1 (queue active)", 10);
	slogd(SLOG_SMTP, 3, "Q1: to=<c@d>, status=sent");
	CHECK(nlines == 0);
	CHECK(slog_drain() == 2);
	CHECK(nlines == 2);
	CHECK(strcmp(lines[0], "qmgr[3]: Q1: from=<a@b>, size=10, nrcpt=1 (queue active)") == 0);
	CHECK(strcmp(lines[1], "smtp[3]: Q1: to=<c@d>, status=sent") == 0);
	CHECK(slog_drain() == 0);

	/* full: 100-byte texts take 120 bytes each, 34 fit in 4096; the rest are dropped and counted */
	nlines = 0;
	for (i = 0; i < 50; i++)
		slog(9, "line %02u %.*s", i, 92, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	kept = 4096 / 120;
	CHECK(dropped == 50 - kept);
	n = slog_drain();
	CHECK(n == kept);
	for (i = 0; i < kept && i < nlines; i++) {
		snprintf(want, sizeof(want), "smtpd[9]: line %02u ", i);
		CHECK(strncmp(lines[i], want, strlen(want)) == 0);
	}

	/* room again: the count first, then the line; counted once */
	nlines = 0;
	slog(9, "after");
	CHECK(slog_drain() == 2);
	snprintf(want, sizeof(want), "warning: %u log lines dropped: log ring full", 50 - kept);
	CHECK(nlines == 2 && strstr(lines[0], want) != NULL);
	CHECK(nlines == 2 && strcmp(lines[1], "smtpd[9]: after") == 0);
	slog(9, "again");
	CHECK(slog_drain() == 1);
	CHECK(dropped == 50 - kept);

	/* long lines are cut, not lost; a line wraps around the ring's end intact */
	nlines = 0;
	{
		char big[3000];

		memset(big, 'y', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		for (i = 0; i < 9; i++) {
			slog(1, "%s", big);
			CHECK(slog_drain() == 1);
			CHECK(strlen(lines[nlines - 1]) == strlen("smtpd[1]: ") + SLOG_TEXT_MAX - 1);
		}
	}

	/* freeing writes what is left */
	nlines = 0;
	slog(4, "last words");
	slog_ring_free(r);
	CHECK(nlines == 1 && strcmp(lines[0], "smtpd[4]: last words") == 0);
	slog(4, "unbound again");
	CHECK(nlines == 2);

	/* session keys: unique, never 0 */
	{
		unsigned a = slog_session_key(), b = slog_session_key();

		CHECK(a != 0 && b != 0 && a != b);
	}
	printf("test_slog: %d passed, %d failed\n", passes, failures);
	return failures != 0;
}
