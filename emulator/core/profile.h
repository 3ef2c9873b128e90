/*
 * profile.h - the ABI profiles: which built-in ioctls each /dev/mshv
 * generation defined, at which numbers, and how it refused.
 *
 * Facts only (the kernel sources docs/abi.md cites); what a device answers
 * beyond them comes from the policy.  A policy may move any number and
 * change any refusal errno; the profile supplies the defaults.
 */
#ifndef MSHV_EMU_PROFILE_H
#define MSHV_EMU_PROFILE_H

#include <stdbool.h>
#include <stdint.h>

#include <errno.h>

#include <mshv-emu/mshv_emu.h>

enum emu_profile {
#define X(id, name) EMU_PROFILE_##id,
	MSHV_EMU_PROFILES(X)
#undef X
	EMU_PROFILE_COUNT
};

/* The three kinds of fd the root driver hands out: the device, a partition
 * (CREATE_PARTITION), a VP (CREATE_VP).  Each has its own ioctl table. */
#define EMU_OBJECTS(X)                         \
	X(DEVICE, "device", "/dev/mshv")       \
	X(PARTITION, "partition", "partition") \
	X(VP, "vp", "VP")

enum emu_object {
#define X(id, key, display) EMU_OBJECT_##id,
	EMU_OBJECTS(X)
#undef X
	EMU_OBJECT_COUNT
};

/*
 * How a built-in is answered:
 *   HANDLER   by the core, from the policy's model (versions, capabilities,
 *             the hypervisor's properties, a partition's state);
 *   REQUIRED  a fixed answer the policy must give (CREATE_VTL's);
 *   FIXED     a fixed answer with a default (EMU_FIXED_DEFAULT): what
 *             mshv-emu does not emulate (guest memory, interrupts, running
 *             a VP).
 */
enum emu_answer_kind {
	EMU_ANSWER_HANDLER,
	EMU_ANSWER_REQUIRED,
	EMU_ANSWER_FIXED,
};

/* The default fixed answer: no kernel answers these with EOPNOTSUPP, so a
 * VMM that gets it knows it reached what the emulator does not model. */
#define EMU_FIXED_DEFAULT (-EOPNOTSUPP)

/* Built-in ioctls.  X(ID, policy key, display name, object, answer kind)
 * Keys are unique; display names repeat where the kernel reuses a name. */
#define EMU_OPS(X)                                                                              \
	X(REQUEST_VERSION, "request_version", "MSHV_REQUEST_VERSION", DEVICE, HANDLER)          \
	X(CHECK_EXTENSION, "check_extension", "MSHV_CHECK_EXTENSION", DEVICE, HANDLER)          \
	X(CREATE_VTL, "create_vtl", "MSHV_CREATE_VTL", DEVICE, REQUIRED)                        \
	X(CREATE_PARTITION, "create_partition", "MSHV_CREATE_PARTITION", DEVICE, HANDLER)       \
	X(GET_HOST_PARTITION_PROPERTY, "get_host_partition_property",                           \
	  "MSHV_GET_HOST_PARTITION_PROPERTY", DEVICE, HANDLER)                                  \
	X(ROOT_HVCALL, "root_hvcall", "MSHV_ROOT_HVCALL", DEVICE, HANDLER)                      \
	X(INITIALIZE_PARTITION, "initialize_partition", "MSHV_INITIALIZE_PARTITION", PARTITION, \
	  HANDLER)                                                                              \
	X(CREATE_VP, "create_vp", "MSHV_CREATE_VP", PARTITION, HANDLER)                         \
	X(SET_GUEST_MEMORY, "set_guest_memory", "MSHV_SET_GUEST_MEMORY", PARTITION, FIXED)      \
	X(IRQFD, "irqfd", "MSHV_IRQFD", PARTITION, FIXED)                                       \
	X(IOEVENTFD, "ioeventfd", "MSHV_IOEVENTFD", PARTITION, FIXED)                           \
	X(SET_MSI_ROUTING, "set_msi_routing", "MSHV_SET_MSI_ROUTING", PARTITION, FIXED)         \
	X(GET_GPAP_ACCESS_BITMAP, "get_gpap_access_bitmap", "MSHV_GET_GPAP_ACCESS_BITMAP",      \
	  PARTITION, FIXED)                                                                     \
	X(PARTITION_HVCALL, "partition_root_hvcall", "MSHV_ROOT_HVCALL", PARTITION, HANDLER)    \
	X(RUN_VP, "run_vp", "MSHV_RUN_VP", VP, FIXED)                                           \
	X(GET_VP_STATE, "get_vp_state", "MSHV_GET_VP_STATE", VP, FIXED)                         \
	X(SET_VP_STATE, "set_vp_state", "MSHV_SET_VP_STATE", VP, FIXED)                         \
	X(VP_HVCALL, "vp_root_hvcall", "MSHV_ROOT_HVCALL", VP, HANDLER)

