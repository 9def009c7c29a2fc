# mxgate - one Makefile for everything.
#
#   make            build build/mxgate (and the tools)
#   make deps       install the Debian packages the project needs (idempotent)
#   make test       deps + build + unit and lab tests; prints "N passed, N failed"
#   make run        build, bring the lab up, follow the log; Ctrl-C tears it down
#   make bench-tcp  TCP benchmark: mxgate over net_memif vs the kernel on loopback
#   make bench-smtp TLS handshakes/s per worker core vs the in-memory bound; KiB per idle session
#   make bench-auth what one SMTP AUTH check (scrypt) costs the service lcore, by cost
#   make bench-memif SMTP sessions/s and server us/session, mxgate between mxgen client and sink on memif
#   make bench-dns  what DNS costs a session: message CPU time; banner latency and worker us, no DNS / cold / warm
#   make bench-crypto Debian's BoringSSL (OPENSSL_SMALL) vs the rebuild: ECDSA, X25519, handshakes/s
#   make bench      mxgate (memif, tap) and nginx, Postfix, Haraka side by side (BENCH=short: ~3 min)
#   make bench-latency  p99 handshake latency at 80% of capacity: mxgate (memif, tap) and nginx
#   make bench-rsa  RSA-2048 private ops/s: BoringSSL scalar vs 8-lane AVX-512 IFMA at fill 1..8;
#                   RSA TLS 1.3 handshakes per server core through tls.c, scalar vs IFMA door
#   make bench-rsa-lab  RSA STARTTLS through the lab, key door scalar vs IFMA: lanes per run, p99
#   make bench-x25519 X25519: BoringSSL scalar vs lanes with AVX-512 IFMA at fill 1..8, break-even
#   make bench-hs   ECDSA TLS 1.3 handshakes per server core through tls.c, K per poll round, door lanes off vs on
#   make bench-p256 ECDSA P-256 signing and verification: BoringSSL vs lanes with AVX-512 IFMA at fill 1..8, break-even
#   make test-asan  the lab suite against ASan+UBSan mxgate and mxgate-control; fails on any report
#   make soak       SOAK_MINUTES (10) of load and faults; nothing lost, nothing duplicated
#   make deb        build/deb/mxgate_<version>_amd64.deb (deploy/deb.sh says what it holds)
#
# DPDK is linked statically with only the drivers mxgate uses, so no plugin
# directory is loaded at EAL start (Debian's shared DPDK would load
# librte_crypto_openssl and with it OpenSSL's libcrypto next to BoringSSL).

CC      ?= gcc
BUILD   := build
CFLAGS  := -std=gnu11 -O2 -g -Wall -Wextra -Werror -I.
DPDK_CFLAGS := $(shell pkg-config --cflags libdpdk 2>/dev/null)
ARCH_LIB := /usr/lib/x86_64-linux-gnu

# Drivers linked in whole (they register themselves through constructors).
DPDK_DRIVERS := bus_vdev bus_pci mempool_ring \
	net_tap net_memif net_af_packet net_af_xdp net_ring net_virtio \
	net_e1000 net_ixgbe net_i40e net_ice net_vmxnet3
DPDK_LIBS := common_iavf gso security cryptodev ethdev net mbuf mempool hash rcu ring \
	meter pci eal telemetry kvargs
DPDK_LDFLAGS := -Wl,--whole-archive $(foreach d,$(DPDK_DRIVERS),-l:librte_$(d).a) \
	-Wl,--no-whole-archive $(foreach d,$(DPDK_LIBS),-l:librte_$(d).a) \
	-lxdp -lbpf -lelf -lz -lnuma -lbsd -ldl -lpthread -lm -latomic

# ---- BoringSSL (never OpenSSL): Debian's source package rebuilt without
# OPENSSL_SMALL by deploy/boringssl.sh (make deps), cached machine-wide in
# /var/cache/mxgate/boringssl-<version>-<recipe hash>/lib; the headers of
# android-libboringssl-dev (/usr/include/android) stay the API. Everything
# that links BoringSSL links this build; BSSL_STOCK_* is Debian's own
# (SMALL) build, used only by make bench-crypto to compare the two.
# -l:lib*.so.0 so that a missing library fails the link instead of
# silently finding OpenSSL's libcrypto.so.
BSSL_CFLAGS := -I/usr/include/android
BSSL_DIR := $(shell bash deploy/boringssl.sh dir 2>/dev/null || echo /nonexistent/boringssl-run-make-deps)
BSSL_LIBDIR := $(BSSL_DIR)/lib
BSSL_LIB := $(BSSL_LIBDIR)/.stamp
# the run path: the cache, or for make deb the package's /usr/lib/mxgate/boringssl
BSSL_RPATH ?= $(BSSL_LIBDIR)
BSSL_LDFLAGS := -L$(BSSL_LIBDIR) -Wl,-rpath,$(BSSL_RPATH) -l:libssl.so.0 -l:libcrypto.so.0
BSSL_STOCK_LIBDIR := /usr/lib/x86_64-linux-gnu/android
BSSL_STOCK_LDFLAGS := -L$(BSSL_STOCK_LIBDIR) -Wl,-rpath,$(BSSL_STOCK_LIBDIR) -l:libssl.so.0 -l:libcrypto.so.0
# What dpkg-buildpackage needs (Build-Depends of android-platform-external-boringssl).
BSSL_BUILD_DEPS := dpkg-dev debhelper dh-exec clang lld libgtest-dev binutils
# ---- end BoringSSL variables ----
# mxgate_build_info{version,boringssl,dpdk} (dataplane/stats.c): the tree's git
# describe and the BoringSSL rebuild's cache key (Debian version, recipe hash)
MX_VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
CFLAGS += -DMX_VERSION='"$(MX_VERSION)"' -DMX_BORINGSSL_VERSION='"$(patsubst boringssl-%,%,$(notdir $(BSSL_DIR)))"'

