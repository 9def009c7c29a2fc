/*
 * ctl.h - the control-socket protocol shared by mxgate (server, on its
 * service lcore), mxgate-control and mxctl (clients). A Unix stream socket;
 * each message is one frame:
 *
 *   uint32 length (big endian, bytes after this field, 2..CTL_MAX_FRAME)
 *   uint8  version (CTL_VERSION)
 *   uint8  type (enum ctl_type)
 *   payload (length - 2 bytes)
 *
 * A client sends one request and reads one reply (OK, ERR or DATA); a
 * connection may carry many. A frame of another version is answered with
 * ERR "version" and the connection is closed. libc only.
 *
 * Bounds: each message type has the largest payload it can legitimately
 * carry (ctl_max_payload(), the CTL_*_MAX below, derived from the limits of
 * what it carries). ctl_recv() refuses a longer frame from its header alone,
 * before reading or allocating its payload: EMSGSIZE, a counter per type
 * (ctl_refused()) and a log line; mxgate answers ERR and closes the
 * connection. ctl_send() refuses to send one (EMSGSIZE) so our own clients
 * fail cleanly. CTL_MAX_FRAME caps every frame whatever its type.
 */
#ifndef MX_CTL_H
#define MX_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/schema.h"

#define CTL_VERSION     1
#define CTL_MAX_FRAME   (64u << 20)     /* any frame (length field): the service lcore never
					   allocates more for one request */
#define CTL_HDR_PAYLOAD_MAX (CTL_MAX_FRAME - 2)  /* payload bytes one frame can hold */

/*
 * What each type carries at most (payload bytes), from the limits of what
 * it carries (common/schema.h, which crypto/tls.c and dataplane/smtp/auth.c
 * tie to their own with static asserts; tests/unit/test_ctl.c ties the rest:
 * crypto/passwd.h, policy/policy.h, common/config.h, dataplane/service.h).
 */
#define CTL_NOARG_MAX           0u      /* STATUS, STATS, SESSIONS, DRAIN, RESUME; unknown types */
/* SET_TICKET_KEYS: exactly two keys (crypto/tls.h TLS_TICKET_KEY_LEN) */
#define CTL_TICKET_KEYS_MAX     (2u * TICKET_KEY_LEN)
/* SET_CERTS: at most CERTS_MAX "CERT" blocks, one "CA" and one "CRL" block */
#define CTL_LEN_DIGITS          20u     /* a decimal size_t */
/* "CERT " name " " sni "\n" len " " len " " len "\n" */
#define CTL_CERT_HDR_MAX        (5u + CERT_NAME_MAX + 1u + SNI_FIELD_MAX + 1u + \
				 3u * CTL_LEN_DIGITS + 2u + 1u)
/* "CRL " len "\n" (the longer of the CA and CRL headers) */
#define CTL_TRUST_HDR_MAX       (4u + CTL_LEN_DIGITS + 1u)
#define CTL_CERTS_MAX           (CERTS_MAX * (CTL_CERT_HDR_MAX + 2u * CERT_PEM_MAX + OCSP_MAX) + \
				 2u * (CTL_TRUST_HDR_MAX + CERT_PEM_MAX))
/*
 * SET_USERS and SET_POLICY: a full set at the modules' own limits
 * (AUTH_USERS_MAX users of 255 octets with a PASSWD_STR_MAX hash: 385 MiB;
 * POL_ENTRIES_MAX entries of POL_KEY_MAX + POL_VALUE_MAX: 1 GiB) does not
 * fit in any frame; these two are bounded by the frame itself, which
 * mxgate-control checks before it pushes (control/store.c).
 */
#define CTL_USERS_MAX           CTL_HDR_PAYLOAD_MAX
#define CTL_POLICY_VERSION_MAX  63u     /* dataplane/service.h pol_version[64] */
#define CTL_POLICY_MAX          CTL_HDR_PAYLOAD_MAX
#define CTL_GENERATION_MAX      GEN_MAX /* SET_GENERATION: a Redis generation marker */
/* replies: OK and ERR carry one short message; DATA the largest listing */
#define CTL_TEXT_MAX            4096u
#define CTL_SESSIONS_PER_WORKER (1u << 20)      /* SESSIONS: one worker's list */
#define CTL_WORKERS_MAX         16u     /* common/config.h CFG_MAX_WORKERS */
#define CTL_DATA_MAX            (CTL_WORKERS_MAX * CTL_SESSIONS_PER_WORKER)

