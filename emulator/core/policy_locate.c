/*
 * policy_locate.c - where in the input an error is, in the input's terms.
 *
 * Errors are reported by path ("capabilities.2.id") as they are found, and
 * located all together at the end, in one pass over the input's libyaml
 * events that stops once every path is found (loader_locate): it costs a
 * valid policy nothing, and N errors at most one more parse, never N.
 * libcyaml's own errors say where only in its log, which is captured and
 * read back here.
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

/* ---- errors, reported at once and located together ---- */

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

static char *xstrdup(const char *text)
{
	char *copy = strdup(text);
	if (!copy)
		abort();
	return copy;
}

/* The diagnostic just added is at PATH (or its key KEY): locate it later. */
static void add_request(struct loader *ld, const char *path, const char *key, bool second)
{
	if (ld->request_count == ld->request_capacity) {
		ld->request_capacity = ld->request_capacity ? ld->request_capacity * 2 : 16;
		ld->requests = realloc(ld->requests, ld->request_capacity * sizeof(*ld->requests));
		if (!ld->requests)
			abort();
	}
	ld->requests[ld->request_count++] = (struct locate_request){
		.diag = ld->diags->count - 1,
		.path = xstrdup(path),
		.key = key ? xstrdup(key) : NULL,
		.second = second,
	};
}

/* Past POLICY_MAX_ERRORS, errors are only counted: what is shown stays
 * readable, and a file of a million mistakes costs no more than its size. */
static bool error_shown(struct loader *ld)
{
	return ld->errors++ < POLICY_MAX_ERRORS;
}

void load_error(struct loader *ld, const char *path, const char *fmt, ...)
{
	if (!error_shown(ld))
		return;
	char shown[256], message[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	path_display(path, shown, sizeof(shown));
	if (*shown)
		diag_add(ld->diags, ld->file, 0, 0, "%s: %s", shown, message);
	else
		diag_add(ld->diags, ld->file, 0, 0, "%s", message);
	add_request(ld, path, NULL, false);
}

/* ---- reading the input as libyaml events ---- */

/*
 * Every pass below reads the input from its start as libyaml events and
 * stops as soon as it has what it came for: the input libcyaml refused is
 * read no further than libcyaml read it (a collection the format does not
 * have is where libcyaml stopped), and the one it accepted is no deeper
 * than the format.  So no pass meets the input's worst (a 100,000-deep
 * nest, which libyaml's scanner reads in quadratic time) beyond a few
 * levels.
 */
struct reader {
	yaml_parser_t parser;
	yaml_event_t event;
	bool have;
};

static void reader_open(struct reader *r, const struct loader *ld)
{
	if (!yaml_parser_initialize(&r->parser))
		abort();
	yaml_parser_set_input_string(&r->parser, (const unsigned char *)ld->data, ld->len);
	r->have = false;
}

/* The next event, or false at the stream's end or at an error (the
 * parser's problem says which). */
static bool reader_next(struct reader *r)
{
	if (r->have)
		yaml_event_delete(&r->event);
	r->have = yaml_parser_parse(&r->parser, &r->event);
	return r->have && r->event.type != YAML_STREAM_END_EVENT;
}

static void reader_close(struct reader *r)
{
	if (r->have)
		yaml_event_delete(&r->event);
	yaml_parser_delete(&r->parser);
}

static bool is_node(yaml_event_type_t type)
{
	return type == YAML_SCALAR_EVENT || type == YAML_ALIAS_EVENT ||
	       type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT;
}

static bool is_start(yaml_event_type_t type)
{
	return type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT;
}

static bool is_end(yaml_event_type_t type)
{
	return type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT;
}

bool doc_has(const struct loader *ld, const char *key)
{
	struct reader r;
	unsigned depth = 0;
	bool want_key = false, found = false;
	reader_open(&r, ld);
	while (!found && reader_next(&r)) {
		yaml_event_type_t type = r.event.type;
		if (depth == 1 && is_node(type)) {
			found = want_key && type == YAML_SCALAR_EVENT &&
				!strcmp((const char *)r.event.data.scalar.value, key);
			if (!is_start(type))
				want_key = !want_key;
		}
		if (is_start(type) && ++depth == 1)
			want_key = type == YAML_MAPPING_START_EVENT;
		else if (is_end(type) && --depth == 1)
			want_key = !want_key;
		else if (is_end(type) && !depth)
			break;
	}
	reader_close(&r);
	return found;
}

/*
 * Locating: the requested paths form a trie (one node per path segment, and
 * one per requested key), held in a hash table by (parent, segment).  One
 * pass over the input's events follows the trie from the root: a node of
 * the input off every requested path costs one comparison.  A request is
 * done when its node is found, or when the collection that would hold it
 * ends (then the deepest node found on its way stands for it); the pass
 * stops when every request is done.  So N errors cost one partial parse,
 * with memory for their paths only.
 */
#define NONE UINT32_MAX

struct tnode {
	const char *seg; /* into a request's path or key */
	uint32_t len;
	uint32_t parent;
	uint32_t next;	  /* in its hash bucket */
	uint32_t pending; /* requests in this subtree not yet done */
	bool is_key;	  /* the key SEG of the mapping PARENT, not its value */
	bool closed;	  /* its collection ended: a repeat of it is not followed */
	uint8_t need;	  /* occurrences a request wants: 0, 1, or 2 (a repeated key) */
	uint8_t seen;
	unsigned line[2], column[2]; /* 0-based, of the first two occurrences */
};

struct trie {
	struct tnode *nodes;
	uint32_t count, capacity;
	uint32_t *buckets;
	uint32_t bucket_mask;
};

static uint32_t trie_hash(uint32_t parent, const char *seg, size_t len, bool is_key)
{
	uint32_t h = 2166136261u ^ parent ^ (is_key ? 0x9e3779b9u : 0);
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)seg[i]) * 16777619u;
	return h;
}

