/*
 * policy_root.c - the root driver's sections of a policy: `hypervisor:`
 * (host properties, VMM capability bits), `partition:` (what a new
 * partition accepts and starts with) and `driver:` (the generation's masks
 * and status-to-errno mapping, where a policy departs from its profile).
 *
 * Defaults model a current host, so that a VMM's whole start-up sequence
 * (mshv-ioctls 0.7's create_vm) succeeds where the transport can make fds:
 * the profile's rows, then the built-in host below, then the policy's
 * entries merged over it by property code.  The host values are plausible,
 * not measured; a probe of a real host (mshv-probe --emit-policy) replaces
 * them.
 *
 * It checks and converts; it does not parse (policy_load.c does).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvnames.h"
#include "policy_load_impl.h"

/* ---- schema ---- */

static const cyaml_schema_field_t property_fields[] = {
	STR_FIELD("name", struct raw_property, name),
	STR_FIELD("code", struct raw_property, code),
	STR_FIELD("value", struct raw_property, value),
	STR_FIELD("status", struct raw_property, status),
	STR_FIELD("set", struct raw_property, set),
	CYAML_FIELD_SEQUENCE("banks", OPT, struct raw_property, banks, &loader_string_entry, 1,
			     MSHV_EMU_HV_MAX_BANKS),
	CYAML_FIELD_END,
};

static const cyaml_schema_value_t property_entry = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_property, property_fields),
};

const cyaml_schema_field_t root_hypervisor_fields[] = {
	CYAML_FIELD_SEQUENCE("properties", OPT, struct raw_hypervisor, properties, &property_entry,
			     0, POLICY_MAX_PROPERTIES),
	/* Bits of one 64-bit bank. */
	CYAML_FIELD_SEQUENCE("vmm_capabilities", OPT, struct raw_hypervisor, vmm_capabilities,
			     &loader_string_entry, 0, 64),
	CYAML_FIELD_END,
};

const cyaml_schema_field_t root_partition_fields[] = {
	CYAML_FIELD_SEQUENCE("properties", OPT, struct raw_partition, properties, &property_entry,
			     0, POLICY_MAX_PROPERTIES),
	STR_FIELD("unemulated_status", struct raw_partition, unemulated_status),
	CYAML_FIELD_END,
};

static const cyaml_schema_field_t status_errno_fields[] = {
#define X(name, code) STR_FIELD(#name, struct raw_driver, status_errno[code]),
	MSHV_EMU_HV_STATUSES(X)
#undef X
		CYAML_FIELD_END,
};

const cyaml_schema_field_t root_driver_fields[] = {
	STR_FIELD("flags_mask", struct raw_driver, flags_mask),
	STR_FIELD("isolation_count", struct raw_driver, isolation_count),
	STR_FIELD("feature_banks", struct raw_driver, feature_banks),
	{.key = "status_errno",
	 .value = {.type = CYAML_MAPPING,
		   .flags = CYAML_FLAG_OPTIONAL,
		   .data_size = sizeof(struct raw_driver),
		   .mapping = {.fields = status_errno_fields}},
	 .data_offset = 0},
	CYAML_FIELD_END,
};

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* ---- the built-in current host ---- */

/* Illustrative feature words of an x86-64 host; bank 0 of the VMM
 * capabilities: map_gpa_preserve_adjustable, vmm_can_provide_overlay_gpfn,
 * vp_affinity_property, assignable_synthetic_proc_features. */
#define HOST_FEATURES0	     0x00F1FFFF7FFFFFFFull
#define HOST_FEATURES1	     0x000000000000007Full
#define HOST_XSAVE_FEATURES  0x00000000000002E7ull
#define HOST_ADDRESS_WIDTH   46
#define HOST_VMM_CAPS	     0x17ull
#define HOST_SYNTHETIC_PROCS 0x00000000003FFFFFull

