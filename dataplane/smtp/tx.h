/*
 * tx.h - one SMTP transaction of a session (MAIL, its recipients, the
 * message), kept apart from the session as OpenSMTPD keeps struct smtp_tx:
 * what the logs, the Received header and the relay's message flow need.
 * tx_begin() at MAIL is where a transaction is reset; the message's own
 * flags end with it (tx_message_end()). The two paths (514 B) are allocated
 * at MAIL and released by tx_release() once no transaction is open, so an
 * idle session holds none; so is the list of the recipients taken (for
 * the log's to= lines), which grows with them.
 */
#ifndef MX_TX_H
#define MX_TX_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dataplane/smtp/smtp_proto.h"

struct smtp_tx_paths {
	char mail_from[SMTP_ADDR_MAX + 1];   /* the reverse path, for the logs */
	char first_rcpt[SMTP_ADDR_MAX + 1];  /* the first recipient the backend took ("for <...>") */
};

struct smtp_tx {
	struct smtp_tx_paths *paths;         /* from MAIL until tx_release(), else NULL */
	unsigned nrcpt_ok;        /* recipients the backend took */
	int discard;              /* DISCARD: accept this transaction, deliver nothing */
	int data_started;         /* the message's 354 was given: its lines flow */
	int b_failed;             /* the backend failed inside the message: refuse it at its end */
	uint64_t msg_bytes;       /* the message's bytes (from the backend's 354) */
	char *rcpts;              /* the recipients taken, each NUL-terminated (tx_next_rcpt()) */
	size_t rcpts_len, rcpts_cap;
};

/*
 * A new transaction (MAIL FROM:<from>): nothing of the last one is kept, not
 * even a backend failure flagged inside a message that was then refused or
 * discarded (it would swallow the next message and answer it 451).
 * -1: no memory for the paths.
 */
static inline int tx_begin(struct smtp_tx *tx, const char *from)
{
	if (tx->paths == NULL && (tx->paths = malloc(sizeof(*tx->paths))) == NULL)
		return -1;
	snprintf(tx->paths->mail_from, sizeof(tx->paths->mail_from), "%s", from);
	tx->paths->first_rcpt[0] = '\0';
	tx->nrcpt_ok = 0;
	tx->discard = 0;
	tx->data_started = 0;
	tx->b_failed = 0;
	tx->msg_bytes = 0;
	tx->rcpts_len = 0;
	return 0;
}

/* No transaction is open (none begun, or ended): its paths go. */
static inline void tx_release(struct smtp_tx *tx)
{
	free(tx->paths);
	tx->paths = NULL;
	free(tx->rcpts);
	tx->rcpts = NULL;
	tx->rcpts_len = tx->rcpts_cap = 0;
}

/* The reverse path ("" outside a transaction). */
static inline const char *tx_from(const struct smtp_tx *tx)
{
	return tx->paths != NULL ? tx->paths->mail_from : "";
}

/* The first recipient the backend took, or NULL. */
static inline const char *tx_first_rcpt(const struct smtp_tx *tx)
{
	return tx->paths != NULL && tx->nrcpt_ok > 0 ? tx->paths->first_rcpt : NULL;
}

/* The backend took a recipient (kept for the log; without memory, left out of it). */
static inline void tx_rcpt_ok(struct smtp_tx *tx, const char *rcpt)
{
	size_t n = strlen(rcpt) + 1;

	if (tx->nrcpt_ok++ == 0 && tx->paths != NULL)
		snprintf(tx->paths->first_rcpt, sizeof(tx->paths->first_rcpt), "%s", rcpt);
	if (tx->rcpts_len + n > tx->rcpts_cap) {
		size_t cap = tx->rcpts_cap ? tx->rcpts_cap * 2 : 128;
		char *b;

		while (cap < tx->rcpts_len + n)
			cap *= 2;
		if ((b = realloc(tx->rcpts, cap)) == NULL)
			return;
		tx->rcpts = b;
		tx->rcpts_cap = cap;
	}
	memcpy(tx->rcpts + tx->rcpts_len, rcpt, n);
	tx->rcpts_len += n;
}

/* The recipient after prev (NULL: the first), or NULL after the last. */
static inline const char *tx_next_rcpt(const struct smtp_tx *tx, const char *prev)
{
	const char *p = prev == NULL ? tx->rcpts : prev + strlen(prev) + 1;

	return p != NULL && p < tx->rcpts + tx->rcpts_len ? p : NULL;
}

/* The message ended (answered, refused, or lost with its backend). */
static inline void tx_message_end(struct smtp_tx *tx)
{
	tx->data_started = 0;
	tx->b_failed = 0;
}

#endif
