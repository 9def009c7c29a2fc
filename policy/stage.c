/*
 * stage.c - the order of the access map's stages in a session (stage.h).
 */
#include <string.h>

#include "policy/stage.h"

const char *const pol_stage_names[POL_STAGE_COUNT] = {
	"Connect", "Limit", "Srv_Features", "GreetPause", "MAIL", "RCPT",
};

int pol_stage_run(enum pol_stage st, const struct pol_snapshot *s, const struct pol_client *c,
		  const char *arg, struct pol_stage_out *o, struct pol_trace *t)
{
	memset(o, 0, sizeof(*o));
	o->stage = st;
	switch (st) {
	case POL_STAGE_CONNECT:
		o->r = pol_check_connect(s, c, t);
		break;
	case POL_STAGE_LIMIT:
		o->found = pol_limit(s, c, &o->lim, t);
		break;
	case POL_STAGE_FEATURES:
		o->found = pol_srv_features(s, c, &o->f, t);
		break;
	case POL_STAGE_GREETPAUSE:
		o->found = pol_greet_pause(s, c, &o->pause_ms, t);
		break;
	case POL_STAGE_MAIL:
		o->r = pol_check_mail(s, c, arg, t);
		break;
	case POL_STAGE_RCPT:
		o->r = pol_check_rcpt(s, c, arg, t);
		break;
	default:
		break;
	}
	return o->r.action == POL_REJECT;
}

int pol_walk_connect(enum pol_stage *next, const struct pol_snapshot *s, const struct pol_client *c,
		     struct pol_stage_out *o, struct pol_trace *t)
{
	if (*next >= POL_STAGE_MAIL)
		return 0;
	/* a refusal at Connect: is the last word; otherwise the next stage */
	*next = pol_stage_run(*next, s, c, NULL, o, t) ? POL_STAGE_MAIL : *next + 1;
	return 1;
}
