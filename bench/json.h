/*
 * json.h - the one JSON helper the benchmark programs share: a string,
 * quoted and escaped, on stdout.  Header-only: each program is one file.
 */
#ifndef MSHV_EMU_BENCH_JSON_H
#define MSHV_EMU_BENCH_JSON_H

#include <stdio.h>

static inline void print_json_string(const char *text)
{
	putchar('"');
	for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
		if (*c == '"' || *c == '\\')
			printf("\\%c", *c);
		else if (*c < 0x20)
			printf("\\u%04x", *c);
		else
			putchar(*c);
	}
	putchar('"');
}

#endif
