/*
 * policy_load_impl.h - what the loader's files share (policy_load.c, the
 * common passes and the 2020-2021 sections; policy_root.c, the root
 * driver's sections).  Not for anything outside the loader.
 */
#ifndef MSHV_EMU_POLICY_LOAD_IMPL_H
#define MSHV_EMU_POLICY_LOAD_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include <cyaml/cyaml.h>
#include <yaml.h>

#include "policy.h"

/* One input being loaded; errors are located through its node tree. */
struct loader {
	const char *file;
	const char *data;
	size_t len;
	yaml_document_t doc;
	int doc_state; /* 0: not parsed, 1: parsed, -1: not YAML (see problem) */
	const char *problem, *context;
	yaml_mark_t problem_mark;
	struct diag_list *diags;
	unsigned errors;
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
/* Is PATH present in the input (an empty mapping or sequence counts)? */
bool doc_has(struct loader *ld, const char *path);

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

#endif
