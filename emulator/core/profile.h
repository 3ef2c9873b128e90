/*
 * profile.h - the ABI profiles: which built-in ioctls each /dev/mshv
 * generation defined, at which numbers, and how it refused.
 *
 * Facts only (DESIGN.md section 2); what a device answers beyond them comes
 * from the policy.  A policy may move any number and change any refusal
 * errno; the profile supplies the defaults.
 */
#ifndef MSHV_EMU_PROFILE_H
#define MSHV_EMU_PROFILE_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/mshv_emu.h>

enum emu_profile {
#define X(id, name) EMU_PROFILE_##id,
	MSHV_EMU_PROFILES(X)
#undef X
	EMU_PROFILE_COUNT
};

/* Built-in ioctls.  X(ID, policy key, display name) */
#define EMU_OPS(X)                                                    \
	X(REQUEST_VERSION, "request_version", "MSHV_REQUEST_VERSION") \
	X(CHECK_EXTENSION, "check_extension", "MSHV_CHECK_EXTENSION") \
	X(CREATE_VTL, "create_vtl", "MSHV_CREATE_VTL")                \
	X(CREATE_PARTITION, "create_partition", "MSHV_CREATE_PARTITION")

enum emu_op {
#define X(id, key, display) EMU_OP_##id,
	EMU_OPS(X)
#undef X
	EMU_OP_BUILTIN_COUNT,
	/* An extra ioctl from the policy's `ioctls:` list: a fixed answer. */
	EMU_OP_FIXED = EMU_OP_BUILTIN_COUNT,
};

/*
 * Refusals a policy may re-map.  X(ID, policy key, needed op)
 * "needed op" names the built-in without which the refusal cannot happen.
 */
#define EMU_REFUSALS(X)                                                       \
	X(UNVERSIONED, "unversioned", EMU_OP_REQUEST_VERSION)                 \
	X(VERSION_LOCKED, "version_locked", EMU_OP_REQUEST_VERSION)           \
	X(UNSUPPORTED_VERSION, "unsupported_version", EMU_OP_REQUEST_VERSION) \
	X(UNKNOWN_CAPABILITY, "unknown_capability", EMU_OP_CHECK_EXTENSION)   \
	X(UNKNOWN_IOCTL, "unknown_ioctl", EMU_OP_BUILTIN_COUNT)

enum emu_refusal {
#define X(id, key, op) EMU_REFUSAL_##id,
	EMU_REFUSALS(X)
#undef X
	EMU_REFUSAL_COUNT
};

struct profile_desc {
	const char *name;
	/* The kernel source the profile reproduces. */
	const char *source;
	/* REQUEST_VERSION gates every other ioctl (RFC 2020, DESIGN.md 2.1). */
	bool versioned;
	/* Default number per built-in; 0 = the profile does not define it. */
	uint32_t cmd[EMU_OP_BUILTIN_COUNT];
	/* Default refusal errnos (positive). */
	int refusal[EMU_REFUSAL_COUNT];
};

const struct profile_desc *profile_get(enum emu_profile profile);

/* profile_from_name - the profile called NAME, or -1. */
int profile_from_name(const char *name);

/* profile_names - "rfc-2020, rfc-2021, ..." for messages. */
const char *profile_names(void);

/* op_key / op_display - "create_vtl" / "MSHV_CREATE_VTL" for a built-in op. */
const char *op_key(enum emu_op op);
const char *op_display(enum emu_op op);

const char *refusal_key(enum emu_refusal refusal);
enum emu_op refusal_needs(enum emu_refusal refusal);

#endif
