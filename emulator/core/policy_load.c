/*
 * policy_load.c - YAML policy file -> validated policy snapshot.
 *
 * Three passes, so that a user fixes a file in one go:
 *   1. libyaml parses the text into a node tree (syntax errors, with their
 *      exact position).  The tree is kept to locate later errors.
 *   2. libcyaml maps the tree's text onto the schema below (unknown keys,
 *      a sequence where a scalar belongs, ...).  libcyaml stops at its first
 *      error; its log callback is the only place that says where, so the log
 *      is captured and turned into one FILE:LINE:COL diagnostic.
 *   3. Every value is checked and converted here (numbers, errno names,
 *      duplicates, ranges, what the profile allows).  All scalars are loaded
 *      as strings so that this pass, not libcyaml, words the errors and
 *      reports all of them; each error is located through the node tree.
 *
 * It does not publish anything: core.c does that.
 */
#include <ctype.h>
#include <errno.h>
#include <search.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cyaml/cyaml.h>
#include <sha2.h>
#include <yaml.h>

#include "errnames.h"
#include "policy.h"
#include "policy_load_impl.h"

#define POLICY_FILE_MAX (64u << 20)

/* ---- the schema: what libcyaml maps; every scalar is a string ---- */

struct raw_answer_fields {
	char *value;
	char *errno_name;
};

struct raw_device {
	char *name;
	char *mode;
};

struct raw_cap {
	char *name;
	char *id;
	char *value;
	char **versions;
	unsigned versions_count;
};

struct raw_ioctl {
	char *name;
	char *cmd;
	char *value;
	char *errno_name;
};

struct raw_fault_match {
	char *event, *ioctl, *arg, *session, *pid, *uid, *comm;
};

struct raw_fault_when {
	char *once, *nth, *every, *after, *times, *probability;
};

struct raw_fault_action {
	char *errno_name, *value, *delay_ms, *hang, *vanish_ms;
};

struct raw_fault {
	char *name;
	char *enabled;
	struct raw_fault_match *match;
	struct raw_fault_when *when;
	struct raw_fault_action *action;
};

struct raw_faults {
	char *seed;
	struct raw_fault *rules;
	unsigned rules_count;
};

struct raw_policy {
	char *profile;
	struct raw_device *device;
	char **versions;
	unsigned versions_count;
	struct raw_cap *capabilities;
	unsigned capabilities_count;
	char *refusals[EMU_REFUSAL_COUNT];
	char *numbers[EMU_OP_BUILTIN_COUNT];
	struct raw_answer_fields *answers[EMU_OP_BUILTIN_COUNT];
	struct raw_answer_fields *fixed_answers[EMU_OP_BUILTIN_COUNT];
	struct raw_ioctl *ioctls;
	unsigned ioctls_count;
	struct raw_faults *faults;
	struct raw_hypervisor *hypervisor;
	struct raw_partition *partition;
	struct raw_driver *driver;
};

const cyaml_schema_value_t loader_string_entry = {
	CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, CYAML_UNLIMITED),
};

static const cyaml_schema_field_t answer_fields[] = {
	STR_FIELD("value", struct raw_answer_fields, value),
	STR_FIELD("errno", struct raw_answer_fields, errno_name),
	CYAML_FIELD_END,
};

static const cyaml_schema_field_t device_fields[] = {
	STR_FIELD("name", struct raw_device, name),
	STR_FIELD("mode", struct raw_device, mode),
	CYAML_FIELD_END,
};

static const cyaml_schema_field_t cap_fields[] = {
	STR_FIELD("name", struct raw_cap, name),
	STR_FIELD("id", struct raw_cap, id),
	STR_FIELD("value", struct raw_cap, value),
	CYAML_FIELD_SEQUENCE("versions", OPT, struct raw_cap, versions, &loader_string_entry, 1,
			     CYAML_UNLIMITED),
	CYAML_FIELD_END,
};

static const cyaml_schema_value_t cap_entry = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_cap, cap_fields),
};

static const cyaml_schema_field_t ioctl_fields[] = {
	STR_FIELD("name", struct raw_ioctl, name),
	STR_FIELD("cmd", struct raw_ioctl, cmd),
	STR_FIELD("value", struct raw_ioctl, value),
	STR_FIELD("errno", struct raw_ioctl, errno_name),
	CYAML_FIELD_END,
};

static const cyaml_schema_value_t ioctl_entry = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_ioctl, ioctl_fields),
};

static const cyaml_schema_field_t fault_match_fields[] = {
	STR_FIELD("event", struct raw_fault_match, event),
	STR_FIELD("ioctl", struct raw_fault_match, ioctl),
	STR_FIELD("arg", struct raw_fault_match, arg),
	STR_FIELD("session", struct raw_fault_match, session),
	STR_FIELD("pid", struct raw_fault_match, pid),
	STR_FIELD("uid", struct raw_fault_match, uid),
	STR_FIELD("comm", struct raw_fault_match, comm),
	CYAML_FIELD_END,
};

static const cyaml_schema_field_t fault_when_fields[] = {
	STR_FIELD("once", struct raw_fault_when, once),
	STR_FIELD("nth", struct raw_fault_when, nth),
	STR_FIELD("every", struct raw_fault_when, every),
	STR_FIELD("after", struct raw_fault_when, after),
	STR_FIELD("times", struct raw_fault_when, times),
	STR_FIELD("probability", struct raw_fault_when, probability),
	CYAML_FIELD_END,
};

static const cyaml_schema_field_t fault_action_fields[] = {
	STR_FIELD("errno", struct raw_fault_action, errno_name),
	STR_FIELD("value", struct raw_fault_action, value),
	STR_FIELD("delay_ms", struct raw_fault_action, delay_ms),
	STR_FIELD("hang", struct raw_fault_action, hang),
	STR_FIELD("vanish_ms", struct raw_fault_action, vanish_ms),
	CYAML_FIELD_END,
};

static const cyaml_schema_field_t fault_fields[] = {
	STR_FIELD("name", struct raw_fault, name),
	STR_FIELD("enabled", struct raw_fault, enabled),
	CYAML_FIELD_MAPPING_PTR("match", OPT, struct raw_fault, match, fault_match_fields),
	CYAML_FIELD_MAPPING_PTR("when", OPT, struct raw_fault, when, fault_when_fields),
	CYAML_FIELD_MAPPING_PTR("action", OPT, struct raw_fault, action, fault_action_fields),
	CYAML_FIELD_END,
};

static const cyaml_schema_value_t fault_entry = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_fault, fault_fields),
};

static const cyaml_schema_field_t faults_fields[] = {
	STR_FIELD("seed", struct raw_faults, seed),
	CYAML_FIELD_SEQUENCE("rules", OPT, struct raw_faults, rules, &fault_entry, 0,
			     CYAML_UNLIMITED),
	CYAML_FIELD_END,
};

static const cyaml_schema_field_t refusal_fields[] = {
#define X(id, key, op) STR_FIELD(key, struct raw_policy, refusals[EMU_REFUSAL_##id]),
	EMU_REFUSALS(X)
#undef X
		CYAML_FIELD_END,
};

