/*
 * policy.h - mxgate's policy engine: sendmail's access map (cf/README,
 * "ANTI-SPAM CONFIGURATION CONTROL" and "STARTTLS"), read from an access
 * file or from (key, value) pairs (the Redis hash mxgate:policy), compiled
 * into an immutable snapshot and looked up once per SMTP stage, with a
 * trace of every lookup (like sendmail -bt). libc only: no DPDK, no I/O
 * except pol_load_file() and pol_read_file(), no allocation after pol_build().
 *
 * Access file: one entry per line, "key<blank>value": the key ends at the
 * first space or tab, the value is the rest of the line without leading
 * and trailing blanks (and a CR). A line whose first non-blank character
 * is '#' is a comment (makemap's rule: '#' later in a line is part of the
 * value); blank lines are ignored. Keys are case-insensitive (makemap
 * folds them), values are read case-insensitively except Srv_Features
 * letters and the text of ERROR: replies.
 *
 * Keys (tag names are case-insensitive; "IPv6:" may be omitted after a tag
 * but not in an untagged key; IPv4 octets have no leading zeros):
 *   Connect:KEY      KEY = host name or domain, .domain (subdomains only,
 *                    sendmail's lookupdotdomain), [literal] (an unresolved
 *                    client's bracketed address, matched as text, IPv6
 *                    written [IPv6:...] compressed as inet_ntop does),
 *                    IPv4 address or dotted prefix (198.18.0 = /24),
 *                    IPv4 CIDR (198.18.0.0/24, no host bits), IPv6:g:g:g
 *                    (1..7 groups without "::" = a /16..112 prefix, as in
 *                    sendmail's "IPv6:2002:c0a8:02c7 = 2002:c0a8:02c7::/48"),
 *                    IPv6 address or CIDR (2001:2::/48)
 *   From:KEY, To:KEY user@domain, user@, domain, .domain, [literal]; a
 *                    quoted user ("j.doe"@) is the mailbox it names:
 *                    stored dequoted, as lookups see addresses
 *   KEY (no tag)     any of the above: sendmail's untagged entries, tried
 *                    after the tagged key at every step of Connect, From
 *                    and To lookups (tags are recommended: an untagged
 *                    "example.com RELAY" also relays *from* example.com)
 *   TLS_Clt:KEY, Srv_Features:KEY, Require_TLS:KEY
 *                    host name/domain, address/prefix, or nothing (the
 *                    default, "TLS_Clt:")
 *   Limit:KEY        address/prefix, or nothing (the default)
 *   ClientRate:KEY, ClientConn:KEY
 *                    address/prefix, or nothing (the default): sendmail's
 *                    FEATURE(`ratecontrol') and FEATURE(`conncontrol')
 *   GreetPause:KEY   host name/domain, address/prefix, or nothing (the
 *                    default): sendmail's FEATURE(`greet_pause')
 *   CERTISSUER:DN, CERTSUBJECT:DN
 *                    a DN as X509_NAME_oneline() prints it, +HEX quoted
 *                    (common/strutil.h str_dn_quote(): "CN=Darth Mail" is CN=Darth+20Mail)
 *   Try_TLS:KEY, TLS_Srv:KEY, AuthInfo:KEY
 *                    a backend's configured name/domain, its address or
 *                    prefix, or nothing (the default): mxgate towards its
 *                    backends (see pol_try_tls() below)
 *   GreetPause:KEY, ClientRate:KEY, ClientConn:KEY
 *                    see the values below
 * Other sendmail tags (TLS_Rcpt, Spam, QGRP, Compat) and bare From:/To:
 * (sendmail has
 * no such default: "To: RELAY" would be an open relay) are refused.
 *
 * Values:
 *   Connect/From/To/untagged: OK, RELAY, REJECT, DISCARD, SKIP (names and
 *     addresses only: ends the walk up the domain or prefix as "not
 *     found"), ERROR:[D.S.N:]CODE TEXT, or the deprecated "CODE TEXT".
 *     Double quotes are dropped as sendmail drops them, so ERROR:550 text,
 *     ERROR:"550 text", ERROR:550 "text", ERROR:5.7.1:550 text and
 *     ERROR:"550 5.7.1 text" all work. CODE is 4xx or 5xx; an enhanced
 *     code must have the reply's class; without one it is C.0.0 (C = the
 *     reply's class; sendmail would send 5.0.0 even after 450).
 *   TLS_Clt: [TEMP+|PERM+](VERIFY | VERIFY:bits | ENCR:bits)[+EXT[++EXT]],
 *     EXT = CN (CN must equal the client name) | CN:name | CS:dn | CI:dn;
 *     OK = no requirement (an exception under a default); SKIP.
 *   CERTISSUER: RELAY or SUBJECT (then CERTSUBJECT:<subject> decides).
 *   CERTSUBJECT: RELAY.
 *   Srv_Features: letters, blanks allowed between them; upper case turns a
 *     feature off, lower case on (a later letter wins): A AUTH, B VERB,
 *     C AUTH without security layer, D DSN, E ETRN, L require AUTH (l),
 *     P PIPELINING, R request a certificate, S STARTTLS, V request a client
 *     certificate, X EXPN. Unknown letters are refused (sendmail ignores
 *     them). SKIP.
 *   Limit: conn=N and/or rate=N/s|/min|/h (0 = no limit, so a prefix can be
 *     exempted from a default). SKIP.
 *   Require_TLS: YES (MAIL before STARTTLS gets 530 5.7.0 Must issue a
 *     STARTTLS command first) or NO (exempt from a wider entry). SKIP.
 *   ClientRate: N, the connections an address may open in the last
 *     POL_CLIENT_RATE_WINDOW_S (sendmail's ConnectionRateWindowSize),
 *     every attempt counted; more: 421 4.3.2 Connection rate limit
 *     exceeded. ClientConn: N open connections per address; more: 421
 *     4.3.2 Too many open connections. 0 = no limit (an exception under a
 *     default). SKIP.
 *   GreetPause: milliseconds before the banner (0 = none, at most
 *     300000), overriding smtpd_greet_delay_ms (sendmail's
 *     FEATURE(`greet_pause', ms) default); a client that talks first gets
 *     554 ... not accepting messages. SKIP.
 *   Try_TLS: NO (no STARTTLS towards that backend even when offered) or
 *     YES (an exception under a wider NO). SKIP.
 *   TLS_Srv: as TLS_Clt, judged against the backend's certificate.
 *   AuthInfo: "U:user" "P:password" ["I:authid"] ["M:PLAIN LOGIN"], each
 *     item double-quoted as in sendmail; "P=base64" for a password in
 *     base64; "R:realm" is refused (DIGEST-MD5 only). Traces and rules
 *     show the password as "P:****"; error messages never quote it. SKIP.
 *
 * Lookup order (sendmail's; "+" = tagged key, then untagged, at each step):
 *   name walk (LookUpDomain): host.a.b, .a.b, a.b, .b, b (dot forms only
 *     when the snapshot has any); [1.2.3.4], [1.2.3], [1.2], [1].
 *   address (LookUpAddress): the longest prefix that matches; a tagged
 *     and an untagged prefix of the same length: the tagged one.
 *   connect (check_relay):   name walk +Connect, then address +Connect.
 *     The client name is ${client_name}: the verified PTR name, or the
 *     bracketed address when there is none.
 *   STARTTLS and MAIL (tls_client): name walk TLS_Clt, address TLS_Clt,
 *     then "TLS_Clt:"; the requirement against {verify}, {cipher_bits}
 *     (or the SASL ssf, the larger) as sendmail's TLS_connection ruleset:
 *     403 4.7.0 (TEMP+, the default) or 503 5.7.0 (PERM+) "not
 *     authenticated", "encryption too weak 56 less than 128", ...;
 *     {verify} SOFTWARE or PROTOCOL fails even with no entry.
 *   MAIL (check_mail): Require_TLS (mxgate), tls_client, then From:
 *     user@domain (+detail: user+*@domain, user@domain), user@ (same
 *     variants), domain walk; first found decides; <> is always accepted.
 *     The user is the local part dequoted (RFC 5321 4.1.2: <"Bad"@x>,
 *     <"b\ad"@x> and <bad@x> are one mailbox: quotes and backslashes
 *     dropped, then lower case); the domain starts after the last '@'
 *     outside quotes; an empty user ("") has no user lookups.
 *   RCPT (check_rcpt): To: user@domain, user@, domain walk as for From
 *     (REJECT = 550 5.2.1 Mailbox disabled for this recipient; OK and
 *     RELAY there only mean "not rejected"); then relaying, allowed by any
 *     of: domain walk +To RELAY, verify OK and CERTISSUER RELAY (or
 *     SUBJECT and CERTSUBJECT RELAY), SMTP AUTH, address +Connect RELAY,
 *     name walk +Connect RELAY (sendmail's RelayTLS/Rcpt_ok/Relay_ok; the
 *     recipient domain is tried first, which changes only the trace);
 *     else 554 5.7.1 Relay access denied (Postfix's code and text). A
 *     recipient without a domain is local: accepted. Users dequoted as
 *     for MAIL. Sender-specified routing, a dequoted local part with '@',
 *     '%' or '!' (u%evil@ours, "u@evil"@ours, evil!u@ours, postmaster%evil),
 *     is never relayed for the recipient domain's RELAY nor accepted as
 *     local: only a client allowed to relay otherwise (certificate,
 *     AUTH, Connect: RELAY) may send it, else 554 5.7.1 Relay access
 *     denied (Postfix's allow_untrusted_routing = no, sendmail without
 *     FEATURE(loose_relay_check)); To: entries still reject it first.
 *   Srv_Features, Require_TLS, Try_TLS, TLS_Srv, AuthInfo: name walk,
 *     address, bare tag (tagged only).
 *   Limit, ClientRate, ClientConn: address, bare tag (RateControl and
 *     ConnControl: <A:${client_addr}> <E:>).
 *   GreetPause: name walk, address, bare tag (greet_pause: D, then A).
 *
 * Snapshot rules: pol_build() either returns a complete snapshot or NULL
 * with the message of the first bad entry (every pol_add() error poisons
 * the builder). The caller keeps serving with its previous snapshot when
 * a build fails: a bad policy never replaces a working one. A snapshot is
 * immutable and read without locks from any number of threads; the owner
 * frees it with pol_snapshot_free() once no reader can hold it (after an
 * RCU grace period in the dataplane). It holds no pointer into the
 * builder or the input text.
 *
 * Data structures and complexity (n entries, k = key length):
 *   names, addresses-as-text, DNs, bare tags: one open-addressing hash of
 *     (tag, lower-case key), load <= 1/2: O(k) per probe; a name walk is
 *     one probe per label (two with untagged entries, two more with dot
 *     entries).
 *   address prefixes: per tag and family, one array sorted by (length
 *     descending, prefix); a lookup masks the address to each length
 *     present and binary-searches that group: O(L log n), L <= 33 / 129
 *     distinct lengths (typically a handful).
 *   build: O(n log n); memory about 100 bytes per entry plus its strings.
 * Bounds: POL_KEY_MAX, POL_VALUE_MAX, POL_LINE_MAX, POL_ENTRIES_MAX,
 * POL_FILE_MAX; a trace keeps POL_TRACE_LINES lines of POL_TRACE_WIDTH
 * bytes and counts what it dropped.
 */