enum emu_op {
#define X(id, key, display, object, kind) EMU_OP_##id,
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

/* A hypervisor status and the errno the driver maps it to. */
struct profile_status_errno {
	uint16_t status;
	int16_t errno_value; /* positive */
};

/*
 * The root driver's rows (ROOT_HVCALL and CREATE_PARTITION), per generation.
 * Zero everywhere for the profiles without a root driver.
 */
struct profile_root {
	/* Bytes CREATE_PARTITION copies in: what its number encodes. */
	uint32_t create_size;
	/* pt_flags bits accepted; 0: the series' structure is not checked. */
	uint64_t flags_mask;
	uint64_t isolation_count; /* pt_isolation must be below this */
	/* pt_flags bit 3 makes the argument the 64-byte v2 structure ... */
	bool v2;
	/* ... whose pt_num_cpu_fbanks must be 2 upstream, <= 2 in Microsoft's. */
	bool fbanks_at_most;
	/* Hypercall codes MSHV_ROOT_HVCALL takes on each object; 0-terminated. */
	const uint16_t *hvcalls[EMU_OBJECT_COUNT];
	/* hv_result_to_errno of that kernel; a status not listed is EIO. */
	const struct profile_status_errno *status_errno;
	/* 6.15 deposits a page on INSUFFICIENT_MEMORY and answers EAGAIN;
	 * 0: the table's mapping. */
	int insufficient_memory_errno;
	/* 6.15 copies the output buffer back whatever the result; later
	 * kernels only on success. */
	bool output_on_failure;
};

struct profile_desc {
	const char *name;
	/* The kernel source the profile reproduces. */
	const char *source;
	/*
	 * REQUEST_VERSION gates every other ioctl: the RFC 2020 driver answered
	 * EBADFD to any ioctl on an fd without a version (docs/abi.md).
	 */
	bool versioned;
	/* Default number per built-in; 0 = the profile does not define it. */
	uint32_t cmd[EMU_OP_BUILTIN_COUNT];
	/* Default refusal errnos (positive). */
	int refusal[EMU_REFUSAL_COUNT];
	struct profile_root root;
};

const struct profile_desc *profile_get(enum emu_profile profile);

/* profile_from_name - the profile called NAME, or -1. */
int profile_from_name(const char *name);

/* profile_names - "rfc-2020, rfc-2021, ..." for messages. */
const char *profile_names(void);

/* op_key / op_display - "create_vtl" / "MSHV_CREATE_VTL" for a built-in op. */
const char *op_key(enum emu_op op);
const char *op_display(enum emu_op op);
enum emu_object op_object(enum emu_op op);
enum emu_answer_kind op_answer_kind(enum emu_op op);
const char *object_key(enum emu_object object);

const char *refusal_key(enum emu_refusal refusal);
enum emu_op refusal_needs(enum emu_refusal refusal);

#endif