static const cyaml_schema_field_t number_fields[] = {
#define X(id, key, display, object, kind) STR_FIELD(key, struct raw_policy, numbers[EMU_OP_##id]),
	EMU_OPS(X)
#undef X
		CYAML_FIELD_END,
};

/* `answers:`: a field per built-in; the semantic pass keeps the FIXED ones. */
static const cyaml_schema_field_t fixed_answer_fields[] = {
#define X(id, key, display, object, kind)                                                \
	CYAML_FIELD_MAPPING_PTR(key, OPT, struct raw_policy, fixed_answers[EMU_OP_##id], \
				answer_fields),
	EMU_OPS(X)
#undef X
		CYAML_FIELD_END,
};

/*
 * `errors:` and `numbers:` are mappings of the policy itself: libcyaml maps
 * them with an offset of 0 into struct raw_policy (CYAML_FLAG_DEFAULT, not a
 * pointer), so their fields land in raw_policy's own arrays.
 */
static const cyaml_schema_field_t policy_fields[] = {
	STR_FIELD("profile", struct raw_policy, profile),
	CYAML_FIELD_MAPPING_PTR("device", OPT, struct raw_policy, device, device_fields),
	CYAML_FIELD_SEQUENCE("versions", OPT, struct raw_policy, versions, &loader_string_entry, 1,
			     CYAML_UNLIMITED),
	CYAML_FIELD_SEQUENCE("capabilities", OPT, struct raw_policy, capabilities, &cap_entry, 0,
			     CYAML_UNLIMITED),
	{.key = "errors",
	 .value = {.type = CYAML_MAPPING,
		   .flags = CYAML_FLAG_OPTIONAL,
		   .data_size = sizeof(struct raw_policy),
		   .mapping = {.fields = refusal_fields}},
	 .data_offset = 0},
	{.key = "numbers",
	 .value = {.type = CYAML_MAPPING,
		   .flags = CYAML_FLAG_OPTIONAL,
		   .data_size = sizeof(struct raw_policy),
		   .mapping = {.fields = number_fields}},
	 .data_offset = 0},
	CYAML_FIELD_MAPPING_PTR("create_vtl", OPT, struct raw_policy, answers[EMU_OP_CREATE_VTL],
				answer_fields),
	CYAML_FIELD_MAPPING_PTR("create_partition", OPT, struct raw_policy,
				answers[EMU_OP_CREATE_PARTITION], answer_fields),
	{.key = "answers",
	 .value = {.type = CYAML_MAPPING,
		   .flags = CYAML_FLAG_OPTIONAL,
		   .data_size = sizeof(struct raw_policy),
		   .mapping = {.fields = fixed_answer_fields}},
	 .data_offset = 0},
	CYAML_FIELD_SEQUENCE("ioctls", OPT, struct raw_policy, ioctls, &ioctl_entry, 0,
			     CYAML_UNLIMITED),
	CYAML_FIELD_MAPPING_PTR("faults", OPT, struct raw_policy, faults, faults_fields),
	CYAML_FIELD_MAPPING_PTR("hypervisor", OPT, struct raw_policy, hypervisor,
				root_hypervisor_fields),
	CYAML_FIELD_MAPPING_PTR("partition", OPT, struct raw_policy, partition,
				root_partition_fields),
	CYAML_FIELD_MAPPING_PTR("driver", OPT, struct raw_policy, driver, root_driver_fields),
	CYAML_FIELD_END,
};

static const cyaml_schema_value_t policy_schema = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct raw_policy, policy_fields),
};

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

/* ---- scalar conversions ---- */

/* Decimal or 0x-hex, optionally negative.  Leading zeros are decimal (YAML 1.2). */
static bool parse_int(const char *text, int64_t *out)
{
	if (!text)
		return false;
	bool negative = *text == '-';
	const char *digits = text + negative;
	int base = 10;
	if (digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
		base = 16;
		digits += 2;
	}
	if (!(base == 16 ? isxdigit((unsigned char)*digits) : isdigit((unsigned char)*digits)))
		return false;
	char *end;
	errno = 0;
	unsigned long long magnitude = strtoull(digits, &end, base);
	if (*end || errno || magnitude > INT64_MAX)
		return false;
	*out = negative ? -(int64_t)magnitude : (int64_t)magnitude;
	return true;
}

/* A number in [MIN, MAX] at PATH, or an error naming WHAT it should be. */
bool get_number(struct loader *ld, const char *path, const char *text, int64_t min, int64_t max,
		const char *what, int64_t *out)
{
	int64_t number;
	if (!parse_int(text, &number)) {
		load_error(ld, path, "`%s` is not a number; expected %s", text ? text : "", what);
		return false;
	}
	if (number < min || number > max) {
		load_error(ld, path, "%s is out of range; expected %s", text, what);
		return false;
	}
	*out = number;
	return true;
}

bool get_u64(struct loader *ld, const char *path, const char *text, const char *what, uint64_t *out)
{
	const char *digits = text ? text : "";
	int base = 10;
	if (digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
		base = 16;
		digits += 2;
	}
	char *end;
	errno = 0;
	unsigned long long value = strtoull(digits, &end, base);
	if (!(base == 16 ? isxdigit((unsigned char)*digits) : isdigit((unsigned char)*digits)) ||
	    *end || errno) {
		load_error(ld, path, "`%s` is not %s", text ? text : "", what);
		return false;
	}
	*out = value;
	return true;
}

bool get_errno(struct loader *ld, const char *path, const char *text, int *out)
{
	*out = errname_parse(text);
	if (!*out) {
		load_error(ld, path,
			   "unknown errno `%s`; use a name such as EPERM or ENOTSUPP, or a number "
			   "from 1 to 4095",
			   text ? text : "");
		return false;
	}
	return true;
}

/* `{value: N}` or `{errno: NAME}` at PATH: exactly one of them. */
static bool get_answer(struct loader *ld, const char *path, const char *value,
		       const char *errno_name, policy_answer_t *out)
{
	char sub[256];
	if (value && errno_name) {
		load_error(ld, path, "give either `value` or `errno`, not both");
		return false;
	}
	if (!value && !errno_name) {
		load_error(ld, path, "needs an answer: `value: N` or `errno: NAME`");
		return false;
	}
	if (value) {
		int64_t v;
		snprintf(sub, sizeof(sub), "%s.value", path);
		if (!get_number(ld, sub, value, 0, INT32_MAX, "0 to 2147483647", &v))
			return false;
		*out = (policy_answer_t)v;
		return true;
	}
	int err;
	snprintf(sub, sizeof(sub), "%s.errno", path);
	if (!get_errno(ld, sub, errno_name, &err))
		return false;
	*out = -err;
	return true;
}

static bool valid_name(const char *name, const char *extra)
{
	if (!*name || strlen(name) >= POLICY_NAME_MAX)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || (extra && strchr(extra, *p))))
			return false;
	return true;
}

bool policy_device_name_ok(const char *name)
{
	return valid_name(name, "-.") && strcmp(name, ".") && strcmp(name, "..");
}

/* ---- semantic pass ---- */

