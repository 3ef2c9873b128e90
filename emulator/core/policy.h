/*
 * policy.h - the capability policy: what a device answers.
 *
 * A policy file is parsed and validated into an immutable snapshot.  The
 * dispatch path only reads snapshots, through RCU (core.h); nothing here
 * is mutated after policy_load_* returns.
 */
#ifndef MSHV_EMU_POLICY_H
#define MSHV_EMU_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "fault.h"
#include "profile.h"

#define POLICY_MAX_VERSIONS 64
/* Capability ids index a dense table: lookup is one bounds check and one load. */
#define POLICY_MAX_CAP_ID      0xFFFFFu
#define POLICY_MAX_IOCTLS      256
#define POLICY_MAX_FAULT_RULES 1024
#define POLICY_NAME_MAX	       64

/* A fixed answer: >= 0 is the ioctl's return value, < 0 is -errno. */
typedef int32_t policy_answer_t;

struct policy_cap {
	/* Bit i: visible when the session negotiated versions[i].  Profiles
	 * without REQUEST_VERSION use all bits.  0: no capability at this id. */
	uint64_t version_mask;
	int32_t value;
};

struct policy_ioctl {
	uint32_t cmd;
	enum emu_op op;
	enum emu_object object;
	policy_answer_t answer; /* EMU_OP_FIXED, CREATE_VTL, CREATE_PARTITION */
	const char *name;	/* points into the snapshot */
};

/*
 * A hypervisor property: a u64, banks, or a failure status.  STATUS != 0
 * answers that status; BANK_COUNT > 0 makes it banked (GET_PARTITION_
 * PROPERTY_EX writes {u16 count; u16 rsvd[3]; u64 bank[count]}).
 */
struct policy_property {
	uint32_t code;
	uint16_t status;
	uint16_t bank_count;
	uint64_t value;	 /* bank 0 when banked */
	uint64_t *banks; /* owned */
};

/* When SET_PARTITION_PROPERTY may change a partition property. */
enum policy_settable {
	POLICY_SET_ALWAYS,
	POLICY_SET_BEFORE_INITIALIZE, /* then INVALID_PARTITION_STATE */
	POLICY_SET_NEVER,	      /* ACCESS_DENIED */
};

struct policy_partition_property {
	uint32_t code;
	enum policy_settable settable;
	uint64_t value; /* what a new partition starts with */
};

#define POLICY_MAX_PROPERTIES 256
#define POLICY_STATUS_SLOTS   128 /* hypervisor statuses are below 0x80 */
#define POLICY_HVCALL_SLOTS   512 /* hypercall codes the allow-lists use */
#define POLICY_MAX_VPS	      256 /* MSHV_MAX_VPS */

struct policy_snapshot {
	enum emu_profile profile;
	bool versioned;
	int refusal[EMU_REFUSAL_COUNT]; /* positive errnos */

	uint32_t versions[POLICY_MAX_VERSIONS];
	unsigned version_count;

	struct policy_cap *caps; /* indexed by capability id */
	uint32_t cap_slots;
	char **cap_names; /* parallel to caps; NULL where no capability */
	unsigned cap_count;

	struct policy_ioctl *ioctls; /* sorted by (object, cmd) */
	unsigned ioctl_count;
	/* Object O's entries are ioctls[object_first[O] .. object_first[O + 1]). */
	unsigned object_first[EMU_OBJECT_COUNT + 1];

	struct fault_rule *faults;
	struct fault_state *fault_states; /* mutable: counters and runtime on/off */
	unsigned fault_count;
	/* The rules a call can match, in policy order, so that a call no rule
	 * names tries none: bucket b < ioctl_count is entry b of ioctls, then
	 * an unknown number, an open, a release (POLICY_BUCKET_*).  Bucket b's
	 * rule indices are fault_order[fault_bucket[b] .. fault_bucket[b + 1]). */
	uint16_t *fault_order;
	uint32_t *fault_bucket;
	uint64_t fault_seed;

	char device_name[POLICY_NAME_MAX];
	unsigned device_mode;

	char *source;	     /* file path, or "<embedded default>" */
	char digest[72];     /* "sha256:<hex>" of the file's bytes */
	uint64_t generation; /* set by core_publish */

	/* Last, after what every call reads: the root driver's tables are
	 * only read by its own ops. */
	/* The hypervisor (root profiles).  Both property tables sorted by code. */
	struct policy_property *host_properties;
	unsigned host_property_count;
	struct policy_partition_property *partition_properties;
	unsigned partition_property_count;
	int16_t status_errno[POLICY_STATUS_SLOTS]; /* positive; 0 never (EIO default) */
	int16_t insufficient_memory_errno;
	uint64_t create_flags_mask; /* 0: CREATE_PARTITION's argument is not checked */
	uint64_t create_isolation_count;
	bool create_v2, create_fbanks_at_most;
	bool output_on_failure;
	uint16_t unemulated_status; /* allowed hypercalls mshv-emu does not model */
	uint64_t hvcall_allowed[EMU_OBJECT_COUNT][POLICY_HVCALL_SLOTS / 64];
};

/*
 * policy_load_file / policy_load_buffer - parse and validate.  Returns a new
 * snapshot (caller owns it; policy_free) or NULL with every error found
 * appended to DIAGS.  NAME is what diagnostics call the input.
 */
struct policy_snapshot *policy_load_file(const char *path, struct diag_list *diags);
struct policy_snapshot *policy_load_buffer(const char *name, const char *data, size_t len,
					   struct diag_list *diags);
/* policy_load_default - the policy compiled in from policies/default.yaml. */
struct policy_snapshot *policy_load_default(struct diag_list *diags);

void policy_free(struct policy_snapshot *snap);

/*
 * policy_parse_fault - one fault rule from TEXT (a YAML mapping, as one entry
 * of `faults.rules`), validated against SNAP's ioctls.  Without `when:` the
 * rule fires once.  Returns a new rule (caller owns it: fault_rule_free, then
 * free) or NULL with errors in DIAGS, which call the input NAME.
 */
struct fault_rule *policy_parse_fault(const struct policy_snapshot *snap, const char *name,
				      const char *text, struct diag_list *diags);

/* policy_device_name_ok - NAME can name a device node: 1 to 63 of letters,
 * digits, '_', '-', '.', and not "." or "..". */
bool policy_device_name_ok(const char *name);

#define POLICY_BUCKET_UNKNOWN(snap) ((snap)->ioctl_count)
#define POLICY_BUCKET_OPEN(snap)    ((snap)->ioctl_count + 1)
#define POLICY_BUCKET_RELEASE(snap) ((snap)->ioctl_count + 2)

/* policy_find_ioctl - the entry for CMD on OBJECT's fds, or NULL.  Safe
 * inside an RCU read section: reads only.  A binary search over OBJECT's
 * own entries. */
const struct policy_ioctl *policy_find_ioctl(const struct policy_snapshot *snap,
					     enum emu_object object, uint32_t cmd);

/* policy_find_property - the host property CODE, or NULL (binary search). */
const struct policy_property *policy_find_property(const struct policy_snapshot *snap,
						   uint32_t code);

/* policy_version_index - index of VERSION in snap->versions, or -1. */
int policy_version_index(const struct policy_snapshot *snap, uint32_t version);

#endif
