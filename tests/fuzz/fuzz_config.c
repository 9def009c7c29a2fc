/*
 * fuzz_config.c - libFuzzer target for the configuration parser
 * (common/config.c).
 *
 * Input: configuration text (up to its first NUL, as a file would be read
 * as text). Asserted:
 *  - the string reader (cfg_parse) and the file reader (cfg_load, on a
 *    memfd with the same bytes) agree: same verdict, same configuration
 *    (path aside), and an error of the form "NAME:..." that says why;
 *  - the parser sets every field itself: a structure filled with 0x00 and
 *    one filled with 0xa5 before parsing come out identical;
 *  - appending a comment line changes nothing;
 *  - an accepted configuration is within its documented bounds (ports,
 *    workers, backends and their families, TLS version, strings
 *    terminated within their arrays).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "common/config.h"
#include "tests/fuzz/fuzz.h"

#define TEXT_MAX (1 << 16)

static struct mx_config c1, c2, c3;

/* Is a fixed string field terminated within its array? */
#define TERMINATED(f) (memchr((f), '\0', sizeof(f)) != NULL)

/* An accepted configuration must be within bounds. */
static void check_bounds(const struct mx_config *c)
{
	unsigned i;

	FUZZ_ASSERT(c->nports <= CFG_MAX_PORTS && c->nworkers <= CFG_MAX_WORKERS);
	FUZZ_ASSERT(c->nbackends <= CFG_MAX_BACKENDS);
	for (i = 0; i < c->nports; i++) {
		FUZZ_ASSERT(c->ports[i].role == CFG_ROLE_OUTSIDE || c->ports[i].role == CFG_ROLE_INSIDE);
		FUZZ_ASSERT(TERMINATED(c->ports[i].dev) && c->ports[i].dev[0] != '\0');
		FUZZ_ASSERT(!c->ports[i].has_ip4 || c->ports[i].ip4_plen <= 32);
		FUZZ_ASSERT(!c->ports[i].has_ip6 || c->ports[i].ip6_prefix <= 128);
	}
	for (i = 0; i < c->nbackends; i++)
		FUZZ_ASSERT((c->backends[i].family == 4 || c->backends[i].family == 6) && c->backends[i].port != 0);
	FUZZ_ASSERT(c->tls_min_version == 0x0303 || c->tls_min_version == 0x0304);
	FUZZ_ASSERT(TERMINATED(c->hostname) && TERMINATED(c->stats_file) && TERMINATED(c->tls_cert_file) &&
		    TERMINATED(c->tls_key_file) && TERMINATED(c->tls_ca_file) && TERMINATED(c->tls_ca_dir) &&
		    TERMINATED(c->tls_crl_file) && TERMINATED(c->tls_ciphers) && TERMINATED(c->tls_groups) &&
		    TERMINATED(c->access_file) && TERMINATED(c->control_socket) &&
		    TERMINATED(c->redis_server) && TERMINATED(c->redis_user) &&
		    TERMINATED(c->redis_password) && TERMINATED(c->redis_prefix) &&
		    TERMINATED(c->metrics_listen) && TERMINATED(c->appliance_id));
}

/* The two configurations are the same, their path fields aside. */
static void same(struct mx_config *a, struct mx_config *b)
{
	memset(a->path, 0, sizeof(a->path));
	memset(b->path, 0, sizeof(b->path));
	FUZZ_ASSERT(memcmp(a, b, sizeof(*a)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A key set twice: a one-line warning naming the earlier line. */
static void on_warning(void *arg, const char *msg)
{
	(void)arg;
	FUZZ_ASSERT(strchr(msg, '\n') == NULL && strstr(msg, ": warning: key ") != NULL &&
		    strstr(msg, " also set at line ") != NULL);
}

/* One input: see the file comment. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char text[TEXT_MAX + 16];
	char err1[512] = "", err2[512] = "", err3[512] = "", path[64];
	const uint8_t *nul = memchr(data, '\0', size);
	size_t n = nul ? (size_t)(nul - data) : size;
	int rc1, rc2, rc3, fd;

	cfg_set_warn(on_warning, NULL);
	if (n > TEXT_MAX)
		n = TEXT_MAX;
	memcpy(text, data, n);
	text[n] = '\0';

	memset(&c1, 0, sizeof(c1));
	rc1 = cfg_parse("fuzz", text, &c1, err1, sizeof(err1));
	FUZZ_ASSERT(rc1 == 0 || rc1 == -1);
	if (rc1 != 0)
		FUZZ_ASSERT(strncmp(err1, "fuzz", 4) == 0 && strlen(err1) > 5);
	else
		check_bounds(&c1);

	/* the same text through the file reader, into a structure full of junk */
	fd = memfd_create("fuzz_config", MFD_CLOEXEC);
	FUZZ_ASSERT(fd >= 0);
	FUZZ_ASSERT(write(fd, text, n) == (ssize_t)n);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	memset(&c2, 0xa5, sizeof(c2));
	rc2 = cfg_load(path, &c2, err2, sizeof(err2));
	close(fd);
	FUZZ_ASSERT(rc1 == rc2);
	if (rc2 != 0)
		FUZZ_ASSERT(strncmp(err2, path, strlen(path)) == 0 && strlen(err2) > strlen(path) + 1);
	else
		same(&c1, &c2);

	/* a comment at the end changes nothing */
	if (n + 12 < sizeof(text)) {
		memcpy(text + n, "\n# comment\n", 12);
		memset(&c3, 0, sizeof(c3));
		rc3 = cfg_parse("fuzz", text, &c3, err3, sizeof(err3));
		FUZZ_ASSERT(rc3 == rc1);
		if (rc3 == 0)
			same(&c1, &c3);
	}
	return 0;
}
