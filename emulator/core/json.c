/*
 * json.c - JSON strings (see json.h).
 *
 * What is written comes from users and processes: a policy's path (any
 * bytes a file name may hold), a process's comm (what it passed to
 * prctl(PR_SET_NAME), cut at 15 bytes by the kernel, possibly mid-character),
 * a rule's name.  One byte that is not UTF-8 would make the whole document
 * invalid JSON, so such bytes are replaced, not passed through.
 */
#include <string.h>

#include "json.h"

/* utf8_valid - length of the well-formed UTF-8 sequence (RFC 3629) at S,
 * which has AVAIL bytes, or 0. */
static size_t utf8_valid(const unsigned char *s, size_t avail)
{
	size_t len = s[0] >= 0xc2 && s[0] <= 0xdf   ? 2
		     : s[0] >= 0xe0 && s[0] <= 0xef ? 3
		     : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4
						    : 0;
	if (!len || len > avail)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* Overlong forms, UTF-16 surrogates, code points past U+10FFFF. */
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
		return 0;
	return len;
}

void json_string(FILE *out, const char *text, size_t max)
{
	if (!text) {
		fputs("null", out);
		return;
	}
	const unsigned char *s = (const unsigned char *)text;
	size_t len = strnlen(text, max);
	putc('"', out);
	for (size_t i = 0; i < len; i++) {
		size_t seq;
		if (s[i] == '"' || s[i] == '\\') {
			putc('\\', out);
			putc(s[i], out);
		} else if (s[i] < 0x20) {
			fprintf(out, "\\u%04x", s[i]);
		} else if (s[i] < 0x80) {
			putc(s[i], out);
		} else if ((seq = utf8_valid(s + i, len - i)) != 0) {
			fwrite(text + i, 1, seq, out);
			i += seq - 1;
		} else {
			fputs("\\ufffd", out);
		}
	}
	putc('"', out);
}