# common/: libc only, shared by mxgate, mxgate-control and mxctl (and mxgen: config, strutil)
COMMON_SRCS := common/config.c common/ctl.c common/ctl_payload.c common/strutil.c
NET_SRCS := dataplane/net/net.c dataplane/net/tcp.c dataplane/net/tcp_input.c dataplane/net/tcp_reass.c \
	dataplane/net/tcp_output.c dataplane/net/tcp_cc.c dataplane/net/tcp_syncookie.c dataplane/net/tcp_timer.c \
	dataplane/net/tcp_subr.c dataplane/net/tcp_usrreq.c dataplane/net/tcp_app.c dataplane/net/udp.c
# the metric families (common/metric_table.c): dataplane/stats.c prints through
# them, and every program that links the stack (NET_SRCS) links stats.c
NET_SRCS += common/metric_table.c
SMTP_SRCS := dataplane/smtp/session.c dataplane/smtp/sess_tls.c dataplane/smtp/sess_auth.c dataplane/smtp/worker.c \
	dataplane/smtp/gate.c dataplane/smtp/relay.c dataplane/smtp/relay_wire.c \
	dataplane/smtp/slog.c dataplane/smtp/smtp_proto.c dataplane/smtp/auth.c crypto/tls.c crypto/rsa_ifma.c crypto/x25519_ifma.c crypto/p256_ifma.c \
	crypto/passwd.c policy/policy.c policy/stage.c
# ---- DNS (issue 13): the resolver, its cache and the connect-time checks; c-ares builds and
# parses the messages (docs/DESIGN.md) ----
DNS_SRCS := dataplane/dns/msg.c dataplane/dns/cache.c dataplane/dns/resolver.c dataplane/dns/check.c
SMTP_SRCS += $(DNS_SRCS)
CARES_LDFLAGS := -lcares
# ---- end DNS ----
MXGATE_SRCS := dataplane/mxgate.c dataplane/port.c dataplane/echo.c \
	dataplane/stats.c dataplane/service.c $(COMMON_SRCS) $(NET_SRCS) $(SMTP_SRCS)
MXGEN_SRCS := tools/mxgen/mxgen.c tools/mxgen/smtp_kernel.c tools/mxgen/smtp_dpdk.c dataplane/smtp/relay_wire.c \
	common/config.c common/strutil.c dataplane/port.c dataplane/stats.c crypto/tls.c crypto/rsa_ifma.c crypto/x25519_ifma.c crypto/p256_ifma.c \
	$(NET_SRCS)