static uint32_t trie_find(const struct trie *trie, uint32_t parent, const char *seg, size_t len,
			  bool is_key)
{
	if (parent == NONE)
		return NONE;
	uint32_t at = trie->buckets[trie_hash(parent, seg, len, is_key) & trie->bucket_mask];
	for (; at != NONE; at = trie->nodes[at].next) {
		const struct tnode *n = &trie->nodes[at];
		if (n->parent == parent && n->is_key == is_key && n->len == len &&
		    !memcmp(n->seg, seg, len))
			return at;
	}
	return NONE;
}

static uint32_t trie_add(struct trie *trie, uint32_t parent, const char *seg, size_t len,
			 bool is_key)
{
	uint32_t at = trie_find(trie, parent, seg, len, is_key);
	if (at != NONE)
		return at;
	if (trie->count == trie->capacity)
		abort(); /* sized for every segment of every request */
	at = trie->count++;
	uint32_t *bucket = &trie->buckets[trie_hash(parent, seg, len, is_key) & trie->bucket_mask];
	trie->nodes[at] = (struct tnode){.seg = seg,
					 .len = (uint32_t)len,
					 .parent = parent,
					 .next = *bucket,
					 .is_key = is_key};
	*bucket = at;
	return at;
}

/* Add COUNT to the pending requests of NODE and its ancestors (COUNT may be
 * negative: requests done). */
static void trie_pend(struct trie *trie, uint32_t node, int count)
{
	for (; node != NONE; node = trie->nodes[node].parent)
		trie->nodes[node].pending += (uint32_t)count;
}

static void trie_want(struct trie *trie, uint32_t node, uint8_t need)
{
	struct tnode *n = &trie->nodes[node];
	if (!n->need)
		trie_pend(trie, node, 1);
	if (need > n->need)
		n->need = need;
}

/* NODE of the input starts at MARK. */
static void trie_seen(struct trie *trie, uint32_t node, const yaml_mark_t *mark)
{
	struct tnode *n = &trie->nodes[node];
	if (n->seen >= 2)
		return;
	n->line[n->seen] = (unsigned)mark->line;
	n->column[n->seen] = (unsigned)mark->column;
	if (++n->seen == n->need)
		trie_pend(trie, node, -1);
}

