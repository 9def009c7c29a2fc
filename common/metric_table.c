/*
 * metric_table.c - the metric families of mxgate and mxgate-control (see
 * metric_table.h).
 *
 * It lives in common/ because both programs print families from it:
 * mxgate's counters come from the dataplane (dataplane/stats.c for the
 * struct counters of net.h, smtp_stats.h, auth.h and crypto/tls.h;
 * dataplane/smtp for the labelled ones), mxgate-control adds its own, and
 * mxgate-control is the one that renders HELP and TYPE for all of them.
 *
 * Naming: one name per thing counted. Where names used to differ only in
 * a value of one dimension (a TLS version, the cause of a 530, the result
 * of a message or of AUTH, the stage of a refusal, the lanes of an IFMA
 * run), that value is a label (metric_members). Directions (rx/tx, in/out)
 * and busy/idle cycles keep their names: they follow node_exporter's
 * receive/transmit convention and the benchmarks read them. The totals of
 * client and backend timeouts stay beside their breakdowns
 * (..._timeouts_after_total{after}, ..._by_wait_total{waiting}), which are
 * printed only once non-zero.
 */
#include <stdlib.h>
#include <string.h>

#include "metric_table.h"

#define C METRIC_COUNTER
#define G METRIC_GAUGE

const struct metric_family metric_families[] = {
	/* the stack (struct net_stats, dataplane/stats.c), per worker lcore */
	{ "mxgate_rx_packets_total", C, "Frames received from the ports." },
	{ "mxgate_rx_bytes_total", C, "Bytes received from the ports." },
	{ "mxgate_tx_packets_total", C, "Frames handed to the ports." },
	{ "mxgate_tx_bytes_total", C, "Bytes handed to the ports." },
	{ "mxgate_drops_total", C, "Packets dropped, by reason." },
	{ "mxgate_steered_out_total", C, "Packets handed to another worker (flow steering)." },
	{ "mxgate_steered_in_total", C, "Packets received from another worker (flow steering)." },
	{ "mxgate_arp_requests_sent_total", C, "ARP requests sent." },
	{ "mxgate_arp_replies_sent_total", C, "ARP replies sent." },
	{ "mxgate_nd_solicits_sent_total", C, "IPv6 neighbour solicitations sent." },
	{ "mxgate_nd_adverts_sent_total", C, "IPv6 neighbour advertisements sent." },
	{ "mxgate_icmp_echo_replies_total", C, "ICMP and ICMPv6 echo replies sent." },
	{ "mxgate_pmtu_updates_total", C, "ICMP fragmentation-needed and packet-too-big messages honoured." },
	{ "mxgate_tcp_passive_opens_total", C, "TCP connections accepted." },
	{ "mxgate_tcp_active_opens_total", C, "TCP connections opened by mxgate (to backends)." },
	{ "mxgate_tcp_active_fails_total", C, "TCP connections opened by mxgate that failed." },
	{ "mxgate_tcp_closed_total", C, "TCP connections that ended, in any way." },
	{ "mxgate_tcp_refused_total", C, "SYNs answered by RST or dropped for limits." },
	{ "mxgate_tcp_resets_in_total", C, "Valid TCP RSTs received." },
	{ "mxgate_tcp_resets_out_total", C, "TCP RSTs sent." },
	{ "mxgate_tcp_retransmits_total", C, "TCP segments sent again." },
	{ "mxgate_tcp_rto_total", C, "TCP retransmission timeouts." },
	{ "mxgate_tcp_fast_retransmits_total", C, "TCP fast retransmissions." },
	{ "mxgate_tcp_ooo_segments_total", C, "TCP segments queued out of order." },
	{ "mxgate_tcp_dup_segments_total", C, "TCP segments wholly received already." },
	{ "mxgate_tcp_syncookies_sent_total", C, "SYN cookies sent." },
	{ "mxgate_tcp_syncookies_ok_total", C, "TCP connections created from a valid SYN cookie." },
	{ "mxgate_tcp_challenge_acks_total", C, "RFC 5961 challenge ACKs sent." },
	{ "mxgate_tcp_timewait_recycled_total", C, "TIME_WAIT entries evicted by timewait_max." },
	{ "mxgate_tcp_zero_window_probes_total", C, "TCP zero-window probes sent." },
	{ "mxgate_tcp_conns", G, "TCP connections now in the table." },
	{ "mxgate_busy_cycles_total", C, "TSC cycles of poll rounds that found work." },
	{ "mxgate_idle_cycles_total", C, "TSC cycles of poll rounds that found none." },
	{ "mxgate_worker_busy_round_seconds", METRIC_HISTOGRAM,
	  "Poll rounds that found work, by time: the frames and sessions of the lcore wait that long." },
	{ "mxgate_tsc_hz", G, "TSC frequency in Hz: divides the cycle counters into seconds." },

	/* SMTP (SMTP_STATS, dataplane/smtp/smtp_stats.h), per worker lcore */
	{ "mxgate_smtp_sessions_total", C, "SMTP client connections accepted." },
	{ "mxgate_smtp_sessions_refused_total", C, "SMTP connections refused at max_sessions (421)." },
	{ "mxgate_smtp_tls_handshakes_total", C,
	  "TLS handshakes completed, by mode: starttls (STARTTLS) or smtps (implicit TLS)." },
	{ "mxgate_smtp_tls_failed_total", C, "TLS handshakes that failed (garbage, protocol)." },
	{ "mxgate_smtp_tls_unavailable_total", C, "STARTTLS answered 454: no certificate." },
	{ "mxgate_smtp_starttls_injection_total", C,
	  "Sessions with plaintext pipelined after STARTTLS (discarded)." },
	{ "mxgate_smtp_starttls_injected_bytes_total", C, "Bytes of plaintext pipelined after STARTTLS (discarded)." },
	{ "mxgate_smtp_bare_newline_total", C, "Bare CR or LF refused (SMTP smuggling)." },
	{ "mxgate_smtp_line_too_long_total", C, "Lines refused as too long (500 5.5.2)." },
	{ "mxgate_smtp_message_too_big_total", C,
	  "MAIL SIZE= or messages over message_size_limit (552 5.3.4)." },
	{ "mxgate_smtp_too_many_rcpts_total", C, "Recipients past smtpd_recipient_limit (452 4.5.3)." },
	{ "mxgate_smtp_pregreet_total", C, "Clients that talked before the greeting (554 and close)." },
	{ "mxgate_smtp_too_many_errors_total", C, "Sessions closed at the hard error limit (421)." },
	{ "mxgate_smtp_timeouts_total", C, "Command, DATA or handshake deadlines the client missed." },
	{ "mxgate_smtp_stress_entered_total", C, "Times stress mode was entered (sessions scarce, deadlines cut)." },
	{ "mxgate_smtp_non_smtp_command_total", C, "HTTP verbs or header lines received (221 2.7.0 and close)." },
	{ "mxgate_smtp_nul_in_data_total", C, "NUL bytes inside DATA (521 and close)." },
	{ "mxgate_smtp_utf8_undeclared_total", C,
	  "MAIL or RCPT refused with 553 5.6.7: a UTF-8 address in a transaction without SMTPUTF8." },
	{ "mxgate_smtp_out_of_memory_total", C, "Sessions closed because a command line buffer could not be allocated (421 4.3.0)." },
	{ "mxgate_smtp_messages_total", C,
	  "Messages at their end, by the client's reply: accepted (250), rejected (5xx), tempfailed (4xx)." },
	{ "mxgate_smtp_message_bytes_total", C, "Bytes relayed inside DATA." },
	{ "mxgate_smtp_backend_connects_total", C, "Backend connections opened." },
	{ "mxgate_smtp_backend_errors_total", C, "Backend refusals, timeouts, closes and nonsense replies." },
	{ "mxgate_smtp_backend_timeouts_total", C, "Backend replies or send space not had within backend_timeout_ms." },
	{ "mxgate_smtp_announced_total", C, "Sessions announced to a backend, by method: xclient or proxy_v2." },
	{ "mxgate_smtp_backend_tls_total", C,
	  "STARTTLS to backends, by result: established, failed (handshake), refused (the access map's TLS_Srv)." },
	{ "mxgate_smtp_backend_auth_total", C, "AUTH to backends (AuthInfo), by result: success or failed." },
	{ "mxgate_smtp_backend_client_refused_total", C,
	  "Clients a backend refused at XCLIENT (or at their HELO right after), or with a policy refusal (X.7.Y) of the "
	  "greeting or the client's HELO after a PROXY v2 header: the MAIL got a 4xx, the backend stays in service." },
	{ "mxgate_smtp_tls_sessions_total", C, "TLS sessions, by protocol version." },
	{ "mxgate_smtp_tls_resumed_total", C, "TLS sessions resumed with a ticket." },
	{ "mxgate_smtp_tls_verify_total", C,
	  "TLS sessions by sendmail's {verify} of the client certificate: OK, NO, FAIL, NOT (any other)." },
	{ "mxgate_smtp_policy_rejects_total", C,
	  "Access-map refusals, by stage: connect (Connect:), mail (From:, Require_TLS, TLS_Clt), rcpt (To:, relaying)." },
	{ "mxgate_smtp_policy_discards_total", C, "Messages accepted and dropped (DISCARD)." },
	{ "mxgate_smtp_limit_refused_total", C, "Connections refused by a Limit: entry (421 4.7.0)." },
	{ "mxgate_smtp_limit_table_full_total", C, "Clients let in uncounted: no room in the limit table." },
	{ "mxgate_smtp_client_rate_refused_total", C,
	  "Connections refused by a ClientRate: entry (421 4.3.2 Connection rate limit exceeded.)." },
	{ "mxgate_smtp_client_conn_refused_total", C,
	  "Connections refused by a ClientConn: entry (421 4.3.2 Too many open connections.)." },
	{ "mxgate_smtp_auth_total", C,
	  "AUTH by outcome: success (235), failed (535), limited, busy or inflight (454), refused by the engine." },
	{ "mxgate_smtp_auth_too_many_total", C, "Sessions closed after three failed AUTH (421)." },
	{ "mxgate_smtp_reject_530_total", C,
	  "530 refusals, by cause: starttls and auth (587), require_tls (access map Require_TLS)." },
	{ "mxgate_smtp_dnsbl_exempt_total", C,
	  "Clients over the DNSBL threshold let in because a Connect: entry says OK or RELAY for them." },
	{ "mxgate_smtp_log_dropped_total", C,
	  "SMTP log lines dropped: the worker's log ring was full (the count is logged once room returns), "
	  "or log_target = syslog and nothing listened on /dev/log (stderr says so once per outage)." },
	{ "mxgate_smtp_active", G, "SMTP sessions open now." },
	/* SMTP families with their own labels (dataplane/smtp: session.c, gate.c) */
	{ "mxgate_smtp_tls_cipher_total", C, "TLS handshakes, by protocol version and cipher." },
	{ "mxgate_smtp_tls_handshake_seconds", METRIC_HISTOGRAM,
	  "Completed client TLS handshakes by time, from the ClientHello's first bytes to the handshake's end." },
	{ "mxgate_smtp_timeouts_after_total", C, "Client deadlines missed, by the last command." },
	{ "mxgate_smtp_backend_timeouts_by_wait_total", C, "Backend timeouts, by what was awaited." },
	/* DNS on the inside network (dataplane/dns: dns_print_labelled), per worker lcore */
	{ "mxgate_dns_queries_total", C, "DNS queries sent, by transport (udp: every try; tcp: after truncation)." },
	{ "mxgate_dns_timeouts_total", C, "DNS tries that got no answer within dns_timeout_ms." },
	{ "mxgate_dns_replies_ignored_total", C,
	  "DNS replies ignored: not for the query (ID, question) or malformed (lengths, names)." },
	{ "mxgate_dns_busy_total", C, "DNS lookups refused at dns_max_inflight (answered as a temporary failure)." },
	{ "mxgate_dns_lookups_total", C, "DNS lookups finished (the cache's answers too), by result." },
	{ "mxgate_dns_cache_total", C, "DNS cache events: hit, miss, evicted (LRU at dns_cache_size), expired." },
	{ "mxgate_dns_cache_entries", G, "DNS cache entries now." },
	{ "mxgate_dns_cache_bytes", G, "Bytes held by the DNS cache's entries now." },
	{ "mxgate_dns_client_names_total", C,
	  "Client name lookups by status: ok (verified), fail (no PTR), forged (no forward match), temp." },
	{ "mxgate_dnsbl_lookups_total", C, "DNSBL/DNSWL lookups by site and result (listed, unlisted, error)." },
	{ "mxgate_dnsbl_blocked_total", C, "Clients whose DNSBL score reached dnsbl_threshold." },
	{ "mxgate_smtp_policy_decisions_total", C, "Access-map decisions, by tag and action." },

	/* the service lcore (dataplane/service.c): no lcore label */
	{ "mxgate_build_info", G, "mxgate's version and the BoringSSL and DPDK it was built with (always 1)." },
	{ "mxgate_service_control_frames_refused_total", C, "Control-socket frames refused, by type." },
	{ "mxgate_service_auth_checks_total", C, "SMTP AUTH scrypt checks run on the service lcore." },
	{ "mxgate_service_auth_unknown_user_total", C, "SMTP AUTH checks for a user not in the set." },
	{ "mxgate_service_auth_table_full_total", C, "SMTP AUTH failures not counted: no room for the client address." },
	{ "mxgate_service_auth_refused_total", C,
	  "SMTP AUTH refused without a check (454 4.7.0), by reason: inflight (a check of the same IPv4 "
	  "address or IPv6 /64 in flight) or ipv6_48 (smtpd_auth_ipv6_48_limit checks of its /48 in flight)." },
	{ "mxgate_service_auth_users", G, "SMTP AUTH users in mxgate's set." },
	{ "mxgate_service_config_reloads_total", C,
	  "SIGHUP configuration reloads, by result: ok (applied) or failed (refused, the one in force kept)." },
	{ "mxgate_tls_key_batches_total", C, "Batches through the private-key door." },
	{ "mxgate_tls_key_batch_ops_total", C, "Private-key operations in those batches." },
	{ "mxgate_tls_key_ifma_runs_total", C,
	  "AVX-512 IFMA runs of up to 4 RSA-2048 operations, two lanes each (8 lanes in zmm; 4 in ymm for up to 2)." },
	{ "mxgate_tls_key_ifma_lanes_total", C, "Lanes used in the IFMA runs, two an operation (its CRT halves)." },
	{ "mxgate_tls_key_ifma_fill_total", C, "IFMA runs, by operations in them." },
	{ "mxgate_tls_key_ops_total", C, "RSA private operations, by engine: ifma (checked) or scalar (BoringSSL)." },
	{ "mxgate_tls_key_verify_failed_total", C, "IFMA results that failed the check, redone by BoringSSL." },
	{ "mxgate_tls_key_failed_total", C, "Private-key operations that failed altogether." },
	{ "mxgate_tls_key_x25519_runs_total", C,
	  "AVX-512 IFMA runs (up to 8 lanes, two a session) of the server's X25519 key pairs and shared secrets." },
	{ "mxgate_tls_key_x25519_lanes_total", C, "Lanes used in the X25519 IFMA runs: key pairs and shared secrets." },
	{ "mxgate_tls_key_x25519_unused_total", C,
	  "Handshakes that ended without taking the X25519 shared secret the door made for them." },
	{ "mxgate_tls_key_p256_runs_total", C, "AVX-512 IFMA runs (up to 8 lanes) of ECDSA P-256 signatures." },
	{ "mxgate_tls_key_p256_lanes_total", C, "Signatures in the P-256 IFMA runs." },
	{ "mxgate_tls_key_cv_runs_total", C,
	  "Client sessions: AVX-512 IFMA runs (up to 8 lanes) checking servers' ECDSA P-256 CertificateVerify." },
	{ "mxgate_tls_key_cv_lanes_total", C, "Signatures in the CertificateVerify IFMA runs." },
	{ "mxgate_tls_key_cv_scalar_total", C,
	  "Client sessions: CertificateVerify checks BoringSSL made (no table yet, a lone check, not shown valid in lanes)." },
	{ "mxgate_tls_key_cv_bad_total", C, "Client sessions: server CertificateVerify signatures found invalid." },

	/* mxgate-control's own (control/mxgate-control.c) */
	{ "mxgate_control_mxgate_up", G, "1 if the last counter fetch from mxgate worked." },
	{ "mxgate_control_redis_up", G, "1 while mxgate-control is connected to Redis." },
	{ "mxgate_control_auth_users", G, "SMTP AUTH users read from Redis, by status: valid or skipped (invalid)." },
	{ "mxgate_control_policy_version", G, "Version of the last good policy from Redis." },
	{ "mxgate_control_policy_pushed", G, "1 when mxgate accepted that version." },
	{ "mxgate_control_pushes_total", C, "Sets pushed to mxgate, by kind: policy, tickets, certs, users." },
	{ "mxgate_control_rejects_total", C,
	  "Sets not pushed, by kind: policy, tickets, certs (invalid in Redis, once per content, or refused by mxgate), users (refused by mxgate)." },
	{ "mxgate_control_redis_connects_total", C, "Connections made to Redis." },
	{ "mxgate_control_redis_store_lost_total", C,
	  "Times Redis was found without its generation marker (lost its data): last good state kept." },
	{ "mxgate_control_stats_fetches_total", C, "Counter fetches from mxgate, by result: ok or error." },
	{ "mxgate_control_http_requests_total", C, "Requests to /metrics, by code: 200 or other." },
	{ "mxgate_control_stats_age_seconds", G, "Seconds since mxgate's counters were last fetched." },
};
const unsigned metric_family_count = sizeof(metric_families) / sizeof(metric_families[0]);

