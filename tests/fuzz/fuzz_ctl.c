/*
 * fuzz_ctl.c - libFuzzer target for control-socket frames: the framing
 * (common/ctl.c) and mxgate's own request handling (dataplane/service.c,
 * included here whole so that its static serve() and certs_to_tls() are
 * reached as they are; no worker, no EAL: nworkers is 0 and the RCU
 * variable has no reader).
 *
 * Input: records, each one frame on one control connection:
 *   byte  op:    low nibble the type (SET_POLICY, SET_USERS, SET_CERTS,
 *                SET_TICKET_KEYS, DRAIN, RESUME, OK, ERR, DATA, SET_GENERATION
 *                (10), and unknown types 0, 200), high nibble the kind:
 *                0-11 a well-formed frame, 12 a header one byte (or more)
 *                over the type's bound, 13 a bad version, 14 a frame cut
 *                short (the client hangs up), 15 a well-formed frame again
 *   u16   len:   payload length (cut to what the input still has)
 *   len bytes:   the payload
 * A refused or cut frame closes the connection; the next record opens
 * another. STATUS, STATS and SESSIONS carry no payload and need worker
 * contexts: they are sent only as oversized or bad-version frames (refused
 * before dispatch); their answers are not fuzzed.
 *
 * Asserted, per frame:
 *  - framing: ctl_send() + ctl_recv() give the frame back byte for byte,
 *    or both refuse it (EMSGSIZE) when it is over ctl_max_payload();
 *  - the server answers every whole frame with exactly one reply (OK, ERR
 *    or DATA) within the reply bounds; a frame over its bound gets ERR
 *    "frame too large" without its payload being read, is counted once,
 *    and the connection closes; a bad version gets ERR "version";
 *  - SET_POLICY: OK means the map and version in force are the new ones
 *    (the version one printable word) and the reply's entry count is the
 *    snapshot's; ERR leaves the old map and version in place;
 *  - SET_USERS: OK "N users" is the count in force; ERR keeps the old set;
 *  - SET_CERTS: ERR keeps the TLS context in force; the decoder
 *    (common/ctl_payload.c) and certs_to_tls() only ever point inside the
 *    payload, with lengths that fit, at most TLS_MAX_CERTS certificates and
 *    TLS_MAX_SNI - 1 names each; what is decoded, encoded again, decodes
 *    to the same;
 *  - SET_TICKET_KEYS: OK exactly for 96 bytes with a context in force;
 *  - SET_GENERATION: OK exactly for 1..64 printable bytes, then held as sent;
 *  - DRAIN/RESUME set and clear draining; other types get ERR.
 * SET_TICKET_KEYS reaches tls_ctx_set_ticket_keys() only after a SET_CERTS
 * of the same input succeeded (no context is kept from one input to the
 * next). FUZZ_CTL_DUMP=1 prints each request and its reply.
 */
#define _GNU_SOURCE
#include "dataplane/service.c"

#include <rte_rcu_qsbr.h>
#include "common/config.h"
#include "tests/fuzz/fuzz.h"

static struct mx_config fcfg;
static struct service sv;
static int conn[2] = { -1, -1 };        /* [0] mxgate's end, [1] the client's */

static const uint8_t types[16] = {
	CTL_SET_POLICY, CTL_SET_USERS, CTL_SET_CERTS, CTL_SET_TICKET_KEYS, CTL_DRAIN, CTL_RESUME,
	CTL_OK, CTL_ERR, CTL_DATA, 0, 10, 200, CTL_SET_POLICY, CTL_SET_CERTS, CTL_SET_USERS,
	CTL_SET_CERTS,
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The service as mxgate's main sets it up, without workers. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char conf[] = "hostname = mx.fuzz.example\noutside_device = net_tap0\n"
				   "outside_ipv4 = 198.18.0.2/24\n";
	struct auth_cfg ac = { .fail_delay_ms = 1000, .fail_limit = 5, .fail_window_s = 300, .queue_max = 64 };
	char err[256];

	(void)argc;
	(void)argv;
	FUZZ_ASSERT(cfg_parse("fuzz", conf, &fcfg, err, sizeof(err)) == 0);
	sv.cfg = &fcfg;
	sv.nworkers = 0;
	sv.listen_fd = -1;
	sv.auth = auth_service_new(&ac, 1);
	sv.rcu = calloc(1, rte_rcu_qsbr_get_memsize(1));
	FUZZ_ASSERT(sv.auth != NULL && sv.rcu != NULL && rte_rcu_qsbr_init(sv.rcu, 1) == 0);
	/* mxgate's log lines ("mxgate: policy refused ...") would flood the output */
	stderr = fopen("/dev/null", "w");
	return 0;
}