/* NODE's part of the input is over: whatever is pending under it is done. */
static void trie_close(struct trie *trie, uint32_t node)
{
	if (node == NONE)
		return;
	trie->nodes[node].closed = true;
	if (trie->nodes[node].pending)
		trie_pend(trie, node, -(int)trie->nodes[node].pending);
}

struct frame {
	uint32_t node;	/* the collection's trie node, or NONE */
	uint32_t value; /* a mapping's: the trie node of the value to come */
	uint32_t index; /* a sequence's: the next entry's */
	bool mapping, want_key;
};

/* Frames are kept this deep; below, nothing is followed (no request's path
 * is anywhere near as long). */
#define WALK_DEPTH 32

/* Follow the trie through the input's first document until nothing is
 * pending. */
static void trie_walk(struct trie *trie, const struct loader *ld)
{
	struct reader r;
	struct frame frames[WALK_DEPTH];
	unsigned depth = 0;
	reader_open(&r, ld);
	while (trie->nodes[0].pending && reader_next(&r)) {
		yaml_event_type_t type = r.event.type;
		if (type == YAML_DOCUMENT_END_EVENT)
			break;
		if (is_end(type)) {
			if (depth <= WALK_DEPTH)
				trie_close(trie, frames[depth - 1].node);
			depth--;
			continue;
		}
		if (!is_node(type))
			continue;
		uint32_t node = NONE;
		struct frame *f = depth && depth <= WALK_DEPTH ? &frames[depth - 1] : NULL;
		if (!depth) {
			node = 0;
		} else if (f && f->mapping && f->want_key) {
			f->want_key = false;
			f->value = NONE;
			if (f->node != NONE && type == YAML_SCALAR_EVENT) {
				const char *key = (const char *)r.event.data.scalar.value;
				size_t len = r.event.data.scalar.length;
				uint32_t at = trie_find(trie, f->node, key, len, true);
				if (at != NONE)
					trie_seen(trie, at, &r.event.start_mark);
				f->value = trie_find(trie, f->node, key, len, false);
			}
		} else if (f && f->mapping) {
			node = f->value;
			f->want_key = true;
		} else if (f && f->node != NONE) {
			char index[16];
			int len = snprintf(index, sizeof(index), "%u", f->index++);
			node = trie_find(trie, f->node, index, (size_t)len, false);
		}
		if (node != NONE && trie->nodes[node].closed)
			node = NONE; /* a repeated key: the first one counts */
		if (node != NONE)
			trie_seen(trie, node, &r.event.start_mark);
		if (!is_start(type)) {
			trie_close(trie, node); /* a scalar holds nothing */
			continue;
		}
		if (++depth <= WALK_DEPTH)
			frames[depth - 1] = (struct frame){
				.node = node,
				.value = NONE,
				.mapping = type == YAML_MAPPING_START_EVENT,
				.want_key = true,
			};
	}
	reader_close(&r);
}