static void build_device(struct loader *ld, const struct raw_policy *raw,
			 struct policy_snapshot *snap)
{
	snprintf(snap->device_name, sizeof(snap->device_name), "mshv");
	snap->device_mode = 0600;
	if (!raw->device)
		return;
	const char *name = raw->device->name;
	if (name) {
		if (!policy_device_name_ok(name))
			load_error(ld, "device.name",
				   "`%s` is not a device name; use up to %d letters, digits, "
				   "'_', '-' or '.'",
				   name, POLICY_NAME_MAX - 1);
		else
			snprintf(snap->device_name, sizeof(snap->device_name), "%s", name);
	}
	const char *mode = raw->device->mode;
	if (mode) {
		char *end;
		errno = 0;
		unsigned long bits = strtoul(mode, &end, 8);
		if (!*mode || *end || errno || bits > 0777 || *mode == '-')
			load_error(ld, "device.mode",
				   "`%s` is not a file mode; write it in octal, such as 0600",
				   mode);
		else
			snap->device_mode = (unsigned)bits;
	}
}

static void build_versions(struct loader *ld, const struct raw_policy *raw,
			   struct policy_snapshot *snap, const struct profile_desc *desc)
{
	char path[64];
	if (!desc->versioned) {
		if (raw->versions_count)
			load_error(ld, "versions",
				   "profile %s has no MSHV_REQUEST_VERSION; remove this key",
				   desc->name);
		return;
	}
	/* An empty list is refused by the schema (min 1): zero means absent. */
	if (!raw->versions_count) {
		load_error(ld, "",
			   "profile %s needs `versions:`, the list of versions REQUEST_VERSION "
			   "accepts",
			   desc->name);
		return;
	}
	if (raw->versions_count > POLICY_MAX_VERSIONS) {
		load_error(ld, "versions", "%u versions listed; at most %d are supported",
			   raw->versions_count, POLICY_MAX_VERSIONS);
		return;
	}
	for (unsigned i = 0; i < raw->versions_count; i++) {
		int64_t version;
		snprintf(path, sizeof(path), "versions.%u", i);
		if (!get_number(ld, path, raw->versions[i], 0, UINT32_MAX, "0 to 0xfffffffe",
				&version))
			continue;
		if (version == MSHV_VERSION_UNSET) {
			load_error(ld, path,
				   "0xffffffff is reserved: it is the driver's \"no version yet\" "
				   "marker");
			continue;
		}
		int seen = policy_version_index(snap, (uint32_t)version);
		if (seen >= 0) {
			load_error(ld, path, "version %s is listed twice", raw->versions[i]);
			continue;
		}
		snap->versions[snap->version_count++] = (uint32_t)version;
	}
}

/* Which versions see capability I: a mask over snap->versions. */
static uint64_t cap_version_mask(struct loader *ld, const struct raw_cap *cap, unsigned index,
				 const struct policy_snapshot *snap,
				 const struct profile_desc *desc)
{
	char path[96];
	snprintf(path, sizeof(path), "capabilities.%u.versions", index);
	if (!cap->versions_count) /* absent: an empty list is refused by the schema */
		return desc->versioned
			       ? (snap->version_count == 64 ? ~0ull
							    : (1ull << snap->version_count) - 1)
			       : ~0ull;
	if (!desc->versioned) {
		load_error(ld, path, "profile %s has no MSHV_REQUEST_VERSION; remove this key",
			   desc->name);
		return 0;
	}
	uint64_t mask = 0;
	for (unsigned v = 0; v < cap->versions_count; v++) {
		int64_t version;
		char item[128];
		snprintf(item, sizeof(item), "%s.%u", path, v);
		if (!get_number(ld, item, cap->versions[v], 0, UINT32_MAX, "0 to 0xfffffffe",
				&version))
			continue;
		int at = policy_version_index(snap, (uint32_t)version);
		if (at < 0)
			load_error(ld, item,
				   "version %s is not in `versions:`, so no session can "
				   "negotiate it; add it there or remove it here",
				   cap->versions[v]);
		else
			mask |= 1ull << at;
	}
	return mask;
}

static void build_caps(struct loader *ld, const struct raw_policy *raw,
		       struct policy_snapshot *snap, const struct profile_desc *desc)
{
	char path[96];
	if (!desc->cmd[EMU_OP_CHECK_EXTENSION]) {
		if (raw->capabilities_count || doc_has(ld, "capabilities"))
			load_error(ld, "capabilities",
				   "profile %s has no MSHV_CHECK_EXTENSION; remove this key",
				   desc->name);
		return;
	}
	/* First pass: the table's size. */
	int64_t *ids = calloc(raw->capabilities_count + 1, sizeof(*ids));
	if (!ids)
		abort();
	uint32_t slots = 0;
	for (unsigned i = 0; i < raw->capabilities_count; i++) {
		snprintf(path, sizeof(path), "capabilities.%u.id", i);
		ids[i] = -1;
		if (!raw->capabilities[i].id) {
			snprintf(path, sizeof(path), "capabilities.%u", i);
			load_error(ld, path,
				   "needs `id:`, the capability id CHECK_EXTENSION takes");
			continue;
		}
		if (get_number(ld, path, raw->capabilities[i].id, 0, POLICY_MAX_CAP_ID,
			       "a capability id from 0 to 0xfffff", &ids[i]) &&
		    ids[i] + 1 > slots)
			slots = (uint32_t)ids[i] + 1;
	}
	snap->cap_slots = slots;
	snap->caps = calloc(slots ? slots : 1, sizeof(*snap->caps));
	snap->cap_names = calloc(slots ? slots : 1, sizeof(*snap->cap_names));
	struct hsearch_data names = {0};
	if (!snap->caps || !snap->cap_names || !hcreate_r(raw->capabilities_count * 2 + 8, &names))
		abort();

	for (unsigned i = 0; i < raw->capabilities_count; i++) {
		const struct raw_cap *cap = &raw->capabilities[i];
		bool ok = ids[i] >= 0;
		const char *name = cap->name;
		snprintf(path, sizeof(path), "capabilities.%u.name", i);
		if (!name) {
			snprintf(path, sizeof(path), "capabilities.%u", i);
			load_error(ld, path, "needs `name:`, such as REGISTER_PAGE");
			ok = false;
		} else if (!valid_name(name, NULL)) {
			load_error(ld, path,
				   "`%s` is not a capability name; use letters, digits and '_'",
				   name);
			ok = false;
		} else {
			ENTRY item = {.key = (char *)name, .data = (void *)(uintptr_t)i}, *found;
			hsearch_r(item, FIND, &found, &names);
			if (found) {
				load_error(ld, path, "%s is already used by capabilities[%u]", name,
					   (unsigned)(uintptr_t)found->data);
				ok = false;
			} else if (!hsearch_r(item, ENTER, &found, &names)) {
				abort();
			}
		}
		int64_t value = 0;
		snprintf(path, sizeof(path), "capabilities.%u.value", i);
		if (!cap->value) {
			snprintf(path, sizeof(path), "capabilities.%u", i);
			load_error(ld, path,
				   "needs `value:`; 0 = known but unsupported, > 0 = supported");
			ok = false;
		} else if (!get_number(ld, path, cap->value, 0, INT32_MAX,
				       "0 (known but unsupported) to 2147483647", &value)) {
			ok = false;
		}
		uint64_t mask = cap_version_mask(ld, cap, i, snap, desc);
		if (ids[i] >= 0 && snap->cap_names[ids[i]]) {
			snprintf(path, sizeof(path), "capabilities.%u.id", i);
			load_error(ld, path, "%s is already used by %s", cap->id,
				   snap->cap_names[ids[i]]);
			continue;
		}
		if (!ok || !mask)
			continue;
		snap->caps[ids[i]].value = (int32_t)value;
		snap->caps[ids[i]].version_mask = mask;
		snap->cap_names[ids[i]] = strdup(name);
		if (!snap->cap_names[ids[i]])
			abort();
		snap->cap_count++;
	}
	hdestroy_r(&names);
	free(ids);
}

