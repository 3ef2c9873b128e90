/*
 * profile.c - the profile table (see profile.h).  Every number comes from
 * uapi/linux/mshv_emu.h; every errno from DESIGN.md section 2.
 */
#include <errno.h>
#include <string.h>

#include "profile.h"

#define REFUSALS(unknown_capability)                                                       \
	{                                                                                  \
		[EMU_REFUSAL_UNVERSIONED] = EBADFD, [EMU_REFUSAL_VERSION_LOCKED] = EBADFD, \
		[EMU_REFUSAL_UNSUPPORTED_VERSION] = MSHV_ENOTSUPP,                         \
		[EMU_REFUSAL_UNKNOWN_CAPABILITY] = (unknown_capability),                   \
		[EMU_REFUSAL_UNKNOWN_IOCTL] = ENOTTY,                                      \
	}

static const struct profile_desc profiles[EMU_PROFILE_COUNT] = {
	[EMU_PROFILE_RFC_2020] =
		{
			.name = "rfc-2020",
			.source =
				"RFC Nov 2020, [RFC PATCH 04/18] virt/mshv: request version ioctl",
			.versioned = true,
			.cmd = {[EMU_OP_REQUEST_VERSION] = MSHV_REQUEST_VERSION},
			.refusal = REFUSALS(EOPNOTSUPP),
		},
	[EMU_PROFILE_RFC_2021] =
		{
			.name = "rfc-2021",
			.source = "2021 series v1-v3, drivers/hv: check extension ioctl",
			.cmd = {[EMU_OP_CHECK_EXTENSION] = MSHV_CHECK_EXTENSION},
			.refusal = REFUSALS(EOPNOTSUPP),
		},
	[EMU_PROFILE_VTL] =
		{
			.name = "vtl",
			.source = "drivers/hv/mshv_vtl_main.c",
			.cmd = {[EMU_OP_CHECK_EXTENSION] = MSHV_CHECK_EXTENSION,
				[EMU_OP_CREATE_VTL] = MSHV_CREATE_VTL},
			.refusal = REFUSALS(EOPNOTSUPP),
		},
	[EMU_PROFILE_ROOT_6_15] =
		{
			.name = "root-6.15",
			.source = "Linux 6.15 include/uapi/linux/mshv.h",
			.cmd = {[EMU_OP_CREATE_PARTITION] = MSHV_CREATE_PARTITION},
			.refusal = REFUSALS(EOPNOTSUPP),
		},
	[EMU_PROFILE_NEGOTIATED] =
		{
			.name = "negotiated",
			.source =
				"the 2021 review's proposal: REQUEST_VERSION, then CHECK_EXTENSION",
			.versioned = true,
			.cmd = {[EMU_OP_REQUEST_VERSION] = MSHV_REQUEST_VERSION,
				[EMU_OP_CHECK_EXTENSION] = MSHV_NEGOTIATED_CHECK_EXTENSION},
			.refusal = REFUSALS(EOPNOTSUPP),
		},
	[EMU_PROFILE_NONE] =
		{
			.name = "none",
			.source = "a driver with no negotiation ioctl: only the policy's ioctls",
			.refusal = REFUSALS(EOPNOTSUPP),
		},
};

static const char *const op_keys[] = {
#define X(id, key, display) [EMU_OP_##id] = key,
	EMU_OPS(X)
#undef X
};

static const char *const op_displays[] = {
#define X(id, key, display) [EMU_OP_##id] = display,
	EMU_OPS(X)
#undef X
};

static const struct {
	const char *key;
	enum emu_op needs;
} refusals[] = {
#define X(id, key, op) [EMU_REFUSAL_##id] = {key, op},
	EMU_REFUSALS(X)
#undef X
};

const struct profile_desc *profile_get(enum emu_profile profile)
{
	return &profiles[profile];
}

int profile_from_name(const char *name)
{
	for (int i = 0; i < EMU_PROFILE_COUNT; i++)
		if (!strcmp(profiles[i].name, name))
			return i;
	return -1;
}

const char *profile_names(void)
{
	/* ", rfc-2020, rfc-2021, ..." from the uapi list, past its first ", ". */
	static const char names[] =
#define X(id, name) ", " name
		MSHV_EMU_PROFILES(X)
#undef X
		;
	return names + 2;
}

const char *op_key(enum emu_op op)
{
	return op < EMU_OP_BUILTIN_COUNT ? op_keys[op] : "ioctls";
}

const char *op_display(enum emu_op op)
{
	return op < EMU_OP_BUILTIN_COUNT ? op_displays[op] : "ioctl";
}

const char *refusal_key(enum emu_refusal refusal)
{
	return refusals[refusal].key;
}

enum emu_op refusal_needs(enum emu_refusal refusal)
{
	return refusals[refusal].needs;
}
