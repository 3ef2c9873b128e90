/*
 * test_probe_yaml.c - mshv-probe's YAML subset reader: every shipped policy
 * reads; each construct policies use builds the tree it should, with
 * positions; everything outside the subset, and every malformed input, is
 * an error at FILE:LINE:COL that says what it found, never a crash (ASan
 * runs this too); the size and depth bounds hold.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "probe_yaml.h"

static struct probe_yaml_node *parse(const char *text, struct probe_yaml_error *error)
{
	return probe_yaml_parse(text, strlen(text), error);
}

static const struct probe_yaml_node *get(const struct probe_yaml_node *mapping, const char *key)
{
	const struct probe_yaml_pair *pair = probe_yaml_find(mapping, key);

	cr_assert_not_null(pair, "no key `%s`", key);
	return pair->value;
}

static void assert_scalar(const struct probe_yaml_node *node, const char *text, unsigned line,
			  unsigned column)
{
	cr_assert_eq(node->kind, PROBE_YAML_SCALAR);
	cr_expect_str_eq(node->text, text);
	cr_expect_eq(node->line, line, "`%s` at line %u, not %u", text, node->line, line);
	cr_expect_eq(node->column, column, "`%s` at column %u, not %u", text, node->column, column);
}

Test(probe_yaml, every_shipped_policy_reads)
{
	DIR *dir = opendir(MSHV_EMU_SOURCE_DIR "/policies");
	struct dirent *entry;
	unsigned count = 0;

	cr_assert_not_null(dir);
	while ((entry = readdir(dir))) {
		struct probe_yaml_error error;
		struct probe_yaml_node *root;
		char path[1024];

		if (!strstr(entry->d_name, ".yaml"))
			continue;
		snprintf(path, sizeof(path), "%s/policies/%s", MSHV_EMU_SOURCE_DIR, entry->d_name);
		root = probe_yaml_load(path, &error);
		cr_expect_not_null(root, "%s:%u:%u: %s", path, error.line, error.column,
				   error.message);
		if (!root)
			continue;
		cr_expect_eq(root->kind, PROBE_YAML_MAPPING, "%s", path);
		cr_expect_not_null(probe_yaml_find(root, "profile"), "%s has no profile", path);
		probe_yaml_free(root);
		count++;
	}
	closedir(dir);
	cr_expect_geq(count, 10, "only %u policies found", count);
}

Test(probe_yaml, builds_the_tree_with_positions)
{
	static const char text[] = "# a comment line\n"
				   "profile: microsoft   # after a value\n"
				   "\n"
				   "hypervisor:\n"
				   "  vmm_capabilities: [a, b,\n"
				   "                     c]\n"
				   "  properties:\n"
				   "    - {name: X, banks: [0x1, 2]}\n"
				   "    - {name: 'it''s', value: \"\\u00e9\\t#\"}\n"
				   "faults:\n"
				   "  rules:\n"
				   "  - name: r\n"
				   "    when: {nth: 5}\n"
				   "    action:\n"
				   "      errno: EIO\n"
				   "  -\n"
				   "    - nested\n"
				   "empty:\n"
				   "url: a#b\n";
	struct probe_yaml_error error;
	struct probe_yaml_node *root = parse(text, &error);
	const struct probe_yaml_node *hv, *caps, *props, *rules, *rule;

	cr_assert_not_null(root, "%u:%u: %s", error.line, error.column, error.message);
	cr_assert_eq(root->kind, PROBE_YAML_MAPPING);
	cr_expect_eq(root->count, 5);
	assert_scalar(get(root, "profile"), "microsoft", 2, 10);

	hv = get(root, "hypervisor");
	cr_assert_eq(hv->kind, PROBE_YAML_MAPPING);
	cr_expect_eq(hv->line, 5);
	cr_expect_eq(hv->column, 3);
	caps = get(hv, "vmm_capabilities");
	cr_assert_eq(caps->kind, PROBE_YAML_SEQUENCE);
	cr_assert_eq(caps->count, 3);
	assert_scalar(caps->items[0], "a", 5, 22);
	assert_scalar(caps->items[2], "c", 6, 22);

	props = get(hv, "properties");
	cr_assert_eq(props->kind, PROBE_YAML_SEQUENCE);
	cr_assert_eq(props->count, 2);
	cr_assert_eq(props->items[0]->kind, PROBE_YAML_MAPPING);
	cr_expect_eq(props->items[0]->column, 7);
	cr_assert_eq(get(props->items[0], "banks")->count, 2);
	assert_scalar(get(props->items[0], "banks")->items[1], "2", 8, 30);
	assert_scalar(get(props->items[1], "name"), "it's", 9, 14);
	cr_expect(get(props->items[1], "name")->quoted);
	assert_scalar(get(props->items[1], "value"), "\xc3\xa9\t#", 9, 30);

	/* A sequence at its key's indentation; `- key: v` continued below. */
	rules = get(get(root, "faults"), "rules");
	cr_assert_eq(rules->kind, PROBE_YAML_SEQUENCE);
	cr_assert_eq(rules->count, 2);
	rule = rules->items[0];
	cr_assert_eq(rule->kind, PROBE_YAML_MAPPING);
	cr_expect_eq(rule->count, 3);
	assert_scalar(get(rule, "name"), "r", 12, 11);
	assert_scalar(get(get(rule, "when"), "nth"), "5", 13, 17);
	assert_scalar(get(get(rule, "action"), "errno"), "EIO", 15, 14);
	cr_assert_eq(rules->items[1]->kind, PROBE_YAML_SEQUENCE);
	assert_scalar(rules->items[1]->items[0], "nested", 17, 7);

	cr_expect(probe_yaml_is_null(get(root, "empty")));
	cr_expect_str_eq(probe_yaml_describe(get(root, "empty")), "an empty value");
	assert_scalar(get(root, "url"), "a#b", 19, 6);
	cr_expect_null(probe_yaml_find(root, "missing"));
	cr_expect_null(probe_yaml_find(get(root, "url"), "a"), "a scalar has no keys");
	probe_yaml_free(root);
}