static void build_refusals(struct loader *ld, const struct raw_policy *raw,
			   struct policy_snapshot *snap, const struct profile_desc *desc)
{
	char path[64];
	for (int r = 0; r < EMU_REFUSAL_COUNT; r++) {
		snap->refusal[r] = desc->refusal[r];
		if (!raw->refusals[r])
			continue;
		snprintf(path, sizeof(path), "errors.%s", refusal_key(r));
		enum emu_op needs = refusal_needs(r);
		if (needs < EMU_OP_BUILTIN_COUNT && !desc->cmd[needs]) {
			load_error(ld, path, "profile %s has no %s; remove this key", desc->name,
				   op_display(needs));
			continue;
		}
		get_errno(ld, path, raw->refusals[r], &snap->refusal[r]);
	}
}

/* The least a built-in's number must carry: its argument's direction and
 * size (root ops), or a __u32 (REQUEST_VERSION, CHECK_EXTENSION), which may
 * also go by value.  0 size: anything. */
static const struct {
	unsigned dir;
	unsigned size;
} op_arg[EMU_OP_BUILTIN_COUNT] = {
	[EMU_OP_CREATE_PARTITION] = {_IOC_WRITE, 0}, /* the profile's create_size */
	[EMU_OP_GET_HOST_PARTITION_PROPERTY] = {_IOC_READ | _IOC_WRITE,
						sizeof(struct mshv_emu_partition_property)},
	[EMU_OP_ROOT_HVCALL] = {_IOC_READ | _IOC_WRITE, sizeof(struct mshv_root_hvcall)},
	[EMU_OP_PARTITION_HVCALL] = {_IOC_READ | _IOC_WRITE, sizeof(struct mshv_root_hvcall)},
	[EMU_OP_VP_HVCALL] = {_IOC_READ | _IOC_WRITE, sizeof(struct mshv_root_hvcall)},
	[EMU_OP_CREATE_VP] = {_IOC_WRITE, sizeof(struct mshv_create_vp)},
};

/* The least size OP's number must encode: CREATE_PARTITION's is the
 * generation's structure. */
static unsigned arg_size(enum emu_op op, const struct profile_desc *desc)
{
	return op == EMU_OP_CREATE_PARTITION ? desc->root.create_size : op_arg[op].size;
}

static bool cmd_fits(enum emu_op op, uint32_t cmd, const struct profile_desc *desc)
{
	if (op == EMU_OP_REQUEST_VERSION || op == EMU_OP_CHECK_EXTENSION) {
		if (_IOC_DIR(cmd) == _IOC_NONE)
			return _IOC_SIZE(cmd) == 0;
		return (_IOC_DIR(cmd) & _IOC_WRITE) && _IOC_SIZE(cmd) == sizeof(__u32);
	}
	if (!op_arg[op].dir)
		return true;
	return (_IOC_DIR(cmd) & op_arg[op].dir) == op_arg[op].dir &&
	       _IOC_SIZE(cmd) >= arg_size(op, desc);
}

/* What OP's number must look like, for the error cmd_fits leads to. */
static void cmd_shape(enum emu_op op, const struct profile_desc *desc, char *out, size_t size)
{
	if (op == EMU_OP_REQUEST_VERSION || op == EMU_OP_CHECK_EXTENSION)
		snprintf(out, size, "_IOW(type, nr, __u32), or a value with _IO(type, nr)");
	else
		snprintf(out, size, "%s of at least %u bytes",
			 op_arg[op].dir == _IOC_WRITE ? "_IOW" : "_IOWR", arg_size(op, desc));
}

/* By (object, cmd): policy_find_ioctl's order. */
static int cmp_ioctl(const void *a, const void *b)
{
	const struct policy_ioctl *x = a, *y = b;
	if (x->object != y->object)
		return x->object < y->object ? -1 : 1;
	return x->cmd < y->cmd ? -1 : x->cmd > y->cmd;
}

static void add_ioctl(struct loader *ld, struct policy_snapshot *snap, const char *path,
		      const struct policy_ioctl *entry)
{
	for (unsigned i = 0; i < snap->ioctl_count; i++) {
		if (snap->ioctls[i].cmd == entry->cmd && snap->ioctls[i].object == entry->object) {
			load_error(ld, path, "0x%08X is already %s on %s fds", entry->cmd,
				   snap->ioctls[i].name, object_key(entry->object));
			return;
		}
	}
	snap->ioctls[snap->ioctl_count++] = *entry;
}

static void build_ioctls(struct loader *ld, const struct raw_policy *raw,
			 struct policy_snapshot *snap, const struct profile_desc *desc)
{
	char path[96];
	if (raw->ioctls_count > POLICY_MAX_IOCTLS) {
		load_error(ld, "ioctls", "%u ioctls listed; at most %d are supported",
			   raw->ioctls_count, POLICY_MAX_IOCTLS);
		return;
	}
	snap->ioctls = calloc(EMU_OP_BUILTIN_COUNT + raw->ioctls_count, sizeof(*snap->ioctls));
	if (!snap->ioctls)
		abort();