static const struct policy_property default_host[] = {
	{.code = MSHV_EMU_HV_PROPERTY_PROCESSOR_XSAVE_FEATURES, .value = HOST_XSAVE_FEATURES},
	{.code = MSHV_EMU_HV_PROPERTY_PHYSICAL_ADDRESS_WIDTH, .value = HOST_ADDRESS_WIDTH},
	{.code = MSHV_EMU_HV_PROPERTY_PROCESSOR_FEATURES0, .value = HOST_FEATURES0},
	{.code = MSHV_EMU_HV_PROPERTY_PROCESSOR_FEATURES1, .value = HOST_FEATURES1},
	{.code = MSHV_EMU_HV_PROPERTY_VMM_CAPABILITIES, .value = HOST_VMM_CAPS, .bank_count = 1},
	{.code = MSHV_EMU_HV_PROPERTY_ASSIGNABLE_SYNTHETIC_PROC_FEATURES,
	 .value = HOST_SYNTHETIC_PROCS,
	 .bank_count = 1},
};

/* What a new partition accepts: the early properties a VMM sets before
 * INITIALIZE_PARTITION, and read-only copies of the host's feature words
 * (FROM_HOST: it starts with the host's value). */
static const struct {
	struct policy_partition_property property;
	bool from_host;
} default_partition[] = {
	{{MSHV_EMU_HV_PROPERTY_SYNTHETIC_PROC_FEATURES, POLICY_SET_BEFORE_INITIALIZE, 0}, false},
	{{MSHV_EMU_HV_PROPERTY_UNIMPLEMENTED_MSR_ACTION, POLICY_SET_BEFORE_INITIALIZE, 0}, false},
	{{MSHV_EMU_HV_PROPERTY_PROCESSOR_XSAVE_FEATURES, POLICY_SET_NEVER, 0}, true},
	{{MSHV_EMU_HV_PROPERTY_PROCESSOR_FEATURES0, POLICY_SET_NEVER, 0}, true},
	{{MSHV_EMU_HV_PROPERTY_PROCESSOR_FEATURES1, POLICY_SET_NEVER, 0}, true},
};

/* Mshv-emu models no guest: allowed hypercalls it does not model answer this. */
#define DEFAULT_UNEMULATED_STATUS MSHV_EMU_HV_STATUS_FEATURE_UNAVAILABLE

/* ---- building ---- */

static int cmp_host(const void *a, const void *b)
{
	const struct policy_property *x = a, *y = b;
	return x->code < y->code ? -1 : x->code > y->code;
}

static int cmp_partition(const void *a, const void *b)
{
	const struct policy_partition_property *x = a, *y = b;
	return x->code < y->code ? -1 : x->code > y->code;
}

/* The property code of entry PATH: `name:` or `code:`, exactly one. */
static bool entry_code(struct loader *ld, const char *path, const struct raw_property *raw,
		       uint32_t *code)
{
	char sub[160];
	if (raw->name && raw->code) {
		load_error(ld, path, "give `name` or `code`, not both");
		return false;
	}
	if (raw->name) {
		int64_t found = hv_code_of(&hv_properties, raw->name);
		if (found < 0) {
			char names[512];
			hv_names_list(&hv_properties, names, sizeof(names));
			snprintf(sub, sizeof(sub), "%s.name", path);
			load_error(ld, sub,
				   "unknown property `%s`; use one of %s, or `code: 0x...`",
				   raw->name, names);
			return false;
		}
		*code = (uint32_t)found;
		return true;
	}
	if (!raw->code) {
		load_error(ld, path, "needs `name:` (such as PROCESSOR_FEATURES0) or `code:`");
		return false;
	}
	int64_t number;
	snprintf(sub, sizeof(sub), "%s.code", path);
	if (!get_number(ld, sub, raw->code, 0, UINT32_MAX, "a property code from 0 to 0xffffffff",
			&number))
		return false;
	*code = (uint32_t)number;
	return true;
}

