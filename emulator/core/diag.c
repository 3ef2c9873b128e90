/*
 * diag.c - collect and print input diagnostics (see diag.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

static void *xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size);
	if (!p)
		abort();
	return p;
}

/* MESSAGE with every control character written as a C escape (\n, \x1b):
 * one line, and nothing a terminal or a log reader would act on, whatever
 * scalar from the input it quotes. */
static char *escape_controls(char *message)
{
	size_t controls = 0;
	for (const unsigned char *c = (const unsigned char *)message; *c; c++)
		controls += *c < 0x20 || *c == 0x7f;
	if (!controls)
		return message;
	char *escaped = malloc(strlen(message) + 3 * controls + 1), *out = escaped;
	if (!escaped)
		abort();
	for (const unsigned char *c = (const unsigned char *)message; *c; c++) {
		if (*c == '\n' || *c == '\r' || *c == '\t') {
			*out++ = '\\';
			*out++ = *c == '\n' ? 'n' : *c == '\r' ? 'r' : 't';
		} else if (*c < 0x20 || *c == 0x7f) {
			out += sprintf(out, "\\x%02x", *c);
		} else {
			*out++ = (char)*c;
		}
	}
	*out = '\0';
	free(message);
	return escaped;
}

void diag_add(struct diag_list *list, const char *file, unsigned line, unsigned column,
	      const char *fmt, ...)
{
	if (list->count == list->capacity) {
		list->capacity = list->capacity ? list->capacity * 2 : 8;
		list->items = xrealloc(list->items, list->capacity * sizeof(*list->items));
	}
	va_list ap;
	va_start(ap, fmt);
	char *message;
	if (vasprintf(&message, fmt, ap) < 0)
		abort();
	va_end(ap);
	struct diag *d = &list->items[list->count++];
	d->file = strdup(file);
	if (!d->file)
		abort();
	d->line = line;
	d->column = column;
	d->message = escape_controls(message);
}

void diag_format(const struct diag *d, char *buf, size_t size)
{
	if (d->line)
		snprintf(buf, size, "%s:%u:%u: error: %s", d->file, d->line, d->column, d->message);
	else
		snprintf(buf, size, "%s: error: %s", d->file, d->message);
}

void diag_print(const struct diag_list *list, FILE *out)
{
	char buf[1024];
	for (size_t i = 0; i < list->count; i++) {
		diag_format(&list->items[i], buf, sizeof(buf));
		fprintf(out, "%s\n", buf);
	}
}

void diag_free(struct diag_list *list)
{
	for (size_t i = 0; i < list->count; i++) {
		free(list->items[i].file);
		free(list->items[i].message);
	}
	free(list->items);
	memset(list, 0, sizeof(*list));
}
