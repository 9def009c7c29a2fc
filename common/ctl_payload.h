/*
 * ctl_payload.h - the payloads of SET_CERTS and SET_USERS (common/ctl.h):
 * one encoder each, used by mxgate-control (control/store.c) and mxctl
 * (tools/mxctl/keys.c), and one bounded decoder each, used by mxgate
 * (dataplane/service.c, dataplane/smtp/auth.c). libc only, no allocation:
 * decoded items point into the payload (not NUL-terminated).
 *
 * SET_CERTS: for each certificate, the first the default,
 *   "CERT <name> <sni,sni|->\n<chain bytes> <key bytes>[ <ocsp bytes>]\n"
 *   then the chain PEM, the key PEM and, when its length is given, the DER
 *   OCSP response; "CA <bytes>\n" + PEM and "CRL <bytes>\n" + PEM blocks
 *   anywhere, at most one each. Lengths are decimal digits only.
 * SET_USERS: "<user> <hash>\n" lines; the user is 1..USER_NAME_MAX octets
 *   without space or control character, the hash is the rest of the line.
 */
#ifndef MX_CTL_PAYLOAD_H
#define MX_CTL_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "common/schema.h"

/* One certificate of SET_CERTS. */
struct ctl_cert {
	const char *name;               /* 1..CERT_NAME_MAX of [A-Za-z0-9._-] */
	size_t name_len;
	const char *sni;                /* "a.example,b.example"; sni_len 0: none ("-") */
	size_t sni_len;
	const char *chain, *key;        /* PEM */
	size_t chain_len, key_len;
	const uint8_t *ocsp;            /* DER OCSP response; ocsp_len 0: none */
	size_t ocsp_len;
};

/* A SET_CERTS payload: certificates (none: only CA/CRL change) and the trust blocks. */
struct ctl_certs {
	struct ctl_cert cert[CERTS_MAX];
	unsigned n;
	const char *ca, *crl;           /* PEM; NULL: absent (the configuration's) */
	size_t ca_len, crl_len;
};

/* A certificate name: 1..CERT_NAME_MAX letters, digits, '.', '_', '-'. */
int ctl_cert_name_ok(const char *s, size_t n);
/* An sni field: 1..SNI_FIELD_MAX octets, no space, control character or DEL. */
int ctl_sni_field_ok(const char *s, size_t n);

/*
 * Encode c into out (NULL: only measure); *len = the payload's length.
 * 0, or -1 with why in err when a name or sni field is unusable or there
 * are more than CERTS_MAX certificates (nothing written).
 */
int ctl_certs_encode(const struct ctl_certs *c, char *out, size_t *len, char *err, size_t errlen);

/*
 * Decode a SET_CERTS payload into *c (pointers into p). 0, or -1 with why
 * in err ("certificate N: bad header", ...); every length is checked
 * against what is left of the payload.
 */
int ctl_certs_decode(const char *p, size_t len, struct ctl_certs *c, char *err, size_t errlen);

/* One user of SET_USERS. */
struct ctl_user {
	const char *name, *hash;
	size_t name_len, hash_len;
};

/* Why a user name is unusable ("empty", "longer than 255 octets", ...), or NULL. */
const char *ctl_user_name_bad(const char *s, size_t n);

/*
 * Encode n users into out (NULL: only measure); returns the length. The
 * names pass ctl_user_name_bad() and the hashes hold no newline.
 */
size_t ctl_users_encode(const struct ctl_user *u, size_t n, char *out);

/*
 * The next user of a SET_USERS payload, from *off (start at 0; *line
 * counts lines, start at 0; empty lines are skipped). 1 with *u set, 0 at
 * the end, -1 when line *line is not "<user> <hash>" with a usable user.
 */
int ctl_users_next(const char *p, size_t len, size_t *off, size_t *line, struct ctl_user *u);

#endif
