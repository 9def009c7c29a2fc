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
 */
#ifndef MX_CTL_H
#define MX_CTL_H

#include <stddef.h>
#include <stdint.h>

#define CTL_VERSION     1
#define CTL_MAX_FRAME   (64u << 20)     /* a whole access map fits */

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

/* Write one frame to a blocking fd; 0 or -1 (errno). */
int ctl_send(int fd, uint8_t type, const void *payload, size_t len);

/*
 * Read one frame from a blocking fd into *m (free m->data with free()).
 * Returns 0, or -1: errno set, or EPROTO for a bad version/length (the
 * caller answers ERR and closes).
 */
int ctl_recv(int fd, struct ctl_msg *m);

/* Client side: connect to the control socket at path; fd or -1 with a message in err. */
int ctl_connect(const char *path, char *err, size_t errlen);

/* Client side: one request, one reply; 0 (reply in *m) or -1 with a message in err. */
int ctl_call(const char *path, uint8_t type, const void *payload, size_t len,
	     struct ctl_msg *m, char *err, size_t errlen);

#endif
