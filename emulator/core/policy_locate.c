/*
 * policy_locate.c - where in the input an error is, in the input's terms.
 *
 * A valid policy is parsed once, by libcyaml.  Only when there is an error
 * to report is the text parsed again by libyaml into a node tree, which maps
 * a path ("capabilities.2.id") to its FILE:LINE:COL.  libcyaml's own errors
 * say where only in its log, which is captured and read back here.
 */
#include <ctype.h>
#include <errno.h>
#include <search.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cyaml/cyaml.h>
#include <yaml.h>

#include "errnames.h"
#include "policy.h"
#include "policy_load_impl.h"

/* ---- diagnostics located through the libyaml node tree ---- */

/*
 * The node tree is built only when something needs a position (an error) or
 * must tell an absent key from an empty one: a valid policy is parsed once,
 * by libcyaml, which halves the cost of loading a large one.
 */

/* The node tree of the input, parsed on first use; NULL if it is not YAML. */
static yaml_document_t *loader_doc(struct loader *ld)
{
	if (ld->doc_state == 0) {
		yaml_parser_t parser;
		if (!yaml_parser_initialize(&parser))
			abort();
		yaml_parser_set_input_string(&parser, (const unsigned char *)ld->data, ld->len);
		if (yaml_parser_load(&parser, &ld->doc)) {
			ld->doc_state = 1;
		} else {
			ld->doc_state = -1;
			ld->problem = parser.problem ? parser.problem : "parse error";
			ld->context = parser.context;
			ld->problem_mark = parser.problem_mark;
		}
		yaml_parser_delete(&parser);
	}
	return ld->doc_state == 1 ? &ld->doc : NULL;
}

/* The node at PATH ("capabilities.2.id"), or the deepest node on the way. */
static yaml_node_t *doc_find(struct loader *ld, const char *path, bool *found)
{
	yaml_document_t *doc = loader_doc(ld);
	yaml_node_t *node = doc ? yaml_document_get_root_node(doc) : NULL;
	char segment[128];
	*found = node != NULL;
	while (*path == '.') /* an injected rule's paths start at its root */
		path++;
	while (node && *path) {
		size_t len = strcspn(path, ".");
		snprintf(segment, sizeof(segment), "%.*s", (int)len, path);
		path += len + (path[len] == '.');
		yaml_node_t *next = NULL;
		if (node->type == YAML_MAPPING_NODE) {
			for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
			     pair < node->data.mapping.pairs.top; pair++) {
				yaml_node_t *key = yaml_document_get_node(doc, pair->key);
				if (key && key->type == YAML_SCALAR_NODE &&
				    !strcmp((char *)key->data.scalar.value, segment)) {
					next = yaml_document_get_node(doc, pair->value);
					break;
				}
			}
		} else if (node->type == YAML_SEQUENCE_NODE) {
			char *end;
			unsigned long index = strtoul(segment, &end, 10);
			yaml_node_item_t *items = node->data.sequence.items.start;
			if (!*end && index < (unsigned long)(node->data.sequence.items.top - items))
				next = yaml_document_get_node(doc, items[index]);
		}
		if (!next) {
			*found = false;
			return node;
		}
		node = next;
	}
	return node;
}

bool doc_has(struct loader *ld, const char *path)
{
	bool found;
	doc_find(ld, path, &found);
	return found;
}

/* "capabilities.2.id" -> "capabilities[2].id" */
static void path_display(const char *path, char *out, size_t size)
{
	size_t n = 0;
	while (*path == '.')
		path++;
	for (const char *p = path; *p && n + 2 < size; p++) {
		if (*p == '.' && p[1] >= '0' && p[1] <= '9') {
			out[n++] = '[';
			while (p[1] >= '0' && p[1] <= '9' && n + 2 < size)
				out[n++] = *++p;
			out[n++] = ']';
		} else {
			out[n++] = *p;
		}
	}
	out[n] = '\0';
}