enum ctl_type {
	/* requests */
	CTL_STATUS = 1,         /* -> DATA: "key value" lines (hostname, workers, ports, sessions,
				   policy_version, policy_entries, tls certificates with expiry, draining) */
	CTL_STATS = 2,          /* -> DATA: every counter, Prometheus text */
	CTL_SESSIONS = 3,       /* -> DATA: one line per SMTP session (client, state, tls, cipher, age) */
	CTL_SET_POLICY = 4,     /* payload "version\n" then access-map text -> OK "N entries" or ERR why;
				   an invalid map never replaces the one in force */
	CTL_SET_TICKET_KEYS = 5,/* payload 96 bytes: current and previous 48-byte keys -> OK / ERR */
	CTL_DRAIN = 6,          /* stop accepting SMTP sessions, let the open ones finish -> OK */
	CTL_RESUME = 7,         /* accept again after a drain -> OK */
	CTL_SET_CERTS = 8,      /* payload: for each certificate, the first the default,
				   "CERT <name> <sni,sni|->\n<chain bytes> <key bytes>[ <ocsp bytes>]\n"
				   then the chain PEM, the key PEM and, when its length is given
				   (1..64 KiB), the DER OCSP response stapled for it; optional blocks
				   anywhere, at most one each: "CA <bytes>\n" + PEM certificates
				   trusted for client certificates (replace tls_ca_file/tls_ca_dir),
				   "CRL <bytes>\n" + PEM CRLs (replace tls_crl_file); absent: the
				   configuration's. No CERT block: the certificates in force stay and
				   only CA/CRL change (empty payload: back to the configuration's).
				   -> OK or ERR (the old context stays) */
	CTL_SET_USERS = 9,      /* SMTP AUTH users, the whole set: lines "<user> <hash>\n" (user
				   1..255 octets, no space or control; hash crypto/passwd.h's
				   "$scrypt$..." string); empty = no users, AUTH not offered
				   -> OK "N users" or ERR "line N: why" (the old set stays) */
	CTL_SET_GENERATION = 10,/* payload: the Redis generation marker (common/schema.h) of the
				   state mxgate-control pushes, 1..GEN_MAX printable octets; STATUS
				   shows it ("generation <marker>", "-" when none was given), so that
				   a restarted mxgate-control knows what mxgate holds -> OK / ERR */
	/* replies */
	CTL_OK = 64,            /* payload: a short message */
	CTL_ERR = 65,           /* payload: why */
	CTL_DATA = 66,          /* payload: the data asked for */
};

/* A frame as read: type and payload (malloc'd, NUL-terminated for text). */
struct ctl_msg {
	uint8_t type;
	uint32_t len;
	char *data;
};

/* Name of a message type, for logs and errors. */
const char *ctl_type_name(uint8_t type);

/* The largest payload a frame of this type may carry (CTL_NOARG_MAX for unknown types). */
uint32_t ctl_max_payload(uint8_t type);

/* Frames of this type refused as too large by ctl_recv() in this process (any thread). */
uint64_t ctl_refused(uint8_t type);

/*
 * Every type's refusal counter in Prometheus text, one line per known type
 * and one for the others: "<prefix>frames_refused_total{type="SET_CERTS"} 0".
 */
void ctl_refused_print(FILE *f, const char *prefix);

/* Write one frame to a blocking fd; 0 or -1 (errno; EMSGSIZE over ctl_max_payload()). */
int ctl_send(int fd, uint8_t type, const void *payload, size_t len);

/*
 * Read one frame from a blocking fd into *m (free m->data with free()).
 * Returns 0, or -1: errno set, or EPROTO for a bad version/length, or
 * EMSGSIZE for a payload over ctl_max_payload() of its type (m->type and
 * m->len tell which; nothing of the payload was read: the caller answers
 * ERR and closes).
 */
int ctl_recv(int fd, struct ctl_msg *m);

/* Client side: connect to the control socket at path; fd or -1 with a message in err. */
int ctl_connect(const char *path, char *err, size_t errlen);

/*
 * How long a client (mxgate-control, mxctl) waits for mxgate to take a
 * request or answer it; a request that hands mxgate a whole set to check
 * and build (policy, certificates, users) gets longer: a large access map
 * takes mxgate's service thread a while, and a client that gave up would
 * send it all again.
 */
#define CTL_IO_MS     5000
#define CTL_IO_SET_MS 60000

/*
 * Client side: one request, one reply, each within CTL_IO_MS (CTL_SET_POLICY,
 * _CERTS, _USERS: CTL_IO_SET_MS; a wedged mxgate is an error, not a hang);
 * 0 (reply in *m) or -1 with a message in err.
 */
int ctl_call(const char *path, uint8_t type, const void *payload, size_t len,
	     struct ctl_msg *m, char *err, size_t errlen);

#endif
