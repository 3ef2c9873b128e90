// SPDX-License-Identifier: MIT
/*
 * probe_yaml.c - the YAML subset of probe_yaml.h: a recursive descent over
 * lines for block collections and over characters for flow collections.
 *
 * Conventions: every block parser returns with the position at the first
 * character of the next line that has content (blank and comment-only lines
 * skipped) and parser.indent set to that line's indentation, or -1 at the
 * end of the input; the caller decides from the indentation whether the
 * line is still its own.  The first error found is the one reported.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe_yaml.h"

struct parser {
	char *s; /* the input, NUL-terminated */
	size_t pos;
	unsigned line;	   /* of pos */
	size_t line_start; /* where that line starts */
	int indent;	   /* of the content line pos is on; -1 at the end */
	unsigned depth;
	struct probe_yaml_error *error;
};

static bool failed(const struct parser *p)
{
	return p->error->message[0] != '\0';
}

static void fail_at(struct parser *p, unsigned line, unsigned column, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void fail_at(struct parser *p, unsigned line, unsigned column, const char *fmt, ...)
{
	va_list ap;

	if (failed(p))
		return;
	p->error->line = line;
	p->error->column = column;
	va_start(ap, fmt);
	vsnprintf(p->error->message, sizeof(p->error->message), fmt, ap);
	va_end(ap);
}

static unsigned column_of(const struct parser *p, size_t pos)
{
	return (unsigned)(pos - p->line_start) + 1;
}

#define FAIL(p, ...) fail_at((p), (p)->line, column_of((p), (p)->pos), __VA_ARGS__)

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* A line break or the end of the input at I. */
static bool is_eol(const struct parser *p, size_t i)
{
	return p->s[i] == '\0' || p->s[i] == '\n' || (p->s[i] == '\r' && p->s[i + 1] == '\n');
}

static bool is_flow_indicator(char c)
{
	return c != '\0' && strchr(",[]{}", c) != NULL;
}

/* What is at the position, for messages: the start of the rest of the line. */
static const char *found(const struct parser *p, char *buf, size_t size)
{
	size_t n = 0;

	if (p->s[p->pos] == '\0')
		return "the end of the file";
	if (is_eol(p, p->pos))
		return "the end of the line";
	while (n < 24 && !is_eol(p, p->pos + n))
		n++;
	snprintf(buf, size, "`%.*s`%s", (int)n, p->s + p->pos, is_eol(p, p->pos + n) ? "" : "...");
	return buf;
}

/* Past the end of the current line, to the first byte of the next. */
static void line_next(struct parser *p)
{
	while (!is_eol(p, p->pos))
		p->pos++;
	if (p->s[p->pos] == '\0')
		return;
	p->pos += p->s[p->pos] == '\r' ? 2 : 1;
	p->line++;
	p->line_start = p->pos;
}

static void blanks_skip(struct parser *p)
{
	while (is_blank(p->s[p->pos]))
		p->pos++;
}

/* A `#` at I starts a comment: at the start of a line or after a blank. */
static bool is_comment(const struct parser *p, size_t i)
{
	return p->s[i] == '#' && (i == p->line_start || is_blank(p->s[i - 1]));
}

/* From the start of a line: past blank and comment-only lines, to the first
 * content byte; parser.indent is its indentation, -1 at the end. */
static bool content_next(struct parser *p)
{
	for (;;) {
		size_t spaces = 0, tab = 0;
		bool has_tab = false;

		while (is_blank(p->s[p->pos])) {
			if (p->s[p->pos] == '\t' && !has_tab) {
				has_tab = true;
				tab = p->pos;
			}
			spaces += !has_tab;
			p->pos++;
		}
		if (p->s[p->pos] == '\0') {
			p->indent = -1;
			return true;
		}
		if (is_comment(p, p->pos) || is_eol(p, p->pos)) {
			line_next(p);
			continue;
		}
		if (has_tab) {
			fail_at(p, p->line, column_of(p, tab),
				"a tab in the indentation: YAML indents with spaces only; replace "
				"it "
				"with spaces");
			return false;
		}
		p->indent = (int)spaces;
		if (spaces == 0 &&
		    (!strncmp(p->s + p->pos, "---", 3) || !strncmp(p->s + p->pos, "...", 3)) &&
		    (is_blank(p->s[p->pos + 3]) || is_eol(p, p->pos + 3))) {
			FAIL(p,
			     "a document marker `%.3s`: a policy is one YAML document; remove "
			     "the marker (and any document after it)",
			     p->s + p->pos);
			return false;
		}
		if (spaces == 0 && p->s[p->pos] == '%') {
			FAIL(p, "a directive (`%%...`) is not supported: remove the line");
			return false;
		}
		return true;
	}
}

/* The rest of the line is blanks and perhaps a comment; then past it. */
static bool line_end(struct parser *p)
{
	char buf[48];

	blanks_skip(p);
	if (is_comment(p, p->pos) || is_eol(p, p->pos)) {
		line_next(p);
		return true;
	}
	if (p->s[p->pos] == ':')
		FAIL(p,
		     "a `:` after a value: a key must be a plain or quoted scalar, and a "
		     "second `key:` on one line is not YAML; put nested keys on the lines below");
	else
		FAIL(p,
		     "found %s after the value: write one value per line, quote a value that "
		     "holds such characters, and put a blank before `#` to start a comment",
		     found(p, buf, sizeof(buf)));
	return false;
}

static bool depth_enter(struct parser *p, unsigned line, unsigned column)
{
	if (++p->depth <= PROBE_YAML_MAX_DEPTH)
		return true;
	fail_at(p, line, column,
		"nesting deeper than %d levels: a policy needs a handful; flatten the document",
		PROBE_YAML_MAX_DEPTH);
	return false;
}

static struct probe_yaml_node *node_new(struct parser *p, enum probe_yaml_kind kind, unsigned line,
					unsigned column)
{
	struct probe_yaml_node *node = calloc(1, sizeof(*node));

	if (!node) {
		fail_at(p, line, column, "out of memory");
		return NULL;
	}
	node->kind = kind;
	node->line = line;
	node->column = column;
	return node;
}

static struct probe_yaml_node *scalar_new(struct parser *p, unsigned line, unsigned column,
					  const char *text, size_t len, bool quoted)
{
	struct probe_yaml_node *node = node_new(p, PROBE_YAML_SCALAR, line, column);

	if (!node)
		return NULL;
	node->quoted = quoted;
	node->text = strndup(text, len);
	if (!node->text) {
		fail_at(p, line, column, "out of memory");
		free(node);
		return NULL;
	}
	return node;
}

void probe_yaml_free(struct probe_yaml_node *node)
{
	if (!node)
		return;
	for (size_t i = 0; node->pairs && i < node->count; i++) {
		probe_yaml_free(node->pairs[i].key);
		probe_yaml_free(node->pairs[i].value);
	}
	for (size_t i = 0; node->items && i < node->count; i++)
		probe_yaml_free(node->items[i]);
	free(node->pairs);
	free(node->items);
	free(node->text);
	free(node);
}

/* Appends ITEM to SEQUENCE; on failure ITEM is freed. */
static bool item_add(struct parser *p, struct probe_yaml_node *sequence,
		     struct probe_yaml_node *item)
{
	struct probe_yaml_node **grown;

	if ((sequence->count & (sequence->count - 1)) == 0) { /* 0, 1, 2, 4, ...: grow */
		grown = realloc(sequence->items,
				(sequence->count ? sequence->count * 2 : 1) * sizeof(*grown));
		if (!grown) {
			fail_at(p, item->line, item->column, "out of memory");
			probe_yaml_free(item);
			return false;
		}
		sequence->items = grown;
	}
	sequence->items[sequence->count++] = item;
	return true;
}

/* Appends KEY: VALUE to MAPPING; on failure both are freed. */
static bool pair_add(struct parser *p, struct probe_yaml_node *mapping, struct probe_yaml_node *key,
		     struct probe_yaml_node *value)
{
	struct probe_yaml_pair *grown;

	if ((mapping->count & (mapping->count - 1)) == 0) {
		grown = realloc(mapping->pairs,
				(mapping->count ? mapping->count * 2 : 1) * sizeof(*grown));
		if (!grown) {
			fail_at(p, key->line, key->column, "out of memory");
			probe_yaml_free(key);
			probe_yaml_free(value);
			return false;
		}
		mapping->pairs = grown;
	}
	mapping->pairs[mapping->count++] = (struct probe_yaml_pair){.key = key, .value = value};
	return true;
}

struct key_ref {
	const char *text;
	size_t index;
};

static int key_ref_cmp(const void *a, const void *b)
{
	const struct key_ref *x = a, *y = b;
	int cmp = strcmp(x->text, y->text);

	if (cmp)
		return cmp;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* A key given twice: the earliest repeat is reported.  Sorting keeps a
 * mapping of many keys from costing their square. */
static bool keys_unique(struct parser *p, const struct probe_yaml_node *mapping)
{
	struct key_ref *refs;
	size_t repeat = SIZE_MAX, first = 0;

	if (mapping->count < 2)
		return true;
	refs = calloc(mapping->count, sizeof(*refs));
	if (!refs) {
		fail_at(p, mapping->line, mapping->column, "out of memory");
		return false;
	}
	for (size_t i = 0; i < mapping->count; i++)
		refs[i] = (struct key_ref){.text = mapping->pairs[i].key->text, .index = i};
	qsort(refs, mapping->count, sizeof(*refs), key_ref_cmp);
	for (size_t i = 1; i < mapping->count; i++) {
		if (strcmp(refs[i - 1].text, refs[i].text) || refs[i].index >= repeat)
			continue;
		repeat = refs[i].index;
		/* the first of this key's run */
		first = refs[i - 1].index;
		for (size_t j = i - 1; j > 0 && !strcmp(refs[j - 1].text, refs[i].text); j--)
			first = refs[j - 1].index;
	}
	free(refs);
	if (repeat == SIZE_MAX)
		return true;
	fail_at(p, mapping->pairs[repeat].key->line, mapping->pairs[repeat].key->column,
		"key `%s` is given twice in this mapping (first at line %u, column %u): keep one",
		mapping->pairs[repeat].key->text, mapping->pairs[first].key->line,
		mapping->pairs[first].key->column);
	return false;
}

/* ---- scalars ---- */

/* Past the closing quote of the quoted scalar at I, or 0 if it does not
 * close on its line. */
static size_t quoted_end(const struct parser *p, size_t i)
{
	char quote = p->s[i++];

	for (;;) {
		if (is_eol(p, i))
			return 0;
		if (p->s[i] == quote) {
			if (quote == '\'' && p->s[i + 1] == '\'') {
				i += 2;
				continue;
			}
			return i + 1;
		}
		if (quote == '"' && p->s[i] == '\\' && !is_eol(p, i + 1))
			i += 2;
		else
			i++;
	}
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The code point of DIGITS hex digits at p->pos + 2 (after `\x`, `\u`,
 * `\U`) as UTF-8 into OUT; returns the bytes written, 0 on error. */
static size_t escape_hex(struct parser *p, unsigned digits, char *out)
{
	uint32_t code = 0;

	for (unsigned i = 0; i < digits; i++) {
		int digit = hex_digit(p->s[p->pos + 2 + i]);

		if (digit < 0) {
			FAIL(p, "`\\%c` needs %u hex digits", p->s[p->pos + 1], digits);
			return 0;
		}
		code = code << 4 | (uint32_t)digit;
	}
	if (code == 0) {
		FAIL(p, "a NUL character cannot be part of a value: remove the escape");
		return 0;
	}
	if (code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
		FAIL(p, "`\\%c` escapes U+%X, which is not a character", p->s[p->pos + 1], code);
		return 0;
	}
	if (code < 0x80) {
		out[0] = (char)code;
		return 1;
	}
	if (code < 0x800) {
		out[0] = (char)(0xC0 | code >> 6);
		out[1] = (char)(0x80 | (code & 0x3F));
		return 2;
	}
	if (code < 0x10000) {
		out[0] = (char)(0xE0 | code >> 12);
		out[1] = (char)(0x80 | (code >> 6 & 0x3F));
		out[2] = (char)(0x80 | (code & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | code >> 18);
	out[1] = (char)(0x80 | (code >> 12 & 0x3F));
	out[2] = (char)(0x80 | (code >> 6 & 0x3F));
	out[3] = (char)(0x80 | (code & 0x3F));
	return 4;
}

/* One escape of a double-quoted scalar at p->pos (the backslash) into OUT;
 * advances past it.  Every escape is at least as long as what it writes. */
static size_t escape_parse(struct parser *p, char *out)
{
	static const char simple[] = "\\\\\"\"//n\nt\tr\r";
	char c = p->s[p->pos + 1];
	size_t len;

	for (size_t i = 0; simple[i]; i += 2) {
		if (c == simple[i]) {
			out[0] = simple[i + 1];
			p->pos += 2;
			return 1;
		}
	}
	if (c == 'x' || c == 'u' || c == 'U') {
		unsigned digits = c == 'x' ? 2 : c == 'u' ? 4 : 8;

		len = escape_hex(p, digits, out);
		if (len)
			p->pos += 2 + digits;
		return len;
	}
	if (c == '0')
		FAIL(p, "a NUL character (`\\0`) cannot be part of a value: remove it");
	else
		FAIL(p,
		     "unknown escape `\\%c`: use \\\\, \\\", \\/, \\n, \\t, \\r, \\xHH, \\uHHHH or "
		     "\\UHHHHHHHH, or single quotes, which have no escapes",
		     c ? c : ' ');
	return 0;
}

static struct probe_yaml_node *quoted_parse(struct parser *p)
{
	unsigned line = p->line, column = column_of(p, p->pos);
	char quote = p->s[p->pos];
	size_t end = quoted_end(p, p->pos), len = 0;
	struct probe_yaml_node *node;
	char *text;

	if (!end) {
		FAIL(p,
		     "this %s-quoted scalar does not close on its line: add the closing %c (a "
		     "quoted scalar may not span lines here)",
		     quote == '"' ? "double" : "single", quote);
		return NULL;
	}
	text = malloc(end - p->pos);
	if (!text) {
		FAIL(p, "out of memory");
		return NULL;
	}
	p->pos++;
	while (p->pos < end - 1) {
		char c = p->s[p->pos];

		if (quote == '\'' && c == '\'') { /* '' */
			text[len++] = '\'';
			p->pos += 2;
		} else if (quote == '"' && c == '\\') {
			size_t wrote = escape_parse(p, text + len);

			if (!wrote) {
				free(text);
				return NULL;
			}
			len += wrote;
		} else {
			text[len++] = c;
			p->pos++;
		}
	}
	p->pos = end;
	node = scalar_new(p, line, column, text, len, true);
	free(text);
	return node;
}

/* Refuses what YAML reads as something other than a plain scalar here. */
static bool plain_start_ok(struct parser *p, bool flow)
{
	char c = p->s[p->pos];
	bool blank_next = c && (is_blank(p->s[p->pos + 1]) || is_eol(p, p->pos + 1));

	switch (c) {
	case '&':
		FAIL(p, "an anchor (`&`) is not supported: write the value out in full");
		return false;
	case '*':
		FAIL(p, "an alias (`*`) is not supported: write the value out in full where it "
			"is used");
		return false;
	case '!':
		FAIL(p, "a tag (`!`) is not supported: remove it; every scalar is read as text");
		return false;
	case '|':
	case '>':
		FAIL(p,
		     "a block scalar (`%c`) is not supported: write the value on one line, "
		     "quoted if needed",
		     c);
		return false;
	case '@':
	case '`':
	case '%':
		FAIL(p, "`%c` cannot start a plain scalar: quote the value", c);
		return false;
	case '#':
		FAIL(p, "a `#` with no blank before it: put a blank before a comment, or quote "
			"the value");
		return false;
	case '?':
		if (blank_next) {
			FAIL(p, "a complex key (`? `) is not supported: write `key: value`");
			return false;
		}
		break;
	case ':':
		if (blank_next || (flow && is_flow_indicator(p->s[p->pos + 1]))) {
			FAIL(p, "a `:` with no key before it: write `key: value`");
			return false;
		}
		break;
	case '-':
		if (blank_next) {
			FAIL(p,
			     flow ? "a block sequence item (`- `) inside [ ] or { }: separate "
				    "entries with commas"
				  : "a sequence item (`- `) cannot start here: put it on its own "
				    "line, below its key");
			return false;
		}
		break;
	case ',':
	case '[':
	case ']':
	case '{':
	case '}':
		FAIL(p, "`%c` cannot start a plain scalar: quote the value", c);
		return false;
	default:
		break;
	}
	return true;
}

/* The end of the plain scalar at I (trailing blanks excluded): before the
 * end of the line, `: ` or ` #`, and in flow before , [ ] { }. */
static size_t plain_end(const struct parser *p, size_t i, bool flow)
{
	size_t start = i;

	for (; !is_eol(p, i); i++) {
		char c = p->s[i];

		if (c == ':' && (is_blank(p->s[i + 1]) || is_eol(p, i + 1) ||
				 (flow && is_flow_indicator(p->s[i + 1]))))
			break;
		if (c == '#' && i > start && is_blank(p->s[i - 1]))
			break;
		if (flow && is_flow_indicator(c))
			break;
	}
	while (i > start && is_blank(p->s[i - 1]))
		i--;
	return i;
}

/* A plain scalar at the position, which plain_start_ok accepted. */
static struct probe_yaml_node *plain_parse(struct parser *p, bool flow)
{
	unsigned line = p->line, column = column_of(p, p->pos);
	size_t end = plain_end(p, p->pos, flow);
	struct probe_yaml_node *node;
	char buf[48];

	if (end == p->pos) {
		FAIL(p, "expected a value, found %s", found(p, buf, sizeof(buf)));
		return NULL;
	}
	node = scalar_new(p, line, column, p->s + p->pos, end - p->pos, false);
	p->pos = end;
	return node;
}

/* Is the line, from the position, `key: ...`? */
static bool is_key_line(const struct parser *p)
{
	size_t i = p->pos;

	if (p->s[i] == '"' || p->s[i] == '\'') {
		i = quoted_end(p, i);
		if (!i)
			return false;
	} else {
		i = plain_end(p, i, false);
	}
	while (is_blank(p->s[i]))
		i++;
	return p->s[i] == ':' && (is_blank(p->s[i + 1]) || is_eol(p, i + 1));
}

/* ---- flow collections ---- */

struct flow_open {
	char open, close;
	unsigned line, column;
	int block_indent; /* continuation lines must be indented more */
};

/* Past blanks, line breaks and comments inside a flow collection. */
static bool flow_space(struct parser *p, const struct flow_open *open)
{
	for (;;) {
		char c = p->s[p->pos];

		if (is_blank(c)) {
			p->pos++;
		} else if (is_comment(p, p->pos)) {
			while (!is_eol(p, p->pos))
				p->pos++;
		} else if (c == '\0') {
			fail_at(p, open->line, open->column,
				"this `%c` is not closed before the end of the file: add `%c`",
				open->open, open->close);
			return false;
		} else if (is_eol(p, p->pos)) {
			int spaces = 0;
			size_t at;

			line_next(p);
			while (p->s[p->pos + spaces] == ' ')
				spaces++;
			at = p->pos + spaces;
			while (is_blank(p->s[at]))
				at++;
			if (is_eol(p, at) || is_comment(p, at))
				continue; /* a blank or comment line */
			if (p->s[p->pos + spaces] == '\t') {
				fail_at(p, p->line, column_of(p, p->pos + spaces),
					"a tab in the indentation: YAML indents with spaces only; "
					"replace it with spaces");
				return false;
			}
			if (spaces <= open->block_indent) {
				fail_at(p, p->line, column_of(p, at),
					"this line continues the `%c` opened at line %u, column "
					"%u, "
					"so it must be indented past column %d: indent it more, or "
					"add the `%c` that closes it on a line above",
					open->open, open->line, open->column,
					open->block_indent + 1, open->close);
				return false;
			}
		} else {
			return true;
		}
	}
}

static struct probe_yaml_node *flow_collection(struct parser *p, int block_indent);

static struct probe_yaml_node *flow_node(struct parser *p, int block_indent)
{
	char c = p->s[p->pos];

	if (c == '[' || c == '{')
		return flow_collection(p, block_indent);
	if (c == '"' || c == '\'')
		return quoted_parse(p);
	if (!plain_start_ok(p, true))
		return NULL;
	return plain_parse(p, true);
}

static struct probe_yaml_node *flow_collection(struct parser *p, int block_indent)
{
	struct flow_open open = {
		.open = p->s[p->pos],
		.close = p->s[p->pos] == '[' ? ']' : '}',
		.line = p->line,
		.column = column_of(p, p->pos),
		.block_indent = block_indent,
	};
	struct probe_yaml_node *node = NULL;
	char buf[48];

	if (!depth_enter(p, open.line, open.column))
		goto fail;
	node = node_new(p, open.open == '[' ? PROBE_YAML_SEQUENCE : PROBE_YAML_MAPPING, open.line,
			open.column);
	if (!node)
		goto fail;
	p->pos++;
	for (;;) {
		if (!flow_space(p, &open))
			goto fail;
		if (p->s[p->pos] == open.close)
			break;
		if (p->s[p->pos] == ',') {
			FAIL(p, "an empty entry in `%c %c`: remove the extra comma", open.open,
			     open.close);
			goto fail;
		}
		if (open.open == '[') {
			struct probe_yaml_node *item = flow_node(p, block_indent);

			if (!item || !item_add(p, node, item) || !flow_space(p, &open))
				goto fail;
			if (p->s[p->pos] == ':') {
				FAIL(p, "a `key: value` pair directly inside `[ ]`: write it as "
					"`{key: value}`");
				goto fail;
			}
		} else {
			struct probe_yaml_node *key, *value;

			if (p->s[p->pos] == '[' || p->s[p->pos] == '{') {
				FAIL(p, "a flow collection as a key is not supported: keys are "
					"scalars");
				goto fail;
			}
			key = flow_node(p, block_indent);
			if (!key)
				goto fail;
			if (!flow_space(p, &open)) {
				probe_yaml_free(key);
				goto fail;
			}
			if (p->s[p->pos] != ':') {
				FAIL(p,
				     "expected `:` after the key `%s`, found %s: write `{key: "
				     "value}`",
				     key->text, found(p, buf, sizeof(buf)));
				probe_yaml_free(key);
				goto fail;
			}
			p->pos++;
			if (!flow_space(p, &open)) {
				probe_yaml_free(key);
				goto fail;
			}
			if (p->s[p->pos] == ',' || p->s[p->pos] == open.close)
				value = scalar_new(p, p->line, column_of(p, p->pos), "", 0, false);
			else
				value = flow_node(p, block_indent);
			if (!value) {
				probe_yaml_free(key);
				goto fail;
			}
			if (!pair_add(p, node, key, value) || !flow_space(p, &open))
				goto fail;
		}
		if (p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->s[p->pos] == open.close)
			break;
		FAIL(p,
		     "expected `,` or `%c` after the entry, found %s (a plain scalar cannot "
		     "continue on another line: quote it)",
		     open.close, found(p, buf, sizeof(buf)));
		goto fail;
	}
	p->pos++; /* the closing bracket */
	if (node->kind == PROBE_YAML_MAPPING && !keys_unique(p, node))
		goto fail;
	p->depth--;
	return node;
fail:
	p->depth--;
	probe_yaml_free(node);
	return NULL;
}

/* ---- block collections ---- */

static struct probe_yaml_node *block_node(struct parser *p, int parent_indent);
static struct probe_yaml_node *block_sequence(struct parser *p, int indent);

static bool is_item(const struct parser *p)
{
	return p->s[p->pos] == '-' && (is_blank(p->s[p->pos + 1]) || is_eol(p, p->pos + 1));
}

/* A scalar or flow collection that ends its line; then to the next line. */
static struct probe_yaml_node *inline_value(struct parser *p, int indent)
{
	struct probe_yaml_node *node;
	char c = p->s[p->pos];

	if (c == '[' || c == '{') {
		node = flow_collection(p, indent);
	} else if (c == '"' || c == '\'') {
		node = quoted_parse(p);
	} else {
		if (!plain_start_ok(p, false))
			return NULL;
		node = plain_parse(p, false);
	}
	if (node && line_end(p) && content_next(p))
		return node;
	probe_yaml_free(node);
	return NULL;
}

static void indentation_fail(struct parser *p, int enclosing)
{
	FAIL(p,
	     "inconsistent indentation: this line starts at column %d, which matches no block "
	     "above it (the enclosing one is at column %d); align it with the keys or items it "
	     "belongs with",
	     p->indent + 1, enclosing + 1);
}

static struct probe_yaml_node *block_mapping(struct parser *p, int indent)
{
	struct probe_yaml_node *node = NULL;
	char buf[48];

	if (!depth_enter(p, p->line, (unsigned)indent + 1))
		goto fail;
	node = node_new(p, PROBE_YAML_MAPPING, p->line, (unsigned)indent + 1);
	if (!node)
		goto fail;
	for (;;) {
		struct probe_yaml_node *key, *value;
		unsigned line, column;
		bool inline_given = false;

		/* The position is at a key, at column indent + 1. */
		if (is_item(p)) {
			FAIL(p,
			     "a sequence item where a key of the mapping at column %d belongs: "
			     "indent the item under a key, or give it a key",
			     indent + 1);
			goto fail;
		}
		if (!is_key_line(p)) {
			FAIL(p, "expected `key: value`, found %s%s", found(p, buf, sizeof(buf)),
			     memchr(p->s + p->pos, ':', plain_end(p, p->pos, false) - p->pos)
				     ? ": put a blank after the `:`"
				     : "");
			goto fail;
		}
		if (p->s[p->pos] == '"' || p->s[p->pos] == '\'') {
			key = quoted_parse(p);
		} else {
			if (!plain_start_ok(p, false))
				goto fail;
			key = plain_parse(p, false);
		}
		if (!key)
			goto fail;
		blanks_skip(p);
		p->pos++; /* the `:` is_key_line saw */
		line = p->line;
		column = column_of(p, p->pos);
		blanks_skip(p);
		if (is_comment(p, p->pos) || is_eol(p, p->pos)) {
			line_next(p);
			if (!content_next(p)) {
				probe_yaml_free(key);
				goto fail;
			}
			if (p->indent > indent)
				value = block_node(p, indent);
			else if (p->indent == indent && is_item(p))
				value = block_sequence(p, indent);
			else
				value = scalar_new(p, line, column, "", 0, false);
		} else if (is_item(p)) {
			FAIL(p, "a sequence cannot start on its key's line: put each `- item` on a "
				"line of its own below, or write `[a, b]`");
			value = NULL;
		} else {
			value = inline_value(p, indent);
			inline_given = true;
		}
		if (!value) {
			probe_yaml_free(key);
			goto fail;
		}
		if (!pair_add(p, node, key, value))
			goto fail;
		if (p->indent < indent)
			break;
		if (p->indent > indent && inline_given) {
			FAIL(p,
			     "this line is indented more than the key `%s` above it, whose value "
			     "is "
			     "already on its line: a value cannot continue on the next line (write "
			     "it "
			     "on one line, quoted if needed), and nested keys go under a key with "
			     "nothing after its `:`",
			     node->pairs[node->count - 1].key->text);
			goto fail;
		}
		if (p->indent > indent) {
			indentation_fail(p, indent);
			goto fail;
		}
	}
	if (!keys_unique(p, node))
		goto fail;
	p->depth--;
	return node;
fail:
	p->depth--;
	probe_yaml_free(node);
	return NULL;
}

static struct probe_yaml_node *block_sequence(struct parser *p, int indent)
{
	struct probe_yaml_node *node = NULL;

	if (!depth_enter(p, p->line, (unsigned)indent + 1))
		goto fail;
	node = node_new(p, PROBE_YAML_SEQUENCE, p->line, (unsigned)indent + 1);
	if (!node)
		goto fail;
	for (;;) {
		struct probe_yaml_node *item;
		unsigned line = p->line, column = column_of(p, p->pos);

		/* The position is at `-`, at column indent + 1. */
		p->pos++;
		blanks_skip(p);
		if (is_comment(p, p->pos) || is_eol(p, p->pos)) {
			line_next(p);
			if (!content_next(p))
				goto fail;
			if (p->indent > indent)
				item = block_node(p, indent);
			else
				item = scalar_new(p, line, column + 2, "", 0, false);
		} else {
			item = block_node(p, indent); /* `- key: v`, `- - a`, `- a` */
		}
		if (!item || !item_add(p, node, item))
			goto fail;
		if (p->indent < indent)
			break;
		if (p->indent > indent) {
			indentation_fail(p, indent);
			goto fail;
		}
		if (!is_item(p))
			break; /* a key of the mapping this sequence is the value of */
	}
	p->depth--;
	return node;
fail:
	p->depth--;
	probe_yaml_free(node);
	return NULL;
}

/* The node whose first character is at the position; PARENT_INDENT is the
 * indentation of the block it belongs to. */
static struct probe_yaml_node *block_node(struct parser *p, int parent_indent)
{
	int column = (int)(p->pos - p->line_start);
	char c = p->s[p->pos];

	if (is_item(p))
		return block_sequence(p, column);
	if (c == '[' || c == '{')
		return inline_value(p, parent_indent);
	if (c != '"' && c != '\'' && !plain_start_ok(p, false))
		return NULL;
	if (is_key_line(p))
		return block_mapping(p, column);
	return inline_value(p, parent_indent);
}

/* ---- entry points ---- */

struct probe_yaml_node *probe_yaml_parse(const char *text, size_t size,
					 struct probe_yaml_error *error)
{
	struct parser p = {.line = 1, .error = error};
	struct probe_yaml_node *root;

	*error = (struct probe_yaml_error){0};
	if (size > PROBE_YAML_MAX_SIZE) {
		snprintf(error->message, sizeof(error->message),
			 "%zu bytes, more than the %u a policy may have: a policy is a few "
			 "kilobytes; is this the right file?",
			 size, PROBE_YAML_MAX_SIZE);
		return NULL;
	}
	p.s = malloc(size + 1);
	if (!p.s) {
		snprintf(error->message, sizeof(error->message), "out of memory");
		return NULL;
	}
	memcpy(p.s, text, size);
	p.s[size] = '\0';
	/* NUL bytes and lone carriage returns, before anything is read. */
	for (size_t i = 0, line = 1, start = 0; i < size; i++) {
		if (p.s[i] == '\n') {
			line++;
			start = i + 1;
		} else if (p.s[i] == '\0' || (p.s[i] == '\r' && p.s[i + 1] != '\n')) {
			error->line = (unsigned)line;
			error->column = (unsigned)(i - start) + 1;
			snprintf(error->message, sizeof(error->message),
				 p.s[i] ? "a carriage return that does not end a line: remove it"
					: "a NUL byte: a policy is text; is this the right file?");
			free(p.s);
			return NULL;
		}
	}
	if (!strncmp(p.s, "\xEF\xBB\xBF", 3)) /* a UTF-8 byte order mark */
		p.pos = p.line_start = 3;
	if (!content_next(&p)) {
		root = NULL;
	} else if (p.indent < 0) {
		root = scalar_new(&p, 1, 1, "", 0, false);
	} else {
		root = block_node(&p, -1);
		if (root && p.indent >= 0) {
			char buf[48];

			if (p.indent != (int)root->column - 1)
				indentation_fail(&p, (int)root->column - 1);
			else
				FAIL(&p,
				     "found %s after the document's top-level %s ended: a document "
				     "is one mapping, sequence or scalar; check the indentation",
				     found(&p, buf, sizeof(buf)),
				     root->kind == PROBE_YAML_SEQUENCE ? "sequence" : "value");
			probe_yaml_free(root);
			root = NULL;
		}
	}
	free(p.s);
	return root;
}

struct probe_yaml_node *probe_yaml_load(const char *path, struct probe_yaml_error *error)
{
	FILE *in = fopen(path, "rb");
	struct probe_yaml_node *root;
	size_t size = 0, got;
	char *data;

	*error = (struct probe_yaml_error){0};
	if (!in) {
		snprintf(error->message, sizeof(error->message), "cannot open it: %s",
			 strerror(errno));
		return NULL;
	}
	/* One byte more than allowed tells a file that is too large. */
	data = malloc(PROBE_YAML_MAX_SIZE + 1);
	if (!data) {
		snprintf(error->message, sizeof(error->message), "out of memory");
		fclose(in);
		return NULL;
	}
	while (size <= PROBE_YAML_MAX_SIZE &&
	       (got = fread(data + size, 1, PROBE_YAML_MAX_SIZE + 1 - size, in)) > 0)
		size += got;
	if (ferror(in)) {
		snprintf(error->message, sizeof(error->message), "cannot read it: %s",
			 strerror(errno));
		root = NULL;
	} else if (size > PROBE_YAML_MAX_SIZE) {
		snprintf(error->message, sizeof(error->message),
			 "larger than %u bytes, the most a policy may have: a policy is a few "
			 "kilobytes; is this the right file?",
			 PROBE_YAML_MAX_SIZE);
		root = NULL;
	} else {
		root = probe_yaml_parse(data, size, error);
	}
	free(data);
	fclose(in);
	return root;
}

bool probe_yaml_is_null(const struct probe_yaml_node *node)
{
	return node->kind == PROBE_YAML_SCALAR && !node->quoted &&
	       (!node->text[0] || !strcmp(node->text, "~") || !strcmp(node->text, "null") ||
		!strcmp(node->text, "Null") || !strcmp(node->text, "NULL"));
}

const struct probe_yaml_pair *probe_yaml_find(const struct probe_yaml_node *mapping,
					      const char *key)
{
	if (!mapping || mapping->kind != PROBE_YAML_MAPPING)
		return NULL;
	for (size_t i = 0; i < mapping->count; i++)
		if (!strcmp(mapping->pairs[i].key->text, key))
			return &mapping->pairs[i];
	return NULL;
}

const char *probe_yaml_describe(const struct probe_yaml_node *node)
{
	if (probe_yaml_is_null(node))
		return "an empty value";
	switch (node->kind) {
	case PROBE_YAML_SCALAR:
		return "a scalar";
	case PROBE_YAML_MAPPING:
		return "a mapping";
	case PROBE_YAML_SEQUENCE:
		return "a sequence";
	}
	return "a node";
}