#ifndef MX_POLICY_H
#define MX_POLICY_H

#include <stddef.h>
#include <stdint.h>

#define POL_KEY_MAX      512            /* bytes in a key, tag included */
#define POL_VALUE_MAX    512            /* bytes in a value */
#define POL_LINE_MAX     (POL_KEY_MAX + POL_VALUE_MAX + 64) /* access file line */
#define POL_ENTRIES_MAX  (1u << 20)     /* entries in one snapshot */
#define POL_FILE_MAX     (256u << 20)   /* access file size */
#define POL_TEXT_MAX     256            /* reply text of a result */
#define POL_RULE_MAX     192            /* the rule that decided, as written */
#define POL_TRACE_LINES  64
#define POL_TRACE_WIDTH  256

/* A client address: IPv4 in a[0..3], IPv6 in a[0..15], network order. */
struct pol_addr {
	uint8_t family;                 /* 4 or 6; 0 = none */
	uint8_t a[16];
};

/* What a stage knows about the session (strings may be NULL = empty). */
/* ${client_resolve} (the order of dataplane/dns's enum dns_name_status). */
enum { POL_RESOLVE_NONE = 0, POL_RESOLVE_OK, POL_RESOLVE_FAIL, POL_RESOLVE_FORGED, POL_RESOLVE_TEMP };