const struct metric_member metric_members[] = {
	{ "smtp_starttls", "mxgate_smtp_tls_handshakes_total", "mode=\"starttls\"" },
	{ "smtp_smtps", "mxgate_smtp_tls_handshakes_total", "mode=\"smtps\"" },
	{ "smtp_messages_accepted", "mxgate_smtp_messages_total", "result=\"accepted\"" },
	{ "smtp_messages_rejected", "mxgate_smtp_messages_total", "result=\"rejected\"" },
	{ "smtp_messages_tempfailed", "mxgate_smtp_messages_total", "result=\"tempfailed\"" },
	{ "smtp_xclient", "mxgate_smtp_announced_total", "method=\"xclient\"" },
	{ "smtp_proxy_v2", "mxgate_smtp_announced_total", "method=\"proxy_v2\"" },
	{ "smtp_backend_tls", "mxgate_smtp_backend_tls_total", "result=\"established\"" },
	{ "smtp_backend_tls_failed", "mxgate_smtp_backend_tls_total", "result=\"failed\"" },
	{ "smtp_backend_tls_srv_refused", "mxgate_smtp_backend_tls_total", "result=\"refused\"" },
	{ "smtp_backend_auth_success", "mxgate_smtp_backend_auth_total", "result=\"success\"" },
	{ "smtp_backend_auth_failed", "mxgate_smtp_backend_auth_total", "result=\"failed\"" },
	{ "smtp_tls_v12", "mxgate_smtp_tls_sessions_total", "version=\"TLSv1.2\"" },
	{ "smtp_tls_v13", "mxgate_smtp_tls_sessions_total", "version=\"TLSv1.3\"" },
	{ "smtp_verify_ok", "mxgate_smtp_tls_verify_total", "result=\"OK\"" },
	{ "smtp_verify_no", "mxgate_smtp_tls_verify_total", "result=\"NO\"" },
	{ "smtp_verify_not", "mxgate_smtp_tls_verify_total", "result=\"NOT\"" },
	{ "smtp_verify_fail", "mxgate_smtp_tls_verify_total", "result=\"FAIL\"" },
	{ "smtp_policy_connect_rejects", "mxgate_smtp_policy_rejects_total", "stage=\"connect\"" },
	{ "smtp_policy_mail_rejects", "mxgate_smtp_policy_rejects_total", "stage=\"mail\"" },
	{ "smtp_policy_rcpt_rejects", "mxgate_smtp_policy_rejects_total", "stage=\"rcpt\"" },
	{ "service_config_reloads_ok", "mxgate_service_config_reloads_total", "result=\"ok\"" },
	{ "service_config_reloads_failed", "mxgate_service_config_reloads_total", "result=\"failed\"" },
	{ "smtp_auth_success", "mxgate_smtp_auth_total", "result=\"success\"" },
	{ "smtp_auth_failed", "mxgate_smtp_auth_total", "result=\"failed\"" },
	{ "smtp_auth_limited", "mxgate_smtp_auth_total", "result=\"limited\"" },
	{ "smtp_auth_busy", "mxgate_smtp_auth_total", "result=\"busy\"" },
	{ "smtp_auth_inflight", "mxgate_smtp_auth_total", "result=\"inflight\"" },
	{ "service_auth_refused_inflight", "mxgate_service_auth_refused_total", "reason=\"inflight\"" },
	{ "service_auth_refused_ipv6_48", "mxgate_service_auth_refused_total", "reason=\"ipv6_48\"" },
	{ "smtp_auth_refused", "mxgate_smtp_auth_total", "result=\"refused\"" },
	{ "smtp_reject_530_starttls", "mxgate_smtp_reject_530_total", "cause=\"starttls\"" },
	{ "smtp_reject_530_auth", "mxgate_smtp_reject_530_total", "cause=\"auth\"" },
	{ "smtp_reject_530_require_tls", "mxgate_smtp_reject_530_total", "cause=\"require_tls\"" },
	{ "tls_key_ifma_fill_1", "mxgate_tls_key_ifma_fill_total", "ops=\"1\"" },
	{ "tls_key_ifma_fill_2", "mxgate_tls_key_ifma_fill_total", "ops=\"2\"" },
	{ "tls_key_ifma_fill_3", "mxgate_tls_key_ifma_fill_total", "ops=\"3\"" },
	{ "tls_key_ifma_fill_4", "mxgate_tls_key_ifma_fill_total", "ops=\"4\"" },
	{ "tls_key_ifma_ops", "mxgate_tls_key_ops_total", "engine=\"ifma\"" },
	{ "tls_key_scalar_ops", "mxgate_tls_key_ops_total", "engine=\"scalar\"" },
};
const unsigned metric_member_count = sizeof(metric_members) / sizeof(metric_members[0]);