/* Back to a fresh service: no map, no certificates, no users, not draining. */
static void reset(void)
{
	char msg[64];

	pol_snapshot_free(sv.pol);
	sv.pol = NULL;
	free(sv.pol_pushed);
	sv.pol_pushed = NULL;
	sv.pol_version[0] = '\0';
	tls_ctx_free(sv.tls);
	sv.tls = NULL;
	sv.certs_in_force[0] = '\0';
	trust_in_force[0] = '\0';
	sv.draining = sv.tickets_from_control = 0;
	FUZZ_ASSERT(auth_set_users(sv.auth, "", 0, msg, sizeof(msg)) == 0);
}

/* A new control connection (the old one closed). */
static void reconnect(void)
{
	if (conn[0] >= 0) {
		close(conn[0]);
		close(conn[1]);
	}
	FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, conn) == 0);
}

/* Write a frame header with a declared payload length. */
static void put_header(uint32_t payload, uint8_t version, uint8_t type)
{
	uint8_t h[6];
	uint32_t l = payload + 2;

	h[0] = (uint8_t)(l >> 24);
	h[1] = (uint8_t)(l >> 16);
	h[2] = (uint8_t)(l >> 8);
	h[3] = (uint8_t)l;
	h[4] = version;
	h[5] = type;
	FUZZ_ASSERT(write(conn[1], h, 6) == 6);
}

/* The server's reply, if it wrote one: 1 and *m, or 0. */
static int reply(struct ctl_msg *m)
{
	char c;

	if (recv(conn[1], &c, 1, MSG_PEEK | MSG_DONTWAIT) != 1)
		return 0;
	FUZZ_ASSERT(ctl_recv(conn[1], m) == 0);
	FUZZ_ASSERT(m->type == CTL_OK || m->type == CTL_ERR || m->type == CTL_DATA);
	FUZZ_ASSERT(m->len <= ctl_max_payload(m->type));
	return 1;
}

/* The frame survives ctl_send() + ctl_recv() unchanged, or both refuse it. */
static void round_trip(uint8_t type, const uint8_t *p, size_t len)
{
	int sp[2];
	struct ctl_msg m;

	FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
	if (len > ctl_max_payload(type)) {
		FUZZ_ASSERT(ctl_send(sp[1], type, p, len) == -1 && errno == EMSGSIZE);
	} else {
		FUZZ_ASSERT(ctl_send(sp[1], type, p, len) == 0);
		FUZZ_ASSERT(ctl_recv(sp[0], &m) == 0);
		FUZZ_ASSERT(m.type == type && m.len == len && m.data[len] == '\0');
		FUZZ_ASSERT(len == 0 || memcmp(m.data, p, len) == 0);
		free(m.data);
	}
	close(sp[0]);
	close(sp[1]);
}

/* Is [q, q + n) inside [base, base + len)? */
static int inside(const void *q, size_t n, const char *base, size_t len)
{
	const char *c = q;

	return c >= base && c <= base + len && n <= (size_t)(base + len - c);
}

/* Two decoded SET_CERTS payloads say the same. */
static int same_item(const void *x, size_t xl, const void *y, size_t yl)
{
	return xl == yl && (xl == 0 || memcmp(x, y, xl) == 0);
}

/*
 * The SET_CERTS decoder (common/ctl_payload.c) and service.c's mapping on
 * their own: whatever is accepted points inside the payload, and encoding
 * it again gives a payload that decodes to the same.
 */