struct pol_client {
	struct pol_addr addr;           /* ${client_addr} */
	const char *name;               /* verified PTR name; NULL: none (sendmail then
					   uses "[address]" as ${client_name}) */
	int resolve;                    /* ${client_resolve}: POL_RESOLVE_*, 0 = not looked up */
	const char *helo;               /* HELO/EHLO argument: shown, no tag uses it */
	int auth;                       /* SMTP AUTH succeeded with a trusted mechanism */
	int auth_ssf;                   /* {auth_ssf}: SASL security layer bits */
	int tls;                        /* TLS is active on the session */
	const char *verify;             /* {verify}: OK NO NOT FAIL NONE TEMP PROTOCOL
					   SOFTWARE; NULL or "" = NONE */
	int cipher_bits;                /* {cipher_bits} */
	const char *cert_issuer;        /* {cert_issuer}, +HEX quoted */
	const char *cert_subject;       /* {cert_subject}, +HEX quoted */
	const char *cn_subject;         /* {cn_subject} */
};

enum pol_action {
	POL_CONTINUE = 0,               /* no entry decided: go on (the default) */
	POL_OK,                         /* an entry said OK: go on */
	POL_RELAY,                      /* RELAY: go on; for RCPT, relaying is allowed */
	POL_DISCARD,                    /* accept, then drop the message (all recipients) */
	POL_REJECT,                     /* reply code, enh and text */
	POL_ACTION_COUNT
};