#undef C
#undef G

const struct metric_family *metric_family_find(const char *name, size_t len)
{
	unsigned i;

	for (i = 0; i < metric_family_count; i++)
		if (strlen(metric_families[i].name) == len && memcmp(metric_families[i].name, name, len) == 0)
			return &metric_families[i];
	return NULL;
}

const struct metric_family *metric_family_of_sample(const char *name, size_t len, size_t *flen)
{
	static const char *const sfx[] = { "_bucket", "_sum", "_count" };
	const struct metric_family *mf = metric_family_find(name, len);

	*flen = len;
	for (unsigned i = 0; !mf && i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		size_t n = strlen(sfx[i]);

		if (len > n && memcmp(name + len - n, sfx[i], n) == 0 &&
		    (mf = metric_family_find(name, len - n)) != NULL && mf->type != METRIC_HISTOGRAM)
			mf = NULL;
		if (mf)
			*flen = len - n;
	}
	return mf;
}

const char *metric_type_name(enum metric_type t)
{
	return t == METRIC_GAUGE ? "gauge" : t == METRIC_HISTOGRAM ? "histogram" : "counter";
}

const char *metric_field_series(const char *prefix, const char *name, int gauge, char *buf,
				size_t buflen, const char **label)
{
	size_t pl = strlen(prefix);
	unsigned i;

	for (i = 0; i < metric_member_count; i++) {
		const char *f = metric_members[i].field;

		if (strncmp(f, prefix, pl) == 0 && strcmp(f + pl, name) == 0) {
			snprintf(buf, buflen, "%s", metric_members[i].family);
			*label = metric_members[i].label;
			return buf;
		}
	}
	snprintf(buf, buflen, "mxgate_%s%s%s", prefix, name, gauge ? "" : "_total");
	*label = NULL;
	return buf;
}

