/*
 * policy_load_impl.h - what the loader's files share (policy_load.c, the
 * common passes and the 2020-2021 sections; policy_root.c, the root
 * driver's sections).  Not for anything outside the loader.
 */
#ifndef MSHV_EMU_POLICY_LOAD_IMPL_H
#define MSHV_EMU_POLICY_LOAD_IMPL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <cyaml/cyaml.h>
#include <yaml.h>

#include "policy.h"

/*
 * The loader's bounds (docs/policy.md), so that any input costs time and
 * memory in proportion to its size:
 *   - POLICY_MAX_BYTES, checked before a byte is read;
 *   - every sequence's maximum, in the schema (policy_schema.c,
 *     policy_root.c), which libcyaml checks before it allocates an entry;
 *   - nesting: the format has 5 levels, and libcyaml refuses a collection
 *     where the schema has none where it starts, so it never reads deeper.
 *     Locating an error reads no further than libcyaml did, or than the
 *     valid document it accepted.
 */
#define POLICY_MAX_BYTES  (8u << 20) /* twice bench/'s 100,000 capabilities */
#define POLICY_MAX_ERRORS 100	     /* reported; the rest are counted */

/* Where an error is: the node at PATH, or the key KEY of the mapping at PATH
 * (its second occurrence if SECOND).  Resolved in one pass (policy_locate.c). */
struct locate_request {
	size_t diag; /* index in the loader's diag list */
	char *path;
	char *key;
	bool second;
};

/* One input being loaded; errors are located in it once all are known. */
struct loader {
	const char *file;
	const char *data;
	size_t len;
	struct diag_list *diags;
	size_t first_diag; /* the first of this input's in DIAGS */
	unsigned errors;
	/* Errors waiting for a position. */
	struct locate_request *requests;
	size_t request_count, request_capacity;
};

/* load_error - an error at PATH ("hypervisor.properties.2.value"), located
 * in the input and counted. */
__attribute__((format(printf, 3, 4))) void load_error(struct loader *ld, const char *path,
						      const char *fmt, ...);
/* A number in [MIN, MAX] at PATH, or an error naming WHAT it should be. */
bool get_number(struct loader *ld, const char *path, const char *text, int64_t min, int64_t max,
		const char *what, int64_t *out);
/* Any u64, decimal or 0x-hex. */
bool get_u64(struct loader *ld, const char *path, const char *text, const char *what,
	     uint64_t *out);
bool get_errno(struct loader *ld, const char *path, const char *text, int *out);
bool get_bool(struct loader *ld, const char *path, const char *text, bool *out);
/* Is KEY a key of the input's root mapping (an empty value counts)?  For a
 * document libcyaml accepted: it reads the root mapping's keys. */
bool doc_has(const struct loader *ld, const char *key);

#define OPT (CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL)
#define STR_FIELD(key, type, member) \
	CYAML_FIELD_STRING_PTR(key, OPT, type, member, 0, CYAML_UNLIMITED)

extern const cyaml_schema_value_t loader_string_entry;

/* ---- the root driver's sections (policy_root.c) ---- */

struct raw_property {
	char *name, *code, *value, *status, *set;
	char **banks;
	unsigned banks_count;
};

struct raw_hypervisor {
	struct raw_property *properties;
	unsigned properties_count;
	char **vmm_capabilities;
	unsigned vmm_capabilities_count;
};

struct raw_partition {
	struct raw_property *properties;
	unsigned properties_count;
	char *unemulated_status;
};

struct raw_driver {
	char *flags_mask, *isolation_count, *feature_banks;
	char *status_errno[POLICY_STATUS_SLOTS];
};

extern const cyaml_schema_field_t root_hypervisor_fields[];
extern const cyaml_schema_field_t root_partition_fields[];
extern const cyaml_schema_field_t root_driver_fields[];

/* root_build - the root driver's model into SNAP: the profile's rows, the
 * built-in current host, then the policy's sections over them. */
void root_build(struct loader *ld, const struct raw_hypervisor *hypervisor,
		const struct raw_partition *partition, const struct raw_driver *driver,
		struct policy_snapshot *snap, const struct profile_desc *desc);

/* ---- the schema (policy_schema.c): every scalar a string ---- */
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

extern const cyaml_schema_value_t policy_schema;
/* libcyaml's allocator for the loader: a growing sequence grows by half. */
void *loader_mem(void *ctx, void *ptr, size_t size);
extern const cyaml_schema_field_t fault_fields[];

/* ---- locating errors (policy_locate.c) ---- */

/*
 * libcyaml reports one error, then a backtrace, innermost first:
 *   Load: Unexpected key: bad
 *     in mapping (line: 4, column: 11)
 *     in sequence entry '2' (line: 4, column: 5)
 *     in mapping field 'capabilities' (line: 3, column: 3)
 * Its line numbers are those of the last event read, not of the offending
 * node, so only the names are used: they give the path, and locating the
 * path gives the position.  Sequence entries are 1-based there.
 */
struct cyaml_log_capture {
	char message[512];
	char segments[16][72]; /* innermost first */
	unsigned depth;
	bool second_document; /* it warned that it ignores one */
};

__attribute__((format(printf, 3, 0))) void capture_cyaml_log(cyaml_log_t level, void *ctx,
							     const char *fmt, va_list args);
/* libcyaml failed: say why in the input's terms (WHAT: what a document is). */
void report_load_failure(struct loader *ld, const struct cyaml_log_capture *capture,
			 cyaml_err_t err, const char *what);
/* libcyaml loaded the first document and ignored the rest: refuse them. */
void report_second_document(struct loader *ld);
/* loader_start - LD, its input and diagnostics set, starts loading. */
void loader_start(struct loader *ld);
/* loader_done - give every error its FILE:LINE:COL (one pass over the
 * input), put them in source order, say how many were not shown, and free
 * what locating needed. */
void loader_done(struct loader *ld);

/* ---- values (policy_values.c) ---- */

/* Decimal or 0x-hex, optionally negative; false if TEXT is anything else. */
bool parse_int(const char *text, int64_t *out);
/* A fixed answer: exactly one of VALUE and ERRNO_NAME. */
bool get_answer(struct loader *ld, const char *path, const char *value, const char *errno_name,
		policy_answer_t *out);
/* Letters, digits, `_` and any of EXTRA. */
bool valid_name(const char *name, const char *extra);

/* ---- faults (policy_faults.c) ---- */

void build_faults(struct loader *ld, const struct raw_policy *raw, struct policy_snapshot *snap);

#endif
