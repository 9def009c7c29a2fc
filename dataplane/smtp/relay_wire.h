/*
 * relay_wire.h - what mxgate writes to and reads from a backend MTA, as
 * pure functions: libc only, no I/O, no allocation, no DPDK, no TLS, no
 * session. The relay (relay.c) and the session (session.c: the Received
 * header) call them; unit tests and fuzzers can call them alone
 * (tests/unit/test_relay_wire.c).
 *
 * Every function is bounded by the buffer it is given and never writes
 * past it. Prefix rw_. The functions and what they implement:
 *
 *   rw_reply_init / rw_reply_feed   the backend reply assembler (RFC 5321
 *       4.2: "ddd-text" lines continue a reply, "ddd text" or "ddd" ends
 *       it). Bytes in, one complete reply out at a time (all its lines,
 *       NUL-terminated in r->buf), or "malformed". The caller feeds what
 *       the backend sent, acts on each complete reply, then rw_reply_init()s
 *       again before feeding the rest.
 *   rw_reply_has_keyword            does an EHLO reply offer keyword kw
 *       (STARTTLS, XCLIENT)?
 *   rw_xclient_lists                does its XCLIENT line list attribute
 *       attr (LOGIN)?
 *   rw_xtext                        xtext (RFC 3461 4) of a string.
 *   rw_xclient                      the XCLIENT command (Postfix's
 *       XCLIENT_README) announcing the client to the backend.
 *   rw_proxy_v2                     the PROXY protocol v2 header (haproxy's
 *       proxy-protocol.txt 2.2) with the TLS facts in PP2_TYPE_SSL.
 *   rw_auth_mechs                   the SASL mechanisms (PLAIN, LOGIN) an
 *       EHLO reply's AUTH line offers (RFC 4954 3; "AUTH=" too).
 *   rw_ehlo_scan                    all the relay reads of an EHLO reply
 *       (STARTTLS, XCLIENT and its attributes, AUTH), in one pass.
 *   rw_base64 / rw_auth_plain / rw_auth_login_line
 *                                   AUTH towards a backend: base64 (RFC
 *       4648), "AUTH PLAIN <initial response>" (RFC 4616), and the base64
 *       lines answering LOGIN's 334 challenges.
 *   rw_received                     the Received header (RFC 5321 4.4,
 *       sendmail's form; RFC 3848 "with" keywords) put in front of the
 *       message.
 */
#ifndef MX_RELAY_WIRE_H
#define MX_RELAY_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* ---- the reply assembler ---- */

#define RW_REPLY_MAX 2048         /* one reply, all its lines, with its NUL */

/*
 * One backend reply being assembled. buf holds the bytes of the reply so
 * far (at most RW_REPLY_MAX - 1: the byte after them makes the reply
 * malformed at once, and over is set).
 */
struct rw_reply {
	size_t len;               /* bytes in buf */
	int over;                 /* the reply was longer than buf: bytes were dropped */
	char buf[RW_REPLY_MAX];
};

/* What rw_reply_feed() found. */
enum rw_reply_status {
	RW_REPLY_MORE = 0,        /* every byte taken, no complete reply yet: feed more */
	RW_REPLY_DONE,            /* a complete reply in r->buf (NUL-terminated), *code its code */
	RW_REPLY_MALFORMED,       /* unusable: longer than buf (reported at the first byte that
				     does not fit), a line shorter than "ddd" LF, or a last
				     line whose code (atoi) is not 200..599 */
};

/* Start a new reply (forget what was assembled). */
void rw_reply_init(struct rw_reply *r);

/*
 * Take bytes from in[0..len) until one reply is complete. *used gets the
 * bytes taken (all of them with RW_REPLY_MORE; up to and including the
 * reply's last LF otherwise). A line ends at LF (the CR, if any, stays in
 * the text). A line is the reply's last unless it is shorter than 4 bytes
 * with its LF or its 4th byte is '-'; lines shorter than 4 bytes are kept
 * as part of the reply. The reply's code is atoi() of its last line.
 * After RW_REPLY_DONE or RW_REPLY_MALFORMED, call rw_reply_init() before
 * feeding the rest of the input.
 *
 * Past RW_REPLY_MAX - 1 bytes nothing more is kept and each LF judges the
 * last line kept: when that is a continuation ("ddd-"), no later line ends
 * the reply and every byte is taken with RW_REPLY_MORE until the caller's
 * own deadline (mxgate: backend_timeout_ms) ends the wait. Memory stays
 * bounded either way.
 */
enum rw_reply_status rw_reply_feed(struct rw_reply *r, const uint8_t *in, size_t len, size_t *used,
				   int *code);