/* A value wider than the field is refused rather than truncated. */
static bool get_value(struct loader *ld, const char *path, const char *text, uint64_t *out)
{
	return get_u64(ld, path, text, "a 64-bit value (0 to 0xffffffffffffffff)", out);
}

/* One `hypervisor.properties` entry into OUT.  False (reported) if invalid. */
/* The known properties GET_PARTITION_PROPERTY_EX answers in banks. */
static bool banked(uint32_t code)
{
	return code == MSHV_EMU_HV_PROPERTY_VMM_CAPABILITIES ||
	       code == MSHV_EMU_HV_PROPERTY_ASSIGNABLE_SYNTHETIC_PROC_FEATURES;
}

static bool build_host_entry(struct loader *ld, const char *path, const struct raw_property *raw,
			     struct policy_property *out)
{
	char sub[160];
	memset(out, 0, sizeof(*out));
	bool ok = entry_code(ld, path, raw, &out->code);
	unsigned answers = !!raw->value + !!raw->banks_count + !!raw->status;
	if (raw->set) {
		snprintf(sub, sizeof(sub), "%s.set", path);
		load_error(ld, sub, "`set` belongs to `partition.properties`; remove it here");
		ok = false;
	}
	if (answers != 1) {
		load_error(ld, path,
			   answers ? "give one of `value`, `banks` or `status`, not several"
				   : "needs an answer: `value: N`, `banks: [N, ...]` or "
				     "`status: UNKNOWN_PROPERTY`");
		return false;
	}
	if (raw->value) {
		snprintf(sub, sizeof(sub), "%s.value", path);
		if (ok && banked(out->code)) {
			/* GET_PARTITION_PROPERTY_EX answers it as {bank_count, bank[]}:
			 * a bare u64 would read as a bank count with empty banks. */
			load_error(ld, sub,
				   "%s is banked: write `banks: [%s]` (bank 0 is what "
				   "GET_PARTITION_PROPERTY answers)",
				   hv_name_of(&hv_properties, out->code), raw->value);
			return false;
		}
		return get_value(ld, sub, raw->value, &out->value) && ok;
	}
	if (raw->status) {
		snprintf(sub, sizeof(sub), "%s.status", path);
		int64_t status = hv_code_of(&hv_statuses, raw->status);
		if (status <= 0) {
			char names[768];
			hv_names_list(&hv_statuses, names, sizeof(names));
			load_error(ld, sub,
				   status == 0 ? "SUCCESS is not a failure; give `value:` instead"
					       : "unknown hypervisor status `%s`; use one of %s",
				   raw->status, names);
			return false;
		}
		out->status = (uint16_t)status;
		return ok;
	}
	out->banks = calloc(raw->banks_count, sizeof(*out->banks));
	if (!out->banks)
		abort();
	out->bank_count = (uint16_t)raw->banks_count;
	for (unsigned b = 0; b < raw->banks_count; b++) {
		snprintf(sub, sizeof(sub), "%s.banks.%u", path, b);
		ok &= get_value(ld, sub, raw->banks[b], &out->banks[b]);
	}
	out->value = out->banks[0];
	return ok;
}

/* Put ENTRY in TABLE (COUNT entries) over one with the same code, or add it. */
static void merge_host(struct policy_property *table, unsigned *count,
		       const struct policy_property *entry)
{
	for (unsigned i = 0; i < *count; i++) {
		if (table[i].code == entry->code) {
			free(table[i].banks);
			table[i] = *entry;
			return;
		}
	}
	table[(*count)++] = *entry;
}

/* The index of an earlier entry (< I) whose resolved code is CODE, or -1.
 * CODES holds each checked entry's code, -1 for an invalid one. */
static int earlier_code(const int64_t *codes, unsigned i, uint32_t code)
{
	for (unsigned j = 0; j < i; j++)
		if (codes[j] == (int64_t)code)
			return (int)j;
	return -1;
}