Test(probe_yaml, empty_and_comment_only_documents_are_null)
{
	static const char *const texts[] = {"", "\n\n", "# only\n  # indented\n", "\xEF\xBB\xBF"};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct probe_yaml_error error;
		struct probe_yaml_node *root = parse(texts[i], &error);

		cr_assert_not_null(root, "text %zu: %s", i, error.message);
		cr_expect(probe_yaml_is_null(root), "text %zu", i);
		probe_yaml_free(root);
	}
}

Test(probe_yaml, crlf_line_ends_read_as_lf)
{
	struct probe_yaml_error error;
	struct probe_yaml_node *root = parse("a: 1 # c\r\nb: [x,\r\n  y]\r\n", &error);

	cr_assert_not_null(root, "%u:%u: %s", error.line, error.column, error.message);
	assert_scalar(get(root, "a"), "1", 1, 4);
	assert_scalar(get(root, "b")->items[1], "y", 3, 3);
	probe_yaml_free(root);
}

/* Each malformed input: where the error is, and a word of what it says. */
static const struct {
	const char *name, *text;
	unsigned line, column;
	const char *says;
} malformed[] = {
	{"unterminated flow", "a: [1, 2,\n  3\n", 1, 4, "not closed"},
	{"unterminated flow mapping", "a: {x: 1", 1, 4, "add `}`"},
	{"flow continued too far left", "a:\n  b: [1,\n  2]\n", 3, 3, "indented past"},
	{"bad indent", "a:\n    b: 1\n  c: 2\n", 3, 3, "inconsistent indentation"},
	{"bad sequence indent", "a:\n  - x\n   - y\n", 3, 4, "inconsistent indentation"},
	{"value continued", "a: 1\n  b: 2\n", 2, 3, "cannot continue"},
	{"tab", "a:\n\tb: 1\n", 2, 1, "tab"},
	{"tab after spaces", "a:\n  \tb: 1\n", 2, 3, "tab"},
	{"tab in flow", "a: [1,\n\t2]\n", 2, 1, "tab"},
	{"anchor", "a: &x 1\n", 1, 4, "anchor"},
	{"alias", "a: [*x]\n", 1, 5, "alias"},
	{"tag", "a: !!str 1\n", 1, 4, "tag"},
	{"document marker", "a: 1\n---\nb: 2\n", 2, 1, "document"},
	{"directive", "%YAML 1.2\na: 1\n", 1, 1, "directive"},
	{"block scalar", "a: |\n  text\n", 1, 4, "block scalar"},
	{"folded scalar", "a: >\n  text\n", 1, 4, "block scalar"},
	{"complex key", "? a\n: b\n", 1, 1, "complex key"},
	{"duplicate key", "a: 1\nb: 2\na: 3\n", 3, 1, "first at line 1, column 1"},
	{"duplicate flow key", "a: {x: 1, y: 2, x: 3}\n", 1, 17, "twice"},
	{"unterminated quote", "a: \"x\nb: 1\n", 1, 4, "closing \""},
	{"unknown escape", "a: \"\\q\"\n", 1, 5, "unknown escape"},
	{"escaped NUL", "a: \"\\x00\"\n", 1, 5, "NUL"},
	{"two keys on a line", "a: b: c\n", 1, 5, "second `key:`"},
	{"item on the key's line", "a: - b\n", 1, 4, "a line of its own"},
	{"pair in a flow sequence", "a: [x: 1]\n", 1, 6, "{key: value}"},
	{"empty flow entry", "a: [1,,2]\n", 1, 7, "empty entry"},
	{"item in flow", "a: [- 1]\n", 1, 5, "commas"},
	{"plain scalar over two lines", "a: [1\n  2]\n", 2, 3, "expected `,`"},
	{"flow key without colon", "a: {x}\n", 1, 6, "expected `:`"},
	{"item where a key belongs", "a: 1\n- b\n", 2, 1, "sequence item"},
	{"text after a flow", "a: [1] x\n", 1, 8, "after the value"},
	{"key after a top sequence", "- a\nb: 1\n", 2, 1, "top-level sequence"},
	{"no colon", "a: 1\nb\n", 2, 1, "expected `key: value`"},
	{"lone carriage return", "a: 1\rb: 2\n", 1, 5, "carriage return"},
};

