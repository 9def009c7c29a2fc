/*
 * foreign_evp.so - an object that defines EVP_DigestVerify as another
 * libcrypto would (OpenSSL's, loaded into the process ahead of BoringSSL's).
 * test_x25519_ifma preloads it into a copy of itself: mxgate's door must
 * refuse to call it (libcrypto_next in crypto/tls.c), not pass it
 * BoringSSL's structures. If it is ever called, it says so and exits 3.
 */
#include <stdio.h>
#include <unistd.h>

int EVP_DigestVerify(void *ctx, const unsigned char *sig, size_t sig_len, const unsigned char *data,
		     size_t len);

int EVP_DigestVerify(void *ctx, const unsigned char *sig, size_t sig_len, const unsigned char *data,
		     size_t len)
{
	(void)ctx, (void)sig, (void)sig_len, (void)data, (void)len;
	fprintf(stderr, "foreign EVP_DigestVerify called\n");
	_exit(3);
}
