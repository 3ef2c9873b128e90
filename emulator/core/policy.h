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
#define POLICY_MAX_CAP_ID 0xFFFFFu
#define POLICY_MAX_IOCTLS 256
#define POLICY_NAME_MAX	  64

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
	policy_answer_t answer; /* EMU_OP_FIXED, CREATE_VTL, CREATE_PARTITION */
	const char *name;	/* points into the snapshot */
};

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

	struct policy_ioctl *ioctls; /* sorted by cmd */
	unsigned ioctl_count;

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

/* policy_find_ioctl - the entry for CMD, or NULL.  Safe inside an RCU read
 * section: reads only. */
const struct policy_ioctl *policy_find_ioctl(const struct policy_snapshot *snap, uint32_t cmd);

/* policy_version_index - index of VERSION in snap->versions, or -1. */
int policy_version_index(const struct policy_snapshot *snap, uint32_t version);

#endif