	for (int op = 0; op < EMU_OP_BUILTIN_COUNT; op++) {
		const char *key = op_key(op);
		enum emu_answer_kind kind = op_answer_kind(op);
		/* create_vtl and create_partition answer at the top level (as they
		 * always have); the other fixed answers under `answers:`. */
		bool top_level = op == EMU_OP_CREATE_VTL || op == EMU_OP_CREATE_PARTITION;
		char answer_path[64];
		snprintf(answer_path, sizeof(answer_path), top_level ? "%s" : "answers.%s", key);
		const struct raw_answer_fields *answer =
			top_level ? raw->answers[op] : raw->fixed_answers[op];
		snprintf(path, sizeof(path), "numbers.%s", key);
		if (!desc->cmd[op]) {
			if (raw->numbers[op])
				load_error(ld, path, "profile %s has no %s; remove this key",
					   desc->name, op_display(op));
			if (answer)
				load_error(ld, answer_path, "profile %s has no %s; remove this key",
					   desc->name, op_display(op));
			continue;
		}
		if (!top_level && answer && kind != EMU_ANSWER_FIXED) {
			load_error(ld, answer_path,
				   "%s is answered by the emulator's model, not a fixed answer; "
				   "remove this key",
				   op_display(op));
			answer = NULL;
		}
		struct policy_ioctl entry = {.cmd = desc->cmd[op],
					     .op = op,
					     .object = op_object(op),
					     .name = op_display(op),
					     .answer = EMU_FIXED_DEFAULT};
		int64_t number;
		if (raw->numbers[op]) {
			if (!get_number(ld, path, raw->numbers[op], 1, UINT32_MAX,
					"an ioctl number from 0x1 to 0xffffffff", &number))
				continue;
			entry.cmd = (uint32_t)number;
			if (!cmd_fits(op, entry.cmd, desc)) {
				char shape[80];
				cmd_shape(op, desc, shape, sizeof(shape));
				load_error(ld, path, "0x%08X does not carry %s's argument (%s)",
					   entry.cmd, op_display(op), shape);
				continue;
			}
		}
		if (kind == EMU_ANSWER_REQUIRED && !answer) {
			load_error(ld, "",
				   "profile %s answers %s from the policy; add `%s: {errno: "
				   "EPERM}`",
				   desc->name, op_display(op), key);
			continue;
		}
		/* The real ioctl returns a new fd: a number here would be taken
		 * for one, and closed, by the VMM. */
		if (answer && answer->value && !answer->errno_name &&
		    (op == EMU_OP_CREATE_VTL || op == EMU_OP_CREATE_PARTITION)) {
			snprintf(path, sizeof(path), "%s.value", answer_path);
			load_error(ld, path,
				   "%s returns a new fd, so a value here would be taken for one; "
				   "answer an errno (`errno: EPERM`)",
				   op_display(op));
			continue;
		}
		if (answer &&
		    !get_answer(ld, answer_path, answer->value, answer->errno_name, &entry.answer))
			continue;
		add_ioctl(ld, snap, path, &entry);
	}

	for (unsigned i = 0; i < raw->ioctls_count; i++) {
		const struct raw_ioctl *extra = &raw->ioctls[i];
		struct policy_ioctl entry = {.op = EMU_OP_FIXED, .name = extra->name};
		bool ok = true;
		snprintf(path, sizeof(path), "ioctls.%u", i);
		if (!extra->name) {
			load_error(ld, path, "needs `name:`, such as MSHV_GET_FOO");
			ok = false;
		} else if (!valid_name(extra->name, NULL)) {
			snprintf(path, sizeof(path), "ioctls.%u.name", i);
			load_error(ld, path,
				   "`%s` is not an ioctl name; use letters, digits and '_'",
				   extra->name);
			ok = false;
		}
		snprintf(path, sizeof(path), "ioctls.%u", i);
		int64_t number = 0;
		if (!extra->cmd) {
			load_error(ld, path, "needs `cmd:`, the ioctl number");
			ok = false;
		} else {
			snprintf(path, sizeof(path), "ioctls.%u.cmd", i);
			ok &= get_number(ld, path, extra->cmd, 1, UINT32_MAX,
					 "an ioctl number from 0x1 to 0xffffffff", &number);
		}
		snprintf(path, sizeof(path), "ioctls.%u", i);
		ok &= get_answer(ld, path, extra->value, extra->errno_name, &entry.answer);
		if (!ok)
			continue;
		for (unsigned j = 0; j < snap->ioctl_count; j++) {
			if (snap->ioctls[j].op == EMU_OP_FIXED &&
			    !strcmp(snap->ioctls[j].name, extra->name)) {
				snprintf(path, sizeof(path), "ioctls.%u.name", i);
				load_error(ld, path, "%s is already used by another ioctl",
					   extra->name);
				ok = false;
			}
		}
		if (!ok)
			continue;
		entry.cmd = (uint32_t)number;
		snprintf(path, sizeof(path), "ioctls.%u.cmd", i);
		add_ioctl(ld, snap, path, &entry);
	}
	qsort(snap->ioctls, snap->ioctl_count, sizeof(*snap->ioctls), cmp_ioctl);
	for (int object = 0, at = 0; object <= EMU_OBJECT_COUNT; object++) {
		while (at < (int)snap->ioctl_count && (int)snap->ioctls[at].object < object)
			at++;
		snap->object_first[object] = (unsigned)at;
	}
}

/* Names of extra ioctls point into RAW, which is freed: give the snapshot its own. */
static void own_ioctl_names(struct policy_snapshot *snap)
{
	for (unsigned i = 0; i < snap->ioctl_count; i++) {
		if (snap->ioctls[i].op != EMU_OP_FIXED)
			continue;
		snap->ioctls[i].name = strdup(snap->ioctls[i].name);
		if (!snap->ioctls[i].name)
			abort();
	}
}

/* ---- faults ---- */

#define FAULT_MAX_RULES 1024
#define FAULT_MAX_MS	600000 /* ten minutes: anything longer is a mistake */

bool get_bool(struct loader *ld, const char *path, const char *text, bool *out)
{
	if (!strcmp(text, "true") || !strcmp(text, "yes") || !strcmp(text, "on")) {
		*out = true;
		return true;
	}
	if (!strcmp(text, "false") || !strcmp(text, "no") || !strcmp(text, "off")) {
		*out = false;
		return true;
	}
	load_error(ld, path, "`%s` is not true or false", text);
	return false;
}

/* The ioctl a rule names: a built-in by key or display name, one of the
 * policy's ioctls by name, or any number. */
static const struct policy_ioctl *find_ioctl_by_name(const struct policy_snapshot *snap,
						     const char *name)
{
	for (unsigned i = 0; i < snap->ioctl_count; i++) {
		const struct policy_ioctl *entry = &snap->ioctls[i];
		if (!strcmp(entry->name, name) ||
		    (entry->op < EMU_OP_BUILTIN_COUNT && !strcmp(op_key(entry->op), name)) ||
		    (entry->op < EMU_OP_BUILTIN_COUNT && !strcmp(entry->name + 5, name)))
			return entry;
	}
	return NULL;
}

/* Does CMD carry the u32 argument a rule's `arg` would match? */
static bool cmd_has_u32_arg(uint32_t cmd)
{
	return _IOC_DIR(cmd) == _IOC_NONE || ((_IOC_DIR(cmd) & _IOC_WRITE) && _IOC_SIZE(cmd) >= 4);
}