/* Which kind of entry decided a stage (pol_result.tag), for counters. */
enum pol_tag_id {
	POL_TAG_DEFAULT = 0,            /* no entry: the default (e.g. Relay access denied) */
	POL_TAG_CONNECT, POL_TAG_FROM, POL_TAG_TO, POL_TAG_TLS_CLT, POL_TAG_CERTISSUER,
	POL_TAG_CERTSUBJECT, POL_TAG_SRV_FEATURES, POL_TAG_LIMIT, POL_TAG_REQUIRE_TLS,
	POL_TAG_GREETPAUSE, POL_TAG_CLIENTRATE, POL_TAG_CLIENTCONN,
	POL_TAG_TRY_TLS, POL_TAG_TLS_SRV, POL_TAG_AUTHINFO,   /* towards a backend */
	POL_TAG_AUTH,                   /* relaying allowed by SMTP AUTH */
	POL_TAG_COUNT
};
/* "default", "Connect", "From", "To", "TLS_Clt", ..., "Require_TLS", "GreetPause", "ClientRate",
   "ClientConn", "auth" */
extern const char *const pol_tag_names[POL_TAG_COUNT];

/* The outcome of one stage. */
struct pol_result {
	int tag;                        /* enum pol_tag_id: what decided */
	int action;                     /* enum pol_action */
	int code;                       /* POL_REJECT: 4xx or 5xx */
	char enh[12];                   /* POL_REJECT: RFC 3463 code, "5.7.1" */
	char text[POL_TEXT_MAX];        /* POL_REJECT: reply text, no code; the session
					   may prefix "<address>... " as sendmail does */
	char rule[POL_RULE_MAX];        /* the entry that decided ("To:example.com RELAY")
					   or the reason ("authenticated"); "" = default */
};

/* A decision trace: one line per lookup ("To:example.com -> found RELAY"). */
struct pol_trace {
	unsigned n;                     /* lines kept */
	unsigned dropped;               /* lines that did not fit */
	char line[POL_TRACE_LINES][POL_TRACE_WIDTH];
};

/* Srv_Features: bit (letter - 'A') set in off (upper case) or on (lower case). */
struct pol_features {
	uint32_t off;
	uint32_t on;
};
#define POL_SF(letter)          (1u << ((((letter) | 0x20) - 'a') & 31))
#define POL_SF_AUTH             POL_SF('A')     /* offer AUTH */
#define POL_SF_AUTH_REQUIRED    POL_SF('L')     /* require AUTH (on = l) */
#define POL_SF_PIPELINING       POL_SF('P')
#define POL_SF_STARTTLS         POL_SF('S')     /* offer STARTTLS */
#define POL_SF_VERIFY           POL_SF('V')     /* request a client certificate */

