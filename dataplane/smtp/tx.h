/*
 * tx.h - one SMTP transaction of a session (MAIL, its recipients, the
 * message), kept apart from the session as OpenSMTPD keeps struct smtp_tx:
 * what the logs, the Received header and the relay's message flow need.
 * tx_begin() at MAIL is where a transaction is reset; the message's own
 * flags end with it (tx_message_end()).
 */
#ifndef MX_TX_H
#define MX_TX_H

#include <stdint.h>
#include <stdio.h>
#include "dataplane/smtp/smtp_proto.h"

struct smtp_tx {
	char mail_from[SMTP_ADDR_MAX + 1];   /* the reverse path, for the logs */
	char first_rcpt[SMTP_ADDR_MAX + 1];  /* the first recipient the backend took ("for <...>") */
	unsigned nrcpt_ok;        /* recipients the backend took */
	int discard;              /* DISCARD: accept this transaction, deliver nothing */
	int data_started;         /* the message's 354 was given: its lines flow */
	int b_failed;             /* the backend failed inside the message: refuse it at its end */
	uint64_t msg_bytes;       /* the message's bytes (from the backend's 354) */
};

/*
 * A new transaction (MAIL FROM:<from>): nothing of the last one is kept, not
 * even a backend failure flagged inside a message that was then refused or
 * discarded (it would swallow the next message and answer it 451).
 */
static inline void tx_begin(struct smtp_tx *tx, const char *from)
{
	snprintf(tx->mail_from, sizeof(tx->mail_from), "%s", from);
	tx->first_rcpt[0] = '\0';
	tx->nrcpt_ok = 0;
	tx->discard = 0;
	tx->data_started = 0;
	tx->b_failed = 0;
	tx->msg_bytes = 0;
}

/* The backend took a recipient. */
static inline void tx_rcpt_ok(struct smtp_tx *tx, const char *rcpt)
{
	if (tx->nrcpt_ok++ == 0)
		snprintf(tx->first_rcpt, sizeof(tx->first_rcpt), "%s", rcpt);
}

/* The message ended (answered, refused, or lost with its backend). */
static inline void tx_message_end(struct smtp_tx *tx)
{
	tx->data_started = 0;
	tx->b_failed = 0;
}

#endif
