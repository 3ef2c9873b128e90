/*
 * abi_table.h - what /dev/mshv answers, profile by profile, written from
 * docs/abi.md and the kernel sources and patch series it cites, not from
 * the emulator's code.
 *
 * Each case is a script on one fresh fd.  The unit suite runs it through
 * core_ioctl, the live suite through ioctl(2) on the daemon's node (FUSE
 * here, CUSE in the VM): the same expectations, to the errno.
 *
 * Known transport difference, deliberately absent from this table: in
 * restricted CUSE/FUSE ioctls the kernel copies the argument before the
 * daemon sees the call, so a bad pointer is EFAULT even where the real
 * driver would first have refused with EBADFD (REQUEST_VERSION on an fd
 * that already has a version).  docs/abi.md lists it.
 */
#ifndef MSHV_EMU_TEST_ABI_TABLE_H
#define MSHV_EMU_TEST_ABI_TABLE_H

#include <errno.h>
#include <stdint.h>

#include <mshv-emu/mshv_emu.h>

enum abi_arg {
	ARG_U32,       /* pointer to a __u32 holding VALUE */
	ARG_BAD_PTR,   /* a pointer the caller cannot read: the kernel answers EFAULT */
	ARG_PARTITION, /* pointer to a zeroed struct mshv_create_partition */
	ARG_BYTE,      /* pointer to one writable byte (CREATE_VTL is _IOR char) */
	ARG_VALUE,     /* VALUE passed by value (_IO commands) */
};

struct abi_step {
	uint32_t cmd;
	enum abi_arg arg;
	uint32_t value;
	int expect; /* >= 0: the return value; < 0: -errno */
};

#define ABI_MAX_STEPS 8

struct abi_case {
	const char *policy; /* file under policies/ */
	const char *name;
	struct abi_step steps[ABI_MAX_STEPS];
};

#define RV		MSHV_REQUEST_VERSION
#define CE_2021		MSHV_CHECK_EXTENSION
#define CE_NEG		MSHV_NEGOTIATED_CHECK_EXTENSION
#define UNKNOWN_CMD	0x4004B8F0u		/* an mshv-shaped number no generation defined */
#define RV_SIZE_VARIANT _IOW(0xB8, 0x00, __u64) /* 0x4008B800 */
#define STEP(cmd, arg, value, expect)   \
	{                               \
		cmd, arg, value, expect \
	}

