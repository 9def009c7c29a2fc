/*
 * sentinel.h - reaching Redis, shared by mxgate-control and mxctl
 * (hiredis): a connection to a redis_server address with timeouts, the
 * master found through Redis Sentinel (SENTINEL get-master-addr-by-name,
 * asked of each sentinel in turn), and a server's ROLE.
 */
#ifndef MX_CONTROL_SENTINEL_H
#define MX_CONTROL_SENTINEL_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "control/util.h"

/* Connect to "unix:/path", "host:port" or "[v6]:port" (TCP keep-alive on); NULL with why. */
redisContext *redis_dial(const char *addr, int connect_ms, int cmd_ms, char *err, size_t errlen);

/*
 * Ask the sentinels of list (redis_sentinels) in order where master name
 * is: 0 with "ip:port" ("[ip]:port" for IPv6) in addr and the index of the
 * sentinel that answered in *which; -1 with every sentinel's answer in err.
 */
int sentinel_master(const char *list, const char *name, int connect_ms, int cmd_ms, char *addr,
		    size_t addrlen, int *which, char *err, size_t errlen);

/* The server's ROLE ("master", "slave", "sentinel") into role; 0, or -1 with why in role. */
int redis_role(redisContext *c, char *role, size_t rolelen);

#endif
