/*
 * utf8 — is a byte string well-formed UTF-8 (RFC 3629, Unicode table 3-7)?
 *
 * Well-formed means what every JSON library and every SMTPUTF8 peer
 * expects: no overlong forms, no surrogates (U+D800..U+DFFF), nothing
 * above U+10FFFF, no stray continuation bytes, no truncated sequences.
 * Used to refuse addresses at MAIL/RCPT and to escape what is not UTF-8
 * before it reaches a log or a JSON answer.  Pure functions, any thread.
 */
#ifndef SLUICE_CORE_UTF8_H
#define SLUICE_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Length (1..4) of the well-formed sequence that starts p[0..n), with its
 * code point in *cp (may be NULL); 0 if the bytes there do not start one
 * (n == 0 included).  An ASCII byte, NUL too, is a sequence of 1.
 */
size_t utf8_seq(const char *p, size_t n, uint32_t *cp);

/* True if all n bytes of p are well-formed UTF-8. */
bool utf8_valid(const char *p, size_t n);

#endif