/* One sample line of the text: where it is and which family it belongs to. */
struct rline {
	const char *p;
	size_t n;
	unsigned fam;           /* index into the families seen */
};

/* A family seen in the text, in order of first appearance. */
struct rfam {
	const char *name;
	size_t len;
	const struct metric_family *mf; /* NULL: not in the table */
};

unsigned metric_render(FILE *out, const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	struct rline *lines = NULL;
	struct rfam *fams = NULL;
	size_t nl = 0, capl = 0, nf = 0, capf = 0, i, k;
	unsigned unknown = 0;

	while (p < end) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((e ? e : end) - p), nlen;

		if (n > 0 && p[0] != '#') {
			const struct metric_family *mf;

			for (nlen = 0; nlen < n && p[nlen] != '{' && p[nlen] != ' ' && p[nlen] != '\t'; nlen++)
				;
			mf = metric_family_of_sample(p, nlen, &nlen);
			for (k = 0; k < nf; k++)
				if (fams[k].len == nlen && memcmp(fams[k].name, p, nlen) == 0)
					break;
			if (k == nf) {
				if (nf == capf) {
					size_t c = capf ? capf * 2 : 64;
					struct rfam *v = realloc(fams, c * sizeof(*v));

					if (v == NULL)
						goto flat;
					fams = v;
					capf = c;
				}
				fams[nf].name = p;
				fams[nf].len = nlen;
				fams[nf].mf = mf;
				nf++;
			}
			if (nl == capl) {
				size_t c = capl ? capl * 2 : 256;
				struct rline *v = realloc(lines, c * sizeof(*v));

				if (v == NULL)
					goto flat;
				lines = v;
				capl = c;
			}
			lines[nl].p = p;
			lines[nl].n = n;
			lines[nl].fam = (unsigned)k;
			nl++;
		}
		p = e ? e + 1 : end;
	}
	for (k = 0; k < nf; k++) {
		if (fams[k].mf != NULL)
			fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", fams[k].mf->name, fams[k].mf->help,
				fams[k].mf->name, metric_type_name(fams[k].mf->type));
		else {
			fprintf(out, "# TYPE %.*s untyped\n", (int)fams[k].len, fams[k].name);
			unknown++;
		}
		for (i = 0; i < nl; i++)
			if (lines[i].fam == k) {
				fwrite(lines[i].p, 1, lines[i].n, out);
				fputc('\n', out);
			}
	}
	free(lines);
	free(fams);
	return unknown;
flat:
	/* out of memory: the samples as they are, without HELP and TYPE */
	free(lines);
	free(fams);
	for (p = text; p < end;) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((e ? e : end) - p);

		if (n > 0 && p[0] != '#') {
			fwrite(p, 1, n, out);
			fputc('\n', out);
		}
		p = e ? e + 1 : end;
	}
	return 0;
}