static void loader_locate(struct loader *ld)
{
	if (!ld->request_count)
		return;
	size_t segments = 1;
	for (size_t i = 0; i < ld->request_count; i++) {
		for (const char *p = ld->requests[i].path; *p; p++)
			segments += *p == '.';
		segments += 2; /* the last segment, and a key */
	}
	struct trie trie = {.capacity = (uint32_t)segments};
	uint32_t buckets = 16;
	while (buckets < segments * 2)
		buckets *= 2;
	trie.bucket_mask = buckets - 1;
	trie.nodes = calloc(segments, sizeof(*trie.nodes));
	trie.buckets = malloc(buckets * sizeof(*trie.buckets));
	if (!trie.nodes || !trie.buckets)
		abort();
	memset(trie.buckets, 0xff, buckets * sizeof(*trie.buckets));
	trie.nodes[trie.count++] = (struct tnode){.seg = "", .parent = NONE, .next = NONE};

	for (size_t i = 0; i < ld->request_count; i++) {
		const struct locate_request *r = &ld->requests[i];
		uint32_t node = 0;
		const char *path = r->path;
		while (*path == '.') /* an injected rule's paths start at its root */
			path++;
		while (*path) {
			size_t len = strcspn(path, ".");
			node = trie_add(&trie, node, path, len, false);
			path += len + (path[len] == '.');
		}
		if (r->key)
			node = trie_add(&trie, node, r->key, strlen(r->key), true);
		trie_want(&trie, node, r->key && r->second ? 2 : 1);
	}
	trie_walk(&trie, ld);

	for (size_t i = 0; i < ld->request_count; i++) {
		const struct locate_request *r = &ld->requests[i];
		/* The node at the path, else the deepest one on the way (an absent
		 * key: the mapping that lacks it). */
		uint32_t node = 0, best = trie.nodes[0].seen ? 0 : NONE;
		const char *path = r->path;
		while (*path == '.')
			path++;
		while (*path && best == node) {
			size_t len = strcspn(path, ".");
			uint32_t next = trie_find(&trie, node, path, len, false);
			path += len + (path[len] == '.');
			if (next == NONE || !trie.nodes[next].seen)
				break;
			best = node = next;
		}
		unsigned which = 0;
		if (r->key && !*path && best == node && best != NONE) {
			uint32_t key = trie_find(&trie, node, r->key, strlen(r->key), true);
			if (key != NONE && trie.nodes[key].seen) {
				best = key;
				which = r->second && trie.nodes[key].seen > 1;
			}
		}
		struct diag *d = &ld->diags->items[r->diag];
		d->line = best != NONE ? trie.nodes[best].line[which] + 1 : 1;
		d->column = best != NONE ? trie.nodes[best].column[which] + 1 : 1;
	}
	free(trie.nodes);
	free(trie.buckets);
	for (size_t i = 0; i < ld->request_count; i++) {
		free(ld->requests[i].path);
		free(ld->requests[i].key);
	}
	ld->request_count = 0;
}

/* ---- libcyaml's log: the only place its errors say where ---- */