static const struct abi_case abi_cases[] = {
	/* RFC 2020 (docs/abi.md, `rfc-2020`): accepts version 0 only. */
	{"rfc-2020.yaml",
	 "supported version locks the fd",
	 {STEP(RV, ARG_U32, 0, 0), STEP(RV, ARG_U32, 0, -EBADFD), STEP(RV, ARG_U32, 1, -EBADFD)}},
	{"rfc-2020.yaml",
	 "unsupported version is 524 and the fd may retry",
	 {STEP(RV, ARG_U32, 1, -MSHV_ENOTSUPP), STEP(RV, ARG_U32, 0xFFFFFFFE, -MSHV_ENOTSUPP),
	  STEP(RV, ARG_U32, 0, 0)}},
	{"rfc-2020.yaml",
	 "any other ioctl before a version is EBADFD",
	 {STEP(UNKNOWN_CMD, ARG_U32, 0, -EBADFD), STEP(CE_NEG, ARG_U32, 0, -EBADFD),
	  STEP(RV_SIZE_VARIANT, ARG_U32, 0, -EBADFD), STEP(0x1234, ARG_VALUE, 0, -EBADFD)}},
	{"rfc-2020.yaml",
	 "unknown ioctls after a version are ENOTTY",
	 {STEP(RV, ARG_U32, 0, 0), STEP(UNKNOWN_CMD, ARG_U32, 0, -ENOTTY),
	  STEP(CE_NEG, ARG_U32, 0, -ENOTTY), STEP(RV_SIZE_VARIANT, ARG_U32, 0, -ENOTTY)}},
	{"rfc-2020.yaml",
	 "bad pointer is EFAULT and leaves the fd unversioned",
	 {STEP(RV, ARG_BAD_PTR, 0, -EFAULT), STEP(RV, ARG_U32, 0, 0)}},

	/* 2021 series v1 (2.2): unknown capability -ENOTSUPP (524). */
	{"rfc-2021-v1.yaml",
	 "CORE_API_STABLE is known and not yet stable; unknown is 524",
	 {STEP(CE_2021, ARG_U32, MSHV_CAP_CORE_API_STABLE, 0),
	  STEP(CE_2021, ARG_U32, MSHV_CAP_REGISTER_PAGE, -MSHV_ENOTSUPP),
	  STEP(CE_2021, ARG_U32, 0xFFFFFFFF, -MSHV_ENOTSUPP)}},
	/* 2021 series v2+ (2.2): no ordering, unknown capability EOPNOTSUPP. */
	{"rfc-2021.yaml",
	 "no ordering: CHECK_EXTENSION on a fresh fd",
	 {STEP(CE_2021, ARG_U32, MSHV_CAP_CORE_API_STABLE, 0),
	  STEP(CE_2021, ARG_U32, MSHV_CAP_REGISTER_PAGE, -EOPNOTSUPP),
	  STEP(CE_2021, ARG_U32, MSHV_CAP_CORE_API_STABLE, 0)}},
	{"rfc-2021.yaml",
	 "other numbers are ENOTTY, bad pointer EFAULT",
	 {STEP(CE_NEG, ARG_U32, 0, -ENOTTY), STEP(UNKNOWN_CMD, ARG_U32, 0, -ENOTTY),
	  STEP(RV_SIZE_VARIANT, ARG_U32, 0, -ENOTTY), STEP(CE_2021, ARG_BAD_PTR, 0, -EFAULT)}},

	/* mshv_vtl (table row 5): capabilities, CREATE_VTL answered by the policy. */
	{"vtl.yaml",
	 "VTL capabilities; unknown is EOPNOTSUPP",
	 {STEP(CE_2021, ARG_U32, MSHV_CAP_REGISTER_PAGE, 1),
	  STEP(CE_2021, ARG_U32, MSHV_CAP_DR6_SHARED, 1),
	  STEP(CE_2021, ARG_U32, MSHV_CAP_LOWER_VTL_TIMER_VIRT, -EOPNOTSUPP),
	  STEP(CE_2021, ARG_U32, MSHV_CAP_CORE_API_STABLE, -EOPNOTSUPP)}},
	{"vtl.yaml",
	 "CREATE_VTL answers from the policy",
	 {STEP(MSHV_CREATE_VTL, ARG_BYTE, 0, -EPERM), STEP(UNKNOWN_CMD, ARG_U32, 0, -ENOTTY)}},

	/* Linux 6.15 (table row 4): CREATE_PARTITION only. */
	{"root-6.15.yaml",
	 "CREATE_PARTITION only; 0x4004B800 is ENOTTY",
	 {STEP(MSHV_CREATE_PARTITION, ARG_PARTITION, 0, -EOPNOTSUPP), STEP(RV, ARG_U32, 0, -ENOTTY),
	  STEP(CE_NEG, ARG_U32, 0, -ENOTTY), STEP(MSHV_CREATE_PARTITION, ARG_BAD_PTR, 0, -EFAULT)}},

	/* The 2021 review's combination (the default policy: versions 1 and 2). */
	{"default.yaml",
	 "CHECK_EXTENSION before REQUEST_VERSION is EBADFD",
	 {STEP(CE_NEG, ARG_U32, 0, -EBADFD), STEP(UNKNOWN_CMD, ARG_U32, 0, -EBADFD)}},
	{"default.yaml",
	 "version 1 gates capabilities 2 and 3 away",
	 {STEP(RV, ARG_U32, 0, -MSHV_ENOTSUPP), STEP(RV, ARG_U32, 1, 0),
	  STEP(CE_NEG, ARG_U32, MSHV_CAP_CORE_API_STABLE, 0),
	  STEP(CE_NEG, ARG_U32, MSHV_CAP_REGISTER_PAGE, 1),
	  STEP(CE_NEG, ARG_U32, MSHV_CAP_VTL_RETURN_ACTION, -EOPNOTSUPP),
	  STEP(CE_NEG, ARG_U32, MSHV_CAP_DR6_SHARED, -EOPNOTSUPP), STEP(RV, ARG_U32, 2, -EBADFD)}},
	{"default.yaml",
	 "version 2 sees every capability",
	 {STEP(RV, ARG_U32, 2, 0), STEP(CE_NEG, ARG_U32, MSHV_CAP_VTL_RETURN_ACTION, 1),
	  STEP(CE_NEG, ARG_U32, MSHV_CAP_DR6_SHARED, 1),
	  STEP(CE_NEG, ARG_U32, MSHV_CAP_LOWER_VTL_TIMER_VIRT, -EOPNOTSUPP),
	  STEP(CE_NEG, ARG_BAD_PTR, 0, -EFAULT), STEP(UNKNOWN_CMD, ARG_U32, 0, -ENOTTY),
	  STEP(0xAE03, ARG_VALUE, 0, -ENOTTY)}},

	/* The debate's scenarios. */
	{"backport.yaml",
	 "version 1 carries two later capabilities",
	 {STEP(RV, ARG_U32, 2, -MSHV_ENOTSUPP), STEP(RV, ARG_U32, 1, 0),
	  STEP(CE_NEG, ARG_U32, MSHV_CAP_VTL_RETURN_ACTION, 1),
	  STEP(CE_NEG, ARG_U32, MSHV_CAP_DR6_SHARED, 1)}},
	{"unstable-core.yaml",
	 "CORE_API_STABLE reserved and answered 0",
	 {STEP(RV, ARG_U32, 1, 0), STEP(CE_NEG, ARG_U32, MSHV_CAP_CORE_API_STABLE, 0),
	  STEP(CE_NEG, ARG_U32, MSHV_CAP_REGISTER_PAGE, -EOPNOTSUPP)}},
	{"no-negotiation.yaml",
	 "no negotiation ioctl at all",
	 {STEP(RV, ARG_U32, 0, -ENOTTY), STEP(CE_NEG, ARG_U32, 0, -ENOTTY),
	  STEP(RV, ARG_U32, 1, -ENOTTY)}},
};

#define ABI_CASE_COUNT (sizeof(abi_cases) / sizeof(abi_cases[0]))

#endif
