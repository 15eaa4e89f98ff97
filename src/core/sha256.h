/* sha256.h - SHA-256 (FIPS 180-4), streaming, for file and tensor checksums. */
#ifndef MEDGE_CORE_SHA256_H
#define MEDGE_CORE_SHA256_H
#include <stddef.h>
#include <stdint.h>

typedef struct medge_sha256 {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t nbuf;
} medge_sha256;

void medge_sha256_init(medge_sha256 *s);
void medge_sha256_update(medge_sha256 *s, const void *data, size_t n);
void medge_sha256_final(medge_sha256 *s, uint8_t out[32]);
/* One-shot; hex is 65 bytes (64 hex digits + NUL). */
void medge_sha256_hex(const void *data, size_t n, char hex[65]);
void medge_sha256_to_hex(const uint8_t dig[32], char hex[65]);
#endif