void load_error(struct loader *ld, const char *path, const char *fmt, ...)
{
	bool found;
	yaml_node_t *node = doc_find(ld, path, &found);
	unsigned line = node ? node->start_mark.line + 1 : 1;
	unsigned column = node ? node->start_mark.column + 1 : 1;
	char shown[256], message[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	path_display(path, shown, sizeof(shown));
	if (*shown)
		diag_add(ld->diags, ld->file, line, column, "%s: %s", shown, message);
	else
		diag_add(ld->diags, ld->file, line, column, "%s", message);
	ld->errors++;
}

/* ---- libcyaml's log: the only place its errors say where ---- */

void capture_cyaml_log(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
	struct cyaml_log_capture *capture = ctx;
	char line[512], name[64];
	unsigned entry;
	if (level < CYAML_LOG_ERROR)
		return;
	vsnprintf(line, sizeof(line), fmt, args);
	line[strcspn(line, "\n")] = '\0';
	if (sscanf(line, "  in mapping field '%63[^']'", name) == 1) {
		if (capture->depth < 16)
			snprintf(capture->segments[capture->depth++], 72, "%s", name);
	} else if (sscanf(line, "  in sequence entry '%u'", &entry) == 1) {
		if (capture->depth < 16)
			snprintf(capture->segments[capture->depth++], 72, "%u",
				 entry ? entry - 1 : 0);
	} else if (!capture->message[0] && strncmp(line, "  in ", 5) &&
		   strcmp(line, "Load: Backtrace:")) {
		snprintf(capture->message, sizeof(capture->message), "%s",
			 strncmp(line, "Load: ", 6) ? line : line + 6);
	}
}

static const char *event_noun(const char *event)
{
	if (!strncmp(event, "SEQUENCE", 8))
		return "a sequence";
	if (!strncmp(event, "MAPPING", 7))
		return "a mapping";
	if (!strncmp(event, "SCALAR", 6) || !strncmp(event, "STRING", 6))
		return "a scalar";
	return event;
}

/* The key node KEY in the mapping at PATH (its LAST occurrence if TWICE). */
static yaml_node_t *doc_find_key(struct loader *ld, const char *path, const char *key, bool last)
{
	bool found;
	yaml_node_t *map = doc_find(ld, path, &found), *hit = NULL;
	yaml_document_t *doc = &ld->doc;
	if (!found || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *pair = map->data.mapping.pairs.start;
	     pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *node = yaml_document_get_node(doc, pair->key);
		if (node && node->type == YAML_SCALAR_NODE &&
		    !strcmp((char *)node->data.scalar.value, key)) {
			hit = node;
			if (!last)
				break;
		}
	}
	return hit;
}

static void report_cyaml_error(struct loader *ld, const struct cyaml_log_capture *capture,
			       cyaml_err_t err)
{
	char path[512] = "", key[128], expected[32], got[32];
	for (unsigned i = capture->depth; i-- > 0;) {
		size_t len = strlen(path);
		snprintf(path + len, sizeof(path) - len, "%s%s", len ? "." : "",
			 capture->segments[i]);
	}
	yaml_node_t *key_node = NULL;
	char shown[512];
	const char *sep;
	path_display(path, shown, sizeof(shown));
	sep = *shown ? ": " : "";
	if (sscanf(capture->message, "Unexpected key: %127s", key) == 1) {
		key_node = doc_find_key(ld, path, key, false);
		diag_add(ld->diags, ld->file, 0, 0,
			 "%s%sunknown key `%s`; see docs/policy.md for the keys a policy may use",
			 shown, sep, key);
	} else if (sscanf(capture->message, "Mapping field already seen: %127s", key) == 1) {
		/* The backtrace ends in the repeated field itself: drop it. */
		char *last = strrchr(path, '.');
		if (!strcmp(last ? last + 1 : path, key)) {
			*(last ? last : path) = '\0';
			path_display(path, shown, sizeof(shown));
			sep = *shown ? ": " : "";
		}
		key_node = doc_find_key(ld, path, key, true);
		diag_add(ld->diags, ld->file, 0, 0, "%s%s`%s` is given twice; keep one", shown, sep,
			 key);
	} else if (!strncmp(capture->message, "Insufficient entries (0 of", 26)) {
		/* The version lists and a property's banks have a minimum: an empty
		 * one.  The backtrace ends in an entry index that does not exist:
		 * drop it. */
		char *last = strrchr(path, '.');
		if (last)
			*last = '\0';
		path_display(path, shown, sizeof(shown));
		last = strrchr(path, '.');
		const char *field = last ? last + 1 : path;
		if (!strcmp(field, "banks"))
			diag_add(ld->diags, ld->file, 0, 0,
				 "%s: empty bank list; give at least one bank, or `value:`", shown);
		else
			diag_add(
				ld->diags, ld->file, 0, 0, "%s: empty version list; %s", shown,
				!strcmp(path, "versions")
					? "list the versions REQUEST_VERSION accepts"
					: "omit the key to make the capability visible under every "
					  "version");
	} else if (sscanf(capture->message, "Expecting %31s got event: %31s", expected, got) == 2) {
		expected[strcspn(expected, ",")] = '\0';
		diag_add(ld->diags, ld->file, 0, 0, "%s%sexpected %s, found %s", shown, sep,
			 event_noun(expected), event_noun(got));
	} else {
		diag_add(ld->diags, ld->file, 0, 0, "%s%s%s", shown, sep,
			 capture->message[0] ? capture->message : cyaml_strerror(err));
	}
	/* Position: the offending key if there is one, else the node at PATH. */
	bool found;
	yaml_node_t *node = key_node ? key_node : doc_find(ld, path, &found);
	struct diag *d = &ld->diags->items[ld->diags->count - 1];
	d->line = node ? (unsigned)node->start_mark.line + 1 : 1;
	d->column = node ? (unsigned)node->start_mark.column + 1 : 1;
	ld->errors++;
}

/*
 * libcyaml failed: say why in the input's terms.  Not YAML at all: libyaml's
 * problem, at its position.  Not a mapping: say what a policy is.  Otherwise
 * libcyaml's structural error, located in the node tree.
 */
void report_load_failure(struct loader *ld, const struct cyaml_log_capture *capture,
			 cyaml_err_t err, const char *what)
{
	yaml_document_t *doc = loader_doc(ld);
	yaml_node_t *root = doc ? yaml_document_get_root_node(doc) : NULL;
	if (!doc) {
		diag_add(ld->diags, ld->file, (unsigned)ld->problem_mark.line + 1,
			 (unsigned)ld->problem_mark.column + 1, "invalid YAML: %s%s%s", ld->problem,
			 ld->context ? " " : "", ld->context ? ld->context : "");
		ld->errors++;
	} else if (!root || root->type != YAML_MAPPING_NODE) {
		diag_add(ld->diags, ld->file, root ? (unsigned)root->start_mark.line + 1 : 1,
			 root ? (unsigned)root->start_mark.column + 1 : 1, "%s", what);
		ld->errors++;
	} else {
		report_cyaml_error(ld, capture, err);
	}
}

void loader_done(struct loader *ld)
{
	if (ld->doc_state == 1)
		yaml_document_delete(&ld->doc);
}
