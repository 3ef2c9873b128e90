/*
 * policy_load.c - YAML policy file -> validated policy snapshot.
 *
 * Passes, so that a user fixes a file in one go, at a cost bounded by the
 * file's size (POLICY_MAX_BYTES, policy_load_impl.h):
 *   1. libcyaml maps the text onto policy_schema.c (text that is not YAML,
 *      unknown keys, a sequence where a scalar belongs, a list past its
 *      maximum, ...).  libcyaml stops at its first error; its log callback
 *      is the only place that says what and where, so the log is captured
 *      and turned into one diagnostic.
 *   2. Every value is checked and converted here (numbers, errno names,
 *      duplicates, ranges, what the profile allows).  All scalars are loaded
 *      as strings so that this pass, not libcyaml, words the errors and
 *      reports all of them, each by its path.
 *   3. If there are errors, one pass over the text as libyaml events gives
 *      them all their FILE:LINE:COL (policy_locate.c).
 *
 * This file holds the passes, the 2020-2021 sections and the ioctl tables;
 * policy_schema.c the schema, policy_locate.c the error positions,
 * policy_values.c the scalars, policy_faults.c the faults section and
 * policy_root.c the root driver's sections.  It does not publish anything:
 * core.c does that.
 */
#include <ctype.h>
#include <errno.h>
#include <search.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cyaml/cyaml.h>
#include <sha2.h>
#include <yaml.h>

#include "errnames.h"
#include "files.h"
#include "policy.h"
#include "policy_load_impl.h"

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
	/* The schema holds the list to 1 ... POLICY_MAX_VERSIONS entries: zero means
	 * absent, and snap->versions has room for every one. */
	if (!raw->versions_count) {
		load_error(ld, "",
			   "profile %s needs `versions:`, the list of versions REQUEST_VERSION "
			   "accepts",
			   desc->name);
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

/* ---- entry points ---- */

static void too_large(struct diag_list *diags, const char *name, unsigned long long size)
{
	diag_add(diags, name, 0, 0,
		 "%llu bytes, more than the %u MiB a policy may have; a policy is a few "
		 "kilobytes: is this the right file?",
		 size, POLICY_MAX_BYTES >> 20);
}

struct policy_snapshot *policy_load_buffer(const char *name, const char *data, size_t len,
					   struct diag_list *diags)
{
	if (len > POLICY_MAX_BYTES) {
		too_large(diags, name, len);
		return NULL;
	}
	struct loader ld = {.file = name, .data = data, .len = len, .diags = diags};
	loader_start(&ld);
	struct policy_snapshot *snap = NULL;
	struct cyaml_log_capture capture = {0};
	const cyaml_config_t config = {
		.log_fn = capture_cyaml_log,
		.log_ctx = &capture,
		.mem_fn = loader_mem,
		.log_level = CYAML_LOG_WARNING, /* for a second document */
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
	if (capture.second_document)
		report_second_document(&ld);
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
	int fd = files_open_read(path, "policy", diags);
	if (fd < 0)
		return NULL;
	/* Refused by its size before a byte is read; read at most one byte more
	 * than a policy may have, in case it grows meanwhile. */
	struct stat st;
	if (fstat(fd, &st) != 0) {
		diag_add(diags, path, 0, 0, "fstat: %s", strerror(errno));
		close(fd);
		return NULL;
	}
	if ((unsigned long long)st.st_size > POLICY_MAX_BYTES) {
		too_large(diags, path, (unsigned long long)st.st_size);
		close(fd);
		return NULL;
	}
	size_t cap = (size_t)st.st_size + 1, len = 0;
	char *data = malloc(cap);
	if (!data)
		abort();
	for (;;) {
		if (len == cap) {
			cap = cap * 2 > POLICY_MAX_BYTES + 1 ? POLICY_MAX_BYTES + 1 : cap * 2;
			if (len == cap)
				break; /* one byte over: too large */
			data = realloc(data, cap);
			if (!data)
				abort();
		}
		ssize_t got = read(fd, data + len, cap - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			diag_add(diags, path, 0, 0, "read: %s", strerror(errno));
			free(data);
			close(fd);
			return NULL;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	close(fd);
	struct policy_snapshot *snap = NULL;
	if (len > POLICY_MAX_BYTES)
		too_large(diags, path, len);
	else
		snap = policy_load_buffer(path, data, len, diags);
	free(data);
	return snap;
}

extern const char default_policy_yaml[];
extern const unsigned long default_policy_yaml_len;

struct policy_snapshot *policy_load_default(struct diag_list *diags)
{
	return policy_load_buffer("<embedded default>", default_policy_yaml,
				  default_policy_yaml_len, diags);
}
