// SPDX-License-Identifier: MIT
/*
 * probe_yaml.h - the YAML subset mshv-probe reads policies in, libc only.
 *
 * mshv-probe links no YAML library (it depends on uapi/ and libc alone), yet
 * --expect reads the policies people write.  This reader builds a tree of
 * scalars, mappings and sequences, each node with its line and column, from
 * what policies use: block mappings and sequences by indentation (`- key: v`
 * items continued on deeper lines included), flow mappings `{a: b}` and flow
 * sequences `[a, b]` that may span lines, plain, 'single' and "double"
 * quoted scalars, comments and blank lines.  Everything else (anchors,
 * aliases, tags, `---`, block scalars `|` `>`, tabs in indentation, a key
 * given twice, multi-line plain scalars) is refused with its position and
 * what to write instead.  Its cost is bounded: PROBE_YAML_MAX_SIZE bytes of
 * input, PROBE_YAML_MAX_DEPTH levels of nesting.
 */
#ifndef MSHV_PROBE_YAML_H
#define MSHV_PROBE_YAML_H

#include <stdbool.h>
#include <stddef.h>

#define PROBE_YAML_MAX_SIZE  (1u << 20)
#define PROBE_YAML_MAX_DEPTH 64

enum probe_yaml_kind {
	PROBE_YAML_SCALAR,
	PROBE_YAML_MAPPING,
	PROBE_YAML_SEQUENCE,
};

struct probe_yaml_pair;

struct probe_yaml_node {
	enum probe_yaml_kind kind;
	unsigned line, column; /* 1-based: where the node starts */
	char *text;	       /* SCALAR: quotes and escapes resolved; "" for a null */
	bool quoted;	       /* SCALAR: written in quotes, so never a null */
	size_t count;	       /* MAPPING: pairs; SEQUENCE: items */
	struct probe_yaml_pair *pairs;
	struct probe_yaml_node **items;
};

/* A key and its value; keys are scalars, unique within their mapping. */
struct probe_yaml_pair {
	struct probe_yaml_node *key;
	struct probe_yaml_node *value;
};

struct probe_yaml_error {
	unsigned line, column; /* 0, 0: about the whole input */
	char message[256];
};

/* The tree of TEXT (SIZE bytes, need not be NUL-terminated), or NULL with
 * ERROR set.  An empty document is a null scalar. */
struct probe_yaml_node *probe_yaml_parse(const char *text, size_t size,
					 struct probe_yaml_error *error);

/* probe_yaml_parse of the file at PATH; a file it cannot read or larger
 * than PROBE_YAML_MAX_SIZE is an error at 0, 0. */
struct probe_yaml_node *probe_yaml_load(const char *path, struct probe_yaml_error *error);

void probe_yaml_free(struct probe_yaml_node *node);

/* A plain scalar that is empty, `~` or `null`: YAML's null. */
bool probe_yaml_is_null(const struct probe_yaml_node *node);

/* The pair of MAPPING with KEY, or NULL (also when MAPPING is not one). */
const struct probe_yaml_pair *probe_yaml_find(const struct probe_yaml_node *mapping,
					      const char *key);

/* "a scalar", "a mapping", "a sequence", or "nothing" for a null. */
const char *probe_yaml_describe(const struct probe_yaml_node *node);

#endif /* MSHV_PROBE_YAML_H */