/*
 * The per-address connection limits of a client, per appliance: the
 * matching Limit: entry's, and sendmail's ClientRate: and ClientConn:
 * (each looked up on its own; every limit that is not 0 is enforced). A
 * prefix entry limits each address in it, not the prefix as a whole (as
 * sendmail's do). The dataplane counts each address once for all its
 * worker lcores (dataplane/smtp/gate.h), so N is N whichever workers a
 * client's connections land on.
 */
struct pol_limits {
	unsigned conn;                  /* Limit: concurrent connections, 0 = no limit */
	unsigned rate;                  /* Limit: new connections per per_s seconds (admitted ones,
					   a token bucket), 0 = no limit */
	unsigned per_s;                 /* 1, 60 or 3600 */
	unsigned client_rate;           /* ClientRate: connections (every attempt, refused ones
					   too, as sendmail counts) in the last
					   POL_CLIENT_RATE_WINDOW_S; more: refused. 0 = no limit */
	unsigned client_conn;           /* ClientConn: open connections; more: refused. 0 = no limit */
	int client_conn_found;          /* a ClientConn: entry applied (else the configured default) */
};
/* the session's refusals: Limit: (421 4.7.0) */
#define POL_LIMIT_CONN_TEXT     "Error: too many connections from your address"
#define POL_LIMIT_RATE_TEXT     "Error: too many connection attempts from your address"
/* ClientRate: and ClientConn: as sendmail's rulesets word them (421 4.3.2, FEATURE(..., `terminate')) */
#define POL_CLIENT_RATE_TEXT    "Connection rate limit exceeded."
#define POL_CLIENT_CONN_TEXT    "Too many open connections."
#define POL_CLIENT_RATE_WINDOW_S 60     /* sendmail's ConnectionRateWindowSize default */
#define POL_GREET_PAUSE_MAX_MS  300000  /* sendmail caps GreetPause at 5 minutes (RFC 5321 4.5.3.2) */

struct pol_builder;
struct pol_snapshot;

/* A new, empty builder; NULL when out of memory. */
struct pol_builder *pol_builder_new(void);
void pol_builder_free(struct pol_builder *b);
/*
 * Add one entry ("Connect:198.18.0", "REJECT"). 0, or -1 with a message
 * naming the key and why ("Connect:198.18.300.1: bad address"); the
 * builder then refuses to build.
 */
int pol_add(struct pol_builder *b, const char *key, const char *value, char *err, size_t errlen);
/* Add the entries of access-file text; errors start with "name:line: ". */
int pol_parse(struct pol_builder *b, const char *name, const char *text, size_t len,
	      char *err, size_t errlen);
/* Read an access file and pol_parse() it. */
int pol_load_file(struct pol_builder *b, const char *path, char *err, size_t errlen);
/*
 * An access file's text (at most POL_FILE_MAX bytes), NUL-terminated, in
 * *len bytes; the caller frees it. NULL with "path: why" in err.
 */
char *pol_read_file(const char *path, size_t *len, char *err, size_t errlen);
/*
 * Start the upper layer: entries added after this call replace those
 * added before it that have the same key (the same as pol_build() finds
 * duplicates: tag, case-folded key, normalised prefix), as the control
 * plane's map lies over access_file. Within one layer a key twice is
 * still an error. Call it once, between the two layers.
 */
void pol_layer(struct pol_builder *b);
/* Entries added so far. */
size_t pol_builder_count(const struct pol_builder *b);
/*
 * Compile into a snapshot; NULL with the first error (a bad entry, two
 * keys that are the same after case folding or prefix normalisation, or
 * out of memory). The builder is left as it was.
 */
struct pol_snapshot *pol_build(const struct pol_builder *b, char *err, size_t errlen);
void pol_snapshot_free(struct pol_snapshot *s);
/* Entries in a snapshot. */
size_t pol_snapshot_count(const struct pol_snapshot *s);

/*
 * The stages. s may be NULL (an empty policy: nothing is relayed). t may
 * be NULL (no trace: the dataplane's fast path). Reentrant, no allocation.
 */
/* After the connection is accepted (check_relay). */
struct pol_result pol_check_connect(const struct pol_snapshot *s, const struct pol_client *c,
				    struct pol_trace *t);
/* After the TLS handshake (tls_client with STARTTLS). */
struct pol_result pol_check_tls(const struct pol_snapshot *s, const struct pol_client *c,
				struct pol_trace *t);
