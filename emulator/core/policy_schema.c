/*
 * policy_schema.c - what libcyaml maps of a policy: every key of the
 * format, every scalar as a string, so that the semantic pass (policy_load.c,
 * policy_faults.c, policy_root.c) words every error and reports all of them.
 *
 * Every sequence has its maximum here: libcyaml checks it before it
 * allocates an entry, so a long list costs no more than its first entries.
 */
#include <malloc.h>
#include <stdlib.h>

#include <cyaml/cyaml.h>

#include "policy_load_impl.h"

/*
 * libcyaml grows a sequence one entry at a time, with a realloc each: where
 * realloc cannot extend in place (always, under ASan), N entries cost N
 * copies of the whole array.  Growing by half the block instead makes that
 * linear; a block that already has room is returned as it is (libcyaml
 * clears what it adds).
 */
void *loader_mem(void *ctx, void *ptr, size_t size)
{
	(void)ctx;
	if (!size) {
		free(ptr);
		return NULL;
	}
	size_t usable = ptr ? malloc_usable_size(ptr) : 0;
	if (ptr && size <= usable)
		return ptr;
	size_t grown = usable + usable / 2;
	return realloc(ptr, ptr && size < grown ? grown : size);
}

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
			     POLICY_MAX_VERSIONS),
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

const cyaml_schema_field_t fault_fields[] = {
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
			     POLICY_MAX_FAULT_RULES),
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
			     POLICY_MAX_VERSIONS),
	/* As many as there are ids: more would repeat one. */
	CYAML_FIELD_SEQUENCE("capabilities", OPT, struct raw_policy, capabilities, &cap_entry, 0,
			     POLICY_MAX_CAP_ID + 1),
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
			     POLICY_MAX_IOCTLS),
	CYAML_FIELD_MAPPING_PTR("faults", OPT, struct raw_policy, faults, faults_fields),
	CYAML_FIELD_MAPPING_PTR("hypervisor", OPT, struct raw_policy, hypervisor,
				root_hypervisor_fields),
	CYAML_FIELD_MAPPING_PTR("partition", OPT, struct raw_policy, partition,
				root_partition_fields),
	CYAML_FIELD_MAPPING_PTR("driver", OPT, struct raw_policy, driver, root_driver_fields),
	CYAML_FIELD_END,
};

const cyaml_schema_value_t policy_schema = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct raw_policy, policy_fields),
};