/* `vmm_capabilities:` into TABLE, unless CONFLICT (VMM_CAPABILITIES was also
 * given as a property): its names are checked either way. */
static void build_vmm_caps(struct loader *ld, const struct raw_hypervisor *raw,
			   struct policy_property *table, unsigned *count, bool conflict)
{
	char path[96];
	struct policy_property caps = {.code = MSHV_EMU_HV_PROPERTY_VMM_CAPABILITIES,
				       .bank_count = 1};
	bool ok = true;
	for (unsigned i = 0; i < raw->vmm_capabilities_count; i++) {
		snprintf(path, sizeof(path), "hypervisor.vmm_capabilities.%u", i);
		const char *name = raw->vmm_capabilities[i];
		int64_t at = hv_code_of(&hv_vmm_caps, name);
		if (at < 0) {
			char names[512];
			hv_names_list(&hv_vmm_caps, names, sizeof(names));
			load_error(ld, path, "unknown VMM capability `%s`; use one of %s", name,
				   names);
			ok = false;
			continue;
		}
		uint64_t bit = 1ull << at;
		if (caps.value & bit) {
			load_error(ld, path, "%s is listed twice", name);
			ok = false;
		}
		caps.value |= bit;
	}
	if (conflict)
		load_error(ld, "hypervisor.vmm_capabilities",
			   "VMM_CAPABILITIES is also given in hypervisor.properties; keep one of "
			   "them");
	if (!ok || conflict)
		return;
	caps.banks = calloc(1, sizeof(*caps.banks));
	if (!caps.banks)
		abort();
	caps.banks[0] = caps.value;
	merge_host(table, count, &caps);
}

static void build_host(struct loader *ld, const struct raw_hypervisor *raw,
		       struct policy_snapshot *snap)
{
	char path[96];
	unsigned given = raw ? raw->properties_count : 0; /* at most POLICY_MAX_PROPERTIES */
	struct policy_property *table = calloc(COUNT(default_host) + given + 1, sizeof(*table));
	if (!table)
		abort();
	unsigned count = 0;
	for (size_t i = 0; i < COUNT(default_host); i++) {
		table[count] = default_host[i];
		if (table[count].bank_count) {
			table[count].banks = calloc(1, sizeof(uint64_t));
			if (!table[count].banks)
				abort();
			table[count].banks[0] = default_host[i].value;
		}
		count++;
	}
	bool has_caps_entry = false;
	int64_t *codes = calloc(given + 1, sizeof(*codes));
	if (!codes)
		abort();
	for (unsigned i = 0; i < given; i++) {
		struct policy_property entry;
		snprintf(path, sizeof(path), "hypervisor.properties.%u", i);
		bool ok = build_host_entry(ld, path, &raw->properties[i], &entry);
		codes[i] = ok ? (int64_t)entry.code : -1;
		if (ok) {
			int twice = earlier_code(codes, i, entry.code);
			if (twice >= 0) {
				load_error(ld, path,
					   "property 0x%08X is already given by "
					   "hypervisor.properties[%d]",
					   entry.code, twice);
				ok = false;
			}
		}
		if (!ok) {
			free(entry.banks);
			continue;
		}
		has_caps_entry |= entry.code == MSHV_EMU_HV_PROPERTY_VMM_CAPABILITIES;
		merge_host(table, &count, &entry);
	}
	free(codes);
	if (raw && raw->vmm_capabilities_count)
		build_vmm_caps(ld, raw, table, &count, has_caps_entry);
	qsort(table, count, sizeof(*table), cmp_host);
	snap->host_properties = table;
	snap->host_property_count = count;
}

