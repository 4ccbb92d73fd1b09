/* UTF-8 validation, with the same rule the JSON parser applies (RFC 3629:
 * no overlong forms, no UTF-16 surrogates, nothing past U+10FFFF), so that
 * nothing hearth builds can be refused when parsed back. */
#ifndef HEARTH_UTF8_H
#define HEARTH_UTF8_H

#include <stddef.h>

/* 1 if s[0..n) is well-formed UTF-8 (NUL bytes allowed), else 0 */
int hearth_utf8_valid(const char *s, size_t n);
/* number of code points in well-formed UTF-8 */
size_t hearth_utf8_count(const char *s, size_t n);

#endif
