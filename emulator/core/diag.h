/*
 * diag.h - diagnostics about an input file, printed like a compiler's:
 *   policies/x.yaml:12:5: error: capabilities[2].id: 0x1 is already used by REGISTER_PAGE
 *
 * A load collects every error it can find before giving up, so a user fixes
 * a file in one pass.  Cold path only.
 */
#ifndef MSHV_EMU_DIAG_H
#define MSHV_EMU_DIAG_H

#include <stddef.h>
#include <stdio.h>

struct diag {
	char *file;
	unsigned line; /* 1-based; 0 when the error is about the whole file */
	unsigned column;
	char *message;
};

struct diag_list {
	struct diag *items;
	size_t count;
	size_t capacity;
};

/* diag_add - append one error.  Out of memory is fatal (abort): a load that
 * cannot even record its errors has nothing sensible left to do.  The
 * message is kept to one line: a control character in it (a scalar quoted
 * from the input may hold any) is written as a C escape, `\n`, `\x1b`. */
__attribute__((format(printf, 5, 6))) void diag_add(struct diag_list *list, const char *file,
						    unsigned line, unsigned column, const char *fmt,
						    ...);

/* diag_format - one diagnostic as "FILE:LINE:COL: error: MESSAGE" (no
 * newline), into BUF of SIZE bytes. */
void diag_format(const struct diag *d, char *buf, size_t size);

/* diag_print - every diagnostic, one per line. */
void diag_print(const struct diag_list *list, FILE *out);

void diag_free(struct diag_list *list);

#endif