static void build_partition(struct loader *ld, const struct raw_partition *raw,
			    struct policy_snapshot *snap)
{
	char path[96], sub[160];
	unsigned given = raw ? raw->properties_count : 0; /* at most POLICY_MAX_PROPERTIES */
	struct policy_partition_property *table =
		calloc(COUNT(default_partition) + given + 1, sizeof(*table));
	bool *from_host = calloc(COUNT(default_partition) + given + 1, sizeof(*from_host));
	int64_t *codes = calloc(given + 1, sizeof(*codes));
	if (!table || !from_host || !codes)
		abort();
	unsigned count = COUNT(default_partition);
	for (unsigned i = 0; i < count; i++) {
		table[i] = default_partition[i].property;
		from_host[i] = default_partition[i].from_host;
	}
	for (unsigned i = 0; i < given; i++) {
		const struct raw_property *entry = &raw->properties[i];
		struct policy_partition_property property = {0};
		snprintf(path, sizeof(path), "partition.properties.%u", i);
		bool ok = entry_code(ld, path, entry, &property.code);
		if (entry->status || entry->banks_count) {
			load_error(ld, path,
				   "a partition property is a u64 (`value:`) with a `set:` rule; "
				   "`status` and `banks` belong to hypervisor.properties");
			ok = false;
		}
		if (entry->value) {
			snprintf(sub, sizeof(sub), "%s.value", path);
			ok &= get_value(ld, sub, entry->value, &property.value);
		}
		if (entry->set) {
			snprintf(sub, sizeof(sub), "%s.set", path);
			if (!strcmp(entry->set, "always"))
				property.settable = POLICY_SET_ALWAYS;
			else if (!strcmp(entry->set, "before_initialize"))
				property.settable = POLICY_SET_BEFORE_INITIALIZE;
			else if (!strcmp(entry->set, "never"))
				property.settable = POLICY_SET_NEVER;
			else {
				load_error(ld, sub,
					   "`%s` is not a set rule; use always, before_initialize "
					   "or never",
					   entry->set);
				ok = false;
			}
		}
		codes[i] = ok ? (int64_t)property.code : -1;
		if (ok) {
			int twice = earlier_code(codes, i, property.code);
			if (twice >= 0) {
				load_error(ld, path,
					   "property 0x%08X is already given by "
					   "partition.properties[%d]",
					   property.code, twice);
				ok = false;
			}
		}
		if (!ok)
			continue;
		unsigned at = 0;
		while (at < count && table[at].code != property.code)
			at++;
		table[at] = property;
		from_host[at] = !entry->value;
		if (at == count)
			count++;
	}
	/* A property without a value starts with the host's (0 if none). */
	for (unsigned i = 0; i < count; i++) {
		if (!from_host[i])
			continue;
		const struct policy_property *host = policy_find_property(snap, table[i].code);
		table[i].value = host && !host->status ? host->value : 0;
	}
	free(from_host);
	free(codes);
	qsort(table, count, sizeof(*table), cmp_partition);
	snap->partition_properties = table;
	snap->partition_property_count = count;
	snap->unemulated_status = DEFAULT_UNEMULATED_STATUS;
	if (raw && raw->unemulated_status) {
		int64_t status = hv_code_of(&hv_statuses, raw->unemulated_status);
		if (status <= 0) {
			char names[768];
			hv_names_list(&hv_statuses, names, sizeof(names));
			load_error(ld, "partition.unemulated_status",
				   "`%s` is not a failure status; use one of %s",
				   raw->unemulated_status, names);
		} else {
			snap->unemulated_status = (uint16_t)status;
		}
	}
}