Test(probe_yaml, malformed_inputs_are_errors_at_their_position)
{
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		struct probe_yaml_error error;
		struct probe_yaml_node *root = parse(malformed[i].text, &error);

		cr_expect_null(root, "%s: accepted", malformed[i].name);
		probe_yaml_free(root);
		if (root)
			continue;
		cr_expect_eq(error.line, malformed[i].line, "%s: line %u, not %u (%s)",
			     malformed[i].name, error.line, malformed[i].line, error.message);
		cr_expect_eq(error.column, malformed[i].column, "%s: column %u, not %u (%s)",
			     malformed[i].name, error.column, malformed[i].column, error.message);
		cr_expect(strstr(error.message, malformed[i].says), "%s: `%s` not in: %s",
			  malformed[i].name, malformed[i].says, error.message);
	}
}

Test(probe_yaml, a_nul_byte_is_an_error)
{
	static const char text[] = "a: 1\nb: x\0y\n";
	struct probe_yaml_error error;
	struct probe_yaml_node *root = probe_yaml_parse(text, sizeof(text) - 1, &error);

	cr_assert_null(root);
	cr_expect_eq(error.line, 2);
	cr_expect_eq(error.column, 5);
	cr_expect(strstr(error.message, "NUL byte"), "%s", error.message);
}

/* Nesting DEPTH levels deep, as flow ([[[...]]]) or as block mappings. */
static char *nested(unsigned depth, bool flow)
{
	size_t size = (size_t)depth * (depth + 8) * 2 + 64, used = 0;
	char *text = malloc(size);

	cr_assert_not_null(text);
	if (flow) {
		used += snprintf(text + used, size - used, "a: ");
		for (unsigned i = 0; i < depth; i++)
			text[used++] = '[';
		for (unsigned i = 0; i < depth; i++)
			text[used++] = ']';
		text[used++] = '\n';
		text[used] = '\0';
		return text;
	}
	for (unsigned i = 0; i < depth; i++)
		used += snprintf(text + used, size - used, "%*sk%u:\n", (int)i, "", i);
	snprintf(text + used, size - used, "%*sv\n", (int)depth, "");
	return text;
}

