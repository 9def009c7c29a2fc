/*
 * schema.h - what mxgate, mxgate-control and mxctl agree on outside the
 * control-socket framing (common/ctl.h): the Redis keys under
 * redis_prefix, the messages on the events channel, and the limits of what
 * is pushed. Written once here; the modules that hold the same limits in
 * their own terms (crypto/tls.h, dataplane/smtp/auth.h) tie theirs to these
 * with _Static_assert, so that one cannot change without the other.
 * libc only (nothing to link).
 *
 * Redis (every key is <redis_prefix> + the name below):
 *   policy            hash: access-map key -> value ("To:lab.example" -> "RELAY")
 *   policy:version    string: INCR on every change
 *   events            channel: "policy <version>", "tickets", "certs", "users"
 *   tickets           hash: current, previous: TICKET_HEX_LEN hex digits each
 *   certs             set: certificate names
 *   cert:<name>       hash: chain, key (PEM), sni ("a.example,b.example"), ocsp (DER)
 *   ca, crl           strings: PEM CA certificates / CRLs for client certificates
 *   auth:<user>       string: SMTP AUTH password hash (crypto/passwd.h "$scrypt$...")
 *   stats:<id>        hash: metric name -> appliance total, and "updated"
 *   generation        string: "<16 hex digits> <writer>", the marker of this data set.
 *                     Written by mxgate-control (writer "mxgate-control", SET NX) when
 *                     it finds none and holds no state yet, and by `mxctl reload --force`
 *                     (writer "mxctl": the operator accepts the store as it is). An
 *                     mxgate-control holding state that finds it gone, or changed by
 *                     anything but mxctl, takes the store as lost and pushes nothing.
 * control/mxgate-control.c says how each is read and when.
 */
#ifndef MX_SCHEMA_H
#define MX_SCHEMA_H

/* Redis keys under the prefix */
#define RK_POLICY       "policy"
#define RK_POLICY_VER   "policy:version"
#define RK_EVENTS       "events"
#define RK_TICKETS      "tickets"
#define RK_CERTS        "certs"
#define RK_CERT         "cert:"         /* + certificate name */
#define RK_CA           "ca"
#define RK_CRL          "crl"
#define RK_AUTH         "auth:"         /* + user name */
#define RK_STATS        "stats:"        /* + appliance_id */
#define RK_GENERATION   "generation"

/* The generation marker's value: "%016llx " + a writer; GEN_MAX octets at most */
#define GEN_BY_CONTROL  "mxgate-control"
#define GEN_BY_MXCTL    "mxctl"
#define GEN_MAX         64

/* Messages on <prefix>events: what changed */
#define EV_POLICY       "policy"        /* "policy <version>" (the version is informative) */
#define EV_TICKETS      "tickets"
#define EV_CERTS        "certs"
#define EV_USERS        "users"

/* Session-ticket keys (crypto/tls.h TLS_TICKET_KEY_LEN): bytes each; in Redis as hex */
#define TICKET_KEY_LEN  48
#define TICKET_HEX_LEN  (2 * TICKET_KEY_LEN)

/* Certificates (crypto/tls.h TLS_MAX_CERTS, TLS_MAX_SNI, TLS_OCSP_MAX) */
#define CERTS_MAX       8               /* certificates mxgate takes */
#define CERT_NAME_MAX   63              /* octets of a name: letters, digits, '.', '_', '-' */
#define SNI_FIELD_MAX   255             /* octets of the sni field ("a.example,b.example") */
#define SNI_MAX         7               /* names per certificate (TLS_MAX_SNI - 1: NULL-ended) */
#define CERT_PEM_MAX    (1u << 20)      /* a chain, a key, the CA bundle, the CRLs */
#define OCSP_MAX        (64u << 10)     /* a DER OCSP response to staple */

/* SMTP AUTH users (dataplane/smtp/auth.h AUTH_USER_MAX, AUTH_USERS_MAX) */
#define USER_NAME_MAX   255             /* octets; no space or control character */
#define USERS_MAX       (1u << 20)      /* users pushed at most */

#endif