static void build_driver(struct loader *ld, const struct raw_driver *raw,
			 struct policy_snapshot *snap, const struct profile_desc *desc)
{
	const struct profile_root *root = &desc->root;
	snap->create_flags_mask = root->flags_mask;
	snap->create_isolation_count = root->isolation_count;
	snap->create_v2 = root->v2;
	snap->create_fbanks_at_most = root->fbanks_at_most;
	snap->output_on_failure = root->output_on_failure;
	snap->insufficient_memory_errno = (int16_t)root->insufficient_memory_errno;
	for (unsigned s = 0; s < POLICY_STATUS_SLOTS; s++)
		snap->status_errno[s] = EIO;
	for (const struct profile_status_errno *row = root->status_errno; row && row->status; row++)
		snap->status_errno[row->status] = row->errno_value;
	for (int object = 0; object < EMU_OBJECT_COUNT; object++)
		for (const uint16_t *code = root->hvcalls[object]; code && *code; code++)
			snap->hvcall_allowed[object][*code / 64] |= 1ull << (*code % 64);
	if (!raw)
		return;
	char path[96];
	int64_t number;
	if (raw->flags_mask || raw->isolation_count || raw->feature_banks) {
		if (!root->flags_mask) {
			load_error(ld, "driver",
				   "profile %s does not check CREATE_PARTITION's flags; remove "
				   "flags_mask, isolation_count and feature_banks",
				   desc->name);
			return;
		}
	}
	if (raw->flags_mask && get_number(ld, "driver.flags_mask", raw->flags_mask, 1, 0xFFFFFFFF,
					  "a mask of CREATE_PARTITION flag bits, 0x1 to "
					  "0xffffffff",
					  &number))
		snap->create_flags_mask = (uint64_t)number;
	if (raw->isolation_count &&
	    get_number(ld, "driver.isolation_count", raw->isolation_count, 1, 64,
		       "how many isolation types are accepted, 1 to 64", &number))
		snap->create_isolation_count = (uint64_t)number;
	if (raw->feature_banks) {
		bool banks = false;
		if (get_bool(ld, "driver.feature_banks", raw->feature_banks, &banks))
			snap->create_v2 = banks;
		if (banks &&
		    !(snap->create_flags_mask & 1ull << MSHV_EMU_PT_BIT_CPU_AND_XSAVE_FEATURES))
			load_error(ld, "driver.feature_banks",
				   "feature banks come with flag bit 3, which flags_mask 0x%llx "
				   "refuses; add 0x8 to it",
				   (unsigned long long)snap->create_flags_mask);
	}
	for (unsigned s = 0; s < POLICY_STATUS_SLOTS; s++) {
		if (!raw->status_errno[s])
			continue;
		snprintf(path, sizeof(path), "driver.status_errno.%s", hv_name_of(&hv_statuses, s));
		if (s == MSHV_EMU_HV_STATUS_SUCCESS) {
			load_error(ld, path, "SUCCESS is not mapped to an errno; remove this key");
			continue;
		}
		int err;
		if (get_errno(ld, path, raw->status_errno[s], &err)) {
			snap->status_errno[s] = (int16_t)err;
			if (s == MSHV_EMU_HV_STATUS_INSUFFICIENT_MEMORY)
				snap->insufficient_memory_errno = 0;
		}
	}
}

void root_build(struct loader *ld, const struct raw_hypervisor *hypervisor,
		const struct raw_partition *partition, const struct raw_driver *driver,
		struct policy_snapshot *snap, const struct profile_desc *desc)
{
	bool has_hvcall = false;
	for (int object = 0; object < EMU_OBJECT_COUNT; object++)
		has_hvcall |= desc->root.hvcalls[object] != NULL;
	has_hvcall |= desc->cmd[EMU_OP_GET_HOST_PARTITION_PROPERTY] != 0;
	if (!has_hvcall) {
		const char *keys[] = {hypervisor ? "hypervisor" : NULL,
				      partition ? "partition" : NULL};
		for (int i = 0; i < 2; i++)
			if (keys[i])
				load_error(ld, keys[i],
					   "profile %s has no MSHV_ROOT_HVCALL; remove this key",
					   desc->name);
		if (driver && !desc->root.flags_mask)
			load_error(ld, "driver", "profile %s has no root driver; remove this key",
				   desc->name);
		return;
	}
	build_driver(ld, driver, snap, desc);
	build_host(ld, hypervisor, snap);
	build_partition(ld, partition, snap);
}
