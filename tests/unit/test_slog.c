/*
 * test_slog.c - the SMTP log ring (dataplane/smtp/slog.c): lines of a
 * bound thread wait in the ring until slog_drain() writes them, in order,
 * with their daemon and session key; a full ring drops and counts, and
 * the count is logged ahead of the next line once there is room; an
 * unbound thread writes at once; session keys are unique and never 0;
 * queue IDs; and the syslog path itself: in a private mount namespace
 * with its own /dev (root, or an unprivileged user namespace; skipped
 * when neither is allowed), a datagram socket at /dev/log receives what
 * syslog(3) sends: facility mail, ident "postfix/<daemon>[<key>]", no pid.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>

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

/* A logger at /dev/log that reads nothing until asked; its socket, or -1. */
static int logger(int rcvbuf)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = "/dev/log" };
	struct timeval tv = { 5, 0 };
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	unlink("/dev/log");
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/*
 * A logger whose queue is full: the lines stay in the worker's ring (the
 * drain stops, nothing is dropped or counted), and once the logger reads,
 * the next drains deliver every line, in order.
 */
static int syslog_full(void)
{
	uint64_t dropped = 0;
	struct slog_ring *r = slog_ring_new(256 * 1024, &dropped);
	int fd = logger(4096), sent = 3000, i, got = 0, inorder = 1;
	unsigned drained = 0, rounds;
	char buf[2048];

	if (r == NULL || fd < 0)
		return 0;
	slog_open(1, LOG_MAIL, "postfix", "mx.test");   /* a new socket: connects to the new logger */
	slog_bind(r);
	for (i = 0; i < sent; i++)
		slog(5, "queued line %04d", i);
	slog_bind(NULL);
	drained = slog_drain();
	CHECK(drained > 0 && drained < (unsigned)sent);       /* stopped at the full queue */
	CHECK(dropped == 0);
	for (rounds = 0; rounds < 1000 && got < sent; rounds++) {
		ssize_t n;
		char want[32];

		while ((n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
			buf[n] = '\0';
			snprintf(want, sizeof(want), "queued line %04d", got);
			inorder &= strstr(buf, want) != NULL;
			got++;
		}
		drained += slog_drain();
	}
	CHECK(got == sent && drained == (unsigned)sent && inorder);
	CHECK(dropped == 0);
	close(fd);
	slog_ring_free(r);
	return 1;
}

/*
 * No logger: lines are dropped and counted, without a connect per line;
 * a logger that comes back gets the lines written after its return (a
 * connect is tried once a second).
 */
static int syslog_gone(void)
{
	uint64_t dropped = 0;
	struct slog_ring *r = slog_ring_new(4096, &dropped);
	char buf[512];
	int fd, i;
	ssize_t n;

	unlink("/dev/log");
	if (r == NULL)
		return 0;
	slog_open(1, LOG_MAIL, "postfix", "mx.test");
	slog_bind(r);
	for (i = 0; i < 10; i++)
		slog(6, "into the void %d", i);
	slog_bind(NULL);
	CHECK(slog_drain() == 10);
	CHECK(dropped == 10);
	if ((fd = logger(65536)) < 0)
		return 0;
	sleep(2);                                             /* past the one-second retry */
	slog_bind(r);
	slog(6, "heard again");
	slog_bind(NULL);
	CHECK(slog_drain() == 1);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	CHECK(strstr(buf, " postfix/smtpd[6]: heard again") != NULL);
	CHECK(dropped == 10);
	close(fd);
	slog_ring_free(r);
	return 1;
}

/* The syslog path, for real: what reaches /dev/log. Returns 0 when it could not be set up (skipped). */
static int syslog_path(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char got[3][512];
	int fd, i;
	struct timeval tv = { 5, 0 };

	if (unshare(CLONE_NEWNS) != 0 && unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
		return 0;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("none", "/dev", "tmpfs", 0, NULL) != 0)
		return 0;
	strcpy(sa.sun_path, "/dev/log");
	if ((fd = socket(AF_UNIX, SOCK_DGRAM, 0)) < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	slog_set_writer(NULL);
	slog_open(1, LOG_MAIL, "postfix", "mx.test");
	slog(42, "connect from unknown[%s]", "198.18.0.1");
	slogd(SLOG_QMGR, 42, "4Q: from=<a@b>, size=1, nrcpt=1 (queue active)");
	slog(42, "warning: unknown[198.18.0.1]: SASL PLAIN authentication failed: authentication failure");
	for (i = 0; i < 3; i++) {
		ssize_t n = recv(fd, got[i], sizeof(got[i]) - 1, 0);

		got[i][n > 0 ? n : 0] = '\0';
	}
	close(fd);
	unlink("/dev/log");
	/* "<22>" is mail.info, "<20>" mail.warning; the date follows, then the ident */
	CHECK(strncmp(got[0], "<22>", 4) == 0 && strstr(got[0], " postfix/smtpd[42]: connect from unknown[198.18.0.1]") != NULL);
	CHECK(strncmp(got[1], "<22>", 4) == 0 && strstr(got[1], " postfix/qmgr[42]: 4Q: from=<a@b>, size=1,") != NULL);
	CHECK(strncmp(got[2], "<20>", 4) == 0 && strstr(got[2], " postfix/smtpd[42]: warning: unknown[198.18.0.1]: SASL") != NULL);
	return syslog_full() && syslog_gone();
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

	/* queue IDs: Postfix's long form and alphabet, unique across fast calls, workers and restarts */
	{
		static const char alphabet[] = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz";
		struct slog_qid g = { .worker = 3 }, g2 = { .worker = 3 }, h = { .worker = 60 };
		static char ids[3000][SLOG_QID_MAX];
		char id[SLOG_QID_MAX];
		unsigned j, dup = 0, bad = 0;

		CHECK(strlen(alphabet) == 52);
		slog_queue_id_at(&g, 52ull * 1000000 + 53, id);          /* 52 s = "10", 53 us = "11" */
		CHECK(strcmp(id, "0000100011z3") == 0);
		slog_queue_id_at(&g, 0, id);                             /* the clock went back: time moves on */
		CHECK(strcmp(id, "0000100012z3") == 0);
		slog_queue_id_at(&h, 1700000000ull * 1000000 + 999999, id);
		CHECK(strcmp(id + strlen(id) - 3, "z19") == 0);         /* worker 60 in base 51 */
		CHECK(strlen(id) == 6 + 4 + 1 + 2);
		for (i = 0; i < 2000; i++)
			slog_queue_id(&g2, ids[i]);                         /* faster than the clock ticks */
		for (i = 0; i < 1000; i++)
			slog_queue_id(&h, ids[2000 + i]);                   /* another worker, same times */
		for (i = 0; i < 3000; i++) {
			const char *z = strrchr(ids[i], 'z');

			if (z == NULL || z - ids[i] < 10 || strspn(ids[i], alphabet) != strlen(ids[i]) ||
			    strchr(z + 1, 'z') != NULL)
				bad++;
			for (j = 0; j < i; j++)
				if (strcmp(ids[i], ids[j]) == 0)
					dup++;
		}
		CHECK(bad == 0);
		CHECK(dup == 0);
		/* a restart: a new generator of the same worker, later on the clock, never repeats one */
		{
			struct slog_qid before = { .worker = 3 }, after = { .worker = 3 };
			uint64_t t = 1700000000ull * 1000000;

			for (i = 0; i < 2000; i++)
				slog_queue_id_at(&before, t, ids[i]);    /* a burst in one microsecond */
			CHECK(strcmp(ids[0], ids[1]) < 0);               /* the alphabet sorts as ASCII */
			slog_queue_id_at(&after, t + 1000000, id);       /* started again a second later */
			for (i = 0, dup = 0; i < 2000; i++)
				dup += strcmp(id, ids[i]) == 0;
			CHECK(dup == 0);
			CHECK(strcmp(id, ids[1999]) > 0);
		}
	}

	/* session keys: unique, never 0 */
	{
		unsigned a = slog_session_key(), b = slog_session_key();

		CHECK(a != 0 && b != 0 && a != b);
	}
	if (!syslog_path())
		printf("test_slog: note: syslog path skipped (no private mount namespace allowed)\n");
	printf("test_slog: %d passed, %d failed\n", passes, failures);
	return failures != 0;
}