/* MAIL FROM (check_mail): from is the reverse path, with or without <>. */
struct pol_result pol_check_mail(const struct pol_snapshot *s, const struct pol_client *c,
				 const char *from, struct pol_trace *t);
/* RCPT TO (check_rcpt): to is the forward path, with or without <>. */
struct pol_result pol_check_rcpt(const struct pol_snapshot *s, const struct pol_client *c,
				 const char *to, struct pol_trace *t);
/* Srv_Features for this client: 1 and *f set when an entry applies, else 0 and *f zero. */
int pol_srv_features(const struct pol_snapshot *s, const struct pol_client *c,
		     struct pol_features *f, struct pol_trace *t);
/* Limit, ClientRate, ClientConn for this client: 1 and *l set when an entry applies, else 0 and *l zero. */
int pol_limit(const struct pol_snapshot *s, const struct pol_client *c,
	      struct pol_limits *l, struct pol_trace *t);
/* GreetPause for this client: 1 and *ms (0 = no pause) when an entry applies, else 0 and *ms 0. */
int pol_greet_pause(const struct pol_snapshot *s, const struct pol_client *c, unsigned *ms,
		    struct pol_trace *t);
/* Require_TLS for this client: 1 when it must use STARTTLS before MAIL. */
int pol_require_tls(const struct pol_snapshot *s, const struct pol_client *c,
		    struct pol_trace *t);

/*
 * The server side: mxgate towards a backend MTA, sendmail's client-side
 * rulesets. srv describes the backend in pol_client's fields: addr its
 * address, name its configured name (NULL: none; "[address]" is then
 * used for [literal] keys), and after STARTTLS verify (OK when its chain
 * verified against backend_tls_ca_file, FAIL when not, NONE without TLS),
 * cipher_bits, cn_subject, cert_subject, cert_issuer. The lookups are
 * TLS_Clt's: name walk, address, then the bare tag ("Try_TLS:").
 */
/* Try_TLS: 1 = STARTTLS when offered (the default), 0 = an entry says NO. */
int pol_try_tls(const struct pol_snapshot *s, const struct pol_client *srv, struct pol_trace *t);
/*
 * TLS_Srv: the requirement (VERIFY, VERIFY:bits, ENCR:bits, +CN...) on
 * the backend, judged as TLS_Clt's: POL_REJECT with 403 4.7.0 (TEMP+, the
 * default) or 503 5.7.0 (PERM+) and sendmail's text ("not authenticated",
 * "authentication failed", "encryption too weak 128 less than 256",
 * "other side does not support STARTTLS").
 */
struct pol_result pol_check_tls_srv(const struct pol_snapshot *s, const struct pol_client *srv,
				    struct pol_trace *t);
/* AuthInfo: the credentials mxgate authenticates to a backend with. */
struct pol_authinfo {
	char user[POL_VALUE_MAX + 1];       /* "U:": the authorization id ("" = none) */
	char authid[POL_VALUE_MAX + 1];     /* "I:": the authentication id ("" = use user) */
	char password[POL_VALUE_MAX + 1];   /* "P:" or "P=" decoded: never log it */
	char mechs[16];                     /* "PLAIN LOGIN", "LOGIN", ...: in preference order */
	char rule[POL_RULE_MAX];            /* the entry, its password hidden ("P:****") */
};
/* 1 and *a filled when an AuthInfo entry applies, else 0 (and *a zeroed). */
int pol_authinfo(const struct pol_snapshot *s, const struct pol_client *srv, struct pol_authinfo *a,
		 struct pol_trace *t);

/* Empty a trace. */
void pol_trace_init(struct pol_trace *t);
/* "550 5.7.1 Access denied", "OK", "RELAY", "DISCARD" or "CONTINUE". */
void pol_result_format(const struct pol_result *r, char *out, size_t outlen);
/* Parse "198.18.0.1", "2001:2::1" or "IPv6:2001:2::1" (IPv4-mapped = IPv4): 0 / -1. */
int pol_addr_parse(const char *s, struct pol_addr *a);
/* sendmail's ${client_addr} text: "198.18.0.1" or "IPv6:2001:2::1". */
void pol_addr_format(const struct pol_addr *a, char *out, size_t outlen);
#endif