static void check_parse_certs(const uint8_t *p, size_t len)
{
	char *buf = malloc(len + 1), names[CERTS_MAX][CERT_NAME_MAX + 1], sni[CERTS_MAX][SNI_FIELD_MAX + 1];
	char err[512] = "", *again;
	struct ctl_certs cc, cc2;
	struct tls_server_cfg tc;
	size_t len2 = 0;
	unsigned i, k;

	FUZZ_ASSERT(buf != NULL);
	memcpy(buf, p, len);
	buf[len] = '\0';
	memset(&tc, 0, sizeof(tc));
	if (ctl_certs_decode(buf, len, &cc, err, sizeof(err)) != 0) {
		FUZZ_ASSERT(err[0] != '\0');
		free(buf);
		return;
	}
	certs_to_tls(&cc, &tc, names, sni);
	FUZZ_ASSERT(tc.ncerts <= TLS_MAX_CERTS);
	for (i = 0; i < tc.ncerts; i++) {
		const struct tls_cert_cfg *c = &tc.certs[i];

		FUZZ_ASSERT(inside(c->chain_pem, c->chain_pem_len, buf, len));
		FUZZ_ASSERT(inside(c->key_pem, c->key_pem_len, buf, len));
		FUZZ_ASSERT(c->ocsp == NULL || (c->ocsp_len > 0 && inside(c->ocsp, c->ocsp_len, buf, len)));
		FUZZ_ASSERT(strlen(names[i]) > 0 && strlen(names[i]) <= CERT_NAME_MAX);
		for (k = 0; k < TLS_MAX_SNI && c->sni[k]; k++)
			FUZZ_ASSERT(k < TLS_MAX_SNI - 1 && c->sni[k][0] != '\0');
	}
	FUZZ_ASSERT(tc.ca_pem == NULL || inside(tc.ca_pem, tc.ca_pem_len, buf, len));
	FUZZ_ASSERT(tc.crl_pem == NULL || inside(tc.crl_pem, tc.crl_pem_len, buf, len));

	/* encoded again: no longer than the input, and decoded to the same */
	FUZZ_ASSERT(ctl_certs_encode(&cc, NULL, &len2, err, sizeof(err)) == 0 && len2 <= len);
	again = malloc(len2 + 1);
	FUZZ_ASSERT(again != NULL);
	FUZZ_ASSERT(ctl_certs_encode(&cc, again, &len2, err, sizeof(err)) == 0);
	FUZZ_ASSERT(ctl_certs_decode(again, len2, &cc2, err, sizeof(err)) == 0 && cc2.n == cc.n);
	for (i = 0; i < cc.n; i++) {
		const struct ctl_cert *x = &cc.cert[i], *y = &cc2.cert[i];

		FUZZ_ASSERT(same_item(x->name, x->name_len, y->name, y->name_len));
		FUZZ_ASSERT(same_item(x->sni, x->sni_len, y->sni, y->sni_len));
		FUZZ_ASSERT(same_item(x->chain, x->chain_len, y->chain, y->chain_len));
		FUZZ_ASSERT(same_item(x->key, x->key_len, y->key, y->key_len));
		FUZZ_ASSERT(same_item(x->ocsp, x->ocsp_len, y->ocsp, y->ocsp_len));
	}
	FUZZ_ASSERT((cc.ca == NULL) == (cc2.ca == NULL) && same_item(cc.ca, cc.ca_len, cc2.ca, cc2.ca_len));
	FUZZ_ASSERT((cc.crl == NULL) == (cc2.crl == NULL) && same_item(cc.crl, cc.crl_len, cc2.crl, cc2.crl_len));
	free(again);
	free(buf);
}