void capture_cyaml_log(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
	struct cyaml_log_capture *capture = ctx;
	char line[512], name[64];
	unsigned entry;
	vsnprintf(line, sizeof(line), fmt, args);
	line[strcspn(line, "\n")] = '\0';
	/* The only warning that matters: it reads the first document, and
	 * drops the rest without a word. */
	if (level == CYAML_LOG_WARNING && !strncmp(line, "Ignoring documents after first", 30))
		capture->second_document = true;
	if (level < CYAML_LOG_ERROR)
		return;
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

static void report_cyaml_error(struct loader *ld, const struct cyaml_log_capture *capture,
			       cyaml_err_t err)
{
	char path[512] = "", key[128], expected[32], got[32];
	unsigned max;
	for (unsigned i = capture->depth; i-- > 0;) {
		size_t len = strlen(path);
		snprintf(path + len, sizeof(path) - len, "%s%s", len ? "." : "",
			 capture->segments[i]);
	}
	const char *located_key = NULL;
	bool second = false;
	char shown[512];
	const char *sep;
	path_display(path, shown, sizeof(shown));
	sep = *shown ? ": " : "";
	ld->errors++;
	if (sscanf(capture->message, "Unexpected key: %127s", key) == 1) {
		located_key = key;
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
		located_key = key;
		second = true;
		diag_add(ld->diags, ld->file, 0, 0, "%s%s`%s` is given twice; keep one", shown, sep,
			 key);
	} else if (sscanf(capture->message, "Excessive entries (%u max)", &max) == 1) {
		/* Refused before the entry is read: the backtrace's last entry is
		 * the one before.  Point at the first entry too many. */
		char *last = strrchr(path, '.');
		char *list_end = last ? last : path + strlen(path);
		snprintf(list_end, sizeof(path) - (size_t)(list_end - path), "%s%u",
			 last ? "." : "", max);
		path_display(path, shown, sizeof(shown));
		diag_add(ld->diags, ld->file, 0, 0,
			 "%s: a list of at most %u entries; remove this one and those after it",
			 shown, max);
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
	add_request(ld, path, located_key, second);
}

/* The input's root node: its event type (0: there is none), and where. */
static yaml_event_type_t input_root(const struct loader *ld, unsigned *line, unsigned *column)
{
	struct reader r;
	yaml_event_type_t type = 0;
	*line = *column = 1;
	reader_open(&r, ld);
	while (reader_next(&r) && r.event.type != YAML_DOCUMENT_END_EVENT) {
		if (is_node(r.event.type)) {
			type = r.event.type;
			*line = (unsigned)r.event.start_mark.line + 1;
			*column = (unsigned)r.event.start_mark.column + 1;
			break;
		}
	}
	reader_close(&r);
	return type;
}

/* libyaml's own error, where libcyaml met it: read up to it again for its
 * position (libcyaml's log has only the message). */
static void report_syntax_error(struct loader *ld)
{
	struct reader r;
	reader_open(&r, ld);
	while (reader_next(&r))
		;
	const yaml_parser_t *p = &r.parser;
	if (p->error != YAML_NO_ERROR)
		diag_add(ld->diags, ld->file, (unsigned)p->problem_mark.line + 1,
			 (unsigned)p->problem_mark.column + 1, "invalid YAML: %s%s%s",
			 p->problem ? p->problem : "parse error", p->context ? " " : "",
			 p->context ? p->context : "");
	else
		diag_add(ld->diags, ld->file, 0, 0, "invalid YAML");
	ld->errors++;
	reader_close(&r);
}

/*
 * libcyaml failed: say why in the input's terms.  Not YAML: libyaml's
 * problem, at its position.  Not a mapping: say what a policy is.
 * Otherwise libcyaml's structural error, located in the input.
 */
void report_load_failure(struct loader *ld, const struct cyaml_log_capture *capture,
			 cyaml_err_t err, const char *what)
{
	unsigned line, column;
	if (err == CYAML_ERR_LIBYAML_PARSER) {
		report_syntax_error(ld);
	} else if (input_root(ld, &line, &column) != YAML_MAPPING_START_EVENT) {
		diag_add(ld->diags, ld->file, line, column, "%s", what);
		ld->errors++;
	} else {
		report_cyaml_error(ld, capture, err);
	}
}

void report_second_document(struct loader *ld)
{
	struct reader r;
	unsigned documents = 0, line = 0, column = 0;
	reader_open(&r, ld);
	while (reader_next(&r)) {
		if (r.event.type == YAML_DOCUMENT_START_EVENT && ++documents == 2) {
			line = (unsigned)r.event.start_mark.line + 1;
			column = (unsigned)r.event.start_mark.column + 1;
			break;
		}
	}
	reader_close(&r);
	diag_add(ld->diags, ld->file, line, column,
		 "a second YAML document; a policy is one document: remove this one, or merge "
		 "it into the first");
	ld->errors++;
}

void loader_start(struct loader *ld)
{
	ld->first_diag = ld->diags->count;
}

static int cmp_position(const void *a, const void *b)
{
	const struct diag *x = a, *y = b;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->column < y->column ? -1 : x->column > y->column;
}

void loader_done(struct loader *ld)
{
	loader_locate(ld);
	free(ld->requests);
	ld->requests = NULL;
	ld->request_capacity = 0;
	/* In source order, as a compiler prints them (the passes find them out of order). */
	size_t first = ld->first_diag, count = ld->diags->count;
	if (count > first + 1)
		qsort(ld->diags->items + first, count - first, sizeof(*ld->diags->items),
		      cmp_position);
	if (ld->errors > POLICY_MAX_ERRORS)
		diag_add(ld->diags, ld->file, 0, 0,
			 "%u more errors not shown; fix these, then check again",
			 ld->errors - POLICY_MAX_ERRORS);
}
