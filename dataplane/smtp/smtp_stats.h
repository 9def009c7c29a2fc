/*
 * smtp_stats.h - the SMTP counters of one worker: plain integers the
 * worker's modules (session.c, sess_tls.c, sess_auth.c, gate.c, relay.c)
 * increment and the service thread reads (smtp_worker_stats(), Prometheus
 * names "mxgate_smtp_<name>_total", or a series of a labelled family:
 * common/metric_table.c).
 */
#ifndef MX_SMTP_STATS_H
#define MX_SMTP_STATS_H

#include <stdint.h>

/* SMTP counters of one worker (plain integers, read by the service thread). */
#define SMTP_STATS(X) \
	X(sessions)                 /* client connections accepted */ \
	X(sessions_refused)         /* max_sessions reached: 421 and close */ \
	X(starttls)                 /* STARTTLS handshakes completed */ \
	X(smtps)                    /* implicit-TLS (465) handshakes completed */ \
	X(tls_failed)               /* handshakes that failed (garbage, protocol) */ \
	X(tls_unavailable)          /* 454: STARTTLS with no certificate */ \
	X(starttls_injection)       /* sessions with plaintext pipelined after STARTTLS (discarded) */ \
	X(starttls_injected_bytes)  /* bytes of it */ \
	X(bare_newline)             /* bare CR/LF refused (SMTP smuggling) */ \
	X(line_too_long)            /* 500 5.5.2 line too long */ \
	X(message_too_big)          /* 552 5.3.4: MAIL SIZE= or the message over message_size_limit */ \
	X(too_many_rcpts)           /* 452 4.5.3: recipients past smtpd_recipient_limit */ \
	X(pregreet)                 /* input before the greeting: 554 and close */ \
	X(too_many_errors)          /* 421 after the hard error limit */ \
	X(timeouts)                 /* command, DATA or handshake deadlines missed (by the last
				       command: mxgate_smtp_timeouts_after_total{after}) */ \
	X(stress_entered)           /* stress mode entered: sessions scarce, deadlines cut */ \
	X(non_smtp_command)         /* an HTTP verb or header line: 221 2.7.0 and close */ \
	X(nul_in_data)              /* a NUL byte inside DATA: 521 and close */ \
	X(utf8_undeclared)          /* 553 5.6.7: a UTF-8 address without SMTPUTF8 */ \
	X(out_of_memory)            /* no memory for a command line: 421 and close */ \
	X(messages_accepted)        /* the client got 250 for DATA */ \
	X(messages_rejected)        /* the client got 5xx for DATA */ \
	X(messages_tempfailed)      /* the client got 4xx for DATA */ \
	X(message_bytes)            /* bytes relayed inside DATA */ \
	X(backend_connects)         /* backend connections opened */ \
	X(backend_errors)           /* backend refused, timed out, closed, or said nonsense */ \
	X(backend_timeouts)         /* no reply or send space in backend_timeout_ms (by what was
				       awaited: mxgate_smtp_backend_timeouts_by_wait_total{waiting}) */ \
	X(xclient)                  /* sessions announced with XCLIENT */ \
	X(proxy_v2)                 /* sessions announced with a PROXY v2 header */ \
	X(backend_tls)              /* STARTTLS handshakes completed with a backend */ \
	X(backend_tls_failed)       /* STARTTLS handshakes with a backend that failed */ \
	X(backend_tls_srv_refused)  /* backends that failed the access map's TLS_Srv */ \
	X(backend_auth_success)     /* AUTH to a backend answered 235 (AuthInfo) */ \
	X(backend_auth_failed)      /* AUTH to a backend refused, or impossible (no TLS) */ \
	X(backend_client_refused)   /* a backend refused the client (XCLIENT, or its HELO after; an
				       X.7.Y greeting or HELO refusal after PROXY v2):
				       the MAIL got a 4xx, the backend did not rest */ \
	X(tls_v12)                  /* TLS 1.2 sessions */ \
	X(tls_v13)                  /* TLS 1.3 sessions */ \
	X(tls_resumed)              /* sessions resumed with a ticket */ \
	X(verify_ok)                /* {verify} outcomes */ \
	X(verify_no) \
	X(verify_not) \
	X(verify_fail) \
	X(policy_connect_rejects)   /* access map: Connect: REJECT / ERROR */ \
	X(policy_mail_rejects)      /* MAIL refused: From:, Require_TLS (530), TLS_Clt (403/503) */ \
	X(policy_rcpt_rejects)      /* RCPT refused: To:, Relay access denied */ \
	X(policy_discards)          /* messages accepted and dropped (DISCARD) */ \
	X(limit_refused)            /* Limit: conn or rate exceeded: 421 4.7.0 */ \
	X(limit_table_full)         /* Limit:, ClientRate:, ClientConn: no room to count a client
				       (let in, uncounted) */ \
	X(client_rate_refused)      /* ClientRate: over the rate: 421 4.3.2 */ \
	X(client_conn_refused)      /* ClientConn: too many open: 421 4.3.2 */ \
	X(auth_success)             /* AUTH answered 235 */ \
	X(auth_failed)              /* AUTH answered 535: wrong user or password (after the delay) */ \
	X(auth_limited)             /* AUTH answered 454: too many failures from the address */ \
	X(auth_busy)                /* AUTH answered 454: check queue full or out of memory */ \
	X(auth_inflight)            /* AUTH answered 454 without a check: one in flight from the client
				       (IPv4 address, IPv6 /64), or smtpd_auth_ipv6_48_limit from its /48 */ \
	X(auth_refused)             /* AUTH refused by the engine: not offered (no TLS: 538), syntax,
				       mechanism, aborted, undecodable */ \
	X(auth_too_many)            /* 421 after three failed AUTH in one session */ \
	X(reject_530_starttls)      /* 587: 530 Must issue a STARTTLS command first */ \
	X(reject_530_auth)          /* 587: 530 Authentication required */ \
	X(reject_530_require_tls)   /* access map Require_TLS: 530 Must issue a STARTTLS command first */ \
	X(dnsbl_exempt)             /* DNSBL score over the threshold, let in: Connect: OK or RELAY */ \
	X(log_dropped)              /* log lines dropped: ring full, or no syslog listening (slog.h) */ \
	X(active)                   /* gauge: sessions now */

struct smtp_stats {
#define X(n) uint64_t n;
	SMTP_STATS(X)
#undef X
};

extern const char *const smtp_stat_names[];
#define SMTP_STAT_COUNT (sizeof(struct smtp_stats) / sizeof(uint64_t))

#endif