/* One well-formed frame through serve(), and what must follow from the reply. */
static void whole_frame(uint8_t type, const uint8_t *p, size_t len)
{
	struct pol_snapshot *pol0 = sv.pol;
	struct tls_ctx *tls0 = sv.tls;
	char ver0[sizeof(sv.pol_version)];
	uint64_t users0 = auth_service_stats(sv.auth)->auth_users, refused0 = ctl_refused(type);
	struct ctl_msg m;
	int rc;

	memcpy(ver0, sv.pol_version, sizeof(ver0));
	round_trip(type, p, len);
	if (type == CTL_SET_CERTS)
		check_parse_certs(p, len);
	put_header((uint32_t)len, CTL_VERSION, type);
	FUZZ_ASSERT(len == 0 || write(conn[1], p, len) == (ssize_t)len);
	rc = serve(&sv, conn[0]);
	FUZZ_ASSERT(reply(&m) == 1);
	if (len > ctl_max_payload(type)) {
		/* refused from its header: ERR, counted, connection closed */
		FUZZ_ASSERT(rc == -1 && m.type == CTL_ERR && strstr(m.data, "frame too large") != NULL);
		FUZZ_ASSERT(ctl_refused(type) == refused0 + 1);
		free(m.data);
		reconnect();
		return;
	}
	FUZZ_ASSERT(rc == 0 && ctl_refused(type) == refused0);
	if (getenv("FUZZ_CTL_DUMP"))    /* show what a seed does */
		dprintf(2, "%s %zu bytes -> %s %.*s\n", ctl_type_name(type), len, ctl_type_name(m.type),
			(int)m.len, m.data);
	switch (type) {
	case CTL_SET_POLICY:
		if (m.type == CTL_OK) {
			const char *nl = memchr(p, '\n', len);
			char want[160];

			FUZZ_ASSERT(sv.pol != NULL && nl != NULL);
			FUZZ_ASSERT(strlen(sv.pol_version) == (size_t)(nl - (const char *)p) &&
				    memcmp(sv.pol_version, p, (size_t)(nl - (const char *)p)) == 0);
			snprintf(want, sizeof(want), "policy version %s: %zu entries", sv.pol_version,
				 pol_snapshot_count(sv.pol));
			FUZZ_ASSERT(strcmp(m.data, want) == 0);
			for (size_t i = 0; sv.pol_version[i]; i++)   /* one printable word */
				FUZZ_ASSERT(sv.pol_version[i] > 0x20 && sv.pol_version[i] < 0x7f);
		} else {
			FUZZ_ASSERT(m.type == CTL_ERR && m.len > 0);
			FUZZ_ASSERT(sv.pol == pol0 && memcmp(sv.pol_version, ver0, sizeof(ver0)) == 0);
		}
		break;
	case CTL_SET_USERS:
		if (m.type == CTL_OK) {
			unsigned long long n = strtoull(m.data, NULL, 10);

			FUZZ_ASSERT(n == auth_service_stats(sv.auth)->auth_users);
			FUZZ_ASSERT(strstr(m.data, " user") != NULL);
		} else {
			FUZZ_ASSERT(m.type == CTL_ERR && m.len > 0);
			FUZZ_ASSERT(auth_service_stats(sv.auth)->auth_users == users0);
		}
		break;
	case CTL_SET_CERTS:
		if (m.type == CTL_OK)
			FUZZ_ASSERT(sv.tls != NULL && sv.tls != tls0);
		else
			FUZZ_ASSERT(m.type == CTL_ERR && m.len > 0 && sv.tls == tls0);
		break;
	case CTL_SET_TICKET_KEYS:
		FUZZ_ASSERT((m.type == CTL_OK) == (tls0 != NULL && len == 2 * TLS_TICKET_KEY_LEN));
		break;
	case CTL_DRAIN:
	case CTL_RESUME:
		FUZZ_ASSERT(m.type == CTL_OK && sv.draining == (type == CTL_DRAIN));
		break;
	case CTL_SET_GENERATION: {
		size_t i = 0;

		while (i < len && p[i] >= 0x20 && p[i] < 0x7f)
			i++;
		FUZZ_ASSERT((m.type == CTL_OK) == (len > 0 && i == len));
		if (m.type == CTL_OK)
			FUZZ_ASSERT(strlen(sv.generation) == len && memcmp(sv.generation, p, len) == 0);
		break;
	}
	default:
		FUZZ_ASSERT(m.type == CTL_ERR && strcmp(m.data, "unknown request") == 0);
		break;
	}
	free(m.data);
}

/* One input: see the file comment. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };

	reset();
	reconnect();
	while (in.n > 0) {
		uint8_t op = fuzz_u8(&in), type = types[op & 15], kind = op >> 4;
		size_t want = fuzz_u16(&in), len;
		const uint8_t *p = fuzz_bytes(&in, want, &len);
		struct ctl_msg m;
		uint32_t over;
		int rc;

		switch (kind) {
		case 12:        /* over the bound by 1 + a little: refused from the header */
			if (op & 1)
				type = (uint8_t[]){ CTL_STATUS, CTL_STATS, CTL_SESSIONS }[len % 3];
			over = ctl_max_payload(type) + 1 + (uint32_t)(len & 7);
			put_header(over, CTL_VERSION, type);
			if (len)
				FUZZ_ASSERT(write(conn[1], p, len) == (ssize_t)len);
			rc = serve(&sv, conn[0]);
			FUZZ_ASSERT(rc == -1 && reply(&m) == 1 && m.type == CTL_ERR);
			FUZZ_ASSERT(strstr(m.data, "frame too large") != NULL);
			free(m.data);
			reconnect();
			break;
		case 13:        /* another protocol version */
			put_header((uint32_t)len, (uint8_t)(CTL_VERSION + 1 + (len & 1)), type);
			rc = serve(&sv, conn[0]);
			FUZZ_ASSERT(rc == -1 && reply(&m) == 1 && m.type == CTL_ERR && strcmp(m.data, "version") == 0);
			free(m.data);
			reconnect();
			break;
		case 14:        /* cut short: the client hangs up mid-frame */
			if (len + 1 > ctl_max_payload(type))
				break;
			put_header((uint32_t)len + 1, CTL_VERSION, type);
			if (len)
				FUZZ_ASSERT(write(conn[1], p, len) == (ssize_t)len);
			shutdown(conn[1], SHUT_WR);
			rc = serve(&sv, conn[0]);
			FUZZ_ASSERT(rc == -1 && reply(&m) == 0);
			reconnect();
			break;
		default:
			whole_frame(type, p, len);
			break;
		}
	}
	return 0;
}