static void build_fault_match(struct loader *ld, const char *path, const struct raw_fault_match *m,
			      const struct policy_snapshot *snap, struct fault_rule *rule, bool *ok)
{
	char sub[160];
	int64_t n;
	rule->event = FAULT_EVENT_IOCTL;
	if (!m)
		return;
	if (m->event) {
		snprintf(sub, sizeof(sub), "%s.match.event", path);
		if (!strcmp(m->event, "ioctl"))
			rule->event = FAULT_EVENT_IOCTL;
		else if (!strcmp(m->event, "open"))
			rule->event = FAULT_EVENT_OPEN;
		else if (!strcmp(m->event, "release"))
			rule->event = FAULT_EVENT_RELEASE;
		else
			load_error(ld, sub, "unknown event `%s`; expected ioctl, open or release",
				   m->event),
				*ok = false;
	}
	if (rule->event != FAULT_EVENT_IOCTL && (m->ioctl || m->arg)) {
		snprintf(sub, sizeof(sub), "%s.match.%s", path, m->ioctl ? "ioctl" : "arg");
		load_error(ld, sub, "can never match: an %s carries no ioctl; remove it",
			   rule->event == FAULT_EVENT_OPEN ? "open" : "release");
		*ok = false;
	}
	if (m->ioctl) {
		snprintf(sub, sizeof(sub), "%s.match.ioctl", path);
		const struct policy_ioctl *entry = find_ioctl_by_name(snap, m->ioctl);
		if (entry) {
			rule->cmd = entry->cmd;
		} else if (parse_int(m->ioctl, &n) && n >= 1 && n <= UINT32_MAX) {
			rule->cmd = (uint32_t)n;
		} else {
			load_error(ld, sub,
				   "`%s` is not an ioctl of profile %s or of `ioctls:`; use a name "
				   "such as CHECK_EXTENSION or a number",
				   m->ioctl, profile_get(snap->profile)->name);
			*ok = false;
		}
		rule->has_cmd = true;
	}
	if (m->arg) {
		snprintf(sub, sizeof(sub), "%s.match.arg", path);
		if (get_number(ld, sub, m->arg, 0, UINT32_MAX, "a __u32 such as a capability id",
			       &n)) {
			rule->arg = (uint32_t)n;
			rule->has_arg = true;
			if (rule->has_cmd && !cmd_has_u32_arg(rule->cmd)) {
				load_error(
					ld, sub,
					"can never match: ioctl 0x%08X carries no __u32 argument",
					rule->cmd);
				*ok = false;
			}
		} else {
			*ok = false;
		}
	}
	if (m->session) {
		snprintf(sub, sizeof(sub), "%s.match.session", path);
		*ok &= get_number(ld, sub, m->session, 1, INT64_MAX, "the Nth open, from 1", &n);
		rule->session = (uint64_t)n;
		rule->has_session = true;
	}
	if (m->pid) {
		snprintf(sub, sizeof(sub), "%s.match.pid", path);
		*ok &= get_number(ld, sub, m->pid, 1, INT32_MAX, "a process id", &n);
		rule->pid = (int32_t)n;
		rule->has_pid = true;
	}
	if (m->uid) {
		snprintf(sub, sizeof(sub), "%s.match.uid", path);
		*ok &= get_number(ld, sub, m->uid, 0, UINT32_MAX - 1, "a user id", &n);
		rule->uid = (uint32_t)n;
		rule->has_uid = true;
	}
	if (m->comm) {
		snprintf(sub, sizeof(sub), "%s.match.comm", path);
		if (!*m->comm) {
			load_error(ld, sub, "empty command name; give a glob such as cloud-hyper*");
			*ok = false;
		} else {
			rule->comm_glob = strdup(m->comm);
			if (!rule->comm_glob)
				abort();
		}
	}
}