/*
 * Does the complete reply rep[0..len) have a line "dddKW", "dddKW ..." or
 * "dddKW\r..." (case-insensitive), as an EHLO reply offering KW? 1 or 0.
 */
int rw_reply_has_keyword(const char *rep, size_t len, const char *kw);

/*
 * Does the reply's "ddd XCLIENT attr1 attr2 ..." line list attribute attr
 * (case-insensitive, a whole word)? 1 or 0.
 */
int rw_xclient_lists(const char *rep, size_t len, const char *attr);

/* The XCLIENT attributes rw_xclient() may send (a bit each). */
#define RW_XA_ADDR  1u
#define RW_XA_PORT  2u
#define RW_XA_NAME  4u
#define RW_XA_HELO  8u
#define RW_XA_PROTO 16u
#define RW_XA_LOGIN 32u
#define RW_XA_ALL   63u

/*
 * The attributes of those above that the EHLO reply's XCLIENT lines list
 * (case-insensitive, whole words; Postfix's smtpd_proxy sends only
 * these): RW_XA_* bits, 0 when none.
 */
unsigned rw_xclient_attrs(const char *rep, size_t len);

/* ---- what mxgate sends ---- */

/*
 * xtext of in (RFC 3461 4): bytes below 33 or above 126, '+' and '=' become
 * "+XX" (uppercase hex), others are copied. Stops (cutting the value) when
 * fewer than 5 bytes of out would remain, so the output is always
 * NUL-terminated and never ends in a cut "+X". outlen >= 1. Returns the
 * length written.
 */
size_t rw_xtext(const char *in, char *out, size_t outlen);

#define RW_HELO_MAX    256        /* longest HELO name rw_xclient() takes whole (SMTP_ADDR_MAX) */
#define RW_LOGIN_MAX   255        /* longest user rw_xclient() takes whole (AUTH_USER_MAX) */
#define RW_NAME_MAX    254        /* longest client name rw_xclient() takes whole (DNS_NAME_MAX) */
#define RW_XCLIENT_MAX 2560       /* the XCLIENT command buffer: holds the longest command whole
				     (Postfix reads command lines of 2048 bytes) */

/* The client as XCLIENT announces it. */
struct rw_xclient_info {
	const char *addr;         /* the client's address as text ("198.18.0.1", "2001:2::1") */
	uint16_t port;            /* the client's port */
	const char *helo;         /* its HELO/EHLO name, "" or NULL when none ([UNAVAILABLE]) */
	const char *name;         /* its verified name (at most RW_NAME_MAX), NULL when none: ... */
	int name_temp;            /* ... [TEMPUNAVAIL] when the lookup failed for now, else [UNAVAILABLE] */
	int ehlo;                 /* it used EHLO: PROTO=ESMTP, else SMTP */
	const char *login;        /* the authenticated user, or NULL */
	unsigned attrs;           /* RW_XA_* the backend announced: only these are sent (LOGIN=
				     only when login is set too); ADDR is required */
};

/*
 * "XCLIENT ADDR=[IPV6:]a PORT=p NAME=n|[UNAVAILABLE]|[TEMPUNAVAIL] HELO=h PROTO=ESMTP|SMTP
 * [LOGIN=u]\r\n", each attribute only when x->attrs has it (a backend
 * refuses an attribute it did not announce), with HELO and LOGIN in
 * xtext: a HELO name of RW_HELO_MAX bytes and a user of RW_LOGIN_MAX,
 * every byte escaped, fit whole in RW_XCLIENT_MAX. Written NUL-terminated
 * into out. Returns its length, or 0 (nothing to send) when x->attrs lacks
 * RW_XA_ADDR (XCLIENT without the address must not be used) or it does
 * not fit in outlen: a cut command must never reach a backend.
 */
size_t rw_xclient(const struct rw_xclient_info *x, char *out, size_t outlen);

#define RW_PROXY_V2_MAX 512       /* the longest header rw_proxy_v2() makes */

/* The facts a PROXY v2 header carries. */
struct rw_proxy_info {
	int family;               /* 4 or 6 */
	uint8_t src[16], dst[16]; /* client and mxgate addresses (4 bytes used for IPv4) */
	uint16_t sport, dport;    /* client and mxgate ports */
	int tls;                  /* the client is under TLS: a PP2_TYPE_SSL TLV follows */
	const char *verify;       /* sendmail's {verify}: OK (verified, verify field 0), FAIL (a
				     certificate that did not verify), NO, NOT, ... (none) */
	const char *version;      /* PP2_SUBTYPE_SSL_VERSION, e.g. "TLSv1.3" (at most 255 bytes) */
	const char *cipher;       /* PP2_SUBTYPE_SSL_CIPHER (at most 255 bytes) */
	const char *cn;           /* PP2_SUBTYPE_SSL_CN (its first 64 bytes), or NULL/"" for none */
};