HDRS := $(wildcard common/*.h dataplane/*.h dataplane/net/*.h dataplane/smtp/*.h dataplane/dns/*.h crypto/*.h policy/*.h control/*.h \
	tests/unit/*.h)
HDRS += common/metric_table.h

# ---- objects shared between programs: the crypto sources are most of every
# build (crypto/rsa_ifma.c alone takes about a minute under ASan), so each
# flavour compiles them once. $(BUILD)/obj: DPDK's flags, as mxgate has them,
# for mxgate, mxgen, test_tls and the benches; $(BUILD)/obj-asan: the ASan
# unit tests. Everything else still compiles per program. ----
CRYPTO_SRCS := crypto/tls.c crypto/rsa_ifma.c crypto/x25519_ifma.c crypto/p256_ifma.c
$(BUILD)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DPDK_CFLAGS) $(BSSL_CFLAGS) -c -o $@ $<
# (without variable tracking, which gcc tries on the kernels' big functions,
# gives up on and redoes: 60 s to 23 s for rsa_ifma.c; ASan's reports keep
# their lines)
$(BUILD)/obj-asan/%.o: %.c $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(BSSL_CFLAGS) -fsanitize=address,undefined -fno-var-tracking-assignments -c -o $@ $<
# the sources of a list with the crypto sources replaced by objects of a flavour
objs = $(filter-out $(CRYPTO_SRCS),$(1)) $(patsubst %.c,$(BUILD)/$(2)/%.o,$(filter $(CRYPTO_SRCS),$(1)))

# Debian packages: build, lab, tests and the peers of later issues.
# Each with the optional parts the suite uses: swaks needs Net::SSLeay (TLS) and
# IO::Socket::INET6 (IPv6), which are only its Recommends.
DEB_PACKAGES := gcc make pkg-config libdpdk-dev dpdk android-libboringssl-dev \
	libhiredis-dev redis-server redis-tools redis-sentinel nftables iproute2 iputils-ping procps python3 \
	swaks libnet-ssleay-perl libio-socket-inet6-perl postfix curl openssl \
	testssl.sh systemd groff-base man-db
# promtool (package prometheus) checks /metrics (t_metrics_promtool); the
# prometheus service itself is left disabled (deploy/deps.sh)
DEB_PACKAGES += prometheus
# DNS (issue 13): c-ares for the resolver's messages; nsd and dig for the DNS lab tests
DEB_PACKAGES += libc-ares-dev nsd bind9-dnsutils
# the postmaster's log tools read the lab's log (t_log_tools): pflogsumm, and
# fail2ban-regex with fail2ban's stock filters (its service is left disabled)
DEB_PACKAGES += pflogsumm fail2ban
# a private Postfix that requires SMTP AUTH (t_relay_backend_tls_auth): saslpasswd2 writes
# its Cyrus sasldb, libsasl2-modules holds PLAIN and LOGIN
DEB_PACKAGES += sasl2-bin libsasl2-modules

.PHONY: all deps test unit lab run bench-tcp bench-smtp bench-auth clean fuzz fuzz-build

all: $(BUILD)/mxgate $(BUILD)/mxgen $(BUILD)/mxgate-control $(BUILD)/mxctl

$(BUILD):
	@mkdir -p $(BUILD)

$(BUILD)/mxgate: $(call objs,$(MXGATE_SRCS),obj) $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) $(DPDK_CFLAGS) $(BSSL_CFLAGS) -o $@ $(call objs,$(MXGATE_SRCS),obj) $(DPDK_LDFLAGS) $(BSSL_LDFLAGS) $(CARES_LDFLAGS)

$(BUILD)/mxgen: $(call objs,$(MXGEN_SRCS),obj) $(HDRS) $(wildcard tools/mxgen/*.h tools/common/*.h) | $(BUILD)
	$(CC) $(CFLAGS) $(DPDK_CFLAGS) $(BSSL_CFLAGS) -o $@ $(call objs,$(MXGEN_SRCS),obj) $(DPDK_LDFLAGS) $(BSSL_LDFLAGS)

$(BUILD)/kbench: tests/bench/kbench.c | $(BUILD)
	$(CC) $(CFLAGS) -o $@ $< -lpthread

# ---- mxgate-control (control plane: Redis, control socket, /metrics) ----
CONTROL_SRCS := control/mxgate-control.c control/store.c control/metrics.c control/util.c control/sentinel.c \
	$(COMMON_SRCS) policy/policy.c crypto/passwd.c
CONTROL_SRCS += common/metric_table.c
$(BUILD)/mxgate-control: $(CONTROL_SRCS) $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) $(BSSL_CFLAGS) -o $@ $(CONTROL_SRCS) -lhiredis $(BSSL_LDFLAGS)
# ---- end mxgate-control ----

# ---- mxctl (operator CLI: control socket + Redis; manual docs/mxctl.1) ----
MXCTL_SRCS := $(wildcard tools/mxctl/*.c) $(COMMON_SRCS) policy/policy.c policy/stage.c crypto/passwd.c \
	control/sentinel.c control/util.c
$(BUILD)/mxctl: $(MXCTL_SRCS) tools/mxctl/mxctl.h $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) $(BSSL_CFLAGS) -o $@ $(MXCTL_SRCS) -lhiredis $(BSSL_LDFLAGS)
# ---- end mxctl ----

# ---- unit tests (no root, no ports) ----

$(BUILD)/test_config: tests/unit/test_config.c common/config.c $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) -fsanitize=address,undefined -o $@ tests/unit/test_config.c common/config.c

TCP_TEST_SRCS := tests/unit/tcp_harness.c dataplane/stats.c $(NET_SRCS)
$(BUILD)/test_tcp: tests/unit/test_tcp.c $(TCP_TEST_SRCS) $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) $(DPDK_CFLAGS) -o $@ tests/unit/test_tcp.c $(TCP_TEST_SRCS) $(DPDK_LDFLAGS)

$(BUILD)/test_smtp_proto: tests/unit/test_smtp_proto.c dataplane/smtp/smtp_proto.c common/strutil.c $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) -fsanitize=address,undefined -Wl,--wrap=malloc -o $@ tests/unit/test_smtp_proto.c dataplane/smtp/smtp_proto.c \
		common/strutil.c

# crypto/tls.c with what it links (DN quoting from common/strutil.c)
TLS_SRCS := crypto/tls.c crypto/rsa_ifma.c crypto/x25519_ifma.c crypto/p256_ifma.c common/strutil.c
TLS_OBJS := $(call objs,$(TLS_SRCS),obj)
TLS_ASAN_OBJS := $(call objs,$(TLS_SRCS),obj-asan)
$(BUILD)/test_tls: tests/unit/test_tls.c $(TLS_OBJS) $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) $(BSSL_CFLAGS) -o $@ tests/unit/test_tls.c $(TLS_OBJS) $(BSSL_LDFLAGS)

$(BUILD)/tls_mem: tests/bench/tls_mem.c $(TLS_OBJS) $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) $(BSSL_CFLAGS) -o $@ tests/bench/tls_mem.c $(TLS_OBJS) $(BSSL_LDFLAGS)

$(BUILD)/test_auth: tests/unit/test_auth.c dataplane/smtp/auth.c crypto/passwd.c common/ctl_payload.c $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) $(BSSL_CFLAGS) -fsanitize=address,undefined -o $@ tests/unit/test_auth.c \
		dataplane/smtp/auth.c crypto/passwd.c common/ctl_payload.c $(BSSL_LDFLAGS) -lpthread

$(BUILD)/test_policy: tests/unit/test_policy.c policy/policy.c policy/stage.c common/strutil.c $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) -fsanitize=address,undefined -o $@ tests/unit/test_policy.c policy/policy.c policy/stage.c \
		common/strutil.c

# common/strutil.c: DN quoting, log escaping, FNV-1a
$(BUILD)/test_slog: tests/unit/test_slog.c dataplane/smtp/slog.c common/strutil.c $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) -fsanitize=address,undefined -o $@ tests/unit/test_slog.c dataplane/smtp/slog.c common/strutil.c

$(BUILD)/test_strutil: tests/unit/test_strutil.c common/strutil.c $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) -fsanitize=address,undefined -o $@ tests/unit/test_strutil.c common/strutil.c

# control-socket frame bounds (common/ctl.c), SET_CERTS and SET_USERS payloads (common/ctl_payload.c)
$(BUILD)/test_ctl: tests/unit/test_ctl.c common/ctl.c common/ctl_payload.c $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) -fsanitize=address,undefined -o $@ tests/unit/test_ctl.c common/ctl.c common/ctl_payload.c \
		-lpthread

# ---- issue 12: session.c cut along its seams (relay_wire: the backend's wire formats) ----
$(BUILD)/test_relay_wire: tests/unit/test_relay_wire.c dataplane/smtp/relay_wire.c common/strutil.c $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) -fsanitize=address,undefined -o $@ tests/unit/test_relay_wire.c dataplane/smtp/relay_wire.c \
		common/strutil.c
# test_session: whole sessions over a fake tcp_app (no DPDK, no root)
SESSION_TEST_SRCS := dataplane/smtp/session.c dataplane/smtp/sess_tls.c dataplane/smtp/sess_auth.c \
	dataplane/smtp/worker.c dataplane/smtp/gate.c dataplane/smtp/relay.c policy/stage.c \
	dataplane/smtp/relay_wire.c dataplane/smtp/slog.c dataplane/smtp/smtp_proto.c dataplane/smtp/auth.c \
	crypto/tls.c crypto/rsa_ifma.c crypto/x25519_ifma.c crypto/p256_ifma.c crypto/passwd.c policy/policy.c common/config.c common/strutil.c \
	common/ctl_payload.c $(DNS_SRCS) tests/unit/udp_none.c
$(BUILD)/test_session: tests/unit/test_session.c tests/bench/hs_pairs.h $(call objs,$(SESSION_TEST_SRCS),obj-asan) $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) $(BSSL_CFLAGS) -fsanitize=address,undefined -Wl,--wrap=malloc -o $@ tests/unit/test_session.c \
		$(call objs,$(SESSION_TEST_SRCS),obj-asan) $(BSSL_LDFLAGS) -lpthread $(CARES_LDFLAGS)
# ---- end issue 12 ----

# mxgate-control's pure helpers (control/util.c): the Redis generation marker's verdict, back-off
$(BUILD)/test_control: tests/unit/test_control.c control/util.c common/config.c $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) -fsanitize=address,undefined -o $@ tests/unit/test_control.c control/util.c common/config.c

# the DNS messages, cache, resolver and checks over an in-memory UDP and a clock (tests/unit/test_dns.c)
$(BUILD)/test_dns: tests/unit/test_dns.c $(DNS_SRCS) $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) -fsanitize=address,undefined -o $@ tests/unit/test_dns.c $(DNS_SRCS) $(CARES_LDFLAGS)

# UDP on the TCP tests' stack (tests/unit/tcp_harness.h)
$(BUILD)/test_udp: tests/unit/test_udp.c $(TCP_TEST_SRCS) $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) $(DPDK_CFLAGS) -o $@ tests/unit/test_udp.c $(TCP_TEST_SRCS) $(DPDK_LDFLAGS)

UNIT_TESTS := $(BUILD)/test_dns $(BUILD)/test_udp $(BUILD)/test_control $(BUILD)/test_config $(BUILD)/test_tcp $(BUILD)/test_smtp_proto $(BUILD)/test_tls \
	$(BUILD)/test_policy $(BUILD)/test_auth $(BUILD)/test_relay_wire $(BUILD)/test_session $(BUILD)/test_ctl \
	$(BUILD)/test_strutil $(BUILD)/test_slog

# test_metrics: every counter printed has a row in common/metric_table.c; the renderer
# (ctl.c wherever it lives: control/ or common/)
METRICS_TEST_SRCS := dataplane/stats.c $(NET_SRCS) $(wildcard control/ctl.c common/ctl.c)
$(BUILD)/test_metrics: tests/unit/test_metrics.c $(METRICS_TEST_SRCS) $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) $(DPDK_CFLAGS) $(BSSL_CFLAGS) -DMX_SRCDIR='"$(CURDIR)"' -o $@ tests/unit/test_metrics.c \
		$(METRICS_TEST_SRCS) $(DPDK_LDFLAGS)
UNIT_TESTS += $(BUILD)/test_metrics

# ---- RSA-2048 eight lanes with AVX-512 IFMA (crypto/rsa_ifma.c): unit test, bench-rsa ----
$(BUILD)/test_rsa_ifma: tests/unit/test_rsa_ifma.c tests/bench/hs_pairs.h $(TLS_ASAN_OBJS) $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) $(BSSL_CFLAGS) -fsanitize=address,undefined -o $@ tests/unit/test_rsa_ifma.c \
		$(TLS_ASAN_OBJS) $(BSSL_LDFLAGS)

$(BUILD)/bench_rsa: tests/bench/rsa_ifma.c crypto/rsa_ifma.c crypto/rsa_ifma.h crypto/rsa_ifma_kern.h crypto/ifma_burn.h | $(BUILD)
	$(CC) $(CFLAGS) $(BSSL_CFLAGS) -o $@ tests/bench/rsa_ifma.c crypto/rsa_ifma.c $(BSSL_LDFLAGS)

$(BUILD)/bench_hs_door: tests/bench/hs_door.c tests/bench/hs_pairs.h $(TLS_OBJS) $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) $(BSSL_CFLAGS) -o $@ tests/bench/hs_door.c $(TLS_OBJS) $(BSSL_LDFLAGS)

UNIT_TESTS += $(BUILD)/test_rsa_ifma

# ---- X25519 eight lanes with AVX-512 IFMA (crypto/x25519_ifma.c): unit test, bench-x25519 ----
$(BUILD)/test_x25519_ifma: tests/unit/test_x25519_ifma.c tests/bench/hs_pairs.h $(TLS_ASAN_OBJS) $(HDRS) \
		$(BUILD)/foreign_evp.so | $(BUILD)
	$(CC) $(CFLAGS) $(BSSL_CFLAGS) -fsanitize=address,undefined -o $@ tests/unit/test_x25519_ifma.c \
		$(TLS_ASAN_OBJS) $(BSSL_LDFLAGS)

# a stranger's EVP_DigestVerify that test_x25519_ifma preloads into a copy of itself
$(BUILD)/foreign_evp.so: tests/unit/foreign_evp.c | $(BUILD)
	$(CC) $(CFLAGS) -shared -fPIC -o $@ $<
UNIT_TESTS += $(BUILD)/test_x25519_ifma

$(BUILD)/bench_x25519: tests/bench/x25519_ifma.c crypto/x25519_ifma.c crypto/x25519_ifma.h crypto/x25519_ifma_kern.h crypto/ifma_burn.h \
		crypto/rsa_ifma.c | $(BUILD)
	$(CC) $(CFLAGS) $(BSSL_CFLAGS) -o $@ tests/bench/x25519_ifma.c crypto/x25519_ifma.c crypto/rsa_ifma.c \
		$(BSSL_LDFLAGS)

.PHONY: bench-x25519 bench-hs
bench-x25519: deps
	@$(MAKE) --no-print-directory $(BUILD)/bench_x25519
	@$(BUILD)/bench_x25519 $(if $(BENCH_SECS),$(BENCH_SECS),2)

# ECDSA handshakes through the door, K per poll round, without and with lanes
bench-hs: deps
	@$(MAKE) --no-print-directory $(BUILD)/bench_hs_door
	@$(BUILD)/bench_hs_door --key ecdsa $(if $(BENCH_SECS),$(BENCH_SECS),2)
# ---- end X25519 IFMA ----

# ---- ECDSA P-256 signing and verification eight lanes with AVX-512 IFMA (crypto/p256_ifma.c): unit test, bench-p256 ----
$(BUILD)/test_p256_ifma: tests/unit/test_p256_ifma.c $(BUILD)/obj-asan/crypto/p256_ifma.o $(BUILD)/obj-asan/crypto/rsa_ifma.o $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) $(BSSL_CFLAGS) -fsanitize=address,undefined -o $@ tests/unit/test_p256_ifma.c \
		$(BUILD)/obj-asan/crypto/p256_ifma.o $(BUILD)/obj-asan/crypto/rsa_ifma.o $(BSSL_LDFLAGS) -lpthread
UNIT_TESTS += $(BUILD)/test_p256_ifma

$(BUILD)/bench_p256: tests/bench/p256_ifma.c crypto/p256_ifma.c crypto/p256_ifma.h crypto/p256_ifma_kern.h crypto/ifma_burn.h \
		crypto/rsa_ifma.c | $(BUILD)
	$(CC) $(CFLAGS) $(BSSL_CFLAGS) -o $@ tests/bench/p256_ifma.c crypto/p256_ifma.c crypto/rsa_ifma.c \
		$(BSSL_LDFLAGS) -lpthread

.PHONY: bench-p256
bench-p256: deps
	@$(MAKE) --no-print-directory $(BUILD)/bench_p256
	@$(BUILD)/bench_p256 $(if $(BENCH_SECS),$(BENCH_SECS),2)
# ---- end P-256 IFMA ----

.PHONY: bench-rsa bench-rsa-lab
bench-rsa: deps
	@$(MAKE) --no-print-directory $(BUILD)/bench_rsa $(BUILD)/bench_hs_door
	@$(BUILD)/bench_rsa $(if $(BENCH_SECS),$(BENCH_SECS),2)
	@$(BUILD)/bench_hs_door --key rsa $(if $(BENCH_SECS),$(BENCH_SECS),2)

bench-rsa-lab: deps
	@$(MAKE) --no-print-directory all
	@tests/bench/rsa_lab.sh
# ---- end RSA IFMA ----

unit: $(UNIT_TESTS)
	@tests/run-unit.sh $(UNIT_TESTS)

lab: all
	@tests/lab/run.sh

# ---- sanitized lab (issue 10): ASan + UBSan mxgate and mxgate-control, make test-asan ----
# DPDK stays static and uninstrumented (its memory is not poisoned; our code
# and the DPDK inline functions it calls are). tests/asan.sh runs the whole
# lab suite against these binaries and fails on any sanitizer report.
ASAN_BUILD := $(BUILD)/asan
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=address
$(ASAN_BUILD):
	@mkdir -p $(ASAN_BUILD)
$(ASAN_BUILD)/mxgate: $(MXGATE_SRCS) $(HDRS) | $(ASAN_BUILD)
	$(CC) $(CFLAGS) $(ASAN_FLAGS) $(DPDK_CFLAGS) $(BSSL_CFLAGS) -o $@ $(MXGATE_SRCS) $(DPDK_LDFLAGS) $(BSSL_LDFLAGS) \
		$(CARES_LDFLAGS)
$(ASAN_BUILD)/mxgate-control: $(CONTROL_SRCS) $(HDRS) | $(ASAN_BUILD)
	$(CC) $(CFLAGS) $(ASAN_FLAGS) $(BSSL_CFLAGS) -o $@ $(CONTROL_SRCS) -lhiredis $(BSSL_LDFLAGS)
# the TCP unit test under both sanitizers, halting on the first report
$(ASAN_BUILD)/test_tcp: tests/unit/test_tcp.c $(TCP_TEST_SRCS) $(HDRS) | $(ASAN_BUILD)
	$(CC) $(CFLAGS) $(ASAN_FLAGS) -fno-sanitize-recover=all $(DPDK_CFLAGS) -o $@ tests/unit/test_tcp.c \
		$(TCP_TEST_SRCS) $(DPDK_LDFLAGS)
asan: $(ASAN_BUILD)/mxgate $(ASAN_BUILD)/mxgate-control $(ASAN_BUILD)/test_tcp
test-asan: deps
	@$(MAKE) --no-print-directory all asan
	@tests/run-unit.sh $(ASAN_BUILD)/test_tcp
	@tests/asan.sh
# make soak: a bounded soak of the lab under load and faults (SOAK_MINUTES, default 10)
soak: deps
	@$(MAKE) --no-print-directory all
	@tests/soak/soak.sh
.PHONY: asan test-asan soak
# ---- end sanitized lab and soak ----

# ---- fuzzing (libFuzzer + ASan + UBSan, clang; tests/fuzz/, corpus in tests/fuzz/corpus/) ----
#   make fuzz [FUZZ_SECONDS=600] [FUZZ_TARGETS="smtp_proto ..."]  each target that long, FUZZ_JOBS (cores) at a time
#   make test runs every target briefly (tests/fuzz/run.sh: corpus replay + FUZZ_TEST_SECONDS of new inputs)
DEB_PACKAGES += clang libclang-rt-14-dev
FUZZ_CC := clang
FUZZ_BASE_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -I. -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS := $(FUZZ_BASE_CFLAGS) -fsanitize=fuzzer,address,undefined
FUZZ_NAMES := smtp_proto tcp policy config ctl passwd reply relay_wire dns
FUZZ_BINS := $(foreach t,$(FUZZ_NAMES),$(BUILD)/fuzz/fuzz_$(t))
FUZZ_SECONDS ?= 600
FUZZ_TEST_SECONDS ?= 20
FUZZ_TARGETS ?= $(FUZZ_NAMES)

$(BUILD)/fuzz:
	@mkdir -p $@

$(BUILD)/fuzz/fuzz_smtp_proto: tests/fuzz/fuzz_smtp_proto.c dataplane/smtp/smtp_proto.c common/strutil.c $(HDRS) | $(BUILD)/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_smtp_proto.c dataplane/smtp/smtp_proto.c common/strutil.c

$(BUILD)/fuzz/fuzz_tcp: tests/fuzz/fuzz_tcp.c $(TCP_TEST_SRCS) $(HDRS) | $(BUILD)/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(DPDK_CFLAGS) -Wno-error=unused-command-line-argument -o $@ \
		tests/fuzz/fuzz_tcp.c $(TCP_TEST_SRCS) $(DPDK_LDFLAGS)

$(BUILD)/fuzz/fuzz_policy: tests/fuzz/fuzz_policy.c policy/policy.c common/strutil.c $(HDRS) | $(BUILD)/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_policy.c policy/policy.c common/strutil.c

$(BUILD)/fuzz/fuzz_config: tests/fuzz/fuzz_config.c common/config.c $(HDRS) | $(BUILD)/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_config.c common/config.c

# fuzz_ctl includes dataplane/service.c (its request handlers are static) and so links what it calls
FUZZ_CTL_SRCS := $(COMMON_SRCS) dataplane/stats.c $(NET_SRCS) $(SMTP_SRCS)
# The crypto kernels it links are arithmetic that no control request steers:
# they get ASan and UBSan but no coverage, which takes clang over two minutes
# on crypto/rsa_ifma.c alone.
IFMA_SRCS := crypto/rsa_ifma.c crypto/x25519_ifma.c crypto/p256_ifma.c
FUZZ_CTL_OBJS := $(filter-out $(IFMA_SRCS),$(FUZZ_CTL_SRCS)) $(patsubst %.c,$(BUILD)/obj-fuzz/%.o,$(IFMA_SRCS))
$(BUILD)/obj-fuzz/%.o: %.c $(HDRS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_BASE_CFLAGS) -fsanitize=address,undefined $(DPDK_CFLAGS) $(BSSL_CFLAGS) \
		-Wno-error=unused-command-line-argument -c -o $@ $<
$(BUILD)/fuzz/fuzz_ctl: tests/fuzz/fuzz_ctl.c dataplane/service.c $(FUZZ_CTL_OBJS) $(HDRS) | $(BUILD)/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(DPDK_CFLAGS) $(BSSL_CFLAGS) -Wno-error=unused-command-line-argument -o $@ \
		tests/fuzz/fuzz_ctl.c $(FUZZ_CTL_OBJS) $(DPDK_LDFLAGS) $(BSSL_LDFLAGS) $(CARES_LDFLAGS)

$(BUILD)/fuzz/fuzz_passwd: tests/fuzz/fuzz_passwd.c crypto/passwd.c crypto/passwd.h | $(BUILD)/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(BSSL_CFLAGS) -o $@ tests/fuzz/fuzz_passwd.c crypto/passwd.c $(BSSL_LDFLAGS)

$(BUILD)/fuzz/fuzz_reply: tests/fuzz/fuzz_reply.c dataplane/smtp/relay_wire.c common/strutil.c $(HDRS) | $(BUILD)/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_reply.c dataplane/smtp/relay_wire.c common/strutil.c

$(BUILD)/fuzz/fuzz_relay_wire: tests/fuzz/fuzz_relay_wire.c dataplane/smtp/relay_wire.c common/strutil.c $(HDRS) | $(BUILD)/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_relay_wire.c dataplane/smtp/relay_wire.c common/strutil.c

$(BUILD)/fuzz/fuzz_dns: tests/fuzz/fuzz_dns.c dataplane/dns/msg.c $(HDRS) | $(BUILD)/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_dns.c dataplane/dns/msg.c $(CARES_LDFLAGS)

# the two that link BoringSSL relink when its rebuild changes (see BSSL_USERS)
$(BUILD)/fuzz/fuzz_passwd $(BUILD)/fuzz/fuzz_ctl: $(BSSL_LIB)

fuzz-build: $(FUZZ_BINS)

fuzz: deps
	@$(MAKE) --no-print-directory fuzz-build
	@tests/fuzz/run.sh -t $(FUZZ_SECONDS) $(foreach t,$(FUZZ_TARGETS),$(BUILD)/fuzz/fuzz_$(t))
# ---- end fuzzing ----

# ---- the two commands of the README ----

deps:
	@deploy/deps.sh $(DEB_PACKAGES) $(BSSL_BUILD_DEPS)
	@deploy/boringssl.sh build

# the build on every core (a fresh clone compiles some fifty programs, most with ASan)
BUILD_JOBS ?= $(shell nproc 2>/dev/null || echo 1)

test: deps
	@$(MAKE) --no-print-directory -j$(BUILD_JOBS) all $(UNIT_TESTS) $(FUZZ_BINS)
	@FUZZ_BINS="$(FUZZ_BINS)" FUZZ_TEST_SECONDS=$(FUZZ_TEST_SECONDS) tests/run-all.sh $(UNIT_TESTS)

run: deps
	@$(MAKE) --no-print-directory all
	@deploy/run.sh

bench-tcp: deps
	@$(MAKE) --no-print-directory all $(BUILD)/kbench
	@tests/bench/tcp.sh

bench-smtp: deps
	@$(MAKE) --no-print-directory all $(BUILD)/tls_mem
	@tests/bench/smtp.sh

bench-auth: deps
	@$(MAKE) --no-print-directory $(BUILD)/auth_cost
	@$(BUILD)/auth_cost

# ---- bench-memif (issue 9 part 1: SMTP sessions through mxgate on net_memif, mxgen client
# and sink; prints RESULT lines for make bench; tests/bench/smtp_memif.sh says how) ----
.PHONY: bench-memif
bench-memif: deps
	@$(MAKE) --no-print-directory all
	@tests/bench/smtp_memif.sh
# ---- end bench-memif ----
# ---- make bench-dns (issue 13) ----
# make bench-dns: the message work per session (CPU time), then DNS's cost per session in the lab:
# banner latency and worker us with no DNS, a cold and a warm cache, side by side (tests/bench/dns_cost.sh)
.PHONY: bench-dns
$(BUILD)/bench_dns_msg: tests/bench/dns_msg.c dataplane/dns/msg.c dataplane/dns/cache.c $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) -o $@ tests/bench/dns_msg.c dataplane/dns/msg.c dataplane/dns/cache.c $(CARES_LDFLAGS)
bench-dns: deps
	@$(MAKE) --no-print-directory all $(BUILD)/bench_dns_msg
	@$(BUILD)/bench_dns_msg
	@tests/bench/dns_cost.sh
# ---- end bench-dns ----

$(BUILD)/auth_cost: tests/bench/auth_cost.c crypto/passwd.c crypto/passwd.h | $(BUILD)
	$(CC) $(CFLAGS) $(BSSL_CFLAGS) -o $@ tests/bench/auth_cost.c crypto/passwd.c $(BSSL_LDFLAGS)

# ---- BoringSSL rebuild: relink when it changes; make bench-crypto (Debian's SMALL build vs the rebuild) ----
BSSL_USERS := $(BUILD)/mxgate $(BUILD)/mxgen $(BUILD)/mxgate-control $(BUILD)/mxctl $(BUILD)/test_tls \
	$(BUILD)/test_auth $(BUILD)/tls_mem $(BUILD)/auth_cost $(BUILD)/crypto_speed
$(BSSL_USERS): $(BSSL_LIB)
$(BSSL_LIB):
	@echo "BoringSSL rebuild missing ($(BSSL_DIR)): run 'make deps' as root" >&2; exit 1

$(BUILD)/crypto_speed: tests/bench/crypto_speed.c | $(BUILD)
	$(CC) $(CFLAGS) $(BSSL_CFLAGS) -o $@ tests/bench/crypto_speed.c $(BSSL_LDFLAGS)

$(BUILD)/crypto_speed_stock: tests/bench/crypto_speed.c | $(BUILD)
	$(CC) $(CFLAGS) $(BSSL_CFLAGS) -o $@ tests/bench/crypto_speed.c $(BSSL_STOCK_LDFLAGS)

$(BUILD)/tls_mem_stock: tests/bench/tls_mem.c $(TLS_OBJS) $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) $(BSSL_CFLAGS) -o $@ tests/bench/tls_mem.c $(TLS_OBJS) $(BSSL_STOCK_LDFLAGS)

.PHONY: bench-crypto
bench-crypto: deps
	@$(MAKE) --no-print-directory $(BUILD)/crypto_speed $(BUILD)/crypto_speed_stock \
		$(BUILD)/tls_mem $(BUILD)/tls_mem_stock
	@python3 tests/bench/crypto_bench.py
# ---- end BoringSSL rebuild ----

# ---- make bench (issue 9 part 4): mxgate and the peers side by side ----
# nginx's mail proxy, Postfix (its tools are already above) and Haraka (npm,
# installed by tests/bench/bench.sh into /var/cache/mxbench-haraka) as peers.
DEB_PACKAGES += nginx-full libnginx-mod-mail nodejs
BENCH ?= full
.PHONY: bench
bench: deps
	@$(MAKE) --no-print-directory all $(BUILD)/tls_mem
	@BENCH=$(BENCH) tests/bench/bench.sh
# ---- end make bench ----
# ---- make bench-latency (issue 9 part 3): p99 handshake latency at 80% of capacity,
# mxgate on memif and in the tap lab, nginx on loopback, side by side (bench.sh BENCH_LATENCY=1) ----
.PHONY: bench-latency
bench-latency: deps
	@$(MAKE) --no-print-directory all
	@BENCH=short BENCH_SYSTEMS="mxgate-memif mxgate-tap nginx" BENCH_WORKS="starttls-ecdsa starttls-rsa" \
		BENCH_GROUPS="ecdsa rsa" BENCH_LATENCY=1 BENCH_DURATION=$(or $(BENCH_DURATION),10) BENCH_TIME_CAP=1500 \
		tests/bench/bench.sh
# ---- end make bench-latency ----

# ---- make deb: the Debian package (deploy/deb.sh; t_deb installs it in an overlay) ----
DEB_PACKAGES += fakeroot dpkg-dev
.PHONY: deb
deb: deps
	@deploy/deb.sh
# ---- end make deb ----

clean:
	rm -rf $(BUILD)/mxgate $(BUILD)/mxgen $(BUILD)/kbench $(BUILD)/test_* $(BUILD)/mxctl \
		$(BUILD)/mxgate-control $(BUILD)/tls_mem $(BUILD)/auth_cost $(BUILD)/bench_rsa $(BUILD)/bench_hs_door \
		$(BUILD)/crypto_speed $(BUILD)/crypto_speed_stock $(BUILD)/tls_mem_stock $(BUILD)/fuzz $(BUILD)/bench_dns_msg
	rm -rf $(ASAN_BUILD) $(BUILD)/obj $(BUILD)/obj-asan $(BUILD)/obj-fuzz
