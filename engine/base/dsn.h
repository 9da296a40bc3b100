/*
 * dsn.h — passwords inside connection strings.
 *
 * An input or a target field that is not declared secret may still carry
 * one: `postgresql://app:PASSWORD@db1/app`, `host=db1 password='PASSWORD'`.
 * These functions find such passwords without a full parser, so they work
 * on text libpq itself refuses (a malformed URI is exactly what ends up
 * quoted in an error message). They err on the side of finding too much:
 * what they find is only ever masked.
 */
#ifndef RUNE_DSN_H
#define RUNE_DSN_H

#include <stddef.h>

/* Calls found(ud, value) for each password in text, NUL-terminated; also
 * its decoded form (percent-decoding in a URI, quotes and backslashes in
 * key=value form) when that differs. value is only valid during the call. */
void rune_dsn_passwords(const char *text, void (*found)(void *ud, const char *value), void *ud);

/* malloc'd copy of text with each password, and each URI's userinfo
 * (`user:password@`), replaced by "***". */
char *rune_dsn_scrub(const char *text);

#endif