/*
 * The PROXY v2 header (proxy-protocol.txt 2.2): signature, 0x21 (version 2,
 * PROXY), 0x11/0x21 (TCP over IPv4/IPv6), length, addresses and ports; under
 * TLS one PP2_TYPE_SSL (0x20) TLV: client = PP2_CLIENT_SSL, plus
 * PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS when a certificate was shown
 * (verify OK or FAIL); verify = 0 only when OK; sub-TLVs SSL_VERSION (0x21),
 * SSL_CIPHER (0x23) and, when cn is set, SSL_CN (0x22). Returns the length
 * written into out, or 0 when it does not fit in outlen or a value is too long.
 */
size_t rw_proxy_v2(const struct rw_proxy_info *pp, uint8_t *out, size_t outlen);

/* ---- AUTH towards a backend ---- */

#define RW_MECH_PLAIN 1u
#define RW_MECH_LOGIN 2u
/*
 * The mechanisms mxgate speaks that the EHLO reply rep[0..len) offers on
 * its "dddAUTH mech ..." or "dddAUTH=mech ..." lines (case-insensitive,
 * whole words): RW_MECH_PLAIN | RW_MECH_LOGIN, 0 when none.
 */
unsigned rw_auth_mechs(const char *rep, size_t len);

/*
 * What the relay reads of a backend's EHLO reply, in one pass:
 * rw_reply_has_keyword() of STARTTLS and of XCLIENT, rw_xclient_attrs()
 * and rw_auth_mechs() (which are this scan).
 */
struct rw_ehlo {
	int starttls, xclient;
	unsigned xattrs;          /* RW_XA_* */
	unsigned mechs;           /* RW_MECH_* */
};
void rw_ehlo_scan(const char *rep, size_t len, struct rw_ehlo *e);

/*
 * base64 (RFC 4648, padded, no line breaks) of in[0..n) into out,
 * NUL-terminated. Returns its length, or 0 when it does not fit (or n is 0).
 */
size_t rw_base64(const void *in, size_t n, char *out, size_t outlen);

#define RW_AUTH_FIELD_MAX 512     /* longest user, authid or password taken (POL_VALUE_MAX) */
#define RW_AUTH_MAX 2100          /* holds the longest AUTH PLAIN command whole */

/*
 * "AUTH PLAIN base64(authzid NUL authcid NUL password)\r\n" (RFC 4616 with
 * RFC 4954's initial response); authzid may be "" (none). Returns its
 * length, or 0 (nothing to send, out emptied) when a field is empty
 * (authcid, password), longer than RW_AUTH_FIELD_MAX, or it does not fit.
 */
size_t rw_auth_plain(const char *authzid, const char *authcid, const char *password, char *out,
		     size_t outlen);
/* LOGIN's answer to a 334: "base64(s)\r\n"; 0 when s is empty, too long or it does not fit. */
size_t rw_auth_login_line(const char *s, char *out, size_t outlen);

#define RW_RECEIVED_MAX 1700      /* the longest Received header rw_received() makes */

/* What the Received header says. */
struct rw_received_info {
	const char *helo;         /* the client's HELO/EHLO name, "" or NULL: "unknown" */
	const char *addr;         /* the client's address as text */
	const char *name;         /* its verified name, NULL: "unknown" */
	const char *hostname;     /* ours ("by") */
	const char *id;           /* the session's queue id */
	int ehlo, tls, auth;      /* EHLO used, TLS up, authenticated: "with" (RFC 3848) */
	const char *version, *cipher, *verify; /* under TLS */
	int cipher_bits;
	const char *rcpt;         /* the one recipient ("for <rcpt>"), or NULL when not one */
	time_t when;              /* the date (written in UTC, RFC 5322 3.3) */
};

/*
 * "Received: from HELO (NAME [[IPv6:]ADDR])\r\n\tby HOST (mxgate) with
 * WITH id ID[\r\n\t(version=V cipher=C bits=N verify=X)][\r\n\tfor <R>];\r\n\t
 * DATE\r\n", WITH one of SMTP ESMTP SMTPS ESMTPS ESMTPSA (SMTPS for HELO
 * under TLS, ESMTPSA for EHLO, TLS and AUTH). Returns the length written
 * into out, or 0 (out unusable) when it does not fit in outlen.
 */
size_t rw_received(const struct rw_received_info *r, char *out, size_t outlen);

#endif
