/*
 * smtp_kernel.h - mxgen's SMTP load client over kernel sockets (epoll,
 * BoringSSL). mxgen's main() hands argv over before it initialises DPDK's
 * EAL when argv[1] names one of these modes, so the SMTP modes run as an
 * ordinary process (inside the lab namespace, or against a peer MTA on
 * loopback) with no hugepages, ports or lcores.
 */
#ifndef MX_SMTP_KERNEL_H
#define MX_SMTP_KERNEL_H

#include <stdio.h>

/* Is name one of the kernel-socket SMTP modes (smtp, smtp-handshake, smtp-idle)? */
int smtp_kernel_is_mode(const char *name);

/*
 * Run a mode: argv[0] is the mode, options follow (see the usage text).
 * Returns the process exit status: 0, 1 set-up failure, 2 usage, 3 the
 * run had errors (4 is the watchdog, which exits by itself).
 */
int smtp_kernel_main(int argc, char **argv);

/* SIGALRM handler of every mode: the run overran its hard time cap; exit 4. */
void mxgen_watchdog(int sig);

/* The usage text of the SMTP modes. */
void smtp_kernel_usage(FILE *f, const char *prog);

#endif