Test(probe_yaml, nesting_is_bounded)
{
	for (int flow = 0; flow < 2; flow++) {
		struct probe_yaml_error error;
		/* The root mapping is one level: flow adds one per bracket. */
		char *ok = nested(PROBE_YAML_MAX_DEPTH - 1, flow);
		char *deep = nested(PROBE_YAML_MAX_DEPTH + 1, flow);
		struct probe_yaml_node *root = parse(ok, &error);

		cr_expect_not_null(root, "%s, %d levels: %s", flow ? "flow" : "block",
				   PROBE_YAML_MAX_DEPTH - 1, error.message);
		probe_yaml_free(root);
		root = parse(deep, &error);
		cr_expect_null(root, "%s nesting past the bound was accepted",
			       flow ? "flow" : "block");
		probe_yaml_free(root);
		cr_expect(strstr(error.message, "deeper than"), "%s", error.message);
		cr_expect_gt(error.line, 0);
		free(ok);
		free(deep);
	}
}

Test(probe_yaml, size_is_bounded)
{
	char path[] = "/tmp/probe-yaml-XXXXXX";
	int fd = mkstemp(path);
	size_t size = PROBE_YAML_MAX_SIZE;
	char *text = malloc(size + 1);
	struct probe_yaml_error error;
	struct probe_yaml_node *root;
	FILE *file;

	cr_assert_geq(fd, 0);
	cr_assert_not_null(text);
	/* Exactly the bound: one long scalar, read. */
	memcpy(text, "a: ", 3);
	memset(text + 3, 'x', size - 4);
	text[size - 1] = '\n';
	file = fdopen(fd, "w");
	cr_assert_not_null(file);
	cr_assert_eq(fwrite(text, 1, size, file), size);
	cr_assert_eq(fflush(file), 0);
	root = probe_yaml_load(path, &error);
	cr_expect_not_null(root, "%s", error.message);
	if (root)
		cr_expect_eq(strlen(get(root, "a")->text), size - 4);
	probe_yaml_free(root);
	/* One byte more: refused, whole-file error. */
	cr_assert_eq(fputc('\n', file), '\n');
	cr_assert_eq(fclose(file), 0);
	root = probe_yaml_load(path, &error);
	cr_expect_null(root);
	probe_yaml_free(root);
	cr_expect_eq(error.line, 0);
	cr_expect(strstr(error.message, "larger than"), "%s", error.message);
	text[size] = '\n';
	root = probe_yaml_parse(text, size + 1, &error);
	cr_expect_null(root);
	probe_yaml_free(root);
	cr_expect(strstr(error.message, "more than"), "%s", error.message);
	unlink(path);
	free(text);

	root = probe_yaml_load("/nonexistent/policy.yaml", &error);
	cr_expect_null(root);
	cr_expect(strstr(error.message, "cannot open"), "%s", error.message);
}

/* Every prefix of a policy, and corrupted copies of it, either read or fail
 * with a position: never a crash or an error without one. */
Test(probe_yaml, damaged_policies_fail_cleanly)
{
	static const char policy[] = "profile: negotiated\n"
				     "versions: [1, 2]\n"
				     "capabilities:\n"
				     "  - {name: A, id: 0x1, value: 1, versions: [2]}\n"
				     "  - name: 'B'\n"
				     "    id: \"2\"\n"
				     "faults:\n"
				     "  rules:\n"
				     "    - {name: r, match: {ioctl: X}, action: {errno: EIO}}\n";
	static const char noise[] = "[]{},:-#&*!|>'\"\\ \t\nx0";
	size_t len = sizeof(policy) - 1;
	unsigned seed = 12345;
	char copy[sizeof(policy)];

	for (size_t cut = 0; cut <= len; cut++) {
		struct probe_yaml_error error;
		struct probe_yaml_node *root = probe_yaml_parse(policy, cut, &error);

		if (!root)
			cr_expect(error.line > 0 && error.column > 0 && error.message[0],
				  "prefix %zu: an error without a position: %s", cut,
				  error.message);
		probe_yaml_free(root);
	}
	for (int round = 0; round < 3000; round++) {
		struct probe_yaml_error error;
		struct probe_yaml_node *root;

		memcpy(copy, policy, sizeof(policy));
		for (int flips = 1 + round % 3; flips > 0; flips--) {
			seed = seed * 1103515245 + 12345;
			copy[(seed >> 8) % len] = noise[(seed >> 20) % (sizeof(noise) - 1)];
		}
		root = probe_yaml_parse(copy, len, &error);
		if (!root)
			cr_expect(error.line > 0 && error.column > 0 && error.message[0],
				  "round %d: an error without a position: %s", round,
				  error.message);
		probe_yaml_free(root);
	}
}