static void build_fault_when(struct loader *ld, const char *path, const struct raw_fault_when *w,
			     struct fault_rule *rule, bool *ok)
{
	char sub[160];
	int64_t n;
	if (!w)
		return;
#define WHEN_NUMBER(field, min, what)                                        \
	if (w->field) {                                                      \
		snprintf(sub, sizeof(sub), "%s.when." #field, path);         \
		if (get_number(ld, sub, w->field, min, INT64_MAX, what, &n)) \
			rule->field = (uint64_t)n;                           \
		else                                                         \
			*ok = false;                                         \
	}
	WHEN_NUMBER(nth, 1, "the Nth matching call, from 1")
	WHEN_NUMBER(every, 1, "every Nth matching call, from 1")
	WHEN_NUMBER(after, 1, "a number of matching calls to let through, from 1")
	WHEN_NUMBER(times, 1, "how many times at most, from 1")
#undef WHEN_NUMBER
	if (w->once) {
		bool once = false;
		snprintf(sub, sizeof(sub), "%s.when.once", path);
		if (!get_bool(ld, sub, w->once, &once))
			*ok = false;
		else if (once && rule->times > 1)
			load_error(ld, sub, "`once` and `times: %llu` disagree; keep one",
				   (unsigned long long)rule->times),
				*ok = false;
		else if (once)
			rule->times = 1;
	}
	if (w->probability) {
		char *end;
		snprintf(sub, sizeof(sub), "%s.when.probability", path);
		errno = 0;
		double p = strtod(w->probability, &end);
		if (*end || errno || !*w->probability || !(p > 0.0 && p <= 1.0)) {
			load_error(ld, sub,
				   "`%s` is not a probability in (0, 1]; 0 would never fire, 1 is "
				   "`always`",
				   w->probability);
			*ok = false;
		} else if (p < 1.0) {
			rule->has_probability = true;
			rule->probability = p;
			rule->probability_threshold = (uint64_t)(p * 18446744073709551616.0);
		}
	}
	if (rule->nth && rule->after && rule->after >= rule->nth) {
		snprintf(sub, sizeof(sub), "%s.when", path);
		load_error(ld, sub, "can never fire: `after: %llu` skips the `nth: %llu` call",
			   (unsigned long long)rule->after, (unsigned long long)rule->nth);
		*ok = false;
	}
	if (rule->nth && rule->every && rule->nth % rule->every) {
		snprintf(sub, sizeof(sub), "%s.when", path);
		load_error(ld, sub, "can never fire: call %llu is not a multiple of `every: %llu`",
			   (unsigned long long)rule->nth, (unsigned long long)rule->every);
		*ok = false;
	}
}

static void build_fault_action(struct loader *ld, const char *path,
			       const struct raw_fault_action *a, struct fault_rule *rule, bool *ok)
{
	char sub[160];
	int64_t n;
	if (!a) {
		load_error(ld, path, "needs `action:`: errno, value, delay_ms, hang or vanish_ms");
		*ok = false;
		return;
	}
	unsigned primaries = !!a->errno_name + !!a->value + !!a->hang + !!a->vanish_ms;
	if (primaries > 1) {
		snprintf(sub, sizeof(sub), "%s.action", path);
		load_error(ld, sub,
			   "give one of errno, value, hang and vanish_ms (delay_ms may go with "
			   "errno or value)");
		*ok = false;
		return;
	}
	if (!primaries && !a->delay_ms) {
		snprintf(sub, sizeof(sub), "%s.action", path);
		load_error(ld, sub, "needs errno, value, delay_ms, hang or vanish_ms");
		*ok = false;
		return;
	}
	if (a->errno_name) {
		int err;
		snprintf(sub, sizeof(sub), "%s.action.errno", path);
		if (get_errno(ld, sub, a->errno_name, &err))
			rule->has_result = true, rule->result = -err;
		else
			*ok = false;
	}
	if (a->value) {
		snprintf(sub, sizeof(sub), "%s.action.value", path);
		if (get_number(ld, sub, a->value, 0, INT32_MAX, "0 to 2147483647", &n))
			rule->has_result = true, rule->result = (int32_t)n;
		else
			*ok = false;
	}
	if (a->delay_ms) {
		snprintf(sub, sizeof(sub), "%s.action.delay_ms", path);
		if (get_number(ld, sub, a->delay_ms, 1, FAULT_MAX_MS,
			       "milliseconds from 1 to 600000 (ten minutes)", &n))
			rule->delay_ns = (uint64_t)n * 1000000;
		else
			*ok = false;
		if (a->hang) {
			load_error(ld, sub,
				   "a hung call waits for `mshvctl release`; remove delay_ms");
			*ok = false;
		}
		if (a->vanish_ms) {
			load_error(ld, sub, "a vanished device answers at once; remove delay_ms");
			*ok = false;
		}
	}
	if (a->hang) {
		snprintf(sub, sizeof(sub), "%s.action.hang", path);
		if (!get_bool(ld, sub, a->hang, &rule->hang))
			*ok = false;
		else if (!rule->hang)
			load_error(ld, sub,
				   "`hang: false` does nothing; remove the rule or the key"),
				*ok = false;
	}
	if (a->vanish_ms) {
		snprintf(sub, sizeof(sub), "%s.action.vanish_ms", path);
		if (get_number(ld, sub, a->vanish_ms, 1, FAULT_MAX_MS,
			       "milliseconds from 1 to 600000 (ten minutes)", &n))
			rule->vanish_ns = (uint64_t)n * 1000000;
		else
			*ok = false;
	}
	if (rule->event == FAULT_EVENT_RELEASE && !a->vanish_ms) {
		snprintf(sub, sizeof(sub), "%s.action", path);
		load_error(ld, sub,
			   "a release cannot fail or be delayed (close does not wait for it); "
			   "only vanish_ms applies");
		*ok = false;
	}
	/* An open's error travels in fuse_reply_err: an errno >= 512 is rejected
	 * by the kernel (the caller would hang in open), and ENOSYS means "no
	 * open here" to FUSE (the open would succeed with no session). */
	if (rule->event == FAULT_EVENT_OPEN && rule->has_result &&
	    (-rule->result >= 512 || -rule->result == ENOSYS)) {
		snprintf(sub, sizeof(sub), "%s.action.errno", path);
		load_error(ld, sub,
			   "an open cannot fail with %s (%d) through FUSE or CUSE; use an errno "
			   "below 512 other than ENOSYS",
			   errname_of(-rule->result) ? errname_of(-rule->result) : "it",
			   -rule->result);
		*ok = false;
	}
	if (rule->event == FAULT_EVENT_OPEN && a->value) {
		snprintf(sub, sizeof(sub), "%s.action.value", path);
		load_error(ld, sub, "an open returns a file descriptor, not a value; use errno");
		*ok = false;
	}
}

/* One rule at PATH into RULE; false (with errors reported) if it is invalid. */
static bool build_fault(struct loader *ld, const char *path, const struct raw_fault *raw,
			const struct policy_snapshot *snap, struct fault_rule *rule)
{
	bool ok = true;
	char sub[160];
	memset(rule, 0, sizeof(*rule));
	rule->enabled = true;
	if (!raw->name) {
		load_error(ld, path, "needs `name:`, used by logs, stats and mshvctl");
		ok = false;
	} else if (!valid_name(raw->name, "-.")) {
		snprintf(sub, sizeof(sub), "%s.name", path);
		load_error(ld, sub, "`%s` is not a rule name; use letters, digits, '_', '-', '.'",
			   raw->name);
		ok = false;
	} else {
		rule->name = strdup(raw->name);
		if (!rule->name)
			abort();
	}
	if (raw->enabled) {
		snprintf(sub, sizeof(sub), "%s.enabled", path);
		ok &= get_bool(ld, sub, raw->enabled, &rule->enabled);
	}
	build_fault_match(ld, path, raw->match, snap, rule, &ok);
	build_fault_when(ld, path, raw->when, rule, &ok);
	build_fault_action(ld, path, raw->action, rule, &ok);
	if (!ok)
		fault_rule_free(rule);
	return ok;
}

/* Can RULE match a call of BUCKET?  (Its other match fields are checked per call.) */
static bool rule_in_bucket(const struct policy_snapshot *snap, const struct fault_rule *rule,
			   unsigned bucket)
{
	if (bucket == POLICY_BUCKET_OPEN(snap))
		return rule->event == FAULT_EVENT_OPEN;
	if (bucket == POLICY_BUCKET_RELEASE(snap))
		return rule->event == FAULT_EVENT_RELEASE;
	if (rule->event != FAULT_EVENT_IOCTL)
		return false;
	if (!rule->has_cmd)
		return true;
	if (bucket == POLICY_BUCKET_UNKNOWN(snap))
		return !policy_find_ioctl(snap, EMU_OBJECT_DEVICE, rule->cmd);
	return rule->cmd == snap->ioctls[bucket].cmd;
}

static void index_faults(struct policy_snapshot *snap)
{
	unsigned buckets = snap->ioctl_count + 3, used = 0;
	snap->fault_bucket = calloc(buckets + 1, sizeof(*snap->fault_bucket));
	snap->fault_order =
		calloc((size_t)snap->fault_count * buckets + 1, sizeof(*snap->fault_order));
	if (!snap->fault_bucket || !snap->fault_order)
		abort();
	for (unsigned bucket = 0; bucket < buckets; bucket++) {
		snap->fault_bucket[bucket] = used;
		for (unsigned i = 0; i < snap->fault_count; i++)
			if (rule_in_bucket(snap, &snap->faults[i], bucket))
				snap->fault_order[used++] = (uint16_t)i;
	}
	snap->fault_bucket[buckets] = used;
}

static void build_faults(struct loader *ld, const struct raw_policy *raw,
			 struct policy_snapshot *snap)
{
	char path[64];
	const struct raw_faults *faults = raw->faults;
	if (!faults)
		return;
	if (faults->seed) {
		int64_t seed;
		if (get_number(ld, "faults.seed", faults->seed, 0, INT64_MAX,
			       "a number from 0 to 2^63-1", &seed))
			snap->fault_seed = (uint64_t)seed;
	}
	if (faults->rules_count > FAULT_MAX_RULES) {
		load_error(ld, "faults.rules", "%u rules; at most %d are supported",
			   faults->rules_count, FAULT_MAX_RULES);
		return;
	}
	snap->faults = calloc(faults->rules_count + 1, sizeof(*snap->faults));
	snap->fault_states = calloc(faults->rules_count + 1, sizeof(*snap->fault_states));
	if (!snap->faults || !snap->fault_states)
		abort();
	for (unsigned i = 0; i < faults->rules_count; i++) {
		snprintf(path, sizeof(path), "faults.rules.%u", i);
		struct fault_rule *rule = &snap->faults[snap->fault_count];
		if (!build_fault(ld, path, &faults->rules[i], snap, rule))
			continue;
		for (unsigned j = 0; j < snap->fault_count; j++) {
			if (!strcmp(snap->faults[j].name, rule->name)) {
				snprintf(path, sizeof(path), "faults.rules.%u.name", i);
				load_error(ld, path, "%s is already the name of another rule",
					   rule->name);
			}
		}
		snap->fault_count++;
	}
	fault_state_init(snap->fault_states, snap->faults, snap->fault_count);
	index_faults(snap);
}

static struct policy_snapshot *build_snapshot(struct loader *ld, const struct raw_policy *raw)
{
	struct policy_snapshot *snap = calloc(1, sizeof(*snap));
	if (!snap)
		abort();
	snap->profile = EMU_PROFILE_NEGOTIATED;
	if (raw->profile) {
		int profile = profile_from_name(raw->profile);
		if (profile < 0) {
			load_error(ld, "profile", "unknown profile `%s`; expected one of %s",
				   raw->profile, profile_names());
			free(snap);
			return NULL; /* everything else depends on the profile */
		}
		snap->profile = profile;
	}
	const struct profile_desc *desc = profile_get(snap->profile);
	snap->versioned = desc->versioned;
	build_device(ld, raw, snap);
	build_versions(ld, raw, snap, desc);
	build_caps(ld, raw, snap, desc);
	build_refusals(ld, raw, snap, desc);
	build_ioctls(ld, raw, snap, desc);
	own_ioctl_names(snap);
	root_build(ld, raw->hypervisor, raw->partition, raw->driver, snap, desc);
	build_faults(ld, raw, snap);
	return snap;
}

/* ---- libcyaml's log: the only place its errors say where ---- */

/*
 * libcyaml reports one error, then a backtrace, innermost first:
 *   Load: Unexpected key: bad
 *     in mapping (line: 4, column: 11)
 *     in sequence entry '2' (line: 4, column: 5)
 *     in mapping field 'capabilities' (line: 3, column: 3)
 * Its line numbers are those of the last event read, not of the offending
 * node, so only the names are used: they give the path, and the node tree
 * gives the position.  Sequence entries are 1-based there.
 */
struct cyaml_log_capture {
	char message[512];
	char segments[16][72]; /* innermost first */
	unsigned depth;
};

static void capture_cyaml_log(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
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

/* ---- entry points ---- */

static struct policy_snapshot *load_buffer(const char *name, const char *data, size_t len,
					   struct diag_list *diags);

static int cmp_position(const void *a, const void *b)
{
	const struct diag *x = a, *y = b;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->column < y->column ? -1 : x->column > y->column;
}

struct policy_snapshot *policy_load_buffer(const char *name, const char *data, size_t len,
					   struct diag_list *diags)
{
	size_t first = diags->count;
	struct policy_snapshot *snap = load_buffer(name, data, len, diags);
	/* In source order, as a compiler prints them (the passes find them out of order). */
	if (diags->count > first)
		qsort(diags->items + first, diags->count - first, sizeof(*diags->items),
		      cmp_position);
	return snap;
}

/*
 * libcyaml failed: say why in the input's terms.  Not YAML at all: libyaml's
 * problem, at its position.  Not a mapping: say what a policy is.  Otherwise
 * libcyaml's structural error, located in the node tree.
 */
static void report_load_failure(struct loader *ld, const struct cyaml_log_capture *capture,
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

static void loader_done(struct loader *ld)
{
	if (ld->doc_state == 1)
		yaml_document_delete(&ld->doc);
}

static struct policy_snapshot *load_buffer(const char *name, const char *data, size_t len,
					   struct diag_list *diags)
{
	struct loader ld = {.file = name, .data = data, .len = len, .diags = diags};
	struct policy_snapshot *snap = NULL;
	struct cyaml_log_capture capture = {0};
	const cyaml_config_t config = {
		.log_fn = capture_cyaml_log,
		.log_ctx = &capture,
		.mem_fn = cyaml_mem,
		.log_level = CYAML_LOG_ERROR,
		.flags = CYAML_CFG_NO_ALIAS,
	};
	struct raw_policy *raw = NULL;
	cyaml_err_t err = cyaml_load_data((const uint8_t *)data, len, &config, &policy_schema,
					  (cyaml_data_t **)&raw, NULL);
	if (err != CYAML_OK || !raw) { /* !raw: an empty document */
		report_load_failure(
			&ld, &capture, err,
			"a policy is a YAML mapping; start it with `profile: negotiated`");
		goto out;
	}
	snap = build_snapshot(&ld, raw);
	cyaml_free(&config, &policy_schema, raw, 0);
	if (snap && ld.errors) {
		policy_free(snap);
		snap = NULL;
	}
	if (snap) {
		char hex[SHA256_DIGEST_STRING_LENGTH];
		SHA256Data((const uint8_t *)data, len, hex);
		snprintf(snap->digest, sizeof(snap->digest), "sha256:%s", hex);
		snap->source = strdup(name);
		if (!snap->source)
			abort();
	}
out:
	loader_done(&ld);
	return snap;
}

struct policy_snapshot *policy_load_file(const char *path, struct diag_list *diags)
{
	FILE *file = fopen(path, "rb");
	if (!file) {
		diag_add(diags, path, 0, 0, "open: %s", strerror(errno));
		return NULL;
	}
	char *data = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			char *grown = cap <= POLICY_FILE_MAX ? realloc(data, cap) : NULL;
			if (!grown) {
				diag_add(diags, path, 0, 0, "larger than %u MiB; not a policy",
					 POLICY_FILE_MAX >> 20);
				free(data);
				fclose(file);
				return NULL;
			}
			data = grown;
		}
		size_t got = fread(data + len, 1, cap - len, file);
		len += got;
		if (got == 0)
			break;
	}
	int read_error = ferror(file);
	fclose(file);
	if (read_error) {
		diag_add(diags, path, 0, 0, "read: %s", strerror(EIO));
		free(data);
		return NULL;
	}
	struct policy_snapshot *snap = policy_load_buffer(path, data, len, diags);
	free(data);
	return snap;
}

struct fault_rule *policy_parse_fault(const struct policy_snapshot *snap, const char *name,
				      const char *text, struct diag_list *diags)
{
	size_t len = strlen(text);
	struct loader ld = {.file = name, .data = text, .len = len, .diags = diags};
	struct fault_rule *rule = NULL;
	struct cyaml_log_capture capture = {0};
	const cyaml_config_t config = {.log_fn = capture_cyaml_log,
				       .log_ctx = &capture,
				       .mem_fn = cyaml_mem,
				       .log_level = CYAML_LOG_ERROR,
				       .flags = CYAML_CFG_NO_ALIAS};
	static const cyaml_schema_value_t rule_schema = {
		CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct raw_fault, fault_fields),
	};
	struct raw_fault *raw = NULL;
	cyaml_err_t err = cyaml_load_data((const uint8_t *)text, len, &config, &rule_schema,
					  (cyaml_data_t **)&raw, NULL);
	if (err != CYAML_OK || !raw) {
		report_load_failure(&ld, &capture, err,
				    "a rule is a YAML mapping, such as {name: eio, match: {ioctl: "
				    "CHECK_EXTENSION}, action: {errno: EIO}}");
		goto out;
	}
	rule = calloc(1, sizeof(*rule));
	if (!rule)
		abort();
	if (!build_fault(&ld, "", raw, snap, rule)) {
		free(rule);
		rule = NULL;
	} else if (!raw->when) {
		rule->times = 1; /* a one-off unless told otherwise */
	}
	cyaml_free(&config, &rule_schema, raw, 0);
out:
	loader_done(&ld);
	return rule;
}

extern const char default_policy_yaml[];
extern const unsigned long default_policy_yaml_len;

struct policy_snapshot *policy_load_default(struct diag_list *diags)
{
	return policy_load_buffer("<embedded default>", default_policy_yaml,
				  default_policy_yaml_len, diags);
}
