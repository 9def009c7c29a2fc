# shellcheck shell=bash
# nginx.sh - make bench's nginx peer: nginx's mail proxy (Debian nginx-full,
# libnginx-mod-mail) in front of smtp-sink. Sourced by tests/bench/bench.sh,
# which provides PEER_ADDR, PEER_PORT, SINK_PORT, AUTH_PORT, PEER_HOSTNAME,
# IDLE_MAX and the certificates.
#
# A private instance: its own prefix, configuration, pid file, logs and
# temporary directories under the run directory (nginx -p DIR -c DIR/...
# -e DIR/error.log); never /etc/nginx, never the system's nginx service.
# It runs in the foreground (daemon off) in bench.sh's network namespace
# and cgroup, pinned to the server core, with one worker process, as a
# postmaster would run it on one core:
#   - mail { smtp } on PEER_ADDR:PEER_PORT, STARTTLS offered ("starttls
#     on") with the bench's certificate (ECDSA or RSA, one at a time), no
#     session cache or tickets (the client never resumes anyway; OpenSSL's
#     TLS 1.3 tickets would otherwise go out and, with Nagle on nginx's
#     mail sockets, hold the next reply until the client's delayed ACK);
#   - smtp_auth none: the client need not authenticate; nginx asks its
#     auth_http endpoint where to relay each session, after RCPT TO;
#   - the auth_http endpoint is a location of an http server in the same
#     instance (on 127.0.0.1:AUTH_PORT) that answers Auth-Status OK,
#     Auth-Server 127.0.0.1, Auth-Port SINK_PORT: the sink;
#   - xclient on: nginx passes the client's address and HELO to the sink
#     with XCLIENT (smtp-sink announces it);
#   - resolver off: no DNS lookup of the client (the default, stated).

# Why the peer cannot run here (on stdout), or nothing.
peer_nginx_missing() {
	command -v nginx >/dev/null || { echo "nginx is not installed (make deps: nginx-full)"; return; }
	[ -f /usr/lib/nginx/modules/ngx_mail_module.so ] ||
		echo "nginx's mail module is not installed (make deps: libnginx-mod-mail)"
}

# Version string for the table.
peer_nginx_version() { nginx -v 2>&1 | sed 's/^nginx version: //'; }

# Write the instance's configuration for key type $2 (ecdsa|rsa) in directory $1.
peer_nginx_config() {
	local dir=$1 key=$2 conns
	conns=$((2 * IDLE_MAX + 1024))
	mkdir -p "$dir/tmp" "$dir/logs" || return 1
	cat >"$dir/nginx.conf" <<EOF
# make bench: private nginx mail proxy to smtp-sink
load_module /usr/lib/nginx/modules/ngx_mail_module.so;
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile $((conns + 1024));
pid $dir/nginx.pid;
error_log $dir/error.log error;
events {
	worker_connections $conns;
	use epoll;
}
http {
	access_log off;
	client_body_temp_path $dir/tmp/body;
	proxy_temp_path $dir/tmp/proxy;
	fastcgi_temp_path $dir/tmp/fastcgi;
	uwsgi_temp_path $dir/tmp/uwsgi;
	scgi_temp_path $dir/tmp/scgi;
	server {
		listen 127.0.0.1:$AUTH_PORT;
		# the auth_http endpoint: every session goes to the sink
		location = /auth {
			add_header Auth-Status OK;
			add_header Auth-Server 127.0.0.1;
			add_header Auth-Port $SINK_PORT;
			return 204;
		}
	}
}
mail {
	server_name $PEER_HOSTNAME;
	auth_http 127.0.0.1:$AUTH_PORT/auth;
	xclient on;
	resolver off;
	proxy_timeout 300s;
	server {
		listen $PEER_ADDR:$PEER_PORT backlog=1024;
		protocol smtp;
		smtp_auth none;
		smtp_capabilities "SIZE 10485760" 8BITMIME;
		starttls on;
		ssl_certificate $CERT_DIR/$key.crt;
		ssl_certificate_key $CERT_DIR/$key.key;
		ssl_protocols TLSv1.2 TLSv1.3;
		ssl_session_cache off;
		ssl_session_tickets off;
		# no TLS 1.3 tickets either (nothing could resume from them): like mxgate
		# in make bench, the server's next flight after the handshake is its reply
		ssl_conf_command NumTickets 0;
	}
}
EOF
	nginx -t -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >>"$dir/setup.log" 2>&1 ||
		{ tail -n 5 "$dir/setup.log" >&2; return 1; }
}

# The command that runs the instance in the foreground (exec'd by bench.sh).
peer_nginx_cmd() { echo nginx -p "$1" -c "$1/nginx.conf" -e "$1/error.log"; }

# Stop the instance cleanly (bench.sh kills what is left in the cgroup after this).
peer_nginx_stop() {
	local pid
	pid=$(tr -dc 0-9 <"$1/nginx.pid" 2>/dev/null)
	[ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null
	return 0
}

# The logs worth showing when it fails.
peer_nginx_logs() { echo "$1/error.log $1/setup.log"; }
